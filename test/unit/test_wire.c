/* test_wire.c -- unit tests of the wire codec (libcoord/shared/wire.c):
 * every request and response type round-trips field for field; every kind
 * of bad input (truncation at each byte, oversized prefixes, wrong types,
 * wrong arity, trailing bytes, out-of-range numbers, over-limit paths, data
 * and lists, unknown opcodes, random bytes) gets its specific error; the
 * encoder enforces the same limits. Malformed messages are built with
 * msgpack-c, an independent encoder, which also decodes our output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/wire.h"

/* ---- helpers ----------------------------------------------------------- */

static struct wire_limits lim;

static int setup(void **state)
{
    (void)state;
    wire_limits_default(&lim);
    return 0;
}

static struct wire_bytes B(const char *s)
{
    struct wire_bytes b = {s, (uint32_t)strlen(s)};
    return b;
}

static void assert_bytes(struct wire_bytes a, struct wire_bytes b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.ptr, b.ptr, a.len);
}

static struct coord_stat sample_stat(int seed)
{
    struct coord_stat s = {
        .czxid = 1000 + seed,
        .mzxid = UINT64_MAX - seed,
        .pzxid = 0x100000000ull + seed,
        .ctime_ms = -5 - seed,
        .mtime_ms = INT64_MAX - seed,
        .version = INT32_MIN + seed,
        .cversion = 300 + seed,
        .aversion = -1,
        .ephemeral_owner = 0xdeadbeefcafeull,
        .data_length = UINT32_MAX - seed,
        .num_children = 70000,
    };
    return s;
}

static void assert_stat(const struct coord_stat *a, const struct coord_stat *b)
{
    assert_int_equal(a->czxid, b->czxid);
    assert_int_equal(a->mzxid, b->mzxid);
    assert_int_equal(a->pzxid, b->pzxid);
    assert_int_equal(a->ctime_ms, b->ctime_ms);
    assert_int_equal(a->mtime_ms, b->mtime_ms);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->cversion, b->cversion);
    assert_int_equal(a->aversion, b->aversion);
    assert_int_equal(a->ephemeral_owner, b->ephemeral_owner);
    assert_int_equal(a->data_length, b->data_length);
    assert_int_equal(a->num_children, b->num_children);
}

/* Encodes req into a fresh buffer, checks the frame, decodes the body. */
static void req_roundtrip(const struct wire_req *in, struct wire_buf *b,
                          struct wire_req *out)
{
    wire_buf_init(b, 8 * 1024 * 1024);
    assert_int_equal(wire_encode_req(b, in, &lim), 0);
    size_t fb = 0;
    assert_int_equal(wire_frame_check(b->data, b->len, lim.frame_bytes_max,
                                      &fb),
                     0);
    assert_int_equal(fb, b->len);
    assert_int_equal(wire_decode_req(b->data + 4, b->len - 4, &lim, out), 0);
    assert_int_equal(out->op, in->op);
    assert_int_equal(out->xid, in->xid);
}

static void resp_roundtrip(const struct wire_resp *in, struct wire_buf *b,
                           struct wire_resp *out)
{
    wire_buf_init(b, 8 * 1024 * 1024);
    assert_int_equal(wire_encode_resp(b, in, &lim), 0);
    size_t fb = 0;
    assert_int_equal(wire_frame_check(b->data, b->len, lim.frame_bytes_max,
                                      &fb),
                     0);
    assert_int_equal(fb, b->len);
    assert_int_equal(wire_decode_resp(b->data + 4, b->len - 4, &lim, out),
                     0);
    assert_int_equal(out->op, in->op);
    assert_int_equal(out->xid, in->xid);
    assert_int_equal(out->zxid, in->zxid);
    assert_int_equal(out->err, in->err);
}

static const char secret[COORD_SECRET_BYTES] = "0123456789abcdef0123456789abcde";

/* ---- round trips: requests --------------------------------------------- */

static void rt_hello(void **state)
{
    (void)state;
    struct wire_req in = {.op = WIRE_OP_HELLO, .xid = 0}, out;
    struct wire_buf b;
    in.u.hello = (struct wire_hello){
        .version = COORD_PROTOCOL_VERSION,
        .session_id = 0x1122334455667788ull,
        .secret = {secret, COORD_SECRET_BYTES},
        .timeout_ms = 30000,
        .last_zxid = 987654321,
        .flags = WIRE_HELLO_READ_ONLY,
    };
    req_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.hello.version, COORD_PROTOCOL_VERSION);
    assert_int_equal(out.u.hello.session_id, in.u.hello.session_id);
    assert_bytes(out.u.hello.secret, in.u.hello.secret);
    assert_int_equal(out.u.hello.timeout_ms, 30000);
    assert_int_equal(out.u.hello.last_zxid, 987654321);
    assert_int_equal(out.u.hello.flags, WIRE_HELLO_READ_ONLY);
    wire_buf_free(&b);

    /* New session: id 0, empty secret. */
    in.u.hello.session_id = 0;
    in.u.hello.secret = (struct wire_bytes){NULL, 0};
    in.u.hello.flags = 0;
    req_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.hello.session_id, 0);
    assert_int_equal(out.u.hello.secret.len, 0);
    wire_buf_free(&b);
}

static void rt_close_ping(void **state)
{
    (void)state;
    uint32_t ops[] = {WIRE_OP_CLOSE, WIRE_OP_PING};
    for (int i = 0; i < 2; i++) {
        struct wire_req in = {.op = ops[i], .xid = INT64_MAX - i}, out;
        struct wire_buf b;
        req_roundtrip(&in, &b, &out);
        wire_buf_free(&b);
    }
}

static void rt_create(void **state)
{
    (void)state;
    static char data[300];
    memset(data, 0xab, sizeof(data));
    struct wire_req in = {.op = WIRE_OP_CREATE, .xid = 7}, out;
    struct wire_buf b;
    in.u.create = (struct wire_create){
        .path = B("/app/lock-"),
        .data = {data, sizeof(data)},
        .mode = COORD_EPHEMERAL | COORD_SEQUENTIAL,
        .ttl_ms = 0,
    };
    req_roundtrip(&in, &b, &out);
    assert_bytes(out.u.create.path, in.u.create.path);
    assert_bytes(out.u.create.data, in.u.create.data);
    assert_int_equal(out.u.create.mode, in.u.create.mode);
    assert_int_equal(out.u.create.ttl_ms, 0);
    /* Zero-copy: the decoded path points into the buffer. */
    assert_true((const uint8_t *)out.u.create.path.ptr > b.data &&
                (const uint8_t *)out.u.create.path.ptr < b.data + b.len);
    wire_buf_free(&b);

    in.u.create.mode = COORD_TTL;
    in.u.create.ttl_ms = 1ull << 40;
    in.u.create.data = (struct wire_bytes){NULL, 0};
    req_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.create.mode, COORD_TTL);
    assert_int_equal(out.u.create.ttl_ms, 1ull << 40);
    assert_int_equal(out.u.create.data.len, 0);
    wire_buf_free(&b);
}

static void rt_path_version(void **state)
{
    (void)state;
    uint32_t ops[] = {WIRE_OP_DELETE, WIRE_OP_CHECK};
    int32_t versions[] = {-1, 0, INT32_MAX};
    for (int i = 0; i < 2; i++)
        for (int v = 0; v < 3; v++) {
            struct wire_req in = {.op = ops[i], .xid = 9}, out;
            struct wire_buf b;
            in.u.pv.path = B("/a/b/c");
            in.u.pv.version = versions[v];
            req_roundtrip(&in, &b, &out);
            assert_bytes(out.u.pv.path, in.u.pv.path);
            assert_int_equal(out.u.pv.version, versions[v]);
            wire_buf_free(&b);
        }
}

static void rt_reads(void **state)
{
    (void)state;
    uint32_t ops[] = {WIRE_OP_EXISTS, WIRE_OP_GET};
    uint32_t flags[] = {0, WIRE_READ_WATCH, WIRE_READ_LOCAL,
                        WIRE_READ_WATCH | WIRE_READ_LOCAL};
    for (int i = 0; i < 2; i++)
        for (int f = 0; f < 4; f++) {
            struct wire_req in = {.op = ops[i], .xid = 100 + f}, out;
            struct wire_buf b;
            in.u.read.path = B("/x");
            in.u.read.flags = flags[f];
            req_roundtrip(&in, &b, &out);
            assert_bytes(out.u.read.path, in.u.read.path);
            assert_int_equal(out.u.read.flags, flags[f]);
            wire_buf_free(&b);
        }
}

