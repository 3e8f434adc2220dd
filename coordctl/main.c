/* main.c -- coordctl, the command-line client of coord: global flags, the
 * command table {name, args, flags, handler, help}, flag parsing, help
 * text, and opening/closing the one client session a command runs in.
 * Commands live in cmd_node.c, cmd_multi.c and cmd_watch.c. Uses the
 * public libcoord API only; never reaches into libcoord or coordd
 * internals. Exit codes: enum ctl_exit (ctl.h, docs/coordctl.md). */
#include "ctl.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct ctl_cmd {
    const char *name;
    int min_args;
    int max_args;
    unsigned flags; /* enum ctl_flag accepted */
    ctl_handler run;
    const char *usage;
    const char *help;
};

static const struct ctl_cmd ctl_cmds[] = {
    {"ls", 1, 1, CTL_F_LONG, ctl_cmd_ls, "ls PATH [-l]",
     "List the names of PATH's children, one per line. -l: a table with\n"
     "each child's version, data size, child count and mtime.\n"},
    {"tree", 0, 1, CTL_F_DEPTH | CTL_F_SIZES, ctl_cmd_tree,
     "tree [PATH] [--depth N] [--sizes]",
     "Print the subtree under PATH (default /), indented. --depth N stops\n"
     "N levels below PATH; --sizes adds data sizes and child counts.\n"},
    {"get", 1, 1, CTL_F_STAT, ctl_cmd_get, "get PATH [--stat]",
     "Write PATH's data to stdout, raw (binary-safe). --stat: then print\n"
     "the stat (after a newline if the data lacks one).\n"},
    {"set", 2, 2, CTL_F_VERSION, ctl_cmd_set,
     "set PATH DATA [--version V]",
     "Replace PATH's data. DATA '-' reads stdin. --version V: only if the\n"
     "node's version is V (else COORD_EBADVERSION).\n"},
    {"create", 1, 2,
     CTL_F_EPHEMERAL | CTL_F_SEQUENTIAL | CTL_F_CONTAINER | CTL_F_TTL |
         CTL_F_PARENTS,
     ctl_cmd_create,
     "create PATH [DATA] [-e] [-s] [--container] [--ttl MS] [-p]",
     "Create PATH (data DATA, default empty; '-' reads stdin) and print\n"
     "the created path. -e/--ephemeral: deleted when coordctl's session\n"
     "ends, i.e. when coordctl exits. -s/--sequential: a 10-digit suffix\n"
     "is appended. --container: deleted by the server once its last child\n"
     "goes. --ttl MS: a TTL node, deleted MS after its last change when\n"
     "childless. -p/--parents: create missing parents (persistent, empty).\n"},
    {"rm", 1, 1, CTL_F_VERSION | CTL_F_RECURSIVE, ctl_cmd_rm,
     "rm PATH [--version V] [-r]",
     "Delete PATH. --version V: only if its version is V. -r/--recursive:\n"
     "delete its descendants first, depth-first (not atomic).\n"},
    {"stat", 1, 1, 0, ctl_cmd_stat, "stat PATH", "Print PATH's stat.\n"},
    {"watch", 1, 1, CTL_F_PERSISTENT | CTL_F_RECURSIVE | CTL_F_CHILDREN,
     ctl_cmd_watch, "watch PATH [--persistent|--recursive|--children]",
     "Print watch events on PATH, one per line: TYPE PATH ZXID.\n"
     "Default: one-shot data/exists watch, exits after the first event.\n"
     "--children: one-shot children watch. --persistent: every event on\n"
     "PATH; --recursive: every event at or under PATH; both run until\n"
     "interrupted (SIGINT/SIGTERM, exit 0). MUST_REREAD events (events\n"
     "lost while disconnected) are printed too. A line 'coordctl: watching\n"
     "...' goes to stderr once the watch is set.\n"},
    {"multi", 0, CTL_ARGS_MAX, 0, ctl_cmd_multi, "multi [OP...]",
     "Run operations all-or-nothing; print one result per op. OP is\n"
     "  create[+e][+s]:PATH[=DATA]  set:PATH=DATA[@V]\n"
     "  delete:PATH[@V]             check:PATH@V\n"
     "taken from the arguments, or one per line from stdin when none\n"
     "are given. A path ends at the first '='; a version is the part\n"
     "after the last '@' (append @-1 to a DATA or delete PATH that\n"
     "itself ends in @digits).\n"},
    {"sync", 1, 1, 0, ctl_cmd_sync, "sync PATH",
     "Wait until the connected server has caught up with the leader.\n"},
    {"status", 0, 0, 0, ctl_cmd_status, "status",
     "One line per member, from each member's own STATUS: id, client\n"
     "address, role, term, commit, applied, lag (the leader's view) and\n"
     "sessions. Members that do not answer are marked unreachable.\n"},
    {"members", 0, 0, 0, ctl_cmd_members, "members",
     "The configuration as the connected server knows it: id, voter or\n"
     "learner, client address, and which member leads.\n"},
    {"member", 2, 4, 0, ctl_cmd_member,
     "member add ID CLIENT_ADDR PEER_ADDR | member promote ID | "
     "member remove ID",
     "Change the membership (on the leader, found through the connected\n"
     "server). add: a learner with client and peer address host:port;\n"
     "start it with join=true and the new members list. promote: learner\n"
     "to voter once caught up (see status). remove: a voter or learner.\n"
     "One change at a time: COORD_EBUSY while another is pending.\n"},
    {"leader", 1, 2, 0, ctl_cmd_leader, "leader transfer [ID]",
     "Hand leadership to member ID (default: the most up-to-date voter).\n"
     "Returns once the transfer has started; see status.\n"},
    {"health", 0, 0, 0, ctl_cmd_health, "health",
     "Exit 0 when a quorum of voters answers, a leader exists and no\n"
     "member reports digest mismatches; else exit 1 with the reason.\n"},
    {"lock", 2, CTL_ARGS_MAX, CTL_F_TRY, ctl_cmd_lock,
     "lock NAME [--try] [--timeout MS] -- CMD [ARG...]",
     "Run CMD while holding the exclusive lock NAME (like flock(1)). NAME\n"
     "without a leading '/' is /locks/NAME. CMD gets COORD_LOCK_TOKEN (the\n"
     "fencing token: larger for every later holder) and COORD_LOCK_PATH.\n"
     "Waits for the lock forever, or at most --timeout MS; --try fails at\n"
     "once if it is held (both: exit 5). Exit: CMD's status (128+N when\n"
     "killed by signal N). If the lock is lost while CMD runs (session\n"
     "expired, no server answering for 2/3 of the session timeout, or the\n"
     "lock node deleted), CMD gets SIGTERM (SIGKILL 1/6 of the timeout\n"
     "later) and coordctl exits 6. The lock survives a leader failover.\n"},
    {"locks", 0, 1, 0, ctl_cmd_locks, "locks [NAME]",
     "Without NAME: every lock under /locks with its holder's session,\n"
     "fencing token and waiter count. With NAME: its whole queue.\n"},
    {"elect", 3, CTL_ARGS_MAX, 0, ctl_cmd_elect,
     "elect NAME VALUE [--timeout MS] -- CMD [ARG...]",
     "Campaign in election NAME (/elections/NAME without a leading '/')\n"
     "with VALUE, run CMD once elected, with COORD_LEADER_TERM (the term,\n"
     "larger for every new leader) and COORD_ELECTION_PATH. --timeout MS\n"
     "bounds the campaign (exit 5). Exit codes and the handling of a lost\n"
     "leadership are those of lock.\n"},
    {"elections", 0, 1, 0, ctl_cmd_elections, "elections [NAME]",
     "Without NAME: every election under /elections with its leader's\n"
     "value, term and candidate count. With NAME: every candidate.\n"},
    {"barrier", 2, 3, CTL_F_NAME, ctl_cmd_barrier,
     "barrier set|remove|wait PATH | barrier enter PATH N [--name NAME] | "
     "barrier leave PATH [N] [--name NAME]",
     "set: raise the barrier (create PATH). remove: lower it. wait: block\n"
     "until it is lowered (--timeout MS: at most that long, exit 5).\n"
     "enter PATH N: a double barrier; block until N participants have\n"
     "entered. leave PATH: block until every participant has left.\n"
     "--name names this participant (default HOST-PID). coordctl's\n"
     "participant node goes when coordctl exits, so run enter and leave\n"
     "around the work of a longer-lived participant.\n"},
    {"sessions", 0, 0, 0, ctl_cmd_sessions, "sessions",
     "Every open session, from the connected server's state: id, timeout,\n"
     "ephemeral node count, and the member it is connected to when known.\n"},
    {"snapshot", 2, CTL_ARGS_MAX, 0, ctl_cmd_snapshot,
     "snapshot save FILE | snapshot restore FILE -- COORDD_FLAGS...",
     "save: fetch a consistent snapshot of the tree from the connected\n"
     "server (--servers names the member), checksummed, into FILE\n"
     "(written to FILE.tmp, then renamed). restore: offline; runs coordd\n"
     "--restore-snapshot FILE with the coordd flags after '--' (at least\n"
     "--data-dir, and the node id, cluster id and members of the new\n"
     "cluster), which creates a new data directory from FILE. See\n"
     "docs/operations.md, Backup and restore.\n"},
};
#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

