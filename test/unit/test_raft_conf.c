/* test_raft_conf.c -- scripted tests of coordd/raft's membership changes
 * (dissertation §4.1-§4.2) on the in-memory fixture: learners, one change
 * at a time, the current-term-commit guard, configurations that take
 * effect on append and roll back on truncation, removed leaders, the
 * entry codec, and the known bugs 16, 17, 18, 19 and 20 of the brief §5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "coord.h"
#include "coordd/raft/raft.h"
#include "coordd/raft/raft_int.h"
#include "libcoord/shared/alloc.h"
#include "test/lib/raft_fixture.h"

static int change(struct rfx *fx, uint64_t leader, uint8_t type,
                  uint64_t id)
{
    struct raft_event ev = {.type = RAFT_EV_CONF_CHANGE};
    ev.conf.type = type;
    ev.conf.id = id;
    ev.conf.ctx = (const uint8_t *)"addr";
    ev.conf.ctx_len = 4;
    return rfx_step(fx, leader, &ev);
}

static uint8_t member_role(struct rfx *fx, uint64_t at, uint64_t id)
{
    struct raft_status st;
    rfx_status(fx, at, &st);
    for (uint32_t i = 0; i < st.conf.n; i++)
        if (st.conf.members[i].id == id)
            return st.conf.members[i].role;
    return 0;
}

static void settle(struct rfx *fx, uint64_t leader)
{
    rfx_stabilize(fx);
    rfx_tick(fx, leader, 1);
    rfx_stabilize(fx);
}

static void add_learner_then_promote(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    settle(fx, 1);
    rfx_add_node(fx, 4, NULL);
    assert_int_equal(change(fx, 1, RAFT_CONF_ADD_LEARNER, 4), 0);
    uint64_t at = rfx_node(fx, 1)->last_propose_index;
    assert_int_equal(at, 2);
    /* takes effect on append, before commit */
    assert_int_equal(member_role(fx, 1, 4), RAFT_LEARNER);
    settle(fx, 1);
    assert_int_equal(rfx_node(fx, 4)->applied, 2);
    assert_int_equal(member_role(fx, 4, 4), RAFT_LEARNER);
    assert_int_equal(member_role(fx, 4, 1), RAFT_VOTER);
    /* the learner does not count: with 2 and 3 down nothing commits */
    rfx_crash(fx, 2);
    rfx_crash(fx, 3);
    rfx_propose(fx, 1, "x");
    settle(fx, 1);
    assert_int_equal(rfx_commit(fx, 1), 2);
    assert_int_equal(rfx_last(fx, 4), 3);
    rfx_restart(fx, 2);
    rfx_restart(fx, 3);
    settle(fx, 1);
    assert_int_equal(rfx_commit(fx, 1), 3);
    assert_int_equal(change(fx, 1, RAFT_CONF_PROMOTE, 4), 0);
    settle(fx, 1);
    assert_int_equal(member_role(fx, 3, 4), RAFT_VOTER);
    /* 4 voters: quorum 3; with 3 and 4 down nothing commits */
    rfx_crash(fx, 3);
    rfx_crash(fx, 4);
    rfx_propose(fx, 1, "y");
    settle(fx, 1);
    assert_int_equal(rfx_commit(fx, 1), 4);
}

/* A learner never campaigns, and its vote never counts. */
static void learners_never_vote_or_campaign(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.pre_vote = false;
    rfx_init(fx, 3, 1, &cfg);
    rfx_tick(fx, 4, 100);
    assert_int_equal(rfx_role(fx, 4), RAFT_FOLLOWER);
    assert_int_equal(rfx_count(fx, 4, 0, 0), 0);
    rfx_elect(fx, 1);
    settle(fx, 1);
    rfx_crash(fx, 1);
    rfx_crash(fx, 3);
    rfx_crash(fx, 4);
    rfx_restart(fx, 4); /* forgets the leader: it would grant */
    rfx_drop(fx, 0, 0, 0);
    rfx_tick(fx, 2, 20);
    rfx_stabilize(fx);
    assert_int_not_equal(rfx_role(fx, 2), RAFT_LEADER);
}