static void rt_set(void **state)
{
    (void)state;
    /* 70000 bytes: exercises bin32. */
    char *data = coord_malloc(70000);
    memset(data, 'z', 70000);
    struct wire_req in = {.op = WIRE_OP_SET, .xid = 1}, out;
    struct wire_buf b;
    in.u.set.path = B("/config");
    in.u.set.data = (struct wire_bytes){data, 70000};
    in.u.set.version = 41;
    req_roundtrip(&in, &b, &out);
    assert_bytes(out.u.set.path, in.u.set.path);
    assert_bytes(out.u.set.data, in.u.set.data);
    assert_int_equal(out.u.set.version, 41);
    wire_buf_free(&b);
    coord_free(data);
}

static void rt_children_req(void **state)
{
    (void)state;
    struct wire_req in = {.op = WIRE_OP_CHILDREN, .xid = 3}, out;
    struct wire_buf b;
    in.u.children = (struct wire_children_req){
        .path = B("/services"),
        .flags = WIRE_READ_WATCH | WIRE_READ_STATS | WIRE_READ_LOCAL,
        .start_after = B("node-0000000041"),
        .max_count = 500,
    };
    req_roundtrip(&in, &b, &out);
    assert_bytes(out.u.children.path, in.u.children.path);
    assert_int_equal(out.u.children.flags, in.u.children.flags);
    assert_bytes(out.u.children.start_after, in.u.children.start_after);
    assert_int_equal(out.u.children.max_count, 500);
    wire_buf_free(&b);
}

static const struct wire_multi_op sample_ops[] = {
    {.op = WIRE_OP_CREATE, .path = {"/m/a", 4}, .data = {"xyz", 3},
     .mode = COORD_CONTAINER, .ttl_ms = 5},
    {.op = WIRE_OP_DELETE, .path = {"/m/b", 4}, .version = -1},
    {.op = WIRE_OP_SET, .path = {"/m/c", 4}, .data = {"", 0}, .version = 7},
    {.op = WIRE_OP_CHECK, .path = {"/m", 2}, .version = 2},
};

static void assert_op(const struct wire_multi_op *a,
                      const struct wire_multi_op *b)
{
    assert_int_equal(a->op, b->op);
    assert_bytes(a->path, b->path);
    if (a->op == WIRE_OP_CREATE || a->op == WIRE_OP_SET)
        assert_bytes(a->data, b->data);
    if (a->op == WIRE_OP_CREATE) {
        assert_int_equal(a->mode, b->mode);
        assert_int_equal(a->ttl_ms, b->ttl_ms);
    } else {
        assert_int_equal(a->version, b->version);
    }
}

static void rt_multi(void **state)
{
    (void)state;
    struct wire_req in = {.op = WIRE_OP_MULTI, .xid = 55}, out, out2;
    struct wire_buf b, b2;
    in.u.multi.n = 4;
    in.u.multi.ops = sample_ops;
    req_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.multi.n, 4);
    assert_null(out.u.multi.ops);
    struct wire_iter it = out.u.multi.it;
    struct wire_multi_op o;
    for (int i = 0; i < 4; i++) {
        assert_true(wire_next_op(&it, &o));
        assert_op(&o, &sample_ops[i]);
    }
    assert_false(wire_next_op(&it, &o));
    /* Re-encode straight from the decoded iterator: same bytes. */
    req_roundtrip(&out, &b2, &out2);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.data, b.data, b.len);
    wire_buf_free(&b2);
    wire_buf_free(&b);

    /* An empty multi is legal. */
    in.u.multi.n = 0;
    req_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.multi.n, 0);
    wire_buf_free(&b);
}

static void rt_sync_and_watches(void **state)
{
    (void)state;
    struct wire_req in = {.op = WIRE_OP_SYNC, .xid = 2}, out;
    struct wire_buf b;
    in.u.path = B("/");
    req_roundtrip(&in, &b, &out);
    assert_bytes(out.u.path, in.u.path);
    wire_buf_free(&b);

    uint32_t ops[] = {WIRE_OP_ADD_WATCH, WIRE_OP_REMOVE_WATCH};
    for (int i = 0; i < 2; i++)
        for (uint32_t k = COORD_WATCH_DATA;
             k <= COORD_WATCH_PERSISTENT_RECURSIVE; k++) {
            if (ops[i] == WIRE_OP_ADD_WATCH && k < COORD_WATCH_PERSISTENT)
                continue;
            memset(&in, 0, sizeof(in));
            in.op = ops[i];
            in.xid = 10 + k;
            in.u.watch.path = B("/w");
            in.u.watch.kind = k;
            req_roundtrip(&in, &b, &out);
            assert_bytes(out.u.watch.path, in.u.watch.path);
            assert_int_equal(out.u.watch.kind, k);
            wire_buf_free(&b);
        }
}

static void rt_set_watches(void **state)
{
    (void)state;
    static const struct wire_bytes paths[] = {
        {"/a", 2}, {"/b/c", 4}, {"/d", 2}, {"/e", 2}, {"/f", 2}};
    struct wire_req in = {.op = WIRE_OP_SET_WATCHES, .xid = 4}, out;
    struct wire_buf b;
    in.u.set_watches.last_zxid = 123456789012ull;
    for (int k = 0; k < WIRE_WATCH_KINDS; k++) {
        in.u.set_watches.kinds[k].n = (uint32_t)k; /* 0..4 paths */
        in.u.set_watches.kinds[k].paths = paths;
    }
    req_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.set_watches.last_zxid, 123456789012ull);
    for (int k = 0; k < WIRE_WATCH_KINDS; k++) {
        struct wire_paths *ps = &out.u.set_watches.kinds[k];
        assert_int_equal(ps->n, (uint32_t)k);
        struct wire_bytes p;
        for (int i = 0; i < k; i++) {
            assert_true(wire_next_path(&ps->it, &p));
            assert_bytes(p, paths[i]);
        }
        assert_false(wire_next_path(&ps->it, &p));
    }
    wire_buf_free(&b);
}

/* ---- round trips: responses -------------------------------------------- */

static void rt_hello_reply(void **state)
{
    (void)state;
    struct wire_resp in = {.op = WIRE_OP_HELLO, .xid = 0, .zxid = 77}, out;
    struct wire_buf b;
    in.u.hello = (struct wire_hello_reply){
        .version = 1,
        .session_id = 42,
        .secret = {secret, COORD_SECRET_BYTES},
        .timeout_ms = 10000,
        .limits = {1 << 20, 512 * 1024, 1024, 100, 5000},
        .server_id = 3,
        .leader_id = 1,
        .flags = WIRE_HELLO_READ_ONLY,
    };
    resp_roundtrip(&in, &b, &out);
    struct wire_hello_reply *h = &out.u.hello;
    assert_int_equal(h->version, 1);
    assert_int_equal(h->session_id, 42);
    assert_bytes(h->secret, in.u.hello.secret);
    assert_int_equal(h->timeout_ms, 10000);
    assert_int_equal(h->limits.frame_bytes_max, 1 << 20);
    assert_int_equal(h->limits.data_bytes_max, 512 * 1024);
    assert_int_equal(h->limits.path_bytes_max, 1024);
    assert_int_equal(h->limits.multi_ops_max, 100);
    assert_int_equal(h->limits.children_page_max, 5000);
    assert_int_equal(h->server_id, 3);
    assert_int_equal(h->leader_id, 1);
    assert_int_equal(h->flags, WIRE_HELLO_READ_ONLY);
    wire_buf_free(&b);
}

static void rt_bodyless_responses(void **state)
{
    (void)state;
    uint32_t ops[] = {WIRE_OP_CLOSE,        WIRE_OP_PING,
                      WIRE_OP_DELETE,       WIRE_OP_CHECK,
                      WIRE_OP_SYNC,         WIRE_OP_ADD_WATCH,
                      WIRE_OP_REMOVE_WATCH, WIRE_OP_SET_WATCHES};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        struct wire_resp in = {.op = ops[i], .xid = 5, .zxid = i}, out;
        struct wire_buf b;
        resp_roundtrip(&in, &b, &out);
        wire_buf_free(&b);
    }
}

static void rt_error_responses(void **state)
{
    (void)state;
    /* Every opcode with a response, plus one not in the table. */
    uint32_t ops[] = {WIRE_OP_HELLO, WIRE_OP_CREATE, WIRE_OP_GET,
                      WIRE_OP_CHILDREN, WIRE_OP_MULTI, 999};
    int errs[] = {COORD_ENONODE, COORD_EPROTOVERSION, COORD_ENOTSUP,
                  COORD_EBADVERSION, COORD_ENOTLEADER, COORD_EPROTO};
    for (size_t i = 0; i < 6; i++) {
        struct wire_resp in = {.op = ops[i], .xid = 8, .zxid = 9,
                               .err = errs[i]}, out;
        struct wire_buf b;
        resp_roundtrip(&in, &b, &out);
        /* No body: [op, xid, zxid, err] is the whole message. */
        assert_int_equal(b.data[4], 0x94);
        wire_buf_free(&b);
    }
}

