/* conn.c -- client connections of coordd: accept, read and split frames,
 * buffer output, flush once per loop iteration, and apply backpressure.
 *
 * Input is read into a per-connection buffer that grows to at most one
 * frame (the length prefix is checked against frame_max before any body
 * byte is awaited), so a client cannot make the server allocate more than
 * one frame's worth per connection. Reading stops when node.c pauses the
 * connection (too many requests in flight) or when too much output is
 * unread (out_pause_bytes); past out_bytes_max the connection is closed.
 */
#include "net_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* First input buffer size; grows to the largest frame seen, bounded. */
#define NET_IN_BYTES_INITIAL (16 * 1024)
/* Bytes read per read(2). */
#define NET_READ_CHUNK (64 * 1024)

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);

static void conn_update_reading(struct net_conn *c)
{
    bool want = !c->paused && !c->out_paused && !c->closing && !c->dead &&
                !c->connecting;
    if (want && !ev_is_active(&c->rd))
        ev_io_start(c->net->loop, &c->rd);
    else if (!want && ev_is_active(&c->rd))
        ev_io_stop(c->net->loop, &c->rd);
}

struct net_conn *net__conn_new(struct net *n, int fd, const char *peer,
                               uint8_t kind)
{
    struct net_conn *c = coord_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->net = n;
    c->fd = fd;
    c->kind = kind;
    c->id = ++n->next_id;
    wire_buf_init(&c->out, kind == NET_CONN_PEER_OUT
                               ? n->cfg.peer_out_bytes_max +
                                     n->cfg.frame_max + WIRE_PREFIX_BYTES
                               : n->cfg.out_bytes_max);
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    ev_io_init(&c->rd, conn_read_cb, fd, EV_READ);
    c->rd.data = c;
    ev_io_init(&c->wr, conn_write_cb, fd, EV_WRITE);
    c->wr.data = c;
    c->next = n->conns;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    n->n_conns++;
    return c;
}

static void sockaddr_text(const struct sockaddr_in *sa, char *out,
                          size_t cap)
{
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
    snprintf(out, cap, "%s:%u", ip, ntohs(sa->sin_port));
}

void net__conn_start(struct net_conn *c)
{
    conn_update_reading(c);
}

/* Accepts up to 64 connections of one kind from listening socket lfd. */
static void accept_some(struct net *n, int lfd, uint8_t kind)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        int fd = accept4(lfd, (struct sockaddr *)&sa, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: retry next wake-up */
        if (n->n_conns >= n->cfg.conns_max + NET_PEERS_MAX) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char text[48];
        sockaddr_text(&sa, text, sizeof(text));
        struct net_conn *c = net__conn_new(n, fd, text, kind);
        if (!c) {
            close(fd);
            continue;
        }
        if (kind == NET_CONN_CLIENT && n->cb.on_accept &&
            n->cb.on_accept(n->cb.data, c) != 0) {
            c->user = NULL;
            net__conn_destroy(c, 0);
            continue;
        }
        conn_update_reading(c);
    }
}

void net__accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net *n = w->data;
    if (n->n_conns >= n->cfg.conns_max) {
        /* Refuse: accept and close, so clients see a reset at once. */
        int fd = accept4(n->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        return;
    }
    accept_some(n, n->listen_fd, NET_CONN_CLIENT);
}

void net__peer_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net *n = w->data;
    accept_some(n, n->peer_fd, NET_CONN_PEER_IN);
}

/* Unlinks c, stops its watchers and queues it for freeing at the end of
 * the iteration (so pointers held by callbacks up the stack stay valid).
 * reason 0: refused at accept, no on_close. */
void net__conn_destroy(struct net_conn *c, int reason)
{
    struct net *n = c->net;
    if (c->dead)
        return;
    c->dead = true;
    ev_io_stop(n->loop, &c->rd);
    ev_io_stop(n->loop, &c->wr);
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    n->n_conns--;
    if (c->kind == NET_CONN_PEER_OUT)
        net__peer_link_down(c);
    else if (reason && n->cb.on_close)
        n->cb.on_close(n->cb.data, c, reason);
    c->next_dead = n->dead;
    n->dead = c;
}

