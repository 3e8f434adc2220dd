/* test_raft_election.c -- scripted tests of coordd/raft's election rules on
 * the in-memory fixture (test/lib/raft_fixture.h): randomized timeouts,
 * durable term/vote before vote responses, pre-vote, check-quorum, the
 * lease guard, and the known bugs about elections (research brief §5:
 * 5, 6, 11, 12, 15). Every interleaving is explicit; no clocks, no sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "coord.h"
#include "coordd/raft/raft.h"
#include "libcoord/shared/alloc.h"
#include "test/lib/raft_fixture.h"

static uint64_t term_of(struct rfx *fx, uint64_t id)
{
    struct raft_status st;
    rfx_status(fx, id, &st);
    return st.term;
}

static void init_rejects_bad_config(void **state)
{
    (void)state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 0);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.snap.conf.n = 1;
    rs.snap.conf.members[0].id = 1;
    rs.snap.conf.members[0].role = RAFT_VOTER;
    struct raft *r = NULL;
    assert_int_equal(raft_init(&r, &cfg, &rs), COORD_EINVAL); /* id 0 */
    cfg.id = 1;
    rs.snap.conf.members[0].role = RAFT_LEARNER; /* no voter */
    assert_int_equal(raft_init(&r, &cfg, &rs), COORD_EINVAL);
    rs.snap.conf.members[0].role = RAFT_VOTER;
    assert_int_equal(raft_init(&r, &cfg, &rs), 0);
    assert_non_null(r);
    raft_close(r);
}

/* The timeout is drawn in [e, 2e): nobody campaigns before e ticks, and
 * someone does before 2e. */
static void timeout_is_randomized_in_range(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_tick(fx, 1, 9);
    assert_int_equal(rfx_role(fx, 1), RAFT_FOLLOWER);
    assert_int_equal(rfx_count(fx, 1, 0, RAFT_MSG_PREVOTE), 0);
    rfx_tick(fx, 1, 10);
    assert_int_equal(rfx_role(fx, 1), RAFT_PRECANDIDATE);
    assert_int_equal(rfx_count(fx, 1, 0, RAFT_MSG_PREVOTE), 2);
    /* pre-vote changes no durable state */
    assert_int_equal(term_of(fx, 1), 0);
    assert_int_equal(rfx_node(fx, 1)->n_batches, 0);
}

static void three_nodes_elect_one_leader(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    assert_int_equal(rfx_leader(fx), 1);
    assert_int_equal(term_of(fx, 1), 1);
    assert_int_equal(rfx_role(fx, 2), RAFT_FOLLOWER);
    assert_int_equal(rfx_role(fx, 3), RAFT_FOLLOWER);
    /* the no-op of term 1 is committed everywhere after a heartbeat */
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(rfx_commit(fx, id), 1);
        assert_int_equal(rfx_node(fx, id)->applied, 1);
        assert_int_equal(rfx_node(fx, id)->term, 1);
    }
    assert_int_equal(rfx_node(fx, 2)->vote, 1);
}

static void single_node_elects_itself_after_persist(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 1, 0, NULL);
    rfx_tick(fx, 1, 20);
    /* pre-vote won at once; the real vote waits for term+vote durable */
    assert_int_equal(rfx_role(fx, 1), RAFT_CANDIDATE);
    rfx_persist(fx, 1);
    assert_int_equal(rfx_role(fx, 1), RAFT_LEADER);
    /* the no-op commits only after the leader's own persist (etcd #14370) */
    assert_int_equal(rfx_commit(fx, 1), 0);
    rfx_persist(fx, 1);
    assert_int_equal(rfx_commit(fx, 1), 1);
    assert_int_equal(rfx_node(fx, 1)->applied, 1);
}

/* A vote response leaves only after term and vote are durable, in one
 * batch (bug 5: crash between term and vote writes cannot happen). */
static void bug05_vote_response_held_until_hard_state_durable(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 3, 0, &cfg);
    rfx_tick(fx, 1, 20);
    assert_int_equal(rfx_role(fx, 1), RAFT_CANDIDATE);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_VOTE), 1);
    rfx_deliver(fx, 1, 2, RAFT_MSG_VOTE);
    /* node 2 granted in memory but holds the response */
    assert_int_equal(rfx_count(fx, 2, 1, RAFT_MSG_VOTE_RESP), 0);
    struct rfx_node *n2 = rfx_node(fx, 2);
    assert_int_equal(n2->n_batches, 1);
    assert_true(n2->batches[0].hs);
    assert_int_equal(n2->batches[0].term, 1);
    assert_int_equal(n2->batches[0].vote, 1);
    /* crash before the batch is durable: the vote is gone with it and
     * nothing was promised */
    rfx_crash(fx, 2);
    rfx_restart(fx, 2);
    assert_int_equal(term_of(fx, 2), 0);
    rfx_deliver(fx, 1, 3, RAFT_MSG_VOTE);
    rfx_persist(fx, 3);
    assert_int_equal(rfx_count(fx, 3, 1, RAFT_MSG_VOTE_RESP), 1);
    rfx_persist(fx, 1);
    rfx_deliver(fx, 3, 1, RAFT_MSG_VOTE_RESP);
    assert_int_equal(rfx_role(fx, 1), RAFT_LEADER);
}

