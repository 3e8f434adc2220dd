/* test_admin.c -- coord's admin operations against real coordd clusters
 * on 127.0.0.1, .2, ...: STATUS from every member agrees on leader and
 * term; a 4th server joins as a learner (join=true), catches up, is
 * promoted, an old member is removed, and writes keep working after each
 * step; a leader removes itself and the rest carry on; leadership moves
 * to a named member; the test-only digest hook
 * makes a replica diverge and STATUS shows the mismatch. Also coordctl's
 * status, members, member and health commands and their exit codes
 * (build/bin/coordctl or $COORDCTL_BIN). Waits poll a condition with a
 * deadline; every process is stopped by the test (teardown too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord.h"
#include "test/lib/proc.h"

static struct tcluster cl;

static int teardown(void **state)
{
    (void)state;
    tcluster_cleanup(&cl);
    return 0;
}

static struct coord_client *client(const char *servers)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = servers;
    o.session_timeout_ms = 10000;
    struct coord_client *c = NULL;
    assert_int_equal(coord_open(&c, &o), 0);
    return c;
}

static void addr_of(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%u", cl.node[i].host, cl.node[i].port);
}

/* A client of node i alone. */
static struct coord_client *client_of(int i)
{
    char a[64];
    addr_of(i, a, sizeof(a));
    return client(a);
}

static int status_of(int i, struct coord_status *st)
{
    struct coord_client *c = client_of(i);
    int rc = coord_status(c, st);
    coord_close(c);
    return rc;
}

static void write_some(const char *servers, const char *tag, int n)
{
    struct coord_client *c = client(servers);
    for (int i = 0; i < n; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/%s-%d", tag, i);
        assert_int_equal(coord_create(c, p, "x", 1, 0, 0, NULL, NULL), 0);
    }
    coord_close(c);
}

/* Waits until every listed node reports the same leader and term (and a
 * leader at all); returns the leader's index in cl. */
static int wait_agreement(const int *nodes, int n, int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    while (tproc_now_ms() < deadline) {
        struct coord_status st[TCLUSTER_MAX];
        bool ok = true;
        for (int k = 0; k < n && ok; k++) {
            ok = status_of(nodes[k], &st[k]) == 0 && st[k].leader_id != 0;
            if (ok && k > 0)
                ok = st[k].leader_id == st[0].leader_id &&
                     st[k].term == st[0].term;
        }
        if (ok)
            return (int)st[0].leader_id - 1;
        poll(NULL, 0, 20);
    }
    fail_msg("members never agreed on a leader");
    return -1;
}

static const struct coord_member_status *
find_member(const struct coord_status *st, uint64_t id)
{
    for (size_t i = 0; i < st->n_members; i++)
        if (st->members[i].id == id)
            return &st->members[i];
    return NULL;
}

/* ---- coordctl ---------------------------------------------------------- */

static char ctl_out[65536];

/* Runs coordctl --servers=servers args... (NULL-terminated); its stdout
 * (and stderr after it) in ctl_out. Returns its exit code. */
