/*
r1.c: the DeepSeek-R1 training recipe at toy scale, in one C file.

Read top to bottom, in the order of the paper:
  1. utilities, random numbers, the character tokenizer
  2. the toy world: integer sums solved directly, by chain of thought, or with checks
  3. the model: a tiny DeepSeek-V3 (MLA attention, DeepSeekMoE with auxiliary-loss-free
     balancing), forward and hand-written backward of every layer side by side
  4. training: cross-entropy, AdamW, warmup + cosine, checkpoints
  5. generation with a KV cache
  6. rule rewards (R1 paper, section 2.2.2) and evaluation
  7. pretraining the base model
  8. GRPO (DeepSeekMath eq. 1-4, R1 section 2.2.1): R1-Zero and reasoning RL
  9. SFT, rejection sampling, distillation, the whole pipeline (R1 sections 2.3, 2.4)
 10. the command line

Build: make        Test: make test        See README.md and NOTES.md.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef USE_BLAS
#include <cblas.h>
#endif

// ----------------------------------------------------------------------------
// 1. utilities

// every error the user can cause ends here: one line, non-zero exit
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
#include <stdarg.h>
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "r1: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *mallocCheck(size_t size) {
    void *p = calloc(1, size ? size : 1);
    if (!p) die("out of memory allocating %zu bytes", size);
    return p;
}

static FILE *fopenCheck(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) die("cannot open %s: %s", path, strerror(errno));
    return f;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void make_dirs(const char *path) { // mkdir -p
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') { *p = 0; mkdir(buf, 0755); *p = '/'; }
    }
    mkdir(buf, 0755);
}

// random numbers: xorshift* (as llm.c), one state per stream so runs are repeatable
typedef struct { uint64_t s; } Rng;
static uint32_t rng_u32(Rng *r) {
    r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 0x2545F4914F6CDD1Dull) >> 32);
}
static float rng_f32(Rng *r) { return (rng_u32(r) >> 8) / 16777216.0f; } // [0,1)
static int rng_int(Rng *r, int n) { return (int)(rng_u32(r) % (uint32_t)n); }
static float rng_normal(Rng *r) {
    float u1 = rng_f32(r), u2 = rng_f32(r);
    if (u1 < 1e-7f) u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}
static Rng rng_seed(uint64_t seed) { Rng r = { seed * 0x9E3779B97F4A7C15ull + 0x1234567ull }; rng_u32(&r); return r; }

// a well-mixed 64-bit hash (splitmix64), used to split held-out problems
static uint64_t hash64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// ----------------------------------------------------------------------------
// the character tokenizer: five special tokens, then one id per character

enum { TOK_EOS = 0, TOK_THINK, TOK_THINK_END, TOK_ANSWER, TOK_ANSWER_END, N_SPECIAL };
static const char *SPECIALS[N_SPECIAL] = { "<eos>", "<think>", "</think>", "<answer>", "</answer>" };
static const char ALPHABET[] = "0123456789+-*=: abcdefghijklmnopqrstuvwxyz";
#define VOCAB_SIZE (N_SPECIAL + (int)sizeof(ALPHABET) - 1)

static int char_to_token(char c) {
    const char *p = c ? strchr(ALPHABET, c) : NULL;
    return p ? N_SPECIAL + (int)(p - ALPHABET) : -1;
}

// text -> ids; returns the count, or -1 with *bad set to the offending character.
// Special tokens are written literally in text, e.g. "<think>".
static int encode(const char *text, int *ids, int max_ids, char *bad) {
    int n = 0;
    for (const char *p = text; *p;) {
        int id = -1, len = 1;
        if (*p == '<') {
            for (int s = 0; s < N_SPECIAL; s++) {
                size_t sl = strlen(SPECIALS[s]);
                if (strncmp(p, SPECIALS[s], sl) == 0) { id = s; len = (int)sl; break; }
            }
        } else {
            id = char_to_token(*p);
        }
        if (id < 0) { if (bad) *bad = *p; return -1; }
        if (n >= max_ids) return -2; // too long
        ids[n++] = id;
        p += len;
    }
    return n;
}

// ids -> text (out must hold 10 chars per token)
static void decode(const int *ids, int n, char *out) {
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < N_SPECIAL) strcat(out, SPECIALS[ids[i]]);
        else { size_t l = strlen(out); out[l] = ALPHABET[ids[i] - N_SPECIAL]; out[l + 1] = 0; }
    }
}

// ----------------------------------------------------------------------------
// 2. the toy world (SPEC "The toy world", NOTES.md "The toy world")
//
// A problem is a sum of 2..4 two-digit numbers; difficulty = number of operands - 1.
// Prompt:   e:51+76+12+85=          ("e:" English, "j:" Japanese-like: the target language)
// Response: <think>...</think><answer>224</answer><eos>, the answer always three digits.
// Three solution styles, as web text mixes them:
//   direct   <think></think><answer>224</answer>                    exactly correct
//   chain    <think>1+6+2+5=14 carry 1 5+7+1+8+1=22</think>...     column sums
//   checked  each column sum is followed by an independent check that re-adds the column one
//            digit at a time:  1+6+2+5=14 check 1+6=7 7+2=9 9+5=14 ok
//            and with probability SLIP_PROB the column is first written off by one, the check
//            catches it:       1+6+2+5=15 check 1+6=7 7+2=9 9+5=14 wait 14
// The direct answer of four numbers is out of reach of a small model in one pass; each step of
// a chain is easy. RL then has something to select (see NOTES.md).

#define MAX_OPERANDS 4
#define N_DIFFICULTY 3
enum { STYLE_DIRECT, STYLE_CHAIN, STYLE_CHECKED, N_STYLES };
static const char *STYLE_NAMES[N_STYLES] = { "direct", "chain", "checked" };
enum { LANG_EN, LANG_JA, N_LANGS };
static const char LANG_TAG[N_LANGS] = { 'e', 'j' };
// the words of the chain of thought in each language: carry, check, ok, wait
enum { WORD_CARRY, WORD_CHECK, WORD_OK, WORD_WAIT, N_WORDS };
static const char *WORDS[N_LANGS][N_WORDS] = {
    { "carry", "check", "ok", "wait" },
    { "kuri", "kensa", "yoshi", "matte" },
};

typedef struct {
    int n;                     // number of operands, 2..MAX_OPERANDS
    int x[MAX_OPERANDS];       // the two-digit operands
    int lang;                  // LANG_EN or LANG_JA
} Problem;

static int problem_answer(const Problem *p) {
    int s = 0;
    for (int i = 0; i < p->n; i++) s += p->x[i];
    return s;
}

static Problem problem_random(Rng *r, int difficulty) {
    Problem p = { .n = difficulty + 1, .lang = rng_int(r, N_LANGS) };
    for (int i = 0; i < p.n; i++) p.x[i] = 10 + rng_int(r, 90);
    return p;
}

// held-out test problems are chosen by a hash of the operands (not by a structured slice)
static int problem_is_heldout(const Problem *p) {
    uint64_t key = (uint64_t)p->n;
    for (int i = 0; i < p->n; i++) key = key * 131 + (uint64_t)p->x[i];
    return hash64(key) % 10 == 0;
}

static void problem_prompt(const Problem *p, char *out) {
    int o = sprintf(out, "%c:", LANG_TAG[p->lang]);
    for (int i = 0; i < p->n; i++) o += sprintf(out + o, i ? "+%d" : "%d", p->x[i]);
    sprintf(out + o, "=");
}

// one column: digits d[0..m-1] summed; the checked style re-adds them one at a time
static int write_column(char *out, const int *d, int m, int checked, int slip, const char **words) {
    int s = 0, o = 0;
    for (int i = 0; i < m; i++) { s += d[i]; o += sprintf(out + o, i ? "+%d" : "%d", d[i]); }
    int written = s;
    if (slip) written = (s == 0 || (s & 1)) ? s + 1 : s - 1; // off by one
    o += sprintf(out + o, "=%d", written);
    if (checked) {
        o += sprintf(out + o, " %s", words[WORD_CHECK]);
        int run = d[0];
        for (int i = 1; i < m; i++) { o += sprintf(out + o, " %d+%d=%d", run, d[i], run + d[i]); run += d[i]; }
        if (written == s) o += sprintf(out + o, " %s", words[WORD_OK]);
        else o += sprintf(out + o, " %s %d", words[WORD_WAIT], s);
    }
    return o;
}

// the full response text of problem p in the given style. switch_lang: the tens column (and the
// carry word) is written in the other language, the "language mixing" the R1 paper reports.
static void write_response(const Problem *p, int style, float slip_prob, int switch_lang, Rng *r, char *out) {
    int o = sprintf(out, "<think>");
    if (style != STYLE_DIRECT) {
        const char **w1 = WORDS[p->lang], **w2 = WORDS[switch_lang ? 1 - p->lang : p->lang];
        int d[MAX_OPERANDS + 1], units = 0;
        for (int i = 0; i < p->n; i++) { d[i] = p->x[i] % 10; units += d[i]; }
        int checked = style == STYLE_CHECKED;
        o += write_column(out + o, d, p->n, checked, checked && rng_f32(r) < slip_prob, w1);
        int carry = units / 10;
        o += sprintf(out + o, " %s %d ", w2[WORD_CARRY], carry);
        for (int i = 0; i < p->n; i++) d[i] = p->x[i] / 10;
        d[p->n] = carry;
        o += write_column(out + o, d, p->n + 1, checked, checked && rng_f32(r) < slip_prob, w2);
    }
    sprintf(out + o, "</think><answer>%03d</answer><eos>", problem_answer(p));
}

// the pretraining mixture (NOTES.md): mostly direct answers, rarer careful styles
#define MIX_DIRECT 0.60f
#define MIX_CHAIN 0.20f      // the rest (0.20) is the checked style
#define SLIP_PROB 0.15f
#define SWITCH_PROB 0.10f    // chains that switch language midway

static int sample_style(Rng *r) {
    float u = rng_f32(r);
    return u < MIX_DIRECT ? STYLE_DIRECT : u < MIX_DIRECT + MIX_CHAIN ? STYLE_CHAIN : STYLE_CHECKED;
}

// the number of lines gen writes to each file
#define GEN_PRETRAIN 60000
#define GEN_RL_TRAIN 4000
#define GEN_RL_TEST_PER_DIFF 100
#define GEN_COLDSTART 400

static void gen_write_file(const char *dir, const char *name, const char *text) {
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopenCheck(tmp, "wb");
    if (fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) die("cannot write %s", tmp);
    if (rename(tmp, path) != 0) die("cannot rename %s to %s", tmp, path);
}

typedef struct { char *s; size_t len, cap; } Text; // a growing string
static void text_add(Text *t, const char *s) {
    size_t l = strlen(s);
    if (t->len + l + 1 > t->cap) {
        t->cap = (t->len + l + 1) * 2;
        t->s = realloc(t->s, t->cap);
        if (!t->s) die("out of memory");
    }
    memcpy(t->s + t->len, s, l + 1);
    t->len += l;
}

// ./r1 gen: writes every file of tiny_data/ deterministically from the seed
static void gen_tiny_data(const char *dir, uint64_t seed) {
    make_dirs(dir);
    Rng r = rng_seed(seed);
    char prompt[64], resp[512], line[600];
    Text t = {0};
    // pretraining corpus: one document per line, prompt immediately followed by its response
    for (int i = 0; i < GEN_PRETRAIN; i++) {
        Problem p;
        do p = problem_random(&r, rng_int(&r, N_DIFFICULTY)); while (problem_is_heldout(&p));
        int style = sample_style(&r);
        int sw = style != STYLE_DIRECT && rng_f32(&r) < SWITCH_PROB;
        problem_prompt(&p, prompt);
        write_response(&p, style, SLIP_PROB, sw, &r, resp);
        snprintf(line, sizeof line, "%s%s\n", prompt, resp);
        text_add(&t, line);
    }
    gen_write_file(dir, "pretrain.txt", t.s); t.len = 0;
    // RL prompts: prompt <TAB> answer <TAB> difficulty; test prompts are the held-out problems
    for (int i = 0; i < GEN_RL_TRAIN; i++) {
        Problem p;
        do p = problem_random(&r, rng_int(&r, N_DIFFICULTY)); while (problem_is_heldout(&p));
        problem_prompt(&p, prompt);
        snprintf(line, sizeof line, "%s\t%d\t%d\n", prompt, problem_answer(&p), p.n - 1);
        text_add(&t, line);
    }
    gen_write_file(dir, "rl_train.txt", t.s); t.len = 0;
    for (int d = 0; d < N_DIFFICULTY; d++) {
        for (int i = 0; i < GEN_RL_TEST_PER_DIFF; i++) {
            Problem p;
            do p = problem_random(&r, d); while (!problem_is_heldout(&p));
            problem_prompt(&p, prompt);
            snprintf(line, sizeof line, "%s\t%d\t%d\n", prompt, problem_answer(&p), d);
            text_add(&t, line);
        }
    }
    gen_write_file(dir, "rl_test.txt", t.s); t.len = 0;
    // cold start (R1 section 2.3.1): clean, readable, single-language checked chains
    for (int i = 0; i < GEN_COLDSTART; i++) {
        Problem p;
        do p = problem_random(&r, rng_int(&r, N_DIFFICULTY)); while (problem_is_heldout(&p));
        problem_prompt(&p, prompt);
        write_response(&p, STYLE_CHECKED, 0.0f, 0, &r, resp);
        snprintf(line, sizeof line, "%s\t%s\n", prompt, resp);
        text_add(&t, line);
    }
    gen_write_file(dir, "coldstart.txt", t.s);
    free(t.s);
}

// ----------------------------------------------------------------------------
// 3. the model: a tiny DeepSeek-V3 (DeepSeek-V3 report, section 2.1)

typedef struct {
    int vocab, context, d_model, n_layer, n_head;
    int d_nope, d_rope, d_v, kv_rank;  // MLA: per-head no-position and RoPE dims, value dim, latent rank
    int n_dense, d_ff_dense;           // the first n_dense layers have a dense SwiGLU of width d_ff_dense
    int n_experts, top_k, d_ff_expert; // DeepSeekMoE: routed experts (plus one shared) of width d_ff_expert
} Config;

typedef struct { const char *name; Config cfg; } Preset;
static const Preset PRESETS[] = {
    // the default teacher: ~1.8M parameters, ~0.9M active per token
    { "teacher", { VOCAB_SIZE, 160, 128, 4, 4, 32, 16, 32, 64, 1, 384, 8, 2, 128 } },
    // the distillation student: 2 layers, 4 small experts
    { "student", { VOCAB_SIZE, 160, 64, 2, 4, 16, 8, 16, 32, 1, 192, 4, 2, 64 } },
    // tiny: for tests and gradient checks
    { "tiny",    { VOCAB_SIZE, 16, 16, 2, 2, 4, 4, 4, 8, 1, 24, 4, 2, 8 } },
};
#define N_PRESETS ((int)(sizeof(PRESETS) / sizeof(PRESETS[0])))
#define MAX_LAYERS 16
#define MAX_EXPERTS 64

static int is_moe_layer(const Config *c, int l) { return l >= c->n_dense && c->n_experts > 0; }

// one layer's tensors; each points into the model's one parameter buffer (or gradient buffer)
typedef struct {
    float *attn_norm;  // [C]
    float *wq;         // [NH*(dn+dr), C]   queries: no-position part and RoPE part per head
    float *wkva;       // [R+dr, C]         compressed latent c and the shared RoPE key
    float *kv_norm;    // [R]
    float *wkvb;       // [NH*(dn+dv), R]   latent -> per-head key (no-position part) and value
    float *wo;         // [C, NH*dv]
    float *ffn_norm;   // [C]
    float *w1, *w3;    // [F, C]  dense SwiGLU, or the shared expert of an MoE layer
    float *w2;         // [C, F]
    float *router;     // [E, C]            MoE only: expert centroids
    float *ew1, *ew3;  // [E, Fe, C]        MoE only: routed experts
    float *ew2;        // [E, C, Fe]
} LayerParams;

typedef struct {
    float *wte;        // [V, C] token embedding
    LayerParams layer[MAX_LAYERS];
    float *norm_f;     // [C]
    float *head;       // [V, C] untied output head
} Params;

// lays the tensors out one after another from base (base may be NULL to just count); returns the count
static size_t params_layout(const Config *c, float *base, Params *p) {
    size_t n = 0;
    int C = c->d_model, NH = c->n_head, dqk = c->d_nope + c->d_rope;
#define TENSOR(ptr, count) do { (ptr) = base ? base + n : NULL; n += (size_t)(count); } while (0)
    TENSOR(p->wte, (size_t)c->vocab * C);
    for (int l = 0; l < c->n_layer; l++) {
        LayerParams *L = &p->layer[l];
        memset(L, 0, sizeof *L);
        int F = is_moe_layer(c, l) ? c->d_ff_expert : c->d_ff_dense;
        TENSOR(L->attn_norm, C);
        TENSOR(L->wq, (size_t)NH * dqk * C);
        TENSOR(L->wkva, (size_t)(c->kv_rank + c->d_rope) * C);
        TENSOR(L->kv_norm, c->kv_rank);
        TENSOR(L->wkvb, (size_t)NH * (c->d_nope + c->d_v) * c->kv_rank);
        TENSOR(L->wo, (size_t)C * NH * c->d_v);
        TENSOR(L->ffn_norm, C);
        TENSOR(L->w1, (size_t)F * C);
        TENSOR(L->w3, (size_t)F * C);
        TENSOR(L->w2, (size_t)C * F);
        if (is_moe_layer(c, l)) {
            TENSOR(L->router, (size_t)c->n_experts * C);
            TENSOR(L->ew1, (size_t)c->n_experts * F * C);
            TENSOR(L->ew3, (size_t)c->n_experts * F * C);
            TENSOR(L->ew2, (size_t)c->n_experts * C * F);
        }
    }
    TENSOR(p->norm_f, C);
    TENSOR(p->head, (size_t)c->vocab * C);
#undef TENSOR
    return n;
}

#ifdef R1_CUDA
// r1.cu implements the hot matmul and attention on the GPU with the same signatures (make r1_cuda).
// Weights stay resident on the device: each parameter buffer is registered once, and marked
// changed after every update so the device copy is refreshed before its next use.
// cuda_enabled = 0 switches back to the C loops (the tests compare the two).
static int cuda_enabled = 1;
void cuda_register_params(const float *params, size_t n);
void cuda_params_changed(const float *params);
void cuda_matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC);
void cuda_matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                          const float *weight, int N, int C, int OC);
void cuda_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                            int B, int T, int NH, int HS, int HV);
void cuda_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                             const float *q, const float *k, const float *v, const float *att,
                             int B, int T, int NH, int HS, int HV);
#endif

// ---- matmul: the one hot loop. OpenBLAS when built with it, a blocked loop otherwise.

// out[N,OC] = inp[N,C] @ weight[OC,C]^T
static void matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC) {
#ifdef R1_CUDA
    if (cuda_enabled) { cuda_matmul_forward(out, inp, weight, N, C, OC); return; }
#endif
#ifdef USE_BLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
#else
    // 4 rows at a time share each weight row
    #pragma omp parallel for schedule(static)
    for (int n0 = 0; n0 < N; n0 += 4) {
        int nb = N - n0 < 4 ? N - n0 : 4;
        for (int o = 0; o < OC; o++) {
            const float *w = weight + (size_t)o * C;
            float acc[4] = {0, 0, 0, 0};
            for (int r = 0; r < nb; r++) {
                const float *x = inp + (size_t)(n0 + r) * C;
                float s = 0.0f;
                #pragma omp simd reduction(+:s)
                for (int i = 0; i < C; i++) s += x[i] * w[i];
                acc[r] = s;
            }
            for (int r = 0; r < nb; r++) out[(size_t)(n0 + r) * OC + o] = acc[r];
        }
    }
#endif
}

// dinp[N,C] += dout[N,OC] @ weight[OC,C];  dweight[OC,C] += dout^T @ inp  (either may be NULL)
static void matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                            const float *weight, int N, int C, int OC) {
#ifdef R1_CUDA
    if (cuda_enabled) { cuda_matmul_backward(dinp, dweight, dout, inp, weight, N, C, OC); return; }
#endif
#ifdef USE_BLAS
    if (dinp) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
    if (dweight) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
#else
    if (dinp) {
        #pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            float *dx = dinp + (size_t)n * C;
            for (int o = 0; o < OC; o++) {
                float d = dout[(size_t)n * OC + o];
                const float *w = weight + (size_t)o * C;
                #pragma omp simd
                for (int i = 0; i < C; i++) dx[i] += d * w[i];
            }
        }
    }
    if (dweight) {
        #pragma omp parallel for schedule(static)
        for (int o = 0; o < OC; o++) {
            float *dw = dweight + (size_t)o * C;
            for (int n = 0; n < N; n++) {
                float d = dout[(size_t)n * OC + o];
                if (d == 0.0f) continue;
                const float *x = inp + (size_t)n * C;
                #pragma omp simd
                for (int i = 0; i < C; i++) dw[i] += d * x[i];
            }
        }
    }
#endif
}

// ---- token embedding

// out[N,C] = wte[tokens[n]]
static void embedding_forward(float *out, const int *tokens, const float *wte, int N, int C) {
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, wte + (size_t)tokens[n] * C, C * sizeof(float));
}
// dwte[V,C] += dout[N,C] scattered by token
static void embedding_backward(float *dwte, const float *dout, const int *tokens, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int i = 0; i < C; i++) dwte[(size_t)tokens[n] * C + i] += dout[(size_t)n * C + i];
}

// ---- RMSNorm: y = x / sqrt(mean(x^2) + eps) * w

#define RMS_EPS 1e-5f
// out[N,C], rstd[N] <- inp[N,C], weight[C]
static void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int N, int C) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float ss = 0.0f;
        for (int i = 0; i < C; i++) ss += x[i] * x[i];
        float r = 1.0f / sqrtf(ss / C + RMS_EPS);
        rstd[n] = r;
        for (int i = 0; i < C; i++) out[(size_t)n * C + i] = x[i] * r * weight[i];
    }
}
// dinp[N,C] += ..., dweight[C] += ...
static void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                             const float *weight, const float *rstd, int N, int C) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float r = rstd[n], dot = 0.0f;
        for (int i = 0; i < C; i++) dot += dy[i] * weight[i] * x[i];
        for (int i = 0; i < C; i++)
            dinp[(size_t)n * C + i] += r * dy[i] * weight[i] - x[i] * r * r * r * dot / C;
    }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < C; i++) dweight[i] += dout[(size_t)n * C + i] * inp[(size_t)n * C + i] * rstd[n];
}

// ---- RoPE (interleaved pairs, theta 1e4), applied in place.
// x is [N, H, hs]; dims [off, off+dr) of each of the H vectors are rotated; row n is at position
// pos0 + n % T. The backward pass is the same rotation by the opposite angle.

#define ROPE_THETA 10000.0
static void rope_rotate(float *x, int N, int T, int pos0, int H, int hs, int off, int dr, float sign) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int pos = pos0 + n % T;
        for (int i = 0; i < dr / 2; i++) {
            double angle = pos * pow(ROPE_THETA, -2.0 * i / dr);
            float c = (float)cos(angle), s = sign * (float)sin(angle);
            for (int h = 0; h < H; h++) {
                float *p = x + ((size_t)n * H + h) * hs + off + 2 * i;
                float a = p[0], b = p[1];
                p[0] = a * c - b * s;
                p[1] = a * s + b * c;
            }
        }
    }
}
static void rope_forward(float *x, int N, int T, int pos0, int H, int hs, int off, int dr) {
    rope_rotate(x, N, T, pos0, H, hs, off, dr, 1.0f);
}
static void rope_backward(float *dx, int N, int T, int pos0, int H, int hs, int off, int dr) {
    rope_rotate(dx, N, T, pos0, H, hs, off, dr, -1.0f);
}

// ---- causal attention per head (MLA's keys already assembled: [k_nope ; shared k_rope])

// out[B,T,NH,HV], att[B,NH,T,T] <- q,k[B,T,NH,HS], v[B,T,NH,HV]; scale 1/sqrt(HS)
static void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                              int B, int T, int NH, int HS, int HV) {
#ifdef R1_CUDA
    if (cuda_enabled) { cuda_attention_forward(out, att, q, k, v, B, T, NH, HS, HV); return; }
#endif
    float scale = 1.0f / sqrtf((float)HS);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *qt = q + (((size_t)b * T + t) * NH + h) * HS;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float maxv = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *kt = k + (((size_t)b * T + t2) * NH + h) * HS;
                    float s = 0.0f;
                    for (int i = 0; i < HS; i++) s += qt[i] * kt[i];
                    a[t2] = s * scale;
                    if (a[t2] > maxv) maxv = a[t2];
                }
                float sum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) { a[t2] = expf(a[t2] - maxv); sum += a[t2]; }
                for (int t2 = 0; t2 <= t; t2++) a[t2] /= sum;
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
                float *o = out + (((size_t)b * T + t) * NH + h) * HV;
                for (int i = 0; i < HV; i++) o[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *vt = v + (((size_t)b * T + t2) * NH + h) * HV;
                    for (int i = 0; i < HV; i++) o[i] += a[t2] * vt[i];
                }
            }
        }
    }
}

// dq,dk[B,T,NH,HS], dv[B,T,NH,HV] are overwritten; datt[B,NH,T,T] is scratch
static void attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                               const float *q, const float *k, const float *v, const float *att,
                               int B, int T, int NH, int HS, int HV) {
#ifdef R1_CUDA
    if (cuda_enabled) { cuda_attention_backward(dq, dk, dv, datt, dout, q, k, v, att, B, T, NH, HS, HV); return; }
#endif
    float scale = 1.0f / sqrtf((float)HS);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                size_t qi = ((size_t)b * T + t) * NH + h;
                for (int i = 0; i < HS; i++) { dq[qi * HS + i] = 0.0f; dk[qi * HS + i] = 0.0f; }
                for (int i = 0; i < HV; i++) dv[qi * HV + i] = 0.0f;
            }
            for (int t = 0; t < T; t++) {
                size_t qi = ((size_t)b * T + t) * NH + h;
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float *da = datt + (((size_t)b * NH + h) * T + t) * T;
                const float *dy = dout + qi * HV;
                // through the weighted sum of values
                float dsum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    size_t ki = ((size_t)b * T + t2) * NH + h;
                    float s = 0.0f;
                    for (int i = 0; i < HV; i++) { s += dy[i] * v[ki * HV + i]; dv[ki * HV + i] += a[t2] * dy[i]; }
                    da[t2] = s;
                    dsum += a[t2] * s;
                }
                // through the softmax and the scaled dot products
                for (int t2 = 0; t2 <= t; t2++) {
                    size_t ki = ((size_t)b * T + t2) * NH + h;
                    float ds = a[t2] * (da[t2] - dsum) * scale;
                    for (int i = 0; i < HS; i++) {
                        dq[qi * HS + i] += ds * k[ki * HS + i];
                        dk[ki * HS + i] += ds * q[qi * HS + i];
                    }
                }
            }
        }
    }
}

// ---- SwiGLU feed-forward: out = (silu(x W1^T) * (x W3^T)) W2^T

static float silu(float x) { return x / (1.0f + expf(-x)); }

// out[N,C]; a,b,g[N,F] saved for the backward pass
static void swiglu_forward(float *out, float *a, float *b, float *g, const float *inp,
                           const float *w1, const float *w3, const float *w2, int N, int C, int F) {
    matmul_forward(a, inp, w1, N, C, F);
    matmul_forward(b, inp, w3, N, C, F);
    for (size_t i = 0; i < (size_t)N * F; i++) g[i] = silu(a[i]) * b[i];
    matmul_forward(out, g, w2, N, F, C);
}
// dinp[N,C] +=, dw1,dw3,dw2 +=; scratch dg[N,F], da[N,F], db[N,F]
static void swiglu_backward(float *dinp, float *dw1, float *dw3, float *dw2, float *dg, float *da, float *db,
                            const float *dout, const float *inp, const float *a, const float *b, const float *g,
                            const float *w1, const float *w3, const float *w2, int N, int C, int F) {
    memset(dg, 0, (size_t)N * F * sizeof(float));
    matmul_backward(dg, dw2, dout, g, w2, N, F, C);
    for (size_t i = 0; i < (size_t)N * F; i++) {
        float sg = 1.0f / (1.0f + expf(-a[i]));
        db[i] = dg[i] * a[i] * sg;
        da[i] = dg[i] * b[i] * sg * (1.0f + a[i] * (1.0f - sg)); // d silu(a)/da = s(1 + a(1-s))
    }
    matmul_backward(dinp, dw1, da, inp, w1, N, C, F);
    matmul_backward(dinp, dw3, db, inp, w3, N, C, F);
}

// ---- the model state: one parameter buffer, one gradient buffer, AdamW moments, activations

typedef struct {          // one layer's saved activations; N = B*T rows
    float *x;             // [N,C] residual stream entering the layer
    float *h1, *rstd1;    // [N,C], [N]   attention RMSNorm
    float *q;             // [N,NH*dqk]   queries after RoPE
    float *kva;           // [N,R+dr]     latent c and shared RoPE key (after RoPE)
    float *c, *cn, *rstd_c; // [N,R]      latent, normalised latent, [N]
    float *kvb;           // [N,NH*(dn+dv)]
    float *k, *v;         // [N,NH*dqk], [N,NH*dv]  assembled per-head keys and values
    float *att;           // [B,NH,T,T]   attention probabilities
    float *y;             // [N,NH*dv]    attention output before W_O
    float *x2;            // [N,C]        residual after attention
    float *h2, *rstd2;    // [N,C], [N]   FFN RMSNorm
    float *a, *b, *g;     // [N,F]        dense SwiGLU or the shared expert
    float *s;             // [N,E]        router affinities sigmoid(W_r h)
    int *topk;            // [N,K]        chosen experts
    float *gate;          // [N,K]        gate weights, renormalised over the chosen k
    int *slot_of;         // [N*K]        the slot of (n,k) in the gathered expert arrays
    int *slot_token;      // [N*K]        the token of each slot
    int expert_off[MAX_EXPERTS + 1];  // the slots of expert e are expert_off[e]..expert_off[e+1]-1
    float *xg, *ea, *eb, *eg, *eout;  // [N*K,C], [N*K,Fe] x3, [N*K,C]  per-slot expert activations
} LayerActs;

typedef struct {
    Config cfg;
    char preset[16];
    size_t num_params;
    float *params_mem, *grads_mem, *m_mem, *v_mem;
    Params params, grads;
    float *decay_mask;                          // 1 for matrices, 0 for norm weights
    float router_bias[MAX_LAYERS][MAX_EXPERTS]; // aux-loss-free balancing bias (no gradient)
    float expert_load[MAX_LAYERS][MAX_EXPERTS]; // tokens routed to each expert since the last update
    float balance_alpha;                        // weight of the sequence-wise balance loss (0 = off)
    float aux_loss;                             // that loss, from the last forward
    int step;                                   // optimizer steps taken
    // activations, sized for up to cap_N rows and cap_att attention entries
    int B, T, cap_N;
    size_t cap_att;
    LayerActs acts[MAX_LAYERS];
    float *x_final, *hf, *rstdf, *logits, *dlogits;  // [N,C] [N,C] [N] [N,V] [N,V]
    int *tokens;                                     // [N]
    float *dx, *dh, *dbuf1, *dbuf2, *dbuf3, *dbuf4, *dbuf5, *dbuf6, *datt; // backward scratch
} Model;

static void model_init_params(Model *m, uint64_t seed);

static Model *model_create(const Config *cfg, const char *preset, uint64_t seed) {
    Model *m = mallocCheck(sizeof(Model));
    m->cfg = *cfg;
    snprintf(m->preset, sizeof m->preset, "%s", preset);
    if (cfg->n_layer > MAX_LAYERS || cfg->n_experts > MAX_EXPERTS || cfg->d_rope % 2)
        die("config out of range (layers <= %d, experts <= %d, even d_rope)", MAX_LAYERS, MAX_EXPERTS);
    m->num_params = params_layout(cfg, NULL, &m->params);
    m->params_mem = mallocCheck(m->num_params * sizeof(float));
    m->grads_mem = mallocCheck(m->num_params * sizeof(float));
    m->m_mem = mallocCheck(m->num_params * sizeof(float));
    m->v_mem = mallocCheck(m->num_params * sizeof(float));
    params_layout(cfg, m->params_mem, &m->params);
    params_layout(cfg, m->grads_mem, &m->grads);
    // weight decay on matrices only: norm weights are the tensors of one row
    m->decay_mask = mallocCheck(m->num_params * sizeof(float));
    for (size_t i = 0; i < m->num_params; i++) m->decay_mask[i] = 1.0f;
    for (int l = 0; l < cfg->n_layer; l++) {
        LayerParams *L = &m->params.layer[l];
        memset(m->decay_mask + (L->attn_norm - m->params_mem), 0, cfg->d_model * sizeof(float));
        memset(m->decay_mask + (L->kv_norm - m->params_mem), 0, cfg->kv_rank * sizeof(float));
        memset(m->decay_mask + (L->ffn_norm - m->params_mem), 0, cfg->d_model * sizeof(float));
    }
    memset(m->decay_mask + (m->params.norm_f - m->params_mem), 0, cfg->d_model * sizeof(float));
    model_init_params(m, seed);
#ifdef R1_CUDA
    cuda_register_params(m->params_mem, m->num_params);
#endif
    return m;
}

// normal(0, 0.02) for matrices (output projections scaled by 1/sqrt(2L), as GPT-2), 1 for norms
static void model_init_params(Model *m, uint64_t seed) {
    Rng r = rng_seed(seed);
    Config *c = &m->cfg;
    float std = 0.02f, std_out = 0.02f / sqrtf(2.0f * c->n_layer);
    for (size_t i = 0; i < m->num_params; i++) m->params_mem[i] = m->decay_mask[i] ? std * rng_normal(&r) : 1.0f;
    for (int l = 0; l < c->n_layer; l++) {
        LayerParams *L = &m->params.layer[l];
        int F = is_moe_layer(c, l) ? c->d_ff_expert : c->d_ff_dense;
        size_t n_wo = (size_t)c->d_model * c->n_head * c->d_v, n_w2 = (size_t)c->d_model * F;
        for (size_t i = 0; i < n_wo; i++) L->wo[i] = std_out * rng_normal(&r);
        for (size_t i = 0; i < n_w2; i++) L->w2[i] = std_out * rng_normal(&r);
        if (is_moe_layer(c, l))
            for (size_t i = 0; i < n_w2 * c->n_experts; i++) L->ew2[i] = std_out * rng_normal(&r);
    }
    memset(m->router_bias, 0, sizeof m->router_bias);
}

static void acts_free(Model *m) {
    for (int l = 0; l < MAX_LAYERS; l++) {
        LayerActs *A = &m->acts[l];
        float *fs[] = { A->x, A->h1, A->rstd1, A->q, A->kva, A->c, A->cn, A->rstd_c, A->kvb, A->k, A->v, A->att,
                        A->y, A->x2, A->h2, A->rstd2, A->a, A->b, A->g, A->s, A->gate, A->xg, A->ea, A->eb, A->eg, A->eout };
        for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) free(fs[i]);
        free(A->topk); free(A->slot_of); free(A->slot_token);
    }
    float *fs[] = { m->x_final, m->hf, m->rstdf, m->logits, m->dlogits, m->dx, m->dh, m->dbuf1, m->dbuf2,
                    m->dbuf3, m->dbuf4, m->dbuf5, m->dbuf6, m->datt };
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) free(fs[i]);
    free(m->tokens);
    memset(m->acts, 0, sizeof m->acts);
}

static void model_free(Model *m) {
    if (!m) return;
    free(m->params_mem); free(m->grads_mem); free(m->m_mem); free(m->v_mem); free(m->decay_mask);
    acts_free(m);
    free(m);
}

static int imax(int a, int b) { return a > b ? a : b; }

// (re)allocates the activations for B rows of T tokens
static void model_ensure_acts(Model *m, int B, int T) {
    Config *c = &m->cfg;
    int N = B * T;
    size_t att = (size_t)B * c->n_head * T * T;
    m->B = B; m->T = T;
    if (N <= m->cap_N && att <= m->cap_att) return;
    acts_free(m);
    N = imax(N, m->cap_N);
    if (att < m->cap_att) att = m->cap_att;
    m->cap_N = N; m->cap_att = att;
    int C = c->d_model, NH = c->n_head, dqk = c->d_nope + c->d_rope, R = c->kv_rank, dr = c->d_rope;
    int K = c->top_k, E = c->n_experts;
    size_t fsz = sizeof(float);
    int widest = imax(imax(C, NH * dqk), imax(NH * (c->d_nope + c->d_v), imax(c->d_ff_dense, c->d_ff_expert)));
    widest = imax(widest, imax(R + dr, E));
    for (int l = 0; l < c->n_layer; l++) {
        LayerActs *A = &m->acts[l];
        int F = is_moe_layer(c, l) ? c->d_ff_expert : c->d_ff_dense;
        A->x = mallocCheck((size_t)N * C * fsz);     A->h1 = mallocCheck((size_t)N * C * fsz);
        A->rstd1 = mallocCheck((size_t)N * fsz);     A->q = mallocCheck((size_t)N * NH * dqk * fsz);
        A->kva = mallocCheck((size_t)N * (R + dr) * fsz);
        A->c = mallocCheck((size_t)N * R * fsz);     A->cn = mallocCheck((size_t)N * R * fsz);
        A->rstd_c = mallocCheck((size_t)N * fsz);
        A->kvb = mallocCheck((size_t)N * NH * (c->d_nope + c->d_v) * fsz);
        A->k = mallocCheck((size_t)N * NH * dqk * fsz); A->v = mallocCheck((size_t)N * NH * c->d_v * fsz);
        A->att = mallocCheck(att * fsz);
        A->y = mallocCheck((size_t)N * NH * c->d_v * fsz);
        A->x2 = mallocCheck((size_t)N * C * fsz);    A->h2 = mallocCheck((size_t)N * C * fsz);
        A->rstd2 = mallocCheck((size_t)N * fsz);
        A->a = mallocCheck((size_t)N * F * fsz); A->b = mallocCheck((size_t)N * F * fsz); A->g = mallocCheck((size_t)N * F * fsz);
        if (is_moe_layer(c, l)) {
            A->s = mallocCheck((size_t)N * E * fsz);
            A->topk = mallocCheck((size_t)N * K * sizeof(int));
            A->gate = mallocCheck((size_t)N * K * fsz);
            A->slot_of = mallocCheck((size_t)N * K * sizeof(int));
            A->slot_token = mallocCheck((size_t)N * K * sizeof(int));
            A->xg = mallocCheck((size_t)N * K * C * fsz);
            A->ea = mallocCheck((size_t)N * K * F * fsz); A->eb = mallocCheck((size_t)N * K * F * fsz);
            A->eg = mallocCheck((size_t)N * K * F * fsz); A->eout = mallocCheck((size_t)N * K * C * fsz);
        }
    }
    int wk = imax(widest, K * C);
    m->x_final = mallocCheck((size_t)N * C * fsz); m->hf = mallocCheck((size_t)N * C * fsz);
    m->rstdf = mallocCheck((size_t)N * fsz);
    m->logits = mallocCheck((size_t)N * c->vocab * fsz); m->dlogits = mallocCheck((size_t)N * c->vocab * fsz);
    m->tokens = mallocCheck((size_t)N * sizeof(int));
    m->dx = mallocCheck((size_t)N * C * fsz); m->dh = mallocCheck((size_t)N * C * fsz);
    m->dbuf1 = mallocCheck((size_t)N * wk * fsz); m->dbuf2 = mallocCheck((size_t)N * wk * fsz);
    m->dbuf3 = mallocCheck((size_t)N * wk * fsz); m->dbuf4 = mallocCheck((size_t)N * wk * fsz);
    m->dbuf5 = mallocCheck((size_t)N * wk * fsz); m->dbuf6 = mallocCheck((size_t)N * wk * fsz);
    m->datt = mallocCheck(att * fsz);
}

// ---- DeepSeekMoE (DeepSeek-V3 section 2.1.2, eq. 12-16)
// out = shared(h) + sum over the top-k experts of gate_k * expert_k(h)
// s_i = sigmoid(u^T e_i); top-k chosen by s_i + b_i (the bias only chooses); gate = s / sum of chosen s.
// Dropless: each expert runs on exactly the tokens routed to it, gathered into a contiguous block.

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// out[N,C] <- h[N,C]; fills the routing and per-slot activations of A; adds to load[E]
static void moe_forward(float *out, LayerActs *A, const LayerParams *L, const float *bias, float *load,
                        const float *h, int N, int C, int E, int K, int F) {
    // the shared expert, on every token
    swiglu_forward(out, A->a, A->b, A->g, h, L->w1, L->w3, L->w2, N, C, F);
    // router: affinities and the top-k choice (ties go to the lower index)
    matmul_forward(A->s, h, L->router, N, C, E);
    int count[MAX_EXPERTS] = {0};
    for (int n = 0; n < N; n++) {
        float *s = A->s + (size_t)n * E;
        for (int e = 0; e < E; e++) s[e] = sigmoidf(s[e]);
        int *top = A->topk + (size_t)n * K;
        float sum = 0.0f;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= top[j] == e;
                if (!taken && (best < 0 || s[e] + bias[e] > s[best] + bias[best])) best = e;
            }
            top[k] = best;
            sum += s[best];
            count[best]++;
        }
        for (int k = 0; k < K; k++) A->gate[(size_t)n * K + k] = s[top[k]] / sum;
    }
    // gather: slots sorted by expert (a counting sort), then each expert is one dense SwiGLU
    A->expert_off[0] = 0;
    for (int e = 0; e < E; e++) { A->expert_off[e + 1] = A->expert_off[e] + count[e]; if (load) load[e] += count[e]; }
    int fill[MAX_EXPERTS];
    for (int e = 0; e < E; e++) fill[e] = A->expert_off[e];
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) {
            int slot = fill[A->topk[(size_t)n * K + k]]++;
            A->slot_of[(size_t)n * K + k] = slot;
            A->slot_token[slot] = n;
            memcpy(A->xg + (size_t)slot * C, h + (size_t)n * C, C * sizeof(float));
        }
    }
    for (int e = 0; e < E; e++) {
        int o = A->expert_off[e], ne = A->expert_off[e + 1] - o;
        if (ne == 0) continue;
        swiglu_forward(A->eout + (size_t)o * C, A->ea + (size_t)o * F, A->eb + (size_t)o * F, A->eg + (size_t)o * F,
                       A->xg + (size_t)o * C, L->ew1 + (size_t)e * F * C, L->ew3 + (size_t)e * F * C,
                       L->ew2 + (size_t)e * C * F, ne, C, F);
    }
    // scatter: weighted sum of each token's experts
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) {
            float gk = A->gate[(size_t)n * K + k];
            const float *eo = A->eout + (size_t)A->slot_of[(size_t)n * K + k] * C;
            for (int i = 0; i < C; i++) out[(size_t)n * C + i] += gk * eo[i];
        }
    }
}

// the sequence-wise balance loss (DeepSeek-V3 eq. 17-20): alpha * sum_i f_i P_i per sequence, averaged
// over the B sequences. f_i counts the chosen experts (a constant), P_i averages the normalised
// affinities. Returns the loss; if ds is not NULL, adds its gradient with respect to s[N,E].
static float balance_loss(float *ds, const LayerActs *A, float alpha, int B, int T, int E, int K) {
    float loss = 0.0f;
    for (int b = 0; b < B; b++) {
        float f[MAX_EXPERTS] = {0}, P[MAX_EXPERTS] = {0};
        for (int t = 0; t < T; t++) {
            size_t n = (size_t)b * T + t;
            for (int k = 0; k < K; k++) f[A->topk[n * K + k]] += (float)E / (K * T);
            float sum = 0.0f;
            for (int e = 0; e < E; e++) sum += A->s[n * E + e];
            for (int e = 0; e < E; e++) P[e] += A->s[n * E + e] / sum / T;
        }
        for (int e = 0; e < E; e++) loss += alpha * f[e] * P[e] / B;
        if (!ds) continue;
        for (int t = 0; t < T; t++) { // through P_i = mean_t s_i / sum_j s_j
            size_t n = (size_t)b * T + t;
            float sum = 0.0f, dot = 0.0f;
            for (int e = 0; e < E; e++) sum += A->s[n * E + e];
            for (int e = 0; e < E; e++) dot += alpha * f[e] / (B * T) * A->s[n * E + e] / sum;
            for (int e = 0; e < E; e++) ds[n * E + e] += (alpha * f[e] / (B * T) - dot) / sum;
        }
    }
    return loss;
}

// dh[N,C] += gradient of moe_forward's output; grads into G. The top-k choice is a constant.
// scratch: dsl, dxg [N*K,C] (per-slot output and input gradients), dg, da, db [N,F], ds [N,E]
static void moe_backward(float *dh, LayerParams *G, const LayerActs *A, const LayerParams *L, const float *dout,
                         const float *h, float alpha, int B, int T, int C, int E, int K, int F,
                         float *dsl, float *dxg, float *dg, float *da, float *db, float *ds) {
    int N = B * T;
    // the shared expert
    swiglu_backward(dh, G->w1, G->w3, G->w2, dg, da, db, dout, h, A->a, A->b, A->g, L->w1, L->w3, L->w2, N, C, F);
    // per slot: d expert output = gate * dy, d gate = dy . expert output
    memset(ds, 0, (size_t)N * E * sizeof(float));
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C;
        const int *top = A->topk + (size_t)n * K;
        float dgate[MAX_EXPERTS], sum = 0.0f, dot = 0.0f;
        for (int k = 0; k < K; k++) {
            int slot = A->slot_of[(size_t)n * K + k];
            float gk = A->gate[(size_t)n * K + k], d = 0.0f;
            for (int i = 0; i < C; i++) { d += dy[i] * A->eout[(size_t)slot * C + i]; dsl[(size_t)slot * C + i] = gk * dy[i]; }
            dgate[k] = d;
            sum += A->s[(size_t)n * E + top[k]];
        }
        // gate_k = s_k / sum_j s_j over the chosen j
        for (int k = 0; k < K; k++) dot += dgate[k] * A->s[(size_t)n * E + top[k]];
        for (int k = 0; k < K; k++) ds[(size_t)n * E + top[k]] += dgate[k] / sum - dot / (sum * sum);
    }
    if (alpha > 0.0f) balance_loss(ds, A, alpha, B, T, E, K);
    // through the sigmoid and the router matmul
    for (size_t i = 0; i < (size_t)N * E; i++) ds[i] *= A->s[i] * (1.0f - A->s[i]);
    matmul_backward(dh, G->router, ds, h, L->router, N, C, E);
    // each expert on its gathered tokens
    memset(dxg, 0, (size_t)N * K * C * sizeof(float));
    for (int e = 0; e < E; e++) {
        int o = A->expert_off[e], ne = A->expert_off[e + 1] - o;
        if (ne == 0) continue;
        swiglu_backward(dxg + (size_t)o * C, G->ew1 + (size_t)e * F * C, G->ew3 + (size_t)e * F * C,
                        G->ew2 + (size_t)e * C * F, dg, da, db, dsl + (size_t)o * C, A->xg + (size_t)o * C,
                        A->ea + (size_t)o * F, A->eb + (size_t)o * F, A->eg + (size_t)o * F,
                        L->ew1 + (size_t)e * F * C, L->ew3 + (size_t)e * F * C, L->ew2 + (size_t)e * C * F, ne, C, F);
    }
    // scatter the gathered input gradients back to their tokens
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            const float *d = dxg + (size_t)A->slot_of[(size_t)n * K + k] * C;
            for (int i = 0; i < C; i++) dh[(size_t)n * C + i] += d[i];
        }
}

// ---- Multi-head Latent Attention (DeepSeek-V2 section 2.1, DeepSeek-V3 eq. 1-11), training form
// q = W_Q h, split per head into [q_nope ; q_rope], RoPE on q_rope
// [c ; k_rope] = W_KVA h, RoPE on k_rope (one key shared by all heads), c RMS-normed
// [k_nope ; v] = W_KVB c per head;  k = [k_nope ; k_rope];  softmax(q k / sqrt(dn + dr)) v;  W_O

typedef struct {          // the KV cache of generation: per layer keys [B,T,NH,dqk] and values [B,T,NH,dv]
    float *k[MAX_LAYERS], *v[MAX_LAYERS];
    int B, T;
} KVCache;

// y[B,NH*HV] <- q[B,NH*HS] at position pos against the cached keys and values 0..pos
static void attention_decode(float *y, const float *q, const float *kc, const float *vc, int B, int Tc, int pos,
                             int NH, int HS, int HV) {
    float scale = 1.0f / sqrtf((float)HS);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            float a[1024];  // pos < context <= 1024
            const float *qt = q + ((size_t)b * NH + h) * HS;
            float maxv = -INFINITY, sum = 0.0f;
            for (int t2 = 0; t2 <= pos; t2++) {
                const float *kt = kc + (((size_t)b * Tc + t2) * NH + h) * HS;
                float s = 0.0f;
                for (int i = 0; i < HS; i++) s += qt[i] * kt[i];
                a[t2] = s * scale;
                if (a[t2] > maxv) maxv = a[t2];
            }
            for (int t2 = 0; t2 <= pos; t2++) { a[t2] = expf(a[t2] - maxv); sum += a[t2]; }
            float *o = y + ((size_t)b * NH + h) * HV;
            for (int i = 0; i < HV; i++) o[i] = 0.0f;
            for (int t2 = 0; t2 <= pos; t2++) {
                const float *vt = vc + (((size_t)b * Tc + t2) * NH + h) * HV;
                for (int i = 0; i < HV; i++) o[i] += a[t2] / sum * vt[i];
            }
        }
    }
}

// out[N,C] <- x[N,C] (N = B*T rows at positions pos..pos+T-1); with a cache, T == 1
static void mla_forward(float *out, LayerActs *A, const LayerParams *L, const Config *c, const float *x,
                        int B, int T, KVCache *cache, int layer, int pos) {
    int N = B * T, C = c->d_model, NH = c->n_head, dn = c->d_nope, dr = c->d_rope, dqk = dn + dr;
    int dv = c->d_v, R = c->kv_rank;
    rmsnorm_forward(A->h1, A->rstd1, x, L->attn_norm, N, C);
    matmul_forward(A->q, A->h1, L->wq, N, C, NH * dqk);
    rope_forward(A->q, N, T, pos, NH, dqk, dn, dr);
    matmul_forward(A->kva, A->h1, L->wkva, N, C, R + dr);
    rope_forward(A->kva, N, T, pos, 1, R + dr, R, dr);
    for (int n = 0; n < N; n++) memcpy(A->c + (size_t)n * R, A->kva + (size_t)n * (R + dr), R * sizeof(float));
    rmsnorm_forward(A->cn, A->rstd_c, A->c, L->kv_norm, N, R);
    matmul_forward(A->kvb, A->cn, L->wkvb, N, R, NH * (dn + dv));
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < NH; h++) {
            const float *kv = A->kvb + ((size_t)n * NH + h) * (dn + dv);
            float *k = A->k + ((size_t)n * NH + h) * dqk;
            memcpy(k, kv, dn * sizeof(float));
            memcpy(k + dn, A->kva + (size_t)n * (R + dr) + R, dr * sizeof(float)); // the shared RoPE key
            memcpy(A->v + ((size_t)n * NH + h) * dv, kv + dn, dv * sizeof(float));
        }
    }
    if (cache) {
        for (int b = 0; b < B; b++) {
            memcpy(cache->k[layer] + ((size_t)b * cache->T + pos) * NH * dqk, A->k + (size_t)b * NH * dqk, NH * dqk * sizeof(float));
            memcpy(cache->v[layer] + ((size_t)b * cache->T + pos) * NH * dv, A->v + (size_t)b * NH * dv, NH * dv * sizeof(float));
        }
        attention_decode(A->y, A->q, cache->k[layer], cache->v[layer], B, cache->T, pos, NH, dqk, dv);
    } else {
        attention_forward(A->y, A->att, A->q, A->k, A->v, B, T, NH, dqk, dv);
    }
    matmul_forward(out, A->y, L->wo, N, NH * dv, C);
}

// dx[N,C] += gradient through mla_forward given dout[N,C] (dout may alias dx: it is read first)
static void mla_backward(Model *m, int layer, float *dx, const float *dout, const float *x) {
    const Config *c = &m->cfg;
    LayerActs *A = &m->acts[layer];
    const LayerParams *L = &m->params.layer[layer];
    LayerParams *G = &m->grads.layer[layer];
    int B = m->B, T = m->T, N = B * T, C = c->d_model, NH = c->n_head, dn = c->d_nope, dr = c->d_rope;
    int dqk = dn + dr, dv = c->d_v, R = c->kv_rank;
    float *dy = m->dbuf1, *dq = m->dbuf2, *dk = m->dbuf3, *dvv = m->dbuf4, *dkvb = m->dbuf5, *dkva = m->dbuf6;
    memset(dy, 0, (size_t)N * NH * dv * sizeof(float));
    matmul_backward(dy, G->wo, dout, A->y, L->wo, N, NH * dv, C);
    attention_backward(dq, dk, dvv, m->datt, dy, A->q, A->k, A->v, A->att, B, T, NH, dqk, dv);
    // split the key gradient: no-position parts per head, the shared RoPE key summed over heads
    memset(dkva, 0, (size_t)N * (R + dr) * sizeof(float));
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < NH; h++) {
            const float *dkh = dk + ((size_t)n * NH + h) * dqk;
            float *d = dkvb + ((size_t)n * NH + h) * (dn + dv);
            memcpy(d, dkh, dn * sizeof(float));
            memcpy(d + dn, dvv + ((size_t)n * NH + h) * dv, dv * sizeof(float));
            for (int i = 0; i < dr; i++) dkva[(size_t)n * (R + dr) + R + i] += dkh[dn + i];
        }
    }
    rope_backward(dkva, N, T, 0, 1, R + dr, R, dr);
    float *dcn = m->dbuf1, *dc = m->dbuf3; // dy and dk are no longer needed
    memset(dcn, 0, (size_t)N * R * sizeof(float));
    matmul_backward(dcn, G->wkvb, dkvb, A->cn, L->wkvb, N, R, NH * (dn + dv));
    memset(dc, 0, (size_t)N * R * sizeof(float));
    rmsnorm_backward(dc, G->kv_norm, dcn, A->c, L->kv_norm, A->rstd_c, N, R);
    for (int n = 0; n < N; n++) memcpy(dkva + (size_t)n * (R + dr), dc + (size_t)n * R, R * sizeof(float));
    rope_backward(dq, N, T, 0, NH, dqk, dn, dr);
    float *dh1 = m->dh;
    memset(dh1, 0, (size_t)N * C * sizeof(float));
    matmul_backward(dh1, G->wq, dq, A->h1, L->wq, N, C, NH * dqk);
    matmul_backward(dh1, G->wkva, dkva, A->h1, L->wkva, N, C, R + dr);
    rmsnorm_backward(dx, G->attn_norm, dh1, x, L->attn_norm, A->rstd1, N, C);
}

// ---- the whole model

// m->logits[B*T,V] <- tokens[B,T] at positions pos..; with a cache T must be 1 (generation)
static void model_forward(Model *m, const int *tokens, int B, int T, KVCache *cache, int pos) {
    const Config *c = &m->cfg;
    int N = B * T, C = c->d_model;
    model_ensure_acts(m, B, T);
    memcpy(m->tokens, tokens, (size_t)N * sizeof(int));
    embedding_forward(m->acts[0].x, tokens, m->params.wte, N, C);
    m->aux_loss = 0.0f;
    for (int l = 0; l < c->n_layer; l++) {
        LayerActs *A = &m->acts[l];
        const LayerParams *L = &m->params.layer[l];
        float *x_next = l + 1 < c->n_layer ? m->acts[l + 1].x : m->x_final;
        // x2 = x + MLA(norm(x))
        mla_forward(A->x2, A, L, c, A->x, B, T, cache, l, pos);
        for (size_t i = 0; i < (size_t)N * C; i++) A->x2[i] += A->x[i];
        // x_next = x2 + FFN(norm(x2)), dense SwiGLU or DeepSeekMoE
        rmsnorm_forward(A->h2, A->rstd2, A->x2, L->ffn_norm, N, C);
        if (is_moe_layer(c, l)) {
            moe_forward(x_next, A, L, m->router_bias[l], cache ? NULL : m->expert_load[l], A->h2, N, C,
                        c->n_experts, c->top_k, c->d_ff_expert);
            if (m->balance_alpha > 0.0f && !cache)
                m->aux_loss += balance_loss(NULL, A, m->balance_alpha, B, T, c->n_experts, c->top_k);
        } else {
            swiglu_forward(x_next, A->a, A->b, A->g, A->h2, L->w1, L->w3, L->w2, N, C, c->d_ff_dense);
        }
        for (size_t i = 0; i < (size_t)N * C; i++) x_next[i] += A->x2[i];
    }
    rmsnorm_forward(m->hf, m->rstdf, m->x_final, m->params.norm_f, N, C);
    matmul_forward(m->logits, m->hf, m->params.head, N, C, c->vocab);
}

// gradients of (loss whose d/dlogits is in m->dlogits) + aux_loss, accumulated into m->grads
static void model_backward(Model *m) {
    const Config *c = &m->cfg;
    int B = m->B, T = m->T, N = B * T, C = c->d_model;
    float *dx = m->dx;
    memset(dx, 0, (size_t)N * C * sizeof(float));
    memset(m->dh, 0, (size_t)N * C * sizeof(float));
    matmul_backward(m->dh, m->grads.head, m->dlogits, m->hf, m->params.head, N, C, c->vocab);
    rmsnorm_backward(dx, m->grads.norm_f, m->dh, m->x_final, m->params.norm_f, m->rstdf, N, C);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        LayerActs *A = &m->acts[l];
        const LayerParams *L = &m->params.layer[l];
        LayerParams *G = &m->grads.layer[l];
        // dx holds d x_next; through the FFN into d x2
        float *dh2 = m->dh;
        memset(dh2, 0, (size_t)N * C * sizeof(float));
        if (is_moe_layer(c, l))
            moe_backward(dh2, G, A, L, dx, A->h2, m->balance_alpha, B, T, C, c->n_experts, c->top_k, c->d_ff_expert,
                         m->dbuf1, m->dbuf2, m->dbuf3, m->dbuf4, m->dbuf5, m->dbuf6);
        else
            swiglu_backward(dh2, G->w1, G->w3, G->w2, m->dbuf3, m->dbuf4, m->dbuf5, dx, A->h2, A->a, A->b, A->g,
                            L->w1, L->w3, L->w2, N, C, c->d_ff_dense);
        rmsnorm_backward(dx, G->ffn_norm, dh2, A->x2, L->ffn_norm, A->rstd2, N, C);
        // through the attention into d x
        mla_backward(m, l, dx, dx, A->x);
    }
    embedding_backward(m->grads.wte, dx, m->tokens, N, C);
}

static void model_zero_grad(Model *m) { memset(m->grads_mem, 0, m->num_params * sizeof(float)); }

// ---- loss, optimizer

// loss = sum_n w[n] * -log softmax(logits[n])[targets[n]];  dlogits[N,V] = w[n] (softmax - onehot)
static float crossentropy_forward_backward(float *dlogits, const float *logits, const int *targets,
                                           const float *w, int N, int V) {
    double loss = 0.0;
    #pragma omp parallel for reduction(+:loss) schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *dz = dlogits + (size_t)n * V;
        if (w[n] == 0.0f) { memset(dz, 0, V * sizeof(float)); continue; }
        float maxv = z[0], sum = 0.0f;
        for (int i = 1; i < V; i++) if (z[i] > maxv) maxv = z[i];
        for (int i = 0; i < V; i++) { dz[i] = expf(z[i] - maxv); sum += dz[i]; }
        for (int i = 0; i < V; i++) dz[i] = w[n] * dz[i] / sum;
        dz[targets[n]] -= w[n];
        loss += w[n] * (logf(sum) + maxv - z[targets[n]]);
    }
    return (float)loss;
}

// global gradient-norm clipping; returns the norm before clipping
static float grad_clip(Model *m, float max_norm) {
    double ss = 0.0;
    for (size_t i = 0; i < m->num_params; i++) ss += (double)m->grads_mem[i] * m->grads_mem[i];
    float norm = (float)sqrt(ss);
    if (max_norm > 0.0f && norm > max_norm) {
        float s = max_norm / norm;
        for (size_t i = 0; i < m->num_params; i++) m->grads_mem[i] *= s;
    }
    return norm;
}

// AdamW (Loshchilov & Hutter): decoupled weight decay on matrices only
static void adamw_update(Model *m, float lr, float beta1, float beta2, float eps, float weight_decay) {
    m->step++;
    float bc1 = 1.0f - powf(beta1, (float)m->step), bc2 = 1.0f - powf(beta2, (float)m->step);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m->num_params; i++) {
        float g = m->grads_mem[i];
        m->m_mem[i] = beta1 * m->m_mem[i] + (1.0f - beta1) * g;
        m->v_mem[i] = beta2 * m->v_mem[i] + (1.0f - beta2) * g * g;
        float mhat = m->m_mem[i] / bc1, vhat = m->v_mem[i] / bc2;
        m->params_mem[i] -= lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * m->decay_mask[i] * m->params_mem[i]);
    }
#ifdef R1_CUDA
    cuda_params_changed(m->params_mem);
#endif
}

// auxiliary-loss-free balancing (DeepSeek-V3 section 2.1.2): b_i += gamma * sign(mean load - load_i)
static void router_bias_update(Model *m, float gamma) {
    const Config *c = &m->cfg;
    for (int l = 0; l < c->n_layer; l++) {
        if (!is_moe_layer(c, l)) continue;
        float mean = 0.0f;
        for (int e = 0; e < c->n_experts; e++) mean += m->expert_load[l][e] / c->n_experts;
        for (int e = 0; e < c->n_experts; e++) {
            float err = mean - m->expert_load[l][e];
            m->router_bias[l][e] += gamma * (float)((err > 0) - (err < 0));
        }
    }
    memset(m->expert_load, 0, sizeof m->expert_load);
}

// learning rate: linear warmup, then cosine decay to lr_min
static float lr_schedule(int step, int total, int warmup, float lr_max, float lr_min) {
    if (step < warmup) return lr_max * (step + 1) / warmup;
    if (step >= total) return lr_min;
    float progress = (float)(step - warmup) / (float)imax(1, total - warmup);
    return lr_min + 0.5f * (lr_max - lr_min) * (1.0f + cosf(3.14159265f * progress));
}
