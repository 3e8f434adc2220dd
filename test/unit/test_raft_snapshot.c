/* test_raft_snapshot.c -- scripted tests of coordd/raft's log compaction
 * and chunked InstallSnapshot (dissertation ch. 5) on the in-memory
 * fixture: compaction with a margin, chunks in order with per-chunk acks,
 * keep-or-discard of the follower's log, restart from a snapshot, and the
 * known bugs 21 (snapshot variant), 22, 23, 25 and 26 of the brief §5.
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

static void propose_n(struct rfx *fx, uint64_t id, int n)
{
    char buf[32];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "v%d", i);
        assert_int_equal(rfx_propose(fx, id, buf), 0);
        if (i % 8 == 7)
            rfx_stabilize(fx);
    }
    rfx_stabilize(fx);
    rfx_tick(fx, id, 1);
    rfx_stabilize(fx);
}

static void small_log_cluster(struct rfx *fx, uint32_t inflight)
{
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.log_entries_max = 64; /* margin 8 */
    cfg.inflight_max = inflight;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
}

static void snapshot_compacts_log(void **state)
{
    struct rfx *fx = *state;
    small_log_cluster(fx, 4);
    propose_n(fx, 1, 40);
    assert_int_equal(rfx_node(fx, 1)->applied, 41);
    assert_int_equal(rfx_snapshot(fx, 1), 0);
    struct raft_status st;
    rfx_status(fx, 1, &st);
    assert_int_equal(st.snap_index, 41);
    /* every follower has everything: compact up to the snapshot */
    assert_int_equal(st.first_index, 42);
    assert_int_equal(st.last_index, 41);
    /* a follower compacts fully: it serves no one */
    assert_int_equal(rfx_snapshot(fx, 2), 0);
    rfx_status(fx, 2, &st);
    assert_int_equal(st.first_index, 42);
    /* the leader goes on */
    propose_n(fx, 1, 3);
    assert_int_equal(rfx_commit(fx, 3), 44);
    /* invalid: not applied yet, or not newer */
    assert_int_equal(rfx_snapshot(fx, 1), 0);
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    ev.snap_taken.index = 1000;
    assert_int_equal(rfx_step(fx, 1, &ev), COORD_EINVAL);
    ev.snap_taken.index = 44;
    assert_int_equal(rfx_step(fx, 1, &ev), COORD_EINVAL);
}

/* Bug 26: a slow follower after compaction, with a window of 1: it gets
 * the snapshot in chunks, then resumes replication (no stuck probe). */
static void bug26_slow_follower_after_compaction(void **state)
{
    struct rfx *fx = *state;
    small_log_cluster(fx, 1);
    rfx_isolate(fx, 3, true);
    propose_n(fx, 1, 50);
    assert_int_equal(rfx_snapshot(fx, 1), 0);
    struct raft_status st;
    rfx_status(fx, 1, &st);
    assert_int_equal(st.first_index, 44); /* 51 - 8 + 1 */
    rfx_isolate(fx, 3, false);
    rfx_drop(fx, 0, 0, 0);
    uint32_t chunks = 0;
    rfx_tick(fx, 1, 1);
    for (int i = 0; i < 100 && fx->n_net > 0; i++) {
        chunks += rfx_count(fx, 1, 3, RAFT_MSG_SNAPSHOT);
        rfx_persist_all(fx);
        rfx_install(fx, 3);
        rfx_deliver(fx, 0, 0, 0);
    }
    rfx_stabilize(fx);
    assert_int_equal(chunks, 4); /* 200 bytes in chunks of 64 */
    rfx_status(fx, 3, &st);
    assert_int_equal(st.snap_index, 51);
    assert_int_equal(rfx_node(fx, 3)->applied, 51);
    propose_n(fx, 1, 5);
    assert_int_equal(rfx_node(fx, 3)->applied, 56);
    rfx_status(fx, 1, &st);
    assert_int_equal(st.progress[2].state, 2); /* replicate */
    assert_int_equal(st.progress[2].match, 56);
}

/* A snapshot restart: a node restarts from snapshot + log tail. */
static void restart_from_snapshot(void **state)
{
    struct rfx *fx = *state;
    small_log_cluster(fx, 4);
    propose_n(fx, 1, 30);
    assert_int_equal(rfx_snapshot(fx, 2), 0);
    propose_n(fx, 1, 5);
    rfx_crash(fx, 2);
    rfx_restart(fx, 2);
    struct raft_status st;
    rfx_status(fx, 2, &st);
    assert_int_equal(st.snap_index, 31);
    assert_int_equal(st.last_index, 36);
    assert_int_equal(st.conf.n, 3);
    assert_int_equal(rfx_node(fx, 2)->applied, 31);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_node(fx, 2)->applied, 36);
}

