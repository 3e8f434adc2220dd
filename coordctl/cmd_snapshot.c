/* cmd_snapshot.c -- `coordctl snapshot save FILE` (a consistent copy of
 * the tree from the connected server, checksummed, through
 * coord_admin_snapshot_save; written to FILE.tmp, fsynced, then renamed
 * so FILE is whole or absent) and the offline `coordctl snapshot restore
 * FILE -- COORDD_FLAGS`, which execs `coordd --restore-snapshot FILE`:
 * restoring needs the storage code, which only coordd links. Found next
 * to coordctl's own binary first, then on PATH ($COORDD_BIN overrides).
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ctl_snapshot_save(struct ctl *x, const char *file)
{
    char tmp[PATH_MAX];
    int k = snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    if (k < 0 || (size_t)k >= sizeof(tmp))
        return ctl_usage_error("file name too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "coordctl: cannot create %s: %s; check the "
                "directory and its permissions\n", tmp, strerror(errno));
        return CTL_EXIT_FAILED;
    }
    struct coord_snapshot_info info;
    int rc = coord_admin_snapshot_save(x->c, fd, &info);
    if (rc == 0 && fsync(fd) != 0)
        rc = COORD_EIO;
    if (close(fd) != 0 && rc == 0)
        rc = COORD_EIO;
    if (rc == 0 && rename(tmp, file) != 0)
        rc = COORD_EIO;
    if (rc != 0) {
        int saved = errno;
        unlink(tmp);
        if (rc == COORD_EIO)
            fprintf(stderr, "coordctl: cannot write %s: %s\n", file,
                    strerror(saved));
        else if (rc == COORD_EAGAIN)
            fprintf(stderr, "coordctl: the server dropped this export "
                    "mid-way (COORD_EAGAIN); retry\n");
        else if (rc == COORD_EBUSY)
            fprintf(stderr, "coordctl: that server is serving another "
                    "snapshot save, or took a snapshot for one less than "
                    "10 s ago (COORD_EBUSY); retry later\n");
        else
            ctl_fail(x, "snapshot save", rc);
        bool retry = rc == COORD_EAGAIN || rc == COORD_EBUSY;
        return rc == COORD_EIO || retry ? CTL_EXIT_FAILED
                                        : ctl_exit_code(rc);
    }
    if (x->json) {
        printf("{\"file\":");
        ctl_json_str(stdout, file, strlen(file));
        printf(",\"index\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"server\":%"
               PRIu64 "}\n", info.index, info.bytes, info.server_id);
    } else {
        printf("saved %s: zxid 0x%" PRIx64 ", %" PRIu64 " bytes, from "
               "member %" PRIu64 "\n", file, info.index, info.bytes,
               info.server_id);
    }
    return CTL_EXIT_OK;
}

/* coordd's path: $COORDD_BIN, else beside this binary, else "coordd"
 * (looked up on PATH by execvp). */
static void ctl_coordd_path(char *out, size_t cap)
{
    const char *env = getenv("COORDD_BIN");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            int k = snprintf(out, cap, "%.*scoordd",
                             (int)(slash + 1 - self), self);
            if (k > 0 && (size_t)k < cap && access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, cap, "coordd");
}

static int ctl_snapshot_restore(struct ctl *x)
{
    static char *argv[CTL_ARGS_MAX + 4];
    char bin[PATH_MAX];
    if (x->argc < 3)
        return ctl_usage_error("snapshot restore FILE -- --data-dir DIR "
                               "[other coordd flags]: coordd needs at "
                               "least --data-dir");
    ctl_coordd_path(bin, sizeof(bin));
    int k = 0;
    argv[k++] = bin;
    argv[k++] = "--restore-snapshot";
    argv[k++] = x->argv[1];
    for (int i = 2; i < x->argc; i++)
        argv[k++] = x->argv[i];
    argv[k] = NULL;
    fflush(stdout);
    execvp(bin, argv);
    fprintf(stderr, "coordctl: cannot run %s: %s; install coordd or set "
            "COORDD_BIN\n", bin, strerror(errno));
    return CTL_EXIT_EXEC;
}

int ctl_cmd_snapshot(struct ctl *x)
{
    if (strcmp(x->argv[0], "save") == 0) {
        if (x->argc != 2)
            return ctl_usage_error("snapshot save takes one FILE");
        return ctl_snapshot_save(x, x->argv[1]);
    }
    if (strcmp(x->argv[0], "restore") == 0)
        return ctl_snapshot_restore(x);
    return ctl_usage_error("snapshot wants save or restore, not '%s'",
                           x->argv[0]);
}
