/*
fuzz_code.c: the code world's interpreter and its readers of text: code_run on any bytes, code_parse on
any prompt, the reward and the audit of candidates on any response.

An input's first byte chooses x (0-9); the rest is a program (exactly its bytes, NUL bytes too), then, up
to its first NUL byte, a prompt and a response. Besides never crashing or reading out of bounds, the
checks: code_run is a function of the text and x (the same value twice); a value it returns lies within
the overflow bound; a program that runs keeps its value when its text is followed by other bytes it was
not given (the interpreter reads no further than its length); a reward is 0 or 1, and passing every test
implies passing the shown ones; the audit counts no more verdicts than tries, no more retries than "no"s.
*/
#include "fuzz_r1.h"

static void check(int ok, const char *what) { if (!ok) fuzz_fail(what); }

static void fuzz_interpreter(const char *program, int len, int x) {
    int v1 = 0, v2 = 0, ran = code_run(program, len, x, &v1);
    check(ran == code_run(program, len, x, &v2) && (!ran || v1 == v2), "code_run: two runs differ");
    check(!ran || (v1 >= -CODE_MAX_VALUE && v1 <= CODE_MAX_VALUE), "code_run: a value beyond the bound");
    check(!ran || (len > 0 && len <= CODE_MAX_LEN), "code_run: ran a program of a length it must refuse");
    // the same text inside a longer buffer: the interpreter must read the first len bytes only
    char *longer = malloc((size_t)len + 8);
    memcpy(longer, program, (size_t)len);
    memcpy(longer + len, "9*9*9*9", 8);
    int v3 = 0, ran3 = code_run(longer, len, x, &v3);
    check(ran3 == ran && (!ran || v3 == v1), "code_run: read beyond its length");
    free(longer);
}

static void fuzz_judge(const char *text) {
    // "prompt<TAB>response": a prompt the code world may read, a response judged against x*2+1 (121)
    const char *tab = strchr(text, '\t');
    if (!tab) return;
    char prompt[64];
    snprintf(prompt, sizeof prompt, "%.*s", (int)(tab - text) < 63 ? (int)(tab - text) : 63, text);
    CodeTask t;
    if (!code_parse(prompt, &t)) return;
    for (int i = 0; i < CODE_SHOWN; i++)
        check(t.in[i] >= 0 && t.in[i] < CODE_INPUTS, "code_parse: an input out of 0-9");
    const char *response = tab + 1;
    CodeFn f = { CODE_LINEAR, 2, 1 };
    float shown = reward_code(response, &t, &f, CODE_TESTS_SHOWN);
    float hidden = reward_code(response, &t, &f, CODE_TESTS_HIDDEN);
    float both = reward_code(response, &t, &f, CODE_TESTS_BOTH);
    check((shown == 0.0f || shown == 1.0f) && (hidden == 0.0f || hidden == 1.0f) && both == (shown && hidden),
          "reward_code: not 0 or 1, or both is not shown and hidden");
    TryAudit a = audit_code(&t, response);
    check(a.verdicts <= a.tries && a.retries <= a.nos && a.oks + a.nos == a.verdicts &&
          a.faithful <= a.verdicts && a.false_oks <= a.oks, "audit_code: counts that contradict each other");
    Judgement j = judge_code(response, (int)strlen(response), &t, 121);
    Measures ms = measure_response(prompt, response);
    check(ms.style >= 0 && ms.style < N_CODE_STYLES && j.correct == both,
          "judge_code: correct is not the reward of every test, or measure_response: a style out of range");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int x = data[0] % CODE_INPUTS, len = (int)(size - 1 > 4096 ? 4096 : size - 1);
    char *program = malloc((size_t)len + 1);  // exactly the bytes: the interpreter gets no NUL to stop at
    memcpy(program, data + 1, (size_t)len);
    fuzz_interpreter(program, len, x);
    program[len] = 0;
    if (setjmp(fuzz_exit_jump) == 0) fuzz_judge(program);
    free(program);
    fuzz_release();
    return 0;
}
