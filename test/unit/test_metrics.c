/* test_metrics.c -- coordd/metrics.c without a server: request counters
 * by opcode and code, histogram bucket edges, cumulation and sums, the
 * p99 summary, snapshot send tracking, gauges (and the sequence lock under
 * a concurrent writer), the text format as a strict parser reads it
 * (test/lib/promtext.c), and the HTTP server on an ephemeral port:
 * 200 with the 0.0.4 content type, 404, 405, and a clear error when the
 * address is taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/metrics.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/wire.h"
#include "test/lib/promtext.h"

static struct metrics *new_metrics(void)
{
    struct metrics *m = NULL;
    assert_int_equal(metrics_new(&m), 0);
    assert_non_null(m);
    return m;
}

/* Renders m and parses it strictly; fails the test on a format error. */
static void scrape(const struct metrics *m, struct prom_scrape *s)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(m, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    memset(s, 0, sizeof(*s));
    int rc = prom_parse(text, len, s);
    if (rc)
        fail_msg("format: %s", s->err);
    coord_free(text);
}

static double get(const struct prom_scrape *s, const char *name,
                  const char *labels)
{
    bool found = false;
    double v = prom_get(s, name, labels, &found);
    if (!found)
        fail_msg("missing series %s{%s}", name, labels);
    return v;
}

static void empty_registry_is_valid(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    struct prom_scrape s;
    scrape(m, &s);
    static const char *const fam[][2] = {
        {"coord_requests_total", "counter"},
        {"coord_request_duration_seconds", "histogram"},
        {"coord_fsync_duration_seconds", "histogram"},
        {"coord_raft_term", "gauge"},
        {"coord_raft_commit_index", "gauge"},
        {"coord_raft_applied_index", "gauge"},
        {"coord_raft_apply_lag_entries", "gauge"},
        {"coord_raft_is_leader", "gauge"},
        {"coord_raft_leader_changes_total", "counter"},
        {"coord_raft_pair_commits_total", "counter"},
        {"coord_raft_follower_lag_entries", "gauge"},
        {"coord_sessions", "gauge"},
        {"coord_sessions_expired_total", "counter"},
        {"coord_watches", "gauge"},
        {"coord_client_connections", "gauge"},
        {"coord_snapshot_bytes", "histogram"},
        {"coord_snapshot_duration_seconds", "histogram"},
        {"coord_digest_mismatches_total", "counter"},
        {"coord_net_bytes_total", "counter"},
    };
    for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
        const char *t = prom_type(&s, fam[i][0]);
        if (!t || strcmp(t, fam[i][1]) != 0)
            fail_msg("%s: type %s, want %s", fam[i][0], t ? t : "(none)",
                     fam[i][1]);
    }
    assert_true(get(&s, "coord_fsync_duration_seconds_count", "") == 0);
    assert_true(get(&s, "coord_request_duration_seconds_count",
                    "class=\"write\"") == 0);
    prom_free(&s);
    metrics_free(m);
}

static void requests_by_op_and_code(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    for (int i = 0; i < 3; i++)
        metrics_request(m, WIRE_OP_CREATE, 0);
    metrics_request(m, WIRE_OP_GET, COORD_ENONODE);
    metrics_request(m, WIRE_OP_GET, COORD_ENONODE);
    metrics_request(m, WIRE_OP_GET, 0);
    metrics_request(m, 250, 0);            /* no such opcode */
    metrics_request(m, WIRE_OP_SET, -1000); /* no such code */
    struct prom_scrape s;
    scrape(m, &s);
    assert_true(get(&s, "coord_requests_total",
                    "op=\"create\",code=\"OK\"") == 3);
    assert_true(get(&s, "coord_requests_total",
                    "op=\"get\",code=\"ENONODE\"") == 2);
    assert_true(get(&s, "coord_requests_total", "op=\"get\",code=\"OK\"") ==
                1);
    assert_true(get(&s, "coord_requests_total",
                    "op=\"unknown\",code=\"OK\"") == 1);
    assert_true(get(&s, "coord_requests_total",
                    "op=\"set\",code=\"other\"") == 1);
    assert_true(prom_sum(&s, "coord_requests_total", "") == 8);
    struct metrics_summary sum;
    metrics_summarize(m, &sum);
    assert_int_equal(sum.requests, 8);
    assert_int_equal(sum.writes, 4); /* 3 creates, 1 set */
    assert_int_equal(sum.reads, 3);
    assert_int_equal(sum.errors, 3);
    prom_free(&s);
    metrics_free(m);
}

