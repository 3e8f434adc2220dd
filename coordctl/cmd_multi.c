/* cmd_multi.c -- coordctl multi: parses operations written as
 * create[+e][+s]:PATH[=DATA], set:PATH=DATA[@V], delete:PATH[@V] and
 * check:PATH@V (from the arguments, or one per stdin line), submits them
 * as one all-or-nothing libcoord multi and prints one result per op.
 * Parses in place (arguments and a static stdin buffer); allocates
 * nothing itself. */
#include "ctl.h"

#include <inttypes.h>
#include <string.h>

struct ctl_mop {
    const char *kind; /* "create", "set", "delete", "check" */
    const char *path;
};

static struct ctl_mop ctl_mops[COORD_MULTI_OPS_MAX];
/* stdin for the line form: a multi is bounded by one frame anyway. */
static char ctl_multi_in[COORD_FRAME_BYTES_MAX + 1];

/* Splits "...@V" off s (length *n): on a valid version suffix, sets *v,
 * cuts s at the '@' and returns true. */
static bool ctl_split_version(char *s, size_t *n, int32_t *v)
{
    char *at = NULL;
    for (size_t i = *n; i > 0; i--) {
        if (s[i - 1] == '@') {
            at = s + i - 1;
            break;
        }
    }
    long val;
    if (at == NULL)
        return false;
    char save = s[*n];
    s[*n] = '\0';
    bool ok = ctl_parse_long(at + 1, -1, INT32_MAX, &val);
    s[*n] = save;
    if (!ok)
        return false;
    *v = (int32_t)val;
    *n = (size_t)(at - s);
    *at = '\0';
    return true;
}

/* Parses create modifiers "+e", "+s" after "create". */
static int ctl_create_mods(const char *mods, size_t n, int *mode)
{
    *mode = COORD_PERSISTENT;
    for (size_t i = 0; i < n; i += 2) {
        if (mods[i] != '+' || i + 1 >= n)
            return -1;
        if (mods[i + 1] == 'e')
            *mode |= COORD_EPHEMERAL;
        else if (mods[i + 1] == 's')
            *mode |= COORD_SEQUENTIAL;
        else
            return -1;
    }
    return 0;
}

/* Adds op text s (modified in place) to m; records kind and path in
 * *rec. Returns 0, an exit code for a usage error, or COORD_E* < 0. */
static int ctl_multi_add(struct coord_multi *m, char *s,
                         struct ctl_mop *rec)
{
    char *colon = strchr(s, ':');
    if (colon == NULL)
        return ctl_usage_error("multi op '%s' has no ':'", s);
    *colon = '\0';
    char *path = colon + 1;
    rec->path = path;
    char *eq = strchr(path, '=');
    const char *data = "";
    size_t dlen = 0;
    if (eq != NULL) {
        *eq = '\0';
        data = eq + 1;
        dlen = strlen(data);
    }
    size_t plen = strlen(path);
    int32_t v = -1;
    int mode;
    if (strncmp(s, "create", 6) == 0 &&
        ctl_create_mods(s + 6, strlen(s + 6), &mode) == 0) {
        rec->kind = "create";
        return coord_multi_create(m, path, data, dlen, mode, 0);
    }
    rec->kind = s;
    if (strcmp(s, "set") == 0 && eq != NULL) {
        ctl_split_version((char *)data, &dlen, &v);
        return coord_multi_set(m, path, data, dlen, v);
    }
    if (strcmp(s, "delete") == 0 && eq == NULL) {
        ctl_split_version(path, &plen, &v);
        return coord_multi_delete(m, path, v);
    }
    if (strcmp(s, "check") == 0 && eq == NULL &&
        ctl_split_version(path, &plen, &v))
        return coord_multi_check(m, path, v);
    return ctl_usage_error("bad multi op '%s:%s' (want create:PATH[=DATA], "
                           "set:PATH=DATA[@V], delete:PATH[@V], "
                           "check:PATH@V)", s, path);
}

/* Collects the op strings: arguments, or stdin lines (empty lines and
 * lines starting with '#' skipped). */
