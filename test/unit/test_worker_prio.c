/* test_worker_prio.c -- unit tests for the storage thread's priority
 * (store_worker_set_nice in coordd/store/worker.c, option storage_nice):
 * the nice value lands on the worker thread alone (read back with
 * getpriority on its tid and from /proc/self/task/<tid>/stat), 0 leaves it
 * alone, bad values are refused, a negative value without CAP_SYS_NICE is
 * reported as COORD_EAUTH and the worker keeps working (in a forked child
 * that drops its privileges), and coordd passes --storage-nice through to
 * its storage thread (a real process, its threads read from /proc;
 * skipped when no coordd is built). Must not sleep to synchronise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/store/store.h"
#include "test/lib/proc.h"

struct fx {
    struct store_mem_disk *disk;
    struct store s;
    struct store_worker wk;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t done_seq;
    int status;
};

static const struct store_options opts = {7, 1, false};

static void done_cb(void *data, int status, uint64_t seq)
{
    struct fx *f = data;
    pthread_mutex_lock(&f->mu);
    f->status = status;
    f->done_seq = seq;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int fx_open(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (store_mem_disk_new(&f->disk) || store_open_mem(&f->s, f->disk, &opts))
        return -1;
    return store_worker_start(&f->wk, &f->s, 64, 1 << 20, done_cb, f);
}

static void fx_close(struct fx *f)
{
    store_worker_stop(&f->wk);
    store_close(&f->s);
    store_mem_disk_free(f->disk);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || fx_open(f))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    free(*state);
    return 0;
}

/* Submits one entry under seq and waits (30 s deadline) until durable.
 * Returns 0 when it was made durable with status 0. */
static int persist_one(struct fx *f, uint64_t seq)
{
    uint8_t payload[16] = {1, 2, 3};
    struct store_entry e = {.index = seq, .term = 1, .data = payload,
                            .len = sizeof(payload)};
    struct store_write w = {.entries = &e, .n_entries = 1};
    if (store_worker_submit(&f->wk, seq, &w) != 0)
        return -1;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 30;
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    while (f->done_seq < seq && rc == 0)
        rc = pthread_cond_timedwait(&f->cv, &f->mu, &dl);
    int ok = f->done_seq >= seq && f->status == 0 ? 0 : -1;
    pthread_mutex_unlock(&f->mu);
    return ok;
}

static int prio_of(int tid)
{
    errno = 0;
    int p = getpriority(PRIO_PROCESS, (id_t)tid);
    assert_int_equal(errno, 0);
    return p;
}

/* Field 19 (nice) of /proc/self/task/<tid>/stat: what ps and top show. */
static int proc_nice(pid_t pid, int tid)
{
    char path[96], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, tid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 100;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces */
    if (!p)
        return 100;
    int field = 2, nice = 100;
    for (char *tok = strtok((char *)p + 1, " "); tok;
         tok = strtok(NULL, " ")) {
        if (++field == 19) {
            nice = (int)strtol(tok, NULL, 10);
            break;
        }
    }
    return nice;
}

static void tid_is_the_worker_thread(void **state)
{
    struct fx *f = *state;
    int self = (int)syscall(SYS_gettid);
    assert_true(f->wk.tid > 0);
    assert_int_not_equal(f->wk.tid, self);
    /* It is one of this process's threads, named for top -H. */
    assert_int_not_equal(proc_nice(getpid(), f->wk.tid), 100);
    char path[96], comm[32] = "";
    snprintf(path, sizeof(path), "/proc/self/task/%d/comm", f->wk.tid);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(comm, sizeof(comm), fp));
    fclose(fp);
    assert_string_equal(comm, "coordd-storage\n");
}

static void positive_nice_applies_to_the_worker_only(void **state)
{
    struct fx *f = *state;
    int self = (int)syscall(SYS_gettid);
    int before = prio_of(self);
    int want = before < 19 ? before + 3 : 19; /* raising needs no rights */
    if (want > 19)
        want = 19;
    assert_int_equal(store_worker_set_nice(&f->wk, want), 0);
    assert_int_equal(prio_of(f->wk.tid), want);
    assert_int_equal(proc_nice(getpid(), f->wk.tid), want);
    assert_int_equal(prio_of(self), before); /* the caller's untouched */
    /* 0 leaves it as it is. */
    assert_int_equal(store_worker_set_nice(&f->wk, 0), 0);
    assert_int_equal(prio_of(f->wk.tid), want);
    /* The niced worker still makes requests durable. */
    assert_int_equal(persist_one(f, 1), 0);
    assert_int_equal(persist_one(f, 2), 0);
}

