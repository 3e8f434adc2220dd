/* result.c -- the byte form of an apply result, kept in a session's dedup
 * window (and so in snapshots) and decoded when a request is retried.
 *
 * Layout, little-endian: i32 err, u64 zxid, u32 n_ops, then per op: i32 err,
 * the stat (TREE_STAT_BYTES), u32 path_len, path bytes. Internal to the
 * tree; bytes from a snapshot are validated by tree_result_decode().
 */
#include "tree_int.h"

#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

#define RESULT_HEAD_BYTES 16
#define RESULT_OP_BYTES (4 + TREE_STAT_BYTES + 4)

size_t tree_result_size(const struct tree_result *r)
{
    size_t n = RESULT_HEAD_BYTES;
    for (uint32_t i = 0; i < r->n_ops; i++)
        n += RESULT_OP_BYTES + r->ops[i].path_len;
    return n;
}

/* Writes tree_result_size(r) bytes to b. */
void tree_result_encode(const struct tree_result *r, uint8_t *b)
{
    uint8_t *p = b;
    p = tree_put_u32(p, (uint32_t)r->err);
    p = tree_put_u64(p, r->zxid);
    p = tree_put_u32(p, r->n_ops);
    for (uint32_t i = 0; i < r->n_ops; i++) {
        const struct tree_op_result *o = &r->ops[i];
        p = tree_put_u32(p, (uint32_t)o->err);
        p = tree_put_stat(p, &o->stat);
        p = tree_put_u32(p, o->path_len);
        if (o->path_len)
            memcpy(p, o->path, o->path_len);
        p += o->path_len;
    }
    coord_assert((size_t)(p - b) == tree_result_size(r));
}

/* Decodes into t->result (and its scratch). COORD_ECORRUPT on bad bytes. */
int tree_result_decode(struct tree *t, const uint8_t *p, size_t len)
{
    if (len < RESULT_HEAD_BYTES)
        return COORD_ECORRUPT;
    uint32_t n = tree_get_u32(p + 12);
    if (n > COORD_MULTI_OPS_MAX + 1)
        return COORD_ECORRUPT;
    t->res_paths.len = 0;
    t->res_paths.buf = tree_grow(t->res_paths.buf, &t->res_paths.cap,
                                 len + n + 1, 1);
    t->result.err = (int32_t)tree_get_u32(p);
    t->result.zxid = tree_get_u64(p + 4);
    t->result.n_ops = n;
    t->result.ops = t->res_ops;
    size_t off = RESULT_HEAD_BYTES;
    for (uint32_t i = 0; i < n; i++) {
        struct tree_op_result *o = &t->res_ops[i];
        if (len - off < RESULT_OP_BYTES)
            return COORD_ECORRUPT;
        o->err = (int32_t)tree_get_u32(p + off);
        tree_get_stat(p + off + 4, &o->stat);
        o->path_len = tree_get_u32(p + off + 4 + TREE_STAT_BYTES);
        off += RESULT_OP_BYTES;
        if (o->path_len > len - off || o->path_len > COORD_PATH_BYTES_MAX)
            return COORD_ECORRUPT;
        o->path = NULL;
        if (o->path_len)
            o->path = t->res_paths.buf +
                      tree_arena_put(&t->res_paths, p + off, o->path_len);
        off += o->path_len;
    }
    return off == len ? 0 : COORD_ECORRUPT;
}
