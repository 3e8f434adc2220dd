/* lock.c -- example: take the coord lock /examples/lock, do fenced work
 * (a write guarded by the lock's check op, stamped with the fencing
 * token), release. Usage: lock [servers]. An example of the recipes API
 * (coord_recipes.h), not part of any library; it must stay small. */
#include <stdio.h>

#include "coord.h"
#include "coord_recipes.h"

int main(int argc, char **argv)
{
    struct coord_options o;
    coord_options_init(&o);
    if (argc > 1)
        o.servers = argv[1];
    struct coord_client *c = NULL;
    if (coord_open(&c, &o) != 0)
        return 1;
    struct coord_lock *l = NULL;
    uint64_t token = 0;
    int rc = coord_lock_new(&l, c, "/examples/lock");
    if (rc == 0)
        rc = coord_lock_acquire(l, 10000, &token);
    if (rc == 0) {
        /* the write applies only while we still hold the lock */
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)token);
        struct coord_multi *m = NULL;
        rc = coord_multi_new(&m);
        if (rc == 0)
            rc = coord_lock_check_op(l, m);
        if (rc == 0)
            rc = coord_multi_set(m, "/examples", buf, (size_t)n, -1);
        if (rc == 0)
            rc = coord_multi(c, m);
        coord_multi_free(m);
        printf("held with token %llu; fenced write: %s\n",
               (unsigned long long)token, coord_strerror(rc));
        coord_lock_release(l);
    } else {
        printf("acquire: %s\n", coord_strerror(rc));
    }
    coord_lock_free(l);
    coord_close(c);
    return rc == 0 ? 0 : 1;
}
