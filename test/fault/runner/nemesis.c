/* nemesis.c -- the fault schedule: drawn up front from the seed (kinds,
 * start times, durations and the random draws that pick targets), then
 * executed against the live cluster: fault for X ms, heal, quiet for Y ms.
 * Targets named by role ("the leader") are resolved when the step runs, so
 * the same seed gives the same schedule of kinds, times and draws, and the
 * executed log (nemesis.log) says which node each step hit.
 *
 * How it fits: main.c runs fr_nemesis_run while the workload threads run,
 * then fr_heal_all. Faults are made with cluster.c's helpers.
 *
 * What it must not do: leave a fault in place after fr_heal_all, or stack
 * faults into a cluster that has not recovered (each step first waits, up
 * to a bound, for a leader).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner.h"

static const struct {
    unsigned f;
    const char *name;
} fault_names[] = {
    {FR_F_KILL, "kill"},       {FR_F_KILL_LEADER, "kill-leader"},
    {FR_F_PAUSE, "pause"},     {FR_F_PARTITION, "partition"},
    {FR_F_POWER, "power"},     {FR_F_WIPE, "wipe"},
    {FR_F_CLOCK, "clock"},
};
#define N_FAULTS (sizeof(fault_names) / sizeof(fault_names[0]))

const char *fr_fault_name(unsigned f)
{
    for (size_t i = 0; i < N_FAULTS; i++)
        if (fault_names[i].f == f)
            return fault_names[i].name;
    return "?";
}

/* "kill,partition" or "all"; 0 on an unknown name. */
unsigned fr_parse_faults(const char *s)
{
    if (strcmp(s, "all") == 0)
        return FR_F_ALL;
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        unsigned f = 0;
        for (size_t i = 0; i < N_FAULTS; i++)
            if (strcmp(t, fault_names[i].name) == 0)
                f = fault_names[i].f;
        if (f == 0)
            return 0;
        mask |= f;
    }
    return mask;
}

struct step {
    int64_t at_ms;
    unsigned kind;
    int hold_ms;
    uint64_t draw; /* seeds the target choices of this step */
};

static int make_schedule(struct fr_run *r, struct step *s, int cap)
{
    uint64_t rng = r->o.seed ^ 0x9e3779b97f4a7c15ull;
    unsigned kinds[N_FAULTS];
    int nk = 0;
    for (size_t i = 0; i < N_FAULTS; i++)
        if (r->o.faults & fault_names[i].f)
            kinds[nk++] = fault_names[i].f;
    int n = 0;
    int64_t t = r->o.heal_min_ms;
    while (n < cap && t < (int64_t)r->o.duration_s * 1000) {
        s[n].at_ms = t;
        s[n].kind = kinds[fr_below(&rng, (uint64_t)nk)];
        s[n].hold_ms = r->o.fault_min_ms +
                       (int)fr_below(&rng, (uint64_t)(r->o.fault_max_ms -
                                                      r->o.fault_min_ms + 1));
        s[n].draw = fr_rand(&rng);
        /* A paused leader must sleep through the ephemeral owners' session
         * timeout: it wakes believing it leads, with every session stale
         * in its view, and must not expire any of them. */
        if (s[n].kind == FR_F_PAUSE && s[n].hold_ms < FR_EPH_SESSION_MS + 1000)
            s[n].hold_ms = FR_EPH_SESSION_MS + 1000;
        t += s[n].hold_ms + r->o.heal_min_ms +
             (int64_t)fr_below(&rng, (uint64_t)(r->o.heal_max_ms -
                                                r->o.heal_min_ms + 1));
        n++;
    }
    return n;
}

/* Ephemeral owners killed during the run: the first half (by a seeded
 * shuffle), each at a seeded time in the middle of the run. */
static void eph_kill_times(struct fr_run *r, int64_t *at)
{
    uint64_t rng = r->o.seed ^ 0x5bd1e995ull;
    for (int i = 0; i < r->o.eph; i++)
        at[i] = -1;
    int64_t span = (int64_t)r->o.duration_s * 1000;
    for (int i = 0; i < r->o.eph / 2 + (r->o.eph % 2); i++) {
        int j = (int)fr_below(&rng, (uint64_t)r->o.eph);
        while (at[j] >= 0)
            j = (j + 1) % r->o.eph;
        at[j] = span / 5 + (int64_t)fr_below(&rng, (uint64_t)(span * 3 / 5));
    }
}

