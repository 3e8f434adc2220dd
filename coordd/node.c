/* node.c -- the driver: loads the durable state, feeds events to the Raft
 * core and carries out each update in the order raft.h requires: persist
 * (queued to the storage worker, group-committed off the loop thread),
 * send, apply committed entries to the tree (replies and watch events),
 * then serve read-index results. Client requests are request.c's; sessions
 * and their liveness session.c's.
 *
 * Every raft_step() update is consumed before the next step, because its
 * pointers are borrowed from the core until then.
 */
#include "node_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "coordd/log.h"
#include "coordd/snapfork.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/auth.h"
#include "libcoord/shared/check.h"

/* In-memory log capacity of the core: twice the entries between
 * snapshots (those since the last one, plus those arriving while the next
 * is written) plus a floor. The core keeps an eighth of it after a
 * snapshot for slow followers; one further behind gets the snapshot. */
#define NODE_LOG_ENTRIES_FLOOR 1024
/* Storage worker queue: bounded by what Raft lets be uncommitted. */
#define NODE_WORKER_QUEUE_MAX 65536
/* Snapshot bytes: buffers start at this and double; the store gets them in
 * pieces of at most this. */
#define NODE_SNAP_PIECE_BYTES (1024u * 1024u)
/* The snapshot stream ends with a u64 FNV-1a (little-endian) of every
 * byte before it (coordd/tree/snapshot.c's trailer). */
#define NODE_SNAP_SUM_BYTES 8
#define NODE_FNV_OFFSET 0xcbf29ce484222325ULL
#define NODE_FNV_PRIME 0x100000001b3ULL
/* An install's writer polls this often for earlier persists to finish. */
#define NODE_SNAP_PERSIST_POLL_NS 100000

static void stop_tick(struct node *n);
static void snap_rx_chunk(struct node *n, const struct raft_update *u);
static void snap_install_start(struct node *n, const struct raft_update *u);
static bool snap_hold(struct node *n);
static void snap_check(struct node *n);
static void snap_tick(struct node *n);

int64_t node_wall_ms(const struct node *n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           n->cfg.clock_offset_ms;
}

/* ---- persistence ------------------------------------------------------ */

/* Storage worker thread: record the durable seq and wake the loop. */
static void worker_done_cb(void *data, int status, uint64_t seq)
{
    struct node *n = data;
    if (status)
        atomic_store(&n->worker_err, status);
    else
        atomic_store(&n->durable_seq, seq);
    if (n->net)
        net_wakeup(n->net);
}

static void persist_update(struct node *n, const struct raft_update *u)
{
    if (u->n_entries > n->sents_cap) {
        uint32_t cap = u->n_entries * 2;
        struct store_entry *p =
            coord_realloc(n->sents, cap * sizeof(*n->sents));
        if (!p)
            coord_panic("out of memory queueing a persist request");
        n->sents = p;
        n->sents_cap = cap;
    }
    for (uint32_t i = 0; i < u->n_entries; i++) {
        const struct raft_entry *e = &u->entries[i];
        n->sents[i] = (struct store_entry){e->index, e->term, e->type,
                                           e->len, e->data};
    }
    struct store_write w = {.hs_changed = u->hs_changed, .term = u->term,
                            .vote = u->vote,
                            .truncate_from = u->truncate_from,
                            .entries = n->sents, .n_entries = u->n_entries};
    if (n->persist_since_ms == 0) {
        n->persist_since_ms = net_now_ms(n->net);
        n->persist_since_seq = u->persist_seq;
    }
    /* With a loop, the worker is woken in node_on_flushed, after this
     * iteration's messages left (a leader's APPENDs before its fsync). */
    n->submitted_seq = u->persist_seq;
    int rc = n->net ? store_worker_submit_quiet(&n->worker, u->persist_seq,
                                                &w)
                    : store_worker_submit(&n->worker, u->persist_seq, &w);
    if (rc) {
        /* The queue is sized from what Raft lets be uncommitted: a full
         * queue or a failed disk is not something to continue past. */
        log_emit(LOG_LEVEL_FATAL, "cannot queue persist request", "err=%s",
                 coord_errname(rc));
        coord_panic("storage worker refused a persist request");
    }
}

/* ---- apply ------------------------------------------------------------ */

static void deliver_cb(void *data, struct watch_owner *o, uint8_t type,
                       const char *path, size_t len, uint64_t zxid)
{
    struct node *n = data;
    struct nsess *s = (struct nsess *)((char *)o -
                                       offsetof(struct nsess, wo));
    if (s->conn)
        node_send_event(n, s->conn, type, path, len, zxid);
}

static void on_tree_event_fire(void *data, const struct tree_event *ev)
{
    struct node *n = data;
    changelog_record(&n->changes, ev->zxid, ev->type, ev->path, ev->path_len);
    watch_fire(&n->watches, ev->type, ev->path, ev->path_len, ev->zxid,
               deliver_cb, n);
}

/* Session side effects of an applied command, on every replica. */
static void apply_sessions(struct node *n, const struct tree_cmd *c,
                           const struct tree_result *res)
{
    if (res->err || res->cached)
        return;
    switch (c->type) {
    case TREE_CMD_SESSION_OPEN:
        if (!node_session_add(n, c->session_id, c->timeout_ms))
            coord_panic("out of memory adding a session");
        break;
    case TREE_CMD_SESSION_CLOSE:
        node_session_remove(n, c->session_id, false);
        break;
    case TREE_CMD_SESSION_EXPIRE:
        for (uint32_t i = 0; i < c->n_ids; i++)
            node_session_remove(n, c->ids[i], true);
        break;
    default:
        break;
    }
}

/* Pops the writes queued before index (their entries were replaced by
 * another leader's) and returns the request proposed at index, if it is
 * the one this command came from. */
static struct nreq *take_write(struct node *n, uint64_t index,
                               const struct tree_cmd *c)
{
    while (n->wq_head && n->wq_head->index <= index) {
        struct nreq *rq = n->wq_head;
        n->wq_head = rq->next_wait;
        if (!n->wq_head)
            n->wq_tail = NULL;
        rq->next_wait = NULL;
        if (rq->index == index && rq->session_id == c->session_id &&
            (uint64_t)rq->xid == c->xid)
            return rq;
        node_fail_req(n, rq, COORD_ECONNLOSS);
    }
    return NULL;
}

static void apply_normal(struct node *n, const struct raft_entry *e)
{
    struct tree_cmd_buf *cb = n->cmdbuf;
    if (tree_cmd_decode(e->data, e->len, cb) != 0) {
        /* Committed bytes were encoded by a leader and checksummed by the
         * store: failing to decode them means replicas would diverge. */
        log_emit(LOG_LEVEL_FATAL, "undecodable committed entry", "index=%llu",
                 (unsigned long long)e->index);
        coord_panic("undecodable committed entry");
    }
    const struct tree_result *res = NULL;
    tree_apply(n->tree, e->index, &cb->cmd, on_tree_event_fire, n, &res);
    apply_sessions(n, &cb->cmd, res);
    struct nreq *rq = take_write(n, e->index, &cb->cmd);
    if (rq)
        node_complete_write(n, rq, res);
    else if (cb->cmd.type != TREE_CMD_NOOP)
        node_take_forwarded(n, cb->cmd.session_id, cb->cmd.xid, res);
}

