/* main.c -- coordsim: runs simulator seeds and reports.
 *
 *   coordsim [--seeds A-B | --seed N] [--steps S] [--jobs J] [--trace]
 *            [--stats] [--brief] [--no-leader-hs]
 *
 * Default: seeds 1-4000, 10000 steps each, 2 processes (fork) splitting the
 * range. Each seed is a fresh world (world.c); a core assertion or crash
 * inside a seed is caught (panic hook / signal + longjmp) and counted as a
 * failed seed. A failed seed is replayed with tracing on to print its last
 * 50 trace lines and a one-line replay command (--brief: only the FAIL
 * line). Every 50th seed is run twice
 * and the two histories compared (determinism self-test). Ends with
 * "N passed, N failed" (seeds); exits 1 if any failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "test/sim/sim.h"

struct totals {
    uint64_t pass, fail, steps;
    uint64_t elections, commits, crashes, installs, reads, confs, msgs;
    uint64_t partitions;
};

static sigjmp_buf g_escape;
static struct sim_world *g_world;
static const char *g_argv0 = "coordsim";
static bool g_brief; /* --brief: no traced replay of failures (mutate.sh) */

static void on_panic(const char *file, int line, const char *msg)
{
    if (g_world && !g_world->failed)
        sim_fail(g_world, "core panic at %s:%d: %s", file, line, msg);
    siglongjmp(g_escape, 1);
}

static void on_signal(int sig)
{
    if (g_world && !g_world->failed) {
        g_world->failed = true;
        snprintf(g_world->why, sizeof(g_world->why), "signal %d (%s)", sig,
                 strsignal(sig));
    }
    siglongjmp(g_escape, 1);
}

static void install_catchers(void)
{
    coord_panic_hook_set(on_panic);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
}

/* Runs one seed in *w; returns 0 or -1. The world is freed unless a panic
 * escaped from inside the core (then the core's state is suspect: leak). */
static int run_seed(struct sim_world *w, uint64_t seed, uint64_t steps,
                    int trace_mode)
{
    sim_world_init(w, seed, steps, trace_mode);
    g_world = w;
    if (sigsetjmp(g_escape, 1) != 0) {
        g_world = NULL;
        return -1;
    }
    int rc = sim_world_run(w);
    g_world = NULL;
    sim_world_free(w);
    return rc;
}

static void report_failure(struct sim_world *w, uint64_t seed,
                           uint64_t steps)
{
    char why[sizeof(w->why)];
    memcpy(why, w->why, sizeof(why));
    uint64_t at_step = w->step;
    run_seed(w, seed, steps, 1); /* same history, with the trace ring */
    printf("FAIL seed %" PRIu64 " at step %" PRIu64 ": %s\n", seed, at_step,
           why);
    if (strcmp(why, w->why) != 0)
        printf("  (the traced replay failed differently: %s)\n", w->why);
    printf("  replay: %s --seed %" PRIu64 " --steps %" PRIu64 " --trace\n",
           g_argv0, seed, steps);
    uint32_t n = w->ring_n < 50 ? w->ring_n : 50;
    printf("  last %u trace lines:\n", n);
    for (uint32_t i = w->ring_n - n; i < w->ring_n; i++)
        printf("    %s\n", w->ring[i % SIM_TRACE_RING]);
    fflush(stdout);
}

static void add_stats(struct totals *t, const struct sim_world *w)
{
    t->steps += w->step;
    t->elections += w->n_elections;
    t->commits += w->n_commits;
    t->crashes += w->n_crashes;
    t->installs += w->n_snap_installs;
    t->reads += w->n_reads_ok;
    t->confs += w->n_conf;
    t->msgs += w->n_msgs;
    t->partitions += w->n_partitions;
}

