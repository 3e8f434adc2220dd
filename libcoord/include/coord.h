/* coord.h -- the public interface of libcoord, the coord client library.
 *
 * This is the only installed header. It declares the error codes (which also
 * travel on the wire and are therefore frozen), the client-visible limits, the
 * node stat and create modes, and the client API. It includes nothing but
 * <stdint.h>, <stddef.h> and <stdbool.h>.
 *
 * Conventions: every call returns 0 or a negative COORD_E* code; predicates
 * return bool; lookups return a pointer or NULL. Ownership of every pointer
 * argument is stated at its declaration: "borrowed" (valid until the call or
 * callback returns), "taken on success", or "caller frees with ...".
 */
#ifndef COORD_H
#define COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define COORD_API __attribute__((visibility("default")))
#else
#define COORD_API
#endif

/* ---- Error codes -------------------------------------------------------
 * One table: the enum, coord_strerror() and coord_errname() are generated
 * from it. The numbers travel on the wire: never renumber or reuse one; add
 * new codes at the end. */
#define COORD_ERR_MAP(X)                                                     \
    X(OK, 0, "success")                                                      \
    X(EPROTO, -1, "malformed or unexpected protocol message")                \
    X(EINVAL, -2, "invalid argument")                                        \
    X(ENOMEM, -3, "out of memory")                                           \
    X(EIO, -4, "I/O error")                                                  \
    X(ECORRUPT, -5, "stored data is corrupt")                                \
    X(ETOOBIG, -6, "size exceeds a limit")                                   \
    X(ETOOMANY, -7, "count exceeds a limit")                                 \
    X(EBADPATH, -8, "invalid path")                                          \
    X(ENONODE, -9, "node does not exist")                                    \
    X(ENODEEXISTS, -10, "node already exists")                               \
    X(EBADVERSION, -11, "version does not match")                            \
    X(ENOTEMPTY, -12, "node has children")                                   \
    X(ENOCHILDRENFOREPHEMERALS, -13, "ephemeral nodes cannot have children") \
    X(ETIMEDOUT, -14, "operation timed out; it may or may not have happened") \
    X(ECONNLOSS, -15, "connection lost; the request may or may not have "    \
                      "been applied")                                        \
    X(ESESSIONEXPIRED, -16, "session expired")                               \
    X(ENOTLEADER, -17, "this server is not the leader")                      \
    X(EUNAVAILABLE, -18, "no quorum: the cluster cannot serve this now")     \
    X(ECLOSED, -19, "handle or session closed")                              \
    X(EAGAIN, -20, "resource temporarily unavailable; retry")                \
    X(EBUSY, -21, "busy")                                                    \
    X(EAUTH, -22, "authentication failed (bad session id or secret)")        \
    X(ENOTSUP, -23, "operation not supported")                               \
    X(ECANCELED, -24, "operation canceled")                                  \
    X(EINTERNAL, -25, "internal error")                                      \
    X(EFENCED, -26, "fencing token is no longer the current holder's")       \
    X(EPROTOVERSION, -27, "unsupported protocol version")                    \
    X(ESKIPPED, -28, "not executed: an earlier operation of the multi "      \
                     "failed")                                               \
    X(ENOWATCH, -29, "no such watch")                                        \
    X(ESTALE, -30, "server is behind the session's last seen zxid")          \
    X(ENOTCONTAINER, -31, "operation valid only on container nodes")        \
    X(ENOTFOLLOWER, -32, "membership change refused: not a member")          \
    X(ENOSESSION, -33, "no such session")

enum coord_err {
#define COORD__ERR_ENUM(name, value, msg) COORD_##name = (value),
    COORD_ERR_MAP(COORD__ERR_ENUM)
#undef COORD__ERR_ENUM
};

/* A short human-readable message for a COORD_E* code (never NULL). */
COORD_API const char *coord_strerror(int err);
/* The symbolic name ("COORD_ENONODE") of a code, or "COORD_E?" if unknown. */
COORD_API const char *coord_errname(int err);

/* ---- Client-visible limits ---------------------------------------------
 * These are the defaults and the hard upper bounds. A server may be
 * configured lower; it advertises its values in the handshake so client and
 * server never disagree on sizes. */

