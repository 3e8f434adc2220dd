/* snapshot.c -- the tree's snapshot: every session and node plus the applied
 * index as one byte stream, written through a callback in chunks of at most
 * TREE_SNAPSHOT_CHUNK_BYTES, and loaded back with every byte validated.
 *
 * Format (little-endian):
 *   header   u32 magic "CTRS", u32 format 1, u64 applied, u32 n_sessions,
 *            u64 n_nodes
 *   session  u64 id, u32 timeout_ms, secret[32], u64 last_xid,
 *            u32 cache_next, then TREE_DEDUP_WINDOW slots:
 *            u8 used [, u64 xid, u32 len, len bytes (result.c)]
 *   node     (pre-order, children in byte order; "/" first)
 *            u32 path_len, path, u8 flags, u64 ttl_ms, stat, data
 *   trailer  u64 digest, u64 FNV-1a of every byte before the trailer
 * Sessions are written in id order so equal trees give equal bytes. The
 * loader rejects bad input with COORD_ECORRUPT and never asserts on it.
 * Must not do I/O itself: bytes go through the caller's callbacks.
 *
 * Writing comes in two steps so that a forked child can serialize
 * (coordd/snapfork.c, docs/snapshots.md): tree_snapshot_prepare does every
 * allocation and the sort up front; tree_snapshot_pass_write must stay free
 * of malloc, qsort, locks and anything else not async-signal-safe (glibc's
 * qsort may allocate), since it runs in the child of a multi-threaded
 * process. It calls only memcpy, the tree's read-only walkers and cb.
 */
#include "tree_int.h"

#include <stdlib.h>
#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

#define SNAP_MAGIC 0x53525443u /* "CTRS" */
#define SNAP_FORMAT 1
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
/* A cached result holds at most a multi's ops and their paths. */
#define SNAP_RESULT_BYTES_MAX \
    (16 + (COORD_MULTI_OPS_MAX + 1) * (80 + COORD_PATH_BYTES_MAX + 16))

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

/* ---- Writing ------------------------------------------------------------ */
struct snap_w {
    tree_write_cb cb;
    void *data;
    uint64_t sum;
    int err;
    size_t len;
    uint8_t buf[TREE_SNAPSHOT_CHUNK_BYTES];
};

static void w_flush(struct snap_w *w)
{
    if (w->err == 0 && w->len > 0)
        w->err = w->cb(w->data, w->buf, w->len);
    w->len = 0;
}

static void w_bytes(struct snap_w *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    w->sum = fnv(w->sum, b, n);
    while (n > 0 && w->err == 0) {
        size_t k = sizeof(w->buf) - w->len;
        k = k < n ? k : n;
        memcpy(w->buf + w->len, b, k);
        w->len += k;
        b += k;
        n -= k;
        if (w->len == sizeof(w->buf))
            w_flush(w);
    }
}

static void w_u8(struct snap_w *w, uint8_t v)
{
    w_bytes(w, &v, 1);
}

static void w_u32(struct snap_w *w, uint32_t v)
{
    uint8_t b[4];
    tree_put_u32(b, v);
    w_bytes(w, b, 4);
}

static void w_u64(struct snap_w *w, uint64_t v)
{
    uint8_t b[8];
    tree_put_u64(b, v);
    w_bytes(w, b, 8);
}

static int session_id_cmp(const void *a, const void *b)
{
    uint64_t x = (*(const struct tree_session *const *)a)->id;
    uint64_t y = (*(const struct tree_session *const *)b)->id;
    return x < y ? -1 : (x > y ? 1 : 0);
}

static void write_session(struct snap_w *w, const struct tree_session *s)
{
    w_u64(w, s->id);
    w_u32(w, s->timeout_ms);
    w_bytes(w, s->secret, sizeof(s->secret));
    w_u64(w, s->last_xid);
    w_u32(w, s->cache_next);
    for (uint32_t i = 0; i < TREE_DEDUP_WINDOW; i++) {
        const struct tree_cache_entry *c = &s->cache[i];
        w_u8(w, c->bytes != NULL);
        if (c->bytes == NULL)
            continue;
        w_u64(w, c->xid);
        w_u32(w, c->len);
        w_bytes(w, c->bytes, c->len);
    }
}

