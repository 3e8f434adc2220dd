/* net_int.h -- the structs behind net.h, shared by loop.c and conn.c only.
 * Never included outside coordd/net/ (tests excepted). */
#ifndef COORDD_NET_INT_H
#define COORDD_NET_INT_H

#include <ev.h>

#include "net.h"

enum net_conn_kind {
    NET_CONN_CLIENT = 1,
    NET_CONN_PEER_IN = 2,  /* a peer's link to us: we only read */
    NET_CONN_PEER_OUT = 3, /* our link to a peer: we only write */
};

struct net_peer;

struct net_conn {
    struct net *net;
    uint64_t id;
    uint8_t kind;           /* enum net_conn_kind */
    bool connecting;        /* PEER_OUT: connect() in progress */
    struct net_peer *dialed; /* PEER_OUT: the peer it dials */
    int fd;
    ev_io rd;
    ev_io wr;
    /* Input: bytes read but not yet consumed as frames. Grows up to one
     * frame (frame_max + prefix), never beyond. */
    uint8_t *in;
    size_t in_len;
    size_t in_cap;
    struct wire_buf out;
    size_t out_sent;    /* bytes of out already written */
    bool paused;        /* by node.c (net_conn_pause) */
    bool out_paused;    /* by net: too much unread output */
    bool marked;        /* on the dirty list */
    bool closing;       /* close once output is flushed */
    bool dead;          /* closed; freed at the end of the iteration */
    int close_reason;
    void *user;
    char peer[80];
    struct net_conn *next_dirty;
    struct net_conn *next_dead;
    struct net_conn *prev;  /* all connections, doubly linked */
    struct net_conn *next;
};

/* A peer we dial: its address, its outgoing link, its redial timer. */
struct net_peer {
    struct net *net;
    uint64_t id;
    char host[64];
    uint16_t port;
    struct net_conn *link; /* NULL while down */
    ev_timer retry;
    uint32_t backoff_ms;
};

#define NET_PEERS_MAX 16
#define NET_PEER_BACKOFF_MS_MIN 20
#define NET_PEER_BACKOFF_MS_MAX 1000

struct net {
    struct ev_loop *loop;
    struct net_config cfg;
    struct net_callbacks cb;
    int listen_fd;
    uint16_t port;
    ev_io listen_w;
    int peer_fd;
    uint16_t peer_port_bound;
    ev_io peer_listen_w;
    struct net_peer *peers[NET_PEERS_MAX];
    ev_timer tick_w;
    ev_async wake_w;
    ev_io wakefd_w; /* net_wake_on_fd; fd -1: not started */
    ev_prepare prepare_w;
    ev_signal term_w;
    ev_signal int_w;
    uint64_t next_id;
    uint32_t n_conns;
    uint64_t bytes[2][2];    /* [client, peer][in, out], net_get_bytes */
    struct net_conn *conns;  /* all open connections */
    struct net_conn *dirty;  /* output to flush this iteration */
    struct net_conn *dead;   /* to free at the end of the iteration */
};

/* conn.c */
void net__accept_cb(struct ev_loop *loop, ev_io *w, int revents);
void net__peer_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
struct net_conn *net__conn_new(struct net *n, int fd, const char *peer,
                               uint8_t kind);
void net__conn_start(struct net_conn *c);
void net__flush_all(struct net *n);
void net__reap(struct net *n);
void net__conn_destroy(struct net_conn *c, int reason);

/* peer.c */
void net__peer_link_down(struct net_conn *c);
void net__peer_link_up(struct net_conn *c);
void net__peers_close(struct net *n);
int net__listen(const char *host, uint16_t port, int *fd, uint16_t *bound,
                char *errmsg, size_t errlen);

#endif /* COORDD_NET_INT_H */