static void rt_created_stat_get(void **state)
{
    (void)state;
    struct wire_resp in = {.op = WIRE_OP_CREATE, .xid = 1, .zxid = 2}, out;
    struct wire_buf b;
    in.u.created.path = B("/lock-0000000007");
    in.u.created.stat = sample_stat(1);
    resp_roundtrip(&in, &b, &out);
    assert_bytes(out.u.created.path, in.u.created.path);
    assert_stat(&out.u.created.stat, &in.u.created.stat);
    wire_buf_free(&b);

    uint32_t stat_ops[] = {WIRE_OP_EXISTS, WIRE_OP_SET};
    for (int i = 0; i < 2; i++) {
        memset(&in, 0, sizeof(in));
        in.op = stat_ops[i];
        in.xid = 3;
        in.u.stat = sample_stat(i + 2);
        resp_roundtrip(&in, &b, &out);
        assert_stat(&out.u.stat, &in.u.stat);
        wire_buf_free(&b);
    }

    memset(&in, 0, sizeof(in));
    in.op = WIRE_OP_GET;
    in.xid = 4;
    in.u.get.data = (struct wire_bytes){"\0\1\2\3", 4};
    in.u.get.stat = sample_stat(9);
    resp_roundtrip(&in, &b, &out);
    assert_bytes(out.u.get.data, in.u.get.data);
    assert_stat(&out.u.get.stat, &in.u.get.stat);
    wire_buf_free(&b);
}

static void rt_children_resp(void **state)
{
    (void)state;
    struct wire_child entries[3] = {
        {.name = {"a", 1}, .stat = sample_stat(1)},
        {.name = {"b-0000000001", 12}, .stat = sample_stat(2)},
        {.name = {"", 0}, .stat = sample_stat(3)},
    };
    for (int ws = 0; ws < 2; ws++) {
        struct wire_resp in = {.op = WIRE_OP_CHILDREN, .xid = 6}, out;
        struct wire_buf b;
        in.u.children.more = ws == 0;
        in.u.children.with_stats = ws == 1;
        in.u.children.n = 3;
        in.u.children.entries = entries;
        resp_roundtrip(&in, &b, &out);
        assert_int_equal(out.u.children.more, ws == 0);
        assert_int_equal(out.u.children.with_stats, ws == 1);
        assert_int_equal(out.u.children.n, 3);
        struct wire_child c;
        for (int i = 0; i < 3; i++) {
            assert_true(wire_next_child(&out.u.children.it, &c));
            assert_bytes(c.name, entries[i].name);
            if (ws)
                assert_stat(&c.stat, &entries[i].stat);
        }
        assert_false(wire_next_child(&out.u.children.it, &c));
        wire_buf_free(&b);
    }
}

static void rt_multi_resp(void **state)
{
    (void)state;
    struct wire_op_result res[] = {
        {.op = WIRE_OP_CREATE, .err = 0, .path = {"/m/a", 4},
         .stat = sample_stat(4)},
        {.op = WIRE_OP_SET, .err = 0, .stat = sample_stat(5)},
        {.op = WIRE_OP_DELETE, .err = 0},
        {.op = WIRE_OP_CHECK, .err = COORD_EBADVERSION},
        {.op = WIRE_OP_CREATE, .err = COORD_ESKIPPED},
    };
    struct wire_resp in = {.op = WIRE_OP_MULTI, .xid = 6, .zxid = 1}, out;
    struct wire_buf b;
    in.u.multi.n = 5;
    in.u.multi.results = res;
    resp_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.multi.n, 5);
    struct wire_op_result r;
    for (int i = 0; i < 5; i++) {
        assert_true(wire_next_result(&out.u.multi.it, &r));
        assert_int_equal(r.op, res[i].op);
        assert_int_equal(r.err, res[i].err);
        if (r.err == 0 && r.op == WIRE_OP_CREATE)
            assert_bytes(r.path, res[i].path);
        if (r.err == 0 && (r.op == WIRE_OP_CREATE || r.op == WIRE_OP_SET))
            assert_stat(&r.stat, &res[i].stat);
    }
    assert_false(wire_next_result(&out.u.multi.it, &r));
    wire_buf_free(&b);
}

static void rt_watch_event(void **state)
{
    (void)state;
    for (uint32_t t = COORD_EVENT_CREATED; t <= COORD_EVENT_MUST_REREAD;
         t++) {
        struct wire_resp in = {.op = WIRE_OP_WATCH_EVENT,
                               .xid = WIRE_XID_EVENT,
                               .zxid = 1000 + t},
                         out;
        struct wire_buf b;
        in.u.event.type = t;
        in.u.event.path = B("/watched/node");
        resp_roundtrip(&in, &b, &out);
        assert_int_equal(out.u.event.type, t);
        assert_bytes(out.u.event.path, in.u.event.path);
        wire_buf_free(&b);
    }
}

/* ---- admin ------------------------------------------------------------- */

static void rt_admin_requests(void **state)
{
    (void)state;
    struct wire_req in, out;
    struct wire_buf b;
    memset(&in, 0, sizeof(in));
    in.op = WIRE_OP_MEMBER_ADD;
    in.xid = 7;
    in.u.member.id = 4;
    in.u.member.client_addr = B("127.0.0.4:2181");
    in.u.member.peer_addr = B("127.0.0.4:2888");
    req_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.member.id, 4);
    assert_bytes(out.u.member.client_addr, in.u.member.client_addr);
    assert_bytes(out.u.member.peer_addr, in.u.member.peer_addr);
    wire_buf_free(&b);
    const uint32_t ops[] = {WIRE_OP_MEMBER_PROMOTE, WIRE_OP_MEMBER_REMOVE,
                            WIRE_OP_LEADER_TRANSFER};
    for (size_t i = 0; i < 3; i++) {
        memset(&in, 0, sizeof(in));
        in.op = ops[i];
        in.xid = 9;
        in.u.member.id = 10 + i;
        req_roundtrip(&in, &b, &out);
        assert_int_equal(out.u.member.id, 10 + i);
        wire_buf_free(&b);
    }
    memset(&in, 0, sizeof(in));
    in.op = WIRE_OP_STATUS;
    req_roundtrip(&in, &b, &out);
    wire_buf_free(&b);
    /* id 0 means "best" only for LEADER_TRANSFER; addresses required */
    wire_buf_init(&b, 1 << 20);
    in.op = WIRE_OP_LEADER_TRANSFER;
    assert_int_equal(wire_encode_req(&b, &in, &lim), 0);
    in.op = WIRE_OP_MEMBER_REMOVE;
    assert_int_equal(wire_encode_req(&b, &in, &lim), COORD_EINVAL);
    in.op = WIRE_OP_MEMBER_ADD;
    in.u.member.id = 5;
    assert_int_equal(wire_encode_req(&b, &in, &lim), COORD_EINVAL);
    wire_buf_free(&b);
}

static void rt_status(void **state)
{
    (void)state;
    struct wire_member ms[3] = {
        {1, WIRE_ROLE_VOTER, {"127.0.0.1:2181", 14}, 500, 0},
        {2, WIRE_ROLE_VOTER, {"127.0.0.2:2181", 14}, 490, 10},
        {4, WIRE_ROLE_LEARNER, {"", 0}, 3, 497},
    };
    struct wire_resp in, out, again;
    memset(&in, 0, sizeof(in));
    in.op = WIRE_OP_STATUS;
    in.xid = 3;
    struct wire_status *s = &in.u.status;
    *s = (struct wire_status){.server_id = 1, .role = 4, .term = 7,
                              .leader_id = 1, .commit = 499, .applied = 498,
                              .last_index = 500, .snap_index = 256,
                              .sessions = 12, .watches = 34,
                              .connections = 5, .digest_mismatches = 2,
                              .n = 3, .members = ms};
    struct wire_buf b, b2;
    resp_roundtrip(&in, &b, &out);
    const struct wire_status *o = &out.u.status;
    assert_int_equal(o->server_id, 1);
    assert_int_equal(o->role, 4);
    assert_int_equal(o->term, 7);
    assert_int_equal(o->commit, 499);
    assert_int_equal(o->applied, 498);
    assert_int_equal(o->last_index, 500);
    assert_int_equal(o->snap_index, 256);
    assert_int_equal(o->sessions, 12);
    assert_int_equal(o->watches, 34);
    assert_int_equal(o->connections, 5);
    assert_int_equal(o->digest_mismatches, 2);
    assert_int_equal(o->n, 3);
    struct wire_iter it = o->it;
    struct wire_member m;
    for (int i = 0; i < 3; i++) {
        assert_true(wire_next_member(&it, &m));
        assert_int_equal(m.id, ms[i].id);
        assert_int_equal(m.role, ms[i].role);
        assert_bytes(m.addr, ms[i].addr);
        assert_int_equal(m.match, ms[i].match);
        assert_int_equal(m.lag, ms[i].lag);
    }
    assert_false(wire_next_member(&it, &m));
    /* re-encoding from the iterator gives the same bytes */
    resp_roundtrip(&out, &b2, &again);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    wire_buf_free(&b);
    wire_buf_free(&b2);
    /* a bad role and too many members are refused */
    wire_buf_init(&b, 1 << 20);
    ms[1].role = 3;
    assert_int_equal(wire_encode_resp(&b, &in, &lim), COORD_EINVAL);
    ms[1].role = WIRE_ROLE_VOTER;
    s->n = WIRE_MEMBERS_MAX + 1;
    assert_int_equal(wire_encode_resp(&b, &in, &lim), COORD_ETOOMANY);
    assert_int_equal(b.len, 0);
    wire_buf_free(&b);
}

