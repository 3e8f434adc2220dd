/* test_config.c -- unit tests for coordd/config.c: defaults are valid, every
 * option can be set from an INI file and from a flag, flags override the
 * file, every bound and cross-option rule is enforced with a message that
 * names the option, bad members lists and unknown keys are rejected, and the
 * committed deploy/coordd.conf.example, docs/configuration.md option table
 * and systemd LimitNOFILE= agree with the option table.
 *
 * Run from the repository root (make test does). With
 *   test_config --write deploy/coordd.conf.example docs/configuration.md
 * it regenerates those two files instead of testing (make config-files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"
#include "coordd/config.h"
#include "coordd/limits.h"

#define EXAMPLE_PATH "deploy/coordd.conf.example"
#define DOCS_PATH "docs/configuration.md"
#define DOCS_BEGIN "<!-- BEGIN GENERATED OPTIONS (make config-files) -->\n"
#define DOCS_END "<!-- END GENERATED OPTIONS -->\n"

static char err[CONFIG_ERR_BYTES];

/* ---- helpers ---------------------------------------------------------- */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0, n;
    do {
        if (len + 4096 + 1 > cap) {
            cap = cap * 2 + 8192;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Captures what fn prints. */
static char *capture_example(void)
{
    struct coordd_config def;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    config_defaults(&def);
    config_print_ini(f, &def, true);
    fclose(f);
    return out;
}

static char *capture_markdown(void)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    config_print_markdown(f);
    fclose(f);
    return out;
}

static const struct config_opt *opt(const char *key)
{
    const struct config_opt *o = config_find(key);
    assert_non_null(o);
    return o;
}

static const char *value_of(const struct coordd_config *cfg, const char *key)
{
    static char buf[CONFIG_MEMBERS_TEXT_BYTES];
    assert_true(config_format_value(cfg, opt(key), buf, sizeof(buf)) >= 0);
    return buf;
}

/* A valid value for o that differs from its default; all of them together
 * also pass config_validate(). */
static const char *test_value(const struct config_opt *o, char *buf,
                              size_t cap)
{
    switch (o->type) {
    case CONFIG_T_UINT:
    case CONFIG_T_INT:
        snprintf(buf, cap, "%lld",
                 (long long)(o->def_num + 1 <= o->max ? o->def_num + 1
                                                      : o->def_num - 1));
        return buf;
    case CONFIG_T_BOOL:
        return o->def_num ? "false" : "true";
    case CONFIG_T_NAME:
        return "test-cluster.7";
    case CONFIG_T_PATH:
        return "/tmp/coord test dir";
    case CONFIG_T_ADDR:
        return strcmp(o->key, "client_listen") == 0 ? "10.1.2.3:4001"
                                                    : "[::1]:4002";
    case CONFIG_T_ADDROFF:
        return "127.0.0.9:9100";
    case CONFIG_T_MEMBERS:
        return "1@127.0.0.1:2281:2282,2@127.0.0.2:2281:2282";
    case CONFIG_T_LEVEL:
        return "debug";
    }
    fail();
    return NULL;
}

static void check_all_test_values(const struct coordd_config *cfg,
                                  enum config_source src)
{
    char buf[64];
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        const struct config_opt *o = &config_opts[i];
        const char *want = strcmp(o->key, "node_id") == 0
                               ? "2"
                               : test_value(o, buf, sizeof(buf));
        assert_string_equal(value_of(cfg, o->key), want);
        assert_int_equal(cfg->source[i], src);
    }
}

/* ---- the table and its defaults ----------------------------------------- */
static void table_is_sane(void **state)
{
    (void)state;
    static const char *const sections[] = {
        "node", "cluster", "raft", "sessions", "limits", "metrics", "log",
        "test"};
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        const struct config_opt *o = &config_opts[i];
        bool known = false;
        for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
            known |= strcmp(o->section, sections[s]) == 0;
        assert_true(known);
        assert_true(strlen(o->help) > 10);
        if (o->type <= CONFIG_T_PATH)
            assert_true(o->min <= o->max);
        for (size_t j = i + 1; j < CONFIG_OPTS_N; j++)
            assert_string_not_equal(o->key, config_opts[j].key);
        /* Test-only options say so in their first words. */
        if (strcmp(o->section, "test") == 0) {
            assert_int_equal(strncmp(o->help, "TEST ONLY", 9), 0);
            assert_int_equal(strncmp(o->key, "test_", 5), 0);
        }
        assert_ptr_equal(config_find(o->key), o);
    }
    assert_ptr_equal(config_find("tick-ms"), &config_opts[CONFIG_OPT_tick_ms]);
    assert_null(config_find("tick"));
    assert_null(config_find(""));
}

