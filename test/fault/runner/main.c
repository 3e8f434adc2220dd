/* main.c -- build/test/fault/runner: options, entering the private network
 * and pid namespaces (re-exec under `unshare --net --pid --fork`, loopback
 * up, like test/integration/test_partition.c), the run itself (cluster,
 * workload, nemesis, heal, checks) and, when a check fails, the artifacts
 * (history, schedule, node logs and data) under <out>/<seed>/ with the
 * exact rerun command.
 *
 * How it fits: `make test` runs a short schedule (mk/fault.mk),
 * `make fault-long` several long ones (test/fault/long.sh). Prints one
 * "check NAME: PASS|FAIL" line per check and ends with "N passed, N
 * failed" (test/run.sh counts it). docs/testing.md "Fault injection".
 *
 * What it must not do: pass without running (not root, no unshare or
 * iptables: it says so and fails), or leave processes or rules behind (all
 * of them live in its namespaces, which die with it).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

static struct fr_run run;

int64_t fr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t fr_rand(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t fr_below(uint64_t *s, uint64_t n)
{
    return n ? fr_rand(s) % n : 0;
}

void fr_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void fr_log(struct fr_run *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    double t = (double)(fr_now_ns() - r->t0_ns) / 1e9;
    printf("[%8.3f] %s (monotonic %lld ms)\n", t, buf,
           (long long)tproc_now_ms());
    fflush(stdout);
    if (r->nemlog) {
        fprintf(r->nemlog, "%10.3f %s\n", t, buf);
        fflush(r->nemlog);
    }
}

void fr_check(struct fr_run *r, const char *name, bool ok, const char *fmt,
              ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    printf("check %s: %s (%s)\n", name, ok ? "PASS" : "FAIL", buf);
    fflush(stdout);
    if (ok) {
        r->checks_passed++;
    } else {
        r->checks_failed++;
        size_t l = strlen(r->failures);
        snprintf(r->failures + l, sizeof(r->failures) - l, "%s%s", l ? "," : "",
                 name);
    }
}

static void usage(void)
{
    fprintf(stderr,
"usage: runner [--seed N] [--nodes 3|5] [--duration S] [--workers N]\n"
"              [--keys N] [--rotate OPS] [--eph N] [--lockers N]\n"
"              [--faults LIST|all] [--fault-ms MIN-MAX] [--heal-ms MIN-MAX]\n"
"              [--think-ms MS] [--out DIR] [--keep]\n"
"faults: kill,kill-leader,pause,partition,power,wipe,clock (or all)\n"
"Runs as root inside its own network and pid namespaces (unshare).\n");
}

static int parse_range(const char *s, int *lo, int *hi)
{
    char *end;
    long a = strtol(s, &end, 10);
    if (*end != '-')
        return -1;
    long b = strtol(end + 1, &end, 10);
    if (*end || a < 100 || b < a || b > 600000)
        return -1;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

static long num(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        usage();
        exit(2);
    }
    return v;
}

static void parse_options(struct fr_options *o, int argc, char **argv)
{
    *o = (struct fr_options){.nodes = 3, .duration_s = 40, .workers = 8,
                             .keys = 4, .rotate_ops = 300, .eph = 4,
                             .lockers = 2, .fault_min_ms = 2000,
                             .fault_max_ms = 6000, .heal_min_ms = 2000,
                             .heal_max_ms = 4000};
    o->seed = (uint64_t)time(NULL) % 1000000;
    snprintf(o->faults_arg, sizeof(o->faults_arg), "kill-leader,partition");
    snprintf(o->out_dir, sizeof(o->out_dir), "build/fault");
    static const struct option lo[] = {
        {"seed", 1, 0, 's'},    {"nodes", 1, 0, 'n'},
        {"duration", 1, 0, 'd'}, {"workers", 1, 0, 'w'},
        {"keys", 1, 0, 'k'},    {"rotate", 1, 0, 'r'},
        {"eph", 1, 0, 'e'},     {"lockers", 1, 0, 'l'},
        {"faults", 1, 0, 'f'},  {"fault-ms", 1, 0, 'F'},
        {"heal-ms", 1, 0, 'H'}, {"out", 1, 0, 'o'},
        {"keep", 0, 0, 'K'},    {"think-ms", 1, 0, 't'},    {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 's': o->seed = (uint64_t)num(optarg, 0, 1L << 62); break;
        case 'n': o->nodes = (int)num(optarg, 3, FR_NODES_MAX); break;
        case 'd': o->duration_s = (int)num(optarg, 1, 86400); break;
        case 'w': o->workers = (int)num(optarg, 1, FR_WORKERS_MAX); break;
        case 'k': o->keys = (int)num(optarg, 1, 16); break;
        case 'r': o->rotate_ops = (int)num(optarg, 10, 100000); break;
        case 'e': o->eph = (int)num(optarg, 0, FR_EPH_MAX); break;
        case 'l': o->lockers = (int)num(optarg, 0, FR_LOCKERS_MAX); break;
        case 'f':
            snprintf(o->faults_arg, sizeof(o->faults_arg), "%s", optarg);
            break;
        case 'F':
            if (parse_range(optarg, &o->fault_min_ms, &o->fault_max_ms)) {
                usage();
                exit(2);
            }
            break;
        case 'H':
            if (parse_range(optarg, &o->heal_min_ms, &o->heal_max_ms)) {
                usage();
                exit(2);
            }
            break;
        case 'o':
            snprintf(o->out_dir, sizeof(o->out_dir), "%s", optarg);
            break;
        case 'K': o->keep = true; break;
        case 't': o->think_ms = (int)num(optarg, 0, 10000); break;
        default: usage(); exit(2);
        }
    }
    o->faults = fr_parse_faults(o->faults_arg);
    if (o->faults == 0 || optind != argc) {
        usage();
        exit(2);
    }
}

static void rerun_line(const struct fr_options *o, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "build/test/fault/runner --seed %llu --nodes %d --duration %d "
             "--workers %d --keys %d --rotate %d --eph %d --lockers %d "
             "--think-ms %d "
             "--faults %s --fault-ms %d-%d --heal-ms %d-%d",
             (unsigned long long)o->seed, o->nodes, o->duration_s, o->workers,
             o->keys, o->rotate_ops, o->eph, o->lockers, o->think_ms,
             o->faults_arg,
             o->fault_min_ms, o->fault_max_ms, o->heal_min_ms,
             o->heal_max_ms);
}

/* Re-executes this program under unshare (new network and pid
 * namespaces, loopback up). Returns only on failure. */
