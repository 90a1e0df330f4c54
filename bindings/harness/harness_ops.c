/*
 * harness_ops.c — every op over a table of shapes, on device A and device B with the
 * same seeded inputs; each output is compared A vs B and against the host reference
 * of harness_ref.c by NMSE = sum((a - b)^2) / sum(b^2).
 *
 * Tolerances (per op, below): `same` applies when A and B are the same backend (the
 * CPU backend at different thread counts must agree bit for bit, so 1e-10 is generous;
 * exact ops use 0). `cross` applies between different backends, where summation order,
 * expf/sin implementations and tensor-core input rounding may differ. `ref` is against
 * the double-precision host reference: fp32 accumulation of K terms gives a relative
 * error around sqrt(K) * 2^-24, an NMSE below 1e-11 for the sizes here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

typedef struct tol { double same, cross, ref; } tol;

static const tol TOL_EXACT = {0, 0, 0};

/* ---- helpers ---------------------------------------------------------------------- */

static void* xmalloc(size_t bytes) {
    void* p = malloc(bytes ? bytes : 1);
    if (!p) harness_fatal(__FILE__, __LINE__, "malloc", LK_ERR_HOST_OUT_OF_MEMORY);
    return p;
}

static hdev* device(harness* h, int i) { return i == 0 ? &h->a : &h->b; }

/* A device's run of one case: the op's status, then the stream's. */
typedef struct dev_run {
    int ok;
    char err[256];
} dev_run;

static void run_status(hdev* d, lk_status st, dev_run* r) {
    if (st == LK_OK) st = lk_stream_synchronize(d->stream);
    r->ok = st == LK_OK;
    if (!r->ok) snprintf(r->err, sizeof r->err, "%s: %s: %s", d->backend, lk_status_name(st), lk_last_error());
}

/* NMSE tolerance against the reference for a device of backend `b`. */
static double ref_tol(const char* b, tol t) {
    return strcmp(b, "cpu") == 0 ? t.ref : (t.ref > t.cross ? t.ref : t.cross);
}

/* Judges float outputs out[0] (A), out[1] (B) against ref; `what` names the output. */
static int judge_f32(harness* h, const dev_run run[2], float* const out[2], const float* ref, size_t n,
                     tol t, const char* what, char* detail, size_t cap) {
    size_t len = strlen(detail);
    if (!run[0].ok || !run[1].ok) {
        snprintf(detail + len, cap - len, "%s", !run[0].ok ? run[0].err : run[1].err);
        return 0;
    }
    double ab = nmse(out[0], out[1], n);
    double tab = h->same_backend ? t.same : t.cross;
    double rb = nmse(out[1], ref, n), trb = ref_tol(h->b.backend, t);
    int ok = ab <= tab && rb <= trb;
    len += (size_t)snprintf(detail + len, cap - len, "%snmse(a,b)=%.2e tol %.0e  nmse(b,ref)=%.2e tol %.0e",
                            what, ab, tab, rb, trb);
    if (!h->same_backend) {
        double ra = nmse(out[0], ref, n), tra = ref_tol(h->a.backend, t);
        ok = ok && ra <= tra;
        snprintf(detail + len, cap - len, "  nmse(a,ref)=%.2e tol %.0e", ra, tra);
    }
    return ok;
}

/* --verbose: where the largest differences are. */
static void print_worst(const float* a, const float* b, size_t n, const char* what) {
    size_t worst = 0;
    double wd = -1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > wd || isnan(d)) { wd = d; worst = i; if (isnan(d)) break; }
    }
    if (n) printf("        max |%s| = %.3g at [%zu] (%.9g vs %.9g)\n", what, wd, worst, a[worst], b[worst]);
}

static void finish_f32(harness* h, const char* op, const char* desc, const dev_run run[2],
                       float* const out[2], const float* ref, size_t n, tol t) {
    char detail[512] = "";
    int ok = judge_f32(h, run, out, ref, n, t, "", detail, sizeof detail);
    harness_report(h, ok, op, desc, detail);
    if (h->opt.verbose && run[0].ok && run[1].ok) {
        print_worst(out[0], out[1], n, "a-b");
        print_worst(out[1], ref, n, "b-ref");
    }
}

static float* download_f32(hdev* d, const dev_run* r, const float* dptr, size_t n) {
    float* host = xmalloc(n * sizeof(float));
    if (r->ok) dev_download(d, host, dptr, n * sizeof(float));
    else memset(host, 0, n * sizeof(float));
    return host;
}

static const lk_dtype DTYPES[3] = {LK_F32, LK_F16, LK_BF16};

/* ---- embedding -------------------------------------------------------------------- */

static void t_embedding(harness* h) {
    static const struct { int64_t vocab, dim, n; } S[] = {
        {7, 1, 3}, {100, 33, 7}, {1000, 127, 65}, {50, 4096, 5}, {3, 96, 1}};
    for (int di = 0; di < 3; di++)
        for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
            lk_dtype dt = DTYPES[di];
            int64_t V = S[s].vocab, D = S[s].dim, N = S[s].n;
            hrng r = rng_make(h->opt.seed, 100 + di * 16 + s);
            float* table = xmalloc(sizeof(float) * V * D);
            void* enc = xmalloc(dtype_bytes(dt) * V * D);
            fill_sym(&r, table, V * D, 1.0f);
            encode_round(dt, table, V * D, enc);
            int32_t* ids = xmalloc(sizeof(int32_t) * N);
            for (int64_t i = 0; i < N; i++) ids[i] = (int32_t)(rng_u64(&r) % (uint64_t)V);
            float* ref = xmalloc(sizeof(float) * N * D);
            for (int64_t i = 0; i < N; i++) memcpy(ref + i * D, table + ids[i] * D, sizeof(float) * D);
            dev_run run[2];
            float* out[2];
            for (int i = 0; i < 2; i++) {
                hdev* d = device(h, i);
                void* dt_ = dev_upload(d, enc, dtype_bytes(dt) * V * D);
                int32_t* di_ = dev_upload(d, ids, sizeof(int32_t) * N);
                float* dout = dev_alloc(d, sizeof(float) * N * D);
                run_status(d, lk_embedding(d->stream, dt, dt_, V, D, di_, N, dout), &run[i]);
                out[i] = download_f32(d, &run[i], dout, N * D);
            }
            char desc[96];
            snprintf(desc, sizeof desc, "%s vocab=%lld dim=%lld n=%lld", dtype_name(dt), (long long)V,
                     (long long)D, (long long)N);
            finish_f32(h, "embedding", desc, run, out, ref, N * D, TOL_EXACT);
            dev_free_all();
            free(table); free(enc); free(ids); free(ref); free(out[0]); free(out[1]);
        }
}

/* ---- rmsnorm ---------------------------------------------------------------------- */

