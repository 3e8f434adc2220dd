/* request.c -- client requests on coordd: decode each frame, turn writes
 * into proposals and reads into read-index waits, keep every connection's
 * requests in a FIFO so they complete in the order sent, execute reads
 * against the tree when their turn comes, and encode replies and watch
 * events into the connection's output buffer. No sockets here (net/ owns
 * them) and no Raft internals (node.c steps the core).
 */
#include "node_int.h"

#include <string.h>

#include "coord.h"
#include "coordd/log.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/auth.h"
#include "libcoord/shared/check.h"

/* ---- request objects and the per-connection FIFO ------------------------- */

static struct nreq *nreq_new(struct nconn *cn, uint32_t op, int64_t xid)
{
    struct nreq *rq = coord_calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->conn = cn;
    rq->op = op;
    rq->xid = xid;
    rq->t0_us = metrics_now_us();
    if (cn->tail)
        cn->tail->next = rq;
    else
        cn->head = rq;
    cn->tail = rq;
    cn->inflight++;
    if (cn->inflight >= cn->node->cfg.conn_inflight_max)
        net_conn_pause(cn->nc); /* backpressure: stop reading */
    return rq;
}

void nreq_free(struct nreq *rq)
{
    if (!rq)
        return;
    coord_free(rq->frame);
    wire_buf_free(&rq->resp);
    coord_free(rq);
}

