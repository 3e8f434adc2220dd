/* test_recipes_faults.c -- the recipes (coord_recipes.h) on a real 3-node
 * coordd cluster (127.0.0.1/.2/.3) while a scripted sequence of failures
 * runs: kill -9 of the leader and of a follower (each restarted), SIGSTOP
 * of the leader and of a follower (2 s each), and client connections cut
 * by an in-process TCP proxy (a holder's short cut the session survives,
 * a holder's long cut it does not, a queued waiter's long cut). Issue 6,
 * part 6. It must not sleep in place of synchronisation: every wait polls
 * a condition with a deadline; the only timed pauses are the durations of
 * injected faults.
 *
 * What the lock test checks (5 threads, each with its own coord_client;
 * two of them connect through their own proxy so that the test can cut
 * them):
 *  - each holder records (token, acquire time, release time, "flagged")
 *    where the times are CLOCK_MONOTONIC in this process, taken right
 *    after coord_lock_acquire() returned and right before
 *    coord_lock_release() is called, and "flagged" means the holder's
 *    client reported DISCONNECTED or EXPIRED during the hold (or the lock
 *    state was no longer HELD at its end): the library told it that the
 *    lock may be lost;
 *  - every token is seen once;
 *  - for every unflagged holder A and every holder B with a larger token,
 *    B acquired after A released (no real-time overlap, so acquisition
 *    order is token order). A flagged holder may overlap its successor in
 *    real time: there, fencing tokens are the guarantee, checked by two
 *    "storages": (1) the node /fstore in the cluster, written by every
 *    holder as get + multi{coord_lock_check_op, set(version)}: a write
 *    whose check op passed but whose version did not match would mean two
 *    live holders (a violation); every successful write must have read a
 *    smaller token; the final version lies between the successful writes
 *    and those plus the uncertain ones (ECONNLOSS/ETIMEDOUT), and the
 *    final value is the token of one of them, not below any success; (2) a
 *    local store that keeps the largest token and rejects smaller ones:
 *    only flagged holders may be rejected;
 *  - the holder stalled across a long cut is flagged, another holder took
 *    the lock meanwhile, and its late write is rejected by the check op
 *    (ENONODE, sent through another client as a storage service would)
 *    and by the local store; across the short cut the holder's lock state
 *    turns MAYBE_LOST, then HELD again after the reconnection, nobody
 *    else acquires meanwhile, and the holder's write succeeds;
 *  - liveness: every acquire returns within its timeout plus a grace, with
 *    0 or an error code; every phase makes progress within a deadline
 *    (also while a queued worker is cut off past its session: its node
 *    goes), and after the last fault every worker acquires again.
 *
 * Election: 4 candidate processes (fork; each its own client); the leader
 * process is killed with SIGKILL three times and the cluster leader node
 * once: a new leader within session timeout + a bound, terms strictly
 * increasing over elections (so never two leaders with one term), and a
 * leader that resumes after a reconnection keeps the latest term.
 * Double barrier: 4 processes enter, the leader node is killed, all
 * leave; nobody passes enter (leave) before all arrived (started leaving).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "coord_recipes.h"
#include "test/lib/proc.h"

static struct tcluster cl;

static int64_t now_ms(void)
{
    return tproc_now_ms();
}

/* Wall-clock time of day "HH:MM:SS.mmm" (UTC), to match coordd's logs. */
static const char *wall(char buf[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, 32, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
             tm.tm_sec, (int)(ts.tv_nsec / 1000000));
    return buf;
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    tcluster_init(&cl, 3, "");
    return tcluster_start(&cl, 20000) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tcluster_cleanup(&cl);
    return 0;
}

/* Restarts node i (killed) and waits until it serves. */
static void restart(int i)
{
    assert_int_equal(tproc_start(&cl.node[i], 30000), 0);
}

/* A live node other than the leader (index), or -1. */
static int follower_of(int lead)
{
    for (int i = 0; i < cl.n; i++)
        if (i != lead && cl.node[i].pid > 0)
            return i;
    return -1;
}

/* ---- A TCP proxy whose connections the test can cut --------------------
 * Listens on 127.0.0.1; each accepted connection is forwarded to the next
 * cluster node that accepts (round robin). proxy_cut() closes every
 * connection and, until proxy_restore(), closes new ones at once. */

#define PX_PAIRS 8

struct proxy {
    int lfd;
    uint16_t port;
    char addr[32]; /* "127.0.0.1:port" for coord_options.servers */
    int wake[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool down;
    bool quit;
    unsigned req, done; /* control requests issued / handled */
    int pair[PX_PAIRS][2];
    int npairs;
    unsigned next;
    pthread_t th;
};

static int px_backend(struct proxy *p)
{
    for (int k = 0; k < cl.n; k++) {
        struct tproc *n = &cl.node[(p->next++) % (unsigned)cl.n];
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(n->port)};
        inet_pton(AF_INET, n->host, &sa.sin_addr);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        close(fd);
    }
    return -1;
}

static void px_close_pair(struct proxy *p, int i)
{
    close(p->pair[i][0]);
    close(p->pair[i][1]);
    p->pair[i][0] = p->pair[i][1] = -1;
}

