/* rocks.c -- the RocksDB storage backend: the only file in coord that
 * includes <rocksdb/c.h>.
 *
 * How it fits: implements store_int.h's backend ops (ordered key-value,
 * three column families, atomic batches, sync, consistent views) on one
 * RocksDB database per data directory; store.c decides what to write.
 * Every RocksDB error is translated here, at entry, into COORD_EIO plus a
 * message, and the RocksDB string is released with rocksdb_free(). It must
 * not retry a failed write or sync, and never disables the WAL.
 *
 * Power-loss mode keeps writes in a WriteBatchWithIndex (reads see it
 * through a base-delta iterator) and writes it to RocksDB with sync = true
 * only at a sync, so killing the process loses exactly the unsynced writes.
 * A WriteBatchWithIndex cannot hold a DeleteRange, so in that mode a range
 * delete becomes point deletes of the keys present.
 *
 * Log segments (the default; store format 2): the "log" column family is
 * not kept in RocksDB but in a struct seglog in <dir>/log-segments
 * (seglog.h). A batch is split: its RocksDB part is written first (synced
 * whenever log operations follow; earlier unsynced RocksDB writes are
 * flushed before any log operation, so batches stay durable in call
 * order), then its log operations, in order, as seglog calls, each durable
 * on return (also in power-loss mode); an error once part of a batch is
 * durable is sticky (every later write refused). Only the
 * shapes store.c emits are accepted on the log: a run of PUTs (append),
 * DELRANGE [from, end) (truncate), ["", below) (compact) and ["", end)
 * (drop); anything else is COORD_EINVAL. Log iterators walk the seglog.
 * docs/storage.md "Log segments" has the crash argument and the upgrade
 * from format 1.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "seglog.h"
#include "store_int.h"

/* The segment directory inside the data directory. */
#define ROCKS_SEG_DIR "/log-segments"
/* Migration from format 1: at most this many records per seglog_append,
 * and a flush once the batch holds half a segment (log_segment_bytes / 2)
 * of values, so big entries never make a batch seglog refuses. */
#define ROCKS_MIGRATE_BATCH 1024u

static const char *const cf_names[STORE_CF_COUNT + 1] = {
    "default", "log", "meta", "snap",
};

struct rocks {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_column_family_handle_t *cfh[STORE_CF_COUNT + 1]; /* [0] default */
    rocksdb_writeoptions_t *wo_sync;
    rocksdb_writeoptions_t *wo_async;
    rocksdb_readoptions_t *ro;
    rocksdb_writebatch_wi_t *wi; /* power-loss mode: unsynced writes */
    struct seglog *seg;  /* log segments on: the log cf lives here */
    bool dirty;          /* seg: an unsynced RocksDB write since a sync */
    struct seglog_rec *recs; /* seg: append scratch */
    uint32_t recs_cap;
    char *segdir;        /* seg: the segment directory's path */
    uint64_t seg_bytes;  /* seg: log_segment_bytes (0: seglog's default) */
    int failed;          /* seg: 0, or the error that left a batch half
                          * applied (sticky: every later write refused) */
    char ferr[STORE_ERRMSG_BYTES];
};

/* An iterator: over RocksDB, or (log segments) over the seglog. */
enum { ROCKS_IT_DB = 1, ROCKS_IT_SEG = 2 };

struct rocks_it {
    int kind;
    rocksdb_iterator_t *it; /* ROCKS_IT_DB */
    struct rocks *r;        /* ROCKS_IT_SEG: the rest */
    uint64_t pos;
    bool valid;
    int status;
    uint8_t key[8];
    uint8_t *buf;
    size_t cap;
    uint32_t len;
    char err[STORE_ERRMSG_BYTES];
};

struct rocks_view {
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro;
};

/* Translates a RocksDB error: COORD_EIO with "what: rocksdb's message". */
static int rocks_err(char *err, char *e, const char *what)
{
    store__errf(err, "rocksdb: %s: %s", what, e ? e : "unknown error");
    rocksdb_free(e);
    return COORD_EIO;
}

static rocksdb_column_family_handle_t *cfh(struct rocks *r, uint8_t cf)
{
    coord_assert(cf < STORE_CF_COUNT);
    return r->cfh[cf + 1];
}

/* A key above every key of the column families (as store.c's). */
static const uint8_t key_end[17] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* ---- writes ------------------------------------------------------------- */

static int flush_wi(struct rocks *r, char *err)
{
    char *e = NULL;
    rocksdb_write_writebatch_wi(r->db, r->wo_sync, r->wi, &e);
    if (e)
        return rocks_err(err, e, "synced write of held batch");
    rocksdb_writebatch_wi_clear(r->wi);
    return 0;
}

