/*
tools/bench.c: make bench. Throughput of r1.c's own functions on the teacher and student presets,
next to the PyTorch reference (ref/bench_ref.py, one process per preset, on the same threads).

  training  tokens/s: forward + backward + AdamW of one step on a batch of B sequences of T tokens
            (64 x 128 by default: pretraining's batch until it became 32 documents, kept so that figures
            compare across versions; all B*T tokens count)
  rollout   tokens/s: GRPO's sampling, P prompts x G responses generated together with the KV cache,
            prompts fed through the cache, then exactly M new tokens per response (no early stop);
            the count is the P*G*M new tokens, the time includes the prompts and the sampling
  GFLOP/s:  training FLOPs per token (6 x the active parameters' matmuls + the causal attention)
            x training tokens/s
  matmul:   built with OpenBLAS, every r1 figure is measured twice: through r1's own gemm (the
            default) and through OpenBLAS (--kernels blas)
  peaks:    the best sgemm measured: r1's gemm, OpenBLAS under the core type it loaded with and under
            each other core type with kernels for this CPU's vectors (a child process each, since
            OPENBLAS_CORETYPE is read when the library loads); and the FMA peak, an estimate: threads x
            vector lanes (the CPU's flags) x 2 x FMA units x clock, the clock measured by a chain of
            dependent adds, the units by timing 16 independent FMA chains on every thread (both timed
            in the thread's CPU time, which a neighbour on the core does not inflate)
  goals:    of the default path on the teacher: training >= 4x and rollouts >= 6x PyTorch, the
            training step >= 50% of the best sgemm; each printed as met or missed

Ratios that hold: the figures are measured in rounds, each round one step (or rollout) of every
side in turn (r1 through its gemm, r1 through OpenBLAS, PyTorch), so that a busy moment of the
machine slows every side of a ratio; a ratio is the median of the per-round ratios. Every figure is
the median over --repeats rounds after a warm-up round, with its spread: half the interquartile
range over the rounds, in percent of the median ("median ±spread"). A spread above 5% prints a
warning: on a machine that busy, a figure may move by 10% or more from one run to the next. The
load average (/proc/loadavg) is printed before and after. A peak is the best of its runs:
a neighbour can only slow a run down, and its median moved by a third from one quiet run to the next.
The reference runs under OpenMP's default wait policy and under "passive", and each part is timed
with the faster of the two (the default's spinning threads made PyTorch 1.6-3x slower here).
*/
#define TESTING
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"  // the commands of r1's main
#include "../r1.c"
#pragma GCC diagnostic pop
#include <signal.h>
#include <sys/wait.h>
#include <immintrin.h>

#define MAX_REPEATS 100
#define SPREAD_WARN 5.0  // percent: a ratio that may move by twice as much from run to run

typedef struct {
    int threads, batch, seq, prompts, generations, new_tokens, repeats, no_ref;
    const char *presets, *parts, *python;
} BenchOptions;

// ---- statistics of a figure over the rounds

typedef struct { double x[MAX_REPEATS]; int n; } Samples;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
// the q-quantile (0..1) by linear interpolation between the sorted samples
static double quantile(const Samples *s, double q) {
    double x[MAX_REPEATS];
    memcpy(x, s->x, s->n * sizeof(double));
    qsort(x, s->n, sizeof(double), cmp_double);
    double pos = q * (s->n - 1);
    int i = (int)pos;
    return i + 1 < s->n ? x[i] + (pos - i) * (x[i + 1] - x[i]) : x[i];
}
static double median(const Samples *s) { return quantile(s, 0.5); }
static double best(const Samples *s) { return quantile(s, 1.0); }
// half the interquartile range, in percent of the median: "median ±spread%"
static double spread(const Samples *s) { return 50.0 * (quantile(s, 0.75) - quantile(s, 0.25)) / median(s); }
static void add(Samples *s, double x) { if (s->n < MAX_REPEATS) s->x[s->n++] = x; }
// per-round ratios a[r] / b[r]
static Samples ratios(const Samples *a, const Samples *b) {
    Samples r = { .n = 0 };
    for (int i = 0; i < a->n && i < b->n; i++) add(&r, a->x[i] / b->x[i]);
    return r;
}

// the figures whose spread is too wide, collected for the warning at the end
static char wide[2048];
static void note_spread(const char *what, const Samples *s) {
    if (s->n < 2 || spread(s) <= SPREAD_WARN) return;
    size_t len = strlen(wide);
    snprintf(wide + len, sizeof wide - len, "%s%s ±%.0f%%", len ? ", " : "", what, spread(s));
}

