#!/bin/sh
# tools/test_mpi.sh (make test-mpi): data parallel over 2 processes (./r1_mpi under mpirun, one thread
# each) against 1 process on the same global batches and seed, a few steps each of pretraining (with the
# balance loss, a batch of 7 split 3 + 4, and a run resumed half-way), of logit distillation and of GRPO
# (3 prompts split 1 + 2: bnpo, scale_rewards batch, a KL reference, two updates per batch). The sums run
# in another order, so the numbers may differ in their last bits: the losses of the logs agree to 1e-4,
# the parameters to 2e-5 (a GRPO step moves them by up to its learning rate, 1e-4; a pretraining step by
# up to 2e-5 to 1.2e-4), and the GRPO rollouts are the same text. Ends "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/test_mpi.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1
# OpenMPI's mpirun: --oversubscribe lets 2 processes share fewer cores; --allow-run-as-root: CI runs as root
mpi2="mpirun --allow-run-as-root --oversubscribe -np 2"
tol=2e-5
pass=0 fail=0
check() {  # check STATUS MESSAGE: STATUS 0 passes
    if [ "$1" -eq 0 ]; then echo "PASS  $2"; pass=$((pass + 1)); else echo "FAIL  $2"; fail=$((fail + 1)); fi
}
# the largest |difference| of column NAME of two log.csv files over their rows (rows and steps must match)
log_diff() {
    awk -F, -v name="$3" 'FNR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
        FNR == NR { a[FNR] = $c; s[FNR] = $1; n++; next }
        { m++; if (s[FNR] != $1) bad = 1; d = a[FNR] - $c; if (d < 0) d = -d; if (d > max) max = d }
        END { if (bad || n != m || n == 0 || !c) print "mismatch"; else printf "%.3g\n", max }' "$1" "$2"
}
within() { awk -v d="$1" -v t="$2" 'BEGIN { exit !(d != "mismatch" && d + 0 <= t + 0) }'; }
run() { "$@" > "$dir/out.log" 2>&1 || { cat "$dir/out.log"; echo "FAIL  $*"; fail=$((fail + 1)); }; }

# pretraining: 6 steps of 7 documents
pre="pretrain --preset student --steps 6 --batch 7 --balance-alpha 0.01 --log-every 100"
run ./r1_mpi $pre --out "$dir/pre1"
run $mpi2 ./r1_mpi $pre --out "$dir/pre2"
for col in loss grad_norm aux_loss; do
    d=$(log_diff "$dir/pre1/log.csv" "$dir/pre2/log.csv" $col)
    within "$d" 1e-4; check $? "pretraining, 2 processes vs 1: the $col of each of 6 steps within 1e-4 (max |difference| $d)"
done
out=$(./tools/mpi_compare "$dir/pre1/model.bin" "$dir/pre2/model.bin" $tol)
check $? "pretraining, 2 processes vs 1: parameters within $tol ($out)"
# ... resumed: 3 steps, then on to 6 (the warmup's learning rate does not depend on the run's length)
run $mpi2 ./r1_mpi pretrain --preset student --steps 3 --batch 7 --balance-alpha 0.01 --out "$dir/pre2r"
run $mpi2 ./r1_mpi $pre --out "$dir/pre2r" --resume
out=$(./tools/mpi_compare "$dir/pre1/model.bin" "$dir/pre2r/model.bin" $tol)
check $? "pretraining on 2 processes, stopped after 3 steps and resumed to 6, vs 6 steps on 1: parameters within $tol ($out)"

# logit distillation (its own loop): 3 steps of 5 traces, the pretrained model the teacher of another
dis="distill --teacher $dir/pre1/model.bin --student $dir/pre2r/model.bin --data tiny_data/coldstart.txt
     --steps 3 --batch 5"
run ./r1_mpi $dis --out "$dir/dis1"
run $mpi2 ./r1_mpi $dis --out "$dir/dis2"
d=$(log_diff "$dir/dis1/log.csv" "$dir/dis2/log.csv" loss)
within "$d" 1e-3; check $? "distillation, 2 processes vs 1: the loss (a sum, about 800) of each of 3 steps within 1e-3 (max |difference| $d)"
out=$(./tools/mpi_compare "$dir/dis1/model.bin" "$dir/dis2/model.bin" $tol)
check $? "distillation, 2 processes vs 1: parameters within $tol ($out)"

# GRPO from the pretrained model: 3 steps of 3 prompts x 4 samples; random rewards give the advantages a sign
grpo="zero --init $dir/pre1/model.bin --steps 3 --prompts-per-step 3 --num-generations 4 --rewards random,format
      --loss-type bnpo --scale-rewards batch --beta 0.04 --num-iterations 2 --eval-every 0 --save-rollouts"
run ./r1_mpi $grpo --out "$dir/grpo1"
run env OMP_WAIT_POLICY=passive $mpi2 ./r1_mpi $grpo --out "$dir/grpo2"  # the processes wait sleeping
rows=$(($(wc -l < "$dir/grpo1/rollouts.txt") - 1))
cmp -s "$dir/grpo1/rollouts.txt" "$dir/grpo2/rollouts.txt" && [ "$rows" -eq 36 ]
check $? "GRPO, 2 processes vs 1: the same $rows rollouts (step, row, reward, prompt, response)"
for col in reward kl entropy mean_abs_adv; do
    d=$(log_diff "$dir/grpo1/log.csv" "$dir/grpo2/log.csv" $col)
    within "$d" 1e-4; check $? "GRPO, 2 processes vs 1: the $col of each of 3 steps within 1e-4 (max |difference| $d)"
done
out=$(./tools/mpi_compare "$dir/grpo1/model.bin" "$dir/grpo2/model.bin" $tol)
check $? "GRPO, 2 processes vs 1: parameters within $tol ($out)"
# the tolerance is far below what the steps change: a process that left out the other's gradient would fail
out=$(./tools/mpi_compare "$dir/pre1/model.bin" "$dir/grpo1/model.bin" 0)
moved=$(echo "$out" | sed 's/.*parameters \([^ ]*\).*/\1/')
within "$moved" 1e-4; [ $? -ne 0 ]; check $? "GRPO's 3 steps move the parameters by more than 1e-4 (by $moved)"

# bad use: one clear error and a non-zero exit, no hang
$mpi2 ./r1_mpi eval > "$dir/out.log" 2>&1
[ $? -ne 0 ] && grep -q "eval runs on one process" "$dir/out.log"
check $? "eval on 2 processes: an error that says it runs on one"
$mpi2 ./r1_mpi zero --init "$dir/pre1/model.bin" --prompts-per-step 1 --out "$dir/x" > "$dir/out.log" 2>&1
[ $? -ne 0 ] && grep -q "cannot be shared by 2 processes" "$dir/out.log"
check $? "GRPO of 1 prompt per step on 2 processes: an error, not a process without work"
for opt in "--algo ppo" "--top-entropy-quantile 0.5"; do  # a threshold or critic of its own per process
    $mpi2 ./r1_mpi zero --init "$dir/pre1/model.bin" $opt --out "$dir/x" > "$dir/out.log" 2>&1
    [ $? -ne 0 ] && grep -q "runs on one process" "$dir/out.log"
    check $? "zero $opt on 2 processes: an error that says it runs on one"
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
