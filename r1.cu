/*
r1.cu: the hot loops of r1.c as CUDA kernels (make r1_cuda).

r1.c built with -DR1_CUDA sends four functions here, with the same arguments and the same results:

    matmul_forward      out[N,OC] = inp[N,C] @ weight[OC,C]^T            matmul_forward_kernel
    matmul_backward     dinp[N,C] += dout[N,OC] @ weight[OC,C]            matmul_backward_dinp_kernel
                        dweight[OC,C] += dout[N,OC]^T @ inp[N,C]          matmul_backward_dweight_kernel
    attention_forward   causal softmax(q k^T / sqrt(HS)) v, per head       attention_scores_kernel,
                                                                           softmax_forward_kernel,
                                                                           attention_values_kernel
    attention_backward  its gradient                                       attention_datt_kernel,
                                                                           softmax_backward_kernel,
                                                                           attention_dv_kernel,
                                                                           attention_dq_kernel,
                                                                           attention_dk_kernel

Everything else (norms, RoPE, MoE routing, losses, the optimizer) stays the C code on the host.
The pointers passed in are host pointers. The parameters live on the device: r1.c registers its
parameter buffer once (cuda_register_params), marks it changed after every update
(cuda_params_changed) and releases it with the model (cuda_free_params); the device copy is
refreshed once, at the next use. A weight is found on the
device by its offset in the registered buffer. Activations and gradients go up and down per call.

Each kernel's comment names the C loop of r1.c it computes. The kernels are written to be read:
a 16x16 tiled shared-memory matmul, and one thread per output element (or per softmax row) for
attention. They also run on the CPU in make test (tools/cuda_emu.h, tools/test_cuda.c), where every
one of them is compared with the C loops.
*/
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

// ----------------------------------------------------------------------------
// errors and launches

static void cuda_check(cudaError_t err, const char *what, int line) {
    if (err != cudaSuccess) {
        fprintf(stderr, "r1.cu:%d: %s failed: %s\n", line, what, cudaGetErrorString(err));
        exit(1);
    }
}
#define cudaCheck(call) cuda_check((call), #call, __LINE__)

// kernel<<<grid, block>>>(args); on the CPU emulation (tools/cuda_emu.h) the same, run by coroutines
template <typename... P, typename... A>
static void launch(void (*kernel)(P...), dim3 grid, dim3 block, A... args) {
#ifdef CUDA_EMU
    emu_launch(kernel, grid, block, args...);
#else
    kernel<<<grid, block>>>(args...);
#endif
    cudaCheck(cudaGetLastError());
}

static unsigned ceil_div(long a, long b) { return (unsigned)((a + b - 1) / b); }

// ----------------------------------------------------------------------------
// device memory: the resident parameters, and scratch buffers that grow as needed

#define MAX_REGISTERED 8
typedef struct {
    const float *host;  // r1.c's parameter buffer
    size_t n;           // its length in floats
    float *dev;         // its copy on the device
    int stale;          // the host copy changed since the last upload
} Registered;
static Registered registered[MAX_REGISTERED];

extern "C" void cuda_register_params(const float *params, size_t n) {
    int n_devices = 0;
    cudaError_t err = cudaGetDeviceCount(&n_devices);
    if (err != cudaSuccess || n_devices == 0) {
        fprintf(stderr, "r1_cuda: no usable CUDA device (%s)\n", err != cudaSuccess ? cudaGetErrorString(err) : "none found");
        exit(1);
    }
    int slot = -1;
    for (int i = 0; i < MAX_REGISTERED; i++) if (!registered[i].host) { slot = i; break; }
    if (slot < 0) { fprintf(stderr, "r1.cu: more than %d parameter buffers registered\n", MAX_REGISTERED); exit(1); }
    Registered *r = &registered[slot];
    r->host = params;
    r->n = n;
    cudaCheck(cudaMalloc((void **)&r->dev, n * sizeof(float)));
    cudaCheck(cudaMemcpy(r->dev, params, n * sizeof(float), cudaMemcpyHostToDevice));
    r->stale = 0;
}

