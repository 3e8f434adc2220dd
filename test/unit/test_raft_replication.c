/* test_raft_replication.c -- scripted tests of coordd/raft's log
 * replication on the in-memory fixture: the commit rule (§3.6.2), the
 * leader's own persist (§10.2.1), follower commit bounds, conflict-only
 * truncation, fast backtracking, batching/pipelining limits, proposal
 * backpressure, the persist ABA race, and the known bugs 1, 2, 3, 4, 21
 * and 28 (core half) of the research brief §5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
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

static const struct raft_progress *prog_of(struct rfx *fx, uint64_t leader,
                                           uint64_t id,
                                           struct raft_status *st)
{
    rfx_status(fx, leader, st);
    for (uint32_t i = 0; i < st->n_progress; i++)
        if (st->progress[i].id == id)
            return &st->progress[i];
    return NULL;
}

static void forget_leader(struct rfx *fx, uint64_t id)
{
    rfx_crash(fx, id);
    rfx_restart(fx, id);
}

static void inject_append(struct rfx *fx, uint64_t from, uint64_t to,
                          uint64_t term, uint64_t prev, uint64_t prev_term,
                          uint64_t commit, const struct raft_entry *e,
                          uint32_t n)
{
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND;
    m.from = from;
    m.to = to;
    m.term = term;
    m.index = prev;
    m.log_term = prev_term;
    m.commit = commit;
    m.entries = e;
    m.n_entries = n;
    rfx_inject(fx, &m);
}

static void propose_n(struct rfx *fx, uint64_t id, int n)
{
    char buf[32];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "v%d", i);
        assert_int_equal(rfx_propose(fx, id, buf), 0);
    }
}

static void replicate_and_apply(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    propose_n(fx, 1, 20);
    rfx_stabilize(fx);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(rfx_commit(fx, id), 21);
        assert_int_equal(rfx_node(fx, id)->applied, 21);
        assert_int_equal(rfx_node(fx, id)->n_applied_normal, 20);
    }
    assert_int_equal(rfx_propose(fx, 2, "x"), COORD_ENOTLEADER);
}

/* §10.2.1: the leader's own entries count only once durable; a majority
 * of followers may commit without it, but the leader hands an entry to
 * its state machine only once its own copy is durable. */
static void leader_self_ack_after_persist(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    assert_int_equal(rfx_propose(fx, 1, "a"), 0);
    assert_int_equal(rfx_node(fx, 1)->last_propose_index, 2);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND);
    rfx_persist(fx, 2);
    rfx_deliver(fx, 2, 1, RAFT_MSG_APPEND_RESP);
    assert_int_equal(rfx_commit(fx, 1), 1); /* 2 alone is no quorum */
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    rfx_persist(fx, 3);
    rfx_deliver(fx, 3, 1, RAFT_MSG_APPEND_RESP);
    assert_int_equal(rfx_commit(fx, 1), 2);
    assert_int_equal(rfx_node(fx, 1)->applied, 1); /* not durable here */
    rfx_persist(fx, 1);
    assert_int_equal(rfx_node(fx, 1)->applied, 2);
}

/* Bug 28 (core half): a single node commits only after its own persist. */
static void bug28_single_node_commits_after_own_persist(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 1, 0, NULL);
    rfx_node(fx, 1)->auto_persist = true;
    rfx_tick(fx, 1, 20);
    assert_int_equal(rfx_leader(fx), 1);
    rfx_node(fx, 1)->auto_persist = false;
    assert_int_equal(rfx_propose(fx, 1, "a"), 0);
    assert_int_equal(rfx_commit(fx, 1), 1);
    rfx_crash(fx, 1); /* the write was never durable: it is gone, and it
                       * was never reported committed */
    rfx_restart(fx, 1);
    assert_int_equal(rfx_last(fx, 1), 1);
    rfx_node(fx, 1)->auto_persist = true;
    rfx_tick(fx, 1, 20);
    assert_int_equal(rfx_propose(fx, 1, "b"), 0);
    assert_int_equal(rfx_commit(fx, 1), 3);
    assert_int_equal(rfx_node(fx, 1)->applied, 3);
}

/* Bug 1, the Raft paper's Figure 8: an entry of an earlier term is not
 * committed by counting replicas; it may still be overwritten. */
