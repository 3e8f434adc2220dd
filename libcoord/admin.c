/* admin.c -- libcoord's admin operations (STATUS, MEMBER_ADD, _PROMOTE,
 * _REMOVE, LEADER_TRANSFER, SESSIONS, SNAPSHOT_READ, STATS): async calls that
 * build a wire request for coord__submit(), the STATUS reply turned into a
 * struct coord_status, and the blocking versions over sync.c's waiter.
 * Like ops.c it never touches the socket and runs callbacks only on the
 * I/O thread; the snapshot export writes the caller's file descriptor
 * from the calling thread.
 */
#include "client_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

static int enc_admin(struct coord_client *c, struct coord__req *r,
                     const void *arg)
{
    struct wire_req q = *(const struct wire_req *)arg;
    q.xid = r->xid;
    return wire_encode_req(&r->frame, &q, &c->lim);
}

static int admin_submit(struct coord_client *c, const struct wire_req *q,
                        uint8_t kind, void *cb, void *data)
{
    if (c == NULL)
        return COORD_EINVAL;
    struct coord__req *r = coord__req_new(COORD_FRAME_BYTES_MAX);
    if (r == NULL)
        return COORD_ENOMEM;
    r->op = q->op;
    r->cb_kind = kind;
    r->data = data;
    if (kind == COORD__CB_STATUS)
        r->cb.status = (coord_status_cb)cb;
    else
        r->cb.v = (coord_void_cb)cb;
    return coord__submit(c, r, enc_admin, q, coord__submit_blocks);
}

static void copy_member(struct coord_member_status *o,
                        const struct wire_member *m)
{
    memset(o, 0, sizeof(*o));
    o->id = m->id;
    o->voter = m->role == WIRE_ROLE_VOTER;
    size_t n = m->addr.len < sizeof(o->addr) - 1 ? m->addr.len
                                                 : sizeof(o->addr) - 1;
    memcpy(o->addr, m->addr.ptr, n);
    o->match = m->match;
    o->lag = m->lag;
}

void coord__complete_status(struct coord__req *r, const struct wire_resp *m,
                            int err)
{
    if (r->cb.status == NULL)
        return;
    if (m == NULL) {
        r->cb.status(r->data, err, NULL);
        return;
    }
    const struct wire_status *w = &m->u.status;
    struct coord_status st = {
        .server_id = w->server_id, .role = (int)w->role, .term = w->term,
        .leader_id = w->leader_id, .commit = w->commit,
        .applied = w->applied, .last_index = w->last_index,
        .snap_index = w->snap_index, .sessions = w->sessions,
        .watches = w->watches, .connections = w->connections,
        .digest_mismatches = w->digest_mismatches};
    struct wire_iter it = w->it;
    struct wire_member wm;
    while (st.n_members < COORD_STATUS_MEMBERS_MAX &&
           wire_next_member(&it, &wm))
        copy_member(&st.members[st.n_members++], &wm);
    r->cb.status(r->data, 0, &st);
}

/* ---- prefer_leader --------------------------------------------------- */

/* Index of the server of c's list whose host text and port are addr's. */
static bool server_of(const struct coord_client *c, struct wire_bytes addr,
                      size_t *idx)
{
    char text[WIRE_ADDR_BYTES_MAX + 1];
    struct coord__server s;
    size_t n;
    if (addr.len == 0 || addr.len > WIRE_ADDR_BYTES_MAX)
        return false;
    memcpy(text, addr.ptr, addr.len);
    text[addr.len] = '\0';
    if (coord__servers_parse(text, &s, 1, &n) != 0)
        return false;
    for (size_t i = 0; i < c->n_servers; i++) {
        if (c->servers[i].port == s.port &&
            strcmp(c->servers[i].host, s.host) == 0) {
            *idx = i;
            return true;
        }
    }
    return false;
}

/* The STATUS reply of coord__ask_leader(), from the server it was sent to
 * (a lost connection fails it): a follower that knows its leader names
 * the leader's address among the members. */