static void defaults_are_valid(void **state)
{
    (void)state;
    struct coordd_config c;
    config_defaults(&c);
    assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
    assert_int_equal(c.node_id, 1);
    assert_string_equal(c.data_dir, "./coordd-data");
    assert_string_equal(c.cluster_id, "coord");
    assert_string_equal(c.client_listen.host, "127.0.0.1");
    assert_int_equal(c.client_listen.port, 2281);
    assert_string_equal(c.peer_listen.host, "127.0.0.1");
    assert_int_equal(c.peer_listen.port, 2282);
    assert_string_equal(c.metrics_listen.host, ""); /* off */
    assert_int_equal(c.members.n, 0);
    assert_null(config_self(&c));
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);
    assert_true(c.pre_vote);
    assert_true(c.check_quorum);
    assert_false(config_test_mode(&c));
    /* Defaults are the named constants. */
    assert_int_equal(c.tick_ms, COORDD_TICK_MS);
    assert_int_equal(c.heartbeat_ticks, COORDD_HEARTBEAT_TICKS);
    assert_int_equal(c.election_ticks, COORDD_ELECTION_TICKS);
    assert_int_equal(c.inflight_msgs_max, COORDD_INFLIGHT_MSGS_MAX);
    assert_int_equal(c.append_bytes_max, COORDD_APPEND_BYTES_MAX);
    assert_int_equal(c.uncommitted_bytes_max, COORDD_UNCOMMITTED_BYTES_MAX);
    assert_int_equal(c.snapshot_entries, COORDD_SNAPSHOT_ENTRIES);
    assert_int_equal(c.snapshot_chunk_bytes, COORDD_SNAPSHOT_CHUNK_BYTES);
    assert_int_equal(c.session_timeout_ms_min, COORDD_SESSION_TIMEOUT_MS_MIN);
    assert_int_equal(c.session_timeout_ms_max, COORDD_SESSION_TIMEOUT_MS_MAX);
    assert_int_equal(c.client_ping_ms, COORDD_CLIENT_PING_MS);
    assert_int_equal(c.client_idle_ms, COORDD_CLIENT_IDLE_MS);
    assert_int_equal(c.watch_history_max, COORDD_WATCH_HISTORY_MAX);
    assert_int_equal(c.frame_bytes_max, COORD_FRAME_BYTES_MAX);
    assert_int_equal(c.data_bytes_max, COORD_DATA_BYTES_MAX);
    assert_int_equal(c.path_bytes_max, COORD_PATH_BYTES_MAX);
    assert_int_equal(c.multi_ops_max, COORD_MULTI_OPS_MAX);
    assert_int_equal(c.children_page_max, COORD_CHILDREN_PAGE_MAX);
    assert_int_equal(c.conns_max, COORDD_CONNS_MAX);
    assert_int_equal(c.conn_inflight_max, COORDD_CONN_INFLIGHT_MAX);
    assert_int_equal(c.sessions_max, COORDD_SESSIONS_MAX);
    assert_int_equal(c.watches_per_session_max,
                     COORDD_WATCHES_PER_SESSION_MAX);
    assert_int_equal(c.nodes_max, COORDD_NODES_MAX);
    assert_int_equal(c.children_max, COORDD_CHILDREN_MAX);
    assert_int_equal(c.log_rate_per_sec, COORDD_LOG_RATE_PER_SEC);
    assert_false(c.test_power_loss);
    assert_int_equal(c.test_clock_offset_ms, 0);
    for (size_t i = 0; i < CONFIG_OPTS_N; i++)
        assert_int_equal(c.source[i], CONFIG_SRC_DEFAULT);

    /* No arguments at all: the same configuration. */
    struct coordd_config d;
    enum config_action a;
    char *argv[] = {"coordd", NULL};
    assert_int_equal(config_from_args(&d, 1, argv, &a, err, sizeof(err)), 0);
    assert_int_equal(a, CONFIG_ACTION_RUN);
    assert_memory_equal(&c, &d, sizeof(c));
}

/* ---- every option from INI and from flags ------------------------------ */
static char *all_options_ini(void)
{
    static char ini[16384];
    char buf[64];
    size_t n = 0;
    const char *sec = "";
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        const struct config_opt *o = &config_opts[i];
        if (strcmp(sec, o->section) != 0) {
            sec = o->section;
            n += (size_t)snprintf(ini + n, sizeof(ini) - n, "\n[%s]\n", sec);
        }
        const char *v = strcmp(o->key, "node_id") == 0
                            ? "2"
                            : test_value(o, buf, sizeof(buf));
        n += (size_t)snprintf(ini + n, sizeof(ini) - n, "%s = %s\n", o->key,
                              v);
    }
    assert_true(n < sizeof(ini));
    return ini;
}