static void bug01_figure8_commit_old_term_by_counting(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 5, 0, &cfg);
    fx->trace = getenv("RFX_TRACE") != NULL;
    rfx_elect(fx, 1);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    uint64_t t1 = term_of(fx, 1);
    /* S1 puts X at @2 on S2 only, then crashes */
    assert_int_equal(rfx_propose(fx, 1, "X"), 0);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND);
    rfx_persist(fx, 2);
    rfx_persist(fx, 1);
    rfx_crash(fx, 1);
    rfx_drop(fx, 0, 0, 0);
    /* S5 wins the next term with S3 and S4 and keeps its no-op local */
    forget_leader(fx, 3);
    forget_leader(fx, 4);
    rfx_isolate(fx, 2, true);
    rfx_tick(fx, 5, 20);
    rfx_stabilize_drop(fx, 5, 0, RAFT_MSG_APPEND);
    assert_int_equal(rfx_leader(fx), 5);
    rfx_stabilize(fx);
    assert_int_equal(rfx_term_at(fx, 5, 2), term_of(fx, 5));
    rfx_crash(fx, 5);
    rfx_drop(fx, 0, 0, 0);
    rfx_isolate(fx, 2, false);
    /* S1 restarts and wins a later term with S2 and S3 */
    rfx_restart(fx, 1);
    forget_leader(fx, 2);
    forget_leader(fx, 3);
    rfx_cut(fx, 1, 4, true);
    for (int i = 0; i < 5 && rfx_leader(fx) != 1; i++) {
        rfx_tick(fx, 1, 20); /* term 2 is S5's: S3 refuses; then term 3 */
        rfx_stabilize_drop(fx, 1, 0, RAFT_MSG_APPEND);
    }
    assert_int_equal(rfx_leader(fx), 1);
    uint64_t t4 = term_of(fx, 1);
    assert_true(t4 > t1 + 1);
    /* S1 copies (t1, @2) to S3 (S2 has it): 3 of 5 hold it */
    struct raft_entry x = {.index = 2, .term = t1, .type = RAFT_ENTRY_NORMAL,
                           .len = 1, .data = (const uint8_t *)"X"};
    rfx_drop(fx, 1, 0, 0);
    inject_append(fx, 1, 3, t4, 1, t1, 1, &x, 1);
    inject_append(fx, 1, 2, t4, 1, t1, 1, &x, 1);
    rfx_deliver(fx, 1, 0, RAFT_MSG_APPEND);
    rfx_stabilize_drop(fx, 1, 0, RAFT_MSG_APPEND);
    assert_int_equal(rfx_term_at(fx, 3, 2), t1);
    /* a counting implementation would commit @2 now; Raft must not */
    for (uint64_t id = 1; id <= 3; id++)
        assert_true(rfx_commit(fx, id) < 2);
    /* S1 crashes; S5 can still win and overwrite @2 -- safely */
    rfx_crash(fx, 1);
    rfx_restart(fx, 5);
    forget_leader(fx, 3);
    rfx_cut(fx, 1, 4, false);
    for (int i = 0; i < 5 && rfx_leader(fx) != 5; i++) {
        rfx_tick(fx, 5, 20); /* term 3 was S1's: refused; then term 4 */
        rfx_stabilize(fx);
    }
    rfx_tick(fx, 5, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_leader(fx), 5);
    assert_int_not_equal(rfx_term_at(fx, 3, 2), t1);
    assert_int_not_equal(rfx_term_at(fx, 2, 2), t1);
}

/* Bug 1, second half: once a current-term entry reaches a majority, the
 * earlier entries commit with it. */
static void commit_old_entries_with_current_term_entry(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 3, true);
    propose_n(fx, 1, 3);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND); /* 2 gets them, no acks */
    rfx_persist(fx, 2);
    rfx_drop(fx, 0, 0, 0);
    rfx_crash(fx, 1);
    rfx_isolate(fx, 3, false);
    forget_leader(fx, 3);
    rfx_elect(fx, 2);
    rfx_tick(fx, 2, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 2), 5); /* 1..4 old, 5 = no-op */
    assert_int_equal(rfx_node(fx, 3)->applied, 5);
}

/* Bug 2: the follower commits min(leaderCommit, last index verified by
 * this message) and never applies its stale entry. */
