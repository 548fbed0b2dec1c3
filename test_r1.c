/*
test_r1.c: the tests of r1.c (make test). Like llm.c's test_gpt2.c it includes r1.c with main
compiled out and calls its functions directly.

Every check prints one line: PASS or FAIL, its name, the measured error and the tolerance.
The last line is "N passed, N failed"; the exit status is non-zero if anything failed.
Expected values come from finite differences, from hand computation written out in a comment,
or from an independent re-derivation in this file, never from r1.c's own output.

Sections: 1 gradient checks of every layer and of the whole model, 2 tokenizer, 3 generator,
4 KV cache and generation, 5 checkpoints (and a save killed halfway), 6 rewards, 7 GRPO loss,
8 data loading errors, 9 option parsing errors (and every command's table), the optimizer pieces,
10 a short pretraining run (and a NaN stop), 11 a toy GRPO loop, 12 determinism and resume (also
of pretrain, sft and grpo runs killed while saving a checkpoint), 13 the R1 stages (SFT, rejection
sampling, distillation, a tiny pipeline), 14 the HTML report of a run (well formed, its curves and
table against log.csv). Failed table rows are detailed on stderr.
Runs in about a minute on one thread (the tiny models are too small for threads to pay).
./test_r1 NAME... runs only the named sections (./test_r1 --list, or any unknown name, lists them).
*/
#define TESTING
#define _GNU_SOURCE
#include <stdio.h>
// r1.c's rename() (the last step of checkpoint_save) goes through test_rename, so that a test can
// kill a forked run at its n-th rename: its temporary file is written, the rename never happens
static int test_rename(const char *from, const char *to);
#define rename test_rename
// r1.c's command functions and helpers are unused here: not a problem of this file
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "r1.c"
#pragma GCC diagnostic pop
#undef rename
#include <sys/wait.h>
#include <sys/resource.h>
#include <signal.h>
#include <fcntl.h>
#include <ftw.h>

static int kill_at_rename = 0;  // 0: never; n > 0: the process kills itself (SIGKILL) at its n-th rename
static int test_rename(const char *from, const char *to) {
    if (kill_at_rename > 0 && --kill_at_rename == 0) raise(SIGKILL);
    return rename(from, to);
}

// ----------------------------------------------------------------------------
// reporting

static int n_pass = 0, n_fail = 0;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s  ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) n_pass++; else n_fail++;
}

static void fill_normal(float *x, size_t n, float mean, float std, Rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = mean + std * rng_normal(r);
}

static double dot_d(const float *a, const float *b, size_t n) { // sum a*b in double
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}


// ----------------------------------------------------------------------------
// finite differences: central differences of a scalar loss (eps 1e-3 for the single layers, 3e-3 for
// the whole model, where the float forward's rounding noise is larger), compared with the analytic gradient.
// An element passes if |fd - an| <= atol + rtol (|fd| + |an|). The loss functions below compute the
// loss in double from the forward's float outputs. route_sig is set by losses that go through an
// MoE layer (a hash of the top-k choice): an element whose +eps or -eps forward routes differently
// from the unperturbed one is skipped (the top-k choice is discontinuous) and counted.

typedef double (*LossFn)(void);
static uint64_t route_sig;

typedef struct { int checked, skipped, bad; double max_err, worst, max_fd; } FdResult;

#define FD_ATOL 1e-3
#define FD_RTOL 5e-2

static FdResult fd_compare(float *x, const float *an, size_t n, size_t max_check, LossFn loss, float eps, Rng *r) {
    FdResult res = {0};
    loss();
    uint64_t sig0 = route_sig;
    size_t count = n < max_check ? n : max_check;
    for (size_t c = 0; c < count; c++) {
        size_t i = n <= max_check ? c : (size_t)rng_u32(r) % n;
        float x0 = x[i];
        float xp = x0 + eps, xm = x0 - eps;
        x[i] = xp;
        double lp = loss();
        uint64_t sp = route_sig;
        x[i] = xm;
        double lm = loss();
        uint64_t sm = route_sig;
        x[i] = x0;
        if (sp != sig0 || sm != sig0) { res.skipped++; continue; }
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double err = fabs(fd - an[i]), tol = FD_ATOL + FD_RTOL * (fabs(fd) + fabs(an[i]));
        res.checked++;
        if (err > res.max_err) res.max_err = err;
        if (err / tol > res.worst) res.worst = err / tol;
        if (err > tol) res.bad++;
        if (fabs(fd) > res.max_fd) res.max_fd = fabs(fd);
    }
    loss(); // leave the forward state of the unperturbed point behind
    return res;
}

// passes if every element is within tolerance, the gradient is not trivially zero, and at most a
// quarter of the elements were skipped for a routing change
static void fd_report(const char *name, FdResult r) {
    int ok = r.bad == 0 && r.checked > 0 && r.max_fd > 1e-4 && r.skipped * 3 <= r.checked;
    check(ok, "grad %-28s max|fd-an| %.2e, worst err/tol %.3f (tol %.0e + %.0e(|fd|+|an|)), %d checked, %d skipped (routing), max|fd| %.2e",
          name, r.max_err, r.worst, FD_ATOL, FD_RTOL, r.checked, r.skipped, r.max_fd);
}

// ----------------------------------------------------------------------------
// 1a. each layer's backward against finite differences of its forward.
// Loss = sum R * out with a fixed random R (so d loss / d out = R).

static Rng g_rng;

static float max_abs_f(const float *a, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) if (fabsf(a[i]) > m) m = fabsf(a[i]);
    return m;
}

// embedding
static int emb_tok[6] = { 3, 1, 3, 0, 6, 3 };   // token 3 three times: its gradient accumulates
static float emb_wte[7 * 5], emb_out[6 * 5], emb_R[6 * 5];
static double emb_loss(void) {
    embedding_forward(emb_out, emb_tok, emb_wte, 6, 5);
    return dot_d(emb_out, emb_R, 30);
}
static void test_embedding(void) {
    fill_normal(emb_wte, 35, 0, 1, &g_rng); fill_normal(emb_R, 30, 0, 1, &g_rng);
    float dwte[35] = {0};
    embedding_backward(dwte, emb_R, emb_tok, 6, 5);
    fd_report("embedding dwte", fd_compare(emb_wte, dwte, 35, 1000, emb_loss, 1e-3f, &g_rng));
}

// rmsnorm
#define RN_N 3
#define RN_C 8
static float rn_x[RN_N * RN_C], rn_w[RN_C], rn_out[RN_N * RN_C], rn_rstd[RN_N], rn_R[RN_N * RN_C];
static double rn_loss(void) {
    rmsnorm_forward(rn_out, rn_rstd, rn_x, rn_w, RN_N, RN_C);
    return dot_d(rn_out, rn_R, RN_N * RN_C);
}
static void test_rmsnorm(void) {
    fill_normal(rn_x, RN_N * RN_C, 0.3f, 1, &g_rng); fill_normal(rn_w, RN_C, 1, 0.3f, &g_rng);
    fill_normal(rn_R, RN_N * RN_C, 0, 1, &g_rng);
    float dx[RN_N * RN_C] = {0}, dw[RN_C] = {0};
    rn_loss();
    rmsnorm_backward(dx, dw, rn_R, rn_x, rn_w, rn_rstd, RN_N, RN_C);
    fd_report("rmsnorm dinp", fd_compare(rn_x, dx, RN_N * RN_C, 1000, rn_loss, 1e-3f, &g_rng));
    fd_report("rmsnorm dweight", fd_compare(rn_w, dw, RN_C, 1000, rn_loss, 1e-3f, &g_rng));
    // forward by hand: x = (3, 4), w = (1, 2): rms = sqrt((9 + 16) / 2 + 1e-5) = 3.5355353,
    // y = (3 / 3.5355353, 8 / 3.5355353) = (0.8485278, 2.2627408)
    float x[2] = { 3, 4 }, w[2] = { 1, 2 }, y[2], rs;
    rmsnorm_forward(y, &rs, x, w, 1, 2);
    double e = fmax(fabs(y[0] - 0.8485278), fabs(y[1] - 2.2627408));
    check(e < 1e-6, "rmsnorm forward by hand: max error %.2e (tol 1e-6)", e);
}

// rope: x[N=T=3, H=2, hs=6], rotated dims [2, 6), positions 5, 6, 7
#define RP_N 3
#define RP_H 2
#define RP_HS 6
static float rp_x[RP_N * RP_H * RP_HS], rp_y[RP_N * RP_H * RP_HS], rp_R[RP_N * RP_H * RP_HS];
static double rp_loss(void) {
    memcpy(rp_y, rp_x, sizeof rp_y);
    rope_forward(rp_y, RP_N, RP_N, 5, RP_H, RP_HS, 2, 4);
    return dot_d(rp_y, rp_R, RP_N * RP_H * RP_HS);
}
static void test_rope(void) {
    size_t n = RP_N * RP_H * RP_HS;
    fill_normal(rp_x, n, 0, 1, &g_rng); fill_normal(rp_R, n, 0, 1, &g_rng);
    float dx[RP_N * RP_H * RP_HS];
    memcpy(dx, rp_R, sizeof dx);
    rope_backward(dx, RP_N, RP_N, 5, RP_H, RP_HS, 2, 4);
    fd_report("rope dx", fd_compare(rp_x, dx, n, 1000, rp_loss, 1e-3f, &g_rng));
    // by hand, interleaved pairs, theta 1e4, dr = 4: pair i at position p turns by p * 1e4^(-2i/4).
    // Position 3, pair 1: angle 3 * 1e4^(-1/2) = 0.03; (1, 0) -> (cos 0.03, sin 0.03) = (0.99955003, 0.0299955)
    // pair 0: angle 3 rad; (0, 1) -> (-sin 3, cos 3) = (-0.14112001, -0.98999250)
    float v[4 * 4] = {0};          // rows at positions 0..3, one head of 4 dims, all rotated
    v[12 + 1] = 1.0f; v[12 + 2] = 1.0f;
    rope_forward(v, 4, 4, 0, 1, 4, 0, 4);
    double e = fmax(fmax(fabs(v[12] + 0.14112001), fabs(v[13] + 0.98999250)),
                    fmax(fabs(v[14] - 0.99955003), fabs(v[15] - 0.0299955)));
    check(e < 1e-6, "rope forward by hand (interleaved pairs, theta 1e4): max error %.2e (tol 1e-6)", e);
}

// causal attention: B=2, T=4, NH=2, HS=3, HV=2
#define AT_B 2
#define AT_T 4
#define AT_NH 2
#define AT_HS 3
#define AT_HV 2
#define AT_NQ (AT_B * AT_T * AT_NH * AT_HS)
#define AT_NV (AT_B * AT_T * AT_NH * AT_HV)
static float at_q[AT_NQ], at_k[AT_NQ], at_v[AT_NV], at_out[AT_NV], at_att[AT_B * AT_NH * AT_T * AT_T], at_R[AT_NV];
static double at_loss(void) {
    attention_forward(at_out, at_att, at_q, at_k, at_v, AT_B, AT_T, AT_NH, AT_HS, AT_HV);
    return dot_d(at_out, at_R, AT_NV);
}
static void test_attention(void) {
    fill_normal(at_q, AT_NQ, 0, 1, &g_rng); fill_normal(at_k, AT_NQ, 0, 1, &g_rng);
    fill_normal(at_v, AT_NV, 0, 1, &g_rng); fill_normal(at_R, AT_NV, 0, 1, &g_rng);
    float dq[AT_NQ], dk[AT_NQ], dv[AT_NV], datt[AT_B * AT_NH * AT_T * AT_T];
    at_loss();
    attention_backward(dq, dk, dv, datt, at_R, at_q, at_k, at_v, at_att, AT_B, AT_T, AT_NH, AT_HS, AT_HV);
    fd_report("attention dq", fd_compare(at_q, dq, AT_NQ, 1000, at_loss, 1e-3f, &g_rng));
    fd_report("attention dk", fd_compare(at_k, dk, AT_NQ, 1000, at_loss, 1e-3f, &g_rng));
    fd_report("attention dv", fd_compare(at_v, dv, AT_NV, 1000, at_loss, 1e-3f, &g_rng));
    // independent forward in double: causal softmax(q.k / sqrt(HS)) v
    double e = 0.0;
    for (int b = 0; b < AT_B; b++) for (int h = 0; h < AT_NH; h++) for (int t = 0; t < AT_T; t++) {
        double s[AT_T], mx = -1e300, sum = 0.0;
        for (int u = 0; u <= t; u++) {
            s[u] = 0.0;
            for (int i = 0; i < AT_HS; i++)
                s[u] += (double)at_q[((b * AT_T + t) * AT_NH + h) * AT_HS + i] * at_k[((b * AT_T + u) * AT_NH + h) * AT_HS + i];
            s[u] /= sqrt((double)AT_HS);
            if (s[u] > mx) mx = s[u];
        }
        for (int u = 0; u <= t; u++) { s[u] = exp(s[u] - mx); sum += s[u]; }
        for (int i = 0; i < AT_HV; i++) {
            double o = 0.0;
            for (int u = 0; u <= t; u++) o += s[u] / sum * at_v[((b * AT_T + u) * AT_NH + h) * AT_HV + i];
            e = fmax(e, fabs(o - at_out[((b * AT_T + t) * AT_NH + h) * AT_HV + i]));
        }
    }
    check(e < 1e-5, "attention forward vs a double re-derivation (causal, scale 1/sqrt(HS)): max error %.2e (tol 1e-5)", e);
}

// SwiGLU: N=3, C=4, F=5
#define SW_N 3
#define SW_C 4
#define SW_F 5
static float sw_x[SW_N * SW_C], sw_w1[SW_F * SW_C], sw_w3[SW_F * SW_C], sw_w2[SW_C * SW_F], sw_out[SW_N * SW_C];
static float sw_a[SW_N * SW_F], sw_b[SW_N * SW_F], sw_g[SW_N * SW_F], sw_R[SW_N * SW_C];
static double sw_loss(void) {
    swiglu_forward(sw_out, sw_a, sw_b, sw_g, sw_x, sw_w1, sw_w3, sw_w2, SW_N, SW_C, SW_F);
    return dot_d(sw_out, sw_R, SW_N * SW_C);
}
static void test_swiglu(void) {
    fill_normal(sw_x, SW_N * SW_C, 0, 1, &g_rng); fill_normal(sw_w1, SW_F * SW_C, 0, 0.7f, &g_rng);
    fill_normal(sw_w3, SW_F * SW_C, 0, 0.7f, &g_rng); fill_normal(sw_w2, SW_C * SW_F, 0, 0.7f, &g_rng);
    fill_normal(sw_R, SW_N * SW_C, 0, 1, &g_rng);
    float dx[SW_N * SW_C] = {0}, dw1[SW_F * SW_C] = {0}, dw3[SW_F * SW_C] = {0}, dw2[SW_C * SW_F] = {0};
    float dg[SW_N * SW_F], da[SW_N * SW_F], db[SW_N * SW_F];
    sw_loss();
    swiglu_backward(dx, dw1, dw3, dw2, dg, da, db, sw_R, sw_x, sw_a, sw_b, sw_g, sw_w1, sw_w3, sw_w2, SW_N, SW_C, SW_F);
    fd_report("swiglu dinp", fd_compare(sw_x, dx, SW_N * SW_C, 1000, sw_loss, 1e-3f, &g_rng));
    fd_report("swiglu dw1", fd_compare(sw_w1, dw1, SW_F * SW_C, 1000, sw_loss, 1e-3f, &g_rng));
    fd_report("swiglu dw3", fd_compare(sw_w3, dw3, SW_F * SW_C, 1000, sw_loss, 1e-3f, &g_rng));
    fd_report("swiglu dw2", fd_compare(sw_w2, dw2, SW_C * SW_F, 1000, sw_loss, 1e-3f, &g_rng));
}

// the tiny model with weights scaled up so gradients are not tiny: matrices N(0, 0.3), norm weights
// N(1, 0.2), router biases N(0, 0.1) so the biased top-k choice differs from the unbiased one
static Model *tiny_model(uint64_t seed) {
    Model *m = model_create(&find_preset("tiny")->cfg, "tiny", seed);
    Rng r = rng_seed(seed + 100);
    for (size_t i = 0; i < m->num_params; i++)
        m->params_mem[i] = m->decay_mask[i] ? 0.3f * rng_normal(&r) : 1.0f + 0.2f * rng_normal(&r);
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int e = 0; e < m->cfg.n_experts; e++) m->router_bias[l][e] = 0.1f * rng_normal(&r);
    return m;
}

static uint64_t topk_sig(const Model *m) {
    const Config *c = &m->cfg;
    uint64_t h = 0xcbf29ce484222325ull;
    for (int l = 0; l < c->n_layer; l++)
        if (is_moe_layer(c, l)) h = fnv1a(h, m->acts[l].topk, (size_t)m->B * m->T * c->top_k * sizeof(int));
    return h;
}

// DeepSeekMoE layer on its own: layer 1 of the tiny model, B=2 sequences of T=5 tokens
#define MO_B 2
#define MO_T 5
static Model *mo_m;
static float *mo_h, *mo_out, *mo_R, mo_alpha, mo_rscale;
static double mo_loss(void) {
    const Config *c = &mo_m->cfg;
    LayerActs *A = &mo_m->acts[1];
    int N = MO_B * MO_T;
    moe_forward(mo_out, A, &mo_m->params.layer[1], mo_m->router_bias[1], NULL, mo_h, N, c->d_model, c->n_experts,
                c->top_k, c->d_ff_expert);
    route_sig = fnv1a(0xcbf29ce484222325ull, A->topk, (size_t)N * c->top_k * sizeof(int));
    double loss = mo_rscale * dot_d(mo_out, mo_R, (size_t)N * c->d_model);
    if (mo_alpha > 0.0f) loss += balance_loss(NULL, A, mo_alpha, MO_B, MO_T, c->n_experts, c->top_k);
    return loss;
}

