/* trace.c -- observability of the core: the tracer (one line per decision,
 * formatted only when config.trace is set), raft_status(), and the names of
 * roles and message types. Reads state, never changes it; no I/O (the
 * tracer callback decides where lines go).
 */
#include "raft_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "libcoord/shared/check.h"

void raft__trace(struct raft *r, const char *fmt, ...)
{
    coord_assert(r->cfg.trace != NULL);
    int n = snprintf(r->trace_buf, sizeof(r->trace_buf),
                     "[%6llu] %llu %s t%llu: ", (unsigned long long)r->ticks,
                     (unsigned long long)r->id, raft_role_name(r->role),
                     (unsigned long long)r->term);
    coord_assert(n > 0);
    if ((size_t)n < sizeof(r->trace_buf)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->trace_buf + n, sizeof(r->trace_buf) - (size_t)n, fmt,
                  ap);
        va_end(ap);
    }
    r->cfg.trace(r->cfg.trace_data, r->trace_buf);
}

void raft_status(const struct raft *r, struct raft_status *out)
{
    coord_assert(r != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    out->id = r->id;
    out->role = r->role;
    out->term = r->term;
    out->vote = r->vote;
    out->leader = r->leader;
    out->commit = r->commit;
    out->applied = r->applied;
    out->first_index = raft_log_first(r);
    out->last_index = raft_log_last(r);
    out->snap_index = r->snap_index;
    out->pair_commits = r->pair_commits;
    out->conf = r->conf;
    if (r->role != RAFT_LEADER)
        return;
    out->n_progress = r->n_prog;
    for (uint32_t i = 0; i < r->n_prog; i++) {
        const struct raft_prog *p = &r->prog[i];
        struct raft_progress *o = &out->progress[i];
        o->id = p->id;
        o->role = p->role;
        o->match = p->id == r->id ? r->stable : p->match;
        o->next = p->id == r->id ? raft_log_last(r) + 1 : p->next;
        o->state = p->state;
        o->recent_active = p->recent_active;
    }
    coord_assert(out->n_progress <= RAFT_MEMBERS_MAX);
}

const char *raft_role_name(uint8_t role)
{
    switch (role) {
    case RAFT_FOLLOWER: return "follower";
    case RAFT_PRECANDIDATE: return "precandidate";
    case RAFT_CANDIDATE: return "candidate";
    case RAFT_LEADER: return "leader";
    default: return "?";
    }
}

const char *raft_msg_name(uint8_t type)
{
    static const char *const names[] = {
        "?", "APPEND", "APPEND_RESP", "VOTE", "VOTE_RESP", "PREVOTE",
        "PREVOTE_RESP", "HEARTBEAT", "HEARTBEAT_RESP", "SNAPSHOT",
        "SNAPSHOT_RESP", "TIMEOUT_NOW", "READ_INDEX", "READ_INDEX_RESP",
    };
    if (type >= COORD_ARRAY_LEN(names))
        return "?";
    return names[type];
}
