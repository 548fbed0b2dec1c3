#!/usr/bin/env bash
# The classroom kit (exercises.md). Exercise N is the code between "// exercise N begin: TITLE" and
# "// exercise N end" in r1.c (one exercise may have several such regions).
#
#   tools/exercise.sh list       the exercises and their checks
#   tools/exercise.sh new N      writes exercises/N/: r1.c with exercise N's code replaced by a stub
#                                that fails, and links to what the tests need (test_r1.c, tiny_data)
#   tools/exercise.sh check N    builds exercises/N/, runs exercise N's checks, ends with a verdict line
#   tools/exercise.sh answer N   puts r1.c's code of exercise N into exercises/N/r1.c (yours is kept
#                                as exercises/N/r1.c.mine)
#   tools/exercise.sh try FILE   checks FILE's code of exercise N (N: FILE's name up to its first '-') in
#                                a copy of r1.c: FILE holds the exercise's marker lines and its code
#   tools/exercise.sh handout OUT  writes OUT/, a folder to hand out: r1.c with every exercise stubbed, the
#                                tests, the data, exercises.md; there `make check N` checks r1.c itself
#   tools/exercise.sh grade DIR  grades DIR/NAME/r1.c (or DIR/r1.c) for every exercise, each spliced into
#                                r1.c alone: a table per student, DIR/grades.csv for the class
#   tools/exercise.sh test-all   for every exercise: its stub fails its check, r1.c's code passes it; every
#                                correct variant in tools/kit/variants/ passes, every wrong solution in
#                                tools/kit/wrong/ fails, every escape in tools/kit/escapes/ still passes
#                                (KIT_JOBS of them at a time, default 2); make grade grades a class of two.
#                                WRITE_TEACHER_PAGE=1: also writes TEACHER.md's part of teacher-page
#   tools/exercise.sh teacher-page  writes TEACHER.md's list of the wrong solutions and escapes, each with
#                                what its check prints
#
# make exercise N, make check N and make test-exercises call it with the Makefile's CC, CFLAGS, LDLIBS.
# Environment: EXERCISES_DIR (default exercises), BASE (the capstone's base model, default
# runs/base/model.bin), CAPSTONE_STEPS (the capstone's R1-Zero steps, default 30).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${EXERCISES_DIR:-$ROOT/exercises}
CC=${CC:-cc}
CFLAGS=${CFLAGS:--std=c11 -O1 -march=native -Wall -Wextra -fopenmp}
case " $CFLAGS " in *" -Wno-unused-parameter "*) ;; *) CFLAGS="$CFLAGS -Wno-unused-parameter" ;; esac # stubs use none
LDLIBS=${LDLIBS:--lm}
BASE=${BASE:-$ROOT/runs/base/model.bin}
CAPSTONE_STEPS=${CAPSTONE_STEPS:-30}

# exercise | the test_r1 sections that check it | its stub (empty: die). "zero": the capstone's R1-Zero run.
TABLE='
1  | rmsnorm model   |
2  | rope kvcache    |
3  | attention model |
4  | swiglu model    |
5  | mla model       |
6  | moe             |
7  | moe model       |
8  | optimizer       |
9  | crossentropy    |
10 | optimizer       |
11 | rewards         | return -1.0f;
12 | countdown_rewards |
13 | grpo            |
14 | grpo            |
15 | grpo_weights    |
16 | training grpo_loop zero |
17 | rejection       |
18 | distill         |
'

fail() { echo "exercise: $*" >&2; exit 2; }

# field $2 (2: sections, 3: stub) of exercise $1's row of the table
table_field() {
    awk -F'|' -v n="$1" -v f="$2" '
        $1 ~ /[0-9]/ && $1 + 0 == n { gsub(/^ +| +$/, "", $f); print $f; found = 1 }
        END { exit !found }' <<< "$TABLE"
}

# the marker lines of exercise $1, as awk regular expressions
begin_re() { printf '^[ \t]*// exercise %s begin: ' "$1"; }
end_re() { printf '^[ \t]*// exercise %s end$' "$1"; }

# the exercises of r1.c, "N<TAB>TITLE" (the title of N's first region) in order of N; fails on markers
# that do not pair up
exercises() {
    awk 'match($0, /^[ \t]*\/\/ exercise [0-9]+ (begin: |end$)/) {
             split($0, w, " "); n = w[3]
             if (w[4] == "begin:") {
                 if (open != "") {
                     printf "r1.c:%d: exercise %s begins inside exercise %s\n", NR, n, open; bad = 1; exit
                 }
                 open = n
                 if (!(n in title)) title[n] = substr($0, index($0, "begin: ") + 7)
             } else {
                 if (open != n) { printf "r1.c:%d: exercise %s ends unopened\n", NR, n; bad = 1; exit }
                 open = ""
             }
         }
         END {
             if (bad) exit 1
             if (open != "") { printf "r1.c: exercise %s never ends\n", open; exit 1 }
             for (n in title) print n "\t" title[n]
         }' "$ROOT/r1.c" | sort -n
}