/* ---- framing ----------------------------------------------------------- */

static void frame_check_cases(void **state)
{
    (void)state;
    size_t fb = 0;
    uint8_t f[8] = {0, 0, 0, 3, 0x93, 1, 2, 3};
    /* Short prefix: wait for 4 bytes. */
    for (size_t n = 0; n < 4; n++) {
        assert_int_equal(wire_frame_check(f, n, 100, &fb), COORD_EAGAIN);
        assert_int_equal(fb, 4);
    }
    /* Prefix known: wait for the whole frame, then complete. */
    assert_int_equal(wire_frame_check(f, 4, 100, &fb), COORD_EAGAIN);
    assert_int_equal(fb, 7);
    assert_int_equal(wire_frame_check(f, 6, 100, &fb), COORD_EAGAIN);
    assert_int_equal(wire_frame_check(f, 8, 100, &fb), 0);
    assert_int_equal(fb, 7);
    /* Oversized length: refused from the prefix alone. */
    uint8_t big[4] = {0, 0, 0, 101};
    assert_int_equal(wire_frame_check(big, 4, 100, &fb), COORD_ETOOBIG);
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(wire_frame_check(huge, 4, COORD_FRAME_BYTES_MAX, &fb),
                     COORD_ETOOBIG);
    uint8_t edge[4] = {0, 0x20, 0, 1}; /* COORD_FRAME_BYTES_MAX + 1 */
    assert_int_equal(wire_frame_check(edge, 4, COORD_FRAME_BYTES_MAX, &fb),
                     COORD_ETOOBIG);
    edge[3] = 0;
    assert_int_equal(wire_frame_check(edge, 4, COORD_FRAME_BYTES_MAX, &fb),
                     COORD_EAGAIN);
    assert_int_equal(fb, 4 + COORD_FRAME_BYTES_MAX);
    /* Zero length and a body that is not an array: garbage. */
    uint8_t zero[4] = {0};
    assert_int_equal(wire_frame_check(zero, 4, 100, &fb), COORD_EPROTO);
    uint8_t junk[5] = {0, 0, 0, 1, 0xc1};
    assert_int_equal(wire_frame_check(junk, 5, 100, &fb), COORD_EPROTO);
    uint8_t text[8] = "GET / HT";
    assert_int_equal(wire_frame_check(text, 8, COORD_FRAME_BYTES_MAX, &fb),
                     COORD_ETOOBIG);
}

/* Encodes one of every request and response into b (pipelined frames). */
static void encode_samples(struct wire_buf *b, int *n_req, int *n_resp);

static void truncation_at_every_offset(void **state)
{
    (void)state;
    struct wire_buf b;
    int n_req, n_resp;
    wire_buf_init(&b, 1 << 22);
    encode_samples(&b, &n_req, &n_resp);
    size_t off = 0;
    for (int i = 0; i < n_req + n_resp; i++) {
        size_t fb;
        assert_int_equal(wire_frame_check(b.data + off, b.len - off,
                                          lim.frame_bytes_max, &fb),
                         0);
        const uint8_t *body = b.data + off + 4;
        size_t len = fb - 4;
        for (size_t k = 0; k < fb; k++) {
            size_t need;
            assert_int_equal(wire_frame_check(b.data + off, k,
                                              lim.frame_bytes_max, &need),
                             COORD_EAGAIN);
        }
        for (size_t k = 0; k < len; k++) {
            struct wire_req q;
            struct wire_resp s;
            if (i < n_req)
                assert_int_equal(wire_decode_req(body, k, &lim, &q),
                                 COORD_EPROTO);
            else
                assert_int_equal(wire_decode_resp(body, k, &lim, &s),
                                 COORD_EPROTO);
        }
        struct wire_req q;
        struct wire_resp s;
        if (i < n_req)
            assert_int_equal(wire_decode_req(body, len, &lim, &q), 0);
        else
            assert_int_equal(wire_decode_resp(body, len, &lim, &s), 0);
        off += fb;
    }
    assert_int_equal(off, b.len);
    wire_buf_free(&b);
}

/* ---- malformed messages built with msgpack-c --------------------------- */

