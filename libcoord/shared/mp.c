/* mp.c -- bounded msgpack writer and reader (see mp.h for the contract).
 * Shared by the client protocol (wire.c) and the peer protocol
 * (coordd/net/peer_codec.c). Pure: no I/O; allocation only to grow a
 * struct wire_buf. Must never assert on input bytes; coord_assert guards
 * only the caller's side.
 */
#include "mp.h"

#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* ---- Writer ------------------------------------------------------------ */

void mp_write_fail(struct wire_buf *b, int err)
{
    if (b->err == 0)
        b->err = err;
}

static __attribute__((noinline)) bool buf_reserve(struct wire_buf *b,
                                                  size_t n)
{
    if (b->cap - b->len >= n)
        return true;
    if (b->fixed || b->max - b->len < n) {
        mp_write_fail(b, COORD_ENOMEM);
        return false;
    }
    size_t cap = b->cap ? b->cap : 256;
    if (cap > b->max)
        cap = b->max;
    while (cap - b->len < n)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    uint8_t *p = coord_realloc(b->data, cap);
    if (!p) {
        mp_write_fail(b, COORD_ENOMEM);
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

/* True when n more bytes fit the frame limit and the buffer (grown if
 * need be); else records the error. */
static inline bool room(struct wire_buf *b, size_t n)
{
    if (b->err)
        return false;
    size_t used = b->len - b->frame_start;
    if (n > (size_t)b->frame_max + WIRE_PREFIX_BYTES - used) {
        mp_write_fail(b, COORD_ETOOBIG);
        return false;
    }
    return b->cap - b->len >= n || buf_reserve(b, n);
}

/* Appends n bytes to the frame being encoded, within the frame limit. */
void mp_write_raw(struct wire_buf *b, const void *p, size_t n)
{
    if (n == 0 || !room(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* A type byte followed by the low nbytes of v, big-endian. Written in
 * place: this is the encoder's inner loop. */
static inline void put_head(struct wire_buf *b, uint8_t c, uint64_t v,
                            int nbytes)
{
    if (!room(b, 1 + (size_t)nbytes))
        return;
    uint8_t *h = b->data + b->len;
    h[0] = c;
    for (int i = 0; i < nbytes; i++)
        h[1 + i] = (uint8_t)(v >> (8 * (nbytes - 1 - i)));
    b->len += 1 + (size_t)nbytes;
}

void mp_write_uint(struct wire_buf *b, uint64_t v)
{
    if (v <= 0x7f)
        put_head(b, (uint8_t)v, 0, 0);
    else if (v <= UINT8_MAX)
        put_head(b, 0xcc, v, 1);
    else if (v <= UINT16_MAX)
        put_head(b, 0xcd, v, 2);
    else if (v <= UINT32_MAX)
        put_head(b, 0xce, v, 4);
    else
        put_head(b, 0xcf, v, 8);
}

void mp_write_int(struct wire_buf *b, int64_t v)
{
    if (v >= 0)
        mp_write_uint(b, (uint64_t)v);
    else if (v >= -32)
        put_head(b, (uint8_t)(v & 0xff), 0, 0);
    else if (v >= INT8_MIN)
        put_head(b, 0xd0, (uint64_t)v, 1);
    else if (v >= INT16_MIN)
        put_head(b, 0xd1, (uint64_t)v, 2);
    else if (v >= INT32_MIN)
        put_head(b, 0xd2, (uint64_t)v, 4);
    else
        put_head(b, 0xd3, (uint64_t)v, 8);
}

void mp_write_array(struct wire_buf *b, uint32_t n)
{
    if (n <= 15)
        put_head(b, (uint8_t)(0x90 | n), 0, 0);
    else if (n <= UINT16_MAX)
        put_head(b, 0xdc, n, 2);
    else
        put_head(b, 0xdd, n, 4);
}

void mp_write_bool(struct wire_buf *b, bool v)
{
    put_head(b, v ? 0xc3 : 0xc2, 0, 0);
}

void mp_write_nil(struct wire_buf *b)
{
    put_head(b, 0xc0, 0, 0);
}

static void write_blob(struct wire_buf *b, bool str, const void *p,
                       uint32_t len)
{
    if (len > 0 && p == NULL) {
        mp_write_fail(b, COORD_EINVAL);
        return;
    }
    if (str && len <= 31)
        put_head(b, (uint8_t)(0xa0 | len), 0, 0);
    else if (len <= UINT8_MAX)
        put_head(b, str ? 0xd9 : 0xc4, len, 1);
    else if (len <= UINT16_MAX)
        put_head(b, str ? 0xda : 0xc5, len, 2);
    else
        put_head(b, str ? 0xdb : 0xc6, len, 4);
    mp_write_raw(b, p, len);
}

void mp_write_str(struct wire_buf *b, const void *p, uint32_t len)
{
    write_blob(b, true, p, len);
}

void mp_write_bin(struct wire_buf *b, const void *p, uint32_t len)
{
    write_blob(b, false, p, len);
}

size_t mp_frame_begin(struct wire_buf *b, uint32_t frame_max)
{
    static const uint8_t zero[WIRE_PREFIX_BYTES];
    b->err = 0;
    b->frame_start = b->len;
    b->frame_max = frame_max;
    mp_write_raw(b, zero, sizeof(zero));
    return b->frame_start;
}

int mp_frame_end(struct wire_buf *b, size_t start)
{
    int err = b->err;
    b->err = 0;
    if (err) {
        b->len = start;
        return err;
    }
    size_t body = b->len - start - WIRE_PREFIX_BYTES;
    coord_assert(body >= 1 && body <= b->frame_max);
    for (int i = 0; i < WIRE_PREFIX_BYTES; i++)
        b->data[start + i] = (uint8_t)(body >> (8 * (3 - i)));
    return 0;
}

/* ---- Reader ------------------------------------------------------------ */

void mp_read_fail(struct mp_reader *r, int err)
{
    if (r->err == 0)
        r->err = err;
    r->p = r->end;
}

const uint8_t *mp_read_raw(struct mp_reader *r, size_t n)
{
    if (r->err || (size_t)(r->end - r->p) < n) {
        mp_read_fail(r, COORD_EPROTO);
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

bool mp_read_num(struct mp_reader *r, bool *neg, uint64_t *v)
{
    const uint8_t *t = mp_read_raw(r, 1);
    if (!t)
        return false;
    uint8_t c = *t;
    *neg = false;
    if (c <= 0x7f || c >= 0xe0) {
        *neg = c >= 0xe0;
        *v = *neg ? (uint64_t)(int64_t)(int8_t)c : c;
        return true;
    }
    bool is_signed = c >= 0xd0 && c <= 0xd3;
    if (!is_signed && (c < 0xcc || c > 0xcf)) {
        mp_read_fail(r, COORD_EPROTO);
        return false;
    }
    size_t n = (size_t)1 << (c - (is_signed ? 0xd0 : 0xcc));
    const uint8_t *q = mp_read_raw(r, n);
    if (!q)
        return false;
    *v = mp_load_be(q, n);
    if (is_signed && (*v >> (8 * n - 1)) & 1) {
        *neg = true;
        if (n < 8)
            *v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    }
    return true;
}

uint64_t mp_read_uint(struct mp_reader *r, uint64_t max)
{
    bool neg;
    uint64_t v;
    if (r->p < r->end && *r->p <= 0x7f && *r->p <= max)
        return *r->p++; /* positive fixint: the common case */
    if (!mp_read_num(r, &neg, &v))
        return 0;
    if (neg || v > max) {
        mp_read_fail(r, COORD_EPROTO);
        return 0;
    }
    return v;
}

int64_t mp_read_sint(struct mp_reader *r, int64_t min, int64_t max)
{
    bool neg;
    uint64_t v;
    if (!mp_read_num(r, &neg, &v))
        return 0;
    if (!neg && v > (uint64_t)INT64_MAX) {
        mp_read_fail(r, COORD_EPROTO);
        return 0;
    }
    int64_t s = (int64_t)v; /* two's complement when neg */
    if (s < min || s > max) {
        mp_read_fail(r, COORD_EPROTO);
        return 0;
    }
    return s;
}

bool mp_read_bool(struct mp_reader *r)
{
    const uint8_t *t = mp_read_raw(r, 1);
    if (t && (*t == 0xc2 || *t == 0xc3))
        return *t == 0xc3;
    mp_read_fail(r, COORD_EPROTO);
    return false;
}

void mp_read_nil(struct mp_reader *r)
{
    const uint8_t *t = mp_read_raw(r, 1);
    if (!t || *t != 0xc0)
        mp_read_fail(r, COORD_EPROTO);
}

enum head_kind { HEAD_STR, HEAD_BIN, HEAD_ARRAY };

/* The length or count in a str, bin or array head of the wanted kind. */
static uint32_t read_head(struct mp_reader *r, enum head_kind kind)
{
    if (kind == HEAD_ARRAY && r->p < r->end && (*r->p & 0xf0) == 0x90)
        return *r->p++ & 0x0f; /* fixarray: the common case */
    const uint8_t *t = mp_read_raw(r, 1);
    if (!t)
        return 0;
    uint8_t c = *t;
    if (kind == HEAD_STR && (c & 0xe0) == 0xa0)
        return c & 0x1f;
    if (kind == HEAD_ARRAY && (c & 0xf0) == 0x90)
        return c & 0x0f;
    uint8_t first = kind == HEAD_STR ? 0xd9 : 0xc4; /* str8, bin8 */
    size_t n = 0;
    if (kind != HEAD_ARRAY && c >= first && c <= first + 2)
        n = (size_t)1 << (c - first);
    else if (kind == HEAD_ARRAY && (c == 0xdc || c == 0xdd))
        n = c == 0xdc ? 2 : 4;
    if (n == 0) {
        mp_read_fail(r, COORD_EPROTO);
        return 0;
    }
    const uint8_t *q = mp_read_raw(r, n);
    return q ? (uint32_t)mp_load_be(q, n) : 0;
}

static const uint8_t *read_blob(struct mp_reader *r, enum head_kind kind,
                                uint32_t max, uint32_t *len)
{
    *len = 0;
    uint32_t n = read_head(r, kind);
    if (r->err)
        return NULL;
    if (n > max) {
        mp_read_fail(r, COORD_ETOOBIG);
        return NULL;
    }
    const uint8_t *q = mp_read_raw(r, n);
    if (q)
        *len = n;
    return q;
}

const uint8_t *mp_read_str(struct mp_reader *r, uint32_t max, uint32_t *len)
{
    return read_blob(r, HEAD_STR, max, len);
}

const uint8_t *mp_read_bin(struct mp_reader *r, uint32_t max, uint32_t *len)
{
    return read_blob(r, HEAD_BIN, max, len);
}

uint32_t mp_read_array(struct mp_reader *r)
{
    uint32_t n = read_head(r, HEAD_ARRAY);
    if (!r->err && n > (size_t)(r->end - r->p))
        mp_read_fail(r, COORD_EPROTO);
    return r->err ? 0 : n;
}

void mp_read_arity(struct mp_reader *r, uint32_t want)
{
    uint32_t n = mp_read_array(r);
    if (!r->err && n != want)
        mp_read_fail(r, COORD_EPROTO);
}
