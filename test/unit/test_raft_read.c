/* test_raft_read.c -- scripted tests of coordd/raft's ReadIndex (§6.4) and
 * leadership transfer (§3.10) on the in-memory fixture: batching, the
 * current-term-commit guard, unique round contexts, partitioned leaders,
 * follower forwarding, the reads_max bound, and the known bugs 7 (reads),
 * 8, 9 and 30 of the research brief §5.
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

static void forget_leader(struct rfx *fx, uint64_t id)
{
    rfx_crash(fx, id);
    rfx_restart(fx, id);
}

static void up_and_committed(struct rfx *fx, uint32_t n)
{
    rfx_init(fx, n, 0, NULL);
    rfx_elect(fx, 1);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
}

/* Reads that arrive while a round is in flight share the next one: one
 * heartbeat per follower confirms all of them. */
static void read_index_batched_round(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    struct rfx_node *n1 = rfx_node(fx, 1);
    rfx_read(fx, 1, 100);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_HEARTBEAT), 1);
    rfx_read(fx, 1, 101);
    rfx_read(fx, 1, 102);
    rfx_read(fx, 1, 103);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_HEARTBEAT), 1);
    assert_int_equal(n1->n_reads, 0);
    rfx_deliver(fx, 1, 2, RAFT_MSG_HEARTBEAT);
    rfx_deliver(fx, 2, 1, RAFT_MSG_HEARTBEAT_RESP);
    assert_int_equal(n1->n_reads, 1); /* round 1: read 100 */
    assert_int_equal(n1->reads[0].id, 100);
    assert_int_equal(n1->reads[0].status, 0);
    assert_int_equal(n1->reads[0].index, rfx_commit(fx, 1));
    /* round 2 started at once, one heartbeat per follower for 3 reads */
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_HEARTBEAT), 1);
    rfx_deliver(fx, 1, 3, RAFT_MSG_HEARTBEAT); /* round 1's, to 3 */
    rfx_deliver(fx, 1, 3, RAFT_MSG_HEARTBEAT); /* round 2's */
    rfx_deliver(fx, 3, 1, RAFT_MSG_HEARTBEAT_RESP);
    assert_int_equal(n1->n_reads, 4);
    for (uint32_t i = 1; i < 4; i++) {
        assert_int_equal(n1->reads[i].id, 100 + i);
        assert_int_equal(n1->reads[i].status, 0);
    }
}

static void read_index_single_node_immediate(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 1, 0, NULL);
    rfx_node(fx, 1)->auto_persist = true;
    rfx_tick(fx, 1, 20);
    assert_int_equal(rfx_commit(fx, 1), 1);
    rfx_read(fx, 1, 7);
    assert_int_equal(rfx_node(fx, 1)->n_reads, 1);
    assert_int_equal(rfx_node(fx, 1)->reads[0].index, 1);
}

/* Bug 8: a new leader answers reads only after its own no-op commits,
 * with an index that covers everything the old leader committed. */
static void bug08_read_waits_for_current_term_commit(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    for (int i = 0; i < 4; i++)
        rfx_propose(fx, 1, "w");
    /* 1 commits @5 with acks, but followers never learn commit 5 */
    rfx_stabilize_drop(fx, 1, 0, RAFT_MSG_HEARTBEAT);
    assert_int_equal(rfx_commit(fx, 1), 5);
    assert_true(rfx_commit(fx, 2) < 5);
    rfx_crash(fx, 1);
    forget_leader(fx, 3);
    rfx_tick(fx, 2, 20);
    rfx_stabilize_drop(fx, 2, 0, RAFT_MSG_APPEND);
    assert_int_equal(rfx_role(fx, 2), RAFT_LEADER);
    assert_true(rfx_commit(fx, 2) < 5);
    rfx_read(fx, 2, 1);
    rfx_tick(fx, 2, 1);
    rfx_stabilize_drop(fx, 2, 0, RAFT_MSG_APPEND);
    assert_int_equal(rfx_node(fx, 2)->n_reads, 0); /* no stale answer */
    rfx_tick(fx, 2, 1);
    rfx_stabilize(fx);
    struct rfx_node *n2 = rfx_node(fx, 2);
    assert_int_equal(n2->n_reads, 1);
    assert_int_equal(n2->reads[0].status, 0);
    assert_true(n2->reads[0].index >= 5);
}

/* Bug 9: responses to an earlier round (duplicated, delayed) never
 * confirm a later read; every round has a fresh context. */
