/* read.c -- linearizable reads by ReadIndex (dissertation §6.4), batched.
 *
 * The leader fixes a read's index at its commit index (or the highest
 * durable index it told a follower, whichever is higher: pair commit lets
 * a follower answer a write the leader has not yet seen committed), but
 * only once it has committed an entry of its own term (etcd #7331, bug 8).
 * It then needs one heartbeat round started after the read arrived to be
 * acknowledged by a quorum. Rounds are numbered (term << 32 | n): unique
 * per leader term and never reused, even across restarts, and only acks of
 * this term's rounds count (etcd #20418, bug 9). A partitioned leader never
 * completes a round, so it never answers a read; it fails its reads when it
 * steps down. Followers forward reads to the leader (READ_INDEX, ctx = read
 * id).
 */
#include "raft_int.h"

#include "coord.h"
#include "libcoord/shared/check.h"

void raft_read_out(struct raft *r, uint64_t id, uint64_t index, int status)
{
    coord_assert(r->n_reads_out < r->reads_out_cap);
    coord_assert(status <= 0);
    struct raft_read *o = &r->reads_out[r->n_reads_out++];
    o->id = id;
    o->index = index;
    o->status = status;
}

static void read_finish(struct raft *r, const struct raft_rd *rd,
                        uint64_t index, int status)
{
    coord_assert(status <= 0);
    coord_assert(status != 0 || r->role == RAFT_LEADER);
    if (rd->from == RAFT_NONE) {
        raft_read_out(r, rd->id, index, status);
        return;
    }
    struct raft_msg *m = raft_msg_new(r, RAFT_MSG_READ_INDEX_RESP, rd->from);
    if (m == NULL)
        return;
    m->ctx = rd->id;
    m->read_index = status == 0 ? index : 0;
    m->reject = status != 0;
}

void raft_read_fail_all(struct raft *r, int status)
{
    coord_assert(status < 0);
    for (uint32_t i = 0; i < r->n_rds; i++)
        read_finish(r, &r->rds[i], 0, status);
    if (r->n_rds > 0)
        raft_trace(r, "%u pending reads failed (%d)", r->n_rds, status);
    r->n_rds = 0;
    coord_assert(r->n_rds == 0);
}

static void round_start(struct raft *r)
{
    coord_assert(r->role == RAFT_LEADER);
    coord_assert(r->read_done == r->read_round);
    r->read_round++;
    raft_broadcast_heartbeat(r);
}

/* The highest round a quorum of voters (us included) has confirmed. */
static uint64_t round_confirmed(struct raft *r)
{
    uint64_t acks[RAFT_MEMBERS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n_prog; i++) {
        const struct raft_prog *p = &r->prog[i];
        if (p->role != RAFT_VOTER)
            continue;
        uint64_t v = p->id == r->id ? r->read_round : p->read_ack;
        uint32_t j = n++;
        while (j > 0 && acks[j - 1] < v) {
            acks[j] = acks[j - 1];
            j--;
        }
        acks[j] = v;
    }
    uint32_t q = raft_quorum(r);
    coord_assert(n <= RAFT_MEMBERS_MAX);
    return q <= n ? acks[q - 1] : 0;
}

/* Fix, release and start rounds as far as the state allows. */
void raft_read_advance(struct raft *r)
{
    if (r->role != RAFT_LEADER || r->n_rds == 0)
        return;
    coord_assert(r->read_done <= r->read_round);
    coord_assert(r->n_rds <= r->cfg.reads_max);
    bool term_ok = raft_log_term(r, r->commit) == r->term;
    uint64_t done = round_confirmed(r);
    if (done > r->read_done && done <= r->read_round)
        r->read_done = done;
    uint32_t keep = 0;
    bool need_round = false;
    for (uint32_t i = 0; i < r->n_rds; i++) {
        struct raft_rd *rd = &r->rds[i];
        if (!rd->fixed && term_ok) {
            rd->fixed = true;
            /* a follower may have answered a write up to the highest
             * durable index it was told (pair commit) */
            rd->index = r->commit > r->durable_sent ? r->commit
                                                     : r->durable_sent;
            rd->round = r->read_round + 1;
        }
        if (rd->fixed && rd->round <= r->read_done) {
            read_finish(r, rd, rd->index, 0);
            continue;
        }
        need_round = need_round || rd->fixed;
        r->rds[keep++] = *rd;
    }
    r->n_rds = keep;
    if (need_round && r->read_done == r->read_round) {
        round_start(r);
        raft_read_advance(r); /* a one-voter cluster confirms at once */
    }
}

