/* raft_fixture.c -- the in-memory cluster behind raft_fixture.h: carries
 * out each raft_update the way coordd's node.c must (persist, send, apply,
 * reads, snapshots), but only when the test says so. Checks State Machine
 * Safety on every apply. Test code: allocates freely, aborts on misuse.
 */
#include "test/lib/raft_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

static void rfx_trace_cb(void *data, const char *line)
{
    struct rfx *fx = data;
    if (fx->trace)
        fprintf(stderr, "%s\n", line);
}

void rfx_config_default(struct raft_config *cfg, uint64_t id)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = id;
    cfg->election_ticks = 10;
    cfg->heartbeat_ticks = 1;
    cfg->inflight_max = 4;
    cfg->append_entries_max = 8;
    cfg->append_bytes_max = 4096;
    cfg->uncommitted_bytes_max = 1 << 20;
    cfg->log_entries_max = 1024;
    cfg->log_bytes_max = 1 << 20;
    cfg->snapshot_chunk_bytes = 64;
    cfg->reads_max = 32;
    cfg->pre_vote = true;
    cfg->check_quorum = true;
    cfg->seed = 1;
}

struct rfx_node *rfx_node(struct rfx *fx, uint64_t id)
{
    for (uint32_t i = 0; i < fx->n; i++)
        if (fx->nodes[i].id == id)
            return &fx->nodes[i];
    coord_panic("rfx: no such node");
}

struct raft *rfx_raft(struct rfx *fx, uint64_t id)
{
    struct rfx_node *n = rfx_node(fx, id);
    coord_assert(n->up);
    return n->r;
}

static void entry_copy(struct rfx_entry *dst, const struct raft_entry *src)
{
    dst->e = *src;
    dst->buf = NULL;
    if (src->len > 0) {
        dst->buf = coord_malloc(src->len);
        memcpy(dst->buf, src->data, src->len);
    }
    dst->e.data = dst->buf;
}

static void node_boot(struct rfx *fx, struct rfx_node *n)
{
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.term = n->term;
    rs.vote = n->vote;
    rs.snap = n->snap;
    struct raft_entry *ents = coord_calloc(n->n_log + 1, sizeof(*ents));
    for (uint32_t i = 0; i < n->n_log; i++)
        ents[i] = n->log[i].e;
    rs.entries = ents;
    rs.n_entries = n->n_log;
    n->cfg.trace = rfx_trace_cb;
    n->cfg.trace_data = fx;
    int rc = raft_init(&n->r, &n->cfg, &rs);
    coord_assert(rc == 0);
    coord_free(ents);
    n->up = true;
    n->applied = n->snap.index;
    n->sm_hash = 0;
    if (n->snap_data != NULL)
        memcpy(&n->sm_hash, n->snap_data + 8, 8);
    n->n_batches = 0;
    n->install_pending = false;
}

void rfx_init(struct rfx *fx, uint32_t n_voters, uint32_t n_learners,
              const struct raft_config *cfg)
{
    memset(fx, 0, sizeof(*fx));
    fx->n = n_voters + n_learners;
    coord_assert(fx->n <= RFX_NODES_MAX && n_voters > 0);
    fx->snap_bytes = 200;
    struct raft_conf conf;
    memset(&conf, 0, sizeof(conf));
    conf.n = fx->n;
    for (uint32_t i = 0; i < fx->n; i++) {
        conf.members[i].id = i + 1;
        conf.members[i].role = i < n_voters ? RAFT_VOTER : RAFT_LEARNER;
    }
    for (uint32_t i = 0; i < fx->n; i++) {
        struct rfx_node *n = &fx->nodes[i];
        n->id = i + 1;
        if (cfg != NULL)
            n->cfg = *cfg;
        else
            rfx_config_default(&n->cfg, n->id);
        n->cfg.id = n->id;
        n->snap.conf = conf;
        node_boot(fx, n);
    }
}

