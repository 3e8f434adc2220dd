/* test_checker.c -- unit tests for the linearizability checker
 * (test/fault/checker/checker.c) and its history generator (gen.c).
 *
 * Hand-written histories with known verdicts (the tricky cases of
 * indeterminate operations, stale reads, reads from the future, concurrent
 * writes, CAS outcomes, per-key partitioning), the text parser's errors,
 * the "unknown" verdict of an exhausted budget, and generated histories:
 * a simulated correct register must pass, and a copy with one read mutated
 * must fail. Linked with the checker objects by mk/checker.mk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test/fault/checker/checker.h"
#include "test/fault/checker/gen.h"

/* Parses text (which must be valid) and checks it; returns the verdict and,
 * if rep != NULL, leaves the report there for inspection. */
static enum lincheck_verdict check_text_opts(const char *text,
                                             const struct lincheck_options *o,
                                             struct lincheck_report *rep)
{
    struct lincheck_history *h = lincheck_history_new();
    assert_non_null(h);
    char err[256] = "";
    int rc = lincheck_history_parse_string(h, text, err, sizeof(err));
    if (rc != 0)
        fail_msg("parse failed: %s", err);
    struct lincheck_report local;
    struct lincheck_report *r = rep ? rep : &local;
    assert_int_equal(lincheck_check(h, o, r), 0);
    enum lincheck_verdict v = r->verdict;
    if (rep == NULL)
        lincheck_report_free(&local);
    lincheck_history_free(h);
    return v;
}

static enum lincheck_verdict check_text(const char *text)
{
    return check_text_opts(text, NULL, NULL);
}

/* Parses text that must be rejected; returns the error message. */
static void expect_parse_error(const char *text, const char *needle)
{
    struct lincheck_history *h = lincheck_history_new();
    assert_non_null(h);
    char err[256] = "";
    assert_int_equal(lincheck_history_parse_string(h, text, err, sizeof(err)),
                     -EINVAL);
    if (strstr(err, needle) == NULL)
        fail_msg("error '%s' does not mention '%s'", err, needle);
    lincheck_history_free(h);
}

