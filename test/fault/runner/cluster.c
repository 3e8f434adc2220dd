/* cluster.c -- the fault runner's cluster: n coordd processes on
 * 127.0.0.11.. (clients connect unbound, from 127.0.0.1, so cutting links
 * between node addresses never cuts a client off), started and stopped by
 * PID through test/lib/proc; the leader found from the nodes' logs; iptables
 * cuts in a private chain; the wiped-member procedure (remove, re-add
 * under a new id, join, promote) of docs/cluster.md.
 *
 * How it fits: used by nemesis.c (faults), main.c (setup, teardown) and
 * checks.c (per-node clients). Runs only inside the runner's own network
 * namespace (main.c enters it), so iptables touches nothing else.
 *
 * What it must not do: signal any process it did not start, or leave a
 * process running (fr_cluster_stop stops each by PID; the pid namespace is
 * the backstop).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"

static void members_string(struct fr_run *r, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < r->cl.n; i++) {
        struct tproc *p = &r->cl.node[i].p;
        o += (size_t)snprintf(out + o, cap - o, "%s%llu@%s:%u:%u",
                              i ? "," : "", (unsigned long long)p->node_id,
                              p->host, p->port, p->peer_port);
        if (o >= cap)
            abort();
    }
}

static void update_members(struct fr_run *r)
{
    char m[1024];
    members_string(r, m, sizeof(m));
    for (int i = 0; i < r->cl.n; i++)
        snprintf(r->cl.node[i].p.members, sizeof(r->cl.node[i].p.members),
                 "%s", m);
}

int fr_cluster_init(struct fr_run *r)
{
    struct fr_cluster *c = &r->cl;
    c->n = r->o.nodes;
    c->next_id = (uint64_t)c->n + 1;
    size_t so = 0;
    for (int i = 0; i < c->n; i++) {
        struct fr_node *nd = &c->node[i];
        char host[32];
        snprintf(host, sizeof(host), "127.0.0.%d", 11 + i);
        tproc_init(&nd->p, host);
        /* Data and log under the run's own directory, not /tmp/coord-test-*
         * (other suites' cleanups must not pull a live node's files away). */
        rmdir(nd->p.dir);
        snprintf(nd->p.dir, sizeof(nd->p.dir), "%s/node%d", r->tmp_dir, i + 1);
        snprintf(nd->p.log, sizeof(nd->p.log), "%s/node%d.current.log",
                 r->tmp_dir, i + 1);
        if (mkdir(nd->p.dir, 0755) != 0)
            return -1;
        nd->p.node_id = (uint64_t)i + 1;
        do
            nd->p.peer_port = tproc_free_port(host);
        while (nd->p.peer_port == nd->p.port);
        nd->power_loss = (r->o.faults & FR_F_POWER) != 0;
        snprintf(nd->base_extra, sizeof(nd->base_extra),
                 "--snapshot-entries=300%s",
                 nd->power_loss ? " --test-power-loss=true" : "");
        so += (size_t)snprintf(c->servers + so, sizeof(c->servers) - so,
                               "%s%s:%u", i ? "," : "", host, nd->p.port);
    }
    update_members(r);
    for (int i = 0; i < c->n; i++)
        if (fr_node_start(r, i, 0) != 0)
            return -1;
    return fr_wait_leader(r, 30000) >= 0 ? 0 : -1;
}

/* Appends the node's current log to its all-incarnations log. */
static void archive_log(struct fr_run *r, int i)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "[ -f '%s' ] && { echo '==== incarnation %d ===='; cat '%s'; } "
             ">> '%s/node%d.log' 2>/dev/null; true",
             r->cl.node[i].p.log, r->cl.node[i].restarts, r->cl.node[i].p.log,
             r->tmp_dir, i + 1);
    if (system(cmd) != 0)
        fprintf(stderr, "runner: archiving log of node %d failed\n", i + 1);
}

/* Starts (or restarts) node i with its current id, members and clock
 * offset; timeout_ms 0 = do not wait for it to serve. */
int fr_node_start(struct fr_run *r, int i, int timeout_ms)
{
    struct fr_node *nd = &r->cl.node[i];
    if (nd->p.pid > 0)
        return 0;
    archive_log(r, i);
    nd->restarts++;
    char off[64] = "";
    if (nd->clock_offset_ms != 0)
        snprintf(off, sizeof(off), " --test-clock-offset-ms=%lld",
                 (long long)nd->clock_offset_ms);
    char extra[sizeof(nd->p.extra)];
    snprintf(extra, sizeof(extra), "%s%s%s", nd->base_extra, off,
             nd->p.node_id > (uint64_t)r->cl.n ? " --join=true" : "");
    memcpy(nd->p.extra, extra, sizeof(extra));
    nd->paused = false;
    if (timeout_ms == 0)
        return tproc_spawn(&nd->p);
    int rc = tproc_start(&nd->p, timeout_ms);
    if (rc != 0)
        fr_log(r, "node %d (id %llu) did not start serving within %d ms", i + 1,
               (unsigned long long)nd->p.node_id, timeout_ms);
    return rc;
}