/* A path is at most 4 KiB: longer names are a design smell, and the bound
 * keeps a multi of many paths inside one frame. */
#define COORD_PATH_BYTES_MAX 4096
/* Path depth bound: every component takes at least "/x" (2 bytes). */
#define COORD_PATH_DEPTH_MAX 256
/* Node data: ZooKeeper's jute.maxbuffer default is 1 MiB; we match it. */
#define COORD_DATA_BYTES_MAX (1024 * 1024)
/* Operations in one multi; the whole multi must also fit one frame. */
#define COORD_MULTI_OPS_MAX 1024
/* A frame holds the largest value plus the largest path plus headers with
 * room to spare; a multi's total size is bounded by it too. */
#define COORD_FRAME_BYTES_MAX (2 * 1024 * 1024)
/* Children returned per page of a children listing. */
#define COORD_CHILDREN_PAGE_MAX 100000
/* Session secret, from libsodium's randombytes_buf(). */
#define COORD_SECRET_BYTES 32
/* Protocol version spoken by this library (see docs/protocol.md). */
#define COORD_PROTOCOL_VERSION 1

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(COORD_FRAME_BYTES_MAX >=
                   COORD_DATA_BYTES_MAX + COORD_PATH_BYTES_MAX + 1024,
               "a frame must hold the largest value and path");
_Static_assert(COORD_PATH_DEPTH_MAX * 2 <= COORD_PATH_BYTES_MAX,
               "depth bound must be reachable within the path bound");
#endif

/* ---- Data model ----------------------------------------------------------
 * ZooKeeper-compatible semantics; see docs/protocol.md. */

/* Create modes. Flags combine: EPHEMERAL|SEQUENTIAL. CONTAINER and TTL
 * exclude EPHEMERAL; TTL requires a ttl_ms > 0. */
enum coord_create_mode {
    COORD_PERSISTENT = 0,
    COORD_EPHEMERAL = 1 << 0,
    COORD_SEQUENTIAL = 1 << 1,
    COORD_CONTAINER = 1 << 2,
    COORD_TTL = 1 << 3,
};

/* A node's metadata, evolving exactly as ZooKeeper's Stat does. zxids are
 * Raft log indexes; times are the leader's wall clock in ms since the epoch,
 * carried in the log entry. */
struct coord_stat {
    uint64_t czxid;           /* zxid of the create */
    uint64_t mzxid;           /* zxid of the last data change */
    uint64_t pzxid;           /* zxid of the last child-list change */
    int64_t ctime_ms;         /* create time */
    int64_t mtime_ms;         /* last data change time */
    int32_t version;          /* data changes */
    int32_t cversion;         /* child-list changes */
    int32_t aversion;         /* ACL changes (kept for compatibility) */
    uint64_t ephemeral_owner; /* owning session id, 0 if not ephemeral */
    uint32_t data_length;
    uint32_t num_children;
};

/* Watch event types, carried in watch events on the wire. */
enum coord_event_type {
    COORD_EVENT_CREATED = 1,
    COORD_EVENT_DELETED = 2,
    COORD_EVENT_DATA_CHANGED = 3,
    COORD_EVENT_CHILDREN_CHANGED = 4,
    /* The server could not replay missed events after a reconnect: the
     * application must re-read what it watches. Never silently dropped. */
    COORD_EVENT_MUST_REREAD = 5,
};

/* Watch kinds registered with reads or with an explicit add-watch. */
enum coord_watch_kind {
    COORD_WATCH_NONE = 0,
    COORD_WATCH_DATA = 1,      /* one-shot: get / exists on an existing node */
    COORD_WATCH_EXISTS = 2,    /* one-shot: exists on a missing node */
    COORD_WATCH_CHILDREN = 3,  /* one-shot: children */
    COORD_WATCH_PERSISTENT = 4,           /* data+exists+children, stays */
    COORD_WATCH_PERSISTENT_RECURSIVE = 5, /* whole subtree, stays */
};


