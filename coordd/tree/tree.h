/* tree.h -- the namespace state machine that Raft replicates: nodes, stats,
 * the replicated session table, and the commands that change them.
 *
 * node.c applies committed log entries in index order with tree_apply();
 * reads (get, exists, children) are served from the same tree. The tree
 * knows commands, nodes and sessions and nothing else: it never touches a
 * socket, a clock, a random source or a file, so replicas applying the same
 * commands hold the same state and the same digest. Commands travel as bytes
 * encoded by tree_cmd_encode() (cmd.c, msgpack). docs/tree.md describes the
 * data structures, the command format and the digest.
 */
#ifndef COORDD_TREE_H
#define COORDD_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord.h"
#include "coordd/limits.h"

/* ---- Limits ------------------------------------------------------------ */
/* Results of the last TREE_DEDUP_WINDOW requests of a session are kept so a
 * retried request (same session, same xid) returns its first result instead
 * of applying twice. It covers a client's retries after a reconnect; older
 * xids get COORD_EPROTO (see tree_apply). Fixed: replicas must agree. */
#define TREE_DEDUP_WINDOW 16
/* Session ids in one expire command and paths in one cleanup command. */
#define TREE_IDS_MAX 1024
/* Logical cost of a node in the byte budget, on top of path and data: a
 * fixed number, not the allocator's, so every replica counts the same. */
#define TREE_NODE_COST_BYTES 192
/* Default byte budget of the whole tree (paths + data + node costs). */
#define TREE_BYTES_MAX_DEFAULT (16ULL * 1024 * 1024 * 1024)
/* Snapshot bytes handed to the writer callback at a time. */
#define TREE_SNAPSHOT_CHUNK_BYTES (64 * 1024)
/* TTL bound (ZooKeeper's max TTL is 2^40 ms, about 34 years). */
#define TREE_TTL_MS_MAX (1LL << 40)

/* Limits every replica must share (they decide whether a command fails).
 * A zero field takes the default. */
struct tree_config {
    uint64_t bytes_max;     /* TREE_BYTES_MAX_DEFAULT */
    uint32_t nodes_max;     /* COORDD_NODES_MAX */
    uint32_t children_max;  /* COORDD_CHILDREN_MAX */
    uint32_t data_bytes_max; /* COORD_DATA_BYTES_MAX */
    uint32_t sessions_max;  /* COORDD_SESSIONS_MAX */
};

/* ---- Commands ---------------------------------------------------------- */
enum tree_cmd_type {
    TREE_CMD_NOOP = 0,
    TREE_CMD_CREATE = 1,
    TREE_CMD_DELETE = 2,
    TREE_CMD_SET = 3,
    TREE_CMD_CHECK = 4,
    TREE_CMD_MULTI = 5,
    TREE_CMD_SESSION_OPEN = 6,
    TREE_CMD_SESSION_CLOSE = 7,
    TREE_CMD_SESSION_EXPIRE = 8,
    TREE_CMD_CLEANUP = 9,
};
#define TREE_CMD_TYPE_MAX TREE_CMD_CLEANUP

/* One namespace operation. Pointers are borrowed for the call. */
struct tree_op {
    uint8_t type;      /* TREE_CMD_CREATE, DELETE, SET or CHECK */
    uint32_t mode;     /* create: enum coord_create_mode flags */
    int32_t version;   /* delete, set, check: expected version, -1 = any */
    int64_t ttl_ms;    /* create with COORD_TTL: > 0; otherwise 0 */
    const char *path;  /* not NUL-terminated; path_len bytes */
    uint32_t path_len;
    const void *data;  /* create, set */
    uint32_t data_len;
};

/* One log entry's command. Every field is chosen by the proposer (the
 * leader): time_ms is its wall clock, session ids and secrets are drawn by
 * it, never inside apply. Pointers are borrowed for the call. */
struct tree_cmd {
    uint8_t type;          /* enum tree_cmd_type */
    int64_t time_ms;       /* leader wall clock, ms since the epoch */
    uint64_t session_id;   /* requesting session; the new one for OPEN;
                            * 0 for NOOP, SESSION_EXPIRE and CLEANUP */
    uint64_t xid;          /* request id, increasing within a session */
    struct tree_op op;     /* CREATE, DELETE, SET, CHECK (op.type ==
                            * type, else COORD_EINVAL) */
    const struct tree_op *ops; /* MULTI: the ops; CLEANUP: paths in */
    uint32_t n_ops;            /* ops[i].path (other fields ignored) */
    uint32_t timeout_ms;   /* SESSION_OPEN */
    uint8_t secret[COORD_SECRET_BYTES]; /* SESSION_OPEN */
    const uint64_t *ids;   /* SESSION_EXPIRE: sessions to expire */
    uint32_t n_ids;
};

