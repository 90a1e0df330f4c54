/*
 * router_fused_test.c — checks lk_cuda_router_fused (cuda/routing.cu: router GEMV +
 * softmax + top-k of several router-shaped matrices in one launch; not in the public
 * ABI yet) against a double-precision host reference. Device, buffers and streams
 * come from the public API; the function itself is looked up in
 * liblookahead_cuda.so next to liblookahead.so.
 *
 *   lk_cuda_router_fused_test [path/to/liblookahead_cuda.so]
 *
 * Weights are multiples of 2^-7 in (-1, 1), exact in fp16 and bf16, so the reference
 * uses the same values for every dtype. Exit 0: all cases match; 1: a mismatch or an
 * error; 77: no usable CUDA device (a failure: the test is labelled gpu and runs only on GPU machines).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookahead.h"

/* Mirrors lk_cuda_fused_router_args in cuda/cuda_common.cuh. */
typedef struct fused_args {
    lk_dtype w_dtype;
    const void* w;
    const float* x;
    int64_t n;
    int64_t hidden;
    int32_t n_sets;
    int32_t n_experts;
    int32_t k;
    int32_t renormalize;
    float* logits_out;
    float* probs_out;
    int32_t* topk_idx;
    float* topk_weight;
} fused_args;
typedef lk_status (*fused_fn)(lk_stream*, const fused_args*);

