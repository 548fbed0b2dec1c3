# tools/study_summary.awk: the table of a study (tools/study.sh). Input: one finished run per line,
# "ARM BASE_SEED RL_SEED FOLDER"; each FOLDER/log.csv has the held-out evaluations (test_* columns,
# step 0 = the base model). Writes one row per run to the file csv and prints one line per arm.
#
# aha: held-out pass@1 rises by at least 0.2 and mean length by at least 20% over the base's, at
# some evaluation; time to aha: the first step where both hold. Intervals: mean +- t(0.975, n-1) s/sqrt(n);
# the aha share's: Wilson's.

BEGIN {
    FS = " "
    split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 2.201 2.179 2.160 2.145 2.131 " \
          "2.120 2.110 2.101 2.093 2.086 2.080 2.074 2.069 2.064 2.060 2.056 2.052 2.048 2.045 2.042", t975, " ")
    n_metrics = split("pass1 greedy length reflection checked_in_chains", metric, " ")
    print "arm,base_seed,rl_seed,folder,first_accuracy,pass1_0,pass1_end,greedy_0,greedy_end,length_0,length_end," \
          "reflection_0,reflection_end,checked_in_chains_0,checked_in_chains_end,aha,time_to_aha" > csv
}

NF == 4 { run($1, $2, $3, $4) }

function run(arm, bseed, seed, folder,    file, line, f, nf, c, col, first, v, step, have_aha, t_aha, k) {
    file = folder "/log.csv"
    if ((getline line < file) <= 0) { print "study: cannot read " file > "/dev/stderr"; exit 1 }
    nf = split(line, f, ",")
    for (c = 1; c <= nf; c++) col[f[c]] = c
    if (!("test_pass1" in col)) { print "study: " file " has no test_pass1 column" > "/dev/stderr"; exit 1 }
    first = 1; have_aha = 0; t_aha = ""
    while ((getline line < file) > 0) {
        split(line, f, ",")
        if (first) first_acc = f[col["accuracy"]]
        if (f[col["test_pass1"]] == "") { first = 0; continue }
        step = f[col["step"]]
        v["pass1"] = f[col["test_pass1"]]; v["greedy"] = f[col["test_greedy"]]
        v["length"] = f[col["test_length"]]; v["reflection"] = f[col["test_reflection"]]
        v["checked_in_chains"] = f[col["test_checked_in_chains"]]
        if (first) for (k in v) v0[k] = v[k]
        if (!have_aha && v["pass1"] - v0["pass1"] >= 0.2 && v["length"] >= 1.2 * v0["length"]) { have_aha = 1; t_aha = step }
        first = 0
    }
    close(file)
    printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%d,%s\n", arm, bseed, seed, folder, first_acc,
           v0["pass1"], v["pass1"], v0["greedy"], v["greedy"], v0["length"], v["length"], v0["reflection"],
           v["reflection"], v0["checked_in_chains"], v["checked_in_chains"], have_aha, t_aha > csv
    if (!(arm in n)) order[++n_arms] = arm
    k = ++n[arm]
    aha[arm] += have_aha
    if (have_aha) t_list[arm, ++n_aha[arm]] = t_aha
    for (c = 1; c <= n_metrics; c++) {
        start[arm, metric[c], k] = v0[metric[c]]
        end[arm, metric[c], k] = v[metric[c]]
    }
}

# mean +- half-width of the 95% interval (min-max) of x[arm, m, 1..k]; a negative value (r1 logs -1
# for a rate without a denominator, e.g. checked among chains with no chain) is left out
function stats(x, arm, m, k,    i, n, sum, ss, mean, sd, half, lo, hi) {
    n = 0; sum = 0; lo = 1e9; hi = -1e9
    for (i = 1; i <= k; i++) {
        if (x[arm, m, i] < 0) continue
        n++; sum += x[arm, m, i]
        if (x[arm, m, i] < lo) lo = x[arm, m, i]
        if (x[arm, m, i] > hi) hi = x[arm, m, i]
    }
    if (n == 0) return "n/a"
    mean = sum / n
    if (n < 2) return sprintf("%.3f", mean)
    ss = 0
    for (i = 1; i <= k; i++) if (x[arm, m, i] >= 0) ss += (x[arm, m, i] - mean) ^ 2
    sd = sqrt(ss / (n - 1))
    half = (n - 1 <= 30 ? t975[n - 1] : 1.96) * sd / sqrt(n)
    return sprintf("%.3f +-%.3f (%.3f-%.3f)%s", mean, half, lo, hi, n < k ? sprintf(" of %d runs", n) : "")
}

# the Wilson score interval (95%) of a share of k in n: unlike p +- 1.96 sqrt(p (1 - p) / n), it stays
# inside [0, 1] and is not empty at k = 0 or k = n
function wilson(k, n,    z, p, centre, half) {
    z = 1.96; p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return sprintf("%.2f-%.2f", centre - half, centre + half)
}

function median_step(arm, k,    i, j, tmp, a) {
    if (k == 0) return "-"
    for (i = 1; i <= k; i++) a[i] = t_list[arm, i] + 0
    for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { tmp = a[j]; a[j] = a[j - 1]; a[j - 1] = tmp }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}

END {
    close(csv)
    for (i = 1; i <= n_arms; i++) {
        arm = order[i]
        printf "%s: %d runs, aha in %d (share %.2f, 95%% interval %s), median step of aha %s\n", arm, n[arm],
               aha[arm], aha[arm] / n[arm], wilson(aha[arm], n[arm]), median_step(arm, n_aha[arm])
        for (c = 1; c <= n_metrics; c++)
            printf "  %-18s base %s -> end %s\n", metric[c], stats(start, arm, metric[c], n[arm]),
                   stats(end, arm, metric[c], n[arm])
    }
}
