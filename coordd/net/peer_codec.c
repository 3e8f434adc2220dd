/* peer_codec.c -- Raft peer messages and the link handshake to and from
 * msgpack frames (see peer_codec.h for the layout, docs/peer-protocol.md
 * for the prose). Used by coordd's peer links; pure: no sockets, no clock,
 * no allocation when decoding. Each message type's fields come from one
 * table, read by both the encoder and the decoder, so the two cannot
 * disagree. Must never assert on input bytes.
 */
#include "peer_codec.h"

#include <string.h>

#include "coord.h"
#include "coordd/limits.h"
#include "libcoord/shared/check.h"
#include "libcoord/shared/mp.h"

/* Sent after [type, from, to, term]. */
enum peer_field {
    F_END = 0,
    F_INDEX,
    F_LOG_TERM,
    F_COMMIT,
    F_ENTRIES,
    F_REJECT,
    F_HINT_INDEX,
    F_HINT_TERM,
    F_TRANSFER,
    F_CTX,
    F_READ_INDEX,
    F_SNAP,
    F_OFFSET,
    F_LAST,
    F_CHUNK,
    F_DURABLE,
};

#define PEER_HEAD_FIELDS 4 /* type, from, to, term */
#define PEER_TYPE_MAX RAFT_MSG_READ_INDEX_RESP
#define PEER_FIELDS_MAX 5

static const uint8_t layouts[PEER_TYPE_MAX + 1][PEER_FIELDS_MAX + 1] = {
    [RAFT_MSG_APPEND] = {F_INDEX, F_LOG_TERM, F_COMMIT, F_DURABLE, F_ENTRIES},
    [RAFT_MSG_APPEND_RESP] = {F_INDEX, F_REJECT, F_HINT_INDEX, F_HINT_TERM},
    [RAFT_MSG_VOTE] = {F_INDEX, F_LOG_TERM, F_TRANSFER},
    [RAFT_MSG_VOTE_RESP] = {F_REJECT},
    [RAFT_MSG_PREVOTE] = {F_INDEX, F_LOG_TERM, F_TRANSFER},
    [RAFT_MSG_PREVOTE_RESP] = {F_REJECT},
    [RAFT_MSG_HEARTBEAT] = {F_COMMIT, F_DURABLE, F_CTX},
    [RAFT_MSG_HEARTBEAT_RESP] = {F_CTX},
    [RAFT_MSG_SNAPSHOT] = {F_SNAP, F_OFFSET, F_LAST, F_CHUNK},
    [RAFT_MSG_SNAPSHOT_RESP] = {F_INDEX, F_OFFSET, F_REJECT},
    [RAFT_MSG_TIMEOUT_NOW] = {F_END},
    [RAFT_MSG_READ_INDEX] = {F_CTX},
    [RAFT_MSG_READ_INDEX_RESP] = {F_CTX, F_READ_INDEX, F_REJECT},
};

/* The type's field list, or NULL for an unknown type. */
static const uint8_t *layout_of(uint64_t type)
{
    if (type < RAFT_MSG_APPEND || type > PEER_TYPE_MAX)
        return NULL;
    return layouts[type];
}

static uint32_t layout_len(const uint8_t *fields)
{
    uint32_t n = 0;
    while (n < PEER_FIELDS_MAX && fields[n] != F_END)
        n++;
    return n;
}

void peer_limits_default(struct peer_limits *lim)
{
    lim->entries_max = PEER_ENTRIES_MAX;
    lim->entry_bytes_max = COORD_FRAME_BYTES_MAX + COORDD_FRAME_SLACK_BYTES;
    lim->chunk_bytes_max = COORDD_SNAPSHOT_CHUNK_BYTES;
    lim->frame_bytes_max = COORDD_APPEND_BYTES_MAX + lim->entry_bytes_max +
                           PEER_ENTRIES_MAX * PEER_ENTRY_OVERHEAD_MAX +
                           COORDD_FRAME_SLACK_BYTES;
    COORD_STATIC_ASSERT(COORDD_SNAPSHOT_CHUNK_BYTES + COORDD_FRAME_SLACK_BYTES
                            <= COORDD_APPEND_BYTES_MAX + COORD_FRAME_BYTES_MAX,
                        "a snapshot chunk's frame fits the frame limit");
}