static int ctl_multi_ops(struct ctl *x, char **ops, size_t *n)
{
    *n = 0;
    if (x->argc > 0) {
        for (int i = 0; i < x->argc; i++)
            ops[(*n)++] = x->argv[i];
        return 0;
    }
    size_t len;
    int rc = ctl_read_stdin(ctl_multi_in, sizeof(ctl_multi_in) - 1, &len);
    if (rc != 0)
        return ctl_fail(x, "stdin", rc);
    ctl_multi_in[len] = '\0';
    char *p = ctl_multi_in;
    while (p < ctl_multi_in + len) {
        char *nl = strchr(p, '\n');
        if (nl != NULL)
            *nl = '\0';
        size_t l = strlen(p);
        if (l > 0 && p[l - 1] == '\r')
            p[l - 1] = '\0';
        if (p[0] != '\0' && p[0] != '#') {
            if (*n >= CTL_ARGS_MAX)
                return ctl_usage_error("more than %d multi ops",
                                       CTL_ARGS_MAX);
            ops[(*n)++] = p;
        }
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return 0;
}

/* One result line. An op with no error in a failed multi was undone:
 * it is shown as rolled back, never as ok. */
static void ctl_multi_print(struct ctl *x, const struct ctl_mop *rec,
                            const struct coord_op_result *r, int status)
{
    int err = r->err;
    bool ok = err == 0 && status == 0;
    if (x->json) {
        printf("{\"op\":\"%s\",\"path\":", rec->kind);
        ctl_json_str(stdout, rec->path, strlen(rec->path));
        printf(",\"ok\":%s", ok ? "true" : "false");
        if (err != 0)
            printf(",\"error\":\"%s\"", coord_errname(err));
        else if (!ok)
            fputs(",\"rolled_back\":true", stdout);
        if (ok && r->path != NULL) {
            fputs(",\"created\":", stdout);
            ctl_json_str(stdout, r->path, strlen(r->path));
        }
        if (ok && (r->op == 10 || r->op == 14)) {
            fputs(",\"stat\":", stdout);
            ctl_json_stat(stdout, &r->stat);
        }
        fputs("}\n", stdout);
        return;
    }
    printf("%-6s  %s  %s", rec->kind, rec->path,
           ok ? "ok" : err == 0 ? "rolled-back" : coord_errname(err));
    if (ok && r->path != NULL)
        printf("  %s", r->path);
    else if (ok && r->op == 14)
        printf("  version=%" PRId32, r->stat.version);
    fputc('\n', stdout);
}

/* Prints every result and reports the first failure. */
static int ctl_multi_report(struct ctl *x, struct coord_multi *m,
                            size_t n, int status)
{
    int first = -1;
    for (size_t i = 0; i < n; i++) {
        const struct coord_op_result *r = coord_multi_result(m, i);
        if (r == NULL)
            break;
        ctl_multi_print(x, &ctl_mops[i], r, status);
        if (first < 0 && r->err != 0 && r->err != COORD_ESKIPPED)
            first = (int)i;
    }
    if (status == 0)
        return CTL_EXIT_OK;
    char what[COORD_PATH_BYTES_MAX + 64];
    if (first >= 0)
        snprintf(what, sizeof(what), "multi op %d (%s %s)", first + 1,
                 ctl_mops[first].kind, ctl_mops[first].path);
    else
        snprintf(what, sizeof(what), "multi");
    int code = ctl_fail(x, what, status);
    if (code == CTL_EXIT_FAILED)
        fputs("coordctl: multi: nothing was applied\n", stderr);
    return code;
}

int ctl_cmd_multi(struct ctl *x)
{
    static char *ops[CTL_ARGS_MAX];
    size_t n;
    int rc = ctl_multi_ops(x, ops, &n);
    if (rc != 0)
        return rc;
    if (n == 0)
        return ctl_usage_error("multi: no operations");
    if (n > COORD_MULTI_OPS_MAX)
        return ctl_usage_error("multi: more than %d operations",
                               COORD_MULTI_OPS_MAX);
    struct coord_multi *m;
    rc = coord_multi_new(&m);
    if (rc != 0)
        return ctl_fail(x, "multi", rc);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = ctl_multi_add(m, ops[i], &ctl_mops[i]);
        if (rc < 0)
            rc = ctl_fail(x, ctl_mops[i].path, rc);
    }
    if (rc == 0) {
        rc = coord_multi(x->c, m);
        rc = ctl_multi_report(x, m, n, rc);
    }
    coord_multi_free(m);
    return rc;
}
