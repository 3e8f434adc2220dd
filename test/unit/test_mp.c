/* test_mp.c -- unit tests of the msgpack layer (libcoord/shared/mp.c):
 * every integer width boundary (unsigned and negative), str/bin/array
 * length boundaries, each compared byte for byte with msgpack-c's packer
 * (an independent encoder) and read back; non-canonical widths accepted;
 * truncation at every byte; every wrong type refused; limits (max values,
 * max lengths, counts larger than the remaining bytes); sticky errors on
 * both sides; the writer's buffer and frame limits; randomized round trips
 * decoded by msgpack-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <string.h>

#include "coord.h"
#include "libcoord/shared/check.h"
#include "libcoord/shared/mp.h"
#include "libcoord/shared/wire.h"

/* ---- helpers ----------------------------------------------------------- */

/* A growable buffer with a frame begun: bytes written start at +4. */
struct out {
    struct wire_buf b;
    size_t start;
};

static void out_init(struct out *o)
{
    wire_buf_init(&o->b, 1 << 20);
    o->start = mp_frame_begin(&o->b, 1 << 19);
}

static const uint8_t *out_bytes(const struct out *o)
{
    return o->b.data + o->start + WIRE_PREFIX_BYTES;
}

static size_t out_len(const struct out *o)
{
    return o->b.len - o->start - WIRE_PREFIX_BYTES;
}