/* Power-loss mode: a range delete as point deletes of the keys that the
 * held batch plus the database contain. Keys are collected first: the
 * batch must not change under its own iterator. */
static int wi_delrange(struct rocks *r, char *err, const struct store_kv_op *o)
{
    rocksdb_column_family_handle_t *h = cfh(r, o->cf);
    rocksdb_iterator_t *it = rocksdb_writebatch_wi_create_iterator_with_base_cf(
        r->wi, rocksdb_create_iterator_cf(r->db, r->ro, h), h);
    char **keys = NULL;
    size_t *lens = NULL, n = 0, cap = 0;
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)o->key, o->klen);
         rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        size_t m = kl < o->vlen ? kl : o->vlen;
        int c = memcmp(k, o->val, m);
        if (c > 0 || (c == 0 && kl >= o->vlen))
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nk = coord_realloc(keys, cap * sizeof(*keys));
            keys = nk ? nk : keys;
            size_t *nl = nk ? coord_realloc(lens, cap * sizeof(*lens)) : NULL;
            lens = nl ? nl : lens;
            if (!nk || !nl) {
                rc = COORD_ENOMEM;
                break;
            }
        }
        keys[n] = coord_strndup(k, kl);
        lens[n] = kl;
        if (!keys[n]) {
            rc = COORD_ENOMEM;
            break;
        }
        n++;
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    if (e && rc == 0)
        rc = rocks_err(err, e, "iterate for range delete");
    else if (e)
        rocksdb_free(e);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rocksdb_writebatch_wi_delete_cf(r->wi, h, keys[i], lens[i]);
        coord_free(keys[i]);
    }
    coord_free(keys);
    coord_free(lens);
    if (rc == COORD_ENOMEM)
        store__errf(err, "rocksdb: out of memory in range delete");
    return rc;
}

static int apply_wi(struct rocks *r, char *err, const struct store_kv_op *ops,
                    uint32_t n, bool sync, bool skip_log)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct store_kv_op *o = &ops[i];
        if (skip_log && o->cf == STORE_CF_LOG)
            continue;
        rocksdb_column_family_handle_t *h = cfh(r, o->cf);
        if (o->kind == STORE_KV_PUT) {
            rocksdb_writebatch_wi_put_cf(r->wi, h, (const char *)o->key,
                                         o->klen, (const char *)o->val,
                                         o->vlen);
        } else if (o->kind == STORE_KV_DEL) {
            rocksdb_writebatch_wi_delete_cf(r->wi, h, (const char *)o->key,
                                            o->klen);
        } else {
            int rc = wi_delrange(r, err, o);
            if (rc)
                return rc;
        }
    }
    return sync ? flush_wi(r, err) : 0;
}

/* Writes ops (without the log cf's if skip_log) as one RocksDB batch, or
 * into the held batch in power-loss mode. */
static int db_write(struct rocks *r, char *err, const struct store_kv_op *ops,
                    uint32_t n, bool sync, bool skip_log)
{
    if (r->wi)
        return apply_wi(r, err, ops, n, sync, skip_log);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (uint32_t i = 0; i < n; i++) {
        const struct store_kv_op *o = &ops[i];
        if (skip_log && o->cf == STORE_CF_LOG)
            continue;
        rocksdb_column_family_handle_t *h = cfh(r, o->cf);
        const char *k = (const char *)o->key, *v = (const char *)o->val;
        if (o->kind == STORE_KV_PUT)
            rocksdb_writebatch_put_cf(wb, h, k, o->klen, v, o->vlen);
        else if (o->kind == STORE_KV_DEL)
            rocksdb_writebatch_delete_cf(wb, h, k, o->klen);
        else
            rocksdb_writebatch_delete_range_cf(wb, h, k, o->klen, v,
                                               o->vlen);
    }
    char *e = NULL;
    rocksdb_write(r->db, sync ? r->wo_sync : r->wo_async, wb, &e);
    rocksdb_writebatch_destroy(wb);
    return e ? rocks_err(err, e, sync ? "synced write" : "write") : 0;
}

/* Makes every RocksDB write so far durable. */
static int db_sync(struct rocks *r, char *err)
{
    if (r->wi)
        return flush_wi(r, err);
    char *e = NULL;
    rocksdb_flush_wal(r->db, 1, &e);
    return e ? rocks_err(err, e, "sync of the write-ahead log") : 0;
}

/* ---- the log in segments ----------------------------------------------- */

static bool is_key_end(const uint8_t *k, uint32_t n)
{
    if (n <= 8)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (k[i] != 0xff)
            return false;
    return true;
}

