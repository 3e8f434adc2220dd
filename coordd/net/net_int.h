/* net_int.h -- the structs behind net.h, shared by loop.c and conn.c only.
 * Never included outside coordd/net/ (tests excepted). */
#ifndef COORDD_NET_INT_H
#define COORDD_NET_INT_H

#include <ev.h>

#include "net.h"

struct net_conn {
    struct net *net;
    uint64_t id;
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
    char peer[48];
    struct net_conn *next_dirty;
    struct net_conn *next_dead;
    struct net_conn *prev;  /* all connections, doubly linked */
    struct net_conn *next;
};

struct net {
    struct ev_loop *loop;
    struct net_config cfg;
    struct net_callbacks cb;
    int listen_fd;
    uint16_t port;
    ev_io listen_w;
    ev_timer tick_w;
    ev_async wake_w;
    ev_prepare prepare_w;
    ev_signal term_w;
    ev_signal int_w;
    uint64_t next_id;
    uint32_t n_conns;
    struct net_conn *conns;  /* all open connections */
    struct net_conn *dirty;  /* output to flush this iteration */
    struct net_conn *dead;   /* to free at the end of the iteration */
};

/* conn.c */
void net__accept_cb(struct ev_loop *loop, ev_io *w, int revents);
void net__flush_all(struct net *n);
void net__reap(struct net *n);
void net__conn_destroy(struct net_conn *c, int reason);

#endif /* COORDD_NET_INT_H */
