/* test_snapshot_fork.c -- snapshots are serialized by a forked child while
 * the event loop keeps serving (docs/snapshots.md, coordd/snapfork.h).
 *
 * First, in-process: a prepared snapshot pass writes without one
 * allocation and gives tree_snapshot_write's bytes, also from a child
 * started by snapfork_start, and a child whose coord_assert fails exits
 * with SNAPFORK_EXIT_PANIC (write(2) + _exit, no stdio, no abort). Then
 * against a real coordd: the test finds the serializing child among
 * coordd's children (the "children" file of each task under
 * /proc/PID/task), holds it by a pidfd (its parent checked after opening,
 * so a recycled PID is never signalled) and SIGSTOPs it, so the snapshot
 * cannot finish, and checks that the server still answers writes and
 * reads; that writes past the full log wait (not fail) until the child is
 * resumed and the snapshot compacts the log; that a killed child is
 * logged, reaped and followed by a successful snapshot; that a child left
 * stopped is killed after snapshot_child_timeout_ms, writes meanwhile are
 * held at most snapshot_hold_ms and then answered COORD_EAGAIN, and a
 * snapshot export answers COORD_EBUSY instead of freezing the loop; and
 * that SIGTERM with a stopped child kills it, exits cleanly and loses
 * nothing. No timing is asserted: every wait polls a condition with a
 * deadline. With a coordd that serializes on its loop there is no child
 * to find, and the catching step fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/snapfork.h"
#include "coordd/tree/tree.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "test/lib/proc.h"
#include "test/lib/rawclient.h"

#define SNAP_ENTRIES 2000 /* --snapshot-entries */
#define FILL 20000        /* nodes with VALUE_BYTES each: a ~9 MB snapshot */
#define VALUE_BYTES 400
#define WINDOW 64
#define CATCH_ROUNDS 40   /* snapshots to try before giving up */
#define DEADLINE_MS 60000

/* ---- in-process: the pass allocates nothing --------------------------- */

struct membuf {
    uint8_t *p;
    size_t len, cap;
};

static int mem_write(void *data, const void *bytes, size_t len)
{
    struct membuf *m = data;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->len, bytes, len);
    m->len += len;
    return 0;
}

static int apply_cmd(struct tree *t, uint64_t *zxid, struct tree_cmd *c)
{
    const struct tree_result *r;
    c->time_ms = 1700000000000LL;
    return tree_apply(t, ++*zxid, c, NULL, NULL, &r);
}

/* A tree with sessions (cached results included) and nested nodes. */
static struct tree *sample_tree(void)
{
    struct tree *t;
    assert_int_equal(tree_open(&t, NULL), 0);
    uint64_t zxid = 0;
    for (uint64_t s = 9; s >= 1; s--) { /* ids out of order: sorted */
        struct tree_cmd c = {.type = TREE_CMD_SESSION_OPEN,
                             .session_id = s * 7919, .timeout_ms = 10000};
        memset(c.secret, (int)s, sizeof(c.secret));
        assert_int_equal(apply_cmd(t, &zxid, &c), 0);
    }
    for (int i = 0; i < 300; i++) {
        char path[64];
        if (i % 3 == 0)
            snprintf(path, sizeof(path), "/n%d", i / 3);
        else
            snprintf(path, sizeof(path), "/n%d/c%d", i / 3, i % 3);
        struct tree_cmd c = {.type = TREE_CMD_CREATE,
                             .session_id = (uint64_t)(1 + i % 9) * 7919,
                             .xid = (uint64_t)(i + 1)};
        c.op = (struct tree_op){.type = TREE_CMD_CREATE, .path = path,
                                .path_len = (uint32_t)strlen(path),
                                .data = "value", .data_len = 5};
        assert_int_equal(apply_cmd(t, &zxid, &c), 0);
    }
    return t;
}

static int pipe_cb(void *data, const void *bytes, size_t len)
{
    return snapfork_write(*(const int *)data, bytes, len);
}

static int child_fn(void *data, int fd)
{
    return tree_snapshot_pass_write(data, pipe_cb, &fd);
}

