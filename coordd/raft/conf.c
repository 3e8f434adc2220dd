/* conf.c -- membership: the configuration entry format, one-server-at-a-
 * time changes (dissertation §4.1, §4.2), and the rule that a configuration
 * takes effect when its entry is appended, not when it commits, and rolls
 * back when that entry is truncated.
 *
 * Entry format (little endian): u8 version (1), u8 change type, u64 change
 * id, u32 member count, count x (u64 id, u8 role), u32 ctx length, ctx.
 * Only this file reads or writes it; callers use raft_conf_decode().
 */
#include "raft_int.h"

#include <string.h>

#include "coord.h"
#include "libcoord/shared/check.h"

#define CONF_VERSION 1
#define CONF_HEAD_BYTES (1 + 1 + 8 + 4)
#define CONF_MEMBER_BYTES (8 + 1)

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint32_t raft_conf_encoded_len(const struct raft_conf *c, uint32_t ctx_len)
{
    coord_assert(c->n <= RAFT_MEMBERS_MAX);
    coord_assert(ctx_len <= RAFT_CONF_CTX_BYTES_MAX);
    return CONF_HEAD_BYTES + c->n * CONF_MEMBER_BYTES + 4 + ctx_len;
}

void raft_conf_encode(const struct raft_conf *c, uint8_t type, uint64_t id,
                      const uint8_t *ctx, uint32_t ctx_len, uint8_t *buf)
{
    coord_assert(raft_conf_valid(c));
    uint8_t *p = buf;
    *p++ = CONF_VERSION;
    *p++ = type;
    put_u64(p, id);
    p += 8;
    put_u32(p, c->n);
    p += 4;
    for (uint32_t i = 0; i < c->n; i++) {
        put_u64(p, c->members[i].id);
        p[8] = c->members[i].role;
        p += CONF_MEMBER_BYTES;
    }
    put_u32(p, ctx_len);
    p += 4;
    if (ctx_len > 0)
        memcpy(p, ctx, ctx_len);
    p += ctx_len;
    coord_assert((uint32_t)(p - buf) == raft_conf_encoded_len(c, ctx_len));
}

/* Sorted by id, unique, non-zero ids, known roles, at least one voter. */
bool raft_conf_valid(const struct raft_conf *c)
{
    if (c->n == 0 || c->n > RAFT_MEMBERS_MAX)
        return false;
    bool voter = false;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct raft_member *m = &c->members[i];
        if (m->id == RAFT_NONE)
            return false;
        if (m->role != RAFT_VOTER && m->role != RAFT_LEARNER)
            return false;
        if (i > 0 && c->members[i - 1].id >= m->id)
            return false;
        voter = voter || m->role == RAFT_VOTER;
    }
    return voter;
}

int raft_conf_decode(const struct raft_entry *e, struct raft_conf *conf,
                     uint8_t *change_type, uint64_t *change_id,
                     const uint8_t **ctx, uint32_t *ctx_len)
{
    if (e == NULL || e->type != RAFT_ENTRY_CONF || e->len < CONF_HEAD_BYTES)
        return COORD_ECORRUPT;
    const uint8_t *p = e->data;
    if (p[0] != CONF_VERSION)
        return COORD_ECORRUPT;
    uint32_t n = get_u32(p + 10);
    if (n == 0 || n > RAFT_MEMBERS_MAX)
        return COORD_ECORRUPT;
    uint64_t need = CONF_HEAD_BYTES + (uint64_t)n * CONF_MEMBER_BYTES + 4;
    if (e->len < need)
        return COORD_ECORRUPT;
    uint32_t clen = get_u32(p + need - 4);
    if (clen > RAFT_CONF_CTX_BYTES_MAX || e->len != need + clen)
        return COORD_ECORRUPT;
    struct raft_conf c;
    memset(&c, 0, sizeof(c));
    c.n = n;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *m = p + CONF_HEAD_BYTES + i * CONF_MEMBER_BYTES;
        c.members[i].id = get_u64(m);
        c.members[i].role = m[8];
    }
    if (!raft_conf_valid(&c))
        return COORD_ECORRUPT;
    coord_assert(c.n == n && need + clen == e->len);
    if (conf != NULL)
        *conf = c;
    if (change_type != NULL)
        *change_type = p[1];
    if (change_id != NULL)
        *change_id = get_u64(p + 2);
    if (ctx != NULL)
        *ctx = clen > 0 ? p + need : NULL;
    if (ctx_len != NULL)
        *ctx_len = clen;
    return 0;
}

const struct raft_member *raft_conf_member(const struct raft_conf *c,
                                           uint64_t id)
{
    coord_assert(c->n <= RAFT_MEMBERS_MAX);
    for (uint32_t i = 0; i < c->n; i++)
        if (c->members[i].id == id)
            return &c->members[i];
    return NULL;
}