struct mp {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void mp_init(struct mp *m)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void mp_str(struct mp *m, const char *s, size_t n)
{
    msgpack_pack_str(&m->pk, n);
    msgpack_pack_str_body(&m->pk, s, n);
}

static void mp_bin(struct mp *m, const char *s, size_t n)
{
    msgpack_pack_bin(&m->pk, n);
    msgpack_pack_bin_body(&m->pk, s, n);
}

static int mp_req(struct mp *m)
{
    struct wire_req q;
    int rc = wire_decode_req((const uint8_t *)m->sb.data, m->sb.size, &lim,
                             &q);
    msgpack_sbuffer_destroy(&m->sb);
    return rc;
}

static int mp_resp(struct mp *m)
{
    struct wire_resp s;
    int rc = wire_decode_resp((const uint8_t *)m->sb.data, m->sb.size, &lim,
                              &s);
    msgpack_sbuffer_destroy(&m->sb);
    return rc;
}

/* [GET, xid, path, flags] with each part chosen by the caller. */
enum get_variant { GV_OK, GV_PATH_BIN, GV_FLAGS_STR, GV_EXTRA, GV_MISSING,
                   GV_TRAILING, GV_NEG_XID, GV_BAD_FLAGS, GV_FLOAT_XID,
                   GV_NIL_PATH, GV_MAP };

static int get_variant(enum get_variant v)
{
    struct mp m;
    mp_init(&m);
    if (v == GV_MAP) {
        msgpack_pack_map(&m.pk, 0);
        return mp_req(&m);
    }
    msgpack_pack_array(&m.pk, v == GV_EXTRA ? 5 : v == GV_MISSING ? 3 : 4);
    msgpack_pack_uint32(&m.pk, WIRE_OP_GET);
    if (v == GV_NEG_XID)
        msgpack_pack_int64(&m.pk, -2);
    else if (v == GV_FLOAT_XID)
        msgpack_pack_double(&m.pk, 1.0);
    else
        msgpack_pack_uint64(&m.pk, 12);
    if (v == GV_PATH_BIN)
        mp_bin(&m, "/a", 2);
    else if (v == GV_NIL_PATH)
        msgpack_pack_nil(&m.pk);
    else
        mp_str(&m, "/a", 2);
    if (v == GV_MISSING)
        return mp_req(&m);
    if (v == GV_FLAGS_STR)
        mp_str(&m, "1", 1);
    else
        msgpack_pack_uint32(&m.pk, v == GV_BAD_FLAGS ? 8 : 1);
    if (v == GV_EXTRA)
        msgpack_pack_true(&m.pk);
    if (v == GV_TRAILING)
        msgpack_pack_nil(&m.pk);
    return mp_req(&m);
}

static void malformed_fields(void **state)
{
    (void)state;
    assert_int_equal(get_variant(GV_OK), 0);
    assert_int_equal(get_variant(GV_PATH_BIN), COORD_EPROTO);
    assert_int_equal(get_variant(GV_NIL_PATH), COORD_EPROTO);
    assert_int_equal(get_variant(GV_FLAGS_STR), COORD_EPROTO);
    assert_int_equal(get_variant(GV_EXTRA), COORD_EPROTO);
    assert_int_equal(get_variant(GV_MISSING), COORD_EPROTO);
    assert_int_equal(get_variant(GV_TRAILING), COORD_EPROTO);
    assert_int_equal(get_variant(GV_NEG_XID), COORD_EPROTO);
    assert_int_equal(get_variant(GV_FLOAT_XID), COORD_EPROTO);
    assert_int_equal(get_variant(GV_BAD_FLAGS), COORD_EPROTO);
    assert_int_equal(get_variant(GV_MAP), COORD_EPROTO);
}

/* msgpack-c picks its own integer widths: signed and wide encodings of
 * small values are accepted. */
static void accepts_any_int_width(void **state)
{
    (void)state;
    struct mp m;
    mp_init(&m);
    msgpack_pack_array(&m.pk, 4);
    msgpack_pack_int64(&m.pk, WIRE_OP_DELETE);
    msgpack_pack_uint64(&m.pk, 1);
    mp_str(&m, "/a", 2);
    msgpack_pack_int32(&m.pk, -1);
    struct wire_req q;
    assert_int_equal(wire_decode_req((const uint8_t *)m.sb.data, m.sb.size,
                                     &lim, &q),
                     0);
    assert_int_equal(q.u.pv.version, -1);
    msgpack_sbuffer_destroy(&m.sb);
}

static int version_req(int64_t version)
{
    struct mp m;
    mp_init(&m);
    msgpack_pack_array(&m.pk, 4);
    msgpack_pack_uint32(&m.pk, WIRE_OP_CHECK);
    msgpack_pack_uint32(&m.pk, 1);
    mp_str(&m, "/a", 2);
    msgpack_pack_int64(&m.pk, version);
    return mp_req(&m);
}

static void numbers_out_of_range(void **state)
{
    (void)state;
    assert_int_equal(version_req(INT32_MAX), 0);
    assert_int_equal(version_req(-1), 0);
    assert_int_equal(version_req((int64_t)INT32_MAX + 1), COORD_EPROTO);
    assert_int_equal(version_req(-2), COORD_EPROTO);
    assert_int_equal(version_req(INT64_MIN), COORD_EPROTO);

    /* xid above INT64_MAX; opcode above WIRE_OP_MAX and zero. */
    struct mp m;
    mp_init(&m);
    msgpack_pack_array(&m.pk, 2);
    msgpack_pack_uint32(&m.pk, WIRE_OP_PING);
    msgpack_pack_uint64(&m.pk, (uint64_t)INT64_MAX + 1);
    assert_int_equal(mp_req(&m), COORD_EPROTO);
    uint64_t bad_ops[] = {0, WIRE_OP_MAX + 1, UINT64_MAX};
    for (int i = 0; i < 3; i++) {
        mp_init(&m);
        msgpack_pack_array(&m.pk, 2);
        msgpack_pack_uint64(&m.pk, bad_ops[i]);
        msgpack_pack_uint32(&m.pk, 1);
        assert_int_equal(mp_req(&m), COORD_EPROTO);
    }
    /* A stat field (data_length) over UINT32_MAX. */
    mp_init(&m);
    msgpack_pack_array(&m.pk, 5);
    msgpack_pack_uint32(&m.pk, WIRE_OP_EXISTS);
    msgpack_pack_uint32(&m.pk, 1);
    msgpack_pack_uint32(&m.pk, 1);
    msgpack_pack_int32(&m.pk, 0);
    msgpack_pack_array(&m.pk, WIRE_STAT_FIELDS);
    for (int i = 0; i < WIRE_STAT_FIELDS; i++)
        msgpack_pack_uint64(&m.pk, i == 9 ? 1ull << 32 : 1);
    assert_int_equal(mp_resp(&m), COORD_EPROTO);
    /* A positive error code. */
    mp_init(&m);
    msgpack_pack_array(&m.pk, 4);
    msgpack_pack_uint32(&m.pk, WIRE_OP_PING);
    msgpack_pack_uint32(&m.pk, 1);
    msgpack_pack_uint32(&m.pk, 1);
    msgpack_pack_int32(&m.pk, 1);
    assert_int_equal(mp_resp(&m), COORD_EPROTO);
}

static void unknown_and_misdirected_ops(void **state)
{
    (void)state;
    struct mp m;
    mp_init(&m);
    msgpack_pack_array(&m.pk, 2);
    msgpack_pack_uint32(&m.pk, 150); /* reserved admin range */
    msgpack_pack_uint32(&m.pk, 77);
    struct wire_req q;
    assert_int_equal(wire_decode_req((const uint8_t *)m.sb.data, m.sb.size,
                                     &lim, &q),
                     COORD_ENOTSUP);
    /* op and xid are reported so the server can answer this xid. */
    assert_int_equal(q.op, 150);
    assert_int_equal(q.xid, 77);
    msgpack_sbuffer_destroy(&m.sb);

    /* A watch event is never a request. */
    mp_init(&m);
    msgpack_pack_array(&m.pk, 2);
    msgpack_pack_uint32(&m.pk, WIRE_OP_WATCH_EVENT);
    msgpack_pack_uint32(&m.pk, 1);
    assert_int_equal(mp_req(&m), COORD_EPROTO);

    /* A watch event must carry xid -1; a response must not. */
    mp_init(&m);
    msgpack_pack_array(&m.pk, 6);
    msgpack_pack_uint32(&m.pk, WIRE_OP_WATCH_EVENT);
    msgpack_pack_int32(&m.pk, 3);
    msgpack_pack_uint32(&m.pk, 1);
    msgpack_pack_int32(&m.pk, 0);
    msgpack_pack_uint32(&m.pk, COORD_EVENT_CREATED);
    mp_str(&m, "/a", 2);
    assert_int_equal(mp_resp(&m), COORD_EPROTO);
    mp_init(&m);
    msgpack_pack_array(&m.pk, 4);
    msgpack_pack_uint32(&m.pk, WIRE_OP_PING);
    msgpack_pack_int32(&m.pk, -1);
    msgpack_pack_uint32(&m.pk, 1);
    msgpack_pack_int32(&m.pk, 0);
    assert_int_equal(mp_resp(&m), COORD_EPROTO);
    /* Unknown event type. */
    mp_init(&m);
    msgpack_pack_array(&m.pk, 6);
    msgpack_pack_uint32(&m.pk, WIRE_OP_WATCH_EVENT);
    msgpack_pack_int32(&m.pk, -1);
    msgpack_pack_uint32(&m.pk, 1);
    msgpack_pack_int32(&m.pk, 0);
    msgpack_pack_uint32(&m.pk, 6);
    mp_str(&m, "/a", 2);
    assert_int_equal(mp_resp(&m), COORD_EPROTO);
    /* An error response carries no body. */
    mp_init(&m);
    msgpack_pack_array(&m.pk, 5);
    msgpack_pack_uint32(&m.pk, WIRE_OP_EXISTS);
    msgpack_pack_int32(&m.pk, 1);
    msgpack_pack_uint32(&m.pk, 1);
    msgpack_pack_int32(&m.pk, COORD_ENONODE);
    msgpack_pack_nil(&m.pk);
    assert_int_equal(mp_resp(&m), COORD_EPROTO);
}

static void hello_secret_rules(void **state)
{
    (void)state;
    /* id != 0 needs a 32-byte secret, id 0 an empty one. */
    struct { uint64_t id; size_t len; int rc; } cases[] = {
        {0, 0, 0}, {5, 32, 0}, {5, 0, COORD_EPROTO}, {0, 32, COORD_EPROTO},
        {5, 31, COORD_EPROTO}, {5, 33, COORD_ETOOBIG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mp m;
        char s[40] = {0};
        mp_init(&m);
        msgpack_pack_array(&m.pk, 8);
        msgpack_pack_uint32(&m.pk, WIRE_OP_HELLO);
        msgpack_pack_uint32(&m.pk, 0);
        msgpack_pack_uint32(&m.pk, 1);
        msgpack_pack_uint64(&m.pk, cases[i].id);
        mp_bin(&m, s, cases[i].len);
        msgpack_pack_uint32(&m.pk, 5000);
        msgpack_pack_uint32(&m.pk, 0);
        msgpack_pack_uint32(&m.pk, 0);
        assert_int_equal(mp_req(&m), cases[i].rc);
    }
    /* Unknown HELLO flag bits pass (version check comes first), unlike
     * the reply's. */
    struct mp m;
    mp_init(&m);
    msgpack_pack_array(&m.pk, 8);
    msgpack_pack_uint32(&m.pk, WIRE_OP_HELLO);
    msgpack_pack_uint32(&m.pk, 0);
    msgpack_pack_uint32(&m.pk, 2);
    msgpack_pack_uint64(&m.pk, 0);
    mp_bin(&m, "", 0);
    msgpack_pack_uint32(&m.pk, 5000);
    msgpack_pack_uint32(&m.pk, 0);
    msgpack_pack_uint32(&m.pk, 0x80000001u);
    assert_int_equal(mp_req(&m), 0);
    for (uint32_t flags = 1; flags <= 2; flags++) {
        mp_init(&m);
        msgpack_pack_array(&m.pk, 16);
        msgpack_pack_uint32(&m.pk, WIRE_OP_HELLO);
        msgpack_pack_uint32(&m.pk, 0);
        msgpack_pack_uint32(&m.pk, 0);
        msgpack_pack_int32(&m.pk, 0);
        msgpack_pack_uint32(&m.pk, 1);
        msgpack_pack_uint32(&m.pk, 1);
        mp_bin(&m, secret, 32);
        for (int i = 0; i < 8; i++)
            msgpack_pack_uint32(&m.pk, 100);
        msgpack_pack_uint32(&m.pk, flags); /* 2: unknown bit */
        assert_int_equal(mp_resp(&m), flags == 1 ? 0 : COORD_EPROTO);
    }
    /* Encoder refuses the same. */
    struct wire_req q = {.op = WIRE_OP_HELLO};
    q.u.hello.session_id = 5;
    struct wire_buf b;
    wire_buf_init(&b, 1024);
    assert_int_equal(wire_encode_req(&b, &q, &lim), COORD_EINVAL);
    assert_int_equal(b.len, 0);
    wire_buf_free(&b);
}

/* ---- limits -------------------------------------------------------------- */

static void path_and_data_limits(void **state)
{
    (void)state;
    struct wire_limits small = lim;
    small.path_bytes_max = 8;
    small.data_bytes_max = 16;
    struct wire_buf b;
    wire_buf_init(&b, 1 << 16);
    struct wire_req q = {.op = WIRE_OP_SET, .xid = 1}, out;
    q.u.set.path = B("/12345678"); /* 9 bytes */
    q.u.set.data = B("0123456789abcdef");
    /* Encoder: ETOOBIG, nothing appended. */
    assert_int_equal(wire_encode_req(&b, &q, &small), COORD_ETOOBIG);
    assert_int_equal(b.len, 0);
    /* Decoder: encode with the default limits, decode with the small. */
    assert_int_equal(wire_encode_req(&b, &q, &lim), 0);
    assert_int_equal(wire_decode_req(b.data + 4, b.len - 4, &small, &out),
                     COORD_ETOOBIG);
    wire_buf_reset(&b);
    q.u.set.path = B("/1234567"); /* 8 bytes: at the limit */
    assert_int_equal(wire_encode_req(&b, &q, &small), 0);
    assert_int_equal(wire_decode_req(b.data + 4, b.len - 4, &small, &out),
                     0);
    wire_buf_reset(&b);
    q.u.set.data = B("0123456789abcdefX");
    assert_int_equal(wire_encode_req(&b, &q, &small), COORD_ETOOBIG);
    assert_int_equal(wire_encode_req(&b, &q, &lim), 0);
    assert_int_equal(wire_decode_req(b.data + 4, b.len - 4, &small, &out),
                     COORD_ETOOBIG);
    /* A length claimed past the limit is refused before the bytes are
     * looked for: 4 GiB of data announced in a 20-byte message. */
    uint8_t lie[] = {0x95, 14, 1, 0xa2, '/', 'a', 0xc6, 0xff, 0xff,
                     0xff, 0xff, 0};
    assert_int_equal(wire_decode_req(lie, sizeof(lie), &lim, &out),
                     COORD_ETOOBIG);
    /* A body longer than the frame limit. */
    assert_int_equal(wire_decode_req(b.data + 4, b.len - 4,
                                     &(struct wire_limits){
                                         .frame_bytes_max = 4,
                                         .data_bytes_max = 100,
                                         .path_bytes_max = 100,
                                         .multi_ops_max = 1,
                                         .children_page_max = 1},
                                     &out),
                     COORD_ETOOBIG);
    wire_buf_free(&b);
}

static void list_limits(void **state)
{
    (void)state;
    struct wire_limits small = lim;
    small.multi_ops_max = 3;
    small.children_page_max = 2;
    struct wire_buf b;
    wire_buf_init(&b, 1 << 16);
    struct wire_req q = {.op = WIRE_OP_MULTI, .xid = 1}, out;
    q.u.multi.n = 4;
    q.u.multi.ops = sample_ops;
    assert_int_equal(wire_encode_req(&b, &q, &small), COORD_ETOOMANY);
    assert_int_equal(wire_encode_req(&b, &q, &lim), 0);
    assert_int_equal(wire_decode_req(b.data + 4, b.len - 4, &small, &out),
                     COORD_ETOOMANY);
    wire_buf_reset(&b);

    struct wire_child e[3] = {{.name = {"a", 1}}, {.name = {"b", 1}},
                              {.name = {"c", 1}}};
    struct wire_resp s = {.op = WIRE_OP_CHILDREN, .xid = 1}, sout;
    s.u.children.n = 3;
    s.u.children.entries = e;
    assert_int_equal(wire_encode_resp(&b, &s, &small), COORD_ETOOMANY);
    assert_int_equal(wire_encode_resp(&b, &s, &lim), 0);
    assert_int_equal(wire_decode_resp(b.data + 4, b.len - 4, &small, &sout),
                     COORD_ETOOMANY);
    wire_buf_reset(&b);

    struct wire_req c = {.op = WIRE_OP_CHILDREN, .xid = 1};
    c.u.children.path = B("/");
    c.u.children.max_count = 3;
    assert_int_equal(wire_encode_req(&b, &c, &small), COORD_ETOOMANY);
    assert_int_equal(wire_encode_req(&b, &c, &lim), 0);
    assert_int_equal(wire_decode_req(b.data + 4, b.len - 4, &small, &out),
                     COORD_ETOOMANY);
    /* An array count larger than the bytes left is refused at once. */
    uint8_t lie[] = {0x93, 17, 1, 0xdd, 0x7f, 0xff, 0xff, 0xff};
    assert_int_equal(wire_decode_req(lie, sizeof(lie), &lim, &out),
                     COORD_EPROTO);
    wire_buf_free(&b);
}

static void encoder_limits_and_buffers(void **state)
{
    (void)state;
    struct wire_limits small = lim;
    small.frame_bytes_max = 64;
    char data[100];
    memset(data, 1, sizeof(data));
    struct wire_req q = {.op = WIRE_OP_SET, .xid = 1};
    q.u.set.path = B("/p");
    q.u.set.data = (struct wire_bytes){data, 60};
    struct wire_buf b;
    wire_buf_init(&b, 1 << 16);
    struct wire_req ping = {.op = WIRE_OP_PING, .xid = 2};
    assert_int_equal(wire_encode_req(&b, &ping, &small), 0);
    size_t before = b.len;
    /* Over the frame limit: ETOOBIG, the earlier frame untouched. */
    assert_int_equal(wire_encode_req(&b, &q, &small), COORD_ETOOBIG);
    assert_int_equal(b.len, before);
    q.u.set.data.len = 40;
    assert_int_equal(wire_encode_req(&b, &q, &small), 0);
    /* Two pipelined frames; consume the first. */
    size_t fb;
    assert_int_equal(wire_frame_check(b.data, b.len, 64, &fb), 0);
    assert_int_equal(fb, before);
    wire_buf_consume(&b, fb);
    struct wire_req out;
    assert_int_equal(wire_frame_check(b.data, b.len, 64, &fb), 0);
    assert_int_equal(fb, b.len);
    assert_int_equal(wire_decode_req(b.data + 4, b.len - 4, &small, &out),
                     0);
    assert_int_equal(out.u.set.data.len, 40);
    wire_buf_free(&b);

    /* Fixed buffer: too small is ENOMEM, nothing written. */
    uint8_t mem[16];
    wire_buf_init_fixed(&b, mem, sizeof(mem));
    assert_int_equal(wire_encode_req(&b, &q, &lim), COORD_ENOMEM);
    assert_int_equal(b.len, 0);
    assert_int_equal(wire_encode_req(&b, &ping, &lim), 0);
    assert_int_equal(b.len, 7);
    wire_buf_free(&b);
    /* Growable buffer bounded by its max. */
    wire_buf_init(&b, 20);
    assert_int_equal(wire_encode_req(&b, &q, &lim), COORD_ENOMEM);
    assert_int_equal(b.len, 0);
    wire_buf_free(&b);
}

static void encoder_rejects_invalid(void **state)
{
    (void)state;
    struct wire_buf b;
    wire_buf_init(&b, 1 << 16);
    struct wire_req q = {.op = WIRE_OP_GET, .xid = -1};
    q.u.read.path = B("/a");
    assert_int_equal(wire_encode_req(&b, &q, &lim), COORD_EINVAL);
    q.xid = 1;
    q.u.read.flags = WIRE_READ_STATS; /* children only */
    assert_int_equal(wire_encode_req(&b, &q, &lim), COORD_EINVAL);
    q.op = 999;
    assert_int_equal(wire_encode_req(&b, &q, &lim), COORD_EINVAL);
    q.op = WIRE_OP_WATCH_EVENT;
    assert_int_equal(wire_encode_req(&b, &q, &lim), COORD_EINVAL);
    struct wire_req w = {.op = WIRE_OP_ADD_WATCH, .xid = 1};
    w.u.watch.path = B("/a");
    w.u.watch.kind = COORD_WATCH_DATA; /* add: persistent kinds only */
    assert_int_equal(wire_encode_req(&b, &w, &lim), COORD_EINVAL);
    struct wire_req d = {.op = WIRE_OP_DELETE, .xid = 1};
    d.u.pv.path = B("/a");
    d.u.pv.version = -2;
    assert_int_equal(wire_encode_req(&b, &d, &lim), COORD_EINVAL);
    struct wire_multi_op bad = {.op = WIRE_OP_GET, .path = {"/a", 2}};
    struct wire_req m = {.op = WIRE_OP_MULTI, .xid = 1};
    m.u.multi.n = 1;
    m.u.multi.ops = &bad;
    assert_int_equal(wire_encode_req(&b, &m, &lim), COORD_EINVAL);
    struct wire_resp e = {.op = WIRE_OP_WATCH_EVENT, .xid = 0};
    e.u.event.type = COORD_EVENT_CREATED;
    assert_int_equal(wire_encode_resp(&b, &e, &lim), COORD_EINVAL);
    e.xid = WIRE_XID_EVENT;
    e.u.event.type = 0;
    assert_int_equal(wire_encode_resp(&b, &e, &lim), COORD_EINVAL);
    struct wire_resp r = {.op = WIRE_OP_PING, .xid = 1, .err = 3};
    assert_int_equal(wire_encode_resp(&b, &r, &lim), COORD_EINVAL);
    assert_int_equal(b.len, 0);
    wire_buf_free(&b);
}

static void allocation_failure(void **state)
{
    (void)state;
    struct wire_buf b;
    wire_buf_init(&b, 1 << 16);
    struct wire_req ping = {.op = WIRE_OP_PING, .xid = 2};
    coord_alloc_counting_enable(1);
    assert_int_equal(wire_encode_req(&b, &ping, &lim), COORD_ENOMEM);
    assert_int_equal(b.len, 0);
    coord_alloc_counting_disable();
    assert_int_equal(wire_encode_req(&b, &ping, &lim), 0);
    wire_buf_free(&b);
}

/* Our encoding is plain msgpack: msgpack-c reads it back. */
static void msgpack_c_reads_our_frames(void **state)
{
    (void)state;
    struct wire_req q = {.op = WIRE_OP_CREATE, .xid = 300};
    q.u.create.path = B("/x");
    q.u.create.data = B("abc");
    q.u.create.mode = COORD_EPHEMERAL;
    struct wire_buf b;
    wire_buf_init(&b, 1 << 16);
    assert_int_equal(wire_encode_req(&b, &q, &lim), 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, (const char *)b.data + 4,
                                         b.len - 4, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, b.len - 4);
    msgpack_object o = u.data;
    assert_int_equal(o.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o.via.array.size, 7);
    assert_int_equal(o.via.array.ptr[0].via.u64, WIRE_OP_CREATE);
    assert_int_equal(o.via.array.ptr[1].via.u64, 300);
    assert_int_equal(o.via.array.ptr[2].type, MSGPACK_OBJECT_STR);
    assert_int_equal(o.via.array.ptr[3].type, MSGPACK_OBJECT_BIN);
    assert_int_equal(o.via.array.ptr[4].via.u64, COORD_EPHEMERAL);
    assert_int_equal(o.via.array.ptr[6].type, MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&u);
    wire_buf_free(&b);
}

/* Deterministic xorshift: random bytes and mutated valid frames never crash
 * and only ever give the documented results. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static bool documented(int rc)
{
    return rc == 0 || rc == COORD_EPROTO || rc == COORD_ETOOBIG ||
           rc == COORD_ETOOMANY || rc == COORD_ENOTSUP;
}

static void random_bytes(void **state)
{
    (void)state;
    struct wire_buf samples;
    int n_req, n_resp;
    wire_buf_init(&samples, 1 << 22);
    encode_samples(&samples, &n_req, &n_resp);
    uint8_t buf[512];
    int decoded = 0;
    for (int i = 0; i < 100000; i++) {
        size_t len = rng() % sizeof(buf);
        if (i % 2 && samples.len > 4) {
            /* Mutate a window of the sample stream. */
            size_t off = rng() % (samples.len - 1);
            len = len < samples.len - off ? len : samples.len - off;
            memcpy(buf, samples.data + off, len);
            for (int k = 0; k < 3 && len; k++)
                buf[rng() % len] = (uint8_t)rng();
        } else {
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)rng();
        }
        struct wire_req q;
        struct wire_resp s;
        size_t fb;
        int rc = wire_frame_check(buf, len, lim.frame_bytes_max, &fb);
        assert_true(rc == 0 || rc == COORD_EAGAIN || rc == COORD_EPROTO ||
                    rc == COORD_ETOOBIG);
        int r1 = wire_decode_req(buf, len, &lim, &q);
        int r2 = wire_decode_resp(buf, len, &lim, &s);
        assert_true(documented(r1));
        assert_true(documented(r2));
        decoded += (r1 == 0) + (r2 == 0);
    }
    /* Mutations of valid frames do decode sometimes. */
    assert_true(decoded > 0);
    wire_buf_free(&samples);
}

