/* checks.c -- what the fault runner checks once the cluster is healed and
 * quiet: the register history is linearizable (test/fault/checker, per
 * key, with a final linearizable read of every key added to it); no
 * acknowledged write is lost (each key's final read is at least the
 * highest acknowledged version, with its value); ephemeral nodes exist iff
 * their owner's session is alive; every replica holds the same tree (a
 * local walk of each node after a sync, hashed) at the same applied index,
 * with no digest mismatch reported; the lock recipe's fencing tokens never
 * repeat and order the holds and the fenced writes.
 *
 * How it fits: main.c calls fr_checks after fr_heal_all and the workload
 * stop. Each check prints "check NAME: PASS|FAIL ..." through fr_check.
 *
 * What it must not do: pass a check it could not make (no answer from the
 * cluster is a failure, not a skip).
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcoord/shared/alloc.h"
#include "runner.h"

/* ---- history ------------------------------------------------------------ */

static struct fr_opvec finals; /* the final reads */

static const char *f_name(int f)
{
    static const char *n[] = {"?", "read", "write", "cas", "create",
                              "delete"};
    return f >= 1 && f <= 5 ? n[f] : "?";
}

static void write_op(FILE *f, const struct fr_op *op)
{
    fprintf(f, "%" PRId64 " %u invoke %s %s", op->invoke_ns, op->process,
            f_name(op->f), op->key);
    if (op->f == LINCHECK_CAS)
        fprintf(f, " %" PRId64, op->expected);
    if (op->f != LINCHECK_READ)
        fprintf(f, " %s", op->value);
    fputc('\n', f);
    if (op->status == LINCHECK_INFO) {
        fprintf(f, "# %u indeterminate\n", op->process);
        return; /* pending at the end = indeterminate */
    }
    fprintf(f, "%" PRId64 " %u %s", op->complete_ns, op->process,
            op->status == LINCHECK_OK ? "ok" : "fail");
    if (op->status == LINCHECK_OK) {
        if (op->result == LINCHECK_R_NOTFOUND)
            fputs(" notfound", f);
        else if (op->result == LINCHECK_R_NONODE)
            fputs(" nonode", f);
        else if (op->result == LINCHECK_R_BADVERSION)
            fputs(" badversion", f);
        else if (op->result == LINCHECK_R_EXISTS)
            fputs(" exists", f);
        else if (op->f == LINCHECK_READ)
            fprintf(f, " %s %" PRId64, op->value, op->version);
        else
            fprintf(f, " %" PRId64, op->version);
    }
    fputc('\n', f);
}

int fr_write_history(struct fr_run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "# coord fault runner history, seed %llu (lincheck format)\n",
            (unsigned long long)r->o.seed);
    for (int i = 0; i < r->o.workers; i++)
        for (size_t k = 0; k < r->w[i].ops.n; k++)
            write_op(f, &r->w[i].ops.v[k]);
    fprintf(f, "# final reads\n");
    for (size_t k = 0; k < finals.n; k++)
        write_op(f, &finals.v[k]);
    return fclose(f);
}

