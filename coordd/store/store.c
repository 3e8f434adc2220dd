/* store.c -- the storage logic shared by both backends: record encoding
 * with checksums, data directory identity, the log operations and the
 * snapshot scheme (store.h has the key layout).
 *
 * How it fits: rocks.c and mem.c are thin ordered key-value backends
 * (store_int.h); everything that decides what is written, and how it is
 * checked when read back, is here, once. It must not include RocksDB or
 * anything from raft/, tree/ or net/, and never trusts bytes read back:
 * every record is length- and checksum-checked before use.
 */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "store_int.h"

#define LOG_HDR 17       /* crc + term + type + len */
#define IDENT_LEN 24
#define HARD_LEN 20
#define SNAP_META_HDR 40
#define SNAP_KEY_LEN 16

static const uint8_t key_ident[] = "ident";
static const uint8_t key_hard[] = "hard";
static const uint8_t key_snap[] = "snap";
#define META_KEY(k) (k), (uint32_t)(sizeof(k) - 1)

/* A key greater than every key of the column families (all are shorter). */
static const uint8_t key_end[17] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

void store__errf(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, STORE_ERRMSG_BYTES, fmt, ap);
    va_end(ap);
}

/* ---- CRC32C (Castagnoli), table-driven ---------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw; /* use the crc32 instruction */
static uint32_t crc32c_table(uint32_t crc, const uint8_t *p, size_t len);
#if defined(__x86_64__)
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len);
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    /* Use the instruction only if present and if it gives the standard
     * check value (CRC32C of "123456789" is 0xe3069283) like the table. */
    static const uint8_t check[] = "123456789";
    crc_hw = __builtin_cpu_supports("sse4.2") &&
             ~crc32c_hw(~0u, check, 9) == 0xe3069283u &&
             ~crc32c_table(~0u, check, 9) == 0xe3069283u;
#endif
}

static uint32_t crc32c_table(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction computes exactly CRC32C (Castagnoli), eight
 * bytes per instruction: about 10x the table's speed on the write path.
 * Chosen at run time; the table serves CPUs without it. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    crc = (uint32_t)c;
    for (; len > 0; p++, len--)
        crc = __builtin_ia32_crc32qi(crc, *p);
    return crc;
}
#endif

uint32_t store__crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc32c_hw(crc, data, len);
#endif
    return ~crc32c_table(crc, data, len);
}

/* crc over key || value[4..] */
static uint32_t rec_crc(const uint8_t *key, size_t klen, const uint8_t *val,
                        size_t vlen)
{
    return store__crc32c(store__crc32c(0, key, klen), val + 4, vlen - 4);
}

static void rec_seal(const uint8_t *key, size_t klen, uint8_t *val,
                     size_t vlen)
{
    store__put_u32(val, rec_crc(key, klen, val, vlen));
}

static bool rec_ok(const uint8_t *key, size_t klen, const uint8_t *val,
                   size_t vlen)
{
    return vlen >= 4 && store__get_u32(val) == rec_crc(key, klen, val, vlen);
}

static void snap_key(uint8_t *k, uint64_t gen, uint64_t off)
{
    store__put_u64(k, gen);
    store__put_u64(k + 8, off);
}

/* ---- records ------------------------------------------------------------ */

static uint32_t enc_entry(uint8_t *key, uint8_t *val,
                          const struct store_entry *e)
{
    store__put_u64(key, e->index);
    store__put_u64(val + 4, e->term);
    val[12] = e->type;
    store__put_u32(val + 13, e->len);
    if (e->len)
        memcpy(val + LOG_HDR, e->data, e->len);
    rec_seal(key, 8, val, LOG_HDR + e->len);
    return LOG_HDR + e->len;
}

/* Decodes a log record; out->data borrows val. */
static int dec_entry(char *err, const uint8_t *key, size_t klen,
                     const uint8_t *val, size_t vlen, struct store_entry *out)
{
    if (klen != 8) {
        store__errf(err, "log: key of %zu bytes (want 8)", klen);
        return COORD_ECORRUPT;
    }
    out->index = store__get_u64(key);
    if (vlen < LOG_HDR || store__get_u32(val + 13) != vlen - LOG_HDR) {
        store__errf(err, "log: entry %llu: value of %zu bytes is truncated "
                    "or has a bad length", (unsigned long long)out->index,
                    vlen);
        return COORD_ECORRUPT;
    }
    if (!rec_ok(key, klen, val, vlen)) {
        store__errf(err, "log: entry %llu: checksum mismatch",
                    (unsigned long long)out->index);
        return COORD_ECORRUPT;
    }
    out->term = store__get_u64(val + 4);
    out->type = val[12];
    out->len = (uint32_t)(vlen - LOG_HDR);
    out->data = val + LOG_HDR;
    return 0;
}

uint32_t store__encode_ident(uint8_t *buf, uint32_t format,
                             uint64_t cluster_id, uint64_t node_id)
{
    store__put_u32(buf + 4, format);
    store__put_u64(buf + 8, cluster_id);
    store__put_u64(buf + 16, node_id);
    rec_seal(META_KEY(key_ident), buf, IDENT_LEN);
    return IDENT_LEN;
}

