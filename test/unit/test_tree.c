/* test_tree.c -- unit tests for coordd/tree/: every operation's success and
 * error cases, stat evolution, sequential numbering, multi rollback,
 * sessions (close, expire, dedup), containers and TTL cleanup, pagination,
 * limits, digests and snapshots. The randomized differential test against a
 * reference model is in test_tree_diff.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordd/tree/tree_int.h"
#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

#define SID 0x1001
#define T0 1700000000000LL

struct fx {
    struct tree *t;
    uint64_t zxid;
    uint64_t xid;
    int64_t now;
    const struct tree_result *r;
    int n_ev;
    struct {
        uint8_t type;
        uint64_t zxid;
        char path[128];
    } ev[64];
};

static void on_event(void *data, const struct tree_event *e)
{
    struct fx *f = data;
    assert_true(f->n_ev < 64);
    f->ev[f->n_ev].type = e->type;
    f->ev[f->n_ev].zxid = e->zxid;
    assert_true(e->path_len < 128);
    memcpy(f->ev[f->n_ev].path, e->path, e->path_len);
    f->ev[f->n_ev].path[e->path_len] = '\0';
    f->n_ev++;
}

static int apply(struct fx *f, struct tree_cmd *c)
{
    f->n_ev = 0;
    c->time_ms = f->now;
    return tree_apply(f->t, ++f->zxid, c, on_event, f, &f->r);
}

static int open_session(struct fx *f, uint64_t id)
{
    struct tree_cmd c = { .type = TREE_CMD_SESSION_OPEN, .session_id = id,
                          .timeout_ms = 10000 };
    memset(c.secret, (int)id, sizeof(c.secret));
    return apply(f, &c);
}

static struct tree_op mkop(uint8_t type, const char *path, const char *data,
                           uint32_t mode, int32_t version)
{
    struct tree_op op = { .type = type, .path = path,
                          .path_len = (uint32_t)strlen(path), .data = data,
                          .data_len = data ? (uint32_t)strlen(data) : 0,
                          .mode = mode, .version = version };
    return op;
}

static int op_as(struct fx *f, uint64_t sid, struct tree_op op)
{
    struct tree_cmd c = { .type = op.type, .session_id = sid,
                          .xid = ++f->xid, .op = op };
    return apply(f, &c);
}

static int create(struct fx *f, const char *p, const char *d, uint32_t mode)
{
    return op_as(f, SID, mkop(TREE_CMD_CREATE, p, d, mode, 0));
}

static int del(struct fx *f, const char *p, int32_t v)
{
    return op_as(f, SID, mkop(TREE_CMD_DELETE, p, NULL, 0, v));
}

static int set(struct fx *f, const char *p, const char *d, int32_t v)
{
    return op_as(f, SID, mkop(TREE_CMD_SET, p, d, 0, v));
}

static int check(struct fx *f, const char *p, int32_t v)
{
    return op_as(f, SID, mkop(TREE_CMD_CHECK, p, NULL, 0, v));
}

static struct coord_stat st(struct fx *f, const char *p)
{
    struct coord_stat s;
    assert_int_equal(tree_exists(f->t, p, strlen(p), &s), 0);
    return s;
}

static bool exists(struct fx *f, const char *p)
{
    return tree_exists(f->t, p, strlen(p), NULL) == 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(tree_open(&f->t, NULL), 0);
    f->now = T0;
    assert_int_equal(open_session(f, SID), 0);
    *state = f;
    return 0;
}

static int setup_small(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct tree_config cfg = { .nodes_max = 5, .children_max = 2,
                               .data_bytes_max = 8, .sessions_max = 2,
                               .bytes_max = 5 * TREE_NODE_COST_BYTES + 25 };
    assert_int_equal(tree_open(&f->t, &cfg), 0);
    f->now = T0;
    assert_int_equal(open_session(f, SID), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    assert_int_equal(tree_verify(f->t), 0);
    tree_close(f->t);
    free(f);
    return 0;
}

/* ---- Create and stat ---------------------------------------------------- */
static void root_exists_from_start(void **state)
{
    struct fx *f = *state;
    struct coord_stat s = st(f, "/");
    assert_int_equal(s.czxid, 0);
    assert_int_equal(s.num_children, 0);
    assert_int_equal(tree_node_count(f->t), 1);
    assert_int_equal(create(f, "/", NULL, 0), COORD_ENODEEXISTS);
    assert_int_equal(del(f, "/", -1), COORD_EINVAL);
}

static void create_sets_stats_and_events(void **state)
{
    struct fx *f = *state;
    f->now = T0 + 5;
    assert_int_equal(create(f, "/a", "hello", 0), 0);
    uint64_t z = f->zxid;
    assert_int_equal(f->r->n_ops, 1);
    assert_int_equal(f->r->ops[0].path_len, 2);
    assert_memory_equal(f->r->ops[0].path, "/a", 2);
    struct coord_stat s = st(f, "/a");
    assert_int_equal(s.czxid, z);
    assert_int_equal(s.mzxid, z);
    assert_int_equal(s.pzxid, z);
    assert_int_equal(s.ctime_ms, T0 + 5);
    assert_int_equal(s.mtime_ms, T0 + 5);
    assert_int_equal(s.version, 0);
    assert_int_equal(s.cversion, 0);
    assert_int_equal(s.data_length, 5);
    assert_int_equal(s.ephemeral_owner, 0);
    assert_memory_equal(&f->r->ops[0].stat, &s, sizeof(s));
    struct coord_stat r = st(f, "/");
    assert_int_equal(r.cversion, 1);
    assert_int_equal(r.pzxid, z);
    assert_int_equal(r.num_children, 1);
    assert_int_equal(r.mzxid, 0); /* data untouched */
    assert_int_equal(f->n_ev, 2);
    assert_int_equal(f->ev[0].type, COORD_EVENT_CREATED);
    assert_string_equal(f->ev[0].path, "/a");
    assert_int_equal(f->ev[0].zxid, z);
    assert_int_equal(f->ev[1].type, COORD_EVENT_CHILDREN_CHANGED);
    assert_string_equal(f->ev[1].path, "/");
    const void *d;
    assert_int_equal(tree_get(f->t, "/a", 2, &d, NULL), 0);
    assert_memory_equal(d, "hello", 5);
}