static void sequential_register(void **state)
{
    (void)state;
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke read k\n"
                                "10 1 ok a 0\n"
                                "20 1 invoke write k b\n"
                                "30 1 ok 1\n"
                                "40 2 invoke read k\n"
                                "50 2 ok b 1\n"),
                     LINCHECK_LINEARIZABLE);
    /* The same, but the last read sees the old value: it completed after
     * the write finished, so it is stale. */
    assert_int_equal(check_text("init k a 0\n"
                                "20 1 invoke write k b\n"
                                "30 1 ok 1\n"
                                "40 2 invoke read k\n"
                                "50 2 ok a 0\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* A write's reported version must follow coord's rule (+1). */
    assert_int_equal(check_text("init k a 4\n"
                                "0 1 invoke write k b\n"
                                "10 1 ok 6\n"),
                     LINCHECK_NOT_LINEARIZABLE);
}

static void indeterminate_write_read_later(void **state)
{
    (void)state;
    /* Knossos's classic: a timed-out write whose value is later read. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k b\n"
                                "5 1 info timeout\n"
                                "100 2 invoke read k\n"
                                "110 2 ok b 1\n"),
                     LINCHECK_LINEARIZABLE);
    /* ...or never read: it may never have happened. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k b\n"
                                "5 1 info timeout\n"
                                "100 2 invoke read k\n"
                                "110 2 ok a 0\n"),
                     LINCHECK_LINEARIZABLE);
    /* ...or applied late: old value first, then the new one. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k b\n"
                                "100 2 invoke read k\n"
                                "110 2 ok a 0\n"
                                "200 2 invoke read k\n"
                                "210 2 ok b 1\n"),
                     LINCHECK_LINEARIZABLE);
    /* But once seen, it cannot be undone. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k b\n"
                                "100 2 invoke read k\n"
                                "110 2 ok b 1\n"
                                "200 2 invoke read k\n"
                                "210 2 ok a 0\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* A definitely failed write never happened. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k b\n"
                                "5 1 fail nonode\n"
                                "100 2 invoke read k\n"
                                "110 2 ok b 1\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* A read overlapping an indeterminate write may see either value. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k b\n"
                                "1 2 invoke read k\n"
                                "2 2 ok b 1\n"
                                "3 3 invoke read k\n"
                                "4 3 ok b *\n"),
                     LINCHECK_LINEARIZABLE);
}

static void stale_read_after_newer_read(void **state)
{
    (void)state;
    /* The write overlaps both reads, but the first read saw the new value
     * and completed before the second began: the second is stale. */
    const char *with_versions = "init k a 0\n"
                                "0 1 invoke write k b\n"
                                "10 2 invoke read k\n"
                                "50 2 ok b 1\n"
                                "60 3 invoke read k\n"
                                "90 3 ok a 0\n"
                                "100 1 ok 1\n";
    const char *without_versions = "init k a 0\n"
                                   "0 1 invoke write k b\n"
                                   "10 2 invoke read k\n"
                                   "50 2 ok b *\n"
                                   "60 3 invoke read k\n"
                                   "90 3 ok a *\n"
                                   "100 1 ok\n";
    struct lincheck_report rep;
    assert_int_equal(check_text_opts(with_versions, NULL, &rep),
                     LINCHECK_NOT_LINEARIZABLE);
    assert_int_equal(rep.n_keys, 1);
    assert_non_null(rep.keys[0].explain);
    assert_non_null(strstr(rep.keys[0].explain, "cannot linearize"));
    /* With versions, the explanation names the stale read (invoked on
     * line 5) as what blocks the write. */
    assert_non_null(strstr(rep.keys[0].explain, "blocked"));
    assert_non_null(strstr(rep.keys[0].explain, "a@0 [60, 90] (line 5)"));
    lincheck_report_free(&rep);
    assert_int_equal(check_text_opts(without_versions, NULL, &rep),
                     LINCHECK_NOT_LINEARIZABLE);
    /* Without versions the bound is silent: the stuck op is the stale
     * read (invoked on line 5), which no candidate state (b@1) accepts. */
    assert_non_null(strstr(rep.keys[0].explain, "(line 5)"));
    assert_non_null(strstr(rep.keys[0].explain, "b@1"));
    lincheck_report_free(&rep);
    /* Swap the reads' times: old value first is fine. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k b\n"
                                "10 2 invoke read k\n"
                                "50 2 ok a 0\n"
                                "60 3 invoke read k\n"
                                "90 3 ok b 1\n"
                                "100 1 ok 1\n"),
                     LINCHECK_LINEARIZABLE);
}

static void read_from_the_future(void **state)
{
    (void)state;
    /* The read completes before the write of its value is invoked. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 2 invoke read k\n"
                                "10 2 ok b 1\n"
                                "20 1 invoke write k b\n"
                                "30 1 ok 1\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* A value nobody wrote. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 2 invoke read k\n"
                                "10 2 ok zzz *\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* Equal timestamps count as concurrent: completion at 20 and
     * invocation at 20 may be ordered either way. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 2 invoke read k\n"
                                "20 2 ok b 1\n"
                                "20 1 invoke write k b\n"
                                "30 1 ok 1\n"),
                     LINCHECK_LINEARIZABLE);
}

static void concurrent_writes_either_order(void **state)
{
    (void)state;
    const char *fmt = "init k a 0\n"
                      "0 1 invoke write k b\n"
                      "0 2 invoke write k c\n"
                      "100 1 ok %s\n"
                      "100 2 ok %s\n"
                      "110 3 invoke read k\n"
                      "120 3 ok %s\n";
    char text[512];
    /* b then c, c then b, versions unknown: all fine. */
    snprintf(text, sizeof(text), fmt, "1", "2", "c 2");
    assert_int_equal(check_text(text), LINCHECK_LINEARIZABLE);
    snprintf(text, sizeof(text), fmt, "2", "1", "b 2");
    assert_int_equal(check_text(text), LINCHECK_LINEARIZABLE);
    snprintf(text, sizeof(text), fmt, "*", "*", "b *");
    assert_int_equal(check_text(text), LINCHECK_LINEARIZABLE);
    snprintf(text, sizeof(text), fmt, "*", "*", "c *");
    assert_int_equal(check_text(text), LINCHECK_LINEARIZABLE);
    /* The versions say b went first, so c is the final value. */
    snprintf(text, sizeof(text), fmt, "1", "2", "b 2");
    assert_int_equal(check_text(text), LINCHECK_NOT_LINEARIZABLE);
    /* Both cannot have made version 1. */
    snprintf(text, sizeof(text), fmt, "1", "1", "b *");
    assert_int_equal(check_text(text), LINCHECK_NOT_LINEARIZABLE);
}

static void cas_outcomes(void **state)
{
    (void)state;
    /* Success, then a stale CAS fails with badversion: consistent. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke cas k 0 b\n"
                                "10 1 ok 1\n"
                                "20 2 invoke cas k 0 c\n"
                                "30 2 ok badversion\n"
                                "40 2 invoke cas k 1 d\n"
                                "50 2 ok 2\n"
                                "60 3 invoke read k\n"
                                "70 3 ok d 2\n"),
                     LINCHECK_LINEARIZABLE);
    /* A second success on the same expected version is impossible. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke cas k 0 b\n"
                                "10 1 ok\n"
                                "20 2 invoke cas k 0 c\n"
                                "30 2 ok\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* badversion when the version matched is impossible. */
    assert_int_equal(check_text("init k a 3\n"
                                "0 1 invoke cas k 3 b\n"
                                "10 1 ok badversion\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* Concurrent CASes on the same version: exactly one may win. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke cas k 0 b\n"
                                "0 2 invoke cas k 0 c\n"
                                "10 1 ok badversion\n"
                                "10 2 ok 1\n"
                                "20 3 invoke read k\n"
                                "30 3 ok c 1\n"),
                     LINCHECK_LINEARIZABLE);
    /* cas reporting a version other than expected + 1. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke cas k 0 b\n"
                                "10 1 ok 2\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* A CAS chain with an indeterminate link: the chain continues from it
     * only if it happened (here: it did, version 2 proves it). */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke cas k 0 b\n"
                                "10 1 ok 1\n"
                                "20 2 invoke cas k 1 c\n"
                                "30 2 info timeout\n"
                                "40 3 invoke cas k 2 d\n"
                                "50 3 ok 3\n"
                                "60 3 invoke read k\n"
                                "70 3 ok d 3\n"),
                     LINCHECK_LINEARIZABLE);
    /* An indeterminate CAS that cannot have applied (wrong version) does
     * not explain a read of its value. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 2 invoke cas k 5 c\n"
                                "30 2 info timeout\n"
                                "60 3 invoke read k\n"
                                "70 3 ok c *\n"),
                     LINCHECK_NOT_LINEARIZABLE);
}

static void create_and_delete(void **state)
{
    (void)state;
    assert_int_equal(check_text("0 1 invoke read k\n"
                                "10 1 ok notfound\n"
                                "20 1 invoke write k x\n"
                                "30 1 ok nonode\n"
                                "40 1 invoke create k a\n"
                                "50 1 ok 0\n"
                                "60 2 invoke create k b\n"
                                "70 2 ok exists\n"
                                "80 2 invoke delete k 1\n"
                                "90 2 ok badversion\n"
                                "100 2 invoke delete k\n"
                                "110 2 ok\n"
                                "120 3 invoke read k\n"
                                "130 3 ok notfound\n"
                                "140 3 invoke create k c\n"
                                "150 3 ok\n"
                                "160 3 invoke read k\n"
                                "170 3 ok c 0\n"),
                     LINCHECK_LINEARIZABLE);
    /* A key read as absent after a completed create. */
    assert_int_equal(check_text("0 1 invoke create k a\n"
                                "10 1 ok 0\n"
                                "20 2 invoke read k\n"
                                "30 2 ok notfound\n"),
                     LINCHECK_NOT_LINEARIZABLE);
}