static int run_ctl(const char *servers, ...)
{
    const char *bin = getenv("COORDCTL_BIN");
    char sflag[600];
    snprintf(sflag, sizeof(sflag), "--servers=%s", servers);
    const char *argv[32] = {bin ? bin : "build/bin/coordctl", sflag};
    int n = 2;
    va_list ap;
    va_start(ap, servers);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char path[] = "/tmp/test_admin_ctl_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    ssize_t r = pread(fd, ctl_out, sizeof(ctl_out) - 1, 0);
    ctl_out[r > 0 ? r : 0] = '\0';
    close(fd);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- status ------------------------------------------------------------ */

static void status_agrees_everywhere(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    write_some(cl.servers, "s", 10);
    const int all[] = {0, 1, 2};
    int lead = wait_agreement(all, 3, 10000);
    struct coord_status st;
    assert_int_equal(status_of(lead, &st), 0);
    assert_int_equal(st.role, COORD_ROLE_LEADER);
    assert_int_equal(st.server_id, (uint64_t)lead + 1);
    assert_true(st.commit >= 11);
    assert_true(st.sessions >= 1);
    assert_true(st.connections >= 1);
    assert_int_equal(st.digest_mismatches, 0);
    assert_int_equal(st.n_members, 3);
    for (int i = 0; i < 3; i++) {
        const struct coord_member_status *m = find_member(&st, i + 1);
        assert_non_null(m);
        assert_true(m->voter);
        char a[64];
        addr_of(i, a, sizeof(a));
        assert_string_equal(m->addr, a);
    }
    /* a follower answers STATUS itself and refuses changes */
    int f = (lead + 1) % 3;
    assert_int_equal(status_of(f, &st), 0);
    assert_int_equal(st.role, COORD_ROLE_FOLLOWER);
    assert_int_equal(st.server_id, (uint64_t)f + 1);
    struct coord_client *c = client_of(f);
    assert_int_equal(coord_member_remove(c, 1), COORD_ENOTLEADER);
    assert_int_equal(coord_leader_transfer(c, 0), COORD_ENOTLEADER);
    coord_close(c);
    /* the leader refuses nonsense */
    c = client_of(lead);
    assert_int_equal(coord_member_promote(c, 9), COORD_EINVAL);
    assert_int_equal(coord_member_add(c, 9, "nohost", "127.0.0.9:1"),
                     COORD_EINVAL);
    assert_int_equal(coord_member_add(c, 2, "127.0.0.2:1", "127.0.0.2:2"),
                     COORD_EINVAL); /* already a member */
    coord_close(c);
    /* coordctl: the table names every member; healthy */
    char fa[64];
    addr_of(f, fa, sizeof(fa));
    assert_int_equal(run_ctl(fa, "status", NULL), 0);
    for (int i = 0; i < 3; i++) {
        char a[64];
        addr_of(i, a, sizeof(a));
        assert_non_null(strstr(ctl_out, a));
    }
    assert_non_null(strstr(ctl_out, "leader"));
    assert_null(strstr(ctl_out, "unreachable"));
    assert_int_equal(run_ctl(fa, "--json", "status", NULL), 0);
    assert_non_null(strstr(ctl_out, "\"role\":\"leader\""));
    assert_int_equal(run_ctl(fa, "members", NULL), 0);
    assert_non_null(strstr(ctl_out, " leader"));
    assert_int_equal(run_ctl(fa, "health", NULL), 0);
    assert_int_equal(run_ctl(fa, "--json", "health", NULL), 0);
    assert_non_null(strstr(ctl_out, "\"healthy\":true"));
    assert_int_equal(run_ctl(fa, "member", "frob", "1", NULL), 2);
    assert_int_equal(run_ctl(fa, "member", "remove", "x", NULL), 2);
    assert_int_equal(run_ctl(fa, "member", "promote", "9", NULL), 1);
    /* one member down: status marks it, health still passes (quorum) */
    int down = (lead + 2) % 3;
    tproc_kill(&cl.node[down]);
    assert_int_equal(run_ctl(fa, "status", NULL), 0);
    assert_non_null(strstr(ctl_out, "unreachable"));
    assert_int_equal(run_ctl(fa, "health", NULL), 0);
}

/* ---- membership -------------------------------------------------------- */

/* The first n entries of the members list. */
static void members_prefix(char *out, size_t cap, int n)
{
    snprintf(out, cap, "%s", cl.members);
    char *p = out;
    for (int i = 0; i < n && p; i++) {
        p = strchr(p, ',');
        if (p && i == n - 1)
            *p = '\0';
        else if (p)
            p++;
    }
}

/* The peer address "host:port" of node i from the members list. */
static void peer_of(int i, char *buf, size_t cap)
{
    char needle[16];
    snprintf(needle, sizeof(needle), "%d@", i + 1);
    const char *e = strstr(cl.members, needle);
    assert_non_null(e);
    unsigned client_port, peer_port;
    char host[32];
    assert_int_equal(sscanf(e + strlen(needle), "%31[0-9.]:%u:%u", host,
                            &client_port, &peer_port),
                     3);
    snprintf(buf, cap, "%s:%u", host, peer_port);
}

static void wait_caught_up(int lead, uint64_t id, int timeout_ms)
{
    int64_t deadline = tproc_now_ms() + timeout_ms;
    while (tproc_now_ms() < deadline) {
        struct coord_status st;
        if (status_of(lead, &st) == 0) {
            const struct coord_member_status *m = find_member(&st, id);
            if (m && m->match > 0 && m->lag == 0)
                return;
        }
        poll(NULL, 0, 20);
    }
    fail_msg("member %llu never caught up", (unsigned long long)id);
}

static void servers_of(const int *nodes, int n, char *out, size_t cap)
{
    size_t o = 0;
    for (int k = 0; k < n; k++) {
        char a[64];
        addr_of(nodes[k], a, sizeof(a));
        o += (size_t)snprintf(out + o, cap - o, "%s%s", k ? "," : "", a);
    }
}

static void add_promote_remove(void **state)
{
    (void)state;
    tcluster_init(&cl, 4, "");
    char three[1024];
    members_prefix(three, sizeof(three), 3);
    for (int i = 0; i < 3; i++)
        snprintf(cl.node[i].members, sizeof(cl.node[i].members), "%s",
                 three);
    snprintf(cl.node[3].extra, sizeof(cl.node[3].extra), "--join=true");
    cl.n = 3;
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    cl.n = 4; /* teardown stops the 4th too */
    const int first[] = {0, 1, 2};
    char servers[512];
    servers_of(first, 3, servers, sizeof(servers));
    write_some(servers, "a", 20);
    int lead = wait_agreement(first, 3, 10000);
    /* add 4 as a learner, then start it */
    char caddr[64], paddr[64];
    addr_of(3, caddr, sizeof(caddr));
    peer_of(3, paddr, sizeof(paddr));
    struct coord_client *c = client_of(lead);
    assert_int_equal(coord_member_add(c, 4, caddr, paddr), 0);
    assert_int_equal(coord_member_add(c, 4, caddr, paddr), COORD_EINVAL);
    coord_close(c);
    assert_int_equal(tproc_start(&cl.node[3], 15000), 0);
    write_some(servers, "b", 20);
    wait_caught_up(lead, 4, 10000);
    struct coord_status st;
    assert_int_equal(status_of(lead, &st), 0);
    assert_int_equal(st.n_members, 4);
    assert_false(find_member(&st, 4)->voter);
    assert_string_equal(find_member(&st, 4)->addr, caddr);
    /* the learner serves clients with the data written before it came */
    struct coord_client *c4 = client_of(3);
    assert_int_equal(coord_exists(c4, "/a-0", 0, NULL, NULL), 0);
    assert_int_equal(coord_status(c4, &st), 0);
    assert_int_equal(st.leader_id, (uint64_t)lead + 1);
    assert_int_equal(st.n_members, 4);
    coord_close(c4);
    /* promote it; remove a member that is not the leader */
    assert_int_equal(run_ctl(servers, "member", "promote", "4", NULL), 0);
    c = client_of(lead);
    assert_int_equal(coord_member_promote(c, 4), COORD_EINVAL);
    int gone = (lead + 1) % 3;
    assert_int_equal(coord_member_remove(c, (uint64_t)gone + 1), 0);
    assert_int_equal(coord_status(c, &st), 0);
    coord_close(c);
    assert_int_equal(st.n_members, 3);
    assert_null(find_member(&st, (uint64_t)gone + 1));
    assert_true(find_member(&st, 4)->voter);
    int rest[3], k = 0;
    for (int i = 0; i < 4; i++)
        if (i != gone)
            rest[k++] = i;
    servers_of(rest, 3, servers, sizeof(servers));
    write_some(servers, "c", 20);
    assert_int_equal(wait_agreement(rest, 3, 10000), lead);
    /* the removed server keeps running (out of the configuration; it
     * may not even learn of its removal: the leader stops sending) */
    assert_true(cl.node[gone].pid > 0);
    assert_int_equal(waitpid(cl.node[gone].pid, NULL, WNOHANG), 0);
}

/* A member that lost its data directory may not rejoin under its old id
 * (it forgot its vote and log: dissertation §3.8). The procedure, as
 * docs/cluster.md says: remove it, add it back under a new id at the same
 * addresses, start it with join=true on the empty directory; it catches up
 * from the leader's snapshot, then is promoted. */
static void wiped_member_rejoins_under_new_id(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "--snapshot-entries=50");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    const int all[] = {0, 1, 2};
    char servers[512];
    servers_of(all, 3, servers, sizeof(servers));
    write_some(servers, "w", 200); /* several snapshots: log compacted */
    int lead = wait_agreement(all, 3, 10000);
    int f = (lead + 1) % 3;
    uint64_t old_id = (uint64_t)f + 1, new_id = 4;
    tproc_kill(&cl.node[f]);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/data'", cl.node[f].dir);
    assert_int_equal(system(cmd), 0);
    struct coord_client *c = client_of(lead);
    assert_int_equal(coord_member_remove(c, old_id), 0);
    char caddr[64], paddr[64];
    addr_of(f, caddr, sizeof(caddr));
    peer_of(f, paddr, sizeof(paddr));
    assert_int_equal(coord_member_add(c, new_id, caddr, paddr), 0);
    /* Same addresses, new id, empty directory, join=true. */
    char members[1024], old_entry[16], new_entry[16];
    snprintf(old_entry, sizeof(old_entry), "%llu@",
             (unsigned long long)old_id);
    snprintf(new_entry, sizeof(new_entry), "%llu@",
             (unsigned long long)new_id);
    snprintf(members, sizeof(members), "%s", cl.members);
    char *e = strstr(members, old_entry);
    assert_non_null(e);
    *e = new_entry[0]; /* ids are one digit here */
    snprintf(cl.node[f].members, sizeof(cl.node[f].members), "%s", members);
    cl.node[f].node_id = new_id;
    snprintf(cl.node[f].extra, sizeof(cl.node[f].extra),
             "--join=true --snapshot-entries=50");
    assert_int_equal(tproc_start(&cl.node[f], 15000), 0);
    write_some(servers, "x", 20);
    wait_caught_up(lead, new_id, 15000);
    assert_true(tproc_log_has(&cl.node[f], "snapshot installed"));
    assert_int_equal(coord_member_promote(c, new_id), 0);
    coord_close(c);
    /* It serves what was written before it was wiped, and after. */
    struct coord_client *cf = client_of(f);
    assert_int_equal(coord_exists(cf, "/w-0", COORD_READ_LOCAL, NULL, NULL),
                     0);
    assert_int_equal(coord_exists(cf, "/x-19", 0, NULL, NULL), 0);
    struct coord_status st;
    assert_int_equal(coord_status(cf, &st), 0);
    assert_int_equal(st.n_members, 3);
    assert_null(find_member(&st, old_id));
    assert_true(find_member(&st, new_id)->voter);
    coord_close(cf);
}