// "median ±spread%" for a table cell, or " " when there are no samples
static const char *cell(char *buf, size_t n, const Samples *s, const char *fmt, const char *what) {
    if (s->n == 0) { snprintf(buf, n, " "); return buf; }
    char num[32];
    snprintf(num, sizeof num, fmt, median(s));
    snprintf(buf, n, "%s ±%.0f%%", num, spread(s));
    note_spread(what, s);
    return buf;
}

// /proc/loadavg: the 1, 5 and 15-minute load averages, running/total tasks, the last pid
static void print_load(const char *when) {
    char line[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f || !fgets(line, sizeof line, f)) snprintf(line, sizeof line, "unavailable");
    if (f) fclose(f);
    line[strcspn(line, "\n")] = 0;
    printf("load %s (/proc/loadavg): %s on %ld CPUs\n", when, line, sysconf(_SC_NPROCESSORS_ONLN));
}

// ---- r1's side

// training FLOPs per token of a T-token sequence: every matmul costs 2 C OC per token forward and
// twice that backward (dinp and dweight); attention costs 2 (dqk + dv) per head per visible key
// forward (scores, weighted sum), twice that backward; a causal row sees (T+1)/2 keys on average
static double train_flops_per_token(const Config *c, int T) {
    double C = c->d_model, NH = c->n_head, dqk = c->d_nope + c->d_rope, dv = c->d_v, R = c->kv_rank;
    double Rq = c->q_rank, matmul = 0.0, attn = 0.0;  // multiply-adds per token
    for (int l = 0; l < c->n_layer; l++) {
        matmul += Rq * C + NH * dqk * Rq + (R + c->d_rope) * C + NH * (c->d_nope + dv) * R + C * NH * dv;  // MLA
        if (is_moe_layer(c, l))  // shared expert, router, top-k routed experts
            matmul += 3.0 * C * c->d_ff_expert + c->n_experts * C + c->top_k * 3.0 * C * c->d_ff_expert;
        else
            matmul += 3.0 * C * c->d_ff_dense;
        attn += NH * (dqk + dv) * (T + 1) / 2.0;
    }
    matmul += c->vocab * C;  // output head (the embedding is a lookup)
    return 6.0 * matmul + 6.0 * attn;
}

// the batch of a training step: random tokens, each predicting the next
typedef struct { int *inputs, *targets; float *weights; int B, T; } Batch;
static Batch batch_random(int B, int T, int V) {
    int N = B * T;
    Batch b = { .inputs = mallocCheck((size_t)N * sizeof(int)),
                .targets = mallocCheck((size_t)N * sizeof(int)),
                .weights = mallocCheck((size_t)N * sizeof(float)), .B = B, .T = T };
    Rng rng = rng_seed(7);
    for (int i = 0; i < N; i++) {
        b.inputs[i] = N_SPECIAL + rng_int(&rng, V - N_SPECIAL);
        b.weights[i] = 1.0f / N;
    }
    for (int i = 0; i < N; i++) b.targets[i] = i + 1 < N ? b.inputs[i + 1] : TOK_EOS;
    return b;
}

// seconds of one training step as pretraining runs it, lm_step: zero grad, forward, cross-entropy, backward
// (on all threads, a share of the rows each), clip, AdamW, bias update
static double train_step(Model *m, const Batch *b) {
    OptimConfig u = { .lr = 1e-4f, .beta2 = 0.95f, .weight_decay = 0.1f, .clip = 1.0f, .bias_gamma = 1e-2f };
    float loss, norm;
    double t0 = now_seconds();
    int *len = mallocCheck(b->B * sizeof(int));
    for (int i = 0; i < b->B; i++) len[i] = b->T;
    lm_step(m, b->inputs, b->targets, b->weights, len, b->B, b->T, &u, &loss, &norm);
    free(len);
    return now_seconds() - t0;
}

