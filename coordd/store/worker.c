/* worker.c -- the storage thread: group commit of persist requests.
 *
 * How it fits: node.c submits one request per raft_update that asks for a
 * persist; this thread writes everything that queued up while its previous
 * fsync ran as ONE store_write() with sync (one batch, one fsync) and
 * reports the highest seq made durable through a callback, which node.c
 * turns into RAFT_EV_PERSISTED on the loop thread. Requests are written in
 * seq order, so acknowledging seq N acknowledges every seq <= N (raft.h's
 * contract, rule 1). coordd queues quietly during a loop iteration and
 * wakes this thread once, after the loop flushed its sockets
 * (store_worker_kick). It must not touch libev, and after a failed write or
 * sync it stops for good: a failed fsync is never retried.
 * With store_worker_set_aio, an entries-only request that finds this
 * thread idle is written by the submitting thread itself with Linux AIO
 * instead (the end of this file; docs/storage.md "Log writes from the
 * loop"); the thread takes nothing while such a write is in flight, so
 * requests still become durable, and are reported, in seq order. What
 * queued meanwhile becomes the next such write when it carries entries
 * only (aio_chain); otherwise the thread takes it.
 */
#include "store.h"

#include <errno.h>
#include <linux/aio_abi.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "store_int.h"

/* One queued request: the write, its entries and their payloads live in
 * this one allocation. */
struct store_worker_req {
    uint64_t seq;
    uint64_t bytes;
    struct store_write w;
};

static struct store_worker_req *req_copy(uint64_t seq,
                                         const struct store_write *wr)
{
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < wr->n_entries; i++)
        bytes += wr->entries[i].len;
    size_t head = sizeof(struct store_worker_req) +
                  (size_t)wr->n_entries * sizeof(struct store_entry);
    struct store_worker_req *q = coord_malloc(head + bytes);
    if (!q)
        return NULL;
    q->seq = seq;
    q->bytes = bytes;
    q->w = *wr;
    struct store_entry *es = (struct store_entry *)(q + 1);
    uint8_t *p = (uint8_t *)q + head;
    for (uint32_t i = 0; i < wr->n_entries; i++) {
        es[i] = wr->entries[i];
        if (es[i].len)
            memcpy(p, wr->entries[i].data, es[i].len);
        es[i].data = p;
        p += es[i].len;
    }
    q->w.entries = wr->n_entries ? es : NULL;
    return q;
}

static int64_t worker_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A batch ended after took us (done_cb has run): the spinning side's
 * view. The average weighs the last batch 1/8. */