/* Forty concurrent indeterminate writes, then reads that pin the count. */
static void many_indeterminate_ops(void **state)
{
    (void)state;
    char text[8192] = "init k a 0\n";
    size_t used = strlen(text);
    for (int i = 0; i < 40; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used,
                                 "%d %d invoke write k w%d\n", i, i, i);
    const char *tail = "1000 100 invoke read k\n"
                       "1010 100 ok w17 3\n"
                       "1020 100 invoke read k\n"
                       "1030 100 ok w4 5\n";
    snprintf(text + used, sizeof(text) - used, "%s", tail);
    assert_int_equal(check_text(text), LINCHECK_LINEARIZABLE);
    /* w17 at version 0 would mean nothing happened before it: but then the
     * read would see version 1. */
    snprintf(text + used, sizeof(text) - used,
             "1000 100 invoke read k\n1010 100 ok w17 0\n");
    assert_int_equal(check_text(text), LINCHECK_NOT_LINEARIZABLE);
    /* Versions go forward only. */
    snprintf(text + used, sizeof(text) - used,
             "1000 100 invoke read k\n1010 100 ok w17 7\n"
             "1020 100 invoke read k\n1030 100 ok w4 5\n");
    assert_int_equal(check_text(text), LINCHECK_NOT_LINEARIZABLE);
    /* Each indeterminate write happens at most once. */
    snprintf(text + used, sizeof(text) - used,
             "1000 100 invoke read k\n1010 100 ok w17 3\n"
             "1020 100 invoke read k\n1030 100 ok w17 5\n");
    assert_int_equal(check_text(text), LINCHECK_NOT_LINEARIZABLE);
    /* Unread indeterminate writes are interchangeable, but several of them
     * may have happened: a later set reporting version 4 needs three. */
    snprintf(text + used, sizeof(text) - used,
             "1000 100 invoke write k z\n1010 100 ok 4\n"
             "1020 100 invoke read k\n1030 100 ok z 4\n");
    assert_int_equal(check_text(text), LINCHECK_LINEARIZABLE);
    /* ...and only those invoked in time: one was invoked before the set
     * completed, so the set cannot report version 2. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k w1\n"
                                "100 2 invoke write k x\n"
                                "110 2 ok 2\n"
                                "200 3 invoke write k w3\n"),
                     LINCHECK_LINEARIZABLE);
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k w1\n"
                                "100 2 invoke write k x\n"
                                "110 2 ok 3\n"
                                "200 3 invoke write k w3\n"),
                     LINCHECK_NOT_LINEARIZABLE);
    /* Both unread writes happened, the first before x, the second (invoked
     * later) before y. */
    assert_int_equal(check_text("init k a 0\n"
                                "0 1 invoke write k w1\n"
                                "50 2 invoke write k x\n"
                                "60 2 ok 2\n"
                                "100 3 invoke write k w2\n"
                                "200 2 invoke write k y\n"
                                "210 2 ok 4\n"),
                     LINCHECK_LINEARIZABLE);
}

