/* test_coordctl.c -- integration tests of the coordctl binary against a
 * real coordd on 127.0.0.1 (a free port, a temp data dir, stopped by PID).
 * Each test runs build/bin/coordctl (or $COORDCTL_BIN) with fork/exec,
 * feeds its stdin, and checks its stdout, stderr and exit code: every
 * command's success and error paths, --json well-formedness (a small JSON
 * validator) and fields, watch events caused by another coordctl (read
 * from a pipe with a deadline), multi all-or-nothing, rm -r, ephemeral
 * nodes vanishing when coordctl exits, and exit codes 2, 3 and 4; the
 * recipe commands (lock and elect run a command while holding, barrier),
 * sessions against sessions opened in-process, snapshot save from a
 * 3-node cluster and restore into a new single node, help for every
 * command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord.h"
#include "test/lib/proc.h"
#include "test/lib/rawclient.h"

static struct tproc srv;
static char servers_flag[64];
/* Leave COORD_SERVERS to the child (set by the test). */
static bool servers_env;

/* ---- running coordctl ---------------------------------------------- */

#define OUT_MAX (256 * 1024)
#define DEADLINE_MS 15000

struct ctl_proc {
    pid_t pid;
    int in_fd, out_fd, err_fd;
    char out[OUT_MAX];
    size_t out_len;
    char err[OUT_MAX];
    size_t err_len;
    int status; /* exit code, 128+signal, -1 while running */
};

static const char *ctl_bin(void)
{
    const char *b = getenv("COORDCTL_BIN");
    return b ? b : "build/bin/coordctl";
}

/* Starts coordctl with argv (NULL-terminated, without the program name);
 * the server flag is prepended unless servers is false. */
static void ctl_spawn_v(struct ctl_proc *p, bool servers, const char **args)
{
    int in[2], out[2], err[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    memset(p, 0, sizeof(*p));
    p->status = -1;
    const char *argv[64];
    int n = 0;
    argv[n++] = ctl_bin();
    if (servers)
        argv[n++] = servers_flag;
    for (int i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        for (int fd = 3; fd < 256; fd++)
            close(fd);
        if (!servers_env)
            unsetenv("COORD_SERVERS");
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->pid = pid;
    p->in_fd = in[1];
    p->out_fd = out[0];
    p->err_fd = err[0];
}

/* Reads what is available from the pipes, waiting at most wait_ms.
 * Returns false once both pipes are at EOF. */
static bool ctl_pump(struct ctl_proc *p, int wait_ms)
{
    struct pollfd pf[2] = {{p->out_fd, POLLIN, 0}, {p->err_fd, POLLIN, 0}};
    if (p->out_fd < 0 && p->err_fd < 0)
        return false;
    poll(pf, 2, wait_ms);
    int *fds[2] = {&p->out_fd, &p->err_fd};
    char *bufs[2] = {p->out, p->err};
    size_t *lens[2] = {&p->out_len, &p->err_len};
    for (int i = 0; i < 2; i++) {
        if (*fds[i] < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t r = read(*fds[i], bufs[i] + *lens[i],
                         OUT_MAX - 1 - *lens[i]);
        if (r <= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        } else {
            *lens[i] += (size_t)r;
            bufs[i][*lens[i]] = '\0';
        }
    }
    return p->out_fd >= 0 || p->err_fd >= 0;
}

/* Waits (with a deadline) until stdout (or stderr) contains needle. */
static void ctl_wait_for(struct ctl_proc *p, bool on_stdout,
                         const char *needle)
{
    int64_t dl = tproc_now_ms() + DEADLINE_MS;
    const char *buf = on_stdout ? p->out : p->err;
    while (strstr(buf, needle) == NULL) {
        if (tproc_now_ms() > dl || !ctl_pump(p, 50)) {
            if (strstr(buf, needle) != NULL)
                break;
            fprintf(stderr, "waiting for '%s'; stdout: %s\nstderr: %s\n",
                    needle, p->out, p->err);
            fail();
        }
    }
}

/* Closes stdin, reads everything, reaps; returns the exit code. */
static int ctl_finish(struct ctl_proc *p)
{
    if (p->in_fd >= 0) {
        close(p->in_fd);
        p->in_fd = -1;
    }
    int64_t dl = tproc_now_ms() + DEADLINE_MS;
    while (ctl_pump(p, 100)) {
        if (tproc_now_ms() > dl) {
            kill(p->pid, SIGKILL);
            fprintf(stderr, "coordctl did not exit; stdout: %s\n", p->out);
            fail();
        }
    }
    int st;
    assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return p->status;
}

static void ctl_write_in(struct ctl_proc *p, const void *data, size_t n)
{
    const char *s = data;
    while (n > 0) {
        ssize_t w = write(p->in_fd, s, n);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Runs coordctl to completion with stdin (may be NULL), returns the exit
 * code; output in *p. */
static int ctl_run_in(struct ctl_proc *p, const char *in, size_t in_len,
                      ...)
{
    const char *args[64];
    int n = 0;
    va_list ap;
    va_start(ap, in_len);
    while ((args[n] = va_arg(ap, const char *)) != NULL && n < 62)
        n++;
    va_end(ap);
    args[n] = NULL;
    ctl_spawn_v(p, true, args);
    if (in != NULL)
        ctl_write_in(p, in, in_len);
    return ctl_finish(p);
}

#define RUN(p, ...) ctl_run_in((p), NULL, 0, __VA_ARGS__, (const char *)NULL)
#define RUN_IN(p, in, ...) \
    ctl_run_in((p), (in), strlen(in), __VA_ARGS__, (const char *)NULL)

static struct ctl_proc P, Q, R; /* big: static */

/* The error output is exactly one line naming the code. */
static void assert_one_error(const struct ctl_proc *p, const char *code)
{
    if (strstr(p->err, code) == NULL)
        fprintf(stderr, "stderr: %s\n", p->err);
    assert_non_null(strstr(p->err, code));
    assert_non_null(strstr(p->err, "coordctl: "));
    assert_int_equal(p->err[p->err_len - 1], '\n');
    assert_null(memchr(p->err, '\n', p->err_len - 1));
}

/* ---- a small JSON validator: one value per line --------------------- */

static const char *json_value(const char *s);

static const char *json_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static const char *json_string(const char *s)
{
    if (*s++ != '"')
        return NULL;
    while (*s != '"') {
        if ((unsigned char)*s < 0x20)
            return NULL;
        if (*s == '\\') {
            s++;
            if (*s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)s[i]))
                        return NULL;
                s += 4;
            } else if (!strchr("\"\\/bfnrt", *s) || *s == '\0') {
                return NULL;
            }
        }
        s++;
    }
    return s + 1;
}

static const char *json_compound(const char *s, char close, bool keys)
{
    s = json_ws(s + 1);
    if (*s == close)
        return s + 1;
    for (;;) {
        if (keys) {
            s = json_string(json_ws(s));
            if (s == NULL || *(s = json_ws(s)) != ':')
                return NULL;
            s++;
        }
        s = json_value(s);
        if (s == NULL)
            return NULL;
        s = json_ws(s);
        if (*s == close)
            return s + 1;
        if (*s != ',')
            return NULL;
        s++;
    }
}

static const char *json_value(const char *s)
{
    s = json_ws(s);
    if (*s == '{')
        return json_compound(s, '}', true);
    if (*s == '[')
        return json_compound(s, ']', false);
    if (*s == '"')
        return json_string(s);
    if (strncmp(s, "true", 4) == 0 || strncmp(s, "null", 4) == 0)
        return s + 4;
    if (strncmp(s, "false", 5) == 0)
        return s + 5;
    const char *b = s;
    if (*s == '-')
        s++;
    while (isdigit((unsigned char)*s))
        s++;
    return s > b ? s : NULL;
}

/* Every line of out is one JSON object; returns the number of lines. */
static int assert_json_lines(const char *out)
{
    int n = 0;
    const char *s = out;
    while (*s) {
        const char *nl = strchr(s, '\n');
        assert_non_null(nl);
        assert_int_equal(*s, '{');
        const char *e = json_value(s);
        if (e != nl)
            fprintf(stderr, "bad JSON line: %.*s\n", (int)(nl - s), s);
        assert_ptr_equal(e, nl);
        n++;
        s = nl + 1;
    }
    return n;
}

/* ---- fixture ---------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    tproc_init(&srv, "127.0.0.1");
    if (tproc_start(&srv, 10000) != 0) {
        fprintf(stderr, "coordd did not start; log %s\n", srv.log);
        return -1;
    }
    snprintf(servers_flag, sizeof(servers_flag), "--servers=%s:%u",
             srv.host, srv.port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = tproc_stop(&srv, 10000);
    tproc_cleanup(&srv);
    return rc == 0 ? 0 : -1;
}

/* ---- tests ------------------------------------------------------------ */

static void usage_errors(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "--help"), 0);
    assert_non_null(strstr(P.out, "Exit codes"));
    assert_non_null(strstr(P.out, "watch PATH"));
    assert_int_equal(RUN(&P, "help", "create"), 0);
    assert_non_null(strstr(P.out, "--ephemeral"));
    assert_int_equal(RUN(&P, "rm", "--help"), 0);
    assert_non_null(strstr(P.out, "rm PATH"));
    assert_int_equal(RUN(&P, "bogus"), 2);
    assert_one_error(&P, "unknown command 'bogus'");
    assert_int_equal(RUN(&P, "help", "bogus"), 2);
    assert_int_equal(RUN(&P, "ls"), 2);
    assert_one_error(&P, "ls takes");
    assert_int_equal(RUN(&P, "ls", "/", "--version", "3"), 2);
    assert_one_error(&P, "not a flag of ls");
    assert_int_equal(RUN(&P, "set", "/a", "x", "--version", "abc"), 2);
    assert_int_equal(RUN(&P, "set", "/a", "x", "--version"), 2);
    assert_int_equal(RUN(&P, "get", "/a", "--nope"), 2);
    assert_int_equal(RUN(&P, "--timeout=0", "ls", "/"), 2);
    assert_int_equal(RUN(&P, "--servers=[::1", "ls", "/"), 2);
    assert_one_error(&P, "bad server list");
    assert_int_equal(RUN(&P, "create", "/c", "-e", "--container"), 2);
    assert_int_equal(RUN(&P, "watch", "/", "--persistent", "--children"),
                     2);
    assert_int_equal(RUN(&P, "multi"), 2); /* empty stdin: no ops */
    assert_int_equal(RUN(&P, "multi", "frob:/a"), 2);
    assert_int_equal(RUN(&P, "multi", "check:/a"), 2); /* no version */
    assert_int_equal(RUN(&P, "--json"), 2);
    assert_non_null(strstr(P.err, "usage:"));
}

