/* cmd_sessions.c -- `coordctl sessions`: every open session of the
 * cluster (coord_admin_sessions, from the connected server's state) with
 * its timeout and ephemeral node count, and the member it is connected to
 * when known: each reachable member is asked for its own list, which
 * marks the sessions connected to it. Prints for humans or, with --json,
 * one object per session. Allocates nothing itself. */
#include "ctl.h"

#include <inttypes.h>
#include <string.h>

/* Bound on each other member's answer, as in status. */
#define CTL_SESS_MEMBER_TIMEOUT_MS 3000

/* Fills where[i] from the list of the member at addr: its id for every
 * session connected to it. */
static void ctl_mark_member(const struct ctl *x, const char *addr,
                            const struct coord_session_list *all,
                            uint64_t *where)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = addr;
    o.request_timeout_ms = x->timeout_ms < CTL_SESS_MEMBER_TIMEOUT_MS
                               ? x->timeout_ms
                               : CTL_SESS_MEMBER_TIMEOUT_MS;
    struct coord_client *c = NULL;
    if (coord_open(&c, &o) != 0)
        return;
    struct coord_session_list l;
    if (coord_admin_sessions(c, &l) == 0) {
        /* both lists are in id order */
        size_t j = 0;
        for (size_t i = 0; i < l.n; i++) {
            while (j < all->n && all->sessions[j].id < l.sessions[i].id)
                j++;
            if (j < all->n && all->sessions[j].id == l.sessions[i].id &&
                l.sessions[i].server_id != 0)
                where[j] = l.sessions[i].server_id;
        }
        coord_session_list_free(&l);
    }
    coord_close(c);
}

static void ctl_print_session(const struct ctl *x,
                              const struct coord_session_info *s,
                              uint64_t where)
{
    if (x->json) {
        printf("{\"id\":\"0x%016" PRIx64 "\",\"timeout_ms\":%" PRIu32
               ",\"ephemerals\":%" PRIu32, s->id, s->timeout_ms,
               s->ephemerals);
        if (where != 0)
            printf(",\"server\":%" PRIu64, where);
        printf("}\n");
        return;
    }
    char srv[24] = "-";
    if (where != 0)
        snprintf(srv, sizeof(srv), "%" PRIu64, where);
    printf("0x%016" PRIx64 "  %10" PRIu32 "  %10" PRIu32 "  %s\n", s->id,
           s->timeout_ms, s->ephemerals, srv);
}

static uint64_t ctl_where[1u << 20];

int ctl_cmd_sessions(struct ctl *x)
{
    struct coord_session_list all;
    int rc = coord_admin_sessions(x->c, &all);
    if (rc != 0)
        return ctl_fail(x, "sessions", rc);
    size_t n = all.n < sizeof(ctl_where) / sizeof(ctl_where[0])
                   ? all.n
                   : sizeof(ctl_where) / sizeof(ctl_where[0]);
    for (size_t i = 0; i < n; i++)
        ctl_where[i] = all.sessions[i].server_id;
    struct coord_session_list head = all; /* the part ctl_where covers */
    head.n = n;
    static struct coord_status st;
    if (coord_status(x->c, &st) == 0)
        for (size_t m = 0; m < st.n_members; m++)
            if (st.members[m].id != all.server_id && st.members[m].addr[0])
                ctl_mark_member(x, st.members[m].addr, &head, ctl_where);
    if (!x->json)
        printf("%-18s  %10s  %10s  %s\n", "SESSION", "TIMEOUT_MS",
               "EPHEMERALS", "SERVER");
    for (size_t i = 0; i < n; i++)
        ctl_print_session(x, &all.sessions[i], ctl_where[i]);
    coord_session_list_free(&all);
    return CTL_EXIT_OK;
}