int peer_frame_check(const uint8_t *buf, size_t len,
                     const struct peer_limits *lim, size_t *frame_bytes)
{
    return wire_frame_check(buf, len, lim->frame_bytes_max, frame_bytes);
}

/* ---- Handshake --------------------------------------------------------- */

/* Far above any handshake (4 integers), far below any frame limit. */
#define PEER_HELLO_BYTES_MAX 64

int peer_encode_hello(struct wire_buf *b, const struct peer_hello *h)
{
    if (h->version < 1 || h->version > 0xff || h->from == RAFT_NONE ||
        h->to == RAFT_NONE)
        return COORD_EINVAL;
    size_t start = mp_frame_begin(b, PEER_HELLO_BYTES_MAX);
    mp_write_array(b, 4);
    mp_write_uint(b, PEER_MAGIC | h->version);
    mp_write_uint(b, h->cluster_id);
    mp_write_uint(b, h->from);
    mp_write_uint(b, h->to);
    return mp_frame_end(b, start);
}

int peer_decode_hello(const uint8_t *body, size_t len,
                      struct peer_hello *out)
{
    memset(out, 0, sizeof(*out));
    struct mp_reader r;
    mp_reader_init(&r, body, len);
    uint32_t n = mp_read_array(&r);
    uint64_t mv = mp_read_uint(&r, UINT32_MAX);
    if (r.err)
        return r.err;
    if ((mv & ~(uint64_t)0xff) != PEER_MAGIC)
        return COORD_EPROTO;
    out->version = (uint32_t)(mv & 0xff);
    if (out->version != PEER_VERSION)
        return COORD_EPROTOVERSION;
    if (n != 4)
        return COORD_EPROTO;
    out->cluster_id = mp_read_uint(&r, UINT64_MAX);
    out->from = mp_read_uint(&r, UINT64_MAX);
    out->to = mp_read_uint(&r, UINT64_MAX);
    if (!mp_read_done(&r))
        return r.err ? r.err : COORD_EPROTO;
    if (out->from == RAFT_NONE || out->to == RAFT_NONE)
        return COORD_EPROTO;
    return 0;
}

/* ---- Configurations ---------------------------------------------------- */

/* 0, COORD_ETOOMANY (too many members) or bad (ids not ascending and
 * non-zero, unknown role). */
static int conf_check(const struct raft_conf *c, int bad)
{
    if (c->n > RAFT_MEMBERS_MAX)
        return COORD_ETOOMANY;
    uint64_t prev = RAFT_NONE;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct raft_member *m = &c->members[i];
        if (m->id <= prev || (m->role != RAFT_VOTER &&
                              m->role != RAFT_LEARNER))
            return bad;
        prev = m->id;
    }
    return 0;
}

/* ---- Encoding ---------------------------------------------------------- */

static void enc_entries(struct wire_buf *b, const struct raft_msg *m,
                        const struct peer_limits *lim)
{
    uint32_t n = m->n_entries;
    if (n > lim->entries_max) {
        mp_write_fail(b, COORD_ETOOMANY);
        return;
    }
    if ((n > 0 && m->entries == NULL) || m->index > UINT64_MAX - n) {
        mp_write_fail(b, COORD_EINVAL);
        return;
    }
    mp_write_array(b, n);
    for (uint32_t i = 0; i < n && !b->err; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index != m->index + 1 + i || e->type < RAFT_ENTRY_NORMAL ||
            e->type > RAFT_ENTRY_CONF)
            mp_write_fail(b, COORD_EINVAL);
        if (e->len > lim->entry_bytes_max)
            mp_write_fail(b, COORD_ETOOBIG);
        mp_write_array(b, 3);
        mp_write_uint(b, e->term);
        mp_write_uint(b, e->type);
        mp_write_bin(b, e->data, e->len);
    }
}

