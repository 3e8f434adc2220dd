/* check.c -- the simulator's observer: Raft's safety invariants.
 *
 * The observer sees every node's updates (through world.c) and status after
 * every raft_step, and keeps the global facts needed to judge them:
 *   com[i]       the entry committed at index i (chain hash, write id), set by
 *                the first node whose commit covers i, compared by all others;
 *   leader_of[t] the leader of term t;
 *   emap         (index, term) -> chain hash of every entry ever appended.
 * Checks (numbered as in docs/simulator.md):
 *   I1 election safety    I3 log matching        I4 leader completeness
 *   I5 state machine safety (commit and apply)   I6 commit is quorum-durable
 *   I7 commit monotonic, never beyond the log    I8 durable term/vote
 *   I9 linearizable reads I10 exactly-once apply I12 snapshot consistency
 * It never changes the world: a violation only records why (sim_fail).
 */
#include <inttypes.h>
#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "test/sim/sim.h"

static void *grow(void *p, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need < *cap)
        return p;
    uint64_t nc = *cap ? *cap : 256;
    while (nc <= need)
        nc *= 2;
    uint8_t *q = coord_realloc(p, nc * elem);
    coord_assert(q != NULL);
    memset(q + *cap * elem, 0, (nc - *cap) * elem);
    *cap = nc;
    return q;
}

void sim_check_reset(struct sim_world *w)
{
    w->com_max = 0;
    w->emap_cap = 1 << 14;
    w->emap_n = 0;
    w->emap_key = coord_calloc(w->emap_cap, sizeof(uint64_t));
    w->emap_val = coord_calloc(w->emap_cap, sizeof(uint64_t));
    coord_assert(w->emap_key && w->emap_val);
}

void sim_check_free(struct sim_world *w)
{
    coord_free(w->com);
    coord_free(w->wid_at);
    coord_free(w->leader_of);
    coord_free(w->emap_key);
    coord_free(w->emap_val);
}

uint64_t sim_shadow_last(const struct sim_shadow *sh)
{
    return sh->base + sh->n;
}

uint64_t sim_shadow_h(const struct sim_shadow *sh, uint64_t index,
                      bool *found)
{
    *found = true;
    if (index == sh->base)
        return sh->base_h;
    if (index > sh->base && index <= sh->base + sh->n)
        return sh->h[index - sh->base - 1];
    *found = false;
    return 0;
}

bool sim_store_has(const struct sim_store *st, uint64_t index, uint64_t h)
{
    if (index <= st->snap.index)
        return true; /* covered by the snapshot (checked by I12) */
    if (st->n == 0 || index < st->log[0].index ||
        index > st->log[st->n - 1].index)
        return false;
    return st->log[index - st->log[0].index].h == h;
}

static void emap_rehash(struct sim_world *w)
{
    uint64_t oc = w->emap_cap, *ok = w->emap_key, *ov = w->emap_val;
    w->emap_cap = oc * 2;
    w->emap_key = coord_calloc(w->emap_cap, sizeof(uint64_t));
    w->emap_val = coord_calloc(w->emap_cap, sizeof(uint64_t));
    coord_assert(w->emap_key && w->emap_val);
    for (uint64_t i = 0; i < oc; i++) {
        if (!ok[i])
            continue;
        uint64_t j = sim_mix(ok[i], 0) & (w->emap_cap - 1);
        while (w->emap_key[j])
            j = (j + 1) & (w->emap_cap - 1);
        w->emap_key[j] = ok[i];
        w->emap_val[j] = ov[i];
    }
    coord_free(ok);
    coord_free(ov);
}

/* I3: the same (index, term) always names the same entry and prefix. */
void sim_check_append(struct sim_world *w, struct sim_node *n,
                      uint64_t index, uint64_t term, uint64_t h)
{
    if (term >= (1u << 20) || index >= (1ULL << 43))
        return;
    uint64_t key = (index << 20) | term;
    uint64_t j = sim_mix(key, 0) & (w->emap_cap - 1);
    while (w->emap_key[j]) {
        if (w->emap_key[j] == key) {
            if (w->emap_val[j] != h)
                sim_fail(w, "I3 log matching: node %" PRIu64 " appended "
                         "index %" PRIu64 " term %" PRIu64 " whose entry or "
                         "prefix differs from another node's",
                         n->id, index, term);
            return;
        }
        j = (j + 1) & (w->emap_cap - 1);
    }
    w->emap_key[j] = key;
    w->emap_val[j] = h;
    if (++w->emap_n * 2 > w->emap_cap)
        emap_rehash(w);
}

