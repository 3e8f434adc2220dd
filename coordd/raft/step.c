/* step.c -- the entry points: raft_init/close, raft_step() dispatch, and
 * assembling the update: the persist batch (hard state, truncation, new
 * entries, each batch tagged with a seq), messages (held back until the
 * batch they depend on is durable, etcd's msgsAfterAppend model), committed
 * entries, reads and notifications.
 *
 * This is the only file that allocates (in raft_init). It never does I/O:
 * everything the caller must do is described in struct raft_update.
 */
#include "raft_int.h"

#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

static bool config_valid(const struct raft_config *c)
{
    return c->id != RAFT_NONE && c->election_ticks >= 2 &&
           c->heartbeat_ticks >= 1 &&
           c->heartbeat_ticks < c->election_ticks && c->inflight_max >= 1 &&
           c->append_entries_max >= 1 && c->append_bytes_max >= 1 &&
           c->uncommitted_bytes_max >= 1 && c->log_entries_max >= 8 &&
           c->log_bytes_max >= 1 && c->snapshot_chunk_bytes >= 1 &&
           c->reads_max >= 1;
}

static int restore_load(struct raft *r, const struct raft_restore *rs)
{
    const struct raft_snapshot_meta *s = &rs->snap;
    if (!raft_conf_valid(&s->conf) || (s->index > 0) != (s->term > 0) ||
        s->term > rs->term ||
        rs->n_entries > raft_log_cap(r))
        return COORD_EINVAL;
    if (rs->n_entries > 0 && rs->entries == NULL)
        return COORD_EINVAL;
    r->term = rs->term;
    r->vote = rs->vote;
    r->snap_index = s->index;
    r->snap_term = s->term;
    r->snap_size = s->size;
    r->snap_conf = s->conf;
    r->log_start = s->index;
    r->log_start_term = s->term;
    r->commit = r->handed = r->applied = s->index;
    uint64_t t = s->term;
    for (uint32_t i = 0; i < rs->n_entries; i++) {
        const struct raft_entry *e = &rs->entries[i];
        if (e->index != s->index + 1 + i || e->term < t || e->term > r->term ||
            e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF ||
            (e->len > 0 && e->data == NULL) ||
            !raft_log_fits_reserve(r, e->len))
            return COORD_EINVAL;
        if (e->type == RAFT_ENTRY_CONF &&
            raft_conf_decode(e, NULL, NULL, NULL, NULL, NULL) != 0)
            return COORD_EINVAL;
        raft_log_append(r, e->term, e->type, e->data, e->len);
        t = e->term;
    }
    r->persist_from = 0;
    r->stable = raft_log_last(r);
    coord_assert(raft_log_last(r) == s->index + rs->n_entries);
    struct raft_conf c;
    uint64_t ci = 0;
    raft_conf_at(r, raft_log_last(r), &c, &ci);
    raft_conf_set(r, &c, ci);
    return 0;
}

static int raft_alloc_tables(struct raft *r)
{
    const struct raft_config *c = &r->cfg;
    r->held_cap = RAFT_MEMBERS_MAX * (c->inflight_max + 4) + c->reads_max;
    r->msgs_cap = 2 * r->held_cap + RAFT_MEMBERS_MAX * 4;
    r->reads_out_cap = c->reads_max + 2;
    r->held = coord_calloc(r->held_cap, sizeof(*r->held));
    r->msgs = coord_calloc(r->msgs_cap, sizeof(*r->msgs));
    r->rds = coord_calloc(c->reads_max, sizeof(*r->rds));
    r->reads_out = coord_calloc(r->reads_out_cap, sizeof(*r->reads_out));
    r->inflight = coord_calloc((size_t)RAFT_MEMBERS_MAX * c->inflight_max,
                               sizeof(*r->inflight));
    if (r->held == NULL || r->msgs == NULL || r->rds == NULL ||
        r->reads_out == NULL || r->inflight == NULL)
        return COORD_ENOMEM;
    return raft_log_init(r);
}

