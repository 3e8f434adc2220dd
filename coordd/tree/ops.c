/* ops.c -- the namespace operations of the tree state machine (create,
 * delete, set, check, multi, cleanup) and tree_apply() itself.
 *
 * Semantics follow ZooKeeper's PrepRequestProcessor and DataTree: the
 * order of error checks, the stat fields each operation bumps and the watch
 * events it triggers. Every mutation is logged in the undo log first, so a
 * failing multi rolls back to the exact previous state (stats, digest, byte
 * budget); deleted nodes are freed only at commit. Must not read a clock,
 * draw random numbers or do I/O: time comes in the command.
 */
#include "tree_int.h"

#include <stdio.h>
#include <string.h>

#include "libcoord/shared/alloc.h"
#include "libcoord/shared/check.h"

/* ---- Undo log ----------------------------------------------------------- */
static struct tree_undo *undo_push(struct tree *t, uint8_t kind,
                                   struct tree_node *n)
{
    t->undo = tree_grow(t->undo, &t->cap_undo, t->n_undo + 1,
                        sizeof(*t->undo));
    struct tree_undo *u = &t->undo[t->n_undo++];
    u->kind = kind;
    u->data_replaced = false;
    u->node = n;
    return u;
}

/* Logs n's stat and data, then opens a stat change (tree_stat_end closes). */
static void touch(struct tree *t, struct tree_node *n)
{
    struct tree_undo *u = undo_push(t, TREE_UNDO_STAT, n);
    u->stat = n->stat;
    u->data = n->data;
    u->dhash = n->dhash;
    tree_stat_begin(t, n);
}

void tree_commit(struct tree *t)
{
    coord_assert(t->n_undo <= t->cap_undo);
    /* Data first: a node deleted later in the same batch is still live. */
    for (size_t i = 0; i < t->n_undo; i++) {
        struct tree_undo *u = &t->undo[i];
        if (u->kind == TREE_UNDO_STAT && u->data_replaced)
            coord_free(u->data);
    }
    for (size_t i = 0; i < t->n_undo; i++)
        if (t->undo[i].kind == TREE_UNDO_DELETE)
            tree_node_free(t->undo[i].node);
    t->n_undo = 0;
}

void tree_rollback(struct tree *t)
{
    coord_assert(t->n_undo <= t->cap_undo);
    while (t->n_undo > 0) {
        struct tree_undo *u = &t->undo[--t->n_undo];
        struct tree_node *n = u->node;
        switch (u->kind) {
        case TREE_UNDO_CREATE:
            tree_unlink(t, n);
            tree_node_free(n);
            break;
        case TREE_UNDO_DELETE:
            tree_link(t, n->parent, n);
            break;
        default:
            tree_stat_begin(t, n);
            if (u->data_replaced)
                coord_free(n->data);
            n->data = u->data;
            n->dhash = u->dhash;
            n->stat = u->stat;
            tree_stat_end(t, n);
        }
    }
}

void tree_event(struct tree *t, uint8_t type, const char *path, size_t len)
{
    t->evs = tree_grow(t->evs, &t->cap_evs, t->n_evs + 1, sizeof(*t->evs));
    struct tree_ev_rec *e = &t->evs[t->n_evs++];
    e->type = type;
    e->off = tree_arena_put(&t->ev_paths, path, len);
    e->len = (uint32_t)len;
}

static bool version_ok(int32_t want, const struct tree_node *n)
{
    return want == -1 || want == n->stat.version;
}

static int32_t inc32(int32_t v)
{
    return (int32_t)((uint32_t)v + 1);
}

/* ---- Delete ------------------------------------------------------------- */
/* Deletes a childless node: parent's cversion and pzxid bump, events. */
void tree_delete_node(struct tree *t, struct tree_node *n)
{
    struct tree_node *p = n->parent;
    coord_assert(p != NULL && n->kids == NULL);
    coord_assert(p->stat.num_children > 0);
    touch(t, p);
    p->stat.cversion = inc32(p->stat.cversion);
    p->stat.pzxid = t->zxid;
    p->stat.num_children--;
    tree_stat_end(t, p);
    tree_unlink(t, n);
    undo_push(t, TREE_UNDO_DELETE, n);
    tree_event(t, COORD_EVENT_DELETED, n->path, n->path_len);
    tree_event(t, COORD_EVENT_CHILDREN_CHANGED, p->path, p->path_len);
}

static int op_delete(struct tree *t, const struct tree_op *op)
{
    int err = tree_path_validate(op->path, op->path_len);
    if (err != 0)
        return err;
    if (op->path_len == 1)
        return COORD_EINVAL; /* "/" cannot be deleted */
    struct tree_node *n = tree_lookup(t, op->path, op->path_len);
    if (n == NULL)
        return COORD_ENONODE;
    if (!version_ok(op->version, n))
        return COORD_EBADVERSION;
    if (n->kids != NULL)
        return COORD_ENOTEMPTY;
    tree_delete_node(t, n);
    return 0;
}

