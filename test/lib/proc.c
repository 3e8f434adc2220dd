/* proc.c -- see proc.h: real coordd processes for integration tests. */
#include "proc.h"

#include <arpa/inet.h>
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
#include <time.h>
#include <unistd.h>

int64_t tproc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint16_t tproc_free_port(const char *host)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, host, &sa.sin_addr);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

void tproc_init(struct tproc *p, const char *host)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->host, sizeof(p->host), "%s", host);
    p->port = tproc_free_port(host);
    snprintf(p->dir, sizeof(p->dir), "/tmp/coord-test-XXXXXX");
    if (!mkdtemp(p->dir))
        abort();
    snprintf(p->log, sizeof(p->log), "%s.log", p->dir);
    p->pid = -1;
}

bool tproc_log_has(const struct tproc *p, const char *s)
{
    FILE *f = fopen(p->log, "r");
    if (!f)
        return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, s) != NULL;
    fclose(f);
    return found;
}

static bool port_open(const struct tproc *p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(p->port)};
    inet_pton(AF_INET, p->host, &sa.sin_addr);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void exec_coordd(const struct tproc *p)
{
    const char *bin = getenv("COORDD_BIN");
    if (!bin)
        bin = "build/bin/coordd";
    char datadir[300], listen[64];
    snprintf(datadir, sizeof(datadir), "--data-dir=%s/data", p->dir);
    snprintf(listen, sizeof(listen), "--client-listen=%s:%u", p->host,
             p->port);
    char *argv[64] = {(char *)bin, datadir, listen};
    int argc = 3;
    char members[1100], id[32];
    if (p->members[0]) {
        snprintf(members, sizeof(members), "--members=%s", p->members);
        snprintf(id, sizeof(id), "--node-id=%llu",
                 (unsigned long long)p->node_id);
        argv[argc++] = members;
        argv[argc++] = id;
    }
    char extra[sizeof(p->extra)];
    snprintf(extra, sizeof(extra), "%s", p->extra);
    for (char *tok = strtok(extra, " "); tok && argc < 63;
         tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 2);
    dup2(fd, 1);
    execv(bin, argv);
    _exit(127);
}

/* Every coordd this process started, so that a test that fails midway
 * (cmocka jumps out of it, past its cleanup) still stops its servers by
 * PID when the test binary exits. Only our own still-running children are
 * killed: waitpid() refuses pids that are not ours (e.g. in a forked test
 * child), and reaped ones are skipped. */
#define TPROC_REGISTRY_MAX 1024
static pid_t tproc_registry[TPROC_REGISTRY_MAX];
static int tproc_registry_n;
static pid_t tproc_registry_owner;

static void tproc_reap_leftovers(void)
{
    if (getpid() != tproc_registry_owner)
        return;
    for (int i = 0; i < tproc_registry_n; i++) {
        pid_t pid = tproc_registry[i];
        if (waitpid(pid, NULL, WNOHANG) != 0)
            continue; /* reaped already, or not our child */
        fprintf(stderr, "proc: stopping leftover coordd pid %d\n", (int)pid);
        kill(pid, SIGCONT);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

static void tproc_register(pid_t pid)
{
    if (tproc_registry_owner != getpid()) {
        tproc_registry_owner = getpid();
        tproc_registry_n = 0;
        static bool registered;
        if (!registered && atexit(tproc_reap_leftovers) == 0)
            registered = true;
    }
    /* Past the bound, later servers rely on their test's own cleanup
     * (no test binary starts that many). */
    if (tproc_registry_n < TPROC_REGISTRY_MAX)
        tproc_registry[tproc_registry_n++] = pid;
}

int tproc_spawn(struct tproc *p)
{
    /* A restart reads the log from here on. */
    if (truncate(p->log, 0) != 0 && errno != ENOENT)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        exec_coordd(p);
    p->pid = pid;
    tproc_register(pid);
    return 0;
}

int tproc_start(struct tproc *p, int timeout_ms)
{
    if (tproc_spawn(p) != 0)
        return -1;
    pid_t pid = p->pid;
    int64_t deadline = tproc_now_ms() + timeout_ms;
    while (tproc_now_ms() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            p->pid = -1;
            return -1; /* it exited */
        }
        if (tproc_log_has(p, "msg=serving") && port_open(p))
            return 0;
        poll(NULL, 0, 10); /* polling a condition with a deadline */
    }
    return -1;
}

static int wait_exit(struct tproc *p, int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    while (tproc_now_ms() < deadline) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        poll(NULL, 0, 5);
    }
    return -2;
}

