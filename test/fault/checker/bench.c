/* bench.c -- `make bench-checker`: times the linearizability checker on a
 * generated history (default 10,000 operations over 10 keys, 16 concurrent
 * clients, 3% indeterminate and 1% failed operations).
 *
 * How it fits: the figure quoted in docs/testing.md comes from here. It is
 * a benchmark, not a test: it prints the median wall time of several runs
 * and exits 1 only if the checker does not return "linearizable" (the
 * generated history is linearizable by construction).
 *
 * Options: -n ops -k keys -p processes -i info_permille -f fail_permille
 * -b blind_permille (OK results recorded without their version)
 * -P (plain WGL: no prunings, for comparison) -s seed -r runs
 * -o FILE (also write the history in the text format).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checker.h"
#include "gen.h"

#define BENCH_RUNS_MAX 101

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint32_t bench_arg(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v > UINT32_MAX) {
        fprintf(stderr, "bench: bad number '%s'\n", s);
        exit(2);
    }
    return (uint32_t)v;
}

int main(int argc, char **argv)
{
    struct lincheck_gen_params p = {.seed = 1, .ops = 10000, .keys = 10,
                                    .processes = 16, .info_permille = 30,
                                    .fail_permille = 10};
    struct lincheck_options opts = {0};
    uint32_t runs = 5;
    const char *out_path = NULL;
    int c;
    while ((c = getopt(argc, argv, "n:k:p:i:f:b:s:r:o:P")) != -1) {
        switch (c) {
        case 'n': p.ops = bench_arg(optarg); break;
        case 'k': p.keys = bench_arg(optarg); break;
        case 'p': p.processes = bench_arg(optarg); break;
        case 'i': p.info_permille = bench_arg(optarg); break;
        case 'f': p.fail_permille = bench_arg(optarg); break;
        case 'b': p.blind_permille = bench_arg(optarg); break;
        case 's': p.seed = bench_arg(optarg); break;
        case 'r': runs = bench_arg(optarg); break;
        case 'o': out_path = optarg; break;
        case 'P': opts.plain = true; break;
        default:
            fprintf(stderr, "usage: see the header of test/fault/checker/"
                            "bench.c\n");
            return 2;
        }
    }
    if (runs == 0 || runs > BENCH_RUNS_MAX)
        runs = 5;
    struct lincheck_gen g;
    if (lincheck_gen_run(&p, &g) < 0) {
        fprintf(stderr, "bench: cannot generate the history\n");
        return 2;
    }
    if (out_path != NULL) {
        FILE *f = fopen(out_path, "w");
        if (f == NULL || lincheck_gen_write(&g, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "bench: %s: %s\n", out_path, strerror(errno));
            return 2;
        }
    }
    struct lincheck_history *h = lincheck_history_new();
    if (h == NULL || lincheck_gen_add(&g, h) < 0) {
        fprintf(stderr, "bench: cannot build the history\n");
        return 2;
    }
    double t[BENCH_RUNS_MAX];
    struct lincheck_report rep = {0};
    for (uint32_t i = 0; i < runs; i++) {
        lincheck_report_free(&rep);
        double t0 = bench_now();
        if (lincheck_check(h, &opts, &rep) < 0) {
            fprintf(stderr, "bench: out of memory\n");
            return 2;
        }
        t[i] = bench_now() - t0;
    }
    qsort(t, runs, sizeof(t[0]), bench_cmp);
    uint64_t configs = 0, steps = 0;
    size_t info = 0;
    for (size_t i = 0; i < rep.n_keys; i++) {
        configs += rep.keys[i].configs;
        steps += rep.keys[i].steps;
        info += rep.keys[i].info_ops;
    }
    printf("bench-checker: %" PRIu32 " ops (%zu kept, %zu indeterminate), "
           "%" PRIu32 " keys, %" PRIu32 " processes, seed %" PRIu64 "\n",
           p.ops, lincheck_history_len(h), info, p.keys, p.processes, p.seed);
    printf("bench-checker: %ssearch, verdict %s, %" PRIu64
           " configurations, %" PRIu64 " steps\n", opts.plain ? "plain " : "",
           lincheck_verdict_name(rep.verdict), configs, steps);
    printf("bench-checker: median %.3f s over %" PRIu32 " runs (min %.3f, "
           "max %.3f)\n", t[runs / 2], runs, t[0], t[runs - 1]);
    int code = rep.verdict == LINCHECK_LINEARIZABLE ? 0 : 1;
    if (code != 0)
        lincheck_report_print(&rep, stdout);
    lincheck_report_free(&rep);
    lincheck_history_free(h);
    lincheck_gen_free(&g);
    return code;
}
