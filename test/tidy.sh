#!/usr/bin/env bash
# tidy.sh -- mechanical checks of coord's module boundaries and C rules
# (STYLE.md Part 2's include table and Part 3 rule 18). One check per rule;
# each prints its offenders. Ends with "N passed, N failed" (checks).
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0
check() { # name, offending lines (empty = ok)
    if [ -z "$2" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "tidy: $1:"
        printf '%s\n' "$2" | head -n 20 | sed 's/^/    /'
    fi
}

prod=$(git ls-files -co --exclude-standard -- 'coordd/*.[ch]' 'libcoord/*.[ch]' \
    'recipes/*.[ch]' 'coordctl/*.[ch]' 2>/dev/null)
all=$(git ls-files -co --exclude-standard -- '*.[ch]' 2>/dev/null)
in_dir() { printf '%s\n' $prod | grep "^$1" ; }
grep_in() { # pattern, files...
    local pat=$1; shift
    [ $# -eq 0 ] && return 0
    grep -nE "$pat" "$@" 2>/dev/null
}

# Every source file opens with a comment saying what it is.
bad=""
for f in $all; do
    head -c 2 "$f" | grep -q '^/[*/]' || bad="$bad$f"$'\n'
done
check "file does not open with a comment" "${bad%$'\n'}"

check "banned call (sprintf/strcpy/strcat/atoi/gets)" \
    "$(grep_in '(^|[^_a-z0-9])(sprintf|vsprintf|strcpy|strcat|atoi|gets)\(' $prod)"

check "malloc/calloc/realloc/free outside alloc.c" \
    "$(grep_in '(^|[^_a-z0-9.>])(malloc|calloc|realloc|free)\(' \
        $(printf '%s\n' $prod | grep -v 'libcoord/shared/alloc.c'))"

check "clock, randomness or I/O in raft/ or tree/" \
    "$(grep_in '(^|[^_a-z0-9])(rand|random|srand|time|clock_gettime|gettimeofday|getpid|fopen|open|read|write|send|recv|socket)\(' \
        $(in_dir coordd/raft/) $(in_dir coordd/tree/))"

check "raft/ includes outside its boundary" \
    "$(grep_in '#include' $(in_dir coordd/raft/) |
        grep -vE '"(raft|raft_int|[a-z_]+)\.h"|"coordd/limits\.h"|"libcoord/shared/(check|alloc)\.h"|"coord\.h"|<(stdint|stddef|stdbool|string|limits|stdarg|stdio|inttypes)\.h>' |
        grep -E 'coordd/(tree|store|net)|<ev\.h>|rocksdb|sodium|msgpack|socket|<time\.h>|"libcoord/shared/wire')"

check "tree/ includes outside its boundary" \
    "$(grep_in '#include' $(in_dir coordd/tree/) |
        grep -E 'coordd/(raft|store|net)/|<ev\.h>|rocksdb|sodium|socket|<time\.h>' ;
       grep_in '#include <msgpack' $(in_dir coordd/tree/ | grep -v 'cmd.c$'))"

check "<rocksdb/c.h> outside coordd/store/rocks.c" \
    "$(grep_in '#include <rocksdb' $(printf '%s\n' $prod | grep -v 'coordd/store/rocks.c'))"

check "<sodium.h> outside libcoord/shared/auth.c" \
    "$(grep_in '#include <sodium' $(printf '%s\n' $prod | grep -v 'libcoord/shared/auth.c'))"

check "<ev.h> outside coordd/net/ and libcoord/ev.c" \
    "$(grep_in '#include <ev\.h>' $(printf '%s\n' $prod | grep -vE '^coordd/net/|^libcoord/ev\.c$'))"

check "recipes/ or coordctl/ reaching past the public API" \
    "$(grep_in '#include "' $(in_dir recipes/) $(in_dir coordctl/) |
        grep -vE '"(coord|coord_recipes|[a-z_]+)\.h"' ; \
       grep_in '#include .*(client_int|shared/|coordd/)' $(in_dir recipes/) $(in_dir coordctl/))"

check "libcoord/ including coordd/" \
    "$(grep_in '#include "coordd/' $(in_dir libcoord/))"

check "line longer than 80 columns" \
    "$(for f in $prod; do awk -v f="$f" 'length($0) > 80 { print f ":" FNR ": " length($0) " cols" }' "$f"; done)"

# A function body starts with "{" in column 0 and ends with "}" in column 0.
check "function longer than 70 lines" \
    "$(for f in $(printf '%s\n' $prod | grep '\.c$'); do
        awk -v f="$f" '/^\{/ { s = FNR } /^\}/ && s { if (FNR - s - 1 > 70) print f ":" s ": " FNR - s - 1 " lines"; s = 0 }' "$f"; done)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