/* Bounds are inclusive upper edges (le): 100 us is in le="0.0001". */
static void histogram_edges_and_sums(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    metrics_fsync(m, 100);
    metrics_fsync(m, 101);
    metrics_fsync(m, 0);
    metrics_fsync(m, 20000000); /* 20 s: past the last bound */
    struct prom_scrape s;
    scrape(m, &s);
    const char *n = "coord_fsync_duration_seconds_bucket";
    assert_true(get(&s, n, "le=\"0.0001\"") == 2);
    assert_true(get(&s, n, "le=\"0.00025\"") == 3);
    assert_true(get(&s, n, "le=\"10\"") == 3);
    assert_true(get(&s, n, "le=\"+Inf\"") == 4);
    assert_true(get(&s, "coord_fsync_duration_seconds_count", "") == 4);
    double want = (100 + 101 + 20000000) / 1e6;
    assert_true(fabs(get(&s, "coord_fsync_duration_seconds_sum", "") -
                     want) < 1e-6);
    prom_free(&s);
    metrics_free(m);
}

static void latency_classes(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    int64_t t0 = metrics_now_us();
    metrics_request_latency(m, WIRE_OP_GET, t0);
    metrics_request_latency(m, WIRE_OP_EXISTS, t0);
    metrics_request_latency(m, WIRE_OP_MULTI, t0 - 2000000); /* 2 s ago */
    metrics_request_latency(m, WIRE_OP_PING, t0); /* not timed */
    struct prom_scrape s;
    scrape(m, &s);
    const char *n = "coord_request_duration_seconds_count";
    assert_true(get(&s, n, "class=\"read\"") == 2);
    assert_true(get(&s, n, "class=\"write\"") == 1);
    const char *b = "coord_request_duration_seconds_bucket";
    assert_true(get(&s, b, "class=\"write\",le=\"1\"") == 0);
    assert_true(get(&s, b, "class=\"write\",le=\"2.5\"") == 1);
    assert_true(get(&s, "coord_request_duration_seconds_sum",
                    "class=\"write\"") >= 2.0);
    prom_free(&s);
    metrics_free(m);
}

static void p99_summary(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    struct metrics_summary sum;
    metrics_summarize(m, &sum);
    assert_int_equal(sum.fsync_p99_us, 0); /* no data */
    for (int i = 0; i < 100; i++)
        metrics_fsync(m, 90);
    metrics_summarize(m, &sum);
    assert_int_equal(sum.fsyncs, 100);
    assert_int_equal(sum.fsync_p99_us, 100);
    metrics_fsync(m, 4000);
    metrics_fsync(m, 4000);
    metrics_summarize(m, &sum); /* 102 samples: the 101st is slow */
    assert_int_equal(sum.fsync_p99_us, 5000);
    metrics_free(m);
}

static void snapshot_tracking(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    /* a chunk of a send never started here is not a send */
    assert_true(metrics_snapshot_chunk(m, 3, 10, 10, 30) < 0);
    assert_true(metrics_snapshot_chunk(m, 2, 0, 10, 30) < 0);
    assert_true(metrics_snapshot_chunk(m, 2, 10, 10, 30) < 0);
    assert_true(metrics_snapshot_chunk(m, 2, 20, 10, 30) >= 0);
    /* one chunk is the whole snapshot */
    assert_true(metrics_snapshot_chunk(m, 3, 0, 5, 5) >= 0);
    int64_t us = metrics_snapshot_done(m, METRICS_SNAP_TAKEN, 2048,
                                       metrics_now_us() - 1500);
    assert_true(us >= 1500);
    struct prom_scrape s;
    scrape(m, &s);
    assert_true(get(&s, "coord_snapshot_bytes_count", "kind=\"sent\"") ==
                2);
    assert_true(get(&s, "coord_snapshot_bytes_sum", "kind=\"sent\"") == 35);
    assert_true(get(&s, "coord_snapshot_bytes_bucket",
                    "kind=\"taken\",le=\"1024\"") == 0);
    assert_true(get(&s, "coord_snapshot_bytes_bucket",
                    "kind=\"taken\",le=\"4096\"") == 1);
    assert_true(get(&s, "coord_snapshot_duration_seconds_count",
                    "kind=\"installed\"") == 0);
    assert_true(get(&s, "coord_snapshot_duration_seconds_sum",
                    "kind=\"taken\"") >= 0.0015);
    prom_free(&s);
    metrics_free(m);
}

