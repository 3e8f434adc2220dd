/* drive.c -- external-loop mode: the client without its I/O thread. One
 * epoll descriptor (coord_fd()) gathers the wakeup eventfd, a timerfd
 * armed to the next timer, and the connection's socket, so an application
 * loop needs to watch a single descriptor for readability and then call
 * coord_process(), which runs one non-blocking round of the same loop the
 * I/O thread runs (client.c). Must not block in coord_process() and must
 * not run two rounds at once.
 */
#include "client_int.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "libcoord/shared/check.h"

/* Arms the timer to the loop's next deadline (at once if it has passed). */
static void arm_timer(struct coord_client *c)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    uint64_t at = coord__io_next_wakeup(c), now = coord__now_ms();
    int flags = 0;
    if (at == UINT64_MAX) {
        /* all zero: disarmed */
    } else if (at <= now) {
        its.it_value.tv_nsec = 1; /* relative: fire now */
    } else {
        its.it_value.tv_sec = (time_t)(at / 1000);
        its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
        flags = TFD_TIMER_ABSTIME; /* same clock as coord__now_ms() */
    }
    timerfd_settime(c->timer_fd, flags, &its, NULL);
}

/* Keeps the socket in the epoll set with the interest the loop needs. A
 * closed socket left the set by itself; a new one (maybe with the same
 * number) is added. */
static void watch_socket(struct coord_client *c)
{
    if (c->fd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->fd};
    if (c->conn == COORD__CONN_CONNECTING || c->out_len > 0)
        ev.events |= EPOLLOUT;
    if (epoll_ctl(c->ep_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0 &&
        errno == ENOENT)
        epoll_ctl(c->ep_fd, EPOLL_CTL_ADD, c->fd, &ev);
}

int coord__drive_init(struct coord_client *c)
{
    c->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event wake = {.events = EPOLLIN, .data.fd = c->wake_fd};
    struct epoll_event timer = {.events = EPOLLIN, .data.fd = c->timer_fd};
    if (c->ep_fd < 0 || c->timer_fd < 0 ||
        epoll_ctl(c->ep_fd, EPOLL_CTL_ADD, c->wake_fd, &wake) != 0 ||
        epoll_ctl(c->ep_fd, EPOLL_CTL_ADD, c->timer_fd, &timer) != 0) {
        coord__drive_free(c);
        return COORD_EIO;
    }
    arm_timer(c); /* the first connect is due now */
    return 0;
}

void coord__drive_free(struct coord_client *c)
{
    if (c->ep_fd >= 0)
        close(c->ep_fd);
    if (c->timer_fd >= 0)
        close(c->timer_fd);
    c->ep_fd = c->timer_fd = -1;
}

/* Marks the calling thread as the I/O thread; false if one already is. */
static bool drive_enter(struct coord_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool ok = !c->driving;
    if (ok) {
        c->driving = true;
        c->driver = pthread_self();
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void drive_leave(struct coord_client *c)
{
    pthread_mutex_lock(&c->mu);
    coord_assert(c->driving);
    c->driving = false;
    pthread_mutex_unlock(&c->mu);
}

void coord__drive_close(struct coord_client *c)
{
    coord_assert(c->opts.external_loop);
    bool entered = drive_enter(c);
    coord_assert(entered); /* coord_process() runs concurrently: misuse */
    while (coord__io_round(c, 100))
        continue;
    coord__io_finish(c);
    drive_leave(c);
}

int coord_fd(struct coord_client *c)
{
    return c->opts.external_loop ? c->ep_fd : COORD_EINVAL;
}

int coord_process(struct coord_client *c)
{
    if (!c->opts.external_loop)
        return COORD_EINVAL;
    pthread_mutex_lock(&c->mu);
    bool closing = c->closing;
    pthread_mutex_unlock(&c->mu);
    if (closing)
        return COORD_ECLOSED;
    if (!drive_enter(c))
        return COORD_EBUSY;
    uint64_t expirations;
    ssize_t n = read(c->timer_fd, &expirations, sizeof(expirations));
    (void)n; /* EAGAIN: the timer had not fired */
    coord__io_round(c, 0);
    watch_socket(c);
    arm_timer(c);
    drive_leave(c);
    return 0;
}