static void create_errors(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "a", NULL, 0), COORD_EBADPATH);
    assert_int_equal(create(f, "/a/", NULL, 0), COORD_EBADPATH);
    assert_int_equal(create(f, "/a/../b", NULL, 0), COORD_EBADPATH);
    assert_int_equal(create(f, "/x/y", NULL, 0), COORD_ENONODE);
    assert_int_equal(create(f, "/a", NULL, 0), 0);
    assert_int_equal(create(f, "/a", NULL, 0), COORD_ENODEEXISTS);
    assert_int_equal(create(f, "/e", NULL, COORD_EPHEMERAL), 0);
    assert_int_equal(create(f, "/e/c", NULL, 0),
                     COORD_ENOCHILDRENFOREPHEMERALS);
    assert_int_equal(create(f, "/e/c", NULL, COORD_SEQUENTIAL),
                     COORD_ENOCHILDRENFOREPHEMERALS);
    assert_int_equal(create(f, "/c", NULL, COORD_CONTAINER | COORD_EPHEMERAL),
                     COORD_EINVAL);
    assert_int_equal(create(f, "/c", NULL, COORD_TTL), COORD_EINVAL);
    assert_int_equal(create(f, "/c", NULL, 1u << 7), COORD_EINVAL);
    struct tree_op op = mkop(TREE_CMD_CREATE, "/c", NULL, 0, 0);
    op.ttl_ms = 5;
    assert_int_equal(op_as(f, SID, op), COORD_EINVAL);
    op.data_len = COORD_DATA_BYTES_MAX + 1;
    op.ttl_ms = 0;
    op.data = "";
    assert_int_equal(op_as(f, SID, op), COORD_ETOOBIG);
    assert_false(exists(f, "/c"));
    assert_int_equal(st(f, "/").num_children, 2);
}

static void sequential_numbering(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "/q", NULL, 0), 0);
    assert_int_equal(create(f, "/q/n-", NULL, COORD_SEQUENTIAL), 0);
    assert_int_equal(f->r->ops[0].path_len, strlen("/q/n-0000000000"));
    assert_memory_equal(f->r->ops[0].path, "/q/n-0000000000", 15);
    assert_int_equal(create(f, "/q/n-", NULL, COORD_SEQUENTIAL), 0);
    assert_memory_equal(f->r->ops[0].path, "/q/n-0000000001", 15);
    assert_int_equal(del(f, "/q/n-0000000001", -1), 0);
    /* Deletes bump cversion too: numbers never repeat. */
    assert_int_equal(create(f, "/q/x", NULL, 0), 0);
    assert_int_equal(create(f, "/q/n-", NULL,
                            COORD_SEQUENTIAL | COORD_EPHEMERAL), 0);
    assert_memory_equal(f->r->ops[0].path, "/q/n-0000000004", 15);
    assert_int_equal(st(f, "/q/n-0000000004").ephemeral_owner, SID);
    /* A prefix ending in "/" names the node by its number alone. */
    assert_int_equal(create(f, "/q/", NULL, COORD_SEQUENTIAL), 0);
    assert_memory_equal(f->r->ops[0].path, "/q/0000000005", 13);
    assert_int_equal(create(f, "/q/", NULL, 0), COORD_EBADPATH);
    assert_int_equal(create(f, "/", NULL, COORD_SEQUENTIAL), 0);
    assert_memory_equal(f->r->ops[0].path, "/0000000001", 11);
}

/* ---- Delete, set, check ------------------------------------------------- */
static void delete_cases(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "/a", NULL, 0), 0);
    assert_int_equal(create(f, "/a/b", NULL, 0), 0);
    assert_int_equal(del(f, "/nope", -1), COORD_ENONODE);
    assert_int_equal(del(f, "bad", -1), COORD_EBADPATH);
    assert_int_equal(del(f, "/a", -1), COORD_ENOTEMPTY);
    assert_int_equal(del(f, "/a/b", 3), COORD_EBADVERSION);
    struct coord_stat before = st(f, "/a");
    assert_int_equal(del(f, "/a/b", 0), 0);
    uint64_t z = f->zxid;
    struct coord_stat a = st(f, "/a");
    assert_int_equal(a.cversion, before.cversion + 1);
    assert_int_equal(a.pzxid, z);
    assert_int_equal(a.num_children, 0);
    assert_int_equal(a.mzxid, before.mzxid);
    assert_int_equal(f->n_ev, 2);
    assert_int_equal(f->ev[0].type, COORD_EVENT_DELETED);
    assert_string_equal(f->ev[0].path, "/a/b");
    assert_int_equal(f->ev[1].type, COORD_EVENT_CHILDREN_CHANGED);
    assert_string_equal(f->ev[1].path, "/a");
    assert_int_equal(del(f, "/a", -1), 0);
    assert_false(exists(f, "/a"));
    assert_int_equal(tree_node_count(f->t), 1);
}

