/* barrier.c -- example: a double barrier /examples/db for N processes
 * (enter waits for all N, leave waits for all to leave), then a simple
 * barrier that the first argument's process removes. Usage: barrier
 * [servers] [name] [n]. An example of the recipes API (coord_recipes.h),
 * not part of any library; it must stay small. */
#include <stdio.h>
#include <stdlib.h>

#include "coord.h"
#include "coord_recipes.h"

int main(int argc, char **argv)
{
    struct coord_options o;
    coord_options_init(&o);
    if (argc > 1)
        o.servers = argv[1];
    const char *name = argc > 2 ? argv[2] : "p0";
    int n = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 1;
    struct coord_client *c = NULL;
    if (coord_open(&c, &o) != 0)
        return 1;
    int rc = coord_dbarrier_enter(c, "/examples/db", name, n, 30000);
    printf("%s entered: %s\n", name, coord_strerror(rc));
    if (rc == 0) {
        /* ... the work that needs all n participants ... */
        rc = coord_dbarrier_leave(c, "/examples/db", name, 30000);
        printf("%s left: %s\n", name, coord_strerror(rc));
    }
    if (rc == 0 && (rc = coord_barrier_set(c, "/examples/gate")) == 0 &&
        (rc = coord_barrier_remove(c, "/examples/gate")) == 0)
        rc = coord_barrier_wait(c, "/examples/gate", 1000);
    coord_close(c);
    return rc == 0 ? 0 : 1;
}
