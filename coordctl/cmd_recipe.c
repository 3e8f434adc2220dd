/* cmd_recipe.c -- coordctl's recipe commands: lock and elect (run a
 * command while holding a lock or leading, through supervise.c), barrier
 * set|remove|wait|enter|leave, and the read-only views locks and
 * elections. Built on the public recipes API (coord_recipes.h); the views
 * read the recipes' node layout (docs/recipes.md): lock nodes
 * DIR/lock-<guid>-<seq>, candidates DIR/n-<guid>-<seq>, the lowest
 * sequence holds or leads. A NAME without a leading '/' lives under
 * /locks or /elections. Allocates nothing itself. */
#include "ctl.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord_recipes.h"

#define CTL_LOCKS_DIR "/locks"
#define CTL_ELECTIONS_DIR "/elections"
#define CTL_RPATH_MAX 512

/* NAME to a path: as is when it starts with '/', else under dir. */
static int ctl_recipe_path(const char *dir, const char *name, char *out,
                           size_t cap)
{
    int k = name[0] == '/' ? snprintf(out, cap, "%s", name)
                           : snprintf(out, cap, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= cap || (name[0] != '/' && strchr(name, '/')))
        return ctl_usage_error("bad name '%s': a word without '/', or an "
                               "absolute path", name);
    return 0;
}

/* -1 (forever) unless --timeout was given. */
static int ctl_wait_ms(const struct ctl *x)
{
    return x->timeout_given ? (int)x->timeout_ms : -1;
}

/* The sequence number at the end of a recipe node's name, or -1. */
static int64_t ctl_seq(const char *name)
{
    const char *dash = strrchr(name, '-');
    if (dash == NULL || dash[1] == '\0')
        return -1;
    char *end;
    long long v = strtoll(dash + 1, &end, 10);
    return *end == '\0' && v >= 0 ? v : -1;
}

/* ---- holding: lock and elect ---------------------------------------- */

/* A hold is ours while a node with czxid == token is under path. The
 * watch on path's children says when to look again. */
struct ctl_hold {
    struct coord_client *c;
    const char *path;
    uint64_t token;
    atomic_int changed;
    bool was_down; /* main thread only */
};

static void ctl_hold_fired(void *data, const struct coord_event *ev)
{
    struct ctl_hold *h = data;
    (void)ev;
    atomic_store(&h->changed, 1);
    ctl_supervise_wake();
}

static bool ctl_hold_lost(void *data)
{
    struct ctl_hold *h = data;
    int st = ctl_session_state();
    if (st != COORD_STATE_CONNECTED && st != COORD_STATE_RECONNECTED) {
        h->was_down = true; /* look once reconnected (the state hook
                               wakes us); supervise.c judges a long
                               disconnection */
        return false;
    }
    if (h->was_down) /* events may have been missed meanwhile */
        atomic_store(&h->changed, 1);
    h->was_down = false;
    if (!atomic_exchange(&h->changed, 0))
        return false;
    struct coord_watcher w = {ctl_hold_fired, h};
    struct coord_child_list l;
    int rc = coord_children_all(h->c, h->path, COORD_READ_STATS, &w, &l);
    if (rc == COORD_ENONODE)
        return true;
    if (rc != 0) { /* reconnecting: the state hook wakes us again */
        atomic_store(&h->changed, 1);
        return false;
    }
    bool found = false;
    for (size_t i = 0; i < l.n && !found; i++)
        found = l.stats[i].czxid == h->token;
    coord_child_list_free(&l);
    return !found;
}

/* Sets the environment variable name to v in decimal. */
static void ctl_setenv_u64(const char *name, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    setenv(name, buf, 1);
}

/* Static: the child watch's callback may still fire (on the I/O thread)
 * after the command ended, e.g. when our release deletes the node. */
static struct ctl_hold ctl_hold_state;

static int ctl_run_held(struct ctl *x, const char *path, uint64_t token,
                        char **cmd, const char *what)
{
    struct ctl_hold *h = &ctl_hold_state;
    h->c = x->c;
    h->path = path;
    h->token = token;
    atomic_store(&h->changed, 1); /* first look sets the watch */
    if (ctl_hold_lost(h)) {
        fprintf(stderr, "coordctl: %s lost before the command started\n",
                what);
        return CTL_EXIT_LOCK_LOST;
    }
    return ctl_supervise(x, cmd, what, ctl_hold_lost, h);
}