/* Bug 17: one change at a time, and only after the leader committed an
 * entry of its own term. */
static void bug17_change_waits_for_own_term_commit(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    settle(fx, 1);
    rfx_add_node(fx, 4, NULL);
    rfx_add_node(fx, 5, NULL);
    /* L1 appends C1 (+4) and crashes before it commits */
    assert_int_equal(change(fx, 1, RAFT_CONF_ADD_LEARNER, 4), 0);
    assert_int_equal(change(fx, 1, RAFT_CONF_ADD_LEARNER, 5), COORD_EBUSY);
    rfx_deliver(fx, 1, 2, RAFT_MSG_APPEND);
    rfx_persist(fx, 2);
    rfx_crash(fx, 1);
    rfx_drop(fx, 0, 0, 0);
    rfx_crash(fx, 3);
    rfx_restart(fx, 3);
    rfx_tick(fx, 2, 20);
    rfx_stabilize_drop(fx, 2, 0, RAFT_MSG_APPEND);
    assert_int_equal(rfx_role(fx, 2), RAFT_LEADER);
    /* L2 has C1 uncommitted and its no-op uncommitted: refuse */
    assert_int_equal(member_role(fx, 2, 4), RAFT_LEARNER);
    assert_int_equal(change(fx, 2, RAFT_CONF_ADD_LEARNER, 5), COORD_EBUSY);
    settle(fx, 2);
    assert_int_equal(change(fx, 2, RAFT_CONF_ADD_LEARNER, 5), 0);
    settle(fx, 2);
    assert_int_equal(member_role(fx, 3, 5), RAFT_LEARNER);
    assert_int_equal(change(fx, 3, RAFT_CONF_REMOVE, 5), COORD_ENOTLEADER);
}

/* Bug 20: adding servers quickly: each waits for the previous one. */
static void bug20_add_servers_quickly(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 1);
    settle(fx, 1);
    for (uint64_t id = 4; id <= 6; id++) {
        rfx_add_node(fx, id, NULL);
        assert_int_equal(change(fx, 1, RAFT_CONF_ADD_LEARNER, id), 0);
        assert_int_equal(change(fx, 1, RAFT_CONF_PROMOTE, id), COORD_EBUSY);
        if (id == 4)
            rfx_crash(fx, 3); /* S3 fails meanwhile */
        settle(fx, 1);
        assert_int_equal(change(fx, 1, RAFT_CONF_PROMOTE, id), 0);
        settle(fx, 1);
    }
    struct raft_status st;
    rfx_status(fx, 1, &st);
    assert_int_equal(st.conf.n, 6);
    assert_int_equal(member_role(fx, 6, 6), RAFT_VOTER);
    assert_int_equal(rfx_propose(fx, 1, "z"), 0);
    settle(fx, 1);
    assert_int_equal(rfx_node(fx, 6)->applied, rfx_commit(fx, 1));
}

/* Bugs 16 and 19: a leader that removes itself keeps replicating until
 * the change commits, without counting itself, then steps down and never
 * campaigns again. */
static void bug16_bug19_removed_leader_steps_down(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    rfx_elect(fx, 3);
    settle(fx, 3);
    assert_int_equal(change(fx, 3, RAFT_CONF_REMOVE, 3), 0);
    assert_int_equal(rfx_role(fx, 3), RAFT_LEADER);
    /* its own ack does not count: 1 and 2 must both have it */
    rfx_deliver(fx, 3, 1, RAFT_MSG_APPEND);
    rfx_persist(fx, 1);
    rfx_persist(fx, 3);
    rfx_deliver(fx, 1, 3, RAFT_MSG_APPEND_RESP);
    assert_int_equal(rfx_commit(fx, 3), 1);
    assert_int_equal(rfx_role(fx, 3), RAFT_LEADER);
    rfx_stabilize(fx);
    assert_int_equal(rfx_commit(fx, 3), 2);
    assert_int_equal(rfx_role(fx, 3), RAFT_FOLLOWER);
    uint64_t term = rfx_node(fx, 3)->term;
    for (int i = 0; i < 10; i++) {
        rfx_tick_all(fx, 5);
        rfx_stabilize(fx);
    }
    assert_int_equal(rfx_role(fx, 3), RAFT_FOLLOWER);
    uint64_t l = rfx_leader(fx);
    assert_true(l == 1 || l == 2);
    struct raft_status st;
    rfx_status(fx, 3, &st);
    assert_true(st.term >= term);
    rfx_status(fx, l, &st);
    assert_int_equal(st.conf.n, 2);
}