/* ==== Client API ==========================================================
 * A client holds one session with a coord cluster over one TCP connection
 * at a time (docs/client.md).
 *
 * Threading. coord_open() starts one internal I/O thread per client; the
 * application needs no event loop. Every call may be made from any thread.
 * Async calls (coord_a*) return at once; their callback runs exactly once,
 * on the I/O thread, unless the call itself returned an error (then it
 * never runs). Callbacks must not block for long (they stall the
 * connection) and must not call sync calls or coord_close(): those return
 * COORD_EBUSY on the I/O thread. Sync calls block the calling thread until
 * the reply, at most the request timeout (then COORD_ETIMEDOUT).
 *
 * Ordering. Requests complete in the order they were submitted (one
 * session's requests are served in order). Watch events and replies are
 * delivered in the order the server sent them, so a watch event comes
 * before the reply of any later read that reflects its change.
 *
 * Ownership. Pointer arguments are borrowed for the call: paths and data
 * are copied (encoded) before the call returns. Everything a callback
 * receives is borrowed until the callback returns; copy it to keep it.
 * Memory that a sync call returns is freed by the caller with the free
 * function named at that call.
 *
 * Outcomes. COORD_ECONNLOSS: the request was written to a connection that
 * dropped before its reply; it may or may not have been applied (a write
 * is deduplicated by (session, xid) only if it is retried within the same
 * request, which the library never does: re-read to learn the outcome).
 * COORD_ETIMEDOUT: no reply within the request timeout; same uncertainty.
 * COORD_ESESSIONEXPIRED: the session is gone; the client is unusable and
 * must be closed. COORD_ECLOSED: coord_close() was called. */

struct coord_client;

/* In-flight requests per client (submitted and not yet completed). The
 * async calls return COORD_EAGAIN past it; the sync calls block until a
 * slot frees or the request timeout passes (COORD_ETIMEDOUT). 1024 keeps a
 * pipeline deep enough for a fast link while bounding client memory. */
#define COORD_INFLIGHT_MAX 1024
/* Servers in a client's server list. */
#define COORD_SERVERS_MAX 64
/* Watch registrations per client (one per path, kind and callback). */
#define COORD_CLIENT_WATCHES_MAX 65536
/* Default port when a server list entry has none (DESIGN.md). */
#define COORD_CLIENT_PORT_DEFAULT 2281

/* Session states reported to the state callback. */
enum coord_state {
    COORD_STATE_CONNECTING = 0,   /* no session yet; never reported */
    COORD_STATE_CONNECTED = 1,    /* session established (new or resumed) */
    COORD_STATE_DISCONNECTED = 2, /* connection lost; the session may still
                                     be alive: jeopardy */
    COORD_STATE_RECONNECTED = 3,  /* same session on a new connection */
    COORD_STATE_EXPIRED = 4,      /* the cluster ended the session: final */
    COORD_STATE_CLOSED = 5,       /* coord_close(): final */
};

/* Runs on the I/O thread at every state change. */
typedef void (*coord_state_cb)(void *data, int state);

struct coord_options {
    /* "host:port,host:port", a host being a name, an IPv4 address or an
     * [IPv6] address; the port defaults to COORD_CLIENT_PORT_DEFAULT.
     * Borrowed for coord_open(). */
    const char *servers;
    uint32_t session_timeout_ms; /* requested; the server bounds it */
    /* TCP connect + handshake, per server; half of it per server until a
     * whole round over several servers has failed (docs/client.md). */
    uint32_t connect_timeout_ms;
    uint32_t request_timeout_ms; /* bound on every call's wait */
    uint32_t ping_interval_ms;   /* ping after this much send silence */
    /* A server silent this long is treated as dead (a hung server keeps
     * its TCP connection open): the client moves to the next server while
     * its session stays alive on the cluster. */
    uint32_t silent_timeout_ms;
    uint32_t backoff_initial_ms; /* first reconnect delay after a failure */
    uint32_t backoff_max_ms;     /* reconnect delay cap */
    coord_state_cb state_cb;     /* optional */
    void *state_data;
    /* Resume an existing session (e.g. after a process restart): id and
     * secret from coord_session(); 0 / NULL for a new session. */
    uint64_t resume_session_id;
    const uint8_t *resume_secret; /* COORD_SECRET_BYTES, borrowed */
    bool read_only;               /* ask for a read-only session */
    /* No I/O thread: the application drives the client with coord_fd()
     * and coord_process() from its own loop (see below). */
    bool external_loop;
    /* Keep the session on the leader: after each handshake with a
     * follower, ask it for the leader's client address and, if that
     * address is one of `servers` (same host text and port), move the
     * session there once no request is in flight (requests submitted
     * meanwhile wait; no state change is reported for the move). Writes
     * then skip the follower's forwarding hop (docs/client.md). Off by
     * default: sessions spread over the members. */
    bool prefer_leader;
    /* prefer_leader: ask again this often who leads -- on a follower
     * (the leader unknown, not in `servers`, or just unreachable) and on
     * the leader (leadership may move while it stays up). */
    uint32_t leader_recheck_ms;
};