static void enc_snap(struct wire_buf *b, const struct raft_snapshot_meta *s)
{
    int rc = conf_check(&s->conf, COORD_EINVAL);
    if (rc != 0) {
        mp_write_fail(b, rc);
        return;
    }
    mp_write_array(b, 4);
    mp_write_uint(b, s->index);
    mp_write_uint(b, s->term);
    mp_write_uint(b, s->size);
    mp_write_array(b, s->conf.n);
    for (uint32_t i = 0; i < s->conf.n; i++) {
        mp_write_array(b, 2);
        mp_write_uint(b, s->conf.members[i].id);
        mp_write_uint(b, s->conf.members[i].role);
    }
}

static void enc_field(struct wire_buf *b, uint8_t f, const struct raft_msg *m,
                      const struct peer_limits *lim)
{
    switch (f) {
    case F_INDEX: mp_write_uint(b, m->index); break;
    case F_LOG_TERM: mp_write_uint(b, m->log_term); break;
    case F_COMMIT: mp_write_uint(b, m->commit); break;
    case F_DURABLE: mp_write_uint(b, m->durable); break;
    case F_ENTRIES: enc_entries(b, m, lim); break;
    case F_REJECT: mp_write_bool(b, m->reject); break;
    case F_HINT_INDEX: mp_write_uint(b, m->hint_index); break;
    case F_HINT_TERM: mp_write_uint(b, m->hint_term); break;
    case F_TRANSFER: mp_write_bool(b, m->transfer); break;
    case F_CTX: mp_write_uint(b, m->ctx); break;
    case F_READ_INDEX: mp_write_uint(b, m->read_index); break;
    case F_SNAP: enc_snap(b, &m->snap); break;
    case F_OFFSET: mp_write_uint(b, m->offset); break;
    case F_LAST: mp_write_bool(b, m->last); break;
    case F_CHUNK:
        if (m->chunk_len > lim->chunk_bytes_max)
            mp_write_fail(b, COORD_ETOOBIG);
        mp_write_bin(b, m->chunk, m->chunk_len);
        break;
    default: coord_panic("peer_codec: bad field table");
    }
}

int peer_encode_msg(struct wire_buf *b, const struct raft_msg *m,
                    const struct peer_limits *lim)
{
    const uint8_t *fields = layout_of(m->type);
    if (fields == NULL || m->from == RAFT_NONE || m->to == RAFT_NONE)
        return COORD_EINVAL;
    uint32_t n = layout_len(fields);
    size_t start = mp_frame_begin(b, lim->frame_bytes_max);
    mp_write_array(b, PEER_HEAD_FIELDS + n);
    mp_write_uint(b, m->type);
    mp_write_uint(b, m->from);
    mp_write_uint(b, m->to);
    mp_write_uint(b, m->term);
    for (uint32_t i = 0; i < n; i++)
        enc_field(b, fields[i], m, lim);
    return mp_frame_end(b, start);
}

/* ---- Decoding ---------------------------------------------------------- */

struct dec {
    struct mp_reader r;
    const struct peer_limits *lim;
    struct raft_entry *entries;
    uint32_t cap;
};

static void dec_entries(struct dec *d, struct raft_msg *out)
{
    struct mp_reader *r = &d->r;
    uint32_t n = mp_read_array(r);
    if (!r->err && (n > d->lim->entries_max || n > d->cap))
        mp_read_fail(r, COORD_ETOOMANY);
    if (!r->err && out->index > UINT64_MAX - n)
        mp_read_fail(r, COORD_EPROTO);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        struct raft_entry *e = &d->entries[i];
        mp_read_arity(r, 3);
        e->index = out->index + 1 + i;
        e->term = mp_read_uint(r, UINT64_MAX);
        e->type = (uint8_t)mp_read_uint(r, RAFT_ENTRY_CONF);
        if (!r->err && e->type < RAFT_ENTRY_NORMAL)
            mp_read_fail(r, COORD_EPROTO);
        e->data = mp_read_bin(r, d->lim->entry_bytes_max, &e->len);
        if (e->len == 0)
            e->data = NULL;
    }
    if (!r->err && n > 0) {
        out->entries = d->entries;
        out->n_entries = n;
    }
}