static void moe_case(const char *label, float alpha, float rscale) {
    const Config *c = &mo_m->cfg;
    int N = MO_B * MO_T, C = c->d_model, E = c->n_experts, K = c->top_k, F = c->d_ff_expert;
    mo_alpha = alpha; mo_rscale = rscale;
    float *dout = mallocCheck((size_t)N * C * sizeof(float)), *dh = mallocCheck((size_t)N * C * sizeof(float));
    for (int i = 0; i < N * C; i++) dout[i] = rscale * mo_R[i];
    float *dsl = mallocCheck((size_t)N * K * C * sizeof(float)), *dxg = mallocCheck((size_t)N * K * C * sizeof(float));
    float *dg = mallocCheck((size_t)N * K * F * sizeof(float)), *da = mallocCheck((size_t)N * K * F * sizeof(float));
    float *db = mallocCheck((size_t)N * K * F * sizeof(float)), *ds = mallocCheck((size_t)N * E * sizeof(float));
    model_zero_grad(mo_m);
    mo_loss();
    LayerParams *L = &mo_m->params.layer[1], *G = &mo_m->grads.layer[1];
    moe_backward(dh, G, &mo_m->acts[1], L, dout, mo_h, alpha, MO_B, MO_T, C, E, K, F, dsl, dxg, dg, da, db, ds);
    char name[64];
    struct { const char *n; float *p, *g; size_t count; } t[] = {
        { "dh", mo_h, dh, (size_t)N * C }, { "router", L->router, G->router, (size_t)E * C },
        { "w1 (shared)", L->w1, G->w1, (size_t)F * C }, { "w3 (shared)", L->w3, G->w3, (size_t)F * C },
        { "w2 (shared)", L->w2, G->w2, (size_t)C * F }, { "ew1", L->ew1, G->ew1, (size_t)E * F * C },
        { "ew3", L->ew3, G->ew3, (size_t)E * F * C }, { "ew2", L->ew2, G->ew2, (size_t)E * C * F },
    };
    int n_t = rscale == 0.0f ? 2 : 8; // the balance loss alone reaches only the input and the router
    for (int i = 0; i < n_t; i++) {
        snprintf(name, sizeof name, "moe%s %s", label, t[i].n);
        fd_report(name, fd_compare(t[i].p, t[i].g, t[i].count, 400, mo_loss, 1e-3f, &g_rng));
    }
    free(dout); free(dh); free(dsl); free(dxg); free(dg); free(da); free(db); free(ds);
}

static void test_moe(void) {
    mo_m = tiny_model(11);
    const Config *c = &mo_m->cfg;
    int N = MO_B * MO_T, C = c->d_model, E = c->n_experts, K = c->top_k, F = c->d_ff_expert;
    model_ensure_acts(mo_m, MO_B, MO_T);
    mo_h = mallocCheck((size_t)N * C * sizeof(float)); mo_out = mallocCheck((size_t)N * C * sizeof(float));
    mo_R = mallocCheck((size_t)N * C * sizeof(float));
    fill_normal(mo_h, (size_t)N * C, 0, 1, &g_rng); fill_normal(mo_R, (size_t)N * C, 0, 1, &g_rng);
    // the forward against a re-derivation in double: s = sigmoid(W_r h); top-k by s + bias (the bias only
    // chooses); gate = s / sum of the chosen s; out = shared(h) + sum gate_k expert_k(h)
    mo_alpha = 0.0f; mo_rscale = 1.0f;
    mo_loss();
    const LayerParams *L = &mo_m->params.layer[1];
    const float *bias = mo_m->router_bias[1];
    double err = 0.0;
    int top_err = 0, bias_mattered = 0;
    for (int n = 0; n < N; n++) {
        const float *h = mo_h + (size_t)n * C;
        double s[MAX_EXPERTS], out[64] = {0};
        int taken[MAX_EXPERTS] = {0}, top[MAX_EXPERTS], top_nobias0 = 0;
        for (int e = 0; e < E; e++) {
            double u = 0.0;
            for (int i = 0; i < C; i++) u += (double)L->router[e * C + i] * h[i];
            s[e] = 1.0 / (1.0 + exp(-u));
            if (s[e] > s[top_nobias0]) top_nobias0 = e;
        }
        double sum = 0.0;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) if (!taken[e] && (best < 0 || s[e] + bias[e] > s[best] + bias[best])) best = e;
            taken[best] = 1; top[k] = best; sum += s[best];
            top_err |= best != mo_m->acts[1].topk[n * K + k];
        }
        bias_mattered |= !taken[top_nobias0];
        // SwiGLU in double: W2 (silu(W1 h) * W3 h)
        for (int x = 0; x <= K; x++) {
            const float *w1 = x == K ? L->w1 : L->ew1 + (size_t)top[x] * F * C;
            const float *w3 = x == K ? L->w3 : L->ew3 + (size_t)top[x] * F * C;
            const float *w2 = x == K ? L->w2 : L->ew2 + (size_t)top[x] * C * F;
            double gate = x == K ? 1.0 : s[top[x]] / sum;
            for (int f = 0; f < F; f++) {
                double a = 0.0, b = 0.0;
                for (int i = 0; i < C; i++) { a += (double)w1[f * C + i] * h[i]; b += (double)w3[f * C + i] * h[i]; }
                double g = a / (1.0 + exp(-a)) * b;
                for (int i = 0; i < C; i++) out[i] += gate * w2[i * F + f] * g;
            }
        }
        for (int i = 0; i < C; i++) err = fmax(err, fabs(out[i] - mo_out[(size_t)n * C + i]));
    }
    check(!top_err && err < 1e-4, "moe forward vs a double re-derivation (biased top-k, unbiased renormalised gates): "
          "max error %.2e (tol 1e-4), top-k %s", err, top_err ? "DIFFERS" : "equal");
    check(bias_mattered, "moe test setup: the router bias changes some token's top-k choice (else the check above is weak)");
    // the balance loss by hand: B=1, T=2, E=2, K=1, alpha=1; s = [[0.8, 0.2], [0.6, 0.6]] with token 0 -> expert 0,
    // token 1 -> expert 1. f_i = E/(K T) * count_i = (1, 1); P_i = mean_t s_i / sum_j s_j = ((0.8 + 0.5) / 2, (0.2 + 0.5) / 2)
    // = (0.65, 0.35); loss = 1 * 0.65 + 1 * 0.35 = 1.0. With token 1 -> expert 0 too: f = (2, 0), loss = 1.3.
    {
        LayerActs A;
        memset(&A, 0, sizeof A);
        float s[4] = { 0.8f, 0.2f, 0.6f, 0.6f };
        int topk[2] = { 0, 1 };
        A.s = s; A.topk = topk;
        float l1 = balance_loss(NULL, &A, 1.0f, 1, 2, 2, 1);
        topk[1] = 0;
        float l2 = balance_loss(NULL, &A, 1.0f, 1, 2, 2, 1);
        double e = fmax(fabs(l1 - 1.0), fabs(l2 - 1.3));
        check(e < 1e-6, "balance loss by hand (alpha sum f_i P_i): %.6f and %.6f, expected 1.0 and 1.3, max error %.2e (tol 1e-6)", l1, l2, e);
    }
    moe_case("", 0.0f, 1.0f);
    moe_case("+balance", 0.3f, 1.0f);
    moe_case(" balance only", 1.0f, 0.0f);
    free(mo_h); free(mo_out); free(mo_R);
    model_free(mo_m);
}

// MLA on its own: layer 0 of the tiny model, B=2 sequences of T=6 tokens
#define ML_B 2
#define ML_T 6
static Model *ml_m;
static float *ml_x, *ml_out, *ml_R;
static double ml_loss(void) {
    mla_forward(ml_out, &ml_m->acts[0], &ml_m->params.layer[0], &ml_m->cfg, ml_x, ML_B, ML_T, NULL, 0, 0);
    return dot_d(ml_out, ml_R, (size_t)ML_B * ML_T * ml_m->cfg.d_model);
}
static void test_mla(void) {
    ml_m = tiny_model(12);
    const Config *c = &ml_m->cfg;
    int N = ML_B * ML_T, C = c->d_model;
    model_ensure_acts(ml_m, ML_B, ML_T);
    ml_x = mallocCheck((size_t)N * C * sizeof(float)); ml_out = mallocCheck((size_t)N * C * sizeof(float));
    ml_R = mallocCheck((size_t)N * C * sizeof(float));
    float *dx = mallocCheck((size_t)N * C * sizeof(float));
    fill_normal(ml_x, (size_t)N * C, 0, 1, &g_rng); fill_normal(ml_R, (size_t)N * C, 0, 1, &g_rng);
    model_zero_grad(ml_m);
    ml_loss();
    mla_backward(ml_m, 0, dx, ml_R, ml_x);
    LayerParams *L = &ml_m->params.layer[0], *G = &ml_m->grads.layer[0];
    int NH = c->n_head, dqk = c->d_nope + c->d_rope, R = c->kv_rank;
    struct { const char *n; float *p, *g; size_t count; } t[] = {
        { "mla dx", ml_x, dx, (size_t)N * C }, { "mla attn_norm", L->attn_norm, G->attn_norm, (size_t)C },
        { "mla wq", L->wq, G->wq, (size_t)NH * dqk * C }, { "mla wkva", L->wkva, G->wkva, (size_t)(R + c->d_rope) * C },
        { "mla kv_norm", L->kv_norm, G->kv_norm, (size_t)R },
        { "mla wkvb", L->wkvb, G->wkvb, (size_t)NH * (c->d_nope + c->d_v) * R },
        { "mla wo", L->wo, G->wo, (size_t)C * NH * c->d_v },
    };
    for (int i = 0; i < 7; i++) fd_report(t[i].n, fd_compare(t[i].p, t[i].g, t[i].count, 1000, ml_loss, 1e-3f, &g_rng));
    free(ml_x); free(ml_out); free(ml_R); free(dx);
    model_free(ml_m);
}

// cross-entropy, with a zero weight and unequal weights; the loss re-derived here in double
#define CE_N 4
#define CE_V 5
static float ce_z[CE_N * CE_V], ce_w[CE_N] = { 0.5f, 0.0f, 1.0f, 0.25f };
static int ce_t[CE_N] = { 2, 0, 4, 1 };
static double ce_loss(void) {
    double loss = 0.0;
    for (int n = 0; n < CE_N; n++) {
        double mx = -1e300, s = 0.0;
        for (int i = 0; i < CE_V; i++) mx = fmax(mx, ce_z[n * CE_V + i]);
        for (int i = 0; i < CE_V; i++) s += exp(ce_z[n * CE_V + i] - mx);
        loss += ce_w[n] * (log(s) + mx - ce_z[n * CE_V + ce_t[n]]);
    }
    return loss;
}
static void test_crossentropy(void) {
    fill_normal(ce_z, CE_N * CE_V, 0, 2, &g_rng);
    float dz[CE_N * CE_V];
    float loss = crossentropy_forward_backward(dz, ce_z, ce_t, ce_w, CE_N, CE_V);
    double want = ce_loss();
    check(fabs(loss - want) < 1e-5 * fabs(want), "crossentropy loss vs double re-derivation: %.7f vs %.7f (rel tol 1e-5)", loss, want);
    fd_report("crossentropy dlogits", fd_compare(ce_z, dz, CE_N * CE_V, 1000, ce_loss, 1e-3f, &g_rng));
    // by hand: logits (0, 0, 0), target 0, weight 1: loss = log 3 = 1.0986123
    float z3[3] = {0}, dz3[3], w1 = 1.0f;
    int t0 = 0;
    float l3 = crossentropy_forward_backward(dz3, z3, &t0, &w1, 1, 3);
    check(fabs(l3 - 1.0986123) < 1e-6 && fabs(dz3[0] + 2.0 / 3) < 1e-6 && fabs(dz3[1] - 1.0 / 3) < 1e-6,
          "crossentropy by hand: log 3 = %.7f (expected 1.0986123), dlogits (%.4f, %.4f) expected (-2/3, 1/3), tol 1e-6", l3, dz3[0], dz3[1]);
}

// ----------------------------------------------------------------------------
// 1b. the whole model: cross-entropy + the sequence-wise balance loss (alpha 0.1), every tensor

typedef struct { char n[40]; float *p; size_t count; } TensorRef;
static void add_tensor(TensorRef *t, int *nt, int layer, const char *name, float *p, size_t count) {
    if (layer < 0) snprintf(t[*nt].n, sizeof t[*nt].n, "model %s", name);
    else snprintf(t[*nt].n, sizeof t[*nt].n, "model L%d.%s", layer, name);
    t[*nt].p = p; t[*nt].count = count;
    (*nt)++;
}

#define WM_B 2
#define WM_T 8
static Model *wm_m;
static int wm_tok[WM_B * WM_T], wm_tgt[WM_B * WM_T];
// cross-entropy of every position, computed here in double from the float logits (its rounding
// noise is far smaller than that of a random projection of all the logits), plus the balance loss.
// If dlogits is not NULL, writes d loss / d logits = softmax - onehot.
static double wm_ce(float *dlogits) {
    int V = wm_m->cfg.vocab;
    double loss = 0.0;
    for (int n = 0; n < WM_B * WM_T; n++) {
        const float *z = wm_m->logits + (size_t)n * V;
        double mx = -1e300, s = 0.0;
        for (int i = 0; i < V; i++) mx = fmax(mx, z[i]);
        for (int i = 0; i < V; i++) s += exp(z[i] - mx);
        loss += log(s) + mx - z[wm_tgt[n]];
        if (dlogits)
            for (int i = 0; i < V; i++) dlogits[(size_t)n * V + i] = (float)(exp(z[i] - mx) / s - (i == wm_tgt[n]));
    }
    return loss;
}
static double wm_loss(void) {
    model_forward(wm_m, wm_tok, WM_B, WM_T, NULL, 0);
    route_sig = topk_sig(wm_m);
    return wm_ce(NULL) + wm_m->aux_loss;
}

static void test_whole_model(void) {
    wm_m = tiny_model(13);
    wm_m->balance_alpha = 0.1f;
    const Config *c = &wm_m->cfg;
    for (int i = 0; i < WM_B * WM_T; i++) { wm_tok[i] = rng_int(&g_rng, c->vocab); wm_tgt[i] = rng_int(&g_rng, c->vocab); }
    model_zero_grad(wm_m);
    wm_loss();
    wm_ce(wm_m->dlogits);
    model_backward(wm_m);
    float *grads = mallocCheck(wm_m->num_params * sizeof(float));
    memcpy(grads, wm_m->grads_mem, wm_m->num_params * sizeof(float));
    // every tensor, in layout order
    Params P = wm_m->params;
    TensorRef t[64];
    int nt = 0;
    int C = c->d_model, NH = c->n_head, dqk = c->d_nope + c->d_rope, R = c->kv_rank, E = c->n_experts;
    add_tensor(t, &nt, -1, "wte", P.wte, (size_t)c->vocab * C);
    for (int l = 0; l < c->n_layer; l++) {
        LayerParams *L = &P.layer[l];
        int F = is_moe_layer(c, l) ? c->d_ff_expert : c->d_ff_dense;
        add_tensor(t, &nt, l, "attn_norm", L->attn_norm, (size_t)C);
        add_tensor(t, &nt, l, "wq", L->wq, (size_t)NH * dqk * C);
        add_tensor(t, &nt, l, "wkva", L->wkva, (size_t)(R + c->d_rope) * C);
        add_tensor(t, &nt, l, "kv_norm", L->kv_norm, (size_t)R);
        add_tensor(t, &nt, l, "wkvb", L->wkvb, (size_t)NH * (c->d_nope + c->d_v) * R);
        add_tensor(t, &nt, l, "wo", L->wo, (size_t)C * NH * c->d_v);
        add_tensor(t, &nt, l, "ffn_norm", L->ffn_norm, (size_t)C);
        add_tensor(t, &nt, l, "w1", L->w1, (size_t)F * C);
        add_tensor(t, &nt, l, "w3", L->w3, (size_t)F * C);
        add_tensor(t, &nt, l, "w2", L->w2, (size_t)C * F);
        if (is_moe_layer(c, l)) {
            add_tensor(t, &nt, l, "router", L->router, (size_t)E * C);
            add_tensor(t, &nt, l, "ew1", L->ew1, (size_t)E * F * C);
            add_tensor(t, &nt, l, "ew3", L->ew3, (size_t)E * F * C);
            add_tensor(t, &nt, l, "ew2", L->ew2, (size_t)E * C * F);
        }
    }
    add_tensor(t, &nt, -1, "norm_f", P.norm_f, (size_t)C);
    add_tensor(t, &nt, -1, "head", P.head, (size_t)c->vocab * C);
    size_t covered = 0;
    for (int i = 0; i < nt; i++) {
        covered += t[i].count;
        fd_report(t[i].n, fd_compare(t[i].p, grads + (t[i].p - wm_m->params_mem), t[i].count, 100000, wm_loss, 3e-3f, &g_rng));
    }
    check(covered == wm_m->num_params, "model gradient check covers every parameter: %zu of %zu", covered, wm_m->num_params);
    free(grads);
    model_free(wm_m);
}

// ----------------------------------------------------------------------------
// helpers: temporary folders, whole files, and running a function that must die() in a child

static char tmp_root[64];