static void px_accept(struct proxy *p, bool down)
{
    int fd = accept(p->lfd, NULL, NULL);
    if (fd < 0)
        return;
    int b = down || p->npairs == PX_PAIRS ? -1 : px_backend(p);
    if (b < 0) {
        close(fd);
        return;
    }
    p->pair[p->npairs][0] = fd;
    p->pair[p->npairs][1] = b;
    p->npairs++;
}

/* Copies what is readable on side s of pair i to the other side; closes
 * the pair on EOF or error. */
static void px_forward(struct proxy *p, int i, int s)
{
    char buf[65536];
    ssize_t n = read(p->pair[i][s], buf, sizeof(buf));
    for (ssize_t off = 0; n > 0 && off < n;) {
        ssize_t w = write(p->pair[i][!s], buf + off, (size_t)(n - off));
        if (w <= 0) {
            n = -1;
            break;
        }
        off += w;
    }
    if (n <= 0)
        px_close_pair(p, i);
}

static void *px_main(void *arg)
{
    struct proxy *p = arg;
    for (;;) {
        struct pollfd pf[2 + 2 * PX_PAIRS];
        pf[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        pf[1] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        for (int i = 0; i < p->npairs; i++)
            for (int s = 0; s < 2; s++)
                pf[2 + 2 * i + s] =
                    (struct pollfd){.fd = p->pair[i][s], .events = POLLIN};
        int nfd = 2 + 2 * p->npairs;
        if (poll(pf, (nfds_t)nfd, -1) < 0 && errno != EINTR)
            break;
        pthread_mutex_lock(&p->mu);
        bool down = p->down, quit = p->quit;
        if (pf[0].revents) {
            char b[64];
            if (read(p->wake[0], b, sizeof(b)) < 0)
                b[0] = 0;
            if (down || quit)
                for (int i = 0; i < p->npairs; i++)
                    px_close_pair(p, i);
            p->done = p->req;
            pthread_cond_broadcast(&p->cv);
        }
        pthread_mutex_unlock(&p->mu);
        if (quit)
            break;
        if (pf[1].revents)
            px_accept(p, down);
        for (int i = 0; i < nfd - 2; i++)
            if (pf[2 + i].revents && p->pair[i / 2][i % 2] >= 0)
                px_forward(p, i / 2, i % 2);
        int k = 0; /* drop closed pairs */
        for (int i = 0; i < p->npairs; i++)
            if (p->pair[i][0] >= 0) {
                p->pair[k][0] = p->pair[i][0];
                p->pair[k][1] = p->pair[i][1];
                k++;
            }
        p->npairs = k;
    }
    return NULL;
}

static void proxy_start(struct proxy *p)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    assert_int_equal(pipe(p->wake), 0);
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(p->lfd, 16), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sa, &sl), 0);
    p->port = ntohs(sa.sin_port);
    snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%u", p->port);
    assert_int_equal(pthread_create(&p->th, NULL, px_main, p), 0);
}