/* A member added at runtime is named by no server's members option: after
 * the entry adding it is compacted into a snapshot, a restarted server
 * learns its addresses from the snapshot, dials it, and can lead it. */
static void addresses_survive_snapshot(void **state)
{
    (void)state;
    tcluster_init(&cl, 4, "--snapshot-entries=50");
    char three[1024];
    members_prefix(three, sizeof(three), 3);
    for (int i = 0; i < 3; i++)
        snprintf(cl.node[i].members, sizeof(cl.node[i].members), "%s",
                 three);
    snprintf(cl.node[3].extra, sizeof(cl.node[3].extra),
             "--join=true --snapshot-entries=50");
    cl.n = 3;
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    cl.n = 4;
    const int first[] = {0, 1, 2};
    int lead = wait_agreement(first, 3, 10000);
    char caddr[64], paddr[64], servers[512];
    addr_of(3, caddr, sizeof(caddr));
    peer_of(3, paddr, sizeof(paddr));
    servers_of(first, 3, servers, sizeof(servers));
    struct coord_client *c = client_of(lead);
    assert_int_equal(coord_member_add(c, 4, caddr, paddr), 0);
    coord_close(c);
    assert_int_equal(tproc_start(&cl.node[3], 15000), 0);
    write_some(servers, "s", 150); /* several snapshots past the add */
    wait_caught_up(lead, 4, 10000);
    int x = (lead + 1) % 3;
    assert_int_equal(tproc_stop(&cl.node[x], 5000), 0);
    assert_int_equal(tproc_start(&cl.node[x], 15000), 0);
    assert_true(tproc_log_has(&cl.node[x], "dialing member from snapshot"));
    struct coord_status st;
    assert_int_equal(status_of(x, &st), 0);
    assert_non_null(find_member(&st, 4));
    assert_string_equal(find_member(&st, 4)->addr, caddr);
    /* x leads and replicates to 4 */
    c = client_of(lead);
    assert_int_equal(coord_leader_transfer(c, (uint64_t)x + 1), 0);
    coord_close(c);
    const int all[] = {0, 1, 2, 3};
    assert_int_equal(wait_agreement(all, 4, 10000), x);
    write_some(servers, "t", 10);
    wait_caught_up(x, 4, 10000);
}