void fr_node_kill(struct fr_run *r, int i)
{
    struct fr_node *nd = &r->cl.node[i];
    if (nd->p.pid <= 0)
        return;
    kill(nd->p.pid, SIGKILL);
    waitpid(nd->p.pid, NULL, 0);
    nd->p.pid = -1;
    nd->paused = false;
}

void fr_reap_crashed(struct fr_run *r)
{
    for (int i = 0; i < r->cl.n; i++) {
        struct fr_node *nd = &r->cl.node[i];
        int st;
        if (nd->p.pid <= 0 || waitpid(nd->p.pid, &st, WNOHANG) != nd->p.pid)
            continue;
        nd->p.pid = -1;
        nd->paused = false;
        r->crashes++;
        fr_log(r, "node %d (id %llu) exited by itself: %s %d", i + 1,
               (unsigned long long)nd->p.node_id,
               WIFEXITED(st) ? "exit status" : "signal",
               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    }
}

void fr_node_pause(struct fr_run *r, int i, bool pause)
{
    struct fr_node *nd = &r->cl.node[i];
    if (nd->p.pid <= 0)
        return;
    kill(nd->p.pid, pause ? SIGSTOP : SIGCONT);
    nd->paused = pause;
}

/* Role and term from the last "raft state" line of the node's log. */
static char node_role(const struct tproc *p, unsigned long long *term)
{
    FILE *f = fopen(p->log, "r");
    if (!f)
        return '?';
    char line[8192], role = '?';
    *term = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *s = strstr(line, "msg=\"raft state\" role=");
        if (!s)
            continue;
        s += strlen("msg=\"raft state\" role=");
        role = *s == 'l' ? 'L' : *s == 'f' ? 'F' : 'C';
        const char *t = strstr(s, "term=");
        *term = t ? strtoull(t + 5, NULL, 10) : 0;
    }
    fclose(f);
    return role;
}

/* The live, unpaused node that last said it leads with the highest term
 * (a deposed leader that has not heard yet has a lower one); -1: none. */
int fr_leader(struct fr_run *r)
{
    int best = -1;
    unsigned long long best_term = 0;
    for (int i = 0; i < r->cl.n; i++) {
        struct fr_node *nd = &r->cl.node[i];
        unsigned long long term;
        if (nd->p.pid <= 0 || nd->paused)
            continue;
        if (node_role(&nd->p, &term) == 'L' && term >= best_term) {
            best = i;
            best_term = term;
        }
    }
    return best;
}

int fr_wait_leader(struct fr_run *r, int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    for (;;) {
        int l = fr_leader(r);
        if (l >= 0 || tproc_now_ms() > deadline)
            return l;
        poll(NULL, 0, 20);
    }
}

/* ---- iptables --------------------------------------------------------- */

int fr_iptables_init(void)
{
    return system("iptables -N NEMESIS && iptables -I INPUT -j NEMESIS");
}

int fr_cut(int from, int to, struct fr_run *r)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "iptables -A NEMESIS -s %s -d %s -j DROP",
             r->cl.node[from].p.host, r->cl.node[to].p.host);
    return system(cmd);
}

long long fr_dropped_packets(void)
{
    FILE *f = popen("iptables -L NEMESIS -v -n -x 2>/dev/null", "r");
    if (!f)
        return -1;
    char line[512];
    long long sum = 0, pkts;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, "DROP") && sscanf(line, " %lld", &pkts) == 1)
            sum += pkts;
    return pclose(f) == 0 ? sum : -1;
}

int fr_heal_net(void)
{
    return system("iptables -F NEMESIS");
}

/* ---- clients ---------------------------------------------------------- */

struct coord_client *fr_client_to(const char *servers, int timeout_ms,
                                  int session_ms)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.session_timeout_ms = (uint32_t)session_ms;
    o.request_timeout_ms = (uint32_t)timeout_ms;
    o.connect_timeout_ms = 500;
    o.silent_timeout_ms = 1000;
    o.backoff_max_ms = 500;
    struct coord_client *c = NULL;
    if (coord_open(&c, &o) != 0)
        return NULL;
    return c;
}

static void addr_of(struct fr_run *r, int i, char *out, size_t cap,
                    bool peer)
{
    struct tproc *p = &r->cl.node[i].p;
    snprintf(out, cap, "%s:%u", p->host, peer ? p->peer_port : p->port);
}

/* A client connected to the current leader only (admin calls). */
struct coord_client *fr_client_leader(struct fr_run *r, int timeout_ms)
{
    int l = fr_wait_leader(r, timeout_ms);
    if (l < 0)
        return NULL;
    char a[64];
    addr_of(r, l, a, sizeof(a), false);
    return fr_client_to(a, 3000, 10000);
}

