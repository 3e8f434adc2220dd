/* ops.c -- the async operations of the public API: argument checks,
 * building a wire request for coord__submit(), and turning a reply (or a
 * local failure) into exactly one callback; also watch registration on a
 * successful read and watch event delivery. Runs callbacks only on the I/O
 * thread with the client mutex released; never touches the socket.
 */
#include "client_int.h"

#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

char *coord__strdup_bytes(struct wire_bytes b)
{
    return coord_strndup(b.ptr, b.len);
}

/* ---- Submission ---------------------------------------------------- */

static int enc_req(struct coord_client *c, struct coord__req *r,
                   const void *arg)
{
    struct wire_req q = *(const struct wire_req *)arg;
    q.xid = r->xid;
    return wire_encode_req(&r->frame, &q, &c->lim);
}

static int check_path(const char *path)
{
    if (path == NULL || path[0] != '/')
        return COORD_EINVAL;
    if (strnlen(path, COORD_PATH_BYTES_MAX + 1) > COORD_PATH_BYTES_MAX)
        return COORD_ETOOBIG;
    return 0;
}

static int check_data(const void *value, size_t len)
{
    if (value == NULL && len > 0)
        return COORD_EINVAL;
    return len > COORD_DATA_BYTES_MAX ? COORD_ETOOBIG : 0;
}

static struct wire_bytes bytes_of(const char *s)
{
    return (struct wire_bytes){s, s ? (uint32_t)strlen(s) : 0};
}

/* Allocates a request; attaches a watch to register on success. */
static struct coord__req *req_new(uint32_t op, uint8_t cb_kind, void *data,
                                  const struct coord_watcher *w,
                                  uint32_t watch_kind, const char *path)
{
    struct coord__req *r = coord__req_new(COORD_FRAME_BYTES_MAX);
    if (r == NULL)
        return NULL;
    r->op = op;
    r->cb_kind = cb_kind;
    r->data = data;
    if (w != NULL && w->cb != NULL && watch_kind != COORD_WATCH_NONE) {
        r->watch_path = coord_strndup(path, strlen(path));
        if (r->watch_path == NULL) {
            coord__req_free(r);
            return NULL;
        }
        r->watcher = *w;
        r->watch_kind = watch_kind;
    }
    return r;
}

static int submit(struct coord_client *c, struct coord__req *r,
                  const struct wire_req *q)
{
    if (r == NULL)
        return COORD_ENOMEM;
    return coord__submit(c, r, enc_req, q, coord__submit_blocks);
}

/* ---- Operations ---------------------------------------------------- */

int coord_acreate(struct coord_client *c, const char *path,
                  const void *value, size_t len, int mode, uint64_t ttl_ms,
                  coord_create_cb cb, void *data)
{
    int err = check_path(path);
    if (err == 0)
        err = check_data(value, len);
    if (err != 0)
        return err;
    if (mode < 0 || ((unsigned)mode & ~(unsigned)WIRE_CREATE_MODES_ALL))
        return COORD_EINVAL;
    struct wire_req q = {.op = WIRE_OP_CREATE};
    q.u.create = (struct wire_create){bytes_of(path),
                                      {value, (uint32_t)len},
                                      (uint32_t)mode, ttl_ms};
    struct coord__req *r =
        req_new(WIRE_OP_CREATE, COORD__CB_CREATE, data, NULL, 0, path);
    if (r != NULL)
        r->cb.create = cb;
    return submit(c, r, &q);
}

static int path_version(struct coord_client *c, uint32_t op,
                        const char *path, int32_t version, coord_void_cb cb,
                        void *data)
{
    int err = check_path(path);
    if (err != 0)
        return err;
    if (version < -1)
        return COORD_EINVAL;
    struct wire_req q = {.op = op};
    q.u.pv = (struct wire_path_version){bytes_of(path), version};
    struct coord__req *r = req_new(op, COORD__CB_VOID, data, NULL, 0, path);
    if (r != NULL)
        r->cb.v = cb;
    return submit(c, r, &q);
}

int coord_adelete(struct coord_client *c, const char *path, int32_t version,
                  coord_void_cb cb, void *data)
{
    return path_version(c, WIRE_OP_DELETE, path, version, cb, data);
}