static void set_and_check(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "/a", "x", 0), 0);
    struct coord_stat c = st(f, "/a");
    f->now = T0 + 100;
    assert_int_equal(set(f, "/a", "yy", 5), COORD_EBADVERSION);
    assert_int_equal(set(f, "/b", "yy", -1), COORD_ENONODE);
    assert_int_equal(set(f, "b", "yy", -1), COORD_EBADPATH);
    assert_int_equal(set(f, "/a", "yy", 0), 0);
    struct coord_stat s = st(f, "/a");
    assert_int_equal(s.version, 1);
    assert_int_equal(s.mzxid, f->zxid);
    assert_int_equal(s.mtime_ms, T0 + 100);
    assert_int_equal(s.czxid, c.czxid);
    assert_int_equal(s.ctime_ms, c.ctime_ms);
    assert_int_equal(s.pzxid, c.pzxid);
    assert_int_equal(s.data_length, 2);
    assert_int_equal(f->n_ev, 1);
    assert_int_equal(f->ev[0].type, COORD_EVENT_DATA_CHANGED);
    assert_int_equal(set(f, "/a", NULL, -1), 0);
    assert_int_equal(st(f, "/a").data_length, 0);
    assert_int_equal(st(f, "/a").version, 2);
    assert_int_equal(check(f, "/a", 1), COORD_EBADVERSION);
    assert_int_equal(check(f, "/a", 2), 0);
    assert_int_equal(f->r->ops[0].stat.version, 2);
    assert_int_equal(f->n_ev, 0);
    assert_int_equal(check(f, "/a", -1), 0);
    assert_int_equal(check(f, "/zz", -1), COORD_ENONODE);
    struct tree_op op = mkop(TREE_CMD_SET, "/a", "", 0, -1);
    op.data_len = COORD_DATA_BYTES_MAX + 1;
    assert_int_equal(op_as(f, SID, op), COORD_ETOOBIG);
}

/* ---- Multi -------------------------------------------------------------- */
static int multi(struct fx *f, const struct tree_op *ops, uint32_t n)
{
    struct tree_cmd c = { .type = TREE_CMD_MULTI, .session_id = SID,
                          .xid = ++f->xid, .ops = ops, .n_ops = n };
    return apply(f, &c);
}

static void multi_commits_all(void **state)
{
    struct fx *f = *state;
    struct tree_op ops[] = {
        mkop(TREE_CMD_CREATE, "/m", "1", 0, 0),
        mkop(TREE_CMD_CREATE, "/m/s-", NULL, COORD_SEQUENTIAL, 0),
        mkop(TREE_CMD_SET, "/m", "22", 0, 0),
        mkop(TREE_CMD_CHECK, "/m", NULL, 0, 1),
    };
    assert_int_equal(multi(f, ops, 4), 0);
    assert_int_equal(f->r->n_ops, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f->r->ops[i].err, 0);
    assert_memory_equal(f->r->ops[0].path, "/m", 2);
    assert_memory_equal(f->r->ops[1].path, "/m/s-0000000000", 15);
    assert_int_equal(f->r->ops[2].stat.version, 1);
    assert_int_equal(st(f, "/m").version, 1);
    assert_int_equal(f->n_ev, 5); /* 2 + 2 + 1 */
    assert_int_equal(multi(f, ops, 0), 0);
}

/* The same history on twin trees, except that f gets a failing multi where
 * g gets a failing check: afterwards they must be identical (the session's
 * last xid advances in both). */
static void multi_rolls_back(void **state)
{
    struct fx *f = *state, *g = calloc(1, sizeof(*g));
    assert_int_equal(tree_open(&g->t, NULL), 0);
    g->now = T0;
    assert_int_equal(open_session(g, SID), 0);
    for (struct fx *x = f; x; x = x == f ? g : NULL) {
        assert_int_equal(create(x, "/a", "v", 0), 0);
        assert_int_equal(create(x, "/a/k", NULL, 0), 0);
    }
    uint64_t b0 = tree_bytes_used(f->t);
    struct coord_stat ra = st(f, "/"), aa = st(f, "/a"), ka = st(f, "/a/k");
    struct tree_op ops[] = {
        mkop(TREE_CMD_CREATE, "/b", "x", 0, 0),
        mkop(TREE_CMD_SET, "/a", "longer value", 0, 0),
        mkop(TREE_CMD_SET, "/a", "again", 0, 1),
        mkop(TREE_CMD_DELETE, "/a/k", NULL, 0, 0),
        mkop(TREE_CMD_CREATE, "/a/k", "again", COORD_SEQUENTIAL, 0),
        mkop(TREE_CMD_DELETE, "/b", NULL, 0, -1),
        mkop(TREE_CMD_CHECK, "/a", NULL, 0, 7), /* fails */
        mkop(TREE_CMD_CREATE, "/c", NULL, 0, 0),
    };
    assert_int_equal(multi(f, ops, 8), COORD_EBADVERSION);
    assert_int_equal(check(g, "/none", -1), COORD_ENONODE);
    assert_int_equal(f->r->err, COORD_EBADVERSION);
    assert_int_equal(f->r->n_ops, 8);
    for (int i = 0; i < 6; i++)
        assert_int_equal(f->r->ops[i].err, 0);
    assert_int_equal(f->r->ops[6].err, COORD_EBADVERSION);
    assert_int_equal(f->r->ops[7].err, COORD_ESKIPPED);
    assert_int_equal(f->n_ev, 0);
    assert_int_equal(tree_digest(f->t), tree_digest(g->t));
    assert_int_equal(tree_bytes_used(f->t), b0);
    struct coord_stat r2 = st(f, "/"), a2 = st(f, "/a"), k2 = st(f, "/a/k");
    assert_memory_equal(&ra, &r2, sizeof(ra));
    assert_memory_equal(&aa, &a2, sizeof(aa));
    assert_memory_equal(&ka, &k2, sizeof(ka));
    assert_false(exists(f, "/b"));
    const void *d;
    assert_int_equal(tree_get(f->t, "/a", 2, &d, NULL), 0);
    assert_memory_equal(d, "v", 1);
    /* A bad op type fails the multi too. */
    struct tree_op bad[] = { mkop(TREE_CMD_CREATE, "/z", NULL, 0, 0),
                             mkop(TREE_CMD_MULTI, "/z", NULL, 0, 0) };
    assert_int_equal(multi(f, bad, 2), COORD_EINVAL);
    assert_int_equal(check(g, "/none", -1), COORD_ENONODE);
    assert_false(exists(f, "/z"));
    assert_int_equal(tree_digest(f->t), tree_digest(g->t));
    tree_close(g->t);
    free(g);
}

