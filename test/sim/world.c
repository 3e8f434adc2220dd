/* world.c -- the simulated cluster: nodes, disks, network, clocks, workload
 * and nemesis, driven by one event queue.
 *
 * A step pops the earliest event ((time, seq) order), feeds the matching
 * input to one raft core and carries out the returned update the way
 * coordd/node.c must (raft.h's contract): log changes are mirrored into the
 * checker's shadow log, the persist part becomes a batch on the node's disk
 * queue (durable only when its completion event fires; lost on a crash),
 * messages are deep-copied and scheduled on the network, committed entries
 * are applied to the node's state machine, read results are checked. The
 * checker (check.c) runs after every raft_step.
 *
 * Nothing here may read a real clock or use addresses as data: all choices
 * come from the world's PRNG streams, so one seed is one exact history.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "test/sim/sim.h"

/* ---- trace and failure ------------------------------------------------- */

static void vtrace(struct sim_world *w, const char *fmt, va_list ap)
{
    char *line = w->ring[w->ring_n % SIM_TRACE_RING];
    int k = snprintf(line, SIM_TRACE_LINE, "%10.3f ",
                     (double)w->now / 1000.0);
    if (k < 0 || k >= SIM_TRACE_LINE)
        k = 0;
    vsnprintf(line + k, SIM_TRACE_LINE - (size_t)k, fmt, ap);
    w->ring_n++;
    if (w->trace_mode >= 2)
        printf("%s\n", line);
}

void sim_trace(struct sim_world *w, const char *fmt, ...)
{
    if (!w->trace_mode)
        return;
    va_list ap;
    va_start(ap, fmt);
    vtrace(w, fmt, ap);
    va_end(ap);
}

void sim_fail(struct sim_world *w, const char *fmt, ...)
{
    if (w->failed)
        return;
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof(w->why), fmt, ap);
    va_end(ap);
    sim_trace(w, "VIOLATION: %s", w->why);
}

static void core_trace(void *data, const char *line)
{
    struct sim_node *n = data;
    sim_trace(n->w, "n%" PRIu64 " core: %s", n->id, line);
}

bool sim_no_leader_hs;

struct sim_node *sim_node_by_id(struct sim_world *w, uint64_t id)
{
    if (id == 0 || id > w->n_slots)
        return NULL;
    return &w->nodes[id - 1];
}

/* ---- event heap ------------------------------------------------------------ */

static bool ev_less(const struct sim_ev *a, const struct sim_ev *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void ev_push(struct sim_world *w, struct sim_ev ev)
{
    if (w->heap_n == w->heap_cap) {
        w->heap_cap = w->heap_cap ? w->heap_cap * 2 : 1024;
        w->heap = coord_realloc(w->heap, w->heap_cap * sizeof(*w->heap));
        coord_assert(w->heap != NULL);
    }
    ev.seq = w->ev_seq++;
    uint32_t i = w->heap_n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!ev_less(&ev, &w->heap[p]))
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = ev;
}

static struct sim_ev ev_pop(struct sim_world *w)
{
    coord_assert(w->heap_n > 0);
    struct sim_ev top = w->heap[0];
    struct sim_ev last = w->heap[--w->heap_n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= w->heap_n)
            break;
        if (c + 1 < w->heap_n && ev_less(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!ev_less(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    w->heap[i] = last;
    return top;
}

static void schedule(struct sim_world *w, uint8_t kind, uint64_t at,
                     struct sim_node *n, struct sim_msg *m)
{
    struct sim_ev ev = {.at = at, .kind = kind};
    if (n) {
        ev.node = (uint8_t)(n->id - 1);
        ev.inc = n->inc;
    }
    ev.msg = m;
    ev_push(w, ev);
}

/* ---- state machine ------------------------------------------------------------ */

static uint64_t entry_hash(uint64_t prev, uint64_t term, uint8_t type,
                           const uint8_t *data, uint32_t len)
{
    return sim_mix(sim_hash(prev, data, len), (term << 8) | type);
}

/* Snapshot bytes: the struct sim_sm image, then filler derived from the
 * chain hash (so the size varies and needs several chunks). */
static uint32_t sm_filler_len(const struct sim_sm *sm)
{
    return (uint32_t)(sm->h % 300);
}

static uint8_t *sm_serialize(const struct sim_sm *sm, uint64_t *size)
{
    uint32_t fl = sm_filler_len(sm);
    *size = sizeof(*sm) + fl;
    uint8_t *b = coord_malloc(*size);
    coord_assert(b != NULL);
    memcpy(b, sm, sizeof(*sm));
    for (uint32_t i = 0; i < fl; i++)
        b[sizeof(*sm) + i] = (uint8_t)(sm->h >> (i % 8 * 8)) ^ (uint8_t)i;
    return b;
}

static int sm_deserialize(struct sim_sm *sm, const uint8_t *b, uint64_t size)
{
    if (size < sizeof(*sm))
        return -1;
    memcpy(sm, b, sizeof(*sm));
    uint32_t fl = sm_filler_len(sm);
    if (size != sizeof(*sm) + fl)
        return -1;
    for (uint32_t i = 0; i < fl; i++)
        if (b[sizeof(*sm) + i] !=
            ((uint8_t)(sm->h >> (i % 8 * 8)) ^ (uint8_t)i))
            return -1;
    return 0;
}

static bool conf_has(const struct raft_conf *c, uint64_t id, uint8_t *role)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->members[i].id == id) {
            if (role)
                *role = c->members[i].role;
            return true;
        }
    return false;
}

static bool conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++)
        if (a->members[i].id != b->members[i].id ||
            a->members[i].role != b->members[i].role)
            return false;
    return true;
}

/* A configuration committed: members it names become members; a member it
 * drops is shut down for good at the end of this event (an operator would
 * stop it; its id is never reused). */
static void conf_committed(struct sim_world *w, uint64_t index,
                           const struct raft_conf *c)
{
    if (index <= w->conf_seen)
        return;
    w->conf_seen = index;
    w->n_conf++;
    for (uint32_t s = 0; s < w->n_slots; s++) {
        struct sim_node *m = &w->nodes[s];
        if (conf_has(c, m->id, NULL))
            m->was_member = true;
        else if (m->was_member && !m->removed) {
            m->removed = true;
            m->shutdown = true;
            sim_trace(w, "n%" PRIu64 " removed by conf at %" PRIu64
                      ": shutting down", m->id, index);
        }
    }
}

