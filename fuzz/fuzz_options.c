/*
fuzz_options.c: the option parser, with the real tables of pretrain/sft and of zero/grpo.

An input is a command line, one argument per line ('\n' separates arguments). It is parsed by the
pretrain table and by the grpo table. Besides never crashing, the check: when parsing succeeds,
every number of either table lies in its declared range (ints exactly, floats up to the
rounding of the bounds to float), every word option holds one of the words its help lists and every
list option only those words, each once, and every string option points to one of the arguments.
*/
#include "fuzz_r1.h"

static void check(int ok, const char *what) { if (!ok) fuzz_fail(what); }

// 1 if value is a comma list (list) or a single word (!list) of the words in braces of help, each once
static int words_valid(const char *value, const char *help, int list) {
    int seen = 0;
    for (const char *w = value;; w++) {
        size_t len = strcspn(w, ",");
        int k = word_index(w, len, help);
        if (k < 0 || (seen & (1 << k)) || (!list && w[len])) return 0;
        seen |= 1 << k;
        w += len;
        if (!*w) return 1;
    }
}

#define MAX_ARGS 64
#define MAX_OPTIONS 64

// the string values of a table (its defaults, before parsing), to compare pointers with after it
static void table_strings(const Option *o, int n, const char **strs) {
    for (int i = 0; i < n; i++) strs[i] = o[i].type == 's' ? *(const char **)o[i].ptr : NULL;
}

// every option of a parsed table within what its entry declares
static void check_table(const Option *o, int n, const char **defaults, int argc, char **argv) {
    for (int i = 0; i < n; i++) {
        if (o[i].type == 'i') check(*(int *)o[i].ptr >= o[i].lo && *(int *)o[i].ptr <= o[i].hi, "an int option out of range");
        if (o[i].type == 'f') {
            float v = *(float *)o[i].ptr;
            check(v >= (float)o[i].lo && v <= (float)o[i].hi, "a float option out of range (or NaN)");
        }
        if (o[i].type == 'b') check(*(int *)o[i].ptr == 0 || *(int *)o[i].ptr == 1, "a flag is neither 0 nor 1");
        if (o[i].type == 'w' || o[i].type == 'l')
            check(words_valid(*(const char **)o[i].ptr, o[i].help, o[i].type == 'l'), "a word option outside its set");
        if (o[i].type == 's') {
            const char *v = *(const char **)o[i].ptr;
            int found = v == defaults[i];
            for (int a = 0; a < argc; a++) found |= v == argv[a];
            check(found, "a string option points outside the arguments");
        }
    }
}

// parses the command line with the table o of n options; if parsing succeeds, checks the values
static void parse_table(const char *cmd, Option *o, int n, int argc, char **argv) {
    const char *defaults[MAX_OPTIONS];
    if (setjmp(fuzz_exit_jump) == 0) {
        check(n <= MAX_OPTIONS, "MAX_OPTIONS too small");
        table_strings(o, n, defaults);
        options_parse(cmd, "fuzz", o, n, argc, argv);
        check_table(o, n, defaults, argc, argv);
    }
    fuzz_release();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 1];
    memcpy(buf, data, size);
    buf[size] = 0;
    int argc = 0;
    for (char *p = buf; argc < MAX_ARGS;) {  // split at '\n' (a NUL byte ends an argument early)
        argv[argc++] = p;
        char *nl = memchr(p, '\n', (size_t)(buf + size - p));
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    if (size == 0) argc = 0;
    argv[argc] = NULL;
    // the pretrain/sft table, then the zero/grpo table
    TrainOptions t = pretrain_defaults();
    int n_train, n_grpo;
    parse_table("pretrain", train_options(&t, &n_train), n_train, argc, argv);
    GrpoOptions g = grpo_defaults();
    parse_table("grpo", grpo_options(&g, &n_grpo), n_grpo, argc, argv);
    free(buf);
    return 0;
}
