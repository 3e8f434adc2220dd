#!/usr/bin/env bash
# cli_test.sh -- runs the lincheck CLI (argument 1) on every history in
# test/fault/checker/fixtures/ and compares its exit code with the file's
# "# expect: N" line (0 linearizable, 1 not, 2 bad input, 3 unknown); extra
# flags come from an optional "# args: ..." line. A not-linearizable verdict
# must also print an explanation. Ends with "N passed, N failed".
set -u
bin=${1:-build/test/fault/lincheck}
dir=$(dirname "$0")/fixtures
pass=0
fail=0
for f in "$dir"/*.hist; do
    want=$(sed -n 's/^# expect: \([0-9]\).*/\1/p' "$f")
    args=$(sed -n 's/^# args: //p' "$f")
    out=$("$bin" $args "$f" 2>&1)
    got=$?
    ok=1
    [ "$got" = "$want" ] || ok=0
    if [ "$want" = 1 ] && ! grep -q 'cannot linearize' <<<"$out"; then ok=0; fi
    if [ "$want" = 2 ] && ! grep -q 'line [0-9]' <<<"$out"; then ok=0; fi
    if [ $ok = 1 ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $f: exit $got, expected $want"
        printf '%s\n' "$out" | head -n 20
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