static int ctl_not_acquired(struct ctl *x, const char *what, int rc)
{
    if (rc == COORD_EBUSY) {
        fprintf(stderr, "coordctl: %s is held by another session; wait "
                "for it without --try, or see 'coordctl locks'\n", what);
        return CTL_EXIT_NOT_ACQUIRED;
    }
    if (rc == COORD_ETIMEDOUT && x->timeout_given &&
        ctl_session_state() != COORD_STATE_CONNECTING) {
        fprintf(stderr, "coordctl: %s: not acquired within %" PRIu32
                " ms; raise --timeout\n", what, x->timeout_ms);
        return CTL_EXIT_NOT_ACQUIRED;
    }
    return ctl_fail(x, what, rc);
}

int ctl_cmd_lock(struct ctl *x)
{
    char path[CTL_RPATH_MAX], what[CTL_RPATH_MAX + 8];
    int rc = ctl_recipe_path(CTL_LOCKS_DIR, x->argv[0], path, sizeof(path));
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "lock %s", path);
    struct coord_lock *l = NULL;
    if ((rc = coord_lock_new(&l, x->c, path)) != 0)
        return ctl_fail(x, path, rc);
    uint64_t token = 0;
    rc = (x->flags & CTL_F_TRY) ? coord_lock_try(l, &token)
                                : coord_lock_acquire(l, ctl_wait_ms(x),
                                                     &token);
    if (rc != 0) {
        coord_lock_free(l);
        return ctl_not_acquired(x, what, rc);
    }
    if (x->verbose)
        fprintf(stderr, "coordctl: %s acquired, token %" PRIu64 "\n",
                what, token);
    ctl_setenv_u64("COORD_LOCK_TOKEN", token);
    setenv("COORD_LOCK_PATH", path, 1);
    rc = ctl_run_held(x, path, token, x->argv + 1, what);
    coord_lock_free(l); /* releases it (a no-op when lost) */
    return rc;
}

int ctl_cmd_elect(struct ctl *x)
{
    char path[CTL_RPATH_MAX], what[CTL_RPATH_MAX + 16];
    int rc = ctl_recipe_path(CTL_ELECTIONS_DIR, x->argv[0], path,
                             sizeof(path));
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "leadership of %s", path);
    struct coord_election *e = NULL;
    if ((rc = coord_election_new(&e, x->c, path)) != 0)
        return ctl_fail(x, path, rc);
    uint64_t term = 0;
    rc = coord_election_campaign(e, x->argv[1], strlen(x->argv[1]),
                                 ctl_wait_ms(x), &term, NULL, NULL);
    if (rc != 0) {
        coord_election_free(e);
        return ctl_not_acquired(x, what, rc);
    }
    if (x->verbose)
        fprintf(stderr, "coordctl: elected in %s, term %" PRIu64 "\n",
                path, term);
    ctl_setenv_u64("COORD_LEADER_TERM", term);
    setenv("COORD_ELECTION_PATH", path, 1);
    rc = ctl_run_held(x, path, term, x->argv + 2, what);
    coord_election_free(e); /* resigns */
    return rc;
}

/* ---- views: locks and elections --------------------------------------- */

/* One recipe directory's queue: entries with prefix, sorted by sequence. */
struct ctl_queue {
    size_t n;
    size_t idx[1024];   /* into l, by sequence */
    struct coord_child_list l;
};

static int ctl_queue_read(struct ctl *x, const char *path,
                          const char *prefix, struct ctl_queue *q)
{
    int rc = coord_children_all(x->c, path, COORD_READ_STATS, NULL, &q->l);
    if (rc != 0)
        return rc;
    size_t pl = strlen(prefix);
    q->n = 0;
    for (size_t i = 0; i < q->l.n && q->n < 1024; i++) {
        const char *nm = q->l.names[i];
        if (strncmp(nm, prefix, pl) != 0 || nm[pl] != '-' || ctl_seq(nm) < 0)
            continue;
        size_t k = q->n++;
        while (k > 0 && ctl_seq(q->l.names[q->idx[k - 1]]) > ctl_seq(nm)) {
            q->idx[k] = q->idx[k - 1];
            k--;
        }
        q->idx[k] = i;
    }
    return 0;
}

/* A candidate's value (its node's data; "" if gone or unreadable), cut
 * to cap - 1 bytes. */
