/* apply.c -- tree_apply(): one committed command in, one result and its
 * watch events out. Checks the session and deduplicates by (session, xid),
 * runs single ops and multis atomically (commit or roll back), then hands
 * the events to the caller. Deterministic: everything comes from the tree
 * and the command; no clock, no randomness, no I/O.
 */
#include "tree_int.h"

#include <string.h>

#include "libcoord/shared/check.h"

static void reset_scratch(struct tree *t, uint64_t zxid, int64_t time_ms)
{
    t->zxid = zxid;
    t->time_ms = time_ms;
    t->n_undo = 0;
    t->n_evs = 0;
    t->ev_paths.len = 0;
    t->res_paths.len = 0;
    memset(&t->result, 0, sizeof(t->result));
    t->result.zxid = zxid;
    t->result.ops = t->res_ops;
}

/* Result paths point into res_paths: reserve the worst case up front so it
 * never moves during the apply. */
static void reserve_paths(struct tree *t, const struct tree_cmd *cmd)
{
    size_t need = cmd->op.path_len + 16;
    if (cmd->type == TREE_CMD_MULTI)
        for (uint32_t i = 0; i < cmd->n_ops; i++)
            need += cmd->ops[i].path_len + 16;
    t->res_paths.buf = tree_grow(t->res_paths.buf, &t->res_paths.cap, need, 1);
}

static int apply_multi(struct tree *t, const struct tree_cmd *cmd,
                       uint64_t owner)
{
    if (cmd->n_ops > COORD_MULTI_OPS_MAX)
        return COORD_ETOOMANY;
    struct tree_op_result *r = t->res_ops;
    coord_assert(t->n_undo == 0 && t->n_evs == 0);
    t->result.n_ops = cmd->n_ops;
    for (uint32_t i = 0; i < cmd->n_ops; i++) {
        int err = tree_op_apply(t, &cmd->ops[i], owner, &r[i]);
        if (err == 0)
            continue;
        tree_rollback(t);
        coord_assert(t->n_undo == 0);
        t->n_evs = 0;
        for (uint32_t j = 0; j < cmd->n_ops; j++) {
            memset(&r[j], 0, sizeof(r[j]));
            r[j].err = j < i ? 0 : (j == i ? err : COORD_ESKIPPED);
        }
        return err;
    }
    return 0;
}

static int apply_ops(struct tree *t, const struct tree_cmd *cmd,
                     uint64_t owner)
{
    int err;
    reserve_paths(t, cmd);
    if (cmd->type == TREE_CMD_MULTI) {
        err = apply_multi(t, cmd, owner);
    } else if (cmd->op.type != cmd->type) {
        err = COORD_EINVAL;
    } else {
        t->result.n_ops = 1;
        err = tree_op_apply(t, &cmd->op, owner, &t->res_ops[0]);
        t->res_ops[0].err = err;
        if (err != 0)
            tree_rollback(t);
    }
    tree_commit(t);
    return err;
}

static void set_last_xid(struct tree *t, struct tree_session *s, uint64_t x)
{
    t->digest -= tree_session_digest(s);
    s->last_xid = x;
    t->digest += tree_session_digest(s);
}

/* A command of a client session: CREATE..MULTI and SESSION_CLOSE. */
static int apply_client(struct tree *t, const struct tree_cmd *cmd)
{
    struct tree_session *s = tree_session_find(t, cmd->session_id);
    if (s == NULL || cmd->session_id == 0)
        return COORD_ESESSIONEXPIRED;
    if (cmd->xid <= s->last_xid) {
        const struct tree_cache_entry *c =
            tree_session_cache_get(s, cmd->xid);
        if (c == NULL)
            return COORD_EPROTO;
        int err = tree_result_decode(t, c->bytes, c->len);
        coord_assert(err == 0);
        t->result.cached = true;
        return t->result.err;
    }
    if (cmd->type == TREE_CMD_SESSION_CLOSE) {
        tree_session_end(t, s);
        tree_commit(t);
        return 0;
    }
    int err = apply_ops(t, cmd, s->id);
    t->result.err = err;
    set_last_xid(t, s, cmd->xid);
    tree_session_cache_put(s, cmd->xid, &t->result);
    return err;
}

static int apply_system(struct tree *t, const struct tree_cmd *cmd)
{
    switch (cmd->type) {
    case TREE_CMD_NOOP:
        return 0;
    case TREE_CMD_SESSION_OPEN:
        return tree_session_open(t, cmd);
    case TREE_CMD_SESSION_EXPIRE:
        if (cmd->n_ids > TREE_IDS_MAX)
            return COORD_ETOOMANY;
        for (uint32_t i = 0; i < cmd->n_ids; i++) {
            struct tree_session *s = tree_session_find(t, cmd->ids[i]);
            if (s != NULL)
                tree_session_end(t, s);
        }
        tree_commit(t);
        return 0;
    case TREE_CMD_CLEANUP:
        if (cmd->n_ops > TREE_IDS_MAX)
            return COORD_ETOOMANY;
        tree_apply_cleanup(t, cmd);
        tree_commit(t);
        return 0;
    default:
        return COORD_EINVAL;
    }
}

int tree_apply(struct tree *t, uint64_t zxid, const struct tree_cmd *cmd,
               tree_event_cb cb, void *data, const struct tree_result **out)
{
    coord_assert(zxid > t->applied);
    reset_scratch(t, zxid, cmd->time_ms);
    int err;
    switch (cmd->type) {
    case TREE_CMD_CREATE:
    case TREE_CMD_DELETE:
    case TREE_CMD_SET:
    case TREE_CMD_CHECK:
    case TREE_CMD_MULTI:
    case TREE_CMD_SESSION_CLOSE:
        err = apply_client(t, cmd);
        break;
    default:
        err = apply_system(t, cmd);
    }
    coord_assert(t->n_undo == 0);
    t->result.err = err;
    t->applied = zxid;
    for (size_t i = 0; cb != NULL && i < t->n_evs; i++) {
        struct tree_event ev = {
            .type = t->evs[i].type,
            .zxid = zxid,
            .path = t->ev_paths.buf + t->evs[i].off,
            .path_len = t->evs[i].len,
        };
        cb(data, &ev);
    }
    *out = &t->result;
    return err;
}