int raft_read_index(struct raft *r, uint64_t id, uint64_t from)
{
    struct raft_rd rd = {.id = id, .from = from};
    if (r->n_rds >= r->cfg.reads_max) {
        read_finish(r, &rd, 0, COORD_EAGAIN);
        return 0;
    }
    if (r->role == RAFT_LEADER) {
        r->rds[r->n_rds++] = rd;
        raft_read_advance(r);
        return 0;
    }
    if (from != RAFT_NONE || r->leader == RAFT_NONE) {
        read_finish(r, &rd, 0,
                    from != RAFT_NONE ? COORD_ENOTLEADER : COORD_EUNAVAILABLE);
        return 0;
    }
    struct raft_msg *m = raft_msg_new(r, RAFT_MSG_READ_INDEX, r->leader);
    if (m == NULL) {
        read_finish(r, &rd, 0, COORD_EAGAIN);
        return 0;
    }
    m->ctx = id;
    rd.round = r->ticks; /* forwarded at; see raft_read_expire() */
    r->rds[r->n_rds++] = rd;
    coord_assert(r->n_rds <= r->cfg.reads_max);
    return 0;
}

void raft_recv_read_index(struct raft *r, const struct raft_msg *m)
{
    coord_assert(m->from != r->id);
    raft_read_index(r, m->ctx, m->from);
}

void raft_recv_read_index_resp(struct raft *r, const struct raft_msg *m)
{
    coord_assert(m->type == RAFT_MSG_READ_INDEX_RESP);
    coord_assert(r->n_rds <= r->cfg.reads_max);
    if (r->role == RAFT_LEADER)
        return;
    for (uint32_t i = 0; i < r->n_rds; i++) {
        struct raft_rd *rd = &r->rds[i];
        if (rd->id != m->ctx || rd->from != RAFT_NONE)
            continue;
        if (m->reject)
            raft_read_out(r, rd->id, 0, COORD_ENOTLEADER);
        else
            raft_read_out(r, rd->id, m->read_index, 0);
        r->rds[i] = r->rds[--r->n_rds];
        return;
    }
}

/* A heartbeat response with a round of this term from a voter. */
void raft_read_ack(struct raft *r, struct raft_prog *p, uint64_t ctx)
{
    coord_assert(r->role == RAFT_LEADER);
    if (ctx >> 32 != r->term || ctx > r->read_round || ctx <= p->read_ack)
        return;
    p->read_ack = ctx;
    coord_assert(p->read_ack <= r->read_round);
    raft_read_advance(r);
}

/* A follower's forwarded read whose answer was lost fails after two
 * election timeouts, so the caller can retry (leader-side reads end when
 * the leader steps down). */
void raft_read_expire(struct raft *r)
{
    coord_assert(r->role != RAFT_LEADER);
    uint64_t limit = 2ULL * r->cfg.election_ticks;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < r->n_rds; i++) {
        struct raft_rd *rd = &r->rds[i];
        if (rd->from == RAFT_NONE && r->ticks - rd->round >= limit) {
            raft_read_out(r, rd->id, 0, COORD_ETIMEDOUT);
            continue;
        }
        r->rds[keep++] = *rd;
    }
    r->n_rds = keep;
    coord_assert(r->n_rds <= r->cfg.reads_max);
}