/* Sets the mode and waits until the proxy thread has applied it. */
static void proxy_control(struct proxy *p, bool down, bool quit)
{
    pthread_mutex_lock(&p->mu);
    p->down = down;
    p->quit = quit;
    unsigned want = ++p->req;
    pthread_mutex_unlock(&p->mu);
    assert_int_equal(write(p->wake[1], "x", 1), 1);
    pthread_mutex_lock(&p->mu);
    while (p->done < want)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void proxy_cut(struct proxy *p)
{
    proxy_control(p, true, false);
}

static void proxy_restore(struct proxy *p)
{
    proxy_control(p, false, false);
}

static void proxy_stop(struct proxy *p)
{
    proxy_control(p, true, true);
    pthread_join(p->th, NULL);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
}

/* ---- Lock under faults -------------------------------------------------- */

#define LW 5             /* workers */
#define LW_PROXIED 2     /* workers 0..LW_PROXIED-1 go through a proxy */
#define ACQ_TIMEOUT 20000
#define ACQ_GRACE 10000  /* an acquire returns within timeout + grace */
#define SESSION_PROXIED 4000
#define SESSION_DIRECT 8000
#define RECS_MAX 4096
#define STORE "/fstore"

enum wr_result { WR_OK, WR_FENCED, WR_UNCERTAIN, WR_FAILED, WR_CONFLICT };

struct rec {
    uint64_t tok;
    int64_t acq, rel;
    int worker;
    bool flagged;
    int wr;          /* enum wr_result of the fenced write */
    uint64_t prev;   /* token the write read (WR_OK) */
    bool local_rejected;
};

enum stall { ST_NONE, ST_WANT, ST_HOLDING, ST_GO };

struct lworker {
    int i;
    struct proxy px;
    atomic_int discs; /* DISCONNECTED/EXPIRED reports of its client */
    atomic_int acquisitions;
    pthread_t th;
};

static struct lock_run {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;
    struct rec rec[RECS_MAX];
    int nrec;
    int acquisitions;
    uint64_t local_max;  /* the local fenced store */
    int64_t max_acquire_ms;
    int err_count[64];   /* acquire errors by -code */
    int bad_errors;      /* acquire errors outside the known set */
    int late;            /* acquires that took longer than the bound */
    int wr_count[5];
    int reopened;
    /* a stall request for one worker: it holds the lock and waits */
    int stall_worker;
    enum stall stall;
    uint64_t stall_tok;
    struct coord_lock *stall_lock;
    struct coord_client *gateway; /* the "storage service" client */
    int stale_wr;                 /* the stalled holder's late write */
    bool stale_local_rejected;
} lr = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void worker_state_cb(void *data, int st)
{
    struct lworker *w = data;
    if (st == COORD_STATE_DISCONNECTED || st == COORD_STATE_EXPIRED)
        atomic_fetch_add(&w->discs, 1);
}

static struct coord_client *worker_client(struct lworker *w)
{
    struct coord_options o;
    coord_options_init(&o);
    bool px = w->i < LW_PROXIED;
    o.servers = px ? w->px.addr : cl.servers;
    o.session_timeout_ms = px ? SESSION_PROXIED : SESSION_DIRECT;
    o.backoff_max_ms = 300;
    o.state_cb = worker_state_cb;
    o.state_data = w;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

/* The fenced write: read the token in STORE, then write ours in a multi
 * guarded by the lock's check op and the version read. */
static int fenced_write(struct coord_client *c, struct coord_lock *l,
                        uint64_t tok, uint64_t *prev)
{
    void *v = NULL;
    struct coord_stat st;
    int rc = coord_get(c, STORE, 0, NULL, &v, NULL, &st);
    if (rc != 0) { /* nothing written */
        print_message("  fenced write: get failed: %s\n", coord_errname(rc));
        return WR_FAILED;
    }
    *prev = strtoull(v, NULL, 10);
    coord_free_mem(v);
    char buf[32];
    int k = snprintf(buf, sizeof(buf), "%" PRIu64, tok);
    struct coord_multi *m = NULL;
    assert_int_equal(coord_multi_new(&m), 0);
    assert_int_equal(coord_lock_check_op(l, m), 0);
    assert_int_equal(coord_multi_set(m, STORE, buf, (size_t)k, st.version),
                     0);
    rc = coord_multi(c, m);
    const struct coord_op_result *r0 = coord_multi_result(m, 0);
    int check_err = r0 ? r0->err : rc;
    coord_multi_free(m);
    if (rc == 0)
        return WR_OK;
    if (rc == COORD_ENONODE && check_err == COORD_ENONODE)
        return WR_FENCED;
    if (rc == COORD_EBADVERSION && check_err == 0)
        return WR_CONFLICT; /* our node was alive, yet someone wrote */
    if (rc == COORD_ECONNLOSS || rc == COORD_ETIMEDOUT)
        return WR_UNCERTAIN;
    print_message("  fenced write: multi failed: %s (check op %s)\n",
                  coord_errname(rc), coord_errname(check_err));
    return WR_FAILED;
}

/* The local store: accepts a token not smaller than the largest seen. */
static bool local_write(uint64_t tok)
{
    pthread_mutex_lock(&lr.mu);
    bool ok = tok >= lr.local_max;
    if (ok)
        lr.local_max = tok;
    pthread_mutex_unlock(&lr.mu);
    return ok;
}

static bool known_acquire_error(int rc)
{
    return rc == COORD_ETIMEDOUT || rc == COORD_ECONNLOSS ||
           rc == COORD_EUNAVAILABLE || rc == COORD_ESESSIONEXPIRED ||
           rc == COORD_ECLOSED || rc == COORD_ENOTLEADER;
}

static void note_acquire(int rc, int64_t took)
{
    pthread_mutex_lock(&lr.mu);
    if (took > lr.max_acquire_ms)
        lr.max_acquire_ms = took;
    if (took > ACQ_TIMEOUT + ACQ_GRACE)
        lr.late++;
    if (rc != 0) {
        if (-rc < 64)
            lr.err_count[-rc]++;
        if (!known_acquire_error(rc))
            lr.bad_errors++;
    }
    pthread_mutex_unlock(&lr.mu);
}

/* If the script asked this worker to stall while holding, hold until it
 * says go; returns true if it stalled. */
static bool maybe_stall(struct lworker *w, struct coord_lock *l,
                        uint64_t tok)
{
    pthread_mutex_lock(&lr.mu);
    bool me = lr.stall == ST_WANT && lr.stall_worker == w->i;
    if (me) {
        lr.stall = ST_HOLDING;
        lr.stall_tok = tok;
        lr.stall_lock = l;
        pthread_cond_broadcast(&lr.cv);
        while (lr.stall != ST_GO)
            pthread_cond_wait(&lr.cv, &lr.mu);
    }
    pthread_mutex_unlock(&lr.mu);
    return me;
}

/* One hold: stall if asked, fenced write, local write, record. */
static void hold(struct lworker *w, struct coord_client *c,
                 struct coord_lock *l, uint64_t tok, int discs0)
{
    struct rec r = {.tok = tok, .acq = now_ms(), .worker = w->i};
    pthread_mutex_lock(&lr.mu);
    lr.acquisitions++;
    pthread_cond_broadcast(&lr.cv);
    pthread_mutex_unlock(&lr.mu);
    atomic_fetch_add(&w->acquisitions, 1);
    bool stalled = maybe_stall(w, l, tok);
    /* a stalled holder's late write reaches the storage through the
     * gateway client (its own client may be expired) */
    struct coord_client *wc =
        stalled && coord_state(c) == COORD_STATE_EXPIRED ? lr.gateway : c;
    r.wr = fenced_write(wc, l, tok, &r.prev);
    r.local_rejected = !local_write(tok);
    r.flagged = atomic_load(&w->discs) != discs0 ||
                coord_lock_state(l) != COORD_LOCK_HELD;
    r.rel = now_ms();
    pthread_mutex_lock(&lr.mu);
    if (stalled) {
        lr.stale_wr = r.wr;
        lr.stale_local_rejected = r.local_rejected;
    }
    if (lr.nrec < RECS_MAX)
        lr.rec[lr.nrec++] = r;
    lr.wr_count[r.wr]++;
    pthread_mutex_unlock(&lr.mu);
}

static void *lworker_main(void *arg)
{
    struct lworker *w = arg;
    struct coord_client *c = worker_client(w);
    struct coord_lock *l = NULL;
    assert_int_equal(coord_lock_new(&l, c, "/flock"), 0);
    while (!atomic_load(&lr.stop)) {
        uint64_t tok = 0;
        int64_t t0 = now_ms();
        int discs0 = atomic_load(&w->discs);
        int rc = coord_lock_acquire(l, ACQ_TIMEOUT, &tok);
        note_acquire(rc, now_ms() - t0);
        if (rc == 0) {
            hold(w, c, l, tok, discs0);
            for (int k = 0; k < 5 && coord_lock_release(l) != 0; k++)
                ;
        }
        int st = coord_state(c);
        if (st == COORD_STATE_EXPIRED || st == COORD_STATE_CLOSED) {
            /* a new session, as an application would open */
            coord_lock_free(l);
            coord_close(c);
            c = worker_client(w);
            assert_int_equal(coord_lock_new(&l, c, "/flock"), 0);
            pthread_mutex_lock(&lr.mu);
            lr.reopened++;
            pthread_mutex_unlock(&lr.mu);
        }
    }
    coord_lock_free(l);
    coord_close(c);
    return NULL;
}

/* Waits until the total acquisitions reach n (deadline ms); returns it. */
static int await_acq(int n, int ms)
{
    int64_t end = now_ms() + ms;
    pthread_mutex_lock(&lr.mu);
    while (lr.acquisitions < n && now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&lr.cv, &lr.mu, &ts);
    }
    int v = lr.acquisitions;
    pthread_mutex_unlock(&lr.mu);
    return v;
}

static int acq_now(void)
{
    return await_acq(0, 0);
}

/* Progress: `more` acquisitions within 30 s of now. */
static void progress(const char *phase, int more)
{
    int from = acq_now();
    int64_t t0 = now_ms();
    int got = await_acq(from + more, 30000);
    char b[32];
    print_message("  %-28s +%d acquisitions in %lld ms (%s)\n", phase,
                  got - from, (long long)(now_ms() - t0), wall(b));
    assert_true(got >= from + more);
}

/* Asks worker i to stall at its next hold; returns once it holds. */
static void stall_begin(int i)
{
    pthread_mutex_lock(&lr.mu);
    lr.stall_worker = i;
    lr.stall = ST_WANT;
    pthread_mutex_unlock(&lr.mu);
    int64_t end = now_ms() + 40000;
    pthread_mutex_lock(&lr.mu);
    while (lr.stall != ST_HOLDING && now_ms() < end) {
        pthread_mutex_unlock(&lr.mu);
        await_acq(acq_now() + 1, 1000);
        pthread_mutex_lock(&lr.mu);
    }
    enum stall st = lr.stall;
    pthread_mutex_unlock(&lr.mu);
    assert_int_equal(st, ST_HOLDING);
}

static void stall_end(void)
{
    pthread_mutex_lock(&lr.mu);
    lr.stall = ST_GO;
    pthread_cond_broadcast(&lr.cv);
    pthread_mutex_unlock(&lr.mu);
}

/* Waits until worker w's stalled hold has been recorded. */
static void await_stall_recorded(int before)
{
    int64_t end = now_ms() + 30000;
    for (;;) {
        pthread_mutex_lock(&lr.mu);
        bool done = lr.nrec > before && lr.stale_wr >= 0;
        pthread_mutex_unlock(&lr.mu);
        if (done || now_ms() > end)
            break;
        await_acq(acq_now() + 1, 200);
    }
}

/* Short cut of worker 0 (the session survives): the lock stays held. */
static void short_cut(struct lworker *w)
{
    stall_begin(w->i);
    int before = acq_now();
    int discs = atomic_load(&w->discs);
    proxy_cut(&w->px);
    /* its client notices the cut (EOF): "the lock may be lost" */
    int64_t end = now_ms() + 10000;
    while (atomic_load(&w->discs) == discs && now_ms() < end)
        poll(NULL, 0, 5);
    assert_int_equal(coord_lock_state(lr.stall_lock), COORD_LOCK_MAYBE_LOST);
    poll(NULL, 0, 1000); /* the fault's duration (< session timeout) */
    proxy_restore(&w->px);
    /* it reconnects to the same session */
    end = now_ms() + 20000;
    while (coord_lock_state(lr.stall_lock) != COORD_LOCK_HELD &&
           now_ms() < end)
        poll(NULL, 0, 10);
    assert_true(atomic_load(&w->discs) > discs);
    assert_int_equal(coord_lock_state(lr.stall_lock), COORD_LOCK_HELD);
    assert_int_equal(acq_now(), before); /* nobody else got it */
    pthread_mutex_lock(&lr.mu);
    lr.stale_wr = -1;
    int nrec = lr.nrec;
    pthread_mutex_unlock(&lr.mu);
    stall_end();
    await_stall_recorded(nrec);
    pthread_mutex_lock(&lr.mu);
    int wr = lr.stale_wr;
    bool rej = lr.stale_local_rejected;
    pthread_mutex_unlock(&lr.mu);
    print_message("  short cut: holder kept the lock, write %d\n", wr);
    assert_int_equal(wr, WR_OK);
    assert_false(rej);
}

/* Long cut of worker 1: its session expires while it holds; another
 * takes the lock; its late write must be rejected. */
static void long_cut(struct lworker *w)
{
    stall_begin(w->i);
    int before = acq_now();
    proxy_cut(&w->px);
    int64_t t0 = now_ms();
    /* the fault lasts until someone else holds the lock (the session
     * expired on the cluster) */
    int got = await_acq(before + 1, 30000);
    int64_t took = now_ms() - t0;
    assert_true(got > before);
    got = await_acq(before + 3, 30000);
    proxy_restore(&w->px);
    print_message("  long cut: lock passed on %lld ms after the cut\n",
                  (long long)took);
    /* the client learns that its session expired */
    int64_t end = now_ms() + 30000;
    while (coord_lock_state(lr.stall_lock) != COORD_LOCK_LOST &&
           now_ms() < end)
        poll(NULL, 0, 10);
    assert_int_equal(coord_lock_state(lr.stall_lock), COORD_LOCK_LOST);
    pthread_mutex_lock(&lr.mu);
    lr.stale_wr = -1;
    int nrec = lr.nrec;
    pthread_mutex_unlock(&lr.mu);
    stall_end();
    await_stall_recorded(nrec);
    pthread_mutex_lock(&lr.mu);
    int wr = lr.stale_wr;
    bool rej = lr.stale_local_rejected;
    pthread_mutex_unlock(&lr.mu);
    print_message("  long cut: late write %d, local store rejected %d\n",
                  wr, rej);
    assert_int_equal(wr, WR_FENCED);
    assert_true(rej);
}

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    return x->tok < y->tok ? -1 : x->tok > y->tok;
}