int raft_init(struct raft **out, const struct raft_config *cfg,
              const struct raft_restore *rs)
{
    *out = NULL;
    if (cfg == NULL || rs == NULL || !config_valid(cfg))
        return COORD_EINVAL;
    struct raft *r = coord_calloc(1, sizeof(*r));
    if (r == NULL)
        return COORD_ENOMEM;
    r->cfg = *cfg;
    r->id = cfg->id;
    r->prng = cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ULL);
    r->role = RAFT_FOLLOWER;
    int rc = raft_alloc_tables(r);
    if (rc == 0)
        rc = restore_load(r, rs);
    if (rc != 0) {
        raft_close(r);
        return rc;
    }
    r->role = RAFT_FOLLOWER;
    raft_reset_timeout(r);
    *out = r;
    coord_assert(r->stable == raft_log_last(r));
    coord_assert(r->commit <= r->stable);
    return 0;
}

void raft_close(struct raft *r)
{
    if (r == NULL)
        return;
    raft_log_free(r);
    coord_free(r->held);
    coord_free(r->msgs);
    coord_free(r->rds);
    coord_free(r->reads_out);
    coord_free(r->inflight);
    coord_free(r);
}

struct raft_msg *raft_msg_new(struct raft *r, uint8_t type, uint64_t to)
{
    coord_assert(to != r->id && to != RAFT_NONE);
    if (r->n_msgs == r->msgs_cap) {
        raft_trace(r, "outbox full: %s to %llu dropped",
                   raft_msg_name(type), (unsigned long long)to);
        return NULL; /* a lost message; Raft tolerates it */
    }
    struct raft_msg *m = &r->msgs[r->n_msgs++];
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->from = r->id;
    m->to = to;
    m->term = r->term;
    return m;
}

struct raft_msg *raft_msg_held(struct raft *r, uint8_t type, uint64_t to)
{
    coord_assert(to != r->id && to != RAFT_NONE);
    if (r->held_count == r->held_cap) {
        raft_trace(r, "held queue full: %s to %llu dropped",
                   raft_msg_name(type), (unsigned long long)to);
        return NULL;
    }
    uint32_t slot = (r->held_head + r->held_count++) % r->held_cap;
    struct raft_held *h = &r->held[slot];
    h->seq = 0; /* this step's batch; fixed in step_finish */
    memset(&h->msg, 0, sizeof(h->msg));
    h->msg.type = type;
    h->msg.from = r->id;
    h->msg.to = to;
    h->msg.term = r->term;
    return &h->msg;
}

void raft_hs_set(struct raft *r, uint64_t term, uint64_t vote)
{
    coord_assert(term >= r->term);
    /* The vote is cleared only when the term rises (bug 6). */
    coord_assert(term > r->term || r->vote == RAFT_NONE || r->vote == vote);
    if (term != r->term || vote != r->vote)
        r->hs_dirty = true;
    if (term != r->term) /* pair commit: values of one leader's term */
        r->lead_durable = r->durable_sent = 0;
    r->term = term;
    r->vote = vote;
}

/* Hand out committed entries once, in order, and only what is durable here
 * too (so the caller never applies what its own log might lose). */
void raft_hand_committed(struct raft *r)
{
    uint64_t upto = r->commit < r->stable ? r->commit : r->stable;
    if (r->installing || upto <= r->handed)
        return;
    coord_assert(r->handed >= r->log_start);
    r->out->committed = raft_log_at(r, r->handed + 1);
    r->out->n_committed = (uint32_t)(upto - r->handed);
    r->handed = upto;
    coord_assert(r->out->committed[r->out->n_committed - 1].index == upto);
}