/* Defaults: session 10000 ms, connect 1000 ms, request 10000 ms, ping
 * 300 ms, silent 1000 ms, backoff 50..2000 ms, servers "127.0.0.1:2281",
 * prefer_leader off, leader recheck 1000 ms. */
COORD_API void coord_options_init(struct coord_options *opts);

/* Validates opts, starts the I/O thread and begins connecting; returns
 * before the session exists (requests submitted meanwhile wait for it).
 * On success *out is the client; close it with coord_close().
 * COORD_EINVAL for a bad server list or option; COORD_ENOMEM; COORD_EIO
 * when the thread or wakeup descriptor cannot be created. */
COORD_API int coord_open(struct coord_client **out,
                         const struct coord_options *opts);

/* Ends the session (a CLOSE request, waited for at most the request
 * timeout), fails every pending request with COORD_ECLOSED, reports
 * COORD_STATE_CLOSED, stops the thread and frees the client. Threads
 * blocked in sync calls on c return COORD_ECLOSED, and coord_close()
 * waits for them to leave; no call on c may begin once coord_close() has
 * begun. Returns 0, or COORD_EBUSY when called on the I/O thread (nothing
 * is done). */
COORD_API int coord_close(struct coord_client *c);

/* The current enum coord_state. */
COORD_API int coord_state(struct coord_client *c);
/* Session id and secret (secret may be NULL); COORD_EAGAIN before the
 * first handshake. */
COORD_API int coord_session(struct coord_client *c, uint64_t *session_id,
                            uint8_t *secret);
/* The session timeout the server granted (it bounds the one asked for:
 * session_timeout_ms_min/max) into *timeout_ms, and how long ago, in ms
 * of this process's monotonic clock, a server last answered this client
 * (a reply to a request, PING or HELLO; watch events do not count) into
 * *heard_ago_ms. Either pointer may be NULL. The cluster expires the
 * session a timeout after it last heard from the client, which was no
 * later than that answer arrived, give or take a round trip: code that
 * must stop before the session can expire counts from here. COORD_EAGAIN
 * before the first handshake. */
COORD_API int coord_session_timing(struct coord_client *c,
                                   uint32_t *timeout_ms,
                                   uint64_t *heard_ago_ms);
/* The largest zxid seen in any reply or event (0 before any). */
COORD_API uint64_t coord_last_zxid(struct coord_client *c);
/* Frees memory returned by a sync call. NULL is fine. */
COORD_API void coord_free_mem(void *p);
/* size zeroed bytes from libcoord's allocator, freed with coord_free_mem()
 * (for code built on coord.h alone, such as the recipes); NULL when out of
 * memory or size is 0. */
COORD_API void *coord_alloc_mem(size_t size);

/* State listeners: any number of parties (recipes, the application) may
 * follow the session state besides opts.state_cb, which stays as it is.
 * A listener runs on the I/O thread at every state change, after
 * opts.state_cb, under the same rules as a callback (no sync calls; async
 * calls are fine). At most COORD_STATE_LISTENERS_MAX per client. */
#define COORD_STATE_LISTENERS_MAX 256
/* Adds cb; *id (not 0) names it for removal. COORD_ETOOMANY past the
 * maximum, COORD_EINVAL for a NULL c, cb or id. */