/* The leader removes itself: it steps down once the entry commits, the
 * other two elect a leader and take writes; with a quorum gone, health
 * fails. */
static void leader_removes_itself(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    const int all[] = {0, 1, 2};
    int lead = wait_agreement(all, 3, 10000);
    char la[64], id[16];
    addr_of(lead, la, sizeof(la));
    snprintf(id, sizeof(id), "%d", lead + 1);
    assert_int_equal(run_ctl(la, "member", "remove", id, NULL), 0);
    int rest[2], k = 0;
    for (int i = 0; i < 3; i++)
        if (i != lead)
            rest[k++] = i;
    int now = wait_agreement(rest, 2, 10000);
    assert_true(now != lead);
    char servers[512];
    servers_of(rest, 2, servers, sizeof(servers));
    write_some(servers, "r", 10);
    struct coord_status st;
    assert_int_equal(status_of(now, &st), 0);
    assert_int_equal(st.n_members, 2);
    assert_null(find_member(&st, (uint64_t)lead + 1));
    assert_int_equal(run_ctl(servers, "health", NULL), 0);
    /* one of two voters left: no quorum, health fails */
    tproc_kill(&cl.node[rest[1]]);
    char one[64];
    addr_of(rest[0], one, sizeof(one));
    assert_int_equal(run_ctl(one, "--timeout=2000", "health", NULL), 1);
    assert_non_null(strstr(ctl_out, "unhealthy"));
}

