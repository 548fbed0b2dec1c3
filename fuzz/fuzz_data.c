/*
fuzz_data.c: the data loaders (pretraining corpus, RL prompts, SFT pairs) and the tokenizer.

An input is a data file behind two bytes: the first picks the loader (corpus, prompts, sft), the
second the context (8..135 tokens). Besides never crashing, the checks:
  - a file that loads has one example per line, every sequence 1..context tokens of valid ids,
    and the fields the format promises (corpus: >= 2 tokens; prompts: difficulty 0..15 and a
    language tag; sft: a prompt and a non-empty response);
  - the tokens are exactly the line: decoded, they give back the line of the file (corpus), its
    text before the first tab (prompts), or prompt, tab, response (sft), byte for byte;
  - the tokenizer round-trips: decode(encode(text)) == text for every text it accepts;
  - a countdown SFT pair: its reward is 0 or 1 and the audit of its tries counts consistently.
*/
#include "fuzz_r1.h"

static void check(int ok, const char *what) { if (!ok) fuzz_fail(what); }

// line i of the file (without its '\n' and trailing '\r's) in *line, its length returned
static size_t file_line(const uint8_t *file, size_t size, int i, const uint8_t **line) {
    size_t start = 0;
    for (; i > 0; i--) start = (size_t)((const uint8_t *)memchr(file + start, '\n', size - start) - file) + 1;
    const uint8_t *nl = memchr(file + start, '\n', size - start);
    size_t len = nl ? (size_t)(nl - file) - start : size - start;
    while (len > 0 && file[start + len - 1] == '\r') len--;
    *line = file + start;
    return len;
}

static void fuzz_loader(int kind, int context, const uint8_t *file, size_t size) {
    const char *path = fuzz_write_file(file, size);
    int lines = 0;  // the lines of the file: its newlines, plus a last line without one
    for (size_t i = 0; i < size; i++) lines += file[i] == '\n';
    if (size > 0 && file[size - 1] != '\n') lines++;
    if (setjmp(fuzz_exit_jump) == 0) {
        Data d = kind == 0 ? load_corpus(path, context) : kind == 1 ? load_prompts(path, context) : load_sft(path, context);
        check(d.n == lines, "a loaded file has not one example per line");
        char *text = malloc((size_t)context * 10 + 2);
        for (int i = 0; i < d.n; i++) {
            check(d.len[i] >= 1 && d.len[i] <= context, "a loaded sequence is empty or longer than the context");
            for (int t = 0; t < d.len[i]; t++) check(d.ids[i][t] >= 0 && d.ids[i][t] < VOCAB_SIZE, "a token id is out of range");
            if (kind == 0) check(d.len[i] >= 2 && d.prompt_len[i] == 1, "a corpus document is shorter than two tokens");
            if (kind == 1) check(d.difficulty[i] >= 0 && d.difficulty[i] < 16 && (d.text[i][0] == 'e' || d.text[i][0] == 'j'),
                                 "a prompt has a bad difficulty or no language tag");
            if (kind == 2) check(d.prompt_len[i] >= 1 && d.prompt_len[i] < d.len[i], "an sft pair has no prompt or no response");
            // the tokens give back the line
            const uint8_t *line;
            size_t len = file_line(file, size, i, &line);
            if (kind == 1) { const uint8_t *tab = memchr(line, '\t', len); len = (size_t)(tab - line); }
            if (kind == 2) {
                decode(d.ids[i], d.prompt_len[i], text);
                strcat(text, "\t");
                decode(d.ids[i] + d.prompt_len[i], d.len[i] - d.prompt_len[i], text + strlen(text));
            } else {
                decode(d.ids[i], d.len[i], text);
            }
            check(strlen(text) == len && memcmp(text, line, len) == 0, "the loaded tokens are not the line of the file");
            // a countdown pair: the reward and the audit of its tries read any response without harm
            Countdown cd;
            if (kind == 2 && countdown_parse(d.text[i], &cd)) {
                TryAudit a = audit_tries(&cd, d.response[i]);
                float r = reward_countdown(d.response[i], &cd);
                check((r == 0.0f || r == 1.0f) && a.verdicts <= a.tries && a.oks + a.nos == a.verdicts &&
                      a.faithful <= a.verdicts && a.retries <= a.nos && a.false_oks <= a.oks,
                      "the audit of a countdown response counts inconsistently");
            }
        }
        free(text);
        data_free(&d);
    }
    fuzz_release();
}

static void fuzz_tokenizer(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1), *back = malloc(10 * size + 1);
    int *ids = malloc((size + 1) * sizeof(int));
    memcpy(text, data, size);
    text[size] = 0;  // the text up to its first NUL byte
    char bad = 0;
    int n = encode(text, ids, (int)size + 1, &bad);
    check(n >= -1, "encode: a text shorter than its buffer reported as too long");
    if (n >= 0) {
        for (int i = 0; i < n; i++) check(ids[i] >= 0 && ids[i] < VOCAB_SIZE, "encode: a token id is out of range");
        decode(ids, n, back);
        check(strcmp(back, text) == 0, "decode(encode(text)) != text");
    } else {
        check(bad != 0 && strchr(text, bad) != NULL, "encode: the reported bad character is not in the text");
    }
    free(text); free(back); free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    fuzz_loader(data[0] % 3, 8 + data[1] % 128, data + 2, size - 2);
    fuzz_tokenizer(data + 2, size - 2);
    return 0;
}
