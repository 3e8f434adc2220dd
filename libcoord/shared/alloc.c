/* alloc.c -- coord_malloc and friends, with a replaceable hook.
 *
 * The only file that calls malloc/realloc/free directly (make tidy checks).
 * The counting hook serves tests: leak checks and "fail the Nth allocation".
 */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

static struct coord_alloc_hook hook;

void coord_alloc_hook_set(const struct coord_alloc_hook *h)
{
    if (h)
        hook = *h;
    else
        memset(&hook, 0, sizeof(hook));
}

void *coord_malloc(size_t size)
{
    if (hook.malloc_fn)
        return hook.malloc_fn(hook.data, size);
    return malloc(size);
}

void *coord_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = coord_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *coord_realloc(void *p, size_t size)
{
    if (hook.realloc_fn)
        return hook.realloc_fn(hook.data, p, size);
    return realloc(p, size);
}

void coord_free(void *p)
{
    if (!p)
        return;
    if (hook.free_fn)
        hook.free_fn(hook.data, p);
    else
        free(p);
}

char *coord_strndup(const char *s, size_t len)
{
    char *d = coord_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* ---- counting hook for tests ---- */

static uint64_t count_allocs;
static int64_t count_live;
static uint64_t count_fail_at;

static void *counting_malloc(void *data, size_t size)
{
    (void)data;
    count_allocs++;
    if (count_fail_at && count_allocs == count_fail_at)
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p)
        count_live++;
    return p;
}

static void *counting_realloc(void *data, void *p, size_t size)
{
    (void)data;
    count_allocs++;
    if (count_fail_at && count_allocs == count_fail_at)
        return NULL;
    void *q = realloc(p, size ? size : 1);
    if (q && !p)
        count_live++;
    return q;
}

static void counting_free(void *data, void *p)
{
    (void)data;
    count_live--;
    free(p);
}

void coord_alloc_counting_enable(uint64_t fail_at)
{
    struct coord_alloc_hook h = {counting_malloc, counting_realloc,
                                 counting_free, NULL};
    count_allocs = 0;
    count_live = 0;
    count_fail_at = fail_at;
    coord_alloc_hook_set(&h);
}

void coord_alloc_counting_disable(void)
{
    coord_alloc_hook_set(NULL);
}

uint64_t coord_alloc_count(void)
{
    return count_allocs;
}

int64_t coord_alloc_live(void)
{
    return count_live;
}