static const char *tmp_path(const char *name) { // a path inside this run's temporary folder
    static char buf[8][300];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_root, name);
    return buf[k];
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static char *read_whole(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = mallocCheck((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = 0;
    if (len) *len = got;
    return s;
}

static void write_whole(const char *path, const char *data, size_t n) {
    FILE *f = fopenCheck(path, "wb");
    if (fwrite(data, 1, n, f) != n) die("cannot write %s", path);
    fclose(f);
}

typedef void (*ChildFn)(const void *arg);

// runs fn(arg) in a forked child, stdout to /dev/null and stderr into err; returns the exit status
// (0 if fn returned), or -1 if the child did not exit normally
static int run_child(ChildFn fn, const void *arg, char *err, size_t errsz) {
    fflush(stdout); fflush(stderr);
    int p[2];
    if (pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2); close(p[1]);
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0) dup2(dn, 1);
        fn(arg);
        exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < errsz && (k = read(p[0], err + n, errsz - 1 - n)) > 0) n += (size_t)k;
    err[n] = 0;
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// the child must exit non-zero with exactly one line "r1: error: ..." containing each of want1, want2
static void expect_die(const char *name, ChildFn fn, const void *arg, const char *want1, const char *want2) {
    char err[4096];
    int st = run_child(fn, arg, err, sizeof err);
    size_t l = strlen(err);
    int one_line = l > 0 && err[l - 1] == '\n' && strchr(err, '\n') == err + l - 1 && strncmp(err, "r1: error: ", 11) == 0;
    if (l > 0 && err[l - 1] == '\n') err[l - 1] = 0;
    int ok = st > 0 && one_line && strstr(err, want1) && (!want2 || strstr(err, want2));
    check(ok, "%s: exit status %d, stderr \"%s\" (want non-zero, one line with \"%s\"%s%s)", name, st, err, want1,
          want2 ? " and " : "", want2 ? want2 : "");
}

// ----------------------------------------------------------------------------
// 2. tokenizer

static void test_tokenizer(void) {
    // every character of the alphabet and every special token, in a text that mixes them
    char text[512];
    snprintf(text, sizeof text, "%s<think>%s</think><answer>%s</answer><eos>", ALPHABET, "12 check", "-7");
    int ids[512];
    char bad = 0, back[5120];
    int n = encode(text, ids, 512, &bad);
    decode(ids, n > 0 ? n : 0, back);
    // by hand: the alphabet is one token per character, the specials one each, "12 check" is 8, "-7" is 2
    int want = (int)strlen(ALPHABET) + 5 + 8 + 2;
    check(n == want && strcmp(back, text) == 0, "tokenizer round trip of the whole alphabet and the 5 specials: %d tokens (expected %d), text %s",
          n, want, strcmp(back, text) == 0 ? "equal" : "DIFFERS");
    int distinct = 1;
    for (int i = 0; i < n; i++) for (int j = 0; j < i; j++) if (ids[i] == ids[j] && i < (int)strlen(ALPHABET) + 1) distinct = 0;
    int in_range = 1;
    for (int i = 0; i < n; i++) in_range &= ids[i] >= 0 && ids[i] < VOCAB_SIZE;
    check(distinct && in_range && ids[strlen(ALPHABET)] == TOK_THINK && ids[n - 1] == TOK_EOS,
          "tokenizer ids distinct per character, in [0, %d), specials single ids", VOCAB_SIZE);
    const char *bads[] = { "e:1+2=A", "e:1+2.", "<thinking>", "12\t3", "<eos" };
    const char badc[] = { 'A', '.', '<', '\t', '<' };
    for (int i = 0; i < 5; i++) {
        bad = 0;
        int r = encode(bads[i], ids, 512, &bad);
        check(r == -1 && bad == badc[i], "tokenizer rejects unknown character 0x%02x in \"%s\": returned %d, reported 0x%02x",
              (unsigned char)badc[i], bads[i], r, (unsigned char)bad);
    }
    int r = encode("0123456789", ids, 5, &bad);
    check(r < 0, "tokenizer: text longer than the buffer is rejected (returned %d)", r);
}

// ----------------------------------------------------------------------------
// 3. the generator: the committed tiny_data/ equals what `./r1 gen` writes (its default seed is 1),
// and the corpus is what the spec says it is

typedef struct { int n, x[8], lang; } Prob;

// "e:51+76+12+85=" -> operands and language; returns the length of the prompt, or -1
static int parse_prompt(const char *s, Prob *p) {
    if ((s[0] != 'e' && s[0] != 'j') || s[1] != ':') return -1;
    p->lang = s[0] == 'j' ? LANG_JA : LANG_EN;
    p->n = 0;
    const char *q = s + 2;
    for (;;) {
        if (*q < '0' || *q > '9' || p->n == 8) return -1;
        int v = 0;
        while (*q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
        p->x[p->n++] = v;
        if (*q == '=') return (int)(q + 1 - s);
        if (*q++ != '+') return -1;
    }
}

static int word_lang(const char *w) { // the lexicon of a word of the chain of thought, or -1
    for (int l = 0; l < N_LANGS; l++) for (int i = 0; i < N_WORDS; i++) if (strcmp(w, WORDS[l][i]) == 0) return l;
    return -1;
}

// checks a response against the problem; returns NULL or what is wrong. *style: 0 direct, 1 chain, 2 checked;
// *mixed: words of both languages in the chain. Rules: exactly <think>T</think><answer>NNN</answer><eos> with
// NNN the exact sum (3 digits); every expression a+b+..=s in T is right, except slips, each of which must
// be repaired later, in order, by the wait word and the right value; wait never appears without a slip;
// every word is in one of the two lexicons. (Deliberately independent of the rest of the layout.)
static const char *verify_response(const char *r, const Prob *p, int *style, int *mixed) {
    int sum = 0;
    for (int i = 0; i < p->n; i++) sum += p->x[i];
    if (strncmp(r, "<think>", 7) != 0) return "does not start with <think>";
    const char *te = strstr(r, "</think>");
    if (!te) return "no </think>";
    char tail[64];
    snprintf(tail, sizeof tail, "</think><answer>%03d</answer><eos>", sum);
    if (strcmp(te, tail) != 0) return "answer or tail wrong";
    char think[512];
    size_t tl = (size_t)(te - r - 7);
    if (tl >= sizeof think) return "think too long";
    memcpy(think, r + 7, tl); think[tl] = 0;
    *style = 0; *mixed = 0;
    if (tl == 0) return NULL;
    *style = 1;
    int pending[4], n_pending = 0, expect_value = 0, langs = 0; // slips waiting for their repair, in order
    for (char *tok = strtok(think, " "); tok; tok = strtok(NULL, " ")) {
        if (expect_value) { // the value after "wait"
            if (atoi(tok) != pending[0]) return "wait value is not the right sum";
            for (int i = 1; i < n_pending; i++) pending[i - 1] = pending[i];
            n_pending--; expect_value = 0;
            continue;
        }
        if (*tok >= 'a' && *tok <= 'z') {
            int l = word_lang(tok);
            if (l < 0) return "unknown word";
            langs |= 1 << l;
            if (strcmp(tok, WORDS[l][WORD_CHECK]) == 0) *style = 2;
            if (strcmp(tok, WORDS[l][WORD_WAIT]) == 0) { if (n_pending == 0) return "wait without a slip"; expect_value = 1; }
            continue;
        }
        char *eq = strchr(tok, '=');
        if (!eq) continue; // a bare number: the carry, a running total, the value restated after a verdict
        int lhs = 0;
        for (char *q = tok; q < eq;) { lhs += atoi(q); while (q < eq && *q != '+') q++; if (q < eq) q++; }
        if (lhs != atoi(eq + 1)) { if (n_pending == 4) return "too many slips"; pending[n_pending++] = lhs; }
    }
    if (n_pending > 0) return "a slip never repaired";
    *mixed = langs == 3;
    return NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_generator(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/gen", tmp_root);
    gen_tiny_data(dir, 1);
    const char *files[4] = { "pretrain.txt", "rl_train.txt", "rl_test.txt", "coldstart.txt" };
    char *gen[4];
    for (int i = 0; i < 4; i++) {
        char p1[400], p2[400];
        snprintf(p1, sizeof p1, "%s/%s", dir, files[i]);
        snprintf(p2, sizeof p2, "tiny_data/%s", files[i]);
        size_t l1 = 0, l2 = 0;
        gen[i] = read_whole(p1, &l1);
        char *b = read_whole(p2, &l2);
        size_t at = 0;
        while (gen[i] && b && at < l1 && at < l2 && gen[i][at] == b[at]) at++;
        check(gen[i] && b && l1 == l2 && at == l1, "gen --seed 1 writes %s byte for byte equal to tiny_data/%s (%zu and %zu bytes, first difference at %zu)",
              files[i], files[i], l1, l2, at);
        free(b);
        if (!gen[i]) gen[i] = strdup("");
    }
    int ctx = find_preset("student")->cfg.context; // the smaller context of the two real presets
    if (find_preset("teacher")->cfg.context < ctx) ctx = find_preset("teacher")->cfg.context;
    // pretraining corpus: every line tokenizes, fits, and is right
    int lines = 0, bad_lines = 0, too_long = 0, styles[3] = {0}, mixed_n = 0, slips = 0;
    const char *first_err = NULL;
    char *save = NULL, *ids_err = NULL;
    int *ids = mallocCheck(1024 * sizeof(int));
    char *test_keys[4096];
    int n_keys = 0;
    for (char *line = strtok_r(gen[2], "\n", &save); line; line = strtok_r(NULL, "\n", &save)) { // held-out keys
        char *tab = strchr(line, '\t');
        Prob p;
        int pl = parse_prompt(line, &p);
        if (tab && pl > 0 && n_keys < 4096) { line[pl] = 0; test_keys[n_keys++] = line + 2; }
    }
    qsort(test_keys, n_keys, sizeof(char *), cmp_str);
    int leaked = 0;
    for (char *line = strtok_r(gen[0], "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lines++;
        char bad = 0;
        int n = encode(line, ids, 1024, &bad);
        if (n < 0 || n > ctx) { too_long++; if (!ids_err) ids_err = line; }
        Prob p;
        int pl = parse_prompt(line, &p), style = 0, mixed = 0;
        const char *e = pl < 0 ? "bad prompt" : verify_response(line + pl, &p, &style, &mixed);
        if (e) { bad_lines++; if (!first_err) first_err = e; continue; }
        styles[style]++; mixed_n += mixed; slips += strstr(line, WORDS[0][WORD_WAIT]) || strstr(line, WORDS[1][WORD_WAIT]);
        char key[64];
        snprintf(key, sizeof key, "%.*s", pl - 2, line + 2);
        char *kp = key;
        leaked += bsearch(&kp, test_keys, n_keys, sizeof(char *), cmp_str) != NULL;
    }
    check(lines > 0 && too_long == 0, "pretrain.txt: %d lines, all tokenize and fit the context %d (%d do not)", lines, ctx, too_long);
    check(bad_lines == 0, "pretrain.txt: direct answers exactly right, chains and checks arithmetically right, every slip "
          "repaired by a wait: %d bad lines (first: %s)", bad_lines, first_err ? first_err : "none");
    float fd = styles[0] / (float)lines, fc = styles[1] / (float)lines, fk = styles[2] / (float)lines;
    // the generator's declared mixture (MIX_DIRECT, MIX_CHAIN, the rest checked), and the spec's "mostly direct"
    check(fabsf(fd - MIX_DIRECT) < 0.02f && fabsf(fc - MIX_CHAIN) < 0.02f && fabsf(fk - (1 - MIX_DIRECT - MIX_CHAIN)) < 0.02f &&
          fd > 0.5f && mixed_n > 0 && slips > 0,
          "pretrain.txt mixture: direct %.3f chain %.3f checked %.3f (declared %.2f/%.2f/%.2f +- 0.02, direct > 0.5), "
          "%d language-mixed chains, %d slips", fd, fc, fk, MIX_DIRECT, MIX_CHAIN, 1 - MIX_DIRECT - MIX_CHAIN, mixed_n, slips);
    check(n_keys > 0 && leaked == 0, "held-out: none of the %d rl_test problems appears in pretrain.txt (%d do)", n_keys, leaked);
    // RL prompts: answer is the sum, difficulty the number of operands
    int rl_bad = 0, rl_n = 0;
    for (char *line = strtok_r(gen[1], "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        Prob p;
        rl_n++;
        int pl = parse_prompt(line, &p), sum = 0;
        for (int i = 0; i < p.n; i++) sum += p.x[i];
        long ans = -1; int diff = -1;
        if (pl < 0 || sscanf(line + pl, "\t%ld\t%d", &ans, &diff) != 2 || ans != sum || diff != p.n || p.n < 2 || p.n > 4) rl_bad++;
        line[pl > 0 ? pl : 0] = 0;
        char *kp = line + 2;
        if (pl > 0 && bsearch(&kp, test_keys, n_keys, sizeof(char *), cmp_str)) rl_bad++;
    }
    check(rl_n > 0 && rl_bad == 0, "rl_train.txt: %d lines, answer = sum, difficulty = operands, none held out: %d bad", rl_n, rl_bad);
    // cold start: checked chains only, no slips, one language, right answers
    int cs_n = 0, cs_bad = 0;
    for (char *line = strtok_r(gen[3], "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        Prob p;
        cs_n++;
        int pl = parse_prompt(line, &p), style = 0, mixed = 0;
        if (pl < 0 || line[pl] != '\t') { cs_bad++; continue; }
        const char *e = verify_response(line + pl + 1, &p, &style, &mixed);
        if (e || style != 2 || mixed || strstr(line, WORDS[0][WORD_WAIT]) || strstr(line, WORDS[1][WORD_WAIT]) ||
            reward_language(line + pl + 1, p.lang) != 1.0f) cs_bad++;
    }
    check(cs_n > 0 && cs_bad == 0, "coldstart.txt: %d lines, all checked chains without slips, one language, right: %d bad", cs_n, cs_bad);
    for (int i = 0; i < 4; i++) free(gen[i]);
    free(ids);
}

// ----------------------------------------------------------------------------
// 4. KV cache: one token at a time through the cache equals the full forward; greedy generate()
// equals argmax decoding with full forwards

static void test_kvcache(void) {
    Model *m = tiny_model(21);
    const Config *c = &m->cfg;
    int B = 3, T = 12, V = c->vocab;
    int tok[3 * 12];
    for (int i = 0; i < B * T; i++) tok[i] = rng_int(&g_rng, V);
    model_forward(m, tok, B, T, NULL, 0);
    float *full = mallocCheck((size_t)B * T * V * sizeof(float));
    memcpy(full, m->logits, (size_t)B * T * V * sizeof(float));
    // sequence s lives in cache row map[s]; from position 6 on, sequence 1 has finished and the batch is {2, 0}
    int map[3] = { 2, 0, 1 };
    KVCache *kv = kvcache_create(c, 3, c->context);
    double err = 0.0, scale = 0.0;
    for (int pos = 0; pos < T; pos++) {
        int seqs[3] = { 0, 1, 2 }, nb = 3;
        if (pos >= 6) { seqs[0] = 2; seqs[1] = 0; nb = 2; }
        int t1[3];
        for (int i = 0; i < nb; i++) { t1[i] = tok[seqs[i] * T + pos]; kv->row[i] = map[seqs[i]]; }
        model_forward(m, t1, nb, 1, kv, pos);
        for (int i = 0; i < nb; i++) {
            const float *a = m->logits + (size_t)i * V, *b = full + ((size_t)seqs[i] * T + pos) * V;
            for (int v = 0; v < V; v++) { err = fmax(err, fabs(a[v] - b[v])); scale = fmax(scale, fabs(b[v])); }
        }
    }
    kvcache_free(kv);
    check(err <= 1e-4 * scale, "KV cache decode (row map 2,0,1, rows dropping out) vs full forward: max |diff| %.2e, "
          "max |logit| %.2f (tol 1e-4 relative)", err, scale);
    // greedy generation, prompts of different lengths, against argmax with full forwards
    int L = c->context, plen[3] = { 3, 5, 1 }, slen[3];
    int *seqs = mallocCheck((size_t)3 * L * sizeof(int));
    for (int b = 0; b < 3; b++) for (int t = 0; t < plen[b]; t++) seqs[b * L + t] = N_SPECIAL + rng_int(&g_rng, V - N_SPECIAL);
    int ref[3][64];
    int ref_len[3];
    for (int b = 0; b < 3; b++) {
        memcpy(ref[b], seqs + b * L, plen[b] * sizeof(int));
        int n = plen[b];
        while (n < L) {
            model_forward(m, ref[b], 1, n, NULL, 0);
            const float *z = m->logits + (size_t)(n - 1) * V;
            int best = 0;
            for (int v = 1; v < V; v++) if (z[v] > z[best]) best = v;
            ref[b][n++] = best;
            if (best == TOK_EOS) break;
        }
        ref_len[b] = n;
    }
    Rng r = rng_seed(5);
    generate(m, seqs, plen, slen, 3, L, 0.0f, &r);
    int same = 1;
    for (int b = 0; b < 3; b++) {
        same &= slen[b] == ref_len[b];
        for (int t = 0; t < ref_len[b] && t < slen[b]; t++) same &= seqs[b * L + t] == ref[b][t];
    }
    check(same, "greedy generate() of 3 prompts (lengths 3, 5, 1) equals argmax decoding with full forwards (lengths %d %d %d vs %d %d %d)",
          slen[0], slen[1], slen[2], ref_len[0], ref_len[1], ref_len[2]);
    // on 2 threads generate() gives each thread its own block of rows (own activations, cache, random
    // stream): greedy decoding must not change, and sampling twice with the same seed must repeat
    int *seqs2 = mallocCheck((size_t)3 * L * sizeof(int)), *seqs3 = mallocCheck((size_t)3 * L * sizeof(int));
    int slen2[3], slen3[3];
    for (int b = 0; b < 3; b++) memcpy(seqs2 + b * L, seqs + b * L, plen[b] * sizeof(int));
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    r = rng_seed(5);
    generate(m, seqs2, plen, slen2, 3, L, 0.0f, &r);
    int same_greedy = 1, glen[3];
    for (int b = 0; b < 3; b++) {
        glen[b] = slen2[b];
        same_greedy &= slen2[b] == slen[b];
        for (int t = 0; t < slen[b] && t < slen2[b]; t++) same_greedy &= seqs2[b * L + t] == seqs[b * L + t];
    }
    int same_sampled = 1;
    for (int b = 0; b < 3; b++) memcpy(seqs3 + b * L, seqs + b * L, plen[b] * sizeof(int));
    r = rng_seed(6);
    generate(m, seqs2, plen, slen2, 3, L, 1.0f, &r);
    r = rng_seed(6);
    generate(m, seqs3, plen, slen3, 3, L, 1.0f, &r);
    for (int b = 0; b < 3; b++) {
        same_sampled &= slen2[b] == slen3[b];
        for (int t = 0; t < slen2[b] && t < slen3[b]; t++) same_sampled &= seqs2[b * L + t] == seqs3[b * L + t];
    }
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    check(same_greedy, "greedy generate() on 2 threads equals it on 1 (lengths %d %d %d vs %d %d %d)",
          glen[0], glen[1], glen[2], slen[0], slen[1], slen[2]);
    check(same_sampled, "sampled generate() on 2 threads, twice with the same seed: identical (lengths %d %d %d vs %d %d %d)",
          slen2[0], slen2[1], slen2[2], slen3[0], slen3[1], slen3[2]);
    free(seqs2); free(seqs3);
    free(full); free(seqs);
    model_free(m);
}

// ----------------------------------------------------------------------------
// 5. checkpoints

static void child_load_ckpt(const void *arg) { checkpoint_load((const char *)arg, NULL, NULL); }

// saves a checkpoint under a file size limit: the kernel kills the process (SIGXFSZ) when the write
// reaches the limit, in the middle of the temporary file
typedef struct { const char *path; Model *m; rlim_t limit; } LimitedSave;
static void child_save_limited(const void *arg) {
    const LimitedSave *a = arg;
    struct rlimit rl = { a->limit, a->limit };
    setrlimit(RLIMIT_FSIZE, &rl);
    a->m->step = 99;
    checkpoint_save(a->path, a->m, 1, 2, 0);
}

static void test_checkpoints(void) {
    Model *m = tiny_model(31);
    fill_normal(m->m_mem, m->num_params, 0, 1, &g_rng);
    fill_normal(m->v_mem, m->num_params, 1, 0.1f, &g_rng);
    m->step = 37;
    const char *path = tmp_path("ck.bin"), *tmp = tmp_path("ck.bin.tmp");
    checkpoint_save(path, m, 1, 0x123456789abcdefull, 7);
    check(access(tmp, F_OK) != 0, "checkpoint save leaves no .tmp file behind");
    // a crash during a later save leaves garbage in path.tmp: loading path is unaffected
    write_whole(tmp, "garbage", 7);
    uint64_t rs = 0;
    int dp = 0;
    Model *l = checkpoint_load(path, &rs, &dp);
    size_t nb = m->num_params * sizeof(float);
    int same = l->num_params == m->num_params && memcmp(l->params_mem, m->params_mem, nb) == 0 &&
               memcmp(l->m_mem, m->m_mem, nb) == 0 && memcmp(l->v_mem, m->v_mem, nb) == 0 &&
               memcmp(l->router_bias, m->router_bias, sizeof m->router_bias) == 0 && l->step == 37 &&
               rs == 0x123456789abcdefull && dp == 7 && memcmp(&l->cfg, &m->cfg, sizeof m->cfg) == 0 &&
               strcmp(l->preset, "tiny") == 0;
    check(same, "checkpoint round trip bit-exact (params, router biases, AdamW moments, step, rng state, data position, "
          "config, preset), with a stale .tmp present");
    model_free(l);
    // saving again over a stale .tmp works and removes it
    checkpoint_save(path, m, 0, 0, 0);
    l = checkpoint_load(path, NULL, NULL);
    check(access(tmp, F_OK) != 0 && memcmp(l->params_mem, m->params_mem, nb) == 0 && max_abs_f(l->m_mem, m->num_params) == 0.0f,
          "checkpoint without optimizer: saved over a stale .tmp, params equal, moments zero");
    model_free(l);
    // corrupt copies
    checkpoint_save(path, m, 1, 1, 0);
    size_t len = 0;
    char *good = read_whole(path, &len);
    char *bad = mallocCheck(len);
    const char *bp = tmp_path("bad.bin");
    memcpy(bad, good, len); bad[len / 2] ^= 0x10;                         // a flipped bit in the parameters
    write_whole(bp, bad, len);
    expect_die("checkpoint with a flipped byte", child_load_ckpt, bp, bp, "checksum");
    memcpy(bad, good, len); bad[len - 3] ^= 0x01;                         // in the stored checksum itself
    write_whole(bp, bad, len);
    expect_die("checkpoint with a flipped checksum byte", child_load_ckpt, bp, bp, "checksum");
    write_whole(bp, good, len - 100);                                     // truncated
    expect_die("truncated checkpoint", child_load_ckpt, bp, bp, "truncated");
    write_whole(bp, good, 20);                                            // shorter than a header
    expect_die("checkpoint shorter than its header", child_load_ckpt, bp, bp, "too short");
    memcpy(bad, good, len); bad[0] ^= 0xff;                               // magic
    write_whole(bp, bad, len);
    expect_die("checkpoint with a wrong magic number", child_load_ckpt, bp, bp, "magic");
    memcpy(bad, good, len); bad[4] = 99;                                  // version (second uint32)
    write_whole(bp, bad, len);
    expect_die("checkpoint with a wrong version", child_load_ckpt, bp, bp, "version");
    memcpy(bad, good, len); bad[8 + 2 * 4] ^= 0x01;                       // config: d_model 16 -> 17
    write_whole(bp, bad, len);
    expect_die("checkpoint with a changed config", child_load_ckpt, bp, bp, NULL);
    m->step = -5;                                                         // a negative step, checksum right
    checkpoint_save(bp, m, 1, 1, 0);
    m->step = 37;
    expect_die("checkpoint with a negative step", child_load_ckpt, bp, bp, "negative step");
    expect_die("missing checkpoint", child_load_ckpt, tmp_path("nonexistent.bin"), "nonexistent.bin", NULL);
    // a run killed in the middle of writing its next checkpoint: the previous one is intact and loads
    char err[4096];
    LimitedSave ls = { path, m, (rlim_t)len / 2 };
    int st = run_child(child_save_limited, &ls, err, sizeof err);
    size_t len_after = 0, len_tmp = 0;
    char *after = read_whole(path, &len_after), *partial = read_whole(tmp, &len_tmp);
    l = checkpoint_load(path, NULL, NULL);
    check(st == -1 && len_tmp == len / 2 && len_after == len && memcmp(after, good, len) == 0 && l->step == 37,
          "a save killed halfway (file size limit %zu of %zu bytes): killed %d, partial .tmp of %zu bytes left, previous "
          "checkpoint byte-identical (%zu bytes) and loads (step %d, expected 37)", len / 2, len, st == -1, len_tmp, len_after, l->step);
    model_free(l);
    free(after); free(partial);
    free(good); free(bad);
    model_free(m);
}

// ----------------------------------------------------------------------------
// 6. rewards, table-driven

// a template with $EK $EC $EO $EW (English carry, check, ok, wait) and $JK $JC $JO $JW -> out
static const char *with_words(const char *t, char *out) {
    const char *codes = "KCOW";
    int o = 0;
    for (const char *p = t; *p;) {
        if (p[0] == '$' && (p[1] == 'E' || p[1] == 'J') && p[2] && strchr(codes, p[2])) {
            o += sprintf(out + o, "%s", WORDS[p[1] == 'J' ? LANG_JA : LANG_EN][strchr(codes, p[2]) - codes]);
            p += 3;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    return out;
}

static void test_rewards(void) {
    struct { const char *r; long truth; float want; } acc[] = {
        { "<think></think><answer>224</answer><eos>", 224, 1 },
        { "<think></think><answer>224</answer><eos>", 225, 0 },
        { "<think></think><answer>089</answer><eos>", 89, 1 },          // leading zeros
        { "<answer>12</answer><answer>13</answer>", 13, 1 },             // the last block counts
        { "<answer>12</answer><answer>13</answer>", 12, 0 },
        { "<think></think><answer></answer><eos>", 0, 0 },              // empty
        { "<answer>1a</answer>", 1, 0 },                                  // non-digits
        { "<answer> 12</answer>", 12, 0 },
        { "<answer>+5</answer>", 5, 0 },
        { "<answer>12", 12, 0 },                                          // missing close tag
        { "<answer>12<eos>", 12, 0 },
        { "<answer>-5</answer>", -5, 1 },                                 // negative numbers
        { "<answer>-5</answer>", 5, 0 },
        { "<answer>-</answer>", 0, 0 },
        { "<answer><answer>7</answer>", 7, 1 },                           // nested: the inner (last) one
        { "<answer>1<answer>7</answer>", 1, 0 },
        { "<answer>12345678901234567890123</answer>", 0, 0 },            // absurdly long
        { "<think>224</think>", 224, 0 },                                 // no answer at all
        { "", 0, 0 },
    };
    int n = (int)(sizeof acc / sizeof acc[0]), bad = 0;
    for (int i = 0; i < n; i++) {
        float g = reward_accuracy(acc[i].r, acc[i].truth);
        if (g != acc[i].want) { bad++; fprintf(stderr, "      reward_accuracy(\"%s\", %ld) = %g, expected %g\n", acc[i].r, acc[i].truth, g, acc[i].want); }
    }
    check(bad == 0, "reward_accuracy table: %d of %d cases wrong", bad, n);
    struct { const char *r; float want; } fmt[] = {
        { "<think>1+2=3 check 1+2=3 ok</think><answer>003</answer><eos>", 1 },
        { "<think></think><answer>003</answer><eos>", 1 },
        { "<think></think><answer>003</answer>", 0 },                    // missing <eos>
        { "<think></think><answer>003</answer><eos>12", 0 },             // text after <eos>
        { "<think></think><answer>003</answer><eos><eos>", 0 },
        { "<answer>003</answer><eos>", 0 },                               // missing think
        { "x<think></think><answer>003</answer><eos>", 0 },
        { "<think>1<answer>2</answer></think><answer>003</answer><eos>", 0 }, // specials inside think
        { "<think>1<think>2</think><answer>003</answer><eos>", 0 },
        { "<think></think><answer>0<eos>3</answer><eos>", 0 },
        { "<think></think><answer></answer><eos>", 0 },                  // empty answer
        { "<think></think> <answer>003</answer><eos>", 0 },
        { "<think>12", 0 },                                                 // truncated
        { "<think></think><answer>003", 0 },
        { "", 0 },
    };
    n = (int)(sizeof fmt / sizeof fmt[0]); bad = 0;
    for (int i = 0; i < n; i++) {
        float g = reward_format(fmt[i].r);
        if (g != fmt[i].want) { bad++; fprintf(stderr, "      reward_format(\"%s\") = %g, expected %g\n", fmt[i].r, g, fmt[i].want); }
    }
    check(bad == 0, "reward_format table: %d of %d cases wrong", bad, n);
    // the words come from the lexicons: $EK $EC $EO $EW are English carry, check, ok, wait; $J.. the Japanese-like ones
    struct { const char *r; int lang; float want; } lng[] = {
        { "<think>1+2=3 $EC 1+2=3 $EO $EK 0 1+1=2</think><answer>023</answer><eos>", LANG_EN, 1 },
        { "<think>1+2=3 $EC 1+2=3 $EO $EK 0 1+1=2</think><answer>023</answer><eos>", LANG_JA, 0 },
        { "<think>1+2=4 $JC 1+2=3 $JW 3 $JK 0 $JO</think><answer>3</answer><eos>", LANG_JA, 1 },
        { "<think>$EC 1+2=3 $JC</think><answer>3</answer><eos>", LANG_EN, 0.5f },   // mixed, 1 of 2
        { "<think>$EC 1+2=3 $JC</think><answer>3</answer><eos>", LANG_JA, 0.5f },
        { "<think>$EC $JK $JC</think><answer>3</answer><eos>", LANG_JA, 2.0f / 3 },
        { "<think>1+2=3</think><answer>3</answer><eos>", LANG_EN, 1 },              // no words
        { "<think></think><answer>3</answer><eos>", LANG_JA, 1 },
        { "<think>zzz $EC</think><answer>3</answer><eos>", LANG_EN, 0.5f },         // outside both lexicons
        { "<think>zzz qqq</think>", LANG_EN, 0 },
        { "<think>$ECzz</think>", LANG_EN, 0 },                                     // a longer word is not the word
        { "<think>$EC</think><answer>3</answer><eos> $JC", LANG_EN, 1 },            // after </think>: not counted
    };
    char buf[512];
    n = (int)(sizeof lng / sizeof lng[0]); bad = 0;
    for (int i = 0; i < n; i++) {
        float g = reward_language(with_words(lng[i].r, buf), lng[i].lang);
        if (fabsf(g - lng[i].want) > 1e-6f) { bad++; fprintf(stderr, "      reward_language(\"%s\", %d) = %g, expected %g\n", buf, lng[i].lang, g, lng[i].want); }
    }
    check(bad == 0, "reward_language table: %d of %d cases wrong", bad, n);
    // the letters of special tokens are not words of the chain of thought: a response whose think span is not
    // closed, or holds a nested special, is judged on its words only (here all English: 1), not on "answer", "eos"
    float g1 = reward_language(with_words("<think>$EC<answer>1</answer><eos>", buf), LANG_EN);
    float g2 = reward_language(with_words("<think>$EC<think>$EC</think><answer>1</answer><eos>", buf), LANG_EN);
    check(g1 == 1.0f && g2 == 1.0f, "reward_language ignores special tokens inside an unclosed or nested think span: %g and %g (expected 1 and 1)", g1, g2);
    struct { const char *r; int style, reflects; } sty[] = {
        { "<think></think><answer>224</answer><eos>", STYLE_DIRECT, 0 },
        { "<think>1+2=3 $EK 0 1+1=2</think><answer>023</answer><eos>", STYLE_CHAIN, 0 },
        { "<think>1+2=3 $JK 0 1+1=2</think><answer>023</answer><eos>", STYLE_CHAIN, 0 },
        { "<think>1+2=3 $EC 1+2=3 $EO</think><answer>3</answer><eos>", STYLE_CHECKED, 1 },
        { "<think>1+2=4 $JC 1+2=3 $JW 3</think><answer>3</answer><eos>", STYLE_CHECKED, 1 },
        { "<think>1+2=4 $EW 3</think><answer>3</answer><eos>", STYLE_CHAIN, 1 },
        { "<think>1+2=4 $JW 3</think><answer>3</answer><eos>", STYLE_CHAIN, 1 },
    };
    n = (int)(sizeof sty / sizeof sty[0]); bad = 0;
    for (int i = 0; i < n; i++) {
        with_words(sty[i].r, buf);
        int s = response_style(buf), f = response_reflects(buf);
        if (s != sty[i].style || f != sty[i].reflects) {
            bad++; fprintf(stderr, "      response_style/reflects(\"%s\") = %d/%d, expected %d/%d\n", buf, s, f, sty[i].style, sty[i].reflects);
        }
    }
    check(bad == 0, "response_style and response_reflects table: %d of %d cases wrong", bad, n);
}

// ----------------------------------------------------------------------------
// 7. GRPO: advantages, the loss against a hand computation, its gradient, clipping, the k3 KL

static double logp_d(const float *z, int V, int target, float tau) { // log softmax(z / tau)[target] in double
    double mx = -1e300, s = 0.0;
    for (int i = 0; i < V; i++) mx = fmax(mx, z[i] / tau);
    for (int i = 0; i < V; i++) s += exp(z[i] / tau - mx);
    return z[target] / tau - mx - log(s);
}

// the FD case: B=4 responses of T=3 tokens, V=5, temperature 0.7, beta 0.05, clip [1 - 0.2, 1 + 0.28]
#define GL_B 4
#define GL_T 3
#define GL_V 5
static float gl_z[GL_B * GL_T * GL_V], gl_w[GL_B * GL_T], gl_adv[GL_B] = { 1.2f, -0.8f, 0.5f, -1.5f };
static float gl_old[GL_B * GL_T], gl_ref[GL_B * GL_T];
static int gl_t[GL_B * GL_T];
static GrpoConfig gl_cfg = { 0.05f, 0.2f, 0.28f, 0.7f };
static double gl_loss(void) {
    float dz[GL_B * GL_T * GL_V], lp[GL_B * GL_T];
    return grpo_loss(dz, lp, gl_z, gl_t, gl_w, gl_adv, gl_old, gl_ref, GL_B, GL_T, GL_V, &gl_cfg, NULL);
}

static void test_grpo(void) {
    // advantages by hand: rewards (1, 0, 0, 1): mean 0.5, unbiased variance (4 * 0.25) / 3 = 1/3 (torch.std, as TRL),
    // std 0.5773503; A = +-0.5 / (0.5773503 + 1e-4) = +-0.8658754
    float r1[8] = { 1, 0, 0, 1, 0.5f, 0.5f, 0.5f, 1.5f }, a1[8];
    grpo_advantages(a1, r1, 2, 4, 1);
    // second group (0.5, 0.5, 0.5, 1.5): mean 0.75, var (3 * 0.0625 + 0.5625) / 3 = 0.25, std 0.5: A = (-0.25 x3, 0.75) / 0.5001
    double want1[8] = { 0.8658754, -0.8658754, -0.8658754, 0.8658754, -0.4999000, -0.4999000, -0.4999000, 1.4997001 };
    double e = 0.0;
    for (int i = 0; i < 8; i++) e = fmax(e, fabs(a1[i] - want1[i]));
    check(e < 1e-5, "grpo_advantages by hand, two groups, (r - mean) / (std + 1e-4) with the unbiased std: max error %.2e (tol 1e-5)", e);
    // Dr. GRPO: r - mean only. (1, 0, 0, 1.1): mean 0.525 -> (0.475, -0.525, -0.525, 0.575)
    float r2[4] = { 1, 0, 0, 1.1f }, a2[4];
    grpo_advantages(a2, r2, 1, 4, 0);
    double want2[4] = { 0.475, -0.525, -0.525, 0.575 };
    e = 0.0;
    for (int i = 0; i < 4; i++) e = fmax(e, fabs(a2[i] - want2[i]));
    check(e < 1e-6, "grpo_advantages dr_grpo = r - mean by hand: max error %.2e (tol 1e-6)", e);
    // a group of equal rewards gets exactly 0, no NaN: rewards a real run produces (accuracy + 0.1 format, + language)
    float vals[5] = { 0.0f, 1.0f, 0.1f, 1.1f, 1.0f + 0.1f + 0.1f * 0.7f };
    int Gs[4] = { 16, 8, 6, 5 }, nonzero = 0, nonfinite = 0, cases = 0;
    float worst = 0.0f;
    for (int gi = 0; gi < 4; gi++) for (int vi = 0; vi < 5; vi++) for (int std = 0; std < 2; std++) {
        float r[16] = { 0 }, a[16];
        for (int i = 0; i < Gs[gi]; i++) r[i] = vals[vi];
        grpo_advantages(a, r, 1, Gs[gi], std);
        cases++;
        for (int i = 0; i < Gs[gi]; i++) {
            if (!isfinite(a[i])) nonfinite++;
            else if (a[i] != 0.0f) { nonzero++; if (fabsf(a[i]) > worst) worst = fabsf(a[i]); }
        }
    }
    check(nonzero == 0 && nonfinite == 0, "grpo_advantages: equal rewards give exactly 0 (G 16/8/6/5, rewards 0, 1, 0.1, 1.1, 1.17, "
          "with and without std): %d nonzero (largest |A| %.3g), %d not finite, over %d groups", nonzero, worst, nonfinite, cases);

    // the loss by hand: one response (A = 1.5) of two tokens, V = 3, temperature 1, beta 0.1, eps 0.2/0.2, w = 0.5 each
    //  token 0: z = (1, 2, 0), target 1: logp = 2 - log(e + e^2 + 1) = 2 - 2.4076060 = -0.4076060
    //           old -0.5: ratio = exp(0.0923940) = 1.0967969 (inside [0.8, 1.2]): surrogate = 1.5 * 1.0967969 = 1.6451954
    //           ref -0.3: d = ref - logp = 0.1076060, kl = e^d - d - 1 = 0.0060029
    //  token 1: z = (0, 0, 0), target 0: logp = -log 3 = -1.0986123
    //           old -1.5: ratio = exp(0.4013877) = 1.4938964 > 1.2, A > 0: surrogate = min(1.4938964, 1.2) * 1.5 = 1.8
    //           ref -1.0: d = 0.0986123, kl = 0.0050260
    //  loss = -0.5 (1.6451954 - 0.1 * 0.0060029) - 0.5 (1.8 - 0.1 * 0.0050260) = -1.7220462
    {
        float z[6] = { 1, 2, 0, 0, 0, 0 }, w[2] = { 0.5f, 0.5f }, adv[1] = { 1.5f }, old[2] = { -0.5f, -1.5f }, ref[2] = { -0.3f, -1.0f };
        float dz[6], lp[2];
        int tg[2] = { 1, 0 };
        GrpoConfig g = { 0.1f, 0.2f, 0.2f, 1.0f };
        GrpoStats st = {0};
        float loss = grpo_loss(dz, lp, z, tg, w, adv, old, ref, 1, 2, 3, &g, &st);
        double el = fabs(loss + 1.7220462), ep = fmax(fabs(lp[0] + 0.4076060), fabs(lp[1] + 1.0986123));
        check(el < 1e-5 && ep < 1e-6, "grpo_loss by hand: loss %.7f (expected -1.7220462, tol 1e-5), logp %.7f %.7f (expected -0.4076060 -1.0986123)",
              loss, lp[0], lp[1]);
        check(st.clipped == 1.0 && fabs(st.kl - 0.0110289) < 1e-6 && st.tokens == 2.0,
              "grpo_loss stats by hand: clipped %g (expected 1), kl sum %.7f (expected 0.0110289), tokens %g (expected 2)",
              st.clipped, st.kl, st.tokens);
        // temperature: logits (2, 4, 0) at temperature 2 are (1, 2, 0) at temperature 1
        float z2[6] = { 2, 4, 0, 0, 0, 0 };
        g.temperature = 2.0f;
        grpo_loss(dz, lp, z2, tg, w, adv, old, ref, 1, 2, 3, &g, NULL);
        check(fabs(lp[0] + 0.4076060) < 1e-6, "grpo_loss divides logits by the temperature: logp %.7f (expected -0.4076060, tol 1e-6)", lp[0]);
    }

    // the gradient against finite differences, ratios inside and outside the clip range, both signs of A
    for (int i = 0; i < GL_B * GL_T * GL_V; i++) gl_z[i] = 1.5f * rng_normal(&g_rng);
    float ratios[GL_B * GL_T] = { 1.05f, 1.6f, 0.5f,     // A > 0: inside, above (clipped), below (not clipped)
                                  0.95f, 0.5f, 1.6f,     // A < 0: inside, below (clipped), above (not clipped)
                                  0.9f, 1.0f, 1.2f,      // A > 0: inside
                                  0.7f, 1.1f, 1.5f };    // A < 0: below (clipped), inside, above
    for (int n = 0; n < GL_B * GL_T; n++) {
        gl_t[n] = rng_int(&g_rng, GL_V);
        gl_w[n] = n == 4 ? 0.0f : 0.1f + rng_f32(&g_rng);
        double lp = logp_d(gl_z + n * GL_V, GL_V, gl_t[n], gl_cfg.temperature);
        gl_old[n] = (float)(lp - log(ratios[n]));
        gl_ref[n] = (float)(lp + 0.3 * rng_normal(&g_rng));
    }
    float dz[GL_B * GL_T * GL_V], lp[GL_B * GL_T];
    grpo_loss(dz, lp, gl_z, gl_t, gl_w, gl_adv, gl_old, gl_ref, GL_B, GL_T, GL_V, &gl_cfg, NULL);
    fd_report("grpo_loss dlogits (clip, KL, tau 0.7)", fd_compare(gl_z, dz, GL_B * GL_T * GL_V, 1000, gl_loss, 1e-3f, &g_rng));

    // clipping stops the gradient exactly where it should (beta 0): one token per response, A = +1, -1, +1, -1,
    // ratios 1.5, 0.5, 0.5, 1.5 against [0.8, 1.2]: rows 0 and 1 exactly zero, rows 2 and 3 not
    {
        int V = 4, tg[4] = { 0, 1, 2, 3 };
        float z[16], w[4] = { 1, 1, 1, 1 }, adv[4] = { 1, -1, 1, -1 }, rr[4] = { 1.5f, 0.5f, 0.5f, 1.5f }, old[4], d[16], l[4];
        for (int i = 0; i < 16; i++) z[i] = rng_normal(&g_rng);
        for (int n = 0; n < 4; n++) old[n] = (float)(logp_d(z + n * V, V, tg[n], 1.0f) - log(rr[n]));
        GrpoConfig g = { 0.0f, 0.2f, 0.2f, 1.0f };
        grpo_loss(d, l, z, tg, w, adv, old, NULL, 4, 1, V, &g, NULL);
        float m0 = max_abs_f(d, 4), m1 = max_abs_f(d + 4, 4), m2 = max_abs_f(d + 8, 4), m3 = max_abs_f(d + 12, 4);
        check(m0 == 0.0f && m1 == 0.0f && m2 > 1e-3f && m3 > 1e-3f,
              "grpo_loss clipping: max|dlogits| A>0 ratio 1.5: %g (want 0), A<0 ratio 0.5: %g (want 0), A>0 ratio 0.5: %.3g, "
              "A<0 ratio 1.5: %.3g (want > 1e-3)", m0, m1, m2, m3);
    }

    // the k3 KL: exp(d) - d - 1 with d = ref - logp: 0 at equality, never negative, equal to the formula (sweep d in [-5, 5])
    {
        float z[3] = { 0.3f, -1.2f, 2.0f }, w[1] = { 1.0f }, adv[1] = { 0.0f }, d3[3], l1[1], ref[1];
        int tg[1] = { 1 };
        GrpoConfig g = { 1.0f, 0.2f, 0.2f, 1.0f };
        grpo_loss(d3, l1, z, tg, w, adv, NULL, NULL, 1, 1, 3, &g, NULL);
        ref[0] = l1[0];
        GrpoStats st = {0};
        float loss0 = grpo_loss(d3, l1, z, tg, w, adv, NULL, ref, 1, 1, 3, &g, &st);
        check(st.kl == 0.0 && loss0 == 0.0f && max_abs_f(d3, 3) == 0.0f, "k3 KL at ref == policy: kl %g, loss %g, max|grad| %g (want exactly 0)",
              st.kl, loss0, max_abs_f(d3, 3));
        double worst_rel = 0.0, min_kl = 1e30;
        for (int k = -20; k <= 20; k++) {
            double dd = 0.25 * k;
            ref[0] = (float)(l1[0] + dd);
            GrpoStats s2 = {0};
            float loss = grpo_loss(d3, l1, z, tg, w, adv, NULL, ref, 1, 1, 3, &g, &s2);
            double dref = (double)ref[0] - l1[0], want = exp(dref) - dref - 1.0;
            worst_rel = fmax(worst_rel, fabs(s2.kl - want) / (1e-6 + want));
            worst_rel = fmax(worst_rel, fabs(loss - want) / (1e-6 + want)); // A = 0: loss = beta kl
            min_kl = fmin(min_kl, s2.kl);
        }
        check(min_kl >= 0.0 && worst_rel < 1e-3, "k3 KL sweep d in [-5, 5]: min kl %.3g (want >= 0), max rel error vs exp(d)-d-1 %.2e (tol 1e-3)",
              min_kl, worst_rel);
    }

    // mu = 1 (old_logp NULL): ratio exactly 1, so with beta 0 the loss is -sum w A, and the gradient equals the one with
    // old_logp == logp, and -w A (onehot - p) / tau
    {
        int B = 3, T = 2, V = 4, tg[6] = { 0, 3, 1, 1, 2, 0 };
        float z[24], w[6] = { 0.25f, 0.5f, 0.0f, 1.0f, 0.125f, 2.0f }, adv[3] = { 0.7f, -1.3f, 0.4f }, d1[24], d2[24], l[6];
        for (int i = 0; i < 24; i++) z[i] = rng_normal(&g_rng);
        GrpoConfig g = { 0.0f, 0.2f, 0.2f, 0.8f };
        float loss = grpo_loss(d1, l, z, tg, w, adv, NULL, NULL, B, T, V, &g, NULL);
        double want = 0.0, gerr = 0.0;
        for (int n = 0; n < B * T; n++) {
            want -= (double)w[n] * adv[n / T];
            double mx = -1e300, s = 0.0;
            for (int i = 0; i < V; i++) mx = fmax(mx, z[n * V + i] / 0.8);
            for (int i = 0; i < V; i++) s += exp(z[n * V + i] / 0.8 - mx);
            for (int i = 0; i < V; i++) {
                double p = exp(z[n * V + i] / 0.8 - mx) / s;
                gerr = fmax(gerr, fabs(d1[n * V + i] - (-(double)w[n] * adv[n / T] * ((i == tg[n]) - p) / 0.8)));
            }
        }
        float old[6];
        memcpy(old, l, sizeof old);
        grpo_loss(d2, l, z, tg, w, adv, old, NULL, B, T, V, &g, NULL);
        check(fabs(loss - want) < 1e-6 && gerr < 1e-6 && memcmp(d1, d2, sizeof d1) == 0,
              "grpo_loss with old_logp NULL: loss %.7f = -sum w A = %.7f (tol 1e-6), gradient vs -wA(onehot-p)/tau %.2e (tol 1e-6), "
              "equal to old_logp == logp", loss, want, gerr);
    }
}

// ----------------------------------------------------------------------------
// 8. data loading errors, 9. option parsing errors: each in a forked child

typedef struct { const char *path; int context, kind; } LoadArg; // kind 0 corpus, 1 prompts, 2 sft
static void child_load(const void *arg) {
    const LoadArg *a = arg;
    Data d = a->kind == 0 ? load_corpus(a->path, a->context) : a->kind == 1 ? load_prompts(a->path, a->context)
                                                                            : load_sft(a->path, a->context);
    data_free(&d);
}

static void load_case(const char *name, const char *file, const char *content, int context, int kind,
                      const char *want1, const char *want2) {
    const char *path = tmp_path(file);
    if (content) write_whole(path, content, strlen(content));
    LoadArg a = { path, context, kind };
    char w1[300];
    snprintf(w1, sizeof w1, "%s%s", path, want1);  // the message names the file (and the line)
    expect_die(name, child_load, &a, w1, want2);
}

static void test_data_errors(void) {
    const char *ok = "e:12+34=<think></think><answer>046</answer><eos>\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "%se:12+34=<think>X</think><answer>046</answer><eos>\n", ok);
    load_case("corpus with an unknown character", "c1.txt", buf, 64, 0, ":2", "'X'");
    load_case("empty corpus", "c2.txt", "", 64, 0, "", "empty");
    load_case("missing corpus file", "c3_missing.txt", NULL, 64, 0, "", "No such file");
    load_case("corpus line longer than the context", "c4.txt", ok, 12, 0, ":1", "longer than the context");
    snprintf(buf, sizeof buf, "%s\n%s", ok, ok);
    load_case("corpus with an empty line", "c5.txt", buf, 64, 0, ":2", "empty");
    load_case("prompts: missing field", "p1.txt", "e:12+34=\t46\t2\ne:12+34=\t46\n", 64, 1, ":2", "expected prompt");
    load_case("prompts: answer not a number", "p2.txt", "e:12+34=\tforty\t2\n", 64, 1, ":1", "forty");
    load_case("prompts: difficulty not a number", "p3.txt", "e:12+34=\t46\tx\n", 64, 1, ":1", "difficulty");
    load_case("prompts: unknown character", "p4.txt", "e:12+34=\t46\t2\ne:12+3?=\t15\t2\n", 64, 1, ":2", "'?'");
    load_case("prompts: no language tag", "p5.txt", "12+34=\t46\t2\n", 64, 1, ":1", "language");
    load_case("prompts: longer than the context", "p6.txt", "e:12+34+56+78+90=\t310\t5\n", 10, 1, ":1", "longer than the context");
    load_case("empty prompts file", "p7.txt", "", 64, 1, "", "empty");
    load_case("sft: missing tab", "s1.txt", ok, 64, 2, ":1", "expected prompt");
    load_case("sft: prompt + response longer than the context", "s2.txt", "e:12+34=\t<think></think><answer>046</answer><eos>\n",
              12, 2, ":1", "longer than the context");
    // a difficulty beyond int used to wrap (4294967298 loaded as 2)
    load_case("prompts: difficulty 4294967298", "p8.txt", "e:12+34=\t46\t4294967298\n", 64, 1, ":1", "difficulty");
    // found by fuzzing (fuzz/fuzz_data.c, its input verbatim): a NUL byte in a line used to end the line
    // there silently, here cutting an SFT response short
    static const char nul_line[] = "e:72+43+21+61=\t<think>02+03+11+01=07 carry 0 07+04+02+06+00=19 check 05\0"
        "02 07 okay 006+00=19 chec\xe4\xe4\xe4\xe4\xe4\xe4\xe4\xe4\xe4\xe4" "k 05 02 07 okay 07 check 117 check 1\x02" "1 08";
    const char *np = tmp_path("s3.txt");
    write_whole(np, nul_line, sizeof nul_line - 1);
    LoadArg na = { np, 135, 2 };
    snprintf(buf, sizeof buf, "%s:1", np);
    expect_die("sft: a NUL byte in a line (a fuzzer input)", child_load, &na, buf, "NUL byte");
}

static int opt_steps = 5, opt_flag = 0;
static float opt_lr = 0.1f;
static const char *opt_name = "x";
static void child_options(const void *arg) {
    char **argv = (char **)arg;
    int argc = 0;
    while (argv[argc]) argc++;
    Option o[] = {
        { "steps", 'i', &opt_steps, 1, 100, "steps" },
        { "lr", 'f', &opt_lr, 0, 1, "learning rate" },
        { "name", 's', &opt_name, 0, 0, "a name" },
        { "flag", 'b', &opt_flag, 0, 0, "a flag" },
    };
    options_parse("test", "a test", o, 4, argc, argv);
}

// every command's own table: an unknown option, a missing value, a value out of range (each first on
// its command line, so the command dies before doing anything)
typedef struct { const char *cmd; void (*fn)(int, char **); char *argv[3]; const char *want; } CmdCase;
static void child_cmd(const void *arg) {
    const CmdCase *c = arg;
    int argc = 0;
    while (c->argv[argc]) argc++;
    c->fn(argc, (char **)c->argv);
}

static void test_command_options(void) {
    static const CmdCase cases[] = {
        { "gen", cmd_gen, { "--bogus" }, "unknown option" },
        { "gen", cmd_gen, { "--seed" }, "needs a value" },
        { "gen", cmd_gen, { "--seed", "-1" }, "out of range" },
        { "pretrain", cmd_pretrain, { "--lr-max", "1" }, "unknown option" },
        { "pretrain", cmd_pretrain, { "--batch" }, "needs a value" },
        { "pretrain", cmd_pretrain, { "--batch", "0" }, "out of range" },
        { "sft", cmd_sft, { "--epochs", "2" }, "unknown option" },
        { "sft", cmd_sft, { "--init" }, "needs a value" },
        { "sft", cmd_sft, { "--lr", "2" }, "out of range" },
        { "eval", cmd_eval, { "--n", "3" }, "unknown option" },
        { "eval", cmd_eval, { "--k" }, "needs a value" },
        { "eval", cmd_eval, { "--k", "65" }, "out of range" },
        { "sample", cmd_sample, { "--top-p", "0.9" }, "unknown option" },
        { "sample", cmd_sample, { "--prompt" }, "needs a value" },
        { "sample", cmd_sample, { "--temperature", "11" }, "out of range" },
        { "zero", cmd_zero, { "--kl", "0.1" }, "unknown option" },
        { "zero", cmd_zero, { "--beta" }, "needs a value" },
        { "zero", cmd_zero, { "--num-generations", "1" }, "out of range" },
        { "grpo", cmd_grpo, { "--group-size", "8" }, "unknown option" },
        { "grpo", cmd_grpo, { "--loss-type" }, "needs a value" },
        { "grpo", cmd_grpo, { "--epsilon", "-0.1" }, "out of range" },
        { "rejsample", cmd_rejsample, { "--keep", "1" }, "unknown option" },
        { "rejsample", cmd_rejsample, { "--max-len" }, "needs a value" },
        { "rejsample", cmd_rejsample, { "--max-len", "0" }, "out of range" },
        { "distill", cmd_distill, { "--tau", "2" }, "unknown option" },
        { "distill", cmd_distill, { "--mode" }, "needs a value" },
        { "distill", cmd_distill, { "--alpha", "1.5" }, "out of range" },
        { "pipeline", cmd_pipeline, { "--stages", "2" }, "unknown option" },
        { "pipeline", cmd_pipeline, { "--scale" }, "needs a value" },
        { "pipeline", cmd_pipeline, { "--scale", "0" }, "out of range" },
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        char name[100], who[40];
        snprintf(name, sizeof name, "r1 %s %s %s", cases[i].cmd, cases[i].argv[0], cases[i].argv[1] ? cases[i].argv[1] : "");
        snprintf(who, sizeof who, "%s: ", cases[i].cmd);
        expect_die(name, child_cmd, &cases[i], who, cases[i].want);
    }
}

static void test_options(void) {
    static char *cases[][4] = {
        { "--bogus", NULL }, { "--steps", NULL }, { "--steps", "1000", NULL }, { "--steps", "0", NULL },
        { "--steps", "-3", NULL }, { "--lr", "abc", NULL }, { "--lr", "1e-3x", NULL }, { "--lr", "nan", NULL },
        { "--steps", "2.5", NULL }, { "stray", NULL }, { "--lr", "", NULL },
    };
    const char *want[] = { "unknown option", "needs a value", "out of range", "out of range", "out of range", "not a number",
                           "not a number", "not a number", "not an integer", "unexpected argument", "not a number" };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        char name[100];
        snprintf(name, sizeof name, "options: %s %s", cases[i][0], cases[i][1] ? cases[i][1] : "");
        expect_die(name, child_options, cases[i], want[i], NULL);
    }
    static char *good[] = { "--steps", "7", "--lr", "0.5", "--name", "abc", "--flag", "--steps", "1e1", NULL };
    child_options(good);
    check(opt_steps == 10 && opt_lr == 0.5f && strcmp(opt_name, "abc") == 0 && opt_flag == 1,
          "options: valid arguments parsed (steps %d, lr %g, name %s, flag %d; expected 10, 0.5, abc, 1)", opt_steps, opt_lr, opt_name, opt_flag);
}

// ----------------------------------------------------------------------------
// the optimizer pieces by hand: AdamW, gradient clipping, the schedule, aux-loss-free balancing

static void test_optimizer(void) {
    Model *m = model_create(&find_preset("tiny")->cfg, "tiny", 1);
    for (size_t i = 0; i < m->num_params; i++) { m->params_mem[i] = 2.0f; m->grads_mem[i] = 0.5f; }
    // one AdamW step, t = 1, g = 0.5, beta1 0.9, beta2 0.95: m = 0.05, v = 0.0125, mhat = 0.5, vhat = 0.25,
    // mhat / sqrt(vhat) = 1; lr 0.1, weight decay 0.1: a matrix 2 - 0.1 (1 + 0.1 * 2) = 1.88, a norm weight 2 - 0.1 = 1.9
    adamw_update(m, 0.1f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    float wq = m->params.layer[0].wq[3], nrm = m->params.layer[0].attn_norm[3], kvn = m->params.layer[1].kv_norm[0];
    check(fabsf(wq - 1.88f) < 1e-6f && fabsf(nrm - 1.9f) < 1e-6f && fabsf(kvn - 1.9f) < 1e-6f && fabsf(m->params.norm_f[0] - 1.9f) < 1e-6f,
          "AdamW step by hand: matrix %.6f (expected 1.88), norm weights %.6f %.6f %.6f (expected 1.9, no decay)",
          wq, nrm, kvn, m->params.norm_f[0]);
    // clipping: all gradients 1, norm sqrt(P); clipped to 1 every element is 1 / sqrt(P)
    for (size_t i = 0; i < m->num_params; i++) m->grads_mem[i] = 1.0f;
    float norm = grad_clip(m, 1.0f);
    double want = sqrt((double)m->num_params);
    check(fabs(norm - want) < 1e-3 && fabs(m->grads_mem[5] - 1.0 / want) < 1e-7, "grad_clip by hand: norm %.4f (expected %.4f), "
          "element %.7f (expected %.7f)", norm, want, m->grads_mem[5], 1.0 / want);
    // a NaN or Inf gradient: the norm is not finite (the trainers stop on it) and the tensor is named
    memset(m->grads_mem, 0, m->num_params * sizeof(float));
    m->grads.layer[1].ew3[5] = NAN;
    float nan_norm = grad_clip(m, 1.0f);
    const char *nan_name = nonfinite_grad_tensor(m);
    m->grads.layer[1].ew3[5] = 0.0f;
    m->grads.head[7] = INFINITY;
    float inf_norm = grad_clip(m, 1.0f);
    const char *inf_name = nonfinite_grad_tensor(m);
    check(!isfinite(nan_norm) && strcmp(nan_name, "l1.ew3") == 0 && !isfinite(inf_norm) && strcmp(inf_name, "head") == 0,
          "a NaN gradient in l1.ew3, an Inf in head: norms %g and %g (want not finite), named %s and %s", nan_norm, inf_norm,
          nan_name, inf_name);
    // warmup 10 of 110 steps, lr 1 -> 0.1: step 0: 0.1, step 9: 1, step 10: 1, step 60: 0.1 + 0.45 (1 + cos(pi/2)) = 0.55, 110: 0.1
    float s0 = lr_schedule(0, 110, 10, 1.0f, 0.1f), s9 = lr_schedule(9, 110, 10, 1.0f, 0.1f), s10 = lr_schedule(10, 110, 10, 1.0f, 0.1f);
    float s60 = lr_schedule(60, 110, 10, 1.0f, 0.1f), s110 = lr_schedule(110, 110, 10, 1.0f, 0.1f);
    double e = fmax(fmax(fabs(s0 - 0.1), fabs(s9 - 1.0)), fmax(fmax(fabs(s10 - 1.0), fabs(s60 - 0.55)), fabs(s110 - 0.1)));
    check(e < 1e-5, "lr_schedule by hand (warmup, cosine): %.4f %.4f %.4f %.4f %.4f, max error %.2e (tol 1e-5)", s0, s9, s10, s60, s110, e);
    // balancing: loads (3, 1, 2, 2), mean 2, 8 routed of a full batch of B x context x top_k = 1 x 16 x 2 = 32:
    // b += gamma (8 / 32) sign(mean - load) = 0.01 x 0.25 x (-1, +1, 0, 0); the dense layer 0 untouched
    memset(m->router_bias, 0, sizeof m->router_bias);
    float loads[4] = { 3, 1, 2, 2 };
    for (int e2 = 0; e2 < 4; e2++) { m->expert_load[1][e2] = loads[e2]; m->expert_load[0][e2] = loads[e2]; }
    m->B = 1;
    router_bias_update(m, 0.01f);
    float *b1 = m->router_bias[1];
    check(m->cfg.context == 16 && m->cfg.top_k == 2 && b1[0] == -0.0025f && b1[1] == 0.0025f && b1[2] == 0.0f && b1[3] == 0.0f &&
          m->router_bias[0][0] == 0.0f && m->expert_load[1][0] == 0.0f,
          "router_bias_update by hand: (%g, %g, %g, %g), expected (-0.0025, 0.0025, 0, 0); loads reset", b1[0], b1[1], b1[2], b1[3]);
    model_free(m);
}

// ----------------------------------------------------------------------------
// 10. a short pretraining run whose loss falls, 12. determinism and exact resume.
// The tiny preset's context (16) is shorter than the corpus's documents, so the runs start from a
// checkpoint of the tiny config with context 96 (train_lm --init) and use the 200 first lines of
// tiny_data/pretrain.txt that fit it.

#define RUN_CTX 96

static Model *train_quietly(const TrainOptions *o, Data *d) { // train_lm with its progress lines silenced
    fflush(stdout);
    int saved = dup(1), dn = open("/dev/null", O_WRONLY);
    if (dn >= 0) { dup2(dn, 1); close(dn); }
    Model *m = train_lm(o, d, "test");
    fflush(stdout);
    if (saved >= 0) { dup2(saved, 1); close(saved); }
    return m;
}

// mean of column `name` of a log.csv over rows [from, to)
static double log_mean(const char *dir, const char *name, int from, int to, int *rows) {
    char path[400], line[1024];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = fopen(path, "r");
    *rows = 0;
    if (!f || !fgets(line, sizeof line, f)) { if (f) fclose(f); return NAN; }
    int col = -1, c = 0;
    for (char *tok = strtok(line, ",\n"); tok; tok = strtok(NULL, ",\n"), c++) if (strcmp(tok, name) == 0) col = c;
    double sum = 0.0;
    int n = 0, row = 0;
    while (col >= 0 && fgets(line, sizeof line, f)) {
        char *p = line;
        for (int k = 0; k < col && p; k++) { p = strchr(p, ','); if (p) p++; }
        if (p && row >= from && row < to) { sum += atof(p); n++; }
        row++;
    }
    fclose(f);
    *rows = row;
    return n ? sum / n : NAN;
}

static TrainOptions nan_opts;
static Data *nan_data;
static void child_train(const void *arg) { (void)arg; train_lm(&nan_opts, nan_data, "test"); }

static int same_state(const Model *a, const Model *b) {
    size_t nb = a->num_params * sizeof(float);
    return a->num_params == b->num_params && memcmp(a->params_mem, b->params_mem, nb) == 0 &&
           memcmp(a->m_mem, b->m_mem, nb) == 0 && memcmp(a->v_mem, b->v_mem, nb) == 0 &&
           memcmp(a->router_bias, b->router_bias, sizeof a->router_bias) == 0 && a->step == b->step;
}

// 12c. resume after a kill. The run is killed (SIGKILL, in a forked child) at the rename of one of its
// checkpoints, the moment a crash would do the most harm: the temporary file is written, the previous
// checkpoint is the last good one. Resumed with the same options, it must end bit-identical to the
// run never killed (parameters, AdamW moments, router biases, step) with the same log.csv.

// compares two runs' log.csv: header and rows, every column but those named in skip (timings);
// returns 0 if equal, else the first differing line (1 = header); *na, *nb: the data rows of each
static int log_diff(const char *dir_a, const char *dir_b, const char *skip, int *na, int *nb) {
    char path[400];
    snprintf(path, sizeof path, "%s/log.csv", dir_a);
    char *a = read_whole(path, NULL);
    snprintf(path, sizeof path, "%s/log.csv", dir_b);
    char *b = read_whole(path, NULL);
    *na = *nb = 0;
    if (!a || !b) { free(a); free(b); return 1; }
    int skipped[64] = {0}, diff = 0, line = 1;
    char *pa = a, *pb = b;
    while (*pa || *pb) {
        char *ea = pa + strcspn(pa, "\n"), *eb = pb + strcspn(pb, "\n");
        if (line > 1) { *na += *pa != 0; *nb += *pb != 0; }
        // field by field
        int col = 0;
        char *fa = pa, *fb = pb;
        for (;;) {
            size_t la = strcspn(fa, ",\n"), lb = strcspn(fb, ",\n");
            if (line == 1) { // the header: which columns to skip
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)la, fa);
                for (const char *s = strstr(skip, name); s && col < 64; s = strstr(s + 1, name))
                    if ((s == skip || s[-1] == ',') && (s[la] == ',' || s[la] == 0)) skipped[col] = 1;
            }
            if (!diff && (col >= 64 || !skipped[col]) && (la != lb || strncmp(fa, fb, la) != 0)) diff = line;
            fa += la; fb += lb;
            if (*fa != ',' && *fb != ',') break;
            if (*fa != ',' || *fb != ',') { if (!diff) diff = line; break; }
            fa++; fb++; col++;
        }
        pa = *ea ? ea + 1 : ea;
        pb = *eb ? eb + 1 : eb;
        line++;
    }
    free(a); free(b);
    return diff;
}

typedef struct { TrainOptions o; Data *d; int kill_at; } KilledTrain;
static void child_train_killed(const void *arg) {
    const KilledTrain *k = arg;
    kill_at_rename = k->kill_at;
    train_lm(&k->o, k->d, "test");
}

static int ckpt_step(const char *dir) { // the step of DIR/model.bin, -1 if it does not load
    char path[400];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    char err[4096];
    if (run_child(child_load_ckpt, path, err, sizeof err) != 0) return -1;
    Model *m = checkpoint_load(path, NULL, NULL);
    int step = m->step;
    model_free(m);
    return step;
}

// train_lm (pretrain or sft): 16 steps, warmup 3 + cosine, a checkpoint every 5 steps; killed at its
// third rename (the step-15 checkpoint), resumed from step 10 to 16
static void resume_case(const char *name, TrainOptions t, Data *d) {
    char straight[300], killed[300], tmp[320];
    snprintf(straight, sizeof straight, "%s/%s_straight", tmp_root, name);
    snprintf(killed, sizeof killed, "%s/%s_killed", tmp_root, name);
    t.steps = 16; t.save_every = 5; t.warmup = 3; t.resume = 0;
    t.out = straight;
    Model *a = train_quietly(&t, d);
    t.out = killed;
    KilledTrain k = { t, d, 3 };
    char err[4096];
    int st = run_child(child_train_killed, &k, err, sizeof err);
    int step_left = ckpt_step(killed);
    snprintf(tmp, sizeof tmp, "%s/model.bin.tmp", killed);
    int stale_tmp = access(tmp, F_OK) == 0;
    t.resume = 1;
    Model *b = train_quietly(&t, d);
    int na, nb, diff = log_diff(straight, killed, "tokens_per_s,elapsed_s,load_avg_max,load_avg_min", &na, &nb);
    check(st == -1 && step_left == 10 && stale_tmp && same_state(a, b) && diff == 0 && na == 16 && nb == 16,
          "%s: killed while saving step 15 (killed %d, checkpoint left at step %d, stale .tmp %d), resumed to 16: "
          "bit-identical to 16 steps straight %d (params, moments, router biases, step %d vs %d); log.csv equal but for "
          "timings and load averages (first differing line %d, rows %d and %d, want 16)", name, st == -1, step_left,
          stale_tmp, same_state(a, b), b->step, a->step, diff, na, nb);
    model_free(a); model_free(b);
}

static Model *grpo_quietly(const GrpoOptions *o) {
    fflush(stdout);
    int saved = dup(1), dn = open("/dev/null", O_WRONLY);
    if (dn >= 0) { dup2(dn, 1); close(dn); }
    Model *m = grpo_train(o);
    fflush(stdout);
    if (saved >= 0) { dup2(saved, 1); close(saved); }
    return m;
}

typedef struct { GrpoOptions o; int kill_at; } KilledGrpo;
static void child_grpo_killed(const void *arg) {
    const KilledGrpo *k = arg;
    kill_at_rename = k->kill_at;
    grpo_train(&k->o);
}

// GRPO: 6 steps of 2 prompts x 4, mu = 2, a KL reference reset every 2 steps, held-out evaluation every
// 3; a checkpoint every step, and the reference at each reset (ref_2.bin before model.bin at step 2):
// renames 1:s1 2:ref2 3:s2 4:s3 5:ref4 6:s4 7:s5. Killed at the 7th, resumed from step 4 (whose
// reference is the policy at step 4) to 6
static void test_grpo_resume(const char *init) {
    GrpoOptions g = grpo_defaults();
    char straight[300], killed[300];
    snprintf(straight, sizeof straight, "%s/grpo_straight", tmp_root);
    snprintf(killed, sizeof killed, "%s/grpo_killed", tmp_root);
    g.init = init; g.rewards = "accuracy,format,language"; g.language_weight = 0.1f;
    g.steps = 6; g.prompts_per_step = 2; g.num_generations = 4; g.num_iterations = 2; g.beta = 0.04f; g.ref_reset = 2;
    g.eval_every = 3; g.eval_prompts = 2; g.eval_k = 2; g.seed = 5; g.lr = 1e-3f;
    g.out = straight;
    Model *a = grpo_quietly(&g);
    g.out = killed;
    KilledGrpo k = { g, 7 };
    char err[4096];
    int st = run_child(child_grpo_killed, &k, err, sizeof err);
    int step_left = ckpt_step(killed);
    g.resume = 1;
    Model *b = grpo_quietly(&g);
    int na, nb, diff = log_diff(straight, killed, "tokens_per_s,elapsed_s", &na, &nb);
    check(st == -1 && step_left == 4 && same_state(a, b) && diff == 0 && na == 7 && nb == 7,
          "grpo: killed while saving step 5 (killed %d, checkpoint left at step %d), resumed to 6: bit-identical to 6 "
          "steps straight %d (params, moments, router biases, step %d vs %d); log.csv equal but for timings (first "
          "differing line %d, rows %d and %d, want 7)", st == -1, step_left, same_state(a, b), b->step, a->step, diff, na, nb);
    model_free(a); model_free(b);
}

static void test_training(void) {
    // the corpus: the first 200 documents of tiny_data/pretrain.txt that fit the context
    FILE *in = fopen("tiny_data/pretrain.txt", "r");
    char *corpus = mallocCheck(200 * 512), line[600];
    int n = 0, o = 0, ids[600];
    while (in && n < 200 && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = 0;
        char bad;
        int len = encode(line, ids, 600, &bad);
        if (len > 0 && len <= RUN_CTX) { o += sprintf(corpus + o, "%s\n", line); n++; }
    }
    if (in) fclose(in);
    const char *cpath = tmp_path("corpus.txt"), *init = tmp_path("init.bin");
    write_whole(cpath, corpus, (size_t)o);
    free(corpus);
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = RUN_CTX;
    Model *m0 = model_create(&cfg, "tiny", 7);
    checkpoint_save(init, m0, 0, 0, 0);
    model_free(m0);
    Data d = load_corpus(cpath, RUN_CTX);

    // 10. the loss falls: 60 steps of 16 documents
    char dir[300];
    snprintf(dir, sizeof dir, "%s/pre", tmp_root);
    TrainOptions t = { .data = cpath, .out = dir, .preset = "tiny", .init = init, .steps = 60, .batch = 16, .warmup = 5,
                       .seed = 3, .log_every = 1000, .save_every = 0, .resume = 0, .lr = 1e-2f, .lr_min = 1e-3f,
                       .weight_decay = 0.0f, .clip = 1.0f, .bias_gamma = 1e-3f, .balance_alpha = 0.0f };
    double t0 = now_seconds();
    Model *m = train_quietly(&t, &d);
    double el = now_seconds() - t0;
    int rows = 0;
    double first = log_mean(dir, "loss", 0, 10, &rows), last = log_mean(dir, "loss", 50, 60, &rows);
    check(n == 200 && rows == 60 && last < 0.75 * first, "pretraining run (tiny, context %d, 200 documents, 60 steps, %.1f s): "
          "mean loss of steps 1-10 %.3f, of steps 51-60 %.3f (want < 0.75 x), log.csv rows %d", RUN_CTX, el, first, last, rows);
    char ck[400];
    snprintf(ck, sizeof ck, "%s/model.bin", dir);
    Model *l = checkpoint_load(ck, NULL, NULL);
    check(same_state(l, m), "pretraining run saved its final state in OUT/model.bin (bit-exact)");
    model_free(l); model_free(m);

    // 12a. determinism: the same run twice, on 2 threads, with the balance loss on: bit-identical
#ifdef _OPENMP
    omp_set_num_threads(2);
#endif
    t.steps = 25; t.balance_alpha = 0.01f;
    snprintf(dir, sizeof dir, "%s/det1", tmp_root);
    Model *a = train_quietly(&t, &d);
    snprintf(dir, sizeof dir, "%s/det2", tmp_root);
    Model *b = train_quietly(&t, &d);
    check(same_state(a, b), "determinism: two identical 25-step runs (2 threads) give bit-identical parameters, moments and router biases");
    model_free(a); model_free(b);
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    // 12b. resume: 10 steps, then --resume to 20, equals 20 steps straight (constant learning rate, so the
    // schedule does not depend on the first run's step count)
    t.steps = 20; t.warmup = 0; t.lr = 5e-3f; t.lr_min = 5e-3f;
    snprintf(dir, sizeof dir, "%s/straight", tmp_root);
    a = train_quietly(&t, &d);
    snprintf(dir, sizeof dir, "%s/resumed", tmp_root);
    t.steps = 10;
    b = train_quietly(&t, &d);
    model_free(b);
    t.steps = 20; t.resume = 1;
    b = train_quietly(&t, &d);
    check(same_state(a, b), "resume: 10 steps + resume to 20 equals 20 steps straight, bit for bit (step %d vs %d)", b->step, a->step);
    model_free(a); model_free(b);
    // a NaN loss stops training with a one-line diagnostic and keeps the last good checkpoint
    Model *bad = checkpoint_load(init, NULL, NULL);
    bad->params.head[0] = NAN;
    const char *nan_init = tmp_path("nan.bin");
    checkpoint_save(nan_init, bad, 0, 0, 0);
    model_free(bad);
    snprintf(dir, sizeof dir, "%s/resumed", tmp_root);  // holds a good model.bin from the resume test
    snprintf(ck, sizeof ck, "%s/model.bin", dir);
    size_t len_before = 0, len_after = 0;
    char *before = read_whole(ck, &len_before);
    nan_opts = t;
    nan_opts.init = nan_init; nan_opts.resume = 0; nan_opts.steps = 5;
    nan_data = &d;
    expect_die("training with a NaN loss stops", child_train, NULL, "loss is", "last good checkpoint");
    char *after = read_whole(ck, &len_after);
    check(before && after && len_before == len_after && memcmp(before, after, len_before) == 0,
          "after the NaN stop the previous checkpoint is intact (%zu bytes before, %zu after)", len_before, len_after);
    free(before); free(after);
    // a checkpoint whose data position is outside the batch pool (checksum right) is refused on resume
    char bad_dir[300];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad_pos", tmp_root);
    make_dirs(bad_dir);
    snprintf(ck, sizeof ck, "%s/model.bin", bad_dir);
    Model *bp_model = checkpoint_load(init, NULL, NULL);
    bp_model->step = 3;
    checkpoint_save(ck, bp_model, 1, 12345, -3);  // before its check: batches read from before the pool
    model_free(bp_model);
    nan_opts = t;
    nan_opts.out = bad_dir; nan_opts.resume = 1; nan_opts.steps = 5;
    expect_die("resume from a checkpoint with its data position out of range", child_train, NULL, "data position", "out of range");
    // 12c. killed while saving, then resumed: pretraining, SFT, GRPO
    TrainOptions rt = t;
    rt.lr = 1e-2f; rt.lr_min = 1e-3f; rt.balance_alpha = 0.01f;
    resume_case("pretrain", rt, &d);
    // SFT: the first 60 pairs of the cold start, from a tiny model with context 128 (the pairs are 111+ tokens)
    const char *sinit = tmp_path("init128.bin");
    cfg.context = 128;
    m0 = model_create(&cfg, "tiny", 8);
    checkpoint_save(sinit, m0, 0, 0, 0);
    model_free(m0);
    in = fopen("tiny_data/coldstart.txt", "r");
    char *pairs = mallocCheck(60 * 600);
    n = 0; o = 0;
    while (in && n < 60 && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t'), bad;
        if (!tab) continue;
        *tab = 0;
        int lp = encode(line, ids, 600, &bad), lr = encode(tab + 1, ids, 600, &bad);
        *tab = '\t';
        if (lp > 0 && lr > 0 && lp + lr <= 128) { o += sprintf(pairs + o, "%s\n", line); n++; }
    }
    if (in) fclose(in);
    const char *spath = tmp_path("sft.txt");
    write_whole(spath, pairs, (size_t)o);
    free(pairs);
    Data sd = load_sft(spath, 128);
    rt.data = spath; rt.init = sinit; rt.batch = 8;
    resume_case("sft", rt, &sd);
    data_free(&sd);
    test_grpo_resume(init);
    data_free(&d);
}

// ----------------------------------------------------------------------------
// 11. a toy GRPO loop whose reward rises: the tiny model, two prompts, 16 samples each (generate with
// the KV cache, temperature 1), reward 1 if the response starts with a digit; grpo_advantages,
// grpo_loss with mu = 2 updates per batch (the second with the ratio to pi_old), AdamW

static double p_digit(Model *m, const int *ids, int len) { // probability that the next token is a digit
    model_forward(m, ids, 1, len, NULL, 0);
    const float *z = m->logits + (size_t)(len - 1) * m->cfg.vocab;
    double mx = -1e300, s = 0.0, d = 0.0;
    for (int i = 0; i < m->cfg.vocab; i++) mx = fmax(mx, z[i]);
    for (int i = 0; i < m->cfg.vocab; i++) {
        s += exp(z[i] - mx);
        if (i >= N_SPECIAL && ALPHABET[i - N_SPECIAL] >= '0' && ALPHABET[i - N_SPECIAL] <= '9') d += exp(z[i] - mx);
    }
    return d / s;
}

static void test_grpo_loop(void) {
    Model *m = model_create(&find_preset("tiny")->cfg, "tiny", 17);
    const int P = 2, G = 16, N = P * G, L = 12, V = m->cfg.vocab;
    const char *prompts[2] = { "e:12+34=", "j:56+78=" };
    int pids[2][16], plens[2];
    char bad;
    for (int p = 0; p < P; p++) plens[p] = encode(prompts[p], pids[p], 16, &bad);
    int *seqs = mallocCheck((size_t)N * L * sizeof(int)), plen[32], slen[32];
    int *inputs = mallocCheck((size_t)N * L * sizeof(int)), *targets = mallocCheck((size_t)N * L * sizeof(int));
    float *w = mallocCheck((size_t)N * L * sizeof(float)), *logp = mallocCheck((size_t)N * L * sizeof(float));
    float *old = mallocCheck((size_t)N * L * sizeof(float)), reward[32], adv[32];
    GrpoConfig gc = { 0.0f, 0.2f, 0.2f, 1.0f };
    Rng rng = rng_seed(99);
    double before = 0.5 * (p_digit(m, pids[0], plens[0]) + p_digit(m, pids[1], plens[1]));
    double r_first = 0.0, r_last = 0.0;
    const int steps = 30;
    for (int step = 0; step < steps; step++) {
        for (int i = 0; i < N; i++) { plen[i] = plens[i / G]; memcpy(seqs + (size_t)i * L, pids[i / G], plen[i] * sizeof(int)); }
        generate(m, seqs, plen, slen, N, L, 1.0f, &rng);
        double mean_r = 0.0;
        int T = 1;
        for (int i = 0; i < N; i++) {
            int t = seqs[(size_t)i * L + plen[i]];
            reward[i] = t >= N_SPECIAL && ALPHABET[t - N_SPECIAL] >= '0' && ALPHABET[t - N_SPECIAL] <= '9';
            mean_r += reward[i] / N;
            T = imax(T, slen[i] - 1);
        }
        if (step < 5) r_first += mean_r / 5;
        if (step >= steps - 5) r_last += mean_r / 5;
        grpo_advantages(adv, reward, P, G, 1);
        for (int i = 0; i < N; i++) {
            const int *s = seqs + (size_t)i * L;
            for (int t = 0; t < T; t++) {
                inputs[i * T + t] = t < slen[i] ? s[t] : TOK_EOS;
                targets[i * T + t] = t + 1 < slen[i] ? s[t + 1] : TOK_EOS;
                w[i * T + t] = t + 1 >= plen[i] && t + 1 < slen[i] ? 1.0f / ((float)N * (slen[i] - plen[i])) : 0.0f;
            }
        }
        for (int it = 0; it < 2; it++) {
            model_zero_grad(m);
            model_forward(m, inputs, N, T, NULL, 0);
            grpo_loss(m->dlogits, logp, m->logits, targets, w, adv, it ? old : NULL, NULL, N, T, V, &gc, NULL);
            if (it == 0) memcpy(old, logp, (size_t)N * T * sizeof(float));
            model_backward(m);
            grad_clip(m, 1.0f);
            adamw_update(m, 1e-2f, 0.9f, 0.99f, 1e-8f, 0.0f, step * 2 + it + 1);
        }
    }
    double after = 0.5 * (p_digit(m, pids[0], plens[0]) + p_digit(m, pids[1], plens[1]));
    check(after > 0.8 && after > before + 0.3 && r_last > r_first + 0.3,
          "toy GRPO loop (%d steps, 2 prompts x 16): P(response starts with a digit) %.3f -> %.3f (want > 0.8), "
          "mean reward of the first 5 steps %.3f, of the last 5 %.3f", steps, before, after, r_first, r_last);
    free(seqs); free(inputs); free(targets); free(w); free(logp); free(old);
    model_free(m);
}


// the report checkers of section 14, for the pipeline's report
static const char *xml_error(const char *s, char *err, size_t errsz);
static int html_table_rows(const char *html, const char *cls, char label[][64], double num[][8], int *n_num,
                           int max_rows);
static int count_str(const char *s, const char *what);

// ----------------------------------------------------------------------------
// 13. the R1 stages: SFT masks the prompt, rejection sampling keeps what its rules say, the
// distillation loss and its gradient, and a tiny pipeline end to end

// distillation loss in double, written from its definition: per token w * (alpha T^2 KL(p_t || p_s) at
// temperature T + (1 - alpha) CE(softmax(z_s), target))
static double distill_ref(const float *zs, const float *zt, const int *targets, const float *w, int N, int V,
                          double T, double alpha) {
    double loss = 0.0;
    for (int n = 0; n < N; n++) {
        const float *s = zs + (size_t)n * V, *t = zt + (size_t)n * V;
        double ls = 0.0, lt = 0.0, l1 = 0.0, kl = 0.0;
        for (int i = 0; i < V; i++) { ls += exp(s[i] / T); lt += exp(t[i] / T); l1 += exp(s[i]); }
        ls = log(ls); lt = log(lt); l1 = log(l1);
        for (int i = 0; i < V; i++) kl += exp(t[i] / T - lt) * ((t[i] / T - lt) - (s[i] / T - ls));
        loss += w[n] * (alpha * T * T * kl + (1.0 - alpha) * (l1 - s[targets[n]]));
    }
    return loss;
}

typedef struct { const char *dir; } PipelineArg;
static void child_pipeline(const void *arg) {
    const PipelineArg *a = arg;
    char *argv[] = { "--out", (char *)a->dir, "--scale", "1", "--eval-prompts", "6", "--eval-k", "2" };
    cmd_pipeline(8, argv);
}

static void test_stages(void) {
    // SFT masks the prompt: every target after the prompt has weight 1/denom, every other none
    const char *sp = tmp_path("sft.txt");
    const char *sft = "e:12+34=\t<think></think><answer>046</answer><eos>\n"
                      "j:51+76+12+85=\t<think>01+06+02+05=14 agari 1 05+07+01+08+01=22</think><answer>224</answer><eos>\n";
    write_whole(sp, sft, strlen(sft));
    Data d = load_sft(sp, 64);
    const int B = 4;
    Batcher bt = { &d, B, B * POOL_BATCHES, POOL_BATCHES, mallocCheck((size_t)B * POOL_BATCHES * sizeof(int)), rng_seed(5), 0 };
    int inputs[4 * 64], targets[4 * 64], bad_rows = 0, rows_seen[2] = {0, 0};
    float w[4 * 64], denom = 4.0f * 64;
    for (int it = 0; it < 4; it++) {
        int T = batcher_next(&bt, inputs, targets, w, denom);
        for (int b = 0; b < B; b++) {
            int doc = -1;  // which line this row holds: the one whose tokens it starts with
            for (int i = 0; i < d.n; i++) if (memcmp(inputs + b * T, d.ids[i], (size_t)imin(T, d.len[i] - 1) * sizeof(int)) == 0) doc = i;
            if (doc < 0) { bad_rows++; continue; }
            rows_seen[doc]++;
            int ids[64];
            char prompt[64], bad;
            snprintf(prompt, sizeof prompt, "%.*s", (int)strcspn(sft + (doc ? strcspn(sft, "\n") + 1 : 0), "\t"),
                     sft + (doc ? strcspn(sft, "\n") + 1 : 0));
            int lp = encode(prompt, ids, 64, &bad), len = d.len[doc];
            for (int t = 0; t < T; t++) {
                int response_target = t + 1 >= lp && t + 1 < len;  // the token predicted at t is ids[t+1]
                float want = response_target ? 1.0f / denom : 0.0f;
                if (w[b * T + t] != want || (t + 1 < len && targets[b * T + t] != d.ids[doc][t + 1])) bad_rows++;
            }
        }
    }
    check(bad_rows == 0 && rows_seen[0] > 0 && rows_seen[1] > 0, "SFT batches: loss weights 1/denom exactly on the response "
          "targets, 0 on the prompt and padding (%d and %d rows of the two lines, %d bad positions)", rows_seen[0], rows_seen[1], bad_rows);
    free(bt.pool);
    data_free(&d);

    // rejection sampling's rule, a table: prompt language English (0) unless stated, truth 224, max length 60
    struct { const char *response; int lang, len, keep; const char *why; } rej[] = {
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer><eos>", 0, 40, 1, "correct chain" },
        { "<think></think><answer>224</answer><eos>", 0, 10, 1, "correct direct answer" },
        { "<think>01+06+02+05=14 agari 1 05+07+01+08+01=22</think><answer>224</answer><eos>", 1, 40, 1, "correct, Japanese prompt" },
        { "<think>01+06+02+05=14 agari 1 05+07+01+08+01=22</think><answer>224</answer><eos>", 0, 40, 0, "wrong language" },
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 kensa 07 07 14 yosi 14</think><answer>224</answer><eos>", 0, 50, 0, "mixed languages" },
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>225</answer><eos>", 0, 40, 0, "wrong answer" },
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer>", 0, 39, 0, "no <eos>" },
        { "01+06+02+05=14<answer>224</answer><eos>", 0, 20, 0, "no think span" },
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer><eos>", 0, 61, 0, "over-long" },
        { "<think>01+06+02+05=14 01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer><eos>", 0, 50, 0, "repeats a column" },
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14</think><answer>224</answer><eos>", 0, 50, 1, "correct checked chain (07 07 is not an equation)" },
    };
    int n_rej = (int)(sizeof rej / sizeof rej[0]), wrong = 0;
    for (int i = 0; i < n_rej; i++) {
        Judgement j = judge(rej[i].response, rej[i].len, 224, rej[i].lang);
        if (rejection_keep(&j, 60) != rej[i].keep) { wrong++; fprintf(stderr, "  rejection_keep wrong for: %s\n", rej[i].why); }
    }
    check(wrong == 0, "rejection_keep table: %d of %d cases right (correct, well formed, one language, <= max length, no repeated column)",
          n_rej - wrong, n_rej);

    // the distillation loss: value against the double re-derivation, gradient against its finite differences
    const int N = 3, V = 9;
    float zs[27], zt[27], dz[27], wd[3] = { 0.5f, 0.0f, 1.5f };
    int tg[3] = { 2, 5, 8 };
    Rng r = rng_seed(11);
    fill_normal(zs, 27, 0.0f, 1.5f, &r);
    fill_normal(zt, 27, 0.0f, 1.5f, &r);
    double T = 2.0, alpha = 0.6;
    float loss = distill_loss(dz, zs, zt, tg, wd, N, V, (float)T, (float)alpha);
    double ref = distill_ref(zs, zt, tg, wd, N, V, T, alpha), max_err = 0.0, max_g = 0.0;
    for (int i = 0; i < N * V; i++) {
        float z0 = zs[i];
        zs[i] = z0 + 1e-2f; double lp = distill_ref(zs, zt, tg, wd, N, V, T, alpha);
        zs[i] = z0 - 1e-2f; double lm = distill_ref(zs, zt, tg, wd, N, V, T, alpha);
        zs[i] = z0;
        double fd = (lp - lm) / ((double)(z0 + 1e-2f) - (double)(z0 - 1e-2f));
        max_err = fmax(max_err, fabs(fd - dz[i]));
        max_g = fmax(max_g, fabs(fd));
    }
    check(fabs(loss - ref) < 1e-5 * fmax(1.0, fabs(ref)) && max_err < 1e-4 && max_g > 1e-2,
          "distill_loss (T 2, alpha 0.6): value %.6f vs %.6f re-derived in double; gradient max|fd-an| %.2e (tol 1e-4, max|fd| %.2f)",
          loss, ref, max_err, max_g);
    float kl0 = distill_loss(dz, zt, zt, tg, wd, N, V, (float)T, 1.0f);
    check(fabs(kl0) < 1e-6 && max_abs_f(dz, 27) < 1e-6, "distill_loss, alpha 1, student = teacher: loss %.2e, max|grad| %.2e (want 0)",
          kl0, max_abs_f(dz, 27));

    // a tiny pipeline end to end (1% of every stage's steps), in a child so that a failure is reported
    char dir[300], err[4096], path[400];
    snprintf(dir, sizeof dir, "%s/pipeline", tmp_root);
    PipelineArg pa = { dir };
    double t0 = now_seconds();
    int st = run_child(child_pipeline, &pa, err, sizeof err);  // one thread: OpenMP's threads do not survive fork()
    const char *stages[] = { "base", "zero", "coldstart", "reasoning_rl", "r1_sft", "r1", "student_base", "student_rl",
                             "student_seq", "student_logit" };
    int models = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "%s/%s/model.bin", dir, stages[i]);
        FILE *f = fopen(path, "rb");
        if (f) { models++; fclose(f); }
    }
    snprintf(path, sizeof path, "%s/results.txt", dir);
    char *table = read_whole(path, NULL);
    int rows = 0, good = 0;
    for (char *line = table; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
        rows++;
        float v[7];
        char *nums = line + 30;  // after the 30-character label column
        if (rows > 1 && strlen(line) > 30 && sscanf(nums, "%f %f %f %f %f %f %f", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) == 7
            && v[0] >= 0 && v[0] <= 1 && v[2] >= 0 && v[2] <= 1 && v[3] > 0 && v[6] >= 0 && v[6] <= 1) good++;
    }
    check(st == 0 && models == 10 && rows == 8 && good == 7, "tiny pipeline (--scale 1, %.0f s): exit status %d, %d of 10 stage "
          "checkpoints, results table with %d lines of which %d well-formed model rows (want 8 and 7)%s%s",
          now_seconds() - t0, st, models, rows, good, st ? ", stderr: " : "", st ? err : "");
    // its report (checkers of section 14): well formed, its table the numbers of results.txt, each
    // model's response to the same 3 prompts
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = read_whole(path, NULL), label[8][64];
    double num[8][8];
    int n_num[8], same = 0, n_rows = html ? html_table_rows(html, "results", label, num, n_num, 8) : 0;
    const char *bad = html ? xml_error(html, err, sizeof err) : "no report.html";
    char *line = table;
    for (int r = 0; r < n_rows && line && (line = strchr(line, '\n')) && strlen(++line) > 30; r++) {
        double v[7];
        int n = sscanf(line + 30, "%lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
        int equal = n == 7 && n_num[r] == 7;
        for (int k = 0; k < 7 && equal; k++) equal = num[r][k] == v[k];  // the same text, parsed alike
        same += equal && strncmp(line, label[r], strlen(label[r])) == 0;
    }
    int shown = html ? count_str(html, "<div class=\"resp\">") : 0;
    check(!bad && n_rows == 7 && same == 7 && shown == 21, "tiny pipeline: report.html well formed (%s), %d of 7 table "
          "rows equal to results.txt's (want 7), %d responses shown (want 7 models x 3 prompts)", bad ? bad : "ok", same, shown);
    free(html);
    free(table);
}

// ----------------------------------------------------------------------------
// 14. the HTML report: well formed, one point per evaluation in each held-out curve, its table's numbers
// those of log.csv, the responses' parts marked

// an XML well-formedness check of a report (written as XHTML-style HTML, void elements closed by "/>"):
// tags nest and close in order under one root, attribute values are quoted, text holds no bare '<' and
// only the entities &amp; &lt; &gt; &quot; &#N;. Returns NULL, or what is wrong and where (in err).
static const char *xml_error(const char *s, char *err, size_t errsz) {
    char stack[64][16];
    int depth = 0, roots = 0;
    const char *p = s, *lower = "abcdefghijklmnopqrstuvwxyz";
    if (strncmp(p, "<!DOCTYPE html>", 15) == 0) p += 15;
#define XML_FAIL(...) do { snprintf(err, errsz, __VA_ARGS__); size_t k_ = strlen(err); \
                           snprintf(err + k_, errsz - k_, " at offset %ld", (long)(p - s)); return err; } while (0)
    for (; *p; p++) {
        if (*p == '&') {
            const char *e = strchr(p, ';');
            size_t digits = strspn(p + 2, "0123456789");
            int ok = !strncmp(p, "&amp;", 5) || !strncmp(p, "&lt;", 4) || !strncmp(p, "&gt;", 4) || !strncmp(p, "&quot;", 6)
                     || (p[1] == '#' && digits > 0 && e == p + 2 + digits);
            if (!ok) XML_FAIL("bad entity '%.8s'", p);
            continue;
        }
        if (*p != '<') {
            if (depth == 0 && !strchr(" \n", *p)) XML_FAIL("text outside the root element");
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t nl = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789");
        if (nl == 0 || nl >= 16 || !strchr(lower, *name)) XML_FAIL("a bare '<' or a bad tag name");
        const char *q = name + nl;
        if (closing) {
            if (*q != '>') XML_FAIL("bad closing tag");
            if (depth == 0 || strlen(stack[depth - 1]) != nl || strncmp(stack[depth - 1], name, nl) != 0)
                XML_FAIL("</%.*s> closes <%s>", (int)nl, name, depth ? stack[depth - 1] : "(nothing)");
            depth--;
            p = q;
            continue;
        }
        for (;;) {  // attributes: name="value"
            q += strspn(q, " \n");
            if (*q == '>' || (q[0] == '/' && q[1] == '>')) break;
            size_t al = strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-");
            const char *v = q + al + 2, *end = al && q[al] == '=' && q[al + 1] == '"' ? strchr(v, '"') : NULL;
            if (!end || memchr(v, '<', end - v)) XML_FAIL("an attribute of <%.*s> not name=\"value\"", (int)nl, name);
            q = end + 1;
            if (!strchr(" \n/>", *q)) XML_FAIL("attributes of <%.*s> run together", (int)nl, name);
        }
        roots += depth == 0;
        if (*q == '>') {
            if (depth == 64) XML_FAIL("nested too deep");
            memcpy(stack[depth], name, nl);
            stack[depth++][nl] = 0;
        } else {
            q++;  // "/>": an empty element
        }
        p = q;
    }
    if (depth) XML_FAIL("<%s> not closed", stack[depth - 1]);
    if (roots != 1) XML_FAIL("%d root elements", roots);
#undef XML_FAIL
    return NULL;
}

// the rows of <table class="CLS"> of a report: the first cell's text, then up to 8 numbers
static int html_table_rows(const char *html, const char *cls, char label[][64], double num[][8], int *n_num,
                           int max_rows) {
    char open[80];
    snprintf(open, sizeof open, "<table class=\"%s\">", cls);
    const char *p = strstr(html, open), *end = p ? strstr(p, "</table>") : NULL;
    int n = 0;
    while (p && (p = strstr(p, "<tr><td>")) && p < end && n < max_rows) {
        p += 8;
        snprintf(label[n], 64, "%.*s", (int)strcspn(p, "<"), p);
        const char *row_end = strstr(p, "</tr>");
        n_num[n] = 0;
        for (const char *c = strstr(p, "<td>"); c && c < row_end && n_num[n] < 8; c = strstr(c + 1, "<td>"))
            num[n][n_num[n]++] = atof(c + 4);
        n++;
    }
    return n;
}

static int count_str(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, what)); p++) n++;
    return n;
}

// the text of html's spans of class CLS, tags dropped, entities left as they are
static void span_text(const char *html, const char *cls, char *out, size_t n) {
    char open[40];
    snprintf(open, sizeof open, "<span class=\"%s\">", cls);
    out[0] = 0;
    for (const char *p = strstr(html, open); p; p = strstr(p, open)) {
        p += strlen(open);
        for (int depth = 1; *p && depth; ) {
            if (!strncmp(p, "</span>", 7)) { depth--; p += 7; continue; }
            if (*p == '<') { depth += !strncmp(p, "<span", 5); p = strchr(p, '>') + 1; continue; }
            size_t l = strlen(out);
            if (l + 1 < n) { out[l] = *p; out[l + 1] = 0; }
            p++;
        }
    }
}

static void test_report(void) {
    // the checker itself: one well-formed document, then one fault each
    const char *docs[] = { "<!DOCTYPE html>\n<html><p class=\"a\">x &amp; y &#10003;</p><br/></html>\n",
                           "<html><b></html>", "<html><p>a < b</p></html>", "<html>&nbsp;</html>",
                           "<html x=1></html>", "<html></html><p/>", "<html><p a=\"1\"b=\"2\"></p></html>",
                           "<html><p></b></p></html>", "x<html></html>" };
    int verdicts = 0;
    char err[200];
    for (int i = 0; i < 9; i++) verdicts += (xml_error(docs[i], err, sizeof err) == NULL) == (i == 0);
    check(verdicts == 9, "report: the well-formedness checker accepts the good document and finds the 8 faults: "
          "%d of 9 right", verdicts);

    // html_response on a hand-written checked response: each part in its span, nothing lost
    const char *resp = "<think>01+06+02+05=15 carry 1 check 07 07 14 wait 14</think><answer>224</answer><eos>";
    char tmp[400], *html;
    snprintf(tmp, sizeof tmp, "%s/response.html", tmp_root);
    FILE *f = fopenCheck(tmp, "w");
    html_response(f, resp);
    fclose(f);
    html = read_whole(tmp, NULL);
    char think[200], checks[200], answer[200], toks[200];
    span_text(html, "think", think, sizeof think);
    span_text(html, "check", checks, sizeof checks);
    span_text(html, "answer", answer, sizeof answer);
    span_text(html, "tok", toks, sizeof toks);
    int bold = strstr(html, "<b>check</b>") && strstr(html, "<b>wait</b>") && count_str(html, "<b>") == 2;
    check(!strcmp(think, "01+06+02+05=15 carry 1 ") && !strcmp(checks, "check 07 07 14 wait 14") && !strcmp(answer, "224")
          && !strcmp(toks, "&lt;think&gt;&lt;/think&gt;&lt;answer&gt;&lt;/answer&gt;&lt;eos&gt;") && bold,
          "report: a response's parts marked: think '%s', checks '%s', answer '%s', special tokens '%s', check and "
          "wait bold %d", think, checks, answer, toks, bold);
    free(html);

    // a GRPO run of the tiny model (context 64): 7 steps, held-out evaluations at steps 0, 3, 6 and 7
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = 64;
    Model *m0 = model_create(&cfg, "tiny", 9);
    char init[300], dir[300], path[400];
    snprintf(init, sizeof init, "%s/report_init.bin", tmp_root);
    snprintf(dir, sizeof dir, "%s/report", tmp_root);
    checkpoint_save(init, m0, 0, 0, 0);
    model_free(m0);
    GrpoOptions g = grpo_defaults();
    g.init = init; g.out = dir; g.steps = 7; g.prompts_per_step = 2; g.num_generations = 4;
    g.eval_every = 3; g.eval_prompts = 4; g.eval_k = 2; g.lr = 1e-3f;
    model_free(grpo_quietly(&g));
    report_grpo(&g, "test");

    // log.csv, read here on its own: the rows that evaluated (test_pass1 set) and those that trained
    snprintf(path, sizeof path, "%s/log.csv", dir);
    char *csv = read_whole(path, NULL), *save = csv, *line;
    static char *cell[64][20];
    int rows = 0, cols = 0;
    while (rows < 64 && (line = strsep(&save, "\n")) && *line) {
        int c = 0;
        for (char *field; c < 20 && (field = strsep(&line, ",")); ) cell[rows][c++] = field;
        if (rows++ == 0) cols = c;
    }
    int col_of[6], evals[8], n_eval = 0, n_train = 0, missing = 0;
    const char *names[6] = { "test_pass1", "test_greedy", "test_length", "test_reflection", "test_chain_share", "accuracy" };
    for (int k = 0; k < 6; k++) {
        for (col_of[k] = 0; col_of[k] < cols && strcmp(cell[0][col_of[k]], names[k]); col_of[k]++) {}
        missing += col_of[k] == cols;
    }
    for (int r = 1; r < rows && !missing; r++) {
        if (*cell[r][col_of[0]] && n_eval < 8) evals[n_eval++] = r;
        n_train += *cell[r][col_of[5]] != 0;
    }
    check(!missing && n_eval == 4 && n_train == 7, "report: the run's log.csv: %d columns missing, %d evaluated rows "
          "(want 4: steps 0, 3, 6, 7), %d trained (want 7)", missing, n_eval, n_train);
    if (missing || n_eval == 0) { free(csv); return; }

    snprintf(path, sizeof path, "%s/report.html", dir);
    html = read_whole(path, NULL);
    const char *bad = html ? xml_error(html, err, sizeof err) : "no report.html";
    snprintf(tmp, sizeof tmp, "%s/report.html.tmp", dir);
    check(!bad && access(tmp, F_OK) != 0, "report: report.html is well formed (%s), no report.html.tmp left", bad ? bad : "ok");

    // every curve: one point per evaluation (held-out) or per training step, inside its chart, steps increasing
    int curves = 0, right = 0, charts = 0;
    for (const char *svg = html ? strstr(html, "<svg ") : NULL; svg; svg = strstr(svg + 1, "<svg ")) {
        double W = 0, H = 0;
        const char *vb = strstr(svg, "viewBox=\""), *svg_end = strstr(svg, "</svg>");
        if (!vb || !svg_end || sscanf(vb, "viewBox=\"0 0 %lf %lf\"", &W, &H) != 2) continue;
        charts++;
        for (const char *pl = strstr(svg, "<polyline "); pl && pl < svg_end; pl = strstr(pl + 1, "<polyline ")) {
            const char *name = strstr(pl, "data-name=\""), *pts = strstr(pl, " points=\"");
            if (!name || !pts) continue;
            curves++;
            int n = 0, inside = 1, want = !strncmp(name + 11, "held-out", 8) ? n_eval : n_train;
            double x, y, last_x = -1;
            for (const char *q = pts + 9; q && sscanf(q, "%lf,%lf", &x, &y) == 2; q = strchr(q, ' ')) {
                inside &= x > last_x && x >= 0 && x <= W && y >= 0 && y <= H;
                last_x = x; n++; q++;
            }
            right += n == want && inside;
            if (n != want || !inside)
                fprintf(stderr, "  curve %.30s: %d points (want %d), inside and increasing %d\n", name, n, want, inside);
        }
    }
    check(charts == 3 && curves == 8 && right == 8, "report: %d charts (want 3), %d curves (want 8), %d with one point per "
          "evaluation (held-out) or training step, inside the chart, steps increasing", charts, curves, right);

    // the before/after table: the first and last evaluated rows of log.csv, to the digits shown
    char label[8][64];
    double num[8][8];
    int n_num[8], first = -1, last = -1, agree = 0;
    const char *labels[5] = { "pass@1", "greedy accuracy", "mean response length (tokens)", "reflection rate",
                              "chain-of-thought share" };
    int n_rows = html ? html_table_rows(html, "before-after", label, num, n_num, 8) : 0;
    const char *th = html ? strstr(html, "<th>step ") : NULL;
    if (th) sscanf(th, "<th>step %d</th><th>step %d</th>", &first, &last);
    for (int r = 0; r < n_rows; r++)
        for (int k = 0; k < 5; k++) {
            if (strcmp(label[r], labels[k]) != 0 || n_num[r] != 2) continue;
            double tol = k == 2 ? 0.05 + 1e-9 : 5e-4 + 1e-9;  // the table shows 3 decimals, 1 for the length
            const char *a = cell[evals[0]][col_of[k]], *b = cell[evals[n_eval - 1]][col_of[k]];
            agree += fabs(num[r][0] - atof(a)) <= tol && fabs(num[r][1] - atof(b)) <= tol;
        }
    const char *step_a = cell[evals[0]][0], *step_b = cell[evals[n_eval - 1]][0];
    check(n_rows == 5 && agree == 5 && first == atoi(step_a) && last == atoi(step_b), "report: before/after table, "
          "steps %d and %d (log.csv: %s and %s), %d of 5 rows equal to log.csv's (want 5)", first, last, step_a, step_b, agree);

    // the sampled responses: 4 prompts x 2 at steps 0 and 7, each shown once; a finished run resumed
    // re-evaluates its last step and must not add its samples twice
    snprintf(path, sizeof path, "%s/samples.txt", dir);
    char *samples = read_whole(path, NULL);
    int at0 = count_str(samples, "\n0\t"), at7 = count_str(samples, "\n7\t"), shown = count_str(html, "<div class=\"resp\">");
    g.resume = 1;
    model_free(grpo_quietly(&g));
    free(samples);
    samples = read_whole(path, NULL);
    int lines_after = count_str(samples, "\n");
    check(at0 == 8 && at7 == 8 && shown == 16 && count_str(html, "<h3>") == 4 && lines_after == 17,
          "report: samples.txt has %d responses at step 0 and %d at step 7 (want 8 and 8), the report shows %d (want 16) "
          "under %d prompts (want 4); resumed when finished: %d lines (want 17)", at0, at7, shown, count_str(html, "<h3>"),
          lines_after);
    free(samples); free(html); free(csv);
}

// ----------------------------------------------------------------------------

// the sections, in order; ./test_r1 NAME... runs only those (the exercise checks use this)
typedef struct { const char *name; void (*run)(void); const char *what; } Section;
static const Section sections[] = {
    { .name = "embedding", .run = test_embedding, .what = "token embedding gradient" },
    { .name = "rmsnorm", .run = test_rmsnorm, .what = "RMSNorm gradient" },
    { .name = "rope", .run = test_rope, .what = "RoPE gradient" },
    { .name = "attention", .run = test_attention, .what = "causal attention gradient" },
    { .name = "swiglu", .run = test_swiglu, .what = "SwiGLU gradient" },
    { .name = "moe", .run = test_moe, .what = "DeepSeekMoE: routing, gates, gradient, balancing" },
    { .name = "mla", .run = test_mla, .what = "MLA gradient" },
    { .name = "crossentropy", .run = test_crossentropy, .what = "cross-entropy gradient" },
    { .name = "model", .run = test_whole_model, .what = "whole-model gradient" },
    { .name = "tokenizer", .run = test_tokenizer, .what = "tokenizer" },
    { .name = "generator", .run = test_generator, .what = "toy-world generator and tiny_data/" },
    { .name = "kvcache", .run = test_kvcache, .what = "KV cache and generation" },
    { .name = "checkpoints", .run = test_checkpoints, .what = "checkpoints" },
    { .name = "rewards", .run = test_rewards, .what = "rule rewards" },
    { .name = "grpo", .run = test_grpo, .what = "GRPO advantages and loss" },
    { .name = "data", .run = test_data_errors, .what = "data loading errors" },
    { .name = "options", .run = test_options, .what = "option parsing" },
    { .name = "commands", .run = test_command_options, .what = "every command's options" },
    { .name = "optimizer", .run = test_optimizer, .what = "AdamW, clipping, schedule" },
    { .name = "training", .run = test_training, .what = "pretraining, NaN stop, determinism, resume" },
    { .name = "grpo_loop", .run = test_grpo_loop, .what = "a toy GRPO loop" },
    { .name = "stages", .run = test_stages, .what = "SFT, rejection sampling, distillation, pipeline" },
    { .name = "report", .run = test_report, .what = "the HTML report of a run" },
};
#define N_SECTIONS ((int)(sizeof sections / sizeof sections[0]))

static const Section *find_section(const char *name) {
    for (int i = 0; i < N_SECTIONS; i++)
        if (strcmp(sections[i].name, name) == 0) return &sections[i];
    return NULL;
}

int main(int argc, char **argv) {
    // the tiny models of these tests are far too small for threads to pay: one thread, except where
    // a test says otherwise
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    threads_init();
    for (int a = 1; a < argc; a++) {
        if (find_section(argv[a])) continue;
        int listing = strcmp(argv[a], "--list") == 0;
        FILE *out = listing ? stdout : stderr;
        if (!listing) fprintf(out, "test_r1: unknown section '%s'; the sections are:\n", argv[a]);
        for (int i = 0; i < N_SECTIONS; i++) fprintf(out, "  %-13s %s\n", sections[i].name, sections[i].what);
        return listing ? 0 : 2;
    }
    double t0 = now_seconds();
    snprintf(tmp_root, sizeof tmp_root, "/tmp/test_r1.XXXXXX");
    if (!mkdtemp(tmp_root)) die("cannot create a temporary folder");
    for (int i = 0; i < N_SECTIONS; i++) {
        int wanted = argc == 1;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], sections[i].name) == 0;
        if (!wanted) continue;
        g_rng = rng_seed(42 + i);  // a section sees the same numbers alone or in the whole suite
        sections[i].run();
    }
    nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("(%.1f s)\n", now_seconds() - t0);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
