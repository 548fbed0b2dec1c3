/*
tools/check.h: the one reporter of the test programs (test_r1.c, ref/test_ref.c, tools/test_cuda.c).

check(ok, fmt, ...) prints one line, "PASS  ..." or "FAIL  ...", and counts it; check_summary() prints
the last line, "N passed, N failed", which `make test` (tools/run_tests.sh) adds up over the programs,
and returns the exit status (non-zero if anything failed).

R1_TEST_FAILFAST=1 in the environment stops a program at its first FAIL (summary line, exit status 1):
`make mutate` uses it so that a broken copy of r1.c is rejected as soon as one check catches it.
*/
#ifndef CHECK_H
#define CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>

static int n_pass = 0, n_fail = 0;

static int check_summary(void) {
    printf("%d passed, %d failed\n", n_pass, n_fail);
    fflush(stdout);
    return n_fail != 0;
}

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s  ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) { n_pass++; return; }
    n_fail++;
    const char *ff = getenv("R1_TEST_FAILFAST");
    if (ff && ff[0] == '1') {
        printf("stopped at the first failure (R1_TEST_FAILFAST=1)\n");
        exit(check_summary());
    }
}

#endif