/* Runs one membership call against the leader until it succeeds or says
 * the change is already made (EINVAL), for up to timeout_ms. */
static int admin_call(struct fr_run *r, int what, uint64_t id, int i,
                      int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    int rc = COORD_ETIMEDOUT;
    while (tproc_now_ms() < deadline) {
        struct coord_client *c = fr_client_leader(r, 5000);
        if (!c)
            continue;
        char ca[64], pa[64];
        addr_of(r, i, ca, sizeof(ca), false);
        addr_of(r, i, pa, sizeof(pa), true);
        if (what == 0)
            rc = coord_member_remove(c, id);
        else if (what == 1)
            rc = coord_member_add(c, id, ca, pa);
        else
            rc = coord_member_promote(c, id);
        coord_close(c);
        if (rc == 0 || rc == COORD_EINVAL)
            return rc;
        poll(NULL, 0, 200);
    }
    return rc;
}

/* The wiped-member procedure: the node's data is gone, so it may not come
 * back under its old id (it could vote twice or forget acknowledged
 * entries). Remove it, add it back under a new id at the same addresses,
 * start it with join=true; promotion waits until it caught up
 * (fr_promote_pending). */
int fr_wipe_rejoin(struct fr_run *r, int i)
{
    struct fr_node *nd = &r->cl.node[i];
    fr_node_kill(r, i);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/data'", nd->p.dir);
    if (system(cmd) != 0)
        return -1;
    uint64_t old_id = nd->p.node_id, new_id = r->cl.next_id++;
    int rc = admin_call(r, 0, old_id, i, 30000);
    fr_log(r, "wipe: member remove %llu -> %s", (unsigned long long)old_id,
           coord_errname(rc));
    if (rc != 0 && rc != COORD_EINVAL)
        return -1;
    nd->p.node_id = new_id;
    rc = admin_call(r, 1, new_id, i, 30000);
    fr_log(r, "wipe: member add %llu -> %s", (unsigned long long)new_id,
           coord_errname(rc));
    if (rc != 0)
        return -1;
    update_members(r);
    r->cl.promote_id = new_id;
    return fr_node_start(r, i, 20000);
}

/* Promotes a re-added member once the leader reports it caught up. */
int fr_promote_pending(struct fr_run *r, int timeout_ms)
{
    uint64_t id = r->cl.promote_id;
    if (id == 0)
        return 0;
    int64_t deadline = tproc_now_ms() + timeout_ms;
    int idx = -1;
    for (int i = 0; i < r->cl.n; i++)
        if (r->cl.node[i].p.node_id == id)
            idx = i;
    while (tproc_now_ms() < deadline) {
        if (r->cl.node[idx].p.pid <= 0 &&
            fr_node_start(r, idx, 20000) != 0)
            continue;
        struct coord_client *c = fr_client_leader(r, 5000);
        struct coord_status st;
        bool caught_up = false;
        if (c && coord_status(c, &st) == 0 &&
            st.role == COORD_ROLE_LEADER)
            for (size_t k = 0; k < st.n_members; k++)
                if (st.members[k].id == id && st.members[k].match > 0 &&
                    st.members[k].lag < 50)
                    caught_up = true;
        if (c)
            coord_close(c);
        if (caught_up) {
            int rc = admin_call(r, 2, id, idx,
                                (int)(deadline - tproc_now_ms()));
            fr_log(r, "wipe: member promote %llu -> %s",
                   (unsigned long long)id, coord_errname(rc));
            if (rc == 0 || rc == COORD_EINVAL) {
                r->cl.promote_id = 0;
                return 0;
            }
        }
        poll(NULL, 0, 200);
    }
    fr_log(r, "wipe: member %llu not promoted within %d ms",
           (unsigned long long)id, timeout_ms);
    return -1;
}

void fr_cluster_stop(struct fr_run *r)
{
    for (int i = 0; i < r->cl.n; i++) {
        struct fr_node *nd = &r->cl.node[i];
        if (nd->p.pid > 0) {
            kill(nd->p.pid, SIGCONT);
            tproc_stop(&nd->p, 5000);
        }
    }
}

/* Copies every node's logs (all incarnations) and data dir into dir. */
void fr_save_logs(struct fr_run *r, const char *dir)
{
    for (int i = 0; i < r->cl.n; i++) {
        char cmd[1400];
        snprintf(cmd, sizeof(cmd),
                 "{ cat '%s/node%d.log' 2>/dev/null; "
                 "echo '==== incarnation %d (last) ===='; cat '%s'; } "
                 "> '%s/node%d.log' 2>/dev/null; "
                 "cp -r '%s' '%s/node%d.data' 2>/dev/null; true",
                 r->tmp_dir, i + 1, r->cl.node[i].restarts,
                 r->cl.node[i].p.log, dir, i + 1, r->cl.node[i].p.dir, dir,
                 i + 1);
        if (system(cmd) != 0)
            fprintf(stderr, "runner: saving logs of node %d failed\n", i + 1);
    }
}
