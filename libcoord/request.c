/* request.c -- the client's in-flight request table: bounded by
 * COORD_INFLIGHT_MAX, ordered by xid (which is submission order, and so the
 * order the server answers in), with deadlines. Pure bookkeeping: the
 * caller (client.c, ops.c) holds the client mutex and runs callbacks after
 * releasing it; nothing here performs I/O or invokes a callback.
 */
#include "client_int.h"

#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

void coord__reqtab_init(struct coord__reqtab *t, size_t cap)
{
    coord_assert(cap > 0);
    memset(t, 0, sizeof(*t));
    t->cap = cap;
}

bool coord__reqtab_full(const struct coord__reqtab *t)
{
    return t->n >= t->cap;
}

int coord__reqtab_add(struct coord__reqtab *t, struct coord__req *r)
{
    coord_assert(r->prev == NULL && r->next == NULL);
    if (coord__reqtab_full(t))
        return COORD_EAGAIN;
    coord_assert(t->tail == NULL || t->tail->xid < r->xid);
    coord_assert(t->tail == NULL || t->tail->deadline_ms <= r->deadline_ms);
    r->prev = t->tail;
    if (t->tail)
        t->tail->next = r;
    else
        t->head = r;
    t->tail = r;
    t->n++;
    return 0;
}

static void unlink_req(struct coord__reqtab *t, struct coord__req *r)
{
    coord_assert(t->n > 0);
    if (r->prev)
        r->prev->next = r->next;
    else
        t->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        t->tail = r->prev;
    r->prev = r->next = NULL;
    t->n--;
}

struct coord__req *coord__reqtab_take(struct coord__reqtab *t, int64_t xid)
{
    /* Replies come in xid order, so the match is almost always the head;
     * requests that timed out earlier were already removed. */
    for (struct coord__req *r = t->head; r != NULL; r = r->next) {
        if (r->xid == xid) {
            unlink_req(t, r);
            return r;
        }
        if (r->xid > xid)
            break;
    }
    return NULL;
}

struct coord__req *coord__reqtab_next_unsent(const struct coord__reqtab *t)
{
    /* Sent requests form a prefix of the table: writing follows xid order
     * and a new connection starts with every survivor unsent. */
    struct coord__req *r = t->head;
    while (r != NULL && r->sent)
        r = r->next;
    return r;
}

bool coord__reqtab_any_sent(const struct coord__reqtab *t)
{
    return t->head != NULL && t->head->sent; /* the sent ones: a prefix */
}

/* Moves r from the table to the tail of the list *out (tail at **tail). */
static void move_out(struct coord__reqtab *t, struct coord__req *r,
                     struct coord__req ***tail)
{
    unlink_req(t, r);
    **tail = r;
    *tail = &r->next;
}

size_t coord__reqtab_expire(struct coord__reqtab *t, uint64_t now_ms,
                            struct coord__req **out)
{
    struct coord__req **tail = out;
    size_t n = 0;
    *out = NULL;
    /* Deadlines never decrease along the table (each is set under the
     * client mutex with the same timeout as its xid), so the expired ones
     * are a prefix. */
    while (t->head != NULL && t->head->deadline_ms <= now_ms) {
        move_out(t, t->head, &tail);
        n++;
    }
    coord_dassert(coord__reqtab_next_deadline(t) > now_ms);
    return n;
}

size_t coord__reqtab_drop_sent(struct coord__reqtab *t,
                               struct coord__req **out)
{
    struct coord__req **tail = out;
    size_t n = 0;
    *out = NULL;
    for (struct coord__req *r = t->head, *next; r != NULL; r = next) {
        next = r->next;
        if (r->sent) {
            move_out(t, r, &tail);
            n++;
        }
    }
    return n;
}

size_t coord__reqtab_drain(struct coord__reqtab *t, struct coord__req **out)
{
    struct coord__req **tail = out;
    size_t n = 0;
    *out = NULL;
    while (t->head != NULL) {
        move_out(t, t->head, &tail);
        n++;
    }
    coord_assert(t->n == 0 && t->tail == NULL);
    return n;
}

uint64_t coord__reqtab_next_deadline(const struct coord__reqtab *t)
{
    return t->head != NULL ? t->head->deadline_ms : UINT64_MAX;
}

struct coord__req *coord__req_new(uint32_t frame_max)
{
    struct coord__req *r = coord_calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    wire_buf_init(&r->frame, (size_t)frame_max + WIRE_PREFIX_BYTES);
    return r;
}

void coord__req_free(struct coord__req *r)
{
    if (r == NULL)
        return;
    wire_buf_free(&r->frame);
    coord_free(r->watch_path);
    coord_free(r);
}
