/* pipeline.c -- coordbench's pipeline probe: the latency of one write
 * through an ideal 3-replica pipeline on this machine, built from nothing
 * but the steps any leader-based replicated log needs, to compare a 1x1
 * write of a 3-node coord cluster with.
 *
 * Four processes, as a 3-node cluster and its client are: the client, a
 * "leader" and two "followers", joined by loopback TCP connections with
 * TCP_NODELAY (client-leader, client-follower 1, leader-follower 1,
 * leader-follower 2). Each replica owns a zero-filled log file in the
 * given directory and writes one 4 KiB block O_DIRECT|O_DSYNC per write
 * (coordd/store/seglog.c's way), blocking; nothing else runs in them: no
 * consensus state, no tree, no encoding, no allocation.
 *
 * Leader path: client -> leader (REQ); the leader sends APP to both
 * followers, writes its block, and answers the client once its write is
 * done and a follower's ACK is in (two of three durable). Follower path
 * (as coord's pair commit, docs/raft.md): client -> follower 1 (REQ) ->
 * leader (FWD); the leader sends APP to both followers, writes, and sends
 * DUR to follower 1; follower 1 answers the client once its own write is
 * done and DUR is in. One write at a time (1x1).
 *
 * How it fits: `coordbench --probe-pipeline=DIR` calls probe_pipeline()
 * and prints one key=value line; scripts/bench-cluster.sh prints it with
 * the floors. The replicas are forked children, killed and reaped by PID
 * before it returns (and killed by the kernel if coordbench dies first:
 * PR_SET_PDEATHSIG). No coord code involved. */
#include "probe.h"

#include "hist.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Every message: a type, a sequence number and padding, about the size of
 * a 1x1 set of a 128-byte value with its framing. */
#define PIPE_MSG_BYTES 192
/* A reply later than this means a replica died or wedged. */
#define PIPE_TIMEOUT_MS 10000
/* Unrecorded writes before each path's n. */
#define PIPE_WARMUP 100

enum { PIPE_REQ = 1, PIPE_FWD, PIPE_APP, PIPE_ACK, PIPE_DUR, PIPE_REP };

struct pipe_msg {
    uint32_t type;
    uint32_t seq;
    uint64_t lead_ns; /* REP on the leader path: the leader's write */
    uint64_t fol_ns;  /* ACK, REP: the (first acking) follower's write */
    char pad[PIPE_MSG_BYTES - 24];
};

/* The connections, each a probe_loopback_pair: [0] is the first-named
 * side's end, [1] the second's. */
enum { C_L, C_F1, L_F1, L_F2, PIPE_LINKS };

struct pipe_replica {
    int log_fd;
    uint64_t off;
    uint64_t took_ns; /* the last write's */
    _Alignas(PROBE_BLOCK_BYTES) char block[PROBE_BLOCK_BYTES];
};

static int pipe_send_ns(int fd, uint32_t type, uint32_t seq,
                        uint64_t lead_ns, uint64_t fol_ns)
{
    struct pipe_msg m = {
        .type = type, .seq = seq, .lead_ns = lead_ns, .fol_ns = fol_ns};
    return write(fd, &m, sizeof(m)) == (ssize_t)sizeof(m) ? 0 : -1;
}

static int pipe_send(int fd, uint32_t type, uint32_t seq)
{
    return pipe_send_ns(fd, type, seq, 0, 0);
}

static int pipe_recv(int fd, struct pipe_msg *m)
{
    return probe_read_full(fd, (char *)m, sizeof(*m));
}

/* One durable block, as a log append of one entry; r->took_ns its
 * duration; -1 on error. */
static int pipe_write(struct pipe_replica *r, int direct, uint32_t seq)
{
    uint64_t t0 = probe_now_ns();
    memcpy(r->block, &seq, sizeof(seq));
    if (pwrite(r->log_fd, r->block, PROBE_BLOCK_BYTES, (off_t)r->off) !=
            PROBE_BLOCK_BYTES ||
        (!direct && fdatasync(r->log_fd) != 0))
        return -1;
    r->off = (r->off + PROBE_BLOCK_BYTES) % PROBE_LOG_FILE_BYTES;
    r->took_ns = probe_now_ns() - t0;
    return 0;
}

/* The leader: fds[0] the client, fds[1] follower 1, fds[2] follower 2.
 * Returns only on an error or EOF. */
