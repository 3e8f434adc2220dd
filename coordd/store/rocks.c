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
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <rocksdb/c.h>
#include <string.h>
#include <sys/stat.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "store_int.h"

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
                    uint32_t n, bool sync)
{
    for (uint32_t i = 0; i < n; i++) {
        const struct store_kv_op *o = &ops[i];
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

static int rocks_apply(void *impl, char *err, const struct store_kv_op *ops,
                       uint32_t n, bool sync)
{
    struct rocks *r = impl;
    if (r->wi)
        return apply_wi(r, err, ops, n, sync);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (uint32_t i = 0; i < n; i++) {
        const struct store_kv_op *o = &ops[i];
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

static int rocks_sync(void *impl, char *err)
{
    struct rocks *r = impl;
    if (r->wi)
        return flush_wi(r, err);
    char *e = NULL;
    rocksdb_flush_wal(r->db, 1, &e);
    return e ? rocks_err(err, e, "sync of the write-ahead log") : 0;
}

/* ---- iterators and views ----------------------------------------------- */

static int rocks_iter_open(void *impl, char *err, void *view, uint8_t cf,
                           void **it)
{
    (void)err;
    struct rocks *r = impl;
    struct rocks_view *v = view;
    rocksdb_column_family_handle_t *h = cfh(r, cf);
    if (v) {
        *it = rocksdb_create_iterator_cf(r->db, v->ro, h);
    } else {
        rocksdb_iterator_t *base = rocksdb_create_iterator_cf(r->db, r->ro, h);
        *it = r->wi ? rocksdb_writebatch_wi_create_iterator_with_base_cf(
                          r->wi, base, h)
                    : base;
    }
    return 0;
}

static void rocks_iter_seek(void *it, const uint8_t *key, uint32_t klen)
{
    rocksdb_iter_seek(it, (const char *)key, klen);
}

static void rocks_iter_seek_prev(void *it, const uint8_t *key, uint32_t klen)
{
    rocksdb_iter_seek_for_prev(it, (const char *)key, klen);
}

static void rocks_iter_next(void *it)
{
    rocksdb_iter_next(it);
}

static bool rocks_iter_valid(void *it)
{
    return rocksdb_iter_valid(it) != 0;
}

static void rocks_iter_get(void *it, const uint8_t **key, size_t *klen,
                           const uint8_t **val, size_t *vlen)
{
    *key = (const uint8_t *)rocksdb_iter_key(it, klen);
    *val = (const uint8_t *)rocksdb_iter_value(it, vlen);
}

static int rocks_iter_status(void *it, char *err)
{
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    return e ? rocks_err(err, e, "iterator") : 0;
}

static void rocks_iter_close(void *it)
{
    rocksdb_iter_destroy(it);
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
    coord_free(r);
}

/* Unsynced writes held in power-loss mode are dropped here, as a power cut
 * would drop them; otherwise RocksDB's WAL keeps them. */
static void rocks_close(void *impl, bool crash)
{
    (void)crash;
    rocks_free(impl);
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
    if (rc) {
        rocks_free(r);
        return rc;
    }
    return store__open_common(s, &rocks_ops, r, opts);
}
