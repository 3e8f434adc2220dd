/* test_recipes.c -- the recipes (recipes/, coord_recipes.h) against a real
 * 3-node coordd cluster on 127.0.0.1/.2/.3: lock contention among threads
 * with their own clients (one holder at a time, checked in-process and by
 * a read-modify-write counter; fencing tokens strictly increasing), a
 * holder whose session expires, try-acquire, the "still the holder" multi
 * check, leader election with an observer, barriers; the read-write lock
 * (shared/exclusive, arrival order, tokens, contention), the semaphore
 * (n slots, contention, unique tokens), bad input, loss notification
 * (node deleted, server paused, session expired) and state listeners, the
 * counter and the queue; lock contention across a kill -9 of the
 * cluster leader (it leaves 2 nodes); and the waiting rule of the lock
 * and the election: a node ahead that leaves, a chain hand-off, and a
 * waiter's own node deleted by someone else (never taken as held; the
 * waiter queues again). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "coord_recipes.h"
#include "test/lib/proc.h"

static struct tcluster cl;

static int setup(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    return tcluster_start(&cl, 15000) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tcluster_cleanup(&cl);
    return 0;
}

static struct coord_client *client(void)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = cl.servers;
    o.session_timeout_ms = 10000;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

static int64_t now_ms(void)
{
    return tproc_now_ms();
}

/* ---- Lock contention ---------------------------------------------------- */

struct contest {
    const char *path;    /* lock */
    const char *counter; /* node incremented inside the critical section */
    int rounds;          /* per worker; 0 = until stop */
    bool tolerate;       /* errors expected (failover) */
    atomic_bool stop;
    atomic_int holders;
    atomic_int violations;
    pthread_mutex_t mu;
    uint64_t last_token;
    int token_errors;
    int acquisitions;
    int increments; /* counter sets that succeeded */
    int errors;
    int last_err; /* last acquire error (diagnostics) */
    pthread_cond_t cv; /* signalled at every acquisition */
};

struct worker {
    struct contest *ct;
    pthread_t th;
};

/* Reads the counter and writes it + 1 in a multi guarded by the lock's
 * check op: a lost update would show an overlap of two holders. */
static int bump(struct coord_client *c, struct coord_lock *l,
                const char *path)
{
    void *v = NULL;
    size_t len = 0;
    int rc = coord_get(c, path, 0, NULL, &v, &len, NULL);
    if (rc != 0)
        return rc;
    long n = strtol(v, NULL, 10);
    coord_free_mem(v);
    char buf[32];
    int k = snprintf(buf, sizeof(buf), "%ld", n + 1);
    struct coord_multi *m = NULL;
    assert_int_equal(coord_multi_new(&m), 0);
    assert_int_equal(coord_lock_check_op(l, m), 0);
    assert_int_equal(coord_multi_set(m, path, buf, (size_t)k, -1), 0);
    rc = coord_multi(c, m);
    coord_multi_free(m);
    return rc;
}

static void critical(struct contest *ct, struct coord_client *c,
                     struct coord_lock *l, uint64_t tok)
{
    if (atomic_fetch_add(&ct->holders, 1) != 0)
        atomic_fetch_add(&ct->violations, 1);
    pthread_mutex_lock(&ct->mu);
    if (tok <= ct->last_token)
        ct->token_errors++;
    ct->last_token = tok;
    ct->acquisitions++;
    pthread_cond_broadcast(&ct->cv);
    pthread_mutex_unlock(&ct->mu);
    int rc = bump(c, l, ct->counter);
    pthread_mutex_lock(&ct->mu);
    if (rc == 0)
        ct->increments++;
    else if (!ct->tolerate)
        ct->errors++;
    pthread_mutex_unlock(&ct->mu);
    atomic_fetch_sub(&ct->holders, 1);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct contest *ct = w->ct;
    struct coord_client *c = client();
    struct coord_lock *l = NULL;
    assert_int_equal(coord_lock_new(&l, c, ct->path), 0);
    for (int i = 0; ct->rounds == 0 || i < ct->rounds; i++) {
        if (ct->rounds == 0 && atomic_load(&ct->stop))
            break;
        uint64_t tok = 0;
        int rc = coord_lock_acquire(l, 15000, &tok);
        if (rc != 0) {
            pthread_mutex_lock(&ct->mu);
            if (!ct->tolerate)
                ct->errors++;
            ct->last_err = rc;
            pthread_mutex_unlock(&ct->mu);
            continue;
        }
        assert_int_equal(coord_lock_token(l), tok);
        critical(ct, c, l, tok);
        for (int k = 0; k < 50 && coord_lock_release(l) != 0; k++)
            ;
    }
    coord_lock_free(l);
    assert_int_equal(coord_close(c), 0);
    return NULL;
}

#define WORKERS 4

static void contest_init(struct contest *ct, const char *path,
                         const char *counter, int rounds)
{
    memset(ct, 0, sizeof(*ct));
    pthread_mutex_init(&ct->mu, NULL);
    pthread_cond_init(&ct->cv, NULL);
    ct->path = path;
    ct->counter = counter;
    ct->rounds = rounds;
}

static void lock_contention(void **state)
{
    (void)state;
    struct coord_client *c = client();
    assert_int_equal(coord_create(c, "/cnt", "0", 1, 0, 0, NULL, NULL), 0);
    struct contest ct;
    contest_init(&ct, "/locks/a", "/cnt", 25);
    struct worker w[WORKERS];
    int64_t t0 = now_ms();
    for (int i = 0; i < WORKERS; i++) {
        w[i].ct = &ct;
        assert_int_equal(pthread_create(&w[i].th, NULL, worker_main, &w[i]),
                         0);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i].th, NULL);
    int64_t ms = now_ms() - t0;
    print_message("lock: %d acquisitions by %d clients in %lld ms\n",
                  ct.acquisitions, WORKERS, (long long)ms);
    assert_int_equal(ct.errors, 0);
    assert_int_equal(atomic_load(&ct.violations), 0);
    assert_int_equal(ct.token_errors, 0);
    assert_int_equal(ct.acquisitions, WORKERS * 25);
    assert_int_equal(ct.increments, WORKERS * 25);
    void *v = NULL;
    assert_int_equal(coord_get(c, "/cnt", 0, NULL, &v, NULL, NULL), 0);
    assert_int_equal(strtol(v, NULL, 10), WORKERS * 25);
    coord_free_mem(v);
    /* every node was removed: nobody queues behind a leftover */
    struct coord_child_list l;
    assert_int_equal(coord_children_all(c, "/locks/a", 0, NULL, &l), 0);
    assert_int_equal(l.n, 0);
    coord_child_list_free(&l);
    assert_int_equal(coord_close(c), 0);
}

static size_t n_children(struct coord_client *c, const char *path)
{
    struct coord_child_list l;
    assert_int_equal(coord_children_all(c, path, 0, NULL, &l), 0);
    size_t n = l.n;
    coord_child_list_free(&l);
    return n;
}

/* Polls (bounded) until path has n children. */
static void await_children(struct coord_client *c, const char *path,
                           size_t n)
{
    int64_t end = now_ms() + 10000;
    while (n_children(c, path) != n && now_ms() < end)
        ;
    assert_int_equal(n_children(c, path), n);
}

struct waiter {
    struct coord_lock *l;
    uint64_t tok;
    int rc;
};

static void *acquire_main(void *arg)
{
    struct waiter *w = arg;
    w->rc = coord_lock_acquire(w->l, 15000, &w->tok);
    return NULL;
}

/* A client driven by our own pump thread (external-loop mode) with the
 * shortest session: pausing the pump freezes the client like a stalled
 * process, so that its session expires on the cluster. */
struct pump {
    struct coord_client *c;
    pthread_mutex_t mu; /* held by the pump while it runs, by the test to
                           pause it */
    atomic_bool quit;
    pthread_t th;
};

