/*
ref/test_ref.c: r1.c checked against the PyTorch reference ref/r1_ref.py (make test runs it), the
way llm.c's test_gpt2.c checks train_gpt2.c against train_gpt2.py.

It builds a small model with random weights (3 layers: one dense, two DeepSeekMoE layers of 6
experts, top-2, nonzero router biases, the sequence-wise balance loss on), saves it as an r1
checkpoint together with a fixed batch, and runs ref/r1_ref.py on them. The reference computes in
float64 with autograd and writes a debug state: the logits, the loss, every parameter gradient and
the top-k choice of one forward and backward pass, then the losses and gradient norms of ten
training steps (clipping, AdamW, warmup + cosine, the router-bias update, as r1.c's train_lm).
This program does the same with r1.c (float32) and compares.

Per tensor it prints the max absolute difference and the relative difference, max |r1 - ref| /
max |ref| over the tensor, and fails beyond the tolerances REF_TOL_* below (float32 against
float64). Before comparing it checks that the case can catch what it is meant to: every expert
receives tokens, the router bias changes the choice of some token, no top-k choice is a near tie
(so float32 and float64 choose alike), every gradient tensor is nonzero, clipping is active.

When no python3 on the machine imports torch and numpy (Debian: python3-torch python3-numpy) it says
it SKIPPED the check and exits 0, unless R1_REQUIRE_REF=1 is set (CI sets it): then that is a failure.
It tries $R1_PYTHON, /usr/bin/python3, then each python3 on PATH.
The last line is "N passed, N failed"; the exit status is non-zero if anything failed.
*/
#define TESTING
// r1.c's command functions and helpers are unused here: not a problem of this file
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../r1.c"
#pragma GCC diagnostic pop
#include <sys/wait.h>

// the tolerances, relative to the largest magnitude of the reference tensor (float32 vs float64)
#define REF_TOL_LOGITS 1e-5
#define REF_TOL_LOSS 1e-6
#define REF_TOL_GRAD 1e-4
#define REF_TOL_STEPS 1e-4  // the ten losses and gradient norms (Adam amplifies float32 rounding)
#define REF_MIN_MARGIN 1e-5 // the smallest allowed gap between the k-th and (k+1)-th routing score

// the case: config, batch and training hyperparameters (passed to the reference on its command line)
static const Config REF_CFG = { VOCAB_SIZE, 24, 32, 3, 2, 8, 8, 8, 16, 1, 48, 6, 2, 16 };
#define REF_B 4
#define REF_T 16
#define REF_STEPS 10
static const float REF_LR = 1e-2f, REF_LR_MIN = 1e-3f, REF_WD = 0.1f, REF_CLIP = 1.0f, REF_ALPHA = 0.1f,
                   REF_GAMMA = 1e-2f;
static const int REF_WARMUP = 3;

#include "../tools/check.h"

// max |a - ref| and that over max |ref|; prints one line and counts it
static void compare(const char *what, const float *a, const double *ref, size_t n, double tol) {
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - ref[i]);
        if (!(d <= max_diff)) max_diff = d; // NaN counts as the worst
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    double rel = max_ref > 0.0 ? max_diff / max_ref : max_diff;
    check(rel <= tol, "ref %-12s max abs diff %.2e  rel %.2e  (max |ref| %.2e, tol %.0e)", what, max_diff, rel,
          max_ref, tol);
}

// ---- running the reference

static char tmp_dir[64];
static const char *tmp_file(const char *name) {
    static char buf[4][300];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

// runs python on the reference; returns its exit status (77: it cannot import torch or numpy; 126, 127:
// the shell could not start it)
static int run_python(const char *python, const char *script, const char *args) {
    char cmd[4096];
    if (snprintf(cmd, sizeof cmd, "'%s' '%s' %s", python, script, args) >= (int)sizeof cmd) return -1;
    int status = system(cmd);
    return status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status);
}

// tries $R1_PYTHON, /usr/bin/python3, then every python3 on PATH; returns the exit status of the
// first that could import torch (*used: which python3), or 77 if none could
static int run_reference(const char *script, const char *args, const char **used) {
    static char cand[32][512], path[4096];
    int n = 0;
    const char *env = getenv("R1_PYTHON"), *p = getenv("PATH");
    if (env) snprintf(cand[n++], sizeof cand[0], "%s", env);
    snprintf(cand[n++], sizeof cand[0], "/usr/bin/python3");
    snprintf(path, sizeof path, "%s", p ? p : "");
    char *save = NULL;
    for (char *dir = strtok_r(path, ":", &save); dir && n < 32; dir = strtok_r(NULL, ":", &save))
        snprintf(cand[n++], sizeof cand[0], "%s/python3", dir);
    for (int i = 0; i < n; i++) {
        if (access(cand[i], X_OK) != 0) continue;
        int rc = run_python(cand[i], script, args);
        if (rc == 77 || rc == 126 || rc == 127) continue; // no torch, or this python3 cannot start
        *used = cand[i];
        return rc;
    }
    return 77;
}