static void persist_record(struct raft *r, uint64_t seq)
{
    uint64_t last = raft_log_last(r);
    coord_assert(seq > r->seq_acked);
    coord_assert(r->prec_count <= RAFT_PERSIST_RECORDS);
    struct raft_prec rec = {seq, last, raft_log_term(r, last)};
    if (r->prec_count == RAFT_PERSIST_RECORDS) {
        uint32_t newest =
            (r->prec_head + r->prec_count - 1) % RAFT_PERSIST_RECORDS;
        r->precs[newest] = rec; /* coarser acks, never wrong */
        return;
    }
    uint32_t slot = (r->prec_head + r->prec_count++) % RAFT_PERSIST_RECORDS;
    r->precs[slot] = rec;
}

/* Describe this step's persist batch, if any. */
static void step_persist(struct raft *r, struct raft_update *u)
{
    if (!r->hs_dirty && r->trunc_from == 0 && r->persist_from == 0)
        return;
    u->persist_seq = ++r->seq_last;
    u->hs_changed = r->hs_dirty;
    u->term = r->term;
    u->vote = r->vote;
    u->truncate_from = r->trunc_from;
    if (r->persist_from != 0) {
        u->entries = raft_log_at(r, r->persist_from);
        u->n_entries = (uint32_t)(raft_log_last(r) - r->persist_from + 1);
    }
    persist_record(r, u->persist_seq);
    r->hs_dirty = false;
    r->trunc_from = 0;
    r->persist_from = 0;
    coord_assert(u->n_entries == 0 ||
                 u->entries[u->n_entries - 1].index == raft_log_last(r));
}

/* Move held messages whose batch is durable into the outbox. */
static void release_held(struct raft *r)
{
    coord_assert(r->held_count <= r->held_cap);
    coord_assert(r->seq_acked <= r->seq_last);
    while (r->held_count > 0) {
        struct raft_held *h = &r->held[r->held_head];
        if (h->seq > r->seq_acked)
            break;
        if (r->n_msgs < r->msgs_cap)
            r->msgs[r->n_msgs++] = h->msg;
        r->held_head = (r->held_head + 1) % r->held_cap;
        r->held_count--;
    }
}

static void step_finish(struct raft *r, struct raft_update *u)
{
    coord_assert(r->out == u);
    step_persist(r, u);
    /* Held messages of this step wait for its batch, or for the latest
     * batch in flight (they may describe state it writes). */
    for (uint32_t i = 0; i < r->held_count; i++) {
        struct raft_held *h = &r->held[(r->held_head + i) % r->held_cap];
        if (h->seq == 0)
            h->seq = r->seq_last;
    }
    release_held(r);
    if (r->install_due && u->persist_seq == 0) {
        u->snapshot_install = true;
        u->snap.index = r->snap_index;
        u->snap.term = r->snap_term;
        u->snap.size = r->snap_size;
        u->snap.conf = r->snap_conf;
        u->truncate_from = r->install_trunc;
        r->install_due = false;
    }
    coord_assert(!u->snapshot_install || u->persist_seq == 0);
    raft_hand_committed(r);
    u->msgs = r->msgs;
    u->n_msgs = r->n_msgs;
    u->reads = r->reads_out;
    u->n_reads = r->n_reads_out;
    if (r->n_ents > r->cfg.log_entries_max / 2 ||
        r->arena_tail > r->arena_cap / 2)
        u->want_snapshot = true;
}

/* PERSISTED: batches up to seq are durable. Advance the stable index only
 * if the entry a batch ended with is still the same (index, term): a later
 * truncation may have replaced it (the ABA race, bug 21). */