/* Waits until t0 + at_ms, killing ephemeral owners whose time came. */
static void wait_until(struct fr_run *r, int64_t at_ms, const int64_t *kill_at)
{
    for (;;) {
        int64_t now_ms = (fr_now_ns() - r->t0_ns) / 1000000;
        for (int i = 0; i < r->o.eph; i++) {
            struct fr_eph *e = &r->eph[i];
            if (kill_at[i] >= 0 && now_ms >= kill_at[i] && !e->killed &&
                e->pid > 0) {
                kill(e->pid, SIGKILL);
                waitpid(e->pid, NULL, 0);
                e->killed = true;
                e->killed_ns = fr_now_ns();
                fr_log(r, "client: kill -9 ephemeral owner %d (session %llu)",
                       i, (unsigned long long)e->session);
            }
        }
        if (now_ms >= at_ms)
            return;
        fr_sleep_ms(at_ms - now_ms < 100 ? at_ms - now_ms : 100);
    }
}

static int random_live(struct fr_run *r, uint64_t *rng, int except)
{
    int cand[FR_NODES_MAX], n = 0;
    for (int i = 0; i < r->cl.n; i++)
        if (r->cl.node[i].p.pid > 0 && i != except)
            cand[n++] = i;
    return n ? cand[fr_below(rng, (uint64_t)n)] : -1;
}

static void shuffle(int *a, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)fr_below(rng, (uint64_t)i + 1), t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void cut_both(struct fr_run *r, int a, int b)
{
    if (fr_cut(a, b, r) != 0 || fr_cut(b, a, r) != 0)
        fr_log(r, "iptables failed");
}

static void partition(struct fr_run *r, uint64_t *rng)
{
    int n = r->cl.n, perm[FR_NODES_MAX] = {0};
    for (int i = 0; i < n; i++)
        perm[i] = i;
    shuffle(perm, n, rng);
    int l = fr_leader(r);
    switch (fr_below(rng, 4)) {
    case 0: /* majority / minority */
        for (int i = 0; i < n / 2; i++)
            for (int j = n / 2; j < n; j++)
                cut_both(r, perm[i], perm[j]);
        if (n / 2 > 1)
            fr_log(r, "partition: minority {%d,%d} | rest", perm[0] + 1,
                   perm[1] + 1);
        else
            fr_log(r, "partition: minority {%d} | rest", perm[0] + 1);
        break;
    case 1: /* isolated leader */
        if (l < 0)
            l = perm[0];
        for (int j = 0; j < n; j++)
            if (j != l)
                cut_both(r, l, j);
        fr_log(r, "partition: isolated leader %d", l + 1);
        break;
    case 2: { /* bridge: perm[0] sees both halves, which do not see each
               * other */
        int half = 1 + (n - 1) / 2;
        for (int i = 1; i < half; i++)
            for (int j = half; j < n; j++)
                cut_both(r, perm[i], perm[j]);
        fr_log(r, "partition: bridge %d between halves", perm[0] + 1);
        break;
    }
    default: /* one-way: the leader's packets to the others are dropped */
        if (l < 0)
            l = perm[0];
        for (int j = 0; j < n; j++)
            if (j != l && fr_cut(l, j, r) != 0)
                fr_log(r, "iptables failed");
        fr_log(r, "partition: one-way cut of node %d's outgoing packets",
               l + 1);
        break;
    }
}

/* Restarts every dead node at once (one alone may not be able to serve
 * until the others are back), then waits for each to serve. */
static void restart_dead(struct fr_run *r)
{
    bool started[FR_NODES_MAX] = {false};
    for (int i = 0; i < r->cl.n; i++)
        if (r->cl.node[i].p.pid <= 0) {
            fr_log(r, "restart node %d (id %llu)", i + 1,
                   (unsigned long long)r->cl.node[i].p.node_id);
            started[i] = fr_node_start(r, i, 0) == 0;
        }
    int64_t deadline = tproc_now_ms() + 30000;
    for (int i = 0; i < r->cl.n; i++)
        while (started[i] &&
               !tproc_log_has(&r->cl.node[i].p, "msg=serving")) {
            if (tproc_now_ms() > deadline) {
                fr_log(r, "node %d did not serve within 30 s of its restart",
                       i + 1);
                break;
            }
            fr_sleep_ms(20);
        }
}

