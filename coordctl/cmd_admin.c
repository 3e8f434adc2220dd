/* cmd_admin.c -- coordctl's cluster admin commands: status (every
 * member's STATUS in one table), members, member add|promote|remove,
 * leader transfer, and health (exit 0 only for a healthy cluster). Uses
 * the public admin API only (coord_status, coord_member_*,
 * coord_leader_transfer). Changes go to the leader: coordctl asks the
 * connected server who leads and opens a second client to the leader's
 * client address when it is another server. Prints for humans or, with
 * --json, one JSON object per line; allocates nothing itself.
 */
#include "ctl.h"

#include <inttypes.h>
#include <string.h>

/* Bound on each per-member request of status and health, so one dead
 * member does not hold the whole table up for the global timeout. */
#define CTL_MEMBER_TIMEOUT_MS 3000

static const char *role_name(int role)
{
    switch (role) {
    case COORD_ROLE_FOLLOWER: return "follower";
    case COORD_ROLE_PRECANDIDATE: return "precandidate";
    case COORD_ROLE_CANDIDATE: return "candidate";
    case COORD_ROLE_LEADER: return "leader";
    default: return "unknown";
    }
}

/* STATUS of the server at addr through a client of its own, and its
 * counters (*src: COORD_ENOTSUP from an older server). */
static int status_at(const struct ctl *x, const char *addr,
                     struct coord_status *st, struct coord_server_stats *ss,
                     int *src)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = addr;
    o.request_timeout_ms = x->timeout_ms < CTL_MEMBER_TIMEOUT_MS
                               ? x->timeout_ms
                               : CTL_MEMBER_TIMEOUT_MS;
    struct coord_client *c = NULL;
    int rc = coord_open(&c, &o);
    if (rc != 0)
        return rc;
    rc = coord_status(c, st);
    *src = rc == 0 ? coord_admin_stats(c, ss) : rc;
    coord_close(c);
    return rc;
}

/* Every member's STATUS: the connected server's first (it names the
 * members), then each member's own; ok[i] says who answered. */
struct ctl_view {
    struct coord_status first;
    struct coord_status st[COORD_STATUS_MEMBERS_MAX];
    int rc[COORD_STATUS_MEMBERS_MAX];
    struct coord_server_stats stats[COORD_STATUS_MEMBERS_MAX];
    int src[COORD_STATUS_MEMBERS_MAX]; /* stats' outcome */
};

static struct ctl_view ctl_view;

static int gather(struct ctl *x, struct ctl_view *v)
{
    int rc = coord_status(x->c, &v->first);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < v->first.n_members; i++) {
        const struct coord_member_status *m = &v->first.members[i];
        if (m->id == v->first.server_id) {
            v->st[i] = v->first; /* the connected server (it may have
                                    no address: a single node) */
            v->rc[i] = 0;
            v->src[i] = coord_admin_stats(x->c, &v->stats[i]);
            continue;
        }
        v->src[i] = COORD_EINVAL;
        v->rc[i] = m->addr[0] ? status_at(x, m->addr, &v->st[i],
                                          &v->stats[i], &v->src[i])
                              : COORD_EINVAL;
    }
    return 0;
}

static uint64_t lag_of(const struct ctl_view *v, uint64_t id)
{
    /* the leader's view, from whichever member leads */
    for (size_t i = 0; i < v->first.n_members; i++) {
        if (v->rc[i] != 0 || v->st[i].role != COORD_ROLE_LEADER)
            continue;
        for (size_t k = 0; k < v->st[i].n_members; k++)
            if (v->st[i].members[k].id == id)
                return v->st[i].members[k].lag;
    }
    return 0;
}