static void *pump_main(void *arg)
{
    struct pump *p = arg;
    while (!atomic_load(&p->quit)) {
        pthread_mutex_lock(&p->mu);
        struct pollfd pfd = {.fd = coord_fd(p->c), .events = POLLIN};
        poll(&pfd, 1, 10);
        coord_process(p->c);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

static void pump_start(struct pump *p)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = cl.servers;
    o.session_timeout_ms = 1000;
    o.external_loop = true;
    assert_int_equal(coord_open(&p->c, &o), 0);
    pthread_mutex_init(&p->mu, NULL);
    atomic_store(&p->quit, false);
    assert_int_equal(pthread_create(&p->th, NULL, pump_main, p), 0);
}

static void pump_stop(struct pump *p)
{
    atomic_store(&p->quit, true);
    pthread_join(p->th, NULL);
    assert_int_equal(coord_close(p->c), 0);
}

static void holder_session_expires(void **state)
{
    (void)state;
    struct pump pa;
    pump_start(&pa);
    struct coord_client *b = client(), *o = client();
    struct coord_lock *la = NULL, *lb = NULL;
    assert_int_equal(coord_lock_new(&la, pa.c, "/locks/b"), 0);
    assert_int_equal(coord_lock_new(&lb, b, "/locks/b"), 0);
    uint64_t ta = 0;
    assert_int_equal(coord_lock_acquire(la, 5000, &ta), 0);
    assert_int_equal(coord_lock_state(la), COORD_LOCK_HELD);
    struct waiter wb = {.l = lb};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, acquire_main, &wb), 0);
    await_children(o, "/locks/b", 2); /* b is queued */
    int64_t t0 = now_ms();
    pthread_mutex_lock(&pa.mu); /* a stalls: its session expires */
    pthread_join(th, NULL);
    int64_t waited = now_ms() - t0;
    /* the frozen client still believes it holds the lock: only the
     * fencing token or the check op can tell it otherwise */
    assert_int_equal(coord_lock_state(la), COORD_LOCK_HELD);
    pthread_mutex_unlock(&pa.mu);
    print_message("lock passed %lld ms after the holder stalled\n",
                  (long long)waited);
    assert_int_equal(wb.rc, 0);
    assert_true(wb.tok > ta);
    assert_int_equal(coord_lock_state(lb), COORD_LOCK_HELD);
    int64_t end = now_ms() + 10000;
    while (coord_lock_state(la) != COORD_LOCK_LOST && now_ms() < end)
        ;
    assert_int_equal(coord_lock_state(la), COORD_LOCK_LOST);
    coord_lock_free(la);
    assert_int_equal(coord_lock_release(lb), 0);
    assert_int_equal(coord_lock_state(lb), COORD_LOCK_FREE);
    coord_lock_free(lb);
    pump_stop(&pa);
    assert_int_equal(coord_close(b), 0);
    assert_int_equal(coord_close(o), 0);
}

static void try_acquire_and_check_op(void **state)
{
    (void)state;
    struct coord_client *a = client(), *b = client();
    struct coord_lock *la = NULL, *lb = NULL;
    assert_int_equal(coord_lock_new(&la, a, "/locks/c"), 0);
    assert_int_equal(coord_lock_new(&lb, b, "/locks/c"), 0);
    uint64_t ta = 0, tb = 0;
    assert_int_equal(coord_lock_try(la, &ta), 0);
    assert_int_equal(coord_lock_try(la, NULL), COORD_EBUSY); /* re-entry */
    assert_int_equal(coord_lock_try(lb, &tb), COORD_EBUSY);
    assert_int_equal(coord_lock_acquire(lb, 200, &tb), COORD_ETIMEDOUT);
    assert_int_equal(n_children(a, "/locks/c"), 1); /* b left no node */
    assert_int_equal(coord_lock_release(la), 0);
    assert_int_equal(coord_lock_try(lb, &tb), 0);
    assert_true(tb > ta);
    /* the check op passes while b holds the lock */
    assert_int_equal(coord_create(a, "/fenced", "", 0, 0, 0, NULL, NULL), 0);
    struct coord_multi *m = NULL;
    assert_int_equal(coord_multi_new(&m), 0);
    assert_int_equal(coord_lock_check_op(lb, m), 0);
    assert_int_equal(coord_multi_set(m, "/fenced", "b", 1, -1), 0);
    assert_int_equal(coord_multi(b, m), 0);
    /* someone removes b's node (as session expiry would): the same multi
     * now fails and changes nothing */
    struct coord_child_list l;
    assert_int_equal(coord_children_all(a, "/locks/c", 0, NULL, &l), 0);
    assert_int_equal(l.n, 1);
    char p[256];
    snprintf(p, sizeof(p), "/locks/c/%s", l.names[0]);
    coord_child_list_free(&l);
    assert_int_equal(coord_delete(a, p, -1), 0);
    assert_int_equal(coord_lock_try(la, &ta), 0); /* a holds it now */
    assert_true(ta > tb);
    assert_int_equal(coord_multi(b, m), COORD_ENONODE);
    assert_int_equal(coord_multi_result(m, 0)->err, COORD_ENONODE);
    coord_multi_free(m);
    struct coord_stat st;
    assert_int_equal(coord_exists(a, "/fenced", 0, NULL, &st), 0);
    assert_int_equal(st.version, 1);
    assert_int_equal(coord_lock_release(lb), 0); /* node gone: still 0 */
    assert_int_equal(coord_lock_release(la), 0);
    coord_lock_free(la);
    coord_lock_free(lb);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
}

/* ---- Read-write lock ---------------------------------------------------- */

struct rwwaiter {
    struct coord_rwlock *l;
    int mode;
    uint64_t tok;
    int rc;
    atomic_bool done;
};

static void *rw_acquire_main(void *arg)
{
    struct rwwaiter *w = arg;
    w->rc = coord_rwlock_acquire(w->l, w->mode, 15000, &w->tok);
    atomic_store(&w->done, true);
    return NULL;
}

/* Readers share, a writer waits for every earlier reader and excludes
 * everyone; a reader queued behind a waiting writer waits for it; tokens
 * grow across conflicting acquisitions. */
static void rwlock_shared_and_exclusive(void **state)
{
    (void)state;
    struct coord_client *a = client(), *b = client(), *c = client();
    struct coord_rwlock *r1 = NULL, *r2 = NULL, *r3 = NULL, *wl = NULL,
                        *w2 = NULL;
    assert_int_equal(coord_rwlock_new(&r1, a, "/rw/a"), 0);
    assert_int_equal(coord_rwlock_new(&r2, b, "/rw/a"), 0);
    assert_int_equal(coord_rwlock_new(&r3, a, "/rw/a"), 0);
    assert_int_equal(coord_rwlock_new(&wl, c, "/rw/a"), 0);
    assert_int_equal(coord_rwlock_new(&w2, b, "/rw/a"), 0);
    assert_int_equal(coord_rwlock_acquire(r1, 99, 1000, NULL), COORD_EINVAL);
    uint64_t t1 = 0, t2 = 0;
    assert_int_equal(coord_rwlock_acquire(r1, COORD_RWLOCK_READ, 5000, &t1),
                     0);
    assert_int_equal(coord_rwlock_try(r2, COORD_RWLOCK_READ, &t2), 0);
    assert_int_equal(coord_rwlock_state(r1), COORD_LOCK_HELD);
    assert_int_equal(coord_rwlock_state(r2), COORD_LOCK_HELD);
    assert_int_equal(coord_rwlock_mode(r2), COORD_RWLOCK_READ);
    assert_int_equal(coord_rwlock_try(r2, COORD_RWLOCK_READ, NULL),
                     COORD_EBUSY); /* this handle holds */
    assert_int_equal(coord_rwlock_try(wl, COORD_RWLOCK_WRITE, NULL),
                     COORD_EBUSY);
    assert_int_equal(n_children(a, "/rw/a"), 2); /* try left no node */
    struct rwwaiter ww = {.l = wl, .mode = COORD_RWLOCK_WRITE};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, rw_acquire_main, &ww), 0);
    await_children(a, "/rw/a", 3); /* the writer is queued */
    /* a new reader does not overtake the waiting writer */
    assert_int_equal(coord_rwlock_try(r3, COORD_RWLOCK_READ, NULL),
                     COORD_EBUSY);
    assert_int_equal(coord_rwlock_release(r2), 0);
    /* r1 still reads: the writer must not hold yet (it holds only once no
     * node precedes its own, which r1's does) */
    assert_int_equal(n_children(a, "/rw/a"), 2);
    assert_false(atomic_load(&ww.done));
    assert_int_equal(coord_rwlock_state(r1), COORD_LOCK_HELD);
    assert_int_equal(coord_rwlock_release(r1), 0);
    pthread_join(th, NULL);
    assert_int_equal(ww.rc, 0);
    assert_true(ww.tok > t1 && ww.tok > t2);
    assert_int_equal(coord_rwlock_token(wl), ww.tok);
    assert_int_equal(coord_rwlock_mode(wl), COORD_RWLOCK_WRITE);
    /* while the writer holds: no reader, no second writer */
    assert_int_equal(coord_rwlock_try(r1, COORD_RWLOCK_READ, NULL),
                     COORD_EBUSY);
    assert_int_equal(coord_rwlock_try(w2, COORD_RWLOCK_WRITE, NULL),
                     COORD_EBUSY);
    assert_int_equal(coord_rwlock_acquire(w2, COORD_RWLOCK_WRITE, 200, NULL),
                     COORD_ETIMEDOUT);
    /* the writer's check op guards a write */
    struct coord_multi *m = NULL;
    assert_int_equal(coord_create(c, "/rwfenced", "", 0, 0, 0, NULL, NULL),
                     0);
    assert_int_equal(coord_multi_new(&m), 0);
    assert_int_equal(coord_rwlock_check_op(wl, m), 0);
    assert_int_equal(coord_multi_set(m, "/rwfenced", "w", 1, -1), 0);
    assert_int_equal(coord_multi(c, m), 0);
    coord_multi_free(m);
    struct rwwaiter rw = {.l = r1, .mode = COORD_RWLOCK_READ};
    assert_int_equal(pthread_create(&th, NULL, rw_acquire_main, &rw), 0);
    await_children(a, "/rw/a", 2);
    assert_false(atomic_load(&rw.done));
    assert_int_equal(coord_rwlock_release(wl), 0);
    pthread_join(th, NULL);
    assert_int_equal(rw.rc, 0);
    assert_true(rw.tok > ww.tok);
    assert_int_equal(coord_rwlock_check_op(wl, NULL), COORD_EINVAL);
    coord_rwlock_free(r1); /* releases */
    coord_rwlock_free(r2);
    coord_rwlock_free(r3);
    coord_rwlock_free(wl);
    coord_rwlock_free(w2);
    assert_int_equal(n_children(a, "/rw/a"), 0);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
    assert_int_equal(coord_close(c), 0);
}