static void unreachable(void **state)
{
    (void)state;
    /* A port that was free a moment ago: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    char flag[64];
    snprintf(flag, sizeof(flag), "--servers=127.0.0.1:%u",
             ntohs(sa.sin_port));
    const char *args[] = {flag, "--timeout=300", "ls", "/", NULL};
    int64_t t0 = tproc_now_ms();
    ctl_spawn_v(&P, false, args);
    assert_int_equal(ctl_finish(&P), 3);
    assert_true(tproc_now_ms() - t0 < 5000);
    assert_one_error(&P, "cannot reach the cluster");
    assert_non_null(strstr(P.err, "COORD_ETIMEDOUT"));
}

static void create_get_set_stat(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "create", "/t1", "hello"), 0);
    assert_string_equal(P.out, "/t1\n");
    assert_int_equal(P.err_len, 0);
    assert_int_equal(RUN(&P, "create", "/t1", "again"), 1);
    assert_one_error(&P, "coordctl: /t1: node already exists "
                         "(COORD_ENODEEXISTS)");
    assert_int_equal(RUN(&P, "get", "/t1"), 0);
    assert_string_equal(P.out, "hello");
    assert_int_equal(RUN(&P, "set", "/t1", "world", "--version", "0"), 0);
    assert_int_equal(P.out_len, 0);
    assert_int_equal(RUN(&P, "set", "/t1", "x", "--version=0"), 1);
    assert_one_error(&P, "(COORD_EBADVERSION)");
    assert_int_equal(RUN(&P, "get", "--stat", "/t1"), 0);
    assert_true(strncmp(P.out, "world\n", 6) == 0);
    assert_non_null(strstr(P.out, "version         1\n"));
    assert_non_null(strstr(P.out, "dataLength      5\n"));
    assert_int_equal(RUN(&P, "stat", "/t1"), 0);
    assert_non_null(strstr(P.out, "path            /t1\n"));
    assert_non_null(strstr(P.out, "czxid           0x"));
    /* ISO-8601 UTC with milliseconds. */
    const char *ct = strstr(P.out, "ctime           ");
    assert_non_null(ct);
    ct += 16;
    assert_true(isdigit((unsigned char)ct[0]) && ct[4] == '-' &&
                ct[10] == 'T' && ct[19] == '.' && ct[23] == 'Z');
    assert_int_equal(RUN(&P, "stat", "/missing"), 1);
    assert_one_error(&P, "coordctl: /missing: node does not exist "
                         "(COORD_ENONODE)");
    assert_int_equal(RUN(&P, "get", "/missing"), 1);
    assert_one_error(&P, "COORD_ENONODE");
    assert_int_equal(RUN(&P, "set", "/missing", "x"), 1);
    /* libcoord refuses a relative path before sending it. */
    assert_int_equal(RUN(&P, "get", "bad"), 1);
    assert_one_error(&P, "coordctl: bad: invalid argument (COORD_EINVAL); "
                         "paths start with '/'");
    /* Data from stdin, binary-safe both ways; data starting with '-'. */
    static const char bin[] = {'a', 0, (char)0xff, '\n', 'z'};
    ctl_run_in(&P, bin, sizeof(bin), "create", "/t1bin", "-",
               (const char *)NULL);
    assert_int_equal(P.status, 0);
    assert_int_equal(RUN(&P, "get", "/t1bin"), 0);
    assert_int_equal(P.out_len, sizeof(bin));
    assert_memory_equal(P.out, bin, sizeof(bin));
    assert_int_equal(RUN(&P, "set", "/t1bin", "--", "-5"), 0);
    assert_int_equal(RUN(&P, "get", "/t1bin"), 0);
    assert_string_equal(P.out, "-5");
}

