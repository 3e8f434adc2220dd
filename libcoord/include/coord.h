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

#ifdef __cplusplus
}
#endif
#endif /* COORD_H */