static void write_node(struct snap_w *w, const struct tree_node *n)
{
    uint8_t st[TREE_STAT_BYTES];
    w_u32(w, n->path_len);
    w_bytes(w, n->path, n->path_len);
    w_u8(w, n->flags);
    w_u64(w, (uint64_t)n->ttl_ms);
    tree_put_stat(st, &n->stat);
    w_bytes(w, st, sizeof(st));
    w_bytes(w, n->data, n->stat.data_length);
}

/* Pre-order walk without a stack: first child, else the next sibling of
 * the nearest ancestor that has one. */
static const struct tree_node *preorder_next(const struct tree_node *n)
{
    if (n->kids != NULL)
        return tree_kids_first_after(n, NULL, 0);
    for (; n->parent != NULL; n = n->parent) {
        const struct tree_node *s = tree_kids_next(n);
        if (s != NULL)
            return s;
    }
    return NULL;
}

/* Everything a pass needs that costs an allocation or a sort, made before
 * it: the writer (with its chunk buffer) and the sessions in id order. */
struct tree_snapshot_pass {
    const struct tree *t;
    const struct tree_session **sessions; /* n_sessions, sorted by id */
    uint32_t n_sessions;
    struct snap_w w;
};

int tree_snapshot_prepare(const struct tree *t,
                          struct tree_snapshot_pass **out)
{
    struct tree_snapshot_pass *p = coord_calloc(1, sizeof(*p));
    if (p == NULL)
        return COORD_ENOMEM;
    p->t = t;
    p->n_sessions = t->n_sessions;
    if (t->n_sessions > 0) {
        p->sessions = coord_malloc(t->n_sessions * sizeof(*p->sessions));
        if (p->sessions == NULL) {
            coord_free(p);
            return COORD_ENOMEM;
        }
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_sbuckets; i++)
        for (const struct tree_session *s = t->sbuckets[i]; s; s = s->hnext)
            p->sessions[n++] = s;
    coord_assert(n == t->n_sessions);
    if (n > 1)
        qsort(p->sessions, n, sizeof(*p->sessions), session_id_cmp);
    *out = p;
    return 0;
}

void tree_snapshot_pass_free(struct tree_snapshot_pass *p)
{
    if (p == NULL)
        return;
    coord_free(p->sessions);
    coord_free(p);
}

/* Allocation-free: only the pass's memory, the tree (read) and cb. */
int tree_snapshot_pass_write(struct tree_snapshot_pass *p, tree_write_cb cb,
                             void *data)
{
    const struct tree *t = p->t;
    coord_assert(p->n_sessions == t->n_sessions);
    struct snap_w *w = &p->w;
    w->cb = cb;
    w->data = data;
    w->sum = FNV_OFFSET;
    w->err = 0;
    w->len = 0;
    w_u32(w, SNAP_MAGIC);
    w_u32(w, SNAP_FORMAT);
    w_u64(w, t->applied);
    w_u32(w, t->n_sessions);
    w_u64(w, t->n_nodes);
    for (uint32_t i = 0; i < p->n_sessions && w->err == 0; i++)
        write_session(w, p->sessions[i]);
    uint64_t count = 0;
    for (const struct tree_node *n = t->root; n && w->err == 0;
         n = preorder_next(n), count++)
        write_node(w, n);
    coord_assert(w->err != 0 || count == t->n_nodes);
    w_u64(w, t->digest);
    w_u64(w, w->sum);
    w_flush(w);
    return w->err;
}

int tree_snapshot_write(const struct tree *t, tree_write_cb cb, void *data)
{
    struct tree_snapshot_pass *p;
    int err = tree_snapshot_prepare(t, &p);
    if (err != 0)
        return err;
    err = tree_snapshot_pass_write(p, cb, data);
    tree_snapshot_pass_free(p);
    return err;
}

/* ---- Loading ------------------------------------------------------------ */
struct snap_r {
    tree_read_cb cb;
    void *data;
    uint64_t sum;
    int err;
    size_t pos, len;
    uint8_t buf[TREE_SNAPSHOT_CHUNK_BYTES];
};

