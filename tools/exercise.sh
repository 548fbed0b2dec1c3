#!/usr/bin/env bash
# The classroom kit (exercises.md). Exercise N is the code between "// exercise N begin: TITLE" and
# "// exercise N end" in r1.c (one exercise may have several such regions).
#
#   tools/exercise.sh list        the exercises and their checks
#   tools/exercise.sh new N       writes exercises/N/: r1.c with exercise N's code replaced by a stub that
#                                 fails, and links to what the tests need (test_r1.c, tiny_data)
#   tools/exercise.sh check N     builds exercises/N/ and runs exercise N's checks; the last line is the verdict
#   tools/exercise.sh answer N    puts r1.c's code of exercise N into exercises/N/r1.c (yours is kept as r1.c.mine)
#   tools/exercise.sh test-all    for every exercise: the stub must fail its check, r1.c's code must pass it
#
# make exercise N / make check N call this with the Makefile's CC, CFLAGS and LDLIBS.
# Environment: EXERCISES_DIR (default: exercises), BASE (the capstone's base model, default
# runs/base/model.bin), CAPSTONE_STEPS (default 30).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${EXERCISES_DIR:-$ROOT/exercises}
CC=${CC:-cc}
CFLAGS="${CFLAGS:--std=c11 -O2 -march=native -Wall -Wextra -fopenmp} -Wno-unused-parameter"  # a stub uses none
LDLIBS=${LDLIBS:--lm}
BASE=${BASE:-$ROOT/runs/base/model.bin}
CAPSTONE_STEPS=${CAPSTONE_STEPS:-30}

# exercise | the test_r1 sections that check it | its stub (empty: die). "zero" is the capstone's R1-Zero run.
TABLE='
1  | rmsnorm model   |
2  | rope kvcache    |
3  | attention model |
4  | swiglu model    |
5  | moe             |
6  | moe model       |
7  | mla model       |
8  | crossentropy    |
9  | optimizer       |
10 | optimizer       |
11 | rewards         | return -1.0f;
12 | grpo            |
13 | grpo            |
14 | rejection       |
15 | distill         |
16 | training zero   |
'

fail() { echo "exercise: $*" >&2; exit 2; }

# the field $2 (2 sections, 3 stub) of exercise $1's row of the table
table_field() {
    awk -F'|' -v n="$1" -v f="$2" '$1 + 0 == n && $1 ~ /[0-9]/ { gsub(/^ +| +$/, "", $f); print $f; found = 1 }
                                   END { exit !found }' <<< "$TABLE"
}

# the exercises of r1.c: "N<TAB>TITLE" (the title of N's first region), in order of N; dies on unpaired markers
exercises() {
    awk 'match($0, /^[ \t]*\/\/ exercise [0-9]+ (begin: |end$)/) {
             split($0, w, " "); for (i = 1; w[i] != "exercise"; i++) ; n = w[i + 1]; kind = w[i + 2]
             if (kind == "begin:") {
                 if (open != "") { printf "r1.c:%d: exercise %s begins inside exercise %s\n", NR, n, open; bad = 1; exit }
                 open = n; if (!(n in title)) title[n] = substr($0, index($0, "begin: ") + 7)
             } else {
                 if (open != n) { printf "r1.c:%d: exercise %s ends where it did not begin\n", NR, n; bad = 1; exit }
                 open = ""
             }
         }
         END { if (bad) exit 1
               if (open != "") { printf "r1.c: exercise %s never ends\n", open; exit 1 }
               for (n in title) print n "\t" title[n] }' "$ROOT/r1.c" | sort -n
}

title_of() { exercises | awk -F'\t' -v n="$1" '$1 == n { print $2 }'; }

valid_number() {
    [ $# -eq 1 ] || fail "give one exercise number, e.g. make check 1 (the list: make exercise)"
    local list
    list=$(exercises) || fail "$list"
    case "$1" in ''|*[!0-9]*) fail "'$1' is not an exercise number; the exercises:"$'\n'"$list" ;; esac
    awk -F'\t' -v n="$1" '$1 == n { found = 1 } END { exit !found }' <<< "$list" ||
        fail "there is no exercise $1 in r1.c; the exercises:"$'\n'"$list"
    table_field "$1" 2 >/dev/null || fail "exercise $1 has no row in the table of tools/exercise.sh"
}

