/*
tools/test_cuda.c: r1.cu's kernels, run on the CPU, against r1.c's loops (make test).

r1.cu is compiled by the C++ compiler with tools/cuda_emu.h (blocks, threads as coroutines, shared
memory, __syncthreads), and linked with this file, which includes r1.c built with -DR1_CUDA as r1_cuda
is. r1.c's matmul_forward/matmul_backward/attention_forward/attention_backward then go to the
kernels when cuda_enabled = 1 and run their C loops (or OpenBLAS) when cuda_enabled = 0: every check
computes the same thing both ways on the same random inputs and compares.

Tolerances. The two sides add the same products in a different order (16-wide tiles against the C
blocking or OpenBLAS), so they differ by float rounding, which for a sum of K products is bounded by
about K * 6e-8 * sum_k |a_k b_k|. The matmul checks therefore bound each element by its own
magnitude scale S = |initial value| + sum_k |a_k b_k| (computed by the C matmul on absolute values)
and require |cuda - c| <= 1e-5 S. The attention checks use |cuda - c| <= 1e-5 (1 + |c|) (inputs are
N(0,1), probabilities are in [0,1]); the masked entries of att (t2 > t) must be exactly 0. The
training steps compare the loss to 1e-5 relative and every gradient element to 1e-4 of the largest
gradient of its tensor (the rounding differences pass through the whole network and the
backward pass; a wrong index moves gradients by their own size). Sizes include ones that are not
multiples of the 16x16 tile or of the 256-thread blocks. Greedy generation (the KV-cache path, whose
matmuls go through the kernels) must give the same tokens both ways.

./tools/test_cuda --teacher also runs the teacher preset's training steps (about 45 s emulated).
Prints one PASS/FAIL line per check and "N passed, N failed" last; exits non-zero on a failure.
*/
#define TESTING
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../r1.c"
#pragma GCC diagnostic pop

#include "check.h"

static Rng g_rng;

static float *random_array(size_t n) {
    float *x = mallocCheck((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&g_rng);
    return x;
}
static float *copy_array(const float *x, size_t n) {
    float *y = mallocCheck((n ? n : 1) * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}
static float *abs_array(const float *x, size_t n) {
    float *y = copy_array(x, n);
    for (size_t i = 0; i < n; i++) y[i] = fabsf(y[i]);
    return y;
}

// the largest |a - b| / scale_i with scale_i = S[i] (or 1 + |b[i]| when S is NULL)
static double max_rel_err(const float *a, const float *b, const float *S, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double scale = S ? S[i] : 1.0 + fabs(b[i]);
        double e = fabs((double)a[i] - b[i]) / (scale > 0 ? scale : 1e-30);
        if (!(e <= worst)) worst = e; // NaN counts as the worst
    }
    return worst;
}

// ----------------------------------------------------------------------------
// matmul: forward, and backward into dinp, dweight or both

#define MM_TOL 1e-5
static void test_matmul(int N, int C, int OC, int with_dinp, int with_dweight) {
    float *inp = random_array((size_t)N * C), *w = random_array((size_t)OC * C), *dout = random_array((size_t)N * OC);
    // forward
    float *out_c = mallocCheck((size_t)N * OC * sizeof(float)), *out_g = mallocCheck((size_t)N * OC * sizeof(float));
    float *S = mallocCheck((size_t)N * OC * sizeof(float));
    float *ainp = abs_array(inp, (size_t)N * C), *aw = abs_array(w, (size_t)OC * C), *adout = abs_array(dout, (size_t)N * OC);
    cuda_enabled = 0;
    matmul_forward(out_c, inp, w, N, C, OC);
    matmul_forward(S, ainp, aw, N, C, OC);
    cuda_enabled = 1;
    matmul_forward(out_g, inp, w, N, C, OC);
    double e = max_rel_err(out_g, out_c, S, (size_t)N * OC);
    check(e <= MM_TOL, "matmul_forward_kernel      N=%-3d C=%-3d OC=%-3d  err %.2e (tol %.0e of sum|a b|)", N, C, OC, e, MM_TOL);
    // backward: both start from the same random accumulators (the C code adds into them)
    float *dinp0 = random_array((size_t)N * C), *dw0 = random_array((size_t)OC * C);
    float *dinp_c = copy_array(dinp0, (size_t)N * C), *dinp_g = copy_array(dinp0, (size_t)N * C);
    float *dw_c = copy_array(dw0, (size_t)OC * C), *dw_g = copy_array(dw0, (size_t)OC * C);
    float *Sd = abs_array(dinp0, (size_t)N * C), *Sw = abs_array(dw0, (size_t)OC * C);
    cuda_enabled = 0;
    matmul_backward(with_dinp ? dinp_c : NULL, with_dweight ? dw_c : NULL, dout, inp, w, N, C, OC);
    matmul_backward(Sd, Sw, adout, ainp, aw, N, C, OC);
    cuda_enabled = 1;
    matmul_backward(with_dinp ? dinp_g : NULL, with_dweight ? dw_g : NULL, dout, inp, w, N, C, OC);
    if (with_dinp) {
        e = max_rel_err(dinp_g, dinp_c, Sd, (size_t)N * C);
        check(e <= MM_TOL, "matmul_backward_dinp_kernel N=%-3d C=%-3d OC=%-3d  err %.2e (tol %.0e)%s", N, C, OC, e, MM_TOL,
              with_dweight ? "" : " (dweight NULL)");
    } else {
        check(memcmp(dinp_g, dinp0, (size_t)N * C * sizeof(float)) == 0, "matmul_backward with dinp NULL leaves dinp alone");
    }
    if (with_dweight) {
        e = max_rel_err(dw_g, dw_c, Sw, (size_t)OC * C);
        check(e <= MM_TOL, "matmul_backward_dweight_kernel N=%-3d C=%-3d OC=%-3d  err %.2e (tol %.0e)%s", N, C, OC, e, MM_TOL,
              with_dinp ? "" : " (dinp NULL)");
    } else {
        check(memcmp(dw_g, dw0, (size_t)OC * C * sizeof(float)) == 0, "matmul_backward with dweight NULL leaves dweight alone");
    }
    float *fs[] = { inp, w, dout, out_c, out_g, S, ainp, aw, adout, dinp0, dw0, dinp_c, dinp_g, dw_c, dw_g, Sd, Sw };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) free(fs[i]);
}