/* Records that index is committed with chain hash h (I5 at commit time). */
static void com_set(struct sim_world *w, struct sim_node *n, uint64_t index,
                    uint64_t h, uint64_t term, uint64_t cterm)
{
    w->com = grow(w->com, &w->com_cap, index, sizeof(*w->com));
    struct sim_committed *c = &w->com[index];
    if (c->term == 0) {
        c->h = h;
        c->term = term;
        c->cterm = cterm;
        if (index > w->com_max)
            w->com_max = index;
        w->n_commits++;
        return;
    }
    if (c->h != h)
        sim_fail(w, "I5 state machine safety: node %" PRIu64 " committed "
                 "index %" PRIu64 " (term %" PRIu64 ") but term %" PRIu64
                 " was committed there before",
                 n->id, index, term, c->term);
}

/* The (term, index) of the last entry in a node's durable store. */
static void store_last(const struct sim_store *st, uint64_t *term,
                       uint64_t *index)
{
    *index = st->snap.index;
    *term = st->snap.term;
    if (st->n) {
        *index = st->log[st->n - 1].index;
        *term = st->log[st->n - 1].term;
    }
}

/* I4 ahead of time: once index c is committed, no voter lacking it may be
 * able to win an election (Figure 8). For each voter X whose durable log
 * lacks c, count the voters whose durable log is not more up to date than
 * X's (they would grant X their vote after a restart); a majority means the
 * commit is unsafe even if no such election happens in this history. */
static void check_electable(struct sim_world *w, struct sim_node *n,
                            const struct raft_status *st, uint64_t h,
                            const char *who)
{
    uint32_t voters = 0;
    for (uint32_t i = 0; i < st->conf.n; i++)
        voters += st->conf.members[i].role == RAFT_VOTER;
    for (uint32_t i = 0; i < st->conf.n; i++) {
        struct sim_node *x = sim_node_by_id(w, st->conf.members[i].id);
        if (st->conf.members[i].role != RAFT_VOTER || !x || !x->started ||
            sim_store_has(&x->st, st->commit, h))
            continue;
        uint64_t xt, xi;
        store_last(&x->st, &xt, &xi);
        uint32_t grants = 0;
        for (uint32_t j = 0; j < st->conf.n; j++) {
            struct sim_node *y = sim_node_by_id(w, st->conf.members[j].id);
            if (st->conf.members[j].role != RAFT_VOTER || !y || !y->started)
                continue;
            uint64_t yt, yi;
            store_last(&y->st, &yt, &yi);
            if (xt > yt || (xt == yt && xi >= yi))
                grants++;
        }
        if (grants * 2 > voters) {
            sim_fail(w, "I4 unsafe commit: %s %" PRIu64 " term %" PRIu64
                     " committed index %" PRIu64 " but node %" PRIu64
                     " (last %" PRIu64 "/%" PRIu64 ") lacks it and could be "
                     "elected by %u of %u voters", who, n->id, st->term,
                     st->commit, x->id, xi, xt, grants, voters);
            return;
        }
    }
}

/* I6: the leader's new commit index is durable on a quorum of the voters of
 * its configuration (counting the leader's own disk too). */
static void check_quorum_durable(struct sim_world *w, struct sim_node *n,
                                 const struct raft_status *st,
                                 const char *who)
{
    bool found;
    uint64_t h = sim_shadow_h(&n->sh, st->commit, &found);
    if (!found)
        return; /* commit inside the leader's snapshot: nothing new */
    uint32_t voters = 0, durable = 0;
    for (uint32_t i = 0; i < st->conf.n; i++) {
        if (st->conf.members[i].role != RAFT_VOTER)
            continue;
        voters++;
        struct sim_node *m = sim_node_by_id(w, st->conf.members[i].id);
        if (m && m->started && sim_store_has(&m->st, st->commit, h))
            durable++;
    }
    if (durable * 2 <= voters)
        sim_fail(w, "I6 commit not quorum-durable: %s %" PRIu64
                 " term %" PRIu64 " commit %" PRIu64 " is durable on only %u"
                 " of %u voters", who, n->id, st->term, st->commit, durable,
                 voters);
    else
        check_electable(w, n, st, h, who);
}

