/* cmd_node.c -- coordctl's node commands: ls, tree, get, set, create (with
 * -p parents), rm (with -r, depth-first over paged listings), stat and
 * sync. Each runs blocking libcoord calls on the session main.c opened
 * and prints for humans or, with --json, one JSON object per line.
 * Allocates nothing: buffers are static (coordctl is single-threaded
 * outside libcoord's I/O thread). */
#include "ctl.h"

#include <inttypes.h>
#include <string.h>

/* Data read from stdin or taken from an argument. */
static char ctl_data_buf[COORD_DATA_BYTES_MAX];
/* The path being walked by tree and rm -r, and by create -p. */
static char ctl_path_buf[COORD_PATH_BYTES_MAX + 1];
/* Children per page while rm -r lists a node. */
#define CTL_RM_PAGE 1000

/* Appends "/name" to the path of length len in ctl_path_buf; returns the
 * new length or 0 when it would not fit. */
static size_t ctl_path_push(size_t len, const char *name)
{
    size_t n = strlen(name);
    size_t base = (len == 1 && ctl_path_buf[0] == '/') ? 0 : len;
    if (base + 1 + n > COORD_PATH_BYTES_MAX)
        return 0;
    ctl_path_buf[base] = '/';
    memcpy(ctl_path_buf + base + 1, name, n + 1);
    return base + 1 + n;
}

static int ctl_path_set(const char *path, size_t *len)
{
    size_t n = strlen(path);
    if (n > COORD_PATH_BYTES_MAX)
        return COORD_EBADPATH;
    memcpy(ctl_path_buf, path, n + 1);
    *len = n;
    return 0;
}

/* The data argument: DATA, '-' for stdin, or empty when absent. */
static int ctl_get_data(struct ctl *x, int idx, const char **p, size_t *n)
{
    if (idx >= x->argc) {
        *p = "";
        *n = 0;
        return 0;
    }
    if (strcmp(x->argv[idx], "-") != 0) {
        *p = x->argv[idx];
        *n = strlen(*p);
        return 0;
    }
    *p = ctl_data_buf;
    int rc = ctl_read_stdin(ctl_data_buf, sizeof(ctl_data_buf), n);
    if (rc != 0)
        return ctl_fail(x, "stdin", rc);
    return 0;
}

static void ctl_json_path_stat(const char *path, const struct coord_stat *st)
{
    fputs("{\"path\":", stdout);
    ctl_json_str(stdout, path, strlen(path));
    if (st != NULL) {
        fputs(",\"stat\":", stdout);
        ctl_json_stat(stdout, st);
    }
    fputs("}\n", stdout);
}

static int ctl_num_width(uint64_t v)
{
    char b[24];
    return snprintf(b, sizeof(b), "%" PRIu64, v);
}

static void ctl_ls_table(const struct coord_child_list *l)
{
    int wv = 7, ws = 4, wc = 8;
    for (size_t i = 0; i < l->n; i++) {
        const struct coord_stat *s = &l->stats[i];
        int v = ctl_num_width((uint64_t)(uint32_t)s->version);
        wv = v > wv ? v : wv;
        v = ctl_num_width(s->data_length);
        ws = v > ws ? v : ws;
        v = ctl_num_width(s->num_children);
        wc = v > wc ? v : wc;
    }
    printf("%*s  %*s  %*s  %-24s  %s\n", wv, "VERSION", ws, "SIZE", wc,
           "CHILDREN", "MTIME", "NAME");
    for (size_t i = 0; i < l->n; i++) {
        const struct coord_stat *s = &l->stats[i];
        char mt[48];
        ctl_fmt_time(s->mtime_ms, mt, sizeof(mt));
        printf("%*" PRId32 "  %*" PRIu32 "  %*" PRIu32 "  %-24s  %s\n", wv,
               s->version, ws, s->data_length, wc, s->num_children, mt,
               l->names[i]);
    }
}

static void ctl_ls_json(const char *path, const struct coord_child_list *l)
{
    fputs("{\"path\":", stdout);
    ctl_json_str(stdout, path, strlen(path));
    fputs(",\"children\":[", stdout);
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0)
            fputc(',', stdout);
        if (l->stats != NULL)
            fputs("{\"name\":", stdout);
        ctl_json_str(stdout, l->names[i], strlen(l->names[i]));
        if (l->stats != NULL) {
            fputs(",\"stat\":", stdout);
            ctl_json_stat(stdout, &l->stats[i]);
            fputc('}', stdout);
        }
    }
    fputs("]}\n", stdout);
}