// one rollout as GRPO's generate() does it, except that no row stops at <eos>: n = P*G rows (each
// prompt repeated G times), the prompts fed through the KV cache one position at a time, then new
// tokens up to max_len = the longest prompt + M (the prompts of tiny_data/rl_train.txt all have the
// same length: exactly M new tokens per row). Returns the new tokens per second.
static double rollout_rate(Model *m, const Data *d, int P, int G, int M, Rng *rng) {
    int n = P * G, max_len = 0;
    int *plen = mallocCheck(n * sizeof(int)), *slen = mallocCheck(n * sizeof(int));
    for (int i = 0; i < n; i++) { plen[i] = d->len[(i / G) % d->n]; max_len = imax(max_len, plen[i] + M); }
    if (max_len > m->cfg.context)
        die("bench: prompts + %d new tokens exceed the context %d", M, m->cfg.context);
    int *seqs = mallocCheck((size_t)n * max_len * sizeof(int));
    for (int i = 0; i < n; i++)
        memcpy(seqs + (size_t)i * max_len, d->ids[(i / G) % d->n], plen[i] * sizeof(int));
    Rng *rngs = mallocCheck(n * sizeof(Rng));
    uint64_t seed = rng_u32(rng);
    for (int i = 0; i < n; i++) rngs[i] = row_stream(seed, i);
    double t0 = now_seconds();
    generate_threads(m, seqs, plen, slen, n, max_len, 1.0f, 0, CHECK_FREE, 0, rngs);
    double dt = now_seconds() - t0;
    free(rngs);
    long new_tokens = 0;
    for (int i = 0; i < n; i++) new_tokens += slen[i] - plen[i];
    free(plen); free(slen); free(seqs);
    return new_tokens / dt;
}

// GFLOP/s of one n^3 product on nt threads: one OpenBLAS call on all of them, or r1's matmul
static double sgemm_rate(int path, int nt, const float *a, const float *b, float *out, int n) {
    double t0 = now_seconds();
#ifdef USE_BLAS
    if (path == MATMUL_BLAS) {
        openblas_set_num_threads(nt);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, out, n);
        openblas_set_num_threads(1);  // back to r1's setting (threads_init)
        return 2.0 * n * n * n / (now_seconds() - t0) / 1e9;
    }
#endif
    (void)nt;
    matmul_path = path;
    matmul_forward(out, a, b, n, n, n);
    return 2.0 * n * n * n / (now_seconds() - t0) / 1e9;
}

// ---- the machine's peaks: the best sgemm measured, and the FMA units' rate

#define SGEMM_N 2048
#define MAX_SGEMM 8  // r1's gemm, OpenBLAS as it loads, OpenBLAS under each core type tried
typedef struct {
    const char *name[MAX_SGEMM];
    Samples rate[MAX_SGEMM];  // GFLOP/s of SGEMM_N^3 products
    int n, best;              // best: the one whose best run was the fastest
    double fma, clock;        // FMA GFLOP/s on all threads, measured; one thread's clock in GHz, measured
    int lanes, units;         // floats per vector (the CPU's flags); FMA units per thread (from fma, rounded)
} Peaks;

static void fill_normal(float *x, size_t n, uint64_t seed) {
    Rng rng = rng_seed(seed);
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng);
}

// R1_BENCH_SGEMM=nt in the environment: the bench is its own child, timing OpenBLAS under the core type
// that OPENBLAS_CORETYPE names (read when the library loads, so a process for each): prints one GFLOP/s
static int sgemm_child(int nt) {
    size_t nn = (size_t)SGEMM_N * SGEMM_N;
    float *a = mallocCheck(nn * sizeof(float)), *b = mallocCheck(nn * sizeof(float));
    float *out = mallocCheck(nn * sizeof(float));
    fill_normal(a, nn, 3);
    fill_normal(b, nn, 4);
    sgemm_rate(MATMUL_BLAS, nt, a, b, out, SGEMM_N);  // warm-up
    printf("%.3f\n", sgemm_rate(MATMUL_BLAS, nt, a, b, out, SGEMM_N));
    free(a); free(b); free(out);
    return 0;
}

// GFLOP/s of OpenBLAS under a core type, from a child process; -1 if it failed
static double sgemm_rate_core(const char *core, int nt) {
    char exe[1024], cmd[1200];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return -1.0;
    exe[len] = 0;
    snprintf(cmd, sizeof cmd, "OPENBLAS_CORETYPE=%s R1_BENCH_SGEMM=%d '%s'", core, nt, exe);
    FILE *p = popen(cmd, "r");
    double rate = -1.0;
    if (!p) return rate;
    if (fscanf(p, "%lf", &rate) != 1) rate = -1.0;
    return pclose(p) == 0 ? rate : -1.0;
}

