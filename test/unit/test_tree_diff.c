/* test_tree_diff.c -- randomized differential test of coordd/tree/: long
 * seeded sequences of random commands (creates of every mode, deletes,
 * sets, checks, multis, session open/close/expire, cleanup, retried xids)
 * run against the tree and against a deliberately simple reference model
 * written here (a flat array of nodes searched linearly, multi rollback by
 * copying the whole model). Every result, every event and the final state
 * are compared; a twin tree and a snapshot reload must give the same
 * digest. A failure prints the seed and step; DIFF_SEED=<n> reruns one
 * seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordd/tree/tree_int.h"

#define MN 400          /* model capacity */
#define NODES_MAX 120   /* tree limit, mirrored by the model */
#define CHILDREN_MAX 12
#define MS 6            /* session ids 1..MS */
#define W TREE_DEDUP_WINDOW
#define PMAX 80
#define OPS_MAX 5
#define EV_MAX 256
#define STEPS 4000
#define SEEDS 40

static uint64_t seed_now;
static int step_now;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "diff: seed %llu step %d: %s (line %d)\n",       \
                    (unsigned long long)seed_now, step_now, #cond,           \
                    __LINE__);                                               \
            fail();                                                          \
        }                                                                    \
    } while (0)

/* ---- Reference model ---------------------------------------------------- */
struct mnode {
    bool used;
    char path[PMAX];
    char data[16];
    uint32_t dlen;
    struct coord_stat st;
    uint32_t mode;
    int64_t ttl;
};

struct mres {
    int err;
    uint64_t zxid;
    uint32_t n;
    int errs[OPS_MAX];
    struct coord_stat st[OPS_MAX];
    char paths[OPS_MAX][PMAX];
};

struct msess {
    bool used;
    uint64_t last;
    struct {
        bool used;
        uint64_t xid;
        struct mres r;
    } cache[W];
    int next;
};

struct mev {
    uint8_t type;
    char path[PMAX];
};

struct model {
    struct mnode n[MN];
    struct msess s[MS + 1];
    struct mev ev[EV_MAX];
    int n_ev;
    uint64_t zxid;
    int64_t now;
};

static bool m_valid(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || p[0] != '/')
        return false;
    if (len == 1)
        return true;
    if (p[len - 1] == '/' || strstr(p, "//"))
        return false;
    const char *c = p;
    while (c) {
        c++;
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if ((n == 1 && c[0] == '.') || (n == 2 && !strncmp(c, "..", 2)))
            return false;
        c = e;
    }
    return true;
}

static struct mnode *m_find(struct model *m, const char *p)
{
    for (int i = 0; i < MN; i++)
        if (m->n[i].used && !strcmp(m->n[i].path, p))
            return &m->n[i];
    return NULL;
}

static void m_parent(const char *p, char *out)
{
    strcpy(out, p);
    char *s = strrchr(out, '/');
    if (s == out)
        out[1] = '\0';
    else
        *s = '\0';
}

static int m_count(struct model *m)
{
    int k = 0;
    for (int i = 0; i < MN; i++)
        k += m->n[i].used;
    return k;
}

static bool m_has_kids(struct model *m, const char *p)
{
    size_t len = strlen(p);
    for (int i = 0; i < MN; i++) {
        const char *q = m->n[i].path;
        if (!m->n[i].used || strlen(q) <= len)
            continue;
        if (len == 1 ? q[0] == '/' : (!strncmp(q, p, len) && q[len] == '/'))
            return true;
    }
    return false;
}

static void m_event(struct model *m, uint8_t type, const char *p)
{
    CHECK(m->n_ev < EV_MAX);
    m->ev[m->n_ev].type = type;
    strcpy(m->ev[m->n_ev].path, p);
    m->n_ev++;
}

static bool mode_ok(uint32_t mode, int64_t ttl)
{
    switch (mode) {
    case 0: case 1: case 2: case 3: case 4:
        return ttl == 0;
    case 8: case 10:
        return ttl > 0;
    default:
        return false;
    }
}

