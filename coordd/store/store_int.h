/* store_int.h -- internals of coordd/store/: the backend interface that
 * rocks.c and mem.c implement, the shared record codec, and test hooks.
 *
 * How it fits: store.c holds the logic (keys, checksums, identity, log and
 * snapshot rules) and drives a backend through struct store_ops, a small
 * ordered key-value interface with three column families, atomic batches,
 * sync and consistent views. Only files in coordd/store/ and tests include
 * this header. Backends never interpret keys or values.
 */
#ifndef COORDD_STORE_INT_H
#define COORDD_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum store_cf {
    STORE_CF_LOG = 0,
    STORE_CF_META = 1,
    STORE_CF_SNAP = 2,
    STORE_CF_COUNT = 3,
};

enum store_kv_kind {
    STORE_KV_PUT = 1,
    STORE_KV_DEL = 2,
    STORE_KV_DELRANGE = 3, /* keys in [key, val) */
};

/* One operation of an atomic batch; all pointers borrowed for the call. */
struct store_kv_op {
    uint8_t kind; /* enum store_kv_kind */
    uint8_t cf;   /* enum store_cf */
    const uint8_t *key;
    uint32_t klen;
    const uint8_t *val; /* PUT: value; DELRANGE: end key (exclusive) */
    uint32_t vlen;
};

/* Backend operations. err is a STORE_ERRMSG_BYTES buffer filled on
 * failure. Every call except the view-based iterator reads is serialised
 * by the store's mutex. */
struct store_ops {
    /* Applies ops as one atomic batch; with sync, it and everything
     * before it is durable on return. */
    int (*apply)(void *impl, char *err, const struct store_kv_op *ops,
                 uint32_t n, bool sync);
    int (*sync)(void *impl, char *err);
    /* Iterators over one column family of the latest state (view NULL) or
     * of a view. Keys compare as unsigned bytes (memcmp, shorter first). */
    int (*iter_open)(void *impl, char *err, void *view, uint8_t cf,
                     void **it);
    void (*iter_seek)(void *it, const uint8_t *key, uint32_t klen);
    /* Positions at the greatest key <= key. */
    void (*iter_seek_prev)(void *it, const uint8_t *key, uint32_t klen);
    void (*iter_next)(void *it);
    bool (*iter_valid)(void *it);
    /* Borrowed until the iterator moves or closes. */
    void (*iter_get)(void *it, const uint8_t **key, size_t *klen,
                     const uint8_t **val, size_t *vlen);
    int (*iter_status)(void *it, char *err);
    void (*iter_close)(void *it);
    /* A consistent, read-only view of the synced-or-written state. */
    int (*view_open)(void *impl, char *err, void **view);
    void (*view_close)(void *impl, void *view);
    /* Closes; with crash, unsynced writes are dropped where the backend
     * can model that (mem; rocks in power-loss mode always drops). */
    void (*close)(void *impl, bool crash);
    /* Optional (NULL: every format is stored alike; a fresh store gets
     * STORE_FORMAT_VERSION). Called at open once identity is checked:
     * *fmt is the ident's format (0: a fresh store, about to get its
     * ident). Sets *fmt to the format the store has on return (fresh: the
     * one store.c records). The backend may migrate an older format, in
     * which case it rewrites ident itself, atomically with the switch.
     * COORD_EINVAL: this format cannot be opened as configured. */
    int (*format)(void *impl, char *err, uint32_t *fmt,
                  const struct store_options *o);
    /* Optional (NULL: unknown). *known: the backend already checked every
     * log record and that the indexes are contiguous (log segments, at
     * open), and *first, *last are the log's bounds (0, 0: empty); load
     * then decodes only the entries it needs instead of all of them. */
    int (*log_bounds)(void *impl, char *err, bool *known, uint64_t *first,
                      uint64_t *last);
    /* Optional (NULL: nothing repaired). What opening the log zeroed
     * (store_state.log_zeroed, log_zeroed_at). */
    void (*log_repair)(void *impl, uint64_t *bytes, uint64_t *at);
    /* Optional (NULL: COORD_EAGAIN). store_append_begin's backend half:
     * ops are log PUTs only, contiguous. */
    int (*append_begin)(void *impl, char *err, const struct store_kv_op *ops,
                        uint32_t n, struct store_io *io);
    int (*append_end)(void *impl, char *err, int64_t res);
};

/* Called by backends' open functions once the backend is up: checks or
 * records identity, cleans stale snapshot chunks. On failure the backend
 * is closed and *s holds only errmsg. */
int store__open_common(struct store *s, const struct store_ops *ops,
                       void *impl, const struct store_options *opts);

/* Closes s; with crash, as after a power cut (mem.c's store_mem_crash). */
void store__close(struct store *s, bool crash);

/* Formats into err (STORE_ERRMSG_BYTES). */
void store__errf(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

uint32_t store__crc32c(uint32_t crc, const void *data, size_t len);

/* Test hook: writes a raw record (synced), bypassing every check, so tests
 * can plant corrupt or foreign records on either backend. */
int store__put_raw(struct store *s, uint8_t cf, const uint8_t *key,
                   uint32_t klen, const uint8_t *val, uint32_t vlen);
/* Test hook: encodes a meta "ident" record with the given fields. Returns
 * its length (24); buf holds at least 24 bytes. */
uint32_t store__encode_ident(uint8_t *buf, uint32_t format,
                             uint64_t cluster_id, uint64_t node_id);

/* Big-endian integers, the byte order of every record and key the store
 * writes (store.c, rocks.c, seglog.c). */
static inline void store__put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline void store__put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline uint32_t store__get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t store__get_u64(const uint8_t *p)
{
    return (uint64_t)store__get_u32(p) << 32 | store__get_u32(p + 4);
}

#endif /* COORDD_STORE_INT_H */
