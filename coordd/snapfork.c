/* snapfork.c -- a snapshot serializer in a forked child (snapfork.h): fork,
 * a pipe, a collector that reads it to the end, waitid and waitpid. The
 * child side (snap_child) is the only code of coordd that runs in the
 * child; it makes async-signal-safe calls only (no malloc, no stdio, no
 * locks), because the child of a multi-threaded process may find any lock
 * held by a thread that was not copied (docs/snapshots.md). Must not use
 * libev or any other coordd module.
 */
#include "snapfork.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* The child's write end: the lowest descriptor after stdio. */
#define SNAPFORK_CHILD_FD 3
/* Pipe buffer asked for (Linux caps it at /proc/sys/fs/pipe-max-size):
 * fewer wake-ups of the collector per snapshot. */
#define SNAPFORK_PIPE_BYTES (1024 * 1024)
/* The collector reads at least this much per read(2). */
#define SNAPFORK_READ_BYTES (64 * 1024)
/* The collector's first buffer when the caller gave none. */
#define SNAPFORK_BUF_INITIAL (1024 * 1024)
/* Without close_range: descriptors closed one by one up to this. */
#define SNAPFORK_CLOSE_FDS_MAX (1024 * 1024)

int snapfork_write(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len > 0) {
        ssize_t k = write(fd, b, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return COORD_EIO;
        b += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Every descriptor above the pipe is closed: a client socket or the
 * listening socket kept open here would outlive its close in the parent. */
static void child_close_fds(void)
{
    if (syscall(SYS_close_range, SNAPFORK_CHILD_FD + 1u, ~0u, 0u) == 0)
        return;
    struct rlimit rl;
    rlim_t max = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 65536;
    for (rlim_t fd = SNAPFORK_CHILD_FD + 1;
         fd < max && fd < SNAPFORK_CLOSE_FDS_MAX; fd++)
        close((int)fd);
}

/* Writes s to stderr with write(2): async-signal-safe. */
static void child_say(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t k = write(2, s, n);
        if (k <= 0 && errno != EINTR)
            return;
        if (k > 0) {
            s += k;
            n -= (size_t)k;
        }
    }
}

/* A failed coord_assert in the child: coord__panic would log with stdio
 * (whose lock another thread may have held at the fork) and abort; this
 * hook, run first, writes the line with write(2) and ends the child with
 * SNAPFORK_EXIT_PANIC instead. */
static void child_panic(const char *file, int line, const char *msg)
{
    char num[16];
    int i = (int)sizeof(num) - 1;
    num[i] = '\0';
    unsigned v = line > 0 ? (unsigned)line : 0u;
    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    child_say("level=fatal msg=\"snapshot child panic\" at=");
    child_say(file);
    child_say(":");
    child_say(num + i);
    child_say(" what=\"");
    child_say(msg);
    child_say("\"\n");
    _exit(SNAPFORK_EXIT_PANIC);
}

/* The child: async-signal-safe calls only, then fn, then _exit. Signals
 * get their default action (the parent's handlers and blocked set would
 * make SIGTERM a no-op here), and the child dies with its parent. */
static void snap_child(int fd, pid_t parent, snapfork_fn fn, void *data)
{
    coord_panic_hook_set(child_panic); /* this process only */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGHUP, &dfl, NULL);
    sigaction(SIGQUIT, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(2);
    if (fd != SNAPFORK_CHILD_FD) {
        if (dup2(fd, SNAPFORK_CHILD_FD) < 0)
            _exit(2);
    }
    child_close_fds();
    int rc = fn(data, SNAPFORK_CHILD_FD);
    _exit(rc == 0 ? 0 : 1);
}

int snapfork_start(struct snapfork *f, snapfork_fn fn, void *data)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return COORD_EIO;
    (void)fcntl(fds[0], F_SETPIPE_SZ, SNAPFORK_PIPE_BYTES);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        snap_child(fds[1], parent, fn, data); /* never returns */
    int saved = errno;
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        errno = saved;
        return COORD_EIO;
    }
    f->pid = pid;
    f->fd = fds[0];
    return 0;
}

/* Reads the pipe to its end. 0, COORD_EIO or COORD_ENOMEM. */
static int collect_stream(struct snapfork *f, uint8_t **buf, size_t *len,
                          size_t *cap)
{
    for (;;) {
        if (*cap - *len < SNAPFORK_READ_BYTES) {
            size_t ncap = *cap ? *cap * 2 : SNAPFORK_BUF_INITIAL;
            uint8_t *p = coord_realloc(*buf, ncap);
            if (!p)
                return COORD_ENOMEM;
            *buf = p;
            *cap = ncap;
        }
        ssize_t k = read(f->fd, *buf + *len, *cap - *len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return COORD_EIO;
        if (k == 0)
            return 0;
        *len += (size_t)k;
    }
}

/* Waits for the child's end without reaping it (WNOWAIT): its PID stays
 * taken until snapfork_reap, so snapfork_kill cannot hit another process. */
static void wait_exit(struct snapfork *f)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    while (waitid(P_PID, (id_t)f->pid, &si, WEXITED | WNOWAIT) != 0) {
        if (errno != EINTR) {
            f->exit_code = -1; /* not our child any more: failed */
            f->exited = true;
            return;
        }
    }
    f->exited = true;
    f->exit_code = si.si_code == CLD_EXITED ? si.si_status : -1;
    f->signo = si.si_code == CLD_EXITED ? 0 : si.si_status;
}

int snapfork_collect(struct snapfork *f, uint8_t **buf, size_t *len,
                     size_t *cap)
{
    coord_assert(f->pid > 0 && f->fd >= 0);
    int rc = collect_stream(f, buf, len, cap);
    if (rc != 0)
        kill(f->pid, SIGKILL); /* not reaped yet: still our child */
    close(f->fd); /* a child still writing gets EPIPE and exits */
    f->fd = -1;
    wait_exit(f);
    if (rc == 0 && f->exit_code != 0)
        rc = COORD_EIO;
    return rc;
}

void snapfork_kill(struct snapfork *f)
{
    if (f->pid > 0)
        kill(f->pid, SIGKILL);
}

void snapfork_reap(struct snapfork *f)
{
    if (f->pid <= 0)
        return;
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    int st = 0;
    pid_t r;
    while ((r = waitpid(f->pid, &st, 0)) < 0 && errno == EINTR)
        continue;
    if (!f->exited) {
        f->exited = true;
        f->exit_code = r > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        f->signo = r > 0 && WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    }
    f->pid = 0;
}

const char *snapfork_describe(const struct snapfork *f, char *buf,
                              size_t cap)
{
    if (!f->exited)
        snprintf(buf, cap, "running");
    else if (f->signo)
        snprintf(buf, cap, "signal %d", f->signo);
    else
        snprintf(buf, cap, "exit %d", f->exit_code);
    return buf;
}