int coord_acheck(struct coord_client *c, const char *path, int32_t version,
                 coord_void_cb cb, void *data)
{
    return path_version(c, WIRE_OP_CHECK, path, version, cb, data);
}

static int read_flags(unsigned flags, const struct coord_watcher *w,
                      unsigned allowed, uint32_t *out)
{
    if (flags & ~allowed)
        return COORD_EINVAL;
    *out = flags | (w != NULL && w->cb != NULL ? WIRE_READ_WATCH : 0);
    return 0;
}

int coord_aexists(struct coord_client *c, const char *path, unsigned flags,
                  const struct coord_watcher *w, coord_stat_cb cb,
                  void *data)
{
    struct wire_req q = {.op = WIRE_OP_EXISTS};
    int err = check_path(path);
    if (err == 0)
        err = read_flags(flags, w, COORD_READ_LOCAL, &q.u.read.flags);
    if (err != 0)
        return err;
    q.u.read.path = bytes_of(path);
    /* The kind is settled by the reply: DATA or EXISTS. */
    struct coord__req *r = req_new(WIRE_OP_EXISTS, COORD__CB_STAT, data, w,
                                   COORD_WATCH_EXISTS, path);
    if (r != NULL)
        r->cb.stat = cb;
    return submit(c, r, &q);
}

int coord_aget(struct coord_client *c, const char *path, unsigned flags,
               const struct coord_watcher *w, coord_data_cb cb, void *data)
{
    struct wire_req q = {.op = WIRE_OP_GET};
    int err = check_path(path);
    if (err == 0)
        err = read_flags(flags, w, COORD_READ_LOCAL, &q.u.read.flags);
    if (err != 0)
        return err;
    q.u.read.path = bytes_of(path);
    struct coord__req *r = req_new(WIRE_OP_GET, COORD__CB_DATA, data, w,
                                   COORD_WATCH_DATA, path);
    if (r != NULL)
        r->cb.get = cb;
    return submit(c, r, &q);
}

int coord_aset(struct coord_client *c, const char *path, const void *value,
               size_t len, int32_t version, coord_stat_cb cb, void *data)
{
    int err = check_path(path);
    if (err == 0)
        err = check_data(value, len);
    if (err != 0)
        return err;
    if (version < -1)
        return COORD_EINVAL;
    struct wire_req q = {.op = WIRE_OP_SET};
    q.u.set = (struct wire_set){bytes_of(path), {value, (uint32_t)len},
                                version};
    struct coord__req *r =
        req_new(WIRE_OP_SET, COORD__CB_STAT, data, NULL, 0, path);
    if (r != NULL)
        r->cb.stat = cb;
    return submit(c, r, &q);
}

int coord_achildren(struct coord_client *c, const char *path, unsigned flags,
                    const char *start_after, uint32_t max_count,
                    const struct coord_watcher *w, coord_children_cb cb,
                    void *data)
{
    struct wire_req q = {.op = WIRE_OP_CHILDREN};
    int err = check_path(path);
    if (err == 0)
        err = read_flags(flags, w, COORD_READ_LOCAL | COORD_READ_STATS,
                         &q.u.children.flags);
    if (err != 0)
        return err;
    if (start_after != NULL &&
        strnlen(start_after, COORD_PATH_BYTES_MAX + 1) > COORD_PATH_BYTES_MAX)
        return COORD_ETOOBIG;
    q.u.children.path = bytes_of(path);
    q.u.children.start_after = bytes_of(start_after);
    q.u.children.max_count = max_count;
    struct coord__req *r = req_new(WIRE_OP_CHILDREN, COORD__CB_CHILDREN,
                                   data, w, COORD_WATCH_CHILDREN, path);
    if (r != NULL)
        r->cb.children = cb;
    return submit(c, r, &q);
}

int coord_async(struct coord_client *c, const char *path, coord_void_cb cb,
                void *data)
{
    int err = check_path(path);
    if (err != 0)
        return err;
    struct wire_req q = {.op = WIRE_OP_SYNC};
    q.u.path = bytes_of(path);
    struct coord__req *r =
        req_new(WIRE_OP_SYNC, COORD__CB_VOID, data, NULL, 0, path);
    if (r != NULL)
        r->cb.v = cb;
    return submit(c, r, &q);
}

