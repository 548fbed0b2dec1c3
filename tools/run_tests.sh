#!/usr/bin/env bash
# tools/run_tests.sh PROGRAM...: runs every test program in turn (the next one also when one fails),
# shows its output, and ends with one line adding up their last lines "N passed, N failed" (tools/check.h).
# A program that exits non-zero or ends without its summary line (a crash) counts as a failure.
# Exit status: 0 only if every program passed all its checks.
set -u
total_pass=0 total_fail=0 bad=0 parts=""
log=$(mktemp /tmp/run_tests.XXXXXX)
trap 'rm -f "$log"' EXIT
for prog in "$@"; do
    "$prog" | tee "$log"
    status=${PIPESTATUS[0]}
    summary=$(tail -n 1 "$log")
    if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
    else
        p=0 f=1
        echo "FAIL  $prog ended without its summary line (exit status $status)"
    fi
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL  $prog exited with status $status"
    fi
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
    [ "$f" -ne 0 ] && bad=1
    parts="$parts${parts:+, }${prog#./} $p/$((p + f))"
done
echo "all test programs: $total_pass passed, $total_fail failed ($parts)"
exit $bad