void raft_conf_set(struct raft *r, const struct raft_conf *c,
                   uint64_t index)
{
    coord_assert(raft_conf_valid(c));
    bool same = memcmp(&r->conf, c, sizeof(*c)) == 0;
    r->conf = *c;
    r->conf_index = index;
    if (!same) {
        raft_prog_rebuild(r);
        raft_trace(r, "conf @%llu: %u members, quorum %u",
                   (unsigned long long)index, c->n, raft_quorum(r));
    }
    coord_assert(r->n_prog == r->conf.n);
}

/* The latest CONF entry in the log wins, else the snapshot's. Entries in
 * the log were validated when they arrived, so a decode error is a bug. */
void raft_conf_refresh(struct raft *r)
{
    struct raft_conf c;
    uint64_t idx = 0;
    raft_conf_at(r, raft_log_last(r), &c, &idx);
    coord_assert(raft_conf_valid(&c));
    if (idx != r->conf_index || memcmp(&c, &r->conf, sizeof(c)) != 0)
        raft_conf_set(r, &c, idx);
    coord_assert(r->conf_index <= raft_log_last(r));
}

static int conf_apply_change(struct raft_conf *c, uint8_t type, uint64_t id)
{
    struct raft_member *m = NULL;
    uint32_t pos = 0;
    while (pos < c->n && c->members[pos].id < id)
        pos++;
    if (pos < c->n && c->members[pos].id == id)
        m = &c->members[pos];
    switch (type) {
    case RAFT_CONF_ADD_LEARNER:
        if (m != NULL || c->n == RAFT_MEMBERS_MAX)
            return m != NULL ? COORD_EINVAL : COORD_ETOOMANY;
        memmove(&c->members[pos + 1], &c->members[pos],
                (c->n - pos) * sizeof(c->members[0]));
        c->members[pos].id = id;
        c->members[pos].role = RAFT_LEARNER;
        c->n++;
        return 0;
    case RAFT_CONF_PROMOTE:
    case RAFT_CONF_DEMOTE:
        if (m == NULL)
            return COORD_EINVAL;
        if (m->role == (type == RAFT_CONF_PROMOTE ? RAFT_VOTER : RAFT_LEARNER))
            return COORD_EINVAL;
        m->role = type == RAFT_CONF_PROMOTE ? RAFT_VOTER : RAFT_LEARNER;
        return 0;
    case RAFT_CONF_REMOVE:
        if (m == NULL)
            return COORD_EINVAL;
        memmove(&c->members[pos], &c->members[pos + 1],
                (c->n - pos - 1) * sizeof(c->members[0]));
        c->n--;
        memset(&c->members[c->n], 0, sizeof(c->members[0]));
        return 0;
    default:
        return COORD_EINVAL;
    }
}

/* One change at a time (§4.2), and only after the leader committed an
 * entry of its own term (the 2015 raft-dev fix; bug 17). */
int raft_conf_change(struct raft *r, const struct raft_event *ev)
{
    if (r->role != RAFT_LEADER)
        return COORD_ENOTLEADER;
    if (ev->conf.id == RAFT_NONE ||
        ev->conf.ctx_len > RAFT_CONF_CTX_BYTES_MAX ||
        (ev->conf.ctx_len > 0 && ev->conf.ctx == NULL))
        return COORD_EINVAL;
    if (r->transfer_to != RAFT_NONE || r->conf_index > r->commit ||
        raft_log_term(r, r->commit) != r->term)
        return COORD_EBUSY;
    struct raft_conf c = r->conf;
    int rc = conf_apply_change(&c, ev->conf.type, ev->conf.id);
    if (rc == 0 && !raft_conf_valid(&c))
        rc = COORD_EINVAL; /* would leave no voter */
    if (rc != 0)
        return rc;
    uint8_t buf[CONF_HEAD_BYTES + RAFT_MEMBERS_MAX * CONF_MEMBER_BYTES + 4 +
                RAFT_CONF_CTX_BYTES_MAX];
    uint32_t len = raft_conf_encoded_len(&c, ev->conf.ctx_len);
    coord_assert(len <= sizeof(buf));
    if (!raft_log_fits(r, 1, len))
        return COORD_EAGAIN;
    raft_conf_encode(&c, ev->conf.type, ev->conf.id, ev->conf.ctx,
                     ev->conf.ctx_len, buf);
    raft_log_append(r, r->term, RAFT_ENTRY_CONF, buf, len);
    uint64_t idx = raft_log_last(r);
    r->out->propose_index = idx;
    raft_trace(r, "conf change %u id %llu proposed @%llu", ev->conf.type,
               (unsigned long long)ev->conf.id, (unsigned long long)idx);
    raft_conf_set(r, &c, idx);
    raft_broadcast_append(r);
    raft_maybe_commit(r);
    coord_assert(r->conf_index == idx);
    return 0;
}