/* ---- Results and events ------------------------------------------------ */
struct tree_op_result {
    int err;                /* 0, the failing op's error, or ESKIPPED */
    struct coord_stat stat; /* create, set, check: the node's new stat */
    const char *path;       /* create: the created path (sequential name) */
    uint32_t path_len;
};

/* The result of one apply. Borrowed: valid until the next tree_apply() or
 * tree_close(). For single ops n_ops is 1; for MULTI one entry per op; for
 * session and system commands 0. */
struct tree_result {
    int err;       /* overall: 0 or the (first) failing op's error */
    uint64_t zxid; /* the zxid that produced it (older if cached) */
    bool cached;   /* a duplicate (session, xid), or a repeated
                    * SESSION_OPEN: nothing was applied */
    uint32_t n_ops;
    const struct tree_op_result *ops;
};

/* A watch event triggered by an apply: the tree does not know who watches. */
struct tree_event {
    uint8_t type;      /* enum coord_event_type: CREATED .. CHILDREN_CHANGED */
    uint64_t zxid;
    const char *path;  /* borrowed until the callback returns */
    uint32_t path_len;
};
/* Called once per event, in order, after the apply has committed. */
typedef void (*tree_event_cb)(void *data, const struct tree_event *ev);

struct tree;

/* Creates an empty tree holding only "/" (stat all zero). cfg may be NULL
 * for the defaults. Returns 0 or COORD_ENOMEM. Caller frees with
 * tree_close(). */
int tree_open(struct tree **out, const struct tree_config *cfg);
void tree_close(struct tree *t);

/* Applies one committed command at log index zxid (> the last applied
 * index). Deterministic: depends only on the tree and the arguments.
 * Fills *out (borrowed, see struct tree_result) and calls cb for every
 * watch event (cb may be NULL). Returns out->err. Errors:
 *  COORD_ESESSIONEXPIRED  the session is unknown or closed
 *  COORD_EPROTO           xid at or below the session's last xid and no
 *                         longer in its TREE_DEDUP_WINDOW
 *  COORD_EBADPATH, ENONODE, ENODEEXISTS, EBADVERSION, ENOTEMPTY,
 *  ENOCHILDRENFOREPHEMERALS, ETOOBIG, ETOOMANY, EINVAL  ZooKeeper's.
 * A failing MULTI leaves the tree (stats, digest) untouched. Allocation
 * failure panics: a replica that skips a committed command diverges. */
int tree_apply(struct tree *t, uint64_t zxid, const struct tree_cmd *cmd,
               tree_event_cb cb, void *data, const struct tree_result **out);

/* ---- Reads ------------------------------------------------------------- */
/* Node data and stat. *data is borrowed until the next tree_apply(). */
int tree_get(const struct tree *t, const char *path, size_t path_len,
             const void **data, struct coord_stat *stat);
/* stat may be NULL. COORD_ENONODE if missing, COORD_EBADPATH. */
int tree_exists(const struct tree *t, const char *path, size_t path_len,
                struct coord_stat *stat);

/* Called per child in byte order; name and stat borrowed. stat is NULL
 * unless stats were asked for. */
typedef void (*tree_child_cb)(void *data, const char *name, size_t name_len,
                              const struct coord_stat *stat);
/* Lists at most max (capped at COORD_CHILDREN_PAGE_MAX) children of path
 * whose names sort after start_after (NULL or empty: from the first).
 * *more tells whether more follow. Cost is O(log n + returned). */
int tree_children(const struct tree *t, const char *path, size_t path_len,
                  const char *start_after, size_t start_after_len,
                  uint32_t max, bool with_stat, tree_child_cb cb, void *data,
                  bool *more);

/* ---- Introspection ----------------------------------------------------- */
uint64_t tree_digest(const struct tree *t);       /* nodes + sessions */
uint64_t tree_applied_index(const struct tree *t); /* last zxid applied */
uint64_t tree_node_count(const struct tree *t);   /* including "/" */
uint64_t tree_bytes_used(const struct tree *t);   /* the byte budget used */
/* Session lookups: 0 or COORD_ENOSESSION. Any out pointer may be NULL. */
int tree_session_get(const struct tree *t, uint64_t id, uint32_t *timeout_ms,
                     uint32_t *ephemerals, uint64_t *last_xid);