extern "C" void cuda_params_changed(const float *params) {
    for (int i = 0; i < MAX_REGISTERED; i++) if (registered[i].host == params) registered[i].stale = 1;
}

extern "C" void cuda_free_params(const float *params) {
    for (int i = 0; i < MAX_REGISTERED; i++) {
        if (registered[i].host != params) continue;
        cudaCheck(cudaFree(registered[i].dev));
        registered[i].host = NULL;
        registered[i].dev = NULL;
    }
}

// scratch buffer number `slot`, at least n floats (one slot per operand of a call)
enum { S_A, S_B, S_C, S_D, S_E, S_F, S_G, S_H, S_I, N_SCRATCH };
static float *scratch_buf[N_SCRATCH];
static size_t scratch_cap[N_SCRATCH];
static float *scratch(int slot, size_t n) {
    if (n > scratch_cap[slot]) {
        cudaCheck(cudaFree(scratch_buf[slot]));
        cudaCheck(cudaMalloc((void **)&scratch_buf[slot], n * sizeof(float)));
        scratch_cap[slot] = n;
    }
    return scratch_buf[slot];
}

// host -> scratch slot on the device
static float *upload(int slot, const float *host, size_t n) {
    float *d = scratch(slot, n);
    cudaCheck(cudaMemcpy(d, host, n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}
static void download(float *host, const float *dev, size_t n) {
    cudaCheck(cudaMemcpy(host, dev, n * sizeof(float), cudaMemcpyDeviceToHost));
}

// the device copy of the n floats at host address w: the resident parameters when w lies in a
// registered buffer (uploaded again first if they changed), else a copy in scratch slot `slot`
static const float *device_weight(const float *w, size_t n, int slot) {
    for (int i = 0; i < MAX_REGISTERED; i++) {
        Registered *r = &registered[i];
        if (r->host && w >= r->host && w + n <= r->host + r->n) {
            if (r->stale) {
                cudaCheck(cudaMemcpy(r->dev, r->host, r->n * sizeof(float), cudaMemcpyHostToDevice));
                r->stale = 0;
            }
            return r->dev + (w - r->host);
        }
    }
    return upload(slot, w, n);
}

// ----------------------------------------------------------------------------
// matmul: 16x16 tiles in shared memory. Each block computes a 16x16 tile of the result, one element
// per thread; it walks along the summed dimension 16 at a time, the block first loading one 16x16
// piece of each operand into shared memory (one element per thread, zero outside the matrices),
// then every thread summing 16 products from there. Each operand element is read from global
// memory once per block instead of once per thread: 16x less memory traffic than the naive loop.

#define TILE 16

// out[N,OC] = inp[N,C] @ weight[OC,C]^T
// C loop (matmul_forward): for n, for o: out[n][o] = sum_i inp[n][i] * weight[o][i]
// grid (OC/16, N/16), block (16,16): thread (x,y) of block (bx,by) computes out[16 by + y][16 bx + x]
__global__ void matmul_forward_kernel(float *out, const float *inp, const float *weight, int N, int C, int OC) {
    __shared__ float xs[TILE][TILE];     // xs[r][j] = inp[n0 + r][i0 + j]
    __shared__ float ws[TILE][TILE + 1]; // ws[r][j] = weight[o0 + r][i0 + j] (+1: no shared-memory bank conflicts)
    int tx = threadIdx.x, ty = threadIdx.y;
    int n0 = blockIdx.y * TILE, o0 = blockIdx.x * TILE;
    float acc = 0.0f;
    for (int i0 = 0; i0 < C; i0 += TILE) {
        int i = i0 + tx;
        xs[ty][tx] = (n0 + ty < N && i < C) ? inp[(size_t)(n0 + ty) * C + i] : 0.0f;
        ws[ty][tx] = (o0 + ty < OC && i < C) ? weight[(size_t)(o0 + ty) * C + i] : 0.0f;
        __syncthreads();
        for (int j = 0; j < TILE; j++) acc += xs[ty][j] * ws[tx][j];
        __syncthreads();  // before the next tiles overwrite these
    }
    int n = n0 + ty, o = o0 + tx;
    if (n < N && o < OC) out[(size_t)n * OC + o] = acc;
}

// dinp[N,C] += dout[N,OC] @ weight[OC,C]
// C loop (matmul_backward, dinp): for n, for o, for i: dinp[n][i] += dout[n][o] * weight[o][i]
// grid (C/16, N/16), block (16,16): thread (x,y) of block (bx,by) computes dinp[16 by + y][16 bx + x]
__global__ void matmul_backward_dinp_kernel(float *dinp, const float *dout, const float *weight, int N, int C, int OC) {
    __shared__ float ds[TILE][TILE];  // ds[r][j] = dout[n0 + r][o0 + j]
    __shared__ float ws[TILE][TILE];  // ws[j][c] = weight[o0 + j][i0 + c]
    int tx = threadIdx.x, ty = threadIdx.y;
    int n0 = blockIdx.y * TILE, i0 = blockIdx.x * TILE;
    float acc = 0.0f;
    for (int o0 = 0; o0 < OC; o0 += TILE) {
        ds[ty][tx] = (n0 + ty < N && o0 + tx < OC) ? dout[(size_t)(n0 + ty) * OC + o0 + tx] : 0.0f;
        ws[ty][tx] = (o0 + ty < OC && i0 + tx < C) ? weight[(size_t)(o0 + ty) * C + i0 + tx] : 0.0f;
        __syncthreads();
        for (int j = 0; j < TILE; j++) acc += ds[ty][j] * ws[j][tx];
        __syncthreads();
    }
    int n = n0 + ty, i = i0 + tx;
    if (n < N && i < C) dinp[(size_t)n * C + i] += acc;
}

// dweight[OC,C] += dout[N,OC]^T @ inp[N,C]
// C loop (matmul_backward, dweight): for o, for n, for i: dweight[o][i] += dout[n][o] * inp[n][i]
// grid (C/16, OC/16), block (16,16): thread (x,y) of block (bx,by) computes dweight[16 by + y][16 bx + x]
__global__ void matmul_backward_dweight_kernel(float *dweight, const float *dout, const float *inp, int N, int C, int OC) {
    __shared__ float ds[TILE][TILE + 1]; // ds[j][r] = dout[n0 + j][o0 + r]
    __shared__ float xs[TILE][TILE];     // xs[j][c] = inp[n0 + j][i0 + c]
    int tx = threadIdx.x, ty = threadIdx.y;
    int o0 = blockIdx.y * TILE, i0 = blockIdx.x * TILE;
    float acc = 0.0f;
    for (int n0 = 0; n0 < N; n0 += TILE) {
        ds[ty][tx] = (n0 + ty < N && o0 + tx < OC) ? dout[(size_t)(n0 + ty) * OC + o0 + tx] : 0.0f;
        xs[ty][tx] = (n0 + ty < N && i0 + tx < C) ? inp[(size_t)(n0 + ty) * C + i0 + tx] : 0.0f;
        __syncthreads();
        for (int j = 0; j < TILE; j++) acc += ds[j][ty] * xs[j][tx];
        __syncthreads();
    }
    int o = o0 + ty, i = i0 + tx;
    if (o < OC && i < C) dweight[(size_t)o * C + i] += acc;
}

// ----------------------------------------------------------------------------
// causal attention per head; the layouts are r1.c's: q,k[B,T,NH,HS], v[B,T,NH,HV], out[B,T,NH,HV],
// att[B,NH,T,T] with row (b,h,t) holding the probabilities over key positions t2 <= t and zeros
// after. MLA's keys arrive already assembled ([k_nope ; shared k_rope] per head, copied by r1.c), so
// the shared RoPE key needs nothing here; HS = d_nope + d_rope and HV = d_v may differ.
// One thread per output element (or per softmax row): at these sizes (T <= 160, HS <= 48) a row fits
// in cache and the work is small next to the matmuls.

#define THREADS 256

// C loop (attention_forward, the scores): att[b][h][t][t2] = sum_i (q[b][t][h][i] * scale) * k[b][t2][h][i]
// for t2 <= t, and 0 for t2 > t. One thread per entry of att[B,NH,T,T].
__global__ void attention_scores_kernel(float *att, const float *q, const float *k, int B, int T, int NH, int HS, float scale) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * NH * T * T) return;
    int t2 = idx % T, t = idx / T % T, h = idx / ((size_t)T * T) % NH, b = idx / ((size_t)T * T * NH);
    float s = 0.0f;
    if (t2 <= t) {
        const float *qt = q + (((size_t)b * T + t) * NH + h) * HS;
        const float *kt = k + (((size_t)b * T + t2) * NH + h) * HS;
        for (int i = 0; i < HS; i++) s += qt[i] * scale * kt[i];
    }
    att[idx] = s;
}