/* ---- Set, check --------------------------------------------------------- */
static int op_set(struct tree *t, const struct tree_op *op,
                  struct tree_op_result *res)
{
    int err = tree_path_validate(op->path, op->path_len);
    if (err != 0)
        return err;
    if (op->data_len > t->cfg.data_bytes_max)
        return COORD_ETOOBIG;
    struct tree_node *n = tree_lookup(t, op->path, op->path_len);
    if (n == NULL)
        return COORD_ENONODE;
    if (!version_ok(op->version, n))
        return COORD_EBADVERSION;
    if (t->bytes_used - n->stat.data_length + op->data_len > t->cfg.bytes_max)
        return COORD_ETOOBIG;
    char *d = NULL;
    if (op->data_len > 0) {
        d = coord_malloc(op->data_len);
        if (d == NULL)
            coord_panic("tree: out of memory in set");
        memcpy(d, op->data, op->data_len);
    }
    touch(t, n);
    t->undo[t->n_undo - 1].data_replaced = true;
    n->data = d;
    n->dhash = tree_hash_bytes(d, op->data_len, 1);
    n->stat.data_length = op->data_len;
    n->stat.version = inc32(n->stat.version);
    n->stat.mzxid = t->zxid;
    n->stat.mtime_ms = t->time_ms;
    tree_stat_end(t, n);
    tree_event(t, COORD_EVENT_DATA_CHANGED, n->path, n->path_len);
    res->stat = n->stat;
    return 0;
}

static int op_check(struct tree *t, const struct tree_op *op,
                    struct tree_op_result *res)
{
    int err = tree_path_validate(op->path, op->path_len);
    if (err != 0)
        return err;
    struct tree_node *n = tree_lookup(t, op->path, op->path_len);
    if (n == NULL)
        return COORD_ENONODE;
    if (!version_ok(op->version, n))
        return COORD_EBADVERSION;
    res->stat = n->stat;
    return 0;
}

/* ---- Create ------------------------------------------------------------- */
static int create_mode_check(const struct tree_op *op)
{
    switch (op->mode) {
    case COORD_PERSISTENT:
    case COORD_EPHEMERAL:
    case COORD_SEQUENTIAL:
    case COORD_EPHEMERAL | COORD_SEQUENTIAL:
    case COORD_CONTAINER:
        return op->ttl_ms == 0 ? 0 : COORD_EINVAL;
    case COORD_TTL:
    case COORD_TTL | COORD_SEQUENTIAL:
        return op->ttl_ms > 0 && op->ttl_ms <= TREE_TTL_MS_MAX
                   ? 0 : COORD_EINVAL;
    default:
        return COORD_EINVAL;
    }
}

/* Creates tend to come in runs under one parent: remember the last one.
 * A pure cache (tree_unlink clears it), so results never depend on it. */
static struct tree_node *find_parent(struct tree *t, const char *p,
                                     size_t len)
{
    struct tree_node *n = t->last_parent;
    if (n != NULL && n->path_len == len && memcmp(n->path, p, len) == 0)
        return n;
    n = tree_lookup(t, p, len);
    t->last_parent = n;
    return n;
}

/* Resolves the final path into buf (the prefix plus, for sequential nodes,
 * the parent's cversion as %010d) and finds the parent. ZooKeeper's order:
 * bad prefix, missing parent, bad final path. */
static int create_path(struct tree *t, const struct tree_op *op, char *buf,
                       size_t *len, struct tree_node **parent)
{
    bool seq = (op->mode & COORD_SEQUENTIAL) != 0;
    size_t pl = op->path_len;
    if (pl == 0 || pl > COORD_PATH_BYTES_MAX - (seq ? 1 : 0))
        return COORD_EBADPATH;
    memcpy(buf, op->path, pl);
    if (seq)
        buf[pl] = '0'; /* a stand-in for the number while validating */
    int err = tree_path_validate(buf, pl + (seq ? 1 : 0));
    if (err != 0)
        return err;
    if (pl == 1 && !seq)
        return COORD_ENODEEXISTS; /* "/" */
    *parent = find_parent(t, buf, tree_path_parent_len(buf, pl + seq));
    if (*parent == NULL)
        return COORD_ENONODE;
    *len = pl;
    if (seq) {
        char num[16];
        int k = snprintf(num, sizeof(num), "%010d", (*parent)->stat.cversion);
        coord_assert(k > 0 && k < (int)sizeof(num));
        if (pl + (size_t)k > COORD_PATH_BYTES_MAX)
            return COORD_EBADPATH;
        memcpy(buf + pl, num, (size_t)k);
        *len = pl + (size_t)k;
    }
    return 0;
}

