/* test_errors.c -- unit tests for the error table (libcoord/shared/errors.c)
 * and the allocator hook (alloc.c): names and messages exist for every code,
 * codes are unique, and the counting hook fails the requested allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "coord.h"
#include "libcoord/shared/alloc.h"

static const int all_codes[] = {
#define X(name, value, msg) (value),
    COORD_ERR_MAP(X)
#undef X
};

static void every_code_has_name_and_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(all_codes) / sizeof(all_codes[0]); i++) {
        int c = all_codes[i];
        assert_string_not_equal(coord_errname(c), "COORD_E?");
        assert_string_not_equal(coord_strerror(c), "unknown error");
        for (size_t j = i + 1; j < sizeof(all_codes) / sizeof(all_codes[0]);
             j++)
            assert_int_not_equal(c, all_codes[j]);
    }
    assert_string_equal(coord_errname(COORD_ENONODE), "COORD_ENONODE");
    assert_string_equal(coord_errname(12345), "COORD_E?");
    assert_string_equal(coord_strerror(-9999), "unknown error");
}

static void codes_are_frozen(void **state)
{
    (void)state;
    /* These numbers travel on the wire; changing one breaks old clients. */
    assert_int_equal(COORD_OK, 0);
    assert_int_equal(COORD_EPROTO, -1);
    assert_int_equal(COORD_ENONODE, -9);
    assert_int_equal(COORD_ESESSIONEXPIRED, -16);
    assert_int_equal(COORD_EFENCED, -26);
}

static void counting_hook_fails_nth(void **state)
{
    (void)state;
    coord_alloc_counting_enable(3);
    void *a = coord_malloc(10);
    void *b = coord_malloc(10);
    void *c = coord_malloc(10);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_int_equal(coord_alloc_live(), 2);
    coord_free(a);
    coord_free(b);
    assert_int_equal(coord_alloc_live(), 0);
    assert_int_equal(coord_alloc_count(), 3);
    coord_alloc_counting_disable();
    char *s = coord_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    coord_free(s);
    assert_null(coord_calloc(SIZE_MAX / 2, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_name_and_message),
        cmocka_unit_test(codes_are_frozen),
        cmocka_unit_test(counting_hook_fails_nth),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
