/* tree.c -- the namespace tree, the state machine that Raft replicates: the
 * node store (path hash table, per-parent children treaps), the digest,
 * reads, and tree_apply()'s dispatch. Called only by node.c with committed
 * commands, in log order. Deterministic: no clock, no I/O, no randomness,
 * nothing ordered by pointer values, so replicas applying the same log hold
 * the same nodes and the same digest. Operations live in ops.c, sessions in
 * sessions.c, snapshots in snapshot.c.
 */
#include "tree_int.h"

#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* ---- Hashing ------------------------------------------------------------ */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* A fixed, platform-independent hash (little-endian loads): digests are
 * compared across replicas. */
uint64_t tree_hash_bytes(const void *p, size_t len, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = mix64(seed ^ (len * 0x9e3779b97f4a7c15ULL));
    while (len >= 8) {
        h = mix64(h ^ tree_get_u64(b)) + 0x9e3779b97f4a7c15ULL;
        b += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < len; i++)
        tail |= (uint64_t)b[i] << (8 * i);
    return mix64(h ^ tail ^ 0xff51afd7ed558ccdULL);
}

static uint64_t fold(uint64_t h, uint64_t v)
{
    return mix64(h ^ v) + 0x9e3779b97f4a7c15ULL;
}

uint64_t tree_node_digest(const struct tree_node *n)
{
    const struct coord_stat *s = &n->stat;
    /* The table's 32-bit path hash with the length: a digest detects
     * divergence, it is not an integrity check (snapshots carry one). */
    uint64_t h = fold((uint64_t)n->path_len << 32 | n->hash, n->dhash);
    h = fold(h, s->czxid);
    h = fold(h, s->mzxid);
    h = fold(h, s->pzxid);
    h = fold(h, (uint64_t)s->ctime_ms);
    h = fold(h, (uint64_t)s->mtime_ms);
    h = fold(h, (uint64_t)(uint32_t)s->version << 32 |
                    (uint32_t)s->cversion);
    h = fold(h, (uint64_t)(uint32_t)s->aversion << 32 | n->flags);
    h = fold(h, s->ephemeral_owner);
    h = fold(h, (uint64_t)s->data_length << 32 | s->num_children);
    return fold(h, (uint64_t)n->ttl_ms);
}

uint8_t *tree_put_stat(uint8_t *p, const struct coord_stat *st)
{
    p = tree_put_u64(p, st->czxid);
    p = tree_put_u64(p, st->mzxid);
    p = tree_put_u64(p, st->pzxid);
    p = tree_put_u64(p, (uint64_t)st->ctime_ms);
    p = tree_put_u64(p, (uint64_t)st->mtime_ms);
    p = tree_put_u32(p, (uint32_t)st->version);
    p = tree_put_u32(p, (uint32_t)st->cversion);
    p = tree_put_u32(p, (uint32_t)st->aversion);
    p = tree_put_u64(p, st->ephemeral_owner);
    p = tree_put_u32(p, st->data_length);
    return tree_put_u32(p, st->num_children);
}

void tree_get_stat(const uint8_t *p, struct coord_stat *st)
{
    st->czxid = tree_get_u64(p);
    st->mzxid = tree_get_u64(p + 8);
    st->pzxid = tree_get_u64(p + 16);
    st->ctime_ms = (int64_t)tree_get_u64(p + 24);
    st->mtime_ms = (int64_t)tree_get_u64(p + 32);
    st->version = (int32_t)tree_get_u32(p + 40);
    st->cversion = (int32_t)tree_get_u32(p + 44);
    st->aversion = (int32_t)tree_get_u32(p + 48);
    st->ephemeral_owner = tree_get_u64(p + 52);
    st->data_length = tree_get_u32(p + 60);
    st->num_children = tree_get_u32(p + 64);
}

/* ---- Growable scratch --------------------------------------------------- */
/* Grows an array to hold need elements; allocation failure panics (called
 * inside apply). */
void *tree_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = coord_realloc(p, n * elem);
    if (q == NULL)
        coord_panic("tree: out of memory growing scratch");
    *cap = n;
    return q;
}

size_t tree_arena_put(struct tree_arena *a, const void *p, size_t len)
{
    a->buf = tree_grow(a->buf, &a->cap, a->len + len + 1, 1);
    size_t off = a->len;
    if (len)
        memcpy(a->buf + off, p, len);
    a->buf[off + len] = '\0';
    a->len += len + 1;
    return off;
}

