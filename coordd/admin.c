/* admin.c -- coordd's admin operations (wire opcodes 100-199): STATUS,
 * SESSIONS and SNAPSHOT_READ (an export of the tree for backups),
 * answered locally by any server, and the membership changes and
 * leadership transfer, which only the leader carries out (a follower
 * answers COORD_ENOTLEADER; the client finds the leader with STATUS).
 * Also the table of members' client addresses: initial members' from the
 * config, added members' from the CONF entry that added them (its app
 * context is "client_host:port,peer_host:port"), applied on every
 * replica, which also dials or drops the member's peer link here.
 * No sockets (net/ dials), no Raft internals (raft_step through node.c).
 */
#include "node_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "coordd/log.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* ---- address table ------------------------------------------------------ */

static struct node_addr *addr_find(struct node *n, uint64_t id)
{
    for (uint32_t i = 0; i < n->n_addrs; i++)
        if (n->addrs[i].id == id)
            return &n->addrs[i];
    return NULL;
}

static void copy_str(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void addr_set(struct node *n, uint64_t id, const char *client,
                     size_t clen, const char *peer, size_t plen)
{
    struct node_addr *a = addr_find(n, id);
    if (!a) {
        if (n->n_addrs == COORDD_MEMBERS_MAX)
            return;
        a = &n->addrs[n->n_addrs++];
        a->id = id;
    }
    copy_str(a->client, sizeof(a->client), client, clen);
    copy_str(a->peer, sizeof(a->peer), peer, plen);
}

static void addr_drop(struct node *n, uint64_t id)
{
    struct node_addr *a = addr_find(n, id);
    if (a)
        *a = n->addrs[--n->n_addrs];
}

void node_admin_init(struct node *n)
{
    n->n_addrs = 0;
    for (uint32_t i = 0; i < n->cfg.n_members; i++) {
        const struct node_member *m = &n->cfg.members[i];
        char c[WIRE_ADDR_BYTES_MAX], p[WIRE_ADDR_BYTES_MAX];
        int k = snprintf(c, sizeof(c), "%s:%u", m->client_host,
                         (unsigned)m->client_port);
        int l = snprintf(p, sizeof(p), "%s:%u", m->peer_host,
                         (unsigned)m->peer_port);
        if (k > 0 && (size_t)k < sizeof(c) && l > 0 && (size_t)l < sizeof(p))
            addr_set(n, m->id, c, (size_t)k, p, (size_t)l);
    }
}

/* Splits "host:port" (numeric IPv4 host) into host and port. */
static int addr_parse(const char *p, size_t len, char host[64],
                      uint16_t *port)
{
    size_t colon = len;
    while (colon > 0 && p[colon - 1] != ':')
        colon--;
    if (colon < 2 || colon - 1 >= 64 || colon == len || len - colon > 5)
        return COORD_EINVAL;
    memcpy(host, p, colon - 1);
    host[colon - 1] = '\0';
    unsigned long v = 0;
    for (size_t i = colon; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return COORD_EINVAL;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    struct in_addr ia;
    if (v == 0 || v > 65535 || inet_pton(AF_INET, host, &ia) != 1)
        return COORD_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* ---- addresses in snapshots -------------------------------------------- */

#define ADDRS_TAG 0x41

static bool is_config_member(const struct node *n, uint64_t id)
{
    for (uint32_t i = 0; i < n->cfg.n_members; i++)
        if (n->cfg.members[i].id == id)
            return true;
    return false;
}

uint32_t node_addrs_encode(const struct node *n, const struct raft_conf *c,
                           uint8_t *out)
{
    uint8_t *p = out + 2;
    uint8_t count = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct node_addr *a =
            addr_find((struct node *)n, c->members[i].id);
        if (!a)
            continue;
        for (int k = 7; k >= 0; k--)
            *p++ = (uint8_t)(a->id >> (8 * k));
        const char *s[2] = {a->client, a->peer};
        for (int k = 0; k < 2; k++) {
            size_t len = strlen(s[k]);
            *p++ = (uint8_t)len;
            memcpy(p, s[k], len);
            p += len;
        }
        count++;
    }
    out[0] = ADDRS_TAG;
    out[1] = count;
    uint32_t len = (uint32_t)(p - out);
    coord_assert(len <= NODE_ADDRS_BLOB_MAX);
    return len;
}

/* Reads one u8-length string of at most WIRE_ADDR_BYTES_MAX - 1 bytes. */
static const uint8_t *rd_addr(const uint8_t *p, const uint8_t *end,
                              const char **s, size_t *len)
{
    if (!p || p >= end || *p >= WIRE_ADDR_BYTES_MAX ||
        (size_t)(end - p - 1) < *p)
        return NULL;
    *len = *p;
    *s = (const char *)p + 1;
    return p + 1 + *len;
}

/* Addresses from a snapshot's blob (empty: an older snapshot). Members
 * the config names keep the config's addresses. */
int node_addrs_decode(struct node *n, const uint8_t *in, uint32_t len)
{
    if (len == 0)
        return 0;
    if (len < 2 || in[0] != ADDRS_TAG)
        return COORD_ECORRUPT;
    const uint8_t *p = in + 2, *end = in + len;
    for (uint32_t i = 0; i < in[1]; i++) {
        if (end - p < 8)
            return COORD_ECORRUPT;
        uint64_t id = 0;
        for (int k = 0; k < 8; k++)
            id = id << 8 | *p++;
        const char *c = NULL, *s = NULL;
        size_t cl = 0, sl = 0;
        p = rd_addr(p, end, &c, &cl);
        p = rd_addr(p, end, &s, &sl);
        if (!p || id == 0)
            return COORD_ECORRUPT;
        if (!is_config_member(n, id))
            addr_set(n, id, c, cl, s, sl);
    }
    return p == end ? 0 : COORD_ECORRUPT;
}

/* At start: dials the members of the configuration that the config's
 * members list does not name, from the addresses the snapshot kept. */
void node_admin_dial(struct node *n)
{
    for (uint32_t i = 0; i < n->conf.n; i++) {
        uint64_t id = n->conf.members[i].id;
        const struct node_addr *a = addr_find(n, id);
        char host[64];
        uint16_t port;
        if (id == n->cfg.id || is_config_member(n, id) || !a ||
            addr_parse(a->peer, strlen(a->peer), host, &port) != 0)
            continue;
        int rc = net_peer_add(n->net, id, host, port);
        log_emit(LOG_LEVEL_INFO, "dialing member from snapshot",
                 "id=%llu peer=%s err=%s", (unsigned long long)id, a->peer,
                 rc ? coord_errname(rc) : "none");
    }
}

/* ---- committed configuration entries ----------------------------------- */

/* Completes the MEMBER_* request waiting for entry e (if this server
 * proposed it); requests queued at or before it whose entries were
 * replaced fail with COORD_ECONNLOSS, as writes do. */
static void complete_waiting(struct node *n, const struct raft_entry *e)
{
    while (n->wq_head && n->wq_head->index <= e->index) {
        struct nreq *rq = n->wq_head;
        n->wq_head = rq->next_wait;
        if (!n->wq_head)
            n->wq_tail = NULL;
        rq->next_wait = NULL;
        bool ours = rq->index == e->index &&
                    (rq->op == WIRE_OP_MEMBER_ADD ||
                     rq->op == WIRE_OP_MEMBER_PROMOTE ||
                     rq->op == WIRE_OP_MEMBER_REMOVE);
        node_fail_req(n, rq, ours ? 0 : COORD_ECONNLOSS);
    }
}

static void member_added(struct node *n, uint64_t id, const uint8_t *ctx,
                         uint32_t ctx_len)
{
    const char *p = (const char *)ctx;
    const char *comma = ctx ? memchr(p, ',', ctx_len) : NULL;
    char host[64];
    uint16_t port;
    if (!comma || addr_parse(comma + 1, ctx_len - (size_t)(comma + 1 - p),
                             host, &port) != 0) {
        log_emit(LOG_LEVEL_WARN, "member added without addresses",
                 "id=%llu", (unsigned long long)id);
        return;
    }
    const char *peer = comma + 1;
    addr_set(n, id, p, (size_t)(comma - p), peer,
             ctx_len - (size_t)(peer - p));
    if (id == n->cfg.id || !n->net)
        return;
    int rc = net_peer_add(n->net, id, host, port);
    if (rc && rc != COORD_EINVAL) /* EINVAL: already dialed */
        log_emit(LOG_LEVEL_WARN, "cannot dial new member", "id=%llu err=%s",
                 (unsigned long long)id, coord_errname(rc));
}

void node_admin_conf_applied(struct node *n, const struct raft_entry *e,
                             uint8_t type, uint64_t id, const uint8_t *ctx,
                             uint32_t ctx_len)
{
    static const char *const change[] = {"?", "add_learner", "promote",
                                         "demote", "remove"};
    log_emit(LOG_LEVEL_INFO, "membership changed",
             "index=%llu change=%s id=%llu members=%u",
             (unsigned long long)e->index, change[type < 5 ? type : 0],
             (unsigned long long)id, n->conf.n);
    if (type == RAFT_CONF_ADD_LEARNER) {
        member_added(n, id, ctx, ctx_len);
    } else if (type == RAFT_CONF_REMOVE) {
        addr_drop(n, id);
        if (id != n->cfg.id && n->net)
            net_peer_remove(n->net, id);
        else if (id == n->cfg.id)
            log_emit(LOG_LEVEL_WARN, "this server was removed from the "
                     "configuration", "index=%llu",
                     (unsigned long long)e->index);
    }
    complete_waiting(n, e);
}

/* ---- STATUS ------------------------------------------------------------- */

static void fill_members(struct node *n, const struct raft_status *st,
                         struct wire_member *ms, uint32_t *count)
{
    *count = 0;
    for (uint32_t i = 0; i < st->conf.n && i < WIRE_MEMBERS_MAX; i++) {
        const struct raft_member *rm = &st->conf.members[i];
        struct wire_member *m = &ms[(*count)++];
        memset(m, 0, sizeof(*m));
        m->id = rm->id;
        m->role = rm->role;
        const struct node_addr *a = addr_find(n, rm->id);
        if (a)
            m->addr = (struct wire_bytes){a->client,
                                          (uint32_t)strlen(a->client)};
        for (uint32_t k = 0; k < st->n_progress; k++) {
            if (st->progress[k].id != rm->id)
                continue;
            m->match = st->progress[k].match;
            m->lag = st->last_index > m->match ? st->last_index - m->match
                                               : 0;
        }
    }
}

/* Encodes reply resp for rq and marks it done. */
static void reply(struct node *n, struct nreq *rq, struct wire_resp *resp)
{
    wire_buf_init(&rq->resp, n->cfg.limits.frame_bytes_max +
                                 WIRE_PREFIX_BYTES);
    resp->zxid = n->applied;
    int rc = wire_encode_resp(&rq->resp, resp, &n->cfg.limits);
    if (rc) {
        wire_buf_free(&rq->resp);
        node_fail_req(n, rq, rc);
        return;
    }
    metrics_request(n->metrics, resp->op, 0);
    rq->state = NREQ_DONE;
    node_conn_drain(rq->conn);
}

static void status_reply(struct node *n, struct nreq *rq)
{
    struct raft_status st;
    raft_status(n->raft, &st);
    struct wire_member ms[WIRE_MEMBERS_MAX];
    struct wire_resp resp = {.op = rq->op, .xid = rq->xid};
    struct wire_status *s = &resp.u.status;
    *s = (struct wire_status){
        .server_id = n->cfg.id, .role = st.role, .term = st.term,
        .leader_id = st.leader, .commit = st.commit,
        .applied = n->applied, .last_index = st.last_index,
        .snap_index = n->snap_index, .sessions = n->n_sessions,
        .watches = n->watches.n_watches, .connections = n->n_conns,
        .digest_mismatches = n->digest_mismatches, .members = ms};
    fill_members(n, &st, ms, &s->n);
    reply(n, rq, &resp);
}

/* STATS: this server's counters (metrics.c), for coordctl status. */
static void stats_reply(struct node *n, struct nreq *rq)
{
    struct metrics_summary m;
    metrics_summarize(n->metrics, &m);
    struct wire_resp resp = {.op = rq->op, .xid = rq->xid};
    resp.u.stats = (struct wire_stats){
        m.requests, m.writes,       m.reads,        m.errors,
        m.fsyncs,   m.fsync_p99_us, m.write_p99_us, m.leader_changes};
    reply(n, rq, &resp);
}

/* ---- SESSIONS ----------------------------------------------------------- */

/* Collects the page: the cap smallest ids after start_after, in a max-heap
 * (ids[0] the largest), sorted at the end: O(sessions x log page). */
struct sess_page {
    uint64_t after;
    uint64_t *ids;
    uint32_t n;
    uint32_t cap;    /* WIRE_SESSIONS_PAGE_MAX + 1: one more says "more" */
};

static void heap_down(uint64_t *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l] > h[m])
            m = l;
        if (r < n && h[r] > h[m])
            m = r;
        if (m == i)
            return;
        uint64_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sess_collect(void *data, uint64_t id)
{
    struct sess_page *p = data;
    if (id <= p->after)
        return;
    if (p->n == p->cap) {
        if (id >= p->ids[0])
            return;
        p->ids[0] = id;
        heap_down(p->ids, p->n, 0);
        return;
    }
    uint32_t k = p->n++;
    p->ids[k] = id;
    while (k > 0 && p->ids[(k - 1) / 2] < p->ids[k]) {
        uint64_t t = p->ids[k];
        p->ids[k] = p->ids[(k - 1) / 2];
        p->ids[(k - 1) / 2] = t;
        k = (k - 1) / 2;
    }
}

/* Heapsort of the collected page into ascending order. */
static void sess_sort(struct sess_page *p)
{
    for (uint32_t n = p->n; n > 1; n--) {
        uint64_t t = p->ids[0];
        p->ids[0] = p->ids[n - 1];
        p->ids[n - 1] = t;
        heap_down(p->ids, n - 1, 0);
    }
}

/* One page of the tree's sessions in id order, on the loop thread: one
 * pass over the sessions per page. */
static void sessions_reply(struct node *n, struct nreq *rq,
                           const struct wire_req *q)
{
    struct sess_page p = {.after = q->u.start_after,
                          .cap = WIRE_SESSIONS_PAGE_MAX + 1};
    p.ids = coord_calloc(p.cap, sizeof(*p.ids));
    struct wire_session *es = coord_calloc(p.cap, sizeof(*es));
    if (!p.ids || !es) {
        coord_free(p.ids);
        coord_free(es);
        node_fail_req(n, rq, COORD_ENOMEM);
        return;
    }
    tree_sessions_each(n->tree, sess_collect, &p);
    sess_sort(&p);
    struct wire_resp resp = {.op = rq->op, .xid = rq->xid};
    struct wire_sessions *ws = &resp.u.sessions;
    ws->more = p.n > WIRE_SESSIONS_PAGE_MAX;
    ws->n = ws->more ? WIRE_SESSIONS_PAGE_MAX : p.n;
    for (uint32_t i = 0; i < ws->n; i++) {
        struct wire_session *e = &es[i];
        e->id = p.ids[i];
        tree_session_get(n->tree, e->id, &e->timeout_ms, &e->ephemerals,
                         NULL);
        const struct nsess *ns = node_session_find(n, e->id);
        e->server_id = ns && ns->conn ? n->cfg.id : 0;
    }
    ws->sessions = es;
    reply(n, rq, &resp);
    coord_free(es);
    coord_free(p.ids);
}

/* ---- SNAPSHOT_READ ---------------------------------------------------- */

/* A copy of the tree's serialized bytes being fetched by `coordctl
 * snapshot save`: made on the first request (export_id 0), freed once its
 * last chunk is sent, when nobody has read from it for
 * NODE_EXPORT_IDLE_MS (node_admin_tick), or at node_admin_close(). While
 * one is being fetched, a new export is refused (COORD_EBUSY). A first
 * request that needs a snapshot still in flight is parked here, not
 * waited for on the loop, and answered when that snapshot ends
 * (node_admin_snapshot_ended). */
struct node_export {
    struct nreq *parked; /* first requests waiting, rq->index: their want */
    struct nreq *parked_tail;
    uint64_t id;
    uint64_t index;
    uint64_t sum;
    uint8_t *buf;
    size_t len;
    size_t cap;
    int64_t last_ms; /* last request for it */
    int64_t pass_ms; /* last snapshot pass an export asked for, or 0 */
};

/* An export nobody has asked for a chunk of for this long was abandoned
 * (its client went away mid-way): its copy is freed. A live fetch asks
 * every round trip. */
#define NODE_EXPORT_IDLE_MS 30000
/* An export that needs a new snapshot pass (the newest snapshot does not
 * cover the applied zxid) within this long of the last pass an export
 * asked for is refused (COORD_EBUSY): a client saving in a loop cannot
 * keep the loop thread in snapshot passes (each its whole tree). */
#define NODE_EXPORT_PASS_GAP_MS 10000
/* export_fill: a snapshot is in flight, the request waits for its end. */
#define NODE_EXPORT_PENDING 1

static void export_drop(struct node_export *e)
{
    coord_free(e->buf);
    e->buf = NULL;
    e->len = e->cap = 0;
}

static int export_write(void *data, const void *bytes, size_t len)
{
    struct node_export *e = data;
    if (e->len + len > e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 1u << 20;
        while (cap < e->len + len)
            cap *= 2;
        uint8_t *nb = coord_realloc(e->buf, cap);
        if (!nb)
            return COORD_ENOMEM;
        e->buf = nb;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, bytes, len);
    e->len += len;
    return 0;
}

static int export_copy(struct node_export *e, const uint8_t *src,
                       size_t len, uint64_t index)
{
    e->buf = coord_malloc(len ? len : 1);
    if (!e->buf)
        return COORD_ENOMEM;
    memcpy(e->buf, src, len);
    e->len = e->cap = len;
    e->index = index;
    return 0;
}

/* Fills e from the node's newest Raft snapshot if it covers want (the
 * index applied when the export was asked for): a consistent tree as of
 * its index. An older one is replaced first by a snapshot taken the
 * normal way (a pass over the tree in a child, which also serves as the
 * next regular snapshot; at most one per NODE_EXPORT_PASS_GAP_MS). While
 * a snapshot is in flight: NODE_EXPORT_PENDING, the request waits for
 * its end -- the loop never does. Only a node with nothing applied yet
 * has none: its (empty) tree is serialized here. */
static int export_fill(struct node *n, struct node_export *e, uint64_t want)
{
    uint64_t index;
    size_t len;
    if (node_snapshot_pending(n))
        return NODE_EXPORT_PENDING;
    const uint8_t *src = node_snapshot_bytes(n, &index, &len);
    if (src && index >= want)
        return export_copy(e, src, len, index);
    int64_t now = net_now_ms(n->net);
    if (e->pass_ms && now - e->pass_ms < NODE_EXPORT_PASS_GAP_MS)
        return COORD_EBUSY;
    e->pass_ms = now;
    node_take_snapshot(n);
    if (node_snapshot_pending(n))
        return NODE_EXPORT_PENDING;
    src = node_snapshot_bytes(n, &index, &len);
    if (src && index >= want)
        return export_copy(e, src, len, index); /* serialized in-process */
    if (src || n->applied > 0)
        return COORD_EBUSY; /* no pass now (retry pause after a failure) */
    int rc = tree_snapshot_write(n->tree, export_write, e); /* empty */
    e->index = tree_applied_index(n->tree);
    return rc;
}

/* Starts an export covering want (see export_fill for its cost). */
static int export_start(struct node *n, uint64_t want)
{
    struct node_export *e = n->export;
    if (!e) {
        e = coord_calloc(1, sizeof(*e));
        if (!e)
            return COORD_ENOMEM;
        n->export = e;
    }
    if (e->buf)
        return COORD_EBUSY; /* one at a time: each costs a copy */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = export_fill(n, e, want);
    if (rc) {
        export_drop(e);
        return rc;
    }
    /* ids name this server too: a client that reconnected elsewhere
     * mid-way gets COORD_EAGAIN, not another server's export */
    e->id = n->cfg.id << 32 | ((e->id + 1) & 0xffffffffu);
    e->sum = wire_snapshot_sum(WIRE_SNAPSHOT_SUM_INIT, e->buf, e->len);
    e->last_ms = net_now_ms(n->net);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long us = (long long)(t1.tv_sec - t0.tv_sec) * 1000000 +
                   (t1.tv_nsec - t0.tv_nsec) / 1000;
    log_emit(LOG_LEVEL_INFO, "snapshot exported",
             "index=%llu bytes=%zu nodes=%llu loop_pause_us=%lld",
             (unsigned long long)e->index, e->len,
             (unsigned long long)tree_node_count(n->tree), us);
    return 0;
}

void node_admin_tick(struct node *n)
{
    struct node_export *e = n->export;
    if (e && e->buf &&
        net_now_ms(n->net) - e->last_ms > NODE_EXPORT_IDLE_MS) {
        log_emit(LOG_LEVEL_INFO, "snapshot export abandoned",
                 "index=%llu bytes=%zu", (unsigned long long)e->index,
                 e->len);
        export_drop(e);
    }
}

/* Answers rq with the chunk of e at offset. */
static void send_chunk(struct node *n, struct nreq *rq, struct node_export *e,
                       uint64_t offset)
{
    size_t k = e->len - offset;
    size_t max = WIRE_SNAPSHOT_CHUNK_BYTES;
    if (max > n->cfg.limits.data_bytes_max)
        max = n->cfg.limits.data_bytes_max;
    if (k > max)
        k = max;
    struct wire_resp resp = {.op = rq->op, .xid = rq->xid};
    resp.u.snapshot = (struct wire_snapshot_chunk){
        .export_id = e->id, .index = e->index, .total = e->len,
        .sum = e->sum,
        .chunk = {(const char *)e->buf + offset, (uint32_t)k}};
    reply(n, rq, &resp);
    e->last_ms = net_now_ms(n->net);
    if (offset + k == e->len) /* all sent: free the copy */
        export_drop(e);
}

/* A first request (export_id 0, offset 0) for an export covering
 * rq->index: answered now, or parked until the snapshot in flight ends.
 * Parked, it holds the connection's later replies back, as a write
 * does, and a closed connection leaves it to us (node_on_close). */
static void export_first(struct node *n, struct nreq *rq)
{
    int rc = export_start(n, rq->index);
    if (rc == NODE_EXPORT_PENDING) {
        struct node_export *e = n->export;
        rq->state = NREQ_WRITE;
        rq->next_wait = NULL;
        if (e->parked_tail)
            e->parked_tail->next_wait = rq;
        else
            e->parked = rq;
        e->parked_tail = rq;
        return;
    }
    if (rc)
        node_fail_req(n, rq, rc);
    else
        send_chunk(n, rq, n->export, 0);
}

void node_admin_snapshot_ended(struct node *n)
{
    struct node_export *e = n->export;
    if (!e)
        return;
    struct nreq *rq = e->parked;
    e->parked = e->parked_tail = NULL;
    while (rq) { /* each may park again, on a new list */
        struct nreq *next = rq->next_wait;
        rq->next_wait = NULL;
        if (rq->conn)
            export_first(n, rq);
        else
            nreq_free(rq);
        rq = next;
    }
}

static void snapshot_reply(struct node *n, struct nreq *rq,
                           const struct wire_req *q)
{
    const struct wire_snapshot_req *sr = &q->u.snapshot;
    if (sr->export_id == 0) {
        rq->index = n->applied; /* the export covers what is applied */
        if (sr->offset != 0)
            node_fail_req(n, rq, COORD_EINVAL);
        else
            export_first(n, rq);
        return;
    }
    struct node_export *e = n->export;
    int rc = 0;
    if (!e || e->id != sr->export_id || !e->buf)
        rc = COORD_EAGAIN; /* replaced by a newer export, or sent */
    else if (sr->offset > e->len)
        rc = COORD_EINVAL;
    if (rc)
        node_fail_req(n, rq, rc);
    else
        send_chunk(n, rq, e, sr->offset);
}

void node_admin_close(struct node *n)
{
    if (n->export) {
        coord_free(n->export->buf);
        while (n->export->parked) { /* connections are gone */
            struct nreq *rq = n->export->parked;
            n->export->parked = rq->next_wait;
            nreq_free(rq);
        }
    }
    coord_free(n->export);
    n->export = NULL;
}

/* ---- changes (leader only) ---------------------------------------------- */

static int conf_change(struct node *n, struct nreq *rq,
                       const struct wire_req *q)
{
    char ctx[2 * WIRE_ADDR_BYTES_MAX + 2];
    struct raft_event ev = {.type = RAFT_EV_CONF_CHANGE};
    ev.conf.id = q->u.member.id;
    if (q->op == WIRE_OP_MEMBER_ADD) {
        const struct wire_member_req *m = &q->u.member;
        char host[64];
        uint16_t port;
        if (addr_parse(m->client_addr.ptr, m->client_addr.len, host,
                       &port) != 0 ||
            addr_parse(m->peer_addr.ptr, m->peer_addr.len, host, &port))
            return COORD_EINVAL;
        int k = snprintf(ctx, sizeof(ctx), "%.*s,%.*s",
                         (int)m->client_addr.len, m->client_addr.ptr,
                         (int)m->peer_addr.len, m->peer_addr.ptr);
        if (k < 0 || (uint32_t)k > RAFT_CONF_CTX_BYTES_MAX)
            return COORD_EINVAL;
        ev.conf.type = RAFT_CONF_ADD_LEARNER;
        ev.conf.ctx = (const uint8_t *)ctx;
        ev.conf.ctx_len = (uint32_t)k;
    } else {
        ev.conf.type = q->op == WIRE_OP_MEMBER_PROMOTE ? RAFT_CONF_PROMOTE
                                                       : RAFT_CONF_REMOVE;
    }
    struct raft_update u;
    int rc = raft_step(n->raft, &ev, &u);
    if (rc == 0) {
        rq->state = NREQ_WRITE;
        node_queue_write(n, rq, u.propose_index);
    }
    node_process_update(n, &u);
    return rc;
}

static int transfer(struct node *n, uint64_t to)
{
    struct raft_event ev = {.type = RAFT_EV_TRANSFER};
    ev.transfer.to = to;
    struct raft_update u;
    int rc = raft_step(n->raft, &ev, &u);
    node_process_update(n, &u);
    if (rc == 0)
        log_emit(LOG_LEVEL_INFO, "leadership transfer requested",
                 "to=%llu", (unsigned long long)to);
    return rc;
}

void node_admin_request(struct node *n, struct nreq *rq,
                        const struct wire_req *q)
{
    if (q->op == WIRE_OP_STATUS) {
        status_reply(n, rq);
        return;
    }
    if (q->op == WIRE_OP_SESSIONS) {
        sessions_reply(n, rq, q);
        return;
    }
    if (q->op == WIRE_OP_STATS) {
        stats_reply(n, rq);
        return;
    }
    if (q->op == WIRE_OP_SNAPSHOT_READ) {
        snapshot_reply(n, rq, q);
        return;
    }
    if (n->role != RAFT_LEADER) {
        node_fail_req(n, rq, COORD_ENOTLEADER);
        return;
    }
    int rc;
    if (q->op == WIRE_OP_LEADER_TRANSFER)
        rc = transfer(n, q->u.member.id);
    else
        rc = conf_change(n, rq, q);
    if (rc || q->op == WIRE_OP_LEADER_TRANSFER)
        node_fail_req(n, rq, rc); /* rc 0: an empty success reply */
}
