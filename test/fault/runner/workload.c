/* workload.c -- the fault runner's clients: register threads doing random
 * read / write / cas / create on a few rotating keys and recording every
 * operation for the checker; lock threads contending for one coord_lock and
 * making a fenced write per hold; ephemeral-owning child processes (this
 * same binary with --eph-child) that the nemesis may kill -9.
 *
 * How it fits: main.c starts and stops the threads; checks.c reads what
 * they recorded. Each thread has its own coord_client whose server list
 * names every node (rotated so the threads spread over the nodes).
 *
 * What it must not do: record an outcome it did not see. Anything that
 * may have reached a leader and did not come back definite is "info"
 * (indeterminate); a process whose operation ended "info" is retired and
 * the thread continues under a new process id (Jepsen's rule).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord_recipes.h"
#include "libcoord/shared/alloc.h"
#include "runner.h"

#define FR_SESSION_MS 8000
#define FR_REQUEST_MS 3000

static void push_op(struct fr_opvec *v, const struct fr_op *op)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        v->v = coord_realloc(v->v, v->cap * sizeof(*v->v));
        if (!v->v)
            abort();
    }
    v->v[v->n++] = *op;
}

static void push_hold(struct fr_holdvec *v, const struct fr_hold *h)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->v = coord_realloc(v->v, v->cap * sizeof(*v->v));
        if (!v->v)
            abort();
    }
    v->v[v->n++] = *h;
}

/* The server list rotated to start at node k. */
static void rotated_servers(struct fr_run *r, int k, char *out, size_t cap)
{
    size_t o = 0;
    for (int j = 0; j < r->cl.n; j++) {
        struct tproc *p = &r->cl.node[(k + j) % r->cl.n].p;
        o += (size_t)snprintf(out + o, cap - o, "%s%s:%u", j ? "," : "",
                              p->host, p->port);
    }
}

/* A write-like call's error: definite rejections carry information and
 * are "ok" results; everything else may have happened. */
static void classify_write(struct fr_op *op, int rc, const struct coord_stat *st)
{
    op->status = LINCHECK_OK;
    op->version = LINCHECK_VERSION_UNKNOWN;
    if (rc == 0) {
        op->result = LINCHECK_R_DONE;
        op->version = op->f == LINCHECK_CREATE ? 0 : st->version;
    } else if (rc == COORD_ENONODE && op->f != LINCHECK_CREATE) {
        op->result = LINCHECK_R_NONODE;
    } else if (rc == COORD_EBADVERSION && op->f == LINCHECK_CAS) {
        op->result = LINCHECK_R_BADVERSION;
    } else if (rc == COORD_ENODEEXISTS && op->f == LINCHECK_CREATE) {
        op->result = LINCHECK_R_EXISTS;
    } else {
        op->status = LINCHECK_INFO;
    }
}

static void do_op(struct fr_worker *w, struct coord_client *c, struct fr_op *op,
                  int *rc_out)
{
    struct coord_stat st;
    memset(&st, 0, sizeof(st));
    int rc;
    op->invoke_ns = fr_now_ns() - w->run->t0_ns;
    if (op->f == LINCHECK_READ) {
        void *v = NULL;
        size_t len = 0;
        rc = coord_get(c, op->key, 0, NULL, &v, &len, &st);
        op->complete_ns = fr_now_ns() - w->run->t0_ns;
        op->status = LINCHECK_OK;
        if (rc == 0) {
            op->result = LINCHECK_R_DONE;
            snprintf(op->value, sizeof(op->value), "%.*s", (int)len,
                     (const char *)v);
            op->version = st.version;
        } else if (rc == COORD_ENONODE) {
            op->result = LINCHECK_R_NOTFOUND;
            op->version = LINCHECK_VERSION_UNKNOWN;
        } else {
            op->status = LINCHECK_FAIL; /* a read that failed changed nothing */
        }
        coord_free_mem(v);
    } else {
        size_t len = strlen(op->value);
        if (op->f == LINCHECK_CREATE)
            rc = coord_create(c, op->key, op->value, len, COORD_PERSISTENT, 0,
                              NULL, NULL);
        else
            rc = coord_set(c, op->key, op->value, len,
                           op->f == LINCHECK_CAS ? (int32_t)op->expected : -1,
                           &st);
        op->complete_ns = fr_now_ns() - w->run->t0_ns;
        classify_write(op, rc, &st);
    }
    if (op->status == LINCHECK_INFO)
        op->complete_ns = LINCHECK_TIME_INF;
    *rc_out = rc;
}

