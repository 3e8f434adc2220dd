/* test_cmd.c -- unit tests for coordd/tree/cmd.c, the log command codec:
 * every command kind survives encode/decode unchanged, encode rejects bad
 * fields, and decode rejects (never crashes on) truncated, mutated and
 * wrongly typed bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "coordd/tree/tree_int.h"
#include "libcoord/shared/alloc.h"

static struct tree_cmd_buf dec;

static void op_equal(const struct tree_op *a, const struct tree_op *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->ttl_ms, b->ttl_ms);
    assert_int_equal(a->path_len, b->path_len);
    assert_memory_equal(a->path, b->path, a->path_len);
    assert_int_equal(a->data_len, b->data_len);
    if (a->data_len)
        assert_memory_equal(a->data, b->data, a->data_len);
}

/* Encodes, decodes, compares; returns the encoding (caller frees). */
static void *round_trip(const struct tree_cmd *c, size_t *len)
{
    void *b;
    assert_int_equal(tree_cmd_encode(c, &b, len), 0);
    assert_int_equal(tree_cmd_decode(b, *len, &dec), 0);
    const struct tree_cmd *d = &dec.cmd;
    assert_int_equal(d->type, c->type);
    assert_int_equal(d->time_ms, c->time_ms);
    assert_int_equal(d->session_id, c->session_id);
    assert_int_equal(d->xid, c->xid);
    if (c->type >= TREE_CMD_CREATE && c->type <= TREE_CMD_CHECK)
        op_equal(&d->op, &c->op);
    if (c->type == TREE_CMD_MULTI) {
        assert_int_equal(d->n_ops, c->n_ops);
        for (uint32_t i = 0; i < c->n_ops; i++)
            op_equal(&d->ops[i], &c->ops[i]);
    }
    if (c->type == TREE_CMD_CLEANUP) {
        assert_int_equal(d->n_ops, c->n_ops);
        for (uint32_t i = 0; i < c->n_ops; i++)
            assert_memory_equal(d->ops[i].path, c->ops[i].path,
                                c->ops[i].path_len);
    }
    if (c->type == TREE_CMD_SESSION_OPEN) {
        assert_int_equal(d->timeout_ms, c->timeout_ms);
        assert_memory_equal(d->secret, c->secret, COORD_SECRET_BYTES);
    }
    if (c->type == TREE_CMD_SESSION_EXPIRE) {
        assert_int_equal(d->n_ids, c->n_ids);
        assert_memory_equal(d->ids, c->ids, c->n_ids * sizeof(uint64_t));
    }
    return b;
}

static struct tree_op op(uint8_t type, const char *p, const char *d)
{
    struct tree_op o = { .type = type, .path = p,
                         .path_len = (uint32_t)strlen(p), .data = d,
                         .data_len = d ? (uint32_t)strlen(d) : 0 };
    return o;
}

static void every_kind_round_trips(void **state)
{
    (void)state;
    size_t len;
    struct tree_cmd c = { .type = TREE_CMD_CREATE, .time_ms = -5,
                          .session_id = UINT64_MAX, .xid = 1ULL << 40,
                          .op = op(TREE_CMD_CREATE, "/a/b", "data\0x") };
    c.op.mode = COORD_TTL | COORD_SEQUENTIAL;
    c.op.ttl_ms = 123456789;
    c.op.data_len = 6;
    coord_free(round_trip(&c, &len));
    c.type = c.op.type = TREE_CMD_DELETE;
    c.op.version = -1;
    coord_free(round_trip(&c, &len));
    c.type = c.op.type = TREE_CMD_SET;
    c.op.version = INT32_MAX;
    c.op.data_len = 0;
    coord_free(round_trip(&c, &len));
    c.type = c.op.type = TREE_CMD_CHECK;
    c.op.version = INT32_MIN;
    coord_free(round_trip(&c, &len));

    struct tree_op ops[3] = { op(TREE_CMD_CREATE, "/x", "1"),
                              op(TREE_CMD_SET, "/x", ""),
                              op(TREE_CMD_DELETE, "/x", NULL) };
    ops[0].mode = COORD_EPHEMERAL;
    struct tree_cmd m = { .type = TREE_CMD_MULTI, .time_ms = INT64_MAX,
                          .session_id = 3, .xid = 4, .ops = ops, .n_ops = 3 };
    coord_free(round_trip(&m, &len));
    m.n_ops = 0;
    coord_free(round_trip(&m, &len));
    m.type = TREE_CMD_CLEANUP;
    m.n_ops = 2;
    coord_free(round_trip(&m, &len));

    struct tree_cmd o = { .type = TREE_CMD_SESSION_OPEN, .session_id = 99,
                          .timeout_ms = 30000 };
    for (int i = 0; i < COORD_SECRET_BYTES; i++)
        o.secret[i] = (uint8_t)(i * 7);
    coord_free(round_trip(&o, &len));
    uint64_t ids[] = { 1, UINT64_MAX, 0 };
    struct tree_cmd e = { .type = TREE_CMD_SESSION_EXPIRE, .ids = ids,
                          .n_ids = 3 };
    coord_free(round_trip(&e, &len));
    struct tree_cmd n = { .type = TREE_CMD_NOOP, .time_ms = 1 };
    coord_free(round_trip(&n, &len));
    n.type = TREE_CMD_SESSION_CLOSE;
    n.session_id = 5;
    n.xid = 6;
    coord_free(round_trip(&n, &len));
}

