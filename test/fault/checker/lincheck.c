/* lincheck.c -- command-line front end of the linearizability checker:
 * `build/test/fault/lincheck [-m MiB] [-q] [-P] FILE` (FILE "-" is stdin).
 *
 * How it fits: lets a person (or a script in the fault suite) check a
 * recorded history file; the format is in docs/testing.md. Prints one line
 * per key and, for a key that is not linearizable, the operation that could
 * not be placed and the states it could not be placed in.
 *
 * Exit codes: 0 linearizable, 1 not linearizable, 2 bad input or usage,
 * 3 unknown (the search budget ran out; raise it with -m).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checker.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: lincheck [-m MEMO_MiB] [-q] [-P] HISTORY_FILE|-\n"
            "  -m  memo budget per key in MiB (default %zu)\n"
            "  -q  print only failing keys and the verdict\n"
            "  -P  plain search (no prunings; slower, for cross-checks)\n"
            "exit: 0 linearizable, 1 not, 2 bad input, 3 unknown\n",
            LINCHECK_MEMO_BYTES_DEFAULT >> 20);
}

int main(int argc, char **argv)
{
    struct lincheck_options opts = {0};
    bool quiet = false;
    int c;
    while ((c = getopt(argc, argv, "m:qPh")) != -1) {
        char *end;
        unsigned long mib;
        switch (c) {
        case 'm':
            mib = strtoul(optarg, &end, 10);
            if (*end != '\0' || mib == 0 || mib > (1ul << 20)) {
                usage();
                return 2;
            }
            opts.memo_bytes_max = (size_t)mib << 20;
            break;
        case 'q':
            quiet = true;
            break;
        case 'P':
            opts.plain = true;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage();
        return 2;
    }
    const char *path = argv[optind];
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "lincheck: %s: %s\n", path, strerror(errno));
        return 2;
    }
    struct lincheck_history *h = lincheck_history_new();
    if (h == NULL) {
        fprintf(stderr, "lincheck: out of memory\n");
        return 2;
    }
    char err[512];
    int rc = lincheck_history_parse(h, in, err, sizeof(err));
    if (in != stdin)
        fclose(in);
    if (rc < 0) {
        fprintf(stderr, "lincheck: %s: %s\n", path,
                rc == -EINVAL ? err : "out of memory");
        lincheck_history_free(h);
        return 2;
    }
    struct lincheck_report rep;
    rc = lincheck_check(h, &opts, &rep);
    lincheck_history_free(h);
    if (rc < 0) {
        fprintf(stderr, "lincheck: out of memory\n");
        return 2;
    }
    if (quiet) {
        for (size_t i = 0; i < rep.n_keys; i++)
            if (rep.keys[i].verdict != LINCHECK_LINEARIZABLE)
                printf("key %s: %s\n%s", rep.keys[i].key,
                       lincheck_verdict_name(rep.keys[i].verdict),
                       rep.keys[i].explain);
        printf("verdict: %s (%zu keys)\n", lincheck_verdict_name(rep.verdict),
               rep.n_keys);
    } else {
        lincheck_report_print(&rep, stdout);
    }
    int code = (int)rep.verdict; /* 0, 1 or 3 as documented */
    lincheck_report_free(&rep);
    return code;
}