/* Without versions, many indeterminate writes whose values are all read
 * (by overlapping reads, in any order) make the search space exponential;
 * a last read of a value nobody wrote makes the history non-linearizable,
 * but proving it would take 2^40 configurations. A small budget must give
 * "unknown", never a verdict. */
static void budget_gives_unknown(void **state)
{
    (void)state;
    char text[16384] = "init k a 0\n";
    size_t used = strlen(text);
    for (int i = 0; i < 40; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used,
                                 "%d %d invoke write k w%d\n", i, i, i);
    for (int i = 0; i < 40; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used,
                                 "1000 %d invoke read k\n", 100 + i);
    for (int i = 0; i < 40; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used,
                                 "2000 %d ok w%d *\n", 100 + i, i);
    size_t prefix = used;
    snprintf(text + used, sizeof(text) - used,
             "3000 200 invoke read k\n3010 200 ok nobody *\n");
    struct lincheck_options o = {.memo_bytes_max = 1 << 20};
    struct lincheck_report rep;
    assert_int_equal(check_text_opts(text, &o, &rep), LINCHECK_UNKNOWN);
    assert_non_null(strstr(rep.keys[0].explain, "budget"));
    lincheck_report_free(&rep);
    /* A linearizable ending is found at once (greedy first path). */
    snprintf(text + prefix, sizeof(text) - prefix,
             "3000 200 invoke read k\n3010 200 ok w39 *\n");
    assert_int_equal(check_text_opts(text, &o, NULL), LINCHECK_LINEARIZABLE);
    /* With few indeterminate ops the same budget gives a real verdict. */
    snprintf(text, sizeof(text),
             "init k a 0\n0 1 invoke write k w1\n1 2 invoke write k w2\n"
             "1000 100 invoke read k\n1010 100 ok nobody *\n");
    assert_int_equal(check_text_opts(text, &o, NULL),
                     LINCHECK_NOT_LINEARIZABLE);
}