static void apply_entry(struct node *n, const struct raft_entry *e)
{
    coord_assert(e->index == n->applied + 1);
    /* Set first: replies encoded while applying e carry e's index as
     * their zxid, so a client's last zxid covers its own writes (a resume
     * elsewhere then waits for them). */
    n->applied = e->index;
    n->applied_term = e->term;
    if (e->type == RAFT_ENTRY_NORMAL) {
        apply_normal(n, e);
    } else if (e->type == RAFT_ENTRY_CONF) {
        uint8_t ct;
        uint64_t cid;
        const uint8_t *ctx;
        uint32_t ctx_len;
        if (raft_conf_decode(e, &n->conf, &ct, &cid, &ctx, &ctx_len) != 0)
            coord_panic("undecodable committed configuration");
        node_admin_conf_applied(n, e, ct, cid, ctx, ctx_len);
    }
    node_digest_record(n);
}

/* ---- the update ------------------------------------------------------- */

/* One line and one count per new leader seen here. */
static void node_leader_changed(struct node *n, uint64_t leader,
                                uint64_t term)
{
    metrics_leader_change(n->metrics);
    log_emit(LOG_LEVEL_INFO, "leader changed",
             "leader=%llu term=%llu previous=%llu self=%llu",
             (unsigned long long)leader, (unsigned long long)term,
             (unsigned long long)n->leader,
             (unsigned long long)n->cfg.id);
}

static void on_state_change(struct node *n, const struct raft_update *u)
{
    struct raft_status st;
    raft_status(n->raft, &st);
    bool was_leader = n->role == RAFT_LEADER;
    if (u->leader != n->leader || st.term != n->term)
        node_forward_hold(n); /* a new term: the leader may have dropped
                                 some; all are resent (deduplicated) */
    if (u->leader && u->leader != n->leader)
        node_leader_changed(n, u->leader, st.term);
    n->role = u->role;
    n->leader = u->leader;
    n->term = st.term;
    log_emit(LOG_LEVEL_INFO, "raft state", "role=%s term=%llu leader=%llu",
             raft_role_name(u->role), (unsigned long long)st.term,
             (unsigned long long)u->leader);
    if (n->role == RAFT_LEADER && !was_leader)
        node_sessions_reset_clocks(n); /* DESIGN: a new leader restarts
                                          every session's clock */
    node_metrics_publish(n); /* term, role and leader at once, not a tick
                                later: a scrape never pairs a new term
                                with an old leader */
}

void node_process_update(struct node *n, const struct raft_update *u)
{
    if (u->persist_seq)
        persist_update(n, u);
    if (u->chunk)
        snap_rx_chunk(n, u);
    if (u->snapshot_install)
        snap_install_start(n, u);
    for (uint32_t i = 0; i < u->n_msgs; i++)
        node_send_msg(n, &u->msgs[i]);
    if (u->state_changed)
        on_state_change(n, u);
    for (uint32_t i = 0; i < u->n_committed; i++)
        apply_entry(n, &u->committed[i]);
    for (uint32_t i = 0; i < u->n_reads; i++)
        node_read_result(n, &u->reads[i]);
    if (u->n_committed) {
        struct raft_event ev = {.type = RAFT_EV_APPLIED};
        ev.applied.index = n->applied;
        node_step(n, &ev);
    }
    if (u->n_committed || u->n_reads)
        node_reads_advance(n);
    if (!n->ready && n->leader && n->applied >= n->start_index)
        n->ready = true;
    if (u->want_snapshot ||
        n->applied - n->snap_index >= n->cfg.snapshot_entries)
        node_take_snapshot(n);
}

void node_step(struct node *n, const struct raft_event *ev)
{
    struct raft_update u;
    int rc = raft_step(n->raft, ev, &u);
    (void)rc; /* refusals are reported by the callers that care */
    node_process_update(n, &u);
}

/* ---- proposals -------------------------------------------------------- */

int node_propose(struct node *n, struct nreq *rq, const struct tree_cmd *c)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = tree_cmd_encode(c, &buf, &len);
    if (rc)
        return rc;
    bool no_leader = !n->leader && n->role != RAFT_LEADER;
    if (rq && (no_leader || n->fwd_resend)) {
        /* No leader yet, or older writes held since the last change are
         * still to be (re)sent: this one goes after them (session order). */
        node_forward_park(n, rq, buf, (uint32_t)len);
        return 0;
    }
    if (no_leader) { /* a system command (no request): the leader's own */
        coord_free(buf);
        return COORD_EUNAVAILABLE;
    }
    if (n->n_prop == NODE_PROPOSE_BATCH_MAX) {
        if (n->role == RAFT_LEADER)
            node_flush_proposals(n);
        else
            node_forward_proposals(n);
    }
    if (n->n_prop == NODE_PROPOSE_BATCH_MAX) { /* held behind a snapshot */
        coord_free(buf);
        return COORD_EAGAIN;
    }
    n->pbufs[n->n_prop] = (struct raft_buf){buf, (uint32_t)len};
    n->preqs[n->n_prop] = rq;
    n->porigin[n->n_prop] = 0;
    n->n_prop++;
    return 0;
}

int node_propose_raw(struct node *n, const uint8_t *p, uint32_t len,
                     uint64_t origin)
{
    uint8_t *copy = coord_malloc(len ? len : 1);
    if (!copy)
        return COORD_ENOMEM;
    memcpy(copy, p, len);
    if (n->n_prop == NODE_PROPOSE_BATCH_MAX)
        node_flush_proposals(n);
    if (n->n_prop == NODE_PROPOSE_BATCH_MAX) { /* held behind a snapshot */
        coord_free(copy);
        return COORD_EAGAIN;
    }
    n->pbufs[n->n_prop] = (struct raft_buf){copy, len};
    n->preqs[n->n_prop] = NULL;
    n->porigin[n->n_prop] = origin;
    n->n_prop++;
    return 0;
}

void node_queue_write(struct node *n, struct nreq *rq, uint64_t index)
{
    rq->index = index;
    rq->next_wait = NULL;
    if (n->wq_tail)
        n->wq_tail->next_wait = rq;
    else
        n->wq_head = rq;
    n->wq_tail = rq;
}

/* One PROPOSE event for everything proposed since the last flush. */
void node_flush_proposals(struct node *n)
{
    if (n->n_prop == 0)
        return;
    struct raft_event ev = {.type = RAFT_EV_PROPOSE};
    ev.propose.bufs = n->pbufs;
    ev.propose.n = n->n_prop;
    struct raft_update u;
    int rc = raft_step(n->raft, &ev, &u);
    if (rc == COORD_EAGAIN && snap_hold(n)) {
        node_process_update(n, &u); /* the batch stays: retried at the
                                       next flush */
        return;
    }
    for (uint32_t i = 0; i < n->n_prop; i++) {
        struct nreq *rq = n->preqs[i];
        /* A forwarded one refused: its origin learns now (after
         * ENOTLEADER, followers resend to the next leader themselves). */
        if (rc != 0 && rc != COORD_ENOTLEADER && !rq && n->porigin[i])
            node_forward_refused(n, n->porigin[i], n->pbufs[i].data,
                                 n->pbufs[i].len, rc);
        coord_free((void *)n->pbufs[i].data);
        if (rc == 0 && rq)
            node_queue_write(n, rq, u.propose_index + i);
        else if (rq)
            node_fail_req(n, rq, rc == COORD_ENOTLEADER
                                     ? COORD_EUNAVAILABLE
                                     : rc);
    }
    n->n_prop = 0;
    node_process_update(n, &u);
}