static void ctl_value(struct ctl *x, const char *dir, const char *name,
                      char *out, size_t cap)
{
    char path[CTL_RPATH_MAX];
    void *v = NULL;
    size_t n = 0;
    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (coord_get(x->c, path, 0, NULL, &v, &n, NULL) != 0)
        return;
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), (char *)v);
    coord_free_mem(v);
}

/* One line (or object) per queue entry; elections add the value. */
static void ctl_queue_entry(struct ctl *x, const char *path,
                            const char *name, const struct coord_stat *st,
                            size_t pos, const char *kind)
{
    bool lock = kind[0] == 'l';
    const char *role = pos == 0 ? (lock ? "holder" : "leader")
                                : (lock ? "waiter" : "candidate");
    char value[256] = "";
    if (!lock)
        ctl_value(x, path, name, value, sizeof(value));
    if (x->json) {
        printf("{\"path\":");
        ctl_json_str(stdout, path, strlen(path));
        printf(",\"node\":");
        ctl_json_str(stdout, name, strlen(name));
        printf(",\"role\":\"%s\",\"position\":%zu,\"session\":\"0x%016"
               PRIx64 "\",\"%s\":%" PRIu64, role, pos, st->ephemeral_owner,
               lock ? "token" : "term", st->czxid);
        if (!lock) {
            printf(",\"value\":");
            ctl_json_str(stdout, value, strlen(value));
        }
        printf("}\n");
    } else {
        printf("%-9s %3zu  0x%016" PRIx64 "  %-12" PRIu64 " %s%s%s\n", role,
               pos, st->ephemeral_owner, st->czxid, name, lock ? "" : "  ",
               value);
    }
}

static int ctl_queue_show(struct ctl *x, const char *path, const char *kind)
{
    struct ctl_queue *q = &(struct ctl_queue){0};
    int rc = ctl_queue_read(x, path, kind[0] == 'l' ? "lock" : "n", q);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (!x->json)
        printf("ROLE      POS  SESSION             %-12s NODE%s\n",
               kind[0] == 'l' ? "TOKEN" : "TERM",
               kind[0] == 'l' ? "" : "  VALUE");
    for (size_t i = 0; i < q->n; i++)
        ctl_queue_entry(x, path, q->l.names[q->idx[i]],
                        &q->l.stats[q->idx[i]], i, kind);
    coord_child_list_free(&q->l);
    return CTL_EXIT_OK;
}

/* The summary line of one lock or election directory. */
/* One summary line (or object) of a lock or an election. */
struct ctl_sum {
    const char *name, *path;
    size_t n;        /* queue length */
    uint64_t owner;  /* holder's or leader's session */
    uint64_t token;  /* its czxid */
    char value[256]; /* elections: the leader's value */
};

static void ctl_summary_print(const struct ctl *x, const struct ctl_sum *m,
                              bool lock)
{
    size_t count = lock && m->n ? m->n - 1 : m->n;
    if (x->json) {
        printf("{\"name\":");
        ctl_json_str(stdout, m->name, strlen(m->name));
        printf(",\"path\":");
        ctl_json_str(stdout, m->path, strlen(m->path));
        printf(",\"%s\":%s,\"session\":\"0x%016" PRIx64 "\",\"%s\":%"
               PRIu64 ",\"%s\":%zu", lock ? "held" : "has_leader",
               m->n ? "true" : "false", m->owner, lock ? "token" : "term",
               m->token, lock ? "waiters" : "candidates", count);
        if (!lock) {
            printf(",\"value\":");
            ctl_json_str(stdout, m->value, strlen(m->value));
        }
        printf("}\n");
    } else if (m->n == 0) {
        printf("%-24s %s\n", m->name, lock ? "free" : "no leader");
    } else {
        printf("%-24s 0x%016" PRIx64 "  %-12" PRIu64 " %-10zu %s\n",
               m->name, m->owner, m->token, count, m->value);
    }
}

