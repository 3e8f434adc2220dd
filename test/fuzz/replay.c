/* replay.c -- plain-C driver that runs every file of the given corpus
 * directories (or files) through LLVMFuzzerTestOneInput once, so `make test`
 * replays the fuzz corpora with gcc, normally and under ASan+UBSan, without
 * libFuzzer. Linked with one fuzz target, which defines the globals
 * below (abort or count on a failed check; checks made); prints "N passed, N failed"
 * counting files. A sanitizer report still ends the process (and run.sh
 * counts it as a failure).
 */
#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern bool fuzz_abort_on_failure;
extern unsigned long fuzz_failures;
extern unsigned long fuzz_checks;

static unsigned passed, failed;

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        failed++;
        return;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(stderr, "replay: out of memory on %s\n", path);
        failed++;
        return;
    }
    unsigned long before = fuzz_failures;
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    if (fuzz_failures != before) {
        fprintf(stderr, "replay: FAILED %s\n", path);
        failed++;
    } else {
        passed++;
    }
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no such corpus %s\n", path);
        failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char full[4096];
            snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
            run_path(full);
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    fuzz_abort_on_failure = false;
    if (argc < 2) {
        fprintf(stderr, "usage: %s corpus-dir-or-file...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        run_path(argv[i]);
    printf("replay: %lu decoded messages re-encoded and compared\n",
           fuzz_checks);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
