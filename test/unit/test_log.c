/* test_log.c -- unit tests for coordd/log.c: the exact line format, value
 * quoting and escaping, every supported conversion, truncation, the level
 * filter, the rate limiter (driven with explicit timestamps, no sleeping)
 * and whole lines from concurrent threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/log.h"

/* 2026-11-23T03:41:07.123Z */
#define T0 1795405267123LL

__attribute__((format(printf, 6, 7))) static size_t
fmt(char *buf, size_t cap, enum log_level lvl, const char *msg,
    uint64_t suppressed, const char *fields, ...)
{
    va_list ap;
    va_start(ap, fields);
    size_t n = log_format(buf, cap, T0, lvl, msg, suppressed, fields, ap);
    va_end(ap);
    return n;
}

static void line_format_exact(void **state)
{
    (void)state;
    char buf[LOG_LINE_BYTES];
    uint64_t term = 4, leader = 2;
    size_t n = fmt(buf, sizeof(buf), LOG_LEVEL_INFO, "leader elected", 0,
                   "term=%" PRIu64 " leader=%" PRIu64, term, leader);
    assert_string_equal(buf, "ts=2026-11-23T03:41:07.123Z level=info "
                             "msg=\"leader elected\" term=4 leader=2\n");
    assert_int_equal(n, strlen(buf));

    fmt(buf, sizeof(buf), LOG_LEVEL_WARN, "started", 0, NULL);
    assert_string_equal(buf,
                        "ts=2026-11-23T03:41:07.123Z level=warn msg=started\n");
    fmt(buf, sizeof(buf), LOG_LEVEL_ERROR, "x", 7, "a=%d", 1);
    assert_string_equal(buf, "ts=2026-11-23T03:41:07.123Z level=error msg=x "
                             "a=1 suppressed=7\n");
}

static void timestamps(void **state)
{
    (void)state;
    char ts[32];
    assert_int_equal(log_format_ts(ts, sizeof(ts), 0), 24);
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
    log_format_ts(ts, sizeof(ts), -1);
    assert_string_equal(ts, "1969-12-31T23:59:59.999Z");
    log_format_ts(ts, sizeof(ts), 951782400000LL + 999); /* leap day 2000 */
    assert_string_equal(ts, "2000-02-29T00:00:00.999Z");
}

/* Formats one %s value and returns what follows "msg=m ". */
static const char *one_value(char *buf, size_t cap, const char *v)
{
    fmt(buf, cap, LOG_LEVEL_INFO, "m", 0, "k=%s", v);
    const char *p = strstr(buf, " k=");
    assert_non_null(p);
    return p + 3;
}

static void quoting_and_escapes(void **state)
{
    (void)state;
    char b[LOG_LINE_BYTES];
    assert_string_equal(one_value(b, sizeof(b), "plain"), "plain\n");
    assert_string_equal(one_value(b, sizeof(b), "/a/b-c_d.e"),
                        "/a/b-c_d.e\n");
    assert_string_equal(one_value(b, sizeof(b), ""), "\"\"\n");
    assert_string_equal(one_value(b, sizeof(b), "two words"),
                        "\"two words\"\n");
    assert_string_equal(one_value(b, sizeof(b), "a=b"), "\"a=b\"\n");
    assert_string_equal(one_value(b, sizeof(b), "say \"hi\""),
                        "\"say \\\"hi\\\"\"\n");
    assert_string_equal(one_value(b, sizeof(b), "back\\slash"),
                        "\"back\\\\slash\"\n");
    assert_string_equal(one_value(b, sizeof(b), "l1\nl2\tx\ry"),
                        "\"l1\\nl2\\tx\\ry\"\n");
    assert_string_equal(one_value(b, sizeof(b), "c\x01\x7f"),
                        "\"c\\x01\\x7f\"\n");
    /* UTF-8 passes through unquoted. */
    assert_string_equal(one_value(b, sizeof(b), "caf\xc3\xa9"),
                        "caf\xc3\xa9\n");
    const char *volatile nil = NULL; /* hidden from gcc's format check */
    assert_string_equal(one_value(b, sizeof(b), nil), "(null)\n");
    /* msg follows the same rule. */
    fmt(b, sizeof(b), LOG_LEVEL_INFO, "", 0, NULL);
    assert_non_null(strstr(b, " msg=\"\"\n"));
    fmt(b, sizeof(b), LOG_LEVEL_INFO, "a \"q\"", 0, NULL);
    assert_non_null(strstr(b, " msg=\"a \\\"q\\\"\"\n"));
}