COORD_API int coord_add_state_listener(struct coord_client *c,
                                       coord_state_cb cb, void *data,
                                       uint64_t *id);
/* Removes a listener. Once it returns, cb is not running and will not run
 * again, so data may be freed; it waits for a running listener, so do not
 * call it while holding a lock the listener takes (on the I/O thread it
 * does not wait). COORD_EINVAL for an unknown id. */
COORD_API int coord_remove_state_listener(struct coord_client *c,
                                          uint64_t id);

/* External-loop mode (opts.external_loop): no I/O thread is started. The
 * descriptor from coord_fd() becomes readable whenever the client has
 * work (socket, submissions from other threads, timers); the application
 * then calls coord_process(), which does that work without blocking and
 * runs the callbacks on the calling thread (which then counts as the I/O
 * thread: sync calls there return COORD_EBUSY). Call coord_process() from
 * one thread at a time; nothing progresses (not even timeouts) unless it
 * is called. coord_close() runs the loop itself until closed; do not call
 * coord_process() concurrently with it. Both return COORD_EINVAL in the
 * default (thread) mode; coord_process() returns COORD_EBUSY from inside
 * a callback and COORD_ECLOSED once coord_close() has begun. */
COORD_API int coord_fd(struct coord_client *c);
COORD_API int coord_process(struct coord_client *c);

/* ---- Watches ------------------------------------------------------------ */

struct coord_event {
    int type;         /* enum coord_event_type */
    int kind;         /* enum coord_watch_kind of the watch that fired */
    const char *path; /* NUL-terminated; the changed node (the parent
                         for CHILDREN_CHANGED; for MUST_REREAD the
                         watched path whose events were lost) */
    uint64_t zxid;    /* of the change */
};

/* Runs on the I/O thread; ev is borrowed until it returns. */
typedef void (*coord_watch_cb)(void *data, const struct coord_event *ev);

/* A watch to register with a read: copied at submission. */
struct coord_watcher {
    coord_watch_cb cb;
    void *data;
};

/* Read flags. Reads are linearizable unless COORD_READ_LOCAL asks for the
 * connected server's own (possibly stale, never older than this session
 * has seen) view. COORD_READ_STATS: children entries carry stats. */
#define COORD_READ_LOCAL (1u << 1)
#define COORD_READ_STATS (1u << 2)

/* ---- Callbacks ---------------------------------------------------------- */

/* DELETE, CHECK, SYNC, ADD/REMOVE_WATCH. */
typedef void (*coord_void_cb)(void *data, int status);
/* EXISTS, SET: stat is NULL unless status == 0. */
typedef void (*coord_stat_cb)(void *data, int status,
                              const struct coord_stat *stat);
/* CREATE: path is the created node's (with a sequence suffix). */
typedef void (*coord_create_cb)(void *data, int status, const char *path,
                                const struct coord_stat *stat);
/* GET: value is not NUL-terminated. */
typedef void (*coord_data_cb)(void *data, int status, const void *value,
                              size_t len, const struct coord_stat *stat);

struct coord_child {
    const char *name;       /* NUL-terminated, relative to the parent */
    struct coord_stat stat; /* zero unless the page has stats */
};

struct coord_children_page {
    size_t n;
    const struct coord_child *entries; /* in name order */
    bool more;       /* more children after the last entry */
    bool with_stats;
};
typedef void (*coord_children_cb)(void *data, int status,
                                  const struct coord_children_page *page);

/* ---- Async operations --------------------------------------------------
 * Each returns 0 (the callback will run) or an error (it will not):
 * COORD_EINVAL (bad argument), COORD_ETOOBIG / COORD_ETOOMANY (over a
 * limit), COORD_EAGAIN (COORD_INFLIGHT_MAX reached), COORD_ECLOSED,
 * COORD_ESESSIONEXPIRED, COORD_ENOMEM. version -1 means any version. */

COORD_API int coord_acreate(struct coord_client *c, const char *path,
                            const void *value, size_t len, int mode,
                            uint64_t ttl_ms, coord_create_cb cb,
                            void *data);
COORD_API int coord_adelete(struct coord_client *c, const char *path,
                            int32_t version, coord_void_cb cb, void *data);
