/* cmd.c -- the byte form of a tree command: exactly what Raft replicates in
 * one log entry's payload. The only file of coordd/tree/ that speaks
 * msgpack.
 *
 * A command is one msgpack array:
 *   [1 (format), type, time_ms, session_id, xid, body]
 * body by type:
 *   CREATE, DELETE, SET, CHECK   op
 *   MULTI, CLEANUP               [op, ...]
 *   SESSION_OPEN                 [timeout_ms, secret (bin 32)]
 *   SESSION_EXPIRE               [id, ...]
 *   NOOP, SESSION_CLOSE          nil
 * op = [op_type, path (str), data (bin), mode, version, ttl_ms].
 * Decoding checks every type and bound and returns COORD_EPROTO on bad
 * bytes (log entries are read back from disk and from peers); path
 * validity is left to tree_apply() so every replica fails it identically.
 */
#include "tree_int.h"

#include <msgpack.h>
#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

#define CMD_FORMAT 1
#define CMD_OP_FIELDS 6

/* ---- Encoding ----------------------------------------------------------- */
struct cmd_out {
    char *buf;
    size_t len, cap;
};

static int cmd_write_cb(void *data, const char *buf, size_t len)
{
    struct cmd_out *o = data;
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->len + len)
            cap *= 2;
        char *b = coord_realloc(o->buf, cap);
        if (b == NULL)
            return -1;
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, buf, len);
    o->len += len;
    return 0;
}

static int op_valid(const struct tree_op *op)
{
    if (op->type < TREE_CMD_CREATE || op->type > TREE_CMD_CHECK)
        return COORD_EINVAL;
    if (op->path_len > COORD_PATH_BYTES_MAX ||
        op->data_len > COORD_DATA_BYTES_MAX)
        return COORD_ETOOBIG;
    if ((op->path_len && !op->path) || (op->data_len && !op->data))
        return COORD_EINVAL;
    return 0;
}

static int pack_op(msgpack_packer *pk, const struct tree_op *op)
{
    int rc = msgpack_pack_array(pk, CMD_OP_FIELDS);
    rc |= msgpack_pack_uint8(pk, op->type);
    rc |= msgpack_pack_str_with_body(pk, op->path ? op->path : "",
                                     op->path_len);
    rc |= msgpack_pack_bin_with_body(pk, op->data ? op->data : "",
                                     op->data_len);
    rc |= msgpack_pack_uint32(pk, op->mode);
    rc |= msgpack_pack_int32(pk, op->version);
    rc |= msgpack_pack_int64(pk, op->ttl_ms);
    return rc;
}

static int pack_ops(msgpack_packer *pk, const struct tree_op *ops,
                    uint32_t n, uint32_t max, bool any_type)
{
    if (n > max || (n && !ops))
        return COORD_EINVAL;
    int rc = msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        struct tree_op op = ops[i];
        if (any_type)
            op.type = TREE_CMD_DELETE; /* cleanup: only the path counts */
        int err = op_valid(&op);
        if (err != 0)
            return err;
        rc |= pack_op(pk, &op);
    }
    return rc ? COORD_ENOMEM : 0;
}

static int pack_body(msgpack_packer *pk, const struct tree_cmd *c)
{
    int rc = 0, err;
    switch (c->type) {
    case TREE_CMD_CREATE:
    case TREE_CMD_DELETE:
    case TREE_CMD_SET:
    case TREE_CMD_CHECK:
        if (c->op.type != c->type)
            return COORD_EINVAL;
        err = op_valid(&c->op);
        return err ? err : (pack_op(pk, &c->op) ? COORD_ENOMEM : 0);
    case TREE_CMD_MULTI:
        return pack_ops(pk, c->ops, c->n_ops, COORD_MULTI_OPS_MAX, false);
    case TREE_CMD_CLEANUP:
        return pack_ops(pk, c->ops, c->n_ops, TREE_IDS_MAX, true);
    case TREE_CMD_SESSION_OPEN:
        rc |= msgpack_pack_array(pk, 2);
        rc |= msgpack_pack_uint32(pk, c->timeout_ms);
        rc |= msgpack_pack_bin_with_body(pk, c->secret, sizeof(c->secret));
        break;
    case TREE_CMD_SESSION_EXPIRE:
        if (c->n_ids > TREE_IDS_MAX || (c->n_ids && !c->ids))
            return COORD_EINVAL;
        rc |= msgpack_pack_array(pk, c->n_ids);
        for (uint32_t i = 0; i < c->n_ids; i++)
            rc |= msgpack_pack_uint64(pk, c->ids[i]);
        break;
    default:
        rc |= msgpack_pack_nil(pk);
    }
    return rc ? COORD_ENOMEM : 0;
}