static int add_op(struct lincheck_history *h, const struct fr_op *op)
{
    struct lincheck_op lo = {
        .process = op->process,
        .f = op->f,
        .status = op->status,
        .key = op->key,
        .value = op->value,
        .expected_version = op->expected,
        .result = op->result,
        .version = op->version,
        .invoke_ns = op->invoke_ns,
        .complete_ns = op->complete_ns,
    };
    char err[256];
    int rc = lincheck_history_add(h, &lo, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "runner: history op rejected: %s\n", err);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Distinct keys of the history, sorted (pointers into the ops). */
static char **history_keys(struct fr_run *r, size_t *n_out)
{
    size_t total = 0;
    for (int i = 0; i < r->o.workers; i++)
        total += r->w[i].ops.n;
    char **keys = coord_malloc((total + 1) * sizeof(*keys));
    if (!keys)
        abort();
    size_t n = 0;
    for (int i = 0; i < r->o.workers; i++)
        for (size_t k = 0; k < r->w[i].ops.n; k++)
            keys[n++] = r->w[i].ops.v[k].key;
    qsort(keys, n, sizeof(*keys), cmp_str);
    size_t u = 0;
    for (size_t k = 0; k < n; k++)
        if (u == 0 || strcmp(keys[u - 1], keys[k]) != 0)
            keys[u++] = keys[k];
    *n_out = u;
    return keys;
}

/* A final linearizable read of every key, retried until it answers. */
static int final_reads(struct fr_run *r, char **keys, size_t n)
{
    struct coord_client *c = fr_client_to(r->cl.servers, 3000, 10000);
    int failed = 0;
    for (size_t k = 0; k < n; k++) {
        struct fr_op op = {.process = 9000000 + (uint32_t)k,
                           .f = LINCHECK_READ};
        snprintf(op.key, sizeof(op.key), "%s", keys[k]);
        int64_t deadline = tproc_now_ms() + 30000;
        int rc;
        do {
            struct coord_stat st;
            void *v = NULL;
            size_t len = 0;
            op.invoke_ns = fr_now_ns() - r->t0_ns;
            rc = coord_get(c, op.key, 0, NULL, &v, &len, &st);
            op.complete_ns = fr_now_ns() - r->t0_ns;
            op.status = LINCHECK_OK;
            op.version = LINCHECK_VERSION_UNKNOWN;
            if (rc == 0) {
                op.result = LINCHECK_R_DONE;
                op.version = st.version;
                snprintf(op.value, sizeof(op.value), "%.*s", (int)len,
                         (const char *)v);
            } else if (rc == COORD_ENONODE) {
                op.result = LINCHECK_R_NOTFOUND;
            }
            coord_free_mem(v);
        } while (rc != 0 && rc != COORD_ENONODE &&
                 tproc_now_ms() < deadline && (poll(NULL, 0, 100), 1));
        if (rc != 0 && rc != COORD_ENONODE) {
            failed++;
            continue;
        }
        if (finals.n == finals.cap) {
            finals.cap = finals.cap ? finals.cap * 2 : 64;
            finals.v = coord_realloc(finals.v, finals.cap * sizeof(*finals.v));
            if (!finals.v)
                abort();
        }
        finals.v[finals.n++] = op;
    }
    coord_close(c);
    return failed;
}

/* Every acknowledged set/create is at or below its key's final version;
 * the acknowledged write of the final version carries the final value. */
static void check_lost_writes(struct fr_run *r)
{
    size_t lost = 0, acked = 0;
    char first[200] = "";
    for (size_t k = 0; k < finals.n; k++) {
        const struct fr_op *fin = &finals.v[k];
        int64_t fv = fin->result == LINCHECK_R_DONE ? fin->version : -1;
        for (int i = 0; i < r->o.workers; i++)
            for (size_t j = 0; j < r->w[i].ops.n; j++) {
                const struct fr_op *op = &r->w[i].ops.v[j];
                if (op->f == LINCHECK_READ || op->status != LINCHECK_OK ||
                    op->result != LINCHECK_R_DONE ||
                    strcmp(op->key, fin->key) != 0)
                    continue;
                acked++;
                bool bad = op->version > fv ||
                           (op->version == fv &&
                            strcmp(op->value, fin->value) != 0);
                if (bad && lost++ == 0)
                    snprintf(first, sizeof(first),
                             "%s: p%u %s %s acked at version %" PRId64
                             ", final read %s@%" PRId64,
                             op->key, op->process, f_name(op->f), op->value,
                             op->version, fin->value, fv);
            }
    }
    fr_check(r, "no-lost-writes", lost == 0 && finals.n > 0,
             "%zu acknowledged writes over %zu keys, %zu lost%s%s", acked,
             finals.n, lost, lost ? "; first: " : "", first);
}

static void check_linearizable(struct fr_run *r, const char *report_path)
{
    struct lincheck_history *h = lincheck_history_new();
    if (!h)
        abort();
    size_t ops = 0, info = 0;
    int bad = 0;
    for (int i = 0; i < r->o.workers; i++)
        for (size_t k = 0; k < r->w[i].ops.n; k++) {
            bad |= add_op(h, &r->w[i].ops.v[k]) != 0;
            ops++;
            info += r->w[i].ops.v[k].status == LINCHECK_INFO;
        }
    for (size_t k = 0; k < finals.n; k++)
        bad |= add_op(h, &finals.v[k]) != 0;
    struct lincheck_report rep;
    int64_t t = fr_now_ns();
    if (lincheck_check(h, NULL, &rep) != 0)
        abort();
    double secs = (double)(fr_now_ns() - t) / 1e9;
    FILE *f = fopen(report_path, "w");
    if (f) {
        lincheck_report_print(&rep, f);
        fclose(f);
    }
    if (rep.verdict != LINCHECK_LINEARIZABLE)
        for (size_t k = 0; k < rep.n_keys; k++)
            if (rep.keys[k].verdict != LINCHECK_LINEARIZABLE)
                printf("  %s: %s\n%s", rep.keys[k].key,
                       lincheck_verdict_name(rep.keys[k].verdict),
                       rep.keys[k].explain ? rep.keys[k].explain : "");
    fr_check(r, "linearizable", !bad && rep.verdict == LINCHECK_LINEARIZABLE,
             "%s: %zu ops (%zu indeterminate) + %zu final reads, %zu keys, "
             "checked in %.2f s", lincheck_verdict_name(rep.verdict), ops,
             info, finals.n, rep.n_keys, secs);
    lincheck_report_free(&rep);
    lincheck_history_free(h);
}

/* ---- ephemerals --------------------------------------------------------- */

static int eph_exists(struct coord_client *c, const char *path,
                      uint64_t *owner)
{
    struct coord_stat st;
    int64_t deadline = tproc_now_ms() + 20000;
    int rc;
    do
        rc = coord_exists(c, path, 0, NULL, &st);
    while (rc != 0 && rc != COORD_ENONODE && tproc_now_ms() < deadline &&
           (poll(NULL, 0, 100), 1));
    *owner = rc == 0 ? st.ephemeral_owner : 0;
    return rc;
}

static int ask_child(struct fr_eph *e, char *ans, size_t cap)
{
    if (write(e->to_child, "check\n", 6) != 6)
        return -1;
    size_t n = 0;
    int64_t deadline = tproc_now_ms() + 30000;
    while (n + 1 < cap && tproc_now_ms() < deadline) {
        struct pollfd pfd = {.fd = e->from_child, .events = POLLIN};
        if (poll(&pfd, 1, 1000) <= 0)
            continue;
        if (read(e->from_child, ans + n, 1) != 1)
            return -1;
        if (ans[n] == '\n') {
            ans[n] = '\0';
            return 0;
        }
        n++;
    }
    return -1;
}

static void check_ephemerals(struct fr_run *r)
{
    if (r->o.eph == 0)
        return;
    struct coord_client *c = fr_client_to(r->cl.servers, 3000, 10000);
    int bad = 0, live = 0, dead = 0, expired = 0;
    char first[200] = "";
    for (int i = 0; i < r->o.eph; i++) {
        struct fr_eph *e = &r->eph[i];
        uint64_t owner = 0;
        int rc;
        const char *why = NULL;
        if (e->killed) {
            /* session timeout + expiry ticks + an election or two */
            int64_t deadline = tproc_now_ms() + FR_EPH_SESSION_MS + 20000;
            while ((rc = eph_exists(c, e->path, &owner)) == 0 &&
                   tproc_now_ms() < deadline)
                poll(NULL, 0, 200);
            dead++;
            if (rc != COORD_ENONODE)
                why = rc == 0 ? "ephemeral of a killed client never expired"
                              : "no answer from the cluster";
        } else {
            char ans[64] = "";
            if (ask_child(e, ans, sizeof(ans)) != 0 ||
                strcmp(ans, "unknown") == 0) {
                why = "live owner could not reach the cluster";
            } else if (strcmp(ans, "alive") == 0) {
                live++;
                rc = eph_exists(c, e->path, &owner);
                if (rc != 0 || owner != e->session)
                    why = "session alive but its ephemeral is missing";
            } else {
                /* Clients reach every node (only links between nodes are
                 * cut) and a new leader restarts every session's clock:
                 * a live, pinging owner must never expire. */
                expired++;
                why = "the session of a live, pinging owner expired";
                int64_t deadline = tproc_now_ms() + 10000;
                while ((rc = eph_exists(c, e->path, &owner)) == 0 &&
                       tproc_now_ms() < deadline)
                    poll(NULL, 0, 200);
                if (rc != COORD_ENONODE)
                    why = "session expired and its ephemeral remains";
            }
        }
        if (why && bad++ == 0)
            snprintf(first, sizeof(first), "%s (session %llu): %s", e->path,
                     (unsigned long long)e->session, why);
    }
    coord_close(c);
    fr_check(r, "ephemerals", bad == 0,
             "%d owners alive, %d killed, %d expired while alive; %d wrong%s%s",
             live, dead, expired, bad, bad ? ": " : "", first);
}

/* ---- convergence --------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Hashes the subtree at path from this node's local state. */
static int walk(struct coord_client *c, const char *path, uint64_t *h,
                size_t *count)
{
    struct coord_child_list l = {0};
    int rc = coord_children_all(c, path, COORD_READ_LOCAL, NULL, &l);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        char child[512];
        snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") ? path : "",
                 l.names[i]);
        void *v = NULL;
        size_t len = 0;
        struct coord_stat st;
        rc = coord_get(c, child, COORD_READ_LOCAL, NULL, &v, &len, &st);
        if (rc == 0) {
            *h = fnv(*h, child, strlen(child) + 1);
            *h = fnv(*h, v, len);
            uint64_t f[] = {st.czxid, st.mzxid, st.pzxid,
                            (uint64_t)st.version, (uint64_t)st.cversion,
                            st.ephemeral_owner, st.num_children};
            *h = fnv(*h, f, sizeof(f));
            (*count)++;
            rc = walk(c, child, h, count);
        }
        coord_free_mem(v);
    }
    coord_child_list_free(&l);
    return rc;
}