/* The safety checks over every recorded hold (see the file comment). */
static void check_records(struct coord_client *c)
{
    qsort(lr.rec, (size_t)lr.nrec, sizeof(lr.rec[0]), rec_cmp);
    int flagged = 0, overlaps = 0, dups = 0, bad_local = 0, bad_prev = 0;
    for (int i = 0; i < lr.nrec; i++) {
        const struct rec *a = &lr.rec[i];
        if (i > 0 && lr.rec[i - 1].tok == a->tok)
            dups++;
        if (a->flagged)
            flagged++;
        if (a->local_rejected && !a->flagged)
            bad_local++;
        if (a->wr == WR_OK && a->prev >= a->tok)
            bad_prev++;
        for (int j = i + 1; !a->flagged && j < lr.nrec; j++)
            if (lr.rec[j].acq < a->rel) {
                overlaps++;
                print_message("overlap: token %" PRIu64 " (w%d) held "
                              "[%lld, %lld], token %" PRIu64 " (w%d) "
                              "acquired at %lld\n",
                              a->tok, a->worker, (long long)a->acq,
                              (long long)a->rel, lr.rec[j].tok,
                              lr.rec[j].worker, (long long)lr.rec[j].acq);
            }
    }
    void *v = NULL;
    struct coord_stat st;
    assert_int_equal(coord_get(c, STORE, 0, NULL, &v, NULL, &st), 0);
    uint64_t last = strtoull(v, NULL, 10);
    coord_free_mem(v);
    uint64_t max_ok = 0;
    bool last_known = last == 0;
    for (int i = 0; i < lr.nrec; i++) {
        if (lr.rec[i].wr == WR_OK && lr.rec[i].tok > max_ok)
            max_ok = lr.rec[i].tok;
        if (lr.rec[i].tok == last && (lr.rec[i].wr == WR_OK ||
                                      lr.rec[i].wr == WR_UNCERTAIN))
            last_known = true;
    }
    print_message("lock: %d holds, %d flagged, writes ok %d fenced %d "
                  "uncertain %d failed %d conflict %d; store version %d; "
                  "%d sessions reopened; longest acquire %lld ms\n",
                  lr.nrec, flagged, lr.wr_count[WR_OK],
                  lr.wr_count[WR_FENCED], lr.wr_count[WR_UNCERTAIN],
                  lr.wr_count[WR_FAILED], lr.wr_count[WR_CONFLICT],
                  st.version, lr.reopened, (long long)lr.max_acquire_ms);
    for (int e = 1; e < 64; e++)
        if (lr.err_count[e])
            print_message("  acquire error %s: %d\n", coord_errname(-e),
                          lr.err_count[e]);
    assert_true(lr.nrec < RECS_MAX);
    assert_int_equal(dups, 0);
    assert_int_equal(overlaps, 0);
    assert_int_equal(bad_local, 0);
    assert_int_equal(bad_prev, 0);
    assert_int_equal(lr.wr_count[WR_CONFLICT], 0);
    assert_true(st.version >= lr.wr_count[WR_OK]);
    assert_true(st.version <= lr.wr_count[WR_OK] + lr.wr_count[WR_UNCERTAIN]);
    assert_true(last >= max_ok);
    assert_true(last_known);
    assert_int_equal(lr.bad_errors, 0);
    assert_int_equal(lr.late, 0);
}

