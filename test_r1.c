/*
test_r1.c: the tests of r1.c (make test). Like llm.c's test_gpt2.c it includes r1.c with main
compiled out and calls its functions directly.

Every check prints one line: PASS or FAIL, its name, the measured error and the tolerance.
The last line is "N passed, N failed"; the exit status is non-zero if anything failed.
Expected values come from finite differences, from hand computation written out in a comment,
or from an independent re-derivation in this file, never from r1.c's own output.

Sections: 1 gradient checks of every layer and of the whole model, 2 tokenizer, 3 generator,
4 KV cache and generation, 5 checkpoints (and a save killed halfway), 6 rewards, 7 the GRPO batch,
loss weights, advantages, loss and step (truncated responses masked, the reference mixed), 8 data
loading errors (and messages that name the cause), 9 option parsing errors (every command's table,
every option against its --help), the optimizer pieces, 10 a short pretraining run (and a NaN stop),
11 grpo_train for every loss type, 12 determinism and resume (also of pretrain, sft and grpo runs
killed while saving a checkpoint), run folders never replaced without --resume or --overwrite, 13 the
R1 stages (SFT, rejection sampling, distillation), 14 the whole pipeline, 15 runs killed at any moment
and resumed, 16 the HTML report of a run (well formed, its curves and table against log.csv).
Failed table rows are detailed on stderr.
R1_TEST_FAILFAST=1 stops at the first failure.
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
#include <sys/inotify.h>

static int kill_at_rename = 0;  // 0: never; n > 0: the process kills itself (SIGKILL) at its n-th rename
static int test_rename(const char *from, const char *to) {
    if (kill_at_rename > 0 && --kill_at_rename == 0) raise(SIGKILL);
    return rename(from, to);
}

// ----------------------------------------------------------------------------
// reporting

#include "tools/check.h"

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

typedef struct {
    int checked, skipped, bad;
    double max_err, worst, max_fd, max_an;
    size_t worst_i; double worst_fd, worst_an;  // the element of the worst err/tol
    double fd_fd, an_fd, an_an;                 // sums of fd^2, an fd, an^2: the best ratio an / fd
} FdResult;

#define FD_ATOL 1e-3
#define FD_RTOL 5e-2

// (loss(x + h e_i) - loss(x - h e_i)) / 2h; *rerouted: either forward routes unlike the unperturbed one
static double central_difference(float *x, size_t i, float h, LossFn loss, uint64_t sig0, int *rerouted) {
    float x0 = x[i], xp = x0 + h, xm = x0 - h;
    x[i] = xp;
    double lp = loss();
    *rerouted = route_sig != sig0;
    x[i] = xm;
    double lm = loss();
    *rerouted |= route_sig != sig0;
    x[i] = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

// an element that fails at eps is tried again at eps / 2 and 2 eps: the truncation error shrinks with the
// step and the float forward's rounding noise (divided by the step) grows, so one of the two may fit
// where eps is caught between them; a wrong gradient fails at every step
static FdResult fd_compare(float *x, const float *an, size_t n, size_t max_check, LossFn loss, float eps, Rng *r) {
    FdResult res = {0};
    loss();
    uint64_t sig0 = route_sig;
    size_t count = n < max_check ? n : max_check;
    for (size_t c = 0; c < count; c++) {
        size_t i = n <= max_check ? c : (size_t)rng_u32(r) % n;
        int rerouted;
        double fd = central_difference(x, i, eps, loss, sig0, &rerouted);
        if (rerouted) { res.skipped++; continue; }
        double err = fabs(fd - an[i]), tol = FD_ATOL + FD_RTOL * (fabs(fd) + fabs(an[i]));
        for (int k = 0; k < 2 && err > tol; k++) {
            double fd2 = central_difference(x, i, k ? 2 * eps : eps / 2, loss, sig0, &rerouted);
            double err2 = fabs(fd2 - an[i]), tol2 = FD_ATOL + FD_RTOL * (fabs(fd2) + fabs(an[i]));
            if (!rerouted && err2 <= tol2) { fd = fd2; err = err2; tol = tol2; }
        }
        res.checked++;
        if (err > res.max_err) res.max_err = err;
        if (err / tol > res.worst) { res.worst = err / tol; res.worst_i = i; res.worst_fd = fd; res.worst_an = an[i]; }
        if (fabs(an[i]) > res.max_an) res.max_an = fabs(an[i]);
        res.fd_fd += fd * fd; res.an_fd += an[i] * fd; res.an_an += (double)an[i] * an[i];
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
    if (ok || r.checked == 0) return;
    // where it fails, in words: the gradient (an) against the finite differences (fd)
    double ratio = r.fd_fd > 0.0 ? r.an_fd / r.fd_fd : 0.0;               // least squares an = ratio fd
    double corr = r.an_an > 0.0 && r.fd_fd > 0.0 ? r.an_fd / sqrt(r.an_an * r.fd_fd) : 0.0;
    if (r.max_an == 0.0)
        printf("      %s: your gradient is all zeros: did you write it?%s\n", name, r.max_fd > 1e-4 ? "" :
               " (the finite differences are near zero too: does the loss reach these numbers?)");
    else if (corr > 0.99 && fabs(ratio - 1.0) > 0.1)
        printf("      %s: yours is about %.3gx the expected everywhere: a constant factor (a scale, a sign)\n",
               name, ratio);
    if (r.bad > 0)
        printf("      %s: %d of %d elements wrong; the worst, element %zu: yours %.4g, expected %.4g (%.3gx)\n", name,
               r.bad, r.checked, r.worst_i, r.worst_an, r.worst_fd, r.worst_fd != 0.0 ? r.worst_an / r.worst_fd : 0.0);
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
static double rope_table_vs_rotate(int bitwise);
static void test_rope(void) {
    int path = attention_path;
    attention_path = ATTENTION_PLAIN;  // rope_rotate itself (kernel_rope against it: below)
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
    attention_path = path;
    double diff = rope_table_vs_rotate(0);
    check(diff <= 1e-5, "rope_rotate equals kernel_rope (angles from a table) within 1e-5, forward and backward: max "
          "|diff| %.2e", diff);
}

// Part II's table of angles (kernel_rope) against rope_rotate: 3 rows of 5 positions from 7, both
// directions; the largest difference, or with bitwise set 0 when the bits are equal and 1 otherwise
static double rope_table_vs_rotate(int bitwise) {
    enum { KB = 3, KT = 5, KH = 2, KHS = 6 };
    float plain[KB * KT * KH * KHS], table[KB * KT * KH * KHS];
    int same = 1, used = 1, path = attention_path;
    double diff = 0.0;
    for (int dir = 0; dir < 2; dir++) {
        float sign = dir ? -1.0f : 1.0f;
        fill_normal(plain, KB * KT * KH * KHS, 0, 1, &g_rng);
        memcpy(table, plain, sizeof table);
        attention_path = ATTENTION_PLAIN;
        rope_rotate(plain, KB * KT, KT, 7, KH, KHS, 2, 4, sign);
        attention_path = ATTENTION_BLOCKED;
        used &= kernel_rope(table, KB * KT, KT, 7, KH, KHS, 2, 4, sign);
        same &= memcmp(plain, table, sizeof table) == 0;
        for (int i = 0; i < KB * KT * KH * KHS; i++) diff = fmax(diff, fabs(plain[i] - table[i]));
    }
    attention_path = path;
    if (!used) return 1e30;
    return bitwise ? !same : diff;
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
// the blocked kernels (the default) against the plain loops, on sizes that are not whole blocks of 16 keys:
// within 1e-5 of the largest value of each tensor (the attention section checks the plain loops, however
// their sums are ordered), or with bitwise set the same bits (the kernel_bits section: r1.c's kernels
// compute the plain loops' sums in the same order)
static void attention_paths_agree(int bitwise) {
    int B = 2, T = 37, NH = 3, HS = 20, HV = 17;
    size_t nq = (size_t)B * T * NH * HS, nv = (size_t)B * T * NH * HV, na = (size_t)B * NH * T * T;
    float *in = mallocCheck((2 * nq + 2 * nv) * sizeof(float)), *q = in, *k = q + nq, *v = k + nq, *dy = v + nv;
    fill_normal(in, 2 * nq + 2 * nv, 0, 1, &g_rng);
    float *res[2][5];  // out, att, dq, dk, dv by each path
    int bad = 0, path = attention_path;
    double worst = 0.0;  // the largest |plain - blocked| / max |blocked| of a tensor
    for (int p = 0; p < 2; p++) {
        float *datt = mallocCheck(na * sizeof(float));
        for (int j = 0; j < 5; j++) {  // filled first: each path must write its outputs whole
            size_t n = j == 1 ? na : j == 0 || j == 4 ? nv : nq;
            res[p][j] = mallocCheck(n * sizeof(float));
            for (size_t i = 0; i < n; i++) res[p][j][i] = 1e3f;
        }
        attention_path = p == 0 ? ATTENTION_PLAIN : ATTENTION_BLOCKED;
        attention_forward(res[p][0], res[p][1], q, k, v, B, T, NH, HS, HV);
        attention_backward(res[p][2], res[p][3], res[p][4], datt, dy, q, k, v, res[p][1], B, T, NH, HS, HV);
        free(datt);
    }
    attention_path = path;
    for (int j = 0; j < 5; j++) {
        size_t n = j == 1 ? na : j == 0 || j == 4 ? nv : nq;
        double diff = 0.0, top = 1e-30;
        for (size_t i = 0; i < n; i++) {
            diff = fmax(diff, fabs(res[0][j][i] - res[1][j][i]));
            top = fmax(top, fabs(res[1][j][i]));
        }
        worst = fmax(worst, diff / top);
        bad += bitwise ? memcmp(res[0][j], res[1][j], n * sizeof(float)) != 0 : diff > 1e-5 * top;
        free(res[0][j]); free(res[1][j]);
    }
    free(in);
    if (bitwise)
        check(bad == 0, "attention: the blocked kernels and the plain loops give the same bits (B 2, T 37, NH 3, HS "
              "20, HV 17): out, att, dq, dk, dv, %d of 5 differ", bad);
    else
        check(bad == 0, "attention: the plain loops equal the blocked kernels within 1e-5 of each tensor's largest "
              "value (B 2, T 37, NH 3, HS 20, HV 17): out, att, dq, dk, dv, %d of 5 differ, worst %.1e", bad, worst);
}

// r1.c's fast kernels compute the same sums as the plain loops in the same order: the same bits. Not part
// of an exercise's checks: a student's loops may order their sums otherwise and be right.
static void test_kernel_bits(void) {
    attention_paths_agree(1);
    check(rope_table_vs_rotate(1) == 0.0,
          "kernel_rope (angles from a table) equals rope_rotate bit for bit, forward and backward");
}

static void test_attention(void) {
    fill_normal(at_q, AT_NQ, 0, 1, &g_rng); fill_normal(at_k, AT_NQ, 0, 1, &g_rng);
    fill_normal(at_v, AT_NV, 0, 1, &g_rng); fill_normal(at_R, AT_NV, 0, 1, &g_rng);
    float dq[AT_NQ], dk[AT_NQ], dv[AT_NV], datt[AT_B * AT_NH * AT_T * AT_T];
    int path = attention_path;
    attention_path = ATTENTION_PLAIN;  // the loops of the layer itself (the blocked kernels: attention_paths_agree)
    at_loss();
    // the layer writes its gradients whole: what the buffers held before must not count
    for (int i = 0; i < AT_NQ; i++) dq[i] = dk[i] = 1e3f;
    for (int i = 0; i < AT_NV; i++) dv[i] = 1e3f;
    attention_backward(dq, dk, dv, datt, at_R, at_q, at_k, at_v, at_att, AT_B, AT_T, AT_NH, AT_HS, AT_HV);
    fd_report("attention dq", fd_compare(at_q, dq, AT_NQ, 1000, at_loss, 1e-3f, &g_rng));
    fd_report("attention dk", fd_compare(at_k, dk, AT_NQ, 1000, at_loss, 1e-3f, &g_rng));
    fd_report("attention dv", fd_compare(at_v, dv, AT_NV, 1000, at_loss, 1e-3f, &g_rng));
    attention_path = path;
    attention_paths_agree(0);
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
static float sw_a[SW_N * SW_F], sw_b[SW_N * SW_F], sw_g[SW_N * SW_F], sw_e[SW_N * SW_F], sw_R[SW_N * SW_C];
static double sw_loss(void) {
    swiglu_forward(sw_out, sw_a, sw_b, sw_g, sw_e, sw_x, sw_w1, sw_w3, sw_w2, SW_N, SW_C, SW_F);
    return dot_d(sw_out, sw_R, SW_N * SW_C);
}
static void test_swiglu(void) {
    fill_normal(sw_x, SW_N * SW_C, 0, 1, &g_rng); fill_normal(sw_w1, SW_F * SW_C, 0, 0.7f, &g_rng);
    fill_normal(sw_w3, SW_F * SW_C, 0, 0.7f, &g_rng); fill_normal(sw_w2, SW_C * SW_F, 0, 0.7f, &g_rng);
    fill_normal(sw_R, SW_N * SW_C, 0, 1, &g_rng);
    float dx[SW_N * SW_C] = {0}, dw1[SW_F * SW_C] = {0}, dw3[SW_F * SW_C] = {0}, dw2[SW_C * SW_F] = {0};
    float dg[SW_N * SW_F], da[SW_N * SW_F], db[SW_N * SW_F];
    sw_loss();
    swiglu_backward(dx, dw1, dw3, dw2, dg, da, db, sw_R, sw_x, sw_a, sw_b, sw_g, sw_e, sw_w1, sw_w3, sw_w2, SW_N, SW_C, SW_F);
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
static int mo_len[MO_B];  // the balance loss's tokens of each row; the positions after are padding
static double mo_loss(void) {
    const Config *c = &mo_m->cfg;
    LayerActs *A = &mo_m->acts[1];
    int N = MO_B * MO_T;
    moe_forward(mo_out, A, &mo_m->params.layer[1], mo_m->router_bias[1], mo_h, N, c->d_model, c->n_experts,
                c->top_k, c->d_ff_expert);
    route_sig = fnv1a(0xcbf29ce484222325ull, A->topk, (size_t)N * c->top_k * sizeof(int));
    double loss = mo_rscale * dot_d(mo_out, mo_R, (size_t)N * c->d_model);
    if (mo_alpha > 0.0f) loss += balance_loss(NULL, A, mo_alpha, mo_len, MO_B, MO_T, c->n_experts, c->top_k);
    return loss;
}

static void moe_case(const char *label, float alpha, float rscale, int len1) {
    const Config *c = &mo_m->cfg;
    int N = MO_B * MO_T, C = c->d_model, E = c->n_experts, K = c->top_k, F = c->d_ff_expert;
    mo_alpha = alpha; mo_rscale = rscale; mo_len[0] = MO_T; mo_len[1] = len1;
    float *dout = mallocCheck((size_t)N * C * sizeof(float)), *dh = mallocCheck((size_t)N * C * sizeof(float));
    for (int i = 0; i < N * C; i++) dout[i] = rscale * mo_R[i];
    float *dsl = mallocCheck((size_t)N * K * C * sizeof(float)), *dxg = mallocCheck((size_t)N * K * C * sizeof(float));
    float *dg = mallocCheck((size_t)N * K * F * sizeof(float)), *da = mallocCheck((size_t)N * K * F * sizeof(float));
    float *db = mallocCheck((size_t)N * K * F * sizeof(float)), *ds = mallocCheck((size_t)N * E * sizeof(float));
    model_zero_grad(mo_m);
    mo_loss();
    LayerParams *L = &mo_m->params.layer[1], *G = &mo_m->grads.layer[1];
    moe_backward(dh, G, &mo_m->acts[1], L, dout, mo_h, alpha, mo_len, MO_B, MO_T, C, E, K, F, dsl, dxg, dg, da,
                 db, ds);
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
        int taken[MAX_EXPERTS] = {0}, top[MAX_EXPERTS];
        for (int e = 0; e < E; e++) {
            double u = 0.0;
            for (int i = 0; i < C; i++) u += (double)L->router[e * C + i] * h[i];
            s[e] = 1.0 / (1.0 + exp(-u));
        }
        double sum = 0.0;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) if (!taken[e] && (best < 0 || s[e] + bias[e] > s[best] + bias[best])) best = e;
            taken[best] = 1; top[k] = best; sum += s[best];
            top_err |= best != mo_m->acts[1].topk[n * K + k];
        }
        for (int k = 0; k < K; k++) { // an expert the affinities alone would not have chosen
            int rank = 0;
            for (int e = 0; e < E; e++) rank += s[e] > s[top[k]];
            bias_mattered |= rank >= K;
        }
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
    // ties go to the lower index: with a zero router every affinity is sigmoid(0) = 0.5, and with a zero bias
    // every expert ties; the top-k must be experts 0 .. K-1 in order, each gate 1/K
    {
        LayerParams *Lz = &mo_m->params.layer[1];
        float *router = mallocCheck((size_t)E * C * sizeof(float)), zero_bias[MAX_EXPERTS] = {0};
        memcpy(router, Lz->router, (size_t)E * C * sizeof(float));
        memset(Lz->router, 0, (size_t)E * C * sizeof(float));
        moe_forward(mo_out, &mo_m->acts[1], Lz, zero_bias, mo_h, N, C, E, K, F);
        memcpy(Lz->router, router, (size_t)E * C * sizeof(float));
        free(router);
        int differ = 0;
        double gate_err = 0.0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) {
                differ += mo_m->acts[1].topk[n * K + k] != k;
                gate_err = fmax(gate_err, fabs(mo_m->acts[1].gate[n * K + k] - 1.0 / K));
            }
        check(differ == 0 && gate_err < 1e-6, "moe routing with every expert tied (s + bias all 0.5): the top-%d must "
              "be experts 0..%d, the lower index winning a tie: %d of %d choices differ; gates 1/%d, max error %.1e "
              "(tol 1e-6)", K, K - 1, differ, N * K, K, gate_err);
    }
    // the balance loss by hand: B=1, T=2, E=2, K=1, alpha=1; s = [[0.8, 0.2], [0.6, 0.6]] with token 0 -> expert 0,
    // token 1 -> expert 1. f_i = E/(K T) * count_i = (1, 1); P_i = mean_t s_i / sum_j s_j = ((0.8 + 0.5) / 2, (0.2 + 0.5) / 2)
    // = (0.65, 0.35); loss = 1 * 0.65 + 1 * 0.35 = 1.0. With token 1 -> expert 0 too: f = (2, 0), loss = 1.3.
    // A third position of padding (s = (0.1, 0.9), expert 1) changes nothing: still 1.0 (counted as a
    // token it would give f = (2/3, 4/3), P = (0.467, 0.533), loss 1.022).
    {
        LayerActs A;
        memset(&A, 0, sizeof A);
        float s[6] = { 0.8f, 0.2f, 0.6f, 0.6f, 0.1f, 0.9f };
        int topk[3] = { 0, 1, 1 }, len[1] = { 2 };
        A.s = s; A.topk = topk;
        float l1 = balance_loss(NULL, &A, 1.0f, len, 1, 2, 2, 1);
        float l3 = balance_loss(NULL, &A, 1.0f, len, 1, 3, 2, 1);
        topk[1] = 0;
        float l2 = balance_loss(NULL, &A, 1.0f, len, 1, 2, 2, 1);
        double e = fmax(fmax(fabs(l1 - 1.0), fabs(l2 - 1.3)), fabs(l3 - 1.0));
        check(e < 1e-6, "balance loss by hand (alpha sum f_i P_i): %.6f and %.6f, expected 1.0 and 1.3; with a "
              "padding position %.6f, expected 1.0; max error %.2e (tol 1e-6)", l1, l2, l3, e);
    }
    // with K = 2 (f_i's 1/K matters): B=1, T=2, E=3, alpha=1; s = [[0.5, 0.3, 0.2], [0.2, 0.4, 0.4]] (each
    // sums to 1), token 0 -> experts 0 and 1, token 1 -> experts 1 and 2.
    // f_i = E/(K T) count_i = 0.75 (1, 2, 1);
    // P = ((0.5 + 0.2) / 2, (0.3 + 0.4) / 2, (0.2 + 0.4) / 2) = (0.35, 0.35, 0.30);
    // loss = 0.75 x 0.35 + 1.5 x 0.35 + 0.75 x 0.30 = 1.0125 (without the 1/K: 2.025)
    {
        LayerActs A;
        memset(&A, 0, sizeof A);
        float s[6] = { 0.5f, 0.3f, 0.2f, 0.2f, 0.4f, 0.4f };
        int topk[4] = { 0, 1, 1, 2 }, len[1] = { 2 };
        A.s = s; A.topk = topk;
        float loss = balance_loss(NULL, &A, 1.0f, len, 1, 2, 3, 2);
        check(fabsf(loss - 1.0125f) < 1e-6f, "balance loss by hand with top-2 of 3 experts: %.6f, expected "
              "1.0125 (f_i = E/(K T) count_i), error %.2e (tol 1e-6)", loss, fabsf(loss - 1.0125f));
    }
    moe_case("", 0.0f, 1.0f, MO_T);
    moe_case("+balance", 0.3f, 1.0f, MO_T);
    moe_case(" balance only", 1.0f, 0.0f, MO_T);
    moe_case(" balance only, padded", 1.0f, 0.0f, 3); // row 2: 3 tokens, 2 of padding
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
    int NH = c->n_head, dqk = c->d_nope + c->d_rope, R = c->kv_rank, Rq = c->q_rank;
    struct { const char *n; float *p, *g; size_t count; } t[] = {
        { "mla dx", ml_x, dx, (size_t)N * C }, { "mla attn_norm", L->attn_norm, G->attn_norm, (size_t)C },
        { "mla wqa", L->wqa, G->wqa, (size_t)Rq * C }, { "mla q_norm", L->q_norm, G->q_norm, (size_t)Rq },
        { "mla wqb", L->wqb, G->wqb, (size_t)NH * dqk * Rq },
        { "mla wkva", L->wkva, G->wkva, (size_t)(R + c->d_rope) * C },
        { "mla kv_norm", L->kv_norm, G->kv_norm, (size_t)R },
        { "mla wkvb", L->wkvb, G->wkvb, (size_t)NH * (c->d_nope + c->d_v) * R },
        { "mla wo", L->wo, G->wo, (size_t)C * NH * c->d_v },
    };
    for (int i = 0; i < 9; i++) fd_report(t[i].n, fd_compare(t[i].p, t[i].g, t[i].count, 1000, ml_loss, 1e-3f, &g_rng));
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
    for (int i = 0; i < CE_N * CE_V; i++) dz[i] = 7.0f;  // what a row of weight 0 must not keep
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
    // a large logit: (100, 0, 0), target 1: loss 100 + log(1 + 2 e^-100) = 100, dlogits (1, -1, 0) up to e^-100
    // (exp(100) overflows a float: the row's maximum must be subtracted first)
    float zbig[3] = { 100.0f, 0.0f, 0.0f }, dzbig[3];
    int t1 = 1;
    float lbig = crossentropy_forward_backward(dzbig, zbig, &t1, &w1, 1, 3);
    check(fabsf(lbig - 100.0f) < 1e-4f && fabsf(dzbig[0] - 1.0f) < 1e-6f && fabsf(dzbig[1] + 1.0f) < 1e-6f &&
          fabsf(dzbig[2]) < 1e-6f, "crossentropy by hand with a large logit: logits (100, 0, 0), target 1: loss %g "
          "(expected 100, tol 1e-4), dlogits (%g, %g, %g) expected (1, -1, 0), tol 1e-6", lbig, dzbig[0], dzbig[1], dzbig[2]);
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
    model_forward(wm_m, wm_tok, NULL, WM_B, WM_T, NULL, 0);
    route_sig = topk_sig(wm_m);
    return wm_ce(NULL) + wm_m->aux_loss;
}

static void test_whole_model(void) {
    int path = attention_path;
    attention_path = ATTENTION_PLAIN;  // the layers' own loops (the blocked kernels: attention_paths_agree)
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
        add_tensor(t, &nt, l, "wqa", L->wqa, (size_t)c->q_rank * C);
        add_tensor(t, &nt, l, "q_norm", L->q_norm, (size_t)c->q_rank);
        add_tensor(t, &nt, l, "wqb", L->wqb, (size_t)NH * dqk * c->q_rank);
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
    attention_path = path;
}

// ----------------------------------------------------------------------------
// 1c. padding is no token: a batch of two rows, of 8 and 5 tokens (the second padded with <eos> to 8),
// against its rows run alone without padding: the same expert loads, the mean of their balance losses
// and of their balance-loss gradients (dlogits 0: the balance loss alone)

#define PD_T 8
// the balance loss of one forward and backward pass (its gradient into grads, scaled by share); the
// expert loads of that forward are added to load
static float padding_pass(Model *m, const int *tok, const int *len, int B, int T, float *grads, float share,
                          float load[MAX_LAYERS][MAX_EXPERTS]) {
    memset(m->expert_load, 0, sizeof m->expert_load);
    model_zero_grad(m);
    model_forward(m, tok, len, B, T, NULL, 0);
    memset(m->dlogits, 0, (size_t)B * T * m->cfg.vocab * sizeof(float));
    model_backward(m);
    for (size_t i = 0; i < m->num_params; i++) grads[i] += share * m->grads_mem[i];
    for (int l = 0; l < MAX_LAYERS; l++)
        for (int e = 0; e < MAX_EXPERTS; e++) load[l][e] += m->expert_load[l][e];
    return m->aux_loss;
}

static void test_padding(void) {
    Model *m = tiny_model(16);
    m->balance_alpha = 0.3f;
    const Config *c = &m->cfg;
    int len[2] = { PD_T, 5 }, tok[2 * PD_T];
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < PD_T; t++)
            tok[b * PD_T + t] = t < len[b] ? N_SPECIAL + rng_int(&g_rng, c->vocab - N_SPECIAL) : TOK_EOS;
    size_t np = m->num_params;
    float *g_batch = mallocCheck(np * sizeof(float)), *g_rows = mallocCheck(np * sizeof(float));
    float *g_counted = mallocCheck(np * sizeof(float));
    float load_batch[MAX_LAYERS][MAX_EXPERTS] = {{0}}, load_rows[MAX_LAYERS][MAX_EXPERTS] = {{0}};
    float load_counted[MAX_LAYERS][MAX_EXPERTS] = {{0}};
    float aux_batch = padding_pass(m, tok, len, 2, PD_T, g_batch, 1.0f, load_batch), aux_rows = 0.0f;
    for (int b = 0; b < 2; b++)
        aux_rows += padding_pass(m, tok + b * PD_T, NULL, 1, len[b], g_rows, 0.5f, load_rows) / 2;
    // the same batch with its padding counted as tokens (len NULL): what this test must tell apart
    float aux_counted = padding_pass(m, tok, NULL, 2, PD_T, g_counted, 1.0f, load_counted);
    double routed = 0, routed_counted = 0, gmax = 0, gdiff = 0, gdiff_counted = 0;
    for (int l = 0; l < MAX_LAYERS; l++)
        for (int e = 0; e < MAX_EXPERTS; e++) { routed += load_batch[l][e]; routed_counted += load_counted[l][e]; }
    for (size_t i = 0; i < np; i++) {
        gmax = fmax(gmax, fabs(g_rows[i]));
        gdiff = fmax(gdiff, fabs(g_batch[i] - g_rows[i]));
        gdiff_counted = fmax(gdiff_counted, fabs(g_counted[i] - g_rows[i]));
    }
    int n_moe = c->n_layer - c->n_dense;
    check(memcmp(load_batch, load_rows, sizeof load_rows) == 0 && routed == 13.0 * c->top_k * n_moe,
          "padding: the expert loads of the padded batch equal its rows' alone: %.0f routings (want 13 tokens x "
          "top-%d x %d MoE layers; %.0f with the padding counted)", routed, c->top_k, n_moe, routed_counted);
    check(fabs(aux_batch - aux_rows) <= 1e-5 * aux_rows && fabs(aux_counted - aux_rows) > 1e-3 * aux_rows,
          "padding: balance loss of the padded batch %.7f, the mean of its rows' alone %.7f (rel tol 1e-5; with "
          "the padding counted %.7f)", aux_batch, aux_rows, aux_counted);
    check(gmax > 0 && gdiff <= 1e-4 * gmax && gdiff_counted > 1e-2 * gmax,
          "padding: balance-loss gradient of the padded batch against the mean of its rows' alone: max diff %.2e "
          "of max %.2e (rel tol 1e-4; with the padding counted %.2e)", gdiff, gmax, gdiff_counted);
    free(g_batch); free(g_rows); free(g_counted);
    model_free(m);
}

// data-parallel training (kernel_model_forward / kernel_model_backward): on 2 threads each takes a share of
// the rows; the logits, the router affinities (what moe_diagnostics reads), the summed gradient, balance loss
// and expert loads must equal those of 1 thread, up to the order of the float sums. Rows of different
// lengths (padding) and the balance loss on, so that a share that counted its padding or averaged the
// balance loss over its own rows only would be caught.
#define SH_B 5
#define SH_T 9
typedef struct { float loss, aux, *grads, *logits, *s; float load[MAX_LAYERS][MAX_EXPERTS]; } ShardPass;
static ShardPass shard_pass(Model *m, const int *tok, const int *tgt, const float *w, const int *len) {
    const Config *c = &m->cfg;
    int N = SH_B * SH_T, l = c->n_layer - 1;
    ShardPass p = { .grads = mallocCheck(m->num_params * sizeof(float)),
                    .logits = mallocCheck((size_t)N * c->vocab * sizeof(float)),
                    .s = mallocCheck((size_t)N * c->n_experts * sizeof(float)) };
    model_zero_grad(m);
    memset(m->expert_load, 0, sizeof m->expert_load);
    model_forward(m, tok, len, SH_B, SH_T, NULL, 0);
    p.loss = crossentropy_forward_backward(m->dlogits, m->logits, tgt, w, N, c->vocab);
    model_backward(m);
    p.aux = m->aux_loss;
    memcpy(p.grads, m->grads_mem, m->num_params * sizeof(float));
    memcpy(p.logits, m->logits, (size_t)N * c->vocab * sizeof(float));
    memcpy(p.s, m->acts[l].s, (size_t)N * c->n_experts * sizeof(float));
    memcpy(p.load, m->expert_load, sizeof p.load);
    return p;
}

static double max_rel_diff(const float *a, const float *b, size_t n) {  // max |a-b| over max |a|
    double amax = 0, diff = 0;
    for (size_t i = 0; i < n; i++) { amax = fmax(amax, fabs(a[i])); diff = fmax(diff, fabs(a[i] - b[i])); }
    return amax > 0 ? diff / amax : 1.0;
}

static void test_shards(void) {
    Model *m = tiny_model(17);
    m->balance_alpha = 0.3f;
    const Config *c = &m->cfg;
    int tok[SH_B * SH_T], tgt[SH_B * SH_T], len[SH_B] = { 9, 4, 7, 9, 2 }, N = SH_B * SH_T;
    float w[SH_B * SH_T];
    for (int i = 0; i < N; i++) {
        int pad = i % SH_T >= len[i / SH_T];
        tok[i] = pad ? TOK_EOS : N_SPECIAL + rng_int(&g_rng, c->vocab - N_SPECIAL);
        tgt[i] = N_SPECIAL + rng_int(&g_rng, c->vocab - N_SPECIAL);
        w[i] = pad ? 0.0f : 1.0f / N;
    }
    ShardPass one = shard_pass(m, tok, tgt, w, len);
    check(!kernel_model_forward(m, tok, len, SH_B, SH_T, 0) && !kernel_model_backward(m),
          "shards: on 1 thread the data-parallel passes decline (the plain forward and backward run)");
#ifdef _OPENMP
    omp_set_num_threads(2);
    ShardPass two = shard_pass(m, tok, tgt, w, len);
    int shared = sharded.m == m && sharded.n == 2;
    omp_set_num_threads(1);
    double dg = max_rel_diff(one.grads, two.grads, m->num_params);
    double dz = max_rel_diff(one.logits, two.logits, (size_t)N * c->vocab);
    double ds = max_rel_diff(one.s, two.s, (size_t)N * c->n_experts);
    check(shared && dz <= 1e-6 && ds <= 1e-6, "shards: 2 threads, rows 0-1 and 2-4: logits and router affinities "
          "against 1 thread's: max diff %.1e and %.1e of the max (tol 1e-6)", dz, ds);
    check(fabs(two.loss - one.loss) <= 1e-5 * one.loss && fabs(two.aux - one.aux) <= 1e-5 * one.aux,
          "shards: loss %.7f vs %.7f on 1 thread, balance loss %.7f vs %.7f (rel tol 1e-5)", two.loss, one.loss,
          two.aux, one.aux);
    check(dg <= 1e-5, "shards: summed gradient against 1 thread's: max diff %.1e of the max (tol 1e-5)", dg);
    check(memcmp(one.load, two.load, sizeof one.load) == 0, "shards: the summed expert loads equal 1 thread's");
    free(two.grads); free(two.logits); free(two.s);
#endif
    free(one.grads); free(one.logits); free(one.s);
    model_free(m);
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

static pid_t main_pid; // the forked children exit too (die()), but only the main process owns tmp_root
static void remove_tmp_root(void) {
    if (getpid() == main_pid) nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
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

// fn(arg) with its stdout going to the file path (run_child sends it to /dev/null)
typedef struct { ChildFn fn; const void *arg; const char *path; } StdoutTo;
static void child_stdout_to(const void *arg) {
    const StdoutTo *a = arg;
    int fd = open(a->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { dup2(fd, 1); close(fd); }
    setvbuf(stdout, NULL, _IOLBF, 0);
    a->fn(a->arg);
    fflush(stdout);
}

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

// 1 if fn(arg), run in a child, exits non-zero with exactly one line "r1: error: ..." containing each of
// want1, want2 (want2 may be NULL); err: that line, *st: the exit status
static int dies_with(ChildFn fn, const void *arg, const char *want1, const char *want2, char *err, size_t errsz, int *st) {
    *st = run_child(fn, arg, err, errsz);
    size_t l = strlen(err);
    int one_line = l > 0 && err[l - 1] == '\n' && strchr(err, '\n') == err + l - 1 && strncmp(err, "r1: error: ", 11) == 0;
    if (l > 0 && err[l - 1] == '\n') err[l - 1] = 0;
    return *st > 0 && one_line && strstr(err, want1) && (!want2 || strstr(err, want2));
}

// the child must exit non-zero with exactly one line "r1: error: ..." containing each of want1, want2
static void expect_die(const char *name, ChildFn fn, const void *arg, const char *want1, const char *want2) {
    char err[4096];
    int st, ok = dies_with(fn, arg, want1, want2, err, sizeof err, &st);
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
    for (int i = 0; i < 8; i++) ids[i] = -7;  // a canary after the 5 ids the buffer may hold
    int r = encode("0123456789", ids, 5, &bad);
    check(r < 0 && ids[5] == -7, "tokenizer: text longer than the buffer is rejected (returned %d), nothing "
          "written past it (%s)", r, ids[5] == -7 ? "canary intact" : "CANARY OVERWRITTEN");
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
    World world = world_default();
    gen_tiny_data(dir, 1, &world, 0);
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
    int lines = 0, bad_lines = 0, too_long = 0, styles[3] = {0}, mixed_n = 0, slips = 0, summaries = 0;
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
        summaries += strstr(line, WORDS[0][WORD_TOTAL]) || strstr(line, WORDS[1][WORD_TOTAL]);
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
    check(summaries == 0, "pretrain.txt: no document holds the cold start's summary word (%d do)", summaries);
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
    // gen --summary: the same corpus and prompts, only the cold start's chains end in their summary
    char sum_dir[300];
    snprintf(sum_dir, sizeof sum_dir, "%s/gen_summary", tmp_root);
    gen_tiny_data(sum_dir, 1, &world, 1);
    int same = 0;
    char *cold_summary = NULL;
    for (int i = 0; i < 4; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s", sum_dir, files[i]);
        char *text = read_whole(path, NULL);
        if (i == 3) { cold_summary = text ? text : strdup(""); continue; }
        snprintf(path, sizeof path, "tiny_data/%s", files[i]);
        char *want = read_whole(path, NULL);
        same += text && want && strcmp(text, want) == 0;
        free(text); free(want);
    }
    check(same == 3, "gen --summary: %d of pretrain.txt, rl_train.txt, rl_test.txt equal the default's (want 3)", same);
    // cold start: checked chains only, no slips, one language, right answers; with --summary each think span
    // ends in the summary "total N" (its language's word) with N the sum, three digits as the answer, and by
    // default none holds the summary's word
    for (int with = 0; with < 2; with++) {
        const char *name = with ? "coldstart.txt of gen --summary" : "coldstart.txt";
        int cs_n = 0, cs_bad = 0, cs_summary = 0, cs_word = 0;
        for (char *line = strtok_r(with ? cold_summary : gen[3], "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            Prob p;
            cs_n++;
            cs_word += strstr(line, WORDS[0][WORD_TOTAL]) || strstr(line, WORDS[1][WORD_TOTAL]);
            int pl = parse_prompt(line, &p), style = 0, mixed = 0;
            if (pl < 0 || line[pl] != '\t') { cs_bad++; continue; }
            const char *e = verify_response(line + pl + 1, &p, &style, &mixed);
            if (e || style != 2 || mixed || strstr(line, WORDS[0][WORD_WAIT]) || strstr(line, WORDS[1][WORD_WAIT]) ||
                reward_language(line + pl + 1, p.lang) != 1.0f) cs_bad++;
            int sum = 0;
            for (int i = 0; i < p.n; i++) sum += p.x[i];
            char want[64];
            snprintf(want, sizeof want, " %s %03d</think>", p.lang ? "gokei" : "total", sum);
            const char *close = strstr(line, "</think>");
            size_t wl = strlen(want) - strlen("</think>");
            cs_summary += close && close - line >= (long)wl && strncmp(close - wl, want, strlen(want)) == 0;
        }
        check(cs_n > 0 && cs_bad == 0, "%s: %d lines, all checked chains without slips, one language, right: %d bad",
              name, cs_n, cs_bad);
        if (with)
            check(cs_summary == cs_n, "%s: %d of %d think spans end in their summary \" total N\" (\"gokei\" in the "
                  "j: language), N the sum", name, cs_summary, cs_n);
        else
            check(cs_word == 0, "%s (the default): no line holds the summary's word \"total\" or \"gokei\" (%d do)",
                  name, cs_word);
    }
    free(cold_summary);
    for (int i = 0; i < 4; i++) free(gen[i]);
    free(ids);
}

// gen --styles: a control corpus holds only the styles it allows, each left-out style written as the
// next simpler one (checked -> chain -> direct), every document still right
static void test_generator_styles(void) {
    const char *names[2] = { "direct,chain", "direct" };
    int allow[2][N_STYLES] = { { 1, 1, 0 }, { 1, 0, 0 } };
    for (int c = 0; c < 2; c++) {
        char dir[300], path[400];
        snprintf(dir, sizeof dir, "%s/gen_%d", tmp_root, c);
        World world = world_default();
        memcpy(world.allowed, allow[c], sizeof world.allowed);
        gen_tiny_data(dir, 1, &world, 0);
        snprintf(path, sizeof path, "%s/pretrain.txt", dir);
        size_t len = 0;
        char *text = read_whole(path, &len), *save = NULL;
        int lines = 0, bad = 0, styles[N_STYLES] = {0};
        for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
            Prob p;
            int pl = parse_prompt(line, &p), style = 0, mixed = 0;
            if (pl < 0 || verify_response(line + pl, &p, &style, &mixed)) { bad++; continue; }
            lines++;
            styles[style]++;
        }
        float direct = lines ? styles[STYLE_DIRECT] / (float)lines : 0;
        check(lines > 0 && bad == 0 && styles[STYLE_CHECKED] == 0 && (allow[c][STYLE_CHAIN] || styles[STYLE_CHAIN] == 0)
              && fabsf(direct - MIX_DIRECT * allow[c][STYLE_CHAIN] - !allow[c][STYLE_CHAIN]) < 0.02f,
              "gen --styles %s: %d documents (%d wrong), direct %.3f chain %d checked %d (direct share expected %.2f)",
              names[c], lines, bad, direct, styles[STYLE_CHAIN], styles[STYLE_CHECKED],
              allow[c][STYLE_CHAIN] ? MIX_DIRECT : 1.0f);
        free(text);
    }
}

// the difficulty dial: gen --operands 2,3 --held-out-operands 5. Every corpus document and RL prompt has 2 or
// 3 operands (and is right, by this file's own reading of it), the test set holds 300 prompts of each of 2,
// 3 and 5 operands with the operand count as their difficulty, and none of them is in the corpus.
static void test_generator_dial(void) {
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/gen_dial", tmp_root);
    World world = world_default();
    world.operands[0] = 2; world.operands[1] = 3; world.n_operands = 2; world.held_out = 5;
    gen_tiny_data(dir, 1, &world, 0);
    int docs[8] = {0}, prompts[8] = {0}, tests[8] = {0}, bad = 0, wrong_diff = 0, leaked = 0;
    const char *names[3] = { "pretrain.txt", "rl_train.txt", "rl_test.txt" };
    int *counts[3] = { docs, prompts, tests };
    char *corpus = NULL;
    for (int f = 0; f < 3; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        size_t len = 0;
        char *text = read_whole(path, &len), *save = NULL;
        if (f == 0) corpus = text ? strdup(text) : strdup("");
        for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
            Prob p;
            int pl = parse_prompt(line, &p), style = 0, mixed = 0;
            if (pl < 0 || p.n < 2 || p.n > 7) { bad++; continue; }
            counts[f][p.n]++;
            if (f == 0 && verify_response(line + pl, &p, &style, &mixed)) bad++;
            if (f > 0) {
                char *tab = strchr(line, '\t'), *tab2 = tab ? strchr(tab + 1, '\t') : NULL;
                wrong_diff += !tab2 || atoi(tab2 + 1) != p.n;
            }
            if (f == 2) {  // a test prompt, with its '=', never starts a corpus line
                char key[64];
                snprintf(key, sizeof key, "\n%.*s", pl, line);
                leaked += strstr(corpus, key) != NULL || strncmp(corpus, key + 1, pl) == 0;
            }
        }
        free(text);
    }
    check(bad == 0 && docs[2] + docs[3] == GEN_PRETRAIN && docs[2] > 0.45 * GEN_PRETRAIN && docs[3] > 0.45 * GEN_PRETRAIN
          && prompts[2] + prompts[3] == GEN_RL_TRAIN,
          "gen --operands 2,3: the corpus %d + %d documents of 2 and 3 operands (of %d, %d wrong), RL prompts %d + %d",
          docs[2], docs[3], GEN_PRETRAIN, bad, prompts[2], prompts[3]);
    check(tests[2] == 300 && tests[3] == 300 && tests[5] == 300 && tests[4] == 0 && wrong_diff == 0 && leaked == 0,
          "gen --held-out-operands 5: test prompts of 2, 3, 4, 5 operands: %d %d %d %d (want 300 300 0 300), "
          "%d with a wrong difficulty, %d found in the corpus", tests[2], tests[3], tests[4], tests[5], wrong_diff,
          leaked);
    free(corpus);
}

// the probe's reading of a chain of thought: what each character is, written out by hand (the first
// character decides the style: not a copy; c a digit copied from an operand, s a column-sum digit, k the carry, h a number of a check, v the verdict's
// deciding first letter, n the number after the verdict, . the rest)
static void test_probe_roles(void) {
    const char *think = "01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14 kensa 12 09 21 22 mate 22";
    const char *want  = ".c.cc.cc.cc.ss.......k.cc.cc.cc.cc.cc.ss.......hh.hh.hh.v....nn.......hh.hh.hh.hh.v....nn";
    const char code[N_ROLES + 1] = "cskhvna.";
    int role[128];
    char got[128];
    think_roles(think, role);
    int n = (int)strlen(think);
    for (int i = 0; i < n; i++) got[i] = role[i] >= 0 && role[i] < N_ROLES ? code[role[i]] : '?';
    got[n] = 0;
    check(strcmp(got, want) == 0, "probe: the roles of a checked chain's characters\n      %s\n got  %s\n want %s",
          think, got, want);
}

// ----------------------------------------------------------------------------
// 4. KV cache: one token at a time through the cache equals the full forward; greedy generate()
// equals argmax decoding with full forwards

// the decoding kernel (kernel_mla_decode) against mla_decode's loops, position by position through a
// cache of 3 rows used in the order 2, 0 (row 1 idle): latent ranks that are and are not whole blocks
// of 16, positions past several blocks of 16 keys
static void mla_decode_paths_agree(void) {
    int NH = 3, dn = 8, dr = 4, dv = 6, Tc = 70, B = 2, rows[2] = { 2, 0 };
    for (int R = 8; R <= 32; R += 24) {
        int D = R + dr;
        float *wkvb = mallocCheck((size_t)NH * (dn + dv) * R * sizeof(float));
        float *q = mallocCheck((size_t)B * NH * (dn + dr) * sizeof(float));
        size_t ny = (size_t)B * NH * dv;
        float *y[2] = { mallocCheck(ny * sizeof(float)), mallocCheck(ny * sizeof(float)) };
        fill_normal(wkvb, (size_t)NH * (dn + dv) * R, 0, 0.3f, &g_rng);
        KVCache kv = { .B = 3, .T = Tc, .row = rows };
        kv.latent[0] = mallocCheck((size_t)3 * Tc * D * sizeof(float));
        double err = 0.0, scale = 0.0;
        int declined = 0;
        for (int pos = 0; pos < Tc; pos++) {
            for (int b = 0; b < B; b++)
                fill_normal(kv.latent[0] + ((size_t)rows[b] * Tc + pos) * D, D, 0, 1, &g_rng);
            fill_normal(q, (size_t)B * NH * (dn + dr), 0, 1, &g_rng);
            mla_decode(y[0], q, kv.latent[0], wkvb, rows, B, Tc, pos, NH, dn, dr, dv, R);
            declined += !kernel_mla_decode(y[1], q, &kv, 0, wkvb, B, pos, NH, dn, dr, dv, R);
            for (size_t i = 0; i < ny; i++) {
                err = fmax(err, fabs(y[1][i] - y[0][i]));
                scale = fmax(scale, fabs(y[0][i]));
            }
        }
        check(!declined && err <= 1e-5 * scale, "kernel_mla_decode vs mla_decode, R %d, positions 0-%d: "
              "max |diff| %.2e, max |y| %.2f (tol 1e-5 relative)%s", R, Tc - 1, err, scale,
              declined ? ", the kernel declined" : "");
        free(wkvb); free(q); free(y[0]); free(y[1]); free(kv.latent[0]); free(kv.latent_t[0]);
    }
}

static void test_kvcache(void) {
    mla_decode_paths_agree();
    Model *m = tiny_model(21);
    const Config *c = &m->cfg;
    int B = 3, T = 12, V = c->vocab;
    int tok[3 * 12];
    for (int i = 0; i < B * T; i++) tok[i] = rng_int(&g_rng, V);
    model_forward(m, tok, NULL, B, T, NULL, 0);
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
        model_forward(m, t1, NULL, nb, 1, kv, pos);
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
            model_forward(m, ref[b], NULL, 1, n, NULL, 0);
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
    // on 2 threads generate() gives each thread its own block of rows (own activations, cache): greedy
    // decoding must not change, and sampling with the same seed must repeat on 1 thread (each row draws
    // from a random stream of its own, whichever thread samples it)
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
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    r = rng_seed(6);
    generate(m, seqs3, plen, slen3, 3, L, 1.0f, &r);
    for (int b = 0; b < 3; b++) {
        same_sampled &= slen2[b] == slen3[b];
        for (int t = 0; t < slen2[b] && t < slen3[b]; t++) same_sampled &= seqs2[b * L + t] == seqs3[b * L + t];
    }
    check(same_greedy, "greedy generate() on 2 threads equals it on 1 (lengths %d %d %d vs %d %d %d)",
          glen[0], glen[1], glen[2], slen[0], slen[1], slen[2]);
    check(same_sampled, "sampled generate() on 2 threads and on 1, the same seed: identical (lengths %d %d %d vs %d %d %d)",
          slen2[0], slen2[1], slen2[2], slen3[0], slen3[1], slen3[2]);
    free(seqs2); free(seqs3);
    // sample_token: 20000 draws from fixed logits at temperatures 0.5 and 2, each token's frequency within 4
    // standard deviations (sqrt(p (1 - p) / n)) of softmax(z / temperature)[token]; temperature 0: the argmax
    {
        const float z[5] = { 0.3f, -1.0f, 1.2f, 0.0f, 0.9f };
        const float taus[2] = { 0.5f, 2.0f };
        Rng rs = rng_seed(77);
        double worst = 0.0;
        for (int k = 0; k < 2; k++) {
            int count[5] = {0}, n = 20000;
            for (int i = 0; i < n; i++) count[sample_token(z, 5, taus[k], &rs)]++;
            double sum = 0.0;
            for (int i = 0; i < 5; i++) sum += exp(z[i] / taus[k]);
            for (int i = 0; i < 5; i++) {
                double p = exp(z[i] / taus[k]) / sum;
                worst = fmax(worst, fabs(count[i] / (double)n - p) / sqrt(p * (1 - p) / n));
            }
        }
        int greedy = sample_token(z, 5, 0.0f, &rs);
        check(worst < 4.0 && greedy == 2, "sample_token at temperatures 0.5 and 2: worst frequency %.2f standard "
              "deviations from softmax(z / temperature) (want < 4); temperature 0 picks %d (want the argmax 2)",
              worst, greedy);
    }
    free(full); free(seqs);
    model_free(m);
}

// ----------------------------------------------------------------------------
// 5. checkpoints

static void child_load_ckpt(const void *arg) { checkpoint_load((const char *)arg, NULL, NULL); }

// saves a checkpoint under a file size limit: the kernel kills the process (SIGXFSZ) when the write
// reaches the limit, in the middle of the temporary file
typedef struct { const char *path; Model *m; rlim_t limit; int ignore_sigxfsz; } LimitedSave;
static void child_save_limited(const void *arg) {
    const LimitedSave *a = arg;
    struct rlimit rl = { a->limit, a->limit };
    setrlimit(RLIMIT_FSIZE, &rl);
    if (a->ignore_sigxfsz) signal(SIGXFSZ, SIG_IGN);  // the write then fails with EFBIG instead
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
    expect_die("a folder given as a checkpoint", child_load_ckpt, tmp_root, tmp_root, "is a folder, not a checkpoint");
    write_whole(bp, "e:12+34=<think></think><answer>046</answer><eos>\n", 49);
    expect_die("a data file given as a checkpoint", child_load_ckpt, bp, bp, "is a text file");
    // the trainer's counters round-trip
    const char *path2 = tmp_path("ck2.bin");
    m->tokens_seen = 123456.0;
    for (int e = 0; e < MAX_EXPERTS; e++) m->load_avg[1][e] = 0.5f + e;
    checkpoint_save(path2, m, 0, 0, 0);
    l = checkpoint_load(path2, NULL, NULL);
    check(l->tokens_seen == m->tokens_seen && memcmp(l->load_avg, m->load_avg, sizeof m->load_avg) == 0,
          "checkpoint round trip of tokens seen (%.0f) and the expert-load average", l->tokens_seen);
    model_free(l);
    // checkpoints of versions 1 and 2 (MLA without query compression) are refused, checksum right or not
    for (int v = 1; v <= 2; v++) {
        memcpy(bad, good, len);
        ((CkptHeader *)bad)->version = (uint32_t)v;
        uint64_t sum = fnv1a(0xcbf29ce484222325ull, bad, len - sizeof sum);
        memcpy(bad + len - sizeof sum, &sum, sizeof sum);
        write_whole(bp, bad, len);
        char name[64];
        snprintf(name, sizeof name, "a version %d checkpoint", v);
        expect_die(name, child_load_ckpt, bp, "predates MLA's query compression", "retrain");
    }
    // a run killed in the middle of writing its next checkpoint: the previous one is intact and loads
    char err[4096];
    LimitedSave ls = { path, m, (rlim_t)len / 2, 0 };
    int st = run_child(child_save_limited, &ls, err, sizeof err);
    size_t len_after = 0, len_tmp = 0;
    char *after = read_whole(path, &len_after), *partial = read_whole(tmp, &len_tmp);
    l = checkpoint_load(path, NULL, NULL);
    check(st == -1 && len_tmp == len / 2 && len_after == len && memcmp(after, good, len) == 0 && l->step == 37,
          "a save killed halfway (file size limit %zu of %zu bytes): killed %d, partial .tmp of %zu bytes left, previous "
          "checkpoint byte-identical (%zu bytes) and loads (step %d, expected 37)", len / 2, len, st == -1, len_tmp, len_after, l->step);
    model_free(l);
    free(after); free(partial);
    // a save that meets a full disk (the temporary file is /dev/full) or a file size limit (SIGXFSZ ignored, so
    // the write fails with EFBIG) stops with one line saying the previous checkpoint is unchanged; no .tmp left
    const char *full_cases[] = { "full disk", "file size limit" }, *want[] = { "No space left on device", "File too large" };
    for (int c = 0; c < 2; c++) {
        remove(tmp);
        if (c == 0 && symlink("/dev/full", tmp) != 0) check(0, "cannot make %s a link to /dev/full", tmp);
        LimitedSave fs = { path, m, c == 0 ? RLIM_INFINITY : (rlim_t)len / 2, 1 };
        char name[80];
        snprintf(name, sizeof name, "a save meeting a %s", full_cases[c]);
        expect_die(name, child_save_limited, &fs, want[c], "is unchanged (the last good checkpoint)");
        after = read_whole(path, &len_after);
        l = checkpoint_load(path, NULL, NULL);
        check(after && len_after == len && memcmp(after, good, len) == 0 && l->step == 37 && access(tmp, F_OK) != 0,
              "after the save that met a %s the previous checkpoint is byte-identical and loads (step %d), no .tmp left %d",
              full_cases[c], l->step, access(tmp, F_OK) != 0);
        model_free(l);
        free(after);
    }
    const char *fresh = tmp_path("never_saved.bin");
    char fresh_tmp[400];
    snprintf(fresh_tmp, sizeof fresh_tmp, "%s.tmp", fresh);
    if (symlink("/dev/full", fresh_tmp) != 0) check(0, "cannot make %s a link to /dev/full", fresh_tmp);
    LimitedSave first = { fresh, m, RLIM_INFINITY, 1 };
    expect_die("a first save meeting a full disk", child_save_limited, &first, "No space left on device", "was not written");
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
        // 5 words: 3 English, 1 Japanese-like, 1 of neither (counted, in no language): 3/5 and 1/5
        { "<think>$EC 1+2=3 $JC $EO zzz $EK</think><answer>3</answer><eos>", LANG_EN, 0.6f },
        { "<think>$EC 1+2=3 $JC $EO zzz $EK</think><answer>3</answer><eos>", LANG_JA, 0.2f },
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
    // repetition, by hand: the equation chunks of the think span (words holding "="), and how many repeat an
    // earlier one; words without "=" (carry, check, numbers) and the answer never count
    struct { const char *r; int repeated, chunks, repeats; float share; } rep[] = {
        { "<think></think><answer>224</answer><eos>", 0, 0, 0, 0.0f },
        { "<think>01+06=07 carry 0 05+07=12</think><answer>127</answer><eos>", 0, 2, 0, 0.0f },
        // the first column written twice: 1 of 3 equations repeats
        { "<think>01+06=07 01+06=07 05+07=12</think><answer>127</answer><eos>", 1, 3, 1, 1.0f / 3 },
        // three times, then the second column twice: 3 of 5 repeat
        { "<think>01+06=07 01+06=07 01+06=07 05+07=12 05+07=12</think><answer>127</answer><eos>", 3, 5, 1, 0.6f },
        // a prefix or an extension is another chunk: "1+1=2" is not "11+1=2", "1+1=22" not "1+1=2"
        { "<think>1+1=2 11+1=2 1+1=22</think><answer>2</answer><eos>", 0, 3, 0, 0.0f },
        // numbers and words repeated are no equation: "07 07 14 okay 14" repeats nothing
        { "<think>01+06=07 check 07 07 14 okay 14</think><answer>7</answer><eos>", 0, 1, 0, 0.0f },
        // the think span only: the answer repeating an equation does not count; an unclosed span to the end
        { "<think>1+2=3</think><answer>1+2=3</answer><eos>", 0, 1, 0, 0.0f },
        { "<think>7*8=56 56-3=53 vs 53 no 7*8=56", 1, 3, 1, 1.0f / 3 },
        { "no think span 1+2=3 1+2=3", 0, 0, 0, 0.0f },
    };
    n = (int)(sizeof rep / sizeof rep[0]); bad = 0;
    for (int i = 0; i < n; i++) {
        int chunks = -1, repeated = repeated_chunks(rep[i].r, &chunks), repeats = response_repeats(rep[i].r);
        float share = repeated_share(rep[i].r);
        if (repeated != rep[i].repeated || chunks != rep[i].chunks || repeats != rep[i].repeats ||
            fabsf(share - rep[i].share) > 1e-6f) {
            bad++; fprintf(stderr, "      repetition of \"%s\": %d of %d chunks repeat, repeats %d, share %g; expected %d of %d, %d, %g\n",
                           rep[i].r, repeated, chunks, repeats, share, rep[i].repeated, rep[i].chunks, rep[i].repeats, rep[i].share);
        }
    }
    check(bad == 0, "repeated_chunks, response_repeats and repeated_share table: %d of %d cases wrong", bad, n);
    // the cold start's summary: "total N" (or "gokei N") the last two words of a closed think span; the format
    // reward takes it as part of the think span, and a summary outside it breaks the format
    struct { const char *r; int has; long value; float format; int agrees; } sum[] = {
        { "<think>01+06=07 carry 0 05+07=12 total 127</think><answer>127</answer><eos>", 1, 127, 1, 1 },
        { "<think>01+06=07 carry 0 05+07=12 gokei 127</think><answer>127</answer><eos>", 1, 127, 1, 1 },
        { "<think>01+06=07 carry 0 05+07=12 total 027</think><answer>127</answer><eos>", 1, 27, 1, 0 },
        { "<think>total 5</think><answer>5</answer><eos>", 1, 5, 1, 1 },
        { "<think>01+06=07 carry 0 05+07=12</think><answer>127</answer><eos>", 0, 0, 1, 0 },
        { "<think>01+06=07 total 127 carry 0 05+07=12</think><answer>127</answer><eos>", 0, 0, 1, 0 },  // not last
        { "<think>01+06=07 carry 0 05+07=12 total</think><answer>127</answer><eos>", 0, 0, 1, 0 },      // no number
        { "<think>01+06=07 carry 0 05+07=12 total 1270</think><answer>127</answer><eos>", 0, 0, 1, 0 }, // 4 digits
        { "<think>01+06=07 carry 0 05+07=12 xtotal 127</think><answer>127</answer><eos>", 0, 0, 1, 0 },
        { "<think>01+06=07 carry 0 05+07=12 total127</think><answer>127</answer><eos>", 0, 0, 1, 0 },
        { "<think>01+06=07 carry 0 05+07=12 total 127", 0, 0, 0, 0 },                                   // unclosed
        { "<think>01+06=07 carry 0 05+07=12</think> total 127<answer>127</answer><eos>", 0, 0, 0, 0 },  // outside
    };
    n = (int)(sizeof sum / sizeof sum[0]); bad = 0;
    for (int i = 0; i < n; i++) {
        long value = 0;
        int has = response_summary(sum[i].r, &value);
        float format = reward_format(sum[i].r);
        Measures j = measure_response("e:51+76=", sum[i].r);
        if (has != sum[i].has || (has && value != sum[i].value) || format != sum[i].format ||
            j.summary != sum[i].agrees) {
            bad++; fprintf(stderr, "      summary of \"%s\": %d (%ld), format %g, judged %d; expected %d (%ld), %g, %d\n", sum[i].r,
                           has, value, format, j.summary, sum[i].has, sum[i].value, sum[i].format, sum[i].agrees);
        }
    }
    check(bad == 0, "response_summary, the format reward and measure_response's summary on summaries: %d of %d cases wrong", bad, n);
    // the summary's word is a word of the prompt's language: the language reward counts it
    float l_en = reward_language("<think>01+06=07 carry 0 05+07=12 total 127</think><answer>127</answer><eos>", LANG_EN);
    float l_mix = reward_language("<think>01+06=07 carry 0 05+07=12 gokei 127</think><answer>127</answer><eos>", LANG_EN);
    check(l_en == 1.0f && fabsf(l_mix - 0.5f) < 1e-6f, "reward_language with a summary: %g in its language (want 1), "
          "%g with the other's word (want 1/2: carry yes, gokei no)", l_en, l_mix);
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
static GrpoConfig gl_cfg = { .beta = 0.05f, .eps_low = 0.2f, .eps_high = 0.28f, .temperature = 0.7f };
static double gl_loss(void) {
    float dz[GL_B * GL_T * GL_V], lp[GL_B * GL_T];
    return grpo_loss(dz, lp, gl_z, gl_t, gl_w, gl_adv, gl_old, gl_ref, GL_B, GL_T, GL_V, &gl_cfg, NULL);
}

// the batch of a GRPO step and the loss normalisation of every loss type, by hand. Three rollouts in rows of
// max_len 9: prompts of 3, 2, 4 tokens, responses of 2, 5, 3 tokens (sequence lengths 5, 7, 7), so T = 6 and
// token t predicts token t + 1: the completion mask is 1 for t + 1 in [prompt, sequence):
//   row 0: t = 2, 3        row 1: t = 1..5        row 2: t = 3..5          (|o_i| = 2, 5, 3; 10 in all)
// with max_len 14 (the longest response the context allows):
//   grpo     1 / (3 |o_i|) = 1/6, 1/15, 1/9     (each row sums to 1/3: the mean of the responses' means)
//   bnpo     1 / 10 on every response token     (the mean over the batch's tokens)
//   dr_grpo  1 / (3 x 14) = 1/42                (a constant: sums, not means)
//   dapo     1 / 10, as bnpo                    (one batch per step: the whole batch's tokens)
static void test_grpo_weights(void) {
    enum { N = 3, L = 9, T = 6 };
    int seqs[N * L], pl[N] = { 3, 2, 4 }, sl[N] = { 5, 7, 7 }, prompt[N] = { 0, 1, 2 };
    for (int i = 0; i < N * L; i++) seqs[i] = N_SPECIAL + i % (VOCAB_SIZE - N_SPECIAL); // distinct, no <eos>
    Rollouts r = { .n = N, .max_len = L, .seqs = seqs, .prompt_len = pl, .seq_len = sl, .prompt = prompt };
    int inputs[N * T], targets[N * T], len[N];
    float mask[N * T], w[N * T];
    const float want_mask[N * T] = { 0, 0, 1, 1, 0, 0,
                                     0, 1, 1, 1, 1, 1,
                                     0, 0, 0, 1, 1, 1 };
    rollout_batch(&r, T, inputs, targets, mask, len);
    int bad = 0;
    for (int i = 0; i < N; i++) for (int t = 0; t < T; t++) {
        int want_in = t < sl[i] ? seqs[i * L + t] : TOK_EOS, want_tg = t + 1 < sl[i] ? seqs[i * L + t + 1] : TOK_EOS;
        bad += inputs[i * T + t] != want_in || targets[i * T + t] != want_tg || mask[i * T + t] != want_mask[i * T + t];
    }
    // the positions whose target is in the rollout: sequences of 5, 7, 7 tokens, the last two cut at T = 6
    check(bad == 0 && len[0] == 4 && len[1] == 6 && len[2] == 6, "rollout_batch by hand (responses of 2, 5, 3 "
          "tokens after prompts of 3, 2, 4): inputs, targets shifted by one, <eos> padding, completion mask: %d of "
          "%d positions wrong; row lengths %d %d %d (want 4 6 6)", bad, N * T, len[0], len[1], len[2]);
    const double row_w[N_LOSSES][N] = { { 1.0 / 6, 1.0 / 15, 1.0 / 9 }, { 0.1, 0.1, 0.1 }, { 1.0 / 42, 1.0 / 42, 1.0 / 42 },
                                        { 0.1, 0.1, 0.1 } };
    const double want_total[N_LOSSES] = { 1.0, 1.0, 10.0 / 42, 1.0 };
    for (int lt = 0; lt < N_LOSSES; lt++) {
        for (int i = 0; i < N * T; i++) w[i] = -1.0f;  // every entry must be written
        grpo_loss_weights(w, want_mask, N, T, 14, lt);
        double err = 0.0, total = 0.0;
        for (int i = 0; i < N; i++) for (int t = 0; t < T; t++) {
            err = fmax(err, fabs(w[i * T + t] - want_mask[i * T + t] * row_w[lt][i]));
            total += w[i * T + t];
        }
        check(err < 1e-8 && fabs(total - want_total[lt]) < 1e-6, "grpo_loss_weights %-7s by hand: weights %.6f %.6f "
              "%.6f on the response tokens, 0 elsewhere, max error %.1e (tol 1e-8); sum %.6f (expected %.6f)",
              LOSS_NAMES[lt], w[2], w[T + 1], w[2 * T + 3], err, total, want_total[lt]);
    }
}

static void test_grpo(void) {
    // advantages by hand: rewards (1, 0, 0, 1): mean 0.5, unbiased variance (4 * 0.25) / 3 = 1/3 (torch.std, as TRL),
    // std 0.5773503; A = +-0.5 / (0.5773503 + 1e-4) = +-0.8658754
    float r1[8] = { 1, 0, 0, 1, 0.5f, 0.5f, 0.5f, 1.5f }, a1[8];
    grpo_advantages(a1, r1, 2, 4, SCALE_GROUP);
    // second group (0.5, 0.5, 0.5, 1.5): mean 0.75, var (3 * 0.0625 + 0.5625) / 3 = 0.25, std 0.5: A = (-0.25 x3, 0.75) / 0.5001
    double want1[8] = { 0.8658754, -0.8658754, -0.8658754, 0.8658754, -0.4999000, -0.4999000, -0.4999000, 1.4997001 };
    double e = 0.0;
    for (int i = 0; i < 8; i++) e = fmax(e, fabs(a1[i] - want1[i]));
    check(e < 1e-5, "grpo_advantages by hand, two groups, (r - mean) / (std + 1e-4) with the unbiased std: max error %.2e (tol 1e-5)", e);
    // Dr. GRPO: r - mean only. (1, 0, 0, 1.1): mean 0.525 -> (0.475, -0.525, -0.525, 0.575)
    float r2[4] = { 1, 0, 0, 1.1f }, a2[4];
    grpo_advantages(a2, r2, 1, 4, SCALE_NONE);
    double want2[4] = { 0.475, -0.525, -0.525, 0.575 };
    e = 0.0;
    for (int i = 0; i < 4; i++) e = fmax(e, fabs(a2[i] - want2[i]));
    check(e < 1e-6, "grpo_advantages scale none (Dr. GRPO) = r - mean by hand: max error %.2e (tol 1e-6)", e);
    // scale batch: the std of all 8 rewards of r1 above: mean 0.625, squares of deviations
    // 0.140625 + 0.390625 * 2 + 0.140625 + 0.015625 * 3 + 0.765625 = 1.875, / 7 = 0.2678571, std 0.5175492;
    // group means 0.5 and 0.75: A = (0.5, -0.5, -0.5, 0.5, -0.25, -0.25, -0.25, 0.75) / 0.5176492
    grpo_advantages(a1, r1, 2, 4, SCALE_BATCH);
    double dev[8] = { 0.5, -0.5, -0.5, 0.5, -0.25, -0.25, -0.25, 0.75 };
    e = 0.0;
    for (int i = 0; i < 8; i++) e = fmax(e, fabs(a1[i] - dev[i] / 0.5176492));
    check(e < 1e-5, "grpo_advantages scale batch by hand (group mean, batch std): max error %.2e (tol 1e-5)", e);
    // a group of equal rewards gets exactly 0, no NaN: rewards a real run produces (accuracy + 0.1 format, + language)
    float vals[5] = { 0.0f, 1.0f, 0.1f, 1.1f, 1.0f + 0.1f + 0.1f * 0.7f };
    int Gs[4] = { 16, 8, 6, 5 }, nonzero = 0, nonfinite = 0, cases = 0;
    float worst = 0.0f;
    for (int gi = 0; gi < 4; gi++) for (int vi = 0; vi < 5; vi++) for (int scale = 0; scale < N_SCALES; scale++) {
        float r[16] = { 0 }, a[16];
        for (int i = 0; i < Gs[gi]; i++) r[i] = vals[vi];
        grpo_advantages(a, r, 1, Gs[gi], scale);
        cases++;
        for (int i = 0; i < Gs[gi]; i++) {
            if (!isfinite(a[i])) nonfinite++;
            else if (a[i] != 0.0f) { nonzero++; if (fabsf(a[i]) > worst) worst = fabsf(a[i]); }
        }
    }
    check(nonzero == 0 && nonfinite == 0, "grpo_advantages: equal rewards give exactly 0 (G 16/8/6/5, rewards 0, 1, 0.1, 1.1, 1.17, "
          "every scale_rewards): %d nonzero (largest |A| %.3g), %d not finite, over %d groups", nonzero, worst, nonfinite, cases);

    // the rewards of a run: accuracy + 0.1 format; format alone; the random control, a coin of p = 0.3 that
    // ignores the response (right and wrong responses get reward 1 equally often)
    {
        GrpoOptions o = grpo_defaults();
        Judgement right = { .correct = 1.0f, .format = 1.0f }, wrong = { .correct = 0.0f, .format = 1.0f };
        RewardSet acc_fmt = reward_set("accuracy,format", &o), fmt = reward_set("format", &o);
        RewardSet coin = reward_set("random,format", &o), coin_over_acc = reward_set("accuracy,random", &o);
        Rng rng = rng_seed(7);
        int ok = grpo_reward(&right, &acc_fmt, &rng) == 1.1f && grpo_reward(&wrong, &acc_fmt, &rng) == 0.1f &&
                 grpo_reward(&right, &fmt, &rng) == 0.1f && !coin_over_acc.accuracy && coin_over_acc.random;
        double sum_right = 0.0, sum_wrong = 0.0;
        for (int i = 0; i < 20000; i++) {
            sum_right += grpo_reward(&right, &coin, &rng) - 0.1f;
            sum_wrong += grpo_reward(&wrong, &coin, &rng) - 0.1f;
        }
        check(ok && fabs(sum_right / 20000 - 0.3) < 0.015 && fabs(sum_wrong / 20000 - 0.3) < 0.015,
              "grpo_reward: accuracy + 0.1 format 1.1 / 0.1, format alone 0.1; the random control rewards right and "
              "wrong responses alike: %.3f and %.3f of 20000 (want 0.3 +- 0.015)", sum_right / 20000, sum_wrong / 20000);
    }

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
        GrpoConfig g = { .beta = 0.1f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f };
        GrpoStats st = {0};
        float loss = grpo_loss(dz, lp, z, tg, w, adv, old, ref, 1, 2, 3, &g, &st);
        double el = fabs(loss + 1.7220462), ep = fmax(fabs(lp[0] + 0.4076060), fabs(lp[1] + 1.0986123));
        check(el < 1e-5 && ep < 1e-6, "grpo_loss by hand: loss %.7f (expected -1.7220462, tol 1e-5), logp %.7f %.7f (expected -0.4076060 -1.0986123)",
              loss, lp[0], lp[1]);
        // the entropies: softmax(1, 2, 0) gives 0.8323956, the uniform (0, 0, 0) log 3 = 1.0986123; sum 1.9310079
        check(st.clipped_high == 1.0 && st.clipped_low == 0.0 && fabs(st.kl - 0.0110289) < 1e-6 && st.tokens == 2.0 &&
              fabs(st.entropy - 1.9310079) < 1e-5,
              "grpo_loss stats by hand: clipped high %g low %g (expected 1, 0), kl sum %.7f (expected 0.0110289), tokens %g "
              "(expected 2), entropy sum %.7f (expected 1.9310079)", st.clipped_high, st.clipped_low, st.kl, st.tokens,
              st.entropy);
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
    // GSPO: one ratio per response, exp of the mean log-ratio of its tokens
    gl_cfg.sequence_level = 1;
    grpo_loss(dz, lp, gl_z, gl_t, gl_w, gl_adv, gl_old, gl_ref, GL_B, GL_T, GL_V, &gl_cfg, NULL);
    fd_report("grpo_loss dlogits, importance sampling per sequence", fd_compare(gl_z, dz, GL_B * GL_T * GL_V, 1000, gl_loss,
              1e-3f, &g_rng));
    gl_cfg.sequence_level = 0;
    // the sequence ratio by hand, beta 0, one response (A = 1) of 2 tokens of weight 0.5, log-ratios 0.1 and 0.5:
    // the mean 0.3, ratio e^0.3 = 1.3498588 above 1 + 0.28: clipped, loss = -(0.5 + 0.5) 1.28 = -1.28, gradient 0;
    // log-ratios 0.1 and 0.2: ratio e^0.15 = 1.1618342 inside: loss -1.1618342 (per token it would be 1.1618...
    // only by chance: e^0.1 / 2 + e^0.2 / 2 = 1.1632 differs)
    {
        float z[6] = { 1, 2, 0, 0, 0, 0 }, w[2] = { 0.5f, 0.5f }, adv[1] = { 1.0f }, dz2[6], lp2[2], old[2];
        int tg[2] = { 1, 0 };
        GrpoConfig g = { .beta = 0.0f, .eps_low = 0.2f, .eps_high = 0.28f, .temperature = 1.0f, .sequence_level = 1 };
        double l0 = logp_d(z, 3, 1, 1.0), l1 = logp_d(z + 3, 3, 0, 1.0);
        old[0] = (float)(l0 - 0.1); old[1] = (float)(l1 - 0.5);
        float clipped = grpo_loss(dz2, lp2, z, tg, w, adv, old, NULL, 1, 2, 3, &g, NULL);
        float gmax = 0.0f;
        for (int i = 0; i < 6; i++) gmax = fmaxf(gmax, fabsf(dz2[i]));
        old[1] = (float)(l1 - 0.2);
        float inside = grpo_loss(dz2, lp2, z, tg, w, adv, old, NULL, 1, 2, 3, &g, NULL);
        g.sequence_level = 0;
        float per_token = grpo_loss(dz2, lp2, z, tg, w, adv, old, NULL, 1, 2, 3, &g, NULL);
        check(fabsf(clipped + 1.28f) < 1e-5f && gmax == 0.0f && fabsf(inside + 1.1618342f) < 1e-5f &&
              fabsf(per_token + 1.1632f) < 1e-3f, "grpo_loss per sequence by hand: clipped %.6f (want -1.28, gradient %g, "
              "want 0), inside %.6f (want -1.1618342), per token %.6f (want -1.1632)", clipped, gmax, inside, per_token);
    }
    // the top-entropy mask: entropies of the 4 tokens below (uniform over 3 > two-way > peaked > one-hot-ish);
    // with quantile 0.5 only the two highest keep their surrogate (beta 0, ratio 1, A = 1, w = 1): loss -2
    {
        float z[12] = { 0, 0, 0, 0, 0, -30, 3, 0, 0, 9, 0, 0 }, w[4] = { 1, 1, 1, 1 }, adv[1] = { 1.0f }, dz2[12], lp2[4];
        int tg[4] = { 0, 0, 0, 0 };
        GrpoConfig g = { .beta = 0.0f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f, .top_entropy_quantile = 0.5f };
        float loss = grpo_loss(dz2, lp2, z, tg, w, adv, NULL, NULL, 1, 4, 3, &g, NULL);
        float g_low = 0.0f, g_high = 0.0f;
        for (int i = 0; i < 6; i++) g_high = fmaxf(g_high, fabsf(dz2[i]));
        for (int i = 6; i < 12; i++) g_low = fmaxf(g_low, fabsf(dz2[i]));
        check(fabsf(loss + 2.0f) < 1e-6f && g_high > 0.0f && g_low == 0.0f, "grpo_loss --top-entropy-quantile 0.5 by hand: "
              "loss %.6f (want -2: two of four tokens), gradient on the high-entropy tokens %.3g (want > 0), on the "
              "others %g (want 0)", loss, g_high, g_low);
    }
    // the same four tokens with a KL term (beta 0.5, the reference's log-probability 1 above the policy's, so
    // d = 1 and kl = e - 2 = 0.7182818 for every token): a token below the threshold drops its surrogate but
    // keeps its KL. loss = -2 + 0.5 x 4 x 0.7182818 = -0.5634363, and the low-entropy tokens get a gradient.
    {
        float z[12] = { 0, 0, 0, 0, 0, -30, 3, 0, 0, 9, 0, 0 }, w[4] = { 1, 1, 1, 1 }, adv[1] = { 1.0f }, dz2[12];
        float lp2[4], ref[4];
        int tg[4] = { 0, 0, 0, 0 };
        GrpoConfig g = { .beta = 0.5f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f, .top_entropy_quantile = 0.5f };
        grpo_loss(dz2, lp2, z, tg, w, adv, NULL, NULL, 1, 4, 3, &g, NULL);  // lp2: the policy's log-probabilities
        for (int n = 0; n < 4; n++) ref[n] = lp2[n] + 1.0f;
        float loss = grpo_loss(dz2, lp2, z, tg, w, adv, NULL, ref, 1, 4, 3, &g, NULL);
        float g_low = 0.0f;
        for (int i = 6; i < 12; i++) g_low = fmaxf(g_low, fabsf(dz2[i]));
        check(fabsf(loss + 0.5634363f) < 1e-5f && g_low > 0.01f, "grpo_loss --top-entropy-quantile 0.5, beta 0.5, "
              "by hand: loss %.7f (want -0.5634363: the surrogate of two tokens, the KL of all four), gradient on "
              "the low-entropy tokens %.3g (want > 0.01: their KL's)", loss, g_low);
    }
    // the threshold is torch.quantile's, as TRL's: the sorted entropies of the response tokens (w > 0)
    // read at position (1 - q)(n - 1), interpolated linearly. Two responses of four tokens and a padding
    // position each; token k of them is uniform over k of V = 8 (logits 0, the rest -40): entropy log k
    //   q 0.7: position 0.3 x 7 = 2.1, between log 3 and log 4:
    //          1.0986123 + 0.1 (1.3862944 - 1.0986123) = 1.1273805
    //          kept (entropy >= threshold): k = 4 .. 8, 5 tokens (sorted[(int)(0.3 x 8)] = log 3: 6 tokens)
    //   q 0.9: position 0.1 x 7 = 0.7, between log 1 and log 2: 0 + 0.7 x 0.6931472 = 0.4852030
    //          kept: k = 2 .. 8, 7 tokens (sorted[(int)(0.1 x 8)] = log 1 would keep all 8)
    // The padding is not in the quantile (its entropies 0 would put q 0.7 at 0.3 x 9 = 2.7 of 0, 0, 0,
    // log 2, ...). With beta 0, ratio 1, A = 1 and w = 1 each kept token adds -1 to the loss; the others
    // get no gradient.
    {
        enum { B = 2, T = 5, V = 8 };
        const int k_of[B * T] = { 5, 1, 8, 3, 0, 6, 2, 7, 4, 0 };  // 0: padding
        const float q[2] = { 0.7f, 0.9f };
        const double want_threshold[2] = { 1.1273805, 0.4852030 };
        const int want_kept_from[2] = { 4, 2 }, want_kept[2] = { 5, 7 };
        float z[B * T * V], w[B * T], adv[B] = { 1.0f, 1.0f }, dz2[B * T * V], lp2[B * T], entropy[B * T];
        int tg[B * T] = { 0 };
        for (int n = 0; n < B * T; n++) {
            w[n] = k_of[n] > 0;
            entropy[n] = k_of[n] ? logf((float)k_of[n]) : 9.0f;  // the padding's value must not matter
            for (int i = 0; i < V; i++) z[n * V + i] = i < k_of[n] ? 0.0f : -40.0f;
        }
        for (int c = 0; c < 2; c++) {
            GrpoConfig g = { .beta = 0.0f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f,
                             .top_entropy_quantile = q[c] };
            float threshold = entropy_threshold(entropy, w, B * T, q[c]);
            float loss = grpo_loss(dz2, lp2, z, tg, w, adv, NULL, NULL, B, T, V, &g, NULL);
            int wrong = 0;  // tokens whose gradient is zero where it should not be, or the reverse
            for (int n = 0; n < B * T; n++) {
                int kept = k_of[n] >= want_kept_from[c];
                wrong += kept != (max_abs_f(dz2 + n * V, V) > 1e-3f);
            }
            check(fabs(threshold - want_threshold[c]) < 1e-6 && fabsf(loss + want_kept[c]) < 1e-5f &&
                  wrong == 0, "grpo_loss --top-entropy-quantile %.1f by hand (torch.quantile's "
                  "interpolation, padding left out): threshold %.7f (want %.7f), loss %.6f (want -%d: the "
                  "tokens of entropy >= threshold), %d tokens with a gradient where they should have none or "
                  "the reverse", q[c], threshold, want_threshold[c], loss, want_kept[c], wrong);
        }
    }
    // TRL keeps the tokens at the threshold (entropy >= threshold): four tokens of equal entropy (each
    // uniform over 3) all keep their surrogate at quantile 0.5, per token and per sequence: loss -4, and
    // every token a gradient
    for (int level = 0; level < 2; level++) {
        float z[12] = { 0 }, w[4] = { 1, 1, 1, 1 }, adv[1] = { 1.0f }, dz2[12], lp2[4];
        int tg[4] = { 0, 1, 2, 0 };
        GrpoConfig g = { .beta = 0.0f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f,
                         .top_entropy_quantile = 0.5f, .sequence_level = level };
        float loss = grpo_loss(dz2, lp2, z, tg, w, adv, NULL, NULL, 1, 4, 3, &g, NULL);
        float g_min = 1.0f;
        for (int n = 0; n < 4; n++) g_min = fminf(g_min, max_abs_f(dz2 + n * 3, 3));
        check(fabsf(loss + 4.0f) < 1e-5f && g_min > 0.1f, "grpo_loss --top-entropy-quantile 0.5, %s level, "
              "four tokens of equal entropy: loss %.6f (want -4: all kept, the threshold is their entropy), "
              "smallest per-token max|dlogits| %.3g (want 2/3)", level ? "sequence" : "token", loss, g_min);
    }
    gl_cfg.top_entropy_quantile = 0.5f;
    grpo_loss(dz, lp, gl_z, gl_t, gl_w, gl_adv, gl_old, gl_ref, GL_B, GL_T, GL_V, &gl_cfg, NULL);
    fd_report("grpo_loss dlogits, top-entropy quantile 0.5", fd_compare(gl_z, dz, GL_B * GL_T * GL_V, 1000, gl_loss, 1e-3f,
              &g_rng));
    gl_cfg.top_entropy_quantile = 0.0f;

    // clipping stops the gradient exactly where it should (beta 0): one token per response, A = +1, -1, +1, -1,
    // ratios 1.5, 0.5, 0.5, 1.5 against [0.8, 1.2]: rows 0 and 1 exactly zero, rows 2 and 3 not
    {
        int V = 4, tg[4] = { 0, 1, 2, 3 };
        float z[16], w[4] = { 1, 1, 1, 1 }, adv[4] = { 1, -1, 1, -1 }, rr[4] = { 1.5f, 0.5f, 0.5f, 1.5f }, old[4], d[16], l[4];
        for (int i = 0; i < 16; i++) z[i] = rng_normal(&g_rng);
        for (int n = 0; n < 4; n++) old[n] = (float)(logp_d(z + n * V, V, tg[n], 1.0f) - log(rr[n]));
        GrpoConfig g = { .beta = 0.0f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f };
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
        GrpoConfig g = { .beta = 1.0f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f };
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
        GrpoConfig g = { .beta = 0.0f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 0.8f };
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

// the step around the loss (grpo_step) on one group of two responses to a prompt of 4 tokens: one finished
// (4 tokens and <eos>: 5 response tokens), one cut off by the context (12 tokens, no <eos>, the row full),
// rewards 1 and 0. lr 0 and no clip: the parameters stay and the step's gradient is left in m->grads_mem.
// No balance loss (the MoE's own loss sees every position). *tokens: the response tokens the loss counted
static void truncated_step(Model *m, const int *cut_response, int mask_truncated, float *grads,
                           double *tokens) {
    enum { L = 16 };
    int seqs[2 * L], prompt_len[2] = { 4, 4 }, seq_len[2] = { 9, L }, prompt[2] = { 0, 0 };
    for (int t = 0; t < 4; t++) seqs[t] = seqs[L + t] = N_SPECIAL + 3 * t;
    for (int t = 4; t < 8; t++) seqs[t] = N_SPECIAL + t;
    seqs[8] = TOK_EOS;
    for (int t = 9; t < L; t++) seqs[t] = TOK_EOS;  // past seq_len: never read
    for (int t = 4; t < L; t++) seqs[L + t] = cut_response[t - 4];
    Rollouts r = { .n = 2, .max_len = L, .seqs = seqs, .prompt_len = prompt_len, .seq_len = seq_len,
                   .prompt = prompt };
    float reward[2] = { 1.0f, 0.0f };
    GrpoConfig g = { .beta = 0.0f, .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f,
                     .num_iterations = 1, .loss_type = LOSS_GRPO, .scale_rewards = SCALE_GROUP,
                     .mask_truncated_completions = mask_truncated, .max_completion_length = 12 };
    GrpoStepLog log;
    float balance_alpha = m->balance_alpha;
    m->balance_alpha = 0.0f;
    int status = grpo_step(m, NULL, &r, reward, 2, &g, &log);
    m->balance_alpha = balance_alpha;
    if (status != STEP_OK) die("truncated_step: grpo_step stopped (%d)", status);
    memcpy(grads, m->grads_mem, m->num_params * sizeof(float));
    *tokens = log.st.tokens;
}

// --mask-truncated-completions: a response cut off by the context (no <eos>) gets no loss and no gradient,
// the finished one does. Two cut-off responses of different tokens give the same step when masked (the
// finished response's 5 tokens alone), different steps when not (5 + 12 tokens).
// The reference mixed towards the policy: ref = alpha policy + (1 - alpha) ref, router biases too.
static void test_grpo_step(void) {
    Model *m = model_create(&find_preset("tiny")->cfg, "tiny", 3);
    float *grads_a = mallocCheck(m->num_params * sizeof(float));
    float *grads_b = mallocCheck(m->num_params * sizeof(float));
    int cut_a[12], cut_b[12];
    for (int t = 0; t < 12; t++) {
        cut_a[t] = N_SPECIAL + rng_int(&g_rng, VOCAB_SIZE - N_SPECIAL);
        cut_b[t] = N_SPECIAL + (cut_a[t] - N_SPECIAL + 1 + t % 5) % (VOCAB_SIZE - N_SPECIAL);
    }
    for (int masked = 1; masked >= 0; masked--) {
        double tokens_a, tokens_b;
        truncated_step(m, cut_a, masked, grads_a, &tokens_a);
        truncated_step(m, cut_b, masked, grads_b, &tokens_b);
        int same = memcmp(grads_a, grads_b, m->num_params * sizeof(float)) == 0;
        float largest = max_abs_f(grads_a, m->num_params);
        double want_tokens = masked ? 5 : 17;
        check(tokens_a == want_tokens && tokens_b == want_tokens && same == masked && largest > 0.0f,
              "grpo_step --mask-truncated-completions %d, a finished response and one cut off by the "
              "context: %g and %g response tokens in the loss (want %g), the gradient %s with the cut-off "
              "response's tokens (want %s), largest |gradient| %.3g (want > 0)", masked, tokens_a, tokens_b,
              want_tokens, same ? "unchanged" : "changes", masked ? "unchanged" : "changes", largest);
    }
    free(grads_a); free(grads_b);
    // the reference mixed with alpha 0.6 (TR-DPO's), then reset with alpha 1
    Model *ref = model_create(&find_preset("tiny")->cfg, "tiny", 4);
    float *ref_before = mallocCheck(m->num_params * sizeof(float));
    float bias_before[MAX_LAYERS][MAX_EXPERTS];
    for (int l = 0; l < MAX_LAYERS; l++)
        for (int e = 0; e < MAX_EXPERTS; e++) {
            m->router_bias[l][e] = rng_normal(&g_rng);
            ref->router_bias[l][e] = rng_normal(&g_rng);
        }
    memcpy(ref_before, ref->params_mem, m->num_params * sizeof(float));
    memcpy(bias_before, ref->router_bias, sizeof bias_before);
    reference_sync(ref, m, 0.6f);
    double err = 0.0, moved = 0.0;
    for (size_t i = 0; i < m->num_params; i++) {
        err = fmax(err, fabs(ref->params_mem[i] - (0.6 * m->params_mem[i] + 0.4 * ref_before[i])));
        moved = fmax(moved, fabs(ref->params_mem[i] - ref_before[i]));
    }
    double bias_err = 0.0;
    for (int l = 0; l < MAX_LAYERS; l++)
        for (int e = 0; e < MAX_EXPERTS; e++)
            bias_err = fmax(bias_err, fabs(ref->router_bias[l][e] -
                                           (0.6 * m->router_bias[l][e] + 0.4 * bias_before[l][e])));
    check(err < 1e-6 && bias_err < 1e-6 && moved > 1e-3, "reference_sync alpha 0.6: parameters 0.6 policy "
          "+ 0.4 reference, max error %.1e, router biases max error %.1e (tol 1e-6); the reference moved "
          "%.3g",
          err, bias_err, moved);
    reference_sync(ref, m, 1.0f);
    int copied = memcmp(ref->params_mem, m->params_mem, m->num_params * sizeof(float)) == 0 &&
                 memcmp(ref->router_bias, m->router_bias, sizeof m->router_bias) == 0;
    check(copied, "reference_sync alpha 1 (R1's reset): the reference is the policy, parameters and router "
          "biases");
    free(ref_before);
    model_free(ref); model_free(m);
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

// the same as an unprivileged user (nobody) when the tests run as root, who may read and write anything
static void drop_root(void) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) die("cannot become nobody");
}
static void child_load_unprivileged(const void *arg) { drop_root(); child_load(arg); }
static void child_make_dirs(const void *arg) { make_dirs((const char *)arg); }
static void child_make_dirs_unprivileged(const void *arg) { drop_root(); child_make_dirs(arg); }

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
    // the whole language tag, not only its first letter
    load_case("prompts: a tag without its colon", "p9.txt", "e:12+34=\t46\t2\ne12+34=\t46\t2\n", 64, 1, ":2", "language tag");
    load_case("prompts: a word for a tag", "p10.txt", "ex12+34=\t46\t2\n", 64, 1, ":1", "language tag");
    // the real cause: a folder, a checkpoint, a file of another kind, a permission
    make_dirs(tmp_path("adir"));
    load_case("a folder given as a data file", "adir", NULL, 64, 0, "", "is a folder, not a data file");
    Model *tm = tiny_model(3);
    checkpoint_save(tmp_path("ck_as_data.bin"), tm, 0, 0, 0);
    model_free(tm);
    load_case("a checkpoint given as a data file", "ck_as_data.bin", NULL, 64, 2, "", "is an r1 checkpoint, not a data file");
    load_case("a prompt file given as a corpus", "k1.txt", "e:12+34=\t46\t2\n", 64, 0, ":1", "two tabs: a prompt line?");
    load_case("an SFT file given as prompts", "k2.txt", "e:12+34=\t<think></think><answer>046</answer><eos>\n", 64, 1, ":1",
              "one tab: an SFT line?");
    load_case("a prompt file given as SFT data", "k3.txt", "e:12+34=\t46\t2\n", 64, 2, ":1", "two tabs: a prompt line?");
    load_case("a corpus given as SFT data", "k4.txt", ok, 64, 2, ":1", "no tab: a corpus line?");
    const char *locked = tmp_path("locked.txt");
    write_whole(locked, ok, strlen(ok));
    chmod(locked, 0);
    LoadArg la = { locked, 64, 0 };
    expect_die("a data file without read permission", child_load_unprivileged, &la, locked, "Permission denied");
    expect_die("an output folder without write permission", child_make_dirs_unprivileged, tmp_path("locked_dir/run"),
               "cannot create the folder", "Permission denied");
    expect_die("an output folder that is a file", child_make_dirs, locked, locked, "is not a folder");
    // a line of 4095 bytes is the longest: at the end of the file without a newline too; 4096 is too long
    char *long_line = mallocCheck(4100);
    memset(long_line, 'a', 4096);
    long_line[4095] = '\n';
    write_whole(tmp_path("l1.txt"), long_line, 4095);
    write_whole(tmp_path("l2.txt"), long_line, 4096);
    int n1 = 0, n2 = 0;
    char **l1 = read_lines(tmp_path("l1.txt"), &n1), **l2 = read_lines(tmp_path("l2.txt"), &n2);
    check(n1 == 1 && strlen(l1[0]) == 4095 && n2 == 1 && strlen(l2[0]) == 4095, "a 4095-byte line is read whole, at the end "
          "of the file without a newline (%d line of %zu bytes) and with one (%d line of %zu bytes)", n1, strlen(l1[0]), n2,
          strlen(l2[0]));
    free(l1[0]); free(l1); free(l2[0]); free(l2);
    memcpy(long_line + 4095, "a\nb\n", 4);
    write_whole(tmp_path("l3.txt"), long_line, 4096);
    load_case("a 4096-byte last line", "l3.txt", NULL, 64, 0, ":1", "line too long");
    write_whole(tmp_path("l4.txt"), long_line, 4099);
    load_case("a 4096-byte line with a newline", "l4.txt", NULL, 64, 0, ":1", "line too long");
    free(long_line);
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
        { "ppo", cmd_ppo, { "--algo", "dpo" }, "is not one of" },
        { "ppo", cmd_ppo, { "--lambda", "2" }, "out of range" },
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
        { "prm", cmd_prm, { "--layers", "2" }, "unknown option" },
        { "prm", cmd_prm, { "--k" }, "needs a value" },
        { "prm", cmd_prm, { "--hidden", "0" }, "out of range" },
        { "mcts", cmd_mcts, { "--rollouts", "2" }, "unknown option" },
        { "mcts", cmd_mcts, { "--simulations" }, "needs a value" },
        { "mcts", cmd_mcts, { "--c-puct", "-1" }, "out of range" },
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        char name[100], who[40];
        snprintf(name, sizeof name, "r1 %s %s %s", cases[i].cmd, cases[i].argv[0], cases[i].argv[1] ? cases[i].argv[1] : "");
        snprintf(who, sizeof who, "%s: ", cases[i].cmd);
        expect_die(name, child_cmd, &cases[i], who, cases[i].want);
    }
}

// a command line: fn is the command, argv its options (NULL-terminated)
typedef struct { void (*fn)(int, char **); const char *argv[40]; } CmdLine;
static void child_cmdline(const void *arg) {
    const CmdLine *c = arg;
    int argc = 0;
    while (c->argv[argc]) argc++;
    c->fn(argc, (char **)c->argv);
}

// c plus the options in extra (NULL-terminated)
static CmdLine cmdline_with(CmdLine c, const char **extra) {
    int n = 0;
    while (c.argv[n]) n++;
    for (int i = 0; extra[i] && n < 39; i++) c.argv[n++] = extra[i];
    c.argv[n] = NULL;
    return c;
}

// every command's options against what its --help documents: each number just outside its range
// [lo, hi] (and an int that is not an integer) and each bad word of a {word,...} set must be refused
// with one line naming the option; the bounds and every word must pass the parser. The base command
// line makes the command fail right after parsing (a checkpoint that does not exist, a folder it cannot
// create), so a value the parser accepts reaches that error instead.
static void test_option_sets(void) {
    char out[300], outfile[300];
    snprintf(out, sizeof out, "%s/sets_run", tmp_root);
    snprintf(outfile, sizeof outfile, "%s/sets_run.txt", tmp_root);
    const char *ns = "/nonexistent_sink.bin";
    struct { const char *name; CmdLine base; const char *sink; } cmds[] = {
        { "gen", { cmd_gen, { "--out", "/dev/null/x" } }, "/dev/null/x" },
        { "pretrain", { cmd_pretrain, { "--init", ns, "--out", out } }, ns },
        { "sft", { cmd_sft, { "--init", ns, "--out", out } }, ns },
        { "eval", { cmd_eval, { "--model", ns } }, ns },
        { "sample", { cmd_sample, { "--model", ns } }, ns },
        { "zero", { cmd_zero, { "--init", ns, "--out", out } }, ns },
        { "grpo", { cmd_grpo, { "--init", ns, "--out", out } }, ns },
        { "ppo", { cmd_ppo, { "--init", ns, "--out", out } }, ns },
        { "rejsample", { cmd_rejsample, { "--model", ns, "--out", outfile } }, ns },
        { "distill", { cmd_distill, { "--student", ns, "--out", out } }, ns },
        { "pipeline", { cmd_pipeline, { "--out", "/dev/null/x" } }, "/dev/null/x" },
        { "prm", { cmd_prm, { "--init", ns, "--out", out } }, ns },
        { "mcts", { cmd_mcts, { "--init", ns, "--out", out } }, ns },
    };
    const char *with_overwrite[] = { "pretrain", "sft", "zero", "grpo", "ppo", "rejsample", "distill",
                                     "pipeline", "prm", "mcts" };
    int total_bad = 0, total_good = 0, total_opts = 0;
    for (int c = 0; c < (int)(sizeof cmds / sizeof cmds[0]); c++) {
        // the command's --help, as documentation
        const char *help_path = tmp_path("help.txt");
        const char *help_argv[] = { "--help", NULL };
        CmdLine h = cmdline_with((CmdLine){ cmds[c].base.fn, { NULL } }, help_argv);
        StdoutTo to = { child_cmdline, &h, help_path };
        char err[4096];
        run_child(child_stdout_to, &to, err, sizeof err);
        char *help = read_whole(help_path, NULL);
        int n_opts = 0, bad = 0, good = 0, wrong = 0;
        for (char *line = help; line && (line = strstr(line, "\n  --")); line++) {
            char name[40], values[8][220];
            const char *want[8];
            int n = 0;
            if (sscanf(line + 5, "%39s", name) != 1) continue;
            n_opts++;
            char *end = strstr(line, " (default:"), *range = strstr(line, " ["), *set = strchr(line, '{');
            double lo, hi;
            if (range && range < end && sscanf(range, " [%lf, %lf]", &lo, &hi) == 2) {
                snprintf(values[n], sizeof values[n], "%.17g", lo - 1); want[n++] = "out of range";
                snprintf(values[n], sizeof values[n], "%.17g", hi + 1); want[n++] = "out of range";
                snprintf(values[n], sizeof values[n], "%.17g", lo); want[n++] = NULL;
                snprintf(values[n], sizeof values[n], "%.17g", hi); want[n++] = NULL;
                // an int option refuses lo + 0.5; a float option takes it
                snprintf(values[n], sizeof values[n], "%.17g", lo + 0.5); want[n++] = lo + 0.5 <= hi ? "?int" : "out of range";
            } else if (set && set < end) {
                int list = strstr(line, "comma list") && strstr(line, "comma list") < set;
                char words[200], *w;
                snprintf(words, sizeof words, "%.*s", (int)strcspn(set + 1, "}"), set + 1);
                snprintf(values[n], sizeof values[n], "nosuch"); want[n++] = "is not one of";
                char first[40];
                snprintf(first, sizeof first, "%.*s", (int)strcspn(words, ","), words);
                snprintf(values[n], sizeof values[n], "%s,nosuch", first); want[n++] = "is not one of";
                if (list) {
                    snprintf(values[n], sizeof values[n], "%s,%s", first, first); want[n++] = "given twice";
                    snprintf(values[n], sizeof values[n], "%s,", first); want[n++] = "is not one of";
                    snprintf(values[n], sizeof values[n], "%s", words); want[n++] = NULL;  // the whole set
                } else {
                    for (w = strtok(words, ","); w && n < 8; w = strtok(NULL, ",")) {
                        snprintf(values[n], sizeof values[n], "%s", w);
                        want[n++] = NULL;
                    }
                }
            } else continue;
            for (int v = 0; v < n; v++) {
                char opt[48];
                snprintf(opt, sizeof opt, "--%s", name);
                const char *extra[] = { opt, values[v], NULL };
                CmdLine cl = cmdline_with(cmds[c].base, extra);
                int st, ok;
                if (want[v] && strcmp(want[v], "?int") == 0) {  // refused as "not an integer", or taken
                    ok = dies_with(child_cmdline, &cl, opt, "not an integer", err, sizeof err, &st) ||
                         dies_with(child_cmdline, &cl, cmds[c].sink, NULL, err, sizeof err, &st);
                    ok = ok && !strstr(err, "out of range");
                } else if (want[v]) {
                    ok = dies_with(child_cmdline, &cl, opt, want[v], err, sizeof err, &st);
                    bad++;
                } else {
                    ok = dies_with(child_cmdline, &cl, cmds[c].sink, NULL, err, sizeof err, &st) && !strstr(err, "option");
                    good++;
                }
                if (!ok) { wrong++; fprintf(stderr, "  r1 %s %s %s: %s\n", cmds[c].name, opt, values[v], err); }
            }
        }
        int documented = 1;
        for (int i = 0; i < (int)(sizeof with_overwrite / sizeof with_overwrite[0]); i++)
            if (strcmp(with_overwrite[i], cmds[c].name) == 0) documented = help && strstr(help, "--overwrite") != NULL;
        check(wrong == 0 && n_opts > 0 && documented, "r1 %s: %d options in --help; %d values outside the documented sets "
              "refused with one line naming the option, %d bounds and words accepted; %d wrong%s", cmds[c].name, n_opts,
              bad, good, wrong, documented ? "" : "; --overwrite missing from --help");
        total_bad += bad; total_good += good; total_opts += n_opts;
        free(help);
    }
    printf("      (%d options of %d commands, %d bad values, %d good ones)\n", total_opts,
           (int)(sizeof cmds / sizeof cmds[0]), total_bad, total_good);
}

static void test_options(void) {
    static char *cases[][4] = {
        { "--bogus", NULL }, { "--steps", NULL }, { "--steps", "1000", NULL }, { "--steps", "0", NULL },
        { "--steps", "-3", NULL }, { "--lr", "abc", NULL }, { "--lr", "1e-3x", NULL }, { "--lr", "nan", NULL },
        { "--steps", "2.5", NULL }, { "stray", NULL }, { "--lr", "", NULL },
    };
    const char *want[] = { "unknown option", "needs a value", "out of range", "out of range", "out of range", "not a number",
                           "not a number", "not a number", "not an integer", "unexpected argument", "empty value" };
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
    float wq = m->params.layer[0].wqa[3], nrm = m->params.layer[0].attn_norm[3], kvn = m->params.layer[1].kv_norm[0];
    float qn = m->params.layer[1].q_norm[1];
    check(fabsf(wq - 1.88f) < 1e-6f && fabsf(nrm - 1.9f) < 1e-6f && fabsf(kvn - 1.9f) < 1e-6f && fabsf(qn - 1.9f) < 1e-6f &&
          fabsf(m->params.norm_f[0] - 1.9f) < 1e-6f,
          "AdamW step by hand: matrix %.6f (expected 1.88), norm weights %.6f %.6f %.6f %.6f (expected 1.9, no decay)",
          wq, nrm, kvn, qn, m->params.norm_f[0]);
    // a second step, t = 2, g = -0.5: the moments carry over: m = 0.9 * 0.05 - 0.05 = -0.005,
    // v = 0.95 * 0.0125 + 0.05 * 0.25 = 0.024375; mhat = -0.005 / 0.19 = -0.0263158,
    // vhat = 0.024375 / 0.0975 = 0.25, mhat / sqrt(vhat) = -0.0526316:
    // a matrix 1.88 - 0.1 (-0.0526316 + 0.1 * 1.88) = 1.8664632, a norm weight 1.9 + 0.00526316 = 1.9052632
    for (size_t i = 0; i < m->num_params; i++) m->grads_mem[i] = -0.5f;
    adamw_update(m, 0.1f, 0.9f, 0.95f, 1e-8f, 0.1f, 2);
    wq = m->params.layer[0].wqa[3]; nrm = m->params.layer[0].attn_norm[3];
    check(fabsf(wq - 1.8664632f) < 1e-6f && fabsf(nrm - 1.9052632f) < 1e-6f,
          "AdamW second step by hand (moments carried over, bias correction at t = 2): matrix %.7f "
          "(expected 1.8664632), norm weight %.7f (expected 1.9052632)", wq, nrm);
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
    router_bias_update(m, 0.01f, 1);
    float *b1 = m->router_bias[1];
    check(m->cfg.context == 16 && m->cfg.top_k == 2 && b1[0] == -0.0025f && b1[1] == 0.0025f && b1[2] == 0.0f && b1[3] == 0.0f &&
          m->router_bias[0][0] == 0.0f,
          "router_bias_update by hand: (%g, %g, %g, %g), expected (-0.0025, 0.0025, 0, 0)", b1[0], b1[1], b1[2], b1[3]);
    // the loads stay for the log until model_zero_grad
    float kept = m->expert_load[1][0];
    model_zero_grad(m);
    check(kept == 3.0f && m->expert_load[1][0] == 0.0f, "the expert loads kept by router_bias_update (%g, want 3), reset by "
          "model_zero_grad (%g, want 0)", kept, m->expert_load[1][0]);
    // the bias accumulates: the same loads again give twice the step
    for (int e2 = 0; e2 < 4; e2++) m->expert_load[1][e2] = loads[e2];
    router_bias_update(m, 0.01f, 1);
    check(b1[0] == -0.005f && b1[1] == 0.005f && b1[2] == 0.0f && b1[3] == 0.0f,
          "router_bias_update accumulates: (%g, %g, %g, %g) after two steps, expected (-0.005, 0.005, 0, 0)",
          b1[0], b1[1], b1[2], b1[3]);
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

// the rows of DIR/log.csv whose elapsed_s is smaller than the row before's (a clock restarted by --resume)
static int clock_goes_back(const char *dir) {
    char path[400], line[1024];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(line, sizeof line, f)) { if (f) fclose(f); return -1; }
    int col = 0, back = 0;
    for (char *h = line; h < strstr(line, "elapsed_s"); h++) col += *h == ',';
    double prev = 0.0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        for (int k = 0; k < col && p; k++) if ((p = strchr(p, ','))) p++;
        double el = p ? atof(p) : 0.0;
        back += el < prev;
        prev = el;
    }
    fclose(f);
    return back;
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
    int na, nb, diff = log_diff(straight, killed, "tokens_per_s,elapsed_s", &na, &nb), back = clock_goes_back(killed);
    check(st == -1 && step_left == 10 && stale_tmp && same_state(a, b) && diff == 0 && na == 16 && nb == 16,
          "%s: killed while saving step 15 (killed %d, checkpoint left at step %d, stale .tmp %d), resumed to 16: "
          "bit-identical to 16 steps straight %d (params, moments, router biases, step %d vs %d); log.csv equal but for "
          "timings (first differing line %d, rows %d and %d, want 16)", name, st == -1, step_left,
          stale_tmp, same_state(a, b), b->step, a->step, diff, na, nb);
    check(a->tokens_seen == b->tokens_seen && a->tokens_seen > 0 && back == 0 &&
          memcmp(a->load_avg, b->load_avg, sizeof a->load_avg) == 0, "%s: after --resume the clock, the tokens and the "
          "expert-load average go on: tokens seen %.0f (straight %.0f), load averages equal %d, elapsed_s goes back in %d "
          "rows (want 0)", name, b->tokens_seen, a->tokens_seen, memcmp(a->load_avg, b->load_avg, sizeof a->load_avg) == 0, back);
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
    g.steps = 6; g.prompts_per_step = 2; g.num_generations = 4; g.num_iterations = 2; g.beta = 0.04f; g.ref_model_sync_steps = 2;
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
    int na, nb, diff = log_diff(straight, killed, "tokens_per_s,elapsed_s", &na, &nb), back = clock_goes_back(killed);
    check(a->tokens_seen == b->tokens_seen && a->tokens_seen > 0 && back == 0, "grpo: after --resume the clock and the "
          "tokens go on: tokens seen %.0f (straight %.0f), elapsed_s goes back in %d rows (want 0)", b->tokens_seen,
          a->tokens_seen, back);
    check(st == -1 && step_left == 4 && same_state(a, b) && diff == 0 && na == 7 && nb == 7,
          "grpo: killed while saving step 5 (killed %d, checkpoint left at step %d), resumed to 6: bit-identical to 6 "
          "steps straight %d (params, moments, router biases, step %d vs %d); log.csv equal but for timings (first "
          "differing line %d, rows %d and %d, want 7)", st == -1, step_left, same_state(a, b), b->step, a->step, diff, na, nb);
    model_free(a); model_free(b);
}

// the runs' data: the first n lines of tiny_data/NAME whose prompt and response (tab-separated, or the
// whole line) fit context tokens, written to tmp_root/out; returns how many were found
static int write_fitting_lines(const char *name, const char *out, int n, int context) {
    char path[300], line[600];
    snprintf(path, sizeof path, "tiny_data/%s", name);
    FILE *in = fopen(path, "r");
    char *text = mallocCheck((size_t)n * 600);
    int found = 0, o = 0, ids[600];
    while (in && found < n && fgets(line, sizeof line, in)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t'), bad;
        if (tab) *tab = 0;
        int lp = encode(line, ids, 600, &bad), lr = tab ? encode(tab + 1, ids, 600, &bad) : 0;
        if (tab) *tab = '\t';
        if (lp > 0 && lr >= 0 && lp + lr <= context) { o += sprintf(text + o, "%s\n", line); found++; }
    }
    if (in) fclose(in);
    write_whole(tmp_path(out), text, (size_t)o);
    free(text);
    return found;
}

// a fresh tiny model with a longer context, saved as tmp_root/name
static const char *write_tiny_init(const char *name, int context, uint64_t seed) {
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = context;
    Model *m = model_create(&cfg, "tiny", seed);
    const char *path = tmp_path(name);
    checkpoint_save(path, m, 0, 0, 0);
    model_free(m);
    return path;
}

static void test_training(void) {
    // the corpus: the first 200 documents of tiny_data/pretrain.txt that fit the context
    int n = write_fitting_lines("pretrain.txt", "corpus.txt", 200, RUN_CTX);
    const char *cpath = tmp_path("corpus.txt"), *init = write_tiny_init("init.bin", RUN_CTX, 7);
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
    // a NaN loss stops training with a one-line diagnostic
    Model *bad = checkpoint_load(init, NULL, NULL);
    bad->params.head[0] = NAN;
    const char *nan_init = tmp_path("nan.bin");
    checkpoint_save(nan_init, bad, 0, 0, 0);
    model_free(bad);
    nan_opts = t;
    nan_opts.init = nan_init; nan_opts.resume = 0; nan_opts.steps = 5; nan_opts.out = tmp_path("nan_run");
    nan_data = &d;
    expect_die("training with a NaN loss stops", child_train, NULL, "loss is nan at step 0", "no checkpoint saved yet");
    // a run whose loss becomes infinite (a learning rate of 1e30 from step 20 on) stops at the next step and
    // keeps its last good checkpoint
    snprintf(dir, sizeof dir, "%s/resumed", tmp_root);  // holds a good model.bin at step 20 from the resume test
    snprintf(ck, sizeof ck, "%s/model.bin", dir);
    size_t len_before = 0, len_after = 0;
    char *before = read_whole(ck, &len_before);
    nan_opts = t;
    nan_opts.resume = 1; nan_opts.steps = 25; nan_opts.lr = nan_opts.lr_min = 1e30f;
    expect_die("training whose loss becomes infinite stops", child_train, NULL, "not finite at step 21", "last good checkpoint");
    char *after = read_whole(ck, &len_after);
    check(before && after && len_before == len_after && memcmp(before, after, len_before) == 0,
          "after the stop the previous checkpoint is intact (%zu bytes before, %zu after)", len_before, len_after);
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
    const char *sinit = write_tiny_init("init128.bin", 128, 8), *spath = tmp_path("sft.txt");
    write_fitting_lines("coldstart.txt", "sft.txt", 60, 128);
    Data sd = load_sft(spath, 128);
    rt.data = spath; rt.init = sinit; rt.batch = 8;
    resume_case("sft", rt, &sd);
    data_free(&sd);
    test_grpo_resume(init);
    data_free(&d);
}

// ----------------------------------------------------------------------------
// 12d. run folders: a folder that holds a checkpoint is refused by every training command unless it is told
// --resume or --overwrite (and rejsample's output file unless --overwrite); --overwrite starts again,
// --resume of a finished run leaves it as it is

static int same_file(const char *a, const char *b) { // 1 if both files exist with the same bytes
    size_t la = 0, lb = 0;
    char *x = read_whole(a, &la), *y = read_whole(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x); free(y);
    return same;
}

static void test_run_folders(void) {
    char dir[300], pipe_dir[300], zero_dir[320], ck[400], log[400], file[300];
    snprintf(dir, sizeof dir, "%s/finished", tmp_root);
    snprintf(pipe_dir, sizeof pipe_dir, "%s/finished_pipeline", tmp_root);
    snprintf(zero_dir, sizeof zero_dir, "%s/zero", pipe_dir);
    snprintf(file, sizeof file, "%s/finished.txt", tmp_root);
    make_dirs(dir); make_dirs(zero_dir);
    // a finished run: its checkpoint, a copy of it, its log; the pipeline's R1-Zero stage; rejsample's file
    Model *m = tiny_model(41);
    m->step = 37;
    snprintf(ck, sizeof ck, "%s/model.bin", dir);
    checkpoint_save(ck, m, 1, 5, 0);
    checkpoint_save(tmp_path("finished_copy.bin"), m, 1, 5, 0);
    snprintf(log, sizeof log, "%s/log.csv", dir);
    write_whole(log, "step,loss\n37,1.0\n", 17);
    write_whole(tmp_path("finished_log_copy.csv"), "step,loss\n37,1.0\n", 17);
    char zero_ck[400];
    snprintf(zero_ck, sizeof zero_ck, "%s/model.bin", zero_dir);
    checkpoint_save(zero_ck, m, 1, 5, 0);
    write_whole(file, "e:12+34=\t<think></think><answer>046</answer><eos>\n", 50);
    write_whole(tmp_path("finished_copy.txt"), "e:12+34=\t<think></think><answer>046</answer><eos>\n", 50);
    model_free(m);
    struct { void (*fn)(int, char **); const char *name, *out, *mode; } cmds[] = {
        { cmd_pretrain, "pretrain", dir, NULL }, { cmd_sft, "sft", dir, NULL }, { cmd_zero, "zero", dir, NULL },
        { cmd_grpo, "grpo", dir, NULL }, { cmd_distill, "distill", dir, "logit" }, { cmd_distill, "distill", dir, "sequence" },
        { cmd_pipeline, "pipeline", pipe_dir, NULL },
    };
    for (int i = 0; i < (int)(sizeof cmds / sizeof cmds[0]); i++) {
        CmdLine c = { cmds[i].fn, { "--out", cmds[i].out, cmds[i].mode ? "--mode" : NULL, cmds[i].mode } };
        char name[120];
        snprintf(name, sizeof name, "r1 %s%s%s over a finished run", cmds[i].name, cmds[i].mode ? " --mode " : "",
                 cmds[i].mode ? cmds[i].mode : "");
        expect_die(name, child_cmdline, &c, "--resume", "--overwrite");
        const char *both[] = { "--resume", "--overwrite", NULL };
        CmdLine b = cmdline_with(c, both);
        snprintf(name, sizeof name, "r1 %s%s%s --resume --overwrite", cmds[i].name, cmds[i].mode ? " --mode " : "",
                 cmds[i].mode ? cmds[i].mode : "");
        expect_die(name, child_cmdline, &b, "give one", NULL);
    }
    CmdLine rj = { cmd_rejsample, { "--out", file } };
    expect_die("r1 rejsample over an existing file", child_cmdline, &rj, file, "--overwrite");
    check(same_file(ck, tmp_path("finished_copy.bin")) && same_file(log, tmp_path("finished_log_copy.csv")) &&
          same_file(zero_ck, tmp_path("finished_copy.bin")) && same_file(file, tmp_path("finished_copy.txt")),
          "after the refusals the finished run's checkpoint and log, the pipeline's stage and rejsample's file are byte-identical");

    // --overwrite starts again: 3 steps of a tiny model replace the finished run (its 37 steps and its log);
    // --resume of the finished run then leaves it byte for byte as it is
    write_fitting_lines("pretrain.txt", "folders_corpus.txt", 64, RUN_CTX);
    const char *init = write_tiny_init("folders_init.bin", RUN_CTX, 9);
    CmdLine pre = { cmd_pretrain, { "--out", dir, "--init", init, "--data", tmp_path("folders_corpus.txt"), "--preset", "tiny",
                                    "--steps", "3", "--batch", "4", "--overwrite" } };
    char err[4096];
    int st = run_child(child_cmdline, &pre, err, sizeof err), rows = 0;
    log_mean(dir, "loss", 0, 100, &rows);
    int step = ckpt_step(dir);
    check(st == 0 && step == 3 && rows == 3, "r1 pretrain --overwrite over a finished run of 37 steps: exit %d, checkpoint at "
          "step %d, log.csv rows %d (want 3 and 3)%s%s", st, step, rows, st ? ", stderr: " : "", st ? err : "");
    size_t lb = 0, la = 0;
    char *before = read_whole(ck, &lb), *log_before = read_whole(log, NULL);
    pre.argv[12] = "--resume";
    st = run_child(child_cmdline, &pre, err, sizeof err);
    char *after = read_whole(ck, &la), *log_after = read_whole(log, NULL);
    int unchanged = before && after && la == lb && memcmp(before, after, lb) == 0 && log_before && log_after &&
                    strcmp(log_before, log_after) == 0;
    check(st == 0 && unchanged, "r1 pretrain --resume of a finished run: exit %d, checkpoint and log.csv unchanged %d", st,
          unchanged);
    free(before); free(after); free(log_before); free(log_after);
    // rejsample --overwrite replaces its file
    const char *rj_over[] = { "--overwrite", "--model", init, "--data", "tiny_data/rl_test.txt", "--prompts", "2", "--k", "1",
                              "--nonreasoning", "3", NULL };
    CmdLine rjo = cmdline_with(rj, rj_over);
    st = run_child(child_cmdline, &rjo, err, sizeof err);
    char *replaced = read_whole(file, NULL);
    int lines = 0;
    for (char *p = replaced; p && *p; p++) lines += *p == '\n';
    check(st == 0 && lines >= 3 && !same_file(file, tmp_path("finished_copy.txt")), "r1 rejsample --overwrite: exit %d, "
          "the file replaced by %d lines (want >= 3 non-reasoning examples)", st, lines);
    free(replaced);
}

// ----------------------------------------------------------------------------
// 14. faults at any moment: a pretraining run, an R1-Zero run and an SFT run are started again and again
// with --resume and killed each time (SIGKILL, sent by this process) at a moment drawn from a seed, aimed
// at a step, at a held-out evaluation or at the save of a checkpoint. Where each kill landed is read from
// what the run left: an inotify watch on its folder (a .tmp opened and not yet renamed: a save) and its
// progress lines (the last one announcing an evaluation step: an evaluation). After the last kill the
// run is resumed to its end: its checkpoint must equal, byte for byte, that of the same run never killed,
// and its log.csv must equal that run's (all but the timing columns): no step missing, none twice.

#define KILL_SEED 20240601
enum { AT_STEP, AT_SAVE, AT_EVAL };

typedef struct {
    pid_t pid;
    int ino;                   // inotify descriptor watching the run folder
    const char *transcript;    // the child's stdout and stderr
    double started, ended;
    int tmp_opens, in_save;    // saves begun; 1 while a .tmp is open and not yet renamed
    int saves_done;
    double save_began, save_seconds;
    int last_step;             // S of the last progress line "step S/N" (-1: none yet)
    double progress_at[1024], eval_at[1024];  // when "step S/N" and "step S eval" were first seen
    char last_line[300];
    int status, exited;
} Watch;

static void watch_start(Watch *w, const CmdLine *c, const char *dir, const char *transcript) {
    memset(w, 0, sizeof *w);
    w->transcript = transcript;
    w->last_step = -1;
    make_dirs(dir);
    w->ino = inotify_init1(IN_NONBLOCK);
    inotify_add_watch(w->ino, dir, IN_OPEN | IN_MOVED_FROM);
    fflush(stdout); fflush(stderr);
    w->started = now_seconds();
    w->pid = fork();
    if (w->pid == 0) {
        int fd = open(transcript, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (setpriority(PRIO_PROCESS, 0, 10) != 0) perror("setpriority");  // the watcher wakes up first
        child_cmdline(c);
        fflush(stdout);
        exit(0);
    }
}

// takes in what happened since the last call: the folder's events, the transcript's lines, the child's end
static void watch_poll(Watch *w) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(w->ino, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            size_t l = e->len ? strlen(e->name) : 0;
            if (l > 4 && strcmp(e->name + l - 4, ".tmp") == 0) {
                if (e->mask & IN_OPEN) { w->in_save = 1; w->tmp_opens++; w->save_began = now_seconds(); }
                if (e->mask & IN_MOVED_FROM) { w->in_save = 0; w->saves_done++; w->save_seconds += now_seconds() - w->save_began; }
            }
            p += sizeof *e + e->len;
        }
    }
    char *t = read_whole(w->transcript, NULL);
    for (char *line = t; line && *line;) {
        char *end = line + strcspn(line, "\n");
        int S, N;
        if (sscanf(line, "step %d/%d", &S, &N) == 2 && S >= 0 && S < 1024) {
            if (!w->progress_at[S]) w->progress_at[S] = now_seconds();
            w->last_step = S;
        } else if (sscanf(line, "step %d eval", &S) == 1 && S >= 0 && S < 1024 && !w->eval_at[S]) {
            w->eval_at[S] = now_seconds();
        }
        if (end > line) snprintf(w->last_line, sizeof w->last_line, "%.*s", (int)(end - line), line);
        line = *end ? end + 1 : end;
    }
    free(t);
    if (!w->exited && now_seconds() - w->started > 300) kill(w->pid, SIGKILL);  // a hung run fails the test, not hangs it
    if (!w->exited && waitpid(w->pid, &w->status, WNOHANG) == w->pid) { w->exited = 1; w->ended = now_seconds(); }
}

// polls for `seconds`, or until the child ends
static void watch_wait(Watch *w, double seconds) {
    double until = now_seconds() + seconds;
    do { watch_poll(w); if (!w->exited) usleep(100); } while (!w->exited && now_seconds() < until);
}

static void watch_end(Watch *w) {
    while (!w->exited) watch_wait(w, 1.0);
    close(w->ino);
}

static int is_eval_step(int S, int steps, int eval_every) { return eval_every > 0 && (S % eval_every == 0 || S == steps); }

// one run: never killed, then killed kills times at the moments aim[] asks for (a step, a save, an
// evaluation), each launch resuming the last; landed[AT_*] counts where the kills landed
static void kill_case(const char *name, CmdLine run, int steps, int eval_every, const int *aim, int kills, Rng *rng,
                      int *landed_total) {
    char straight[300], killed[300], transcript[320], err[4096];
    snprintf(straight, sizeof straight, "%s/kill_%s_straight", tmp_root, name);
    snprintf(transcript, sizeof transcript, "%s/kill_%s.out", tmp_root, name);
    const char *to_straight[] = { "--out", straight, "--resume", NULL };
    CmdLine a = cmdline_with(run, to_straight);
    // the run never killed: its time per step, per save and per evaluation, for aiming
    Watch w;
    watch_start(&w, &a, straight, transcript);
    watch_end(&w);
    double step_s = (w.ended - w.started) / steps, save_s = w.saves_done ? w.save_seconds / w.saves_done : 0, eval_s = 0;
    int n_eval = 0;
    for (int S = 1; S <= steps && S < 1024; S++)
        if (is_eval_step(S, steps, eval_every) && w.eval_at[S] > w.progress_at[S] && w.progress_at[S] > 0) {
            eval_s += w.eval_at[S] - w.progress_at[S]; n_eval++;
        }
    eval_s = n_eval ? eval_s / n_eval : 0;
    int straight_ok = WIFEXITED(w.status) && WEXITSTATUS(w.status) == 0;
    // the killed launches, each resuming the last. A launch that finishes the run before its kill lands
    // (the machine got faster than the run never killed measured) ends that run: it is compared like the
    // others and the remaining kills go to a new run in a fresh folder (at most 4 runs)
    int landed[3] = {0}, done = 0, went_back = 0, unreadable = 0, final_ok = 1, same = 1, diff = 0, runs = 0;
    int na = 0, nb = 0, rows = steps + (eval_every > 0);  // RL: a row per step from 0, and the final evaluation's
    char ca[400], cb[400];
    snprintf(ca, sizeof ca, "%s/model.bin", straight);
    for (; done < kills && runs < 4; runs++) {
        snprintf(killed, sizeof killed, "%s/kill_%s_%d", tmp_root, name, runs);
        const char *to_killed[] = { "--out", killed, "--resume", NULL };
        CmdLine b = cmdline_with(run, to_killed);
        int finished_early = 0, last_step = -1;
        for (; done < kills && !finished_early;) {
            watch_start(&w, &b, killed, transcript);
            double delay = 0;
            if (aim[done] == AT_SAVE) {
                int nth = 1 + rng_int(rng, 2);
                while (!w.exited && w.tmp_opens < nth) watch_wait(&w, 0.0);
                delay = rng_f32(rng) * 0.8 * save_s;
            } else if (aim[done] == AT_EVAL) {
                while (!w.exited && !(w.last_step >= 0 && is_eval_step(w.last_step, steps, eval_every))) watch_wait(&w, 0.0);
                delay = save_s + (0.1 + 0.7 * rng_f32(rng)) * fmax(eval_s - save_s, 0.0);
            } else {
                while (!w.exited && w.last_step < 0) watch_wait(&w, 0.0);
                delay = rng_f32(rng) * 1.5 * step_s;
            }
            if (!w.exited) watch_wait(&w, delay);
            if (!w.exited) kill(w.pid, SIGKILL);
            watch_end(&w);
            if (!WIFSIGNALED(w.status) || WTERMSIG(w.status) != SIGKILL) { finished_early = 1; break; }
            done++;
            int at = w.in_save ? AT_SAVE : w.last_step >= 0 && is_eval_step(w.last_step, steps, eval_every) &&
                                           !strstr(w.last_line, "eval") && strncmp(w.last_line, "step", 4) == 0 ? AT_EVAL : AT_STEP;
            landed[at]++;
            int step = ckpt_step(killed);
            char ck[400];
            snprintf(ck, sizeof ck, "%s/model.bin", killed);
            if (step < 0 && access(ck, F_OK) == 0) unreadable++;
            if (step < last_step) went_back++;
            last_step = step;
        }
        // resumed to its end
        watch_start(&w, &b, killed, transcript);
        watch_end(&w);
        if (!(WIFEXITED(w.status) && WEXITSTATUS(w.status) == 0)) {
            char *t = read_whole(transcript, NULL);
            snprintf(err, sizeof err, "%s", t ? t : "");
            free(t);
            final_ok = 0;
        }
        snprintf(cb, sizeof cb, "%s/model.bin", killed);
        int d = log_diff(straight, killed, "tokens_per_s,elapsed_s", &na, &nb);
        diff += d != 0 || na != rows || nb != rows;
        same &= same_file(ca, cb);
    }
    check(straight_ok && final_ok && done == kills && same && diff == 0 && !went_back && !unreadable,
          "%s: %d kills (SIGKILL, seed %d) in %d run%s, landed during a step %d, a save %d, an evaluation %d; every "
          "checkpoint left loads %d and never goes back %d; resumed to step %d: checkpoint byte-identical to the run "
          "never killed %d, log.csv equal but for timings %d (rows %d and %d, want %d)%s%s", name, done, KILL_SEED, runs,
          runs > 1 ? "s" : "", landed[AT_STEP], landed[AT_SAVE], landed[AT_EVAL], !unreadable, !went_back, steps, same,
          diff == 0, na, nb, rows, final_ok ? "" : "; the last run failed: ", final_ok ? "" : err);
    printf("      (%s: %.1f ms per step, %.1f ms per save, %.1f ms per evaluation in the run never killed)\n", name,
           1e3 * step_s, 1e3 * save_s, 1e3 * eval_s);
    for (int i = 0; i < 3; i++) landed_total[i] += landed[i];
}

// a seeded shuffle of n_step, n_save and n_eval aims
static int kill_aims(int *aim, int n_step, int n_save, int n_eval, Rng *rng) {
    int n = 0;
    for (int i = 0; i < n_step; i++) aim[n++] = AT_STEP;
    for (int i = 0; i < n_save; i++) aim[n++] = AT_SAVE;
    for (int i = 0; i < n_eval; i++) aim[n++] = AT_EVAL;
    for (int i = n - 1; i > 0; i--) { int j = rng_int(rng, i + 1), t = aim[i]; aim[i] = aim[j]; aim[j] = t; }
    return n;
}

static void test_kills(void) {
    Rng rng = rng_seed(KILL_SEED);
    write_fitting_lines("pretrain.txt", "kill_corpus.txt", 200, RUN_CTX);
    write_fitting_lines("coldstart.txt", "kill_sft.txt", 60, 128);
    const char *init = write_tiny_init("kill_init.bin", RUN_CTX, 7), *sinit = write_tiny_init("kill_init128.bin", 128, 8);
    int aim[32], landed[3] = {0}, n;
    double t0 = now_seconds();
    CmdLine pre = { cmd_pretrain, { "--preset", "tiny", "--init", init, "--data", tmp_path("kill_corpus.txt"), "--steps", "40",
                                    "--batch", "16", "--warmup", "3", "--lr", "1e-2", "--lr-min", "1e-3", "--balance-alpha",
                                    "0.01", "--seed", "3", "--save-every", "2", "--log-every", "1" } };
    n = kill_aims(aim, 4, 4, 0, &rng);
    kill_case("pretrain", pre, 40, 0, aim, n, &rng, landed);
    CmdLine zero = { cmd_zero, { "--init", init, "--steps", "15", "--prompts-per-step", "2", "--num-generations", "4",
                                 "--num-iterations", "2", "--beta", "0.04", "--ref-model-sync-steps", "4", "--eval-every", "3",
                                 "--eval-prompts", "8", "--eval-k", "4", "--seed", "5", "--lr", "1e-3" } };
    n = kill_aims(aim, 3, 3, 3, &rng);
    kill_case("zero", zero, 15, 3, aim, n, &rng, landed);
    CmdLine sft = { cmd_sft, { "--init", sinit, "--data", tmp_path("kill_sft.txt"), "--steps", "30", "--batch", "8",
                               "--warmup", "3", "--lr", "1e-2", "--lr-min", "1e-3", "--seed", "3", "--save-every", "2",
                               "--log-every", "1" } };
    n = kill_aims(aim, 3, 3, 0, &rng);
    kill_case("sft", sft, 30, 0, aim, n, &rng, landed);
    int total = landed[0] + landed[1] + landed[2];
    check(total >= 20 && landed[AT_STEP] > 0 && landed[AT_SAVE] > 0 && landed[AT_EVAL] > 0, "%d kills survived in all "
          "(%.1f s): %d during a step, %d during a save, %d during an evaluation (want >= 20, each > 0)", total,
          now_seconds() - t0, landed[AT_STEP], landed[AT_SAVE], landed[AT_EVAL]);
}

// ----------------------------------------------------------------------------
// 11. grpo_train itself, for every loss type, on a reward the tiny model learns in seconds. The world:
// four prompts "e:3=", "j:7=", "e:5=", "j:2=" whose answer is 7. The base model is pretrained on every
// prompt followed by "<think></think><answer>A</answer><eos>" with ten one-digit and ten two-digit
// answers A, so it writes the format, answers of two lengths, and rarely 7 (accuracy about 0.05).
// GRPO (accuracy reward, 4 prompts x 8 samples, mu = 2, beta 0.04, clip [0.8, 1.28], temperature 0.7,
// 30 steps) must raise the accuracy above 0.8.

// One step of grpo_train against the same step written out here from its parts (each tested above): the
// rollouts from the trainer's random stream (seeded by --seed), the accuracy reward, the group advantages
// (divided by the group's std except for dr_grpo: --scale-rewards group or none), the completion mask and the loss type's weights, the
// reference's log-probabilities at the sampling temperature, mu passes of grpo_loss (pi_old: the first
// pass's), the gradient norm clipped, AdamW (0.9, 0.99, no decay), the router-bias update after each pass.
// Returns the model after the step; *std_gap: how much the groups' reward std differ (a wrong
// normalisation changes the step only when they do).
static Model *grpo_step_by_hand(const GrpoOptions *o, int loss_type, double *std_gap) {
    Model *m = checkpoint_load(o->init, NULL, NULL), *ref = checkpoint_load(o->init, NULL, NULL);
    memset(m->m_mem, 0, m->num_params * sizeof(float));  // a fresh optimizer (the checkpoint holds pretraining's)
    memset(m->v_mem, 0, m->num_params * sizeof(float));
    Data train = load_prompts(o->data, m->cfg.context);
    int P = o->prompts_per_step, G = o->num_generations, n = P * G, ctx = m->cfg.context, V = m->cfg.vocab;
    Rng rng = rng_seed((uint64_t)o->seed);
    Rollouts r = rollouts_alloc(n, ctx);
    int *idx = mallocCheck(n * sizeof(int)), *inputs = mallocCheck((size_t)n * ctx * sizeof(int));
    int *targets = mallocCheck((size_t)n * ctx * sizeof(int)), *len = mallocCheck(n * sizeof(int));
    float *reward = mallocCheck(n * sizeof(float)), *adv = mallocCheck(n * sizeof(float));
    float *mask = mallocCheck((size_t)n * ctx * sizeof(float)), *w = mallocCheck((size_t)n * ctx * sizeof(float));
    float *ref_logp = mallocCheck((size_t)n * ctx * sizeof(float)), *old_logp = mallocCheck((size_t)n * ctx * sizeof(float));
    float *logp = mallocCheck((size_t)n * ctx * sizeof(float));
    char *text = mallocCheck((size_t)ctx * 10 + 16);
    for (int i = 0; i < n; i++) idx[i] = i % G ? idx[i - 1] : rng_int(&rng, train.n);  // G samples of each prompt
    rollout(m, &train, idx, &r, o->temperature, &rng);
    int T = 1, max_len = 1;
    for (int i = 0; i < n; i++) {
        rollout_text(&r, i, text);
        reward[i] = reward_accuracy(text, train.answer[idx[i]]);
        T = imax(T, r.seq_len[i] - 1);
    }
    for (int i = 0; i < train.n; i++) max_len = imax(max_len, ctx - train.len[i]); // dr_grpo's constant
    double lo = 1e9, hi = 0.0;
    for (int g = 0; g < P; g++) {
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < G; i++) mean += reward[g * G + i] / G;
        for (int i = 0; i < G; i++) var += (reward[g * G + i] - mean) * (reward[g * G + i] - mean) / (G - 1);
        lo = fmin(lo, sqrt(var)); hi = fmax(hi, sqrt(var));
    }
    *std_gap = hi - lo;
    grpo_advantages(adv, reward, P, G, loss_type == LOSS_DR_GRPO ? SCALE_NONE : SCALE_GROUP);
    rollout_batch(&r, T, inputs, targets, mask, len);
    grpo_loss_weights(w, mask, n, T, max_len, loss_type);
    GrpoConfig gc = { .beta = o->beta, .eps_low = o->epsilon, .eps_high = o->epsilon_high,
                      .temperature = o->temperature };
    model_forward(ref, inputs, len, n, T, NULL, 0);
    grpo_loss(ref->dlogits, ref_logp, ref->logits, targets, w, adv, NULL, NULL, n, T, V, &gc, NULL);
    for (int pass = 0; pass < o->num_iterations; pass++) {
        model_zero_grad(m);
        model_forward(m, inputs, len, n, T, NULL, 0);
        grpo_loss(m->dlogits, logp, m->logits, targets, w, adv, pass ? old_logp : NULL, ref_logp, n, T, V, &gc, NULL);
        if (pass == 0) memcpy(old_logp, logp, (size_t)n * T * sizeof(float));
        model_backward(m);
        grad_clip(m, o->clip);
        adamw_update(m, o->lr, 0.9f, 0.99f, 1e-8f, 0.0f, pass + 1);
        router_bias_update(m, o->bias_gamma, n);
    }
    free(idx); free(inputs); free(targets); free(len); free(reward); free(adv); free(mask); free(w); free(ref_logp);
    free(logp);
    free(old_logp); free(text);
    rollouts_free(&r);
    data_free(&train);
    model_free(ref);
    return m;
}

// the digits world of grpo_loop and ppo: four prompts whose right answer is 7, each in the corpus with
// twenty direct answers (0..9, then ten two-digit ones), written as NAME_corpus.txt and NAME_prompts.txt
static void write_digits_world(const char *name, const char **cpath, const char **ppath) {
    const char *prompts[4] = { "e:3=", "j:7=", "e:5=", "j:2=" };
    char corpus[4 * 20 * 64], rl[4 * 32], file[64];
    int o = 0, r = 0;
    for (int p = 0; p < 4; p++) {
        r += sprintf(rl + r, "%s\t7\t1\n", prompts[p]);
        for (int d = 0; d < 20; d++) {
            o += sprintf(corpus + o, "%s<think></think><answer>", prompts[p]);
            o += d < 10 ? sprintf(corpus + o, "%d", d) : sprintf(corpus + o, "%d%d", 19 - d, ((d - 10) * 3 + p) % 10);
            o += sprintf(corpus + o, "</answer><eos>\n");
        }
    }
    snprintf(file, sizeof file, "%s_corpus.txt", name);
    *cpath = tmp_path(file);
    snprintf(file, sizeof file, "%s_prompts.txt", name);
    *ppath = tmp_path(file);
    write_whole(*cpath, corpus, (size_t)o);
    write_whole(*ppath, rl, (size_t)r);
}

// the digits world's files and a tiny base pretrained on them (150 steps): the prompts' path in *ppath,
// the base's checkpoint in base
static void digits_base(const char *name, const char **ppath, char *base, size_t nbase) {
    const char *cpath;
    char base_dir[300];
    write_digits_world(name, &cpath, ppath);
    snprintf(base_dir, sizeof base_dir, "%s/%s_base", tmp_root, name);
    snprintf(base, nbase, "%s/model.bin", base_dir);
    Data d = load_corpus(cpath, find_preset("tiny")->cfg.context);
    TrainOptions t = { .data = cpath, .out = base_dir, .preset = "tiny", .steps = 150, .batch = 16, .warmup = 10,
                       .seed = 4, .log_every = 1000, .lr = 1e-2f, .lr_min = 1e-3f, .clip = 1.0f, .bias_gamma = 1e-3f };
    model_free(train_quietly(&t, &d));
    data_free(&d);
}

static void test_grpo_loop(void) {
    const char *ppath;
    char base[320];
    digits_base("digits", &ppath, base, sizeof base);
    for (int lt = 0; lt < N_LOSSES; lt++) {  // one step of every loss type, against the step by hand
        GrpoOptions g = grpo_defaults();
        char dir[300];
        snprintf(dir, sizeof dir, "%s/digits_step_%s", tmp_root, LOSS_NAMES[lt]);
        g.init = base; g.out = dir; g.data = ppath; g.test = ppath; g.rewards = "accuracy";
        g.loss_type = LOSS_NAMES[lt]; g.scale_rewards = lt == LOSS_DR_GRPO ? "none" : "group";
        g.steps = 1; g.prompts_per_step = 2; g.num_generations = 8; g.num_iterations = 2; g.beta = 0.04f;
        g.epsilon = 0.2f; g.epsilon_high = 0.28f; g.temperature = 0.7f; g.lr = 3e-3f; g.eval_every = 0; g.seed = 6;
        g.chunk_rows = 3;  // the trainer's 16 rows in chunks of 3 (the last of 1); the step by hand in one
        Model *a = grpo_quietly(&g);
        double gap;
        Model *b = grpo_step_by_hand(&g, lt, &gap);
        double diff = 0.0;
        for (size_t i = 0; i < a->num_params; i++) diff = fmax(diff, fabs(a->params_mem[i] - b->params_mem[i]));
        for (int l = 0; l < MAX_LAYERS; l++)
            for (int e = 0; e < MAX_EXPERTS; e++) diff = fmax(diff, fabs(a->router_bias[l][e] - b->router_bias[l][e]));
        check(diff <= 1e-3 * g.lr && gap > 0.05, "grpo_train --loss-type %-7s one step (mu 2, beta 0.04, temperature "
              "0.7, chunks of 3 rows) equals the step by hand from its parts: max parameter difference %.2e (tol 1e-3 x lr); the "
              "groups' reward std differ by %.3f (want > 0.05)", LOSS_NAMES[lt], diff, gap);
        model_free(a); model_free(b);
    }
    // every loss type, with the std scaling of its paper, then GSPO and the top-entropy mask
    const struct { const char *loss, *scale, *level; float quantile; } runs[] = {
        { "grpo", "group", "token", 1.0f }, { "bnpo", "group", "token", 1.0f }, { "dr_grpo", "none", "token", 1.0f },
        { "dapo", "batch", "token", 1.0f }, { "grpo", "group", "sequence", 1.0f }, { "dr_grpo", "none", "token", 0.5f },
    };
    for (int k = 0; k < (int)(sizeof runs / sizeof runs[0]); k++) {
        GrpoOptions g = grpo_defaults();
        char dir[300], what[160];
        snprintf(what, sizeof what, "--loss-type %s --scale-rewards %s --importance-sampling-level %s "
                 "--top-entropy-quantile %g", runs[k].loss, runs[k].scale, runs[k].level, runs[k].quantile);
        snprintf(dir, sizeof dir, "%s/digits_%d", tmp_root, k);
        g.init = base; g.out = dir; g.data = ppath; g.test = ppath; g.rewards = "accuracy"; g.loss_type = runs[k].loss;
        g.scale_rewards = runs[k].scale; g.importance_sampling_level = runs[k].level;
        g.top_entropy_quantile = runs[k].quantile;
        g.steps = 30; g.prompts_per_step = 4; g.num_generations = 8; g.num_iterations = 2; g.beta = 0.04f;
        g.epsilon = 0.2f; g.epsilon_high = 0.28f; g.temperature = 0.7f; g.lr = 3e-3f; g.eval_every = 0; g.seed = 3;
        double t0 = now_seconds();
        model_free(grpo_quietly(&g));
        int rows;
        double first = log_mean(dir, "accuracy", 0, 5, &rows), last = log_mean(dir, "accuracy", 25, 30, &rows);
        double kl = log_mean(dir, "kl", 0, 30, &rows), clip = log_mean(dir, "clip_frac", 0, 30, &rows);
        check(rows == 30 && last > first + 0.4 && last > 0.8, "grpo_train %s (temperature 0.7, %.1f s): "
              "accuracy of steps 1-5 %.3f, of steps 26-30 %.3f (want > 0.8 and +0.4), log rows %d", what,
              now_seconds() - t0, first, last, rows);
        // a clipped token has A != 0 (min(ratio A, clip(ratio) A) picks the clipped term only then)
        check(kl > 0.0 && clip > 0.0, "grpo_train %s: mean KL to the reference %.2e, clipped fraction %.2e "
              "(want both > 0; clipping implies nonzero advantages)", what, kl, clip);
        // the diagnostics: clip_low + clip_high = clip_frac; a share of zero-spread groups that falls as the
        // groups stop all being wrong and then rises as they all get it right; the tiny MoE layer's router entropy
        // between 0 and log 4
        double low = log_mean(dir, "clip_low", 0, 30, &rows), high = log_mean(dir, "clip_high", 0, 30, &rows);
        double zero_std = log_mean(dir, "frac_reward_zero_std", 0, 30, &rows), ent = log_mean(dir, "router_entropy_1", 0, 30, &rows);
        double abs_adv = log_mean(dir, "mean_abs_adv", 0, 30, &rows);
        check(fabs(low + high - clip) < 2e-4 && zero_std > 0.0 && zero_std < 1.0 && ent > 0.0 && ent < log(4.0) &&
              abs_adv > 0.0, "grpo_train %s diagnostics: clip low %.4f + high %.4f = clip_frac %.4f, zero-std groups "
              "%.3f, mean |A| %.3f, router entropy %.3f (want in (0, log 4))", runs[k].loss, low, high, clip, zero_std,
              abs_adv, ent);
    }
}


// ----------------------------------------------------------------------------
// PPO with a critic: GAE against trajectories computed by hand, the critic's value loss and its gradient
// through the whole model against finite differences, and a short run whose reward rises while the critic's
// error falls

static Model *vh_m;
static int vh_tok[WM_B * WM_T];
static float vh_ret[WM_B * WM_T], vh_w[WM_B * WM_T];
// the value loss in double from the forward's value row: sum w 0.5 (V - R)^2
static double vh_loss(void) {
    model_forward(vh_m, vh_tok, NULL, WM_B, WM_T, NULL, 0);
    route_sig = topk_sig(vh_m);
    double loss = 0.0;
    for (int n = 0; n < WM_B * WM_T; n++) {
        double d = vh_m->logits[(size_t)n * vh_m->cfg.vocab + CRITIC_ROW] - (double)vh_ret[n];
        loss += 0.5 * vh_w[n] * d * d;
    }
    return loss;
}

static void test_ppo(void) {
    // GAE by hand. (a) gamma 0.9, lambda 0.8, rewards 0 0 1, values 0.5 0.4 0.8:
    //   t=2: delta = 1 + 0.9*0 - 0.8 = 0.2;        A = 0.2;                      R = 0.2 + 0.8 = 1.0
    //   t=1: delta = 0 + 0.9*0.8 - 0.4 = 0.32;     A = 0.32 + 0.72*0.2 = 0.464;  R = 0.864
    //   t=0: delta = 0 + 0.9*0.4 - 0.5 = -0.14;    A = -0.14 + 0.72*0.464 = 0.19408; R = 0.69408
    // (b) gamma 1, lambda 1: A_t = the rewards from t on - V_t: rewards -0.1 0.2 1, values 0.3 0.6 0.2 ->
    //   R = 1.1 1.2 1.0, A = 0.8 0.6 0.8
    // (c) gamma 1, lambda 0: A_t = delta_t = r_t + V_{t+1} - V_t, the same trajectory: 0.2 -0.2 0.8
    struct { float gamma, lambda, rewards[3], values[3], adv[3], ret[3]; } gt[] = {
        { 0.9f, 0.8f, { 0, 0, 1 }, { 0.5f, 0.4f, 0.8f }, { 0.19408f, 0.464f, 0.2f }, { 0.69408f, 0.864f, 1.0f } },
        { 1.0f, 1.0f, { -0.1f, 0.2f, 1 }, { 0.3f, 0.6f, 0.2f }, { 0.8f, 0.6f, 0.8f }, { 1.1f, 1.2f, 1.0f } },
        { 1.0f, 0.0f, { -0.1f, 0.2f, 1 }, { 0.3f, 0.6f, 0.2f }, { 0.2f, -0.2f, 0.8f }, { 0.5f, 0.4f, 1.0f } },
    };
    double err = 0.0;
    for (int k = 0; k < 3; k++) {
        float adv[3], ret[3];
        gae(adv, ret, gt[k].rewards, gt[k].values, 3, gt[k].gamma, gt[k].lambda);
        for (int t = 0; t < 3; t++) err = fmax(err, fmax(fabs(adv[t] - gt[k].adv[t]), fabs(ret[t] - gt[k].ret[t])));
    }
    float one_adv, one_ret, one_r = 0.7f, one_v = 0.25f;  // one token: A = r - V, R = r
    gae(&one_adv, &one_ret, &one_r, &one_v, 1, 1.0f, 0.95f);
    err = fmax(err, fmax(fabs(one_adv - 0.45f), fabs(one_ret - 0.7f)));
    check(err < 1e-6, "gae: three trajectories and a single token against the hand computation: max error %.1e", err);
    // the critic's value loss through the whole tiny model against finite differences: every parameter
    int path = attention_path;
    attention_path = ATTENTION_PLAIN;
    vh_m = tiny_model(29);
    const Config *c = &vh_m->cfg;
    for (int i = 0; i < WM_B * WM_T; i++) {
        vh_tok[i] = rng_int(&g_rng, c->vocab);
        vh_ret[i] = rng_normal(&g_rng);
        vh_w[i] = i % WM_T < 3 ? 0.0f : 1.0f / (WM_B * (WM_T - 3));  // the first 3 positions: a prompt
    }
    model_zero_grad(vh_m);
    double loss_d = vh_loss();
    float loss_f = value_loss(vh_m->dlogits, vh_m->logits, vh_ret, vh_w, WM_B * WM_T, c->vocab);
    int only_row = 1;
    for (int n = 0; n < WM_B * WM_T; n++)
        for (int v = 0; v < c->vocab; v++)
            only_row &= v == CRITIC_ROW || vh_m->dlogits[(size_t)n * c->vocab + v] == 0.0f;
    check(fabs(loss_f - loss_d) < 1e-5 * fmax(1.0, loss_d) && only_row, "value_loss %.6f against the double "
          "re-derivation %.6f; its gradient only in the value row of the logits: %d", loss_f, loss_d, only_row);
    model_backward(vh_m);
    float *grads = mallocCheck(vh_m->num_params * sizeof(float));
    memcpy(grads, vh_m->grads_mem, vh_m->num_params * sizeof(float));
    fd_report("critic (value loss, all)", fd_compare(vh_m->params_mem, grads, vh_m->num_params, 100000, vh_loss,
                                                     3e-3f, &g_rng));
    int C = c->d_model;
    size_t row = (size_t)(vh_m->params.head - vh_m->params_mem) + (size_t)CRITIC_ROW * C;
    fd_report("critic's value row", fd_compare(vh_m->params_mem + row, grads + row, C, C, vh_loss, 3e-3f, &g_rng));
    free(grads);
    model_free(vh_m);
    attention_path = path;
    // a short run on the digits world of grpo_loop (the answer 7 is right): PPO's reward rises and its critic's
    // error falls; the critic's checkpoint is written; GRPO's settings otherwise
    const char *ppath;
    char base[320], dir[300], critic[320];
    digits_base("ppo", &ppath, base, sizeof base);
    GrpoOptions g = grpo_defaults();
    snprintf(dir, sizeof dir, "%s/ppo_run", tmp_root);
    snprintf(critic, sizeof critic, "%s/critic.bin", dir);
    g.algo = "ppo"; g.init = base; g.out = dir; g.data = ppath; g.test = ppath; g.rewards = "accuracy";
    g.steps = 30; g.prompts_per_step = 4; g.num_generations = 8; g.num_iterations = 2; g.beta = 0.04f;
    g.temperature = 0.7f; g.lr = 3e-3f; g.critic_lr = 3e-3f; g.eval_every = 0; g.seed = 3;
    double t0 = now_seconds();
    Model *m = grpo_quietly(&g);
    int rows;
    double first = log_mean(dir, "accuracy", 0, 5, &rows), last = log_mean(dir, "accuracy", 25, 30, &rows);
    double mse_first = log_mean(dir, "value_mse", 0, 5, &rows), mse_last = log_mean(dir, "value_mse", 25, 30, &rows);
    double kl = log_mean(dir, "kl", 0, 30, &rows);
    check(rows == 30 && last > first + 0.3 && last > 0.7, "ppo (32 prompts x 1 response, mu 2, beta 0.04, %.1f s): "
          "accuracy of steps 1-5 %.3f, of steps 26-30 %.3f (want > 0.7 and +0.3), log rows %d", now_seconds() - t0,
          first, last, rows);
    Model *cm = checkpoint_load(critic, NULL, NULL);
    check(mse_last < mse_first && kl > 0.0 && cm->step == 30 && m->step == 30, "ppo: the critic's error against the "
          "returns %.4f in steps 1-5, %.4f in steps 26-30 (want lower); KL to the reference %.2e (want > 0); "
          "critic.bin at step %d, the policy at %d (want 30)", mse_first, mse_last, kl, cm->step, m->step);
    model_free(cm);
    model_free(m);
    // a kill between a step's two checkpoints (the critic's written, the policy's not): --resume takes the
    // critic of the policy's step and ends with the bytes of a run never stopped
    char once[300], killed[300], a[340], b[340];
    snprintf(once, sizeof once, "%s/ppo_once", tmp_root);
    snprintf(killed, sizeof killed, "%s/ppo_killed", tmp_root);
    g.steps = 3; g.out = once;
    model_free(grpo_quietly(&g));
    g.steps = 2; g.out = killed;
    model_free(grpo_quietly(&g));
    snprintf(a, sizeof a, "%s/model.bin", killed);
    size_t size = 0;
    char *bytes = read_whole(a, &size);
    g.steps = 3; g.resume = 1;
    model_free(grpo_quietly(&g));  // step 3: critic.bin and model.bin at step 3, critic_prev.bin at 2
    FILE *f = fopen(a, "wb");      // the policy's checkpoint of step 2 back: as if killed before it was replaced
    int restored = f && bytes && fwrite(bytes, 1, size, f) == size;
    if (f) fclose(f);
    free(bytes);
    model_free(grpo_quietly(&g));
    snprintf(b, sizeof b, "%s/model.bin", once);
    int same_policy = same_file(a, b);
    snprintf(a, sizeof a, "%s/critic.bin", killed);
    snprintf(b, sizeof b, "%s/critic.bin", once);
    check(restored && same_policy && same_file(a, b), "ppo: killed between the critic's checkpoint and the "
          "policy's, --resume ends with the policy%s and the critic%s of a run never stopped",
          same_policy ? "" : " NOT", same_file(a, b) ? "" : " NOT");
}

// the report checkers of section 16, for the pipeline's report
static const char *xml_error(const char *s, char *err, size_t errsz);
static int html_table_rows(const char *html, const char *cls, char label[][64], double num[][8], int *n_num,
                           int max_rows);
static int count_str(const char *s, const char *what);

// ----------------------------------------------------------------------------
// 13. the R1 stages: SFT masks the prompt, rejection sampling keeps what its rules say, the
// distillation loss and its gradient

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

// rejection sampling's rule, a table (part of the stages; alone: ./test_r1 rejection)
static void test_rejection(void) {
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
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer><eos>", 0, 60, 1,
          "exactly max length" },
    };
    int n_rej = (int)(sizeof rej / sizeof rej[0]), wrong = 0;
    for (int i = 0; i < n_rej; i++) {
        Judgement j = judge(rej[i].response, rej[i].len, 224, rej[i].lang);
        if (rejection_keep(&j, 60) != rej[i].keep) { wrong++; fprintf(stderr, "  rejection_keep wrong for: %s\n", rej[i].why); }
    }
    check(wrong == 0, "rejection_keep table: %d of %d cases right (correct, well formed, one language, <= max length, no repeated column)",
          n_rej - wrong, n_rej);
    // rejection sampling's whole test: the rule, and for a sum (not for max) its columns and checks right
    char *prompts[] = { "e:51+76+12+85=", "e:max 34 71=" };
    long answers[] = { 224, 71 };
    Data d = { .text = prompts, .answer = answers, .n = 2 };
    struct { int p; const char *response; int keep; } acc[] = {
        { 0, "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14</think><answer>224</answer><eos>", 1 },
        { 0, "<think>01+06+02+05=15 carry 1 05+07+01+08+01=22 check 07 07 14 wait 14</think><answer>224</answer><eos>", 1 },
        { 0, "<think>01+06+02+05=14 carry 0 05+07+01+08+00=21 check 07 07 14 okay 14</think><answer>224</answer><eos>", 0 },
        { 0, "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 15 okay 14</think><answer>224</answer><eos>", 0 },
        { 0, "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>225</answer><eos>", 0 },
        { 1, "<think></think><answer>071</answer><eos>", 1 },
        // the summary: one restating the true sum is kept, one restating another number refused
        { 0, "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14 total 224</think><answer>224</answer><eos>", 1 },
        { 0, "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14 total 214</think><answer>224</answer><eos>", 0 },
    };
    int n_acc = (int)(sizeof acc / sizeof acc[0]), acc_wrong = 0;
    for (int i = 0; i < n_acc; i++) {
        Judgement j = judge(acc[i].response, 50, answers[acc[i].p], LANG_EN);
        if (rejection_accepts(&d, acc[i].p, &j, acc[i].response, 60) != acc[i].keep) {
            acc_wrong++;
            fprintf(stderr, "  rejection_accepts wrong for case %d\n", i);
        }
    }
    check(acc_wrong == 0, "rejection_accepts: %d of %d cases right (a right sum with a wrong carry or a check ending off the "
          "column's sum or a summary off the answer is refused; a caught slip and a direct max are kept)", n_acc - acc_wrong, n_acc);
    // write_summary: a chain to a sum gets " total N" (its own answer, the prompt's language) before </think>;
    // a direct answer, a chain that has one, and a prompt not a sum are left as they are
    struct { const char *prompt, *in, *out; } ws[] = {
        { "e:51+76+12+85=", "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer><eos>",
          "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 total 224</think><answer>224</answer><eos>" },
        { "j:51+76+12+85=", "<think>01+06+02+05=14 agari 1 05+07+01+08+01=22</think><answer>225</answer><eos>",
          "<think>01+06+02+05=14 agari 1 05+07+01+08+01=22 gokei 225</think><answer>225</answer><eos>" },
        { "e:51+76+12+85=", "<think>01+06=07 total 224</think><answer>224</answer><eos>",
          "<think>01+06=07 total 224</think><answer>224</answer><eos>" },
        { "e:51+76+12+85=", "<think></think><answer>224</answer><eos>", "<think></think><answer>224</answer><eos>" },
        { "e:51+76+12+85=", "<think>01+06=07</think><answer></answer><eos>", "<think>01+06=07</think><answer></answer><eos>" },
        { "e:max 34 71=", "<think>01+06=07</think><answer>071</answer><eos>", "<think>01+06=07</think><answer>071</answer><eos>" },
    };
    int n_ws = (int)(sizeof ws / sizeof ws[0]), ws_wrong = 0;
    for (int i = 0; i < n_ws; i++) {
        char buf[300];
        snprintf(buf, sizeof buf, "%s", ws[i].in);
        int wrote = write_summary(buf, ws[i].prompt);
        if (strcmp(buf, ws[i].out) != 0 || wrote != (strcmp(ws[i].in, ws[i].out) != 0)) {
            ws_wrong++; fprintf(stderr, "  write_summary(\"%s\") = \"%s\" (%d), expected \"%s\"\n", ws[i].in, buf, wrote, ws[i].out);
        }
    }
    check(ws_wrong == 0, "write_summary: %d of %d cases right", n_ws - ws_wrong, n_ws);
}

// the distillation loss and its gradient (part of the stages; alone: ./test_r1 distill)
static void test_distill(void) {
    // the distillation loss: value against the double re-derivation, gradient against its finite differences
    const int N = 3, V = 9;
    float zs[27], zt[27], dz[27], wd[3] = { 0.5f, 0.0f, 1.5f };
    int tg[3] = { 2, 5, 8 };
    Rng r = rng_seed(11);
    fill_normal(zs, 27, 0.0f, 1.5f, &r);
    fill_normal(zt, 27, 0.0f, 1.5f, &r);
    double T = 2.0, alpha = 0.6;
    for (int i = 0; i < N * V; i++) dz[i] = 7.0f;  // what the token of weight 0 must not keep
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
    int inputs[4 * 64], targets[4 * 64], row_len[4], bad_rows = 0, rows_seen[2] = {0, 0};
    float w[4 * 64], denom = 4.0f * 64;
    for (int it = 0; it < 4; it++) {
        int T = batcher_next(&bt, inputs, targets, w, row_len, denom);
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
            bad_rows += row_len[b] != len - 1;  // every input but the last token; padding after
            for (int t = 0; t < T; t++) {
                int response_target = t + 1 >= lp && t + 1 < len;  // the token predicted at t is ids[t+1]
                float want = response_target ? 1.0f / denom : 0.0f;
                if (w[b * T + t] != want || (t + 1 < len && targets[b * T + t] != d.ids[doc][t + 1])) bad_rows++;
            }
        }
    }
    check(bad_rows == 0 && rows_seen[0] > 0 && rows_seen[1] > 0, "SFT batches: loss weights 1/denom exactly on the response "
          "targets, 0 on the prompt and padding, row lengths (%d and %d rows of the two lines, %d bad positions)",
          rows_seen[0], rows_seen[1], bad_rows);
    free(bt.pool);
    data_free(&d);

    test_rejection();
    test_distill();

}

// ----------------------------------------------------------------------------
// 14. the whole pipeline end to end (./r1 pipeline --scale 1: 1% of every stage's steps), in a world
// small enough for that to work: two problems, each with its chain of thought, make up the corpus,
// the cold-start file and the RL prompts (a folder of its own, the pipeline's tiny_data/). The base
// model (the tiny config with a context of 96) is pretrained on them here and given to the pipeline
// (--base), so that it answers them: rejection sampling then keeps traces. Every stage must leave
// what the next one reads: its checkpoint after its steps, the traces, the prompts, the table.

#define PL_CTX 96
typedef struct { const char *world, *dir, *base, *flag; } PipelineArg;
static void child_pipeline(const void *arg) {
    const PipelineArg *a = arg;
    if (chdir(a->world) != 0) die("cannot enter %s", a->world);
    char *argv[] = { "--out", (char *)a->dir, "--base", (char *)a->base, "--scale", "1", "--eval-prompts", "6",
                     "--eval-k", "2", (char *)a->flag };
    cmd_pipeline(a->flag ? 11 : 10, argv);
}

// an SFT file written by rejection sampling: *traces lines answer a sum and pass rejection_keep (right, well
// formed, one language, at most 140 tokens, no repeats) and trace_sound, a chain ending in its summary if
// summary (rejsample --summary), holding none if not; *other lines are the non-reasoning ones, *bad lines are
// neither; returns 0 if the file is missing
static int read_traces(const char *path, int summary, int *traces, int *other, int *bad) {
    char *text = read_whole(path, NULL), *save = NULL;
    *traces = *other = *bad = 0;
    if (!text) return 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        Prob p;
        int pl = parse_prompt(line, &p), ids[1024], sum = 0;
        char c;
        if (!tab) { (*bad)++; continue; }
        if (pl < 0) { // not a sum: one of the non-reasoning examples ("e:max 12 34=")
            *(strncmp(line + 2, "max ", 4) == 0 ? other : bad) += 1;
            continue;
        }
        for (int i = 0; i < p.n; i++) sum += p.x[i];
        Judgement j = judge(tab + 1, encode(tab + 1, ids, 1024, &c), sum, p.lang);
        Problem prob = { .n = p.n, .lang = p.lang };
        for (int i = 0; i < p.n && i < MAX_OPERANDS; i++) prob.x[i] = p.x[i];
        // with summary a chain ends in its summary (the cold start's format), written as "total N" with N the
        // sum; without, no response holds the summary's word
        char want[64];
        snprintf(want, sizeof want, " %s %03d</think>", p.lang ? "gokei" : "total", sum);
        int summary_ok = summary ? strncmp(tab + 1, "<think></think>", 15) == 0 || strstr(tab + 1, want) != NULL
                                 : !strstr(tab + 1, WORDS[0][WORD_TOTAL]) && !strstr(tab + 1, WORDS[1][WORD_TOTAL]);
        if (tab == line + pl && rejection_keep(&j, 140) && trace_sound(&prob, tab + 1) && summary_ok) (*traces)++;
        else (*bad)++;
    }
    free(text);
    return 1;
}

static int count_lines(const char *path) {
    char *text = read_whole(path, NULL);
    int n = 0;
    for (char *q = text; q && *q; q++) n += *q == '\n';
    free(text);
    return text ? n : -1;
}

// C(n, j), 0 for j > n
static double binomial(int n, int j) {
    double b = 1.0;
    for (int i = 1; i <= j; i++) b = b * (n - j + i) / i;
    return j > n ? 0.0 : b;
}

// evaluate() against a re-derivation: greedy accuracy by argmax decoding of each prompt alone; pass@1, mean
// length, format, cons@k (majority vote, ties to the answer seen first) and pass@j = 1 - C(k-c, j) / C(k, j)
// (c of the k right) over the same k samples per prompt (evaluate's random stream, seeded by seed); greedy
// accuracy with "<think>0" forced. Counts in cons_majority_decides the prompts where the majority's answer
// and the first answer seen are judged differently, in cons_tie_decides those where a tie at the top is
// broken towards the first of the tied answers and the last is judged differently. Returns the number of
// checks the samples hold
static int cons_majority_decides = 0, cons_tie_decides = 0;
static int check_evaluate(Model *m, const Data *d, int k, float temperature, uint64_t seed) {
    EvalResult e = evaluate(m, d, 0, k, temperature, seed, CHECK_FREE, 0, 1);
    int n = d->n, ctx = m->cfg.context, *seq = mallocCheck((size_t)ctx * sizeof(int));
    char *text = mallocCheck((size_t)ctx * 10 + 16);
    double greedy = 0.0, forced = 0.0, pass = 0.0, len = 0.0, format = 0.0, cons = 0.0, pass_at[N_PASS_AT] = {0};
    double repetition = 0.0, repeated = 0.0;
    double style_n[16][N_STYLES] = {{0}}, style_right[16][N_STYLES] = {{0}}, diff_n[16] = {0};
    double reflect[16] = {0}, fixes[16][N_FIXES] = {{0}}, diff_len[16] = {0};
    int checks[16] = {0}, faithful[16] = {0};
    for (int p = 0; p < n; p++) {
        for (int f = 0; f < 2; f++) {  // f = 1: the response starts with "<think>0"
            int pl = d->len[p], sl;
            memcpy(seq, d->ids[p], pl * sizeof(int));
            if (f) { seq[pl++] = TOK_THINK; seq[pl++] = char_to_token('0'); }
            Rng unused = rng_seed(1);
            generate(m, seq, &pl, &sl, 1, ctx, 0.0f, &unused);
            decode(seq + d->len[p], sl - d->len[p], text);
            *(f ? &forced : &greedy) += reward_accuracy(text, d->answer[p]) / n;
        }
    }
    Rng rng = rng_seed(seed);
    Rollouts r = rollouts_alloc(n * k, ctx);
    int *idx = mallocCheck((size_t)n * k * sizeof(int));
    for (int i = 0; i < n * k; i++) idx[i] = i / k;
    rollout(m, d, idx, &r, temperature, &rng);
    for (int p = 0; p < n; p++) {
        long answer[64];
        int votes[64] = {0}, best = -1, right = 0;
        for (int j = 0; j < k; j++) {
            rollout_text(&r, p * k + j, text);
            pass += reward_accuracy(text, d->answer[p]) / (n * k);
            right += reward_accuracy(text, d->answer[p]) > 0;
            int t = d->difficulty ? d->difficulty[p] : 0, s = response_style(text);
            style_n[t][s]++; style_right[t][s] += reward_accuracy(text, d->answer[p]); diff_n[t]++;
            reflect[t] += response_reflects(text);
            diff_len[t] += r.seq_len[p * k + j] - r.prompt_len[p * k + j];
            repetition += response_repeats(text) / (double)(n * k);
            repeated += repeated_share(text) / (n * k);
            Problem prob;
            if (problem_parse(d->text[p], &prob)) {
                CheckAudit a = audit_checks(&prob, text);
                checks[t] += a.checks; faithful[t] += a.faithful;
                for (int f = 0; f < N_FIXES; f++) fixes[t][f] += a.fixes[f];
            }
            format += reward_format(text) / (n * k);
            len += (double)(r.seq_len[p * k + j] - r.prompt_len[p * k + j]) / (n * k);
            if (!response_answer(text, &answer[j])) continue;
            int i = 0;
            while (i < j && !(votes[i] > 0 && answer[i] == answer[j])) i++;
            votes[i]++;  // the first sample with this answer holds its votes
        }
        for (int j = 0; j < k; j++) if (votes[j] > 0 && (best < 0 || votes[j] > votes[best])) best = j;
        cons += (best >= 0 && answer[best] == d->answer[p]) / (double)n;
        // where the vote decides: the first answer seen, or the last of those tied with the best, is judged
        // otherwise than the majority's
        int first = -1, last_tied = -1;
        for (int j = 0; j < k && best >= 0; j++) if (votes[j] > 0) {
            if (first < 0) first = j;
            if (votes[j] == votes[best]) last_tied = j;
        }
        if (best >= 0) {
            int majority_right = answer[best] == d->answer[p];
            cons_majority_decides += majority_right != (answer[first] == d->answer[p]);
            cons_tie_decides += majority_right != (answer[last_tied] == d->answer[p]);
        }
        for (int q = 0; q < N_PASS_AT; q++) pass_at[q] += (1.0 - binomial(k - right, 1 << q) / binomial(k, 1 << q)) / n;
    }
    double err = fmax(fmax(fabs(e.greedy - greedy), fabs(e.forced_greedy - forced)), fmax(fabs(e.pass1 - pass),
                 fmax(fabs(e.format - format), fmax(fabs(e.cons - cons), fabs(e.len - len) / fmax(1.0, len)))));
    int pass_at_ok = 1;  // pass@j for j <= k, NAN above
    for (int q = 0; q < N_PASS_AT; q++)
        pass_at_ok &= (1 << q) <= k ? fabs(e.pass_at[q] - pass_at[q]) < 1e-5 : isnan(e.pass_at[q]);
    int by_style_ok = 1, n_style_cells = 0;  // accuracy per difficulty and style: NAN where no sample has the style
    for (int t = 0; t < 16; t++) for (int s = 0; diff_n[t] && s < N_STYLES; s++) {
        n_style_cells += style_n[t][s] > 0;
        by_style_ok &= fabs(e.diff_style_share[t][s] - style_n[t][s] / diff_n[t]) < 1e-5 &&
                       (style_n[t][s] ? fabs(e.diff_style_acc[t][s] - style_right[t][s] / style_n[t][s]) < 1e-5
                                      : isnan(e.diff_style_acc[t][s]));
    }
    check(by_style_ok && n_style_cells >= 1, "evaluate: share and accuracy per difficulty and style equal a "
          "re-derivation (%d cells with samples)", n_style_cells);
    // per difficulty: reflection, the checks and how many are faithful, self-corrections per 100 responses
    int by_diff_ok = 1, n_diffs = 0, all_checks = 0;
    for (int t = 0; t < 16; t++) {
        if (!diff_n[t]) { by_diff_ok &= e.diff_n[t] == 0; continue; }
        n_diffs++;
        all_checks += checks[t];
        double chains = style_n[t][STYLE_CHAIN] + style_n[t][STYLE_CHECKED];
        by_diff_ok &= fabs(e.diff_len[t] - diff_len[t] / diff_n[t]) < 1e-4 &&
                      (chains ? fabs(e.diff_checked_in_chains[t] - style_n[t][STYLE_CHECKED] / chains) < 1e-5
                              : isnan(e.diff_checked_in_chains[t]));
        by_diff_ok &= fabs(e.diff_reflect[t] - reflect[t] / diff_n[t]) < 1e-5 && e.diff_checks[t] == checks[t] &&
                      (checks[t] ? fabs(e.diff_faithfulness[t] - (double)faithful[t] / checks[t]) < 1e-5
                                 : isnan(e.diff_faithfulness[t]));
        for (int f = 0; f < N_FIXES; f++)
            by_diff_ok &= fabs(e.diff_fixes_per100[t][f] - 100.0 * fixes[t][f] / diff_n[t]) < 1e-4;
    }
    check(fabs(e.repetition - repetition) < 1e-5 && fabs(e.repeated_share - repeated) < 1e-5,
          "evaluate: repetition %.4f (re-derived %.4f) and repeated share %.4f (%.4f)", e.repetition, repetition,
          e.repeated_share, repeated);
    check(by_diff_ok && all_checks == e.checks, "evaluate: length, checked among chains, reflection, checks, "
          "faithfulness and self-corrections per difficulty equal a re-derivation (%d difficulties, %d checks of %d)",
          n_diffs, all_checks, e.checks);
    check(err < 1e-5 && greedy > pass && pass_at_ok && pass_at[1] > pass,
          "evaluate (k %d, temperature %.1f) vs a re-derivation: greedy %.3f (%.3f), "
          "forced chain %.3f (%.3f), pass@1 %.3f (%.3f), format %.3f (%.3f), cons@k %.3f (%.3f), length %.2f "
          "(%.2f), pass@2 %.3f (%.3f): max error %.1e (tol 1e-5); greedy above pass@1 (else a sampled greedy would "
          "pass), pass@2 above pass@1 (some prompt has right and wrong samples)", k, temperature, e.greedy, greedy, e.forced_greedy, forced, e.pass1, pass, e.format, format, e.cons,
          cons, e.len, len, e.pass_at[1], pass_at[1], err);
    free(seq); free(text); free(idx);
    rollouts_free(&r);
    return all_checks;
}

static void test_pipeline(void) {
    // the world: two problems in the chain style of the generator
    Problem probs[2] = { { .n = 4, .x = { 11, 22, 33, 44 }, .lang = LANG_EN },
                         { .n = 4, .x = { 15, 26, 37, 48 }, .lang = LANG_JA } };
    char world[300], path[400], prompt[64], resp[512];
    snprintf(world, sizeof world, "%s/world", tmp_root);
    snprintf(path, sizeof path, "%s/tiny_data", world);
    make_dirs(path);
    Text corpus = {0}, cold = {0}, prompts = {0};
    Rng unused = rng_seed(1);
    for (int i = 0; i < 64; i++) {
        const Problem *p = &probs[i % 2];
        char line[600];
        problem_prompt(p, prompt);
        write_response(p, STYLE_CHAIN, 0.0f, 0, 0, &unused, resp);
        snprintf(line, sizeof line, "%s%s\n", prompt, resp);
        text_add(&corpus, line);
        if (i >= 8) continue;
        snprintf(line, sizeof line, "%s\t%s\n", prompt, resp);
        text_add(&cold, line);
        snprintf(line, sizeof line, "%s\t%d\t%d\n", prompt, problem_answer(p), p->n);
        text_add(&prompts, line);
    }
    const char *files[4] = { "pretrain.txt", "coldstart.txt", "rl_train.txt", "rl_test.txt" };
    const Text *texts[4] = { &corpus, &cold, &prompts, &prompts };
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/tiny_data/%s", world, files[i]);
        write_whole(path, texts[i]->s, texts[i]->len);
    }
    // the base model: 150 steps on the corpus
    char base_dir[300], base[320], cpath[400], init[400];
    snprintf(base_dir, sizeof base_dir, "%s/world_base", tmp_root);
    snprintf(base, sizeof base, "%s/model.bin", base_dir);
    snprintf(cpath, sizeof cpath, "%s/tiny_data/pretrain.txt", world);
    snprintf(init, sizeof init, "%s/world_init.bin", tmp_root);
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = PL_CTX;
    Model *m0 = model_create(&cfg, "tiny", 9);
    checkpoint_save(init, m0, 0, 0, 0);
    model_free(m0);
    Data d = load_corpus(cpath, PL_CTX);
    TrainOptions t = { .data = cpath, .out = base_dir, .preset = "tiny", .init = init, .steps = 150, .batch = 16,
                       .warmup = 10, .seed = 2, .log_every = 1000, .lr = 1e-2f, .lr_min = 1e-3f, .clip = 1.0f,
                       .bias_gamma = 1e-3f };
    model_free(train_quietly(&t, &d));
    data_free(&d);
    free(corpus.s); free(cold.s); free(prompts.s);
    // the evaluation of the base model, at a temperature high enough for samples to differ from greedy decoding
    Model *bm = checkpoint_load(base, NULL, NULL);
    snprintf(path, sizeof path, "%s/tiny_data/rl_test.txt", world);
    Data test = load_prompts(path, PL_CTX);
    // rejection sampling by default (no --summary) writes no summary: the base's kept chains hold none
    char rs_path[400];
    snprintf(rs_path, sizeof rs_path, "%s/rejsample_default.txt", tmp_root);
    int rs_kept = rejection_sample(bm, &test, 0, 4, 1.0f, 140, 1, 0, rs_path, 1), rs_traces, rs_other, rs_bad;
    int rs_found = read_traces(rs_path, 0, &rs_traces, &rs_other, &rs_bad);
    check(rs_found && rs_kept > 0 && rs_traces == rs_kept && rs_other == 1 && rs_bad == 0, "rejection sampling "
          "without --summary: %d traces kept, %d read back as sound and without a summary, %d non-reasoning "
          "(want 1), %d lines neither", rs_kept, rs_traces, rs_other, rs_bad);
    check_evaluate(bm, &test, 4, 1.3f, 7);
    for (int p = 0; p < test.n; p++) test.difficulty[p] = 3 + p % 2;  // two groups to count apart
    check_evaluate(bm, &test, 4, 1.3f, 8);
    // more samples until cons@k's vote decides in some (checked below): at most 8 more seeds
    for (uint64_t seed = 10; seed < 18 && cons_majority_decides + cons_tie_decides == 0; seed++)
        check_evaluate(bm, &test, 4, 1.3f, seed);
    data_free(&test);
    model_free(bm);
    // a base that checks: the two problems in the checked style, a third of them with a column slipped and
    // caught, so that the check measures per difficulty count real checks (a longer context for them)
    char checked_path[400], checked_dir[300], checked_init[400], doc[600];
    snprintf(checked_path, sizeof checked_path, "%s/checked_corpus.txt", tmp_root);
    snprintf(checked_dir, sizeof checked_dir, "%s/checked_base", tmp_root);
    snprintf(checked_init, sizeof checked_init, "%s/checked_init.bin", tmp_root);
    Text checked = {0};
    Rng slips = rng_seed(5);
    for (int i = 0; i < 64; i++) {
        problem_prompt(&probs[i % 2], prompt);
        write_response(&probs[i % 2], STYLE_CHECKED, 0.3f, 0, 0, &slips, resp);
        snprintf(doc, sizeof doc, "%s%s\n", prompt, resp);
        text_add(&checked, doc);
    }
    write_whole(checked_path, checked.s, checked.len);
    free(checked.s);
    cfg.context = 2 * PL_CTX;
    m0 = model_create(&cfg, "tiny", 9);
    checkpoint_save(checked_init, m0, 0, 0, 0);
    model_free(m0);
    d = load_corpus(checked_path, cfg.context);
    TrainOptions tc = t;
    tc.data = checked_path; tc.out = checked_dir; tc.init = checked_init; tc.steps = 400;
    model_free(train_quietly(&tc, &d));
    data_free(&d);
    snprintf(path, sizeof path, "%s/model.bin", checked_dir);
    bm = checkpoint_load(path, NULL, NULL);
    snprintf(path, sizeof path, "%s/tiny_data/rl_test.txt", world);
    test = load_prompts(path, cfg.context);
    for (int p = 0; p < test.n; p++) test.difficulty[p] = 3 + p % 2;
    int n_checks = check_evaluate(bm, &test, 4, 1.3f, 9);
    check(n_checks > 0, "evaluate: the checking base's samples hold checks to count (%d)", n_checks);
    // else cons@k would equal the first answer's accuracy in these samples, and a vote that ignored the
    // counts or broke ties the other way would go unseen. Which of the two cases the samples hold
    // depends on the build's float order (the sanitizer build samples others): at least one is wanted
    check(cons_majority_decides + cons_tie_decides > 0, "evaluate: cons@k's vote decides in the "
          "samples above: %d prompts where the majority's answer is right and the first answer seen is not, "
          "or the reverse; %d where a tie at the top goes to the first answer seen and the last tied one "
          "is judged otherwise (want >= 1 in all)", cons_majority_decides, cons_tie_decides);
    data_free(&test);
    model_free(bm);
    // the pipeline, in a child (one thread: OpenMP's threads do not survive fork())
    char dir[300], err[4096];
    snprintf(dir, sizeof dir, "%s/pipeline", tmp_root);
    PipelineArg pa = { .world = world, .dir = dir, .base = base, .flag = "--summary" };
    double t0 = now_seconds();
    int st = run_child(child_pipeline, &pa, err, sizeof err);
    check(st == 0, "pipeline --scale 1 in the two-problem world (%.1f s): exit status %d%s%s", now_seconds() - t0, st,
          st ? ", stderr: " : "", st ? err : "");
    // each stage's checkpoint, after the steps --scale 1 gives it (1% of its default, at least 1)
    const char *stages[] = { "zero", "coldstart", "reasoning_rl", "r1_sft", "r1", "student_base", "student_rl",
                             "student_seq", "student_logit" };
    const int steps[] = { 1, 1, 1, 2, 1, 15, 1, 3, 3 };
    char got[300] = "", stage_dir[300];
    int right = 0;
    for (int i = 0; i < 9; i++) {
        snprintf(stage_dir, sizeof stage_dir, "%.200s/%s", dir, stages[i]);
        int s = ckpt_step(stage_dir);
        right += s == steps[i];
        snprintf(got + strlen(got), sizeof got - strlen(got), " %s %d", stages[i], s);
    }
    check(right == 9, "pipeline: every stage's checkpoint loads and holds its steps (want zero 1, coldstart 1, "
          "reasoning_rl 1, r1_sft 2, r1 1, student_base 15, student_rl 1, student_seq 3, student_logit 3):%s", got);
    // what the stages hand on: the reasoning RL model's kept traces (for the SFT of R1), the final RL
    // prompts, R1's kept traces (the distillation set)
    int traces, other, bad;
    snprintf(path, sizeof path, "%s/rejsample.txt", dir);
    int found = read_traces(path, 1, &traces, &other, &bad);
    check(found && traces > 0 && other == 1 && bad == 0, "pipeline --summary: rejection sampling of the reasoning RL model "
          "kept %d traces (want > 0) and %d non-reasoning examples (want 1); %d lines neither", traces, other, bad);
    snprintf(path, sizeof path, "%s/r1_traces.txt", dir);
    found = read_traces(path, 1, &traces, &other, &bad);
    check(found && traces > 0 && other == 1 && bad == 0, "pipeline --summary: the distillation set, R1's kept traces: %d traces "
          "(want > 0), %d non-reasoning examples (want 1), %d lines neither", traces, other, bad);
    snprintf(path, sizeof path, "%s/final_prompts.txt", dir);
    int n_final = count_lines(path);
    check(n_final == 8 + 8 / 10, "pipeline: the final RL's prompts: %d lines (want the 8 RL prompts + 8/10 "
          "non-reasoning)", n_final);
    snprintf(path, sizeof path, "%s/results.txt", dir);
    char *table = read_whole(path, NULL);
    int rows = 0, good = 0;
    char *pass_table = table ? strstr(table, "\n\n") : NULL;  // the pass@j table follows a blank line
    if (pass_table) *pass_table = 0;
    for (char *line = table; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
        rows++;
        float v[8];  // pass@1, cons@k, greedy, length, reflection, lang-mix, repetition, format
        char *nums = line + 30;  // after the 30-character label column
        if (rows > 1 && strlen(line) > 30 && sscanf(nums, "%f %f %f %f %f %f %f %f", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8
            && v[0] >= 0 && v[0] <= 1 && v[2] >= 0 && v[2] <= 1 && v[3] > 0 && v[6] >= 0 && v[6] <= 1
            && v[7] >= 0 && v[7] <= 1) good++;
    }
    check(rows == 10 && good == 9, "pipeline: results table with %d lines of which %d well-formed model rows (want 10 "
          "and 9: every stage)", rows, good);
    // the pass@j table: a row per model, pass@1 as in the results table, pass@2 at least pass@1, n/a beyond
    // the --eval-k 2 samples
    int pass_rows = 0, pass_good = 0;
    char *tline = table, *pline = pass_table ? pass_table + 2 : NULL;
    while (pline && (pline = strchr(pline, '\n')) && strlen(++pline) > 30 && (tline = strchr(tline, '\n'))) {
        float p1, p2, p1_table;
        char na[3][4];
        tline++;
        pass_rows++;
        int parsed = sscanf(pline + 30, "%f %f %3s %3s %3s", &p1, &p2, na[0], na[1], na[2]) == 5;
        for (int q = 0; q < 3 && parsed; q++) parsed = strcmp(na[q], "n/a") == 0;
        pass_good += parsed && sscanf(tline + 30, "%f", &p1_table) == 1 && p1 == p1_table && p2 >= p1 && p2 <= 1;
    }
    check(pass_rows == 9 && pass_good == 9, "pipeline: the pass@j table in results.txt, %d rows (want 9) of which %d "
          "give pass@1 as the results table, pass@2 in [pass@1, 1] and n/a for pass@4, 8, 16", pass_rows, pass_good);
    if (pass_table) *pass_table = '\n';
    // a second call is refused; with --resume it keeps every finished stage as it is and writes the same table
    expect_die("a second r1 pipeline in the same folder", child_pipeline, &pa, "--resume", "--overwrite");
    char *before[9];
    size_t before_len[9];
    for (int i = 0; i < 9; i++) {
        snprintf(path, sizeof path, "%.200s/%s/model.bin", dir, stages[i]);
        before[i] = read_whole(path, &before_len[i]);
    }
    pa.flag = "--resume";
    st = run_child(child_pipeline, &pa, err, sizeof err);
    int kept = 0;
    for (int i = 0; i < 9; i++) {
        size_t len = 0;
        snprintf(path, sizeof path, "%.200s/%s/model.bin", dir, stages[i]);
        char *after = read_whole(path, &len);
        kept += before[i] && after && len == before_len[i] && memcmp(before[i], after, len) == 0;
        free(before[i]); free(after);
    }
    snprintf(path, sizeof path, "%s/results.txt", dir);
    char *again = read_whole(path, NULL);
    check(st == 0 && kept == 9 && table && again && strcmp(table, again) == 0, "r1 pipeline --resume of the finished "
          "pipeline: exit status %d, %d of 9 stage checkpoints byte-identical, the same results table %d%s%s", st, kept,
          table && again && strcmp(table, again) == 0, st ? ", stderr: " : "", st ? err : "");
    free(again);
    // its report (checkers of section 16): well formed, its table the numbers of results.txt, each
    // model's response to the same 3 prompts
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = read_whole(path, NULL), label[10][64];
    double num[10][8];
    int n_num[10], same = 0, n_rows = html ? html_table_rows(html, "results", label, num, n_num, 10) : 0;
    const char *malformed = html ? xml_error(html, err, sizeof err) : "no report.html";
    char *line = table;
    for (int r = 0; r < n_rows && line && (line = strchr(line, '\n')) && strlen(++line) > 30; r++) {
        double v[8];
        int n = sscanf(line + 30, "%lf %lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                       &v[7]);
        int equal = n == 8 && n_num[r] == 8;
        for (int k = 0; k < 8 && equal; k++) equal = num[r][k] == v[k];  // the same text, parsed alike
        same += equal && strncmp(line, label[r], strlen(label[r])) == 0;
    }
    int shown = html ? count_str(html, "<div class=\"resp\">") : 0;
    check(!malformed && n_rows == 9 && same == 9 && shown == 27, "pipeline: report.html well formed (%s), %d of 9 "
          "table rows equal to results.txt's (want 9), %d responses shown (want 9 models x 3 prompts)",
          malformed ? malformed : "ok", same, shown);
    // its pass@j table (pass@1 as in the results table) and the curves of R1 and the three students
    double results_pass1[10];
    for (int r = 0; r < n_rows; r++) results_pass1[r] = num[r][0];
    int pass_same = 0, n_pass = html ? html_table_rows(html, "pass-at", label, num, n_num, 10) : 0;
    for (int r = 0; r < n_pass && r < n_rows; r++) pass_same += n_num[r] == 2 && num[r][0] == results_pass1[r];
    int curves = html ? count_str(html, "<polyline class=\"curve\"") : 0;
    check(n_pass == 9 && pass_same == 9 && curves == 4, "pipeline: report.html's pass@j table has %d rows (want 9), "
          "%d with pass@1 as the results table and pass@2 (the others n/a at --eval-k 2); %d curves (want R1 and "
          "the 3 students)", n_pass, pass_same, curves);
    free(html);
    free(table);
}

// ----------------------------------------------------------------------------
// the fast matmul (r1's gemm_share, and OpenBLAS when built with it) against the plain loops, on
// sizes that are not multiples of its tiles and blocks. Both sum in float in different orders: each
// is within K 2^-24 S of the exact sum, S = |initial value| + sum_k |a_k b_k| (the plain loops on
// absolute values), so an element passes if |fast - plain| <= 2 K 2^-24 S; a wrong index is off by
// about S. The worst error is printed as a fraction of S and of that bound.

// the largest |x - y| / (2 K 2^-24 S) over n elements (pass: <= 1); the largest |x - y| / S in *rel
static double mm_err(const float *x, const float *y, const float *S, size_t n, int K, double *rel) {
    double worst = 0.0;
    *rel = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - y[i]), s = S[i] > 0 ? S[i] : 1e-30;
        if (isnan(d)) d = INFINITY;  // an element never written
        worst = fmax(worst, d / (2.0 * K * 0x1p-24 * s));
        *rel = fmax(*rel, d / s);
    }
    return worst;
}

static float *mm_random(size_t n) {
    float *x = mallocCheck(n * sizeof(float));
    fill_normal(x, n, 0, 1, &g_rng);
    return x;
}
static float *mm_copy(const float *x, size_t n, int absolute) {
    float *y = mallocCheck(n * sizeof(float));
    for (size_t i = 0; i < n; i++) y[i] = absolute ? fabsf(x[i]) : x[i];
    return y;
}
static void set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

// out = inp w^T, dinp += dout w, dw += dout^T inp through matmul_path `path` on `threads` threads
static void matmul_case(int path, const char *name, int N, int C, int OC, int threads) {
    size_t nin = (size_t)N * C, nw = (size_t)OC * C, nout = (size_t)N * OC;
    float *inp = mm_random(nin), *w = mm_random(nw), *dout = mm_random(nout);
    float *dinp0 = mm_random(nin), *dw0 = mm_random(nw);  // backward accumulates into these
    float *ainp = mm_copy(inp, nin, 1), *aw = mm_copy(w, nw, 1), *adout = mm_copy(dout, nout, 1);
    float *S = mallocCheck(nout * sizeof(float)), *Sd = mm_copy(dinp0, nin, 1), *Sw = mm_copy(dw0, nw, 1);
    float *out_p = mallocCheck(nout * sizeof(float)), *out_f = mallocCheck(nout * sizeof(float));
    float *dinp_p = mm_copy(dinp0, nin, 0), *dinp_f = mm_copy(dinp0, nin, 0), *dinp_b = mm_copy(dinp0, nin, 0);
    float *dw_p = mm_copy(dw0, nw, 0), *dw_f = mm_copy(dw0, nw, 0), *dw_b = mm_copy(dw0, nw, 0);
    matmul_path = MATMUL_PLAIN;
    matmul_forward(out_p, inp, w, N, C, OC);
    matmul_forward(S, ainp, aw, N, C, OC);
    matmul_backward(dinp_p, dw_p, dout, inp, w, N, C, OC);
    matmul_backward(Sd, Sw, adout, ainp, aw, N, C, OC);
    set_threads(threads);
    matmul_path = path;
    memset(out_f, 0xff, nout * sizeof(float));  // NaN: the forward must write every element
    matmul_forward(out_f, inp, w, N, C, OC);
    matmul_backward(dinp_f, NULL, dout, inp, w, N, C, OC);
    matmul_backward(NULL, dw_f, dout, inp, w, N, C, OC);
    matmul_backward(dinp_b, dw_b, dout, inp, w, N, C, OC);  // both at once, as the layers call it
    set_threads(1);
    matmul_path = MATMUL_PLAIN;
    double rel_o, rel_i, rel_w;
    double eo = mm_err(out_f, out_p, S, nout, C, &rel_o), ei = mm_err(dinp_f, dinp_p, Sd, nin, OC, &rel_i);
    double ew = mm_err(dw_f, dw_p, Sw, nw, N, &rel_w);
    int same = memcmp(dinp_b, dinp_f, nin * sizeof(float)) == 0 && memcmp(dw_b, dw_f, nw * sizeof(float)) == 0;
    check(eo <= 1 && ei <= 1 && ew <= 1 && same, "%s = plain loops, N=%-4d C=%-4d OC=%-4d %d thread%s: worst "
          "|fast - plain| / S: forward %.1e, dinp %.1e, dweight %.1e (%.2f, %.2f, %.2f of the bound)%s",
          name, N, C, OC, threads, threads > 1 ? "s" : " ", rel_o, rel_i, rel_w, eo, ei, ew,
          same ? "" : "; dinp and dweight together differ from one at a time");
    float *all[] = { inp, w, dout, dinp0, dw0, ainp, aw, adout, S, Sd, Sw, out_p, out_f,
                     dinp_p, dinp_f, dinp_b, dw_p, dw_f, dw_b };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

#ifndef USE_BLAS
static void child_kernels_blas(const void *arg) { (void)arg; kernels_select("test", "blas"); exit(0); }
#endif

static void test_matmul(void) {
    int default_path = matmul_path;
    // the default is r1's gemm whether OpenBLAS is built in or not, so both builds give the same bits;
    // --kernels blas chooses OpenBLAS, or is a one-line error in a build without it
    check(default_path == MATMUL_PACKED, "matmul: the default path is r1's gemm (path %d)", default_path);
#ifdef USE_BLAS
    kernels_select("test", "blas");
    check(matmul_path == MATMUL_BLAS, "matmul: --kernels blas chooses OpenBLAS");
    kernels_select("test", "fast");
    matmul_path = default_path;
#else
    expect_die("--kernels blas without OpenBLAS", child_kernels_blas, NULL, "built without OpenBLAS", NULL);
#endif
    // N, C, OC: below, at and above the micro-tile (GEMM_MR x GEMM_NR), the k block (GEMM_KC: C for
    // the forward, OC for dinp, N for dweight) and the column block (GEMM_NC)
    static const int sizes[][3] = { {1, 1, 1}, {7, 5, 3}, {GEMM_MR, GEMM_KC, GEMM_NR}, {37, 45, 70},
                                    {300, 261, 77}, {13, 70, 1100}, {259, 33, 517} };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int threads = 1; threads <= 2; threads++) {
            matmul_case(MATMUL_PACKED, "gemm", sizes[i][0], sizes[i][1], sizes[i][2], threads);
#ifdef USE_BLAS
            matmul_case(MATMUL_BLAS, "OpenBLAS", sizes[i][0], sizes[i][1], sizes[i][2], threads);
#endif
        }
    // gemm's sums do not depend on the thread count: 1 and 2 threads agree bit for bit
    int N = 301, C = 270, OC = 75;
    size_t nin = (size_t)N * C, nw = (size_t)OC * C, nout = (size_t)N * OC;
    float *inp = mm_random(nin), *w = mm_random(nw), *dout = mm_random(nout), *out[2], *dinp[2], *dw[2];
    matmul_path = MATMUL_PACKED;
    for (int t = 0; t < 2; t++) {
        out[t] = mallocCheck(nout * sizeof(float));
        dinp[t] = mallocCheck(nin * sizeof(float));
        dw[t] = mallocCheck(nw * sizeof(float));
        set_threads(t + 1);
        matmul_forward(out[t], inp, w, N, C, OC);
        matmul_backward(dinp[t], dw[t], dout, inp, w, N, C, OC);
    }
    set_threads(1);
    check(memcmp(out[0], out[1], nout * sizeof(float)) == 0 && memcmp(dinp[0], dinp[1], nin * sizeof(float)) == 0
          && memcmp(dw[0], dw[1], nw * sizeof(float)) == 0,
          "gemm: 1 and 2 threads give the same bits (N=%d C=%d OC=%d)", N, C, OC);
    for (int t = 0; t < 2; t++) { free(out[t]); free(dinp[t]); free(dw[t]); }
    free(inp); free(w); free(dout);
    matmul_path = default_path;
}

// ----------------------------------------------------------------------------

// ----------------------------------------------------------------------------
// reflection measured: the problem parser, the audit of checks, decoding that forces or bans the check

typedef struct {
    const char *what, *response;
    int checks, faithful, fixes[N_FIXES], columns, columns_right, verdicts_right, sound;
} AuditCase;

// a decoding "model" that writes `script`: its favourite token is the script's next one, "</think>"
// the runner-up, the letters that start a check word third. When the check rule overrules it, it
// closes its think span (skips to the script's "</think>"), or, while a check is forced, waits.
static void decode_script(const char *prompt, const char *script, int rule, char *out) {
    int row[256], len = encode(prompt, row, 256, NULL), forcing = 0, start = len;
    int want[256] = { 0 }, n_want = encode(script, want, 256, NULL), pos = 0, think_end = 0;
    while (want[think_end] != TOK_THINK_END) think_end++;
    Rng rng = rng_seed(1);
    while (len < 255 && pos < n_want) {
        float logits[VOCAB_SIZE] = { 0 };
        logits[char_to_token('k')] = logits[char_to_token('h')] = 2.0f;
        logits[TOK_THINK_END] = 3.0f;
        logits[want[pos]] = 5.0f;
        int t = next_token(logits, VOCAB_SIZE, 0.0f, rule, 0, row, len, &forcing, &rng);
        row[len++] = t;
        if (t == want[pos]) pos++;
        else if (t == TOK_THINK_END) pos = think_end + 1;
    }
    decode(row + start, len - start, out);
}

static void test_reflection(void) {
    Problem p;
    const char *good[] = { "e:51+76+12+85=", "j:10+99=", "e:99+99+99=" };
    const char *bad[] = { "x:51+76=", "e:5+76=", "e:51+76", "e:51+76=3", "e:51+76+12+85+11+22+33=", "e51+76=", "e:51+-76=",
                          "e:05+76=" };
    int ok = problem_parse(good[0], &p) && p.n == 4 && p.x[0] == 51 && p.x[1] == 76 && p.x[2] == 12 && p.x[3] == 85 &&
             p.lang == LANG_EN && problem_parse(good[1], &p) && p.n == 2 && p.lang == LANG_JA && p.x[1] == 99 &&
             problem_parse(good[2], &p) && p.n == 3;
    int rejected = 0;
    for (int i = 0; i < 8; i++) rejected += !problem_parse(bad[i], &p);
    check(ok && rejected == 8, "problem_parse: 3 prompts read back, %d of 8 malformed ones rejected", rejected);
    // e:51+76+12+85=: units 1+6+2+5 = 14, tens 5+7+1+8 + carry 1 = 22. A check of the units writes the
    // pair sums 1+6 = 07, 2+5 = 07 and their total 14; of the tens 5+7 = 12, 1+8 = 09, 12+9 = 21, 21+1 = 22.
#define CHAIN "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22"
    const AuditCase cases[] = {
        { "clean checks", CHAIN " check 07 07 14 okay 14 check 12 09 21 22 okay 22</think>", 2, 2, { 0, 0, 0 }, 2, 2, 2, 1 },
        { "kensa/yosi", CHAIN " kensa 07 07 14 yosi 14 kensa 12 09 21 22 yosi 22</think>", 2, 2, { 0, 0, 0 }, 2, 2, 2, 1 },
        { "a slip caught", "<think>01+06+02+05=15 carry 1 05+07+01+08+01=22 check 07 07 14 wait 14</think>", 1, 1,
          { 1, 0, 0 }, 2, 1, 1, 1 },
        { "a wrong pair sum, verdict okay", CHAIN " check 07 07 15 okay 14</think>", 1, 0, { 0, 0, 0 }, 2, 2, 0, 0 },
        { "a wait that changes nothing", CHAIN " check 07 07 14 wait 14</think>", 1, 0, { 0, 0, 0 }, 2, 2, 1, 1 },
        { "right made wrong", CHAIN " check 07 07 13 wait 13</think>", 1, 0, { 0, 1, 0 }, 2, 2, 0, 0 },
        { "wrong to wrong", "<think>01+06+02+05=14 carry 1 05+07+01+08+01=23 check 07 07 14 okay 14 "
          "check 12 09 21 22 wait 21</think>", 2, 1, { 0, 0, 1 }, 2, 1, 1, 0 },
        { "faithful to a miscopied digit", "<think>01+06+02+06=15 carry 1 05+07+01+08+01=22 check 07 08 15 okay 15"
          "</think>", 1, 1, { 0, 0, 0 }, 2, 1, 0, 0 },
        { "a check cut short", CHAIN " check 07 07</think>", 1, 0, { 0, 0, 0 }, 2, 2, 0, 0 },
        { "a check with no column to check", "<think>check 07 07 14 okay 14</think>", 1, 0, { 0, 0, 0 }, 0, 0, 0, 0 },
        { "direct", "<think></think><answer>224</answer>", 0, 0, { 0, 0, 0 }, 0, 0, 0, 1 },
        { "a chain with no check", CHAIN "</think>", 0, 0, { 0, 0, 0 }, 2, 2, 0, 1 },
        { "a wrong carry, its sum following it", "<think>01+06+02+05=14 carry 0 05+07+01+08+00=21</think>", 0, 0,
          { 0, 0, 0 }, 2, 1, 0, 0 },
        { "the tens column missing", "<think>01+06+02+05=14</think>", 0, 0, { 0, 0, 0 }, 1, 1, 0, 0 },
        { "a wrong carry, the true sum written", "<think>01+06+02+05=14 carry 0 05+07+01+08+00=22</think>", 0, 0,
          { 0, 0, 0 }, 2, 1, 0, 0 },
    };
#undef CHAIN
    int n_cases = sizeof cases / sizeof cases[0], n_ok = 0;
    problem_parse(good[0], &p);
    for (int i = 0; i < n_cases; i++) {
        CheckAudit a = audit_checks(&p, cases[i].response);
        int sound = trace_sound(&p, cases[i].response);
        int same = a.checks == cases[i].checks && a.faithful == cases[i].faithful && a.columns == cases[i].columns &&
                   a.columns_right == cases[i].columns_right && a.verdicts_right == cases[i].verdicts_right &&
                   sound == cases[i].sound;
        for (int f = 0; f < N_FIXES; f++) same &= a.fixes[f] == cases[i].fixes[f];
        if (!same) fprintf(stderr, "  audit_checks %s: checks %d faithful %d fixes %d %d %d columns %d right %d verdicts "
                           "right %d sound %d\n", cases[i].what, a.checks, a.faithful, a.fixes[0], a.fixes[1], a.fixes[2],
                           a.columns, a.columns_right, a.verdicts_right, sound);
        n_ok += same;
    }
    check(n_ok == n_cases, "audit_checks and trace_sound: %d of %d hand-counted responses (checks, faithful, "
          "self-corrections, columns, right columns, right verdicts, sound)", n_ok, n_cases);
    // the "aha" example: a faithful check that catches a slip, then the right answer; not a check that
    // lands on the true sum from a wrong pair sum (07 08 14), not a right catch before a wrong answer
#define SLIP "<think>01+06+02+05=15 carry 1 05+07+01+08+01=22 "
    const char *aha_cases[] = { SLIP "check 07 07 14 wait 14 check 12 09 21 22 okay 22</think><answer>224</answer>",
                                SLIP "check 07 08 14 wait 14 check 12 09 21 22 okay 22</think><answer>224</answer>",
                                SLIP "check 07 07 14 wait 14 check 12 09 21 22 okay 22</think><answer>225</answer>",
                                "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14</think>"
                                "<answer>224</answer>" };
#undef SLIP
    int aha_want[4] = { 1, 0, 0, 0 }, aha_right = 0;
    for (int i = 0; i < 4; i++) {
        CheckAudit a = audit_checks(&p, aha_cases[i]);
        aha_right += aha_response(&a, reward_accuracy(aha_cases[i], 224)) == aha_want[i];
    }
    check(aha_right == 4, "aha_response: %d of 4 responses judged right (a faithful catch and the right answer; "
          "an unfaithful catch; a catch before a wrong answer; no catch)", aha_right);
    // the check rule: a script that wants to check, banned; a script that skips its checks, forced
    char out[2600], direct[2600];
    const char *checking = "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14</think>"
                           "<answer>224</answer><eos>";
    decode_script("e:51+76+12+85=", checking, CHECK_FREE, out);
    int free_checks = strstr(out, "check") != NULL;
    // banned, the chain ends where its check would have begun: exactly the plain chain
    decode_script("e:51+76+12+85=", checking, CHECK_BAN, out);
    int banned = strcmp(out, "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer><eos>") == 0;
    decode_script("j:51+76+12+85=", "<think>01+06+02+05=14 agari 1 05+07+01+08+01=22 kensa 07 07 14 yosi 14</think>"
                  "<answer>224</answer><eos>", CHECK_BAN, direct);
    banned &= strcmp(direct, "<think>01+06+02+05=14 agari 1 05+07+01+08+01=22</think><answer>224</answer><eos>") == 0;
    check(free_checks && banned, "decoding --check ban: a script that checks (free: %s) writes the plain chain in "
          "either language (%s)", free_checks ? "it does" : "it does not", out);
    const char *plain = "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer><eos>";
    decode_script("e:51+76+12+85=", plain, CHECK_FORCE, out);
    int n_checks = 0;
    for (const char *c = out; (c = strstr(c, " check")); c++) n_checks++;
    decode_script("e:51+76+12+85=", "<think></think><answer>224</answer><eos>", CHECK_FORCE, direct);
    check(n_checks == 2 && strstr(out, "</think>") && strcmp(direct, "<think></think><answer>224</answer><eos>") == 0,
          "decoding --check force: a plain chain of 2 columns gets %d checks (want 2), a direct answer stays direct",
          n_checks);
}

// 16. the HTML report: well formed, one point per evaluation in each held-out curve, its table's numbers
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
            if (!isalpha((unsigned char)c[4])) num[n][n_num[n]++] = atof(c + 4);  // "n/a" is no number
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

// the y extent of a chart's grid lines (svg .. svg_end): its lowest and highest tick
static void grid_range(const char *svg, const char *svg_end, double *top, double *bottom) {
    *top = INFINITY; *bottom = -INFINITY;
    for (const char *g = strstr(svg, "<line class=\"grid\""); g && g < svg_end; g = strstr(g + 1, "<line class=\"grid\"")) {
        double x1, y1;
        if (sscanf(g, "<line class=\"grid\" x1=\"%lf\" y1=\"%lf\"", &x1, &y1) != 2) continue;
        *top = fmin(*top, y1); *bottom = fmax(*bottom, y1);
    }
}

// polylines of a report whose every point lies between its chart's lowest and highest tick; *all: how many
static int curves_inside(const char *html, int *all) {
    int inside_n = 0;
    *all = 0;
    for (const char *svg = strstr(html, "<svg "); svg; svg = strstr(svg + 1, "<svg ")) {
        const char *svg_end = strstr(svg, "</svg>");
        double top, bottom, x, y;
        grid_range(svg, svg_end, &top, &bottom);
        for (const char *pl = strstr(svg, "<polyline "); pl && pl < svg_end; pl = strstr(pl + 1, "<polyline ")) {
            const char *pts = strstr(pl, " points=\"");
            int inside = 1;
            for (const char *q = pts + 9; q && sscanf(q, "%lf,%lf", &x, &y) == 2; q = strchr(q, ' ')) {
                inside &= y >= top - 0.05 && y <= bottom + 0.05;
                q++;
            }
            (*all)++;
            inside_n += inside;
        }
    }
    return inside_n;
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

    // a chart's scale comes from the largest point of all its curves, here the second curve's
    double xs[3] = { 0, 1, 2 }, low[3] = { 1, 2, 3 }, high[3] = { 10, 20, 30 };
    Curve scale_curves[2] = { { .name = "low", .colour = "#000", .y = low },
                              { .name = "high", .colour = "#111", .y = high } };
    snprintf(tmp, sizeof tmp, "%s/chart.svg", tmp_root);
    f = fopenCheck(tmp, "w");
    svg_chart(f, "two curves", "y", "x", xs, 3, scale_curves, 2, 0.0);
    fclose(f);
    char *chart = read_whole(tmp, NULL);
    int chart_curves = 0, chart_inside = chart ? curves_inside(chart, &chart_curves) : 0;
    check(chart_curves == 2 && chart_inside == 2, "report: a chart scaled to all its curves: %d of %d inside (want 2)",
          chart_inside, chart_curves);
    free(chart);

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
    enum { ACCURACY = 6, N_NAMES };
    int col_of[N_NAMES], evals[8], n_eval = 0, n_train = 0, missing = 0, n_checked = 0;
    const char *names[N_NAMES] = { "test_pass1", "test_greedy", "test_length", "test_reflection", "test_chain_share",
                                   "test_checked_in_chains", "accuracy" };
    for (int k = 0; k < N_NAMES; k++) {
        for (col_of[k] = 0; col_of[k] < cols && strcmp(cell[0][col_of[k]], names[k]); col_of[k]++) {}
        missing += col_of[k] == cols;
    }
    for (int r = 1; r < rows && !missing; r++) {
        if (*cell[r][col_of[0]] && n_eval < 8) evals[n_eval++] = r;
        n_checked += *cell[r][col_of[0]] && atof(cell[r][col_of[5]]) >= 0;  // -1: no chain, no point
        n_train += *cell[r][col_of[ACCURACY]] != 0;
    }
    check(!missing && n_eval == 4 && n_train == 7, "report: the run's log.csv: %d columns missing, %d evaluated rows "
          "(want 4: steps 0, 3, 6, 7), %d trained (want 7)", missing, n_eval, n_train);
    if (missing || n_eval == 0) { free(csv); return; }

    snprintf(path, sizeof path, "%s/report.html", dir);
    html = read_whole(path, NULL);
    const char *bad = html ? xml_error(html, err, sizeof err) : "no report.html";
    snprintf(tmp, sizeof tmp, "%s/report.html.tmp", dir);
    check(!bad && access(tmp, F_OK) != 0, "report: report.html is well formed (%s), no report.html.tmp left", bad ? bad : "ok");
    const char *not_shown = html ? strstr(html, "<p class=\"not-shown\">What this run does not show: that checking pays") : NULL;
    check(not_shown && strstr(not_shown, "--check ban"), "report: below its table, what an addition run does not show "
          "(checking pays), with the command that measures it");

    // every curve: one point per evaluation (held-out) or per training step, inside its chart, steps increasing
    int curves = 0, right = 0, charts = 0;
    for (const char *svg = html ? strstr(html, "<svg ") : NULL; svg; svg = strstr(svg + 1, "<svg ")) {
        double W = 0, H = 0;
        const char *vb = strstr(svg, "viewBox=\""), *svg_end = strstr(svg, "</svg>");
        if (!vb || !svg_end || sscanf(vb, "viewBox=\"0 0 %lf %lf\"", &W, &H) != 2) continue;
        charts++;
        double top, bottom;
        grid_range(svg, svg_end, &top, &bottom);
        for (const char *pl = strstr(svg, "<polyline "); pl && pl < svg_end; pl = strstr(pl + 1, "<polyline ")) {
            const char *name = strstr(pl, "data-name=\""), *pts = strstr(pl, " points=\"");
            if (!name || !pts) continue;
            curves++;
            int n = 0, inside = 1, want = !strncmp(name + 11, "held-out checked", 16) ? n_checked
                                        : !strncmp(name + 11, "held-out", 8) ? n_eval : n_train;
            double x, y, last_x = -1;
            for (const char *q = pts + 9; q && sscanf(q, "%lf,%lf", &x, &y) == 2; q = strchr(q, ' ')) {
                inside &= x > last_x && x >= 0 && x <= W && y >= top - 0.05 && y <= bottom + 0.05;
                last_x = x; n++; q++;
            }
            right += n == want && inside;
            if (n != want || !inside)
                fprintf(stderr, "  curve %.30s: %d points (want %d), inside and increasing %d\n", name, n, want, inside);
        }
    }
    check(charts == 3 && curves == 9 && right == 9, "report: %d charts (want 3), %d curves (want 9), %d with one point per "
          "evaluation (held-out) or training step, inside the chart, steps increasing", charts, curves, right);

    // the before/after table: the first and last evaluated rows of log.csv, to the digits shown
    char label[8][64];
    double num[8][8];
    int n_num[8], first = -1, last = -1, agree = 0;
    const char *labels[6] = { "pass@1", "greedy accuracy", "mean response length (tokens)", "reflection rate",
                              "chain-of-thought share", "checked among chains" };
    int n_rows = html ? html_table_rows(html, "before-after", label, num, n_num, 8) : 0;
    const char *th = html ? strstr(html, "<th>step ") : NULL;
    if (th) sscanf(th, "<th>step %d</th><th>step %d</th>", &first, &last);
    for (int r = 0; r < n_rows; r++)
        for (int k = 0; k < 6; k++) {
            if (strcmp(label[r], labels[k]) != 0) continue;
            double tol = k == 2 ? 0.05 + 1e-9 : 5e-4 + 1e-9;  // the table shows 3 decimals, 1 for the length
            double a = atof(cell[evals[0]][col_of[k]]), b = atof(cell[evals[n_eval - 1]][col_of[k]]);
            int want_num = (a >= 0) + (b >= 0);  // a rate logged as -1 (no chain) is shown as n/a
            agree += n_num[r] == want_num && (a < 0 || fabs(num[r][0] - a) <= tol) &&
                     (b < 0 || fabs(num[r][want_num - 1] - b) <= tol);
        }
    const char *step_a = cell[evals[0]][0], *step_b = cell[evals[n_eval - 1]][0];
    check(n_rows == 6 && agree == 6 && first == atoi(step_a) && last == atoi(step_b), "report: before/after table, "
          "steps %d and %d (log.csv: %s and %s), %d of 6 rows equal to log.csv's (want 6)", first, last, step_a, step_b,
          agree);

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

    // a run on held-out prompts of two difficulties, interleaved, 4 of each: log.csv has the length and the
    // checked share of each, the overall length is the mean of the two, the report draws and tabulates them
    char two_path[400], two_dir[300];
    snprintf(two_path, sizeof two_path, "%s/two_difficulties.txt", tmp_root);
    snprintf(two_dir, sizeof two_dir, "%s/report_two", tmp_root);
    const char *two = "e:12+34+56=\t102\t3\ne:51+76+12+85=\t224\t4\nj:40+17+23=\t80\t3\ne:11+22+33+44=\t110\t4\n"
                      "e:70+81+19=\t170\t3\nj:15+26+37+48=\t126\t4\nj:99+98+97=\t294\t3\ne:10+20+30+40=\t100\t4\n";
    write_whole(two_path, two, strlen(two));
    GrpoOptions g2 = grpo_defaults();
    g2.init = init; g2.out = two_dir; g2.test = two_path; g2.steps = 1; g2.prompts_per_step = 2;
    g2.num_generations = 4; g2.eval_every = 1; g2.eval_prompts = 8; g2.eval_k = 2; g2.lr = 1e-3f;
    model_free(grpo_quietly(&g2));
    report_grpo(&g2, "test");
    // step 0's evaluation, done again here: the initial model, the run's evaluation seed
    Model *m_init = checkpoint_load(init, NULL, NULL);
    Data two_data = load_prompts(two_path, m_init->cfg.context);
    EvalResult e0 = evaluate(m_init, &two_data, 8, 2, g2.temperature, 12345, CHECK_FREE, 0, 0);
    data_free(&two_data);
    model_free(m_init);
    int two_rows = 0, two_ok = 0;
    for (int r = 0; r < 2; r++) {  // step 0 (trained and evaluated) and step 1 (evaluated)
        double all = log_mean(two_dir, "test_length", r, r + 1, &two_rows), l[2], c[2];
        int ok = 1;
        for (int t = 3; t <= 4; t++) {
            char name[48];
            snprintf(name, sizeof name, "test_length_d%d", t);
            l[t - 3] = log_mean(two_dir, name, r, r + 1, &two_rows);
            snprintf(name, sizeof name, "test_checked_in_chains_d%d", t);
            c[t - 3] = log_mean(two_dir, name, r, r + 1, &two_rows);
            ok &= c[t - 3] >= -1;  // -1: no chain (NAN)
            if (r == 0)  // to the digits logged
                ok &= fabs(l[t - 3] - e0.diff_len[t]) <= 0.005 + 1e-6 &&
                      fabs(c[t - 3] - nan_to(e0.diff_checked_in_chains[t], -1)) <= 5e-5 + 1e-9;
        }
        two_ok += ok && fabs((l[0] + l[1]) / 2 - all) <= 0.01 + 1e-9;
    }
    snprintf(path, sizeof path, "%s/report.html", two_dir);
    html = read_whole(path, NULL);
    int two_charts = html ? count_str(html, "<svg ") : 0;
    int two_table = html && strstr(html, "<td>3 operands: length, checked among chains</td>") &&
                    strstr(html, "<td>4 operands: length, checked among chains</td>");
    bad = html ? xml_error(html, err, sizeof err) : "no report.html";
    int two_curves = 0, two_inside = html ? curves_inside(html, &two_curves) : 0;
    check(two_rows == 2 && two_ok == 2 && two_charts == 5 && two_table && !bad && two_curves == 13 &&
          two_inside == 13, "report: two difficulties: %d of 2 evaluated rows with each one's length and checked "
          "share (step 0's as evaluate() gives them), the mean of the two lengths the overall one; %d charts (want 5: "
          "length and checked share by difficulty added), both difficulties in the before/after table %d, well "
          "formed (%s), %d of %d curves inside their chart (want 13)", two_ok, two_charts, two_table,
          bad ? bad : "ok", two_inside, two_curves);
    free(html);
}

// ----------------------------------------------------------------------------

// --kernels plain against fast, from one seed: a short pretraining (tiny preset, 40 steps at the machine's
// threads: fast runs the packed gemm or BLAS, the blocked attention, table RoPE and the data-parallel model),
// then 3 steps of R1-Zero from the fast base (on one thread: the threaded generation gives each thread's
// rows a random stream of its own, so only one thread samples the same responses on both paths; the
// decoding kernel and the fast matmul still run). The paths compute the same sums in other orders, so they
// differ by float rounding (~1e-7 relative), which the steps carry on: measured, the parameters (of size
// ~0.1) differ by ~5e-7. The tolerance, 1e-4 on every parameter and on the loss (relative), leaves room for
// that rounding to grow and is far below what a wrong kernel does: a wrong gradient moves parameters by
// ~lr (1e-2 and 3e-3 here) at every step. The R1-Zero steps sample the same responses on both paths.
static void test_kernels(void) {
    const char *prompts[4] = { "e:3=", "j:7=", "e:5=", "j:2=" };
    char corpus[4 * 20 * 64], rl[4 * 32];
    int o = 0, r = 0;
    for (int p = 0; p < 4; p++) {
        r += sprintf(rl + r, "%s\t7\t1\n", prompts[p]);
        for (int d = 0; d < 20; d++) {  // the answers 0..9, then ten two-digit ones
            o += sprintf(corpus + o, "%s<think></think><answer>", prompts[p]);
            o += d < 10 ? sprintf(corpus + o, "%d", d) : sprintf(corpus + o, "%d%d", 19 - d, ((d - 10) * 3 + p) % 10);
            o += sprintf(corpus + o, "</answer><eos>\n");
        }
    }
    const char *cpath = tmp_path("kernels_corpus.txt"), *ppath = tmp_path("kernels_prompts.txt");
    write_whole(cpath, corpus, (size_t)o);
    write_whole(ppath, rl, (size_t)r);
    Data d = load_corpus(cpath, find_preset("tiny")->cfg.context);
    int matmul = matmul_path, attention = attention_path, threads = omp_get_max_threads(), rows;
    Model *lm[2], *rlm[2];
    double loss[2], rl_reward[2];
    char base[2][320];
    for (int k = 0; k < 2; k++) {  // 0: fast, 1: plain
        if (k == 1) kernels_select("test", "plain");
        char dir[300], rl_dir[300];
        snprintf(dir, sizeof dir, "%s/kernels_base_%d", tmp_root, k);
        snprintf(base[k], sizeof base[k], "%s/model.bin", dir);
        TrainOptions t = { .data = cpath, .out = dir, .preset = "tiny", .steps = 40, .batch = 16, .warmup = 10,
                           .seed = 4, .log_every = 1000, .lr = 1e-2f, .lr_min = 1e-3f, .clip = 1.0f, .bias_gamma = 1e-3f };
        lm[k] = train_quietly(&t, &d);
        loss[k] = log_mean(dir, "loss", 30, 40, &rows);
        omp_set_num_threads(1);
        GrpoOptions g = grpo_defaults();
        snprintf(rl_dir, sizeof rl_dir, "%s/kernels_zero_%d", tmp_root, k);
        g.init = base[0]; g.out = rl_dir; g.data = ppath; g.test = ppath; g.rewards = "accuracy,format";
        g.steps = 3; g.prompts_per_step = 2; g.num_generations = 8; g.lr = 3e-3f; g.eval_every = 0; g.seed = 6;
        rlm[k] = grpo_quietly(&g);
        rl_reward[k] = log_mean(rl_dir, "reward", 0, 3, &rows);
        omp_set_num_threads(threads);
        kernels_plain = 0; matmul_path = matmul; attention_path = attention;
    }
    double lm_diff = 0.0, rl_diff = 0.0;
    for (size_t i = 0; i < lm[0]->num_params; i++) {
        lm_diff = fmax(lm_diff, fabs(lm[0]->params_mem[i] - lm[1]->params_mem[i]));
        rl_diff = fmax(rl_diff, fabs(rlm[0]->params_mem[i] - rlm[1]->params_mem[i]));
    }
    check(lm_diff <= 1e-4 && fabs(loss[0] - loss[1]) <= 1e-4 * fabs(loss[0]) && loss[0] < 2.5,
          "pretraining 40 steps, --kernels fast and plain: loss of the last 10 steps %.6f and %.6f (tol 1e-4 relative), max "
          "parameter difference %.2e (tol 1e-4)", loss[0], loss[1], lm_diff);
    check(rl_diff <= 1e-4 && rl_reward[0] == rl_reward[1],
          "R1-Zero 3 steps, --kernels fast and plain: mean reward %.4f and %.4f (the same samples), max parameter difference "
          "%.2e (tol 1e-4)", rl_reward[0], rl_reward[1], rl_diff);
    for (int k = 0; k < 2; k++) { model_free(lm[k]); model_free(rlm[k]); }
    data_free(&d);
}

// the sections, in order; ./test_r1 NAME... runs only those (the exercise checks use this). A section
// with part_of runs inside that one in the whole suite, and alone only when named.
typedef struct { const char *name; void (*run)(void); const char *what, *part_of; } Section;
// ----------------------------------------------------------------------------
// the countdown world: the generator against a brute-force solver, the reward and the audit of tries on
// hand-written responses, the retry's decoding rules, and a short run of the world end to end

// the distinct tries of digits d that reach target, found by brute force over every order of the digits and
// every pair of operations: (d[i] o1 d[j]) o2 d[k], no negative value; (i, j) and (j, i) are one try when
// they give the same written text with the larger digit first
static int brute_force_solutions(const int d[3], int target) {
    int seen[64][5], n = 0;
    for (int i = 0; i < 3; i++) for (int j = 0; j < 3; j++) for (int k = 0; k < 3; k++) {
        if (i == j || j == k || i == k) continue;
        for (int o1 = 0; o1 < 3; o1++) for (int o2 = 0; o2 < 3; o2++) {
            if (d[i] < d[j]) continue;  // the larger first: written once
            int r = o1 == 0 ? d[i] + d[j] : o1 == 1 ? d[i] - d[j] : d[i] * d[j];
            int v = o2 == 0 ? r + d[k] : o2 == 1 ? r - d[k] : r * d[k];
            if (v != target || r < 0 || v < 0) continue;
            int key[5] = { d[i], o1, d[j], d[k], o2 }, dup = 0;
            for (int q = 0; q < n; q++) dup |= memcmp(seen[q], key, sizeof key) == 0;
            if (!dup && n < 64) memcpy(seen[n++], key, sizeof key);
        }
    }
    return n;
}

// a try "a o b=r r o c=v" at s read with sscanf: its arithmetic right, its digits the prompt's; *v its value
static int brute_try_right(const char *s, const int d[3], int *v) {
    int a, b, r, r2, c, n;
    char o1, o2;
    if (sscanf(s, "%d%c%d=%d %d%c%d=%d%n", &a, &o1, &b, &r, &r2, &o2, &c, v, &n) != 8) return 0;
    int x[3] = { a, b, c }, used[3] = { 0 }, ok = 1;
    for (int i = 0; i < 3; i++) {
        int k = 0;
        while (k < 3 && (used[k] || d[k] != x[i])) k++;
        if (k == 3) ok = 0; else used[k] = 1;
    }
    int r_true = o1 == '+' ? a + b : o1 == '-' ? a - b : a * b;
    int v_true = o2 == '+' ? r + c : o2 == '-' ? r - c : r * c;
    return ok && r == r_true && r2 == r && *v == v_true && r >= 0;
}

static void test_countdown_generator(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/countdown_data", tmp_root);
    gen_countdown_data(dir, 7, 1);
    // the prompt files: every target reachable, 10..99, its difficulty the brute force's count (3: three or more)
    const char *files[2] = { "rl_train.txt", "rl_test.txt" };
    int bad_target = 0, bad_diff = 0, lines = 0, diff_n[4] = { 0 };
    static char keys[2][100000];  // seen (sorted digits, target) of the RL and the test prompts
    memset(keys, 0, sizeof keys);
    for (int f = 0; f < 2; f++) {
        char path[400], line[128];
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        FILE *fp = fopen(path, "r");
        while (fp && fgets(line, sizeof line, fp)) {
            int d[3], target, answer, diff;
            char lang;
            if (sscanf(line, "%c:%d %d %d=%d\t%d\t%d", &lang, &d[0], &d[1], &d[2], &target, &answer, &diff) != 7) {
                bad_target++;
                continue;
            }
            lines++;
            int s = brute_force_solutions(d, target), lo = d[0], hi = d[0], sum = d[0] + d[1] + d[2];
            for (int i = 1; i < 3; i++) { lo = d[i] < lo ? d[i] : lo; hi = d[i] > hi ? d[i] : hi; }
            int key = ((lo * 10 + (sum - lo - hi)) * 10 + hi) * 100 + target;
            keys[f][key] = 1;
            bad_target += s == 0 || target < 10 || target > 99 || answer != target;
            bad_diff += diff != (s < 3 ? s : 3);
            if (f == 1 && diff >= 1 && diff <= 3) diff_n[diff]++;
        }
        if (fp) fclose(fp);
    }
    check(lines == GEN_RL_TRAIN + 2 * GEN_RL_TEST_PER_DIFF && bad_target == 0 && bad_diff == 0,
          "countdown gen: %d RL and test prompts reachable (10-99) by a brute-force solver, %d not; %d with a "
          "difficulty other than the solver's number of solutions", lines, bad_target, bad_diff);
    check(diff_n[1] > 0 && diff_n[2] > 0 && diff_n[3] > 0, "countdown gen: the test prompts hold 1, 2 and 3+ "
          "solutions (%d, %d, %d)", diff_n[1], diff_n[2], diff_n[3]);
    // the corpus: every try sound, every verdict true, the answer its accepted try; no problem of the RL or
    // test prompts; the styles in their shares
    char path[400];
    snprintf(path, sizeof path, "%s/pretrain.txt", dir);
    FILE *fp = fopen(path, "r");
    char line[512];
    int docs = 0, unsound = 0, false_verdicts = 0, wrong_answer = 0, leaked = 0, direct = 0, search = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        int d[3], target, n;
        char lang;
        if (sscanf(line, "%c:%d %d %d=%d<think>%n", &lang, &d[0], &d[1], &d[2], &target, &n) != 5) { unsound++; continue; }
        docs++;
        int lo = d[0], hi = d[0], sum = d[0] + d[1] + d[2];
        for (int i = 1; i < 3; i++) { lo = d[i] < lo ? d[i] : lo; hi = d[i] > hi ? d[i] : hi; }
        int key = ((lo * 10 + (sum - lo - hi)) * 10 + hi) * 100 + target;
        leaked += keys[0][key] || keys[1][key];
        const char *s = line + n, *think_end = strstr(s, "</think>"), *last_try = NULL;
        int value, last_ok = -1;
        direct += s == think_end;
        while (s && s < think_end) {
            if (!brute_try_right(s, d, &value)) { unsound++; break; }
            last_try = s;
            s = strchr(strchr(s, ' ') + 1, ' ');  // after the try's two operations
            if (s && s < think_end && (strncmp(s, " vs ", 4) == 0 || strncmp(s, " to ", 4) == 0)) {
                int t = atoi(s + 4);
                const char *verdict = strchr(s + 4, ' ') + 1;
                int ok = strncmp(verdict, "ok", 2) == 0 || strncmp(verdict, "ii", 2) == 0;
                false_verdicts += t != target || ok != (value == target);
                last_ok = ok;
                s = verdict + 2;
            }
            if (s && *s == ' ') s++;
        }
        search += last_ok == 1;
        const char *answer = strstr(line, "<answer>") + 8;
        if (last_try) wrong_answer += strncmp(answer, last_try, strcspn(last_try, " ") + 1 +
                                              strcspn(strchr(last_try, ' ') + 1, " <")) != 0;
        else wrong_answer += !brute_try_right(answer, d, &value) || value != target;
    }
    if (fp) fclose(fp);
    check(docs == GEN_PRETRAIN && unsound == 0 && false_verdicts == 0 && wrong_answer == 0 && leaked == 0,
          "countdown corpus: %d documents; %d with a try whose arithmetic or digits are wrong, %d false verdicts, "
          "%d answers that are not the last try (or, direct, not a solution), %d problems of the RL or test "
          "prompts", docs, unsound, false_verdicts, wrong_answer, leaked);
    // the shares: direct 0.30, search (one try ok'd, or "no"s then ok) 0.40, binomial 3-sigma bands
    float fd = (float)direct / docs, fs = (float)search / docs;
    check(fabsf(fd - 0.30f) < 0.006f && fabsf(fs - 0.40f) < 0.006f, "countdown corpus: direct share %.3f "
          "(want 0.30), search share %.3f (want 0.40)", fd, fs);
    // the control corpus: no try follows a "no"
    gen_countdown_data(dir, 7, 0);
    char *text = read_whole(path, NULL);
    int retries = 0;
    for (const char *c = strstr(text, " no "); c; c = strstr(c + 1, " no ")) retries++;
    for (const char *c = strstr(text, " ie "); c; c = strstr(c + 1, " ie ")) retries++;
    check(text && strstr(text, " no</think>") && retries == 0, "countdown gen --no-retry: %d tries after a "
          "\"no\" (want 0)", retries);
    free(text);
}

typedef struct {
    const char *response;
    int reward, tries, verdicts, oks, nos, retries, faithful, false_oks, style;
} TryCase;

static void test_countdown_rewards(void) {
    Countdown p;
    check(countdown_parse("e:3 7 8=53", &p) && p.digit[0] == 3 && p.digit[1] == 7 && p.digit[2] == 8 && p.target == 53
          && p.lang == LANG_EN && countdown_parse("j:1 1 9=10", &p) && p.lang == LANG_JA && !countdown_parse("e:3 7=53", &p)
          && !countdown_parse("e:3 7 8=5", &p) && !countdown_parse("e:3 7 0=53", &p) && !countdown_parse("e:51+76=", &p)
          && !countdown_parse("e:3 7 8=53x", &p) && !countdown_parse("x:3 7 8=53", &p),
          "countdown_parse: 2 prompts read back, 6 malformed ones rejected");
    countdown_parse("e:3 7 8=53", &p);
    // e:3 7 8=53: 7*8 = 56, 56-3 = 53 is right; 8+7 = 15, 15+3 = 18 misses
#define TRY_RIGHT "7*8=56 56-3=53"
#define TRY_MISS "8+7=15 15+3=18"
    const TryCase cases[] = {
        { "<think></think><answer>" TRY_RIGHT "</answer><eos>", 1, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },
        { "<think></think><answer>8*7=56 56-3=53</answer><eos>", 1, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },
        { "<think></think><answer>7*8=56 56-3=52</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },  // arithmetic
        { "<think></think><answer>7*8=56 55-3=52</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },  // not its result
        { "<think></think><answer>7*7=49 49+3=52</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },  // a digit twice
        { "<think></think><answer>7*8=56</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },          // one operation
        { "<think></think><answer>8*8=64 64-9=55</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },  // other digits
        { "<think></think><answer>53</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },              // malformed
        { "<think></think><answer>" TRY_RIGHT " </answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT },  // extra text
        { "<think></think><answer>7*8=56 56-3=053</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, CD_DIRECT }, // not a number
        { "<think>" TRY_MISS "</think><answer>" TRY_MISS "</answer><eos>", 0, 1, 0, 0, 0, 0, 0, 0, CD_ONE_TRY },
        { "<think>" TRY_MISS " vs 53 no</think><answer>" TRY_MISS "</answer><eos>", 0, 1, 1, 0, 1, 0, 1, 0, CD_TRY_NO },
        { "<think>" TRY_MISS " vs 53 no " TRY_RIGHT " vs 53 ok</think><answer>" TRY_RIGHT "</answer><eos>",
          1, 2, 2, 1, 1, 1, 2, 0, CD_SEARCH },
        { "<think>" TRY_MISS " to 53 ie " TRY_RIGHT " to 53 ii</think><answer>" TRY_RIGHT "</answer><eos>",
          1, 2, 2, 1, 1, 1, 2, 0, CD_SEARCH },
        // a false ok: the try misses, the answer is wrong although the think span says ok
        { "<think>" TRY_MISS " vs 53 ok</think><answer>" TRY_MISS "</answer><eos>", 0, 1, 1, 1, 0, 0, 0, 1, CD_SEARCH },
        // a false no on the right try: unfaithful; the answer is still right
        { "<think>" TRY_RIGHT " vs 53 no</think><answer>" TRY_RIGHT "</answer><eos>", 1, 1, 1, 0, 1, 0, 0, 0, CD_TRY_NO },
        // the target miscopied: the verdict is unfaithful even though "no" is the right call
        { "<think>" TRY_MISS " vs 35 no " TRY_RIGHT " vs 53 ok</think><answer>" TRY_RIGHT "</answer><eos>",
          1, 2, 2, 1, 1, 1, 1, 0, CD_SEARCH },
        // wrong arithmetic ok'd: unfaithful and a false ok
        { "<think>8+7=15 15+3=53 vs 53 ok</think><answer>8+7=15 15+3=53</answer><eos>", 0, 1, 1, 1, 0, 0, 0, 1, CD_SEARCH },
        // three no's, the last try answered
        { "<think>" TRY_MISS " vs 53 no 8-7=1 1*3=3 vs 53 no 3+7=10 10*8=80 vs 53 no</think><answer>3+7=10 10*8=80"
          "</answer><eos>", 0, 3, 3, 0, 3, 2, 3, 0, CD_GIVE_UP },
        // two tries without verdicts
        { "<think>" TRY_MISS " " TRY_RIGHT "</think><answer>" TRY_RIGHT "</answer><eos>", 1, 2, 0, 0, 0, 0, 0, 0, CD_OTHER },
    };
    int n = (int)(sizeof cases / sizeof cases[0]), bad = 0;
    for (int i = 0; i < n; i++) {
        const TryCase *c = &cases[i];
        TryAudit a = audit_tries(&p, c->response);
        int got[9] = { (int)reward_countdown(c->response, &p), a.tries, a.verdicts, a.oks, a.nos, a.retries, a.faithful,
                       a.false_oks, countdown_style(c->response, &a) };
        int want[9] = { c->reward, c->tries, c->verdicts, c->oks, c->nos, c->retries, c->faithful, c->false_oks, c->style };
        if (memcmp(got, want, sizeof got) != 0) {
            bad++;
            fprintf(stderr, "      %s: reward, tries, verdicts, oks, nos, retries, faithful, false oks, style "
                    "%d %d %d %d %d %d %d %d %d, want %d %d %d %d %d %d %d %d %d\n", c->response, got[0], got[1], got[2],
                    got[3], got[4], got[5], got[6], got[7], got[8], want[0], want[1], want[2], want[3], want[4],
                    want[5], want[6], want[7], want[8]);
        }
    }
    check(bad == 0, "countdown reward, audit of tries and style: %d of %d hand-counted responses differ", bad, n);
    // answers that reach their target but break one rule (e:3 7 8=52): 7 used twice and 8 never; a second
    // operation that does not start from the first's result
    Countdown p52;
    countdown_parse("e:3 7 8=52", &p52);
    float twice = reward_countdown("<think></think><answer>7*7=49 49+3=52</answer><eos>", &p52);
    float not_r = reward_countdown("<think></think><answer>7*8=56 55-3=52</answer><eos>", &p52);
    check(twice == 0.0f && not_r == 0.0f, "countdown reward of e:3 7 8=52: 7*7=49 49+3=52 gets %g (want 0: a digit "
          "twice), 7*8=56 55-3=52 gets %g (want 0: 55 is not 56)", twice, not_r);
    // the judgement: a countdown prompt is judged by its own rules, a sum by the sums'
    Judgement j = judge_prompt("e:3 7 8=53", cases[12].response, 40, 53);
    Judgement k = judge_prompt("e:51+76+12+85=", "<think></think><answer>224</answer><eos>", 10, 224);
    Measures jm = measure_response("e:3 7 8=53", cases[12].response);
    Measures km = measure_response("e:51+76+12+85=", "<think></think><answer>224</answer><eos>");
    check(j.correct == 1.0f && j.format == 1.0f && j.language == 1.0f && jm.reflects && jm.style == CD_SEARCH &&
          k.correct == 1.0f && km.style == STYLE_DIRECT, "judge_prompt and measure_response: the world of the "
          "prompt's form");
    Judgement mixed = judge_prompt("e:3 7 8=53", cases[13].response, 40, 53);
    check(mixed.language == 0.0f && mixed.correct == 1.0f, "countdown: Japanese-like verdict words in an English "
          "prompt's think span give language 0 (got %.2f)", mixed.language);
#undef TRY_RIGHT
#undef TRY_MISS
}

// next_token under the retry's rules: a "model" whose favourite token is </think>, then a space
static int countdown_rule_token(const char *row_text, int rule, int max_tries) {
    int row[256], len = encode(row_text, row, 256, NULL), forcing = 0;
    float logits[VOCAB_SIZE] = { 0 };
    logits[TOK_THINK_END] = 5.0f;
    logits[char_to_token(' ')] = 4.0f;
    Rng rng = rng_seed(1);
    return next_token(logits, VOCAB_SIZE, 0.0f, rule, max_tries, row, len, &forcing, &rng);
}

static void test_countdown_rules(void) {
    const char *after_no = "e:3 7 8=53<think>8+7=15 15+3=18 vs 53 no";
    const char *after_ok = "e:3 7 8=53<think>7*8=56 56-3=53 vs 53 ok";
    const char *two_no = "e:3 7 8=53<think>8+7=15 15+3=18 vs 53 no 8-7=1 1*3=3 vs 53 no";
    const char *five_no = "e:3 7 8=53<think>8+7=15 15+3=18 vs 53 no 8-7=1 1*3=3 vs 53 no 3+7=10 10*8=80 vs 53 no "
                          "8*3=24 24+7=31 vs 53 no 8*3=24 24-7=17 vs 53 no";
    const char *four_no = "e:3 7 8=53<think>8+7=15 15+3=18 vs 53 no 8-7=1 1*3=3 vs 53 no 3+7=10 10*8=80 vs 53 no "
                          "8*3=24 24+7=31 vs 53 no";
    const char *mid_try = "e:3 7 8=53<think>8+7=15 15+3=18 vs 53 no 8*7=56";
    const char *ja_no = "j:3 7 8=53<think>8+7=15 15+3=18 to 53 ie";
    int space = char_to_token(' ');
    struct { const char *row; int rule, max_tries, want; const char *what; } cases[] = {
        { after_no, CHECK_FREE, 0, TOK_THINK_END, "free: the model closes after a no" },
        { after_no, CHECK_FORCE, 0, space, "force: a no is followed by another try" },
        { ja_no, CHECK_FORCE, 0, space, "force: the same after ie" },
        { after_ok, CHECK_FORCE, 0, TOK_THINK_END, "force: an ok may close" },
        { four_no, CHECK_FORCE, 0, space, "force: a fifth try after four" },
        { five_no, CHECK_FORCE, 0, TOK_THINK_END, "force: five tries (the corpus's longest search) are its budget" },
        { two_no, CHECK_FORCE, 2, TOK_THINK_END, "force with --tries 2: closes after two" },
        { mid_try, CHECK_BAN, 0, TOK_THINK_END, "ban: the model's own choice inside a try" },
        { two_no, CHECK_FREE, 3, TOK_THINK_END, "--tries 3: the model's own choice below the budget" },
        { two_no, CHECK_FREE, 2, TOK_THINK_END, "--tries 2: closes after two verdicts" },
    };
    int n = (int)(sizeof cases / sizeof cases[0]), bad = 0;
    for (int i = 0; i < n; i++) {
        int got = countdown_rule_token(cases[i].row, cases[i].rule, cases[i].max_tries);
        if (got != cases[i].want) { bad++; fprintf(stderr, "      %s: token %d, want %d\n", cases[i].what, got, cases[i].want); }
    }
    // ban against a model that would retry: its favourite after a no is a space
    int row[256], len = encode(after_no, row, 256, NULL), forcing = 0;
    float logits[VOCAB_SIZE] = { 0 };
    logits[space] = 5.0f;
    Rng rng = rng_seed(1);
    int banned = next_token(logits, VOCAB_SIZE, 0.0f, CHECK_BAN, 0, row, len, &forcing, &rng);
    int free_choice = next_token(logits, VOCAB_SIZE, 0.0f, CHECK_FREE, 0, row, len, &forcing, &rng);
    int budget = next_token(logits, VOCAB_SIZE, 0.0f, CHECK_FREE, 1, row, len, &forcing, &rng);
    check(bad == 0 && banned == TOK_THINK_END && free_choice == space && budget == TOK_THINK_END,
          "countdown's retry rules (ban, force, --tries) on %d scripted rows: %d differ; ban closes a retrying "
          "model's think span after a no, --tries 1 after its first verdict", n + 3, bad);
}

static void child_grpo(const void *arg) { model_free(grpo_train((const GrpoOptions *)arg)); }

// the countdown world end to end: a tiny model pretrained a few steps on the world's corpus, R1-Zero for two
// steps with held-out evaluations: the log and the report carry the tries' measures; a checkpoint of the
// countdown world refused in the addition world
static void test_countdown_run(void) {
    char dir[300], corpus[400], train_path[400], test_path[400], base_dir[400], base[420], init[400];
    snprintf(dir, sizeof dir, "%s/countdown_run_data", tmp_root);
    gen_countdown_data(dir, 3, 1);
    snprintf(corpus, sizeof corpus, "%s/pretrain.txt", dir);
    snprintf(train_path, sizeof train_path, "%s/rl_train.txt", dir);
    snprintf(test_path, sizeof test_path, "%s/rl_test.txt", dir);
    snprintf(base_dir, sizeof base_dir, "%s/countdown_base", tmp_root);
    snprintf(base, sizeof base, "%s/model.bin", base_dir);
    snprintf(init, sizeof init, "%s/countdown_init.bin", tmp_root);
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = 160;  // the world's longest document is 151 tokens
    Model *m0 = model_create(&cfg, "tiny", 5);
    snprintf(m0->world, sizeof m0->world, "countdown");
    checkpoint_save(init, m0, 0, 0, 0);
    model_free(m0);
    Data d = load_corpus(corpus, cfg.context);
    TrainOptions t = { .data = corpus, .out = base_dir, .preset = "tiny", .init = init, .world = "countdown",
                       .steps = 20, .batch = 8, .warmup = 2, .seed = 2, .log_every = 1000, .lr = 1e-2f,
                       .lr_min = 1e-3f, .clip = 1.0f, .bias_gamma = 1e-3f };
    model_free(train_quietly(&t, &d));
    data_free(&d);
    GrpoOptions g = grpo_defaults();
    char out[400];
    snprintf(out, sizeof out, "%s/countdown_zero", tmp_root);
    g.world = "countdown"; g.init = base; g.out = out; g.data = train_path; g.test = test_path;
    g.steps = 2; g.prompts_per_step = 2; g.num_generations = 4; g.eval_every = 1; g.eval_prompts = 12;
    g.eval_k = 2; g.seed = 3;
    model_free(grpo_quietly(&g));
    report_grpo(&g, "countdown");
    char path[500];
    snprintf(path, sizeof path, "%s/log.csv", out);
    char *csv = read_whole(path, NULL);
    int columns = csv && strstr(csv, ",test_tries_per_response,test_retry_after_no,test_try_faithfulness,"
                                     "test_false_ok_rate,test_search_share") && strstr(csv, ",test_tries_d1");
    int rows = 0;
    for (const char *l = csv ? strchr(csv, '\n') : NULL; l && l[1]; l = strchr(l + 1, '\n')) rows++;
    snprintf(path, sizeof path, "%s/report.html", out);
    char *html = read_whole(path, NULL), err[200];
    const char *bad = html ? xml_error(html, err, sizeof err) : "no report.html";
    check(columns && rows == 3 && !bad && strstr(html, "Retries, searches and their verdicts") &&
          strstr(html, "<td>retry after no</td>") && strstr(html, "a retry the model invented"),
          "countdown: R1-Zero's log has the tries' columns (%s), %d rows (want 3), the report (%s) its chart, rows "
          "and what the run does not show", columns ? "yes" : "no", rows, bad ? bad : "well formed");
    free(csv); free(html);
    GrpoOptions wrong = g;
    wrong.world = "addition"; wrong.overwrite = 1;
    snprintf(out, sizeof out, "%s/countdown_zero_wrong", tmp_root);
    wrong.out = out;
    expect_die("a countdown checkpoint in the addition world", child_grpo, &wrong, "a checkpoint of the countdown "
               "world, not of the addition world", NULL);
}

// ---- the code world

// the interpreter on hand-written programs, their values worked out by hand (precedence: * before + and -,
// left to right; x=n is 1 at n, else 0), and texts that are not programs or overflow: 0, never a crash
static void test_code_interpreter(void) {
    struct { const char *program; int x, ok, value; } cases[] = {
        { "x*2+1", 4, 1, 9 }, { "2+3*4", 0, 1, 14 }, { "x*x-x*3+2", 5, 1, 12 }, { "10-x-3", 2, 1, 5 },
        { "x", 7, 1, 7 }, { "0-x", 5, 1, -5 }, { "x*x*x", 9, 1, 729 }, { "2*3-4*5", 1, 1, -14 },
        { "x=3*7+x*2", 3, 1, 13 }, { "x=3*7+x*2", 4, 1, 8 }, { "x=12", 12, 1, 1 }, { "x=1", 2, 1, 0 },
        { "x=1*3+x=2*5+x=4*9", 2, 1, 5 }, { "x=1*3+x=2*5+x=4*9", 3, 1, 0 }, { "999*99", 0, 1, 98901 },
        { "0", 3, 1, 0 }, { "x-9*x", 1, 1, -8 },
        // not programs
        { "", 0, 0, 0 }, { "x*", 1, 0, 0 }, { "*x", 1, 0, 0 }, { "x**2", 1, 0, 0 }, { "x+", 1, 0, 0 },
        { "2x", 1, 0, 0 }, { "x 1", 1, 0, 0 }, { "x=", 1, 0, 0 }, { "x=a", 1, 0, 0 }, { "05", 1, 0, 0 },
        { "x*02", 1, 0, 0 }, { "-x", 1, 0, 0 }, { "xx", 1, 0, 0 }, { "1000", 1, 0, 0 }, { "y+1", 1, 0, 0 },
        { "x=1=2", 1, 0, 0 }, { "x+-1", 1, 0, 0 },
        // overflow: a product or a partial sum beyond 99999
        { "999*999", 0, 0, 0 }, { "99*99*99", 0, 0, 0 }, { "999*99+999*99", 0, 0, 0 },
        { "x*999*999", 0, 1, 0 },
        { "0-999*99-999*99", 0, 0, 0 },
    };
    int n = (int)(sizeof cases / sizeof cases[0]), bad = 0;
    for (int i = 0; i < n; i++) {
        int v = -12345, ok = code_run(cases[i].program, (int)strlen(cases[i].program), cases[i].x, &v);
        if (ok != cases[i].ok || (ok && v != cases[i].value)) {
            bad++;
            fprintf(stderr, "      code_run(\"%s\", x=%d): %d value %d, want %d value %d\n", cases[i].program,
                    cases[i].x, ok, v, cases[i].ok, cases[i].value);
        }
    }
    // the length bound: a long program is refused, and the interpreter stops at its length, not at a NUL
    char longer[200];
    memset(longer, 0, sizeof longer);
    for (int i = 0; i < 30; i++) strcat(longer, "1+");
    strcat(longer, "1");
    int v = 0, too_long = code_run(longer, (int)strlen(longer), 0, &v);
    int prefix = code_run("x*2+1999", 5, 3, &v);
    check(bad == 0 && !too_long && prefix && v == 7, "code interpreter: %d of %d hand-worked programs "
          "differ; a program of %d characters refused (%d); the first 5 characters of \"x*2+1999\" run as "
          "x*2+1 (%d)", bad, n, (int)strlen(longer), !too_long, v);
    // the true functions' shortest programs, as the corpus writes them
    CodeFn f[] = { { CODE_LINEAR, 1, 0 }, { CODE_LINEAR, 2, 1 }, { CODE_MINUS, 4, 3 }, { CODE_SQUARE, 0, 0 },
                   { CODE_SQUARE, 2, 5 }, { CODE_SQUARE, 1, 0 } };
    const char *want[] = { "x", "x*2+1", "x*4-3", "x*x", "x*x+x*2+5", "x*x+x" };
    int bad_text = 0;
    for (int i = 0; i < 6; i++) {
        char text[32];
        code_fn_program(&f[i], text);
        bad_text += strcmp(text, want[i]) != 0;
    }
    CodeFn back;
    int read_back = code_fn_of(121, &back) && back.kind == CODE_LINEAR && back.a == 2 && back.b == 1;
    int refused = !code_fn_of(100, &back) && !code_fn_of(410, &back) && !code_fn_of(-121, &back) &&
                  !code_fn_of(240, &back);
    check(bad_text == 0 && read_back && refused, "code functions: %d of 6 shortest programs differ; the "
          "answer column 121 is x*2+1, 100, 410, -121 and 240 (x*4-0) are no function", bad_text);
}

typedef struct {
    const char *response;
    int shown, hidden, tries, verdicts, oks, nos, retries, faithful, false_oks, style;
} CodeCase;

static void test_code_rewards(void) {
    CodeTask t;
    int read = code_parse("e:1=3 2=5 4=9", &t) && t.in[0] == 1 && t.out[2] == 9 && t.lang == LANG_EN &&
               code_parse("j:0=-3 1=-1 4=5", &t) && t.out[0] == -3 && t.lang == LANG_JA;
    const char *malformed[] = { "e:1=3 2=5", "e:2=3 1=5 4=9", "e:1=3 1=5 4=9", "e:1=3 2=5 4=9 ", "e:3 7 8=53",
                                "e:51+76=", "e:1=03 2=5 4=9", "e:10=3 2=5 4=9" };
    int rejected = 0;
    for (int i = 0; i < 8; i++) rejected += !code_parse(malformed[i], &t);
    check(read && rejected == 8, "code_parse: 2 prompts read back, %d of 8 malformed ones rejected", rejected);
    code_parse("e:1=3 2=5 4=9", &t);
    CodeFn f = { CODE_LINEAR, 2, 1 };  // x*2+1: hidden tests at 0 3 5 6 7 8 9
#define TABLE "x=1*3+x=2*5+x=4*9"
    // x*x*x-x*x*7+x*16-7 = x*2+1 + (x-1)(x-2)(x-4): meets 1, 2 and 4, is -7 at 0
#define CUBIC "x*x*x-x*x*7+x*16-7"
    const CodeCase cases[] = {
        { "<think></think><answer>x*2+1</answer><eos>", 1, 1, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        { "<think></think><answer>x+x+1</answer><eos>", 1, 1, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        { "<think></think><answer>" TABLE "</answer><eos>", 1, 0, 0, 0, 0, 0, 0, 0, 0, CODE_TABLE },
        { "<think></think><answer>x=1*3+x=2*5+x=4*8</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, 0, CODE_TABLE },
        { "<think></think><answer>" CUBIC "</answer><eos>", 1, 0, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        { "<think></think><answer>x*2</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        // malformed, extra text, empty, never closed, overflowing
        { "<think></think><answer>x*</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        { "<think></think><answer>x*2+1 </answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        { "<think></think><answer></answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        { "<think></think><answer>x*2+1", 0, 0, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        { "<think></think><answer>x*999*999+1</answer><eos>", 0, 0, 0, 0, 0, 0, 0, 0, 0, CODE_DIRECT },
        { "<think>x*2 1=2 no x*2+1 1=3 2=5 4=9 ok</think><answer>x*2+1</answer><eos>", 1, 1, 2, 2, 1, 1, 1, 2, 0,
          CODE_SEARCH },
        { "<think>x*2 1=2 ie x*2+1 1=3 2=5 4=9 ii</think><answer>x*2+1</answer><eos>", 1, 1, 2, 2, 1, 1, 1, 2, 0,
          CODE_SEARCH },
        { "<think>x*3</think><answer>x*3</answer><eos>", 0, 0, 1, 0, 0, 0, 0, 0, 0, CODE_ONE_TRY },
        { "<think>x*3 1=3 2=6 no</think><answer>x*3</answer><eos>", 0, 0, 1, 1, 0, 1, 0, 1, 0, CODE_TRY_NO },
        // a false ok: x*3 misses 2=5
        { "<think>x*3 1=3 2=6 4=12 ok</think><answer>x*3</answer><eos>", 0, 0, 1, 1, 1, 0, 0, 0, 1, CODE_SEARCH },
        // a wrong run (x*2 is 2 at 1, not 3): unfaithful, though "no" is the right call
        { "<think>x*2 1=3 no x*2+1 1=3 2=5 4=9 ok</think><answer>x*2+1</answer><eos>", 1, 1, 2, 2, 1, 1, 1, 1, 0,
          CODE_SEARCH },
        // a false no on the right program: unfaithful; the answer is still right
        { "<think>x*2+1 1=3 2=5 4=9 no</think><answer>x*2+1</answer><eos>", 1, 1, 1, 1, 0, 1, 0, 0, 0, CODE_TRY_NO },
        // runs out of order: unfaithful
        { "<think>x*2+1 2=5 1=3 4=9 ok</think><answer>x*2+1</answer><eos>", 1, 1, 1, 1, 1, 0, 0, 0, 0, CODE_SEARCH },
        // an ok after two runs of three: unfaithful
        { "<think>x*2+1 1=3 2=5 ok</think><answer>x*2+1</answer><eos>", 1, 1, 1, 1, 1, 0, 0, 0, 0, CODE_SEARCH },
        // two no's, then the table: the corpus's table style
        { "<think>x*2 1=2 no x*3 1=3 2=6 no</think><answer>" TABLE "</answer><eos>", 1, 0, 2, 2, 0, 2, 1, 2, 0,
          CODE_TABLE },
        // the table run and ok'd: the verdict is true on the shown examples, which is all it can see
        { "<think>" TABLE " 1=3 2=5 4=9 ok</think><answer>" TABLE "</answer><eos>", 1, 0, 1, 1, 1, 0, 0, 1, 0,
          CODE_TABLE },
        // two candidates without verdicts
        { "<think>x*3 x*2+1</think><answer>x*2+1</answer><eos>", 1, 1, 2, 0, 0, 0, 0, 0, 0, CODE_OTHER },
    };
    int n = (int)(sizeof cases / sizeof cases[0]), bad = 0;
    for (int i = 0; i < n; i++) {
        const CodeCase *c = &cases[i];
        TryAudit a = audit_code(&t, c->response);
        int both = (int)reward_code(c->response, &t, &f, CODE_TESTS_BOTH);
        int got[12] = { (int)reward_code(c->response, &t, &f, CODE_TESTS_SHOWN),
                        (int)reward_code(c->response, &t, &f, CODE_TESTS_HIDDEN), both, a.tries, a.verdicts, a.oks,
                        a.nos, a.retries, a.faithful, a.false_oks, code_style(c->response, &a) };
        int want[12] = { c->shown, c->hidden, c->shown && c->hidden, c->tries, c->verdicts, c->oks, c->nos,
                         c->retries, c->faithful, c->false_oks, c->style };
        if (memcmp(got, want, sizeof got) != 0) {
            bad++;
            fprintf(stderr, "      %s: shown, hidden, both, tries, verdicts, oks, nos, retries, faithful, false oks, "
                    "style", c->response);
            for (int k = 0; k < 11; k++) fprintf(stderr, " %d/%d", got[k], want[k]);
            fprintf(stderr, "\n");
        }
    }
    check(bad == 0, "code rewards (shown, hidden, both), audit of candidates and style: %d of %d hand-counted "
          "responses differ", bad, n);
    // the judgement and the RL reward of each --code-reward: the table earns the shown reward only
    Judgement table = judge_prompt("e:1=3 2=5 4=9", cases[2].response, 20, 121);
    Judgement right = judge_prompt("e:1=3 2=5 4=9", cases[0].response, 20, 121);
    Judgement unknown = judge_prompt("e:1=3 2=5 4=9", cases[0].response, 20, 999);
    Judgement search = judge_prompt("e:1=3 2=5 4=9", cases[11].response, 40, 121);
    Measures table_m = measure_response("e:1=3 2=5 4=9", cases[2].response);
    Measures right_m = measure_response("e:1=3 2=5 4=9", cases[0].response);
    Measures same_m = measure_response("e:1=3 2=5 4=9", cases[1].response);
    Measures search_m = measure_response("e:1=3 2=5 4=9", cases[11].response);
    RewardSet use = { .accuracy = 1, .format = 1, .format_weight = 0.1f };
    float r[N_CODE_TESTS];
    Rng rng = rng_seed(1);
    for (int k = 0; k < N_CODE_TESTS; k++) { use.code_tests = k; r[k] = grpo_reward(&table, &use, &rng); }
    check(fabsf(r[CODE_TESTS_SHOWN] - 1.1f) < 1e-6f && fabsf(r[CODE_TESTS_HIDDEN] - 0.1f) < 1e-6f &&
          fabsf(r[CODE_TESTS_BOTH] - 0.1f) < 1e-6f && table.shown == 1.0f && table.hidden == 0.0f &&
          table.correct == 0.0f && table_m.style == CODE_TABLE && right.correct == 1.0f &&
          search.language == 1.0f && search_m.reflects &&
          same_m.answer == right_m.answer && same_m.has_answer && table_m.answer != right_m.answer &&
          unknown.shown == 1.0f && unknown.hidden == 0.0f && unknown.correct == 0.0f,
          "code judgement: a table's reward %.1f (shown) %.1f (hidden) %.1f (both), want 1.1 0.1 0.1; x+x+1 and "
          "x*2+1 vote as one answer; the variable x is no word of a language; a true function the file does not "
          "give (999) passes no hidden test", r[0], r[1], r[2]);
#undef TABLE
#undef CUBIC
}

// an independent evaluator of the grammar for the generator's test: split at + and -, then at *
static int indep_eval(const char *s, int len, int x, int *value) {
    int sum = 0, sign = 1, i = 0;
    while (i < len) {
        int product = 1;
        for (;;) {
            int f = 0, digits = 0;
            if (s[i] == 'x' && i + 1 < len && s[i + 1] == '=') {
                i += 2;
                while (i < len && isdigit((unsigned char)s[i])) { f = f * 10 + s[i++] - '0'; digits++; }
                if (!digits) return 0;
                f = f == x;
            } else if (s[i] == 'x') {
                f = x; i++;
            } else {
                while (i < len && isdigit((unsigned char)s[i])) { f = f * 10 + s[i++] - '0'; digits++; }
                if (!digits) return 0;
            }
            product *= f;
            if (i < len && s[i] == '*') { i++; continue; }
            break;
        }
        sum += sign * product;
        if (i < len) { sign = s[i] == '-' ? -1 : 1; i++; }
    }
    *value = sum;
    return 1;
}

// a prompt line "L:a=b c=d e=f": its inputs and outputs; 0 if it is not one
static int indep_prompt(const char *line, int *in, int *out, int *end) {
    char lang;
    return sscanf(line, "%c:%d=%d %d=%d %d=%d%n", &lang, &in[0], &out[0], &in[1], &out[1], &in[2], &out[2],
                  end) == 7;
}

// the prompt files: each line's true function (its answer column, decoded here from kind*100 + a*10 + b
// by the definitions of the families) meets its three examples; the inputs distinct and increasing in 0-9;
// the difficulty the kind; the test prompts cycle through the kinds. keys: the RL and test prompts' examples
static void check_code_prompt_files(const char *dir, char (*keys)[32], int *n_keys) {
    const char *files[2] = { "rl_train.txt", "rl_test.txt" };
    int lines = 0, bad = 0, bad_cycle = 0;
    for (int file = 0; file < 2; file++) {
        char path[400], line[128];
        snprintf(path, sizeof path, "%s/%s", dir, files[file]);
        FILE *fp = fopen(path, "r");
        for (int i = 0; fp && fgets(line, sizeof line, fp); i++) {
            int in[3], out[3], end, id, diff;
            if (!indep_prompt(line, in, out, &end) || sscanf(line + end, "\t%d\t%d", &id, &diff) != 2) {
                bad++;
                continue;
            }
            int kind = id / 100, a = id / 10 % 10, b = id % 10;
            int ok = in[0] >= 0 && in[0] < in[1] && in[1] < in[2] && in[2] <= 9;
            ok &= (kind == 1 && a >= 1) || (kind == 2 && a >= 2 && b >= 1) || (kind == 3 && a <= 3);
            for (int k = 0; k < 3; k++) {
                int x = in[k], y = kind == 1 ? a * x + b : kind == 2 ? a * x - b : x * x + a * x + b;
                ok &= y == out[k];
            }
            bad += !ok || diff != kind;
            if (file == 1) bad_cycle += diff != 1 + i % 3;
            snprintf(keys[(*n_keys)++], 32, "%.*s", end - 2, line + 2);
            lines++;
        }
        if (fp) fclose(fp);
    }
    check(lines == GEN_RL_TRAIN + 3 * GEN_RL_TEST_PER_DIFF && bad == 0 && bad_cycle == 0,
          "code gen: %d RL and test prompts, %d whose true function (re-derived from the answer column) misses "
          "an example, or inputs not increasing in 0-9, or difficulty not its kind; %d test prompts out of the "
          "kinds' cycle", lines, bad, bad_cycle);
}

static int cmp_key(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

// one corpus document's think span and answer, re-derived: every run the candidate's value (indep_eval) at
// the next shown input, a run stopping at its first miss, every verdict the comparison; the answer the last
// candidate, or (no candidate) one that meets the examples, or a table: the examples and 0 elsewhere
static int check_code_document(const char *s, const int *in, const int *out, int *is_direct, int *is_table) {
    const char *think_end = strstr(s, "</think>"), *answer = strstr(s, "<answer>"), *cand = NULL;
    if (!think_end || !answer) return 0;
    answer += 8;
    int alen = (int)(strstr(answer, "</answer>") - answer), clen = 0, runs = 0, met = 0, v;
    *is_direct = s == think_end;
    *is_table = strstr(answer, "x=") != NULL && strstr(answer, "x=") < answer + alen;
    while (s < think_end) {
        int len = (int)strcspn(s, " <");
        if (cand && len >= 3 && isdigit((unsigned char)s[0]) && s[1] == '=') {
            if (runs >= 3 || s[0] - '0' != in[runs] || !indep_eval(cand, clen, in[runs], &v) || v != atoi(s + 2))
                return 0;
            met += v == out[runs];
            runs++;
            int no_next = strncmp(s + len, " no", 3) == 0 || strncmp(s + len, " ie", 3) == 0;
            if (v != out[runs - 1] && !no_next) return 0;  // a run stops at its first miss
        } else if (len == 2 && (!strncmp(s, "ok", 2) || !strncmp(s, "ii", 2) || !strncmp(s, "no", 2) ||
                                !strncmp(s, "ie", 2))) {
            int ok = !strncmp(s, "ok", 2) || !strncmp(s, "ii", 2);
            if (!cand || ok != (met == 3)) return 0;
        } else {
            cand = s; clen = len; runs = met = 0;
        }
        s += len + (s[len] == ' ');
    }
    if (*is_table) {
        for (int x = 0; x < 10; x++) {
            int want = 0;
            for (int k = 0; k < 3; k++) if (in[k] == x) want = out[k];
            if (!indep_eval(answer, alen, x, &v) || v != want) return 0;
        }
        return 1;
    }
    if (cand) return clen == alen && strncmp(cand, answer, alen) == 0;
    for (int k = 0; k < 3; k++) if (!indep_eval(answer, alen, in[k], &v) || v != out[k]) return 0;
    return 1;
}

static void test_code_generator(void) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/code_data", tmp_root);
    gen_code_data(dir, 7);
    static char keys[GEN_RL_TRAIN + 3 * GEN_RL_TEST_PER_DIFF][32];
    int n_keys = 0;
    check_code_prompt_files(dir, keys, &n_keys);
    qsort(keys, n_keys, sizeof keys[0], cmp_key);
    char path[400], line[512];
    snprintf(path, sizeof path, "%s/pretrain.txt", dir);
    FILE *fp = fopen(path, "r");
    int docs = 0, bad = 0, leaked = 0, too_long = 0, direct = 0, tables = 0, ids[512];
    while (fp && fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        int in[3], out[3], end, is_direct = 0, is_table = 0;
        docs++;
        if (!indep_prompt(line, in, out, &end) || strncmp(line + end, "<think>", 7) != 0) { bad++; continue; }
        char key[32];
        snprintf(key, sizeof key, "%.*s", end - 2, line + 2);
        leaked += bsearch(key, keys, n_keys, sizeof keys[0], cmp_key) != NULL;
        bad += !check_code_document(line + end + 7, in, out, &is_direct, &is_table);
        direct += is_direct && !is_table;
        tables += is_table;
        int n = encode(line, ids, 512, NULL);
        too_long += n < 0 || n > PRESETS[0].cfg.context;
    }
    if (fp) fclose(fp);
    check(docs == GEN_PRETRAIN && bad == 0 && leaked == 0 && too_long == 0, "code corpus: %d documents; %d whose "
          "runs, verdicts or answer a re-derivation contradicts, %d problems of the RL or test prompts, %d longer "
          "than the context", docs, bad, leaked, too_long);
    // the shares: direct 0.40, table 0.07, binomial 3-sigma bands
    float fd = (float)direct / docs, ft = (float)tables / docs;
    check(fabsf(fd - 0.40f) < 0.006f && fabsf(ft - 0.07f) < 0.0035f, "code corpus: direct share %.3f (want 0.40), "
          "table share %.3f (want 0.07)", fd, ft);
}

// next_token's retry rules on code rows: a verdict of a candidate's run is a countdown verdict
static void test_code_rules(void) {
    const char *after_no = "e:1=3 2=5 4=9<think>x*2 1=2 no";
    const char *mid_run = "e:1=3 2=5 4=9<think>x*2 1=2 no x*2+1 1=3";
    const char *four_no = "e:1=3 2=5 4=9<think>x*2 1=2 no x*3 1=3 2=6 no x+1 1=2 no x*4 1=4 no";
    const char *five_no = "e:1=3 2=5 4=9<think>x*2 1=2 no x*3 1=3 2=6 no x+1 1=2 no x*4 1=4 no x*5 1=5 no";
    int space = char_to_token(' ');
    struct { const char *row; int rule, max_tries, want; const char *what; } cases[] = {
        { after_no, CHECK_FREE, 0, TOK_THINK_END, "free: the model closes after a no" },
        { after_no, CHECK_FORCE, 0, space, "force: a no is followed by another candidate" },
        { mid_run, CHECK_FORCE, 0, TOK_THINK_END, "force: the model's own choice inside a run" },
        { four_no, CHECK_FORCE, 0, space, "force: a fifth candidate after four" },
        { five_no, CHECK_FORCE, 0, TOK_THINK_END, "force: five candidates are its budget" },
        { after_no, CHECK_FREE, 1, TOK_THINK_END, "--tries 1: closes after one verdict" },
    };
    int n = (int)(sizeof cases / sizeof cases[0]), bad = 0;
    for (int i = 0; i < n; i++) {
        int got = countdown_rule_token(cases[i].row, cases[i].rule, cases[i].max_tries);
        if (got == cases[i].want) continue;
        bad++;
        fprintf(stderr, "      %s: token %d, want %d\n", cases[i].what, got, cases[i].want);
    }
    int row[256], len = encode(after_no, row, 256, NULL), forcing = 0;
    float logits[VOCAB_SIZE] = { 0 };
    logits[space] = 5.0f;
    Rng rng = rng_seed(1);
    int banned = next_token(logits, VOCAB_SIZE, 0.0f, CHECK_BAN, 0, row, len, &forcing, &rng);
    check(bad == 0 && banned == TOK_THINK_END, "code world's retry rules (ban, force, --tries) on %d scripted rows: "
          "%d differ; ban closes a retrying model's think span after a no", n + 1, bad);
}

// a short end-to-end run of the code world: a tiny model, 3 RL steps on gen --world code's prompts with the
// reward on the shown examples; the log carries the shown and hidden pass rates, the report charts them
static void test_code_run(void) {
    char data[300], dir[300], init[300], path[400], train[400], test[400], err[200];
    snprintf(data, sizeof data, "%s/code_run_data", tmp_root);
    snprintf(dir, sizeof dir, "%s/code_run", tmp_root);
    snprintf(init, sizeof init, "%s/code_run_init.bin", tmp_root);
    gen_code_data(data, 3);
    snprintf(train, sizeof train, "%s/rl_train.txt", data);
    snprintf(test, sizeof test, "%s/rl_test.txt", data);
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = 64;
    Model *m0 = model_create(&cfg, "tiny", 5);
    snprintf(m0->world, sizeof m0->world, "code");
    checkpoint_save(init, m0, 0, 0, 0);
    model_free(m0);
    GrpoOptions g = grpo_defaults();
    g.world = "code"; g.code_reward = "shown"; g.init = init; g.out = dir; g.data = train; g.test = test;
    g.steps = 3; g.prompts_per_step = 2; g.num_generations = 4; g.eval_every = 3; g.eval_prompts = 6;
    g.eval_k = 2;
    model_free(grpo_quietly(&g));
    report_grpo(&g, "test");
    snprintf(path, sizeof path, "%s/log.csv", dir);
    char *csv = read_whole(path, NULL);
    const char *cols[] = { "test_shown_pass1", "test_hidden_pass1", "test_table_share", "test_tries_d1",
                           "test_tries_d3", "test_retry_after_no" };
    int found = 0;
    for (int c = 0; c < 6; c++) found += csv && strstr(csv, cols[c]) != NULL;
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = read_whole(path, NULL);
    const char *bad = html ? xml_error(html, err, sizeof err) : "no report.html";
    int charted = html && strstr(html, "Shown examples and hidden tests") && strstr(html, "hidden tests pass@1") &&
                  strstr(html, "--code-reward");
    check(found == 6 && !bad && charted, "code run: 3 RL steps of a tiny model on the code world's prompts; the log "
          "has %d of its 6 code and tries columns, the report is well formed (%s) and charts shown against hidden "
          "tests (%d)", found, bad ? bad : "ok", charted);
    free(csv); free(html);
}

// ----------------------------------------------------------------------------
// the roads R1 did not take: the process reward model (r1.c section 23)

// the PRM's step labels on hand-written responses to e:51+76+12+85= (units 1+6+2+5 = 14, carry 1, tens
// 5+7+1+8+1 = 22, answer 224; the checks: 07 07 14 and 12 09 21 22, worked out by hand)
static void test_prm_labels(void) {
    Problem p;
    problem_parse("e:51+76+12+85=", &p);
    const struct { const char *response, *kinds, *labels; int first_end; } cases[] = {
        // every step right; the first column "01+06+02+05=14" ends at offset 7 + 13
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14 check 12 09 21 22 okay 22"
          "</think><answer>224</answer><eos>", "CCKKA", "11111", 20 },
        // a slip caught: the units column written 15 is wrong, its check "wait 14" right
        { "<think>01+06+02+05=15 carry 1 05+07+01+08+01=22 check 07 07 14 wait 14 check 12 09 21 22 okay 22"
          "</think><answer>224</answer><eos>", "CCKKA", "01111", 20 },
        // a check with a wrong pair sum (08) is not faithful; the wrong answer 225
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 08 15 okay 15</think><answer>225</answer>"
          "<eos>", "CCKA", "1100", 20 },
        // a miscopied digit (03 for 02) makes the units column wrong though its sum is the true one; the
        // tens column adds a carry 02, not the true 01
        { "<think>01+06+03+04=14 carry 1 05+07+01+08+02=23</think><answer>234</answer><eos>", "CCA", "000", 20 },
        // a direct answer: one step, its end the "<" of "</answer>" at 15 + 8 + 3
        { "<think></think><answer>224</answer><eos>", "A", "1", 26 },
        // cut off before the answer: one column, no answer step
        { "<think>01+06+02+05=14 carry", "C", "1", 20 },
    };
    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        PrmSteps s;
        prm_steps(&p, cases[c].response, &s);
        char kinds[16] = "", labels[16] = "";
        for (int k = 0; k < s.n && k < 15; k++) {
            kinds[k] = "CKA"[s.kind[k]];
            labels[k] = s.label[k] > 0.5f ? '1' : '0';
            kinds[k + 1] = labels[k + 1] = 0;
        }
        check(strcmp(kinds, cases[c].kinds) == 0 && strcmp(labels, cases[c].labels) == 0 && s.n > 0 &&
              s.end[0] == cases[c].first_end, "prm steps of case %d: kinds %s labels %s first end %d (want %s %s "
              "%d)", c, kinds, labels, s.n ? s.end[0] : -1, cases[c].kinds, cases[c].labels, cases[c].first_end);
    }
    // the fold: the minimum over the steps, 0 without an answer step
    PrmSteps s = { .n = 3, .kind = { PRM_COLUMN, PRM_CHECK, PRM_ANSWER } };
    float score[3] = { 0.9f, 0.2f, 0.7f };
    float with = prm_fold(&s, score);
    s.kind[2] = PRM_CHECK;
    float without = prm_fold(&s, score);
    check(with == 0.2f && without == 0.0f, "prm fold: min over steps %.2f (want 0.20), without an answer %.2f "
          "(want 0)", with, without);
}

// the head's loss and gradient: finite differences; and a head with W1 = 0 by hand: p = sigmoid(b2)
static float prm_fd_params[4 * 5 + 2 * 4 + 1], prm_fd_x[6 * 5], prm_fd_y[6];
static double prm_fd_loss(void) {
    return prm_head(prm_fd_params, NULL, prm_fd_x, prm_fd_y, NULL, 6, 5, 4);
}
static void test_prm_head(void) {
    size_t n = prm_head_size(5, 4);
    fill_normal(prm_fd_params, n, 0.0f, 0.7f, &g_rng);
    fill_normal(prm_fd_x, 30, 0.0f, 1.0f, &g_rng);
    for (int i = 0; i < 6; i++) prm_fd_y[i] = (float)(i % 2);
    float grad[sizeof prm_fd_params / sizeof(float)] = {0};
    prm_head(prm_fd_params, grad, prm_fd_x, prm_fd_y, NULL, 6, 5, 4);
    fd_report("prm head (BCE)", fd_compare(prm_fd_params, grad, n, n, prm_fd_loss, 1e-3f, &g_rng));
    // W1 = 0, b1 = 0: z = 0, the logit is b2 = 0.5; p = 1 / (1 + e^-0.5) = 0.622459;
    // loss of y = 1: log(1 + e^-0.5) = 0.474077, of y = 0: log(1 + e^0.5) = 0.974077
    float params[sizeof prm_fd_params / sizeof(float)] = {0}, p[2], y[2] = { 1.0f, 0.0f };
    params[n - 1] = 0.5f;
    float loss = prm_head(params, NULL, prm_fd_x, y, p, 2, 5, 4);
    check(fabsf(p[0] - 0.622459f) < 1e-5f && fabsf(loss - (0.474077f + 0.974077f) / 2) < 1e-5f,
          "prm head by hand: p %.6f (want 0.622459), loss %.6f (want 0.724077)", p[0], loss);
}

static void child_prm_load(const void *path) { prm_load(path); }

// prm end to end: a tiny addition model, r1 prm on its samples (and again, --also), the PRM file read back,
// a tiny base of the sums for the roads not taken: 20 pretraining steps of the tiny preset at a context of
// 160 (TMP/NAME_init.bin, then TMP/NAME_base/model.bin, its path in base)
static void roads_base(const char *name, char *base, size_t cap) {
    char init[400], base_dir[400];
    snprintf(init, sizeof init, "%s/%s_init.bin", tmp_root, name);
    snprintf(base_dir, sizeof base_dir, "%s/%s_base", tmp_root, name);
    snprintf(base, cap, "%s/model.bin", base_dir);
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = 160;
    Model *m0 = model_create(&cfg, "tiny", 5);
    checkpoint_save(init, m0, 0, 0, 0);
    model_free(m0);
    Data d = load_corpus("tiny_data/pretrain.txt", cfg.context);
    TrainOptions t = { .data = "tiny_data/pretrain.txt", .out = base_dir, .preset = "tiny", .init = init,
                       .world = "addition", .steps = 20, .batch = 8, .warmup = 2, .seed = 2, .log_every = 1000,
                       .lr = 1e-2f, .lr_min = 1e-3f, .clip = 1.0f, .bias_gamma = 1e-3f };
    model_free(train_quietly(&t, &d));
    data_free(&d);
}

// the PRM's reward through grpo_iteration's hook with a scripted head (every step 0.75: responses with an
// answer get 0.75), and two steps of zero --rewards prm,format
static void test_prm_run(void) {
    char base[420], out[400], zero[400], path[500];
    roads_base("prm", base, sizeof base);
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = 160;
    snprintf(out, sizeof out, "%s/prm", tmp_root);
    snprintf(zero, sizeof zero, "%s/prm_zero", tmp_root);
    char *argv[] = { "--init", base, "--out", out, "--prompts", "12", "--test-prompts", "6", "--k", "2",
                     "--epochs", "20", "--hidden", "8", "--also", base };
    fflush(stdout);
    int saved = dup(1), dn = open("/dev/null", O_WRONLY);
    if (dn >= 0) { dup2(dn, 1); close(dn); }
    cmd_prm((int)(sizeof argv / sizeof argv[0]), argv);
    fflush(stdout);
    if (saved >= 0) { dup2(saved, 1); close(saved); }
    snprintf(path, sizeof path, "%s/prm.bin", out);
    Prm *prm = prm_load(path);
    check(prm->H == 8 && prm->C == cfg.d_model && strcmp(prm->trunk_path, base) == 0,
          "r1 prm writes a PRM that reads back: %d hidden units (want 8), width %d, trunk %s", prm->H, prm->C,
          prm->trunk_path);
    // the scripted head
    memset(prm->params, 0, prm->n_params * sizeof(float));
    prm->params[prm->n_params - 1] = logf(3.0f);  // sigmoid(log 3) = 0.75
    Data test = load_prompts("tiny_data/rl_test.txt", cfg.context);
    Rng rng = rng_seed(7);
    Rollouts r = rollouts_alloc(8, cfg.context);
    for (int i = 0; i < 8; i++) {
        r.prompt[i] = i;
        r.prompt_len[i] = test.len[i];
        memcpy(r.seqs + (size_t)i * r.max_len, test.ids[i], test.len[i] * sizeof(int));
    }
    sample_responses(prm->trunk, &r, 0, 8, 1.0f, rng_u32(&rng));
    // half of them given a hand-written answer, so both cases occur
    const char *direct = "<think></think><answer>100</answer><eos>";
    int direct_ids[64], nd = encode(direct, direct_ids, 64, NULL);
    for (int i = 0; i < 8; i += 2) {
        memcpy(r.seqs + (size_t)i * r.max_len + r.prompt_len[i], direct_ids, nd * sizeof(int));
        r.seq_len[i] = r.prompt_len[i] + nd;
    }
    float reward[8] = {0};
    prm_rewards(prm, &r, reward);
    int bad = 0, answered = 0;
    char *text = mallocCheck((size_t)r.max_len * 10 + 16);
    for (int i = 0; i < 8; i++) {
        rollout_text(&r, i, text);
        const char *a = strstr(text, "<answer>");
        int has = a && strstr(a, "</answer>");
        answered += has;
        bad += fabsf(reward[i] - (has ? 0.75f : 0.0f)) > 1e-6f;
    }
    check(bad == 0 && answered >= 4, "prm reward with a scripted head (every step 0.75): %d of 8 rollouts wrong "
          "(want 0; %d with an answer get 0.75, the rest 0)", bad, answered);
    free(text);
    rollouts_free(&r);
    data_free(&test);
    prm_free(prm);
    // a file that is not a PRM, and one cut short: one line each
    const char *not_prm = tmp_path("not_prm.bin"), *cut = tmp_path("cut_prm.bin");
    write_whole(not_prm, "hello", 5);
    char *whole = read_whole(path, NULL);
    write_whole(cut, whole, 12 + 512 + 8);
    free(whole);
    expect_die("prm_load of a file that is not a PRM", child_prm_load, not_prm, "not a process reward model", NULL);
    expect_die("prm_load of a PRM cut short", child_prm_load, cut, "truncated", NULL);
    GrpoOptions g = grpo_defaults();
    g.init = base; g.out = zero; g.data = "tiny_data/rl_train.txt"; g.test = "tiny_data/rl_test.txt";
    g.rewards = "prm,format"; g.prm = path; g.steps = 2; g.prompts_per_step = 2; g.num_generations = 4;
    g.eval_every = 1; g.eval_prompts = 6; g.eval_k = 2; g.seed = 3;
    model_free(grpo_quietly(&g));
    int rows;
    double reward_mean = log_mean(zero, "reward", 0, 2, &rows);
    check(rows == 3 && reward_mean >= 0.0 && reward_mean <= 1.1, "zero --rewards prm,format: %d log rows (want 3), "
          "mean reward %.3f (want in [0, 1.1])", rows, reward_mean);
}

// MCTS's selection, backup and answer on hand-built trees. PUCT with P = 1/3 over three children of a
// root visited 4 times (sqrt 2): child 1 N 2 W 1.0 (Q 0.5), child 2 N 1 W 0.9 (Q 0.9), child 3 unvisited
// (Q 0). Score = Q + c * (1/3) * 2 / (1 + N), by hand:
//   c 0:   0.5, 0.9, 0                      -> child 2 (W in place of Q would pick child 1)
//   c 2.5: 1.056, 1.733, 1.667              -> child 2 (N_parent in place of its root, or P = 1: child 3)
//   c 4:   1.389, 2.233, 2.667              -> child 3
static void test_mcts_tree(void) {
    MctsNode node[6] = {
        { .parent = -1, .first_child = 1, .n_children = 3, .visits = 4, .value_sum = 1.9f },
        { .parent = 0, .first_child = 4, .n_children = 2, .visits = 2, .value_sum = 1.0f },
        { .parent = 0, .visits = 1, .value_sum = 0.9f },
        { .parent = 0 },
        { .parent = 1, .visits = 1, .value_sum = 0.2f },
        { .parent = 1, .visits = 1, .value_sum = 0.8f },
    };
    const struct { float c; int want; } cases[] = { { 0.0f, 2 }, { 2.5f, 2 }, { 4.0f, 3 } };
    for (int i = 0; i < 3; i++) {
        int got = mcts_select(node, 0, cases[i].c);
        check(got == cases[i].want, "mcts: PUCT at c_puct %.1f picks child %d (want %d)", cases[i].c, got,
              cases[i].want);
    }
    // below child 1 (N 2, sqrt 1.414): children Q 0.2 and 0.8, both N 1: the second at any c_puct
    check(mcts_select(node, 1, 1.0f) == 5, "mcts: PUCT below child 1 picks %d (want 5)", mcts_select(node, 1, 1.0f));
    // a tie (a fresh root: every score 0) goes to the first child
    MctsNode fresh[3] = { { .parent = -1, .first_child = 1, .n_children = 2 }, { .parent = 0 }, { .parent = 0 } };
    check(mcts_select(fresh, 0, 1.0f) == 1, "mcts: PUCT on a tie picks %d (want the first, 1)",
          mcts_select(fresh, 0, 1.0f));
    // backup: 0.7 from node 5 reaches 5, 1, 0 (N +1, W +0.7), not 2; then 1.0 from node 3 reaches 3 and 0
    mcts_backup(node, 5, 0.7f);
    mcts_backup(node, 3, 1.0f);
    check(node[5].visits == 2 && fabsf(node[5].value_sum - 1.5f) < 1e-6f && node[1].visits == 3 &&
          fabsf(node[1].value_sum - 1.7f) < 1e-6f && node[0].visits == 6 && fabsf(node[0].value_sum - 3.6f) < 1e-6f &&
          node[3].visits == 1 && fabsf(node[3].value_sum - 1.0f) < 1e-6f && node[2].visits == 1 &&
          node[4].visits == 1, "mcts: backup: root N %d W %.2f (want 6, 3.60), node 1 N %d W %.2f (want 3, 1.70), "
          "node 5 N %d W %.2f (want 2, 1.50), node 3 N %d W %.2f (want 1, 1.00), nodes 2 and 4 N %d %d (want 1 1)",
          node[0].visits, node[0].value_sum, node[1].visits, node[1].value_sum, node[5].visits, node[5].value_sum,
          node[3].visits, node[3].value_sum, node[2].visits, node[4].visits);
    // the search's answer: the right terminal visited most (node 2: 5 visits), not the wrong one visited 9
    MctsNode leaves[5] = { { .parent = -1 }, { .terminal = 1, .reward = 1, .visits = 2 },
                           { .terminal = 1, .reward = 1, .visits = 5 }, { .terminal = 1, .visits = 9 },
                           { .visits = 12 } };
    MctsTree t = { .node = leaves, .n = 5 };
    int best = mcts_best(&t);
    leaves[1].reward = leaves[2].reward = 0;
    int none = mcts_best(&t);
    check(best == 2 && none == -1, "mcts: the answer is node %d (want 2), without a right one %d (want -1)", best,
          none);
}

// where expansion cuts a sampled row, on hand-written responses to e:51+76+12+85= (node: the response the
// node holds; row: the node and what was sampled after it; want: the child's response)
static void test_mcts_cut(void) {
    const char *prompt = "e:51+76+12+85=";
    const struct { const char *node, *row, *want; } cases[] = {
        // from the root: the first column, whole (a space follows it)
        { "", "<think>01+06+02+05=14 carry 1 05+07+01", "<think>01+06+02+05=14" },
        // past a column: the carry word and the next column
        { "<think>01+06+02+05=14", "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07",
          "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22" },
        // a check up to the number after its verdict
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22",
          "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14 check 1",
          "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22 check 07 07 14 okay 14" },
        // a direct answer and its <eos>
        { "", "<think></think><answer>224</answer><eos>", "<think></think><answer>224</answer><eos>" },
        // the row stops inside a column (the budget): the whole row, not a step
        { "<think>01+06+02+05=14", "<think>01+06+02+05=14 carry 1 05+07+01+08+01=2",
          "<think>01+06+02+05=14 carry 1 05+07+01+08+01=2" },
        // the answer is whole even as the row's last token
        { "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22",
          "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer>",
          "<think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think><answer>224</answer>" },
        // an unfinished check ended by <eos>: the <eos> goes with it
        { "<think>01+06+02+05=14", "<think>01+06+02+05=14 check 0<eos>", "<think>01+06+02+05=14 check 0<eos>" },
    };
    Problem p;
    problem_parse(prompt, &p);
    char text[2048], buf[1024];
    int s[512], offset[513], pl = encode(prompt, s, 512, NULL);
    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        snprintf(buf, sizeof buf, "%s%s", prompt, cases[c].node);
        int len = encode(buf, s, 512, NULL);
        snprintf(buf, sizeof buf, "%s%s", prompt, cases[c].want);
        int want = encode(buf, s, 512, NULL);
        snprintf(buf, sizeof buf, "%s%s", prompt, cases[c].row);
        int n = encode(buf, s, 512, NULL);
        int cut = mcts_cut(&p, s, pl, len, n, text, offset);
        decode(s + pl, cut - pl, text);
        check(cut == want, "mcts cut of case %d: '%s' (want '%s')", c, text, cases[c].want);
    }
}

// r1 mcts end to end on a tiny addition model: its log (a row per iteration, compute that grows, pass@1),
// the policy and the value head read back; resumed to a third iteration it ends as a run of three never
// stopped; a run folder is not replaced without --overwrite. The value head is prm_head (the same
// function, another target): its loss and gradient are test_prm_head's finite-difference check.
static void test_mcts_run(void) {
    char base[420], a[400], b[400], path[500], path_b[500];
    roads_base("mcts", base, sizeof base);
    Config cfg = find_preset("tiny")->cfg;
    cfg.context = 160;
    snprintf(a, sizeof a, "%s/mcts_a", tmp_root);
    snprintf(b, sizeof b, "%s/mcts_b", tmp_root);
    CmdLine run = { cmd_mcts, { "--init", base, "--out", a, "--iterations", "3", "--prompts", "2",
                                "--simulations", "4", "--k", "2", "--hidden", "4", "--value-epochs", "5",
                                "--sft-steps", "1", "--batch", "2", "--eval-every", "1", "--eval-prompts", "4",
                                "--eval-k", "1", NULL } };
    const char *to_b[] = { "--out", b, NULL }, *two[] = { "--iterations", "2", NULL };
    const char *resume[] = { "--resume", NULL };
    CmdLine run_b = cmdline_with(run, to_b), run_b2 = cmdline_with(run_b, two);
    CmdLine run_b3 = cmdline_with(run_b, resume);
    StdoutTo quiet[] = { { child_cmdline, &run, "/dev/null" }, { child_cmdline, &run_b2, "/dev/null" },
                         { child_cmdline, &run_b3, "/dev/null" } };
    char err[4096];
    int status[3];
    for (int i = 0; i < 3; i++) status[i] = run_child(child_stdout_to, &quiet[i], err, sizeof err);
    check(status[0] == 0 && status[1] == 0 && status[2] == 0, "r1 mcts runs: exit %d, %d then %d resumed (want 0)",
          status[0], status[1], status[2]);
    int rows, rows_b;
    double pass1 = log_mean(a, "test_pass1", 0, 4, &rows);
    double gen1 = log_mean(a, "generated_tokens", 1, 2, &rows), gen3 = log_mean(a, "generated_tokens", 3, 4, &rows);
    double fwd3 = log_mean(a, "forward_tokens", 3, 4, &rows), gen0 = log_mean(a, "generated_tokens", 0, 1, &rows);
    double nodes = log_mean(a, "value_nodes", 1, 4, &rows);
    check(rows == 4 && gen0 == 0 && gen1 > 0 && gen3 > gen1 && fwd3 > gen3 && pass1 >= 0 && pass1 <= 1 && nodes > 0,
          "r1 mcts log: %d rows (want 4), generated tokens %.0f, %.0f, %.0f (want 0, then growing), forward %.0f "
          "(want more), mean pass@1 %.3f (want in [0, 1]), value nodes per iteration %.1f (want > 0)", rows, gen0,
          gen1, gen3, fwd3, pass1, nodes);
    snprintf(path, sizeof path, "%s/value.bin", a);
    Prm *value = prm_load(path);
    check(value->H == 4 && value->C == cfg.d_model && strcmp(value->trunk_path, base) == 0,
          "r1 mcts writes a value head that reads back: %d hidden units (want 4), width %d, trunk %s", value->H,
          value->C, value->trunk_path);
    prm_free(value);
    snprintf(path, sizeof path, "%s/model.bin", a);
    snprintf(path_b, sizeof path_b, "%s/model.bin", b);
    double gen3_b = log_mean(b, "generated_tokens", 3, 4, &rows_b);
    Model *pa = checkpoint_load(path, NULL, NULL), *pb = checkpoint_load(path_b, NULL, NULL);
    check(rows_b == 4 && gen3_b == gen3 && same_state(pa, pb), "r1 mcts resumed after iteration 2: %d rows (want 4), "
          "generated %.0f (want %.0f), the same policy as a run never stopped: %s", rows_b, gen3_b, gen3,
          same_state(pa, pb) ? "yes" : "no");
    model_free(pa); model_free(pb);
    expect_die("r1 mcts into a run folder without --overwrite", child_cmdline, &run, "holds a checkpoint", NULL);
}

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
    { .name = "reflection", .run = test_reflection, .what = "check audit and forced or banned checks" },
    { .name = "ppo", .run = test_ppo, .what = "PPO: GAE by hand, the value head's gradient, a short run" },
    { .name = "grpo_weights", .run = test_grpo_weights, .what = "GRPO batch and loss weights of every loss type" },
    { .name = "grpo", .run = test_grpo, .what = "GRPO advantages and loss" },
    { .name = "grpo_step", .run = test_grpo_step,
      .what = "GRPO step: truncated responses masked, the reference mixed" },
    { .name = "data", .run = test_data_errors, .what = "data loading errors" },
    { .name = "options", .run = test_options, .what = "option parsing" },
    { .name = "commands", .run = test_command_options, .what = "every command's options" },
    { .name = "option_sets", .run = test_option_sets, .what = "every option of every command against its --help" },
    { .name = "optimizer", .run = test_optimizer, .what = "AdamW, clipping, schedule" },
    { .name = "training", .run = test_training, .what = "pretraining, NaN stop, determinism, resume" },
    { .name = "kills", .run = test_kills, .what = "runs killed at any moment, resumed, equal to runs never killed" },
    { .name = "run_folders", .run = test_run_folders, .what = "no run replaced without --resume or --overwrite" },
    { .name = "grpo_loop", .run = test_grpo_loop, .what = "grpo_train for every loss type: the reward rises" },
    { .name = "stages", .run = test_stages, .what = "SFT, rejection sampling, distillation" },
    { .name = "rejection", .run = test_rejection, .what = "rejection sampling's keep rule",
      .part_of = "stages" },
    { .name = "distill", .run = test_distill, .what = "the distillation loss", .part_of = "stages" },
    { .name = "pipeline", .run = test_pipeline, .what = "the whole pipeline: each stage hands on what the next reads" },
    { .name = "report", .run = test_report, .what = "the HTML report of a run" },
    { .name = "matmul", .run = test_matmul, .what = "the fast matmul against the plain loops" },
    { .name = "padding", .run = test_padding, .what = "padding: no expert load, balance loss or gradient" },
    { .name = "shards", .run = test_shards, .what = "data-parallel training: 2 threads' shares sum to 1 thread's" },
    { .name = "kernels", .run = test_kernels, .what = "--kernels plain against fast: pretraining and R1-Zero" },
    { .name = "generator_styles", .run = test_generator_styles, .what = "gen --styles: the control corpora" },
    { .name = "generator_dial", .run = test_generator_dial, .what = "gen --operands / --held-out-operands" },
    { .name = "probe_roles", .run = test_probe_roles, .what = "the probe's reading of a chain of thought" },
    { .name = "countdown_generator", .run = test_countdown_generator,
      .what = "the countdown world's generator against a brute-force solver" },
    { .name = "countdown_rewards", .run = test_countdown_rewards,
      .what = "the countdown reward and the audit of tries, hand-counted" },
    { .name = "countdown_rules", .run = test_countdown_rules, .what = "the retry's decoding rules (ban, force, --tries)" },
    { .name = "countdown_run", .run = test_countdown_run,
      .what = "the countdown world end to end: pretraining, R1-Zero, its log and report" },
    { .name = "kernel_bits", .run = test_kernel_bits,
      .what = "the fast attention and RoPE kernels: the plain loops' bits" },
    { .name = "code_interpreter", .run = test_code_interpreter,
      .what = "the code world's interpreter: values, precedence, errors, overflow, length" },
    { .name = "code_rewards", .run = test_code_rewards,
      .what = "the code world's rewards (shown, hidden, both), audit of candidates, styles, judgement" },
    { .name = "code_generator", .run = test_code_generator,
      .what = "gen --world code against an independent re-derivation of functions, runs and verdicts" },
    { .name = "code_rules", .run = test_code_rules, .what = "the retry's decoding rules on code rows" },
    { .name = "code_run", .run = test_code_run,
      .what = "a short RL run of the code world: its log and report carry shown and hidden tests" },
    { .name = "prm_labels", .run = test_prm_labels, .what = "the PRM's step labels on hand-written sums, its fold" },
    { .name = "prm_head", .run = test_prm_head, .what = "the PRM head's loss and gradient (finite differences)" },
    { .name = "prm_run", .run = test_prm_run,
      .what = "r1 prm end to end, the PRM reward's plumbing, zero --rewards prm,format" },
    { .name = "mcts_tree", .run = test_mcts_tree, .what = "MCTS's PUCT selection, backup and answer on hand-built trees" },
    { .name = "mcts_cut", .run = test_mcts_cut, .what = "where MCTS's expansion cuts a sampled step, on hand-written rows" },
    { .name = "mcts_run", .run = test_mcts_run,
      .what = "r1 mcts end to end: its log, the value head read back, --resume against a run never stopped" },
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
        for (int i = 0; i < N_SECTIONS; i++)
            fprintf(out, "  %-13s %s%s%s\n", sections[i].name, sections[i].what,
                    sections[i].part_of ? ", part of " : "", sections[i].part_of ? sections[i].part_of : "");
        return listing ? 0 : 2;
    }
    double t0 = now_seconds();
    snprintf(tmp_root, sizeof tmp_root, "/tmp/test_r1.XXXXXX");
    if (!mkdtemp(tmp_root)) die("cannot create a temporary folder");
    main_pid = getpid();
    atexit(remove_tmp_root);  // also when R1_TEST_FAILFAST stops the run
    for (int i = 0; i < N_SECTIONS; i++) {
        int wanted = argc == 1 && !sections[i].part_of;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], sections[i].name) == 0;
        if (!wanted) continue;
        g_rng = rng_seed(42 + i);  // a section sees the same numbers alone or in the whole suite
        sections[i].run();
    }
    printf("(%.1f s)\n", now_seconds() - t0);
    return check_summary();
}