static void bug02_follower_commit_bounded_by_verified_index(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    propose_n(fx, 1, 8);
    rfx_stabilize(fx);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 3), 9);
    /* 1 sends @10 to 3 before its own persist, then crashes */
    assert_int_equal(rfx_propose(fx, 1, "stale"), 0);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    rfx_persist(fx, 3);
    rfx_crash(fx, 1);
    rfx_restart(fx, 1);
    rfx_drop(fx, 0, 0, 0);
    assert_int_equal(rfx_last(fx, 1), 9);
    rfx_cut(fx, 2, 3, true);
    rfx_elect(fx, 2); /* 2's no-op is @10 in the new term */
    uint64_t t = term_of(fx, 2);
    assert_int_equal(rfx_term_at(fx, 3, 10), term_of(fx, 3) < t ? 1 : 1);
    /* an empty APPEND: prev (9, 1) matches, leader commit 11 */
    inject_append(fx, 2, 3, t, 9, 1, 11, NULL, 0);
    rfx_deliver(fx, 2, 3, RAFT_MSG_APPEND);
    assert_int_equal(rfx_commit(fx, 3), 9);
    rfx_persist(fx, 3);
    assert_int_equal(rfx_node(fx, 3)->applied, 9);
}

/* Bug 3: truncate on a real conflict only. */
static void bug03_conflict_truncation(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    struct raft_entry e[5];
    memset(e, 0, sizeof(e));
    uint64_t terms[5] = {1, 1, 1, 2, 2};
    for (int i = 0; i < 5; i++) {
        e[i].index = (uint64_t)i + 1;
        e[i].term = terms[i];
        e[i].type = RAFT_ENTRY_NORMAL;
    }
    inject_append(fx, 1, 3, 1, 0, 0, 0, e, 3);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    inject_append(fx, 2, 3, 2, 3, 1, 0, e + 3, 2);
    rfx_deliver(fx, 2, 3, RAFT_MSG_APPEND);
    rfx_persist(fx, 3);
    assert_int_equal(rfx_last(fx, 3), 5);
    struct raft_entry c = {.index = 4, .term = 3, .type = RAFT_ENTRY_NORMAL};
    inject_append(fx, 1, 3, 3, 3, 1, 0, &c, 1);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    assert_int_equal(rfx_last(fx, 3), 4);
    struct rfx_node *n3 = rfx_node(fx, 3);
    assert_int_equal(n3->n_batches, 1);
    assert_int_equal(n3->batches[0].truncate_from, 4);
    rfx_persist(fx, 3);
    assert_int_equal(n3->n_log, 4);
    assert_int_equal(rfx_term_at(fx, 3, 4), 3);
    /* an old, reordered APPEND carrying a prefix truncates nothing */
    rfx_drop(fx, 0, 0, 0);
    inject_append(fx, 1, 3, 3, 0, 0, 0, e, 2);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    assert_int_equal(rfx_last(fx, 3), 4);
    assert_int_equal(n3->n_batches, 0);
    struct rfx_msg *r = rfx_find(fx, 3, 1, RAFT_MSG_APPEND_RESP);
    assert_non_null(r);
    assert_false(r->m.reject);
    assert_int_equal(r->m.index, 2);
}

/* Bug 4: stale or duplicated responses are ignored; next never drops
 * below match + 1. */
static void bug04_stale_append_responses(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    propose_n(fx, 1, 5);
    rfx_stabilize(fx);
    struct raft_status st;
    const struct raft_progress *p = prog_of(fx, 1, 2, &st);
    assert_int_equal(p->match, 6);
    assert_int_equal(p->state, 2);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND_RESP;
    m.from = 2;
    m.to = 1;
    m.term = term_of(fx, 1);
    m.reject = true;
    m.index = 3; /* an old rejection of prev 3 */
    m.hint_index = 1;
    m.hint_term = 1;
    rfx_inject(fx, &m);
    m.reject = false;
    m.index = 4; /* an old, duplicated success */
    rfx_inject(fx, &m);
    rfx_deliver(fx, 2, 1, RAFT_MSG_APPEND_RESP);
    p = prog_of(fx, 1, 2, &st);
    assert_int_equal(p->match, 6);
    assert_int_equal(p->next, 7);
    assert_int_equal(p->state, 2);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_APPEND), 0);
}

/* Fast backtracking (§3.5): a follower with a long divergent tail is
 * repaired in a few round trips, not one per entry. */