static void json_output(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "--json", "create", "/j1", "a\"b\\c\n\t"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_non_null(strstr(P.out, "{\"path\":\"/j1\",\"stat\":{"));
    assert_int_equal(RUN(&P, "--json", "get", "/j1"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_non_null(strstr(P.out, "\"data\":\"a\\\"b\\\\c\\n\\t\""));
    assert_non_null(strstr(P.out, "\"version\":0"));
    assert_non_null(strstr(P.out, "\"data_length\":7"));
    assert_non_null(strstr(P.out, "\"ephemeral_owner\":\"0x0\""));
    static const char bin[] = {(char)0xff, 0, 'a', 'b'};
    ctl_run_in(&P, bin, sizeof(bin), "set", "/j1", "-", (const char *)NULL);
    assert_int_equal(P.status, 0);
    assert_int_equal(RUN(&P, "get", "/j1", "--json"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_non_null(strstr(P.out, "\"data_base64\":\"/wBhYg==\""));
    assert_int_equal(RUN(&P, "--json", "stat", "/j1"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_non_null(strstr(P.out, "\"version\":1,"));
    assert_int_equal(RUN(&P, "create", "/j1/k", "x"), 0);
    assert_int_equal(RUN(&P, "--json", "ls", "/j1"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_string_equal(P.out, "{\"path\":\"/j1\",\"children\":[\"k\"]}\n");
    assert_int_equal(RUN(&P, "--json", "ls", "-l", "/j1"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_non_null(strstr(P.out, "{\"name\":\"k\",\"stat\":{"));
    assert_int_equal(RUN(&P, "--json", "tree", "/j1", "--sizes"), 0);
    assert_int_equal(assert_json_lines(P.out), 2);
    assert_non_null(strstr(P.out, "{\"path\":\"/j1/k\",\"depth\":1,"
                                  "\"data_length\":1,"));
    assert_int_equal(RUN(&P, "--json", "set", "/j1", "v"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_int_equal(RUN(&P, "--json", "rm", "/j1/k"), 0);
    assert_string_equal(P.out, "{\"path\":\"/j1/k\"}\n");
    assert_int_equal(RUN(&P, "--json", "sync", "/"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    /* A name that is not UTF-8 still gives valid JSON (U+FFFD). */
    assert_int_equal(RUN(&P, "create", "/j1/\xff\xc3\xa9"), 0);
    assert_int_equal(RUN(&P, "--json", "ls", "/j1"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_string_equal(P.out, "{\"path\":\"/j1\",\"children\":"
                               "[\"\\ufffd\xc3\xa9\"]}\n");
}

static void create_flags(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "create", "/p1/p2/p3", "d"), 1);
    assert_one_error(&P, "COORD_ENONODE");
    assert_int_equal(RUN(&P, "create", "-p", "/p1/p2/p3", "d"), 0);
    assert_string_equal(P.out, "/p1/p2/p3\n");
    assert_int_equal(RUN(&P, "get", "/p1/p2/p3"), 0);
    assert_string_equal(P.out, "d");
    /* -p with existing parents is fine. */
    assert_int_equal(RUN(&P, "create", "--parents", "/p1/p2/q"), 0);
    assert_int_equal(RUN(&P, "create", "-s", "/p1/n-"), 0);
    assert_int_equal(strlen(P.out), strlen("/p1/n-0000000000\n"));
    assert_true(strncmp(P.out, "/p1/n-", 6) == 0);
    for (int i = 6; i < 16; i++)
        assert_true(isdigit((unsigned char)P.out[i]));
    char first[32], second[32];
    snprintf(first, sizeof(first), "%.20s", P.out + 4);
    assert_int_equal(RUN(&P, "create", "-s", "/p1/n-"), 0);
    snprintf(second, sizeof(second), "%.20s", P.out + 4);
    assert_true(strcmp(second, first) > 0);
    /* An ephemeral node lives as long as coordctl's session. */
    assert_int_equal(RUN(&P, "create", "-e", "/p1/eph", "x"), 0);
    assert_string_equal(P.out, "/p1/eph\n");
    assert_int_equal(RUN(&P, "stat", "/p1/eph"), 1);
    assert_one_error(&P, "COORD_ENONODE");
    assert_int_equal(RUN(&P, "create", "-es", "/p1/e-"), 0);
    assert_int_equal(RUN(&P, "ls", "/p1"), 0);
    char want[128];
    snprintf(want, sizeof(want), "%s%sp2\n", first, second);
    assert_string_equal(P.out, want);
}

static void ls_and_tree(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "create", "-p", "/lt/b/deep", "1234"), 0);
    assert_int_equal(RUN(&P, "create", "/lt/a", "xy"), 0);
    assert_int_equal(RUN(&P, "ls", "/lt"), 0);
    assert_string_equal(P.out, "a\nb\n");
    assert_int_equal(RUN(&P, "ls", "-l", "/lt"), 0);
    assert_true(strncmp(P.out, "VERSION  SIZE  CHILDREN  MTIME", 30) == 0);
    /* Columns align: every line has NAME at the same offset. */
    const char *l1 = strchr(P.out, '\n') + 1;
    const char *l2 = strchr(l1, '\n') + 1;
    assert_int_equal(strchr(l1, '\n') - l1, strchr(l2, '\n') - l2);
    assert_non_null(strstr(l1, "     2         0  "));
    assert_non_null(strstr(l2, "     0         1  "));
    assert_int_equal(RUN(&P, "ls", "/lt/none"), 1);
    assert_one_error(&P, "COORD_ENONODE");
    assert_int_equal(RUN(&P, "tree", "/lt"), 0);
    assert_string_equal(P.out, "/lt\n  a\n  b\n    deep\n");
    assert_int_equal(RUN(&P, "tree", "/lt", "--depth", "1"), 0);
    assert_string_equal(P.out, "/lt\n  a\n  b\n");
    assert_int_equal(RUN(&P, "tree", "/lt", "--depth=0"), 0);
    assert_string_equal(P.out, "/lt\n");
    assert_int_equal(RUN(&P, "tree", "--sizes", "/lt/b"), 0);
    assert_string_equal(P.out, "/lt/b  (0 bytes, 1 children)\n"
                               "  deep  (4 bytes, 0 children)\n");
    assert_int_equal(RUN(&P, "tree", "/nothere"), 1);
    assert_int_equal(RUN(&P, "tree"), 0);
    assert_true(strncmp(P.out, "/\n", 2) == 0);
    assert_non_null(strstr(P.out, "\n  lt\n"));
}

static void rm_paths(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "create", "-p", "/r/x/y", "1"), 0);
    assert_int_equal(RUN(&P, "rm", "/r/x"), 1);
    assert_one_error(&P, "COORD_ENOTEMPTY");
    assert_non_null(strstr(P.err, "rm -r"));
    assert_int_equal(RUN(&P, "rm", "/r/x/y", "--version", "5"), 1);
    assert_one_error(&P, "COORD_EBADVERSION");
    assert_int_equal(RUN(&P, "rm", "/r/x/y", "--version", "0"), 0);
    assert_int_equal(RUN(&P, "rm", "/r/x/y"), 1);
    assert_one_error(&P, "COORD_ENONODE");
    /* rm -r on a small tree: 3 levels, 12 nodes. */
    const char *nodes[] = {"/r/t/a/1", "/r/t/a/2", "/r/t/b/1", "/r/t/b/2/i",
                           "/r/t/b/2/j", "/r/t/c", NULL};
    for (int i = 0; nodes[i]; i++)
        assert_int_equal(RUN(&P, "create", "-p", nodes[i], "v"), 0);
    /* A wrong version deletes nothing. */
    assert_int_equal(RUN(&P, "rm", "-r", "/r/t", "--version", "9"), 1);
    assert_one_error(&P, "COORD_EBADVERSION");
    assert_int_equal(RUN(&P, "stat", "/r/t/b/2/j"), 0);
    assert_int_equal(RUN(&P, "rm", "-r", "/r/t"), 0);
    assert_int_equal(RUN(&P, "stat", "/r/t"), 1);
    assert_int_equal(RUN(&P, "ls", "/r"), 0);
    assert_string_equal(P.out, "x\n");
    /* More children than one rm -r page (1000): 1010 in one multi. */
    static char ops[1010 * 24 + 32];
    size_t off = (size_t)snprintf(ops, sizeof(ops), "create:/r/big\n");
    for (int i = 0; i < 1010; i++)
        off += (size_t)snprintf(ops + off, sizeof(ops) - off,
                                "create:/r/big/n%04d=v\n", i);
    assert_int_equal(RUN_IN(&P, ops, "multi"), 0);
    assert_int_equal(RUN(&P, "--json", "stat", "/r/big"), 0);
    assert_non_null(strstr(P.out, "\"num_children\":1010}"));
    assert_int_equal(RUN(&P, "rm", "--recursive", "/r"), 0);
    assert_int_equal(RUN(&P, "rm", "-r", "/r"), 1);
    assert_one_error(&P, "COORD_ENONODE");
}

static void multi_ops(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "create", "/mu", "0"), 0);
    assert_int_equal(RUN(&P, "create", "/mu/gone", ""), 0);
    assert_int_equal(RUN(&P, "multi", "create:/mu/a=x", "set:/mu=y@0",
                         "delete:/mu/gone", "check:/mu@1",
                         "create+s:/mu/s-"), 0);
    static const char want[] = "create  /mu/a  ok  /mu/a\n"
                               "set     /mu  ok  version=1\n"
                               "delete  /mu/gone  ok\n"
                               "check   /mu  ok\n"
                               "create  /mu/s-  ok  /mu/s-00000000";
    assert_true(strncmp(P.out, want, strlen(want)) == 0);
    assert_int_equal(P.out_len, strlen(want) + 3);
    /* All or nothing: the check fails, the create is not applied. */
    assert_int_equal(RUN(&P, "multi", "create:/mu/b=x", "check:/mu@7",
                         "delete:/mu/a"), 1);
    /* The create before the failing check: skipped or rolled back (the
     * server's choice), never shown as ok. */
    assert_true(strncmp(P.out, "create  /mu/b  COORD_ESKIPPED\n", 30) == 0 ||
                strncmp(P.out, "create  /mu/b  rolled-back\n", 27) == 0);
    assert_non_null(strstr(P.out, "check   /mu  COORD_EBADVERSION\n"));
    assert_non_null(strstr(P.out, "delete  /mu/a  COORD_ESKIPPED\n"));
    assert_non_null(strstr(P.err, "multi op 2 (check /mu)"));
    assert_non_null(strstr(P.err, "nothing was applied"));
    assert_int_equal(RUN(&P, "stat", "/mu/b"), 1);
    assert_int_equal(RUN(&P, "stat", "/mu/a"), 0);
    /* One op per stdin line; data with '@' and '='. */
    assert_int_equal(RUN_IN(&P, "# comment\nset:/mu/a=k=v@x@-1\n\n"
                                "create:/mu/c\n", "--json", "multi"), 0);
    assert_int_equal(assert_json_lines(P.out), 2);
    assert_non_null(strstr(P.out, "{\"op\":\"set\",\"path\":\"/mu/a\","
                                  "\"ok\":true,\"stat\":{"));
    assert_non_null(strstr(P.out, "\"created\":\"/mu/c\""));
    assert_int_equal(RUN(&P, "get", "/mu/a"), 0);
    assert_string_equal(P.out, "k=v@x");
    assert_int_equal(RUN(&P, "--json", "multi", "delete:/mu/none"), 1);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_non_null(strstr(P.out, "\"ok\":false,\"error\":"
                                  "\"COORD_ENONODE\""));
}

static void sync_cmd(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "sync", "/"), 0);
    assert_int_equal(P.out_len, 0);
    assert_int_equal(P.err_len, 0);
}

/* COORD_SERVERS is used when --servers is not given. */
static void servers_from_env(void **state)
{
    (void)state;
    char env[64];
    snprintf(env, sizeof(env), "%s:%u", srv.host, srv.port);
    setenv("COORD_SERVERS", env, 1);
    servers_env = true;
    const char *args[] = {"create", "/envnode", "e", NULL};
    ctl_spawn_v(&P, false, args);
    int rc = ctl_finish(&P);
    /* A server list that reaches nothing: the env is really used. */
    setenv("COORD_SERVERS", "127.0.0.1:1", 1);
    const char *args2[] = {"--timeout=200", "stat", "/envnode", NULL};
    ctl_spawn_v(&Q, false, args2);
    int rc2 = ctl_finish(&Q);
    unsetenv("COORD_SERVERS");
    servers_env = false;
    assert_int_equal(rc, 0);
    assert_string_equal(P.out, "/envnode\n");
    assert_int_equal(rc2, 3);
    assert_non_null(strstr(Q.err, "127.0.0.1:1"));
}

/* A request the (stopped) server never answers within --timeout: exit 3,
 * and the message says the outcome is unknown. */
static void request_timeout(void **state)
{
    (void)state;
    const char *args[] = {"--verbose", "--timeout=300", "set", "/t1", "-",
                          NULL};
    ctl_spawn_v(&Q, true, args);
    ctl_wait_for(&Q, false, "coordctl: connected, session 0x");
    assert_int_equal(kill(srv.pid, SIGSTOP), 0);
    ctl_write_in(&Q, "late", 4);
    int rc = ctl_finish(&Q);
    assert_int_equal(kill(srv.pid, SIGCONT), 0);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(Q.err, "/t1: operation timed out"));
    assert_non_null(strstr(Q.err, "(COORD_ETIMEDOUT)"));
    assert_non_null(strstr(Q.err, "outcome is unknown"));
}

/* Starts `coordctl watch ARGS` and waits until the watch is set. */
static void watch_start(struct ctl_proc *w, const char **args)
{
    ctl_spawn_v(w, true, args);
    ctl_wait_for(w, false, "coordctl: watching ");
}

static void watch_one_shot(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "create", "/w1", "a"), 0);
    const char *args[] = {"watch", "/w1", NULL};
    watch_start(&Q, args);
    assert_int_equal(RUN(&P, "set", "/w1", "b"), 0);
    ctl_wait_for(&Q, true, "\n");
    assert_true(strncmp(Q.out, "DATA_CHANGED /w1 0x", 19) == 0);
    assert_int_equal(ctl_finish(&Q), 0); /* one-shot: exits by itself */
    assert_int_equal(strchr(Q.out, '\n') + 1 - Q.out, (long)Q.out_len);
    /* A missing node: the watch waits for its creation. */
    const char *args2[] = {"--json", "watch", "/w1/new", NULL};
    watch_start(&Q, args2);
    assert_non_null(strstr(Q.err, "one-shot exists"));
    assert_int_equal(RUN(&P, "create", "/w1/new"), 0);
    assert_int_equal(ctl_finish(&Q), 0);
    assert_int_equal(assert_json_lines(Q.out), 1);
    assert_non_null(strstr(Q.out, "{\"event\":\"CREATED\",\"path\":"
                                  "\"/w1/new\",\"zxid\":"));
    const char *args3[] = {"watch", "--children", "/w1", NULL};
    watch_start(&Q, args3);
    assert_int_equal(RUN(&P, "create", "/w1/k2"), 0);
    assert_int_equal(ctl_finish(&Q), 0);
    assert_true(strncmp(Q.out, "CHILDREN_CHANGED /w1 0x", 23) == 0);
    const char *args4[] = {"watch", "--children", "/w1/none", NULL};
    ctl_spawn_v(&Q, true, args4);
    assert_int_equal(ctl_finish(&Q), 1);
    assert_one_error(&Q, "COORD_ENONODE");
}

/* --container and --ttl nodes are made, and the server removes them once
 * childless (a watch set while they still have a child sees it). */
static void container_and_ttl(void **state)
{
    (void)state;
    const char *nodes[] = {"/ct", "/ttl", NULL};
    assert_int_equal(RUN(&P, "create", "--container", "/ct"), 0);
    assert_string_equal(P.out, "/ct\n");
    assert_int_equal(RUN(&P, "create", "/ct/c"), 0);
    /* The child must come within the TTL: 1.5 s is ample margin. */
    assert_int_equal(RUN(&P, "create", "--ttl", "1500", "/ttl"), 0);
    assert_string_equal(P.out, "/ttl\n");
    assert_int_equal(RUN(&P, "create", "/ttl/c"), 0);
    assert_int_equal(RUN(&P, "create", "--ttl", "-5", "/ttl"), 2);
    for (int i = 0; nodes[i]; i++) {
        char child[32];
        snprintf(child, sizeof(child), "%s/c", nodes[i]);
        const char *args[] = {"watch", nodes[i], NULL};
        watch_start(&Q, args);
        assert_int_equal(RUN(&P, "rm", child), 0);
        assert_int_equal(ctl_finish(&Q), 0);
        char want[64];
        snprintf(want, sizeof(want), "DELETED %s 0x", nodes[i]);
        assert_true(strncmp(Q.out, want, strlen(want)) == 0);
    }
}

static void watch_persistent(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "create", "/w2"), 0);
    const char *args[] = {"--json", "watch", "--recursive", "/w2", NULL};
    watch_start(&Q, args);
    assert_int_equal(RUN(&P, "create", "/w2/c", "1"), 0);
    assert_int_equal(RUN(&P, "set", "/w2/c", "2"), 0);
    assert_int_equal(RUN(&P, "rm", "/w2/c"), 0);
    ctl_wait_for(&Q, true, "\"DELETED\"");
    kill(Q.pid, SIGINT);
    assert_int_equal(ctl_finish(&Q), 0);
    assert_int_equal(assert_json_lines(Q.out), 3);
    const char *c = strstr(Q.out, "{\"event\":\"CREATED\",\"path\":\"/w2/c\"");
    const char *d = strstr(Q.out, "{\"event\":\"DATA_CHANGED\",\"path\":"
                                  "\"/w2/c\"");
    const char *e = strstr(Q.out, "{\"event\":\"DELETED\",\"path\":\"/w2/c\"");
    assert_true(c != NULL && d != NULL && e != NULL && c < d && d < e);
    const char *args2[] = {"watch", "--persistent", "/w2", NULL};
    watch_start(&Q, args2);
    assert_int_equal(RUN(&P, "set", "/w2", "x"), 0);
    assert_int_equal(RUN(&P, "create", "/w2/d"), 0);
    ctl_wait_for(&Q, true, "CHILDREN_CHANGED /w2 0x");
    kill(Q.pid, SIGTERM);
    assert_int_equal(ctl_finish(&Q), 0);
    assert_true(strncmp(Q.out, "DATA_CHANGED /w2 0x", 19) == 0);
}

/* A request written to a server that then goes silent: the connection is
 * dropped and the outcome is unknown (exit 4). */
static void connection_lost(void **state)
{
    (void)state;
    const char *args[] = {"--verbose", "--timeout=5000", "set", "/t1", "-",
                          NULL};
    ctl_spawn_v(&Q, true, args);
    ctl_wait_for(&Q, false, "coordctl: connected, session 0x");
    assert_int_equal(kill(srv.pid, SIGSTOP), 0);
    ctl_write_in(&Q, "lost", 4);
    int rc = ctl_finish(&Q);
    assert_int_equal(kill(srv.pid, SIGCONT), 0);
    assert_int_equal(rc, 4);
    assert_non_null(strstr(Q.err, "COORD_ECONNLOSS"));
    assert_non_null(strstr(Q.err, "outcome is unknown"));
    /* The server is fine afterwards. */
    assert_int_equal(RUN(&P, "stat", "/t1"), 0);
}


/* ---- recipes, sessions, snapshots --------------------------------------- */

/* The value of "key":NUMBER in a JSON line, or -1. */
static long long json_num(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *k = strstr(line, pat);
    return k ? strtoll(k + strlen(pat), NULL, 10) : -1;
}

/* Waits until `locks NAME --json` lists want entries (a waiter queued). */
static void wait_queue(const char *name, int want)
{
    int64_t dl = tproc_now_ms() + DEADLINE_MS;
    for (;;) {
        assert_int_equal(RUN(&P, "--json", "locks", name), 0);
        int n = assert_json_lines(P.out);
        if (n == want)
            return;
        assert_true(tproc_now_ms() < dl);
        poll(NULL, 0, 20); /* polling a condition with a deadline */
    }
}

/* Two lock holders: the second waits until the first's command exits and
 * gets a larger token; --try and --timeout give up with exit 5; CMD's exit
 * status passes through. */
static void lock_two_processes(void **state)
{
    (void)state;
    const char *a[] = {"lock", "demo", "--",  "sh", "-c",
                       "echo A=$COORD_LOCK_TOKEN $COORD_LOCK_PATH; read x; exit 0",
                       NULL};
    ctl_spawn_v(&Q, true, a);
    ctl_wait_for(&Q, true, "A=");
    long long ta = strtoll(strstr(Q.out, "A=") + 2, NULL, 10);
    assert_true(ta > 0);
    assert_non_null(strstr(Q.out, " /locks/demo"));
    const char *b[] = {"lock", "demo", "--", "sh", "-c",
                       "echo B=$COORD_LOCK_TOKEN", NULL};
    ctl_spawn_v(&R, true, b);
    wait_queue("demo", 2); /* B queued behind A */
    assert_int_equal(RUN(&P, "--json", "locks"), 0);
    assert_non_null(strstr(P.out, "\"name\":\"demo\",\"path\":\"/locks/"
                                  "demo\",\"held\":true"));
    assert_int_equal(json_num(strstr(P.out, "\"name\":\"demo\""), "waiters"),
                     1);
    assert_int_equal(json_num(P.out, "token"), ta);
    assert_int_equal(RUN(&P, "lock", "--try", "demo", "--", "true"), 5);
    assert_non_null(strstr(P.err, "held by another session"));
    assert_int_equal(RUN(&P, "--timeout=200", "lock", "demo", "--", "true"),
                     5);
    ctl_pump(&R, 0);
    assert_null(strstr(R.out, "B=")); /* A still holds */
    assert_int_equal(ctl_finish(&Q), 0); /* A's read ends: A releases */
    assert_int_equal(ctl_finish(&R), 0);
    const char *bt = strstr(R.out, "B=");
    assert_non_null(bt);
    assert_true(strtoll(bt + 2, NULL, 10) > ta);
    assert_int_equal(RUN(&P, "lock", "demo", "--", "sh", "-c", "exit 7"), 7);
    assert_int_equal(RUN(&P, "lock", "demo", "--", "/nonexistent/cmd"), 127);
    assert_int_equal(RUN(&P, "lock", "demo"), 2); /* no CMD */
    assert_int_equal(RUN(&P, "lock", "demo", "sh", "-c", "true"), 2);
    assert_one_error(&P, "after '--'");
}

/* The lock node deleted under a running CMD: CMD gets SIGTERM, exit 6. */
static void lock_lost(void **state)
{
    (void)state;
    const char *a[] = {"lock", "lost", "--", "sh", "-c",
                       "trap 'echo TERM; exit 0' TERM; echo ready; "
                       "while :; do sleep 0.05; done", NULL};
    ctl_spawn_v(&Q, true, a);
    ctl_wait_for(&Q, true, "ready");
    assert_int_equal(RUN(&P, "--json", "locks", "lost"), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    char node[160], path[200];
    const char *k = strstr(P.out, "\"node\":\"");
    assert_non_null(k);
    snprintf(node, sizeof(node), "%.*s", (int)strcspn(k + 8, "\""), k + 8);
    snprintf(path, sizeof(path), "/locks/lost/%s", node);
    assert_int_equal(RUN(&P, "rm", path), 0);
    assert_int_equal(ctl_finish(&Q), 6);
    assert_non_null(strstr(Q.out, "TERM"));
    assert_non_null(strstr(Q.err, "lock /locks/lost lost"));
}

/* coordctl killed under its command: the command gets SIGTERM (it must
 * not run on while the session, and the lock, expire). */
static void lock_holder_killed(void **state)
{
    (void)state;
    const char *a[] = {"lock", "killed", "--", "sh", "-c",
                       "trap 'echo TERM; exit 0' TERM; echo ready; "
                       "while :; do sleep 0.05; done", NULL};
    ctl_spawn_v(&Q, true, a);
    ctl_wait_for(&Q, true, "ready");
    assert_int_equal(kill(Q.pid, SIGKILL), 0);
    ctl_wait_for(&Q, true, "TERM"); /* from CMD, through the shared pipe */
    assert_int_equal(ctl_finish(&Q), 128 + SIGKILL);
}

/* The session expires while coordctl is stopped (a server granting at
 * most 1.5 s): once it runs again it learns so, SIGTERMs CMD, exit 6. */
static void lock_session_expired(void **state)
{
    (void)state;
    static struct tproc e;
    tproc_init(&e, "127.0.0.1");
    snprintf(e.extra, sizeof(e.extra), "--session-timeout-ms-max=1500");
    assert_int_equal(tproc_start(&e, 15000), 0);
    char at[64];
    snprintf(at, sizeof(at), "--servers=%s:%u", e.host, e.port);
    const char *a[] = {at, "-v", "lock", "exp", "--", "sh", "-c",
                       "trap 'echo TERM; exit 0' TERM; echo ready; "
                       "while :; do sleep 0.05; done", NULL};
    ctl_spawn_v(&Q, false, a);
    ctl_wait_for(&Q, true, "ready");
    const char *sid = strstr(Q.err, "session 0x");
    assert_non_null(sid);
    char key[64];
    snprintf(key, sizeof(key), "\"id\":\"%.18s\"", sid + 8);
    assert_int_equal(kill(Q.pid, SIGSTOP), 0);
    const char *ls[] = {at, "--json", "sessions", NULL};
    int64_t dl = tproc_now_ms() + DEADLINE_MS;
    do { /* until the server has expired it */
        ctl_spawn_v(&P, false, ls);
        assert_int_equal(ctl_finish(&P), 0);
        assert_true(tproc_now_ms() < dl);
    } while (strstr(P.out, key) != NULL);
    assert_int_equal(kill(Q.pid, SIGCONT), 0);
    assert_int_equal(ctl_finish(&Q), 6);
    assert_non_null(strstr(Q.out, "TERM"));
    assert_non_null(strstr(Q.err, "lock /locks/exp lost"));
    assert_int_equal(tproc_stop(&e, 10000), 0);
    tproc_cleanup(&e);
}

/* Runs a lock on a server granting at most 3 s, then stops the server
 * (it answers nothing, and the cluster counts the timeout from the last
 * time it heard from coordctl): CMD must be told to stop (SIGTERM, seen as
 * `sign` on stdout or stderr) before that timeout has passed, whether it
 * obeys or is killed. The fixed 10 s counted from noticing the
 * disconnection let CMD run on for 11 s. coordctl exits 6 (once the
 * server runs again: its CLOSE waits for it). */
static void lock_until_server_stops(struct tproc *e, const char *cmd,
                                    bool on_stdout, const char *sign)
{
    char at[64];
    snprintf(at, sizeof(at), "--servers=%s:%u", e->host, e->port);
    const char *a[] = {at, "lock", "sil", "--", "sh", "-c", cmd, NULL};
    ctl_spawn_v(&Q, false, a);
    ctl_wait_for(&Q, true, "ready");
    assert_int_equal(kill(e->pid, SIGSTOP), 0);
    int64_t t0 = tproc_now_ms();
    ctl_wait_for(&Q, on_stdout, sign);
    int64_t took = tproc_now_ms() - t0;
    assert_int_equal(kill(e->pid, SIGCONT), 0);
    fprintf(stderr, "server stopped: '%s' after %lld ms\n", sign,
            (long long)took);
    assert_int_equal(ctl_finish(&Q), 6);
    assert_non_null(strstr(Q.err, "lock /locks/sil lost"));
    assert_true(took < 3000);
}

static void lock_ends_cmd_before_expiry(void **state)
{
    (void)state;
    static struct tproc e;
    tproc_init(&e, "127.0.0.1");
    snprintf(e.extra, sizeof(e.extra), "--session-timeout-ms-max=3000");
    assert_int_equal(tproc_start(&e, 15000), 0);
    lock_until_server_stops(&e, "trap 'echo TERM; exit 0' TERM; "
                                "echo ready; while :; do sleep 0.05; done",
                            true, "TERM");
    /* Ignoring SIGTERM: SIGKILL, still within the timeout. */
    lock_until_server_stops(&e, "trap '' TERM; echo ready; "
                                "while :; do sleep 0.05; done",
                            false, "sending SIGKILL");
    assert_int_equal(tproc_stop(&e, 10000), 0);
    tproc_cleanup(&e);
}

/* elect: the first candidate leads (COORD_LEADER_TERM), elections shows
 * its value, the second takes over once the first's command exits. */
static void elect_cmd(void **state)
{
    (void)state;
    const char *a[] = {"elect", "svc", "alpha", "--", "sh", "-c",
                       "echo T=$COORD_LEADER_TERM $COORD_ELECTION_PATH; "
                       "read x; exit 0", NULL};
    ctl_spawn_v(&Q, true, a);
    ctl_wait_for(&Q, true, "T=");
    long long t1 = strtoll(strstr(Q.out, "T=") + 2, NULL, 10);
    assert_true(t1 > 0);
    assert_non_null(strstr(Q.out, "/elections/svc"));
    const char *b[] = {"elect", "svc", "beta", "--", "sh", "-c",
                       "echo T=$COORD_LEADER_TERM", NULL};
    ctl_spawn_v(&R, true, b);
    int64_t dl = tproc_now_ms() + DEADLINE_MS;
    do { /* beta queued */
        assert_int_equal(RUN(&P, "--json", "elections", "svc"), 0);
        assert_true(tproc_now_ms() < dl);
    } while (assert_json_lines(P.out) != 2);
    assert_int_equal(RUN(&P, "--json", "elections"), 0);
    assert_non_null(strstr(P.out, "\"value\":\"alpha\""));
    assert_int_equal(json_num(strstr(P.out, "\"name\":\"svc\""), "term"), t1);
    assert_int_equal(RUN(&P, "elections"), 0);
    assert_non_null(strstr(P.out, "alpha"));
    assert_int_equal(ctl_finish(&Q), 0);
    assert_int_equal(ctl_finish(&R), 0);
    assert_true(strtoll(strstr(R.out, "T=") + 2, NULL, 10) > t1);
    assert_int_equal(RUN(&P, "--timeout=300", "elect", "svc2", "v", "--",
                         "true"), 0);
}

static void barrier_cmd(void **state)
{
    (void)state;
    assert_int_equal(RUN(&P, "barrier", "set", "/bar"), 0);
    assert_int_equal(RUN(&P, "--timeout=200", "barrier", "wait", "/bar"), 5);
    assert_non_null(strstr(P.err, "still waiting"));
    const char *w[] = {"--json", "barrier", "wait", "/bar", NULL};
    ctl_spawn_v(&Q, true, w);
    assert_int_equal(RUN(&P, "barrier", "remove", "/bar"), 0);
    assert_int_equal(ctl_finish(&Q), 0);
    assert_int_equal(assert_json_lines(Q.out), 1);
    assert_int_equal(RUN(&P, "barrier", "wait", "/bar"), 0); /* lowered */
    /* double barrier: one alone times out; two enter together */
    assert_int_equal(RUN(&P, "--timeout=200", "barrier", "enter", "/db0",
                         "2"), 5);
    const char *e1[] = {"barrier", "enter", "/db", "2", "--name", "one",
                        NULL};
    const char *e2[] = {"barrier", "enter", "/db", "2", "--name", "two",
                        NULL};
    ctl_spawn_v(&Q, true, e1);
    ctl_spawn_v(&R, true, e2);
    assert_int_equal(ctl_finish(&Q), 0);
    assert_int_equal(ctl_finish(&R), 0);
    assert_int_equal(RUN(&P, "barrier", "leave", "/db", "--name", "one"), 0);
    assert_int_equal(RUN(&P, "barrier", "bogus", "/x"), 2);
    assert_int_equal(RUN(&P, "barrier", "enter", "/db", "x"), 2);
}

/* Sessions opened in-process are listed with their ephemeral counts. */
static void sessions_cmd(void **state)
{
    (void)state;
    char servers[64];
    snprintf(servers, sizeof(servers), "%s:%u", srv.host, srv.port);
    struct coord_client *c[3];
    uint64_t id[3];
    for (int i = 0; i < 3; i++) {
        struct coord_options o;
        coord_options_init(&o);
        o.servers = servers;
        assert_int_equal(coord_open(&c[i], &o), 0);
        assert_int_equal(coord_exists(c[i], "/", 0, NULL, NULL), 0);
        assert_int_equal(coord_session(c[i], &id[i], NULL), 0);
    }
    assert_int_equal(coord_create(c[0], "/se1", "", 0, COORD_EPHEMERAL, 0,
                                  NULL, NULL), 0);
    assert_int_equal(coord_create(c[0], "/se2", "", 0, COORD_EPHEMERAL, 0,
                                  NULL, NULL), 0);
    assert_int_equal(coord_create(c[2], "/se3", "", 0, COORD_EPHEMERAL, 0,
                                  NULL, NULL), 0);
    assert_int_equal(RUN(&P, "--json", "sessions"), 0);
    int n = assert_json_lines(P.out);
    assert_true(n >= 4); /* ours and coordctl's own */
    const long long want[3] = {2, 0, 1};
    for (int i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof(key), "\"id\":\"0x%016llx\"",
                 (unsigned long long)id[i]);
        const char *line = strstr(P.out, key);
        assert_non_null(line);
        assert_int_equal(json_num(line, "ephemerals"), want[i]);
        assert_int_equal(json_num(line, "timeout_ms"), 10000);
        assert_int_equal(json_num(line, "server"), 1); /* connected here */
    }
    assert_int_equal(RUN(&P, "sessions"), 0);
    int lines = 0;
    for (const char *s = P.out; (s = strchr(s, '\n')) != NULL; s++)
        lines++;
    assert_true(lines >= n); /* a header, then one line per session */
    assert_non_null(strstr(P.out, "EPHEMERALS"));
    coord_close(c[1]);
    assert_int_equal(RUN(&P, "--json", "sessions"), 0);
    char key[64];
    snprintf(key, sizeof(key), "\"id\":\"0x%016llx\"",
             (unsigned long long)id[1]);
    assert_null(strstr(P.out, key)); /* closed: gone */
    coord_close(c[0]);
    coord_close(c[2]);
}

/* Runs coordctl against another server list. */
static int run_at(struct ctl_proc *p, const char *servers, const char **args)
{
    char saved[sizeof(servers_flag)];
    memcpy(saved, servers_flag, sizeof(saved));
    snprintf(servers_flag, sizeof(servers_flag), "--servers=%s", servers);
    ctl_spawn_v(p, true, args);
    memcpy(servers_flag, saved, sizeof(saved));
    return ctl_finish(p);
}

/* The README's tour: a lock holder keeps its lock (same session, same
 * token) while the leader is killed; then the waiter gets it. */
static void lock_through_failover(struct tcluster *cl)
{
    int l = tcluster_leader(cl, 15000);
    assert_true(l >= 0);
    char servers[600];
    snprintf(servers, sizeof(servers), "--servers=%s:%u,%s", cl->node[l].host,
             cl->node[l].port, cl->servers); /* the leader first */
    const char *a[] = {servers, "lock", "tour", "--", "sh", "-c",
                       "echo T=$COORD_LOCK_TOKEN; while read x; do "
                       "echo tick $x; done; exit 0", NULL};
    ctl_spawn_v(&Q, false, a);
    ctl_wait_for(&Q, true, "T=");
    long long t = strtoll(strstr(Q.out, "T=") + 2, NULL, 10);
    const char *b[] = {servers, "lock", "tour", "--", "sh", "-c",
                       "echo U=$COORD_LOCK_TOKEN", NULL};
    ctl_spawn_v(&R, false, b);
    const char *ls[] = {"--json", "locks", "tour", NULL};
    int64_t dl = tproc_now_ms() + DEADLINE_MS;
    do { /* the waiter is queued */
        assert_int_equal(run_at(&P, cl->servers, ls), 0);
        assert_true(tproc_now_ms() < dl);
    } while (assert_json_lines(P.out) != 2);
    char holder[64];
    const char *sess = strstr(P.out, "\"session\":\"");
    assert_non_null(sess);
    snprintf(holder, sizeof(holder), "%.29s", sess); /* with the id */
    tproc_kill(&cl->node[l]);
    assert_true(tcluster_leader(cl, 15000) >= 0);
    ctl_write_in(&Q, "1\n", 2);
    ctl_wait_for(&Q, true, "tick 1"); /* the command still runs */
    assert_int_equal(run_at(&P, cl->servers, ls), 0);
    assert_non_null(strstr(P.out, holder)); /* same holder session */
    assert_int_equal(json_num(P.out, "token"), t);
    ctl_pump(&R, 0);
    assert_null(strstr(R.out, "U="));
    assert_int_equal(ctl_finish(&Q), 0); /* not 6: never lost */
    assert_int_equal(ctl_finish(&R), 0);
    assert_true(strtoll(strstr(R.out, "U=") + 2, NULL, 10) > t);
}

/* snapshot save from a running 3-node cluster (after a leader kill, so
 * from the two survivors), restore into a new data dir, a single coordd
 * on it serves the same tree. */
static void snapshot_save_restore(void **state)
{
    (void)state;
    static struct tcluster cl;
    static struct tproc r;
    static char tree_a[OUT_MAX];
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 30000), 0);
    const char *mk[][6] = {
        {"create", "-p", "/app/cfg/db", "host=db1", NULL},
        {"create", "/app/blob", "\x01\x02\xff", NULL},
        {"create", "-s", "/app/job-", "j", NULL},
        {"set", "/app/cfg", "v2", NULL}};
    for (size_t i = 0; i < sizeof(mk) / sizeof(mk[0]); i++)
        assert_int_equal(run_at(&P, cl.servers, mk[i]), 0);
    lock_through_failover(&cl);
    char file[300];
    tproc_init(&r, "127.0.0.1");
    snprintf(file, sizeof(file), "%s.snap", r.dir);
    const char *save[] = {"--json", "snapshot", "save", file, NULL};
    assert_int_equal(run_at(&P, cl.servers, save), 0);
    assert_int_equal(assert_json_lines(P.out), 1);
    assert_true(json_num(P.out, "index") > 0);
    assert_true(access(file, R_OK) == 0);
    const char *walk[] = {"--json", "tree", "/", "--sizes", NULL};
    assert_int_equal(run_at(&P, cl.servers, walk), 0);
    memcpy(tree_a, P.out, P.out_len + 1);
    tcluster_cleanup(&cl);
    char dd[300];
    snprintf(dd, sizeof(dd), "--data-dir=%s/data", r.dir);
    assert_int_equal(RUN(&P, "snapshot", "restore", file, "--", dd), 0);
    assert_non_null(strstr(P.out, "restored"));
    /* a second restore into the same directory is refused */
    assert_int_equal(RUN(&P, "snapshot", "restore", file, "--", dd), 1);
    assert_int_equal(tproc_start(&r, 15000), 0);
    char at[64];
    snprintf(at, sizeof(at), "%s:%u", r.host, r.port);
    assert_int_equal(run_at(&P, at, walk), 0);
    assert_string_equal(P.out, tree_a);
    const char *get[] = {"get", "/app/cfg/db", NULL};
    assert_int_equal(run_at(&P, at, get), 0);
    assert_string_equal(P.out, "host=db1");
    const char *wr[] = {"create", "/after-restore", NULL}; /* it writes */
    assert_int_equal(run_at(&P, at, wr), 0);
    assert_int_equal(tproc_stop(&r, 10000), 0);
    tproc_cleanup(&r);
    /* a damaged file is refused with a clear message */
    FILE *f = fopen(file, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 50, SEEK_SET), 0);
    fputc('X', f);
    fclose(f);
    tproc_init(&r, "127.0.0.1");
    snprintf(dd, sizeof(dd), "--data-dir=%s/data", r.dir);
    assert_int_equal(RUN(&P, "snapshot", "restore", file, "--", dd), 1);
    tproc_cleanup(&r);
    unlink(file);
    assert_int_equal(RUN(&P, "snapshot", "save"), 2);
    assert_int_equal(RUN(&P, "snapshot", "restore", file), 2);
}

