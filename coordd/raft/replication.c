/* replication.c -- log replication: the leader's AppendEntries with
 * batching and pipelining (dissertation §10.2.2), fast backtracking with
 * conflict hints (§3.5), the follower's consistency check and conflict-only
 * truncation (Fig. 2 receiver rules), heartbeats, the commit rule that
 * counts only current-term entries (§3.6.2) with the leader's own entries
 * counted once durable (§10.2.1), pair commit (a follower that with the
 * leader makes a quorum commits from the leader's durable index; ours,
 * docs/raft.md), proposals and leadership transfer (§3.10).
 *
 * Messages borrow entries from the in-memory log; nothing here encodes,
 * allocates, or reads a clock.
 */
#include "raft_int.h"

#include "coord.h"
#include "libcoord/shared/check.h"

static void notify_commit_one(struct raft *r, struct raft_prog *p);

void raft_become_leader(struct raft *r)
{
    coord_assert(r->role == RAFT_CANDIDATE);
    coord_assert(r->vote == r->id);
    r->role = RAFT_LEADER;
    r->leader = r->id;
    r->transfer_to = RAFT_NONE;
    r->hb_elapsed = 0;
    r->elapsed = 0;
    r->read_round = r->term << 32;
    r->read_done = r->read_round;
    raft_prog_reset_all(r);
    raft_trace(r, "become leader, last %llu commit %llu",
               (unsigned long long)raft_log_last(r),
               (unsigned long long)r->commit);
    /* §5.4.2/§6.4: a no-op lets the leader commit an entry of its term. */
    if (raft_log_fits_reserve(r, 0))
        raft_log_append(r, r->term, RAFT_ENTRY_NOOP, NULL, 0);
    raft_broadcast_append(r);
    raft_maybe_commit(r);
}

/* One APPEND to p at p->next (empty if nothing to send: a probe). */
static void send_one(struct raft *r, struct raft_prog *p)
{
    uint64_t prev = p->next - 1;
    if (prev < r->log_start || (prev == r->log_start && r->log_start > 0 &&
                                r->log_start_term == 0)) {
        raft_send_snapshot(r, p);
        return;
    }
    uint64_t last = raft_log_last(r);
    coord_assert(prev <= last);
    uint32_t n = 0;
    uint64_t bytes = 0;
    while (prev + n < last && n < r->cfg.append_entries_max) {
        const struct raft_entry *e = raft_log_at(r, prev + n + 1);
        if (n > 0 && bytes + e->len > r->cfg.append_bytes_max)
            break;
        bytes += e->len;
        n++;
    }
    struct raft_msg *m = raft_msg_new(r, RAFT_MSG_APPEND, p->id);
    if (m == NULL)
        return;
    m->index = prev;
    m->log_term = raft_log_term(r, prev);
    m->commit = r->commit;
    m->durable = raft_pair_durable(r, p);
    m->entries = n > 0 ? raft_log_at(r, prev + 1) : NULL;
    m->n_entries = n;
    if (p->state == RAFT_PROG_REPLICATE) {
        coord_assert(n > 0);
        p->next = prev + n + 1;
        raft_prog_inflight_add(r, p, prev + n);
    } else {
        p->paused = true;
    }
}

/* Send what p may receive now: one probe, or a window of APPENDs. */
void raft_send_append(struct raft *r, struct raft_prog *p, bool probe)
{
    coord_assert(r->role == RAFT_LEADER);
    if (p->id == r->id || p->state == RAFT_PROG_SNAPSHOT)
        return;
    if (p->state == RAFT_PROG_PROBE) {
        if (!p->paused || probe)
            send_one(r, p);
        return;
    }
    while (!raft_prog_inflight_full(r, p) && p->next <= raft_log_last(r) &&
           p->state == RAFT_PROG_REPLICATE)
        send_one(r, p);
}

void raft_broadcast_append(struct raft *r)
{
    coord_assert(r->role == RAFT_LEADER);
    coord_assert(r->n_prog == r->conf.n);
    for (uint32_t i = 0; i < r->n_prog; i++)
        raft_send_append(r, &r->prog[i], false);
}

void raft_broadcast_heartbeat(struct raft *r)
{
    coord_assert(r->role == RAFT_LEADER);
    coord_assert(r->read_round >> 32 == r->term);
    for (uint32_t i = 0; i < r->n_prog; i++) {
        struct raft_prog *p = &r->prog[i];
        if (p->id == r->id)
            continue;
        struct raft_msg *m = raft_msg_new(r, RAFT_MSG_HEARTBEAT, p->id);
        if (m == NULL)
            continue;
        m->commit = p->match < r->commit ? p->match : r->commit;
        m->durable = raft_pair_durable(r, p);
        m->ctx = r->read_round;
        if (p->state == RAFT_PROG_SNAPSHOT)
            raft_send_snapshot(r, p); /* retransmit the awaited chunk */
    }
}