static void pass_allocates_nothing(void **state)
{
    (void)state;
    struct tree *t = sample_tree();
    struct membuf ref = {0}, got = {0};
    assert_int_equal(tree_snapshot_write(t, mem_write, &ref), 0);
    struct tree_snapshot_pass *pass;
    assert_int_equal(tree_snapshot_prepare(t, &pass), 0);
    coord_alloc_counting_enable(0);
    int rc = tree_snapshot_pass_write(pass, mem_write, &got);
    uint64_t allocs = coord_alloc_count();
    coord_alloc_counting_disable();
    assert_int_equal(rc, 0);
    assert_int_equal(allocs, 0);
    assert_int_equal(got.len, ref.len);
    assert_memory_equal(got.p, ref.p, ref.len);
    /* The same bytes from a forked child, collected through the pipe. */
    struct snapfork f;
    assert_int_equal(snapfork_start(&f, child_fn, pass), 0);
    assert_true(f.pid > 0);
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(snapfork_collect(&f, &buf, &len, &cap), 0);
    snapfork_reap(&f);
    assert_int_equal(f.exit_code, 0);
    assert_int_equal(len, ref.len);
    assert_memory_equal(buf, ref.p, ref.len);
    coord_free(buf);
    tree_snapshot_pass_free(pass);
    tree_close(t);
    free(ref.p);
    free(got.p);
}

/* A child that fails: collect says so, reap learns how. */
static int failing_fn(void *data, int fd)
{
    (void)data;
    snapfork_write(fd, "partial", 7);
    return COORD_EIO;
}

/* A child whose invariant check fails: the panic hook snapfork installs
 * writes with write(2) and _exits SNAPFORK_EXIT_PANIC (coord__panic's
 * stdio and abort would end it with signal 6). */
static int panicking_fn(void *data, int fd)
{
    (void)data;
    (void)fd;
    coord_assert(data != NULL);
    return 0;
}

static void child_panic_exits_without_stdio(void **state)
{
    (void)state;
    struct snapfork f;
    assert_int_equal(snapfork_start(&f, panicking_fn, NULL), 0);
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(snapfork_collect(&f, &buf, &len, &cap), COORD_EIO);
    snapfork_reap(&f);
    assert_int_equal(f.signo, 0);
    assert_int_equal(f.exit_code, SNAPFORK_EXIT_PANIC);
    coord_free(buf);
}

static void failed_child_is_reported(void **state)
{
    (void)state;
    struct snapfork f;
    assert_int_equal(snapfork_start(&f, failing_fn, NULL), 0);
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    assert_int_equal(snapfork_collect(&f, &buf, &len, &cap), COORD_EIO);
    assert_int_equal(len, 7);
    pid_t pid = f.pid;
    snapfork_reap(&f);
    assert_int_equal(f.exit_code, 1);
    assert_int_equal(f.pid, 0);
    /* reaped: no zombie of ours left under that PID */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    coord_free(buf);
}

/* ---- against a real coordd -------------------------------------------- */

static struct tproc p;
/* The caught child: its pid (for logs and /proc) and a pidfd, through
 * which alone it is signalled (killed by teardown if a test failed). */
static pid_t stopped_child;
static int stopped_fd = -1;

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_signal(int fd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

static void forget_child(void)
{
    if (stopped_fd >= 0)
        close(stopped_fd);
    stopped_fd = -1;
    stopped_child = 0;
}

static int teardown(void **state)
{
    (void)state;
    if (stopped_fd >= 0)
        pidfd_signal(stopped_fd, SIGKILL);
    forget_child();
    tproc_cleanup(&p);
    return 0;
}

static int count_in(const char *log, const char *s)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, s) != NULL;
    fclose(f);
    return n;
}

static int count_lines(const char *s)
{
    return count_in(p.log, s);
}

/* Polls until count_lines(s) > min; false at the deadline. */
static bool wait_lines(const char *s, int min)
{
    int64_t end = tproc_now_ms() + DEADLINE_MS;
    while (count_lines(s) <= min) {
        if (tproc_now_ms() > end)
            return false;
        usleep(2000);
    }
    return true;
}

/* Some child of the server, from /proc/PID/task/TID/children; 0: none. */
static pid_t find_child(pid_t server)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)server);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    pid_t found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[400];
        snprintf(path, sizeof(path), "%s/%s/children", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int pid = 0;
        if (fscanf(f, "%d", &pid) == 1)
            found = pid;
        fclose(f);
    }
    closedir(d);
    return found;
}

