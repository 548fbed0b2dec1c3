// tools/part1_main.c: the end of Part I of r1.c built alone (tools/test_part1.sh puts it after the lines of
// r1.c above the PART II banner). The hooks into Part II get their plain answer, every kernel declines, so
// Part I's own loops run; main pretrains a tiny model on one toy fact and runs R1-Zero's loop on it.
// Ends "N passed, N failed" (tools/check.h).
#include "check.h"
#pragma GCC diagnostic ignored "-Wunused-parameter"

static int kernel_matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC) {
    return 0;
}
static int kernel_matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                                  const float *weight, int N, int C, int OC) { return 0; }
static int kernel_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                                    int B, int T, int NH, int HS, int HV) { return 0; }
static int kernel_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                     const float *q, const float *k, const float *v, const float *att,
                                     int B, int T, int NH, int HS, int HV) { return 0; }
static int kernel_rope(float *x, int N, int T, int pos0, int H, int hs, int off, int dr, float sign) { return 0; }
static int kernel_mla_decode(float *y, const float *q, KVCache *cache, int layer, const float *wkvb, int B,
                             int pos, int NH, int dn, int dr, int dv, int R) { return 0; }
static int kernel_model_forward(Model *m, const int *tokens, const int *len, int B, int T, int with_cache) {
    return 0;
}
static int kernel_model_backward(Model *m) { return 0; }
static int kernel_generate(Model *m, int *seqs, const int *prompt_len, int *seq_len, int B, int max_len,
                           float temperature, int check_rule, int max_tries, Rng *rngs) { return 0; }
static int kernels_reentrant(void) { return 1; }
static void kernel_params_register(const float *params, size_t n) {}
static void kernel_params_changed(const float *params) {}
static void kernel_params_free(const float *params) {}
// no experiment tools: a decoding rule samples freely, the MoE's diagnostics log nothing
static int next_token(float *logits, int V, float temperature, int rule, int max_tries, const int *row,
                      int len, int *forcing, Rng *rng) { return sample_token(logits, V, temperature, rng); }
static void moe_diagnostics(const Model *m, const float *w, GrpoStepLog *log) {}
// one process: the whole batch is its share, its gradients are the sum, nothing to gather
static void dist_share(int n, int *first, int *count) { *first = 0; *count = n; }
static void dist_sum_gradients(Model *m, int *rows) {}
static void dist_gather_rollouts(Rollouts *r, Judgement *judged, int P, int G) {}
static void prm_rewards(Prm *prm, const Rollouts *r, float *reward) {}  // no PRM in Part I's runs

int main(void) {
    const Config *c = &find_preset("tiny")->cfg;
    Model *m = model_create(c, "tiny", 1);
    // pretraining on "e:3=<think></think><answer>7</answer><eos>", the loss on every token
    int ids[16], n = encode("e:3=<think></think><answer>7</answer><eos>", ids, 16, NULL), B = 4, T = n - 1;
    int inputs[4 * 16], targets[4 * 16], len[4];
    float w[4 * 16];
    for (int b = 0; b < B; b++) {
        len[b] = T;
        for (int t = 0; t < T; t++) {
            inputs[b * T + t] = ids[t]; targets[b * T + t] = ids[t + 1]; w[b * T + t] = 1.0f / (B * T);
        }
    }
    OptimConfig u = { .lr = 1e-2f, .beta2 = 0.95f, .weight_decay = 0.0f, .clip = 1.0f, .bias_gamma = 1e-3f };
    float first = 0.0f, loss = 0.0f, norm;
    int ok = 1;
    for (int s = 0; s < 60 && ok; s++) {
        ok = lm_step(m, inputs, targets, w, len, B, T, &u, &loss, &norm) == STEP_OK;
        if (s == 0) first = loss;
    }
    check(ok && loss < 0.2f * first, "Part I alone: 60 pretraining steps of a tiny model, the loss %.3f -> %.3f "
          "(want below a fifth)", first, loss);
    // R1-Zero's loop: 2 prompts x 4 samples, 3 iterations
    int *prompt_ids[1] = { ids };
    int prompt_len[1] = { 4 };
    long answer[1] = { 7 };
    char *prompt_text[1] = { "e:3=" };
    Prompts train = { .n = 1, .text = prompt_text, .ids = prompt_ids, .len = prompt_len, .answer = answer };
    RewardSet use = { .accuracy = 1, .format = 1, .format_weight = 0.1f };
    GrpoConfig g = { .eps_low = 0.2f, .eps_high = 0.2f, .temperature = 1.0f, .num_iterations = 1,
                     .loss_type = LOSS_DR_GRPO, .scale_rewards = SCALE_NONE, .max_completion_length = 12,
                     .optim = { .lr = 1e-3f, .beta2 = 0.99f, .clip = 1.0f, .bias_gamma = 1e-3f } };
    Rollouts r = { .n = 8, .max_len = c->context, .seqs = mallocCheck(8 * c->context * sizeof(int)),
                   .prompt_len = mallocCheck(8 * sizeof(int)), .seq_len = mallocCheck(8 * sizeof(int)),
                   .prompt = mallocCheck(8 * sizeof(int)), .check_rule = CHECK_FREE };
    float reward[8];
    Judgement judged[8];
    Rng rng = rng_seed(1);
    GrpoStepLog log;
    int status = STEP_OK, right = 0;
    for (int it = 0; it < 3 && status == STEP_OK; it++)
        status = grpo_iteration(m, NULL, &train, 2, 4, &use, &g, &r, reward, judged, &rng, &log);
    for (int i = 0; i < 8; i++) right += judged[i].correct > 0;
    check(status == STEP_OK && m->step == 63 && isfinite(log.loss) && right >= 4, "Part I alone: 3 iterations of "
          "R1-Zero's loop (status %d, steps %d, loss %g; %d of 8 responses right, want >= 4)", status, m->step,
          log.loss, right);
    free(r.seqs); free(r.prompt_len); free(r.seq_len); free(r.prompt);
    model_free(m);
    return check_summary();
}