/* Bug 18: a configuration entry that is truncated away rolls back. */
static void bug18_conf_entry_truncated_rolls_back(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 3, 0, NULL);
    struct raft_conf c = rfx_node(fx, 3)->snap.conf;
    c.members[c.n].id = 9;
    c.members[c.n].role = RAFT_LEARNER;
    c.n++;
    uint8_t buf[512];
    uint32_t len = raft_conf_encoded_len(&c, 0);
    raft_conf_encode(&c, RAFT_CONF_ADD_LEARNER, 9, NULL, 0, buf);
    struct raft_entry e[2] = {
        {.index = 1, .term = 1, .type = RAFT_ENTRY_NOOP},
        {.index = 2, .term = 1, .type = RAFT_ENTRY_CONF, .len = len,
         .data = buf},
    };
    struct raft_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_MSG_APPEND;
    m.from = 1;
    m.to = 3;
    m.term = 1;
    m.entries = e;
    m.n_entries = 2;
    rfx_inject(fx, &m);
    rfx_deliver(fx, 1, 3, 0);
    assert_int_equal(member_role(fx, 3, 9), RAFT_LEARNER); /* on append */
    /* a new leader of term 2 overwrites @2 */
    struct raft_entry f = {.index = 2, .term = 2, .type = RAFT_ENTRY_NOOP};
    m.from = 2;
    m.term = 2;
    m.index = 1;
    m.log_term = 1;
    m.entries = &f;
    m.n_entries = 1;
    rfx_inject(fx, &m);
    rfx_deliver(fx, 2, 3, 0);
    assert_int_equal(member_role(fx, 3, 9), 0);
    struct raft_status st;
    rfx_status(fx, 3, &st);
    assert_int_equal(st.conf.n, 3);
    /* and survives a restart the same way */
    rfx_persist(fx, 3);
    rfx_crash(fx, 3);
    rfx_restart(fx, 3);
    rfx_status(fx, 3, &st);
    assert_int_equal(st.conf.n, 3);
}

static void conf_change_validation(void **state)
{
    struct rfx *fx = *state;
    rfx_init(fx, 1, 0, NULL);
    rfx_node(fx, 1)->auto_persist = true;
    rfx_tick(fx, 1, 20);
    assert_int_equal(rfx_leader(fx), 1);
    assert_int_equal(change(fx, 1, RAFT_CONF_PROMOTE, 7), COORD_EINVAL);
    assert_int_equal(change(fx, 1, RAFT_CONF_REMOVE, 1), COORD_EINVAL);
    assert_int_equal(change(fx, 1, RAFT_CONF_DEMOTE, 1), COORD_EINVAL);
    assert_int_equal(change(fx, 1, 99, 7), COORD_EINVAL);
    assert_int_equal(change(fx, 1, RAFT_CONF_ADD_LEARNER, 0), COORD_EINVAL);
    assert_int_equal(change(fx, 1, RAFT_CONF_ADD_LEARNER, 1), COORD_EINVAL);
    assert_int_equal(change(fx, 1, RAFT_CONF_ADD_LEARNER, 7), 0);
    assert_int_equal(member_role(fx, 1, 7), RAFT_LEARNER);
    assert_int_equal(change(fx, 1, RAFT_CONF_REMOVE, 7), 0);
    assert_int_equal(member_role(fx, 1, 7), 0);
}