/* The scripted faults, each followed by progress. */
static void lock_script(struct lworker *w)
{
    progress("start", 20);
    int lead = tcluster_leader(&cl, 10000);
    assert_true(lead >= 0);
    tproc_kill(&cl.node[lead]);
    progress("leader killed", 10);
    restart(lead);
    progress("leader restarted", 10);
    lead = tcluster_leader(&cl, 10000);
    int f = follower_of(lead);
    assert_true(f >= 0);
    tproc_kill(&cl.node[f]);
    progress("follower killed", 10);
    restart(f);
    progress("follower restarted", 10);
    lead = tcluster_leader(&cl, 10000);
    assert_true(lead >= 0);
    kill(cl.node[lead].pid, SIGSTOP);
    poll(NULL, 0, 2000); /* the fault's duration */
    kill(cl.node[lead].pid, SIGCONT);
    progress("leader stopped 2 s", 10);
    lead = tcluster_leader(&cl, 10000);
    f = follower_of(lead);
    assert_true(f >= 0);
    kill(cl.node[f].pid, SIGSTOP);
    poll(NULL, 0, 2000); /* the fault's duration */
    kill(cl.node[f].pid, SIGCONT);
    progress("follower stopped 2 s", 10);
    short_cut(&w[0]);
    progress("after short cut", 10);
    long_cut(&w[1]);
    progress("after long cut", 10);
    /* worker 0 cut off while it queues (or holds): once its session
     * expires the others pass its node; it comes back with a new one */
    int a0 = atomic_load(&w[0].acquisitions);
    proxy_cut(&w[0].px);
    poll(NULL, 0, SESSION_PROXIED + 1000); /* the fault outlasts it */
    progress("waiter cut off", 10); /* nobody queues behind its node */
    assert_true(atomic_load(&w[0].acquisitions) <= a0 + 1);
    proxy_restore(&w[0].px);
}