/* The summary of one lock or election directory. */
static int ctl_summary(struct ctl *x, const char *dir, const char *name,
                       const char *kind)
{
    char path[CTL_RPATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    static struct ctl_queue q;
    bool lock = kind[0] == 'l';
    int rc = ctl_queue_read(x, path, lock ? "lock" : "n", &q);
    if (rc == COORD_ENONODE)
        return 0; /* deleted meanwhile */
    if (rc != 0)
        return rc;
    struct ctl_sum m = {.name = name, .path = path, .n = q.n};
    if (q.n) {
        m.owner = q.l.stats[q.idx[0]].ephemeral_owner;
        m.token = q.l.stats[q.idx[0]].czxid;
        if (!lock)
            ctl_value(x, path, q.l.names[q.idx[0]], m.value,
                      sizeof(m.value));
    }
    ctl_summary_print(x, &m, lock);
    coord_child_list_free(&q.l);
    return 0;
}

static int ctl_view(struct ctl *x, const char *dir, const char *kind)
{
    char path[CTL_RPATH_MAX];
    if (x->argc == 1) {
        int rc = ctl_recipe_path(dir, x->argv[0], path, sizeof(path));
        return rc != 0 ? rc : ctl_queue_show(x, path, kind);
    }
    struct coord_child_list l;
    int rc = coord_children_all(x->c, dir, 0, NULL, &l);
    if (rc == COORD_ENONODE)
        return CTL_EXIT_OK; /* none yet */
    if (rc != 0)
        return ctl_fail(x, dir, rc);
    if (!x->json)
        printf("%-24s %-18s  %-12s %-10s %s\n", "NAME",
               kind[0] == 'l' ? "HOLDER" : "LEADER",
               kind[0] == 'l' ? "TOKEN" : "TERM",
               kind[0] == 'l' ? "WAITERS" : "CANDIDATES",
               kind[0] == 'l' ? "" : "VALUE");
    for (size_t i = 0; i < l.n && rc == 0; i++)
        rc = ctl_summary(x, dir, l.names[i], kind);
    coord_child_list_free(&l);
    return rc != 0 ? ctl_fail(x, dir, rc) : CTL_EXIT_OK;
}

int ctl_cmd_locks(struct ctl *x)
{
    return ctl_view(x, CTL_LOCKS_DIR, "locks");
}

int ctl_cmd_elections(struct ctl *x)
{
    return ctl_view(x, CTL_ELECTIONS_DIR, "elections");
}

/* ---- barrier ------------------------------------------------------------ */

static int ctl_barrier_done(struct ctl *x, const char *verb,
                            const char *path, int rc)
{
    if (rc == COORD_ETIMEDOUT && x->timeout_given &&
        ctl_session_state() != COORD_STATE_CONNECTING) {
        fprintf(stderr, "coordctl: barrier %s %s: still waiting after %"
                PRIu32 " ms; raise --timeout\n", verb, path, x->timeout_ms);
        return CTL_EXIT_NOT_ACQUIRED;
    }
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (x->json) {
        printf("{\"barrier\":\"%s\",\"path\":", verb);
        ctl_json_str(stdout, path, strlen(path));
        printf(",\"ok\":true}\n");
    }
    return CTL_EXIT_OK;
}

/* enter PATH N / leave PATH [N]. */
static int ctl_dbarrier(struct ctl *x, const char *verb, const char *path)
{
    char name[300];
    if (x->name != NULL) {
        snprintf(name, sizeof(name), "%s", x->name);
    } else {
        char host[256] = "host";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(name, sizeof(name), "%s-%ld", host, (long)getpid());
    }
    long n = 0;
    if (strcmp(verb, "enter") == 0) {
        if (x->argc != 3 || !ctl_parse_long(x->argv[2], 1, 100000, &n))
            return ctl_usage_error("barrier enter PATH N: N is the number "
                                   "of participants (1..100000)");
        return ctl_barrier_done(x, verb, path,
                                coord_dbarrier_enter(x->c, path, name,
                                                     (int)n,
                                                     ctl_wait_ms(x)));
    }
    return ctl_barrier_done(x, verb, path,
                            coord_dbarrier_leave(x->c, path, name,
                                                 ctl_wait_ms(x)));
}

int ctl_cmd_barrier(struct ctl *x)
{
    const char *verb = x->argv[0], *path = x->argv[1];
    if (strcmp(verb, "enter") == 0 || strcmp(verb, "leave") == 0)
        return ctl_dbarrier(x, verb, path);
    if (x->argc != 2)
        return ctl_usage_error("barrier %s takes one PATH", verb);
    int rc;
    if (strcmp(verb, "set") == 0)
        rc = coord_barrier_set(x->c, path);
    else if (strcmp(verb, "remove") == 0)
        rc = coord_barrier_remove(x->c, path);
    else if (strcmp(verb, "wait") == 0)
        rc = coord_barrier_wait(x->c, path, ctl_wait_ms(x));
    else
        return ctl_usage_error("barrier wants set, remove, wait, enter or "
                               "leave, not '%s'", verb);
    return ctl_barrier_done(x, verb, path, rc);
}