struct ref {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void ref_init(struct ref *r)
{
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
}

static void assert_same(const struct out *o, const struct ref *r)
{
    assert_int_equal(out_len(o), r->sb.size);
    assert_memory_equal(out_bytes(o), r->sb.data, r->sb.size);
}

static const uint64_t uints[] = {
    0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffffu,
    0x100000000ull, INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX - 1,
    UINT64_MAX,
};
static const size_t uint_lens[] = {1, 1, 1, 2, 2, 3, 3, 5, 5, 9, 9, 9, 9, 9};

static const int64_t sints[] = {
    -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769,
    INT32_MIN + 1LL, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN + 1,
    INT64_MIN,
};
static const size_t sint_lens[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 5,
                                   5, 5, 9, 9, 9};

/* ---- integers ---------------------------------------------------------- */

static void uint_boundaries(void **state)
{
    (void)state;
    for (size_t i = 0; i < COORD_ARRAY_LEN(uints); i++) {
        uint64_t v = uints[i];
        struct out o;
        struct ref ref;
        out_init(&o);
        ref_init(&ref);
        mp_write_uint(&o.b, v);
        msgpack_pack_uint64(&ref.pk, v);
        assert_same(&o, &ref);
        assert_int_equal(out_len(&o), uint_lens[i]);
        struct mp_reader r;
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        assert_true(mp_read_uint(&r, UINT64_MAX) == v);
        assert_true(mp_read_done(&r));
        if (v > 0) { /* one past max is refused */
            mp_reader_init(&r, out_bytes(&o), out_len(&o));
            assert_true(mp_read_uint(&r, v - 1) == 0);
            assert_int_equal(r.err, COORD_EPROTO);
        }
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        int64_t s = mp_read_sint(&r, INT64_MIN, INT64_MAX);
        if (v <= INT64_MAX) {
            assert_true(s == (int64_t)v);
            assert_int_equal(r.err, 0);
        } else {
            assert_int_equal(r.err, COORD_EPROTO);
        }
        msgpack_sbuffer_destroy(&ref.sb);
        wire_buf_free(&o.b);
    }
}

static void sint_boundaries(void **state)
{
    (void)state;
    for (size_t i = 0; i < COORD_ARRAY_LEN(sints); i++) {
        int64_t v = sints[i];
        struct out o;
        struct ref ref;
        out_init(&o);
        ref_init(&ref);
        mp_write_int(&o.b, v);
        msgpack_pack_int64(&ref.pk, v);
        assert_same(&o, &ref);
        assert_int_equal(out_len(&o), sint_lens[i]);
        struct mp_reader r;
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        assert_true(mp_read_sint(&r, INT64_MIN, INT64_MAX) == v);
        assert_true(mp_read_done(&r));
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        assert_true(mp_read_sint(&r, v + 1, INT64_MAX) == 0);
        assert_int_equal(r.err, COORD_EPROTO);
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        assert_true(mp_read_sint(&r, v, v) == v);
        assert_int_equal(r.err, 0);
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        mp_read_uint(&r, UINT64_MAX); /* negative is never unsigned */
        assert_int_equal(r.err, COORD_EPROTO);
        msgpack_sbuffer_destroy(&ref.sb);
        wire_buf_free(&o.b);
    }
    /* Non-negative ints are written as unsigned, like msgpack-c. */
    int64_t pos[] = {0, 127, 128, 65536, INT64_MAX};
    for (size_t i = 0; i < COORD_ARRAY_LEN(pos); i++) {
        struct out o;
        struct ref ref;
        out_init(&o);
        ref_init(&ref);
        mp_write_int(&o.b, pos[i]);
        msgpack_pack_int64(&ref.pk, pos[i]);
        assert_same(&o, &ref);
        struct mp_reader r;
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        assert_true(mp_read_sint(&r, 0, INT64_MAX) == pos[i]);
        assert_true(mp_read_done(&r));
        msgpack_sbuffer_destroy(&ref.sb);
        wire_buf_free(&o.b);
    }
}

/* Any width is accepted on input: 5 as u64, s8, s64; -1 as s16, s64. */
static void noncanonical_widths(void **state)
{
    (void)state;
    static const uint8_t five_u64[] = {0xcf, 0, 0, 0, 0, 0, 0, 0, 5};
    static const uint8_t five_s8[] = {0xd0, 5};
    static const uint8_t five_s64[] = {0xd3, 0, 0, 0, 0, 0, 0, 0, 5};
    static const uint8_t m1_s16[] = {0xd1, 0xff, 0xff};
    static const uint8_t m1_s64[] = {0xd3, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff};
    static const uint8_t u16_big[] = {0xcd, 0x80, 0x00};
    struct mp_reader r;
    mp_reader_init(&r, five_u64, sizeof(five_u64));
    assert_true(mp_read_uint(&r, 5) == 5 && mp_read_done(&r));
    mp_reader_init(&r, five_s8, sizeof(five_s8));
    assert_true(mp_read_uint(&r, 5) == 5 && mp_read_done(&r));
    mp_reader_init(&r, five_s64, sizeof(five_s64));
    assert_true(mp_read_sint(&r, -5, 5) == 5 && mp_read_done(&r));
    mp_reader_init(&r, m1_s16, sizeof(m1_s16));
    assert_true(mp_read_sint(&r, -1, 0) == -1 && mp_read_done(&r));
    mp_reader_init(&r, m1_s64, sizeof(m1_s64));
    assert_true(mp_read_sint(&r, INT64_MIN, 0) == -1 && mp_read_done(&r));
    mp_reader_init(&r, u16_big, sizeof(u16_big)); /* unsigned, not -32768 */
    assert_true(mp_read_sint(&r, INT64_MIN, INT64_MAX) == 0x8000);
    bool neg = true;
    uint64_t v = 0;
    mp_reader_init(&r, m1_s16, sizeof(m1_s16));
    assert_true(mp_read_num(&r, &neg, &v));
    assert_true(neg && v == UINT64_MAX);
}

/* ---- str, bin, array --------------------------------------------------- */

static const uint32_t blob_lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536,
                                     70000};

