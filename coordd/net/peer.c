/* peer.c -- links to the other members of the cluster. For each peer we
 * keep one outgoing TCP link, used only to send, dialed from this node's
 * own address (bind() before connect(): otherwise the kernel picks
 * 127.0.0.1 as the source on a local cluster and per-address partition
 * rules in tests miss) and re-dialed with exponential backoff. Peers' links
 * to us arrive on the peer listener and are only read (conn.c).
 *
 * Frames only: node.c encodes and decodes the peer protocol (peer_codec)
 * into the buffers this file hands out. Sends never block: a link that is
 * down, or holds more than peer_out_bytes_max unsent bytes, returns NULL and
 * the message is dropped; Raft retransmits, and its flow-control window
 * keeps a slow peer from being buffered without bound.
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

static struct net_peer *peer_find(const struct net *n, uint64_t id)
{
    for (int i = 0; i < NET_PEERS_MAX; i++)
        if (n->peers[i] && n->peers[i]->id == id)
            return n->peers[i];
    return NULL;
}

static void peer_schedule(struct net_peer *p)
{
    struct net *n = p->net;
    ev_timer_stop(n->loop, &p->retry);
    ev_timer_set(&p->retry, p->backoff_ms / 1000.0, 0.0);
    ev_timer_start(n->loop, &p->retry);
    p->backoff_ms *= 2;
    if (p->backoff_ms > NET_PEER_BACKOFF_MS_MAX)
        p->backoff_ms = NET_PEER_BACKOFF_MS_MAX;
}

/* A non-blocking connect from our own peer address. */
static int peer_dial(struct net_peer *p)
{
    struct net *n = p->net;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons(p->port)};
    struct sockaddr_in from = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, p->host, &to.sin_addr) != 1 ||
        inet_pton(AF_INET, n->cfg.peer_host, &from.sin_addr) != 1)
        return COORD_EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return COORD_EIO;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
        (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 &&
         errno != EINPROGRESS)) {
        close(fd);
        return COORD_EIO;
    }
    char text[80];
    snprintf(text, sizeof(text), "%s:%u", p->host, p->port);
    struct net_conn *c = net__conn_new(n, fd, text, NET_CONN_PEER_OUT);
    if (!c) {
        close(fd);
        return COORD_ENOMEM;
    }
    c->dialed = p;
    c->connecting = true;
    p->link = c;
    ev_io_start(n->loop, &c->wr); /* writable = connected (or failed) */
    return 0;
}

static void peer_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct net_peer *p = w->data;
    if (p->link)
        return;
    if (peer_dial(p) != 0)
        peer_schedule(p);
}

int net_peer_add(struct net *n, uint64_t id, const char *host,
                 uint16_t port)
{
    if (id == 0 || !host || strlen(host) >= sizeof(n->peers[0]->host) ||
        peer_find(n, id) || !n->cfg.peer_host)
        return COORD_EINVAL;
    int slot = -1;
    for (int i = 0; i < NET_PEERS_MAX && slot < 0; i++)
        if (!n->peers[i])
            slot = i;
    if (slot < 0)
        return COORD_ETOOMANY;
    struct net_peer *p = coord_calloc(1, sizeof(*p));
    if (!p)
        return COORD_ENOMEM;
    p->net = n;
    p->id = id;
    snprintf(p->host, sizeof(p->host), "%s", host);
    p->port = port;
    p->backoff_ms = NET_PEER_BACKOFF_MS_MIN;
    ev_timer_init(&p->retry, peer_retry_cb, 0.0, 0.0);
    p->retry.data = p;
    n->peers[slot] = p;
    if (peer_dial(p) != 0)
        peer_schedule(p);
    return 0;
}

static void peer_free(struct net *n, int slot)
{
    struct net_peer *p = n->peers[slot];
    n->peers[slot] = NULL;
    ev_timer_stop(n->loop, &p->retry);
    if (p->link) {
        p->link->dialed = NULL;
        net__conn_destroy(p->link, NET_CLOSE_LOCAL);
    }
    coord_free(p);
}

void net_peer_remove(struct net *n, uint64_t id)
{
    for (int i = 0; i < NET_PEERS_MAX; i++)
        if (n->peers[i] && n->peers[i]->id == id)
            peer_free(n, i);
}

void net__peers_close(struct net *n)
{
    for (int i = 0; i < NET_PEERS_MAX; i++)
        if (n->peers[i])
            peer_free(n, i);
}

/* conn.c: our link to p connected. */
void net__peer_link_up(struct net_conn *c)
{
    struct net_peer *p = c->dialed;
    coord_assert(p && p->link == c);
    p->backoff_ms = NET_PEER_BACKOFF_MS_MIN;
    struct net *n = p->net;
    if (n->cb.on_peer_up) {
        n->cb.on_peer_up(n->cb.data, p->id, &c->out);
        net_conn_mark(c);
    }
}

/* conn.c: our link to p is gone (connect failed, reset, EOF). */
void net__peer_link_down(struct net_conn *c)
{
    struct net_peer *p = c->dialed;
    if (!p)
        return; /* the peer was removed */
    bool was_up = !c->connecting;
    p->link = NULL;
    c->dialed = NULL;
    struct net *n = p->net;
    if (was_up && n->cb.on_peer_down)
        n->cb.on_peer_down(n->cb.data, p->id);
    peer_schedule(p);
}

struct wire_buf *net_peer_out(struct net *n, uint64_t id)
{
    struct net_peer *p = peer_find(n, id);
    if (!p || !p->link || p->link->connecting || p->link->dead ||
        net_conn_out_pending(p->link) > n->cfg.peer_out_bytes_max)
        return NULL;
    return &p->link->out;
}

void net_peer_mark(struct net *n, uint64_t id)
{
    struct net_peer *p = peer_find(n, id);
    if (p && p->link)
        net_conn_mark(p->link);
}

bool net_peer_is_up(const struct net *n, uint64_t id)
{
    const struct net_peer *p = peer_find(n, id);
    return p && p->link && !p->link->connecting;
}