static int m_create(struct model *m, const struct tree_op *op, uint64_t sid,
                    struct coord_stat *st, char *outp)
{
    char path[PMAX * 2], par[PMAX * 2];
    bool seq = op->mode & COORD_SEQUENTIAL;
    if (!mode_ok(op->mode, op->ttl_ms))
        return COORD_EINVAL;
    snprintf(path, sizeof(path), "%.*s%s", (int)op->path_len, op->path,
             seq ? "0" : "");
    if (!m_valid(path))
        return COORD_EBADPATH;
    if (!strcmp(path, "/"))
        return COORD_ENODEEXISTS;
    m_parent(path, par);
    struct mnode *pn = m_find(m, par);
    if (!pn)
        return COORD_ENONODE;
    if (seq)
        snprintf(path, sizeof(path), "%.*s%010d", (int)op->path_len,
                 op->path, pn->st.cversion);
    if (m_find(m, path))
        return COORD_ENODEEXISTS;
    if (pn->st.ephemeral_owner)
        return COORD_ENOCHILDRENFOREPHEMERALS;
    if (m_count(m) >= NODES_MAX || pn->st.num_children >= CHILDREN_MAX)
        return COORD_ETOOMANY;
    CHECK(strlen(path) < PMAX);
    struct mnode *n = NULL;
    for (int i = 0; i < MN && !n; i++)
        if (!m->n[i].used)
            n = &m->n[i];
    CHECK(n != NULL);
    memset(n, 0, sizeof(*n));
    n->used = true;
    strcpy(n->path, path);
    memcpy(n->data, op->data, op->data_len);
    n->dlen = op->data_len;
    n->mode = op->mode;
    n->ttl = op->ttl_ms;
    n->st.czxid = n->st.mzxid = n->st.pzxid = m->zxid;
    n->st.ctime_ms = n->st.mtime_ms = m->now;
    n->st.data_length = op->data_len;
    n->st.ephemeral_owner = (op->mode & COORD_EPHEMERAL) ? sid : 0;
    pn->st.cversion++;
    pn->st.pzxid = m->zxid;
    pn->st.num_children++;
    *st = n->st;
    strcpy(outp, path);
    m_event(m, COORD_EVENT_CREATED, path);
    m_event(m, COORD_EVENT_CHILDREN_CHANGED, pn->path);
    return 0;
}

static void m_remove(struct model *m, struct mnode *n)
{
    char par[PMAX];
    m_parent(n->path, par);
    struct mnode *pn = m_find(m, par);
    pn->st.cversion++;
    pn->st.pzxid = m->zxid;
    pn->st.num_children--;
    n->used = false;
    m_event(m, COORD_EVENT_DELETED, n->path);
    m_event(m, COORD_EVENT_CHILDREN_CHANGED, pn->path);
}

static int m_lookup(struct model *m, const struct tree_op *op,
                    struct mnode **out)
{
    char path[PMAX * 2];
    snprintf(path, sizeof(path), "%.*s", (int)op->path_len, op->path);
    if (!m_valid(path))
        return COORD_EBADPATH;
    *out = m_find(m, path);
    if (!*out)
        return COORD_ENONODE;
    if (op->version != -1 && op->version != (*out)->st.version)
        return COORD_EBADVERSION;
    return 0;
}

static int m_op(struct model *m, const struct tree_op *op, uint64_t sid,
                struct coord_stat *st, char *outp)
{
    struct mnode *n;
    int err;
    memset(st, 0, sizeof(*st));
    outp[0] = '\0';
    switch (op->type) {
    case TREE_CMD_CREATE:
        return m_create(m, op, sid, st, outp);
    case TREE_CMD_DELETE:
        if (op->path_len == 1 && op->path[0] == '/')
            return COORD_EINVAL;
        if ((err = m_lookup(m, op, &n)))
            return err;
        if (m_has_kids(m, n->path))
            return COORD_ENOTEMPTY;
        m_remove(m, n);
        return 0;
    case TREE_CMD_SET:
        if ((err = m_lookup(m, op, &n)))
            return err;
        memcpy(n->data, op->data, op->data_len);
        n->dlen = n->st.data_length = op->data_len;
        n->st.version++;
        n->st.mzxid = m->zxid;
        n->st.mtime_ms = m->now;
        *st = n->st;
        m_event(m, COORD_EVENT_DATA_CHANGED, n->path);
        return 0;
    case TREE_CMD_CHECK:
        if ((err = m_lookup(m, op, &n)))
            return err;
        *st = n->st;
        return 0;
    default:
        return COORD_EINVAL;
    }
}