static void inject_snapshot(struct rfx *fx, uint64_t from, uint64_t to,
                            uint64_t term, uint64_t index, uint64_t sterm,
                            uint8_t *data)
{
    uint64_t hash = 0x1234;
    memset(data, 0, 16);
    memcpy(data, &index, 8);
    memcpy(data + 8, &hash, 8);
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_SNAPSHOT;
    m.from = from;
    m.to = to;
    m.term = term;
    m.snap.index = index;
    m.snap.term = sterm;
    m.snap.size = 16;
    m.snap.conf = rfx_node(fx, to)->snap.conf;
    m.offset = 0;
    m.chunk_len = 16;
    m.last = true;
    m.chunk = data;
    rfx_inject(fx, &m);
}

static void inject_entries(struct rfx *fx, uint64_t from, uint64_t to,
                           uint64_t term, const uint64_t *terms, uint32_t n)
{
    struct raft_entry e[8];
    memset(e, 0, sizeof(e));
    for (uint32_t i = 0; i < n; i++) {
        e[i].index = i + 1;
        e[i].term = terms[i];
        e[i].type = RAFT_ENTRY_NORMAL;
    }
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND;
    m.from = from;
    m.to = to;
    m.term = term;
    m.entries = e;
    m.n_entries = n;
    rfx_inject(fx, &m);
    rfx_deliver(fx, from, to, RAFT_MSG_APPEND);
    rfx_persist(fx, to);
}

/* Bug 23: the snapshot's last entry conflicts with the follower's log:
 * the whole log goes, and the durable log is dropped with the install. */
static void bug23_snapshot_conflicting_log_discarded(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    uint64_t terms[4] = {1, 1, 2, 2};
    inject_entries(fx, 1, 3, 2, terms, 4);
    assert_int_equal(rfx_last(fx, 3), 4);
    uint8_t data[16];
    inject_snapshot(fx, 2, 3, 3, 2, 3, data); /* (2, t3) != (2, t1) */
    rfx_deliver(fx, 2, 3, RAFT_MSG_SNAPSHOT);
    struct rfx_node *n3 = rfx_node(fx, 3);
    /* the term rose with this message: the install waits for a step
     * without a persist batch (here: the batch's ack) */
    assert_false(n3->install_pending);
    rfx_persist(fx, 3);
    assert_true(n3->install_pending);
    assert_int_equal(n3->install_trunc, 3);
    assert_int_equal(rfx_last(fx, 3), 2);
    assert_int_equal(rfx_count(fx, 3, 2, RAFT_MSG_APPEND_RESP), 0);
    rfx_install(fx, 3);
    assert_int_equal(n3->n_log, 0);
    assert_int_equal(n3->applied, 2);
    struct rfx_msg *r = rfx_find(fx, 3, 2, RAFT_MSG_APPEND_RESP);
    assert_non_null(r);
    assert_int_equal(r->m.index, 2);
}

/* The same, with a matching entry: the suffix after it is kept. */
static void snapshot_matching_entry_keeps_suffix(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    uint64_t terms[4] = {1, 1, 2, 2};
    inject_entries(fx, 1, 3, 2, terms, 4);
    uint8_t data[16];
    inject_snapshot(fx, 2, 3, 2, 2, 1, data);
    rfx_deliver(fx, 2, 3, RAFT_MSG_SNAPSHOT);
    struct rfx_node *n3 = rfx_node(fx, 3);
    assert_int_equal(n3->install_trunc, 0);
    assert_int_equal(rfx_last(fx, 3), 4);
    rfx_install(fx, 3);
    assert_int_equal(n3->n_log, 2);
    assert_int_equal(rfx_term_at(fx, 3, 4), 2);
}

/* Bug 22: a snapshot at or below the commit index changes nothing; the
 * reply carries the follower's real state. */
static void bug22_stale_snapshot_ignored(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    propose_n(fx, 1, 10);
    assert_int_equal(rfx_commit(fx, 3), 11);
    uint8_t data[16];
    inject_snapshot(fx, 1, 3, 1, 5, 1, data);
    rfx_deliver(fx, 1, 3, RAFT_MSG_SNAPSHOT);
    struct rfx_node *n3 = rfx_node(fx, 3);
    assert_false(n3->install_pending);
    assert_int_equal(rfx_last(fx, 3), 11);
    rfx_persist(fx, 3);
    struct rfx_msg *r = rfx_find(fx, 3, 1, RAFT_MSG_APPEND_RESP);
    assert_non_null(r);
    assert_false(r->m.reject);
    assert_int_equal(r->m.index, 11);
}