static void every_option_by_ini(void **state)
{
    (void)state;
    struct coordd_config c;
    config_defaults(&c);
    int rc = config_load_string(&c, all_options_ini(), "all.ini", err,
                                sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
    check_all_test_values(&c, CONFIG_SRC_FILE);
    assert_true(config_test_mode(&c));
    assert_int_equal(c.members.n, 2);
    assert_int_equal(config_self(&c)->id, 2);
    assert_string_equal(c.peer_listen.host, "::1");
}

static void every_option_by_flag(void **state)
{
    (void)state;
    static char args[CONFIG_OPTS_N][128];
    static char vals[CONFIG_OPTS_N][64];
    char *argv[2 * CONFIG_OPTS_N + 2];
    int argc = 0;
    argv[argc++] = "coordd";
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        const struct config_opt *o = &config_opts[i];
        const char *v = strcmp(o->key, "node_id") == 0
                            ? "2"
                            : test_value(o, vals[i], sizeof(vals[i]));
        /* Flags use '-' for '_'; every other one uses "--key value". */
        int n = snprintf(args[i], sizeof(args[i]), "--%s", o->key);
        for (char *p = args[i]; *p; p++)
            if (*p == '_')
                *p = '-';
        if (i % 2 == 0 || o->type == CONFIG_T_BOOL) {
            snprintf(args[i] + n, sizeof(args[i]) - (size_t)n, "=%s", v);
            argv[argc++] = args[i];
        } else {
            argv[argc++] = args[i];
            argv[argc++] = (char *)v;
        }
    }
    argv[argc] = NULL;
    struct coordd_config c;
    enum config_action a;
    int rc = config_from_args(&c, argc, argv, &a, err, sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(a, CONFIG_ACTION_RUN);
    check_all_test_values(&c, CONFIG_SRC_FLAG);
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/coord_test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void flags_override_file(void **state)
{
    (void)state;
    char *path = write_tmp("[raft]\ntick_ms = 20\n[node]\n"
                           "data_dir = /srv/coord\nnode_id = 3\n");
    char cfgflag[96];
    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", path);
    /* The flag comes before --config and still wins. */
    char *argv[] = {"coordd", "--tick-ms=30", cfgflag, "--node_id", "4",
                    "--node-id=5", NULL};
    struct coordd_config c;
    enum config_action a;
    assert_int_equal(config_from_args(&c, 6, argv, &a, err, sizeof(err)), 0);
    assert_int_equal(c.tick_ms, 30);
    assert_int_equal(c.source[CONFIG_OPT_tick_ms], CONFIG_SRC_FLAG);
    assert_string_equal(c.data_dir, "/srv/coord");
    assert_int_equal(c.source[CONFIG_OPT_data_dir], CONFIG_SRC_FILE);
    assert_int_equal(c.node_id, 5); /* the last flag wins */
    assert_string_equal(c.config_path, path);
    assert_int_equal(c.heartbeat_ticks, COORDD_HEARTBEAT_TICKS);

    /* --config FILE, two-argument form; --check-config. */
    char *argv2[] = {"coordd", "--config", path, "--check-config", NULL};
    assert_int_equal(config_from_args(&c, 4, argv2, &a, err, sizeof(err)), 0);
    assert_int_equal(a, CONFIG_ACTION_CHECK);
    assert_int_equal(c.tick_ms, 20);
    unlink(path);

    /* A NUL byte is an error with its line; so is a directory. */
    path = write_tmp("[raft]\ntick_ms = 20\n");
    FILE *f = fopen(path, "a");
    fputs("[node]\nnode_id", f);
    fputc('\0', f);
    fputs(" = 3\n", f);
    fclose(f);
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)),
                     COORD_EINVAL);
    assert_non_null(strstr(err, ":4: NUL byte"));
    unlink(path);
    assert_int_not_equal(config_load_file(&c, "/tmp", err, sizeof(err)), 0);

    /* A missing file is an I/O error naming the file. */
    char *argv3[] = {"coordd", "--config=/nonexistent/coordd.conf", NULL};
    assert_int_equal(config_from_args(&c, 2, argv3, &a, err, sizeof(err)),
                     COORD_EIO);
    assert_non_null(strstr(err, "/nonexistent/coordd.conf"));
}

static void actions(void **state)
{
    (void)state;
    struct coordd_config c;
    enum config_action a;
    char *help[] = {"coordd", "--tick-ms=0", "--help", NULL};
    /* --help wins even over bad flags. */
    assert_int_equal(config_from_args(&c, 3, help, &a, err, sizeof(err)), 0);
    assert_int_equal(a, CONFIG_ACTION_HELP);
    char *h[] = {"coordd", "-h", NULL};
    assert_int_equal(config_from_args(&c, 2, h, &a, err, sizeof(err)), 0);
    assert_int_equal(a, CONFIG_ACTION_HELP);
    char *ex[] = {"coordd", "--print-example-config",
                  "--config=/nonexistent", NULL};
    assert_int_equal(config_from_args(&c, 3, ex, &a, err, sizeof(err)), 0);
    assert_int_equal(a, CONFIG_ACTION_PRINT_EXAMPLE);
    char *bad[] = {"coordd", "--check-config=yes", NULL};
    assert_int_equal(config_from_args(&c, 2, bad, &a, err, sizeof(err)),
                     COORD_EINVAL);
    char *pos[] = {"coordd", "extra", NULL};
    assert_int_equal(config_from_args(&c, 2, pos, &a, err, sizeof(err)),
                     COORD_EINVAL);
    assert_non_null(strstr(err, "extra"));
    char *dash[] = {"coordd", "-t", NULL};
    assert_int_equal(config_from_args(&c, 2, dash, &a, err, sizeof(err)),
                     COORD_EINVAL);
    char *end[] = {"coordd", "--tick-ms=7", "--", NULL};
    assert_int_equal(config_from_args(&c, 3, end, &a, err, sizeof(err)), 0);
    assert_int_equal(c.tick_ms, 7);
    char *after[] = {"coordd", "--", "--tick-ms=7", NULL};
    assert_int_equal(config_from_args(&c, 3, after, &a, err, sizeof(err)),
                     COORD_EINVAL);
    char *noval[] = {"coordd", "--tick-ms", NULL};
    assert_int_equal(config_from_args(&c, 2, noval, &a, err, sizeof(err)),
                     COORD_EINVAL);
    assert_non_null(strstr(err, "--tick-ms needs a value"));
    char *nocfg[] = {"coordd", "--config", NULL};
    assert_int_equal(config_from_args(&c, 2, nocfg, &a, err, sizeof(err)),
                     COORD_EINVAL);
}