static void t_rmsnorm(harness* h) {
    static const struct { int64_t n, dim; int in_place; } S[] = {
        {1, 1, 0}, {3, 7, 0}, {7, 33, 1}, {65, 127, 0}, {5, 4096, 0}, {2, 14336, 1}};
    const tol t = {1e-10, 1e-10, 1e-12};
    for (int di = 0; di < 3; di++)
        for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
            lk_dtype dt = DTYPES[di];
            int64_t N = S[s].n, D = S[s].dim;
            hrng r = rng_make(h->opt.seed, 200 + di * 16 + s);
            float* x = xmalloc(sizeof(float) * N * D);
            fill_sym(&r, x, N * D, 2.0f);
            float* w = xmalloc(sizeof(float) * D);
            for (int64_t k = 0; k < D; k++) w[k] = 0.5f + (float)rng_uniform(&r);
            void* wenc = xmalloc(dtype_bytes(dt) * D);
            encode_round(dt, w, D, wenc);
            const float eps = 1e-5f;
            float* ref = xmalloc(sizeof(float) * N * D);
            ref_rmsnorm(x, w, N, D, eps, ref);
            dev_run run[2];
            float* out[2];
            for (int i = 0; i < 2; i++) {
                hdev* d = device(h, i);
                float* dx = dev_upload(d, x, sizeof(float) * N * D);
                void* dw = dev_upload(d, wenc, dtype_bytes(dt) * D);
                float* dout = S[s].in_place ? dx : dev_alloc(d, sizeof(float) * N * D);
                run_status(d, lk_rmsnorm(d->stream, dx, dt, dw, N, D, eps, dout), &run[i]);
                out[i] = download_f32(d, &run[i], dout, N * D);
            }
            char desc[96];
            snprintf(desc, sizeof desc, "w=%s n=%lld dim=%lld%s", dtype_name(dt), (long long)N, (long long)D,
                     S[s].in_place ? " in-place" : "");
            finish_f32(h, "rmsnorm", desc, run, out, ref, N * D, t);
            dev_free_all();
            free(x); free(w); free(wenc); free(ref); free(out[0]); free(out[1]);
        }
}

/* ---- rope ------------------------------------------------------------------------- */

static void t_rope(harness* h) {
    static const struct { int64_t n; int heads, hd; int64_t pos0; float theta; } S[] = {
        {1, 1, 2, 0, 10000.0f},    {3, 2, 8, 5, 10000.0f},     {7, 4, 64, 100, 10000.0f},
        {33, 8, 128, 4000, 1e6f},  {2, 3, 6, 65536, 10000.0f}, {65, 1, 256, 1, 500000.0f},
        {1, 32, 128, 32767, 1e6f}, {5, 7, 14, 12345, 10000.0f}};
    /* cross: another backend may compute the angle pos * theta^(-2j/d) in fp32 (as HF
     * does): a phase error of ~pos * 2^-24 rad, NMSE ~1e-9 at pos 32k. */
    const tol t = {1e-10, 1e-6, 1e-11};
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int64_t N = S[s].n;
        int H = S[s].heads, HD = S[s].hd;
        size_t cnt = (size_t)(N * H * HD);
        hrng r = rng_make(h->opt.seed, 300 + s);
        float* x = xmalloc(sizeof(float) * cnt);
        fill_sym(&r, x, cnt, 1.0f);
        float* ref = xmalloc(sizeof(float) * cnt);
        memcpy(ref, x, sizeof(float) * cnt);
        ref_rope(ref, N, H, HD, S[s].pos0, S[s].theta);
        dev_run run[2];
        float* out[2];
        for (int i = 0; i < 2; i++) {
            hdev* d = device(h, i);
            float* dx = dev_upload(d, x, sizeof(float) * cnt);
            run_status(d, lk_rope(d->stream, dx, N, H, HD, S[s].pos0, S[s].theta), &run[i]);
            out[i] = download_f32(d, &run[i], dx, cnt);
        }
        char desc[96];
        snprintf(desc, sizeof desc, "n=%lld heads=%d hd=%d pos0=%lld theta=%g", (long long)N, H, HD,
                 (long long)S[s].pos0, S[s].theta);
        finish_f32(h, "rope", desc, run, out, ref, cnt, t);
        dev_free_all();
        free(x); free(ref); free(out[0]); free(out[1]);
    }
}

/* ---- matmul ----------------------------------------------------------------------- */

static void t_matmul(harness* h) {
    static const struct { int64_t n, rows, cols; } S[] = {
        {1, 1, 1}, {1, 7, 33}, {3, 65, 127}, {7, 96, 1000}, {33, 127, 65}, {65, 33, 300}, {2, 300, 4096}};
    /* cross: tensor cores take x rounded to fp16 (rel. 2^-11) or bf16 (2^-8). */
    const tol tols[3] = {{1e-10, 1e-10, 1e-10}, {1e-10, 1e-5, 1e-10}, {1e-10, 1e-4, 1e-10}};
    for (int di = 0; di < 3; di++)
        for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
            lk_dtype dt = DTYPES[di];
            int64_t N = S[s].n, R = S[s].rows, C = S[s].cols;
            hrng r = rng_make(h->opt.seed, 400 + di * 16 + s);
            float* w = xmalloc(sizeof(float) * R * C);
            fill_sym(&r, w, R * C, 0.5f);
            void* wenc = xmalloc(dtype_bytes(dt) * R * C);
            encode_round(dt, w, R * C, wenc);
            float* x = xmalloc(sizeof(float) * N * C);
            fill_sym(&r, x, N * C, 1.0f);
            float* ref = xmalloc(sizeof(float) * N * R);
            ref_matmul(w, x, N, R, C, ref);
            dev_run run[2];
            float* out[2];
            for (int i = 0; i < 2; i++) {
                hdev* d = device(h, i);
                void* dw = dev_upload(d, wenc, dtype_bytes(dt) * R * C);
                float* dx = dev_upload(d, x, sizeof(float) * N * C);
                float* dy = dev_alloc(d, sizeof(float) * N * R);
                run_status(d, lk_matmul(d->stream, dt, dw, dx, N, R, C, dy), &run[i]);
                out[i] = download_f32(d, &run[i], dy, N * R);
            }
            char desc[96];
            snprintf(desc, sizeof desc, "w=%s n=%lld %lldx%lld", dtype_name(dt), (long long)N, (long long)R,
                     (long long)C);
            finish_f32(h, "matmul", desc, run, out, ref, N * R, tols[di]);
            dev_free_all();
            free(w); free(wenc); free(x); free(ref); free(out[0]); free(out[1]);
        }
}

/* ---- qmatvec / qmatmul ---------------------------------------------------------------- */