static void dec_snap(struct mp_reader *r, struct raft_snapshot_meta *s)
{
    mp_read_arity(r, 4);
    s->index = mp_read_uint(r, UINT64_MAX);
    s->term = mp_read_uint(r, UINT64_MAX);
    s->size = mp_read_uint(r, UINT64_MAX);
    uint32_t n = mp_read_array(r);
    if (!r->err && n > RAFT_MEMBERS_MAX)
        mp_read_fail(r, COORD_ETOOMANY);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        mp_read_arity(r, 2);
        s->conf.members[i].id = mp_read_uint(r, UINT64_MAX);
        s->conf.members[i].role = (uint8_t)mp_read_uint(r, UINT8_MAX);
    }
    if (r->err)
        return;
    s->conf.n = n;
    int rc = conf_check(&s->conf, COORD_EPROTO);
    if (rc != 0)
        mp_read_fail(r, rc);
}

static void dec_field(struct dec *d, uint8_t f, struct raft_msg *out)
{
    struct mp_reader *r = &d->r;
    switch (f) {
    case F_INDEX: out->index = mp_read_uint(r, UINT64_MAX); break;
    case F_LOG_TERM: out->log_term = mp_read_uint(r, UINT64_MAX); break;
    case F_COMMIT: out->commit = mp_read_uint(r, UINT64_MAX); break;
    case F_DURABLE: out->durable = mp_read_uint(r, UINT64_MAX); break;
    case F_ENTRIES: dec_entries(d, out); break;
    case F_REJECT: out->reject = mp_read_bool(r); break;
    case F_HINT_INDEX: out->hint_index = mp_read_uint(r, UINT64_MAX); break;
    case F_HINT_TERM: out->hint_term = mp_read_uint(r, UINT64_MAX); break;
    case F_TRANSFER: out->transfer = mp_read_bool(r); break;
    case F_CTX: out->ctx = mp_read_uint(r, UINT64_MAX); break;
    case F_READ_INDEX: out->read_index = mp_read_uint(r, UINT64_MAX); break;
    case F_SNAP: dec_snap(r, &out->snap); break;
    case F_OFFSET: out->offset = mp_read_uint(r, UINT64_MAX); break;
    case F_LAST: out->last = mp_read_bool(r); break;
    case F_CHUNK:
        out->chunk = mp_read_bin(r, d->lim->chunk_bytes_max, &out->chunk_len);
        if (out->chunk_len == 0)
            out->chunk = NULL;
        break;
    default: coord_panic("peer_codec: bad field table");
    }
}

int peer_decode_msg(const uint8_t *body, size_t len,
                    const struct peer_limits *lim, struct raft_entry *entries,
                    uint32_t cap, struct raft_msg *out)
{
    memset(out, 0, sizeof(*out));
    if (len > lim->frame_bytes_max)
        return COORD_ETOOBIG;
    struct dec d = {.lim = lim, .entries = entries, .cap = cap};
    mp_reader_init(&d.r, body, len);
    uint32_t n = mp_read_array(&d.r);
    uint64_t type = mp_read_uint(&d.r, UINT8_MAX);
    const uint8_t *fields = layout_of(type);
    if (d.r.err)
        return d.r.err;
    if (fields == NULL || n != PEER_HEAD_FIELDS + layout_len(fields))
        return COORD_EPROTO;
    out->type = (uint8_t)type;
    out->from = mp_read_uint(&d.r, UINT64_MAX);
    out->to = mp_read_uint(&d.r, UINT64_MAX);
    out->term = mp_read_uint(&d.r, UINT64_MAX);
    if (!d.r.err && (out->from == RAFT_NONE || out->to == RAFT_NONE))
        mp_read_fail(&d.r, COORD_EPROTO);
    for (const uint8_t *f = fields; *f != F_END && !d.r.err; f++)
        dec_field(&d, *f, out);
    if (!d.r.err && d.r.p != d.r.end)
        mp_read_fail(&d.r, COORD_EPROTO);
    return d.r.err;
}