static void encode_rejects_bad_fields(void **state)
{
    (void)state;
    void *b;
    size_t len;
    struct tree_cmd c = { .type = TREE_CMD_TYPE_MAX + 1 };
    assert_int_equal(tree_cmd_encode(&c, &b, &len), COORD_EINVAL);
    c.type = TREE_CMD_SET;
    c.op = op(TREE_CMD_DELETE, "/a", NULL);
    assert_int_equal(tree_cmd_encode(&c, &b, &len), COORD_EINVAL);
    c.op.type = TREE_CMD_SET;
    c.op.data = "";
    c.op.data_len = COORD_DATA_BYTES_MAX + 1;
    assert_int_equal(tree_cmd_encode(&c, &b, &len), COORD_ETOOBIG);
    struct tree_cmd m = { .type = TREE_CMD_MULTI, .ops = &c.op,
                          .n_ops = COORD_MULTI_OPS_MAX + 1 };
    assert_int_equal(tree_cmd_encode(&m, &b, &len), COORD_EINVAL);
    struct tree_cmd e = { .type = TREE_CMD_SESSION_EXPIRE, .ids = NULL,
                          .n_ids = 2 };
    assert_int_equal(tree_cmd_encode(&e, &b, &len), COORD_EINVAL);
}

static void decode_rejects_truncation_and_garbage(void **state)
{
    (void)state;
    struct tree_op ops[2] = { op(TREE_CMD_CREATE, "/x", "abc"),
                              op(TREE_CMD_CHECK, "/x", NULL) };
    struct tree_cmd m = { .type = TREE_CMD_MULTI, .session_id = 3,
                          .xid = 4, .ops = ops, .n_ops = 2 };
    uint8_t *b;
    size_t len;
    assert_int_equal(tree_cmd_encode(&m, (void **)&b, &len), 0);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(tree_cmd_decode(b, cut, &dec), COORD_EPROTO);
    uint8_t *x = malloc(len + 1);
    memcpy(x, b, len);
    x[len] = 0xc0; /* trailing nil */
    assert_int_equal(tree_cmd_decode(x, len + 1, &dec), COORD_EPROTO);
    /* Every byte set to every value: never a crash; a success must decode
     * to a command that re-encodes. */
    for (size_t i = 0; i < len; i++) {
        for (int v = 0; v < 256; v++) {
            memcpy(x, b, len);
            x[i] = (uint8_t)v;
            int err = tree_cmd_decode(x, len, &dec);
            assert_true(err == 0 || err == COORD_EPROTO);
            if (err == 0) {
                void *re;
                size_t rl;
                assert_int_equal(tree_cmd_encode(&dec.cmd, &re, &rl), 0);
                coord_free(re);
            }
        }
    }
    assert_int_equal(tree_cmd_decode(NULL, 0, &dec), COORD_EPROTO);
    free(x);
    coord_free(b);
}