/* I6 for a follower that committed ahead of every leader, which only pair
 * commit may do (docs/raft.md): the entry must be quorum-durable in the
 * follower's configuration, and no voter lacking it may be electable in
 * its leader's (which may have a change in flight the follower has not
 * received; any quorum of it must still meet the pair). */
static void check_follower_commit(struct sim_world *w, struct sim_node *n,
                                  const struct raft_status *st)
{
    check_quorum_durable(w, n, st, "follower");
    uint64_t lid = st->term < w->leader_cap ? w->leader_of[st->term] : 0;
    struct sim_node *l = lid ? sim_node_by_id(w, lid) : NULL;
    if (w->failed || l == NULL || !l->up || l->r == NULL)
        return;
    struct raft_status ls;
    raft_status(l->r, &ls);
    bool found;
    uint64_t h = sim_shadow_h(&n->sh, st->commit, &found);
    if (ls.term != st->term || ls.role != RAFT_LEADER || !found)
        return;
    ls.commit = st->commit;
    check_electable(w, n, &ls, h, "follower");
}

static void check_new_leader(struct sim_world *w, struct sim_node *n,
                             const struct raft_status *st)
{
    w->leader_of = grow(w->leader_of, &w->leader_cap, st->term,
                        sizeof(uint64_t));
    uint64_t *l = &w->leader_of[st->term];
    if (*l != 0 && *l != n->id) {
        sim_fail(w, "I1 election safety: nodes %" PRIu64 " and %" PRIu64
                 " both leader of term %" PRIu64, *l, n->id, st->term);
        return;
    }
    if (*l == 0)
        w->n_elections++;
    *l = n->id;
    /* I8: a candidate counts its own vote only once term and vote are
     * durable (else after a crash it can win the same term again with a
     * different log). */
    if (!w->no_leader_hs &&
        (n->st.term != st->term || n->st.vote != n->id))
        sim_fail(w, "I8 node %" PRIu64 " became leader of term %" PRIu64
                 " but its durable hard state is term %" PRIu64 " vote %"
                 PRIu64, n->id, st->term, n->st.term, n->st.vote);
    /* I4: the new leader holds the highest entry committed in an earlier
     * term (Leader Completeness speaks of later terms only: a candidate
     * whose last vote arrived before the voters moved on may still win a
     * lower term after a higher one committed more, seed 26199; it can
     * commit nothing there, its voters having left that term). */
    uint64_t c = w->com_max;
    while (c > n->sh.base && w->com[c].term != 0 &&
           w->com[c].cterm >= st->term)
        c--;
    if (c <= n->sh.base)
        return;
    bool found;
    uint64_t h = sim_shadow_h(&n->sh, c, &found);
    if (!found || h != w->com[c].h)
        sim_fail(w, "I4 leader completeness: node %" PRIu64 " leader of "
                 "term %" PRIu64 " %s committed index %" PRIu64,
                 n->id, st->term, found ? "holds a different entry at" :
                 "lacks", c);
}

void sim_check_status(struct sim_world *w, struct sim_node *n,
                      const struct raft_status *st, uint64_t prev_commit,
                      uint8_t prev_role, uint64_t prev_term)
{
    if (st->term < prev_term)
        sim_fail(w, "I8 term went back on node %" PRIu64 ": %" PRIu64
                 " -> %" PRIu64, n->id, prev_term, st->term);
    if (st->commit < prev_commit)
        sim_fail(w, "I7 commit went back on node %" PRIu64 ": %" PRIu64
                 " -> %" PRIu64, n->id, prev_commit, st->commit);
    if (st->commit > sim_shadow_last(&n->sh))
        sim_fail(w, "I7 node %" PRIu64 " commit %" PRIu64 " beyond its "
                 "last log index %" PRIu64, n->id, st->commit,
                 sim_shadow_last(&n->sh));
    /* a leader may step down in the very step that commits (demotion) */
    bool led = st->role == RAFT_LEADER ||
               (prev_role == RAFT_LEADER && prev_term == st->term);
    if (led && st->commit > w->leader_commit_max)
        w->leader_commit_max = st->commit;
    if (!led && st->commit > prev_commit &&
        st->commit > w->leader_commit_max)
        check_follower_commit(w, n, st);
    if (w->failed)
        return;
    for (uint64_t i = prev_commit + 1; i <= st->commit; i++) {
        bool found;
        uint64_t h = sim_shadow_h(&n->sh, i, &found);
        if (found)
            com_set(w, n, i, h, i > n->sh.base ?
                    n->sh.term[i - n->sh.base - 1] : n->sh.base_term,
                    st->term);
    }
    if (st->role == RAFT_LEADER &&
        (prev_role != RAFT_LEADER || prev_term != st->term))
        check_new_leader(w, n, st);
    if (led && st->commit > prev_commit)
        check_quorum_durable(w, n, st, "leader");
}