/* Bug 6: the vote survives a same-term role change. */
static void bug06_vote_not_reset_on_same_term_step_down(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 3, 0, &cfg);
    rfx_tick(fx, 1, 20);
    rfx_deliver(fx, 1, 2, RAFT_MSG_VOTE);
    rfx_persist(fx, 2);
    assert_int_equal(rfx_node(fx, 2)->vote, 1);
    /* node 3 campaigns in the same term 1 (it missed 1's request) */
    rfx_drop(fx, 1, 3, 0);
    rfx_tick(fx, 3, 20);
    assert_int_equal(term_of(fx, 3), 1);
    assert_int_equal(rfx_role(fx, 3), RAFT_CANDIDATE);
    rfx_deliver(fx, 3, 2, RAFT_MSG_VOTE);
    rfx_persist(fx, 2);
    struct rfx_msg *m = rfx_find(fx, 2, 3, RAFT_MSG_VOTE_RESP);
    assert_non_null(m);
    assert_true(m->m.reject);
    /* 2 then sees leader 1 in term 1 and becomes its follower: the vote
     * stays 1, and 3 is still refused */
    rfx_persist(fx, 1);
    rfx_deliver(fx, 2, 1, RAFT_MSG_VOTE_RESP);
    assert_int_equal(rfx_role(fx, 1), RAFT_LEADER);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND);
    struct raft_status st;
    rfx_status(fx, 2, &st);
    assert_int_equal(st.vote, 1);
    assert_int_equal(st.leader, 1);
    rfx_drop(fx, 0, 0, 0);
    rfx_persist(fx, 3); /* its own candidacy durable (else it waits) */
    rfx_tick(fx, 3, 40); /* 3 times out again: a new term, a new vote */
    assert_true(term_of(fx, 3) >= 2);
}

/* A node whose own persist is outstanding (here: the vote it granted)
 * does not start an election when its timer fires: that would abandon
 * the election its held response belongs to, and a disk stall longer
 * than the timeout would turn into split votes. Once the persist is
 * durable it campaigns after a fresh timeout. */
static void no_campaign_while_persist_outstanding(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 3, 0, &cfg);
    rfx_tick(fx, 1, 20);
    assert_int_equal(rfx_role(fx, 1), RAFT_CANDIDATE);
    rfx_deliver(fx, 1, 2, RAFT_MSG_VOTE); /* 2 grants; persist pending */
    assert_null(rfx_find(fx, 2, 1, RAFT_MSG_VOTE_RESP));
    rfx_drop(fx, 0, 0, 0);
    rfx_tick(fx, 2, 100); /* far past any timeout */
    assert_int_equal(rfx_role(fx, 2), RAFT_FOLLOWER);
    assert_int_equal(term_of(fx, 2), 1);
    rfx_persist(fx, 2); /* the grant leaves now */
    assert_non_null(rfx_find(fx, 2, 1, RAFT_MSG_VOTE_RESP));
    rfx_tick(fx, 2, 40);
    assert_int_equal(rfx_role(fx, 2), RAFT_CANDIDATE);
    assert_int_equal(term_of(fx, 2), 2);
}

/* A candidate with a quorum of other votes still waits for its own term
 * to be durable before it leads: otherwise a crash lets it lead the same
 * term twice with different logs (found by the simulator). */