void rfx_add_node(struct rfx *fx, uint64_t id, const struct raft_conf *boot)
{
    coord_assert(fx->n < RFX_NODES_MAX);
    struct rfx_node *n = &fx->nodes[fx->n++];
    memset(n, 0, sizeof(*n));
    n->id = id;
    n->cfg = fx->nodes[0].cfg;
    n->cfg.id = id;
    if (boot != NULL) {
        n->snap.conf = *boot;
    } else { /* the bootstrap configuration plus itself as a learner */
        struct raft_conf c = fx->nodes[0].snap.conf;
        uint32_t pos = 0;
        while (pos < c.n && c.members[pos].id < id)
            pos++;
        memmove(&c.members[pos + 1], &c.members[pos],
                (c.n - pos) * sizeof(c.members[0]));
        c.members[pos].id = id;
        c.members[pos].role = RAFT_LEARNER;
        c.n++;
        n->snap.conf = c;
    }
    node_boot(fx, n);
}

static void batch_free(struct rfx_batch *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        coord_free(b->ents[i].buf);
    coord_free(b->ents);
    b->ents = NULL;
    b->n = 0;
}

static void log_drop_from(struct rfx_node *n, uint64_t index)
{
    while (n->n_log > 0 && n->log[n->n_log - 1].e.index >= index) {
        n->n_log--;
        coord_free(n->log[n->n_log].buf);
    }
}

static void log_drop_upto(struct rfx_node *n, uint64_t index)
{
    uint32_t k = 0;
    while (k < n->n_log && n->log[k].e.index <= index)
        coord_free(n->log[k++].buf);
    memmove(n->log, n->log + k, (n->n_log - k) * sizeof(n->log[0]));
    n->n_log -= k;
}

void rfx_close(struct rfx *fx)
{
    for (uint32_t i = 0; i < fx->n; i++) {
        struct rfx_node *n = &fx->nodes[i];
        if (n->up)
            raft_close(n->r);
        for (uint32_t b = 0; b < n->n_batches; b++)
            batch_free(&n->batches[b]);
        log_drop_from(n, 0);
        coord_free(n->snap_data);
        coord_free(n->rcv_data);
    }
    for (uint32_t i = 0; i < fx->n_net; i++) {
        coord_free(fx->net[i].ents);
        coord_free(fx->net[i].data);
    }
    fx->n_net = 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static void apply_entry(struct rfx *fx, struct rfx_node *n,
                        const struct raft_entry *e)
{
    coord_assert(e->index == n->applied + 1);
    uint64_t h = fnv(n->sm_hash ^ 0xcbf29ce484222325ULL, &e->index, 8);
    h = fnv(h, &e->type, 1);
    if (e->len > 0)
        h = fnv(h, e->data, e->len);
    n->sm_hash = h;
    n->applied = e->index;
    if (e->type == RAFT_ENTRY_NORMAL)
        n->n_applied_normal++;
    coord_assert(e->index < COORD_ARRAY_LEN(fx->applied_term));
    if (fx->applied_term[e->index] == 0) {
        fx->applied_term[e->index] = e->term;
        fx->applied_hash[e->index] = h;
    } else if (fx->applied_term[e->index] != e->term ||
               fx->applied_hash[e->index] != h) {
        fprintf(stderr, "rfx: node %llu applied a different entry @%llu\n",
                (unsigned long long)n->id, (unsigned long long)e->index);
        coord_panic("rfx: State Machine Safety violated");
    }
}

static void net_push(struct rfx *fx, struct rfx_node *n,
                     const struct raft_msg *m)
{
    coord_assert(fx->n_net < RFX_NET_MAX);
    struct rfx_msg *q = &fx->net[fx->n_net++];
    memset(q, 0, sizeof(*q));
    q->m = *m;
    if (m->n_entries > 0) {
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < m->n_entries; i++)
            bytes += m->entries[i].len;
        q->ents = coord_calloc(m->n_entries, sizeof(*q->ents));
        q->data = coord_malloc(bytes + 1);
        uint64_t off = 0;
        for (uint32_t i = 0; i < m->n_entries; i++) {
            q->ents[i] = m->entries[i];
            if (m->entries[i].len > 0)
                memcpy(q->data + off, m->entries[i].data,
                       m->entries[i].len);
            q->ents[i].data = q->data + off;
            off += m->entries[i].len;
        }
        q->m.entries = q->ents;
    }
    if (m->type == RAFT_MSG_SNAPSHOT && m->chunk == NULL && n != NULL) {
        /* the caller's part: fill the chunk from our latest snapshot */
        coord_assert(n->snap.index == m->snap.index);
        coord_assert(m->offset + m->chunk_len <= n->snap_data_len);
        q->data = coord_malloc(m->chunk_len + 1);
        memcpy(q->data, n->snap_data + m->offset, m->chunk_len);
        q->m.chunk = q->data;
    }
}