static void enter_namespaces(char **argv)
{
    setenv("COORD_FAULT_NETNS", "1", 1);
    char *args[128];
    int n = 0;
    args[n++] = "unshare";
    args[n++] = "--net";
    args[n++] = "--pid";
    args[n++] = "--fork";
    args[n++] = "--kill-child";
    args[n++] = "sh";
    args[n++] = "-c";
    args[n++] = "ip link set lo up && exec \"$0\" \"$@\"";
    for (int i = 0; argv[i] && n < 127; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    fflush(stdout);
    execvp("unshare", args);
    printf("runner: cannot exec unshare: %s\n", strerror(errno));
}

static int not_run(const char *why)
{
    printf("runner: %s: the fault suite did not run\n0 passed, 1 failed\n",
           why);
    return 1;
}

/* Waits until the workload completes more operations after the heal. */
static void check_recovery(struct fr_run *r)
{
    uint64_t before = atomic_load(&r->ok_total);
    int64_t t = tproc_now_ms(), deadline = t + 30000;
    while (atomic_load(&r->ok_total) < before + 50 &&
           tproc_now_ms() < deadline)
        fr_sleep_ms(50);
    uint64_t after = atomic_load(&r->ok_total);
    fr_check(r, "recovery", after >= before + 50,
             "%llu operations completed within %lld ms of the heal",
             (unsigned long long)(after - before),
             (long long)(tproc_now_ms() - t));
}

static void save_artifacts(struct fr_run *r, const char *report)
{
    char dir[400], path[500], cmd[1200], rerun[600];
    snprintf(dir, sizeof(dir), "%s/%llu", r->o.out_dir,
             (unsigned long long)r->o.seed);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) {
        printf("runner: cannot create %s\n", dir);
        return;
    }
    snprintf(path, sizeof(path), "%s/history.txt", dir);
    fr_write_history(r, path);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s/nemesis.log'; cp '%s' '%s/'",
             r->nemlog_path, dir, report, dir);
    if (system(cmd) != 0)
        printf("runner: copying the schedule failed\n");
    fr_save_logs(r, dir);
    snprintf(path, sizeof(path), "%s/locks.txt", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < r->o.lockers; i++)
        for (size_t k = 0; k < r->lk[i].holds.n; k++) {
            const struct fr_hold *h = &r->lk[i].holds.v[k];
            fprintf(f, "locker %d token %llu acq [%lld, %lld] released %lld "
                       "fenced %s version %lld\n", h->locker,
                    (unsigned long long)h->token, (long long)h->acq_invoke_ns,
                    (long long)h->acq_done_ns, (long long)h->rel_done_ns,
                    coord_errname(h->fenced_rc), (long long)h->fenced_version);
        }
    if (f)
        fclose(f);
    rerun_line(&r->o, rerun, sizeof(rerun));
    snprintf(path, sizeof(path), "%s/rerun.sh", dir);
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "#!/bin/sh\n# failed: %s\n%s\n", r->failures, rerun);
        fclose(f);
    }
    printf("artifacts: %s (history.txt, nemesis.log, node*.log, "
           "node*.data, locks.txt, lincheck.txt)\n", dir);
}

