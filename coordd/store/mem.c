/* mem.c -- the in-memory storage backend, with a crash model and fault
 * injection: what tests and the simulator run coordd's storage on.
 *
 * How it fits: implements store_int.h's backend ops over sorted arrays, one
 * per column family, so store.c's logic (records, checksums, identity,
 * snapshots) runs unchanged on it. A struct store_mem_disk outlives the
 * store opened on it and holds two states: "durable" (what survives a
 * crash) and the current one; each write is applied to the current state
 * and queued, and a sync replays the queue onto the durable state. A crash
 * throws the queue away. It must not do I/O or sleep; a test that needs a
 * slow sync installs a hook that waits on its own condition.
 */
#include "store.h"

#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "store_int.h"

struct mem_rec {
    uint8_t *key;
    uint32_t klen;
    uint8_t *val;
    uint32_t vlen;
};

struct mem_cf {
    struct mem_rec *r;
    size_t n;
    size_t cap;
};

struct mem_state {
    struct mem_cf cf[STORE_CF_COUNT];
};

/* A written, not yet synced batch: ops with their bytes in one block. */
struct mem_batch {
    struct mem_batch *next;
    uint32_t n;
    struct store_kv_op *ops;
};

struct store_mem_disk {
    pthread_mutex_t mu; /* guards the fault settings and the hook */
    struct mem_state durable;
    struct mem_state cur;
    struct mem_batch *pend;
    struct mem_batch **pend_tail;
    bool open;
    bool power_loss;
    uint64_t writes;
    uint64_t syncs;
    uint64_t fail_write_at;
    uint64_t fail_sync_at;
    void (*hook)(void *data);
    void *hook_data;
};

struct mem_iter {
    struct mem_cf *cf;
    size_t pos;
};

