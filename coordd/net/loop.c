/* loop.c -- coordd's libev loop: the listener set-up, the tick timer, the
 * cross-thread wake-up, signals, and the prepare hook where node.c does an
 * iteration's batched work before net flushes every connection's output.
 * No decoding, no protocol logic (that is node.c's). */
#include "net_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

static void set_err(char *errmsg, size_t len, const char *what, int e)
{
    if (errmsg && len)
        snprintf(errmsg, len, "%s: %s", what, strerror(e));
}

/* Binds and listens on host:port (numeric IPv4; port 0 picks one). */
int net__listen(const char *host, uint16_t port, int *fd_out,
                uint16_t *bound, char *errmsg, size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    if (!host || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        if (errmsg && errlen)
            snprintf(errmsg, errlen, "bad listen address '%s' (numeric "
                     "IPv4 expected)", host ? host : "");
        return COORD_EINVAL;
    }
    sa.sin_port = htons(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_err(errmsg, errlen, "socket", errno);
        return COORD_EIO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 1024) < 0) {
        set_err(errmsg, errlen, "bind/listen", errno);
        close(fd);
        return COORD_EIO;
    }
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *bound = ntohs(sa.sin_port);
    *fd_out = fd;
    return 0;
}

static int listen_all(struct net *n, char *errmsg, size_t errlen)
{
    int rc = net__listen(n->cfg.client_host, n->cfg.client_port,
                         &n->listen_fd, &n->port, errmsg, errlen);
    if (rc || !n->cfg.peer_host)
        return rc;
    rc = net__listen(n->cfg.peer_host, n->cfg.peer_port, &n->peer_fd,
                     &n->peer_port_bound, errmsg, errlen);
    if (rc) {
        close(n->listen_fd);
        n->listen_fd = -1;
    }
    return rc;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net *n = w->data;
    if (n->cb.on_tick)
        n->cb.on_tick(n->cb.data);
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net *n = w->data;
    if (n->cb.on_wakeup)
        n->cb.on_wakeup(n->cb.data);
}

static void wakefd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net *n = w->data;
    if (n->cb.on_wakeup)
        n->cb.on_wakeup(n->cb.data);
}

void net_wake_on_fd(struct net *n, int fd)
{
    if (n->wakefd_w.fd >= 0)
        ev_io_stop(n->loop, &n->wakefd_w);
    ev_io_init(&n->wakefd_w, wakefd_cb, fd, EV_READ);
    n->wakefd_w.data = n;
    if (fd >= 0)
        ev_io_start(n->loop, &n->wakefd_w);
}

/* Runs once per iteration before the loop sleeps: node.c's batched step,
 * then one flush per connection with output, then node.c's wake-ups of
 * its other threads (after the sends: see on_flushed), then freeing dead
 * connections. */
static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net *n = w->data;
    if (n->cb.on_prepare)
        n->cb.on_prepare(n->cb.data);
    net__flush_all(n);
    if (n->cb.on_flushed)
        n->cb.on_flushed(n->cb.data);
    net__reap(n);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net *n = w->data;
    if (n->cb.on_signal)
        n->cb.on_signal(n->cb.data, w->signum);
}

static void start_watchers(struct net *n)
{
    double tick = n->cfg.tick_ms / 1000.0;
    ev_io_init(&n->listen_w, net__accept_cb, n->listen_fd, EV_READ);
    n->listen_w.data = n;
    ev_io_start(n->loop, &n->listen_w);
    ev_timer_init(&n->tick_w, tick_cb, tick, tick);
    n->tick_w.data = n;
    ev_timer_start(n->loop, &n->tick_w);
    ev_async_init(&n->wake_w, wake_cb);
    n->wake_w.data = n;
    ev_io_init(&n->wakefd_w, wakefd_cb, -1, EV_READ); /* net_wake_on_fd */
    ev_async_start(n->loop, &n->wake_w);
    ev_prepare_init(&n->prepare_w, prepare_cb);
    n->prepare_w.data = n;
    ev_prepare_start(n->loop, &n->prepare_w);
    ev_signal_init(&n->term_w, signal_cb, SIGTERM);
    n->term_w.data = n;
    ev_signal_init(&n->int_w, signal_cb, SIGINT);
    n->int_w.data = n;
    if (n->cfg.handle_signals) {
        ev_signal_start(n->loop, &n->term_w);
        ev_signal_start(n->loop, &n->int_w);
    }
    if (n->peer_fd >= 0) {
        ev_io_init(&n->peer_listen_w, net__peer_accept_cb, n->peer_fd,
                   EV_READ);
        n->peer_listen_w.data = n;
        ev_io_start(n->loop, &n->peer_listen_w);
    }
}

int net_init(struct net **out, const struct net_config *cfg,
             const struct net_callbacks *cb, char *errmsg, size_t errlen)
{
    coord_assert(out && cfg && cb);
    if (!cfg->client_host || cfg->frame_max < 64 || cfg->conns_max == 0 ||
        cfg->tick_ms == 0 || cfg->out_pause_bytes > cfg->out_bytes_max)
        return COORD_EINVAL;
    struct net *n = coord_calloc(1, sizeof(*n));
    if (!n)
        return COORD_ENOMEM;
    n->cfg = *cfg;
    n->cb = *cb;
    n->listen_fd = -1;
    n->peer_fd = -1;
    n->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!n->loop) {
        coord_free(n);
        return COORD_ENOMEM;
    }
    int rc = listen_all(n, errmsg, errlen);
    if (rc) {
        ev_loop_destroy(n->loop);
        coord_free(n);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    start_watchers(n);
    *out = n;
    return 0;
}

void net_stop_listening(struct net *n)
{
    if (n->listen_fd < 0)
        return;
    ev_io_stop(n->loop, &n->listen_w);
    close(n->listen_fd);
    n->listen_fd = -1;
}

void net_close(struct net *n)
{
    if (!n)
        return;
    while (n->conns)
        net__conn_destroy(n->conns, NET_CLOSE_SHUTDOWN);
    net__peers_close(n);
    net__reap(n);
    net_stop_listening(n);
    if (n->peer_fd >= 0) {
        ev_io_stop(n->loop, &n->peer_listen_w);
        close(n->peer_fd);
    }
    /* Signal watchers are process-wide in libev: detach them so another
     * loop (a restarted net, a test) may take the signals. */
    ev_signal_stop(n->loop, &n->term_w);
    ev_signal_stop(n->loop, &n->int_w);
    ev_timer_stop(n->loop, &n->tick_w);
    ev_async_stop(n->loop, &n->wake_w);
    if (n->wakefd_w.fd >= 0)
        ev_io_stop(n->loop, &n->wakefd_w);
    ev_prepare_stop(n->loop, &n->prepare_w);
    ev_loop_destroy(n->loop);
    coord_free(n);
}

int net_run(struct net *n)
{
    ev_run(n->loop, 0);
    return 0;
}

void net_stop(struct net *n)
{
    ev_break(n->loop, EVBREAK_ALL);
}

void net_wakeup(struct net *n)
{
    ev_async_send(n->loop, &n->wake_w);
}

uint16_t net_client_port(const struct net *n)
{
    return n->port;
}

uint16_t net_peer_port(const struct net *n)
{
    return n->peer_port_bound;
}

void net_get_bytes(const struct net *n, struct net_bytes *out)
{
    *out = (struct net_bytes){n->bytes[0][0], n->bytes[0][1],
                              n->bytes[1][0], n->bytes[1][1]};
}

int64_t net_now_ms(const struct net *n)
{
    (void)n;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