/* Chunks are accepted in order; a gap is answered with the offset the
 * follower wants, a new snapshot from offset 0 restarts. */
static void chunks_in_order_only(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    uint8_t data[64] = {0};
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_SNAPSHOT;
    m.from = 1;
    m.to = 3;
    m.term = 1;
    m.snap.index = 9;
    m.snap.term = 1;
    m.snap.size = 64;
    m.snap.conf = rfx_node(fx, 3)->snap.conf;
    m.offset = 32; /* out of order: no snapshot in progress */
    m.chunk_len = 32;
    m.last = true;
    m.chunk = data;
    rfx_inject(fx, &m);
    rfx_deliver(fx, 1, 3, 0);
    struct rfx_msg *r = rfx_find(fx, 3, 1, RAFT_MSG_SNAPSHOT_RESP);
    assert_non_null(r);
    assert_true(r->m.reject);
    rfx_drop(fx, 0, 0, 0);
    m.offset = 0;
    m.last = false;
    rfx_inject(fx, &m);
    rfx_deliver(fx, 1, 3, 0);
    r = rfx_find(fx, 3, 1, RAFT_MSG_SNAPSHOT_RESP);
    assert_false(r->m.reject);
    assert_int_equal(r->m.offset, 32);
    assert_int_equal(rfx_node(fx, 3)->rcv_len, 32);
    rfx_drop(fx, 0, 0, 0);
    rfx_inject(fx, &m); /* a duplicate of chunk 0 restarts cleanly */
    rfx_deliver(fx, 1, 3, 0);
    assert_int_equal(rfx_node(fx, 3)->rcv_len, 32);
    /* malformed: chunk past the size is ignored */
    m.offset = 32;
    m.chunk_len = 40;
    rfx_inject(fx, &m);
    rfx_drop(fx, 0, 0, 0);
    assert_int_equal(rfx_node(fx, 3)->rcv_len, 32);
}

/* The follower's offset is authoritative: after it lost its partial
 * snapshot (a restart) the leader goes back to the offset it asks for
 * (found by the simulator: the send was stuck). */
static void leader_rewinds_to_follower_offset(void **state)
{
    struct rfx *fx = *state;
    small_log_cluster(fx, 4);
    rfx_isolate(fx, 3, true);
    propose_n(fx, 1, 50);
    assert_int_equal(rfx_snapshot(fx, 1), 0);
    rfx_isolate(fx, 3, false);
    rfx_drop(fx, 0, 0, 0);
    rfx_tick(fx, 1, 1);
    rfx_deliver(fx, 1, 3, RAFT_MSG_HEARTBEAT);
    rfx_deliver(fx, 3, 1, RAFT_MSG_HEARTBEAT_RESP); /* -> chunk 0 */
    /* two chunks get through, then 3 restarts and loses them; a delayed
     * duplicate of chunk 0 then arrives: 3 now wants offset 64 while the
     * leader is at 128 */
    struct raft_msg chunk0 = rfx_find(fx, 1, 3, RAFT_MSG_SNAPSHOT)->m;
    uint8_t data0[64];
    memcpy(data0, chunk0.chunk, sizeof(data0));
    chunk0.chunk = data0;
    for (int i = 0; i < 2; i++) {
        rfx_deliver(fx, 1, 3, RAFT_MSG_SNAPSHOT);
        rfx_deliver(fx, 3, 1, RAFT_MSG_SNAPSHOT_RESP);
        rfx_drop(fx, 1, 0, RAFT_MSG_HEARTBEAT);
    }
    assert_int_equal(rfx_node(fx, 3)->rcv_len, 128);
    rfx_drop(fx, 0, 0, 0);
    rfx_crash(fx, 3);
    rfx_restart(fx, 3);
    rfx_inject(fx, &chunk0);
    rfx_deliver(fx, 1, 3, 0);
    assert_int_equal(rfx_node(fx, 3)->rcv_len, 64);
    for (int i = 0; i < 30 && rfx_node(fx, 3)->applied < 51; i++) {
        rfx_tick(fx, 1, 1);
        rfx_stabilize(fx);
    }
    assert_int_equal(rfx_node(fx, 3)->applied, 51);
}

/* Bug 25: several snapshots in flight: the leader accepts an ack of the
 * older snapshot if it reconnects the follower to the log. */