static void str_bin_lengths(void **state)
{
    (void)state;
    static uint8_t body[70000];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < COORD_ARRAY_LEN(blob_lens); i++) {
        for (int str = 0; str < 2; str++) {
            uint32_t n = blob_lens[i];
            struct out o;
            struct ref ref;
            out_init(&o);
            ref_init(&ref);
            if (str) {
                mp_write_str(&o.b, body, n);
                msgpack_pack_str(&ref.pk, n);
                msgpack_pack_str_body(&ref.pk, body, n);
            } else {
                mp_write_bin(&o.b, body, n);
                msgpack_pack_bin(&ref.pk, n);
                msgpack_pack_bin_body(&ref.pk, body, n);
            }
            assert_int_equal(o.b.err, 0);
            assert_same(&o, &ref);
            struct mp_reader r;
            uint32_t len = 12345;
            mp_reader_init(&r, out_bytes(&o), out_len(&o));
            const uint8_t *p = str ? mp_read_str(&r, n, &len)
                                   : mp_read_bin(&r, n, &len);
            assert_non_null(p);
            assert_int_equal(len, n);
            assert_true(p + n == out_bytes(&o) + out_len(&o)); /* borrowed */
            assert_memory_equal(p, body, n);
            assert_true(mp_read_done(&r));
            /* wrong kind: a str is not a bin and vice versa */
            mp_reader_init(&r, out_bytes(&o), out_len(&o));
            p = str ? mp_read_bin(&r, UINT32_MAX, &len)
                    : mp_read_str(&r, UINT32_MAX, &len);
            assert_null(p);
            assert_int_equal(len, 0);
            assert_int_equal(r.err, COORD_EPROTO);
            if (n > 0) { /* over the limit: ETOOBIG */
                mp_reader_init(&r, out_bytes(&o), out_len(&o));
                p = str ? mp_read_str(&r, n - 1, &len)
                        : mp_read_bin(&r, n - 1, &len);
                assert_null(p);
                assert_int_equal(r.err, COORD_ETOOBIG);
                assert_true(r.p == r.end);
            }
            msgpack_sbuffer_destroy(&ref.sb);
            wire_buf_free(&o.b);
        }
    }
}

static void array_heads(void **state)
{
    (void)state;
    static const uint32_t counts[] = {0, 1, 15, 16, 65535, 65536, 100000};
    for (size_t i = 0; i < COORD_ARRAY_LEN(counts); i++) {
        uint32_t n = counts[i];
        struct out o;
        struct ref ref;
        out_init(&o);
        ref_init(&ref);
        mp_write_array(&o.b, n);
        msgpack_pack_array(&ref.pk, n);
        for (uint32_t k = 0; k < n; k++) {
            mp_write_nil(&o.b);
            msgpack_pack_nil(&ref.pk);
        }
        assert_same(&o, &ref);
        struct mp_reader r;
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        assert_int_equal(mp_read_array(&r), n);
        for (uint32_t k = 0; k < n; k++)
            mp_read_nil(&r);
        assert_true(mp_read_done(&r));
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        mp_read_arity(&r, n);
        assert_int_equal(r.err, 0);
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        mp_read_arity(&r, n + 1);
        assert_int_equal(r.err, COORD_EPROTO);
        if (n > 0) { /* a count the remaining bytes cannot hold */
            mp_reader_init(&r, out_bytes(&o), out_len(&o) - 1);
            assert_int_equal(mp_read_array(&r), 0);
            assert_int_equal(r.err, COORD_EPROTO);
        }
        msgpack_sbuffer_destroy(&ref.sb);
        wire_buf_free(&o.b);
    }
    /* array32 claiming 4 billion elements over 5 bytes */
    static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
    struct mp_reader r;
    mp_reader_init(&r, huge, sizeof(huge));
    assert_int_equal(mp_read_array(&r), 0);
    assert_int_equal(r.err, COORD_EPROTO);
}

static void bool_nil(void **state)
{
    (void)state;
    struct out o;
    struct ref ref;
    out_init(&o);
    ref_init(&ref);
    mp_write_bool(&o.b, true);
    mp_write_bool(&o.b, false);
    mp_write_nil(&o.b);
    msgpack_pack_true(&ref.pk);
    msgpack_pack_false(&ref.pk);
    msgpack_pack_nil(&ref.pk);
    assert_same(&o, &ref);
    struct mp_reader r;
    mp_reader_init(&r, out_bytes(&o), out_len(&o));
    assert_true(mp_read_bool(&r));
    assert_false(mp_read_bool(&r));
    mp_read_nil(&r);
    assert_true(mp_read_done(&r));
    msgpack_sbuffer_destroy(&ref.sb);
    wire_buf_free(&o.b);
}

/* ---- wrong types ------------------------------------------------------- */

enum kind { K_UINT, K_SINT, K_BOOL, K_NIL, K_STR, K_BIN, K_ARRAY };