static void fast_backtracking_by_term(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    fx->trace = getenv("RFX_TRACE") != NULL;
    rfx_elect(fx, 3);
    rfx_isolate(fx, 3, true);
    propose_n(fx, 3, 50); /* uncommitted tail on 3 */
    rfx_persist(fx, 3);
    rfx_drop(fx, 0, 0, 0);
    forget_leader(fx, 1);
    forget_leader(fx, 2);
    rfx_elect(fx, 1);
    propose_n(fx, 1, 20);
    rfx_stabilize(fx);
    forget_leader(fx, 1); /* a new term: probing starts at the end */
    forget_leader(fx, 2);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 3, false);
    forget_leader(fx, 3);
    uint32_t rejects = 0;
    rfx_tick(fx, 1, 1);
    for (int i = 0; i < 200 && fx->n_net > 0; i++) {
        rfx_persist_all(fx);
        for (uint32_t k = 0; k < fx->n_net; k++)
            rejects += fx->net[k].m.type == RAFT_MSG_APPEND_RESP &&
                       fx->net[k].m.from == 3 && fx->net[k].m.reject;
        rfx_deliver(fx, 0, 0, 0);
    }
    rfx_stabilize(fx);
    assert_int_equal(rejects, 1); /* 50 divergent entries, one round trip */
    assert_int_equal(rfx_last(fx, 3), rfx_last(fx, 1));
    assert_int_equal(rfx_term_at(fx, 3, 30), rfx_term_at(fx, 1, 30));
}

/* Pipelining: at most inflight_max APPENDs in flight, each within the
 * entry and byte limits; a rejection drops the follower to probe. */
static void pipelining_respects_limits(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    propose_n(fx, 1, 100);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_APPEND), 4);
    for (uint32_t i = 0; i < fx->n_net; i++)
        assert_true(fx->net[i].m.n_entries <= 8);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 1), 101);
    /* bytes: one big entry per message */
    char big[3000];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(rfx_propose(fx, 1, big), 0);
    struct rfx_msg *m = rfx_find(fx, 1, 2, RAFT_MSG_APPEND);
    assert_non_null(m);
    assert_int_equal(m->m.n_entries, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 1), 104);
}

static void proposals_bounded_by_uncommitted_bytes(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.uncommitted_bytes_max = 10;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    rfx_isolate(fx, 1, true);
    assert_int_equal(rfx_propose(fx, 1, "12345"), 0);
    assert_int_equal(rfx_propose(fx, 1, "12345"), 0);
    uint64_t last = rfx_last(fx, 1);
    assert_int_equal(rfx_propose(fx, 1, "1"), COORD_EAGAIN);
    assert_int_equal(rfx_last(fx, 1), last); /* refused: no change */
    rfx_isolate(fx, 1, false);
    rfx_stabilize(fx);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_propose(fx, 1, "1"), 0);
}

static void proposals_bounded_by_log_capacity(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.log_entries_max = 16;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    int rc = 0, ok = 0;
    while ((rc = rfx_propose(fx, 1, "e")) == 0)
        ok++;
    assert_int_equal(rc, COORD_EAGAIN);
    assert_int_equal(ok, 15); /* 16 slots, one holds the no-op */
    assert_true(rfx_node(fx, 1)->want_snapshot);
    rfx_stabilize(fx);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_snapshot(fx, 1), 0);
    assert_int_equal(rfx_propose(fx, 1, "e"), 0);
}

/* A log filled by proposals that never committed still takes the next
 * leader's no-op (a reserve past log_entries_max), so it can commit them
 * (found by the simulator: a full log wedged a cluster). */
static void full_uncommitted_log_still_takes_noop(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.log_entries_max = 16;
    cfg.inflight_max = 32;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    while (rfx_propose(fx, 1, "e") == 0)
        ;
    /* everyone stores them, nobody learns they are committed */
    rfx_stabilize_drop(fx, 0, 1, 0);
    for (uint64_t id = 1; id <= 3; id++) {
        rfx_crash(fx, id);
        rfx_restart(fx, id);
        assert_int_equal(rfx_last(fx, id), 16);
        assert_int_equal(rfx_commit(fx, id), 0);
    }
    rfx_elect(fx, 2);
    rfx_tick(fx, 2, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_last(fx, 2), 17);
    assert_int_equal(rfx_commit(fx, 2), 17);
    assert_int_equal(rfx_node(fx, 3)->applied, 17);
    assert_int_equal(rfx_propose(fx, 2, "x"), COORD_EAGAIN);
    assert_int_equal(rfx_snapshot(fx, 2), 0);
    assert_int_equal(rfx_propose(fx, 2, "x"), 0);
}