/* The gateway's session must outlive the test: its state changes are
 * printed (diagnostics for a failure). */
static void gateway_state_cb(void *data, int st)
{
    (void)data;
    static const char *names[] = {"connecting", "connected", "disconnected",
                                  "reconnected", "expired", "closed"};
    char b[32];
    print_message("  gateway client: %s at %s\n",
                  st >= 0 && st <= 5 ? names[st] : "?", wall(b));
}

static void lock_under_faults(void **state)
{
    (void)state;
    struct coord_options o;
    coord_options_init(&o);
    o.servers = cl.servers;
    o.state_cb = gateway_state_cb;
    assert_int_equal(coord_open(&lr.gateway, &o), 0);
    assert_int_equal(coord_create(lr.gateway, STORE, "0", 1, 0, 0, NULL,
                                  NULL), 0);
    static struct lworker w[LW];
    for (int i = 0; i < LW; i++) {
        w[i].i = i;
        if (i < LW_PROXIED)
            proxy_start(&w[i].px);
        assert_int_equal(pthread_create(&w[i].th, NULL, lworker_main, &w[i]),
                         0);
    }
    int64_t t0 = now_ms();
    lock_script(w);
    /* liveness after the last fault: every worker acquires again */
    int seen[LW];
    for (int i = 0; i < LW; i++)
        seen[i] = atomic_load(&w[i].acquisitions);
    int64_t end = now_ms() + 40000;
    for (int i = 0; i < LW; i++)
        while (atomic_load(&w[i].acquisitions) == seen[i] && now_ms() < end)
            await_acq(acq_now() + 1, 200);
    atomic_store(&lr.stop, true);
    for (int i = 0; i < LW; i++) {
        pthread_join(w[i].th, NULL);
        if (i < LW_PROXIED)
            proxy_stop(&w[i].px);
    }
    print_message("lock under faults: %lld ms\n", (long long)(now_ms() - t0));
    for (int i = 0; i < LW; i++) {
        print_message("  worker %d: %d acquisitions\n", i,
                      atomic_load(&w[i].acquisitions));
        assert_true(atomic_load(&w[i].acquisitions) > seen[i]);
    }
    check_records(lr.gateway);
    assert_int_equal(coord_close(lr.gateway), 0);
}

/* ---- Child processes reporting through a pipe --------------------------- */

/* Writes one line (atomic: < PIPE_BUF). */
static void emit(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void emit(int fd, const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0 && write(fd, buf, (size_t)n) != n)
        _exit(9);
}

struct lines {
    int fd;
    char buf[4096];
    size_t len;
};

/* The next line (without '\n') into out, waiting up to ms; false on
 * timeout or EOF. */