/* Checks that every log op has a shape seg_apply knows; counts them. */
static int seg_check(char *err, const struct store_kv_op *ops, uint32_t n,
                     uint32_t *nlog)
{
    *nlog = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct store_kv_op *o = &ops[i];
        if (o->cf != STORE_CF_LOG)
            continue;
        (*nlog)++;
        bool ok;
        if (o->kind == STORE_KV_PUT)
            ok = o->klen == 8 && o->vlen > 0;
        else if (o->kind == STORE_KV_DELRANGE)
            ok = (o->klen == 8 && is_key_end(o->val, o->vlen)) ||
                 (o->klen == 0 &&
                  (o->vlen == 8 || is_key_end(o->val, o->vlen)));
        else
            ok = false;
        if (!ok) {
            store__errf(err, "log segments: op %u (kind %u, key of %u "
                        "bytes, value/end of %u bytes) is not an append, "
                        "truncation or compaction of the log", i, o->kind,
                        o->klen, o->vlen);
            return COORD_EINVAL;
        }
    }
    return 0;
}

/* Makes room for n records in the append scratch, before anything of a
 * batch is written (so that running out of memory changes nothing). */
static int seg_reserve(struct rocks *r, char *err, uint32_t n)
{
    if (n <= r->recs_cap)
        return 0;
    struct seglog_rec *nr = coord_realloc(r->recs, (size_t)n * sizeof(*nr));
    if (!nr) {
        store__errf(err, "log segments: out of memory");
        return COORD_ENOMEM;
    }
    r->recs = nr;
    r->recs_cap = n;
    return 0;
}

/* Appends the run of log PUTs starting at ops[*i] (ops of other column
 * families in between are skipped: already written) in one call. The
 * scratch holds every log op of the batch (seg_reserve). */
static int seg_append_run(struct rocks *r, char *err,
                          const struct store_kv_op *ops, uint32_t n,
                          uint32_t *i)
{
    uint32_t k = 0;
    for (; *i < n; (*i)++) {
        const struct store_kv_op *o = &ops[*i];
        if (o->cf != STORE_CF_LOG)
            continue;
        if (o->kind != STORE_KV_PUT)
            break;
        coord_assert(k < r->recs_cap);
        r->recs[k++] = (struct seglog_rec){store__get_u64(o->key), o->val,
                                           o->vlen};
    }
    return k ? seglog_append(r->seg, r->recs, k, err) : 0;
}

/* The log ops of ops, in order, as seglog calls (seg_check passed).
 * *done: how many seglog calls succeeded. */
static int seg_apply(struct rocks *r, char *err,
                     const struct store_kv_op *ops, uint32_t n,
                     uint32_t *done)
{
    uint32_t i = 0;
    *done = 0;
    while (i < n) {
        const struct store_kv_op *o = &ops[i];
        int rc = 0;
        if (o->cf != STORE_CF_LOG) {
            i++;
            continue;
        }
        if (o->kind == STORE_KV_PUT) {
            rc = seg_append_run(r, err, ops, n, &i);
        } else {
            i++;
            if (o->klen == 8)
                rc = seglog_truncate(r->seg, store__get_u64(o->key), err);
            else if (o->vlen == 8)
                rc = seglog_compact(r->seg, store__get_u64(o->val), err);
            else
                rc = seglog_compact(r->seg, UINT64_MAX, err);
        }
        if (rc)
            return rc;
        (*done)++;
    }
    return 0;
}

/* Refuses every write once a batch was left half applied. */
static int seg_failed(const struct rocks *r, char *err)
{
    if (!r->failed)
        return 0;
    store__errf(err, "%s (an earlier batch failed part-way; restart)",
                r->ferr);
    return COORD_EIO;
}

/* An error after part of a batch is durable: sticky, as COORD_EIO. */
static int seg_stick(struct rocks *r, char *err)
{
    r->failed = COORD_EIO;
    snprintf(r->ferr, sizeof(r->ferr), "%s", err);
    return COORD_EIO;
}

/* With segments: the RocksDB part first (synced if log ops follow, so
 * that hard state and snapshot metadata are durable before any log change
 * they come with), then the log ops. Log ops are durable at once, so a
 * batch with any (or a synced one) first syncs earlier unsynced RocksDB
 * writes: batches become durable in call order. An error once part of the
 * batch is durable is sticky. */