/* Every leadership that ends before its no-op commits leaves that no-op in
 * every log, and nothing can remove it. A log already full of uncommitted
 * proposals must survive a run of such leaderships and still commit when
 * one finally lasts. The simulator wedged here (seed 11643, 50000 steps)
 * when the reserve was a fixed 16 slots: the leader's no-op no longer fit,
 * and without an entry of its own term it can never commit the rest. */
static void full_log_survives_failed_leaderships(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.log_entries_max = 128;
    cfg.inflight_max = 256;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    while (rfx_propose(fx, 1, "e") == 0)
        ;
    rfx_stabilize_drop(fx, 0, 1, 0); /* stored everywhere, never acked */
    assert_int_equal(rfx_last(fx, 3), 128);
    for (int round = 0; round < 24; round++) {
        for (uint64_t id = 1; id <= 3; id++) { /* nobody knows commit */
            rfx_crash(fx, id);
            rfx_restart(fx, id);
        }
        for (int i = 0; i < 100 && rfx_role(fx, 1) == RAFT_FOLLOWER; i++)
            rfx_tick(fx, 1, 1);
        /* elected; its no-op reaches both followers, no ack returns */
        rfx_stabilize_drop(fx, 0, 1, RAFT_MSG_APPEND_RESP);
        assert_int_equal(rfx_role(fx, 1), RAFT_LEADER);
        assert_int_equal(rfx_last(fx, 2), 129 + (uint64_t)round);
        assert_int_equal(rfx_commit(fx, 1), 0);
    }
    for (uint64_t id = 1; id <= 3; id++) {
        rfx_crash(fx, id);
        rfx_restart(fx, id);
    }
    rfx_elect(fx, 2); /* this leadership lasts */
    rfx_tick(fx, 2, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_last(fx, 2), 153);
    for (uint64_t id = 1; id <= 3; id++)
        assert_int_equal(rfx_commit(fx, id), 153);
}

/* Pipelined APPENDs lost silently: the window shows no progress for an
 * election timeout, the leader probes again from match and repairs the
 * follower. A slow link whose acks arrive later than a heartbeat interval
 * is not mistaken for loss (found by the simulator). */
static void lost_pipelined_appends_recovered(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    propose_n(fx, 1, 3);
    rfx_drop(fx, 1, 2, RAFT_MSG_APPEND);
    rfx_stabilize(fx);
    for (int i = 0; i < 5; i++) {
        rfx_tick(fx, 1, 1);
        rfx_stabilize(fx);
    }
    struct raft_status st;
    const struct raft_progress *p = prog_of(fx, 1, 2, &st);
    assert_int_equal(p->state, 2); /* still trusting the window */
    assert_true(rfx_last(fx, 2) < rfx_last(fx, 1));
    for (int i = 0; i < 10; i++) {
        rfx_tick(fx, 1, 1);
        rfx_stabilize(fx);
    }
    assert_int_equal(rfx_last(fx, 2), rfx_last(fx, 1));
    assert_int_equal(rfx_node(fx, 2)->applied, rfx_commit(fx, 1));
    p = prog_of(fx, 1, 2, &st);
    assert_int_equal(p->state, 2);
}

/* The transport reports a lost link: replicate drops to probe at once. */
static void unreachable_drops_to_probe(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    struct raft_status st;
    assert_int_equal(prog_of(fx, 1, 3, &st)->state, 2);
    struct raft_event ev = {.type = RAFT_EV_UNREACHABLE};
    ev.unreachable.peer = 3;
    rfx_step(fx, 1, &ev);
    assert_int_equal(prog_of(fx, 1, 3, &st)->state, 1);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    assert_int_equal(prog_of(fx, 1, 3, &st)->state, 2);
}

/* Heartbeats carry min(match, commit) so a lagging follower never commits
 * what it has not verified. */
static void heartbeat_commit_capped_by_match(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    fx->trace = getenv("RFX_TRACE") != NULL;
    rfx_elect(fx, 1);
    rfx_isolate(fx, 3, true);
    propose_n(fx, 1, 5);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 1), 6);
    rfx_isolate(fx, 3, false);
    rfx_drop(fx, 0, 0, 0);
    rfx_tick(fx, 1, 1);
    struct rfx_msg *hb = rfx_find(fx, 1, 3, RAFT_MSG_HEARTBEAT);
    assert_non_null(hb);
    assert_int_equal(hb->m.commit, 1);
    hb = rfx_find(fx, 1, 2, RAFT_MSG_HEARTBEAT);
    assert_int_equal(hb->m.commit, 6);
    rfx_stabilize(fx);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 3), 6);
}