// C loop (attention_forward, the softmax over t2 <= t): max, exp(a - max), normalise.
// One thread per row (b,h,t) of att.
__global__ void softmax_forward_kernel(float *att, int B, int T, int NH) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= (size_t)B * NH * T) return;
    int t = row % T;
    float *a = att + row * T;
    float maxv = -INFINITY, sum = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) if (a[t2] > maxv) maxv = a[t2];
    for (int t2 = 0; t2 <= t; t2++) { a[t2] = expf(a[t2] - maxv); sum += a[t2]; }
    for (int t2 = 0; t2 <= t; t2++) a[t2] /= sum;
}

// C loop (attention_forward, the weighted sum): out[b][t][h][i] = sum_{t2 <= t} att[b][h][t][t2] * v[b][t2][h][i]
// One thread per entry of out[B,T,NH,HV].
__global__ void attention_values_kernel(float *out, const float *att, const float *v, int B, int T, int NH, int HV) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * NH * HV) return;
    int i = idx % HV, h = idx / HV % NH, t = idx / ((size_t)HV * NH) % T, b = idx / ((size_t)HV * NH * T);
    const float *a = att + (((size_t)b * NH + h) * T + t) * T;
    float o = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) o += a[t2] * v[(((size_t)b * T + t2) * NH + h) * HV + i];
    out[idx] = o;
}

