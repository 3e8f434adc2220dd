/* cluster.c -- what a coordd node says to its peers besides Raft: the link
 * handshake, Raft messages in and out (peer_codec), writes a follower
 * forwards to the leader, the session liveness a follower relays to the
 * leader, and the tree digests every replica broadcasts so divergence is
 * seen. Frames only go through net/'s peer links; no sockets here.
 *
 * Coordd's own peer frames share the links with Raft's and are told apart
 * by their first field, a type above Raft's message types:
 *   [100, from, to, [cmd, ...]]   FORWARD: encoded tree commands (bin) for
 *                                 the leader to propose
 *   [101, from, to, [id, ...]]    LIVENESS: sessions heard from lately
 *   [102, from, to, index, digest] DIGEST: the tree digest at index
 *   [103, from, to, term, -err, session, xid]  REFUSED: the leader did
 *                                 not propose that forwarded command (a
 *                                 full log: err COORD_EAGAIN)
 * A forwarded write's reply comes from applying its entry locally: the
 * follower matches the entry's (session, xid) with the waiting request.
 * A refused one fails at once: with the leader's error if this was its
 * only copy ever sent (none can be applied), else COORD_ECONNLOSS.
 */
#include "node_int.h"

#include <stdio.h>
#include <string.h>

#include "coord.h"
#include "coordd/log.h"
#include "coordd/net/peer_codec.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "libcoord/shared/mp.h"

/* Connection data of an incoming peer link: the peer's id once its
 * handshake passed (0 before). */
static uint64_t link_peer(struct net_conn *c)
{
    return (uint64_t)(uintptr_t)net_conn_data(c);
}

int node_cluster_init(struct node *n)
{
    n->fwd_buckets = coord_calloc(NODE_FWD_BUCKETS, sizeof(*n->fwd_buckets));
    n->rx_entries = coord_calloc(PEER_ENTRIES_MAX, sizeof(*n->rx_entries));
    return n->fwd_buckets && n->rx_entries ? 0 : COORD_ENOMEM;
}

void node_cluster_close(struct node *n)
{
    node_forward_fail_all(n, COORD_ECLOSED);
    coord_free(n->fwd_buckets);
    coord_free(n->rx_entries);
    coord_free(n->snap_buf);
    coord_free(n->rx_buf);
}