int tree_cmd_encode(const struct tree_cmd *cmd, void **out, size_t *out_len)
{
    if (cmd->type > TREE_CMD_TYPE_MAX)
        return COORD_EINVAL;
    struct cmd_out o = { 0 };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &o, cmd_write_cb);
    int rc = msgpack_pack_array(&pk, 6);
    rc |= msgpack_pack_uint8(&pk, CMD_FORMAT);
    rc |= msgpack_pack_uint8(&pk, cmd->type);
    rc |= msgpack_pack_int64(&pk, cmd->time_ms);
    rc |= msgpack_pack_uint64(&pk, cmd->session_id);
    rc |= msgpack_pack_uint64(&pk, cmd->xid);
    int err = rc ? COORD_ENOMEM : pack_body(&pk, cmd);
    if (err == 0 && o.len > COORD_FRAME_BYTES_MAX)
        err = COORD_ETOOBIG;
    if (err != 0) {
        coord_free(o.buf);
        return err;
    }
    *out = o.buf;
    *out_len = o.len;
    return 0;
}

/* ---- Decoding ----------------------------------------------------------- */
/* Bytes a msgpack header at p announces beyond itself (fixed-size payload
 * or a length field), or -1 for a reserved byte or a short header. Sets
 * *hdr to the header's size and *items to the number of nested values
 * that follow (arrays, maps). */
static long mp_head(const uint8_t *p, const uint8_t *end, size_t *hdr,
                    uint64_t *items)
{
    uint8_t b = *p;
    *items = 0;
    *hdr = 1;
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3 && b != 0xc1))
        return 0;
    if (b >= 0x80 && b <= 0x9f) {
        *items = (uint64_t)(b & 0x0f) << (b <= 0x8f ? 1 : 0);
        return 0;
    }
    if (b >= 0xa0 && b <= 0xbf)
        return b & 0x1f;
    if (b == 0xca || b == 0xcb || (b >= 0xcc && b <= 0xd3))
        return (long)1 << ((b == 0xca) ? 2 : (b == 0xcb) ? 3 : (b & 3));
    if (b >= 0xd4 && b <= 0xd8)
        return 1 + (1L << (b - 0xd4));
    int n;            /* width of the length field */
    bool ext = false; /* ext types carry a type byte */
    if (b >= 0xc4 && b <= 0xc6)
        n = 1 << (b - 0xc4);
    else if (b >= 0xc7 && b <= 0xc9)
        n = 1 << (b - 0xc7), ext = true;
    else if (b >= 0xd9 && b <= 0xdb)
        n = 1 << (b - 0xd9);
    else if (b >= 0xdc && b <= 0xdf)
        n = (b & 1) ? 4 : 2;
    else
        return -1;
    if (end - p < 1 + n)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[1 + i];
    *hdr = 1 + (size_t)n;
    if (b >= 0xdc) {
        *items = (b >= 0xde) ? 2 * v : v;
        return 0;
    }
    return (long)v + (ext ? 1 : 0);
}

/* Walks one msgpack value without allocating, checking that every length
 * and element count fits in the input: msgpack-c allocates element arrays
 * from the announced counts, so these are bounded before it runs. */
static bool mp_check(const uint8_t **pp, const uint8_t *end, int depth)
{
    const uint8_t *p = *pp;
    size_t hdr;
    uint64_t items;
    if (p >= end || depth > 8)
        return false;
    long extra = mp_head(p, end, &hdr, &items);
    if (extra < 0 || (size_t)(end - p) < hdr ||
        (uint64_t)(end - p - (long)hdr) < (uint64_t)extra)
        return false;
    p += hdr + (size_t)extra;
    if (items > (uint64_t)(end - p))
        return false;
    for (uint64_t i = 0; i < items; i++)
        if (!mp_check(&p, end, depth + 1))
            return false;
    *pp = p;
    return true;
}

static bool get_u64(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return false;
    *v = o->via.u64;
    return true;
}

static bool get_i64(const msgpack_object *o, int64_t min, int64_t max,
                    int64_t *v)
{
    int64_t x;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return false;
        x = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        x = o->via.i64;
    } else {
        return false;
    }
    if (x < min || x > max)
        return false;
    *v = x;
    return true;
}

static const msgpack_object *get_array(const msgpack_object *o, uint32_t max)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > max)
        return NULL;
    return o->via.array.ptr;
}