/* Integers at every format boundary round-trip, and our encoding is the
 * same canonical (shortest) one msgpack-c produces. */
static void int_widths_canonical(void **state)
{
    (void)state;
    static const int64_t sv[] = {0, 1, 127, 128, 255, 256, 65535, 65536,
                                 INT32_MAX, (int64_t)UINT32_MAX + 1,
                                 INT64_MAX, -1, -32, -33, -128, -129,
                                 -32768, -32769, INT32_MIN,
                                 (int64_t)INT32_MIN - 1, INT64_MIN};
    static const uint64_t uv[] = {0, 127, 128, 255, 256, 65535, 65536,
                                  UINT32_MAX, (uint64_t)UINT32_MAX + 1,
                                  UINT64_MAX};
    for (size_t i = 0; i < sizeof(sv) / sizeof(sv[0]); i++) {
        struct wire_resp in = {.op = WIRE_OP_EXISTS, .xid = 1}, out;
        struct wire_buf b;
        in.zxid = uv[i % 10];
        in.u.stat.ctime_ms = sv[i];
        in.u.stat.mzxid = uv[i % 10];
        in.u.stat.version = (int32_t)(sv[i] >= INT32_MIN && sv[i] <= INT32_MAX
                                          ? sv[i] : -5);
        resp_roundtrip(&in, &b, &out);
        assert_stat(&out.u.stat, &in.u.stat);
        /* The same message packed by msgpack-c. */
        struct mp m;
        mp_init(&m);
        msgpack_pack_array(&m.pk, 5);
        msgpack_pack_uint32(&m.pk, WIRE_OP_EXISTS);
        msgpack_pack_int64(&m.pk, 1);
        msgpack_pack_uint64(&m.pk, in.zxid);
        msgpack_pack_int64(&m.pk, 0);
        msgpack_pack_array(&m.pk, WIRE_STAT_FIELDS);
        msgpack_pack_uint64(&m.pk, 0);
        msgpack_pack_uint64(&m.pk, in.u.stat.mzxid);
        msgpack_pack_uint64(&m.pk, 0);
        msgpack_pack_int64(&m.pk, in.u.stat.ctime_ms);
        msgpack_pack_int64(&m.pk, 0);
        msgpack_pack_int32(&m.pk, in.u.stat.version);
        for (int k = 0; k < 5; k++)
            msgpack_pack_uint32(&m.pk, 0);
        assert_int_equal(m.sb.size, b.len - 4);
        assert_memory_equal(m.sb.data, b.data + 4, m.sb.size);
        msgpack_sbuffer_destroy(&m.sb);
        wire_buf_free(&b);
    }
}