/* ---- bounds ---------------------------------------------------------------- */
static void expect_bad(const char *key, const char *value, const char *want1,
                       const char *want2)
{
    struct coordd_config c;
    config_defaults(&c);
    int rc = config_set(&c, key, value, CONFIG_SRC_FLAG, err, sizeof(err));
    if (rc != COORD_EINVAL)
        print_error("%s = \"%s\" accepted\n", key, value);
    assert_int_equal(rc, COORD_EINVAL);
    if (strstr(err, key) == NULL || strstr(err, want1) == NULL ||
        (want2 && strstr(err, want2) == NULL))
        print_error("message \"%s\" lacks %s/%s/%s\n", err, key, want1,
                    want2 ? want2 : "");
    assert_non_null(strstr(err, key));
    assert_non_null(strstr(err, want1));
    if (want2)
        assert_non_null(strstr(err, want2));
}

static void every_bound_enforced(void **state)
{
    (void)state;
    char v[64], lo[64], hi[64], range[160];
    struct coordd_config c;
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        const struct config_opt *o = &config_opts[i];
        snprintf(lo, sizeof(lo), "%lld", (long long)o->min);
        snprintf(hi, sizeof(hi), "%lld", (long long)o->max);
        snprintf(range, sizeof(range), "%s..%s", lo, hi);
        if (o->type == CONFIG_T_UINT || o->type == CONFIG_T_INT) {
            if (o->min > INT64_MIN && !(o->type == CONFIG_T_UINT &&
                                        o->min == 0)) {
                snprintf(v, sizeof(v), "%lld", (long long)o->min - 1);
                expect_bad(o->key, v, v, range);
            }
            if (o->max < INT64_MAX) {
                snprintf(v, sizeof(v), "%lld", (long long)o->max + 1);
                expect_bad(o->key, v, v, range);
            }
            /* The bounds themselves are accepted. */
            config_defaults(&c);
            assert_int_equal(config_set(&c, o->key, lo, CONFIG_SRC_FLAG, err,
                                        sizeof(err)), 0);
            assert_string_equal(value_of(&c, o->key), lo);
            assert_int_equal(config_set(&c, o->key, hi, CONFIG_SRC_FLAG, err,
                                        sizeof(err)), 0);
            assert_string_equal(value_of(&c, o->key), hi);
            expect_bad(o->key, "12x", "12x", range);
            expect_bad(o->key, "", "\"\"", range);
            expect_bad(o->key, " 1", " 1", NULL);
            expect_bad(o->key, "99999999999999999999", "9999", NULL);
        } else if (o->type == CONFIG_T_NAME || o->type == CONFIG_T_PATH) {
            char big[CONFIG_PATH_BYTES + 8];
            memset(big, 'a', (size_t)o->max + 1);
            big[o->max + 1] = '\0';
            expect_bad(o->key, big, range, "aaaa");
            memset(big, 'a', (size_t)o->max);
            big[o->max] = '\0';
            config_defaults(&c);
            assert_int_equal(config_set(&c, o->key, big, CONFIG_SRC_FLAG, err,
                                        sizeof(err)), 0);
            expect_bad(o->key, "", range, NULL);
            expect_bad(o->key, "a\tb", "not allowed", NULL);
        }
    }
    expect_bad("cluster_id", "has space", "not allowed", NULL);
    expect_bad("cluster_id", "a/b", "not allowed", NULL);
    expect_bad("pre_vote", "maybe", "maybe", "true or false");
    expect_bad("log_level", "verbose", "verbose", "debug, info");
    expect_bad("client_listen", "", "empty", NULL);
    expect_bad("client_listen", "127.0.0.1:0", "1..65535", NULL);
    expect_bad("client_listen", "127.0.0.1:65536", "65536", NULL);
    expect_bad("client_listen", "300.1.1.1", "300.1.1.1", NULL);
    expect_bad("peer_listen", "::1", "brackets", NULL);
    expect_bad("peer_listen", "[::1", "IPv6", NULL);
    expect_bad("peer_listen", "[zz::1]:5", "zz::1", NULL);
    expect_bad("peer_listen", "host:5x", "5x", NULL);
    expect_bad("metrics_listen", "bad_host", "bad_host", NULL);
    /* Byte counts take binary suffixes; other units do not. */
    config_defaults(&c);
    assert_int_equal(config_set(&c, "append_bytes_max", "512KiB",
                                CONFIG_SRC_FLAG, err, sizeof(err)), 0);
    assert_int_equal(c.append_bytes_max, 512 * 1024);
    assert_int_equal(config_set(&c, "data-bytes-max", "1MiB",
                                CONFIG_SRC_FLAG, err, sizeof(err)), 0);
    assert_int_equal(c.data_bytes_max, 1024 * 1024);
    expect_bad("append_bytes_max", "1.5MiB", "1.5MiB", NULL);
    expect_bad("append_bytes_max", "4GiB", "4294967296", "out of range");
    expect_bad("tick_ms", "1KiB", "1KiB", NULL);
    expect_bad("test_clock_offset_ms", "--5", "--5", NULL);
    assert_int_equal(config_set(&c, "test_clock_offset_ms", "-5",
                                CONFIG_SRC_FLAG, err, sizeof(err)), 0);
    assert_int_equal(c.test_clock_offset_ms, -5);
    expect_bad("node_id", "-1", "-1", NULL);
    /* Other accepted spellings. */
    assert_int_equal(config_set(&c, "metrics_listen", "0.0.0.0",
                                CONFIG_SRC_FLAG, err, sizeof(err)), 0);
    assert_string_equal(value_of(&c, "metrics_listen"), "0.0.0.0:2283");
    assert_int_equal(config_set(&c, "metrics_listen", "off",
                                CONFIG_SRC_FLAG, err, sizeof(err)), 0);
    assert_string_equal(value_of(&c, "metrics_listen"), "");
    assert_int_equal(config_set(&c, "client_listen", "db-1.example.com",
                                CONFIG_SRC_FLAG, err, sizeof(err)), 0);
    assert_string_equal(value_of(&c, "client_listen"),
                        "db-1.example.com:2281");
    const char *yes[] = {"yes", "on", "1", "true"};
    const char *no[] = {"no", "off", "0", "false"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(config_set(&c, "pre_vote", no[i], CONFIG_SRC_FLAG,
                                    err, sizeof(err)), 0);
        assert_false(c.pre_vote);
        assert_int_equal(config_set(&c, "pre_vote", yes[i], CONFIG_SRC_FLAG,
                                    err, sizeof(err)), 0);
        assert_true(c.pre_vote);
    }
}