/* One quantized product case: n == 0 means lk_qmatvec (one token), else lk_qmatmul. */
static void q_case(harness* h, int bits, int gs, int64_t n, int64_t rows, int64_t cols, uint64_t stream,
                   tol t, int tiny_x) {
    int is_mv = n == 0;
    int64_t N = is_mv ? 1 : n;
    hrng r = rng_make(h->opt.seed, stream);
    hqmat m = hqmat_random(&r, bits, gs, rows, cols);
    float* w = xmalloc(sizeof(float) * rows * cols);
    hqmat_dequant(&m, w);
    float* x = xmalloc(sizeof(float) * N * cols);
    fill_sym(&r, x, N * cols, 1.0f);
    if (tiny_x) x[cols / 2] = 1e-35f;   /* a value that must not be scaled into a subnormal */
    float* ref = xmalloc(sizeof(float) * N * rows);
    ref_matmul(w, x, N, rows, cols, ref);
    dev_run run[2];
    float* out[2];
    for (int i = 0; i < 2; i++) {
        hdev* d = device(h, i);
        lk_qmatrix q = hqmat_upload(d, &m);
        float* dx = dev_upload(d, x, sizeof(float) * N * cols);
        float* dy = dev_alloc(d, sizeof(float) * N * rows);
        lk_status st = is_mv ? lk_qmatvec(d->stream, &q, dx, dy) : lk_qmatmul(d->stream, &q, dx, N, dy);
        run_status(d, st, &run[i]);
        out[i] = download_f32(d, &run[i], dy, N * rows);
    }
    char desc[96];
    if (is_mv) snprintf(desc, sizeof desc, "q%d g%d %lldx%lld%s", bits, gs, (long long)rows, (long long)cols,
                        tiny_x ? " tiny x" : "");
    else snprintf(desc, sizeof desc, "q%d g%d n=%lld %lldx%lld", bits, gs, (long long)n, (long long)rows,
                  (long long)cols);
    finish_f32(h, is_mv ? "qmatvec" : "qmatmul", desc, run, out, ref, N * rows, t);
    dev_free_all();
    hqmat_free(&m);
    free(w); free(x); free(ref); free(out[0]); free(out[1]);
}

static const int BITS[3] = {2, 3, 4};

static void t_qmatvec(harness* h) {
    static const struct { int64_t rows, cols; } S[] = {
        {1, 1}, {3, 7}, {7, 33}, {33, 65}, {65, 96}, {127, 127}, {96, 1000}, {256, 4096}};
    static const int GS[] = {16, 32, 64, 128};
    /* ref: w x is computed as s * sum(q x) - s * z * sum(x) per group, which cancels
     * partly (z is about half the code range): a few times the plain fp32 error. */
    const tol t = {1e-10, 1e-8, 1e-9};
    uint64_t k = 0;
    for (int b = 0; b < 3; b++)
        for (size_t g = 0; g < sizeof GS / sizeof GS[0]; g++)
            for (size_t s = 0; s < sizeof S / sizeof S[0]; s++)
                q_case(h, BITS[b], GS[g], 0, S[s].rows, S[s].cols, 500 + k++, t, 0);
    /* the extremes of group_size */
    for (int b = 0; b < 3; b++) {
        q_case(h, BITS[b], 8, 0, 33, 100, 600 + b, t, 0);
        q_case(h, BITS[b], 1024, 0, 5, 3000, 610 + b, t, 0);
        q_case(h, BITS[b], 24, 0, 13, 50, 620 + b, t, 0);
        q_case(h, BITS[b], 40, 0, 9, 200, 630 + b, t, 0);
        q_case(h, BITS[b], 96, 0, 17, 500, 640 + b, t, 0);
        /* more columns than one launch's shared memory holds of x on any GPU (~25k on an H100): the
         * CUDA qmatvec adds column slices into y, a path Mixtral's w2 (14336) takes on smaller GPUs */
        q_case(h, BITS[b], 64, 0, 4, 40000, 650 + b, t, 0);
        q_case(h, BITS[b], 24, 0, 3, 40003, 660 + b, t, 0);
        q_case(h, BITS[b], 64, 0, 33, 300, 650 + b, t, 1);
    }
}

/* lk_expert_swiglu against the reference of its definition (two products, SwiGLU, a product), with
 * the gate/up format and the down format chosen apart: the CUDA backend fuses the uniform layouts
 * into two launches and runs the others as four ops. */
static void expert_case(harness* h, int bits, int gs, int down_bits, int down_gs, int64_t hidden, int64_t inter,
                        uint64_t stream) {
    hrng r = rng_make(h->opt.seed, stream);
    hqmat mg = hqmat_random(&r, bits, gs, inter, hidden);
    hqmat mu = hqmat_random(&r, bits, gs, inter, hidden);
    hqmat md = hqmat_random(&r, down_bits, down_gs, hidden, inter);
    float* wg = xmalloc(sizeof(float) * inter * hidden);
    float* wu = xmalloc(sizeof(float) * inter * hidden);
    float* wd = xmalloc(sizeof(float) * hidden * inter);
    hqmat_dequant(&mg, wg);
    hqmat_dequant(&mu, wu);
    hqmat_dequant(&md, wd);
    float* x = xmalloc(sizeof(float) * hidden);
    fill_sym(&r, x, hidden, 1.0f / sqrtf((float)hidden)); /* gate and up of order 1: both tails of silu */
    float* hg = xmalloc(sizeof(float) * inter);
    float* hu = xmalloc(sizeof(float) * inter);
    float* ref = xmalloc(sizeof(float) * hidden);
    ref_matmul(wg, x, 1, inter, hidden, hg);
    ref_matmul(wu, x, 1, inter, hidden, hu);
    ref_swiglu(hg, hu, inter, hg);
    ref_matmul(wd, hg, 1, hidden, inter, ref);
    dev_run run[2];
    float* out[2];
    for (int i = 0; i < 2; i++) {
        hdev* d = device(h, i);
        lk_qmatrix g = hqmat_upload(d, &mg), u = hqmat_upload(d, &mu), dn = hqmat_upload(d, &md);
        float* dx = dev_upload(d, x, sizeof(float) * hidden);
        float* dhg = dev_alloc(d, sizeof(float) * inter);
        float* dhu = dev_alloc(d, sizeof(float) * inter);
        float* dy = dev_alloc(d, sizeof(float) * hidden);
        run_status(d, lk_expert_swiglu(d->stream, &g, &u, &dn, dx, dhg, dhu, dy), &run[i]);
        out[i] = download_f32(d, &run[i], dy, hidden);
    }
    char desc[96];
    snprintf(desc, sizeof desc, "q%d g%d, down q%d g%d, %lld -> %lld", bits, gs, down_bits, down_gs,
             (long long)hidden, (long long)inter);
    /* two products in a row: the qmatvec tolerances, a little looser */
    const tol t = {1e-10, 1e-7, 1e-8};
    finish_f32(h, "expert_swiglu", desc, run, out, ref, hidden, t);
    dev_free_all();
    hqmat_free(&mg); hqmat_free(&mu); hqmat_free(&md);
    free(wg); free(wu); free(wd); free(x); free(hg); free(hu); free(ref); free(out[0]); free(out[1]);
}

