/*
 * harness.h — shared declarations of lk_harness (harness*.c), which runs every op of
 * lookahead.h on two backends and compares them, checks hand-computed cases, tests
 * error paths, and times the ops. It uses only the public API of lookahead.h; the
 * host reference implementations here are written independently of any backend.
 */
#ifndef LOOKAHEAD_HARNESS_H
#define LOOKAHEAD_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "lookahead.h"

/* ---- options and devices ------------------------------------------------------- */

typedef struct harness_options {
    const char* backend_a;      /* --a, default "cpu"                              */
    const char* backend_b;      /* --b, default "cpu"                              */
    int threads_a, threads_b;   /* --threads-a/--threads-b, 0 = backend default    */
    uint64_t seed;              /* --seed                                          */
    const char* filter;         /* --filter OPNAME: only ops whose name contains it */
    int verbose;                /* --verbose                                       */
    int bench, quick;           /* --bench [--quick]                               */
    int selftest_only;          /* --selftest                                      */
} harness_options;

typedef struct hdev {
    const char* backend;
    int threads;
    lk_device* dev;
    lk_stream* stream;
} hdev;

typedef struct harness {
    harness_options opt;
    hdev a, b;
    int same_backend;           /* a and b are the same backend (tight tolerances) */
    int passed, failed;
} harness;

/* Aborts the harness with a message when an API call that must succeed fails. */
#define HCHECK(call)                                                                 \
    do {                                                                             \
        lk_status st_ = (call);                                                      \
        if (st_ != LK_OK) harness_fatal(__FILE__, __LINE__, #call, st_);             \
    } while (0)
void harness_fatal(const char* file, int line, const char* what, lk_status st);

/* Records one result line: PASS/FAIL, the op, the case description and detail text. */
void harness_report(harness* h, int ok, const char* op, const char* desc, const char* detail);

/* Device memory of the current case; freed all at once by dev_free_all. */
void* dev_alloc(hdev* d, size_t bytes);
void* dev_upload(hdev* d, const void* host, size_t bytes);
void dev_download(hdev* d, void* host, const void* dev_ptr, size_t bytes);
void dev_free_all(void);

/* ---- deterministic pseudo-random data -------------------------------------------- */

typedef struct hrng { uint64_t s; } hrng;
hrng rng_make(uint64_t seed, uint64_t stream);
uint64_t rng_u64(hrng* r);
double rng_uniform(hrng* r);                 /* [0, 1)            */
float rng_sym(hrng* r, float amp);           /* [-amp, amp)       */
void fill_sym(hrng* r, float* x, size_t n, float amp);

/* ---- fp16 / bf16, independent of the backends' conversion code ------------------- */

float h_f16_to_f32(uint16_t h);
uint16_t h_f32_to_f16(float f);              /* round to nearest even */
float h_bf16_to_f32(uint16_t b);
uint16_t h_f32_to_bf16(float f);             /* round to nearest even */
size_t dtype_bytes(lk_dtype t);
const char* dtype_name(lk_dtype t);
/* Stores x[i] as dtype t into dst (rounding), and reads back the rounded values into
 * x so the reference sees exactly what the device sees. */
void encode_round(lk_dtype t, float* x, size_t n, void* dst);
void decode_to_f32(lk_dtype t, const void* src, size_t n, float* dst);

/* ---- comparison ------------------------------------------------------------------ */

/* sum((a-b)^2) / sum(b^2); 0 when both are all zero; +inf on NaN or b == 0 != a. */
double nmse(const float* a, const float* b, size_t n);

/* ---- quantized matrices ------------------------------------------------------------ */

typedef struct hqmat {
    int bits, gs;
    int64_t rows, cols, ngroups, row_bytes;
    uint8_t* codes;             /* [rows, row_bytes] */
    uint16_t* scales;           /* [rows, ngroups]   */
    uint16_t* zeros;            /* [rows, ngroups]   */
} hqmat;

/* Random codes (zero beyond cols), scales ~ amp / 2^bits and zeros in [0, 2^bits - 1]. */
hqmat hqmat_random(hrng* r, int bits, int gs, int64_t rows, int64_t cols);
void hqmat_free(hqmat* m);
/* The layout of lookahead.h as one little-endian bit stream per row: code c of a row
 * occupies bits [c * bits, (c + 1) * bits). */
unsigned hq_get_code(const hqmat* m, int64_t r, int64_t c);
void hq_set_code(hqmat* m, int64_t r, int64_t c, unsigned q);
/* W [rows, cols] as floats, w = scale * (q - zero). */
void hqmat_dequant(const hqmat* m, float* w);
/* The matrix in device memory, each array in its own buffer sized exactly (freed by dev_free_all). */
lk_qmatrix hqmat_upload(hdev* d, const hqmat* m);

/* ---- host reference ops (double accumulation) ------------------------------------ */

void ref_matmul(const float* w, const float* x, int64_t n, int64_t rows, int64_t cols, float* y);
void ref_rmsnorm(const float* x, const float* w, int64_t n, int64_t dim, float eps, float* out);
void ref_rope(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, float theta);
void ref_swiglu(const float* g, const float* u, int64_t n, float* out);
void ref_router(const float* logits, int64_t n, int e, int k, int renorm, double* probs,
                int32_t* idx, float* w);
void ref_attention(const float* q, const float* k, const float* v, float* out, int64_t n_tokens,
                   int64_t pos, int n_heads, int n_kv_heads, int head_dim, int window,
                   float scale);

/* ---- parts of the harness ---------------------------------------------------------- */

void run_compare_ops(harness* h);   /* harness_ops.c      */
void run_selftests(harness* h);     /* harness_selftest.c */
void run_error_paths(harness* h);   /* harness_selftest.c */
void run_bench(harness* h);         /* harness_bench.c    */

/* Whether op `name` passes --filter. */
int harness_selected(const harness* h, const char* name);

#endif /* LOOKAHEAD_HARNESS_H */