static void partition_by_key(void **state)
{
    (void)state;
    char text[16384] = "";
    size_t used = 0;
    int64_t t = 0;
    for (int k = 0; k < 10; k++) {
        used += (size_t)snprintf(text + used, sizeof(text) - used,
                                 "init key%d a 0\n", k);
        for (int i = 1; i <= 5; i++) {
            /* Key 7's third read sees the value from before the write
             * that completed just before it. */
            int stale = k == 7 && i == 3;
            used += (size_t)snprintf(
                text + used, sizeof(text) - used,
                "%lld 1 invoke write key%d v%d\n%lld 1 ok %d\n"
                "%lld 2 invoke read key%d\n%lld 2 ok v%d %d\n",
                (long long)t, k, i, (long long)t + 5, i, (long long)t + 6, k,
                (long long)t + 9, stale ? i - 1 : i, stale ? i - 1 : i);
            t += 10;
        }
    }
    struct lincheck_report rep;
    assert_int_equal(check_text_opts(text, NULL, &rep),
                     LINCHECK_NOT_LINEARIZABLE);
    assert_int_equal(rep.n_keys, 10);
    for (size_t i = 0; i < rep.n_keys; i++) {
        bool bad = strcmp(rep.keys[i].key, "key7") == 0;
        assert_int_equal(rep.keys[i].verdict,
                         bad ? LINCHECK_NOT_LINEARIZABLE
                             : LINCHECK_LINEARIZABLE);
        assert_int_equal(rep.keys[i].ops, 10);
        assert_true(bad == (rep.keys[i].explain != NULL));
    }
    lincheck_report_free(&rep);
}

static void parser_errors(void **state)
{
    (void)state;
    expect_parse_error("0 1 invoke frob k\n", "line 1: unknown operation");
    expect_parse_error("0 1 invoke read k\n5 1 ok a\n", "line 2: read ok");
    expect_parse_error("# c\n\n0 1 ok 3\n", "line 3: process 1 completes");
    expect_parse_error("0 1 invoke read k\n1 1 invoke read k\n",
                       "line 2: process 1 invoked while");
    expect_parse_error("10 1 invoke write k a\n5 1 ok 1\n",
                       "line 2: completion time before");
    expect_parse_error("x 1 invoke read k\n", "line 1: bad time");
    expect_parse_error("0 1 invoke write k\n", "line 1: wrong number");
    expect_parse_error("0 1 invoke cas k v a\n", "bad expected version");
    expect_parse_error("0 1 invoke write k a\n1 1 ok -3\n", "bad result");
    expect_parse_error("0 1 invoke create k a\n1 1 ok 4\n", "version 0");
    expect_parse_error("0 1 invoke write k a\n1 1 ok exists\n",
                       "result not possible");
    expect_parse_error("0 1 frob\n", "unknown event");
    expect_parse_error("init k a 0\ninit k b 0\n", "line 2: bad or repeated");
    /* Pending invocations at the end are indeterminate, and comments and
     * blank lines are fine. */
    struct lincheck_history *h = lincheck_history_new();
    char err[128];
    assert_int_equal(lincheck_history_parse_string(
                         h, "# x\n\n0 1 invoke write k a # trailing\n"
                            "0 2 invoke read k\n1 2 info\n",
                         err, sizeof(err)),
                     0);
    assert_int_equal(lincheck_history_len(h), 1); /* info read dropped */
    lincheck_history_free(h);
}