static void candidate_leads_only_after_own_term_durable(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 5, 0, &cfg);
    rfx_tick(fx, 5, 20);
    assert_int_equal(rfx_role(fx, 5), RAFT_CANDIDATE);
    for (uint64_t id = 1; id <= 3; id++) {
        rfx_deliver(fx, 5, id, RAFT_MSG_VOTE);
        rfx_persist(fx, id);
        rfx_deliver(fx, id, 5, RAFT_MSG_VOTE_RESP);
    }
    assert_int_equal(rfx_role(fx, 5), RAFT_CANDIDATE); /* 3 of 5, but... */
    assert_int_equal(rfx_count(fx, 5, 0, RAFT_MSG_APPEND), 0);
    rfx_crash(fx, 5); /* ...term 1 was never durable on 5 */
    rfx_restart(fx, 5);
    assert_int_equal(term_of(fx, 5), 0);
    rfx_tick(fx, 5, 20);
    rfx_persist(fx, 5);
    assert_int_equal(rfx_role(fx, 5), RAFT_CANDIDATE);
    assert_int_equal(term_of(fx, 5), 1);
    rfx_deliver(fx, 5, 4, RAFT_MSG_VOTE);
    rfx_persist(fx, 4);
    rfx_deliver(fx, 4, 5, RAFT_MSG_VOTE_RESP);
    rfx_deliver(fx, 5, 1, RAFT_MSG_VOTE); /* 1 voted for 5 in term 1 */
    rfx_persist(fx, 1);
    rfx_deliver(fx, 1, 5, RAFT_MSG_VOTE_RESP);
    assert_int_equal(rfx_role(fx, 5), RAFT_LEADER);
}

static void candidate_steps_down_on_append_same_term(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 3, true);
    rfx_propose(fx, 1, "a");
    rfx_stabilize(fx);
    rfx_tick(fx, 3, 20);
    assert_int_equal(rfx_role(fx, 3), RAFT_CANDIDATE);
    assert_int_equal(term_of(fx, 3), 2);
    rfx_drop(fx, 0, 0, 0);
    rfx_isolate(fx, 3, false);
    /* 3's higher term deposes 1 on its next APPEND_RESP; someone with the
     * longer log wins term >= 2 (3 cannot: its log is behind) */
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    for (int i = 0; i < 10 && rfx_leader(fx) == 0; i++) {
        rfx_tick_all(fx, 5);
        rfx_stabilize(fx);
    }
    uint64_t l = rfx_leader(fx);
    assert_true(l == 1 || l == 2);
    assert_true(term_of(fx, l) >= 2);
}

/* Bug 11: C was isolated at a low term while A and B moved on; the leader
 * crashes as C rejoins. Pre-vote grants carry the request's term so the
 * pre-candidate counts them; a leader is elected. */
static void bug11_prevote_with_lower_term_node(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_isolate(fx, 3, true);
    rfx_elect(fx, 1);
    for (int t = 0; t < 4; t++) { /* raise terms of 1 and 2 */
        uint64_t l = rfx_leader(fx);
        rfx_crash(fx, l);
        rfx_restart(fx, l);
        rfx_elect(fx, l == 1 ? 2 : 1);
    }
    uint64_t high = term_of(fx, 1);
    assert_true(high >= 4);
    assert_int_equal(term_of(fx, 3), 0);
    uint64_t l = rfx_leader(fx);
    rfx_crash(fx, l);
    rfx_isolate(fx, 3, false);
    rfx_drop(fx, 0, 0, 0);
    uint64_t other = l == 1 ? 2 : 1;
    for (int i = 0; i < 20 && rfx_leader(fx) == 0; i++) {
        rfx_tick(fx, 3, 3);
        rfx_tick(fx, other, 3);
        rfx_stabilize(fx);
    }
    l = rfx_leader(fx);
    assert_int_not_equal(l, 0);
    assert_true(term_of(fx, l) > high);
}

/* Bug 12 / §4.2.3: a node cannot gather pre-votes while the voters hear
 * from a live leader; it can once they have not for an election timeout. */
static void bug12_prevote_and_check_quorum(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    rfx_cut(fx, 1, 3, true);
    rfx_tick(fx, 3, 20);
    assert_int_equal(rfx_role(fx, 3), RAFT_PRECANDIDATE);
    rfx_deliver(fx, 3, 2, RAFT_MSG_PREVOTE);
    /* 2 heard from 1 recently: the pre-vote is ignored, no response */
    assert_int_equal(rfx_count(fx, 2, 3, 0), 0);
    assert_int_equal(rfx_leader(fx), 1);
    /* 1 and 2 stay connected: 1 keeps its leadership */
    for (int i = 0; i < 5; i++) {
        rfx_tick(fx, 1, 5);
        rfx_tick(fx, 2, 5);
        rfx_tick(fx, 3, 5);
        rfx_stabilize(fx);
    }
    assert_int_equal(rfx_leader(fx), 1);
    assert_int_equal(term_of(fx, 2), 1);
    /* leader 1 dies: once 2 has not heard from it for an election
     * timeout, it grants 3's pre-vote and a new leader emerges */
    rfx_crash(fx, 1);
    for (int i = 0; i < 20 && rfx_leader(fx) == 0; i++) {
        rfx_tick(fx, 2, 3);
        rfx_tick(fx, 3, 3);
        rfx_stabilize(fx);
    }
    assert_int_not_equal(rfx_leader(fx), 0);
}

