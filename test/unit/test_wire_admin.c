/* test_wire_admin.c -- unit tests of the wire codec's SESSIONS (105) and
 * SNAPSHOT_READ (106) messages and of the snapshot file header and
 * checksum (libcoord/shared/wire.h): round trips, re-encoding from the
 * decoded iterator, and the decoder's refusals (a zero session id or
 * export id, too many sessions, an oversized chunk, truncation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "libcoord/shared/wire.h"

static struct wire_limits lim;

static void req_roundtrip(const struct wire_req *in, struct wire_buf *b,
                          struct wire_req *out)
{
    wire_buf_init(b, 1 << 22);
    assert_int_equal(wire_encode_req(b, in, &lim), 0);
    assert_int_equal(wire_decode_req(b->data + WIRE_PREFIX_BYTES,
                                     b->len - WIRE_PREFIX_BYTES, &lim, out),
                     0);
    assert_int_equal(out->op, in->op);
    assert_int_equal(out->xid, in->xid);
}

static void resp_roundtrip(const struct wire_resp *in, struct wire_buf *b,
                           struct wire_resp *out)
{
    wire_buf_init(b, 1 << 22);
    assert_int_equal(wire_encode_resp(b, in, &lim), 0);
    assert_int_equal(wire_decode_resp(b->data + WIRE_PREFIX_BYTES,
                                      b->len - WIRE_PREFIX_BYTES, &lim, out),
                     0);
    assert_int_equal(out->op, in->op);
}

static void sessions_req(void **state)
{
    (void)state;
    struct wire_req in = {.op = WIRE_OP_SESSIONS, .xid = 9}, out;
    in.u.start_after = 0xfedcba9876543210ULL;
    struct wire_buf b;
    req_roundtrip(&in, &b, &out);
    assert_true(out.u.start_after == 0xfedcba9876543210ULL);
    wire_buf_free(&b);
    assert_string_equal(wire_op_name(WIRE_OP_SESSIONS), "sessions");
    assert_string_equal(wire_op_name(WIRE_OP_SNAPSHOT_READ),
                        "snapshot_read");
}

static void sessions_resp(void **state)
{
    (void)state;
    struct wire_session es[3] = {{1, 10000, 0, 0},
                                 {0x8000000000000001ULL, 4000, 7, 3},
                                 {UINT64_MAX, UINT32_MAX, UINT32_MAX, 1}};
    struct wire_resp in = {.op = WIRE_OP_SESSIONS, .xid = 4}, out, again;
    in.u.sessions = (struct wire_sessions){.more = true, .n = 3,
                                           .sessions = es};
    struct wire_buf b, b2;
    resp_roundtrip(&in, &b, &out);
    assert_true(out.u.sessions.more);
    assert_int_equal(out.u.sessions.n, 3);
    struct wire_iter it = out.u.sessions.it;
    struct wire_session e;
    for (int i = 0; i < 3; i++) {
        assert_true(wire_next_session(&it, &e));
        assert_true(e.id == es[i].id);
        assert_int_equal(e.timeout_ms, es[i].timeout_ms);
        assert_int_equal(e.ephemerals, es[i].ephemerals);
        assert_true(e.server_id == es[i].server_id);
    }
    assert_false(wire_next_session(&it, &e));
    /* re-encoding from the iterator gives the same bytes */
    resp_roundtrip(&out, &b2, &again);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.data, b.data, b.len);
    wire_buf_free(&b2);
    /* truncation anywhere is refused */
    for (size_t cut = 1; cut < b.len - WIRE_PREFIX_BYTES; cut++)
        assert_true(wire_decode_resp(b.data + WIRE_PREFIX_BYTES, cut, &lim,
                                     &out) < 0);
    wire_buf_free(&b);
    /* an id 0 is not encoded, nor are too many sessions */
    es[1].id = 0;
    wire_buf_init(&b, 1 << 22);
    assert_int_equal(wire_encode_resp(&b, &in, &lim), COORD_EINVAL);
    in.u.sessions.n = WIRE_SESSIONS_PAGE_MAX + 1;
    assert_int_equal(wire_encode_resp(&b, &in, &lim), COORD_ETOOMANY);
    assert_int_equal(b.len, 0); /* nothing appended on error */
    wire_buf_free(&b);
}

