/* test_raft_random.c -- a small seeded random walk over the in-memory
 * fixture (test/lib/raft_fixture.h) as a smoke test of coordd/raft between
 * the scripted tests and the full simulator (test/sim): random ticks,
 * deliveries, drops, reorderings, partial persists, crashes, restarts,
 * snapshots, proposals, reads and transfers. Checked after every action:
 * Election Safety (one leader per term), State Machine Safety (by the
 * fixture on every apply), read indexes never below a commit index known
 * before the read began, and at the end liveness once faults heal.
 * Deterministic: every choice comes from the seed.
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

#define TERMS_MAX 4096
#define READS_MAX 4096

struct walk {
    struct rfx *fx;
    uint64_t prng;
    uint64_t leader_of[TERMS_MAX];
    uint64_t read_floor[READS_MAX]; /* max commit when read id began */
    uint64_t next_read;
    uint32_t reads_ok;
    uint32_t commits;
};

static uint64_t rnd(struct walk *w, uint64_t n)
{
    w->prng ^= w->prng << 13;
    w->prng ^= w->prng >> 7;
    w->prng ^= w->prng << 17;
    return n == 0 ? 0 : w->prng % n;
}

static uint64_t pick_up(struct walk *w)
{
    struct rfx *fx = w->fx;
    for (int i = 0; i < 16; i++) {
        struct rfx_node *n = &fx->nodes[rnd(w, fx->n)];
        if (n->up)
            return n->id;
    }
    return 0;
}

static uint64_t max_commit(struct rfx *fx)
{
    uint64_t c = 0;
    for (uint32_t i = 0; i < fx->n; i++) {
        if (!fx->nodes[i].up)
            continue;
        uint64_t k = rfx_commit(fx, fx->nodes[i].id);
        c = k > c ? k : c;
    }
    return c;
}

static void check(struct walk *w)
{
    struct rfx *fx = w->fx;
    for (uint32_t i = 0; i < fx->n; i++) {
        struct rfx_node *n = &fx->nodes[i];
        if (!n->up)
            continue;
        struct raft_status st;
        raft_status(n->r, &st);
        if (st.role == RAFT_LEADER) {
            assert_true(st.term < TERMS_MAX);
            if (w->leader_of[st.term] == 0)
                w->leader_of[st.term] = n->id;
            assert_int_equal(w->leader_of[st.term], n->id);
        }
        for (uint32_t k = 0; k < n->n_reads; k++) {
            const struct raft_read *rd = &n->reads[k];
            assert_true(rd->id < READS_MAX);
            if (rd->status == 0) {
                assert_true(rd->index >= w->read_floor[rd->id]);
                w->reads_ok++;
            }
        }
        n->n_reads = 0;
    }
}

static void act_net(struct walk *w, uint64_t a)
{
    struct rfx *fx = w->fx;
    if (fx->n_net == 0)
        return;
    struct rfx_msg *m = &fx->net[rnd(w, fx->n_net)];
    uint64_t from = m->m.from, to = m->m.to;
    uint8_t type = m->m.type;
    if (a < 55)
        rfx_deliver_one(fx, from, to, type);
    else if (a < 58)
        rfx_drop(fx, from, to, type);
    else
        rfx_deliver(fx, 0, 0, 0);
}

static void act_node(struct walk *w, uint64_t a)
{
    struct rfx *fx = w->fx;
    uint64_t id = pick_up(w);
    uint64_t l = rfx_leader(fx);
    if (id == 0)
        return;
    if (a < 72) {
        rfx_persist_n(fx, id, (uint32_t)rnd(w, 3) + 1);
    } else if (a < 74) {
        rfx_install(fx, id);
    } else if (a < 82 && l != 0) {
        rfx_propose(fx, l, "w");
    } else if (a < 84) {
        struct rfx_node *n = rfx_node(fx, id);
        if (n->applied > n->snap.index && n->n_batches == 0 &&
            !n->install_pending)
            rfx_snapshot(fx, id);
    } else if (a < 87 && w->next_read < READS_MAX) {
        w->read_floor[w->next_read] = max_commit(fx);
        rfx_read(fx, id, w->next_read++);
    } else if (a < 88 && l != 0) {
        struct raft_event ev = {.type = RAFT_EV_TRANSFER};
        ev.transfer.to = 0;
        rfx_step(fx, l, &ev);
    }
}