static void leader_known(void *data, int err, const struct wire_resp *m)
{
    struct coord_client *c = data;
    if (err == COORD_ECLOSED || err == COORD_ESESSIONEXPIRED)
        return;
    if (err != 0 || m == NULL) {
        coord__leader_seen(c, false, false, 0); /* ask again later */
        return;
    }
    const struct wire_status *w = &m->u.status;
    bool here = w->leader_id != 0 && w->leader_id == w->server_id;
    struct wire_iter it = w->it;
    struct wire_member wm;
    size_t idx = 0;
    bool listed = false;
    while (!here && !listed && wire_next_member(&it, &wm))
        listed = wm.id == w->leader_id && w->leader_id != 0 &&
                 server_of(c, wm.addr, &idx);
    coord__leader_seen(c, here, listed, idx);
}

int coord__ask_leader(struct coord_client *c)
{
    struct wire_req q = {.op = WIRE_OP_STATUS};
    struct coord__req *r = coord__req_new(COORD_FRAME_BYTES_MAX);
    if (r == NULL)
        return COORD_ENOMEM;
    r->op = q.op;
    r->cb_kind = COORD__CB_RAW;
    r->cb.raw = leader_known;
    r->data = c;
    return coord__submit(c, r, enc_admin, &q, false);
}

/* ---- Async ------------------------------------------------------------ */

int coord_astatus(struct coord_client *c, coord_status_cb cb, void *data)
{
    struct wire_req q = {.op = WIRE_OP_STATUS};
    return admin_submit(c, &q, COORD__CB_STATUS, (void *)cb, data);
}

static int member_op(struct coord_client *c, uint32_t op, uint64_t id,
                     coord_void_cb cb, void *data)
{
    if (id == 0 && op != WIRE_OP_LEADER_TRANSFER)
        return COORD_EINVAL;
    struct wire_req q = {.op = op};
    q.u.member.id = id;
    return admin_submit(c, &q, COORD__CB_VOID, (void *)cb, data);
}

int coord_amember_add(struct coord_client *c, uint64_t id,
                      const char *client_addr, const char *peer_addr,
                      coord_void_cb cb, void *data)
{
    if (id == 0 || client_addr == NULL || peer_addr == NULL)
        return COORD_EINVAL;
    size_t cl = strnlen(client_addr, WIRE_ADDR_BYTES_MAX + 1);
    size_t pl = strnlen(peer_addr, WIRE_ADDR_BYTES_MAX + 1);
    if (cl == 0 || pl == 0 || cl > WIRE_ADDR_BYTES_MAX ||
        pl > WIRE_ADDR_BYTES_MAX)
        return COORD_EINVAL;
    struct wire_req q = {.op = WIRE_OP_MEMBER_ADD};
    q.u.member.id = id;
    q.u.member.client_addr = (struct wire_bytes){client_addr, (uint32_t)cl};
    q.u.member.peer_addr = (struct wire_bytes){peer_addr, (uint32_t)pl};
    return admin_submit(c, &q, COORD__CB_VOID, (void *)cb, data);
}

int coord_amember_promote(struct coord_client *c, uint64_t id,
                          coord_void_cb cb, void *data)
{
    return member_op(c, WIRE_OP_MEMBER_PROMOTE, id, cb, data);
}

int coord_amember_remove(struct coord_client *c, uint64_t id,
                         coord_void_cb cb, void *data)
{
    return member_op(c, WIRE_OP_MEMBER_REMOVE, id, cb, data);
}

int coord_aleader_transfer(struct coord_client *c, uint64_t to,
                           coord_void_cb cb, void *data)
{
    return member_op(c, WIRE_OP_LEADER_TRANSFER, to, cb, data);
}

/* ---- Sync ------------------------------------------------------------- */

struct status_wait {
    struct coord__waiter w;
    struct coord_status *out;
};

static void status_done(void *data, int status, const struct coord_status *st)
{
    struct status_wait *s = data;
    if (status == 0 && s->out != NULL)
        *s->out = *st;
    coord__waiter_done(&s->w, status);
}

static void admin_void_done(void *data, int status)
{
    coord__waiter_done(data, status);
}

int coord_status(struct coord_client *c, struct coord_status *out)
{
    struct status_wait s = {.out = out};
    int err = coord__waiter_init(&s.w, c);
    if (err != 0)
        return err;
    err = coord_astatus(c, status_done, &s);
    return coord__waiter_wait(&s.w, err);
}