static void t_expert_swiglu(harness* h) {
    uint64_t k = 0;
    for (int b = 0; b < 3; b++) {
        expert_case(h, BITS[b], 64, BITS[b], 64, 256, 512, 1500 + k++);   /* uniform: two launches */
        expert_case(h, BITS[b], 32, BITS[b], 128, 96, 160, 1500 + k++);
        expert_case(h, BITS[b], 64, 4, 64, 130, 200, 1500 + k++);         /* ragged columns, down 4-bit */
        expert_case(h, BITS[b], 24, BITS[b], 40, 100, 50, 1500 + k++);    /* groups the uniform kernel cannot take */
    }
    expert_case(h, 4, 64, 2, 64, 64, 40000, 1520);   /* down wider than shared memory: column slices */
    expert_case(h, 4, 64, 4, 64, 1024, 2816, 1521);  /* a small model's expert */
}

static void t_qmatmul(harness* h) {
    static const struct { int64_t n, rows, cols; } S[] = {
        {1, 7, 33}, {3, 65, 127}, {7, 33, 300}, {33, 96, 256}, {65, 17, 65}, {4, 300, 1030}};
    static const int GS[] = {16, 32, 64, 128};
    /* cross: a GPU may feed tensor cores with x rounded to fp16 */
    const tol t = {1e-10, 1e-5, 1e-9};
    uint64_t k = 0;
    for (int b = 0; b < 3; b++)
        for (size_t g = 0; g < sizeof GS / sizeof GS[0]; g++)
            for (size_t s = 0; s < sizeof S / sizeof S[0]; s++)
                q_case(h, BITS[b], GS[g], S[s].n, S[s].rows, S[s].cols, 700 + k++, t, 0);
    for (int b = 0; b < 3; b++) {
        q_case(h, BITS[b], 8, 5, 20, 77, 800 + b, t, 0);
        q_case(h, BITS[b], 1024, 3, 9, 2100, 810 + b, t, 0);
        q_case(h, BITS[b], 40, 2, 5, 90, 820 + b, t, 0);
    }
}

/* ---- swiglu, add -------------------------------------------------------------------- */

static void t_swiglu(harness* h) {
    static const struct { int64_t n; int alias; } S[] = {{1, 0}, {7, 1}, {33, 2}, {1000, 0}, {65537, 1}};
    const tol t = {1e-10, 1e-10, 1e-11};
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int64_t N = S[s].n;
        hrng r = rng_make(h->opt.seed, 900 + s);
        float* g = xmalloc(sizeof(float) * N);
        float* u = xmalloc(sizeof(float) * N);
        fill_sym(&r, g, N, 12.0f);   /* both tails of silu */
        fill_sym(&r, u, N, 2.0f);
        float* ref = xmalloc(sizeof(float) * N);
        ref_swiglu(g, u, N, ref);
        dev_run run[2];
        float* out[2];
        for (int i = 0; i < 2; i++) {
            hdev* d = device(h, i);
            float* dg = dev_upload(d, g, sizeof(float) * N);
            float* du = dev_upload(d, u, sizeof(float) * N);
            float* dout = S[s].alias == 1 ? dg : S[s].alias == 2 ? du : dev_alloc(d, sizeof(float) * N);
            run_status(d, lk_swiglu(d->stream, dg, du, N, dout), &run[i]);
            out[i] = download_f32(d, &run[i], dout, N);
        }
        char desc[96];
        snprintf(desc, sizeof desc, "n=%lld%s", (long long)N,
                 S[s].alias == 1 ? " out=gate" : S[s].alias == 2 ? " out=up" : "");
        finish_f32(h, "swiglu", desc, run, out, ref, N, t);
        dev_free_all();
        free(g); free(u); free(ref); free(out[0]); free(out[1]);
    }
}

static void t_add(harness* h) {
    static const int64_t S[] = {1, 7, 33, 1000, 65537};
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int64_t N = S[s];
        hrng r = rng_make(h->opt.seed, 1000 + s);
        float* y = xmalloc(sizeof(float) * N);
        float* x = xmalloc(sizeof(float) * N);
        fill_sym(&r, y, N, 1.0f);
        fill_sym(&r, x, N, 1.0f);
        float* ref = xmalloc(sizeof(float) * N);
        for (int64_t i = 0; i < N; i++) ref[i] = y[i] + x[i];
        dev_run run[2];
        float* out[2];
        for (int i = 0; i < 2; i++) {
            hdev* d = device(h, i);
            float* dy = dev_upload(d, y, sizeof(float) * N);
            float* dx = dev_upload(d, x, sizeof(float) * N);
            run_status(d, lk_add(d->stream, dy, dx, N), &run[i]);
            out[i] = download_f32(d, &run[i], dy, N);
        }
        char desc[96];
        snprintf(desc, sizeof desc, "n=%lld", (long long)N);
        finish_f32(h, "add", desc, run, out, ref, N, TOL_EXACT);
        dev_free_all();
        free(y); free(x); free(ref); free(out[0]); free(out[1]);
    }
}

/* ---- fill_u32 ------------------------------------------------------------------------- */

/* Words [1, N] of a random buffer of N + 2 set to one value (a gate weight's bits); the words
 * around them must keep theirs. */
static void t_fill(harness* h) {
    static const int64_t S[] = {1, 2, 1000, 65537, (1 << 20) + 3};
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int64_t N = S[s];
        hrng r = rng_make(h->opt.seed, 1050 + s);
        float* buf = xmalloc(sizeof(float) * (N + 2));
        fill_sym(&r, buf, N + 2, 1.0f);
        float value = -0.30404168f * (float)(s + 1);
        uint32_t word;
        memcpy(&word, &value, sizeof word);
        float* ref = xmalloc(sizeof(float) * (N + 2));
        memcpy(ref, buf, sizeof(float) * (N + 2));
        for (int64_t i = 1; i <= N; i++) ref[i] = value;
        dev_run run[2];
        float* out[2];
        for (int i = 0; i < 2; i++) {
            hdev* d = device(h, i);
            float* db = dev_upload(d, buf, sizeof(float) * (N + 2));
            run_status(d, lk_fill_u32(d->stream, db + 1, word, (size_t)N), &run[i]);
            out[i] = download_f32(d, &run[i], db, N + 2);
        }
        char desc[96];
        snprintf(desc, sizeof desc, "n=%lld", (long long)N);
        finish_f32(h, "fill_u32", desc, run, out, ref, N + 2, TOL_EXACT);
        dev_free_all();
        free(buf); free(ref); free(out[0]); free(out[1]);
    }
}

/* ---- gather_rows, scatter_add_rows -------------------------------------------------- */