stub_of() {
    local s
    s=$(table_field "$1" 3)
    if [ -n "$s" ]; then echo "$s // exercise $1: not written yet"; else echo "die(\"exercise $1: not written yet\");"; fi
}

# stdout: FILE with the body of every region of exercise N replaced by STUB (indented like its marker)
stub_regions() { # N STUB FILE
    awk -v n="$1" -v stub="$2" '
        $0 ~ "^[ \t]*// exercise " n " begin: " { print; match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) stub; skip = 1; next }
        $0 ~ "^[ \t]*// exercise " n " end$" { skip = 0 }
        !skip { print }' "$3"
}

# stdout: INTO with the body of each region of exercise N taken from the same region of FROM
put_regions() { # N FROM INTO
    awk -v n="$1" '
        FNR == NR { if ($0 ~ endre) inside = 0; if (inside) body[k] = body[k] $0 "\n"; if ($0 ~ beginre) { k++; inside = 1 }; next }
        skip && $0 !~ endre { next }
        { skip = 0; print }
        $0 ~ beginre { if (++j > k) { bad = 1; exit } printf "%s", body[j]; skip = 1 }
        END { if (bad || j != k) { print "exercise " n ": the regions of the two files do not match" > "/dev/stderr"; exit 1 } }
    ' beginre="^[ \t]*// exercise $1 begin: " endre="^[ \t]*// exercise $1 end\$" "$2" "$3"
}

# the lines of exercise N's regions (markers included) in FILE, to compare two files' versions
regions_of() { awk -v n="$1" '$0 ~ "^[ \t]*// exercise " n " begin: " { on = 1 } on { print } $0 ~ "^[ \t]*// exercise " n " end$" { on = 0 }' "$2"; }

cmd_list() {
    local list
    list=$(exercises) || fail "$list"
    while IFS=$'\t' read -r n title; do
        local sections
        sections=$(table_field "$n" 2)
        printf "%3s  %-60s ./test_r1 %s\n" "$n" "$title" "${sections/% zero/, then R1-Zero from the base model}"
    done <<< "$list"
}

