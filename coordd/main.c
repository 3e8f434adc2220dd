/* main.c -- coordd's entry point: parse flags and the config file, set up
 * logging, open the data directory, start the node and the loop, tell
 * systemd when serving, and on SIGTERM/SIGINT stop cleanly (stop listening,
 * let the storage worker finish its fsync, close RocksDB), in reverse order
 * of start-up. The only file that includes <systemd/sd-daemon.h>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "coord.h"
#include "coordd/config.h"
#include "coordd/log.h"
#include "coordd/metrics.h"
#include "coordd/net/net.h"
#include "coordd/node.h"
#include "coordd/store/store.h"
#include "libcoord/shared/auth.h"

/* Output not yet read by a client that pauses its reading, and that closes
 * its connection: a slow consumer cannot hold the server's memory. */
#define COORDD_CONN_OUT_PAUSE_BYTES (4u * 1024 * 1024)
#define COORDD_CONN_OUT_BYTES_MAX (64u * 1024 * 1024)
/* Unsent bytes queued to one peer: beyond it messages are dropped and Raft
 * retransmits (its in-flight window normally keeps far below this). */
#define COORDD_PEER_OUT_BYTES_MAX (64u * 1024 * 1024)

/* The store keeps a 64-bit cluster id: a stable hash (FNV-1a) of the
 * configured cluster name, so a node refuses another cluster's data. */
static uint64_t cluster_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

static void fill_node_config(const struct coordd_config *c,
                             struct node_config *nc)
{
    *nc = (struct node_config){
        .id = c->node_id,
        .cluster_id = cluster_hash(c->cluster_id),
        .tick_ms = (uint32_t)c->tick_ms,
        .election_ticks = (uint32_t)c->election_ticks,
        .heartbeat_ticks = (uint32_t)c->heartbeat_ticks,
        .pre_vote = c->pre_vote,
        .check_quorum = c->check_quorum,
        .pair_commit = c->pair_commit,
        .inflight_msgs_max = (uint32_t)c->inflight_msgs_max,
        .append_bytes_max = (uint32_t)c->append_bytes_max,
        .uncommitted_bytes_max = c->uncommitted_bytes_max,
        .snapshot_entries = c->snapshot_entries,
        .snapshot_chunk_bytes = (uint32_t)c->snapshot_chunk_bytes,
        .snapshot_child_timeout_ms = (uint32_t)c->snapshot_child_timeout_ms,
        .snapshot_hold_ms = (uint32_t)c->snapshot_hold_ms,
        .snapshot_retry_ms = (uint32_t)c->snapshot_retry_ms,
        .session_timeout_ms_min = (uint32_t)c->session_timeout_ms_min,
        .session_timeout_ms_max = (uint32_t)c->session_timeout_ms_max,
        .sessions_max = (uint32_t)c->sessions_max,
        .watches_per_session_max = (uint32_t)c->watches_per_session_max,
        .watch_history_max = (uint32_t)c->watch_history_max,
        .watch_history_bytes_max = c->watch_history_bytes_max,
        .conn_inflight_max = (uint32_t)c->conn_inflight_max,
        .nodes_max = (uint32_t)c->nodes_max,
        .children_max = (uint32_t)c->children_max,
        .clock_offset_ms = c->test_clock_offset_ms,
        .log_rate_per_sec = (uint32_t)c->log_rate_per_sec,
        .slow_fsync_ms = (uint32_t)c->slow_fsync_ms,
        .persist_spin_us = (uint32_t)c->persist_spin_us,
        .storage_nice = (int32_t)c->storage_nice,
        .log_aio = c->log_aio,
        .corrupt_digest_at = c->test_corrupt_digest_at,
        .join = c->join,
    };
    for (uint32_t i = 0; i < c->members.n && i < COORDD_MEMBERS_MAX; i++) {
        const struct config_member *m = &c->members.m[i];
        struct node_member *nm = &nc->members[nc->n_members++];
        nm->id = m->id;
        snprintf(nm->peer_host, sizeof(nm->peer_host), "%s", m->peer.host);
        nm->peer_port = m->peer.port;
        snprintf(nm->client_host, sizeof(nm->client_host), "%s",
                 m->client.host);
        nm->client_port = m->client.port;
    }
    nc->limits = (struct wire_limits){
        .frame_bytes_max = (uint32_t)c->frame_bytes_max,
        .data_bytes_max = (uint32_t)c->data_bytes_max,
        .path_bytes_max = (uint32_t)c->path_bytes_max,
        .multi_ops_max = (uint32_t)c->multi_ops_max,
        .children_page_max = (uint32_t)c->children_page_max,
    };
}