/* The state letter of /proc/PID/stat (R S D T Z ...) of pid as a child of
 * parent, or 0 if there is none (gone, or the PID now names a process
 * that is not parent's child: ours was reaped). */
static char proc_state(pid_t pid, pid_t parent)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    char st;
    int ppid;
    if (!rp || sscanf(rp + 1, " %c %d", &st, &ppid) != 2 || ppid != parent)
        return 0;
    return st;
}

/* Polls until pid's state is one of states (0 = gone counts as "0"). */
static char wait_state(pid_t pid, pid_t parent, const char *states)
{
    int64_t end = tproc_now_ms() + DEADLINE_MS;
    for (;;) {
        char s = proc_state(pid, parent);
        if (s == 0 ? strchr(states, '0') != NULL : strchr(states, s) != NULL)
            return s;
        if (tproc_now_ms() > end)
            return s;
        usleep(1000);
    }
}

/* A thread that SIGSTOPs the first child of the server it finds still
 * serializing (a child that finished first shows as a zombie or is gone:
 * it then waits for the next one). */
struct catcher {
    pthread_t th;
    pid_t server;
    atomic_int stopped; /* the stopped child's pid, once caught */
    int fd;             /* its pidfd (set before stopped) */
    atomic_bool quit;
};

/* A pidfd for pid if it is (still, after the open) server's child, so
 * that the descriptor names that child and no later holder of its PID;
 * -1 otherwise. */