/* A missing node is status COORD_ENONODE; a watcher then waits for its
 * creation (COORD_WATCH_EXISTS), else for a change (COORD_WATCH_DATA). */
COORD_API int coord_aexists(struct coord_client *c, const char *path,
                            unsigned flags, const struct coord_watcher *w,
                            coord_stat_cb cb, void *data);
COORD_API int coord_aget(struct coord_client *c, const char *path,
                         unsigned flags, const struct coord_watcher *w,
                         coord_data_cb cb, void *data);
COORD_API int coord_aset(struct coord_client *c, const char *path,
                         const void *value, size_t len, int32_t version,
                         coord_stat_cb cb, void *data);
/* One page of children after start_after (NULL or "" = from the first),
 * at most max_count (0 = the server's page maximum). */
COORD_API int coord_achildren(struct coord_client *c, const char *path,
                              unsigned flags, const char *start_after,
                              uint32_t max_count,
                              const struct coord_watcher *w,
                              coord_children_cb cb, void *data);
COORD_API int coord_acheck(struct coord_client *c, const char *path,
                           int32_t version, coord_void_cb cb, void *data);
/* Completes once the connected server has caught up with the leader as
 * of the call, so a following local read sees every earlier write. */
COORD_API int coord_async(struct coord_client *c, const char *path,
                          coord_void_cb cb, void *data);
/* kind: COORD_WATCH_PERSISTENT or COORD_WATCH_PERSISTENT_RECURSIVE. The
 * watch stays until removed; re-registered on every reconnect. */
COORD_API int coord_aadd_watch(struct coord_client *c, const char *path,
                               int kind, const struct coord_watcher *w,
                               coord_void_cb cb, void *data);
/* Removes every watch of this kind on path (all callbacks). */
COORD_API int coord_aremove_watch(struct coord_client *c, const char *path,
                                  int kind, coord_void_cb cb, void *data);

/* ---- Multi: all-or-nothing batch ----------------------------------------
 * Build with coord_multi_new() and the coord_multi_* adders (paths and data
 * are copied), submit with coord_amulti()/coord_multi(), free with
 * coord_multi_free(). A builder is not thread-safe; it may be submitted
 * any number of times. */
struct coord_multi;

struct coord_op_result {
    int op;           /* 10 create, 11 delete, 14 set, 16 check */
    int err;          /* 0, the op's error, or COORD_ESKIPPED */
    const char *path; /* created path (create), else NULL */
    struct coord_stat stat; /* create and set */
};
/* status: 0 if every op succeeded, else the failed op's error (the other
 * ops carry COORD_ESKIPPED), or the whole request's error (then n == 0). */
typedef void (*coord_multi_cb)(void *data, int status, size_t n,
                               const struct coord_op_result *results);

COORD_API int coord_multi_new(struct coord_multi **out);
COORD_API void coord_multi_free(struct coord_multi *m);
COORD_API int coord_multi_create(struct coord_multi *m, const char *path,
                                 const void *value, size_t len, int mode,
                                 uint64_t ttl_ms);
COORD_API int coord_multi_delete(struct coord_multi *m, const char *path,
                                 int32_t version);
COORD_API int coord_multi_set(struct coord_multi *m, const char *path,
                              const void *value, size_t len,
                              int32_t version);
COORD_API int coord_multi_check(struct coord_multi *m, const char *path,
                                int32_t version);
/* Ops added so far. */
COORD_API size_t coord_multi_count(const struct coord_multi *m);
/* m is borrowed for the call (encoded before return). */
COORD_API int coord_amulti(struct coord_client *c,
                           const struct coord_multi *m, coord_multi_cb cb,
                           void *data);

/* ---- Sync operations ----------------------------------------------------
 * Block until done (at most the request timeout). Return the operation's
 * status; output pointers may be NULL when not wanted. COORD_EBUSY when
 * called on the I/O thread. */

/* *path_out: caller frees with coord_free_mem(). */
COORD_API int coord_create(struct coord_client *c, const char *path,
                           const void *value, size_t len, int mode,
                           uint64_t ttl_ms, char **path_out,
                           struct coord_stat *stat);