static void conversions(void **state)
{
    (void)state;
    char b[LOG_LINE_BYTES];
    const char *path = "/locks/xyz";
    fmt(b, sizeof(b), LOG_LEVEL_DEBUG, "m", 0,
        "i=%d u=%u ll=%lld ull=%llu z=%zu x=%x X=%#X hh=%hhd h=%hu "
        "j=%jd t=%td p=%.*s w=%5d f=%.2f c=%c pct=%% o=%o e=%.1e",
        -5, 7u, -9000000000LL, 18446744073709551615ULL, (size_t)42, 255u,
        255u, (signed char)-3, (unsigned short)65535, (intmax_t)-1,
        (ptrdiff_t)12, 6, path, 42, 3.14159, 'Q', 8, 12345.0);
    const char *f = strstr(b, "msg=m ");
    assert_non_null(f);
    assert_string_equal(f + 6,
                        "i=-5 u=7 ll=-9000000000 ull=18446744073709551615 "
                        "z=42 x=ff X=0XFF hh=-3 h=65535 j=-1 t=12 "
                        "p=/locks w=\"   42\" f=3.14 c=Q pct=% o=10 "
                        "e=1.2e+04\n");
    /* Width and precision both from arguments. */
    fmt(b, sizeof(b), LOG_LEVEL_DEBUG, "m", 0, "v=%*.*s end=%ld", 4, 2,
        "abc", -7L);
    assert_non_null(strstr(b, " v=\"  ab\" end=-7\n"));
    fmt(b, sizeof(b), LOG_LEVEL_DEBUG, "m", 0, "ld=%.1Lf", 1.5L);
    assert_non_null(strstr(b, " ld=1.5\n"));
    fmt(b, sizeof(b), LOG_LEVEL_DEBUG, "m", 0, "ptr=%p", (void *)b);
    assert_non_null(strstr(b, " ptr=0x"));
}

/* key="%s" asks for quotes: never doubled, always escaped. */
static void explicit_quotes(void **state)
{
    (void)state;
    char b[LOG_LINE_BYTES];
    fmt(b, sizeof(b), LOG_LEVEL_INFO, "m", 0, "a=\"%s\" b=\"%s\" c=%d",
        "two words", "x\"y", 3);
    assert_non_null(strstr(b, " msg=m a=\"two words\" b=\"x\\\"y\" c=3\n"));
    fmt(b, sizeof(b), LOG_LEVEL_INFO, "m", 0, "a=\"%s\"", "plain");
    assert_non_null(strstr(b, " a=\"plain\"\n"));
    /* A quote on one side only is literal text. */
    fmt(b, sizeof(b), LOG_LEVEL_INFO, "m", 0, "a=\"%d b=%d\"", 1, 2);
    assert_non_null(strstr(b, " a=\"1 b=2\"\n"));
}