/* ---- Sessions ------------------------------------------------------------ */
static void session_close_deletes_ephemerals(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_session(f, 7), 0);
    assert_false(f->r->cached);
    assert_int_equal(open_session(f, 7), 0); /* retried open */
    assert_true(f->r->cached);
    struct tree_cmd again = { .type = TREE_CMD_SESSION_OPEN, .session_id = 7,
                              .timeout_ms = 10000 };
    assert_int_equal(apply(f, &again), COORD_EAUTH); /* other secret */
    assert_int_equal(create(f, "/p", NULL, 0), 0);
    assert_int_equal(op_as(f, 7, mkop(TREE_CMD_CREATE, "/p/z", NULL,
                                      COORD_EPHEMERAL, 0)), 0);
    assert_int_equal(op_as(f, 7, mkop(TREE_CMD_CREATE, "/p/a", NULL,
                                      COORD_EPHEMERAL, 0)), 0);
    assert_int_equal(create(f, "/p/mine", NULL, COORD_EPHEMERAL), 0);
    uint32_t n;
    assert_int_equal(tree_session_get(f->t, 7, NULL, &n, NULL), 0);
    assert_int_equal(n, 2);
    struct tree_cmd c = { .type = TREE_CMD_SESSION_CLOSE, .session_id = 7,
                          .xid = ++f->xid };
    assert_int_equal(apply(f, &c), 0);
    assert_int_equal(f->n_ev, 4);
    assert_string_equal(f->ev[0].path, "/p/a"); /* path order */
    assert_int_equal(f->ev[0].type, COORD_EVENT_DELETED);
    assert_string_equal(f->ev[2].path, "/p/z");
    assert_false(exists(f, "/p/a"));
    assert_false(exists(f, "/p/z"));
    assert_true(exists(f, "/p/mine"));
    assert_int_equal(tree_session_get(f->t, 7, NULL, NULL, NULL),
                     COORD_ENOSESSION);
    assert_int_equal(op_as(f, 7, mkop(TREE_CMD_CHECK, "/p", NULL, 0, -1)),
                     COORD_ESESSIONEXPIRED);
    assert_int_equal(op_as(f, 99, mkop(TREE_CMD_CHECK, "/p", NULL, 0, -1)),
                     COORD_ESESSIONEXPIRED);
    assert_int_equal(apply(f, &c), COORD_ESESSIONEXPIRED);
}

static void session_expire_many(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_session(f, 8), 0);
    assert_int_equal(open_session(f, 9), 0);
    assert_int_equal(op_as(f, 8, mkop(TREE_CMD_CREATE, "/e8", NULL,
                                      COORD_EPHEMERAL, 0)), 0);
    assert_int_equal(op_as(f, 9, mkop(TREE_CMD_CREATE, "/e9", NULL,
                                      COORD_EPHEMERAL, 0)), 0);
    uint64_t d_before = tree_digest(f->t);
    uint64_t ids[] = { 9, 12345, 8 };
    struct tree_cmd c = { .type = TREE_CMD_SESSION_EXPIRE, .ids = ids,
                          .n_ids = 3 };
    assert_int_equal(apply(f, &c), 0);
    assert_int_not_equal(tree_digest(f->t), d_before);
    assert_int_equal(f->n_ev, 4);
    assert_string_equal(f->ev[0].path, "/e9");
    assert_string_equal(f->ev[2].path, "/e8");
    assert_int_equal(tree_session_count(f->t), 1);
    assert_false(exists(f, "/e8"));
    assert_int_equal(st(f, "/").num_children, 0);
    struct tree_cmd bad = { .type = TREE_CMD_SESSION_OPEN, .session_id = 3,
                            .timeout_ms = 1 };
    assert_int_equal(apply(f, &bad), COORD_EINVAL);
    bad.session_id = 0;
    bad.timeout_ms = 10000;
    assert_int_equal(apply(f, &bad), COORD_EINVAL);
}

static void dedup_returns_cached_result(void **state)
{
    struct fx *f = *state;
    struct tree_cmd c = { .type = TREE_CMD_CREATE, .session_id = SID,
                          .xid = 100,
                          .op = mkop(TREE_CMD_CREATE, "/s-", NULL,
                                     COORD_SEQUENTIAL, 0) };
    assert_int_equal(apply(f, &c), 0);
    uint64_t z = f->zxid;
    assert_memory_equal(f->r->ops[0].path, "/s-0000000000", 13);
    uint64_t d = tree_digest(f->t);
    assert_int_equal(apply(f, &c), 0); /* retry: same answer, no apply */
    assert_true(f->r->cached);
    assert_int_equal(f->r->zxid, z);
    assert_int_equal(f->r->ops[0].path_len, 13);
    assert_memory_equal(f->r->ops[0].path, "/s-0000000000", 13);
    assert_int_equal(f->n_ev, 0);
    assert_int_equal(tree_digest(f->t), d);
    assert_int_equal(st(f, "/").num_children, 1);
    /* A failed request is cached as failed. */
    c.xid = 101;
    c.type = TREE_CMD_DELETE;
    c.op = mkop(TREE_CMD_DELETE, "/none", NULL, 0, -1);
    assert_int_equal(apply(f, &c), COORD_ENONODE);
    assert_int_equal(apply(f, &c), COORD_ENONODE);
    assert_true(f->r->cached);
    /* Push xid 100 out of the window. */
    c.type = TREE_CMD_CHECK;
    c.op = mkop(TREE_CMD_CHECK, "/", NULL, 0, -1);
    for (int i = 0; i < TREE_DEDUP_WINDOW; i++) {
        c.xid = 200 + i;
        assert_int_equal(apply(f, &c), 0);
        assert_false(f->r->cached);
    }
    c.xid = 100;
    assert_int_equal(apply(f, &c), COORD_EPROTO);
    c.xid = 200 + TREE_DEDUP_WINDOW - 1;
    assert_int_equal(apply(f, &c), 0);
    assert_true(f->r->cached);
    uint64_t last;
    assert_int_equal(tree_session_get(f->t, SID, NULL, NULL, &last), 0);
    assert_int_equal(last, 200 + TREE_DEDUP_WINDOW - 1);
}