// the calling thread's CPU time: a peak timed by it does not count the moments a neighbour had the core
static double thread_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// FLOP/s of fused multiply-adds on one thread for `seconds` of its CPU time: 16 independent chains of the widest vector
// FMA, enough to keep two FMA units busy across their latency (4 cycles)
static double fma_rate_thread(double seconds) {
#if defined(__AVX512F__) || defined(__FMA__)
#ifdef __AVX512F__
    typedef __m512 Vec;
#define VEC_FMA _mm512_fmadd_ps
#define VEC_SET _mm512_set1_ps
#else
    typedef __m256 Vec;
#define VEC_FMA _mm256_fmadd_ps
#define VEC_SET _mm256_set1_ps
#endif
    Vec acc[16], x = VEC_SET(0.999999f), y = VEC_SET(1e-7f);
    for (int i = 0; i < 16; i++) acc[i] = VEC_SET((float)i);
    long rounds = 0;
    double t0 = thread_seconds(), dt;
    do {
        for (int r = 0; r < 100000; r++)
            for (int i = 0; i < 16; i++) acc[i] = VEC_FMA(acc[i], x, y);
        rounds += 100000;
    } while ((dt = thread_seconds() - t0) < seconds);
    float sum[sizeof(Vec) / sizeof(float)] = { 0 }, sink = 0.0f;
    for (int i = 0; i < 16; i++) {
        memcpy(sum, &acc[i], sizeof sum);
        sink += sum[0];
    }
    volatile float keep = sink;  // the chains' results are used: the compiler keeps them
    (void)keep;
    return 16.0 * (sizeof(Vec) / sizeof(float)) * 2.0 * rounds / dt;
#undef VEC_FMA
#undef VEC_SET
#else
    (void)seconds;
    return 0.0;
#endif
}

// one thread's clock in Hz, measured: a chain of dependent integer adds runs at one add a cycle
static double clock_rate(void) {
#ifdef __x86_64__
    uint64_t x = 0;
    long n = 5000000;
    double t0 = thread_seconds();
    for (long i = 0; i < n; i++)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                         : "+r"(x));
    return 20.0 * n / (thread_seconds() - t0);
#else
    return 0.0;
#endif
}

// every peak on nt threads, in rounds (a neighbour can only slow a run down: the best run counts)
static void measure_peaks(Peaks *pk, int nt) {
    size_t nn = (size_t)SGEMM_N * SGEMM_N;
    float *a = mallocCheck(nn * sizeof(float)), *b = mallocCheck(nn * sizeof(float));
    float *out = mallocCheck(nn * sizeof(float));
    fill_normal(a, nn, 3);
    fill_normal(b, nn, 4);
    pk->n = 0;
    pk->name[pk->n++] = "r1's gemm";
#ifdef USE_BLAS
    static char loaded[96];
    snprintf(loaded, sizeof loaded, "OpenBLAS %s", openblas_get_corename());
    pk->name[pk->n++] = loaded;
    // the core types with kernels for this CPU's vectors (OPENBLAS_CORETYPE)
    static const char *cores[] = { "SkylakeX", "Cooperlake", "Haswell", "Zen" };
    static char names[4][64];
    int n_cores = __builtin_cpu_supports("avx512f") ? 4 : __builtin_cpu_supports("avx2") ? 2 : 0;
    for (int c = n_cores == 2 ? 2 : 0; c < 4 && n_cores; c++) {
        if (strcmp(cores[c], openblas_get_corename()) == 0) continue;
        snprintf(names[c], sizeof names[c], "OpenBLAS %s", cores[c]);
        pk->name[pk->n++] = names[c];
    }
#endif
    for (int i = 0; i < pk->n; i++) pk->rate[i].n = 0;
    for (int r = -1; r < 5; r++)
        for (int i = 0; i < pk->n; i++) {
            double rate = i == 0 ? sgemm_rate(MATMUL_PACKED, nt, a, b, out, SGEMM_N)
                        : i == 1 ? sgemm_rate(MATMUL_BLAS, nt, a, b, out, SGEMM_N)
                        : sgemm_rate_core(pk->name[i] + strlen("OpenBLAS "), nt);
            if (r >= 0 && rate > 0) add(&pk->rate[i], rate);
        }
    free(a); free(b); free(out);
    pk->best = 0;
    for (int i = 1; i < pk->n; i++)
        if (pk->rate[i].n && best(&pk->rate[i]) > best(&pk->rate[pk->best])) pk->best = i;
    Samples fma = { .n = 0 }, clock = { .n = 0 };
    for (int r = 0; r < 5; r++) {
        double sum = 0.0;
        #pragma omp parallel for num_threads(nt) reduction(+:sum)
        for (int t = 0; t < nt; t++) sum += fma_rate_thread(0.2);
        add(&fma, sum / 1e9);
        add(&clock, clock_rate() / 1e9);
    }
    pk->fma = best(&fma);
    pk->clock = best(&clock);
    pk->lanes = __builtin_cpu_supports("avx512f") ? 16 : __builtin_cpu_supports("avx2") ? 8 : 4;
    pk->units = pk->clock > 0 ? (int)lround(pk->fma / (nt * pk->lanes * 2.0 * pk->clock)) : 0;
}