/* Mixed readers and writers with their own clients: a writer is always
 * alone, readers overlap only readers, writers' tokens increase in the
 * order they hold, and each reader's token exceeds the last writer's. */
struct rwcontest {
    atomic_int readers, writers, violations, max_readers;
    pthread_mutex_t mu;
    uint64_t last_wtok;
    int token_errors, errors, holds;
};

struct rwworker {
    struct rwcontest *ct;
    int id;
    pthread_t th;
};

static void rw_hold(struct rwcontest *ct, struct coord_client *c, bool wr,
                    uint64_t tok)
{
    atomic_int *mine = wr ? &ct->writers : &ct->readers;
    int n = atomic_fetch_add(mine, 1) + 1;
    if (wr ? (n > 1 || atomic_load(&ct->readers) > 0)
           : atomic_load(&ct->writers) > 0)
        atomic_fetch_add(&ct->violations, 1);
    int mx = atomic_load(&ct->max_readers);
    while (!wr && n > mx &&
           !atomic_compare_exchange_weak(&ct->max_readers, &mx, n))
        ;
    pthread_mutex_lock(&ct->mu);
    if (wr ? tok <= ct->last_wtok : tok < ct->last_wtok)
        ct->token_errors++;
    if (wr)
        ct->last_wtok = tok;
    ct->holds++;
    pthread_mutex_unlock(&ct->mu);
    assert_int_equal(coord_exists(c, "/", 0, NULL, NULL), 0); /* hold a bit */
    atomic_fetch_sub(mine, 1);
}

static void *rw_worker_main(void *arg)
{
    struct rwworker *w = arg;
    struct coord_client *c = client();
    struct coord_rwlock *l = NULL;
    assert_int_equal(coord_rwlock_new(&l, c, "/rw/b"), 0);
    for (int i = 0; i < 10; i++) {
        bool wr = (i + w->id) % 3 == 0;
        uint64_t tok = 0;
        int rc = coord_rwlock_acquire(
            l, wr ? COORD_RWLOCK_WRITE : COORD_RWLOCK_READ, 15000, &tok);
        if (rc != 0) {
            pthread_mutex_lock(&w->ct->mu);
            w->ct->errors++;
            pthread_mutex_unlock(&w->ct->mu);
            continue;
        }
        rw_hold(w->ct, c, wr, tok);
        assert_int_equal(coord_rwlock_release(l), 0);
    }
    coord_rwlock_free(l);
    assert_int_equal(coord_close(c), 0);
    return NULL;
}