static void pipe_leader(struct pipe_replica *r, int direct, const int fds[3])
{
    struct pollfd pf[3];
    uint32_t cur = 0;
    int from_client = 0, replied = 1;
    for (int i = 0; i < 3; i++)
        pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    for (;;) {
        if (poll(pf, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 3; i++) {
            struct pipe_msg m;
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (pipe_recv(fds[i], &m) != 0)
                return;
            if (m.type == PIPE_REQ || m.type == PIPE_FWD) {
                cur = m.seq;
                from_client = m.type == PIPE_REQ;
                replied = 0;
                if (pipe_send(fds[1], PIPE_APP, cur) != 0 ||
                    pipe_send(fds[2], PIPE_APP, cur) != 0 ||
                    pipe_write(r, direct, cur) != 0)
                    return;
                /* the follower that forwarded commits on its own write
                 * and this one (pair commit): tell it this is durable */
                if (!from_client && pipe_send(fds[1], PIPE_DUR, cur) != 0)
                    return;
            } else if (m.type == PIPE_ACK && m.seq == cur && from_client &&
                       !replied) {
                /* own write done (it blocked), a follower's ACK in */
                if (pipe_send_ns(fds[0], PIPE_REP, cur, r->took_ns,
                                 m.fol_ns) != 0)
                    return;
                replied = 1;
            }
        }
    }
}

/* A follower: fds[0] the leader, fds[1] the client (-1: none). Returns
 * only on an error or EOF. */
static void pipe_follower(struct pipe_replica *r, int direct, const int fds[2])
{
    struct pollfd pf[2];
    uint32_t asked = 0, own = 0, dur = 0;
    int n = fds[1] >= 0 ? 2 : 1, pending = 0;
    for (int i = 0; i < n; i++)
        pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    for (;;) {
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < n; i++) {
            struct pipe_msg m;
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (pipe_recv(fds[i], &m) != 0)
                return;
            if (m.type == PIPE_REQ) {
                asked = m.seq;
                pending = 1;
                if (pipe_send(fds[0], PIPE_FWD, m.seq) != 0)
                    return;
            } else if (m.type == PIPE_APP) {
                if (pipe_write(r, direct, m.seq) != 0 ||
                    pipe_send_ns(fds[0], PIPE_ACK, m.seq, 0, r->took_ns) != 0)
                    return;
                own = m.seq;
            } else if (m.type == PIPE_DUR) {
                dur = m.seq;
            }
            if (pending && own == asked && dur == asked) {
                if (pipe_send(fds[1], PIPE_REP, asked) != 0)
                    return;
                pending = 0;
            }
        }
    }
}

/* Child role 0 (leader), 1 or 2 (followers): closes every link end it
 * does not own and serves until EOF; never returns. */
static void pipe_child(unsigned role, int links[PIPE_LINKS][2],
                       struct pipe_replica *r, int direct)
{
    int keep[3] = {-1, -1, -1};
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (role == 0) {
        keep[0] = links[C_L][1];
        keep[1] = links[L_F1][0];
        keep[2] = links[L_F2][0];
    } else {
        keep[0] = links[role == 1 ? L_F1 : L_F2][1];
        keep[1] = role == 1 ? links[C_F1][1] : -1;
    }
    for (int i = 0; i < PIPE_LINKS; i++)
        for (int j = 0; j < 2; j++)
            if (links[i][j] != keep[0] && links[i][j] != keep[1] &&
                links[i][j] != keep[2])
                close(links[i][j]);
    if (role == 0)
        pipe_leader(r, direct, keep);
    else
        pipe_follower(r, direct, keep);
    _exit(1);
}

/* warm-up + n writes sent on fd one at a time, each timed from the
 * request's send to its reply into h[0]; with lw, the writes the leader
 * reported into lw[0] (its own) and lw[1] (the first acking follower's).
 * -1 on an error or a timeout. */
static int pipe_client(int fd, unsigned n, struct hist *h, struct hist *lw,
                       uint32_t *seq)
{
    for (unsigned i = 0; i < PIPE_WARMUP + n; i++) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        struct pipe_msg m;
        uint64_t t0 = probe_now_ns();
        uint32_t s = ++*seq;
        if (pipe_send(fd, PIPE_REQ, s) != 0 ||
            poll(&pf, 1, PIPE_TIMEOUT_MS) != 1 || pipe_recv(fd, &m) != 0 ||
            m.type != PIPE_REP || m.seq != s) {
            fprintf(stderr, "coordbench: pipeline probe: no reply to %u\n",
                    s);
            return -1;
        }
        if (i < PIPE_WARMUP)
            continue;
        hist_record(h, probe_now_ns() - t0);
        if (lw) {
            hist_record(&lw[0], m.lead_ns);
            hist_record(&lw[1], m.fol_ns);
        }
    }
    return 0;
}

/* Forks the three replicas, runs both paths, kills and reaps them. */
static int pipe_run(int links[PIPE_LINKS][2], struct pipe_replica *rs,
                    int direct, unsigned n, struct hist h[4])
{
    pid_t pids[3];
    unsigned started = 0;
    int rc = -1;
    uint32_t seq = 0;
    for (; started < 3; started++) {
        pids[started] = fork();
        if (pids[started] == 0)
            pipe_child(started, links, &rs[started], direct);
        if (pids[started] < 0)
            break;
    }
    if (started == 3 &&
        pipe_client(links[C_L][0], n, &h[0], &h[2], &seq) == 0)
        rc = pipe_client(links[C_F1][0], n, &h[1], NULL, &seq);
    for (unsigned i = 0; i < started; i++) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
    return rc;
}

int probe_pipeline(const char *dir, unsigned n)
{
    static struct pipe_replica rs[3];
    static struct hist h[4]; /* leader path, follower path, writes */
    int links[PIPE_LINKS][2], direct = 1, rc = 1;
    unsigned nl = 0, nf = 0;
    for (; nf < 3; nf++)
        if ((rs[nf].log_fd = probe_log_open(dir, nf, &direct)) < 0)
            goto out;
    for (; nl < PIPE_LINKS; nl++)
        if (probe_loopback_pair(links[nl]) != 0)
            goto out;
    for (int i = 0; i < 4; i++)
        hist_init(&h[i]);
    fflush(stdout); /* nothing buffered twice into the children */
    if (pipe_run(links, rs, direct, n, h) == 0) {
        probe_print_hist_kv("pipe_leader", &h[0]);
        probe_print_p50_p99("pipe_follower", &h[1]);
        probe_print_p50_p99("pipe_lwrite", &h[2]);
        probe_print_p50_p99("pipe_fwrite", &h[3]);
        printf(" pipe_direct=%d\n", direct);
        rc = 0;
    }
out:
    while (nl > 0) {
        nl--;
        close(links[nl][0]);
        close(links[nl][1]);
    }
    while (nf > 0)
        close(rs[--nf].log_fd);
    return rc;
}