/* Reads one value of kind k; returns r.err. */
static int read_kind(const uint8_t *p, size_t n, enum kind k)
{
    struct mp_reader r;
    uint32_t len;
    mp_reader_init(&r, p, n);
    switch (k) {
    case K_UINT: mp_read_uint(&r, UINT64_MAX); break;
    case K_SINT: mp_read_sint(&r, INT64_MIN, INT64_MAX); break;
    case K_BOOL: mp_read_bool(&r); break;
    case K_NIL: mp_read_nil(&r); break;
    case K_STR: mp_read_str(&r, UINT32_MAX, &len); break;
    case K_BIN: mp_read_bin(&r, UINT32_MAX, &len); break;
    case K_ARRAY: mp_read_array(&r); break;
    }
    return r.err;
}

static void wrong_types(void **state)
{
    (void)state;
    /* One value of each msgpack family, with the kinds that accept it. */
    static const struct {
        uint8_t bytes[4];
        size_t n;
        unsigned ok; /* bit per enum kind */
    } vals[] = {
        {{0x05}, 1, 1u << K_UINT | 1u << K_SINT},
        {{0xff}, 1, 1u << K_SINT},                   /* -1 */
        {{0xc3}, 1, 1u << K_BOOL},
        {{0xc0}, 1, 1u << K_NIL},
        {{0xa1, 'x'}, 2, 1u << K_STR},
        {{0xc4, 1, 'x'}, 3, 1u << K_BIN},
        {{0x91, 0xc0}, 2, 1u << K_ARRAY},
        {{0x81, 0xc0, 0xc0}, 3, 0},                  /* map */
        {{0xca, 0, 0, 0}, 4, 0},                     /* float32, short */
        {{0xd4, 1, 2}, 3, 0},                        /* fixext1 */
        {{0xc1}, 1, 0},                              /* never used */
    };
    for (size_t i = 0; i < COORD_ARRAY_LEN(vals); i++)
        for (int k = K_UINT; k <= K_ARRAY; k++) {
            int err = read_kind(vals[i].bytes, vals[i].n, (enum kind)k);
            if (vals[i].ok & (1u << k))
                assert_int_equal(err, 0);
            else
                assert_int_equal(err, COORD_EPROTO);
        }
}

/* ---- truncation and sticky errors -------------------------------------- */

static void truncation_everywhere(void **state)
{
    (void)state;
    static uint8_t blob[300];
    struct out o;
    out_init(&o);
    mp_write_array(&o.b, 20);
    for (size_t i = 0; i < COORD_ARRAY_LEN(uints); i++)
        mp_write_uint(&o.b, uints[i]);
    mp_write_int(&o.b, INT64_MIN);
    mp_write_int(&o.b, -200);
    mp_write_bin(&o.b, blob, sizeof(blob));
    mp_write_str(&o.b, blob, 40);
    mp_write_bool(&o.b, true);
    mp_write_nil(&o.b);
    assert_int_equal(o.b.err, 0);
    size_t total = out_len(&o);
    for (size_t cut = 0; cut <= total; cut++) {
        struct mp_reader r;
        uint32_t len;
        mp_reader_init(&r, out_bytes(&o), cut);
        mp_read_arity(&r, 20);
        for (size_t i = 0; i < COORD_ARRAY_LEN(uints); i++)
            mp_read_uint(&r, UINT64_MAX);
        mp_read_sint(&r, INT64_MIN, INT64_MAX);
        mp_read_sint(&r, INT64_MIN, INT64_MAX);
        mp_read_bin(&r, sizeof(blob), &len);
        mp_read_str(&r, 40, &len);
        mp_read_bool(&r);
        mp_read_nil(&r);
        if (cut == total) {
            assert_true(mp_read_done(&r));
        } else {
            assert_int_equal(r.err, COORD_EPROTO);
            assert_true(r.p == r.end);
        }
    }
    wire_buf_free(&o.b);
}