title_of() { exercises | awk -F'\t' -v n="$1" '$1 == n { print $2 }'; }

valid_number() {
    [ $# -eq 1 ] || fail "give one exercise number, e.g. make check 1 (the list: make exercise)"
    local list
    list=$(exercises) || fail "$list"
    case "$1" in ''|*[!0-9]*) fail "'$1' is not an exercise number; the exercises:"$'\n'"$list" ;; esac
    awk -F'\t' -v n="$1" '$1 == n { found = 1 } END { exit !found }' <<< "$list" ||
        fail "there is no exercise $1 in r1.c; the exercises:"$'\n'"$list"
    table_field "$1" 2 > /dev/null || fail "exercise $1 has no row in the table of tools/exercise.sh"
}

stub_of() {
    local s
    s=$(table_field "$1" 3)
    if [ -n "$s" ]; then echo "$s // exercise $1: not written yet"
    else echo "die(\"exercise $1: not written yet\");"; fi
}

# stdout: FILE with the body of every region of exercise N replaced by STUB (indented like its marker)
stub_regions() { # N STUB FILE
    awk -v beginre="$(begin_re "$1")" -v endre="$(end_re "$1")" -v stub="$2" '
        $0 ~ beginre { print; match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) stub; skip = 1; next }
        $0 ~ endre { skip = 0 }
        !skip { print }' "$3"
}

# stdout: INTO with the body of each region of exercise N replaced by the same region's body in FROM
put_regions() { # N FROM INTO
    awk -v beginre="$(begin_re "$1")" -v endre="$(end_re "$1")" '
        FNR == NR {
            if ($0 ~ endre) inside = 0
            if (inside) body[k] = body[k] $0 "\n"
            if ($0 ~ beginre) { k++; inside = 1 }
            next
        }
        skip && $0 !~ endre { next }
        { skip = 0; print }
        $0 ~ beginre { if (++j > k) exit 1; printf "%s", body[j]; skip = 1 }
        END { if (j != k) exit 1 }' "$2" "$3"
}

# the lines of exercise N's regions in FILE, markers included
regions_of() { # N FILE
    awk -v beginre="$(begin_re "$1")" -v endre="$(end_re "$1")" '
        $0 ~ beginre { on = 1 } on { print } $0 ~ endre { on = 0 }' "$2"
}

cmd_list() {
    local list n title sections
    list=$(exercises) || fail "$list"
    while IFS=$'\t' read -r n title; do
        sections=$(table_field "$n" 2)
        printf "%3s  %-60s ./test_r1 %s\n" "$n" "$title" "${sections/% zero/, then an R1-Zero run}"
    done <<< "$list"
}