static void snapshot_msgs(void **state)
{
    (void)state;
    struct wire_req q = {.op = WIRE_OP_SNAPSHOT_READ, .xid = 1}, qo;
    q.u.snapshot = (struct wire_snapshot_req){7, 524288};
    struct wire_buf b;
    req_roundtrip(&q, &b, &qo);
    assert_int_equal(qo.u.snapshot.export_id, 7);
    assert_int_equal(qo.u.snapshot.offset, 524288);
    wire_buf_free(&b);
    static char chunk[WIRE_SNAPSHOT_CHUNK_BYTES + 1];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)(i * 31);
    struct wire_resp in = {.op = WIRE_OP_SNAPSHOT_READ, .xid = 1}, out;
    in.u.snapshot = (struct wire_snapshot_chunk){
        .export_id = 3, .index = 0x1234, .total = 9999999, .sum = 42,
        .chunk = {chunk, WIRE_SNAPSHOT_CHUNK_BYTES}};
    resp_roundtrip(&in, &b, &out);
    const struct wire_snapshot_chunk *c = &out.u.snapshot;
    assert_int_equal(c->export_id, 3);
    assert_int_equal(c->index, 0x1234);
    assert_int_equal(c->total, 9999999);
    assert_int_equal(c->sum, 42);
    assert_int_equal(c->chunk.len, WIRE_SNAPSHOT_CHUNK_BYTES);
    assert_memory_equal(c->chunk.ptr, chunk, WIRE_SNAPSHOT_CHUNK_BYTES);
    wire_buf_free(&b);
    /* an empty chunk (offset == total) is fine; export id 0 and an
     * oversized chunk are not */
    in.u.snapshot.chunk.len = 0;
    resp_roundtrip(&in, &b, &out);
    assert_int_equal(out.u.snapshot.chunk.len, 0);
    wire_buf_free(&b);
    wire_buf_init(&b, 1 << 22);
    in.u.snapshot.export_id = 0;
    assert_int_equal(wire_encode_resp(&b, &in, &lim), COORD_EINVAL);
    in.u.snapshot.export_id = 1;
    in.u.snapshot.chunk.len = WIRE_SNAPSHOT_CHUNK_BYTES + 1;
    assert_int_equal(wire_encode_resp(&b, &in, &lim), COORD_EINVAL);
    wire_buf_free(&b);
}

static void snapfile_header(void **state)
{
    (void)state;
    /* 64-bit FNV-1a reference values */
    assert_true(wire_snapshot_sum(WIRE_SNAPSHOT_SUM_INIT, "", 0) ==
                0xcbf29ce484222325ULL);
    assert_true(wire_snapshot_sum(WIRE_SNAPSHOT_SUM_INIT, "a", 1) ==
                0xaf63dc4c8601ec8cULL);
    /* incremental equals one pass */
    uint64_t h = wire_snapshot_sum(WIRE_SNAPSHOT_SUM_INIT, "foo", 3);
    h = wire_snapshot_sum(h, "bar", 3);
    assert_true(h == wire_snapshot_sum(WIRE_SNAPSHOT_SUM_INIT, "foobar", 6));
    struct wire_snapfile f = {0x1d1, 19280008, 0xdeadbeefcafef00dULL, 3},
                         g;
    uint8_t hdr[WIRE_SNAPFILE_HEADER_BYTES];
    wire_snapfile_encode(hdr, &f);
    assert_memory_equal(hdr, "COORDSN1", 8);
    assert_int_equal(hdr[8 + 7], 0xd1); /* big-endian */
    assert_int_equal(wire_snapfile_decode(hdr, &g), 0);
    assert_true(g.index == f.index && g.bytes == f.bytes &&
                g.sum == f.sum && g.server_id == f.server_id);
    hdr[0] = 'X';
    assert_int_equal(wire_snapfile_decode(hdr, &g), COORD_ECORRUPT);
}

int main(void)
{
    wire_limits_default(&lim);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sessions_req),
        cmocka_unit_test(sessions_resp),
        cmocka_unit_test(snapshot_msgs),
        cmocka_unit_test(snapfile_header),
    };
    return cmocka_run_group_tests_name("wire_admin", tests, NULL, NULL);
}