static int step_persisted(struct raft *r, uint64_t seq)
{
    if (seq == 0 || seq > r->seq_last)
        return COORD_EINVAL;
    if (seq <= r->seq_acked)
        return 0;
    r->seq_acked = seq;
    while (r->prec_count > 0 && r->precs[r->prec_head].seq <= seq) {
        const struct raft_prec *p = &r->precs[r->prec_head];
        if (p->index > r->stable && p->index <= raft_log_last(r) &&
            raft_log_term(r, p->index) == p->term)
            r->stable = p->index;
        r->prec_head = (r->prec_head + 1) % RAFT_PERSIST_RECORDS;
        r->prec_count--;
    }
    coord_assert(r->stable <= raft_log_last(r));
    if (r->role == RAFT_LEADER) {
        struct raft_prog *self = raft_prog_find(r, r->id);
        if (self != NULL && self->match < r->stable)
            self->match = r->stable;
        raft_maybe_commit(r);
        if (r->role == RAFT_LEADER)
            raft_pair_notify(r);
    } else {
        raft_pair_learn(r, 0);
    }
    raft_tally_self(r);
    return 0;
}

static bool msg_valid(const struct raft *r, const struct raft_msg *m)
{
    return m->type >= RAFT_MSG_APPEND && m->type <= RAFT_MSG_READ_INDEX_RESP &&
           m->from != RAFT_NONE && m->from != r->id && m->to == r->id;
}

static bool msg_names_leader(uint8_t type)
{
    return type == RAFT_MSG_APPEND || type == RAFT_MSG_HEARTBEAT ||
           type == RAFT_MSG_SNAPSHOT || type == RAFT_MSG_TIMEOUT_NOW;
}

/* Term rules (Fig. 2 "all servers"), with the lease guard (§4.2.3) and
 * pre-vote's exceptions (§9.6). Returns false if the message is done. */
static bool recv_term(struct raft *r, const struct raft_msg *m)
{
    coord_assert(m->to == r->id && m->from != r->id);
    bool vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
    if (m->term > r->term) {
        if (vote && !m->transfer && raft_in_lease(r)) {
            raft_trace(r, "ignore %s from %llu: leader %llu is alive",
                       raft_msg_name(m->type), (unsigned long long)m->from,
                       (unsigned long long)r->leader);
            return false;
        }
        if (m->type == RAFT_MSG_PREVOTE ||
            (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject))
            return true;
        raft_trace(r, "term %llu -> %llu on %s from %llu",
                   (unsigned long long)r->term, (unsigned long long)m->term,
                   raft_msg_name(m->type), (unsigned long long)m->from);
        raft_become_follower(r, m->term,
                             msg_names_leader(m->type) ? m->from : RAFT_NONE);
        return true;
    }
    if (m->term == r->term)
        return true;
    /* A stale leader learns our term, so it steps down. Always answered:
     * the lease guard makes such a leader ignore our votes, so without
     * this answer a node with a higher term could never rejoin. */
    if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
        m->type == RAFT_MSG_SNAPSHOT) {
        struct raft_msg *resp =
            raft_msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
        if (resp != NULL)
            resp->reject = false, resp->index = 0;
    } else if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE) {
        /* Fig. 2: refuse with our term, so a candidate that fell behind
         * in terms catches up (a lone voter may only ever hear from it:
         * found by the simulator) */
        uint8_t type = m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP
                                                : RAFT_MSG_PREVOTE_RESP;
        struct raft_msg *resp = raft_msg_held(r, type, m->from);
        if (resp != NULL)
            resp->reject = true;
    } else if (m->type == RAFT_MSG_READ_INDEX) {
        struct raft_msg *resp =
            raft_msg_new(r, RAFT_MSG_READ_INDEX_RESP, m->from);
        if (resp != NULL)
            resp->reject = true, resp->ctx = m->ctx;
    }
    return false;
}