/* A commit notice (a heartbeat with RAFT_CTX_NOTICE, sent as the commit
 * moves) tells a caught-up follower the commit at once and is not
 * answered; the tick's heartbeats carry the read round and are. */
static void commit_notice_not_answered(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_propose(fx, 1, "a"), 0);
    rfx_persist(fx, 1);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    rfx_persist(fx, 2);
    rfx_persist(fx, 3);
    rfx_deliver(fx, 2, 1, RAFT_MSG_APPEND_RESP);
    assert_int_equal(rfx_commit(fx, 1), 2);
    for (uint64_t id = 2; id <= 3; id++) {
        struct rfx_msg *hb = rfx_find(fx, 1, id, RAFT_MSG_HEARTBEAT);
        assert_non_null(hb);
        assert_int_equal(hb->m.ctx, RAFT_CTX_NOTICE);
        assert_int_equal(hb->m.commit, id == 2 ? 2 : 1); /* match: 2, 1 */
    }
    assert_int_equal(rfx_deliver(fx, 1, 2, RAFT_MSG_HEARTBEAT), 1);
    assert_int_equal(rfx_commit(fx, 2), 2);
    assert_int_equal(rfx_count(fx, 2, 1, RAFT_MSG_HEARTBEAT_RESP), 0);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 3), 2);
    rfx_tick(fx, 1, 1);
    struct rfx_msg *hb = rfx_find(fx, 1, 2, RAFT_MSG_HEARTBEAT);
    assert_non_null(hb);
    assert_int_not_equal(hb->m.ctx, RAFT_CTX_NOTICE);
    assert_int_equal(rfx_deliver(fx, 1, 2, RAFT_MSG_HEARTBEAT), 1);
    assert_int_equal(rfx_count(fx, 2, 1, RAFT_MSG_HEARTBEAT_RESP), 1);
}

/* A cluster of n voters (+ learners) with pair commit on, leader 1. */
static void pair_cluster(struct rfx *fx, uint32_t voters, uint32_t learners)
{
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pair_commit = true;
    rfx_init(fx, voters, learners, &cfg);
    rfx_elect(fx, 1);
    rfx_stabilize(fx);
}

/* Pair commit: a follower told the leader's durable index commits (and
 * applies) an entry as soon as its own copy is durable, before its ack
 * reaches the leader; the leader then sends it no commit notice. */
static void pair_commit_follower_commits_first(void **state)
{
    struct rfx *fx = *state;
    pair_cluster(fx, 3, 0);
    uint64_t c0 = rfx_commit(fx, 1);
    assert_int_equal(rfx_propose(fx, 1, "a"), 0);
    uint64_t a = c0 + 1;
    /* nothing told while the leader's own write is in flight */
    assert_int_equal(rfx_find(fx, 1, 2, RAFT_MSG_APPEND)->m.durable, 0);
    rfx_persist(fx, 1); /* the leader's copy is durable: it says so */
    for (uint64_t id = 2; id <= 3; id++) {
        struct rfx_msg *hb = rfx_find(fx, 1, id, RAFT_MSG_HEARTBEAT);
        assert_non_null(hb);
        assert_int_equal(hb->m.ctx, RAFT_CTX_NOTICE);
        assert_int_equal(hb->m.durable, a);
    }
    assert_int_equal(rfx_commit(fx, 1), c0);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND);
    rfx_deliver(fx, 1, 2, RAFT_MSG_HEARTBEAT);
    assert_int_equal(rfx_commit(fx, 2), c0); /* its own copy is not */
    rfx_persist(fx, 2);
    assert_int_equal(rfx_commit(fx, 2), a);
    assert_int_equal(rfx_node(fx, 2)->applied, a);
    assert_int_equal(rfx_commit(fx, 1), c0); /* the ack is still out */
    assert_int_equal(rfx_deliver(fx, 2, 1, RAFT_MSG_APPEND_RESP), 1);
    assert_int_equal(rfx_commit(fx, 1), a);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_HEARTBEAT), 0);
    /* the slower follower too needs no further message */
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    rfx_deliver(fx, 1, 3, RAFT_MSG_HEARTBEAT);
    rfx_persist(fx, 3);
    assert_int_equal(rfx_commit(fx, 3), a);
    assert_int_equal(rfx_deliver(fx, 3, 1, RAFT_MSG_APPEND_RESP), 1);
    assert_int_equal(rfx_count(fx, 1, 3, RAFT_MSG_HEARTBEAT), 0);
}