static void gauges_render(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    struct metrics_gauges g = {
        .node_id = 1, .term = 7, .leader_id = 1, .is_leader = true,
        .commit = 120, .applied = 117, .last_index = 125, .snap_index = 100,
        .sessions = 4, .watches = 9, .connections = 5,
        .bytes = {100, 200, 300, 400}, .n_peers = 2,
        .peer_id = {2, 3}, .peer_lag = {5, 0}, .pair_commits = 11};
    metrics_publish(m, &g);
    metrics_leader_change(m);
    metrics_session_expired(m);
    metrics_session_expired(m);
    struct prom_scrape s;
    scrape(m, &s);
    assert_true(get(&s, "coord_raft_term", "") == 7);
    assert_true(get(&s, "coord_raft_is_leader", "") == 1);
    assert_true(get(&s, "coord_raft_apply_lag_entries", "") == 3);
    assert_true(get(&s, "coord_raft_follower_lag_entries",
                    "peer=\"2\"") == 5);
    assert_true(get(&s, "coord_raft_follower_lag_entries",
                    "peer=\"3\"") == 0);
    assert_true(get(&s, "coord_sessions", "") == 4);
    assert_true(get(&s, "coord_client_connections", "") == 5);
    assert_true(get(&s, "coord_raft_leader_changes_total", "") == 1);
    assert_true(get(&s, "coord_raft_pair_commits_total", "") == 11);
    assert_true(get(&s, "coord_sessions_expired_total", "") == 2);
    assert_true(get(&s, "coord_net_bytes_total",
                    "kind=\"client\",dir=\"out\"") == 200);
    assert_true(get(&s, "coord_net_bytes_total",
                    "kind=\"peer\",dir=\"in\"") == 300);
    struct metrics_gauges back;
    metrics_read_gauges(m, &back);
    assert_int_equal(back.applied, 117);
    assert_int_equal(back.n_peers, 2);
    assert_int_equal(back.peer_id[1], 3);
    prom_free(&s);
    metrics_free(m);
}

/* ---- the sequence lock under a concurrent writer -------------------------- */

#define SEQ_ROUNDS 200000

struct seq_ctx {
    struct metrics *m;
    atomic_bool done;
};

static void *seq_writer(void *arg)
{
    struct seq_ctx *c = arg;
    for (uint64_t k = 1; k <= SEQ_ROUNDS; k++) {
        struct metrics_gauges g = {.term = k, .commit = k, .applied = k,
                                   .sessions = k, .n_peers = 1,
                                   .peer_id = {k}, .peer_lag = {k}};
        metrics_publish(c->m, &g);
    }
    atomic_store(&c->done, true);
    return NULL;
}

static void gauges_never_torn(void **state)
{
    (void)state;
    struct seq_ctx c = {.m = new_metrics()};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, seq_writer, &c), 0);
    uint64_t reads = 0, last = 0;
    while (!atomic_load(&c.done) || reads == 0) {
        struct metrics_gauges g;
        metrics_read_gauges(c.m, &g);
        if (g.term != g.commit || g.term != g.applied ||
            g.term != g.sessions ||
            (g.term && (g.n_peers != 1 || g.peer_lag[0] != g.term)))
            fail_msg("torn gauges: term %llu commit %llu applied %llu",
                     (unsigned long long)g.term,
                     (unsigned long long)g.commit,
                     (unsigned long long)g.applied);
        assert_true(g.term >= last); /* one writer: never backwards */
        last = g.term;
        reads++;
    }
    pthread_join(t, NULL);
    struct metrics_gauges g;
    metrics_read_gauges(c.m, &g);
    assert_int_equal(g.term, SEQ_ROUNDS);
    metrics_free(c.m);
}

/* ---- HTTP ----------------------------------------------------------------- */