static double sgemm_best(const Peaks *pk) { return best(&pk->rate[pk->best]); }
static double fma_peak(const Peaks *pk, int nt) { return nt * pk->lanes * 2.0 * pk->units * pk->clock; }

static void print_peaks(const Peaks *pk, int nt) {
    printf("sgemm %d^3 on %d threads, best (median) of 5:", SGEMM_N, nt);
    for (int i = 0; i < pk->n; i++)
        if (pk->rate[i].n) printf(" %s %.1f (%.1f)", pk->name[i], best(&pk->rate[i]), median(&pk->rate[i]));
        else printf(" %s failed", pk->name[i]);
    printf(" GFLOP/s; the best: %s\n", pk->name[pk->best]);
    printf("FMA peak, an estimate: %d threads x %d lanes x 2 FLOP x %d FMA units x %.2f GHz = %.1f GFLOP/s "
           "(the clock from a chain of dependent adds, the units from %.1f GFLOP/s of FMAs measured)\n",
           nt, pk->lanes, pk->units, pk->clock, fma_peak(pk, nt), pk->fma);
}

// ---- the PyTorch side: ref/bench_ref.py --serve, one step per command

typedef struct { pid_t pid; FILE *to, *from; } Ref;

// the OpenMP wait policies the reference runs under (see the top of this file); "" leaves the variable
// as it is
#define N_POLICIES 2
static const char *WAIT_POLICIES[N_POLICIES] = { "", "passive" };

// starts the reference for a preset with an OpenMP wait policy and waits for its "ready"; 0 with the reason
// if it cannot
static int ref_start(Ref *r, const BenchOptions *o, const char *preset, const char *policy, char *why,
                     size_t nwhy) {
    if (access("ref/bench_ref.py", R_OK) != 0) {
        snprintf(why, nwhy, "ref/bench_ref.py not found");
        return 0;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' 2>/dev/null", o->python);
    if (system(cmd) != 0) { snprintf(why, nwhy, "%s cannot import torch", o->python); return 0; }
    char num[6][16];
    int v[6] = { o->threads, o->batch, o->seq, o->prompts, o->generations, o->new_tokens };
    for (int i = 0; i < 6; i++) snprintf(num[i], sizeof num[i], "%d", v[i]);
    char *argv[] = { (char *)o->python, "ref/bench_ref.py", "--serve", "--preset", (char *)preset,
                     "--threads", num[0], "--batch", num[1], "--seq", num[2], "--prompts", num[3],
                     "--generations", num[4], "--new-tokens", num[5], NULL };
    printf("  OMP_NUM_THREADS=%s%s%s", num[0], policy[0] ? " OMP_WAIT_POLICY=" : "", policy);
    for (int i = 0; argv[i]; i++) printf(" %s", argv[i]);
    printf("\n");
    fflush(stdout);
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) { snprintf(why, nwhy, "pipe: %s", strerror(errno)); return 0; }
    r->pid = fork();
    if (r->pid < 0) { snprintf(why, nwhy, "fork: %s", strerror(errno)); return 0; }
    if (r->pid == 0) {
        dup2(down[0], 0); dup2(up[1], 1);
        close(down[0]); close(down[1]); close(up[0]); close(up[1]);
        setenv("OMP_NUM_THREADS", num[0], 1);
        if (policy[0]) setenv("OMP_WAIT_POLICY", policy, 1);
        execv(o->python, argv);
        _exit(127);
    }
    close(down[0]); close(up[1]);
    r->to = fdopen(down[1], "w");
    r->from = fdopen(up[0], "r");
    char line[256];
    while (fgets(line, sizeof line, r->from)) {
        if (strncmp(line, "ready", 5) == 0) return 1;
        printf("  reference: %s", line);  // torch_version, threads
    }
    int status;
    fclose(r->to); fclose(r->from);
    waitpid(r->pid, &status, 0);
    snprintf(why, nwhy, "ref/bench_ref.py stopped before it was ready (exit status %d)", WEXITSTATUS(status));
    return 0;
}

// seconds of one "train" or "rollout" of the reference, or -1 if it failed
static double ref_time(Ref *r, const char *what) {
    char line[256], format[64];
    double s;
    if (fprintf(r->to, "%s\n", what) < 0 || fflush(r->to) != 0) return -1.0;
    snprintf(format, sizeof format, "%s_seconds %%lf", what);
    if (!fgets(line, sizeof line, r->from) || sscanf(line, format, &s) != 1 || !(s > 0)) return -1.0;
    return s;
}

static void ref_stop(Ref *r) {
    int status;
    fprintf(r->to, "quit\n");
    fclose(r->to); fclose(r->from);
    waitpid(r->pid, &status, 0);
}