/* More sessions than one SESSIONS page (1000): every one is listed once,
 * in id order. Sessions opened by HELLO on connections closed without
 * CLOSE stay until their timeout. */
static void sessions_paging(void **state)
{
    (void)state;
    enum { N = 1100 };
    static uint64_t ids[N];
    for (int i = 0; i < N; i++) {
        struct rawc c;
        assert_int_equal(rawc_connect(&c, srv.host, srv.port), 0);
        assert_int_equal(rawc_hello(&c, 0, NULL, 30000), 0);
        ids[i] = c.session_id;
        rawc_close(&c);
    }
    assert_int_equal(RUN(&P, "--json", "sessions"), 0);
    int n = assert_json_lines(P.out);
    assert_true(n >= N + 1);
    unsigned long long prev = 0;
    for (const char *s = P.out; (s = strstr(s, "\"id\":\"0x")) != NULL;
         s++) {
        unsigned long long id = strtoull(s + 8, NULL, 16);
        assert_true(id > prev); /* ascending, no repeats */
        prev = id;
    }
    for (int i = 0; i < N; i++) {
        char key[64];
        snprintf(key, sizeof(key), "\"id\":\"0x%016llx\"",
                 (unsigned long long)ids[i]);
        assert_non_null(strstr(P.out, key));
    }
}

