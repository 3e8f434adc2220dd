/* metrics.c -- the metrics registry of coordd (single-writer counters,
 * histograms, a seqlock'd gauge block), its Prometheus text renderer, the
 * libmicrohttpd server that serves it, and node_metrics_publish(), the one
 * function that reads the node (on the loop thread) to fill the gauges.
 *
 * How it fits: see metrics.h for the threading rules. The HTTP thread
 * calls only metrics_render(), which reads atomics; it never touches the
 * node. The only file that includes <microhttpd.h>. It must not take
 * locks on the writers' paths nor allocate there.
 */
#include "metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/log.h"
#include "coordd/node_int.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "libcoord/shared/wire.h"

/* ---- tables -------------------------------------------------------------- */

/* Opcode -> slot (0: an opcode the table does not name). */
enum {
#define METRICS__OP_SLOT(name, num, str, rq, rs) METRICS__OP_##name,
    WIRE_OP_MAP(METRICS__OP_SLOT)
#undef METRICS__OP_SLOT
    METRICS__OPS
};
#define OP_SLOTS (METRICS__OPS + 1)
static const uint8_t op_slot[256] = {
#define METRICS__OP_MAP(name, num, str, rq, rs)                              \
    [(num)] = METRICS__OP_##name + 1,
    WIRE_OP_MAP(METRICS__OP_MAP)
#undef METRICS__OP_MAP
};
static const uint16_t slot_op[OP_SLOTS] = {
    0,
#define METRICS__SLOT_OP(name, num, str, rq, rs) (num),
    WIRE_OP_MAP(METRICS__SLOT_OP)
#undef METRICS__SLOT_OP
};
/* Result codes 0 .. -(ERR_SLOTS - 2); the last slot: any other code. */
#define ERR_SLOTS 64

/* Histogram bounds, in microseconds or bytes. */
static const uint64_t lat_bounds[] = {
    100,    250,    500,     1000,    2500,    5000,    10000,    25000,
    50000,  100000, 250000,  500000,  1000000, 2500000, 5000000, 10000000};
static const uint64_t snap_us_bounds[] = {
    1000,    10000,   100000,   250000,   500000,   1000000,
    2500000, 5000000, 10000000, 30000000, 60000000, 120000000};
static const uint64_t snap_byte_bounds[] = {
    1ull << 10, 1ull << 12, 1ull << 14, 1ull << 16, 1ull << 18, 1ull << 20,
    1ull << 22, 1ull << 24, 1ull << 26, 1ull << 28, 1ull << 30, 1ull << 32};
_Static_assert(COORD_ARRAY_LEN(lat_bounds) <= METRICS_BOUNDS_MAX &&
                   COORD_ARRAY_LEN(snap_us_bounds) <= METRICS_BOUNDS_MAX &&
                   COORD_ARRAY_LEN(snap_byte_bounds) <= METRICS_BOUNDS_MAX,
               "histogram bounds exceed METRICS_BOUNDS_MAX");

struct bounds {
    const uint64_t *v;
    uint32_t n;
    bool seconds; /* values are microseconds, rendered as seconds */
};
static const struct bounds LAT = {lat_bounds, COORD_ARRAY_LEN(lat_bounds),
                                  true};
static const struct bounds SNAP_US = {
    snap_us_bounds, COORD_ARRAY_LEN(snap_us_bounds), true};
static const struct bounds SNAP_BYTES = {
    snap_byte_bounds, COORD_ARRAY_LEN(snap_byte_bounds), false};

static const char *const class_name[METRICS_CLASSES] = {"read", "write"};
static const char *const snap_name[METRICS_SNAP_KINDS] = {
    "taken", "sent", "installed"};

/* ---- the registry -------------------------------------------------------- */

typedef _Atomic uint64_t ctr_t;

/* Per-bucket counts (not cumulated) and the sum of observations. */
struct hist {
    ctr_t cnt[METRICS_BOUNDS_MAX + 1];
    ctr_t sum;
};

/* Gauge words in publish order: the scalars, then peer ids and lags. */
enum {
    G_NODE, G_TERM, G_LEADER, G_IS_LEADER, G_COMMIT, G_APPLIED, G_LAST,
    G_SNAP, G_SESSIONS, G_WATCHES, G_CONNS, G_DIGEST, G_PAIR, G_BYTES,
    G_NPEERS = G_BYTES + 4,
    G_PEER_ID, G_PEER_LAG = G_PEER_ID + COORDD_MEMBERS_MAX,
    G_WORDS = G_PEER_LAG + COORDD_MEMBERS_MAX
};