static uint32_t enc_hard(uint8_t *buf, uint64_t term, uint64_t vote)
{
    store__put_u64(buf + 4, term);
    store__put_u64(buf + 12, vote);
    rec_seal(META_KEY(key_hard), buf, HARD_LEN);
    return HARD_LEN;
}

static uint32_t enc_snap_meta(uint8_t *buf, uint64_t gen,
                              const struct store_snap_meta *m)
{
    store__put_u64(buf + 4, gen);
    store__put_u64(buf + 12, m->index);
    store__put_u64(buf + 20, m->term);
    store__put_u64(buf + 28, m->size);
    store__put_u32(buf + 36, m->conf_len);
    memcpy(buf + SNAP_META_HDR, m->conf, m->conf_len);
    rec_seal(META_KEY(key_snap), buf, SNAP_META_HDR + m->conf_len);
    return SNAP_META_HDR + m->conf_len;
}

static int dec_snap_meta(char *err, const uint8_t *v, size_t n,
                         uint64_t *gen, struct store_snap_meta *m)
{
    if (n < SNAP_META_HDR || store__get_u32(v + 36) != n - SNAP_META_HDR ||
        n - SNAP_META_HDR > STORE_CONF_BYTES_MAX) {
        store__errf(err, "meta/snap: record of %zu bytes is malformed", n);
        return COORD_ECORRUPT;
    }
    if (!rec_ok(META_KEY(key_snap), v, n)) {
        store__errf(err, "meta/snap: checksum mismatch");
        return COORD_ECORRUPT;
    }
    *gen = store__get_u64(v + 4);
    m->index = store__get_u64(v + 12);
    m->term = store__get_u64(v + 20);
    m->size = store__get_u64(v + 28);
    m->conf_len = (uint32_t)(n - SNAP_META_HDR);
    memcpy(m->conf, v + SNAP_META_HDR, m->conf_len);
    return 0;
}

/* ---- key-value helpers -------------------------------------------------- */

/* Copies the value of key into out[0..cap). COORD_ENONODE if absent. */
static int kv_get(struct store *s, void *view, char *err, uint8_t cf,
                  const uint8_t *key, uint32_t klen, uint8_t *out,
                  uint32_t cap, uint32_t *len)
{
    void *it;
    int rc = s->ops->iter_open(s->impl, err, view, cf, &it);
    if (rc)
        return rc;
    s->ops->iter_seek(it, key, klen);
    rc = COORD_ENONODE;
    if (s->ops->iter_valid(it)) {
        const uint8_t *k, *v;
        size_t kl, vl;
        s->ops->iter_get(it, &k, &kl, &v, &vl);
        if (kl == klen && memcmp(k, key, klen) == 0) {
            if (vl > cap) {
                store__errf(err, "value of %zu bytes exceeds %u", vl, cap);
                rc = COORD_ECORRUPT;
            } else {
                memcpy(out, v, vl);
                *len = (uint32_t)vl;
                rc = 0;
            }
        }
    }
    if (rc == COORD_ENONODE) {
        int st = s->ops->iter_status(it, err);
        rc = st ? st : rc;
    }
    s->ops->iter_close(it);
    return rc;
}

static int cf_is_empty(struct store *s, uint8_t cf, bool *empty)
{
    void *it;
    int rc = s->ops->iter_open(s->impl, s->errmsg, NULL, cf, &it);
    if (rc)
        return rc;
    s->ops->iter_seek(it, (const uint8_t *)"", 0);
    *empty = !s->ops->iter_valid(it);
    rc = s->ops->iter_status(it, s->errmsg);
    s->ops->iter_close(it);
    return rc;
}

static int apply(struct store *s, const struct store_kv_op *ops, uint32_t n,
                 bool sync)
{
    int rc = s->ops->apply(s->impl, s->errmsg, ops, n, sync);
    if (rc == 0 && sync)
        s->stats.syncs++;
    return rc;
}

/* ---- open and identity -------------------------------------------------- */

static int check_ident(struct store *s, const uint8_t *v, uint32_t n,
                       const struct store_options *o)
{
    if (n != IDENT_LEN || !rec_ok(META_KEY(key_ident), v, n)) {
        store__errf(s->errmsg, "meta/ident: identity record is corrupt "
                    "(%u bytes, checksum or length wrong)", n);
        return COORD_ECORRUPT;
    }
    uint32_t fmt = store__get_u32(v + 4);
    uint64_t cid = store__get_u64(v + 8), nid = store__get_u64(v + 16);
    if (fmt == 0) {
        store__errf(s->errmsg, "meta/ident: format version 0 is invalid");
        return COORD_ECORRUPT;
    }
    if (fmt > STORE_FORMAT_VERSION) {
        store__errf(s->errmsg, "data format version %u is newer than the "
                    "supported %u: refusing to open", fmt,
                    STORE_FORMAT_VERSION);
        return COORD_EINVAL;
    }
    if (cid != o->cluster_id) {
        store__errf(s->errmsg, "data belongs to cluster id %llu, not %llu",
                    (unsigned long long)cid,
                    (unsigned long long)o->cluster_id);
        return COORD_EINVAL;
    }
    if (nid != o->node_id) {
        store__errf(s->errmsg, "data belongs to node id %llu, not %llu",
                    (unsigned long long)nid, (unsigned long long)o->node_id);
        return COORD_EINVAL;
    }
    return 0;
}

