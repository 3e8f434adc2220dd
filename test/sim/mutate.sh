#!/usr/bin/env bash
# mutate.sh -- proves the simulator catches real Raft mistakes.
#
# For each sed script in test/sim/mutations/ (one deliberate bug each), copy
# coordd/raft/ into a temp dir, apply the script there (never to the real
# core), build coordsim against the mutated copy in that temp dir, run the
# seeds and report how many seeds hit a SAFETY violation that the unmutated
# core does not hit (the same seeds are first run on an unmutated copy built
# the same way; liveness failures are never counted), the first such seed
# and the invariants that fired.
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

build() { # dir -> builds dir/coordsim from dir/coordd/raft
    ${CC:-cc} $cflags -Ilibcoord/include -iquote "$1" -iquote . \
        "$1"/coordd/raft/*.c test/sim/*.c build/libcoordshared.a -lm \
        -o "$1/coordsim" 2>"$1/build.log"
}

safety() { # log -> "seed<TAB>message" of safety failures, sorted
    grep -E '^FAIL seed' "$1" | grep -v 'liveness:' |
        sed -E 's/^FAIL seed ([0-9]+) at step [0-9]+: (.*)/\1\t\2/' | sort
}

base="$work/base"
mkdir -p "$base/coordd"
cp -r coordd/raft "$base/coordd/raft"
build "$base" || { echo "baseline build failed"; exit 2; }
"$base/coordsim" --seeds "$seeds" --steps "$steps" --jobs 2 --brief \
    >"$base/run.log" 2>&1
safety "$base/run.log" >"$base/safety"
echo "seeds $seeds, $steps steps each; unmutated core: $(wc -l <"$base/safety") seeds with safety violations, $(grep -c 'liveness:' "$base/run.log") liveness-only failures"

rc=0
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
    if ! build "$dir"; then
        printf '%-32s BUILD FAILED\n' "$name"
        head -5 "$dir/build.log"
        rc=1
        continue
    fi
    "$dir/coordsim" --seeds "$seeds" --steps "$steps" --jobs 2 --brief \
        >"$dir/run.log" 2>&1
    safety "$dir/run.log" | comm -23 - "$base/safety" >"$dir/new"
    n=$(wc -l <"$dir/new")
    if [ "$n" -eq 0 ]; then
        printf '%-32s NOT CAUGHT\n' "$name"
        rc=1
        continue
    fi
    first=$(sort -n "$dir/new" | head -1)
    inv=$(cut -f2 "$dir/new" | sed -E 's/^(I[0-9]+|core panic|signal|[a-z]+).*/\1/' |
        sort | uniq -c | sort -rn | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
    printf '%-32s caught by %s seeds (%s)\n' "$name" "$n" "$inv"
    printf '%-32s   first: seed %s: %s\n' "" "$(echo "$first" | cut -f1)" \
        "$(echo "$first" | cut -f2 | cut -c1-100)"
done
exit $rc
