/* tree_int.h -- internals of coordd/tree/, shared by its files and its unit
 * tests only; other modules use tree.h.
 *
 * Layout:
 *  - Every node is one allocation: struct tree_node followed by its full
 *    path (NUL-terminated); data is a separate allocation (NULL if empty).
 *  - A chained hash table maps full path -> node (lookups, parent finding).
 *  - Each node's children form a treap ordered by name bytes (memcmp, then
 *    length) whose priorities are the children's path hashes: insert and
 *    delete are O(log n) expected, and pagination seeks in O(log n).
 *  - Ephemeral nodes sit in their session's node set; container and TTL
 *    nodes in the tree's cleanup set (never both, so one index is shared).
 *  - The digest is the sum (mod 2^64) of one hash per node (path hash, data
 *    hash, stat) and one per session: O(1) to update on each change.
 *  - Mutations during an apply are logged in an undo log so a failing multi
 *    is rolled back exactly; deleted nodes are freed only at commit.
 * Must not: read clocks, draw random numbers, do I/O, iterate anything
 * whose order depends on pointer values.
 */
#ifndef COORDD_TREE_INT_H
#define COORDD_TREE_INT_H

#include "tree.h"

enum tree_node_flag {
    TREE_NODE_CONTAINER = 1 << 0,
    TREE_NODE_TTL = 1 << 1,
};

/* Field order matters: a hash-chain walk reads hnext, hash and path_len,
 * which share the first cache line. */
struct tree_node {
    struct tree_node *hnext;  /* hash chain */
    uint32_t hash;            /* hash of the full path (table, priority) */
    uint32_t path_len;
    struct tree_node *parent; /* NULL for "/" */
    struct tree_node *left;   /* treap of the parent's children */
    struct tree_node *right;
    struct tree_node *up;     /* treap parent (NULL at the treap root) */
    struct tree_node *kids;   /* root of this node's children treap */
    char *data;               /* data_length bytes, NULL if empty */
    uint64_t dhash;           /* hash of the data */
    int64_t ttl_ms;           /* TTL nodes */
    struct coord_stat stat;
    uint32_t lidx;            /* index in the session's or cleanup array */
    uint16_t name_off;        /* the last component starts here */
    uint8_t flags;            /* enum tree_node_flag */
    char path[];              /* path_len bytes + NUL */
};

/* An array of nodes with O(1) removal (swap with the last; each node
 * remembers its index in lidx). */
struct tree_node_set {
    struct tree_node **v;
    size_t n, cap;
};

struct tree_cache_entry {
    uint64_t xid;
    uint8_t *bytes; /* encoded result (tree_result_encode) */
    uint32_t len;
    uint32_t cap;   /* bytes allocated: reused by later results */
};

struct tree_session {
    struct tree_session *hnext;
    uint64_t id;
    uint64_t last_xid;
    uint64_t base_hash;         /* digest of id, secret, timeout */
    uint32_t timeout_ms;
    uint32_t n_ephemerals;
    uint8_t secret[COORD_SECRET_BYTES];
    struct tree_node_set eph;   /* its ephemeral nodes */
    uint32_t n_cache;           /* ring: cache[(next - 1 - i) % WINDOW] */
    uint32_t cache_next;
    struct tree_cache_entry cache[TREE_DEDUP_WINDOW];
};

enum tree_undo_kind {
    TREE_UNDO_CREATE, /* node was linked: unlink and free it */
    TREE_UNDO_DELETE, /* node was unlinked: relink it (free at commit) */
    TREE_UNDO_STAT,   /* node's stat/data changed: restore old ones */
};

struct tree_undo {
    uint8_t kind;
    bool data_replaced;     /* TREE_UNDO_STAT: data is the old buffer */
    struct tree_node *node;
    struct coord_stat stat; /* TREE_UNDO_STAT: the old stat */
    char *data;             /* TREE_UNDO_STAT: the old data */
    uint64_t dhash;
};

/* A growable array of bytes owned by the tree (paths of results, events). */
struct tree_arena {
    char *buf;
    size_t len, cap;
};

struct tree_ev_rec {
    uint8_t type;
    size_t off; /* path in the event arena */
    uint32_t len;
};

