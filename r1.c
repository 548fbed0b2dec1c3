/*
r1.c: the DeepSeek-R1 training recipe at toy scale, in one C file.

Part I, the algorithm, reads top to bottom in the order of the papers:
  1. utilities, random numbers, the character tokenizer
  2. the toy worlds: integer sums solved directly, by chain of thought, or with checks; countdown, a
     target reached from three digits by tries that are checked and retried
  3. the model: configuration, parameters and state of a tiny DeepSeek-V3
  4. the layers, forward and hand-written backward side by side: matmul, embedding, RMSNorm, RoPE,
     causal attention, SwiGLU
  5. Multi-head Latent Attention (DeepSeek-V2, DeepSeek-V3), its latent KV cache and absorbed decoding
  6. DeepSeekMoE and its balancing (auxiliary-loss-free bias, sequence-wise balance loss)
  7. the whole model, forward and backward
  8. training: cross-entropy, AdamW, warmup + cosine, one step (lm_step)
  9. generation with MLA's latent KV cache
 10. rule rewards (R1 paper, section 2.2.2), the sums' and countdown's
 11. GRPO (DeepSeekMath eq. 1-4, R1 section 2.2.1): advantages, the loss, one step (grpo_step), and
     R1-Zero's loop (grpo_iteration, DeepSeekMath Algorithm 1)
 12. rejection sampling's rule and the distillation loss (R1 sections 2.3.3 and 2.4)
Part II, the machinery that runs it:
 13. the machine: clock, threads, processes (data parallel over MPI), folders and files
 14. fast kernels and their dispatch: r1's packed gemm, OpenBLAS, CUDA, blocked attention, threaded generation
 15. data files and the generator of tiny_data/
 16. checkpoints
 17. rollouts and evaluation
 18. runs: folders, logs, stopping
 19. pretraining and SFT runs (train_lm)
 20. RL runs: R1-Zero and reasoning RL (grpo_train)
 21. distillation runs
 22. the report of a run
 23. the roads R1 did not take: a process reward model, Monte Carlo tree search
 24. the command line and the pipeline

Build: make        Test: make test        See README.md and NOTES.md.
Exercises: "// exercise N begin: TITLE" ... "// exercise N end" bound the code of exercise N (exercises.md).
*/
#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <ctype.h>
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

// ============================================================================
// PART I. THE ALGORITHM
//
// The recipe as the papers write it: the model (DeepSeek-V2/V3), its training, generation, the rule
// rewards, GRPO (DeepSeekMath, R1), rejection sampling and distillation (R1). Plain loops, forward and
// backward side by side. It calls into Part II only through the kernels declared in section 1.
// ============================================================================

// ----------------------------------------------------------------------------
// 1. utilities, random numbers, the character tokenizer

// every error the user can cause ends here: one line, non-zero exit
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
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

static int imax(int a, int b) { return a > b ? a : b; }
static int imin(int a, int b) { return a < b ? a : b; }
static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// p[n] <- softmax(z[n] / temperature), shifted by the maximum so that exp never overflows (p may be z).
// Returns log p[target] computed from the logits (0 if target < 0).
static float softmax(float *p, const float *z, int n, float temperature, int target) {
    float maxv = -INFINITY, sum = 0.0f;
    for (int i = 0; i < n; i++) if (z[i] > maxv) maxv = z[i];
    float shifted = target >= 0 ? (z[target] - maxv) / temperature : 0.0f;
    for (int i = 0; i < n; i++) { p[i] = expf((z[i] - maxv) / temperature); sum += p[i]; }
    for (int i = 0; i < n; i++) p[i] /= sum;
    return target >= 0 ? shifted - logf(sum) : 0.0f;
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
static Rng rng_seed(uint64_t seed) {
    Rng r = { .s = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull };
    rng_u32(&r);
    return r;
}

// a well-mixed 64-bit hash (splitmix64), used to split held-out problems
static uint64_t hash64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// The hooks into Part II, all of them. Its fast kernels (section 14) are offered the work of matmul,
// attention, RoPE, MLA decoding, the model's forward and backward (data-parallel) and generation (threaded)
// first; one that declines (returns 0, as every one does under --kernels plain) leaves it to Part I's own
// loops. The parameter buffers tell the kernels when they are made, changed or freed (the CUDA build keeps
// a copy on the device). kernels_reentrant(): whether the kernels may run on several threads at once.
typedef struct Model Model;
typedef struct KVCache KVCache;
static int kernel_matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC);
static int kernel_matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                                  const float *weight, int N, int C, int OC);
static int kernel_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                                    int B, int T, int NH, int HS, int HV);
static int kernel_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                     const float *q, const float *k, const float *v, const float *att,
                                     int B, int T, int NH, int HS, int HV);
static int kernel_rope(float *x, int N, int T, int pos0, int H, int hs, int off, int dr, float sign);
static int kernel_mla_decode(float *y, const float *q, KVCache *cache, int layer, const float *wkvb, int B,
                             int pos, int NH, int dn, int dr, int dv, int R);
// (the backward declines after a forward that did not run in shares: one thread, or with a cache)
static int kernel_model_forward(Model *m, const int *tokens, const int *len, int B, int T, int with_cache);
static int kernel_model_backward(Model *m);
static int kernel_generate(Model *m, int *seqs, const int *prompt_len, int *seq_len, int B, int max_len,
                           float temperature, int check_rule, int max_tries, Rng *rngs);
static int kernels_reentrant(void);
static void kernel_params_register(const float *params, size_t n);
static void kernel_params_changed(const float *params);
static void kernel_params_free(const float *params);
// Part II's experiment tools: generate_rows' decoding rules (eval --check forces or bans the check, or in
// the countdown world the retry, and --tries caps the tries: the next token of row[0..len) from logits[V]
// under rule and max_tries, never CHECK_FREE without a cap), and the MoE's diagnostics under RL (after each
// forward of a GRPO step's first pass, on the tokens of weight w > 0)
typedef struct GrpoStepLog GrpoStepLog;
static int next_token(float *logits, int V, float temperature, int rule, int max_tries, const int *row,
                      int len, int *forcing, Rng *rng);
static void moe_diagnostics(const Model *m, const float *w, GrpoStepLog *log);
// Data parallel over processes (make r1_mpi; nothing to do in one process): this process's share
// [*first, *first + *count) of a step's n prompts or documents, and after the backward pass the sum over
// the processes of the gradients, of the expert loads and of the batch's *rows (their shares')
static void dist_share(int n, int *first, int *count);
static void dist_sum_gradients(Model *m, int *rows);

// ---- the character tokenizer: five special tokens, then one id per character

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
// 2. the toy world (NOTES.md "The toy world")
//
// A problem is a sum of two-digit numbers; its difficulty is the number of operands (2 to MAX_OPERANDS;
// ./r1 gen --operands chooses the trained ones, four by default, and --held-out-operands one that only
// the test set holds).
// Prompt:   e:51+76+12+85=          ("e:" English, "j:" Japanese-like: the target language)
// Response: <think>...</think><answer>224</answer><eos>, the answer always three digits.
// Three solution styles, as web text mixes them:
//   direct   <think></think><answer>224</answer>                          exactly correct
//   chain    <think>01+06+02+05=14 carry 1 05+07+01+08+01=22</think>...  column sums
//   checked  the chain, then an independent check of each column that re-adds it in easy steps
//            (pairs, then their total): ... check 07 07 14 okay 14 check 12 09 21 22 okay 22
//            and with probability SLIP_PROB a column sum is first written off by one and its check
//            catches it: 01+06+02+05=15 ... check 07 07 14 wait 14
// The direct answer of four numbers is out of reach of a small model in one pass; each step of
// a chain is easy. RL then has something to select (see NOTES.md).
// Here is what RL reads of each world: the prompt's form and its parser; section 10 holds the rules that
// judge a response. Section 15 makes the problems and writes the corpora in these styles (./r1 gen).

#define MAX_OPERANDS 6
#define MAX_STYLES 6  // the most solution styles of a world (countdown's)
enum { STYLE_DIRECT, STYLE_CHAIN, STYLE_CHECKED, N_STYLES };
static const char *STYLE_NAMES[N_STYLES] = { "direct", "chain", "checked" };
enum { LANG_EN, LANG_JA, N_LANGS };
static const char LANG_TAG[N_LANGS] = { 'e', 'j' };
// the words of the chain of thought in each language: carry, check, okay, wait, and total, the word of the
// summary that ends a cold-start chain. The two languages' words have equal lengths, so a chain has the
// same layout in both.
enum { WORD_CARRY, WORD_CHECK, WORD_OK, WORD_WAIT, WORD_TOTAL, N_WORDS };
static const char *WORDS[N_LANGS][N_WORDS] = {
    { "carry", "check", "okay", "wait", "total" },
    { "agari", "kensa", "yosi", "mate", "gokei" },
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

// the problem of a prompt such as "e:51+76+12+85="; returns 0 if the text is not one
static int problem_parse(const char *prompt, Problem *p) {
    memset(p, 0, sizeof *p);
    if (prompt[0] != LANG_TAG[LANG_EN] && prompt[0] != LANG_TAG[LANG_JA]) return 0;
    if (prompt[1] != ':') return 0;
    p->lang = prompt[0] == LANG_TAG[LANG_JA] ? LANG_JA : LANG_EN;
    for (const char *s = prompt + 2; p->n < MAX_OPERANDS; s++) {
        if (s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9') return 0;  // two digits, 10..99
        p->x[p->n++] = (s[0] - '0') * 10 + (s[1] - '0');
        s += 2;
        if (*s == '=') return s[1] == 0;
        if (*s != '+') return 0;
    }
    return 0;
}

// ---- the countdown world (NOTES.md "The countdown world"): finding the operations is a search,
// checking one try is a times-table fact and a comparison of two numbers.
// Prompt:   e:3 7 8=53              three digits 1-9 and a target 10-99 that one try reaches
// A try:    7*8=56 56-3=53          one operation on two of the digits, one on its result and the third
//                                   digit; + - *, no negative value, the larger digit first
// Verdict:  vs 53 no | vs 53 ok     the target copied, then whether the try's value is the target
// Response: <think>7+8=15 15+3=18 vs 53 no 7*8=56 56-3=53 vs 53 ok</think><answer>7*8=56 56-3=53</answer>
// The answer is the accepted try; the reward re-evaluates it (reward_countdown).
// Five styles, as text mixes them: the direct answer, one try answered without a verdict, one try
// answered after its "no", a search until "ok", and giving up after three "no"s.

#define CD_DIGITS 3
// (CD_OTHER: a response of none of them, e.g. tries without verdicts; the corpus has none)
enum { CD_DIRECT, CD_ONE_TRY, CD_TRY_NO, CD_SEARCH, CD_GIVE_UP, CD_OTHER, N_CD_STYLES };
static const char *CD_STYLE_NAMES[N_CD_STYLES] = { "direct", "one_try", "try_no", "search", "give_up",
                                                    "other" };
// the words of a verdict in each language (equal lengths: the same layout in both)
enum { CD_WORD_VS, CD_WORD_OK, CD_WORD_NO, N_CD_WORDS };
static const char *CD_WORDS[N_LANGS][N_CD_WORDS] = { { "vs", "ok", "no" }, { "to", "ii", "ie" } };

// a word of a verdict of either language (CD_WORD_*), -1 otherwise
static int cd_word(const char *w, int len) {
    for (int lang = 0; lang < N_LANGS; lang++)
        for (int i = 0; i < N_CD_WORDS; i++)
            if ((int)strlen(CD_WORDS[lang][i]) == len && strncmp(CD_WORDS[lang][i], w, len) == 0) return i;
    return -1;
}

typedef struct { int digit[CD_DIGITS], target, lang; } Countdown;

static int apply_op(int x, char op, int y) { return op == '+' ? x + y : op == '-' ? x - y : x * y; }

// the problem of a prompt such as "e:3 7 8=53"; returns 0 if the text is not one
static int countdown_parse(const char *prompt, Countdown *p) {
    memset(p, 0, sizeof *p);
    if ((prompt[0] != LANG_TAG[LANG_EN] && prompt[0] != LANG_TAG[LANG_JA]) || prompt[1] != ':') return 0;
    p->lang = prompt[0] == LANG_TAG[LANG_JA] ? LANG_JA : LANG_EN;
    const char *s = prompt + 2;
    for (int i = 0; i < CD_DIGITS; i++, s += 2) {
        if (s[0] < '1' || s[0] > '9' || s[1] != (i < CD_DIGITS - 1 ? ' ' : '=')) return 0;
        p->digit[i] = s[0] - '0';
    }
    if (s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2]) return 0;
    p->target = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

// ---- the code world (NOTES.md "The code world"): the answer is a program, and the reward runs it on tests.
// Prompt:   e:1=3 2=5 4=9           three examples "input=output" of an unknown function of x, inputs 0-9
//                                   (the alphabet has no parentheses: "f(1)=3" cannot be written, and an
//                                   example needs nothing but its two numbers)
// Answer:   x*2+1                   a program: an expression over x in the grammar below
// A run:    x*2 1=2 no              a candidate run on the shown inputs in order, "input=value" each; the run
//                                   stops at the first value that misses its output, "no"; all met, "ok"
// Response: <think>x*2 1=2 no x*2+1 1=3 2=5 4=9 ok</think><answer>x*2+1</answer>
// The reward runs the answer on the shown examples and on hidden tests, every input 0-9 the prompt does
// not show, whose outputs come from the true function (the prompt file's answer column, code_fn_of).
// The grammar (no parentheses, no loops: a program is read once, left to right, and always ends):
//   program := product (('+' | '-') product)*
//   product := factor ('*' factor)*
//   factor  := 'x=' number          1 when x is the number, else 0 (an Iverson bracket)
//            | 'x' | number         a number: 1-3 digits, no leading zero
// The bracket makes a table of the examples a program: "x=1*3+x=2*5+x=4*9" meets the three examples
// above and nothing else (it is 0 at every other input), the answer that fits the shown tests only.
// Five styles, as text mixes them: the direct answer, one candidate answered without a run, one candidate
// answered after its "no", a search until "ok", and, after two "no"s, the table of the examples.

#define CODE_SHOWN 3             // examples in a prompt
#define CODE_INPUTS 10           // the inputs 0-9: the shown ones, and the hidden tests (the rest)
#define CODE_MAX_LEN 48          // the longest program the interpreter reads
#define CODE_MAX_VALUE 99999     // a value beyond +-CODE_MAX_VALUE is an overflow: the run fails
enum { CODE_DIRECT, CODE_ONE_TRY, CODE_TRY_NO, CODE_SEARCH, CODE_TABLE, CODE_OTHER, N_CODE_STYLES };
static const char *CODE_STYLE_NAMES[N_CODE_STYLES] = { "direct", "one_try", "try_no", "search", "table",
                                                       "other" };

// a number of 1-3 digits at s[i..len-1], without a leading zero; returns the characters read (0: none)
static int code_number(const char *s, int len, int i, int *value) {
    int n = 0;
    *value = 0;
    while (n < 3 && i + n < len && s[i + n] >= '0' && s[i + n] <= '9') {
        *value = *value * 10 + (s[i + n] - '0');
        n++;
    }
    if (i + n < len && s[i + n] >= '0' && s[i + n] <= '9') return 0;  // four digits or more
    return n > 1 && s[i] == '0' ? 0 : n;
}

// the value of the program s[0..len-1] at x: returns 1 and sets *value, or 0 if the text is not a program
// of the grammar or a value (a product, a partial sum) leaves [-CODE_MAX_VALUE, CODE_MAX_VALUE]
static int code_run(const char *s, int len, int x, int *value) {
    if (len <= 0 || len > CODE_MAX_LEN) return 0;
    long long sum = 0, product = 1;
    int sign = 1, i = 0, n, number;
    for (;;) {
        long long factor;
        if (s[i] == 'x' && i + 1 < len && s[i + 1] == '=') {  // x=number
            if (!(n = code_number(s, len, i + 2, &number))) return 0;
            factor = x == number;
            i += 2 + n;
        } else if (s[i] == 'x') {
            factor = x;
            i++;
        } else {
            if (!(n = code_number(s, len, i, &number))) return 0;
            factor = number;
            i += n;
        }
        product *= factor;
        if (product > CODE_MAX_VALUE || product < -CODE_MAX_VALUE) return 0;
        if (i == len) break;
        char op = s[i++];
        if (i == len || (op != '*' && op != '+' && op != '-')) return 0;  // an operator needs a factor after
        if (op == '*') continue;
        sum += sign * product;
        if (sum > CODE_MAX_VALUE || sum < -CODE_MAX_VALUE) return 0;
        sign = op == '+' ? 1 : -1;
        product = 1;
    }
    sum += sign * product;
    if (sum > CODE_MAX_VALUE || sum < -CODE_MAX_VALUE) return 0;
    *value = (int)sum;
    return 1;
}

// the true functions, and the generator's candidates: x*a+b (a 1-9, b 0-9), x*a-b (a 2-9, b 1-9) and
// x*x+x*a+b (a 0-3, b 0-9). Each is a polynomial of degree 2 at most, so two of them that meet the same
// three examples are the same function: a program of these kinds that meets the shown examples passes the
// hidden tests too; only a program of another kind (a table) can tell them apart.
enum { CODE_LINEAR = 1, CODE_MINUS, CODE_SQUARE };
typedef struct { int kind, a, b; } CodeFn;
// a prompt of the code world: its examples in[i]=out[i], inputs increasing
typedef struct { int in[CODE_SHOWN], out[CODE_SHOWN], lang; } CodeTask;

static int code_fn_valid(const CodeFn *f) {
    return (f->kind == CODE_LINEAR && f->a >= 1 && f->a <= 9 && f->b >= 0 && f->b <= 9) ||
           (f->kind == CODE_MINUS && f->a >= 2 && f->a <= 9 && f->b >= 1 && f->b <= 9) ||
           (f->kind == CODE_SQUARE && f->a >= 0 && f->a <= 3 && f->b >= 0 && f->b <= 9);
}

// the prompt file's answer column of the code world: kind*100 + a*10 + b (e.g. 121: x*2+1)
static long code_fn_id(const CodeFn *f) { return f->kind * 100 + f->a * 10 + f->b; }
static int code_fn_of(long id, CodeFn *f) {
    f->kind = (int)(id / 100); f->a = (int)(id / 10 % 10); f->b = (int)(id % 10);
    return id >= 0 && code_fn_valid(f);
}

static int code_fn_value(const CodeFn *f, int x) {
    return f->kind == CODE_LINEAR ? x * f->a + f->b : f->kind == CODE_MINUS ? x * f->a - f->b
           : x * x + x * f->a + f->b;
}

static int code_fn_meets(const CodeFn *f, const CodeTask *t) {
    for (int i = 0; i < CODE_SHOWN; i++) if (code_fn_value(f, t->in[i]) != t->out[i]) return 0;
    return 1;
}

// the prompt's task, e.g. "e:1=3 2=5 4=9" (an output may be negative, "0=-3"); 0 if the text is not one
static int code_parse(const char *prompt, CodeTask *t) {
    memset(t, 0, sizeof *t);
    if ((prompt[0] != LANG_TAG[LANG_EN] && prompt[0] != LANG_TAG[LANG_JA]) || prompt[1] != ':') return 0;
    t->lang = prompt[0] == LANG_TAG[LANG_JA] ? LANG_JA : LANG_EN;
    const char *s = prompt + 2;
    for (int i = 0; i < CODE_SHOWN; i++) {
        if (s[0] < '0' || s[0] > '9' || s[1] != '=') return 0;
        t->in[i] = s[0] - '0';
        if (i > 0 && t->in[i] <= t->in[i - 1]) return 0;
        s += 2;
        int neg = *s == '-', n = code_number(s + neg, (int)strlen(s + neg), 0, &t->out[i]);
        if (!n) return 0;
        if (neg) t->out[i] = -t->out[i];
        s += neg + n;
        if (*s != (i < CODE_SHOWN - 1 ? ' ' : 0)) return 0;
        s++;
    }
    return 1;
}

// how many shown examples program s[0..len-1] meets, in order, before its first miss or error
static int code_meets(const char *s, int len, const CodeTask *t) {
    int n = 0, v;
    while (n < CODE_SHOWN && code_run(s, len, t->in[n], &v) && v == t->out[n]) n++;
    return n;
}

// ----------------------------------------------------------------------------
// 3. the model: configuration, parameters and state of a tiny DeepSeek-V3 (DeepSeek-V3 report, section 2.1)

typedef struct {
    int vocab, context, d_model, n_layer, n_head;
    int d_nope, d_rope, d_v, kv_rank;  // MLA: per-head no-position and RoPE dims, value dim, KV latent rank
    int q_rank;                        // MLA: query latent rank (query compression, DeepSeek-V3 eq. 6-9)
    int n_dense, d_ff_dense;           // the first n_dense layers have a dense SwiGLU of width d_ff_dense
    int n_experts, top_k, d_ff_expert; // DeepSeekMoE: routed experts (plus one shared) of width d_ff_expert
} Config;

typedef struct { const char *name; Config cfg; } Preset;
static const Preset PRESETS[] = {
    // the default teacher: 1,786,368 parameters, 901,632 active per token. Its query latent (96 of the 192
    // query dims) adds parameters at this width; DeepSeek-V3's (1536 of 24,576) removes most of them
    // DeepSeek-V3 has 3 dense layers of 61, 256 routed experts of which 8 are chosen, node-limited routing
    // and multi-token prediction; r1.c has 1 dense layer, 8 experts choose 2, and neither of the last two
    { "teacher", { .vocab = VOCAB_SIZE, .context = 160, .d_model = 128, .n_layer = 4, .n_head = 4,
                   .d_nope = 32, .d_rope = 16, .d_v = 32, .kv_rank = 64, .q_rank = 96,
                   .n_dense = 1, .d_ff_dense = 384, .n_experts = 8, .top_k = 2, .d_ff_expert = 128 } },
    // the distillation student: the teacher's width, 3 layers, 4 experts; 874,592 parameters, 677,984 active
    // per token; smaller ones learned too little from distillation to compare (NOTES.md "The R1 pipeline")
    { "student", { .vocab = VOCAB_SIZE, .context = 160, .d_model = 128, .n_layer = 3, .n_head = 4,
                   .d_nope = 32, .d_rope = 16, .d_v = 32, .kv_rank = 64, .q_rank = 96,
                   .n_dense = 1, .d_ff_dense = 384, .n_experts = 4, .top_k = 2, .d_ff_expert = 128 } },
    // tiny: for tests and gradient checks
    { "tiny",    { .vocab = VOCAB_SIZE, .context = 16, .d_model = 16, .n_layer = 2, .n_head = 2,
                   .d_nope = 4, .d_rope = 4, .d_v = 4, .kv_rank = 8, .q_rank = 8,
                   .n_dense = 1, .d_ff_dense = 24, .n_experts = 4, .top_k = 2, .d_ff_expert = 8 } },
};
#define N_PRESETS ((int)(sizeof(PRESETS) / sizeof(PRESETS[0])))

static const Preset *find_preset(const char *name) {
    for (int i = 0; i < N_PRESETS; i++) if (strcmp(PRESETS[i].name, name) == 0) return &PRESETS[i];
    die("unknown preset '%s' (teacher, student or tiny)", name);
}

#define MAX_LAYERS 16
#define MAX_EXPERTS 64

static int is_moe_layer(const Config *c, int l) { return l >= c->n_dense && c->n_experts > 0; }

// one layer's tensors; each points into the model's one parameter buffer (or gradient buffer)
typedef struct {
    float *attn_norm;  // [C]
    float *wqa;        // [Rq, C]           query latent c_Q = W_DQ h
    float *q_norm;     // [Rq]
    float *wqb;        // [NH*(dn+dr), Rq]  c_Q -> per head: no-position query (W_UQ), RoPE query (W_QR)
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

#define MAX_TENSORS (4 + 16 * MAX_LAYERS)
typedef struct {
    float *wte;        // [V, C] token embedding
    LayerParams layer[MAX_LAYERS];
    float *norm_f;     // [C]
    float *head;       // [V, C] untied output head
    int n_tensors;     // the tensors by name, in buffer order (for messages and tests)
    char name[MAX_TENSORS][24];
    size_t offset[MAX_TENSORS], size[MAX_TENSORS];
} Params;

// lays the tensors out one after another from base (base may be NULL to just count); returns the count
static size_t params_layout(const Config *c, float *base, Params *p) {
    size_t n = 0;
    int C = c->d_model, NH = c->n_head, dqk = c->d_nope + c->d_rope;
    p->n_tensors = 0;
    int layer = -1;
#define TENSOR(ptr, count) do { (ptr) = base ? base + n : NULL; \
    if (layer < 0) snprintf(p->name[p->n_tensors], 24, "%s", &(#ptr)[3]); \
    else snprintf(p->name[p->n_tensors], 24, "l%d.%s", layer, &(#ptr)[3]); \
    p->offset[p->n_tensors] = n; p->size[p->n_tensors++] = (size_t)(count); n += (size_t)(count); } while (0)
    TENSOR(p->wte, (size_t)c->vocab * C);
    for (int l = 0; l < c->n_layer; l++) {
        LayerParams *L = &p->layer[l];
        memset(L, 0, sizeof *L);
        layer = l;
        int F = is_moe_layer(c, l) ? c->d_ff_expert : c->d_ff_dense;
        TENSOR(L->attn_norm, C);
        TENSOR(L->wqa, (size_t)c->q_rank * C);
        TENSOR(L->q_norm, c->q_rank);
        TENSOR(L->wqb, (size_t)NH * dqk * c->q_rank);
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
    layer = -1;
    TENSOR(p->norm_f, C);
    TENSOR(p->head, (size_t)c->vocab * C);
#undef TENSOR
    return n;
}

// ---- the model state: one parameter buffer, one gradient buffer, AdamW moments, activations

typedef struct {          // one layer's saved activations; N = B*T rows
    float *x;             // [N,C] residual stream entering the layer
    float *h1, *rstd1;    // [N,C], [N]   attention RMSNorm
    float *cq, *cqn, *rstd_q; // [N,Rq]   query latent, normalised query latent, [N]
    float *q;             // [N,NH*dqk]   queries after RoPE
    float *kva;           // [N,R+dr]     latent c and shared RoPE key (after RoPE)
    float *c, *cn, *rstd_c; // [N,R]      latent, normalised latent, [N]
    float *kvb;           // [N,NH*(dn+dv)]
    float *k, *v;         // [N,NH*dqk], [N,NH*dv]  assembled per-head keys and values
    float *att;           // [B,NH,T,T]   attention probabilities
    float *y;             // [N,NH*dv]    attention output before W_O
    float *x2;            // [N,C]        residual after attention
    float *h2, *rstd2;    // [N,C], [N]   FFN RMSNorm
    float *a, *b, *g, *e; // [N,F]        dense SwiGLU or the shared expert; e = exp(-a)
    float *s;             // [N,E]        router affinities sigmoid(W_r h)
    int *topk;            // [N,K]        chosen experts
    float *gate;          // [N,K]        gate weights, renormalised over the chosen k
    int *slot_of;         // [N*K]        the slot of (n,k) in the gathered expert arrays
    int *slot_token;      // [N*K]        the token of each slot
    int expert_off[MAX_EXPERTS + 1];  // the slots of expert e are expert_off[e]..expert_off[e+1]-1
    float *xg, *ea, *eb, *eg, *ee, *eout;  // [N*K,C], [N*K,Fe] x4, [N*K,C]  per-slot expert activations
} LayerActs;

typedef struct Model {
    Config cfg;
    char preset[16];
    char world[16];  // the toy world it was trained on: "addition", "countdown" or "code"
    size_t num_params;
    // the parameters: one buffer (params_mem) and its tensors by name
    float *params_mem;
    Params params;
    float router_bias[MAX_LAYERS][MAX_EXPERTS]; // aux-loss-free balancing bias (no gradient)
    float balance_alpha;                        // weight of the sequence-wise balance loss (0 = off)
    // the gradients, and what a training step counts besides them
    float *grads_mem;
    Params grads;
    float expert_load[MAX_LAYERS][MAX_EXPERTS]; // tokens routed to each expert since model_zero_grad
    float aux_loss;                             // the balance loss, from the last forward
    // the optimizer's state
    float *m_mem, *v_mem;                       // AdamW's moments
    float *decay_mask;                          // 1 for matrices, 0 for norm weights
    int step;                                   // training steps taken
    // the run's log (Part II): kept in checkpoints
    double tokens_seen;                         // training tokens so far (the log's tokens/s)
    float load_avg[MAX_LAYERS][MAX_EXPERTS];    // a moving average of expert_load (pretraining's log)
    // activations, sized for up to cap_N rows and cap_att attention entries
    int B, T, cap_N;
    size_t cap_att;
    LayerActs acts[MAX_LAYERS];
    float *x_final, *hf, *rstdf, *logits, *dlogits;  // [N,C] [N,C] [N] [N,V] [N,V]
    int *tokens;                                     // [N]
    int *row_len;                                    // [B] each row's tokens; the positions after are padding
    // the backward's scratch, named by what it holds; every layer reuses it
    float *dx, *dh;              // [N,C] d the residual stream, d a sublayer's normed input
    float *d_attn_y, *d_q, *d_k, *d_v;  // MLA: [N,NH*dv] [N,NH*dqk] [N,NH*dqk] [N,NH*dv]
    float *d_kvb, *d_kva;        // MLA: [N,NH*(dn+dv)] d the up-projected keys, values;
                                 // [N,R+dr] d [c ; k_rope]
    float *d_c_normed, *d_c, *d_cq_normed, *d_cq;  // MLA: [N,R] [N,R] [N,Rq] [N,Rq] d the latents
    float *d_ffn_g, *d_ffn_a, *d_ffn_b;  // SwiGLU: [N,F] of the dense FFN, or [N*K,Fe] of every expert slot
    float *d_slot_out, *d_slot_in;       // MoE: [N*K,C] d each slot's output and input
    float *d_affinity;                   // MoE: [N,E] d the router affinities
    float *datt;                         // [B,NH,T,T] d the attention probabilities
} Model;

static void model_init_params(Model *m, uint64_t seed);

static Model *model_create(const Config *cfg, const char *preset, uint64_t seed) {
    Model *m = mallocCheck(sizeof(Model));
    m->cfg = *cfg;
    snprintf(m->preset, sizeof m->preset, "%s", preset);
    snprintf(m->world, sizeof m->world, "addition");
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
        memset(m->decay_mask + (L->q_norm - m->params_mem), 0, cfg->q_rank * sizeof(float));
        memset(m->decay_mask + (L->kv_norm - m->params_mem), 0, cfg->kv_rank * sizeof(float));
        memset(m->decay_mask + (L->ffn_norm - m->params_mem), 0, cfg->d_model * sizeof(float));
    }
    memset(m->decay_mask + (m->params.norm_f - m->params_mem), 0, cfg->d_model * sizeof(float));
    model_init_params(m, seed);
    kernel_params_register(m->params_mem, m->num_params);
    return m;
}

// normal(0, 0.02) for matrices (output projections scaled by 1/sqrt(2L), as GPT-2), 1 for norms
static void model_init_params(Model *m, uint64_t seed) {
    Rng r = rng_seed(seed);
    Config *c = &m->cfg;
    float std = 0.02f, std_out = 0.02f / sqrtf(2.0f * c->n_layer);
    for (size_t i = 0; i < m->num_params; i++)
        m->params_mem[i] = m->decay_mask[i] ? std * rng_normal(&r) : 1.0f;
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

// the activation buffers of m (its config's), each with its number of elements per token of the B*T;
// not listed: att and datt ([B,NH,T,T]) and row_len ([B]). Returns how many.
typedef struct { float **f; int **i; size_t per_token; } ActBuffer;  // a float or an int buffer
#define MAX_ACT_BUFFERS (MAX_LAYERS * 33 + 32)
static int act_buffers(Model *m, ActBuffer *list) {
    const Config *c = &m->cfg;
    int C = c->d_model, NH = c->n_head, dqk = c->d_nope + c->d_rope, R = c->kv_rank, dr = c->d_rope;
    int K = c->top_k, E = c->n_experts, Rq = c->q_rank, n = 0;
    int ffn = imax(c->d_ff_dense, K * c->d_ff_expert);  // SwiGLU's scratch: dense, or every expert slot
#define ACT_F(p, w) (list[n++] = (ActBuffer){ .f = &(p), .per_token = (size_t)(w) })
#define ACT_I(p, w) (list[n++] = (ActBuffer){ .i = &(p), .per_token = (size_t)(w) })
    for (int l = 0; l < c->n_layer; l++) {
        LayerActs *A = &m->acts[l];
        int F = is_moe_layer(c, l) ? c->d_ff_expert : c->d_ff_dense;
        ACT_F(A->x, C); ACT_F(A->h1, C); ACT_F(A->rstd1, 1);
        ACT_F(A->cq, Rq); ACT_F(A->cqn, Rq); ACT_F(A->rstd_q, 1); ACT_F(A->q, NH * dqk);
        ACT_F(A->kva, R + dr); ACT_F(A->c, R); ACT_F(A->cn, R); ACT_F(A->rstd_c, 1);
        ACT_F(A->kvb, NH * (c->d_nope + c->d_v)); ACT_F(A->k, NH * dqk); ACT_F(A->v, NH * c->d_v);
        ACT_F(A->y, NH * c->d_v); ACT_F(A->x2, C); ACT_F(A->h2, C); ACT_F(A->rstd2, 1);
        ACT_F(A->a, F); ACT_F(A->b, F); ACT_F(A->g, F); ACT_F(A->e, F);
        if (is_moe_layer(c, l)) {
            ACT_F(A->s, E); ACT_I(A->topk, K); ACT_F(A->gate, K);
            ACT_I(A->slot_of, K); ACT_I(A->slot_token, K);
            ACT_F(A->xg, K * C); ACT_F(A->ea, K * F); ACT_F(A->eb, K * F); ACT_F(A->eg, K * F);
            ACT_F(A->ee, K * F); ACT_F(A->eout, K * C);
        }
    }
    ACT_F(m->x_final, C); ACT_F(m->hf, C); ACT_F(m->rstdf, 1); ACT_F(m->logits, c->vocab);
    ACT_F(m->dlogits, c->vocab); ACT_I(m->tokens, 1); ACT_F(m->dx, C); ACT_F(m->dh, C);
    ACT_F(m->d_attn_y, NH * c->d_v); ACT_F(m->d_q, NH * dqk); ACT_F(m->d_k, NH * dqk);
    ACT_F(m->d_v, NH * c->d_v); ACT_F(m->d_kvb, NH * (c->d_nope + c->d_v)); ACT_F(m->d_kva, R + dr);
    ACT_F(m->d_c_normed, R); ACT_F(m->d_c, R); ACT_F(m->d_cq_normed, Rq); ACT_F(m->d_cq, Rq);
    ACT_F(m->d_ffn_g, ffn); ACT_F(m->d_ffn_a, ffn); ACT_F(m->d_ffn_b, ffn);
    ACT_F(m->d_slot_out, K * C); ACT_F(m->d_slot_in, K * C); ACT_F(m->d_affinity, E);
#undef ACT_F
#undef ACT_I
    return n;
}

static void acts_free(Model *m) {
    ActBuffer list[MAX_ACT_BUFFERS];
    int n = act_buffers(m, list);
    for (int i = 0; i < n; i++) {
        if (list[i].f) { free(*list[i].f); *list[i].f = NULL; }
        else { free(*list[i].i); *list[i].i = NULL; }
    }
    for (int l = 0; l < MAX_LAYERS; l++) { free(m->acts[l].att); m->acts[l].att = NULL; }
    free(m->datt); free(m->row_len);
    m->datt = NULL; m->row_len = NULL;
    m->cap_N = 0; m->cap_att = 0;
}

static void model_free(Model *m) {
    if (!m) return;
    kernel_params_free(m->params_mem);
    free(m->params_mem); free(m->grads_mem); free(m->m_mem); free(m->v_mem); free(m->decay_mask);
    acts_free(m);
    free(m);
}

// (re)allocates the activations for B rows of T tokens
static void model_ensure_acts(Model *m, int B, int T) {
    int N = B * T;
    size_t att = (size_t)B * m->cfg.n_head * T * T;
    m->B = B; m->T = T;
    if (N <= m->cap_N && att <= m->cap_att) return;
    N = imax(N, m->cap_N);
    if (att < m->cap_att) att = m->cap_att;
    acts_free(m);
    m->cap_N = N; m->cap_att = att;
    ActBuffer list[MAX_ACT_BUFFERS];
    int n = act_buffers(m, list);
    for (int i = 0; i < n; i++) {
        if (list[i].f) *list[i].f = mallocCheck((size_t)N * list[i].per_token * sizeof(float));
        else *list[i].i = mallocCheck((size_t)N * list[i].per_token * sizeof(int));
    }
    for (int l = 0; l < m->cfg.n_layer; l++) m->acts[l].att = mallocCheck(att * sizeof(float));
    m->datt = mallocCheck(att * sizeof(float));
    m->row_len = mallocCheck((size_t)N * sizeof(int));
}

// ----------------------------------------------------------------------------
// 4. the layers: forward and backward side by side

// ---- matmul: the one hot loop. The loops below say what is computed; by default a kernel of Part II
// (OpenBLAS, r1's own packed gemm or CUDA) computes the same product, and with matmul_path MATMUL_PLAIN
// these loops run as written.

// out[N,OC] = inp[N,C] @ weight[OC,C]^T
static void matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC) {
    if (kernel_matmul_forward(out, inp, weight, N, C, OC)) return;
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
}

// dinp[N,C] += dout[N,OC] @ weight[OC,C];  dweight[OC,C] += dout^T @ inp  (either may be NULL)
static void matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                            const float *weight, int N, int C, int OC) {
    if (kernel_matmul_backward(dinp, dweight, dout, inp, weight, N, C, OC)) return;
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

#define RMS_EPS 1e-5f  // DeepSeek-V3's official code uses 1e-6 (a departure: NOTES.md "Paper to code")
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
    // exercise 1 begin: RMSNorm backward
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
    // exercise 1 end
}

// ---- RoPE (interleaved pairs, theta 1e4), applied in place.
// x is [N, H, hs]; dims [off, off+dr) of each of the H vectors are rotated; row n is at position
// pos0 + n % T. The backward pass is the same rotation by the opposite angle.

#define ROPE_THETA 10000.0  // no YaRN (DeepSeek-V3 extends its context with it): at 160 tokens, immaterial
static void rope_rotate(float *x, int N, int T, int pos0, int H, int hs, int off, int dr, float sign) {
    // exercise 2 begin: RoPE, the rotation of interleaved pairs
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
    // exercise 2 end
}
static void rope_forward(float *x, int N, int T, int pos0, int H, int hs, int off, int dr) {
    if (!kernel_rope(x, N, T, pos0, H, hs, off, dr, 1.0f)) rope_rotate(x, N, T, pos0, H, hs, off, dr, 1.0f);
}
static void rope_backward(float *dx, int N, int T, int pos0, int H, int hs, int off, int dr) {
    if (!kernel_rope(dx, N, T, pos0, H, hs, off, dr, -1.0f))
        rope_rotate(dx, N, T, pos0, H, hs, off, dr, -1.0f);
}

// ---- causal attention per head (MLA's keys already assembled: [k_nope ; shared k_rope])

// out[B,T,NH,HV], att[B,NH,T,T] <- q,k[B,T,NH,HS], v[B,T,NH,HV]; scale 1/sqrt(HS)
static void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                              int B, int T, int NH, int HS, int HV) {
    if (kernel_attention_forward(out, att, q, k, v, B, T, NH, HS, HV)) return;
    float scale = 1.0f / sqrtf((float)HS);
    #pragma omp parallel for collapse(3) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                const float *q_t = q + (((size_t)b * T + t) * NH + h) * HS;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                // scores q_t . k_t2 / sqrt(HS) for t2 <= t (0 above the diagonal), then their softmax
                for (int t2 = 0; t2 < T; t2++) {
                    const float *k_t2 = k + (((size_t)b * T + t2) * NH + h) * HS;
                    float score = 0.0f;
                    for (int i = 0; i < HS && t2 <= t; i++) score += q_t[i] * scale * k_t2[i];
                    a[t2] = score;
                }
                softmax(a, a, t + 1, 1.0f, -1);
                // out_t = sum over t2 <= t of a_t2 v_t2
                float *out_t = out + (((size_t)b * T + t) * NH + h) * HV;
                for (int i = 0; i < HV; i++) out_t[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v_t2 = v + (((size_t)b * T + t2) * NH + h) * HV;
                    for (int i = 0; i < HV; i++) out_t[i] += a[t2] * v_t2[i];
                }
            }
}

// dq,dk[B,T,NH,HS], dv[B,T,NH,HV] are overwritten; datt[B,NH,T,T] is scratch
static void attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                               const float *q, const float *k, const float *v, const float *att,
                               int B, int T, int NH, int HS, int HV) {
    if (kernel_attention_backward(dq, dk, dv, datt, dout, q, k, v, att, B, T, NH, HS, HV)) return;
    // exercise 3 begin: attention backward
    float scale = 1.0f / sqrtf((float)HS);
    memset(dk, 0, (size_t)B * T * NH * HS * sizeof(float));
    memset(dv, 0, (size_t)B * T * NH * HV * sizeof(float));
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                size_t row = ((size_t)b * T + t) * NH + h;  // (b, t, h)
                const float *a = att + (((size_t)b * NH + h) * T + t) * T, *dy = dout + row * HV;
                const float *q_t = q + row * HS;
                float *da = datt + (((size_t)b * NH + h) * T + t) * T, *dq_t = dq + row * HS;
                // through the weighted sum of the values: da_t2 = dy . v_t2,  dv_t2 += a_t2 dy
                float dsum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    size_t row2 = ((size_t)b * T + t2) * NH + h;
                    float d = 0.0f;
                    for (int i = 0; i < HV; i++) d += dy[i] * v[row2 * HV + i];
                    da[t2] = d;
                    for (int i = 0; i < HV; i++) dv[row2 * HV + i] += a[t2] * dy[i];
                    dsum += a[t2] * da[t2];
                }
                // through the softmax (ds_t2 = a_t2 (da_t2 - sum a da) / sqrt(HS), kept in da) and the
                // scores: dq_t = sum ds_t2 k_t2,  dk_t2 += ds_t2 q_t
                for (int i = 0; i < HS; i++) dq_t[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    size_t row2 = ((size_t)b * T + t2) * NH + h;
                    da[t2] = a[t2] * (da[t2] - dsum) * scale;
                    for (int i = 0; i < HS; i++) dq_t[i] += da[t2] * k[row2 * HS + i];
                    for (int i = 0; i < HS; i++) dk[row2 * HS + i] += da[t2] * q_t[i];
                }
            }
    // exercise 3 end
}

// ---- SwiGLU feed-forward: out = (silu(x W1^T) * (x W3^T)) W2^T, silu(a) = a sigmoid(a) = a / (1 + e^-a)

// out[N,C]; a,b,g[N,F] saved for the backward pass, and e[N,F] = exp(-a) for its sigmoid
static void swiglu_forward(float *out, float *a, float *b, float *g, float *e, const float *inp,
                           const float *w1, const float *w3, const float *w2, int N, int C, int F) {
    matmul_forward(a, inp, w1, N, C, F);
    matmul_forward(b, inp, w3, N, C, F);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < (size_t)N * F; i++) {
        e[i] = expf(-a[i]);
        g[i] = a[i] / (1.0f + e[i]) * b[i];
    }
    matmul_forward(out, g, w2, N, F, C);
}
// dinp[N,C] +=, dw1,dw3,dw2 +=; scratch dg[N,F], da[N,F], db[N,F]
static void swiglu_backward(float *dinp, float *dw1, float *dw3, float *dw2, float *dg, float *da, float *db,
                            const float *dout, const float *inp, const float *a, const float *b,
                            const float *g, const float *e, const float *w1, const float *w3, const float *w2,
                            int N, int C, int F) {
    memset(dg, 0, (size_t)N * F * sizeof(float));
    matmul_backward(dg, dw2, dout, g, w2, N, F, C);
    // exercise 4 begin: SwiGLU backward, through silu(a) * b
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < (size_t)N * F; i++) {
        float sg = 1.0f / (1.0f + e[i]);  // sigmoid(a)
        db[i] = dg[i] * a[i] * sg;
        da[i] = dg[i] * b[i] * sg * (1.0f + a[i] * (1.0f - sg)); // d silu(a)/da = s(1 + a(1-s))
    }
    // exercise 4 end
    matmul_backward(dinp, dw1, da, inp, w1, N, C, F);
    matmul_backward(dinp, dw3, db, inp, w3, N, C, F);
}

// ----------------------------------------------------------------------------
// 5. Multi-head Latent Attention (DeepSeek-V2 section 2.1, DeepSeek-V3 eq. 1-11)
// query compression (eq. 6-9): c_Q = W_DQ h, RMS-normed; per head q_nope = W_UQ c_Q, q_rope = RoPE(W_QR c_Q)
// [c ; k_rope] = W_KVA h, RoPE on k_rope (one key shared by all heads), c RMS-normed
// (the RMSNorms after c_Q and c: DeepSeek-V3 section 4.2, not in the equations)
// training form: [k_nope ; v] = W_KVB c per head;  k = [k_nope ; k_rope];
//                softmax(q k / sqrt(dn + dr)) v;  W_O
// decoding form: the same queries; only [c ; k_rope] is cached; W_KVB's halves are absorbed into the query
// and the output

// MLA's KV cache (DeepSeek-V2 section 2.1.2): per layer, token and row only the normalised latent c_KV
// and the shared RoPE key, R + dr floats (the keys and values of all heads would take NH * (dn + dr + dv))
typedef struct KVCache {
    float *latent[MAX_LAYERS]; // [rows,T,R+dr]: [c_KV ; k_rope] of each cached position
    int B, T;
    int *row;                  // [B] the cache row of each row of the current batch (finished rows drop out)
    float *latent_t[MAX_LAYERS]; // the decoding kernel's copy of latent, positions minor (NULL until used)
    float *decode_scratch;       // the decoding kernel's working buffers, for every layer (NULL until used)
} KVCache;

// y[B,NH*dv] <- the attention of q[B,NH*(dn+dr)] (from c_Q, as in training) at position pos over the
// cached positions 0..pos of cache row row[b] (latent [rows,Tc,R+dr]), with the up-projections absorbed
// (DeepSeek-V2 section 2.1.3): q_nope . (W_UK c) = (W_UK^T q_nope) . c and sum_t a_t W_UV c_t =
// W_UV (sum_t a_t c_t), so the keys and values are never formed. wkvb [NH*(dn+dv),R] holds W_UK and W_UV
// of each head.
static void mla_decode(float *y, const float *q, const float *latent, const float *wkvb, const int *row,
                       int B, int Tc, int pos, int NH, int dn, int dr, int dv, int R) {
    int D = R + dr;
    float scale = 1.0f / sqrtf((float)(dn + dr));
    float *qa = mallocCheck((size_t)NH * D * sizeof(float));
    float *a = mallocCheck((size_t)NH * (pos + 1) * sizeof(float));
    float *o = mallocCheck((size_t)NH * R * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *cached = latent + (size_t)row[b] * Tc * D;
        // the absorbed queries [W_UK^T q_nope ; q_rope] of every head, scaled
        for (int h = 0; h < NH; h++) {
            const float *qh = q + ((size_t)b * NH + h) * (dn + dr), *w_uk = wkvb + (size_t)h * (dn + dv) * R;
            float *qah = qa + (size_t)h * D;
            for (int r = 0; r < R; r++) qah[r] = 0.0f;
            for (int i = 0; i < dn; i++)
                for (int r = 0; r < R; r++) qah[r] += qh[i] * w_uk[(size_t)i * R + r];
            for (int r = 0; r < R; r++) qah[r] *= scale;
            for (int j = 0; j < dr; j++) qah[R + j] = qh[dn + j] * scale;
        }
        // scores: every head against each cached position (read once for all heads), then softmax
        for (int t = 0; t <= pos; t++)
            for (int h = 0; h < NH; h++) {
                float s = 0.0f;
                #pragma omp simd reduction(+ : s)
                for (int r = 0; r < D; r++) s += qa[(size_t)h * D + r] * cached[(size_t)t * D + r];
                a[(size_t)h * (pos + 1) + t] = s;
            }
        for (int h = 0; h < NH; h++)
            softmax(a + (size_t)h * (pos + 1), a + (size_t)h * (pos + 1), pos + 1, 1.0f, -1);
        // o_h = sum_t a_ht c_t, then y_h = W_UV o_h
        for (int i = 0; i < NH * R; i++) o[i] = 0.0f;
        for (int t = 0; t <= pos; t++)
            for (int h = 0; h < NH; h++) {
                float at = a[(size_t)h * (pos + 1) + t];
                for (int r = 0; r < R; r++) o[(size_t)h * R + r] += at * cached[(size_t)t * D + r];
            }
        for (int h = 0; h < NH; h++) {
            const float *w_uv = wkvb + ((size_t)h * (dn + dv) + dn) * R;
            for (int i = 0; i < dv; i++) {
                float s = 0.0f;
                #pragma omp simd reduction(+ : s)
                for (int r = 0; r < R; r++) s += w_uv[(size_t)i * R + r] * o[(size_t)h * R + r];
                y[((size_t)b * NH + h) * dv + i] = s;
            }
        }
    }
    free(qa); free(a); free(o);
}

// out[N,C] <- x[N,C] (N = B*T rows at positions pos..pos+T-1); with a cache, T == 1
static void mla_forward(float *out, LayerActs *A, const LayerParams *L, const Config *c, const float *x,
                        int B, int T, KVCache *cache, int layer, int pos) {
    int N = B * T, C = c->d_model, NH = c->n_head, dn = c->d_nope, dr = c->d_rope, dqk = dn + dr;
    int dv = c->d_v, R = c->kv_rank, Rq = c->q_rank;
    rmsnorm_forward(A->h1, A->rstd1, x, L->attn_norm, N, C);
    matmul_forward(A->cq, A->h1, L->wqa, N, C, Rq);
    rmsnorm_forward(A->cqn, A->rstd_q, A->cq, L->q_norm, N, Rq);
    matmul_forward(A->q, A->cqn, L->wqb, N, Rq, NH * dqk);
    rope_forward(A->q, N, T, pos, NH, dqk, dn, dr);
    matmul_forward(A->kva, A->h1, L->wkva, N, C, R + dr);
    rope_forward(A->kva, N, T, pos, 1, R + dr, R, dr);
    for (int n = 0; n < N; n++)
        memcpy(A->c + (size_t)n * R, A->kva + (size_t)n * (R + dr), R * sizeof(float));
    rmsnorm_forward(A->cn, A->rstd_c, A->c, L->kv_norm, N, R);
    if (cache) { // decoding: cache [c_KV ; k_rope] and attend from the latent
        for (int b = 0; b < B; b++) {
            float *entry = cache->latent[layer] + ((size_t)cache->row[b] * cache->T + pos) * (R + dr);
            memcpy(entry, A->cn + (size_t)b * R, R * sizeof(float));
            memcpy(entry + R, A->kva + (size_t)b * (R + dr) + R, dr * sizeof(float));
        }
        if (!kernel_mla_decode(A->y, A->q, cache, layer, L->wkvb, B, pos, NH, dn, dr, dv, R))
            mla_decode(A->y, A->q, cache->latent[layer], L->wkvb, cache->row, B, cache->T, pos, NH, dn, dr,
                       dv, R);
        matmul_forward(out, A->y, L->wo, N, NH * dv, C);
        return;
    }
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
    attention_forward(A->y, A->att, A->q, A->k, A->v, B, T, NH, dqk, dv);
    matmul_forward(out, A->y, L->wo, N, NH * dv, C);
}

// dx[N,C] += gradient through mla_forward given dout[N,C] (dout may alias dx: it is read first).
// Training sequences start at position 0.
static void mla_backward(Model *m, int layer, float *dx, const float *dout, const float *x) {
    const Config *c = &m->cfg;
    LayerActs *A = &m->acts[layer];
    const LayerParams *L = &m->params.layer[layer];
    LayerParams *G = &m->grads.layer[layer];
    int B = m->B, T = m->T, N = B * T, C = c->d_model, NH = c->n_head, dn = c->d_nope, dr = c->d_rope;
    int dqk = dn + dr, dv = c->d_v, R = c->kv_rank, Rq = c->q_rank;
    float *dy = m->d_attn_y, *dq = m->d_q, *dk = m->d_k, *dvv = m->d_v, *dkvb = m->d_kvb, *dkva = m->d_kva;
    memset(dy, 0, (size_t)N * NH * dv * sizeof(float));
    matmul_backward(dy, G->wo, dout, A->y, L->wo, N, NH * dv, C);
    attention_backward(dq, dk, dvv, m->datt, dy, A->q, A->k, A->v, A->att, B, T, NH, dqk, dv);
    // exercise 5 begin: MLA: the gradient of the shared RoPE key
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
    // exercise 5 end
    float *dcn = m->d_c_normed, *dc = m->d_c;
    memset(dcn, 0, (size_t)N * R * sizeof(float));
    matmul_backward(dcn, G->wkvb, dkvb, A->cn, L->wkvb, N, R, NH * (dn + dv));
    memset(dc, 0, (size_t)N * R * sizeof(float));
    rmsnorm_backward(dc, G->kv_norm, dcn, A->c, L->kv_norm, A->rstd_c, N, R);
    for (int n = 0; n < N; n++) memcpy(dkva + (size_t)n * (R + dr), dc + (size_t)n * R, R * sizeof(float));
    rope_backward(dq, N, T, 0, NH, dqk, dn, dr);
    float *dcqn = m->d_cq_normed, *dcq = m->d_cq;
    memset(dcqn, 0, (size_t)N * Rq * sizeof(float));
    matmul_backward(dcqn, G->wqb, dq, A->cqn, L->wqb, N, Rq, NH * dqk);
    memset(dcq, 0, (size_t)N * Rq * sizeof(float));
    rmsnorm_backward(dcq, G->q_norm, dcqn, A->cq, L->q_norm, A->rstd_q, N, Rq);
    float *dh1 = m->dh;
    memset(dh1, 0, (size_t)N * C * sizeof(float));
    matmul_backward(dh1, G->wqa, dcq, A->h1, L->wqa, N, C, Rq);
    matmul_backward(dh1, G->wkva, dkva, A->h1, L->wkva, N, C, R + dr);
    rmsnorm_backward(dx, G->attn_norm, dh1, x, L->attn_norm, A->rstd1, N, C);
}

// ----------------------------------------------------------------------------
// 6. DeepSeekMoE (DeepSeek-V3 section 2.1.2, eq. 12-16)
// out = shared(h) + sum over the top-k experts of gate_k * expert_k(h)
// s_i = sigmoid(u^T e_i); top-k chosen by s_i + b_i (the bias only chooses); gate = s / sum of chosen s.
// DeepSeek-V3's configurations then scale the gates by route_scale 2.5; r1.c does not (a departure).
// Dropless: each expert runs on exactly the tokens routed to it, gathered into a contiguous block.

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// out[N,C] <- h[N,C]; fills the routing and per-slot activations of A
static void moe_forward(float *out, LayerActs *A, const LayerParams *L, const float *bias, const float *h,
                        int N, int C, int E, int K, int F) {
    // the shared expert, on every token
    swiglu_forward(out, A->a, A->b, A->g, A->e, h, L->w1, L->w3, L->w2, N, C, F);
    // router: affinities and the top-k choice (ties go to the lower index)
    matmul_forward(A->s, h, L->router, N, C, E);
    int count[MAX_EXPERTS] = {0};
    // exercise 6 begin: DeepSeekMoE routing: biased top-k, renormalised gates
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
    // exercise 6 end
    // gather: slots sorted by expert (a counting sort), then each expert is one dense SwiGLU
    A->expert_off[0] = 0;
    for (int e = 0; e < E; e++) A->expert_off[e + 1] = A->expert_off[e] + count[e];
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
    // the experts are independent: each thread takes whole experts (their loops then run on that thread
    // alone)
    #pragma omp parallel for schedule(dynamic, 1) if (kernels_reentrant())
    for (int e = 0; e < E; e++) {
        int o = A->expert_off[e], ne = A->expert_off[e + 1] - o;
        if (ne == 0) continue;
        swiglu_forward(A->eout + (size_t)o * C, A->ea + (size_t)o * F, A->eb + (size_t)o * F,
                       A->eg + (size_t)o * F, A->ee + (size_t)o * F, A->xg + (size_t)o * C,
                       L->ew1 + (size_t)e * F * C, L->ew3 + (size_t)e * F * C, L->ew2 + (size_t)e * C * F,
                       ne, C, F);
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

// load[E] += the experts chosen for the tokens of B rows of T positions; the first len[b] positions of
// row b are its tokens, the rest padding, which is routed (its output is never read) but not counted
static void expert_load_add(float *load, const LayerActs *A, const int *len, int B, int T, int K) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < len[b]; t++)
            for (int k = 0; k < K; k++) load[A->topk[((size_t)b * T + t) * K + k]] += 1.0f;
}

// the sequence-wise balance loss (DeepSeek-V3 eq. 17-20): alpha * sum_i f_i P_i per sequence, averaged
// over the B sequences; a sequence is the first len[b] positions of row b (T_b of them: padding is no
// token). f_i counts the chosen experts (a constant), P_i averages the normalised affinities. Returns
// the loss; if ds is not NULL, adds its gradient with respect to s[N,E].
static float balance_loss(float *ds, const LayerActs *A, float alpha, const int *len, int B, int T, int E,
                          int K) {
    float loss = 0.0f;
    for (int b = 0; b < B; b++) {
        float f[MAX_EXPERTS] = {0}, P[MAX_EXPERTS] = {0};
        int Tb = len[b];
        for (int t = 0; t < Tb; t++) {
            size_t n = (size_t)b * T + t;
            for (int k = 0; k < K; k++) f[A->topk[n * K + k]] += (float)E / (K * Tb);
            float sum = 0.0f;
            for (int e = 0; e < E; e++) sum += A->s[n * E + e];
            for (int e = 0; e < E; e++) P[e] += A->s[n * E + e] / sum / Tb;
        }
        for (int e = 0; e < E; e++) loss += alpha * f[e] * P[e] / B;
        if (!ds) continue;
        for (int t = 0; t < Tb; t++) { // through P_i = mean_t s_i / sum_j s_j
            size_t n = (size_t)b * T + t;
            float sum = 0.0f, dot = 0.0f;
            for (int e = 0; e < E; e++) sum += A->s[n * E + e];
            for (int e = 0; e < E; e++) dot += alpha * f[e] / (B * Tb) * A->s[n * E + e] / sum;
            for (int e = 0; e < E; e++) ds[n * E + e] += (alpha * f[e] / (B * Tb) - dot) / sum;
        }
    }
    return loss;
}

// dh[N,C] += gradient of moe_forward's output (and of the balance loss over the rows' len[B] tokens);
// grads into G. The top-k choice is a constant.
// scratch: dsl, dxg [N*K,C] (per-slot output and input gradients), dg, da, db [N*K,F], ds [N,E]
static void moe_backward(float *dh, LayerParams *G, const LayerActs *A, const LayerParams *L,
                         const float *dout, const float *h, float alpha, const int *len, int B, int T, int C,
                         int E, int K, int F, float *dsl, float *dxg, float *dg, float *da, float *db,
                         float *ds) {
    int N = B * T;
    // the shared expert
    swiglu_backward(dh, G->w1, G->w3, G->w2, dg, da, db, dout, h, A->a, A->b, A->g, A->e, L->w1, L->w3, L->w2,
                    N, C, F);
    // d the affinities: the balance loss's gradient first, then the gates' (added to it, below)
    memset(ds, 0, (size_t)N * E * sizeof(float));
    if (alpha > 0.0f) balance_loss(ds, A, alpha, len, B, T, E, K);
    // per slot: d expert output = gate * dy, d gate = dy . expert output
    // exercise 7 begin: DeepSeekMoE backward through the gates
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C;
        const int *top = A->topk + (size_t)n * K;
        float dgate[MAX_EXPERTS], sum = 0.0f, dot = 0.0f;
        for (int k = 0; k < K; k++) {
            int slot = A->slot_of[(size_t)n * K + k];
            float gk = A->gate[(size_t)n * K + k], d = 0.0f;
            for (int i = 0; i < C; i++) {
                d += dy[i] * A->eout[(size_t)slot * C + i];
                dsl[(size_t)slot * C + i] = gk * dy[i];
            }
            dgate[k] = d;
            sum += A->s[(size_t)n * E + top[k]];
        }
        // gate_k = s_k / sum_j s_j over the chosen j
        for (int k = 0; k < K; k++) dot += dgate[k] * A->s[(size_t)n * E + top[k]];
        for (int k = 0; k < K; k++) ds[(size_t)n * E + top[k]] += dgate[k] / sum - dot / (sum * sum);
    }
    // exercise 7 end
    // through the sigmoid and the router matmul
    for (size_t i = 0; i < (size_t)N * E; i++) ds[i] *= A->s[i] * (1.0f - A->s[i]);
    matmul_backward(dh, G->router, ds, h, L->router, N, C, E);
    // each expert on its gathered tokens, whole experts per thread (scratch rows o.. are the expert's own)
    memset(dxg, 0, (size_t)N * K * C * sizeof(float));
    #pragma omp parallel for schedule(dynamic, 1) if (kernels_reentrant())
    for (int e = 0; e < E; e++) {
        int o = A->expert_off[e], ne = A->expert_off[e + 1] - o;
        if (ne == 0) continue;
        swiglu_backward(dxg + (size_t)o * C, G->ew1 + (size_t)e * F * C, G->ew3 + (size_t)e * F * C,
                        G->ew2 + (size_t)e * C * F, dg + (size_t)o * F, da + (size_t)o * F,
                        db + (size_t)o * F, dsl + (size_t)o * C, A->xg + (size_t)o * C, A->ea + (size_t)o * F,
                        A->eb + (size_t)o * F, A->eg + (size_t)o * F, A->ee + (size_t)o * F,
                        L->ew1 + (size_t)e * F * C, L->ew3 + (size_t)e * F * C, L->ew2 + (size_t)e * C * F,
                        ne, C, F);
    }
    // scatter the gathered input gradients back to their tokens
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            const float *d = dxg + (size_t)A->slot_of[(size_t)n * K + k] * C;
            for (int i = 0; i < C; i++) dh[(size_t)n * C + i] += d[i];
        }
}

// auxiliary-loss-free balancing (DeepSeek-V3 section 2.1.2): b_i += gamma * sign(mean load - load_i).
// One change for our batches: they are cut from length-sorted pools, so a step holds only short or
// only long documents, and an expert can be above the mean in most steps yet far below it in tokens.
// So each step's push is weighted by the tokens it routed, as a share of a full batch
// (rows x context x top_k):
// the bias then balances the load in tokens, not in steps. The loads stay (for the log) until the next
// model_zero_grad.
static void router_bias_update(Model *m, float gamma, int rows) {
    // exercise 8 begin: auxiliary-loss-free balancing, the bias update
    const Config *c = &m->cfg;
    float full = (float)rows * c->context * c->top_k;
    for (int l = 0; l < c->n_layer; l++) {
        if (!is_moe_layer(c, l)) continue;
        float mean = 0.0f, routed = 0.0f;
        for (int e = 0; e < c->n_experts; e++) {
            mean += m->expert_load[l][e] / c->n_experts;
            routed += m->expert_load[l][e];
        }
        float weight = full > 0.0f ? fminf(routed / full, 1.0f) : 1.0f;
        for (int e = 0; e < c->n_experts; e++) {
            float err = mean - m->expert_load[l][e];
            m->router_bias[l][e] += gamma * weight * (float)((err > 0) - (err < 0));
        }
    }
    // exercise 8 end
}

// ----------------------------------------------------------------------------
// 7. the whole model

// m->logits[B*T,V] <- tokens[B,T] at positions pos..; with a cache T must be 1 (generation).
// len[B]: the tokens of each row, the positions after them padding (NULL: no padding); padding is not
// counted in the expert loads or the balance loss (its logits are computed and must carry no loss)
static void model_forward(Model *m, const int *tokens, const int *len, int B, int T, KVCache *cache,
                          int pos) {
    if (kernel_model_forward(m, tokens, len, B, T, cache != NULL)) return;  // on all threads, a share each
    const Config *c = &m->cfg;
    int N = B * T, C = c->d_model;
    model_ensure_acts(m, B, T);
    memcpy(m->tokens, tokens, (size_t)N * sizeof(int));
    for (int b = 0; b < B; b++) m->row_len[b] = len ? len[b] : T;
    embedding_forward(m->acts[0].x, tokens, m->params.wte, N, C);
    m->aux_loss = 0.0f;
    for (int l = 0; l < c->n_layer; l++) {
        LayerActs *A = &m->acts[l];
        const LayerParams *L = &m->params.layer[l];
        float *x_next = l + 1 < c->n_layer ? m->acts[l + 1].x : m->x_final;
        // x2 = x + MLA(norm(x))
        mla_forward(A->x2, A, L, c, A->x, B, T, cache, l, pos);
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)N * C; i++) A->x2[i] += A->x[i];
        // x_next = x2 + FFN(norm(x2)), dense SwiGLU or DeepSeekMoE
        rmsnorm_forward(A->h2, A->rstd2, A->x2, L->ffn_norm, N, C);
        if (is_moe_layer(c, l)) {
            moe_forward(x_next, A, L, m->router_bias[l], A->h2, N, C, c->n_experts, c->top_k, c->d_ff_expert);
            if (!cache) expert_load_add(m->expert_load[l], A, m->row_len, B, T, c->top_k);
            if (m->balance_alpha > 0.0f && !cache)
                m->aux_loss += balance_loss(NULL, A, m->balance_alpha, m->row_len, B, T, c->n_experts,
                                            c->top_k);
        } else {
            swiglu_forward(x_next, A->a, A->b, A->g, A->e, A->h2, L->w1, L->w3, L->w2, N, C, c->d_ff_dense);
        }
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)N * C; i++) x_next[i] += A->x2[i];
    }
    rmsnorm_forward(m->hf, m->rstdf, m->x_final, m->params.norm_f, N, C);
    matmul_forward(m->logits, m->hf, m->params.head, N, C, c->vocab);
}

// gradients of (loss whose d/dlogits is in m->dlogits) + aux_loss, accumulated into m->grads
static void model_backward(Model *m) {
    if (kernel_model_backward(m)) return;
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
            moe_backward(dh2, G, A, L, dx, A->h2, m->balance_alpha, m->row_len, B, T, C, c->n_experts,
                         c->top_k, c->d_ff_expert, m->d_slot_out, m->d_slot_in, m->d_ffn_g, m->d_ffn_a,
                         m->d_ffn_b, m->d_affinity);
        else
            swiglu_backward(dh2, G->w1, G->w3, G->w2, m->d_ffn_g, m->d_ffn_a, m->d_ffn_b, dx, A->h2, A->a,
                            A->b, A->g, A->e, L->w1, L->w3, L->w2, N, C, c->d_ff_dense);
        rmsnorm_backward(dx, G->ffn_norm, dh2, A->x2, L->ffn_norm, A->rstd2, N, C);
        // through the attention into d x
        mla_backward(m, l, dx, dx, A->x);
    }
    embedding_backward(m->grads.wte, dx, m->tokens, N, C);
}

// a training step starts from zero: the gradient, and the expert loads its bias update reads
static void model_zero_grad(Model *m) {
    memset(m->grads_mem, 0, m->num_params * sizeof(float));
    memset(m->expert_load, 0, sizeof m->expert_load);
}

// ----------------------------------------------------------------------------
// 8. training: the loss, the optimizer, one step

// loss = sum_n w[n] * -log softmax(logits[n])[targets[n]];  dlogits[N,V] = w[n] (softmax - onehot)
static float crossentropy_forward_backward(float *dlogits, const float *logits, const int *targets,
                                           const float *w, int N, int V) {
    // exercise 9 begin: cross-entropy and its gradient
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
    // exercise 9 end
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

// AdamW (Loshchilov & Hutter): decoupled weight decay on matrices only; t = 1, 2, ... counts the updates
static void adamw_update(Model *m, float lr, float beta1, float beta2, float eps, float weight_decay, int t) {
    // exercise 10 begin: the AdamW step
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m->num_params; i++) {
        float g = m->grads_mem[i];
        m->m_mem[i] = beta1 * m->m_mem[i] + (1.0f - beta1) * g;
        m->v_mem[i] = beta2 * m->v_mem[i] + (1.0f - beta2) * g * g;
        float mhat = m->m_mem[i] / bc1, vhat = m->v_mem[i] / bc2;
        m->params_mem[i] -= lr * (mhat / (sqrtf(vhat) + eps) +
                                  weight_decay * m->decay_mask[i] * m->params_mem[i]);
    }
    // exercise 10 end
    kernel_params_changed(m->params_mem);
}

// learning rate: linear warmup, then cosine decay to lr_min
static float lr_schedule(int step, int total, int warmup, float lr_max, float lr_min) {
    if (step < warmup) return lr_max * (step + 1) / warmup;
    if (step >= total) return lr_min;
    float progress = (float)(step - warmup) / (float)imax(1, total - warmup);
    return lr_min + 0.5f * (lr_max - lr_min) * (1.0f + cosf(3.14159265f * progress));
}

// a training step ends done, or stopped before the update by a loss or a gradient that is not finite
enum { STEP_OK, STEP_LOSS_NOT_FINITE, STEP_GRAD_NOT_FINITE };

typedef struct { float lr, beta2, weight_decay, clip, bias_gamma; } OptimConfig;  // one update's settings

// the update after a backward pass over a batch of `rows` rows: the gradient clipped to norm clip (*norm:
// its norm before), AdamW (beta1 0.9, update number t = 1, 2, ...), then the router-bias step of the MoE's
// balancing. In a data-parallel run each process brings the gradient of its share of the batch: summed,
// they are the whole batch's, and every process takes the same update.
static int optimizer_step(Model *m, const OptimConfig *u, int t, int rows, float *norm) {
    dist_sum_gradients(m, &rows);
    *norm = grad_clip(m, u->clip);
    if (!isfinite(*norm)) return STEP_GRAD_NOT_FINITE;
    adamw_update(m, u->lr, 0.9f, u->beta2, 1e-8f, u->weight_decay, t);
    router_bias_update(m, u->bias_gamma, rows);
    return STEP_OK;
}

// one step of next-token training (pretraining, SFT) on B rows of T positions (len[b] of row b are tokens,
// the rest padding): forward, the cross-entropy weighted by w (the weights carry the loss's normalisation),
// backward, update. *loss: the weighted loss.
static int lm_step(Model *m, const int *inputs, const int *targets, const float *w, const int *len, int B,
                   int T, const OptimConfig *u, float *loss, float *norm) {
    model_zero_grad(m);
    model_forward(m, inputs, len, B, T, NULL, 0);
    *loss = crossentropy_forward_backward(m->dlogits, m->logits, targets, w, B * T, m->cfg.vocab);
    if (!isfinite(*loss) || !isfinite(m->aux_loss)) return STEP_LOSS_NOT_FINITE;
    model_backward(m);
    int status = optimizer_step(m, u, m->step + 1, B, norm);
    if (status == STEP_OK) m->step++;
    return status;
}

// ----------------------------------------------------------------------------
// 9. generation with MLA's latent KV cache, batched: B rows, each its own prompt, sampled at temperature
// (0 = greedy). Rows that finish (<eos> or max_len) drop out of the batch.

static KVCache *kvcache_create(const Config *c, int B, int T) {
    KVCache *kv = mallocCheck(sizeof(KVCache));
    kv->B = B; kv->T = T;
    for (int l = 0; l < c->n_layer; l++)
        kv->latent[l] = mallocCheck((size_t)B * T * (c->kv_rank + c->d_rope) * sizeof(float));
    kv->row = mallocCheck(B * sizeof(int));
    return kv;
}
static void kvcache_free(KVCache *kv) {
    for (int l = 0; l < MAX_LAYERS; l++) { free(kv->latent[l]); free(kv->latent_t[l]); }
    free(kv->decode_scratch);
    free(kv->row);
    free(kv);
}

// generation samples freely (CHECK_FREE), or under a decoding rule of Part II's experiments (next_token)
enum { CHECK_FREE, CHECK_FORCE, CHECK_BAN, N_CHECK_RULES };

// samples a token from logits[V] / temperature (argmax at temperature 0)
static int sample_token(const float *logits, int V, float temperature, Rng *rng) {
    int best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    if (temperature <= 0.0f) return best;
    float p[256], sum = 0.0f;
    for (int i = 0; i < V; i++) { p[i] = expf((logits[i] - logits[best]) / temperature); sum += p[i]; }
    float u = rng_f32(rng) * sum, acc = 0.0f;
    for (int i = 0; i < V; i++) { acc += p[i]; if (u < acc) return i; }
    return best;
}


// seqs[B,max_len]: on entry rows hold their prompts (prompt_len[b] tokens); on return the sampled
// responses follow and seq_len[b] is the total length. Stops a row at max_len, and at <eos> if
// stop_at_eos. Row b draws from its own random stream rngs[b]. One thread's rows: the caller checked that
// the prompts fit.
static void generate_rows(Model *m, int *seqs, const int *prompt_len, int *seq_len, int B, int max_len,
                          float temperature, int stop_at_eos, int check_rule, int max_tries, Rng *rngs) {
    const Config *c = &m->cfg;
    KVCache *kv = kvcache_create(c, B, max_len);
    int *active = mallocCheck(B * sizeof(int)), *tok = mallocCheck(B * sizeof(int));
    int *forcing = mallocCheck(B * sizeof(int));
    int n_active = 0;
    for (int b = 0; b < B; b++) {
        seq_len[b] = prompt_len[b];
        active[n_active++] = b;
    }
    for (int pos = 0; pos < max_len - 1 && n_active > 0; pos++) {
        for (int i = 0; i < n_active; i++) {
            tok[i] = seqs[(size_t)active[i] * max_len + pos];
            kv->row[i] = active[i];
        }
        model_forward(m, tok, NULL, n_active, 1, kv, pos);
        int still = 0;
        for (int i = 0; i < n_active; i++) {
            int b = active[i];
            if (pos + 1 < prompt_len[b]) { active[still++] = b; continue; } // still reading its prompt
            float *logits = m->logits + (size_t)i * c->vocab;
            const int *row = seqs + (size_t)b * max_len;
            int free = check_rule == CHECK_FREE && max_tries == 0;
            int t = free ? sample_token(logits, c->vocab, temperature, &rngs[b])
                         : next_token(logits, c->vocab, temperature, check_rule, max_tries, row, pos + 1,
                                      &forcing[b], &rngs[b]);
            seqs[(size_t)b * max_len + pos + 1] = t;
            seq_len[b] = pos + 2;
            if ((t != TOK_EOS || !stop_at_eos) && pos + 2 < max_len) active[still++] = b;
        }
        n_active = still;
    }
    free(active); free(tok); free(forcing);
    kvcache_free(kv);
}

typedef struct {
    int n, max_len;
    int *seqs;        // [n, max_len] prompt then response tokens
    int *prompt_len;  // [n]
    int *seq_len;     // [n]
    int *prompt;      // [n] index of the prompt in its Data
    int check_rule;   // CHECK_FREE, or eval --check's forced or banned check
    int max_tries;    // eval --tries: the countdown world's try budget (0: none)
} Rollouts;

// the response of row i as text
static void rollout_text(const Rollouts *r, int i, char *out) {
    decode(r->seqs + (size_t)i * r->max_len + r->prompt_len[i], r->seq_len[i] - r->prompt_len[i], out);
}

// the random stream of row i of a batch whose sampling has the given seed: a row's sample does not depend
// on the rows sampled with it (on other threads or processes)
static Rng row_stream(uint64_t seed, int i) { return rng_seed(hash64(hash64(seed) + (uint64_t)i)); }

// the responses of rows [first, first + count) of the rollouts r, whose rows hold their prompts: sampled at
// temperature until <eos> with the latent KV cache, row i from row_stream(seed, i)
static void sample_responses(Model *m, Rollouts *r, int first, int count, float temperature, uint64_t seed) {
    Rng *rngs = mallocCheck((size_t)count * sizeof(Rng));
    for (int i = 0; i < count; i++) rngs[i] = row_stream(seed, first + i);
    int *seqs = r->seqs + (size_t)first * r->max_len, *prompt_len = r->prompt_len + first;
    if (!kernel_generate(m, seqs, prompt_len, r->seq_len + first, count, r->max_len, temperature,
                         r->check_rule, r->max_tries, rngs)) {
        for (int i = 0; i < count; i++) if (prompt_len[i] < 1 || prompt_len[i] >= r->max_len)
            die("prompt of %d tokens does not fit the context %d", prompt_len[i], r->max_len);
        generate_rows(m, seqs, prompt_len, r->seq_len + first, count, r->max_len, temperature, 1,
                      r->check_rule, r->max_tries, rngs);
    }
    free(rngs);
}

// ----------------------------------------------------------------------------
// 10. rule rewards (R1 section 2.2.2): small pure functions of the response text
// (the response is what follows the prompt, special tokens written literally)

// accuracy: the text inside the last <answer>...</answer> parsed as an integer equals the truth
static float reward_accuracy(const char *response, long truth) {
    // exercise 11 begin: the three rule rewards
    const char *a = NULL;
    for (const char *p = strstr(response, "<answer>"); p; p = strstr(p + 1, "<answer>")) a = p;
    if (!a) return 0.0f;
    a += strlen("<answer>");
    const char *end = strstr(a, "</answer>");
    if (!end || end == a || end - a > 18) return 0.0f;
    long v = 0;
    int neg = *a == '-';
    for (const char *p = a + neg; p < end; p++) {
        if (*p < '0' || *p > '9') return 0.0f;
        v = v * 10 + (*p - '0');
    }
    if (neg && end == a + 1) return 0.0f;
    return (neg ? -v : v) == truth ? 1.0f : 0.0f;
    // exercise 11 end
}

// format: exactly <think>...</think><answer>...</answer><eos>, no other special token inside
static float reward_format(const char *response) {
    // exercise 11 begin: the three rule rewards
    const char *p = response;
    if (strncmp(p, "<think>", 7) != 0) return 0.0f;
    p += 7;
    const char *close = strstr(p, "</think>");
    if (!close || memchr(p, '<', close - p)) return 0.0f;
    p = close + 8;
    if (strncmp(p, "<answer>", 8) != 0) return 0.0f;
    p += 8;
    close = strstr(p, "</answer>");
    if (!close || close == p || memchr(p, '<', close - p)) return 0.0f;
    return strcmp(close + 9, "<eos>") == 0 ? 1.0f : 0.0f;
    // exercise 11 end
}

// which lexicon a word of the chain of thought belongs to: LANG_EN, LANG_JA, or -1
static int word_language(const char *w, int len) {
    for (int lang = 0; lang < N_LANGS; lang++) {
        for (int i = 0; i < N_WORDS; i++)
            if ((int)strlen(WORDS[lang][i]) == len && strncmp(WORDS[lang][i], w, len) == 0) return lang;
        for (int i = 0; i < N_CD_WORDS; i++)
            if ((int)strlen(CD_WORDS[lang][i]) == len && strncmp(CD_WORDS[lang][i], w, len) == 0) return lang;
    }
    return -1;
}

// language consistency (R1 section 2.3.2): the fraction of words in the think span that are in the
// prompt's language; 1 when the span has no words. A word has two letters or more: the code world's
// variable x is not one
static float reward_language(const char *response, int lang) {
    // exercise 11 begin: the three rule rewards
    const char *p = strstr(response, "<think>"), *end;
    if (!p) return 0.0f;
    p += 7;
    end = strstr(p, "</think>");
    if (!end) end = p + strlen(p);
    int words = 0, same = 0;
    while (p < end) {
        if (*p == '<') { // a special token is not a word
            while (p < end && *p != '>') p++;
        } else if (*p >= 'a' && *p <= 'z') {
            const char *w = p;
            while (p < end && *p >= 'a' && *p <= 'z') p++;
            if (p - w < 2) continue;
            words++;
            same += word_language(w, (int)(p - w)) == lang;
        } else {
            p++;
        }
    }
    return words ? (float)same / words : 1.0f;
    // exercise 11 end
}

// repetition (R1's readability problem; rejection sampling drops it): the same equation chunk "a+b+...=s"
// written twice in the think span. Returns how many of its equation chunks repeat an earlier one, and the
// count of them all in *chunks (if not NULL)
static int repeated_chunks(const char *response, int *chunks) {
    int n = 0, repeated = 0;
    const char *p = strstr(response, "<think>"), *end;
    if (chunks) *chunks = 0;
    if (!p) return 0;
    p += 7;
    end = strstr(p, "</think>");
    if (!end) end = p + strlen(p);
    for (const char *b = p; b < end; b++) {
        if (b != p && b[-1] != ' ') continue;                   // b starts a chunk
        size_t lb = strcspn(b, " <");
        if (b + lb > end || !memchr(b, '=', lb)) continue;      // only equations count
        n++;
        for (const char *a = p; a < b; a++)                     // an earlier chunk the same
            if ((a == p || a[-1] == ' ') && strcspn(a, " <") == lb && strncmp(a, b, lb) == 0) {
                repeated++;
                break;
            }
    }
    if (chunks) *chunks = n;
    return repeated;
}

// a response repeats itself: an equation chunk of its think span is written twice
static int response_repeats(const char *response) { return repeated_chunks(response, NULL) > 0; }

// the integer in the last <answer>, for majority voting; returns 0 if there is none
static int response_answer(const char *response, long *value) {
    for (long v = 0; v < 1000; v++) if (reward_accuracy(response, v) > 0) { *value = v; return 1; }
    return 0;
}

// ---- the countdown world's rules. A try as written: "a op b=r r2 op c=v"; its numbers may be wrong
typedef struct { int a, b, r, r2, c, v; char op1, op2; } WrittenTry;

// a number of 1-3 digits at s, without a leading zero; returns the characters read (0: none)
static int parse_number(const char *s, int *x) {
    int n = 0;
    *x = 0;
    while (n < 3 && s[n] >= '0' && s[n] <= '9') *x = *x * 10 + (s[n++] - '0');
    return (s[n] >= '0' && s[n] <= '9') || (n > 1 && s[0] == '0') ? 0 : n;
}

// "x op y=z" at s; returns the characters read (0: not one)
static int parse_operation(const char *s, int *x, char *op, int *y, int *z) {
    int o = parse_number(s, x), n;
    if (!o || !s[o] || !strchr("+-*", s[o])) return 0;
    *op = s[o++];
    if (!(n = parse_number(s + o, y)) || s[o + n] != '=') return 0;
    o += n + 1;
    return (n = parse_number(s + o, z)) ? o + n : 0;
}

// a try "a op b=r r2 op c=v" at s; returns the characters read (0: not one)
static int parse_try(const char *s, WrittenTry *t) {
    int o = parse_operation(s, &t->a, &t->op1, &t->b, &t->r), n;
    if (!o || s[o] != ' ') return 0;
    o++;
    return (n = parse_operation(s + o, &t->r2, &t->op2, &t->c, &t->v)) ? o + n : 0;
}

// the try's arithmetic as written is right, and its three digits are the prompt's, each used once
static int try_sound(const Countdown *p, const WrittenTry *t) {
    // exercise 12 begin: the countdown reward: a try re-evaluated
    int used[CD_DIGITS] = {0}, given[3] = { t->a, t->b, t->c };
    for (int i = 0; i < 3; i++) {
        int k = 0;
        while (k < CD_DIGITS && (used[k] || p->digit[k] != given[i])) k++;
        if (k == CD_DIGITS) return 0;
        used[k] = 1;
    }
    return apply_op(t->a, t->op1, t->b) == t->r && t->r2 == t->r && apply_op(t->r2, t->op2, t->c) == t->v;
    // exercise 12 end
}

// accuracy (R1's rule reward, re-evaluated): the answer is one try, sound, whose value is the target.
// An "ok" in the think span earns nothing by itself
static float reward_countdown(const char *response, const Countdown *p) {
    // exercise 12 begin: the countdown reward: a try re-evaluated
    const char *a = NULL;
    for (const char *s = strstr(response, "<answer>"); s; s = strstr(s + 1, "<answer>")) a = s;
    if (!a) return 0.0f;
    a += strlen("<answer>");
    WrittenTry t;
    int n = parse_try(a, &t);
    if (!n || strncmp(a + n, "</answer>", 9) != 0) return 0.0f;
    return try_sound(p, &t) && t.v == p->target ? 1.0f : 0.0f;
    // exercise 12 end
}

// ---- the code world's rules: the answer's program runs on the tests. The tests the RL reward sees
// (--code-reward): the shown examples only, the hidden tests only, or both (R1's test cases)
enum { CODE_TESTS_SHOWN, CODE_TESTS_HIDDEN, CODE_TESTS_BOTH, N_CODE_TESTS };
static const char *CODE_TESTS_NAMES[N_CODE_TESTS] = { "shown", "hidden", "both" };

// the text inside the last <answer>...</answer>: its start in *program, its length; -1 if there is none
static int answer_text(const char *response, const char **program) {
    const char *a = NULL;
    for (const char *s = strstr(response, "<answer>"); s; s = strstr(s + 1, "<answer>")) a = s;
    if (!a) return -1;
    a += strlen("<answer>");
    const char *end = strstr(a, "</answer>");
    *program = a;
    return end ? (int)(end - a) : -1;
}

// the tests program s[0..len-1] passes: *shown, every shown example; *hidden, every hidden test (the inputs
// 0-9 the prompt does not show, their outputs by the true function f; f NULL: unknown, none passes).
// A program that does not parse, or overflows on a test, fails it
static void code_tests(const char *s, int len, const CodeTask *t, const CodeFn *f, int *shown, int *hidden) {
    int is_shown[CODE_INPUTS] = {0}, v;
    *shown = code_meets(s, len, t) == CODE_SHOWN;
    for (int i = 0; i < CODE_SHOWN; i++) is_shown[t->in[i]] = 1;
    *hidden = f != NULL;
    for (int x = 0; x < CODE_INPUTS && *hidden; x++)
        if (!is_shown[x]) *hidden = code_run(s, len, x, &v) && v == code_fn_value(f, x);
}

// accuracy by tests (R1's rule reward for code, run rather than compared): 1 when the answer's program
// passes the tests of the given kind (CODE_TESTS_*), else 0. A "ok" in the think span earns nothing
static float reward_code(const char *response, const CodeTask *t, const CodeFn *f, int tests) {
    const char *program;
    int len = answer_text(response, &program), shown, hidden;
    if (len <= 0) return 0.0f;
    code_tests(program, len, t, f, &shown, &hidden);
    return (tests == CODE_TESTS_SHOWN ? shown : tests == CODE_TESTS_HIDDEN ? hidden : shown && hidden) ? 1.0f
                                                                                                      : 0.0f;
}

// a response judged by the rules: its rewards, and what rejection sampling also reads (its style and
// reflection, which evaluation reports too, are measured in Part II: measure_response)
typedef struct {
    float correct, format, language;  // the three rule rewards
    float shown, hidden;  // code: the answer passes the shown examples, the hidden tests (elsewhere: correct)
    int repeats, len;     // the think span repeats an equation chunk; the response's length in tokens
} Judgement;

// what every world judges alike: the format and language rewards, repetition, the length
static Judgement judge_common(const char *response, int len, int lang) {
    Judgement j = { .format = reward_format(response), .language = reward_language(response, lang),
                    .repeats = response_repeats(response), .len = len };
    return j;
}

static Judgement judge(const char *response, int len, long truth, int lang) {
    Judgement j = judge_common(response, len, lang);
    j.correct = j.shown = j.hidden = reward_accuracy(response, truth);
    return j;
}

// a response to a countdown problem: its accuracy by reward_countdown
static Judgement judge_countdown(const char *response, int len, const Countdown *p) {
    Judgement j = judge_common(response, len, p->lang);
    j.correct = j.shown = j.hidden = reward_countdown(response, p);
    return j;
}

// a response to a code task of true function truth (code_fn_id; not a valid one: no hidden test passes):
// correct when the answer passes every test, shown and hidden
static Judgement judge_code(const char *response, int len, const CodeTask *t, long truth) {
    Judgement j = judge_common(response, len, t->lang);
    CodeFn f;
    const CodeFn *known = code_fn_of(truth, &f) ? &f : NULL;
    j.shown = reward_code(response, t, known, CODE_TESTS_SHOWN);
    j.hidden = reward_code(response, t, known, CODE_TESTS_HIDDEN);
    j.correct = reward_code(response, t, known, CODE_TESTS_BOTH);
    return j;
}

// the judgement of a response to a prompt of any world (the prompt's form says which; a code prompt's
// truth is its true function, code_fn_id)
static Judgement judge_prompt(const char *prompt, const char *response, int len, long truth) {
    Countdown p;
    CodeTask t;
    if (countdown_parse(prompt, &p)) return judge_countdown(response, len, &p);
    if (code_parse(prompt, &t)) return judge_code(response, len, &t, truth);
    return judge(response, len, truth, prompt[0] == LANG_TAG[LANG_JA] ? LANG_JA : LANG_EN);
}

// the rewards of a run: which rules count, with their weights. "random" is a control: a coin of probability
// random_p in place of accuracy, drawn independently of the response's text. prm: a learned process reward
// model instead of a rule (the road R1 did not take, Part II section 23; NULL: none)
typedef struct Prm Prm;
typedef struct {
    int accuracy, format, language, random;
    int code_tests;  // the code world: the tests accuracy sees (CODE_TESTS_*)
    float format_weight, language_weight, random_p;
    Prm *prm;
} RewardSet;

// the reward of one response: accuracy (or the random control) + format_weight * format
// (+ language_weight * language). R1 adds its rules unweighted; r1.c's format weight 0.1 is partial
// credit (a well-formed wrong answer must not earn as much as a right one)
static float grpo_reward(const Judgement *j, const RewardSet *use, Rng *rng) {
    float tests = use->code_tests == CODE_TESTS_SHOWN ? j->shown : use->code_tests == CODE_TESTS_HIDDEN ?
                  j->hidden : j->correct;  // the same three elsewhere than in the code world
    float r = use->accuracy ? tests : use->random ? (float)(rng_f32(rng) < use->random_p) : 0.0f;
    return r + (use->format ? use->format_weight * j->format : 0.0f) +
           (use->language ? use->language_weight * j->language : 0.0f);
}

// ----------------------------------------------------------------------------
// 11. GRPO (DeepSeekMath eq. 3, R1 section 2.2.1)
//
// For each prompt sample a group of G responses; reward them by rules; the advantage of each
// response is its reward normalised within the group (outcome supervision: every token of a
// response gets the same advantage); maximise the clipped surrogate with a KL penalty to a frozen
// reference model.

enum { LOSS_GRPO, LOSS_BNPO, LOSS_DR_GRPO, LOSS_DAPO, N_LOSSES };
static const char *LOSS_NAMES[N_LOSSES] = { "grpo", "bnpo", "dr_grpo", "dapo" };

typedef struct {
    float beta;              // weight of the KL to the reference
    float eps_low, eps_high; // clip range of the ratio: [1 - eps_low, 1 + eps_high]
    float temperature;       // sampling temperature; the policy's logits are divided by it
    int sequence_level;      // importance_sampling_level: 0 token (GRPO), 1 sequence (GSPO)
    // the surrogate only on the tokens of highest entropy: this share (0 or 1: all)
    float top_entropy_quantile;
    // the step around the loss (grpo_step)
    int num_iterations;      // mu: policy updates per batch of rollouts
    int loss_type, scale_rewards;   // LOSS_*: the loss normalisation; SCALE_*: the std of the advantages
    int mask_truncated_completions; // responses cut off by the context (no <eos>) get no loss
    int max_completion_length;      // dr_grpo's constant normaliser
    int chunk_rows;                 // rows per forward and backward, in chunks of similar length (0: all)
    OptimConfig optim;              // each of the mu updates: AdamW, the gradient clip, the router-bias step
} GrpoConfig;

typedef struct { double kl, clipped_low, clipped_high, entropy, tokens; } GrpoStats;

// group-normalised advantages (DeepSeekMath section 4.1.2): A_i = (r_i - mean(r)) / (std + eps), the
// mean over the group and TRL's scale_rewards choosing the std: the group's (GRPO), the whole batch's,
// or none (Dr. GRPO). A group of equal rewards gets A = 0. The sample std (n - 1) + eps 1e-4, as TRL's
// (torch.std uses Bessel's correction).
enum { SCALE_GROUP, SCALE_BATCH, SCALE_NONE, N_SCALES };
static const char *SCALE_NAMES[N_SCALES] = { "group", "batch", "none" };

static float sample_std(const float *x, int n) {
    float mean = 0.0f, var = 0.0f;
    for (int i = 0; i < n; i++) mean += x[i] / n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean) / (n > 1 ? n - 1 : 1);
    return sqrtf(var);
}

static void grpo_advantages(float *adv, const float *reward, int n_groups, int G, int scale) {
    // exercise 13 begin: group-normalised advantages
    float batch_std = sample_std(reward, n_groups * G);
    for (int g = 0; g < n_groups; g++) {
        const float *r = reward + g * G;
        float mean = 0.0f, lo = r[0], hi = r[0];
        for (int i = 0; i < G; i++) { mean += r[i] / G; lo = fminf(lo, r[i]); hi = fmaxf(hi, r[i]); }
        // exactly 0, no rounding
        if (lo == hi) { for (int i = 0; i < G; i++) adv[g * G + i] = 0.0f; continue; }
        float std = scale == SCALE_GROUP ? sample_std(r, G) : batch_std;
        for (int i = 0; i < G; i++)
            adv[g * G + i] = scale == SCALE_NONE ? r[i] - mean : (r[i] - mean) / (std + 1e-4f);
    }
    // exercise 13 end
}

// the entropy below which a response token is left out of the surrogate (TRL's top_entropy_quantile):
// the (1 - q) quantile of the entropies of the tokens with w > 0; -inf when every token counts.
// As torch.quantile (TRL): the sorted entropies interpolated linearly at position (1 - q)(n - 1)
static float entropy_threshold(const float *entropy, const float *w, int N, float q) {
    if (q <= 0.0f || q >= 1.0f) return -INFINITY;
    float *active = mallocCheck((size_t)N * sizeof(float));
    int n = 0;
    for (int i = 0; i < N; i++) if (w[i] != 0.0f) active[n++] = entropy[i];
    qsort(active, n, sizeof(float), cmp_float);
    float threshold = -INFINITY;
    if (n) {
        float pos = (1.0f - q) * (n - 1);
        int below = imin((int)pos, n - 1), above = imin(below + 1, n - 1);
        threshold = active[below] + (pos - below) * (active[above] - active[below]);
    }
    free(active);
    return threshold;
}

// per response b of B (rows of T tokens): seq_logratio[b], the mean over its tokens of logp - old_logp
// (GSPO's log-ratio; 0 without old_logp), and seq_weight[b], the summed weight w of its tokens in the
// surrogate (entropy >= threshold) over its token count, d (mean log-ratio) / d logp = 1 / count
static void sequence_terms(float *seq_logratio, float *seq_weight, const float *logp, const float *old_logp,
                           const float *entropy, float threshold, const float *w, int B, int T) {
    for (int b = 0; b < B; b++) {
        float sum = 0.0f; int count = 0;
        seq_weight[b] = 0.0f;
        for (int t = 0; t < T; t++) {
            int n = b * T + t;
            if (w[n] == 0.0f) continue;
            sum += old_logp ? logp[n] - old_logp[n] : 0.0f;
            count++;
            if (entropy[n] >= threshold) seq_weight[b] += w[n];
        }
        seq_logratio[b] = count ? sum / count : 0.0f;
        if (count) seq_weight[b] /= count;
    }
}

// The GRPO loss (DeepSeekMath eq. 3) and its gradient with respect to the logits.
// Token n (of N = B*T) predicts targets[n] and has weight w[n] (0 for prompt and padding tokens; the
// weights carry the loss normalisation). For a response token with advantage A:
//   ratio = exp(logp - logp_old)                      (logp of the logits / temperature)
//   surrogate = min(ratio A, clip(ratio, 1 - eps_low, 1 + eps_high) A)
//   kl = exp(logp_ref - logp) - (logp_ref - logp) - 1 (the unbiased k3 estimator, DeepSeekMath eq. 4)
//   loss += -w (surrogate - beta kl)
// The R1 paper writes the ratio per response; here it is per token, as DeepSeekMath and TRL do, unless
// sequence_level (GSPO): then every token of a response shares exp(mean over its tokens of logp - logp_old).
// old_logp NULL: the policy that sampled is the current one (ratio exactly 1). ref_logp NULL: no KL.
// Writes logp[N] (this policy's log-probabilities of the targets) and dlogits[N,V].
static float grpo_loss(float *dlogits, float *logp, const float *logits, const int *targets, const float *w,
                       const float *adv, const float *old_logp, const float *ref_logp, int B, int T, int V,
                       const GrpoConfig *g, GrpoStats *st) {
    int N = B * T;
    float *entropy = mallocCheck((size_t)N * sizeof(float));
    float *seq_logratio = mallocCheck((size_t)B * sizeof(float));
    float *seq_weight = mallocCheck((size_t)B * sizeof(float));
    // pass 1: the probabilities p = softmax(z / temperature) (kept in dlogits), logp and the entropy
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *p = dlogits + (size_t)n * V;
        logp[n] = entropy[n] = 0.0f;
        if (w[n] == 0.0f) { memset(p, 0, V * sizeof(float)); continue; }
        logp[n] = softmax(p, logits + (size_t)n * V, V, g->temperature, targets[n]);
        for (int i = 0; i < V; i++) if (p[i] > 0) entropy[n] -= p[i] * logf(p[i]);
    }
    float threshold = entropy_threshold(entropy, w, N, g->top_entropy_quantile);
    sequence_terms(seq_logratio, seq_weight, logp, old_logp, entropy, threshold, w, B, T);
    // pass 2: the loss and d loss / d logits
    double loss = 0.0, kl_sum = 0.0, low_sum = 0.0, high_sum = 0.0, ent_sum = 0.0, n_tok = 0.0;
    #pragma omp parallel for reduction(+:loss, kl_sum, low_sum, high_sum, ent_sum, n_tok) schedule(static)
    for (int n = 0; n < N; n++) {
        if (w[n] == 0.0f) continue;
        float *dz = dlogits + (size_t)n * V; // holds p
        // exercise 14 begin: the GRPO loss: ratio, clipped surrogate, k3 KL and their gradient
        int b = n / T, in_surrogate = entropy[n] >= threshold;
        float A = adv[b], lp = logp[n];
        float ratio = g->sequence_level ? expf(seq_logratio[b]) : old_logp ? expf(lp - old_logp[n]) : 1.0f;
        float clipped = fminf(fmaxf(ratio, 1.0f - g->eps_low), 1.0f + g->eps_high);
        float surrogate = 0.0f, dsurrogate = 0.0f; // d surrogate / d log-ratio
        if (ratio * A <= clipped * A) { surrogate = ratio * A; dsurrogate = ratio * A; }
        else { surrogate = clipped * A; if (A < 0) low_sum += 1.0; else high_sum += 1.0; }
        float kl = 0.0f, dkl = 0.0f;
        if (ref_logp) {
            float d = ref_logp[n] - lp;
            kl = expf(d) - d - 1.0f;
            dkl = 1.0f - expf(d); // d kl / d logp
        }
        loss += -w[n] * ((in_surrogate ? surrogate : 0.0f) - g->beta * kl);
        // d loss / d logp: a token's own surrogate, or (sequence level) its share of its response's
        float dlp = g->sequence_level ? -seq_weight[b] * dsurrogate
                    : in_surrogate ? -w[n] * dsurrogate : 0.0f;
        dlp += w[n] * g->beta * dkl;
        // d logp / d z_i = (onehot_i - p_i) / temperature
        for (int i = 0; i < V; i++) dz[i] = -dlp * dz[i] / g->temperature;
        dz[targets[n]] += dlp / g->temperature;
        kl_sum += kl; ent_sum += entropy[n]; n_tok += 1.0;
        // exercise 14 end
    }
    if (st) {
        st->kl += kl_sum; st->clipped_low += low_sum; st->clipped_high += high_sum;
        st->entropy += ent_sum; st->tokens += n_tok;
    }
    free(entropy); free(seq_logratio); free(seq_weight);
    return (float)loss;
}

// the batch of a GRPO step: row i of inputs[n,T] and targets[n,T] is rollout i and the same shifted by
// one token, padded with <eos>; mask[n,T] (the completion mask) is 1 where the target is a token of the
// response, 0 on the prompt and the padding; len[n]: the positions whose target is a token of the rollout
static void rollout_batch(const Rollouts *r, int T, int *inputs, int *targets, float *mask, int *len) {
    for (int i = 0; i < r->n; i++) {
        const int *s = r->seqs + (size_t)i * r->max_len;
        int pl = r->prompt_len[i], sl = r->seq_len[i];
        len[i] = imin(sl - 1, T);
        for (int t = 0; t < T; t++) {
            inputs[i * T + t] = t < sl ? s[t] : TOK_EOS;
            targets[i * T + t] = t + 1 < sl ? s[t + 1] : TOK_EOS;
            mask[i * T + t] = t + 1 >= pl && t + 1 < sl;
        }
    }
}

// the loss normalisation of each loss type, as per-token weights w[n,T] of grpo_loss, from the
// completion mask[n,T] of n responses (|o_i| = the sum of row i, the tokens of response i):
//   grpo     1 / (n |o_i|)      each response's mean over its tokens, then the mean (DeepSeekMath eq. 3)
//   bnpo     1 / sum_i |o_i|    the mean over all response tokens of the batch
//   dr_grpo  1 / (n max_len)    a sum over a constant (Dr. GRPO): no preference for short or long responses
//   dapo     1 / sum_i |o_i|    over the active tokens of the whole batch (TRL: across processes and
//                               accumulation steps; r1 has one batch per step, so it equals bnpo)
// max_len: the longest response the context allows. Prompt and padding tokens get 0.
static void grpo_loss_weights(float *w, const float *mask, int n, int T, int max_len, int loss_type) {
    // exercise 15 begin: the loss normalisations of grpo, bnpo, dr_grpo and dapo
    float total = 0.0f;
    for (int i = 0; i < n * T; i++) total += mask[i];
    for (int i = 0; i < n; i++) {
        float len = 0.0f, wt;
        for (int t = 0; t < T; t++) len += mask[i * T + t];
        switch (loss_type) {
        case LOSS_GRPO: wt = 1.0f / ((float)n * len); break;
        case LOSS_BNPO: wt = 1.0f / total; break;
        case LOSS_DR_GRPO: wt = 1.0f / ((float)n * max_len); break;
        case LOSS_DAPO: wt = 1.0f / total; break; // the whole batch's tokens: one batch per step, so = bnpo
        default: die("unknown loss type %d", loss_type);
        }
        for (int t = 0; t < T; t++) w[i * T + t] = mask[i * T + t] > 0.0f ? wt : 0.0f;
    }
    // exercise 15 end
}

// log pi(targets[n]) of logits[N,V] at the temperature, for the tokens of weight w > 0 (0 elsewhere)
static void token_logprobs(float *logp, const float *logits, const int *targets, const float *w, int N, int V,
                           float temperature) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float p[256];
        logp[n] = w[n] == 0.0f ? 0.0f : softmax(p, logits + (size_t)n * V, V, temperature, targets[n]);
    }
}

// the frozen reference's log-probabilities of the batch (the KL of DeepSeekMath eq. 4), once per batch
static void reference_logprobs(float *ref_logp, Model *ref, const int *inputs, const int *targets,
                               const float *w, const int *len, int B, int T, float temperature) {
    model_forward(ref, inputs, len, B, T, NULL, 0);
    memset(ref->expert_load, 0, sizeof ref->expert_load);  // the reference is not trained
    token_logprobs(ref_logp, ref->logits, targets, w, B * T, ref->cfg.vocab, temperature);
}

// the reference moved towards the policy: ref = alpha policy + (1 - alpha) ref, router biases too. R1
// resets it to the policy (alpha 1) every 400 steps; TRL mixes (TR-DPO's alpha 0.6)
static void reference_sync(Model *ref, const Model *m, float alpha) {
    for (size_t i = 0; i < m->num_params; i++)
        ref->params_mem[i] = alpha * m->params_mem[i] + (1.0f - alpha) * ref->params_mem[i];
    for (int l = 0; l < MAX_LAYERS; l++)
        for (int e = 0; e < MAX_EXPERTS; e++)
            ref->router_bias[l][e] = alpha * m->router_bias[l][e] + (1.0f - alpha) * ref->router_bias[l][e];
    kernel_params_changed(ref->params_mem);
}

typedef struct GrpoStepLog {              // what a GRPO step measured, for the log
    GrpoStats st;                         // summed over the response tokens of all mu passes
    float loss;                           // the last pass's
    // the MoE at the first pass (moe_diagnostics): router_entropy summed over moe_tokens tokens
    float load_spread[MAX_LAYERS], router_entropy[MAX_LAYERS], moe_tokens;
} GrpoStepLog;

// the prompts of RL: prompt i is text[i], the tokens ids[i][0..len[i]), whose true answer is answer[i]
typedef struct { int n; char **text; int **ids; const int *len; const long *answer; } Prompts;

// the batch of grpo_step from the rollouts r: inputs, targets [n,T], len[n] (rollout_batch) and the loss
// type's weights w[n,T] (responses cut off by the context weigh 0 under mask_truncated_completions)
static void grpo_batch(const Rollouts *r, int T, const GrpoConfig *g, int *inputs, int *targets, float *w,
                       int *len) {
    float *mask = mallocCheck((size_t)r->n * T * sizeof(float));
    rollout_batch(r, T, inputs, targets, mask, len);
    for (int i = 0; i < r->n && g->mask_truncated_completions; i++) // no <eos>: cut off by the context
        if (r->seqs[(size_t)i * r->max_len + r->seq_len[i] - 1] != TOK_EOS)
            memset(mask + (size_t)i * T, 0, T * sizeof(float));
    grpo_loss_weights(w, mask, r->n, T, g->max_completion_length, g->loss_type);
    free(mask);
}

static int chunk_by_length(int *c_inputs, int *c_targets, float *c_w, int *c_len, float *c_adv, int *chunk_T,
                           const int *inputs, const int *targets, const float *w, const int *len,
                           const float *adv, int n, int T, int chunk);

// One GRPO step (DeepSeekMath Algorithm 1, one iteration of its inner loop) on the rollouts r: G responses
// to each of n / G prompts, sampled from the policy m (pi_old) and scored reward[n] by the rules (step 1,
// grpo_iteration's). ref: the frozen reference (NULL when beta is 0). Returns STEP_OK, the step then counted
// in m->step, or the status that stopped it before an update.
// The batch runs in chunks of g->chunk_rows rows of about the same length (chunk_by_length). The loss is a
// sum over tokens with weights normalised over the whole batch, so the chunks' gradients add up to the
// batch's. TRL's top-entropy quantile is one over the batch: that option runs the batch as one chunk. The
// MoE is balanced by the router bias alone (the balance loss is pretraining's: a loaded policy's alpha is 0).
// Data parallel: every process holds the whole batch's rollouts and rewards (grpo_iteration gathers them),
// so the advantages and the loss weights are the whole batch's; it runs the forward and backward of its
// share of the groups only (the top-entropy quantile is then its share's), and optimizer_step sums the
// gradients.
static int grpo_step(Model *m, Model *ref, const Rollouts *r, const float *reward, int G, const GrpoConfig *g,
                     GrpoStepLog *log) {
    int n = r->n, P = n / G, T = 1, step = m->step, status = STEP_OK, V = m->cfg.vocab;
    for (int i = 0; i < n; i++) T = imax(T, r->seq_len[i] - 1);
    size_t nt = (size_t)n * T;
    int *inputs = mallocCheck(nt * sizeof(int)), *targets = mallocCheck(nt * sizeof(int));
    int *len = mallocCheck(n * sizeof(int));
    float *adv = mallocCheck(n * sizeof(float)), *w = mallocCheck(nt * sizeof(float));
    // the chunks, one after another: chunk c holds its rows as [rows, chunk_T[c]] at c0 * T
    int *c_inputs = mallocCheck(nt * sizeof(int)), *c_targets = mallocCheck(nt * sizeof(int));
    int *c_len = mallocCheck(n * sizeof(int)), *chunk_T = mallocCheck(n * sizeof(int));
    float *c_w = mallocCheck(nt * sizeof(float)), *c_adv = mallocCheck(n * sizeof(float));
    float *logp = mallocCheck(nt * sizeof(float)), *old_logp = mallocCheck(nt * sizeof(float));
    float *ref_logp = mallocCheck(nt * sizeof(float));
    memset(log, 0, sizeof *log);
    // 2. group-normalised advantages
    grpo_advantages(adv, reward, P, G, g->scale_rewards);
    // 3. the batch: inputs, targets, and the per-token weights that carry the loss normalisation
    grpo_batch(r, T, g, inputs, targets, w, len);
    // ... from here on this process's share of the groups, its n rows from row r0 (all of them in one
    // process), cut into chunks of rows of about the same length; the reference's log-probabilities
    int p0, P_here;
    dist_share(P, &p0, &P_here);
    int r0 = p0 * G;
    n = P_here * G;
    int whole = g->chunk_rows <= 0 || (g->top_entropy_quantile > 0.0f && g->top_entropy_quantile < 1.0f);
    int chunk = whole ? n : imin(g->chunk_rows, n);
    size_t at = (size_t)r0 * T;
    int n_chunks = chunk_by_length(c_inputs, c_targets, c_w, c_len, c_adv, chunk_T, inputs + at, targets + at,
                                   w + at, len + r0, adv + r0, n, T, chunk);
    for (int c = 0, c0 = 0; c < n_chunks && ref; c++, c0 += chunk) {
        int rows = imin(chunk, n - c0), Tc = chunk_T[c];
        size_t off = (size_t)c0 * T;
        reference_logprobs(ref_logp + off, ref, c_inputs + off, c_targets + off, c_w + off, c_len + c0,
                           rows, Tc, g->temperature);
    }
    // 4. mu policy updates on this batch; the first pass's log-probabilities are pi_old's. The logged
    // KL, clip fraction and entropy are means over the tokens of all mu passes (the first clips nothing)
    // exercise 16 begin: capstone: the GRPO policy update and an R1-Zero run
    for (int it = 0; it < g->num_iterations; it++) {
        model_zero_grad(m);
        log->loss = 0.0f;
        for (int c = 0, c0 = 0; c < n_chunks; c++, c0 += chunk) {  // the chunks' gradients add up
            int rows = imin(chunk, n - c0), Tc = chunk_T[c];
            size_t off = (size_t)c0 * T;
            model_forward(m, c_inputs + off, c_len + c0, rows, Tc, NULL, 0);
            if (it == 0) moe_diagnostics(m, c_w + off, log);
            float loss = grpo_loss(m->dlogits, logp + off, m->logits, c_targets + off, c_w + off, c_adv + c0,
                                   it == 0 ? NULL : old_logp + off, ref ? ref_logp + off : NULL, rows, Tc, V,
                                   g, &log->st);
            log->loss += loss;
            if (!isfinite(loss)) { status = STEP_LOSS_NOT_FINITE; break; }
            model_backward(m);
        }
        if (status != STEP_OK) break;
        if (it == 0) memcpy(old_logp, logp, nt * sizeof(float));
        float norm;  // the bias update weighs the expert loads of all chunks by the batch's n rows
        status = optimizer_step(m, &g->optim, step * g->num_iterations + it + 1, n, &norm);
        if (status != STEP_OK) break;
    }
    // exercise 16 end
    if (status == STEP_OK) m->step = step + 1;
    free(inputs); free(targets); free(len); free(adv); free(w);
    free(c_inputs); free(c_targets); free(c_len); free(chunk_T); free(c_w); free(c_adv);
    free(logp); free(old_logp); free(ref_logp);
    return status;
}

// the rows of a batch sorted by their length (ties by index)
static int cmp_row_len(const void *a, const void *b, void *len) {
    int i = *(const int *)a, j = *(const int *)b, li = ((const int *)len)[i], lj = ((const int *)len)[j];
    return li != lj ? li - lj : i - j;
}

// y[rows,Tc] = the first Tc columns of rows order[0..rows) of x[*,T] (elements of size bytes)
static void gather_row_prefixes(void *y, const void *x, const int *order, int rows, int T, int Tc,
                                size_t size) {
    for (int j = 0; j < rows; j++)
        memcpy((char *)y + (size_t)j * Tc * size, (const char *)x + (size_t)order[j] * T * size, Tc * size);
}

// grpo_step's batch (inputs, targets, w [n,T], len[n], adv[n]) in chunks of `chunk` rows of about the same
// length, each padded only to its own longest row (to the batch's longest, the first steps' batches are half
// padding): chunk c, rows sorted by length from c0 = c * chunk on, is [rows, chunk_T[c]] at c0 * T of
// c_inputs, c_targets, c_w, at c0 of c_len, c_adv. Returns the count.
static int chunk_by_length(int *c_inputs, int *c_targets, float *c_w, int *c_len, float *c_adv, int *chunk_T,
                           const int *inputs, const int *targets, const float *w, const int *len,
                           const float *adv, int n, int T, int chunk) {
    int n_chunks = (n + chunk - 1) / chunk, *order = mallocCheck(n * sizeof(int));
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, n, sizeof(int), cmp_row_len, (void *)len);
    for (int c = 0, c0 = 0; c < n_chunks; c++, c0 += chunk) {
        int rows = imin(chunk, n - c0), Tc = 1;
        for (int j = 0; j < rows; j++) {
            Tc = imax(Tc, len[order[c0 + j]]);
            c_len[c0 + j] = len[order[c0 + j]];
            c_adv[c0 + j] = adv[order[c0 + j]];
        }
        chunk_T[c] = Tc;
        size_t off = (size_t)c0 * T;
        gather_row_prefixes(c_inputs + off, inputs, order + c0, rows, T, Tc, sizeof(int));
        gather_row_prefixes(c_targets + off, targets, order + c0, rows, T, Tc, sizeof(int));
        gather_row_prefixes(c_w + off, w, order + c0, rows, T, Tc, sizeof(float));
    }
    free(order);
    return n_chunks;
}

// data parallel: the rows of r and judged that the other processes sampled and judged (their shares of the
// P groups of G), gathered into this process's (nothing to do in one process)
static void dist_gather_rollouts(Rollouts *r, Judgement *judged, int P, int G);
static void prm_rewards(Prm *prm, const Rollouts *r, float *reward);  // Part II: reward[i] += its score

// R1-Zero's rollouts (DeepSeekMath Algorithm 1, its steps 5-6): a batch of P prompts, G responses to each
// sampled from the policy (pi_old) with the latent KV cache at the temperature, judged by the rule rewards:
// r (P * G rows), reward[P * G], judged[P * G]
static void sample_and_judge(Model *m, const Prompts *train, int P, int G, const RewardSet *use,
                             float temperature, Rollouts *r, float *reward, Judgement *judged, Rng *rng) {
    // 1. a batch of P prompts, each G times
    for (int p = 0; p < P; p++) {
        int q = rng_int(rng, train->n);
        for (int i = p * G; i < (p + 1) * G; i++) {
            r->prompt[i] = q;
            r->prompt_len[i] = train->len[q];
            memcpy(r->seqs + (size_t)i * r->max_len, train->ids[q], train->len[q] * sizeof(int));
        }
    }
    // ... G responses to each, sampled from the policy with the latent KV cache (each row from a stream of
    // its own, row_stream), and judged by the rules. In a data-parallel run each process samples and judges
    // its share of the prompts (whole groups), then gathers the others': the same rows as one process's
    uint64_t seed = rng_u32(rng);
    int p0, P_here;
    dist_share(P, &p0, &P_here);
    sample_responses(m, r, p0 * G, P_here * G, temperature, seed);
    char *text = mallocCheck((size_t)r->max_len * 10 + 16);
    for (int i = p0 * G; i < (p0 + P_here) * G; i++) {
        int q = r->prompt[i];
        rollout_text(r, i, text);
        judged[i] = judge_prompt(train->text[q], text, r->seq_len[i] - r->prompt_len[i], train->answer[q]);
    }
    free(text);
    dist_gather_rollouts(r, judged, P, G);
    // ... reward r_i of response o_i
    for (int i = 0; i < P * G; i++) reward[i] = grpo_reward(&judged[i], use, rng);
    if (use->prm) prm_rewards(use->prm, r, reward);
}

// R1-Zero's loop, one iteration (DeepSeekMath Algorithm 1, its steps 5-10; R1 section 2.2): for a batch
// of P prompts, sample G responses each from the policy (pi_old), judge them by the rule rewards, then
// grpo_step: group-normalised advantages and mu policy updates. r (P * G rows), reward[P * G] and
// judged[P * G] are the caller's, for its log. Returns grpo_step's status.
static int grpo_iteration(Model *m, Model *ref, const Prompts *train, int P, int G, const RewardSet *use,
                          const GrpoConfig *g, Rollouts *r, float *reward, Judgement *judged, Rng *rng,
                          GrpoStepLog *log) {
    // 1. P prompts, G responses each, rewarded
    sample_and_judge(m, train, P, G, use, g->temperature, r, reward, judged, rng);
    // 2-4. group-normalised advantages, then mu policy updates
    return grpo_step(m, ref, r, reward, G, g, log);
}

// ----------------------------------------------------------------------------
// 12. rejection sampling's rule and the distillation loss (R1 sections 2.3.3 and 2.4)

// a response is kept for SFT when it is correct, well formed, in one language, not over-long and
// not repetitive
static int rejection_keep(const Judgement *j, int max_len) {
    // exercise 17 begin: the rejection-sampling keep rule
    return j->correct > 0.0f && j->format > 0.0f && j->language >= 1.0f && j->len <= max_len && !j->repeats;
    // exercise 17 end
}

// logit-level distillation (Hinton et al.): loss = alpha tau^2 KL(p_teacher || p_student), both at
// temperature tau, plus (1 - alpha) cross-entropy on the targets; per token weights w. dlogits[N,V]: the
// student's gradient.
static float distill_loss(float *dlogits, const float *student, const float *teacher, const int *targets,
                          const float *w, int N, int V, float tau, float alpha) {
    // exercise 18 begin: the distillation loss and its gradient
    double loss = 0.0;
    #pragma omp parallel for reduction(+:loss) schedule(static)
    for (int n = 0; n < N; n++) {
        float *dz = dlogits + (size_t)n * V;
        memset(dz, 0, V * sizeof(float));
        if (w[n] == 0.0f) continue;
        const float *zs = student + (size_t)n * V, *zt = teacher + (size_t)n * V;
        // student, teacher at temperature tau; student at 1
        float ps[256] = {0}, pt[256] = {0}, p1[256] = {0};
        softmax(ps, zs, V, tau, -1);
        softmax(pt, zt, V, tau, -1);
        softmax(p1, zs, V, 1.0f, -1);
        float kl = 0.0f;
        for (int i = 0; i < V; i++) if (pt[i] > 0) kl += pt[i] * (logf(pt[i]) - logf(fmaxf(ps[i], 1e-30f)));
        float ce = -logf(fmaxf(p1[targets[n]], 1e-30f));
        loss += w[n] * (alpha * tau * tau * kl + (1.0f - alpha) * ce);
        // d(tau^2 KL)/dz_s = tau (p_s - p_t);  d CE/dz = p - onehot
        for (int i = 0; i < V; i++) dz[i] = w[n] * (alpha * tau * (ps[i] - pt[i]) + (1.0f - alpha) * p1[i]);
        dz[targets[n]] -= w[n] * (1.0f - alpha);
    }
    return (float)loss;
    // exercise 18 end
}

// one step of logit-level distillation on B rows of T tokens: the teacher's logits, the student's, the
// loss of distill_loss at temperature tau, the student's backward and update
static int distill_step(Model *student, Model *teacher, const int *inputs, const int *targets, const float *w,
                        const int *len, int B, int T, float tau, float alpha, const OptimConfig *u,
                        float *loss) {
    model_forward(teacher, inputs, len, B, T, NULL, 0);
    memset(teacher->expert_load, 0, sizeof teacher->expert_load);  // the teacher is not trained
    model_zero_grad(student);
    model_forward(student, inputs, len, B, T, NULL, 0);
    *loss = distill_loss(student->dlogits, student->logits, teacher->logits, targets, w, B * T,
                         student->cfg.vocab, tau, alpha);
    if (!isfinite(*loss)) return STEP_LOSS_NOT_FINITE;
    model_backward(student);
    float norm;
    int status = optimizer_step(student, u, student->step + 1, B, &norm);
    if (status == STEP_OK) student->step++;
    return status;
}

// ============================================================================
// PART II. THE MACHINERY
//
// What runs the algorithm: the fast kernels, data files, checkpoints, rollouts and evaluation, the
// drivers of the runs (pretraining, RL, SFT, distillation) with their logs, reports, the command line
// and the pipeline. The drivers call Part I's step functions (lm_step, grpo_step, distill_step).
// ============================================================================

// ----------------------------------------------------------------------------
// 13. the machine: clock, threads, processes (data parallel over MPI), folders and files

static void *reallocCheck(void *p, size_t size) {
    p = realloc(p, size);
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

// the threads a loop may split over: all of them, or 1 inside a parallel region (which has them busy)
static int n_threads(void) {
#ifdef _OPENMP
    return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

// OpenBLAS runs single-threaded inside our OpenMP threads: one thread pool, no oversubscription
static void threads_init(void) {
#ifdef USE_BLAS
    openblas_set_num_threads(1);
#endif
}

// ---- data parallel over processes (make r1_mpi; mpirun -np N ./r1_mpi pretrain|sft|zero|grpo|distill), as
// llm.c: every process holds the whole model and takes the same steps. Each step's batch is cut into
// shares, one per process (dist_share); a process computes the gradient of its share, and after the
// backward pass one MPI_Allreduce sums the shares' gradients (dist_sum_gradients): every process then holds
// the whole batch's gradient and takes the same update. Process 0 alone prints and writes the run's files.
// Built without R1_MPI there is one process and the helpers below do nothing.
static int dist_rank = 0, dist_size = 1;  // this process, and how many there are

// share k of n items: [*first, *first + *count), the shares as equal as can be, in order
static void dist_share_of(int n, int k, int *first, int *count) {
    *first = (int)((long)n * k / dist_size);
    *count = (int)((long)n * (k + 1) / dist_size) - *first;
}
static void dist_share(int n, int *first, int *count) { dist_share_of(n, dist_rank, first, count); }

#ifdef R1_MPI
#include <mpi.h>
static void dist_init(int *argc, char ***argv) {
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dist_size);
    if (dist_rank > 0 && !freopen("/dev/null", "w", stdout)) die("cannot silence process %d", dist_rank);
}
static void dist_finish(void) { MPI_Finalize(); }

// waits for a collective to complete. MPI_Wait polls without a pause; on a machine shared with other work
// (OMP_WAIT_POLICY=passive, README) that polling takes the cores from the very processes it waits for, so
// there a process polls with 50 us sleeps, as OpenMP's passive threads sleep
static void dist_wait(MPI_Request *request) {
    const char *policy = getenv("OMP_WAIT_POLICY");
    int passive = policy && strcasecmp(policy, "passive") == 0;
    if (!passive) { MPI_Wait(request, MPI_STATUS_IGNORE); return; }
    int done = 0;
    while (MPI_Test(request, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done)
        nanosleep(&(struct timespec){ .tv_nsec = 50000 }, NULL);
}

// x[0..n) <- its sum over the processes, the same on every one (MPI counts are ints: 2^30 at a time)
static void dist_allreduce_sum(float *x, size_t n) {
    for (size_t i = 0; i < n; i += (size_t)1 << 30) {
        MPI_Request request;
        MPI_Iallreduce(MPI_IN_PLACE, x + i, (int)(n - i < ((size_t)1 << 30) ? n - i : (size_t)1 << 30),
                       MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request);
        dist_wait(&request);
    }
}
static void dist_allreduce_sum_double(double *x, int n) {
    MPI_Request request;
    MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &request);
    dist_wait(&request);
}

// x holds n items of `size` bytes, each process its share (dist_share_of) of them: every share gathered
// into every process's x
static void dist_gather_shares(void *x, int n, size_t size) {
    int *count = mallocCheck(dist_size * sizeof(int)), *at = mallocCheck(dist_size * sizeof(int));
    for (int k = 0; k < dist_size; k++) {
        dist_share_of(n, k, &at[k], &count[k]);
        at[k] *= (int)size; count[k] *= (int)size;
    }
    MPI_Request request;
    MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, count, at, MPI_BYTE, MPI_COMM_WORLD, &request);
    dist_wait(&request);
    free(count); free(at);
}
#else
static void dist_init(int *argc, char ***argv) { (void)argc; (void)argv; }
static void dist_finish(void) {}
static void dist_allreduce_sum(float *x, size_t n) { (void)x; (void)n; }
static void dist_allreduce_sum_double(double *x, int n) { (void)x; (void)n; }
static void dist_gather_shares(void *x, int n, size_t size) { (void)x; (void)n; (void)size; }
#endif

// the hook after the backward pass (optimizer_step): the gradients of the processes' shares summed into the
// whole batch's, and with them the expert loads and the row count that the router-bias step reads
static void dist_sum_gradients(Model *m, int *rows) {
    if (dist_size == 1) return;
    dist_allreduce_sum(m->grads_mem, m->num_params);
    dist_allreduce_sum(&m->expert_load[0][0], MAX_LAYERS * MAX_EXPERTS);
    float all_rows = (float)*rows;
    dist_allreduce_sum(&all_rows, 1);
    *rows = (int)all_rows;
}

// GRPO: the rollouts and judgements of every process's share of the P groups of G, in every process
static void dist_gather_rollouts(Rollouts *r, Judgement *judged, int P, int G) {
    if (dist_size == 1) return;
    dist_gather_shares(r->seqs, P, (size_t)G * r->max_len * sizeof(int));
    dist_gather_shares(r->seq_len, P, G * sizeof(int));
    dist_gather_shares(judged, P, G * sizeof(Judgement));
}

// a batch of n documents or prompts needs one for each process
static void dist_check_batch(const char *what, int n) {
    if (n < dist_size) die("%s: a step's %d documents or prompts cannot be shared by %d processes", what, n,
                           dist_size);
}

// OpenBLAS (0.3.21 in Debian 12) may take a recent x86-64 CPU it does not know for an older one: "Prescott"
// on an AVX-512 Xeon (several times slower), AVX2 kernels on an AVX-512 EPYC. Under --kernels blas, r1 then
// names the core with the CPU's widest vectors in OPENBLAS_CORETYPE, read when the library loads, and runs
// itself again. A core the user set always wins, and the variable set here stops a second round.
static char **main_argv;  // r1's own command line, to run again (NULL: do not)
static void blas_check_core(void) {
#if defined(USE_BLAS) && defined(__x86_64__)
    static const char *no_avx512[] = { "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Core2",
                                       "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", "Haswell",
                                       "Zen" };
    const char *core = openblas_get_corename(), *cpu = NULL, *want = NULL;
    int n_old = (int)(sizeof no_avx512 / sizeof no_avx512[0]);
    if (__builtin_cpu_supports("avx512f")) { cpu = "AVX-512"; want = "SkylakeX"; }
    else if (__builtin_cpu_supports("avx2")) { cpu = "AVX2"; want = "Haswell"; n_old -= 2; }
    int is_old = 0;
    for (int i = 0; core && i < n_old; i++) is_old |= strcmp(core, no_avx512[i]) == 0;
    if (getenv("OPENBLAS_CORETYPE") || !want || !is_old || !main_argv) return;
    fprintf(stderr,
            "r1: OpenBLAS chose its %s kernels on a CPU with %s; running again with OPENBLAS_CORETYPE=%s\n",
            core, cpu, want);
    fflush(stdout);
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", main_argv);
    fprintf(stderr, "r1: cannot run again (%s); going on with the %s kernels\n", strerror(errno), core);
#else
    (void)main_argv;
#endif
}

static void make_dirs(const char *path) { // mkdir -p
    char buf[512];
    struct stat st;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') { *p = 0; mkdir(buf, 0755); *p = '/'; }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        die("cannot create the folder %s: %s", path, strerror(errno));
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) die("%s exists and is not a folder", path);
}

// opens a file to read (what: "checkpoint", "data file"); a folder, a missing or unreadable file is a
// one-line error that names the cause
static FILE *open_input(const char *path, const char *what) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) die("%s is a folder, not a %s", path, what);
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read the %s %s: %s", what, path, strerror(errno));
    return f;
}

// 1 if the comma list holds the word
static int list_has(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
        if (strcspn(p, ",") == n && strncmp(p, word, n) == 0) return 1;
    return 0;
}

// ----------------------------------------------------------------------------
// 14. fast kernels and their dispatch: r1's packed gemm, OpenBLAS, CUDA (r1.cu), the blocked
// attention, generation on all threads

// ---- dispatch: which code computes the layers' matmul and attention

#ifdef R1_CUDA
// r1.cu implements the hot matmul and attention on the GPU with the same signatures (make r1_cuda).
// Weights stay resident on the device: each parameter buffer is registered once, and marked
// changed after every update so the device copy is refreshed before its next use, and released
// when the model is freed. cuda_enabled = 0 switches back to the C loops (the tests compare the two).
static int cuda_enabled = 1;
void cuda_register_params(const float *params, size_t n);
void cuda_params_changed(const float *params);
void cuda_free_params(const float *params);
void cuda_matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC);
void cuda_matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                          const float *weight, int N, int C, int OC);
void cuda_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                            int B, int T, int NH, int HS, int HV);
void cuda_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                             const float *q, const float *k, const float *v, const float *att,
                             int B, int T, int NH, int HS, int HV);
#endif

// the matmul's code: the plain loops, r1's packed gemm (the default, built with OpenBLAS or not: the same
// bits either way), OpenBLAS (--kernels blas)
enum { MATMUL_PLAIN, MATMUL_PACKED, MATMUL_BLAS };
static int matmul_path = MATMUL_PACKED;
// the attention's code: the plain loops or the blocked kernels (the same sums in the same order)
enum { ATTENTION_PLAIN, ATTENTION_BLOCKED };
static int attention_path = ATTENTION_BLOCKED;
// --kernels (every command's option). fast: r1's own kernels. blas: the same, with OpenBLAS's sgemm for the
// matmul. plain: every kernel declines, so Part I's own loops run alone: no packed gemm, BLAS or CUDA, no
// blocked attention, table RoPE or decoding kernel, no data-parallel model or threaded generation
static int kernels_plain = 0;
#ifdef USE_BLAS
#define KERNELS_WORDS "{fast,blas,plain}"
#define KERNELS_HELP "Part II's fast kernels, the same with OpenBLAS's matmul, or Part I's own loops alone"
#else
#define KERNELS_WORDS "{fast,plain}"  // --kernels blas is a one-line error that says why
#define KERNELS_HELP "Part II's fast kernels, or Part I's own loops alone"
#endif
static void kernels_select(const char *cmd, const char *name) {
    if (strcmp(name, "plain") == 0) {
        kernels_plain = 1;
        matmul_path = MATMUL_PLAIN;
        attention_path = ATTENTION_PLAIN;
#ifdef R1_CUDA
        cuda_enabled = 0;
#endif
    } else if (strcmp(name, "blas") == 0) {
#ifndef USE_BLAS
        die("%s: --kernels blas: this r1 was built without OpenBLAS (install libopenblas-dev, then make)",
            cmd);
#endif
        matmul_path = MATMUL_BLAS;
        blas_check_core();
    } else if (strcmp(name, "fast") != 0) {
        die("%s: option --kernels: '%s' is not one of %s", cmd, name, KERNELS_WORDS);
    }
}

// ---- machinery: the fast matmul. gemm_share() computes c[M,N] = (or +=) a[M,K] b[K,N], a and b given
// by their strides, in the way of BLAS libraries (Goto and van de Geijn, "Anatomy of high-performance
// matrix multiplication", 2008): a micro-kernel keeps a GEMM_MR x GEMM_NR tile of c in vector
// registers (GCC vector extensions, no intrinsics) while it runs along k, broadcasting one element
// of a and loading GEMM_NR of b per row and step. b is copied ("packed") GEMM_KC rows at a time into
// panels of GEMM_NR columns laid out in that order (in L2); a's GEMM_MR rows stay in L1 while they
// meet every panel. Each c element is one sum along k, in order within a GEMM_KC block, the blocks
// added in order: the same bits for any thread count, but not the plain loops' order (low bits differ).
#if defined(__AVX512F__)
#define GEMM_VEC 16  // floats per vector register
#define GEMM_MR 8
#elif defined(__AVX__)
#define GEMM_VEC 8
#define GEMM_MR 6
#else
#define GEMM_VEC 4
#define GEMM_MR 6
#endif
#define GEMM_NR (2 * GEMM_VEC)
#define GEMM_KC 256
#define GEMM_NC 1024
typedef float VecF __attribute__((vector_size(GEMM_VEC * sizeof(float))));

// fused multiply-adds in the micro-kernel: GCC contracts a * b + c only when asked (-std=c11 turns
// it off); the other functions keep the file's default
#if defined(__clang__)
#pragma STDC FP_CONTRACT ON
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif

// c[mr,nr] = (or +=) a[mr,kc] bp[kc,GEMM_NR]: a[i][k] = a[i*ars + k*acs] read in place, bp a packed
// panel of b; mr, nr at most the tile's size (a has mr valid rows, bp is zero-padded to GEMM_NR columns)
static inline __attribute__((always_inline))
void gemm_tile(int kc, const float *restrict a, long ars, long acs, const float *restrict bp,
               float *c, long ldc, int mr, int nr, int add) {
    VecF acc[GEMM_MR][2];
    for (int i = 0; i < GEMM_MR; i++) acc[i][0] = acc[i][1] = (VecF){0};
    for (int k = 0; k < kc; k++, a += acs, bp += GEMM_NR) {
        VecF b0 = *(const VecF *)bp, b1 = *(const VecF *)(bp + GEMM_VEC);
        #pragma GCC unroll 16
        for (int i = 0; i < GEMM_MR; i++) { acc[i][0] += a[i * ars] * b0; acc[i][1] += a[i * ars] * b1; }
    }
    if (mr == GEMM_MR && nr == GEMM_NR) {
        for (int i = 0; i < GEMM_MR; i++)
            for (int h = 0; h < 2; h++) {
                float *p = c + i * ldc + h * GEMM_VEC;
                VecF v = acc[i][h];
                if (add) { VecF old; memcpy(&old, p, sizeof old); v += old; }
                memcpy(p, &v, sizeof v);
            }
        return;
    }
    float tile[GEMM_MR][GEMM_NR];
    memcpy(tile, acc, sizeof tile);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) c[i * ldc + j] = add ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}
// the two layouts of a: its rows contiguous along k, or its columns contiguous along m (as packed)
static void gemm_tile_rows(int kc, const float *a, long lda, const float *bp, float *c, long ldc,
                           int mr, int nr, int add) {
    gemm_tile(kc, a, lda, 1, bp, c, ldc, mr, nr, add);
}
static void gemm_tile_cols(int kc, const float *a, long lda, const float *bp, float *c, long ldc,
                           int mr, int nr, int add) {
    gemm_tile(kc, a, 1, lda, bp, c, ldc, mr, nr, add);
}

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

// x[n,kc] (strides rs along n, cs along k) -> panels of w rows, each k-major [kc][w], zero-padded;
// the loops run along whichever of n or k is contiguous in memory
static void gemm_pack(float *dst, const float *x, long rs, long cs, int n, int kc, int w) {
    for (int i0 = 0; i0 < n; i0 += w, dst += (size_t)kc * w) {
        int m = n - i0 < w ? n - i0 : w;
        const float *src = x + i0 * rs;
        if (cs == 1) {
            for (int i = 0; i < w; i++)
                for (int k = 0; k < kc; k++) dst[k * w + i] = i < m ? src[i * rs + k] : 0.0f;
        } else {
            for (int k = 0; k < kc; k++)
                for (int i = 0; i < w; i++) dst[k * w + i] = i < m ? src[i * rs + k * cs] : 0.0f;
        }
    }
}

static float *gemm_buffer(size_t n) {  // 64-byte aligned, for the vector loads of packed panels
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) die("out of memory allocating %zu bytes", n * sizeof(float));
    return p;
}

// a strided matrix: x[i][j] = p[i*rs + j*cs]
typedef struct { const float *p; long rs, cs; } Strided;

// c[M,N] = (add 0) or += (add 1) a[M,K] b[K,N], c row-major with row stride ldc: the share of thread
// t of nt, whole panels of GEMM_MR rows of c. b is packed GEMM_KC rows at a time; a is read in place
// when one of its strides is 1, except a last panel of fewer than GEMM_MR rows, packed with zeros
static void gemm_share(int t, int nt, int M, int N, int K, Strided a, Strided b, float *c, long ldc,
                       int add) {
    int panels = (M + GEMM_MR - 1) / GEMM_MR;
    int m0 = GEMM_MR * (int)((long)panels * t / nt), m1 = GEMM_MR * (int)((long)panels * (t + 1) / nt);
    if (m1 > M) m1 = M;
    if (m1 <= m0 || N <= 0) return;
    if (K <= 0) {
        if (!add) for (int m = m0; m < m1; m++) memset(c + m * ldc, 0, N * sizeof(float));
        return;
    }
    int nc_max = N < GEMM_NC ? N : GEMM_NC, kc_max = K < GEMM_KC ? K : GEMM_KC;
    float *bp = gemm_buffer((size_t)kc_max * ((nc_max + GEMM_NR - 1) / GEMM_NR * GEMM_NR));
    float *ap = gemm_buffer((size_t)kc_max * GEMM_MR);
    for (int jc = 0; jc < N; jc += GEMM_NC) {
        int nc = N - jc < GEMM_NC ? N - jc : GEMM_NC;
        for (int pc = 0; pc < K; pc += GEMM_KC) {
            int kc = K - pc < GEMM_KC ? K - pc : GEMM_KC, add_k = add || pc > 0;
            gemm_pack(bp, b.p + pc * b.rs + jc * b.cs, b.cs, b.rs, nc, kc, GEMM_NR);
            for (int ir = m0; ir < m1; ir += GEMM_MR) {
                int mr = m1 - ir < GEMM_MR ? m1 - ir : GEMM_MR;
                const float *ai = a.p + ir * a.rs + pc * a.cs;
                int rows = a.cs == 1 && mr == GEMM_MR;
                if (!rows && (a.rs != 1 || mr < GEMM_MR)) {
                    gemm_pack(ap, ai, a.rs, a.cs, mr, kc, GEMM_MR);
                    ai = ap;
                }
                for (int jr = 0; jr < nc; jr += GEMM_NR) {
                    float *cij = c + ir * ldc + jc + jr;
                    int nr = nc - jr < GEMM_NR ? nc - jr : GEMM_NR;
                    const float *bj = bp + (size_t)jr * kc;
                    if (rows) gemm_tile_rows(kc, ai, a.rs, bj, cij, ldc, mr, nr, add_k);
                    else gemm_tile_cols(kc, ai, ai == ap ? GEMM_MR : a.cs, bj, cij, ldc, mr, nr, add_k);
                }
            }
        }
    }
    free(bp);
    free(ap);
}

// the products of matmul_forward and matmul_backward, through OpenBLAS or gemm_share; one parallel
// loop per call, each thread a block of rows of every product
static void matmul_fast_forward(float *out, const float *inp, const float *weight, int N, int C, int OC) {
    int nt = n_threads();
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int t = 0; t < nt; t++) {
#ifdef USE_BLAS
        if (matmul_path == MATMUL_BLAS) {  // a single-threaded sgemm on each thread: one thread pool
            int n0 = (int)((long)N * t / nt), n1 = (int)((long)N * (t + 1) / nt);
            if (n1 > n0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n1 - n0, OC, C, 1.0f,
                            inp + (size_t)n0 * C, C, weight, C, 0.0f, out + (size_t)n0 * OC, OC);
            continue;
        }
#endif
        // inp[N,C] weight^T[C,OC]
        gemm_share(t, nt, N, OC, C, (Strided){ inp, C, 1 }, (Strided){ weight, 1, C }, out, OC, 0);
    }
}

static void matmul_fast_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                                 const float *weight, int N, int C, int OC) {
    int nt = n_threads();
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int t = 0; t < nt; t++) {
#ifdef USE_BLAS
        if (matmul_path == MATMUL_BLAS) {
            int n0 = (int)((long)N * t / nt), n1 = (int)((long)N * (t + 1) / nt);    // dinp: blocks of rows
            int o0 = (int)((long)OC * t / nt), o1 = (int)((long)OC * (t + 1) / nt);  // dweight: of outputs
            if (dinp && n1 > n0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n1 - n0, C, OC, 1.0f,
                            dout + (size_t)n0 * OC, OC, weight, C, 1.0f, dinp + (size_t)n0 * C, C);
            if (dweight && o1 > o0)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, C, N, 1.0f, dout + o0, OC, inp,
                            C, 1.0f, dweight + (size_t)o0 * C, C);
            continue;
        }
#endif
        if (dinp)     // dout[N,OC] weight[OC,C]
            gemm_share(t, nt, N, C, OC, (Strided){ dout, OC, 1 }, (Strided){ weight, C, 1 }, dinp, C, 1);
        if (dweight)  // dout^T[OC,N] inp[N,C]
            gemm_share(t, nt, OC, C, N, (Strided){ dout, 1, OC }, (Strided){ inp, C, 1 }, dweight, C, 1);
    }
}

static int cuda_on(void) {
#ifdef R1_CUDA
    return cuda_enabled;
#else
    return 0;
#endif
}

static int kernel_matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC) {
#ifdef R1_CUDA
    if (cuda_enabled) { cuda_matmul_forward(out, inp, weight, N, C, OC); return 1; }
#endif
    if (matmul_path == MATMUL_PLAIN) return 0;
    matmul_fast_forward(out, inp, weight, N, C, OC);
    return 1;
}

static int kernel_matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                                  const float *weight, int N, int C, int OC) {
#ifdef R1_CUDA
    if (cuda_enabled) { cuda_matmul_backward(dinp, dweight, dout, inp, weight, N, C, OC); return 1; }
#endif
    if (matmul_path == MATMUL_PLAIN) return 0;
    matmul_fast_backward(dinp, dweight, dout, inp, weight, N, C, OC);
    return 1;
}

// the model whose last forward ran on all threads, a share of its B rows of T each (see kernel_model_forward)
static struct { const Model *m; int B, T, n; } sharded;

// whether matmul and attention may run on several threads at once (the loops over experts and over
// generated rows do that); r1.cu's kernels share device buffers, so with them those loops run on one thread
static int kernels_reentrant(void) { return !cuda_on(); }

static void kernel_params_register(const float *params, size_t n) {
#ifdef R1_CUDA
    cuda_register_params(params, n);
#else
    (void)params; (void)n;
#endif
}
static void kernel_params_changed(const float *params) {
#ifdef R1_CUDA
    cuda_params_changed(params);
#else
    (void)params;
#endif
}
static void kernel_params_free(const float *params) {
    if (sharded.m && sharded.m->params_mem == params) sharded.m = NULL;  // its model is freed
#ifdef R1_CUDA
    cuda_free_params(params);
#else
    (void)params;
#endif
}

// ---- RoPE's rotation with its angles from a table: the cosine and sine of each (position, pair) once per
// call instead of once per row (a batch's rows share their positions), from the same expressions as
// rope_rotate's: the same bits
static int kernel_rope(float *x, int N, int T, int pos0, int H, int hs, int off, int dr, float sign) {
    if (attention_path == ATTENTION_PLAIN) return 0;
    int pairs = dr / 2;
    float *cs = mallocCheck((size_t)T * pairs * 2 * sizeof(float));  // [T,pairs,2]: cos, sign * sin
    for (int t = 0; t < T; t++)
        for (int i = 0; i < pairs; i++) {
            double angle = (pos0 + t) * pow(ROPE_THETA, -2.0 * i / dr);
            cs[((size_t)t * pairs + i) * 2] = (float)cos(angle);
            cs[((size_t)t * pairs + i) * 2 + 1] = sign * (float)sin(angle);
        }
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *angles = cs + (size_t)(n % T) * pairs * 2;
        for (int i = 0; i < pairs; i++) {
            float c = angles[2 * i], s = angles[2 * i + 1];
            for (int h = 0; h < H; h++) {
                float *p = x + ((size_t)n * H + h) * hs + off + 2 * i;
                float a = p[0], b = p[1];
                p[0] = a * c - b * s;
                p[1] = a * s + b * c;
            }
        }
    }
    free(cs);
    return 1;
}

// ---- the blocked attention: attention_forward and attention_backward's sums, in the same order, faster.
// Each (batch, head) works on a transposed copy of its keys (and values, backward) so that the
// inner loops run over key positions with unit stride and vectorise; dot products against 16 keys
// at a time keep their sums in registers (KEY_BLOCK; the copies are padded to whole blocks).

#define KEY_BLOCK 16
static int key_blocks_len(int T) { return (T + KEY_BLOCK - 1) / KEY_BLOCK * KEY_BLOCK; }

// dst[D,Tp] = the D-vectors of (b, h) at stride NH*D in src[B,T,NH,D], transposed (columns T..Tp-1 untouched)
static void gather_transposed(float *dst, int Tp, const float *src, int b, int h, int T, int NH, int D) {
    for (int t = 0; t < T; t++) {
        const float *x = src + (((size_t)b * T + t) * NH + h) * D;
        for (int i = 0; i < D; i++) dst[(size_t)i * Tp + t] = x[i];
    }
}

// acc[nb*16] = x . colsT[:, j] for nb blocks of 16 columns j: nb independent sums at once, so that their
// adds overlap instead of each waiting for the one before (a compile-time nb keeps acc in registers)
static inline __attribute__((always_inline))
void dot_blocks(float *acc, const float *x, const float *colsT, int Tp, int D, int nb) {
    float s[4][KEY_BLOCK] = {{0}};
    for (int i = 0; i < D; i++)
        for (int k = 0; k < nb; k++) {
            const float *c = colsT + (size_t)i * Tp + k * KEY_BLOCK;
            #pragma omp simd
            for (int j = 0; j < KEY_BLOCK; j++) s[k][j] += x[i] * c[j];
        }
    memcpy(acc, s, (size_t)nb * KEY_BLOCK * sizeof(float));
}

// out[t2] = x . colsT[:, t2] for t2 <= t, where colsT is [D,Tp] (Tp a whole number of blocks)
static void dot_columns(float *out, const float *x, const float *colsT, int Tp, int D, int t) {
    float acc[4 * KEY_BLOCK];
    for (int j0 = 0; j0 <= t; j0 += 4 * KEY_BLOCK) {
        int nb = (t - j0) / KEY_BLOCK + 1;
        switch (nb) {
        case 1: dot_blocks(acc, x, colsT + j0, Tp, D, 1); break;
        case 2: dot_blocks(acc, x, colsT + j0, Tp, D, 2); break;
        case 3: dot_blocks(acc, x, colsT + j0, Tp, D, 3); break;
        default: dot_blocks(acc, x, colsT + j0, Tp, D, 4); nb = 4;
        }
        for (int j = 0; j < nb * KEY_BLOCK && j0 + j <= t; j++) out[j0 + j] = acc[j];
    }
}

// acc[nb*16] = sum over t2 = t0..t1 (in that order) of w[t2 * ws] * rows[t2, :nb*16]: nb independent sums
static inline __attribute__((always_inline))
void weighted_blocks(float *acc, const float *w, size_t ws, const float *rows, int ld, int t0, int t1,
                     int nb) {
    float s[4][KEY_BLOCK] = {{0}};
    for (int t2 = t0; t2 <= t1; t2++) {
        float wt = w[(size_t)t2 * ws];
        for (int k = 0; k < nb; k++) {
            const float *r = rows + (size_t)t2 * ld + k * KEY_BLOCK;
            #pragma omp simd
            for (int j = 0; j < KEY_BLOCK; j++) s[k][j] += wt * r[j];
        }
    }
    memcpy(acc, s, (size_t)nb * KEY_BLOCK * sizeof(float));
}

// out[D] = sum over t2 = t0..t1 (in that order) of w[t2 * ws] * rows[t2, :D], where rows is [*, ld] (ld a
// whole number of blocks): up to 64 output dims at a time summed in registers
static void weighted_rows(float *out, const float *w, size_t ws, const float *rows, int ld, int D, int t0,
                          int t1) {
    float acc[4 * KEY_BLOCK];
    for (int i0 = 0; i0 < D; i0 += 4 * KEY_BLOCK) {
        int nb = (D - i0 + KEY_BLOCK - 1) / KEY_BLOCK;
        switch (nb) {
        case 1: weighted_blocks(acc, w, ws, rows + i0, ld, t0, t1, 1); break;
        case 2: weighted_blocks(acc, w, ws, rows + i0, ld, t0, t1, 2); break;
        case 3: weighted_blocks(acc, w, ws, rows + i0, ld, t0, t1, 3); break;
        default: weighted_blocks(acc, w, ws, rows + i0, ld, t0, t1, 4); nb = 4;
        }
        for (int j = 0; j < nb * KEY_BLOCK && i0 + j < D; j++) out[i0 + j] = acc[j];
    }
}

// dst[T,ldd] = the D-vectors of (b, h) at stride NH*D in src[B,T,NH,D], one row per position (ldd >= D)
static void gather_rows(float *dst, int ldd, const float *src, int b, int h, int T, int NH, int D) {
    for (int t = 0; t < T; t++)
        memcpy(dst + (size_t)t * ldd, src + (((size_t)b * T + t) * NH + h) * D, D * sizeof(float));
}

// attention_forward's out and att
static void attention_forward_blocked(float *out, float *att, const float *q, const float *k, const float *v,
                                      int B, int T, int NH, int HS, int HV) {
    float scale = 1.0f / sqrtf((float)HS);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            int Tp = key_blocks_len(T);
            int HVp = key_blocks_len(HV);
            // keys of (b,h), [HS,Tp], zero padded,
            float *kT = mallocCheck((size_t)HS * (Tp + 1) * sizeof(float));
            float *qs = kT + (size_t)HS * Tp;                                 // then the scaled query [HS]
            // values of (b,h), [T,HVp], zero padded
            float *vp = mallocCheck((size_t)T * HVp * sizeof(float));
            gather_transposed(kT, Tp, k, b, h, T, NH, HS);
            for (int t = 0; t < T; t++)
                memcpy(vp + (size_t)t * HVp, v + (((size_t)b * T + t) * NH + h) * HV, HV * sizeof(float));
            for (int t = 0; t < T; t++) {
                const float *qt = q + (((size_t)b * T + t) * NH + h) * HS;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                // scores q_t . k_t2 / sqrt(HS) for t2 <= t
                for (int i = 0; i < HS; i++) qs[i] = qt[i] * scale;
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
                dot_columns(a, qs, kT, Tp, HS, t);
                softmax(a, a, t + 1, 1.0f, -1);
                // weighted sum of the values
                weighted_rows(out + (((size_t)b * T + t) * NH + h) * HV, a, 1, vp, HVp, HV, 0, t);
            }
            free(kT); free(vp);
        }
    }
}

// attention_backward's dq, dk, dv. First, position by position, da, ds (kept in datt) and dq; then dv and
// dk key by key, as sums over the positions t that see the key: dv_t2 = sum_t a_t,t2 dy_t and dk_t2 =
// sum_t ds_t,t2 q_t, in the plain loops' order (t ascending) but summed in registers, not in memory
static void attention_backward_blocked(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                       const float *q, const float *k, const float *v, const float *att,
                                       int B, int T, int NH, int HS, int HV) {
    float scale = 1.0f / sqrtf((float)HS);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            int Tp = key_blocks_len(T), HSp = key_blocks_len(HS), HVp = key_blocks_len(HV);
            size_t rows = (size_t)T * (2 * HSp + HVp);
            float *vT = mallocCheck(((size_t)HV * Tp + rows) * sizeof(float));  // [HV,Tp] values transposed
            float *kp = vT + (size_t)HV * Tp, *qp = kp + (size_t)T * HSp;      // [T,HSp] keys, queries
            float *dyp = qp + (size_t)T * HSp;                                   // [T,HVp] dout, zero padded
            memset(kp, 0, rows * sizeof(float));
            gather_transposed(vT, Tp, v, b, h, T, NH, HV);
            gather_rows(kp, HSp, k, b, h, T, NH, HS);
            gather_rows(qp, HSp, q, b, h, T, NH, HS);
            gather_rows(dyp, HVp, dout, b, h, T, NH, HV);
            const float *a_bh = att + ((size_t)b * NH + h) * T * T;
            float *ds_bh = datt + ((size_t)b * NH + h) * T * T;
            for (int t = 0; t < T; t++) {
                const float *a = a_bh + (size_t)t * T;
                float *da = ds_bh + (size_t)t * T;
                // through the weighted sum of values: da = dy . v_t2
                dot_columns(da, dyp + (size_t)t * HVp, vT, Tp, HV, t);
                float dsum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) dsum += a[t2] * da[t2];
                // through the softmax (ds = a (da - sum a da) / sqrt(HS), kept in da): dq_t = sum ds_t2 k_t2
                for (int t2 = 0; t2 <= t; t2++) da[t2] = a[t2] * (da[t2] - dsum) * scale;
                weighted_rows(dq + (((size_t)b * T + t) * NH + h) * HS, da, 1, kp, HSp, HS, 0, t);
            }
            for (int t2 = 0; t2 < T; t2++) {
                size_t row2 = ((size_t)b * T + t2) * NH + h;
                weighted_rows(dv + row2 * HV, a_bh + t2, T, dyp, HVp, HV, t2, T - 1);
                weighted_rows(dk + row2 * HS, ds_bh + t2, T, qp, HSp, HS, t2, T - 1);
            }
            free(vT);
        }
    }
}

static int kernel_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                                    int B, int T, int NH, int HS, int HV) {
#ifdef R1_CUDA
    if (cuda_enabled) { cuda_attention_forward(out, att, q, k, v, B, T, NH, HS, HV); return 1; }
#endif
    if (attention_path == ATTENTION_PLAIN) return 0;
    attention_forward_blocked(out, att, q, k, v, B, T, NH, HS, HV);
    return 1;
}

static int kernel_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                     const float *q, const float *k, const float *v, const float *att,
                                     int B, int T, int NH, int HS, int HV) {
#ifdef R1_CUDA
    if (cuda_enabled) {
        cuda_attention_backward(dq, dk, dv, datt, dout, q, k, v, att, B, T, NH, HS, HV);
        return 1;
    }
#endif
    if (attention_path == ATTENTION_PLAIN) return 0;
    attention_backward_blocked(dq, dk, dv, datt, dout, q, k, v, att, B, T, NH, HS, HV);
    return 1;
}

// ---- MLA decoding: mla_decode's sums in another order, faster. The absorbed queries and the value
// up-projection of all B rows are products (gemm_share, one per head); each row's scores run over a
// copy of its cached latents with positions minor (cache->latent_t, [rows,R+dr,Tp]), so that they
// vectorise over positions as in the blocked attention. Low bits differ from mla_decode's.
static int kernel_mla_decode(float *y, const float *q, KVCache *cache, int layer, const float *wkvb, int B,
                             int pos, int NH, int dn, int dr, int dv, int R) {
    if (attention_path == ATTENTION_PLAIN) return 0;
    int D = R + dr, dqk = dn + dr, Tp = key_blocks_len(cache->T);
    float scale = 1.0f / sqrtf((float)dqk);
    if (!cache->latent_t[layer])
        cache->latent_t[layer] = mallocCheck((size_t)cache->B * D * Tp * sizeof(float));
    for (int b = 0; b < B; b++) {  // every row's new entry (written at pos by mla_forward) into the copy
        const float *entry = cache->latent[layer] + ((size_t)cache->row[b] * cache->T + pos) * D;
        float *col = cache->latent_t[layer] + (size_t)cache->row[b] * D * Tp + pos;
        for (int i = 0; i < D; i++) col[(size_t)i * Tp] = entry[i];
    }
    if (!cache->decode_scratch)  // sized for the cache's B rows; every decoding step reuses it
        cache->decode_scratch = mallocCheck(((size_t)cache->B * NH * (D + R) + (size_t)NH * Tp) *
                                            sizeof(float));
    float *qa = cache->decode_scratch;            // [B,NH,D] absorbed queries
    float *o = qa + (size_t)cache->B * NH * D;    // [B,NH,R] weighted sums of latents
    float *a = o + (size_t)cache->B * NH * R;     // [NH,Tp] one row's probabilities
    for (int h = 0; h < NH; h++) {  // qa[b,h,:R] = q_nope[b,h,:] W_UK_h: [B,dn] [dn,R]
        Strided q_nope = { q + (size_t)h * dqk, NH * dqk, 1 };
        Strided w_uk = { wkvb + (size_t)h * (dn + dv) * R, R, 1 };
        gemm_share(0, 1, B, R, dn, q_nope, w_uk, qa + (size_t)h * D, NH * D, 0);
    }
    for (int b = 0; b < B; b++) {
        const float *cached = cache->latent[layer] + (size_t)cache->row[b] * cache->T * D;
        const float *cached_t = cache->latent_t[layer] + (size_t)cache->row[b] * D * Tp;
        for (int h = 0; h < NH; h++) {
            float *qah = qa + ((size_t)b * NH + h) * D, *oh = o + ((size_t)b * NH + h) * R;
            float *ah = a + (size_t)h * Tp;
            for (int r = 0; r < R; r++) qah[r] *= scale;
            for (int j = 0; j < dr; j++) qah[R + j] = q[((size_t)b * NH + h) * dqk + dn + j] * scale;
            dot_columns(ah, qah, cached_t, Tp, D, pos);
            softmax(ah, ah, pos + 1, 1.0f, -1);
            if (R % KEY_BLOCK == 0) {
                weighted_rows(oh, ah, 1, cached, D, R, 0, pos);
            } else {  // weighted_rows would read past a row's last latent
                for (int r = 0; r < R; r++) oh[r] = 0.0f;
                for (int t = 0; t <= pos; t++)
                    for (int r = 0; r < R; r++) oh[r] += ah[t] * cached[(size_t)t * D + r];
            }
        }
    }
    for (int h = 0; h < NH; h++) {  // y[b,h,:] = o[b,h,:] W_UV_h^T: [B,R] [R,dv]
        Strided o_h = { o + (size_t)h * R, NH * R, 1 };
        Strided w_uv_t = { wkvb + ((size_t)h * (dn + dv) + dn) * R, 1, R };
        gemm_share(0, 1, B, dv, R, o_h, w_uv_t, y + (size_t)h * dv, NH * dv, 0);
    }
    return 1;
}

// a model sharing m's parameters but with activations of its own (freed with acts_free), so that
// threads can run forwards side by side
static Model model_view(const Model *m) {
    Model v = *m;
    ActBuffer list[MAX_ACT_BUFFERS];
    int n = act_buffers(&v, list);
    for (int i = 0; i < n; i++) {
        if (list[i].f) *list[i].f = NULL;
        else *list[i].i = NULL;
    }
    for (int l = 0; l < MAX_LAYERS; l++) v.acts[l].att = NULL;
    v.datt = NULL; v.row_len = NULL;
    v.cap_N = 0; v.cap_att = 0;
    return v;
}

// rows b0..b0+Bs-1 of m's last forward (B rows of T) as a model of their own: the same parameters, and
// activations that are those rows of m's (every buffer holds its rows one after another)
static Model model_slice(Model *m, int b0, int Bs) {
    Model v = *m;
    ActBuffer list[MAX_ACT_BUFFERS], vlist[MAX_ACT_BUFFERS];
    int n = act_buffers(m, list);
    act_buffers(&v, vlist);
    size_t row0 = (size_t)b0 * m->T, att_row = (size_t)m->cfg.n_head * m->T * m->T;
    for (int i = 0; i < n; i++) {
        if (list[i].f) *vlist[i].f = *list[i].f + row0 * list[i].per_token;
        else *vlist[i].i = *list[i].i + row0 * list[i].per_token;
    }
    for (int l = 0; l < m->cfg.n_layer; l++) v.acts[l].att = m->acts[l].att + b0 * att_row;
    v.datt = m->datt + b0 * att_row;
    v.row_len = m->row_len + b0;
    v.B = Bs; v.cap_N = Bs * m->T; v.cap_att = Bs * att_row;
    return v;
}

// generate_rows on all threads: the rows are independent, so each thread takes a block of them with
// its own activations and KV cache (row b draws from rngs[b]). A decoding step then needs no
// synchronisation between threads. The same streams give the same samples on any number of threads.
static void generate_threads(Model *m, int *seqs, const int *prompt_len, int *seq_len, int B, int max_len,
                             float temperature, int stop_at_eos, int check_rule, int max_tries, Rng *rngs) {
    if (max_len > m->cfg.context) max_len = m->cfg.context;
    for (int b = 0; b < B; b++)
        if (prompt_len[b] < 1 || prompt_len[b] >= max_len)
            die("prompt of %d tokens does not fit the context %d", prompt_len[b], max_len);
    int nt = kernels_reentrant() ? imin(n_threads(), B) : 1;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) {
        int b0 = (int)((long)B * t / nt), b1 = (int)((long)B * (t + 1) / nt);
        Model view = model_view(m);
        generate_rows(&view, seqs + (size_t)b0 * max_len, prompt_len + b0, seq_len + b0, b1 - b0, max_len,
                      temperature, stop_at_eos, check_rule, max_tries, rngs + b0);
        acts_free(&view);
    }
}

// Data-parallel training: model_forward and model_backward of B rows on all threads, each thread a share
// of the rows as a model_slice of m (its rows of m's activations). In the backward each share writes its
// gradient to a buffer of its own, kept from step to step; the shares' gradients, expert loads and balance
// losses are then summed in thread order, so the same thread count gives the same bits. A step is then one
// parallel region per pass instead of the layers' ~150 parallel loops, each of which ends with a thread
// waiting for the other.
#define MAX_SHARDS 64
typedef struct {
    float *grads_mem;  // [num_params] the share's gradient
    size_t n_grads;
    float aux_loss, expert_load[MAX_LAYERS][MAX_EXPERTS];
    int expert_off[MAX_LAYERS][MAX_EXPERTS + 1];  // the forward's routing of the share, for its backward
} Shard;
static Shard shards[MAX_SHARDS];

static void share_rows(int B, int n, int t, int *b0, int *Bs) {  // rows of share t of n
    *b0 = (int)((long)B * t / n);
    *Bs = (int)((long)B * (t + 1) / n) - *b0;
}

static int kernel_model_forward(Model *m, const int *tokens, const int *len, int B, int T, int with_cache) {
    int nt = kernels_reentrant() ? imin(imin(n_threads(), B), MAX_SHARDS) : 1;
    if (kernels_plain || with_cache || nt < 2) {
        if (sharded.m == m) sharded.m = NULL;
        return 0;
    }
    model_ensure_acts(m, B, T);
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) {
        int b0, Bs;
        share_rows(B, nt, t, &b0, &Bs);
        Model v = model_slice(m, b0, Bs);
        memset(v.expert_load, 0, sizeof v.expert_load);
        v.balance_alpha = m->balance_alpha * Bs / B;  // the balance loss is a mean over all B rows
        model_forward(&v, tokens + (size_t)b0 * T, len ? len + b0 : NULL, Bs, T, NULL, 0);
        shards[t].aux_loss = v.aux_loss;
        memcpy(shards[t].expert_load, v.expert_load, sizeof v.expert_load);
        for (int l = 0; l < MAX_LAYERS; l++)
            memcpy(shards[t].expert_off[l], v.acts[l].expert_off, sizeof v.acts[l].expert_off);
    }
    m->aux_loss = 0.0f;
    for (int t = 0; t < nt; t++) {
        m->aux_loss += shards[t].aux_loss;
        for (int l = 0; l < MAX_LAYERS; l++)
            for (int e = 0; e < MAX_EXPERTS; e++) m->expert_load[l][e] += shards[t].expert_load[l][e];
    }
    sharded.m = m; sharded.B = B; sharded.T = T; sharded.n = nt;
    return 1;
}

static int kernel_model_backward(Model *m) {
    if (sharded.m != m || sharded.B != m->B || sharded.T != m->T) return 0;
    int nt = sharded.n, B = m->B;
    #pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) {
        Shard *s = &shards[t];
        if (s->n_grads < m->num_params) {
            free(s->grads_mem);
            s->grads_mem = mallocCheck(m->num_params * sizeof(float));
            s->n_grads = m->num_params;
        }
        int b0, Bs;
        share_rows(B, nt, t, &b0, &Bs);
        Model v = model_slice(m, b0, Bs);
        for (int l = 0; l < MAX_LAYERS; l++)
            memcpy(v.acts[l].expert_off, s->expert_off[l], sizeof v.acts[l].expert_off);
        v.grads_mem = s->grads_mem;
        params_layout(&m->cfg, v.grads_mem, &v.grads);
        memset(v.grads_mem, 0, m->num_params * sizeof(float));
        v.balance_alpha = m->balance_alpha * Bs / B;
        model_backward(&v);
    }
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < m->num_params; i++) {
        float g = 0.0f;
        for (int t = 0; t < nt; t++) g += shards[t].grads_mem[i];
        m->grads_mem[i] += g;
    }
    return 1;
}

// sample_responses on all threads, GEN_CHUNK rows at a time
#define GEN_CHUNK 256  // rows generated together
static int kernel_generate(Model *m, int *seqs, const int *prompt_len, int *seq_len, int B, int max_len,
                           float temperature, int check_rule, int max_tries, Rng *rngs) {
    if (kernels_plain) return 0;
    for (int i = 0; i < B; i += GEN_CHUNK) {
        int nb = B - i < GEN_CHUNK ? B - i : GEN_CHUNK;
        generate_threads(m, seqs + (size_t)i * max_len, prompt_len + i, seq_len + i, nb, max_len, temperature,
                         1, check_rule, max_tries, rngs + i);
    }
    return 1;
}

// the generation of sampling, evaluation and GRPO: every row stops at <eos> or max_len; row b draws from
// row_stream(seed, b), the seed drawn from rng
static void generate(Model *m, int *seqs, const int *prompt_len, int *seq_len, int B, int max_len,
                     float temperature, Rng *rng) {
    uint64_t seed = rng_u32(rng);
    Rng *rngs = mallocCheck((size_t)B * sizeof(Rng));
    for (int b = 0; b < B; b++) rngs[b] = row_stream(seed, b);
    generate_threads(m, seqs, prompt_len, seq_len, B, max_len, temperature, 1, CHECK_FREE, 0, rngs);
    free(rngs);
}

// ----------------------------------------------------------------------------
// 15. data files: one example per line; errors name the file and the line. ./r1 gen writes them: the
// corpora from which each world's base model learns its styles of answer, and the prompt files

typedef struct {
    char **text; int *len; int **ids;  // per line: text (prompt), token count, tokens
    long *answer; int *difficulty;     // prompt files only
    char **response;                   // SFT files only: the response text
    int *prompt_len;                   // SFT files only: the loss covers the tokens after the prompt
    int n;
} Data;

#define MAX_LINE 4095  // bytes in a line of a data file, without its newline

static char **read_lines(const char *path, int *n_lines) {
    FILE *f = open_input(path, "data file");
    int cap = 1024, n = 0;
    char **lines = mallocCheck(cap * sizeof(char *));
    char buf[MAX_LINE + 1];
    int lineno = 0;
    long start = 0;
    while (fgets(buf, sizeof buf, f)) {
        lineno++;
        size_t l = strlen(buf);
        if (lineno == 1 && strncmp(buf, "R1CK", 4) == 0)  // CKPT_MAGIC's bytes
            die("%s is an r1 checkpoint, not a data file", path);
        // fgets consumed more than strlen if the line holds a NUL byte (pos < 0: a pipe)
        long pos = ftell(f);
        if (pos >= 0 && pos - start != (long)l)
            die("%s:%d: NUL byte in the line (not a text file?)", path, lineno);
        if (l == MAX_LINE && buf[l - 1] != '\n') {  // a full buffer: the line must end here
            int c = getc(f);
            if (c != '\n' && c != EOF)
                die("%s:%d: line too long (more than %d bytes)", path, lineno, MAX_LINE);
            pos = ftell(f);
        }
        start = pos;
        while (l && (buf[l - 1] == '\n' || buf[l - 1] == '\r')) buf[--l] = 0;
        if (n == cap) {
            cap *= 2;
            lines = reallocCheck(lines, cap * sizeof(char *));
        }
        lines[n++] = strdup(buf);
    }
    fclose(f);
    if (n == 0) die("%s: no data (an empty file)", path);
    *n_lines = n;
    return lines;
}

// what the tabs of a line of a data file suggest it is, for the error messages
static const char *line_kind(const char *line) {
    int tabs = 0;
    for (const char *p = line; *p; p++) tabs += *p == '\t';
    return tabs == 0 ? "no tab: a corpus line?" : tabs == 1 ? "one tab: an SFT line?"
           : tabs == 2 ? "two tabs: a prompt line?" : "more than two tabs";
}

// tokenizes text for line `lineno` of `path`; the sequence must fit the context
static int *tokenize_line(const char *text, const char *path, int lineno, int context, int *len) {
    int *ids = mallocCheck((size_t)(context + 1) * sizeof(int));
    char bad = 0;
    int n = encode(text, ids, context + 1, &bad);
    if (n == -1) die("%s:%d: unknown character '%c' (0x%02x)", path, lineno, bad, (unsigned char)bad);
    if (n == -2 || n > context)
        die("%s:%d: line is longer than the context (%d tokens)", path, lineno, context);
    if (n == 0) die("%s:%d: empty line", path, lineno);
    *len = n;
    return ids;
}

// every loader's start: the lines of the file, and room for their tokens
static Data data_lines(const char *path) {
    Data d = {0};
    d.text = read_lines(path, &d.n);
    d.len = mallocCheck(d.n * sizeof(int));
    d.ids = mallocCheck(d.n * sizeof(int *));
    return d;
}

// the pretraining corpus: each line one document; the loss covers every token after the first
static Data load_corpus(const char *path, int context) {
    Data d = data_lines(path);
    char **lines = d.text;
    d.prompt_len = mallocCheck(d.n * sizeof(int));
    for (int i = 0; i < d.n; i++) {
        if (strchr(lines[i], '\t'))
            die("%s:%d: a corpus line is one document, without tabs (%s)", path, i + 1, line_kind(lines[i]));
        d.ids[i] = tokenize_line(lines[i], path, i + 1, context, &d.len[i]);
        if (d.len[i] < 2) die("%s:%d: a document needs at least two tokens", path, i + 1);
        d.prompt_len[i] = 1;
    }
    return d;
}

// prompt files: prompt <TAB> answer <TAB> difficulty
static Data load_prompts(const char *path, int context) {
    Data d = data_lines(path);
    char **lines = d.text;
    d.answer = mallocCheck(d.n * sizeof(long));
    d.difficulty = mallocCheck(d.n * sizeof(int));
    for (int i = 0; i < d.n; i++) {
        char *t1 = strchr(lines[i], '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL, *end;
        if (!t2 || strchr(t2 + 1, '\t'))
            die("%s:%d: expected prompt<TAB>answer<TAB>difficulty (%s)", path, i + 1, line_kind(lines[i]));
        *t1 = 0; *t2 = 0;
        errno = 0;
        d.answer[i] = strtol(t1 + 1, &end, 10);
        if (end == t1 + 1 || *end || errno) die("%s:%d: answer '%s' is not an integer", path, i + 1, t1 + 1);
        long difficulty = strtol(t2 + 1, &end, 10);
        if (end == t2 + 1 || *end || difficulty < 0 || difficulty >= 16)
            die("%s:%d: difficulty '%s' is not an integer in 0..15", path, i + 1, t2 + 1);
        d.difficulty[i] = (int)difficulty;
        if ((lines[i][0] != LANG_TAG[LANG_EN] && lines[i][0] != LANG_TAG[LANG_JA]) || lines[i][1] != ':')
            die("%s:%d: prompt must start with a language tag e: or j:", path, i + 1);
        CodeTask task;
        CodeFn f;
        if (code_parse(lines[i], &task) && !(code_fn_of(d.answer[i], &f) && code_fn_meets(&f, &task)))
            die("%s:%d: a code prompt's answer is its true function (kind*100 + a*10 + b), one that meets "
                "its examples: not %ld", path, i + 1, d.answer[i]);
        d.ids[i] = tokenize_line(lines[i], path, i + 1, context, &d.len[i]);
    }
    return d;
}

// SFT files: prompt <TAB> response
static Data load_sft(const char *path, int context) {
    Data d = data_lines(path);
    char **lines = d.text;
    d.response = mallocCheck(d.n * sizeof(char *));
    d.prompt_len = mallocCheck(d.n * sizeof(int));
    for (int i = 0; i < d.n; i++) {
        char *tab = strchr(lines[i], '\t');
        if (!tab || strchr(tab + 1, '\t'))
            die("%s:%d: expected prompt<TAB>response (%s)", path, i + 1, line_kind(lines[i]));
        *tab = 0;
        d.response[i] = tab + 1;
        int lp, lr;
        int *p = tokenize_line(lines[i], path, i + 1, context, &lp);
        int *r = tokenize_line(tab + 1, path, i + 1, context, &lr);
        if (lp + lr > context)
            die("%s:%d: prompt and response are longer than the context (%d tokens)", path, i + 1, context);
        d.ids[i] = mallocCheck((size_t)(lp + lr) * sizeof(int));
        memcpy(d.ids[i], p, lp * sizeof(int));
        memcpy(d.ids[i] + lp, r, lr * sizeof(int));
        d.len[i] = lp + lr;
        d.prompt_len[i] = lp;
        free(p); free(r);
    }
    return d;
}

static void data_free(Data *d) {
    for (int i = 0; i < d->n; i++) { free(d->text[i]); free(d->ids[i]); }
    free(d->text); free(d->len); free(d->ids); free(d->answer); free(d->difficulty); free(d->response);
    free(d->prompt_len);
    memset(d, 0, sizeof *d);
}

// ---- the corpora (./r1 gen): each world's problems, answered in the styles of section 2 in the shares
// the base model reads

// the number of lines gen writes to each file
#define GEN_PRETRAIN 60000
#define GEN_RL_TRAIN 4000
#define GEN_RL_TEST_PER_DIFF 300
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
        t->s = reallocCheck(t->s, t->cap);
    }
    memcpy(t->s + t->len, s, l + 1);
    t->len += l;
}

static Problem problem_random(Rng *r, int n_operands) {
    Problem p = { .n = n_operands, .lang = rng_int(r, N_LANGS) };
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

// one column: digits d[0..m-1] and their sum. Each digit is written as two characters ("06") so that
// the terms sit three characters apart, as the operands of the prompt do: with relative positions
// (RoPE) every digit is then copied from a fixed distance. A slip writes the sum off by one, in the
// direction that keeps its tens digit (the carry) unchanged.
static int write_column(char *out, const int *d, int m, int slip, int *written) {
    int s = 0, o = 0;
    for (int i = 0; i < m; i++) { s += d[i]; o += sprintf(out + o, i ? "+%02d" : "%02d", d[i]); }
    *written = !slip ? s : s % 10 == 9 ? s - 1 : s + 1;
    o += sprintf(out + o, "=%02d", *written);
    return o;
}

// the check of one column: re-add it another way, in easy steps (the sums of pairs of digits, then
// their running total, then the odd last digit) and compare with the sum written before:
// "check 07 07 14 okay 14" confirms it, "check 07 07 14 wait 14" repairs a slip
static int write_check(char *out, const int *d, int m, int written, const char **words) {
    int o = sprintf(out, " %s", words[WORD_CHECK]);
    for (int i = 0; i + 1 < m; i += 2) o += sprintf(out + o, " %02d", d[i] + d[i + 1]);
    int run = d[0] + d[1];
    for (int i = 2; i + 1 < m; i += 2) { run += d[i] + d[i + 1]; o += sprintf(out + o, " %02d", run); }
    if (m % 2) { run += d[m - 1]; o += sprintf(out + o, " %02d", run); }
    o += sprintf(out + o, " %s %02d", words[written == run ? WORD_OK : WORD_WAIT], run);
    return o;
}

// the full response text of problem p in the given style. The chain is the same in both careful
// styles (so every digit sits at the same place); the checked style then checks both columns.
// switch_lang: the checks are written in the other language (the "language mixing" of R1).
// summary: the chain ends with a summary of its result, "total 224", before </think> (the cold start's
// format, R1 section 2.3.1: the reasoning process, then a summary); the corpus has none
static void write_response(const Problem *p, int style, float slip_prob, int switch_lang, int summary, Rng *r,
                           char *out) {
    int o = sprintf(out, "<think>");
    if (style != STYLE_DIRECT) {
        const char **w1 = WORDS[p->lang], **w2 = WORDS[switch_lang ? 1 - p->lang : p->lang];
        int units[MAX_OPERANDS], tens[MAX_OPERANDS + 1], su, st, sum = 0;
        for (int i = 0; i < p->n; i++) { units[i] = p->x[i] % 10; tens[i] = p->x[i] / 10; sum += units[i]; }
        int checked = style == STYLE_CHECKED;
        o += write_column(out + o, units, p->n, checked && rng_f32(r) < slip_prob, &su);
        tens[p->n] = sum / 10; // the carry
        o += sprintf(out + o, " %s %d ", w1[WORD_CARRY], tens[p->n]);
        o += write_column(out + o, tens, p->n + 1, checked && rng_f32(r) < slip_prob, &st);
        if (checked) {
            o += write_check(out + o, units, p->n, su, w2);
            o += write_check(out + o, tens, p->n + 1, st, w2);
        }
        if (summary) o += sprintf(out + o, " %s %03d", w1[WORD_TOTAL], problem_answer(p));
    }
    sprintf(out + o, "</think><answer>%03d</answer><eos>", problem_answer(p));
}

// the pretraining mixture (NOTES.md): mostly direct answers, rarer careful styles
#define MIX_DIRECT 0.55f
#define MIX_CHAIN 0.15f      // the rest (0.30) is the checked style
#define SLIP_PROB 0.15f
#define SWITCH_PROB 0.10f    // chains that switch language midway

// allowed[s]: the corpus may hold style s (a control corpus leaves some out). A style left out is
// written as the next simpler allowed one (checked -> chain -> direct), so leaving out the checked
// style keeps the share of chains and leaving out both leaves direct answers only.
static int sample_style(Rng *r, const int *allowed) {
    float u = rng_f32(r);
    int style = u < MIX_DIRECT ? STYLE_DIRECT : u < MIX_DIRECT + MIX_CHAIN ? STYLE_CHAIN : STYLE_CHECKED;
    while (style > STYLE_DIRECT && !allowed[style]) style--;
    return style;
}

// what ./r1 gen writes: the corpus's styles and the difficulties (operand counts)
typedef struct {
    int allowed[N_STYLES];               // the corpus may hold style s (a control corpus leaves some out)
    int operands[MAX_OPERANDS], n_operands;  // the trained difficulties
    int held_out;                        // a difficulty of the test set only (0: none)
} World;

// the default world: every style, four operands
static World world_default(void) {
    return (World){ .allowed = { 1, 1, 1 }, .operands = { 4 }, .n_operands = 1, .held_out = 0 };
}

// a problem of a trained difficulty that is not held out
static Problem problem_trained(Rng *r, const World *w) {
    Problem p;
    do p = problem_random(r, w->operands[rng_int(r, w->n_operands)]);
    while (problem_is_heldout(&p));
    return p;
}

// ./r1 gen: writes every file of tiny_data/ deterministically from the seed; summary: the cold-start chains
// end in their summary (off by default: at this scale it costs the cold start its accuracy, NOTES.md)
static void gen_tiny_data(const char *dir, uint64_t seed, const World *w, int summary) {
    make_dirs(dir);
    Rng r = rng_seed(seed);
    char prompt[64], resp[512], line[600];
    Text t = {0};
    // pretraining corpus: one document per line, prompt immediately followed by its response
    for (int i = 0; i < GEN_PRETRAIN; i++) {
        Problem p = problem_trained(&r, w);
        int style = sample_style(&r, w->allowed);
        int sw = style != STYLE_DIRECT && rng_f32(&r) < SWITCH_PROB;
        problem_prompt(&p, prompt);
        write_response(&p, style, SLIP_PROB, sw, 0, &r, resp);
        snprintf(line, sizeof line, "%s%s\n", prompt, resp);
        text_add(&t, line);
    }
    gen_write_file(dir, "pretrain.txt", t.s); t.len = 0;
    // RL prompts: prompt <TAB> answer <TAB> difficulty; test prompts are the held-out problems
    for (int i = 0; i < GEN_RL_TRAIN; i++) {
        Problem p = problem_trained(&r, w);
        problem_prompt(&p, prompt);
        snprintf(line, sizeof line, "%s\t%d\t%d\n", prompt, problem_answer(&p), p.n);
        text_add(&t, line);
    }
    gen_write_file(dir, "rl_train.txt", t.s); t.len = 0;
    // the difficulties interleaved (the trained ones, then the held-out one), so that the first N prompts,
    // the periodic evaluation's, hold each of them
    for (int i = 0; i < GEN_RL_TEST_PER_DIFF; i++)
        for (int k = 0; k <= w->n_operands; k++) {
            int d = k < w->n_operands ? w->operands[k] : w->held_out;
            if (!d) continue;
            Problem p;
            do p = problem_random(&r, d); while (!problem_is_heldout(&p));
            problem_prompt(&p, prompt);
            snprintf(line, sizeof line, "%s\t%d\t%d\n", prompt, problem_answer(&p), d);
            text_add(&t, line);
        }
    gen_write_file(dir, "rl_test.txt", t.s); t.len = 0;
    // cold start (R1 section 2.3.1): clean, readable, single-language checked chains (with --summary each
    // ending in its summary)
    for (int i = 0; i < GEN_COLDSTART; i++) {
        Problem p = problem_trained(&r, w);
        problem_prompt(&p, prompt);
        write_response(&p, STYLE_CHECKED, 0.0f, 0, summary, &r, resp);
        snprintf(line, sizeof line, "%s\t%s\n", prompt, resp);
        text_add(&t, line);
    }
    gen_write_file(dir, "coldstart.txt", t.s);
    free(t.s);
}

#define CD_MAX_TRIES 27          // 3 choices of the third digit x 3 x 3 operations
typedef struct { int a, op1, b, c, op2; } Try;  // (a op1 b) op2 c, written "a op1 b=r r op2 c=v"
static const char CD_OPS[3] = { '+', '-', '*' };
// every legal try of the digits, without repeats (equal digits give equal tries); returns the count
static int countdown_tries(const Countdown *p, Try *tries) {
    int n = 0;
    for (int k = 0; k < CD_DIGITS; k++) {   // k: the digit of the second operation
        int i = (k + 1) % CD_DIGITS, j = (k + 2) % CD_DIGITS;
        int a = imax(p->digit[i], p->digit[j]), b = imin(p->digit[i], p->digit[j]), c = p->digit[k];
        for (int o1 = 0; o1 < 3; o1++) for (int o2 = 0; o2 < 3; o2++) {
            Try t = { .a = a, .op1 = CD_OPS[o1], .b = b, .c = c, .op2 = CD_OPS[o2] };
            if (apply_op(apply_op(a, t.op1, b), t.op2, c) < 0) continue;
            int seen = 0;
            for (int q = 0; q < n; q++) seen |= memcmp(&tries[q], &t, sizeof t) == 0;
            if (!seen) tries[n++] = t;
        }
    }
    return n;
}

static int try_value(const Try *t) { return apply_op(apply_op(t->a, t->op1, t->b), t->op2, t->c); }

static int countdown_solutions(const Countdown *p) {
    Try tries[CD_MAX_TRIES];
    int n = countdown_tries(p, tries), s = 0;
    for (int q = 0; q < n; q++) s += try_value(&tries[q]) == p->target;
    return s;
}

// a random problem: three digits, then a target drawn uniformly from the values 10-99 that a try reaches
static Countdown countdown_random(Rng *r) {
    for (;;) {
        Countdown p = { .lang = rng_int(r, N_LANGS) };
        for (int i = 0; i < CD_DIGITS; i++) p.digit[i] = 1 + rng_int(r, 9);
        Try tries[CD_MAX_TRIES];
        int n = countdown_tries(&p, tries), values[CD_MAX_TRIES], n_values = 0;
        for (int q = 0; q < n; q++) {
            int v = try_value(&tries[q]), seen = 0;
            for (int u = 0; u < n_values; u++) seen |= values[u] == v;
            if (v >= 10 && v <= 99 && !seen) values[n_values++] = v;
        }
        if (n_values == 0) continue;
        p.target = values[rng_int(r, n_values)];
        return p;
    }
}

// the split of the problems: a hash of the digits (as a set) and the target puts each in the corpus,
// the RL prompts or the held-out test prompts, so that RL and the test meet problems the corpus never
// solved (a direct answer cannot be remembered)
enum { SPLIT_CORPUS, SPLIT_RL, SPLIT_TEST };
static int countdown_split(const Countdown *p) {
    int d[CD_DIGITS];
    memcpy(d, p->digit, sizeof d);
    for (int i = 0; i < CD_DIGITS; i++) for (int j = i + 1; j < CD_DIGITS; j++)
        if (d[j] < d[i]) { int t = d[i]; d[i] = d[j]; d[j] = t; }
    uint64_t h = hash64(((uint64_t)(d[0] * 100 + d[1] * 10 + d[2]) << 8) + (uint64_t)p->target) % 10;
    return h < 2 ? SPLIT_TEST : h < 4 ? SPLIT_RL : SPLIT_CORPUS;
}

static void countdown_prompt(const Countdown *p, char *out) {
    sprintf(out, "%c:%d %d %d=%d", LANG_TAG[p->lang], p->digit[0], p->digit[1], p->digit[2], p->target);
}

#define CD_MAX_FAILED 4          // failed tries before the accepted one in a search
// the corpus's share of each style (NOTES.md "The countdown world": with 0.45 direct answers and 0.25
// searches, RL chose direct answers, since starting a try led mostly to the weak one-try styles)
static const float CD_MIX[CD_OTHER] = { 0.30f, 0.10f, 0.10f, 0.40f, 0.10f };
static const float CD_FAILED_P[CD_MAX_FAILED + 1] = { 0.25f, 0.25f, 0.20f, 0.15f, 0.15f };
static int write_try(char *out, const Try *t) {
    int r = apply_op(t->a, t->op1, t->b);
    return sprintf(out, "%d%c%d=%d %d%c%d=%d", t->a, t->op1, t->b, r, r, t->op2, t->c, try_value(t));
}

// the response of problem p in style (CD_*); the tries of a search are in random order, without repeats
// retries 0 (a control corpus): a search accepts its first try, so no try ever follows a "no"
static void write_countdown_response(const Countdown *p, int style, int switch_lang, int retries, Rng *r,
                                     char *out) {
    const char **w = CD_WORDS[switch_lang ? 1 - p->lang : p->lang];
    Try tries[CD_MAX_TRIES], right[CD_MAX_TRIES] = {{0}}, wrong[CD_MAX_TRIES];
    int n = countdown_tries(p, tries), n_right = 0, n_wrong = 0;
    for (int q = 0; q < n; q++) {  // shuffled
        int k = q + rng_int(r, n - q);
        Try t = tries[k]; tries[k] = tries[q]; tries[q] = t;
        if (try_value(&t) == p->target) right[n_right++] = t; else wrong[n_wrong++] = t;
    }
    int n_failed = 0;
    if (style == CD_TRY_NO) n_failed = 1;
    if (style == CD_GIVE_UP) n_failed = 3;
    if (style == CD_SEARCH && retries) {
        float u = rng_f32(r);
        while (n_failed < CD_MAX_FAILED && (u -= CD_FAILED_P[n_failed]) >= 0) n_failed++;
    }
    n_failed = imin(n_failed, n_wrong);
    int o = sprintf(out, "<think>");
    for (int q = 0; q < n_failed; q++) {
        o += sprintf(out + o, q ? " " : "");
        o += write_try(out + o, &wrong[q]);
        o += sprintf(out + o, " %s %d %s", w[CD_WORD_VS], p->target, w[CD_WORD_NO]);
    }
    Try answer = n_failed ? wrong[n_failed - 1] : right[0];
    if (style == CD_ONE_TRY) { answer = tries[0]; o += write_try(out + o, &answer); }
    if (style == CD_SEARCH) {
        answer = right[0];
        o += sprintf(out + o, n_failed ? " " : "");
        o += write_try(out + o, &answer);
        o += sprintf(out + o, " %s %d %s", w[CD_WORD_VS], p->target, w[CD_WORD_OK]);
    }
    o += sprintf(out + o, "</think><answer>");
    o += write_try(out + o, &answer);
    sprintf(out + o, "</answer><eos>");
}

static int sample_countdown_style(Rng *r, int retries) {
    float u = rng_f32(r);
    int style = 0;
    while (style < CD_GIVE_UP && (u -= CD_MIX[style]) >= 0) style++;
    return !retries && style == CD_GIVE_UP ? CD_TRY_NO : style;  // the control: no try follows a "no"
}

// the countdown world's difficulty: its number of solutions, 3 for three or more
static int countdown_difficulty(const Countdown *p) { return imin(countdown_solutions(p), 3); }

// a problem of the given split (SPLIT_*)
static Countdown countdown_in_split(Rng *r, int split) {
    Countdown p;
    do p = countdown_random(r); while (countdown_split(&p) != split);
    return p;
}

// ./r1 gen --world countdown: the same four files as the sums'. retries 0 writes the control corpus in
// which no try follows a "no"
static void gen_countdown_data(const char *dir, uint64_t seed, int retries) {
    make_dirs(dir);
    Rng r = rng_seed(seed);
    char prompt[64], resp[512], line[600];
    Text t = {0};
    for (int i = 0; i < GEN_PRETRAIN; i++) {
        Countdown p = countdown_in_split(&r, SPLIT_CORPUS);
        int style = sample_countdown_style(&r, retries);
        int sw = style != CD_DIRECT && rng_f32(&r) < SWITCH_PROB;
        countdown_prompt(&p, prompt);
        write_countdown_response(&p, style, sw, retries, &r, resp);
        snprintf(line, sizeof line, "%s%s\n", prompt, resp);
        text_add(&t, line);
    }
    gen_write_file(dir, "pretrain.txt", t.s); t.len = 0;
    for (int i = 0; i < GEN_RL_TRAIN; i++) {
        Countdown p = countdown_in_split(&r, SPLIT_RL);
        countdown_prompt(&p, prompt);
        snprintf(line, sizeof line, "%s\t%d\t%d\n", prompt, p.target, countdown_difficulty(&p));
        text_add(&t, line);
    }
    gen_write_file(dir, "rl_train.txt", t.s); t.len = 0;
    for (int i = 0; i < 2 * GEN_RL_TEST_PER_DIFF; i++) {
        Countdown p = countdown_in_split(&r, SPLIT_TEST);
        countdown_prompt(&p, prompt);
        snprintf(line, sizeof line, "%s\t%d\t%d\n", prompt, p.target, countdown_difficulty(&p));
        text_add(&t, line);
    }
    gen_write_file(dir, "rl_test.txt", t.s); t.len = 0;
    // cold start: single-language searches
    for (int i = 0; i < GEN_COLDSTART; i++) {
        Countdown p = countdown_in_split(&r, SPLIT_CORPUS);
        countdown_prompt(&p, prompt);
        write_countdown_response(&p, CD_SEARCH, 0, 1, &r, resp);
        snprintf(line, sizeof line, "%s\t%s\n", prompt, resp);
        text_add(&t, line);
    }
    gen_write_file(dir, "coldstart.txt", t.s);
    free(t.s);
}

static CodeFn code_fn_random(Rng *r) {
    CodeFn f = { .kind = CODE_LINEAR + rng_int(r, 3) };
    if (f.kind == CODE_LINEAR) { f.a = 1 + rng_int(r, 9); f.b = rng_int(r, 10); }
    if (f.kind == CODE_MINUS) { f.a = 2 + rng_int(r, 8); f.b = 1 + rng_int(r, 9); }
    if (f.kind == CODE_SQUARE) { f.a = rng_int(r, 4); f.b = rng_int(r, 10); }
    return f;
}

// a random task of the given true function: three distinct inputs 0-9, increasing
static CodeTask code_task_random(const CodeFn *f, Rng *r) {
    CodeTask t = { .lang = rng_int(r, N_LANGS) };
    int chosen[CODE_INPUTS] = {0}, n = 0;
    while (n < CODE_SHOWN) { int x = rng_int(r, CODE_INPUTS); n += !chosen[x]; chosen[x] = 1; }
    n = 0;
    for (int x = 0; x < CODE_INPUTS; x++) if (chosen[x]) { t.in[n] = x; t.out[n++] = code_fn_value(f, x); }
    return t;
}

// the split of the problems by a hash of the true function and the shown inputs (as countdown_split)
static int code_split(const CodeFn *f, const CodeTask *t) {
    uint64_t key = (uint64_t)code_fn_id(f);
    for (int i = 0; i < CODE_SHOWN; i++) key = key * 16 + (uint64_t)t->in[i];
    uint64_t h = hash64(key ^ 0xC0DEull) % 10;
    return h < 2 ? SPLIT_TEST : h < 4 ? SPLIT_RL : SPLIT_CORPUS;
}

static void code_prompt(const CodeTask *t, char *out) {
    int o = sprintf(out, "%c:", LANG_TAG[t->lang]);
    for (int i = 0; i < CODE_SHOWN; i++) o += sprintf(out + o, i ? " %d=%d" : "%d=%d", t->in[i], t->out[i]);
}

#define CODE_TABLE_FAILED 2      // the failed candidates before a table
#define CODE_MAX_FAILED 3        // the failed candidates before the accepted one in a search
static const float CODE_MIX[CODE_OTHER] = { 0.40f, 0.15f, 0.10f, 0.28f, 0.07f };
// the function's program in its shortest form: "x", "x+3", "x*2", "x*2+1", "x*4-3", "x*x", "x*x+x*2+5"
static int code_fn_program(const CodeFn *f, char *out) {
    int o = sprintf(out, f->kind == CODE_SQUARE ? "x*x" : "x");
    if (f->kind == CODE_SQUARE && f->a) o += sprintf(out + o, f->a > 1 ? "+x*%d" : "+x", f->a);
    if (f->kind != CODE_SQUARE && f->a > 1) o += sprintf(out + o, "*%d", f->a);
    if (f->b) o += sprintf(out + o, "%c%d", f->kind == CODE_MINUS ? '-' : '+', f->b);
    return o;
}

// the table of the examples: "x=1*3+x=2*5+x=4*9", an output 0 left out, a negative one subtracted
static int code_table_program(const CodeTask *t, char *out) {
    int o = 0;
    for (int i = 0; i < CODE_SHOWN; i++) {
        if (t->out[i] == 0) continue;
        const char *form = t->out[i] < 0 ? "-x=%d*%d" : o ? "+x=%d*%d" : "x=%d*%d";
        o += sprintf(out + o, form, t->in[i], abs(t->out[i]));
    }
    if (o == 0) o = sprintf(out, "0");
    else if (out[0] == '-') { memmove(out + 1, out, o + 1); out[0] = '0'; o++; }  // "0-x=1*3+..."
    return o;
}

// a candidate run on the shown examples: "x*2 1=2 no" or "x*2+1 1=3 2=5 4=9 ok" (verdict words w)
static int write_code_run(char *out, const char *program, const CodeTask *t, const char **w) {
    int len = (int)strlen(program), o = sprintf(out, "%s", program), met = code_meets(program, len, t), v;
    for (int i = 0; i <= met && i < CODE_SHOWN; i++) {
        code_run(program, len, t->in[i], &v);
        o += sprintf(out + o, " %d=%d", t->in[i], v);
    }
    return o + sprintf(out + o, " %s", w[met == CODE_SHOWN ? CD_WORD_OK : CD_WORD_NO]);
}

// a wrong candidate: another function, half the time the true one's kind with one coefficient off by one
static CodeFn code_fn_wrong(const CodeFn *f, Rng *r) {
    for (;;) {
        CodeFn g = code_fn_random(r);
        if (rng_int(r, 2)) {
            g = *f;
            int step = rng_int(r, 2) ? 1 : -1;
            if (rng_int(r, 2)) g.a += step; else g.b += step;
        }
        if (code_fn_valid(&g) && code_fn_id(&g) != code_fn_id(f)) return g;
    }
}

// the response of task t, whose true function is f, in style (CODE_*): the failed candidates of a search are
// distinct wrong functions; one_try answers the true program or a wrong one, a coin each; switch_lang: the
// verdicts are written in the other language
static void write_code_response(const CodeTask *t, const CodeFn *f, int style, int switch_lang, Rng *r,
                                char *out) {
    const char **w = CD_WORDS[switch_lang ? 1 - t->lang : t->lang];
    // a search's failed candidates: 0-3, as countdown's first corpus had them
    static const float failed_p[CODE_MAX_FAILED + 1] = { 0.30f, 0.30f, 0.25f, 0.15f };
    CodeFn wrong[CODE_MAX_FAILED];
    char program[64], answer[64];
    int n_failed = style == CODE_TRY_NO ? 1 : style == CODE_TABLE ? CODE_TABLE_FAILED : 0;
    if (style == CODE_SEARCH) {
        float u = rng_f32(r);
        while (n_failed < CODE_MAX_FAILED && (u -= failed_p[n_failed]) >= 0) n_failed++;
    }
    for (int q = 0; q < n_failed; q++) {  // distinct
        int seen;
        do {
            wrong[q] = code_fn_wrong(f, r);
            seen = 0;
            for (int u = 0; u < q; u++) seen |= code_fn_id(&wrong[u]) == code_fn_id(&wrong[q]);
        } while (seen);
    }
    code_fn_program(f, answer);
    int o = sprintf(out, "<think>");
    for (int q = 0; q < n_failed; q++) {
        code_fn_program(&wrong[q], program);
        o += sprintf(out + o, q ? " " : "");
        o += write_code_run(out + o, program, t, w);
    }
    if (style == CODE_TRY_NO) code_fn_program(&wrong[0], answer);
    if (style == CODE_TABLE) code_table_program(t, answer);
    if (style == CODE_ONE_TRY) {
        CodeFn g = rng_int(r, 2) ? *f : code_fn_wrong(f, r);
        code_fn_program(&g, answer);
        o += sprintf(out + o, "%s", answer);
    }
    if (style == CODE_SEARCH) {
        o += sprintf(out + o, n_failed ? " " : "");
        o += write_code_run(out + o, answer, t, w);
    }
    sprintf(out + o, "</think><answer>%s</answer><eos>", answer);
}

static int sample_code_style(Rng *r) {
    float u = rng_f32(r);
    int style = 0;
    while (style < CODE_TABLE && (u -= CODE_MIX[style]) >= 0) style++;
    return style;
}

// a task of the code world in the given split (SPLIT_*); kind 0: any kind, else that kind. *f: its function
static CodeTask code_in_split(Rng *r, int split, int kind, CodeFn *f) {
    CodeTask t;
    do {
        do *f = code_fn_random(r); while (kind && f->kind != kind);
        t = code_task_random(f, r);
    } while (code_split(f, &t) != split);
    return t;
}

// ./r1 gen --world code: the same four files as the sums'. A prompt line's answer is the true function
// (code_fn_id), its difficulty the function's kind; the test prompts interleave the kinds, so that the first
// N prompts, the periodic evaluation's, hold each of them
static void gen_code_data(const char *dir, uint64_t seed) {
    make_dirs(dir);
    Rng r = rng_seed(seed);
    char prompt[64], resp[512], line[600];
    Text t = {0};
    CodeFn f;
    for (int i = 0; i < GEN_PRETRAIN; i++) {
        CodeTask task = code_in_split(&r, SPLIT_CORPUS, 0, &f);
        int style = sample_code_style(&r);
        int sw = style != CODE_DIRECT && rng_f32(&r) < SWITCH_PROB;
        code_prompt(&task, prompt);
        write_code_response(&task, &f, style, sw, &r, resp);
        snprintf(line, sizeof line, "%s%s\n", prompt, resp);
        text_add(&t, line);
    }
    gen_write_file(dir, "pretrain.txt", t.s); t.len = 0;
    for (int i = 0; i < GEN_RL_TRAIN; i++) {
        CodeTask task = code_in_split(&r, SPLIT_RL, 0, &f);
        code_prompt(&task, prompt);
        snprintf(line, sizeof line, "%s\t%ld\t%d\n", prompt, code_fn_id(&f), f.kind);
        text_add(&t, line);
    }
    gen_write_file(dir, "rl_train.txt", t.s); t.len = 0;
    for (int i = 0; i < GEN_RL_TEST_PER_DIFF; i++)
        for (int kind = CODE_LINEAR; kind <= CODE_SQUARE; kind++) {
            CodeTask task = code_in_split(&r, SPLIT_TEST, kind, &f);
            code_prompt(&task, prompt);
            snprintf(line, sizeof line, "%s\t%ld\t%d\n", prompt, code_fn_id(&f), f.kind);
            text_add(&t, line);
        }
    gen_write_file(dir, "rl_test.txt", t.s); t.len = 0;
    // cold start: single-language searches
    for (int i = 0; i < GEN_COLDSTART; i++) {
        CodeTask task = code_in_split(&r, SPLIT_CORPUS, 0, &f);
        code_prompt(&task, prompt);
        write_code_response(&task, &f, CODE_SEARCH, 0, &r, resp);
        snprintf(line, sizeof line, "%s\t%s\n", prompt, resp);
        text_add(&t, line);
    }
    gen_write_file(dir, "coldstart.txt", t.s);
    free(t.s);
}

// toy non-reasoning data (the paper mixes in writing, QA, ...): the larger of two numbers, answered
// directly. Writes "prompt<TAB>response" (sft) or "prompt<TAB>answer<TAB>0" (prompts) lines.
static void write_nonreasoning(FILE *f, int n, int as_prompts, Rng *r) {
    for (int i = 0; i < n; i++) {
        int a = 10 + rng_int(r, 90), b = 10 + rng_int(r, 90), lang = rng_int(r, N_LANGS);
        int mx = a > b ? a : b;
        if (as_prompts) fprintf(f, "%c:max %d %d=\t%d\t0\n", LANG_TAG[lang], a, b, mx);
        else fprintf(f, "%c:max %d %d=\t<think></think><answer>%03d</answer><eos>\n", LANG_TAG[lang], a, b,
                     mx);
    }
}

// ----------------------------------------------------------------------------
// 16. checkpoints: header (magic, version, config, preset, step, the trainer's RNG and data position),
// router biases, tokens seen and the expert-load average, parameters, optionally the AdamW moments,
// then an FNV-1a checksum of all of it.
// Written to a temporary file and renamed, so a crash never destroys the previous checkpoint.

#define CKPT_MAGIC 0x4b433152u   // "R1CK"
#define CKPT_VERSION 4           // 4: the toy world; 3: MLA with query compression; older ones are refused
typedef struct {
    uint32_t magic, version;
    Config cfg;
    char preset[16];
    int32_t step, has_optimizer, data_pos;  // data_pos, rng_state: where the trainer's data stream stands
    uint64_t num_params, rng_state;
    char world[16];  // version 4; a version-3 checkpoint is of the addition world
} CkptHeader;
_Static_assert(sizeof(CkptHeader) == 128,
               "a checkpoint header without padding (ref/r1_ref.py reads its fields)");

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ull; }
    return h;
}

static int config_valid(const Config *c) {
    return c->vocab == VOCAB_SIZE && c->context >= 8 && c->context <= 1024 &&
           c->d_model >= 2 && c->d_model <= 4096 && c->n_layer >= 1 && c->n_layer <= MAX_LAYERS &&
           c->n_head >= 1 && c->n_head <= 64 && c->d_nope >= 0 && c->d_nope <= 512 &&
           c->d_rope >= 0 && c->d_rope <= 512 && c->d_rope % 2 == 0 && c->d_v >= 1 && c->d_v <= 512 &&
           c->kv_rank >= 1 && c->kv_rank <= 4096 && c->q_rank >= 1 && c->q_rank <= 4096 &&
           c->n_dense >= 0 && c->d_ff_dense >= 1 && c->d_ff_dense <= 65536 &&
           c->n_experts >= 0 && c->n_experts <= MAX_EXPERTS && c->top_k >= (c->n_experts > 0) &&
           c->top_k <= c->n_experts && c->d_ff_expert >= 0 && c->d_ff_expert <= 65536;
}

// a save that fails (a full disk, a file size limit, no permission) removes its temporary file and
// says what is left
static void save_failed(const char *tmp, const char *path) {
    int err = errno;
    remove(tmp);
    die("cannot write %s: %s; %s %s", tmp, strerror(err), path,
        access(path, F_OK) == 0 ? "is unchanged (the last good checkpoint)" : "was not written");
}

typedef struct { FILE *f; uint64_t sum; const char *tmp, *path; } Writer;
static void write_block(Writer *w, const void *data, size_t n) {
    if (fwrite(data, 1, n, w->f) != n) save_failed(w->tmp, w->path);
    w->sum = fnv1a(w->sum, data, n);
}

typedef struct { FILE *f; uint64_t sum; int ok; } Reader;
static void read_block(Reader *r, void *data, size_t n) {
    r->ok = r->ok && fread(data, 1, n, r->f) == n;
    r->sum = fnv1a(r->sum, data, n);
}

// a few bytes of text (a data file given as a checkpoint?)
static int looks_like_text(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) if (p[i] < 9 || (p[i] > 13 && p[i] < 32) || p[i] > 126) return 0;
    return n > 0;
}

static void checkpoint_save(const char *path, const Model *m, int with_optimizer, uint64_t rng_state,
                            int data_pos) {
    if (dist_rank > 0) return;  // process 0 alone writes the run's files
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CkptHeader h;
    memset(&h, 0, sizeof h);
    h.magic = CKPT_MAGIC; h.version = CKPT_VERSION; h.cfg = m->cfg; h.step = m->step;
    snprintf(h.preset, sizeof h.preset, "%s", m->preset);
    snprintf(h.world, sizeof h.world, "%s", m->world);
    h.has_optimizer = with_optimizer; h.num_params = m->num_params; h.rng_state = rng_state;
    h.data_pos = data_pos;
    Writer w = { .f = fopen(tmp, "wb"), .sum = 0xcbf29ce484222325ull, .tmp = tmp, .path = path };
    if (!w.f) save_failed(tmp, path);
    write_block(&w, &h, sizeof h);
    write_block(&w, m->router_bias, sizeof m->router_bias);
    write_block(&w, &m->tokens_seen, sizeof m->tokens_seen);
    write_block(&w, m->load_avg, sizeof m->load_avg);
    write_block(&w, m->params_mem, m->num_params * sizeof(float));
    if (with_optimizer) {
        write_block(&w, m->m_mem, m->num_params * sizeof(float));
        write_block(&w, m->v_mem, m->num_params * sizeof(float));
    }
    uint64_t sum = w.sum;
    if (fwrite(&sum, sizeof sum, 1,
               w.f) != 1 || fflush(w.f) != 0 || fsync(fileno(w.f)) != 0 || fclose(w.f) != 0)
        save_failed(tmp, path);
    if (rename(tmp, path) != 0) die("cannot rename %s to %s: %s", tmp, path, strerror(errno));
}

// loads a model; checks magic, version, config, size and checksum; *rng_state, *data_pos: the trainer's
static Model *checkpoint_load(const char *path, uint64_t *rng_state, int *data_pos) {
    FILE *f = open_input(path, "checkpoint");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    CkptHeader h;
    memset(&h, 0, sizeof h);
    size_t head = offsetof(CkptHeader, world), got = fread(&h, 1, head, f);  // version 3's header
    if (h.magic != CKPT_MAGIC && looks_like_text((const unsigned char *)&h, got < 64 ? got : 64))
        die("%s is a text file (a data file?), not an r1 checkpoint", path);
    if (got != head) die("%s: not a checkpoint (too short)", path);
    if (h.magic != CKPT_MAGIC) die("%s: not an r1 checkpoint (bad magic number)", path);
    if (h.version == 1 || h.version == 2)
        die("%s: checkpoint version %u predates MLA's query compression: retrain it", path, h.version);
    if (h.version != 3 && h.version != CKPT_VERSION)
        die("%s: checkpoint version %u, this r1 reads version %d", path, h.version, CKPT_VERSION);
    if (h.version == 3) snprintf(h.world, sizeof h.world, "addition");
    else if (fread(h.world, 1, sizeof h.world, f) != sizeof h.world)
        die("%s: not a checkpoint (too short)", path);
    else head = sizeof h;
    h.preset[sizeof h.preset - 1] = 0;
    h.world[sizeof h.world - 1] = 0;
    if (strcmp(h.world, "addition") != 0 && strcmp(h.world, "countdown") != 0 && strcmp(h.world, "code") != 0)
        die("%s: checkpoint of an unknown world '%s'", path, h.world);
    if (!config_valid(&h.cfg)) die("%s: checkpoint has an invalid config", path);
    if (h.step < 0) die("%s: checkpoint has a negative step (%d)", path, h.step);
    Params p;
    if (params_layout(&h.cfg, NULL, &p) != h.num_params)
        die("%s: parameter count does not match its config", path);
    size_t nfloat = h.num_params * (h.has_optimizer ? 3 : 1);
    size_t biases = sizeof(float) * MAX_LAYERS * MAX_EXPERTS, trainer = sizeof(double) + biases;
    long expect = (long)(head + biases + trainer + nfloat * sizeof(float) + sizeof(uint64_t));
    if (size != expect)
        die("%s: checkpoint is %ld bytes, its header says %ld (truncated or corrupt)", path, size, expect);
    Model *m = model_create(&h.cfg, h.preset, 0);
    snprintf(m->world, sizeof m->world, "%s", h.world);
    m->step = h.step;
    Reader r = { .f = f, .sum = fnv1a(0xcbf29ce484222325ull, &h, head), .ok = 1 };
    read_block(&r, m->router_bias, sizeof m->router_bias);
    read_block(&r, &m->tokens_seen, sizeof m->tokens_seen);
    read_block(&r, m->load_avg, sizeof m->load_avg);
    read_block(&r, m->params_mem, h.num_params * sizeof(float));
    if (h.has_optimizer) {
        read_block(&r, m->m_mem, h.num_params * sizeof(float));
        read_block(&r, m->v_mem, h.num_params * sizeof(float));
    }
    uint64_t stored;
    r.ok = r.ok && fread(&stored, sizeof stored, 1, f) == 1;
    fclose(f);
    if (!r.ok) die("%s: checkpoint truncated", path);
    if (stored != r.sum) die("%s: checksum mismatch (the file is corrupt)", path);
    if (rng_state) *rng_state = h.rng_state;
    if (data_pos) *data_pos = h.data_pos;
    kernel_params_changed(m->params_mem);
    return m;
}

// ----------------------------------------------------------------------------
// 17. rollouts and evaluation: sampling, the measures of a response beside its rewards (style, reflection,
// the audits of checks and tries), evaluate

// ---- experiment tools that Part I calls (its hooks): decoding rules and the MoE's diagnostics

// Decoding that forces or bans the check (eval --check), a causal test of whether checking helps.
// ban: inside the think span no check can be written: "h" (only "check" has one) and a "k" that does
// not follow "o" (only "okay" and "kensa" have one) are masked, and once every column sum is written
// (as many "=" as the operands have digits) no space may follow it, so the chain ends where its
// checks would begin. force: a think span closed before it holds a check per column sum is instead
// continued with " check" (the prompt's language), and the model writes the rest of it.
static const char *CHECK_RULE_NAMES[N_CHECK_RULES] = { "free", "force", "ban" };

// row[i] is the "h" of " ch" or the "k" of " k": a check word starts there
static int starts_check_word(const int *row, int i) {
    int space = char_to_token(' ');
    return (row[i] == char_to_token('k') && row[i - 1] == space) ||
           (i >= 2 && row[i] == char_to_token('h') && row[i - 1] == char_to_token('c') &&
            row[i - 2] == space);
}

// the countdown world's causal tests of the retry (eval --check, --tries), in the open think span that
// starts at row[think]: ban: a "no" closes the think span (no retry); force: a think span closed right
// after a "no" is continued with a space (another try follows), up to max_tries tries (5, the corpus's
// longest search, if 0); max_tries > 0 alone: the think span closes after that many verdicts
static int countdown_next_token(float *logits, int V, float temperature, int rule, int max_tries,
                                const int *row, int len, int think, Rng *rng) {
    int verdicts = 0, at_verdict = 0, at_no = 0;
    for (int i = think + 3; i < len; i++) {  // a verdict: a space, then ok/no/ii/ie at row[i-1..i]
        if (row[i - 2] != char_to_token(' ') || row[i - 1] < N_SPECIAL || row[i] < N_SPECIAL) continue;
        char w[2] = { ALPHABET[row[i - 1] - N_SPECIAL], ALPHABET[row[i] - N_SPECIAL] };
        int word = cd_word(w, 2);
        if (word != CD_WORD_OK && word != CD_WORD_NO) continue;
        verdicts++;
        at_verdict = i == len - 1;
        at_no = at_verdict && word == CD_WORD_NO;
    }
    int budget = max_tries > 0 ? max_tries : rule == CHECK_FORCE ? CD_MAX_FAILED + 1 : 0;
    if (at_verdict && budget > 0 && verdicts >= budget) return TOK_THINK_END;
    if (at_no && rule == CHECK_BAN) return TOK_THINK_END;
    int t = sample_token(logits, V, temperature, rng);
    if (at_no && rule == CHECK_FORCE && t == TOK_THINK_END) t = char_to_token(' ');
    return t;
}

// the next token of row[0..len-1] (prompt, then response), sampled from logits[V] under the check
// rule (and, in the countdown world, the try budget max_tries, 0: none); *forcing counts the letters
// of a forced " check" still to write (0: none)
static int next_token(float *logits, int V, float temperature, int rule, int max_tries, const int *row,
                      int len, int *forcing, Rng *rng) {
    int think = len - 1; // where the open think span starts, if the row is in one
    while (think >= 0 && row[think] != TOK_THINK && row[think] != TOK_THINK_END) think--;
    if ((rule == CHECK_FREE && max_tries == 0) || think < 0 || row[think] != TOK_THINK)
        return sample_token(logits, V, temperature, rng);
    // a countdown prompt, "e:3 7 8=53", or a code prompt, "e:1=3 2=5 4=9": tries with verdicts
    if (len > 3 && (row[3] == char_to_token(' ') || row[3] == char_to_token('=')))
        return countdown_next_token(logits, V, temperature, rule, max_tries, row, len, think, rng);
    const char *word = WORDS[row[0] == char_to_token(LANG_TAG[LANG_JA]) ? LANG_JA : LANG_EN][WORD_CHECK];
    // digits: of the first operand, "e:51+"
    int wlen = (int)strlen(word), columns = 0, checks = 0, digits = 0;
    if (*forcing > 0) return char_to_token(word[wlen - (*forcing)--]);
    while (2 + digits < len && row[2 + digits] != char_to_token('+') && row[2 + digits] != char_to_token('='))
        digits++;
    for (int i = think + 1; i < len; i++) {
        columns += row[i] == char_to_token('=');
        checks += starts_check_word(row, i);
    }
    if (rule == CHECK_BAN) {
        logits[char_to_token('h')] = -INFINITY;
        if (row[len - 1] != char_to_token('o')) logits[char_to_token('k')] = -INFINITY;
        int last = row[len - 1] - N_SPECIAL;
        if (columns >= digits && last >= 0 && ALPHABET[last] >= '0' && ALPHABET[last] <= '9')
            logits[char_to_token(' ')] = -INFINITY;
    }
    int t = sample_token(logits, V, temperature, rng);
    if (rule == CHECK_FORCE && t == TOK_THINK_END && checks < columns) {
        *forcing = wlen;
        t = char_to_token(' ');
    }
    return t;
}

// the MoE under RL, per layer, from the forwards of a batch's chunks (grpo_step calls it after each): the
// largest expert load over the mean, of the loads so far; the router's entropy (of the affinities normalised
// over the experts) added up over the tokens of w > 0, which log->moe_tokens counts (grpo_train divides).
// Over MPI, of this process's share of the batch (the log shows process 0's)
static void moe_diagnostics(const Model *m, const float *w, GrpoStepLog *log) {
    float *load_spread = log->load_spread, *router_entropy = log->router_entropy, *tokens = &log->moe_tokens;
    const Config *c = &m->cfg;
    int N = m->B * m->T, E = c->n_experts;
    for (int n = 0; n < N; n++) *tokens += w[n] != 0.0f;
    for (int l = 0; l < c->n_layer; l++) {
        if (!is_moe_layer(c, l)) continue;
        float mean = 0.0f, hi = 0.0f;
        for (int e = 0; e < E; e++) {
            mean += m->expert_load[l][e] / E;
            hi = fmaxf(hi, m->expert_load[l][e]);
        }
        load_spread[l] = mean > 0 ? hi / mean : 0.0f;
        for (int n = 0; n < N; n++) {
            if (w[n] == 0.0f) continue;
            const float *s = m->acts[l].s + (size_t)n * E;
            float sum = 0.0f, h = 0.0f;
            for (int e = 0; e < E; e++) sum += s[e];
            for (int e = 0; e < E; e++) if (s[e] > 0) h -= s[e] / sum * logf(s[e] / sum);
            router_entropy[l] += h;
        }
    }
}

static Rollouts rollouts_alloc(int n, int max_len) {
    Rollouts r = { .n = n, .max_len = max_len, .seqs = mallocCheck((size_t)n * max_len * sizeof(int)),
                   .prompt_len = mallocCheck(n * sizeof(int)), .seq_len = mallocCheck(n * sizeof(int)),
                   .prompt = mallocCheck(n * sizeof(int)), .check_rule = CHECK_FREE };
    return r;
}
static void rollouts_free(Rollouts *r) {
    free(r->seqs);
    free(r->prompt_len);
    free(r->seq_len);
    free(r->prompt);
}

// fills r with one response per row for prompts idx[0..r->n-1] of d
static void rollout(Model *m, const Data *d, const int *idx, Rollouts *r, float temperature, Rng *rng) {
    for (int i = 0; i < r->n; i++) {
        r->prompt[i] = idx[i];
        r->prompt_len[i] = d->len[idx[i]];
        memcpy(r->seqs + (size_t)i * r->max_len, d->ids[idx[i]], d->len[idx[i]] * sizeof(int));
    }
    sample_responses(m, r, 0, r->n, temperature, rng_u32(rng));
}

// a few sampled responses to the first n_prompts prompts of d, k each, appended to f as lines
// who<TAB>prompt<TAB>answer<TAB>response. The seed is fixed: two checkpoints answer the same draws.
static void write_samples(FILE *f, Model *m, const Data *d, int n_prompts, int k, float temperature,
                          const char *who) {
    n_prompts = imin(n_prompts, d->n);
    int *idx = mallocCheck((size_t)n_prompts * k * sizeof(int));
    for (int i = 0; i < n_prompts * k; i++) idx[i] = i / k;
    Rollouts r = rollouts_alloc(n_prompts * k, m->cfg.context);
    Rng rng = rng_seed(2025);
    rollout(m, d, idx, &r, temperature, &rng);
    char *text = mallocCheck((size_t)m->cfg.context * 10 + 16);
    for (int i = 0; i < r.n; i++) {
        rollout_text(&r, i, text);
        fprintf(f, "%s\t%s\t%ld\t%s\n", who, d->text[idx[i]], d->answer[idx[i]], text);
    }
    fflush(f);
    free(text); free(idx);
    rollouts_free(&r);
}

// ---- the measures of a response beside its rewards, for evaluation and the RL log (measure_response)

// how a response reasons: no thinking, a chain of thought, or a chain with a verification step
static int response_style(const char *response) {
    if (strncmp(response, "<think></think>", 15) == 0) return STYLE_DIRECT;
    for (int lang = 0; lang < N_LANGS; lang++)
        if (strstr(response, WORDS[lang][WORD_CHECK])) return STYLE_CHECKED;
    return STYLE_CHAIN;
}

// reflection: the response re-examines its work (a check, or a "wait"), the paper's "aha" words
static int response_reflects(const char *response) {
    for (int lang = 0; lang < N_LANGS; lang++)
        if (strstr(response, WORDS[lang][WORD_CHECK]) || strstr(response, WORDS[lang][WORD_WAIT])) return 1;
    return 0;
}

// the summary (the cold start's format): the think span ends with "total N"; returns 1 and sets *value to N
// (a number of up to three digits), 0 if it does not
static int response_summary(const char *response, long *value) {
    const char *p = strstr(response, "<think>"), *end;
    if (!p) return 0;
    p += 7;
    end = strstr(p, "</think>");
    if (!end) return 0;
    const char *num = end;
    while (num > p && num[-1] >= '0' && num[-1] <= '9') num--;
    int digits = (int)(end - num), len = (int)strlen(WORDS[LANG_EN][WORD_TOTAL]);
    if (digits < 1 || digits > 3 || num - p < len + 1 || num[-1] != ' ') return 0;
    const char *word = num - 1 - len;
    if (word != p && word[-1] != ' ') return 0;
    if (strncmp(word, WORDS[LANG_EN][WORD_TOTAL], len) && strncmp(word, WORDS[LANG_JA][WORD_TOTAL], len))
        return 0;
    *value = atol(num);
    return 1;
}

// What the tries of a response did. A verdict is "vs T ok" or "vs T no" after a try; it is faithful when
// the try is sound, T is the target and the verdict follows from comparing the try's value with it. A
// retry is a try that follows a "no"; a false "ok" accepts a try that misses (as the reward re-evaluates it)
typedef struct { int tries, verdicts, oks, nos, retries, faithful, false_oks, last_verdict; } TryAudit;

static TryAudit audit_tries(const Countdown *p, const char *response) {
    TryAudit a = { .last_verdict = -1 };
    const char *s = strstr(response, "<think>"), *end;
    if (!s) return a;
    s += 7;
    end = strstr(s, "</think>");
    if (!end) end = s + strlen(s);
    int after_no = 0;
    while (s < end) {
        if (*s == ' ') { s++; continue; }
        WrittenTry t;
        int n = parse_try(s, &t);
        if (!n || s + n > end) { while (s < end && *s != ' ') s++; after_no = 0; continue; }
        s += n;
        a.tries++;
        a.retries += after_no;
        after_no = 0;
        // the verdict: " vs 53 no"
        int target, nt;
        const char *v = s + 1;
        if (s >= end || *s != ' ' || cd_word(v, 2) != CD_WORD_VS || v[2] != ' ') continue;
        if (!(nt = parse_number(v + 3, &target)) || v[3 + nt] != ' ') continue;
        int verdict = cd_word(v + 4 + nt, 2);
        if (verdict != CD_WORD_OK && verdict != CD_WORD_NO) continue;
        s = v + 6 + nt;
        int sound = try_sound(p, &t), ok = verdict == CD_WORD_OK;
        a.verdicts++; a.oks += ok; a.nos += !ok;
        a.faithful += sound && target == p->target && ok == (t.v == p->target);
        a.false_oks += ok && !(sound && t.v == p->target);
        a.last_verdict = verdict;
        after_no = !ok;
    }
    return a;
}

// "d=v" at s[0..len-1], a run of a candidate on input d (0-9) with value v (may be negative); 0: not one
static int parse_code_run(const char *s, int len, int *in, int *value) {
    if (len < 3 || s[0] < '0' || s[0] > '9' || s[1] != '=') return 0;
    int neg = s[2] == '-';
    if (code_number(s, len, 2 + neg, value) != len - 2 - neg) return 0;
    *in = s[0] - '0';
    if (neg) *value = -*value;
    return 1;
}

// a word that reads as a candidate program: its letters and signs those of the grammar (it may not parse)
static int code_candidate_word(const char *s, int len) {
    for (int i = 0; i < len; i++) if (!strchr("x0123456789+-*=", s[i])) return 0;
    return len > 0;
}

// how a countdown response reasons (CD_*): the corpus's five styles, or CD_OTHER
static int countdown_style(const char *response, const TryAudit *a) {
    if (strncmp(response, "<think></think>", 15) == 0) return CD_DIRECT;
    if (a->tries == 1 && a->verdicts == 0) return CD_ONE_TRY;
    if (a->tries == 1 && a->last_verdict == CD_WORD_NO) return CD_TRY_NO;
    if (a->tries >= 1 && a->last_verdict == CD_WORD_OK) return CD_SEARCH;
    if (a->tries >= 2 && a->last_verdict == CD_WORD_NO) return CD_GIVE_UP;
    return CD_OTHER;
}

// What the candidates of a code response did (the measures of audit_tries): a try is a candidate program in
// the think span, its runs "d=v" follow, then a verdict "ok" or "no". The verdict is faithful when every run
// is the next shown input and the program's value there, and the verdict is the interpreter's: "ok" after
// the three runs of a program that meets every shown example, "no" for one that misses one
static TryAudit audit_code(const CodeTask *t, const char *response) {
    TryAudit a = { .last_verdict = -1 };
    const char *s = strstr(response, "<think>"), *end, *program = NULL;
    if (!s) return a;
    s += 7;
    end = strstr(s, "</think>");
    if (!end) end = s + strlen(s);
    int after_no = 0, runs = 0, runs_true = 0, plen = 0, in, v, w;
    while (s < end) {
        if (*s == ' ') { s++; continue; }
        int len = 0;
        while (s + len < end && s[len] != ' ') len++;
        int word = cd_word(s, len);
        if (program && (word == CD_WORD_OK || word == CD_WORD_NO)) {  // the verdict of the open candidate
            int ok = word == CD_WORD_OK, met = code_meets(program, plen, t);
            a.verdicts++; a.oks += ok; a.nos += !ok;
            a.faithful += runs_true && (ok ? met == CODE_SHOWN && runs == CODE_SHOWN : met < CODE_SHOWN);
            a.false_oks += ok && met < CODE_SHOWN;
            a.last_verdict = word;
            after_no = !ok;
            program = NULL;
        } else if (program && parse_code_run(s, len, &in, &v)) {
            runs_true = runs_true && runs < CODE_SHOWN && in == t->in[runs] &&
                        code_run(program, plen, in, &w) && w == v;
            runs++;
        } else if (code_candidate_word(s, len)) {
            a.tries++;
            a.retries += after_no;
            after_no = 0;
            program = s; plen = len; runs = 0; runs_true = 1;
        } else {
            program = NULL;
            after_no = 0;
        }
        s += len;
    }
    return a;
}

// how a code response reasons (CODE_*): an answer with a bracket is a table, whatever came before
static int code_style(const char *response, const TryAudit *a) {
    const char *program;
    int len = answer_text(response, &program);
    for (int i = 0; i + 1 < len; i++) if (program[i] == 'x' && program[i + 1] == '=') return CODE_TABLE;
    if (strncmp(response, "<think></think>", 15) == 0) return CODE_DIRECT;
    if (a->tries == 1 && a->verdicts == 0) return CODE_ONE_TRY;
    if (a->tries == 1 && a->last_verdict == CD_WORD_NO) return CODE_TRY_NO;
    if (a->tries >= 1 && a->last_verdict == CD_WORD_OK) return CODE_SEARCH;
    return CODE_OTHER;
}

// the share of the think span's equation chunks that repeat an earlier one (0 when it has none)
static float repeated_share(const char *response) {
    int chunks, repeated = repeated_chunks(response, &chunks);
    return chunks ? (float)repeated / chunks : 0.0f;
}

// what evaluation measures of a response beside its rewards: its style (STYLE_*, CD_* or CODE_*, by the
// prompt's world), whether it reflects (a check or a "wait"; a verdict in countdown and code), whether its
// think span ends in a summary that restates its answer, and the answer for majority voting (the sums: the
// number; countdown: the answer's text, hashed; code: the program's values at 0-9, hashed)
typedef struct { int style, reflects, summary, has_answer; float repeated_share; long answer; } Measures;

static Measures measure_response(const char *prompt, const char *response) {
    Measures ms = { .repeated_share = repeated_share(response) };
    Countdown p;
    CodeTask t;
    if (countdown_parse(prompt, &p)) {
        TryAudit a = audit_tries(&p, response);
        ms.style = countdown_style(response, &a);
        ms.reflects = a.verdicts > 0;
        const char *s = strstr(response, "<answer>"), *e = s ? strstr(s, "</answer>") : NULL;
        ms.has_answer = e != NULL;
        for (const char *c = s; e && c < e; c++)
            ms.answer = (long)hash64((uint64_t)ms.answer * 131 + (uint64_t)*c);
    } else if (code_parse(prompt, &t)) {
        TryAudit a = audit_code(&t, response);
        ms.style = code_style(response, &a);
        ms.reflects = a.verdicts > 0;
        const char *program;
        int plen = answer_text(response, &program), v;
        ms.has_answer = plen > 0;
        for (int x = 0; x < CODE_INPUTS && ms.has_answer; x++) {
            ms.has_answer = code_run(program, plen, x, &v);
            ms.answer = (long)hash64((uint64_t)ms.answer * 131 + (uint64_t)(v + CODE_MAX_VALUE));
        }
    } else {
        ms.style = response_style(response);
        ms.reflects = response_reflects(response);
        ms.has_answer = response_answer(response, &ms.answer);
        long total;
        ms.summary = response_summary(response, &total) && ms.has_answer && total == ms.answer;
    }
    return ms;
}

// the next space-separated word of [s, end) into w (cut to cap-1 chars); returns where it ends
static const char *next_word(const char *s, const char *end, char *w, int cap) {
    while (s < end && *s == ' ') s++;
    int n = 0;
    for (; s < end && *s != ' '; s++) if (n < cap - 1) w[n++] = *s;
    w[n] = 0;
    return s;
}

static int word_is(const char *w, int word) { // w is this word of the chain of thought, in either language
    return strcmp(w, WORDS[LANG_EN][word]) == 0 || strcmp(w, WORDS[LANG_JA][word]) == 0;
}

// a number of one or two digits as the chain writes them ("07", "22"); -1 otherwise
static int word_number(const char *w) {
    int n = (int)strlen(w);
    if (n < 1 || n > 2 || strspn(w, "0123456789") != (size_t)n) return -1;
    return atoi(w);
}

// a column as written, "05+07+01+08+01=22": its m digits and its written sum; 0 if w is not one
static int parse_column(const char *w, int *digits, int *m, int *written) {
    *m = 0;
    const char *eq = strchr(w, '=');
    if (!eq || !strchr("0123456789", w[0]) || word_number(eq + 1) < 0) return 0;
    for (const char *s = w; s < eq; s += 3) {
        if (*m > MAX_OPERANDS || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1])) return 0;
        digits[(*m)++] = (s[0] - '0') * 10 + (s[1] - '0');
        if (s[2] != '+' && s + 2 != eq) return 0;
    }
    *written = atoi(eq + 1);
    return *m >= 2;
}

// What the checks of a response did. A check is faithful when its own arithmetic is right: the
// pair sums and running totals of the column's digits as written, its total, and a verdict ("okay"
// or "wait") that follows from comparing that total with the column's written sum. A "wait" is a
// self-correction, counted against the column's true sum: a wrong column made right, a right one
// made wrong, or a wrong one replaced by another wrong value.
enum { FIX_WRONG_TO_RIGHT, FIX_RIGHT_TO_WRONG, FIX_WRONG_TO_WRONG, N_FIXES };
static const char *FIX_NAMES[N_FIXES] = { "wrong_to_right", "right_to_wrong", "wrong_to_wrong" };
// columns: the columns written (at most 2), columns_right: those holding the operands' digits (the tens
// column also the true carry) and their true sum; verdicts_right: checks whose total and verdict number are
// the column's true sum
typedef struct { int checks, faithful, fixes[N_FIXES], columns, columns_right, verdicts_right; } CheckAudit;

static CheckAudit audit_checks(const Problem *p, const char *response) {
    CheckAudit a = {0};
    int truth[2] = {0}; // the true sums of the units column and of the tens column (with its carry)
    for (int i = 0; i < p->n; i++) { truth[0] += p->x[i] % 10; truth[1] += p->x[i] / 10; }
    truth[1] += truth[0] / 10;
    const char *s = strstr(response, "<think>"), *end;
    if (!s) return a;
    s += 7;
    end = strstr(s, "</think>");
    if (!end) end = s + strlen(s);
    int digits[2][MAX_OPERANDS + 1], m[2], written[2], n_cols = 0;
    char w[64];
    while (s < end) {
        s = next_word(s, end, w, sizeof w);
        if (n_cols < 2 && parse_column(w, digits[n_cols], &m[n_cols], &written[n_cols])) {
            int c = n_cols++, right = m[c] == p->n + c && written[c] == truth[c];
            for (int i = 0; right && i < p->n; i++) right = digits[c][i] == (c ? p->x[i] / 10 : p->x[i] % 10);
            if (right && c == 1) right = digits[1][p->n] == truth[0] / 10;
            a.columns_right += right;
            continue;
        }
        if (!word_is(w, WORD_CHECK)) continue;
        int col = a.checks++, nums[2 * MAX_OPERANDS + 2], n_nums = 0, value;
        s = next_word(s, end, w, sizeof w);
        while ((value = word_number(w)) >= 0 && n_nums < 2 * MAX_OPERANDS + 2) {
            nums[n_nums++] = value;
            s = next_word(s, end, w, sizeof w);
        }
        int okay = word_is(w, WORD_OK), wait = word_is(w, WORD_WAIT);
        s = next_word(s, end, w, sizeof w);
        int restated = word_number(w);
        if (col >= n_cols || (!okay && !wait)) continue;
        a.verdicts_right += n_nums > 0 && nums[n_nums - 1] == truth[col] && restated == truth[col];
        // what write_check would write for this column's digits as written
        const int *d = digits[col];
        int want[2 * MAX_OPERANDS + 2], n_want = 0, run = d[0] + d[1];
        for (int i = 0; i + 1 < m[col]; i += 2) want[n_want++] = d[i] + d[i + 1];
        for (int i = 2; i + 1 < m[col]; i += 2) { run += d[i] + d[i + 1]; want[n_want++] = run; }
        if (m[col] % 2) { run += d[m[col] - 1]; want[n_want++] = run; }
        int right = n_nums == n_want && restated == run && okay == (written[col] == run);
        for (int i = 0; right && i < n_want; i++) right = nums[i] == want[i];
        a.faithful += right;
        if (wait && restated >= 0) {
            int was_right = written[col] == truth[col], now_right = restated == truth[col];
            if (!was_right && now_right) a.fixes[FIX_WRONG_TO_RIGHT]++;
            else if (was_right && !now_right) a.fixes[FIX_RIGHT_TO_WRONG]++;
            else if (!was_right) a.fixes[FIX_WRONG_TO_WRONG]++;
        }
    }
    a.columns = n_cols;
    return a;
}

// the paper's "aha" example: a check caught a wrong column (wrong to right), every check of the response
// did its own arithmetic right (a check that lands on the right sum from wrong pair sums caught nothing),
// and the answer is right
static int aha_response(const CheckAudit *a, float correct) {
    return a->fixes[FIX_WRONG_TO_RIGHT] > 0 && a->faithful == a->checks && correct > 0;
}

// a response whose steps are right (rejection sampling keeps only these): no chain (a direct answer), or
// both columns right as written or put right by a check's "wait", no "wait" that makes one wrong, every
// check ending on the column's true sum, and a summary, if written, restating the true sum. Its pair sums may
// be wrong: after RL most are (NOTES.md), and requiring them too would keep a tenth of the traces
static int trace_sound(const Problem *p, const char *response) {
    CheckAudit a = audit_checks(p, response);
    int columns_ok = a.columns == 0 || (a.columns == 2 && a.columns_right + a.fixes[FIX_WRONG_TO_RIGHT] == 2);
    long total;
    int summary_ok = !response_summary(response, &total) || total == problem_answer(p);
    return columns_ok && summary_ok && a.verdicts_right == a.checks && !a.fixes[FIX_RIGHT_TO_WRONG] &&
           !a.fixes[FIX_WRONG_TO_WRONG];
}

enum { N_PASS_AT = 5 };  // pass@j for j = 1, 2, 4, 8, 16

// pass@j of a prompt from n samples of which c are right: 1 - C(n-c, j) / C(n, j), the unbiased estimate of
// the chance that j samples hold a right one (Chen et al. 2021), as a product that cannot overflow
static double pass_at_j(int n, int c, int j) {
    if (n - c < j) return 1.0;
    double miss = 1.0;
    for (int i = n - c + 1; i <= n; i++) miss *= 1.0 - (double)j / i;
    return 1.0 - miss;
}

typedef struct {
    int n_prompts, k;
    // over the k samples (greedy: argmax)
    float pass1, cons, greedy, len, reflect, langmix, format;
    // readability (R1 section 2.3.1): responses that repeat an equation (response_repeats), and the mean
    // share of a response's equations that repeat an earlier one (repeated_share)
    float repetition, repeated_share;
    float summary;  // sums: of all chains, those ending in a summary that restates the answer (NAN: none)
    float diff_pass1[16], diff_greedy[16], diff_len[16]; int diff_n[16];
    // the styles of the prompts' world (the sums' N_STYLES, or countdown's N_CD_STYLES) and their names
    int n_styles;
    const char *const *style_names;
    // sampled, per difficulty: NAN if none
    float diff_style_share[16][MAX_STYLES], diff_style_acc[16][MAX_STYLES];
    float style_share[MAX_STYLES], style_acc[MAX_STYLES];                   // sampled
    float gstyle_share[MAX_STYLES], gstyle_acc[MAX_STYLES];                 // greedy
    // countdown's tries (sampled responses): tries per response, the share of "no"s followed by another try,
    // the share of right answers after at least one "no", faithful verdicts among verdicts, false "ok"s
    // among "ok"s (audit_tries), overall and per difficulty; NAN where there is nothing to count
    int countdown, verdicts, diff_verdicts[16], max_tries;
    // the code world (code 1; its tries are countdown's measures): the pass rates of the shown examples only
    // and of the hidden tests only, sampled (pass@1) and greedy, overall and per difficulty (pass@1 itself
    // counts a program right when it passes both)
    int code;
    float shown_pass1, hidden_pass1, shown_greedy, hidden_greedy, diff_shown_pass1[16], diff_hidden_pass1[16];
    float tries_per_response, retry_after_no, right_after_no, try_faithfulness, false_ok_rate;
    float diff_tries[16], diff_retry_after_no[16], diff_try_faithfulness[16];
    float forced_greedy;  // greedy with the response forced to start a chain ("<think>0"); NAN if not asked
    // reflection measured as the field does (sampled responses): reflection@k (prompts with at least one
    // reflecting response), checked chains among all chains, per difficulty too, self-corrections per
    // 100 responses by what they did, and the share of checks whose own arithmetic is right
    float reflect_at_k, checked_in_chains, diff_checked_in_chains[16], fixes_per100[N_FIXES], faithfulness;
    float diff_reflect[16], diff_fixes_per100[16][N_FIXES], diff_faithfulness[16];
    int checks, diff_checks[16], check_rule;
    // pass@j for j = 1, 2, 4, 8, 16: the chance that j samples hold a right one, from the k; NAN for j > k
    float pass_at[N_PASS_AT];
    // the first sampled response in which a faithful check turned a wrong column right and the answer is
    // right (aha_response: the paper's "aha" example), and its prompt; "" if none
    char aha[2048];
    int aha_prompt;
} EvalResult;

// greedy accuracy with the response forced to start a chain: the prompts 0..r->n-1 of d (idx[p] = p)
// extended by "<think>0", the first two tokens of every chain; r and text (room for a response) are scratch
static float forced_chain_greedy(Model *m, const Data *d, const int *idx, Rollouts *r, char *text, Rng *rng) {
    int n_prompts = r->n;
    Data forced = *d;
    forced.ids = mallocCheck(n_prompts * sizeof(int *));
    forced.len = mallocCheck(n_prompts * sizeof(int));
    for (int p = 0; p < n_prompts; p++) {
        forced.ids[p] = mallocCheck((size_t)(d->len[p] + 2) * sizeof(int));
        memcpy(forced.ids[p], d->ids[p], d->len[p] * sizeof(int));
        forced.ids[p][d->len[p]] = TOK_THINK;
        forced.ids[p][d->len[p] + 1] = char_to_token('0');
        forced.len[p] = d->len[p] + 2;
    }
    rollout(m, &forced, idx, r, 0.0f, rng);
    float accuracy = 0.0f;
    for (int p = 0; p < n_prompts; p++) {
        strcpy(text, "<think>0");
        rollout_text(r, p, text + 8);
        accuracy += reward_accuracy(text, d->answer[p]) / n_prompts;
        free(forced.ids[p]);
    }
    free(forced.ids); free(forced.len);
    return accuracy;
}

// pass@1 over k samples, cons@k (majority vote), greedy accuracy and the behaviour measures. Sampled at
// the given temperature (1 by default), no top-p: R1 reports pass@1 at temperature 0.6, top-p 0.95
static EvalResult evaluate(Model *m, const Data *d, int n_prompts, int k, float temperature, uint64_t seed,
                           int check_rule, int max_tries, int forced_chain) {
    EvalResult e;
    memset(&e, 0, sizeof e);
    e.check_rule = check_rule;
    if (n_prompts <= 0 || n_prompts > d->n) n_prompts = d->n;
    e.n_prompts = n_prompts; e.k = k;
    for (int q = 0; q < N_PASS_AT; q++) e.pass_at[q] = (1 << q) <= k ? 0.0f : NAN;
    Rng rng = rng_seed(seed);
    int *idx = mallocCheck((size_t)n_prompts * k * sizeof(int));
    Rollouts samp = rollouts_alloc(n_prompts * k, m->cfg.context);
    Rollouts greedy = rollouts_alloc(n_prompts, m->cfg.context);
    samp.check_rule = greedy.check_rule = check_rule;
    samp.max_tries = greedy.max_tries = e.max_tries = max_tries;
    for (int p = 0; p < n_prompts; p++) for (int j = 0; j < k; j++) idx[p * k + j] = p;
    rollout(m, d, idx, &samp, temperature, &rng);
    for (int p = 0; p < n_prompts; p++) idx[p] = p;
    rollout(m, d, idx, &greedy, 0.0f, &rng);
    char *text = mallocCheck((size_t)m->cfg.context * 10 + 16);
    int style_n[MAX_STYLES] = {0}, gstyle_n[MAX_STYLES] = {0}, fixes[N_FIXES] = {0}, faithful = 0;
    int diff_chains[16] = {0}, diff_checked[16] = {0}, diff_style_n[16][MAX_STYLES] = {{0}};
    int diff_faithful[16] = {0}, diff_fixes[16][N_FIXES] = {{0}};
    long votes_v[64]; int votes_n[64], votes_right[64];
    Countdown first;
    CodeTask first_task;
    e.countdown = n_prompts > 0 && countdown_parse(d->text[0], &first);
    e.code = n_prompts > 0 && code_parse(d->text[0], &first_task);
    e.n_styles = e.countdown ? N_CD_STYLES : e.code ? N_CODE_STYLES : N_STYLES;
    e.style_names = e.countdown ? CD_STYLE_NAMES : e.code ? CODE_STYLE_NAMES : STYLE_NAMES;
    TryAudit tries = {0}, diff_tries[16] = {{0}};  // summed over the sampled responses
    int right_total = 0, right_after_no = 0;
    for (int p = 0; p < n_prompts; p++) {
        int diff = d->difficulty ? d->difficulty[p] : 0, n_votes = 0, reflected = 0;
        int right = 0;
        float pass = 0;
        Problem prob;
        Countdown cd;
        CodeTask task;
        int parsed = problem_parse(d->text[p], &prob), is_countdown = countdown_parse(d->text[p], &cd);
        int is_code = code_parse(d->text[p], &task);
        for (int j = 0; j < k; j++) {
            int i = p * k + j;
            rollout_text(&samp, i, text);
            Judgement jd = judge_prompt(d->text[p], text, samp.seq_len[i] - samp.prompt_len[i], d->answer[p]);
            Measures ms = measure_response(d->text[p], text);
            reflected |= ms.reflects;
            diff_chains[diff] += ms.style != STYLE_DIRECT;
            diff_checked[diff] += ms.style == STYLE_CHECKED;
            if (parsed) {
                CheckAudit audit = audit_checks(&prob, text);
                e.checks += audit.checks; faithful += audit.faithful;
                e.diff_checks[diff] += audit.checks; diff_faithful[diff] += audit.faithful;
                for (int f = 0; f < N_FIXES; f++) {
                    fixes[f] += audit.fixes[f];
                    diff_fixes[diff][f] += audit.fixes[f];
                }
                if (!e.aha[0] && aha_response(&audit, jd.correct)) {
                    snprintf(e.aha, sizeof e.aha, "%s", text);
                    e.aha_prompt = p;
                }
            }
            if (is_countdown || is_code) {
                TryAudit a = is_countdown ? audit_tries(&cd, text) : audit_code(&task, text);
                TryAudit *sums[2] = { &tries, &diff_tries[diff] };
                for (int q = 0; q < 2; q++) {
                    sums[q]->tries += a.tries; sums[q]->nos += a.nos; sums[q]->retries += a.retries;
                    sums[q]->verdicts += a.verdicts; sums[q]->faithful += a.faithful;
                    sums[q]->oks += a.oks; sums[q]->false_oks += a.false_oks;
                }
                right_total += jd.correct > 0;
                right_after_no += jd.correct > 0 && a.nos > 0;
                // a retry that paid: the first in evaluation order
                if (!e.aha[0] && a.nos > 0 && a.faithful == a.verdicts && jd.correct > 0) {
                    snprintf(e.aha, sizeof e.aha, "%s", text);
                    e.aha_prompt = p;
                }
            }
            pass += jd.correct / k;
            right += jd.correct > 0;
            e.shown_pass1 += jd.shown / (n_prompts * k);
            e.hidden_pass1 += jd.hidden / (n_prompts * k);
            e.diff_shown_pass1[diff] += jd.shown / k;
            e.diff_hidden_pass1[diff] += jd.hidden / k;
            e.len += (float)jd.len / (n_prompts * k);
            e.reflect += (float)ms.reflects / (n_prompts * k);
            e.langmix += (jd.language < 1.0f) / (float)(n_prompts * k);
            e.repetition += jd.repeats / (float)(n_prompts * k);
            e.repeated_share += ms.repeated_share / (n_prompts * k);
            e.summary += ms.summary;
            e.format += jd.format / (n_prompts * k);
            e.diff_len[diff] += jd.len;
            e.diff_reflect[diff] += ms.reflects;
            style_n[ms.style]++;
            e.style_acc[ms.style] += jd.correct;
            diff_style_n[diff][ms.style]++;
            e.diff_style_acc[diff][ms.style] += jd.correct;
            if (ms.has_answer) { // majority vote
                int v = 0;
                while (v < n_votes && votes_v[v] != ms.answer) v++;
                if (v == n_votes && n_votes < 64) {
                    votes_v[n_votes] = ms.answer; votes_n[n_votes] = 0;
                    votes_right[n_votes++] = jd.correct > 0;
                }
                if (v < n_votes) votes_n[v]++;
            }
        }
        int best = -1;
        for (int v = 0; v < n_votes; v++) if (best < 0 || votes_n[v] > votes_n[best]) best = v;
        e.cons += (best >= 0 && votes_right[best]) / (float)n_prompts;
        e.reflect_at_k += (float)reflected / n_prompts;
        e.pass1 += pass / n_prompts;
        for (int q = 0; q < N_PASS_AT && (1 << q) <= k; q++)
            e.pass_at[q] += pass_at_j(k, right, 1 << q) / n_prompts;
        rollout_text(&greedy, p, text);
        Judgement jg = judge_prompt(d->text[p], text, greedy.seq_len[p] - greedy.prompt_len[p], d->answer[p]);
        int greedy_style = measure_response(d->text[p], text).style;
        e.greedy += jg.correct / n_prompts;
        e.shown_greedy += jg.shown / n_prompts;
        e.hidden_greedy += jg.hidden / n_prompts;
        gstyle_n[greedy_style]++;
        e.gstyle_acc[greedy_style] += jg.correct;
        e.diff_pass1[diff] += pass; e.diff_greedy[diff] += jg.correct; e.diff_n[diff]++;
    }
    for (int s = 0; s < e.n_styles; s++) {
        e.style_share[s] = (float)style_n[s] / (n_prompts * k);
        e.style_acc[s] = style_n[s] ? e.style_acc[s] / style_n[s] : NAN;
        e.gstyle_share[s] = (float)gstyle_n[s] / n_prompts;
        e.gstyle_acc[s] = gstyle_n[s] ? e.gstyle_acc[s] / gstyle_n[s] : NAN;
    }
    for (int t = 0; t < 16; t++) if (e.diff_n[t]) {
        e.diff_len[t] /= e.diff_n[t] * k; e.diff_pass1[t] /= e.diff_n[t]; e.diff_greedy[t] /= e.diff_n[t];
        e.diff_shown_pass1[t] /= e.diff_n[t]; e.diff_hidden_pass1[t] /= e.diff_n[t];
        e.diff_checked_in_chains[t] = diff_chains[t] ? (float)diff_checked[t] / diff_chains[t] : NAN;
        e.diff_reflect[t] /= e.diff_n[t] * k;
        e.diff_faithfulness[t] = e.diff_checks[t] ? (float)diff_faithful[t] / e.diff_checks[t] : NAN;
        for (int f = 0; f < N_FIXES; f++)
            e.diff_fixes_per100[t][f] = 100.0f * diff_fixes[t][f] / (e.diff_n[t] * k);
        for (int s = 0; s < e.n_styles; s++) {
            e.diff_style_share[t][s] = (float)diff_style_n[t][s] / (e.diff_n[t] * k);
            e.diff_style_acc[t][s] = diff_style_n[t][s] ? e.diff_style_acc[t][s] / diff_style_n[t][s] : NAN;
        }
    }
    int chains = style_n[STYLE_CHAIN] + style_n[STYLE_CHECKED];
    e.checked_in_chains = chains ? (float)style_n[STYLE_CHECKED] / chains : NAN;
    e.summary = chains ? e.summary / chains : NAN;
    for (int f = 0; f < N_FIXES; f++) e.fixes_per100[f] = 100.0f * fixes[f] / (n_prompts * k);
    e.faithfulness = e.checks ? (float)faithful / e.checks : NAN;
    e.verdicts = tries.verdicts;
    e.tries_per_response = (float)tries.tries / (n_prompts * k);
    e.retry_after_no = tries.nos ? (float)tries.retries / tries.nos : NAN;
    e.right_after_no = right_total ? (float)right_after_no / right_total : NAN;
    e.try_faithfulness = tries.verdicts ? (float)tries.faithful / tries.verdicts : NAN;
    e.false_ok_rate = tries.oks ? (float)tries.false_oks / tries.oks : NAN;
    for (int t = 0; t < 16; t++) if (e.diff_n[t]) {
        const TryAudit *a = &diff_tries[t];
        e.diff_verdicts[t] = a->verdicts;
        e.diff_tries[t] = (float)a->tries / (e.diff_n[t] * k);
        e.diff_retry_after_no[t] = a->nos ? (float)a->retries / a->nos : NAN;
        e.diff_try_faithfulness[t] = a->verdicts ? (float)a->faithful / a->verdicts : NAN;
    }
    e.forced_greedy = forced_chain ? forced_chain_greedy(m, d, idx, &greedy, text, &rng) : NAN;
    free(text); free(idx);
    rollouts_free(&samp); rollouts_free(&greedy);
    return e;
}

static float nan_to(float x, float instead) { return isnan(x) ? instead : x; } // JSON has no NaN

// the label of difficulty t in eval's table: countdown's number of solutions, or the code world's kind of
// true function
static const char *difficulty_label(const EvalResult *e, int t) {
    if (e->code)
        return t == CODE_LINEAR ? "x*a+b" : t == CODE_MINUS ? "x*a-b" : t == CODE_SQUARE ? "x*x+x*a+b" : "?";
    return t == 3 ? "3 or more" : t == 2 ? "2" : t == 1 ? "1" : "?";
}

// eval_print's lines for the worlds of tries (countdown, code): the tries, per difficulty (countdown's number
// of solutions, the code world's kind of function), and styles; the code world's pass rates of the shown
// examples and of the hidden tests first
static void eval_print_tries(const EvalResult *e) {
    if (e->code)
        printf("  tests passed: shown examples pass@1 %.3f, greedy %.3f | hidden tests pass@1 %.3f, "
               "greedy %.3f | tables %.3f\n", e->shown_pass1, e->shown_greedy, e->hidden_pass1,
               e->hidden_greedy, e->style_share[CODE_TABLE]);
    printf("  tries per response %.2f | retry after no %.3f | right after no %.3f | try faithfulness %.3f "
           "(%d verdicts) | false ok rate %.3f\n", e->tries_per_response, e->retry_after_no,
           e->right_after_no, e->try_faithfulness, e->verdicts, e->false_ok_rate);
    printf("  %-10s %7s %7s %7s %6s %12s %12s   accuracy: direct / one_try / search\n",
           e->code ? "function" : "solutions", "pass@1", "greedy", "length", "tries", "retry/no",
           "faithfulness");
    for (int t = 0; t < 16; t++) if (e->diff_n[t])
        printf("  %-10s %7.3f %7.3f %7.1f %6.2f %12.3f %12.3f   %.3f / %.3f / %.3f\n", difficulty_label(e, t),
               e->diff_pass1[t], e->diff_greedy[t], e->diff_len[t],
               e->diff_tries[t], e->diff_retry_after_no[t], e->diff_try_faithfulness[t],
               e->diff_style_acc[t][CD_DIRECT], e->diff_style_acc[t][CD_ONE_TRY],
               e->diff_style_acc[t][CD_SEARCH]);
    printf("  %-12s %8s %8s %12s %12s\n", "style", "share", "accuracy", "greedy share", "greedy acc");
    for (int s = 0; s < e->n_styles; s++)
        printf("  %-12s %8.3f %8.3f %12.3f %12.3f\n", e->style_names[s], e->style_share[s], e->style_acc[s],
               e->gstyle_share[s], e->gstyle_acc[s]);
}

static void eval_print(const char *name, const EvalResult *e, int json) {
    if (json) {
        printf("{\"model\": \"%s\", \"prompts\": %d, \"k\": %d, \"pass1\": %.4f, \"cons\": %.4f, "
               "\"greedy\": %.4f, \"forced_chain_greedy\": %.4f, \"mean_length\": %.2f, "
               "\"reflection\": %.4f, \"language_mix\": %.4f, \"repetition\": %.4f, "
               "\"repeated_share\": %.4f, \"format\": %.4f, \"summary\": %.4f", name, e->n_prompts, e->k,
               e->pass1, e->cons, e->greedy, e->forced_greedy, e->len, e->reflect, e->langmix, e->repetition,
               e->repeated_share, e->format, nan_to(e->summary, -1));
        for (int t = 0; t < 16; t++) if (e->diff_n[t])
            printf(", \"d%d_pass1\": %.4f, \"d%d_greedy\": %.4f, \"d%d_length\": %.2f", t, e->diff_pass1[t],
                   t, e->diff_greedy[t], t, e->diff_len[t]);
        printf(", \"check_rule\": \"%s\", \"reflection_at_k\": %.4f, \"checked_in_chains\": %.4f, "
               "\"check_faithfulness\": %.4f, \"checks\": %d", CHECK_RULE_NAMES[e->check_rule],
               e->reflect_at_k, nan_to(e->checked_in_chains, -1), nan_to(e->faithfulness, -1), e->checks);
        for (int f = 0; f < N_FIXES; f++) printf(", \"%s_per100\": %.3f", FIX_NAMES[f], e->fixes_per100[f]);
        for (int q = 1; q < N_PASS_AT; q++)
            if (!isnan(e->pass_at[q])) printf(", \"pass%d\": %.4f", 1 << q, e->pass_at[q]);
        for (int t = 0; t < 16; t++) if (e->diff_n[t]) {
            printf(", \"d%d_checked_in_chains\": %.4f, \"d%d_reflection\": %.4f, "
                   "\"d%d_check_faithfulness\": %.4f, \"d%d_checks\": %d", t,
                   nan_to(e->diff_checked_in_chains[t], -1), t, e->diff_reflect[t], t,
                   nan_to(e->diff_faithfulness[t], -1), t, e->diff_checks[t]);
            for (int f = 0; f < N_FIXES; f++)
                printf(", \"d%d_%s_per100\": %.3f", t, FIX_NAMES[f], e->diff_fixes_per100[t][f]);
        }
        const char *const *names = e->style_names;
        for (int t = 0; t < 16; t++) if (e->diff_n[t])
            for (int s = 0; s < e->n_styles; s++)
                printf(", \"d%d_%s_share\": %.4f, \"d%d_%s_acc\": %.4f", t, names[s],
                       e->diff_style_share[t][s], t, names[s], nan_to(e->diff_style_acc[t][s], -1));
        for (int s = 0; s < e->n_styles; s++)
            printf(", \"%s_share\": %.4f, \"%s_acc\": %.4f, \"greedy_%s_share\": %.4f, \"greedy_%s_acc\": "
                   "%.4f", names[s], e->style_share[s], names[s],
                   isnan(e->style_acc[s]) ? -1.0f : e->style_acc[s], names[s], e->gstyle_share[s],
                   names[s], isnan(e->gstyle_acc[s]) ? -1.0f : e->gstyle_acc[s]);
        if (e->countdown || e->code) {
            printf(", \"tries_per_response\": %.4f, \"retry_after_no\": %.4f, \"right_after_no\": %.4f, "
                   "\"try_faithfulness\": %.4f, \"false_ok_rate\": %.4f, \"verdicts\": %d, \"max_tries\": %d",
                   e->tries_per_response, nan_to(e->retry_after_no, -1), nan_to(e->right_after_no, -1),
                   nan_to(e->try_faithfulness, -1), nan_to(e->false_ok_rate, -1), e->verdicts, e->max_tries);
            for (int t = 0; t < 16; t++) if (e->diff_n[t])
                printf(", \"d%d_tries_per_response\": %.4f, \"d%d_retry_after_no\": %.4f, "
                       "\"d%d_try_faithfulness\": %.4f, \"d%d_verdicts\": %d", t, e->diff_tries[t], t,
                       nan_to(e->diff_retry_after_no[t], -1), t, nan_to(e->diff_try_faithfulness[t], -1), t,
                       e->diff_verdicts[t]);
        }
        if (e->code) {
            printf(", \"shown_pass1\": %.4f, \"hidden_pass1\": %.4f, \"shown_greedy\": %.4f, "
                   "\"hidden_greedy\": %.4f", e->shown_pass1, e->hidden_pass1, e->shown_greedy,
                   e->hidden_greedy);
            for (int t = 0; t < 16; t++) if (e->diff_n[t])
                printf(", \"d%d_shown_pass1\": %.4f, \"d%d_hidden_pass1\": %.4f", t,
                       e->diff_shown_pass1[t], t, e->diff_hidden_pass1[t]);
        }
        printf("}\n");
        return;
    }
    printf("%s: %d held-out prompts, %d samples each%s%s", name, e->n_prompts, e->k,
           !e->check_rule ? "" : e->countdown || e->code ? ", decoding with the retry "
                                                         : ", decoding with the check ",
           e->check_rule == CHECK_FORCE ? "forced" : e->check_rule ? "banned" : "");
    if (e->max_tries) printf(", at most %d tries", e->max_tries);
    printf("\n");
    printf("  pass@1 %.3f | cons@%d %.3f | greedy %.3f | mean length %.1f | reflection %.3f | language mix "
           "%.3f | repetition %.3f (repeated share %.3f) | format %.3f\n", e->pass1, e->k, e->cons, e->greedy,
           e->len, e->reflect, e->langmix, e->repetition, e->repeated_share, e->format);
    printf("  pass@j, the chance that j samples hold a right answer:");
    for (int q = 0; q < N_PASS_AT; q++)
        if (!isnan(e->pass_at[q])) printf("%s j=%d %.3f", q ? " |" : "", 1 << q, e->pass_at[q]);
    printf("\n");
    if (e->countdown || e->code) { eval_print_tries(e); return; }
    printf("  greedy with the response forced to start a chain (\"<think>0\"): %.3f\n", e->forced_greedy);
    printf("  reflection@%d %.3f | checked among chains %.3f | check faithfulness %.3f (%d checks) | chains "
           "ending in their summary %.3f\n", e->k, e->reflect_at_k, e->checked_in_chains, e->faithfulness,
           e->checks, e->summary);
    printf("  self-corrections per 100 responses: wrong to right %.2f | right to wrong %.2f | wrong to wrong "
           "%.2f\n", e->fixes_per100[FIX_WRONG_TO_RIGHT], e->fixes_per100[FIX_RIGHT_TO_WRONG],
           e->fixes_per100[FIX_WRONG_TO_WRONG]);
    printf("  %-12s %8s %8s %8s %17s   accuracy by style: %s / %s / %s\n", "difficulty", "pass@1", "greedy",
           "length", "checked/chains", STYLE_NAMES[0], STYLE_NAMES[1], STYLE_NAMES[2]);
    for (int t = 0; t < 16; t++) if (e->diff_n[t])
        printf("  %-12d %8.3f %8.3f %8.1f %17.3f   %.3f / %.3f / %.3f\n", t, e->diff_pass1[t],
               e->diff_greedy[t], e->diff_len[t], e->diff_checked_in_chains[t],
               e->diff_style_acc[t][STYLE_DIRECT],
               e->diff_style_acc[t][STYLE_CHAIN], e->diff_style_acc[t][STYLE_CHECKED]);
    printf("  %-12s %10s %17s   self-corrections per 100: wrong to right / right to wrong / wrong to wrong\n",
           "difficulty", "reflection", "faithfulness");
    for (int t = 0; t < 16; t++) if (e->diff_n[t])
        printf("  %-12d %10.3f %17.3f   %.2f / %.2f / %.2f\n", t, e->diff_reflect[t], e->diff_faithfulness[t],
               e->diff_fixes_per100[t][FIX_WRONG_TO_RIGHT], e->diff_fixes_per100[t][FIX_RIGHT_TO_WRONG],
               e->diff_fixes_per100[t][FIX_WRONG_TO_WRONG]);
    printf("  %-12s %8s %8s %12s %12s\n", "style", "share", "accuracy", "greedy share", "greedy acc");
    for (int s = 0; s < N_STYLES; s++)
        printf("  %-12s %8.3f %8.3f %12.3f %12.3f\n", STYLE_NAMES[s], e->style_share[s], e->style_acc[s],
               e->gstyle_share[s], e->gstyle_acc[s]);
}

// rejection sampling's test of a response to prompt p, judged jd: the rule (rejection_keep) and, for a sum,
// its columns and its checks' totals right (trace_sound): a right answer after a wrong step teaches it
static int rejection_accepts(const Data *d, int p, const Judgement *jd, const char *response, int max_len) {
    Problem prob;
    Countdown cd;
    int sum = problem_parse(d->text[p], &prob);
    if (countdown_parse(d->text[p], &cd)) {  // a countdown trace: every verdict faithful
        TryAudit a = audit_tries(&cd, response);
        return rejection_keep(jd, max_len) && a.faithful == a.verdicts;
    }
    return rejection_keep(jd, max_len) && (!sum || trace_sound(&prob, response));
}

// the cold start's format for a chain to a sum that does not end in its summary: " total N" (its own answer
// N, in the prompt's language) written before </think>, as R1's cold-start data were post-processed into
// their format (R1 section 2.3.1). Returns 1 if it wrote it (text has room for 16 more characters)
static int write_summary(char *text, const char *prompt) {
    Problem p;
    long answer, total;
    char *close = strstr(text, "</think>");
    if (!problem_parse(prompt, &p) || !close || response_style(text) == STYLE_DIRECT ||
        response_summary(text, &total) || !response_answer(text, &answer)) return 0;
    char rest[64], *end = close + strlen(close);
    if (end - close >= (long)sizeof rest) return 0;
    memcpy(rest, close, end - close + 1);
    sprintf(close, " %s %03ld%s", WORDS[p.lang][WORD_TOTAL], answer, rest);
    return 1;
}

// samples k responses per prompt and writes the first each keeps (rejection_accepts) as an SFT file; returns
// how many were kept. summarise: a chain to a sum is judged and kept in the cold start's format, its summary
// written where it has none (write_summary)
static int rejection_sample(Model *m, const Data *d, int n_prompts, int k, float temperature, int max_len,
                            int n_nonreasoning, int summarise, const char *out_path, uint64_t seed) {
    if (n_prompts <= 0 || n_prompts > d->n) n_prompts = d->n;
    Rng rng = rng_seed(seed);
    int *idx = mallocCheck((size_t)n_prompts * k * sizeof(int));
    for (int p = 0; p < n_prompts; p++) for (int j = 0; j < k; j++) idx[p * k + j] = p;
    Rollouts r = rollouts_alloc(n_prompts * k, m->cfg.context);
    rollout(m, d, idx, &r, temperature, &rng);
    char tmp[600], *text = mallocCheck((size_t)m->cfg.context * 10 + 32);
    snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
    FILE *f = fopenCheck(tmp, "w");
    // samples that pass rejection_keep; of them, sound (trace_sound); kept traces whose summary was written
    int kept = 0, n_rule = 0, n_sound = 0, n_summarised = 0;
    for (int p = 0; p < n_prompts; p++) {
        // R1 keeps every good sample; r1.c keeps the first per prompt, so easy prompts do not dominate
        for (int j = 0, done = 0; j < k; j++) {
            int i = p * k + j, len = r.seq_len[i] - r.prompt_len[i];
            rollout_text(&r, i, text);
            int summarised = summarise && write_summary(text, d->text[p]);
            if (summarised) len += (int)strlen(WORDS[LANG_EN][WORD_TOTAL]) + 5;  // " total 224": a token each
            Judgement jd = judge_prompt(d->text[p], text, len, d->answer[p]);
            n_rule += rejection_keep(&jd, max_len);
            if (!rejection_accepts(d, p, &jd, text, max_len)) continue;
            n_sound++;
            if (done) continue;
            fprintf(f, "%s\t%s\n", d->text[p], text);
            kept++;
            n_summarised += summarised;
            done = 1;
        }
    }
    printf("rejection sampling: %d of %d samples right and well formed, %d of them with sound steps; "
           "kept %d of %d prompts\n", n_rule, n_prompts * k, n_sound, kept, n_prompts);
    if (summarise)
        printf("rejection sampling: %d of the %d kept traces ended in their summary, %d had it written\n",
               kept - n_summarised, kept, n_summarised);
    write_nonreasoning(f, n_nonreasoning, 0, &rng);
    if (fclose(f) != 0 || rename(tmp, out_path) != 0) die("cannot write %s", out_path);
    free(idx); free(text);
    rollouts_free(&r);
    return kept;
}

// ---- the probe: how well the model computes each part of a written-out response (./r1 probe). The
// generator writes the chain and the checked response of each prompt (no slips); one forward pass over
// prompt + response gives, at every position, the model's probability of the right next token and
// whether it is the argmax, summed by what that token is: a digit copied from an operand into a column,
// a column sum, the carry, a number of a check, the verdict word, the number after it, the answer.

enum { ROLE_COPY, ROLE_COLUMN_SUM, ROLE_CARRY, ROLE_CHECK, ROLE_VERDICT, ROLE_VERDICT_NUMBER, ROLE_ANSWER,
       ROLE_OTHER, N_ROLES };
static const char *ROLE_NAMES[N_ROLES] = {
    "operand digit copied into a column", "column-sum digit", "carry digit", "check: number", "verdict word",
    "verdict: number", "answer digit", "words, signs, tags" };

// role[i] of character i of a chain of thought as write_response writes it (the span inside <think>)
static void think_roles(const char *think, int *role) {
    int n = (int)strlen(think), after = ROLE_OTHER;  // what the numbers of the next word are
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && think[j] != ' ') j++;  // the word think[i, j)
        char w[64];
        snprintf(w, sizeof w, "%.*s", j - i, think + i);
        const char *eq = strchr(w, '=');
        int column = eq && isdigit((unsigned char)w[0]);
        int verdict = word_is(w, WORD_OK) || word_is(w, WORD_WAIT);
        for (int c = i; c < j; c++) {
            int digit = isdigit((unsigned char)think[c]);
            if (column)  // its terms, then its sum
                role[c] = !digit ? ROLE_OTHER : c - i < eq - w ? ROLE_COPY : ROLE_COLUMN_SUM;
            else if (digit) role[c] = after;
            else role[c] = verdict && c == i ? ROLE_VERDICT : ROLE_OTHER;
        }
        if (word_is(w, WORD_CARRY)) after = ROLE_CARRY;
        else if (word_is(w, WORD_CHECK)) after = ROLE_CHECK;
        else if (verdict) after = ROLE_VERDICT_NUMBER;
        else if (!isdigit((unsigned char)w[0]) || eq) after = ROLE_OTHER;
        if (j < n) role[j] = ROLE_OTHER;  // the space
        i = j + 1;
    }
    if (n > 0) role[0] = ROLE_OTHER;  // the first character decides the style (a chain, not a direct answer)
}

typedef struct { double p[2][N_ROLES], argmax[2][N_ROLES]; long n[2][N_ROLES]; } Probe;  // [chain, checked]

// the probe over the first n_prompts of d
static Probe probe_model(Model *m, const Data *d, int n_prompts) {
    Probe pr = {0};
    int V = m->cfg.vocab, ctx = m->cfg.context, B = 32;
    int *tokens = mallocCheck((size_t)B * ctx * sizeof(int));
    int *roles = mallocCheck((size_t)B * ctx * sizeof(int));
    int *len = mallocCheck(B * sizeof(int)), *styles = mallocCheck(B * sizeof(int));
    float *p = mallocCheck(V * sizeof(float));
    Rng rng = rng_seed(1);
    for (int i0 = 0; i0 < 2 * n_prompts; i0 += B) {
        int rows = imin(B, 2 * n_prompts - i0), T = 0;
        for (int r = 0; r < rows; r++) {
            Problem pb;
            int i = (i0 + r) / 2, style = (i0 + r) % 2 ? STYLE_CHECKED : STYLE_CHAIN;
            if (!problem_parse(d->text[i], &pb))
                die("probe: '%s' is not a problem of the toy world", d->text[i]);
            char resp[512], text[600], bad;
            write_response(&pb, style, 0.0f, 0, 0, &rng, resp);
            snprintf(text, sizeof text, "%s%s", d->text[i], resp);
            int *row = tokens + (size_t)r * ctx, *role = roles + (size_t)r * ctx;
            len[r] = encode(text, row, ctx, &bad);
            if (len[r] < 0) die("probe: a response to '%s' does not fit the context %d", d->text[i], ctx);
            styles[r] = style == STYLE_CHECKED;
            // roles by token: the prompt's and the tags' are "other", then the think span's characters,
            // then the answer's digits
            int pl = d->len[i], think_len = (int)(strstr(resp, "</think>") - resp) - 7;
            for (int t = 0; t < len[r]; t++) role[t] = ROLE_OTHER;
            char think[512];
            snprintf(think, sizeof think, "%.*s", think_len, resp + 7);
            think_roles(think, role + pl + 1);
            for (int t = pl + 1 + think_len + 2; t < len[r] - 2; t++) role[t] = ROLE_ANSWER;
            T = imax(T, len[r]);
        }
        int *batch = mallocCheck((size_t)rows * T * sizeof(int));
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < T; t++) batch[r * T + t] = t < len[r] ? tokens[(size_t)r * ctx + t] : TOK_EOS;
        model_forward(m, batch, len, rows, T, NULL, 0);
        for (int r = 0; r < rows; r++)
            for (int t = 0; t + 1 < len[r]; t++) {
                int target = batch[r * T + t + 1], role = roles[(size_t)r * ctx + t + 1], s = styles[r];
                const float *z = m->logits + ((size_t)r * T + t) * V;
                float lp = softmax(p, z, V, 1.0f, target);
                int best = 0;
                for (int v = 1; v < V; v++) if (z[v] > z[best]) best = v;
                pr.p[s][role] += expf(lp); pr.argmax[s][role] += best == target; pr.n[s][role]++;
            }
        free(batch);
    }
    free(tokens); free(roles); free(len); free(styles); free(p);
    return pr;
}

static void probe_print(const char *name, const Probe *pr, int n_prompts) {
    printf("%s: %d held-out prompts, the chain and the checked response written by the generator, no slips\n",
           name, n_prompts);
    printf("  %-36s %20s %20s\n", "the token is", "chain: p / argmax", "checked: p / argmax");
    for (int r = 0; r < N_ROLES; r++) {
        printf("  %-36s", ROLE_NAMES[r]);
        for (int s = 0; s < 2; s++) {
            if (pr->n[s][r] == 0) { printf(" %20s", "-"); continue; }
            printf("        %.3f / %.3f", pr->p[s][r] / pr->n[s][r], pr->argmax[s][r] / pr->n[s][r]);
        }
        printf("\n");
    }
}

// ----------------------------------------------------------------------------
// 18. runs: a run folder is resumed or replaced, never lost; logs; stopping

// stops a run whose loss or gradient is not finite: one line, and where its last good checkpoint is
static void stop_run(const char *ckpt, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void stop_run(const char *ckpt, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (access(ckpt, F_OK) == 0) die("%s; stopping (last good checkpoint: %s)", msg, ckpt);
    die("%s; stopping (no checkpoint saved yet)", msg);
}

// a run folder that holds a checkpoint (DIR/model.bin) is continued (--resume) or started again
// (--overwrite), never replaced without a word. Returns 1 if the run continues from its checkpoint.
static int run_resumes(const char *cmd, const char *dir, int resume, int overwrite) {
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/model.bin", dir);
    if (resume && overwrite)
        die("%s: --resume continues the run in %s, --overwrite starts it again: give one", cmd, dir);
    if (access(ckpt, F_OK) != 0) return 0;
    if (!resume && !overwrite)
        die("%s: %s holds a checkpoint: --resume continues that run, --overwrite starts again in its place",
            cmd, dir);
    return resume;
}

// DIR/NAME (log.csv, samples.txt). A new log (keep_before 0) starts with its header; a new log.csv also
// removes the checkpoint of the run it replaces (--overwrite), so that a folder never holds one run's
// checkpoint with another's log. --resume (keep_before > 0) keeps the rows of the steps before
// keep_before (a run stopped between writing a row and saving its checkpoint repeats that step: its old
// row goes) and sets *elapsed (if not NULL) to the elapsed_s of the last row kept, so the clock goes on.
static FILE *open_log(const char *dir, const char *name, const char *header, int keep_before,
                      double *elapsed) {
    char path[600], last[4096] = "", line[4096];  // a line of samples.txt is up to ~1,500 characters
    if (dist_rank > 0) {  // process 0 alone writes the run's files
        if (elapsed) *elapsed = 0.0;
        return fopenCheck("/dev/null", "w");
    }
    make_dirs(dir);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    if (keep_before == 0 && strcmp(name, "log.csv") == 0) remove(path);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (elapsed) *elapsed = 0.0;
    FILE *f = keep_before > 0 ? fopen(path, "r+") : NULL;
    if (!f) {
        f = fopenCheck(path, "w");
        fprintf(f, "%s\n", header);
        return f;
    }
    long keep = 0;
    if (fgets(line, sizeof line, f)) keep = ftell(f);  // the header
    while (fgets(line, sizeof line, f) && atoi(line) < keep_before) { keep = ftell(f); strcpy(last, line); }
    if (ftruncate(fileno(f), keep) != 0 || fseek(f, keep, SEEK_SET) != 0)
        die("cannot cut %s: %s", path, strerror(errno));
    if (keep == 0) fprintf(f, "%s\n", header);
    const char *field = last;  // the elapsed_s field of the last row kept
    for (const char *h = header; field && h < strstr(header, "elapsed_s"); h++)
        if (*h == ',' && (field = strchr(field, ','))) field++;
    if (field && elapsed) *elapsed = atof(field);
    return f;
}

static void format_time(double s, char *out) { snprintf(out, 16, "%d:%02d", (int)s / 60, (int)s % 60); }

// the name of the first tensor whose gradient holds a NaN or an Inf (for the error message)
static const char *nonfinite_grad_tensor(const Model *m) {
    for (int t = 0; t < m->params.n_tensors; t++)
        for (size_t i = 0; i < m->params.size[t]; i++)
            if (!isfinite(m->grads_mem[m->params.offset[t] + i])) return m->params.name[t];
    return "(none)";
}

// a step that stopped on a loss or a gradient that is not finite stops its run
static void stop_if_not_finite(int status, const char *ckpt, const char *what, float loss, const Model *m) {
    if (status == STEP_LOSS_NOT_FINITE) stop_run(ckpt, "%s: loss is %g at step %d", what, loss, m->step);
    if (status == STEP_GRAD_NOT_FINITE)
        stop_run(ckpt, "%s: gradient of %s is not finite at step %d", what, nonfinite_grad_tensor(m),
                 m->step);
}

// a run that starts from an existing model (--init) starts its training afresh
static void training_restart(Model *m) {
    m->step = 0;
    m->tokens_seen = 0;
    memset(m->m_mem, 0, m->num_params * sizeof(float));
    memset(m->v_mem, 0, m->num_params * sizeof(float));
    memset(m->load_avg, 0, sizeof m->load_avg);
}

// ----------------------------------------------------------------------------
// 19. pretraining and SFT runs (train_lm): next-token prediction on a corpus or on prompt/response pairs
//
// Batches: draw a pool of documents, sort it by length, cut it into batches, shuffle the batches:
// little padding. The loss of each document is its summed token loss over a constant (B * context),
// so short and long documents keep the weight the corpus gives them.

typedef struct {
    const Data *d;
    int B, pool_size, next;
    int *pool;  // document indices of the current pool, batch after batch
    Rng rng;
    uint64_t pool_state;  // the RNG state the current pool was drawn from (saved for --resume)
} Batcher;

#define POOL_BATCHES 16

static int cmp_len_data_ctx(const void *a, const void *b, void *ctx) {
    const Data *d = ctx;
    int la = d->len[*(const int *)a], lb = d->len[*(const int *)b];
    return la != lb ? la - lb : *(const int *)a - *(const int *)b;
}

static void batcher_refill(Batcher *bt) {
    bt->pool_state = bt->rng.s;
    for (int i = 0; i < bt->pool_size; i++) bt->pool[i] = rng_int(&bt->rng, bt->d->n);
    qsort_r(bt->pool, bt->pool_size, sizeof(int), cmp_len_data_ctx, (void *)bt->d);
    for (int i = POOL_BATCHES - 1; i > 0; i--) { // shuffle whole batches
        int j = rng_int(&bt->rng, i + 1);
        for (int k = 0; k < bt->B; k++) {
            int t = bt->pool[i * bt->B + k]; bt->pool[i * bt->B + k] = bt->pool[j * bt->B + k];
            bt->pool[j * bt->B + k] = t;
        }
    }
    bt->next = 0;
}

static Batcher batcher_create(const Data *d, int B, uint64_t seed) {
    Batcher bt = { .d = d, .B = B, .pool_size = B * POOL_BATCHES, .next = POOL_BATCHES,
                   .pool = mallocCheck((size_t)B * POOL_BATCHES * sizeof(int)), .rng = rng_seed(seed) };
    return bt;
}

// --resume: the batcher where checkpoint ckpt left it (its pool's RNG state and the next batch)
static void batcher_restore(Batcher *bt, uint64_t pool_state, int data_pos, const char *ckpt) {
    if (data_pos < 0 || data_pos > POOL_BATCHES) die("%s: data position %d is out of range", ckpt, data_pos);
    bt->rng.s = pool_state;
    batcher_refill(bt);
    bt->next = data_pos;
}

// the next batch: inputs[B,T], targets[B,T], weights[B,T], len[B] (the positions of row b that predict
// a token of its document; the rest is padding); returns T
static int batcher_next(Batcher *bt, int *inputs, int *targets, float *w, int *len, float denom) {
    if (bt->next >= POOL_BATCHES) batcher_refill(bt);
    const int *docs = bt->pool + bt->next++ * bt->B;
    int T = 1;
    for (int b = 0; b < bt->B; b++) T = imax(T, bt->d->len[docs[b]] - 1);
    for (int b = 0; b < bt->B; b++) {
        const int *ids = bt->d->ids[docs[b]];
        int n = bt->d->len[docs[b]] - 1;
        int start = bt->d->prompt_len[docs[b]] - 1; // the first target is the first token after the prompt
        len[b] = n;
        for (int t = 0; t < T; t++) {
            inputs[b * T + t] = t < n ? ids[t] : TOK_EOS;
            targets[b * T + t] = t < n ? ids[t + 1] : TOK_EOS;
            w[b * T + t] = t < n && t >= start ? 1.0f / denom : 0.0f;
        }
    }
    return T;
}

typedef struct {
    const char *data, *out, *preset, *init, *world;
    int steps, batch, warmup, seed, log_every, save_every, resume, overwrite;
    float lr, lr_min, weight_decay, clip, bias_gamma, balance_alpha;
} TrainOptions;

// max and min expert load over the MoE layers, as multiples of the mean load
static void load_spread(const Model *m, const float load[MAX_LAYERS][MAX_EXPERTS], float *hi, float *lo) {
    *hi = 0.0f; *lo = 1e9f;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        if (!is_moe_layer(&m->cfg, l)) continue;
        float mean = 0.0f;
        for (int e = 0; e < m->cfg.n_experts; e++) mean += load[l][e] / m->cfg.n_experts;
        if (mean <= 0) continue;
        for (int e = 0; e < m->cfg.n_experts; e++) {
            if (load[l][e] / mean > *hi) *hi = load[l][e] / mean;
            if (load[l][e] / mean < *lo) *lo = load[l][e] / mean;
        }
    }
    if (*lo > *hi) *lo = *hi = 1.0f;
}

// the model a run trains: its own checkpoint (--resume; *pool_state and *data_pos: where its data stream
// stood), another run's (--init, whose training starts afresh), or a new model of the preset
// ---- the toy worlds' files and runs: the countdown world's sit in tiny_data/countdown/ and runs/countdown/,
// the code world's in tiny_data/code/ and runs/code/

#define WORLD_HELP "the toy world {addition,countdown,code}: its data files and run folders"

static int world_known(const char *world) {
    return strcmp(world, "addition") == 0 || strcmp(world, "countdown") == 0 || strcmp(world, "code") == 0;
}

// the --world of a command line, read before its options so that their defaults can follow it
static const char *world_of_args(const char *cmd, int argc, char **argv) {
    const char *world = "addition";
    for (int a = 0; a + 1 < argc; a++) if (strcmp(argv[a], "--world") == 0) world = argv[a + 1];
    if (!world_known(world))
        die("%s: option --world: '%s' is not one of {addition,countdown,code}", cmd, world);
    return world;
}

// a default path of the addition world ("tiny_data/...", "runs/...") as the world's (NULL: addition)
static const char *in_world(const char *world, const char *path) {
    if (!path || !world || strcmp(world, "addition") == 0) return path;
    const char *folders[] = { "tiny_data/", "runs/" };
    for (int i = 0; i < 2; i++) {
        size_t l = strlen(folders[i]);
        if (strncmp(path, folders[i], l) != 0) continue;
        char *out = mallocCheck(strlen(path) + strlen(world) + 2);  // kept for the command's lifetime
        sprintf(out, "%.*s%s/%s", (int)l, path, world, path + l);
        return out;
    }
    return path;
}

// a checkpoint used in a world must have been trained in it (world NULL: the default, addition)
static void world_check(const Model *m, const char *world, const char *path) {
    if (!world) world = "addition";
    if (strcmp(m->world, world) != 0)
        die("%s: a checkpoint of the %s world, not of the %s world (--world)", path, m->world, world);
}

static Model *train_start(const TrainOptions *o, const char *what, const char *ckpt, int resumed,
                          uint64_t *pool_state, int *data_pos) {
    if (resumed) {
        Model *m = checkpoint_load(ckpt, pool_state, data_pos);
        world_check(m, o->world, ckpt);
        printf("resuming %s from %s at step %d\n", what, ckpt, m->step);
        return m;
    }
    if (!o->init) {
        Model *m = model_create(&find_preset(o->preset)->cfg, o->preset, (uint64_t)o->seed);
        snprintf(m->world, sizeof m->world, "%s", o->world ? o->world : "addition");
        return m;
    }
    Model *m = checkpoint_load(o->init, NULL, NULL);
    world_check(m, o->world, o->init);
    training_restart(m);
    return m;
}

// the log of the step just done: a row of log.csv with the expert loads of the step and of their moving
// average as spreads, and every log_every steps a line on the console
static void train_lm_log(FILE *log, const Model *m, const TrainOptions *o, float tok_loss, float lr,
                         float norm, double el) {
    float hi, lo, avg_hi, avg_lo;
    double tokens = m->tokens_seen;
    load_spread(m, (const float(*)[MAX_EXPERTS])m->expert_load, &hi, &lo);
    load_spread(m, (const float(*)[MAX_EXPERTS])m->load_avg, &avg_hi, &avg_lo);
    fprintf(log, "%d,%.5f,%.6g,%.4f,%.0f,%.2f,%.3f,%.3f,%.3f,%.3f,%.5f\n", m->step, tok_loss, lr, norm,
            tokens / el, el, hi, lo, avg_hi, avg_lo, m->aux_loss);
    if (m->step % o->log_every == 0 || m->step == o->steps) {
        char e1[16], e2[16];
        format_time(el, e1);
        format_time(el / m->step * (o->steps - m->step), e2);
        printf("step %5d/%d | loss %.4f | lr %.2e | norm %.2f | %.0f tok/s | expert load %.2f-%.2fx (avg "
               "%.2f-%.2fx) | %s elapsed, ETA %s\n", m->step, o->steps, tok_loss, lr, norm, tokens / el, lo,
               hi, avg_lo, avg_hi, e1, e2);
        fflush(stdout); fflush(log);
    }
}

// next-token training on a corpus (pretrain) or on prompt/response pairs (sft: response tokens only)
static Model *train_lm(const TrainOptions *o, Data *d, const char *what) {
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/model.bin", o->out);
    uint64_t pool_state = 0;
    int data_pos = 0, resumed = run_resumes(what, o->out, o->resume, o->overwrite);
    Model *m = train_start(o, what, ckpt, resumed, &pool_state, &data_pos);
    int B = o->batch, ctx = m->cfg.context, b0, B_here;  // this process's rows [b0, b0 + B_here) of a batch
    dist_check_batch(what, B);
    dist_share(B, &b0, &B_here);
    m->balance_alpha = o->balance_alpha * ((float)B_here / B);  // the balance loss: a mean over B rows
    Batcher bt = batcher_create(d, B, (uint64_t)o->seed + 1);
    if (resumed) batcher_restore(&bt, pool_state, data_pos, ckpt);
    int *inputs = mallocCheck((size_t)B * ctx * sizeof(int));
    int *targets = mallocCheck((size_t)B * ctx * sizeof(int));
    float *w = mallocCheck((size_t)B * ctx * sizeof(float));
    int *len = mallocCheck((size_t)B * sizeof(int));
    double elapsed;
    FILE *log = open_log(o->out, "log.csv", "step,loss,lr,grad_norm,tokens_per_s,elapsed_s,load_max,load_min,"
                         "load_avg_max,load_avg_min,aux_loss",
                         m->step > 0 ? m->step + 1 : 0, &elapsed);  // rows are numbered by the step just done
    printf("%s: %s preset, %zu parameters, %d documents, %d steps of %d documents\n", what, m->preset,
           m->num_params, d->n, o->steps, B);
    double t0 = now_seconds() - elapsed;
    int first = m->tokens_seen == 0;
    while (m->step < o->steps) {
        int T = batcher_next(&bt, inputs, targets, w, len, (float)B * ctx);
        float n_tok = 0, n_real = 0; // tokens with a loss; all tokens but padding
        for (int i = 0; i < B * T; i++) n_tok += w[i] > 0;
        for (int b = 0; b < B; b++) n_real += len[b];
        OptimConfig u = { .lr = lr_schedule(m->step, o->steps, o->warmup, o->lr, o->lr_min), .beta2 = 0.95f,
                          .weight_decay = o->weight_decay, .clip = o->clip, .bias_gamma = o->bias_gamma };
        float loss = 0.0f, norm = 0.0f;
        int status = lm_step(m, inputs + (size_t)b0 * T, targets + (size_t)b0 * T, w + (size_t)b0 * T,
                             len + b0, B_here, T, &u, &loss, &norm);
        stop_if_not_finite(status, ckpt, what, loss, m);
        dist_allreduce_sum(&loss, 1);  // the log's: the shares' losses add up to the batch's
        dist_allreduce_sum(&m->aux_loss, 1);
        m->tokens_seen += n_real;
        for (int l = 0; l < MAX_LAYERS; l++)  // the moving average of the expert loads (~50 steps)
            for (int e = 0; e < MAX_EXPERTS; e++)
                m->load_avg[l][e] = first ? m->expert_load[l][e]
                                          : 0.98f * m->load_avg[l][e] + 0.02f * m->expert_load[l][e];
        first = 0;
        float tok_loss = loss * B * ctx / fmaxf(n_tok, 1.0f); // mean loss per predicted token
        train_lm_log(log, m, o, tok_loss, u.lr, norm, now_seconds() - t0);
        if ((o->save_every > 0 && m->step % o->save_every == 0) || m->step == o->steps) {
            fflush(log);  // the log on disk reaches at least the checkpoint's step (--resume cuts the rest)
            checkpoint_save(ckpt, m, 1, bt.pool_state, bt.next);
        }
    }
    fclose(log);
    free(inputs); free(targets); free(w); free(len); free(bt.pool);
    return m;
}

// ----------------------------------------------------------------------------
// 20. RL runs: R1-Zero and reasoning RL (grpo_train around grpo_step)

typedef struct {
    const char *init, *out, *data, *test, *rewards, *loss_type, *scale_rewards, *importance_sampling_level;
    const char *world, *code_reward, *prm;
    const char *algo;  // "grpo", or "ppo": PPO with a critic, for comparison
    int steps, prompts_per_step, num_generations, num_iterations, seed, eval_every, eval_prompts, eval_k;
    int ref_model_sync_steps, max_completion_length, mask_truncated_completions, resume, overwrite;
    int chunk_rows;  // rows per forward and backward of a step (GrpoConfig)
    int save_rollouts;  // every step's rollouts in OUT/rollouts.txt
    float lr, beta, epsilon, epsilon_high, temperature, format_weight, language_weight, clip, bias_gamma;
    float ref_model_mixup_alpha, top_entropy_quantile, random_reward_p;
    float gamma, lambda, critic_lr;  // PPO: GAE's discount and lambda, the critic's learning rate
} GrpoOptions;

// R1-Zero's defaults. Where they depart from R1's first RL stage (lr 3e-6, KL weight 0.001, clip 10,
// the group's std): a 1.8M-parameter model moves at lr 1e-4, no reference saves a forward,
// and dr_grpo with no std is Dr. GRPO's unbiased form (NOTES.md "GRPO's options")
static GrpoOptions grpo_defaults(void) {
    GrpoOptions o = {
        .init = "runs/base/model.bin", .out = "runs/zero", .data = "tiny_data/rl_train.txt",
        .test = "tiny_data/rl_test.txt", .rewards = "accuracy,format", .world = "addition",
        .code_reward = "both", .prm = "runs/prm/prm.bin",
        .loss_type = "dr_grpo", .scale_rewards = "none", .importance_sampling_level = "token",
        .steps = 150, .prompts_per_step = 8, .num_generations = 16, .num_iterations = 1, .seed = 1,
        .eval_every = 10, .eval_prompts = 150, .eval_k = 4, .chunk_rows = 32,
        .lr = 1e-4f, .beta = 0.0f, .epsilon = 0.2f, .epsilon_high = 0.2f, .temperature = 1.0f,
        .format_weight = 0.1f, .language_weight = 0.0f, .clip = 1.0f, .bias_gamma = 1e-3f,
        .ref_model_mixup_alpha = 1.0f, .top_entropy_quantile = 1.0f, .random_reward_p = 0.3f,
        .algo = "grpo", .gamma = 1.0f, .lambda = 0.95f, .critic_lr = 1e-3f,
    };
    return o;
}

// reasoning RL (R1 section 2.3.2): R1-Zero's settings with the language-consistency reward
// (R1 sums it with accuracy unweighted; r1.c weighs it 0.1, below a right answer's 1), at a third of the
// learning rate: after the cold start R1-Zero's 1e-4 costs accuracy (NOTES.md "The R1 pipeline")
static GrpoOptions reasoning_rl_defaults(void) {
    GrpoOptions o = grpo_defaults();
    o.out = "runs/grpo"; o.rewards = "accuracy,format,language"; o.language_weight = 0.1f; o.lr = 3e-5f;
    return o;
}

// the rewards of a run, from --rewards and their weights. "random" is a control: a coin of probability
// random_p in place of accuracy (even where accuracy is listed too), drawn independently of the
// response's text
static Prm *prm_load(const char *path);  // section 23
static void prm_free(Prm *prm);
static RewardSet reward_set(const char *list, const GrpoOptions *o) {
    RewardSet use = { .random = list_has(list, "random"), .format = list_has(list, "format"),
                      .language = list_has(list, "language"), .format_weight = o->format_weight,
                      .language_weight = o->language_weight, .random_p = o->random_reward_p };
    use.accuracy = list_has(list, "accuracy") && !use.random; // the control replaces accuracy
    while (use.code_tests < N_CODE_TESTS && strcmp(o->code_reward, CODE_TESTS_NAMES[use.code_tests]) != 0)
        use.code_tests++;
    if (use.code_tests == N_CODE_TESTS) die("grpo: unknown --code-reward '%s'", o->code_reward);
    return use;
}

// the held-out columns of a GRPO log row, then the length and checked among chains of each difficulty;
// on countdown and code prompts then the tries' measures, and the tries per response of each difficulty;
// on code prompts then the pass rates of the shown examples and of the hidden tests, and the tables' share
static void log_eval_columns(FILE *log, const EvalResult *e) {
    fprintf(log, ",%.4f,%.4f,%.2f,%.4f,%.4f,%.4f", e->greedy, e->pass1, e->len, e->reflect,
            1.0f - e->style_share[STYLE_DIRECT], nan_to(e->checked_in_chains, -1));
    for (int t = 0; t < 16; t++) if (e->diff_n[t])
        fprintf(log, ",%.2f,%.4f", e->diff_len[t], nan_to(e->diff_checked_in_chains[t], -1));
    if (!e->countdown && !e->code) return;
    fprintf(log, ",%.3f,%.4f,%.4f,%.4f,%.4f", e->tries_per_response, nan_to(e->retry_after_no, -1),
            nan_to(e->try_faithfulness, -1), nan_to(e->false_ok_rate, -1), e->style_share[CD_SEARCH]);
    for (int t = 0; t < 16; t++) if (e->diff_n[t]) fprintf(log, ",%.3f", e->diff_tries[t]);
    if (e->code)
        fprintf(log, ",%.4f,%.4f,%.4f,%.4f,%.4f", e->shown_pass1, e->hidden_pass1, e->shown_greedy,
                e->hidden_greedy, e->style_share[CODE_TABLE]);
}

// the number of cells log_eval_columns writes (tries: countdown or code prompts)
static int log_eval_cells(int n_diffs, int tries, int code) {
    return 6 + 2 * n_diffs + (tries ? 5 + n_diffs : 0) + (code ? 5 : 0);
}

// the difficulties of the held-out prompts a GRPO run evaluates (the first eval_prompts of test): has[t]
static int eval_difficulties(const Data *test, int eval_prompts, int has[16]) {
    int n = eval_prompts <= 0 || eval_prompts > test->n ? test->n : eval_prompts, count = 0;
    memset(has, 0, 16 * sizeof(int));
    for (int p = 0; p < n; p++) has[test->difficulty[p]] = 1;
    for (int t = 0; t < 16; t++) count += has[t];
    return count;
}

// the GrpoConfig of a run's options (--loss-type and --scale-rewards by their names)
static GrpoConfig grpo_config(const GrpoOptions *o) {
    GrpoConfig g = { .beta = o->beta, .eps_low = o->epsilon, .eps_high = o->epsilon_high,
                     .temperature = o->temperature,
                     .sequence_level = strcmp(o->importance_sampling_level, "sequence") == 0,
                     .top_entropy_quantile = o->top_entropy_quantile, .num_iterations = o->num_iterations,
                     .mask_truncated_completions = o->mask_truncated_completions,
                     .max_completion_length = o->max_completion_length, .chunk_rows = o->chunk_rows,
                     .optim = { .lr = o->lr, .beta2 = 0.99f, .weight_decay = 0.0f, .clip = o->clip,
                                .bias_gamma = o->bias_gamma } };
    while (g.loss_type < N_LOSSES && strcmp(o->loss_type, LOSS_NAMES[g.loss_type]) != 0) g.loss_type++;
    while (g.scale_rewards < N_SCALES && strcmp(o->scale_rewards, SCALE_NAMES[g.scale_rewards]) != 0)
        g.scale_rewards++;
    if (g.loss_type == N_LOSSES || g.scale_rewards == N_SCALES)
        die("grpo: unknown --loss-type or --scale-rewards");
    return g;
}

// the policy a run trains: its checkpoint (--resume; *rng_state: where the run's random stream stood) or
// --init, whose training starts afresh. *ref: the frozen reference when beta > 0: the initial model, or the
// policy at the last sync (saved then as OUT/ref_STEP.bin for --resume)
static Model *grpo_start(const GrpoOptions *o, const char *ckpt, int resumed, uint64_t *rng_state,
                         Model **ref) {
    Model *m = checkpoint_load(resumed ? ckpt : o->init, rng_state, NULL);
    world_check(m, o->world, resumed ? ckpt : o->init);
    if (!resumed) {
        training_restart(m);
        *rng_state = rng_seed((uint64_t)o->seed).s;
    }
    char ref_ckpt[620];
    int sync = o->ref_model_sync_steps, last_sync = sync > 0 ? m->step / sync * sync : 0;
    snprintf(ref_ckpt, sizeof ref_ckpt, "%s/ref_%d.bin", o->out, last_sync);
    *ref = o->beta > 0.0f ? checkpoint_load(last_sync > 0 ? ref_ckpt : o->init, NULL, NULL) : NULL;
    return m;
}

// ---- PPO with a critic, beside GRPO (not R1's recipe: the algorithm GRPO replaced, for comparison).
// DeepSeekMath (section 4.1) introduced GRPO to drop PPO's value model, a critic as large as the policy
// that learns V(s_t), the return expected from token t of a response on. PPO samples one response per
// prompt and takes its baseline from the critic; GRPO samples G and takes the group's mean reward.
// Per token t of a response, with the KL to the reference in the reward (DeepSeekMath eq. 2, InstructGPT):
//   r_t = -beta (log pi_old(o_t) - log pi_ref(o_t)), plus the rule reward at the last token
//   delta_t = r_t + gamma V(s_{t+1}) - V(s_t)       (V after the last token: 0)
//   A_t = delta_t + gamma lambda A_{t+1}              (GAE, Schulman et al. 2016)
//   R_t = A_t + V(s_t)                                (the critic's target)
// The policy maximises grpo_loss's clipped surrogate with A_t per token, whitened over the batch (with no KL
// term: it is in the reward); the critic minimises 0.5 (V(s_t) - R_t)^2, its mean over the response tokens.
// gamma 1 and lambda 0.95 are TRL's PPO defaults (DeepSeekMath does not give its own). The critic is a copy
// of the initial policy (InstructGPT starts its value model from a trained model) that reads V(s_t) from one
// row of its output head, CRITIC_ROW, zeroed at the start: V = 0 until its first update.

#define CRITIC_ROW 0

// the critic of a PPO run: a copy of --init, value row zeroed; or under --resume the critic of the policy's
// step: OUT/critic.bin, or the one before it, OUT/critic_prev.bin, when the run was killed between a step's
// two checkpoints (the critic's is written first: see critic_save)
static Model *critic_start(const GrpoOptions *o, const char *critic_ckpt, const char *prev_ckpt, int resumed,
                           int policy_step) {
    if (resumed) {
        Model *critic = access(critic_ckpt, F_OK) == 0 ? checkpoint_load(critic_ckpt, NULL, NULL) : NULL;
        if (!critic || critic->step != policy_step) {
            if (critic) model_free(critic);
            if (access(prev_ckpt, F_OK) != 0) die("ppo: %s: no critic of the policy's step %d", critic_ckpt,
                                                  policy_step);
            critic = checkpoint_load(prev_ckpt, NULL, NULL);
            if (critic->step != policy_step)
                die("ppo: %s is at step %d, the policy at step %d", prev_ckpt, critic->step, policy_step);
        }
        return critic;
    }
    Model *critic = checkpoint_load(o->init, NULL, NULL);
    training_restart(critic);
    int C = critic->cfg.d_model;
    memset(critic->params.head + (size_t)CRITIC_ROW * C, 0, C * sizeof(float));
    kernel_params_changed(critic->params_mem);
    return critic;
}

// the critic's checkpoint of a step, written before the policy's: the critic of the step before is kept as
// prev_ckpt until then, so a kill between the two leaves a critic of the policy's step on disk
static void critic_save(const char *critic_ckpt, const char *prev_ckpt, Model *critic) {
    if (access(critic_ckpt, F_OK) == 0 && rename(critic_ckpt, prev_ckpt) != 0)
        die("cannot rename %s to %s", critic_ckpt, prev_ckpt);
    checkpoint_save(critic_ckpt, critic, 1, 0, 0);
}

// GAE over the n tokens of one response: adv[n] and ret[n] (the returns R_t) from rewards[n] and values[n]
static void gae(float *adv, float *ret, const float *rewards, const float *values, int n, float gamma,
                float lambda) {
    float next_value = 0.0f, next_adv = 0.0f;
    for (int t = n - 1; t >= 0; t--) {
        float delta = rewards[t] + gamma * next_value - values[t];
        adv[t] = delta + gamma * lambda * next_adv;
        ret[t] = adv[t] + values[t];
        next_value = values[t];
        next_adv = adv[t];
    }
}

// the critic's loss: sum_n w[n] 0.5 (V_n - R_n)^2, V_n = logits[n, CRITIC_ROW], and dlogits[N,V] (0 but in
// the value row). w: 1 / the batch's response tokens on a response token, 0 elsewhere
static float value_loss(float *dlogits, const float *logits, const float *returns, const float *w, int N,
                        int V) {
    double loss = 0.0;
    for (int n = 0; n < N; n++) {
        float *dz = dlogits + (size_t)n * V;
        memset(dz, 0, V * sizeof(float));
        if (w[n] == 0.0f) continue;
        float d = logits[(size_t)n * V + CRITIC_ROW] - returns[n];
        loss += 0.5 * w[n] * d * d;
        dz[CRITIC_ROW] = w[n] * d;
    }
    return (float)loss;
}

typedef struct {
    float gamma, lambda;       // GAE's discount and its lambda
    OptimConfig critic_optim;  // the critic's updates
} PpoConfig;

// One PPO step on the rollouts r (one response per prompt, scored reward[n]) of the policy m (pi_old): the
// critic's values, pi_old's and the reference's log-probabilities (ref NULL: beta 0), the rewards per token,
// GAE, then mu updates of the policy and of the critic. The batch runs in chunks as grpo_step's: chunk c of
// chunk_by_length holds its rows as [rows, Tc] at c0 * T, and every per-token array here is laid out so.
// *value_mse: the critic's mean squared error against the returns, before its update. Returns STEP_OK (the
// step then counted in m->step and critic->step) or the status that stopped it.
static int ppo_step(Model *m, Model *critic, Model *ref, const Rollouts *r, const float *reward,
                    const GrpoConfig *g, const PpoConfig *pc, GrpoStepLog *log, float *value_mse) {
    int n = r->n, T = 1, step = m->step, status = STEP_OK, V = m->cfg.vocab;
    for (int i = 0; i < n; i++) T = imax(T, r->seq_len[i] - 1);
    size_t nt = (size_t)n * T;
    int *inputs = mallocCheck(nt * sizeof(int)), *targets = mallocCheck(nt * sizeof(int));
    int *len = mallocCheck(n * sizeof(int)), *c_inputs = mallocCheck(nt * sizeof(int));
    int *c_targets = mallocCheck(nt * sizeof(int)), *c_len = mallocCheck(n * sizeof(int));
    int *chunk_T = mallocCheck(n * sizeof(int));
    float *w = mallocCheck(nt * sizeof(float)), *c_w = mallocCheck(nt * sizeof(float));
    float *c_reward = mallocCheck(n * sizeof(float));
    float *per_token[8];  // logp, old_logp, ref_logp, value, rewards, adv, ret, vw: [nt] each, chunk layout
    for (int k = 0; k < 8; k++) {
        per_token[k] = mallocCheck(nt * sizeof(float));
        memset(per_token[k], 0, nt * sizeof(float));
    }
    float *logp = per_token[0], *old_logp = per_token[1], *ref_logp = per_token[2], *value = per_token[3];
    float *tok_reward = per_token[4], *adv = per_token[5], *ret = per_token[6], *vw = per_token[7];
    memset(log, 0, sizeof *log);
    // 1. the batch, in chunks of rows of about the same length; each row's reward rides along
    grpo_batch(r, T, g, inputs, targets, w, len);
    int chunk = g->chunk_rows <= 0 || (g->top_entropy_quantile > 0.0f && g->top_entropy_quantile < 1.0f) ? n
                : imin(g->chunk_rows, n);
    int n_chunks = chunk_by_length(c_inputs, c_targets, c_w, c_len, c_reward, chunk_T, inputs, targets, w,
                                   len, reward, n, T, chunk);
    // 2. pi_old's and the reference's log-probabilities, the critic's values V(s_t)
    for (int c = 0, c0 = 0; c < n_chunks; c++, c0 += chunk) {
        int rows = imin(chunk, n - c0), Tc = chunk_T[c];
        size_t off = (size_t)c0 * T;
        model_forward(m, c_inputs + off, c_len + c0, rows, Tc, NULL, 0);
        token_logprobs(old_logp + off, m->logits, c_targets + off, c_w + off, rows * Tc, V, g->temperature);
        if (ref)
            reference_logprobs(ref_logp + off, ref, c_inputs + off, c_targets + off, c_w + off, c_len + c0,
                               rows, Tc, g->temperature);
        model_forward(critic, c_inputs + off, c_len + c0, rows, Tc, NULL, 0);
        for (int i = 0; i < rows * Tc; i++) value[off + i] = critic->logits[(size_t)i * V + CRITIC_ROW];
    }
    // 3. each response's rewards per token and GAE; the advantages whitened over the batch's response tokens
    double sum = 0.0, sq = 0.0, count = 0.0, mse = 0.0, kl = 0.0;
    for (int c = 0, c0 = 0; c < n_chunks; c++, c0 += chunk) {
        int rows = imin(chunk, n - c0), Tc = chunk_T[c];
        for (int j = 0; j < rows; j++) {
            size_t at = (size_t)c0 * T + (size_t)j * Tc;  // row j; its response: positions first..last
            int last = c_len[c0 + j] - 1, first = last;
            if (last < 0 || c_w[at + last] == 0.0f) continue;  // no response token in the loss
            while (first > 0 && c_w[at + first - 1] != 0.0f) first--;
            at += first;
            int L = last - first + 1;
            for (int t = 0; t < L; t++)
                tok_reward[at + t] = ref ? -g->beta * (old_logp[at + t] - ref_logp[at + t]) : 0.0f;
            tok_reward[at + L - 1] += c_reward[c0 + j];
            gae(adv + at, ret + at, tok_reward + at, value + at, L, pc->gamma, pc->lambda);
            for (int t = 0; t < L; t++) {
                sum += adv[at + t]; sq += (double)adv[at + t] * adv[at + t]; count += 1.0;
                mse += (double)(value[at + t] - ret[at + t]) * (value[at + t] - ret[at + t]);
                vw[at + t] = 1.0f;
                float d = ref ? ref_logp[at + t] - old_logp[at + t] : 0.0f;
                kl += expf(d) - d - 1.0f;  // the log's KL: k3, as grpo_loss's
            }
        }
    }
    double mean = sum / fmax(count, 1.0), std = sqrt(fmax(sq / fmax(count, 1.0) - mean * mean, 0.0));
    for (size_t i = 0; i < nt; i++) if (vw[i] != 0.0f) {
        adv[i] = (float)((adv[i] - mean) / (std + 1e-8));
        vw[i] = (float)(1.0 / count);
    }
    *value_mse = (float)(mse / fmax(count, 1.0));
    // 4. mu updates of the policy (grpo_loss, each token a response of one with its own advantage; no KL
    // term) and of the critic, on the same chunks
    for (int it = 0; it < g->num_iterations && status == STEP_OK; it++) {
        model_zero_grad(m);
        model_zero_grad(critic);
        log->loss = 0.0f;
        for (int c = 0, c0 = 0; c < n_chunks; c++, c0 += chunk) {
            int rows = imin(chunk, n - c0), Tc = chunk_T[c];
            size_t off = (size_t)c0 * T;
            model_forward(m, c_inputs + off, c_len + c0, rows, Tc, NULL, 0);
            if (it == 0) moe_diagnostics(m, c_w + off, log);
            float loss = grpo_loss(m->dlogits, logp + off, m->logits, c_targets + off, c_w + off, adv + off,
                                   old_logp + off, NULL, rows * Tc, 1, V, g, &log->st);
            log->loss += loss;
            if (!isfinite(loss)) { status = STEP_LOSS_NOT_FINITE; break; }
            model_backward(m);
            model_forward(critic, c_inputs + off, c_len + c0, rows, Tc, NULL, 0);
            float vloss = value_loss(critic->dlogits, critic->logits, ret + off, vw + off, rows * Tc, V);
            if (!isfinite(vloss)) { status = STEP_LOSS_NOT_FINITE; break; }
            model_backward(critic);
        }
        float norm;
        int t = step * g->num_iterations + it + 1;
        if (status == STEP_OK) status = optimizer_step(m, &g->optim, t, n, &norm);
        if (status == STEP_OK) status = optimizer_step(critic, &pc->critic_optim, t, n, &norm);
    }
    log->st.kl = kl * g->num_iterations;  // the log divides by the tokens of all mu passes
    if (status == STEP_OK) m->step = critic->step = step + 1;
    free(inputs); free(targets); free(len); free(c_inputs); free(c_targets); free(c_len); free(chunk_T);
    free(w); free(c_w); free(c_reward);
    for (int k = 0; k < 8; k++) free(per_token[k]);
    return status;
}

// PPO's loop, one iteration: n prompts, one response each (where GRPO samples G to each of n / G), judged
// by the same rules, then ppo_step
static int ppo_iteration(Model *m, Model *critic, Model *ref, const Prompts *train, int n,
                         const RewardSet *use, const GrpoConfig *g, const PpoConfig *pc, Rollouts *r,
                         float *reward, Judgement *judged, Rng *rng, GrpoStepLog *log, float *value_mse) {
    sample_and_judge(m, train, n, 1, use, g->temperature, r, reward, judged, rng);
    return ppo_step(m, critic, ref, r, reward, g, pc, log, value_mse);
}

// the memory an RL run's models hold, in floats: each model's parameters; the gradients and AdamW's two
// moments of each model it trains (the policy, and PPO's critic); the frozen reference's parameters
static void rl_memory_print(const char *algo, const Model *m, const Model *critic, const Model *ref) {
    size_t P = m->num_params, trained = 1 + (critic != NULL), models = trained + (ref != NULL);
    size_t total = P * models + 3 * P * trained;
    printf("%s memory: %zu model%s of %zu parameters (policy%s%s): parameters %zu, gradients %zu, AdamW "
           "moments %zu; %zu floats, %.1f MB\n", algo, models, models > 1 ? "s" : "", P,
           critic ? ", critic" : "", ref ? ", reference" : "", P * models, P * trained, 2 * P * trained,
           total, total * 4.0 / 1e6);
}


typedef struct {
    float reward, accuracy, length, reflection, format, language_mix;
    int truncated;
    float zero_std, mean_abs_adv;  // the share of groups of equal rewards (no signal); mean |A|
} BatchScores;

// the means over the batch of the rollouts r's rewards and judgements, for the log; the advantages of the
// groups of G as grpo_step computed them
static BatchScores batch_scores(const Rollouts *r, const Prompts *train, const float *reward,
                                const Judgement *judged, int G, int scale_rewards) {
    BatchScores b = {0};
    int n = r->n, P = n / G;
    float *adv = mallocCheck(n * sizeof(float));
    grpo_advantages(adv, reward, P, G, scale_rewards);
    for (int p = 0; p < P; p++) {
        int same = 1;
        for (int i = 1; i < G; i++) same &= reward[p * G + i] == reward[p * G];
        b.zero_std += (float)same / P;
    }
    for (int i = 0; i < n; i++) b.mean_abs_adv += fabsf(adv[i]) / n;
    free(adv);
    char *text = mallocCheck((size_t)r->max_len * 10 + 16);
    for (int i = 0; i < n; i++) {
        const Judgement *j = &judged[i];
        int rl = r->seq_len[i] - r->prompt_len[i];
        b.reward += reward[i] / n; b.accuracy += j->correct / n; b.length += (float)rl / n;
        rollout_text(r, i, text);
        b.reflection += (float)measure_response(train->text[r->prompt[i]], text).reflects / n;
        b.format += j->format / n;
        b.language_mix += (j->language < 1.0f) / (float)n;
        b.truncated += r->seqs[(size_t)i * r->max_len + r->seq_len[i] - 1] != TOK_EOS;
    }
    free(text);
    return b;
}

// the held-out evaluation at step 0, every eval_every steps and at the end (returns 0 when there is none
// at this step); sampled responses to a few held-out prompts at the first and the last, for the report
static int grpo_evaluate(Model *m, const GrpoOptions *o, const Data *test, FILE *samples, EvalResult *e) {
    int step = m->step;
    if (o->eval_every <= 0 || (step % o->eval_every != 0 && step != o->steps)) return 0;
    if (dist_rank > 0) return 0;  // process 0 alone evaluates (the others wait at the next step's sums)
    *e = evaluate(m, test, o->eval_prompts, o->eval_k, o->temperature, 12345, CHECK_FREE, 0, 0);
    if (e->code)
        printf("step %4d eval | greedy %.3f | pass@1 %.3f | shown %.3f | hidden %.3f | tables %.2f | length "
               "%.1f | tries %.2f | retry after no %.3f\n", step, e->greedy, e->pass1, e->shown_pass1,
               e->hidden_pass1, e->style_share[CODE_TABLE], e->len, e->tries_per_response, e->retry_after_no);
    else if (e->countdown)
        printf("step %4d eval | greedy %.3f | pass@1 %.3f | length %.1f | tries %.2f | retry after no %.3f | "
               "search %.2f\n", step, e->greedy, e->pass1, e->len, e->tries_per_response, e->retry_after_no,
               e->style_share[CD_SEARCH]);
    else
        printf("step %4d eval | greedy %.3f | pass@1 %.3f | length %.1f | reflection %.3f | chains %.2f\n",
               step, e->greedy, e->pass1, e->len, e->reflect, 1.0f - e->style_share[STYLE_DIRECT]);
    if (step == 0 || step == o->steps) {
        char who[16];
        snprintf(who, sizeof who, "%d", step);
        write_samples(samples, m, test, 4, 2, o->temperature, who);
    }
    // the run's first self-correction that paid, kept in aha.txt (the format of samples.txt)
    char path[600], tmp[610];
    snprintf(path, sizeof path, "%s/aha.txt", o->out);
    if (step == 0) remove(path);
    if (e->aha[0] && access(path, F_OK) != 0) {
        const char *prompt = test->text[e->aha_prompt];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopenCheck(tmp, "w");
        fprintf(f, "step\tprompt\tanswer\tresponse\n%d\t%s\t%ld\t%s\n", step, prompt,
                test->answer[e->aha_prompt], e->aha);
        if (fclose(f) != 0 || rename(tmp, path) != 0) die("cannot write %s", path);
        printf("step %4d aha  | %s: %s%s\n", step, e->countdown || e->code
               ? "a retry after a true no, every verdict true, found the answer"
               : "a faithful check caught a wrong column and the answer is right", prompt, e->aha);
    }
    return 1;
}

// the columns of a GRPO log row: the batch's, the held-out ones (e; NULL: empty), the step's diagnostics
// (more: the caller ends the row, PPO's columns)
static void grpo_log_row(FILE *log, const Model *m, int step, const BatchScores *b, const GrpoStepLog *sl,
                         int n, const EvalResult *e, int n_eval_cells, double el, int more) {
    double n_st = fmax(sl->st.tokens, 1);
    float kl = sl->st.kl / n_st, clipped = (sl->st.clipped_low + sl->st.clipped_high) / n_st;
    fprintf(log, "%d,%.4f,%.4f,%.2f,%.4f,%.4f,%.4f,%.5f,%.4f,%.4f,%.0f,%.2f", step, b->reward, b->accuracy,
            b->length, b->reflection, b->format, b->language_mix, kl, clipped, (float)(sl->st.entropy / n_st),
            m->tokens_seen / el, el);
    if (e) log_eval_columns(log, e);
    else for (int c = 0; c < n_eval_cells; c++) fputc(',', log);  // log_eval_columns' cells, empty
    fprintf(log, ",%.4f,%.5f,%.5f,%.4f,%.4f", b->zero_std, sl->st.clipped_low / n_st,
            sl->st.clipped_high / n_st, (float)b->truncated / n, b->mean_abs_adv);
    for (int l = 0; l < m->cfg.n_layer; l++)
        if (is_moe_layer(&m->cfg, l)) fprintf(log, ",%.3f,%.4f", sl->load_spread[l], sl->router_entropy[l]);
    if (!more) fprintf(log, "\n");
    fflush(log);
}

// the console line of the step just done
static void grpo_print_step(const Model *m, const GrpoOptions *o, const BatchScores *b, const GrpoStepLog *sl,
                            double el) {
    double n_st = fmax(sl->st.tokens, 1);
    char e1[16], e2[16];
    format_time(el, e1);
    format_time(el / m->step * (o->steps - m->step), e2);
    printf("step %4d/%d | reward %.3f | acc %.3f | len %.1f | reflect %.3f | format %.2f | mix %.2f | kl "
           "%.4f | clip %.3f | ent %.2f | 0-std %.2f | %.0f tok/s | %s, ETA %s\n", m->step, o->steps,
           b->reward, b->accuracy, b->length, b->reflection, b->format, b->language_mix,
           (float)(sl->st.kl / n_st), (float)((sl->st.clipped_low + sl->st.clipped_high) / n_st),
           (float)(sl->st.entropy / n_st), b->zero_std, m->tokens_seen / el, e1, e2);
    fflush(stdout);
}

// the held-out measures at the first and the last evaluation of a run
static void print_before_after(const EvalResult *first, const EvalResult *last, int first_step,
                               int last_step) {
    printf("\nheld-out (%d prompts, %d samples each)   step %d -> step %d\n", last->n_prompts, last->k,
           first_step, last_step);
    printf("  greedy accuracy        %.3f -> %.3f\n", first->greedy, last->greedy);
    printf("  pass@1                 %.3f -> %.3f\n", first->pass1, last->pass1);
    printf("  mean response length   %.1f -> %.1f\n", first->len, last->len);
    printf("  reflection rate        %.3f -> %.3f\n", first->reflect, last->reflect);
    if (last->code) {
        printf("  shown examples pass@1  %.3f -> %.3f\n", first->shown_pass1, last->shown_pass1);
        printf("  hidden tests pass@1    %.3f -> %.3f\n", first->hidden_pass1, last->hidden_pass1);
        printf("  table share            %.3f -> %.3f\n", first->style_share[CODE_TABLE],
               last->style_share[CODE_TABLE]);
    }
    if (last->countdown || last->code) {
        printf("  tries per response     %.2f -> %.2f\n", first->tries_per_response,
               last->tries_per_response);
        printf("  retry after no         %.3f -> %.3f\n", first->retry_after_no, last->retry_after_no);
        printf("  right after no         %.3f -> %.3f\n", first->right_after_no, last->right_after_no);
        printf("  try faithfulness       %.3f -> %.3f\n", first->try_faithfulness, last->try_faithfulness);
        printf("  false ok rate          %.3f -> %.3f\n", first->false_ok_rate, last->false_ok_rate);
        printf("  search share           %.3f -> %.3f\n", first->style_share[CD_SEARCH],
               last->style_share[CD_SEARCH]);
        printf("  direct share           %.3f -> %.3f\n", first->style_share[CD_DIRECT],
               last->style_share[CD_DIRECT]);
        for (int t = 0; t < 16; t++) if (last->diff_n[t])
            printf("  %-9s %-12s pass@1 %.3f -> %.3f | tries %.2f -> %.2f\n",
                   last->code ? "function" : "solutions", difficulty_label(last, t), first->diff_pass1[t],
                   last->diff_pass1[t], first->diff_tries[t], last->diff_tries[t]);
        return;
    }
    printf("  checked among chains   %.3f -> %.3f\n", first->checked_in_chains, last->checked_in_chains);
    printf("  chain-of-thought share %.3f -> %.3f\n", 1 - first->style_share[STYLE_DIRECT],
           1 - last->style_share[STYLE_DIRECT]);
    printf("  format                 %.3f -> %.3f\n", first->format, last->format);
    int n_diffs = 0;
    for (int t = 0; t < 16; t++) n_diffs += last->diff_n[t] > 0;
    for (int t = 0; t < 16 && n_diffs > 1; t++) if (last->diff_n[t])
        printf("  difficulty %-2d          pass@1 %.3f -> %.3f | length %.1f -> %.1f | checked among chains "
               "%.3f -> %.3f\n", t, first->diff_pass1[t], last->diff_pass1[t], first->diff_len[t],
               last->diff_len[t], first->diff_checked_in_chains[t], last->diff_checked_in_chains[t]);
}

// a data-parallel step's log: the sums of the processes' shares (the loads' spread stays process 0's)
static void grpo_log_sum(GrpoStepLog *sl) {
    double st[5] = { sl->st.kl, sl->st.clipped_low, sl->st.clipped_high, sl->st.entropy, sl->st.tokens };
    dist_allreduce_sum_double(st, 5);
    sl->st = (GrpoStats){ .kl = st[0], .clipped_low = st[1], .clipped_high = st[2], .entropy = st[3],
                          .tokens = st[4] };
    dist_allreduce_sum(&sl->loss, 1);
    dist_allreduce_sum(sl->router_entropy, MAX_LAYERS);
    dist_allreduce_sum(&sl->moe_tokens, 1);
}

// one RL run: R1-Zero (from the base model) or reasoning RL from any checkpoint. Each step is one
// grpo_iteration; around it: the reference's syncs, the log, the held-out evaluations, a checkpoint after
// every step (--resume continues from the last)
static Model *grpo_train(const GrpoOptions *o) {
    RewardSet use = reward_set(o->rewards, o);
    GrpoConfig gc = grpo_config(o);
    char ckpt[600], ref_ckpt[620], critic_ckpt[620], critic_prev[620], header[2048];
    snprintf(ckpt, sizeof ckpt, "%s/model.bin", o->out);
    snprintf(critic_ckpt, sizeof critic_ckpt, "%s/critic.bin", o->out);
    snprintf(critic_prev, sizeof critic_prev, "%s/critic_prev.bin", o->out);
    int ppo = strcmp(o->algo, "ppo") == 0;
    uint64_t rng_state = 0;
    int resumed = run_resumes("grpo", o->out, o->resume, o->overwrite);
    Model *ref, *m = grpo_start(o, ckpt, resumed, &rng_state, &ref);
    if (list_has(o->rewards, "prm")) {  // the road R1 did not take (section 23)
        if (strcmp(o->world, "addition") != 0)
            die("grpo: the process reward model knows the addition world only");
        use.prm = prm_load(o->prm);
    }
    if (ppo && dist_size > 1) die("ppo: runs on one process");
    if (o->top_entropy_quantile < 1.0f && dist_size > 1)  // its threshold would be each process's own
        die("grpo: --top-entropy-quantile below 1 runs on one process");
    if (ppo && gc.sequence_level) die("ppo: the ratio is per token (--importance-sampling-level token)");
    Model *critic = ppo ? critic_start(o, critic_ckpt, critic_prev, resumed, m->step) : NULL;
    PpoConfig pc = { .gamma = o->gamma, .lambda = o->lambda, .critic_optim = gc.optim };
    pc.critic_optim.lr = o->critic_lr;
    Data train = load_prompts(o->data, m->cfg.context), test = load_prompts(o->test, m->cfg.context);
    int P = o->prompts_per_step;
    dist_check_batch("grpo", P);
    int G = o->num_generations;
    int n = P * G;
    int ctx = m->cfg.context;
    int sync = o->ref_model_sync_steps;
    // dr_grpo's constant: the longest response
    for (int i = 0; i < train.n && o->max_completion_length == 0; i++)
        gc.max_completion_length = imax(gc.max_completion_length, ctx - train.len[i]);
    Rollouts r = rollouts_alloc(n, ctx);
    Prompts prompts = { .n = train.n, .text = train.text, .ids = train.ids, .len = train.len,
                        .answer = train.answer };
    float *reward = mallocCheck(n * sizeof(float));
    Judgement *judged = mallocCheck(n * sizeof(Judgement));
    int has_diff[16], n_diffs = eval_difficulties(&test, o->eval_prompts, has_diff);
    int o_h = snprintf(header, sizeof header, "step,reward,accuracy,length,reflection,format,language_mix,"
                       "kl,clip_frac,entropy,tokens_per_s,elapsed_s,test_greedy,test_pass1,test_length,"
                       "test_reflection,test_chain_share,test_checked_in_chains");
    for (int t = 0; t < 16; t++) if (has_diff[t])
        o_h += snprintf(header + o_h, sizeof header - o_h, ",test_length_d%d,test_checked_in_chains_d%d", t,
                        t);
    Countdown first_test;
    CodeTask first_task;
    int code = test.n > 0 && code_parse(test.text[0], &first_task);
    int tries = code || (test.n > 0 && countdown_parse(test.text[0], &first_test));
    if (tries) {
        o_h += snprintf(header + o_h, sizeof header - o_h, ",test_tries_per_response,test_retry_after_no,"
                        "test_try_faithfulness,test_false_ok_rate,test_search_share");
        for (int t = 0; t < 16; t++) if (has_diff[t])
            o_h += snprintf(header + o_h, sizeof header - o_h, ",test_tries_d%d", t);
    }
    if (code)
        o_h += snprintf(header + o_h, sizeof header - o_h, ",test_shown_pass1,test_hidden_pass1,"
                        "test_shown_greedy,test_hidden_greedy,test_table_share");
    int eval_cells = log_eval_cells(n_diffs, tries, code);
    o_h += snprintf(header + o_h, sizeof header - o_h, ",frac_reward_zero_std,clip_low,clip_high,truncated,"
                    "mean_abs_adv");
    for (int l = 0; l < m->cfg.n_layer; l++)
        if (is_moe_layer(&m->cfg, l))
            o_h += snprintf(header + o_h, sizeof header - o_h, ",load_spread_%d,router_entropy_%d", l, l);
    if (ppo) o_h += snprintf(header + o_h, sizeof header - o_h, ",value_mse,step_s");
    double elapsed;
    // rows: the step about to be done
    FILE *log = open_log(o->out, "log.csv", header, resumed ? m->step : 0, &elapsed);
    FILE *samples = o->eval_every > 0 ? open_log(o->out, "samples.txt", "step\tprompt\tanswer\tresponse",
                                                 resumed ? m->step : 0, NULL) : NULL;
    FILE *rollouts = o->save_rollouts ? open_log(o->out, "rollouts.txt",
                                                 "step\trow\treward\tprompt\tresponse",
                                                 resumed ? m->step : 0, NULL) : NULL;
    char *text = mallocCheck((size_t)ctx * 10 + 16);
    if (ppo)
        printf("ppo: %s from %s, %d steps of %d prompts x 1 sample, gamma %g, lambda %g, loss %s, beta %g, "
               "lr %g, critic lr %g, rewards %s\n", m->preset, resumed ? ckpt : o->init, o->steps, n,
               o->gamma, o->lambda, LOSS_NAMES[gc.loss_type], o->beta, o->lr, o->critic_lr, o->rewards);
    else
        printf("grpo: %s from %s, %d steps of %d prompts x %d samples, loss %s, beta %g, lr %g, rewards %s\n",
               m->preset, resumed ? ckpt : o->init, o->steps, P, G, LOSS_NAMES[gc.loss_type], o->beta, o->lr,
               o->rewards);
    rl_memory_print(ppo ? "ppo" : "grpo", m, critic, ref);
    Rng rng = { .s = rng_state };
    double t0 = now_seconds() - elapsed;
    EvalResult e, first = {0}, last = {0};
    int first_step = -1;
    while (m->step <= o->steps) {
        int step = m->step, evaluated = grpo_evaluate(m, o, &test, samples, &e);
        if (evaluated) { if (first_step < 0) { first = e; first_step = step; } last = e; }
        if (step == o->steps) {
            if (evaluated) {  // the final row: the held-out columns only
                fprintf(log, "%d,,,,,,,,,,,%.2f", step, now_seconds() - t0);
                log_eval_columns(log, &e);
                for (const char *c = strstr(header, "frac_reward_zero_std"); c; c = strchr(c + 1, ','))
                    fputc(',', log);
                fputc('\n', log);
            }
            break;
        }
        GrpoStepLog sl;
        float value_mse = 0.0f;
        double step_t0 = now_seconds();
        int status = ppo ? ppo_iteration(m, critic, ref, &prompts, n, &use, &gc, &pc, &r, reward, judged,
                                         &rng, &sl, &value_mse)
                         : grpo_iteration(m, ref, &prompts, P, G, &use, &gc, &r, reward, judged, &rng, &sl);
        stop_if_not_finite(status, ckpt, ppo ? "ppo" : "grpo", sl.loss, m);
        grpo_log_sum(&sl);
        double step_s = now_seconds() - step_t0;
        for (int l = 0; l < MAX_LAYERS && sl.moe_tokens > 0.0f; l++) sl.router_entropy[l] /= sl.moe_tokens;
        // (PPO's groups are of one response: the log's frac_reward_zero_std is 1 and mean_abs_adv 0)
        BatchScores scores = batch_scores(&r, &prompts, reward, judged, ppo ? 1 : G, gc.scale_rewards);
        int synced = ref && sync > 0 && m->step % sync == 0;
        if (synced) {
            reference_sync(ref, m, o->ref_model_mixup_alpha);
            snprintf(ref_ckpt, sizeof ref_ckpt, "%s/ref_%d.bin", o->out, m->step);
            checkpoint_save(ref_ckpt, ref, 0, 0, 0);
        }
        int resp_tokens = 0;
        for (int i = 0; i < n; i++) resp_tokens += r.seq_len[i] - r.prompt_len[i];
        m->tokens_seen += resp_tokens;
        double el = now_seconds() - t0;
        grpo_log_row(log, m, step, &scores, &sl, n, evaluated ? &e : NULL, eval_cells, el, ppo);
        if (ppo) fprintf(log, ",%.5f,%.3f\n", value_mse, step_s);
        fflush(log);
        for (int i = 0; i < n && rollouts; i++) {
            rollout_text(&r, i, text);
            fprintf(rollouts, "%d\t%d\t%g\t%s\t%s\n", step, i, reward[i], train.text[r.prompt[i]], text);
        }
        if (rollouts) fflush(rollouts);
        grpo_print_step(m, o, &scores, &sl, el);
        if (ppo) printf("         critic: value mse %.4f | step %.2f s\n", value_mse, step_s);
        if (critic) critic_save(critic_ckpt, critic_prev, critic);
        checkpoint_save(ckpt, m, 1, rng.s, 0);
        if (synced && m->step > sync) { // the previous reference is no longer needed
            snprintf(ref_ckpt, sizeof ref_ckpt, "%s/ref_%d.bin", o->out, m->step - sync);
            remove(ref_ckpt);
        }
    }
    fclose(log);
    if (samples) fclose(samples);
    if (rollouts) fclose(rollouts);
    free(text);
    if (first_step >= 0) print_before_after(&first, &last, first_step, m->step);
    free(reward); free(judged);
    rollouts_free(&r);
    data_free(&train); data_free(&test);
    model_free(ref);
    prm_free(use.prm);
    if (critic) model_free(critic);
    return m;
}

// ----------------------------------------------------------------------------
// 21. distillation runs (distill_logits around distill_step)

// the student learns the teacher's token distributions on the teacher's traces (an SFT file): from the
// checkpoint o->init (keeping its AdamW moments), into the run folder o->out (resumable like train_lm)
static Model *distill_logits(const TrainOptions *o, Model *teacher, const Data *d, float tau, float alpha) {
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/model.bin", o->out);
    uint64_t pool_state = 0;
    int data_pos = 0, resumed = run_resumes("distill", o->out, o->resume, o->overwrite), batch = o->batch;
    Model *student = checkpoint_load(resumed ? ckpt : o->init, &pool_state, &data_pos);
    if (!resumed) student->step = 0;
    int ctx = student->cfg.context, b0, B_here;  // this process's rows [b0, b0 + B_here) of a batch
    dist_check_batch("distill", batch);
    dist_share(batch, &b0, &B_here);
    Batcher bt = batcher_create(d, batch, (uint64_t)o->seed);
    if (resumed) batcher_restore(&bt, pool_state, data_pos, ckpt);
    int *inputs = mallocCheck((size_t)batch * ctx * sizeof(int));
    int *targets = mallocCheck((size_t)batch * ctx * sizeof(int));
    float *w = mallocCheck((size_t)batch * ctx * sizeof(float));
    int *len = mallocCheck((size_t)batch * sizeof(int));
    double elapsed;
    // rows: the step being done, from 0
    FILE *log = open_log(o->out, "log.csv", "step,loss,lr,elapsed_s", student->step, &elapsed);
    double t0 = now_seconds() - elapsed;
    while (student->step < o->steps) {
        int step = student->step, T = batcher_next(&bt, inputs, targets, w, len, (float)batch * ctx);
        OptimConfig u = { .lr = lr_schedule(step, o->steps, o->warmup, o->lr, o->lr_min), .beta2 = 0.95f,
                          .clip = 1.0f, .bias_gamma = 1e-3f };
        float loss = 0.0f;
        int status = distill_step(student, teacher, inputs + (size_t)b0 * T, targets + (size_t)b0 * T,
                                  w + (size_t)b0 * T, len + b0, B_here, T, tau, alpha, &u, &loss);
        stop_if_not_finite(status, ckpt, "distill", loss, student);
        dist_allreduce_sum(&loss, 1);
        fprintf(log, "%d,%.5f,%.6g,%.2f\n", step, loss * batch * ctx, u.lr, now_seconds() - t0);
        if (step % 50 == 0 || step == o->steps - 1) {
            printf("distill step %4d/%d | loss %.4f\n", step + 1, o->steps, loss * batch * ctx);
            fflush(stdout);
        }
        if ((o->save_every > 0 && student->step % o->save_every == 0) || student->step == o->steps) {
            fflush(log);
            checkpoint_save(ckpt, student, 1, bt.pool_state, bt.next);
        }
    }
    fclose(log);
    free(inputs); free(targets); free(w); free(len); free(bt.pool);
    return student;
}

// ----------------------------------------------------------------------------
// 22. the report of a run: one self-contained HTML file (inline SVG charts; no scripts, no other files)

static void html_text(FILE *f, const char *s, size_t n) { // s[0..n) with <, >, & escaped
    for (size_t i = 0; i < n && s[i]; i++) {
        if (s[i] == '<') fputs("&lt;", f);
        else if (s[i] == '>') fputs("&gt;", f);
        else if (s[i] == '&') fputs("&amp;", f);
        else fputc(s[i], f);
    }
}

// a response with its parts marked: the chain of thought, its checks (from the first check word to
// </think>), the answer; special tokens grey, the reflection words (check, wait) bold
static void html_response(FILE *f, const char *s) {
    static const char *part_class[] = { "other", "think", "check", "answer" };
    int part = 0;
    while (*s) {
        int tok = -1;
        for (int t = 0; t < N_SPECIAL; t++) if (strncmp(s, SPECIALS[t], strlen(SPECIALS[t])) == 0) tok = t;
        if (tok >= 0) {
            part = tok == TOK_THINK ? 1 : tok == TOK_ANSWER ? 3 : 0;
            fputs("<span class=\"tok\">", f);
            html_text(f, SPECIALS[tok], strlen(SPECIALS[tok]));
            fputs("</span>", f);
            s += strlen(SPECIALS[tok]);
            continue;
        }
        const char *az = "abcdefghijklmnopqrstuvwxyz";  // a word, a lone '<', or what lies between
        size_t n = strchr(az, *s) ? strspn(s, az) : *s == '<' ? 1 : strcspn(s, "<abcdefghijklmnopqrstuvwxyz");
        int word = -1;
        for (int lang = 0; lang < N_LANGS; lang++)
            for (int w = 0; w < N_WORDS; w++)
                if (strlen(WORDS[lang][w]) == n && strncmp(s, WORDS[lang][w], n) == 0) word = w;
        if (part == 1 && word == WORD_CHECK) part = 2;
        int bold = word == WORD_CHECK || word == WORD_WAIT;
        fprintf(f, "<span class=\"%s\">%s", part_class[part], bold ? "<b>" : "");
        html_text(f, s, n);
        fprintf(f, "%s</span>", bold ? "</b>" : "");
        s += n;
    }
}

// a tick spacing of 1, 2 or 5 times a power of ten giving about five ticks over [0, range]
static double nice_step(double range) {
    double raw = range / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

typedef struct { const char *name, *colour; const double *y; } Curve;  // y[i] at x[i]; NAN: no point

// a line chart of the curves over x[0..n) as inline SVG, y from 0 to y_max (0: the data's maximum)
static void svg_chart(FILE *f, const char *title, const char *y_label, const char *x_label, const double *x,
                      int n, const Curve *c, int n_curves, double y_max) {
    const double W = 600, H = 340, L = 56, R = 16, T = 34, B = 76;  // size, margins (the legend below)
    double x_max = 1;
    for (int i = 0; i < n; i++) x_max = fmax(x_max, x[i]);
    if (y_max <= 0)  // the largest point of all the curves
        for (int k = 0; k < n_curves; k++)
            for (int i = 0; i < n; i++) if (!isnan(c[k].y[i])) y_max = fmax(y_max, c[k].y[i]);
    if (y_max <= 0) y_max = 1;
    double x_tick = nice_step(x_max), y_tick = nice_step(y_max);
    y_max = ceil(y_max / y_tick - 1e-9) * y_tick;
#define SX(v) (L + (v) / x_max * (W - L - R))
#define SY(v) (H - B - (v) / y_max * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 %g %g\">\n", W, H);
    fprintf(f, "<text class=\"title\" x=\"%g\" y=\"20\">", L);
    html_text(f, title, strlen(title));
    fprintf(f, "</text>\n");
    for (int i = 0; i * y_tick <= y_max + 1e-9; i++) {
        double y = SY(i * y_tick);
        fprintf(f, "<line class=\"grid\" x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\"/>", L, y, W - R, y);
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, y + 4, i * y_tick);
    }
    for (int i = 0; i * x_tick <= x_max + 1e-9; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%g</text>\n", SX(i * x_tick), H - B + 16,
                i * x_tick);
    fprintf(f, "<path class=\"axis\" d=\"M%g %g V%g H%g\"/>\n", L, T, H - B, W - R);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2, H - B + 34,
            x_label);
    fprintf(f, "<text transform=\"translate(14 %g) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
            (T + H - B) / 2, y_label);
    for (int k = n_curves - 1; k >= 0; k--) {  // the first curve drawn last, on top; the legend from the left
        double lx = L;
        for (int j = 0; j < k; j++) lx += 40 + 6.5 * strlen(c[j].name);
        int points = 0;
        for (int i = 0; i < n; i++) points += !isnan(c[k].y[i]);
        fprintf(f, "<polyline class=\"curve\" data-name=\"%s\" stroke=\"%s\" points=\"", c[k].name,
                c[k].colour);
        for (int i = 0; i < n; i++) if (!isnan(c[k].y[i])) fprintf(f, "%.1f,%.1f ", SX(x[i]), SY(c[k].y[i]));
        fprintf(f, "\"/>\n");
        for (int i = 0; points <= 40 && i < n; i++)  // sparse curves (the evaluations) get a dot per point
            if (!isnan(c[k].y[i]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", SX(x[i]), SY(c[k].y[i]),
                        c[k].colour);
        fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"3\"/>", lx,
                H - 14, lx + 20, H - 14, c[k].colour);
        fprintf(f, "<text x=\"%g\" y=\"%g\">%s</text>\n", lx + 25, H - 10, c[k].name);
    }
    fprintf(f, "</svg>\n");
#undef SX
#undef SY
}

// DIR/report.html is written to DIR/report.html.tmp, then renamed: a reader never sees half a report
static void report_paths(const char *dir, char *tmp, char *path) {
    snprintf(path, 600, "%.580s/report.html", dir);
    snprintf(tmp, 600, "%.580s/report.html.tmp", dir);
}

static FILE *report_begin(const char *dir, const char *title, const char *about) {
    char tmp[600], path[600];
    report_paths(dir, tmp, path);
    FILE *f = fopenCheck(tmp, "w");
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>");
    html_text(f, title, strlen(title));
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>",
        "body { font: 14px/1.45 sans-serif; color: #222; margin: 20px 28px; max-width: 1240px }\n"
        "h1 { font-size: 20px; margin: 0 0 4px }\n"
        "h2 { font-size: 16px; margin: 22px 0 8px }\n"
        "h3 { font: 14px monospace; margin: 14px 0 4px }\n"
        "table { border-collapse: collapse }\n"
        "th, td { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right }\n"
        "th:first-child, td:first-child { text-align: left }\n"
        "th { background: #f4f4f4 }\n"
        "table.samples { width: 100% }\n"
        "table.samples td { text-align: left }\n"
        "table.samples th { vertical-align: top; white-space: nowrap; width: 90px }\n"
        ".charts { display: flex; flex-wrap: wrap; gap: 10px }\n"
        "svg.chart { width: 540px; max-width: 100%; height: auto; border: 1px solid #e4e4e4 }\n"
        "svg text { font: 12px sans-serif; fill: #333 }\n"
        "svg text.title { font-size: 14px; font-weight: bold }\n"
        "svg .grid { stroke: #e8e8e8 }\n"
        "svg .axis { stroke: #666; fill: none }\n"
        "svg .curve { fill: none; stroke-width: 2 }\n"
        ".resp { font: 13px monospace; overflow-wrap: anywhere; padding: 1px 0 }\n"
        ".think { background: #e3edfc }\n"
        ".check { background: #fcefc9 }\n"
        ".answer { background: #d5f0d5; font-weight: bold }\n"
        ".tok { color: #9a9a9a }\n"
        ".resp b, .aha { color: #b8321f; font-weight: bold }\n"
        ".ok { color: #1d8a1d }\n"
        ".wrong { color: #c0392b }\n");
    html_text(f, title, strlen(title));
    fprintf(f, "</h1>\n<p>");
    html_text(f, about, strlen(about));
    fprintf(f, "</p>\n");
    return f;
}

static void report_end(FILE *f, const char *dir) {
    char tmp[600], path[600];
    report_paths(dir, tmp, path);
    fprintf(f, "</body>\n</html>\n");
    if (fflush(f) != 0 || ferror(f) || fclose(f) != 0) die("cannot write %s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) die("cannot rename %s to %s: %s", tmp, path, strerror(errno));
}

// the responses of a samples file (write_samples) by prompt, one row per step or model, marked up
static void report_samples(FILE *f, const char *path, const char *heading, const char *who_prefix) {
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size == 0) return;
    int n, n_prompts = 0, n_who = 0;
    char **lines = read_lines(path, &n);
    char *(*field)[4] = mallocCheck(n * sizeof *field);  // who, prompt, answer, response
    int *prompts = mallocCheck(n * sizeof(int)), *whos = mallocCheck(n * sizeof(int));  // first lines of each
    for (int i = 1; i < n; i++) {  // line 0: the header
        char *p = lines[i];
        for (int j = 0; j < 4; j++) { field[i][j] = p; p = p ? strchr(p, '\t') : NULL; if (p) *p++ = 0; }
        if (!field[i][3]) continue;  // a malformed line
        int pi = 0, wi = 0;
        while (pi < n_prompts && strcmp(field[prompts[pi]][1], field[i][1]) != 0) pi++;
        while (wi < n_who && strcmp(field[whos[wi]][0], field[i][0]) != 0) wi++;
        if (pi == n_prompts) prompts[n_prompts++] = i;
        if (wi == n_who) whos[n_who++] = i;
    }
    fprintf(f, "<h2 id=\"samples\">%s</h2>\n<p>Marked: <span class=\"think\">the chain of thought</span>, "
            "<span class=\"check\">its checks</span> with the reflection words in "
            "<span class=\"aha\">bold</span>, <span class=\"answer\">the answer</span>; "
            "<span class=\"ok\">&#10003;</span> right, "
            "<span class=\"wrong\">&#10007;</span> wrong.</p>\n", heading);
    for (int p = 0; p < n_prompts; p++) {
        char **pf = field[prompts[p]];
        fprintf(f, "<h3>");
        html_text(f, pf[1], strlen(pf[1]));
        fprintf(f, " (answer %s)</h3>\n<table class=\"samples\">\n", pf[2]);
        for (int w = 0; w < n_who; w++) {
            fprintf(f, "<tr><th>%s", who_prefix);
            html_text(f, field[whos[w]][0], strlen(field[whos[w]][0]));
            fprintf(f, "</th><td>");
            for (int i = 1; i < n; i++) {
                char **fi = field[i];
                if (!fi[3] || strcmp(fi[1], pf[1]) != 0 || strcmp(fi[0], field[whos[w]][0]) != 0) continue;
                int ok = reward_accuracy(fi[3], atol(fi[2])) > 0;
                fprintf(f, "<div class=\"resp\"><span class=\"%s\">%s</span> ", ok ? "ok" : "wrong",
                        ok ? "&#10003;" : "&#10007;");
                html_response(f, fi[3]);
                fprintf(f, "</div>");
            }
            fprintf(f, "</td></tr>\n");
        }
        fprintf(f, "</table>\n");
    }
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines); free(field); free(prompts); free(whos);
}

// the index of the column `name` in a CSV header line, or -1
static int csv_index(const char *header, const char *name) {
    size_t len = strlen(name);
    for (int col = 0; header; col++) {
        if (strncmp(header, name, len) == 0 && (header[len] == ',' || header[len] == 0)) return col;
        if ((header = strchr(header, ','))) header++;
    }
    return -1;
}

// the column `name` of a CSV file's lines (lines[0] the header) as numbers, NAN where a row leaves it empty
static double *csv_column(const char *path, char **lines, int n_lines, const char *name) {
    int col = csv_index(lines[0], name);
    if (col < 0) die("%s: no column %s", path, name);
    double *v = mallocCheck(n_lines * sizeof(double));
    for (int r = 1; r < n_lines; r++) {
        const char *p = lines[r];
        for (int i = 0; i < col && p; i++) if ((p = strchr(p, ','))) p++;
        v[r - 1] = p && *p && *p != ',' ? atof(p) : NAN;
    }
    return v;
}

// horizontal bars, one group per label: series s of group i is v[s][i], in [0, 1]
static void svg_bars(FILE *f, const char *title, const char **labels, int n, const double *v[],
                     const char **names, const char **colours, int n_series) {
    const double W = 600, L = 200, R = 50, T = 34, row = 14 * n_series + 12, H = T + row * n + 30;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 %g %g\">\n", W, H);
    fprintf(f, "<text class=\"title\" x=\"10\" y=\"20\">%s</text>\n", title);
    for (int i = 0; i < n; i++) {
        double y = T + row * i;
        fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">", L - 8, y + row / 2);
        html_text(f, labels[i], strlen(labels[i]));
        fprintf(f, "</text>\n");
        for (int s = 0; s < n_series; s++) {
            double len = v[s][i] * (W - L - R);
            fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%.1f\" height=\"12\" fill=\"%s\"/>", L, y + 14 * s,
                    len, colours[s]);
            fprintf(f, "<text x=\"%.1f\" y=\"%g\">%.2f</text>\n", L + len + 4, y + 14 * s + 10, v[s][i]);
        }
    }
    fprintf(f, "<path class=\"axis\" d=\"M%g %g V%g\"/>\n", L, T - 4, T + row * n);
    for (int s = 0; s < n_series; s++)
        fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"14\" height=\"10\" fill=\"%s\"/><text x=\"%g\" "
                "y=\"%g\">%s</text>\n", L + 130 * s, H - 20, colours[s], L + 130 * s + 18, H - 11, names[s]);
    fprintf(f, "</svg>\n");
}

// the pass@j table of the report: a row per model
static void table_pass_at(FILE *f, const char **labels, const EvalResult *res, int n) {
    fprintf(f, "<h2>pass@j: the chance that j samples hold a right answer</h2>\n<table class=\"pass-at\">\n"
            "<tr><th>model</th>");
    for (int q = 0; q < N_PASS_AT; q++) fprintf(f, "<th>pass@%d</th>", 1 << q);
    fprintf(f, "</tr>\n");
    for (int i = 0; i < n; i++) {
        fprintf(f, "<tr><td>%s</td>", labels[i]);
        for (int q = 0; q < N_PASS_AT; q++)
            if (isnan(res[i].pass_at[q])) fprintf(f, "<td>n/a</td>");
            else fprintf(f, "<td>%.3f</td>", res[i].pass_at[q]);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

// the pass@j curves of R1 and the students against log2 j (rows found by their labels)
static void svg_pass_at(FILE *f, const char **labels, const EvalResult *res, int n) {
    const char *curve_rows[] = { "R1", "student+RL", "student distilled (sequence)",
                                 "student distilled (logit)" };
    const char *curve_names[] = { "R1", "student+RL", "distilled (sequence)", "distilled (logit)" },
               *curve_colours[] = { "#d62728", "#b4b4b4", "#1f6fb4", "#2a9d3a" };
    double log2_j[N_PASS_AT] = { 0, 1, 2, 3, 4 }, y[4][N_PASS_AT];
    Curve curves[4];
    int n_curves = 0;
    for (int c = 0; c < 4; c++)
        for (int i = 0; i < n; i++) if (strcmp(labels[i], curve_rows[c]) == 0) {
            for (int q = 0; q < N_PASS_AT; q++) y[n_curves][q] = res[i].pass_at[q];
            curves[n_curves] = (Curve){ .name = curve_names[c], .colour = curve_colours[c],
                                        .y = y[n_curves] };
            n_curves++;
        }
    svg_chart(f, "pass@j of R1 and the students", "pass@j", "log2 j (j = 1, 2, 4, 8, 16 samples)", log2_j,
              N_PASS_AT, curves, n_curves, 1.0);
}

// DIR/report.html of the pipeline: the results table (the numbers of results.txt), the pass@j table, pass@1
// and greedy accuracy as bars, the pass@j curves, and every model's sampled responses to the same prompts
// (DIR/samples.txt)
static void report_pipeline(const char *dir, const char *about, const char **labels, const EvalResult *res,
                            int n) {
    char path[600];
    FILE *f = report_begin(dir, "r1 pipeline: the R1 recipe at toy scale", about);
    fprintf(f, "<h2>Results (held-out)</h2>\n<table class=\"results\">\n<tr><th>model</th><th>pass@1</th>"
            "<th>cons@k</th><th>greedy</th><th>length</th><th>reflection</th><th>lang-mix</th>"
            "<th>repetition</th><th>format</th></tr>\n");
    double *bars[2] = { mallocCheck(n * sizeof(double)), mallocCheck(n * sizeof(double)) };
    for (int i = 0; i < n; i++) {
        fprintf(f, "<tr><td>%s</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.1f</td><td>%.3f</td>"
                "<td>%.3f</td><td>%.3f</td><td>%.3f</td></tr>\n", labels[i], res[i].pass1, res[i].cons,
                res[i].greedy, res[i].len, res[i].reflect, res[i].langmix, res[i].repetition, res[i].format);
        bars[0][i] = res[i].pass1; bars[1][i] = res[i].greedy;
    }
    fprintf(f, "</table>\n");
    table_pass_at(f, labels, res, n);
    fprintf(f, "<div class=\"charts\">\n");
    const char *names[] = { "pass@1", "greedy" }, *colours[] = { "#1f6fb4", "#d62728" };
    svg_bars(f, "Held-out accuracy", labels, n, (const double **)bars, names, colours, 2);
    svg_pass_at(f, labels, res, n);
    fprintf(f, "</div>\n");
    snprintf(path, sizeof path, "%s/samples.txt", dir);
    report_samples(f, path, "Sampled responses of each model to the same prompts", "");
    report_end(f, dir);
    free(bars[0]); free(bars[1]);
}

// the tries' columns of an RL log of the countdown or code world, for its report (countdown 0: the log has
// none), and the code world's pass rates of the shown examples and of the hidden tests (code 0: none)
enum { TRIES_PER_RESPONSE, RETRY_AFTER_NO, TRY_FAITHFULNESS, FALSE_OK_RATE, SEARCH_SHARE, N_TRY_COLS };
enum { SHOWN_PASS1, HIDDEN_PASS1, TABLE_SHARE, N_CODE_COLS };
typedef struct {
    int countdown, code, n_diffs;
    double *col[N_TRY_COLS], *code_col[N_CODE_COLS];
    Curve by_solutions[16];  // the tries per response of each difficulty (number of solutions)
    char names[16][24];
} ReportTries;

static ReportTries report_tries_columns(const char *path, char **lines, int n_lines) {
    ReportTries r = { .countdown = csv_index(lines[0], "test_retry_after_no") >= 0 };
    if (!r.countdown) return r;
    const char *names[N_TRY_COLS] = { "test_tries_per_response", "test_retry_after_no",
                                      "test_try_faithfulness", "test_false_ok_rate", "test_search_share" };
    for (int c = 0; c < N_TRY_COLS; c++) {
        r.col[c] = csv_column(path, lines, n_lines, names[c]);
        for (int i = 0; i < n_lines - 1; i++) if (r.col[c][i] < 0) r.col[c][i] = NAN;  // -1: none to count
    }
    r.code = csv_index(lines[0], "test_hidden_pass1") >= 0;
    const char *code_names[N_CODE_COLS] = { "test_shown_pass1", "test_hidden_pass1", "test_table_share" };
    for (int c = 0; c < N_CODE_COLS && r.code; c++)
        r.code_col[c] = csv_column(path, lines, n_lines, code_names[c]);
    const char *palette[] = { "#1f6fb4", "#d62728", "#2a9d3a", "#e08a1e" };
    for (int t = 0; t < 16; t++) {
        char name[32];
        snprintf(name, sizeof name, "test_tries_d%d", t);
        if (csv_index(lines[0], name) < 0) continue;
        snprintf(r.names[r.n_diffs], sizeof r.names[0], t == 3 ? "3+ solutions" : "%d solution%s", t,
                 t == 1 ? "" : "s");
        if (r.code)
            snprintf(r.names[r.n_diffs], sizeof r.names[0], "%s", t == CODE_LINEAR ? "x*a+b"
                     : t == CODE_MINUS ? "x*a-b" : "x*x+x*a+b");
        r.by_solutions[r.n_diffs] = (Curve){ .name = r.names[r.n_diffs], .colour = palette[r.n_diffs % 4],
                                             .y = csv_column(path, lines, n_lines, name) };
        r.n_diffs++;
    }
    return r;
}

// rows of the before/after table: the first (a) and the last (b) evaluated rows
static void report_tries_rows(FILE *f, const ReportTries *r, int a, int b) {
    const char *rows[N_TRY_COLS] = { "tries per response", "retry after no", "try faithfulness",
                                     "false ok rate", "search share (ends in ok)" };
    for (int c = 0; c < N_TRY_COLS && r->countdown; c++) {
        fprintf(f, "<tr><td>%s</td>", rows[c]);
        for (int i = 0; i < 2; i++) {
            double v = r->col[c][i ? b : a];
            if (isnan(v)) fprintf(f, "<td>n/a</td>");
            else fprintf(f, c ? "<td>%.3f</td>" : "<td>%.2f</td>", v);
        }
        fprintf(f, "</tr>\n");
    }
    const char *code_rows[N_CODE_COLS] = { "shown examples pass@1", "hidden tests pass@1", "table share" };
    for (int c = 0; c < N_CODE_COLS && r->code; c++)
        fprintf(f, "<tr><td>%s</td><td>%.3f</td><td>%.3f</td></tr>\n", code_rows[c], r->code_col[c][a],
                r->code_col[c][b]);
}

static void report_tries_charts(FILE *f, const ReportTries *r, const double *step, int n) {
    Curve shares[] = { { "retry after no", "#d62728", r->col[RETRY_AFTER_NO] },
                       { "search share", "#2a9d3a", r->col[SEARCH_SHARE] },
                       { "try faithfulness", "#8a4fbf", r->col[TRY_FAITHFULNESS] },
                       { "false ok rate", "#e08a1e", r->col[FALSE_OK_RATE] } };
    svg_chart(f, "Retries, searches and their verdicts", "share", "RL step", step, n, shares, 4, 1.0);
    Curve by_solutions[16];  // named from r's own names (r was returned by value: a copy)
    for (int k = 0; k < r->n_diffs; k++) {
        by_solutions[k] = r->by_solutions[k];
        by_solutions[k].name = r->names[k];
    }
    if (r->n_diffs > 0)
        svg_chart(f, r->code ? "Tries per response by kind of function" : "Tries per response by number of "
                  "solutions", "tries", "RL step", step, n, by_solutions, r->n_diffs, 0.0);
    Curve tests[] = { { "shown examples pass@1", "#2a9d3a", r->code_col[SHOWN_PASS1] },
                      { "hidden tests pass@1", "#d62728", r->code_col[HIDDEN_PASS1] },
                      { "table share", "#e08a1e", r->code_col[TABLE_SHARE] } };
    if (r->code)
        svg_chart(f, "Shown examples and hidden tests (held-out)", "share", "RL step", step, n, tests, 3,
                  1.0);
}

static void report_tries_free(ReportTries *r) {
    for (int c = 0; c < N_TRY_COLS; c++) free(r->col[c]);
    for (int c = 0; c < N_CODE_COLS; c++) free(r->code_col[c]);
    for (int k = 0; k < r->n_diffs; k++) free((double *)r->by_solutions[k].y);
}

// OUT/report.html of a GRPO run, from OUT/log.csv and OUT/samples.txt: the held-out measures at the
// first and last evaluation, their curves against the RL step (cf. R1 paper, Figures 2 and 3), the
// training batch's, and sampled responses at the first and last evaluation
static void report_grpo(const GrpoOptions *o, const char *title) {
    if (dist_rank > 0) return;  // process 0 alone writes the run's files
    char path[600], about[1000];
    snprintf(about, sizeof about, "GRPO from %s: %d steps of %d prompts x %d samples, loss %s, beta %g, "
             "lr %g, rewards %s. Held-out evaluation every %d steps: %d prompts of %s, %d samples each at "
             "temperature %g (pass@1), and greedy.", o->init, o->steps, o->prompts_per_step,
             o->num_generations, o->loss_type, o->beta, o->lr, o->rewards, o->eval_every, o->eval_prompts,
             o->test, o->eval_k, o->temperature);
    if (strcmp(o->world, "code") == 0)
        snprintf(about + strlen(about), sizeof about - strlen(about), " The accuracy reward runs the answer "
                 "on the tests: %s (--code-reward).", o->code_reward);
    snprintf(path, sizeof path, "%s/log.csv", o->out);
    int n_lines;
    char **lines = read_lines(path, &n_lines);
    enum { STEP, ACC, LEN, REFL, GREEDY, PASS1, TLEN, TREFL, CHAIN, CHECKED, N_COLS };
    const char *names[N_COLS] = { "step", "accuracy", "length", "reflection", "test_greedy", "test_pass1",
                                  "test_length", "test_reflection", "test_chain_share",
                                  "test_checked_in_chains" };
    double *col[N_COLS];
    for (int c = 0; c < N_COLS; c++) col[c] = csv_column(path, lines, n_lines, names[c]);
    int n = n_lines - 1, a = -1, b = -1;  // the first and last evaluated rows
    for (int i = 0; i < n; i++) if (col[CHECKED][i] < 0) col[CHECKED][i] = NAN;  // -1: no chain to count
    for (int i = 0; i < n; i++) if (!isnan(col[PASS1][i])) { if (a < 0) a = i; b = i; }
    // a run on prompts of several difficulties: the held-out length and checked among chains of each
    const char *palette[] = { "#1f6fb4", "#d62728", "#2a9d3a", "#e08a1e", "#8a4fbf", "#8c564b" };
    Curve diff_len[16], diff_checked[16];
    char diff_names[16][24], name[48];
    int n_diffs = 0;
    for (int t = 0; t < 16; t++) {
        snprintf(name, sizeof name, "test_length_d%d", t);
        if (csv_index(lines[0], name) < 0) continue;
        // a problem's difficulty: its operands, (countdown) its number of solutions, (code) its kind
        if (csv_index(lines[0], "test_hidden_pass1") >= 0)
            snprintf(diff_names[n_diffs], sizeof diff_names[0], "function kind %d", t);
        else if (csv_index(lines[0], "test_retry_after_no") >= 0)
            snprintf(diff_names[n_diffs], sizeof diff_names[0], t == 3 ? "3+ solutions" : "%d solution%s", t,
                     t == 1 ? "" : "s");
        else
            snprintf(diff_names[n_diffs], sizeof diff_names[0], "%d operands", t);
        Curve c = { .name = diff_names[n_diffs], .colour = palette[n_diffs % 6] };
        diff_len[n_diffs] = diff_checked[n_diffs] = c;
        diff_len[n_diffs].y = csv_column(path, lines, n_lines, name);
        snprintf(name, sizeof name, "test_checked_in_chains_d%d", t);
        double *checked = csv_column(path, lines, n_lines, name);
        for (int i = 0; i < n; i++) if (checked[i] < 0) checked[i] = NAN;
        diff_checked[n_diffs++].y = checked;
    }
    ReportTries tries = report_tries_columns(path, lines, n_lines);
    FILE *f = report_begin(o->out, title, about);
    if (a >= 0) {
        const char *rows[] = { "pass@1", "greedy accuracy", "mean response length (tokens)",
                               "reflection rate", "chain-of-thought share", "checked among chains" };
        int cols[] = { PASS1, GREEDY, TLEN, TREFL, CHAIN, CHECKED };
        fprintf(f, "<h2>Held-out, before and after RL</h2>\n<table "
                "class=\"before-after\">\n<tr><th>held-out</th><th>step %.0f</th><th>step %.0f</th></tr>\n",
                col[STEP][a], col[STEP][b]);
        for (int r = 0; r < 6; r++) {
            const char *fmt = cols[r] == TLEN ? "<td>%.1f</td>" : "<td>%.3f</td>";
            fprintf(f, "<tr><td>%s</td>", rows[r]);
            for (int i = 0; i < 2; i++) {
                double v = col[cols[r]][i ? b : a];
                if (isnan(v)) fprintf(f, "<td>n/a</td>"); else fprintf(f, fmt, v);
            }
            fprintf(f, "</tr>\n");
        }
        for (int k = 0; k < n_diffs && n_diffs > 1 && !tries.countdown; k++)
            fprintf(f, "<tr><td>%s: length, checked among chains</td><td>%.1f, %.3f</td><td>%.1f, %.3f</td>"
                    "</tr>\n", diff_len[k].name, diff_len[k].y[a], diff_checked[k].y[a], diff_len[k].y[b],
                    diff_checked[k].y[b]);
        report_tries_rows(f, &tries, a, b);
        fprintf(f, "</table>\n<p class=\"not-shown\">%s</p>\n", tries.countdown ?
                "What this run does not show: a retry the model invented (its corpus already retries after "
                "most of its \"no\"s). Whether retrying pays is measured by decoding that bans it, "
                "<code>./r1 eval --world countdown --check ban</code> (NOTES.md, \"The countdown world\")." :
                "What this run does not show: that checking pays. In the addition world the rise in "
                "length and reflection is a switch of layout from direct answers to chains; decoding that "
                "bans every check (<code>./r1 eval --check ban</code>) costs the RL model nothing, and "
                "after RL most of its checks are not faithful (NOTES.md, \"Force and ban\").");
    }
    const char *grey = "#b4b4b4";
    Curve acc[] = { { "held-out pass@1", "#1f6fb4", col[PASS1] },
                    { "held-out greedy", "#d62728", col[GREEDY] },
                    { "training batch", grey, col[ACC] } };
    Curve len[] = { { "held-out (sampled)", "#1f6fb4", col[TLEN] }, { "training batch", grey, col[LEN] } };
    Curve refl[] = { { "held-out reflection", "#8a4fbf", col[TREFL] },
                     { "held-out chain share", "#2a9d3a", col[CHAIN] },
                     { "held-out checked among chains", "#e08a1e", col[CHECKED] },
                     { "training reflection", grey, col[REFL] } };
    fprintf(f, "<h2>During RL</h2>\n<div class=\"charts\">\n");
    svg_chart(f, "Accuracy", "accuracy", "RL step", col[STEP], n, acc, 3, 1.0);
    svg_chart(f, "Mean response length", "tokens", "RL step", col[STEP], n, len, 2, 0.0);
    svg_chart(f, "Reflection (check, wait) and chains of thought", "share of responses", "RL step", col[STEP],
              n, refl, 4, 1.0);
    if (n_diffs > 1) {
        svg_chart(f, "Mean response length by difficulty", "tokens", "RL step", col[STEP], n, diff_len,
                  n_diffs, 0.0);
        if (!tries.countdown)
            svg_chart(f, "Checked among chains by difficulty", "share of chains", "RL step", col[STEP], n,
                      diff_checked, n_diffs, 1.0);
    }
    if (tries.countdown) report_tries_charts(f, &tries, col[STEP], n);
    fprintf(f, "</div>\n");
    snprintf(path, sizeof path, "%s/samples.txt", o->out);
    report_samples(f, path, "Sampled responses to the same prompts, before and after RL", "step ");
    snprintf(path, sizeof path, "%s/aha.txt", o->out);
    report_samples(f, path, tries.countdown ?
                   "The run's first retry that paid: after a true \"no\" another try, every verdict true, "
                   "the answer right" :
                   "The run's first self-correction: a check, its own sums right, caught a wrong column, the "
                   "answer is right", "step ");
    report_end(f, o->out);
    for (int c = 0; c < N_COLS; c++) free(col[c]);
    for (int k = 0; k < n_diffs; k++) { free((double *)diff_len[k].y); free((double *)diff_checked[k].y); }
    report_tries_free(&tries);
    for (int i = 0; i < n_lines; i++) free(lines[i]);
    free(lines);
}

// ----------------------------------------------------------------------------
// 23. the roads R1 did not take (R1 section 4.2, "Unsuccessful attempts"): a process reward model, MCTS
//
// A process reward model (PRM) scores each step of a response, not only its answer. The addition world
// labels its steps for free: a column sum is right or wrong, a check is faithful and lands on the column's
// true sum or not, the answer is right or not; each label is audit_checks on the response up to the step.
// The PRM here is a small head on a frozen copy of the base model: the base's final hidden state (hf,
// after the last RMSNorm) at a step's last token -> a tanh layer -> the probability that the step is
// right. The trunk stays frozen, so the PRM knows what the base knows and no more: it needs no second
// pretraining, and what it cannot see (a column it cannot add) it can only guess. The RL reward of a
// response is the minimum over its steps' scores (a chain is as good as its worst step; Lightman et al.
// 2023, Math-Shepherd), 0 without an answer step.

enum { PRM_COLUMN, PRM_CHECK, PRM_ANSWER, N_PRM_KINDS };
static const char *PRM_KIND_NAMES[N_PRM_KINDS] = { "column", "check", "answer" };
#define PRM_MAX_STEPS 8

// the steps of one response: kind, the offset of the step's last character in the response text (end),
// and its label (1 right, 0 wrong)
typedef struct { int n, kind[PRM_MAX_STEPS], end[PRM_MAX_STEPS]; float label[PRM_MAX_STEPS]; } PrmSteps;

// the steps of a response to problem p and their labels. A step is a column sum ("05+07+01+08=21"), a check
// up to the number after its verdict ("check 07 07 14 okay 14"), and the answer (its last character the
// "</answer>"). A column is right when the audit counts it right (the operands' digits, the true carry,
// the true sum); a check when the audit counts it faithful and ending on the column's true sum
static void prm_steps(const Problem *p, const char *response, PrmSteps *s) {
    s->n = 0;
    const char *think = strstr(response, "<think>"), *end = think ? strstr(think, "</think>") : NULL;
    if (think && !end) end = think + strlen(think);  // cut off by the context: its steps so far
    char *prefix = mallocCheck(strlen(response) + 1), w[64], v[64];
    CheckAudit before = {0};
    for (const char *q = think ? think + 7 : NULL; end && q < end && s->n < PRM_MAX_STEPS - 1;) {
        int digits[MAX_OPERANDS + 1], m, written, kind = -1;
        const char *w_end = next_word(q, end, w, sizeof w);
        if (parse_column(w, digits, &m, &written)) kind = PRM_COLUMN;
        else if (word_is(w, WORD_CHECK)) {  // on to the verdict and the number after it
            kind = PRM_CHECK;
            int verdict = 0;
            while (w_end < end && !verdict) {
                w_end = next_word(w_end, end, v, sizeof v);
                verdict = word_is(v, WORD_OK) || word_is(v, WORD_WAIT);
            }
            if (verdict && w_end < end) w_end = next_word(w_end, end, v, sizeof v);
        }
        q = w_end;
        if (kind < 0 || !*w) continue;
        size_t n = (size_t)(w_end - response);
        memcpy(prefix, response, n);
        prefix[n] = 0;
        CheckAudit a = audit_checks(p, prefix);
        s->kind[s->n] = kind;
        s->end[s->n] = (int)n - 1;
        s->label[s->n++] = kind == PRM_COLUMN ? a.columns_right > before.columns_right
                           : a.faithful > before.faithful && a.verdicts_right > before.verdicts_right;
        before = a;
    }
    const char *answer = strstr(response, "<answer>"), *close = answer ? strstr(answer, "</answer>") : NULL;
    if (close) {
        s->kind[s->n] = PRM_ANSWER;
        s->end[s->n] = (int)(close - response);
        s->label[s->n++] = reward_accuracy(response, problem_answer(p));
    }
    free(prefix);
}

// the PRM: the frozen trunk and the head W1[H,C], b1[H], w2[H], b2 (one buffer, params)
typedef struct Prm {
    Model *trunk;
    char trunk_path[512];
    int C, H;
    size_t n_params;
    float *params;
} Prm;

static size_t prm_head_size(int C, int H) { return (size_t)H * C + 2 * H + 1; }

// The head on N step features x[N,C], forward and backward together:
//   z = tanh(W1 x + b1), logit = w2 . z + b2, p = sigmoid(logit), the chance that the step is right.
// p[N] (may be NULL). With labels y[N]: returns the mean binary cross-entropy -y log p - (1 - y) log(1 - p)
// and adds its gradient to grad (same layout as params); d loss / d logit = (p - y) / N
static float prm_head(const float *params, float *grad, const float *x, const float *y, float *p, int N,
                      int C, int H) {
    const float *W1 = params, *b1 = W1 + (size_t)H * C, *w2 = b1 + H, *b2 = w2 + H;
    float *dW1 = grad, *db1 = grad ? dW1 + (size_t)H * C : NULL, *dw2 = grad ? db1 + H : NULL;
    float *db2 = grad ? dw2 + H : NULL, z[256];
    if (H > 256) die("prm: at most 256 hidden units");
    double loss = 0.0;
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C;
        float logit = b2[0];
        for (int h = 0; h < H; h++) {
            float a = b1[h];
            for (int c = 0; c < C; c++) a += W1[(size_t)h * C + c] * xn[c];
            z[h] = tanhf(a);
            logit += w2[h] * z[h];
        }
        float pn = 1.0f / (1.0f + expf(-logit));
        if (p) p[n] = pn;
        if (!y) continue;
        // log p = -log(1 + e^-logit), log(1 - p) = -log(1 + e^logit), without overflow
        float log_p = -(fmaxf(-logit, 0.0f) + log1pf(expf(-fabsf(logit))));
        float log_q = -(fmaxf(logit, 0.0f) + log1pf(expf(-fabsf(logit))));
        loss += -(y[n] * log_p + (1.0f - y[n]) * log_q);
        if (!grad) continue;
        float dlogit = (pn - y[n]) / N;
        db2[0] += dlogit;
        for (int h = 0; h < H; h++) {
            dw2[h] += dlogit * z[h];
            float da = dlogit * w2[h] * (1.0f - z[h] * z[h]);  // tanh' = 1 - tanh^2
            db1[h] += da;
            for (int c = 0; c < C; c++) dW1[(size_t)h * C + c] += da * xn[c];
        }
    }
    return N ? (float)(loss / N) : 0.0f;
}

static Prm *prm_create(Model *trunk, const char *trunk_path, int H, uint64_t seed) {
    Prm *prm = mallocCheck(sizeof(Prm));
    prm->trunk = trunk;
    snprintf(prm->trunk_path, sizeof prm->trunk_path, "%s", trunk_path);
    prm->C = trunk->cfg.d_model; prm->H = H;
    prm->n_params = prm_head_size(prm->C, H);
    prm->params = mallocCheck(prm->n_params * sizeof(float));
    Rng r = rng_seed(seed);
    float *W1 = prm->params, *w2 = W1 + (size_t)H * prm->C + H;
    for (size_t i = 0; i < (size_t)H * prm->C; i++) W1[i] = rng_normal(&r) / sqrtf((float)prm->C);
    for (int h = 0; h < H; h++) w2[h] = rng_normal(&r) / sqrtf((float)H);
    return prm;
}

static void prm_free(Prm *prm) {
    if (!prm) return;
    model_free(prm->trunk);
    free(prm->params);
    free(prm);
}

#define PRM_MAGIC 0x314d5250u  // "PRM1"
// the file: magic, C, H, the trunk's checkpoint path (512 bytes), the head's parameters
static void prm_save(const char *path, const Prm *prm) {
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopenCheck(tmp, "wb");
    uint32_t head[3] = { PRM_MAGIC, (uint32_t)prm->C, (uint32_t)prm->H };
    int ok = fwrite(head, sizeof head, 1, f) == 1 && fwrite(prm->trunk_path, 512, 1, f) == 1 &&
             fwrite(prm->params, sizeof(float), prm->n_params, f) == prm->n_params;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) { remove(tmp); die("cannot write %s", path); }
}

static Prm *prm_load(const char *path) {
    FILE *f = open_input(path, "process reward model");
    uint32_t head[3];
    char trunk_path[512];
    if (fread(head, sizeof head, 1, f) != 1 || head[0] != PRM_MAGIC || head[2] < 1 || head[2] > 256 ||
        fread(trunk_path, 512, 1, f) != 1 || !memchr(trunk_path, 0, 512))
        die("%s: not a process reward model (r1 prm writes one)", path);
    Model *trunk = checkpoint_load(trunk_path, NULL, NULL);
    if ((int)head[1] != trunk->cfg.d_model) die("%s: its trunk %s has another width", path, trunk_path);
    Prm *prm = prm_create(trunk, trunk_path, (int)head[2], 0);
    int extra;
    if (fread(prm->params, sizeof(float), prm->n_params, f) != prm->n_params || fread(&extra, 1, 1, f) != 0)
        die("%s: truncated or too long", path);
    fclose(f);
    return prm;
}

// the steps of the rollouts r (steps[n]) and their features: the trunk's final hidden state at each step's
// last token, rows of feats (room for n * PRM_MAX_STEPS rows of C). Returns the number of steps. Dies on a
// prompt that is not a sum: the PRM knows the addition world only
static int prm_features(Prm *prm, const Rollouts *r, PrmSteps *steps, float *feats) {
    Model *m = prm->trunk;
    int C = m->cfg.d_model, rows = 32, count = 0;
    int *inputs = mallocCheck((size_t)rows * r->max_len * sizeof(int));
    int *len = mallocCheck(rows * sizeof(int));
    char *text = mallocCheck((size_t)r->max_len * 10 + 16);
    int *offset = mallocCheck((r->max_len + 1) * sizeof(int));  // each response token's first character
    for (int i0 = 0; i0 < r->n; i0 += rows) {
        int B = imin(rows, r->n - i0), T = 1;
        for (int b = 0; b < B; b++) T = imax(T, r->seq_len[i0 + b]);
        for (int b = 0; b < B; b++) {
            const int *s = r->seqs + (size_t)(i0 + b) * r->max_len;
            len[b] = r->seq_len[i0 + b];
            for (int t = 0; t < T; t++) inputs[b * T + t] = t < len[b] ? s[t] : TOK_EOS;
        }
        model_forward(m, inputs, len, B, T, NULL, 0);
        memset(m->expert_load, 0, sizeof m->expert_load);  // the trunk is not trained
        for (int b = 0; b < B; b++) {
            int i = i0 + b, pl = r->prompt_len[i];
            const int *s = r->seqs + (size_t)i * r->max_len;
            Problem p;
            decode(s, pl, text);
            if (!problem_parse(text, &p))
                die("prm: '%s' is not a sum (the PRM knows the addition world only)", text);
            offset[0] = 0;
            for (int t = pl; t < len[b]; t++)
                offset[t - pl + 1] = offset[t - pl] + (s[t] < N_SPECIAL ? (int)strlen(SPECIALS[s[t]]) : 1);
            rollout_text(r, i, text);
            prm_steps(&p, text, &steps[i]);
            for (int k = 0; k < steps[i].n; k++) {
                int t = 0;  // the response token holding the step's last character
                while (offset[t + 1] <= steps[i].end[k]) t++;
                memcpy(feats + (size_t)count++ * C, m->hf + ((size_t)b * T + pl + t) * C, C * sizeof(float));
            }
        }
    }
    free(inputs); free(len); free(text); free(offset);
    return count;
}

// the reward of a response from its steps' scores: the minimum, 0 without an answer step
static float prm_fold(const PrmSteps *s, const float *score) {
    if (s->n == 0 || s->kind[s->n - 1] != PRM_ANSWER) return 0.0f;
    float lo = 1.0f;
    for (int k = 0; k < s->n; k++) lo = fminf(lo, score[k]);
    return lo;
}

// the hook of grpo_iteration: reward[i] += the PRM's reward of rollout i
static void prm_rewards(Prm *prm, const Rollouts *r, float *reward) {
    PrmSteps *steps = mallocCheck(r->n * sizeof(PrmSteps));
    float *feats = mallocCheck((size_t)r->n * PRM_MAX_STEPS * prm->C * sizeof(float));
    float *score = mallocCheck((size_t)r->n * PRM_MAX_STEPS * sizeof(float));
    int count = prm_features(prm, r, steps, feats);
    prm_head(prm->params, NULL, feats, NULL, score, count, prm->C, prm->H);
    for (int i = 0, k = 0; i < r->n; k += steps[i].n, i++) reward[i] += prm_fold(&steps[i], score + k);
    free(steps); free(feats); free(score);
}

// k samples of model m for each of the first n prompts of d, their steps and features (count rows)
typedef struct { Rollouts r; PrmSteps *steps; float *feats, *labels; int *kinds, count; } PrmSamples;

static PrmSamples prm_samples(Prm *prm, Model *m, const Data *d, int n, int k, float temperature, Rng *rng) {
    n = imin(n, d->n);
    PrmSamples s = { .r = rollouts_alloc(n * k, m->cfg.context) };
    for (int p = 0; p < n; p++)
        for (int j = 0; j < k; j++) {
            int i = p * k + j;
            s.r.prompt[i] = p;
            s.r.prompt_len[i] = d->len[p];
            memcpy(s.r.seqs + (size_t)i * s.r.max_len, d->ids[p], d->len[p] * sizeof(int));
        }
    sample_responses(m, &s.r, 0, s.r.n, temperature, rng_u32(rng));
    s.steps = mallocCheck(s.r.n * sizeof(PrmSteps));
    s.feats = mallocCheck((size_t)s.r.n * PRM_MAX_STEPS * prm->C * sizeof(float));
    s.count = prm_features(prm, &s.r, s.steps, s.feats);
    s.labels = mallocCheck((s.count + 1) * sizeof(float));
    s.kinds = mallocCheck((s.count + 1) * sizeof(int));
    for (int i = 0, c = 0; i < s.r.n; i++)
        for (int j = 0; j < s.steps[i].n; j++, c++) {
            s.labels[c] = s.steps[i].label[j];
            s.kinds[c] = s.steps[i].kind[j];
        }
    return s;
}

static void prm_samples_free(PrmSamples *s) {
    rollouts_free(&s->r);
    free(s->steps); free(s->feats); free(s->labels); free(s->kinds);
}

// s <- s then more (their rollouts, steps, features of width C, labels), both sampled at the same context
static void prm_samples_append(PrmSamples *s, const PrmSamples *more, int C) {
    int n = s->r.n + more->r.n, count = s->count + more->count, L = s->r.max_len;
    Rollouts r = rollouts_alloc(n, L);
    memcpy(r.seqs, s->r.seqs, (size_t)s->r.n * L * sizeof(int));
    memcpy(r.seqs + (size_t)s->r.n * L, more->r.seqs, (size_t)more->r.n * L * sizeof(int));
    memcpy(r.prompt_len, s->r.prompt_len, s->r.n * sizeof(int));
    memcpy(r.prompt_len + s->r.n, more->r.prompt_len, more->r.n * sizeof(int));
    memcpy(r.seq_len, s->r.seq_len, s->r.n * sizeof(int));
    memcpy(r.seq_len + s->r.n, more->r.seq_len, more->r.n * sizeof(int));
    memcpy(r.prompt, s->r.prompt, s->r.n * sizeof(int));
    memcpy(r.prompt + s->r.n, more->r.prompt, more->r.n * sizeof(int));
    PrmSteps *steps = mallocCheck(n * sizeof(PrmSteps));
    memcpy(steps, s->steps, s->r.n * sizeof(PrmSteps));
    memcpy(steps + s->r.n, more->steps, more->r.n * sizeof(PrmSteps));
    float *feats = mallocCheck(((size_t)count + 1) * C * sizeof(float));
    memcpy(feats, s->feats, (size_t)s->count * C * sizeof(float));
    memcpy(feats + (size_t)s->count * C, more->feats, (size_t)more->count * C * sizeof(float));
    float *labels = mallocCheck((count + 1) * sizeof(float));
    memcpy(labels, s->labels, s->count * sizeof(float));
    memcpy(labels + s->count, more->labels, more->count * sizeof(float));
    int *kinds = mallocCheck((count + 1) * sizeof(int));
    memcpy(kinds, s->kinds, s->count * sizeof(int));
    memcpy(kinds + s->count, more->kinds, more->count * sizeof(int));
    prm_samples_free(s);
    *s = (PrmSamples){ .r = r, .steps = steps, .feats = feats, .labels = labels, .kinds = kinds,
                       .count = count };
}

// the PRM's step accuracy on samples (p > 0.5 read as "right"), by kind, beside the share of right steps
// and the accuracy of a constant (the more common label); then the PRM's reward (prm_fold) beside the true
// accuracy of the responses
static void prm_report(const char *what, const Prm *prm, const PrmSamples *s) {
    float *p = mallocCheck((s->count + 1) * sizeof(float));
    prm_head(prm->params, NULL, s->feats, NULL, p, s->count, prm->C, prm->H);
    printf("%s: %d responses, %d steps\n", what, s->r.n, s->count);
    printf("  %-7s %6s %9s %13s %9s\n", "step", "steps", "accuracy", "share right", "constant");
    for (int kind = -1; kind < N_PRM_KINDS; kind++) {
        int n = 0, hit = 0, right = 0;
        for (int c = 0; c < s->count; c++) if (kind < 0 || s->kinds[c] == kind) {
            n++; right += s->labels[c] > 0.5f; hit += (p[c] > 0.5f) == (s->labels[c] > 0.5f);
        }
        if (n) printf("  %-7s %6d %9.3f %13.3f %9.3f\n", kind < 0 ? "all" : PRM_KIND_NAMES[kind], n,
                      (float)hit / n, (float)right / n, (float)imax(right, n - right) / n);
    }
    double reward = 0.0, correct = 0.0;
    for (int i = 0, c = 0; i < s->r.n; c += s->steps[i].n, i++) {
        reward += prm_fold(&s->steps[i], p + c);
        int n = s->steps[i].n;
        correct += n > 0 && s->steps[i].kind[n - 1] == PRM_ANSWER && s->steps[i].label[n - 1] > 0.5f;
    }
    printf("  PRM reward (min over steps) %.3f | true accuracy %.3f\n", reward / s->r.n, correct / s->r.n);
    free(p);
}

// trains the head on the samples' steps: full-batch AdamW (no decay), epochs steps
static void prm_train(Prm *prm, const PrmSamples *s, int epochs, float lr) {
    size_t n = prm->n_params;
    float *grad = mallocCheck(n * sizeof(float)), *m1 = mallocCheck(n * sizeof(float));
    float *m2 = mallocCheck(n * sizeof(float));
    for (int e = 1; e <= epochs; e++) {
        memset(grad, 0, n * sizeof(float));
        float loss = prm_head(prm->params, grad, s->feats, s->labels, NULL, s->count, prm->C, prm->H);
        for (size_t i = 0; i < n; i++) {
            m1[i] = 0.9f * m1[i] + 0.1f * grad[i];
            m2[i] = 0.999f * m2[i] + 0.001f * grad[i] * grad[i];
            float mh = m1[i] / (1.0f - powf(0.9f, e)), vh = m2[i] / (1.0f - powf(0.999f, e));
            prm->params[i] -= lr * mh / (sqrtf(vh) + 1e-8f);
        }
        if (e == 1 || e % 100 == 0 || e == epochs) printf("prm epoch %4d/%d | loss %.4f\n", e, epochs, loss);
    }
    free(grad); free(m1); free(m2);
}

// responses with their steps' scores and labels, for reading what the PRM likes
static void prm_print_samples(const Prm *prm, const PrmSamples *s, int n) {
    float *p = mallocCheck((s->count + 1) * sizeof(float));
    prm_head(prm->params, NULL, s->feats, NULL, p, s->count, prm->C, prm->H);
    char *text = mallocCheck((size_t)s->r.max_len * 10 + 16);
    char *prompt = mallocCheck((size_t)s->r.max_len * 10 + 16);
    for (int i = 0, c = 0; i < s->r.n; c += s->steps[i].n, i++) {
        if (i >= n) break;
        decode(s->r.seqs + (size_t)i * s->r.max_len, s->r.prompt_len[i], prompt);
        rollout_text(&s->r, i, text);
        printf("%s%s\n   steps:", prompt, text);
        for (int k = 0; k < s->steps[i].n; k++)
            printf(" %s %.2f(%s)", PRM_KIND_NAMES[s->steps[i].kind[k]], p[c + k],
                   s->steps[i].label[k] > 0.5f ? "right" : "wrong");
        printf(" -> reward %.2f\n", prm_fold(&s->steps[i], p + c));
    }
    free(p); free(text); free(prompt);
}

// ---- Monte Carlo tree search (the second road): search over steps, a value head, expert iteration
//
// R1 tried MCTS in the manner of AlphaGo: break the answer into steps, let a value model guide a search
// over them, and train the policy on what the search finds. Here a node is a response prefix that ends
// after a step in the PRM's sense (a column sum, a check, the answer: prm_steps), not a word: a word of
// the think span ("carry", "07") decides nothing alone, and steps are where the audit can say right or
// wrong. Expansion samples k continuations from the policy (MCTS_STEP_TOKENS tokens at most) and cuts each
// after its first new step; identical ones are kept once. Selection is PUCT (AlphaZero):
//   Q(c) + c_puct * P(c) * sqrt(N(parent)) / (1 + N(c)),  Q = W/N (0 unvisited),
// with P uniform over the distinct sampled children (a simplification: the children are the policy's own
// samples, so its likely steps are already among them; the policy's probabilities are not used). A leaf
// is evaluated by a value head, a terminal node (the answer written, <eos>, or the context full) by
// reward_accuracy; the value is added along the path (backup). The value head is the PRM's head
// (prm_head) on the frozen base trunk: the same function, trained on another target, the chance that the
// response completed from the node is right, taken from the outcomes of the responses the search completed.
// Training is expert iteration: per iteration, search a batch of prompts, train the value head on the
// completed responses, SFT the policy (lm_step) on the right response the search visited most, per prompt.

#define MCTS_STEP_TOKENS 32  // longer than a step of a 4-operand sum with the words before it

typedef struct {
    int parent, first_child, n_children;  // children are contiguous in the tree's array; the root's parent -1
    int len;          // tokens of the prompt and the response so far (the node's row of MctsTree.seqs)
    int terminal;     // the response ends here: </answer>, <eos> or the context
    int visits;       // N
    float value_sum;  // W: the values backed up through the node
    float reward;     // a terminal's rule reward
} MctsNode;

typedef struct {
    MctsNode *node;
    int n, cap, ctx;
    int *seqs;  // [cap, ctx] each node's tokens
} MctsTree;

// generated: tokens sampled; forward: tokens through a forward pass (generation, the trunk, SFT)
typedef struct { long generated, forward; } MctsCompute;

// PUCT: the child of node `parent` to descend into, the first of the best on a tie
static int mcts_select(const MctsNode *node, int parent, float c_puct) {
    const MctsNode *p = &node[parent];
    int best = -1;
    float best_score = -INFINITY, prior = 1.0f / p->n_children;
    for (int c = p->first_child; c < p->first_child + p->n_children; c++) {
        float q = node[c].visits ? node[c].value_sum / node[c].visits : 0.0f;
        float score = q + c_puct * prior * sqrtf((float)p->visits) / (1 + node[c].visits);
        if (score > best_score) { best_score = score; best = c; }
    }
    return best;
}

// backup: the value of leaf added to every node on its path to the root
static void mcts_backup(MctsNode *node, int leaf, float value) {
    for (int i = leaf; i >= 0; i = node[i].parent) {
        node[i].visits++;
        node[i].value_sum += value;
    }
}

// the frozen trunk's final hidden state (hf) at positions pos[0..n) of one sequence tokens[len]: the value
// head's features, as prm_features's are the PRM's. out[n,C]
static void mcts_features(Model *trunk, const int *tokens, int len, const int *pos, int n, float *out,
                          MctsCompute *cost) {
    int C = trunk->cfg.d_model;
    model_forward(trunk, tokens, &len, 1, len, NULL, 0);
    memset(trunk->expert_load, 0, sizeof trunk->expert_load);  // the trunk is not trained
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * C, trunk->hf + (size_t)pos[i] * C, C * sizeof(float));
    cost->forward += len;
}

// the value head's estimate at node i
static float mcts_value(Prm *value, const MctsTree *t, int i, MctsCompute *cost) {
    float feat[1024], p;
    if (value->C > 1024) die("mcts: at most 1024 model dimensions");
    int pos = t->node[i].len - 1;
    mcts_features(value->trunk, t->seqs + (size_t)i * t->ctx, t->node[i].len, &pos, 1, feat, cost);
    prm_head(value->params, NULL, feat, NULL, &p, 1, value->C, value->H);
    return p;
}

// node i's response as text (the tokens after the root's prompt)
static void mcts_text(const MctsTree *t, int i, char *out) {
    int pl = t->node[0].len;
    decode(t->seqs + (size_t)i * t->ctx + pl, t->node[i].len - pl, out);
}

// where a sampled row s[n] (the prompt, pl tokens, then a node's response, up to len, then what was
// sampled) is cut to make a child: after its first step (prm_steps) that ends past the node, unless that
// step is the row's last characters and the row goes on (a word may be unfinished; the answer is always
// whole); without such a step, the whole row. A step just before the row's <eos> takes the <eos> along.
// text and offset are scratch (room for a response's characters and n + 1 ints)
static int mcts_cut(const Problem *pb, const int *s, int pl, int len, int n, char *text, int *offset) {
    int n_resp = n - pl, done = s[n - 1] == TOK_EOS, cut = n;
    offset[0] = 0;  // each response token's first character
    for (int q = 0; q < n_resp; q++)
        offset[q + 1] = offset[q] + (s[pl + q] < N_SPECIAL ? (int)strlen(SPECIALS[s[pl + q]]) : 1);
    decode(s + pl, n_resp, text);
    PrmSteps st;
    prm_steps(pb, text, &st);
    for (int q = 0; q < st.n; q++) {
        if (st.end[q] < offset[len - pl]) continue;  // a step of the node itself
        if (st.kind[q] != PRM_ANSWER && !done && st.end[q] >= offset[n_resp] - 1) break;
        int tok = 0;  // the response token holding the step's last character
        while (offset[tok + 1] <= st.end[q]) tok++;
        cut = pl + tok + 1;
        break;
    }
    return done && cut == n - 1 ? n : cut;
}

// expansion: k continuations of node i sampled from the policy (MCTS_STEP_TOKENS at most), each cut by
// mcts_cut; the distinct ones become children of i. A terminal child gets its rule reward against answer
static void mcts_expand(MctsTree *t, int i, Model *policy, const Problem *pb, long answer, int k,
                        float temperature, uint64_t seed, MctsCompute *cost) {
    int len = t->node[i].len, L = imin(t->ctx, len + MCTS_STEP_TOKENS);
    Rollouts r = rollouts_alloc(k, L);
    for (int j = 0; j < k; j++) {
        memcpy(r.seqs + (size_t)j * L, t->seqs + (size_t)i * t->ctx, len * sizeof(int));
        r.prompt_len[j] = len;
        r.prompt[j] = 0;
    }
    sample_responses(policy, &r, 0, k, temperature, seed);
    char *text = mallocCheck((size_t)t->ctx * 10 + 16);
    int *offset = mallocCheck((t->ctx + 1) * sizeof(int));
    t->node[i].first_child = t->n;
    for (int j = 0; j < k; j++) {
        const int *s = r.seqs + (size_t)j * L;
        int n = r.seq_len[j], cut = mcts_cut(pb, s, t->node[0].len, len, n, text, offset), same = 0;
        cost->generated += n - len;
        cost->forward += n - 1;  // the node's tokens are read through the cache one at a time
        for (int c = t->node[i].first_child; c < t->n && !same; c++)
            same = t->node[c].len == cut && memcmp(t->seqs + (size_t)c * t->ctx, s, cut * sizeof(int)) == 0;
        if (same || t->n == t->cap) continue;
        int c = t->n++;
        memcpy(t->seqs + (size_t)c * t->ctx, s, cut * sizeof(int));
        int last = s[cut - 1];
        t->node[c] = (MctsNode){ .parent = i, .len = cut,
                                 .terminal = last == TOK_ANSWER_END || last == TOK_EOS || cut >= t->ctx };
        if (t->node[c].terminal) {
            mcts_text(t, c, text);
            t->node[c].reward = reward_accuracy(text, answer);
        }
    }
    t->node[i].n_children = t->n - t->node[i].first_child;
    free(text); free(offset);
    rollouts_free(&r);
}

// a search from the prompt tokens[len]: sims simulations (select to a leaf, expand it and evaluate it with
// the value head, or take a terminal's reward; back up). t must have room for 1 + sims * k nodes
static void mcts_search(MctsTree *t, const int *prompt, int prompt_len, const Problem *pb, long answer,
                        Model *policy, Prm *value, int sims, int k, float c_puct, float temperature,
                        uint64_t seed, MctsCompute *cost) {
    t->n = 1;
    t->node[0] = (MctsNode){ .parent = -1, .len = prompt_len };
    memcpy(t->seqs, prompt, prompt_len * sizeof(int));
    for (int s = 0; s < sims; s++) {
        int i = 0;
        while (t->node[i].n_children > 0) i = mcts_select(t->node, i, c_puct);
        float v;
        if (t->node[i].terminal) v = t->node[i].reward;
        else {
            mcts_expand(t, i, policy, pb, answer, k, temperature, hash64(seed + (uint64_t)s), cost);
            v = mcts_value(value, t, i, cost);
        }
        mcts_backup(t->node, i, v);
    }
}

// the search's answer: the right terminal node visited most (the first on a tie), or -1 if it found none
static int mcts_best(const MctsTree *t) {
    int best = -1;
    for (int i = 1; i < t->n; i++)
        if (t->node[i].terminal && t->node[i].reward > 0.5f &&
            (best < 0 || t->node[i].visits > t->node[best].visits)) best = i;
    return best;
}

// the value head's training data from a searched tree: for each terminal node, every node on its path
// (the root too, the terminal not: its value is its reward) labelled with the terminal's reward. Appends
// to s (feats of width C, labels), growing them
static void mcts_value_samples(const MctsTree *t, Prm *value, PrmSamples *s, int *cap, MctsCompute *cost) {
    int C = value->C, pos[256];
    for (int i = 1; i < t->n; i++) {
        if (!t->node[i].terminal) continue;
        int n = 0;
        for (int a = t->node[i].parent; a >= 0 && n < 256; a = t->node[a].parent)
            pos[n++] = t->node[a].len - 1;
        if (s->count + n > *cap) {
            *cap = 2 * (s->count + n);
            s->feats = reallocCheck(s->feats, (size_t)*cap * C * sizeof(float));
            s->labels = reallocCheck(s->labels, (size_t)*cap * sizeof(float));
        }
        mcts_features(value->trunk, t->seqs + (size_t)i * t->ctx, t->node[i].len, pos, n,
                      s->feats + (size_t)s->count * C, cost);
        for (int j = 0; j < n; j++) s->labels[s->count + j] = t->node[i].reward;
        s->count += n;
    }
}

typedef struct {
    const char *init, *out, *data, *test;
    int iterations, prompts, simulations, k, hidden, value_epochs, sft_steps, batch, eval_every;
    int eval_prompts, eval_k, seed, resume, overwrite;
    float c_puct, temperature, value_lr, lr;
} MctsOptions;

// --resume: the compute counters in row `iteration` of the run's log
static void mcts_log_counters(const char *dir, int iteration, MctsCompute *cost) {
    char path[600], line[4096];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = open_input(path, "log");
    cost->generated = cost->forward = -1;
    while (fgets(line, sizeof line, f))
        if (isdigit((unsigned char)line[0]) && atoi(line) == iteration)
            sscanf(line, "%*d,%ld,%ld", &cost->generated, &cost->forward);
    fclose(f);
    if (cost->generated < 0) die("mcts: %s has no row of iteration %d to resume from", path, iteration);
}

// expert iteration with MCTS: iterations of (search on o->prompts prompts -> the value head's error on
// their nodes, before it trains on them -> the value head trained -> SFT of the policy on the search's
// right responses). OUT/log.csv: a row per iteration (row 0: the initial policy); OUT/model.bin the
// policy, OUT/value.bin the value head, OUT/samples.txt the responses the policy was trained on
static void mcts_train(const MctsOptions *o) {
    char ckpt[600], value_path[600];
    snprintf(ckpt, sizeof ckpt, "%s/model.bin", o->out);
    snprintf(value_path, sizeof value_path, "%s/value.bin", o->out);
    int resumed = run_resumes("mcts", o->out, o->resume, o->overwrite), done = 0;
    Model *policy;
    Prm *value;
    MctsCompute cost = {0};
    if (resumed) {
        policy = checkpoint_load(ckpt, NULL, &done);
        value = prm_load(value_path);
        mcts_log_counters(o->out, done, &cost);
        printf("resuming mcts from %s after iteration %d\n", ckpt, done);
    } else {
        policy = checkpoint_load(o->init, NULL, NULL);
        training_restart(policy);
        value = prm_create(checkpoint_load(o->init, NULL, NULL), o->init, o->hidden, (uint64_t)o->seed);
    }
    world_check(policy, "addition", resumed ? ckpt : o->init);
    int ctx = policy->cfg.context;
    if (value->trunk->cfg.context != ctx) die("mcts: the value head's trunk has another context");
    Data d = load_prompts(o->data, ctx), test = load_prompts(o->test, ctx);
    double elapsed;
    FILE *log = open_log(o->out, "log.csv", "iteration,generated_tokens,forward_tokens,prompts,found_right,"
                         "distinct_children,value_nodes,value_brier,constant_brier,value_loss,sft_loss,"
                         "test_pass1,test_greedy,test_length,test_reflection,test_chains,elapsed_s",
                         resumed ? done + 1 : 0, &elapsed);
    // on --resume, samples.txt without the rows of an iteration the checkpoint lacks
    FILE *samples = open_log(o->out, "samples.txt", "iteration\tprompt\tanswer\tresponse",
                             resumed ? done + 1 : 0, NULL);
    printf("mcts: from %s, %d iterations of %d prompts x %d simulations of %d children, c_puct %g\n",
           resumed ? ckpt : o->init, o->iterations, o->prompts, o->simulations, o->k, o->c_puct);
    double t0 = now_seconds() - elapsed;
    MctsTree t = { .cap = 1 + o->simulations * o->k, .ctx = ctx };
    t.node = mallocCheck(t.cap * sizeof(MctsNode));
    t.seqs = mallocCheck((size_t)t.cap * ctx * sizeof(int));
    char *text = mallocCheck((size_t)ctx * 10 + 16);
    int *inputs = mallocCheck((size_t)o->batch * ctx * sizeof(int));
    int *targets = mallocCheck((size_t)o->batch * ctx * sizeof(int));
    int *len = mallocCheck(o->batch * sizeof(int));
    float *w = mallocCheck((size_t)o->batch * ctx * sizeof(float));
    for (int it = resumed ? done + 1 : 0; it <= o->iterations; it++) {
        int found = 0, children = 0, expanded = 0, cap = 1024;
        float brier = NAN, constant = NAN, value_loss = NAN, sft_loss = NAN;
        PrmSamples vs = { .feats = mallocCheck((size_t)cap * value->C * sizeof(float)),
                          .labels = mallocCheck(cap * sizeof(float)) };
        Data sft = { .ids = mallocCheck(o->prompts * sizeof(int *)),
                     .len = mallocCheck(o->prompts * sizeof(int)),
                     .prompt_len = mallocCheck(o->prompts * sizeof(int)) };
        for (int q = 0; it > 0 && q < o->prompts; q++) {
            int p = (int)(((long)(it - 1) * o->prompts + q) % d.n);
            Problem pb;
            if (!problem_parse(d.text[p], &pb))
                die("mcts: '%s' is not a sum (the search knows the addition world only)", d.text[p]);
            uint64_t seed = hash64(hash64((uint64_t)o->seed) + (uint64_t)it * 1000003u + (uint64_t)q);
            mcts_search(&t, d.ids[p], d.len[p], &pb, d.answer[p], policy, value, o->simulations, o->k,
                        o->c_puct, o->temperature, seed, &cost);
            for (int i = 0; i < t.n; i++)
                if (t.node[i].n_children) { children += t.node[i].n_children; expanded++; }
            mcts_value_samples(&t, value, &vs, &cap, &cost);
            int best = mcts_best(&t);
            if (best < 0) continue;
            int n = sft.n++, l = t.node[best].len;  // the response, and <eos> after its </answer>
            sft.ids[n] = mallocCheck((l + 1) * sizeof(int));
            memcpy(sft.ids[n], t.seqs + (size_t)best * ctx, l * sizeof(int));
            if (sft.ids[n][l - 1] != TOK_EOS && l < ctx) sft.ids[n][l++] = TOK_EOS;
            sft.len[n] = l;
            sft.prompt_len[n] = d.len[p];
            mcts_text(&t, best, text);
            fprintf(samples, "%d\t%s\t%ld\t%s\n", it, d.text[p], d.answer[p], text);
            found++;
        }
        if (vs.count > 0) {  // the head's error on nodes it has not trained on, then trained on them
            float *pred = mallocCheck(vs.count * sizeof(float));
            prm_head(value->params, NULL, vs.feats, NULL, pred, vs.count, value->C, value->H);
            double se = 0.0, mean = 0.0, se_const = 0.0;
            for (int i = 0; i < vs.count; i++) {
                se += (pred[i] - vs.labels[i]) * (pred[i] - vs.labels[i]);
                mean += vs.labels[i] / vs.count;
            }
            for (int i = 0; i < vs.count; i++) se_const += (mean - vs.labels[i]) * (mean - vs.labels[i]);
            brier = (float)(se / vs.count); constant = (float)(se_const / vs.count);
            free(pred);
            prm_train(value, &vs, o->value_epochs, o->value_lr);
            value_loss = prm_head(value->params, NULL, vs.feats, vs.labels, NULL, vs.count, value->C,
                                  value->H);
        }
        if (sft.n > 0) {  // SFT on the search's responses (with replacement, batches of o->batch)
            Batcher bt = batcher_create(&sft, o->batch, hash64((uint64_t)o->seed + (uint64_t)it));
            sft_loss = 0.0f;
            for (int s = 0; s < o->sft_steps; s++) {
                int T = batcher_next(&bt, inputs, targets, w, len, (float)o->batch * ctx);
                float n_tok = 0, loss, norm;
                for (int i = 0; i < o->batch * T; i++) n_tok += w[i] > 0;
                for (int b = 0; b < o->batch; b++) cost.forward += len[b];
                OptimConfig u = { .lr = o->lr, .beta2 = 0.95f, .weight_decay = 0.0f, .clip = 1.0f,
                                  .bias_gamma = 1e-3f };
                int status = lm_step(policy, inputs, targets, w, len, o->batch, T, &u, &loss, &norm);
                stop_if_not_finite(status, ckpt, "mcts", loss, policy);
                sft_loss += loss * o->batch * ctx / fmaxf(n_tok, 1.0f) / o->sft_steps;
            }
            free(bt.pool);
        }
        int evaluated = it == 0 || it == o->iterations || (o->eval_every > 0 && it % o->eval_every == 0);
        EvalResult e = {0};
        if (evaluated) e = evaluate(policy, &test, o->eval_prompts, o->eval_k, 1.0f, 12345, CHECK_FREE, 0, 0);
        double secs = now_seconds() - t0;
        fprintf(log, "%d,%ld,%ld,%d,%.4f,%.3f,%d,%.4f,%.4f,%.4f,%.4f,", it, cost.generated, cost.forward,
                it ? o->prompts : 0, it ? (float)found / o->prompts : NAN,
                expanded ? (float)children / expanded : NAN, vs.count, brier, constant, value_loss, sft_loss);
        if (evaluated)
            fprintf(log, "%.4f,%.4f,%.2f,%.4f,%.4f,", e.pass1, e.greedy, e.len, e.reflect,
                    1.0f - e.style_share[STYLE_DIRECT]);
        else fprintf(log, ",,,,,");
        fprintf(log, "%.2f\n", secs);
        fflush(log);
        fflush(samples);
        printf("iteration %3d/%d | generated %ld | found right %d/%d | children %.2f | value brier %.4f "
               "(constant %.4f) on %d nodes | sft loss %.3f", it, o->iterations, cost.generated, found,
               it ? o->prompts : 0, expanded ? (float)children / expanded : 0.0f, brier, constant, vs.count,
               sft_loss);
        if (evaluated) printf(" | pass@1 %.3f", e.pass1);
        printf(" | %.0f s\n", secs);
        checkpoint_save(ckpt, policy, 1, 0, it);
        prm_save(value_path, value);
        for (int i = 0; i < sft.n; i++) free(sft.ids[i]);
        free(sft.ids); free(sft.len); free(sft.prompt_len);
        free(vs.feats); free(vs.labels);
    }
    fclose(log); fclose(samples);
    free(t.node); free(t.seqs); free(text); free(inputs); free(len); free(targets); free(w);
    data_free(&d); data_free(&test);
    model_free(policy);
    prm_free(value);
}

// ----------------------------------------------------------------------------
// 24. the command line and the pipeline: every option with its default, parsed from a table

typedef struct {
    const char *name;  // without the leading --
    char type;         // 'i' int, 'f' float, 's' string, 'b' flag, 'w' a word, 'l' a comma list of words
    void *ptr;
    double lo, hi;     // the allowed range of numbers
    const char *help;  // 'w' and 'l': ends with the valid words in braces, "... {grpo,bnpo,dr_grpo}"
} Option;

// the index of the word w[0..n) in the braces of help ("... {a,b,c}"), or -1
static int word_index(const char *w, size_t n, const char *help) {
    const char *words = strchr(help, '{') + 1;
    for (int i = 0; *words != '}'; i++) {
        size_t len = strcspn(words, ",}");
        if (len == n && strncmp(words, w, n) == 0) return i;
        words += len + (words[len] == ',');
    }
    return -1;
}

static void options_help(const char *cmd, const char *what, const Option *o, int n) {
    printf("usage: r1 %s [options]\n%s\n\noptions:\n", cmd, what);
    for (int i = 0; i < n; i++) {
        char def[160], range[80] = "";
        if (o[i].type == 'i') snprintf(def, sizeof def, "%d", *(int *)o[i].ptr);
        else if (o[i].type == 'f') snprintf(def, sizeof def, "%g", *(float *)o[i].ptr);
        else if (o[i].type == 'b') snprintf(def, sizeof def, "off");
        else if (strcmp(o[i].name, "world") == 0) snprintf(def, sizeof def, "addition");  // the rest: its own
        else snprintf(def, sizeof def, "%s", *(char **)o[i].ptr ? *(char **)o[i].ptr : "(none)");
        if (o[i].type == 'i' || o[i].type == 'f')
            snprintf(range, sizeof range, " [%g, %g]", o[i].lo, o[i].hi);
        printf("  --%-18s %s%s (default: %s)\n", o[i].name, o[i].help, range, def);
    }
    printf("  --%-18s the code of the layers: %s %s (default: fast)\n", "kernels", KERNELS_HELP,
           KERNELS_WORDS);
}

// parses argv; exits with a one-line error on an unknown option, a missing or empty value, a number out of
// its range, a word not among its choices (in a list too: every word, none twice)
static void options_parse(const char *cmd, const char *what, Option *o, int n, int argc, char **argv) {
    for (int a = 0; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            options_help(cmd, what, o, n);
            exit(0);
        }
        if (strncmp(argv[a], "--", 2) != 0)
            die("%s: unexpected argument '%s' (see r1 %s --help)", cmd, argv[a], cmd);
        if (strcmp(argv[a], "--kernels") == 0) {  // every command's option
            if (a + 1 >= argc) die("%s: option --kernels needs a value", cmd);
            kernels_select(cmd, argv[++a]);
            continue;
        }
        int i = 0;
        while (i < n && strcmp(o[i].name, argv[a] + 2) != 0) i++;
        if (i == n) die("%s: unknown option '%s' (see r1 %s --help)", cmd, argv[a], cmd);
        if (o[i].type == 'b') { *(int *)o[i].ptr = 1; continue; }
        if (a + 1 >= argc) die("%s: option --%s needs a value", cmd, o[i].name);
        const char *v = argv[++a];
        char *end;
        if (!*v) die("%s: option --%s: empty value", cmd, o[i].name);
        if (o[i].type == 'w' || o[i].type == 'l') {
            int seen = 0;  // the words met so far, one bit each
            for (const char *w = v;; w++) {
                size_t len = strcspn(w, ",");
                int k = word_index(w, len, o[i].help);
                const char *set = strchr(o[i].help, '{');
                if (k < 0 || (o[i].type == 'w' && w[len]))
                    die("%s: option --%s: '%.*s' is not one of %.*s", cmd, o[i].name,
                        (int)(o[i].type == 'w' ? strlen(w) : len), w, (int)strcspn(set, "}") + 1, set);
                if (seen & (1 << k)) die("%s: option --%s: '%.*s' given twice", cmd, o[i].name, (int)len, w);
                seen |= 1 << k;
                w += len;
                if (!*w) break;
            }
        }
        if (o[i].type == 's' || o[i].type == 'w' || o[i].type == 'l') {
            *(const char **)o[i].ptr = v;
            continue;
        }
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end || errno || isnan(x) || *v == ' ' || *v == '\t')
            die("%s: option --%s: '%s' is not a number", cmd, o[i].name, v);
        if (x < o[i].lo || x > o[i].hi)
            die("%s: option --%s: %s is out of range [%g, %g]", cmd, o[i].name, v, o[i].lo, o[i].hi);
        if (o[i].type == 'i') {
            if (x != floor(x)) die("%s: option --%s: '%s' is not an integer", cmd, o[i].name, v);
            *(int *)o[i].ptr = (int)x;
        } else {
            *(float *)o[i].ptr = (float)x;
        }
    }
}

// ---- the commands

static void cmd_gen(int argc, char **argv) {
    const char *dir = NULL, *styles = "direct,chain,checked", *operands = "4", *world = "addition";
    int seed = 1, held_out = 0, no_retry = 0, summary = 0;
    Option o[] = {
        { "world", 'w', &world, 0, 0, "the toy world {addition,countdown,code}" },
        { "out", 's', &dir, 0, 0, "folder to write (default tiny_data, or tiny_data/WORLD)" },
        { "seed", 'i', &seed, 0, 1e9, "generator seed" },
        { "styles", 'l', &styles, 0, 0,
          "the corpus's solution styles (controls leave some out), a comma list of {direct,chain,checked}" },
        { "operands", 's', &operands, 0, 0, "the trained difficulties: operand counts 2-6, a comma list" },
        { "held-out-operands", 'i', &held_out, 0, MAX_OPERANDS,
          "an operand count only the test set holds (0 = none)" },
        { "no-retry", 'b', &no_retry, 0, 0, "countdown: a control corpus in which no try follows a \"no\"" },
        { "summary", 'b', &summary, 0, 0, "the cold-start chains end in their summary, \"total N\"" },
    };
    options_parse("gen",
                  "Writes the toy world's data files (corpus, RL prompts, cold-start SFT) deterministically.",
                  o, (int)(sizeof o / sizeof o[0]), argc, argv);
    if (!world_known(world)) die("gen: option --world: '%s' is not one of {addition,countdown,code}", world);
    if (summary && strcmp(world, "addition") != 0) die("gen: --summary is an option of the addition world");
    if (strcmp(world, "countdown") == 0) {
        if (!dir) dir = "tiny_data/countdown";
        gen_countdown_data(dir, (uint64_t)seed, !no_retry);
        printf("wrote %s/pretrain.txt, rl_train.txt, rl_test.txt, coldstart.txt\n", dir);
        return;
    }
    if (no_retry) die("gen: --no-retry is an option of the countdown world");
    if (strcmp(world, "code") == 0) {
        if (!dir) dir = "tiny_data/code";
        gen_code_data(dir, (uint64_t)seed);
        printf("wrote %s/pretrain.txt, rl_train.txt, rl_test.txt, coldstart.txt\n", dir);
        return;
    }
    if (!dir) dir = "tiny_data";
    World w = world_default();
    for (int s = 0; s < N_STYLES; s++) w.allowed[s] = list_has(styles, STYLE_NAMES[s]);
    if (!w.allowed[STYLE_DIRECT])
        die("gen: --styles must include direct (a left-out style is written as a simpler one)");
    w.n_operands = 0;
    for (const char *s = operands; *s; s++) {
        char *end;
        long n = strtol(s, &end, 10);
        if (end == s || n < 2 || n > MAX_OPERANDS || (*end && *end != ',') || w.n_operands == MAX_OPERANDS)
            die("gen: --operands must be a comma list of counts from 2 to %d, not '%s'", MAX_OPERANDS,
                operands);
        for (int k = 0; k < w.n_operands; k++)
            if (w.operands[k] == n) die("gen: --operands lists %ld twice", n);
        w.operands[w.n_operands++] = (int)n;
        s = end;
        if (!*s) break;
    }
    if (w.n_operands == 0) die("gen: --operands must name at least one operand count");
    for (int k = 0; k < w.n_operands; k++)
        if (held_out == w.operands[k]) die("gen: --held-out-operands %d is also trained", held_out);
    if (held_out == 1) die("gen: --held-out-operands must be 0 (none) or a count from 2 to %d", MAX_OPERANDS);
    w.held_out = held_out;
    gen_tiny_data(dir, (uint64_t)seed, &w, summary);
    printf("wrote %s/pretrain.txt, rl_train.txt, rl_test.txt, coldstart.txt\n", dir);
}

// pretraining: 2,500 steps of 32 documents, 1.3 passes over the corpus (NOTES.md "The base model": the
// same kind of base as 2,500 steps of 64 in half the time; 1,250 steps of 64 or 2,500 of 16 were not)
static TrainOptions pretrain_defaults(void) {
    TrainOptions t = {
        .data = "tiny_data/pretrain.txt", .out = "runs/base", .preset = "teacher", .init = NULL,
        .world = "addition",
        .steps = 2500, .batch = 32, .warmup = 100, .seed = 1337, .log_every = 50, .save_every = 500,
        .lr = 2e-3f, .lr_min = 2e-4f, .weight_decay = 0.1f, .clip = 1.0f, .bias_gamma = 3e-2f,
        // V3 adds the sequence-wise loss at a tiny alpha (NOTES.md "Expert load balancing")
        .balance_alpha = 0.0f,
    };
    return t;
}

// SFT (the cold start's): 150 steps of 32 pairs from the base model, learning rate 5e-4 down to 5e-5
static TrainOptions sft_defaults(void) {
    TrainOptions t = pretrain_defaults();
    t.data = "tiny_data/coldstart.txt"; t.out = "runs/sft"; t.init = "runs/base/model.bin";
    t.steps = 150; t.batch = 32; t.lr = 5e-4f; t.lr_min = 5e-5f; t.warmup = 10; t.log_every = 25;
    t.save_every = 0;
    return t;
}

// distillation: from the student checkpoint into OUT, warmup over the first tenth of the steps and the
// learning rate down to a tenth, a checkpoint every 100 steps
static TrainOptions distill_options(const char *student, const char *out, const char *data, int steps,
                                    int batch, float lr, int seed) {
    TrainOptions t = pretrain_defaults();
    t.init = student; t.out = out; t.data = data; t.steps = steps; t.batch = batch; t.lr = lr;
    t.lr_min = lr / 10;
    t.warmup = steps / 10; t.seed = seed; t.save_every = 100; t.log_every = 50;
    return t;
}

#define RESUME_HELP "continue the run in OUT from its checkpoint, if it has one"
#define OVERWRITE_HELP "start again in OUT, replacing the run it holds"

static Option *train_options(TrainOptions *t, int *n) {
    static Option o[24];  // room for a command's own extra options
    Option list[] = {
        { "world", 'w', &t->world, 0, 0, WORLD_HELP },
        { "data", 's', &t->data, 0, 0, "training data file" },
        { "out", 's', &t->out, 0, 0, "run folder (log.csv, model.bin)" },
        { "preset", 'w', &t->preset, 0, 0, "model config {teacher,student,tiny}" },
        { "init", 's', &t->init, 0, 0, "start from this checkpoint instead of a fresh model" },
        { "steps", 'i', &t->steps, 1, 1e7, "optimizer steps" },
        { "batch", 'i', &t->batch, 1, 4096, "documents per step" },
        { "lr", 'f', &t->lr, 0, 1, "peak learning rate" },
        { "lr-min", 'f', &t->lr_min, 0, 1, "final learning rate of the cosine" },
        { "warmup", 'i', &t->warmup, 0, 1e7, "linear warmup steps" },
        { "weight-decay", 'f', &t->weight_decay, 0, 10, "AdamW decoupled weight decay (matrices only)" },
        { "clip", 'f', &t->clip, 0, 1e6, "gradient norm clip (0 = off)" },
        { "bias-gamma", 'f', &t->bias_gamma, 0, 1, "aux-loss-free balancing bias step (0 = off)" },
        { "balance-alpha", 'f', &t->balance_alpha, 0, 10, "sequence-wise balance loss weight (0 = off)" },
        { "seed", 'i', &t->seed, 0, 1e9, "random seed" },
        { "log-every", 'i', &t->log_every, 1, 1e7, "print progress every N steps" },
        { "save-every", 'i', &t->save_every, 0, 1e7, "checkpoint every N steps (0 = at the end only)" },
        { "resume", 'b', &t->resume, 0, 0, RESUME_HELP },
        { "overwrite", 'b', &t->overwrite, 0, 0, OVERWRITE_HELP },
    };
    memcpy(o, list, sizeof list);
    *n = (int)(sizeof list / sizeof list[0]);
    return o;
}

// the context of the model a run trains (its checkpoint when it resumes, else --init, else its preset),
// to load its data with; refuses a run folder as train_lm would, before the data is read
static int train_context(const char *cmd, const TrainOptions *t) {
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/model.bin", t->out);
    const char *from = run_resumes(cmd, t->out, t->resume, t->overwrite) ? ckpt : t->init;
    if (!from) return find_preset(t->preset)->cfg.context;
    Model *m = checkpoint_load(from, NULL, NULL);
    int context = m->cfg.context;
    model_free(m);
    return context;
}

// a training command's --world and the defaults that follow it
static void train_world(TrainOptions *t, const char *cmd, int argc, char **argv) {
    t->world = world_of_args(cmd, argc, argv);
    t->data = in_world(t->world, t->data); t->out = in_world(t->world, t->out);
    t->init = in_world(t->world, t->init);
}

// the countdown world's base pretrains twice as long: at 2,500 steps its verdicts are true 0.66 of the time,
// at 5,000 0.91 (NOTES.md "The countdown world")
#define COUNTDOWN_PRETRAIN_STEPS 5000

static void cmd_pretrain(int argc, char **argv) {
    TrainOptions t = pretrain_defaults();
    train_world(&t, "pretrain", argc, argv);
    if (strcmp(t.world, "countdown") == 0) t.steps = COUNTDOWN_PRETRAIN_STEPS;
    int n;
    Option *o = train_options(&t, &n);
    options_parse("pretrain", "Pretrains the base model on the mixed corpus (next-token prediction).", o, n,
                  argc, argv);
    Data d = load_corpus(t.data, train_context("pretrain", &t));
    Model *m = train_lm(&t, &d, "pretrain");
    printf("saved %s/model.bin\n", t.out);
    model_free(m);
    data_free(&d);
}

static void cmd_eval(int argc, char **argv) {
    const char *world = world_of_args("eval", argc, argv), *check = "free";
    const char *model = in_world(world, "runs/base/model.bin");
    const char *data = in_world(world, "tiny_data/rl_test.txt");
    int k = 8, n_prompts = 0, seed = 1, json = 0, max_tries = 0;
    float temperature = 1.0f;
    Option o[] = {
        { "world", 'w', &world, 0, 0, WORLD_HELP },
        { "model", 's', &model, 0, 0, "checkpoint" },
        { "data", 's', &data, 0, 0, "held-out prompts (prompt<TAB>answer<TAB>difficulty)" },
        { "k", 'i', &k, 1, 64, "samples per prompt for pass@1 and cons@k" },
        { "prompts", 'i', &n_prompts, 0, 1e7, "number of prompts (0 = all)" },
        { "temperature", 'f', &temperature, 0, 10, "sampling temperature" },
        { "seed", 'i', &seed, 0, 1e9, "sampling seed" },
        { "json", 'b', &json, 0, 0, "one JSON object instead of the table" },
        { "check", 's', &check, 0, 0, "decoding: free, force (a check per column; countdown: a try after "
          "every no) or ban (no check; countdown: no try after a no)" },
        { "tries", 'i', &max_tries, 0, 20, "countdown: the think span closes after this many verdicts "
          "(0 = no limit)" },
    };
    options_parse("eval", "pass@1, cons@k, greedy accuracy, length, reflection, language mix, repetition, "
                  "format; per difficulty and style.", o, 10, argc, argv);
    int check_rule = 0;
    while (check_rule < N_CHECK_RULES && strcmp(check, CHECK_RULE_NAMES[check_rule]) != 0) check_rule++;
    if (check_rule == N_CHECK_RULES) die("eval: --check must be free, force or ban, not '%s'", check);
    Model *m = checkpoint_load(model, NULL, NULL);
    world_check(m, world, model);
    Data d = load_prompts(data, m->cfg.context);
    EvalResult e = evaluate(m, &d, n_prompts, k, temperature, (uint64_t)seed, check_rule, max_tries, 1);
    eval_print(model, &e, json);
    model_free(m);
    data_free(&d);
}

static void cmd_probe(int argc, char **argv) {
    const char *model = "runs/base/model.bin", *data = "tiny_data/rl_test.txt";
    int n_prompts = 300;
    Option o[] = {
        { "model", 's', &model, 0, 0, "checkpoint" },
        { "data", 's', &data, 0, 0, "held-out prompts (prompt<TAB>answer<TAB>difficulty)" },
        { "prompts", 'i', &n_prompts, 1, 1e6, "number of prompts" },
    };
    options_parse("probe", "Teacher-forced accuracy of each part of a response (column sums, checks, "
                  "verdicts, answer digits), by style.", o, 3, argc, argv);
    Model *m = checkpoint_load(model, NULL, NULL);
    Data d = load_prompts(data, m->cfg.context);
    n_prompts = imin(n_prompts, d.n);
    Probe pr = probe_model(m, &d, n_prompts);
    probe_print(model, &pr, n_prompts);
    model_free(m);
    data_free(&d);
}

// r1 prm: the PRM trained on the base model's own samples, its step accuracy on held-out samples;
// with --judge, the saved PRM judged on another model's samples (an RL policy's: what the PRM now likes)
static void cmd_prm(int argc, char **argv) {
    const char *init = "runs/base/model.bin", *out = "runs/prm", *data = "tiny_data/rl_train.txt";
    const char *test = "tiny_data/rl_test.txt", *judge = NULL, *also = NULL;
    int n_prompts = 500, n_test = 150, k = 4, hidden = 32, epochs = 400, seed = 1, show = 0, overwrite = 0;
    float lr = 0.01f, temperature = 1.0f;
    Option o[] = {
        { "init", 's', &init, 0, 0, "the base model: the PRM's frozen trunk, and the sampler of its data" },
        { "out", 's', &out, 0, 0, "run folder (prm.bin)" },
        { "data", 's', &data, 0, 0, "prompts whose samples train the PRM" },
        { "test", 's', &test, 0, 0, "held-out prompts whose samples measure it" },
        { "prompts", 'i', &n_prompts, 1, 1e6, "training prompts" },
        { "test-prompts", 'i', &n_test, 1, 1e6, "held-out prompts" },
        { "k", 'i', &k, 1, 64, "samples per prompt" },
        { "hidden", 'i', &hidden, 1, 256, "the head's hidden units" },
        { "epochs", 'i', &epochs, 1, 1e6, "full-batch AdamW steps on the head" },
        { "lr", 'f', &lr, 0, 1, "learning rate" },
        { "temperature", 'f', &temperature, 0.01, 10, "sampling temperature" },
        { "seed", 'i', &seed, 0, 1e9, "random seed" },
        { "judge", 's', &judge, 0, 0, "judge this model's held-out samples with OUT/prm.bin (no training)" },
        { "also", 's', &also, 0, 0, "train on this model's samples too (a policy's: the PRM retrained)" },
        { "show", 'i', &show, 0, 1e6, "print this many held-out samples with their steps' scores" },
        { "overwrite", 'b', &overwrite, 0, 0, "replace the PRM that OUT holds" },
    };
    options_parse("prm", "A process reward model: a head on the frozen base model scoring each step of a sum",
                  o, (int)(sizeof o / sizeof o[0]), argc, argv);
    char path[600];
    snprintf(path, sizeof path, "%s/prm.bin", out);
    Rng rng = rng_seed((uint64_t)seed);
    Prm *prm;
    if (judge) {
        prm = prm_load(path);
    } else {
        if (!overwrite && access(path, F_OK) == 0) die("prm: %s holds a PRM (--overwrite replaces it)", path);
        make_dirs(out);
        prm = prm_create(checkpoint_load(init, NULL, NULL), init, hidden, (uint64_t)seed);
        world_check(prm->trunk, "addition", init);
        Data d = load_prompts(data, prm->trunk->cfg.context);
        PrmSamples s = prm_samples(prm, prm->trunk, &d, n_prompts, k, temperature, &rng);
        if (also) {
            Model *policy = checkpoint_load(also, NULL, NULL);
            PrmSamples more = prm_samples(prm, policy, &d, n_prompts, k, temperature, &rng);
            prm_samples_append(&s, &more, prm->C);
            prm_samples_free(&more);
            model_free(policy);
        }
        prm_train(prm, &s, epochs, lr);
        prm_report("training samples", prm, &s);
        prm_samples_free(&s);
        data_free(&d);
        prm_save(path, prm);
        printf("saved %s\n", path);
    }
    Model *m = judge ? checkpoint_load(judge, NULL, NULL) : prm->trunk;
    Data d = load_prompts(test, m->cfg.context);
    PrmSamples s = prm_samples(prm, m, &d, n_test, k, temperature, &rng);
    char what[700];
    snprintf(what, sizeof what, "held-out samples of %s", judge ? judge : init);
    prm_report(what, prm, &s);
    prm_print_samples(prm, &s, show);
    prm_samples_free(&s);
    data_free(&d);
    if (judge) model_free(m);
    prm_free(prm);
}

// r1 mcts: expert iteration with Monte Carlo tree search over steps (section 23), beside zero's GRPO
static void cmd_mcts(int argc, char **argv) {
    MctsOptions o = {
        .init = "runs/base/model.bin", .out = "runs/mcts", .data = "tiny_data/rl_train.txt",
        .test = "tiny_data/rl_test.txt", .iterations = 20, .prompts = 16, .simulations = 16, .k = 4,
        .hidden = 32, .value_epochs = 200, .sft_steps = 4, .batch = 8, .eval_every = 5, .eval_prompts = 150,
        .eval_k = 4, .seed = 1, .c_puct = 1.0f, .temperature = 1.0f, .value_lr = 0.01f, .lr = 1e-4f,
    };
    Option opts[] = {
        { "init", 's', &o.init, 0, 0, "the base model: the first policy, and the value head's frozen trunk" },
        { "out", 's', &o.out, 0, 0, "run folder (log.csv, model.bin, value.bin, samples.txt)" },
        { "data", 's', &o.data, 0, 0, "prompts to search on, in order" },
        { "test", 's', &o.test, 0, 0, "held-out prompts for pass@1" },
        { "iterations", 'i', &o.iterations, 1, 1e6, "iterations of search, value head training and SFT" },
        { "prompts", 'i', &o.prompts, 1, 1e5, "prompts searched per iteration" },
        { "simulations", 'i', &o.simulations, 1, 256, "simulations per prompt (one expansion each)" },
        { "k", 'i', &o.k, 1, 16, "continuations sampled per expansion (identical ones kept once)" },
        { "c-puct", 'f', &o.c_puct, 0, 100, "PUCT's exploration weight" },
        { "temperature", 'f', &o.temperature, 0.01, 10, "sampling temperature of the expansions" },
        { "hidden", 'i', &o.hidden, 1, 256, "the value head's hidden units" },
        { "value-epochs", 'i', &o.value_epochs, 1, 1e6, "value head: full-batch AdamW steps per iteration" },
        { "value-lr", 'f', &o.value_lr, 0, 1, "the value head's learning rate" },
        { "sft-steps", 'i', &o.sft_steps, 0, 1e5, "SFT steps on the search's responses per iteration" },
        { "batch", 'i', &o.batch, 1, 4096, "responses per SFT step" },
        { "lr", 'f', &o.lr, 0, 1, "the policy's SFT learning rate" },
        { "eval-every", 'i', &o.eval_every, 0, 1e6, "held-out pass@1 every N iterations, first and last" },
        { "eval-prompts", 'i', &o.eval_prompts, 1, 1e6, "held-out prompts" },
        { "eval-k", 'i', &o.eval_k, 1, 64, "samples per held-out prompt" },
        { "seed", 'i', &o.seed, 0, 1e9, "random seed" },
        { "resume", 'b', &o.resume, 0, 0, RESUME_HELP },
        { "overwrite", 'b', &o.overwrite, 0, 0, OVERWRITE_HELP },
    };
    options_parse("mcts", "Expert iteration with Monte Carlo tree search over the steps of a sum, guided by "
                  "a value head on the frozen base model", opts, (int)(sizeof opts / sizeof opts[0]), argc,
                  argv);
    mcts_train(&o);
}

static void cmd_sample(int argc, char **argv) {
    const char *world = world_of_args("sample", argc, argv), *model = in_world(world, "runs/base/model.bin");
    const char *prompt = strcmp(world, "countdown") == 0 ? "e:3 7 8=53" : strcmp(world, "code") == 0 ?
                         "e:1=3 2=5 4=9" : "e:51+76+12+85=";
    int n = 4, seed = 1;
    float temperature = 1.0f;
    Option o[] = {
        { "world", 'w', &world, 0, 0, WORLD_HELP },
        { "model", 's', &model, 0, 0, "checkpoint" },
        { "prompt", 's', &prompt, 0, 0, "prompt text" },
        { "n", 'i', &n, 1, 1000, "responses to sample" },
        { "temperature", 'f', &temperature, 0, 10, "sampling temperature (0 = greedy)" },
        { "seed", 'i', &seed, 0, 1e9, "sampling seed" },
    };
    options_parse("sample", "Prints responses of a checkpoint to a prompt.", o, 6, argc, argv);
    Model *m = checkpoint_load(model, NULL, NULL);
    world_check(m, world, model);
    int ctx = m->cfg.context, len;
    char bad = 0;
    int *seqs = mallocCheck((size_t)n * ctx * sizeof(int));
    int *plen = mallocCheck(n * sizeof(int));
    int *slen = mallocCheck(n * sizeof(int));
    len = encode(prompt, seqs, ctx, &bad);
    if (len == -1) die("prompt: unknown character '%c'", bad);
    if (len < 1 || len >= ctx) die("prompt: must be 1 to %d tokens", ctx - 1);
    for (int i = 0; i < n; i++) { memcpy(seqs + (size_t)i * ctx, seqs, len * sizeof(int)); plen[i] = len; }
    Rng rng = rng_seed((uint64_t)seed);
    generate(m, seqs, plen, slen, n, ctx, temperature, &rng);
    char *text = mallocCheck((size_t)ctx * 10 + 16);
    for (int i = 0; i < n; i++) {
        decode(seqs + (size_t)i * ctx + len, slen[i] - len, text);
        printf("%s%s\n", prompt, text);
    }
    free(text); free(seqs); free(plen); free(slen);
    model_free(m);
}

// the RL commands' options (zero, grpo and the pipeline's RL stages)
static Option *grpo_options(GrpoOptions *g, int *n) {
    static Option o[48];
    Option list[] = {
        { "world", 'w', &g->world, 0, 0, WORLD_HELP },
        { "init", 's', &g->init, 0, 0, "checkpoint to start from (and the KL reference)" },
        { "out", 's', &g->out, 0, 0, "run folder (log.csv, model.bin)" },
        { "data", 's', &g->data, 0, 0, "training prompts (prompt<TAB>answer<TAB>difficulty)" },
        { "test", 's', &g->test, 0, 0, "held-out prompts for the periodic evaluation" },
        { "rewards", 'l', &g->rewards, 0, 0,
          "rewards, a comma list of {accuracy,format,language,random,prm} (prm: --prm's learned one)" },
        { "prm", 's', &g->prm, 0, 0, "the process reward model of the prm reward (r1 prm writes it)" },
        { "random-reward-p", 'f', &g->random_reward_p, 0, 1, "the random control's chance of reward 1" },
        { "code-reward", 'w', &g->code_reward, 0, 0,
          "the code world: the tests accuracy runs the answer on {shown,hidden,both}" },
        { "steps", 'i', &g->steps, 1, 1e6, "RL steps (one batch of rollouts each)" },
        { "prompts-per-step", 'i', &g->prompts_per_step, 1, 1024, "prompts per step" },
        { "num-generations", 'i', &g->num_generations, 2, 256, "G: responses sampled per prompt" },
        { "num-iterations", 'i', &g->num_iterations, 1, 16, "mu: policy updates per batch of rollouts" },
        { "loss-type", 'w', &g->loss_type, 0, 0, "loss normalisation {grpo,bnpo,dr_grpo,dapo}" },
        { "scale-rewards", 'w', &g->scale_rewards, 0, 0,
          "the std dividing the advantages {group,batch,none}" },
        { "max-completion-length", 'i', &g->max_completion_length, 0, 4096,
          "dr_grpo's constant normaliser (0 = the context minus the longest prompt)" },
        { "mask-truncated-completions", 'b', &g->mask_truncated_completions, 0, 0,
          "leave responses cut off by the context out of the loss" },
        { "importance-sampling-level", 'w', &g->importance_sampling_level, 0, 0,
          "the ratio per token or per response (GSPO) {token,sequence}" },
        { "top-entropy-quantile", 'f', &g->top_entropy_quantile, 0.001, 1,
          "the surrogate only on this share of the response tokens, those of highest entropy" },
        { "lr", 'f', &g->lr, 0, 1, "learning rate (constant)" },
        { "beta", 'f', &g->beta, 0, 100, "weight of the KL to the reference (0 = no reference)" },
        { "epsilon", 'f', &g->epsilon, 0, 10, "clip: ratio >= 1 - epsilon" },
        { "epsilon-high", 'f', &g->epsilon_high, 0, 10, "clip: ratio <= 1 + epsilon-high" },
        { "temperature", 'f', &g->temperature, 0.01, 10,
          "sampling temperature (the loss divides logits by it)" },
        { "format-weight", 'f', &g->format_weight, 0, 10, "reward weight of the format rule" },
        { "language-weight", 'f', &g->language_weight, 0, 10, "reward weight of language consistency" },
        { "ref-model-sync-steps", 'i', &g->ref_model_sync_steps, 0, 1e6,
          "sync the reference with the policy every N steps (0 = never)" },
        { "ref-model-mixup-alpha", 'f', &g->ref_model_mixup_alpha, 0, 1,
          "at a sync, ref = alpha policy + (1 - alpha) ref (1: R1's reset)" },
        { "clip", 'f', &g->clip, 0, 1e6, "gradient norm clip (0 = off)" },
        { "bias-gamma", 'f', &g->bias_gamma, 0, 1, "aux-loss-free balancing bias step" },
        { "eval-every", 'i', &g->eval_every, 0, 1e6, "held-out evaluation every N steps (0 = off)" },
        { "eval-prompts", 'i', &g->eval_prompts, 1, 1e6, "held-out prompts per evaluation" },
        { "eval-k", 'i', &g->eval_k, 1, 64, "samples per held-out prompt" },
        { "seed", 'i', &g->seed, 0, 1e9, "random seed" },
        { "save-rollouts", 'b', &g->save_rollouts, 0, 0,
          "every step's rollouts in OUT/rollouts.txt (step, row, reward, prompt, response)" },
        { "resume", 'b', &g->resume, 0, 0, RESUME_HELP },
        { "overwrite", 'b', &g->overwrite, 0, 0, OVERWRITE_HELP },
        { "algo", 'w', &g->algo, 0, 0, "GRPO, or PPO with a critic: prompts-per-step x num-generations "
          "prompts, one response each {grpo,ppo}" },
        { "gamma", 'f', &g->gamma, 0, 1, "PPO: GAE's discount" },
        { "lambda", 'f', &g->lambda, 0, 1, "PPO: GAE's lambda" },
        { "critic-lr", 'f', &g->critic_lr, 0, 1, "PPO: the critic's learning rate (constant)" },
    };
    *n = (int)(sizeof list / sizeof list[0]);
    if (*n > (int)(sizeof o / sizeof o[0])) die("grpo_options: the table outgrew its array");
    memcpy(o, list, sizeof list);
    return o;
}

static void grpo_options_parse(const char *cmd, const char *what, GrpoOptions *g, int argc, char **argv) {
    g->world = world_of_args(cmd, argc, argv);
    g->init = in_world(g->world, g->init); g->out = in_world(g->world, g->out);
    g->data = in_world(g->world, g->data); g->test = in_world(g->world, g->test);
    int n;
    Option *o = grpo_options(g, &n);
    options_parse(cmd, what, o, n, argc, argv);
}

static void cmd_zero(int argc, char **argv) {
    GrpoOptions g = grpo_defaults();
    grpo_options_parse("zero", "R1-Zero: GRPO straight from the base model with accuracy and format rewards.",
                       &g, argc, argv);
    Model *m = grpo_train(&g);
    printf("saved %s/model.bin\n", g.out);
    if (g.eval_every > 0) {
        report_grpo(&g, "r1 zero: R1-Zero, RL straight from the base model");
        printf("report: %s/report.html\n", g.out);
    }
    model_free(m);
}

// PPO with a critic from the base model, R1-Zero's rewards and settings: beside `r1 zero`, the algorithm
// GRPO replaced (section 20's PPO)
static void cmd_ppo(int argc, char **argv) {
    GrpoOptions g = grpo_defaults();
    g.algo = "ppo"; g.out = "runs/ppo";
    grpo_options_parse("ppo", "PPO with a critic (GAE), for comparison with GRPO: R1-Zero's rewards and "
                       "settings, one response per prompt.", &g, argc, argv);
    Model *m = grpo_train(&g);
    printf("saved %s/model.bin, %s/critic.bin\n", g.out, g.out);
    if (g.eval_every > 0) {
        report_grpo(&g, "r1 ppo: PPO with a critic from the base model");
        printf("report: %s/report.html\n", g.out);
    }
    model_free(m);
}

static void cmd_grpo(int argc, char **argv) {
    GrpoOptions g = reasoning_rl_defaults();
    grpo_options_parse("grpo", "Reasoning RL (GRPO) from any checkpoint, rewards selectable.", &g, argc,
                       argv);
    Model *m = grpo_train(&g);
    printf("saved %s/model.bin\n", g.out);
    if (g.eval_every > 0) {
        report_grpo(&g, "r1 grpo: reasoning RL");
        printf("report: %s/report.html\n", g.out);
    }
    model_free(m);
}

static void cmd_sft(int argc, char **argv) {
    TrainOptions t = sft_defaults();
    train_world(&t, "sft", argc, argv);
    int n;
    Option *o = train_options(&t, &n);
    options_parse("sft",
                  "Supervised fine-tuning on prompt<TAB>response lines; the loss covers the response only.",
                  o, n, argc, argv);
    if (!t.init) die("sft: --init is required (the checkpoint to fine-tune)");
    Data d = load_sft(t.data, train_context("sft", &t));
    Model *m = train_lm(&t, &d, "sft");
    printf("saved %s/model.bin\n", t.out);
    model_free(m);
    data_free(&d);
}

static void cmd_rejsample(int argc, char **argv) {
    const char *model = "runs/grpo/model.bin", *data = "tiny_data/rl_train.txt", *out = "runs/rejsample.txt";
    int n_prompts = 1000, k = 4, max_len = 140, nonreasoning = 100, seed = 1, overwrite = 0, summarise = 0;
    float temperature = 1.0f;
    Option o[] = {
        { "model", 's', &model, 0, 0, "checkpoint to sample from" },
        { "data", 's', &data, 0, 0, "prompts (prompt<TAB>answer<TAB>difficulty)" },
        { "out", 's', &out, 0, 0, "SFT file to write (prompt<TAB>response)" },
        { "overwrite", 'b', &overwrite, 0, 0, "replace OUT if it exists" },
        { "prompts", 'i', &n_prompts, 0, 1e7, "prompts to use (0 = all)" },
        { "k", 'i', &k, 1, 64, "samples per prompt" },
        { "max-len", 'i', &max_len, 1, 1024, "drop responses longer than this (tokens)" },
        { "nonreasoning", 'i', &nonreasoning, 0, 1e6, "toy non-reasoning examples to mix in" },
        { "temperature", 'f', &temperature, 0, 10, "sampling temperature" },
        { "seed", 'i', &seed, 0, 1e9, "sampling seed" },
        { "summary", 'b', &summarise, 0, 0, "keep chains to sums in the cold start's format: a summary that "
          "restates the answer ends the think span (written where a chain has none)" },
    };
    options_parse("rejsample",
                  "Samples k responses per prompt; keeps the first correct, well-formed, single-language one "
                  "whose columns and checks' totals are right.", o,
                  (int)(sizeof o / sizeof o[0]), argc, argv);
    if (!overwrite && access(out, F_OK) == 0) die("rejsample: %s exists: --overwrite replaces it", out);
    Model *m = checkpoint_load(model, NULL, NULL);
    Data d = load_prompts(data, m->cfg.context);
    int kept = rejection_sample(m, &d, n_prompts, k, temperature, max_len, nonreasoning, summarise, out,
                                (uint64_t)seed);
    printf("kept %d of %d prompts, plus %d non-reasoning examples -> %s\n", kept, n_prompts ? n_prompts : d.n,
           nonreasoning, out);
    model_free(m);
    data_free(&d);
}

static void cmd_distill(int argc, char **argv) {
    const char *teacher = "runs/r1/model.bin";
    const char *student_init = "runs/student_base/model.bin";
    const char *data = "runs/rejsample.txt";
    const char *out = "runs/student_logit", *mode = "logit";
    int steps = 300, batch = 32, seed = 1, resume = 0, overwrite = 0;
    float lr = 5e-4f, temperature = 2.0f, alpha = 0.5f;
    Option o[] = {
        { "teacher", 's', &teacher, 0, 0, "teacher checkpoint (logit mode)" },
        { "student", 's', &student_init, 0, 0, "student checkpoint to start from (a pretrained student)" },
        { "data", 's', &data, 0, 0, "teacher traces, an SFT file (from rejsample)" },
        { "out", 's', &out, 0, 0, "run folder" },
        { "mode", 'w', &mode, 0, 0,
          "SFT on the traces (as the paper) or KL to the teacher {sequence,logit}" },
        { "steps", 'i', &steps, 1, 1e6, "training steps" },
        { "batch", 'i', &batch, 1, 4096, "sequences per step" },
        { "lr", 'f', &lr, 0, 1, "peak learning rate" },
        { "temperature", 'f', &temperature, 0.01, 100, "distillation temperature T (logit mode)" },
        { "alpha", 'f', &alpha, 0, 1, "weight of the KL term; 1 - alpha on cross-entropy (logit mode)" },
        { "seed", 'i', &seed, 0, 1e9, "seed" },
        { "resume", 'b', &resume, 0, 0, RESUME_HELP },
        { "overwrite", 'b', &overwrite, 0, 0, OVERWRITE_HELP },
    };
    options_parse("distill", "Teacher -> student: sequence-level (SFT on teacher traces) or logit-level (KL "
                  "at temperature T).", o, (int)(sizeof o / sizeof o[0]), argc, argv);
    TrainOptions t = distill_options(student_init, out, data, steps, batch, lr, seed);
    t.resume = resume; t.overwrite = overwrite;
    Data d = load_sft(data, train_context("distill", &t));
    if (strcmp(mode, "logit") == 0) {
        Model *tm = checkpoint_load(teacher, NULL, NULL);
        model_free(distill_logits(&t, tm, &d, temperature, alpha));
        model_free(tm);
    } else {
        model_free(train_lm(&t, &d, "distill (sequence)"));
    }
    printf("saved %s/model.bin\n", out);
    data_free(&d);
}

// the pipeline's rejection sampling from checkpoint ckpt into path (4 samples per prompt, up to 140 tokens);
// --resume keeps the file of an earlier call (written whole: rejection_sample renames it into place)
static void pipeline_rejsample(const char *ckpt, const Data *prompts, int n_prompts, int n_nonreasoning,
                               int summarise, const char *path, uint64_t seed, int resume) {
    if (resume && access(path, F_OK) == 0) { printf("pipeline: keeping %s\n", path); return; }
    Model *m = checkpoint_load(ckpt, NULL, NULL);
    int kept = rejection_sample(m, prompts, n_prompts, 4, 1.0f, 140, n_nonreasoning, summarise, path, seed);
    printf("pipeline: rejection sampling from %s kept %d traces -> %s\n", ckpt, kept, path);
    if (kept == 0) printf("pipeline: warning: no reasoning trace kept (the model is too weak): %s holds "
                          "non-reasoning examples only\n", path);
    model_free(m);
}

// the pipeline's stages that train a model, each a run folder OUT/NAME, then its files
enum { STAGE_BASE, STAGE_ZERO, STAGE_COLDSTART, STAGE_REASONING_RL, STAGE_R1_SFT, STAGE_R1,
       STAGE_STUDENT_BASE, STAGE_STUDENT_RL, STAGE_STUDENT_SEQ, STAGE_STUDENT_LOGIT, N_MODEL_STAGES,
       FILE_REJSAMPLE = N_MODEL_STAGES, FILE_FINAL_PROMPTS, FILE_R1_TRACES, FILE_RESULTS, N_PIPELINE_PATHS };
static const char *PIPELINE_NAMES[N_PIPELINE_PATHS] = {
    "base", "zero", "coldstart", "reasoning_rl", "r1_sft", "r1", "student_base", "student_rl", "student_seq",
    "student_logit", "rejsample.txt", "final_prompts.txt", "r1_traces.txt", "results.txt" };

typedef struct {
    const char *dir, *world;             // OUT, --world
    int seed, scale, resume, overwrite;  // scale: percent of every stage's default steps
    int summary;                         // --summary: rejection sampling keeps the cold start's summary
    char path[N_PIPELINE_PATHS][400];    // OUT/NAME
    // the checkpoint of each stage: OUT/NAME/model.bin, or --base, --zero
    char model[N_MODEL_STAGES][420];
} Pipeline;

static int scaled(const Pipeline *pl, int steps) { return imax(1, steps * pl->scale / 100); }

// what every training stage shares: its folder, the seed, --resume or --overwrite, its steps scaled
static TrainOptions pipeline_lm(const Pipeline *pl, TrainOptions t, const char *init, int stage, int steps) {
    t.world = pl->world; t.data = in_world(pl->world, t.data);
    t.init = init; t.out = pl->path[stage]; t.seed = pl->seed; t.steps = scaled(pl, steps);
    t.resume = pl->resume; t.overwrite = pl->overwrite;
    return t;
}
static GrpoOptions pipeline_rl(const Pipeline *pl, GrpoOptions g, const char *init, int stage, int steps) {
    g.world = pl->world; g.data = in_world(pl->world, g.data); g.test = in_world(pl->world, g.test);
    g.init = init; g.out = pl->path[stage]; g.seed = pl->seed; g.steps = scaled(pl, steps); g.eval_every = 0;
    g.resume = pl->resume; g.overwrite = pl->overwrite;
    return g;
}

// stage 8, the student: a smaller model pretrained on the same corpus, then RL directly (R1 section 4.1), or
// distilled from R1 (section 2.4) on R1's own rejection-sampled traces, by SFT or by its logits
static void pipeline_students(Pipeline *pl, Data *corpus, const Data *train, int sft_warmup) {
    TrainOptions pretrain = pipeline_lm(pl, pretrain_defaults(), NULL, STAGE_STUDENT_BASE, 1500);
    pretrain.preset = "student"; pretrain.warmup = imin(pretrain.warmup, pretrain.steps);
    model_free(train_lm(&pretrain, corpus, "pipeline: pretrain student"));
    GrpoOptions rl = pipeline_rl(pl, grpo_defaults(), pl->model[STAGE_STUDENT_BASE], STAGE_STUDENT_RL, 100);
    model_free(grpo_train(&rl));
    const char *traces = pl->path[FILE_R1_TRACES];
    pipeline_rejsample(pl->model[STAGE_R1], train, scaled(pl, 1500), scaled(pl, 100), pl->summary, traces,
                       (uint64_t)pl->seed + 1, pl->resume);
    Data tr = load_sft(traces, find_preset(pretrain_defaults().preset)->cfg.context);
    TrainOptions sft = pipeline_lm(pl, sft_defaults(), pl->model[STAGE_STUDENT_BASE], STAGE_STUDENT_SEQ, 300);
    sft.data = traces; sft.warmup = sft_warmup;
    model_free(train_lm(&sft, &tr, "pipeline: distill (sequence)"));
    TrainOptions logit = distill_options(pl->model[STAGE_STUDENT_BASE], pl->path[STAGE_STUDENT_LOGIT], traces,
                                         scaled(pl, 300), 32, 5e-4f, pl->seed);
    logit.resume = pl->resume; logit.overwrite = pl->overwrite;
    Model *teacher = checkpoint_load(pl->model[STAGE_R1], NULL, NULL);
    model_free(distill_logits(&logit, teacher, &tr, 2.0f, 0.5f));
    model_free(teacher);
    data_free(&tr);
}

// the results table of the pipeline's models on the held-out prompts (OUT/results.txt, the console), their
// sampled responses (OUT/samples.txt) and OUT/report.html
static void pipeline_results(const Pipeline *pl, const char *base, const char *zero, int eval_prompts,
                             int eval_k, int json) {
    Data test = load_prompts(in_world(pl->world, "tiny_data/rl_test.txt"), 1024);
    int rows[] = { STAGE_BASE, STAGE_ZERO, STAGE_COLDSTART, STAGE_REASONING_RL, STAGE_R1_SFT, STAGE_R1,
                   STAGE_STUDENT_RL, STAGE_STUDENT_SEQ, STAGE_STUDENT_LOGIT };
    const char *labels[] = { "base", "R1-Zero", "cold-start SFT", "reasoning RL", "rejection-sampling SFT",
                             "R1", "student+RL", "student distilled (sequence)",
                             "student distilled (logit)" };
    enum { N_ROWS = sizeof rows / sizeof rows[0] };
    FILE *table = fopenCheck(pl->path[FILE_RESULTS], "w");
    FILE *samples = open_log(pl->dir, "samples.txt", "model\tprompt\tanswer\tresponse", 0, NULL);
    EvalResult res[N_ROWS];
    char line[400];
    snprintf(line, sizeof line, "%-30s %7s %7s %7s %7s %10s %8s %10s %7s\n", "model", "pass@1", "cons@k",
             "greedy", "length", "reflection", "lang-mix", "repetition", "format");
    if (!json) printf("\n%s", line);
    fputs(line, table);
    for (int i = 0; i < N_ROWS; i++) {
        Model *m = checkpoint_load(pl->model[rows[i]], NULL, NULL);
        res[i] = evaluate(m, &test, eval_prompts, eval_k, 1.0f, (uint64_t)pl->seed, CHECK_FREE, 0, 0);
        snprintf(line, sizeof line, "%-30s %7.3f %7.3f %7.3f %7.1f %10.3f %8.3f %10.3f %7.3f\n", labels[i],
                 res[i].pass1, res[i].cons, res[i].greedy, res[i].len, res[i].reflect, res[i].langmix,
                 res[i].repetition, res[i].format);
        if (json) eval_print(labels[i], &res[i], 1); else fputs(line, stdout);
        fputs(line, table);
        write_samples(samples, m, &test, 3, 1, 1.0f, labels[i]);
        model_free(m);
    }
    // pass@j: does RL only sharpen what a model could already sample (pass@16 unchanged), or add to it?
    snprintf(line, sizeof line, "\n%-30s %7s %7s %7s %7s %7s\n", "model", "pass@1", "pass@2", "pass@4",
             "pass@8", "pass@16");
    if (!json) fputs(line, stdout);
    fputs(line, table);
    for (int i = 0; i < N_ROWS; i++) {
        int n = snprintf(line, sizeof line, "%-30s", labels[i]);
        for (int q = 0; q < N_PASS_AT; q++)
            n += isnan(res[i].pass_at[q]) ? snprintf(line + n, sizeof line - n, " %7s", "n/a")
                                          : snprintf(line + n, sizeof line - n, " %7.3f", res[i].pass_at[q]);
        snprintf(line + n, sizeof line - n, "\n");
        if (!json) fputs(line, stdout);
        fputs(line, table);
    }
    fclose(table);
    fclose(samples);
    printf("table written to %s\n", pl->path[FILE_RESULTS]);
    char about[1200];
    snprintf(about, sizeof about, "./r1 pipeline --seed %d --scale %d%s%.400s%s%.400s; held-out: %d prompts "
             "of tiny_data/rl_test.txt, %d samples each at temperature 1 (pass@1, cons@k), and greedy.",
             pl->seed, pl->scale, base ? " --base " : "", base ? base : "", zero ? " --zero " : "",
             zero ? zero : "", res[0].n_prompts, eval_k);
    report_pipeline(pl->dir, about, labels, res, N_ROWS);
    printf("report: %s/report.html\n", pl->dir);
    data_free(&test);
}

// the R1 recipe: base, R1-Zero, cold start, reasoning RL, rejection sampling, SFT, final RL (R1 sections
// 2.2-2.3), then the students (section 2.4 and 4.1). Every stage resumes under --resume.
static void pipeline_train(Pipeline *pl, const char *base, const char *zero) {
    int ctx = find_preset(pretrain_defaults().preset)->cfg.context;
    // 1. the base model (the pretrained "DeepSeek-V3-Base")
    int countdown = pl->world && strcmp(pl->world, "countdown") == 0;
    TrainOptions pretrain = pipeline_lm(pl, pretrain_defaults(), NULL, STAGE_BASE,
                                        countdown ? COUNTDOWN_PRETRAIN_STEPS : pretrain_defaults().steps);
    pretrain.warmup = imin(pretrain.warmup, pretrain.steps);
    Data corpus = load_corpus(pretrain.data, ctx);
    if (base) snprintf(pl->model[STAGE_BASE], sizeof pl->model[STAGE_BASE], "%s", base);
    else model_free(train_lm(&pretrain, &corpus, "pipeline: pretrain base"));
    // 2. R1-Zero: RL straight from the base (section 2.2)
    GrpoOptions zero_rl = pipeline_rl(pl, grpo_defaults(), pl->model[STAGE_BASE], STAGE_ZERO,
                                      grpo_defaults().steps);
    if (zero) snprintf(pl->model[STAGE_ZERO], sizeof pl->model[STAGE_ZERO], "%s", zero);
    else model_free(grpo_train(&zero_rl));
    // 3. cold start: SFT of the base on a few hundred clean chains of thought (section 2.3.1); every SFT
    // stage warms up as this one does
    Data cold = load_sft(in_world(pl->world, sft_defaults().data), ctx);
    TrainOptions sft = pipeline_lm(pl, sft_defaults(), pl->model[STAGE_BASE], STAGE_COLDSTART,
                                   sft_defaults().steps);
    int sft_warmup = sft.warmup = imin(sft.warmup, sft.steps);
    model_free(train_lm(&sft, &cold, "pipeline: cold-start sft"));
    // 4. reasoning RL with the language-consistency reward (section 2.3.2)
    GrpoOptions rl = pipeline_rl(pl, reasoning_rl_defaults(), pl->model[STAGE_COLDSTART], STAGE_REASONING_RL,
                                 60);
    model_free(grpo_train(&rl));
    // 5. rejection sampling (section 2.3.3): correct, readable traces plus non-reasoning data
    Data train = load_prompts(in_world(pl->world, grpo_defaults().data), ctx);
    pipeline_rejsample(pl->model[STAGE_REASONING_RL], &train, scaled(pl, 1000), scaled(pl, 100), pl->summary,
                       pl->path[FILE_REJSAMPLE], (uint64_t)pl->seed, pl->resume);
    // 6. SFT of the base on them (the paper retrains from the base), 7. the final RL over reasoning
    // and non-reasoning prompts (section 2.3.4), all rewarded by rules: R1 rewards its general prompts by
    // a preference reward model, r1 has none (a departure)
    Data rej = load_sft(pl->path[FILE_REJSAMPLE], ctx);
    sft = pipeline_lm(pl, sft_defaults(), pl->model[STAGE_BASE], STAGE_R1_SFT, 200);
    sft.data = pl->path[FILE_REJSAMPLE]; sft.warmup = sft_warmup;
    model_free(train_lm(&sft, &rej, "pipeline: rejection-sampling sft"));
    FILE *f = fopenCheck(pl->path[FILE_FINAL_PROMPTS], "w");
    for (int i = 0; i < train.n; i++)
        fprintf(f, "%s\t%ld\t%d\n", train.text[i], train.answer[i], train.difficulty[i]);
    Rng nonreasoning_rng = rng_seed((uint64_t)pl->seed + 7);
    write_nonreasoning(f, train.n / 10, 1, &nonreasoning_rng);
    fclose(f);
    rl = pipeline_rl(pl, reasoning_rl_defaults(), pl->model[STAGE_R1_SFT], STAGE_R1, 40);
    rl.data = pl->path[FILE_FINAL_PROMPTS];
    model_free(grpo_train(&rl));
    pipeline_students(pl, &corpus, &train, sft_warmup);
    data_free(&corpus); data_free(&cold); data_free(&train); data_free(&rej);
}

// ./r1 pipeline: the whole recipe (R1 sections 2.2-2.4) end to end, then the results table
static void cmd_pipeline(int argc, char **argv) {
    const char *world = world_of_args("pipeline", argc, argv), *dir = in_world(world, "runs/pipeline");
    const char *base = NULL, *zero = NULL;
    int seed = 1, json = 0, eval_prompts = 300, eval_k = 16, scale = 100, resume = 0, overwrite = 0;
    int summary = 0;
    Option o[] = {
        { "world", 'w', &world, 0, 0, WORLD_HELP },
        { "out", 's', &dir, 0, 0, "folder for every stage's run" },
        { "resume", 'b', &resume, 0, 0,
          "continue the pipeline in OUT: finished stages are kept, an interrupted one resumes" },
        { "overwrite", 'b', &overwrite, 0, 0, "run every stage in OUT again, replacing the runs it holds" },
        { "base", 's', &base, 0, 0, "use this base model instead of pretraining one" },
        { "zero", 's', &zero, 0, 0, "use this R1-Zero model instead of training one" },
        { "seed", 'i', &seed, 0, 1e9, "seed of every stage" },
        { "eval-prompts", 'i', &eval_prompts, 1, 1e6, "held-out prompts in the final table" },
        { "eval-k", 'i', &eval_k, 1, 64, "samples per prompt in the final table (pass@j for j up to k)" },
        { "scale", 'i', &scale, 1, 1000, "percent of the default steps of every stage (tests use a few)" },
        { "json", 'b', &json, 0, 0, "print the table as JSON lines" },
        { "summary", 'b', &summary, 0, 0, "rejection sampling keeps chains to sums in the cold start's "
          "format, ending in a summary (for a cold-start file of gen --summary)" },
    };
    options_parse("pipeline", "base -> R1-Zero; base -> cold-start SFT -> reasoning RL -> rejection-sampling "
                  "SFT -> final RL (R1);\nR1 -> distilled students; the same student with RL. Ends with the "
                  "results table.",
                  o, (int)(sizeof o / sizeof o[0]), argc, argv);
    Pipeline pl = { .dir = dir, .world = world, .seed = seed, .scale = scale, .resume = resume,
                    .overwrite = overwrite, .summary = summary };
    for (int i = 0; i < N_PIPELINE_PATHS; i++)
        snprintf(pl.path[i], sizeof pl.path[i], "%.300s/%s", dir, PIPELINE_NAMES[i]);
    for (int i = 0; i < N_MODEL_STAGES; i++)
        snprintf(pl.model[i], sizeof pl.model[i], "%.399s/model.bin", pl.path[i]);
    if (resume && overwrite)
        die("pipeline: --resume continues the pipeline in %s, --overwrite starts it again: give one", dir);
    for (int i = 0; i < N_MODEL_STAGES && !resume && !overwrite; i++)
        if (access(pl.model[i], F_OK) == 0)
            die("pipeline: %s holds a checkpoint: --resume continues the pipeline (finished stages are "
                "kept), --overwrite runs every stage again", pl.path[i]);
    make_dirs(dir);
    pipeline_train(&pl, base, zero);
    pipeline_results(&pl, base, zero, eval_prompts, eval_k, json);
}

#ifndef TESTING
static void usage(void) {
    printf("r1: the DeepSeek-R1 recipe at toy scale\n\n"
           "usage: r1 COMMAND [options]   (r1 COMMAND --help for its options)\n\n"
           "  gen        write tiny_data/ from the generator\n"
           "  pretrain   train the base model on the mixed corpus\n"
           "  eval       pass@1, cons@k, greedy accuracy, length, reflection, language mix, repetition\n"
           "  sample     print responses to a prompt\n"
           "  probe      teacher-forced accuracy of each part of a response (sums, checks, answer)\n"
           "  zero       R1-Zero: GRPO from the base model, accuracy + format rewards\n"
           "  ppo        PPO with a critic from the base model, beside zero (the algorithm GRPO replaced)\n"
           "  grpo       reasoning RL from any checkpoint, rewards selectable\n"
           "  prm        a process reward model on the base model's steps (the road R1 did not take)\n"
           "  mcts       expert iteration with tree search over steps and a value head (the other road)\n"
           "  sft        supervised fine-tuning on prompt/response pairs\n"
           "  rejsample  sample k per prompt, keep the correct well-formed single-language ones (SFT file)\n"
           "  distill    teacher -> student, sequence-level or logit-level\n"
           "  pipeline   the whole recipe end to end and its results table\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2;
    }
    const char *cmd = argv[1];
#ifndef R1_MPI
    main_argv = argv;  // --kernels blas may run r1 again (blas_check_core); an MPI process may not
#endif
    threads_init();
    dist_init(&argc, &argv);
    if (dist_size > 1 && strcmp(cmd, "pretrain") != 0 && strcmp(cmd, "sft") != 0 &&
        strcmp(cmd, "zero") != 0 && strcmp(cmd, "grpo") != 0 && strcmp(cmd, "distill") != 0)
        die("%s runs on one process; pretrain, sft, zero, grpo and distill run on several", cmd);
    if (strcmp(cmd, "gen") == 0) cmd_gen(argc - 2, argv + 2);
    else if (strcmp(cmd, "pretrain") == 0) cmd_pretrain(argc - 2, argv + 2);
    else if (strcmp(cmd, "eval") == 0) cmd_eval(argc - 2, argv + 2);
    else if (strcmp(cmd, "sample") == 0) cmd_sample(argc - 2, argv + 2);
    else if (strcmp(cmd, "probe") == 0) cmd_probe(argc - 2, argv + 2);
    else if (strcmp(cmd, "zero") == 0) cmd_zero(argc - 2, argv + 2);
    else if (strcmp(cmd, "prm") == 0) cmd_prm(argc - 2, argv + 2);
    else if (strcmp(cmd, "mcts") == 0) cmd_mcts(argc - 2, argv + 2);
    else if (strcmp(cmd, "ppo") == 0) cmd_ppo(argc - 2, argv + 2);
    else if (strcmp(cmd, "grpo") == 0) cmd_grpo(argc - 2, argv + 2);
    else if (strcmp(cmd, "sft") == 0) cmd_sft(argc - 2, argv + 2);
    else if (strcmp(cmd, "rejsample") == 0) cmd_rejsample(argc - 2, argv + 2);
    else if (strcmp(cmd, "distill") == 0) cmd_distill(argc - 2, argv + 2);
    else if (strcmp(cmd, "pipeline") == 0) cmd_pipeline(argc - 2, argv + 2);
    else die("unknown command '%s' (see r1 --help)", cmd);
    dist_finish();
    return 0;
}
#endif