/* A bound hit from a file names the file, line, option and value. */
static void bound_message_from_file(void **state)
{
    (void)state;
    struct coordd_config c;
    config_defaults(&c);
    assert_int_equal(config_load_string(&c, "[raft]\n\ntick_ms = 5000\n",
                                        "my.conf", err, sizeof(err)),
                     COORD_EINVAL);
    assert_string_equal(err, "my.conf:3: tick_ms = 5000 is out of range "
                             "1..1000 ms");
    char *argv[] = {"coordd", "--tick-ms=0", NULL};
    enum config_action a;
    assert_int_equal(config_from_args(&c, 2, argv, &a, err, sizeof(err)),
                     COORD_EINVAL);
    assert_string_equal(err, "--tick-ms: tick_ms = 0 is out of range "
                             "1..1000 ms");
}

/* ---- rules between options ------------------------------------------------ */
static void expect_rule(const char *const *kv, const char *w1,
                        const char *w2)
{
    struct coordd_config c;
    config_defaults(&c);
    for (; kv[0] != NULL; kv += 2)
        assert_int_equal(config_set(&c, kv[0], kv[1], CONFIG_SRC_FLAG, err,
                                    sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), COORD_EINVAL);
    if (strstr(err, w1) == NULL || strstr(err, w2) == NULL)
        print_error("\"%s\" lacks %s / %s\n", err, w1, w2);
    assert_non_null(strstr(err, w1));
    assert_non_null(strstr(err, w2));
}

static void cross_rules(void **state)
{
    (void)state;
    expect_rule((const char *[]){"election_ticks", "10", NULL},
                "election_ticks (10)", "heartbeat_ticks");
    expect_rule((const char *[]){"frame_bytes_max", "1052000", NULL},
                "frame_bytes_max (1052000)", "data_bytes_max");
    expect_rule((const char *[]){"frame_bytes_max", "1MiB",
                                 "data_bytes_max", "64KiB", NULL},
                "append_bytes_max", "frame_bytes_max");
    expect_rule((const char *[]){"frame_bytes_max", "1MiB",
                                 "data_bytes_max", "64KiB",
                                 "append_bytes_max", "512KiB", NULL},
                "snapshot_chunk_bytes", "frame_bytes_max");
    expect_rule((const char *[]){"uncommitted_bytes_max", "65536", NULL},
                "uncommitted_bytes_max (65536)", "append_bytes_max");
    expect_rule((const char *[]){"session_timeout_ms_min", "5000",
                                 "session_timeout_ms_max", "4000", NULL},
                "session_timeout_ms_min (5000)", "session_timeout_ms_max");
    expect_rule((const char *[]){"tick_ms", "100", NULL},
                "session_timeout_ms_min (1000)", "election_ticks");
    expect_rule((const char *[]){"client_ping_ms", "600", NULL},
                "client_ping_ms (600)", "client_idle_ms");
    expect_rule((const char *[]){"children_max", "20", "nodes_max", "10",
                                 NULL},
                "children_max (20)", "nodes_max");
    expect_rule((const char *[]){"peer_listen", "127.0.0.1:2281", NULL},
                "client_listen", "peer_listen");
    expect_rule((const char *[]){"metrics_listen", "127.0.0.1:2282", NULL},
                "metrics_listen", "peer_listen");
    expect_rule((const char *[]){"members", "2@10.0.0.2:1:2", NULL},
                "node_id 1", "members");
}