int coord_member_add(struct coord_client *c, uint64_t id,
                     const char *client_addr, const char *peer_addr)
{
    struct coord__waiter w;
    int err = coord__waiter_init(&w, c);
    if (err != 0)
        return err;
    err = coord_amember_add(c, id, client_addr, peer_addr, admin_void_done,
                            &w);
    return coord__waiter_wait(&w, err);
}

static int member_sync(struct coord_client *c, uint32_t op, uint64_t id)
{
    struct coord__waiter w;
    int err = coord__waiter_init(&w, c);
    if (err != 0)
        return err;
    err = member_op(c, op, id, admin_void_done, &w);
    return coord__waiter_wait(&w, err);
}

int coord_member_promote(struct coord_client *c, uint64_t id)
{
    return member_sync(c, WIRE_OP_MEMBER_PROMOTE, id);
}

int coord_member_remove(struct coord_client *c, uint64_t id)
{
    return member_sync(c, WIRE_OP_MEMBER_REMOVE, id);
}

int coord_leader_transfer(struct coord_client *c, uint64_t to)
{
    return member_sync(c, WIRE_OP_LEADER_TRANSFER, to);
}

/* ---- Sessions and snapshot export (COORD__CB_RAW) ----------------------- */

/* One raw admin request and its reply, copied out on the I/O thread by
 * the handler (the reply's buffer is only borrowed for the callback). */
struct raw_wait {
    struct coord__waiter w;
    void (*copy)(struct raw_wait *s, const struct wire_resp *m);
    int err; /* a copy failure */
    void *out;
};

static void raw_done(void *data, int status, const struct wire_resp *m)
{
    struct raw_wait *s = data;
    if (status == 0 && m != NULL)
        s->copy(s, m);
    coord__waiter_done(&s->w, status != 0 ? status : s->err);
}

static int raw_call(struct coord_client *c, const struct wire_req *q,
                    struct raw_wait *s)
{
    int err = coord__waiter_init(&s->w, c);
    if (err != 0)
        return err;
    s->err = 0;
    struct coord__req *r = coord__req_new(COORD_FRAME_BYTES_MAX);
    if (r == NULL)
        return coord__waiter_wait(&s->w, COORD_ENOMEM);
    r->op = q->op;
    r->cb_kind = COORD__CB_RAW;
    r->cb.raw = raw_done;
    r->data = s;
    err = coord__submit(c, r, enc_admin, q, coord__submit_blocks);
    return coord__waiter_wait(&s->w, err);
}

static void stats_copy(struct raw_wait *s, const struct wire_resp *m)
{
    const struct wire_stats *w = &m->u.stats;
    *(struct coord_server_stats *)s->out = (struct coord_server_stats){
        w->requests, w->writes,       w->reads,        w->errors,
        w->fsyncs,   w->fsync_p99_us, w->write_p99_us, w->leader_changes};
}

int coord_admin_stats(struct coord_client *c, struct coord_server_stats *out)
{
    if (c == NULL || out == NULL)
        return COORD_EINVAL;
    memset(out, 0, sizeof(*out));
    struct raw_wait s = {.copy = stats_copy, .out = out};
    struct wire_req q = {.op = WIRE_OP_STATS};
    return raw_call(c, &q, &s);
}

struct sess_page {
    struct coord_session_list *l;
    size_t cap;
    bool more;
};

static void sess_copy(struct raw_wait *s, const struct wire_resp *m)
{
    struct sess_page *p = s->out;
    const struct wire_sessions *ws = &m->u.sessions;
    p->more = ws->more;
    if (p->l->n + ws->n > p->cap) {
        size_t cap = p->cap * 2 + ws->n;
        void *nb = coord_realloc(p->l->sessions,
                                 cap * sizeof(*p->l->sessions));
        if (nb == NULL) {
            s->err = COORD_ENOMEM;
            return;
        }
        p->l->sessions = nb;
        p->cap = cap;
    }
    struct wire_iter it = ws->it;
    struct wire_session e;
    while (wire_next_session(&it, &e))
        p->l->sessions[p->l->n++] = (struct coord_session_info){
            e.id, e.timeout_ms, e.ephemerals, e.server_id};
}