/* ---- leadership transfer ----------------------------------------------- */

static void transfer_to_named_member(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    const int all[] = {0, 1, 2};
    int lead = wait_agreement(all, 3, 10000);
    int target = (lead + 2) % 3;
    struct coord_client *c = client_of(lead);
    assert_int_equal(coord_leader_transfer(c, (uint64_t)target + 1), 0);
    coord_close(c);
    int64_t deadline = tproc_now_ms() + 10000;
    struct coord_status st = {0};
    while (tproc_now_ms() < deadline) {
        if (status_of(target, &st) == 0 && st.role == COORD_ROLE_LEADER)
            break;
        poll(NULL, 0, 20);
    }
    assert_int_equal(st.role, COORD_ROLE_LEADER);
    assert_int_equal(wait_agreement(all, 3, 10000), target);
    write_some(cl.servers, "t", 5);
    /* coordctl, through a follower: back to the first leader */
    char fa[64], id[16];
    addr_of((target + 1) % 3 == lead ? (target + 2) % 3 : (target + 1) % 3,
            fa, sizeof(fa));
    snprintf(id, sizeof(id), "%d", lead + 1);
    assert_int_equal(run_ctl(fa, "leader", "transfer", id, NULL), 0);
    assert_int_equal(wait_agreement(all, 3, 10000), lead);
}

/* ---- integrity --------------------------------------------------------- */

static void corrupt_digest_is_reported(void **state)
{
    (void)state;
    tcluster_init(&cl, 3, "");
    snprintf(cl.node[2].extra, sizeof(cl.node[2].extra),
             "--test-corrupt-digest-at=1");
    assert_int_equal(tcluster_start(&cl, 15000), 0);
    /* digests are recorded every 256 applied entries */
    write_some(cl.servers, "d", 300);
    int64_t deadline = tproc_now_ms() + 10000;
    uint64_t seen = 0;
    while (tproc_now_ms() < deadline && seen == 0) {
        for (int i = 0; i < 3; i++) {
            struct coord_status st;
            if (status_of(i, &st) == 0)
                seen += st.digest_mismatches;
        }
        poll(NULL, 0, 50);
    }
    assert_true(seen > 0);
    assert_true(tproc_log_has(&cl.node[0], "REPLICA DIVERGENCE") ||
                tproc_log_has(&cl.node[1], "REPLICA DIVERGENCE") ||
                tproc_log_has(&cl.node[2], "REPLICA DIVERGENCE"));
    assert_int_equal(run_ctl(cl.servers, "health", NULL), 1);
    assert_non_null(strstr(ctl_out, "digest mismatches"));
    assert_int_equal(run_ctl(cl.servers, "status", NULL), 0);
    assert_non_null(strstr(ctl_out, "DIGEST MISMATCH"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(status_agrees_everywhere, teardown),
        cmocka_unit_test_teardown(add_promote_remove, teardown),
        cmocka_unit_test_teardown(wiped_member_rejoins_under_new_id,
                                  teardown),
        cmocka_unit_test_teardown(addresses_survive_snapshot, teardown),
        cmocka_unit_test_teardown(leader_removes_itself, teardown),
        cmocka_unit_test_teardown(transfer_to_named_member, teardown),
        cmocka_unit_test_teardown(corrupt_digest_is_reported, teardown),
    };
    return cmocka_run_group_tests_name("admin", tests, NULL, NULL);
}
