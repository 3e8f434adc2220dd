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
#include "libcoord/shared/mp.h"

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

/* Decoding reads the bytes in place with libcoord's msgpack reader (no
 * allocation, no intermediate object tree): every entry is decoded once
 * per replica on the apply path, where msgpack-c's unpacker (a zone
 * allocation and an object per value) was a sixth of the leader loop's
 * CPU. Every bound is checked as the bytes are met; any error, including
 * a str/bin over its bound (COORD_ETOOBIG from the reader), is
 * COORD_EPROTO here. */

static void read_op(struct mp_reader *r, struct tree_op *op)
{
    uint32_t path_len, data_len;
    mp_read_arity(r, CMD_OP_FIELDS);
    uint64_t type = mp_read_uint(r, TREE_CMD_CHECK);
    if (r->err == 0 && type < TREE_CMD_CREATE)
        mp_read_fail(r, COORD_EPROTO);
    const uint8_t *path = mp_read_str(r, COORD_PATH_BYTES_MAX, &path_len);
    const uint8_t *data = mp_read_bin(r, COORD_DATA_BYTES_MAX, &data_len);
    uint64_t mode = mp_read_uint(r, UINT32_MAX);
    int64_t version = mp_read_sint(r, INT32_MIN, INT32_MAX);
    int64_t ttl = mp_read_sint(r, INT64_MIN, INT64_MAX);
    memset(op, 0, sizeof(*op));
    if (r->err)
        return;
    op->type = (uint8_t)type;
    op->path = (const char *)path;
    op->path_len = path_len;
    op->data = data_len ? data : NULL;
    op->data_len = data_len;
    op->mode = (uint32_t)mode;
    op->version = (int32_t)version;
    op->ttl_ms = ttl;
}

static void read_ops(struct mp_reader *r, uint32_t max, struct tree_cmd_buf *b)
{
    uint32_t n = mp_read_array(r);
    if (n > max)
        mp_read_fail(r, COORD_EPROTO);
    b->cmd.n_ops = r->err ? 0 : n;
    b->cmd.ops = b->ops;
    for (uint32_t i = 0; i < b->cmd.n_ops && r->err == 0; i++)
        read_op(r, &b->ops[i]);
}

static void read_open(struct mp_reader *r, struct tree_cmd *c)
{
    uint32_t len;
    mp_read_arity(r, 2);
    c->timeout_ms = (uint32_t)mp_read_uint(r, UINT32_MAX);
    const uint8_t *secret = mp_read_bin(r, COORD_SECRET_BYTES, &len);
    if (r->err == 0 && len != COORD_SECRET_BYTES)
        mp_read_fail(r, COORD_EPROTO);
    if (r->err == 0)
        memcpy(c->secret, secret, COORD_SECRET_BYTES);
}

static void read_body(struct mp_reader *r, struct tree_cmd_buf *b)
{
    struct tree_cmd *c = &b->cmd;
    switch (c->type) {
    case TREE_CMD_CREATE:
    case TREE_CMD_DELETE:
    case TREE_CMD_SET:
    case TREE_CMD_CHECK:
        read_op(r, &c->op);
        if (r->err == 0 && c->op.type != c->type)
            mp_read_fail(r, COORD_EPROTO);
        return;
    case TREE_CMD_MULTI:
        read_ops(r, COORD_MULTI_OPS_MAX, b);
        return;
    case TREE_CMD_CLEANUP:
        read_ops(r, TREE_IDS_MAX, b);
        return;
    case TREE_CMD_SESSION_OPEN:
        read_open(r, c);
        return;
    case TREE_CMD_SESSION_EXPIRE: {
        uint32_t n = mp_read_array(r);
        if (n > TREE_IDS_MAX)
            mp_read_fail(r, COORD_EPROTO);
        c->n_ids = r->err ? 0 : n;
        c->ids = b->ids;
        for (uint32_t i = 0; i < c->n_ids && r->err == 0; i++)
            b->ids[i] = mp_read_uint(r, UINT64_MAX);
        return;
    }
    default:
        mp_read_nil(r);
        return;
    }
}

int tree_cmd_decode(const void *bytes, size_t len, struct tree_cmd_buf *buf)
{
    if (bytes == NULL || len == 0 || len > COORD_FRAME_BYTES_MAX)
        return COORD_EPROTO;
    struct mp_reader r;
    mp_reader_init(&r, bytes, len);
    struct tree_cmd *c = &buf->cmd;
    memset(c, 0, sizeof(*c));
    mp_read_arity(&r, 6);
    if (mp_read_uint(&r, UINT8_MAX) != CMD_FORMAT)
        mp_read_fail(&r, COORD_EPROTO);
    c->type = (uint8_t)mp_read_uint(&r, TREE_CMD_TYPE_MAX);
    c->time_ms = mp_read_sint(&r, INT64_MIN, INT64_MAX);
    c->session_id = mp_read_uint(&r, UINT64_MAX);
    c->xid = mp_read_uint(&r, UINT64_MAX);
    if (r.err == 0)
        read_body(&r, buf);
    return mp_read_done(&r) ? 0 : COORD_EPROTO;
}
