/* gen.c -- the seeded register-history generator declared in gen.h.
 *
 * How it works: each client slot issues operations back to back; an
 * operation's invocation, linearization point and completion are drawn from
 * a latency distribution (mostly sub-millisecond to 2 ms, 2% up to 50 ms).
 * Indeterminate operations take effect with probability 1/2, at a point up
 * to 200 ms after invocation (a request that reached the leader late), and
 * their client continues under a new process id, as in Jepsen. After all
 * times are drawn, the operations that take effect are applied to a true
 * register per key in linearization-point order, which fixes every result.
 *
 * What it must not do: produce a history that is not linearizable; it uses
 * only its own PRNG.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"
#include "gen.h"

#define GEN_MS ((int64_t)1000000) /* ns */
#define GEN_GIVEUP_NS (10 * GEN_MS) /* when a client reports info */

struct gen_rng {
    uint64_t s;
};

static uint64_t gen_next(struct gen_rng *r)
{
    uint64_t x = (r->s += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t gen_range(struct gen_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(gen_next(r) % (uint64_t)(hi - lo + 1));
}

static int64_t gen_latency(struct gen_rng *r)
{
    if (gen_range(r, 0, 99) < 2)
        return gen_range(r, 2 * GEN_MS, 50 * GEN_MS);
    return gen_range(r, 50000, 2 * GEN_MS);
}

/* Per-op scheduling facts that do not go into the history. */
struct gen_sched {
    int64_t lin;  /* linearization point */
    bool applied; /* takes effect on the register */
};

struct gen_reg {
    int64_t version;
    const char *value;
};

/* Draws operation i for a client slot whose next invocation is at *t. */
static void gen_draw(struct gen_rng *r, const struct lincheck_gen_params *p,
                     struct lincheck_gen_op *g, struct gen_sched *sc,
                     int64_t *t, uint32_t *pid, uint32_t *next_pid, size_t i)
{
    struct lincheck_op *op = &g->op;
    snprintf(g->key, sizeof(g->key), "k%" PRIu64,
             gen_next(r) % p->keys);
    int64_t roll = gen_range(r, 0, 99);
    op->f = roll < 50 ? LINCHECK_READ
                      : roll < 75 ? LINCHECK_WRITE : LINCHECK_CAS;
    snprintf(g->value, sizeof(g->value), "v%zu", i);
    op->process = *pid;
    op->invoke_ns = *t;
    sc->lin = *t + gen_latency(r);
    op->complete_ns = sc->lin + gen_latency(r);
    op->status = LINCHECK_OK;
    sc->applied = true;
    op->expected_version = LINCHECK_VERSION_ANY;
    int64_t out = gen_range(r, 0, 999);
    if (out < p->info_permille) {
        op->status = LINCHECK_INFO;
        sc->applied = gen_range(r, 0, 1) == 1;
        sc->lin = *t + gen_range(r, 1, 200 * GEN_MS);
        op->complete_ns = LINCHECK_TIME_INF;
        *pid = (*next_pid)++; /* the client crashed; a new one goes on */
        *t += GEN_GIVEUP_NS + gen_range(r, 0, GEN_MS);
        return;
    }
    if (out < p->info_permille + p->fail_permille) {
        op->status = LINCHECK_FAIL;
        sc->applied = false;
    }
    *t = op->complete_ns + gen_range(r, 0, GEN_MS);
}

/* Orders operation indexes by linearization point (qsort_r with sc). */
static int gen_lin_cmp(const void *a, const void *b, void *arg)
{
    const struct gen_sched *sc = arg;
    int64_t x = sc[*(const size_t *)a].lin;
    int64_t y = sc[*(const size_t *)b].lin;
    if (x != y)
        return x < y ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Applies op to its key's register (if it takes effect) and fills in the
 * results the client would have seen. */
static void gen_apply(struct gen_rng *r, struct lincheck_gen_op *g,
                      const struct gen_sched *sc, struct gen_reg *reg)
{
    struct lincheck_op *op = &g->op;
    op->result = LINCHECK_R_DONE;
    op->version = LINCHECK_VERSION_UNKNOWN;
    if (op->f == LINCHECK_CAS) /* sometimes stale, sometimes current */
        op->expected_version = reg->version - gen_range(r, 0, 1);
    if (op->f == LINCHECK_CAS && op->expected_version < 0)
        op->expected_version = 0;
    if (!sc->applied)
        return;
    switch (op->f) {
    case LINCHECK_READ:
        snprintf(g->value, sizeof(g->value), "%s", reg->value);
        op->version = reg->version;
        return;
    case LINCHECK_CAS:
        if (op->expected_version != reg->version) {
            op->result = LINCHECK_R_BADVERSION;
            return;
        }
        /* fall through */
    default:
        reg->value = g->value;
        op->version = ++reg->version;
        return;
    }
}

int lincheck_gen_run(const struct lincheck_gen_params *p,
                     struct lincheck_gen *g)
{
    memset(g, 0, sizeof(*g));
    if (p->keys == 0 || p->processes == 0 || p->ops == 0 ||
        p->info_permille + p->fail_permille > 1000)
        return -EINVAL;
    g->params = *p;
    g->n = p->ops;
    g->ops = coord_calloc(g->n, sizeof(*g->ops));
    struct gen_sched *sc = coord_calloc(g->n, sizeof(*sc));
    size_t *order = coord_calloc(g->n, sizeof(*order));
    int64_t *t = coord_calloc(p->processes, sizeof(*t));
    uint32_t *pid = coord_calloc(p->processes, sizeof(*pid));
    struct gen_reg *reg = coord_calloc(p->keys, sizeof(*reg));
    int rc = -ENOMEM;
    if (!g->ops || !sc || !order || !t || !pid || !reg)
        goto out;
    struct gen_rng r = {p->seed};
    for (uint32_t s = 0; s < p->processes; s++) {
        pid[s] = s;
        t[s] = gen_range(&r, 0, GEN_MS);
    }
    uint32_t next_pid = p->processes;
    for (size_t i = 0; i < g->n; i++) {
        uint32_t s = 0; /* the slot that is free first */
        for (uint32_t j = 1; j < p->processes; j++)
            if (t[j] < t[s])
                s = j;
        gen_draw(&r, p, &g->ops[i], &sc[i], &t[s], &pid[s], &next_pid, i);
        order[i] = i;
    }
    qsort_r(order, g->n, sizeof(*order), gen_lin_cmp, sc);
    for (uint32_t k = 0; k < p->keys; k++)
        reg[k].value = "init";
    for (size_t i = 0; i < g->n; i++) {
        struct lincheck_gen_op *o = &g->ops[order[i]];
        uint32_t k = (uint32_t)strtoul(o->key + 1, NULL, 10);
        gen_apply(&r, o, &sc[order[i]], &reg[k]);
    }
    for (size_t i = 0; i < g->n; i++) {
        if (gen_range(&r, 0, 999) < p->blind_permille)
            g->ops[i].op.version = LINCHECK_VERSION_UNKNOWN;
        g->ops[i].op.key = g->ops[i].key;
        g->ops[i].op.value = g->ops[i].value;
    }
    rc = 0;
out:
    coord_free(sc);
    coord_free(order);
    coord_free(t);
    coord_free(pid);
    coord_free(reg);
    if (rc < 0)
        lincheck_gen_free(g);
    return rc;
}

void lincheck_gen_free(struct lincheck_gen *g)
{
    coord_free(g->ops);
    memset(g, 0, sizeof(*g));
}

int lincheck_gen_add(const struct lincheck_gen *g, struct lincheck_history *h)
{
    char key[16];
    for (uint32_t k = 0; k < g->params.keys; k++) {
        snprintf(key, sizeof(key), "k%" PRIu32, k);
        int rc = lincheck_history_init_key(h, key, "init", 0);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < g->n; i++) {
        char err[128];
        int rc = lincheck_history_add(h, &g->ops[i].op, err, sizeof(err));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One text event: an invocation or a completion of ops[op]. */
struct gen_event {
    int64_t t;
    size_t op;
    int invoke; /* completions first at equal times */
};

static int gen_event_cmp(const void *a, const void *b)
{
    const struct gen_event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->invoke - y->invoke;
}

static void gen_write_event(const struct lincheck_gen_op *g, int invoke,
                            FILE *out)
{
    const struct lincheck_op *op = &g->op;
    static const char *const names[] = {"", "read", "write", "cas"};
    if (invoke) {
        fprintf(out, "%" PRId64 " %" PRIu32 " invoke %s %s", op->invoke_ns,
                op->process, names[op->f], g->key);
        if (op->f == LINCHECK_CAS)
            fprintf(out, " %" PRId64, op->expected_version);
        fprintf(out, "%s%s\n", op->f == LINCHECK_READ ? "" : " ",
                op->f == LINCHECK_READ ? "" : g->value);
        return;
    }
    if (op->status == LINCHECK_INFO) {
        fprintf(out, "%" PRId64 " %" PRIu32 " info timeout\n",
                op->invoke_ns + GEN_GIVEUP_NS, op->process);
        return;
    }
    fprintf(out, "%" PRId64 " %" PRIu32 " %s", op->complete_ns, op->process,
            op->status == LINCHECK_FAIL ? "fail" : "ok");
    if (op->status == LINCHECK_FAIL)
        fprintf(out, "\n");
    else if (op->result == LINCHECK_R_BADVERSION)
        fprintf(out, " badversion\n");
    else if (op->f == LINCHECK_READ)
        fprintf(out, " %s ", g->value);
    else
        fprintf(out, " ");
    if (op->status == LINCHECK_OK && op->result == LINCHECK_R_DONE) {
        if (op->version == LINCHECK_VERSION_UNKNOWN)
            fprintf(out, "*\n");
        else
            fprintf(out, "%" PRId64 "\n", op->version);
    }
}

int lincheck_gen_write(const struct lincheck_gen *g, FILE *out)
{
    struct gen_event *ev = coord_malloc(2 * g->n * sizeof(*ev));
    if (ev == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < g->n; i++) {
        const struct lincheck_op *op = &g->ops[i].op;
        ev[2 * i] = (struct gen_event){op->invoke_ns, i, 1};
        ev[2 * i + 1] = (struct gen_event){
            op->status == LINCHECK_INFO ? op->invoke_ns + GEN_GIVEUP_NS
                                        : op->complete_ns, i, 0};
    }
    qsort(ev, 2 * g->n, sizeof(*ev), gen_event_cmp);
    fprintf(out, "# generated: seed %" PRIu64 ", %" PRIu32 " ops, %" PRIu32
            " keys, %" PRIu32 " processes\n", g->params.seed, g->params.ops,
            g->params.keys, g->params.processes);
    for (uint32_t k = 0; k < g->params.keys; k++)
        fprintf(out, "init k%" PRIu32 " init 0\n", k);
    for (size_t i = 0; i < 2 * g->n; i++)
        gen_write_event(&g->ops[ev[i].op], ev[i].invoke, out);
    coord_free(ev);
    return ferror(out) ? -EIO : 0;
}
