#!/usr/bin/env bash
# run.sh -- run every test suite and sum their results.
#
# Reads "name|command" suites on stdin, one word per line (as make prints
# a list): a word containing "|" starts a new suite, and every following
# word without one continues its command. Each command is run with a time limit
# (SUITE_TIMEOUT seconds, default 900); its output goes to build/test-logs/
# and is echoed. A suite's counts come from cmocka's summary lines
# ("[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)") or from a plain line
# "N passed, N failed". A suite that exits non-zero with no failure counted
# (a crash, a timeout, a sanitizer report) counts as one failure.
# Ends with the one line "N passed, N failed"; exits 1 if anything failed.
set -u
timeout_s=${SUITE_TIMEOUT:-900}
logdir=build/test-logs
mkdir -p "$logdir"
total_pass=0
total_fail=0
failed_suites=()

suites=()
while IFS= read -r word; do
    [ -z "$word" ] && continue
    if [[ "$word" == *"|"* ]] || [ ${#suites[@]} -eq 0 ]; then
        suites+=("$word")
    else
        suites[-1]="${suites[-1]} $word"
    fi
done

for line in "${suites[@]}"; do
    name=${line%%|*}
    cmd=${line#*|}
    log="$logdir/${name//[\/:]/_}.log"
    start=$(date +%s%N)
    timeout --kill-after=10 "$timeout_s" bash -c "$cmd" </dev/null >"$log" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    secs="$((ms / 1000)).$(((ms % 1000) / 100))"
    pass=0
    fail=0
    if grep -q '^\[  PASSED  \]\|^\[  FAILED  \]' "$log"; then
        pass=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" |
            awk '{s+=$1} END {print s+0}')
        fail=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" |
            awk '{s+=$1} END {print s+0}')
    elif grep -qE '^[0-9]+ passed, [0-9]+ failed' "$log"; then
        pass=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 |
            sed -E 's/^([0-9]+) passed.*/\1/')
        fail=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 |
            sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    fi
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
        [ "$rc" -eq 124 ] && echo "  $name: timed out after ${timeout_s}s"
    fi
    if [ "$fail" -ne 0 ]; then
        failed_suites+=("$name")
        echo "---- $name output (last 60 lines of $log) ----"
        tail -n 60 "$log"
        echo "----"
    fi
    printf '%-40s %5d ok %3d failed  %6ss\n' "$name" "$pass" "$fail" "$secs"
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
done

if [ ${#failed_suites[@]} -gt 0 ]; then
    echo "failed suites: ${failed_suites[*]} (logs in $logdir/)"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