/* ---- Node store: hash table -------------------------------------------- */
struct tree_node *tree_node_new(const char *path, size_t len)
{
    coord_assert(len >= 1 && len <= COORD_PATH_BYTES_MAX);
    struct tree_node *n = coord_malloc(sizeof(*n) + len + 1);
    if (n == NULL)
        coord_panic("tree: out of memory allocating a node");
    memset(n, 0, sizeof(*n));
    memcpy(n->path, path, len);
    n->path[len] = '\0';
    n->path_len = (uint32_t)len;
    if (len == 1) {
        n->name_off = 1;
    } else {
        size_t pl = tree_path_parent_len(path, len);
        n->name_off = (uint16_t)(pl == 1 ? 1 : pl + 1);
    }
    n->hash = (uint32_t)tree_hash_bytes(path, len, 0);
    n->dhash = tree_hash_bytes(NULL, 0, 1);
    return n;
}

void tree_node_free(struct tree_node *n)
{
    if (n == NULL)
        return;
    coord_free(n->data);
    coord_free(n);
}

struct tree_node *tree_lookup(const struct tree *t, const char *path,
                              size_t len)
{
    uint32_t h = (uint32_t)tree_hash_bytes(path, len, 0);
    struct tree_node *n = t->buckets[h & (t->n_buckets - 1)];
    for (; n != NULL; n = n->hnext)
        if (n->hash == h && n->path_len == len &&
            memcmp(n->path, path, len) == 0)
            return n;
    return NULL;
}