/* Dials every other member of the initial configuration. */
int node_cluster_attach(struct node *n)
{
    for (uint32_t i = 0; i < n->cfg.n_members; i++) {
        const struct node_member *m = &n->cfg.members[i];
        if (m->id == n->cfg.id)
            continue;
        int rc = net_peer_add(n->net, m->id, m->peer_host, m->peer_port);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- Raft messages ---------------------------------------------------- */

/* A snapshot chunk went out: the last one of a send is logged. */
static void note_snapshot_sent(struct node *n, const struct raft_msg *m)
{
    int64_t us = metrics_snapshot_chunk(n->metrics, m->to, m->offset,
                                        m->chunk_len, n->snap_len);
    if (us >= 0)
        log_emit_rated(&n->snap_log, LOG_LEVEL_INFO, "snapshot sent",
                       "to=%llu index=%llu bytes=%zu ms=%lld",
                       (unsigned long long)m->to,
                       (unsigned long long)m->snap.index, n->snap_len,
                       (long long)(us / 1000));
}

void node_send_msg(struct node *n, const struct raft_msg *m)
{
    struct raft_msg copy;
    if (m->type == RAFT_MSG_SNAPSHOT && m->chunk == NULL &&
        m->chunk_len > 0) {
        /* Fill the chunk from the latest snapshot, kept in memory. */
        if (m->snap.index != n->snap_index || !n->snap_buf ||
            m->offset + m->chunk_len > n->snap_len)
            return; /* a newer snapshot replaced it: the core restarts */
        copy = *m;
        copy.chunk = n->snap_buf + m->offset;
        m = &copy;
        if (m->offset == 0)
            log_emit_rated(&n->snap_log, LOG_LEVEL_INFO, "sending snapshot",
                           "to=%llu index=%llu bytes=%zu",
                           (unsigned long long)m->to,
                           (unsigned long long)m->snap.index, n->snap_len);
    }
    struct wire_buf *out = net_peer_out(n->net, m->to);
    if (!out)
        return; /* link down or full: Raft retransmits */
    struct peer_limits lim;
    peer_limits_default(&lim);
    int rc = peer_encode_msg(out, m, &lim);
    if (rc) {
        log_emit(LOG_LEVEL_WARN, "peer message not encoded",
                 "to=%llu type=%s err=%s", (unsigned long long)m->to,
                 raft_msg_name(m->type), coord_errname(rc));
        return;
    }
    net_peer_mark(n->net, m->to);
    if (m->type == RAFT_MSG_SNAPSHOT && m->chunk_len > 0)
        note_snapshot_sent(n, m);
}

static int recv_raft(struct node *n, uint64_t from, const uint8_t *msg,
                     size_t len)
{
    struct peer_limits lim;
    peer_limits_default(&lim);
    struct raft_event ev = {.type = RAFT_EV_RECV};
    int rc = peer_decode_msg(msg, len, &lim, n->rx_entries,
                             PEER_ENTRIES_MAX, &ev.recv);
    if (rc || ev.recv.from != from || ev.recv.to != n->cfg.id) {
        log_emit(LOG_LEVEL_WARN, "bad peer message", "from=%llu err=%s",
                 (unsigned long long)from, coord_errname(rc ? rc
                                                            : COORD_EPROTO));
        return COORD_EPROTO;
    }
    node_step(n, &ev);
    return 0;
}

/* ---- forwarded writes ------------------------------------------------- */

static uint32_t fwd_bucket(uint64_t session_id, uint64_t xid)
{
    uint64_t h = (session_id ^ (xid * 0x9e3779b97f4a7c15ULL)) *
                 0xff51afd7ed558ccdULL;
    return (uint32_t)(h >> 40) & (NODE_FWD_BUCKETS - 1);
}

static void fwd_insert(struct node *n, struct nreq *rq)
{
    rq->fwd_ms = net_now_ms(n->net);
    rq->fwd_prev = n->fwd_tail;
    rq->fwd_next = NULL;
    if (n->fwd_tail)
        n->fwd_tail->fwd_next = rq;
    else
        n->fwd_head = rq;
    n->fwd_tail = rq;
    uint32_t b = fwd_bucket(rq->session_id, (uint64_t)rq->xid);
    rq->fwd_hnext = n->fwd_buckets[b];
    n->fwd_buckets[b] = rq;
    n->n_fwd++;
}

static void fwd_remove(struct node *n, struct nreq *rq)
{
    struct nreq **pp =
        &n->fwd_buckets[fwd_bucket(rq->session_id, (uint64_t)rq->xid)];
    while (*pp != rq)
        pp = &(*pp)->fwd_hnext;
    *pp = rq->fwd_hnext;
    if (rq->fwd_prev)
        rq->fwd_prev->fwd_next = rq->fwd_next;
    else
        n->fwd_head = rq->fwd_next;
    if (rq->fwd_next)
        rq->fwd_next->fwd_prev = rq->fwd_prev;
    else
        n->fwd_tail = rq->fwd_prev;
    coord_assert(n->n_fwd > 0);
    n->n_fwd--;
    coord_free(rq->fwd_cmd);
    rq->fwd_cmd = NULL;
}

/* Sends this iteration's proposals to the leader in one FORWARD frame;
 * their requests wait for their entries to be applied here, keeping their
 * encoded commands in case the leader changes before that. While older
 * writes still wait to be sent, these wait behind them (session order). */
void node_forward_proposals(struct node *n)
{
    struct wire_buf *out =
        n->fwd_resend ? NULL : net_peer_out(n->net, n->leader);
    int rc = COORD_EUNAVAILABLE;
    if (out) {
        size_t start = mp_frame_begin(out, n->cfg.limits.frame_bytes_max);
        mp_write_array(out, 4);
        mp_write_uint(out, NODE_PEER_FORWARD);
        mp_write_uint(out, n->cfg.id);
        mp_write_uint(out, n->leader);
        mp_write_array(out, n->n_prop);
        for (uint32_t i = 0; i < n->n_prop; i++)
            mp_write_bin(out, n->pbufs[i].data, n->pbufs[i].len);
        rc = mp_frame_end(out, start);
        if (rc == 0)
            net_peer_mark(n->net, n->leader);
    }
    for (uint32_t i = 0; i < n->n_prop; i++) {
        struct nreq *rq = n->preqs[i];
        if (!rq) {
            coord_free((void *)n->pbufs[i].data);
            continue;
        }
        node_forward_park(n, rq, (void *)n->pbufs[i].data, n->pbufs[i].len);
        rq->fwd_sent = rq->fwd_once = rc == 0;
        rq->fwd_sends = rc == 0;
    }
    n->n_prop = 0;
    n->fwd_resend = rc != 0; /* link down or full: sent by the resend */
}

void node_forward_park(struct node *n, struct nreq *rq, void *buf,
                       uint32_t len)
{
    rq->fwd_cmd = buf;
    rq->fwd_len = len;
    rq->fwd_sent = false;
    rq->fwd_once = false;
    rq->fwd_sends = 0;
    fwd_insert(n, rq);
    n->fwd_resend = true;
}

/* Everything held counts as not sent: the next resend sends it all. */
static void fwd_unsend_all(struct node *n)
{
    for (struct nreq *rq = n->fwd_head; rq; rq = rq->fwd_next)
        rq->fwd_sent = false;
    if (n->n_fwd)
        n->fwd_resend = true;
}

void node_forward_hold(struct node *n)
{
    /* Held first: the forwarded ones are older than this iteration's
     * batch. Raw proposals (forwarded to us as leader) are dropped: their
     * followers hold and resend them. */
    fwd_unsend_all(n);
    for (uint32_t i = 0; i < n->n_prop; i++) {
        if (n->preqs[i])
            node_forward_park(n, n->preqs[i], (void *)n->pbufs[i].data,
                              n->pbufs[i].len);
        else
            coord_free((void *)n->pbufs[i].data);
    }
    n->n_prop = 0;
}

static void fwd_mark_sent(struct nreq *rq)
{
    rq->fwd_sent = rq->fwd_once = true;
    if (rq->fwd_sends < UINT8_MAX)
        rq->fwd_sends++;
}

/* Writes one FORWARD frame to the leader holding the unsent commands from
 * *rqp on, as many as fit in half a frame (at least one); advances *rqp
 * past them. */
static int resend_frame(struct node *n, struct wire_buf *out,
                        struct nreq **rqp)
{
    uint32_t half = n->cfg.limits.frame_bytes_max / 2, cnt = 0;
    size_t bytes = 0;
    struct nreq *end = *rqp;
    for (; end && (cnt == 0 || bytes + end->fwd_len < half);
         end = end->fwd_next) {
        if (!end->fwd_sent) {
            bytes += end->fwd_len;
            cnt++;
        }
    }
    if (cnt == 0) {
        *rqp = end;
        return 0;
    }
    size_t start = mp_frame_begin(out, n->cfg.limits.frame_bytes_max);
    mp_write_array(out, 4);
    mp_write_uint(out, NODE_PEER_FORWARD);
    mp_write_uint(out, n->cfg.id);
    mp_write_uint(out, n->leader);
    mp_write_array(out, cnt);
    for (struct nreq *rq = *rqp; rq != end; rq = rq->fwd_next)
        if (!rq->fwd_sent)
            mp_write_bin(out, rq->fwd_cmd, rq->fwd_len);
    int rc = mp_frame_end(out, start);
    for (struct nreq *rq = *rqp; rc == 0 && rq != end; rq = rq->fwd_next)
        if (!rq->fwd_sent)
            fwd_mark_sent(rq);
    *rqp = end;
    return rc;
}

/* A session's opening (HELLO) once sent is not sent again: a copy
 * applied after the session was closed would open it anew (the tree
 * deduplicates an open only while the session exists). It fails with
 * COORD_ECONNLOSS, as before, and the client says HELLO elsewhere. */
static void fail_resent_hellos(struct node *n)
{
    struct nreq *rq = n->fwd_head;
    while (rq) {
        struct nreq *next = rq->fwd_next;
        if (rq->op == WIRE_OP_HELLO && rq->fwd_once && !rq->fwd_sent) {
            fwd_remove(n, rq);
            node_fail_req(n, rq, COORD_ECONNLOSS);
        }
        rq = next;
    }
}

void node_forward_resend(struct node *n)
{
    if (!n->fwd_resend || !n->leader)
        return;
    fail_resent_hellos(n);
    if (n->leader == n->cfg.id) {
        n->fwd_resend = false;
        for (struct nreq *rq = n->fwd_head; rq; rq = rq->fwd_next) {
            if (rq->fwd_sent)
                continue;
            if (node_propose_raw(n, rq->fwd_cmd, rq->fwd_len,
                                 n->cfg.id) != 0) {
                /* The batch is full and held behind a snapshot (or no
                 * memory): the rest stay parked and are proposed at a
                 * later iteration; new writes keep parking behind them
                 * (session order). */
                n->fwd_resend = true;
                break;
            }
            fwd_mark_sent(rq);
        }
        return;
    }
    struct wire_buf *out = net_peer_out(n->net, n->leader);
    if (!out)
        return; /* down or full: next iteration */
    n->fwd_resend = false;
    struct nreq *rq = n->fwd_head;
    while (rq && !n->fwd_resend)
        n->fwd_resend = resend_frame(n, out, &rq) != 0;
    net_peer_mark(n->net, n->leader);
}

/* Called for every applied command: completes the forwarded request it
 * came from, if it is waiting here. */
bool node_take_forwarded(struct node *n, uint64_t session_id, uint64_t xid,
                         const struct tree_result *res)
{
    if (n->n_fwd == 0)
        return false;
    struct nreq *rq = n->fwd_buckets[fwd_bucket(session_id, xid)];
    while (rq && (rq->session_id != session_id || (uint64_t)rq->xid != xid))
        rq = rq->fwd_hnext;
    if (!rq)
        return false;
    fwd_remove(n, rq);
    node_complete_write(n, rq, res);
    return true;
}

void node_forward_fail_all(struct node *n, int err)
{
    while (n->fwd_head) {
        struct nreq *rq = n->fwd_head;
        fwd_remove(n, rq);
        node_fail_req(n, rq, err);
    }
}

void node_forward_refused(struct node *n, uint64_t origin,
                          const uint8_t *cmd, uint32_t len, int err)
{
    if (origin == 0 || tree_cmd_decode(cmd, len, n->cmdbuf) != 0)
        return;
    uint64_t sid = n->cmdbuf->cmd.session_id, xid = n->cmdbuf->cmd.xid;
    if (origin == n->cfg.id) { /* one of our held writes */
        struct nreq *rq = n->fwd_buckets[fwd_bucket(sid, xid)];
        while (rq && (rq->session_id != sid || (uint64_t)rq->xid != xid))
            rq = rq->fwd_hnext;
        if (rq && rq->fwd_sent) {
            fwd_remove(n, rq);
            node_fail_req(n, rq, rq->fwd_sends == 1 ? err : COORD_ECONNLOSS);
        }
        return;
    }
    struct wire_buf *out = net_peer_out(n->net, origin);
    if (!out)
        return; /* its NODE_FWD_TIMEOUT_MS settles it */
    size_t start = mp_frame_begin(out, n->cfg.limits.frame_bytes_max);
    mp_write_array(out, 7);
    mp_write_uint(out, NODE_PEER_REFUSED);
    mp_write_uint(out, n->cfg.id);
    mp_write_uint(out, origin);
    mp_write_uint(out, n->term);
    mp_write_uint(out, (uint64_t)-err);
    mp_write_uint(out, sid);
    mp_write_uint(out, xid);
    if (mp_frame_end(out, start) == 0)
        net_peer_mark(n->net, origin);
}

/* Follower: the leader refused one of our forwarded writes. Only the
 * current leader's word in the current term counts (after a change every
 * write was sent again). A write sent once fails with the leader's error
 * (COORD_EAGAIN: its client may retry); one sent more than once may have
 * another copy in flight: COORD_ECONNLOSS (outcome unknown). */
static int recv_refused(struct node *n, uint64_t from, struct mp_reader *r)
{
    uint64_t term = mp_read_uint(r, UINT64_MAX);
    uint64_t err = mp_read_uint(r, UINT32_MAX);
    uint64_t sid = mp_read_uint(r, UINT64_MAX);
    uint64_t xid = mp_read_uint(r, UINT64_MAX);
    if (r->err)
        return r->err;
    if (from != n->leader || term != n->term || n->n_fwd == 0)
        return 0;
    struct nreq *rq = n->fwd_buckets[fwd_bucket(sid, xid)];
    while (rq && (rq->session_id != sid || (uint64_t)rq->xid != xid))
        rq = rq->fwd_hnext;
    if (!rq || !rq->fwd_sent)
        return 0; /* answered, or not sent to this leader yet */
    fwd_remove(n, rq);
    bool again = err == (uint64_t)-COORD_EAGAIN && rq->fwd_sends == 1;
    node_fail_req(n, rq, again ? COORD_EAGAIN : COORD_ECONNLOSS);
    return 0;
}

/* The leader proposes forwarded commands as they are, after checking they
 * decode: a command that cannot be applied must never reach the log. The
 * rest of a frame that finds the batch full (held behind a snapshot) is
 * refused, so its clients get COORD_EAGAIN rather than a time-out. */
static int recv_forward(struct node *n, uint64_t from, struct mp_reader *r)
{
    uint32_t cnt = mp_read_array(r);
    bool full = false;
    for (uint32_t i = 0; i < cnt && r->err == 0; i++) {
        uint32_t len = 0;
        const uint8_t *p = mp_read_bin(r, n->cfg.limits.frame_bytes_max,
                                       &len);
        if (r->err || n->role != RAFT_LEADER)
            break; /* not the leader (any more): the follower resends */
        if (tree_cmd_decode(p, len, n->cmdbuf) != 0) {
            log_emit(LOG_LEVEL_WARN, "bad forwarded command", NULL);
            continue;
        }
        if (!full && node_propose_raw(n, p, len, from) == 0)
            continue;
        full = true;
        node_forward_refused(n, from, p, len, COORD_EAGAIN);
    }
    return r->err;
}

/* ---- session liveness ------------------------------------------------- */

struct liveness_ctx {
    struct wire_buf *out;
    uint32_t count;
};

/* Follower: tells the leader which sessions spoke to this server lately,
 * so the leader, which alone expires sessions, keeps them alive. */
static void send_liveness(struct node *n)
{
    /* No link to the leader yet: keep the flags for the next period, or
     * the pings heard now would be forgotten and the sessions expire. */
    struct wire_buf *out = net_peer_out(n->net, n->leader);
    if (!out)
        return;
    uint64_t *ids = n->cmdbuf->ids;
    uint32_t cnt = 0;
    for (uint32_t b = 0; b < n->n_sbuckets && cnt < TREE_IDS_MAX; b++)
        for (struct nsess *s = n->sbuckets[b]; s && cnt < TREE_IDS_MAX;
             s = s->hnext)
            if (s->heard) {
                s->heard = false;
                ids[cnt++] = s->id;
            }
    if (cnt == 0)
        return;
    size_t start = mp_frame_begin(out, n->cfg.limits.frame_bytes_max);
    mp_write_array(out, 4);
    mp_write_uint(out, NODE_PEER_LIVENESS);
    mp_write_uint(out, n->cfg.id);
    mp_write_uint(out, n->leader);
    mp_write_array(out, cnt);
    for (uint32_t i = 0; i < cnt; i++)
        mp_write_uint(out, ids[i]);
    if (mp_frame_end(out, start) == 0)
        net_peer_mark(n->net, n->leader);
}

static int recv_liveness(struct node *n, struct mp_reader *r)
{
    uint32_t cnt = mp_read_array(r);
    for (uint32_t i = 0; i < cnt && r->err == 0; i++) {
        struct nsess *s = node_session_find(n, mp_read_uint(r, UINT64_MAX));
        if (s && n->role == RAFT_LEADER)
            s->last_ms = net_now_ms(n->net);
    }
    return r->err;
}

/* ---- digests ---------------------------------------------------------- */

/* After each apply: remember the digest at checkpoint indexes. */
void node_digest_record(struct node *n)
{
    if (n->applied % NODE_DIGEST_EVERY != 0)
        return;
    uint32_t k = (uint32_t)(n->applied / NODE_DIGEST_EVERY) % NODE_DIGESTS;
    n->dg_index[k] = n->applied;
    n->dg_value[k] = tree_digest(n->tree);
    if (n->cfg.corrupt_digest_at && n->applied >= n->cfg.corrupt_digest_at) {
        /* test-only ([test] test_corrupt_digest_at): this replica now
         * records wrong digests, as if its tree had diverged */
        n->dg_value[k] ^= 0x5a5a5a5a5a5a5a5aull;
        if (!n->digest_corrupted)
            log_emit(LOG_LEVEL_WARN, "test: digests corrupted from here",
                     "index=%llu", (unsigned long long)n->applied);
        n->digest_corrupted = true;
    }
}

static void send_digests(struct node *n)
{
    uint32_t k = (uint32_t)(n->applied / NODE_DIGEST_EVERY) % NODE_DIGESTS;
    uint64_t index = n->dg_index[k], value = n->dg_value[k];
    if (index == 0)
        return;
    for (uint32_t i = 0; i < n->conf.n; i++) {
        uint64_t to = n->conf.members[i].id;
        struct wire_buf *out = to == n->cfg.id ? NULL
                                               : net_peer_out(n->net, to);
        if (!out)
            continue;
        size_t start = mp_frame_begin(out, n->cfg.limits.frame_bytes_max);
        mp_write_array(out, 5);
        mp_write_uint(out, NODE_PEER_DIGEST);
        mp_write_uint(out, n->cfg.id);
        mp_write_uint(out, to);
        mp_write_uint(out, index);
        mp_write_uint(out, value);
        if (mp_frame_end(out, start) == 0)
            net_peer_mark(n->net, to);
    }
}

static int recv_digest(struct node *n, uint64_t from, struct mp_reader *r)
{
    uint64_t index = mp_read_uint(r, UINT64_MAX);
    uint64_t value = mp_read_uint(r, UINT64_MAX);
    if (r->err)
        return r->err;
    uint32_t k = (uint32_t)(index / NODE_DIGEST_EVERY) % NODE_DIGESTS;
    if (index == 0 || n->dg_index[k] != index || n->dg_value[k] == value)
        return 0;
    n->digest_mismatches++;
    log_emit(LOG_LEVEL_ERROR, "REPLICA DIVERGENCE: tree digests differ",
             "index=%llu peer=%llu ours=%016llx theirs=%016llx",
             (unsigned long long)index, (unsigned long long)from,
             (unsigned long long)n->dg_value[k],
             (unsigned long long)value);
    return 0;
}

/* ---- links ------------------------------------------------------------ */

void node_on_peer_up(void *data, uint64_t id, struct wire_buf *out)
{
    struct node *n = data;
    struct peer_hello h = {.version = PEER_VERSION,
                           .cluster_id = n->cfg.cluster_id,
                           .from = n->cfg.id, .to = id};
    peer_encode_hello(out, &h);
}

void node_on_peer_down(void *data, uint64_t id)
{
    struct node *n = data;
    struct raft_event ev = {.type = RAFT_EV_UNREACHABLE};
    ev.unreachable.peer = id;
    node_step(n, &ev);
}

static int peer_handshake(struct node *n, struct net_conn *c,
                          const uint8_t *msg, size_t len)
{
    struct peer_hello h;
    int rc = peer_decode_hello(msg, len, &h);
    if (rc == 0 && (h.cluster_id != n->cfg.cluster_id || h.to != n->cfg.id))
        rc = COORD_EAUTH;
    if (rc) {
        log_emit(LOG_LEVEL_WARN, "peer link refused",
                 "from=%s err=%s peer_version=%u version=%u",
                 net_conn_peer(c), coord_errname(rc), h.version,
                 (unsigned)PEER_VERSION);
        return rc;
    }
    net_conn_set_data(c, (void *)(uintptr_t)h.from);
    return 0;
}

int node_on_peer_frame(void *data, struct net_conn *c, const uint8_t *msg,
                       size_t len)
{
    struct node *n = data;
    uint64_t from = link_peer(c);
    if (from == 0)
        return peer_handshake(n, c, msg, len);
    struct mp_reader r;
    mp_reader_init(&r, msg, len);
    mp_read_array(&r);
    uint64_t type = mp_read_uint(&r, UINT32_MAX);
    if (r.err)
        return COORD_EPROTO;
    if (type < NODE_PEER_FORWARD)
        return recv_raft(n, from, msg, len);
    if (mp_read_uint(&r, UINT64_MAX) != from ||
        mp_read_uint(&r, UINT64_MAX) != n->cfg.id)
        return COORD_EPROTO;
    switch (type) {
    case NODE_PEER_FORWARD:
        return recv_forward(n, from, &r);
    case NODE_PEER_REFUSED:
        return recv_refused(n, from, &r);
    case NODE_PEER_LIVENESS:
        return recv_liveness(n, &r);
    case NODE_PEER_DIGEST:
        return recv_digest(n, from, &r);
    default:
        return COORD_EPROTO;
    }
}

/* A member cut off from a leader (isolated, or no quorum) cannot serve
 * writes or linearizable reads: after NODE_NO_LEADER_TIMEOUTS election
 * timeouts it drops its clients, which move to other members (ZooKeeper's
 * servers do the same when they lose their quorum). */
static void watch_leaderless(struct node *n, int64_t now)
{
    if (n->leader) {
        n->no_leader_since_ms = 0;
        n->shed_clients = false;
        return;
    }
    if (n->no_leader_since_ms == 0)
        n->no_leader_since_ms = now;
    int64_t limit = (int64_t)NODE_NO_LEADER_TIMEOUTS *
                    n->cfg.election_ticks * n->cfg.tick_ms;
    if (!n->shed_clients && now - n->no_leader_since_ms > limit) {
        n->shed_clients = true;
        log_emit(LOG_LEVEL_WARN, "no leader: closing client connections",
                 "since_ms=%lld", (long long)(now - n->no_leader_since_ms));
        net_close_clients(n->net);
    }
}

/* Frames queued on a link that went down are lost: forwarded writes not
 * applied yet are sent again once the link to the leader is back. */
static void watch_leader_link(struct node *n)
{
    if (!n->leader || n->leader == n->cfg.id) {
        n->fwd_link_lost = false;
        return;
    }
    if (!net_peer_is_up(n->net, n->leader)) {
        n->fwd_link_lost = true;
    } else if (n->fwd_link_lost) {
        n->fwd_link_lost = false;
        fwd_unsend_all(n);
    }
}

/* Every tick: forwarded writes past their time fail (outcome unknown:
 * they may have been applied and their entry not reached us yet),
 * followers relay liveness, everyone broadcasts its digest now and then. */
void node_cluster_tick(struct node *n)
{
    int64_t now = net_now_ms(n->net);
    while (n->fwd_head && now - n->fwd_head->fwd_ms > NODE_FWD_TIMEOUT_MS) {
        struct nreq *rq = n->fwd_head;
        fwd_remove(n, rq);
        node_fail_req(n, rq, COORD_ECONNLOSS);
    }
    if (n->cfg.n_members <= 1)
        return;
    watch_leaderless(n, now);
    watch_leader_link(n);
    if (n->role != RAFT_LEADER && n->leader &&
        now - n->last_liveness_ms >= NODE_LIVENESS_MS) {
        n->last_liveness_ms = now;
        send_liveness(n);
    }
    if (now - n->last_digest_ms >= NODE_DIGEST_SEND_MS) {
        n->last_digest_ms = now;
        send_digests(n);
    }
}