/* No identity record: a fresh store gets one; anything else is refused. */
static int record_ident(struct store *s, const struct store_options *o)
{
    for (uint8_t cf = 0; cf < STORE_CF_COUNT; cf++) {
        bool empty;
        int rc = cf_is_empty(s, cf, &empty);
        if (rc)
            return rc;
        if (!empty) {
            store__errf(s->errmsg, "no identity record (meta/ident) but "
                        "data present: not a coordd store or damaged");
            return COORD_ECORRUPT;
        }
    }
    uint32_t fmt = 0;
    if (s->ops->format) {
        int rc = s->ops->format(s->impl, s->errmsg, &fmt, o);
        if (rc)
            return rc;
    } else {
        fmt = STORE_FORMAT_VERSION;
    }
    uint8_t v[IDENT_LEN];
    store__encode_ident(v, fmt, o->cluster_id, o->node_id);
    struct store_kv_op op = {STORE_KV_PUT, STORE_CF_META,
                             META_KEY(key_ident), v, IDENT_LEN};
    return apply(s, &op, 1, true);
}

/* Loads the committed snapshot metadata and drops chunks of any other
 * generation (a stream that never committed). */
static int open_snap(struct store *s)
{
    uint8_t *v = coord_malloc(SNAP_META_HDR + STORE_CONF_BYTES_MAX);
    uint32_t n;
    if (!v)
        return COORD_ENOMEM;
    int rc = kv_get(s, NULL, s->errmsg, STORE_CF_META, META_KEY(key_snap), v,
                    SNAP_META_HDR + STORE_CONF_BYTES_MAX, &n);
    if (rc == 0)
        rc = dec_snap_meta(s->errmsg, v, n, &s->snap_gen, &s->snap);
    else if (rc == COORD_ENONODE)
        rc = 0;
    coord_free(v);
    if (rc)
        return rc;
    uint8_t lo[SNAP_KEY_LEN], hi[SNAP_KEY_LEN];
    snap_key(lo, s->snap_gen, 0);
    snap_key(hi, s->snap_gen + 1, 0);
    struct store_kv_op ops[2] = {
        {STORE_KV_DELRANGE, STORE_CF_SNAP, (const uint8_t *)"", 0, lo,
         SNAP_KEY_LEN},
        {STORE_KV_DELRANGE, STORE_CF_SNAP, hi, SNAP_KEY_LEN, key_end,
         sizeof(key_end)},
    };
    return apply(s, ops, 2, false);
}

int store__open_common(struct store *s, const struct store_ops *ops,
                       void *impl, const struct store_options *o)
{
    s->ops = ops;
    s->impl = impl;
    if (o->cluster_id == 0 || o->node_id == 0) {
        store__errf(s->errmsg, "cluster id and node id must be non-zero");
        ops->close(impl, false);
        s->ops = NULL;
        return COORD_EINVAL;
    }
    s->snap_gen = 0;
    memset(&s->snap, 0, sizeof(s->snap));
    memset(&s->pend, 0, sizeof(s->pend));
    memset(&s->stats, 0, sizeof(s->stats));
    uint8_t v[64];
    uint32_t n;
    int rc = kv_get(s, NULL, s->errmsg, STORE_CF_META, META_KEY(key_ident),
                    v, sizeof(v), &n);
    if (rc == 0)
        rc = check_ident(s, v, n, o);
    if (rc == 0 && ops->format) {
        uint32_t fmt = store__get_u32(v + 4);
        rc = ops->format(impl, s->errmsg, &fmt, o);
    } else if (rc == COORD_ENONODE)
        rc = record_ident(s, o);
    if (rc == 0)
        rc = open_snap(s);
    if (rc) {
        ops->close(impl, false);
        s->ops = NULL;
        s->impl = NULL;
        return rc;
    }
    pthread_mutex_init(&s->mu, NULL);
    return 0;
}

void store__close(struct store *s, bool crash)
{
    if (!s->ops)
        return;
    s->ops->close(s->impl, crash);
    pthread_mutex_destroy(&s->mu);
    s->ops = NULL;
    s->impl = NULL;
}

void store_close(struct store *s)
{
    store__close(s, false);
}