static void act_fault(struct walk *w, uint64_t a)
{
    struct rfx *fx = w->fx;
    if (a < 90) {
        uint64_t id = pick_up(w);
        if (id != 0)
            rfx_crash(fx, id);
    } else if (a < 94) {
        for (uint32_t i = 0; i < fx->n; i++)
            if (!fx->nodes[i].up) {
                rfx_restart(fx, fx->nodes[i].id);
                break;
            }
    } else if (a < 99) {
        for (uint32_t i = 0; i < fx->n; i++)
            rfx_isolate(fx, fx->nodes[i].id, false);
    } else {
        uint64_t x = rnd(w, fx->n) + 1, y = rnd(w, fx->n) + 1;
        if (x != y)
            rfx_cut(fx, x, y, !fx->cut[x][y]);
    }
}

static void heal_and_check_liveness(struct walk *w)
{
    struct rfx *fx = w->fx;
    fx->trace = getenv("RAFT_RANDOM_TRACE") != NULL;
    for (uint32_t i = 0; i < fx->n; i++) {
        if (!fx->nodes[i].up)
            rfx_restart(fx, fx->nodes[i].id);
        rfx_isolate(fx, fx->nodes[i].id, false);
    }
    /* liveness: within a bound, a leader commits a new proposal (the log
     * may need compacting first, a transfer may need to abort, and a stale
     * leader may need to learn the new term) */
    uint64_t before = max_commit(fx), l = 0;
    bool done = false;
    for (int i = 0; i < 200 && !done; i++) {
        rfx_tick_all(fx, 1);
        rfx_stabilize(fx);
        check(w);
        l = rfx_leader(fx);
        if (l != 0 && rfx_propose(fx, l, "final") == COORD_EAGAIN)
            for (uint32_t k = 0; k < fx->n; k++)
                if (fx->nodes[k].applied > fx->nodes[k].snap.index)
                    rfx_snapshot(fx, fx->nodes[k].id);
        rfx_stabilize(fx);
        done = l != 0 && rfx_commit(fx, l) > before + 1;
    }
    assert_true(done);
    w->commits += (uint32_t)rfx_commit(fx, l);
    assert_true(w->commits > 0);
}

static void walk_seed(struct rfx *fx, uint64_t seed, uint32_t voters)
{
    struct walk *w = coord_calloc(1, sizeof(*w));
    w->fx = fx;
    w->prng = seed * 0x9e3779b97f4a7c15ULL + 1;
    struct raft_config cfg;
    rfx_config_default(&cfg, 1);
    cfg.seed = seed;
    cfg.log_entries_max = 256;
    cfg.inflight_max = 1 + (uint32_t)rnd(w, 4);
    cfg.append_entries_max = 1 + (uint32_t)rnd(w, 8);
    cfg.pre_vote = rnd(w, 4) != 0;
    cfg.check_quorum = rnd(w, 4) != 0;
    cfg.pair_commit = rnd(w, 4) != 0;
    rfx_init(fx, voters, 0, &cfg);
    for (int step = 0; step < 6000; step++) {
        uint64_t a = rnd(w, 100);
        if (a < 30) {
            uint64_t id = pick_up(w);
            if (id != 0)
                rfx_tick(fx, id, 1);
        } else if (a < 60) {
            act_net(w, a);
        } else if (a < 88) {
            act_node(w, a);
        } else if (a < 89 || (a >= 90 && a < 94) || a >= 97) {
            act_fault(w, a);
        }
        check(w);
    }
    heal_and_check_liveness(w);
    if (getenv("RAFT_RANDOM_VERBOSE") != NULL)
        fprintf(stderr, "seed %llu: commit %u, reads ok %u, delivered %llu\n",
                (unsigned long long)seed, w->commits, w->reads_ok,
                (unsigned long long)fx->n_delivered);
    rfx_close(fx);
    coord_free(w);
}

static void random_walks_keep_safety(void **state)
{
    (void)state;
    struct rfx *fx = coord_calloc(1, sizeof(*fx));
    assert_non_null(fx);
    uint64_t seeds = 40;
    const char *env = getenv("RAFT_RANDOM_SEEDS");
    if (env != NULL)
        seeds = strtoull(env, NULL, 10);
    uint64_t from = 1;
    env = getenv("RAFT_RANDOM_FROM");
    if (env != NULL)
        from = strtoull(env, NULL, 10);
    for (uint64_t s = from; s < from + seeds; s++)
        walk_seed(fx, s, s % 2 == 0 ? 3 : 5);
    coord_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_walks_keep_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