// ----------------------------------------------------------------------------
// attention forward and backward (MLA: HS = d_nope + d_rope may differ from HV = d_v)

#define AT_TOL 1e-5
static void test_attention(int B, int T, int NH, int HS, int HV) {
    size_t nqk = (size_t)B * T * NH * HS, nv = (size_t)B * T * NH * HV, natt = (size_t)B * NH * T * T;
    float *q = random_array(nqk), *k = random_array(nqk), *v = random_array(nv), *dout = random_array(nv);
    float *out_c = random_array(nv), *out_g = random_array(nv);       // random: both must overwrite
    float *att_c = random_array(natt), *att_g = random_array(natt);
    cuda_enabled = 0;
    attention_forward(out_c, att_c, q, k, v, B, T, NH, HS, HV);
    cuda_enabled = 1;
    attention_forward(out_g, att_g, q, k, v, B, T, NH, HS, HV);
    double e_att = max_rel_err(att_g, att_c, NULL, natt), e_out = max_rel_err(out_g, out_c, NULL, nv);
    int masked_zero = 1;
    for (size_t r = 0; r < (size_t)B * NH * T; r++)
        for (int t2 = (int)(r % T) + 1; t2 < T; t2++) masked_zero &= att_g[r * T + t2] == 0.0f;
    check(e_att <= AT_TOL && masked_zero, "attention scores+softmax kernels B=%d T=%-2d NH=%d HS=%-2d HV=%-2d  att err %.2e (tol %.0e), masked entries 0: %s",
          B, T, NH, HS, HV, e_att, AT_TOL, masked_zero ? "yes" : "no");
    check(e_out <= AT_TOL, "attention_values_kernel         B=%d T=%-2d NH=%d HS=%-2d HV=%-2d  out err %.2e (tol %.0e)", B, T, NH, HS, HV, e_out, AT_TOL);
    // backward from the C forward's att; random initial gradients: both sides must overwrite them
    float *dq_c = random_array(nqk), *dk_c = random_array(nqk), *dv_c = random_array(nv), *datt_c = random_array(natt);
    float *dq_g = random_array(nqk), *dk_g = random_array(nqk), *dv_g = random_array(nv), *datt_g = random_array(natt);
    cuda_enabled = 0;
    attention_backward(dq_c, dk_c, dv_c, datt_c, dout, q, k, v, att_c, B, T, NH, HS, HV);
    cuda_enabled = 1;
    attention_backward(dq_g, dk_g, dv_g, datt_g, dout, q, k, v, att_c, B, T, NH, HS, HV);
    double e_dv = max_rel_err(dv_g, dv_c, NULL, nv);
    double e_dq = max_rel_err(dq_g, dq_c, NULL, nqk), e_dk = max_rel_err(dk_g, dk_c, NULL, nqk);
    check(e_dv <= AT_TOL, "attention_dv_kernel             B=%d T=%-2d NH=%d HS=%-2d HV=%-2d  dv err %.2e (tol %.0e)", B, T, NH, HS, HV, e_dv, AT_TOL);
    check(e_dq <= AT_TOL, "attention datt+softmax_backward+dq kernels  B=%d T=%-2d NH=%d HS=%-2d HV=%-2d  dq err %.2e (tol %.0e)", B, T, NH, HS, HV, e_dq, AT_TOL);
    check(e_dk <= AT_TOL, "attention datt+softmax_backward+dk kernels  B=%d T=%-2d NH=%d HS=%-2d HV=%-2d  dk err %.2e (tol %.0e)", B, T, NH, HS, HV, e_dk, AT_TOL);
    float *fs[] = { q, k, v, dout, out_c, out_g, att_c, att_g, dq_c, dk_c, dv_c, datt_c, dq_g, dk_g, dv_g, datt_g };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) free(fs[i]);
}