static int watch_op(struct coord_client *c, uint32_t op, const char *path,
                    int kind, const struct coord_watcher *w,
                    coord_void_cb cb, void *data)
{
    int err = check_path(path);
    if (err != 0)
        return err;
    struct wire_req q = {.op = op};
    q.u.watch = (struct wire_watch_req){bytes_of(path), (uint32_t)kind};
    struct coord__req *r = req_new(op, COORD__CB_VOID, data, w,
                                   (uint32_t)kind, path);
    if (r == NULL)
        return COORD_ENOMEM;
    r->cb.v = cb;
    if (op == WIRE_OP_REMOVE_WATCH) { /* drop every local watcher */
        r->watch_kind = (uint32_t)kind;
        r->watch_path = coord_strndup(path, strlen(path));
        if (r->watch_path == NULL) {
            coord__req_free(r);
            return COORD_ENOMEM;
        }
    }
    return submit(c, r, &q);
}

int coord_aadd_watch(struct coord_client *c, const char *path, int kind,
                     const struct coord_watcher *w, coord_void_cb cb,
                     void *data)
{
    if ((kind != COORD_WATCH_PERSISTENT &&
         kind != COORD_WATCH_PERSISTENT_RECURSIVE) ||
        w == NULL || w->cb == NULL)
        return COORD_EINVAL;
    return watch_op(c, WIRE_OP_ADD_WATCH, path, kind, w, cb, data);
}

int coord_aremove_watch(struct coord_client *c, const char *path, int kind,
                        coord_void_cb cb, void *data)
{
    if (kind < COORD_WATCH_DATA || kind > COORD_WATCH_PERSISTENT_RECURSIVE)
        return COORD_EINVAL;
    return watch_op(c, WIRE_OP_REMOVE_WATCH, path, kind, NULL, cb, data);
}

/* ---- Completion ---------------------------------------------------- */

/* Registers or drops r's watch after a reply with status err. Returns the
 * status the callback sees. */
static int settle_watch(struct coord_client *c, struct coord__req *r,
                        int err)
{
    uint32_t kind = r->watch_kind;
    if (kind == COORD_WATCH_NONE)
        return err;
    if (r->op == WIRE_OP_REMOVE_WATCH) {
        if (err == 0 || err == COORD_ENOWATCH)
            coord__watchtab_remove(&c->watches, r->watch_path, kind);
        return err;
    }
    if (r->op == WIRE_OP_EXISTS)
        kind = err == 0 ? COORD_WATCH_DATA : COORD_WATCH_EXISTS;
    if (err != 0 && !(r->op == WIRE_OP_EXISTS && err == COORD_ENONODE))
        return err;
    int werr = coord__watchtab_add(&c->watches, r->watch_path,
                                   strlen(r->watch_path), kind,
                                   &r->watcher);
    return werr != 0 ? werr : err;
}

/* Builds the page of a CHILDREN reply; entries freed with coord_free. */
static int children_page(const struct wire_resp *m,
                         struct coord_children_page *page)
{
    const struct wire_children_resp *cr = &m->u.children;
    struct wire_iter it = cr->it;
    struct wire_child ch;
    size_t names = 0;
    while (wire_next_child(&it, &ch))
        names += ch.name.len + 1;
    struct coord_child *e =
        coord_malloc(cr->n * sizeof(*e) + names + 1);
    if (e == NULL)
        return COORD_ENOMEM;
    char *p = (char *)(e + cr->n);
    size_t i = 0;
    it = cr->it;
    while (i < cr->n && wire_next_child(&it, &ch)) {
        memcpy(p, ch.name.ptr, ch.name.len);
        p[ch.name.len] = '\0';
        e[i].name = p;
        e[i].stat = cr->with_stats ? ch.stat : (struct coord_stat){0};
        p += ch.name.len + 1;
        i++;
    }
    *page = (struct coord_children_page){i, e, cr->more, cr->with_stats};
    return 0;
}

static void complete_children(struct coord__req *r,
                              const struct wire_resp *m, int err)
{
    struct coord_children_page page = {0};
    if (err == 0 && m != NULL)
        err = children_page(m, &page);
    if (r->cb.children != NULL)
        r->cb.children(r->data, err, err == 0 ? &page : NULL);
    coord_free((void *)page.entries);
}