int ctl_cmd_ls(struct ctl *x)
{
    const char *path = x->argv[0];
    bool lng = (x->flags & CTL_F_LONG) != 0;
    struct coord_child_list l;
    int rc = coord_children_all(x->c, path, lng ? COORD_READ_STATS : 0,
                                NULL, &l);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (x->json)
        ctl_ls_json(path, &l);
    else if (lng && l.stats != NULL)
        ctl_ls_table(&l);
    else
        for (size_t i = 0; i < l.n; i++)
            printf("%s\n", l.names[i]);
    coord_child_list_free(&l);
    return CTL_EXIT_OK;
}

/* One line of tree output for the node at ctl_path_buf. */
static void ctl_tree_line(struct ctl *x, size_t len, int level,
                          const struct coord_stat *st)
{
    if (x->json) {
        fputs("{\"path\":", stdout);
        ctl_json_str(stdout, ctl_path_buf, len);
        printf(",\"depth\":%d", level);
        if (st != NULL)
            printf(",\"data_length\":%" PRIu32 ",\"num_children\":%" PRIu32,
                   st->data_length, st->num_children);
        fputs("}\n", stdout);
        return;
    }
    const char *name = ctl_path_buf;
    if (level > 0)
        name = strrchr(ctl_path_buf, '/') + 1;
    printf("%*s%s", 2 * level, "", name);
    if (st != NULL)
        printf("  (%" PRIu32 " bytes, %" PRIu32 " children)",
               st->data_length, st->num_children);
    fputc('\n', stdout);
}

/* Prints the children of the node at ctl_path_buf (length len, at level
 * level), recursively, down to --depth. */
static int ctl_tree_walk(struct ctl *x, size_t len, int level)
{
    if (x->depth >= 0 && level >= x->depth)
        return 0;
    bool sizes = (x->flags & CTL_F_SIZES) != 0;
    struct coord_child_list l;
    int rc = coord_children_all(x->c, ctl_path_buf,
                                sizes ? COORD_READ_STATS : 0, NULL, &l);
    if (rc == COORD_ENONODE && level > 0)
        return 0; /* deleted while we walked */
    if (rc != 0)
        return ctl_fail(x, ctl_path_buf, rc);
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        size_t n = ctl_path_push(len, l.names[i]);
        if (n == 0) {
            rc = ctl_fail(x, l.names[i], COORD_EBADPATH);
            break;
        }
        ctl_tree_line(x, n, level + 1,
                      sizes && l.stats ? &l.stats[i] : NULL);
        rc = ctl_tree_walk(x, n, level + 1);
        ctl_path_buf[len] = '\0';
    }
    coord_child_list_free(&l);
    return rc;
}

int ctl_cmd_tree(struct ctl *x)
{
    const char *path = x->argc > 0 ? x->argv[0] : "/";
    size_t len;
    int rc = ctl_path_set(path, &len);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    struct coord_stat st;
    rc = coord_exists(x->c, path, 0, NULL, &st);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    ctl_tree_line(x, len, 0, (x->flags & CTL_F_SIZES) ? &st : NULL);
    return ctl_tree_walk(x, len, 0);
}

int ctl_cmd_get(struct ctl *x)
{
    const char *path = x->argv[0];
    void *val;
    size_t len;
    struct coord_stat st;
    int rc = coord_get(x->c, path, 0, NULL, &val, &len, &st);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (x->json) {
        fputs("{\"path\":", stdout);
        ctl_json_str(stdout, path, strlen(path));
        fputc(',', stdout);
        ctl_json_data(stdout, val, len);
        fputs(",\"stat\":", stdout);
        ctl_json_stat(stdout, &st);
        fputs("}\n", stdout);
    } else {
        fwrite(val, 1, len, stdout);
        if (x->flags & CTL_F_STAT) {
            if (len > 0 && ((const char *)val)[len - 1] != '\n')
                fputc('\n', stdout);
            ctl_print_stat(stdout, NULL, &st);
        }
    }
    coord_free_mem(val);
    return CTL_EXIT_OK;
}

int ctl_cmd_set(struct ctl *x)
{
    const char *path = x->argv[0];
    const char *data;
    size_t len;
    int rc = ctl_get_data(x, 1, &data, &len);
    if (rc != 0)
        return rc;
    struct coord_stat st;
    rc = coord_set(x->c, path, data, len, x->version, &st);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (x->json)
        ctl_json_path_stat(path, &st);
    return CTL_EXIT_OK;
}

/* Creates every missing ancestor of path as an empty persistent node. */
static int ctl_create_parents(struct ctl *x, const char *path)
{
    size_t len;
    int rc = ctl_path_set(path, &len);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    for (size_t i = 1; i < len; i++) {
        if (ctl_path_buf[i] != '/')
            continue;
        ctl_path_buf[i] = '\0';
        rc = coord_create(x->c, ctl_path_buf, "", 0, COORD_PERSISTENT, 0,
                          NULL, NULL);
        if (rc != 0 && rc != COORD_ENODEEXISTS)
            return ctl_fail(x, ctl_path_buf, rc);
        ctl_path_buf[i] = '/';
    }
    return 0;
}

