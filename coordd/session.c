/* session.c -- this server's view of the replicated sessions: which
 * connection each is attached to, its watches, and (on the leader) when it
 * was last heard from. The session table itself is replicated in the tree;
 * this file never changes it directly: the leader proposes expiries (and
 * container/TTL cleanups) through the log, so every replica deletes the
 * same ephemeral nodes at the same zxid.
 *
 * Liveness is leader-local and never replicated: a new leader restarts
 * every session's clock (DESIGN.md, "Sessions"), so no session expires
 * because of an election.
 */
#include "node_int.h"

#include <string.h>

#include "coord.h"
#include "coordd/log.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

static uint32_t sess_bucket(const struct node *n, uint64_t id)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ULL;
    return (uint32_t)(h >> 32) & (n->n_sbuckets - 1);
}

int node_sessions_init(struct node *n)
{
    /* A mass expiry (a partitioned client fleet) must not flood the log. */
    log_rate_init(&n->expiry_log, n->cfg.log_rate_per_sec);
    log_rate_init(&n->slow_log, n->cfg.log_rate_per_sec);
    log_rate_init(&n->snap_log, n->cfg.log_rate_per_sec);
    n->sbuckets = coord_calloc(NODE_SESSION_BUCKETS_INITIAL,
                               sizeof(*n->sbuckets));
    if (!n->sbuckets)
        return COORD_ENOMEM;
    n->n_sbuckets = NODE_SESSION_BUCKETS_INITIAL;
    return 0;
}

void node_sessions_close(struct node *n)
{
    for (uint32_t b = 0; b < n->n_sbuckets && n->sbuckets; b++) {
        struct nsess *s = n->sbuckets[b];
        while (s) {
            struct nsess *next = s->hnext;
            coord_free(s);
            s = next;
        }
    }
    coord_free(n->sbuckets);
    n->sbuckets = NULL;
}

struct nsess *node_session_find(const struct node *n, uint64_t id)
{
    struct nsess *s = n->sbuckets[sess_bucket(n, id)];
    while (s && s->id != id)
        s = s->hnext;
    return s;
}

static void sessions_grow(struct node *n)
{
    uint32_t nb = n->n_sbuckets * 2;
    struct nsess **b = coord_calloc(nb, sizeof(*b));
    if (!b)
        return; /* longer chains, still correct */
    struct nsess **old = n->sbuckets;
    uint32_t old_n = n->n_sbuckets;
    n->sbuckets = b;
    n->n_sbuckets = nb;
    for (uint32_t i = 0; i < old_n; i++) {
        struct nsess *s = old[i];
        while (s) {
            struct nsess *next = s->hnext;
            uint32_t k = sess_bucket(n, s->id);
            s->hnext = b[k];
            b[k] = s;
            s = next;
        }
    }
    coord_free(old);
}

struct nsess *node_session_add(struct node *n, uint64_t id,
                               uint32_t timeout_ms)
{
    coord_assert(id != 0 && !node_session_find(n, id));
    struct nsess *s = coord_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->id = id;
    s->timeout_ms = timeout_ms;
    s->last_ms = net_now_ms(n->net);
    if (n->n_sessions >= n->n_sbuckets)
        sessions_grow(n);
    uint32_t b = sess_bucket(n, id);
    s->hnext = n->sbuckets[b];
    n->sbuckets[b] = s;
    n->n_sessions++;
    return s;
}

void node_session_remove(struct node *n, uint64_t id, bool expired)
{
    struct nsess **pp = &n->sbuckets[sess_bucket(n, id)];
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->hnext;
    struct nsess *s = *pp;
    if (!s)
        return;
    *pp = s->hnext;
    n->n_sessions--;
    watch_remove_owner(&n->watches, &s->wo);
    if (s->conn) {
        s->conn->sess = NULL;
        if (expired)
            net_conn_close(s->conn->nc); /* its client learns on resume */
    }
    if (expired)
        metrics_session_expired(n->metrics);
    if (expired)
        log_emit_rated(&n->expiry_log, LOG_LEVEL_INFO, "session expired",
                       "session=%016llx", (unsigned long long)id);
    coord_free(s);
}

void node_session_touch(struct node *n, struct nsess *s)
{
    s->last_ms = net_now_ms(n->net);
    s->heard = true; /* a follower relays it to the leader */
}

void node_sessions_reset_clocks(struct node *n)
{
    int64_t now = net_now_ms(n->net);
    for (uint32_t b = 0; b < n->n_sbuckets; b++)
        for (struct nsess *s = n->sbuckets[b]; s; s = s->hnext) {
            s->last_ms = now;
            s->expiring = false;
        }
}

void node_session_attach(struct node *n, struct nsess *s, struct nconn *cn)
{
    if (s->conn && s->conn != cn) {
        /* The session moved to a new connection: the old one is stale. */
        watch_remove_owner(&n->watches, &s->wo);
        s->conn->sess = NULL;
        s->conn->close_after = true;
        net_conn_close(s->conn->nc);
    }
    s->conn = cn;
    cn->sess = s;
    node_session_touch(n, s);
}

struct load_ctx {
    struct node *n;
    int rc;
};

