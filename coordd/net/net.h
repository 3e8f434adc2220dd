/* net.h -- every socket and libev watcher of coordd lives behind this
 * header: the event loop, the tick timer, the cross-thread wake-up, signals,
 * and client connections (listening, framing, output buffering and
 * backpressure) and peer links (peer.c): an outgoing link per peer,
 * dialed from this node's own address and re-dialed with backoff, used
 * only to send; incoming links from peers, used only to receive.
 *
 * net/ knows frames, not messages: it hands each complete frame body to
 * node.c through a callback and sends what node.c encodes into a
 * connection's output buffer. It never decodes a request, never touches the
 * tree, Raft or storage, and never blocks: sockets are non-blocking and
 * output is written when the socket is writable.
 *
 * Loop iteration: libev wakes for I/O, timers, the wake-up and signals;
 * callbacks run; then, just before the loop sleeps again, on_prepare runs
 * (node.c steps Raft once for everything that arrived and queues replies)
 * and every connection with pending output is flushed. One write per
 * connection per iteration, whatever the number of replies.
 */
#ifndef COORDD_NET_H
#define COORDD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcoord/shared/wire.h"

struct net;
struct net_conn;

/* Why a connection closed, passed to on_close. */
enum net_close_reason {
    NET_CLOSE_EOF = 1,     /* the peer closed it */
    NET_CLOSE_ERROR = 2,   /* a socket error */
    NET_CLOSE_PROTO = 3,   /* a bad frame (oversized, garbage) */
    NET_CLOSE_OUTPUT = 4,  /* the peer does not read its replies */
    NET_CLOSE_LOCAL = 5,   /* net_conn_close() */
    NET_CLOSE_SHUTDOWN = 6 /* net_close() */
};

struct net_callbacks {
    void *data;
    /* A connection was accepted. Return 0 to keep it, or a COORD_E* code
     * to refuse it (it is closed without on_close). */
    int (*on_accept)(void *data, struct net_conn *c);
    /* One complete frame arrived: msg is the frame body (after the length
     * prefix), borrowed until the callback returns. Return 0, or a
     * COORD_E* code to close the connection once its output is flushed. */
    int (*on_frame)(void *data, struct net_conn *c, const uint8_t *msg,
                    size_t len);
    /* The connection is gone; c is freed right after this returns. */
    void (*on_close)(void *data, struct net_conn *c, int reason);
    /* Every tick_ms. */
    void (*on_tick)(void *data);
    /* After net_wakeup() from any thread (coalesced). */
    void (*on_wakeup)(void *data);
    /* Before the loop sleeps: do the iteration's batched work. */
    void (*on_prepare)(void *data);
    /* After on_prepare, once every connection's output went to the
     * kernel, still before the loop sleeps: wake other threads here, so
     * that a woken thread taking the CPU does not delay the sends. */
    void (*on_flushed)(void *data);
    /* SIGTERM or SIGINT arrived. */
    void (*on_signal)(void *data, int signo);
    /* A frame on an incoming peer link (the first is the peer's
     * handshake). Return 0, or a COORD_E* code to close the link. */
    int (*on_peer_frame)(void *data, struct net_conn *c, const uint8_t *msg,
                         size_t len);
    /* The outgoing link to peer id is up: write the handshake into out. */
    void (*on_peer_up)(void *data, uint64_t id, struct wire_buf *out);
    /* The outgoing link to peer id dropped; what it held is lost. */
    void (*on_peer_down)(void *data, uint64_t id);
};

struct net_config {
    const char *client_host;  /* numeric IPv4 address to listen on */
    uint16_t client_port;     /* 0: pick a free port (tests) */
    uint32_t frame_max;       /* bytes of the largest frame accepted */
    uint32_t conns_max;       /* connections beyond this are refused */
    size_t out_bytes_max;     /* unread output that closes a connection */
    size_t out_pause_bytes;   /* unread output that pauses reading */
    uint32_t tick_ms;
    const char *peer_host;    /* listen on, and dial from, this address;
                                 NULL: no peer links (single node) */
    uint16_t peer_port;       /* 0: pick a free port (tests) */
    size_t peer_out_bytes_max; /* unsent bytes queued to one peer */
    bool handle_signals;      /* SIGTERM/SIGINT -> on_signal (one net per
                                 process may take them) */
};

