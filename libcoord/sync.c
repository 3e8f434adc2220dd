/* sync.c -- the blocking API on top of the async one: each call submits
 * the async operation (waiting for a free request slot instead of failing
 * with COORD_EAGAIN) and sleeps on a condition variable until its callback
 * has copied the results out. The I/O thread guarantees every callback
 * runs by the request deadline, so the wait is bounded. Must not be used
 * on the I/O thread (it would wait for itself): COORD_EBUSY there.
 */
#include "client_int.h"

#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* ---- Waiter ---------------------------------------------------- */

int coord__waiter_init(struct coord__waiter *w, struct coord_client *c)
{
    if (c == NULL)
        return COORD_EINVAL;
    if (coord__on_io_thread(c))
        return COORD_EBUSY;
    pthread_mutex_lock(&c->mu);
    bool closing = c->closing;
    if (!closing)
        c->users++; /* coord_close() waits for us to leave */
    pthread_mutex_unlock(&c->mu);
    if (closing)
        return COORD_ECLOSED;
    w->c = c;
    w->done = false;
    w->status = 0;
    pthread_cond_init(&w->cv, NULL);
    coord__submit_blocks = true;
    return 0;
}

int coord__waiter_wait(struct coord__waiter *w, int submit_err)
{
    struct coord_client *c = w->c;
    coord__submit_blocks = false;
    pthread_mutex_lock(&c->mu);
    while (submit_err == 0 && !w->done)
        pthread_cond_wait(&w->cv, &c->mu);
    coord_assert(c->users > 0);
    if (--c->users == 0)
        pthread_cond_broadcast(&c->users_cv);
    pthread_mutex_unlock(&c->mu); /* the last touch of c */
    pthread_cond_destroy(&w->cv);
    return submit_err != 0 ? submit_err : w->status;
}

void coord__waiter_done(struct coord__waiter *w, int status)
{
    pthread_mutex_lock(&w->c->mu);
    w->status = status;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->c->mu);
}

static void void_done(void *data, int status)
{
    coord__waiter_done(data, status);
}

/* ---- Calls ---------------------------------------------------- */

struct stat_wait {
    struct coord__waiter w;
    struct coord_stat *stat;
};

static void stat_done(void *data, int status, const struct coord_stat *st)
{
    struct stat_wait *s = data;
    if (status == 0 && s->stat != NULL)
        *s->stat = *st;
    coord__waiter_done(&s->w, status);
}

struct create_wait {
    struct coord__waiter w;
    char **path;
    struct coord_stat *stat;
};

static void create_done(void *data, int status, const char *path,
                        const struct coord_stat *st)
{
    struct create_wait *s = data;
    if (status == 0 && s->path != NULL) {
        *s->path = coord_strndup(path, strlen(path));
        if (*s->path == NULL)
            status = COORD_ENOMEM;
    }
    if (status == 0 && s->stat != NULL)
        *s->stat = *st;
    coord__waiter_done(&s->w, status);
}

int coord_create(struct coord_client *c, const char *path, const void *value,
                 size_t len, int mode, uint64_t ttl_ms, char **path_out,
                 struct coord_stat *stat)
{
    struct create_wait s = {.path = path_out, .stat = stat};
    if (path_out != NULL)
        *path_out = NULL;
    int err = coord__waiter_init(&s.w, c);
    if (err != 0)
        return err;
    err = coord_acreate(c, path, value, len, mode, ttl_ms, create_done, &s);
    return coord__waiter_wait(&s.w, err);
}

int coord_delete(struct coord_client *c, const char *path, int32_t version)
{
    struct coord__waiter w;
    int err = coord__waiter_init(&w, c);
    if (err != 0)
        return err;
    err = coord_adelete(c, path, version, void_done, &w);
    return coord__waiter_wait(&w, err);
}

int coord_check(struct coord_client *c, const char *path, int32_t version)
{
    struct coord__waiter w;
    int err = coord__waiter_init(&w, c);
    if (err != 0)
        return err;
    err = coord_acheck(c, path, version, void_done, &w);
    return coord__waiter_wait(&w, err);
}

int coord_sync(struct coord_client *c, const char *path)
{
    struct coord__waiter w;
    int err = coord__waiter_init(&w, c);
    if (err != 0)
        return err;
    err = coord_async(c, path, void_done, &w);
    return coord__waiter_wait(&w, err);
}

int coord_add_watch(struct coord_client *c, const char *path, int kind,
                    const struct coord_watcher *wt)
{
    struct coord__waiter w;
    int err = coord__waiter_init(&w, c);
    if (err != 0)
        return err;
    err = coord_aadd_watch(c, path, kind, wt, void_done, &w);
    return coord__waiter_wait(&w, err);
}

int coord_remove_watch(struct coord_client *c, const char *path, int kind)
{
    struct coord__waiter w;
    int err = coord__waiter_init(&w, c);
    if (err != 0)
        return err;
    err = coord_aremove_watch(c, path, kind, void_done, &w);
    return coord__waiter_wait(&w, err);
}