static int rocks_apply(void *impl, char *err, const struct store_kv_op *ops,
                       uint32_t n, bool sync)
{
    struct rocks *r = impl;
    if (!r->seg)
        return db_write(r, err, ops, n, sync, false);
    uint32_t nlog, done = 0;
    int rc = seg_failed(r, err);
    if (rc == 0)
        rc = seg_check(err, ops, n, &nlog);
    if (rc == 0)
        rc = seg_reserve(r, err, nlog);
    if (rc)
        return rc;
    if (nlog < n) {
        bool dsync = sync || nlog > 0;
        rc = db_write(r, err, ops, n, dsync, true);
        if (rc == 0)
            r->dirty = !dsync;
    } else if (r->dirty && (sync || nlog > 0)) {
        rc = db_sync(r, err);
        if (rc == 0)
            r->dirty = false;
    }
    if (rc == 0 && nlog) {
        rc = seg_apply(r, err, ops, n, &done);
        if (rc && (nlog < n || done > 0))
            rc = seg_stick(r, err);
    }
    return rc;
}

/* store_ops.append_begin: the asynchronous path only while nothing of
 * RocksDB waits for a sync (rocks_apply would sync it first). */
static int rocks_append_begin(void *impl, char *err,
                              const struct store_kv_op *ops, uint32_t n,
                              struct store_io *io)
{
    struct rocks *r = impl;
    if (!r->seg || r->dirty) {
        store__errf(err, "append: %s", r->seg ? "unsynced writes first"
                                              : "no log segments");
        return COORD_EAGAIN;
    }
    int rc = seg_failed(r, err);
    if (rc == 0)
        rc = seg_reserve(r, err, n);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        coord_assert(ops[i].cf == STORE_CF_LOG &&
                     ops[i].kind == STORE_KV_PUT && ops[i].klen == 8);
        r->recs[i] = (struct seglog_rec){store__get_u64(ops[i].key),
                                         ops[i].val, ops[i].vlen};
    }
    struct seglog_io sio;
    rc = seglog_append_begin(r->seg, r->recs, n, &sio, err);
    if (rc == 0)
        *io = (struct store_io){sio.fd, sio.buf, sio.len, sio.off};
    return rc;
}

static int rocks_append_end(void *impl, char *err, int64_t res)
{
    struct rocks *r = impl;
    if (!r->seg) {
        store__errf(err, "append: no log segments");
        return COORD_EINVAL;
    }
    int rc = seglog_append_end(r->seg, res, err);
    return rc ? seg_stick(r, err) : 0;
}

static int rocks_sync(void *impl, char *err)
{
    struct rocks *r = impl;
    int rc = seg_failed(r, err);
    if (rc)
        return rc;
    if (r->seg && !r->dirty)
        return 0; /* the seglog is durable already */
    rc = db_sync(r, err);
    if (rc == 0)
        r->dirty = false;
    return rc;
}

/* store_ops.log_bounds: known with segments (seglog checked every record
 * and the contiguity at open). */
static int rocks_log_bounds(void *impl, char *err, bool *known,
                            uint64_t *first, uint64_t *last)
{
    struct rocks *r = impl;
    *known = r->seg != NULL;
    *first = 0;
    *last = 0;
    if (!r->seg)
        return 0;
    int rc = seg_failed(r, err);
    if (rc)
        return rc;
    *last = seglog_last(r->seg);
    *first = *last ? seglog_first(r->seg) : 0;
    return 0;
}

/* store_ops.log_repair: what seglog_open zeroed after a torn write. */
static void rocks_log_repair(void *impl, uint64_t *bytes, uint64_t *at)
{
    struct rocks *r = impl;
    struct seglog_stats st;
    *bytes = *at = 0;
    if (!r->seg)
        return;
    seglog_get_stats(r->seg, &st);
    *bytes = st.tail_zeroed;
    *at = st.tail_zeroed_at;
}

/* ---- iterators and views ----------------------------------------------- */

/* Positions a seglog iterator at pos, reading its value, or makes it
 * invalid if pos is outside the log. */
static void seg_at(struct rocks_it *it, uint64_t pos)
{
    struct seglog *l = it->r->seg;
    uint64_t first = seglog_first(l), last = seglog_last(l);
    it->valid = false;
    if (it->status || last == 0 || pos < first || pos > last)
        return;
    it->pos = pos;
    int rc = seglog_read(l, pos, &it->buf, &it->cap, &it->len, it->err);
    if (rc) {
        it->status = rc;
        return;
    }
    store__put_u64(it->key, pos);
    it->valid = true;
}

/* The smallest index whose 8-byte key is >= key (keys compare as bytes,
 * shorter first); false if none. */
static bool seg_ceil(const uint8_t *key, uint32_t klen, uint64_t *v)
{
    uint8_t k[8] = {0};
    memcpy(k, key, klen < 8 ? klen : 8);
    *v = store__get_u64(k);
    if (klen <= 8)
        return true;
    if (*v == UINT64_MAX)
        return false;
    (*v)++;
    return true;
}