// ---- the rounds

// the default path first (r1's own gemm), then --kernels blas
#ifdef USE_BLAS
#define N_PATHS 2
static const int PATHS[N_PATHS] = { MATMUL_PACKED, MATMUL_BLAS };
static const char *PATH_NAMES[N_PATHS] = { "r1 (own gemm)", "r1 (OpenBLAS)" };
#else
#define N_PATHS 1
static const int PATHS[N_PATHS] = { MATMUL_PACKED };
static const char *PATH_NAMES[N_PATHS] = { "r1 (own gemm)" };
#endif

typedef struct {
    const char *preset;
    double flops_per_token;
    Samples train[N_PATHS], rollout[N_PATHS], ref_train, ref_rollout;  // tokens/s per round
    int ref_ok;
    char why[256];
} Row;

// one figure of the reference into s (tokens per second), or the reference marked failed
static void ref_round(Ref *ref, Row *row, const char *what, double tokens, int timed, Samples *s) {
    double dt = ref_time(ref, what);
    if (dt < 0) { row->ref_ok = 0; snprintf(row->why, sizeof row->why, "ref/bench_ref.py failed"); }
    else if (timed) add(s, tokens / dt);
}

// the reference process (one per wait policy) whose second step of `what` was the fastest
static Ref *ref_faster(Ref *refs, int n_refs, const char *what, double tokens, Row *row) {
    int best = 0;
    double best_dt = 0.0;
    printf("  reference %s, a second step under each OpenMP wait policy:", what);
    for (int k = 0; k < n_refs; k++) {
        double warm = ref_time(&refs[k], what), dt = warm < 0 ? -1.0 : ref_time(&refs[k], what);
        if (dt < 0) {
            row->ref_ok = 0;
            snprintf(row->why, sizeof row->why, "ref/bench_ref.py failed");
            break;
        }
        printf(" %s %.0f tok/s", WAIT_POLICIES[k][0] ? WAIT_POLICIES[k] : "default", tokens / dt);
        if (k == 0 || dt < best_dt) { best = k; best_dt = dt; }
    }
    printf("\n");
    return &refs[best];
}

static void bench_preset(const BenchOptions *o, const Preset *p, const Data *prompts, Row *row) {
    int do_train = strstr(o->parts, "train") != NULL, do_rollout = strstr(o->parts, "rollout") != NULL;
    Model *mt = do_train ? model_create(&p->cfg, p->name, 1) : NULL;
    Model *mr = do_rollout ? model_create(&p->cfg, p->name, 1) : NULL;
    Batch batch = batch_random(o->batch, o->seq, p->cfg.vocab);
    Rng rng = rng_seed(11);
    Ref refs[N_POLICIES];
    int n_policies = getenv("OMP_WAIT_POLICY") ? 1 : N_POLICIES, n_refs = 0;  // the caller's policy, or each
    if (o->no_ref) snprintf(row->why, sizeof row->why, "--no-ref");
    else while (n_refs < n_policies && ref_start(&refs[n_refs], o, p->name, n_policies == 1 ? "" :
                                                 WAIT_POLICIES[n_refs], row->why, sizeof row->why)) n_refs++;
    row->ref_ok = !o->no_ref && n_refs == n_policies;
    Params layout;
    printf("%s: %zu parameters, %.2f MFLOP per training token\n", p->name,
           params_layout(&p->cfg, NULL, &layout), row->flops_per_token / 1e6);
    fflush(stdout);
    double n_train = (double)o->batch * o->seq;
    double n_rollout = (double)o->prompts * o->generations * o->new_tokens;
    Ref *ref_train = &refs[0], *ref_rollout = &refs[0];  // the faster policy of each part
    if (row->ref_ok && n_refs > 1 && do_train) ref_train = ref_faster(refs, n_refs, "train", n_train, row);
    if (row->ref_ok && n_refs > 1 && do_rollout)
        ref_rollout = ref_faster(refs, n_refs, "rollout", n_rollout, row);
    for (int r = -1; r < o->repeats; r++) {  // round -1 warms up (allocations, caches, the first steps)
        for (int i = 0; i < N_PATHS && mt; i++) {
            matmul_path = PATHS[i];
            double dt = train_step(mt, &batch);
            if (r >= 0) add(&row->train[i], n_train / dt);
        }
        if (row->ref_ok && do_train) ref_round(ref_train, row, "train", n_train, r >= 0, &row->ref_train);
        for (int i = 0; i < N_PATHS && mr; i++) {
            matmul_path = PATHS[i];
            double rate = rollout_rate(mr, prompts, o->prompts, o->generations, o->new_tokens, &rng);
            if (r >= 0) add(&row->rollout[i], rate);
        }
        if (row->ref_ok && do_rollout) ref_round(ref_rollout, row, "rollout", n_rollout, r >= 0, &row->ref_rollout);
    }
    if (!o->no_ref && !row->ref_ok) printf("PyTorch reference: skipped (%s)\n", row->why);
    for (int k = 0; k < n_refs; k++) ref_stop(&refs[k]);
    matmul_path = PATHS[0];
    if (mt) model_free(mt);
    if (mr) model_free(mr);
    free(batch.inputs); free(batch.targets); free(batch.weights);
}