static void http_serves_metrics(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    metrics_request(m, WIRE_OP_CREATE, 0);
    struct metrics_http *h = NULL;
    char err[256] = "";
    assert_int_equal(metrics_http_start(&h, m, "127.0.0.1", 0, err,
                                        sizeof(err)), 0);
    uint16_t port = metrics_http_port(h);
    assert_true(port > 0);
    int status = 0;
    char ct[128];
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(prom_fetch("127.0.0.1", port, "GET", "/metrics", 10000,
                                &status, ct, sizeof(ct), &body, &len), 0);
    assert_int_equal(status, 200);
    assert_non_null(strstr(ct, "text/plain"));
    assert_non_null(strstr(ct, "version=0.0.4"));
    struct prom_scrape s = {0};
    if (prom_parse(body, len, &s) != 0)
        fail_msg("format: %s", s.err);
    assert_true(get(&s, "coord_requests_total",
                    "op=\"create\",code=\"OK\"") == 1);
    prom_free(&s);
    free(body);
    assert_int_equal(prom_fetch("127.0.0.1", port, "GET", "/", 10000,
                                &status, NULL, 0, &body, &len), 0);
    assert_int_equal(status, 404);
    free(body);
    assert_int_equal(prom_fetch("127.0.0.1", port, "POST", "/metrics",
                                10000, &status, NULL, 0, &body, &len), 0);
    assert_int_equal(status, 405);
    free(body);
    /* the same address again: refused, with the address in the message */
    struct metrics_http *h2 = NULL;
    assert_int_equal(metrics_http_start(&h2, m, "127.0.0.1", port, err,
                                        sizeof(err)), COORD_EIO);
    assert_non_null(strstr(err, "metrics_listen 127.0.0.1:"));
    assert_non_null(strstr(err, "in use"));
    assert_int_equal(metrics_http_start(&h2, m, "no-such-host.invalid", 1,
                                        err, sizeof(err)), COORD_EIO);
    assert_non_null(strstr(err, "no-such-host.invalid"));
    metrics_http_stop(h);
    /* stopped: the port no longer answers */
    assert_int_equal(prom_fetch("127.0.0.1", port, "GET", "/metrics", 2000,
                                &status, NULL, 0, &body, &len), -1);
    metrics_free(m);
}

/* The test helper itself: a decrease and a malformed page are caught. */
static void checker_catches_errors(void **state)
{
    (void)state;
    struct metrics *m = new_metrics();
    struct prom_scrape a, b;
    scrape(m, &a);
    metrics_request(m, WIRE_OP_GET, 0);
    metrics_fsync(m, 10);
    scrape(m, &b);
    char err[256];
    assert_int_equal(prom_check_monotonic(&a, &b, err, sizeof(err)), 0);
    assert_int_equal(prom_check_monotonic(&b, &a, err, sizeof(err)), -1);
    prom_free(&a);
    prom_free(&b);
    static const char *const bad[] = {
        "x 1\n",                                        /* no HELP/TYPE */
        "# HELP x h\n# TYPE x counter\nx{a=\"1\" 2\n",   /* labels */
        "# HELP x h\n# TYPE x counter\nx one\n",        /* value */
        "# HELP x h\n# TYPE x histogram\nx_bucket{le=\"1\"} 2\n"
        "x_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n", /* not cumulative */
        "# HELP x h\n# TYPE x histogram\nx_bucket{le=\"+Inf\"} 2\n"
        "x_sum 1\nx_count 3\n",                          /* count != +Inf */
        "# HELP x h\n# TYPE x counter\nx 1",            /* no newline */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct prom_scrape s = {0};
        if (prom_parse(bad[i], strlen(bad[i]), &s) == 0)
            fail_msg("accepted bad page %zu", i);
        prom_free(&s);
    }
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_registry_is_valid),
        cmocka_unit_test(requests_by_op_and_code),
        cmocka_unit_test(histogram_edges_and_sums),
        cmocka_unit_test(latency_classes),
        cmocka_unit_test(p99_summary),
        cmocka_unit_test(snapshot_tracking),
        cmocka_unit_test(gauges_render),
        cmocka_unit_test(gauges_never_torn),
        cmocka_unit_test(http_serves_metrics),
        cmocka_unit_test(checker_catches_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
