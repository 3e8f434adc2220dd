/* tmpdir.c -- see tmpdir.h. */
#include "tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int rm_failed;

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(p) != 0 && rm_failed == 0)
        rm_failed = errno;
    return 0; /* go on: remove what can be removed */
}

int tdir_remove(const char *dir)
{
    rm_failed = 0;
    if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return -1;
    if (rm_failed != 0) {
        errno = rm_failed;
        return -1;
    }
    return 0;
}