static int step_recv(struct raft *r, const struct raft_msg *m)
{
    if (!msg_valid(r, m))
        return COORD_EINVAL;
    if (!recv_term(r, m))
        return 0;
    coord_assert(m->term == r->term || m->type == RAFT_MSG_PREVOTE ||
                 m->type == RAFT_MSG_PREVOTE_RESP);
    switch (m->type) {
    case RAFT_MSG_APPEND: raft_recv_append(r, m); break;
    case RAFT_MSG_APPEND_RESP: raft_recv_append_resp(r, m); break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE: raft_recv_vote(r, m); break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP: raft_recv_vote_resp(r, m); break;
    case RAFT_MSG_HEARTBEAT: raft_recv_heartbeat(r, m); break;
    case RAFT_MSG_HEARTBEAT_RESP: raft_recv_heartbeat_resp(r, m); break;
    case RAFT_MSG_SNAPSHOT: raft_recv_snapshot(r, m); break;
    case RAFT_MSG_SNAPSHOT_RESP: raft_recv_snapshot_resp(r, m); break;
    case RAFT_MSG_TIMEOUT_NOW: raft_recv_timeout_now(r, m); break;
    case RAFT_MSG_READ_INDEX: raft_recv_read_index(r, m); break;
    case RAFT_MSG_READ_INDEX_RESP: raft_recv_read_index_resp(r, m); break;
    default: return COORD_EINVAL;
    }
    return 0;
}

static int step_applied(struct raft *r, uint64_t index)
{
    if (index > r->handed)
        return COORD_EINVAL;
    if (index > r->applied)
        r->applied = index;
    coord_assert(r->applied <= r->commit);
    return 0;
}

static int step_dispatch(struct raft *r, const struct raft_event *ev)
{
    coord_assert(r->n_msgs == 0 && r->n_reads_out == 0);
    switch (ev->type) {
    case RAFT_EV_TICK:
        raft_tick(r);
        if (r->role == RAFT_LEADER &&
            raft_log_term(r, raft_log_last(r)) != r->term &&
            raft_log_fits_reserve(r, 0)) /* a no-op that did not fit */
            raft_log_append(r, r->term, RAFT_ENTRY_NOOP, NULL, 0);
        return 0;
    case RAFT_EV_RECV: return step_recv(r, &ev->recv);
    case RAFT_EV_PROPOSE: return raft_propose(r, ev);
    case RAFT_EV_READ_INDEX: return raft_read_index(r, ev->read.id, 0);
    case RAFT_EV_TRANSFER: return raft_transfer(r, ev->transfer.to);
    case RAFT_EV_CONF_CHANGE: return raft_conf_change(r, ev);
    case RAFT_EV_PERSISTED: return step_persisted(r, ev->persisted.seq);
    case RAFT_EV_SNAPSHOT_PERSISTED:
        return raft_snapshot_persisted(r, ev->snap_persisted.index,
                                       ev->snap_persisted.term);
    case RAFT_EV_APPLIED: return step_applied(r, ev->applied.index);
    case RAFT_EV_SNAPSHOT_TAKEN:
        return raft_snapshot_taken(r, ev->snap_taken.index,
                                   ev->snap_taken.size);
    case RAFT_EV_UNREACHABLE: {
        struct raft_prog *p = raft_prog_find(r, ev->unreachable.peer);
        if (r->role == RAFT_LEADER && p != NULL && p->id != r->id &&
            p->state == RAFT_PROG_REPLICATE) {
            p->next = p->match + 1;
            raft_prog_become_probe(p);
        }
        return 0;
    }
    default: return COORD_EINVAL;
    }
}

int raft_step(struct raft *r, const struct raft_event *ev,
              struct raft_update *out)
{
    coord_assert(r != NULL && ev != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    r->out = out;
    r->n_msgs = 0;
    r->n_reads_out = 0;
    uint8_t role = r->role;
    uint64_t term = r->term, leader = r->leader;
    int rc = step_dispatch(r, ev);
    step_finish(r, out);
    out->role = r->role;
    if (out->leader == RAFT_NONE)
        out->leader = r->leader;
    out->state_changed =
        role != r->role || term != r->term || leader != r->leader;
    coord_assert(r->commit <= raft_log_last(r));
    coord_assert(r->handed <= r->commit);
    r->out = NULL;
    return rc;
}