void net__reap(struct net *n)
{
    while (n->dead) {
        struct net_conn *c = n->dead;
        n->dead = c->next_dead;
        wire_buf_free(&c->out);
        coord_free(c->in);
        coord_free(c);
    }
}

/* Makes room for `need` bytes of input in total; bounded by one frame. */
static int conn_reserve(struct net_conn *c, size_t need)
{
    size_t max = (size_t)c->net->cfg.frame_max + WIRE_PREFIX_BYTES;
    if (need > max)
        return COORD_ETOOBIG;
    if (need <= c->in_cap)
        return 0;
    size_t cap = c->in_cap ? c->in_cap : NET_IN_BYTES_INITIAL;
    while (cap < need)
        cap *= 2;
    if (cap > max)
        cap = max;
    uint8_t *p = coord_realloc(c->in, cap);
    if (!p)
        return COORD_ENOMEM;
    c->in = p;
    c->in_cap = cap;
    return 0;
}

/* Hands every complete buffered frame to node.c, until paused. Returns 0
 * or a close reason. */
static int conn_process_input(struct net_conn *c)
{
    struct net *n = c->net;
    size_t off = 0;
    int reason = 0;
    while (!c->paused && !c->out_paused && !c->closing && !c->dead) {
        size_t fb = 0;
        int rc = wire_frame_check(c->in + off, c->in_len - off,
                                  n->cfg.frame_max, &fb);
        if (rc == COORD_EAGAIN) {
            if (conn_reserve(c, fb) != 0)
                reason = NET_CLOSE_PROTO;
            break;
        }
        if (rc != 0) {
            reason = NET_CLOSE_PROTO;
            break;
        }
        const uint8_t *msg = c->in + off + WIRE_PREFIX_BYTES;
        size_t len = fb - WIRE_PREFIX_BYTES;
        if (c->kind == NET_CONN_CLIENT)
            rc = n->cb.on_frame(n->cb.data, c, msg, len);
        else if (c->kind == NET_CONN_PEER_IN && n->cb.on_peer_frame)
            rc = n->cb.on_peer_frame(n->cb.data, c, msg, len);
        else
            rc = COORD_EPROTO; /* nothing is sent back on our links */
        off += fb;
        if (rc != 0) {
            net_conn_close(c);
            break;
        }
    }
    if (off && !c->dead) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return reason;
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct net_conn *c = w->data;
    int reason = 0;
    if (c->dead)
        return;
    if (revents & EV_CUSTOM) {
        /* Resumed: deliver what is buffered before reading more. */
        reason = conn_process_input(c);
        if (reason)
            net__conn_destroy(c, reason);
        return;
    }
    if (c->in_cap - c->in_len < NET_READ_CHUNK)
        conn_reserve(c, c->in_len + NET_READ_CHUNK); /* best effort */
    if (c->in_cap == c->in_len) {
        /* Reading is on only when not paused, and a complete frame would
         * have been delivered: the buffer could not grow (no memory). */
        net__conn_destroy(c, NET_CLOSE_ERROR);
        return;
    }
    ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (r == 0) {
        net__conn_destroy(c, NET_CLOSE_EOF);
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EINTR)
            net__conn_destroy(c, NET_CLOSE_ERROR);
        return;
    }
    c->in_len += (size_t)r;
    c->net->bytes[c->kind != NET_CONN_CLIENT][0] += (uint64_t)r;
    reason = conn_process_input(c);
    if (reason)
        net__conn_destroy(c, reason);
}

/* Writes as much pending output as the socket takes. Returns 0 or a
 * close reason. */