/* The greatest index whose 8-byte key is <= key; false if none. */
static bool seg_floor(const uint8_t *key, uint32_t klen, uint64_t *v)
{
    uint8_t k[8] = {0};
    memcpy(k, key, klen < 8 ? klen : 8);
    *v = store__get_u64(k);
    if (klen >= 8)
        return true;
    if (*v == 0)
        return false;
    (*v)--;
    return true;
}

static int rocks_iter_open(void *impl, char *err, void *view, uint8_t cf,
                           void **out)
{
    struct rocks *r = impl;
    struct rocks_view *v = view;
    if (r->seg && cf == STORE_CF_LOG && v) {
        store__errf(err, "log segments: no log iterator over a view");
        return COORD_EINVAL;
    }
    struct rocks_it *it = coord_calloc(1, sizeof(*it));
    if (!it) {
        store__errf(err, "rocksdb: out of memory");
        return COORD_ENOMEM;
    }
    *out = it;
    if (r->seg && cf == STORE_CF_LOG) {
        it->kind = ROCKS_IT_SEG;
        it->r = r;
        return 0;
    }
    it->kind = ROCKS_IT_DB;
    rocksdb_column_family_handle_t *h = cfh(r, cf);
    if (v) {
        it->it = rocksdb_create_iterator_cf(r->db, v->ro, h);
    } else {
        rocksdb_iterator_t *base = rocksdb_create_iterator_cf(r->db, r->ro, h);
        it->it = r->wi ? rocksdb_writebatch_wi_create_iterator_with_base_cf(
                             r->wi, base, h)
                       : base;
    }
    return 0;
}

static void rocks_iter_seek(void *p, const uint8_t *key, uint32_t klen)
{
    struct rocks_it *it = p;
    uint64_t v;
    if (it->kind == ROCKS_IT_DB) {
        rocksdb_iter_seek(it->it, (const char *)key, klen);
    } else if (!seg_ceil(key, klen, &v)) {
        it->valid = false;
    } else {
        uint64_t first = seglog_first(it->r->seg);
        seg_at(it, v < first ? first : v);
    }
}

static void rocks_iter_seek_prev(void *p, const uint8_t *key, uint32_t klen)
{
    struct rocks_it *it = p;
    uint64_t v;
    if (it->kind == ROCKS_IT_DB) {
        rocksdb_iter_seek_for_prev(it->it, (const char *)key, klen);
    } else if (!seg_floor(key, klen, &v)) {
        it->valid = false;
    } else {
        uint64_t last = seglog_last(it->r->seg);
        seg_at(it, v > last ? last : v);
    }
}

static void rocks_iter_next(void *p)
{
    struct rocks_it *it = p;
    if (it->kind == ROCKS_IT_DB)
        rocksdb_iter_next(it->it);
    else if (it->valid)
        seg_at(it, it->pos + 1);
}

static bool rocks_iter_valid(void *p)
{
    struct rocks_it *it = p;
    if (it->kind == ROCKS_IT_DB)
        return rocksdb_iter_valid(it->it) != 0;
    return it->valid;
}

static void rocks_iter_get(void *p, const uint8_t **key, size_t *klen,
                           const uint8_t **val, size_t *vlen)
{
    struct rocks_it *it = p;
    if (it->kind == ROCKS_IT_DB) {
        *key = (const uint8_t *)rocksdb_iter_key(it->it, klen);
        *val = (const uint8_t *)rocksdb_iter_value(it->it, vlen);
        return;
    }
    coord_assert(it->valid);
    *key = it->key;
    *klen = 8;
    *val = it->buf;
    *vlen = it->len;
}

static int rocks_iter_status(void *p, char *err)
{
    struct rocks_it *it = p;
    if (it->kind == ROCKS_IT_SEG) {
        if (it->status)
            store__errf(err, "%s", it->err);
        return it->status;
    }
    char *e = NULL;
    rocksdb_iter_get_error(it->it, &e);
    return e ? rocks_err(err, e, "iterator") : 0;
}

static void rocks_iter_close(void *p)
{
    struct rocks_it *it = p;
    if (it->kind == ROCKS_IT_DB)
        rocksdb_iter_destroy(it->it);
    coord_free(it->buf);
    coord_free(it);
}

/* Views see the database only: in power-loss mode, what is held in memory
 * is not part of them (snapshot commits sync first, so a committed
 * snapshot always is). */
static int rocks_view_open(void *impl, char *err, void **view)
{
    struct rocks *r = impl;
    struct rocks_view *v = coord_malloc(sizeof(*v));
    if (!v) {
        store__errf(err, "rocksdb: out of memory");
        return COORD_ENOMEM;
    }
    v->snap = rocksdb_create_snapshot(r->db);
    v->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(v->ro, v->snap);
    *view = v;
    return 0;
}