static void dedup_of_multi(void **state)
{
    struct fx *f = *state;
    struct tree_op ops[] = { mkop(TREE_CMD_CREATE, "/a", NULL, 0, 0),
                             mkop(TREE_CMD_CREATE, "/a", NULL, 0, 0),
                             mkop(TREE_CMD_CREATE, "/b", NULL, 0, 0) };
    struct tree_cmd c = { .type = TREE_CMD_MULTI, .session_id = SID,
                          .xid = 5, .ops = ops, .n_ops = 3 };
    assert_int_equal(apply(f, &c), COORD_ENODEEXISTS);
    assert_int_equal(apply(f, &c), COORD_ENODEEXISTS);
    assert_true(f->r->cached);
    assert_int_equal(f->r->n_ops, 3);
    assert_int_equal(f->r->ops[0].err, 0);
    assert_int_equal(f->r->ops[1].err, COORD_ENODEEXISTS);
    assert_int_equal(f->r->ops[2].err, COORD_ESKIPPED);
}

/* ---- Containers and TTL -------------------------------------------------- */
static void collect_path(void *data, const char *p, size_t len)
{
    char *buf = data;
    size_t n = strlen(buf);
    memcpy(buf + n, p, len);
    buf[n + len] = ' ';
    buf[n + len + 1] = '\0';
}

static void cleanup(struct fx *f, const char *p1, const char *p2)
{
    struct tree_op ops[2] = { mkop(TREE_CMD_DELETE, p1, NULL, 0, -1),
                              mkop(TREE_CMD_DELETE, p2, NULL, 0, -1) };
    struct tree_cmd c = { .type = TREE_CMD_CLEANUP, .ops = ops,
                          .n_ops = p2 ? 2 : 1 };
    assert_int_equal(apply(f, &c), 0);
}

static void containers_and_ttl(void **state)
{
    struct fx *f = *state;
    char buf[256] = "";
    assert_int_equal(create(f, "/c", NULL, COORD_CONTAINER), 0);
    struct tree_op op = mkop(TREE_CMD_CREATE, "/t", NULL, COORD_TTL, 0);
    op.ttl_ms = 1000;
    assert_int_equal(op_as(f, SID, op), 0);
    assert_int_equal(tree_cleanup_candidates(f->t, T0 + 1000, 10,
                                             collect_path, buf), 0);
    /* Container never had children: kept. TTL just at its limit: kept. */
    assert_int_equal(create(f, "/c/k", NULL, 0), 0);
    assert_int_equal(create(f, "/t/k", NULL, 0), 0);
    assert_int_equal(tree_cleanup_candidates(f->t, T0 + 5000, 10,
                                             collect_path, buf), 0);
    assert_int_equal(del(f, "/c/k", -1), 0);
    assert_int_equal(tree_cleanup_candidates(f->t, T0 + 500, 10,
                                             collect_path, buf), 1);
    assert_string_equal(buf, "/c ");
    buf[0] = '\0';
    assert_int_equal(del(f, "/t/k", -1), 0);
    assert_int_equal(tree_cleanup_candidates(f->t, T0 + 1001, 10,
                                             collect_path, buf), 2);
    assert_int_equal(tree_cleanup_candidates(f->t, T0 + 1001, 1,
                                             collect_path, buf), 1);
    /* Eligibility is rechecked at apply time. */
    assert_int_equal(create(f, "/c/again", NULL, 0), 0);
    f->now = T0 + 900;
    cleanup(f, "/c", "/t");
    assert_true(exists(f, "/c"));
    assert_true(exists(f, "/t"));
    assert_int_equal(f->n_ev, 0);
    assert_int_equal(del(f, "/c/again", -1), 0);
    f->now = T0 + 1001;
    cleanup(f, "/c", "/t");
    assert_false(exists(f, "/c"));
    assert_false(exists(f, "/t"));
    assert_int_equal(f->n_ev, 4);
    assert_int_equal(f->ev[0].type, COORD_EVENT_DELETED);
    /* A plain node is never cleaned up; bad paths are skipped. */
    assert_int_equal(create(f, "/plain", NULL, 0), 0);
    cleanup(f, "/plain", "bad/");
    assert_true(exists(f, "/plain"));
}

static void ttl_counts_from_last_change(void **state)
{
    struct fx *f = *state;
    char buf[64] = "";
    struct tree_op op = mkop(TREE_CMD_CREATE, "/t", NULL,
                             COORD_TTL | COORD_SEQUENTIAL, 0);
    op.ttl_ms = 100;
    assert_int_equal(op_as(f, SID, op), 0);
    f->now = T0 + 50;
    assert_int_equal(set(f, "/t0000000000", "x", -1), 0);
    assert_int_equal(tree_cleanup_candidates(f->t, T0 + 120, 10,
                                             collect_path, buf), 0);
    assert_int_equal(tree_cleanup_candidates(f->t, T0 + 151, 10,
                                             collect_path, buf), 1);
}

/* ---- Children pagination -------------------------------------------------- */
struct names {
    int n;
    char v[200][16];
    bool stats;
};

static void collect_name(void *data, const char *name, size_t len,
                         const struct coord_stat *s)
{
    struct names *nm = data;
    assert_true(len < 16 && nm->n < 200);
    memcpy(nm->v[nm->n], name, len);
    nm->v[nm->n][len] = '\0';
    nm->stats = s != NULL;
    nm->n++;
}