static void truncation_keeps_whole_values(void **state)
{
    (void)state;
    char big[6000];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char b[LOG_LINE_BYTES];
    size_t n = fmt(b, sizeof(b), LOG_LEVEL_INFO, "m", 3, "a=1 big=%s c=3",
                   big);
    assert_true(n < sizeof(b));
    assert_int_equal(n, strlen(b));
    const char *tail = " truncated=true\n";
    assert_string_equal(b + n - strlen(tail), tail);
    /* Cut after the last whole value: "a=1", no dangling "big=". */
    assert_non_null(strstr(b, "msg=m a=1 truncated=true\n"));
    assert_null(strstr(b, "big="));

    /* A tiny buffer: still a well-formed line. */
    char s[64];
    n = fmt(s, sizeof(s), LOG_LEVEL_INFO, "a message long enough to overflow",
            0, "k=%d", 1);
    assert_true(n < sizeof(s));
    assert_int_equal(s[n - 1], '\n');
    assert_non_null(strstr(s, "truncated=true\n"));

    /* Exactly fitting values are not truncated. */
    char big2[LOG_LINE_BYTES];
    memset(big2, 'w', 3000);
    big2[3000] = '\0';
    n = fmt(b, sizeof(b), LOG_LEVEL_INFO, "m", 0, "big=%s", big2);
    assert_null(strstr(b, "truncated"));
    assert_int_equal(n, strlen(b));
}

static void level_names(void **state)
{
    (void)state;
    enum log_level l;
    const char *names[] = {"debug", "info", "warn", "error", "fatal"};
    for (int i = 0; i <= LOG_LEVEL_FATAL; i++) {
        assert_string_equal(log_level_name((enum log_level)i), names[i]);
        assert_int_equal(log_level_parse(names[i], &l), 0);
        assert_int_equal(l, i);
    }
    assert_int_equal(log_level_parse("INFO", &l), COORD_EINVAL);
    assert_int_equal(log_level_parse("warning", &l), COORD_EINVAL);
    assert_int_equal(log_level_parse("", &l), COORD_EINVAL);
    assert_string_equal(log_level_name((enum log_level)9), "?");
}

/* Reads whatever is in a non-blocking pipe. */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return n;
}

static int evaluated;
static int side_effect(void)
{
    return ++evaluated;
}

static void level_filter(void **state)
{
    (void)state;
    int p[2];
    char buf[8192];
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    log_set_fd(p[1]);

    log_set_level(LOG_LEVEL_WARN);
    assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    evaluated = 0;
    log_info("hidden", "n=%d", side_effect());
    log_debug("hidden", NULL);
    assert_int_equal(evaluated, 0); /* filtered: arguments not evaluated */
    assert_int_equal(drain(p[0], buf, sizeof(buf)), 0);

    log_warn("shown", "n=%d", side_effect());
    log_fatal("also shown", NULL);
    assert_int_equal(evaluated, 1);
    drain(p[0], buf, sizeof(buf));
    const char *l2 = strchr(buf, '\n');
    assert_non_null(l2);
    assert_non_null(strstr(buf, " level=warn msg=shown n=1\n"));
    assert_non_null(strstr(l2 + 1, " level=fatal msg=\"also shown\"\n"));
    assert_int_equal(strncmp(buf, "ts=", 3), 0);

    log_set_level(LOG_LEVEL_DEBUG);
    log_debug("dbg", NULL);
    drain(p[0], buf, sizeof(buf));
    assert_non_null(strstr(buf, "level=debug msg=dbg\n"));

    log_set_level(LOG_LEVEL_INFO);
    log_set_fd(2);
    close(p[0]);
    close(p[1]);
}