// a table row: the medians and spreads of training and rollout figures (and GFLOP/s if flops_per_token > 0)
static void print_row(const char *preset, const char *who, const Samples *train, const Samples *rollout,
                      double flops_per_token, const char *fmt) {
    char a[128], b[128], what[128];
    snprintf(what, sizeof what, "%s %s training", preset, who);
    cell(a, sizeof a, train, fmt, what);
    snprintf(what, sizeof what, "%s %s rollout", preset, who);
    cell(b, sizeof b, rollout, fmt, what);
    printf("| %s | %s | %s | %s |", preset, who, a, b);
    if (flops_per_token > 0 && train->n) printf(" %.1f |\n", flops_per_token * median(train) / 1e9);
    else printf(" |\n");
}

static void print_table(const Row *rows, int n_rows) {
    printf("| preset | | train tok/s | rollout tok/s | train GFLOP/s |\n|---|---|---:|---:|---:|\n");
    for (int k = 0; k < n_rows; k++) {
        const Row *r = &rows[k];
        for (int i = 0; i < N_PATHS; i++)
            print_row(r->preset, PATH_NAMES[i], &r->train[i], &r->rollout[i], r->flops_per_token, "%.0f");
        if (r->ref_ok)
            print_row(r->preset, "PyTorch", &r->ref_train, &r->ref_rollout, r->flops_per_token, "%.0f");
        else printf("| %s | PyTorch | skipped (%s) | | |\n", r->preset, r->why);
        for (int i = 0; i < N_PATHS && r->ref_ok; i++) {
            Samples t = ratios(&r->train[i], &r->ref_train), ro = ratios(&r->rollout[i], &r->ref_rollout);
            char who[64];
            snprintf(who, sizeof who, "%s / PyTorch", PATH_NAMES[i]);
            print_row(r->preset, who, &t, &ro, 0, "%.2fx");
        }
        if (N_PATHS == 2) {
            Samples t = ratios(&r->train[0], &r->train[1]), ro = ratios(&r->rollout[0], &r->rollout[1]);
            print_row(r->preset, "own gemm / OpenBLAS", &t, &ro, 0, "%.2fx");
        }
    }
}

// the goals of the default path (the first), teacher preset: training >= 4x and rollouts >= 6x the
// PyTorch reference, the training step >= 50% of the best sgemm measured
static void print_goals(const Row *rows, int n_rows, const Peaks *pk) {
    for (int k = 0; k < n_rows; k++) {
        const Row *r = &rows[k];
        if (strcmp(r->preset, "teacher") != 0) continue;
        printf("goals, %s, %s:", PATH_NAMES[0], r->preset);
        if (r->ref_ok && r->train[0].n) {
            Samples t = ratios(&r->train[0], &r->ref_train);
            printf(" training %.2fx PyTorch (>= 4x: %s) |", median(&t), median(&t) >= 4.0 ? "met" : "missed");
        }
        if (r->ref_ok && r->rollout[0].n) {
            Samples ro = ratios(&r->rollout[0], &r->ref_rollout);
            printf(" rollouts %.2fx (>= 6x: %s) |", median(&ro), median(&ro) >= 6.0 ? "met" : "missed");
        }
        if (r->train[0].n) {
            double share = r->flops_per_token * median(&r->train[0]) / 1e9 / sgemm_best(pk);
            printf(" training %.0f%% of the best sgemm (>= 50%%: %s)", 100.0 * share,
                   share >= 0.5 ? "met" : "missed");
        }
        printf("\n");
    }
}