static void sm_apply(struct sim_world *w, struct sim_node *n,
                     const struct raft_entry *e)
{
    if (e->index != n->sm.applied + 1) {
        sim_fail(w, "apply order: node %" PRIu64 " got index %" PRIu64
                 " after %" PRIu64, n->id, e->index, n->sm.applied);
        return;
    }
    uint64_t h = entry_hash(n->sm.h, e->term, e->type, e->data, e->len);
    uint64_t wid = 0;
    if (e->type == RAFT_ENTRY_NORMAL && e->len >= 9) {
        memcpy(&wid, e->data, 8);
        n->sm.kv[e->data[8] % SIM_KEYS] = wid;
        n->sm.writes++;
    } else if (e->type == RAFT_ENTRY_CONF) {
        struct raft_conf c;
        uint8_t ct;
        uint64_t cid;
        const uint8_t *ctx;
        uint32_t ctx_len;
        if (raft_conf_decode(e, &c, &ct, &cid, &ctx, &ctx_len) != 0) {
            sim_fail(w, "node %" PRIu64 " applied an undecodable CONF "
                     "entry at %" PRIu64, n->id, e->index);
            return;
        }
        n->sm.conf = c;
        n->sm.conf_index = e->index;
        conf_committed(w, e->index, &c);
    }
    n->sm.applied = e->index;
    n->sm.term = e->term;
    n->sm.h = h;
    sim_check_apply(w, n, e, h, wid);
}

/* ---- shadow log (the checker's copy of a node's in-memory log) ----------- */

static void shadow_reset(struct sim_shadow *sh, uint64_t base, uint64_t term,
                         uint64_t h)
{
    sh->base = base;
    sh->base_term = term;
    sh->base_h = h;
    sh->n = 0;
}

static void shadow_push(struct sim_shadow *sh, uint64_t term, uint64_t h)
{
    if (sh->n == sh->cap) {
        sh->cap = sh->cap ? sh->cap * 2 : 256;
        sh->term = coord_realloc(sh->term, sh->cap * sizeof(uint64_t));
        sh->h = coord_realloc(sh->h, sh->cap * sizeof(uint64_t));
        coord_assert(sh->term && sh->h);
    }
    sh->term[sh->n] = term;
    sh->h[sh->n] = h;
    sh->n++;
}

/* ---- durable store ------------------------------------------------------------ */

static void ent_free(struct sim_ent *e)
{
    coord_free(e->data);
    e->data = NULL;
}

static void store_drop_upto(struct sim_store *st, uint64_t upto)
{
    uint32_t k = 0;
    while (k < st->n && st->log[k].index <= upto)
        ent_free(&st->log[k++]);
    if (k == 0)
        return;
    memmove(st->log, st->log + k, (st->n - k) * sizeof(*st->log));
    st->n -= k;
}

static void store_truncate(struct sim_store *st, uint64_t from)
{
    while (st->n > 0 && st->log[st->n - 1].index >= from)
        ent_free(&st->log[--st->n]);
}

static int store_append(struct sim_store *st, struct sim_ent *e)
{
    if (e->index <= st->snap.index) {
        ent_free(e);
        return 0;
    }
    uint64_t want = st->n ? st->log[st->n - 1].index + 1 : st->snap.index + 1;
    if (e->index != want) {
        ent_free(e);
        return -1;
    }
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        st->log = coord_realloc(st->log, st->cap * sizeof(*st->log));
        coord_assert(st->log != NULL);
    }
    st->log[st->n++] = *e;
    return 0;
}

static void store_free(struct sim_store *st)
{
    store_truncate(st, 0);
    coord_free(st->log);
    coord_free(st->snap_data);
    memset(st, 0, sizeof(*st));
}

static void batch_free(struct sim_batch *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        ent_free(&b->ents[i]);
    coord_free(b->ents);
    coord_free(b->snap_data);
    coord_free(b);
}

/* ---- the step: carry out one update ------------------------------------------ */

static int node_step(struct sim_world *w, struct sim_node *n,
                     const struct raft_event *ev, uint64_t *propose_index);

static void mirror_log(struct sim_world *w, struct sim_node *n,
                       const struct raft_update *u)
{
    if (u->snapshot_install) {
        struct sim_sm sm;
        if (sm_deserialize(&sm, n->rx, n->rx_len) != 0 ||
            n->rx_len != u->snap.size || sm.applied != u->snap.index) {
            sim_fail(w, "node %" PRIu64 " told to install snapshot %" PRIu64
                     " of %" PRIu64 " bytes but received %" PRIu64
                     " bytes that do not form it", n->id, u->snap.index,
                     u->snap.size, n->rx_len);
            return;
        }
        if (sm.term != u->snap.term || !conf_equal(&sm.conf, &u->snap.conf))
            sim_fail(w, "snapshot %" PRIu64 " metadata (term/conf) differs "
                     "from the state it carries", u->snap.index);
        sim_check_snapshot(w, n, u->snap.index, sm.h);
        /* raft.h rule 5: truncate_from 0 keeps the log after snap.index,
         * else entries >= truncate_from go (handled below). */
        uint64_t last = sim_shadow_last(&n->sh);
        if (last > u->snap.index && u->snap.index >= n->sh.base) {
            bool f;
            if (!u->truncate_from &&
                sim_shadow_h(&n->sh, u->snap.index, &f) != sm.h)
                sim_fail(w, "node %" PRIu64 " keeps its log after installing"
                         " snapshot %" PRIu64 " but its entry there differs"
                         " from the snapshot", n->id, u->snap.index);
            uint64_t k = u->snap.index - n->sh.base;
            memmove(n->sh.term, n->sh.term + k,
                    (n->sh.n - k) * sizeof(uint64_t));
            memmove(n->sh.h, n->sh.h + k, (n->sh.n - k) * sizeof(uint64_t));
            n->sh.n -= (uint32_t)k;
            n->sh.base = u->snap.index;
            n->sh.base_term = u->snap.term;
            n->sh.base_h = sm.h;
        } else {
            shadow_reset(&n->sh, u->snap.index, u->snap.term, sm.h);
        }
        w->n_snap_installs++;
    }
    if (u->truncate_from) {
        if (u->truncate_from <= n->commit)
            sim_fail(w, "node %" PRIu64 " truncates from %" PRIu64
                     " below its commit %" PRIu64, n->id, u->truncate_from,
                     n->commit);
        if (u->truncate_from <= n->sh.base)
            shadow_reset(&n->sh, n->sh.base, n->sh.base_term, n->sh.base_h);
        else if (u->truncate_from <= sim_shadow_last(&n->sh))
            n->sh.n = (uint32_t)(u->truncate_from - n->sh.base - 1);
    }
    for (uint32_t i = 0; i < u->n_entries && !w->failed; i++) {
        const struct raft_entry *e = &u->entries[i];
        if (e->index != sim_shadow_last(&n->sh) + 1) {
            sim_fail(w, "node %" PRIu64 " update appends index %" PRIu64
                     " after last %" PRIu64, n->id, e->index,
                     sim_shadow_last(&n->sh));
            return;
        }
        bool f;
        uint64_t h = entry_hash(sim_shadow_h(&n->sh, e->index - 1, &f),
                                e->term, e->type, e->data, e->len);
        sim_check_append(w, n, e->index, e->term, h);
        shadow_push(&n->sh, e->term, h);
    }
}

