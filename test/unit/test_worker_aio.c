/* test_worker_aio.c -- unit tests for the storage worker's log appends
 * from the submitting thread (coordd/store/worker.c store_worker_set_aio,
 * Linux AIO on the log segments): an entries-only request while the
 * worker is idle is written through io_submit and finished by
 * store_worker_reap on this thread; what queues meanwhile waits for it and
 * is written after it, in seq order (as the next append from here when
 * it carries entries only, else by the thread); requests with hard state
 * go to the thread; stopping finishes an append in flight or not yet
 * started. Each case uses a RocksDB store with log segments in its own
 * mkdtemp dir under /tmp (direct I/O: the case is skipped where the file
 * system or kernel offers no O_DIRECT or AIO) and reopens it to check what
 * is durable. Waiting polls the worker's eventfd or a condition variable,
 * with a deadline; nothing sleeps to synchronise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/store/store.h"
#include "test/lib/tmpdir.h"

#define SEQS_MAX 16

struct fx {
    char dir[64];
    struct store s;
    struct store_worker wk;
    bool open;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t seqs[SEQS_MAX]; /* every done_cb, in order */
    uint32_t n_seqs;
    int status;
    uint64_t hold_seq; /* its done_cb gives later ones a window first */
};

static const struct store_options opts = {7, 1, false, false, 0, 0};