// C loop (attention_backward, through the weighted sum): datt[b][h][t][t2] = sum_i dout[b][t][h][i] * v[b][t2][h][i]
// for t2 <= t (0 after). One thread per entry of datt[B,NH,T,T].
__global__ void attention_datt_kernel(float *datt, const float *dout, const float *v, int B, int T, int NH, int HV) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * NH * T * T) return;
    int t2 = idx % T, t = idx / T % T, h = idx / ((size_t)T * T) % NH, b = idx / ((size_t)T * T * NH);
    float s = 0.0f;
    if (t2 <= t) {
        const float *dy = dout + (((size_t)b * T + t) * NH + h) * HV;
        const float *vt = v + (((size_t)b * T + t2) * NH + h) * HV;
        for (int i = 0; i < HV; i++) s += dy[i] * vt[i];
    }
    datt[idx] = s;
}

// C loop (attention_backward, through the softmax and the scale), in place on the row (b,h,t):
// dsum = sum_{t2 <= t} att[t2] datt[t2];  datt[t2] <- att[t2] (datt[t2] - dsum) scale, the gradient
// of the scaled score. One thread per row.
__global__ void softmax_backward_kernel(float *datt, const float *att, int B, int T, int NH, float scale) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= (size_t)B * NH * T) return;
    int t = row % T;
    const float *a = att + row * T;
    float *da = datt + row * T;
    float dsum = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) dsum += a[t2] * da[t2];
    for (int t2 = 0; t2 <= t; t2++) da[t2] = a[t2] * (da[t2] - dsum) * scale;
}

