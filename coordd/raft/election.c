/* election.c -- logical time and leader election: randomized timeouts
 * (dissertation §3.4), pre-vote (§9.6), check-quorum (§6.2), the
 * "heard from a leader recently" guard that stops removed or partitioned
 * servers from disrupting (§4.2.3), and RequestVote handling (§3.6.1).
 *
 * Term and vote change only through raft_hs_set(); the vote is cleared
 * only when the term rises (never on a same-term role change, bug 6). Vote
 * responses are held until the vote is durable (step.c). No clock: time is
 * RAFT_EV_TICK; randomness is the PRNG seeded by config.seed.
 */
#include "raft_int.h"

#include "coord.h"
#include "libcoord/shared/check.h"

static uint64_t prng_next(struct raft *r)
{
    /* splitmix64: deterministic per seed, good enough for timeouts */
    uint64_t z = (r->prng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void raft_reset_timeout(struct raft *r)
{
    uint32_t e = r->cfg.election_ticks;
    coord_assert(e > 0);
    r->elapsed = 0;
    r->timeout = e + (uint32_t)(prng_next(r) % e);
    coord_assert(r->timeout >= e && r->timeout < 2 * e);
}

/* §4.2.3: a server that heard from a leader within the minimum election
 * timeout does not grant (pre)votes, nor raise its term for them. */
bool raft_in_lease(const struct raft *r)
{
    coord_assert(r->cfg.election_ticks > 0);
    coord_assert(r->leader != r->id || r->role == RAFT_LEADER);
    return r->leader != RAFT_NONE && r->elapsed < r->cfg.election_ticks;
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    coord_assert(term >= r->term);
    bool was_leader = r->role == RAFT_LEADER;
    if (term > r->term)
        raft_hs_set(r, term, RAFT_NONE);
    if (r->role != RAFT_FOLLOWER || r->leader != leader)
        raft_trace(r, "become follower, leader %llu",
                   (unsigned long long)leader);
    if (r->leader != leader || was_leader)
        raft_read_fail_all(r, was_leader ? COORD_ENOTLEADER
                                         : COORD_EUNAVAILABLE);
    if (r->leader != leader)
        r->lead_durable = 0; /* another leader's values */
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->transfer_to = RAFT_NONE;
    raft_reset_timeout(r);
    coord_assert(r->term == term);
}

static void tick_leader(struct raft *r)
{
    coord_assert(r->role == RAFT_LEADER && r->leader == r->id);
    coord_assert(r->elapsed < r->cfg.election_ticks);
    r->elapsed++;
    if (r->transfer_to != RAFT_NONE &&
        ++r->transfer_elapsed >= r->cfg.election_ticks) {
        raft_trace(r, "transfer to %llu aborted",
                   (unsigned long long)r->transfer_to);
        r->transfer_to = RAFT_NONE;
    }
    for (uint32_t i = 0; i < r->n_prog; i++)
        if (r->prog[i].id != r->id)
            raft_prog_tick(r, &r->prog[i]);
    if (++r->hb_elapsed >= r->cfg.heartbeat_ticks) {
        r->hb_elapsed = 0;
        raft_broadcast_heartbeat(r);
    }
    if (r->elapsed < r->cfg.election_ticks)
        return;
    r->elapsed = 0;
    uint32_t active = 0;
    for (uint32_t i = 0; i < r->n_prog; i++) {
        struct raft_prog *p = &r->prog[i];
        if (p->role == RAFT_VOTER && (p->recent_active || p->id == r->id))
            active++;
        p->recent_active = p->id == r->id;
    }
    if (r->cfg.check_quorum && active < raft_quorum(r)) {
        raft_trace(r, "check-quorum failed (%u active), step down", active);
        raft_become_follower(r, r->term, RAFT_NONE);
    }
}

void raft_tick(struct raft *r)
{
    coord_assert(r->role >= RAFT_FOLLOWER && r->role <= RAFT_LEADER);
    coord_assert(r->role == RAFT_LEADER || r->timeout >= r->cfg.election_ticks);
    r->ticks++;
    if (r->role == RAFT_LEADER) {
        tick_leader(r);
        return;
    }
    r->elapsed++;
    if (r->n_rds > 0)
        raft_read_expire(r);
    if (r->elapsed < r->timeout)
        return;
    /* While our own persist is outstanding (a vote we granted, our own
     * candidacy's term and vote, entries), starting an election would
     * abandon the one whose held responses are about to leave: a disk
     * stall longer than the timeout then turns into split votes, each
     * costing another stalled persist (docs/raft.md "Elections during a
     * disk stall"). Wait a fresh timeout once it is durable; a node whose
     * disk never completes could not lead anyway. */
    if (!raft_is_voter(r, r->id) || r->installing ||
        r->seq_last > r->seq_acked) {
        raft_reset_timeout(r);
        return;
    }
    raft_trace(r, "election timeout after %u ticks", r->elapsed);
    raft_campaign(r, r->cfg.pre_vote, false);
}

void raft_campaign(struct raft *r, bool pre, bool transfer)
{
    coord_assert(r->role != RAFT_LEADER);
    coord_assert(raft_is_voter(r, r->id));
    bool was = r->leader != RAFT_NONE;
    r->leader = RAFT_NONE;
    if (was)
        raft_read_fail_all(r, COORD_EUNAVAILABLE);
    r->campaign_transfer = transfer;
    raft_reset_timeout(r);
    for (uint32_t i = 0; i < r->n_prog; i++)
        r->prog[i].vote = 0;
    uint64_t term = r->term + 1;
    if (pre) {
        r->role = RAFT_PRECANDIDATE;
        raft_prog_find(r, r->id)->vote = 1;
    } else {
        r->role = RAFT_CANDIDATE;
        raft_hs_set(r, term, r->id);
        r->self_vote_seq = r->seq_last + 1; /* this step's persist */
    }
    raft_trace(r, "campaign as %s for term %llu%s", raft_role_name(r->role),
               (unsigned long long)term, transfer ? " (transfer)" : "");
    uint64_t last = raft_log_last(r);
    for (uint32_t i = 0; i < r->n_prog; i++) {
        const struct raft_prog *p = &r->prog[i];
        if (p->role != RAFT_VOTER || p->id == r->id)
            continue;
        struct raft_msg *m =
            raft_msg_new(r, pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, p->id);
        if (m == NULL)
            continue;
        m->term = term;
        m->index = last;
        m->log_term = raft_log_term(r, last);
        m->transfer = transfer;
    }
    if (pre)
        raft_tally_self(r);
}

/* Count the votes; win or lose once a quorum has spoken. */
void raft_tally_self(struct raft *r)
{
    if (r->role != RAFT_PRECANDIDATE && r->role != RAFT_CANDIDATE)
        return;
    struct raft_prog *self = raft_prog_find(r, r->id);
    coord_assert(self != NULL);
    coord_assert(r->leader == RAFT_NONE);
    if (r->role == RAFT_CANDIDATE && self->vote == 0 &&
        r->seq_acked >= r->self_vote_seq)
        self->vote = 1;
    uint32_t yes = 0, no = 0;
    for (uint32_t i = 0; i < r->n_prog; i++) {
        if (r->prog[i].role != RAFT_VOTER)
            continue;
        yes += r->prog[i].vote > 0;
        no += r->prog[i].vote < 0;
    }
    uint32_t q = raft_quorum(r);
    /* A candidate leads only once its own term is durable, even with a
     * quorum of other votes: a crash would otherwise let it lead the same
     * term twice with different logs (found by the simulator). */
    bool durable = r->role == RAFT_PRECANDIDATE ||
                   r->seq_acked >= r->self_vote_seq;
    if (yes >= q && durable) {
        raft_trace(r, "won %s with %u votes", raft_role_name(r->role), yes);
        if (r->role == RAFT_PRECANDIDATE)
            raft_campaign(r, false, r->campaign_transfer);
        else
            raft_become_leader(r);
    } else if (no >= q) {
        raft_trace(r, "lost %s with %u rejections", raft_role_name(r->role),
                   no);
        raft_become_follower(r, r->term, RAFT_NONE);
    }
}

/* RequestVote / PreVote receiver (§3.6.1, §9.6). step.c already raised
 * our term for a VOTE with a higher term (outside the lease). */
void raft_recv_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    coord_assert(pre || m->term == r->term);
    coord_assert(m->term >= r->term);
    bool can = r->vote == m->from ||
               (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
               (pre && m->term > r->term);
    bool grant = can && raft_log_up_to_date(r, m->index, m->log_term);
    uint8_t type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
    struct raft_msg *resp = raft_msg_held(r, type, m->from);
    if (grant && !pre) {
        raft_hs_set(r, r->term, m->from);
        r->elapsed = 0;
    }
    raft_trace(r, "%s %s from %llu (term %llu, last %llu/%llu)",
               grant ? "grant" : "reject", raft_msg_name(m->type),
               (unsigned long long)m->from, (unsigned long long)m->term,
               (unsigned long long)m->index, (unsigned long long)m->log_term);
    if (resp == NULL)
        return;
    /* A pre-vote grant carries the request's term so the pre-candidate
     * does not drop it as stale (etcd #8243, bug 11). */
    resp->term = grant ? m->term : r->term;
    resp->reject = !grant;
}

void raft_recv_vote_resp(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE_RESP;
    if (pre && r->role != RAFT_PRECANDIDATE)
        return;
    if (!pre && r->role != RAFT_CANDIDATE)
        return;
    uint64_t want = pre && !m->reject ? r->term + 1 : r->term;
    if (m->term != want)
        return;
    struct raft_prog *p = raft_prog_find(r, m->from);
    if (p == NULL || p->role != RAFT_VOTER || p->id == r->id)
        return;
    coord_assert(r->role == RAFT_PRECANDIDATE || r->vote == r->id);
    coord_assert(r->leader == RAFT_NONE);
    p->vote = m->reject ? -1 : 1;
    raft_tally_self(r);
}
