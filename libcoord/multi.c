/* multi.c -- the multi builder (an all-or-nothing batch of create, delete,
 * set and check), its async and sync submission, and decoding of per-op
 * results. The builder owns copies of every path and value; the wire
 * encoding happens at submission (wire.c). Not thread-safe per builder;
 * touches no socket.
 */
#include "client_int.h"

#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

struct coord_multi {
    struct wire_multi_op *ops; /* path and data point into owned copies */
    size_t n, cap;
    struct coord_op_result *results; /* of the last sync submission */
    size_t n_results;
};

int coord_multi_new(struct coord_multi **out)
{
    *out = coord_calloc(1, sizeof(**out));
    return *out == NULL ? COORD_ENOMEM : 0;
}

static void drop_results(struct coord_multi *m)
{
    coord_free(m->results);
    m->results = NULL;
    m->n_results = 0;
}

void coord_multi_free(struct coord_multi *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        coord_free((void *)m->ops[i].path.ptr);
        coord_free((void *)m->ops[i].data.ptr);
    }
    coord_free(m->ops);
    drop_results(m);
    coord_free(m);
}

size_t coord_multi_count(const struct coord_multi *m)
{
    return m->n;
}

/* Appends an op with copies of path and data. */
static int add_op(struct coord_multi *m, struct wire_multi_op op,
                  const char *path, const void *value, size_t len)
{
    if (path == NULL || path[0] != '/' || (value == NULL && len > 0))
        return COORD_EINVAL;
    size_t plen = strnlen(path, COORD_PATH_BYTES_MAX + 1);
    if (plen > COORD_PATH_BYTES_MAX || len > COORD_DATA_BYTES_MAX)
        return COORD_ETOOBIG;
    if (m->n == COORD_MULTI_OPS_MAX)
        return COORD_ETOOMANY;
    if (op.version < -1)
        return COORD_EINVAL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct wire_multi_op *v = coord_realloc(m->ops, cap * sizeof(*v));
        if (v == NULL)
            return COORD_ENOMEM;
        m->ops = v;
        m->cap = cap;
    }
    char *p = coord_strndup(path, plen);
    char *d = value != NULL ? coord_strndup(value, len) : NULL;
    if (p == NULL || (value != NULL && d == NULL)) {
        coord_free(p);
        coord_free(d);
        return COORD_ENOMEM;
    }
    op.path = (struct wire_bytes){p, (uint32_t)plen};
    op.data = (struct wire_bytes){d, (uint32_t)len};
    m->ops[m->n++] = op;
    return 0;
}

int coord_multi_create(struct coord_multi *m, const char *path,
                       const void *value, size_t len, int mode,
                       uint64_t ttl_ms)
{
    if (mode < 0 || ((unsigned)mode & ~(unsigned)WIRE_CREATE_MODES_ALL))
        return COORD_EINVAL;
    struct wire_multi_op op = {.op = WIRE_OP_CREATE,
                               .mode = (uint32_t)mode,
                               .ttl_ms = ttl_ms};
    return add_op(m, op, path, value, len);
}

int coord_multi_delete(struct coord_multi *m, const char *path,
                       int32_t version)
{
    struct wire_multi_op op = {.op = WIRE_OP_DELETE, .version = version};
    return add_op(m, op, path, NULL, 0);
}

int coord_multi_set(struct coord_multi *m, const char *path,
                    const void *value, size_t len, int32_t version)
{
    struct wire_multi_op op = {.op = WIRE_OP_SET, .version = version};
    return add_op(m, op, path, value, len);
}

int coord_multi_check(struct coord_multi *m, const char *path,
                      int32_t version)
{
    struct wire_multi_op op = {.op = WIRE_OP_CHECK, .version = version};
    return add_op(m, op, path, NULL, 0);
}

static int enc_multi(struct coord_client *c, struct coord__req *r,
                     const void *arg)
{
    const struct coord_multi *m = arg;
    struct wire_req q = {.op = WIRE_OP_MULTI, .xid = r->xid};
    q.u.multi.n = (uint32_t)m->n;
    q.u.multi.ops = m->ops;
    return wire_encode_req(&r->frame, &q, &c->lim);
}

int coord_amulti(struct coord_client *c, const struct coord_multi *m,
                 coord_multi_cb cb, void *data)
{
    if (m == NULL || m->n == 0)
        return COORD_EINVAL;
    struct coord__req *r = coord__req_new(COORD_FRAME_BYTES_MAX);
    if (r == NULL)
        return COORD_ENOMEM;
    r->op = WIRE_OP_MULTI;
    r->cb_kind = COORD__CB_MULTI;
    r->cb.multi = cb;
    r->data = data;
    return coord__submit(c, r, enc_multi, m, coord__submit_blocks);
}

int coord__multi_results(const struct wire_resp *resp,
                         struct coord_op_result **out, size_t *n)
{
    const struct wire_multi_resp *mr = &resp->u.multi;
    struct wire_iter it = mr->it;
    struct wire_op_result r;
    size_t bytes = 0;
    *out = NULL;
    *n = 0;
    while (wire_next_result(&it, &r))
        bytes += r.path.len + 1;
    struct coord_op_result *v =
        coord_calloc(1, mr->n * sizeof(*v) + bytes + 1);
    if (v == NULL)
        return COORD_ENOMEM;
    char *p = (char *)(v + mr->n);
    int status = 0;
    it = mr->it;
    size_t i = 0;
    while (i < mr->n && wire_next_result(&it, &r)) {
        v[i] = (struct coord_op_result){.op = (int)r.op, .err = r.err};
        if (r.err == 0 && r.op == WIRE_OP_CREATE) {
            memcpy(p, r.path.ptr, r.path.len);
            p[r.path.len] = '\0';
            v[i].path = p;
            p += r.path.len + 1;
        }
        if (r.err == 0)
            v[i].stat = r.stat;
        /* The failing op carries the cause; the others COORD_ESKIPPED. */
        if (r.err != 0 && (status == 0 || status == COORD_ESKIPPED))
            status = r.err;
        i++;
    }
    *out = v;
    *n = i;
    return status;
}

/* Results are copied into the builder before the waiter wakes. */
struct multi_wait {
    struct coord__waiter w;
    struct coord_multi *m;
};

static void multi_done(void *data, int status, size_t n,
                       const struct coord_op_result *res)
{
    struct multi_wait *s = data;
    struct coord_multi *m = s->m;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += res[i].path ? strlen(res[i].path) + 1 : 0;
    m->results = n ? coord_calloc(1, n * sizeof(*res) + bytes) : NULL;
    if (n > 0 && m->results == NULL) {
        coord__waiter_done(&s->w, COORD_ENOMEM);
        return;
    }
    char *p = (char *)(m->results + n);
    for (size_t i = 0; i < n; i++) {
        m->results[i] = res[i];
        if (res[i].path != NULL) {
            size_t len = strlen(res[i].path) + 1;
            memcpy(p, res[i].path, len);
            m->results[i].path = p;
            p += len;
        }
    }
    m->n_results = n;
    coord__waiter_done(&s->w, status);
}

int coord_multi(struct coord_client *c, struct coord_multi *m)
{
    struct multi_wait s = {.m = m};
    if (m == NULL)
        return COORD_EINVAL;
    drop_results(m);
    int err = coord__waiter_init(&s.w, c);
    if (err != 0)
        return err;
    err = coord_amulti(c, m, multi_done, &s);
    return coord__waiter_wait(&s.w, err);
}

const struct coord_op_result *coord_multi_result(const struct coord_multi *m,
                                                 size_t i)
{
    return m != NULL && i < m->n_results ? &m->results[i] : NULL;
}