/* Fig. 2 receiver rule 3: truncate only on a real conflict, so an old,
 * reordered APPEND cannot cut good entries (bug 3). Returns the last index
 * this message verified. */
static uint64_t append_entries(struct raft *r, const struct raft_msg *m)
{
    bool conf = false;
    uint32_t i = 0;
    coord_assert(r->role == RAFT_FOLLOWER);
    coord_assert(raft_log_term(r, m->index) == m->log_term);
    for (; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index <= raft_log_last(r)) {
            if (raft_log_term(r, e->index) == e->term)
                continue;
            coord_assert(e->index > r->commit);
            raft_trace(r, "conflict @%llu: truncate",
                       (unsigned long long)e->index);
            conf = conf || r->conf_index >= e->index;
            raft_log_truncate(r, e->index);
        }
        if (e->type == RAFT_ENTRY_CONF &&
            raft_conf_decode(e, NULL, NULL, NULL, NULL, NULL) != 0)
            break;
        if (!raft_log_fits_reserve(r, e->len)) {
            r->out->want_snapshot = true;
            break;
        }
        raft_log_append(r, e->term, e->type, e->data, e->len);
        conf = conf || e->type == RAFT_ENTRY_CONF;
    }
    if (conf)
        raft_conf_refresh(r);
    return m->index + i;
}

static bool append_valid(const struct raft_msg *m)
{
    if (m->n_entries > 0 && m->entries == NULL)
        return false;
    uint64_t t = m->log_term;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index != m->index + 1 + i || e->term < t || e->term > m->term)
            return false;
        if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF)
            return false;
        if (e->len > 0 && e->data == NULL)
            return false;
        t = e->term;
    }
    return true;
}

static void append_reject(struct raft *r, const struct raft_msg *m,
                          struct raft_msg *resp)
{
    uint64_t h = m->index < raft_log_last(r) ? m->index : raft_log_last(r);
    coord_assert(h >= r->commit);
    while (h > r->log_start && raft_log_term(r, h) > m->log_term)
        h--;
    coord_assert(h >= r->log_start && h <= m->index);
    resp->reject = true;
    resp->index = m->index;
    resp->hint_index = h;
    resp->hint_term = raft_log_term(r, h);
    raft_trace(r, "reject APPEND prev %llu/%llu, hint %llu/%llu",
               (unsigned long long)m->index, (unsigned long long)m->log_term,
               (unsigned long long)h, (unsigned long long)resp->hint_term);
}

void raft_recv_append(struct raft *r, const struct raft_msg *m)
{
    coord_assert(m->term == r->term);
    if (r->role == RAFT_LEADER) {
        raft_trace(r, "APPEND from %llu in my term ignored",
                   (unsigned long long)m->from);
        return;
    }
    if (r->role != RAFT_FOLLOWER || r->leader != m->from)
        raft_become_follower(r, r->term, m->from);
    r->elapsed = 0;
    if (r->installing || !append_valid(m))
        return;
    struct raft_msg *resp = raft_msg_held(r, RAFT_MSG_APPEND_RESP, m->from);
    if (m->index < r->commit) {
        if (resp != NULL)
            resp->index = r->commit;
        return;
    }
    if (m->index > raft_log_last(r) ||
        raft_log_term(r, m->index) != m->log_term) {
        if (resp != NULL)
            append_reject(r, m, resp);
        return;
    }
    uint64_t last = append_entries(r, m);
    /* A follower commits only what this message verified (bug 2). */
    uint64_t c = m->commit < last ? m->commit : last;
    if (c > r->commit)
        r->commit = c;
    raft_pair_learn(r, m->durable);
    if (resp != NULL)
        resp->index = last;
    coord_assert(r->commit <= raft_log_last(r));
}

/* The leader's side of the hint: its last index <= hint with a term <=
 * the follower's term there, so one round trip skips a whole term. */
static uint64_t leader_probe_from(const struct raft *r, uint64_t hint,
                                  uint64_t hint_term)
{
    uint64_t j = hint < raft_log_last(r) ? hint : raft_log_last(r);
    coord_assert(r->role == RAFT_LEADER);
    while (j > r->log_start && raft_log_term(r, j) > hint_term)
        j--;
    coord_assert(j <= raft_log_last(r));
    return j;
}

