/* fuzz_peer.c -- libFuzzer target for the Raft peer codec
 * (coordd/net/peer_codec.c, on libcoord/shared/mp.c).
 *
 * The input is read two ways, each under the default limits and under
 * small ones (so every limit check is reachable): as a stream of frames
 * through peer_frame_check(), and as one bare frame body. Every body goes
 * through the message decoder (entries into a caller array of bounded
 * capacity) and the handshake decoder; only documented errors may come
 * back. Whatever decodes is re-encoded, which must succeed, hold the same
 * MessagePack value as the input (msgpack-c compares the trees), decode
 * again to the same struct field for field, and encode again to the same
 * bytes. Also linked into the plain-C corpus replay (replay.c), which
 * counts failures instead of aborting.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>

#include "coord.h"
#include "coordd/net/peer_codec.h"
#include "coordd/raft/raft.h"
#include "libcoord/shared/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replay sets this false to count failures rather than abort. */
bool fuzz_abort_on_failure = true;
unsigned long fuzz_failures;
/* Decoded messages whose re-encoding was checked (replay reports it). */
unsigned long fuzz_checks;

static void fuzz_fail(int line, const char *what)
{
    fprintf(stderr, "fuzz_peer.c:%d: check failed: %s\n", line, what);
    fuzz_failures++;
    if (fuzz_abort_on_failure)
        abort();
}

#define FUZZ_CHECK(c)                                                        \
    do {                                                                     \
        if (!(c))                                                            \
            fuzz_fail(__LINE__, #c);                                         \
    } while (0)

/* Entry capacity: above the small limit's entries_max, below the
 * default's, so both "over the limit" and "over the capacity" occur. */
#define FUZZ_CAP 64

static bool documented(int rc)
{
    return rc == 0 || rc == COORD_EPROTO || rc == COORD_ETOOBIG ||
           rc == COORD_ETOOMANY;
}

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

static bool bytes_equal(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    return n == 0 ? a == NULL && b == NULL : memcmp(a, b, n) == 0;
}

static bool entries_equal(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->n_entries != b->n_entries)
        return false;
    for (uint32_t i = 0; i < a->n_entries; i++) {
        const struct raft_entry *x = &a->entries[i], *y = &b->entries[i];
        if (x->index != y->index || x->term != y->term ||
            x->type != y->type || x->len != y->len ||
            !bytes_equal(x->data, y->data, x->len))
            return false;
    }
    return true;
}

/* Every field, entries and chunk by content. */
static bool msg_equal(const struct raft_msg *a, const struct raft_msg *b)
{
    const struct raft_snapshot_meta *s = &a->snap, *t = &b->snap;
    bool conf = s->conf.n == t->conf.n;
    for (uint32_t i = 0; conf && i < s->conf.n; i++)
        conf = s->conf.members[i].id == t->conf.members[i].id &&
               s->conf.members[i].role == t->conf.members[i].role;
    return a->type == b->type && a->from == b->from && a->to == b->to &&
           a->term == b->term && a->index == b->index &&
           a->log_term == b->log_term && a->commit == b->commit &&
           entries_equal(a, b) && a->reject == b->reject &&
           a->hint_index == b->hint_index && a->hint_term == b->hint_term &&
           a->transfer == b->transfer && a->ctx == b->ctx &&
           a->read_index == b->read_index && s->index == t->index &&
           s->term == t->term && s->size == t->size && conf &&
           a->offset == b->offset && a->chunk_len == b->chunk_len &&
           a->last == b->last && bytes_equal(a->chunk, b->chunk, a->chunk_len);
}

static void check_msg(const struct raft_msg *m, const uint8_t *body,
                      size_t len, const struct peer_limits *lim)
{
    static struct raft_entry ents2[FUZZ_CAP];
    struct wire_buf b1, b2;
    struct raft_msg m2;
    wire_buf_init(&b1, 2 * (size_t)lim->frame_bytes_max + 64);
    wire_buf_init(&b2, 2 * (size_t)lim->frame_bytes_max + 64);
    int rc = peer_encode_msg(&b1, m, lim);
    fuzz_checks++;
    FUZZ_CHECK(rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(same_value(body, len, b1.data + 4, b1.len - 4));
        rc = peer_decode_msg(b1.data + 4, b1.len - 4, lim, ents2, FUZZ_CAP,
                             &m2);
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(rc != 0 || msg_equal(m, &m2));
        if (rc == 0 && peer_encode_msg(&b2, &m2, lim) == 0)
            FUZZ_CHECK(b2.len == b1.len &&
                       memcmp(b1.data, b2.data, b1.len) == 0);
        else
            FUZZ_CHECK(!"re-encode of a decoded message failed");
    }
    wire_buf_free(&b1);
    wire_buf_free(&b2);
}

static void check_hello(const struct peer_hello *h, const uint8_t *body,
                        size_t len)
{
    struct wire_buf b;
    struct peer_hello h2;
    wire_buf_init(&b, 256);
    int rc = peer_encode_hello(&b, h);
    fuzz_checks++;
    FUZZ_CHECK(rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(same_value(body, len, b.data + 4, b.len - 4));
        FUZZ_CHECK(peer_decode_hello(b.data + 4, b.len - 4, &h2) == 0);
        FUZZ_CHECK(h2.version == h->version &&
                   h2.cluster_id == h->cluster_id && h2.from == h->from &&
                   h2.to == h->to);
    }
    wire_buf_free(&b);
}

static void one_body(const uint8_t *body, size_t len,
                     const struct peer_limits *lim)
{
    static struct raft_entry ents[FUZZ_CAP];
    struct raft_msg m;
    struct peer_hello h;
    int rc = peer_decode_msg(body, len, lim, ents, FUZZ_CAP, &m);
    FUZZ_CHECK(documented(rc));
    if (rc == 0)
        check_msg(&m, body, len, lim);
    rc = peer_decode_hello(body, len, &h);
    FUZZ_CHECK(rc == 0 || rc == COORD_EPROTO || rc == COORD_EPROTOVERSION);
    if (rc == 0)
        check_hello(&h, body, len);
}

static void stream(const uint8_t *data, size_t size,
                   const struct peer_limits *lim)
{
    size_t off = 0;
    for (;;) {
        size_t fb = 0;
        int rc = peer_frame_check(data + off, size - off, lim, &fb);
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
    struct peer_limits big, small = {
        .frame_bytes_max = 2048,
        .entries_max = 8,
        .entry_bytes_max = 64,
        .chunk_bytes_max = 256,
    };
    peer_limits_default(&big);
    stream(data, size, &big);
    stream(data, size, &small);
    one_body(data, size, &big);
    one_body(data, size, &small);
    return 0;
}
