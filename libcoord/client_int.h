/* client_int.h -- internals of libcoord's client, shared by its .c files
 * and their unit tests; never installed.
 *
 * Layout: options.c (server list, option defaults, PRNG and reconnect
 * backoff), request.c (the bounded in-flight request table), watch.c (the
 * client-side watch table), client.c (the I/O thread: connection and
 * session state machine), drive.c (the same loop driven by the
 * application: coord_fd(), coord_process()), ops.c (async operations:
 * encoding requests and turning replies into callbacks), sync.c (blocking
 * calls over the async ones), multi.c (the multi builder).
 *
 * Locking: one mutex per client (mu) guards the request table, the state,
 * the session and the limits. The socket and its buffers belong to the I/O
 * thread alone. Callbacks always run on the I/O thread with mu released.
 * Nothing here may block while holding mu.
 */
#ifndef COORD_CLIENT_INT_H
#define COORD_CLIENT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "coord.h"
#include "libcoord/shared/wire.h"

/* ---- Options (options.c) ------------------------------------------------ */

#define COORD__HOST_BYTES_MAX 255

struct coord__server {
    char host[COORD__HOST_BYTES_MAX + 1];
    uint16_t port;
};

/* Parses "host:port,..." into out[0..*n). Spaces around entries are
 * ignored. COORD_EINVAL for an empty list or entry, a bad port, a host over
 * COORD__HOST_BYTES_MAX, more than max entries. */
int coord__servers_parse(const char *list, struct coord__server *out,
                         size_t max, size_t *n);

/* Fills zero fields with defaults and checks the rest: COORD_EINVAL. */
int coord__options_resolve(const struct coord_options *in,
                           struct coord_options *out);