/* Reads exactly n bytes; sets r->err (ECORRUPT on a short stream). */
static bool r_bytes(struct snap_r *r, void *dst, size_t n)
{
    uint8_t *d = dst;
    while (n > 0 && r->err == 0) {
        if (r->pos == r->len) {
            long k = r->cb(r->data, r->buf, sizeof(r->buf));
            if (k <= 0 || (size_t)k > sizeof(r->buf)) {
                r->err = k < 0 ? (int)k : COORD_ECORRUPT;
                break;
            }
            r->pos = 0;
            r->len = (size_t)k;
        }
        size_t k = r->len - r->pos;
        k = k < n ? k : n;
        memcpy(d, r->buf + r->pos, k);
        r->sum = fnv(r->sum, d, k);
        r->pos += k;
        d += k;
        n -= k;
    }
    return r->err == 0;
}

static uint32_t r_u32(struct snap_r *r)
{
    uint8_t b[4] = { 0 };
    r_bytes(r, b, 4);
    return tree_get_u32(b);
}

static uint64_t r_u64(struct snap_r *r)
{
    uint8_t b[8] = { 0 };
    r_bytes(r, b, 8);
    return tree_get_u64(b);
}

static uint8_t r_u8(struct snap_r *r)
{
    uint8_t b = 0;
    r_bytes(r, &b, 1);
    return b;
}

static int read_cache(struct snap_r *r, struct tree *t, struct tree_session *s)
{
    s->cache_next = r_u32(r);
    if (s->cache_next >= TREE_DEDUP_WINDOW)
        return COORD_ECORRUPT;
    for (uint32_t i = 0; i < TREE_DEDUP_WINDOW && r->err == 0; i++) {
        uint8_t used = r_u8(r);
        if (used > 1)
            return COORD_ECORRUPT;
        if (!used)
            continue;
        struct tree_cache_entry *c = &s->cache[i];
        c->xid = r_u64(r);
        c->len = r_u32(r);
        if (c->xid > s->last_xid || c->len > SNAP_RESULT_BYTES_MAX)
            return COORD_ECORRUPT;
        c->bytes = coord_malloc(c->len ? c->len : 1);
        if (c->bytes == NULL)
            return COORD_ENOMEM;
        c->cap = c->len;
        if (!r_bytes(r, c->bytes, c->len))
            break;
        if (tree_result_decode(t, c->bytes, c->len) != 0)
            return COORD_ECORRUPT;
        s->n_cache++;
    }
    return r->err;
}

static int read_session(struct snap_r *r, struct tree *t, uint64_t *prev)
{
    struct tree_session *s = coord_calloc(1, sizeof(*s));
    if (s == NULL)
        return COORD_ENOMEM;
    s->id = r_u64(r);
    s->timeout_ms = r_u32(r);
    r_bytes(r, s->secret, sizeof(s->secret));
    s->last_xid = r_u64(r);
    int err = r->err;
    if (err == 0 && (s->id <= *prev ||
                     s->timeout_ms < COORDD_SESSION_TIMEOUT_MS_MIN ||
                     s->timeout_ms > COORDD_SESSION_TIMEOUT_MS_MAX))
        err = COORD_ECORRUPT;
    if (err == 0)
        err = read_cache(r, t, s);
    if (err != 0) {
        tree_session_free(s);
        return err;
    }
    *prev = s->id;
    tree_session_insert(t, s);
    return 0;
}

/* Checks a node record against the tree loaded so far. */
static int node_check(struct tree *t, const char *path, size_t len,
                      uint8_t flags, int64_t ttl, const struct coord_stat *st,
                      struct tree_node **parent)
{
    if (tree_path_validate(path, len) != 0 || len == 1 ||
        tree_lookup(t, path, len) != NULL)
        return COORD_ECORRUPT;
    *parent = tree_lookup(t, path, tree_path_parent_len(path, len));
    if (*parent == NULL || (*parent)->stat.ephemeral_owner != 0)
        return COORD_ECORRUPT;
    if (flags > TREE_NODE_TTL ||
        (st->ephemeral_owner != 0 && flags != 0) ||
        ((flags & TREE_NODE_TTL) != 0) != (ttl != 0) || ttl < 0 ||
        ttl > TREE_TTL_MS_MAX)
        return COORD_ECORRUPT;
    if (st->ephemeral_owner != 0 &&
        tree_session_find(t, st->ephemeral_owner) == NULL)
        return COORD_ECORRUPT;
    if (t->n_nodes >= t->cfg.nodes_max)
        return COORD_ECORRUPT;
    return 0;
}

static void node_set_data(struct tree_node *n, char *data,
                          const struct coord_stat *st)
{
    coord_free(n->data);
    n->data = data;
    n->dhash = tree_hash_bytes(data, st->data_length, 1);
    n->stat = *st;
}

