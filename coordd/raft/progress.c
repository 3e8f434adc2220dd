/* progress.c -- the leader's view of each member: match/next, the probe /
 * replicate / snapshot states (etcd-io/raft design.md), the in-flight
 * window, and the quorum computations (O(voters), no allocation).
 *
 * The table is rebuilt from the configuration whenever it changes, keeping
 * the state of members that stay. It never sends anything itself.
 */
#include "raft_int.h"

#include <string.h>

#include "libcoord/shared/check.h"

struct raft_prog *raft_prog_find(struct raft *r, uint64_t id)
{
    coord_assert(r->n_prog <= RAFT_MEMBERS_MAX);
    for (uint32_t i = 0; i < r->n_prog; i++)
        if (r->prog[i].id == id)
            return &r->prog[i];
    return NULL;
}

static uint32_t prog_ring_alloc(struct raft *r)
{
    for (uint32_t i = 0; i < RAFT_MEMBERS_MAX; i++) {
        if (!r->ring_used[i]) {
            r->ring_used[i] = true;
            return i;
        }
    }
    coord_panic("raft: no free in-flight ring");
}

static void prog_init(struct raft *r, struct raft_prog *p,
                      const struct raft_member *m)
{
    coord_assert(m->id != RAFT_NONE);
    memset(p, 0, sizeof(*p));
    p->id = m->id;
    p->role = m->role;
    p->next = raft_log_last(r) + 1;
    p->state = RAFT_PROG_PROBE;
    p->ring = prog_ring_alloc(r);
    p->recent_active = true;
    coord_assert(p->ring < RAFT_MEMBERS_MAX && r->ring_used[p->ring]);
}

/* Rebuild the table from r->conf: members that stay keep their progress. */
void raft_prog_rebuild(struct raft *r)
{
    struct raft_prog old[RAFT_MEMBERS_MAX];
    uint32_t n_old = r->n_prog;
    memcpy(old, r->prog, sizeof(old[0]) * n_old);
    bool kept[RAFT_MEMBERS_MAX] = {false};
    r->n_prog = 0;
    for (uint32_t i = 0; i < r->conf.n; i++) {
        const struct raft_member *m = &r->conf.members[i];
        struct raft_prog *p = &r->prog[r->n_prog++];
        uint32_t j = 0;
        while (j < n_old && old[j].id != m->id)
            j++;
        if (j < n_old) {
            *p = old[j];
            p->role = m->role;
            kept[j] = true;
        } else {
            p->ring = 0;
            prog_init(r, p, m);
        }
    }
    for (uint32_t j = 0; j < n_old; j++)
        if (!kept[j])
            r->ring_used[old[j].ring] = false;
    coord_assert(r->n_prog == r->conf.n);
}

/* A new leader: everyone starts probing right after our last entry. */
void raft_prog_reset_all(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_prog; i++) {
        struct raft_prog *p = &r->prog[i];
        struct raft_member m = {.id = p->id, .role = p->role};
        r->ring_used[p->ring] = false;
        prog_init(r, p, &m);
        if (p->id == r->id) {
            p->match = r->stable;
            p->state = RAFT_PROG_REPLICATE;
        }
    }
    coord_assert(r->n_prog <= RAFT_MEMBERS_MAX);
}

bool raft_prog_inflight_full(const struct raft *r,
                             const struct raft_prog *p)
{
    coord_assert(p->in_count <= r->cfg.inflight_max);
    return p->in_count == r->cfg.inflight_max;
}

void raft_prog_inflight_add(struct raft *r, struct raft_prog *p,
                            uint64_t last)
{
    coord_assert(!raft_prog_inflight_full(r, p));
    uint64_t *ring = r->inflight + (uint64_t)p->ring * r->cfg.inflight_max;
    uint32_t slot = (p->in_head + p->in_count) % r->cfg.inflight_max;
    ring[slot] = last;
    p->in_count++;
}

/* An acknowledgement up to index frees every APPEND that ended there. */
void raft_prog_inflight_free_to(struct raft *r, struct raft_prog *p,
                                uint64_t index)
{
    uint64_t *ring = r->inflight + (uint64_t)p->ring * r->cfg.inflight_max;
    while (p->in_count > 0 && ring[p->in_head] <= index) {
        p->in_head = (p->in_head + 1) % r->cfg.inflight_max;
        p->in_count--;
    }
    coord_assert(p->in_count <= r->cfg.inflight_max);
}

void raft_prog_become_probe(struct raft_prog *p)
{
    p->state = RAFT_PROG_PROBE;
    p->paused = false;
    p->in_head = 0;
    p->in_count = 0;
    if (p->next <= p->match)
        p->next = p->match + 1;
    coord_assert(p->next > p->match);
}

void raft_prog_become_replicate(struct raft_prog *p)
{
    p->state = RAFT_PROG_REPLICATE;
    p->paused = false;
    p->in_head = 0;
    p->in_count = 0;
    p->next = p->match + 1;
    coord_assert(p->next > p->match);
}

void raft_prog_tick(struct raft *r, struct raft_prog *p)
{
    coord_assert(r->role == RAFT_LEADER);
    if (p->state != RAFT_PROG_REPLICATE || p->in_count == 0 ||
        p->match != p->stall_match) {
        p->stall_match = p->match;
        p->stall_ticks = 0;
        return;
    }
    if (++p->stall_ticks < r->cfg.election_ticks)
        return;
    raft_trace(r, "no ack from %llu for %u ticks: probe from %llu",
               (unsigned long long)p->id, p->stall_ticks,
               (unsigned long long)p->match + 1);
    p->next = p->match + 1;
    p->stall_ticks = 0;
    raft_prog_become_probe(p);
    coord_assert(p->state == RAFT_PROG_PROBE && !p->paused);
}

bool raft_is_voter(const struct raft *r, uint64_t id)
{
    const struct raft_member *m = raft_conf_member(&r->conf, id);
    return m != NULL && m->role == RAFT_VOTER;
}

uint32_t raft_quorum(const struct raft *r)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < r->conf.n; i++)
        if (r->conf.members[i].role == RAFT_VOTER)
            v++;
    coord_assert(v <= RAFT_MEMBERS_MAX);
    return v / 2 + 1;
}

/* The quorum-th highest durable match among voters (the leader's own is
 * its stable index, §10.2.1). Insertion sort over <= 16 values. */
uint64_t raft_prog_quorum_match(struct raft *r)
{
    uint64_t m[RAFT_MEMBERS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n_prog; i++) {
        const struct raft_prog *p = &r->prog[i];
        if (p->role != RAFT_VOTER)
            continue;
        uint64_t v = p->id == r->id ? r->stable : p->match;
        uint32_t j = n++;
        while (j > 0 && m[j - 1] < v) {
            m[j] = m[j - 1];
            j--;
        }
        m[j] = v;
    }
    uint32_t q = raft_quorum(r);
    if (n == 0 || q > n)
        return 0;
    coord_assert(n < 2 || m[0] >= m[n - 1]);
    return m[q - 1];
}