static void done_cb(void *data, int status, uint64_t seq)
{
    struct fx *f = data;
    pthread_mutex_lock(&f->mu);
    if (seq == f->hold_seq) {
        /* Were a later request allowed to finish before this one is
         * reported, it would be recorded first in this window. A wait
         * that ends by timing out is the passing case. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 300 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        uint32_t n0 = f->n_seqs;
        while (f->n_seqs == n0 &&
               pthread_cond_timedwait(&f->cv, &f->mu, &until) == 0)
            ;
    }
    if (status)
        f->status = status;
    if (f->n_seqs < SEQS_MAX)
        f->seqs[f->n_seqs++] = seq;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/worker-aio-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    *state = f;
    return 0;
}

static void fx_stop(struct fx *f)
{
    if (f->started)
        store_worker_stop(&f->wk);
    f->started = false;
    if (f->open)
        store_close(&f->s);
    f->open = false;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_stop(f);
    tdir_remove(f->dir);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

/* Opens the store and starts the worker with AIO; skips the case where
 * the kernel or file system cannot do it. */
static void fx_start(struct fx *f)
{
    assert_int_equal(store_open_rocks(&f->s, f->dir, &opts), 0);
    f->open = true;
    assert_int_equal(store_worker_start(&f->wk, &f->s, 64, 1 << 20, done_cb,
                                        f), 0);
    f->started = true;
    if (store_worker_set_aio(&f->wk) != 0) {
        fprintf(stderr, "no AIO here: %s\n", f->wk.errmsg);
        skip();
    }
    assert_true(store_worker_aio_fd(&f->wk) >= 0);
}

/* Queues (no kick) seq: the entry at index (none if 0) and, with hs, the
 * hard state term. */
static int submit(struct fx *f, uint64_t seq, uint64_t index, uint64_t term,
                  bool hs)
{
    static const uint8_t data[] = "value";
    struct store_entry e = {index, 1, 1, sizeof(data), data};
    struct store_write w = {hs, term, 0, 0, &e, index ? 1 : 0};
    return store_worker_submit_quiet(&f->wk, seq, &w);
}

static uint32_t n_done(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    uint32_t n = f->n_seqs;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static uint64_t last_done(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    uint64_t seq = f->n_seqs ? f->seqs[f->n_seqs - 1] : 0;
    pthread_mutex_unlock(&f->mu);
    return seq;
}

/* Waits until seq is reported durable (one done_cb may cover several
 * seqs); fails after 30 s instead of hanging. */
static void wait_done(struct fx *f, uint64_t seq)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    while ((f->n_seqs == 0 || f->seqs[f->n_seqs - 1] < seq) &&
           f->status == 0 && rc == 0)
        rc = pthread_cond_timedwait(&f->cv, &f->mu, &until);
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(f->status, 0);
    assert_true(last_done(f) >= seq);
}

/* Waits for the append in flight to complete and finishes it here. */
static void reap(struct fx *f)
{
    struct pollfd p = {store_worker_aio_fd(&f->wk), POLLIN, 0};
    assert_int_equal(poll(&p, 1, 30000), 1);
    assert_true(store_worker_reap(&f->wk));
    assert_false(store_worker_reap(&f->wk)); /* nothing more in flight */
}

/* Reopens the store and checks that the log is [1, last] at term. */
static void check_durable(struct fx *f, uint64_t last, uint64_t term)
{
    fx_stop(f);
    assert_int_equal(store_open_rocks(&f->s, f->dir, &opts), 0);
    f->open = true;
    struct store_state st;
    assert_int_equal(store_load(&f->s, &st), 0);
    assert_int_equal(st.last, last);
    assert_int_equal(st.term, term);
    struct store_entry out[8];
    uint8_t buf[256];
    uint32_t n = 0;
    assert_int_equal(store_read(&f->s, 1, last + 1, out, 8, buf,
                                sizeof(buf), &n), 0);
    assert_int_equal(n, last);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(out[i].index, i + 1);
        assert_string_equal((const char *)out[i].data, "value");
    }
}

/* fx_start, then a first entry with hard state through the thread: the
 * log then has a segment, which an asynchronous append needs (a new
 * segment is made synchronously). */
static void fx_start_written(struct fx *f)
{
    fx_start(f);
    assert_int_equal(submit(f, 1, 1, 1, true), 0);
    store_worker_kick(&f->wk);
    wait_done(f, 1);
    /* The thread reports a batch durable before it frees the batch's
     * queue slots, and an append from here needs an empty queue (else
     * the next request goes to the thread: seen under ASan, a 30 s poll
     * for an append that was never started here). Nothing signals the
     * freeing, so poll for it, bounded. */
    for (int i = 0; i < 30000; i++) {
        pthread_mutex_lock(&f->wk.mu);
        uint32_t n = f->wk.n;
        pthread_mutex_unlock(&f->wk.mu);
        if (n == 0)
            return;
        usleep(1000);
    }
    fail_msg("the worker's queue is not empty after 30 s");
}

static void append_from_submitter(void **state)
{
    struct fx *f = *state;
    fx_start_written(f); /* hard state: the thread's */
    struct store_worker_stats st;
    store_worker_get_stats(&f->wk, &st);
    assert_int_equal(st.aio_writes, 0);
    assert_int_equal(submit(f, 2, 2, 0, false), 0);
    store_worker_kick(&f->wk);
    reap(f);
    assert_int_equal(n_done(f), 2);
    assert_int_equal(f->seqs[1], 2);
    store_worker_get_stats(&f->wk, &st);
    assert_int_equal(st.aio_writes, 1);
    assert_int_equal(st.aio_fallbacks, 0);
    assert_int_equal(st.requests, 2);
    check_durable(f, 2, 1);
}

/* Requests queued while an append is in flight wait for it, whatever
 * they carry, and are done in seq order after it. */
static void queued_behind_in_flight(void **state)
{
    struct fx *f = *state;
    fx_start_written(f);
    assert_int_equal(submit(f, 2, 2, 0, false), 0); /* from here */
    store_worker_kick(&f->wk);
    assert_int_equal(submit(f, 3, 0, 2, true), 0);  /* hard state only */
    assert_int_equal(submit(f, 4, 3, 0, false), 0); /* not idle: thread */
    store_worker_kick(&f->wk);
    struct pollfd p = {store_worker_aio_fd(&f->wk), POLLIN, 0};
    assert_int_equal(poll(&p, 1, 30000), 1);
    f->hold_seq = 2;
    /* Complete but not reaped: the thread still holds seqs 3 and 4. */
    assert_int_equal(n_done(f), 1);
    assert_true(store_worker_reap(&f->wk));
    assert_int_equal(last_done(f) >= 2, true);
    wait_done(f, 4);
    assert_int_equal(f->seqs[1], 2); /* the append first, then the rest */
    for (uint32_t i = 1; i < f->n_seqs; i++)
        assert_true(f->seqs[i] > f->seqs[i - 1]);
    struct store_worker_stats st;
    store_worker_get_stats(&f->wk, &st);
    assert_int_equal(st.aio_writes, 1);
    assert_int_equal(st.requests, 4);
    check_durable(f, 3, 2);
}

/* Entries-only requests queued behind an append in flight are taken by
 * its end as the next append from here (the thread is not woken), and
 * written in seq order; stopping writes one so taken but not started. */
static void queued_entries_chained(void **state)
{
    struct fx *f = *state;
    fx_start_written(f);
    assert_int_equal(submit(f, 2, 2, 0, false), 0); /* from here */
    store_worker_kick(&f->wk);
    assert_int_equal(submit(f, 3, 3, 0, false), 0); /* queued */
    assert_int_equal(submit(f, 4, 4, 0, false), 0);
    store_worker_kick(&f->wk);
    reap(f); /* 2 done; 3 and 4 taken, ready, not started */
    assert_int_equal(n_done(f), 2);
    assert_int_equal(last_done(f), 2);
    store_worker_kick(&f->wk); /* started */
    reap(f);
    assert_int_equal(n_done(f), 3);
    assert_int_equal(last_done(f), 4);
    struct store_worker_stats st;
    store_worker_get_stats(&f->wk, &st);
    assert_int_equal(st.aio_writes, 3);
    assert_int_equal(st.aio_chained, 2);
    assert_int_equal(st.requests, 4);
    assert_int_equal(st.batches, 3); /* the thread wrote seq 1 only */
    assert_int_equal(submit(f, 5, 5, 0, false), 0);
    store_worker_kick(&f->wk);
    assert_int_equal(submit(f, 6, 6, 0, false), 0);
    store_worker_kick(&f->wk);
    store_worker_stop(&f->wk); /* 5 in flight, then 6 taken and written */
    f->started = false;
    assert_int_equal(last_done(f), 6);
    for (uint32_t i = 1; i < f->n_seqs; i++)
        assert_true(f->seqs[i] > f->seqs[i - 1]);
    check_durable(f, 6, 1);
}

/* Stopping finishes an append in flight, and one begun but never
 * started (no kick): both are durable. */
static void stop_finishes_appends(void **state)
{
    struct fx *f = *state;
    fx_start_written(f);
    assert_int_equal(submit(f, 2, 2, 0, false), 0);
    store_worker_kick(&f->wk);
    store_worker_stop(&f->wk); /* in flight */
    f->started = false;
    assert_int_equal(n_done(f), 2);
    assert_int_equal(store_worker_aio_fd(&f->wk), -1);
    assert_int_equal(store_worker_start(&f->wk, &f->s, 64, 1 << 20, done_cb,
                                        f), 0);
    f->started = true;
    assert_int_equal(store_worker_set_aio(&f->wk), 0);
    assert_int_equal(submit(f, 3, 3, 0, false), 0);
    struct store_worker_stats st;
    store_worker_get_stats(&f->wk, &st);
    assert_int_equal(st.aio_writes, 0); /* begun only */
    store_worker_stop(&f->wk);
    f->started = false;
    assert_int_equal(n_done(f), 3);
    assert_int_equal(f->seqs[2], 3);
    check_durable(f, 3, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(append_from_submitter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(queued_behind_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(queued_entries_chained, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stop_finishes_appends, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