static void check_convergence(struct fr_run *r)
{
    int n = r->cl.n;
    uint64_t hash[FR_NODES_MAX], applied[FR_NODES_MAX], mism = 0;
    size_t count[FR_NODES_MAX];
    bool same = false, answered = false;
    char detail[300] = "";
    int64_t deadline = tproc_now_ms() + 40000;
    while (!same && tproc_now_ms() < deadline) {
        answered = true;
        mism = 0;
        for (int i = 0; i < n; i++) {
            char a[64];
            snprintf(a, sizeof(a), "%s:%u", r->cl.node[i].p.host,
                     r->cl.node[i].p.port);
            struct coord_client *c = fr_client_to(a, 5000, 10000);
            struct coord_status st = {0};
            hash[i] = 1469598103934665603ull;
            count[i] = 0;
            int rc = c ? coord_sync(c, "/") : COORD_ENOMEM;
            if (rc == 0)
                rc = walk(c, "/", &hash[i], &count[i]);
            if (rc == 0)
                rc = coord_status(c, &st);
            applied[i] = st.applied;
            mism += st.digest_mismatches;
            if (c)
                coord_close(c);
            if (rc != 0)
                answered = false;
        }
        same = answered;
        for (int i = 1; i < n; i++)
            same = same && hash[i] == hash[0] && count[i] == count[0];
        if (!same)
            poll(NULL, 0, 500);
    }
    size_t o = 0;
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(detail + o, sizeof(detail) - o,
                              "%snode%d %zu nodes %016llx applied %llu",
                              i ? "; " : "", i + 1, count[i],
                              (unsigned long long)hash[i],
                              (unsigned long long)applied[i]);
    fr_check(r, "convergence", same && answered, "%s", detail);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "cat '%s'/node*.log 2>/dev/null | grep -q 'REPLICA DIVERGENCE'",
             r->tmp_dir);
    int grep_rc = system(cmd);
    bool div_in_logs = false;
    for (int i = 0; i < n; i++)
        div_in_logs |= tproc_log_has(&r->cl.node[i].p, "REPLICA DIVERGENCE");
    div_in_logs |= grep_rc == 0;
    fr_check(r, "digests", mism == 0 && !div_in_logs,
             "%llu digest mismatches reported by STATUS; REPLICA DIVERGENCE "
             "in logs: %s", (unsigned long long)mism,
             div_in_logs ? "yes" : "no");
}