static void flush_reads(struct node *n)
{
    if (!n->open_read_id)
        return;
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX};
    ev.read.id = n->open_read_id;
    n->open_read_id = 0;
    struct raft_update u;
    int rc = raft_step(n->raft, &ev, &u);
    if (rc) {
        struct raft_read r = {ev.read.id, 0,
                              rc == COORD_ENOTLEADER ? COORD_EUNAVAILABLE
                                                     : rc};
        node_read_result(n, &r);
        node_reads_advance(n);
    }
    node_process_update(n, &u);
}

/* ---- snapshots -------------------------------------------------------- */

/* Snapshot bytes are produced by a forked child (snapfork.h): it
 * serializes the tree as of the fork from its copy-on-write image and
 * streams the bytes through a pipe to a short-lived snapshot thread, which
 * collects them, writes them to the store and commits the snapshot. The
 * loop keeps serving meanwhile (a 10^6-node tree took seconds to
 * serialize on a loaded machine, past clients' silence timeout). The
 * child allocates nothing: tree_snapshot_prepare makes the pass's buffer
 * and sorted session list on the loop before the fork. A child that fails
 * (or is killed after snapshot_child_timeout_ms) is logged and retried
 * after snapshot_retry_ms; if fork itself fails, the loop serializes
 * in-process as before. Snapshots are started from the loop thread only:
 * the child's PR_SET_PDEATHSIG follows the thread that forked it, and the
 * loop reaps it. docs/snapshots.md. */
struct node_snap_job {
    struct node *n;
    bool install;        /* a snapshot received from the leader */
    struct snapfork child; /* child.pid > 0: a serializing child */
    int child_rc;        /* the child did not deliver: its error */
    int64_t start_ms;    /* the child was started (net_now_ms) */
    bool killed;         /* killed for running past its timeout */
    bool held;           /* proposals waited for it (logged once) */
    int64_t hold_ms;     /* a batch waits for it since, or 0 */
    bool hold_over;      /* one waited snapshot_hold_ms: no more holds */
    atomic_bool collected; /* buf holds the whole snapshot */
    uint64_t keep_from;  /* store_snap_commit's argument */
    uint64_t index;
    uint64_t term;
    uint8_t *buf;
    size_t len;
    size_t cap;
    int64_t t0_us;       /* started (metrics_now_us) */
    uint8_t conf[NODE_CONF_BLOB_MAX]; /* configuration, then addresses */
    uint32_t conf_len;
    int rc;
    pthread_t thread;
    atomic_bool done;
    uint64_t after_seq;  /* install: persists queued before it */
    atomic_bool abort;   /* snap_job_abort: stop waiting for them */
};

static int snap_append_cb(void *data, const void *bytes, size_t len)
{
    struct node_snap_job *j = data;
    if (j->len + len > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : NODE_SNAP_PIECE_BYTES;
        while (cap < j->len + len)
            cap *= 2;
        uint8_t *p = coord_realloc(j->buf, cap);
        if (!p)
            return COORD_ENOMEM;
        j->buf = p;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, bytes, len);
    j->len += len;
    return 0;
}

/* Configuration blob stored with a snapshot: u32 n, then n x (u64 id,
 * u8 role), big-endian; then (admin.c) the members' addresses, which
 * node_conf_decode leaves to node_addrs_decode. */
uint32_t node_conf_encode(const struct raft_conf *c, uint8_t *out)
{
    uint8_t *p = out;
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(c->n >> (8 * i));
    for (uint32_t m = 0; m < c->n; m++) {
        for (int i = 7; i >= 0; i--)
            *p++ = (uint8_t)(c->members[m].id >> (8 * i));
        *p++ = c->members[m].role;
    }
    return (uint32_t)(p - out);
}

int node_conf_decode(const uint8_t *in, uint32_t len, struct raft_conf *c)
{
    if (len < 4)
        return COORD_ECORRUPT;
    uint32_t cnt = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
                   (uint32_t)in[2] << 8 | in[3];
    if (cnt == 0 || cnt > RAFT_MEMBERS_MAX || len < 4 + cnt * 9)
        return COORD_ECORRUPT;
    memset(c, 0, sizeof(*c));
    c->n = cnt;
    const uint8_t *p = in + 4;
    for (uint32_t m = 0; m < cnt; m++) {
        uint64_t id = 0;
        for (int i = 0; i < 8; i++)
            id = id << 8 | *p++;
        c->members[m].id = id;
        c->members[m].role = *p++;
        if (id == 0 || (c->members[m].role != RAFT_VOTER &&
                        c->members[m].role != RAFT_LEARNER))
            return COORD_ECORRUPT;
    }
    return 0;
}

/* The stream's own checksum holds: a child that exited 0 after writing
 * bytes that do not (a bug, memory corruption in the copy) is not stored.
 * On the snapshot thread: one pass over the bytes. */
static bool snap_sum_ok(const uint8_t *p, size_t len)
{
    if (len < NODE_SNAP_SUM_BYTES)
        return false;
    size_t body = len - NODE_SNAP_SUM_BYTES;
    uint64_t h = NODE_FNV_OFFSET, want = 0;
    for (size_t i = 0; i < body; i++)
        h = (h ^ p[i]) * NODE_FNV_PRIME;
    for (int i = NODE_SNAP_SUM_BYTES - 1; i >= 0; i--)
        want = want << 8 | p[body + (size_t)i];
    return h == want;
}

/* An install's commit drops the log: it must come after every persist
 * request queued before the install (raft.h: the install sits between
 * them and later ones), or an older batch written late would land on the
 * dropped log. They complete on their own (storage thread, or the loop's
 * AIO reaping); this background thread polls for that. */
