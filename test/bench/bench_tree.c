/* bench_tree.c -- benchmark of coordd/tree/ (not a test): memory per node
 * measured through a counting allocator hook, applies per second while
 * building 1,000,000 nodes (/svc/app-N/item-M, 16-byte values) and setting
 * them, and children listing of a 100,000-child node (first page, middle
 * page, full listing). Run with `make bench-tree`; figures are recorded in
 * docs/benchmarks.md. Times are this thread's CPU time (one core), so a
 * busy machine skews them less. Usage: bench_tree [nodes] */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coordd/tree/tree.h"
#include "libcoord/shared/alloc.h"

/* ---- Counting allocator hook: requested and real (usable) bytes. ---- */
static int64_t live_req, live_real;

struct hdr {
    size_t size;
    size_t pad;
};

/* What the block would cost glibc without our header: its usable size
 * plus the 8-byte chunk header. */
static int64_t real_size(struct hdr *h)
{
    return (int64_t)(malloc_usable_size(h) - sizeof(*h) + 8);
}

static void *cnt_malloc(void *data, size_t size)
{
    (void)data;
    struct hdr *h = malloc(sizeof(*h) + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    live_req += (int64_t)size;
    live_real += real_size(h);
    return h + 1;
}

static void cnt_free(void *data, void *p)
{
    (void)data;
    if (p == NULL)
        return;
    struct hdr *h = (struct hdr *)p - 1;
    live_req -= (int64_t)h->size;
    live_real -= real_size(h);
    free(h);
}

static void *cnt_realloc(void *data, void *p, size_t size)
{
    if (p == NULL)
        return cnt_malloc(data, size);
    struct hdr *h = (struct hdr *)p - 1;
    size_t old = h->size;
    int64_t old_real = real_size(h);
    struct hdr *n = realloc(h, sizeof(*n) + size);
    if (n == NULL)
        return NULL;
    n->size = size;
    live_req += (int64_t)size - (int64_t)old;
    live_real += real_size(n) - old_real;
    return n + 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t zxid, xid;

static void apply(struct tree *t, struct tree_cmd *c)
{
    const struct tree_result *r;
    c->xid = ++xid;
    c->time_ms = 1700000000000LL + (int64_t)zxid;
    int err = tree_apply(t, ++zxid, c, NULL, NULL, &r);
    if (err != 0) {
        fprintf(stderr, "apply failed: %s\n", coord_errname(err));
        exit(1);
    }
}

static struct tree_cmd op_cmd(uint8_t type, const char *path, size_t len,
                              const char *data, uint32_t dlen)
{
    struct tree_cmd c = { .type = type, .session_id = 1 };
    c.op.type = type;
    c.op.path = path;
    c.op.path_len = (uint32_t)len;
    c.op.data = data;
    c.op.data_len = dlen;
    c.op.version = -1;
    return c;
}

static void count_cb(void *data, const char *name, size_t len,
                     const struct coord_stat *st)
{
    (void)name, (void)len, (void)st;
    (*(uint64_t *)data)++;
}

static void bench_children(struct tree *t)
{
    char p[64];
    const char *val = "0123456789abcdef";
    struct tree_cmd c = op_cmd(TREE_CMD_CREATE, "/wide", 5, NULL, 0);
    apply(t, &c);
    for (int i = 0; i < 100000; i++) {
        int n = snprintf(p, sizeof(p), "/wide/child-%08d", i * 7 % 100000);
        c = op_cmd(TREE_CMD_CREATE, p, (size_t)n, val, 16);
        apply(t, &c);
    }
    uint64_t got = 0;
    bool more;
    int reps = 1000;
    double t0 = now_s();
    for (int i = 0; i < reps; i++)
        tree_children(t, "/wide", 5, NULL, 0, 10, false, count_cb, &got,
                      &more);
    double first = (now_s() - t0) / reps;
    t0 = now_s();
    for (int i = 0; i < reps; i++)
        tree_children(t, "/wide", 5, "child-00050000", 14, 10, false,
                      count_cb, &got, &more);
    double mid = (now_s() - t0) / reps;
    t0 = now_s();
    got = 0;
    tree_children(t, "/wide", 5, NULL, 0, COORD_CHILDREN_PAGE_MAX, true,
                  count_cb, &got, &more);
    double full = now_s() - t0;
    printf("children of a 100000-child node: first page of 10: %.2f us, "
           "middle page of 10: %.2f us, full listing (%llu with stats): "
           "%.2f ms\n", first * 1e6, mid * 1e6, (unsigned long long)got,
           full * 1e3);
}

struct membuf {
    char *p;
    size_t len, cap, pos;
};

static int mem_write(void *data, const void *b, size_t len)
{
    struct membuf *m = data;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->len, b, len);
    m->len += len;
    return 0;
}

static long mem_read(void *data, void *buf, size_t cap)
{
    struct membuf *m = data;
    size_t n = m->len - m->pos < cap ? m->len - m->pos : cap;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (long)n;
}

static void bench_snapshot(struct tree *t)
{
    struct membuf m = { 0 };
    double t0 = now_s();
    if (tree_snapshot_write(t, mem_write, &m) != 0)
        exit(1);
    double w = now_s() - t0;
    struct tree *u;
    t0 = now_s();
    if (tree_snapshot_load(&u, NULL, mem_read, &m) != 0 ||
        tree_digest(u) != tree_digest(t))
        exit(1);
    double l = now_s() - t0;
    printf("snapshot of %llu nodes: %.1f MB, write %.2f s, load (with "
           "validation) %.2f s\n", (unsigned long long)tree_node_count(t),
           (double)m.len / 1e6, w, l);
    tree_close(u);
    free(m.p);
}

/* Paths of the big tree, generated before timing. */
struct paths {
    char *buf;
    uint32_t *off, *len;
    long n;
};

static void gen_paths(struct paths *ps, long apps, long per)
{
    ps->n = apps * (per + 1);
    ps->buf = malloc((size_t)ps->n * 32);
    ps->off = malloc((size_t)ps->n * sizeof(uint32_t));
    ps->len = malloc((size_t)ps->n * sizeof(uint32_t));
    size_t at = 0;
    long k = 0;
    for (long a = 0; a < apps; a++)
        for (long i = -1; i < per; i++, k++) {
            int n = i < 0 ? snprintf(ps->buf + at, 32, "/svc/app-%ld", a)
                          : snprintf(ps->buf + at, 32,
                                     "/svc/app-%ld/item-%ld", a, i);
            ps->off[k] = (uint32_t)at;
            ps->len[k] = (uint32_t)n;
            at += (size_t)n;
        }
}

/* Creates every path (apps with no data, items with 16 bytes); returns
 * the seconds taken and the path+data bytes. */
static double build(struct tree *t, const struct paths *ps, uint64_t *pay)
{
    const char *val = "0123456789abcdef";
    struct tree_cmd open = { .type = TREE_CMD_SESSION_OPEN, .session_id = 1,
                             .timeout_ms = 10000 };
    apply(t, &open);
    struct tree_cmd c = op_cmd(TREE_CMD_CREATE, "/svc", 4, NULL, 0);
    apply(t, &c);
    *pay = 4;
    double t0 = now_s();
    for (long k = 0; k < ps->n; k++) {
        const char *p = ps->buf + ps->off[k];
        bool item = strchr(p + 5, '/') != NULL;
        c = op_cmd(TREE_CMD_CREATE, p, ps->len[k], val, item ? 16 : 0);
        apply(t, &c);
        *pay += ps->len[k] + (item ? 16 : 0);
    }
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    long nodes = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    long apps = 1000, per = nodes / apps;
    struct paths ps;
    gen_paths(&ps, apps, per);
    uint64_t payload;

    /* Pass 1, counting allocator: memory per node. */
    struct coord_alloc_hook hook = { cnt_malloc, cnt_realloc, cnt_free,
                                     NULL };
    coord_alloc_hook_set(&hook);
    struct tree *t;
    if (tree_open(&t, NULL) != 0)
        return 1;
    int64_t base_req = live_req, base_real = live_real;
    build(t, &ps, &payload);
    uint64_t n_nodes = tree_node_count(t) - 1;
    double req = (double)(live_req - base_req);
    double real = (double)(live_real - base_real);
    printf("nodes: %llu\n", (unsigned long long)n_nodes);
    printf("memory per node beyond path+data: %.1f B requested, %.1f B "
           "with glibc chunk overhead (total %.1f MB, path+data %.1f MB)\n",
           (req - (double)payload) / (double)n_nodes,
           (real - (double)payload) / (double)n_nodes, real / 1e6,
           (double)payload / 1e6);
    tree_close(t);
    coord_alloc_hook_set(NULL);

    /* Pass 2, plain allocator: rates. */
    zxid = xid = 0;
    if (tree_open(&t, NULL) != 0)
        return 1;
    double create_s = build(t, &ps, &payload);
    printf("create applies: %.0f/s (%.2f s)\n", (double)ps.n / create_s,
           create_s);
    double t0 = now_s();
    for (long k = 0; k < ps.n; k++) {
        struct tree_cmd c = op_cmd(TREE_CMD_SET, ps.buf + ps.off[k],
                                   ps.len[k], "fedcba9876543210", 16);
        apply(t, &c);
    }
    double set_s = now_s() - t0;
    printf("set applies: %.0f/s (%.2f s)\n", (double)ps.n / set_s, set_s);
    t0 = now_s();
    for (long k = 0; k < ps.n; k++) {
        struct tree_cmd c = op_cmd(TREE_CMD_CHECK, ps.buf + ps.off[k],
                                   ps.len[k], NULL, 0);
        apply(t, &c);
    }
    double chk_s = now_s() - t0;
    printf("check applies: %.0f/s\n", (double)ps.n / chk_s);
    t0 = now_s();
    for (long k = 0; k < ps.n; k++) {
        struct coord_stat st;
        tree_exists(t, ps.buf + ps.off[k], ps.len[k], &st);
    }
    printf("exists reads: %.0f/s\n", (double)ps.n / (now_s() - t0));
    bench_snapshot(t);
    bench_children(t);
    tree_close(t);
    free(ps.buf);
    free(ps.off);
    free(ps.len);
    return 0;
}