struct metrics {
    /* loop thread */
    ctr_t req[OP_SLOTS][ERR_SLOTS];
    struct hist lat[METRICS_CLASSES];
    ctr_t leader_changes;
    ctr_t sessions_expired;
    struct hist snap_bytes[METRICS_SNAP_KINDS];
    struct hist snap_us[METRICS_SNAP_KINDS];
    /* storage worker thread */
    struct hist fsync;
    /* gauges: loop thread writes under the sequence number */
    _Atomic uint64_t gseq;
    _Atomic uint64_t g[G_WORDS];
    /* loop thread only, never read elsewhere: snapshot sends under way */
    uint64_t send_peer[COORDD_MEMBERS_MAX];
    int64_t send_start_us[COORDD_MEMBERS_MAX];
};

/* The single writer's increment: no read-modify-write instruction. */
static inline void ctr_add(ctr_t *c, uint64_t v)
{
    atomic_store_explicit(
        c, atomic_load_explicit(c, memory_order_relaxed) + v,
        memory_order_relaxed);
}

static inline uint64_t ctr_get(const ctr_t *c)
{
    return atomic_load_explicit((ctr_t *)c, memory_order_relaxed);
}

static void hist_observe(struct hist *h, const struct bounds *b,
                         uint64_t v)
{
    uint32_t i = 0;
    while (i < b->n && v > b->v[i])
        i++;
    ctr_add(&h->cnt[i], 1);
    ctr_add(&h->sum, v);
}

/* Upper bound of the bucket holding quantile q (0..1); 0 when empty.
 * Past the last bound: the last bound (a lower bound, then). */
static uint64_t hist_quantile(const struct hist *h, const struct bounds *b,
                              double q)
{
    uint64_t c[METRICS_BOUNDS_MAX + 1], total = 0;
    for (uint32_t i = 0; i <= b->n; i++)
        total += c[i] = ctr_get(&h->cnt[i]);
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total + 0.999999);
    uint64_t cum = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        cum += c[i];
        if (cum >= want)
            return b->v[i];
    }
    return b->v[b->n - 1];
}

int metrics_new(struct metrics **out)
{
    struct metrics *m = coord_calloc(1, sizeof(*m));
    if (!m)
        return COORD_ENOMEM;
    *out = m;
    return 0;
}

void metrics_free(struct metrics *m)
{
    coord_free(m);
}

int64_t metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- hooks --------------------------------------------------------------- */

static int op_class(uint32_t op)
{
    switch (op) {
    case WIRE_OP_GET:
    case WIRE_OP_EXISTS:
    case WIRE_OP_CHILDREN:
    case WIRE_OP_SYNC:
        return METRICS_CLASS_READ;
    case WIRE_OP_CREATE:
    case WIRE_OP_DELETE:
    case WIRE_OP_SET:
    case WIRE_OP_CHECK:
    case WIRE_OP_MULTI:
    case WIRE_OP_CLOSE:
        return METRICS_CLASS_WRITE;
    default:
        return -1;
    }
}

void metrics_request(struct metrics *m, uint32_t op, int err)
{
    uint32_t s = op < 256 ? op_slot[op] : 0;
    uint32_t e = err <= 0 && err > -(ERR_SLOTS - 1) ? (uint32_t)-err
                                                    : ERR_SLOTS - 1;
    ctr_add(&m->req[s][e], 1);
}

void metrics_request_latency(struct metrics *m, uint32_t op,
                             int64_t start_us)
{
    int c = op_class(op);
    if (c < 0)
        return;
    int64_t d = metrics_now_us() - start_us;
    hist_observe(&m->lat[c], &LAT, d > 0 ? (uint64_t)d : 0);
}

void metrics_leader_change(struct metrics *m)
{
    ctr_add(&m->leader_changes, 1);
}

void metrics_session_expired(struct metrics *m)
{
    ctr_add(&m->sessions_expired, 1);
}

int64_t metrics_snapshot_done(struct metrics *m, enum metrics_snap kind,
                              uint64_t bytes, int64_t start_us)
{
    coord_assert((unsigned)kind < METRICS_SNAP_KINDS);
    int64_t d = metrics_now_us() - start_us;
    if (d < 0)
        d = 0;
    hist_observe(&m->snap_bytes[kind], &SNAP_BYTES, bytes);
    hist_observe(&m->snap_us[kind], &SNAP_US, (uint64_t)d);
    return d;
}

