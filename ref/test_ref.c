/*
ref/test_ref.c: r1.c checked against the PyTorch reference ref/r1_ref.py (make test runs it), the
way llm.c's test_gpt2.c checks train_gpt2.c against train_gpt2.py.

It builds a small model with random weights (3 layers: one dense, two DeepSeekMoE layers of 6
experts, top-2, nonzero router biases, the sequence-wise balance loss on), saves it as an r1
checkpoint together with a fixed batch (rows of 16, 11, 16 and 7 tokens, padded: padding counts in
no expert load and no balance loss), and runs ref/r1_ref.py on them. The reference computes in
float64 with autograd and writes a debug state: the logits, the loss, every parameter gradient and
the top-k choice of one forward and backward pass, then the losses and gradient norms of ten
training steps (clipping, AdamW, warmup + cosine, the router-bias update, as r1.c's train_lm).
This program does the same with r1.c (float32) and compares. Three more cases, each on a fresh copy
of the model (no balance loss):
- the GRPO loss (grpo_loss) on a batch of four responses of unequal lengths (weights of the grpo loss
  type), advantages of both signs, ratios to pi_old on both sides of 1 - eps_low, 1 + eps_high
  and of the symmetric 1 + eps_low (asymmetric clip: eps_low 0.2, eps_high 0.28), beta 0.1,
  temperature 0.7: the loss, its gradient with respect to the logits and to every parameter;
- the distillation loss (distill_loss, T 2, alpha 0.6, teacher logits random): the same;
- decoding with the KV cache, one token at a time over the whole context, rows mapped to other cache
  rows and one dropping out halfway: its logits against the reference's full forward.

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
#define REF_TOL_CASE 1e-5   // the GRPO and distillation cases: loss, dlogits, every parameter gradient
#define REF_TOL_STEPS 1e-4  // the ten losses and gradient norms (Adam amplifies float32 rounding)
#define REF_MIN_MARGIN 1e-5 // the smallest allowed gap between the k-th and (k+1)-th routing score

// the case: config, batch and training hyperparameters (passed to the reference on its command line)
static const Config REF_CFG = { VOCAB_SIZE, 24, 32, 3, 2, 8, 8, 8, 16, 24, 1, 48, 6, 2, 16 };
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
static const char *tmp_file(const char *name) { // (16 buffers: the reference's command line uses 9 at once)
    static char buf[16][300];
    static int k = 0;
    k = (k + 1) % 16;
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
    int preset_cfg[8][sizeof(Config) / sizeof(int)];
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

// rows of REF_LEN tokens, padded with <eos> to REF_T (padding counts in no expert load and no balance
// loss); random tokens and targets; the first 3 positions of each row carry no loss (as a prompt), the
// other tokens weight 1/(B*T), as train_lm's batches, and the padding none
static const int REF_LEN[REF_B] = { 16, 11, 16, 7 };
static void ref_batch(int *inputs, int *targets, float *w) {
    Rng r = rng_seed(7);
    for (int i = 0; i < REF_B * REF_T; i++) {
        int t = i % REF_T, pad = t >= REF_LEN[i / REF_T];
        int in = rng_int(&r, VOCAB_SIZE), tg = rng_int(&r, VOCAB_SIZE);
        inputs[i] = pad ? TOK_EOS : in;
        targets[i] = pad ? TOK_EOS : tg;
        w[i] = t < 3 || pad ? 0.0f : 1.0f / (REF_B * REF_T);
    }
}

static void write_batch(const char *path, const int *inputs, const int *targets, const float *w) {
    FILE *f = fopenCheck(path, "wb");
    int32_t bt[2] = { REF_B, REF_T };
    size_t n = REF_B * REF_T;
    if (fwrite(bt, sizeof bt, 1, f) != 1 || fwrite(inputs, sizeof(int), n, f) != n ||
        fwrite(targets, sizeof(int), n, f) != n || fwrite(w, sizeof(float), n, f) != n ||
        fwrite(REF_LEN, sizeof(int), REF_B, f) != REF_B || fclose(f) != 0)
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

// ---- the GRPO and distillation cases, and the decoding case

#define LC_B 4
#define LC_T 16
typedef struct {
    int inputs[LC_B * LC_T], targets[LC_B * LC_T], len[LC_B];  // len: the rows' tokens (then padding)
    float w[LC_B * LC_T];
    float adv[LC_B], old_logp[LC_B * LC_T], ref_logp[LC_B * LC_T]; // GRPO
    float *teacher;                                                 // distillation: [B*T*V]
} LossCase;

static const GrpoConfig LC_GRPO = { .beta = 0.1f, .eps_low = 0.2f, .eps_high = 0.28f, .temperature = 0.7f };
static const float LC_DISTILL_T = 2.0f, LC_DISTILL_ALPHA = 0.6f;
// each response's tokens take these ratios to pi_old in turn: below 1 - eps_low, inside, between the
// symmetric 1 + eps_low and 1 + eps_high (inside only because the clip is asymmetric), above
static const float LC_RATIOS[6] = { 0.6f, 0.75f, 0.9f, 1.05f, 1.25f, 1.5f };

static double logp_d(const float *z, int V, int target, float tau) { // log softmax(z / tau)[target] in double
    double mx = -1e300, s = 0.0;
    for (int i = 0; i < V; i++) mx = fmax(mx, z[i] / tau);
    for (int i = 0; i < V; i++) s += exp(z[i] / tau - mx);
    return z[target] / tau - mx - log(s);
}

// the GRPO case: four responses after prompts of 3, 5, 2, 4 tokens, sequences of 17, 12, 9, 15 tokens (so
// 14, 7, 7, 11 response tokens, T = 16), the grpo loss type's weights; old and reference log-probabilities
// set from this model's own log-probabilities so that the ratios are LC_RATIOS
static void grpo_case(LossCase *lc, Model *m) {
    int V = m->cfg.vocab, seqs[LC_B * (LC_T + 1)], pl[LC_B] = { 3, 5, 2, 4 }, sl[LC_B] = { 17, 12, 9, 15 };
    int prompt[LC_B] = { 0, 1, 2, 3 };
    float mask[LC_B * LC_T];
    const float adv[LC_B] = { 1.3f, -0.7f, 0.4f, -1.1f };
    Rng r = rng_seed(8);
    for (int i = 0; i < LC_B * (LC_T + 1); i++) seqs[i] = rng_int(&r, V);
    Rollouts ro = { .n = LC_B, .max_len = LC_T + 1, .seqs = seqs, .prompt_len = pl, .seq_len = sl, .prompt = prompt };
    rollout_batch(&ro, LC_T, lc->inputs, lc->targets, mask, lc->len);
    grpo_loss_weights(lc->w, mask, LC_B, LC_T, LC_T + 1 - 2, LOSS_GRPO);
    memcpy(lc->adv, adv, sizeof adv);
    model_forward(m, lc->inputs, lc->len, LC_B, LC_T, NULL, 0);
    int k = 0;
    for (int n = 0; n < LC_B * LC_T; n++) {
        lc->old_logp[n] = lc->ref_logp[n] = 0.0f;
        if (mask[n] == 0.0f) continue;
        double lp = logp_d(m->logits + (size_t)n * V, V, lc->targets[n], LC_GRPO.temperature);
        lc->old_logp[n] = (float)(lp - log(LC_RATIOS[k++ % 6]));
        lc->ref_logp[n] = (float)(lp + 0.3 * rng_normal(&r));
    }
}

// the distillation case: random tokens and targets, the first 3 positions of each row weight 0, the
// others 1/(B*T); teacher logits normal(0, 2)
static void distill_case(LossCase *lc, int V) {
    Rng r = rng_seed(9);
    for (int b = 0; b < LC_B; b++) lc->len[b] = LC_T;
    for (int i = 0; i < LC_B * LC_T; i++) {
        lc->inputs[i] = rng_int(&r, V);
        lc->targets[i] = rng_int(&r, V);
        lc->w[i] = i % LC_T < 3 ? 0.0f : 1.0f / (LC_B * LC_T);
    }
    lc->teacher = mallocCheck((size_t)LC_B * LC_T * V * sizeof(float));
    for (int i = 0; i < LC_B * LC_T * V; i++) lc->teacher[i] = 2.0f * rng_normal(&r);
}

static void write_loss_case(const char *path, const LossCase *lc, int V, int grpo) {
    FILE *f = fopenCheck(path, "wb");
    int32_t head[3] = { LC_B, LC_T, V };
    size_t n = LC_B * LC_T;
    int ok = fwrite(head, sizeof head, 1, f) == 1 && fwrite(lc->inputs, sizeof(int), n, f) == n &&
             fwrite(lc->targets, sizeof(int), n, f) == n && fwrite(lc->w, sizeof(float), n, f) == n;
    if (grpo) {
        float cfg[4] = { LC_GRPO.beta, LC_GRPO.eps_low, LC_GRPO.eps_high, LC_GRPO.temperature };
        ok = ok && fwrite(lc->adv, sizeof(float), LC_B, f) == LC_B && fwrite(lc->old_logp, sizeof(float), n, f) == n &&
             fwrite(lc->ref_logp, sizeof(float), n, f) == n && fwrite(cfg, sizeof cfg, 1, f) == 1;
    } else {
        float cfg[2] = { LC_DISTILL_T, LC_DISTILL_ALPHA };
        ok = ok && fwrite(lc->teacher, sizeof(float), n * V, f) == n * V && fwrite(cfg, sizeof cfg, 1, f) == 1;
    }
    if (!ok || fclose(f) != 0) die("cannot write %s", path);
}

// reads n doubles from the reference's output
static double *read_doubles(FILE *f, size_t n, const char *path) {
    double *x = mallocCheck(n * sizeof(double));
    read_exact(f, x, n * sizeof(double), path);
    return x;
}

// compares a loss case: the loss, d loss / d logits, every parameter gradient; for GRPO also the
// log-probabilities and that the case holds a ratio in every clip region of both signs of A
static void compare_loss_case(const char *name, const char *out_path, const LossCase *lc, Model *m, int grpo) {
    int V = m->cfg.vocab, N = LC_B * LC_T;
    FILE *f = fopenCheck(out_path, "rb");
    double ref_loss, margin;
    read_exact(f, &ref_loss, sizeof ref_loss, out_path);
    double *dlogits = read_doubles(f, (size_t)N * V, out_path), *grads = read_doubles(f, m->num_params, out_path);
    double *logp = read_doubles(f, N, out_path), *ratio = read_doubles(f, N, out_path);
    read_exact(f, &margin, sizeof margin, out_path);
    fclose(f);
    // r1.c on the same case
    float lp[LC_B * LC_T], loss;
    GrpoStats st = {0};
    model_zero_grad(m);
    model_forward(m, lc->inputs, lc->len, LC_B, LC_T, NULL, 0);
    if (grpo) loss = grpo_loss(m->dlogits, lp, m->logits, lc->targets, lc->w, lc->adv, lc->old_logp, lc->ref_logp,
                               LC_B, LC_T, V, &LC_GRPO, &st);
    else loss = distill_loss(m->dlogits, m->logits, lc->teacher, lc->targets, lc->w, N, V, LC_DISTILL_T,
                             LC_DISTILL_ALPHA);
    model_backward(m);
    char what[64];
    check(margin > REF_MIN_MARGIN, "ref %s case: smallest gap between the k-th and (k+1)-th routing score %.2e > %.0e",
          name, margin, REF_MIN_MARGIN);
    snprintf(what, sizeof what, "%s loss", name);
    compare(what, &loss, &ref_loss, 1, REF_TOL_CASE);  // (a sum of terms of both signs: larger relative rounding)
    snprintf(what, sizeof what, "%s dlogits", name);
    compare(what, m->dlogits, dlogits, (size_t)N * V, REF_TOL_CASE);
    double worst = 0.0;
    int worst_t = 0, zero = 0;
    for (int t = 0; t < m->params.n_tensors; t++) {
        const double *g = grads + m->params.offset[t];
        const float *a = m->grads_mem + m->params.offset[t];
        double max_diff = 0.0, max_ref = 0.0;
        for (size_t i = 0; i < m->params.size[t]; i++) {
            double d = fabs(a[i] - g[i]);
            if (!(d <= max_diff)) max_diff = d;
            max_ref = fmax(max_ref, fabs(g[i]));
        }
        double rel = max_ref > 0.0 ? max_diff / max_ref : max_diff;
        if (!(rel <= worst)) { worst = rel; worst_t = t; }
        zero += max_ref < 1e-9;
    }
    check(worst <= REF_TOL_CASE && zero == 0, "ref %-12s all %d parameter gradients: worst tensor %s rel %.2e "
          "(tol %.0e), %d tensors zero in the reference (want 0)", name, m->params.n_tensors, m->params.name[worst_t], worst,
          REF_TOL_CASE, zero);
    if (grpo) {
        // r1.c writes logp only where the weight is nonzero: the reference's elsewhere count as 0
        double lp_ref[LC_B * LC_T];
        int count[2][4] = {{0}}, n_resp = 0;
        double near = 1e30;
        for (int n = 0; n < N; n++) {
            lp_ref[n] = lc->w[n] > 0 ? logp[n] : 0.0;
            if (lc->w[n] == 0) continue;
            n_resp++;
            double rt = ratio[n];
            int bin = rt < 1 - LC_GRPO.eps_low ? 0 : rt <= 1 + LC_GRPO.eps_low ? 1 : rt <= 1 + LC_GRPO.eps_high ? 2 : 3;
            count[lc->adv[n / LC_T] > 0][bin]++;
            near = fmin(near, fmin(fabs(rt - (1 - LC_GRPO.eps_low)), fabs(rt - (1 + LC_GRPO.eps_high))));
            near = fmin(near, fabs(rt - (1 + LC_GRPO.eps_low)));
        }
        compare("grpo logp", lp, lp_ref, N, REF_TOL_LOGITS);
        int all = 1;
        for (int a = 0; a < 2; a++) for (int b = 0; b < 4; b++) all &= count[a][b] > 0;
        check(all && near > 1e-2, "ref grpo case: %d response tokens; ratios (A > 0 | A < 0) below 0.8: %d | %d, "
              "in [0.8, 1.2]: %d | %d, in (1.2, 1.28]: %d | %d, above 1.28: %d | %d (want all > 0), nearest to a clip "
              "boundary %.3f (want > 0.01); r1 clipped %g, KL sum %.4f", n_resp, count[1][0], count[0][0], count[1][1], count[0][1],
              count[1][2], count[0][2], count[1][3], count[0][3], near, st.clipped_low + st.clipped_high, st.kl);
    }
    free(dlogits); free(grads); free(logp); free(ratio);
}

// the decoding case: B rows of the whole context; row s lives in cache row map[s], and from position
// T/2 on row 1 has finished (the batch is rows 2, 0)
#define DC_B 3
static void decode_case_write(const char *path, int *tokens, int T, int V) {
    Rng r = rng_seed(11);
    for (int i = 0; i < DC_B * T; i++) tokens[i] = rng_int(&r, V);
    FILE *f = fopenCheck(path, "wb");
    int32_t head[2] = { DC_B, T };
    if (fwrite(head, sizeof head, 1, f) != 1 || fwrite(tokens, sizeof(int), (size_t)DC_B * T, f) != (size_t)DC_B * T ||
        fclose(f) != 0)
        die("cannot write %s", path);
}

static void compare_decode_case(const char *out_path, const int *tokens, Model *m) {
    int T = m->cfg.context, V = m->cfg.vocab;
    size_t n = (size_t)DC_B * T * V;
    FILE *f = fopenCheck(out_path, "rb");
    double *full = read_doubles(f, n, out_path), *steps = read_doubles(f, n, out_path), margin;
    read_exact(f, &margin, sizeof margin, out_path);
    fclose(f);
    check(margin > REF_MIN_MARGIN, "ref decode case: smallest gap between the k-th and (k+1)-th routing score %.2e "
          "> %.0e", margin, REF_MIN_MARGIN);
    // the reference's own decoding equals its full forward (float64)
    double self = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) { self = fmax(self, fabs(steps[i] - full[i])); scale = fmax(scale, fabs(full[i])); }
    check(self <= 1e-10 * scale, "ref decode case: the reference's KV-cache decoding equals its full forward: "
          "max diff %.2e", self);
    // r1.c, one token at a time through its KV cache, against the reference's full forward
    int map[DC_B] = { 2, 0, 1 };
    KVCache *kv = kvcache_create(&m->cfg, DC_B, T);
    float *got = mallocCheck(n * sizeof(float));
    double *want = mallocCheck(n * sizeof(double));
    size_t k = 0;
    for (int pos = 0; pos < T; pos++) {
        int rows[DC_B] = { 0, 1, 2 }, nb = DC_B, tok[DC_B];
        if (pos >= T / 2) { rows[0] = 2; rows[1] = 0; nb = 2; }
        for (int i = 0; i < nb; i++) { tok[i] = tokens[rows[i] * T + pos]; kv->row[i] = map[rows[i]]; }
        model_forward(m, tok, NULL, nb, 1, kv, pos);
        for (int i = 0; i < nb; i++, k++) {
            memcpy(got + k * V, m->logits + (size_t)i * V, V * sizeof(float));
            memcpy(want + k * V, full + ((size_t)rows[i] * T + pos) * V, V * sizeof(double));
        }
    }
    kvcache_free(kv);
    compare("decode logits", got, want, k * V, REF_TOL_LOGITS);
    free(full); free(steps); free(got); free(want);
}

static const char *CASE_FILES[] = { "model.bin", "batch.bin", "state.bin", "grpo.bin", "grpo_out.bin", "distill.bin",
                                    "distill_out.bin", "decode.bin", "decode_out.bin" };
static void remove_tmp_dir(void) { // at exit, also when R1_TEST_FAILFAST stops the program
    for (size_t i = 0; i < sizeof CASE_FILES / sizeof CASE_FILES[0]; i++) remove(tmp_file(CASE_FILES[i]));
    rmdir(tmp_dir);
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
    atexit(remove_tmp_dir);
    // the case, written for the reference
    Model *m = ref_model();
    m->balance_alpha = REF_ALPHA;
    int inputs[REF_B * REF_T], targets[REF_B * REF_T];
    float w[REF_B * REF_T];
    ref_batch(inputs, targets, w);
    checkpoint_save(tmp_file("model.bin"), m, 0, 0, 0);
    write_batch(tmp_file("batch.bin"), inputs, targets, w);
    // the loss cases and the decoding case, on fresh copies of the model
    Model *mg = checkpoint_load(tmp_file("model.bin"), NULL, NULL), *md = checkpoint_load(tmp_file("model.bin"), NULL, NULL),
          *mc = checkpoint_load(tmp_file("model.bin"), NULL, NULL);
    LossCase gcase, dcase;
    grpo_case(&gcase, mg);
    distill_case(&dcase, REF_CFG.vocab);
    write_loss_case(tmp_file("grpo.bin"), &gcase, REF_CFG.vocab, 1);
    write_loss_case(tmp_file("distill.bin"), &dcase, REF_CFG.vocab, 0);
    int dec_tokens[DC_B * 1024];
    decode_case_write(tmp_file("decode.bin"), dec_tokens, REF_CFG.context, REF_CFG.vocab);
    // the reference: ref/r1_ref.py next to this program
    char script[1024], args[2048];
    const char *python = "";
    snprintf(script, sizeof script, "%s", argv[0]);
    char *slash = strrchr(script, '/');
    snprintf(slash ? slash + 1 : script, sizeof script - (slash ? (size_t)(slash + 1 - script) : 0), "r1_ref.py");
    snprintf(args, sizeof args, "'%s' '%s' '%s' --steps %d --lr %.9g --lr-min %.9g --warmup %d --weight-decay %.9g "
             "--clip %.9g --alpha %.9g --gamma %.9g --grpo '%s' '%s' --distill '%s' '%s' --decode '%s' '%s'",
             tmp_file("model.bin"), tmp_file("batch.bin"), tmp_file("state.bin"), REF_STEPS, REF_LR, REF_LR_MIN,
             REF_WARMUP, REF_WD, REF_CLIP, REF_ALPHA, REF_GAMMA, tmp_file("grpo.bin"), tmp_file("grpo_out.bin"),
             tmp_file("distill.bin"), tmp_file("distill_out.bin"), tmp_file("decode.bin"), tmp_file("decode_out.bin"));
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
            model_forward(m, inputs, REF_LEN, REF_B, REF_T, NULL, 0);
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
                    model_forward(m, inputs, REF_LEN, REF_B, REF_T, NULL, 0);
                    ce = crossentropy_forward_backward(m->dlogits, m->logits, targets, w, N, V);
                    model_backward(m);
                }
                losses[step] = ce + m->aux_loss;
                norms[step] = grad_clip(m, REF_CLIP);
                float lr = lr_schedule(step, REF_STEPS, REF_WARMUP, REF_LR, REF_LR_MIN);
                adamw_update(m, lr, 0.9f, 0.95f, 1e-8f, REF_WD, step + 1);
                m->step++;
                router_bias_update(m, REF_GAMMA, REF_B);
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
        compare_loss_case("grpo", tmp_file("grpo_out.bin"), &gcase, mg, 1);
        compare_loss_case("distill", tmp_file("distill_out.bin"), &dcase, md, 0);
        compare_decode_case(tmp_file("decode_out.bin"), dec_tokens, mc);
    }
    free(dcase.teacher);
    model_free(m); model_free(mg); model_free(md); model_free(mc);
    printf("(%.1f s)\n", now_seconds() - t0);
    return check_summary();
}