/* `coordctl help CMD` works for every command of --help. */
static void help_every_command(void **state)
{
    (void)state;
    static char all[OUT_MAX];
    assert_int_equal(RUN(&P, "--help"), 0);
    memcpy(all, P.out, P.out_len + 1);
    const char *c = strstr(all, "Commands:\n");
    assert_non_null(c);
    int n = 0;
    for (c = strchr(c, '\n') + 1; strncmp(c, "  ", 2) == 0;
         c = strchr(c, '\n') + 1) {
        char name[32], want[64];
        assert_int_equal(sscanf(c, " %31s", name), 1);
        assert_int_equal(RUN(&P, "help", name), 0);
        snprintf(want, sizeof(want), "usage: coordctl [global flags] %s",
                 name);
        assert_non_null(strstr(P.out, want));
        assert_non_null(strstr(P.out, "Exit codes"));
        n++;
    }
    assert_int_equal(n, 22);
    assert_int_equal(RUN(&P, "help", "lock"), 0);
    assert_non_null(strstr(P.out, "COORD_LOCK_TOKEN"));
    assert_non_null(strstr(P.out, "SIGTERM"));
}

/* The completion file offers every command of `coordctl --help` and the
 * flags of a command. */
static void bash_completion(void **state)
{
    (void)state;
    static const char script[] =
        "source deploy/coordctl.bash-completion || exit 9\n"
        "t() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1));\n"
        "      _coordctl 2>/dev/null; echo \"${COMPREPLY[*]}\"; }\n"
        "t coordctl ''\n"
        "t coordctl --json create /a --e\n"
        "t coordctl rm /a -\n"
        "t coordctl lock demo -- printen\n"
        "t coordctl barrier ent\n";
    char sh[] = "/tmp/coordctl-compl-XXXXXX";
    int fd = mkstemp(sh);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, script, strlen(script)),
                     (ssize_t)strlen(script));
    close(fd);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "bash --norc %s", sh);
    FILE *o = popen(cmd, "r");
    assert_non_null(o);
    char cmds[512] = "", create[512] = "", rm[512] = "";
    char lockcmd[512] = "", barrier[512] = "";
    assert_non_null(fgets(cmds, sizeof(cmds), o));
    assert_non_null(fgets(create, sizeof(create), o));
    assert_non_null(fgets(rm, sizeof(rm), o));
    assert_non_null(fgets(lockcmd, sizeof(lockcmd), o));
    assert_non_null(fgets(barrier, sizeof(barrier), o));
    int prc = pclose(o);
    unlink(sh);
    assert_int_equal(prc, 0);
    assert_int_equal(RUN(&P, "--help"), 0);
    const char *c = strstr(P.out, "Commands:\n");
    assert_non_null(c);
    int n = 0;
    for (c = strchr(c, '\n') + 1; strncmp(c, "  ", 2) == 0;
         c = strchr(c, '\n') + 1) {
        char name[32];
        assert_int_equal(sscanf(c, " %31s", name), 1);
        char word[40];
        snprintf(word, sizeof(word), " %s ", name);
        char padded[520];
        snprintf(padded, sizeof(padded), " %.*s ", (int)strcspn(cmds, "\n"),
                 cmds);
        if (strstr(padded, word) == NULL)
            fprintf(stderr, "completion lacks '%s': %s", name, cmds);
        assert_non_null(strstr(padded, word));
        n++;
    }
    assert_int_equal(n, 22); /* 10 node, 5 admin, 5 recipe, sessions,
                                snapshot */
    assert_string_equal(create, "--ephemeral\n");
    assert_non_null(strstr(rm, "--recursive"));
    assert_non_null(strstr(rm, "--version"));
    assert_null(strstr(rm, "--ephemeral"));
    assert_non_null(strstr(lockcmd, "printenv")); /* CMD after -- */
    assert_string_equal(barrier, "enter\n");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usage_errors),
        cmocka_unit_test(unreachable),
        cmocka_unit_test(create_get_set_stat),
        cmocka_unit_test(json_output),
        cmocka_unit_test(create_flags),
        cmocka_unit_test(ls_and_tree),
        cmocka_unit_test(rm_paths),
        cmocka_unit_test(multi_ops),
        cmocka_unit_test(sync_cmd),
        cmocka_unit_test(watch_one_shot),
        cmocka_unit_test(watch_persistent),
        cmocka_unit_test(container_and_ttl),
        cmocka_unit_test(connection_lost),
        cmocka_unit_test(servers_from_env),
        cmocka_unit_test(request_timeout),
        cmocka_unit_test(bash_completion),
        cmocka_unit_test(lock_two_processes),
        cmocka_unit_test(lock_lost),
        cmocka_unit_test(lock_holder_killed),
        cmocka_unit_test(lock_session_expired),
        cmocka_unit_test(lock_ends_cmd_before_expiry),
        cmocka_unit_test(elect_cmd),
        cmocka_unit_test(barrier_cmd),
        cmocka_unit_test(sessions_cmd),
        cmocka_unit_test(snapshot_save_restore),
        cmocka_unit_test(help_every_command),
        cmocka_unit_test(sessions_paging), /* last: leaves 1100 sessions */
    };
    return cmocka_run_group_tests_name("coordctl", tests, setup, teardown);
}