/* I5 at apply time and I10. */
void sim_check_apply(struct sim_world *w, struct sim_node *n,
                     const struct raft_entry *e, uint64_t h, uint64_t wid)
{
    if (e->index > n->commit || e->index > w->com_max ||
        w->com[e->index].term == 0) {
        sim_fail(w, "I5 node %" PRIu64 " applied index %" PRIu64
                 " beyond its commit %" PRIu64, n->id, e->index, n->commit);
        return;
    }
    if (w->com[e->index].h != h) {
        sim_fail(w, "I5 state machine safety: node %" PRIu64 " applied "
                 "index %" PRIu64 " term %" PRIu64 " but the committed "
                 "entry there has term %" PRIu64, n->id, e->index, e->term,
                 w->com[e->index].term);
        return;
    }
    /* raft.h rule 6: never apply what the node's own disk could lose */
    if (!sim_store_has(&n->st, e->index, h)) {
        sim_fail(w, "I6 node %" PRIu64 " applied index %" PRIu64 " before it"
                 " was durable on its own disk", n->id, e->index);
        return;
    }
    if (wid == 0)
        return;
    w->wid_at = grow(w->wid_at, &w->wid_cap, wid, sizeof(uint64_t));
    if (w->wid_at[wid] == 0)
        w->wid_at[wid] = e->index;
    else if (w->wid_at[wid] != e->index)
        sim_fail(w, "I10 write %" PRIu64 " committed twice: index %" PRIu64
                 " and %" PRIu64, wid, w->wid_at[wid], e->index);
    w->com[e->index].wid = wid;
}

/* I8: the durable term never decreases; one durable vote per term. */
void sim_check_durable_hs(struct sim_world *w, struct sim_node *n,
                          uint64_t term, uint64_t vote)
{
    if (term < n->st.term)
        sim_fail(w, "I8 durable term decreased on node %" PRIu64 ": %"
                 PRIu64 " -> %" PRIu64, n->id, n->st.term, term);
    else if (term == n->st.term && n->st.vote != RAFT_NONE &&
             vote != n->st.vote)
        sim_fail(w, "I8 node %" PRIu64 " voted for %" PRIu64 " and %" PRIu64
                 " in term %" PRIu64, n->id, n->st.vote, vote, term);
}

/* I9: a read may be served at index only if index covers every entry known
 * committed (so every acknowledged write) when the read was issued. */
void sim_check_read(struct sim_world *w, struct sim_node *n,
                    const struct sim_read *rd)
{
    if (rd->index < rd->bound)
        sim_fail(w, "I9 stale read on node %" PRIu64 ": read %" PRIu64
                 " got read index %" PRIu64 " but index %" PRIu64
                 " was committed before it was issued",
                 n->id, rd->id, rd->index, rd->bound);
    w->n_reads_ok++;
}

/* I12: a snapshot's state equals the committed history up to its index. */
void sim_check_snapshot(struct sim_world *w, struct sim_node *n,
                        uint64_t index, uint64_t h)
{
    if (index == 0)
        return;
    if (index > w->com_max || w->com[index].term == 0) {
        sim_fail(w, "I12 node %" PRIu64 " holds a snapshot at %" PRIu64
                 " beyond anything committed", n->id, index);
        return;
    }
    if (w->com[index].h != h)
        sim_fail(w, "I12 node %" PRIu64 " snapshot at %" PRIu64 " differs "
                 "from the committed history", n->id, index);
}