// ---- the debug state (see r1_ref.py)

typedef struct {
    int n_logits, n_params, n_steps, n_topk, n_presets;
    double *logits, ce, aux, margin, *grads, *losses, *norms;
    int *topk;
    char preset_name[8][16];
    int preset_cfg[8][14];
} RefState;

static void read_exact(FILE *f, void *dst, size_t n, const char *path) {
    if (fread(dst, 1, n, f) != n) die("%s: the reference's debug state is truncated", path);
}

static RefState read_state(const char *path) {
    RefState s;
    FILE *f = fopenCheck(path, "rb");
    int32_t head[5];
    read_exact(f, head, sizeof head, path);
    if (head[0] != 0x53523152) die("%s: not a debug state of r1_ref.py", path);
    s.n_logits = head[1]; s.n_params = head[2]; s.n_steps = head[3]; s.n_topk = head[4];
    if (s.n_logits < 0 || s.n_logits > 1 << 24 || s.n_params < 0 || s.n_params > 1 << 24 || s.n_steps < 0 ||
        s.n_steps > 1000 || s.n_topk < 0 || s.n_topk > 1 << 20)
        die("%s: implausible sizes in the debug state", path);
    s.logits = mallocCheck((size_t)s.n_logits * sizeof(double));
    s.grads = mallocCheck((size_t)s.n_params * sizeof(double));
    s.losses = mallocCheck((size_t)s.n_steps * sizeof(double) + 1);
    s.norms = mallocCheck((size_t)s.n_steps * sizeof(double) + 1);
    s.topk = mallocCheck((size_t)s.n_topk * sizeof(int) + 1);
    double three[3];
    read_exact(f, s.logits, (size_t)s.n_logits * sizeof(double), path);
    read_exact(f, three, sizeof three, path);
    s.ce = three[0]; s.aux = three[1]; s.margin = three[2];
    read_exact(f, s.grads, (size_t)s.n_params * sizeof(double), path);
    read_exact(f, s.losses, (size_t)s.n_steps * sizeof(double), path);
    read_exact(f, s.norms, (size_t)s.n_steps * sizeof(double), path);
    read_exact(f, s.topk, (size_t)s.n_topk * sizeof(int), path);
    read_exact(f, &s.n_presets, sizeof(int), path);
    if (s.n_presets < 0 || s.n_presets > 8) die("%s: implausible preset count", path);
    for (int i = 0; i < s.n_presets; i++) {
        read_exact(f, s.preset_name[i], 16, path);
        s.preset_name[i][15] = 0;
        read_exact(f, s.preset_cfg[i], sizeof s.preset_cfg[i], path);
    }
    fclose(f);
    return s;
}

static void state_free(RefState *s) { free(s->logits); free(s->grads); free(s->losses); free(s->norms); free(s->topk); }

// ---- the case

// random weights scaled so that every path carries signal: matrices normal(0, 0.15), norm weights
// 1 + normal(0, 0.1) (not all 1, so a missing norm weight shows), router biases normal(0, 0.1)
static Model *ref_model(void) {
    Model *m = model_create(&REF_CFG, "ref", 1);
    Rng r = rng_seed(1);
    for (size_t i = 0; i < m->num_params; i++)
        m->params_mem[i] = m->decay_mask[i] ? 0.15f * rng_normal(&r) : 1.0f + 0.1f * rng_normal(&r);
    for (int l = 0; l < REF_CFG.n_layer; l++)
        for (int e = 0; e < REF_CFG.n_experts; e++)
            if (is_moe_layer(&REF_CFG, l)) m->router_bias[l][e] = 0.1f * rng_normal(&r);
    return m;
}

// random tokens and targets; the first 3 positions of each row carry no loss (as a prompt), the
// others weight 1/(B*T), as train_lm's batches
static void ref_batch(int *inputs, int *targets, float *w) {
    Rng r = rng_seed(7);
    for (int i = 0; i < REF_B * REF_T; i++) {
        inputs[i] = rng_int(&r, VOCAB_SIZE);
        targets[i] = rng_int(&r, VOCAB_SIZE);
        w[i] = i % REF_T < 3 ? 0.0f : 1.0f / (REF_B * REF_T);
    }
}