static void enqueue_persist(struct sim_world *w, struct sim_node *n,
                            const struct raft_update *u)
{
    if (!u->persist_seq && !u->snapshot_install)
        return;
    struct sim_batch *b = coord_calloc(1, sizeof(*b));
    coord_assert(b != NULL);
    b->seq = u->persist_seq;
    b->hs = u->hs_changed;
    b->term = u->term;
    b->vote = u->vote;
    b->trunc = u->truncate_from;
    if (u->n_entries) {
        b->ents = coord_malloc(u->n_entries * sizeof(*b->ents));
        coord_assert(b->ents != NULL);
    }
    for (uint32_t i = 0; i < u->n_entries; i++) {
        const struct raft_entry *e = &u->entries[i];
        struct sim_ent *c = &b->ents[b->n++];
        bool f;
        c->index = e->index;
        c->term = e->term;
        c->type = e->type;
        c->len = e->len;
        c->data = coord_malloc(e->len ? e->len : 1);
        coord_assert(c->data != NULL);
        if (e->len)
            memcpy(c->data, e->data, e->len);
        c->h = sim_shadow_h(&n->sh, e->index, &f);
    }
    if (u->snapshot_install) {
        b->install = true;
        b->snap = u->snap;
        b->snap_data = coord_malloc(n->rx_len ? n->rx_len : 1);
        coord_assert(b->snap_data != NULL);
        memcpy(b->snap_data, n->rx, n->rx_len);
    }
    uint64_t lat = w->sw.disk_min + sim_rng_exp(&w->r_disk, w->sw.disk_mean);
    lat = lat * n->disk_mult / 100;
    uint64_t at = w->now + lat;
    if (at < n->disk_free_at)
        at = n->disk_free_at;
    n->disk_free_at = at;
    b->done_at = at;
    if (n->q_tail)
        n->q_tail->next = b;
    else
        n->q_head = b;
    n->q_tail = b;
    schedule(w, SIM_EV_DISK, at, n, NULL);
}

static void receive_chunk(struct sim_world *w, struct sim_node *n,
                          const struct raft_update *u)
{
    if (!u->chunk)
        return;
    if (u->chunk_offset == 0)
        n->rx_len = 0;
    if (u->chunk_offset != n->rx_len) {
        sim_fail(w, "node %" PRIu64 " given snapshot chunk at offset %"
                 PRIu64 " but holds %" PRIu64 " bytes", n->id,
                 u->chunk_offset, n->rx_len);
        return;
    }
    if (n->rx_len + u->chunk_len > n->rx_cap) {
        n->rx_cap = (n->rx_len + u->chunk_len) * 2;
        n->rx = coord_realloc(n->rx, n->rx_cap);
        coord_assert(n->rx != NULL);
    }
    memcpy(n->rx + n->rx_len, u->chunk_data, u->chunk_len);
    n->rx_len += u->chunk_len;
}

/* Deep copy of a message; SNAPSHOT chunks are filled from the sender's
 * latest snapshot as raft.h's rule 5 says. */
static struct sim_msg *msg_copy(struct sim_world *w, struct sim_node *n,
                                const struct raft_msg *m)
{
    size_t size = sizeof(struct sim_msg) +
                  m->n_entries * sizeof(struct raft_entry);
    for (uint32_t i = 0; i < m->n_entries; i++)
        size += m->entries[i].len;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        if (m->snap.index != n->st.snap.index ||
            m->offset + m->chunk_len > n->st.snap.size) {
            sim_fail(w, "node %" PRIu64 " sends snapshot %" PRIu64
                     " [%" PRIu64 "+%u) but its latest is %" PRIu64
                     " of %" PRIu64 " bytes", n->id, m->snap.index,
                     m->offset, m->chunk_len, n->st.snap.index,
                     n->st.snap.size);
            return NULL;
        }
        size += m->chunk_len;
    }
    struct sim_msg *c = coord_malloc(size);
    coord_assert(c != NULL);
    c->m = *m;
    struct raft_entry *ents = (struct raft_entry *)(c + 1);
    uint8_t *p = (uint8_t *)(ents + m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        ents[i] = m->entries[i];
        if (ents[i].len)
            memcpy(p, m->entries[i].data, ents[i].len);
        ents[i].data = p;
        p += ents[i].len;
    }
    c->m.entries = m->n_entries ? ents : NULL;
    if (m->type == RAFT_MSG_SNAPSHOT) {
        memcpy(p, n->st.snap_data + m->offset, m->chunk_len);
        c->m.chunk = p;
    } else {
        c->m.chunk = NULL;
        c->m.chunk_len = 0;
    }
    return c;
}

/* One-line description of a message for the trace. */
static const char *msg_desc(const struct raft_msg *m, char *buf, size_t len)
{
    if (m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_SNAPSHOT_RESP)
        snprintf(buf, len, "%s t%" PRIu64 " snap %" PRIu64 "/%" PRIu64
                 " off %" PRIu64 " len %u%s%s", raft_msg_name(m->type),
                 m->term, m->snap.index, m->snap.term, m->offset,
                 m->chunk_len, m->last ? " last" : "",
                 m->reject ? " reject" : "");
    else
        snprintf(buf, len, "%s t%" PRIu64 " i%" PRIu64 "/%" PRIu64 " c%"
                 PRIu64 " n%u%s%s", raft_msg_name(m->type), m->term,
                 m->index, m->log_term, m->commit, m->n_entries,
                 m->reject ? " reject" : "", m->transfer ? " transfer" : "");
    return buf;
}

static void send_msgs(struct sim_world *w, struct sim_node *n,
                      const struct raft_update *u)
{
    for (uint32_t i = 0; i < u->n_msgs && !w->failed; i++) {
        const struct raft_msg *m = &u->msgs[i];
        w->n_msgs++;
        struct sim_node *to = sim_node_by_id(w, m->to);
        if (m->from != n->id || !to || m->to == n->id) {
            sim_fail(w, "node %" PRIu64 " sent a message from %" PRIu64
                     " to %" PRIu64, n->id, m->from, m->to);
            return;
        }
        if (w->cut[n->id - 1][m->to - 1] ||
            sim_rng_chance(&w->r_net, w->sw.drop)) {
            sim_trace(w, "n%" PRIu64 " -> n%" PRIu64 " %s dropped", n->id,
                      m->to, raft_msg_name(m->type));
            continue;
        }
        int copies = sim_rng_chance(&w->r_net, w->sw.dup) ? 2 : 1;
        for (int k = 0; k < copies; k++) {
            struct sim_msg *c = msg_copy(w, n, m);
            if (!c)
                return;
            uint64_t at = w->now + w->sw.delay_min +
                          sim_rng_exp(&w->r_net, w->sw.delay_mean);
            schedule(w, SIM_EV_DELIVER, at, to, c);
            char d[160];
            if (w->trace_mode >= 2)
                sim_trace(w, "n%" PRIu64 " -> n%" PRIu64 " %s%s (arrives "
                          "%.3f)", n->id, m->to, msg_desc(m, d, sizeof(d)),
                          k ? " dup" : "", (double)at / 1000.0);
        }
    }
}