static bool next_line(struct lines *ls, char *out, size_t cap, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        char *nl = memchr(ls->buf, '\n', ls->len);
        if (nl) {
            size_t n = (size_t)(nl - ls->buf);
            snprintf(out, cap, "%.*s", (int)n, ls->buf);
            memmove(ls->buf, nl + 1, ls->len - n - 1);
            ls->len -= n + 1;
            return true;
        }
        int64_t left = end - now_ms();
        struct pollfd pf = {.fd = ls->fd, .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            return false;
        ssize_t r = read(ls->fd, ls->buf + ls->len,
                         sizeof(ls->buf) - ls->len);
        if (r <= 0)
            return false;
        ls->len += (size_t)r;
    }
}

static struct coord_client *child_client(uint32_t session_ms)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = cl.servers;
    o.session_timeout_ms = session_ms;
    o.backoff_max_ms = 300;
    struct coord_client *c = NULL;
    if (coord_open(&c, &o) != 0)
        _exit(8);
    return c;
}

/* ---- Election with the leader killed ------------------------------------ */

#define EC 4
#define EC_SESSION 2500
#define EC_BOUND 10000 /* election + reaction time allowed on top */

/* A candidate process: campaigns; reports E (elected, term), L (lost:
 * disconnected), R (resumed after a reconnection), Z (expired). */
static void candidate(int i, int fd)
{
    struct coord_client *c = child_client(EC_SESSION);
    struct coord_election *e = NULL;
    if (coord_election_new(&e, c, "/felect") != 0)
        _exit(7);
    char val[16];
    int n = snprintf(val, sizeof(val), "cand%d", i);
    for (;;) {
        uint64_t term = 0;
        int rc = coord_election_campaign(e, val, (size_t)n, 120000, &term,
                                         NULL, NULL);
        if (rc != 0) {
            emit(fd, "X %d %d\n", i, rc);
            _exit(2);
        }
        emit(fd, "E %d %" PRIu64 " %lld\n", i, term, (long long)now_ms());
        for (;;) {
            while (coord_election_is_leader(e))
                poll(NULL, 0, 5);
            emit(fd, "L %d\n", i);
            int st = coord_state(c);
            int64_t end = now_ms() + 60000;
            while ((st = coord_state(c)) != COORD_STATE_CONNECTED &&
                   st != COORD_STATE_RECONNECTED &&
                   st != COORD_STATE_EXPIRED && now_ms() < end)
                poll(NULL, 0, 5);
            if (st == COORD_STATE_EXPIRED) {
                emit(fd, "Z %d\n", i);
                _exit(3);
            }
            if (!coord_election_is_leader(e))
                break;
            emit(fd, "R %d %" PRIu64 "\n", i, term);
        }
        coord_election_resign(e);
    }
}

struct etrack {
    struct lines ls;
    pid_t pid[EC];
    int leader;      /* candidate index believed leading (-1) */
    uint64_t term;   /* latest term reported */
    int64_t elected_at;
    int violations;
};

/* Reads lines until an E (a new leader) arrives; returns its candidate
 * index or -1 after ms. Checks terms on the way. */
static int await_elected(struct etrack *t, int ms)
{
    char line[200];
    int64_t end = now_ms() + ms;
    while (next_line(&t->ls, line, sizeof(line), (int)(end - now_ms()))) {
        int i = -1;
        unsigned long long term = 0;
        long long at = 0;
        if (line[0] == 'X' || line[0] == 'Z')
            print_message("candidate: %s\n", line);
        if (line[0] == 'R' && sscanf(line, "R %d %llu", &i, &term) == 2 &&
            term != t->term) {
            print_message("resumed with an old term: %s\n", line);
            t->violations++;
        }
        if (line[0] != 'E' ||
            sscanf(line, "E %d %llu %lld", &i, &term, &at) != 3)
            continue;
        if (term <= t->term) {
            print_message("term did not increase: %s after %" PRIu64 "\n",
                          line, t->term);
            t->violations++;
        }
        t->term = term;
        t->leader = i;
        t->elected_at = at;
        return i;
    }
    return -1;
}

/* The observer agrees: the leader's term is t->term (polled, bounded;
 * a new leader's E line may still be on its way: read it meanwhile). */
static void observer_agrees(struct coord_client *o, struct etrack *t)
{
    int64_t end = now_ms() + 20000;
    struct coord_leader_info li = {0};
    int rc;
    do {
        rc = coord_election_leader(o, "/felect", NULL, &li);
        if (rc == 0 && li.term == t->term)
            break;
        if (rc == 0)
            coord_free_mem(li.value);
        await_elected(t, 20);
    } while (now_ms() < end);
    assert_int_equal(rc, 0);
    assert_int_equal(li.term, t->term);
    char want[16];
    snprintf(want, sizeof(want), "cand%d", t->leader);
    assert_string_equal(li.value, want);
    coord_free_mem(li.value);
}

static void kill_leader_candidate(struct etrack *t, int round)
{
    int who = t->leader;
    kill(t->pid[who], SIGKILL);
    waitpid(t->pid[who], NULL, 0);
    t->pid[who] = -1;
    int64_t t0 = now_ms();
    int next = await_elected(t, EC_SESSION + EC_BOUND + 10000);
    int64_t took = t->elected_at - t0;
    print_message("  round %d: cand%d killed, cand%d elected after %lld ms "
                  "(term %" PRIu64 ")\n", round, who, next, (long long)took,
                  t->term);
    assert_true(next >= 0 && next != who);
    assert_true(took <= EC_SESSION + EC_BOUND);
}

