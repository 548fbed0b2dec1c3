#!/bin/sh
# tools/study.sh STUDY [DIR]: many R1-Zero runs and one CSV. STUDY is one of
#   seeds     10 RL seeds from the default base, plus 3 more bases (pretraining seeds 2-4) x 3 RL seeds
#   controls  the real run beside its controls, 3 RL seeds each: random reward (a coin with the real
#             runs' mean accuracy of their first 10 steps), format reward only,
#             a base that never saw a check (gen --styles direct,chain), a base without chains at all
#             (gen --styles direct)
#   ablation  the loss normalisation alone: grpo against dr_grpo, both with --scale-rewards none
# Runs go to DIR/NAME (default DIR: runs/study). Resumable: a finished run is skipped, a killed one
# resumes from its checkpoint, so running the same command again picks up where it stopped. Every run
# uses r1's defaults except what its arm changes. At the end (and after every run) DIR/STUDY.csv holds
# one row per finished run and tools/study_summary.awk prints the table of arms.
# ARMS="a b ..." runs only those arms (two processes on two cores can split a study; a last call
# without ARMS then finds every run finished and writes the whole CSV).
set -eu
study=${1:-}
dir=${2:-runs/study}
case $study in
seeds|controls|ablation) ;;
*) echo "usage: tools/study.sh seeds|controls|ablation [DIR]" >&2; exit 2;;
esac
R1=${R1:-./r1}
ARMS=${ARMS:-}
want() { [ -z "$ARMS" ] || case " $ARMS " in *" $1 "*) true;; *) false;; esac; }
mkdir -p "$dir"
start=$(date +%s)
runs=""  # the finished runs of this study, "arm base seed folder" per line

# base SEED [STYLES]: the folder of a base model pretrained with SEED on the default corpus, or on a
# control corpus of STYLES; pretrains it if needed
base() {
    if [ "$1" = default ] && [ -z "${2:-}" ]; then
        $R1 pretrain --resume >&2 || exit 1
        echo runs/base
        return
    fi
    data=tiny_data/pretrain.txt
    name=base_s$1
    if [ -n "${2:-}" ]; then
        name=base_$(echo "$2" | tr , _)_s$1
        data=$dir/world_$(echo "$2" | tr , _)/pretrain.txt
        [ -f "$data" ] || $R1 gen --styles "$2" --out "$(dirname "$data")" >&2 || exit 1
    fi
    if [ ! -f "$dir/$name/done" ]; then
        $R1 pretrain --seed "$1" --data "$data" --out "$dir/$name" --resume >&2 || exit 1
        touch "$dir/$name/done"
    fi
    echo "$dir/$name"
}

# rl ARM BASE_SEED BASE_FOLDER SEED [OPTIONS...]: one R1-Zero run, unless it has finished. Runs on r1's
# defaults (no OPTIONS) share their folder between arms and studies.
rl() {
    arm=$1 bseed=$2 bdir=$3 seed=$4
    shift 4
    tag=$arm
    [ $# -eq 0 ] && tag=default
    out=$dir/${tag}_b${bseed}_s${seed}
    if [ ! -f "$out/done" ]; then
        echo "study $study: $out" >&2
        $R1 zero --init "$bdir/model.bin" --seed "$seed" --out "$out" --resume "$@" > "$out.log" 2>&1 ||
            { echo "study: $out failed, see $out.log" >&2; exit 1; }
        touch "$out/done"
    fi
    runs="$runs$arm $bseed $seed $out
"
    summarise > /dev/null  # the CSV after every run; the table at the end
}

summarise() {
    printf '%s' "$runs" | awk -f tools/study_summary.awk -v csv="$dir/$study.csv"
}

case $study in
seeds)
    if want one-base; then
        b=$(base default)
        for s in 1 2 3 4 5 6 7 8 9 10; do rl one-base default "$b" $s; done
    fi
    if want three-bases; then
        for bs in 2 3 4; do
            b=$(base $bs)
            for s in 1 2 3; do rl three-bases $bs "$b" $s; done
        done
    fi;;
controls)
    b=runs/base
    if want real || want random-reward || want format-only; then b=$(base default); fi
    if want real; then for s in 1 2 3; do rl real default "$b" $s; done; fi
    if want random-reward; then
        # the coin's chance: the real runs' mean training accuracy over their first 10 steps
        p=$(cat "$dir"/default_bdefault_s[123]/log.csv 2>/dev/null |
            awk -F, '$1 ~ /^[0-9]$/ && $3 != "" { s += $3; n++ } END { if (n) printf "%.4f", s / n }')
        [ -n "$p" ] || { echo "study: the random-reward arm needs the real runs first" >&2; exit 1; }
        for s in 1 2 3; do
            rl random-reward default "$b" $s --rewards random,format --random-reward-p "$p"
        done
    fi
    if want format-only; then for s in 1 2 3; do rl format-only default "$b" $s --rewards format; done; fi
    if want no-check-corpus; then
        b=$(base 1337 direct,chain)
        for s in 1 2 3; do rl no-check-corpus nocheck "$b" $s; done
    fi
    if want no-chain-corpus; then
        b=$(base 1337 direct)
        for s in 1 2 3; do rl no-chain-corpus nochain "$b" $s; done
    fi;;
ablation)
    b=$(base default)
    # r1's defaults are dr_grpo without the std; grpo with the same (no) std scaling
    if want dr_grpo; then for s in 1 2 3; do rl dr_grpo default "$b" $s; done; fi
    if want grpo; then
        for s in 1 2 3; do rl grpo default "$b" $s --loss-type grpo --scale-rewards none; done
    fi;;
esac
summarise
echo "study $study: $(( $(date +%s) - start )) s this session; one row per run in $dir/$study.csv"
