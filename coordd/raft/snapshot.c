/* snapshot.c -- log compaction and InstallSnapshot (dissertation ch. 5).
 *
 * Sending: a follower whose next entry was compacted away gets the latest
 * snapshot in chunks of snapshot_chunk_bytes, one chunk in flight, each
 * acknowledged by SNAPSHOT_RESP; the caller fills chunk bytes (raft.h).
 * Receiving: chunks are accepted in order (offset 0 restarts); the last one
 * installs: if the log holds an entry matching (index, term) the suffix is
 * kept, else the whole log is discarded (bug 23). A snapshot at or below
 * the commit index is stale and changes nothing (bug 22). The answer that
 * reconnects the follower leaves only once the caller reports the install
 * durable (RAFT_EV_SNAPSHOT_PERSISTED). No I/O, no allocation.
 */
#include "raft_int.h"

#include <string.h>

#include "coord.h"
#include "libcoord/shared/check.h"

/* Configuration in effect at index: the latest CONF entry <= index held in
 * the log, else the snapshot's. */
void raft_conf_at(struct raft *r, uint64_t index, struct raft_conf *out,
                  uint64_t *conf_index)
{
    uint64_t i = index < raft_log_last(r) ? index : raft_log_last(r);
    for (; i > r->log_start; i--) {
        const struct raft_entry *e = raft_log_at(r, i);
        if (e->type != RAFT_ENTRY_CONF)
            continue;
        int rc = raft_conf_decode(e, out, NULL, NULL, NULL, NULL);
        coord_assert(rc == 0); /* validated on append */
        *conf_index = i;
        return;
    }
    *out = r->snap_conf;
    *conf_index = r->log_start < r->snap_index ? r->log_start : r->snap_index;
    coord_assert(raft_conf_valid(out));
}

void raft_send_snapshot(struct raft *r, struct raft_prog *p)
{
    coord_assert(r->role == RAFT_LEADER);
    coord_assert(r->snap_index >= r->log_start);
    if (p->state != RAFT_PROG_SNAPSHOT || p->snap_index != r->snap_index ||
        p->snap_term != r->snap_term) {
        raft_trace(r, "send snapshot @%llu (%llu bytes) to %llu",
                   (unsigned long long)r->snap_index,
                   (unsigned long long)r->snap_size,
                   (unsigned long long)p->id);
        p->state = RAFT_PROG_SNAPSHOT;
        p->snap_index = r->snap_index;
        p->snap_term = r->snap_term;
        p->snap_offset = 0;
        p->paused = false;
        p->in_count = 0;
    }
    if (p->snap_offset > r->snap_size)
        p->snap_offset = 0;
    uint64_t left = r->snap_size - p->snap_offset;
    uint32_t len = left < r->cfg.snapshot_chunk_bytes
                       ? (uint32_t)left
                       : r->cfg.snapshot_chunk_bytes;
    struct raft_msg *m = raft_msg_new(r, RAFT_MSG_SNAPSHOT, p->id);
    if (m == NULL)
        return;
    m->snap.index = r->snap_index;
    m->snap.term = r->snap_term;
    m->snap.size = r->snap_size;
    m->snap.conf = r->snap_conf;
    m->offset = p->snap_offset;
    m->chunk_len = len;
    m->last = p->snap_offset + len == r->snap_size;
    m->chunk = NULL;
}

void raft_recv_snapshot_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_prog *p = raft_prog_find(r, m->from);
    if (p == NULL || p->id == r->id || r->role != RAFT_LEADER)
        return;
    p->recent_active = true;
    coord_assert(r->snap_index >= r->log_start);
    if (p->state != RAFT_PROG_SNAPSHOT || m->index != p->snap_index)
        return; /* stale */
    /* The follower's offset is authoritative: forward on an ack, back if
     * it lost its partial snapshot (a restart); equal is a duplicate. */
    if (m->reject)
        p->snap_offset = 0;
    else if (m->offset != p->snap_offset && m->offset <= r->snap_size)
        p->snap_offset = m->offset;
    else
        return;
    if (p->snap_offset < r->snap_size || m->reject)
        raft_send_snapshot(r, p);
    coord_assert(p->snap_offset <= r->snap_size);
}

static bool snapshot_msg_valid(const struct raft_msg *m)
{
    const struct raft_snapshot_meta *s = &m->snap;
    if (s->index == 0 || s->term == 0 || s->term > m->term)
        return false;
    if (!raft_conf_valid(&s->conf))
        return false;
    if (m->offset > s->size || m->chunk_len > s->size - m->offset)
        return false;
    if (m->chunk_len > 0 && m->chunk == NULL)
        return false;
    return m->last == (m->offset + m->chunk_len == s->size);
}