static void election_leader_killed(void **state)
{
    (void)state;
    struct etrack t = {.leader = -1};
    int p[2];
    assert_int_equal(pipe(p), 0);
    for (int i = 0; i < EC; i++) {
        t.pid[i] = fork();
        assert_true(t.pid[i] >= 0);
        if (t.pid[i] == 0) {
            close(p[0]);
            candidate(i, p[1]);
            _exit(0);
        }
    }
    close(p[1]);
    t.ls.fd = p[0];
    struct coord_client *o = child_client(10000);
    assert_true(await_elected(&t, 30000) >= 0);
    observer_agrees(o, &t);
    kill_leader_candidate(&t, 1);
    observer_agrees(o, &t);
    /* the cluster leader node dies: the leader candidate may be cut off
     * for a moment; a leader (the same, or a new one with a larger term)
     * is there within the bound */
    int lead = tcluster_leader(&cl, 10000);
    assert_true(lead >= 0);
    uint64_t term = t.term;
    tproc_kill(&cl.node[lead]);
    int64_t t0 = now_ms();
    observer_agrees(o, &t);
    print_message("  server n%d killed: leader cand%d term %" PRIu64
                  " (%s) within %lld ms\n", lead + 1, t.leader, t.term,
                  t.term == term ? "kept" : "new", (long long)(now_ms() - t0));
    restart(lead);
    kill_leader_candidate(&t, 2);
    observer_agrees(o, &t);
    kill_leader_candidate(&t, 3);
    observer_agrees(o, &t);
    for (int i = 0; i < EC; i++)
        if (t.pid[i] > 0) {
            kill(t.pid[i], SIGKILL);
            waitpid(t.pid[i], NULL, 0);
        }
    /* drain what they said last (term checks) */
    while (await_elected(&t, 200) >= 0)
        ;
    close(p[0]);
    assert_int_equal(coord_close(o), 0);
    assert_int_equal(t.violations, 0);
}

/* ---- Double barrier with a server killed between enter and leave -------- */

#define DB 4

/* A participant: A (arrived), N (entered, rc), waits for a byte on go,
 * V (leaving), D (left, rc). */
static void participant(int i, int fd, int go)
{
    struct coord_client *c = child_client(8000);
    char name[16];
    snprintf(name, sizeof(name), "p%d", i);
    emit(fd, "A %d\n", i);
    int rc = coord_dbarrier_enter(c, "/fdb", name, DB, 60000);
    emit(fd, "N %d %d\n", i, rc);
    char b;
    if (read(go, &b, 1) != 1)
        _exit(4);
    emit(fd, "V %d\n", i);
    rc = coord_dbarrier_leave(c, "/fdb", name, 60000);
    emit(fd, "D %d %d\n", i, rc);
    coord_close(c);
    _exit(0);
}

/* Reads lines until `want` lines of kind k2 arrived; checks that all DB
 * lines of kind k1 came before the first k2 and every rc is 0. */
static void collect(struct lines *ls, char k1, char k2, int ms)
{
    char line[200];
    int n1 = 0, n2 = 0, early = 0, bad = 0;
    int64_t end = now_ms() + ms;
    while (n2 < DB &&
           next_line(ls, line, sizeof(line), (int)(end - now_ms()))) {
        int i, rc = 0;
        if (line[0] == k1)
            n1++;
        if (line[0] == k2) {
            n2++;
            if (n1 < DB)
                early++;
            if (sscanf(line + 1, "%d %d", &i, &rc) == 2 && rc != 0) {
                print_message("participant: %s\n", line);
                bad++;
            }
        }
    }
    assert_int_equal(n2, DB);
    assert_int_equal(early, 0);
    assert_int_equal(bad, 0);
}

static void dbarrier_server_killed(void **state)
{
    (void)state;
    int p[2], go[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid[DB];
    for (int i = 0; i < DB; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            close(p[0]);
            close(go[1]);
            participant(i, p[1], go[0]);
        }
    }
    close(p[1]);
    close(go[0]);
    struct lines ls = {.fd = p[0]};
    int64_t t0 = now_ms();
    collect(&ls, 'A', 'N', 60000);
    int64_t entered = now_ms() - t0;
    int lead = tcluster_leader(&cl, 10000);
    assert_true(lead >= 0);
    tproc_kill(&cl.node[lead]);
    t0 = now_ms();
    for (int i = 0; i < DB; i++)
        assert_int_equal(write(go[1], "g", 1), 1);
    collect(&ls, 'V', 'D', 60000);
    print_message("double barrier: entered in %lld ms; left in %lld ms "
                  "with n%d killed\n", (long long)entered,
                  (long long)(now_ms() - t0), lead + 1);
    for (int i = 0; i < DB; i++) {
        int st = 0;
        assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    close(p[0]);
    close(go[1]);
    restart(lead);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lock_under_faults),
        cmocka_unit_test(election_leader_killed),
        cmocka_unit_test(dbarrier_server_killed),
    };
    return cmocka_run_group_tests_name("recipes-faults", tests, setup,
                                       teardown);
}