static void run_range(uint64_t a, uint64_t b, uint64_t stride,
                      uint64_t steps, int trace_mode, struct totals *t)
{
    struct sim_world *w = coord_malloc(sizeof(*w));
    coord_assert(w != NULL);
    for (uint64_t seed = a; seed <= b; seed += stride) {
        int rc = run_seed(w, seed, steps, trace_mode);
        if (rc == 0 && seed % 50 == 0) {
            uint64_t h = w->trace_hash, s = w->step;
            if (run_seed(w, seed, steps, 0) != 0 || w->trace_hash != h ||
                w->step != s) {
                printf("FAIL seed %" PRIu64 ": nondeterministic: two runs "
                       "of the seed differ\n", seed);
                t->fail++;
                continue;
            }
        }
        if (rc == 0) {
            t->pass++;
            add_stats(t, w);
        } else {
            t->fail++;
            if (trace_mode >= 2 || g_brief)
                printf("FAIL seed %" PRIu64 " at step %" PRIu64 ": %s\n",
                       seed, w->step, w->why);
            else
                report_failure(w, seed, steps);
        }
    }
    coord_free(w);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: coordsim [--seeds A-B | --seed N] [--steps S]"
                    " [--jobs J] [--trace] [--stats] [--brief]"
                    " [--no-leader-hs]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t a = 1, b = 4000, steps = 10000, jobs = 2;
    int trace_mode = 0;
    bool stats = false;
    g_argv0 = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--seed") && v) {
            if (parse_u64(v, &a))
                usage();
            b = a;
            jobs = 1;
            i++;
        } else if (!strcmp(o, "--seeds") && v) {
            char buf[64];
            snprintf(buf, sizeof(buf), "%s", v);
            char *dash = strchr(buf, '-');
            if (!dash)
                usage();
            *dash = 0;
            if (parse_u64(buf, &a) || parse_u64(dash + 1, &b) || b < a)
                usage();
            i++;
        } else if (!strcmp(o, "--steps") && v) {
            if (parse_u64(v, &steps))
                usage();
            i++;
        } else if (!strcmp(o, "--jobs") && v) {
            if (parse_u64(v, &jobs) || jobs < 1 || jobs > 64)
                usage();
            i++;
        } else if (!strcmp(o, "--trace")) {
            trace_mode = 2;
        } else if (!strcmp(o, "--no-leader-hs")) {
            sim_no_leader_hs = true; /* to look past that one check */
        } else if (!strcmp(o, "--brief")) {
            g_brief = true;
        } else if (!strcmp(o, "--stats")) {
            stats = true;
        } else {
            usage();
        }
    }
    install_catchers();
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct totals t = {0};
    if (jobs == 1 || trace_mode) {
        run_range(a, b, 1, steps, trace_mode, &t);
    } else {
        int fds[64][2];
        pid_t pids[64];
        for (uint64_t j = 0; j < jobs; j++) {
            if (pipe(fds[j]) != 0)
                return 2;
            pids[j] = fork();
            if (pids[j] < 0)
                return 2;
            if (pids[j] == 0) {
                close(fds[j][0]);
                struct totals ct = {0};
                if (a + j <= b)
                    run_range(a + j, b, jobs, steps, 0, &ct);
                fflush(stdout);
                ssize_t wr = write(fds[j][1], &ct, sizeof(ct));
                _exit(wr == (ssize_t)sizeof(ct) ? 0 : 3);
            }
            close(fds[j][1]);
        }
        for (uint64_t j = 0; j < jobs; j++) {
            struct totals ct;
            ssize_t rd = read(fds[j][0], &ct, sizeof(ct));
            int status;
            waitpid(pids[j], &status, 0);
            if (rd != (ssize_t)sizeof(ct)) {
                printf("FAIL worker %" PRIu64 " died (status %d)\n", j,
                       status);
                t.fail++;
                continue;
            }
            t.pass += ct.pass;
            t.fail += ct.fail;
            t.steps += ct.steps;
            t.elections += ct.elections;
            t.commits += ct.commits;
            t.crashes += ct.crashes;
            t.installs += ct.installs;
            t.reads += ct.reads;
            t.confs += ct.confs;
            t.msgs += ct.msgs;
            t.partitions += ct.partitions;
        }
    }
    if (stats || t.pass + t.fail > 1)
        printf("passing seeds: %" PRIu64 " steps, %" PRIu64 " leaders elected,"
               " %" PRIu64 " entries committed, %" PRIu64 " reads served, %"
               PRIu64 " crashes, %" PRIu64 " partitions, %" PRIu64
               " snapshots installed, %" PRIu64 " conf changes, %" PRIu64
               " messages\n", t.steps, t.elections, t.commits, t.reads,
               t.crashes, t.partitions, t.installs, t.confs, t.msgs);
    printf("%" PRIu64 " passed, %" PRIu64 " failed\n", t.pass, t.fail);
    return t.fail ? 1 : 0;
}