/* The leader's read index covers every durable index it told: a follower
 * may have answered a write up to it before the leader could commit. */
static void pair_commit_read_index_covers_durable(void **state)
{
    struct rfx *fx = *state;
    pair_cluster(fx, 3, 0);
    uint64_t c0 = rfx_commit(fx, 1);
    assert_int_equal(rfx_propose(fx, 1, "a"), 0);
    rfx_persist(fx, 1);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND);
    rfx_deliver(fx, 1, 2, RAFT_MSG_HEARTBEAT);
    rfx_persist(fx, 2);
    assert_int_equal(rfx_commit(fx, 2), c0 + 1);
    rfx_drop(fx, 2, 1, RAFT_MSG_APPEND_RESP); /* the leader never learns */
    rfx_read(fx, 1, 9);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    rfx_deliver(fx, 1, 3, RAFT_MSG_HEARTBEAT);
    rfx_deliver(fx, 1, 3, RAFT_MSG_HEARTBEAT); /* the read round's */
    rfx_deliver(fx, 3, 1, RAFT_MSG_HEARTBEAT_RESP);
    struct rfx_node *n1 = rfx_node(fx, 1);
    assert_int_equal(n1->n_reads, 1);
    assert_int_equal(n1->reads[0].status, 0);
    assert_int_equal(n1->reads[0].index, c0 + 1);
    assert_int_equal(rfx_commit(fx, 1), c0);
}

/* Pair commit needs the pair to be a quorum of a committed configuration:
 * not with 5 voters, not to a learner, not while a change is in flight. */
static void pair_commit_only_where_pair_is_quorum(void **state)
{
    struct rfx *fx = *state;
    pair_cluster(fx, 5, 0);
    assert_int_equal(rfx_propose(fx, 1, "a"), 0);
    rfx_persist(fx, 1);
    assert_int_equal(rfx_find(fx, 1, 2, RAFT_MSG_APPEND)->m.durable, 0);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_HEARTBEAT), 0);
    rfx_close(fx);
    pair_cluster(fx, 3, 1);
    assert_int_equal(rfx_propose(fx, 1, "a"), 0);
    rfx_persist(fx, 1);
    assert_int_not_equal(rfx_find(fx, 1, 2, RAFT_MSG_HEARTBEAT)->m.durable,
                         0);
    assert_int_equal(rfx_count(fx, 1, 4, RAFT_MSG_HEARTBEAT), 0);
    rfx_stabilize(fx);
    struct raft_event ev = {.type = RAFT_EV_CONF_CHANGE};
    ev.conf.type = RAFT_CONF_PROMOTE;
    ev.conf.id = 4;
    assert_int_equal(rfx_step(fx, 1, &ev), 0);
    assert_int_equal(rfx_find(fx, 1, 2, RAFT_MSG_APPEND)->m.durable, 0);
    rfx_persist(fx, 1);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_HEARTBEAT), 0);
}

/* A follower commits by pair only an entry of the term: an older entry
 * the leader holds durably may still be lost (Figure 8). */
static void pair_commit_needs_entry_of_term(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pair_commit = true;
    rfx_init(fx, 3, 0, &cfg);
    /* 3 holds (1, t1), uncommitted; leader 2 of term 2 says it is durable
     * up to 1 but has not yet sent its own no-op */
    struct raft_entry a = {.index = 1, .term = 1, .type = RAFT_ENTRY_NORMAL};
    inject_append(fx, 1, 3, 1, 0, 0, 0, &a, 1);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND);
    rfx_persist(fx, 3);
    struct raft_msg hb = {.type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 3,
                          .term = 2, .commit = 0, .durable = 1,
                          .ctx = RAFT_CTX_NOTICE};
    rfx_inject(fx, &hb);
    rfx_deliver(fx, 2, 3, RAFT_MSG_HEARTBEAT);
    assert_int_equal(rfx_commit(fx, 3), 0);
    /* its own term's entry at 2, durable on both: 1 commits with it */
    struct raft_entry b = {.index = 2, .term = 2, .type = RAFT_ENTRY_NOOP};
    inject_append(fx, 2, 3, 2, 1, 1, 0, &b, 1);
    rfx_deliver(fx, 2, 3, RAFT_MSG_APPEND);
    rfx_persist(fx, 3);
    assert_int_equal(rfx_commit(fx, 3), 0);
    hb.durable = 2;
    rfx_inject(fx, &hb);
    rfx_deliver(fx, 2, 3, RAFT_MSG_HEARTBEAT);
    assert_int_equal(rfx_commit(fx, 3), 2);
}

