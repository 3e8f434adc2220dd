/* alloc.h -- the one allocator of libcoord and coordd.
 *
 * Every heap allocation goes through coord_malloc/coord_calloc/coord_realloc/
 * coord_free. A replaceable hook lets tests count bytes, find leaks and fail
 * the Nth allocation on purpose. coordd allocates its big tables at startup;
 * raft/ allocates nothing after raft_init().
 */
#ifndef COORD_ALLOC_H
#define COORD_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *coord_malloc(size_t size);
void *coord_calloc(size_t n, size_t size);
void *coord_realloc(void *p, size_t size);
void coord_free(void *p);
/* Duplicates len bytes plus a NUL terminator; NULL on failure. */
char *coord_strndup(const char *s, size_t len);

/* The hook: a replacement for the four primitives. Any field may be NULL to
 * keep the libc default. Install before any allocation; not thread-safe. */
struct coord_alloc_hook {
    void *(*malloc_fn)(void *data, size_t size);
    void *(*realloc_fn)(void *data, void *p, size_t size);
    void (*free_fn)(void *data, void *p);
    void *data;
};
void coord_alloc_hook_set(const struct coord_alloc_hook *hook);

/* Test helper: a counting hook that fails allocation number fail_at
 * (1-based; 0 = never). Counters are process-global. */
void coord_alloc_counting_enable(uint64_t fail_at);
void coord_alloc_counting_disable(void);
uint64_t coord_alloc_count(void);       /* allocations made since enable */
int64_t coord_alloc_live(void);         /* live allocations since enable */

#endif /* COORD_ALLOC_H */