// ----------------------------------------------------------------------------
// whole training steps: two models from the same seed, one through the C loops and one through the
// kernels, each doing forward, loss, backward, AdamW, then a second forward and backward. The second
// step sees the updated weights on the device only if the device copy was refreshed after AdamW.
// Both models are updated with the C path's gradients: AdamW moves every weight by about lr whatever
// the size of its gradient, so a gradient that is rounding noise (different on the two paths) would
// otherwise move the two models apart by 2 lr and the second step would compare different models.

#define STEP_LOSS_TOL 1e-5
#define STEP_GRAD_TOL 1e-4
static void test_training_step(const char *preset, int B, int T) {
    const Config *c = &find_preset(preset)->cfg;
    int *tokens = mallocCheck((size_t)B * T * sizeof(int)), *targets = mallocCheck((size_t)B * T * sizeof(int));
    float *w = mallocCheck((size_t)B * T * sizeof(float));
    for (int i = 0; i < B * T; i++) {
        tokens[i] = rng_int(&g_rng, c->vocab);
        targets[i] = rng_int(&g_rng, c->vocab);
        w[i] = 1.0f / (B * T);
    }
    Model *m[2] = { model_create(c, preset, 7), model_create(c, preset, 7) }; // [0] C loops, [1] kernels
    double seconds[2] = { 0, 0 };
    for (int s = 0; s < 2; s++) {
        float loss[2];
        for (int k = 0; k < 2; k++) {
            double t0 = now_seconds();
            cuda_enabled = k;
            m[k]->balance_alpha = 0.01f; // the sequence-wise balance loss too
            model_zero_grad(m[k]);
            model_forward(m[k], tokens, NULL, B, T, NULL, 0);
            loss[k] = crossentropy_forward_backward(m[k]->dlogits, m[k]->logits, targets, w, B * T, c->vocab) + m[k]->aux_loss;
            model_backward(m[k]);
            seconds[k] += now_seconds() - t0;
        }
        double el = fabs((double)loss[1] - loss[0]) / fabs((double)loss[0]);
        check(el <= STEP_LOSS_TOL, "%s B=%d T=%d step %d: loss %.6f (C) %.6f (kernels), rel err %.2e (tol %.0e)%s", preset,
              B, T, s + 1, loss[0], loss[1], el, STEP_LOSS_TOL, s ? " [after AdamW: refreshed device weights]" : "");
        // every tensor: max |diff| / max |C gradient of the tensor|
        const Params *P = &m[0]->params;
        double worst = 0.0;
        const char *worst_name = "";
        for (int i = 0; i < P->n_tensors; i++) {
            const float *g0 = m[0]->grads_mem + P->offset[i], *g1 = m[1]->grads_mem + P->offset[i];
            double gmax = 0.0, dmax = 0.0;
            for (size_t j = 0; j < P->size[i]; j++) {
                gmax = fmax(gmax, fabs(g0[j]));
                double d = fabs((double)g1[j] - g0[j]);
                if (!(d <= dmax)) dmax = d;
            }
            double e = gmax > 0 ? dmax / gmax : dmax;
            if (!(e <= worst)) { worst = e; worst_name = P->name[i]; }
        }
        check(worst <= STEP_GRAD_TOL, "%s B=%d T=%d step %d: all %zu gradients, worst tensor %s: max diff %.2e of its max (tol %.0e)",
              preset, B, T, s + 1, m[0]->num_params, worst_name, worst, STEP_GRAD_TOL);
        memcpy(m[1]->grads_mem, m[0]->grads_mem, m[0]->num_params * sizeof(float));
        for (int k = 0; k < 2; k++) adamw_update(m[k], 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, s + 1);
    }
    printf("      (%s: C path %.2f s, emulated kernels %.2f s)\n", preset, seconds[0], seconds[1]);
    cuda_enabled = 1;
    model_free(m[0]);
    model_free(m[1]);
    free(tokens); free(targets); free(w);
}

