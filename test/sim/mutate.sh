#!/usr/bin/env bash
# mutate.sh -- proves the simulator catches real Raft mistakes.
#
# For each sed script in test/sim/mutations/ (one deliberate bug each), copy
# coordd/raft/ into a temp dir, apply the script there (never to the real
# core), build coordsim against the mutated copy in that temp dir, run the
# default seeds and report how many seeds hit a SAFETY violation (liveness
# failures are not counted: they show up on the unmutated core too while it
# has liveness bugs), the first such seed and the invariant that fired.
#
#   test/sim/mutate.sh [SEEDS (default 1-4000)] [STEPS (default 10000)]
#   MUTATIONS="02 04" test/sim/mutate.sh      only those scripts
set -u
cd "$(dirname "$0")/../.."
seeds=${1:-1-4000}
steps=${2:-10000}
make -s build/test/sim/coordsim >/dev/null || exit 2
work=$(mktemp -d /tmp/coordsim-mut.XXXXXX)
trap 'rm -rf "$work"' EXIT
cflags="-std=gnu11 -O2 -g -Wall -Wextra -Wno-missing-field-initializers -D_GNU_SOURCE -pthread"

run_one() { # name, dir -> prints the report line
    local name=$1 dir=$2 log="$2/run.log"
    "$dir/coordsim" --seeds "$seeds" --steps "$steps" --jobs 2 >"$log" 2>&1
    local total safety first inv
    total=$(grep -cE '^FAIL seed' "$log")
    safety=$(grep -E '^FAIL seed' "$log" | grep -vc 'liveness:')
    if [ "$safety" -eq 0 ]; then
        printf '%-32s NOT CAUGHT (%s liveness-only failures)\n' "$name" "$total"
        return 1
    fi
    first=$(grep -E '^FAIL seed' "$log" | grep -v 'liveness:' |
        sed -E 's/^FAIL seed ([0-9]+) at step ([0-9]+): (.*)/\1 \2 \3/' |
        sort -n | head -1)
    inv=$(grep -E '^FAIL seed' "$log" | grep -v 'liveness:' |
        sed -E 's/^FAIL seed [0-9]+ at step [0-9]+: (I[0-9]+|core panic|signal|[a-z]+).*/\1/' |
        sort | uniq -c | sort -rn | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
    printf '%-32s caught by %s seeds; first: seed %s at step %s: %s\n' \
        "$name" "$safety" "$(echo "$first" | cut -d' ' -f1)" \
        "$(echo "$first" | cut -d' ' -f2)" "$(echo "$first" | cut -d' ' -f3- | cut -c1-90)"
    printf '%-32s   by invariant: %s\n' "" "$inv"
}

rc=0
echo "seeds $seeds, $steps steps each"
for script in test/sim/mutations/*.sed; do
    name=$(basename "$script" .sed)
    if [ -n "${MUTATIONS:-}" ]; then
        echo " $MUTATIONS " | grep -q " ${name%%-*} " || continue
    fi
    dir="$work/$name"
    mkdir -p "$dir/coordd"
    cp -r coordd/raft "$dir/coordd/raft"
    changed=0
    for f in "$dir"/coordd/raft/*.c; do
        cp "$f" "$f.orig"
        sed -i -f "$script" "$f"
        cmp -s "$f" "$f.orig" || changed=$((changed + 1))
        rm -f "$f.orig"
    done
    if [ "$changed" -eq 0 ]; then
        printf '%-32s DID NOT APPLY (the core changed; update the script)\n' "$name"
        rc=1
        continue
    fi
    if ! ${CC:-cc} $cflags -Ilibcoord/include -iquote "$dir" -iquote . \
        "$dir"/coordd/raft/*.c test/sim/*.c build/libcoordshared.a -lm \
        -o "$dir/coordsim" 2>"$dir/build.log"; then
        printf '%-32s BUILD FAILED (see below)\n' "$name"
        head -5 "$dir/build.log"
        rc=1
        continue
    fi
    run_one "$name" "$dir" || rc=1
done
exit $rc