COORD_API int coord_delete(struct coord_client *c, const char *path,
                           int32_t version);
COORD_API int coord_exists(struct coord_client *c, const char *path,
                           unsigned flags, const struct coord_watcher *w,
                           struct coord_stat *stat);
/* *value: len bytes plus a NUL; caller frees with coord_free_mem(). */
COORD_API int coord_get(struct coord_client *c, const char *path,
                        unsigned flags, const struct coord_watcher *w,
                        void **value, size_t *len, struct coord_stat *stat);
COORD_API int coord_set(struct coord_client *c, const char *path,
                        const void *value, size_t len, int32_t version,
                        struct coord_stat *stat);

/* A list of children; caller frees with coord_child_list_free(). */
struct coord_child_list {
    size_t n;
    char **names;             /* n NUL-terminated names */
    struct coord_stat *stats; /* n stats with COORD_READ_STATS, else NULL */
    bool more;                /* one page only: more after the last name */
};
COORD_API void coord_child_list_free(struct coord_child_list *l);
/* One page (see coord_achildren). */
COORD_API int coord_children(struct coord_client *c, const char *path,
                             unsigned flags, const char *start_after,
                             uint32_t max_count,
                             const struct coord_watcher *w,
                             struct coord_child_list *out);
/* Every page, appended into *out (the watch is set with the first page).
 * Pages are separate reads: a listing that changes between pages may show
 * a mix; the watch reports such a change. */
COORD_API int coord_children_all(struct coord_client *c, const char *path,
                                 unsigned flags,
                                 const struct coord_watcher *w,
                                 struct coord_child_list *out);
COORD_API int coord_check(struct coord_client *c, const char *path,
                          int32_t version);
/* Results stay in m until the next submission or coord_multi_free(). */
COORD_API int coord_multi(struct coord_client *c, struct coord_multi *m);
/* The i-th result of the last coord_multi(), or NULL. */
COORD_API const struct coord_op_result *
coord_multi_result(const struct coord_multi *m, size_t i);
COORD_API int coord_sync(struct coord_client *c, const char *path);
COORD_API int coord_add_watch(struct coord_client *c, const char *path,
                              int kind, const struct coord_watcher *w);
COORD_API int coord_remove_watch(struct coord_client *c, const char *path,
                                 int kind);

/* ---- Admin operations ---------------------------------------------------
 * STATUS is answered by the connected server itself. Membership changes
 * and leadership transfer are carried out only by the leader: another
 * server answers COORD_ENOTLEADER (connect to the leader STATUS names).
 * A MEMBER_* call succeeds once its configuration entry is applied;
 * COORD_EBUSY while another change is pending, COORD_EINVAL for an id
 * that is (or is not) a member. LEADER_TRANSFER succeeds once started. */
#define COORD_STATUS_MEMBERS_MAX 16
#define COORD_ADDR_BYTES_MAX 128 /* "host:port" plus NUL */

enum coord_role { /* coord_status.role */
    COORD_ROLE_FOLLOWER = 1,
    COORD_ROLE_PRECANDIDATE = 2,
    COORD_ROLE_CANDIDATE = 3,
    COORD_ROLE_LEADER = 4,
};

struct coord_member_status {
    uint64_t id;
    int voter;                       /* 1 voter, 0 learner */
    char addr[COORD_ADDR_BYTES_MAX]; /* client address, "" if unknown */
    uint64_t match;                  /* leader's view; 0 elsewhere */
    uint64_t lag;                    /* leader's last index - match */
};

struct coord_status {
    uint64_t server_id;
    int role; /* enum coord_role */
    uint64_t term;
    uint64_t leader_id; /* 0: none known */
    uint64_t commit;
    uint64_t applied;
    uint64_t last_index;
    uint64_t snap_index;
    uint64_t sessions;
    uint64_t watches;
    uint64_t connections;
    uint64_t digest_mismatches;
    size_t n_members;
    struct coord_member_status members[COORD_STATUS_MEMBERS_MAX];
};

typedef void (*coord_status_cb)(void *data, int status,
                                const struct coord_status *st);