static void *worker_main(void *arg)
{
    struct fr_worker *w = arg;
    struct fr_run *r = w->run;
    char servers[512];
    rotated_servers(r, w->id % r->cl.n, servers, sizeof(servers));
    struct coord_client *c =
        fr_client_to(servers, FR_REQUEST_MS, FR_SESSION_MS);
    uint32_t generation = 0, seq = 0;
    uint32_t process = (uint32_t)w->id * 100000;
    uint64_t cur_gen = UINT64_MAX;
    int64_t seen[16];
    while (!atomic_load(&r->stop_workers)) {
        uint64_t k = atomic_fetch_add(&r->ops_started, 1);
        uint64_t gen = k / (uint64_t)r->o.rotate_ops;
        if (gen != cur_gen) {
            cur_gen = gen;
            for (int i = 0; i < 16; i++)
                seen[i] = -1;
        }
        int ki = (int)fr_below(&w->rng, (uint64_t)r->o.keys);
        struct fr_op op;
        memset(&op, 0, sizeof(op));
        op.process = process;
        snprintf(op.key, sizeof(op.key), "/fault/g%llu-k%d",
                 (unsigned long long)gen, ki);
        snprintf(op.value, sizeof(op.value), "v%u-%u", process, seq++);
        uint64_t d = fr_below(&w->rng, 100);
        op.f = d < 40 ? LINCHECK_READ : d < 65 ? LINCHECK_WRITE
             : d < 92 ? LINCHECK_CAS : LINCHECK_CREATE;
        op.expected = seen[ki] >= 0 ? seen[ki] : (int64_t)fr_below(&w->rng, 3);
        int rc;
        do_op(w, c, &op, &rc);
        push_op(&w->ops, &op);
        if (op.status == LINCHECK_OK &&
            op.version != LINCHECK_VERSION_UNKNOWN)
            seen[ki] = op.version;
        if (op.status == LINCHECK_OK) {
            w->ok++;
            atomic_fetch_add(&r->ok_total, 1);
        }
        if (op.status == LINCHECK_INFO)
            w->info++;
        if (op.status == LINCHECK_FAIL)
            w->fail++;
        if (op.status == LINCHECK_INFO)
            process = (uint32_t)w->id * 100000 + ++generation;
        if (rc == COORD_ESESSIONEXPIRED || rc == COORD_ECLOSED ||
            coord_state(c) == COORD_STATE_EXPIRED) {
            w->expired++;
            coord_close(c);
            c = fr_client_to(servers, FR_REQUEST_MS, FR_SESSION_MS);
        }
        if (r->o.think_ms) /* a rate limit, not synchronisation */
            fr_sleep_ms((int64_t)fr_below(&w->rng, (uint64_t)r->o.think_ms + 1));
    }
    coord_close(c);
    return NULL;
}

/* ---- locks ------------------------------------------------------------ */

static int fenced_write(struct coord_client *c, struct coord_lock *l,
                        struct fr_hold *h)
{
    struct coord_multi *m = NULL;
    if (coord_multi_new(&m) != 0)
        abort();
    char v[32];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)h->token);
    int rc = coord_lock_check_op(l, m);
    if (rc == 0)
        rc = coord_multi_set(m, "/fault/fenced", v, strlen(v), -1);
    if (rc == 0)
        rc = coord_multi(c, m);
    const struct coord_op_result *res = coord_multi_result(m, 1);
    h->fenced_version = rc == 0 && res ? res->stat.version : -1;
    coord_multi_free(m);
    return rc;
}