static void bug09_stale_heartbeat_response_does_not_confirm(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    rfx_read(fx, 1, 1);
    struct rfx_msg *hb = rfx_find(fx, 1, 2, RAFT_MSG_HEARTBEAT);
    uint64_t ctx1 = hb->m.ctx;
    rfx_deliver(fx, 1, 0, RAFT_MSG_HEARTBEAT);
    struct raft_msg dup2 = rfx_find(fx, 2, 1, 0)->m;
    struct raft_msg dup3 = rfx_find(fx, 3, 1, 0)->m;
    assert_int_equal(dup2.ctx, ctx1);
    rfx_deliver(fx, 0, 1, RAFT_MSG_HEARTBEAT_RESP);
    assert_int_equal(rfx_node(fx, 1)->n_reads, 1);
    /* read 2: its round's heartbeats are lost; old responses replay */
    rfx_read(fx, 1, 2);
    hb = rfx_find(fx, 1, 2, RAFT_MSG_HEARTBEAT);
    assert_non_null(hb);
    assert_true(hb->m.ctx > ctx1);
    rfx_drop(fx, 1, 0, 0);
    rfx_inject(fx, &dup2);
    rfx_inject(fx, &dup3);
    rfx_deliver(fx, 0, 1, RAFT_MSG_HEARTBEAT_RESP);
    assert_int_equal(rfx_node(fx, 1)->n_reads, 1);
    /* a response from an older term never counts either */
    dup2.term = 0;
    rfx_inject(fx, &dup2);
    rfx_deliver(fx, 0, 1, 0);
    assert_int_equal(rfx_node(fx, 1)->n_reads, 1);
    rfx_tick(fx, 1, 1); /* next heartbeat carries the new round */
    rfx_stabilize(fx);
    assert_int_equal(rfx_node(fx, 1)->n_reads, 2);
    assert_int_equal(rfx_node(fx, 1)->reads[1].id, 2);
}

/* Bug 7 (reads) and 10: a leader cut off from its quorum never answers
 * a read; when check-quorum deposes it, the read fails. */
static void bug07_partitioned_leader_never_answers_reads(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 5);
    rfx_isolate(fx, 1, true);
    rfx_cut(fx, 1, 2, false);
    rfx_read(fx, 1, 9);
    for (int i = 0; i < 30; i++) {
        rfx_tick(fx, 1, 1);
        rfx_stabilize(fx);
        struct rfx_node *n = rfx_node(fx, 1);
        for (uint32_t k = 0; k < n->n_reads; k++)
            assert_int_not_equal(n->reads[k].status, 0);
    }
    assert_int_equal(rfx_role(fx, 1), RAFT_FOLLOWER);
    struct rfx_node *n1 = rfx_node(fx, 1);
    assert_int_equal(n1->n_reads, 1);
    assert_int_equal(n1->reads[0].status, COORD_ENOTLEADER);
}

static void follower_read_forwarded_to_leader(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    rfx_propose(fx, 1, "a");
    rfx_stabilize(fx);
    rfx_read(fx, 3, 55);
    assert_int_equal(rfx_count(fx, 3, 1, RAFT_MSG_READ_INDEX), 1);
    rfx_stabilize(fx);
    struct rfx_node *n3 = rfx_node(fx, 3);
    assert_int_equal(n3->n_reads, 1);
    assert_int_equal(n3->reads[0].id, 55);
    assert_int_equal(n3->reads[0].status, 0);
    assert_int_equal(n3->reads[0].index, 2);
    /* no leader known: fails at once */
    rfx_crash(fx, 1);
    forget_leader(fx, 3);
    rfx_read(fx, 3, 56);
    assert_int_equal(n3->n_reads, 2);
    assert_int_equal(n3->reads[1].status, COORD_EUNAVAILABLE);
}

static void follower_read_fails_on_leader_change(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    rfx_read(fx, 3, 1);
    rfx_drop(fx, 0, 0, 0);
    rfx_crash(fx, 1);
    rfx_tick(fx, 3, 20); /* 3 campaigns: the pending read fails */
    struct rfx_node *n3 = rfx_node(fx, 3);
    assert_int_equal(n3->n_reads, 1);
    assert_int_not_equal(n3->reads[0].status, 0);
}

/* A forwarded read whose request or answer is lost fails after two
 * election timeouts while the follower still follows the leader. */