int64_t metrics_snapshot_chunk(struct metrics *m, uint64_t to, uint64_t off,
                               uint64_t len, uint64_t total)
{
    uint32_t i = 0, free_i = COORDD_MEMBERS_MAX;
    for (; i < COORDD_MEMBERS_MAX && m->send_peer[i] != to; i++)
        if (m->send_peer[i] == 0 && free_i == COORDD_MEMBERS_MAX)
            free_i = i;
    if (off == 0) {
        if (i == COORDD_MEMBERS_MAX)
            i = free_i < COORDD_MEMBERS_MAX ? free_i : 0;
        m->send_peer[i] = to;
        m->send_start_us[i] = metrics_now_us();
    }
    if (i == COORDD_MEMBERS_MAX || off + len < total)
        return -1;
    m->send_peer[i] = 0; /* sent in full */
    return metrics_snapshot_done(m, METRICS_SNAP_SENT, total,
                                 m->send_start_us[i]);
}

void metrics_fsync(void *data, uint64_t us)
{
    struct metrics *m = data;
    hist_observe(&m->fsync, &LAT, us);
}

/* ---- gauges -------------------------------------------------------------- */

void metrics_publish(struct metrics *m, const struct metrics_gauges *g)
{
    uint64_t w[G_WORDS] = {0};
    w[G_NODE] = g->node_id;
    w[G_TERM] = g->term;
    w[G_LEADER] = g->leader_id;
    w[G_IS_LEADER] = g->is_leader;
    w[G_COMMIT] = g->commit;
    w[G_APPLIED] = g->applied;
    w[G_LAST] = g->last_index;
    w[G_SNAP] = g->snap_index;
    w[G_SESSIONS] = g->sessions;
    w[G_WATCHES] = g->watches;
    w[G_CONNS] = g->connections;
    w[G_DIGEST] = g->digest_mismatches;
    w[G_PAIR] = g->pair_commits;
    for (uint32_t i = 0; i < 4; i++)
        w[G_BYTES + i] = g->bytes[i];
    uint32_t np = g->n_peers < COORDD_MEMBERS_MAX ? g->n_peers
                                                  : COORDD_MEMBERS_MAX;
    w[G_NPEERS] = np;
    for (uint32_t i = 0; i < np; i++) {
        w[G_PEER_ID + i] = g->peer_id[i];
        w[G_PEER_LAG + i] = g->peer_lag[i];
    }
    /* Sequence lock, single writer: odd while the words change. */
    uint64_t s = atomic_load_explicit(&m->gseq, memory_order_relaxed);
    atomic_store_explicit(&m->gseq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (uint32_t i = 0; i < G_WORDS; i++)
        atomic_store_explicit(&m->g[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&m->gseq, s + 2, memory_order_release);
}

static void read_words(const struct metrics *m, uint64_t *w)
{
    struct metrics *mm = (struct metrics *)m;
    for (;;) {
        uint64_t s1 = atomic_load_explicit(&mm->gseq, memory_order_acquire);
        for (uint32_t i = 0; i < G_WORDS; i++)
            w[i] = atomic_load_explicit(&mm->g[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        uint64_t s2 = atomic_load_explicit(&mm->gseq, memory_order_relaxed);
        if (s1 == s2 && !(s1 & 1))
            return;
        sched_yield(); /* the writer is mid-publish: let it finish */
    }
}

void metrics_read_gauges(const struct metrics *m, struct metrics_gauges *g)
{
    uint64_t w[G_WORDS];
    read_words(m, w);
    *g = (struct metrics_gauges){
        .node_id = w[G_NODE], .term = w[G_TERM], .leader_id = w[G_LEADER],
        .is_leader = w[G_IS_LEADER] != 0, .commit = w[G_COMMIT],
        .applied = w[G_APPLIED], .last_index = w[G_LAST],
        .snap_index = w[G_SNAP], .sessions = w[G_SESSIONS],
        .watches = w[G_WATCHES], .connections = w[G_CONNS],
        .digest_mismatches = w[G_DIGEST], .pair_commits = w[G_PAIR],
        .n_peers = (uint32_t)w[G_NPEERS]};
    for (uint32_t i = 0; i < 4; i++)
        g->bytes[i] = w[G_BYTES + i];
    for (uint32_t i = 0; i < g->n_peers && i < COORDD_MEMBERS_MAX; i++) {
        g->peer_id[i] = w[G_PEER_ID + i];
        g->peer_lag[i] = w[G_PEER_LAG + i];
    }
}

void metrics_summarize(const struct metrics *m, struct metrics_summary *s)
{
    memset(s, 0, sizeof(*s));
    for (uint32_t o = 0; o < OP_SLOTS; o++) {
        int c = op_class(slot_op[o]);
        for (uint32_t e = 0; e < ERR_SLOTS; e++) {
            uint64_t v = ctr_get(&m->req[o][e]);
            s->requests += v;
            s->errors += e ? v : 0;
            s->reads += c == METRICS_CLASS_READ ? v : 0;
            s->writes += c == METRICS_CLASS_WRITE ? v : 0;
        }
    }
    for (uint32_t i = 0; i <= LAT.n; i++)
        s->fsyncs += ctr_get(&m->fsync.cnt[i]);
    s->fsync_p99_us = hist_quantile(&m->fsync, &LAT, 0.99);
    s->write_p99_us =
        hist_quantile(&m->lat[METRICS_CLASS_WRITE], &LAT, 0.99);
    s->leader_changes = ctr_get(&m->leader_changes);
}

/* Called by node.c once per tick, on the loop thread. */
void node_metrics_publish(struct node *n)
{
    struct raft_status st;
    raft_status(n->raft, &st);
    struct metrics_gauges g = {
        .node_id = n->cfg.id, .term = st.term, .leader_id = st.leader,
        .is_leader = st.role == RAFT_LEADER, .commit = st.commit,
        .applied = n->applied, .last_index = st.last_index,
        .snap_index = n->snap_index, .sessions = n->n_sessions,
        .watches = n->watches.n_watches, .connections = n->n_conns,
        .digest_mismatches = n->digest_mismatches,
        .pair_commits = st.pair_commits};
    if (n->net) {
        struct net_bytes b;
        net_get_bytes(n->net, &b);
        g.bytes[0] = b.client_in;
        g.bytes[1] = b.client_out;
        g.bytes[2] = b.peer_in;
        g.bytes[3] = b.peer_out;
    }
    for (uint32_t k = 0; k < st.n_progress && g.n_peers <
                                                  COORDD_MEMBERS_MAX; k++) {
        const struct raft_progress *p = &st.progress[k];
        if (p->id == n->cfg.id)
            continue;
        g.peer_id[g.n_peers] = p->id;
        g.peer_lag[g.n_peers++] =
            st.last_index > p->match ? st.last_index - p->match : 0;
    }
    metrics_publish(n->metrics, &g);
}

/* ---- text format 0.0.4 --------------------------------------------------- */

struct tbuf {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
};

static void tb_printf(struct tbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tb_printf(struct tbuf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap * 2;
        while (cap < b->len + (size_t)k + 1)
            cap *= 2;
        char *np = coord_realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void head(struct tbuf *b, const char *name, const char *type,
                 const char *help)
{
    tb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A bound or a sum: microseconds as seconds, else an integer. */
static void fmt_value(char *out, size_t cap, uint64_t v, bool seconds)
{
    if (seconds)
        snprintf(out, cap, "%.6g", (double)v / 1e6);
    else
        snprintf(out, cap, "%llu", (unsigned long long)v);
}

/* One histogram's series; labels is "" or `key="value"`. */
static void render_hist(struct tbuf *b, const char *name, const char *labels,
                        const struct hist *h, const struct bounds *bd)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    char v[32];
    for (uint32_t i = 0; i < bd->n; i++) {
        cum += ctr_get(&h->cnt[i]);
        fmt_value(v, sizeof(v), bd->v[i], bd->seconds);
        tb_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep, v,
                  (unsigned long long)cum);
    }
    cum += ctr_get(&h->cnt[bd->n]);
    tb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
              (unsigned long long)cum);
    uint64_t sum = ctr_get(&h->sum);
    if (bd->seconds)
        snprintf(v, sizeof(v), "%.6f", (double)sum / 1e6);
    else
        fmt_value(v, sizeof(v), sum, false);
    const char *lb = labels[0] ? "{" : "", *rb = labels[0] ? "}" : "";
    tb_printf(b, "%s_sum%s%s%s %s\n", name, lb, labels, rb, v);
    tb_printf(b, "%s_count%s%s%s %llu\n", name, lb, labels, rb,
              (unsigned long long)cum);
}

static const char *code_name(uint32_t e)
{
    if (e == ERR_SLOTS - 1)
        return "other";
    const char *s = coord_errname(-(int)e);
    return strncmp(s, "COORD_", 6) == 0 ? s + 6 : s;
}

static void render_requests(struct tbuf *b, const struct metrics *m)
{
    head(b, "coord_requests_total", "counter",
         "Requests answered, by opcode and result code (OK or the error).");
    for (uint32_t o = 0; o < OP_SLOTS; o++) {
        const char *op = o ? wire_op_name(slot_op[o]) : "unknown";
        for (uint32_t e = 0; e < ERR_SLOTS; e++) {
            uint64_t v = ctr_get(&m->req[o][e]);
            if (v)
                tb_printf(b, "coord_requests_total{op=\"%s\",code=\"%s\"} "
                          "%llu\n", op, code_name(e),
                          (unsigned long long)v);
        }
    }
    head(b, "coord_request_duration_seconds", "histogram",
         "Time from a request's arrival to its reply leaving the "
         "connection's queue, by class (read, write).");
    char lab[32];
    for (int c = 0; c < METRICS_CLASSES; c++) {
        snprintf(lab, sizeof(lab), "class=\"%s\"", class_name[c]);
        render_hist(b, "coord_request_duration_seconds", lab, &m->lat[c],
                    &LAT);
    }
}

static void gauge(struct tbuf *b, const char *name, const char *help,
                  uint64_t v)
{
    head(b, name, "gauge", help);
    tb_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void counter(struct tbuf *b, const char *name, const char *help,
                    uint64_t v)
{
    head(b, name, "counter", help);
    tb_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void render_raft(struct tbuf *b, const struct metrics *m,
                        const struct metrics_gauges *g)
{
    gauge(b, "coord_node_id", "This server's id.", g->node_id);
    gauge(b, "coord_raft_term", "Current Raft term.", g->term);
    gauge(b, "coord_raft_leader_id", "Leader known here (0: none).",
          g->leader_id);
    gauge(b, "coord_raft_is_leader", "1 if this server leads.",
          g->is_leader);
    gauge(b, "coord_raft_commit_index", "Highest log index known "
          "committed.", g->commit);
    gauge(b, "coord_raft_applied_index", "Highest log index applied to "
          "the tree.", g->applied);
    gauge(b, "coord_raft_last_index", "Last index of the local log.",
          g->last_index);
    gauge(b, "coord_raft_snapshot_index", "Index of the latest snapshot.",
          g->snap_index);
    gauge(b, "coord_raft_apply_lag_entries", "Committed entries not yet "
          "applied (commit - applied).",
          g->commit > g->applied ? g->commit - g->applied : 0);
    counter(b, "coord_raft_leader_changes_total", "Times the leader known "
            "here changed to a new server.",
            ctr_get(&m->leader_changes));
    counter(b, "coord_raft_pair_commits_total", "Times this follower "
            "moved its commit index itself, from the leader's durable index "
            "(pair commit, docs/raft.md).", g->pair_commits);
    head(b, "coord_raft_follower_lag_entries", "gauge",
         "Leader only: entries a follower lacks (last index - match).");
    for (uint32_t i = 0; i < g->n_peers; i++)
        tb_printf(b, "coord_raft_follower_lag_entries{peer=\"%llu\"} %llu\n",
                  (unsigned long long)g->peer_id[i],
                  (unsigned long long)g->peer_lag[i]);
    counter(b, "coord_digest_mismatches_total", "Tree digests of another "
            "replica that differed from ours (replica divergence).",
            g->digest_mismatches);
}

static void render_tables(struct tbuf *b, const struct metrics *m,
                          const struct metrics_gauges *g)
{
    gauge(b, "coord_sessions", "Open sessions (cluster-wide table).",
          g->sessions);
    counter(b, "coord_sessions_expired_total", "Sessions expired (applied "
            "here).", ctr_get(&m->sessions_expired));
    gauge(b, "coord_watches", "Watches registered on this server.",
          g->watches);
    gauge(b, "coord_client_connections", "Open client connections.",
          g->connections);
    static const char *const dir[4][2] = {
        {"client", "in"}, {"client", "out"}, {"peer", "in"}, {"peer", "out"}};
    head(b, "coord_net_bytes_total", "counter",
         "Bytes read (in) and written (out) on client connections and "
         "peer links.");
    for (int i = 0; i < 4; i++)
        tb_printf(b, "coord_net_bytes_total{kind=\"%s\",dir=\"%s\"} %llu\n",
                  dir[i][0], dir[i][1], (unsigned long long)g->bytes[i]);
    head(b, "coord_fsync_duration_seconds", "histogram",
         "Duration of one synced write batch of the storage worker "
         "(group commit: write plus fsync).");
    render_hist(b, "coord_fsync_duration_seconds", "", &m->fsync, &LAT);
    char lab[32];
    head(b, "coord_snapshot_bytes", "histogram",
         "Snapshot sizes, by kind (taken, sent, installed).");
    for (int k = 0; k < METRICS_SNAP_KINDS; k++) {
        snprintf(lab, sizeof(lab), "kind=\"%s\"", snap_name[k]);
        render_hist(b, "coord_snapshot_bytes", lab, &m->snap_bytes[k],
                    &SNAP_BYTES);
    }
    head(b, "coord_snapshot_duration_seconds", "histogram",
         "Snapshot durations: taken (serialise + durable), sent (first "
         "to last chunk), installed (last chunk to loaded).");
    for (int k = 0; k < METRICS_SNAP_KINDS; k++) {
        snprintf(lab, sizeof(lab), "kind=\"%s\"", snap_name[k]);
        render_hist(b, "coord_snapshot_duration_seconds", lab,
                    &m->snap_us[k], &SNAP_US);
    }
}

int metrics_render(const struct metrics *m, char **text, size_t *len)
{
    struct tbuf b = {.cap = 16384};
    b.p = coord_malloc(b.cap);
    if (!b.p)
        return COORD_ENOMEM;
    b.p[0] = '\0';
    struct metrics_gauges g;
    metrics_read_gauges(m, &g);
    render_requests(&b, m);
    render_raft(&b, m, &g);
    render_tables(&b, m, &g);
    if (b.oom) {
        coord_free(b.p);
        return COORD_ENOMEM;
    }
    *text = b.p;
    *len = b.len;
    return 0;
}

/* ---- HTTP ---------------------------------------------------------------- */

struct metrics_http {
    struct MHD_Daemon *d;
    struct metrics *m;
    uint16_t port;
};

static enum MHD_Result http_text(struct MHD_Connection *c, unsigned status,
                                 const char *msg)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result http_cb(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_len, void **con_cls)
{
    struct metrics_http *h = cls;
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return http_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                         "only GET /metrics\n");
    if (strcmp(url, "/metrics") != 0)
        return http_text(c, MHD_HTTP_NOT_FOUND, "not found: GET /metrics\n");
    char *text = NULL;
    size_t len = 0;
    if (metrics_render(h->m, &text, &len) != 0)
        return http_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                         "out of memory\n");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
    coord_free(text);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* libmicrohttpd's own complaints, as log lines. */
static void http_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t k = strlen(msg);
    while (k > 0 && (msg[k - 1] == '\n' || msg[k - 1] == '\r'))
        msg[--k] = '\0';
    log_emit(LOG_LEVEL_WARN, "metrics http", "detail=%s", msg);
}

/* A listening socket on host:port; its fd, or -1 with err filled. */
static int http_listen(const char *host, uint16_t port, uint16_t *bound,
                       char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", (unsigned)port);
    int gai = getaddrinfo(host, ps, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "metrics_listen %s:%u: %s", host,
                 (unsigned)port, gai_strerror(gai));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd >= 0 &&
            (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
             bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 64))) {
            e = errno;
            close(fd);
            fd = -1;
        } else if (fd < 0) {
            e = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "metrics_listen %s:%u: %s", host,
                 (unsigned)port, strerror(e));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    *bound = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *bound = ntohs(ss.ss_family == AF_INET6
                           ? ((struct sockaddr_in6 *)&ss)->sin6_port
                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int metrics_http_start(struct metrics_http **out, struct metrics *m,
                       const char *host, uint16_t port, char *err,
                       size_t errlen)
{
    struct metrics_http *h = coord_calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "metrics_listen: out of memory");
        return COORD_ENOMEM;
    }
    h->m = m;
    int fd = http_listen(host, port, &h->port, err, errlen);
    if (fd < 0) {
        coord_free(h);
        return COORD_EIO;
    }
    h->d = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        http_cb, h, MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)METRICS_HTTP_CONNS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)METRICS_HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (!h->d) {
        close(fd);
        coord_free(h);
        snprintf(err, errlen, "metrics_listen %s:%u: the HTTP server did "
                 "not start", host, (unsigned)port);
        return COORD_EIO;
    }
    *out = h;
    return 0;
}

uint16_t metrics_http_port(const struct metrics_http *h)
{
    return h->port;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d); /* joins its thread, closes the socket */
    coord_free(h);
}