static void do_reads(struct sim_world *w, struct sim_node *n,
                     const struct raft_update *u)
{
    for (uint32_t i = 0; i < u->n_reads; i++) {
        const struct raft_read *r = &u->reads[i];
        uint32_t k = 0;
        while (k < n->n_reads && n->reads[k].id != r->id)
            k++;
        if (k == n->n_reads || n->reads[k].answered) {
            sim_fail(w, "node %" PRIu64 " answered read %" PRIu64
                     " that is not pending", n->id, r->id);
            return;
        }
        if (r->status != 0) {
            n->reads[k] = n->reads[--n->n_reads];
            continue;
        }
        n->reads[k].index = r->index;
        n->reads[k].answered = true;
        sim_check_read(w, n, &n->reads[k]);
        sim_trace(w, "n%" PRIu64 " read %" PRIu64 " ok at index %" PRIu64
                  " (bound %" PRIu64 ")", n->id, r->id, r->index,
                  n->reads[k].bound);
    }
    /* serve the answered reads whose index is applied */
    for (uint32_t k = 0; k < n->n_reads;) {
        struct sim_read *rd = &n->reads[k];
        if (rd->answered && rd->index <= n->sm.applied)
            *rd = n->reads[--n->n_reads];
        else
            k++;
    }
}

static void process_update(struct sim_world *w, struct sim_node *n,
                           const struct raft_update *u)
{
    uint64_t pc = n->commit, pt = n->term;
    uint8_t pr = n->role;
    receive_chunk(w, n, u);
    mirror_log(w, n, u);
    struct raft_status st;
    raft_status(n->r, &st);
    if (st.last_index != sim_shadow_last(&n->sh))
        sim_fail(w, "node %" PRIu64 " status last_index %" PRIu64
                 " but its updates appended up to %" PRIu64, n->id,
                 st.last_index, sim_shadow_last(&n->sh));
    sim_check_status(w, n, &st, pc, pr, pt);
    n->commit = st.commit;
    n->term = st.term;
    n->role = st.role;
    n->leader = st.leader;
    if (st.role != pr || st.term != pt)
        sim_trace(w, "n%" PRIu64 " is %s term %" PRIu64 " leader %" PRIu64
                  " commit %" PRIu64, n->id, raft_role_name(st.role),
                  st.term, st.leader, st.commit);
    /* Brutal seeds: a new leader often dies young, after doing a little
     * (Figure 8 histories need leaders that replicate only part of what
     * they appended). */
    if (st.role == RAFT_LEADER && (pr != RAFT_LEADER || pt != st.term) &&
        !w->liveness && sim_rng_chance(&w->r_nem, w->sw.p_leader_kill))
        schedule(w, SIM_EV_CRASH, w->now + 1 +
                 sim_rng_exp(&w->r_nem, w->sw.tick_base), n, NULL);
    enqueue_persist(w, n, u);
    send_msgs(w, n, u);
    for (uint32_t i = 0; i < u->n_committed && !w->failed; i++)
        sm_apply(w, n, &u->committed[i]);
    do_reads(w, n, u);
    if (u->want_snapshot)
        n->want_snap = true;
}

static void take_snapshot(struct sim_world *w, struct sim_node *n)
{
    struct sim_store *st = &n->st;
    uint64_t size;
    uint8_t *data = sm_serialize(&n->sm, &size);
    sim_check_snapshot(w, n, n->sm.applied, n->sm.h);
    coord_free(st->snap_data);
    st->snap_data = data;
    st->snap.index = n->sm.applied;
    st->snap.term = n->sm.term;
    st->snap.size = size;
    st->snap.conf = n->sm.conf;
    st->snap_h = n->sm.h;
    store_drop_upto(st, n->sm.applied);
    n->want_snap = false;
    sim_trace(w, "n%" PRIu64 " snapshot taken at %" PRIu64 " (%" PRIu64
              " bytes)", n->id, st->snap.index, size);
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    ev.snap_taken.index = st->snap.index;
    ev.snap_taken.size = size;
    node_step(w, n, &ev, NULL);
}

static int node_step(struct sim_world *w, struct sim_node *n,
                     const struct raft_event *ev, uint64_t *propose_index)
{
    struct raft_update u;
    int rc = raft_step(n->r, ev, &u);
    if (propose_index)
        *propose_index = u.propose_index;
    process_update(w, n, &u);
    if (w->failed || !n->up)
        return rc;
    if (n->sm.applied > n->applied_told) {
        n->applied_told = n->sm.applied;
        struct raft_event a = {.type = RAFT_EV_APPLIED};
        a.applied.index = n->sm.applied;
        node_step(w, n, &a, NULL);
        if (w->failed)
            return rc;
    }
    if (n->sm.applied > n->st.snap.index &&
        (n->want_snap ||
         n->sm.applied - n->st.snap.index >= w->sw.snap_every))
        take_snapshot(w, n);
    return rc;
}

/* ---- node lifecycle ------------------------------------------------------------ */

static void node_start(struct sim_world *w, struct sim_node *n)
{
    struct sim_store *st = &n->st;
    struct raft_restore rs = {.term = st->term, .vote = st->vote};
    rs.snap = st->snap;
    struct raft_entry *ents = NULL;
    if (st->n) {
        ents = coord_malloc(st->n * sizeof(*ents));
        coord_assert(ents != NULL);
    }
    for (uint32_t i = 0; i < st->n; i++)
        ents[i] = (struct raft_entry){st->log[i].index, st->log[i].term,
                                      st->log[i].type, st->log[i].len,
                                      st->log[i].data};
    rs.entries = ents;
    rs.n_entries = st->n;
    if (!n->started) {
        n->started = true;
        if (n->was_member)
            st->snap.conf = w->boot;
        rs.snap = st->snap;
    }
    struct raft_config cfg = w->sw.cfg;
    cfg.id = n->id;
    cfg.seed = sim_mix(w->seed, n->id * 1000 + n->inc);
    cfg.trace = w->trace_mode ? core_trace : NULL;
    cfg.trace_data = n;
    int rc = raft_init(&n->r, &cfg, &rs);
    coord_free(ents);
    if (rc != 0) {
        sim_fail(w, "raft_init refused node %" PRIu64 "'s durable state: %s",
                 n->id, coord_strerror(rc));
        n->r = NULL;
        return;
    }
    n->up = true;
    memset(&n->sm, 0, sizeof(n->sm));
    n->sm.conf = st->snap.conf;
    if (st->snap.index) {
        if (sm_deserialize(&n->sm, st->snap_data, st->snap.size) != 0)
            sim_fail(w, "node %" PRIu64 " durable snapshot unreadable",
                     n->id);
    }
    n->applied_told = n->sm.applied;
    shadow_reset(&n->sh, st->snap.index, st->snap.term, st->snap_h);
    for (uint32_t i = 0; i < st->n; i++)
        shadow_push(&n->sh, st->log[i].term, st->log[i].h);
    struct raft_status s;
    raft_status(n->r, &s);
    n->commit = s.commit;
    n->term = s.term;
    n->role = s.role;
    n->leader = s.leader;
    n->n_reads = 0;
    n->rx_len = 0;
    n->want_snap = false;
    n->disk_free_at = w->now;
    sim_trace(w, "n%" PRIu64 " starts (inc %u): term %" PRIu64 " vote %"
              PRIu64 " snap %" PRIu64 " log %u entries commit %" PRIu64,
              n->id, n->inc, st->term, st->vote, st->snap.index, st->n,
              s.commit);
    schedule(w, SIM_EV_TICK,
             w->now + 1 + sim_rng_below(&w->r_clock, n->tick_period), n,
             NULL);
}

