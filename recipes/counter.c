/* counter.c -- the counter recipe (coord_recipes.h, docs/recipes.md): a
 * signed 64-bit value stored as the decimal data of a persistent node,
 * changed by compare-and-set on the node's version (a conflicting writer
 * makes us read and try again). Public coord.h API only; must not be
 * called from a libcoord callback. */
#include <stdio.h>
#include <string.h>

#include "coord_recipes.h"
#include "recipe_int.h"

/* Give up on a counter this contended (COORD_EBUSY). */
#define COUNTER_RETRY_MS 10000

static int counter_parse(const char *v, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = len > 0 && v[0] == '-';
    if (neg)
        i = 1;
    if (len == i || len > 20)
        return COORD_EINVAL;
    uint64_t x = 0;
    for (; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return COORD_EINVAL;
        uint64_t d = (uint64_t)(v[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return COORD_EINVAL;
        x = x * 10 + d;
    }
    if (x > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return COORD_EINVAL;
    *out = neg ? (int64_t)(0 - x) : (int64_t)x;
    return 0;
}

static bool counter_ok(struct coord_client *c, const char *path)
{
    return c != NULL && path != NULL && path[0] == '/' && path[1] != '\0';
}

int coord_counter_get(struct coord_client *c, const char *path,
                      int64_t *value)
{
    if (!counter_ok(c, path) || value == NULL)
        return COORD_EINVAL;
    void *v = NULL;
    size_t len = 0;
    int rc = coord_get(c, path, 0, NULL, &v, &len, NULL);
    if (rc == 0)
        rc = counter_parse(v, len, value);
    coord_free_mem(v);
    return rc;
}

/* One attempt: read, then set at the version read (or create). */
static int counter_try(struct coord_client *c, const char *path,
                       int64_t delta, int64_t *value)
{
    void *v = NULL;
    size_t len = 0;
    struct coord_stat st;
    int64_t cur = 0;
    int rc = coord_get(c, path, 0, NULL, &v, &len, &st);
    if (rc == 0)
        rc = counter_parse(v, len, &cur);
    coord_free_mem(v);
    bool missing = rc == COORD_ENONODE;
    if (rc != 0 && !missing)
        return rc;
    if ((delta > 0 && cur > INT64_MAX - delta) ||
        (delta < 0 && cur < INT64_MIN - delta))
        return COORD_ETOOBIG; /* would overflow */
    char buf[24];
    int k = snprintf(buf, sizeof(buf), "%lld", (long long)(cur + delta));
    if (missing) {
        char parent[RCP_PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", path);
        char *slash = strrchr(parent, '/');
        *slash = '\0';
        if (parent[0] != '\0' && (rc = rcp_mkpath(c, parent)) != 0)
            return rc;
        rc = coord_create(c, path, buf, (size_t)k, 0, 0, NULL, NULL);
    } else {
        rc = coord_set(c, path, buf, (size_t)k, st.version, NULL);
    }
    if (rc == 0 && value != NULL)
        *value = cur + delta;
    return rc;
}

int coord_counter_add(struct coord_client *c, const char *path,
                      int64_t delta, int64_t *value)
{
    if (!counter_ok(c, path) || strlen(path) >= RCP_PATH_MAX)
        return COORD_EINVAL;
    int64_t end = rcp_now_ms() + COUNTER_RETRY_MS;
    for (;;) {
        int rc = counter_try(c, path, delta, value);
        if (rc != COORD_EBADVERSION && rc != COORD_ENODEEXISTS &&
            rc != COORD_ENONODE)
            return rc; /* done, or an error (ECONNLOSS: maybe done) */
        if (rcp_now_ms() >= end)
            return COORD_EBUSY;
    }
}