static void api_validation(void **state)
{
    (void)state;
    struct lincheck_history *h = lincheck_history_new();
    char err[128] = "";
    struct lincheck_op op = {.process = 1, .f = LINCHECK_WRITE,
                             .status = LINCHECK_OK, .key = "k",
                             .value = "has space", .invoke_ns = 5,
                             .complete_ns = 6,
                             .version = LINCHECK_VERSION_UNKNOWN};
    assert_int_equal(lincheck_history_add(h, &op, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "value"));
    op.value = "v";
    op.complete_ns = 4;
    assert_int_equal(lincheck_history_add(h, &op, err, sizeof(err)),
                     -EINVAL);
    op.complete_ns = 6;
    op.result = LINCHECK_R_EXISTS;
    assert_int_equal(lincheck_history_add(h, &op, err, sizeof(err)),
                     -EINVAL);
    op.result = LINCHECK_R_DONE;
    op.f = LINCHECK_CREATE;
    op.version = 3;
    assert_int_equal(lincheck_history_add(h, &op, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "version 0"));
    op.f = LINCHECK_WRITE;
    op.version = LINCHECK_VERSION_UNKNOWN;
    assert_int_equal(lincheck_history_add(h, &op, err, sizeof(err)), 0);
    assert_int_equal(lincheck_history_init_key(h, "k", "v", -2), -EINVAL);
    assert_int_equal(lincheck_history_len(h), 1);
    struct lincheck_report rep;
    assert_int_equal(lincheck_check(h, NULL, &rep), 0);
    /* The key is absent by default: a set on it cannot succeed. */
    assert_int_equal(rep.verdict, LINCHECK_NOT_LINEARIZABLE);
    lincheck_report_free(&rep);
    lincheck_history_free(h);
}

/* Runs the checker on a generated history, optionally after mutate(). */
static enum lincheck_verdict check_generated(struct lincheck_gen *g)
{
    struct lincheck_history *h = lincheck_history_new();
    assert_non_null(h);
    assert_int_equal(lincheck_gen_add(g, h), 0);
    struct lincheck_report rep;
    assert_int_equal(lincheck_check(h, NULL, &rep), 0);
    enum lincheck_verdict v = rep.verdict;
    if (v == LINCHECK_UNKNOWN)
        lincheck_report_print(&rep, stderr);
    lincheck_report_free(&rep);
    lincheck_history_free(h);
    return v;
}

/* Finds an OK read of key with a known version > 1 whose invocation comes
 * after the write that made the version below it completed; returns its
 * index and the (value, version) that write replaced, or -1. */
static long find_stale_target(const struct lincheck_gen *g, char *old_value,
                              size_t len, int64_t *old_version)
{
    for (size_t r = 0; r < g->n; r++) {
        const struct lincheck_op *rd = &g->ops[r].op;
        if (rd->f != LINCHECK_READ || rd->status != LINCHECK_OK ||
            rd->version < 2)
            continue;
        const struct lincheck_op *made = NULL, *prev = NULL;
        for (size_t w = 0; w < g->n; w++) {
            const struct lincheck_op *op = &g->ops[w].op;
            if (op->f == LINCHECK_READ || op->status != LINCHECK_OK ||
                op->result != LINCHECK_R_DONE || strcmp(op->key, rd->key))
                continue;
            if (op->version == rd->version)
                made = op;
            if (op->version == rd->version - 1)
                prev = op;
        }
        if (made && prev && made->complete_ns < rd->invoke_ns) {
            snprintf(old_value, len, "%s", prev->value);
            *old_version = prev->version;
            return (long)r;
        }
    }
    return -1;
}

