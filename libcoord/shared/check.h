/* check.h -- invariant checks shared by libcoord and coordd.
 *
 * coord_assert() stays on in release builds: a broken invariant in a
 * replicated state machine must crash loudly rather than diverge silently.
 * coord_dassert() holds expensive (O(n)) checks, compiled in only when
 * COORD_DEBUG is defined (the test builds). Never use either on input from the
 * network or the disk: validate that and return COORD_EPROTO/COORD_ECORRUPT.
 */
#ifndef COORD_CHECK_H
#define COORD_CHECK_H

#include <stdnoreturn.h>

/* Logs "file:line: msg" to stderr and aborts. Tests may install a hook that
 * runs first (e.g. to dump a simulator trace). */
noreturn void coord__panic(const char *file, int line, const char *msg);

typedef void (*coord_panic_hook_fn)(const char *file, int line,
                                    const char *msg);
/* Install a hook run before abort(); NULL removes it. Not thread-safe:
 * install at startup. */
void coord_panic_hook_set(coord_panic_hook_fn hook);

#define coord_panic(msg) coord__panic(__FILE__, __LINE__, (msg))

#define coord_assert(expr)                                                   \
    do {                                                                     \
        if (__builtin_expect(!(expr), 0))                                    \
            coord__panic(__FILE__, __LINE__, "assertion failed: " #expr);    \
    } while (0)

#ifdef COORD_DEBUG
#define coord_dassert(expr) coord_assert(expr)
#else
#define coord_dassert(expr) ((void)0)
#endif

#define COORD_STATIC_ASSERT(expr, msg) _Static_assert(expr, msg)

#define COORD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* COORD_CHECK_H */