/* A small PRNG (splitmix64) for shuffling and jitter; not for secrets. */
struct coord__rng {
    uint64_t s;
};
/* Seeds from the kernel's random source (falls back to time and address). */
void coord__rng_seed(struct coord__rng *r);
uint64_t coord__rng_next(struct coord__rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t coord__rng_below(struct coord__rng *r, uint64_t n);
void coord__servers_shuffle(struct coord__rng *r, struct coord__server *s,
                            size_t n);

/* Reconnect delay before attempt number attempt (0 = first retry after a
 * working connection dropped: immediate). Later attempts: exponential base
 * initial * 2^(attempt-1) capped at max, then "equal jitter": uniform in
 * [base/2, base]. */
uint32_t coord__backoff_ms(struct coord__rng *r, uint32_t attempt,
                           uint32_t initial_ms, uint32_t max_ms);

/* Milliseconds on the monotonic clock. */
uint64_t coord__now_ms(void);

/* ---- Requests (request.c) ----------------------------------------------- */

/* How a reply is turned into a callback (ops.c). */
enum coord__cb_kind {
    COORD__CB_VOID = 1,
    COORD__CB_STAT,
    COORD__CB_CREATE,
    COORD__CB_DATA,
    COORD__CB_CHILDREN,
    COORD__CB_MULTI,
    COORD__CB_STATUS,
    COORD__CB_INTERNAL, /* CLOSE sent by coord_close(): no callback */
    COORD__CB_RAW,      /* admin.c: the decoded reply itself */
};

/* COORD__CB_RAW: m is NULL unless err == 0; borrowed for the call. */
typedef void (*coord__raw_cb)(void *data, int err, const struct wire_resp *m);

struct coord__req {
    int64_t xid;
    uint32_t op;
    uint8_t cb_kind;
    bool sent; /* written to the current connection */
    union {
        coord_void_cb v;
        coord_stat_cb stat;
        coord_create_cb create;
        coord_data_cb get;
        coord_children_cb children;
        coord_multi_cb multi;
        coord_status_cb status;
        coord__raw_cb raw;
    } cb;
    void *data;
    uint64_t deadline_ms;
    /* Watch to register when the reply succeeds (reads, ADD_WATCH) or to
     * drop (REMOVE_WATCH): kind COORD_WATCH_NONE when none. */
    uint32_t watch_kind;
    struct coord_watcher watcher;
    char *watch_path; /* coord_malloc'd, NUL-terminated, or NULL */
    struct wire_buf frame; /* the encoded request */
    struct coord__req *prev, *next;
};

/* The in-flight table: at most cap requests, kept in xid (= submission)
 * order. Not locked: the client holds mu around every call. */
struct coord__reqtab {
    struct coord__req *head, *tail;
    size_t n, cap;
};

void coord__reqtab_init(struct coord__reqtab *t, size_t cap);
bool coord__reqtab_full(const struct coord__reqtab *t);
/* Appends r: its xid above every xid in the table, its deadline at or
 * above every deadline there. COORD_EAGAIN when full. */
int coord__reqtab_add(struct coord__reqtab *t, struct coord__req *r);
/* Removes and returns the request with this xid, or NULL. */
struct coord__req *coord__reqtab_take(struct coord__reqtab *t, int64_t xid);
/* The first request not yet written, or NULL. */
struct coord__req *coord__reqtab_next_unsent(const struct coord__reqtab *t);
/* Moves every request with deadline <= now (a prefix) to *out (a list
 * linked by next, in xid order). Returns how many. */
size_t coord__reqtab_expire(struct coord__reqtab *t, uint64_t now_ms,
                            struct coord__req **out);
/* Moves every written request to *out (their connection is gone); the
 * unsent ones stay for the next connection. */
size_t coord__reqtab_drop_sent(struct coord__reqtab *t,
                               struct coord__req **out);
/* Whether a request was written to the current connection and is not
 * answered yet. */
bool coord__reqtab_any_sent(const struct coord__reqtab *t);
/* Moves every request to *out. */
size_t coord__reqtab_drain(struct coord__reqtab *t, struct coord__req **out);
/* Earliest deadline, or UINT64_MAX when empty. */
uint64_t coord__reqtab_next_deadline(const struct coord__reqtab *t);

/* Allocates a zeroed request (frame buffer bounded by frame_max). */
struct coord__req *coord__req_new(uint32_t frame_max);
void coord__req_free(struct coord__req *r);

/* ---- Watches (watch.c) -------------------------------------------------- */

struct coord__watch {
    char *path; /* coord_malloc'd */
    uint32_t kind;
    struct coord_watcher w;
    uint64_t seq;               /* registration order */
    uint64_t hash;              /* of path */
    size_t len;                 /* strlen(path) */
    struct coord__watch *hnext; /* hash chain */
    struct coord__watch *prev;  /* registration-order list */
    struct coord__watch *next;
};

/* The watch table: registrations in a list in registration order, and a
 * hash table by path, so adding, removing and matching an event cost the
 * registrations on the paths involved (the event's and, with recursive
 * watches, its ancestors'), not all of them. Only the I/O thread touches
 * it after coord_open(). */
struct coord__watchtab {
    struct coord__watch **buckets; /* n_buckets, a power of two, or NULL */
    size_t n_buckets;
    struct coord__watch *head, *tail;
    size_t n, max, n_recursive;
    uint64_t seq;
};

/* One fired registration, handed to the caller to invoke. */
struct coord__fired {
    struct coord_watcher w;
    uint32_t kind;
    const char *path; /* borrowed: the event path */
    struct coord__watch *entry; /* inside coord__watchtab_match only */
};

void coord__watchtab_init(struct coord__watchtab *t, size_t max);
void coord__watchtab_free(struct coord__watchtab *t);
/* Adds a registration; an identical one (path, kind, cb, data) is kept
 * once. COORD_ETOOMANY past max, COORD_ENOMEM. */
int coord__watchtab_add(struct coord__watchtab *t, const char *path,
                        size_t path_len, uint32_t kind,
                        const struct coord_watcher *w);
/* Removes every registration of (path, kind); returns how many. */
size_t coord__watchtab_remove(struct coord__watchtab *t, const char *path,
                              uint32_t kind);
/* Registrations an event (type, path) fires, in registration order:
 * one-shot ones are removed (their path moves into *owned, which the
 * caller frees with coord__watchtab_release). Returns how many fire; when
 * that is more than max, nothing is written or removed (the caller passes
 * a bigger array: coord__watchtab_count says how big). MUST_REREAD fires
 * every registration on its path, whatever the kind. */
size_t coord__watchtab_match(struct coord__watchtab *t, uint32_t type,
                             const char *path, struct coord__fired *out,
                             size_t max, char **owned, size_t owned_max);
void coord__watchtab_release(char **owned, size_t n);
/* How many registrations coord__watchtab_match would fire now (nothing
 * changes): the size of the arrays to pass it. */
size_t coord__watchtab_count(const struct coord__watchtab *t, uint32_t type,
                             const char *path);
/* Unique paths of one kind, for SET_WATCHES: writes at most max. */
size_t coord__watchtab_paths(const struct coord__watchtab *t, uint32_t kind,
                             struct wire_bytes *out, size_t max);
/* Drops everything. */
void coord__watchtab_clear(struct coord__watchtab *t);

/* ---- The client (client.c) ---------------------------------------------- */

enum coord__conn_state {
    COORD__CONN_IDLE,      /* no socket: waiting for the backoff timer */
    COORD__CONN_CONNECTING, /* non-blocking connect in progress */
    COORD__CONN_HELLO,     /* HELLO sent, reply awaited */
    COORD__CONN_READY,     /* session usable on this connection */
};

struct coord_client {
    pthread_mutex_t mu;
    pthread_cond_t slot_cv; /* a request slot freed */
    pthread_cond_t users_cv; /* users dropped to 0 */
    int users; /* threads inside sync calls (guarded by mu) */
    pthread_t thread;
    int wake_fd; /* eventfd: submissions and close wake the I/O thread */
    struct coord_options opts; /* resolved; servers points to none */
    struct coord__server servers[COORD_SERVERS_MAX];
    size_t n_servers;
    size_t server_idx; /* the server tried last */
    struct coord__rng rng;

    /* Guarded by mu. */
    int state;          /* enum coord_state */
    bool closing;       /* coord_close() called */
    bool dead;          /* expired or closed: submissions refused */
    int dead_err;       /* COORD_ESESSIONEXPIRED or COORD_ECLOSED */
    int64_t next_xid;   /* xid of the next request; 0 is HELLO/PING */
    uint64_t session_id;
    uint8_t secret[COORD_SECRET_BYTES];
    bool have_session;
    uint64_t last_zxid;
    uint32_t timeout_ms; /* negotiated */
    uint64_t answered_ms; /* coord__now_ms() of the last reply (no event) */
    struct wire_limits lim; /* the server's; defaults before a handshake */
    struct coord__reqtab reqs;

    /* I/O thread only. */
    int fd;
    int conn;          /* enum coord__conn_state */
    uint32_t attempt;  /* failed attempts since the last good session */
    uint64_t conn_deadline_ms; /* connect + handshake, or backoff end */
    uint64_t last_recv_ms;
    uint64_t last_send_ms;
    uint64_t last_ping_ms; /* when the last PING was sent */
    uint8_t *out; /* frames to write */
    size_t out_len, out_cap;
    uint8_t *in;
    size_t in_len, in_cap;
    struct coord__watchtab watches;
    bool closing_seen; /* the I/O thread saw closing */
    bool close_sent;  /* the CLOSE request is queued */
    bool close_done;  /* and completed (reply, loss or timeout) */
    bool io_started;  /* thread is valid */
    bool connected_once; /* a handshake succeeded: later ones reconnect */
    /* prefer_leader (client.c "Staying on the leader"). move: what the
     * connection being set up is (enum coord__move); move_pending: leave
     * for servers[move_to] once nothing written is unanswered; a leader
     * that could not be reached is not tried again before avoid_until_ms;
     * leader_check_ms: next STATUS while on a follower (0: none). */
    int move;
    bool move_pending;
    size_t move_to, move_from, avoid_idx;
    uint64_t move_since_ms; /* move_pending since */
    uint64_t avoid_until_ms;
    uint64_t leader_check_ms;

    /* State listeners (listen.c), guarded by mu. lst_running: the I/O
     * thread is running them (removal waits on users_cv until it ends). */
    struct coord__listener {
        coord_state_cb cb;
        void *data;
        uint64_t id;
    } lst[COORD_STATE_LISTENERS_MAX];
    size_t n_lst;
    uint64_t lst_next_id;
    bool lst_running;

    /* External-loop mode (drive.c). */
    int ep_fd;    /* epoll over wake_fd, timer_fd and the socket; or -1 */
    int timer_fd; /* armed to the next timer */
    bool driving; /* a thread is inside coord_process() (mu) */
    pthread_t driver;
};

/* Runs the state listeners (listen.c); I/O thread, mu not held. */
void coord__listeners_run(struct coord_client *c, int state);

/* Queues an encoded request (r->frame holds it, r->xid set by the caller
 * under mu through coord__submit's encode callback). See ops.c. */
typedef int (*coord__encode_fn)(struct coord_client *c, struct coord__req *r,
                                const void *arg);
/* Assigns an xid, encodes with the current limits, queues and wakes the I/O
 * thread. block: wait for a free slot (sync calls) up to the request
 * timeout. On error r is freed. */
int coord__submit(struct coord_client *c, struct coord__req *r,
                  coord__encode_fn enc, const void *arg, bool block);
/* Set by sync.c around an async call: submission then waits for a free
 * slot instead of failing with COORD_EAGAIN. Per thread. */
extern _Thread_local bool coord__submit_blocks;
/* One round of the I/O loop (client.c): closing, timers, writes, then a
 * wait of at most max_wait_ms (-1: until the next timer) and what became
 * ready. false once the client has finished closing. */
bool coord__io_round(struct coord_client *c, int max_wait_ms);
/* After the last round: fail what is left (ECLOSED), report CLOSED. */
void coord__io_finish(struct coord_client *c);
/* Absolute coord__now_ms() time of the next timer, UINT64_MAX if none. */
uint64_t coord__io_next_wakeup(struct coord_client *c);

/* drive.c: external-loop mode. init creates the epoll and timer
 * descriptors (COORD_EIO); close runs the loop on the calling thread until
 * the client has closed; free releases the descriptors (any mode). */
int coord__drive_init(struct coord_client *c);
void coord__drive_close(struct coord_client *c);
void coord__drive_free(struct coord_client *c);

/* True on the client's I/O thread (in external-loop mode: the thread
 * inside coord_process()). */
bool coord__on_io_thread(struct coord_client *c);
/* Wakes the I/O thread. */
void coord__wake(struct coord_client *c);

/* ops.c: completes r with a reply (resp != NULL) or with err alone; runs
 * the callback. Called on the I/O thread without mu. Frees r. */
void coord__complete(struct coord_client *c, struct coord__req *r,
                     const struct wire_resp *resp, int err);
/* ops.c: delivers a watch event. I/O thread, without mu. COORD_ENOMEM:
 * nothing delivered (the caller drops the connection). */
int coord__deliver_event(struct coord_client *c, const struct wire_resp *ev);

/* ops.c: the server refused SET_WATCHES: every registration gets one
 * MUST_REREAD event (with its kind) and is dropped, persistent ones too,
 * since the server no longer holds them. I/O thread, without mu. */
void coord__watches_lost(struct coord_client *c, uint64_t zxid);

/* multi.c: the results of a MULTI reply, decoded into an array with
 * NUL-terminated paths; *out freed with coord_free() (paths inside it).
 * Returns the status for the callback. */
int coord__multi_results(const struct wire_resp *resp,
                         struct coord_op_result **out, size_t *n);

/* prefer_leader (admin.c): asks the connected server who leads, by a
 * STATUS request; the reply goes to coord__leader_seen(). 0 or an error
 * (nothing asked). I/O thread. */
int coord__ask_leader(struct coord_client *c);
/* prefer_leader (client.c): the connected server answered; here: it
 * leads; listed: the leader's client address is servers[idx]. */
void coord__leader_seen(struct coord_client *c, bool here, bool listed,
                        size_t idx);

/* A prefer_leader connection attempt. */
enum coord__move {
    COORD__MOVE_NONE = 0,  /* an ordinary (re)connect */
    COORD__MOVE_TO_LEADER, /* leaving a follower for the leader */
    COORD__MOVE_BACK,      /* the leader was unreachable: back again */
};
/* admin.c: a STATUS reply (or failure, m == NULL) to its callback. */
void coord__complete_status(struct coord__req *r, const struct wire_resp *m,
                            int err);

/* sync.c: a blocking call waits on one of these. */
struct coord__waiter {
    struct coord_client *c;
    pthread_cond_t cv;
    bool done;
    int status;
};
/* COORD_EBUSY on the I/O thread, COORD_ECLOSED once coord_close() has
 * begun; else initialises w and counts the thread as a user of c, which
 * coord__waiter_wait() (always called after a successful init) ends. */
int coord__waiter_init(struct coord__waiter *w, struct coord_client *c);
/* Submits through fn (an async call with w as data) with slot waiting;
 * then waits for w's completion. Returns the status. */
int coord__waiter_wait(struct coord__waiter *w, int submit_err);
/* From the callback: records status and wakes the waiter. w may be gone
 * once this returns. */
void coord__waiter_done(struct coord__waiter *w, int status);

/* A NUL-terminated copy of b into a coord_malloc'd string, or NULL. */
char *coord__strdup_bytes(struct wire_bytes b);

#endif /* COORD_CLIENT_INT_H */