static void generated_histories(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        struct lincheck_gen_params p = {
            .seed = seed, .ops = 3000, .keys = 5, .processes = 12 + seed,
            .info_permille = 20 + 10 * seed, .fail_permille = 10,
            .blind_permille = seed % 3 == 0 ? 300 : 0};
        struct lincheck_gen g;
        assert_int_equal(lincheck_gen_run(&p, &g), 0);
        if (check_generated(&g) != LINCHECK_LINEARIZABLE)
            fail_msg("seed %llu: generated history rejected",
                     (unsigned long long)seed);
        /* Mutation 1: a read returns another write's value with its own
         * version -- a (value, version) pair that never existed. */
        char scratch[32];
        int64_t scratch_version;
        long r = find_stale_target(&g, scratch, sizeof(scratch),
                                   &scratch_version);
        assert_true(r >= 0);
        struct lincheck_gen_op saved = g.ops[r];
        for (size_t w = 0; w < g.n; w++) {
            struct lincheck_op *op = &g.ops[w].op;
            if (op->f != LINCHECK_READ && op->status == LINCHECK_OK &&
                op->result == LINCHECK_R_DONE &&
                op->version != LINCHECK_VERSION_UNKNOWN &&
                strcmp(op->key, g.ops[r].key) == 0 &&
                op->version != g.ops[r].op.version) {
                snprintf(g.ops[r].value, sizeof(g.ops[r].value), "%s",
                         op->value);
                break;
            }
        }
        assert_int_equal(check_generated(&g), LINCHECK_NOT_LINEARIZABLE);
        /* Mutation 2: the read is stale -- it returns the state from before
         * a write that had completed before the read was invoked. */
        g.ops[r] = saved;
        g.ops[r].op.key = g.ops[r].key;
        g.ops[r].op.value = g.ops[r].value;
        int64_t old_version;
        char old_value[32];
        r = find_stale_target(&g, old_value, sizeof(old_value), &old_version);
        snprintf(g.ops[r].value, sizeof(g.ops[r].value), "%s", old_value);
        g.ops[r].op.version = old_version;
        assert_int_equal(check_generated(&g), LINCHECK_NOT_LINEARIZABLE);
        /* Without the read's version the stale value is still caught. */
        g.ops[r].op.version = LINCHECK_VERSION_UNKNOWN;
        assert_int_equal(check_generated(&g), LINCHECK_NOT_LINEARIZABLE);
        lincheck_gen_free(&g);
    }
}

/* Verdict of a generated history under the given search mode. */
static enum lincheck_verdict check_generated_mode(struct lincheck_gen *g,
                                                  bool plain)
{
    struct lincheck_history *h = lincheck_history_new();
    assert_non_null(h);
    assert_int_equal(lincheck_gen_add(g, h), 0);
    struct lincheck_options o = {.memo_bytes_max = 16 << 20, .plain = plain};
    struct lincheck_report rep;
    assert_int_equal(lincheck_check(h, &o, &rep), 0);
    enum lincheck_verdict v = rep.verdict;
    lincheck_report_free(&rep);
    lincheck_history_free(h);
    return v;
}

/* The prunings (version bound, symmetry, completed-first order) must never
 * change a verdict: compare with the plain search on small generated
 * histories, half of them with one read randomly corrupted (another op's
 * value, the version kept or dropped). */