static void append_resp_reject(struct raft *r, struct raft_prog *p,
                               const struct raft_msg *m)
{
    if (p->state == RAFT_PROG_SNAPSHOT)
        return;
    if (p->state == RAFT_PROG_REPLICATE && m->index <= p->match)
        return; /* stale (bug 4) */
    if (p->state == RAFT_PROG_PROBE && m->index != p->next - 1)
        return; /* stale */
    uint64_t j = leader_probe_from(r, m->hint_index, m->hint_term);
    uint64_t next = m->index < j + 1 ? m->index : j + 1;
    if (next < p->match + 1)
        next = p->match + 1;
    if (next < 1)
        next = 1;
    raft_trace(r, "%llu rejected prev %llu, next %llu -> %llu",
               (unsigned long long)p->id, (unsigned long long)m->index,
               (unsigned long long)p->next, (unsigned long long)next);
    p->next = next;
    raft_prog_become_probe(p);
    coord_assert(p->next > p->match);
    raft_send_append(r, p, false);
}

void raft_recv_append_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_prog *p = raft_prog_find(r, m->from);
    if (p == NULL || p->id == r->id || r->role != RAFT_LEADER)
        return;
    p->recent_active = true;
    if (m->reject) {
        append_resp_reject(r, p, m);
        return;
    }
    if (m->index > raft_log_last(r))
        return; /* cannot have acked what we never had: ignore */
    raft_prog_inflight_free_to(r, p, m->index);
    if (m->index == p->match && p->state == RAFT_PROG_PROBE) {
        /* the probe at match was accepted: the logs agree up to it */
        raft_prog_become_replicate(p);
    } else if (m->index > p->match) {
        uint64_t old_match = p->match;
        p->match = m->index;
        if (p->next <= p->match)
            p->next = p->match + 1;
        /* Any ack that reconnects the follower to our log ends a
         * snapshot send, even one for an older snapshot (bug 25). */
        if (p->state == RAFT_PROG_PROBE ||
            (p->state == RAFT_PROG_SNAPSHOT &&
             (p->match >= p->snap_index || p->match >= r->log_start)))
            raft_prog_become_replicate(p);
        uint64_t commit = r->commit;
        raft_maybe_commit(r);
        if (r->role != RAFT_LEADER)
            return;
        /* A follower outside the quorum that committed: it could not
         * learn a commit beyond its old match; if it now has every entry,
         * no APPEND will tell it (notify_commit already did if the commit
         * just moved). */
        if (commit == r->commit && old_match < r->commit)
            notify_commit_one(r, p);
        raft_transfer_check(r, p);
    } else if (p->state == RAFT_PROG_PROBE) {
        p->paused = false;
    }
    raft_send_append(r, p, false);
    coord_assert(p->next > p->match);
}

void raft_recv_heartbeat(struct raft *r, const struct raft_msg *m)
{
    coord_assert(m->term == r->term);
    if (r->role == RAFT_LEADER)
        return;
    if (r->role != RAFT_FOLLOWER || r->leader != m->from)
        raft_become_follower(r, r->term, m->from);
    r->elapsed = 0;
    uint64_t last = raft_log_last(r);
    uint64_t c = m->commit < last ? m->commit : last;
    if (!r->installing && c > r->commit)
        r->commit = c;
    raft_pair_learn(r, m->durable);
    if (m->ctx == RAFT_CTX_NOTICE)
        return; /* a commit notice: nothing to acknowledge */
    struct raft_msg *resp =
        raft_msg_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
    if (resp != NULL)
        resp->ctx = m->ctx;
    coord_assert(r->commit <= raft_log_last(r) || r->installing);
}

void raft_recv_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_prog *p = raft_prog_find(r, m->from);
    if (p == NULL || p->id == r->id || r->role != RAFT_LEADER)
        return;
    coord_assert(m->type == RAFT_MSG_HEARTBEAT_RESP);
    p->recent_active = true;
    p->paused = false;
    raft_read_ack(r, p, m->ctx);
    if (r->role != RAFT_LEADER)
        return;
    if (p->match < raft_log_last(r) || p->state == RAFT_PROG_PROBE)
        raft_send_append(r, p, false);
}

/* Tells follower p the commit index at once with a heartbeat (capped at
 * its match, as every heartbeat is) when it has every entry and so will
 * get no APPEND carrying it before the next heartbeat tick: its clients'
 * forwarded writes and reads wait for it to apply. Its ctx is 0, which no
 * read round has (rounds carry the term in their top half): a commit
 * notice that the follower does not answer, as an answer would tell the
 * leader nothing new (it starts no round; p's match is known) and cost a
 * message each way per commit (docs/peer-protocol.md). Not sent when p
 * computes that commit itself from the durable index it was told (pair
 * commit): the notice would carry nothing new. */