static void t_gather(harness* h) {
    static const struct { int64_t m, dim, src_rows; } S[] = {
        {1, 1, 1}, {7, 33, 5}, {65, 127, 100}, {33, 4096, 8}, {3, 7, 1000}};
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int64_t M = S[s].m, D = S[s].dim, SR = S[s].src_rows;
        hrng r = rng_make(h->opt.seed, 1100 + s);
        float* src = xmalloc(sizeof(float) * SR * D);
        fill_sym(&r, src, SR * D, 1.0f);
        int32_t* idx = xmalloc(sizeof(int32_t) * M);
        for (int64_t i = 0; i < M; i++) idx[i] = (int32_t)(rng_u64(&r) % (uint64_t)SR);
        float* ref = xmalloc(sizeof(float) * M * D);
        for (int64_t i = 0; i < M; i++) memcpy(ref + i * D, src + idx[i] * D, sizeof(float) * D);
        dev_run run[2];
        float* out[2];
        for (int i = 0; i < 2; i++) {
            hdev* d = device(h, i);
            float* ds = dev_upload(d, src, sizeof(float) * SR * D);
            int32_t* di = dev_upload(d, idx, sizeof(int32_t) * M);
            float* dd = dev_alloc(d, sizeof(float) * M * D);
            run_status(d, lk_gather_rows(d->stream, ds, di, M, D, dd), &run[i]);
            out[i] = download_f32(d, &run[i], dd, M * D);
        }
        char desc[96];
        snprintf(desc, sizeof desc, "m=%lld dim=%lld src_rows=%lld", (long long)M, (long long)D, (long long)SR);
        finish_f32(h, "gather_rows", desc, run, out, ref, M * D, TOL_EXACT);
        dev_free_all();
        free(src); free(idx); free(ref); free(out[0]); free(out[1]);
    }
}

static void t_scatter(harness* h) {
    static const struct { int64_t m, dim, dst_rows; int use_idx, use_w; } S[] = {
        {1, 1, 1, 1, 1}, {7, 33, 9, 1, 1}, {65, 127, 65, 0, 1}, {8, 4096, 16, 1, 0},
        {3, 7, 3, 0, 0}, {100, 96, 300, 1, 1}};
    const tol t = {0, 1e-12, 1e-12};   /* w * s + d: fused or not, one rounding apart */
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int64_t M = S[s].m, D = S[s].dim, DR = S[s].dst_rows;
        hrng r = rng_make(h->opt.seed, 1200 + s);
        float* dst = xmalloc(sizeof(float) * DR * D);
        float* src = xmalloc(sizeof(float) * M * D);
        fill_sym(&r, dst, DR * D, 1.0f);
        fill_sym(&r, src, M * D, 1.0f);
        /* distinct destination rows: a prefix of a random permutation */
        int32_t* perm = xmalloc(sizeof(int32_t) * DR);
        for (int64_t i = 0; i < DR; i++) perm[i] = (int32_t)i;
        for (int64_t i = DR - 1; i > 0; i--) {
            int64_t j = (int64_t)(rng_u64(&r) % (uint64_t)(i + 1));
            int32_t tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
        }
        float* w = xmalloc(sizeof(float) * M);
        for (int64_t i = 0; i < M; i++) w[i] = (float)rng_uniform(&r);
        float* ref = xmalloc(sizeof(float) * DR * D);
        memcpy(ref, dst, sizeof(float) * DR * D);
        for (int64_t i = 0; i < M; i++) {
            int64_t row = S[s].use_idx ? perm[i] : i;
            double wi = S[s].use_w ? w[i] : 1.0;
            for (int64_t c = 0; c < D; c++)
                ref[row * D + c] = (float)(ref[row * D + c] + wi * src[i * D + c]);
        }
        dev_run run[2];
        float* out[2];
        for (int i = 0; i < 2; i++) {
            hdev* d = device(h, i);
            float* dd = dev_upload(d, dst, sizeof(float) * DR * D);
            float* ds = dev_upload(d, src, sizeof(float) * M * D);
            int32_t* di = S[s].use_idx ? dev_upload(d, perm, sizeof(int32_t) * M) : NULL;
            float* dw = S[s].use_w ? dev_upload(d, w, sizeof(float) * M) : NULL;
            run_status(d, lk_scatter_add_rows(d->stream, dd, ds, di, dw, M, D), &run[i]);
            out[i] = download_f32(d, &run[i], dd, DR * D);
        }
        char desc[96];
        snprintf(desc, sizeof desc, "m=%lld dim=%lld dst_rows=%lld%s%s", (long long)M, (long long)D,
                 (long long)DR, S[s].use_idx ? "" : " idx=NULL", S[s].use_w ? "" : " weight=NULL");
        finish_f32(h, "scatter_add_rows", desc, run, out, ref, DR * D, t);
        dev_free_all();
        free(dst); free(src); free(perm); free(w); free(ref); free(out[0]); free(out[1]);
    }
}

/* ---- convert (bit-exact) ---------------------------------------------------------- */

static int same_element(lk_dtype t, const void* a, const void* b, size_t i) {
    if (t == LK_F32) {
        float x, y;
        memcpy(&x, (const char*)a + 4 * i, 4);
        memcpy(&y, (const char*)b + 4 * i, 4);
        if (isnan(x) && isnan(y)) return 1;   /* NaN payloads may differ between backends */
        return memcmp(&x, &y, 4) == 0;
    }
    uint16_t x = ((const uint16_t*)a)[i], y = ((const uint16_t*)b)[i];
    float fx = t == LK_F16 ? h_f16_to_f32(x) : h_bf16_to_f32(x);
    float fy = t == LK_F16 ? h_f16_to_f32(y) : h_bf16_to_f32(y);
    if (isnan(fx) && isnan(fy)) return 1;
    return x == y;
}