static void on_ready(void *data)
{
    (void)data;
    sd_notify(0, "READY=1\nSTATUS=serving");
}

static void on_watchdog(void *data)
{
    (void)data;
    sd_notify(0, "WATCHDOG=1");
}

/* The metrics endpoint, when metrics_listen is set: a failure to listen
 * stops start-up (an operator asked for it). */
static int start_metrics(const struct coordd_config *cfg,
                         struct node *node, struct metrics_http **out)
{
    const struct config_addr *a = &cfg->metrics_listen;
    char err[512];
    *out = NULL;
    if (a->host[0] == '\0')
        return 0;
    int rc = metrics_http_start(out, node_metrics(node), a->host, a->port,
                                err, sizeof(err));
    if (rc)
        log_emit(LOG_LEVEL_FATAL, "cannot serve metrics",
                 "addr=%s:%u msg=\"%s\" hint=\"%s\"", a->host, a->port,
                 err, "check metrics_listen (--metrics-listen); off "
                 "disables the endpoint");
    else
        log_emit(LOG_LEVEL_INFO, "metrics listening",
                 "addr=%s:%u path=/metrics", a->host,
                 metrics_http_port(*out));
    return rc;
}

static int run(const struct coordd_config *cfg, struct store *st)
{
    struct node_config nc;
    fill_node_config(cfg, &nc);
    nc.on_ready = on_ready;
    /* Under WatchdogSec=, systemd restarts us unless pinged: ping at half
     * the interval, from the loop's tick (a stuck loop stops pinging). */
    uint64_t wd_usec = 0;
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
        nc.watchdog_ms = (uint32_t)(wd_usec / 2000);
        if (nc.watchdog_ms == 0)
            nc.watchdog_ms = 1;
        nc.on_watchdog = on_watchdog;
    }
    char err[1024];
    struct node *node = NULL;
    int rc = node_open(&node, &nc, st, err, sizeof(err));
    if (rc) {
        log_emit(LOG_LEVEL_FATAL, "cannot load state", "err=%s msg=\"%s\"",
                 coord_errname(rc), err);
        return rc;
    }
    struct metrics_http *mh = NULL;
    if ((rc = start_metrics(cfg, node, &mh)) != 0) {
        node_close(node);
        return rc;
    }
    struct net_callbacks cb;
    node_net_callbacks(node, &cb);
    struct net_config netc = {
        .client_host = cfg->client_listen.host,
        .client_port = cfg->client_listen.port,
        .frame_max = nc.limits.frame_bytes_max,
        .conns_max = (uint32_t)cfg->conns_max,
        .out_bytes_max = COORDD_CONN_OUT_BYTES_MAX,
        .out_pause_bytes = COORDD_CONN_OUT_PAUSE_BYTES,
        .tick_ms = nc.tick_ms,
        .handle_signals = true,
        .peer_host = cfg->members.n ? cfg->peer_listen.host : NULL,
        .peer_port = cfg->peer_listen.port,
        .peer_out_bytes_max = COORDD_PEER_OUT_BYTES_MAX,
    };
    struct net *net = NULL;
    rc = net_init(&net, &netc, &cb, err, sizeof(err));
    if (rc) {
        log_emit(LOG_LEVEL_FATAL, "cannot listen", "addr=%s:%u msg=\"%s\"",
                 cfg->client_listen.host, cfg->client_listen.port, err);
        metrics_http_stop(mh);
        node_close(node);
        return rc;
    }
    rc = node_attach_net(node, net);
    if (rc) {
        log_emit(LOG_LEVEL_FATAL, "cannot set up peer links", "err=%s",
                 coord_errname(rc));
        node_stop_threads(node);
        net_close(net);
        metrics_http_stop(mh);
        node_close(node);
        return rc;
    }
    log_emit(LOG_LEVEL_INFO, "listening", "node=%llu client=%s:%u",
             (unsigned long long)cfg->node_id, cfg->client_listen.host,
             net_client_port(net));
    net_run(net);
    sd_notify(0, "STOPPING=1");
    node_stop_threads(node); /* the last fsync completes; no more wakeups */
    net_close(net);          /* closes every connection */
    metrics_http_stop(mh);   /* its thread reads the node's metrics */
    node_close(node);
    log_emit(LOG_LEVEL_INFO, "stopped", NULL);
    return 0;
}