bool tree_session_secret_ok(const struct tree *t, uint64_t id,
                            const uint8_t secret[COORD_SECRET_BYTES]);
uint32_t tree_session_count(const struct tree *t);
/* Calls cb for each open session id (unspecified order). */
void tree_sessions_each(const struct tree *t,
                        void (*cb)(void *data, uint64_t id), void *data);

/* Containers and TTL nodes eligible for deletion at now_ms (a container
 * that had children and has none; a TTL node childless and unchanged for
 * longer than its TTL). Calls cb per path, at most max of them; returns the
 * count. The leader proposes them as a TREE_CMD_CLEANUP, which deletes each
 * path only if still eligible at the command's time_ms. */
uint32_t tree_cleanup_candidates(const struct tree *t, int64_t now_ms,
                                 uint32_t max,
                                 void (*cb)(void *data, const char *path,
                                            size_t path_len),
                                 void *data);

/* ---- Snapshots --------------------------------------------------------- */
/* Receives snapshot bytes, at most TREE_SNAPSHOT_CHUNK_BYTES a call (the
 * bytes are borrowed). Returns 0 or a negative code that aborts the
 * snapshot. */
typedef int (*tree_write_cb)(void *data, const void *bytes, size_t len);
/* Supplies up to cap bytes into buf; returns the count, 0 at the end, or a
 * negative code. */
typedef long (*tree_read_cb)(void *data, void *buf, size_t cap);

/* Serializes nodes, sessions and the applied index. Returns 0 or the
 * writer's error. */
int tree_snapshot_write(const struct tree *t, tree_write_cb cb, void *data);
/* The same pass in two steps, for a forked child (docs/snapshots.md):
 * tree_snapshot_prepare makes every allocation and sort the pass needs
 * (0 or COORD_ENOMEM; caller frees *out with tree_snapshot_pass_free);
 * tree_snapshot_pass_write then writes exactly tree_snapshot_write's bytes
 * without allocating, sorting or locking (async-signal-safe apart from
 * cb), so it may run in the child of fork() in a multi-threaded process.
 * t must not change between the two calls (a child's copy never does).
 * Returns 0 or the writer's error; a pass may be written more than once. */
struct tree_snapshot_pass;
int tree_snapshot_prepare(const struct tree *t,
                          struct tree_snapshot_pass **out);
int tree_snapshot_pass_write(struct tree_snapshot_pass *p, tree_write_cb cb,
                             void *data);
void tree_snapshot_pass_free(struct tree_snapshot_pass *p);
/* Builds a new tree from a snapshot stream, validating every byte:
 * COORD_ECORRUPT on bad input (nothing to close then), or the reader's
 * error. cfg as for tree_open. Caller frees *out with tree_close(). */
int tree_snapshot_load(struct tree **out, const struct tree_config *cfg,
                       tree_read_cb cb, void *data);

/* ---- Path helpers (path.c) --------------------------------------------- */
/* 0 or COORD_EBADPATH: absolute, no empty, "." or ".." component, no
 * trailing slash (except "/"), no NUL, <= COORD_PATH_BYTES_MAX bytes and
 * <= COORD_PATH_DEPTH_MAX components. */
int tree_path_validate(const char *path, size_t len);

/* ---- Command encoding (cmd.c) ------------------------------------------ */
/* Storage a decoded command points into, besides the input bytes. */
struct tree_cmd_buf {
    struct tree_cmd cmd;
    struct tree_op ops[COORD_MULTI_OPS_MAX];
    uint64_t ids[TREE_IDS_MAX];
};
/* Encodes cmd into a new buffer. Returns 0, COORD_EINVAL (a field out of
 * range), COORD_ETOOBIG or COORD_ENOMEM. Caller frees *out with
 * coord_free(). */
int tree_cmd_encode(const struct tree_cmd *cmd, void **out, size_t *out_len);
/* Decodes bytes into buf->cmd; strings and data point into bytes (borrowed
 * for as long as bytes live). COORD_EPROTO on malformed input. */
int tree_cmd_decode(const void *bytes, size_t len, struct tree_cmd_buf *buf);

#endif /* COORDD_TREE_H */
