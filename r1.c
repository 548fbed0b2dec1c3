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