/* Lists longer than 65535 use array 32. */
static void long_lists(void **state)
{
    (void)state;
    enum { N = 70000 };
    struct wire_bytes *paths = coord_malloc(N * sizeof(*paths));
    for (int i = 0; i < N; i++)
        paths[i] = B(i % 2 ? "/a" : "/bb");
    struct wire_req in = {.op = WIRE_OP_SET_WATCHES, .xid = 1}, out;
    struct wire_buf b;
    in.u.set_watches.kinds[2].n = N;
    in.u.set_watches.kinds[2].paths = paths;
    req_roundtrip(&in, &b, &out);
    struct wire_paths *ps = &out.u.set_watches.kinds[2];
    assert_int_equal(ps->n, N);
    struct wire_bytes p;
    for (int i = 0; i < N; i++) {
        assert_true(wire_next_path(&ps->it, &p));
        assert_bytes(p, paths[i]);
    }
    assert_false(wire_next_path(&ps->it, &p));
    wire_buf_free(&b);
    coord_free(paths);
}

/* The worked example of docs/protocol.md section 7, byte for byte. */
static void doc_example_bytes(void **state)
{
    (void)state;
    static const uint8_t create[] = {0x00, 0x00, 0x00, 0x0d, 0x97, 0x0a,
                                     0x05, 0xa2, 0x2f, 0x61, 0xc4, 0x02,
                                     0x68, 0x69, 0x01, 0x00, 0xc0};
    static const uint8_t exists_err[] = {0x00, 0x00, 0x00, 0x07, 0x94, 0x0a,
                                         0x05, 0xcd, 0x01, 0x2c, 0xf6};
    struct wire_buf b;
    wire_buf_init(&b, 1024);
    struct wire_req q = {.op = WIRE_OP_CREATE, .xid = 5};
    q.u.create.path = B("/a");
    q.u.create.data = B("hi");
    q.u.create.mode = COORD_EPHEMERAL;
    assert_int_equal(wire_encode_req(&b, &q, &lim), 0);
    assert_int_equal(b.len, sizeof(create));
    assert_memory_equal(b.data, create, sizeof(create));
    wire_buf_reset(&b);
    struct wire_resp r = {.op = WIRE_OP_CREATE, .xid = 5, .zxid = 300,
                          .err = COORD_ENODEEXISTS};
    assert_int_equal(wire_encode_resp(&b, &r, &lim), 0);
    assert_int_equal(b.len, sizeof(exists_err));
    assert_memory_equal(b.data, exists_err, sizeof(exists_err));
    wire_buf_free(&b);
}