struct tree {
    struct tree_config cfg;
    struct tree_node **buckets;
    uint64_t n_buckets; /* power of two */
    uint64_t n_nodes;
    uint64_t bytes_used;
    struct tree_node *root;
    struct tree_node *last_parent; /* parent of the last create (a cache) */
    struct tree_node_set cleanup; /* containers and TTL nodes */
    uint64_t digest;
    uint64_t applied;

    struct tree_session **sbuckets;
    uint32_t n_sbuckets;
    uint32_t n_sessions;

    /* Per-apply scratch, reused. */
    uint64_t zxid;
    int64_t time_ms;
    struct tree_undo *undo;
    size_t n_undo, cap_undo;
    struct tree_ev_rec *evs;
    size_t n_evs, cap_evs;
    struct tree_arena ev_paths;
    struct tree_arena res_paths;
    struct tree_op_result *res_ops; /* COORD_MULTI_OPS_MAX + 1 */
    struct tree_result result;
    char pathbuf[COORD_PATH_BYTES_MAX + 16];
};

/* hash.c-like helpers in tree.c */
uint64_t tree_hash_bytes(const void *p, size_t len, uint64_t seed);
uint64_t tree_node_digest(const struct tree_node *n);
uint64_t tree_session_digest(const struct tree_session *s);

/* Node store (tree.c). */
struct tree_node *tree_lookup(const struct tree *t, const char *path,
                              size_t len);
struct tree_node *tree_node_new(const char *path, size_t len);
void tree_node_free(struct tree_node *n);
void tree_link(struct tree *t, struct tree_node *parent, struct tree_node *n);
void tree_unlink(struct tree *t, struct tree_node *n);
void tree_stat_begin(struct tree *t, struct tree_node *n);
void tree_stat_end(struct tree *t, struct tree_node *n);
struct tree_node *tree_kids_first_after(const struct tree_node *parent,
                                        const char *name, size_t len);
struct tree_node *tree_kids_next(const struct tree_node *n);
struct tree_session *tree_session_find(const struct tree *t, uint64_t id);
void *tree_grow(void *p, size_t *cap, size_t need, size_t elem);
size_t tree_arena_put(struct tree_arena *a, const void *p, size_t len);

/* Operations (ops.c). */
int tree_op_apply(struct tree *t, const struct tree_op *op, uint64_t owner,
                  struct tree_op_result *res);
int tree_op_validate(const struct tree *t, const struct tree_op *op);
void tree_delete_node(struct tree *t, struct tree_node *n);
void tree_commit(struct tree *t);
void tree_rollback(struct tree *t);
void tree_event(struct tree *t, uint8_t type, const char *path, size_t len);
bool tree_cleanup_eligible(const struct tree_node *n, int64_t now_ms);
void tree_apply_cleanup(struct tree *t, const struct tree_cmd *cmd);

/* Sessions (sessions.c). */
int tree_session_open(struct tree *t, const struct tree_cmd *cmd);
void tree_session_end(struct tree *t, struct tree_session *s);
void tree_session_free(struct tree_session *s);
void tree_session_insert(struct tree *t, struct tree_session *s);
void tree_session_cache_put(struct tree_session *s, uint64_t xid,
                            const struct tree_result *r);
const struct tree_cache_entry *tree_session_cache_get(
    const struct tree_session *s, uint64_t xid);
void tree_sessions_free_all(struct tree *t);

/* Result encoding for the dedup cache and snapshots (result.c). */
size_t tree_result_size(const struct tree_result *r);
void tree_result_encode(const struct tree_result *r, uint8_t *b);
int tree_result_decode(struct tree *t, const uint8_t *p, size_t len);

/* Recomputes counts, byte budget, digest and every structural invariant
 * from scratch: 0 or COORD_ECORRUPT. O(n), for tests (verify.c). */
int tree_verify(const struct tree *t);

/* Path helpers (path.c). */
size_t tree_path_parent_len(const char *path, size_t len);
int tree_name_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Little-endian fixed-width encoding (results, snapshots). */
#define TREE_STAT_BYTES 68
static inline uint8_t *tree_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 4;
}
static inline uint8_t *tree_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + 8;
}
static inline uint32_t tree_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static inline uint64_t tree_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}
uint8_t *tree_put_stat(uint8_t *p, const struct coord_stat *st);
void tree_get_stat(const uint8_t *p, struct coord_stat *st);

#endif /* COORDD_TREE_INT_H */