int coord_exists(struct coord_client *c, const char *path, unsigned flags,
                 const struct coord_watcher *wt, struct coord_stat *stat)
{
    struct stat_wait s = {.stat = stat};
    int err = coord__waiter_init(&s.w, c);
    if (err != 0)
        return err;
    err = coord_aexists(c, path, flags, wt, stat_done, &s);
    return coord__waiter_wait(&s.w, err);
}

int coord_set(struct coord_client *c, const char *path, const void *value,
              size_t len, int32_t version, struct coord_stat *stat)
{
    struct stat_wait s = {.stat = stat};
    int err = coord__waiter_init(&s.w, c);
    if (err != 0)
        return err;
    err = coord_aset(c, path, value, len, version, stat_done, &s);
    return coord__waiter_wait(&s.w, err);
}

struct get_wait {
    struct coord__waiter w;
    void **value;
    size_t *len;
    struct coord_stat *stat;
};

static void get_done(void *data, int status, const void *value, size_t len,
                     const struct coord_stat *st)
{
    struct get_wait *s = data;
    if (status == 0 && s->value != NULL) {
        *s->value = coord_strndup(value, len);
        if (*s->value == NULL)
            status = COORD_ENOMEM;
    }
    if (status == 0 && s->len != NULL)
        *s->len = len;
    if (status == 0 && s->stat != NULL)
        *s->stat = *st;
    coord__waiter_done(&s->w, status);
}

int coord_get(struct coord_client *c, const char *path, unsigned flags,
              const struct coord_watcher *wt, void **value, size_t *len,
              struct coord_stat *stat)
{
    struct get_wait s = {.value = value, .len = len, .stat = stat};
    if (value != NULL)
        *value = NULL;
    int err = coord__waiter_init(&s.w, c);
    if (err != 0)
        return err;
    err = coord_aget(c, path, flags, wt, get_done, &s);
    return coord__waiter_wait(&s.w, err);
}

/* ---- Children ---------------------------------------------------- */

void coord_child_list_free(struct coord_child_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        coord_free(l->names[i]);
    coord_free(l->names);
    coord_free(l->stats);
    memset(l, 0, sizeof(*l));
}

struct children_wait {
    struct coord__waiter w;
    struct coord_child_list *out;
};

/* Appends a page to l. */
static int list_append(struct coord_child_list *l,
                       const struct coord_children_page *p)
{
    size_t n = l->n + p->n;
    char **names = coord_realloc(l->names, (n ? n : 1) * sizeof(*names));
    if (names == NULL)
        return COORD_ENOMEM;
    l->names = names;
    if (p->with_stats) {
        struct coord_stat *st =
            coord_realloc(l->stats, (n ? n : 1) * sizeof(*st));
        if (st == NULL)
            return COORD_ENOMEM;
        l->stats = st;
    }
    for (size_t i = 0; i < p->n; i++) {
        l->names[l->n] = coord_strndup(p->entries[i].name,
                                       strlen(p->entries[i].name));
        if (l->names[l->n] == NULL)
            return COORD_ENOMEM;
        if (p->with_stats)
            l->stats[l->n] = p->entries[i].stat;
        l->n++;
    }
    l->more = p->more;
    return 0;
}

static void children_done(void *data, int status,
                          const struct coord_children_page *page)
{
    struct children_wait *s = data;
    if (status == 0)
        status = list_append(s->out, page);
    coord__waiter_done(&s->w, status);
}

int coord_children(struct coord_client *c, const char *path, unsigned flags,
                   const char *start_after, uint32_t max_count,
                   const struct coord_watcher *wt,
                   struct coord_child_list *out)
{
    struct children_wait s = {.out = out};
    memset(out, 0, sizeof(*out));
    int err = coord__waiter_init(&s.w, c);
    if (err != 0)
        return err;
    err = coord_achildren(c, path, flags, start_after, max_count, wt,
                          children_done, &s);
    err = coord__waiter_wait(&s.w, err);
    if (err != 0)
        coord_child_list_free(out);
    return err;
}

int coord_children_all(struct coord_client *c, const char *path,
                       unsigned flags, const struct coord_watcher *wt,
                       struct coord_child_list *out)
{
    struct children_wait s = {.out = out};
    char *after = NULL;
    int err = 0;
    memset(out, 0, sizeof(*out));
    do {
        err = coord__waiter_init(&s.w, c);
        if (err != 0)
            break;
        err = coord_achildren(c, path, flags, after, 0,
                              out->n == 0 ? wt : NULL, children_done, &s);
        err = coord__waiter_wait(&s.w, err);
        coord_free(after);
        after = NULL;
        if (err == 0 && out->more && out->n > 0) {
            const char *last = out->names[out->n - 1];
            after = coord_strndup(last, strlen(last));
            err = after == NULL ? COORD_ENOMEM : 0;
        } else if (err == 0 && out->more) {
            err = COORD_EPROTO; /* "more" with an empty page: no progress */
        }
    } while (err == 0 && out->more);
    coord_free(after);
    if (err != 0)
        coord_child_list_free(out);
    out->more = false;
    return err;
}
