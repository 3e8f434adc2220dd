/* test_path.c -- unit tests for coordd/tree/path.c: path validation (every
 * EBADPATH case and its boundaries), parent splitting and name order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "coordd/tree/tree_int.h"

static int val(const char *p)
{
    return tree_path_validate(p, strlen(p));
}

static void valid_paths(void **state)
{
    (void)state;
    assert_int_equal(val("/"), 0);
    assert_int_equal(val("/a"), 0);
    assert_int_equal(val("/a/b/c"), 0);
    assert_int_equal(val("/.a"), 0);
    assert_int_equal(val("/a../..b/..."), 0);
    assert_int_equal(val("/zookeeper/quota"), 0);
}

static void invalid_paths(void **state)
{
    (void)state;
    assert_int_equal(tree_path_validate(NULL, 0), COORD_EBADPATH);
    assert_int_equal(val(""), COORD_EBADPATH);
    assert_int_equal(val("a"), COORD_EBADPATH);
    assert_int_equal(val("a/b"), COORD_EBADPATH);
    assert_int_equal(val("//"), COORD_EBADPATH);
    assert_int_equal(val("/a//b"), COORD_EBADPATH);
    assert_int_equal(val("/a/"), COORD_EBADPATH);
    assert_int_equal(val("/."), COORD_EBADPATH);
    assert_int_equal(val("/.."), COORD_EBADPATH);
    assert_int_equal(val("/a/./b"), COORD_EBADPATH);
    assert_int_equal(val("/a/../b"), COORD_EBADPATH);
    assert_int_equal(val("/a/.."), COORD_EBADPATH);
    assert_int_equal(tree_path_validate("/a\0b", 4), COORD_EBADPATH);
    assert_int_equal(tree_path_validate("/\0", 2), COORD_EBADPATH);
}

static void length_and_depth_bounds(void **state)
{
    (void)state;
    static char p[COORD_PATH_BYTES_MAX + 2];
    p[0] = '/';
    memset(p + 1, 'x', sizeof(p) - 1);
    assert_int_equal(tree_path_validate(p, COORD_PATH_BYTES_MAX), 0);
    assert_int_equal(tree_path_validate(p, COORD_PATH_BYTES_MAX + 1),
                     COORD_EBADPATH);
    /* "/x" repeated: exactly the depth bound, then one more. */
    for (int i = 0; i < COORD_PATH_DEPTH_MAX + 1; i++) {
        p[2 * i] = '/';
        p[2 * i + 1] = 'x';
    }
    assert_int_equal(tree_path_validate(p, 2 * COORD_PATH_DEPTH_MAX), 0);
    assert_int_equal(tree_path_validate(p, 2 * COORD_PATH_DEPTH_MAX + 2),
                     COORD_EBADPATH);
}

static void parent_and_order(void **state)
{
    (void)state;
    assert_int_equal(tree_path_parent_len("/a", 2), 1);
    assert_int_equal(tree_path_parent_len("/a/b", 4), 2);
    assert_int_equal(tree_path_parent_len("/abc/de/f", 9), 7);
    assert_true(tree_name_cmp("a", 1, "b", 1) < 0);
    assert_true(tree_name_cmp("a", 1, "ab", 2) < 0);
    assert_true(tree_name_cmp("b", 1, "ab", 2) > 0);
    assert_true(tree_name_cmp("ab", 2, "ab", 2) == 0);
    assert_true(tree_name_cmp("", 0, "a", 1) < 0);
    /* Byte order, not signed char order. */
    assert_true(tree_name_cmp("\xff", 1, "a", 1) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_paths),
        cmocka_unit_test(invalid_paths),
        cmocka_unit_test(length_and_depth_bounds),
        cmocka_unit_test(parent_and_order),
    };
    return cmocka_run_group_tests_name("path", tests, NULL, NULL);
}
