#!/bin/sh
# tools/test_part1.sh: Part I of r1.c builds and runs alone, with its own loops only: the lines of r1.c
# above its PART II banner, then tools/part1_main.c (the hooks into Part II, every kernel declining, and a
# main that pretrains a tiny model and runs R1-Zero's loop on it). Ends "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/test_part1.XXXXXX)
trap 'rm -rf "$dir"' EXIT
banner=$(grep -n '^// PART II\. THE MACHINERY' r1.c | cut -d: -f1)
head -n $((banner - 2)) r1.c > "$dir/part1.c"   # up to the rule above the banner
cat tools/part1_main.c >> "$dir/part1.c"
if ! ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror=implicit-function-declaration \
        -Wno-unused-function -Wno-unused-variable -fopenmp -Itools -o "$dir/part1" \
        "$dir/part1.c" -lm 2> "$dir/cc.log"; then
    cat "$dir/cc.log"
    echo "FAIL  Part I of r1.c (its first $((banner - 2)) lines) does not build alone"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "PASS  Part I of r1.c (its first $((banner - 2)) lines) builds alone: no symbol of Part II"
"$dir/part1" > "$dir/out.log"
status=$?
cat "$dir/out.log"
summary=$(tail -n 1 "$dir/out.log")
p=${summary%% passed*}; f=${summary#*passed, }; f=${f%% failed}
case "$p$f" in *[!0-9]*|"") p=0 f=1; echo "FAIL  Part I alone ended without its summary (status $status)";; esac
echo "$((p + 1)) passed, $f failed"
[ "$f" -eq 0 ]
