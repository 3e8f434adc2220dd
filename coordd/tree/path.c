/* path.c -- path validation and splitting for the namespace tree.
 *
 * Paths come from clients through commands, so they are validated before
 * any lookup (COORD_EBADPATH, never an assert). Pure functions on bytes:
 * no allocation, no state.
 */
#include "tree_int.h"

#include <string.h>

#include "libcoord/shared/check.h"

static bool path_component_ok(const char *c, size_t n)
{
    if (n == 0)
        return false;
    if (n == 1 && c[0] == '.')
        return false;
    if (n == 2 && c[0] == '.' && c[1] == '.')
        return false;
    return true;
}

int tree_path_validate(const char *path, size_t len)
{
    if (path == NULL || len == 0 || len > COORD_PATH_BYTES_MAX)
        return COORD_EBADPATH;
    if (path[0] != '/')
        return COORD_EBADPATH;
    if (len == 1)
        return 0;
    if (memchr(path, '\0', len) != NULL || path[len - 1] == '/')
        return COORD_EBADPATH;
    size_t depth = 0, start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        if (!path_component_ok(path + start, i - start))
            return COORD_EBADPATH;
        if (++depth > COORD_PATH_DEPTH_MAX)
            return COORD_EBADPATH;
        start = i + 1;
    }
    return 0;
}

/* Length of the parent's path: "/a/b" -> 2 ("/a"), "/a" -> 1 ("/").
 * The path must be valid and not "/". */
size_t tree_path_parent_len(const char *path, size_t len)
{
    coord_assert(len > 1 && path[0] == '/');
    size_t i = len - 1;
    while (path[i] != '/')
        i--;
    return i == 0 ? 1 : i;
}

/* Byte order: memcmp over the common prefix, then the shorter first. */
int tree_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : (alen > blen ? 1 : 0);
}