static uint64_t max_term(struct rfx *fx)
{
    uint64_t t = 0;
    for (uint32_t i = 0; i < fx->n; i++)
        if (fx->nodes[i].up && term_of(fx, fx->nodes[i].id) > t)
            t = term_of(fx, fx->nodes[i].id);
    return t;
}

static void run_rounds(struct rfx *fx, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        rfx_tick_all(fx, 1);
        rfx_stabilize(fx);
    }
}

/* Bug 13, the Cloudflare 2020 shape: 1-2-3 fully connected, 4 linked only
 * to 2, 5 only to 3. With pre-vote and check-quorum a leader among 1-3
 * emerges and terms stop churning. */
static void bug13_partial_partition_stable_leader(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 5, 0, NULL);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 4, true);
    rfx_isolate(fx, 5, true);
    rfx_cut(fx, 4, 2, false);
    rfx_cut(fx, 5, 3, false);
    run_rounds(fx, 100);
    uint64_t l = rfx_leader(fx);
    assert_true(l >= 1 && l <= 3);
    uint64_t t = max_term(fx);
    run_rounds(fx, 200);
    assert_int_equal(rfx_leader(fx), l);
    assert_int_equal(max_term(fx), t);
    assert_int_equal(rfx_propose(fx, l, "x"), 0);
    run_rounds(fx, 3);
    assert_int_equal(rfx_node(fx, 2)->applied, rfx_commit(fx, l));
}

/* Bug 14: node 1 can send but never receive. It cannot disturb the
 * leader the others keep. */
static void bug14_asymmetric_partition(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 2);
    for (uint64_t from = 2; from <= 3; from++)
        fx->cut[from][1] = true; /* one way: nothing reaches 1 */
    run_rounds(fx, 200);
    assert_int_equal(rfx_leader(fx), 2);
    assert_int_equal(term_of(fx, 2), 1);
    assert_int_equal(term_of(fx, 3), 1);
    assert_int_equal(rfx_propose(fx, 2, "x"), 0);
    run_rounds(fx, 3);
    assert_int_equal(rfx_node(fx, 3)->applied, rfx_commit(fx, 2));
}

/* A leader cut off from its quorum steps down within an election
 * timeout (check-quorum, bug 7's core half). */
static void check_quorum_isolated_leader_steps_down(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 5, 0, NULL);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 1, true);
    rfx_cut(fx, 1, 2, false); /* 1 still reaches 2: a minority */
    for (int i = 0; i < 25; i++) {
        rfx_tick(fx, 1, 1);
        rfx_stabilize(fx);
    }
    assert_int_equal(rfx_role(fx, 1), RAFT_FOLLOWER);
    /* nothing proposed there can commit */
    assert_int_equal(rfx_propose(fx, 1, "x"), COORD_ENOTLEADER);
}

/* Bug 15: a removed (or partitioned) server with a higher term cannot
 * depose a leader that heartbeats. */
static void bug15_removed_server_cannot_disrupt(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false; /* the worst case: real votes, rising terms */
    rfx_init(fx, 4, 0, &cfg);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 4, true);
    rfx_tick(fx, 4, 60);
    assert_true(term_of(fx, 4) >= 2);
    rfx_drop(fx, 0, 0, 0);
    rfx_isolate(fx, 4, false);
    rfx_tick(fx, 4, 20); /* campaigns again, connected now */
    rfx_deliver(fx, 4, 0, RAFT_MSG_VOTE);
    rfx_stabilize(fx);
    assert_int_equal(rfx_leader(fx), 1);
    assert_int_equal(term_of(fx, 2), 1);
    assert_int_equal(term_of(fx, 1), 1);
}

/* A candidate whose term fell behind learns the voter's term from the
 * refusal and wins next time (found by the simulator: two candidates
 * raced their terms forever). */
static void lower_term_vote_refused_with_term(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 3, 0, &cfg);
    rfx_isolate(fx, 2, true);
    for (int i = 0; i < 100; i++) { /* 2 runs up its term alone */
        rfx_tick(fx, 2, 1);
        rfx_persist(fx, 2);
    }
    uint64_t t2 = term_of(fx, 2);
    assert_true(t2 > 3);
    rfx_drop(fx, 0, 0, 0);
    rfx_isolate(fx, 2, false);
    rfx_crash(fx, 3);
    rfx_tick(fx, 1, 20); /* 1 campaigns with a lower term */
    assert_true(term_of(fx, 1) < t2);
    rfx_deliver(fx, 1, 2, RAFT_MSG_VOTE);
    rfx_persist(fx, 2);
    struct rfx_msg *r = rfx_find(fx, 2, 1, RAFT_MSG_VOTE_RESP);
    assert_non_null(r);
    assert_true(r->m.reject);
    assert_int_equal(r->m.term, t2);
    rfx_stabilize(fx);
    assert_int_equal(term_of(fx, 1), t2);
}