static void rate_limiter(void **state)
{
    (void)state;
    struct log_rate r;
    uint64_t sup = 99;
    log_rate_init(&r, 3);

    for (int i = 0; i < 3; i++) {
        assert_true(log_rate_allow(&r, 1000 + i, &sup));
        assert_int_equal(sup, 0);
    }
    assert_false(log_rate_allow(&r, 1500, &sup));
    assert_false(log_rate_allow(&r, 1998, &sup));
    assert_false(log_rate_allow(&r, 1999, &sup)); /* same window: 3 dropped */
    assert_false(log_rate_pending(&r, 1999, &sup)); /* window still open */
    assert_true(log_rate_allow(&r, 2000, &sup));    /* new window */
    assert_int_equal(sup, 3);
    assert_true(log_rate_allow(&r, 2001, &sup));
    assert_int_equal(sup, 0); /* the count restarts once reported */

    /* Drops with no later line: the periodic check reports them. */
    assert_true(log_rate_allow(&r, 2002, &sup));
    assert_false(log_rate_allow(&r, 2003, &sup));
    assert_false(log_rate_allow(&r, 2004, &sup));
    assert_false(log_rate_pending(&r, 2999, &sup));
    assert_true(log_rate_pending(&r, 3000, &sup));
    assert_int_equal(sup, 2);
    assert_false(log_rate_pending(&r, 5000, &sup)); /* reported once */
    assert_true(log_rate_allow(&r, 5000, &sup));
    assert_int_equal(sup, 0);

    /* A clock going back starts a new window rather than blocking. */
    assert_true(log_rate_allow(&r, 5001, &sup));
    assert_true(log_rate_allow(&r, 5002, &sup));
    assert_false(log_rate_allow(&r, 5003, &sup));
    assert_true(log_rate_allow(&r, 100, &sup));
    assert_int_equal(sup, 1);

    /* per_sec 0: no limit. */
    log_rate_init(&r, 0);
    for (int i = 0; i < 10000; i++)
        assert_true(log_rate_allow(&r, 7, &sup));
}

static void rated_emit_first_line(void **state)
{
    (void)state;
    int p[2];
    char buf[4096];
    struct log_rate r;
    assert_int_equal(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    log_set_fd(p[1]);
    log_rate_init(&r, 1);
    /* The first event of a fresh limiter always passes, with no count. */
    log_emit_rated(&r, LOG_LEVEL_WARN, "session expired", "session=%d", 5);
    drain(p[0], buf, sizeof(buf));
    assert_non_null(strstr(buf, "msg=\"session expired\" session=5\n"));
    /* Filtered levels do not consume the budget. */
    log_rate_init(&r, 1);
    log_emit_rated(&r, LOG_LEVEL_DEBUG, "x", NULL);
    assert_int_equal(r.used, 0);
    log_set_fd(2);
    close(p[0]);
    close(p[1]);
}

#define THREAD_LINES 2000
struct writer {
    int id;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < THREAD_LINES; i++)
        log_emit(LOG_LEVEL_INFO, "concurrent line", "thread=%d i=%d pad=%s",
                 w->id, i,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    return NULL;
}

static void threads_never_interleave(void **state)
{
    (void)state;
    char path[] = "/tmp/coord_test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fcntl(fd, F_SETFL, O_APPEND);
    log_set_fd(fd);

    pthread_t t[4];
    struct writer w[4];
    for (int i = 0; i < 4; i++) {
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    log_set_fd(2);

    off_t size = lseek(fd, 0, SEEK_END);
    char *all = malloc((size_t)size + 1);
    assert_non_null(all);
    assert_int_equal(pread(fd, all, (size_t)size, 0), size);
    all[size] = '\0';
    close(fd);

    int lines = 0, seen[4] = {0};
    for (char *s = all, *nl; (nl = strchr(s, '\n')) != NULL; s = nl + 1) {
        *nl = '\0';
        int id, i;
        assert_int_equal(strncmp(s, "ts=", 3), 0);
        const char *f = strstr(s, " msg=\"concurrent line\" thread=");
        assert_non_null(f);
        assert_int_equal(sscanf(f, " msg=\"concurrent line\" thread=%d i=%d",
                                &id, &i), 2);
        assert_true(id >= 0 && id < 4);
        assert_int_equal(i, seen[id]); /* each thread's lines in order */
        seen[id]++;
        assert_non_null(strstr(f, " pad=xxxx"));
        lines++;
    }
    assert_int_equal(lines, 4 * THREAD_LINES);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(line_format_exact),
        cmocka_unit_test(timestamps),
        cmocka_unit_test(quoting_and_escapes),
        cmocka_unit_test(conversions),
        cmocka_unit_test(explicit_quotes),
        cmocka_unit_test(truncation_keeps_whole_values),
        cmocka_unit_test(level_names),
        cmocka_unit_test(level_filter),
        cmocka_unit_test(rate_limiter),
        cmocka_unit_test(rated_emit_first_line),
        cmocka_unit_test(threads_never_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