static void *pack(void (*fn)(msgpack_packer *), size_t *len)
{
    static msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    fn(&pk);
    *len = sb.size;
    return sb.data;
}

static void head(msgpack_packer *pk, int format, int type)
{
    msgpack_pack_array(pk, 6);
    msgpack_pack_int(pk, format);
    msgpack_pack_int(pk, type);
    msgpack_pack_int(pk, 0);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 1);
}

static void bad_format(msgpack_packer *pk)
{
    head(pk, 2, TREE_CMD_NOOP);
    msgpack_pack_nil(pk);
}

static void bad_type(msgpack_packer *pk)
{
    head(pk, 1, TREE_CMD_TYPE_MAX + 1);
    msgpack_pack_nil(pk);
}

static void op_type_mismatch(msgpack_packer *pk)
{
    head(pk, 1, TREE_CMD_SET);
    msgpack_pack_array(pk, 6);
    msgpack_pack_int(pk, TREE_CMD_DELETE);
    msgpack_pack_str_with_body(pk, "/a", 2);
    msgpack_pack_bin_with_body(pk, "", 0);
    msgpack_pack_int(pk, 0);
    msgpack_pack_int(pk, -1);
    msgpack_pack_int(pk, 0);
}

static void version_out_of_range(msgpack_packer *pk)
{
    head(pk, 1, TREE_CMD_SET);
    msgpack_pack_array(pk, 6);
    msgpack_pack_int(pk, TREE_CMD_SET);
    msgpack_pack_str_with_body(pk, "/a", 2);
    msgpack_pack_bin_with_body(pk, "", 0);
    msgpack_pack_int(pk, 0);
    msgpack_pack_int64(pk, (int64_t)INT32_MAX + 1);
    msgpack_pack_int(pk, 0);
}

static void path_as_bin(msgpack_packer *pk)
{
    head(pk, 1, TREE_CMD_DELETE);
    msgpack_pack_array(pk, 6);
    msgpack_pack_int(pk, TREE_CMD_DELETE);
    msgpack_pack_bin_with_body(pk, "/a", 2);
    msgpack_pack_bin_with_body(pk, "", 0);
    msgpack_pack_int(pk, 0);
    msgpack_pack_int(pk, -1);
    msgpack_pack_int(pk, 0);
}

static void short_secret(msgpack_packer *pk)
{
    head(pk, 1, TREE_CMD_SESSION_OPEN);
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, 10000);
    msgpack_pack_bin_with_body(pk, "abc", 3);
}

static void too_many_ids(msgpack_packer *pk)
{
    head(pk, 1, TREE_CMD_SESSION_EXPIRE);
    msgpack_pack_array(pk, TREE_IDS_MAX + 1);
    for (int i = 0; i <= TREE_IDS_MAX; i++)
        msgpack_pack_int(pk, i);
}

static void negative_id(msgpack_packer *pk)
{
    head(pk, 1, TREE_CMD_SESSION_EXPIRE);
    msgpack_pack_array(pk, 1);
    msgpack_pack_int(pk, -1);
}

static void noop_with_body(msgpack_packer *pk)
{
    head(pk, 1, TREE_CMD_NOOP);
    msgpack_pack_int(pk, 1);
}

static void not_an_array(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 0);
}

static void decode_rejects_wrong_types(void **state)
{
    (void)state;
    void (*cases[])(msgpack_packer *) = {
        bad_format, bad_type, op_type_mismatch, version_out_of_range,
        path_as_bin, short_secret, too_many_ids, negative_id,
        noop_with_body, not_an_array,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        void *b = pack(cases[i], &len);
        assert_int_equal(tree_cmd_decode(b, len, &dec), COORD_EPROTO);
        free(b);
    }
}

/* Decoded strings point into the input, so a decoded command can be
 * applied straight from a log entry's bytes. */