/* Voters refuse candidates whose log is behind (§5.4.1). */
static void vote_refused_to_stale_log(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 3, true);
    rfx_propose(fx, 1, "a");
    rfx_stabilize(fx);
    rfx_crash(fx, 1);
    rfx_crash(fx, 2); /* restarted: knows no leader, so it answers */
    rfx_restart(fx, 2);
    rfx_isolate(fx, 3, false);
    rfx_drop(fx, 0, 0, 0);
    rfx_tick(fx, 3, 20);
    rfx_deliver(fx, 3, 2, RAFT_MSG_VOTE);
    rfx_persist(fx, 2);
    struct rfx_msg *m = rfx_find(fx, 2, 3, RAFT_MSG_VOTE_RESP);
    assert_non_null(m);
    assert_true(m->m.reject);
}

/* A node with a higher term always answers a stale leader's heartbeat
 * with its term (even without pre-vote and check-quorum), so the stale
 * leader steps down and the node can rejoin (found by the simulator). */
static void stale_leader_learns_higher_term(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    cfg.check_quorum = false;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 3, true);
    rfx_propose(fx, 1, "a"); /* 3 misses it: it cannot win */
    rfx_stabilize(fx);
    rfx_tick(fx, 3, 60);
    assert_true(term_of(fx, 3) > 1);
    rfx_drop(fx, 0, 0, 0);
    rfx_isolate(fx, 3, false);
    rfx_tick(fx, 1, 1);
    rfx_deliver(fx, 1, 3, RAFT_MSG_HEARTBEAT);
    struct rfx_msg *r = rfx_find(fx, 3, 1, RAFT_MSG_APPEND_RESP);
    assert_non_null(r);
    assert_int_equal(r->m.term, term_of(fx, 3));
    rfx_deliver(fx, 3, 1, 0);
    assert_int_equal(rfx_role(fx, 1), RAFT_FOLLOWER);
    assert_int_equal(term_of(fx, 1), term_of(fx, 3));
    for (int i = 0; i < 10 && rfx_leader(fx) == 0; i++) {
        rfx_tick_all(fx, 5);
        rfx_stabilize(fx);
    }
    assert_int_not_equal(rfx_leader(fx), 3); /* 3's log is behind */
    assert_int_not_equal(rfx_leader(fx), 0);
}

static void trace_lines_are_emitted(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    fx->trace = false; /* callback runs; printing stays off */
    rfx_elect(fx, 2);
    assert_int_equal(rfx_leader(fx), 2);
    assert_string_equal(raft_role_name(RAFT_LEADER), "leader");
    assert_string_equal(raft_msg_name(RAFT_MSG_TIMEOUT_NOW), "TIMEOUT_NOW");
    assert_string_equal(raft_msg_name(99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_rejects_bad_config),
        cmocka_unit_test_setup_teardown(timeout_is_randomized_in_range,
                                        rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(three_nodes_elect_one_leader, rfx_cmocka_setup,
                                        rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(
            single_node_elects_itself_after_persist, rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(
            bug05_vote_response_held_until_hard_state_durable, rfx_cmocka_setup,
            rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(
            bug06_vote_not_reset_on_same_term_step_down, rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(
            no_campaign_while_persist_outstanding, rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(
            candidate_leads_only_after_own_term_durable, rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(
            candidate_steps_down_on_append_same_term, rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(bug11_prevote_with_lower_term_node,
                                        rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(bug12_prevote_and_check_quorum,
                                        rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(
            bug13_partial_partition_stable_leader, rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(bug14_asymmetric_partition, rfx_cmocka_setup,
                                        rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(
            check_quorum_isolated_leader_steps_down, rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(bug15_removed_server_cannot_disrupt,
                                        rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(lower_term_vote_refused_with_term,
                                        rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(vote_refused_to_stale_log, rfx_cmocka_setup,
                                        rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(stale_leader_learns_higher_term,
                                        rfx_cmocka_setup, rfx_cmocka_teardown),
        cmocka_unit_test_setup_teardown(trace_lines_are_emitted, rfx_cmocka_setup,
                                        rfx_cmocka_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
