/* admin.c -- libcoord's admin operations (STATUS, MEMBER_ADD, _PROMOTE,
 * _REMOVE, LEADER_TRANSFER): async calls that build a wire request for
 * coord__submit(), the STATUS reply turned into a struct coord_status, and
 * the blocking versions over sync.c's waiter. Like ops.c it never touches
 * the socket and runs callbacks only on the I/O thread.
 */
#include "client_int.h"

#include <string.h>

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