static void hash_grow(struct tree *t)
{
    uint64_t nb = t->n_buckets * 2;
    coord_assert(nb <= (1ULL << 32)); /* indexes come from 32-bit hashes */
    struct tree_node **b = coord_calloc(nb, sizeof(*b));
    if (b == NULL)
        coord_panic("tree: out of memory growing the hash table");
    for (uint64_t i = 0; i < t->n_buckets; i++) {
        struct tree_node *n = t->buckets[i], *next;
        for (; n != NULL; n = next) {
            next = n->hnext;
            n->hnext = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    coord_free(t->buckets);
    t->buckets = b;
    t->n_buckets = nb;
}

static void hash_remove(struct tree *t, struct tree_node *n)
{
    struct tree_node **pp = &t->buckets[n->hash & (t->n_buckets - 1)];
    while (*pp != n) {
        coord_assert(*pp != NULL);
        pp = &(*pp)->hnext;
    }
    *pp = n->hnext;
    n->hnext = NULL;
}

/* ---- Children treap ----------------------------------------------------- */
static int kid_cmp(const struct tree_node *a, const char *name, size_t len)
{
    return tree_name_cmp(a->path + a->name_off, a->path_len - a->name_off,
                         name, len);
}

static void treap_replace(struct tree_node *parent, struct tree_node *old,
                          struct tree_node *new)
{
    struct tree_node *up = old->up;
    if (up == NULL)
        parent->kids = new;
    else if (up->left == old)
        up->left = new;
    else
        up->right = new;
    if (new != NULL)
        new->up = up;
}

/* Rotates n above its treap parent. */
static void treap_rotate_up(struct tree_node *parent, struct tree_node *n)
{
    struct tree_node *p = n->up;
    coord_assert(p != NULL);
    treap_replace(parent, p, n);
    if (p->left == n) {
        p->left = n->right;
        if (n->right)
            n->right->up = p;
        n->right = p;
    } else {
        p->right = n->left;
        if (n->left)
            n->left->up = p;
        n->left = p;
    }
    p->up = n;
}

static void treap_insert(struct tree_node *parent, struct tree_node *n)
{
    struct tree_node **link = &parent->kids, *up = NULL;
    const char *name = n->path + n->name_off;
    size_t len = n->path_len - n->name_off;
    while (*link != NULL) {
        up = *link;
        int c = kid_cmp(up, name, len);
        coord_assert(c != 0);
        link = c > 0 ? &up->left : &up->right;
    }
    n->left = n->right = NULL;
    n->up = up;
    *link = n;
    while (n->up != NULL && n->up->hash < n->hash)
        treap_rotate_up(parent, n);
}

static void treap_remove(struct tree_node *parent, struct tree_node *n)
{
    while (n->left != NULL && n->right != NULL) {
        struct tree_node *c =
            n->left->hash > n->right->hash ? n->left : n->right;
        treap_rotate_up(parent, c);
    }
    treap_replace(parent, n, n->left != NULL ? n->left : n->right);
    n->left = n->right = n->up = NULL;
}

/* First child whose name sorts after name (name NULL: the first child). */
struct tree_node *tree_kids_first_after(const struct tree_node *parent,
                                        const char *name, size_t len)
{
    struct tree_node *cur = parent->kids, *best = NULL;
    while (cur != NULL) {
        if (name == NULL || kid_cmp(cur, name, len) > 0) {
            best = cur;
            cur = cur->left;
        } else {
            cur = cur->right;
        }
    }
    return best;
}

struct tree_node *tree_kids_next(const struct tree_node *n)
{
    if (n->right != NULL) {
        n = n->right;
        while (n->left != NULL)
            n = n->left;
        return (struct tree_node *)n;
    }
    while (n->up != NULL && n == n->up->right)
        n = n->up;
    return n->up;
}

/* ---- Linking ------------------------------------------------------------ */
static uint64_t node_bytes(const struct tree_node *n)
{
    return (uint64_t)n->path_len + n->stat.data_length + TREE_NODE_COST_BYTES;
}

static void set_add(struct tree_node_set *s, struct tree_node *n)
{
    s->v = tree_grow(s->v, &s->cap, s->n + 1, sizeof(*s->v));
    n->lidx = (uint32_t)s->n;
    s->v[s->n++] = n;
}

static void set_remove(struct tree_node_set *s, struct tree_node *n)
{
    coord_assert(n->lidx < s->n && s->v[n->lidx] == n);
    struct tree_node *last = s->v[--s->n];
    s->v[n->lidx] = last;
    last->lidx = n->lidx;
}

static struct tree_node_set *node_set(struct tree *t, struct tree_node *n,
                                      struct tree_session **sp)
{
    *sp = NULL;
    if (n->stat.ephemeral_owner != 0) {
        struct tree_session *s = tree_session_find(t, n->stat.ephemeral_owner);
        coord_assert(s != NULL);
        *sp = s;
        return &s->eph;
    }
    if (n->flags & (TREE_NODE_CONTAINER | TREE_NODE_TTL))
        return &t->cleanup;
    return NULL;
}

/* Links n (not in the tree) under parent. The caller updates the parent's
 * stat (num_children, cversion, pzxid). */
void tree_link(struct tree *t, struct tree_node *parent, struct tree_node *n)
{
    coord_dassert(tree_lookup(t, n->path, n->path_len) == NULL);
    coord_assert(parent->stat.ephemeral_owner == 0);
    n->parent = parent;
    if (t->n_nodes >= t->n_buckets)
        hash_grow(t);
    struct tree_node **b = &t->buckets[n->hash & (t->n_buckets - 1)];
    n->hnext = *b;
    *b = n;
    treap_insert(parent, n);
    t->n_nodes++;
    t->bytes_used += node_bytes(n);
    t->digest += tree_node_digest(n);
    struct tree_session *s;
    struct tree_node_set *set = node_set(t, n, &s);
    if (set != NULL)
        set_add(set, n);
    if (s != NULL)
        s->n_ephemerals++;
}

/* Unlinks a childless node; it stays allocated (undo may relink it). */
void tree_unlink(struct tree *t, struct tree_node *n)
{
    coord_assert(n->kids == NULL && n->parent != NULL);
    if (t->last_parent == n)
        t->last_parent = NULL;
    struct tree_session *s;
    struct tree_node_set *set = node_set(t, n, &s);
    if (set != NULL)
        set_remove(set, n);
    if (s != NULL) {
        coord_assert(s->n_ephemerals > 0);
        s->n_ephemerals--;
    }
    t->digest -= tree_node_digest(n);
    t->bytes_used -= node_bytes(n);
    t->n_nodes--;
    treap_remove(n->parent, n);
    hash_remove(t, n);
}

/* Bracket every stat or data change of a linked node. */
void tree_stat_begin(struct tree *t, struct tree_node *n)
{
    t->digest -= tree_node_digest(n);
    t->bytes_used -= n->stat.data_length;
}

void tree_stat_end(struct tree *t, struct tree_node *n)
{
    t->digest += tree_node_digest(n);
    t->bytes_used += n->stat.data_length;
}

/* ---- Open, close -------------------------------------------------------- */
static void config_defaults(struct tree_config *c)
{
    if (c->bytes_max == 0)
        c->bytes_max = TREE_BYTES_MAX_DEFAULT;
    if (c->nodes_max == 0)
        c->nodes_max = COORDD_NODES_MAX;
    if (c->children_max == 0)
        c->children_max = COORDD_CHILDREN_MAX;
    if (c->data_bytes_max == 0)
        c->data_bytes_max = COORD_DATA_BYTES_MAX;
    if (c->sessions_max == 0)
        c->sessions_max = COORDD_SESSIONS_MAX;
}

int tree_open(struct tree **out, const struct tree_config *cfg)
{
    struct tree *t = coord_calloc(1, sizeof(*t));
    if (t == NULL)
        return COORD_ENOMEM;
    if (cfg != NULL)
        t->cfg = *cfg;
    config_defaults(&t->cfg);
    t->n_buckets = 64;
    t->buckets = coord_calloc(t->n_buckets, sizeof(*t->buckets));
    t->n_sbuckets = 64;
    t->sbuckets = coord_calloc(t->n_sbuckets, sizeof(*t->sbuckets));
    t->res_ops = coord_calloc(COORD_MULTI_OPS_MAX + 1, sizeof(*t->res_ops));
    struct tree_node *root = coord_malloc(sizeof(*root) + 2);
    if (!t->buckets || !t->sbuckets || !t->res_ops || !root) {
        coord_free(root);
        coord_free(t->res_ops);
        coord_free(t->sbuckets);
        coord_free(t->buckets);
        coord_free(t);
        return COORD_ENOMEM;
    }
    memset(root, 0, sizeof(*root));
    memcpy(root->path, "/", 2);
    root->path_len = 1;
    root->name_off = 1;
    root->hash = (uint32_t)tree_hash_bytes("/", 1, 0);
    root->dhash = tree_hash_bytes(NULL, 0, 1);
    t->buckets[root->hash & (t->n_buckets - 1)] = root;
    t->root = root;
    t->n_nodes = 1;
    t->bytes_used = node_bytes(root);
    t->digest = tree_node_digest(root);
    *out = t;
    return 0;
}

void tree_close(struct tree *t)
{
    if (t == NULL)
        return;
    for (uint64_t i = 0; i < t->n_buckets; i++) {
        struct tree_node *n = t->buckets[i], *next;
        for (; n != NULL; n = next) {
            next = n->hnext;
            tree_node_free(n);
        }
    }
    tree_sessions_free_all(t);
    coord_free(t->buckets);
    coord_free(t->sbuckets);
    coord_free(t->cleanup.v);
    coord_free(t->undo);
    coord_free(t->evs);
    coord_free(t->ev_paths.buf);
    coord_free(t->res_paths.buf);
    coord_free(t->res_ops);
    coord_free(t);
}

/* ---- Reads -------------------------------------------------------------- */
int tree_exists(const struct tree *t, const char *path, size_t path_len,
                struct coord_stat *stat)
{
    int err = tree_path_validate(path, path_len);
    if (err != 0)
        return err;
    const struct tree_node *n = tree_lookup(t, path, path_len);
    if (n == NULL)
        return COORD_ENONODE;
    if (stat != NULL)
        *stat = n->stat;
    return 0;
}

int tree_get(const struct tree *t, const char *path, size_t path_len,
             const void **data, struct coord_stat *stat)
{
    int err = tree_path_validate(path, path_len);
    if (err != 0)
        return err;
    const struct tree_node *n = tree_lookup(t, path, path_len);
    if (n == NULL)
        return COORD_ENONODE;
    if (stat != NULL)
        *stat = n->stat;
    if (data != NULL)
        *data = n->data;
    return 0;
}

int tree_children(const struct tree *t, const char *path, size_t path_len,
                  const char *start_after, size_t start_after_len,
                  uint32_t max, bool with_stat, tree_child_cb cb, void *data,
                  bool *more)
{
    int err = tree_path_validate(path, path_len);
    if (err != 0)
        return err;
    const struct tree_node *p = tree_lookup(t, path, path_len);
    if (p == NULL)
        return COORD_ENONODE;
    if (start_after != NULL && start_after_len == 0)
        start_after = NULL;
    if (max > COORD_CHILDREN_PAGE_MAX)
        max = COORD_CHILDREN_PAGE_MAX;
    const struct tree_node *c =
        tree_kids_first_after(p, start_after, start_after_len);
    uint32_t n = 0;
    for (; c != NULL && n < max; c = tree_kids_next(c), n++)
        cb(data, c->path + c->name_off, c->path_len - c->name_off,
           with_stat ? &c->stat : NULL);
    if (more != NULL)
        *more = c != NULL;
    return 0;
}

uint64_t tree_digest(const struct tree *t)
{
    return t->digest;
}

uint64_t tree_applied_index(const struct tree *t)
{
    return t->applied;
}

uint64_t tree_node_count(const struct tree *t)
{
    return t->n_nodes;
}

uint64_t tree_bytes_used(const struct tree *t)
{
    return t->bytes_used;
}

uint32_t tree_cleanup_candidates(const struct tree *t, int64_t now_ms,
                                 uint32_t max,
                                 void (*cb)(void *data, const char *path,
                                            size_t path_len),
                                 void *data)
{
    uint32_t n = 0;
    for (size_t i = 0; i < t->cleanup.n && n < max; i++) {
        const struct tree_node *c = t->cleanup.v[i];
        if (!tree_cleanup_eligible(c, now_ms))
            continue;
        cb(data, c->path, c->path_len);
        n++;
    }
    return n;
}