# the capstone's copy takes the code of every other exercise the student has written in DIR
take_students_code() { # N COPY
    local m mine=""
    for m in $(exercises | cut -f1); do
        if [ "$m" = "$1" ] || [ ! -f "$DIR/$m/r1.c" ]; then continue; fi
        stub_regions "$m" "$(stub_of "$m")" "$ROOT/r1.c" > "$2.stub"
        [ "$(regions_of "$m" "$DIR/$m/r1.c")" != "$(regions_of "$m" "$2.stub")" ] || continue
        if put_regions "$m" "$DIR/$m/r1.c" "$2" > "$2.with"; then
            mv "$2.with" "$2"; mine="$mine $m"
        else
            echo "exercise $1: the exercise $m lines of $DIR/$m/r1.c do not pair up with r1.c's;"
            echo "  r1.c's code of exercise $m is used"
        fi
    done
    rm -f "$2.stub" "$2.with"
    local rel=${DIR#"$PWD"/}
    if [ -n "$mine" ]; then echo "exercise $1: with your own code of exercises$mine (from $rel/N/r1.c)"
    else echo "exercise $1: no other exercise written in $rel yet, so all the other code is r1.c's"; fi
}

cmd_new() {
    valid_number "$@"
    local n=$1 d=$DIR/$1 rel=${DIR#"$PWD"/}/$1
    if [ -e "$d/r1.c" ]; then
        echo "exercise $n: $rel/r1.c already exists (your work), so it was left as it is." >&2
        echo "To start over: rm -r $rel && make exercise $n" >&2
        exit 1
    fi
    mkdir -p "$d" || fail "cannot create $d"
    stub_regions "$n" "$(stub_of "$n")" "$ROOT/r1.c" > "$d/r1.c.tmp" || fail "cannot write $d/r1.c"
    if table_field "$n" 2 | grep -qw zero; then take_students_code "$n" "$d/r1.c.tmp"; fi
    mv "$d/r1.c.tmp" "$d/r1.c"
    ln -sfn "$ROOT/test_r1.c" "$d/test_r1.c"
    ln -sfn "$ROOT/tiny_data" "$d/tiny_data"
    echo "exercise $n ($(title_of "$n")): wrote $rel/r1.c"
    echo "  write your code between its \"exercise $n begin\" and \"exercise $n end\" lines,"
    echo "  then: make check $n"
}

# in the current folder: $CC $CFLAGS -o OUT SRC $LDLIBS, or, with KIT_BUILD_CACHE set (test-all), a copy
# of the same build (the same r1.c, test_r1.c, tools/check.h and flags) made before
build() { # OUT SRC
    local key=""
    if [ -n "${KIT_BUILD_CACHE:-}" ]; then
        key=$(cat r1.c "$2" "$ROOT/tools/check.h" | cksum | tr ' ' _)_$(echo "$CC $CFLAGS $LDLIBS $2" | cksum | tr ' ' _)
        if [ -x "$KIT_BUILD_CACHE/$key" ]; then cp "$KIT_BUILD_CACHE/$key" "$1"; return; fi
    fi
    # shellcheck disable=SC2086 # CFLAGS and LDLIBS are lists of words
    $CC $CFLAGS -I"$ROOT" -o "$1" "$2" $LDLIBS || return 1
    if [ -n "$key" ]; then
        mkdir -p "$KIT_BUILD_CACHE" && cp "$1" "$KIT_BUILD_CACHE/$key.$$" && mv "$KIT_BUILD_CACHE/$key.$$" "$KIT_BUILD_CACHE/$key"
    fi
    return 0
}

# prints the verdict line and exits: 0 passed, 1 not yet, 2 could not check
verdict() { # N STATUS TEXT...
    local n=$1 status=$2
    shift 2
    echo "exercise $n ($(title_of "$n")): $*"
    exit "$status"
}

# the capstone's R1-Zero run from the base model, then its log.csv against the thresholds
capstone_run() { # N
    local n=$1 steps=$CAPSTONE_STEPS t0=$SECONDS
    if [ ! -f "$BASE" ]; then
        if [ -n "${SKIP_RUN_WITHOUT_BASE:-}" ]; then
            echo "the R1-Zero run: SKIPPED (no base model $BASE)"
            return
        fi
        echo "The capstone's R1-Zero run starts from a base model: $BASE does not exist."
        echo "Make it once, at the top of the repository: make && ./r1 pretrain (9 minutes on an idle 2-core"
        echo "machine), or make aha (14 minutes: it also runs R1-Zero and draws its figures)."
        verdict "$n" 2 "NOT CHECKED: no base model"
    fi
    echo "R1-Zero with your code: $steps steps from $BASE, held-out evaluations at steps 0 and $steps"
    rm -rf runs/zero
    ./r1 zero --init "$BASE" --out runs/zero --steps "$steps" --eval-every "$steps"
    if ! grep -q "^$steps," runs/zero/log.csv 2> /dev/null; then
        verdict "$n" 1 "NOT YET: the R1-Zero run stopped before step $steps (its messages above)"
    fi
    # held-out greedy accuracy, pass@1 and mean length at step 0 and at the last step: each must rise
    awk -F, -v steps="$steps" -v secs=$((SECONDS - t0)) '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == 0 { g0 = $col["test_greedy"]; p0 = $col["test_pass1"]; l0 = $col["test_length"] }
        $1 == steps { g1 = $col["test_greedy"]; p1 = $col["test_pass1"]; l1 = $col["test_length"] }
        function line(ok, what, a, b, want) {
            printf "%s  %-21s %6s -> %6s (must rise by %s or more)\n", ok ? "PASS" : "FAIL", what, a, b, want
            return ok
        }
        END {
            printf "held-out, step 0 -> %d (%d s):\n", steps, secs
            ok = line(g1 - g0 >= 0.30, "greedy accuracy", g0, g1, "0.30")
            ok = line(p1 - p0 >= 0.03, "pass@1", p0, p1, "0.03") && ok
            ok = line(l1 - l0 >= 5, "mean length (tokens)", l0, l1, "5") && ok
            exit !ok
        }' runs/zero/log.csv || verdict "$n" 1 "NOT YET: the R1-Zero run did not learn enough (runs/zero/)"
}

cmd_check() {
    valid_number "$@"
    local n=$1 d=$DIR/$1 t0=$SECONDS sections tests
    if [ -f "$ROOT/.handout" ]; then d=$ROOT; fi  # a handout: the student writes in r1.c itself
    [ -f "$d/r1.c" ] || fail "no copy of exercise $n in $DIR: make exercise $n first"
    sections=$(table_field "$n" 2)
    tests=${sections% zero}
    cd "$d" || exit 2
    echo "building $d/test_r1"
    if ! build test_r1 test_r1.c || { [ "$tests" != "$sections" ] && ! build r1 r1.c; }; then
        verdict "$n" 1 "NOT YET: r1.c does not compile (the compiler's messages above)"
    fi
    echo "running ./test_r1 $tests"
    # shellcheck disable=SC2086 # tests is a list of words
    OMP_NUM_THREADS=1 ./test_r1 $tests > test.log 2>&1
    local status=$? summary count failed what
    cat test.log
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' test.log | tail -n 1)
    if [ -z "$summary" ]; then
        local why other
        why=$(grep -m 1 '^r1: error:' test.log)
        other=$(sed -n 's/^r1: error: exercise \([0-9]*\): not written yet$/\1/p' test.log | head -n 1)
        if [ -n "$other" ] && [ "$other" != "$n" ]; then
            # the lines before the stop are this exercise's own: a FAIL among them is a verdict already
            failed=$(grep -c '^FAIL' test.log)
            if [ "$failed" != 0 ]; then
                verdict "$n" 1 "NOT YET: $failed of the checks failed (the FAIL lines above); the rest also run" \
                    "exercise $other's code"
            fi
            verdict "$n" 2 "NOT CHECKED: the checks above pass; the rest also run exercise $other's code:" \
                "write it, then check again"
        fi
        verdict "$n" 1 "NOT YET: the checks stopped before the end (${why:-exit status $status})"
    fi
    count=$(echo "$summary" | cut -d' ' -f1)
    failed=$(echo "$summary" | cut -d' ' -f3)
    if [ "$failed" != 0 ] || [ $status -ne 0 ]; then
        # the layer's own lines pass, the whole model's fail: the layer is right alone, not among the others
        if ! grep '^FAIL' test.log | grep -qv '^FAIL  grad model'; then
            echo "Your layer's own lines pass and only the whole model's fail: usually a gradient written with ="
            echo "where the callers add up (+=), or a buffer you fill that is not zeroed first."
        # only the lines with the balance loss fail: its gradient, already in the buffer, was overwritten
        elif ! grep '^FAIL' test.log | grep -v '^FAIL  grad model' | grep -qv 'balance'; then
            echo "Only the lines with the balance loss fail: its gradient is already in the buffer when your code"
            echo "runs, so add yours to it (+=) instead of writing over it (=)."
        fi
        verdict "$n" 1 "NOT YET: $failed of the checks failed (the FAIL lines above)"
    fi
    what="$count check$([ "$count" = 1 ] || echo s)"
    if [ "$tests" != "$sections" ]; then
        capstone_run "$n"
        if [ -f "$BASE" ]; then what="$what and the R1-Zero run"; else what="$what; R1-Zero run SKIPPED"; fi
    fi
    verdict "$n" 0 "PASSED ($what, $((SECONDS - t0)) s)"
}

cmd_answer() {
    valid_number "$@"
    local n=$1 d=$DIR/$1
    [ -f "$d/r1.c" ] || fail "no copy of exercise $n in $DIR: make exercise $n first"
    if ! put_regions "$n" "$ROOT/r1.c" "$d/r1.c" > "$d/r1.c.tmp"; then
        rm -f "$d/r1.c.tmp"
        fail "the exercise $n lines of $d/r1.c do not pair up with r1.c's"
    fi
    cp "$d/r1.c" "$d/r1.c.mine" && mv "$d/r1.c.tmp" "$d/r1.c"
    echo "exercise $n: r1.c's code is now in $d/r1.c (yours: $d/r1.c.mine)"
}

# a folder to hand out: every exercise stubbed, what the checks need, nothing else
cmd_handout() { # OUT
    [ $# -eq 1 ] || fail "give the folder to write, e.g. make handout OUT=handout"
    local out=$1 n
    [ ! -e "$out" ] || fail "$out exists: remove it first, or name another folder"
    mkdir -p "$out/tools" || fail "cannot create $out"
    cp "$ROOT/r1.c" "$out/r1.c"
    for n in $(exercises | cut -f1); do
        stub_regions "$n" "$(stub_of "$n")" "$out/r1.c" > "$out/r1.c.tmp" && mv "$out/r1.c.tmp" "$out/r1.c"
    done
    cp "$ROOT/test_r1.c" "$ROOT/exercises.md" "$out/"
    cp "$ROOT/tools/check.h" "$ROOT/tools/exercise.sh" "$out/tools/"
    cp -r "$ROOT/tiny_data" "$out/tiny_data"
    touch "$out/.handout"
    cat > "$out/Makefile" <<'MAKEFILE'
# make check N: checks exercise N of r1.c (exercises.md)
CC ?= gcc
CFLAGS = -std=c11 -O1 -march=native -Wall -Wextra -fopenmp
ifeq ($(firstword $(MAKECMDGOALS)),check)
  EXERCISE := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
  $(eval $(EXERCISE):;@:)
endif
check:
	@CC="$(CC)" CFLAGS="$(CFLAGS)" LDLIBS=-lm tools/exercise.sh check $(EXERCISE)
r1: r1.c
	$(CC) $(CFLAGS) -o $@ r1.c -lm
.PHONY: check
MAKEFILE
    echo "wrote $out/: r1.c with its $(exercises | wc -l) exercises stubbed, test_r1.c, tools/, tiny_data/, exercises.md"
}

# every line of r1.c's answers that neither r1.c outside the exercises nor test_r1.c has (12 characters or more) is
# absent from every file of the handout OUT; prints the lines found
answers_in_handout() { # OUT
    local out=$1 n
    for n in $(exercises | cut -f1); do regions_of "$n" "$ROOT/r1.c"; done |
        grep -v '// exercise [0-9]* \(begin\|end\)' | sed 's/^[ \t]*//; s/[ \t]*$//' | sort -u > "$out.answers"
    awk '/^[ \t]*\/\/ exercise [0-9]+ begin: / { on = 1 } !on { print } /^[ \t]*\/\/ exercise [0-9]+ end$/ { on = 0 }' \
        "$ROOT/r1.c" | cat - "$ROOT/test_r1.c" | sed 's/^[ \t]*//; s/[ \t]*$//' | sort -u > "$out.elsewhere"
    comm -23 "$out.answers" "$out.elsewhere" | awk 'length >= 12' > "$out.distinct"
    find "$out" -type f -exec sed 's/^[ \t]*//; s/[ \t]*$//' {} + | grep -F -x -f "$out.distinct"
    local found=$?  # grep's: 0 when a line of an answer is in the handout
    rm -f "$out.answers" "$out.elsewhere" "$out.distinct"
    return $found
}

# one student's r1.c: every exercise spliced alone into r1.c and checked; prints the table's rows
# "exercise<TAB>result<TAB>first failing line" (result: passed, failed, not done)
grade_student() { # R1C WORK
    local mine=$1 work=$2 n stub line
    for n in $(exercises | cut -f1); do
        mkdir -p "$work/$n"
        stub_regions "$n" "$(stub_of "$n")" "$ROOT/r1.c" > "$work/stub.c"
        if [ "$(regions_of "$n" "$mine")" = "$(regions_of "$n" "$work/stub.c")" ]; then
            printf '%s\tnot done\t\n' "$n"; continue
        fi
        if ! put_regions "$n" "$mine" "$ROOT/r1.c" > "$work/$n/r1.c"; then
            printf '%s\tfailed\tits exercise %s lines do not pair up with r1.c'"'"'s\n' "$n" "$n"; continue
        fi
        ln -sfn "$ROOT/test_r1.c" "$work/$n/test_r1.c"
        ln -sfn "$ROOT/tiny_data" "$work/$n/tiny_data"
        if EXERCISES_DIR=$work "$0" check "$n" > "$work/$n.log" 2>&1; then
            printf '%s\tpassed\t\n' "$n"
        else
            line=$(grep -m 1 '^FAIL' "$work/$n.log" || tail -n 1 "$work/$n.log")
            printf '%s\tfailed\t%s\n' "$n" "$(echo "$line" | cut -c1-160 | tr '\t,' '  ')"
        fi
    done
}

cmd_grade() { # DIR
    [ $# -eq 1 ] && [ -d "$1" ] || fail "give the folder of the submissions, e.g. make grade DIR=submissions"
    local dir=${1%/} work student name csv rows
    work=$(mktemp -d /tmp/exercise-grade.XXXXXX) || fail "cannot create a temporary folder"
    csv=$dir/grades.csv
    echo "student,exercise,result,first failing line" > "$csv.tmp"
    for student in "$dir"/*/r1.c "$dir"/r1.c; do
        [ -f "$student" ] || continue
        name=$(basename "$(dirname "$student")")
        rows=$(SKIP_RUN_WITHOUT_BASE=1 grade_student "$student" "$work/$name")
        echo "$name: $(grep -c $'\tpassed' <<< "$rows") of $(wc -l <<< "$rows") exercises passed"
        awk -F'\t' '{ printf "  %3s  %-9s %s\n", $1, $2, $3 }' <<< "$rows"
        awk -F'\t' -v s="$name" '{ printf "%s,%s,%s,%s\n", s, $1, $2, $3 }' <<< "$rows" >> "$csv.tmp"
    done
    mv "$csv.tmp" "$csv"
    rm -rf "$work"
    echo "wrote $csv"
}

# FILE's code of exercise N put into a copy of r1.c in a temporary folder, then checked there
cmd_try() { # FILE
    [ $# -eq 1 ] && [ -f "$1" ] || fail "give one file, e.g. tools/exercise.sh try tools/kit/wrong/3-no-scale.c"
    local file=$1 name n tmp status
    name=$(basename "$1" .c)
    n=${name%%-*}
    valid_number "$n"
    tmp=$(mktemp -d /tmp/exercise-try.XXXXXX) || fail "cannot create a temporary folder"
    mkdir -p "$tmp/$n"
    if ! put_regions "$n" "$file" "$ROOT/r1.c" > "$tmp/$n/r1.c"; then
        rm -rf "$tmp"
        fail "the exercise $n lines of $file do not pair up with r1.c's"
    fi
    ln -s "$ROOT/test_r1.c" "$tmp/$n/test_r1.c"
    ln -s "$ROOT/tiny_data" "$tmp/$n/tiny_data"
    EXERCISES_DIR=$tmp "$0" check "$n"
    status=$?
    rm -rf "$tmp"
    return $status
}

# one line for test-all: a correct variant must pass, a wrong solution must fail with NOT YET, an escape
# (a wrong solution the checks do not catch yet) must still pass, or the teacher's page says otherwise
judge_file() { # variant|wrong|escape FILE LOG
    local kind=$1 file=$2 log=$3 status what
    "$0" try "$file" > "$log" 2>&1
    status=$?
    what="$kind $(basename "$file")"
    if [ "$kind" = variant ] && [ $status -eq 0 ]; then echo "PASS  $what passes"
    elif [ "$kind" = wrong ] && [ $status -eq 1 ]; then echo "PASS  $what fails: $(tail -n 1 "$log" | sed 's/^exercise [0-9]* (.*): //')"
    elif [ "$kind" = escape ] && [ $status -eq 0 ]; then echo "PASS  $what still passes (not caught yet)"
    elif [ "$kind" = escape ] && [ $status -eq 1 ]; then
        echo "FAIL  $what is caught now: move it to tools/kit/wrong/ and run make teacher-page ($log)"
    else echo "FAIL  $what: exit status $status, $(tail -n 1 "$log") ($log)"; fi
}

# the files of tools/kit/ (variants, wrong, escapes), each judged in a copy, KIT_JOBS at a time; the logs
# go to TMP/NAME.log; prints the judged lines in order of exercise
judge_kit() { # TMP DIRNAME...
    local tmp=$1 sub file kind
    shift
    for sub in "$@"; do
        case $sub in variants) kind=variant ;; wrong) kind=wrong ;; escapes) kind=escape ;; esac
        for file in "$ROOT/tools/kit/$sub"/*.c; do
            [ -f "$file" ] && echo "$kind $file $tmp/$(basename "$file" .c).log"
        done
    done | xargs -P "${KIT_JOBS:-2}" -L 1 "$0" judge > "$tmp/judged.txt"
    sort -k2,2 -k3,3V "$tmp/judged.txt"
}

# the files of tools/kit/wrong (or escapes) in order of exercise, then of name
kit_files() { # DIRNAME
    local file
    for file in "$ROOT/tools/kit/$1"/*.c; do [ -f "$file" ] && basename "$file"; done | sort -t- -k1,1n -k2
}

# markdown: each wrong solution (and escape) of tools/kit/, what is wrong with it (its first line) and
# what make check printed for it (the log of its check in TMP): the first FAIL line with the lines that
# explain it, the verdict's hints, the verdict
teacher_section() { # TMP
    local tmp=$1 n title file name log
    echo "The usual wrong answers, \`tools/kit/wrong/\`: each is the exercise's code with one mistake. Under"
    echo "each, what \`make check N\` printed for it (the first \`FAIL\` line, the lines that explain it, the"
    echo "hints and the verdict; \`tools/exercise.sh try tools/kit/wrong/FILE\` shows all of it)."
    while IFS=$'\t' read -r n title; do
        [ -n "$(kit_files wrong | grep "^$n-")$(kit_files escapes | grep "^$n-")" ] || continue
        echo
        echo "**$n. $title**"
        echo
        for name in $(kit_files wrong | grep "^$n-") $(kit_files escapes | grep "^$n-"); do
            file=$ROOT/tools/kit/wrong/$name
            [ -f "$file" ] || file=$ROOT/tools/kit/escapes/$name
            log=$tmp/${name%.c}.log
            echo "- \`$name\`$([ "${file#*/escapes/}" != "$file" ] && echo " (an escape)"):" \
                 "$(awk '!/^\/\// { exit } { sub(/^\/\/ */, ""); printf "%s%s", (NR > 1 ? " " : ""), $0 }' "$file" |
                    sed 's|^wrong[^:]*: *||')."
            echo
            echo '  ```'
            awk '
                { line[NR] = $0 }
                /^FAIL/ && !first { first = NR }
                /^[0-9]+ passed, [0-9]+ failed$/ { summary = NR }
                /^r1: error/ && !err { err = NR }
                END {
                    if (first) {
                        from = first; while (from > 1 && from > first - 3 && line[from - 1] ~ /^  /) from--
                        to = first; while (to < NR && to < first + 2 && line[to + 1] ~ /^  /) to++
                        for (i = from; i <= to; i++) print line[i]
                    } else if (err) print line[err]
                    for (i = summary + 1; summary && i < NR; i++) print line[i]
                    v = line[NR]
                    if (match(v, /\): (NOT YET|NOT CHECKED|PASSED)/)) v = substr(v, RSTART + 3)
                    print v
                }' "$log" | sed 's/^/  /'
            echo '  ```'
        done
    done < <(exercises)
    echo
    if [ -z "$(kit_files escapes)" ]; then
        echo "Escapes (wrong answers the checks do not catch), \`tools/kit/escapes/\`: none known."
    else
        echo "The escapes above (\`tools/kit/escapes/\`) pass their checks: a student who makes one of these"
        echo "mistakes gets PASSED; read their code when grading."
    fi
}

# TEACHER.md's part between its two "make teacher-page" lines, written again from the checks' output on
# every wrong solution and escape of tools/kit/ (each must do what its folder says: wrong fails, escape passes)
cmd_teacher_page() {
    local page=$ROOT/TEACHER.md tmp begin='<!-- make teacher-page: begin' end='<!-- make teacher-page: end'
    grep -q "^$begin" "$page" && grep -q "^$end" "$page" || fail "$page has no make teacher-page lines"
    tmp=$(mktemp -d /tmp/exercise-page.XXXXXX) || fail "cannot create a temporary folder"
    export EXERCISES_DIR=$tmp SKIP_RUN_WITHOUT_BASE=1
    echo "teacher-page: checking every file of tools/kit/wrong and tools/kit/escapes (${KIT_JOBS:-2} at a time)"
    judge_kit "$tmp" wrong escapes > "$tmp/judged.sorted"
    if grep '^FAIL' "$tmp/judged.sorted"; then echo "teacher-page: $page not written (logs in $tmp)"; return 1; fi
    write_teacher_page "$tmp" || return 1
    rm -rf "$tmp"
}

# TEACHER.md's generated part from the logs in TMP of every wrong solution and escape
write_teacher_page() { # TMP
    local tmp=$1 page=$ROOT/TEACHER.md begin='<!-- make teacher-page: begin' end='<!-- make teacher-page: end'
    teacher_section "$tmp" > "$tmp/section.md"
    awk -v begin="$begin" -v end="$end" -v section="$tmp/section.md" '
        index($0, end) == 1 { skip = 0 }
        !skip { print }
        index($0, begin) == 1 { while ((getline l < section) > 0) print l; skip = 1 }' "$page" > "$tmp/page.md" &&
        mv "$tmp/page.md" "$page" || fail "cannot write $page"
    echo "teacher-page: wrote $(kit_files wrong | wc -l) wrong answers and $(kit_files escapes | wc -l) escapes into $page"
}

# test-all's class of two, graded from the handout in TMP/handout; fails unless grades.csv says what each
# student's r1.c holds
grade_test() { # TMP
    local tmp=$1
    mkdir -p "$tmp/class/alice" "$tmp/class/bob"
    cp "$tmp/handout/r1.c" "$tmp/class/bob/r1.c"
    put_regions 1 "$ROOT/r1.c" "$tmp/handout/r1.c" > "$tmp/alice1.c" &&
        put_regions 4 "$ROOT/tools/kit/wrong/4-db-no-a.c" "$tmp/alice1.c" > "$tmp/alice2.c" &&
        stub_regions 9 "this is not C;" "$tmp/alice2.c" > "$tmp/class/alice/r1.c" || return 1
    "$0" grade "$tmp/class" > "$tmp/grade.log" 2>&1 || return 1
    awk -F, -v count="$(exercises | wc -l)" '
        NR == 1 { next }
        $1 == "alice" && $2 == 1 { ok += $3 == "passed" }
        $1 == "alice" && $2 == 4 { ok += $3 == "failed" && $4 ~ /^FAIL  grad/ }
        $1 == "alice" && $2 == 9 { ok += $3 == "failed" && $4 ~ /does not compile/ }
        $1 == "alice" && $2 != 1 && $2 != 4 && $2 != 9 || $1 == "bob" { ok += $3 == "not done" }
        END { exit !(NR == 1 + 2 * count && ok == 2 * count) }' "$tmp/class/grades.csv"
}

# one line for test-all: exercise N's stub fails its check, r1.c's code passes it (in EXERCISES_DIR)
both_directions() { # N
    local n=$1 t0 t_stub stub_verdict
    if ! "$0" new "$n" > /dev/null; then echo "FAIL  exercise $n: no copy made"; return; fi
    t0=$SECONDS
    if "$0" check "$n" > "$DIR/$n.stub.log" 2>&1; then
        echo "FAIL  exercise $n: the stub PASSES its check ($DIR/$n.stub.log)"; return
    fi
    t_stub=$((SECONDS - t0))
    stub_verdict=$(tail -n 1 "$DIR/$n.stub.log")
    stub_verdict=${stub_verdict#"exercise $n ($(title_of "$n")): "}
    if ! "$0" answer "$n" > /dev/null; then echo "FAIL  exercise $n: r1.c's code not put back"; return; fi
    if ! cmp -s "$DIR/$n/r1.c" "$ROOT/r1.c"; then
        echo "FAIL  exercise $n: the copy with r1.c's code put back differs from r1.c"; return
    fi
    t0=$SECONDS
    if ! "$0" check "$n" > "$DIR/$n.answer.log" 2>&1; then
        echo "FAIL  exercise $n: r1.c's code fails: $(tail -n 1 "$DIR/$n.answer.log")"; return
    fi
    echo "PASS  exercise $n: the stub fails ($t_stub s: $stub_verdict); r1.c's code passes ($((SECONDS - t0)) s)"
}

# CI: both directions for every exercise, in a temporary folder. Without a base model the capstone's
# R1-Zero run is skipped (its stub still fails the training section, and r1.c's code passes it).
cmd_test_all() {
    local tmp bad=0
    tmp=$(mktemp -d /tmp/exercises.XXXXXX) || fail "cannot create a temporary folder"
    export EXERCISES_DIR=$tmp SKIP_RUN_WITHOUT_BASE=1 KIT_BUILD_CACHE=$tmp/builds
    # both directions for every exercise, KIT_JOBS at a time
    exercises | cut -f1 | xargs -P "${KIT_JOBS:-2}" -I{} "$0" both {} > "$tmp/both.txt"
    sort -k3,3n "$tmp/both.txt"
    grep -q '^FAIL' "$tmp/both.txt" && bad=1
    # the handout: every exercise stubbed, no line of an answer left in any of its files
    if ! "$0" handout "$tmp/handout" > /dev/null; then echo "FAIL  make handout: no handout written"; bad=1
    elif answers_in_handout "$tmp/handout" > "$tmp/leaked.txt"; then
        echo "FAIL  the handout holds $(wc -l < "$tmp/leaked.txt") lines of the answers ($tmp/leaked.txt)"; bad=1
    else
        echo "PASS  the handout: every exercise stubbed, no line of an answer in any of its files"
    fi
    # make grade on a class made from the handout: alice solved exercise 1, wrote 4 wrong and 9 that does
    # not compile, left the rest; bob wrote nothing. Each exercise is graded alone, none stops another.
    if [ -f "$tmp/handout/r1.c" ] && grade_test "$tmp"; then
        echo "PASS  make grade: solved passed, wrong failed (its FAIL line), not compiling failed, stubs not done"
    else
        echo "FAIL  make grade: the class's grades are not what its r1.c files hold ($tmp/grade.log)"; bad=1
    fi
    # the correct variants, the wrong solutions and the escapes, KIT_JOBS at a time
    judge_kit "$tmp" variants wrong escapes
    if grep -q '^FAIL' "$tmp/judged.txt"; then bad=1
    elif [ -n "${WRITE_TEACHER_PAGE:-}" ]; then write_teacher_page "$tmp"  # make teacher-page's part, from these runs
    fi
    # the teacher's page names every wrong solution and escape (make teacher-page writes it)
    local name missing=""
    for name in $(kit_files wrong) $(kit_files escapes); do
        grep -qF "\`$name\`" "$ROOT/TEACHER.md" 2> /dev/null || missing="$missing $name"
    done
    if [ -n "$missing" ]; then echo "FAIL  TEACHER.md does not show$missing: make teacher-page"; bad=1
    else echo "PASS  TEACHER.md shows what the checks print for every wrong solution and escape"; fi
    if [ $bad -ne 0 ]; then echo "test-exercises: FAILED (logs in $tmp)"; return 1; fi
    rm -rf "$tmp"
    echo "test-exercises: every stub fails its check, r1.c's code and every correct variant pass it," \
         "every wrong solution fails it, every escape still passes; the handout and the grades are right"
}

case "${1:-}" in
    list) cmd_list ;;
    new) shift; cmd_new "$@" ;;
    check) shift; cmd_check "$@" ;;
    answer) shift; cmd_answer "$@" ;;
    try) shift; cmd_try "$@" ;;
    handout) shift; cmd_handout "$@" ;;
    grade) shift; cmd_grade "$@" ;;
    judge) shift; judge_file "$@" ;;
    both) shift; both_directions "$@" ;;
    test-all) cmd_test_all ;;
    teacher-page) cmd_teacher_page ;;
    *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