static void t_convert(harness* h) {
    static const int64_t S[] = {1, 7, 33, 1000, 70001};
    /* values at the edges of the formats: overflow, subnormals, ties, inf, nan */
    static const float SPECIAL[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65519.0f, 65520.0f, 1e6f,
                                    -1e30f, 3.0e38f, 6.0e-8f, 5.960464477539063e-8f, 2.9802322387695312e-8f,
                                    1e-6f, -3e-5f, 6.1035156e-05f, 1.00048828125f, 1.00146484375f,
                                    1.00390625f, 1.01171875f, 1e-40f, -1e-45f, INFINITY, -INFINITY, NAN};
    const size_t NSP = sizeof SPECIAL / sizeof SPECIAL[0];
    for (int si = 0; si < 3; si++)
        for (int di = 0; di < 3; di++)
            for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
                lk_dtype st = DTYPES[si], dt = DTYPES[di];
                int64_t N = S[s];
                hrng r = rng_make(h->opt.seed, 1300 + (si * 3 + di) * 16 + s);
                float* x = xmalloc(sizeof(float) * N);
                for (int64_t i = 0; i < N; i++) {
                    /* magnitudes from 2^-30 to 2^20 so both subnormal ranges occur */
                    double mag = ldexp(1.0 + rng_uniform(&r), (int)(rng_u64(&r) % 51) - 30);
                    x[i] = (float)(rng_u64(&r) & 1 ? -mag : mag);
                    if ((size_t)i < NSP && N >= 33) x[i] = SPECIAL[i];
                }
                void* src = xmalloc(dtype_bytes(st) * N);
                encode_round(st, x, N, src);   /* x now holds the source values exactly */
                void* ref = xmalloc(dtype_bytes(dt) * N);
                encode_round(dt, x, N, ref);
                void* out[2];
                dev_run run[2];
                for (int i = 0; i < 2; i++) {
                    hdev* d = device(h, i);
                    void* ds = dev_upload(d, src, dtype_bytes(st) * N);
                    void* dd = dev_alloc(d, dtype_bytes(dt) * N);
                    run_status(d, lk_convert(d->stream, st, ds, dt, dd, N), &run[i]);
                    out[i] = xmalloc(dtype_bytes(dt) * N);
                    if (run[i].ok) dev_download(d, out[i], dd, dtype_bytes(dt) * N);
                }
                char desc[96], detail[512];
                snprintf(desc, sizeof desc, "%s->%s n=%lld", dtype_name(st), dtype_name(dt), (long long)N);
                int ok = run[0].ok && run[1].ok;
                if (ok) {
                    int64_t ab = 0, br = 0, ar = 0;
                    for (int64_t i = 0; i < N; i++) {
                        ab += !same_element(dt, out[0], out[1], (size_t)i);
                        br += !same_element(dt, out[1], ref, (size_t)i);
                        ar += !same_element(dt, out[0], ref, (size_t)i);
                    }
                    ok = ab == 0 && br == 0 && ar == 0;
                    snprintf(detail, sizeof detail, "mismatches a/b=%lld b/ref=%lld a/ref=%lld (bit-exact)",
                             (long long)ab, (long long)br, (long long)ar);
                } else {
                    snprintf(detail, sizeof detail, "%s", !run[0].ok ? run[0].err : run[1].err);
                }
                harness_report(h, ok, "convert", desc, detail);
                dev_free_all();
                free(x); free(src); free(ref); free(out[0]); free(out[1]);
            }
}

/* ---- router_topk -------------------------------------------------------------------- */

/* Indices match if equal, or if the reference probabilities of the two experts tie
 * within 1e-6 (then either order is a correct top-k). */
static int64_t index_mismatches(const int32_t* a, const int32_t* b, const double* probs, int64_t n, int e,
                                int k) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            int32_t x = a[i * k + j], y = b[i * k + j];
            if (x == y) continue;
            if (x < 0 || x >= e || y < 0 || y >= e || fabs(probs[i * e + x] - probs[i * e + y]) > 1e-6) bad++;
        }
    return bad;
}

static void t_router(harness* h) {
    static const struct { int e, k; } EK[] = {{4, 1}, {4, 2}, {4, 3}, {8, 1}, {8, 2}, {8, 3},
                                              {60, 1}, {60, 2}, {60, 3}, {1, 1}, {256, 8}};
    static const int64_t NS[] = {1, 7, 65};
    const tol t = {1e-10, 1e-10, 1e-11};
    uint64_t cnt = 0;
    for (size_t c = 0; c < sizeof EK / sizeof EK[0]; c++)
        for (size_t s = 0; s < sizeof NS / sizeof NS[0]; s++) {
            int E = EK[c].e, K = EK[c].k;
            int64_t N = NS[s];
            int renorm = (int)(cnt & 1), with_probs = (cnt % 3) != 2;
            hrng r = rng_make(h->opt.seed, 1500 + cnt++);
            float* logits = xmalloc(sizeof(float) * N * E);
            for (int64_t i = 0; i < N; i++)
                for (int j = 0; j < E; j++) {
                    float v = rng_sym(&r, 3.0f);
                    /* every third row: few distinct values, so exact ties occur */
                    if (i % 3 == 1) v = (float)(rng_u64(&r) % 3) * 0.5f;
                    logits[i * E + j] = v;
                }
            double* pref = xmalloc(sizeof(double) * N * E);
            int32_t* iref = xmalloc(sizeof(int32_t) * N * K);
            float* wref = xmalloc(sizeof(float) * N * K);
            ref_router(logits, N, E, K, renorm, pref, iref, wref);
            float* pref_f = xmalloc(sizeof(float) * N * E);
            for (int64_t i = 0; i < N * E; i++) pref_f[i] = (float)pref[i];
            dev_run run[2];
            float *wout[2], *pout[2];
            int32_t* iout[2];
            for (int i = 0; i < 2; i++) {
                hdev* d = device(h, i);
                lk_router_args a;
                memset(&a, 0, sizeof a);
                a.struct_size = sizeof a;
                a.logits = dev_upload(d, logits, sizeof(float) * N * E);
                a.n = N;
                a.n_experts = E;
                a.k = K;
                a.renormalize = renorm;
                a.probs_out = with_probs ? dev_alloc(d, sizeof(float) * N * E) : NULL;
                a.topk_idx = dev_alloc(d, sizeof(int32_t) * N * K);
                a.topk_weight = dev_alloc(d, sizeof(float) * N * K);
                run_status(d, lk_router_topk(d->stream, &a), &run[i]);
                wout[i] = download_f32(d, &run[i], a.topk_weight, N * K);
                pout[i] = with_probs ? download_f32(d, &run[i], a.probs_out, N * E) : NULL;
                iout[i] = xmalloc(sizeof(int32_t) * N * K);
                if (run[i].ok) dev_download(d, iout[i], a.topk_idx, sizeof(int32_t) * N * K);
            }
            char desc[96], detail[768] = "";
            snprintf(desc, sizeof desc, "n=%lld experts=%d k=%d%s%s", (long long)N, E, K,
                     renorm ? " renorm" : "", with_probs ? " probs" : "");
            int ok = judge_f32(h, run, wout, wref, N * K, t, "weights: ", detail, sizeof detail);
            if (run[0].ok && run[1].ok) {
                if (with_probs) {
                    size_t len = strlen(detail);
                    snprintf(detail + len, sizeof detail - len, "; probs: ");
                    ok = judge_f32(h, run, pout, pref_f, N * E, t, "", detail, sizeof detail) && ok;
                }
                int64_t ab = index_mismatches(iout[0], iout[1], pref, N, E, K);
                int64_t br = index_mismatches(iout[1], iref, pref, N, E, K);
                int64_t ar = index_mismatches(iout[0], iref, pref, N, E, K);
                size_t len = strlen(detail);
                snprintf(detail + len, sizeof detail - len, "; index mismatches a/b=%lld b/ref=%lld a/ref=%lld",
                         (long long)ab, (long long)br, (long long)ar);
                ok = ok && ab == 0 && br == 0 && ar == 0;
            }
            harness_report(h, ok, "router_topk", desc, detail);
            dev_free_all();
            for (int i = 0; i < 2; i++) { free(wout[i]); free(pout[i]); free(iout[i]); }
            free(logits); free(pref); free(iref); free(wref); free(pref_f);
        }
}