/* ---- sorted arrays ------------------------------------------------------- */

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* First position whose key is >= key (or > key with after). */
static size_t cf_bound(const struct mem_cf *cf, const uint8_t *key,
                       size_t klen, bool after)
{
    size_t lo = 0, hi = cf->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(cf->r[mid].key, cf->r[mid].klen, key, klen);
        if (c < 0 || (after && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cf_put(struct mem_cf *cf, const struct store_kv_op *op)
{
    size_t pos = cf_bound(cf, op->key, op->klen, false);
    bool found = pos < cf->n && key_cmp(cf->r[pos].key, cf->r[pos].klen,
                                        op->key, op->klen) == 0;
    uint8_t *v = coord_malloc(op->vlen ? op->vlen : 1);
    if (!v)
        return COORD_ENOMEM;
    if (op->vlen)
        memcpy(v, op->val, op->vlen);
    if (found) {
        coord_free(cf->r[pos].val);
        cf->r[pos].val = v;
        cf->r[pos].vlen = op->vlen;
        return 0;
    }
    uint8_t *k = coord_malloc(op->klen ? op->klen : 1);
    if (k && cf->n == cf->cap) {
        size_t cap = cf->cap ? cf->cap * 2 : 64;
        struct mem_rec *r = coord_realloc(cf->r, cap * sizeof(*r));
        if (r) {
            cf->r = r;
            cf->cap = cap;
        }
    }
    if (!k || cf->n == cf->cap) {
        coord_free(k);
        coord_free(v);
        return COORD_ENOMEM;
    }
    if (op->klen)
        memcpy(k, op->key, op->klen);
    memmove(&cf->r[pos + 1], &cf->r[pos], (cf->n - pos) * sizeof(*cf->r));
    cf->r[pos] = (struct mem_rec){k, op->klen, v, op->vlen};
    cf->n++;
    return 0;
}

static void cf_del(struct mem_cf *cf, const uint8_t *lo, size_t lolen,
                   const uint8_t *hi, size_t hilen)
{
    size_t a = cf_bound(cf, lo, lolen, false);
    size_t b = hi ? cf_bound(cf, hi, hilen, false) : a;
    if (!hi && a < cf->n &&
        key_cmp(cf->r[a].key, cf->r[a].klen, lo, lolen) == 0)
        b = a + 1;
    if (b <= a)
        return;
    for (size_t i = a; i < b; i++) {
        coord_free(cf->r[i].key);
        coord_free(cf->r[i].val);
    }
    memmove(&cf->r[a], &cf->r[b], (cf->n - b) * sizeof(*cf->r));
    cf->n -= b - a;
}

static int state_apply(struct mem_state *st, const struct store_kv_op *ops,
                       uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct store_kv_op *op = &ops[i];
        struct mem_cf *cf = &st->cf[op->cf];
        if (op->kind == STORE_KV_PUT) {
            int rc = cf_put(cf, op);
            if (rc)
                return rc;
        } else if (op->kind == STORE_KV_DEL) {
            cf_del(cf, op->key, op->klen, NULL, 0);
        } else {
            cf_del(cf, op->key, op->klen, op->val, op->vlen);
        }
    }
    return 0;
}

static void state_free(struct mem_state *st)
{
    for (int c = 0; c < STORE_CF_COUNT; c++) {
        struct mem_cf *cf = &st->cf[c];
        for (size_t i = 0; i < cf->n; i++) {
            coord_free(cf->r[i].key);
            coord_free(cf->r[i].val);
        }
        coord_free(cf->r);
        memset(cf, 0, sizeof(*cf));
    }
}

static int state_copy(struct mem_state *dst, const struct mem_state *src)
{
    memset(dst, 0, sizeof(*dst));
    for (uint8_t c = 0; c < STORE_CF_COUNT; c++) {
        const struct mem_cf *cf = &src->cf[c];
        for (size_t i = 0; i < cf->n; i++) {
            struct store_kv_op op = {STORE_KV_PUT, c, cf->r[i].key,
                                     cf->r[i].klen, cf->r[i].val,
                                     cf->r[i].vlen};
            if (cf_put(&dst->cf[c], &op)) {
                state_free(dst);
                return COORD_ENOMEM;
            }
        }
    }
    return 0;
}

/* ---- pending batches ----------------------------------------------------- */

static struct mem_batch *batch_copy(const struct store_kv_op *ops,
                                    uint32_t n)
{
    size_t bytes = sizeof(struct mem_batch) + n * sizeof(*ops);
    for (uint32_t i = 0; i < n; i++)
        bytes += ops[i].klen + ops[i].vlen;
    struct mem_batch *b = coord_malloc(bytes);
    if (!b)
        return NULL;
    b->next = NULL;
    b->n = n;
    b->ops = (struct store_kv_op *)(b + 1);
    uint8_t *p = (uint8_t *)(b->ops + n);
    for (uint32_t i = 0; i < n; i++) {
        b->ops[i] = ops[i];
        if (ops[i].klen)
            memcpy(p, ops[i].key, ops[i].klen);
        b->ops[i].key = p;
        p += ops[i].klen;
        if (ops[i].vlen)
            memcpy(p, ops[i].val, ops[i].vlen);
        b->ops[i].val = ops[i].vlen ? p : NULL;
        p += ops[i].vlen;
    }
    return b;
}

/* Drops the queue (a crash) or replays it onto the durable state. */
static int pend_finish(struct store_mem_disk *d, bool keep)
{
    int rc = 0;
    while (d->pend) {
        struct mem_batch *b = d->pend;
        d->pend = b->next;
        if (keep && rc == 0)
            rc = state_apply(&d->durable, b->ops, b->n);
        coord_free(b);
    }
    d->pend_tail = &d->pend;
    return rc;
}

static int mem_sync(void *impl, char *err)
{
    struct store_mem_disk *d = impl;
    pthread_mutex_lock(&d->mu);
    void (*hook)(void *) = d->hook;
    void *hook_data = d->hook_data;
    bool fail = ++d->syncs == d->fail_sync_at;
    pthread_mutex_unlock(&d->mu);
    if (hook)
        hook(hook_data);
    if (fail) {
        pend_finish(d, false);
        store__errf(err, "mem: injected fsync failure (sync %llu)",
                    (unsigned long long)d->syncs);
        return COORD_EIO;
    }
    int rc = pend_finish(d, true);
    if (rc)
        store__errf(err, "mem: out of memory during sync");
    return rc;
}

static int mem_apply(void *impl, char *err, const struct store_kv_op *ops,
                     uint32_t n, bool sync)
{
    struct store_mem_disk *d = impl;
    pthread_mutex_lock(&d->mu);
    bool fail = ++d->writes == d->fail_write_at;
    pthread_mutex_unlock(&d->mu);
    if (fail) {
        store__errf(err, "mem: injected write failure (write %llu)",
                    (unsigned long long)d->writes);
        return COORD_EIO;
    }
    struct mem_batch *b = batch_copy(ops, n);
    int rc = b ? state_apply(&d->cur, ops, n) : COORD_ENOMEM;
    if (rc) {
        coord_free(b);
        store__errf(err, "mem: out of memory applying a batch");
        return rc;
    }
    *d->pend_tail = b;
    d->pend_tail = &b->next;
    return sync ? mem_sync(impl, err) : 0;
}

/* ---- iterators and views ------------------------------------------------- */

static int mem_iter_open(void *impl, char *err, void *view, uint8_t cf,
                         void **out)
{
    struct store_mem_disk *d = impl;
    struct mem_state *st = view ? view : &d->cur;
    struct mem_iter *it = coord_malloc(sizeof(*it));
    if (!it) {
        store__errf(err, "mem: out of memory");
        return COORD_ENOMEM;
    }
    it->cf = &st->cf[cf];
    it->pos = it->cf->n;
    *out = it;
    return 0;
}

static void mem_iter_seek(void *p, const uint8_t *key, uint32_t klen)
{
    struct mem_iter *it = p;
    it->pos = cf_bound(it->cf, key, klen, false);
}

static void mem_iter_seek_prev(void *p, const uint8_t *key, uint32_t klen)
{
    struct mem_iter *it = p;
    size_t b = cf_bound(it->cf, key, klen, true);
    it->pos = b ? b - 1 : it->cf->n;
}

static void mem_iter_next(void *p)
{
    struct mem_iter *it = p;
    if (it->pos < it->cf->n)
        it->pos++;
}

static bool mem_iter_valid(void *p)
{
    struct mem_iter *it = p;
    return it->pos < it->cf->n;
}

static void mem_iter_get(void *p, const uint8_t **key, size_t *klen,
                         const uint8_t **val, size_t *vlen)
{
    struct mem_iter *it = p;
    coord_assert(it->pos < it->cf->n);
    const struct mem_rec *r = &it->cf->r[it->pos];
    *key = r->key;
    *klen = r->klen;
    *val = r->val;
    *vlen = r->vlen;
}

static int mem_iter_status(void *p, char *err)
{
    (void)p;
    (void)err;
    return 0;
}

static void mem_iter_close(void *p)
{
    coord_free(p);
}

/* A view is a private copy of the current state: O(size), which is fine
 * for the snapshot readers it serves in tests and the simulator. */
static int mem_view_open(void *impl, char *err, void **view)
{
    struct store_mem_disk *d = impl;
    struct mem_state *st = coord_malloc(sizeof(*st));
    if (!st || state_copy(st, &d->cur)) {
        coord_free(st);
        store__errf(err, "mem: out of memory copying a view");
        return COORD_ENOMEM;
    }
    *view = st;
    return 0;
}

static void mem_view_close(void *impl, void *view)
{
    (void)impl;
    state_free(view);
    coord_free(view);
}

static void mem_close(void *impl, bool crash)
{
    struct store_mem_disk *d = impl;
    /* A process exit keeps what reached the page cache; a power cut (or
     * power-loss mode) does not. */
    pend_finish(d, !(crash || d->power_loss));
    state_free(&d->cur);
    d->open = false;
}

static const struct store_ops mem_ops = {
    .apply = mem_apply,
    .sync = mem_sync,
    .iter_open = mem_iter_open,
    .iter_seek = mem_iter_seek,
    .iter_seek_prev = mem_iter_seek_prev,
    .iter_next = mem_iter_next,
    .iter_valid = mem_iter_valid,
    .iter_get = mem_iter_get,
    .iter_status = mem_iter_status,
    .iter_close = mem_iter_close,
    .view_open = mem_view_open,
    .view_close = mem_view_close,
    .close = mem_close,
};

/* ---- public -------------------------------------------------------------- */

int store_open_mem(struct store *s, struct store_mem_disk *d,
                   const struct store_options *opts)
{
    memset(s, 0, sizeof(*s));
    if (d->open) {
        store__errf(s->errmsg, "mem: a store is already open on this disk");
        return COORD_EBUSY;
    }
    if (state_copy(&d->cur, &d->durable)) {
        store__errf(s->errmsg, "mem: out of memory");
        return COORD_ENOMEM;
    }
    d->open = true;
    d->power_loss = opts->power_loss;
    return store__open_common(s, &mem_ops, d, opts);
}

int store_mem_disk_new(struct store_mem_disk **out)
{
    struct store_mem_disk *d = coord_calloc(1, sizeof(*d));
    if (!d)
        return COORD_ENOMEM;
    pthread_mutex_init(&d->mu, NULL);
    d->pend_tail = &d->pend;
    *out = d;
    return 0;
}

void store_mem_disk_free(struct store_mem_disk *d)
{
    if (!d)
        return;
    coord_assert(!d->open);
    state_free(&d->durable);
    pthread_mutex_destroy(&d->mu);
    coord_free(d);
}

void store_mem_crash(struct store *s)
{
    coord_assert(s->ops == &mem_ops);
    store__close(s, true);
}

void store_mem_fail_write(struct store_mem_disk *d, uint64_t nth)
{
    pthread_mutex_lock(&d->mu);
    d->fail_write_at = nth ? d->writes + nth : 0;
    pthread_mutex_unlock(&d->mu);
}

void store_mem_fail_sync(struct store_mem_disk *d, uint64_t nth)
{
    pthread_mutex_lock(&d->mu);
    d->fail_sync_at = nth ? d->syncs + nth : 0;
    pthread_mutex_unlock(&d->mu);
}

void store_mem_sync_hook(struct store_mem_disk *d, void (*fn)(void *data),
                         void *data)
{
    pthread_mutex_lock(&d->mu);
    d->hook = fn;
    d->hook_data = data;
    pthread_mutex_unlock(&d->mu);
}
