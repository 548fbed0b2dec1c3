/*
tools/bench.c: make bench. Throughput of r1.c's own functions on the teacher and student presets,
next to the PyTorch reference (ref/bench_ref.py) run in its own process on the same threads.

  training  tokens/s: forward + backward + AdamW of one step on a batch of B sequences of T tokens
            (the shapes of pretraining: 64 documents of up to ~144 tokens; all B*T tokens count)
  rollout   tokens/s: GRPO's sampling, P prompts x G responses generated together with the KV cache,
            prompts fed through the cache, then exactly M new tokens per response (no early stop);
            the count is the P*G*M new tokens, the time includes the prompts and the sampling
  GFLOP/s:  training FLOPs per token (6 x the active parameters' matmuls + the causal attention)
            x training tokens/s
Figures are medians over repeats. Benchmarks are not tests: the machine's load moves them.
*/
#define TESTING
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"  // the commands of r1's main
#include "../r1.c"
#pragma GCC diagnostic pop

typedef struct {
    int threads, batch, seq, prompts, generations, new_tokens, steps, repeats, no_ref;
    const char *presets, *parts, *python;
} BenchOptions;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *x, int n) {
    qsort(x, n, sizeof(double), cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

// training FLOPs per token of a T-token sequence: every matmul costs 2 C OC per token forward and
// twice that backward (dinp and dweight); attention costs 2 (dqk + dv) per head per visible key
// forward (scores, weighted sum), twice that backward; a causal row sees (T+1)/2 keys on average
static double train_flops_per_token(const Config *c, int T) {
    double C = c->d_model, NH = c->n_head, dqk = c->d_nope + c->d_rope, dv = c->d_v, R = c->kv_rank;
    double matmul = 0.0, attn = 0.0;  // multiply-adds per token
    for (int l = 0; l < c->n_layer; l++) {
        matmul += NH * dqk * C + (R + c->d_rope) * C + NH * (c->d_nope + dv) * R + C * NH * dv;  // MLA
        if (is_moe_layer(c, l))  // shared expert, router, top-k routed experts
            matmul += 3.0 * C * c->d_ff_expert + c->n_experts * C + c->top_k * 3.0 * C * c->d_ff_expert;
        else
            matmul += 3.0 * C * c->d_ff_dense;
        attn += NH * (dqk + dv) * (T + 1) / 2.0;
    }
    matmul += c->vocab * C;  // output head (the embedding is a lookup)
    return 6.0 * matmul + 6.0 * attn;
}

// median seconds of one training step (zero grad, forward, cross-entropy, backward, clip, AdamW, bias update)
static double bench_train(Model *m, int B, int T, int steps) {
    int N = B * T, V = m->cfg.vocab;
    int *inputs = mallocCheck((size_t)N * sizeof(int)), *targets = mallocCheck((size_t)N * sizeof(int));
    float *w = mallocCheck((size_t)N * sizeof(float));
    Rng rng = rng_seed(7);
    for (int i = 0; i < N; i++) { inputs[i] = N_SPECIAL + rng_int(&rng, V - N_SPECIAL); w[i] = 1.0f / N; }
    for (int i = 0; i < N; i++) targets[i] = i + 1 < N ? inputs[i + 1] : TOK_EOS;
    double *dt = mallocCheck((size_t)steps * sizeof(double));
    for (int s = -1; s < steps; s++) {  // step -1 warms up (allocations, caches)
        double t0 = now_seconds();
        model_zero_grad(m);
        model_forward(m, inputs, B, T, NULL, 0);
        crossentropy_forward_backward(m->dlogits, m->logits, targets, w, N, V);
        model_backward(m);
        grad_clip(m, 1.0f);
        adamw_update(m, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, m->step + 1);
        m->step++;
        router_bias_update(m, 1e-2f);
        if (s >= 0) dt[s] = now_seconds() - t0;
    }
    double med = median(dt, steps);
    free(inputs); free(targets); free(w); free(dt);
    return med;
}

// one rollout as GRPO's generate() does it, except that no row stops at <eos>: n = P*G rows (each
// prompt repeated G times), the prompts fed through the KV cache one position at a time, then new
// tokens up to max_len = the longest prompt + M (the prompts of tiny_data/rl_train.txt all have the
// same length: exactly M new tokens per row). Returns the seconds; *new_tokens counts them.
static double rollout_once(Model *m, const Data *d, int P, int G, int M, Rng *rng, long *new_tokens) {
    int n = P * G, max_len = 0;
    int *plen = mallocCheck(n * sizeof(int)), *slen = mallocCheck(n * sizeof(int));
    for (int i = 0; i < n; i++) { plen[i] = d->len[(i / G) % d->n]; max_len = imax(max_len, plen[i] + M); }
    if (max_len > m->cfg.context) die("bench: prompts + %d new tokens exceed the context %d", M, m->cfg.context);
    int *seqs = mallocCheck((size_t)n * max_len * sizeof(int));
    for (int i = 0; i < n; i++) memcpy(seqs + (size_t)i * max_len, d->ids[(i / G) % d->n], plen[i] * sizeof(int));
    double t0 = now_seconds();
    generate_threads(m, seqs, plen, slen, n, max_len, 1.0f, 0, CHECK_FREE, rng);
    double dt = now_seconds() - t0;
    *new_tokens = 0;
    for (int i = 0; i < n; i++) *new_tokens += slen[i] - plen[i];
    free(plen); free(slen); free(seqs);
    return dt;
}

// median new tokens per second over repeats rollouts
static double bench_rollout(Model *m, const Data *d, int P, int G, int M, int repeats) {
    Rng rng = rng_seed(11);
    double *rate = mallocCheck((size_t)repeats * sizeof(double));
    long n_new;
    rollout_once(m, d, P, G, M, &rng, &n_new);  // warm-up
    for (int r = 0; r < repeats; r++) {
        double dt = rollout_once(m, d, P, G, M, &rng, &n_new);
        rate[r] = n_new / dt;
    }
    double med = median(rate, repeats);
    free(rate);
    return med;
}

// the machine's sgemm rate on nt threads: the median of 5 products of 2048 x 2048 matrices
static double sgemm_peak(int nt) {
    int n = 2048;
    float *a = mallocCheck((size_t)n * n * sizeof(float)), *b = mallocCheck((size_t)n * n * sizeof(float));
    float *out = mallocCheck((size_t)n * n * sizeof(float));
    Rng rng = rng_seed(3);
    for (size_t i = 0; i < (size_t)n * n; i++) { a[i] = rng_normal(&rng); b[i] = rng_normal(&rng); }
    double dt[5];
#ifdef USE_BLAS
    openblas_set_num_threads(nt);  // one OpenBLAS call on all threads
#else
    (void)nt;                      // r1's own matmul, with its OpenMP threads
#endif
    for (int r = -1; r < 5; r++) {
        double t0 = now_seconds();
#ifdef USE_BLAS
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, out, n);
#else
        matmul_forward(out, a, b, n, n, n);
#endif
        if (r >= 0) dt[r] = now_seconds() - t0;
    }
#ifdef USE_BLAS
    openblas_set_num_threads(1);   // back to r1's setting (threads_init)
#endif
    free(a); free(b); free(out);
    return 2.0 * n * n * n / median(dt, 5) / 1e9;
}

// runs ref/bench_ref.py; fills the two rates or returns 0 with the reason
static int run_reference(const BenchOptions *o, const char *preset, double *train, double *rollout, char *why, size_t nwhy) {
    if (access("ref/bench_ref.py", R_OK) != 0) { snprintf(why, nwhy, "ref/bench_ref.py not found"); return 0; }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' 2>/dev/null", o->python);
    if (system(cmd) != 0) { snprintf(why, nwhy, "%s cannot import torch", o->python); return 0; }
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s ref/bench_ref.py --preset %s --threads %d --batch %d --seq %d "
             "--prompts %d --generations %d --new-tokens %d --steps %d", o->threads, o->python, preset, o->threads,
             o->batch, o->seq, o->prompts, o->generations, o->new_tokens, o->steps);
    printf("  %s\n", cmd);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p) { snprintf(why, nwhy, "cannot run %s", o->python); return 0; }
    char line[512];
    *train = *rollout = -1.0;
    while (fgets(line, sizeof line, p)) {
        double x;
        if (sscanf(line, "train_tokens_per_s %lf", &x) == 1) *train = x;
        if (sscanf(line, "rollout_tokens_per_s %lf", &x) == 1) *rollout = x;
    }
    int status = pclose(p);
    if (status != 0 || *train <= 0 || *rollout <= 0) {
        snprintf(why, nwhy, "ref/bench_ref.py failed (exit status %d) or printed no rates", status);
        return 0;
    }
    return 1;
}