/* Creates the loop and the listening socket. Returns 0, COORD_EINVAL (bad
 * address), COORD_EIO (bind/listen failed; errmsg says why), COORD_ENOMEM.
 * errmsg (may be NULL) receives a message of at most errmsg_len bytes.
 * Caller frees with net_close(). */
int net_init(struct net **out, const struct net_config *cfg,
             const struct net_callbacks *cb, char *errmsg,
             size_t errmsg_len);
/* Closes every connection (on_close with NET_CLOSE_SHUTDOWN) and the
 * listener, frees everything. */
void net_close(struct net *n);
/* Runs the loop until net_stop(). Returns 0. */
int net_run(struct net *n);
/* Makes net_run() return after the current iteration. */
void net_stop(struct net *n);
/* Wakes the loop from any thread; on_wakeup runs on the loop thread.
 * Thread-safe and async-signal-safe. */
void net_wakeup(struct net *n);
/* Also runs on_wakeup when fd becomes readable (an eventfd that another
 * party signals, e.g. the storage worker's completions; on_wakeup must
 * drain it). One such fd per net; -1 stops watching. Loop thread only. */
void net_wake_on_fd(struct net *n, int fd);
/* The port actually listened on (useful with client_port 0). */
uint16_t net_client_port(const struct net *n);
/* Monotonic milliseconds. */
int64_t net_now_ms(const struct net *n);
/* Bytes read and written on client connections and peer links since
 * start (metrics); loop thread only. */
struct net_bytes {
    uint64_t client_in, client_out, peer_in, peer_out;
};
void net_get_bytes(const struct net *n, struct net_bytes *out);
/* Stops accepting new connections (shutdown). */
void net_stop_listening(struct net *n);

/* ---- Peers ------------------------------------------------------------- */

/* Starts dialing peer id at host:port (numeric IPv4). COORD_EEXIST-like
 * duplicates return COORD_EINVAL; COORD_ETOOMANY past COORDD_MEMBERS_MAX. */
int net_peer_add(struct net *n, uint64_t id, const char *host,
                 uint16_t port);
/* Closes the link to id and forgets it. */
void net_peer_remove(struct net *n, uint64_t id);
/* The output buffer of the link to id, or NULL when the link is down or
 * holds more than peer_out_bytes_max unsent bytes (drop the message: Raft
 * retransmits). Call net_peer_mark() after encoding into it. */
struct wire_buf *net_peer_out(struct net *n, uint64_t id);
void net_peer_mark(struct net *n, uint64_t id);
bool net_peer_is_up(const struct net *n, uint64_t id);
uint16_t net_peer_port(const struct net *n);

/* ---- Connections ------------------------------------------------------- */

/* The output buffer of c: encode whole frames into it (wire_encode_resp);
 * net flushes it before the loop next sleeps. Never NULL while c is open. */
struct wire_buf *net_conn_out(struct net_conn *c);
/* Marks c's output for flushing in this iteration. Encoders that write
 * into net_conn_out() must call it. */
void net_conn_mark(struct net_conn *c);
/* Stops / resumes reading c (request backpressure). Resuming delivers
 * frames already buffered in a later callback, never re-entrantly. */
void net_conn_pause(struct net_conn *c);
void net_conn_resume(struct net_conn *c);
bool net_conn_is_paused(const struct net_conn *c);
/* Closes c after its pending output is flushed; on_close follows
 * (NET_CLOSE_LOCAL). Safe inside callbacks. */
void net_conn_close(struct net_conn *c);
void net_conn_set_data(struct net_conn *c, void *data);
void *net_conn_data(const struct net_conn *c);
uint64_t net_conn_id(const struct net_conn *c);
/* "a.b.c.d:port" of the remote end, for logs. */
const char *net_conn_peer(const struct net_conn *c);
/* Bytes of output not yet written to the socket. */
size_t net_conn_out_pending(const struct net_conn *c);
/* Closes every client connection (not peer links); on_close follows for
 * each. */
void net_close_clients(struct net *n);
/* True for an incoming peer link (not a client). */
bool net_conn_is_peer(const struct net_conn *c);

#endif /* COORDD_NET_H */