void store_get_stats(struct store *s, struct store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* ---- load --------------------------------------------------------------- */

static int load_meta(struct store *s, struct store_state *out)
{
    uint8_t v[64];
    uint32_t n;
    int rc = kv_get(s, NULL, s->errmsg, STORE_CF_META, META_KEY(key_ident),
                    v, sizeof(v), &n);
    if (rc)
        return rc == COORD_ENONODE ? COORD_ECORRUPT : rc;
    out->format = store__get_u32(v + 4);
    out->cluster_id = store__get_u64(v + 8);
    out->node_id = store__get_u64(v + 16);
    rc = kv_get(s, NULL, s->errmsg, STORE_CF_META, META_KEY(key_hard), v,
                sizeof(v), &n);
    if (rc == COORD_ENONODE)
        return 0;
    if (rc)
        return rc;
    if (n != HARD_LEN || !rec_ok(META_KEY(key_hard), v, n)) {
        store__errf(s->errmsg, "meta/hard: hard state record is corrupt "
                    "(%u bytes, checksum or length wrong)", n);
        return COORD_ECORRUPT;
    }
    out->term = store__get_u64(v + 4);
    out->vote = store__get_u64(v + 12);
    return 0;
}

/* What scan_log saw: the bounds and the term of the snapshot's entry. */
struct log_scan {
    uint64_t first; /* 0: empty log */
    uint64_t last;
    bool has_snap;  /* the log holds the snapshot's index */
    uint64_t snap_term;
};

/* Decodes entry index at the iterator into *e (it must be there). */
static int scan_one(struct store *s, void *it, uint64_t index,
                    struct store_entry *e)
{
    uint8_t key[8];
    store__put_u64(key, index);
    s->ops->iter_seek(it, key, 8);
    if (!s->ops->iter_valid(it)) {
        int rc = s->ops->iter_status(it, s->errmsg);
        if (rc)
            return rc;
        store__errf(s->errmsg, "log: entry %llu is missing",
                    (unsigned long long)index);
        return COORD_ECORRUPT;
    }
    const uint8_t *k, *v;
    size_t kl, vl;
    s->ops->iter_get(it, &k, &kl, &v, &vl);
    int rc = dec_entry(s->errmsg, k, kl, v, vl, e);
    if (rc == 0 && e->index != index) {
        store__errf(s->errmsg, "log: entry %llu is missing",
                    (unsigned long long)index);
        rc = COORD_ECORRUPT;
    }
    return rc;
}

/* The backend checked every record and the contiguity already (log
 * segments): decodes only the first and last entries and the snapshot's,
 * instead of reading the whole log again. */
static int scan_known(struct store *s, struct log_scan *ls, uint64_t first,
                      uint64_t last)
{
    memset(ls, 0, sizeof(*ls));
    if (last == 0)
        return 0;
    void *it;
    struct store_entry e;
    int rc = s->ops->iter_open(s->impl, s->errmsg, NULL, STORE_CF_LOG, &it);
    if (rc)
        return rc;
    rc = scan_one(s, it, first, &e);
    if (rc == 0)
        rc = scan_one(s, it, last, &e);
    if (rc == 0 && s->snap.index >= first && s->snap.index <= last) {
        rc = scan_one(s, it, s->snap.index, &e);
        ls->has_snap = true;
        ls->snap_term = e.term;
    }
    s->ops->iter_close(it);
    ls->first = first;
    ls->last = last;
    return rc;
}

/* Walks the whole log: every record must decode and the indexes must be
 * contiguous (or, where the backend checked that, see scan_known). */
static int scan_records(struct store *s, struct log_scan *ls)
{
    void *it;
    bool known = false;
    uint64_t first, last;
    int rc = s->ops->log_bounds ? s->ops->log_bounds(s->impl, s->errmsg,
                                                     &known, &first, &last)
                                : 0;
    if (rc || known)
        return rc ? rc : scan_known(s, ls, first, last);
    rc = s->ops->iter_open(s->impl, s->errmsg, NULL, STORE_CF_LOG, &it);
    if (rc)
        return rc;
    memset(ls, 0, sizeof(*ls));
    for (s->ops->iter_seek(it, (const uint8_t *)"", 0);
         rc == 0 && s->ops->iter_valid(it); s->ops->iter_next(it)) {
        const uint8_t *k, *v;
        size_t kl, vl;
        struct store_entry e;
        s->ops->iter_get(it, &k, &kl, &v, &vl);
        rc = dec_entry(s->errmsg, k, kl, v, vl, &e);
        if (rc == 0 && ls->first && e.index != ls->last + 1) {
            store__errf(s->errmsg, "log: gap between entries %llu and %llu",
                        (unsigned long long)ls->last,
                        (unsigned long long)e.index);
            rc = COORD_ECORRUPT;
        }
        if (rc == 0 && e.index == s->snap.index) {
            ls->has_snap = true;
            ls->snap_term = e.term;
        }
        if (!ls->first)
            ls->first = e.index;
        ls->last = e.index;
    }
    if (rc == 0)
        rc = s->ops->iter_status(it, s->errmsg);
    s->ops->iter_close(it);
    return rc;
}

/* Checks the log against the snapshot. A log with nothing after the
 * snapshot that belongs to it is deleted (synced): it ends before the
 * snapshot's index, or holds that index with another term than the
 * snapshot's (its later entries are of a history the snapshot replaced).
 * Both are left by a crash between a snapshot commit's metadata and its
 * STORE_DROP_LOG with log segments (docs/storage.md "Log segments"); the
 * deletion finishes that drop, and an append after the snapshot then
 * finds an empty log. */
static int scan_log(struct store *s, struct store_state *out)
{
    struct log_scan ls;
    int rc = scan_records(s, &ls);
    if (rc)
        return rc;
    if (ls.first && ls.first > s->snap.index + 1) {
        store__errf(s->errmsg, "log: starts at %llu but the snapshot ends "
                    "at %llu", (unsigned long long)ls.first,
                    (unsigned long long)s->snap.index);
        return COORD_ECORRUPT;
    }
    out->first = s->snap.index + 1;
    out->last = s->snap.index;
    if (!ls.first)
        return 0;
    bool stale = s->snap.index &&
                 (ls.last < s->snap.index ||
                  (ls.has_snap && ls.snap_term != s->snap.term));
    if (stale) {
        struct store_kv_op op = {STORE_KV_DELRANGE, STORE_CF_LOG,
                                 (const uint8_t *)"", 0, key_end,
                                 sizeof(key_end)};
        return apply(s, &op, 1, true);
    }
    if (ls.last >= s->snap.index) {
        /* Entries the snapshot covers may still be stored (a compaction
         * that was lost or, with segments, only forgot them): never
         * reported, so the log always joins the snapshot. */
        out->first = ls.first > s->snap.index ? ls.first
                                               : s->snap.index + 1;
        out->last = ls.last;
    }
    return 0;
}

int store_load(struct store *s, struct store_state *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->mu);
    int rc = load_meta(s, out);
    if (rc == 0) {
        out->snap = s->snap;
        rc = scan_log(s, out);
    }
    if (rc == 0 && s->ops->log_repair)
        s->ops->log_repair(s->impl, &out->log_zeroed, &out->log_zeroed_at);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- read --------------------------------------------------------------- */

static int read_locked(struct store *s, void *it, uint64_t lo, uint64_t hi,
                       struct store_entry *out, uint32_t max, uint8_t *buf,
                       size_t cap, uint32_t *n)
{
    size_t used = 0;
    uint8_t key[8];
    store__put_u64(key, lo);
    s->ops->iter_seek(it, key, 8);
    for (uint64_t want = lo; want < hi && *n < max; want++) {
        const uint8_t *k, *v;
        size_t kl, vl;
        struct store_entry e;
        if (!s->ops->iter_valid(it)) {
            int st = s->ops->iter_status(it, s->errmsg);
            if (st)
                return st;
            store__errf(s->errmsg, "log: entry %llu is past the end",
                        (unsigned long long)want);
            return COORD_ENONODE;
        }
        s->ops->iter_get(it, &k, &kl, &v, &vl);
        int rc = dec_entry(s->errmsg, k, kl, v, vl, &e);
        if (rc)
            return rc;
        if (e.index != want) {
            store__errf(s->errmsg, "log: entry %llu is %s",
                        (unsigned long long)want,
                        want == lo ? "not in the log" : "missing (a gap)");
            return want == lo ? COORD_ENONODE : COORD_ECORRUPT;
        }
        if (e.len > cap - used) {
            if (*n)
                break;
            store__errf(s->errmsg, "log: entry %llu (%u bytes) does not fit "
                        "the buffer", (unsigned long long)want, e.len);
            return COORD_ETOOBIG;
        }
        memcpy(buf + used, e.data, e.len);
        e.data = buf + used;
        used += e.len;
        out[(*n)++] = e;
        s->ops->iter_next(it);
    }
    return 0;
}

int store_read(struct store *s, uint64_t lo, uint64_t hi,
               struct store_entry *out, uint32_t max, uint8_t *buf,
               size_t cap, uint32_t *n)
{
    *n = 0;
    if (lo == 0 || hi < lo || max == 0) {
        store__errf(s->errmsg, "read: bad range [%llu, %llu)",
                    (unsigned long long)lo, (unsigned long long)hi);
        return COORD_EINVAL;
    }
    void *it;
    pthread_mutex_lock(&s->mu);
    int rc = s->ops->iter_open(s->impl, s->errmsg, NULL, STORE_CF_LOG, &it);
    if (rc == 0) {
        rc = read_locked(s, it, lo, hi, out, max, buf, cap, n);
        s->ops->iter_close(it);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc)
        *n = 0;
    return rc;
}

/* ---- write -------------------------------------------------------------- */

static int check_write(char *err, const struct store_write *w)
{
    uint64_t prev = 0;
    if (w->truncate_from > STORE_INDEX_MAX) {
        store__errf(err, "write: truncate_from out of range");
        return COORD_EINVAL;
    }
    if (w->n_entries && !w->entries) {
        store__errf(err, "write: entries missing");
        return COORD_EINVAL;
    }
    for (uint32_t i = 0; i < w->n_entries; i++) {
        const struct store_entry *e = &w->entries[i];
        if (e->index == 0 || e->index > STORE_INDEX_MAX || e->index <= prev ||
            e->len > STORE_ENTRY_BYTES_MAX || (e->len && !e->data)) {
            store__errf(err, "write: entry %u (index %llu, %u bytes) is "
                        "invalid or out of order", i,
                        (unsigned long long)e->index, e->len);
            return COORD_EINVAL;
        }
        prev = e->index;
    }
    return 0;
}

/* Sizes the op array and the byte buffer for w[0..n). */
static void write_size(const struct store_write *w, uint32_t n,
                       uint64_t *nops, uint64_t *bytes)
{
    *nops = 0;
    *bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        *nops += 2 + w[i].n_entries;
        *bytes += HARD_LEN + 8;
        for (uint32_t j = 0; j < w[i].n_entries; j++)
            *bytes += 8 + LOG_HDR + w[i].entries[j].len;
    }
}