/* Power loss: volatile state and every pending persist batch are gone. */
static void node_crash(struct sim_world *w, struct sim_node *n)
{
    if (!n->up)
        return;
    raft_close(n->r);
    n->r = NULL;
    n->up = false;
    n->inc++;
    uint32_t lost = 0;
    while (n->q_head) {
        struct sim_batch *b = n->q_head;
        n->q_head = b->next;
        batch_free(b);
        lost++;
    }
    n->q_tail = NULL;
    n->n_reads = 0;
    n->rx_len = 0;
    w->n_crashes++;
    sim_trace(w, "n%" PRIu64 " CRASH (%u pending persist batches lost)",
              n->id, lost);
}

/* ---- event handlers ------------------------------------------------------------ */

static void disk_complete(struct sim_world *w, struct sim_node *n,
                          struct sim_batch *b)
{
    struct sim_store *st = &n->st;
    if (b->hs) {
        sim_check_durable_hs(w, n, b->term, b->vote);
        st->term = b->term;
        st->vote = b->vote;
    }
    if (b->install) {
        coord_free(st->snap_data);
        st->snap_data = b->snap_data;
        b->snap_data = NULL;
        st->snap = b->snap;
        struct sim_sm sm;
        sm_deserialize(&sm, st->snap_data, st->snap.size);
        st->snap_h = sm.h;
        store_drop_upto(st, b->snap.index);
    }
    if (b->trunc)
        store_truncate(st, b->trunc);
    for (uint32_t i = 0; i < b->n; i++) {
        if (store_append(st, &b->ents[i]) != 0)
            sim_fail(w, "node %" PRIu64 " persist batch %" PRIu64
                     " leaves a gap in the durable log at %" PRIu64,
                     n->id, b->seq, b->ents[i].index);
        b->ents[i].data = NULL;
    }
    b->n = 0;
}

static void on_disk(struct sim_world *w, struct sim_node *n)
{
    struct sim_batch *b = n->q_head;
    if (!b || b->done_at > w->now)
        return;
    /* group commit: sometimes later batches land in the same fsync */
    uint64_t seq = 0;
    bool install = false;
    struct raft_snapshot_meta snap = {0};
    do {
        b = n->q_head;
        n->q_head = b->next;
        if (!n->q_head)
            n->q_tail = NULL;
        disk_complete(w, n, b);
        if (b->seq)
            seq = b->seq;
        if (b->install) {
            install = true;
            snap = b->snap;
        }
        batch_free(b);
    } while (n->q_head && !install && !w->failed &&
             sim_rng_chance(&w->r_disk, w->sw.disk_coalesce));
    sim_trace(w, "n%" PRIu64 " disk: durable up to seq %" PRIu64 "%s", n->id,
              seq, install ? " + snapshot" : "");
    if (w->failed)
        return;
    if (install) {
        if (sm_deserialize(&n->sm, n->st.snap_data, n->st.snap.size) != 0)
            sim_fail(w, "installed snapshot unreadable");
        n->applied_told = n->sm.applied;
        struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_PERSISTED};
        ev.snap_persisted.index = snap.index;
        ev.snap_persisted.term = snap.term;
        node_step(w, n, &ev, NULL);
    }
    if (seq && n->up && !w->failed) {
        struct raft_event ev = {.type = RAFT_EV_PERSISTED};
        ev.persisted.seq = seq;
        node_step(w, n, &ev, NULL);
    }
}

static void on_deliver(struct sim_world *w, struct sim_node *n,
                       struct sim_msg *c)
{
    const struct raft_msg *m = &c->m;
    if (!n->up || w->cut[m->from - 1][m->to - 1]) {
        sim_trace(w, "n%" PRIu64 " <- n%" PRIu64 " %s lost (%s)", n->id,
                  m->from, raft_msg_name(m->type), n->up ? "cut" : "down");
        return;
    }
    char d[160];
    if (w->trace_mode)
        sim_trace(w, "n%" PRIu64 " <- n%" PRIu64 " %s", n->id, m->from,
                  msg_desc(m, d, sizeof(d)));
    struct raft_event ev = {.type = RAFT_EV_RECV};
    ev.recv = *m;
    node_step(w, n, &ev, NULL);
}

/* ---- workload ------------------------------------------------------------------ */

static struct sim_node *pick_up(struct sim_world *w, bool prefer_leader)
{
    struct sim_node *best = NULL;
    if (prefer_leader)
        for (uint32_t s = 0; s < w->n_slots; s++) {
            struct sim_node *n = &w->nodes[s];
            if (n->up && n->role == RAFT_LEADER &&
                (!best || n->term > best->term))
                best = n;
        }
    if (best)
        return best;
    uint32_t k = (uint32_t)sim_rng_below(&w->r_work, w->n_slots);
    for (uint32_t i = 0; i < w->n_slots; i++) {
        struct sim_node *n = &w->nodes[(k + i) % w->n_slots];
        if (n->up)
            return n;
    }
    return NULL;
}

static void work_propose(struct sim_world *w, struct sim_node *n)
{
    uint32_t cnt = (uint32_t)sim_rng_range(&w->r_work, 1, 4);
    uint8_t data[4][64];
    struct raft_buf bufs[4];
    uint64_t wid0 = w->next_wid;
    for (uint32_t i = 0; i < cnt; i++) {
        uint64_t wid = w->next_wid++;
        uint32_t len = (uint32_t)sim_rng_range(&w->r_work, 9, 64);
        memcpy(data[i], &wid, 8);
        data[i][8] = (uint8_t)sim_rng_below(&w->r_work, SIM_KEYS);
        for (uint32_t j = 9; j < len; j++)
            data[i][j] = (uint8_t)(wid + j);
        bufs[i] = (struct raft_buf){data[i], len};
    }
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = bufs;
    ev.propose.n = cnt;
    uint64_t idx = 0, term = n->term;
    int rc = node_step(w, n, &ev, &idx);
    sim_trace(w, "n%" PRIu64 " client propose %u writes (wid %" PRIu64
              "..): %s index %" PRIu64, n->id, cnt, wid0,
              rc ? coord_strerror(rc) : "ok", idx);
    if (rc != 0 || w->failed)
        return;
    for (uint32_t i = 0; i < cnt; i++) {
        if (w->n_props == w->cap_props) {
            w->cap_props = w->cap_props ? w->cap_props * 2 : 256;
            w->props = coord_realloc(w->props,
                                     w->cap_props * sizeof(*w->props));
            coord_assert(w->props != NULL);
        }
        w->props[w->n_props++] = (struct sim_prop){
            wid0 + i, idx + i, term, (uint8_t)(n->id - 1), n->inc, 0};
    }
}