/* ---- router_heads ------------------------------------------------------------------- */

/* Reference of lk_router_heads in double: xn = rmsnorm(x) * gain (rounded to f32 as the
 * device stores it), router logits = router . xn, the router's softmax / top-k by
 * ref_router; hHat = x * inv, head logits = heads . hHat + bias, softmax per head. */
static void ref_router_heads(const float* x, const float* gain, const float* router, const float* heads,
                             const float* bias, int64_t D, float eps, int E, int K, int H, int renorm,
                             float* xn, double* probs, int32_t* idx, float* weight, float* head_probs) {
    double ss = 0;
    for (int64_t c = 0; c < D; c++) ss += (double)x[c] * x[c];
    double inv = 1.0 / sqrt(ss / (double)D + eps);
    for (int64_t c = 0; c < D; c++) xn[c] = (float)(x[c] * inv * gain[c]);
    float* logits = xmalloc(sizeof(float) * (size_t)E);
    for (int e = 0; e < E; e++) {
        double acc = 0;
        for (int64_t c = 0; c < D; c++) acc += (double)router[e * D + c] * xn[c];
        logits[e] = (float)acc;
    }
    ref_router(logits, 1, E, K, renorm, probs, idx, weight);
    free(logits);
    double* l = xmalloc(sizeof(double) * (size_t)E);
    for (int hd = 0; hd < H; hd++) {
        double m = -INFINITY, sum = 0;
        for (int e = 0; e < E; e++) {
            const float* row = heads + ((int64_t)hd * E + e) * D;
            double acc = bias ? bias[hd * E + e] : 0.0;
            for (int64_t c = 0; c < D; c++) acc += (double)row[c] * (x[c] * inv);
            l[e] = acc;
            if (acc > m) m = acc;
        }
        for (int e = 0; e < E; e++) sum += (l[e] = exp(l[e] - m));
        for (int e = 0; e < E; e++) head_probs[hd * E + e] = (float)(l[e] / sum);
    }
    free(l);
}

static void t_router_heads(harness* h) {
    static const struct { int64_t hidden; int e, k, heads; } S[] = {
        {1, 1, 1, 0},   {7, 4, 2, 1},    {33, 8, 2, 3},   {127, 8, 1, 0},  {64, 8, 3, 2},
        {1000, 60, 3, 4}, {4096, 8, 2, 3}, {257, 256, 8, 1}, {96, 8, 2, 0}, {4099, 16, 4, 5}};
    /* xn: one rounding per element (exact across CPU thread counts); logits: fp32 sums of
     * `hidden` terms, then softmax — the router_topk / matmul budgets. */
    const tol t = {1e-10, 1e-9, 1e-10};
    uint64_t cnt = 0;
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++)
        for (int di = 0; di < 3; di++) {
            lk_dtype gdt = DTYPES[di], rdt = DTYPES[(di + s) % 3];
            int64_t D = S[s].hidden;
            int E = S[s].e, K = S[s].k, H = S[s].heads, renorm = (int)(cnt & 1), with_bias = (cnt % 3) != 1;
            hrng r = rng_make(h->opt.seed, 2500 + cnt++);
            float* x = xmalloc(sizeof(float) * D);
            fill_sym(&r, x, D, 2.0f);
            float* gain = xmalloc(sizeof(float) * D);
            for (int64_t c = 0; c < D; c++) gain[c] = 0.5f + (float)rng_uniform(&r);
            void* genc = xmalloc(dtype_bytes(gdt) * D);
            encode_round(gdt, gain, D, genc);
            /* router rows scaled so logits spread over a few units whatever the hidden size */
            float amp = 3.0f / sqrtf((float)D);
            float* router = xmalloc(sizeof(float) * E * D);
            fill_sym(&r, router, E * D, amp);
            void* renc = xmalloc(dtype_bytes(rdt) * E * D);
            encode_round(rdt, router, E * D, renc);
            size_t hn = (size_t)H * E;
            float* heads = xmalloc(sizeof(float) * (hn * D + 1));
            fill_sym(&r, heads, hn * D, amp);
            float* bias = xmalloc(sizeof(float) * (hn + 1));
            fill_sym(&r, bias, hn, 1.0f);
            const float eps = 1e-5f;
            float* xn_ref = xmalloc(sizeof(float) * D);
            double* pref = xmalloc(sizeof(double) * E);
            int32_t* iref = xmalloc(sizeof(int32_t) * K);
            float* wref = xmalloc(sizeof(float) * K);
            float* hp_ref = xmalloc(sizeof(float) * (hn + 1));
            ref_router_heads(x, gain, router, heads, with_bias ? bias : NULL, D, eps, E, K, H, renorm, xn_ref,
                             pref, iref, wref, hp_ref);
            size_t out_n = lk_router_heads_out_bytes(K, H, E) / 4;
            dev_run run[2];
            float *xn[2], *packed[2], *wout[2], *pout[2];
            int32_t* iout[2];
            for (int i = 0; i < 2; i++) {
                hdev* d = device(h, i);
                lk_router_heads_args a;
                memset(&a, 0, sizeof a);
                a.struct_size = sizeof a;
                a.x = dev_upload(d, x, sizeof(float) * D);
                a.hidden = D;
                a.eps = eps;
                a.gain_dtype = gdt;
                a.gain = dev_upload(d, genc, dtype_bytes(gdt) * D);
                a.router_dtype = rdt;
                a.n_experts = E;
                a.router = dev_upload(d, renc, dtype_bytes(rdt) * E * D);
                a.k = K;
                a.renormalize = renorm;
                a.n_heads = H;
                a.heads = H ? dev_upload(d, heads, sizeof(float) * hn * D) : NULL;
                a.heads_bias = H && with_bias ? dev_upload(d, bias, sizeof(float) * hn) : NULL;
                a.xn_out = dev_alloc(d, sizeof(float) * D);
                a.out = dev_alloc(d, out_n * 4);
                run_status(d, lk_router_heads(d->stream, &a), &run[i]);
                xn[i] = download_f32(d, &run[i], a.xn_out, D);
                packed[i] = download_f32(d, &run[i], a.out, out_n);  /* the one read-back */
                iout[i] = (int32_t*)packed[i];
                wout[i] = packed[i] + K;
                pout[i] = packed[i] + 2 * K;
            }
            char desc[128], detail[1024] = "";
            snprintf(desc, sizeof desc, "gain=%s router=%s hidden=%lld experts=%d k=%d heads=%d%s%s",
                     dtype_name(gdt), dtype_name(rdt), (long long)D, E, K, H, renorm ? " renorm" : "",
                     H && !with_bias ? " no-bias" : "");
            int ok = judge_f32(h, run, xn, xn_ref, D, t, "xn: ", detail, sizeof detail);
            if (run[0].ok && run[1].ok) {
                size_t len = strlen(detail);
                snprintf(detail + len, sizeof detail - len, "; weights: ");
                ok = judge_f32(h, run, wout, wref, K, t, "", detail, sizeof detail) && ok;
                if (H) {
                    len = strlen(detail);
                    snprintf(detail + len, sizeof detail - len, "; head probs: ");
                    ok = judge_f32(h, run, pout, hp_ref, hn, t, "", detail, sizeof detail) && ok;
                }
                int64_t ab = index_mismatches(iout[0], iout[1], pref, 1, E, K);
                int64_t br = index_mismatches(iout[1], iref, pref, 1, E, K);
                int64_t ar = index_mismatches(iout[0], iref, pref, 1, E, K);
                len = strlen(detail);
                snprintf(detail + len, sizeof detail - len, "; index mismatches a/b=%lld b/ref=%lld a/ref=%lld",
                         (long long)ab, (long long)br, (long long)ar);
                ok = ok && ab == 0 && br == 0 && ar == 0;
            }
            harness_report(h, ok, "router_heads", desc, detail);
            dev_free_all();
            for (int i = 0; i < 2; i++) { free(xn[i]); free(packed[i]); }
            free(x); free(gain); free(genc); free(router); free(renc); free(heads); free(bias);
            free(xn_ref); free(pref); free(iref); free(wref); free(hp_ref);
        }
}