static void decoded_command_applies(void **state)
{
    (void)state;
    struct tree *t;
    assert_int_equal(tree_open(&t, NULL), 0);
    struct tree_cmd o = { .type = TREE_CMD_SESSION_OPEN, .session_id = 1,
                          .timeout_ms = 10000 };
    struct tree_cmd c = { .type = TREE_CMD_CREATE, .session_id = 1,
                          .xid = 1, .time_ms = 77,
                          .op = op(TREE_CMD_CREATE, "/n", "v") };
    const struct tree_result *r;
    struct tree_cmd *cmds[] = { &o, &c };
    for (int i = 0; i < 2; i++) {
        void *b;
        size_t len;
        assert_int_equal(tree_cmd_encode(cmds[i], &b, &len), 0);
        assert_int_equal(tree_cmd_decode(b, len, &dec), 0);
        assert_int_equal(tree_apply(t, (uint64_t)i + 1, &dec.cmd, NULL, NULL,
                                    &r), 0);
        coord_free(b);
    }
    struct coord_stat s;
    assert_int_equal(tree_exists(t, "/n", 2, &s), 0);
    assert_int_equal(s.ctime_ms, 77);
    tree_close(t);
}

/* Any valid msgpack width decodes alike (the decoder reads in place, not
 * through msgpack-c): a SET whose integers use 64-bit/signed forms, whose
 * path is a str8 and whose data a bin16, as another encoder could write. */
static void decode_accepts_every_width(void **state)
{
    (void)state;
    static const uint8_t b[] = {
        0x96,                                     /* [6] */
        0xcf, 0, 0, 0, 0, 0, 0, 0, 1,             /* format, uint64 */
        0xd0, TREE_CMD_SET,                       /* type, int8 */
        0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* time -2 */
        0xce, 0, 0, 0x12, 0x34,                   /* session, uint32 */
        0xcd, 0x01, 0x00,                         /* xid 256, uint16 */
        0xdc, 0, 6,                               /* op: array16 [6] */
        0xcc, TREE_CMD_SET,                       /* op type, uint8 */
        0xd9, 2, '/', 'a',                        /* path, str8 */
        0xc5, 0, 3, 'x', 'y', 'z',                /* data, bin16 */
        0xd1, 0, 0,                               /* mode 0, int16 */
        0xd2, 0, 0, 0, 7,                         /* version 7, int32 */
        0xff,                                     /* ttl -1, negfixint */
    };
    static struct tree_cmd_buf out;
    assert_int_equal(tree_cmd_decode(b, sizeof(b), &out), 0);
    assert_int_equal(out.cmd.type, TREE_CMD_SET);
    assert_int_equal(out.cmd.time_ms, -2);
    assert_int_equal(out.cmd.session_id, 0x1234);
    assert_int_equal(out.cmd.xid, 256);
    assert_int_equal(out.cmd.op.type, TREE_CMD_SET);
    assert_int_equal(out.cmd.op.path_len, 2);
    assert_memory_equal(out.cmd.op.path, "/a", 2);
    assert_int_equal(out.cmd.op.data_len, 3);
    assert_memory_equal(out.cmd.op.data, "xyz", 3);
    assert_int_equal(out.cmd.op.mode, 0);
    assert_int_equal(out.cmd.op.version, 7);
    assert_int_equal(out.cmd.op.ttl_ms, -1);
    /* The same bytes with the op's version as a uint64 above INT32_MAX,
     * and with a trailing byte: refused. */
    uint8_t c[sizeof(b) + 1];
    memcpy(c, b, sizeof(b));
    c[sizeof(b)] = 0xc0;
    assert_int_equal(tree_cmd_decode(c, sizeof(c), &out), COORD_EPROTO);
    memcpy(c, b, sizeof(b));
    c[sizeof(b) - 6] = 0xce; /* int32 -> uint32 0x00000007: still fine */
    assert_int_equal(tree_cmd_decode(c, sizeof(b), &out), 0);
    c[sizeof(b) - 5] = 0x80; /* uint32 0x80000007 > INT32_MAX */
    assert_int_equal(tree_cmd_decode(c, sizeof(b), &out), COORD_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kind_round_trips),
        cmocka_unit_test(encode_rejects_bad_fields),
        cmocka_unit_test(decode_rejects_truncation_and_garbage),
        cmocka_unit_test(decode_rejects_wrong_types),
        cmocka_unit_test(decoded_command_applies),
        cmocka_unit_test(decode_accepts_every_width),
    };
    return cmocka_run_group_tests_name("cmd", tests, NULL, NULL);
}