static void *locker_main(void *arg)
{
    struct fr_locker *lk = arg;
    struct fr_run *r = lk->run;
    char servers[512];
    rotated_servers(r, lk->id + 1, servers, sizeof(servers));
    struct coord_client *c = fr_client_to(servers, FR_REQUEST_MS, 6000);
    struct coord_lock *l = NULL;
    if (coord_lock_new(&l, c, "/fault/lock") != 0)
        abort();
    while (!atomic_load(&r->stop_workers)) {
        struct fr_hold h = {.locker = lk->id, .fenced_version = -1};
        h.acq_invoke_ns = fr_now_ns() - r->t0_ns;
        int rc = coord_lock_acquire(l, 3000, &h.token);
        if (rc == 0) {
            h.acq_done_ns = fr_now_ns() - r->t0_ns;
            h.fenced_rc = fenced_write(c, l, &h);
            fr_sleep_ms((int64_t)fr_below(&lk->rng, 30)); /* the hold */
            if (coord_lock_release(l) == 0)
                h.rel_done_ns = fr_now_ns() - r->t0_ns;
            push_hold(&lk->holds, &h);
        } else {
            lk->errors++;
            if (rc == COORD_EBUSY)
                coord_lock_release(l);
        }
        if (coord_state(c) == COORD_STATE_EXPIRED ||
            coord_lock_state(l) == COORD_LOCK_LOST) {
            coord_lock_free(l);
            coord_close(c);
            c = fr_client_to(servers, FR_REQUEST_MS, 6000);
            if (coord_lock_new(&l, c, "/fault/lock") != 0)
                abort();
        }
    }
    coord_lock_free(l);
    coord_close(c);
    return NULL;
}

/* ---- setup, start, stop ----------------------------------------------- */

static int ensure_node(struct coord_client *c, const char *path,
                       const char *value)
{
    int64_t deadline = tproc_now_ms() + 30000;
    int rc;
    do {
        rc = coord_create(c, path, value, strlen(value), COORD_PERSISTENT, 0,
                          NULL, NULL);
        if (rc == 0 || rc == COORD_ENODEEXISTS)
            return 0;
        poll(NULL, 0, 100);
    } while (tproc_now_ms() < deadline);
    fprintf(stderr, "runner: cannot create %s: %s\n", path,
            coord_errname(rc));
    return -1;
}

int fr_workload_setup(struct fr_run *r)
{
    struct coord_client *c = fr_client_to(r->cl.servers, 5000, 10000);
    if (!c)
        return -1;
    int rc = ensure_node(c, "/fault", "");
    if (rc == 0)
        rc = ensure_node(c, "/fault/fenced", "0");
    if (rc == 0)
        rc = ensure_node(c, "/fault/eph", "");
    coord_close(c);
    return rc;
}

void fr_workload_start(struct fr_run *r)
{
    atomic_store(&r->stop_workers, false);
    for (int i = 0; i < r->o.workers; i++) {
        struct fr_worker *w = &r->w[i];
        w->run = r;
        w->id = i + 1;
        w->rng = r->o.seed * 1000003 + (uint64_t)i;
        if (pthread_create(&w->th, NULL, worker_main, w) != 0)
            abort();
    }
    for (int i = 0; i < r->o.lockers; i++) {
        struct fr_locker *lk = &r->lk[i];
        lk->run = r;
        lk->id = i + 1;
        lk->rng = r->o.seed * 7919 + (uint64_t)i;
        if (pthread_create(&lk->th, NULL, locker_main, lk) != 0)
            abort();
    }
}

void fr_workload_stop(struct fr_run *r)
{
    atomic_store(&r->stop_workers, true);
    for (int i = 0; i < r->o.workers; i++)
        pthread_join(r->w[i].th, NULL);
    for (int i = 0; i < r->o.lockers; i++)
        pthread_join(r->lk[i].th, NULL);
}