/* ---- attention -------------------------------------------------------------------- */

static void t_attention(harness* h) {
    static const struct { int64_t n_tokens, pos; int heads, kv_heads, hd, window; float qamp; } S[] = {
        /* prefill */
        {7, 0, 4, 4, 16, 0, 1}, {33, 0, 8, 2, 64, 0, 2}, {65, 10, 8, 8, 32, 8, 1}, {17, 5, 4, 1, 128, 4, 3},
        {96, 0, 4, 2, 8, 0, 4}, {3, 40, 6, 3, 7, 5, 1}, {127, 0, 2, 1, 33, 64, 2}, {20, 3, 4, 4, 1, 0, 8},
        /* decode */
        {1, 0, 4, 4, 16, 0, 1}, {1, 100, 32, 8, 128, 0, 1}, {1, 300, 8, 2, 64, 16, 2},
        {1, 64, 4, 1, 96, 1, 1}, {1, 1000, 8, 4, 256, 0, 4}, {1, 77, 2, 2, 5, 100, 3}};
    /* cross: a GPU may use fp16 tensor cores for q k^T and p v */
    const tol t = {1e-10, 1e-5, 1e-10};
    for (int di = 0; di < 3; di++)
        for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
            lk_dtype dt = DTYPES[di];
            int64_t T = S[s].n_tokens, P = S[s].pos;
            int H = S[s].heads, KH = S[s].kv_heads, HD = S[s].hd, W = S[s].window;
            int64_t used = P + T, cap = used + 3;
            hrng r = rng_make(h->opt.seed, 1700 + di * 32 + s);
            size_t qn = (size_t)(T * H * HD), kvn = (size_t)(cap * KH * HD), usedn = (size_t)(used * KH * HD);
            float* q = xmalloc(sizeof(float) * qn);
            fill_sym(&r, q, qn, S[s].qamp);
            float* k = xmalloc(sizeof(float) * kvn);
            float* v = xmalloc(sizeof(float) * kvn);
            fill_sym(&r, k, usedn, 1.0f);
            fill_sym(&r, v, usedn, 1.0f);
            /* rows past pos + n_tokens - 1 must never be read: poison them */
            for (size_t i = usedn; i < kvn; i++) k[i] = v[i] = NAN;
            void* kenc = xmalloc(dtype_bytes(dt) * kvn);
            void* venc = xmalloc(dtype_bytes(dt) * kvn);
            encode_round(dt, k, kvn, kenc);
            encode_round(dt, v, kvn, venc);
            float scale = 1.0f / sqrtf((float)HD);
            float* ref = xmalloc(sizeof(float) * qn);
            ref_attention(q, k, v, ref, T, P, H, KH, HD, W, scale);
            dev_run run[2];
            float* out[2];
            for (int i = 0; i < 2; i++) {
                hdev* d = device(h, i);
                lk_attention_args a;
                memset(&a, 0, sizeof a);
                a.struct_size = sizeof a;
                a.q = dev_upload(d, q, sizeof(float) * qn);
                a.k_cache = dev_upload(d, kenc, dtype_bytes(dt) * kvn);
                a.v_cache = dev_upload(d, venc, dtype_bytes(dt) * kvn);
                a.out = dev_alloc(d, sizeof(float) * qn);
                a.n_tokens = T;
                a.pos = P;
                a.ctx_capacity = cap;
                a.n_heads = H;
                a.n_kv_heads = KH;
                a.head_dim = HD;
                a.window = W;
                a.kv_dtype = dt;
                a.scale = scale;
                run_status(d, lk_attention(d->stream, &a), &run[i]);
                out[i] = download_f32(d, &run[i], a.out, qn);
            }
            char desc[96];
            snprintf(desc, sizeof desc, "%s %s n=%lld pos=%lld h=%d kv=%d hd=%d win=%d", dtype_name(dt),
                     T > 1 ? "prefill" : "decode", (long long)T, (long long)P, H, KH, HD, W);
            finish_f32(h, "attention", desc, run, out, ref, qn, t);
            dev_free_all();
            free(q); free(k); free(v); free(kenc); free(venc); free(ref); free(out[0]); free(out[1]);
        }
}

/* ---- the table ---------------------------------------------------------------------- */

static const struct { const char* name; void (*run)(harness*); } OPS[] = {
    {"embedding", t_embedding}, {"rmsnorm", t_rmsnorm},   {"rope", t_rope},
    {"matmul", t_matmul},       {"qmatvec", t_qmatvec},   {"qmatmul", t_qmatmul},
    {"swiglu", t_swiglu},       {"add", t_add},           {"fill_u32", t_fill},           {"gather_rows", t_gather},
    {"scatter_add_rows", t_scatter}, {"convert", t_convert}, {"router_topk", t_router},
    {"attention", t_attention}, {"router_heads", t_router_heads}, {"expert_swiglu", t_expert_swiglu},
};

void run_compare_ops(harness* h) {
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (harness_selected(h, OPS[i].name)) OPS[i].run(h);
}