static void inject(struct fr_run *r, const struct step *s)
{
    uint64_t rng = s->draw;
    int l = fr_leader(r), t;
    if (random_live(r, &rng, -1) < 0) {
        fr_log(r, "no live node: step %s skipped", fr_fault_name(s->kind));
        return;
    }
    rng = s->draw;
    switch (s->kind) {
    case FR_F_KILL:
        t = random_live(r, &rng, -1);
        fr_log(r, "kill -9 node %d", t + 1);
        fr_node_kill(r, t);
        break;
    case FR_F_KILL_LEADER:
        t = l >= 0 ? l : random_live(r, &rng, -1);
        fr_log(r, "kill -9 leader node %d", t + 1);
        fr_node_kill(r, t);
        break;
    case FR_F_PAUSE:
        t = l >= 0 ? l : random_live(r, &rng, -1);
        fr_log(r, "SIGSTOP leader node %d for %d ms", t + 1, s->hold_ms);
        fr_node_pause(r, t, true);
        break;
    case FR_F_PARTITION:
        partition(r, &rng);
        break;
    case FR_F_POWER:
        if (fr_below(&rng, 3) == 0) {
            fr_log(r, "power loss: every node (kill -9, unsynced writes lost)");
            for (int i = 0; i < r->cl.n; i++)
                fr_node_kill(r, i);
        } else {
            t = random_live(r, &rng, -1);
            fr_log(r, "power loss: node %d", t + 1);
            fr_node_kill(r, t);
        }
        break;
    case FR_F_WIPE:
        t = random_live(r, &rng, l);
        if (t < 0)
            break;
        fr_log(r, "wipe node %d (id %llu): remove, re-add under a new id",
               t + 1, (unsigned long long)r->cl.node[t].p.node_id);
        if (fr_wipe_rejoin(r, t) != 0)
            fr_log(r, "wipe: rejoin of node %d failed", t + 1);
        break;
    case FR_F_CLOCK: {
        t = random_live(r, &rng, -1);
        static const int64_t jumps[] = {-3600000, -30000, -5000, 5000,
                                        30000, 3600000};
        int64_t off = jumps[fr_below(&rng, 6)];
        fr_log(r, "clock: node %d restarted with wall clock offset %+lld ms",
               t + 1, (long long)off);
        fr_node_kill(r, t);
        r->cl.node[t].clock_offset_ms = off;
        fr_node_start(r, t, 20000);
        break;
    }
    }
}

static void heal(struct fr_run *r, const struct step *s)
{
    fr_reap_crashed(r);
    switch (s->kind) {
    case FR_F_PAUSE:
        for (int i = 0; i < r->cl.n; i++)
            if (r->cl.node[i].paused) {
                fr_log(r, "SIGCONT node %d", i + 1);
                fr_node_pause(r, i, false);
            }
        break;
    case FR_F_PARTITION: {
        /* The cut must have cut something: coordd binds its peer sockets
         * to its own address, else the rules would match nothing. */
        long long dropped = fr_dropped_packets();
        r->partitions++;
        r->partitions_idle += dropped <= 0;
        fr_log(r, "heal network (the cut dropped %lld packets)", dropped);
        fr_heal_net();
        break;
    }
    case FR_F_WIPE:
        fr_promote_pending(r, 30000);
        break;
    default:
        break;
    }
    restart_dead(r);
}

void fr_nemesis_run(struct fr_run *r)
{
    static struct step steps[FR_STEPS_MAX];
    int n = make_schedule(r, steps, FR_STEPS_MAX);
    int64_t kill_at[FR_EPH_MAX];
    eph_kill_times(r, kill_at);
    fprintf(r->nemlog, "# schedule: seed %llu, %d steps\n",
            (unsigned long long)r->o.seed, n);
    for (int i = 0; i < n; i++)
        fprintf(r->nemlog, "#   at %6lld ms: %-11s for %5d ms draw %016llx\n",
                (long long)steps[i].at_ms, fr_fault_name(steps[i].kind),
                steps[i].hold_ms, (unsigned long long)steps[i].draw);
    for (int i = 0; i < r->o.eph; i++)
        if (kill_at[i] >= 0)
            fprintf(r->nemlog, "#   at %6lld ms: kill -9 ephemeral owner %d\n",
                    (long long)kill_at[i], i);
    fflush(r->nemlog);
    for (int i = 0; i < n; i++) {
        wait_until(r, steps[i].at_ms, kill_at);
        fr_reap_crashed(r);
        fr_promote_pending(r, 30000);
        if (fr_wait_leader(r, 20000) < 0)
            fr_log(r, "no leader before step %d", i);
        inject(r, &steps[i]);
        int64_t now_ms = (fr_now_ns() - r->t0_ns) / 1000000;
        wait_until(r, now_ms + steps[i].hold_ms, kill_at);
        heal(r, &steps[i]);
    }
    wait_until(r, (int64_t)r->o.duration_s * 1000, kill_at);
}

/* Heals every fault: network, pauses, dead nodes, a pending promotion. */
void fr_heal_all(struct fr_run *r)
{
    fr_log(r, "heal everything");
    fr_reap_crashed(r);
    fr_heal_net();
    for (int i = 0; i < r->cl.n; i++)
        if (r->cl.node[i].paused)
            fr_node_pause(r, i, false);
    restart_dead(r);
    fr_promote_pending(r, 60000);
}