static void status_json(const struct ctl_view *v, size_t i)
{
    const struct coord_member_status *m = &v->first.members[i];
    const struct coord_status *s = &v->st[i];
    printf("{\"id\":%" PRIu64 ",\"address\":", m->id);
    ctl_json_str(stdout, m->addr, strlen(m->addr));
    printf(",\"voter\":%s,\"reachable\":%s", m->voter ? "true" : "false",
           v->rc[i] == 0 ? "true" : "false");
    if (v->rc[i] == 0)
        printf(",\"role\":\"%s\",\"term\":%" PRIu64 ",\"leader\":%" PRIu64
               ",\"commit\":%" PRIu64 ",\"applied\":%" PRIu64
               ",\"lag\":%" PRIu64 ",\"sessions\":%" PRIu64
               ",\"watches\":%" PRIu64 ",\"connections\":%" PRIu64
               ",\"digest_mismatches\":%" PRIu64,
               role_name(s->role), s->term, s->leader_id, s->commit,
               s->applied, lag_of(v, m->id), s->sessions, s->watches,
               s->connections, s->digest_mismatches);
    const struct coord_server_stats *t = &v->stats[i];
    if (v->rc[i] == 0 && v->src[i] == 0)
        printf(",\"requests\":%" PRIu64 ",\"writes\":%" PRIu64
               ",\"reads\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"fsyncs\":%" PRIu64 ",\"fsync_p99_us\":%" PRIu64
               ",\"write_p99_us\":%" PRIu64 ",\"leader_changes\":%" PRIu64,
               t->requests, t->writes, t->reads, t->errors, t->fsyncs,
               t->fsync_p99_us, t->write_p99_us, t->leader_changes);
    printf("}\n");
}

int ctl_cmd_status(struct ctl *x)
{
    struct ctl_view *v = &ctl_view;
    int rc = gather(x, v);
    if (rc != 0)
        return ctl_fail(x, "status", rc);
    if (!x->json)
        printf("%-4s %-21s %-9s %6s %10s %10s %6s %8s %10s %9s\n", "ID",
               "ADDRESS", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG",
               "SESSIONS", "REQUESTS", "FSYNC_P99");
    for (size_t i = 0; i < v->first.n_members; i++) {
        const struct coord_member_status *m = &v->first.members[i];
        const struct coord_status *s = &v->st[i];
        if (x->json) {
            status_json(v, i);
        } else if (v->rc[i] != 0) {
            printf("%-4" PRIu64 " %-21s unreachable (%s)\n", m->id,
                   m->addr, coord_errname(v->rc[i]));
        } else {
            char req[24] = "-", p99[24] = "-";
            if (v->src[i] == 0) {
                snprintf(req, sizeof(req), "%" PRIu64,
                         v->stats[i].requests);
                snprintf(p99, sizeof(p99), "%.1fms",
                         (double)v->stats[i].fsync_p99_us / 1000.0);
            }
            printf("%-4" PRIu64 " %-21s %-9s %6" PRIu64 " %10" PRIu64
                   " %10" PRIu64 " %6" PRIu64 " %8" PRIu64 " %10s %9s%s\n",
                   m->id, m->addr,
                   m->voter ? role_name(s->role) : "learner", s->term,
                   s->commit, s->applied, lag_of(v, m->id), s->sessions,
                   req, p99,
                   s->digest_mismatches ? "  DIGEST MISMATCH" : "");
        }
    }
    return CTL_EXIT_OK;
}

int ctl_cmd_members(struct ctl *x)
{
    struct coord_status st;
    int rc = coord_status(x->c, &st);
    if (rc != 0)
        return ctl_fail(x, "members", rc);
    for (size_t i = 0; i < st.n_members; i++) {
        const struct coord_member_status *m = &st.members[i];
        if (x->json) {
            printf("{\"id\":%" PRIu64 ",\"voter\":%s,\"address\":", m->id,
                   m->voter ? "true" : "false");
            ctl_json_str(stdout, m->addr, strlen(m->addr));
            printf(",\"leader\":%s}\n",
                   m->id == st.leader_id ? "true" : "false");
        } else {
            printf("%" PRIu64 " %s %s%s\n", m->id,
                   m->voter ? "voter" : "learner",
                   m->addr[0] ? m->addr : "-",
                   m->id == st.leader_id ? " leader" : "");
        }
    }
    return CTL_EXIT_OK;
}

/* ---- changes, on the leader ------------------------------------------- */

enum admin_op { OP_ADD, OP_PROMOTE, OP_REMOVE, OP_TRANSFER };

struct admin_req {
    enum admin_op op;
    uint64_t id;
    const char *client_addr;
    const char *peer_addr;
};

static int run_op(struct coord_client *c, const struct admin_req *r)
{
    switch (r->op) {
    case OP_ADD:
        return coord_member_add(c, r->id, r->client_addr, r->peer_addr);
    case OP_PROMOTE:
        return coord_member_promote(c, r->id);
    case OP_REMOVE:
        return coord_member_remove(c, r->id);
    default:
        return coord_leader_transfer(c, r->id);
    }
}

/* Runs r on the leader: here if the connected server leads, else
 * through a client of the leader's address. */