/* ---- members -------------------------------------------------------------- */
static void members_lists(void **state)
{
    (void)state;
    struct config_members m;
    static const char *const bad[] = {
        "1@a:1",           "x@a:1:2",          "0@a:1:2",
        "1a:1:2",          "1@a:1:2,1@b:1:2",  "1@a:1:2,2@a:1:3",
        "1@a:1:2,2@a:3:1", "1@a:1:1",          "1@0.0.0.0:1:2",
        "1@[::]:1:2",      "1@a:0:2",          "1@a:1:70000",
        "1@:1:2",          "1@a..b:1:2",       "1@-a:1:2",
        "1@a-:1:2",        "1@a:1:2,",         ",1@a:1:2",
        "1@a:1:2,,2@b:1:2", "1@[::1:1:2",      "1@256.1.1.1:1:2",
        "1@fe80::1:1:2",   "1@a:1:2:3",        "1@a_b:1:2",
        "1@a:1:2 2@b:1:2", "99999999999999999999@a:1:2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = config_parse_members(bad[i], &m, err, sizeof(err));
        if (rc != COORD_EINVAL)
            print_error("accepted: %s\n", bad[i]);
        assert_int_equal(rc, COORD_EINVAL);
        assert_true(strlen(err) > 0);
    }
    /* 17 members: one too many. */
    char many[2048];
    size_t n = 0;
    for (int i = 1; i <= COORDD_MEMBERS_MAX + 1; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%s%d@10.0.0.%d:1:2",
                              i > 1 ? "," : "", i, i);
    assert_int_equal(config_parse_members(many, &m, err, sizeof(err)),
                     COORD_EINVAL);
    assert_non_null(strstr(err, "more than 16"));
    many[strlen(many) - strlen(",17@10.0.0.17:1:2")] = '\0';
    assert_int_equal(config_parse_members(many, &m, err, sizeof(err)), 0);
    assert_int_equal(m.n, COORDD_MEMBERS_MAX);

    assert_int_equal(config_parse_members(" 1@127.0.0.1:2281:2282 ,\n"
                                          "2@[::1]:7:8, 3@node-3.lan:9:10 ",
                                          &m, err, sizeof(err)), 0);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.m[0].id, 1);
    assert_string_equal(m.m[0].client.host, "127.0.0.1");
    assert_int_equal(m.m[0].client.port, 2281);
    assert_string_equal(m.m[0].peer.host, "127.0.0.1");
    assert_int_equal(m.m[0].peer.port, 2282);
    assert_string_equal(m.m[1].peer.host, "::1");
    assert_int_equal(m.m[1].peer.port, 8);
    assert_string_equal(m.m[2].client.host, "node-3.lan");
    assert_int_equal(config_parse_members("", &m, err, sizeof(err)), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(config_parse_members("  ", &m, err, sizeof(err)), 0);

    /* The message names the entry and what is wrong with it. */
    struct coordd_config c;
    config_defaults(&c);
    assert_int_equal(config_set(&c, "members", "1@a:1:2,2@b:1", CONFIG_SRC_FLAG,
                                err, sizeof(err)), COORD_EINVAL);
    assert_non_null(strstr(err, "members"));
    assert_non_null(strstr(err, "entry 2"));
    assert_non_null(strstr(err, "2@b:1"));
}

static void members_set_listen_addresses(void **state)
{
    (void)state;
    const char *members = "--members=1@127.0.0.1:2281:2282,"
                          "2@127.0.0.2:2281:2282,3@127.0.0.3:2281:2282";
    char *argv[] = {"coordd", "--node-id=2", (char *)members, NULL};
    struct coordd_config c;
    enum config_action a;
    assert_int_equal(config_from_args(&c, 3, argv, &a, err, sizeof(err)), 0);
    assert_int_equal(c.members.n, 3);
    assert_int_equal(config_self(&c)->id, 2);
    assert_string_equal(value_of(&c, "client_listen"), "127.0.0.2:2281");
    assert_string_equal(value_of(&c, "peer_listen"), "127.0.0.2:2282");
    /* Explicit addresses are kept. */
    char *argv2[] = {"coordd", "--node-id=3", (char *)members,
                     "--peer-listen=0.0.0.0", NULL};
    assert_int_equal(config_from_args(&c, 4, argv2, &a, err, sizeof(err)), 0);
    assert_string_equal(value_of(&c, "client_listen"), "127.0.0.3:2281");
    assert_string_equal(value_of(&c, "peer_listen"), "0.0.0.0:2282");
}

/* ---- INI syntax and unknown names ------------------------------------------- */
static void expect_ini_error(const char *text, const char *w1, const char *w2)
{
    struct coordd_config c;
    config_defaults(&c);
    int rc = config_load_string(&c, text, "t.ini", err, sizeof(err));
    if (rc != COORD_EINVAL || strstr(err, w1) == NULL ||
        (w2 && strstr(err, w2) == NULL))
        print_error("rc %d \"%s\" for:\n%s\n", rc, err, text);
    assert_int_equal(rc, COORD_EINVAL);
    assert_non_null(strstr(err, w1));
    if (w2)
        assert_non_null(strstr(err, w2));
}