static int open_child(pid_t pid, pid_t server)
{
    int fd = pidfd_open_(pid);
    if (fd < 0)
        return -1;
    if (proc_state(pid, server) == 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *catcher_main(void *arg)
{
    struct catcher *c = arg;
    pid_t missed = 0;
    while (!atomic_load(&c->quit)) {
        pid_t ch = find_child(c->server);
        int fd = ch > 0 && ch != missed ? open_child(ch, c->server) : -1;
        if (fd >= 0) {
            pidfd_signal(fd, SIGSTOP);
            if (wait_state(ch, c->server, "TZX0") == 'T') {
                c->fd = fd;
                atomic_store(&c->stopped, ch);
                return NULL;
            }
            close(fd);
            missed = ch;
        }
        usleep(200);
    }
    return NULL;
}

/* Starts a catcher thread on server; with the writes that make snapshots
 * running meanwhile, then end_catch: the caught child's pid (0: none),
 * recorded in stopped_child/stopped_fd. */
static void end_catch(struct catcher *cat)
{
    atomic_store(&cat->quit, true);
    pthread_join(cat->th, NULL);
    stopped_child = atomic_load(&cat->stopped);
    stopped_fd = stopped_child > 0 ? cat->fd : -1;
}

static void long_timeout(struct rawc *c)
{
    struct timeval tv = {.tv_sec = DEADLINE_MS / 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Answers of write_window other than success, by kind. */
static int n_eagain, n_other;

/* Pipelines count writes (CREATE of prefix<i> when create, else SET of
 * path), window in flight, sending no more once *stop is set (may be
 * NULL); returns how many succeeded (-1: connection failed); failures are
 * counted in n_eagain and n_other. */
static int write_window(struct rawc *c, bool create, const char *path,
                        int count, int window, const atomic_int *stop)
{
    static char value[VALUE_BYTES];
    memset(value, 'v', sizeof(value));
    int sent = 0, got = 0, ok = 0;
    while (got < sent || sent < count) {
        if (stop && atomic_load(stop))
            count = sent;
        while (sent < count && sent - got < window) {
            char name[64];
            struct wire_req q = {.op = create ? WIRE_OP_CREATE : WIRE_OP_SET};
            if (create) {
                snprintf(name, sizeof(name), "%s%d", path, sent);
                q.u.create.path = (struct wire_bytes){name, strlen(name)};
                q.u.create.data = (struct wire_bytes){value, sizeof(value)};
            } else {
                q.u.set.path = (struct wire_bytes){path, strlen(path)};
                q.u.set.data = (struct wire_bytes){"x", 1};
                q.u.set.version = -1;
            }
            if (rawc_send(c, &q) < 0)
                return -1;
            sent++;
        }
        if (got == sent)
            break;
        struct wire_resp r;
        if (rawc_read(c, &r) != 0)
            return -1;
        if (r.xid <= 0)
            continue; /* a watch event: none are set */
        got++;
        ok += r.err == 0;
        n_eagain += r.err == COORD_EAGAIN;
        n_other += r.err != 0 && r.err != COORD_EAGAIN;
    }
    return ok;
}

static int write_many(struct rawc *c, bool create, const char *path,
                      int count)
{
    return write_window(c, create, path, count, WINDOW, NULL);
}

/* Starts the server (with extra flags, may be ""), grows the tree, then
 * writes until a serializing child is caught and stopped; returns its pid
 * (test fails otherwise). */
static pid_t start_and_stop_a_child(struct rawc *c, const char *extra)
{
    tproc_init(&p, "127.0.0.1");
    snprintf(p.extra, sizeof(p.extra), "--snapshot-entries=%d %s",
             SNAP_ENTRIES, extra);
    assert_int_equal(tproc_start(&p, 20000), 0);
    assert_int_equal(rawc_connect(c, p.host, p.port), 0);
    long_timeout(c);
    assert_int_equal(rawc_hello(c, 0, NULL, 30000), 0);
    assert_int_equal(rawc_create(c, "/f", "", 0, NULL, 0), 0);
    assert_int_equal(rawc_create(c, "/k", "", 0, NULL, 0), 0);
    assert_int_equal(write_many(c, true, "/f/", FILL), FILL);
    struct catcher cat = {.server = p.pid};
    assert_int_equal(pthread_create(&cat.th, NULL, catcher_main, &cat), 0);
    /* A narrow window, and no new write once the child is stopped: the
     * log must keep room for the test's writes (2 x SNAP_ENTRIES + 1024
     * entries; a snapshot starts at SNAP_ENTRIES). */
    for (int i = 0; i < CATCH_ROUNDS && !atomic_load(&cat.stopped); i++)
        assert_true(write_window(c, false, "/k", SNAP_ENTRIES / 4, 4,
                                 &cat.stopped) >= 0);
    end_catch(&cat);
    if (stopped_child <= 0)
        fprintf(stderr, "no serializing child of coordd %d was caught; "
                "snapshots started: %d\n", (int)p.pid,
                count_lines("snapshot started"));
    assert_true(stopped_child > 0);
    assert_true(tproc_log_has(&p, "snapshot started"));
    return stopped_child;
}

struct resumer {
    pthread_t th;
    int fd; /* the child's pidfd */
    bool saw_hold;
};

/* Resumes the child once the server says writes wait for it. */
static void *resumer_main(void *arg)
{
    struct resumer *r = arg;
    r->saw_hold = wait_lines("writes wait for snapshot", 0);
    pidfd_signal(r->fd, SIGCONT);
    return NULL;
}

static void loop_serves_while_child_stopped(void **state)
{
    (void)state;
    struct rawc c;
    pid_t child = start_and_stop_a_child(&c, "");
    int taken = count_lines("snapshot taken");
    /* The snapshot cannot finish, yet writes and reads are answered. */
    assert_int_equal(write_many(&c, false, "/k", 500), 500);
    char buf[16];
    assert_int_equal(rawc_get(&c, "/k", 0, buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "x");
    assert_int_equal(rawc_exists(&c, "/f/7", 0, NULL), 0);
    assert_int_equal(rawc_create(&c, "/during", "d", 0, NULL, 0), 0);
    assert_int_equal(proc_state(child, p.pid), 'T');
    assert_int_equal(count_lines("snapshot taken"), taken);
    /* An export asked for now is parked until a snapshot covering what is
     * applied exists; the loop goes on serving meanwhile. */
    struct rawc d;
    assert_int_equal(rawc_connect(&d, p.host, p.port), 0);
    long_timeout(&d);
    assert_int_equal(rawc_hello(&d, 0, NULL, 30000), 0);
    uint64_t want = c.last_zxid;
    struct wire_req q = {.op = WIRE_OP_SNAPSHOT_READ};
    int64_t xid = rawc_send(&d, &q);
    assert_true(xid > 0);
    assert_int_equal(write_many(&c, false, "/k", 100), 100);
    struct pollfd pd = {.fd = d.fd, .events = POLLIN};
    assert_int_equal(poll(&pd, 1, 0), 0); /* not answered, not refused */
    /* Past the log's capacity (2 x snapshot_entries + 1024) writes wait
     * for the snapshot rather than fail: all succeed once it resumes. */
    struct resumer r = {.fd = stopped_fd};
    assert_int_equal(pthread_create(&r.th, NULL, resumer_main, &r), 0);
    int ok = write_many(&c, false, "/k", 3 * SNAP_ENTRIES);
    pthread_join(r.th, NULL);
    assert_true(r.saw_hold);
    assert_int_equal(ok, 3 * SNAP_ENTRIES);
    assert_true(wait_lines("snapshot taken", taken));
    /* The stopped child's snapshot is older than the export: a new pass
     * was started for it, and its first chunk answers the request. */
    struct wire_resp er;
    assert_int_equal(rawc_wait(&d, xid, &er, NULL), 0);
    assert_int_equal(er.err, 0);
    assert_true(er.u.snapshot.index >= want);
    assert_true(er.u.snapshot.total > 0 && er.u.snapshot.chunk.len > 0);
    rawc_close(&d);
    assert_int_equal(wait_state(child, p.pid, "0"), 0); /* reaped */
    forget_child();
    assert_int_equal(count_lines("snapshot child failed"), 0);
    rawc_close(&c);
    assert_int_equal(tproc_stop(&p, 20000), 0);
}

static void killed_child_is_retried(void **state)
{
    (void)state;
    struct rawc c;
    pid_t child = start_and_stop_a_child(&c, "");
    int taken = count_lines("snapshot taken");
    pidfd_signal(stopped_fd, SIGKILL);
    assert_true(wait_lines("snapshot child failed", 0));
    assert_int_equal(wait_state(child, p.pid, "0"), 0); /* reaped */
    forget_child();
    assert_true(tproc_log_has(&p, "signal 9"));
    /* Still serving; a later snapshot (after snapshot_retry_ms) works.
     * The writes are paced (not a synchronization: any pace passes) so
     * that the 1 s pause cannot fill the log on a fast machine; a full
     * log with no snapshot running answers COORD_EAGAIN by design. */
    int64_t end = tproc_now_ms() + DEADLINE_MS;
    while (count_lines("snapshot taken") <= taken) {
        assert_true(tproc_now_ms() < end);
        assert_int_equal(rawc_set(&c, "/k", "y", -1, NULL), 0);
        usleep(5000);
    }
    char buf[16];
    assert_int_equal(rawc_get(&c, "/k", 0, buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "y");
    rawc_close(&c);
    assert_int_equal(tproc_stop(&p, 20000), 0);
}

/* A child left stopped: an export needing it is parked, not waited for on
 * the loop (writes go on meanwhile), and answered once the child's
 * snapshot ends (here: killed, failed: COORD_EBUSY); writes that find
 * the log full wait snapshot_hold_ms at most, then get COORD_EAGAIN (no
 * other error, none unanswered); after snapshot_child_timeout_ms the child
 * is killed, reaped and logged as failed, and a later snapshot is taken
 * (after snapshot_retry_ms), so writes succeed again. */
static void stopped_child_times_out(void **state)
{
    (void)state;
    struct rawc c;
    pid_t child = start_and_stop_a_child(
        &c, "--snapshot-child-timeout-ms=8000 --snapshot-hold-ms=300 "
            "--snapshot-retry-ms=100");
    int taken = count_lines("snapshot taken");
    struct rawc d;
    assert_int_equal(rawc_connect(&d, p.host, p.port), 0);
    long_timeout(&d);
    assert_int_equal(rawc_hello(&d, 0, NULL, 30000), 0);
    struct wire_req q = {.op = WIRE_OP_SNAPSHOT_READ};
    int64_t xid = rawc_send(&d, &q); /* parked behind the stopped child */
    assert_true(xid > 0);
    /* Past the full log: held, then refused, until the child is killed. */
    n_eagain = n_other = 0;
    int64_t end = tproc_now_ms() + DEADLINE_MS;
    while (n_eagain == 0 && count_lines("snapshot child timed out") == 0) {
        assert_true(tproc_now_ms() < end);
        assert_true(write_many(&c, false, "/k", SNAP_ENTRIES) >= 0);
    }
    assert_int_equal(n_other, 0);
    assert_true(n_eagain > 0); /* else the child died first: too slow */
    /* The writes were served while the export waited: no answer yet,
     * unless the child's snapshot has ended (logged before the answer). */
    struct pollfd pd = {.fd = d.fd, .events = POLLIN};
    bool answered = poll(&pd, 1, 0) > 0;
    assert_true(!answered || count_lines("snapshot child failed") > 0);
    assert_true(tproc_log_has(&p, "writes wait for snapshot"));
    assert_true(tproc_log_has(&p, "writes refused: snapshot too slow"));
    char line[96];
    snprintf(line, sizeof(line), "pid=%d ", (int)child);
    assert_true(wait_lines("snapshot child timed out", 0));
    assert_true(wait_lines("snapshot child failed", 0));
    struct wire_resp r;
    assert_int_equal(rawc_wait(&d, xid, &r, NULL), 0);
    assert_int_equal(r.err, COORD_EBUSY); /* no snapshot covers it yet */
    rawc_close(&d);
    assert_int_equal(count_lines(line), 3); /* started, timed out, failed */
    assert_true(tproc_log_has(&p, "signal 9"));
    assert_int_equal(wait_state(child, p.pid, "0"), 0); /* reaped */
    forget_child();
    /* A later snapshot is taken; writes succeed again. */
    end = tproc_now_ms() + DEADLINE_MS;
    while (count_lines("snapshot taken") <= taken) {
        assert_true(tproc_now_ms() < end);
        int rc = rawc_set(&c, "/k", "z", -1, NULL);
        assert_true(rc == 0 || rc == COORD_EAGAIN);
        usleep(5000);
    }
    assert_int_equal(rawc_set(&c, "/k", "done", -1, NULL), 0);
    char buf[16];
    assert_int_equal(rawc_get(&c, "/k", 0, buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "done");
    rawc_close(&c);
    assert_int_equal(tproc_stop(&p, 20000), 0);
}

static void shutdown_with_child_stopped(void **state)
{
    (void)state;
    struct rawc c;
    pid_t child = start_and_stop_a_child(&c, "");
    assert_int_equal(rawc_set(&c, "/k", "last", -1, NULL), 0);
    rawc_close(&c);
    /* SIGTERM: the child is killed and reaped, the exit is clean. The
     * log says so (the child's PR_SET_PDEATHSIG alone would also end it,
     * but neither reaped nor logged). */
    pid_t server = p.pid;
    assert_int_equal(tproc_stop(&p, 30000), 0);
    assert_int_equal(wait_state(child, server, "0"), 0);
    forget_child();
    char line[96];
    snprintf(line, sizeof(line), "pid=%d end=\"signal 9\"", (int)child);
    assert_int_equal(count_lines("snapshot aborted"), 1);
    assert_int_equal(count_lines(line), 1);
    /* Nothing lost: the log still held what the snapshot would cover. */
    assert_int_equal(tproc_start(&p, 30000), 0);
    assert_int_equal(rawc_connect(&c, p.host, p.port), 0);
    long_timeout(&c);
    assert_int_equal(rawc_hello(&c, 0, NULL, 30000), 0);
    char buf[16];
    struct coord_stat st;
    assert_int_equal(rawc_get(&c, "/k", 0, buf, sizeof(buf), NULL), 0);
    assert_string_equal(buf, "last");
    assert_int_equal(rawc_get(&c, "/f", 0, buf, sizeof(buf), &st), 0);
    assert_int_equal(st.num_children, FILL);
    rawc_close(&c);
    assert_int_equal(tproc_stop(&p, 20000), 0);
}

/* A follower whose own snapshot child is stopped cannot compact: its log
 * fills, the leader compacts past it and sends its snapshot. Installing
 * it kills and reaps the child, drops our snapshot, and the follower
 * catches up. */
static struct tcluster cl;

static int teardown_cluster(void **state)
{
    (void)state;
    if (stopped_fd >= 0)
        pidfd_signal(stopped_fd, SIGKILL);
    forget_child();
    tcluster_cleanup(&cl);
    return 0;
}

/* Polls f until a sync-free GET of path returns want (false after
 * DEADLINE_MS). f may still be catching up by yet another snapshot: a
 * HELLO it forwards meanwhile is answered COORD_ECONNLOSS (outcome
 * unknown) and the install closes the connections of sessions; like
 * libcoord, we then say HELLO again on a new connection. */
static bool follower_serves(const struct tproc *f, const char *path,
                            const char *want)
{
    int64_t end = tproc_now_ms() + DEADLINE_MS;
    while (tproc_now_ms() < end) {
        struct rawc d;
        if (rawc_connect(&d, f->host, f->port) != 0) {
            usleep(10000);
            continue;
        }
        long_timeout(&d);
        char buf[16] = "";
        bool got = false;
        int rc = rawc_hello(&d, 0, NULL, 30000);
        while (rc == 0 && !got && tproc_now_ms() < end) {
            rc = rawc_get(&d, path, 0, buf, sizeof(buf), NULL);
            got = rc == 0 && strcmp(buf, want) == 0;
            if (rc == 0 && !got)
                usleep(10000);
        }
        rawc_close(&d);
        if (got)
            return true;
        /* only a lost connection or answer is worth another HELLO */
        assert_true(rc == 0 || rc == -1 || rc == COORD_ECONNLOSS);
    }
    return false;
}

static void install_while_child_stopped(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "--snapshot-entries=500");
    assert_int_equal(tcluster_start(&cl, 60000), 0);
    int l = tcluster_leader(&cl, 30000);
    assert_true(l >= 0);
    struct tproc *f = &cl.node[(l + 1) % cl.n];
    struct rawc c;
    assert_int_equal(rawc_connect(&c, cl.node[l].host, cl.node[l].port), 0);
    long_timeout(&c);
    assert_int_equal(rawc_hello(&c, 0, NULL, 30000), 0);
    assert_int_equal(rawc_create(&c, "/k", "", 0, NULL, 0), 0);
    assert_int_equal(rawc_create(&c, "/f", "", 0, NULL, 0), 0);
    /* a tree whose serialization takes long enough to be caught */
    assert_int_equal(write_many(&c, true, "/f/", FILL / 4), FILL / 4);
    struct catcher cat = {.server = f->pid};
    assert_int_equal(pthread_create(&cat.th, NULL, catcher_main, &cat), 0);
    for (int i = 0; i < CATCH_ROUNDS && !atomic_load(&cat.stopped); i++)
        assert_true(write_window(&c, false, "/k", 250, 4, &cat.stopped) >=
                    0);
    end_catch(&cat);
    pid_t child = stopped_child;
    assert_true(child > 0);
    int64_t end = tproc_now_ms() + DEADLINE_MS;
    while (count_in(f->log, "snapshot installed") == 0) {
        assert_true(tproc_now_ms() < end);
        assert_true(write_window(&c, false, "/k", 250, 16, NULL) >= 0);
    }
    assert_int_equal(wait_state(child, f->pid, "0"), 0); /* reaped */
    forget_child();
    assert_int_equal(rawc_set(&c, "/k", "after", -1, NULL), 0);
    rawc_close(&c);
    /* The follower serves the newest value (sync-free read polled). */
    assert_true(follower_serves(f, "/k", "after"));
    assert_int_equal(count_in(f->log, "snapshot child failed"), 0);
}

/* Writes forwarded by a follower to a leader whose own snapshot child is
 * stopped: once the leader's log is full and its hold window over, the
 * leader refuses them (REFUSED frames) and the follower's clients get
 * COORD_EAGAIN at once -- not COORD_ECONNLOSS after the forward timeout
 * (the leader used to drop them silently). */
static void forwarded_writes_refused_with_eagain(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "--snapshot-entries=500 --snapshot-hold-ms=300 "
                          "--snapshot-child-timeout-ms=50000");
    assert_int_equal(tcluster_start(&cl, 60000), 0);
    int l = tcluster_leader(&cl, 30000);
    assert_true(l >= 0);
    struct tproc *ld = &cl.node[l], *f = &cl.node[(l + 1) % cl.n];
    struct rawc c;
    assert_int_equal(rawc_connect(&c, ld->host, ld->port), 0);
    long_timeout(&c);
    assert_int_equal(rawc_hello(&c, 0, NULL, 30000), 0);
    assert_int_equal(rawc_create(&c, "/k", "", 0, NULL, 0), 0);
    assert_int_equal(rawc_create(&c, "/f", "", 0, NULL, 0), 0);
    assert_int_equal(write_many(&c, true, "/f/", FILL / 4), FILL / 4);
    struct catcher cat = {.server = ld->pid};
    assert_int_equal(pthread_create(&cat.th, NULL, catcher_main, &cat), 0);
    for (int i = 0; i < CATCH_ROUNDS && !atomic_load(&cat.stopped); i++)
        assert_true(write_window(&c, false, "/k", 125, 4, &cat.stopped) >=
                    0);
    end_catch(&cat);
    assert_true(stopped_child > 0);
    rawc_close(&c);
    /* Through the follower, past the leader's log (2 x 500 + 1024). */
    struct rawc d;
    assert_int_equal(rawc_connect(&d, f->host, f->port), 0);
    long_timeout(&d);
    assert_int_equal(rawc_hello(&d, 0, NULL, 30000), 0);
    n_eagain = n_other = 0;
    int64_t end = tproc_now_ms() + DEADLINE_MS;
    while (n_eagain == 0) {
        assert_true(tproc_now_ms() < end);
        assert_true(write_many(&d, false, "/k", 1000) >= 0);
        assert_int_equal(n_other, 0); /* no COORD_ECONNLOSS time-outs */
    }
    assert_true(count_in(ld->log, "writes refused: snapshot too slow") > 0);
    assert_int_equal(count_in(ld->log, "snapshot child timed out"), 0);
    /* Resumed: the snapshot compacts, writes through the follower work. */
    pidfd_signal(stopped_fd, SIGCONT);
    end = tproc_now_ms() + DEADLINE_MS;
    int rc;
    while ((rc = rawc_set(&d, "/k", "fwd", -1, NULL)) == COORD_EAGAIN) {
        assert_true(tproc_now_ms() < end);
        usleep(10000);
    }
    assert_int_equal(rc, 0);
    forget_child();
    rawc_close(&d);
}

/* COORD_EAGAIN a snapshot cannot relieve is answered at once: a write
 * larger than uncommitted_bytes_max alone is refused by the Raft core
 * (relieved by commits, not by compaction; here never), and no batch
 * waits for a snapshot. Before, any EAGAIN from the core forked a
 * snapshot and held the batch until it was taken. */
static void uncommitted_eagain_not_held(void **state)
{
    (void)state;
    tproc_init(&p, "127.0.0.1");
    snprintf(p.extra, sizeof(p.extra), "--append-bytes-max=65536 "
             "--uncommitted-bytes-max=65536");
    assert_int_equal(tproc_start(&p, 20000), 0);
    struct rawc c;
    assert_int_equal(rawc_connect(&c, p.host, p.port), 0);
    long_timeout(&c);
    assert_int_equal(rawc_hello(&c, 0, NULL, 30000), 0);
    assert_int_equal(rawc_create(&c, "/k", "", 0, NULL, 0), 0);
    static char big[70000];
    memset(big, 'b', sizeof(big) - 1);
    assert_int_equal(rawc_set(&c, "/k", big, -1, NULL), COORD_EAGAIN);
    assert_int_equal(rawc_set(&c, "/k", "small", -1, NULL), 0);
    /* (the core still asks for a snapshot on that EAGAIN, want_snapshot:
     * one may start, but nothing waits for it) */
    assert_int_equal(count_lines("writes wait for snapshot"), 0);
    rawc_close(&c);
    assert_int_equal(tproc_stop(&p, 20000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pass_allocates_nothing),
        cmocka_unit_test(failed_child_is_reported),
        cmocka_unit_test(child_panic_exits_without_stdio),
        cmocka_unit_test_teardown(loop_serves_while_child_stopped, teardown),
        cmocka_unit_test_teardown(killed_child_is_retried, teardown),
        cmocka_unit_test_teardown(stopped_child_times_out, teardown),
        cmocka_unit_test_teardown(shutdown_with_child_stopped, teardown),
        cmocka_unit_test_teardown(install_while_child_stopped,
                                  teardown_cluster),
        cmocka_unit_test_teardown(forwarded_writes_refused_with_eagain,
                                  teardown_cluster),
        cmocka_unit_test_teardown(uncommitted_eagain_not_held, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