static void note_done(struct store_worker *w, int64_t took)
{
    uint32_t e = atomic_load(&w->ewma_us);
    uint32_t t = took > 10000000 ? 10000000 : (uint32_t)took;
    atomic_store(&w->ewma_us, e ? e - e / 8 + t / 8 : t);
    atomic_store(&w->busy_since_us, 0);
    atomic_fetch_add(&w->batches_done, 1);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The worker, about to sleep: polls for a new request for up to spin_us
 * (the next one often follows soon under load). mu not held. */
static void worker_spin_idle(struct store_worker *w, uint64_t seen,
                             uint32_t spin_us)
{
    int64_t end = worker_now_us() + spin_us;
    while (atomic_load(&w->submitted) == seen && worker_now_us() < end)
        cpu_relax();
}

void store_worker_set_spin(struct store_worker *w, uint32_t spin_us)
{
    pthread_mutex_lock(&w->mu);
    w->spin_us = spin_us;
    pthread_mutex_unlock(&w->mu);
}

bool store_worker_spin(struct store_worker *w)
{
    if (w->spin_us == 0)
        return false;
    uint64_t done = atomic_load(&w->batches_done);
    int64_t since = atomic_load(&w->busy_since_us);
    if (since == 0)
        return false; /* idle, or woken but not writing yet */
    int64_t now = worker_now_us();
    int64_t left = (int64_t)atomic_load(&w->ewma_us) - (now - since);
    if (left > (int64_t)w->spin_us)
        return false; /* not expected soon: sleep */
    int64_t end = now + w->spin_us;
    while (atomic_load(&w->batches_done) == done) {
        if (worker_now_us() >= end)
            return false;
        cpu_relax();
    }
    return true;
}

/* Writes reqs[0..n) as one synced batch and reports the outcome. Returns
 * the status. */
static int commit_group(struct store_worker *w, struct store_worker_req **r,
                        uint32_t n, struct store_write *ws)
{
    for (uint32_t i = 0; i < n; i++)
        ws[i] = r[i]->w;
    int64_t t0 = worker_now_us();
    atomic_store(&w->busy_since_us, t0);
    int rc = store_write(w->s, ws, n, true);
    int64_t took = worker_now_us() - t0;
    if (rc == 0 && w->on_sync)
        w->on_sync(w->on_sync_data, (uint64_t)took);
    uint64_t seq = rc ? r[0]->seq : r[n - 1]->seq;
    pthread_mutex_lock(&w->mu);
    if (rc) {
        w->fatal = rc;
        memcpy(w->errmsg, w->s->errmsg, sizeof(w->errmsg));
    } else {
        w->stats.requests += n;
        w->stats.batches++;
        w->stats.syncs++;
        if (n > w->stats.max_group)
            w->stats.max_group = n;
    }
    pthread_mutex_unlock(&w->mu);
    w->done_cb(w->done_data, rc, seq);
    note_done(w, took);
    return rc;
}

static void *worker_main(void *arg)
{
    struct store_worker *w = arg;
    struct store_worker_req **batch = w->batch;
    struct store_write *ws = w->ws;
    /* Named for top -H, perf and the 1x1 traces (15 bytes at most). */
    pthread_setname_np(pthread_self(), "coordd-storage");
    pthread_mutex_lock(&w->mu);
    w->tid = (int)syscall(SYS_gettid);
    pthread_cond_broadcast(&w->cv); /* store_worker_start waits for it */
    pthread_mutex_unlock(&w->mu);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        if (w->n == 0 && !w->stop && w->spin_us) {
            uint64_t seen = atomic_load(&w->submitted);
            uint32_t us = w->spin_us;
            pthread_mutex_unlock(&w->mu);
            worker_spin_idle(w, seen, us);
            pthread_mutex_lock(&w->mu);
        }
        while ((w->n == 0 || w->aio_busy) && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        uint32_t n = w->n;
        for (uint32_t i = 0; i < n; i++)
            batch[i] = w->q[(w->head + i) % w->queue_max];
        pthread_mutex_unlock(&w->mu);
        if (n == 0)
            break;
        int rc = commit_group(w, batch, n, ws);
        pthread_mutex_lock(&w->mu);
        /* Free the slots only now: the queue bounds what is in flight. */
        w->head = (w->head + n) % w->queue_max;
        w->n -= n;
        for (uint32_t i = 0; i < n; i++)
            w->bytes -= batch[i]->bytes;
        pthread_mutex_unlock(&w->mu);
        for (uint32_t i = 0; i < n; i++)
            coord_free(batch[i]);
        if (rc)
            break;
    }
    return NULL;
}

int store_worker_start(struct store_worker *w, struct store *s,
                       uint32_t queue_max, uint64_t bytes_max,
                       store_worker_done_cb done_cb, void *data)
{
    memset(w, 0, sizeof(*w));
    if (queue_max == 0 || bytes_max == 0 || !done_cb) {
        store__errf(w->errmsg, "worker: bad queue bounds or no callback");
        return COORD_EINVAL;
    }
    w->q = coord_calloc(queue_max, sizeof(*w->q));
    w->batch = coord_calloc(queue_max, sizeof(*w->batch));
    w->ws = coord_calloc(queue_max, sizeof(*w->ws));
    if (!w->q || !w->batch || !w->ws) {
        coord_free(w->q);
        coord_free(w->batch);
        coord_free(w->ws);
        w->q = NULL;
        store__errf(w->errmsg, "worker: out of memory");
        return COORD_ENOMEM;
    }
    w->s = s;
    w->queue_max = queue_max;
    w->bytes_max = bytes_max;
    w->done_cb = done_cb;
    w->done_data = data;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        coord_free(w->q);
        coord_free(w->batch);
        coord_free(w->ws);
        w->q = NULL;
        store__errf(w->errmsg, "worker: cannot start the thread");
        return COORD_EIO;
    }
    /* Nobody else waits on cv yet: the worker broadcasts once its tid is
     * known, before it first waits itself. */
    pthread_mutex_lock(&w->mu);
    while (w->tid == 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int store_worker_set_nice(struct store_worker *w, int nice)
{
    if (nice < -20 || nice > 19) {
        store__errf(w->errmsg, "worker: nice %d outside -20..19", nice);
        return COORD_EINVAL;
    }
    if (nice == 0)
        return 0;
    if (setpriority(PRIO_PROCESS, (id_t)w->tid, nice) != 0) {
        int e = errno;
        store__errf(w->errmsg, "worker: setpriority(%d): %s", nice,
                    strerror(e));
        return e == EPERM || e == EACCES ? COORD_EAUTH : COORD_EIO;
    }
    return 0;
}

static int submit_check(struct store_worker *w, uint64_t seq, uint64_t bytes)
{
    if (w->fatal)
        return w->fatal;
    if (w->stop || seq <= w->last_seq) {
        store__errf(w->errmsg, "worker: seq %llu after %llu, or stopped",
                    (unsigned long long)seq,
                    (unsigned long long)w->last_seq);
        return COORD_EINVAL;
    }
    /* One oversized request may go alone into an empty queue. */
    if (w->n == w->queue_max || (w->n && bytes > w->bytes_max - w->bytes))
        return COORD_EAGAIN;
    return 0;
}

static int aio_begin(struct store_worker *w, uint64_t seq,
                     const struct store_write *wr);

/* Queues a copy of wr; the caller wakes the thread (store_worker_kick). */
static int submit(struct store_worker *w, uint64_t seq,
                  const struct store_write *wr)
{
    if (w->aio) {
        int rc = aio_begin(w, seq, wr);
        if (rc != COORD_EAGAIN)
            return rc;
    }
    struct store_worker_req *q = req_copy(seq, wr);
    if (!q)
        return COORD_ENOMEM;
    pthread_mutex_lock(&w->mu);
    int rc = submit_check(w, seq, q->bytes);
    if (rc == 0) {
        w->q[(w->head + w->n) % w->queue_max] = q;
        w->n++;
        w->bytes += q->bytes;
        w->last_seq = seq;
        w->kick_pending = true;
        atomic_fetch_add(&w->submitted, 1);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc)
        coord_free(q);
    return rc;
}

int store_worker_submit(struct store_worker *w, uint64_t seq,
                        const struct store_write *wr)
{
    int rc = submit(w, seq, wr);
    if (rc == 0)
        store_worker_kick(w);
    return rc;
}

int store_worker_submit_quiet(struct store_worker *w, uint64_t seq,
                              const struct store_write *wr)
{
    return submit(w, seq, wr);
}

static void aio_submit(struct store_worker *w);

void store_worker_kick(struct store_worker *w)
{
    aio_submit(w);
    if (!w->kick_pending)
        return;
    w->kick_pending = false;
    /* An append from here is in flight: its end hands the queue on
     * (aio_finish), so waking the thread now would only put it back to
     * sleep. aio_busy is written by this thread only. */
    if (w->aio_busy)
        return;
    /* Signalled after the unlock in submit(): a worker woken while we
     * held mu would block on it at once (a second context switch). The
     * predicate (n) changed under mu, so no wake-up is lost. */
    pthread_cond_signal(&w->cv);
}

static void aio_stop(struct store_worker *w);

void store_worker_stop(struct store_worker *w)
{
    if (!w->q)
        return;
    aio_stop(w);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    atomic_fetch_add(&w->submitted, 1); /* ends an idle spin at once */
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    /* After a fatal error, requests still queued were never written. */
    for (uint32_t i = 0; i < w->n; i++)
        coord_free(w->q[(w->head + i) % w->queue_max]);
    coord_free(w->q);
    coord_free(w->batch);
    coord_free(w->ws);
    w->q = NULL;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

void store_worker_get_stats(struct store_worker *w,
                            struct store_worker_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

/* ---- log appends from the submitting thread (Linux AIO) ----------------- */

enum { AIO_IDLE, AIO_READY, AIO_INFLIGHT };

struct store_worker_aio {
    aio_context_t ctx;
    int efd;
    int state;
    uint64_t seq;
    struct store_io io;
    struct iocb cb;
    int64_t t0;
    uint32_t nreq; /* requests in this append */
    /* aio_chain's scratch: the entries of the requests it takes */
    struct store_entry *es;
    uint32_t es_cap;
};

static long sys_io_setup(unsigned nr, aio_context_t *ctx)
{
    return syscall(SYS_io_setup, nr, ctx);
}

static long sys_io_destroy(aio_context_t ctx)
{
    return syscall(SYS_io_destroy, ctx);
}

static long sys_io_submit(aio_context_t ctx, long n, struct iocb **cbs)
{
    return syscall(SYS_io_submit, ctx, n, cbs);
}

static long sys_io_getevents(aio_context_t ctx, long min, long max,
                             struct io_event *ev, struct timespec *t)
{
    return syscall(SYS_io_getevents, ctx, min, max, ev, t);
}

int store_worker_set_aio(struct store_worker *w)
{
    if (w->aio)
        return 0;
    struct store_worker_aio *a = coord_calloc(1, sizeof(*a));
    if (!a) {
        store__errf(w->errmsg, "worker: out of memory");
        return COORD_ENOMEM;
    }
    a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (a->efd < 0 || sys_io_setup(1, &a->ctx) != 0) {
        store__errf(w->errmsg, "worker: no Linux AIO (%s)", strerror(errno));
        if (a->efd >= 0)
            close(a->efd);
        coord_free(a);
        return COORD_EIO;
    }
    w->aio = a;
    return 0;
}

int store_worker_aio_fd(const struct store_worker *w)
{
    return w->aio ? w->aio->efd : -1;
}

/* submit's first try: COORD_EAGAIN sends the request to the thread. */
static int aio_begin(struct store_worker *w, uint64_t seq,
                     const struct store_write *wr)
{
    struct store_worker_aio *a = w->aio;
    if (a->state != AIO_IDLE || wr->hs_changed || wr->truncate_from ||
        wr->n_entries == 0)
        return COORD_EAGAIN;
    pthread_mutex_lock(&w->mu);
    int rc = submit_check(w, seq, 0);
    bool idle = rc == 0 && w->n == 0;
    pthread_mutex_unlock(&w->mu);
    if (rc || !idle)
        return rc ? rc : COORD_EAGAIN;
    /* The thread has nothing and is writing nothing (slots are freed only
     * after their batch), and only this thread adds: the store's log is
     * ours until aio_busy drops. */
    rc = store_append_begin(w->s, wr->entries, wr->n_entries, &a->io);
    if (rc == COORD_EAGAIN)
        return rc;
    pthread_mutex_lock(&w->mu);
    if (rc) {
        w->fatal = rc;
        memcpy(w->errmsg, w->s->errmsg, sizeof(w->errmsg));
    } else {
        w->last_seq = seq;
        w->aio_busy = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc == 0) {
        a->seq = seq;
        a->nreq = 1;
        a->state = AIO_READY;
        atomic_fetch_add(&w->submitted, 1);
    }
    return rc;
}

/* The requests queued while an append from here was in flight, if they
 * are entries-only, contiguous and fit one append: taken as the next
 * append from here (AIO_READY; store_worker_kick starts it) rather than
 * handed to the thread, which would first have to be woken (on a busy
 * 2-vCPU box that wake-up is the largest cost of a batch after the disk).
 * Called by the submitting thread with mu held and aio_busy clear;
 * returns true with mu released (the append ready, or a fatal error
 * reported), false with mu held and nothing changed. */
static bool aio_chain(struct store_worker *w)
{
    struct store_worker_aio *a = w->aio;
    uint32_t n = w->n, total = 0;
    if (n == 0 || w->stop)
        return false;
    uint64_t next = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct store_write *wr =
            &w->q[(w->head + i) % w->queue_max]->w;
        if (wr->hs_changed || wr->truncate_from || wr->n_entries == 0 ||
            (next && wr->entries[0].index != next))
            return false;
        next = wr->entries[wr->n_entries - 1].index + 1;
        total += wr->n_entries; /* bounded by the queue's bytes and slots */
    }
    if (total > a->es_cap) {
        struct store_entry *p =
            coord_realloc(a->es, (size_t)total * sizeof(*p));
        if (!p)
            return false;
        a->es = p;
        a->es_cap = total;
    }
    w->aio_busy = true; /* the thread stays off the queue and the store */
    pthread_mutex_unlock(&w->mu);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct store_write *wr =
            &w->q[(w->head + i) % w->queue_max]->w;
        memcpy(&a->es[k], wr->entries, wr->n_entries * sizeof(*a->es));
        k += wr->n_entries;
    }
    int rc = store_append_begin(w->s, a->es, total, &a->io);
    pthread_mutex_lock(&w->mu);
    if (rc == COORD_EAGAIN) {
        w->aio_busy = false;
        return false; /* the thread takes them, as before */
    }
    if (rc) {
        w->aio_busy = false;
        w->fatal = rc;
        memcpy(w->errmsg, w->s->errmsg, sizeof(w->errmsg));
        uint64_t seq = w->q[w->head]->seq;
        pthread_mutex_unlock(&w->mu);
        w->done_cb(w->done_data, rc, seq);
        return true;
    }
    /* Encoded (store_append_begin copied the entries): the slots go. */
    a->seq = w->q[(w->head + n - 1) % w->queue_max]->seq;
    a->nreq = n;
    for (uint32_t i = 0; i < n; i++) {
        struct store_worker_req *q = w->q[(w->head + i) % w->queue_max];
        w->bytes -= q->bytes;
        coord_free(q);
    }
    w->head = (w->head + n) % w->queue_max;
    w->n = 0;
    w->stats.aio_chained += n;
    pthread_mutex_unlock(&w->mu);
    a->state = AIO_READY;
    return true;
}

/* The write of the request in flight ended with res (bytes or -errno). */
static void aio_finish(struct store_worker *w, int64_t res, bool fallback)
{
    struct store_worker_aio *a = w->aio;
    int rc = store_append_end(w->s, res);
    int64_t took = worker_now_us() - a->t0;
    if (rc == 0 && w->on_sync)
        w->on_sync(w->on_sync_data, (uint64_t)took);
    a->state = AIO_IDLE;
    /* Reported before the thread may take what queued meanwhile: done_cb
     * calls must come in seq order (a later batch of the thread reported
     * first would be overwritten by this seq: a lost acknowledgement). */
    w->done_cb(w->done_data, rc, a->seq);
    pthread_mutex_lock(&w->mu);
    w->aio_busy = false;
    if (rc) {
        w->fatal = rc;
        memcpy(w->errmsg, w->s->errmsg, sizeof(w->errmsg));
    } else {
        w->stats.requests += a->nreq;
        w->stats.batches++;
        w->stats.syncs++;
        w->stats.aio_writes += a->nreq;
        w->stats.aio_fallbacks += fallback;
        if (a->nreq > w->stats.max_group)
            w->stats.max_group = a->nreq;
    }
    /* Not after a fallback: a refused io_submit would only refuse again. */
    if (rc == 0 && !fallback && aio_chain(w))
        return; /* what queued meanwhile is the next append from here */
    if (w->n)
        pthread_cond_signal(&w->cv); /* what queued meanwhile */
    pthread_mutex_unlock(&w->mu);
}

/* The write done here, blocking: io_submit refused, or shutting down. */
static void aio_write_here(struct store_worker *w)
{
    struct store_worker_aio *a = w->aio;
    ssize_t n = pwrite(a->io.fd, a->io.buf, a->io.len, (off_t)a->io.off);
    aio_finish(w, n < 0 ? -errno : n, true);
}

static void aio_submit(struct store_worker *w)
{
    struct store_worker_aio *a = w->aio;
    if (!a || a->state != AIO_READY)
        return;
    memset(&a->cb, 0, sizeof(a->cb));
    a->cb.aio_lio_opcode = IOCB_CMD_PWRITE;
    a->cb.aio_fildes = (uint32_t)a->io.fd;
    a->cb.aio_buf = (uint64_t)(uintptr_t)a->io.buf;
    a->cb.aio_nbytes = a->io.len;
    a->cb.aio_offset = (int64_t)a->io.off;
    a->cb.aio_flags = IOCB_FLAG_RESFD;
    a->cb.aio_resfd = (uint32_t)a->efd;
    struct iocb *cbs[1] = {&a->cb};
    a->t0 = worker_now_us();
    if (sys_io_submit(a->ctx, 1, cbs) == 1)
        a->state = AIO_INFLIGHT;
    else
        aio_write_here(w);
}

bool store_worker_reap(struct store_worker *w)
{
    struct store_worker_aio *a = w->aio;
    if (!a || a->state != AIO_INFLIGHT)
        return false;
    uint64_t cnt;
    if (read(a->efd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
        return false; /* not signalled yet */
    struct io_event ev;
    struct timespec zero = {0, 0};
    if (sys_io_getevents(a->ctx, 1, 1, &ev, &zero) != 1)
        return false;
    aio_finish(w, ev.res, false);
    return true;
}

static void aio_stop(struct store_worker *w)
{
    struct store_worker_aio *a = w->aio;
    if (!a)
        return;
    /* Finishing one in flight may chain the next (then READY), which is
     * written here: a write from here never chains. */
    while (a->state != AIO_IDLE) {
        if (a->state == AIO_READY) {
            a->t0 = worker_now_us();
            aio_write_here(w);
            continue;
        }
        struct io_event ev;
        long got;
        do
            got = sys_io_getevents(a->ctx, 1, 1, &ev, NULL);
        while (got < 0 && errno == EINTR);
        aio_finish(w, got == 1 ? ev.res : -EIO, false);
    }
    sys_io_destroy(a->ctx);
    close(a->efd);
    coord_free(a->es);
    coord_free(a);
    w->aio = NULL;
}