void rfx_inject(struct rfx *fx, const struct raft_msg *m)
{
    net_push(fx, NULL, m);
}

static void handle_persist(struct rfx_node *n, const struct raft_update *u)
{
    coord_assert(n->n_batches < RFX_BATCH_MAX);
    struct rfx_batch *b = &n->batches[n->n_batches++];
    memset(b, 0, sizeof(*b));
    b->seq = u->persist_seq;
    b->hs = u->hs_changed;
    b->term = u->term;
    b->vote = u->vote;
    b->truncate_from = u->truncate_from;
    b->n = u->n_entries;
    b->ents = coord_calloc(u->n_entries + 1, sizeof(*b->ents));
    for (uint32_t i = 0; i < u->n_entries; i++)
        entry_copy(&b->ents[i], &u->entries[i]);
}

static void handle_chunk(struct rfx_node *n, const struct raft_update *u)
{
    if (u->chunk_offset == 0) {
        coord_free(n->rcv_data);
        n->rcv_data = NULL;
        n->rcv_len = 0;
    }
    coord_assert(u->chunk_offset == n->rcv_len);
    n->rcv_data = coord_realloc(n->rcv_data, n->rcv_len + u->chunk_len + 1);
    if (u->chunk_len > 0)
        memcpy(n->rcv_data + n->rcv_len, u->chunk_data, u->chunk_len);
    n->rcv_len += u->chunk_len;
}

static void handle_update(struct rfx *fx, struct rfx_node *n,
                          const struct raft_update *u)
{
    if (u->persist_seq != 0)
        handle_persist(n, u);
    if (u->chunk)
        handle_chunk(n, u);
    if (u->snapshot_install) {
        coord_assert(u->persist_seq == 0);
        n->install_pending = true;
        n->install_meta = u->snap;
        n->install_trunc = u->truncate_from;
    }
    for (uint32_t i = 0; i < u->n_msgs; i++)
        net_push(fx, n, &u->msgs[i]);
    for (uint32_t i = 0; i < u->n_committed; i++)
        apply_entry(fx, n, &u->committed[i]);
    for (uint32_t i = 0; i < u->n_reads; i++) {
        coord_assert(n->n_reads < RFX_READS_MAX);
        n->reads[n->n_reads++] = u->reads[i];
    }
    if (u->want_snapshot)
        n->want_snapshot = true;
    if (u->propose_index != 0)
        n->last_propose_index = u->propose_index;
}

int rfx_step(struct rfx *fx, uint64_t id, const struct raft_event *ev)
{
    struct rfx_node *n = rfx_node(fx, id);
    coord_assert(n->up);
    struct raft_update u;
    int rc = raft_step(n->r, ev, &u);
    n->last_rc = rc;
    uint64_t applied0 = n->applied;
    handle_update(fx, n, &u);
    if (n->applied > applied0) {
        struct raft_event a = {.type = RAFT_EV_APPLIED};
        a.applied.index = n->applied;
        rfx_step(fx, id, &a);
    }
    if (n->auto_persist && n->n_batches > 0)
        rfx_persist(fx, id);
    if (n->auto_persist && n->install_pending)
        rfx_install(fx, id);
    return rc;
}

void rfx_tick(struct rfx *fx, uint64_t id, uint32_t k)
{
    struct raft_event ev = {.type = RAFT_EV_TICK};
    for (uint32_t i = 0; i < k; i++)
        rfx_step(fx, id, &ev);
}

void rfx_tick_all(struct rfx *fx, uint32_t k)
{
    for (uint32_t i = 0; i < k; i++)
        for (uint32_t j = 0; j < fx->n; j++)
            if (fx->nodes[j].up)
                rfx_tick(fx, fx->nodes[j].id, 1);
}