static void write_batch(const char *path, const int *inputs, const int *targets, const float *w) {
    FILE *f = fopenCheck(path, "wb");
    int32_t bt[2] = { REF_B, REF_T };
    size_t n = REF_B * REF_T;
    if (fwrite(bt, sizeof bt, 1, f) != 1 || fwrite(inputs, sizeof(int), n, f) != n ||
        fwrite(targets, sizeof(int), n, f) != n || fwrite(w, sizeof(float), n, f) != n || fclose(f) != 0)
        die("cannot write %s", path);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

// the routing of the last forward: every expert used, the bias changing some choice, the same
// chosen sets as the reference's (compared as sets: the order within a set does not matter)
static void check_routing(const Model *m, const RefState *s) {
    const Config *c = &m->cfg;
    int N = REF_B * REF_T, K = c->top_k, E = c->n_experts, at = 0, same = 1, unused = 0, by_bias = 0;
    for (int l = 0; l < c->n_layer; l++) {
        if (!is_moe_layer(c, l)) continue;
        const LayerActs *A = &m->acts[l];
        for (int e = 0; e < E; e++) unused += A->expert_off[e + 1] == A->expert_off[e];
        for (int n = 0; n < N; n++) {
            int mine[MAX_EXPERTS], theirs[MAX_EXPERTS];
            for (int k = 0; k < K; k++) { mine[k] = A->topk[n * K + k]; theirs[k] = s->topk[at + n * K + k]; }
            qsort(mine, K, sizeof(int), cmp_int);
            qsort(theirs, K, sizeof(int), cmp_int);
            for (int k = 0; k < K; k++) same &= mine[k] == theirs[k];
            // would the unbiased affinities alone have chosen the same set?
            const float *sn = A->s + (size_t)n * E;
            for (int k = 0; k < K; k++) {
                int rank = 0;
                for (int e = 0; e < E; e++) rank += sn[e] > sn[mine[k]] || (sn[e] == sn[mine[k]] && e < mine[k]);
                if (rank >= K) { by_bias++; break; }
            }
        }
        at += N * K;
    }
    check(at == s->n_topk && same, "ref top-k choice of every token equals the reference's");
    check(unused == 0, "ref case: every expert of every MoE layer receives tokens (%d unused)", unused);
    check(by_bias > 0, "ref case: the router bias changes the choice of %d tokens", by_bias);
    check(s->margin > REF_MIN_MARGIN, "ref case: smallest gap between the k-th and (k+1)-th routing score in 10 steps "
          "%.2e > %.0e (no near tie)", s->margin, REF_MIN_MARGIN);
}

static void check_presets(const RefState *s) {
    int bad = 0;
    for (int p = 0; p < N_PRESETS; p++) {
        int found = 0;
        for (int i = 0; i < s->n_presets; i++) {
            if (strcmp(s->preset_name[i], PRESETS[p].name) != 0) continue;
            found = 1;
            bad += memcmp(s->preset_cfg[i], &PRESETS[p].cfg, sizeof(Config)) != 0;
        }
        bad += !found;
    }
    check(bad == 0 && s->n_presets == N_PRESETS, "ref presets of r1_ref.py equal r1.c's (%d differ)", bad);
}

int main(int argc, char **argv) {
    (void)argc;
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    threads_init();
    double t0 = now_seconds();
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test_ref.XXXXXX");
    if (!mkdtemp(tmp_dir)) die("cannot create a temporary folder");
    // the case, written for the reference
    Model *m = ref_model();
    m->balance_alpha = REF_ALPHA;
    int inputs[REF_B * REF_T], targets[REF_B * REF_T];
    float w[REF_B * REF_T];
    ref_batch(inputs, targets, w);
    checkpoint_save(tmp_file("model.bin"), m, 0, 0, 0);
    write_batch(tmp_file("batch.bin"), inputs, targets, w);
    // the reference: ref/r1_ref.py next to this program
    char script[1024], args[2048];
    const char *python = "";
    snprintf(script, sizeof script, "%s", argv[0]);
    char *slash = strrchr(script, '/');
    snprintf(slash ? slash + 1 : script, sizeof script - (slash ? (size_t)(slash + 1 - script) : 0), "r1_ref.py");
    snprintf(args, sizeof args, "'%s' '%s' '%s' --steps %d --lr %.9g --lr-min %.9g --warmup %d --weight-decay %.9g "
             "--clip %.9g --alpha %.9g --gamma %.9g", tmp_file("model.bin"), tmp_file("batch.bin"), tmp_file("state.bin"),
             REF_STEPS, REF_LR, REF_LR_MIN, REF_WARMUP, REF_WD, REF_CLIP, REF_ALPHA, REF_GAMMA);
    double t_ref = now_seconds();
    int rc = run_reference(script, args, &python);
    t_ref = now_seconds() - t_ref;
    const char *required = getenv("R1_REQUIRE_REF");
    if (rc == 77 && required && required[0] == '1') {
        check(0, "ref: no python3 here imports torch and numpy, and R1_REQUIRE_REF=1 requires the check "
              "(Debian: apt-get install python3-torch python3-numpy; or set R1_PYTHON)");
    } else if (rc == 77) {
        printf("SKIPPED the PyTorch reference check: no python3 here imports torch and numpy "
               "(Debian: apt-get install python3-torch python3-numpy; or set R1_PYTHON)\n");
    } else if (rc != 0) {
        check(0, "ref %s %s ran (exit status %d)", python, script, rc);
    } else {
        printf("reference: %s %s (%.1f s)\n", python, script, t_ref);
        RefState s = read_state(tmp_file("state.bin"));
        check_presets(&s);
        const Config *c = &m->cfg;
        int N = REF_B * REF_T, V = c->vocab;
        check(s.n_logits == N * V && s.n_params == (int)m->num_params && s.n_steps == REF_STEPS,
              "ref debug state has the sizes of this case");
        if (s.n_logits == N * V && s.n_params == (int)m->num_params && s.n_steps == REF_STEPS) {
            // one forward and backward pass, as a training step does it
            float losses[REF_STEPS], norms[REF_STEPS];
            model_zero_grad(m);
            model_forward(m, inputs, REF_B, REF_T, NULL, 0);
            float ce = crossentropy_forward_backward(m->dlogits, m->logits, targets, w, N, V);
            model_backward(m);
            check_routing(m, &s);
            compare("logits", m->logits, s.logits, (size_t)N * V, REF_TOL_LOGITS);
            compare("loss", &ce, &s.ce, 1, REF_TOL_LOSS);
            compare("balance loss", &m->aux_loss, &s.aux, 1, REF_TOL_LOSS);
            check(s.aux > 0.0, "ref case: the balance loss is on (%.4f)", s.aux);
            int zero = 0;
            for (int t = 0; t < m->params.n_tensors; t++) {
                const double *g = s.grads + m->params.offset[t];
                double mx = 0.0;
                for (size_t i = 0; i < m->params.size[t]; i++) mx = fmax(mx, fabs(g[i]));
                zero += mx < 1e-6;
                compare(m->params.name[t], m->grads_mem + m->params.offset[t], g, m->params.size[t], REF_TOL_GRAD);
            }
            check(zero == 0, "ref case: every gradient tensor of the reference is nonzero (%d are not)", zero);
            // ten training steps on the same batch, in train_lm's order
            for (int step = 0; step < REF_STEPS; step++) {
                if (step > 0) {
                    model_zero_grad(m);
                    model_forward(m, inputs, REF_B, REF_T, NULL, 0);
                    ce = crossentropy_forward_backward(m->dlogits, m->logits, targets, w, N, V);
                    model_backward(m);
                }
                losses[step] = ce + m->aux_loss;
                norms[step] = grad_clip(m, REF_CLIP);
                float lr = lr_schedule(step, REF_STEPS, REF_WARMUP, REF_LR, REF_LR_MIN);
                adamw_update(m, lr, 0.9f, 0.95f, 1e-8f, REF_WD, step + 1);
                m->step++;
                router_bias_update(m, REF_GAMMA);
            }
            int clipped = 0;
            for (int i = 0; i < REF_STEPS; i++) {
                printf("      step %2d  loss r1 %.7f ref %.7f  grad norm r1 %.6f ref %.6f\n", i, losses[i], s.losses[i],
                       norms[i], s.norms[i]);
                clipped += s.norms[i] > REF_CLIP;
            }
            compare("10 losses", losses, s.losses, REF_STEPS, REF_TOL_STEPS);
            compare("10 norms", norms, s.norms, REF_STEPS, REF_TOL_STEPS);
            check(clipped > 0, "ref case: gradient clipping is active in %d of the %d steps", clipped, REF_STEPS);
            check(s.losses[REF_STEPS - 1] < s.losses[0] - 0.1, "ref case: the ten steps lower the loss (%.4f -> %.4f)",
                  s.losses[0], s.losses[REF_STEPS - 1]);
        }
        state_free(&s);
    }
    remove(tmp_file("model.bin")); remove(tmp_file("batch.bin")); remove(tmp_file("state.bin"));
    rmdir(tmp_dir);
    model_free(m);
    printf("(%.1f s)\n", now_seconds() - t0);
    return check_summary();
}