static struct model *m_saved;

static void m_multi(struct model *m, const struct tree_cmd *c,
                    struct mres *r)
{
    memcpy(m_saved, m, sizeof(*m));
    r->n = c->n_ops;
    for (uint32_t i = 0; i < c->n_ops; i++) {
        int err = m_op(m, &c->ops[i], c->session_id, &r->st[i], r->paths[i]);
        r->errs[i] = err;
        if (err == 0)
            continue;
        memcpy(m, m_saved, sizeof(*m));
        for (uint32_t j = 0; j < c->n_ops; j++) {
            memset(&r->st[j], 0, sizeof(r->st[j]));
            r->paths[j][0] = '\0';
            r->errs[j] = j < i ? 0 : (j == i ? err : COORD_ESKIPPED);
        }
        r->err = err;
        return;
    }
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void m_end_session(struct model *m, uint64_t id)
{
    char *v[MN];
    int k = 0;
    for (int i = 0; i < MN; i++)
        if (m->n[i].used && m->n[i].st.ephemeral_owner == id)
            v[k++] = m->n[i].path;
    qsort(v, k, sizeof(v[0]), path_cmp);
    for (int i = 0; i < k; i++)
        m_remove(m, m_find(m, v[i]));
    memset(&m->s[id], 0, sizeof(m->s[id]));
}

static bool m_eligible(struct model *m, struct mnode *n, int64_t now)
{
    if (m_has_kids(m, n->path))
        return false;
    if (n->mode == COORD_CONTAINER)
        return n->st.cversion > 0;
    if (n->mode & COORD_TTL)
        return now - n->st.mtime_ms > n->ttl;
    return false;
}

/* The model's whole apply. */
static void m_apply(struct model *m, const struct tree_cmd *c,
                    struct mres *r, bool *cached)
{
    memset(r, 0, sizeof(*r));
    r->zxid = m->zxid;
    *cached = false;
    m->n_ev = 0;
    if (c->type == TREE_CMD_NOOP)
        return;
    if (c->type == TREE_CMD_SESSION_OPEN) {
        *cached = m->s[c->session_id].used;
        m->s[c->session_id].used = true;
        return;
    }
    if (c->type == TREE_CMD_SESSION_EXPIRE) {
        for (uint32_t i = 0; i < c->n_ids; i++)
            if (c->ids[i] <= MS && m->s[c->ids[i]].used)
                m_end_session(m, c->ids[i]);
        return;
    }
    if (c->type == TREE_CMD_CLEANUP) {
        for (uint32_t i = 0; i < c->n_ops; i++) {
            char p[PMAX * 2];
            snprintf(p, sizeof(p), "%.*s", (int)c->ops[i].path_len,
                     c->ops[i].path);
            struct mnode *n = m_find(m, p);
            if (n && strcmp(p, "/") && m_eligible(m, n, c->time_ms))
                m_remove(m, n);
        }
        return;
    }
    struct msess *s = &m->s[c->session_id];
    if (c->session_id > MS || !s->used) {
        r->err = COORD_ESESSIONEXPIRED;
        return;
    }
    if (c->xid <= s->last) {
        r->err = COORD_EPROTO;
        for (int i = 0; i < W; i++)
            if (s->cache[i].used && s->cache[i].xid == c->xid) {
                *r = s->cache[i].r;
                *cached = true;
            }
        return;
    }
    if (c->type == TREE_CMD_SESSION_CLOSE) {
        m_end_session(m, c->session_id);
        return;
    }
    if (c->type == TREE_CMD_MULTI) {
        m_multi(m, c, r);
    } else {
        r->n = 1;
        r->err = r->errs[0] = m_op(m, &c->op, c->session_id, &r->st[0],
                                   r->paths[0]);
    }
    s->last = c->xid;
    s->cache[s->next].used = true;
    s->cache[s->next].xid = c->xid;
    s->cache[s->next].r = *r;
    s->next = (s->next + 1) % W;
}

/* ---- Driver -------------------------------------------------------------- */
static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

struct saved {
    struct tree_cmd c;
    struct tree_op ops[OPS_MAX];
    char paths[OPS_MAX + 1][PMAX];
    char data[OPS_MAX + 1][16];
    uint64_t ids[2];
};

struct run {
    struct model m;
    struct tree *t, *twin;
    uint64_t zxid;
    int64_t now;
    uint64_t xid[MS + 3];
    struct saved ring[8];
    int n_saved;
    struct mev ev[EV_MAX];
    int n_ev;
    /* Coverage of the run: each must be hit for the run to count. */
    int n_cached, n_multi_failed, n_multi_ok, n_ephemeral_deleted;
};

static void on_event(void *data, const struct tree_event *e)
{
    struct run *r = data;
    CHECK(r->n_ev < EV_MAX && e->path_len < PMAX);
    CHECK(e->zxid == r->zxid);
    r->ev[r->n_ev].type = e->type;
    memcpy(r->ev[r->n_ev].path, e->path, e->path_len);
    r->ev[r->n_ev].path[e->path_len] = '\0';
    r->n_ev++;
}

static void pick_path(struct run *r, char *out, bool for_create)
{
    static const char *bad[] = { "a", "/a/", "/a//b", "/.", "/a/..", "" };
    uint32_t k = rnd(100);
    if (k < 3) {
        strcpy(out, bad[rnd(6)]);
        return;
    }
    if (k < 55 && !for_create) {
        for (int tries = 0; tries < 8; tries++) {
            struct mnode *n = &r->m.n[rnd(MN)];
            if (n->used) {
                strcpy(out, n->path);
                return;
            }
        }
    }
    static const char *names[] = { "a", "b", "c", "s-" };
    int depth = 1 + (int)rnd(3);
    out[0] = '\0';
    for (int i = 0; i < depth; i++) {
        strcat(out, "/");
        strcat(out, names[rnd(i == depth - 1 ? 4 : 3)]);
    }
}

static void make_op(struct run *r, struct tree_op *op, char *path,
                    char *data, uint8_t type)
{
    static const uint32_t modes[] = { 0, 0, 0, 1, 2, 3, 4, 8, 10, 5, 12 };
    memset(op, 0, sizeof(*op));
    op->type = type;
    pick_path(r, path, type == TREE_CMD_CREATE);
    op->path = path;
    op->path_len = (uint32_t)strlen(path);
    op->data_len = rnd(9);
    for (uint32_t i = 0; i < op->data_len; i++)
        data[i] = (char)('a' + rnd(26));
    op->data = data;
    if (type == TREE_CMD_CREATE) {
        op->mode = modes[rnd(11)];
        op->ttl_ms = (op->mode & COORD_TTL) ? 100 + rnd(2000) : 0;
        if (rnd(50) == 0)
            op->ttl_ms = 5; /* sometimes invalid */
    }
    op->version = -1;
    struct mnode *n = m_find(&r->m, path);
    uint32_t v = rnd(10);
    if (n && v < 4)
        op->version = n->st.version;
    else if (v < 6)
        op->version = (int32_t)rnd(3);
}

/* Mostly an open session, sometimes any (closed ones must fail). */
static uint64_t pick_sid(struct run *r)
{
    for (int tries = 0; tries < 4 && rnd(10) < 9; tries++) {
        uint64_t id = 1 + rnd(MS);
        if (r->m.s[id].used)
            return id;
    }
    return 1 + rnd(MS);
}

static void gen(struct run *r, struct saved *sv)
{
    static const uint8_t types[] = { TREE_CMD_CREATE, TREE_CMD_DELETE,
                                     TREE_CMD_SET, TREE_CMD_CHECK };
    memset(sv, 0, sizeof(*sv));
    struct tree_cmd *c = &sv->c;
    uint32_t k = rnd(100);
    c->session_id = pick_sid(r);
    c->xid = ++r->xid[c->session_id];
    if (k < 30) {
        c->type = TREE_CMD_CREATE;
    } else if (k < 45) {
        c->type = TREE_CMD_DELETE;
    } else if (k < 58) {
        c->type = TREE_CMD_SET;
    } else if (k < 62) {
        c->type = TREE_CMD_CHECK;
    } else if (k < 74) {
        c->type = TREE_CMD_MULTI;
        c->n_ops = 1 + rnd(OPS_MAX - 1);
        c->ops = sv->ops;
        for (uint32_t i = 0; i < c->n_ops; i++)
            make_op(r, &sv->ops[i], sv->paths[i], sv->data[i],
                    types[rnd(4)]);
        return;
    } else if (k < 82) {
        c->type = TREE_CMD_SESSION_OPEN;
        c->timeout_ms = 10000;
        memset(c->secret, (int)c->session_id, sizeof(c->secret));
        return;
    } else if (k < 84) {
        c->type = TREE_CMD_SESSION_CLOSE;
        return;
    } else if (k < 86) {
        c->type = TREE_CMD_SESSION_EXPIRE;
        c->session_id = 0;
        c->n_ids = 1 + rnd(2);
        c->ids = sv->ids;
        sv->ids[0] = 1 + rnd(MS + 2);
        sv->ids[1] = 1 + rnd(MS + 2);
        return;
    } else {
        c->type = k < 98 ? TREE_CMD_CLEANUP : TREE_CMD_NOOP;
        c->session_id = 0;
        return;
    }
    make_op(r, &c->op, sv->paths[OPS_MAX], sv->data[OPS_MAX], c->type);
}

struct cand {
    int n;
    char p[OPS_MAX][PMAX];
};

static void cand_cb(void *data, const char *p, size_t len)
{
    struct cand *cd = data;
    CHECK(len < PMAX && cd->n < OPS_MAX);
    memcpy(cd->p[cd->n], p, len);
    cd->p[cd->n][len] = '\0';
    cd->n++;
}

/* Candidates from the tree, checked against the model's view, plus one
 * random path (usually not eligible). */
static void add_cleanup_paths(struct run *r, struct saved *sv, int64_t now)
{
    struct tree_cmd *c = &sv->c;
    c->ops = sv->ops;
    c->n_ops = 0;
    int mk = 0;
    for (int i = 0; i < MN; i++)
        if (r->m.n[i].used && strcmp(r->m.n[i].path, "/") &&
            m_eligible(&r->m, &r->m.n[i], now))
            mk++;
    struct cand cd = { 0 };
    uint32_t n = tree_cleanup_candidates(r->t, now, OPS_MAX - 1, cand_cb,
                                         &cd);
    CHECK((int)n == (mk < OPS_MAX - 1 ? mk : OPS_MAX - 1));
    for (int i = 0; i < cd.n; i++) {
        strcpy(sv->paths[i], cd.p[i]);
        struct mnode *mn = m_find(&r->m, cd.p[i]);
        CHECK(mn && m_eligible(&r->m, mn, now));
        sv->ops[c->n_ops].path = sv->paths[i];
        sv->ops[c->n_ops++].path_len = (uint32_t)strlen(cd.p[i]);
    }
    pick_path(r, sv->paths[OPS_MAX - 1], false);
    sv->ops[c->n_ops].path = sv->paths[OPS_MAX - 1];
    sv->ops[c->n_ops++].path_len = (uint32_t)strlen(sv->paths[OPS_MAX - 1]);
}

static void compare_result(struct run *r, const struct tree_result *tr,
                           const struct mres *mr, bool mcached)
{
    CHECK(tr->err == mr->err);
    CHECK(tr->cached == mcached);
    CHECK(tr->zxid == (mcached ? mr->zxid : r->zxid));
    CHECK(tr->n_ops == mr->n);
    for (uint32_t i = 0; i < tr->n_ops && i < OPS_MAX; i++) {
        const struct tree_op_result *o = &tr->ops[i];
        CHECK(o->err == mr->errs[i]);
        CHECK(!memcmp(&o->stat, &mr->st[i], sizeof(o->stat)));
        CHECK(o->path_len == strlen(mr->paths[i]));
        CHECK(!o->path_len || !memcmp(o->path, mr->paths[i], o->path_len));
    }
}

static void step(struct run *r)
{
    struct saved *sv;
    if (r->n_saved > 0 && rnd(100) < 6) {
        sv = &r->ring[rnd(r->n_saved < 8 ? (uint32_t)r->n_saved : 8)];
    } else {
        sv = &r->ring[r->n_saved++ % 8];
        gen(r, sv);
    }
    r->now += rnd(300);
    r->zxid++;
    sv->c.time_ms = r->now;
    if (sv->c.type == TREE_CMD_CLEANUP)
        add_cleanup_paths(r, sv, r->now);
    r->m.zxid = r->zxid;
    r->m.now = r->now;
    struct mres mr;
    bool mcached;
    m_apply(&r->m, &sv->c, &mr, &mcached);
    const struct tree_result *tr;
    r->n_ev = 0;
    int err = tree_apply(r->t, r->zxid, &sv->c, on_event, r, &tr);
    if (getenv("DIFF_TRACE"))
        fprintf(stderr, "step %d type %d sid %llu xid %llu path %.*s "
                "mode %u v %d: tree %d model %d\n", step_now, sv->c.type,
                (unsigned long long)sv->c.session_id,
                (unsigned long long)sv->c.xid, (int)sv->c.op.path_len,
                sv->c.op.path ? sv->c.op.path : "", sv->c.op.mode,
                sv->c.op.version, tr->err, mr.err);
    CHECK(err == tr->err);
    compare_result(r, tr, &mr, mcached);
    CHECK(r->n_ev == (mcached || mr.err ? 0 : r->m.n_ev));
    for (int i = 0; i < r->n_ev; i++) {
        CHECK(r->ev[i].type == r->m.ev[i].type);
        CHECK(!strcmp(r->ev[i].path, r->m.ev[i].path));
    }
    const struct tree_result *tr2;
    tree_apply(r->twin, r->zxid, &sv->c, NULL, NULL, &tr2);
    r->n_cached += tr->cached && sv->c.type != TREE_CMD_SESSION_OPEN;
    if (sv->c.type == TREE_CMD_MULTI && !tr->cached && tr->n_ops > 1) {
        r->n_multi_failed += tr->err != 0;
        r->n_multi_ok += tr->err == 0;
    }
    if (sv->c.type == TREE_CMD_SESSION_EXPIRE ||
        sv->c.type == TREE_CMD_SESSION_CLOSE)
        for (int i = 0; i < r->n_ev; i++)
            r->n_ephemeral_deleted += r->ev[i].type == COORD_EVENT_DELETED;
}

struct names {
    int n;
    char v[MN][PMAX];
};

static void name_cb(void *data, const char *name, size_t len,
                    const struct coord_stat *st)
{
    struct names *nm = data;
    (void)st;
    CHECK(nm->n < MN && len < PMAX);
    memcpy(nm->v[nm->n], name, len);
    nm->v[nm->n][len] = '\0';
    nm->n++;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void compare_children(struct run *r, const struct mnode *p)
{
    static struct names want, got;
    size_t len = strlen(p->path);
    want.n = 0;
    for (int i = 0; i < MN; i++) {
        const char *q = r->m.n[i].path;
        if (!r->m.n[i].used || !strcmp(q, "/"))
            continue;
        char par[PMAX];
        m_parent(q, par);
        if (!strcmp(par, p->path))
            strcpy(want.v[want.n++], strrchr(q, '/') + 1);
    }
    qsort(want.v, want.n, PMAX, str_cmp);
    CHECK((int)p->st.num_children == want.n);
    /* Page through two at a time. */
    got.n = 0;
    bool more = true;
    while (more) {
        const char *after = got.n ? got.v[got.n - 1] : NULL;
        int before = got.n;
        CHECK(tree_children(r->t, p->path, len, after,
                            after ? strlen(after) : 0, 2, false, name_cb,
                            &got, &more) == 0);
        CHECK(got.n - before <= 2);
        if (got.n == before)
            break;
    }
    CHECK(got.n == want.n);
    for (int i = 0; i < got.n; i++)
        CHECK(!strcmp(got.v[i], want.v[i]));
}

static void compare_state(struct run *r)
{
    int count = 0;
    for (int i = 0; i < MN; i++) {
        const struct mnode *n = &r->m.n[i];
        if (!n->used)
            continue;
        count++;
        const void *d;
        struct coord_stat st;
        CHECK(tree_get(r->t, n->path, strlen(n->path), &d, &st) == 0);
        CHECK(!memcmp(&st, &n->st, sizeof(st)));
        CHECK(!n->dlen || !memcmp(d, n->data, n->dlen));
        compare_children(r, n);
    }
    CHECK(tree_node_count(r->t) == (uint64_t)count);
    uint32_t sessions = 0;
    for (int i = 1; i <= MS; i++) {
        sessions += r->m.s[i].used;
        CHECK((tree_session_get(r->t, (uint64_t)i, NULL, NULL, NULL) == 0) ==
              r->m.s[i].used);
    }
    CHECK(tree_session_count(r->t) == sessions);
    CHECK(tree_digest(r->t) == tree_digest(r->twin));
    CHECK(tree_verify(r->t) == 0);
    CHECK(tree_verify(r->twin) == 0);
}

struct membuf {
    uint8_t *p;
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

/* Replaces the twin with a tree loaded from the main tree's snapshot: the
 * rest of the run then also checks that a restored replica continues
 * identically. */
static void reload_twin(struct run *r, const struct tree_config *cfg)
{
    struct membuf mb = { 0 };
    CHECK(tree_snapshot_write(r->t, mem_write, &mb) == 0);
    struct tree *u;
    CHECK(tree_snapshot_load(&u, cfg, mem_read, &mb) == 0);
    CHECK(tree_digest(u) == tree_digest(r->t));
    CHECK(tree_applied_index(u) == r->zxid);
    tree_close(r->twin);
    r->twin = u;
    free(mb.p);
}

static void run_seed(uint64_t seed, int steps)
{
    static struct run run;
    struct run *r = &run;
    memset(r, 0, sizeof(*r));
    seed_now = seed;
    rng = seed * 0x9e3779b97f4a7c15ULL + 1;
    struct tree_config cfg = { .nodes_max = NODES_MAX,
                               .children_max = CHILDREN_MAX };
    CHECK(tree_open(&r->t, &cfg) == 0);
    CHECK(tree_open(&r->twin, &cfg) == 0);
    r->m.n[0].used = true;
    strcpy(r->m.n[0].path, "/");
    r->now = 1700000000000LL;
    for (step_now = 0; step_now < steps; step_now++) {
        step(r);
        if (step_now % 500 == 499)
            compare_state(r);
        else if (step_now % 50 == 0)
            CHECK(tree_verify(r->t) == 0);
        if (step_now == steps / 2)
            reload_twin(r, &cfg);
    }
    compare_state(r);
    CHECK(r->n_cached > 0 && r->n_multi_failed > 0 && r->n_multi_ok > 0);
    CHECK(r->n_ephemeral_deleted > 0);
    tree_close(r->t);
    tree_close(r->twin);
}

static void differential(void **state)
{
    (void)state;
    m_saved = malloc(sizeof(*m_saved));
    const char *env = getenv("DIFF_SEED");
    if (env != NULL) {
        run_seed(strtoull(env, NULL, 10), STEPS * 4);
    } else {
        for (uint64_t s = 1; s <= SEEDS; s++)
            run_seed(s, STEPS);
    }
    free(m_saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(differential),
    };
    return cmocka_run_group_tests_name("tree_diff", tests, NULL, NULL);
}