static void unknown_names_rejected(void **state)
{
    (void)state;
    expect_ini_error("[raft]\ntick_mss = 3\n", "t.ini:2: unknown option",
                     "did you mean tick_ms?");
    expect_ini_error("[raft]\nzzzzzzzz = 3\n", "unknown option \"zzzzzzzz\"",
                     NULL);
    assert_null(strstr(err, "did you mean"));
    expect_ini_error("[raft]\ntick_ms = 3\n[rafts]\nx = 1\n",
                     "t.ini:4: unknown section [rafts]", NULL);
    expect_ini_error("tick_ms = 3\n", "t.ini:1: tick_ms belongs in [raft]",
                     NULL);
    expect_ini_error("[node]\n\n; comment\ntick_ms = 3\n",
                     "t.ini:4: tick_ms belongs in [raft], not [node]", NULL);

    struct coordd_config c;
    enum config_action a;
    char *argv[] = {"coordd", "--tick-mz=3", NULL};
    assert_int_equal(config_from_args(&c, 2, argv, &a, err, sizeof(err)),
                     COORD_EINVAL);
    assert_non_null(strstr(err, "unknown flag --tick-mz"));
    assert_non_null(strstr(err, "did you mean --tick-ms?"));
    char *argv2[] = {"coordd", "--frobnicate", NULL};
    assert_int_equal(config_from_args(&c, 2, argv2, &a, err, sizeof(err)),
                     COORD_EINVAL);
    assert_null(strstr(err, "did you mean"));
    assert_int_equal(config_set(&c, "nodeid", "2", CONFIG_SRC_FLAG, err,
                                sizeof(err)), COORD_EINVAL);
    assert_non_null(strstr(err, "did you mean node_id?"));
}

static void ini_syntax(void **state)
{
    (void)state;
    expect_ini_error("[raft]\ntick_ms = 3\ntick_ms = 4\n",
                     "t.ini:3: tick_ms set twice (first on line 2)", NULL);
    expect_ini_error("[raft]\ntick_ms = 3\n  4\n",
                     "t.ini:3: indented line continues tick_ms", NULL);
    expect_ini_error("[raft]\ntick_ms = 3\nno equals sign\n",
                     "t.ini:3: syntax error", NULL);
    expect_ini_error("[raft\ntick_ms = 3\n", "t.ini:1: syntax error", NULL);
    char longline[600];
    snprintf(longline, sizeof(longline), "[cluster]\ncluster_id = %0500d\n",
             7);
    expect_ini_error(longline, "t.ini:2: line longer than", NULL);
    expect_ini_error("[raft]\ntick_ms = 9999\nbad line\n",
                     "t.ini:2: tick_ms = 9999", NULL);
    expect_ini_error("[cluster]\nmembers = 1@a:1:2,\n  1@b:1:2\n",
                     "t.ini:2: members", "appears twice");

    /* Comments, blanks, CRLF, inline comments and continuation lines. */
    struct coordd_config c;
    config_defaults(&c);
    int rc = config_load_string(
        &c,
        "# comment\r\n; another\r\n\r\n[node]\r\nnode_id = 2 ; inline\r\n"
        "[cluster]\nmembers =\n    1@127.0.0.1:2281:2282,\n"
        "    2@127.0.0.2:2281:2282\n    3@127.0.0.3:2281:2282\n"
        "[raft]\npre_vote = off\n",
        "ok.ini", err, sizeof(err));
    if (rc != 0)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(c.node_id, 2);
    assert_int_equal(c.members.n, 3);
    assert_string_equal(c.members.m[2].client.host, "127.0.0.3");
    assert_false(c.pre_vote);
    assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
}

/* ---- generated files --------------------------------------------------------- */
static void example_config_matches_table(void **state)
{
    (void)state;
    char *want = capture_example();
    char *have = read_file(EXAMPLE_PATH);
    if (have == NULL)
        print_error("cannot read %s: run from the repository root\n",
                    EXAMPLE_PATH);
    assert_non_null(have);
    if (strcmp(want, have) != 0)
        print_error("%s is stale: run `make config-files`\n", EXAMPLE_PATH);
    assert_string_equal(want, have);

    /* Uncommenting every option gives back exactly the defaults. */
    struct coordd_config def, c;
    config_defaults(&def);
    config_defaults(&c);
    size_t n = 0;
    for (char *p = have; *p; p++)
        if (p[0] == '#' && (p == have || p[-1] == '\n') && p[1] >= 'a' &&
            p[1] <= 'z') {
            p[0] = ' ';
            n++;
        }
    assert_int_equal(n, CONFIG_OPTS_N);
    /* The uncommented lines start with a blank: re-anchor them. */
    for (char *p = have; *p; p++)
        if (p[0] == ' ' && (p == have || p[-1] == '\n') && p[1] >= 'a' &&
            p[1] <= 'z')
            memmove(p, p + 1, strlen(p));
    assert_int_equal(config_load_string(&c, have, EXAMPLE_PATH, err,
                                        sizeof(err)), 0);
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        char a[256], b[256];
        config_format_value(&def, &config_opts[i], a, sizeof(a));
        config_format_value(&c, &config_opts[i], b, sizeof(b));
        assert_string_equal(a, b);
    }
    free(want);
    free(have);
}