int rfx_propose(struct rfx *fx, uint64_t id, const char *data)
{
    struct raft_buf b = {(const uint8_t *)data, (uint32_t)strlen(data)};
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = &b;
    ev.propose.n = 1;
    return rfx_step(fx, id, &ev);
}

int rfx_read(struct rfx *fx, uint64_t id, uint64_t read_id)
{
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX};
    ev.read.id = read_id;
    return rfx_step(fx, id, &ev);
}

static void batch_apply(struct rfx_node *n, struct rfx_batch *b)
{
    if (b->hs) {
        n->term = b->term;
        n->vote = b->vote;
    }
    if (b->truncate_from != 0)
        log_drop_from(n, b->truncate_from);
    for (uint32_t i = 0; i < b->n; i++) {
        uint64_t want = n->snap.index + n->n_log + 1;
        coord_assert(b->ents[i].e.index == want);
        coord_assert(n->n_log < RFX_LOG_MAX);
        n->log[n->n_log++] = b->ents[i];
        b->ents[i].buf = NULL;
    }
    b->n = 0;
    batch_free(b);
}

void rfx_persist_n(struct rfx *fx, uint64_t id, uint32_t count)
{
    struct rfx_node *n = rfx_node(fx, id);
    if (!n->up || n->n_batches == 0 || count == 0)
        return;
    if (count > n->n_batches)
        count = n->n_batches;
    uint64_t seq = 0;
    for (uint32_t i = 0; i < count; i++) {
        seq = n->batches[i].seq;
        batch_apply(n, &n->batches[i]);
    }
    memmove(n->batches, n->batches + count,
            (n->n_batches - count) * sizeof(n->batches[0]));
    n->n_batches -= count;
    struct raft_event ev = {.type = RAFT_EV_PERSISTED};
    ev.persisted.seq = seq;
    rfx_step(fx, id, &ev);
}

void rfx_persist(struct rfx *fx, uint64_t id)
{
    rfx_persist_n(fx, id, RFX_BATCH_MAX);
}

void rfx_persist_all(struct rfx *fx)
{
    for (uint32_t i = 0; i < fx->n; i++)
        if (fx->nodes[i].up)
            rfx_persist(fx, fx->nodes[i].id);
}

void rfx_install(struct rfx *fx, uint64_t id)
{
    struct rfx_node *n = rfx_node(fx, id);
    if (!n->up || !n->install_pending)
        return;
    rfx_persist(fx, id); /* earlier batches first */
    const struct raft_snapshot_meta *s = &n->install_meta;
    coord_assert(n->rcv_len == s->size && s->size >= 16);
    uint64_t idx, hash;
    memcpy(&idx, n->rcv_data, 8);
    memcpy(&hash, n->rcv_data + 8, 8);
    coord_assert(idx == s->index);
    if (fx->applied_term[idx] != 0 && fx->applied_hash[idx] != hash)
        coord_panic("rfx: installed snapshot differs from applied state");
    coord_free(n->snap_data);
    n->snap_data = n->rcv_data;
    n->snap_data_len = n->rcv_len;
    n->rcv_data = NULL;
    n->rcv_len = 0;
    if (n->install_trunc != 0)
        log_drop_from(n, n->install_trunc);
    log_drop_upto(n, s->index);
    n->snap = *s;
    n->sm_hash = hash;
    n->applied = s->index;
    n->install_pending = false;
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_PERSISTED};
    ev.snap_persisted.index = s->index;
    ev.snap_persisted.term = s->term;
    rfx_step(fx, id, &ev);
}

uint64_t rfx_term_at(struct rfx *fx, uint64_t id, uint64_t index)
{
    struct rfx_node *n = rfx_node(fx, id);
    if (index == n->snap.index)
        return n->snap.term;
    for (uint32_t i = 0; i < n->n_log; i++)
        if (n->log[i].e.index == index)
            return n->log[i].e.term;
    return 0;
}