static void rwlock_contention(void **state)
{
    (void)state;
    struct rwcontest ct;
    memset(&ct, 0, sizeof(ct));
    pthread_mutex_init(&ct.mu, NULL);
    struct rwworker w[5];
    int64_t t0 = now_ms();
    for (int i = 0; i < 5; i++) {
        w[i].ct = &ct;
        w[i].id = i;
        assert_int_equal(
            pthread_create(&w[i].th, NULL, rw_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 5; i++)
        pthread_join(w[i].th, NULL);
    print_message("rwlock: %d holds by 5 clients in %lld ms, up to %d "
                  "readers at once\n", ct.holds, (long long)(now_ms() - t0),
                  atomic_load(&ct.max_readers));
    assert_int_equal(ct.errors, 0);
    assert_int_equal(ct.holds, 50);
    assert_int_equal(atomic_load(&ct.violations), 0);
    assert_int_equal(ct.token_errors, 0);
}

/* ---- Semaphore ---------------------------------------------------------- */

static void semaphore_slots(void **state)
{
    (void)state;
    struct coord_client *a = client(), *b = client();
    struct coord_semaphore *s[4] = {NULL};
    uint64_t t[4] = {0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            coord_semaphore_new(&s[i], i % 2 ? b : a, "/sem/a/s", 3), 0);
    for (int i = 0; i < 3; i++) /* three holders at once */
        assert_int_equal(coord_semaphore_try(s[i], &t[i]), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(coord_semaphore_state(s[i]), COORD_LOCK_HELD);
    assert_int_equal(coord_semaphore_try(s[0], NULL), COORD_EBUSY);
    assert_int_equal(coord_semaphore_try(s[3], NULL), COORD_EBUSY);
    assert_int_equal(coord_semaphore_acquire(s[3], 200, NULL),
                     COORD_ETIMEDOUT);
    assert_int_equal(n_children(a, "/sem/a/s/holders"), 3);
    assert_int_equal(n_children(a, "/sem/a/s/gate"), 0);
    assert_true(t[0] != t[1] && t[1] != t[2] && t[0] != t[2]);
    /* the stored n */
    void *v = NULL;
    assert_int_equal(coord_get(a, "/sem/a/s", 0, NULL, &v, NULL, NULL), 0);
    assert_string_equal(v, "3");
    coord_free_mem(v);
    /* the check op of a holder */
    struct coord_multi *m = NULL;
    assert_int_equal(coord_multi_new(&m), 0);
    assert_int_equal(coord_semaphore_check_op(s[1], m), 0);
    assert_int_equal(coord_multi(b, m), 0);
    assert_int_equal(coord_semaphore_release(s[1]), 0);
    assert_int_equal(coord_multi(b, m), COORD_ENONODE);
    coord_multi_free(m);
    assert_int_equal(coord_semaphore_acquire(s[3], 5000, &t[3]), 0);
    assert_true(t[3] > t[2]);
    assert_int_equal(coord_semaphore_token(s[3]), t[3]);
    assert_int_equal(coord_semaphore_release(s[1]), COORD_EINVAL);
    for (int i = 0; i < 4; i++)
        coord_semaphore_free(s[i]);
    assert_int_equal(n_children(a, "/sem/a/s/holders"), 0);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
}

#define SEM_N 3
#define SEM_WORKERS 6
#define SEM_ROUNDS 6

struct semcontest {
    atomic_int holders, max_holders;
    pthread_mutex_t mu;
    uint64_t tokens[SEM_WORKERS * SEM_ROUNDS];
    int n_tokens, errors;
};

struct semworker {
    struct semcontest *ct;
    pthread_t th;
};

static void *sem_worker_main(void *arg)
{
    struct semworker *w = arg;
    struct semcontest *ct = w->ct;
    struct coord_client *c = client();
    struct coord_semaphore *s = NULL;
    assert_int_equal(coord_semaphore_new(&s, c, "/sem/b", SEM_N), 0);
    for (int i = 0; i < SEM_ROUNDS; i++) {
        uint64_t tok = 0;
        if (coord_semaphore_acquire(s, 15000, &tok) != 0) {
            pthread_mutex_lock(&ct->mu);
            ct->errors++;
            pthread_mutex_unlock(&ct->mu);
            continue;
        }
        int n = atomic_fetch_add(&ct->holders, 1) + 1;
        int mx = atomic_load(&ct->max_holders);
        while (n > mx &&
               !atomic_compare_exchange_weak(&ct->max_holders, &mx, n))
            ;
        pthread_mutex_lock(&ct->mu);
        ct->tokens[ct->n_tokens++] = tok;
        pthread_mutex_unlock(&ct->mu);
        /* hold for longer than an admission takes, so holds overlap */
        for (int k = 0; k < 12; k++)
            assert_int_equal(coord_exists(c, "/", 0, NULL, NULL), 0);
        atomic_fetch_sub(&ct->holders, 1);
        assert_int_equal(coord_semaphore_release(s), 0);
    }
    coord_semaphore_free(s);
    assert_int_equal(coord_close(c), 0);
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void semaphore_contention(void **state)
{
    (void)state;
    struct semcontest ct;
    memset(&ct, 0, sizeof(ct));
    pthread_mutex_init(&ct.mu, NULL);
    struct semworker w[SEM_WORKERS];
    int64_t t0 = now_ms();
    for (int i = 0; i < SEM_WORKERS; i++) {
        w[i].ct = &ct;
        assert_int_equal(
            pthread_create(&w[i].th, NULL, sem_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < SEM_WORKERS; i++)
        pthread_join(w[i].th, NULL);
    print_message("semaphore(%d): %d holds by %d clients in %lld ms, up to "
                  "%d at once\n", SEM_N, ct.n_tokens, SEM_WORKERS,
                  (long long)(now_ms() - t0), atomic_load(&ct.max_holders));
    assert_int_equal(ct.errors, 0);
    assert_int_equal(ct.n_tokens, SEM_WORKERS * SEM_ROUNDS);
    assert_true(atomic_load(&ct.max_holders) <= SEM_N);
    qsort(ct.tokens, (size_t)ct.n_tokens, sizeof(ct.tokens[0]), cmp_u64);
    for (int i = 1; i < ct.n_tokens; i++)
        assert_true(ct.tokens[i] > ct.tokens[i - 1]); /* unique */
}

/* ---- Bad input ---------------------------------------------------------- */

static void recipes_bad_input(void **state)
{
    (void)state;
    struct coord_client *c = client();
    struct coord_semaphore *s = NULL;
    struct coord_rwlock *rw = NULL;
    struct coord_lock *l = NULL;
    assert_int_equal(coord_semaphore_new(NULL, c, "/sem/x", 1),
                     COORD_EINVAL);
    assert_int_equal(coord_semaphore_new(&s, NULL, "/sem/x", 1),
                     COORD_EINVAL);
    assert_int_equal(coord_semaphore_new(&s, c, NULL, 1), COORD_EINVAL);
    assert_int_equal(coord_semaphore_new(&s, c, "", 1), COORD_EINVAL);
    assert_int_equal(coord_semaphore_new(&s, c, "/", 1), COORD_EINVAL);
    assert_int_equal(coord_semaphore_new(&s, c, "sem", 1), COORD_EINVAL);
    assert_int_equal(coord_semaphore_new(&s, c, "/sem/x", 0), COORD_EINVAL);
    assert_int_equal(coord_semaphore_new(&s, c, "/sem/x", -3),
                     COORD_EINVAL);
    assert_int_equal(
        coord_semaphore_new(&s, c, "/sem/x", COORD_SEMAPHORE_MAX + 1),
        COORD_EINVAL);
    assert_int_equal(coord_semaphore_new(&s, c, "/sem/x", 2), 0);
    struct coord_semaphore *s2 = NULL;
    assert_int_equal(coord_semaphore_new(&s2, c, "/sem/x", 5),
                     COORD_EINVAL); /* n disagrees with the stored 2 */
    assert_null(s2);
    assert_int_equal(coord_create(c, "/notsem", "hello", 5, 0, 0, NULL,
                                  NULL), 0);
    assert_int_equal(coord_semaphore_new(&s2, c, "/notsem", 5),
                     COORD_EINVAL);
    coord_semaphore_free(s);
    assert_int_equal(coord_semaphore_acquire(NULL, 10, NULL), COORD_EINVAL);
    assert_int_equal(coord_semaphore_release(NULL), COORD_EINVAL);
    assert_int_equal(coord_rwlock_new(&rw, c, ""), COORD_EINVAL);
    assert_int_equal(coord_rwlock_new(&rw, NULL, "/rw/x"), COORD_EINVAL);
    assert_int_equal(coord_rwlock_new(NULL, c, "/rw/x"), COORD_EINVAL);
    assert_int_equal(coord_rwlock_acquire(NULL, COORD_RWLOCK_READ, 1, NULL),
                     COORD_EINVAL);
    assert_int_equal(coord_rwlock_release(NULL), COORD_EINVAL);
    assert_int_equal(coord_lock_new(&l, c, ""), COORD_EINVAL);
    assert_int_equal(coord_lock_new(&l, c, "/"), COORD_EINVAL);
    assert_int_equal(coord_lock_on_loss(NULL, NULL, NULL), COORD_EINVAL);
    assert_int_equal(coord_rwlock_on_loss(NULL, NULL, NULL), COORD_EINVAL);
    assert_int_equal(coord_semaphore_on_loss(NULL, NULL, NULL),
                     COORD_EINVAL);
    assert_int_equal(coord_election_on_loss(NULL, NULL, NULL), COORD_EINVAL);
    assert_int_equal(coord_rwlock_new(&rw, c, "/rw/x"), 0);
    assert_int_equal(coord_rwlock_release(rw), COORD_EINVAL); /* not held */
    assert_int_equal(coord_rwlock_try(rw, 0, NULL), COORD_EINVAL);
    coord_rwlock_free(rw);
    uint64_t id = 0;
    assert_int_equal(coord_add_state_listener(c, NULL, NULL, &id),
                     COORD_EINVAL);
    assert_int_equal(coord_remove_state_listener(c, 12345), COORD_EINVAL);
    assert_int_equal(coord_close(c), 0);
}

/* ---- Loss notification -------------------------------------------------- */

/* What a loss callback saw, in order. */
struct lossrec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int seen[16];
    int n;
};

static void lossrec_init(struct lossrec *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &a);
    pthread_condattr_destroy(&a);
}

static void loss_cb(void *data, int st)
{
    struct lossrec *r = data;
    pthread_mutex_lock(&r->mu);
    if (r->n < 16)
        r->seen[r->n++] = st;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Waits (bounded) until the callback has run n times; returns the n-th
 * state seen, or -1. */
static int lossrec_await(struct lossrec *r, int n, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&r->mu);
    while (r->n < n && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
        ;
    int st = r->n >= n ? r->seen[n - 1] : -1;
    pthread_mutex_unlock(&r->mu);
    return st;
}

static int lossrec_count(struct lossrec *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* Someone else deletes the holder's node: LOST at once (a watch), for a
 * lock and for a leader; a plain release reports nothing. */
static void loss_node_deleted(void **state)
{
    (void)state;
    struct coord_client *a = client(), *o = client();
    struct lossrec r, re;
    lossrec_init(&r);
    lossrec_init(&re);
    struct coord_lock *l = NULL;
    assert_int_equal(coord_lock_new(&l, a, "/locks/loss"), 0);
    assert_int_equal(coord_lock_on_loss(l, loss_cb, &r), 0);
    assert_int_equal(coord_lock_acquire(l, 5000, NULL), 0);
    assert_int_equal(coord_lock_release(l), 0); /* ours: no report */
    assert_int_equal(coord_lock_acquire(l, 5000, NULL), 0);
    struct coord_child_list cl2;
    assert_int_equal(coord_children_all(o, "/locks/loss", 0, NULL, &cl2), 0);
    assert_int_equal(cl2.n, 1);
    char p[256];
    snprintf(p, sizeof(p), "/locks/loss/%s", cl2.names[0]);
    coord_child_list_free(&cl2);
    assert_int_equal(coord_delete(o, p, -1), 0);
    assert_int_equal(lossrec_await(&r, 1, 10000), COORD_LOCK_LOST);
    assert_int_equal(coord_lock_state(l), COORD_LOCK_LOST);
    assert_int_equal(coord_lock_release(l), 0);
    assert_int_equal(coord_lock_state(l), COORD_LOCK_FREE);
    coord_lock_free(l);
    assert_int_equal(lossrec_count(&r), 1);
    /* the leader's node */
    struct coord_election *e = NULL;
    assert_int_equal(coord_election_new(&e, a, "/elect/loss"), 0);
    assert_int_equal(coord_election_on_loss(e, loss_cb, &re), 0);
    uint64_t term = 0;
    assert_int_equal(
        coord_election_campaign(e, "x", 1, 5000, &term, NULL, NULL), 0);
    assert_int_equal(coord_election_is_leader(e), 1);
    assert_int_equal(coord_children_all(o, "/elect/loss", 0, NULL, &cl2), 0);
    assert_int_equal(cl2.n, 1);
    snprintf(p, sizeof(p), "/elect/loss/%s", cl2.names[0]);
    coord_child_list_free(&cl2);
    assert_int_equal(coord_delete(o, p, -1), 0);
    assert_int_equal(lossrec_await(&re, 1, 10000), COORD_LOCK_LOST);
    assert_int_equal(coord_election_is_leader(e), 0);
    coord_election_free(e);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(o), 0);
}

/* A client that talks to one server only; that server is paused
 * (SIGSTOP): the holder hears "may be lost" once the client notices the
 * silence, then "safe again" after SIGCONT and a reconnect. */
static void loss_server_paused(void **state)
{
    (void)state;
    int lead = tcluster_leader(&cl, 10000);
    assert_true(lead >= 0);
    int f = (lead + 1) % cl.n; /* a follower: the cluster keeps serving */
    char one[64];
    snprintf(one, sizeof(one), "%s:%u", cl.node[f].host,
             (unsigned)cl.node[f].port);
    struct coord_options o;
    coord_options_init(&o);
    o.servers = one;
    o.session_timeout_ms = 20000;
    struct coord_client *a = NULL;
    assert_int_equal(coord_open(&a, &o), 0);
    struct lossrec r, rs;
    lossrec_init(&r);
    lossrec_init(&rs);
    struct coord_rwlock *l = NULL;
    struct coord_semaphore *s = NULL;
    assert_int_equal(coord_rwlock_new(&l, a, "/rw/loss"), 0);
    assert_int_equal(coord_rwlock_on_loss(l, loss_cb, &r), 0);
    assert_int_equal(coord_rwlock_acquire(l, COORD_RWLOCK_WRITE, 5000, NULL),
                     0);
    assert_int_equal(coord_semaphore_new(&s, a, "/sem/loss", 2), 0);
    assert_int_equal(coord_semaphore_on_loss(s, loss_cb, &rs), 0);
    assert_int_equal(coord_semaphore_acquire(s, 5000, NULL), 0);
    /* two plain state listeners besides the recipes' */
    struct lossrec s1, s2;
    lossrec_init(&s1);
    lossrec_init(&s2);
    uint64_t id1 = 0, id2 = 0;
    assert_int_equal(coord_add_state_listener(a, loss_cb, &s1, &id1), 0);
    assert_int_equal(coord_add_state_listener(a, loss_cb, &s2, &id2), 0);
    assert_true(id1 != id2 && id1 != 0);
    int64_t t0 = now_ms();
    assert_int_equal(kill(cl.node[f].pid, SIGSTOP), 0);
    int st = lossrec_await(&r, 1, 15000);
    int sst = lossrec_await(&rs, 1, 5000);
    int64_t noticed = now_ms() - t0;
    int hst = coord_rwlock_state(l);
    int l1 = lossrec_await(&s1, 1, 5000), l2 = lossrec_await(&s2, 1, 5000);
    int rm = coord_remove_state_listener(a, id1); /* s1 hears no more */
    assert_int_equal(kill(cl.node[f].pid, SIGCONT), 0);
    assert_int_equal(rm, 0);
    assert_int_equal(l1, COORD_STATE_DISCONNECTED);
    assert_int_equal(l2, COORD_STATE_DISCONNECTED);
    print_message("loss: may-be-lost %lld ms after the server paused\n",
                  (long long)noticed);
    assert_int_equal(st, COORD_LOCK_MAYBE_LOST);
    assert_int_equal(sst, COORD_LOCK_MAYBE_LOST);
    assert_true(hst == COORD_LOCK_MAYBE_LOST || hst == COORD_LOCK_HELD);
    assert_int_equal(lossrec_await(&r, 2, 20000), COORD_LOCK_HELD);
    assert_int_equal(lossrec_await(&rs, 2, 5000), COORD_LOCK_HELD);
    assert_int_equal(coord_rwlock_state(l), COORD_LOCK_HELD);
    assert_int_equal(lossrec_await(&s2, 2, 5000), COORD_STATE_RECONNECTED);
    assert_int_equal(lossrec_count(&s1), 1);
    assert_int_equal(coord_remove_state_listener(a, id1), COORD_EINVAL);
    assert_int_equal(coord_remove_state_listener(a, id2), 0);
    assert_int_equal(coord_rwlock_release(l), 0);
    assert_int_equal(coord_semaphore_release(s), 0);
    coord_rwlock_free(l);
    coord_semaphore_free(s);
    assert_int_equal(lossrec_count(&r), 2);
    assert_int_equal(coord_close(a), 0);
}

/* The holder's process stalls (its client is not driven) until its
 * session expires on the cluster; when it runs again it hears "may be
 * lost" (silence) and then "lost" (EXPIRED). */
static void loss_session_expired(void **state)
{
    (void)state;
    struct pump pa;
    pump_start(&pa);
    struct coord_client *o = client();
    struct lossrec r;
    lossrec_init(&r);
    struct coord_lock *l = NULL;
    assert_int_equal(coord_lock_new(&l, pa.c, "/locks/exp"), 0);
    assert_int_equal(coord_lock_on_loss(l, loss_cb, &r), 0);
    assert_int_equal(coord_lock_acquire(l, 5000, NULL), 0);
    pthread_mutex_lock(&pa.mu); /* stall */
    await_children(o, "/locks/exp", 0); /* the session expired */
    assert_int_equal(lossrec_count(&r), 0);
    pthread_mutex_unlock(&pa.mu);
    int st = lossrec_await(&r, 1, 15000);
    assert_true(st == COORD_LOCK_MAYBE_LOST || st == COORD_LOCK_LOST);
    if (st == COORD_LOCK_MAYBE_LOST)
        st = lossrec_await(&r, 2, 15000);
    assert_int_equal(st, COORD_LOCK_LOST);
    assert_int_equal(coord_lock_state(l), COORD_LOCK_LOST);
    coord_lock_free(l);
    pump_stop(&pa);
    assert_int_equal(coord_close(o), 0);
}

/* ---- Counter and queue ------------------------------------------------- */

struct ctrworker {
    pthread_t th;
    int errors;
    int64_t last;
};

static void *ctr_worker_main(void *arg)
{
    struct ctrworker *w = arg;
    struct coord_client *c = client();
    for (int i = 0; i < 10; i++) {
        int64_t v = 0;
        if (coord_counter_add(c, "/ctr/a", 3, &v) != 0 || v <= w->last)
            w->errors++;
        w->last = v;
    }
    assert_int_equal(coord_close(c), 0);
    return NULL;
}

static void counter(void **state)
{
    (void)state;
    struct coord_client *c = client();
    int64_t v = 0;
    assert_int_equal(coord_counter_get(c, "/ctr/a", &v), COORD_ENONODE);
    struct ctrworker w[4];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            pthread_create(&w[i].th, NULL, ctr_worker_main, &w[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(w[i].th, NULL);
        assert_int_equal(w[i].errors, 0);
    }
    assert_int_equal(coord_counter_get(c, "/ctr/a", &v), 0);
    assert_int_equal(v, 4 * 10 * 3); /* no lost update */
    assert_int_equal(coord_counter_add(c, "/ctr/a", -125, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(coord_counter_add(c, "/ctr/a", INT64_MIN, &v),
                     COORD_ETOOBIG);
    assert_int_equal(coord_counter_get(c, "/ctr/a", &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(coord_set(c, "/ctr/a", "x1", 2, -1, NULL), 0);
    assert_int_equal(coord_counter_add(c, "/ctr/a", 1, NULL), COORD_EINVAL);
    assert_int_equal(coord_counter_get(c, "/ctr/a", &v), COORD_EINVAL);
    assert_int_equal(coord_counter_add(c, "", 1, NULL), COORD_EINVAL);
    assert_int_equal(coord_counter_get(c, "/ctr/a", NULL), COORD_EINVAL);
    assert_int_equal(coord_close(c), 0);
}

#define Q_ITEMS 30

struct qconsumer {
    pthread_t th;
    int taken[Q_ITEMS];
    int n, errors;
};

static void *q_consumer_main(void *arg)
{
    struct qconsumer *q = arg;
    struct coord_client *c = client();
    for (;;) {
        void *v = NULL;
        size_t len = 0;
        int rc = coord_queue_take(c, "/q/b", 15000, &v, &len);
        if (rc == COORD_ETIMEDOUT)
            break; /* the producer is done and the queue drained */
        if (rc != 0 || len == 0) {
            q->errors++;
            break;
        }
        int item = (int)strtol(v, NULL, 10);
        coord_free_mem(v);
        if (item == -1)
            break; /* one end marker per consumer */
        if (q->n < Q_ITEMS)
            q->taken[q->n++] = item;
    }
    assert_int_equal(coord_close(c), 0);
    return NULL;
}

static void queue(void **state)
{
    (void)state;
    struct coord_client *c = client();
    void *v = NULL;
    size_t len = 0;
    assert_int_equal(coord_queue_take(c, "/q/a", 0, &v, &len),
                     COORD_ETIMEDOUT); /* no queue yet: empty */
    for (int i = 0; i < 5; i++) {
        char b[16];
        int k = snprintf(b, sizeof(b), "i%d", i);
        assert_int_equal(coord_queue_put(c, "/q/a", b, (size_t)k), 0);
    }
    for (int i = 0; i < 5; i++) { /* FIFO */
        char b[16];
        snprintf(b, sizeof(b), "i%d", i);
        assert_int_equal(coord_queue_take(c, "/q/a", 0, &v, &len), 0);
        assert_int_equal(len, strlen(b));
        assert_string_equal(v, b);
        coord_free_mem(v);
    }
    assert_int_equal(coord_queue_take(c, "/q/a", 200, &v, &len),
                     COORD_ETIMEDOUT);
    assert_null(v);
    assert_int_equal(coord_queue_put(c, "", "x", 1), COORD_EINVAL);
    assert_int_equal(coord_queue_put(c, "/q/a", NULL, 1), COORD_EINVAL);
    assert_int_equal(coord_queue_take(c, "/q/a", 0, NULL, NULL),
                     COORD_EINVAL);
    /* 3 waiting consumers, one producer: every item taken exactly once */
    struct qconsumer q[3];
    memset(q, 0, sizeof(q));
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            pthread_create(&q[i].th, NULL, q_consumer_main, &q[i]), 0);
    for (int i = 0; i < Q_ITEMS + 3; i++) {
        char b[16];
        int k = snprintf(b, sizeof(b), "%d", i < Q_ITEMS ? i : -1);
        assert_int_equal(coord_queue_put(c, "/q/b", b, (size_t)k), 0);
    }
    int seen[Q_ITEMS] = {0};
    for (int i = 0; i < 3; i++) {
        pthread_join(q[i].th, NULL);
        assert_int_equal(q[i].errors, 0);
        for (int j = 0; j < q[i].n; j++) {
            seen[q[i].taken[j]]++;
            if (j > 0) /* each consumer sees the FIFO order */
                assert_true(q[i].taken[j] > q[i].taken[j - 1]);
        }
    }
    for (int i = 0; i < Q_ITEMS; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(n_children(c, "/q/b"), 0);
    assert_int_equal(coord_close(c), 0);
}

/* ---- Election ----------------------------------------------------------- */

struct vote {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int elected;  /* campaigns that returned 0 */
    int leading;  /* elected and not yet resigned */
    int overlaps; /* an election while another candidate led */
    int events;   /* observer watch events */
};

static struct vote vote = {PTHREAD_MUTEX_INITIALIZER,
                           PTHREAD_COND_INITIALIZER};

struct cand {
    struct coord_client *c;
    struct coord_election *e;
    char value[8];
    uint64_t term;
    int rc;
    bool won;
    pthread_t th;
};

static void *campaign_main(void *arg)
{
    struct cand *k = arg;
    k->rc = coord_election_campaign(k->e, k->value, strlen(k->value),
                                    20000, &k->term, NULL, NULL);
    pthread_mutex_lock(&vote.mu);
    if (k->rc == 0) {
        if (vote.leading != 0)
            vote.overlaps++;
        vote.leading++;
        vote.elected++;
        k->won = true;
    }
    pthread_cond_broadcast(&vote.cv);
    pthread_mutex_unlock(&vote.mu);
    return NULL;
}

static void observer_cb(void *data, const struct coord_event *ev)
{
    (void)data;
    (void)ev;
    pthread_mutex_lock(&vote.mu);
    vote.events++;
    pthread_cond_broadcast(&vote.cv);
    pthread_mutex_unlock(&vote.mu);
}

/* Waits (bounded) until *field >= n; returns it. */
static int await_field(int *field, int n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 15;
    pthread_mutex_lock(&vote.mu);
    while (*field < n &&
           pthread_cond_timedwait(&vote.cv, &vote.mu, &ts) == 0)
        ;
    int v = *field;
    pthread_mutex_unlock(&vote.mu);
    return v;
}

/* The observer reads the leader (with a watch) and finds the candidate
 * that won; returns its index. */
static int observe(struct coord_client *o, struct cand *k, int n,
                   uint64_t *term)
{
    struct coord_watcher w = {.cb = observer_cb};
    struct coord_leader_info li;
    assert_int_equal(coord_election_leader(o, "/elect", &w, &li), 0);
    int who = -1;
    for (int i = 0; i < n; i++)
        if (k[i].won && li.len == strlen(k[i].value) &&
            memcmp(li.value, k[i].value, li.len) == 0)
            who = i;
    assert_true(who >= 0);
    assert_int_equal(li.term, k[who].term);
    assert_int_equal(coord_election_is_leader(k[who].e), 1);
    *term = li.term;
    coord_free_mem(li.value);
    return who;
}

static void election(void **state)
{
    (void)state;
    struct coord_client *o = client();
    struct coord_leader_info li;
    assert_int_equal(coord_election_leader(o, "/elect", NULL, &li),
                     COORD_ENONODE);
    struct cand k[3];
    for (int i = 0; i < 3; i++) {
        memset(&k[i], 0, sizeof(k[i]));
        k[i].c = client();
        snprintf(k[i].value, sizeof(k[i].value), "node%c", (char)('0' + i));
        assert_int_equal(coord_election_new(&k[i].e, k[i].c, "/elect"), 0);
        assert_int_equal(
            pthread_create(&k[i].th, NULL, campaign_main, &k[i]), 0);
    }
    uint64_t last = 0;
    for (int round = 1; round <= 3; round++) {
        assert_int_equal(await_field(&vote.elected, round), round);
        if (round == 1) /* the others are queued: 3 candidates */
            await_children(o, "/elect", 3);
        int seen = vote.events;
        uint64_t term = 0;
        int who = observe(o, k, 3, &term);
        assert_true(term > last);
        last = term;
        pthread_mutex_lock(&vote.mu);
        vote.leading--;
        pthread_mutex_unlock(&vote.mu);
        assert_int_equal(coord_election_resign(k[who].e), 0);
        assert_int_equal(coord_election_is_leader(k[who].e), 0);
        k[who].won = false;
        assert_true(await_field(&vote.events, seen + 1) > seen);
    }
    assert_int_equal(vote.overlaps, 0);
    assert_int_equal(coord_election_leader(o, "/elect", NULL, &li),
                     COORD_ENONODE);
    for (int i = 0; i < 3; i++) {
        pthread_join(k[i].th, NULL);
        assert_int_equal(k[i].rc, 0);
        coord_election_free(k[i].e);
        assert_int_equal(coord_close(k[i].c), 0);
    }
    assert_int_equal(coord_close(o), 0);
}

/* ---- Barriers ----------------------------------------------------------- */

struct bwait {
    struct coord_client *c;
    int rc;
};

static void *barrier_main(void *arg)
{
    struct bwait *b = arg;
    b->rc = coord_barrier_wait(b->c, "/bar", 15000);
    return NULL;
}

static void barrier(void **state)
{
    (void)state;
    struct coord_client *a = client(), *b = client();
    assert_int_equal(coord_barrier_wait(a, "/bar", 1000), 0); /* not set */
    assert_int_equal(coord_barrier_set(a, "/bar"), 0);
    assert_int_equal(coord_barrier_set(a, "/bar"), 0);
    assert_int_equal(coord_barrier_wait(b, "/bar", 200), COORD_ETIMEDOUT);
    struct bwait w = {.c = b, .rc = 1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, barrier_main, &w), 0);
    assert_int_equal(coord_barrier_remove(a, "/bar"), 0);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
}

#define DB_N 4
static atomic_int db_arrived, db_leaving;

struct dbp {
    int i;
    int enter_rc, leave_rc;
    int arrived_seen, leaving_seen;
    pthread_t th;
};

static void *dbarrier_main(void *arg)
{
    struct dbp *p = arg;
    struct coord_client *c = client();
    char name[16];
    snprintf(name, sizeof(name), "p%d", p->i);
    atomic_fetch_add(&db_arrived, 1);
    p->enter_rc = coord_dbarrier_enter(c, "/db", name, DB_N, 15000);
    p->arrived_seen = atomic_load(&db_arrived);
    atomic_fetch_add(&db_leaving, 1);
    p->leave_rc = coord_dbarrier_leave(c, "/db", name, 15000);
    p->leaving_seen = atomic_load(&db_leaving);
    assert_int_equal(coord_close(c), 0);
    return NULL;
}

static void double_barrier(void **state)
{
    (void)state;
    struct dbp p[DB_N];
    for (int i = 0; i < DB_N; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].i = i;
        assert_int_equal(
            pthread_create(&p[i].th, NULL, dbarrier_main, &p[i]), 0);
    }
    for (int i = 0; i < DB_N; i++) {
        pthread_join(p[i].th, NULL);
        assert_int_equal(p[i].enter_rc, 0);
        assert_int_equal(p[i].leave_rc, 0);
        /* nobody passed enter before all arrived, or leave before all
         * started leaving */
        assert_int_equal(p[i].arrived_seen, DB_N);
        assert_int_equal(p[i].leaving_seen, DB_N);
    }
}

/* ---- Lock contention across a leader kill ------------------------------ */

/* Waits (bounded) until ct has n acquisitions; returns the count. */
static int await_acquisitions(struct contest *ct, int n, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    pthread_mutex_lock(&ct->mu);
    while (ct->acquisitions < n &&
           pthread_cond_timedwait(&ct->cv, &ct->mu, &ts) == 0)
        ;
    int v = ct->acquisitions;
    pthread_mutex_unlock(&ct->mu);
    return v;
}

/* Diagnostics for a stalled contention: the queue as the cluster has it. */
static void dump_lock(struct coord_client *c, const char *path,
                      struct contest *ct)
{
    struct coord_child_list l;
    int rc = coord_children_all(c, path, COORD_READ_STATS, NULL, &l);
    print_message("stalled: last acquire error %d; queue (rc %d):\n",
                  ct->last_err, rc);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        print_message("  %s owner %llx\n", l.names[i],
                      (unsigned long long)l.stats[i].ephemeral_owner);
    if (rc == 0)
        coord_child_list_free(&l);
}

static void lock_survives_leader_kill(void **state)
{
    (void)state;
    struct coord_client *c = client();
    assert_int_equal(coord_create(c, "/cnt2", "0", 1, 0, 0, NULL, NULL), 0);
    struct contest ct;
    contest_init(&ct, "/locks/k", "/cnt2", 0);
    ct.tolerate = true;
    struct worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i].ct = &ct;
        assert_int_equal(pthread_create(&w[i].th, NULL, worker_main, &w[i]),
                         0);
    }
    int before = await_acquisitions(&ct, 30, 15000);
    assert_true(before >= 30);
    int lead = tcluster_leader(&cl, 1000);
    assert_true(lead >= 0);
    tproc_kill(&cl.node[lead]);
    int after = await_acquisitions(&ct, before + 40, 20000);
    if (after < before + 40)
        dump_lock(c, "/locks/k", &ct);
    atomic_store(&ct.stop, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i].th, NULL);
    print_message("lock across leader kill: %d acquisitions before, %d "
                  "after\n", before, ct.acquisitions - before);
    assert_true(after >= before + 40);
    assert_int_equal(atomic_load(&ct.violations), 0);
    assert_int_equal(ct.token_errors, 0);
    /* the counter never went past the acquisitions (no double holder
     * both incremented from the same value would show as fewer) */
    void *v = NULL;
    assert_int_equal(coord_get(c, "/cnt2", 0, NULL, &v, NULL, NULL), 0);
    long cnt = strtol(v, NULL, 10);
    coord_free_mem(v);
    assert_true(cnt >= ct.increments && cnt <= ct.acquisitions);
    assert_int_equal(coord_close(c), 0);
}

/* ---- Hand-offs without a read ------------------------------------------
 * A waiter learns that it is first from deletion events alone (docs/
 * recipes.md, "Hand-offs without a read"): the deletion of its immediate
 * predecessor makes it first only if nothing else was ahead of it. */

struct twaiter {
    struct coord_lock *l;
    int timeout_ms;
    uint64_t tok;
    int rc;
    atomic_bool done;
    pthread_t th;
};

static void *twaiter_main(void *arg)
{
    struct twaiter *w = arg;
    w->rc = coord_lock_acquire(w->l, w->timeout_ms, &w->tok);
    atomic_store(&w->done, true);
    return NULL;
}

static void twaiter_start(struct twaiter *w, struct coord_lock *l,
                          int timeout_ms)
{
    w->l = l;
    w->timeout_ms = timeout_ms;
    w->tok = 0;
    w->rc = 1;
    atomic_store(&w->done, false);
    assert_int_equal(pthread_create(&w->th, NULL, twaiter_main, w), 0);
}

/* The path of the k-th (0-based) node of dir in sequence order. */
static void nth_node(struct coord_client *c, const char *dir, size_t k,
                     char *out, size_t cap)
{
    struct coord_child_list l;
    assert_int_equal(coord_children_all(c, dir, 0, NULL, &l), 0);
    assert_true(k < l.n);
    /* names end in a 10-digit sequence number: compare those */
    size_t idx[16];
    assert_true(l.n <= 16);
    for (size_t i = 0; i < l.n; i++)
        idx[i] = i;
    for (size_t i = 1; i < l.n; i++)
        for (size_t j = i; j > 0; j--) {
            const char *x = strrchr(l.names[idx[j - 1]], '-');
            const char *y = strrchr(l.names[idx[j]], '-');
            if (strcmp(x, y) <= 0)
                break;
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    snprintf(out, cap, "%s/%s", dir, l.names[idx[k]]);
    coord_child_list_free(&l);
}

/* w must not get the lock: once w's own client has seen the deletion of
 * gone (a read of it answers ENONODE only after the watch event reached
 * that client), w's thread gets 500 ms to act on it wrongly. */
static void assert_still_waiting(struct coord_client *wc, const char *gone,
                                 struct twaiter *w)
{
    assert_int_equal(coord_exists(wc, gone, 0, NULL, NULL), COORD_ENONODE);
    int64_t end = now_ms() + 500;
    while (now_ms() < end && !atomic_load(&w->done))
        poll(NULL, 0, 10);
    assert_false(atomic_load(&w->done));
}

/* a holds; b and c queue behind it (c: b immediately ahead, a before
 * that). b leaves while a holds: c must go on waiting, then get the lock
 * when a releases. b is played by a bare node named as the recipe names
 * its nodes (prefix-guid-sequence, ephemeral), so that its leaving is a
 * delete the test makes once c is queued -- no time-out of b's stands in
 * for that ordering. */
static void lock_waiter_ahead_leaves(void **state)
{
    (void)state;
    const char *dir = "/locks/h";
    struct coord_client *a = client(), *b = client(), *c = client();
    struct coord_lock *la = NULL, *lc = NULL;
    assert_int_equal(coord_lock_new(&la, a, dir), 0);
    assert_int_equal(coord_lock_new(&lc, c, dir), 0);
    uint64_t ta = 0;
    assert_int_equal(coord_lock_acquire(la, 5000, &ta), 0);
    char bprefix[256];
    snprintf(bprefix, sizeof(bprefix), "%s/lock-%s-", dir,
             "0123456789abcdef");
    char *bpath = NULL;
    assert_int_equal(coord_create(b, bprefix, "", 0,
                                  COORD_EPHEMERAL | COORD_SEQUENTIAL, 0,
                                  &bpath, NULL),
                     0);
    struct twaiter wc;
    twaiter_start(&wc, lc, 30000);
    await_children(a, dir, 3);
    char second[256];
    nth_node(a, dir, 1, second, sizeof(second)); /* b: between a and c */
    assert_string_equal(second, bpath);
    assert_int_equal(coord_delete(b, bpath, -1), 0);
    assert_still_waiting(c, bpath, &wc);
    assert_int_equal(coord_lock_state(la), COORD_LOCK_HELD);
    assert_int_equal(coord_lock_release(la), 0);
    pthread_join(wc.th, NULL);
    assert_int_equal(wc.rc, 0);
    assert_true(wc.tok > ta);
    assert_int_equal(coord_lock_release(lc), 0);
    coord_free_mem(bpath);
    coord_lock_free(la);
    coord_lock_free(lc);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
    assert_int_equal(coord_close(c), 0);
}

/* a holds; b, then c queue. a's release hands the lock to b only: c
 * (which watches a as well as b) must go on waiting until b releases;
 * tokens strictly increase a < b < c. */
static void lock_chain_handoff(void **state)
{
    (void)state;
    const char *dir = "/locks/i";
    struct coord_client *a = client(), *b = client(), *c = client();
    struct coord_lock *la = NULL, *lb = NULL, *lc = NULL;
    assert_int_equal(coord_lock_new(&la, a, dir), 0);
    assert_int_equal(coord_lock_new(&lb, b, dir), 0);
    assert_int_equal(coord_lock_new(&lc, c, dir), 0);
    uint64_t ta = 0;
    assert_int_equal(coord_lock_acquire(la, 5000, &ta), 0);
    struct twaiter wb, wc;
    twaiter_start(&wb, lb, 30000);
    await_children(a, dir, 2);
    twaiter_start(&wc, lc, 30000);
    await_children(a, dir, 3);
    char apath[256];
    nth_node(a, dir, 0, apath, sizeof(apath));
    assert_int_equal(coord_lock_release(la), 0);
    pthread_join(wb.th, NULL);
    assert_int_equal(wb.rc, 0);
    assert_true(wb.tok > ta);
    assert_still_waiting(c, apath, &wc);
    assert_int_equal(coord_lock_release(lb), 0);
    pthread_join(wc.th, NULL);
    assert_int_equal(wc.rc, 0);
    assert_true(wc.tok > wb.tok);
    assert_int_equal(coord_lock_release(lc), 0);
    coord_lock_free(la);
    coord_lock_free(lb);
    coord_lock_free(lc);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
    assert_int_equal(coord_close(c), 0);
}

/* ---- A waiter's own node deleted by someone else ------------------------ */

/* Polls (bounded by ms) until dir has n children, the last of them (in
 * sequence order) another than last: a node was queued behind last. */
static bool await_queued_behind(struct coord_client *c, const char *dir,
                                size_t n, const char *last, int ms)
{
    int64_t end = now_ms() + ms;
    char tail[256];
    do {
        if (n_children(c, dir) == n) {
            nth_node(c, dir, n - 1, tail, sizeof(tail));
            if (strcmp(tail, last) != 0)
                return true;
        }
        poll(NULL, 0, 5);
    } while (now_ms() < end);
    return false;
}

/* Like assert_still_waiting, but returns the verdict (so that a failure
 * does not leave the waiting threads running). */
static bool still_waiting(struct coord_client *wc, const char *gone,
                          atomic_bool *done)
{
    if (coord_exists(wc, gone, 0, NULL, NULL) != COORD_ENONODE)
        return false;
    int64_t end = now_ms() + 500;
    while (now_ms() < end && !atomic_load(done))
        poll(NULL, 0, 10);
    return !atomic_load(done);
}

/* a holds; b, then c queue (c: b immediately ahead, a before that).
 * Another client deletes b's node while b waits (an operator unsticking
 * the lock by hand). b must not take the lock when a releases -- c does
 * -- but queue a new node behind c and get the lock only after c
 * released it. Then, holding with a loss callback, b's node deleted by
 * hand is reported LOST (and nothing was reported while b waited). The
 * verdicts are collected first and asserted after every thread is
 * joined. */
static void lock_waiter_own_node_deleted(void **state)
{
    (void)state;
    const char *dir = "/locks/j";
    struct coord_client *a = client(), *b = client(), *c = client(),
                        *o = client();
    struct coord_lock *la = NULL, *lb = NULL, *lc = NULL;
    assert_int_equal(coord_lock_new(&la, a, dir), 0);
    assert_int_equal(coord_lock_new(&lb, b, dir), 0);
    assert_int_equal(coord_lock_new(&lc, c, dir), 0);
    struct lossrec r;
    lossrec_init(&r);
    assert_int_equal(coord_lock_on_loss(lb, loss_cb, &r), 0);
    uint64_t ta = 0;
    assert_int_equal(coord_lock_acquire(la, 5000, &ta), 0);
    struct twaiter wb, wc;
    twaiter_start(&wb, lb, 30000);
    await_children(o, dir, 2);
    twaiter_start(&wc, lc, 30000);
    await_children(o, dir, 3);
    char apath[256], bpath[256], cpath[256];
    nth_node(o, dir, 0, apath, sizeof(apath));
    nth_node(o, dir, 1, bpath, sizeof(bpath));
    nth_node(o, dir, 2, cpath, sizeof(cpath));
    assert_int_equal(coord_delete(o, bpath, -1), 0);
    /* b notices its node gone and queues again, behind c */
    bool requeued = await_queued_behind(o, dir, 3, cpath, 10000);
    assert_int_equal(coord_lock_release(la), 0);
    pthread_join(wc.th, NULL);
    /* c holds; b has seen a's node go and must go on waiting */
    bool b_waited = still_waiting(b, apath, &wb.done);
    assert_int_equal(coord_lock_release(lc), 0);
    pthread_join(wb.th, NULL);
    int lost = -1;
    if (wb.rc == 0 && requeued) { /* b holds its new node: deleted by
                                     hand, that is LOST */
        char bnew[256];
        nth_node(o, dir, 0, bnew, sizeof(bnew));
        assert_int_equal(coord_delete(o, bnew, -1), 0);
        lost = lossrec_await(&r, 1, 10000);
        assert_int_equal(coord_lock_state(lb), COORD_LOCK_LOST);
        assert_int_equal(coord_lock_release(lb), 0);
    }
    int reports = lossrec_count(&r);
    coord_lock_free(la);
    coord_lock_free(lb);
    coord_lock_free(lc);
    assert_true(requeued);
    assert_true(b_waited);
    assert_int_equal(wc.rc, 0);
    assert_true(wc.tok > ta);
    assert_int_equal(wb.rc, 0);
    assert_true(wb.tok > wc.tok); /* b's new node, queued after c's */
    assert_int_equal(lost, COORD_LOCK_LOST);
    assert_int_equal(reports, 1);
    assert_int_equal(n_children(o, dir), 0);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
    assert_int_equal(coord_close(c), 0);
    assert_int_equal(coord_close(o), 0);
}

struct tcand {
    struct coord_election *e;
    uint64_t term;
    int rc;
    atomic_bool done;
    pthread_t th;
};

static void *tcand_main(void *arg)
{
    struct tcand *k = arg;
    k->rc = coord_election_campaign(k->e, "v", 1, 30000, &k->term, NULL,
                                    NULL);
    atomic_store(&k->done, true);
    return NULL;
}

static void tcand_start(struct tcand *k, struct coord_election *e)
{
    k->e = e;
    k->term = 0;
    k->rc = 1;
    atomic_store(&k->done, false);
    assert_int_equal(pthread_create(&k->th, NULL, tcand_main, k), 0);
}

/* The same for the election (same waiting code, seqnode.c): a leads; b
 * and c wait; b's node is deleted by hand; when a resigns, c leads and b
 * does not (it stands again behind c); b leads after c resigns. */
static void election_candidate_node_deleted(void **state)
{
    (void)state;
    const char *dir = "/elect/j";
    struct coord_client *a = client(), *b = client(), *c = client(),
                        *o = client();
    struct coord_election *ea = NULL, *eb = NULL, *ec = NULL;
    assert_int_equal(coord_election_new(&ea, a, dir), 0);
    assert_int_equal(coord_election_new(&eb, b, dir), 0);
    assert_int_equal(coord_election_new(&ec, c, dir), 0);
    uint64_t ta = 0;
    assert_int_equal(
        coord_election_campaign(ea, "a", 1, 5000, &ta, NULL, NULL), 0);
    struct tcand kb, kc;
    tcand_start(&kb, eb);
    await_children(o, dir, 2);
    tcand_start(&kc, ec);
    await_children(o, dir, 3);
    char apath[256], bpath[256], cpath[256];
    nth_node(o, dir, 0, apath, sizeof(apath));
    nth_node(o, dir, 1, bpath, sizeof(bpath));
    nth_node(o, dir, 2, cpath, sizeof(cpath));
    assert_int_equal(coord_delete(o, bpath, -1), 0);
    bool requeued = await_queued_behind(o, dir, 3, cpath, 10000);
    assert_int_equal(coord_election_resign(ea), 0);
    pthread_join(kc.th, NULL);
    bool b_waited = still_waiting(b, apath, &kb.done);
    int b_leads = coord_election_is_leader(eb);
    assert_int_equal(coord_election_resign(ec), 0);
    pthread_join(kb.th, NULL);
    if (kb.rc == 0)
        assert_int_equal(coord_election_resign(eb), 0);
    coord_election_free(ea);
    coord_election_free(eb);
    coord_election_free(ec);
    assert_true(requeued);
    assert_true(b_waited);
    assert_int_equal(b_leads, 0);
    assert_int_equal(kc.rc, 0);
    assert_true(kc.term > ta);
    assert_int_equal(kb.rc, 0);
    assert_true(kb.term > kc.term);
    assert_int_equal(n_children(o, dir), 0);
    assert_int_equal(coord_close(a), 0);
    assert_int_equal(coord_close(b), 0);
    assert_int_equal(coord_close(c), 0);
    assert_int_equal(coord_close(o), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lock_contention),
        cmocka_unit_test(holder_session_expires),
        cmocka_unit_test(try_acquire_and_check_op),
        cmocka_unit_test(election),
        cmocka_unit_test(barrier),
        cmocka_unit_test(double_barrier),
        cmocka_unit_test(rwlock_shared_and_exclusive),
        cmocka_unit_test(rwlock_contention),
        cmocka_unit_test(semaphore_slots),
        cmocka_unit_test(semaphore_contention),
        cmocka_unit_test(recipes_bad_input),
        cmocka_unit_test(loss_node_deleted),
        cmocka_unit_test(loss_server_paused),
        cmocka_unit_test(loss_session_expired),
        cmocka_unit_test(counter),
        cmocka_unit_test(queue),
        cmocka_unit_test(lock_survives_leader_kill),
        cmocka_unit_test(lock_waiter_ahead_leaves),
        cmocka_unit_test(lock_chain_handoff),
        cmocka_unit_test(lock_waiter_own_node_deleted),
        cmocka_unit_test(election_candidate_node_deleted),
    };
    return cmocka_run_group_tests_name("recipes", tests, setup, teardown);
}