static void work_read(struct sim_world *w, struct sim_node *n)
{
    if (n->n_reads == SIM_READS_MAX)
        return;
    struct sim_read *rd = &n->reads[n->n_reads++];
    rd->id = ++w->next_read;
    rd->bound = w->com_max;
    rd->index = 0;
    rd->answered = false;
    sim_trace(w, "n%" PRIu64 " client read %" PRIu64 " (bound %" PRIu64 ")",
              n->id, rd->id, rd->bound);
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX};
    ev.read.id = rd->id;
    int rc = node_step(w, n, &ev, NULL);
    if (rc != 0) {
        for (uint32_t k = 0; k < n->n_reads; k++)
            if (n->reads[k].id == ev.read.id && !n->reads[k].answered)
                n->reads[k] = n->reads[--n->n_reads];
    }
}

/* One membership change at the leader: add a learner (starting a fresh
 * node), promote, demote, or remove; the core refuses overlapping ones. */
static void work_conf(struct sim_world *w, struct sim_node *l)
{
    struct raft_status st;
    raft_status(l->r, &st);
    uint32_t voters = 0;
    for (uint32_t i = 0; i < st.conf.n; i++)
        voters += st.conf.members[i].role == RAFT_VOTER;
    uint8_t type = (uint8_t)sim_rng_range(&w->r_work, 1, 4);
    uint64_t target = 0;
    if (type == RAFT_CONF_ADD_LEARNER) {
        for (uint32_t s = 0; s < w->n_slots && !target; s++) {
            struct sim_node *m = &w->nodes[s];
            if (!m->removed && !m->was_member && !conf_has(&st.conf, m->id,
                                                           NULL))
                target = m->id;
        }
    } else {
        struct raft_member *mm = &st.conf.members[sim_rng_below(
            &w->r_work, st.conf.n)];
        bool ok = (type == RAFT_CONF_PROMOTE && mm->role == RAFT_LEARNER) ||
                  (type == RAFT_CONF_DEMOTE && mm->role == RAFT_VOTER &&
                   voters > 2) ||
                  (type == RAFT_CONF_REMOVE &&
                   (mm->role == RAFT_LEARNER || voters > 3));
        if (ok)
            target = mm->id;
    }
    if (!target)
        return;
    struct sim_node *t = sim_node_by_id(w, target);
    uint8_t ctx[8];
    memcpy(ctx, &target, 8);
    struct raft_event ev = {.type = RAFT_EV_CONF_CHANGE};
    ev.conf.type = type;
    ev.conf.id = target;
    ev.conf.ctx = ctx;
    ev.conf.ctx_len = sizeof(ctx);
    int rc = node_step(w, l, &ev, NULL);
    sim_trace(w, "n%" PRIu64 " conf change %u node %" PRIu64 ": %s", l->id,
              type, target, rc ? coord_strerror(rc) : "proposed");
    if (rc == 0 && type == RAFT_CONF_ADD_LEARNER && !t->started) {
        /* A joining node starts from the configuration that adds it (as
         * a learner it never campaigns); the log then brings it up. */
        raft_status(l->r, &st);
        t->st.snap.conf = st.conf;
        node_start(w, t);
    }
}

static void on_work(struct sim_world *w)
{
    if (w->liveness)
        return;
    schedule(w, SIM_EV_WORK, w->now + 1 + sim_rng_exp(&w->r_work,
                                                      w->sw.work_mean),
             NULL, NULL);
    if (sim_rng_chance(&w->r_work, 0.01))
        w->paused = sim_rng_chance(&w->r_work, w->sw.p_idle);
    if (w->paused)
        return;
    double x = sim_rng_unit(&w->r_work) *
               (w->sw.w_propose + w->sw.w_read + w->sw.w_conf +
                w->sw.w_transfer);
    if (x < w->sw.w_propose) {
        struct sim_node *n = pick_up(w, sim_rng_chance(&w->r_work, 0.8));
        if (n)
            work_propose(w, n);
        return;
    }
    x -= w->sw.w_propose;
    if (x < w->sw.w_read) {
        struct sim_node *n = pick_up(w, sim_rng_chance(&w->r_work, 0.5));
        if (n)
            work_read(w, n);
        return;
    }
    x -= w->sw.w_read;
    struct sim_node *l = pick_up(w, true);
    if (!l || l->role != RAFT_LEADER)
        return;
    if (x < w->sw.w_conf) {
        work_conf(w, l);
        return;
    }
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    ev.transfer.to = sim_rng_chance(&w->r_work, 0.3) ? RAFT_NONE :
                     1 + sim_rng_below(&w->r_work, w->n_slots);
    int rc = node_step(w, l, &ev, NULL);
    sim_trace(w, "n%" PRIu64 " transfer leadership to %" PRIu64 ": %s",
              l->id, ev.transfer.to, rc ? coord_strerror(rc) : "started");
}

/* ---- nemesis -------------------------------------------------------------------- */

static void heal(struct sim_world *w)
{
    memset(w->cut, 0, sizeof(w->cut));
}

static void partition(struct sim_world *w)
{
    uint32_t n = w->n_slots;
    uint32_t shape = (uint32_t)sim_rng_below(&w->r_nem, 5);
    heal(w);
    w->n_partitions++;
    if (shape == 0) { /* isolate one node, both ways */
        uint32_t a = (uint32_t)sim_rng_below(&w->r_nem, n);
        for (uint32_t b = 0; b < n; b++)
            w->cut[a][b] = w->cut[b][a] = a != b;
    } else if (shape == 1) { /* random halves (majority/minority) */
        uint32_t side = (uint32_t)sim_rng_next(&w->r_nem);
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = 0; b < n; b++)
                w->cut[a][b] = ((side >> a) & 1) != ((side >> b) & 1);
    } else if (shape == 2) { /* bridge: halves, one node sees both */
        uint32_t side = (uint32_t)sim_rng_next(&w->r_nem);
        uint32_t br = (uint32_t)sim_rng_below(&w->r_nem, n);
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = 0; b < n; b++)
                w->cut[a][b] = a != br && b != br &&
                               ((side >> a) & 1) != ((side >> b) & 1);
    } else if (shape == 3) { /* asymmetric: one-way cuts */
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = 0; b < n; b++)
                w->cut[a][b] = a != b &&
                               sim_rng_chance(&w->r_nem, w->sw.p_oneway);
    } else { /* partial connectivity: random symmetric links */
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = a + 1; b < n; b++)
                w->cut[a][b] = w->cut[b][a] =
                    sim_rng_chance(&w->r_nem, 0.4);
    }
    sim_trace(w, "nemesis: partition shape %u", shape);
}

static void on_nemesis(struct sim_world *w)
{
    if (w->liveness)
        return;
    schedule(w, SIM_EV_NEMESIS,
             w->now + 1 + sim_rng_exp(&w->r_nem, w->sw.nemesis_mean), NULL,
             NULL);
    if (sim_rng_chance(&w->r_nem, w->sw.p_heal)) {
        heal(w);
        sim_trace(w, "nemesis: heal");
    }
    if (sim_rng_chance(&w->r_nem, w->sw.p_partition))
        partition(w);
    if (sim_rng_chance(&w->r_nem, w->sw.p_crash)) {
        struct sim_node *n = pick_up(w, sim_rng_chance(&w->r_nem,
                                                      w->sw.p_crash_leader));
        if (n) {
            node_crash(w, n);
            uint64_t down = sim_rng_exp(&w->r_nem, w->sw.down_mean);
            schedule(w, SIM_EV_RESTART, w->now + 1 + down, n, NULL);
        }
    }
}