static void notify_commit_one(struct raft *r, struct raft_prog *p)
{
    if (p->id == r->id || p->state != RAFT_PROG_REPLICATE ||
        p->next <= raft_log_last(r))
        return;
    uint64_t c = p->match < r->commit ? p->match : r->commit;
    uint64_t k = p->match < p->durable_sent ? p->match : p->durable_sent;
    if (k >= c && raft_log_term(r, k) == r->term)
        return;
    struct raft_msg *m = raft_msg_new(r, RAFT_MSG_HEARTBEAT, p->id);
    if (m == NULL)
        return;
    m->commit = c;
    m->durable = raft_pair_durable(r, p);
    m->ctx = RAFT_CTX_NOTICE;
}

/* The commit index advanced: tell every caught-up follower. */
static void notify_commit(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_prog; i++)
        notify_commit_one(r, &r->prog[i]);
}

/* Both sides: a committed configuration of 2 or 3 voters, this node one. */
static bool pair_conf(struct raft *r)
{
    return raft_quorum(r) == 2 && raft_is_voter(r, r->id) &&
           r->conf_index <= r->commit;
}

/* Pair commit (docs/raft.md "Pair commit"). Where the leader and one
 * voter are a quorum -- 2 of 2 or 3 voters -- an entry of the current term
 * that both hold durably is committed, so a follower told the leader's
 * durable index commits as soon as its own write ends, without waiting
 * for its ack to reach the leader and a commit notice to come back. Sent
 * only while the leader's configuration is committed (a change in flight
 * may need a larger quorum); a value once sent stays true (the leader
 * never loses what is durable in its term, and any quorum of the next
 * single-server configuration still meets the pair). Every value sent is
 * recorded: the leader's read index covers the highest (read.c), since a
 * follower may have answered a write up to it. Sent only when the leader's
 * whole log is durable: under load (entries queued behind the write in
 * flight) followers learn commits from APPENDs soon anyway, and a durable
 * index running ahead of the commit would hold up every read (benchmarks,
 * session 9). */
uint64_t raft_pair_durable(struct raft *r, struct raft_prog *p)
{
    coord_assert(r->role == RAFT_LEADER);
    if (!r->cfg.pair_commit || r->stable != raft_log_last(r) ||
        p->role != RAFT_VOTER || !pair_conf(r))
        return 0;
    if (r->stable > p->durable_sent)
        p->durable_sent = r->stable;
    if (r->stable > r->durable_sent)
        r->durable_sent = r->stable;
    return r->stable;
}

/* The leader's log became durable further: tell each follower that was
 * sent entries past the durable index it knows (a commit notice of the
 * same step may have told it already). */
void raft_pair_notify(struct raft *r)
{
    coord_assert(r->role == RAFT_LEADER);
    for (uint32_t i = 0; i < r->n_prog; i++) {
        struct raft_prog *p = &r->prog[i];
        if (p->id == r->id || p->state != RAFT_PROG_REPLICATE)
            continue;
        uint64_t sent = p->next - 1;
        uint64_t want = r->stable < sent ? r->stable : sent;
        if (p->durable_sent >= want || raft_pair_durable(r, p) == 0)
            continue;
        struct raft_msg *m = raft_msg_new(r, RAFT_MSG_HEARTBEAT, p->id);
        if (m == NULL)
            continue;
        m->commit = p->match < r->commit ? p->match : r->commit;
        m->durable = r->stable;
        m->ctx = RAFT_CTX_NOTICE;
    }
}

/* The follower's side: what it holds durably, up to what the leader holds
 * durably, is committed if its last entry is of this term -- such an entry
 * came from this term's leader, so by Log Matching the whole prefix is the
 * leader's (and by §3.6.2 the older entries commit with it). */
void raft_pair_learn(struct raft *r, uint64_t durable)
{
    if (durable > r->lead_durable)
        r->lead_durable = durable;
    /* the configuration is checked here too: it costs nothing */
    if (r->role != RAFT_FOLLOWER || r->installing ||
        r->leader == RAFT_NONE || !pair_conf(r))
        return;
    uint64_t k = r->lead_durable < r->stable ? r->lead_durable : r->stable;
    if (k <= r->commit || raft_log_term(r, k) != r->term)
        return;
    coord_assert(k <= raft_log_last(r));
    raft_trace(r, "pair commit %llu -> %llu", (unsigned long long)r->commit,
               (unsigned long long)k);
    r->commit = k;
    r->pair_commits++;
}