// C loop (attention_backward, dv_t2 += a_t2 dy): dv[b][t2][h][i] = sum_{t >= t2} att[b][h][t][t2] * dout[b][t][h][i]
// One thread per entry of dv[B,T,NH,HV]: it gathers over the queries t that attend to t2, so no
// two threads write the same element (the C loop scatters instead).
__global__ void attention_dv_kernel(float *dv, const float *att, const float *dout, int B, int T, int NH, int HV) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * NH * HV) return;
    int i = idx % HV, h = idx / HV % NH, t2 = idx / ((size_t)HV * NH) % T, b = idx / ((size_t)HV * NH * T);
    float s = 0.0f;
    for (int t = t2; t < T; t++)
        s += att[(((size_t)b * NH + h) * T + t) * T + t2] * dout[(((size_t)b * T + t) * NH + h) * HV + i];
    dv[idx] = s;
}

// C loop (attention_backward, dq += ds k): dq[b][t][h][i] = sum_{t2 <= t} ds[b][h][t][t2] * k[b][t2][h][i]
// with ds the output of softmax_backward_kernel. One thread per entry of dq[B,T,NH,HS].
__global__ void attention_dq_kernel(float *dq, const float *ds, const float *k, int B, int T, int NH, int HS) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * NH * HS) return;
    int i = idx % HS, h = idx / HS % NH, t = idx / ((size_t)HS * NH) % T, b = idx / ((size_t)HS * NH * T);
    const float *d = ds + (((size_t)b * NH + h) * T + t) * T;
    float s = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) s += d[t2] * k[(((size_t)b * T + t2) * NH + h) * HS + i];
    dq[idx] = s;
}

// C loop (attention_backward, dk += ds q): dk[b][t2][h][i] = sum_{t >= t2} ds[b][h][t][t2] * q[b][t][h][i]
// One thread per entry of dk[B,T,NH,HS], gathering over the queries (as attention_dv_kernel).
__global__ void attention_dk_kernel(float *dk, const float *ds, const float *q, int B, int T, int NH, int HS) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * NH * HS) return;
    int i = idx % HS, h = idx / HS % NH, t2 = idx / ((size_t)HS * NH) % T, b = idx / ((size_t)HS * NH * T);
    float s = 0.0f;
    for (int t = t2; t < T; t++)
        s += ds[(((size_t)b * NH + h) * T + t) * T + t2] * q[(((size_t)b * T + t) * NH + h) * HS + i];
    dk[idx] = s;
}

// ----------------------------------------------------------------------------
// the host side: r1.c's functions, same arguments, host pointers in and out

// out[N,OC] = inp[N,C] @ weight[OC,C]^T
extern "C" void cuda_matmul_forward(float *out, const float *inp, const float *weight, int N, int C, int OC) {
    if (N == 0 || OC == 0) return;
    const float *d_w = device_weight(weight, (size_t)OC * C, S_A);
    float *d_inp = upload(S_B, inp, (size_t)N * C);
    float *d_out = scratch(S_C, (size_t)N * OC);
    launch(matmul_forward_kernel, dim3(ceil_div(OC, TILE), ceil_div(N, TILE)), dim3(TILE, TILE), d_out, d_inp, d_w, N, C, OC);
    download(out, d_out, (size_t)N * OC);
}