static int on_leader(struct ctl *x, const struct admin_req *r)
{
    struct coord_status st;
    int rc = coord_status(x->c, &st);
    if (rc != 0)
        return rc;
    if (st.role == COORD_ROLE_LEADER)
        return run_op(x->c, r);
    const char *addr = NULL;
    for (size_t i = 0; i < st.n_members; i++)
        if (st.members[i].id == st.leader_id && st.members[i].addr[0])
            addr = st.members[i].addr;
    if (st.leader_id == 0 || addr == NULL)
        return COORD_EUNAVAILABLE;
    struct coord_options o;
    coord_options_init(&o);
    o.servers = addr;
    o.request_timeout_ms = x->timeout_ms;
    struct coord_client *c = NULL;
    rc = coord_open(&c, &o);
    if (rc != 0)
        return rc;
    rc = run_op(c, r);
    coord_close(c);
    return rc;
}

static bool parse_id(const char *s, bool zero_ok, uint64_t *out)
{
    long v;
    if (!ctl_parse_long(s, zero_ok ? 0 : 1, INT32_MAX, &v))
        return false;
    *out = (uint64_t)v;
    return true;
}

static int report(struct ctl *x, const char *what, int rc)
{
    if (rc != 0)
        return ctl_fail(x, what, rc);
    if (x->json)
        printf("{\"ok\":true}\n");
    else
        printf("%s: done\n", what);
    return CTL_EXIT_OK;
}

int ctl_cmd_member(struct ctl *x)
{
    const char *sub = x->argv[0];
    struct admin_req r = {0};
    int want;
    if (strcmp(sub, "add") == 0) {
        r.op = OP_ADD;
        want = 4;
    } else if (strcmp(sub, "promote") == 0) {
        r.op = OP_PROMOTE;
        want = 2;
    } else if (strcmp(sub, "remove") == 0) {
        r.op = OP_REMOVE;
        want = 2;
    } else {
        return ctl_usage_error("member wants add, promote or remove, not "
                               "'%s'", sub);
    }
    if (x->argc != want)
        return ctl_usage_error("member %s takes %d arguments", sub,
                               want - 1);
    if (!parse_id(x->argv[1], false, &r.id))
        return ctl_usage_error("bad member id '%s'", x->argv[1]);
    if (r.op == OP_ADD) {
        r.client_addr = x->argv[2];
        r.peer_addr = x->argv[3];
    }
    return report(x, sub, on_leader(x, &r));
}

int ctl_cmd_leader(struct ctl *x)
{
    if (strcmp(x->argv[0], "transfer") != 0)
        return ctl_usage_error("leader wants transfer, not '%s'",
                               x->argv[0]);
    struct admin_req r = {.op = OP_TRANSFER};
    if (x->argc == 2 && !parse_id(x->argv[1], true, &r.id))
        return ctl_usage_error("bad member id '%s'", x->argv[1]);
    return report(x, "transfer", on_leader(x, &r));
}

/* ---- health ------------------------------------------------------------ */

/* NULL when healthy, else why not. */
static const char *judge(const struct ctl_view *v, char *buf, size_t cap)
{
    size_t voters = 0, answered = 0;
    uint64_t leader = 0, bad = 0;
    for (size_t i = 0; i < v->first.n_members; i++) {
        bool voter = v->first.members[i].voter;
        voters += voter;
        if (v->rc[i] != 0)
            continue;
        answered += voter;
        if (v->st[i].role == COORD_ROLE_LEADER)
            leader = v->st[i].server_id;
        if (v->st[i].digest_mismatches)
            bad = v->st[i].server_id;
    }
    if (answered < voters / 2 + 1)
        snprintf(buf, cap, "only %zu of %zu voters answer", answered,
                 voters);
    else if (leader == 0)
        snprintf(buf, cap, "no leader");
    else if (bad)
        snprintf(buf, cap, "member %" PRIu64 " reports digest "
                 "mismatches (replicas diverged)", bad);
    else
        return NULL;
    return buf;
}

int ctl_cmd_health(struct ctl *x)
{
    struct ctl_view *v = &ctl_view;
    int rc = gather(x, v);
    char why[128];
    const char *bad = rc ? coord_strerror(rc) : judge(v, why, sizeof(why));
    if (x->json) {
        printf("{\"healthy\":%s,\"reason\":", bad ? "false" : "true");
        ctl_json_str(stdout, bad ? bad : "", bad ? strlen(bad) : 0);
        printf("}\n");
    } else if (bad) {
        fprintf(stderr, "coordctl: unhealthy: %s\n", bad);
    } else {
        printf("healthy\n");
    }
    return bad ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}