int main(int argc, char **argv) {
    if (getenv("R1_BENCH_SGEMM")) return sgemm_child(atoi(getenv("R1_BENCH_SGEMM")));
    main_argv = argv;
    blas_check_core(); // the core OpenBLAS runs on this CPU under r1 --kernels blas
    BenchOptions o = { .threads = n_threads(), .batch = 64, .seq = 128, .prompts = 8, .generations = 16,
                       .new_tokens = 64, .repeats = 15, .no_ref = 0, .presets = "teacher,student",
                       .parts = "train,rollout", .python = "/usr/bin/python3" };
    Option opts[] = {
        { "threads", 'i', &o.threads, 1, 256, "threads for r1 (OpenMP) and for the reference" },
        { "batch", 'i', &o.batch, 1, 4096, "training sequences per step" },
        { "seq", 'i', &o.seq, 2, 1024, "training tokens per sequence" },
        { "prompts", 'i', &o.prompts, 1, 1024, "rollout prompts" },
        { "generations", 'i', &o.generations, 1, 1024, "responses per prompt" },
        { "new-tokens", 'i', &o.new_tokens, 1, 1024, "tokens generated per response" },
        { "repeats", 'i', &o.repeats, 1, MAX_REPEATS, "timed rounds (a step, a rollout per side)" },
        { "presets", 's', &o.presets, 0, 0, "comma-separated presets" },
        { "parts", 's', &o.parts, 0, 0, "what is measured: train, rollout or both (for profiling)" },
        { "python", 's', &o.python, 0, 0, "the python that has torch" },
        { "no-ref", 'b', &o.no_ref, 0, 0, "skip the PyTorch reference" },
    };
    options_parse("bench", "Training and rollout throughput of r1 and of the PyTorch reference.", opts,
                  (int)(sizeof opts / sizeof opts[0]), argc - 1, argv + 1);
#ifdef _OPENMP
    omp_set_num_threads(o.threads);
#endif
    threads_init();
    signal(SIGPIPE, SIG_IGN);  // a reference that dies shows as a failed step, not a killed bench
    printf("r1 bench: %d threads; training %d x %d tokens, rollout %d prompts x %d responses x %d new "
           "tokens; medians of %d rounds\n",
           o.threads, o.batch, o.seq, o.prompts, o.generations, o.new_tokens, o.repeats);
#ifdef USE_BLAS
    printf("OpenBLAS core %s | %s\n", openblas_get_corename(), openblas_get_config());
#else
    printf("built without BLAS: r1's own matmul (gemm)\n");
#endif
    print_load("at the start");

    Peaks pk;
    measure_peaks(&pk, o.threads);
    print_peaks(&pk, o.threads);
    fflush(stdout);

    Data prompts = load_prompts("tiny_data/rl_train.txt", 1024);
    static Row rows[8];
    int n_rows = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", o.presets);
    for (char *name = strtok(list, ","); name && n_rows < 8; name = strtok(NULL, ",")) {
        const Preset *p = find_preset(name);
        if (o.seq > p->cfg.context)
            die("bench: --seq %d exceeds the %s context %d", o.seq, p->name, p->cfg.context);
        Row *row = &rows[n_rows++];
        row->preset = p->name;
        row->flops_per_token = train_flops_per_token(&p->cfg, o.seq);
        bench_preset(&o, p, &prompts, row);
    }

    printf("\nmedian ±half the interquartile range, in percent, over %d rounds\n", o.repeats);
    print_table(rows, n_rows);
    printf("\n");
    for (int i = 0; i < N_PATHS && strstr(o.parts, "train"); i++) {
        printf("%s training reaches", PATH_NAMES[i]);
        for (int k = 0; k < n_rows; k++) {
            double gflops = rows[k].flops_per_token * median(&rows[k].train[i]) / 1e9;
            printf(" %.1f%% / %.1f%% (%s)", 100.0 * gflops / sgemm_best(&pk),
                   100.0 * gflops / fma_peak(&pk, o.threads), rows[k].preset);
        }
        printf(" of the best sgemm (%.1f GFLOP/s) / of the FMA peak (%.1f)\n", sgemm_best(&pk),
               fma_peak(&pk, o.threads));
    }
    print_goals(rows, n_rows, &pk);
    for (int k = 0; k < n_rows; k++) { // MLA's latent cache: [c_KV ; k_rope] per token and layer
        const Config *c = &find_preset(rows[k].preset)->cfg;
        printf("KV cache (%s): %zu bytes per token (MLA latent; the heads' keys and values would take %zu)\n",
               rows[k].preset, (size_t)c->n_layer * (c->kv_rank + c->d_rope) * sizeof(float),
               (size_t)c->n_layer * c->n_head * (c->d_nope + c->d_rope + c->d_v) * sizeof(float));
    }
    print_load("at the end");
    if (wide[0])
        printf("warning: spread above ±%.0f%% in: %s. The machine was too busy for these figures to hold; "
               "run again when it is quiet, or with more --repeats\n", SPREAD_WARN, wide);
    data_free(&prompts);
    return 0;
}