static void snapshot_install(struct raft *r, const struct raft_msg *m)
{
    const struct raft_snapshot_meta *s = &m->snap;
    coord_assert(s->index > r->commit);
    bool keep = s->index <= raft_log_last(r) &&
                raft_log_term(r, s->index) == s->term;
    if (keep) {
        raft_log_compact(r, s->index);
        r->install_trunc = 0;
    } else {
        raft_log_reset(r, s->index, s->term);
        r->install_trunc = s->index + 1;
        if (r->stable > s->index)
            r->stable = s->index;
    }
    r->snap_index = s->index;
    r->snap_term = s->term;
    r->snap_size = s->size;
    r->snap_conf = s->conf;
    r->commit = s->index;
    r->handed = s->index;
    r->installing = true;
    r->install_due = true;
    r->install_leader = m->from;
    r->rcv_active = false;
    raft_conf_refresh(r);
    raft_trace(r, "install snapshot @%llu term %llu, %s log", 
               (unsigned long long)s->index, (unsigned long long)s->term,
               keep ? "keep" : "discard");
    coord_assert(raft_log_term(r, s->index) == s->term);
}

static void snapshot_resp(struct raft *r, const struct raft_msg *m,
                          bool reject)
{
    coord_assert(r->role == RAFT_FOLLOWER);
    coord_assert(r->rcv_offset <= r->rcv_meta.size || !r->rcv_active);
    struct raft_msg *resp = raft_msg_new(r, RAFT_MSG_SNAPSHOT_RESP, m->from);
    if (resp == NULL)
        return;
    resp->index = m->snap.index;
    resp->offset = reject ? 0 : r->rcv_offset;
    resp->reject = reject;
}

void raft_recv_snapshot(struct raft *r, const struct raft_msg *m)
{
    coord_assert(m->term == r->term);
    if (r->role == RAFT_LEADER)
        return;
    if (r->role != RAFT_FOLLOWER || r->leader != m->from)
        raft_become_follower(r, r->term, m->from);
    r->elapsed = 0;
    if (r->installing || !snapshot_msg_valid(m))
        return;
    if (m->snap.index <= r->commit) {
        struct raft_msg *resp =
            raft_msg_held(r, RAFT_MSG_APPEND_RESP, m->from);
        if (resp != NULL)
            resp->index = r->commit;
        return;
    }
    const struct raft_snapshot_meta *s = &m->snap;
    bool same = r->rcv_active && r->rcv_meta.index == s->index &&
                r->rcv_meta.term == s->term && r->rcv_meta.size == s->size;
    if (m->offset == 0) {
        r->rcv_active = true;
        r->rcv_meta = *s;
        r->rcv_offset = 0;
    } else if (!same) {
        snapshot_resp(r, m, true);
        return;
    }
    if (m->offset != r->rcv_offset) {
        snapshot_resp(r, m, false);
        return;
    }
    r->out->chunk = true;
    r->out->chunk_offset = m->offset;
    r->out->chunk_data = m->chunk;
    r->out->chunk_len = m->chunk_len;
    r->rcv_offset += m->chunk_len;
    if (!m->last) {
        snapshot_resp(r, m, false);
        return;
    }
    snapshot_install(r, m);
}

int raft_snapshot_persisted(struct raft *r, uint64_t index, uint64_t term)
{
    if (!r->installing || r->install_due || index != r->snap_index ||
        term != r->snap_term)
        return COORD_EINVAL;
    r->installing = false;
    if (r->stable < index)
        r->stable = index;
    if (r->applied < index)
        r->applied = index;
    raft_trace(r, "snapshot @%llu durable", (unsigned long long)index);
    if (r->role == RAFT_FOLLOWER && r->leader == r->install_leader) {
        struct raft_msg *m =
            raft_msg_new(r, RAFT_MSG_APPEND_RESP, r->install_leader);
        if (m != NULL)
            m->index = index;
    }
    coord_assert(!r->installing);
    return 0;
}

int raft_snapshot_taken(struct raft *r, uint64_t index, uint64_t size)
{
    if (index > r->applied || index > raft_log_last(r) ||
        index <= r->snap_index || index <= r->log_start)
        return COORD_EINVAL;
    uint64_t ci = 0;
    raft_conf_at(r, index, &r->snap_conf, &ci);
    r->snap_index = index;
    r->snap_term = raft_log_term(r, index);
    r->snap_size = size;
    /* A leader keeps a trailing margin for slow followers, unless every
     * follower already has it. Others compact fully: a follower's log must
     * have room for all the leader's uncommitted entries, or neither can
     * make progress (found by the simulator). */
    uint64_t margin = r->cfg.log_entries_max / 8;
    uint64_t upto = index;
    if (r->role == RAFT_LEADER) {
        upto = index > margin ? index - margin : 0;
        uint64_t lo = index;
        for (uint32_t i = 0; i < r->n_prog; i++)
            if (r->prog[i].id != r->id && r->prog[i].match < lo)
                lo = r->prog[i].match;
        if (lo > upto)
            upto = lo;
    }
    if (upto > r->log_start)
        raft_log_compact(r, upto);
    raft_trace(r, "snapshot taken @%llu, log from %llu",
               (unsigned long long)index,
               (unsigned long long)raft_log_first(r));
    for (uint32_t i = 0; r->role == RAFT_LEADER && i < r->n_prog; i++)
        if (r->prog[i].state == RAFT_PROG_SNAPSHOT)
            raft_send_snapshot(r, &r->prog[i]);
    coord_assert(r->snap_term != 0);
    return 0;
}