/* `coordd --restore-snapshot FILE [flags]` (first on the command line):
 * a new data directory from a snapshot file, then exit (restore.c). */
static int restore(const struct coordd_config *cfg, struct store *st,
                   const char *file)
{
    struct node_config nc;
    fill_node_config(cfg, &nc);
    struct node_restore_info ri;
    char err[1024];
    int rc = node_restore_snapshot(&nc, st, file, &ri, err, sizeof(err));
    if (rc) {
        log_emit(LOG_LEVEL_FATAL, "restore failed", "file=%s err=%s "
                 "msg=\"%s\"", file, coord_errname(rc), err);
        return rc;
    }
    log_emit(LOG_LEVEL_INFO, "restored", "file=%s dir=%s index=%llu "
             "nodes=%llu sessions=%u digest=0x%016llx", file, cfg->data_dir,
             (unsigned long long)ri.index, (unsigned long long)ri.nodes,
             ri.sessions, (unsigned long long)ri.digest);
    printf("restored %s into %s: zxid 0x%llx, %llu nodes, digest "
           "0x%016llx\n", file, cfg->data_dir, (unsigned long long)ri.index,
           (unsigned long long)ri.nodes, (unsigned long long)ri.digest);
    return 0;
}

int main(int argc, char **argv)
{
    static struct coordd_config cfg;
    enum config_action action;
    char err[CONFIG_ERR_BYTES];
    const char *restore_file = NULL;
    if (argc >= 3 && strcmp(argv[1], "--restore-snapshot") == 0) {
        restore_file = argv[2];
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    if (config_from_args(&cfg, argc, argv, &action, err, sizeof(err))) {
        fprintf(stderr, "coordd: %s\n", err);
        return 2;
    }
    if (action == CONFIG_ACTION_HELP) {
        config_print_help(stdout, argv[0]);
        printf("\nOffline restore (docs/operations.md, Backup and restore):\n"
               "  %s --restore-snapshot FILE [flags]\n"
               "        Creates the (new, empty) --data-dir from FILE, a\n"
               "        `coordctl snapshot save` file, for this node and\n"
               "        members, then exits.\n", argv[0]);
        return 0;
    }
    if (action == CONFIG_ACTION_PRINT_EXAMPLE) {
        config_defaults(&cfg);
        config_print_ini(stdout, &cfg, true);
        return 0;
    }
    if (action == CONFIG_ACTION_CHECK) {
        config_print_ini(stdout, &cfg, false);
        return 0;
    }
    log_set_level(cfg.log_level);
    if (config_test_mode(&cfg))
        log_emit(LOG_LEVEL_WARN, "test-only options are set",
                 "power_loss=%d clock_offset_ms=%lld", cfg.test_power_loss,
                 (long long)cfg.test_clock_offset_ms);
    if (coord_auth_init() != 0) {
        log_emit(LOG_LEVEL_FATAL, "libsodium failed to initialise", NULL);
        return 1;
    }
    struct store_options so = {.cluster_id = cluster_hash(cfg.cluster_id),
                               .node_id = cfg.node_id,
                               .power_loss = cfg.test_power_loss,
                               .rocks_log = !cfg.log_segments,
                               .log_segment_bytes = cfg.log_segment_bytes,
                               .log_spare_chunk_bytes =
                                   cfg.log_spare_chunk_bytes};
    static struct store st;
    int rc = store_open_rocks(&st, cfg.data_dir, &so);
    if (rc) {
        log_emit(LOG_LEVEL_FATAL, "cannot open data directory",
                 "dir=%s cluster_id=%s node_id=%llu err=%s msg=\"%s\" "
                 "hint=\"%s\"", cfg.data_dir, cfg.cluster_id,
                 (unsigned long long)cfg.node_id, coord_errname(rc),
                 st.errmsg,
                 rc == COORD_EINVAL && strstr(st.errmsg, " id ")
                     ? "this directory belongs to another cluster or node "
                       "(cluster ids are stored hashed): check --cluster-id"
                       " and --node-id, or point --data-dir elsewhere"
                     : "see msg; the directory is never overwritten");
        return 1;
    }
    rc = restore_file ? restore(&cfg, &st, restore_file) : run(&cfg, &st);
    store_close(&st);
    return rc ? 1 : 0;
}