static void children_sorted_and_paged(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "/d", NULL, 0), 0);
    char p[32];
    /* Insert in a scrambled order. */
    for (int i = 0; i < 150; i++) {
        snprintf(p, sizeof(p), "/d/k%03d", (i * 37) % 150);
        assert_int_equal(create(f, p, NULL, 0), 0);
    }
    assert_int_equal(create(f, "/d/K", NULL, 0), 0); /* 'K' < 'k' */
    struct names nm = { 0 };
    bool more;
    assert_int_equal(tree_children(f->t, "/d", 2, NULL, 0, 10, false,
                                   collect_name, &nm, &more), 0);
    assert_int_equal(nm.n, 10);
    assert_true(more);
    assert_false(nm.stats);
    assert_string_equal(nm.v[0], "K");
    assert_string_equal(nm.v[1], "k000");
    assert_string_equal(nm.v[9], "k008");
    nm.n = 0;
    assert_int_equal(tree_children(f->t, "/d", 2, "k008", 4, 200, true,
                                   collect_name, &nm, &more), 0);
    assert_int_equal(nm.n, 141);
    assert_false(more);
    assert_true(nm.stats);
    assert_string_equal(nm.v[0], "k009");
    assert_string_equal(nm.v[140], "k149");
    nm.n = 0; /* start_after need not exist */
    assert_int_equal(tree_children(f->t, "/d", 2, "k0505", 5, 2, false,
                                   collect_name, &nm, &more), 0);
    assert_string_equal(nm.v[0], "k051");
    assert_true(more);
    nm.n = 0;
    assert_int_equal(tree_children(f->t, "/d", 2, "k149", 4, 2, false,
                                   collect_name, &nm, &more), 0);
    assert_int_equal(nm.n, 0);
    assert_false(more);
    assert_int_equal(tree_children(f->t, "/none", 5, NULL, 0, 2, false,
                                   collect_name, &nm, &more), COORD_ENONODE);
    assert_int_equal(tree_children(f->t, "x", 1, NULL, 0, 2, false,
                                   collect_name, &nm, &more), COORD_EBADPATH);
    /* Delete every other child; order holds. */
    for (int i = 0; i < 150; i += 2) {
        snprintf(p, sizeof(p), "/d/k%03d", i);
        assert_int_equal(del(f, p, -1), 0);
    }
    nm.n = 0;
    assert_int_equal(tree_children(f->t, "/d", 2, NULL, 0, 200, false,
                                   collect_name, &nm, &more), 0);
    assert_int_equal(nm.n, 76);
    for (int i = 2; i < nm.n; i++)
        assert_true(strcmp(nm.v[i - 1], nm.v[i]) < 0);
}

/* ---- Limits --------------------------------------------------------------- */
static void limits_reject_identically(void **state)
{
    struct fx *f = *state; /* nodes 5, children 2, data 8, sessions 2 */
    assert_int_equal(create(f, "/a", "123456789", 0), COORD_ETOOBIG);
    assert_int_equal(create(f, "/a", "12345678", 0), 0);
    assert_int_equal(create(f, "/b", NULL, 0), 0);
    assert_int_equal(create(f, "/c", NULL, 0), COORD_ETOOMANY);
    assert_int_equal(create(f, "/a/x", NULL, 0), 0);
    /* Byte budget: 5 nodes' cost + 25 bytes of paths and data. */
    assert_int_equal(set(f, "/b", "12345678", -1), 0);
    assert_int_equal(create(f, "/a/y", "12345678", 0), COORD_ETOOBIG);
    assert_int_equal(create(f, "/a/y", NULL, 0), COORD_ETOOBIG);
    assert_int_equal(set(f, "/b", NULL, -1), 0);
    assert_int_equal(create(f, "/a/y", NULL, 0), 0);
    assert_int_equal(tree_node_count(f->t), 5);
    assert_int_equal(create(f, "/b/z", NULL, 0), COORD_ETOOMANY);
    assert_int_equal(open_session(f, 2), 0);
    assert_int_equal(open_session(f, 3), COORD_ETOOMANY);
}

/* ---- Digest and snapshot -------------------------------------------------- */
static void build_sample(struct fx *f)
{
    assert_int_equal(open_session(f, 77), 0);
    assert_int_equal(create(f, "/a", "data-a", 0), 0);
    assert_int_equal(create(f, "/a/b", "", 0), 0);
    assert_int_equal(create(f, "/a/b/c-", "x", COORD_SEQUENTIAL), 0);
    assert_int_equal(create(f, "/con", NULL, COORD_CONTAINER), 0);
    struct tree_op op = mkop(TREE_CMD_CREATE, "/ttl", "t", COORD_TTL, 0);
    op.ttl_ms = 60000;
    assert_int_equal(op_as(f, SID, op), 0);
    assert_int_equal(op_as(f, 77, mkop(TREE_CMD_CREATE, "/a/e", "eph",
                                       COORD_EPHEMERAL, 0)), 0);
    assert_int_equal(set(f, "/a", "changed", 0), 0);
    assert_int_equal(set(f, "/", "rootdata", -1), 0);
    assert_int_equal(del(f, "/a/b/c-0000000000", -1), 0);
}

static void digest_equal_for_equal_histories(void **state)
{
    struct fx *f = *state;
    struct fx *g = calloc(1, sizeof(*g));
    assert_int_equal(tree_open(&g->t, NULL), 0);
    g->now = T0;
    assert_int_equal(open_session(g, SID), 0);
    assert_int_equal(tree_digest(f->t), tree_digest(g->t));
    build_sample(f);
    build_sample(g);
    assert_int_equal(tree_digest(f->t), tree_digest(g->t));
    uint64_t d = tree_digest(f->t);
    assert_int_equal(set(g, "/a", "changed", -1), 0);
    assert_int_not_equal(tree_digest(g->t), d);
    /* Same content reached at other zxids differs (stats differ). */
    assert_int_equal(set(f, "/a", "changed", -1), 0);
    assert_int_equal(tree_digest(f->t), tree_digest(g->t));
    f->now++;
    assert_int_equal(set(f, "/a/b", "", -1), 0);
    assert_int_not_equal(tree_digest(f->t), tree_digest(g->t));
    tree_close(g->t);
    free(g);
}

struct membuf {
    uint8_t *p;
    size_t len, cap, pos;
    size_t max_chunk;
    size_t read_step;
};