static void rocks_view_close(void *impl, void *view)
{
    struct rocks *r = impl;
    struct rocks_view *v = view;
    rocksdb_readoptions_destroy(v->ro);
    rocksdb_release_snapshot(r->db, v->snap);
    coord_free(v);
}

static void rocks_free(struct rocks *r)
{
    for (int i = 0; i <= STORE_CF_COUNT; i++)
        if (r->cfh[i])
            rocksdb_column_family_handle_destroy(r->cfh[i]);
    if (r->db)
        rocksdb_close(r->db);
    if (r->wi)
        rocksdb_writebatch_wi_destroy(r->wi);
    if (r->wo_sync)
        rocksdb_writeoptions_destroy(r->wo_sync);
    if (r->wo_async)
        rocksdb_writeoptions_destroy(r->wo_async);
    if (r->ro)
        rocksdb_readoptions_destroy(r->ro);
    if (r->opts)
        rocksdb_options_destroy(r->opts);
    if (r->seg)
        seglog_close(r->seg);
    coord_free(r->recs);
    coord_free(r->segdir);
    coord_free(r);
}

/* Unsynced writes held in power-loss mode are dropped here, as a power cut
 * would drop them; otherwise RocksDB's WAL keeps them. */
static void rocks_close(void *impl, bool crash)
{
    (void)crash;
    rocks_free(impl);
}

/* ---- format and migration -------------------------------------------- */

/* *empty: RocksDB's own log column family holds no record. */
static int db_log_empty(struct rocks *r, char *err, bool *empty)
{
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(r->db, r->ro, cfh(r, STORE_CF_LOG));
    rocksdb_iter_seek_to_first(it);
    *empty = !rocksdb_iter_valid(it);
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    return e ? rocks_err(err, e, "iterate the log column family") : 0;
}

/* One synced RocksDB batch: ident (format 2) if ident, and the deletion of
 * the log column family. */
static int db_switch(struct rocks *r, char *err, const uint8_t *ident,
                     uint32_t ilen)
{
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    if (ident)
        rocksdb_writebatch_put_cf(wb, cfh(r, STORE_CF_META), "ident", 5,
                                  (const char *)ident, ilen);
    rocksdb_writebatch_delete_range_cf(wb, cfh(r, STORE_CF_LOG), "", 0,
                                       (const char *)key_end,
                                       sizeof(key_end));
    char *e = NULL;
    rocksdb_write(r->db, r->wo_sync, wb, &e);
    rocksdb_writebatch_destroy(wb);
    return e ? rocks_err(err, e, "synced write (log migration)") : 0;
}

/* Appends recs[0..n) (values owned) and frees the values. */
static int migrate_flush(struct rocks *r, char *err, struct seglog_rec *recs,
                         uint32_t *n, int rc)
{
    if (rc == 0 && *n)
        rc = seglog_append(r->seg, recs, *n, err);
    for (uint32_t i = 0; i < *n; i++)
        coord_free((void *)recs[i].val);
    *n = 0;
    return rc;
}

/* Copies one record at the iterator into recs[*n]; *bytes += its size. */
static int migrate_rec(rocksdb_iterator_t *it, char *err,
                       struct seglog_rec *recs, uint32_t *n, uint64_t *prev,
                       uint64_t *bytes)
{
    size_t kl, vl;
    const char *k = rocksdb_iter_key(it, &kl);
    const char *v = rocksdb_iter_value(it, &vl);
    uint64_t index = kl == 8 ? store__get_u64((const uint8_t *)k) : 0;
    if (kl != 8 || vl == 0 || vl > UINT32_MAX || index == 0 ||
        (*prev && index != *prev + 1)) {
        store__errf(err, "log migration: record after entry %llu (key of "
                    "%zu bytes, index %llu, %zu bytes) is malformed or "
                    "leaves a gap", (unsigned long long)*prev, kl,
                    (unsigned long long)index, vl);
        return COORD_ECORRUPT;
    }
    uint8_t *copy = coord_malloc(vl);
    if (!copy) {
        store__errf(err, "log migration: out of memory");
        return COORD_ENOMEM;
    }
    memcpy(copy, v, vl);
    recs[(*n)++] = (struct seglog_rec){index, copy, (uint32_t)vl};
    *prev = index;
    *bytes += vl;
    return 0;
}

/* fsyncs the directory at path. */
static int sync_dir(char *err, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        store__errf(err, "log migration: sync directory %s: %s", path,
                    strerror(errno));
        if (fd >= 0)
            close(fd);
        return COORD_EIO;
    }
    close(fd);
    return 0;
}

/* Makes the segment directory's entries and its own entry in the data
 * directory durable. seglog already syncs both where it changes them;
 * migration checks again because the switch that follows deletes the
 * only other copy of the log. */
