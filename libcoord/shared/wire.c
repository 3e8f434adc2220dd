/* wire.c -- the client protocol codec (see wire.h for the frame table and
 * docs/protocol.md for the specification). Linked into coordd and libcoord.
 *
 * The msgpack itself is mp.c's (canonical encoding, bounded reader); this
 * file is the protocol on top: message layouts, limits, opcodes. The
 * encoder checks the frame limit as bytes are appended. The decoder never
 * allocates, never recurses (the layout is fixed, so no generic value is
 * ever skipped), checks every length against the limits before using it,
 * and reports the first error. It must not assert on input bytes;
 * coord_assert guards only the caller's side.
 */
#include "wire.h"

#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "libcoord/shared/mp.h"

/* ---- Opcode table ------------------------------------------------------ */

struct op_info {
    uint32_t op;
    const char *name;
    int req_fields;
    int resp_fields;
};

static const struct op_info op_table[] = {
#define WIRE__OP_INFO(name, num, str, rq, rs) {(num), (str), (rq), (rs)},
    WIRE_OP_MAP(WIRE__OP_INFO)
#undef WIRE__OP_INFO
};

static const struct op_info *op_find(uint32_t op)
{
    for (size_t i = 0; i < COORD_ARRAY_LEN(op_table); i++)
        if (op_table[i].op == op)
            return &op_table[i];
    return NULL;
}

const char *wire_op_name(uint32_t op)
{
    const struct op_info *info = op_find(op);
    return info ? info->name : NULL;
}

void wire_limits_default(struct wire_limits *lim)
{
    lim->frame_bytes_max = COORD_FRAME_BYTES_MAX;
    lim->data_bytes_max = COORD_DATA_BYTES_MAX;
    lim->path_bytes_max = COORD_PATH_BYTES_MAX;
    lim->multi_ops_max = COORD_MULTI_OPS_MAX;
    lim->children_page_max = COORD_CHILDREN_PAGE_MAX;
}

static bool in_range(uint64_t v, uint64_t max)
{
    return v >= 1 && v <= max;
}

int wire_limits_check(const struct wire_limits *lim)
{
    if (!in_range(lim->frame_bytes_max, COORD_FRAME_BYTES_MAX) ||
        !in_range(lim->data_bytes_max, COORD_DATA_BYTES_MAX) ||
        !in_range(lim->path_bytes_max, COORD_PATH_BYTES_MAX) ||
        !in_range(lim->multi_ops_max, COORD_MULTI_OPS_MAX) ||
        !in_range(lim->children_page_max, COORD_CHILDREN_PAGE_MAX))
        return COORD_EINVAL;
    return 0;
}

/* ---- Frames ------------------------------------------------------------ */

static bool is_array_head(uint8_t c)
{
    return (c & 0xf0) == 0x90 || c == 0xdc || c == 0xdd;
}

int wire_frame_check(const uint8_t *buf, size_t len, uint32_t frame_max,
                     size_t *frame_bytes)
{
    if (len < WIRE_PREFIX_BYTES) {
        *frame_bytes = WIRE_PREFIX_BYTES;
        return COORD_EAGAIN;
    }
    uint64_t body = mp_load_be(buf, WIRE_PREFIX_BYTES);
    if (body > frame_max)
        return COORD_ETOOBIG;
    if (body == 0)
        return COORD_EPROTO;
    *frame_bytes = WIRE_PREFIX_BYTES + (size_t)body;
    if (len > WIRE_PREFIX_BYTES && !is_array_head(buf[WIRE_PREFIX_BYTES]))
        return COORD_EPROTO;
    return len >= *frame_bytes ? 0 : COORD_EAGAIN;
}

/* ---- Output buffer ----------------------------------------------------- */

