/* cmd_watch.c -- coordctl watch: sets a one-shot, children, persistent or
 * recursive watch and prints its events, one line each, until the first
 * event (one-shot) or SIGINT/SIGTERM (persistent kinds).
 *
 * libcoord runs watch and state callbacks on its I/O thread, where
 * blocking (a slow stdout pipe) would stall the connection, so callbacks
 * only copy the event into a bounded ring and wake the main thread
 * through a self-pipe; the main thread prints. A full ring drops events
 * and says so (a LOST line), never blocks. Allocates nothing. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Events buffered between the I/O thread and the printer. */
#define CTL_EVENTS_MAX 256

struct ctl_ev {
    int type;
    uint64_t zxid;
    char path[COORD_PATH_BYTES_MAX + 1];
};

static struct {
    pthread_mutex_t mu;
    struct ctl_ev ring[CTL_EVENTS_MAX];
    size_t head, count;
    uint64_t lost;  /* events dropped on a full ring, not yet reported */
    int wake[2];    /* self-pipe: [0] polled by the main thread */
    volatile sig_atomic_t stop;
} ctl_w = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = {-1, -1}};

static void ctl_wake(void)
{
    if (ctl_w.wake[1] >= 0) {
        char b = 1;
        ssize_t r = write(ctl_w.wake[1], &b, 1);
        (void)r; /* a full pipe already wakes the reader */
    }
}

static void ctl_watch_signal(int sig)
{
    (void)sig;
    ctl_w.stop = 1;
    int saved = errno;
    ctl_wake();
    errno = saved;
}


static void ctl_watch_cb(void *data, const struct coord_event *ev)
{
    (void)data;
    pthread_mutex_lock(&ctl_w.mu);
    if (ctl_w.count == CTL_EVENTS_MAX) {
        ctl_w.lost++;
    } else {
        struct ctl_ev *e =
            &ctl_w.ring[(ctl_w.head + ctl_w.count) % CTL_EVENTS_MAX];
        e->type = ev->type;
        e->zxid = ev->zxid;
        snprintf(e->path, sizeof(e->path), "%s", ev->path);
        ctl_w.count++;
    }
    pthread_mutex_unlock(&ctl_w.mu);
    ctl_wake();
}

static void ctl_print_event(struct ctl *x, const char *type,
                            const char *path, uint64_t zxid)
{
    if (x->json) {
        printf("{\"event\":\"%s\",\"path\":", type);
        ctl_json_str(stdout, path, strlen(path));
        printf(",\"zxid\":%" PRIu64 "}\n", zxid);
    } else {
        printf("%s %s 0x%" PRIx64 "\n", type, path, zxid);
    }
}

/* Prints every buffered event; returns how many were printed. */
static size_t ctl_drain(struct ctl *x, const char *watched)
{
    static struct ctl_ev e;
    size_t printed = 0;
    for (;;) {
        uint64_t lost;
        bool have;
        pthread_mutex_lock(&ctl_w.mu);
        lost = ctl_w.lost;
        ctl_w.lost = 0;
        have = ctl_w.count > 0;
        if (have) {
            e = ctl_w.ring[ctl_w.head];
            ctl_w.head = (ctl_w.head + 1) % CTL_EVENTS_MAX;
            ctl_w.count--;
        }
        pthread_mutex_unlock(&ctl_w.mu);
        if (have) {
            ctl_print_event(x, ctl_event_name(e.type), e.path, e.zxid);
            printed++;
        }
        if (lost > 0) {
            ctl_print_event(x, "LOST", watched, 0);
            fprintf(stderr, "coordctl: %" PRIu64 " events dropped (output "
                    "too slow); re-read %s\n", lost, watched);
            printed++;
        }
        if (!have && lost == 0)
            break;
    }
    fflush(stdout);
    return printed;
}

/* Sets the watch the flags ask for. */
static int ctl_watch_set(struct ctl *x, const char *path, const char **kind)
{
    struct coord_watcher w = {ctl_watch_cb, NULL};
    unsigned f = x->flags;
    if (f & CTL_F_PERSISTENT) {
        *kind = "persistent";
        return coord_add_watch(x->c, path, COORD_WATCH_PERSISTENT, &w);
    }
    if (f & CTL_F_RECURSIVE) {
        *kind = "persistent recursive";
        return coord_add_watch(x->c, path, COORD_WATCH_PERSISTENT_RECURSIVE,
                               &w);
    }
    if (f & CTL_F_CHILDREN) {
        struct coord_child_list l;
        *kind = "one-shot children";
        int rc = coord_children(x->c, path, 0, NULL, 1, &w, &l);
        if (rc == 0)
            coord_child_list_free(&l);
        return rc;
    }
    *kind = "one-shot data";
    int rc = coord_exists(x->c, path, 0, &w, NULL);
    if (rc == COORD_ENONODE) {
        *kind = "one-shot exists";
        rc = 0; /* the watch waits for the creation */
    }
    return rc;
}

static int ctl_watch_setup(void)
{
    if (ctl_w.wake[0] < 0 && pipe2(ctl_w.wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return COORD_EIO;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl_watch_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ctl_session_hook(ctl_wake);
    return 0;
}

/* Waits for wakeups and prints until done. */
static int ctl_watch_loop(struct ctl *x, const char *path, bool one_shot)
{
    int last_state = ctl_session_state();
    for (;;) {
        size_t n = ctl_drain(x, path);
        if (ferror(stdout))
            return CTL_EXIT_FAILED; /* main reports the write error */
        if (one_shot && n > 0)
            return CTL_EXIT_OK;
        if (ctl_w.stop)
            return CTL_EXIT_OK;
        int st = ctl_session_state();
        if (st == COORD_STATE_EXPIRED)
            return ctl_fail(x, path, COORD_ESESSIONEXPIRED);
        if (st != last_state && st == COORD_STATE_DISCONNECTED)
            fputs("coordctl: connection lost; reconnecting\n", stderr);
        if (st != last_state && st == COORD_STATE_RECONNECTED)
            fputs("coordctl: reconnected; watch kept\n", stderr);
        last_state = st;
        struct pollfd pfd = {ctl_w.wake[0], POLLIN, 0};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return ctl_fail(x, "poll", COORD_EIO);
        char buf[64];
        while (read(ctl_w.wake[0], buf, sizeof(buf)) > 0)
            ;
    }
}

int ctl_cmd_watch(struct ctl *x)
{
    const char *path = x->argv[0];
    unsigned kinds = x->flags & (CTL_F_PERSISTENT | CTL_F_RECURSIVE |
                                 CTL_F_CHILDREN);
    if (kinds & (kinds - 1))
        return ctl_usage_error("watch: choose one of --persistent, "
                               "--recursive, --children");
    int rc = ctl_watch_setup();
    if (rc != 0)
        return ctl_fail(x, "watch", rc);
    const char *kind;
    rc = ctl_watch_set(x, path, &kind);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    fprintf(stderr, "coordctl: watching %s (%s)\n", path, kind);
    fflush(stderr);
    bool one_shot = !(x->flags & (CTL_F_PERSISTENT | CTL_F_RECURSIVE));
    return ctl_watch_loop(x, path, one_shot);
}