/* ---- locks -------------------------------------------------------------- */

static int cmp_fenced(const void *a, const void *b)
{
    const struct fr_hold *x = *(const struct fr_hold *const *)a;
    const struct fr_hold *y = *(const struct fr_hold *const *)b;
    return x->fenced_version < y->fenced_version ? -1
         : x->fenced_version > y->fenced_version;
}

static void check_locks(struct fr_run *r)
{
    if (r->o.lockers == 0)
        return;
    size_t n = 0, errors = 0;
    for (int i = 0; i < r->o.lockers; i++) {
        n += r->lk[i].holds.n;
        errors += r->lk[i].errors;
    }
    const struct fr_hold **all = coord_malloc((n + 1) * sizeof(*all));
    if (!all)
        abort();
    size_t k = 0;
    char first[300] = "";
    size_t bad = 0;
    for (int i = 0; i < r->o.lockers; i++)
        for (size_t j = 0; j < r->lk[i].holds.n; j++) {
            const struct fr_hold *h = &r->lk[i].holds.v[j];
            if (j > 0 && h->token <= r->lk[i].holds.v[j - 1].token &&
                bad++ == 0)
                snprintf(first, sizeof(first),
                         "locker %d: token %llu after %llu", i + 1,
                         (unsigned long long)h->token,
                         (unsigned long long)r->lk[i].holds.v[j - 1].token);
            all[k++] = h;
        }
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++) {
            const struct fr_hold *x = all[a], *y = all[b];
            bool repeat = a < b && x->token == y->token;
            bool order = x->rel_done_ns > 0 &&
                         x->rel_done_ns < y->acq_invoke_ns &&
                         x->token >= y->token;
            if ((repeat || order) && bad++ == 0)
                snprintf(first, sizeof(first),
                         "%s: token %llu (locker %d) and %llu (locker %d)",
                         repeat ? "repeated token" : "released hold's token "
                                                     "not below a later one",
                         (unsigned long long)x->token, x->locker,
                         (unsigned long long)y->token, y->locker);
        }
    size_t nf = 0;
    for (size_t a = 0; a < n; a++)
        if (all[a]->fenced_rc == 0)
            all[nf++] = all[a];
    qsort(all, nf, sizeof(*all), cmp_fenced);
    for (size_t a = 1; a < nf; a++)
        if ((all[a]->fenced_version == all[a - 1]->fenced_version ||
             all[a]->token <= all[a - 1]->token) &&
            bad++ == 0)
            snprintf(first, sizeof(first),
                     "fenced writes out of token order: version %lld token "
                     "%llu after version %lld token %llu",
                     (long long)all[a]->fenced_version,
                     (unsigned long long)all[a]->token,
                     (long long)all[a - 1]->fenced_version,
                     (unsigned long long)all[a - 1]->token);
    coord_free(all);
    fr_check(r, "lock-fencing", bad == 0 && n > 0,
             "%zu holds, %zu fenced writes accepted, %zu acquire errors; %zu "
             "violations%s%s", n, nf, errors, bad, bad ? ": " : "", first);
}

void fr_checks(struct fr_run *r, const char *report_path)
{
    size_t nkeys = 0;
    char **keys = history_keys(r, &nkeys);
    int unread = final_reads(r, keys, nkeys);
    fr_check(r, "final-reads", unread == 0 && nkeys > 0,
             "%zu keys read after the heal, %d without an answer", nkeys,
             unread);
    check_linearizable(r, report_path);
    check_lost_writes(r);
    coord_free(keys);
    check_ephemerals(r);
    check_locks(r);
    check_convergence(r);
    if (r->partitions)
        fr_check(r, "partitions-cut", r->partitions_idle == 0,
                 "%d partitions, %d dropped no packet (iptables counters)",
                 r->partitions, r->partitions_idle);
    fr_reap_crashed(r);
    int down = 0;
    for (int i = 0; i < r->cl.n; i++)
        down += r->cl.node[i].p.pid <= 0;
    fr_check(r, "no-crashes", r->crashes == 0 && down == 0,
             "%d coordd exits not caused by the nemesis, %d nodes down at "
             "the end", r->crashes, down);
}