struct ctl_optdef {
    const char *name;
    char short_name;
    bool has_arg;
    unsigned flag; /* 0 for global flags */
};

static const struct ctl_optdef ctl_optdefs[] = {
    {"long", 'l', false, CTL_F_LONG},
    {"stat", 0, false, CTL_F_STAT},
    {"version", 0, true, CTL_F_VERSION},
    {"ephemeral", 'e', false, CTL_F_EPHEMERAL},
    {"sequential", 's', false, CTL_F_SEQUENTIAL},
    {"container", 0, false, CTL_F_CONTAINER},
    {"ttl", 0, true, CTL_F_TTL},
    {"parents", 'p', false, CTL_F_PARENTS},
    {"recursive", 'r', false, CTL_F_RECURSIVE},
    {"depth", 0, true, CTL_F_DEPTH},
    {"sizes", 0, false, CTL_F_SIZES},
    {"persistent", 0, false, CTL_F_PERSISTENT},
    {"children", 0, false, CTL_F_CHILDREN},
    {"try", 0, false, CTL_F_TRY},
    {"name", 0, true, CTL_F_NAME},
    {"json", 0, false, 0},
    {"verbose", 'v', false, 0},
    {"servers", 0, true, 0},
    {"timeout", 0, true, 0},
    {"help", 'h', false, 0},
};
#define CTL_NOPTS (sizeof(ctl_optdefs) / sizeof(ctl_optdefs[0]))