/* ---- ephemeral owners (child processes) --------------------------------- */

/* Reads one line from fd with a deadline; 0 or -1. */
static int read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = tproc_now_ms() + timeout_ms;
    while (n + 1 < cap) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - tproc_now_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return -1;
        ssize_t k = read(fd, buf + n, 1);
        if (k <= 0)
            return -1;
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return 0;
        }
        n++;
    }
    return -1;
}

/* Starts the ephemeral owners: each creates /fault/eph/e<i> in its own
 * session and reports its session id. */
int fr_eph_spawn(struct fr_run *r, const char *self)
{
    for (int i = 0; i < r->o.eph; i++) {
        struct fr_eph *e = &r->eph[i];
        int in[2], out[2];
        if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
            return -1;
        snprintf(e->path, sizeof(e->path), "/fault/eph/e%d", i);
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            dup2(in[0], 0);
            dup2(out[1], 1);
            execl(self, self, "--eph-child", r->cl.servers, e->path,
                  (char *)NULL);
            _exit(127);
        }
        close(in[0]);
        close(out[1]);
        e->pid = pid;
        e->to_child = in[1];
        e->from_child = out[0];
        char line[128];
        if (read_line(e->from_child, line, sizeof(line), 40000) != 0 ||
            sscanf(line, "ready %llu",
                   (unsigned long long *)&e->session) != 1) {
            fprintf(stderr, "runner: ephemeral owner %d did not start\n", i);
            return -1;
        }
    }
    return 0;
}

/* The child's side: own a session and an ephemeral node; answer "check"
 * with "alive" (a linearizable read on the session succeeded) or
 * "expired"; exit at EOF. */
static void eph_state_cb(void *data, int state)
{
    if (state == COORD_STATE_EXPIRED || state == COORD_STATE_DISCONNECTED ||
        state == COORD_STATE_RECONNECTED)
        fprintf(stderr, "ephemeral owner %s: %s at %lld ms (monotonic)\n",
                (const char *)data,
                state == COORD_STATE_EXPIRED ? "session expired"
                : state == COORD_STATE_DISCONNECTED ? "disconnected"
                                                     : "reconnected",
                (long long)tproc_now_ms());
}

int fr_eph_child_main(const char *servers, const char *path)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.session_timeout_ms = FR_EPH_SESSION_MS;
    o.request_timeout_ms = FR_REQUEST_MS;
    o.connect_timeout_ms = 500;
    o.backoff_max_ms = 500;
    o.state_cb = eph_state_cb;
    o.state_data = (void *)path;
    struct coord_client *c = NULL;
    if (coord_open(&c, &o) != 0)
        return 1;
    int64_t deadline = tproc_now_ms() + 30000;
    int rc;
    do
        rc = coord_create(c, path, "e", 1, COORD_EPHEMERAL, 0, NULL, NULL);
    while (rc != 0 && rc != COORD_ENODEEXISTS && tproc_now_ms() < deadline);
    uint64_t sid = 0;
    if ((rc != 0 && rc != COORD_ENODEEXISTS) || coord_session(c, &sid, NULL) != 0)
        return 1;
    printf("ready %llu\n", (unsigned long long)sid);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
        const char *ans = "unknown";
        deadline = tproc_now_ms() + 20000;
        while (tproc_now_ms() < deadline) {
            rc = coord_exists(c, "/", 0, NULL, NULL);
            if (rc == 0) {
                ans = "alive";
                break;
            }
            if (rc == COORD_ESESSIONEXPIRED ||
                coord_state(c) == COORD_STATE_EXPIRED) {
                ans = "expired";
                break;
            }
            poll(NULL, 0, 100);
        }
        printf("%s\n", ans);
        fflush(stdout);
    }
    coord_close(c);
    return 0;
}