#define OK(call)                                                                                 \
    do {                                                                                         \
        lk_status st_ = (call);                                                                  \
        if (st_ != LK_OK) {                                                                      \
            fprintf(stderr, "%s: %s: %s\n", #call, lk_status_name(st_), lk_last_error());        \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

static lk_device* dev;
static lk_stream* st;

static void* dalloc(size_t bytes) {
    lk_buffer* b;
    void* p;
    OK(lk_buffer_alloc(dev, bytes, &b));
    OK(lk_buffer_ptr(b, &p));
    return p; /* freed with the device */
}
static void* upload(const void* host, size_t bytes) {
    void* d = dalloc(bytes);
    OK(lk_copy_h2d(st, d, host, bytes));
    OK(lk_stream_synchronize(st));
    return d;
}
static void download(void* host, const void* d, size_t bytes) {
    OK(lk_copy_d2h(st, host, d, bytes));
    OK(lk_stream_synchronize(st));
}

static double nmse(const float* a, const double* ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (a[i] - ref[i]) * (a[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

static int run_case(fused_fn fn, lk_dtype dt, int64_t n, int64_t hidden, int sets, int E, int k, int renorm,
                    unsigned seed) {
    const size_t wn = (size_t)sets * E * hidden;
    float* w = malloc(wn * sizeof(float));
    float* x = malloc((size_t)(n * hidden) * sizeof(float));
    srand(seed);
    for (size_t i = 0; i < wn; i++) w[i] = (float)(rand() % 255 - 127) / 128.0f;
    for (int64_t i = 0; i < n * hidden; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;

    float* dw32 = upload(w, wn * sizeof(float));
    void* dw = dw32;
    if (dt != LK_F32) {
        dw = dalloc(wn * 2);
        OK(lk_convert(st, LK_F32, dw32, dt, dw, (int64_t)wn));
    }
    fused_args a;
    memset(&a, 0, sizeof a);
    a.w_dtype = dt;
    a.w = dw;
    a.x = upload(x, (size_t)(n * hidden) * sizeof(float));
    a.n = n;
    a.hidden = hidden;
    a.n_sets = sets;
    a.n_experts = E;
    a.k = k;
    a.renormalize = renorm;
    const size_t nl = (size_t)(n * sets * E), nk = (size_t)(n * sets * k);
    a.logits_out = dalloc(nl * sizeof(float));
    a.probs_out = dalloc(nl * sizeof(float));
    a.topk_idx = dalloc(nk * sizeof(int32_t));
    a.topk_weight = dalloc(nk * sizeof(float));
    OK(fn(st, &a));
    OK(lk_stream_synchronize(st));
    float* logits = malloc(nl * sizeof(float));
    float* probs = malloc(nl * sizeof(float));
    int32_t* idx = malloc(nk * sizeof(int32_t));
    float* wt = malloc(nk * sizeof(float));
    download(logits, a.logits_out, nl * sizeof(float));
    download(probs, a.probs_out, nl * sizeof(float));
    download(idx, a.topk_idx, nk * sizeof(int32_t));
    download(wt, a.topk_weight, nk * sizeof(float));

    double* rl = malloc(nl * sizeof(double));
    double* rp = malloc(nl * sizeof(double));
    double* rw = malloc(nk * sizeof(double));
    int idx_bad = 0;
    for (int64_t t = 0; t < n; t++)
        for (int s = 0; s < sets; s++) {
            const size_t o = (size_t)(t * sets + s);
            double mx = -INFINITY, sum = 0;
            for (int e = 0; e < E; e++) {
                double acc = 0;
                for (int64_t c = 0; c < hidden; c++)
                    acc += (double)w[((size_t)s * E + e) * hidden + c] * x[t * hidden + c];
                rl[o * E + e] = acc;
                if (acc > mx) mx = acc;
            }
            for (int e = 0; e < E; e++) sum += exp(rl[o * E + e] - mx);
            for (int e = 0; e < E; e++) rp[o * E + e] = exp(rl[o * E + e] - mx) / sum;
            /* top-k by value, ties to the lower index */
            int taken[256] = {0};
            double wsum = 0;
            for (int j = 0; j < k; j++) {
                int best = -1;
                for (int e = 0; e < E; e++)
                    if (!taken[e] && (best < 0 || rl[o * E + e] > rl[o * E + best])) best = e;
                taken[best] = 1;
                if (idx[o * k + j] != best) idx_bad++;
                rw[o * k + j] = rp[o * E + best];
                wsum += rw[o * k + j];
            }
            if (renorm)
                for (int j = 0; j < k; j++) rw[o * k + j] /= wsum;
        }
    const double el = nmse(logits, rl, nl), ep = nmse(probs, rp, nl), ew = nmse(wt, rw, nk);
    const int ok = idx_bad == 0 && el < 1e-10 && ep < 1e-10 && ew < 1e-10;
    printf("%s  router_fused %-4s n=%lld hidden=%lld sets=%d E=%d k=%d renorm=%d: idx mismatches %d, "
           "nmse logits %.1e probs %.1e weights %.1e (tol 1e-10)\n",
           ok ? "PASS" : "FAIL", dt == LK_F32 ? "f32" : dt == LK_F16 ? "f16" : "bf16", (long long)n,
           (long long)hidden, sets, E, k, renorm, idx_bad, el, ep, ew);
    free(w); free(x); free(logits); free(probs); free(idx); free(wt); free(rl); free(rp); free(rw);
    return ok;
}

int main(int argc, char** argv) {
    lk_status s = lk_device_open("cuda", NULL, &dev);
    if (s != LK_OK) {
        printf("router_fused_test: skipped: %s: %s\n", lk_status_name(s), lk_last_error());
        return 77;
    }
    char path[4096];
    if (argc > 1) {
        snprintf(path, sizeof path, "%s", argv[1]);
    } else {
        Dl_info info;
        if (!dladdr((void*)lk_device_open, &info) || !info.dli_fname) {
            fprintf(stderr, "router_fused_test: cannot locate liblookahead.so\n");
            return 1;
        }
        snprintf(path, sizeof path, "%s", info.dli_fname);
        char* slash = strrchr(path, '/');
        snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
                 "liblookahead_cuda.so");
    }
    /* Already loaded by lk_device_open: this returns the same instance. */
    void* lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (!lib) lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    fused_fn fn = lib ? (fused_fn)dlsym(lib, "lk_cuda_router_fused") : NULL;
    if (!fn) {
        fprintf(stderr, "router_fused_test: lk_cuda_router_fused not found in %s: %s\n", path, dlerror());
        return 1;
    }
    OK(lk_stream_create(dev, &st));
    int ok = 1;
    const lk_dtype dts[3] = {LK_F32, LK_F16, LK_BF16};
    for (int i = 0; i < 3; i++) {
        ok &= run_case(fn, dts[i], 3, 4096, 5, 8, 2, 1, 11u + i);  /* Mixtral router + 4 heads */
        ok &= run_case(fn, dts[i], 2, 1002, 2, 60, 4, 0, 21u + i); /* unaligned rows: scalar path */
        ok &= run_case(fn, dts[i], 1, 256, 1, 256, 8, 1, 31u + i); /* 256 experts */
    }
    OK(lk_stream_destroy(st));
    OK(lk_device_close(dev));
    printf("router_fused_test: %s\n", ok ? "all passed" : "FAILED");
    return ok ? 0 : 1;
}