int rfx_snapshot(struct rfx *fx, uint64_t id)
{
    struct rfx_node *n = rfx_node(fx, id);
    uint64_t idx = n->applied;
    struct raft_snapshot_meta s;
    memset(&s, 0, sizeof(s));
    s.index = idx;
    s.term = rfx_term_at(fx, id, idx);
    s.size = fx->snap_bytes;
    s.conf = n->snap.conf;
    for (uint32_t i = 0; i < n->n_log && n->log[i].e.index <= idx; i++)
        if (n->log[i].e.type == RAFT_ENTRY_CONF)
            raft_conf_decode(&n->log[i].e, &s.conf, NULL, NULL, NULL, NULL);
    coord_assert(s.term != 0);
    uint8_t *old_data = n->snap_data;
    uint64_t old_len = n->snap_data_len;
    struct raft_snapshot_meta old = n->snap;
    n->snap_data = coord_calloc(1, s.size);
    memcpy(n->snap_data, &idx, 8);
    memcpy(n->snap_data + 8, &n->sm_hash, 8);
    for (uint64_t i = 16; i < s.size; i++)
        n->snap_data[i] = (uint8_t)(idx + i);
    n->snap_data_len = s.size;
    n->snap = s;
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
    ev.snap_taken.index = idx;
    ev.snap_taken.size = s.size;
    int rc = rfx_step(fx, id, &ev);
    if (rc != 0) {
        coord_free(n->snap_data);
        n->snap_data = old_data;
        n->snap_data_len = old_len;
        n->snap = old;
        return rc;
    }
    coord_free(old_data);
    log_drop_upto(n, idx);
    return 0;
}

static bool msg_match(const struct rfx_msg *q, uint64_t from, uint64_t to,
                      uint8_t type)
{
    return (from == 0 || q->m.from == from) && (to == 0 || q->m.to == to) &&
           (type == 0 || q->m.type == type);
}

uint32_t rfx_count(struct rfx *fx, uint64_t from, uint64_t to, uint8_t type)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < fx->n_net; i++)
        c += msg_match(&fx->net[i], from, to, type);
    return c;
}

struct rfx_msg *rfx_find(struct rfx *fx, uint64_t from, uint64_t to,
                         uint8_t type)
{
    for (uint32_t i = 0; i < fx->n_net; i++)
        if (msg_match(&fx->net[i], from, to, type))
            return &fx->net[i];
    return NULL;
}

static bool take(struct rfx *fx, uint64_t from, uint64_t to, uint8_t type,
                 bool deliver)
{
    uint32_t i = 0;
    while (i < fx->n_net && !msg_match(&fx->net[i], from, to, type))
        i++;
    if (i == fx->n_net)
        return false;
    struct rfx_msg q = fx->net[i];
    memmove(&fx->net[i], &fx->net[i + 1],
            (fx->n_net - i - 1) * sizeof(fx->net[0]));
    fx->n_net--;
    struct rfx_node *dst = rfx_node(fx, q.m.to);
    bool ok = deliver && dst->up && !fx->cut[q.m.from][q.m.to];
    if (ok) {
        struct raft_event ev = {.type = RAFT_EV_RECV};
        ev.recv = q.m;
        fx->n_delivered++;
        rfx_step(fx, q.m.to, &ev);
    } else if (deliver) {
        /* a cut link or a dead peer: the transport notices and says so */
        struct rfx_node *src = NULL;
        for (uint32_t k = 0; k < fx->n; k++)
            if (fx->nodes[k].id == q.m.from)
                src = &fx->nodes[k];
        if (src != NULL && src->up) {
            struct raft_event ev = {.type = RAFT_EV_UNREACHABLE};
            ev.unreachable.peer = q.m.to;
            rfx_step(fx, q.m.from, &ev);
        }
    }
    coord_free(q.ents);
    coord_free(q.data);
    return true;
}

bool rfx_deliver_one(struct rfx *fx, uint64_t from, uint64_t to,
                     uint8_t type)
{
    return take(fx, from, to, type, true);
}

uint32_t rfx_deliver(struct rfx *fx, uint64_t from, uint64_t to,
                     uint8_t type)
{
    /* only what is queued now: replies wait for the next call */
    uint32_t c = rfx_count(fx, from, to, type), k = 0;
    while (k < c && take(fx, from, to, type, true))
        k++;
    return k;
}

