#!/bin/sh
# tools/test_study.sh: tools/study_summary.awk on two hand-written logs whose answers were worked out
# by hand: the aha of each run, its step, the arm's mean and 95% interval. Ends "N passed, N failed".
set -u
dir=$(mktemp -d /tmp/test_study.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/a" "$dir/b"
header=step,accuracy,test_greedy,test_pass1,test_length,test_reflection,test_checked_in_chains
# a: pass@1 +0.22 at step 20 but length only +17.5%; both hold first at step 30
cat > "$dir/a/log.csv" <<EOF
$header
0,0.25,0.10,0.30,40.0,0.30,0.60
5,0.30,,,,,
10,0.30,0.20,0.45,50.0,0.40,0.61
20,0.40,0.30,0.52,47.0,0.45,0.62
30,0.50,0.40,0.55,49.0,0.50,0.63
EOF
# b: length rises by 12.5% only: never an aha
cat > "$dir/b/log.csv" <<EOF
$header
0,0.35,0.10,0.30,40.0,0.30,0.50
10,0.40,0.50,0.60,45.0,0.30,0.55
EOF
out=$(printf 'arm x 1 %s/a\narm x 2 %s/b\n' "$dir" "$dir" | awk -f tools/study_summary.awk -v csv="$dir/s.csv")
pass=0 fail=0
expect() {  # expect WHAT FOUND WANTED
    if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "PASS  $1: $2"
    else fail=$((fail + 1)); echo "FAIL  $1: got '$2', expected '$3'"; fi
}
expect "run a: aha at step 30" "$(awk -F, 'NR == 2 { print $16 "@" $17 }' "$dir/s.csv")" "1@30"
expect "run b: no aha" "$(awk -F, 'NR == 3 { print $16 "@" $17 }' "$dir/s.csv")" "0@"
expect "run a: base and end pass@1, first accuracy" "$(awk -F, 'NR == 2 { print $5, $6, $7 }' "$dir/s.csv")" "0.25 0.30 0.55"
# Wilson, 1 of 2: centre (0.5 + 1.96^2 / 4) / (1 + 1.96^2 / 2) = 0.5, half-width
# 1.96 sqrt(0.25 / 2 + 1.96^2 / 16) / (1 + 1.96^2 / 2) = 0.405
expect "arm line" "$(echo "$out" | head -n 1)" \
    "arm: 2 runs, aha in 1 (share 0.50, 95% interval 0.09-0.91), median step of aha 30"
# end pass@1 0.55, 0.60: mean 0.575, s = 0.05/sqrt(2), half-width 12.706 s / sqrt(2) = 0.318
expect "end pass@1: mean, 95% interval, range" "$(echo "$out" | grep ' pass1 ' | sed 's/.*-> end //')" \
    "0.575 +-0.318 (0.550-0.600)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