static void op_names(void **state)
{
    (void)state;
    assert_string_equal(wire_op_name(WIRE_OP_CREATE), "create");
    assert_string_equal(wire_op_name(WIRE_OP_WATCH_EVENT), "watch_event");
    assert_null(wire_op_name(0));
    assert_null(wire_op_name(WIRE_OP_ADMIN_LAST));
    assert_string_equal(wire_op_name(WIRE_OP_STATUS), "status");
    assert_int_equal(WIRE_OP_STATUS, 100);
    assert_int_equal(WIRE_OP_MEMBER_ADD, 101);
    assert_int_equal(WIRE_OP_MEMBER_PROMOTE, 102);
    assert_int_equal(WIRE_OP_MEMBER_REMOVE, 103);
    assert_int_equal(WIRE_OP_LEADER_TRANSFER, 104);
    /* Frozen numbers. */
    assert_int_equal(WIRE_OP_HELLO, 1);
    assert_int_equal(WIRE_OP_CREATE, 10);
    assert_int_equal(WIRE_OP_MULTI, 17);
    assert_int_equal(WIRE_OP_SET_WATCHES, 32);
    assert_int_equal(WIRE_OP_WATCH_EVENT, 40);
    struct wire_limits l;
    wire_limits_default(&l);
    assert_int_equal(wire_limits_check(&l), 0);
    l.multi_ops_max = COORD_MULTI_OPS_MAX + 1;
    assert_int_equal(wire_limits_check(&l), COORD_EINVAL);
    l.multi_ops_max = 0;
    assert_int_equal(wire_limits_check(&l), COORD_EINVAL);
}

/* ---- sample stream ------------------------------------------------------ */

static void encode_samples(struct wire_buf *b, int *n_req, int *n_resp)
{
    static const struct wire_bytes paths[] = {{"/a", 2}, {"/b", 2}};
    struct wire_req q[16];
    int nq = 0;
    memset(q, 0, sizeof(q));
    q[nq].op = WIRE_OP_HELLO;
    q[nq].u.hello.session_id = 9;
    q[nq++].u.hello.secret = (struct wire_bytes){secret, 32};
    q[nq++].op = WIRE_OP_CLOSE;
    q[nq++].op = WIRE_OP_PING;
    q[nq].op = WIRE_OP_CREATE;
    q[nq].u.create.path = B("/c");
    q[nq++].u.create.data = B("data");
    q[nq].op = WIRE_OP_DELETE;
    q[nq++].u.pv.path = B("/d");
    q[nq].op = WIRE_OP_EXISTS;
    q[nq++].u.read.path = B("/e");
    q[nq].op = WIRE_OP_GET;
    q[nq++].u.read.path = B("/g");
    q[nq].op = WIRE_OP_SET;
    q[nq].u.set.path = B("/s");
    q[nq++].u.set.version = 300;
    q[nq].op = WIRE_OP_CHILDREN;
    q[nq].u.children.path = B("/");
    q[nq++].u.children.start_after = B("x");
    q[nq].op = WIRE_OP_CHECK;
    q[nq++].u.pv.path = B("/k");
    q[nq].op = WIRE_OP_MULTI;
    q[nq].u.multi.n = 4;
    q[nq++].u.multi.ops = sample_ops;
    q[nq].op = WIRE_OP_SYNC;
    q[nq++].u.path = B("/y");
    q[nq].op = WIRE_OP_ADD_WATCH;
    q[nq].u.watch.path = B("/w");
    q[nq++].u.watch.kind = COORD_WATCH_PERSISTENT;
    q[nq].op = WIRE_OP_REMOVE_WATCH;
    q[nq].u.watch.path = B("/w");
    q[nq++].u.watch.kind = COORD_WATCH_DATA;
    q[nq].op = WIRE_OP_SET_WATCHES;
    for (int k = 0; k < WIRE_WATCH_KINDS; k++) {
        q[nq].u.set_watches.kinds[k].n = k % 3;
        q[nq].u.set_watches.kinds[k].paths = paths;
    }
    nq++;
    for (int i = 0; i < nq; i++) {
        q[i].xid = i * 1000;
        assert_int_equal(wire_encode_req(b, &q[i], &lim), 0);
    }
    *n_req = nq;

    struct wire_child kids[2] = {{.name = {"k1", 2}}, {.name = {"k2", 2}}};
    struct wire_op_result res[2] = {
        {.op = WIRE_OP_CREATE, .path = {"/r", 2}},
        {.op = WIRE_OP_DELETE, .err = COORD_ESKIPPED}};
    struct wire_resp s[12];
    int ns = 0;
    memset(s, 0, sizeof(s));
    s[ns].op = WIRE_OP_HELLO;
    s[ns].u.hello.secret = (struct wire_bytes){secret, 32};
    wire_limits_default(&s[ns++].u.hello.limits);
    s[ns++].op = WIRE_OP_PING;
    s[ns].op = WIRE_OP_CREATE;
    s[ns++].u.created.path = B("/c0000000001");
    s[ns++].op = WIRE_OP_EXISTS;
    s[ns].op = WIRE_OP_GET;
    s[ns++].u.get.data = B("value");
    s[ns].op = WIRE_OP_CHILDREN;
    s[ns].u.children.n = 2;
    s[ns].u.children.with_stats = true;
    s[ns++].u.children.entries = kids;
    s[ns].op = WIRE_OP_MULTI;
    s[ns].u.multi.n = 2;
    s[ns++].u.multi.results = res;
    s[ns].op = WIRE_OP_SET;
    s[ns++].err = COORD_EBADVERSION;
    s[ns].op = WIRE_OP_WATCH_EVENT;
    s[ns].u.event.type = COORD_EVENT_MUST_REREAD;
    s[ns].u.event.path = B("/");
    s[ns++].xid = WIRE_XID_EVENT;
    for (int i = 0; i < ns; i++) {
        if (s[i].op != WIRE_OP_WATCH_EVENT)
            s[i].xid = i + 1;
        s[i].zxid = 1ull << (i * 6);
        assert_int_equal(wire_encode_resp(b, &s[i], &lim), 0);
    }
    *n_resp = ns;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rt_hello),
        cmocka_unit_test(rt_close_ping),
        cmocka_unit_test(rt_create),
        cmocka_unit_test(rt_path_version),
        cmocka_unit_test(rt_reads),
        cmocka_unit_test(rt_set),
        cmocka_unit_test(rt_children_req),
        cmocka_unit_test(rt_multi),
        cmocka_unit_test(rt_sync_and_watches),
        cmocka_unit_test(rt_set_watches),
        cmocka_unit_test(rt_hello_reply),
        cmocka_unit_test(rt_bodyless_responses),
        cmocka_unit_test(rt_error_responses),
        cmocka_unit_test(rt_created_stat_get),
        cmocka_unit_test(rt_children_resp),
        cmocka_unit_test(rt_multi_resp),
        cmocka_unit_test(rt_watch_event),
        cmocka_unit_test(frame_check_cases),
        cmocka_unit_test(truncation_at_every_offset),
        cmocka_unit_test(malformed_fields),
        cmocka_unit_test(accepts_any_int_width),
        cmocka_unit_test(numbers_out_of_range),
        cmocka_unit_test(unknown_and_misdirected_ops),
        cmocka_unit_test(hello_secret_rules),
        cmocka_unit_test(path_and_data_limits),
        cmocka_unit_test(list_limits),
        cmocka_unit_test(encoder_limits_and_buffers),
        cmocka_unit_test(encoder_rejects_invalid),
        cmocka_unit_test(allocation_failure),
        cmocka_unit_test(msgpack_c_reads_our_frames),
        cmocka_unit_test(random_bytes),
        cmocka_unit_test(int_widths_canonical),
        cmocka_unit_test(long_lists),
        cmocka_unit_test(doc_example_bytes),
        cmocka_unit_test(op_names),
        cmocka_unit_test(rt_admin_requests),
        cmocka_unit_test(rt_status),
    };
    return cmocka_run_group_tests_name("wire", tests, setup, NULL);
}