static int conn_write_out(struct net_conn *c)
{
    while (c->out_sent < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->out_sent,
                         c->out.len - c->out_sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return NET_CLOSE_ERROR;
        }
        c->out_sent += (size_t)w;
        c->net->bytes[c->kind != NET_CONN_CLIENT][1] += (uint64_t)w;
    }
    if (c->out_sent == c->out.len) {
        wire_buf_reset(&c->out);
        c->out_sent = 0;
    } else if (c->out_sent > c->out.len / 2) {
        wire_buf_consume(&c->out, c->out_sent);
        c->out_sent = 0;
    }
    return 0;
}

/* Flushes c and updates its write interest and output backpressure. */
static void conn_flush(struct net_conn *c)
{
    struct net *n = c->net;
    if (c->connecting) {
        if (!ev_is_active(&c->wr))
            ev_io_start(n->loop, &c->wr);
        return;
    }
    int reason = conn_write_out(c);
    if (reason) {
        net__conn_destroy(c, reason);
        return;
    }
    size_t pending = c->out.len - c->out_sent;
    if (pending && !ev_is_active(&c->wr))
        ev_io_start(n->loop, &c->wr);
    else if (!pending && ev_is_active(&c->wr))
        ev_io_stop(n->loop, &c->wr);
    if (!pending && c->closing) {
        net__conn_destroy(c, NET_CLOSE_LOCAL);
        return;
    }
    bool was = c->out_paused;
    c->out_paused = pending > n->cfg.out_pause_bytes;
    conn_update_reading(c);
    if (was && !c->out_paused && c->in_len)
        ev_feed_event(n->loop, &c->rd, EV_CUSTOM);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net_conn *c = w->data;
    if (c->connecting) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            net__conn_destroy(c, NET_CLOSE_ERROR);
            return;
        }
        c->connecting = false;
        conn_update_reading(c);
        net__peer_link_up(c);
    }
    conn_flush(c);
}

void net__flush_all(struct net *n)
{
    while (n->dirty) {
        struct net_conn *c = n->dirty;
        n->dirty = c->next_dirty;
        c->marked = false;
        if (!c->dead)
            conn_flush(c);
    }
}

struct wire_buf *net_conn_out(struct net_conn *c)
{
    coord_assert(!c->dead);
    return &c->out;
}

void net_conn_mark(struct net_conn *c)
{
    if (c->marked || c->dead)
        return;
    c->marked = true;
    c->next_dirty = c->net->dirty;
    c->net->dirty = c;
}

void net_conn_pause(struct net_conn *c)
{
    c->paused = true;
    conn_update_reading(c);
}

void net_conn_resume(struct net_conn *c)
{
    if (!c->paused || c->dead)
        return;
    c->paused = false;
    conn_update_reading(c);
    /* Frames already buffered are delivered from the loop, not from here:
     * the caller may be inside another connection's callback. */
    if (c->in_len)
        ev_feed_event(c->net->loop, &c->rd, EV_CUSTOM);
}

bool net_conn_is_paused(const struct net_conn *c)
{
    return c->paused;
}

void net_conn_close(struct net_conn *c)
{
    if (c->dead || c->closing)
        return;
    c->closing = true;
    conn_update_reading(c);
    net_conn_mark(c);
}

void net_conn_set_data(struct net_conn *c, void *data)
{
    c->user = data;
}

void *net_conn_data(const struct net_conn *c)
{
    return c->user;
}

uint64_t net_conn_id(const struct net_conn *c)
{
    return c->id;
}

const char *net_conn_peer(const struct net_conn *c)
{
    return c->peer;
}

size_t net_conn_out_pending(const struct net_conn *c)
{
    return c->out.len - c->out_sent;
}

bool net_conn_is_peer(const struct net_conn *c)
{
    return c->kind != NET_CONN_CLIENT;
}

void net_close_clients(struct net *n)
{
    for (struct net_conn *c = n->conns; c; c = c->next)
        if (c->kind == NET_CONN_CLIENT)
            net_conn_close(c);
}
