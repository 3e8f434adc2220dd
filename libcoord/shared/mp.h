/* mp.h -- the bounded msgpack layer under both of coord's protocols: the
 * client protocol (wire.c) and the Raft peer protocol (coordd/net/
 * peer_codec.c). It knows msgpack encodings, nothing about messages.
 *
 * Writer: appends canonical msgpack (the smallest encoding of every value)
 * to a struct wire_buf (wire.h), growing it through coord_realloc within
 * its max and keeping the frame being written within its frame limit
 * (writes belong to a frame begun with mp_frame_begin()). The
 * first error (COORD_ENOMEM, COORD_ETOOBIG, COORD_EINVAL) sticks in b->err
 * and every later write is a no-op; mp_frame_end() reports it and drops the
 * partial frame, so encoders check once at the end.
 *
 * Reader: a cursor over borrowed bytes. Never allocates, never asserts on
 * input, checks every length and count against the remaining bytes and the
 * caller's limit before use. The first error (COORD_EPROTO, COORD_ETOOBIG)
 * sticks and moves the cursor to the end, so every later read fails too and
 * returns a zero value: a decoder reads a whole layout, then checks r->err.
 * Accepts any width for an integer (msgpack-c's packer does not always pick
 * the smallest), but only the value's own type (no int for a bool, no str
 * for a bin). Must not grow into a generic value model: layouts are fixed.
 */
#ifndef COORD_MP_H
#define COORD_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libcoord/shared/wire.h"

/* ---- Writer ------------------------------------------------------------ */

/* Records err in b->err unless an error is already there. */
void mp_write_fail(struct wire_buf *b, int err);
/* Appends n raw bytes (already msgpack, or a frame prefix). */
void mp_write_raw(struct wire_buf *b, const void *p, size_t n);
void mp_write_uint(struct wire_buf *b, uint64_t v);
/* Non-negative values are written as unsigned (as msgpack-c does). */
void mp_write_int(struct wire_buf *b, int64_t v);
void mp_write_bool(struct wire_buf *b, bool v);
void mp_write_nil(struct wire_buf *b);
/* An array head; the caller writes the n elements after it. */
void mp_write_array(struct wire_buf *b, uint32_t n);
/* str / bin of len bytes at p (p may be NULL only when len is 0: else
 * COORD_EINVAL). */
void mp_write_str(struct wire_buf *b, const void *p, uint32_t len);
void mp_write_bin(struct wire_buf *b, const void *p, uint32_t len);

/* Starts a frame at the end of b: clears b->err, sets the frame limit to
 * frame_max body bytes and writes a placeholder WIRE_PREFIX_BYTES prefix.
 * Returns the frame's start offset for mp_frame_end(). */
size_t mp_frame_begin(struct wire_buf *b, uint32_t frame_max);
/* Completes the frame begun at start (big-endian body length in the
 * prefix) and returns 0, or removes it and returns the sticky error. An
 * empty body is a caller bug (asserted). */
int mp_frame_end(struct wire_buf *b, size_t start);

/* ---- Reader ------------------------------------------------------------ */

struct mp_reader {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* 0 or the first error */
};

static inline void mp_reader_init(struct mp_reader *r, const void *buf,
                                  size_t len)
{
    r->p = (const uint8_t *)buf;
    r->end = r->p + len;
    r->err = 0;
}

/* True when every byte was read without error (decoders refuse trailing
 * bytes with this). */
static inline bool mp_read_done(const struct mp_reader *r)
{
    return r->err == 0 && r->p == r->end;
}

/* Records err (first one wins) and moves the cursor to the end. */
void mp_read_fail(struct mp_reader *r, int err);
/* The next n raw bytes, or NULL (COORD_EPROTO) when fewer remain. */
const uint8_t *mp_read_raw(struct mp_reader *r, size_t n);
/* Any msgpack integer: *neg and the value (two's complement when *neg).
 * False after an error (not an integer, truncated). */
bool mp_read_num(struct mp_reader *r, bool *neg, uint64_t *v);
/* An integer in [0, max]; COORD_EPROTO otherwise. */
uint64_t mp_read_uint(struct mp_reader *r, uint64_t max);
/* An integer in [min, max]; COORD_EPROTO otherwise. */
int64_t mp_read_sint(struct mp_reader *r, int64_t min, int64_t max);
bool mp_read_bool(struct mp_reader *r);
void mp_read_nil(struct mp_reader *r);
/* An array head. A count that cannot fit the remaining bytes (every
 * element takes at least one) is COORD_EPROTO before anyone loops on it. */
uint32_t mp_read_array(struct mp_reader *r);
/* An array head that must count exactly want elements. */
void mp_read_arity(struct mp_reader *r, uint32_t want);
/* A str / bin of at most max bytes (COORD_ETOOBIG past it, checked before
 * the bytes are looked for): a pointer into the buffer (non-NULL even for
 * length 0) and *len; NULL and *len = 0 after an error. */
const uint8_t *mp_read_str(struct mp_reader *r, uint32_t max, uint32_t *len);
const uint8_t *mp_read_bin(struct mp_reader *r, uint32_t max, uint32_t *len);

/* The big-endian unsigned integer in q[0..n), n <= 8. */
static inline uint64_t mp_load_be(const uint8_t *q, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | q[i];
    return v;
}

#endif /* COORD_MP_H */