static void out_of_range_is_refused(void **state)
{
    struct fx *f = *state;
    int before = prio_of(f->wk.tid);
    assert_int_equal(store_worker_set_nice(&f->wk, -21), COORD_EINVAL);
    assert_int_equal(store_worker_set_nice(&f->wk, 20), COORD_EINVAL);
    assert_non_null(strstr(f->wk.errmsg, "outside"));
    assert_int_equal(prio_of(f->wk.tid), before);
}

/* With privilege (root, CAP_SYS_NICE) a negative value is applied; without
 * it the call says COORD_EAUTH and nothing changes. Either way exact. */
static void negative_nice_applied_or_refused(void **state)
{
    struct fx *f = *state;
    int before = prio_of(f->wk.tid);
    int rc = store_worker_set_nice(&f->wk, -5);
    if (rc == 0) {
        assert_int_equal(prio_of(f->wk.tid), -5);
    } else {
        assert_int_equal(rc, COORD_EAUTH);
        assert_int_equal(prio_of(f->wk.tid), before);
    }
}

/* The child: no privilege to lower nice (uid nobody drops every
 * capability; RLIMIT_NICE 0 allows no lowering), then a fresh worker is
 * asked for -5: COORD_EAUTH, its nice unchanged, and it still persists.
 * Exit code: the number of the first failed check, 0 if all held. */
static int eperm_child(void)
{
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_NICE, &rl) != 0)
        return 1;
    if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0)
        return 2;
    struct fx f;
    if (fx_open(&f) != 0)
        return 3;
    errno = 0;
    int before = getpriority(PRIO_PROCESS, (id_t)f.wk.tid);
    if (errno)
        return 4;
    if (store_worker_set_nice(&f.wk, -5) != COORD_EAUTH)
        return 5;
    if (!strstr(f.wk.errmsg, "setpriority"))
        return 6;
    if (getpriority(PRIO_PROCESS, (id_t)f.wk.tid) != before)
        return 7;
    if (persist_one(&f, 1) != 0 || persist_one(&f, 2) != 0)
        return 8;
    fx_close(&f);
    return 0;
}

static void eperm_is_tolerated(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(eperm_child());
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* Counts the threads of pid whose nice is want. */
static int threads_with_nice(pid_t pid, int want)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int count = 0;
    for (struct dirent *de = readdir(d); de; de = readdir(d))
        if (de->d_name[0] != '.' &&
            proc_nice(pid, (int)strtol(de->d_name, NULL, 10)) == want)
            count++;
    closedir(d);
    return count;
}

/* coordd --storage-nice=7 gives exactly one thread (the storage worker)
 * nice 7, and the main (loop) thread keeps its own. */
static void coordd_passes_the_option_through(void **state)
{
    (void)state;
    /* The one case that needs a built coordd (tproc's COORDD_BIN, else
     * build/bin/coordd): `make test` builds it; `make asan` alone not. */
    const char *bin = getenv("COORDD_BIN");
    if (access(bin ? bin : "build/bin/coordd", X_OK) != 0)
        skip();
    struct tproc p;
    tproc_init(&p, "127.0.0.1");
    snprintf(p.extra, sizeof(p.extra), "--storage-nice=7");
    assert_int_equal(tproc_start(&p, 30000), 0);
    int n7 = threads_with_nice(p.pid, 7);
    int loop = proc_nice(p.pid, (int)p.pid);
    tproc_stop(&p, 10000);
    tproc_cleanup(&p);
    assert_int_equal(n7, 1);
    assert_int_not_equal(loop, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tid_is_the_worker_thread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            positive_nice_applies_to_the_worker_only, setup, teardown),
        cmocka_unit_test_setup_teardown(out_of_range_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(negative_nice_applied_or_refused,
                                        setup, teardown),
        cmocka_unit_test(eperm_is_tolerated),
        cmocka_unit_test(coordd_passes_the_option_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