static void reader_error_sticks(void **state)
{
    (void)state;
    static const uint8_t bytes[] = {0xc0, 0x05, 0xa1, 'x', 0xc3};
    struct mp_reader r;
    uint32_t len = 9;
    mp_reader_init(&r, bytes, sizeof(bytes));
    mp_read_bool(&r); /* nil is not a bool */
    assert_int_equal(r.err, COORD_EPROTO);
    /* valid bytes follow, but every later read fails with a zero value */
    assert_true(mp_read_uint(&r, UINT64_MAX) == 0);
    assert_null(mp_read_str(&r, 10, &len));
    assert_int_equal(len, 0);
    assert_false(mp_read_bool(&r));
    assert_null(mp_read_raw(&r, 0));
    assert_int_equal(r.err, COORD_EPROTO); /* the first error stays */
    mp_read_fail(&r, COORD_ETOOBIG);
    assert_int_equal(r.err, COORD_EPROTO);
    assert_false(mp_read_done(&r));
    /* trailing bytes are visible to the caller */
    mp_reader_init(&r, bytes, sizeof(bytes));
    mp_read_nil(&r);
    assert_int_equal(r.err, 0);
    assert_false(mp_read_done(&r));
    /* empty input */
    mp_reader_init(&r, bytes, 0);
    assert_true(mp_read_done(&r));
    mp_read_nil(&r);
    assert_int_equal(r.err, COORD_EPROTO);
}

static void load_be(void **state)
{
    (void)state;
    static const uint8_t q[] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_true(mp_load_be(q, 0) == 0);
    assert_true(mp_load_be(q, 1) == 1);
    assert_true(mp_load_be(q, 4) == 0x01020304);
    assert_true(mp_load_be(q, 8) == 0x0102030405060708ull);
}

/* ---- writer limits ----------------------------------------------------- */

static void writer_frame(void **state)
{
    (void)state;
    struct wire_buf b;
    wire_buf_init(&b, 4096);
    size_t s = mp_frame_begin(&b, 100);
    mp_write_array(&b, 2);
    mp_write_uint(&b, 300);
    mp_write_nil(&b);
    assert_int_equal(mp_frame_end(&b, s), 0);
    static const uint8_t want[] = {0, 0, 0, 5, 0x92, 0xcd, 1, 44, 0xc0};
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    /* A second frame over its body limit is dropped, the first kept. */
    static uint8_t blob[200];
    s = mp_frame_begin(&b, 100);
    mp_write_bin(&b, blob, 96); /* 2 + 96 = 98 bytes: fits */
    mp_write_nil(&b);           /* 99 */
    mp_write_nil(&b);           /* 100 */
    assert_int_equal(b.err, 0);
    mp_write_nil(&b);           /* 101: over */
    assert_int_equal(b.err, COORD_ETOOBIG);
    mp_write_fail(&b, COORD_EINVAL); /* the first error stays */
    assert_int_equal(mp_frame_end(&b, s), COORD_ETOOBIG);
    assert_int_equal(b.len, sizeof(want));
    assert_int_equal(b.err, 0);
    /* NULL bytes with a length */
    s = mp_frame_begin(&b, 100);
    mp_write_str(&b, NULL, 3);
    assert_int_equal(mp_frame_end(&b, s), COORD_EINVAL);
    s = mp_frame_begin(&b, 100);
    mp_write_bin(&b, NULL, 0); /* empty is fine */
    assert_int_equal(mp_frame_end(&b, s), 0);
    assert_int_equal(b.len, sizeof(want) + 6); /* prefix, c4 00 */
    assert_int_equal(b.data[sizeof(want) + 4], 0xc4);
    wire_buf_free(&b);
}

static void writer_buffer_limits(void **state)
{
    (void)state;
    /* fixed storage: never grown */
    uint8_t mem[8];
    struct wire_buf b;
    wire_buf_init_fixed(&b, mem, sizeof(mem));
    size_t s = mp_frame_begin(&b, 1000);
    mp_write_uint(&b, 1);
    mp_write_uint(&b, 0x10000); /* 4 + 1 + 5 = 10 > 8 */
    assert_int_equal(mp_frame_end(&b, s), COORD_ENOMEM);
    assert_int_equal(b.len, 0);
    s = mp_frame_begin(&b, 1000);
    mp_write_uint(&b, 0x100); /* 4 + 3 = 7 */
    assert_int_equal(mp_frame_end(&b, s), 0);
    assert_int_equal(b.len, 7);
    /* growable: up to max, then ENOMEM */
    static uint8_t blob[5000];
    wire_buf_init(&b, 3000);
    s = mp_frame_begin(&b, 100000);
    mp_write_bin(&b, blob, 2990); /* 4 + 3 + 2990 = 2997 */
    assert_int_equal(b.err, 0);
    mp_write_uint(&b, 0x100); /* +3 = 3000: exactly max */
    assert_int_equal(b.err, 0);
    mp_write_nil(&b);
    assert_int_equal(mp_frame_end(&b, s), COORD_ENOMEM);
    assert_int_equal(b.len, 0);
    wire_buf_free(&b);
}