/* Fills ops from w in order: hard state, truncation, entries. */
static uint32_t write_fill(const struct store_write *w, uint32_t n,
                           struct store_kv_op *ops, uint8_t *p)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (w[i].hs_changed) {
            uint32_t len = enc_hard(p, w[i].term, w[i].vote);
            ops[k++] = (struct store_kv_op){STORE_KV_PUT, STORE_CF_META,
                                            META_KEY(key_hard), p, len};
            p += len;
        }
        if (w[i].truncate_from) {
            store__put_u64(p, w[i].truncate_from);
            ops[k++] = (struct store_kv_op){STORE_KV_DELRANGE, STORE_CF_LOG,
                                            p, 8, key_end, sizeof(key_end)};
            p += 8;
        }
        for (uint32_t j = 0; j < w[i].n_entries; j++) {
            uint8_t *key = p;
            uint32_t len = enc_entry(key, key + 8, &w[i].entries[j]);
            ops[k++] = (struct store_kv_op){STORE_KV_PUT, STORE_CF_LOG, key,
                                            8, key + 8, len};
            p += 8 + len;
        }
    }
    return k;
}

int store_write(struct store *s, const struct store_write *w, uint32_t n,
                bool sync)
{
    for (uint32_t i = 0; i < n; i++) {
        int rc = check_write(s->errmsg, &w[i]);
        if (rc)
            return rc;
    }
    uint64_t nops, bytes;
    write_size(w, n, &nops, &bytes);
    if (nops > UINT32_MAX || bytes > SIZE_MAX / 2) {
        store__errf(s->errmsg, "write: batch too large");
        return COORD_ETOOBIG;
    }
    struct store_kv_op *ops = coord_malloc(nops ? nops * sizeof(*ops) : 1);
    uint8_t *buf = coord_malloc(bytes ? bytes : 1);
    int rc = COORD_ENOMEM;
    if (ops && buf) {
        uint32_t k = write_fill(w, n, ops, buf);
        pthread_mutex_lock(&s->mu);
        rc = apply(s, ops, k, sync);
        if (rc == 0)
            s->stats.writes++;
        pthread_mutex_unlock(&s->mu);
    } else {
        store__errf(s->errmsg, "write: out of memory");
    }
    coord_free(ops);
    coord_free(buf);
    return rc;
}

