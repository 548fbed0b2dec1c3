/*
tools/cuda_emu.h: runs r1.cu's kernels on the CPU, for the tests (make test). Test-only.

    g++ -std=c++17 -include tools/cuda_emu.h -x c++ -c r1.cu

It supplies what nvcc would: __global__, __shared__, dim3, blockIdx/threadIdx/blockDim/gridDim,
__syncthreads, cudaMalloc/cudaMemcpy/cudaFree (device memory is host memory), and emu_launch, which
r1.cu's launch() calls instead of kernel<<<grid, block>>>(args).

How a launch runs: the blocks one after another; inside a block, every CUDA thread is a ucontext
coroutine with its own stack. The scheduler switches to each thread in turn; a thread runs until it
reaches __syncthreads (it then switches back to the scheduler) or returns. When every thread of the
block waits at the barrier, the next round starts, so no thread passes a barrier before all have
reached it, exactly the guarantee CUDA gives. (A block whose thread 0 returns without reaching a
barrier has none: its other threads run as plain calls, and a barrier among them is an error.) __shared__ variables are function statics: one copy,
seen by every thread of the block (blocks run one at a time, so one copy per block at any moment).

Checks that a GPU would not report clearly but that catch bugs here: a kernel argument that is a
pointer must point into memory from cudaMalloc (a host pointer passed to a kernel is an error);
__syncthreads must be reached by all threads of a block or by none (a thread that returns while
others wait at a barrier is an error); memory just past each allocation reads as NaN and must not be
written. Each prints one line and exits.
*/
#ifndef CUDA_EMU_H
#define CUDA_EMU_H
#define CUDA_EMU 1

#include <ucontext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <functional>

// ---- the CUDA types and qualifiers

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
#define __global__
#define __device__
#define __host__
#define __shared__ static

// the built-in variables; the scheduler sets threadIdx before it switches to a thread
uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

// ---- memory: device allocations are host allocations, remembered so kernel arguments can be checked

typedef enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidValue = 1 } cudaError_t;
typedef enum { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice } cudaMemcpyKind;

// every allocation is followed by a guard of EMU_GUARD bytes 0xff (as floats: NaN). A kernel that reads
// past the end gets NaN, which reaches the result even when multiplied by 0; one that writes past the
// end is caught after the launch.
#define EMU_GUARD 4096
struct EmuAlloc { char *p; size_t n; };
static EmuAlloc emu_allocs[256];
static int emu_n_allocs = 0;

inline const char *cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated CUDA error"; }
inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }

inline cudaError_t cudaMalloc(void **p, size_t n) {
    if (emu_n_allocs == 256) return cudaErrorMemoryAllocation;
    *p = malloc(n + EMU_GUARD);
    if (!*p) return cudaErrorMemoryAllocation;
    memset((char *)*p + n, 0xff, EMU_GUARD);
    emu_allocs[emu_n_allocs++] = EmuAlloc{ (char *)*p, n };
    return cudaSuccess;
}
inline cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    for (int i = 0; i < emu_n_allocs; i++)
        if (emu_allocs[i].p == p) { free(p); emu_allocs[i] = emu_allocs[--emu_n_allocs]; return cudaSuccess; }
    return cudaErrorInvalidValue;
}
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind) {
    (void)kind;
    if (n) memcpy(dst, src, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *p, int v, size_t n) { memset(p, v, n); return cudaSuccess; }

// is p inside a cudaMalloc allocation?
static int emu_is_device(const void *p) {
    for (int i = 0; i < emu_n_allocs; i++)
        if ((const char *)p >= emu_allocs[i].p && (const char *)p <= emu_allocs[i].p + emu_allocs[i].n)
            return 1;
    return 0;
}
static void emu_fail(const char *msg) { fprintf(stderr, "cuda_emu: %s\n", msg); exit(1); }
static void emu_check_guards(void) {
    for (int i = 0; i < emu_n_allocs; i++)
        for (size_t j = 0; j < EMU_GUARD; j++)
            if ((unsigned char)emu_allocs[i].p[emu_allocs[i].n + j] != 0xff) emu_fail("a kernel wrote past the end of a device allocation");
}
template <typename T> static void emu_check_arg(T *p) {
    if (!emu_is_device(p)) emu_fail("a kernel argument points outside device memory");
}
template <typename T> static void emu_check_arg(T) {}

// ---- threads as coroutines

#define EMU_MAX_THREADS 1024
#define EMU_STACK (64 * 1024)
enum { EMU_RUNNING, EMU_AT_BARRIER, EMU_DONE };
static ucontext_t emu_sched_ctx, emu_ctx[EMU_MAX_THREADS];
static int emu_state[EMU_MAX_THREADS];
static char *emu_stacks = NULL;
static int emu_cur = 0;                            // the thread that runs now
static std::function<void()> *emu_body = NULL;     // the kernel call of the current launch

static int emu_plain = 0;                          // threads run as plain calls (no barrier allowed)

static void emu_thread_main(void) {
    (*emu_body)();
    emu_state[emu_cur] = EMU_DONE;                 // returning resumes uc_link, the scheduler
}

static void __syncthreads(void) {
    if (emu_plain) emu_fail("__syncthreads was not reached by every thread of a block");
    emu_state[emu_cur] = EMU_AT_BARRIER;
    swapcontext(&emu_ctx[emu_cur], &emu_sched_ctx);
}

static void emu_set_thread(int i) {
    emu_cur = i;
    threadIdx = uint3{ i % blockDim.x, i / blockDim.x % blockDim.y, i / (blockDim.x * blockDim.y) };
}

static void emu_make_thread(int i) {
    getcontext(&emu_ctx[i]);
    emu_ctx[i].uc_stack.ss_sp = emu_stacks + (size_t)i * EMU_STACK;
    emu_ctx[i].uc_stack.ss_size = EMU_STACK;
    emu_ctx[i].uc_link = &emu_sched_ctx;
    makecontext(&emu_ctx[i], emu_thread_main, 0);
    emu_state[i] = EMU_RUNNING;
}

static void emu_resume(int i) {
    emu_set_thread(i);
    swapcontext(&emu_sched_ctx, &emu_ctx[i]);
}

static void emu_run_block(int nthreads) {
    // thread 0 first. If it returns without reaching a barrier, no thread of the block may reach one
    // (CUDA: all threads or none), and the others run as plain calls: much faster than coroutines.
    emu_make_thread(0);
    emu_resume(0);
    if (emu_state[0] == EMU_DONE) {
        emu_plain = 1;
        for (int i = 1; i < nthreads; i++) { emu_set_thread(i); (*emu_body)(); }
        emu_plain = 0;
        return;
    }
    for (int i = 1; i < nthreads; i++) emu_make_thread(i);
    for (int round = 0;; round++) { // every thread runs to its next barrier or to its end
        int waiting = 0, done = 0;
        for (int i = 0; i < nthreads; i++) {
            if (emu_state[i] == EMU_DONE) { done++; continue; }
            if (round > 0 || i > 0) emu_resume(i); // thread 0 already ran its first stretch
            if (emu_state[i] == EMU_AT_BARRIER) waiting++; else done++;
        }
        if (waiting == 0) return;
        if (done > 0) emu_fail("__syncthreads was not reached by every thread of a block");
        for (int i = 0; i < nthreads; i++) emu_state[i] = EMU_RUNNING;
    }
}

// kernel<<<grid, block>>>(args...), run to completion
template <typename... P, typename... A>
static void emu_launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args) {
    (emu_check_arg(args), ...);
    int nthreads = (int)(block.x * block.y * block.z);
    if (nthreads < 1 || nthreads > EMU_MAX_THREADS || grid.x * grid.y * grid.z == 0)
        emu_fail("invalid launch configuration");
    if (!emu_stacks) emu_stacks = (char *)malloc((size_t)EMU_MAX_THREADS * EMU_STACK);
    if (!emu_stacks) emu_fail("out of memory for thread stacks");
    std::function<void()> body = [=] { kernel(args...); };
    emu_body = &body;
    gridDim = grid;
    blockDim = block;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx = uint3{ x, y, z };
                emu_run_block(nthreads);
            }
    emu_body = NULL;
    emu_check_guards();
}

#endif