/* ---- liveness -------------------------------------------------------------- */

static void begin_liveness(struct sim_world *w)
{
    w->liveness = true;
    heal(w);
    w->sw.drop = 0;
    w->sw.dup = 0;
    sim_trace(w, "---- liveness phase: faults healed, all nodes up ----");
    for (uint32_t s = 0; s < w->n_slots; s++) {
        struct sim_node *n = &w->nodes[s];
        if (n->started && !n->up && !n->removed)
            node_start(w, n);
    }
}

/* Returns NULL when converged, else what is still missing. */
static const char *live_check(struct sim_world *w)
{
    struct sim_node *l = NULL;
    for (uint32_t s = 0; s < w->n_slots; s++) {
        struct sim_node *n = &w->nodes[s];
        if (n->up && n->role == RAFT_LEADER) {
            if (l)
                return "more than one node thinks it is leader";
            l = n;
        }
    }
    if (!l)
        return "no leader";
    if (l->commit < w->com_max)
        return "leader's commit below the highest committed index";
    struct raft_status st;
    raft_status(l->r, &st);
    for (uint32_t i = 0; i < st.conf.n; i++) {
        struct sim_node *m = sim_node_by_id(w, st.conf.members[i].id);
        if (!m || !m->up)
            return "a member is not running";
        if (m->term != l->term || m->leader != l->id)
            return "a member does not follow the leader";
        if (m->commit != l->commit || m->sm.applied != l->commit ||
            m->sm.h != l->sm.h) {
            static char buf[160];
            snprintf(buf, sizeof(buf), "node %" PRIu64 " has commit %"
                     PRIu64 " applied %" PRIu64 ", leader %" PRIu64
                     " commit %" PRIu64 " applied %" PRIu64, m->id,
                     m->commit, m->sm.applied, l->id, l->commit,
                     l->sm.applied);
            return buf;
        }
    }
    for (uint32_t i = 0; i < w->n_props; i++) {
        struct sim_prop *p = &w->props[i];
        if (p->status)
            continue;
        if (p->wid < w->wid_cap && w->wid_at[p->wid] == p->index) {
            p->status = 1;
            continue;
        }
        struct sim_node *n = &w->nodes[p->node];
        if (p->index <= l->commit || !n->up || n->inc != p->inc ||
            n->term != p->term || n->role != RAFT_LEADER) {
            p->status = 2; /* overwritten or leadership lost: error */
            continue;
        }
        return "a proposal is still pending at its leader";
    }
    return NULL;
}

/* The liveness phase's progress measure: the highest committed index, what
 * every node applied, and how far the (single) leader's followers match its
 * log. Replication counts: a follower far behind on a 1-entry, 1-in-flight
 * configuration catches up one round trip at a time and commits nothing
 * until it does (seed 15107); entries that only churn (appended, then
 * truncated) do not raise it, since only a new maximum counts. */
static uint64_t live_progress(struct sim_world *w)
{
    uint64_t prog = w->com_max;
    struct sim_node *l = NULL;
    uint32_t leaders = 0;
    for (uint32_t s = 0; s < w->n_slots; s++) {
        struct sim_node *n = &w->nodes[s];
        prog += n->sm.applied;
        if (n->up && n->role == RAFT_LEADER) {
            l = n;
            leaders++;
        }
    }
    if (leaders == 1) {
        struct raft_status st;
        raft_status(l->r, &st);
        for (uint32_t i = 0; i < st.n_progress; i++)
            prog += st.progress[i].match;
    }
    return prog;
}

/* ---- the loop ------------------------------------------------------------------ */

static void dispatch(struct sim_world *w, struct sim_ev *ev)
{
    struct sim_node *n = &w->nodes[ev->node];
    w->trace_hash = sim_mix(w->trace_hash, ev->at * 16 + ev->kind);
    switch (ev->kind) {
    case SIM_EV_TICK:
        if (!n->up || ev->inc != n->inc)
            return;
        schedule(w, SIM_EV_TICK, w->now + n->tick_period, n, NULL);
        node_step(w, n, &(struct raft_event){.type = RAFT_EV_TICK}, NULL);
        return;
    case SIM_EV_DELIVER:
        on_deliver(w, n, ev->msg);
        return;
    case SIM_EV_DISK:
        if (n->up && ev->inc == n->inc)
            on_disk(w, n);
        return;
    case SIM_EV_WORK:
        on_work(w);
        return;
    case SIM_EV_NEMESIS:
        on_nemesis(w);
        return;
    case SIM_EV_CRASH:
        if (n->up && ev->inc == n->inc && !w->liveness) {
            node_crash(w, n);
            schedule(w, SIM_EV_RESTART, w->now + 1 +
                     sim_rng_exp(&w->r_nem, w->sw.down_mean), n, NULL);
        }
        return;
    case SIM_EV_RESTART:
        if (!n->up && !n->removed && ev->inc == n->inc)
            node_start(w, n);
        return;
    }
}

int sim_world_run(struct sim_world *w)
{
    uint64_t deadline = 0, live_start = 0, bound = 0, live_prog = 0;
    const char *why = NULL;
    while (!w->failed) {
        if (!w->liveness && w->step >= w->steps_max) {
            begin_liveness(w);
            live_start = w->step;
            /* bound: 60 election timeouts of the slowest clock */
            bound = 60ull * 2 * w->sw.cfg.election_ticks *
                    w->sw.tick_base * 13 / 10;
            deadline = w->now + bound;
        }
        if (w->liveness && w->step % 16 == 0) {
            if (!(why = live_check(w)))
                break;
            /* the bound runs from the last progress (like VOPR's), so a
             * slow but moving catch-up is not a liveness failure */
            uint64_t prog = live_progress(w);
            if (prog > live_prog) {
                live_prog = prog;
                deadline = w->now + bound;
            }
        }
        if (w->liveness && w->step > live_start + 300000) {
            sim_fail(w, "liveness: event storm: 300000 steps after the heal"
                     " without converging (%s)", why ? why : "?");
            break;
        }
        if (w->liveness && w->now > deadline) {
            sim_fail(w, "liveness: no progress for %" PRIu64 " ticks: %s",
                     (uint64_t)(120 * w->sw.cfg.election_ticks),
                     why ? why : "?");
            break;
        }
        struct sim_ev ev = ev_pop(w);
        w->now = ev.at;
        w->step++;
        dispatch(w, &ev);
        coord_free(ev.msg);
        for (uint32_t s = 0; s < w->n_slots; s++)
            if (w->nodes[s].shutdown) {
                w->nodes[s].shutdown = false;
                node_crash(w, &w->nodes[s]);
            }
    }
    return w->failed ? -1 : 0;
}

/* ---- setup ------------------------------------------------------------------ */