int store_append_begin(struct store *s, const struct store_entry *es,
                       uint32_t n, struct store_io *io)
{
    struct store_write w = {.entries = es, .n_entries = n};
    int rc = check_write(s->errmsg, &w);
    if (rc)
        return rc;
    if (n == 0 || !s->ops->append_begin) {
        store__errf(s->errmsg, "append: %s", n ? "not supported here"
                                               : "no entries");
        return n ? COORD_EAGAIN : COORD_EINVAL;
    }
    uint64_t nops, bytes;
    write_size(&w, 1, &nops, &bytes);
    struct store_kv_op *ops = coord_malloc(nops * sizeof(*ops));
    uint8_t *buf = coord_malloc(bytes);
    rc = COORD_ENOMEM;
    if (ops && buf) {
        uint32_t k = write_fill(&w, 1, ops, buf);
        /* coordd's loop calls this: it never waits for another thread's
         * store call (a snapshot commit syncs), it lets the worker go. */
        if (pthread_mutex_trylock(&s->mu) != 0) {
            rc = COORD_EAGAIN;
        } else {
            rc = s->ops->append_begin(s->impl, s->errmsg, ops, k, io);
            pthread_mutex_unlock(&s->mu);
        }
    } else {
        store__errf(s->errmsg, "append: out of memory");
    }
    coord_free(ops);
    coord_free(buf);
    return rc;
}