static void load_one(void *data, uint64_t id)
{
    struct load_ctx *lc = data;
    uint32_t timeout = 0;
    tree_session_get(lc->n->tree, id, &timeout, NULL, NULL);
    if (!node_session_add(lc->n, id, timeout))
        lc->rc = COORD_ENOMEM;
}

/* After a snapshot replaced the tree: drop this server's view of the old
 * sessions (their connections close; clients resume and re-register
 * watches) and rebuild it from the new tree. */
void node_sessions_reload(struct node *n)
{
    for (uint32_t b = 0; b < n->n_sbuckets; b++) {
        while (n->sbuckets[b]) {
            struct nsess *s = n->sbuckets[b];
            n->sbuckets[b] = s->hnext;
            watch_remove_owner(&n->watches, &s->wo);
            if (s->conn) {
                s->conn->sess = NULL;
                net_conn_close(s->conn->nc);
            }
            coord_free(s);
        }
    }
    n->n_sessions = 0;
    if (node_sessions_load(n) != 0)
        coord_panic("out of memory reloading sessions");
}

/* The sessions of a freshly loaded tree. */
int node_sessions_load(struct node *n)
{
    struct load_ctx lc = {n, 0};
    tree_sessions_each(n->tree, load_one, &lc);
    return lc.rc;
}

/* This server stalled for stall_ms and heard no one meanwhile: no session
 * is blamed for it (NODE_SESSION_STALL_MS). A paused leader, woken, would
 * otherwise expire every session before reading what its clients sent;
 * the fault suite's pause nemesis and a machine-wide disk stall did. */
static void sessions_credit_stall(struct node *n, int64_t now,
                                  int64_t stall_ms)
{
    for (uint32_t b = 0; b < n->n_sbuckets; b++)
        for (struct nsess *s = n->sbuckets[b]; s; s = s->hnext)
            s->last_ms = s->last_ms + stall_ms < now ? s->last_ms + stall_ms
                                                      : now;
}

/* Leader only: propose the expiry of every session silent for longer than
 * its timeout, in one command (at most TREE_IDS_MAX at a time). */
void node_sessions_tick(struct node *n)
{
    int64_t now = net_now_ms(n->net);
    int64_t gap = now - n->last_scan_ms;
    if (gap < NODE_SESSION_SCAN_MS)
        return;
    n->last_scan_ms = now;
    /* scans come every tick: tick_ms (up to 1000) may exceed SCAN_MS, and
     * a scan that came when expected is no stall to forgive */
    int64_t expected = n->cfg.tick_ms > NODE_SESSION_SCAN_MS
                           ? (int64_t)n->cfg.tick_ms
                           : NODE_SESSION_SCAN_MS;
    if (gap > expected + NODE_SESSION_STALL_MS)
        sessions_credit_stall(n, now, gap - expected);
    uint64_t *ids = n->cmdbuf->ids;
    uint32_t cnt = 0;
    for (uint32_t b = 0; b < n->n_sbuckets && cnt < TREE_IDS_MAX; b++)
        for (struct nsess *s = n->sbuckets[b];
             s && cnt < TREE_IDS_MAX; s = s->hnext) {
            if (s->expiring || now - s->last_ms <= s->timeout_ms)
                continue;
            s->expiring = true;
            ids[cnt++] = s->id;
        }
    if (cnt == 0)
        return;
    struct tree_cmd c = {.type = TREE_CMD_SESSION_EXPIRE,
                         .time_ms = node_wall_ms(n), .ids = ids,
                         .n_ids = cnt};
    if (node_propose(n, NULL, &c) != 0)
        node_sessions_reset_clocks(n); /* try again a timeout later */
    /* Into this leader's log now, at its term: left in the batch, a
     * deposed leader (paused, it still believed it led) would forward
     * its stale verdict to the new leader once it learns of it (the
     * fault suite's pause nemesis found this). */
    node_flush_proposals(n);
}

struct cleanup_ctx {
    struct node *n;
    uint32_t count;
};

static void cleanup_cb(void *data, const char *path, size_t len)
{
    struct cleanup_ctx *cc = data;
    cc->n->ops[cc->count++] = (struct tree_op){
        .type = TREE_CMD_DELETE, .version = -1, .path = path,
        .path_len = (uint32_t)len};
}

/* Leader only: propose deleting containers and TTL nodes whose time has
 * come (the apply re-checks each at the command's time). */
void node_cleanup_tick(struct node *n)
{
    int64_t now = net_now_ms(n->net);
    if (now - n->last_cleanup_ms < NODE_CLEANUP_SCAN_MS)
        return;
    n->last_cleanup_ms = now;
    int64_t wall = node_wall_ms(n);
    struct cleanup_ctx cc = {n, 0};
    uint32_t max = n->cfg.limits.multi_ops_max < TREE_IDS_MAX
                       ? n->cfg.limits.multi_ops_max
                       : TREE_IDS_MAX;
    tree_cleanup_candidates(n->tree, wall, max, cleanup_cb, &cc);
    if (cc.count == 0)
        return;
    struct tree_cmd c = {.type = TREE_CMD_CLEANUP, .time_ms = wall,
                         .ops = n->ops, .n_ops = cc.count};
    node_propose(n, NULL, &c);
    node_flush_proposals(n); /* as for expiries: never forwarded */
}
