/* auth.c -- randomness and secret comparison on libsodium; the only file
 * that includes <sodium.h>. Session secrets are 32 random bytes; the server
 * compares them in constant time. */
#include "auth.h"

#include <sodium.h>

#include "coord.h"
#include "libcoord/shared/check.h"

int coord_auth_init(void)
{
    /* sodium_init is thread-safe and returns 1 when already initialised. */
    return sodium_init() < 0 ? COORD_EINTERNAL : 0;
}

void coord_random_bytes(void *buf, size_t len)
{
    coord_assert(coord_auth_init() == 0);
    randombytes_buf(buf, len);
}

uint32_t coord_random_uniform(uint32_t upper)
{
    coord_assert(upper > 0);
    coord_assert(coord_auth_init() == 0);
    return randombytes_uniform(upper);
}

uint64_t coord_random_id(void)
{
    uint64_t id = 0;
    while (id == 0)
        coord_random_bytes(&id, sizeof(id));
    return id;
}

bool coord_secret_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
}