int store_append_end(struct store *s, int64_t res)
{
    pthread_mutex_lock(&s->mu);
    int rc = s->ops->append_end ? s->ops->append_end(s->impl, s->errmsg, res)
                                : COORD_EINVAL;
    if (rc == 0) {
        s->stats.writes++;
        s->stats.syncs++;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int store_sync(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    int rc = s->ops->sync(s->impl, s->errmsg);
    if (rc == 0)
        s->stats.syncs++;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int store_compact(struct store *s, uint64_t below)
{
    uint8_t key[8];
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (below == 0 || below > s->snap.index + 1) {
        store__errf(s->errmsg, "compact: %llu is past the snapshot's %llu "
                    "+ 1", (unsigned long long)below,
                    (unsigned long long)s->snap.index);
        rc = COORD_EINVAL;
    } else {
        store__put_u64(key, below);
        struct store_kv_op op = {STORE_KV_DELRANGE, STORE_CF_LOG,
                                 (const uint8_t *)"", 0, key, 8};
        rc = apply(s, &op, 1, false);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- snapshots ---------------------------------------------------------- */

int store_snap_begin(struct store *s, uint64_t index, uint64_t term,
                     const uint8_t *conf, uint32_t conf_len)
{
    if (index == 0 || index > STORE_INDEX_MAX ||
        conf_len > STORE_CONF_BYTES_MAX || (conf_len && !conf)) {
        store__errf(s->errmsg, "snapshot: bad index %llu or conf of %u "
                    "bytes", (unsigned long long)index, conf_len);
        return COORD_EINVAL;
    }
    uint8_t lo[SNAP_KEY_LEN], hi[SNAP_KEY_LEN];
    pthread_mutex_lock(&s->mu);
    struct store_snap_pending *p = &s->pend;
    p->active = false;
    p->gen = s->snap_gen + 1;
    p->size = 0;
    p->meta.index = index;
    p->meta.term = term;
    p->meta.size = 0;
    p->meta.conf_len = conf_len;
    if (conf_len)
        memcpy(p->meta.conf, conf, conf_len);
    /* Leftovers of an unfinished stream of the same generation. */
    snap_key(lo, p->gen, 0);
    snap_key(hi, p->gen + 1, 0);
    struct store_kv_op op = {STORE_KV_DELRANGE, STORE_CF_SNAP, lo,
                             SNAP_KEY_LEN, hi, SNAP_KEY_LEN};
    int rc = apply(s, &op, 1, false);
    p->active = rc == 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int store_snap_write(struct store *s, uint64_t offset, const uint8_t *data,
                     uint32_t len)
{
    uint8_t key[SNAP_KEY_LEN];
    uint8_t *v = len ? coord_malloc((size_t)len + 4) : NULL;
    int rc = 0;
    if (len && !v)
        return COORD_ENOMEM;
    pthread_mutex_lock(&s->mu);
    if (!s->pend.active || offset != s->pend.size || len == 0 || !data) {
        store__errf(s->errmsg, "snapshot: write of %u bytes at %llu, "
                    "expected a stream at offset %llu", len,
                    (unsigned long long)offset,
                    (unsigned long long)s->pend.size);
        rc = COORD_EINVAL;
    } else {
        snap_key(key, s->pend.gen, offset);
        memcpy(v + 4, data, len);
        rec_seal(key, SNAP_KEY_LEN, v, (size_t)len + 4);
        struct store_kv_op op = {STORE_KV_PUT, STORE_CF_SNAP, key,
                                 SNAP_KEY_LEN, v, len + 4};
        rc = apply(s, &op, 1, false);
        if (rc == 0)
            s->pend.size += len;
    }
    pthread_mutex_unlock(&s->mu);
    coord_free(v);
    return rc;
}

/* True if the log's last entry is >= index (so entries after the
 * snapshot may be kept). */
static int log_reaches(struct store *s, uint64_t index, bool *yes)
{
    void *it;
    int rc = s->ops->iter_open(s->impl, s->errmsg, NULL, STORE_CF_LOG, &it);
    if (rc)
        return rc;
    s->ops->iter_seek_prev(it, key_end, sizeof(key_end));
    *yes = false;
    if (s->ops->iter_valid(it)) {
        const uint8_t *k, *v;
        size_t kl, vl;
        s->ops->iter_get(it, &k, &kl, &v, &vl);
        *yes = kl == 8 && store__get_u64(k) >= index;
    }
    rc = s->ops->iter_status(it, s->errmsg);
    s->ops->iter_close(it);
    return rc;
}

static int commit_locked(struct store *s, uint64_t keep_from, uint8_t *mv)
{
    struct store_snap_pending *p = &s->pend;
    uint8_t lo[SNAP_KEY_LEN], hi[SNAP_KEY_LEN], lk[8];
    bool reaches = false;
    int rc = log_reaches(s, p->meta.index, &reaches);
    if (rc)
        return rc;
    p->meta.size = p->size;
    uint32_t mlen = enc_snap_meta(mv, p->gen, &p->meta);
    snap_key(lo, s->snap_gen, 0);
    snap_key(hi, s->snap_gen + 1, 0);
    struct store_kv_op ops[3] = {
        {STORE_KV_PUT, STORE_CF_META, META_KEY(key_snap), mv, mlen},
        {STORE_KV_DELRANGE, STORE_CF_SNAP, lo, SNAP_KEY_LEN, hi,
         SNAP_KEY_LEN},
        {STORE_KV_DELRANGE, STORE_CF_LOG, (const uint8_t *)"", 0, key_end,
         sizeof(key_end)},
    };
    if (reaches && keep_from != STORE_DROP_LOG) {
        store__put_u64(lk, keep_from);
        ops[2].val = lk;
        ops[2].vlen = 8;
    }
    rc = apply(s, ops, 3, true);
    if (rc == 0) {
        s->snap = p->meta;
        s->snap_gen = p->gen;
        p->active = false;
    }
    return rc;
}

int store_snap_commit(struct store *s, uint64_t keep_from)
{
    uint8_t *mv = coord_malloc(SNAP_META_HDR + STORE_CONF_BYTES_MAX);
    if (!mv)
        return COORD_ENOMEM;
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (!s->pend.active) {
        store__errf(s->errmsg, "snapshot: commit without a stream");
        rc = COORD_EINVAL;
    } else if (keep_from != STORE_DROP_LOG &&
               (keep_from == 0 || keep_from > s->pend.meta.index + 1)) {
        store__errf(s->errmsg, "snapshot: keep_from %llu is not in "
                    "[1, index + 1]", (unsigned long long)keep_from);
        rc = COORD_EINVAL;
    } else {
        rc = commit_locked(s, keep_from, mv);
    }
    pthread_mutex_unlock(&s->mu);
    coord_free(mv);
    return rc;
}

int store_snap_commit_meta(struct store *s, uint64_t index, uint64_t term,
                           const uint8_t *conf, uint32_t conf_len,
                           uint64_t keep_from)
{
    if (index == 0 || index > STORE_INDEX_MAX ||
        conf_len > STORE_CONF_BYTES_MAX || (conf_len && !conf)) {
        store__errf(s->errmsg, "snapshot: bad index %llu or conf of %u "
                    "bytes", (unsigned long long)index, conf_len);
        return COORD_EINVAL;
    }
    pthread_mutex_lock(&s->mu);
    if (s->pend.active) {
        s->pend.meta.index = index;
        s->pend.meta.term = term;
        s->pend.meta.conf_len = conf_len;
        if (conf_len)
            memcpy(s->pend.meta.conf, conf, conf_len);
    }
    pthread_mutex_unlock(&s->mu);
    return store_snap_commit(s, keep_from);
}

/* ---- snapshot readers --------------------------------------------------- */

int store_snap_open(struct store *s, struct store_snap_reader *r)
{
    memset(r, 0, sizeof(*r));
    r->s = s;
    uint8_t *v = coord_malloc(SNAP_META_HDR + STORE_CONF_BYTES_MAX);
    if (!v)
        return COORD_ENOMEM;
    uint32_t n;
    pthread_mutex_lock(&s->mu);
    int rc = s->ops->view_open(s->impl, s->errmsg, &r->view);
    if (rc == 0) {
        rc = kv_get(s, r->view, s->errmsg, STORE_CF_META,
                    META_KEY(key_snap), v,
                    SNAP_META_HDR + STORE_CONF_BYTES_MAX, &n);
        if (rc == COORD_ENONODE)
            store__errf(s->errmsg, "snapshot: none committed");
        if (rc == 0)
            rc = dec_snap_meta(s->errmsg, v, n, &r->gen, &r->meta);
        if (rc) {
            s->ops->view_close(s->impl, r->view);
            r->view = NULL;
        }
    }
    pthread_mutex_unlock(&s->mu);
    coord_free(v);
    return rc;
}

/* Copies what the current chunk holds of [*off, end) into *buf. */
static int snap_chunk(struct store_snap_reader *r, void *it, uint64_t *off,
                      uint8_t **buf, uint64_t end)
{
    const struct store_ops *ops = r->s->ops;
    const uint8_t *k, *v;
    size_t kl, vl;
    if (!ops->iter_valid(it)) {
        store__errf(r->errmsg, "snapshot: chunk at offset %llu missing",
                    (unsigned long long)*off);
        return ops->iter_status(it, r->errmsg) ? COORD_EIO : COORD_ECORRUPT;
    }
    ops->iter_get(it, &k, &kl, &v, &vl);
    uint64_t choff = kl == SNAP_KEY_LEN ? store__get_u64(k + 8) : UINT64_MAX;
    if (kl != SNAP_KEY_LEN || store__get_u64(k) != r->gen || choff > *off ||
        vl <= 4 || choff + (vl - 4) <= *off) {
        store__errf(r->errmsg, "snapshot: no chunk holds offset %llu",
                    (unsigned long long)*off);
        return COORD_ECORRUPT;
    }
    if (!rec_ok(k, kl, v, vl)) {
        store__errf(r->errmsg, "snapshot: chunk at offset %llu: checksum "
                    "mismatch", (unsigned long long)choff);
        return COORD_ECORRUPT;
    }
    uint64_t avail = choff + (vl - 4) - *off;
    uint64_t take = end - *off < avail ? end - *off : avail;
    memcpy(*buf, v + 4 + (*off - choff), take);
    *buf += take;
    *off += take;
    ops->iter_next(it);
    return 0;
}

int store_snap_read(struct store_snap_reader *r, uint64_t offset,
                    uint8_t *buf, uint32_t len)
{
    coord_assert(r->view != NULL);
    if (offset > r->meta.size || len > r->meta.size - offset) {
        store__errf(r->errmsg, "snapshot: read [%llu, +%u) past its %llu "
                    "bytes", (unsigned long long)offset, len,
                    (unsigned long long)r->meta.size);
        return COORD_EINVAL;
    }
    if (len == 0)
        return 0;
    void *it;
    int rc = r->s->ops->iter_open(r->s->impl, r->errmsg, r->view,
                                  STORE_CF_SNAP, &it);
    if (rc)
        return rc;
    uint8_t key[SNAP_KEY_LEN];
    snap_key(key, r->gen, offset);
    r->s->ops->iter_seek_prev(it, key, SNAP_KEY_LEN);
    uint64_t off = offset, end = offset + len;
    while (rc == 0 && off < end)
        rc = snap_chunk(r, it, &off, &buf, end);
    r->s->ops->iter_close(it);
    return rc;
}

void store_snap_close(struct store_snap_reader *r)
{
    if (r->view)
        r->s->ops->view_close(r->s->impl, r->view);
    r->view = NULL;
}

int store__put_raw(struct store *s, uint8_t cf, const uint8_t *key,
                   uint32_t klen, const uint8_t *val, uint32_t vlen)
{
    struct store_kv_op op = {STORE_KV_PUT, cf, key, klen, val, vlen};
    pthread_mutex_lock(&s->mu);
    int rc = apply(s, &op, 1, true);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