static void draw_swarm(struct sim_world *w)
{
    struct sim_rng g;
    sim_rng_seed(&g, w->seed, 99);
    struct sim_swarm *s = &w->sw;
    bool calm = sim_rng_chance(&g, 0.2);
    s->n_voters = sim_rng_chance(&g, 0.6) ? 3 : 5;
    s->tick_base = 10000;
    s->drop = calm ? 0 : sim_rng_unit(&g) * 0.2;
    s->dup = calm ? 0 : sim_rng_unit(&g) * 0.2;
    s->delay_min = sim_rng_range(&g, 0, 2000);
    s->delay_mean = sim_rng_range(&g, 300, 12000);
    s->disk_min = sim_rng_range(&g, 100, 2000);
    s->disk_mean = sim_rng_range(&g, 200, 15000);
    s->disk_coalesce = sim_rng_unit(&g) * 0.7;
    s->drift_pct = (uint32_t)sim_rng_range(&g, 0, 20);
    s->nemesis_mean = s->tick_base * sim_rng_range(&g, 5, 40);
    s->p_partition = calm ? 0 : sim_rng_unit(&g) * 0.5;
    s->p_heal = 0.2 + sim_rng_unit(&g) * 0.6;
    s->p_crash = calm ? 0 : sim_rng_unit(&g) * 0.4;
    s->p_oneway = 0.1 + sim_rng_unit(&g) * 0.4;
    s->work_mean = s->tick_base * sim_rng_range(&g, 1, 20) / 10;
    s->p_idle = sim_rng_unit(&g) * 0.5;
    s->w_propose = 0.5 + sim_rng_unit(&g);
    s->w_read = sim_rng_unit(&g) * 0.6;
    s->w_conf = sim_rng_unit(&g) * 0.08;
    s->w_transfer = sim_rng_unit(&g) * 0.04;
    s->snap_every = (uint32_t)sim_rng_range(&g, 8, 128);
    struct raft_config *c = &s->cfg;
    c->election_ticks = 10;
    c->heartbeat_ticks = (uint32_t)sim_rng_range(&g, 1, 3);
    c->inflight_max = (uint32_t)sim_rng_range(&g, 1, 8);
    c->append_entries_max = (uint32_t)sim_rng_range(&g, 1, 16);
    s->p_crash_leader = 0.3;
    s->down_mean = s->tick_base * 20;
    /* A quarter of the seeds are brutal: five voters, one-entry APPENDs,
     * frequent crashes aimed at leaders, short downtimes. This is where
     * Figure 8 style histories (old-term entries replicated entry by entry
     * across leader crashes) happen. */
    s->brutal = !calm && sim_rng_chance(&g, 0.25);
    if (s->brutal) {
        s->n_voters = 5;
        c->append_entries_max = (uint32_t)sim_rng_range(&g, 1, 2);
        s->p_crash = 0.5 + sim_rng_unit(&g) * 0.4;
        s->p_crash_leader = 0.7;
        s->nemesis_mean = s->tick_base * sim_rng_range(&g, 3, 12);
        s->down_mean = s->tick_base * sim_rng_range(&g, 2, 10);
        s->p_leader_kill = 0.2 + sim_rng_unit(&g) * 0.5;
    }
    c->append_bytes_max = (uint32_t)sim_rng_range(&g, 64, 4096);
    c->uncommitted_bytes_max = sim_rng_range(&g, 1024, 65536);
    c->log_entries_max = (uint32_t)sim_rng_range(&g, 256, 1024);
    c->log_bytes_max = 1 << 20;
    c->snapshot_chunk_bytes = (uint32_t)sim_rng_range(&g, 16, 256);
    c->reads_max = 32;
    c->pre_vote = sim_rng_chance(&g, 0.8);
    c->check_quorum = sim_rng_chance(&g, 0.8);
    for (uint32_t i = 0; i < SIM_NODES_MAX; i++) {
        w->nodes[i].tick_period =
            s->tick_base * (100 + sim_rng_range(&g, 0, 2 * s->drift_pct) -
                            s->drift_pct) / 100;
        w->nodes[i].disk_mult = sim_rng_chance(&g, 0.2) ?
                                sim_rng_range(&g, 100, 500) : 100;
    }
    c->pair_commit = sim_rng_chance(&g, 0.8); /* drawn last: seeds keep */
}

void sim_world_init(struct sim_world *w, uint64_t seed, uint64_t steps,
                    int trace_mode)
{
    memset(w, 0, sizeof(*w));
    w->seed = seed;
    w->steps_max = steps;
    w->trace_mode = trace_mode;
    w->no_leader_hs = sim_no_leader_hs;
    sim_rng_seed(&w->r_net, seed, 1);
    sim_rng_seed(&w->r_disk, seed, 2);
    sim_rng_seed(&w->r_clock, seed, 3);
    sim_rng_seed(&w->r_work, seed, 4);
    sim_rng_seed(&w->r_nem, seed, 5);
    draw_swarm(w);
    w->n_slots = w->sw.n_voters + 2;
    w->next_wid = 1;
    sim_check_reset(w);
    w->boot.n = w->sw.n_voters;
    for (uint32_t i = 0; i < w->n_slots; i++) {
        struct sim_node *n = &w->nodes[i];
        n->w = w;
        n->id = i + 1;
        if (i < w->sw.n_voters) {
            w->boot.members[i] = (struct raft_member){i + 1, RAFT_VOTER};
            n->was_member = true;
        }
    }
    sim_trace(w, "seed %" PRIu64 ": %u voters, drop %.2f dup %.2f delay %"
              PRIu64 "+%" PRIu64 " disk %" PRIu64 "+%" PRIu64
              " partition %.2f crash %.2f prevote %d checkquorum %d"
              " paircommit %d",
              seed, w->sw.n_voters, w->sw.drop, w->sw.dup, w->sw.delay_min,
              w->sw.delay_mean, w->sw.disk_min, w->sw.disk_mean,
              w->sw.p_partition, w->sw.p_crash, w->sw.cfg.pre_vote,
              w->sw.cfg.check_quorum, w->sw.cfg.pair_commit);
    for (uint32_t i = 0; i < w->sw.n_voters; i++)
        node_start(w, &w->nodes[i]);
    schedule(w, SIM_EV_WORK, w->sw.tick_base * 5, NULL, NULL);
    schedule(w, SIM_EV_NEMESIS, w->sw.nemesis_mean, NULL, NULL);
}

void sim_world_free(struct sim_world *w)
{
    for (uint32_t s = 0; s < SIM_NODES_MAX; s++) {
        struct sim_node *n = &w->nodes[s];
        if (n->up && n->r)
            raft_close(n->r);
        n->up = false;
        while (n->q_head) {
            struct sim_batch *b = n->q_head;
            n->q_head = b->next;
            batch_free(b);
        }
        store_free(&n->st);
        coord_free(n->rx);
        coord_free(n->sh.term);
        coord_free(n->sh.h);
    }
    for (uint32_t i = 0; i < w->heap_n; i++)
        coord_free(w->heap[i].msg);
    coord_free(w->heap);
    coord_free(w->props);
    sim_check_free(w);
}