static int migrate_sync_dirs(struct rocks *r, char *err)
{
    int rc = sync_dir(err, r->segdir);
    size_t n = strlen(r->segdir) - (sizeof(ROCKS_SEG_DIR) - 1);
    char *data = rc == 0 ? coord_strndup(r->segdir, n) : NULL;
    if (rc == 0 && !data) {
        store__errf(err, "log migration: out of memory");
        return COORD_ENOMEM;
    }
    if (rc == 0)
        rc = sync_dir(err, n ? data : "/");
    coord_free(data);
    return rc;
}

/* Format 1 -> 2: empties the seglog (a copy interrupted by a crash is
 * redone from the start), copies every record of RocksDB's log column
 * family into it (durable as it goes; batches of at most half a segment),
 * syncs the segment directory and its parent, then switches in one synced
 * batch: ident says 2 and the column family is emptied. A crash before
 * that batch leaves format 1 with its log intact; after it, format 2. */
static int migrate(struct rocks *r, char *err, const struct store_options *o)
{
    int rc = seglog_compact(r->seg, UINT64_MAX, err);
    if (rc)
        return rc;
    struct seglog_rec *recs =
        coord_malloc(ROCKS_MIGRATE_BATCH * sizeof(*recs));
    if (!recs) {
        store__errf(err, "log migration: out of memory");
        return COORD_ENOMEM;
    }
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(r->db, r->ro, cfh(r, STORE_CF_LOG));
    uint32_t n = 0;
    uint64_t prev = 0, bytes = 0;
    uint64_t half = (r->seg_bytes ? r->seg_bytes
                                  : SEGLOG_SEGMENT_BYTES_DEFAULT) / 2;
    for (rocksdb_iter_seek_to_first(it); rc == 0 && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        rc = migrate_rec(it, err, recs, &n, &prev, &bytes);
        if (rc == 0 && (n == ROCKS_MIGRATE_BATCH || bytes >= half)) {
            rc = migrate_flush(r, err, recs, &n, rc);
            bytes = 0;
        }
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    if (e && rc == 0)
        rc = rocks_err(err, e, "log migration: iterate");
    else if (e)
        rocksdb_free(e);
    rc = migrate_flush(r, err, recs, &n, rc);
    coord_free(recs);
    if (rc == 0)
        rc = migrate_sync_dirs(r, err);
    if (rc)
        return rc;
    uint8_t ident[32];
    uint32_t ilen = store__encode_ident(ident, STORE_FORMAT_SEGMENTS,
                                        o->cluster_id, o->node_id);
    return db_switch(r, err, ident, ilen);
}

/* store_ops.format: format 1 keeps the log in RocksDB, 2 in segments. */
static int rocks_format(void *impl, char *err, uint32_t *fmt,
                        const struct store_options *o)
{
    struct rocks *r = impl;
    bool empty;
    if (*fmt == STORE_FORMAT_SEGMENTS && !r->seg) {
        store__errf(err, "this data directory keeps its Raft log in "
                    "segment files (format 2): it cannot be opened with "
                    "log_segments off; turn log_segments on");
        return COORD_EINVAL;
    }
    if (!r->seg) {
        *fmt = *fmt ? *fmt : STORE_FORMAT_ROCKS_LOG;
        return 0;
    }
    int rc = db_log_empty(r, err, &empty);
    if (rc)
        return rc;
    if (*fmt == 0 && !empty) {
        store__errf(err, "no identity record (meta/ident) but log data "
                    "present: not a coordd store or damaged");
        return COORD_ECORRUPT;
    }
    if (*fmt == STORE_FORMAT_ROCKS_LOG) {
        rc = migrate(r, err, o);
    } else if (!empty) {
        /* Format 2 never writes there: only a future writer could have;
         * treat as leftovers and drop them. */
        rc = db_switch(r, err, NULL, 0);
    }
    if (rc == 0)
        *fmt = STORE_FORMAT_SEGMENTS;
    return rc;
}

static const struct store_ops rocks_ops = {
    .apply = rocks_apply,
    .sync = rocks_sync,
    .iter_open = rocks_iter_open,
    .iter_seek = rocks_iter_seek,
    .iter_seek_prev = rocks_iter_seek_prev,
    .iter_next = rocks_iter_next,
    .iter_valid = rocks_iter_valid,
    .iter_get = rocks_iter_get,
    .iter_status = rocks_iter_status,
    .iter_close = rocks_iter_close,
    .view_open = rocks_view_open,
    .view_close = rocks_view_close,
    .close = rocks_close,
    .format = rocks_format,
    .log_bounds = rocks_log_bounds,
    .log_repair = rocks_log_repair,
    .append_begin = rocks_append_begin,
    .append_end = rocks_append_end,
};

/* ---- open -------------------------------------------------------------- */

/* Creates dir if missing; refuses a non-empty directory without a RocksDB
 * CURRENT file (not ours: never write into it). *exists: a database is
 * there. */
static int check_dir(char *err, const char *dir, bool *exists)
{
    *exists = false;
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST) {
        store__errf(err, "cannot create data directory %s: %s", dir,
                    strerror(errno));
        return COORD_EIO;
    }
    DIR *d = opendir(dir);
    if (!d) {
        store__errf(err, "cannot open data directory %s: %s", dir,
                    strerror(errno));
        return COORD_EIO;
    }
    bool other = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (strcmp(de->d_name, "CURRENT") == 0)
            *exists = true;
        else
            other = true;
    }
    closedir(d);
    if (other && !*exists) {
        store__errf(err, "%s is not a coordd data directory: it holds files "
                    "but no database; refusing to write into it", dir);
        return COORD_EINVAL;
    }
    return 0;
}