static void follower_read_lost_times_out(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    rfx_read(fx, 3, 1);
    rfx_drop(fx, 3, 1, RAFT_MSG_READ_INDEX);
    struct rfx_node *n3 = rfx_node(fx, 3);
    for (int i = 0; i < 19; i++) {
        rfx_tick(fx, 1, 1);
        rfx_stabilize(fx);
        rfx_tick(fx, 3, 1);
    }
    assert_int_equal(n3->n_reads, 0);
    rfx_tick(fx, 3, 1);
    assert_int_equal(n3->n_reads, 1);
    assert_int_equal(n3->reads[0].status, COORD_ETIMEDOUT);
    assert_int_equal(rfx_leader(fx), 1);
}

static void reads_bounded_by_reads_max(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.reads_max = 2;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    rfx_read(fx, 1, 1);
    rfx_read(fx, 1, 2);
    rfx_read(fx, 1, 3);
    struct rfx_node *n1 = rfx_node(fx, 1);
    assert_int_equal(n1->n_reads, 1);
    assert_int_equal(n1->reads[0].id, 3);
    assert_int_equal(n1->reads[0].status, COORD_EAGAIN);
    rfx_stabilize(fx);
    assert_int_equal(n1->n_reads, 3);
}

static void transfer_to_caught_up_follower(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    ev.transfer.to = 2;
    assert_int_equal(rfx_step(fx, 1, &ev), 0);
    assert_int_equal(rfx_count(fx, 1, 2, RAFT_MSG_TIMEOUT_NOW), 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_leader(fx), 2);
    assert_int_equal(rfx_role(fx, 1), RAFT_FOLLOWER);
    ev.transfer.to = 3;
    assert_int_equal(rfx_step(fx, 1, &ev), COORD_ENOTLEADER);
}

/* Bug 30: transfer to a target that is behind, under load: proposals
 * stop, the target is caught up, then it wins. */
static void bug30_transfer_while_writes_continue(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    rfx_isolate(fx, 3, true);
    for (int i = 0; i < 10; i++)
        rfx_propose(fx, 1, "w");
    rfx_stabilize(fx);
    rfx_isolate(fx, 3, false);
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    ev.transfer.to = 3;
    assert_int_equal(rfx_step(fx, 1, &ev), 0);
    assert_int_equal(rfx_count(fx, 1, 3, RAFT_MSG_TIMEOUT_NOW), 0);
    assert_int_equal(rfx_propose(fx, 1, "refused"), COORD_EAGAIN);
    for (int i = 0; i < 10 && rfx_leader(fx) != 3; i++) {
        rfx_tick(fx, 1, 1);
        rfx_stabilize(fx);
    }
    assert_int_equal(rfx_leader(fx), 3);
    assert_int_equal(rfx_last(fx, 3), 12); /* 11 + 3's no-op */
    assert_int_equal(rfx_propose(fx, 3, "new"), 0);
}

static void transfer_aborts_after_election_timeout(void **state)
{
    struct rfx *fx = *state;
    up_and_committed(fx, 3);
    rfx_crash(fx, 3);
    rfx_propose(fx, 1, "w");
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    ev.transfer.to = 3;
    assert_int_equal(rfx_step(fx, 1, &ev), 0);
    assert_int_equal(rfx_propose(fx, 1, "x"), COORD_EAGAIN);
    for (int i = 0; i < 10; i++) {
        rfx_tick(fx, 1, 1);
        rfx_stabilize(fx);
    }
    assert_int_equal(rfx_leader(fx), 1);
    assert_int_equal(rfx_propose(fx, 1, "x"), 0);
    ev.transfer.to = 99;
    assert_int_equal(rfx_step(fx, 1, &ev), COORD_EINVAL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, rfx_cmocka_setup, rfx_cmocka_teardown)
    const struct CMUnitTest tests[] = {
        T(read_index_batched_round),
        T(read_index_single_node_immediate),
        T(bug08_read_waits_for_current_term_commit),
        T(bug09_stale_heartbeat_response_does_not_confirm),
        T(bug07_partitioned_leader_never_answers_reads),
        T(follower_read_forwarded_to_leader),
        T(follower_read_fails_on_leader_change),
        T(follower_read_lost_times_out),
        T(reads_bounded_by_reads_max),
        T(transfer_to_caught_up_follower),
        T(bug30_transfer_while_writes_continue),
        T(transfer_aborts_after_election_timeout),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