static int snap_wait_persisted(struct node_snap_job *j)
{
    struct node *n = j->n;
    while (atomic_load(&n->durable_seq) < j->after_seq) {
        if (atomic_load(&n->worker_err) || atomic_load(&j->abort))
            return COORD_EIO;
        struct timespec ts = {0, NODE_SNAP_PERSIST_POLL_NS};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void *snap_thread(void *arg)
{
    struct node_snap_job *j = arg;
    if (j->child.pid > 0) {
        j->child_rc = snapfork_collect(&j->child, &j->buf, &j->len,
                                       &j->cap);
        if (j->child_rc == 0 && !snap_sum_ok(j->buf, j->len))
            j->child_rc = COORD_ECORRUPT;
        if (j->child_rc) { /* nothing stored: the loop retries later */
            atomic_store(&j->done, true);
            net_wakeup(j->n->net);
            return NULL;
        }
        atomic_store(&j->collected, true);
    }
    struct store *s = j->n->store;
    int rc = store_snap_begin(s, j->index, j->term, j->conf, j->conf_len);
    for (size_t off = 0; rc == 0 && off < j->len;) {
        size_t chunk = j->len - off < NODE_SNAP_PIECE_BYTES
                           ? j->len - off
                           : NODE_SNAP_PIECE_BYTES;
        rc = store_snap_write(s, off, j->buf + off, (uint32_t)chunk);
        off += chunk;
    }
    if (rc == 0 && j->install)
        rc = snap_wait_persisted(j);
    if (rc == 0)
        rc = store_snap_commit(s, j->keep_from);
    j->rc = rc;
    atomic_store(&j->done, true);
    net_wakeup(j->n->net);
    return NULL;
}

/* In the forked child: the prepared pass, down the pipe. */
static int snap_pipe_cb(void *data, const void *bytes, size_t len)
{
    return snapfork_write(*(const int *)data, bytes, len);
}

static int snap_child_fn(void *data, int fd)
{
    return tree_snapshot_pass_write(data, snap_pipe_cb, &fd);
}

/* Serializes the tree for j: in a forked child when it can be started
 * (j->child.pid > 0 then), else here on the loop. 0 or an error. */
static int snap_serialize(struct node *n, struct node_snap_job *j)
{
    struct tree_snapshot_pass *pass;
    int rc = tree_snapshot_prepare(n->tree, &pass);
    if (rc)
        return rc;
    int64_t t0 = metrics_now_us();
    rc = snapfork_start(&j->child, snap_child_fn, pass);
    if (rc == 0) {
        /* about the last snapshot's size: the buffer rarely grows */
        j->cap = n->snap_len + n->snap_len / 8;
        j->buf = j->cap ? coord_malloc(j->cap) : NULL;
        if (!j->buf)
            j->cap = 0;
        j->start_ms = net_now_ms(n->net);
        log_emit(LOG_LEVEL_INFO, "snapshot started",
                 "index=%llu pid=%d fork_us=%lld",
                 (unsigned long long)j->index, (int)j->child.pid,
                 (long long)(metrics_now_us() - t0));
    } else {
        char why[128];
        log_emit(LOG_LEVEL_WARN, "snapshot fork failed",
                 "err=\"%s\" index=%llu",
                 strerror_r(errno, why, sizeof(why)),
                 (unsigned long long)j->index);
        rc = tree_snapshot_pass_write(pass, snap_append_cb, j);
        atomic_store(&j->collected, true);
    }
    tree_snapshot_pass_free(pass); /* the child has its own copy */
    return rc;
}

/* A new job; NULL when out of memory. */
static struct node_snap_job *snap_job_new(struct node *n)
{
    struct node_snap_job *j = coord_calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->n = n;
    return j;
}

/* Ends a job whose thread never started or has been joined. */
static void snap_job_free(struct node_snap_job *j)
{
    if (j->child.pid > 0) {
        snapfork_kill(&j->child);
        snapfork_reap(&j->child);
    }
    coord_free(j->buf);
    coord_free(j);
}

/* Stops a job in flight: kills its child (nothing is lost: the log still
 * holds every entry the snapshot would cover), waits for its thread
 * (bounded by a store write), reaps and frees it. */
static void snap_job_abort(struct node *n)
{
    struct node_snap_job *j = n->snap_job;
    if (!j)
        return;
    int pid = (int)j->child.pid;
    snapfork_kill(&j->child);
    atomic_store(&j->abort, true);
    pthread_join(j->thread, NULL);
    n->snap_job = NULL;
    if (pid > 0) {
        char how[32];
        snapfork_reap(&j->child);
        log_emit(LOG_LEVEL_INFO, "snapshot aborted",
                 "index=%llu pid=%d end=\"%s\"",
                 (unsigned long long)j->index, pid,
                 snapfork_describe(&j->child, how, sizeof(how)));
    }
    snap_job_free(j);
}

void node_take_snapshot(struct node *n)
{
    if (n->snap_job || n->applied <= n->snap_index || !n->net ||
        n->applied == 0 || n->stopping)
        return; /* (stopping: the child would be killed at exit) */
    if (n->snap_retry_ms && net_now_ms(n->net) < n->snap_retry_ms)
        return; /* a child failed recently */
    struct node_snap_job *j = snap_job_new(n);
    if (!j)
        return; /* retried at the next apply */
    j->index = n->applied;
    j->term = n->applied_term;
    j->keep_from = j->index + 1;
    j->conf_len = node_conf_encode(&n->conf, j->conf);
    j->conf_len += node_addrs_encode(n, &n->conf, j->conf + j->conf_len);
    j->t0_us = metrics_now_us();
    int rc = snap_serialize(n, j);
    if (rc == 0 && pthread_create(&j->thread, NULL, snap_thread, j) == 0) {
        n->snap_job = j;
        return;
    }
    log_emit(LOG_LEVEL_WARN, "snapshot not started", "err=%s",
             coord_errname(rc ? rc : COORD_ENOMEM));
    snap_job_free(j);
}

bool node_snapshot_running(const struct node *n)
{
    return n->snap_job && !n->snap_job->install;
}

/* The batch does not fit the core's in-memory log by its entry count:
 * the one cause of COORD_EAGAIN that a snapshot (its compaction) relieves.
 * A leadership transfer, the uncommitted-bytes bound (relieved by commits,
 * not snapshots) or a byte-full log are not held. */
static bool snap_log_full(struct node *n, const struct raft_status *st)
{
    uint64_t held = st->last_index >= st->first_index
                        ? st->last_index - st->first_index + 1
                        : 0;
    return held + n->n_prop > n->log_entries_max;
}

/* Would a snapshot taken now free room? The leader compacts up to the
 * applied index less a margin of log_entries_max / 8 (raft/snapshot.c). */
static bool snap_useful(struct node *n, const struct raft_status *st)
{
    uint64_t margin = n->log_entries_max / 8;
    return n->applied >= st->first_index + margin + n->n_prop;
}

/* The batch stays held while the job's hold window lasts. */
static bool snap_hold_window(struct node *n, struct node_snap_job *j)
{
    int64_t now = net_now_ms(n->net);
    if (j->hold_over)
        return false;
    if (j->hold_ms == 0)
        j->hold_ms = now;
    if (now - j->hold_ms < (int64_t)n->cfg.snapshot_hold_ms)
        return true;
    j->hold_over = true; /* until this snapshot ends: EAGAIN at once */
    log_emit(LOG_LEVEL_WARN, "writes refused: snapshot too slow",
             "index=%llu held_ms=%lld batch=%u",
             (unsigned long long)j->index, (long long)(now - j->hold_ms),
             n->n_prop);
    return false;
}

/* A proposal batch got COORD_EAGAIN. If the log is full by entries and our
 * own snapshot runs (or one that would free room starts now), the batch
 * waits for the compaction instead of failing, as requests waited while
 * the loop serialized (docs/snapshots.md) -- for snapshot_hold_ms at most.
 * Never while stopping (the hand-over must not wait for a fork). True:
 * hold the batch. */
static bool snap_hold(struct node *n)
{
    if (n->stopping || !n->net)
        return false;
    struct raft_status st;
    raft_status(n->raft, &st);
    if (!snap_log_full(n, &st))
        return false;
    if (!node_snapshot_running(n) && snap_useful(n, &st))
        node_take_snapshot(n);
    if (!node_snapshot_running(n) || !snap_hold_window(n, n->snap_job))
        return false;
    if (!n->snap_job->held) {
        n->snap_job->held = true;
        log_emit(LOG_LEVEL_INFO, "writes wait for snapshot",
                 "index=%llu batch=%u log_first=%llu log_last=%llu "
                 "commit=%llu",
                 (unsigned long long)n->snap_job->index, n->n_prop,
                 (unsigned long long)st.first_index,
                 (unsigned long long)st.last_index,
                 (unsigned long long)st.commit);
    }
    return true;
}

/* Every tick: a child serializing past snapshot_child_timeout_ms is
 * killed; its collector then sees a killed child and the failed-child
 * path runs (snap_check: logged, reaped, retried after a pause). */
static void snap_tick(struct node *n)
{
    struct node_snap_job *j = n->snap_job;
    if (!j || j->install || j->child.pid <= 0 || j->killed ||
        atomic_load(&j->collected))
        return;
    int64_t ms = net_now_ms(n->net) - j->start_ms;
    if (ms < (int64_t)n->cfg.snapshot_child_timeout_ms)
        return;
    j->killed = true;
    log_emit(LOG_LEVEL_WARN, "snapshot child timed out",
             "index=%llu pid=%d ms=%lld", (unsigned long long)j->index,
             (int)j->child.pid, (long long)ms);
    snapfork_kill(&j->child);
}

bool node_snapshot_pending(const struct node *n)
{
    const struct node_snap_job *j = n->snap_job;
    return j && (j->install || !atomic_load(&j->collected));
}

const uint8_t *node_snapshot_bytes(struct node *n, uint64_t *index,
                                   size_t *len)
{
    struct node_snap_job *j = n->snap_job;
    if (j && !j->install && atomic_load(&j->collected)) {
        *index = j->index; /* the writer only reads buf */
        *len = j->len;
        return j->buf;
    }
    *index = n->snap_index;
    *len = n->snap_len;
    return n->snap_buf;
}

/* ---- receiving a snapshot --------------------------------------------- */

/* The core accepted a chunk: append it to the snapshot being received. */
static void snap_rx_chunk(struct node *n, const struct raft_update *u)
{
    if (u->chunk_offset == 0)
        n->rx_len = 0;
    coord_assert(u->chunk_offset == n->rx_len);
    size_t need = n->rx_len + u->chunk_len;
    if (need > n->rx_cap) {
        size_t cap = n->rx_cap ? n->rx_cap * 2 : NODE_SNAP_PIECE_BYTES;
        while (cap < need)
            cap *= 2;
        uint8_t *p = coord_realloc(n->rx_buf, cap);
        if (!p)
            coord_panic("out of memory receiving a snapshot");
        n->rx_buf = p;
        n->rx_cap = cap;
    }
    memcpy(n->rx_buf + n->rx_len, u->chunk_data, u->chunk_len);
    n->rx_len = need;
}

/* The last chunk arrived: make it durable (with the log as the core says:
 * truncate_from 0 keeps the entries after the snapshot, else the whole log
 * goes), then load it (snap_check -> snap_install_finish). */
static void snap_install_start(struct node *n, const struct raft_update *u)
{
    if (n->snap_job) {
        /* Our own snapshot is still being taken: the received one
         * supersedes it. Kill its child, wait for its writer (rare, and
         * bounded by one snapshot write) and drop it without telling the
         * core. */
        coord_assert(!n->snap_job->install);
        snap_job_abort(n);
    }
    struct node_snap_job *j = snap_job_new(n);
    if (!j)
        coord_panic("out of memory installing a snapshot");
    j->install = true;
    j->after_seq = n->submitted_seq;
    j->t0_us = metrics_now_us(); /* last chunk in */
    j->index = u->snap.index;
    j->term = u->snap.term;
    j->keep_from = u->truncate_from ? STORE_DROP_LOG : u->snap.index + 1;
    j->conf_len = node_conf_encode(&u->snap.conf, j->conf);
    j->conf_len += node_addrs_encode(n, &u->snap.conf,
                                     j->conf + j->conf_len);
    j->buf = n->rx_buf; /* taken */
    j->len = n->rx_len;
    j->cap = n->rx_cap;
    n->rx_buf = NULL;
    n->rx_len = n->rx_cap = 0;
    n->conf = u->snap.conf;
    if (pthread_create(&j->thread, NULL, snap_thread, j) != 0)
        coord_panic("cannot start the snapshot writer");
    n->snap_job = j;
    log_emit(LOG_LEVEL_INFO, "installing snapshot", "index=%llu bytes=%zu",
             (unsigned long long)j->index, j->len);
}

struct mem_src {
    const uint8_t *p;
    size_t left;
};

static long mem_read(void *data, void *buf, size_t cap)
{
    struct mem_src *m = data;
    size_t k = m->left < cap ? m->left : cap;
    memcpy(buf, m->p, k);
    m->p += k;
    m->left -= k;
    return (long)k;
}

static int tree_from_bytes(struct node *n, const uint8_t *p, size_t len,
                           struct tree **out)
{
    struct tree_config tc = {.nodes_max = n->cfg.nodes_max,
                             .children_max = n->cfg.children_max,
                             .data_bytes_max = n->cfg.limits.data_bytes_max,
                             .sessions_max = n->cfg.sessions_max};
    struct mem_src src = {p, len};
    return tree_snapshot_load(out, &tc, mem_read, &src);
}

/* The received snapshot is durable: replace the tree with it. Requests
 * waiting for entries it covers cannot learn their results any more. */
static void snap_install_finish(struct node *n, struct node_snap_job *j)
{
    struct tree *t = NULL;
    if (tree_from_bytes(n, j->buf, j->len, &t) != 0)
        coord_panic("received snapshot does not load");
    tree_close(n->tree);
    n->tree = t;
    node_sessions_reload(n);
    while (n->wq_head && n->wq_head->index <= j->index) {
        struct nreq *rq = n->wq_head;
        n->wq_head = rq->next_wait;
        if (!n->wq_head)
            n->wq_tail = NULL;
        node_fail_req(n, rq, COORD_ECONNLOSS);
    }
    node_forward_fail_all(n, COORD_ECONNLOSS);
    n->applied = j->index;
    n->applied_term = j->term;
    changelog_reset(&n->changes, j->index); /* the events in between: unseen */
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_PERSISTED};
    ev.snap_persisted.index = j->index;
    ev.snap_persisted.term = j->term;
    node_step(n, &ev);
    node_reads_advance(n);
}

static void snap_check(struct node *n)
{
    struct node_snap_job *j = n->snap_job;
    if (!j || !atomic_load(&j->done))
        return;
    n->snap_job = NULL;
    pthread_join(j->thread, NULL);
    if (j->child_rc) { /* nothing stored; retried after a pause */
        char how[32];
        int pid = (int)j->child.pid;
        snapfork_reap(&j->child);
        log_emit(LOG_LEVEL_WARN, "snapshot child failed",
                 "index=%llu pid=%d end=\"%s\" err=%s",
                 (unsigned long long)j->index, pid,
                 snapfork_describe(&j->child, how, sizeof(how)),
                 coord_errname(j->child_rc));
        n->snap_retry_ms = net_now_ms(n->net) + n->cfg.snapshot_retry_ms;
        snap_job_free(j);
        node_admin_snapshot_ended(n);
        return;
    }
    snapfork_reap(&j->child);
    n->snap_retry_ms = 0;
    if (j->rc) {
        log_emit(LOG_LEVEL_FATAL, "snapshot write failed",
                 "err=%s msg=\"%s\"", coord_errname(j->rc),
                 n->store->errmsg);
        coord_panic("snapshot write failed");
    }
    int64_t us = metrics_snapshot_done(
        n->metrics, j->install ? METRICS_SNAP_INSTALLED : METRICS_SNAP_TAKEN,
        j->len, j->t0_us);
    log_emit(LOG_LEVEL_INFO, j->install ? "snapshot installed"
                                        : "snapshot taken",
             "index=%llu bytes=%zu ms=%lld", (unsigned long long)j->index,
             j->len, (long long)(us / 1000));
    n->snap_index = j->index;
    coord_free(n->snap_buf); /* keep the newest bytes for followers */
    n->snap_buf = j->buf;
    n->snap_len = j->len;
    if (j->install) {
        snap_install_finish(n, j);
    } else {
        struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
        ev.snap_taken.index = j->index;
        ev.snap_taken.size = j->len;
        node_step(n, &ev);
    }
    j->buf = NULL; /* kept as n->snap_buf */
    snap_job_free(j);
    node_admin_snapshot_ended(n);
}

/* ---- loop callbacks --------------------------------------------------- */

static void node_on_tick(void *data)
{
    struct node *n = data;
    struct raft_event ev = {.type = RAFT_EV_TICK};
    node_step(n, &ev);
    if (n->role == RAFT_LEADER) {
        node_sessions_tick(n);
        node_cleanup_tick(n);
    }
    node_admin_tick(n);
    node_cluster_tick(n);
    snap_tick(n);
    node_metrics_publish(n);
    stop_tick(n);
    if (n->cfg.on_watchdog && n->cfg.watchdog_ms) {
        int64_t now = net_now_ms(n->net);
        if (now - n->last_watchdog_ms >= n->cfg.watchdog_ms) {
            n->last_watchdog_ms = now;
            n->cfg.on_watchdog(n->cfg.on_ready_data);
        }
    }
    if (n->ready && !n->ready_notified) {
        n->ready_notified = true;
        log_emit(LOG_LEVEL_INFO, "serving", "applied=%llu sessions=%u",
                 (unsigned long long)n->applied, n->n_sessions);
        if (n->cfg.on_ready)
            n->cfg.on_ready(n->cfg.on_ready_data);
    }
}

/* One sample per group-commit round: from the first request queued to
 * the storage worker to its durable acknowledgement. */
static void note_persist_latency(struct node *n, uint64_t seq)
{
    if (n->persist_since_ms == 0 || seq < n->persist_since_seq)
        return;
    int64_t ms = net_now_ms(n->net) - n->persist_since_ms;
    n->persist_since_ms = 0;
    if (n->cfg.slow_fsync_ms && ms >= n->cfg.slow_fsync_ms)
        log_emit_rated(&n->slow_log, LOG_LEVEL_WARN, "slow fsync",
                       "ms=%lld seq=%llu", (long long)ms,
                       (unsigned long long)seq);
}

static void node_on_wakeup(void *data)
{
    struct node *n = data;
    if (n->worker_started)
        store_worker_reap(&n->worker); /* an append from the loop */
    int err = atomic_load(&n->worker_err);
    if (err) {
        /* A failed fsync is never retried (fsyncgate): stop here. */
        log_emit(LOG_LEVEL_FATAL, "storage failed", "err=%s msg=\"%s\"",
                 coord_errname(err), n->worker.errmsg);
        coord_panic("storage failed");
    }
    uint64_t seq = atomic_load(&n->durable_seq);
    if (seq > n->acked_seq) {
        n->acked_seq = seq;
        note_persist_latency(n, seq);
        struct raft_event ev = {.type = RAFT_EV_PERSISTED};
        ev.persisted.seq = seq;
        node_step(n, &ev);
    }
    snap_check(n);
}

/* Once per loop iteration, before net flushes: one PROPOSE and one
 * READ_INDEX for everything that arrived. A node that does not lead keeps
 * them (bounded by each connection's in-flight limit) until it does. */
static void node_on_prepare(void *data)
{
    struct node *n = data;
    if (n->role == RAFT_LEADER) {
        node_forward_resend(n); /* held writes first: they came first */
        node_flush_proposals(n);
        flush_reads(n);
    } else if (n->leader) {
        node_forward_resend(n);
        if (n->n_prop)
            node_forward_proposals(n);
        flush_reads(n); /* the core asks the leader for the index */
    }
}

/* After the iteration's output was flushed: wake the storage worker for
 * what this iteration queued (persist_update); then, if its batch is due
 * within the spin budget, poll for it rather than sleep: the completion's
 * ev_async is then already pending, so the loop does not sleep. */
static void node_on_flushed(void *data)
{
    struct node *n = data;
    if (!n->worker_started)
        return;
    store_worker_kick(&n->worker);
    store_worker_spin(&n->worker);
}

/* SIGTERM/SIGINT. A leader of a cluster first hands leadership to the
 * most up-to-date voter (TimeoutNow), so clients see no election timeout;
 * the loop ends when that is done or after an election timeout's worth of
 * ticks (node_on_tick). A second signal stops at once. */
static void node_on_signal(void *data, int signo)
{
    struct node *n = data;
    log_emit(LOG_LEVEL_INFO, "stopping", "signal=%d", signo);
    net_stop_listening(n->net);
    if (!n->stopping && n->role == RAFT_LEADER && n->conf.n > 1) {
        n->stopping = true;
        n->stop_ticks = 2 * n->cfg.election_ticks;
        struct raft_event ev = {.type = RAFT_EV_TRANSFER};
        ev.transfer.to = RAFT_NONE;
        node_step(n, &ev);
        return;
    }
    n->stopping = true;
    net_stop(n->net);
}

/* While stopping: end the loop once leadership moved (or gave up). */
static void stop_tick(struct node *n)
{
    if (!n->stopping)
        return;
    if (n->role != RAFT_LEADER || n->stop_ticks-- == 0) {
        log_emit(LOG_LEVEL_INFO, "leadership handed over",
                 "leader=%llu", (unsigned long long)n->leader);
        net_stop(n->net);
    }
}

void node_net_callbacks(struct node *n, struct net_callbacks *cb)
{
    *cb = (struct net_callbacks){
        .data = n,
        .on_accept = node_on_accept,
        .on_frame = node_on_frame,
        .on_close = node_on_close,
        .on_tick = node_on_tick,
        .on_wakeup = node_on_wakeup,
        .on_prepare = node_on_prepare,
        .on_flushed = node_on_flushed,
        .on_signal = node_on_signal,
        .on_peer_frame = node_on_peer_frame,
        .on_peer_up = node_on_peer_up,
        .on_peer_down = node_on_peer_down,
    };
}

int node_attach_net(struct node *n, struct net *net)
{
    n->net = net;
    /* Appends from the loop need the loop to reap their completions. */
    if (n->cfg.log_aio && n->worker_started) {
        if (store_worker_set_aio(&n->worker) == 0)
            net_wake_on_fd(net, store_worker_aio_fd(&n->worker));
        else
            log_emit(LOG_LEVEL_INFO, "log appends stay on the storage "
                     "thread", "reason=\"%s\"", n->worker.errmsg);
    }
    int rc = node_cluster_attach(n);
    if (rc == 0)
        node_admin_dial(n);
    return rc;
}

bool node_ready(const struct node *n)
{
    return n->ready;
}

struct metrics *node_metrics(struct node *n)
{
    return n->metrics;
}

bool node_stopping(const struct node *n)
{
    return n->stopping;
}

/* ---- open and close --------------------------------------------------- */

/* The bootstrap configuration: every initial member a voter (or this
 * node alone), the same on every member. */
static void bootstrap_conf(struct node *n)
{
    memset(&n->conf, 0, sizeof(n->conf));
    bool join = n->cfg.join && n->cfg.n_members > 1;
    if (n->cfg.n_members == 0) {
        n->conf.n = 1;
        n->conf.members[0] = (struct raft_member){n->cfg.id, RAFT_VOTER};
        return;
    }
    for (uint32_t i = 0; i < n->cfg.n_members; i++) {
        /* sorted by id, as raft_conf requires; a joining node leaves
         * itself out, so it never campaigns before it is added */
        struct raft_member m = {n->cfg.members[i].id, RAFT_VOTER};
        if (join && m.id == n->cfg.id)
            continue;
        uint32_t k = n->conf.n++;
        while (k > 0 && n->conf.members[k - 1].id > m.id) {
            n->conf.members[k] = n->conf.members[k - 1];
            k--;
        }
        n->conf.members[k] = m;
    }
}

/* The tree from the latest snapshot (or an empty one) and the
 * configuration it carries. The snapshot's bytes stay in memory: they are
 * what a lagging follower is sent. */
static int load_tree(struct node *n, const struct store_state *st,
                     const struct tree_config *tc)
{
    if (st->snap.index == 0) {
        bootstrap_conf(n);
        return tree_open(&n->tree, tc);
    }
    int rc = node_conf_decode(st->snap.conf, st->snap.conf_len, &n->conf);
    if (rc == 0)
        rc = node_addrs_decode(n, st->snap.conf + 4 + n->conf.n * 9,
                               st->snap.conf_len - 4 - n->conf.n * 9);
    struct store_snap_reader r;
    if (rc == 0)
        rc = store_snap_open(n->store, &r);
    if (rc == 0) {
        n->snap_len = r.meta.size;
        n->snap_buf = coord_malloc(n->snap_len ? n->snap_len : 1);
        rc = n->snap_buf ? 0 : COORD_ENOMEM;
        for (uint64_t off = 0; rc == 0 && off < n->snap_len;) {
            uint64_t k = n->snap_len - off < NODE_SNAP_PIECE_BYTES
                             ? n->snap_len - off
                             : NODE_SNAP_PIECE_BYTES;
            rc = store_snap_read(&r, off, n->snap_buf + off, (uint32_t)k);
            off += k;
        }
        store_snap_close(&r);
    }
    if (rc == 0)
        rc = tree_from_bytes(n, n->snap_buf, n->snap_len, &n->tree);
    if (rc)
        snprintf(n->errmsg, sizeof(n->errmsg), "snapshot %llu: %s %s",
                 (unsigned long long)st->snap.index, coord_errname(rc),
                 n->store->errmsg);
    return rc;
}

/* The log after the snapshot, read into memory for raft_init (which copies
 * it): payloads go into chunks of NODE_LOAD_CHUNK_BYTES kept until then. */
#define NODE_LOAD_CHUNK_BYTES (64u * 1024 * 1024)

struct log_load {
    struct raft_entry *entries;
    uint32_t n;
    uint8_t **chunks;
    uint32_t n_chunks;
};

static void log_load_free(struct log_load *ll)
{
    for (uint32_t i = 0; i < ll->n_chunks; i++)
        coord_free(ll->chunks[i]);
    coord_free(ll->chunks);
    coord_free(ll->entries);
}

static int load_log(struct node *n, const struct store_state *st,
                    struct log_load *ll)
{
    uint64_t count = st->last >= st->first ? st->last - st->first + 1 : 0;
    if (count == 0)
        return 0;
    if (count > UINT32_MAX / 2)
        return COORD_ETOOMANY;
    ll->entries = coord_calloc(count, sizeof(*ll->entries));
    struct store_entry *se = coord_calloc(count, sizeof(*se));
    ll->chunks = coord_calloc(count, sizeof(*ll->chunks));
    int rc = ll->entries && se && ll->chunks ? 0 : COORD_ENOMEM;
    for (uint64_t next = st->first; rc == 0 && next <= st->last;) {
        uint8_t *buf = coord_malloc(NODE_LOAD_CHUNK_BYTES);
        uint32_t got = 0;
        if (!buf) {
            rc = COORD_ENOMEM;
            break;
        }
        ll->chunks[ll->n_chunks++] = buf;
        rc = store_read(n->store, next, st->last + 1, se + ll->n,
                        (uint32_t)(count - ll->n), buf,
                        NODE_LOAD_CHUNK_BYTES, &got);
        for (uint32_t i = 0; rc == 0 && i < got; i++) {
            struct store_entry *e = &se[ll->n + i];
            ll->entries[ll->n + i] = (struct raft_entry){
                e->index, e->term, e->type, e->len, e->data};
        }
        ll->n += got;
        next += got;
    }
    coord_free(se);
    if (rc)
        snprintf(n->errmsg, sizeof(n->errmsg), "reading the log: %s %s",
                 coord_errname(rc), n->store->errmsg);
    return rc;
}

static int init_raft(struct node *n, const struct store_state *st,
                     const struct log_load *ll)
{
    const struct node_config *c = &n->cfg;
    struct raft_config rc = {
        .id = c->id,
        .election_ticks = c->election_ticks,
        .heartbeat_ticks = c->heartbeat_ticks,
        .inflight_max = c->inflight_msgs_max,
        .append_entries_max = NODE_PROPOSE_BATCH_MAX,
        .append_bytes_max = c->append_bytes_max,
        .uncommitted_bytes_max = c->uncommitted_bytes_max,
        .log_entries_max =
            (uint32_t)(2 * c->snapshot_entries + NODE_LOG_ENTRIES_FLOOR +
                       ll->n),
        .log_bytes_max = 2 * c->uncommitted_bytes_max + NODE_LOG_BYTES_MAX,
        .snapshot_chunk_bytes = c->snapshot_chunk_bytes,
        .reads_max = NODE_READS_MAX,
        .pre_vote = c->pre_vote,
        .check_quorum = c->check_quorum,
        .pair_commit = c->pair_commit,
    };
    n->log_entries_max = rc.log_entries_max;
    coord_random_bytes(&rc.seed, sizeof(rc.seed));
    struct raft_restore rs = {.term = st->term, .vote = st->vote,
                              .entries = ll->entries,
                              .n_entries = ll->n};
    rs.snap.index = st->snap.index;
    rs.snap.term = st->snap.term;
    rs.snap.size = st->snap.size;
    rs.snap.conf = n->conf;
    int err = raft_init(&n->raft, &rc, &rs);
    if (err)
        snprintf(n->errmsg, sizeof(n->errmsg), "raft_init: %s",
                 coord_errname(err));
    return err;
}

static int alloc_scratch(struct node *n)
{
    const struct wire_limits *l = &n->cfg.limits;
    n->cmdbuf = coord_malloc(sizeof(*n->cmdbuf));
    n->ops = coord_calloc(l->multi_ops_max, sizeof(*n->ops));
    n->results = coord_calloc(l->multi_ops_max, sizeof(*n->results));
    n->children = coord_calloc(l->children_page_max, sizeof(*n->children));
    n->pbufs = coord_calloc(NODE_PROPOSE_BATCH_MAX, sizeof(*n->pbufs));
    n->preqs = coord_calloc(NODE_PROPOSE_BATCH_MAX, sizeof(*n->preqs));
    n->porigin = coord_calloc(NODE_PROPOSE_BATCH_MAX, sizeof(*n->porigin));
    if (!n->cmdbuf || !n->ops || !n->results || !n->children || !n->pbufs ||
        !n->preqs || !n->porigin)
        return COORD_ENOMEM;
    if (watch_table_init(&n->watches, n->cfg.watches_per_session_max))
        return COORD_ENOMEM;
    int rc = node_cluster_init(n);
    return rc ? rc : node_sessions_init(n);
}

static int open_state(struct node *n)
{
    struct store_state st;
    int rc = store_load(n->store, &st);
    if (rc) {
        snprintf(n->errmsg, sizeof(n->errmsg), "loading state: %s",
                 n->store->errmsg);
        return rc;
    }
    struct tree_config tc = {.nodes_max = n->cfg.nodes_max,
                             .children_max = n->cfg.children_max,
                             .data_bytes_max = n->cfg.limits.data_bytes_max,
                             .sessions_max = n->cfg.sessions_max};
    rc = load_tree(n, &st, &tc);
    if (rc)
        return rc;
    rc = node_sessions_load(n);
    if (rc)
        return rc;
    struct log_load ll = {0};
    rc = load_log(n, &st, &ll);
    if (rc == 0)
        rc = init_raft(n, &st, &ll);
    log_load_free(&ll);
    n->applied = n->snap_index = st.snap.index;
    n->applied_term = st.snap.term;
    changelog_init(&n->changes, n->cfg.watch_history_max,
                   n->cfg.watch_history_bytes_max, n->applied);
    n->start_index = st.last;
    n->acked_seq = 0;
    if (st.log_zeroed)
        log_emit(LOG_LEVEL_WARN, "log tail repaired",
                 "zeroed_bytes=%llu at_offset=%llu (the end of a write a "
                 "crash interrupted; damage to the last record looks the "
                 "same)", (unsigned long long)st.log_zeroed,
                 (unsigned long long)st.log_zeroed_at);
    log_emit(LOG_LEVEL_INFO, "state loaded",
             "term=%llu snapshot=%llu first=%llu last=%llu nodes=%llu",
             (unsigned long long)st.term,
             (unsigned long long)st.snap.index,
             (unsigned long long)st.first, (unsigned long long)st.last,
             (unsigned long long)tree_node_count(n->tree));
    return rc;
}

int node_open(struct node **out, const struct node_config *cfg,
              struct store *s, char *errmsg, size_t errmsg_len)
{
    struct node *n = coord_calloc(1, sizeof(*n));
    if (!n)
        return COORD_ENOMEM;
    n->cfg = *cfg;
    if (!n->cfg.snapshot_child_timeout_ms) /* 0: a caller without them */
        n->cfg.snapshot_child_timeout_ms = COORDD_SNAPSHOT_CHILD_TIMEOUT_MS;
    if (!n->cfg.snapshot_hold_ms)
        n->cfg.snapshot_hold_ms = COORDD_SNAPSHOT_HOLD_MS;
    if (!n->cfg.snapshot_retry_ms)
        n->cfg.snapshot_retry_ms = COORDD_SNAPSHOT_RETRY_MS;
    n->store = s;
    node_admin_init(n);
    n->role = RAFT_FOLLOWER;
    int rc = metrics_new(&n->metrics);
    if (rc == 0)
        rc = alloc_scratch(n);
    if (rc == 0)
        rc = open_state(n);
    if (rc == 0)
        rc = store_worker_start(&n->worker, s, NODE_WORKER_QUEUE_MAX,
                                4 * cfg->uncommitted_bytes_max,
                                worker_done_cb, n);
    if (rc) {
        if (errmsg && errmsg_len)
            snprintf(errmsg, errmsg_len, "%s", n->errmsg[0]
                                                   ? n->errmsg
                                                   : coord_strerror(rc));
        node_close(n);
        return rc;
    }
    n->worker_started = true;
    n->worker.on_sync = metrics_fsync; /* before any submit */
    n->worker.on_sync_data = n->metrics;
    store_worker_set_spin(&n->worker, cfg->persist_spin_us);
    if (store_worker_set_nice(&n->worker, cfg->storage_nice) != 0)
        log_emit(LOG_LEVEL_INFO, "storage thread priority unchanged",
                 "storage_nice=%d reason=\"%s\"", (int)cfg->storage_nice,
                 n->worker.errmsg); /* e.g. no CAP_SYS_NICE: carry on */
    *out = n;
    return 0;
}

void node_stop_threads(struct node *n)
{
    snap_job_abort(n); /* a serializing child is killed, not waited for */
    if (n->net && store_worker_aio_fd(&n->worker) >= 0)
        net_wake_on_fd(n->net, -1); /* its eventfd closes with the worker */
    if (n->worker_started)
        store_worker_stop(&n->worker);
    n->worker_started = false;
}

void node_close(struct node *n)
{
    if (!n)
        return;
    node_stop_threads(n);
    for (uint32_t i = 0; i < n->n_prop; i++)
        coord_free((void *)n->pbufs[i].data);
    node_requests_free(n);
    node_cluster_close(n);
    node_admin_close(n);
    node_sessions_close(n);
    if (n->watches.buckets)
        watch_table_close(&n->watches);
    changelog_close(&n->changes);
    raft_close(n->raft);
    tree_close(n->tree);
    coord_free(n->sents);
    coord_free(n->cmdbuf);
    coord_free(n->ops);
    coord_free(n->results);
    coord_free(n->children);
    coord_free(n->pbufs);
    coord_free(n->preqs);
    coord_free(n->porigin);
    metrics_free(n->metrics);
    coord_free(n);
}