static void prunings_agree_with_plain_search(void **state)
{
    (void)state;
    int agree = 0, not_lin = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        struct lincheck_gen_params p = {
            .seed = seed, .ops = 60 + seed % 100, .keys = 1 + seed % 3,
            .processes = 3 + seed % 6, .info_permille = 40 + seed % 80,
            .fail_permille = 20, .blind_permille = (seed % 4) * 300};
        struct lincheck_gen g;
        assert_int_equal(lincheck_gen_run(&p, &g), 0);
        if (seed % 2 == 0) {
            size_t r = (size_t)(seed * 7919) % g.n;
            size_t w = (size_t)(seed * 104729) % g.n;
            while (g.ops[r].op.f != LINCHECK_READ ||
                   g.ops[r].op.status != LINCHECK_OK)
                r = (r + 1) % g.n;
            snprintf(g.ops[r].value, sizeof(g.ops[r].value), "%s",
                     g.ops[w].op.f == LINCHECK_READ ? "init"
                                                    : g.ops[w].value);
            if (seed % 4 == 0)
                g.ops[r].op.version = LINCHECK_VERSION_UNKNOWN;
        }
        enum lincheck_verdict fast = check_generated_mode(&g, false);
        enum lincheck_verdict plain = check_generated_mode(&g, true);
        assert_int_not_equal(fast, LINCHECK_UNKNOWN);
        if (plain != LINCHECK_UNKNOWN) {
            if (fast != plain)
                fail_msg("seed %llu: pruned %d, plain %d",
                         (unsigned long long)seed, fast, plain);
            agree++;
        }
        not_lin += fast == LINCHECK_NOT_LINEARIZABLE;
        if (seed % 2 == 1)
            assert_int_equal(fast, LINCHECK_LINEARIZABLE);
        lincheck_gen_free(&g);
    }
    print_message("agree %d, not linearizable %d\n", agree, not_lin);
    /* Most comparisons must have happened, with both verdicts present. */
    assert_true(agree >= 250);
    assert_true(not_lin >= 50);
}

/* The text writer and the parser agree: the same history, the same
 * verdict, through a temporary file. */
static void generated_text_round_trip(void **state)
{
    (void)state;
    struct lincheck_gen_params p = {.seed = 42, .ops = 2000, .keys = 4,
                                    .processes = 16, .info_permille = 40,
                                    .fail_permille = 10,
                                    .blind_permille = 100};
    struct lincheck_gen g;
    assert_int_equal(lincheck_gen_run(&p, &g), 0);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(lincheck_gen_write(&g, f), 0);
    rewind(f);
    struct lincheck_history *h = lincheck_history_new();
    char err[256] = "";
    if (lincheck_history_parse(h, f, err, sizeof(err)) != 0)
        fail_msg("parse: %s", err);
    fclose(f);
    struct lincheck_history *h2 = lincheck_history_new();
    assert_int_equal(lincheck_gen_add(&g, h2), 0);
    assert_int_equal(lincheck_history_len(h), lincheck_history_len(h2));
    struct lincheck_report rep;
    assert_int_equal(lincheck_check(h, NULL, &rep), 0);
    assert_int_equal(rep.verdict, LINCHECK_LINEARIZABLE);
    assert_int_equal(rep.n_keys, 4);
    lincheck_report_free(&rep);
    lincheck_history_free(h);
    lincheck_history_free(h2);
    lincheck_gen_free(&g);
}

/* An optional argument selects tests by name (cmocka's glob filter). */
int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sequential_register),
        cmocka_unit_test(indeterminate_write_read_later),
        cmocka_unit_test(stale_read_after_newer_read),
        cmocka_unit_test(read_from_the_future),
        cmocka_unit_test(concurrent_writes_either_order),
        cmocka_unit_test(cas_outcomes),
        cmocka_unit_test(create_and_delete),
        cmocka_unit_test(many_indeterminate_ops),
        cmocka_unit_test(budget_gives_unknown),
        cmocka_unit_test(partition_by_key),
        cmocka_unit_test(parser_errors),
        cmocka_unit_test(api_validation),
        cmocka_unit_test(generated_histories),
        cmocka_unit_test(generated_text_round_trip),
        cmocka_unit_test(prunings_agree_with_plain_search),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests_name("checker", tests, NULL, NULL);
}
