/*
fuzz_r1.h: what the three fuzz targets share; each target includes this instead of r1.c.

r1.c ends every bad input in die(): one line on stderr and exit(1). A fuzz target has to survive
that and go on with the next input. So here, in fuzz builds only:
  - exit() inside r1.c jumps back to the fuzz target (longjmp to fuzz_exit_jump) instead of exiting;
  - every block r1.c allocates and every file it opens is recorded, and fuzz_release() frees and
    closes whatever a loader still held when it died;
  - r1.c's stderr (die's line, printed for nearly every input) goes to /dev/null, so that the
    fuzzer's log holds only its own progress and what the targets and sanitizers find.
r1.c itself is compiled unchanged: the names are redirected by the #defines below, which apply to
r1.c's code only (the system headers are included before them).

A target's LLVMFuzzerTestOneInput looks like:
    if (setjmp(fuzz_exit_jump) == 0) { ... call r1.c, check what it returned, free it ... }
    fuzz_release();
fuzz_release() also reports a leak (abort) if r1.c's own success path forgot to free something.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <errno.h>
#include <stdarg.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <unistd.h>

static jmp_buf fuzz_exit_jump;
static int fuzz_exited;  // 1 after r1.c called exit() (a die(), or --help)

static void fuzz_exit(int status) __attribute__((noreturn));
static void fuzz_exit(int status) {
    (void)status;
    fuzz_exited = 1;
    longjmp(fuzz_exit_jump, 1);
}

// the blocks r1.c holds, in an open-addressing table (NULL: empty slot, LIVE_GONE: freed)
#define LIVE_SLOTS (1 << 16)
#define LIVE_GONE ((void *)1)
static void *live[LIVE_SLOTS];
static int n_live, n_used;       // blocks held; slots in use (held or freed)
static int used[LIVE_SLOTS / 2]; // the slots in use, so that releasing does not scan the whole table

static void fuzz_fail(const char *what) { fprintf(stderr, "fuzz: %s\n", what); abort(); }

static size_t live_slot(const void *p) { return (size_t)((((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull) >> 48); }

static void live_add(void *p) {
    if (!p) return;
    if (n_used >= LIVE_SLOTS / 2) fuzz_fail("more allocations than the table holds");
    size_t i = live_slot(p);
    while (live[i] && live[i] != LIVE_GONE) i = (i + 1) & (LIVE_SLOTS - 1);
    if (!live[i]) used[n_used++] = (int)i;
    live[i] = p;
    n_live++;
}

static void live_remove(void *p) {
    if (!p) return;
    size_t i = live_slot(p);
    while (live[i] != p) {
        if (!live[i]) return;  // not r1.c's block: the sanitizer judges the free itself
        i = (i + 1) & (LIVE_SLOTS - 1);
    }
    live[i] = LIVE_GONE;
    n_live--;
}

static void *fuzz_calloc(size_t n, size_t size) { void *p = calloc(n, size); live_add(p); return p; }
static void *fuzz_realloc(void *p, size_t size) {
    void *q = realloc(p, size);
    if (q) { live_remove(p); live_add(q); }
    return q;
}
static char *fuzz_strdup(const char *s) { char *p = strdup(s); live_add(p); return p; }
static void fuzz_free(void *p) { live_remove(p); free(p); }

// the files r1.c has open
#define MAX_OPEN 16
static FILE *open_files[MAX_OPEN];
static FILE *fuzz_fopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    for (int i = 0; f && i < MAX_OPEN; i++) if (!open_files[i]) { open_files[i] = f; return f; }
    if (f) fuzz_fail("too many open files");
    return f;
}
static int fuzz_fclose(FILE *f) {
    for (int i = 0; i < MAX_OPEN; i++) if (open_files[i] == f) open_files[i] = NULL;
    return fclose(f);
}

// r1.c's stderr
static FILE *fuzz_quiet(void) {
    static FILE *f;
    if (!f) f = fopen("/dev/null", "w");
    return f;
}

#define exit fuzz_exit
#undef stderr
#define stderr fuzz_quiet()
#define calloc fuzz_calloc
#define realloc fuzz_realloc
#define strdup fuzz_strdup
#define free fuzz_free
#define fopen fuzz_fopen
#define fclose fuzz_fclose
#define TESTING  // r1.c without its main()
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../r1.c"
#pragma GCC diagnostic pop
#undef exit
#undef calloc
#undef realloc
#undef strdup
#undef free
#undef fopen
#undef fclose
#undef stderr
#define stderr stderr

// after each input: free and close what r1.c still holds. Only a die() may leave anything behind;
// after a normal return everything must already be freed (else: a leak, reported as a crash).
static void fuzz_release(void) {
    int leaked = !fuzz_exited && n_live > 0;
    for (int i = 0; i < MAX_OPEN; i++) if (open_files[i]) { fclose(open_files[i]); open_files[i] = NULL; }
    for (int k = 0; k < n_used; k++) {
        if (live[used[k]] != LIVE_GONE) free(live[used[k]]);
        live[used[k]] = NULL;
    }
    n_live = n_used = 0;
    fuzz_exited = 0;
    if (leaked) fuzz_fail("r1.c returned normally but did not free everything it allocated");
}

// a file holding the current input (the loaders read paths), one per process; in /dev/shm when
// there is one, as checkpoint_save's fsync on a disk would dominate the time of an input
static char fuzz_path[64];
static void fuzz_remove_file(void) { remove(fuzz_path); }
static __attribute__((unused)) const char *fuzz_write_file(const uint8_t *data, size_t size) {
    if (!fuzz_path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_path, sizeof fuzz_path, "%s/r1_fuzz.%d", dir, (int)getpid());
        atexit(fuzz_remove_file);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) fuzz_fail("cannot write the input file");
    return fuzz_path;
}