cmd_new() {
    valid_number "$@"
    local n=$1 d=$DIR/$1
    if [ -e "$d/r1.c" ]; then
        echo "exercise $n: $d/r1.c already exists (your work), so it was left as it is." >&2
        echo "To start over: rm -r $d && make exercise $n" >&2
        exit 1
    fi
    mkdir -p "$d" || fail "cannot create $d"
    stub_regions "$n" "$(stub_of "$n")" "$ROOT/r1.c" > "$d/r1.c.tmp" || fail "cannot write $d/r1.c"
    # the capstone runs all of your code: it takes every exercise you have written from your copies
    if table_field "$n" 2 | grep -qw zero; then
        local m mine=""
        for m in $(exercises | cut -f1); do
            if [ "$m" = "$n" ] || [ ! -f "$DIR/$m/r1.c" ]; then continue; fi
            stub_regions "$m" "$(stub_of "$m")" "$ROOT/r1.c" > "$d/stub.tmp"
            [ "$(regions_of "$m" "$DIR/$m/r1.c")" != "$(regions_of "$m" "$d/stub.tmp")" ] || continue
            if put_regions "$m" "$DIR/$m/r1.c" "$d/r1.c.tmp" > "$d/with.tmp" 2>/dev/null; then
                mv "$d/with.tmp" "$d/r1.c.tmp"; mine="$mine $m"
            else
                echo "exercise $n: the exercise $m lines of $DIR/$m/r1.c are not r1.c's, so its code is r1.c's"
            fi
        done
        rm -f "$d/stub.tmp" "$d/with.tmp"
        if [ -n "$mine" ]; then echo "exercise $n: your code of exercises$mine comes from your copies ($DIR/N/r1.c)"
        else echo "exercise $n: no other exercise written yet in $DIR/, so the rest of the code is r1.c's"; fi
    fi
    mv "$d/r1.c.tmp" "$d/r1.c"
    ln -sfn "$ROOT/test_r1.c" "$d/test_r1.c"
    ln -sfn "$ROOT/tiny_data" "$d/tiny_data"
    local rel=${d#"$PWD"/}
    echo "exercise $n ($(title_of "$n")): wrote $rel/r1.c"
    echo "  write the code between the \"exercise $n begin\" and \"exercise $n end\" lines of $rel/r1.c,"
    echo "  then: make check $n"
}

# prints the verdict line; exit status 0 passed, 1 not yet, 2 could not check
verdict() { # N STATUS TEXT
    echo "exercise $1 ($(title_of "$1")): $3"
    exit "$2"
}

# the capstone's R1-Zero run from the base model, then its log.csv against the thresholds
capstone_run() { # N
    local n=$1 steps=$CAPSTONE_STEPS
    if [ ! -f "$BASE" ] && [ -n "${SKIP_RUN_WITHOUT_BASE:-}" ]; then
        echo "the R1-Zero run: SKIPPED (no base model at $BASE)"
        return 0
    fi
    if [ ! -f "$BASE" ]; then
        echo "The capstone's R1-Zero run starts from a base model, and $BASE does not exist."
        echo "Make it once at the top of the repository: make aha (or ./r1 pretrain; about 10 minutes on 2 cores)."
        verdict "$n" 2 "NOT CHECKED: no base model"
    fi
    echo "R1-Zero with your code: $steps steps from $BASE, held-out evaluation at steps 0 and $steps"
    rm -rf runs/zero
    local t0=$SECONDS
    ./r1 zero --init "$BASE" --out runs/zero --steps "$steps" --eval-every "$steps"
    if [ ! -f runs/zero/log.csv ] || ! grep -q "^$steps," runs/zero/log.csv; then
        verdict "$n" 1 "NOT YET: the R1-Zero run stopped before step $steps (its messages above)"
    fi
    # held-out greedy accuracy, pass@1 and mean length at step 0 and at the last step: each must rise
    awk -F, -v steps="$steps" -v secs=$((SECONDS - t0)) '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == 0 { g0 = $col["test_greedy"]; p0 = $col["test_pass1"]; l0 = $col["test_length"] }
        $1 == steps { g1 = $col["test_greedy"]; p1 = $col["test_pass1"]; l1 = $col["test_length"] }
        END {
            printf "held-out, step 0 -> %d (%d s):\n", steps, secs
            ok1 = g1 - g0 >= 0.30; ok2 = p1 - p0 >= 0.03; ok3 = l1 - l0 >= 5
            printf "  %s greedy accuracy       %.3f -> %.3f (must rise by 0.30 or more)\n", ok1 ? "PASS" : "FAIL", g0, g1
            printf "  %s pass@1                %.3f -> %.3f (must rise by 0.03 or more)\n", ok2 ? "PASS" : "FAIL", p0, p1
            printf "  %s mean response length  %.1f -> %.1f tokens (must grow by 5 or more)\n", ok3 ? "PASS" : "FAIL", l0, l1
            exit !(ok1 && ok2 && ok3)
        }' runs/zero/log.csv || verdict "$n" 1 "NOT YET: the R1-Zero run did not learn enough (above; runs/zero/log.csv)"
}

cmd_check() {
    valid_number "$@"
    local n=$1 d=$DIR/$1 sections t0=$SECONDS
    [ -f "$d/r1.c" ] || fail "no copy of exercise $n in $DIR: make exercise $n first"
    sections=$(table_field "$n" 2)
    local tests=${sections% zero}
    cd "$d" || exit 2
    echo "building $d/test_r1"
    # shellcheck disable=SC2086 # CFLAGS and LDLIBS are lists of words
    $CC $CFLAGS -o test_r1 test_r1.c $LDLIBS || verdict "$n" 1 "NOT YET: r1.c does not compile (the compiler's messages above)"
    if [ "$tests" != "$sections" ]; then
        # shellcheck disable=SC2086
        $CC $CFLAGS -o r1 r1.c $LDLIBS || verdict "$n" 1 "NOT YET: r1.c does not compile (the compiler's messages above)"
    fi
    echo "running ./test_r1 $tests"
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=1 ./test_r1 $tests > test.log 2>&1
    local status=$?
    cat test.log
    local summary failed
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' test.log | tail -n 1)
    if [ -z "$summary" ]; then
        local why
        why=$(grep -m 1 '^r1: error:' test.log)
        verdict "$n" 1 "NOT YET: the checks stopped before the end (${why:-exit status $status})"
    fi
    failed=$(echo "$summary" | cut -d' ' -f3)
    if [ "$failed" != 0 ] || [ $status -ne 0 ]; then
        verdict "$n" 1 "NOT YET: $failed of the checks failed (the FAIL lines above)"
    fi
    if [ "$tests" != "$sections" ]; then capstone_run "$n"; fi
    local count what
    count=$(echo "$summary" | cut -d' ' -f1)
    what="$count check$([ "$count" = 1 ] || echo s)"
    if [ "$tests" != "$sections" ]; then
        if [ -f "$BASE" ]; then what="$what and the R1-Zero run"; else what="$what; the R1-Zero run SKIPPED: no base model"; fi
    fi
    verdict "$n" 0 "PASSED ($what, $((SECONDS - t0)) s)"
}

cmd_answer() {
    valid_number "$@"
    local n=$1 d=$DIR/$1
    [ -f "$d/r1.c" ] || fail "no copy of exercise $n in $DIR: make exercise $n first"
    put_regions "$n" "$ROOT/r1.c" "$d/r1.c" > "$d/r1.c.tmp" || { rm -f "$d/r1.c.tmp"; fail "cannot put the answer into $d/r1.c"; }
    cp "$d/r1.c" "$d/r1.c.mine" && mv "$d/r1.c.tmp" "$d/r1.c"
    echo "exercise $n: r1.c's code is now in $d/r1.c (yours: $d/r1.c.mine)"
}

# CI: both directions for every exercise, in a temporary folder. Without a base model the capstone's
# R1-Zero run is skipped (its stub still fails, and its code still passes, the training section).
cmd_test_all() {
    local tmp n bad=0 log out
    tmp=$(mktemp -d /tmp/exercises.XXXXXX) || fail "cannot create a temporary folder"
    export EXERCISES_DIR=$tmp SKIP_RUN_WITHOUT_BASE=1
    for n in $(exercises | cut -f1); do
        table_field "$n" 2 >/dev/null || { echo "FAIL  exercise $n has no row in the table"; bad=1; continue; }
        "$0" new "$n" > /dev/null || { echo "FAIL  exercise $n: make exercise failed"; bad=1; continue; }
        log=$tmp/$n.stub.log
        local t0=$SECONDS
        if "$0" check "$n" > "$log" 2>&1; then
            echo "FAIL  exercise $n: the stub PASSES its check ($log)"; bad=1; continue
        fi
        local t_stub=$((SECONDS - t0)) stub_verdict
        stub_verdict=$(tail -n 1 "$log")
        "$0" answer "$n" > /dev/null || { echo "FAIL  exercise $n: answer failed"; bad=1; continue; }
        if ! cmp -s "$tmp/$n/r1.c" "$ROOT/r1.c"; then
            echo "FAIL  exercise $n: the copy with r1.c's code put back differs from r1.c"; bad=1; continue
        fi
        log=$tmp/$n.answer.log
        t0=$SECONDS
        if ! "$0" check "$n" > "$log" 2>&1; then
            out=$(tail -n 1 "$log")
            echo "FAIL  exercise $n: r1.c's own code does not pass its check: $out ($log)"; bad=1; continue
        fi
        echo "PASS  exercise $n: stub fails (${t_stub} s, ${stub_verdict#"exercise $n ($(title_of "$n")): "}), r1.c's code passes ($((SECONDS - t0)) s)"
    done
    if [ $bad -eq 0 ]; then rm -rf "$tmp"; echo "test-exercises: every stub fails its check, every answer passes it"
    else echo "test-exercises: FAILED (logs in $tmp)"; fi
    return $bad
}

case "${1:-}" in
    list) cmd_list ;;
    new) shift; cmd_new "$@" ;;
    check) shift; cmd_check "$@" ;;
    answer) shift; cmd_answer "$@" ;;
    test-all) cmd_test_all ;;
    *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