/* Appends len raw bytes (one encoded frame) to b. */
static int buf_append(struct wire_buf *b, const uint8_t *p, size_t len)
{
    if (b->len + len > b->cap) {
        if (b->fixed || b->len + len > b->max)
            return COORD_ENOMEM;
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        if (cap > b->max)
            cap = b->max;
        uint8_t *d = coord_realloc(b->data, cap);
        if (!d)
            return COORD_ENOMEM;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    return 0;
}

static void encode_resp(struct node *n, struct wire_buf *b,
                        struct wire_resp *resp)
{
    resp->zxid = n->applied;
    int rc = wire_encode_resp(b, resp, &n->cfg.limits);
    if (rc && resp->err == 0) {
        /* The answer does not fit (e.g. a children page over the frame
         * limit): say so instead. */
        resp->err = rc;
        rc = wire_encode_resp(b, resp, &n->cfg.limits);
    }
    metrics_request(n->metrics, resp->op, rc ? rc : resp->err);
    if (rc)
        log_emit(LOG_LEVEL_WARN, "reply not encoded", "op=%u err=%s",
                 (unsigned)resp->op, coord_errname(rc));
}

/* Encodes an error reply for rq and marks it done. */
void node_fail_req(struct node *n, struct nreq *rq, int err)
{
    if (!rq->conn) {
        nreq_free(rq);
        return;
    }
    struct wire_resp resp = {.op = rq->op, .xid = rq->xid, .err = err};
    wire_buf_init(&rq->resp, n->cfg.limits.frame_bytes_max +
                                 WIRE_PREFIX_BYTES);
    encode_resp(n, &rq->resp, &resp);
    rq->state = NREQ_DONE;
    node_conn_drain(rq->conn);
}

/* A read may run once it is off the wait list (its index is known and
 * applied, or its read index failed). */
/* Answers rq with err, then closes the connection once everything before
 * it has been answered. */
static void fail_and_close(struct node *n, struct nconn *cn, struct nreq *rq,
                           int err)
{
    cn->close_after = true;
    node_fail_req(n, rq, err);
}

static bool read_ready(const struct node *n, const struct nreq *rq)
{
    (void)n;
    return !rq->waiting;
}

static void execute_read(struct node *n, struct nconn *cn, struct nreq *rq);
static void hello_resume_exec(struct node *n, struct nconn *cn,
                              struct nreq *rq, const struct wire_hello *h);

/* Answers, in order, every request at the head of cn's FIFO that is
 * complete; stops at the first that is not. */
void node_conn_drain(struct nconn *cn)
{
    struct node *n = cn->node;
    while (cn->head) {
        struct nreq *rq = cn->head;
        if (rq->state == NREQ_WRITE ||
            (rq->state == NREQ_READ && !read_ready(n, rq)))
            break;
        if (rq->state == NREQ_READ && rq->status) {
            rq->state = NREQ_DONE;
            node_fail_req(n, rq, rq->status);
            return; /* node_fail_req drains again */
        }
        cn->head = rq->next;
        if (!cn->head)
            cn->tail = NULL;
        cn->inflight--;
        if (rq->state == NREQ_READ)
            execute_read(n, cn, rq);
        else if (buf_append(net_conn_out(cn->nc), rq->resp.data,
                            rq->resp.len) != 0)
            net_conn_close(cn->nc); /* the client does not read */
        net_conn_mark(cn->nc);
        metrics_request_latency(n->metrics, rq->op, rq->t0_us);
        nreq_free(rq);
    }
    if (net_conn_is_paused(cn->nc) &&
        cn->inflight <= cn->node->cfg.conn_inflight_max / 2)
        net_conn_resume(cn->nc);
    if (cn->close_after && !cn->head)
        net_conn_close(cn->nc);
}

/* ---- reads -------------------------------------------------------------- */

struct child_ctx {
    struct node *n;
    uint32_t count;
};

static void child_cb(void *data, const char *name, size_t len,
                     const struct coord_stat *stat)
{
    struct child_ctx *cc = data;
    struct wire_child *c = &cc->n->children[cc->count++];
    c->name = (struct wire_bytes){name, (uint32_t)len};
    if (stat)
        c->stat = *stat;
}

static int read_children(struct node *n, const struct wire_req *q,
                         struct wire_resp *resp)
{
    const struct wire_children_req *r = &q->u.children;
    uint32_t max = r->max_count;
    if (max == 0 || max > n->cfg.limits.children_page_max)
        max = n->cfg.limits.children_page_max;
    bool stats = r->flags & WIRE_READ_STATS;
    struct child_ctx cc = {n, 0};
    bool more = false;
    int rc = tree_children(n->tree, r->path.ptr, r->path.len,
                           r->start_after.ptr, r->start_after.len, max,
                           stats, child_cb, &cc, &more);
    resp->u.children = (struct wire_children_resp){
        .more = more, .with_stats = stats, .n = cc.count,
        .entries = n->children};
    return rc;
}

/* Registers a read's watch; returns 0 or the error to answer with. */
static int read_watch(struct node *n, struct nconn *cn,
                      const struct wire_req *q, int rc)
{
    const struct wire_bytes *p = q->op == WIRE_OP_CHILDREN
                                     ? &q->u.children.path
                                     : &q->u.read.path;
    uint32_t flags = q->op == WIRE_OP_CHILDREN ? q->u.children.flags
                                               : q->u.read.flags;
    if (!(flags & WIRE_READ_WATCH) || !cn->sess)
        return 0;
    uint8_t kind;
    if (q->op == WIRE_OP_EXISTS)
        kind = rc == 0 ? COORD_WATCH_DATA : COORD_WATCH_EXISTS;
    else if (rc != 0)
        return 0; /* ZooKeeper: no watch on a missing node */
    else
        kind = q->op == WIRE_OP_GET ? COORD_WATCH_DATA
                                    : COORD_WATCH_CHILDREN;
    return watch_add(&n->watches, &cn->sess->wo, p->ptr, p->len, kind);
}

static void execute_read(struct node *n, struct nconn *cn, struct nreq *rq)
{
    struct wire_req q;
    struct wire_resp resp = {.op = rq->op, .xid = rq->xid};
    int rc = wire_decode_req(rq->frame, rq->frame_len, &n->cfg.limits, &q);
    coord_assert(rc == 0); /* decoded once already, from the same bytes */
    const void *data = NULL;
    if (q.op == WIRE_OP_HELLO) {
        hello_resume_exec(n, cn, rq, &q.u.hello);
        return;
    }
    switch (q.op) {
    case WIRE_OP_GET:
        rc = tree_get(n->tree, q.u.read.path.ptr, q.u.read.path.len, &data,
                      &resp.u.get.stat);
        resp.u.get.data = (struct wire_bytes){
            data, rc ? 0 : resp.u.get.stat.data_length};
        break;
    case WIRE_OP_EXISTS:
        rc = tree_exists(n->tree, q.u.read.path.ptr, q.u.read.path.len,
                         &resp.u.stat);
        break;
    case WIRE_OP_CHILDREN:
        rc = read_children(n, &q, &resp);
        break;
    default: /* SYNC */
        rc = 0;
        break;
    }
    int wrc = q.op == WIRE_OP_SYNC ? 0 : read_watch(n, cn, &q, rc);
    if (rc == COORD_ENONODE && q.op == WIRE_OP_EXISTS && wrc == 0)
        resp.err = rc; /* the exists watch is set all the same */
    else
        resp.err = rc ? rc : wrc;
    encode_resp(n, net_conn_out(cn->nc), &resp);
}

/* True if a read whose index failed with err should ask again: the
 * failure says leadership moved or is unknown, and the read is younger
 * than NODE_READ_RETRY_TIMEOUTS election timeouts (docs/cluster.md). */
static bool read_retry(const struct node *n, const struct nreq *rq, int err)
{
    if (err != COORD_ENOTLEADER && err != COORD_EUNAVAILABLE &&
        err != COORD_ETIMEDOUT)
        return false;
    int64_t bound_us = (int64_t)NODE_READ_RETRY_TIMEOUTS *
                       n->cfg.election_ticks * n->cfg.tick_ms * 1000;
    return metrics_now_us() - rq->t0_us < bound_us;
}

/* A read-index result from the core: every read of that batch learns its
 * index (or its failure). A read failed by a leader change joins the next
 * batch instead (sent once a leader is known). */
void node_read_result(struct node *n, const struct raft_read *r)
{
    for (struct nreq *rq = n->reads; rq; rq = rq->next_wait) {
        if (rq->read_id != r->id)
            continue;
        if (r->status && read_retry(n, rq, r->status)) {
            if (!n->open_read_id)
                n->open_read_id = ++n->next_read_id;
            rq->read_id = n->open_read_id;
            continue;
        }
        rq->read_known = true;
        rq->index = r->index;
        rq->status = r->status;
    }
}

/* Moves reads that became ready off the wait list and drains their
 * connections. */
void node_reads_advance(struct node *n)
{
    struct nreq **pp = &n->reads;
    while (*pp) {
        struct nreq *rq = *pp;
        if (!rq->read_known || (!rq->status && n->applied < rq->index)) {
            pp = &rq->next_wait;
            continue;
        }
        *pp = rq->next_wait;
        rq->next_wait = NULL;
        rq->waiting = false;
        if (rq->conn)
            node_conn_drain(rq->conn);
        else
            nreq_free(rq);
    }
}

/* ---- events -------------------------------------------------------------- */

void node_send_event(struct node *n, struct nconn *cn, uint8_t type,
                     const char *path, size_t len, uint64_t zxid)
{
    struct wire_resp ev = {.op = WIRE_OP_WATCH_EVENT, .xid = WIRE_XID_EVENT,
                           .zxid = zxid};
    ev.u.event.type = type;
    ev.u.event.path = (struct wire_bytes){path, (uint32_t)len};
    if (wire_encode_resp(net_conn_out(cn->nc), &ev, &n->cfg.limits) != 0) {
        /* An event that cannot be queued must not be lost silently: the
         * client learns by the dropped connection and re-reads. */
        net_conn_close(cn->nc);
        return;
    }
    net_conn_mark(cn->nc);
}

/* ---- writes -------------------------------------------------------------- */

static void hello_encode(struct node *n, struct nreq *rq, struct nsess *s,
                         struct wire_buf *b)
{
    struct wire_resp resp = {.op = WIRE_OP_HELLO, .xid = rq->xid};
    struct wire_hello_reply *h = &resp.u.hello;
    h->version = COORD_PROTOCOL_VERSION;
    h->session_id = s->id;
    h->secret = (struct wire_bytes){(const char *)rq->secret,
                                    COORD_SECRET_BYTES};
    h->timeout_ms = s->timeout_ms;
    h->limits = n->cfg.limits;
    h->server_id = n->cfg.id;
    h->leader_id = n->leader;
    encode_resp(n, b, &resp);
}

static void hello_reply(struct node *n, struct nreq *rq, struct nsess *s)
{
    wire_buf_init(&rq->resp,
                  n->cfg.limits.frame_bytes_max + WIRE_PREFIX_BYTES);
    hello_encode(n, rq, s, &rq->resp);
    rq->state = NREQ_DONE;
}

static uint32_t wire_op_of(uint8_t tree_type)
{
    switch (tree_type) {
    case TREE_CMD_CREATE:
        return WIRE_OP_CREATE;
    case TREE_CMD_DELETE:
        return WIRE_OP_DELETE;
    case TREE_CMD_SET:
        return WIRE_OP_SET;
    default:
        return WIRE_OP_CHECK;
    }
}

static void write_result(struct node *n, struct nreq *rq,
                         const struct tree_result *res,
                         struct wire_resp *resp)
{
    resp->err = res->err;
    if (rq->op == WIRE_OP_MULTI) {
        resp->err = 0; /* per-op results carry the outcome (3.11) */
        for (uint32_t i = 0; i < res->n_ops; i++) {
            const struct tree_op_result *r = &res->ops[i];
            /* A failed multi applied nothing: every op but the failing
             * one is reported skipped (protocol.md 3.11). The applied
             * command is still decoded in n->cmdbuf. */
            int err = res->err && r->err == 0 ? COORD_ESKIPPED : r->err;
            n->results[i] = (struct wire_op_result){
                .op = wire_op_of(n->cmdbuf->cmd.ops[i].type), .err = err,
                .path = {r->path, r->path_len}, .stat = r->stat};
        }
        resp->u.multi = (struct wire_multi_resp){.n = res->n_ops,
                                                 .results = n->results};
    } else if (res->err == 0 && rq->op == WIRE_OP_CREATE) {
        resp->u.created.path = (struct wire_bytes){res->ops[0].path,
                                                   res->ops[0].path_len};
        resp->u.created.stat = res->ops[0].stat;
    } else if (res->err == 0 && rq->op == WIRE_OP_SET) {
        resp->u.stat = res->ops[0].stat;
    }
}

/* The entry of a write was applied: encode its reply (in order). */
void node_complete_write(struct node *n, struct nreq *rq,
                         const struct tree_result *res)
{
    struct nconn *cn = rq->conn;
    if (!cn) {
        nreq_free(rq);
        return;
    }
    if (rq->op == WIRE_OP_HELLO) {
        struct nsess *s = node_session_find(n, rq->session_id);
        if (res->err || !s) {
            fail_and_close(n, cn, rq, res->err ? res->err : COORD_EINTERNAL);
            return;
        }
        node_session_attach(n, s, cn);
        hello_reply(n, rq, s);
        node_conn_drain(cn);
        return;
    }
    if (rq->op == WIRE_OP_CLOSE)
        cn->close_after = true;
    struct wire_resp resp = {.op = rq->op, .xid = rq->xid};
    write_result(n, rq, res, &resp);
    wire_buf_init(&rq->resp,
                  n->cfg.limits.frame_bytes_max + WIRE_PREFIX_BYTES);
    encode_resp(n, &rq->resp, &resp);
    rq->state = NREQ_DONE;
    node_conn_drain(cn);
}

static uint8_t tree_type_of(uint32_t op)
{
    switch (op) {
    case WIRE_OP_CREATE:
        return TREE_CMD_CREATE;
    case WIRE_OP_DELETE:
        return TREE_CMD_DELETE;
    case WIRE_OP_SET:
        return TREE_CMD_SET;
    default:
        return TREE_CMD_CHECK;
    }
}

static void op_from_wire(struct tree_op *o, const struct wire_multi_op *w)
{
    *o = (struct tree_op){.type = tree_type_of(w->op), .mode = w->mode,
                          .version = w->version,
                          .ttl_ms = (int64_t)w->ttl_ms,
                          .path = w->path.ptr, .path_len = w->path.len,
                          .data = w->data.ptr, .data_len = w->data.len};
    if (o->type == TREE_CMD_DELETE || o->type == TREE_CMD_CHECK)
        o->data = NULL, o->data_len = 0;
}

/* Builds the tree command of a write request. */
static void cmd_from_req(struct node *n, const struct wire_req *q,
                         struct tree_cmd *c)
{
    struct wire_multi_op w = {.op = q->op, .version = -1};
    switch (q->op) {
    case WIRE_OP_CREATE:
        w.path = q->u.create.path;
        w.data = q->u.create.data;
        w.mode = q->u.create.mode;
        w.ttl_ms = q->u.create.ttl_ms;
        w.version = 0;
        break;
    case WIRE_OP_DELETE:
    case WIRE_OP_CHECK:
        w.path = q->u.pv.path;
        w.version = q->u.pv.version;
        break;
    case WIRE_OP_SET:
        w.path = q->u.set.path;
        w.data = q->u.set.data;
        w.version = q->u.set.version;
        break;
    case WIRE_OP_MULTI: {
        struct wire_iter it = q->u.multi.it;
        struct wire_multi_op mo;
        c->type = TREE_CMD_MULTI;
        c->n_ops = 0;
        while (wire_next_op(&it, &mo))
            op_from_wire(&n->ops[c->n_ops++], &mo);
        c->ops = n->ops;
        return;
    }
    }
    op_from_wire(&c->op, &w);
    c->type = c->op.type;
}

static void start_write(struct node *n, struct nconn *cn, struct nreq *rq,
                        const struct wire_req *q)
{
    struct tree_cmd c = {.time_ms = node_wall_ms(n),
                         .session_id = cn->sess->id,
                         .xid = (uint64_t)q->xid};
    if (q->op == WIRE_OP_CLOSE)
        c.type = TREE_CMD_SESSION_CLOSE;
    else
        cmd_from_req(n, q, &c);
    rq->state = NREQ_WRITE;
    rq->session_id = c.session_id;
    int rc = node_propose(n, rq, &c);
    if (rc)
        node_fail_req(n, rq, rc);
}

/* ---- handshake ----------------------------------------------------------- */

static uint32_t clamp_timeout(const struct node *n, uint32_t t)
{
    if (t < n->cfg.session_timeout_ms_min)
        return n->cfg.session_timeout_ms_min;
    if (t > n->cfg.session_timeout_ms_max)
        return n->cfg.session_timeout_ms_max;
    return t;
}

static void hello_new(struct node *n, struct nconn *cn, struct nreq *rq,
                      const struct wire_hello *h)
{
    if (n->n_sessions >= n->cfg.sessions_max) {
        fail_and_close(n, cn, rq, COORD_ETOOMANY);
        return;
    }
    struct tree_cmd c = {.type = TREE_CMD_SESSION_OPEN,
                         .time_ms = node_wall_ms(n)};
    do
        c.session_id = coord_random_id();
    while (node_session_find(n, c.session_id));
    c.timeout_ms = clamp_timeout(n, h->timeout_ms);
    coord_random_bytes(c.secret, sizeof(c.secret));
    memcpy(rq->secret, c.secret, sizeof(rq->secret));
    rq->timeout_ms = c.timeout_ms;
    rq->session_id = c.session_id;
    rq->state = NREQ_WRITE;
    int rc = node_propose(n, rq, &c);
    if (rc) {
        fail_and_close(n, cn, rq, rc);
    }
}

static int hello_resume_check(struct node *n, const struct wire_hello *h)
{
    if (tree_session_get(n->tree, h->session_id, NULL, NULL, NULL) != 0)
        return COORD_ESESSIONEXPIRED;
    if (!tree_session_secret_ok(n->tree, h->session_id,
                                (const uint8_t *)h->secret.ptr))
        return COORD_EAUTH;
    if (h->last_zxid > n->applied)
        return COORD_ESTALE; /* the client saw a newer state elsewhere */
    return node_session_find(n, h->session_id) ? 0 : COORD_ESESSIONEXPIRED;
}

/* Parks a resuming HELLO on the read wait list until applied >= need;
 * it then runs as a "read" (execute_read -> hello_resume_exec). */
static void defer_hello(struct node *n, struct nreq *rq, const uint8_t *msg,
                        size_t len, uint64_t need)
{
    rq->frame = coord_malloc(len);
    if (!rq->frame) {
        node_fail_req(n, rq, COORD_ENOMEM);
        return;
    }
    memcpy(rq->frame, msg, len);
    rq->frame_len = len;
    rq->state = NREQ_READ;
    rq->read_id = ++n->next_read_id; /* not a Raft read: index is known */
    rq->read_known = true;
    rq->index = need;
    rq->waiting = true;
    rq->next_wait = n->reads;
    n->reads = rq;
}

static void on_hello(struct node *n, struct nconn *cn, struct nreq *rq,
                     const struct wire_hello *h, const uint8_t *msg,
                     size_t len)
{
    cn->hello_seen = true;
    if (h->version != COORD_PROTOCOL_VERSION) {
        fail_and_close(n, cn, rq, COORD_EPROTOVERSION);
        return;
    }
    if (h->session_id == 0) {
        hello_new(n, cn, rq, h);
        return;
    }
    if (h->secret.len != COORD_SECRET_BYTES) {
        fail_and_close(n, cn, rq, COORD_EAUTH);
        return;
    }
    /* Hold the resume until this server has applied what the client has
     * seen and everything it logged before a restart (DESIGN.md: a
     * session never sees the namespace go back in time). */
    uint64_t need = h->last_zxid > n->start_index ? h->last_zxid
                                                  : n->start_index;
    if (!n->ready || n->applied < need)
        defer_hello(n, rq, msg, len, need);
    else
        hello_resume_exec(n, cn, rq, h);
    node_conn_drain(cn);
}

/* Resumes a session on this connection now: check, attach, reply. The
 * reply goes straight to the output: rq is already off the FIFO or at
 * its head. */
static void hello_resume_exec(struct node *n, struct nconn *cn,
                              struct nreq *rq, const struct wire_hello *h)
{
    int rc = hello_resume_check(n, h);
    struct nsess *cur = rc ? NULL : node_session_find(n, h->session_id);
    if (cur && cur->conn && cur->conn != cn &&
        net_conn_id(cur->conn->nc) > net_conn_id(cn->nc))
        rc = COORD_EBUSY; /* a stale HELLO: the client has moved on to a
                             newer connection, which keeps the session */
    if (rc == 0) {
        struct nsess *s = node_session_find(n, h->session_id);
        memcpy(rq->secret, h->secret.ptr, COORD_SECRET_BYTES);
        node_session_attach(n, s, cn);
        if (rq->state == NREQ_READ) {
            hello_encode(n, rq, s, net_conn_out(cn->nc));
            net_conn_mark(cn->nc);
        } else {
            hello_reply(n, rq, s);
        }
        return;
    }
    cn->close_after = true;
    struct wire_resp resp = {.op = WIRE_OP_HELLO, .xid = rq->xid,
                             .err = rc};
    if (rq->state == NREQ_READ) {
        encode_resp(n, net_conn_out(cn->nc), &resp);
        net_conn_mark(cn->nc);
    } else {
        wire_buf_init(&rq->resp,
                      n->cfg.limits.frame_bytes_max + WIRE_PREFIX_BYTES);
        encode_resp(n, &rq->resp, &resp);
        rq->state = NREQ_DONE;
    }
}

/* ---- watches ------------------------------------------------------------- */

/* A persistent watch after a reconnect: the node's stat tells what changed
 * since the client's last zxid (created, data, children). A missing node
 * was neither created nor deleted since if its parent's child list did not
 * change (pzxid); otherwise the client must re-read. */
static void rewatch_persistent(struct node *n, struct nconn *cn,
                               const struct wire_bytes *p, uint64_t last,
                               const struct coord_stat *st)
{
    uint64_t z = n->applied;
    if (st) {
        if (st->czxid > last) {
            node_send_event(n, cn, COORD_EVENT_CREATED, p->ptr, p->len, z);
            return;
        }
        if (st->mzxid > last)
            node_send_event(n, cn, COORD_EVENT_DATA_CHANGED, p->ptr, p->len,
                            z);
        if (st->pzxid > last)
            node_send_event(n, cn, COORD_EVENT_CHILDREN_CHANGED, p->ptr,
                            p->len, z);
        return;
    }
    size_t plen = p->len;
    while (plen > 0 && p->ptr[plen - 1] != '/')
        plen--;
    struct coord_stat ps;
    if (plen == 0 || tree_exists(n->tree, p->ptr, plen > 1 ? plen - 1 : 1,
                                 &ps) != 0 ||
        ps.pzxid > last)
        node_send_event(n, cn, COORD_EVENT_MUST_REREAD, p->ptr, p->len, z);
}

/* After a reconnect: re-register one watch, or fire it at once if what it
 * watches changed after the client's last seen zxid (ZooKeeper's
 * SetWatches rule). Persistent watches whose changes cannot be told from
 * the current state get COORD_EVENT_MUST_REREAD: never a silent loss. */
static void rewatch(struct node *n, struct nconn *cn, uint8_t kind,
                    const struct wire_bytes *p, uint64_t last)
{
    struct coord_stat st;
    bool ex = tree_exists(n->tree, p->ptr, p->len, &st) == 0;
    uint8_t fire = 0;
    switch (kind) {
    case COORD_WATCH_DATA:
        fire = !ex ? COORD_EVENT_DELETED
                   : st.mzxid > last ? COORD_EVENT_DATA_CHANGED : 0;
        break;
    case COORD_WATCH_EXISTS:
        fire = ex ? COORD_EVENT_CREATED : 0;
        break;
    case COORD_WATCH_CHILDREN:
        fire = !ex ? COORD_EVENT_DELETED
                   : st.pzxid > last ? COORD_EVENT_CHILDREN_CHANGED : 0;
        break;
    default: /* persistent kinds stay registered */
        if (kind == COORD_WATCH_PERSISTENT)
            rewatch_persistent(n, cn, p, last, ex ? &st : NULL);
        else if (n->applied > last) /* a subtree's past is not kept */
            fire = COORD_EVENT_MUST_REREAD;
        break;
    }
    if (fire)
        node_send_event(n, cn, fire, p->ptr, p->len, n->applied);
    if (!fire || kind >= COORD_WATCH_PERSISTENT)
        watch_add(&n->watches, &cn->sess->wo, p->ptr, p->len, kind);
}

/* Replay: the client's watches go into a private table, every missed
 * event in the history is fanned out to it (one-shot watches fire once
 * and are gone, persistent ones see every match), and what remains is
 * registered for real. All of it runs in one turn of the loop, so no
 * apply falls between the replay (events <= applied) and the
 * registration (events > applied): nothing is lost or sent twice. When
 * the watches span several frames, an event a watch registered by an
 * earlier frame already delivered is not sent again. */
struct replay_ctx {
    struct node *n;
    struct nconn *cn;
    int rc;
};

static void replay_deliver(void *data, struct watch_owner *o, uint8_t type,
                           const char *path, size_t len, uint64_t zxid)
{
    struct replay_ctx *rc = data;
    (void)o;
    if (rc->rc)
        return; /* an event was not queued: send none after it */
    if (watch_would_fire(&rc->n->watches, &rc->cn->sess->wo, type, path,
                         len))
        return; /* an earlier frame's watch got it (replayed or live) */
    struct wire_buf *out = net_conn_out(rc->cn->nc);
    size_t before = out->len;
    node_send_event(rc->n, rc->cn, type, path, len, zxid);
    if (out->len == before)
        rc->rc = COORD_ENOMEM; /* the connection is closing */
}

static void replay_register(void *data, const char *path, size_t len,
                            uint8_t kind)
{
    struct replay_ctx *rc = data;
    int err = watch_add(&rc->n->watches, &rc->cn->sess->wo, path, len,
                        kind);
    if (err && !rc->rc)
        rc->rc = err;
}

static int replay_watches(struct node *n, struct nconn *cn,
                          const struct wire_set_watches *sw)
{
    struct watch_table tmp;
    struct watch_owner o = {0};
    struct replay_ctx rc = {n, cn, 0};
    if (watch_table_init(&tmp, n->cfg.watches_per_session_max) != 0)
        return COORD_ENOMEM;
    for (uint8_t k = 0; k < WIRE_WATCH_KINDS && !rc.rc; k++) {
        struct wire_iter it = sw->kinds[k].it;
        struct wire_bytes p;
        while (!rc.rc && wire_next_path(&it, &p))
            rc.rc = watch_add(&tmp, &o, p.ptr, p.len, (uint8_t)(k + 1));
    }
    if (!rc.rc) {
        changelog_replay_watches(&n->changes, sw->last_zxid, &tmp,
                                 replay_deliver, &rc);
        watch_owner_each(&o, replay_register, &rc);
    }
    watch_table_close(&tmp);
    return rc.rc;
}

/* A replay matches every missed event against the frame's watches; the
 * tree-state rule below looks up each watch once. Past this many missed
 * events per watch in the frame (and past NODE_REPLAY_EVENTS_MIN), the
 * replay is not worth its cost: up to a whole history (65,536 events) per
 * frame, for every client reconnecting after a failover. */
#define NODE_REPLAY_EVENTS_PER_WATCH 64
#define NODE_REPLAY_EVENTS_MIN 256

static int set_watches(struct node *n, struct nconn *cn,
                       const struct wire_set_watches *sw)
{
    uint64_t watches = 0;
    for (uint8_t k = 0; k < WIRE_WATCH_KINDS; k++) {
        struct wire_iter it = sw->kinds[k].it;
        struct wire_bytes p;
        for (; wire_next_path(&it, &p); watches++)
            if (tree_path_validate(p.ptr, p.len) != 0)
                return COORD_EBADPATH;
    }
    uint64_t missed = changelog_count_after(&n->changes, sw->last_zxid);
    if (changelog_covers(&n->changes, sw->last_zxid) &&
        (missed <= NODE_REPLAY_EVENTS_MIN ||
         missed <= NODE_REPLAY_EVENTS_PER_WATCH * watches))
        return replay_watches(n, cn, sw);
    /* Missed events were evicted (or predate this server's history), or
     * are too many to replay: tell from the current tree, or
     * MUST_REREAD. */
    for (uint8_t k = 0; k < WIRE_WATCH_KINDS; k++) {
        struct wire_iter it = sw->kinds[k].it;
        struct wire_bytes p;
        while (wire_next_path(&it, &p))
            rewatch(n, cn, (uint8_t)(k + 1), &p, sw->last_zxid);
    }
    return 0;
}

static int watch_req(struct node *n, struct nconn *cn,
                     const struct wire_req *q)
{
    const struct wire_watch_req *w = &q->u.watch;
    if (tree_path_validate(w->path.ptr, w->path.len) != 0)
        return COORD_EBADPATH;
    if (q->op == WIRE_OP_REMOVE_WATCH)
        return watch_remove(&n->watches, &cn->sess->wo, w->path.ptr,
                            w->path.len, (uint8_t)w->kind);
    if (w->kind != COORD_WATCH_PERSISTENT &&
        w->kind != COORD_WATCH_PERSISTENT_RECURSIVE)
        return COORD_EINVAL;
    return watch_add(&n->watches, &cn->sess->wo, w->path.ptr, w->path.len,
                     (uint8_t)w->kind);
}

/* ---- dispatch ------------------------------------------------------------ */

static void start_read(struct node *n, struct nconn *cn, struct nreq *rq,
                       const struct wire_req *q, const uint8_t *msg,
                       size_t len)
{
    rq->frame = coord_malloc(len);
    if (!rq->frame) {
        node_fail_req(n, rq, COORD_ENOMEM);
        return;
    }
    memcpy(rq->frame, msg, len);
    rq->frame_len = len;
    rq->state = NREQ_READ;
    uint32_t flags = q->op == WIRE_OP_CHILDREN ? q->u.children.flags
                     : q->op == WIRE_OP_SYNC   ? 0
                                               : q->u.read.flags;
    if (!(flags & WIRE_READ_LOCAL)) {
        /* Linearizable: wait for a read index. Every read of this loop
         * iteration shares one (one heartbeat round for all). */
        if (!n->open_read_id)
            n->open_read_id = ++n->next_read_id;
        rq->read_id = n->open_read_id;
        rq->waiting = true;
        rq->next_wait = n->reads;
        n->reads = rq;
    }
    node_conn_drain(cn);
}

static void dispatch(struct node *n, struct nconn *cn, struct nreq *rq,
                     const struct wire_req *q, const uint8_t *msg,
                     size_t len)
{
    switch (q->op) {
    case WIRE_OP_PING:
        node_fail_req(n, rq, 0); /* an empty success reply */
        break;
    case WIRE_OP_CLOSE:
    case WIRE_OP_CREATE:
    case WIRE_OP_DELETE:
    case WIRE_OP_SET:
    case WIRE_OP_CHECK:
    case WIRE_OP_MULTI:
        start_write(n, cn, rq, q);
        break;
    case WIRE_OP_EXISTS:
    case WIRE_OP_GET:
    case WIRE_OP_CHILDREN:
    case WIRE_OP_SYNC:
        start_read(n, cn, rq, q, msg, len);
        break;
    case WIRE_OP_ADD_WATCH:
    case WIRE_OP_REMOVE_WATCH:
        node_fail_req(n, rq, watch_req(n, cn, q));
        break;
    case WIRE_OP_SET_WATCHES:
        node_fail_req(n, rq, set_watches(n, cn, &q->u.set_watches));
        break;
    case WIRE_OP_STATUS:
    case WIRE_OP_MEMBER_ADD:
    case WIRE_OP_MEMBER_PROMOTE:
    case WIRE_OP_MEMBER_REMOVE:
    case WIRE_OP_LEADER_TRANSFER:
    case WIRE_OP_SESSIONS:
    case WIRE_OP_SNAPSHOT_READ:
    case WIRE_OP_STATS:
        node_admin_request(n, rq, q);
        break;
    default: /* HELLO again, or a server-only opcode */
        fail_and_close(n, cn, rq, COORD_EPROTO);
        break;
    }
}

static bool ping_now(struct node *n, struct nconn *cn,
                     const struct wire_req *q);

int node_on_frame(void *data, struct net_conn *c, const uint8_t *msg,
                  size_t len)
{
    struct node *n = data;
    struct nconn *cn = net_conn_data(c);
    if (cn->close_after)
        return 0; /* closing: ignore what follows */
    struct wire_req q;
    int rc = wire_decode_req(msg, len, &n->cfg.limits, &q);
    if (rc == 0 && ping_now(n, cn, &q))
        return 0;
    struct nreq *rq = nreq_new(cn, q.op ? q.op : WIRE_OP_PING, q.xid);
    if (!rq)
        return COORD_ENOMEM;
    if (rc) {
        if (rc == COORD_ENOTSUP)
            node_fail_req(n, rq, rc);
        else /* a malformed frame ends the connection */
            fail_and_close(n, cn, rq, rc);
        return 0;
    }
    if (!cn->sess) {
        if (q.op == WIRE_OP_HELLO && !cn->hello_seen) {
            on_hello(n, cn, rq, &q.u.hello, msg, len);
        } else {
            fail_and_close(n, cn, rq, COORD_EPROTO);
        }
        return 0;
    }
    node_session_touch(n, cn->sess);
    dispatch(n, cn, rq, &q, msg, len);
    return 0;
}

/* A PING is answered at once, ahead of requests still in the FIFO: it has
 * no effect to order, and a client judges the server alive by it, so a
 * slow fsync behind earlier writes must not make a live server look hung
 * (protocol.md: PING replies are not ordered). */
static bool ping_now(struct node *n, struct nconn *cn,
                     const struct wire_req *q)
{
    if (q->op != WIRE_OP_PING || !cn->sess)
        return false;
    node_session_touch(n, cn->sess);
    struct wire_resp resp = {.op = WIRE_OP_PING, .xid = q->xid};
    encode_resp(n, net_conn_out(cn->nc), &resp);
    net_conn_mark(cn->nc);
    return true;
}

int node_on_accept(void *data, struct net_conn *c)
{
    struct node *n = data;
    if (n->shed_clients)
        return COORD_EUNAVAILABLE; /* no leader here: try another member */
    struct nconn *cn = coord_calloc(1, sizeof(*cn));
    if (!cn)
        return COORD_ENOMEM;
    cn->node = n;
    cn->nc = c;
    net_conn_set_data(c, cn);
    n->n_conns++;
    return 0;
}

void node_on_close(void *data, struct net_conn *c, int reason)
{
    struct node *n = data;
    (void)reason;
    if (net_conn_is_peer(c))
        return; /* a peer's link: nothing of ours hangs on it */
    struct nconn *cn = net_conn_data(c);
    struct nreq *rq = cn->head;
    while (rq) {
        struct nreq *next = rq->next;
        if (rq->state == NREQ_WRITE || rq->waiting)
            rq->conn = NULL; /* freed when its entry or index arrives */
        else
            nreq_free(rq);
        rq = next;
    }
    if (cn->sess) {
        /* Watches live with the connection; the client re-registers them
         * (SET_WATCHES) when it resumes the session. */
        watch_remove_owner(&n->watches, &cn->sess->wo);
        cn->sess->conn = NULL;
    }
    n->n_conns--;
    coord_free(cn);
}

/* Frees requests still waiting at shutdown (connections are gone). */
void node_requests_free(struct node *n)
{
    while (n->wq_head) {
        struct nreq *rq = n->wq_head;
        n->wq_head = rq->next_wait;
        nreq_free(rq);
    }
    n->wq_tail = NULL;
    while (n->reads) {
        struct nreq *rq = n->reads;
        n->reads = rq->next_wait;
        nreq_free(rq);
    }
    for (uint32_t i = 0; i < n->n_prop; i++)
        nreq_free(n->preqs[i]);
    n->n_prop = 0;
}