/* ---- randomized round trips through msgpack-c -------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A value spread over every width: a random number of random bits. */
static uint64_t rnd_width(void)
{
    unsigned bits = (unsigned)(rnd() % 65);
    return bits == 64 ? rnd() : rnd() & ((1ull << bits) - 1);
}

static void random_round_trip(void **state)
{
    (void)state;
    static uint8_t blob[1000];
    for (int iter = 0; iter < 2000; iter++) {
        uint64_t u = rnd_width();
        int64_t s = (int64_t)rnd_width();
        if (rnd() & 1)
            s = -s;
        uint32_t blen = (uint32_t)(rnd() % sizeof(blob));
        bool t = rnd() & 1;
        struct out o;
        out_init(&o);
        mp_write_array(&o.b, 5);
        mp_write_uint(&o.b, u);
        mp_write_int(&o.b, s);
        mp_write_str(&o.b, blob, blen);
        mp_write_bin(&o.b, blob, blen / 2);
        mp_write_bool(&o.b, t);
        assert_int_equal(o.b.err, 0);
        /* msgpack-c reads the same values */
        msgpack_unpacked up;
        size_t off = 0;
        msgpack_unpacked_init(&up);
        assert_int_equal(msgpack_unpack_next(&up, (const char *)out_bytes(&o),
                                             out_len(&o), &off),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, out_len(&o));
        msgpack_object_array *a = &up.data.via.array;
        assert_int_equal(a->size, 5);
        assert_int_equal(a->ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
        assert_true(a->ptr[0].via.u64 == u);
        if (s < 0)
            assert_true(a->ptr[1].via.i64 == s);
        else
            assert_true(a->ptr[1].via.u64 == (uint64_t)s);
        assert_int_equal(a->ptr[2].type, MSGPACK_OBJECT_STR);
        assert_int_equal(a->ptr[2].via.str.size, blen);
        assert_int_equal(a->ptr[3].type, MSGPACK_OBJECT_BIN);
        assert_int_equal(a->ptr[3].via.bin.size, blen / 2);
        assert_int_equal(a->ptr[4].via.boolean, t);
        msgpack_unpacked_destroy(&up);
        /* and so do we */
        struct mp_reader r;
        uint32_t len;
        mp_reader_init(&r, out_bytes(&o), out_len(&o));
        mp_read_arity(&r, 5);
        assert_true(mp_read_uint(&r, UINT64_MAX) == u);
        assert_true(mp_read_sint(&r, INT64_MIN, INT64_MAX) == s);
        assert_non_null(mp_read_str(&r, blen, &len));
        assert_int_equal(len, blen);
        assert_non_null(mp_read_bin(&r, blen, &len));
        assert_int_equal(len, blen / 2);
        assert_int_equal(mp_read_bool(&r), t);
        assert_true(mp_read_done(&r));
        wire_buf_free(&o.b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uint_boundaries),
        cmocka_unit_test(sint_boundaries),
        cmocka_unit_test(noncanonical_widths),
        cmocka_unit_test(str_bin_lengths),
        cmocka_unit_test(array_heads),
        cmocka_unit_test(bool_nil),
        cmocka_unit_test(wrong_types),
        cmocka_unit_test(truncation_everywhere),
        cmocka_unit_test(reader_error_sticks),
        cmocka_unit_test(load_be),
        cmocka_unit_test(writer_frame),
        cmocka_unit_test(writer_buffer_limits),
        cmocka_unit_test(random_round_trip),
    };
    return cmocka_run_group_tests_name("mp", tests, NULL, NULL);
}
