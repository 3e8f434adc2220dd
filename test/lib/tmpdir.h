/* tmpdir.h -- removing a test's temporary directory tree (the storage
 * tests make one per fixture under /tmp). */
#ifndef TEST_TMPDIR_H
#define TEST_TMPDIR_H

/* Removes dir and everything under it, not following symlinks. Returns 0,
 * or -1 with errno from the first failure (the walk goes on past it). */
int tdir_remove(const char *dir);

#endif /* TEST_TMPDIR_H */
