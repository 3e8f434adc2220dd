/* semaphore.c -- example: take one of 2 slots of the coord semaphore
 * /examples/pool, do work while a loss callback says whether the slot is
 * still safe, release. Run several at once to see them queue. Usage:
 * semaphore [servers]. An example of the recipes API (coord_recipes.h),
 * not part of any library; it must stay small. */
#include <stdatomic.h>
#include <stdio.h>

#include "coord.h"
#include "coord_recipes.h"

static atomic_int slot_state = COORD_LOCK_HELD;

/* libcoord's I/O thread: record only; no sync calls here. */
static void on_loss(void *data, int state)
{
    (void)data;
    atomic_store(&slot_state, state);
}

int main(int argc, char **argv)
{
    struct coord_options o;
    coord_options_init(&o);
    if (argc > 1)
        o.servers = argv[1];
    struct coord_client *c = NULL;
    if (coord_open(&c, &o) != 0)
        return 1;
    struct coord_semaphore *s = NULL;
    uint64_t token = 0;
    int rc = coord_semaphore_new(&s, c, "/examples/pool", 2);
    if (rc == 0)
        rc = coord_semaphore_on_loss(s, on_loss, NULL);
    if (rc == 0)
        rc = coord_semaphore_acquire(s, 30000, &token);
    if (rc == 0) {
        for (int i = 0; i < 3; i++) { /* "work": three reads */
            if (atomic_load(&slot_state) != COORD_LOCK_HELD)
                break; /* may be lost: stop unfenced work */
            rc = coord_exists(c, "/examples/pool", 0, NULL, NULL);
        }
        printf("slot held with token %llu; work: %s\n",
               (unsigned long long)token, coord_strerror(rc));
        coord_semaphore_release(s);
    } else {
        printf("semaphore: %s\n", coord_strerror(rc));
    }
    coord_semaphore_free(s);
    coord_close(c);
    return rc == 0 ? 0 : 1;
}