// ----------------------------------------------------------------------------
// generation (KV cache: matmuls with one row per sequence through the kernels, mla_decode in C):
// greedy decoding of the student model must give the same tokens both ways (exact comparison)

static void test_generation(void) {
    const char *preset = "student";
    Model *m = model_create(&find_preset(preset)->cfg, preset, 11);
    enum { NB = 3, L = 24 };
    int seqs[2][NB * L], slen[2][NB], plen[NB] = { 3, 5, 1 };
    for (int k = 0; k < 2; k++) {
        Rng r = rng_seed(5);
        for (int i = 0; i < NB * L; i++) seqs[k][i] = 1 + (i * 7) % 20; // the same prompts for both
        cuda_enabled = k;
        generate(m, seqs[k], plen, slen[k], NB, L, 0.0f, &r);
    }
    cuda_enabled = 1;
    int same = 1;
    for (int b = 0; b < NB; b++) {
        same &= slen[0][b] == slen[1][b];
        for (int t = 0; t < slen[0][b] && t < slen[1][b]; t++) same &= seqs[0][b * L + t] == seqs[1][b * L + t];
    }
    check(same, "student greedy generate() of 3 prompts: same tokens through the C loops and the kernels (lengths %d %d %d vs %d %d %d)",
          slen[0][0], slen[0][1], slen[0][2], slen[1][0], slen[1][1], slen[1][2]);
    model_free(m);
}

int main(int argc, char **argv) {
    threads_init();
#ifdef _OPENMP
    omp_set_num_threads(1); // the emulation runs on one thread; the C side is too small to gain from more
#endif
    double t0 = now_seconds();
    g_rng = rng_seed(1234);
    // matmul: sizes below, at and above the 16x16 tile, and none of N, C, OC a multiple of it
    int mm[][3] = { {1, 1, 1}, {5, 3, 7}, {16, 16, 16}, {17, 33, 15}, {64, 48, 130}, {37, 100, 20}, {3, 129, 40} };
    for (int i = 0; i < (int)(sizeof mm / sizeof mm[0]); i++) {
        test_matmul(mm[i][0], mm[i][1], mm[i][2], 1, 1);
        if (i == 3) { test_matmul(mm[i][0], mm[i][1], mm[i][2], 1, 0); test_matmul(mm[i][0], mm[i][1], mm[i][2], 0, 1); }
    }
    // attention: B, T, NH, HS, HV (the teacher's heads are HS = 48, HV = 32)
    int at[][5] = { {1, 1, 1, 1, 1}, {2, 5, 3, 4, 4}, {2, 17, 2, 12, 8}, {3, 9, 1, 7, 3}, {1, 40, 4, 48, 32} };
    for (int i = 0; i < (int)(sizeof at / sizeof at[0]); i++) test_attention(at[i][0], at[i][1], at[i][2], at[i][3], at[i][4]);
    // whole training steps
    test_training_step("tiny", 3, 16);
    test_training_step("student", 2, 20);
    test_generation();
    if (argc > 1 && strcmp(argv[1], "--teacher") == 0) test_training_step("teacher", 2, 24); // ~40 s emulated
    printf("(%.1f s)\n", now_seconds() - t0);
    return check_summary();
}