static void complete_multi(struct coord__req *r, const struct wire_resp *m,
                           int err)
{
    struct coord_op_result *res = NULL;
    size_t n = 0;
    if (m != NULL && m->err == 0)
        err = coord__multi_results(m, &res, &n);
    if (r->cb.multi != NULL)
        r->cb.multi(r->data, err, n, res);
    coord_free(res);
}

static void complete_create(struct coord__req *r, const struct wire_resp *m,
                            int err)
{
    char *path = NULL;
    if (err == 0) {
        path = coord__strdup_bytes(m->u.created.path);
        err = path == NULL ? COORD_ENOMEM : 0;
    }
    if (r->cb.create != NULL)
        r->cb.create(r->data, err, path,
                     err == 0 ? &m->u.created.stat : NULL);
    coord_free(path);
}

void coord__complete(struct coord_client *c, struct coord__req *r,
                     const struct wire_resp *m, int err)
{
    coord_assert(m == NULL || err == m->err);
    if (m != NULL)
        err = settle_watch(c, r, err);
    if (err == 0 && m == NULL)
        err = COORD_EINTERNAL;
    bool ok = err == 0;
    switch (r->cb_kind) {
    case COORD__CB_VOID:
        if (r->cb.v != NULL)
            r->cb.v(r->data, err);
        break;
    case COORD__CB_STAT:
        if (r->cb.stat != NULL)
            r->cb.stat(r->data, err, ok ? &m->u.stat : NULL);
        break;
    case COORD__CB_CREATE:
        complete_create(r, m, err);
        break;
    case COORD__CB_DATA:
        if (r->cb.get != NULL)
            r->cb.get(r->data, err, ok ? m->u.get.data.ptr : NULL,
                      ok ? m->u.get.data.len : 0,
                      ok ? &m->u.get.stat : NULL);
        break;
    case COORD__CB_CHILDREN:
        complete_children(r, m, err);
        break;
    case COORD__CB_MULTI:
        complete_multi(r, m, err);
        break;
    case COORD__CB_STATUS:
        coord__complete_status(r, ok ? m : NULL, err);
        break;
    case COORD__CB_RAW:
        if (r->cb.raw != NULL)
            r->cb.raw(r->data, err, ok ? m : NULL);
        break;
    default: /* COORD__CB_INTERNAL */
        break;
    }
    coord__req_free(r);
}

int coord__deliver_event(struct coord_client *c, const struct wire_resp *m)
{
    if (c->watches.n == 0)
        return 0;
    char *path = coord__strdup_bytes(m->u.event.path);
    if (path == NULL)
        return COORD_ENOMEM; /* see below */
    /* Arrays as big as what fires (not as the whole table). */
    size_t n = coord__watchtab_count(&c->watches, m->u.event.type, path);
    struct coord__fired *fired = coord_malloc((n ? n : 1) * sizeof(*fired));
    char **owned = coord_malloc((n ? n : 1) * sizeof(*owned));
    if (fired == NULL || owned == NULL) {
        /* Dropping the connection makes the server replay the event (or
         * say MUST_REREAD) on the next one: never lose it silently. */
        coord_free(path);
        coord_free(fired);
        coord_free(owned);
        return COORD_ENOMEM;
    }
    size_t before = c->watches.n;
    size_t k = coord__watchtab_match(&c->watches, m->u.event.type, path,
                                     fired, n, owned, n);
    coord_assert(k == n);
    size_t n_owned = before - c->watches.n;
    for (size_t i = 0; i < k; i++) {
        struct coord_event ev = {
            .type = (int)m->u.event.type,
            .kind = (int)fired[i].kind,
            .path = fired[i].path,
            .zxid = m->zxid,
        };
        fired[i].w.cb(fired[i].w.data, &ev);
    }
    coord__watchtab_release(owned, n_owned);
    coord_free(owned);
    coord_free(fired);
    coord_free(path);
    return 0;
}

void coord__watches_lost(struct coord_client *c, uint64_t zxid)
{
    struct coord__watchtab old = c->watches;
    coord__watchtab_init(&c->watches, old.max);
    for (const struct coord__watch *e = old.head; e; e = e->next) {
        struct coord_event ev = {
            .type = COORD_EVENT_MUST_REREAD,
            .kind = (int)e->kind,
            .path = e->path,
            .zxid = zxid,
        };
        e->w.cb(e->w.data, &ev);
    }
    coord__watchtab_free(&old);
}
