/* auth.h -- randomness and secret handling shared by coordd and libcoord:
 * session ids and secrets, jitter, constant-time comparison. auth.c is the
 * only file of the project that includes <sodium.h>. */
#ifndef COORD_AUTH_H
#define COORD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Initialises libsodium once (idempotent, thread-safe). Returns 0 or
 * COORD_EINTERNAL. Every other function calls it. */
int coord_auth_init(void);
/* Fills buf with len unpredictable bytes. */
void coord_random_bytes(void *buf, size_t len);
/* A uniformly random integer in [0, upper) (upper > 0). */
uint32_t coord_random_uniform(uint32_t upper);
/* A random non-zero 64-bit id. */
uint64_t coord_random_id(void);
/* Constant-time equality of two len-byte secrets. */
bool coord_secret_equal(const uint8_t *a, const uint8_t *b, size_t len);

#endif /* COORD_AUTH_H */