static int read_node(struct snap_r *r, struct tree *t, bool first)
{
    uint8_t stb[TREE_STAT_BYTES];
    struct coord_stat st;
    uint32_t len = r_u32(r);
    if (r->err == 0 && (len == 0 || len > COORD_PATH_BYTES_MAX))
        return COORD_ECORRUPT;
    r_bytes(r, t->pathbuf, len);
    uint8_t flags = r_u8(r);
    int64_t ttl = (int64_t)r_u64(r);
    r_bytes(r, stb, sizeof(stb));
    tree_get_stat(stb, &st);
    if (r->err != 0)
        return r->err;
    if (st.data_length > t->cfg.data_bytes_max)
        return COORD_ECORRUPT;
    struct tree_node *parent = NULL;
    int err = first ? (len == 1 && t->pathbuf[0] == '/' && flags == 0 &&
                       ttl == 0 && st.ephemeral_owner == 0
                           ? 0 : COORD_ECORRUPT)
                    : node_check(t, t->pathbuf, len, flags, ttl, &st,
                                 &parent);
    if (err != 0)
        return err;
    char *data = NULL;
    if (st.data_length > 0) {
        data = coord_malloc(st.data_length);
        if (data == NULL)
            return COORD_ENOMEM;
        if (!r_bytes(r, data, st.data_length)) {
            coord_free(data);
            return r->err;
        }
    }
    if (first) {
        tree_stat_begin(t, t->root);
        node_set_data(t->root, data, &st);
        tree_stat_end(t, t->root);
        return 0;
    }
    struct tree_node *n = tree_node_new(t->pathbuf, len);
    node_set_data(n, data, &st);
    n->flags = flags;
    n->ttl_ms = ttl;
    tree_link(t, parent, n);
    return 0;
}

static int check_counts(const struct tree *t)
{
    for (const struct tree_node *n = t->root; n; n = preorder_next(n)) {
        uint32_t k = 0;
        for (const struct tree_node *c = tree_kids_first_after(n, NULL, 0);
             c != NULL; c = tree_kids_next(c))
            k++;
        if (k != n->stat.num_children)
            return COORD_ECORRUPT;
    }
    return 0;
}

static int read_body(struct snap_r *r, struct tree *t)
{
    if (r_u32(r) != SNAP_MAGIC || r_u32(r) != SNAP_FORMAT)
        return r->err ? r->err : COORD_ECORRUPT;
    uint64_t applied = r_u64(r);
    uint32_t n_sessions = r_u32(r);
    uint64_t n_nodes = r_u64(r);
    if (r->err != 0)
        return r->err;
    if (n_sessions > t->cfg.sessions_max || n_nodes == 0 ||
        n_nodes > t->cfg.nodes_max)
        return COORD_ECORRUPT;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n_sessions; i++) {
        int err = read_session(r, t, &prev);
        if (err != 0)
            return err;
    }
    for (uint64_t i = 0; i < n_nodes; i++) {
        int err = read_node(r, t, i == 0);
        if (err != 0)
            return err;
    }
    t->applied = applied;
    return check_counts(t);
}

static int read_trailer(struct snap_r *r, const struct tree *t)
{
    uint64_t digest = r_u64(r);
    uint64_t sum = r->sum;
    uint64_t want = r_u64(r);
    if (r->err != 0)
        return r->err;
    if (digest != t->digest || sum != want)
        return COORD_ECORRUPT;
    if (r->pos != r->len)
        return COORD_ECORRUPT;
    long k = r->cb(r->data, r->buf, sizeof(r->buf));
    return k == 0 ? 0 : (k < 0 ? (int)k : COORD_ECORRUPT);
}

int tree_snapshot_load(struct tree **out, const struct tree_config *cfg,
                       tree_read_cb cb, void *data)
{
    struct tree *t;
    int err = tree_open(&t, cfg);
    if (err != 0)
        return err;
    struct snap_r *r = coord_calloc(1, sizeof(*r));
    if (r == NULL) {
        tree_close(t);
        return COORD_ENOMEM;
    }
    r->cb = cb;
    r->data = data;
    r->sum = FNV_OFFSET;
    err = read_body(r, t);
    if (err == 0)
        err = read_trailer(r, t);
    coord_free(r);
    if (err != 0) {
        tree_close(t);
        return err;
    }
    *out = t;
    return 0;
}