/* ---- Sessions and snapshots (admin) --------------------------------------
 * coord_admin_sessions lists every open session of the cluster, as the
 * connected server's state holds them (it may lag the leader by the
 * replication delay), in id order, fetching pages of 1000. server_id is
 * the connected server's id for sessions connected to that server, else 0
 * (ask each member to learn the others'). Free with
 * coord_session_list_free(). */
struct coord_session_info {
    uint64_t id;
    uint32_t timeout_ms;
    uint32_t ephemerals; /* ephemeral nodes the session owns */
    uint64_t server_id;  /* connected here: this server's id; else 0 */
};
struct coord_session_list {
    size_t n;
    struct coord_session_info *sessions;
    uint64_t server_id; /* the server that answered */
};
COORD_API int coord_admin_sessions(struct coord_client *c,
                                   struct coord_session_list *out);
COORD_API void coord_session_list_free(struct coord_session_list *l);

/* coord_admin_snapshot_save asks the connected server for its newest
 * snapshot (a consistent copy as of one zxid; the server takes one first,
 * its loop pausing for it, if its newest is older than what it applied)
 * and streams it in chunks into fd as a snapshot file (docs/operations.md
 * "Backup and restore"), verifying the checksum. *info (may be NULL) gets
 * the zxid and size. COORD_EBUSY while another export is being fetched
 * from that server, or when it would need a new snapshot less than 10 s
 * after the last one an export took (retry later); COORD_EAGAIN when the
 * server dropped
 * this one mid-way (another server answered, or it sat unread for 30 s:
 * retry); COORD_ECORRUPT
 * when the checksum does not match; COORD_EIO when fd cannot be written
 * (errno kept). Restoring is coordd's job (coordd --restore-snapshot). */
struct coord_snapshot_info {
    uint64_t index;     /* the zxid the snapshot reflects */
    uint64_t bytes;     /* tree snapshot bytes (the file adds a header) */
    uint64_t server_id; /* the server that produced it */
};
COORD_API int coord_admin_snapshot_save(struct coord_client *c, int fd,
                                        struct coord_snapshot_info *info);

/* coord_admin_stats: the connected server's counters since it started
 * (the figures of its metrics endpoint that coordctl status shows).
 * COORD_ENOTSUP from a server that predates the call. p99s are the upper
 * bound of the histogram bucket holding the 99th percentile, 0 if empty. */
struct coord_server_stats {
    uint64_t requests;     /* replies sent */
    uint64_t writes;       /* replies to writes (create, set, ...) */
    uint64_t reads;        /* replies to reads (get, exists, ...) */
    uint64_t errors;       /* replies carrying an error */
    uint64_t fsyncs;       /* synced write batches (group commits) */
    uint64_t fsync_p99_us;
    uint64_t write_p99_us; /* request arrival to reply, writes */
    uint64_t leader_changes;
};
COORD_API int coord_admin_stats(struct coord_client *c,
                                struct coord_server_stats *out);
COORD_API int coord_astatus(struct coord_client *c, coord_status_cb cb,
                            void *data);
COORD_API int coord_amember_add(struct coord_client *c, uint64_t id,
                                const char *client_addr,
                                const char *peer_addr, coord_void_cb cb,
                                void *data);
COORD_API int coord_amember_promote(struct coord_client *c, uint64_t id,
                                    coord_void_cb cb, void *data);
COORD_API int coord_amember_remove(struct coord_client *c, uint64_t id,
                                   coord_void_cb cb, void *data);
/* to = 0: the most up-to-date voter. */
COORD_API int coord_aleader_transfer(struct coord_client *c, uint64_t to,
                                     coord_void_cb cb, void *data);
COORD_API int coord_status(struct coord_client *c, struct coord_status *out);
COORD_API int coord_member_add(struct coord_client *c, uint64_t id,
                               const char *client_addr,
                               const char *peer_addr);
COORD_API int coord_member_promote(struct coord_client *c, uint64_t id);
COORD_API int coord_member_remove(struct coord_client *c, uint64_t id);
COORD_API int coord_leader_transfer(struct coord_client *c, uint64_t to);
/* ==== End of Client API ================================================ */

#ifdef __cplusplus
}
#endif
#endif /* COORD_H */