/* An existing database must have exactly our column families. */
static int check_cfs(struct rocks *r, char *err, const char *dir)
{
    char *e = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(r->opts, dir, &n, &e);
    if (e)
        return rocks_err(err, e, "list column families");
    unsigned found = 0;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c <= STORE_CF_COUNT; c++)
            if (strcmp(names[i], cf_names[c]) == 0)
                found |= 1u << c;
    rocksdb_list_column_families_destroy(names, n);
    if (n != STORE_CF_COUNT + 1 || found != (1u << (STORE_CF_COUNT + 1)) - 1) {
        store__errf(err, "%s holds a RocksDB database without coordd's "
                    "column families (log, meta, snap): not ours", dir);
        return COORD_EINVAL;
    }
    return 0;
}

static int open_db(struct rocks *r, char *err, const char *dir)
{
    const rocksdb_options_t *cfo[STORE_CF_COUNT + 1];
    for (int c = 0; c <= STORE_CF_COUNT; c++)
        cfo[c] = r->opts;
    char *e = NULL;
    r->db = rocksdb_open_column_families(r->opts, dir, STORE_CF_COUNT + 1,
                                         (const char *const *)cf_names, cfo,
                                         r->cfh, &e);
    if (e) {
        memset(r->cfh, 0, sizeof(r->cfh));
        r->db = NULL;
        return rocks_err(err, e, "open");
    }
    return 0;
}

/* Opens the segment log in dir/log-segments (created if missing). */
static int open_seg(struct rocks *r, char *err, const char *dir,
                    const struct store_options *opts)
{
    size_t n = strlen(dir) + sizeof(ROCKS_SEG_DIR);
    char *path = coord_malloc(n);
    if (!path) {
        store__errf(err, "log segments: out of memory");
        return COORD_ENOMEM;
    }
    snprintf(path, n, "%s%s", dir, ROCKS_SEG_DIR);
    struct seglog_options so = {
        .segment_bytes = opts->log_segment_bytes,
        .spare_chunk_bytes = opts->log_spare_chunk_bytes};
    int rc = seglog_open(&r->seg, path, &so, err);
    if (rc) {
        r->seg = NULL;
        coord_free(path);
        return rc;
    }
    r->segdir = path; /* freed by rocks_free */
    r->seg_bytes = opts->log_segment_bytes;
    return 0;
}

int store_open_rocks(struct store *s, const char *dir,
                     const struct store_options *opts)
{
    memset(s, 0, sizeof(*s));
    bool exists;
    int rc = check_dir(s->errmsg, dir, &exists);
    if (rc)
        return rc;
    struct rocks *r = coord_calloc(1, sizeof(*r));
    if (!r) {
        store__errf(s->errmsg, "rocksdb: out of memory");
        return COORD_ENOMEM;
    }
    r->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->opts, 1);
    rocksdb_options_set_create_missing_column_families(r->opts, 1);
    rocksdb_options_set_paranoid_checks(r->opts, 1);
    rocksdb_options_set_keep_log_file_num(r->opts, 4);
    r->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wo_sync, 1);
    r->wo_async = rocksdb_writeoptions_create();
    r->ro = rocksdb_readoptions_create();
    if (opts->power_loss)
        r->wi = rocksdb_writebatch_wi_create(0, 1);
    if (exists)
        rc = check_cfs(r, s->errmsg, dir);
    if (rc == 0)
        rc = open_db(r, s->errmsg, dir);
    if (rc == 0 && !opts->rocks_log)
        rc = open_seg(r, s->errmsg, dir, opts);
    if (rc) {
        rocks_free(r);
        return rc;
    }
    return store__open_common(s, &rocks_ops, r, opts);
}