static void docs_table_matches(void **state)
{
    (void)state;
    char *doc = read_file(DOCS_PATH);
    assert_non_null(doc);
    char *b = strstr(doc, DOCS_BEGIN);
    char *e = strstr(doc, DOCS_END);
    assert_non_null(b);
    assert_non_null(e);
    b += strlen(DOCS_BEGIN);
    assert_true(b <= e);
    *e = '\0';
    char *want = capture_markdown();
    if (strcmp(want, b) != 0)
        print_error("%s's option table is stale: run `make config-files`\n",
                    DOCS_PATH);
    assert_string_equal(want, b);
    free(want);
    free(doc);
}

/* Every ```ini block in the documentation loads and passes the checks. */
static void docs_examples_are_valid(void **state)
{
    (void)state;
    char *doc = read_file(DOCS_PATH);
    assert_non_null(doc);
    int blocks = 0;
    for (char *p = doc; (p = strstr(p, "```ini\n")) != NULL;) {
        p += strlen("```ini\n");
        char *end = strstr(p, "```");
        assert_non_null(end);
        *end = '\0';
        struct coordd_config c;
        config_defaults(&c);
        int rc = config_load_string(&c, p, "docs example", err, sizeof(err));
        if (rc == 0) {
            config_apply_members(&c);
            rc = config_validate(&c, err, sizeof(err));
        }
        if (rc != 0)
            print_error("%s in:\n%s\n", err, p);
        assert_int_equal(rc, 0);
        blocks++;
        p = end + 1;
    }
    assert_true(blocks >= 4);
    free(doc);
}

static void help_lists_every_flag(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    config_print_help(f, "coordd");
    fclose(f);
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        char flag[80];
        snprintf(flag, sizeof(flag), "  --%s=", config_opts[i].key);
        for (char *p = flag + 4; *p; p++)
            if (*p == '_')
                *p = '-';
        assert_non_null(strstr(out, flag));
    }
    assert_non_null(strstr(out, "--config=FILE"));
    for (char *p = out, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
        assert_true(nl - p <= 79);
    free(out);
}

/* The printed effective config parses back to the same values. */
static void printed_config_round_trips(void **state)
{
    (void)state;
    struct coordd_config c, d;
    config_defaults(&c);
    assert_int_equal(config_load_string(&c, all_options_ini(), "all.ini",
                                        err, sizeof(err)), 0);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    config_print_ini(f, &c, false);
    fclose(f);
    config_defaults(&d);
    assert_int_equal(config_load_string(&d, out, "printed", err, sizeof(err)),
                     0);
    for (size_t i = 0; i < CONFIG_OPTS_N; i++) {
        char a[256], b[256];
        config_format_value(&c, &config_opts[i], a, sizeof(a));
        config_format_value(&d, &config_opts[i], b, sizeof(b));
        assert_string_equal(a, b);
    }
    free(out);
}

/* LimitNOFILE= in the units covers the default connection limit plus the
 * reserve limits.h names. */
static void systemd_nofile_covers_connections(void **state)
{
    (void)state;
    const char *units[] = {"deploy/systemd/coordd.service",
                           "deploy/systemd/coordd@.service"};
    for (size_t i = 0; i < 2; i++) {
        char *u = read_file(units[i]);
        assert_non_null(u);
        char *l = strstr(u, "\nLimitNOFILE=");
        assert_non_null(l);
        long n = strtol(l + strlen("\nLimitNOFILE="), NULL, 10);
        assert_true(n >= COORDD_CONNS_MAX + COORDD_FDS_RESERVED);
        assert_non_null(strstr(u, "\nType=notify\n"));
        free(u);
    }
}

/* ---- --write: regenerate the committed files ------------------------------- */
static int write_files(const char *example, const char *docs)
{
    char *text = capture_example();
    FILE *f = fopen(example, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(example);
        return 1;
    }
    free(text);
    char *doc = read_file(docs);
    char *b = doc ? strstr(doc, DOCS_BEGIN) : NULL;
    char *e = doc ? strstr(doc, DOCS_END) : NULL;
    if (b == NULL || e == NULL || e < b) {
        fprintf(stderr, "%s: markers %s/%s missing\n", docs, DOCS_BEGIN,
                DOCS_END);
        return 1;
    }
    b += strlen(DOCS_BEGIN);
    text = capture_markdown();
    f = fopen(docs, "w");
    if (f == NULL) {
        perror(docs);
        return 1;
    }
    fwrite(doc, 1, (size_t)(b - doc), f);
    fputs(text, f);
    fputs(e, f);
    fclose(f);
    free(text);
    free(doc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--write") == 0)
        return write_files(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_is_sane),
        cmocka_unit_test(defaults_are_valid),
        cmocka_unit_test(every_option_by_ini),
        cmocka_unit_test(every_option_by_flag),
        cmocka_unit_test(flags_override_file),
        cmocka_unit_test(actions),
        cmocka_unit_test(every_bound_enforced),
        cmocka_unit_test(bound_message_from_file),
        cmocka_unit_test(cross_rules),
        cmocka_unit_test(members_lists),
        cmocka_unit_test(members_set_listen_addresses),
        cmocka_unit_test(unknown_names_rejected),
        cmocka_unit_test(ini_syntax),
        cmocka_unit_test(example_config_matches_table),
        cmocka_unit_test(docs_table_matches),
        cmocka_unit_test(docs_examples_are_valid),
        cmocka_unit_test(help_lists_every_flag),
        cmocka_unit_test(printed_config_round_trips),
        cmocka_unit_test(systemd_nofile_covers_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
