/* test_worker_spin.c -- unit tests for the storage worker's wake-up
 * controls (coordd/store/worker.c): quiet submits woken by a kick, the
 * bounded spin of the submitting thread (store_worker_spin) and of the
 * worker waiting for its next request. Uses the memory disk and its sync
 * hook to hold a batch inside its fsync, so "a batch is being written" is
 * a known state, not a timing guess. Must not sleep to synchronise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "coordd/store/store.h"

struct fx {
    struct store_mem_disk *disk;
    struct store s;
    struct store_worker wk;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t done_seq; /* set by done_cb */
    int status;
    bool block;                /* the sync hook holds the fsync */
    bool in_sync;
};

static const struct store_options opts = {7, 1, false};

static void done_cb(void *data, int status, uint64_t seq)
{
    struct fx *f = data;
    pthread_mutex_lock(&f->mu);
    f->status = status;
    atomic_store(&f->done_seq, seq);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void hold_sync(void *data)
{
    struct fx *f = data;
    pthread_mutex_lock(&f->mu);
    f->in_sync = true;
    pthread_cond_broadcast(&f->cv);
    while (f->block)
        pthread_cond_wait(&f->cv, &f->mu);
    f->in_sync = false;
    pthread_mutex_unlock(&f->mu);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || store_mem_disk_new(&f->disk) ||
        store_open_mem(&f->s, f->disk, &opts))
        return -1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    store_mem_sync_hook(f->disk, hold_sync, f);
    if (store_worker_start(&f->wk, &f->s, 64, 1 << 20, done_cb, f))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pthread_mutex_lock(&f->mu);
    f->block = false;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    store_worker_stop(&f->wk);
    store_mem_sync_hook(f->disk, NULL, NULL);
    store_close(&f->s);
    store_mem_disk_free(f->disk);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
    return 0;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int submit(struct fx *f, uint64_t seq, bool quiet)
{
    static const uint8_t data[] = "value";
    struct store_entry e = {seq, 1, 1, sizeof(data), data};
    struct store_write w = {true, 1, 1, 0, &e, 1};
    return quiet ? store_worker_submit_quiet(&f->wk, seq, &w)
                 : store_worker_submit(&f->wk, seq, &w);
}

/* Waits for seq to be durable; fails after 30 s (a lost wake-up would
 * otherwise hang the test instead of failing it). */
static void wait_done(struct fx *f, uint64_t seq)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    while (atomic_load(&f->done_seq) < seq && f->status == 0 && rc == 0)
        rc = pthread_cond_timedwait(&f->cv, &f->mu, &until);
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(f->status, 0);
    assert_true(atomic_load(&f->done_seq) >= seq);
}

static void wait_in_sync(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    while (!f->in_sync)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static void release(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    f->block = false;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* Quiet submits are all written once kicked, in one or more batches, in
 * seq order; a kick with nothing queued is harmless. */
static void quiet_submits_complete_after_kick(void **state)
{
    struct fx *f = *state;
    store_worker_kick(&f->wk);
    for (uint64_t seq = 1; seq <= 10; seq++)
        assert_int_equal(submit(f, seq, true), 0);
    store_worker_kick(&f->wk);
    store_worker_kick(&f->wk);
    wait_done(f, 10);
    struct store_worker_stats st;
    store_worker_get_stats(&f->wk, &st);
    assert_int_equal(st.requests, 10);
    assert_true(st.batches >= 1 && st.batches <= 10);
}

/* Budget 0: never spins, even with a batch held inside its fsync. */
static void spin_disabled_returns_at_once(void **state)
{
    struct fx *f = *state;
    f->block = true;
    assert_int_equal(submit(f, 1, false), 0);
    wait_in_sync(f);
    assert_false(store_worker_spin(&f->wk));
    assert_int_equal(atomic_load(&f->done_seq), 0);
    release(f);
    wait_done(f, 1);
}

/* A batch held in its fsync longer than the budget: the spin gives up
 * after the budget (bounded), reporting no completion. */
static void spin_is_bounded(void **state)
{
    struct fx *f = *state;
    store_worker_set_spin(&f->wk, 20000); /* 20 ms */
    f->block = true;
    assert_int_equal(submit(f, 1, false), 0);
    wait_in_sync(f);
    int64_t t0 = now_us();
    assert_false(store_worker_spin(&f->wk));
    assert_true(now_us() - t0 >= 20000);
    assert_int_equal(atomic_load(&f->done_seq), 0);
    release(f);
    wait_done(f, 1);
}

/* Batches that took long (the average says the current one ends far
 * beyond the budget): no spin at all, even with a huge budget. */
static void spin_skipped_when_not_expected_soon(void **state)
{
    struct fx *f = *state;
    store_worker_set_spin(&f->wk, 10000000); /* 10 s: would be seen */
    atomic_store(&f->wk.ewma_us, 100000000); /* batches take 100 s */
    f->block = true;
    assert_int_equal(submit(f, 1, false), 0);
    wait_in_sync(f);
    int64_t t0 = now_us();
    assert_false(store_worker_spin(&f->wk));
    assert_true(now_us() - t0 < 5000000);
    release(f);
    wait_done(f, 1);
}

/* When the spin reports a completion, done_cb has already run: the
 * caller may act on the durable seq without sleeping. Repeated over many
 * batches with a generous budget, with the worker's idle spin on too. */
static void spin_true_means_done_ran(void **state)
{
    struct fx *f = *state;
    store_worker_set_spin(&f->wk, 200000);
    int seen_true = 0;
    for (uint64_t seq = 1; seq <= 200; seq++) {
        assert_int_equal(submit(f, seq, true), 0);
        store_worker_kick(&f->wk);
        while (atomic_load(&f->done_seq) < seq) {
            if (store_worker_spin(&f->wk)) {
                assert_true(atomic_load(&f->done_seq) >= seq);
                seen_true++;
            }
        }
    }
    struct store_worker_stats st;
    store_worker_get_stats(&f->wk, &st);
    assert_int_equal(st.requests, 200);
    print_message("spin reported the completion %d of 200 times\n",
                  seen_true);
}

/* The worker spinning for its next request leaves that spin at once
 * when stopped (a 10 s budget would otherwise hold store_worker_stop). */
static void stop_ends_idle_spin(void **state)
{
    struct fx *f = *state;
    store_worker_set_spin(&f->wk, 10000000);
    assert_int_equal(submit(f, 1, false), 0);
    wait_done(f, 1);
    /* The worker now spins for up to 10 s waiting for seq 2. */
    int64_t t0 = now_us();
    store_worker_stop(&f->wk);
    assert_true(now_us() - t0 < 5000000);
    /* teardown stops again: a stopped worker's stop is a no-op. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(quiet_submits_complete_after_kick,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(spin_disabled_returns_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(spin_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(spin_skipped_when_not_expected_soon,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(spin_true_means_done_ran, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stop_ends_idle_spin, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