uint32_t rfx_drop(struct rfx *fx, uint64_t from, uint64_t to, uint8_t type)
{
    uint32_t k = 0;
    while (take(fx, from, to, type, false))
        k++;
    return k;
}

void rfx_cut(struct rfx *fx, uint64_t a, uint64_t b, bool cut)
{
    fx->cut[a][b] = cut;
    fx->cut[b][a] = cut;
}

void rfx_isolate(struct rfx *fx, uint64_t id, bool cut)
{
    for (uint32_t i = 0; i < fx->n; i++)
        if (fx->nodes[i].id != id)
            rfx_cut(fx, id, fx->nodes[i].id, cut);
}

void rfx_stabilize(struct rfx *fx)
{
    rfx_stabilize_drop(fx, 0, 0, 0);
}

void rfx_stabilize_drop(struct rfx *fx, uint64_t from, uint64_t to,
                        uint8_t type)
{
    bool filter = from != 0 || to != 0 || type != 0;
    for (int round = 0; round < 10000; round++) {
        bool busy = false;
        for (uint32_t i = 0; i < fx->n; i++) {
            struct rfx_node *n = &fx->nodes[i];
            if (!n->up)
                continue;
            busy = busy || n->n_batches > 0 || n->install_pending;
            rfx_persist(fx, n->id);
            rfx_install(fx, n->id);
        }
        if (filter)
            rfx_drop(fx, from, to, type);
        if (fx->n_net > 0) {
            busy = true;
            rfx_deliver(fx, 0, 0, 0);
        }
        if (!busy)
            return;
    }
    coord_panic("rfx: cluster did not stabilize");
}

void rfx_elect(struct rfx *fx, uint64_t id)
{
    struct raft_status st;
    for (int i = 0; i < 100; i++) {
        rfx_status(fx, id, &st);
        if (st.role != RAFT_FOLLOWER)
            break;
        rfx_tick(fx, id, 1);
    }
    rfx_stabilize(fx);
    rfx_status(fx, id, &st);
    coord_assert(st.role == RAFT_LEADER);
}

uint64_t rfx_leader(struct rfx *fx)
{
    uint64_t best = 0, term = 0;
    for (uint32_t i = 0; i < fx->n; i++) {
        struct rfx_node *n = &fx->nodes[i];
        if (!n->up)
            continue;
        struct raft_status st;
        raft_status(n->r, &st);
        if (st.role == RAFT_LEADER && st.term >= term) {
            best = n->id;
            term = st.term;
        }
    }
    return best;
}

void rfx_crash(struct rfx *fx, uint64_t id)
{
    struct rfx_node *n = rfx_node(fx, id);
    coord_assert(n->up);
    raft_close(n->r);
    n->r = NULL;
    n->up = false;
    for (uint32_t b = 0; b < n->n_batches; b++)
        batch_free(&n->batches[b]);
    n->n_batches = 0;
    coord_free(n->rcv_data);
    n->rcv_data = NULL;
    n->rcv_len = 0;
    n->install_pending = false;
}

void rfx_restart(struct rfx *fx, uint64_t id)
{
    struct rfx_node *n = rfx_node(fx, id);
    coord_assert(!n->up);
    node_boot(fx, n);
}

void rfx_status(struct rfx *fx, uint64_t id, struct raft_status *st)
{
    raft_status(rfx_raft(fx, id), st);
}

uint64_t rfx_commit(struct rfx *fx, uint64_t id)
{
    struct raft_status st;
    rfx_status(fx, id, &st);
    return st.commit;
}

uint64_t rfx_last(struct rfx *fx, uint64_t id)
{
    struct raft_status st;
    rfx_status(fx, id, &st);
    return st.last_index;
}

int rfx_cmocka_setup(void **state)
{
    struct rfx *fx = coord_calloc(1, sizeof(*fx));
    *state = fx;
    return fx == NULL;
}

int rfx_cmocka_teardown(void **state)
{
    struct rfx *fx = *state;
    rfx_close(fx);
    coord_free(fx);
    return 0;
}

uint8_t rfx_role(struct rfx *fx, uint64_t id)
{
    struct raft_status st;
    rfx_status(fx, id, &st);
    return st.role;
}
