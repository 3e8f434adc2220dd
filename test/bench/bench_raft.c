/* bench_raft.c -- throughput of the Raft core alone (not a test).
 *
 * A 3-node cluster in one thread with an instant network (a FIFO of copied
 * messages) and an instant disk (every persist batch is acknowledged right
 * after its update is carried out), so only the core's own cost is
 * measured. The leader proposes batches of B entries (16-byte payloads) as
 * fast as the core accepts them; we report committed entries per second (at
 * the leader) and messages per committed entry, for B = 1, 16, 64, 256.
 * Rates use the process CPU time (one thread), so other load on the machine
 * does not skew them. Run with `make bench-raft`; docs/benchmarks.md
 * records the figures.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"
#include "coordd/raft/raft.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

#define BN 3
#define PAYLOAD 16

struct qmsg {
    struct qmsg *next;
    struct raft_msg m;
};

struct bnode {
    struct raft *r;
    uint64_t applied, told, snap;
};

static struct bnode g_nodes[BN];
static struct qmsg *g_head, *g_tail;
static uint64_t g_msgs;

static struct qmsg *copy_msg(const struct raft_msg *m)
{
    size_t size = sizeof(struct qmsg) +
                  m->n_entries * sizeof(struct raft_entry);
    for (uint32_t i = 0; i < m->n_entries; i++)
        size += m->entries[i].len;
    struct qmsg *q = coord_malloc(size);
    coord_assert(q != NULL);
    q->next = NULL;
    q->m = *m;
    struct raft_entry *e = (struct raft_entry *)(q + 1);
    uint8_t *p = (uint8_t *)(e + m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        e[i] = m->entries[i];
        memcpy(p, m->entries[i].data, e[i].len);
        e[i].data = p;
        p += e[i].len;
    }
    q->m.entries = e;
    return q;
}

static void step(int i, const struct raft_event *ev);

static void carry_out(int i, const struct raft_update *u)
{
    struct bnode *n = &g_nodes[i];
    for (uint32_t k = 0; k < u->n_msgs; k++) {
        struct qmsg *q = copy_msg(&u->msgs[k]);
        if (g_tail)
            g_tail->next = q;
        else
            g_head = q;
        g_tail = q;
        g_msgs++;
    }
    if (u->n_committed)
        n->applied = u->committed[u->n_committed - 1].index;
    uint64_t seq = u->persist_seq;
    if (seq) {
        struct raft_event ev = {.type = RAFT_EV_PERSISTED};
        ev.persisted.seq = seq;
        step(i, &ev);
    }
    if (n->applied > n->told) {
        n->told = n->applied;
        struct raft_event ev = {.type = RAFT_EV_APPLIED};
        ev.applied.index = n->applied;
        step(i, &ev);
    }
    if (n->applied - n->snap >= 4096) {
        n->snap = n->applied;
        struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_TAKEN};
        ev.snap_taken.index = n->snap;
        ev.snap_taken.size = 8;
        step(i, &ev);
    }
}

static void step(int i, const struct raft_event *ev)
{
    struct raft_update u;
    raft_step(g_nodes[i].r, ev, &u);
    carry_out(i, &u);
}

static void drain(void)
{
    while (g_head) {
        struct qmsg *q = g_head;
        g_head = q->next;
        if (!g_head)
            g_tail = NULL;
        struct raft_event ev = {.type = RAFT_EV_RECV};
        ev.recv = q->m;
        step((int)q->m.to - 1, &ev);
        coord_free(q);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void setup(void)
{
    struct raft_restore rs = {0};
    rs.snap.conf.n = BN;
    for (int i = 0; i < BN; i++)
        rs.snap.conf.members[i] = (struct raft_member){(uint64_t)i + 1,
                                                       RAFT_VOTER};
    for (int i = 0; i < BN; i++) {
        struct raft_config c = {
            .id = (uint64_t)i + 1, .election_ticks = 10,
            .heartbeat_ticks = 1, .inflight_max = 64,
            .append_entries_max = 1024, .append_bytes_max = 1 << 20,
            .uncommitted_bytes_max = 64 << 20, .log_entries_max = 65536,
            .log_bytes_max = 256 << 20, .snapshot_chunk_bytes = 65536,
            .reads_max = 1024, .pre_vote = true, .check_quorum = true,
            .seed = (uint64_t)i + 7};
        memset(&g_nodes[i], 0, sizeof(g_nodes[i]));
        int rc = raft_init(&g_nodes[i].r, &c, &rs);
        if (rc != 0) {
            fprintf(stderr, "raft_init: %s\n", coord_strerror(rc));
            exit(1);
        }
    }
    /* node 1 campaigns: tick it alone until it leads */
    struct raft_status st;
    for (int t = 0; t < 100; t++) {
        step(0, &(struct raft_event){.type = RAFT_EV_TICK});
        drain();
        raft_status(g_nodes[0].r, &st);
        if (st.role == RAFT_LEADER)
            return;
    }
    fprintf(stderr, "no leader elected\n");
    exit(1);
}

static void teardown(void)
{
    for (int i = 0; i < BN; i++)
        raft_close(g_nodes[i].r);
}

static void bench(uint32_t batch, uint64_t target)
{
    setup();
    uint8_t data[256][PAYLOAD];
    struct raft_buf bufs[256];
    for (uint32_t i = 0; i < batch; i++) {
        memset(data[i], (int)i, PAYLOAD);
        bufs[i] = (struct raft_buf){data[i], PAYLOAD};
    }
    uint64_t start_applied = g_nodes[0].applied;
    g_msgs = 0;
    double t0 = now_s();
    uint64_t refused = 0, rounds = 0;
    while (g_nodes[0].applied - start_applied < target) {
        struct raft_event ev = {.type = RAFT_EV_PROPOSE};
        ev.propose.bufs = bufs;
        ev.propose.n = batch;
        struct raft_update u;
        int rc = raft_step(g_nodes[0].r, &ev, &u);
        carry_out(0, &u);
        if (rc != 0)
            refused++;
        drain();
        if (++rounds % 64 == 0)
            step(0, &(struct raft_event){.type = RAFT_EV_TICK});
    }
    double dt = now_s() - t0;
    uint64_t done = g_nodes[0].applied - start_applied;
    printf("batch %4u: %10.0f entries/s committed, %6.3f messages/entry "
           "(%" PRIu64 " entries in %.3f s, %" PRIu64 " refused)\n",
           batch, (double)done / dt, (double)g_msgs / (double)done, done,
           dt, refused);
    while (g_head) { /* normally empty after drain() */
        struct qmsg *q = g_head;
        g_head = q->next;
        coord_free(q);
    }
    g_tail = NULL;
    teardown();
}

int main(int argc, char **argv)
{
    uint64_t target = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    printf("Raft core, 3 nodes, instant network and disk, %d-byte entries\n",
           PAYLOAD);
    bench(1, target / 8);
    bench(16, target);
    bench(64, target);
    bench(256, target);
    return 0;
}