static int create_limits(const struct tree *t, const struct tree_node *parent,
                         size_t len, uint32_t data_len)
{
    if (t->n_nodes >= t->cfg.nodes_max ||
        parent->stat.num_children >= t->cfg.children_max)
        return COORD_ETOOMANY;
    if (t->bytes_used + len + data_len + TREE_NODE_COST_BYTES >
        t->cfg.bytes_max)
        return COORD_ETOOBIG;
    return 0;
}

static struct tree_node *create_node(struct tree *t, const struct tree_op *op,
                                     uint64_t owner, const char *path,
                                     size_t len)
{
    struct tree_node *n = tree_node_new(path, len);
    if (op->data_len > 0) {
        n->data = coord_malloc(op->data_len);
        if (n->data == NULL)
            coord_panic("tree: out of memory in create");
        memcpy(n->data, op->data, op->data_len);
    }
    n->dhash = tree_hash_bytes(n->data, op->data_len, 1);
    n->stat.czxid = n->stat.mzxid = n->stat.pzxid = t->zxid;
    n->stat.ctime_ms = n->stat.mtime_ms = t->time_ms;
    n->stat.data_length = op->data_len;
    n->stat.ephemeral_owner = (op->mode & COORD_EPHEMERAL) ? owner : 0;
    if (op->mode & COORD_CONTAINER)
        n->flags |= TREE_NODE_CONTAINER;
    if (op->mode & COORD_TTL) {
        n->flags |= TREE_NODE_TTL;
        n->ttl_ms = op->ttl_ms;
    }
    return n;
}

static int op_create(struct tree *t, const struct tree_op *op, uint64_t owner,
                     struct tree_op_result *res)
{
    char *buf = t->pathbuf;
    struct tree_node *parent = NULL;
    size_t len = 0;
    int err = create_mode_check(op);
    if (err == 0 && op->data_len > t->cfg.data_bytes_max)
        err = COORD_ETOOBIG;
    if (err == 0)
        err = create_path(t, op, buf, &len, &parent);
    if (err != 0)
        return err;
    if (tree_lookup(t, buf, len) != NULL)
        return COORD_ENODEEXISTS;
    if (parent->stat.ephemeral_owner != 0)
        return COORD_ENOCHILDRENFOREPHEMERALS;
    err = create_limits(t, parent, len, op->data_len);
    if (err != 0)
        return err;
    struct tree_node *n = create_node(t, op, owner, buf, len);
    touch(t, parent);
    parent->stat.cversion = inc32(parent->stat.cversion);
    parent->stat.pzxid = t->zxid;
    parent->stat.num_children++;
    tree_stat_end(t, parent);
    tree_link(t, parent, n);
    coord_assert(n->parent == parent && parent->stat.num_children > 0);
    undo_push(t, TREE_UNDO_CREATE, n);
    tree_event(t, COORD_EVENT_CREATED, n->path, n->path_len);
    tree_event(t, COORD_EVENT_CHILDREN_CHANGED, parent->path,
               parent->path_len);
    res->stat = n->stat;
    res->path = t->res_paths.buf + tree_arena_put(&t->res_paths, n->path,
                                                  n->path_len);
    res->path_len = n->path_len;
    return 0;
}

int tree_op_apply(struct tree *t, const struct tree_op *op, uint64_t owner,
                  struct tree_op_result *res)
{
    memset(res, 0, sizeof(*res));
    switch (op->type) {
    case TREE_CMD_CREATE:
        return op_create(t, op, owner, res);
    case TREE_CMD_DELETE:
        return op_delete(t, op);
    case TREE_CMD_SET:
        return op_set(t, op, res);
    case TREE_CMD_CHECK:
        return op_check(t, op, res);
    default:
        return COORD_EINVAL;
    }
}

/* ---- Cleanup of containers and TTL nodes -------------------------------- */
bool tree_cleanup_eligible(const struct tree_node *n, int64_t now_ms)
{
    if (n->kids != NULL)
        return false;
    if (n->flags & TREE_NODE_CONTAINER)
        return n->stat.cversion > 0;
    if (n->flags & TREE_NODE_TTL)
        return now_ms - n->stat.mtime_ms > n->ttl_ms;
    return false;
}

void tree_apply_cleanup(struct tree *t, const struct tree_cmd *cmd)
{
    for (uint32_t i = 0; i < cmd->n_ops; i++) {
        const struct tree_op *op = &cmd->ops[i];
        if (tree_path_validate(op->path, op->path_len) != 0 ||
            op->path_len == 1)
            continue;
        struct tree_node *n = tree_lookup(t, op->path, op->path_len);
        if (n != NULL && tree_cleanup_eligible(n, cmd->time_ms))
            tree_delete_node(t, n);
    }
}