// the 1-minute load average: other processes on the machine slow every figure, OpenMP's barriers most
static void print_load(const char *when) {
    double load;
    if (getloadavg(&load, 1) == 1) printf("load average %s: %.2f on %ld CPUs\n", when, load, sysconf(_SC_NPROCESSORS_ONLN));
}

typedef struct { const char *preset; double train, rollout, gflops, ref_train, ref_rollout, ref_gflops; int ref_ok; char why[256]; } Row;

int main(int argc, char **argv) {
    BenchOptions o = { n_threads(), 64, 128, 8, 16, 64, 3, 3, 0, "teacher,student", "train,rollout", "/usr/bin/python3" };
    Option opts[] = {
        { "threads", 'i', &o.threads, 1, 256, "threads for r1 (OpenMP) and for the reference" },
        { "batch", 'i', &o.batch, 1, 4096, "training sequences per step" },
        { "seq", 'i', &o.seq, 2, 1024, "training tokens per sequence" },
        { "prompts", 'i', &o.prompts, 1, 1024, "rollout prompts" },
        { "generations", 'i', &o.generations, 1, 1024, "responses per prompt" },
        { "new-tokens", 'i', &o.new_tokens, 1, 1024, "tokens generated per response" },
        { "steps", 'i', &o.steps, 1, 1000, "timed training steps (r1 and the reference)" },
        { "repeats", 'i', &o.repeats, 1, 100, "timed rollouts of r1 (the reference times 3)" },
        { "presets", 's', &o.presets, 0, 0, "comma-separated presets" },
        { "parts", 's', &o.parts, 0, 0, "what r1 measures: train, rollout or both (for profiling)" },
        { "python", 's', &o.python, 0, 0, "the python that has torch" },
        { "no-ref", 'b', &o.no_ref, 0, 0, "skip the PyTorch reference" },
    };
    options_parse("bench", "Training and rollout throughput of r1 and of the PyTorch reference.", opts,
                  (int)(sizeof opts / sizeof opts[0]), argc - 1, argv + 1);
#ifdef _OPENMP
    omp_set_num_threads(o.threads);
#endif
    threads_init();
    printf("r1 bench: %d threads; training %d x %d tokens, median of %d steps; rollout %d prompts x %d responses x %d new tokens, median of %d\n",
           o.threads, o.batch, o.seq, o.steps, o.prompts, o.generations, o.new_tokens, o.repeats);
#ifdef USE_BLAS
    printf("OpenBLAS core %s | %s\n", openblas_get_corename(), openblas_get_config());
#else
    printf("no BLAS: r1's own matmul loop\n");
#endif
    print_load("at the start");
    double peak = sgemm_peak(o.threads);
#ifdef USE_BLAS
    const char *peak_what = "sgemm peak";
#else
    const char *peak_what = "matmul peak (r1's own loop, no BLAS)";
#endif
    printf("%s, 2048^3 on %d threads: %.1f GFLOP/s\n", peak_what, o.threads, peak);
    fflush(stdout);

    Data prompts = load_prompts("tiny_data/rl_train.txt", 1024);
    Row rows[8];
    int n_rows = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", o.presets);
    for (char *name = strtok(list, ","); name && n_rows < 8; name = strtok(NULL, ",")) {
        const Preset *p = find_preset(name);
        Row *r = &rows[n_rows++];
        memset(r, 0, sizeof *r);
        r->preset = p->name;
        if (o.seq > p->cfg.context) die("bench: --seq %d exceeds the %s context %d", o.seq, p->name, p->cfg.context);
        double fpt = train_flops_per_token(&p->cfg, o.seq);
        if (strstr(o.parts, "train")) {
            Model *m = model_create(&p->cfg, p->name, 1);
            double st = bench_train(m, o.batch, o.seq, o.steps);
            r->train = o.batch * o.seq / st;
            r->gflops = fpt * r->train / 1e9;
            printf("%s: %zu parameters, %.2f MFLOP per training token; r1 training step %.1f ms (%.0f tok/s, %.1f GFLOP/s)\n",
                   p->name, m->num_params, fpt / 1e6, st * 1e3, r->train, r->gflops);
            fflush(stdout);
            model_free(m);
        }
        if (strstr(o.parts, "rollout")) {
            Model *m = model_create(&p->cfg, p->name, 1);
            r->rollout = bench_rollout(m, &prompts, o.prompts, o.generations, o.new_tokens, o.repeats);
            printf("%s: r1 rollout %.1f ms (%.0f new tok/s)\n", p->name,
                   1e3 * o.prompts * o.generations * o.new_tokens / r->rollout, r->rollout);
            fflush(stdout);
            model_free(m);
        }
        if (o.no_ref) { snprintf(r->why, sizeof r->why, "--no-ref"); continue; }
        r->ref_ok = run_reference(&o, p->name, &r->ref_train, &r->ref_rollout, r->why, sizeof r->why);
        r->ref_gflops = fpt * r->ref_train / 1e9;
        if (!r->ref_ok) printf("PyTorch reference: skipped (%s)\n", r->why);
    }

    printf("\n| preset | | train tok/s | rollout tok/s | train GFLOP/s |\n|---|---|---:|---:|---:|\n");
    for (int i = 0; i < n_rows; i++) {
        Row *r = &rows[i];
        printf("| %s | r1 | %.0f | %.0f | %.2f |\n", r->preset, r->train, r->rollout, r->gflops);
        if (r->ref_ok) {
            printf("| %s | PyTorch | %.0f | %.0f | %.2f |\n", r->preset, r->ref_train, r->ref_rollout, r->ref_gflops);
            printf("| %s | r1/PyTorch | %.2fx | %.2fx | %.2fx |\n", r->preset, r->train / r->ref_train,
                   r->rollout / r->ref_rollout, r->gflops / r->ref_gflops);
        } else {
            printf("| %s | PyTorch | skipped (%s) | | |\n", r->preset, r->why);
        }
    }
    printf("\n%s %.1f GFLOP/s on %d threads; r1 training reaches", peak_what, peak, o.threads);
    for (int i = 0; i < n_rows; i++) printf(" %.1f%% (%s)", 100.0 * rows[i].gflops / peak, rows[i].preset);
    printf(" of it\n");
    print_load("at the end");
    data_free(&prompts);
    return 0;
}