int tproc_stop(struct tproc *p, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGCONT);
    kill(p->pid, SIGTERM);
    int rc = wait_exit(p, timeout_ms);
    if (rc == -2) {
        tproc_kill(p);
        return -1;
    }
    return rc;
}

void tproc_kill(struct tproc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = -1;
}

void tproc_cleanup(struct tproc *p)
{
    tproc_kill(p);
    if (getenv("COORD_TEST_KEEP")) {
        fprintf(stderr, "kept %s and %s\n", p->dir, p->log);
        return;
    }
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", p->dir, p->log);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", p->dir);
}

long tproc_rss_kb(const struct tproc *p)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

char tproc_role(const struct tproc *p)
{
    FILE *f = fopen(p->log, "r");
    if (!f)
        return '?';
    char line[8192], role = '?';
    while (fgets(line, sizeof(line), f)) {
        const char *r = strstr(line, "msg=\"raft state\" role=");
        if (!r)
            continue;
        r += strlen("msg=\"raft state\" role=");
        role = *r == 'l' ? 'L' : *r == 'f' ? 'F' : 'C';
    }
    fclose(f);
    return role;
}

void tcluster_init(struct tcluster *c, int n, const char *extra)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    size_t mo = 0, so = 0;
    for (int i = 0; i < n; i++) {
        char host[32];
        snprintf(host, sizeof(host), "127.0.0.%d", i + 1);
        tproc_init(&c->node[i], host);
        c->node[i].peer_port = 0;
        c->node[i].node_id = (uint64_t)i + 1;
        snprintf(c->node[i].extra, sizeof(c->node[i].extra), "%s",
                 extra ? extra : "");
    }
    /* peer ports: free ports on each address */
    for (int i = 0; i < n; i++) {
        struct tproc *p = &c->node[i];
        uint16_t peer = 0;
        do
            peer = tproc_free_port(p->host);
        while (peer == p->port);
        mo += (size_t)snprintf(c->members + mo, sizeof(c->members) - mo,
                               "%s%d@%s:%u:%u", i ? "," : "", i + 1,
                               p->host, p->port, peer);
        so += (size_t)snprintf(c->servers + so, sizeof(c->servers) - so,
                               "%s%s:%u", i ? "," : "", p->host, p->port);
    }
    for (int i = 0; i < n; i++)
        snprintf(c->node[i].members, sizeof(c->node[i].members), "%s",
                 c->members);
}

int tcluster_spawn(struct tcluster *c, int i)
{
    return tproc_spawn(&c->node[i]);
}

int tcluster_leader(struct tcluster *c, int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    do {
        for (int i = 0; i < c->n; i++)
            if (c->node[i].pid > 0 && tproc_role(&c->node[i]) == 'L')
                return i;
        poll(NULL, 0, 10);
    } while (tproc_now_ms() < deadline);
    return -1;
}

int tcluster_start(struct tcluster *c, int timeout_ms)
{
    for (int i = 0; i < c->n; i++)
        if (tcluster_spawn(c, i) != 0)
            return -1;
    int64_t deadline = tproc_now_ms() + timeout_ms;
    for (int i = 0; i < c->n; i++)
        while (!tproc_log_has(&c->node[i], "msg=serving")) {
            if (tproc_now_ms() > deadline)
                return -1;
            poll(NULL, 0, 10);
        }
    return tcluster_leader(c, timeout_ms) >= 0 ? 0 : -1;
}

void tcluster_cleanup(struct tcluster *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->node[i].pid > 0)
            tproc_stop(&c->node[i], 5000);
    for (int i = 0; i < c->n; i++)
        tproc_cleanup(&c->node[i]);
}