static int mem_write(void *data, const void *b, size_t len)
{
    struct membuf *m = data;
    assert_true(len <= TREE_SNAPSHOT_CHUNK_BYTES);
    if (len > m->max_chunk)
        m->max_chunk = len;
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
    size_t n = m->len - m->pos;
    if (n > cap)
        n = cap;
    if (m->read_step && n > m->read_step)
        n = m->read_step;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (long)n;
}

static void snapshot_round_trip(void **state)
{
    struct fx *f = *state;
    build_sample(f);
    struct tree_cmd dup = { .type = TREE_CMD_CHECK, .session_id = SID,
                            .xid = ++f->xid,
                            .op = mkop(TREE_CMD_CHECK, "/a", NULL, 0, -1) };
    assert_int_equal(apply(f, &dup), 0);
    struct membuf m = { 0 };
    assert_int_equal(tree_snapshot_write(f->t, mem_write, &m), 0);
    struct tree *u;
    m.read_step = 7; /* odd read sizes */
    assert_int_equal(tree_snapshot_load(&u, NULL, mem_read, &m), 0);
    assert_int_equal(tree_verify(u), 0);
    assert_int_equal(tree_digest(u), tree_digest(f->t));
    assert_int_equal(tree_applied_index(u), f->zxid);
    assert_int_equal(tree_node_count(u), tree_node_count(f->t));
    assert_int_equal(tree_bytes_used(u), tree_bytes_used(f->t));
    /* Same bytes again from the loaded tree. */
    struct membuf m2 = { 0 };
    assert_int_equal(tree_snapshot_write(u, mem_write, &m2), 0);
    assert_int_equal(m2.len, m.len);
    assert_memory_equal(m2.p, m.p, m.len);
    /* Both trees continue identically, dedup window included. */
    struct tree *orig = f->t;
    uint64_t z = f->zxid;
    uint64_t ids[] = { 77 };
    struct tree_cmd exp = { .type = TREE_CMD_SESSION_EXPIRE, .ids = ids,
                            .n_ids = 1 };
    for (int k = 0; k < 2; k++) {
        f->t = k ? u : orig;
        f->zxid = z;
        assert_int_equal(apply(f, &dup), 0);
        assert_true(f->r->cached);
        assert_int_equal(apply(f, &exp), 0);
        assert_int_equal(f->n_ev, 2);
        assert_string_equal(f->ev[0].path, "/a/e");
    }
    f->t = orig;
    assert_int_equal(tree_digest(u), tree_digest(orig));
    tree_close(u);
    free(m.p);
    free(m2.p);
}

static void snapshot_rejects_bad_bytes(void **state)
{
    struct fx *f = *state;
    build_sample(f);
    struct membuf m = { 0 };
    assert_int_equal(tree_snapshot_write(f->t, mem_write, &m), 0);
    struct tree *u = NULL;
    /* Every truncation. */
    size_t len = m.len;
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 13)) {
        m.len = cut;
        m.pos = 0;
        assert_int_equal(tree_snapshot_load(&u, NULL, mem_read, &m),
                         COORD_ECORRUPT);
    }
    m.len = len;
    /* Every single-byte flip (bounded stride to stay fast). */
    for (size_t i = 0; i < len; i += 3) {
        m.p[i] ^= 0x5a;
        m.pos = 0;
        assert_int_equal(tree_snapshot_load(&u, NULL, mem_read, &m),
                         COORD_ECORRUPT);
        m.p[i] ^= 0x5a;
    }
    /* Trailing garbage. */
    mem_write(&m, "x", 1);
    m.pos = 0;
    assert_int_equal(tree_snapshot_load(&u, NULL, mem_read, &m),
                     COORD_ECORRUPT);
    m.len = len;
    m.pos = 0;
    assert_int_equal(tree_snapshot_load(&u, NULL, mem_read, &m), 0);
    tree_close(u);
    free(m.p);
}

static void snapshot_chunks_are_bounded(void **state)
{
    struct fx *f = *state;
    static char big[200000];
    memset(big, 'q', sizeof(big));
    struct tree_op op = mkop(TREE_CMD_CREATE, "/big", NULL, 0, 0);
    op.data = big;
    op.data_len = sizeof(big);
    assert_int_equal(op_as(f, SID, op), 0);
    struct membuf m = { 0 };
    assert_int_equal(tree_snapshot_write(f->t, mem_write, &m), 0);
    assert_int_equal(m.max_chunk, TREE_SNAPSHOT_CHUNK_BYTES);
    assert_true(m.len > sizeof(big));
    struct tree *u;
    assert_int_equal(tree_snapshot_load(&u, NULL, mem_read, &m), 0);
    const void *d;
    struct coord_stat s;
    assert_int_equal(tree_get(u, "/big", 4, &d, &s), 0);
    assert_int_equal(s.data_length, sizeof(big));
    assert_memory_equal(d, big, sizeof(big));
    tree_close(u);
    free(m.p);
}

static int fail_write(void *data, const void *b, size_t len)
{
    (void)data, (void)b, (void)len;
    return COORD_EIO;
}

static void snapshot_writer_error_propagates(void **state)
{
    struct fx *f = *state;
    assert_int_equal(tree_snapshot_write(f->t, fail_write, NULL), COORD_EIO);
}

static void apply_without_leaks(void **state)
{
    (void)state;
    coord_alloc_counting_enable(0);
    struct fx *f;
    setup((void **)&f);
    build_sample(f);
    struct membuf m = { 0 };
    assert_int_equal(tree_snapshot_write(f->t, mem_write, &m), 0);
    struct tree *u;
    assert_int_equal(tree_snapshot_load(&u, NULL, mem_read, &m), 0);
    tree_close(u);
    free(m.p);
    void *st_ = f;
    teardown(&st_);
    assert_int_equal(coord_alloc_live(), 0);
    coord_alloc_counting_disable();
}

