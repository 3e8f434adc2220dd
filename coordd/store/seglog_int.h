/* seglog_int.h -- seglog.c's internals that its unit tests check directly
 * (test/unit/test_seglog.c); no other module includes it.
 *
 * How it fits: seglog.h is the contract; this header exposes only pure
 * functions of seglog.c (no I/O, no state), so a test can pin a rule down
 * without timing a thread. It must not grow state or file access.
 */
#ifndef COORDD_STORE_SEGLOG_INT_H
#define COORDD_STORE_SEGLOG_INT_H

#include <stdint.h>

/* Spare pacing: how many bytes of a spare of spare bytes the thread may
 * have written while the current segment holds end of its size bytes:
 * in proportion to the fill, so that the spare is complete when the
 * segment is SEGLOG_SPARE_DONE_PCT full, plus one chunk (so the fill
 * never waits for the first one); all of it when there is no current
 * segment (size 0) or the segment is past that point. */
uint64_t seglog__spare_allowed(uint64_t spare, uint64_t chunk, uint64_t end,
                               uint64_t size);

/* The smallest end at which seglog__spare_allowed(spare, chunk, end, size)
 * exceeds done (the fill the thread waits for before writing past done);
 * UINT64_MAX if none up to size. */
uint64_t seglog__spare_wake_end(uint64_t spare, uint64_t chunk,
                                uint64_t done, uint64_t size);

#endif /* COORDD_STORE_SEGLOG_INT_H */