void wire_buf_init(struct wire_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void wire_buf_init_fixed(struct wire_buf *b, uint8_t *mem, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->data = mem;
    b->cap = cap;
    b->max = cap;
    b->fixed = true;
}

void wire_buf_reset(struct wire_buf *b)
{
    b->len = 0;
}

void wire_buf_consume(struct wire_buf *b, size_t n)
{
    coord_assert(n <= b->len);
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void wire_buf_free(struct wire_buf *b)
{
    if (!b->fixed)
        coord_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* ---- Field encoders: each checks what the decoder checks --------------- */

static void enc_str(struct wire_buf *b, struct wire_bytes v, uint32_t max)
{
    if (v.len > max)
        mp_write_fail(b, COORD_ETOOBIG);
    mp_write_str(b, v.ptr, v.len);
}

static void enc_path(struct wire_buf *b, const struct wire_limits *lim,
                     struct wire_bytes v)
{
    enc_str(b, v, lim->path_bytes_max);
}

static void enc_data(struct wire_buf *b, const struct wire_limits *lim,
                     struct wire_bytes v)
{
    if (v.len > lim->data_bytes_max)
        mp_write_fail(b, COORD_ETOOBIG);
    mp_write_bin(b, v.ptr, v.len);
}

static void enc_version(struct wire_buf *b, int32_t version)
{
    if (version < -1)
        mp_write_fail(b, COORD_EINVAL);
    mp_write_int(b, version);
}

static void enc_flags(struct wire_buf *b, uint32_t flags, uint32_t all)
{
    if (flags & ~all)
        mp_write_fail(b, COORD_EINVAL);
    mp_write_uint(b, flags);
}

static void enc_stat(struct wire_buf *b, const struct coord_stat *s)
{
    mp_write_array(b, WIRE_STAT_FIELDS);
    mp_write_uint(b, s->czxid);
    mp_write_uint(b, s->mzxid);
    mp_write_uint(b, s->pzxid);
    mp_write_int(b, s->ctime_ms);
    mp_write_int(b, s->mtime_ms);
    mp_write_int(b, s->version);
    mp_write_int(b, s->cversion);
    mp_write_int(b, s->aversion);
    mp_write_uint(b, s->ephemeral_owner);
    mp_write_uint(b, s->data_length);
    mp_write_uint(b, s->num_children);
}

static void enc_create_fields(struct wire_buf *b,
                              const struct wire_limits *lim,
                              const struct wire_create *c)
{
    enc_path(b, lim, c->path);
    enc_data(b, lim, c->data);
    enc_flags(b, c->mode, WIRE_CREATE_MODES_ALL);
    mp_write_uint(b, c->ttl_ms);
    mp_write_nil(b); /* ACL: reserved, nil in protocol version 1 */
}

static void enc_op(struct wire_buf *b, const struct wire_limits *lim,
                   const struct wire_multi_op *o)
{
    struct wire_create c = {o->path, o->data, o->mode, o->ttl_ms};
    switch (o->op) {
    case WIRE_OP_CREATE:
        mp_write_array(b, 6);
        mp_write_uint(b, o->op);
        enc_create_fields(b, lim, &c);
        break;
    case WIRE_OP_SET:
        mp_write_array(b, 4);
        mp_write_uint(b, o->op);
        enc_path(b, lim, o->path);
        enc_data(b, lim, o->data);
        enc_version(b, o->version);
        break;
    case WIRE_OP_DELETE:
    case WIRE_OP_CHECK:
        mp_write_array(b, 3);
        mp_write_uint(b, o->op);
        enc_path(b, lim, o->path);
        enc_version(b, o->version);
        break;
    default:
        mp_write_fail(b, COORD_EINVAL);
    }
}

static void enc_ops(struct wire_buf *b, const struct wire_limits *lim,
                    const struct wire_multi_req *m)
{
    if (m->n > lim->multi_ops_max) {
        mp_write_fail(b, COORD_ETOOMANY);
        return;
    }
    struct wire_iter it = m->it;
    mp_write_array(b, m->n);
    for (uint32_t i = 0; i < m->n && !b->err; i++) {
        struct wire_multi_op o;
        memset(&o, 0, sizeof(o));
        if (m->ops)
            o = m->ops[i];
        else if (!wire_next_op(&it, &o))
            mp_write_fail(b, COORD_EINVAL);
        enc_op(b, lim, &o);
    }
}

static void enc_paths(struct wire_buf *b, const struct wire_limits *lim,
                      const struct wire_paths *ps)
{
    struct wire_iter it = ps->it;
    mp_write_array(b, ps->n);
    for (uint32_t i = 0; i < ps->n && !b->err; i++) {
        struct wire_bytes p = {NULL, 0};
        if (ps->paths)
            p = ps->paths[i];
        else if (!wire_next_path(&it, &p))
            mp_write_fail(b, COORD_EINVAL);
        enc_path(b, lim, p);
    }
}

static void enc_hello(struct wire_buf *b, const struct wire_hello *h)
{
    uint32_t want = h->session_id ? COORD_SECRET_BYTES : 0;
    if (h->secret.len != want)
        mp_write_fail(b, COORD_EINVAL);
    mp_write_uint(b, h->version);
    mp_write_uint(b, h->session_id);
    mp_write_bin(b, h->secret.ptr, h->secret.len);
    mp_write_uint(b, h->timeout_ms);
    mp_write_uint(b, h->last_zxid);
    mp_write_uint(b, h->flags); /* unknown bits allowed: see rd_hello */
}

static void enc_children_req(struct wire_buf *b,
                             const struct wire_limits *lim,
                             const struct wire_children_req *c)
{
    enc_path(b, lim, c->path);
    enc_flags(b, c->flags, WIRE_READ_FLAGS_ALL);
    enc_path(b, lim, c->start_after);
    if (c->max_count > lim->children_page_max)
        mp_write_fail(b, COORD_ETOOMANY);
    mp_write_uint(b, c->max_count);
}

static void enc_watch_req(struct wire_buf *b, const struct wire_limits *lim,
                          uint32_t op, const struct wire_watch_req *w)
{
    uint32_t lo = op == WIRE_OP_ADD_WATCH ? COORD_WATCH_PERSISTENT
                                          : COORD_WATCH_DATA;
    if (w->kind < lo || w->kind > COORD_WATCH_PERSISTENT_RECURSIVE)
        mp_write_fail(b, COORD_EINVAL);
    enc_path(b, lim, w->path);
    mp_write_uint(b, w->kind);
}

/* Member ids are non-zero except LEADER_TRANSFER's 0 (= best voter). */
static void enc_member_req(struct wire_buf *b, uint32_t op,
                           const struct wire_member_req *m)
{
    if (m->id == 0 && op != WIRE_OP_LEADER_TRANSFER)
        mp_write_fail(b, COORD_EINVAL);
    mp_write_uint(b, m->id);
    if (op != WIRE_OP_MEMBER_ADD)
        return;
    if (m->client_addr.len == 0 || m->peer_addr.len == 0)
        mp_write_fail(b, COORD_EINVAL);
    enc_str(b, m->client_addr, WIRE_ADDR_BYTES_MAX);
    enc_str(b, m->peer_addr, WIRE_ADDR_BYTES_MAX);
}

static void enc_req_body(struct wire_buf *b, const struct wire_limits *lim,
                         const struct wire_req *r)
{
    switch (r->op) {
    case WIRE_OP_HELLO:
        enc_hello(b, &r->u.hello);
        break;
    case WIRE_OP_CREATE:
        enc_create_fields(b, lim, &r->u.create);
        break;
    case WIRE_OP_DELETE:
    case WIRE_OP_CHECK:
        enc_path(b, lim, r->u.pv.path);
        enc_version(b, r->u.pv.version);
        break;
    case WIRE_OP_EXISTS:
    case WIRE_OP_GET:
        enc_path(b, lim, r->u.read.path);
        enc_flags(b, r->u.read.flags, WIRE_READ_WATCH | WIRE_READ_LOCAL);
        break;
    case WIRE_OP_SET:
        enc_path(b, lim, r->u.set.path);
        enc_data(b, lim, r->u.set.data);
        enc_version(b, r->u.set.version);
        break;
    case WIRE_OP_CHILDREN:
        enc_children_req(b, lim, &r->u.children);
        break;
    case WIRE_OP_MULTI:
        enc_ops(b, lim, &r->u.multi);
        break;
    case WIRE_OP_SYNC:
        enc_path(b, lim, r->u.path);
        break;
    case WIRE_OP_ADD_WATCH:
    case WIRE_OP_REMOVE_WATCH:
        enc_watch_req(b, lim, r->op, &r->u.watch);
        break;
    case WIRE_OP_SET_WATCHES:
        mp_write_uint(b, r->u.set_watches.last_zxid);
        for (int k = 0; k < WIRE_WATCH_KINDS; k++)
            enc_paths(b, lim, &r->u.set_watches.kinds[k]);
        break;
    case WIRE_OP_MEMBER_ADD:
    case WIRE_OP_MEMBER_PROMOTE:
    case WIRE_OP_MEMBER_REMOVE:
    case WIRE_OP_LEADER_TRANSFER:
        enc_member_req(b, r->op, &r->u.member);
        break;
    case WIRE_OP_SESSIONS:
        mp_write_uint(b, r->u.start_after);
        break;
    case WIRE_OP_SNAPSHOT_READ:
        mp_write_uint(b, r->u.snapshot.export_id);
        mp_write_uint(b, r->u.snapshot.offset);
        break;
    default: /* CLOSE, PING, STATUS: no body */
        break;
    }
}

/* Starts a frame at the end of b under the frame limit of lim. */
static size_t frame_begin(struct wire_buf *b, const struct wire_limits *lim)
{
    return mp_frame_begin(b, lim->frame_bytes_max);
}

/* Completes the frame begun at start, or removes it after an error. */
static int frame_end(struct wire_buf *b, size_t start)
{
    return mp_frame_end(b, start);
}

int wire_encode_req(struct wire_buf *b, const struct wire_req *req,
                    const struct wire_limits *lim)
{
    const struct op_info *info = op_find(req->op);
    if (!info || info->req_fields < 0 || req->xid < 0)
        return COORD_EINVAL;
    size_t start = frame_begin(b, lim);
    mp_write_array(b, 2 + (uint32_t)info->req_fields);
    mp_write_uint(b, req->op);
    mp_write_int(b, req->xid);
    enc_req_body(b, lim, req);
    return frame_end(b, start);
}

static void enc_result(struct wire_buf *b, const struct wire_limits *lim,
                       const struct wire_op_result *r)
{
    bool ok = r->err == 0;
    if (r->err > 0 || (r->op != WIRE_OP_CREATE && r->op != WIRE_OP_SET &&
                       r->op != WIRE_OP_DELETE && r->op != WIRE_OP_CHECK))
        mp_write_fail(b, COORD_EINVAL);
    if (ok && r->op == WIRE_OP_CREATE)
        mp_write_array(b, 4);
    else if (ok && r->op == WIRE_OP_SET)
        mp_write_array(b, 3);
    else
        mp_write_array(b, 2);
    mp_write_uint(b, r->op);
    mp_write_int(b, r->err);
    if (ok && r->op == WIRE_OP_CREATE)
        enc_path(b, lim, r->path);
    if (ok && (r->op == WIRE_OP_CREATE || r->op == WIRE_OP_SET))
        enc_stat(b, &r->stat);
}

static void enc_results(struct wire_buf *b, const struct wire_limits *lim,
                        const struct wire_multi_resp *m)
{
    if (m->n > lim->multi_ops_max) {
        mp_write_fail(b, COORD_ETOOMANY);
        return;
    }
    struct wire_iter it = m->it;
    mp_write_array(b, m->n);
    for (uint32_t i = 0; i < m->n && !b->err; i++) {
        struct wire_op_result r;
        memset(&r, 0, sizeof(r));
        if (m->results)
            r = m->results[i];
        else if (!wire_next_result(&it, &r))
            mp_write_fail(b, COORD_EINVAL);
        enc_result(b, lim, &r);
    }
}

static void enc_children_resp(struct wire_buf *b,
                              const struct wire_limits *lim,
                              const struct wire_children_resp *c)
{
    if (c->n > lim->children_page_max) {
        mp_write_fail(b, COORD_ETOOMANY);
        return;
    }
    struct wire_iter it = c->it;
    mp_write_bool(b, c->more);
    mp_write_bool(b, c->with_stats);
    mp_write_array(b, c->n);
    for (uint32_t i = 0; i < c->n && !b->err; i++) {
        struct wire_child e;
        memset(&e, 0, sizeof(e));
        if (c->entries)
            e = c->entries[i];
        else if (!wire_next_child(&it, &e))
            mp_write_fail(b, COORD_EINVAL);
        if (c->with_stats)
            mp_write_array(b, 2);
        enc_path(b, lim, e.name);
        if (c->with_stats)
            enc_stat(b, &e.stat);
    }
}

static void enc_hello_reply(struct wire_buf *b,
                            const struct wire_hello_reply *h)
{
    if (h->secret.len != COORD_SECRET_BYTES ||
        wire_limits_check(&h->limits) != 0)
        mp_write_fail(b, COORD_EINVAL);
    mp_write_uint(b, h->version);
    mp_write_uint(b, h->session_id);
    mp_write_bin(b, h->secret.ptr, h->secret.len);
    mp_write_uint(b, h->timeout_ms);
    mp_write_uint(b, h->limits.frame_bytes_max);
    mp_write_uint(b, h->limits.data_bytes_max);
    mp_write_uint(b, h->limits.path_bytes_max);
    mp_write_uint(b, h->limits.multi_ops_max);
    mp_write_uint(b, h->limits.children_page_max);
    mp_write_uint(b, h->server_id);
    mp_write_uint(b, h->leader_id);
    enc_flags(b, h->flags, WIRE_HELLO_FLAGS_ALL);
}

static void enc_member(struct wire_buf *b, const struct wire_member *m)
{
    if (m->id == 0 ||
        (m->role != WIRE_ROLE_VOTER && m->role != WIRE_ROLE_LEARNER))
        mp_write_fail(b, COORD_EINVAL);
    mp_write_array(b, 5);
    mp_write_uint(b, m->id);
    mp_write_uint(b, m->role);
    enc_str(b, m->addr, WIRE_ADDR_BYTES_MAX);
    mp_write_uint(b, m->match);
    mp_write_uint(b, m->lag);
}

static void enc_status(struct wire_buf *b, const struct wire_status *s)
{
    const uint64_t f[] = {s->server_id,  s->role,       s->term,
                          s->leader_id,  s->commit,     s->applied,
                          s->last_index, s->snap_index, s->sessions,
                          s->watches,    s->connections,
                          s->digest_mismatches};
    for (size_t i = 0; i < COORD_ARRAY_LEN(f); i++)
        mp_write_uint(b, f[i]);
    if (s->n > WIRE_MEMBERS_MAX) {
        mp_write_fail(b, COORD_ETOOMANY);
        return;
    }
    struct wire_iter it = s->it;
    mp_write_array(b, s->n);
    for (uint32_t i = 0; i < s->n && !b->err; i++) {
        struct wire_member m;
        memset(&m, 0, sizeof(m));
        if (s->members)
            m = s->members[i];
        else if (!wire_next_member(&it, &m))
            mp_write_fail(b, COORD_EINVAL);
        enc_member(b, &m);
    }
}

static void enc_stats(struct wire_buf *b, const struct wire_stats *s)
{
    const uint64_t f[] = {s->requests,     s->writes,       s->reads,
                          s->errors,       s->fsyncs,       s->fsync_p99_us,
                          s->write_p99_us, s->leader_changes};
    for (size_t i = 0; i < COORD_ARRAY_LEN(f); i++)
        mp_write_uint(b, f[i]);
}

static void enc_sessions(struct wire_buf *b, const struct wire_sessions *s)
{
    mp_write_bool(b, s->more);
    if (s->n > WIRE_SESSIONS_PAGE_MAX) {
        mp_write_fail(b, COORD_ETOOMANY);
        return;
    }
    struct wire_iter it = s->it;
    mp_write_array(b, s->n);
    for (uint32_t i = 0; i < s->n && !b->err; i++) {
        struct wire_session e;
        memset(&e, 0, sizeof(e));
        if (s->sessions)
            e = s->sessions[i];
        else if (!wire_next_session(&it, &e))
            mp_write_fail(b, COORD_EINVAL);
        if (e.id == 0)
            mp_write_fail(b, COORD_EINVAL);
        mp_write_array(b, 4);
        mp_write_uint(b, e.id);
        mp_write_uint(b, e.timeout_ms);
        mp_write_uint(b, e.ephemerals);
        mp_write_uint(b, e.server_id);
    }
}

static void enc_snapshot_chunk(struct wire_buf *b,
                               const struct wire_limits *lim,
                               const struct wire_snapshot_chunk *c)
{
    if (c->export_id == 0 || c->chunk.len > WIRE_SNAPSHOT_CHUNK_BYTES)
        mp_write_fail(b, COORD_EINVAL);
    mp_write_uint(b, c->export_id);
    mp_write_uint(b, c->index);
    mp_write_uint(b, c->total);
    mp_write_uint(b, c->sum);
    enc_data(b, lim, c->chunk);
}

static void enc_resp_body(struct wire_buf *b, const struct wire_limits *lim,
                          const struct wire_resp *r)
{
    switch (r->op) {
    case WIRE_OP_HELLO:
        enc_hello_reply(b, &r->u.hello);
        break;
    case WIRE_OP_CREATE:
        enc_path(b, lim, r->u.created.path);
        enc_stat(b, &r->u.created.stat);
        break;
    case WIRE_OP_EXISTS:
    case WIRE_OP_SET:
        enc_stat(b, &r->u.stat);
        break;
    case WIRE_OP_GET:
        enc_data(b, lim, r->u.get.data);
        enc_stat(b, &r->u.get.stat);
        break;
    case WIRE_OP_CHILDREN:
        enc_children_resp(b, lim, &r->u.children);
        break;
    case WIRE_OP_MULTI:
        enc_results(b, lim, &r->u.multi);
        break;
    case WIRE_OP_WATCH_EVENT:
        if (r->u.event.type < COORD_EVENT_CREATED ||
            r->u.event.type > COORD_EVENT_MUST_REREAD)
            mp_write_fail(b, COORD_EINVAL);
        mp_write_uint(b, r->u.event.type);
        enc_path(b, lim, r->u.event.path);
        break;
    case WIRE_OP_STATUS:
        enc_status(b, &r->u.status);
        break;
    case WIRE_OP_SESSIONS:
        enc_sessions(b, &r->u.sessions);
        break;
    case WIRE_OP_STATS:
        enc_stats(b, &r->u.stats);
        break;
    case WIRE_OP_SNAPSHOT_READ:
        enc_snapshot_chunk(b, lim, &r->u.snapshot);
        break;
    default: /* no body */
        break;
    }
}

int wire_encode_resp(struct wire_buf *b, const struct wire_resp *resp,
                     const struct wire_limits *lim)
{
    const struct op_info *info = op_find(resp->op);
    bool event = resp->op == WIRE_OP_WATCH_EVENT;
    int fields = resp->err != 0 ? 0 : info ? info->resp_fields : -1;
    if (resp->op < 1 || resp->op > WIRE_OP_MAX || resp->err > 0 ||
        fields < 0 || (event && resp->err != 0))
        return COORD_EINVAL;
    if (event ? resp->xid != WIRE_XID_EVENT : resp->xid < 0)
        return COORD_EINVAL;
    size_t start = frame_begin(b, lim);
    mp_write_array(b, 4 + (uint32_t)fields);
    mp_write_uint(b, resp->op);
    mp_write_int(b, resp->xid);
    mp_write_uint(b, resp->zxid);
    mp_write_int(b, resp->err);
    if (resp->err == 0)
        enc_resp_body(b, lim, resp);
    return frame_end(b, start);
}

/* ---- msgpack reader (mp.h) -------------------------------------------- */

static struct wire_bytes rd_blob(struct mp_reader *r, bool str, uint32_t max)
{
    uint32_t len;
    const uint8_t *q = str ? mp_read_str(r, max, &len)
                           : mp_read_bin(r, max, &len);
    struct wire_bytes v = {(const char *)q, len};
    return v;
}

/* ---- Field decoders ---------------------------------------------------- */

static struct wire_bytes rd_path(struct mp_reader *r,
                                 const struct wire_limits *lim)
{
    return rd_blob(r, true, lim->path_bytes_max);
}

static struct wire_bytes rd_data(struct mp_reader *r,
                                 const struct wire_limits *lim)
{
    return rd_blob(r, false, lim->data_bytes_max);
}

static int32_t rd_version(struct mp_reader *r)
{
    return (int32_t)mp_read_sint(r, -1, INT32_MAX);
}

static uint32_t rd_flags(struct mp_reader *r, uint32_t all)
{
    uint32_t f = (uint32_t)mp_read_uint(r, UINT32_MAX);
    if (f & ~all)
        mp_read_fail(r, COORD_EPROTO);
    return f;
}

static void rd_stat(struct mp_reader *r, struct coord_stat *s)
{
    mp_read_arity(r, WIRE_STAT_FIELDS);
    s->czxid = mp_read_uint(r, UINT64_MAX);
    s->mzxid = mp_read_uint(r, UINT64_MAX);
    s->pzxid = mp_read_uint(r, UINT64_MAX);
    s->ctime_ms = mp_read_sint(r, INT64_MIN, INT64_MAX);
    s->mtime_ms = mp_read_sint(r, INT64_MIN, INT64_MAX);
    s->version = (int32_t)mp_read_sint(r, INT32_MIN, INT32_MAX);
    s->cversion = (int32_t)mp_read_sint(r, INT32_MIN, INT32_MAX);
    s->aversion = (int32_t)mp_read_sint(r, INT32_MIN, INT32_MAX);
    s->ephemeral_owner = mp_read_uint(r, UINT64_MAX);
    s->data_length = (uint32_t)mp_read_uint(r, UINT32_MAX);
    s->num_children = (uint32_t)mp_read_uint(r, UINT32_MAX);
}

static void rd_create_fields(struct mp_reader *r, const struct wire_limits *lim,
                             struct wire_create *c)
{
    c->path = rd_path(r, lim);
    c->data = rd_data(r, lim);
    c->mode = rd_flags(r, WIRE_CREATE_MODES_ALL);
    c->ttl_ms = mp_read_uint(r, UINT64_MAX);
    mp_read_nil(r);
}

/* Fields of a MULTI op after the array head: [op, ...]. */
static void rd_op(struct mp_reader *r, const struct wire_limits *lim,
                  struct wire_multi_op *o)
{
    memset(o, 0, sizeof(*o));
    uint32_t n = mp_read_array(r);
    o->op = (uint32_t)mp_read_uint(r, WIRE_OP_MAX);
    uint32_t want = o->op == WIRE_OP_CREATE ? 6
                    : o->op == WIRE_OP_SET  ? 4
                    : o->op == WIRE_OP_DELETE || o->op == WIRE_OP_CHECK
                        ? 3
                        : 0;
    if (!r->err && (want == 0 || n != want))
        mp_read_fail(r, COORD_EPROTO);
    if (o->op == WIRE_OP_CREATE) {
        struct wire_create c;
        rd_create_fields(r, lim, &c);
        o->path = c.path;
        o->data = c.data;
        o->mode = c.mode;
        o->ttl_ms = c.ttl_ms;
        return;
    }
    o->path = rd_path(r, lim);
    if (o->op == WIRE_OP_SET)
        o->data = rd_data(r, lim);
    o->version = rd_version(r);
}

static void rd_result(struct mp_reader *r, const struct wire_limits *lim,
                      struct wire_op_result *o)
{
    memset(o, 0, sizeof(*o));
    uint32_t n = mp_read_array(r);
    o->op = (uint32_t)mp_read_uint(r, WIRE_OP_MAX);
    o->err = (int32_t)mp_read_sint(r, INT32_MIN, 0);
    bool ok = o->err == 0;
    uint32_t want = ok && o->op == WIRE_OP_CREATE ? 4
                    : ok && o->op == WIRE_OP_SET  ? 3
                                                  : 2;
    if (o->op != WIRE_OP_CREATE && o->op != WIRE_OP_SET &&
        o->op != WIRE_OP_DELETE && o->op != WIRE_OP_CHECK)
        mp_read_fail(r, COORD_EPROTO);
    if (!r->err && n != want)
        mp_read_fail(r, COORD_EPROTO);
    if (ok && o->op == WIRE_OP_CREATE)
        o->path = rd_path(r, lim);
    if (ok && (o->op == WIRE_OP_CREATE || o->op == WIRE_OP_SET))
        rd_stat(r, &o->stat);
}

static void rd_child(struct mp_reader *r, const struct wire_iter *it,
                     struct wire_child *c)
{
    memset(c, 0, sizeof(*c));
    if (it->with_stats)
        mp_read_arity(r, 2);
    c->name = rd_path(r, &it->lim);
    if (it->with_stats)
        rd_stat(r, &c->stat);
}

static void rd_member(struct mp_reader *r, struct wire_member *m)
{
    memset(m, 0, sizeof(*m));
    mp_read_arity(r, 5);
    m->id = mp_read_uint(r, UINT64_MAX);
    m->role = (uint32_t)mp_read_uint(r, WIRE_ROLE_LEARNER);
    if (!r->err && (m->id == 0 || m->role < WIRE_ROLE_VOTER))
        mp_read_fail(r, COORD_EPROTO);
    m->addr = rd_blob(r, true, WIRE_ADDR_BYTES_MAX);
    m->match = mp_read_uint(r, UINT64_MAX);
    m->lag = mp_read_uint(r, UINT64_MAX);
}

static void rd_session(struct mp_reader *r, struct wire_session *e)
{
    memset(e, 0, sizeof(*e));
    mp_read_arity(r, 4);
    e->id = mp_read_uint(r, UINT64_MAX);
    if (!r->err && e->id == 0)
        mp_read_fail(r, COORD_EPROTO);
    e->timeout_ms = (uint32_t)mp_read_uint(r, UINT32_MAX);
    e->ephemerals = (uint32_t)mp_read_uint(r, UINT32_MAX);
    e->server_id = mp_read_uint(r, UINT64_MAX);
}

enum item_kind {
    ITEM_OP,
    ITEM_RESULT,
    ITEM_CHILD,
    ITEM_PATH,
    ITEM_MEMBER,
    ITEM_SESSION
};

static void rd_item(struct mp_reader *r, const struct wire_iter *it,
                    enum item_kind kind, void *out)
{
    switch (kind) {
    case ITEM_OP:
        rd_op(r, &it->lim, out);
        break;
    case ITEM_RESULT:
        rd_result(r, &it->lim, out);
        break;
    case ITEM_CHILD:
        rd_child(r, it, out);
        break;
    case ITEM_PATH:
        *(struct wire_bytes *)out = rd_path(r, &it->lim);
        break;
    case ITEM_MEMBER:
        rd_member(r, out);
        break;
    case ITEM_SESSION:
        rd_session(r, out);
        break;
    }
}

/* Validates a whole list of at most max items and sets up its iterator;
 * per-item output goes to a scratch item and is read again by next(). */
static uint32_t rd_list(struct mp_reader *r, const struct wire_limits *lim,
                        uint32_t max, enum item_kind kind, bool with_stats,
                        struct wire_iter *it)
{
    union {
        struct wire_multi_op op;
        struct wire_op_result result;
        struct wire_child child;
        struct wire_bytes path;
        struct wire_member member;
        struct wire_session session;
    } scratch;
    uint32_t n = mp_read_array(r);
    if (n > max)
        mp_read_fail(r, COORD_ETOOMANY);
    it->pos = r->p;
    it->with_stats = with_stats;
    it->lim = *lim;
    for (uint32_t i = 0; i < n && !r->err; i++)
        rd_item(r, it, kind, &scratch);
    it->end = r->p;
    it->left = r->err ? 0 : n;
    return it->left;
}

static bool it_next(struct wire_iter *it, enum item_kind kind, void *out)
{
    if (it->left == 0)
        return false;
    struct mp_reader r = {it->pos, it->end, 0};
    rd_item(&r, it, kind, out);
    if (r.err) {
        it->left = 0;
        return false;
    }
    it->pos = r.p;
    it->left--;
    return true;
}

bool wire_next_op(struct wire_iter *it, struct wire_multi_op *out)
{
    return it_next(it, ITEM_OP, out);
}

bool wire_next_result(struct wire_iter *it, struct wire_op_result *out)
{
    return it_next(it, ITEM_RESULT, out);
}

bool wire_next_child(struct wire_iter *it, struct wire_child *out)
{
    return it_next(it, ITEM_CHILD, out);
}

bool wire_next_path(struct wire_iter *it, struct wire_bytes *out)
{
    return it_next(it, ITEM_PATH, out);
}

bool wire_next_member(struct wire_iter *it, struct wire_member *out)
{
    return it_next(it, ITEM_MEMBER, out);
}

bool wire_next_session(struct wire_iter *it, struct wire_session *out)
{
    return it_next(it, ITEM_SESSION, out);
}

/* ---- Request decoding -------------------------------------------------- */

static void rd_hello(struct mp_reader *r, struct wire_hello *h)
{
    h->version = (uint32_t)mp_read_uint(r, UINT32_MAX);
    h->session_id = mp_read_uint(r, UINT64_MAX);
    h->secret = rd_blob(r, false, COORD_SECRET_BYTES);
    if (h->secret.len != (h->session_id ? COORD_SECRET_BYTES : 0))
        mp_read_fail(r, COORD_EPROTO);
    h->timeout_ms = (uint32_t)mp_read_uint(r, UINT32_MAX);
    h->last_zxid = mp_read_uint(r, UINT64_MAX);
    /* Unknown bits are kept and ignored, not refused: the HELLO request is
     * read before versions are agreed, so a newer client's flags must not
     * stop an older server from answering COORD_EPROTOVERSION. */
    h->flags = (uint32_t)mp_read_uint(r, UINT32_MAX);
}

static void rd_children_req(struct mp_reader *r, const struct wire_limits *lim,
                            struct wire_children_req *c)
{
    c->path = rd_path(r, lim);
    c->flags = rd_flags(r, WIRE_READ_FLAGS_ALL);
    c->start_after = rd_path(r, lim);
    c->max_count = (uint32_t)mp_read_uint(r, UINT32_MAX);
    if (c->max_count > lim->children_page_max)
        mp_read_fail(r, COORD_ETOOMANY);
}

static void rd_watch_req(struct mp_reader *r, const struct wire_limits *lim,
                         uint32_t op, struct wire_watch_req *w)
{
    uint32_t lo = op == WIRE_OP_ADD_WATCH ? COORD_WATCH_PERSISTENT
                                          : COORD_WATCH_DATA;
    w->path = rd_path(r, lim);
    w->kind = (uint32_t)mp_read_uint(r, COORD_WATCH_PERSISTENT_RECURSIVE);
    if (w->kind < lo)
        mp_read_fail(r, COORD_EPROTO);
}

static void rd_member_req(struct mp_reader *r, uint32_t op,
                          struct wire_member_req *m)
{
    m->id = mp_read_uint(r, UINT64_MAX);
    if (!r->err && m->id == 0 && op != WIRE_OP_LEADER_TRANSFER)
        mp_read_fail(r, COORD_EPROTO);
    if (op != WIRE_OP_MEMBER_ADD)
        return;
    m->client_addr = rd_blob(r, true, WIRE_ADDR_BYTES_MAX);
    m->peer_addr = rd_blob(r, true, WIRE_ADDR_BYTES_MAX);
    if (!r->err && (m->client_addr.len == 0 || m->peer_addr.len == 0))
        mp_read_fail(r, COORD_EPROTO);
}

static void rd_req_body(struct mp_reader *r, const struct wire_limits *lim,
                        struct wire_req *q)
{
    switch (q->op) {
    case WIRE_OP_HELLO:
        rd_hello(r, &q->u.hello);
        break;
    case WIRE_OP_CREATE:
        rd_create_fields(r, lim, &q->u.create);
        break;
    case WIRE_OP_DELETE:
    case WIRE_OP_CHECK:
        q->u.pv.path = rd_path(r, lim);
        q->u.pv.version = rd_version(r);
        break;
    case WIRE_OP_EXISTS:
    case WIRE_OP_GET:
        q->u.read.path = rd_path(r, lim);
        q->u.read.flags = rd_flags(r, WIRE_READ_WATCH | WIRE_READ_LOCAL);
        break;
    case WIRE_OP_SET:
        q->u.set.path = rd_path(r, lim);
        q->u.set.data = rd_data(r, lim);
        q->u.set.version = rd_version(r);
        break;
    case WIRE_OP_CHILDREN:
        rd_children_req(r, lim, &q->u.children);
        break;
    case WIRE_OP_MULTI:
        q->u.multi.n = rd_list(r, lim, lim->multi_ops_max, ITEM_OP, false,
                               &q->u.multi.it);
        break;
    case WIRE_OP_SYNC:
        q->u.path = rd_path(r, lim);
        break;
    case WIRE_OP_ADD_WATCH:
    case WIRE_OP_REMOVE_WATCH:
        rd_watch_req(r, lim, q->op, &q->u.watch);
        break;
    case WIRE_OP_SET_WATCHES:
        q->u.set_watches.last_zxid = mp_read_uint(r, UINT64_MAX);
        for (int k = 0; k < WIRE_WATCH_KINDS; k++) {
            struct wire_paths *ps = &q->u.set_watches.kinds[k];
            ps->n = rd_list(r, lim, UINT32_MAX, ITEM_PATH, false, &ps->it);
        }
        break;
    case WIRE_OP_MEMBER_ADD:
    case WIRE_OP_MEMBER_PROMOTE:
    case WIRE_OP_MEMBER_REMOVE:
    case WIRE_OP_LEADER_TRANSFER:
        rd_member_req(r, q->op, &q->u.member);
        break;
    case WIRE_OP_SESSIONS:
        q->u.start_after = mp_read_uint(r, UINT64_MAX);
        break;
    case WIRE_OP_SNAPSHOT_READ:
        q->u.snapshot.export_id = mp_read_uint(r, UINT64_MAX);
        q->u.snapshot.offset = mp_read_uint(r, UINT64_MAX);
        break;
    default: /* CLOSE, PING, STATUS */
        break;
    }
}

/* The array head, opcode and xid common to every message; the opcode's
 * table entry or NULL. */
static const struct op_info *rd_prologue(struct mp_reader *r, uint32_t *n,
                                         uint32_t min_fields, uint32_t *op)
{
    *n = mp_read_array(r);
    if (!r->err && *n < min_fields)
        mp_read_fail(r, COORD_EPROTO);
    *op = (uint32_t)mp_read_uint(r, WIRE_OP_MAX);
    if (!r->err && *op == 0)
        mp_read_fail(r, COORD_EPROTO);
    return op_find(*op);
}

int wire_decode_req(const uint8_t *msg, size_t len,
                    const struct wire_limits *lim, struct wire_req *out)
{
    memset(out, 0, sizeof(*out));
    if (len > lim->frame_bytes_max)
        return COORD_ETOOBIG;
    struct mp_reader r = {msg, msg + len, 0};
    uint32_t n, op;
    const struct op_info *info = rd_prologue(&r, &n, 2, &op);
    out->op = op;
    out->xid = mp_read_sint(&r, 0, INT64_MAX);
    if (r.err)
        return r.err;
    if (!info)
        return COORD_ENOTSUP;
    if (info->req_fields < 0 || n != 2 + (uint32_t)info->req_fields)
        return COORD_EPROTO;
    rd_req_body(&r, lim, out);
    if (!r.err && r.p != r.end)
        mp_read_fail(&r, COORD_EPROTO);
    return r.err;
}

/* ---- Response decoding ------------------------------------------------- */

static void rd_hello_reply(struct mp_reader *r, struct wire_hello_reply *h)
{
    h->version = (uint32_t)mp_read_uint(r, UINT32_MAX);
    h->session_id = mp_read_uint(r, UINT64_MAX);
    h->secret = rd_blob(r, false, COORD_SECRET_BYTES);
    if (h->secret.len != COORD_SECRET_BYTES)
        mp_read_fail(r, COORD_EPROTO);
    h->timeout_ms = (uint32_t)mp_read_uint(r, UINT32_MAX);
    h->limits.frame_bytes_max =
        (uint32_t)mp_read_uint(r, COORD_FRAME_BYTES_MAX);
    h->limits.data_bytes_max = (uint32_t)mp_read_uint(r, COORD_DATA_BYTES_MAX);
    h->limits.path_bytes_max = (uint32_t)mp_read_uint(r, COORD_PATH_BYTES_MAX);
    h->limits.multi_ops_max = (uint32_t)mp_read_uint(r, COORD_MULTI_OPS_MAX);
    h->limits.children_page_max =
        (uint32_t)mp_read_uint(r, COORD_CHILDREN_PAGE_MAX);
    if (!r->err && wire_limits_check(&h->limits) != 0)
        mp_read_fail(r, COORD_EPROTO);
    h->server_id = mp_read_uint(r, UINT64_MAX);
    h->leader_id = mp_read_uint(r, UINT64_MAX);
    h->flags = rd_flags(r, WIRE_HELLO_FLAGS_ALL);
}

static void rd_status(struct mp_reader *r, const struct wire_limits *lim,
                      struct wire_status *s)
{
    uint64_t *f[] = {&s->term,       &s->leader_id,  &s->commit,
                     &s->applied,    &s->last_index, &s->snap_index,
                     &s->sessions,   &s->watches,    &s->connections,
                     &s->digest_mismatches};
    s->server_id = mp_read_uint(r, UINT64_MAX);
    s->role = (uint32_t)mp_read_uint(r, UINT32_MAX);
    for (size_t i = 0; i < COORD_ARRAY_LEN(f); i++)
        *f[i] = mp_read_uint(r, UINT64_MAX);
    s->n = rd_list(r, lim, WIRE_MEMBERS_MAX, ITEM_MEMBER, false, &s->it);
}

static void rd_snapshot_chunk(struct mp_reader *r,
                              const struct wire_limits *lim,
                              struct wire_snapshot_chunk *c)
{
    c->export_id = mp_read_uint(r, UINT64_MAX);
    if (!r->err && c->export_id == 0)
        mp_read_fail(r, COORD_EPROTO);
    c->index = mp_read_uint(r, UINT64_MAX);
    c->total = mp_read_uint(r, UINT64_MAX);
    c->sum = mp_read_uint(r, UINT64_MAX);
    c->chunk = rd_data(r, lim);
    if (!r->err && c->chunk.len > WIRE_SNAPSHOT_CHUNK_BYTES)
        mp_read_fail(r, COORD_EPROTO);
}

static void rd_stats(struct mp_reader *r, struct wire_stats *s)
{
    uint64_t *f[] = {&s->requests,     &s->writes,       &s->reads,
                     &s->errors,       &s->fsyncs,       &s->fsync_p99_us,
                     &s->write_p99_us, &s->leader_changes};
    for (size_t i = 0; i < COORD_ARRAY_LEN(f); i++)
        *f[i] = mp_read_uint(r, UINT64_MAX);
}

static void rd_resp_body(struct mp_reader *r, const struct wire_limits *lim,
                         struct wire_resp *s)
{
    switch (s->op) {
    case WIRE_OP_HELLO:
        rd_hello_reply(r, &s->u.hello);
        break;
    case WIRE_OP_CREATE:
        s->u.created.path = rd_path(r, lim);
        rd_stat(r, &s->u.created.stat);
        break;
    case WIRE_OP_EXISTS:
    case WIRE_OP_SET:
        rd_stat(r, &s->u.stat);
        break;
    case WIRE_OP_GET:
        s->u.get.data = rd_data(r, lim);
        rd_stat(r, &s->u.get.stat);
        break;
    case WIRE_OP_CHILDREN:
        s->u.children.more = mp_read_bool(r);
        s->u.children.with_stats = mp_read_bool(r);
        s->u.children.n =
            rd_list(r, lim, lim->children_page_max, ITEM_CHILD,
                    s->u.children.with_stats, &s->u.children.it);
        break;
    case WIRE_OP_MULTI:
        s->u.multi.n = rd_list(r, lim, lim->multi_ops_max, ITEM_RESULT,
                               false, &s->u.multi.it);
        break;
    case WIRE_OP_WATCH_EVENT:
        s->u.event.type = (uint32_t)mp_read_uint(r, COORD_EVENT_MUST_REREAD);
        if (!r->err && s->u.event.type < COORD_EVENT_CREATED)
            mp_read_fail(r, COORD_EPROTO);
        s->u.event.path = rd_path(r, lim);
        break;
    case WIRE_OP_STATUS:
        rd_status(r, lim, &s->u.status);
        break;
    case WIRE_OP_STATS:
        rd_stats(r, &s->u.stats);
        break;
    case WIRE_OP_SESSIONS:
        s->u.sessions.more = mp_read_bool(r);
        s->u.sessions.n = rd_list(r, lim, WIRE_SESSIONS_PAGE_MAX,
                                  ITEM_SESSION, false, &s->u.sessions.it);
        break;
    case WIRE_OP_SNAPSHOT_READ:
        rd_snapshot_chunk(r, lim, &s->u.snapshot);
        break;
    default: /* no body */
        break;
    }
}

int wire_decode_resp(const uint8_t *msg, size_t len,
                     const struct wire_limits *lim, struct wire_resp *out)
{
    memset(out, 0, sizeof(*out));
    if (len > lim->frame_bytes_max)
        return COORD_ETOOBIG;
    struct mp_reader r = {msg, msg + len, 0};
    uint32_t n, op;
    const struct op_info *info = rd_prologue(&r, &n, 4, &op);
    out->op = op;
    out->xid = mp_read_sint(&r, WIRE_XID_EVENT, INT64_MAX);
    out->zxid = mp_read_uint(&r, UINT64_MAX);
    out->err = (int32_t)mp_read_sint(&r, INT32_MIN, 0);
    if (r.err)
        return r.err;
    bool event = op == WIRE_OP_WATCH_EVENT;
    if (event ? out->xid != WIRE_XID_EVENT || out->err != 0 : out->xid < 0)
        return COORD_EPROTO;
    if (out->err != 0)
        return n == 4 && r.p == r.end ? 0 : COORD_EPROTO;
    if (!info)
        return COORD_ENOTSUP;
    if (info->resp_fields < 0 || n != 4 + (uint32_t)info->resp_fields)
        return COORD_EPROTO;
    rd_resp_body(&r, lim, out);
    if (!r.err && r.p != r.end)
        mp_read_fail(&r, COORD_EPROTO);
    return r.err;
}

/* ---- Snapshot files ---------------------------------------------------- */

uint64_t wire_snapshot_sum(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void put_be64(uint8_t *q, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        q[k] = (uint8_t)(v >> (56 - 8 * k));
}

void wire_snapfile_encode(uint8_t out[WIRE_SNAPFILE_HEADER_BYTES],
                          const struct wire_snapfile *h)
{
    memcpy(out, WIRE_SNAPFILE_MAGIC, 8);
    put_be64(out + 8, h->index);
    put_be64(out + 16, h->bytes);
    put_be64(out + 24, h->sum);
    put_be64(out + 32, h->server_id);
}

int wire_snapfile_decode(const uint8_t in[WIRE_SNAPFILE_HEADER_BYTES],
                         struct wire_snapfile *h)
{
    if (memcmp(in, WIRE_SNAPFILE_MAGIC, 8) != 0)
        return COORD_ECORRUPT;
    h->index = mp_load_be(in + 8, 8);
    h->bytes = mp_load_be(in + 16, 8);
    h->sum = mp_load_be(in + 24, 8);
    h->server_id = mp_load_be(in + 32, 8);
    return 0;
}