static void conf_codec_roundtrip_and_corruption(void **state)
{
    (void)state;
    struct raft_conf c;
    memset(&c, 0, sizeof(c));
    c.n = 2;
    c.members[0].id = 3;
    c.members[0].role = RAFT_VOTER;
    c.members[1].id = 8;
    c.members[1].role = RAFT_LEARNER;
    uint8_t buf[512];
    uint32_t len = raft_conf_encoded_len(&c, 5);
    raft_conf_encode(&c, RAFT_CONF_ADD_LEARNER, 8, (const uint8_t *)"hello",
                     5, buf);
    struct raft_entry e = {.index = 4, .term = 2, .type = RAFT_ENTRY_CONF,
                           .len = len, .data = buf};
    struct raft_conf out;
    uint8_t type = 0;
    uint64_t id = 0;
    const uint8_t *ctx = NULL;
    uint32_t clen = 0;
    assert_int_equal(raft_conf_decode(&e, &out, &type, &id, &ctx, &clen), 0);
    assert_memory_equal(&out, &c, sizeof(c));
    assert_int_equal(type, RAFT_CONF_ADD_LEARNER);
    assert_int_equal(id, 8);
    assert_int_equal(clen, 5);
    assert_memory_equal(ctx, "hello", 5);
    e.len = len - 1;
    assert_int_equal(raft_conf_decode(&e, &out, 0, 0, 0, 0), COORD_ECORRUPT);
    e.len = len;
    buf[0] = 2; /* version */
    assert_int_equal(raft_conf_decode(&e, &out, 0, 0, 0, 0), COORD_ECORRUPT);
    buf[0] = 1;
    buf[14 + 9] = 3; /* second id 3: duplicate, unsorted */
    for (int i = 1; i < 8; i++)
        buf[14 + 9 + i] = 0;
    assert_int_equal(raft_conf_decode(&e, &out, 0, 0, 0, 0), COORD_ECORRUPT);
    e.type = RAFT_ENTRY_NORMAL;
    assert_int_equal(raft_conf_decode(&e, &out, 0, 0, 0, 0), COORD_ECORRUPT);
}

/* A snapshot carries the configuration as of its index. */
static void snapshot_carries_configuration(void **state)
{
    struct rfx *fx = *state;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.log_entries_max = 64;
    rfx_init(fx, 3, 0, &cfg);
    rfx_elect(fx, 1);
    settle(fx, 1);
    rfx_add_node(fx, 4, NULL);
    assert_int_equal(change(fx, 1, RAFT_CONF_ADD_LEARNER, 4), 0);
    rfx_isolate(fx, 4, true);
    for (int i = 0; i < 20; i++) {
        rfx_propose(fx, 1, "p");
        settle(fx, 1);
    }
    assert_int_equal(rfx_snapshot(fx, 1), 0);
    assert_int_equal(rfx_node(fx, 1)->snap.conf.n, 4);
    rfx_crash(fx, 4); /* a fresh node 4 gets everything by snapshot */
    rfx_restart(fx, 4);
    rfx_isolate(fx, 4, false);
    settle(fx, 1);
    settle(fx, 1);
    struct raft_status st;
    rfx_status(fx, 4, &st);
    assert_int_equal(st.conf.n, 4);
    assert_int_equal(rfx_node(fx, 4)->applied, rfx_commit(fx, 1));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, rfx_cmocka_setup, rfx_cmocka_teardown)
    const struct CMUnitTest tests[] = {
        T(add_learner_then_promote),
        T(learners_never_vote_or_campaign),
        T(bug17_change_waits_for_own_term_commit),
        T(bug20_add_servers_quickly),
        T(bug16_bug19_removed_leader_steps_down),
        T(bug18_conf_entry_truncated_rolls_back),
        T(conf_change_validation),
        cmocka_unit_test(conf_codec_roundtrip_and_corruption),
        T(snapshot_carries_configuration),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
