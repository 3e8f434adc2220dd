/* fuzz_wire.c -- libFuzzer target for the wire codec (libcoord/shared/wire.c).
 *
 * The input is read two ways, each under the default limits and under small
 * ones (so the limit checks are reachable): as a stream of frames through
 * wire_frame_check(), and as one bare message body. Every body goes through
 * both decoders. Whatever decodes is re-encoded, which must succeed and
 * hold the same MessagePack value as the input (msgpack-c, an independent
 * decoder, compares the two trees: nothing dropped or altered), decode
 * again to the same header, and encode again to the same bytes. Also linked into the plain-C corpus replay
 * (replay.c), which counts failures instead of aborting.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>

#include "coord.h"
#include "libcoord/shared/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replay sets this false to count failures rather than abort. */
bool fuzz_abort_on_failure = true;
unsigned long fuzz_failures;
/* Decoded messages whose re-encoding was checked (replay reports it). */
unsigned long fuzz_checks;

static void fuzz_fail(int line, const char *what)
{
    fprintf(stderr, "fuzz_wire.c:%d: check failed: %s\n", line, what);
    fuzz_failures++;
    if (fuzz_abort_on_failure)
        abort();
}

#define FUZZ_CHECK(c)                                                        \
    do {                                                                     \
        if (!(c))                                                            \
            fuzz_fail(__LINE__, #c);                                         \
    } while (0)

static bool documented(int rc)
{
    return rc == 0 || rc == COORD_EPROTO || rc == COORD_ETOOBIG ||
           rc == COORD_ETOOMANY || rc == COORD_ENOTSUP;
}

/* True when a and b each hold exactly one MessagePack value and the two
 * values are equal (msgpack-c maps every width of an integer to one). */
static bool same_value(const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen)
{
    msgpack_unpacked ua, ub;
    size_t oa = 0, ob = 0;
    msgpack_unpacked_init(&ua);
    msgpack_unpacked_init(&ub);
    int ra = msgpack_unpack_next(&ua, (const char *)a, alen, &oa);
    int rb = msgpack_unpack_next(&ub, (const char *)b, blen, &ob);
    bool ok = ra == MSGPACK_UNPACK_SUCCESS && rb == MSGPACK_UNPACK_SUCCESS &&
              oa == alen && ob == blen && msgpack_object_equal(ua.data, ub.data);
    msgpack_unpacked_destroy(&ua);
    msgpack_unpacked_destroy(&ub);
    return ok;
}

/* Re-encodes a message decoded from body[0..len) twice and compares. */
static void check_req(const struct wire_req *q, const uint8_t *body,
                      size_t len, const struct wire_limits *lim)
{
    struct wire_buf b1, b2;
    struct wire_req q2;
    wire_buf_init(&b1, 2 * (size_t)lim->frame_bytes_max + 64);
    wire_buf_init(&b2, 2 * (size_t)lim->frame_bytes_max + 64);
    int rc = wire_encode_req(&b1, q, lim);
    fuzz_checks++;
    FUZZ_CHECK(rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(same_value(body, len, b1.data + 4, b1.len - 4));
        rc = wire_decode_req(b1.data + 4, b1.len - 4, lim, &q2);
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(q2.op == q->op && q2.xid == q->xid);
        if (rc == 0 && wire_encode_req(&b2, &q2, lim) == 0) {
            FUZZ_CHECK(b2.len == b1.len);
            FUZZ_CHECK(b2.len == b1.len &&
                       memcmp(b1.data, b2.data, b1.len) == 0);
        } else {
            FUZZ_CHECK(!"re-encode of a decoded request failed");
        }
    }
    wire_buf_free(&b1);
    wire_buf_free(&b2);
}

static void check_resp(const struct wire_resp *s, const uint8_t *body,
                       size_t len, const struct wire_limits *lim)
{
    struct wire_buf b1, b2;
    struct wire_resp s2;
    wire_buf_init(&b1, 2 * (size_t)lim->frame_bytes_max + 64);
    wire_buf_init(&b2, 2 * (size_t)lim->frame_bytes_max + 64);
    int rc = wire_encode_resp(&b1, s, lim);
    fuzz_checks++;
    FUZZ_CHECK(rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(same_value(body, len, b1.data + 4, b1.len - 4));
        rc = wire_decode_resp(b1.data + 4, b1.len - 4, lim, &s2);
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(s2.op == s->op && s2.xid == s->xid &&
                   s2.zxid == s->zxid && s2.err == s->err);
        if (rc == 0 && wire_encode_resp(&b2, &s2, lim) == 0) {
            FUZZ_CHECK(b2.len == b1.len &&
                       memcmp(b1.data, b2.data, b1.len) == 0);
        } else {
            FUZZ_CHECK(!"re-encode of a decoded response failed");
        }
    }
    wire_buf_free(&b1);
    wire_buf_free(&b2);
}

static void one_body(const uint8_t *body, size_t len,
                     const struct wire_limits *lim)
{
    struct wire_req q;
    struct wire_resp s;
    int rc = wire_decode_req(body, len, lim, &q);
    FUZZ_CHECK(documented(rc));
    if (rc == 0)
        check_req(&q, body, len, lim);
    rc = wire_decode_resp(body, len, lim, &s);
    FUZZ_CHECK(documented(rc));
    if (rc == 0)
        check_resp(&s, body, len, lim);
}

static void stream(const uint8_t *data, size_t size,
                   const struct wire_limits *lim)
{
    size_t off = 0;
    for (;;) {
        size_t fb = 0;
        int rc = wire_frame_check(data + off, size - off,
                                  lim->frame_bytes_max, &fb);
        FUZZ_CHECK(rc == 0 || rc == COORD_EAGAIN || rc == COORD_EPROTO ||
                   rc == COORD_ETOOBIG);
        if (rc != 0)
            return;
        FUZZ_CHECK(fb > 4 && fb <= size - off);
        one_body(data + off + 4, fb - 4, lim);
        off += fb;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_limits big, small = {
        .frame_bytes_max = 4096,
        .data_bytes_max = 256,
        .path_bytes_max = 64,
        .multi_ops_max = 8,
        .children_page_max = 8,
    };
    wire_limits_default(&big);
    stream(data, size, &big);
    stream(data, size, &small);
    one_body(data, size, &big);
    one_body(data, size, &small);
    return 0;
}