/* Bug 21: an ack of an older batch must not mark a newer entry at the
 * same index stable (the (index, term) ABA race). */
static void bug21_persist_ack_aba_race(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    struct raft_entry a = {.index = 1, .term = 1, .type = RAFT_ENTRY_NORMAL};
    inject_append(fx, 1, 3, 1, 0, 0, 0, &a, 1);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND); /* batch A: (1, t1) */
    struct raft_entry b = {.index = 1, .term = 2, .type = RAFT_ENTRY_NORMAL};
    inject_append(fx, 2, 3, 2, 0, 0, 1, &b, 1);
    rfx_deliver(fx, 2, 3, RAFT_MSG_APPEND); /* batch B: (1, t2) */
    struct rfx_node *n3 = rfx_node(fx, 3);
    assert_int_equal(n3->n_batches, 2);
    assert_int_equal(n3->batches[1].truncate_from, 1);
    rfx_persist_n(fx, 3, 1); /* only A is durable */
    /* nothing acknowledges (1, t2) to leader 2, nothing is applied */
    assert_int_equal(rfx_count(fx, 3, 2, RAFT_MSG_APPEND_RESP), 0);
    assert_int_equal(n3->applied, 0);
    rfx_persist_n(fx, 3, 1); /* B */
    struct rfx_msg *r = rfx_find(fx, 3, 2, RAFT_MSG_APPEND_RESP);
    assert_non_null(r);
    assert_int_equal(r->m.index, 1);
    assert_int_equal(n3->applied, 1);
}

static void append_response_held_until_durable(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    assert_int_equal(rfx_propose(fx, 1, "a"), 0);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND);
    assert_int_equal(rfx_count(fx, 2, 1, RAFT_MSG_APPEND_RESP), 0);
    rfx_persist(fx, 2);
    assert_int_equal(rfx_count(fx, 2, 1, RAFT_MSG_APPEND_RESP), 1);
}

/* The core can be restarted from its durable state at any point. */
static void restart_restores_log_and_hard_state(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    propose_n(fx, 1, 10);
    rfx_stabilize(fx);
    for (uint64_t id = 1; id <= 3; id++) {
        rfx_crash(fx, id);
        rfx_restart(fx, id);
        assert_int_equal(rfx_last(fx, id), 11);
        assert_int_equal(term_of(fx, id), 1);
    }
    rfx_elect(fx, 2);
    rfx_tick(fx, 2, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 3), 12);
    assert_int_equal(rfx_node(fx, 3)->applied, 12);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, rfx_cmocka_setup, rfx_cmocka_teardown)
    const struct CMUnitTest tests[] = {
        T(replicate_and_apply),
        T(leader_self_ack_after_persist),
        T(bug28_single_node_commits_after_own_persist),
        T(bug01_figure8_commit_old_term_by_counting),
        T(commit_old_entries_with_current_term_entry),
        T(bug02_follower_commit_bounded_by_verified_index),
        T(bug03_conflict_truncation),
        T(bug04_stale_append_responses),
        T(fast_backtracking_by_term),
        T(pipelining_respects_limits),
        T(proposals_bounded_by_uncommitted_bytes),
        T(proposals_bounded_by_log_capacity),
        T(full_uncommitted_log_still_takes_noop),
        T(full_log_survives_failed_leaderships),
        T(heartbeat_commit_capped_by_match),
        T(commit_notice_not_answered),
        T(pair_commit_follower_commits_first),
        T(pair_commit_read_index_covers_durable),
        T(pair_commit_only_where_pair_is_quorum),
        T(pair_commit_needs_entry_of_term),
        T(lost_pipelined_appends_recovered),
        T(unreachable_drops_to_probe),
        T(bug21_persist_ack_aba_race),
        T(append_response_held_until_durable),
        T(restart_restores_log_and_hard_state),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