/* §3.6.2: only an entry of the current term commits by counting; the
 * earlier ones commit with it (Figure 8, bug 1). */
void raft_maybe_commit(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    uint64_t q = raft_prog_quorum_match(r);
    if (q <= r->commit || raft_log_term(r, q) != r->term)
        return;
    coord_assert(q <= raft_log_last(r));
    raft_trace(r, "commit %llu -> %llu", (unsigned long long)r->commit,
               (unsigned long long)q);
    r->commit = q;
    coord_assert(raft_log_term(r, r->commit) == r->term);
    raft_read_advance(r);
    notify_commit(r);
    /* §4.2.2: a leader outside the configuration steps down once that
     * configuration is committed (bug 16, bug 19). */
    if (r->conf_index <= r->commit && !raft_is_voter(r, r->id)) {
        raft_trace(r, "not a voter in committed conf: step down");
        raft_become_follower(r, r->term, RAFT_NONE);
    }
}

int raft_propose(struct raft *r, const struct raft_event *ev)
{
    if (r->role != RAFT_LEADER) {
        r->out->leader = r->leader;
        return COORD_ENOTLEADER;
    }
    uint32_t n = ev->propose.n;
    if (n == 0 || ev->propose.bufs == NULL)
        return COORD_EINVAL;
    if (r->transfer_to != RAFT_NONE)
        return COORD_EAGAIN;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (ev->propose.bufs[i].len > 0 && ev->propose.bufs[i].data == NULL)
            return COORD_EINVAL;
        bytes += ev->propose.bufs[i].len;
    }
    uint64_t last = raft_log_last(r);
    uint64_t unc = raft_log_bytes(r, r->commit + 1, last);
    if (!raft_log_fits(r, n, bytes) ||
        unc + bytes > r->cfg.uncommitted_bytes_max) {
        r->out->want_snapshot = true;
        return COORD_EAGAIN;
    }
    for (uint32_t i = 0; i < n; i++)
        raft_log_append(r, r->term, RAFT_ENTRY_NORMAL,
                        ev->propose.bufs[i].data, ev->propose.bufs[i].len);
    r->out->propose_index = last + 1;
    raft_broadcast_append(r);
    coord_assert(raft_log_last(r) == last + n);
    return 0;
}

void raft_transfer_check(struct raft *r, struct raft_prog *p)
{
    coord_assert(r->role == RAFT_LEADER);
    coord_assert(p->match <= raft_log_last(r));
    if (r->transfer_to != p->id || p->match != raft_log_last(r))
        return;
    struct raft_msg *m = raft_msg_new(r, RAFT_MSG_TIMEOUT_NOW, p->id);
    raft_trace(r, "transfer: %llu caught up, TIMEOUT_NOW",
               (unsigned long long)p->id);
    (void)m;
}

int raft_transfer(struct raft *r, uint64_t to)
{
    if (r->role != RAFT_LEADER) {
        r->out->leader = r->leader;
        return COORD_ENOTLEADER;
    }
    if (to == RAFT_NONE) {
        uint64_t best = 0;
        for (uint32_t i = 0; i < r->n_prog; i++) {
            const struct raft_prog *p = &r->prog[i];
            if (p->id == r->id || p->role != RAFT_VOTER)
                continue;
            if (to == RAFT_NONE || p->match > best) {
                to = p->id;
                best = p->match;
            }
        }
    }
    struct raft_prog *p = raft_prog_find(r, to);
    if (to == r->id)
        return 0;
    if (p == NULL || p->role != RAFT_VOTER)
        return COORD_EINVAL;
    coord_assert(to != r->id && to != RAFT_NONE);
    r->transfer_to = to;
    r->transfer_elapsed = 0;
    coord_assert(r->role == RAFT_LEADER);
    raft_trace(r, "transfer to %llu (match %llu, last %llu)",
               (unsigned long long)to, (unsigned long long)p->match,
               (unsigned long long)raft_log_last(r));
    raft_transfer_check(r, p);
    if (p->match != raft_log_last(r))
        raft_send_append(r, p, false);
    return 0;
}

/* §3.10: the target starts an election at once, skipping pre-vote and
 * the lease guard of the voters (the transfer flag). */
void raft_recv_timeout_now(struct raft *r, const struct raft_msg *m)
{
    coord_assert(m->term == r->term);
    if (r->role == RAFT_LEADER || !raft_is_voter(r, r->id) ||
        r->installing)
        return;
    raft_trace(r, "TIMEOUT_NOW from %llu", (unsigned long long)m->from);
    raft_campaign(r, false, true);
    coord_assert(r->role == RAFT_CANDIDATE || r->role == RAFT_LEADER);
}
