/* supervise.c -- runs the CMD of `coordctl lock` and `coordctl elect` as a
 * child process while the hold (lock, leadership) lasts: waits for the
 * child, forwards SIGTERM/SIGHUP to it, ignores SIGINT/SIGQUIT like
 * system(3) (the terminal sends them to CMD too), and re-checks the hold
 * whenever the session state changes or a watch fires. A hold that is
 * gone ends CMD: SIGTERM, then SIGKILL after ctl_kill_grace_ms().
 * Not answered by any server for CTL_TERM_AT_NUM/DEN of the negotiated
 * session timeout counts as lost too: CMD is told to stop before the
 * cluster can expire the session (it counts the timeout from the last
 * time it heard from us, not from when libcoord notices a broken
 * connection), and killed before it can. If coordctl itself dies, CMD
 * gets SIGTERM (PR_SET_PDEATHSIG).
 * The wakeups go through a self-pipe, so the signal handlers and
 * libcoord's I/O thread only write one byte. Prints to stderr only. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* SIGTERM once no server has answered for this fraction of the session
 * timeout (the granted one, which may be shorter than asked for); the
 * SIGKILL follows CTL_KILL_AT_NUM/DEN of it after that last answer. The
 * rest (1/6: 1.7 s of the default 10 s) is the margin for the round trip
 * of the last answered ping, clock rates, and coordctl's own wakeup. */
#define CTL_TERM_AT_NUM 2
#define CTL_TERM_AT_DEN 3
#define CTL_KILL_AT_NUM 5
#define CTL_KILL_AT_DEN 6
/* Poll the session timing at least this often while CMD runs. */
#define CTL_POLL_MS 250

static int ctl_wake_pipe[2] = {-1, -1};
static volatile sig_atomic_t ctl_fwd_sig;

void ctl_supervise_wake(void)
{
    int saved = errno;
    if (ctl_wake_pipe[1] >= 0) {
        ssize_t k = write(ctl_wake_pipe[1], "x", 1);
        (void)k; /* a full pipe already wakes the loop */
    }
    errno = saved;
}

static void ctl_on_signal(int sig)
{
    if (sig != SIGCHLD)
        ctl_fwd_sig = sig;
    ctl_supervise_wake();
}

static int64_t ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ctl_wake_init(void)
{
    if (ctl_wake_pipe[0] >= 0)
        return 0;
    if (pipe2(ctl_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return COORD_EIO;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl_on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    ctl_session_hook(ctl_supervise_wake);
    return 0;
}

/* Starts argv; -1 if fork fails. The child restores the signals coordctl
 * changed and execs; 127 if that fails. */
static pid_t ctl_spawn(char **argv)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* coordctl killed (SIGKILL, OOM): its session, and so the hold, ends
     * within the timeout; CMD must not outlive it unnoticed */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(CTL_EXIT_LOCK_LOST);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    execvp(argv[0], argv);
    /* only async-signal-safe calls between fork and exec */
    static const char msg[] = "coordctl: cannot run the command\n";
    ssize_t k = write(2, msg, sizeof(msg) - 1);
    (void)k;
    _exit(CTL_EXIT_EXEC);
}

static int ctl_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return CTL_EXIT_FAILED;
}

static void ctl_drain(void)
{
    char buf[64];
    while (read(ctl_wake_pipe[0], buf, sizeof(buf)) > 0)
        ;
}

/* Waits for pid at most ms (-1: forever); true once it has exited. */
static bool ctl_reap(pid_t pid, int64_t ms, int *status)
{
    int64_t end = ms < 0 ? -1 : ctl_now_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        int64_t left = end < 0 ? -1 : end - ctl_now_ms();
        if (end >= 0 && left <= 0)
            return false;
        struct pollfd p = {ctl_wake_pipe[0], POLLIN, 0};
        poll(&p, 1, left < 0 || left > 1000 ? 1000 : (int)left);
        ctl_drain();
        if (ctl_fwd_sig != 0) {
            kill(pid, ctl_fwd_sig);
            ctl_fwd_sig = 0;
        }
    }
}

/* SIGTERM to SIGKILL: the gap between the two fractions of the granted
 * timeout (1667 ms of 10 s), at most CTL_KILL_GRACE_MS. The same for a
 * hold lost otherwise (expired, node deleted): another holder may run
 * already. */
static int64_t ctl_kill_grace_ms(struct ctl *x)
{
    uint32_t t = 0;
    if (coord_session_timing(x->c, &t, NULL) != 0 || t == 0)
        return CTL_KILL_GRACE_MS;
    int64_t g = (int64_t)t * CTL_KILL_AT_NUM / CTL_KILL_AT_DEN -
                (int64_t)t * CTL_TERM_AT_NUM / CTL_TERM_AT_DEN;
    return g < CTL_KILL_GRACE_MS ? g : CTL_KILL_GRACE_MS;
}

/* Ends CMD after the hold was lost; returns CTL_EXIT_LOCK_LOST. */
static int ctl_stop_child(struct ctl *x, pid_t pid, const char *what)
{
    int64_t grace = ctl_kill_grace_ms(x);
    fprintf(stderr, "coordctl: %s lost; sending SIGTERM to the command "
            "(pid %ld)\n", what, (long)pid);
    kill(pid, SIGTERM);
    int status;
    if (!ctl_reap(pid, grace, &status)) {
        fprintf(stderr, "coordctl: the command ignored SIGTERM for %lld "
                "ms; sending SIGKILL\n", (long long)grace);
        kill(pid, SIGKILL);
        ctl_reap(pid, -1, &status);
    }
    return CTL_EXIT_LOCK_LOST;
}

/* True when the session is gone, or no server has answered for so long
 * that the cluster could expire it soon (CTL_TERM_AT_NUM/DEN). *wait_ms:
 * when to look again at the latest. */
static bool ctl_session_gone(struct ctl *x, int *wait_ms)
{
    *wait_ms = CTL_POLL_MS;
    int st = ctl_session_state();
    if (st == COORD_STATE_EXPIRED || st == COORD_STATE_CLOSED)
        return true;
    uint32_t t;
    uint64_t ago;
    if (coord_session_timing(x->c, &t, &ago) != 0)
        return false; /* no session yet: cannot be held */
    uint64_t term_at = (uint64_t)t * CTL_TERM_AT_NUM / CTL_TERM_AT_DEN;
    if (ago >= term_at)
        return true;
    if (term_at - ago < CTL_POLL_MS)
        *wait_ms = (int)(term_at - ago) + 1;
    return false;
}

int ctl_supervise(struct ctl *x, char **argv, const char *what,
                  bool (*lost)(void *data), void *data)
{
    if (ctl_wake_init() != 0) {
        fputs("coordctl: cannot create a pipe\n", stderr);
        return CTL_EXIT_FAILED;
    }
    fflush(stdout);
    pid_t pid = ctl_spawn(argv);
    if (pid < 0) {
        fprintf(stderr, "coordctl: cannot start '%s': %s\n", argv[0],
                strerror(errno));
        return CTL_EXIT_EXEC;
    }
    for (;;) {
        int status, wait_ms;
        if (ctl_reap(pid, 0, &status))
            return ctl_status_code(status);
        if (ctl_session_gone(x, &wait_ms) || lost(data))
            return ctl_stop_child(x, pid, what);
        struct pollfd p = {ctl_wake_pipe[0], POLLIN, 0};
        poll(&p, 1, wait_ms);
        ctl_drain();
        if (ctl_fwd_sig != 0) {
            kill(pid, ctl_fwd_sig);
            ctl_fwd_sig = 0;
        }
    }
}