static void bug25_older_snapshot_ack_reconnects(void **state)
{
    struct rfx *fx = *state;
    small_log_cluster(fx, 4);
    fx->trace = getenv("RFX_TRACE") != NULL;
    rfx_isolate(fx, 3, true);
    propose_n(fx, 1, 50);
    assert_int_equal(rfx_snapshot(fx, 1), 0); /* A = 51 */
    rfx_isolate(fx, 3, false);
    rfx_drop(fx, 0, 0, 0);
    rfx_tick(fx, 1, 1);
    /* deliver every chunk of A, but hold the install */
    for (int i = 0; i < 50 && !rfx_node(fx, 3)->install_pending; i++) {
        rfx_persist_all(fx);
        rfx_deliver(fx, 0, 0, 0);
    }
    assert_true(rfx_node(fx, 3)->install_pending);
    rfx_drop(fx, 0, 0, 0);
    /* the leader moves on and snapshots again: B = 54 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(rfx_propose(fx, 1, "b"), 0);
    for (int i = 0; i < 20; i++) { /* 1 and 2 only; 3 waits */
        rfx_drop(fx, 1, 3, 0);
        rfx_persist(fx, 1);
        rfx_persist(fx, 2);
        rfx_deliver(fx, 1, 2, 0);
        rfx_deliver(fx, 2, 1, 0);
    }
    rfx_drop(fx, 1, 3, 0);
    assert_int_equal(rfx_snapshot(fx, 1), 0);
    rfx_drop(fx, 0, 0, 0);
    struct raft_status st;
    rfx_status(fx, 1, &st);
    assert_int_equal(st.snap_index, 54);
    assert_true(st.first_index <= 52);
    /* A's install completes: its ack reconnects 3 without B */
    rfx_install(fx, 3);
    rfx_deliver(fx, 3, 1, RAFT_MSG_APPEND_RESP);
    rfx_status(fx, 1, &st);
    assert_int_equal(st.progress[2].state, 2);
    assert_int_equal(st.progress[2].match, 51);
    rfx_stabilize(fx);
    rfx_tick(fx, 1, 1);
    rfx_stabilize(fx);
    assert_int_equal(rfx_node(fx, 3)->applied, 54);
    rfx_status(fx, 3, &st);
    assert_int_equal(st.snap_index, 51);
}

/* Bug 21 (snapshot variant): a persist ack for entries the install
 * replaced marks nothing stable. */
static void bug21_late_append_ack_after_install(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    uint64_t terms[3] = {1, 1, 1};
    struct raft_entry e[3];
    memset(e, 0, sizeof(e));
    for (uint32_t i = 0; i < 3; i++) {
        e[i].index = i + 1;
        e[i].term = terms[i];
        e[i].type = RAFT_ENTRY_NORMAL;
    }
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND;
    m.from = 1;
    m.to = 3;
    m.term = 1;
    m.entries = e;
    m.n_entries = 3;
    rfx_inject(fx, &m);
    rfx_deliver(fx, 1, 3, 0); /* batch in flight, not durable */
    uint8_t data[16];
    inject_snapshot(fx, 2, 3, 2, 5, 2, data);
    rfx_deliver(fx, 2, 3, 0);
    rfx_drop(fx, 0, 0, 0);
    rfx_persist(fx, 3);
    /* the old batch becomes durable now (rfx_install flushes it first):
     * its ack must not resurrect entries 1..3 */
    rfx_install(fx, 3);
    struct raft_status st;
    rfx_status(fx, 3, &st);
    assert_int_equal(st.last_index, 5);
    assert_int_equal(st.commit, 5);
    assert_int_equal(rfx_node(fx, 3)->n_log, 0);
    assert_int_equal(rfx_count(fx, 3, 1, RAFT_MSG_APPEND_RESP), 1);
    assert_int_equal(rfx_count(fx, 3, 2, RAFT_MSG_APPEND_RESP), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, rfx_cmocka_setup, rfx_cmocka_teardown)
    const struct CMUnitTest tests[] = {
        T(snapshot_compacts_log),
        T(bug26_slow_follower_after_compaction),
        T(restart_from_snapshot),
        T(bug23_snapshot_conflicting_log_discarded),
        T(snapshot_matching_entry_keeps_suffix),
        T(bug22_stale_snapshot_ignored),
        T(chunks_in_order_only),
        T(leader_rewinds_to_follower_offset),
        T(bug25_older_snapshot_ack_reconnects),
        T(bug21_late_append_ack_after_install),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