static int ctl_create_mode(struct ctl *x, int *mode)
{
    unsigned f = x->flags;
    *mode = COORD_PERSISTENT;
    if ((f & CTL_F_EPHEMERAL) && (f & (CTL_F_CONTAINER | CTL_F_TTL)))
        return ctl_usage_error("-e excludes --container and --ttl");
    if ((f & CTL_F_CONTAINER) && (f & CTL_F_TTL))
        return ctl_usage_error("--container excludes --ttl");
    if (f & CTL_F_EPHEMERAL)
        *mode |= COORD_EPHEMERAL;
    if (f & CTL_F_SEQUENTIAL)
        *mode |= COORD_SEQUENTIAL;
    if (f & CTL_F_CONTAINER)
        *mode |= COORD_CONTAINER;
    if (f & CTL_F_TTL)
        *mode |= COORD_TTL;
    return 0;
}

int ctl_cmd_create(struct ctl *x)
{
    const char *path = x->argv[0];
    int mode;
    int rc = ctl_create_mode(x, &mode);
    if (rc != 0)
        return rc;
    const char *data;
    size_t len;
    rc = ctl_get_data(x, 1, &data, &len);
    if (rc != 0)
        return rc;
    if (x->flags & CTL_F_PARENTS) {
        rc = ctl_create_parents(x, path);
        if (rc != 0)
            return rc;
    }
    char *created = NULL;
    struct coord_stat st;
    rc = coord_create(x->c, path, data, len, mode, x->ttl_ms, &created,
                      &st);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (x->json)
        ctl_json_path_stat(created, &st);
    else
        printf("%s\n", created);
    coord_free_mem(created);
    return CTL_EXIT_OK;
}

/* Deletes the descendants of the node at ctl_path_buf (length len),
 * depth-first, one page of children at a time. Every child of a page is
 * gone when the next page is asked for, so each listing starts at the
 * first child. */
static int ctl_rm_children(struct ctl *x, size_t len)
{
    for (;;) {
        struct coord_child_list l;
        int rc = coord_children(x->c, ctl_path_buf, 0, NULL, CTL_RM_PAGE,
                                NULL, &l);
        if (rc == COORD_ENONODE)
            return 0;
        if (rc != 0)
            return ctl_fail(x, ctl_path_buf, rc);
        size_t n_seen = l.n;
        for (size_t i = 0; i < l.n && rc == 0; i++) {
            size_t n = ctl_path_push(len, l.names[i]);
            if (n == 0) {
                rc = ctl_fail(x, l.names[i], COORD_EBADPATH);
                break;
            }
            rc = ctl_rm_children(x, n);
            if (rc == 0) {
                rc = coord_delete(x->c, ctl_path_buf, -1);
                rc = rc == COORD_ENONODE ? 0 : rc;
                if (rc != 0)
                    rc = ctl_fail(x, ctl_path_buf, rc);
            }
            ctl_path_buf[len] = '\0';
        }
        coord_child_list_free(&l);
        if (rc != 0 || n_seen == 0)
            return rc;
    }
}

int ctl_cmd_rm(struct ctl *x)
{
    const char *path = x->argv[0];
    if (x->flags & CTL_F_RECURSIVE) {
        size_t len;
        int rc = ctl_path_set(path, &len);
        if (rc != 0)
            return ctl_fail(x, path, rc);
        /* Check the version first so a mismatch deletes nothing. */
        if (x->version >= 0) {
            rc = coord_check(x->c, path, x->version);
            if (rc != 0)
                return ctl_fail(x, path, rc);
        }
        rc = ctl_rm_children(x, len);
        if (rc != 0)
            return rc;
        if (strcmp(path, "/") == 0)
            return CTL_EXIT_OK; /* the root itself stays */
    }
    int rc = coord_delete(x->c, path, x->version);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (x->json)
        ctl_json_path_stat(path, NULL);
    return CTL_EXIT_OK;
}

int ctl_cmd_stat(struct ctl *x)
{
    const char *path = x->argv[0];
    struct coord_stat st;
    int rc = coord_exists(x->c, path, 0, NULL, &st);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (x->json)
        ctl_json_path_stat(path, &st);
    else
        ctl_print_stat(stdout, path, &st);
    return CTL_EXIT_OK;
}

int ctl_cmd_sync(struct ctl *x)
{
    const char *path = x->argv[0];
    int rc = coord_sync(x->c, path);
    if (rc != 0)
        return ctl_fail(x, path, rc);
    if (x->json)
        ctl_json_path_stat(path, NULL);
    return CTL_EXIT_OK;
}