int coord_admin_sessions(struct coord_client *c,
                         struct coord_session_list *out)
{
    if (c == NULL || out == NULL)
        return COORD_EINVAL;
    memset(out, 0, sizeof(*out));
    struct sess_page p = {.l = out};
    struct raw_wait s = {.copy = sess_copy, .out = &p};
    struct wire_req q = {.op = WIRE_OP_SESSIONS};
    int err;
    do {
        q.u.start_after = out->n ? out->sessions[out->n - 1].id : 0;
        err = raw_call(c, &q, &s);
    } while (err == 0 && p.more);
    if (err != 0) {
        coord_session_list_free(out);
        return err;
    }
    struct coord_status st;
    if (coord_status(c, &st) == 0) /* who answered (same connection) */
        out->server_id = st.server_id;
    return 0;
}

void coord_session_list_free(struct coord_session_list *l)
{
    if (l == NULL)
        return;
    coord_free(l->sessions);
    l->sessions = NULL;
    l->n = 0;
}

/* The chunk of a SNAPSHOT_READ reply, copied for the calling thread. */
struct snap_chunk {
    struct wire_snapshot_chunk h;
    uint8_t *buf; /* WIRE_SNAPSHOT_CHUNK_BYTES */
};

static void snap_copy(struct raw_wait *s, const struct wire_resp *m)
{
    struct snap_chunk *k = s->out;
    k->h = m->u.snapshot;
    memcpy(k->buf, m->u.snapshot.chunk.ptr, m->u.snapshot.chunk.len);
    k->h.chunk.ptr = NULL;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return COORD_EIO;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Fetches every chunk after the first into fd, summing them. */
static int snap_fetch(struct coord_client *c, int fd, struct raw_wait *s,
                      struct snap_chunk *k, uint64_t *sum)
{
    uint64_t id = k->h.export_id, total = k->h.total, off = 0;
    uint64_t index = k->h.index;
    struct wire_req q = {.op = WIRE_OP_SNAPSHOT_READ};
    for (;;) {
        uint32_t len = k->h.chunk.len;
        if (k->h.export_id != id || k->h.total != total ||
            k->h.index != index ||
            off + len > total || (len == 0 && off < total))
            return COORD_EPROTO;
        *sum = wire_snapshot_sum(*sum, k->buf, len);
        int err = write_all(fd, k->buf, len);
        if (err != 0)
            return err;
        off += len;
        if (off == total)
            return 0;
        q.u.snapshot = (struct wire_snapshot_req){id, off};
        if ((err = raw_call(c, &q, s)) != 0)
            return err;
    }
}

int coord_admin_snapshot_save(struct coord_client *c, int fd,
                              struct coord_snapshot_info *info)
{
    if (c == NULL || fd < 0)
        return COORD_EINVAL;
    struct snap_chunk k = {.buf = coord_malloc(WIRE_SNAPSHOT_CHUNK_BYTES)};
    if (k.buf == NULL)
        return COORD_ENOMEM;
    struct raw_wait s = {.copy = snap_copy, .out = &k};
    struct wire_req q = {.op = WIRE_OP_SNAPSHOT_READ};
    int err = raw_call(c, &q, &s);
    uint8_t hdr[WIRE_SNAPFILE_HEADER_BYTES] = {0};
    struct coord_status st = {0};
    if (err == 0)
        err = coord_status(c, &st); /* the producer's id, for the header */
    if (err == 0) /* room for the header, written once the sum is known */
        err = write_all(fd, hdr, sizeof(hdr));
    uint64_t sum = WIRE_SNAPSHOT_SUM_INIT;
    if (err == 0)
        err = snap_fetch(c, fd, &s, &k, &sum);
    if (err == 0 && sum != k.h.sum)
        err = COORD_ECORRUPT;
    struct wire_snapfile f = {k.h.index, k.h.total, sum, st.server_id};
    wire_snapfile_encode(hdr, &f);
    if (err == 0 && pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
        err = COORD_EIO;
    coord_free(k.buf);
    if (err == 0 && info != NULL)
        *info = (struct coord_snapshot_info){f.index, f.bytes, f.server_id};
    return err;
}
