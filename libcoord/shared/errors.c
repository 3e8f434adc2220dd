/* errors.c -- coord_strerror() and coord_errname(), generated from the one
 * COORD_ERR_MAP table in coord.h; also coord__panic(), the end of every
 * failed coord_assert(). */
#include "coord.h"
#include "libcoord/shared/check.h"

#include <stdio.h>
#include <stdlib.h>

const char *coord_strerror(int err)
{
    switch (err) {
#define COORD__ERR_STR(name, value, msg)                                     \
    case (value):                                                            \
        return (msg);
        COORD_ERR_MAP(COORD__ERR_STR)
#undef COORD__ERR_STR
    }
    return "unknown error";
}

const char *coord_errname(int err)
{
    switch (err) {
#define COORD__ERR_NAME(name, value, msg)                                    \
    case (value):                                                            \
        return "COORD_" #name;
        COORD_ERR_MAP(COORD__ERR_NAME)
#undef COORD__ERR_NAME
    }
    return "COORD_E?";
}

static coord_panic_hook_fn panic_hook;

void coord_panic_hook_set(coord_panic_hook_fn hook)
{
    panic_hook = hook;
}

void coord__panic(const char *file, int line, const char *msg)
{
    if (panic_hook)
        panic_hook(file, line, msg);
    fprintf(stderr, "level=fatal at=%s:%d msg=\"%s\"\n", file, line, msg);
    fflush(stderr);
    abort();
}