static void teardown(struct fr_run *r)
{
    for (int i = 0; i < r->o.eph; i++) {
        struct fr_eph *e = &r->eph[i];
        if (e->pid > 0 && !e->killed) {
            close(e->to_child); /* EOF: it closes its session and exits */
            int st;
            int64_t deadline = tproc_now_ms() + 5000;
            while (waitpid(e->pid, &st, WNOHANG) == 0) {
                if (tproc_now_ms() > deadline) {
                    kill(e->pid, SIGKILL);
                    waitpid(e->pid, &st, 0);
                    break;
                }
                fr_sleep_ms(20);
            }
        }
        if (e->from_child > 0)
            close(e->from_child);
    }
    fr_cluster_stop(r);
    for (int i = 0; i < r->cl.n; i++)
        tproc_cleanup(&r->cl.node[i].p);
}

static int run_all(struct fr_run *r, const char *self)
{
    char report[400];
    snprintf(report, sizeof(report), "%s/lincheck.txt", r->tmp_dir);
    r->t0_ns = fr_now_ns();
    if (fr_cluster_init(r) != 0) {
        fr_check(r, "cluster-start", false, "no leader within 30 s");
        save_artifacts(r, report);
        return -1;
    }
    if (fr_workload_setup(r) != 0 || fr_eph_spawn(r, self) != 0) {
        fr_check(r, "workload-setup", false, "could not set up clients");
        save_artifacts(r, report);
        return -1;
    }
    r->t0_ns = fr_now_ns();
    fr_log(r, "workload: %d register clients, %d lockers, %d ephemeral "
              "owners; nemesis for %d s", r->o.workers, r->o.lockers,
           r->o.eph, r->o.duration_s);
    fr_workload_start(r);
    fr_nemesis_run(r);
    fr_heal_all(r);
    fr_check(r, "leader-after-heal", fr_wait_leader(r, 30000) >= 0,
             "a leader within 30 s of the heal");
    check_recovery(r);
    fr_workload_stop(r);
    fr_log(r, "workload stopped");
    for (int i = 0; i < r->o.workers; i++)
        printf("  client %d: %llu ok, %llu indeterminate, %llu failed reads, "
               "%llu sessions expired\n", i + 1,
               (unsigned long long)r->w[i].ok, (unsigned long long)r->w[i].info,
               (unsigned long long)r->w[i].fail,
               (unsigned long long)r->w[i].expired);
    fr_checks(r, report);
    if (r->checks_failed || r->o.keep)
        save_artifacts(r, report);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--eph-child") == 0)
        return fr_eph_child_main(argv[2], argv[3]);
    struct fr_run *r = &run;
    parse_options(&r->o, argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (geteuid() != 0)
        return not_run("needs root (unshare --net --pid and iptables)");
    /* Inside, the runner is the pid namespace's init (sh execs it), so
     * pid 1 is the proof: iptables must never run in the host's netns. */
    if (getpid() != 1) {
        if (getenv("COORD_FAULT_NETNS"))
            return not_run("re-executed, but not in a new pid namespace");
        enter_namespaces(argv);
        return not_run("unshare failed");
    }
    if (fr_iptables_init() != 0)
        return not_run("iptables does not work in the namespace");
    char rerun[600];
    rerun_line(&r->o, rerun, sizeof(rerun));
    printf("fault runner: seed %llu\nrerun: %s\n",
           (unsigned long long)r->o.seed, rerun);
    snprintf(r->tmp_dir, sizeof(r->tmp_dir), "/tmp/coord-fault-XXXXXX");
    if (!mkdtemp(r->tmp_dir))
        return not_run("mkdtemp failed");
    snprintf(r->nemlog_path, sizeof(r->nemlog_path), "%s/nemesis.log",
             r->tmp_dir);
    r->nemlog = fopen(r->nemlog_path, "w");
    if (!r->nemlog)
        return not_run("cannot write the schedule log");
    char self[4096];
    if (!realpath(argv[0], self))
        return not_run("cannot resolve the runner's own path");
    run_all(r, self);
    teardown(r);
    fclose(r->nemlog);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->tmp_dir);
    if (system(cmd) != 0)
        printf("runner: could not remove %s\n", r->tmp_dir);
    if (r->checks_failed)
        printf("FAILED (%s), seed %llu. Rerun: %s\n", r->failures,
               (unsigned long long)r->o.seed, rerun);
    printf("%d passed, %d failed\n", r->checks_passed, r->checks_failed);
    return r->checks_failed ? 1 : 0;
}