// dinp[N,C] += dout[N,OC] @ weight[OC,C];  dweight[OC,C] += dout^T @ inp  (either may be NULL)
extern "C" void cuda_matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                                     const float *weight, int N, int C, int OC) {
    if (N == 0 || OC == 0 || C == 0) return;
    float *d_dout = upload(S_B, dout, (size_t)N * OC);
    if (dinp) {
        const float *d_w = device_weight(weight, (size_t)OC * C, S_A);
        float *d_dinp = upload(S_C, dinp, (size_t)N * C);
        launch(matmul_backward_dinp_kernel, dim3(ceil_div(C, TILE), ceil_div(N, TILE)), dim3(TILE, TILE), d_dinp, d_dout, d_w, N, C, OC);
        download(dinp, d_dinp, (size_t)N * C);
    }
    if (dweight) {
        float *d_inp = upload(S_D, inp, (size_t)N * C);
        float *d_dw = upload(S_E, dweight, (size_t)OC * C);
        launch(matmul_backward_dweight_kernel, dim3(ceil_div(C, TILE), ceil_div(OC, TILE)), dim3(TILE, TILE), d_dw, d_dout, d_inp, N, C, OC);
        download(dweight, d_dw, (size_t)OC * C);
    }
}

// out[B,T,NH,HV], att[B,NH,T,T] <- q,k[B,T,NH,HS], v[B,T,NH,HV]; scale 1/sqrt(HS)
extern "C" void cuda_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                                       int B, int T, int NH, int HS, int HV) {
    if (B * T * NH == 0) return;
    size_t nqk = (size_t)B * T * NH * HS, nv = (size_t)B * T * NH * HV, natt = (size_t)B * NH * T * T;
    float scale = 1.0f / sqrtf((float)HS);
    float *d_q = upload(S_A, q, nqk), *d_k = upload(S_B, k, nqk), *d_v = upload(S_C, v, nv);
    float *d_att = scratch(S_D, natt), *d_out = scratch(S_E, nv);
    launch(attention_scores_kernel, dim3(ceil_div(natt, THREADS)), dim3(THREADS), d_att, d_q, d_k, B, T, NH, HS, scale);
    launch(softmax_forward_kernel, dim3(ceil_div((long)B * NH * T, THREADS)), dim3(THREADS), d_att, B, T, NH);
    launch(attention_values_kernel, dim3(ceil_div(nv, THREADS)), dim3(THREADS), d_out, d_att, d_v, B, T, NH, HV);
    download(out, d_out, nv);
    download(att, d_att, natt);
}

// dq,dk[B,T,NH,HS], dv[B,T,NH,HV] are overwritten. datt[B,NH,T,T] is scratch in r1.c; here the
// scratch is on the device and the host buffer is left untouched.
extern "C" void cuda_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                        const float *q, const float *k, const float *v, const float *att,
                                        int B, int T, int NH, int HS, int HV) {
    (void)datt;
    if (B * T * NH == 0) return;
    size_t nqk = (size_t)B * T * NH * HS, nv = (size_t)B * T * NH * HV, natt = (size_t)B * NH * T * T;
    float scale = 1.0f / sqrtf((float)HS);
    float *d_q = upload(S_A, q, nqk), *d_k = upload(S_B, k, nqk), *d_v = upload(S_C, v, nv);
    float *d_att = upload(S_D, att, natt), *d_dout = upload(S_E, dout, nv);
    float *d_datt = scratch(S_F, natt), *d_dq = scratch(S_G, nqk), *d_dk = scratch(S_H, nqk), *d_dv = scratch(S_I, nv);
    launch(attention_datt_kernel, dim3(ceil_div(natt, THREADS)), dim3(THREADS), d_datt, d_dout, d_v, B, T, NH, HV);
    launch(softmax_backward_kernel, dim3(ceil_div((long)B * NH * T, THREADS)), dim3(THREADS), d_datt, d_att, B, T, NH, scale);
    launch(attention_dv_kernel, dim3(ceil_div(nv, THREADS)), dim3(THREADS), d_dv, d_att, d_dout, B, T, NH, HV);
    launch(attention_dq_kernel, dim3(ceil_div(nqk, THREADS)), dim3(THREADS), d_dq, d_datt, d_k, B, T, NH, HS);
    launch(attention_dk_kernel, dim3(ceil_div(nqk, THREADS)), dim3(THREADS), d_dk, d_datt, d_q, B, T, NH, HS);
    download(dq, d_dq, nqk);
    download(dk, d_dk, nqk);
    download(dv, d_dv, nv);
}