static int decode_op(const msgpack_object *o, struct tree_op *op)
{
    uint64_t type, mode;
    int64_t version, ttl;
    if (o->type != MSGPACK_OBJECT_ARRAY ||
        o->via.array.size != CMD_OP_FIELDS)
        return COORD_EPROTO;
    const msgpack_object *f = o->via.array.ptr;
    if (!get_u64(&f[0], TREE_CMD_CHECK, &type) || type < TREE_CMD_CREATE ||
        f[1].type != MSGPACK_OBJECT_STR ||
        f[1].via.str.size > COORD_PATH_BYTES_MAX ||
        f[2].type != MSGPACK_OBJECT_BIN ||
        f[2].via.bin.size > COORD_DATA_BYTES_MAX ||
        !get_u64(&f[3], UINT32_MAX, &mode) ||
        !get_i64(&f[4], INT32_MIN, INT32_MAX, &version) ||
        !get_i64(&f[5], INT64_MIN, INT64_MAX, &ttl))
        return COORD_EPROTO;
    memset(op, 0, sizeof(*op));
    op->type = (uint8_t)type;
    op->path = f[1].via.str.ptr;
    op->path_len = f[1].via.str.size;
    op->data = f[2].via.bin.size ? f[2].via.bin.ptr : NULL;
    op->data_len = f[2].via.bin.size;
    op->mode = (uint32_t)mode;
    op->version = (int32_t)version;
    op->ttl_ms = ttl;
    return 0;
}

static int decode_ops(const msgpack_object *o, uint32_t max,
                      struct tree_cmd_buf *b)
{
    const msgpack_object *a = get_array(o, max);
    if (a == NULL)
        return COORD_EPROTO;
    b->cmd.n_ops = o->via.array.size;
    b->cmd.ops = b->ops;
    for (uint32_t i = 0; i < b->cmd.n_ops; i++)
        if (decode_op(&a[i], &b->ops[i]) != 0)
            return COORD_EPROTO;
    return 0;
}

static int decode_open(const msgpack_object *o, struct tree_cmd *c)
{
    uint64_t timeout;
    const msgpack_object *a = get_array(o, 2);
    if (a == NULL || o->via.array.size != 2 ||
        !get_u64(&a[0], UINT32_MAX, &timeout) ||
        a[1].type != MSGPACK_OBJECT_BIN ||
        a[1].via.bin.size != COORD_SECRET_BYTES)
        return COORD_EPROTO;
    c->timeout_ms = (uint32_t)timeout;
    memcpy(c->secret, a[1].via.bin.ptr, COORD_SECRET_BYTES);
    return 0;
}

static int decode_body(const msgpack_object *o, struct tree_cmd_buf *b)
{
    struct tree_cmd *c = &b->cmd;
    switch (c->type) {
    case TREE_CMD_CREATE:
    case TREE_CMD_DELETE:
    case TREE_CMD_SET:
    case TREE_CMD_CHECK:
        if (decode_op(o, &c->op) != 0 || c->op.type != c->type)
            return COORD_EPROTO;
        return 0;
    case TREE_CMD_MULTI:
        return decode_ops(o, COORD_MULTI_OPS_MAX, b);
    case TREE_CMD_CLEANUP:
        return decode_ops(o, TREE_IDS_MAX, b);
    case TREE_CMD_SESSION_OPEN:
        return decode_open(o, c);
    case TREE_CMD_SESSION_EXPIRE: {
        const msgpack_object *a = get_array(o, TREE_IDS_MAX);
        if (a == NULL)
            return COORD_EPROTO;
        c->n_ids = o->via.array.size;
        c->ids = b->ids;
        for (uint32_t i = 0; i < c->n_ids; i++)
            if (!get_u64(&a[i], UINT64_MAX, &b->ids[i]))
                return COORD_EPROTO;
        return 0;
    }
    default:
        return o->type == MSGPACK_OBJECT_NIL ? 0 : COORD_EPROTO;
    }
}

static int decode_root(const msgpack_object *o, struct tree_cmd_buf *b)
{
    uint64_t format, type;
    int64_t time_ms;
    const msgpack_object *a = get_array(o, 6);
    if (a == NULL || o->via.array.size != 6)
        return COORD_EPROTO;
    struct tree_cmd *c = &b->cmd;
    memset(c, 0, sizeof(*c));
    if (!get_u64(&a[0], UINT8_MAX, &format) || format != CMD_FORMAT ||
        !get_u64(&a[1], TREE_CMD_TYPE_MAX, &type) ||
        !get_i64(&a[2], INT64_MIN, INT64_MAX, &time_ms) ||
        !get_u64(&a[3], UINT64_MAX, &c->session_id) ||
        !get_u64(&a[4], UINT64_MAX, &c->xid))
        return COORD_EPROTO;
    c->type = (uint8_t)type;
    c->time_ms = time_ms;
    return decode_body(&a[5], b);
}

int tree_cmd_decode(const void *bytes, size_t len, struct tree_cmd_buf *buf)
{
    if (bytes == NULL || len == 0 || len > COORD_FRAME_BYTES_MAX)
        return COORD_EPROTO;
    const uint8_t *p = bytes;
    if (!mp_check(&p, p + len, 0) || p != (const uint8_t *)bytes + len)
        return COORD_EPROTO;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = msgpack_unpack_next(&up, bytes, len, &off);
    int err = COORD_EPROTO;
    if (rc == MSGPACK_UNPACK_SUCCESS && off == len)
        err = decode_root(&up.data, buf);
    msgpack_unpacked_destroy(&up);
    return err;
}