static const char ctl_exit_help[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  the operation failed (e.g. COORD_ENONODE, COORD_EBADVERSION)\n"
    "  2  usage error\n"
    "  3  cannot reach the cluster, or timeout (COORD_ETIMEDOUT)\n"
    "  4  session expired or connection lost mid-operation: the outcome\n"
    "     is unknown (COORD_ESESSIONEXPIRED, COORD_ECONNLOSS)\n"
    "  5  lock, elect, barrier: not acquired (--try: held; --timeout\n"
    "     passed)\n"
    "  6  lock, elect: lost while CMD ran (CMD was sent SIGTERM)\n"
    "  lock, elect: otherwise CMD's exit status (127: CMD not started)\n";

static void ctl_help_all(FILE *f)
{
    fputs("usage: coordctl [--servers=HOST:PORT,...] [--json] "
          "[--timeout=MS] COMMAND ARGS\n\n"
          "Global flags (also accepted after the command):\n"
          "  --servers=LIST  servers to try (env COORD_SERVERS; default "
          "127.0.0.1:2281)\n"
          "  --json          machine output: one JSON object per line\n"
          "  --timeout=MS    bound on connecting and on each request "
          "(default 10000)\n"
          "  -v, --verbose   print the session id on stderr once "
          "connected\n"
          "  --help          this text; 'coordctl help CMD' for a "
          "command\n"
          "  --              ends flags (for data starting with '-')\n\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < CTL_NCMDS; i++)
        fprintf(f, "  %s\n", ctl_cmds[i].usage);
    fputc('\n', f);
    fputs(ctl_exit_help, f);
}

static const struct ctl_cmd *ctl_find_cmd(const char *name)
{
    for (size_t i = 0; i < CTL_NCMDS; i++)
        if (strcmp(ctl_cmds[i].name, name) == 0)
            return &ctl_cmds[i];
    return NULL;
}

static int ctl_help_cmd(const char *name)
{
    const struct ctl_cmd *cmd = ctl_find_cmd(name);
    if (cmd == NULL)
        return ctl_usage_error("unknown command '%s'", name);
    printf("usage: coordctl [global flags] %s\n\n%s\n%s", cmd->usage,
           cmd->help, ctl_exit_help);
    return CTL_EXIT_OK;
}

static const struct ctl_optdef *ctl_find_long(const char *name, size_t n)
{
    for (size_t i = 0; i < CTL_NOPTS; i++)
        if (strlen(ctl_optdefs[i].name) == n &&
            strncmp(ctl_optdefs[i].name, name, n) == 0)
            return &ctl_optdefs[i];
    return NULL;
}

static const struct ctl_optdef *ctl_find_short(char ch)
{
    for (size_t i = 0; i < CTL_NOPTS; i++)
        if (ctl_optdefs[i].short_name == ch)
            return &ctl_optdefs[i];
    return NULL;
}

/* Parsing state: the command (NULL while reading global flags) and
 * whether --help was asked. */
struct ctl_parse {
    const struct ctl_cmd *cmd;
    bool help;
};

/* Applies option d with value val (NULL if none). Returns 0 or an exit
 * code. */
static int ctl_apply(struct ctl *x, struct ctl_parse *ps,
                     const struct ctl_optdef *d, const char *val)
{
    long v;
    if (d->flag != 0 && (ps->cmd == NULL || !(ps->cmd->flags & d->flag)))
        return ctl_usage_error("--%s is not a flag of %s", d->name,
                               ps->cmd ? ps->cmd->name : "coordctl");
    x->flags |= d->flag;
    if (strcmp(d->name, "json") == 0) {
        x->json = true;
    } else if (strcmp(d->name, "verbose") == 0) {
        x->verbose = true;
    } else if (strcmp(d->name, "help") == 0) {
        ps->help = true;
    } else if (strcmp(d->name, "servers") == 0) {
        if (val[0] == '\0')
            return ctl_usage_error("--servers is empty");
        x->servers = val;
    } else if (strcmp(d->name, "timeout") == 0) {
        if (!ctl_parse_long(val, 1, CTL_TIMEOUT_MS_MAX, &v))
            return ctl_usage_error("--timeout wants 1..%d ms, not '%s'",
                                   CTL_TIMEOUT_MS_MAX, val);
        x->timeout_ms = (uint32_t)v;
        x->timeout_given = true;
    } else if (d->flag == CTL_F_NAME) {
        if (val[0] == '\0' || strchr(val, '/') != NULL)
            return ctl_usage_error("--name wants a name without '/'");
        x->name = val;
    } else if (d->flag == CTL_F_VERSION) {
        if (!ctl_parse_long(val, -1, INT32_MAX, &v))
            return ctl_usage_error("--version wants -1..%d, not '%s'",
                                   INT32_MAX, val);
        x->version = (int32_t)v;
    } else if (d->flag == CTL_F_DEPTH) {
        if (!ctl_parse_long(val, 0, COORD_PATH_DEPTH_MAX, &v))
            return ctl_usage_error("--depth wants 0..%d, not '%s'",
                                   COORD_PATH_DEPTH_MAX, val);
        x->depth = v;
    } else if (d->flag == CTL_F_TTL) {
        if (!ctl_parse_long(val, 1, INT32_MAX, &v))
            return ctl_usage_error("--ttl wants a positive ms count, "
                                   "not '%s'", val);
        x->ttl_ms = (uint64_t)v;
    }
    return 0;
}

/* An unknown flag: lock and elect take CMD after "--"; say so. */
static int ctl_unknown_flag(const struct ctl_parse *ps, const char *flag)
{
    bool runs = ps->cmd != NULL && (ps->cmd->run == ctl_cmd_lock ||
                                    ps->cmd->run == ctl_cmd_elect);
    return ctl_usage_error("unknown flag '%s'%s", flag,
                           runs ? " (put the command after '--': "
                                  "coordctl lock NAME -- CMD ARGS)"
                                : "");
}

/* Parses argv[*i] (which starts with '-'), consuming a value argument
 * if the option takes one. Returns 0 or an exit code. */
static int ctl_parse_opt(struct ctl *x, struct ctl_parse *ps, int argc,
                         char **argv, int *i)
{
    const char *a = argv[*i];
    if (a[1] == '-') {
        const char *eq = strchr(a + 2, '=');
        size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const struct ctl_optdef *d = ctl_find_long(a + 2, n);
        if (d == NULL)
            return ctl_unknown_flag(ps, a);
        const char *val = eq ? eq + 1 : NULL;
        if (d->has_arg && val == NULL) {
            if (*i + 1 >= argc)
                return ctl_usage_error("%s needs a value", a);
            val = argv[++*i];
        } else if (!d->has_arg && val != NULL) {
            return ctl_usage_error("--%s takes no value", d->name);
        }
        return ctl_apply(x, ps, d, val);
    }
    for (const char *p = a + 1; *p; p++) {
        const struct ctl_optdef *d = ctl_find_short(*p);
        if (d == NULL || d->has_arg) {
            char f[3] = {'-', *p, '\0'};
            return ctl_unknown_flag(ps, f);
        }
        int rc = ctl_apply(x, ps, d, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Fills x and ps from the command line. Returns 0 or an exit code. */
static int ctl_parse_args(struct ctl *x, struct ctl_parse *ps, int argc,
                          char **argv)
{
    bool flags_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = true;
        } else if (!flags_done && a[0] == '-' && a[1] != '\0') {
            int rc = ctl_parse_opt(x, ps, argc, argv, &i);
            if (rc != 0)
                return rc;
        } else if (ps->cmd == NULL && strcmp(a, "help") == 0) {
            ps->help = true;
        } else if (ps->cmd == NULL && !ps->help) {
            ps->cmd = ctl_find_cmd(a);
            if (ps->cmd == NULL)
                return ctl_usage_error("unknown command '%s'", a);
        } else {
            if (x->argc >= CTL_ARGS_MAX)
                return ctl_usage_error("more than %d arguments",
                                       CTL_ARGS_MAX);
            x->argv[x->argc++] = argv[i];
        }
    }
    return 0;
}

static int ctl_open(struct ctl *x)
{
    struct coord_options o;
    coord_options_init(&o);
    o.servers = x->servers;
    o.request_timeout_ms = x->timeout_ms;
    o.state_cb = ctl_state_cb;
    ctl_session_init();
    int rc = coord_open(&x->c, &o);
    if (rc == COORD_EINVAL)
        return ctl_usage_error("bad server list '%s' (want "
                               "host:port,host:port)", x->servers);
    if (rc != 0) {
        x->c = NULL;
        return ctl_fail(x, "cannot start the client", rc);
    }
    /* Wait for the session first, so an unreachable cluster is reported
     * as such (exit 3) rather than as a failed operation. */
    rc = ctl_wait_connected(x->timeout_ms);
    if (rc != 0) {
        rc = ctl_fail(x, NULL, rc);
        coord_close(x->c);
        x->c = NULL;
        return rc;
    }
    uint64_t sid;
    if (x->verbose && coord_session(x->c, &sid, NULL) == 0)
        fprintf(stderr, "coordctl: connected, session 0x%016" PRIx64 "\n",
                sid);
    return 0;
}

static int ctl_run(struct ctl *x, const struct ctl_cmd *cmd)
{
    if (x->argc < cmd->min_args || x->argc > cmd->max_args)
        return ctl_usage_error("%s takes %d..%d arguments: %s", cmd->name,
                               cmd->min_args, cmd->max_args, cmd->usage);
    /* snapshot restore is offline: no session */
    if (cmd->run == ctl_cmd_snapshot && strcmp(x->argv[0], "restore") == 0)
        return cmd->run(x);
    int rc = ctl_open(x);
    if (rc != 0 && cmd->run == ctl_cmd_health) {
        fputs("coordctl: unhealthy: no session could be made\n", stderr);
        return CTL_EXIT_FAILED;
    }
    if (rc != 0)
        return rc;
    rc = cmd->run(x);
    coord_close(x->c);
    x->c = NULL;
    return rc;
}

static struct ctl ctl_main;

int main(int argc, char **argv)
{
    struct ctl *x = &ctl_main;
    struct ctl_parse ps = {NULL, false};
    x->servers = getenv("COORD_SERVERS");
    if (x->servers == NULL || x->servers[0] == '\0')
        x->servers = "127.0.0.1:2281";
    x->timeout_ms = CTL_TIMEOUT_MS_DEFAULT;
    x->version = -1;
    x->depth = -1;
    /* A closed stdout (coordctl watch | head -1) is a write error we
     * report through the exit code, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    int rc = ctl_parse_args(x, &ps, argc, argv);
    if (rc != 0)
        return rc;
    if (ps.help && ps.cmd == NULL && x->argc == 0 && argc > 1) {
        ctl_help_all(stdout);
        return CTL_EXIT_OK;
    }
    if (ps.help)
        return ctl_help_cmd(ps.cmd ? ps.cmd->name : x->argv[0]);
    if (ps.cmd == NULL) {
        ctl_help_all(stderr);
        return CTL_EXIT_USAGE;
    }
    rc = ctl_run(x, ps.cmd);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("coordctl: cannot write to stdout\n", stderr);
        if (rc == CTL_EXIT_OK)
            rc = CTL_EXIT_FAILED;
    }
    return rc;
}