static void command_bounds(void **state)
{
    struct fx *f = *state;
    static struct tree_op ops[COORD_MULTI_OPS_MAX + 1];
    for (int i = 0; i <= COORD_MULTI_OPS_MAX; i++)
        ops[i] = mkop(TREE_CMD_CHECK, "/", NULL, 0, -1);
    assert_int_equal(multi(f, ops, COORD_MULTI_OPS_MAX + 1), COORD_ETOOMANY);
    assert_int_equal(multi(f, ops, COORD_MULTI_OPS_MAX), 0);
    assert_int_equal(f->r->n_ops, COORD_MULTI_OPS_MAX);
    static uint64_t ids[TREE_IDS_MAX + 1];
    struct tree_cmd e = { .type = TREE_CMD_SESSION_EXPIRE, .ids = ids,
                          .n_ids = TREE_IDS_MAX + 1 };
    assert_int_equal(apply(f, &e), COORD_ETOOMANY);
    struct tree_cmd c = { .type = TREE_CMD_CLEANUP, .ops = ops,
                          .n_ops = TREE_IDS_MAX + 1 };
    assert_int_equal(apply(f, &c), COORD_ETOOMANY);
    struct tree_cmd bad = { .type = TREE_CMD_TYPE_MAX + 1 };
    assert_int_equal(apply(f, &bad), COORD_EINVAL);
    struct tree_cmd mism = { .type = TREE_CMD_CREATE, .session_id = SID,
                             .xid = ++f->xid,
                             .op = mkop(TREE_CMD_DELETE, "/", NULL, 0, -1) };
    assert_int_equal(apply(f, &mism), COORD_EINVAL);
    struct tree_cmd noop = { .type = TREE_CMD_NOOP };
    assert_int_equal(apply(f, &noop), 0);
    assert_int_equal(tree_applied_index(f->t), f->zxid);
}

static void count_id(void *data, uint64_t id)
{
    *(uint64_t *)data += id;
}

static void session_lookups(void **state)
{
    struct fx *f = *state;
    assert_int_equal(open_session(f, 5), 0);
    uint8_t secret[COORD_SECRET_BYTES];
    memset(secret, 5, sizeof(secret));
    assert_true(tree_session_secret_ok(f->t, 5, secret));
    secret[3] ^= 1;
    assert_false(tree_session_secret_ok(f->t, 5, secret));
    assert_false(tree_session_secret_ok(f->t, 6, secret));
    uint32_t timeout;
    assert_int_equal(tree_session_get(f->t, 5, &timeout, NULL, NULL), 0);
    assert_int_equal(timeout, 10000);
    uint64_t sum = 0;
    tree_sessions_each(f->t, count_id, &sum);
    assert_int_equal(sum, SID + 5);
    /* Many sessions: the table grows. */
    for (uint64_t id = 100; id < 400; id++)
        assert_int_equal(open_session(f, id), 0);
    assert_int_equal(tree_session_count(f->t), 302);
    assert_int_equal(tree_session_get(f->t, 399, NULL, NULL, NULL), 0);
}

static jmp_buf panic_jmp;

static void on_panic(const char *file, int line, const char *msg)
{
    (void)file, (void)line, (void)msg;
    longjmp(panic_jmp, 1);
}

/* A replica that cannot allocate inside apply must stop, not skip the
 * command: allocation failure panics. */
static void allocation_failure_panics(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "/warm", NULL, 0), 0);
    struct tree_cmd c = { .type = TREE_CMD_CREATE, .session_id = SID,
                          .xid = ++f->xid,
                          .op = mkop(TREE_CMD_CREATE, "/x", NULL, 0, 0) };
    const struct tree_result *r;
    volatile bool panicked = false;
    coord_panic_hook_set(on_panic);
    if (setjmp(panic_jmp) == 0) {
        coord_alloc_counting_enable(1); /* the node allocation fails */
        tree_apply(f->t, ++f->zxid, &c, NULL, NULL, &r);
    } else {
        panicked = true;
    }
    coord_alloc_counting_disable();
    coord_panic_hook_set(NULL);
    assert_true(panicked);
}

/* tree_verify() itself must notice damage, or the checks above that rely
 * on it prove nothing. */
static void verify_detects_damage(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create(f, "/a", "x", 0), 0);
    assert_int_equal(create(f, "/a/b", NULL, 0), 0);
    assert_int_equal(create(f, "/a/c", NULL, 0), 0);
    struct tree_node *n = tree_lookup(f->t, "/a", 2);
    assert_int_equal(tree_verify(f->t), 0);
    n->stat.version++;
    assert_int_equal(tree_verify(f->t), COORD_ECORRUPT);
    n->stat.version--;
    n->stat.num_children++;
    assert_int_equal(tree_verify(f->t), COORD_ECORRUPT);
    n->stat.num_children--;
    struct tree_node *k = n->kids, *tmp = k->left ? k->left : k->right;
    uint32_t h = k->hash;
    k->hash = tmp->hash - 1; /* breaks the heap order */
    assert_int_equal(tree_verify(f->t), COORD_ECORRUPT);
    k->hash = h;
    assert_int_equal(tree_verify(f->t), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(root_exists_from_start),
        T(create_sets_stats_and_events),
        T(create_errors),
        T(sequential_numbering),
        T(delete_cases),
        T(set_and_check),
        T(multi_commits_all),
        T(multi_rolls_back),
        T(session_close_deletes_ephemerals),
        T(session_expire_many),
        T(dedup_returns_cached_result),
        T(dedup_of_multi),
        T(containers_and_ttl),
        T(ttl_counts_from_last_change),
        T(children_sorted_and_paged),
        cmocka_unit_test_setup_teardown(limits_reject_identically,
                                        setup_small, teardown),
        T(digest_equal_for_equal_histories),
        T(snapshot_round_trip),
        T(snapshot_rejects_bad_bytes),
        T(snapshot_chunks_are_bounded),
        T(snapshot_writer_error_propagates),
        T(command_bounds),
        T(session_lookups),
        T(allocation_failure_panics),
        T(verify_detects_damage),
        cmocka_unit_test(apply_without_leaks),
    };
    return cmocka_run_group_tests_name("tree", tests, NULL, NULL);
}
