/*
 * harness_bench.c — --bench [--quick]: times every op on device A with events
 * (warm-up, then repeats; the median is reported) and prints the bandwidth of the
 * bytes each op moves.
 *
 * Ceilings measured in the same run: a multi-threaded host read (sum) of a buffer of
 * 512 MiB (256 MiB with --quick) with A's thread count — the CPU backend's device
 * memory is host memory — and a device-to-device copy. The quantized matvecs at
 * 4096 x 14336 and 14336 x 4096 rotate over as many copies of the matrix as fit in a
 * working set of the same size as the read buffer, so they are served from the same
 * level of the memory hierarchy as the read test, not from a warm cache; the read
 * test is repeated right before each of them because the bandwidth left to us on a
 * shared machine drifts during a run.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- host memory-read ceiling ------------------------------------------------------ */

typedef struct read_part {
    const uint64_t* p;
    size_t n;
    uint64_t sum;
} read_part;

static void* read_worker(void* arg) {
    read_part* r = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= r->n; i += 4) {
        s0 += r->p[i];
        s1 += r->p[i + 1];
        s2 += r->p[i + 2];
        s3 += r->p[i + 3];
    }
    r->sum = s0 + s1 + s2 + s3;
    return NULL;
}

/* The buffer of the read test, allocated and touched once per run. */
typedef struct read_buffer {
    uint64_t* words;
    size_t bytes;
    int threads;
} read_buffer;

static read_buffer read_buffer_make(size_t bytes, int threads) {
    read_buffer rb = {malloc(bytes), bytes, threads > 256 ? 256 : threads};
    if (!rb.words) harness_fatal(__FILE__, __LINE__, "malloc(memory-read buffer)", LK_ERR_HOST_OUT_OF_MEMORY);
    for (size_t i = 0; i < bytes / 8; i++) rb.words[i] = i;
    return rb;
}

typedef struct bench_ctx {
    harness* h;
    hdev* d;
    lk_event *ev0, *ev1;
    int warmup, reps;
    const read_buffer* rb; /* the memory-read test, re-measured next to each qmatvec */
    int read_reps;
} bench_ctx;

/* Median GB/s of `reps` parallel sums of the buffer. */
static double memory_read_gbs(const read_buffer* rb, int reps) {
    size_t words = rb->bytes / 8;
    int threads = rb->threads;
    pthread_t th[256];
    read_part parts[256];
    double t[32];
    uint64_t check = 0;
    if (reps > 32) reps = 32;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            size_t b = words * (size_t)i / (size_t)threads, e = words * (size_t)(i + 1) / (size_t)threads;
            parts[i] = (read_part){rb->words + b, e - b, 0};
            if (i > 0 && pthread_create(&th[i], NULL, read_worker, &parts[i]) != 0)
                harness_fatal(__FILE__, __LINE__, "pthread_create", LK_ERR_INTERNAL);
        }
        read_worker(&parts[0]);
        for (int i = 1; i < threads; i++) pthread_join(th[i], NULL);
        t[r] = now_s() - t0;
        for (int i = 0; i < threads; i++) check += parts[i].sum;
    }
    if (check == 42) printf(" ");   /* keeps the sums alive */
    return (double)rb->bytes / median(t, reps) / 1e9;
}

/* ---- timing an op with events -------------------------------------------------------- */

typedef lk_status (*launch_fn)(void* ctx, int rep);

/* Times `count` launches between two events (rep numbers from *next on); -1 on failure (reported). */
static double time_launches(bench_ctx* b, const char* name, launch_fn launch, void* ctx, int* next, int count) {
    lk_stream* s = b->d->stream;
    lk_status st = lk_event_record(b->ev0, s);
    for (int j = 0; j < count && st == LK_OK; j++) st = launch(ctx, (*next)++);
    if (st == LK_OK) st = lk_event_record(b->ev1, s);
    if (st == LK_OK) st = lk_event_synchronize(b->ev1);
    float elapsed = 0;
    if (st == LK_OK) st = lk_event_elapsed_ms(b->ev0, b->ev1, &elapsed);
    if (st != LK_OK) {
        char detail[400];
        snprintf(detail, sizeof detail, "%s: %s", lk_status_name(st), lk_last_error());
        harness_report(b->h, 0, "bench", name, detail);
        (void)lk_stream_synchronize(s);
        return -1;
    }
    return elapsed;
}

/* Median milliseconds per launch; -1 if a launch failed (reported). Launches are timed back to back in
 * batches of about 1 ms: a single launch between two events would also time the host's round trip,
 * during which a GPU idles and, partly idle, need not hold its boost clock. */
static double time_op(bench_ctx* b, const char* name, launch_fn launch, void* ctx) {
    double ms[256];
    int reps = b->reps > 256 ? 256 : b->reps;
    int next = 0;
    double single = 0;
    for (int i = 0; i < b->warmup; i++) {
        single = time_launches(b, name, launch, ctx, &next, 1);
        if (single < 0) return -1;
    }
    int batch = single > 0 ? (int)(1.0 / single) + 1 : 1;
    if (batch > 64) batch = 64;
    if (batch < 1) batch = 1;
    for (int i = 0; i < reps; i++) {
        double t = time_launches(b, name, launch, ctx, &next, batch);
        if (t < 0) return -1;
        ms[i] = t / batch;
    }
    return median(ms, reps);
}

static void report(bench_ctx* b, const char* name, double ms, double bytes, double flops) {
    if (ms < 0) return;
    char line[256];
    int len = snprintf(line, sizeof line, "%-40s %9.3f ms  %8.2f GB/s", name, ms, bytes / (ms * 1e-3) / 1e9);
    if (flops > 0) snprintf(line + len, sizeof line - (size_t)len, "  %8.2f GFLOP/s", flops / (ms * 1e-3) / 1e9);
    printf("bench  %s\n", line);
    b->h->passed++;
}

/* ---- device data ---------------------------------------------------------------------- */

static void* dev_random(hdev* d, size_t floats, float amp, uint64_t stream, uint64_t seed) {
    float* host = malloc(floats * sizeof(float));
    if (!host) harness_fatal(__FILE__, __LINE__, "malloc", LK_ERR_HOST_OUT_OF_MEMORY);
    hrng r = rng_make(seed, stream);
    fill_sym(&r, host, floats, amp);
    void* p = dev_upload(d, host, floats * sizeof(float));
    free(host);
    return p;
}

/* Random fp16 (or bf16) values of a fixed magnitude range. */
static void* dev_random_half(hdev* d, size_t n, lk_dtype t, float amp, uint64_t stream, uint64_t seed) {
    float* f = malloc(n * sizeof(float));
    uint16_t* e = malloc(n * sizeof(uint16_t));
    if (!f || !e) harness_fatal(__FILE__, __LINE__, "malloc", LK_ERR_HOST_OUT_OF_MEMORY);
    hrng r = rng_make(seed, stream);
    fill_sym(&r, f, n, amp);
    encode_round(t, f, n, e);
    void* p = dev_upload(d, e, n * sizeof(uint16_t));
    free(f);
    free(e);
    return p;
}

/* ---- quantized matvec against the memory-read ceiling ------------------------------------ */

typedef struct qmv_launch {
    hdev* d;
    lk_qmatrix q[64];
    int copies;
    const float* x;
    float* y;
} qmv_launch;

static lk_status launch_qmv(void* vctx, int rep) {
    qmv_launch* c = vctx;
    return lk_qmatvec(c->d->stream, &c->q[rep % c->copies], c->x, c->y);
}

static size_t align256(size_t v) { return (v + 255) & ~(size_t)255; }

static void bench_qmatvec_rotation(bench_ctx* b, size_t workset) {
    hdev* d = b->d;
    /* one working-set buffer reused by all configurations; its codes are random bytes
     * (any byte is valid), the scales and zeros of each copy are valid fp16 */
    uint8_t* ws = dev_alloc(d, workset);
    {
        size_t block = (size_t)16 << 20;
        uint8_t* host = malloc(block);
        if (!host) harness_fatal(__FILE__, __LINE__, "malloc", LK_ERR_HOST_OUT_OF_MEMORY);
        hrng r = rng_make(b->h->opt.seed, 5000);
        for (size_t i = 0; i < block; i++) host[i] = (uint8_t)rng_u64(&r);
        for (size_t off = 0; off < workset; off += block)
            HCHECK(lk_copy_h2d(d->stream, ws + off, host, workset - off < block ? workset - off : block));
        HCHECK(lk_stream_synchronize(d->stream));
        free(host);
    }
    static const struct { int64_t rows, cols; } SH[] = {{4096, 14336}, {14336, 4096}};
    static const int BITS[] = {2, 3, 4};
    const int gs = 64;
    qmv_launch c;
    c.d = d;
    c.x = dev_random(d, 14336, 1.0f, 5001, b->h->opt.seed);
    c.y = dev_alloc(d, 14336 * sizeof(float));
    for (size_t si = 0; si < 2; si++)
        for (size_t bi = 0; bi < 3; bi++) {
            int bits = BITS[bi];
            int64_t rows = SH[si].rows, cols = SH[si].cols;
            int64_t ngroups = (cols + gs - 1) / gs;
            size_t code_bytes = lk_qmatrix_code_bytes(bits, gs, rows, cols);
            size_t sz_bytes = sizeof(uint16_t) * (size_t)(rows * ngroups);
            size_t copy_bytes = align256(code_bytes) + 2 * align256(sz_bytes);
            int copies = (int)(workset / copy_bytes);
            if (copies > 64) copies = 64;
            if (copies < 1) { printf("bench  qmatvec: working set too small\n"); continue; }
            /* valid scales (about 0.01) and zeros (mid-range) for every copy */
            uint16_t* sz = malloc(sz_bytes);
            if (!sz) harness_fatal(__FILE__, __LINE__, "malloc", LK_ERR_HOST_OUT_OF_MEMORY);
            for (int i = 0; i < copies; i++) {
                uint8_t* base = ws + (size_t)i * copy_bytes;
                uint8_t* sc = base + align256(code_bytes);
                uint8_t* zr = sc + align256(sz_bytes);
                for (int64_t k = 0; k < rows * ngroups; k++) sz[k] = h_f32_to_f16(0.01f + 0.0001f * (float)(k % 7));
                HCHECK(lk_copy_h2d(d->stream, sc, sz, sz_bytes));
                HCHECK(lk_stream_synchronize(d->stream));
                for (int64_t k = 0; k < rows * ngroups; k++) sz[k] = h_f32_to_f16((float)((1 << bits) - 1) * 0.5f);
                HCHECK(lk_copy_h2d(d->stream, zr, sz, sz_bytes));
                HCHECK(lk_stream_synchronize(d->stream));
                lk_qmatrix* q = &c.q[i];
                memset(q, 0, sizeof *q);
                q->struct_size = sizeof *q;
                q->bits = bits;
                q->group_size = gs;
                q->rows = rows;
                q->cols = cols;
                q->codes = base;
                q->scales = sc;
                q->zeros = zr;
            }
            free(sz);
            c.copies = copies;
            bench_ctx bb = *b;
            bb.reps = b->reps > copies ? b->reps : copies;
            if (bb.reps % copies) bb.reps += copies - bb.reps % copies;   /* whole cycles */
            char name[96];
            snprintf(name, sizeof name, "qmatvec q%d g%d %lldx%lld", bits, gs, (long long)rows, (long long)cols);
            /* the ceiling is measured right before: on a shared machine the available
             * bandwidth drifts during a run */
            double ceiling = memory_read_gbs(b->rb, b->read_reps);
            double ms = time_op(&bb, name, launch_qmv, &c);
            if (ms < 0) continue;
            double bytes = (double)code_bytes + 2.0 * (double)sz_bytes + 4.0 * (double)(rows + cols);
            double gbs = bytes / (ms * 1e-3) / 1e9;
            printf("bench  %-28s %8.2f GB/s  (memory read %.2f GB/s, ratio %.2f)  median %.3f ms, %d copies rotated\n",
                   name, gbs, ceiling, gbs / ceiling, ms, copies);
            b->h->passed++;
        }
}

/* ---- an expert on one token: lk_expert_swiglu against its four ops ------------------------ */

typedef struct expert_launch {
    hdev* d;
    lk_qmatrix gate, up, down;
    const float* x;
    float *h_gate, *h_up, *y;
} expert_launch;

static lk_status l_expert_fused(void* v, int rep) {
    (void)rep;
    expert_launch* c = v;
    return lk_expert_swiglu(c->d->stream, &c->gate, &c->up, &c->down, c->x, c->h_gate, c->h_up, c->y);
}

static lk_status l_expert_ops(void* v, int rep) {
    (void)rep;
    expert_launch* c = v;
    lk_stream* s = c->d->stream;
    lk_status st = lk_qmatvec(s, &c->gate, c->x, c->h_gate);
    if (st == LK_OK) st = lk_qmatvec(s, &c->up, c->x, c->h_up);
    if (st == LK_OK) st = lk_swiglu(s, c->h_gate, c->h_up, c->gate.rows, c->h_gate);
    if (st == LK_OK) st = lk_qmatvec(s, &c->down, c->h_gate, c->y);
    return st;
}

/* A random qmatrix (hqmat_random) in device memory. */
static lk_qmatrix dev_qmatrix(hdev* d, int bits, int gs, int64_t rows, int64_t cols, uint64_t stream, uint64_t seed) {
    hrng r = rng_make(seed, stream);
    hqmat m = hqmat_random(&r, bits, gs, rows, cols);
    lk_qmatrix q = hqmat_upload(d, &m);
    hqmat_free(&m);
    return q;
}

/* Mixtral-8x7B's expert (hidden 4096, intermediate 14336; --quick: a quarter of each) at 4 and 2
 * bits: the fused op's time next to the four ops it replaces, and its GB/s of weights. */
static void bench_expert(bench_ctx* b) {
    const int64_t hidden = b->h->opt.quick ? 1024 : 4096, inter = b->h->opt.quick ? 3584 : 14336;
    static const int BITS[] = {4, 2};
    for (size_t bi = 0; bi < 2; bi++) {
        const int bits = BITS[bi], gs = 64;
        expert_launch c = {.d = b->d};
        c.gate = dev_qmatrix(b->d, bits, gs, inter, hidden, 5100 + bi, b->h->opt.seed);
        c.up = dev_qmatrix(b->d, bits, gs, inter, hidden, 5110 + bi, b->h->opt.seed);
        c.down = dev_qmatrix(b->d, bits, gs, hidden, inter, 5120 + bi, b->h->opt.seed);
        c.x = dev_random(b->d, (size_t)hidden, 1.0f, 5130, b->h->opt.seed);
        c.h_gate = dev_alloc(b->d, sizeof(float) * (size_t)inter);
        c.h_up = dev_alloc(b->d, sizeof(float) * (size_t)inter);
        c.y = dev_alloc(b->d, sizeof(float) * (size_t)hidden);
        const double bytes = 3.0 * ((double)lk_qmatrix_code_bytes(bits, gs, inter, hidden) +
                                    4.0 * (double)(inter * ((hidden + gs - 1) / gs)));
        char name[96];
        snprintf(name, sizeof name, "expert q%d g%d %lld->%lld, 4 ops", bits, gs, (long long)hidden, (long long)inter);
        const double ops = time_op(b, name, l_expert_ops, &c);
        report(b, name, ops, bytes, 0);
        snprintf(name, sizeof name, "expert q%d g%d %lld->%lld, fused", bits, gs, (long long)hidden, (long long)inter);
        const double fused = time_op(b, name, l_expert_fused, &c);
        report(b, name, fused, bytes, 0);
        if (ops > 0 && fused > 0) printf("bench  expert q%d: fused / 4 ops = %.3f\n", bits, fused / ops);
        dev_free_all();
    }
}

/* ---- the other ops ------------------------------------------------------------------------ */

typedef struct op_launch {
    hdev* d;
    lk_dtype dt;
    const void *a, *b, *c;
    void *out, *out2, *out3;
    int64_t n, m, k;
    int32_t i1, i2;
    lk_qmatrix q;
    lk_attention_args att;
    lk_router_args router;
} op_launch;

static lk_status l_matmul(void* v, int rep) {
    op_launch* o = v;
    return lk_matmul(o->d->stream, o->dt, o->a, o->b, o->n, o->m, o->k, o->out);
}
static lk_status l_qmatmul(void* v, int rep) {
    op_launch* o = v;
    return lk_qmatmul(o->d->stream, &o->q, o->b, o->n, o->out);
}
static lk_status l_attention(void* v, int rep) {
    op_launch* o = v;
    return lk_attention(o->d->stream, &o->att);
}
static lk_status l_rmsnorm(void* v, int rep) {
    op_launch* o = v;
    return lk_rmsnorm(o->d->stream, o->a, o->dt, o->b, o->n, o->m, 1e-5f, o->out);
}
static lk_status l_rope(void* v, int rep) {
    op_launch* o = v;
    return lk_rope(o->d->stream, o->out, o->n, o->i1, o->i2, 1000, 10000.0f);
}
static lk_status l_router(void* v, int rep) {
    op_launch* o = v;
    return lk_router_topk(o->d->stream, &o->router);
}
/* The decode routing of one layer as the engine runs it: lk_router_heads, then (read_back) its packed
 * output copied into pinned memory on the same stream. */
typedef struct heads_launch {
    hdev* d;
    lk_router_heads_args args;
    void* host_out;
    int read_back;
} heads_launch;

static lk_status l_router_heads(void* v, int rep) {
    (void)rep;
    heads_launch* o = v;
    lk_status st = lk_router_heads(o->d->stream, &o->args);
    if (st == LK_OK && o->read_back)
        st = lk_copy_d2h(o->d->stream, o->host_out, o->args.out,
                         lk_router_heads_out_bytes(o->args.k, o->args.n_heads, o->args.n_experts));
    return st;
}

static lk_status l_swiglu(void* v, int rep) {
    op_launch* o = v;
    return lk_swiglu(o->d->stream, o->a, o->b, o->n, o->out);
}
static lk_status l_add(void* v, int rep) {
    op_launch* o = v;
    return lk_add(o->d->stream, o->out, o->a, o->n);
}
static lk_status l_embedding(void* v, int rep) {
    op_launch* o = v;
    return lk_embedding(o->d->stream, o->dt, o->a, o->m, o->k, o->b, o->n, o->out);
}
static lk_status l_gather(void* v, int rep) {
    op_launch* o = v;
    return lk_gather_rows(o->d->stream, o->a, o->b, o->n, o->k, o->out);
}
static lk_status l_scatter(void* v, int rep) {
    op_launch* o = v;
    return lk_scatter_add_rows(o->d->stream, o->out, o->a, o->b, o->c, o->n, o->k);
}
static lk_status l_convert(void* v, int rep) {
    op_launch* o = v;
    return lk_convert(o->d->stream, LK_F32, o->a, o->dt, o->out, o->n);
}
static lk_status l_d2d(void* v, int rep) {
    op_launch* o = v;
    return lk_copy_d2d(o->d->stream, o->out, o->a, (size_t)o->n);
}

static void bench_ops(bench_ctx* b) {
    harness* h = b->h;
    hdev* d = b->d;
    const uint64_t seed = h->opt.seed;
    const int quick = h->opt.quick;
    char name[96];

    /* dense matmul: decode (n = 1, bandwidth) and prefill (compute) */
    static const lk_dtype DT[2] = {LK_F16, LK_BF16};
    for (int i = 0; i < 2; i++) {
        const int64_t R = 4096, C = 4096;
        const int64_t ns[2] = {1, quick ? 16 : 64};
        for (int j = 0; j < 2; j++) {
            if (!harness_selected(h, "matmul")) break;
            op_launch o = {.d = d, .dt = DT[i], .n = ns[j], .m = R, .k = C};
            o.a = dev_random_half(d, (size_t)(R * C), DT[i], 0.05f, 6000 + i, seed);
            o.b = dev_random(d, (size_t)(ns[j] * C), 1.0f, 6010, seed);
            o.out = dev_alloc(d, sizeof(float) * (size_t)(ns[j] * R));
            snprintf(name, sizeof name, "matmul %s n=%lld %lldx%lld", dtype_name(DT[i]), (long long)ns[j],
                     (long long)R, (long long)C);
            double bytes = 2.0 * R * C + 4.0 * ns[j] * (R + C);
            report(b, name, time_op(b, name, l_matmul, &o), bytes, 2.0 * ns[j] * R * C);
            dev_free_all();
        }
    }
    /* quantized prefill */
    if (harness_selected(h, "qmatmul")) {
        const int64_t R = 14336, C = 4096, N = quick ? 8 : 32;
        hrng r = rng_make(seed, 6100);
        hqmat m = hqmat_random(&r, 4, 64, R, C);
        op_launch o = {.d = d, .n = N};
        memset(&o.q, 0, sizeof o.q);
        o.q.struct_size = sizeof o.q;
        o.q.bits = 4;
        o.q.group_size = 64;
        o.q.rows = R;
        o.q.cols = C;
        o.q.codes = dev_upload(d, m.codes, (size_t)(R * m.row_bytes));
        o.q.scales = dev_upload(d, m.scales, sizeof(uint16_t) * (size_t)(R * m.ngroups));
        o.q.zeros = dev_upload(d, m.zeros, sizeof(uint16_t) * (size_t)(R * m.ngroups));
        o.b = dev_random(d, (size_t)(N * C), 1.0f, 6101, seed);
        o.out = dev_alloc(d, sizeof(float) * (size_t)(N * R));
        snprintf(name, sizeof name, "qmatmul q4 g64 n=%lld %lldx%lld", (long long)N, (long long)R, (long long)C);
        double bytes = (double)R * m.row_bytes + 4.0 * R * m.ngroups + 4.0 * N * (R + C);
        report(b, name, time_op(b, name, l_qmatmul, &o), bytes, 2.0 * N * R * C);
        hqmat_free(&m);
        dev_free_all();
    }
    /* attention: decode over a 4096-token f16 cache, and a prefill */
    if (harness_selected(h, "attention")) {
        const int H = 32, KH = 8, HD = 128;
        const int64_t prefill = quick ? 64 : 256;
        const int64_t cases[2][2] = {{1, 4095}, {prefill, 0}};   /* n_tokens, pos */
        for (int i = 0; i < 2; i++) {
            int64_t T = cases[i][0], P = cases[i][1], ctx = T + P;
            op_launch o = {.d = d};
            lk_attention_args* a = &o.att;
            memset(a, 0, sizeof *a);
            a->struct_size = sizeof *a;
            a->q = dev_random(d, (size_t)(T * H * HD), 1.0f, 6200, seed);
            a->k_cache = dev_random_half(d, (size_t)(ctx * KH * HD), LK_F16, 1.0f, 6201, seed);
            a->v_cache = dev_random_half(d, (size_t)(ctx * KH * HD), LK_F16, 1.0f, 6202, seed);
            a->out = dev_alloc(d, sizeof(float) * (size_t)(T * H * HD));
            a->n_tokens = T;
            a->pos = P;
            a->ctx_capacity = ctx;
            a->n_heads = H;
            a->n_kv_heads = KH;
            a->head_dim = HD;
            a->kv_dtype = LK_F16;
            a->scale = 0.08838834764f;
            snprintf(name, sizeof name, "attention f16 %s n=%lld ctx=%lld h32/8 hd128", T > 1 ? "prefill" : "decode",
                     (long long)T, (long long)ctx);
            double bytes = 2.0 * 2 * ctx * KH * HD + 8.0 * T * H * HD;
            double pairs = T > 1 ? (double)T * (T + 1) / 2 : (double)ctx;
            report(b, name, time_op(b, name, l_attention, &o), bytes, 4.0 * pairs * H * HD);
            dev_free_all();
        }
    }
    /* the small ops of a decode step (n = 1) and of a prefill chunk */
    if (harness_selected(h, "rmsnorm")) {
        const int64_t ns[2] = {1, 64};
        for (int i = 0; i < 2; i++) {
            op_launch o = {.d = d, .dt = LK_F16, .n = ns[i], .m = 4096};
            o.a = dev_random(d, (size_t)(ns[i] * 4096), 1.0f, 6300, seed);
            o.b = dev_random_half(d, 4096, LK_F16, 1.0f, 6301, seed);
            o.out = dev_alloc(d, sizeof(float) * (size_t)(ns[i] * 4096));
            snprintf(name, sizeof name, "rmsnorm f16 n=%lld dim=4096", (long long)ns[i]);
            report(b, name, time_op(b, name, l_rmsnorm, &o), 8.0 * ns[i] * 4096 + 2 * 4096, 0);
            dev_free_all();
        }
    }
    if (harness_selected(h, "rope")) {
        const int64_t ns[2] = {1, 64};
        for (int i = 0; i < 2; i++) {
            op_launch o = {.d = d, .n = ns[i], .i1 = 32, .i2 = 128};
            o.out = dev_random(d, (size_t)(ns[i] * 32 * 128), 1.0f, 6400, seed);
            snprintf(name, sizeof name, "rope n=%lld heads=32 hd=128", (long long)ns[i]);
            report(b, name, time_op(b, name, l_rope, &o), 8.0 * ns[i] * 32 * 128, 0);
            dev_free_all();
        }
    }
    if (harness_selected(h, "router_topk")) {
        const int64_t ns[2] = {1, 256};
        for (int i = 0; i < 2; i++) {
            op_launch o = {.d = d};
            lk_router_args* a = &o.router;
            memset(a, 0, sizeof *a);
            a->struct_size = sizeof *a;
            a->logits = dev_random(d, (size_t)(ns[i] * 8), 2.0f, 6500, seed);
            a->n = ns[i];
            a->n_experts = 8;
            a->k = 2;
            a->renormalize = 1;
            a->topk_idx = dev_alloc(d, sizeof(int32_t) * (size_t)(ns[i] * 2));
            a->topk_weight = dev_alloc(d, sizeof(float) * (size_t)(ns[i] * 2));
            snprintf(name, sizeof name, "router_topk n=%lld experts=8 k=2", (long long)ns[i]);
            report(b, name, time_op(b, name, l_router, &o), 4.0 * ns[i] * (8 + 4), 0);
            dev_free_all();
        }
    }
    if (harness_selected(h, "router_heads")) {
        /* Mixtral's router (hidden 4096, 8 experts, top 2) alone and with 3 lookahead heads; the last row
         * times one launch and its read-back between two events, as the engine waits for it each layer */
        static const struct { int heads, read_back; } R[] = {{0, 0}, {3, 0}, {3, 1}};
        const int64_t D = 4096;
        const int E = 8, K = 2;
        lk_host_buffer* hb;
        HCHECK(lk_host_buffer_alloc(d->dev, 4096, &hb));
        void* host_out;
        HCHECK(lk_host_buffer_ptr(hb, &host_out));
        for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
            heads_launch o = {.d = d, .host_out = host_out, .read_back = R[i].read_back};
            lk_router_heads_args* a = &o.args;
            memset(a, 0, sizeof *a);
            a->struct_size = sizeof *a;
            a->x = dev_random(d, (size_t)D, 1.0f, 6550, seed);
            a->hidden = D;
            a->eps = 1e-5f;
            a->gain_dtype = LK_F16;
            a->gain = dev_random_half(d, (size_t)D, LK_F16, 1.0f, 6551, seed);
            a->router_dtype = LK_F16;
            a->n_experts = E;
            a->router = dev_random_half(d, (size_t)(E * D), LK_F16, 0.05f, 6552, seed);
            a->k = K;
            a->renormalize = 1;
            a->n_heads = R[i].heads;
            if (R[i].heads > 0) a->heads = dev_random(d, (size_t)(R[i].heads * E * D), 0.05f, 6553, seed);
            a->xn_out = dev_alloc(d, sizeof(float) * (size_t)D);
            a->out = dev_alloc(d, lk_router_heads_out_bytes(K, R[i].heads, E));
            const double bytes = (double)D * (4 + 2 + 4) + (double)E * D * 2 + (double)R[i].heads * E * D * 4;
            if (R[i].read_back) {
                snprintf(name, sizeof name, "router_heads h=%d + read-back, one at a time", R[i].heads);
                double ms[64];
                int reps = b->reps > 64 ? 64 : b->reps, next = 0, failed = 0;
                for (int w = 0; w < b->warmup && !failed; w++)
                    failed = time_launches(b, name, l_router_heads, &o, &next, 1) < 0;
                for (int r = 0; r < reps && !failed; r++) {
                    ms[r] = time_launches(b, name, l_router_heads, &o, &next, 1);
                    failed = ms[r] < 0;
                }
                if (!failed) report(b, name, median(ms, reps), bytes, 0);
            } else {
                snprintf(name, sizeof name, "router_heads hidden=%lld experts=%d heads=%d", (long long)D, E,
                         R[i].heads);
                report(b, name, time_op(b, name, l_router_heads, &o), bytes, 0);
            }
            dev_free_all();
        }
        HCHECK(lk_host_buffer_free(hb));
    }
    if (harness_selected(h, "swiglu")) {
        op_launch o = {.d = d, .n = 14336};
        o.a = dev_random(d, 14336, 4.0f, 6600, seed);
        o.b = dev_random(d, 14336, 1.0f, 6601, seed);
        o.out = dev_alloc(d, sizeof(float) * 14336);
        report(b, "swiglu n=14336", time_op(b, "swiglu", l_swiglu, &o), 12.0 * 14336, 0);
        dev_free_all();
    }
    if (harness_selected(h, "add")) {
        op_launch o = {.d = d, .n = 1 << 20};
        o.a = dev_random(d, 1 << 20, 1.0f, 6700, seed);
        o.out = dev_random(d, 1 << 20, 1.0f, 6701, seed);
        report(b, "add n=1M", time_op(b, "add", l_add, &o), 12.0 * (1 << 20), 0);
        dev_free_all();
    }
    if (harness_selected(h, "embedding")) {
        const int64_t V = 2048, D = 4096, N = 16;
        int32_t ids[16];
        for (int i = 0; i < 16; i++) ids[i] = (i * 677) % (int)V;
        op_launch o = {.d = d, .dt = LK_F16, .m = V, .k = D, .n = N};
        o.a = dev_random_half(d, (size_t)(V * D), LK_F16, 1.0f, 6800, seed);
        o.b = dev_upload(d, ids, sizeof ids);
        o.out = dev_alloc(d, sizeof(float) * (size_t)(N * D));
        report(b, "embedding f16 n=16 dim=4096", time_op(b, "embedding", l_embedding, &o), 6.0 * N * D, 0);
        dev_free_all();
    }
    if (harness_selected(h, "gather_rows") || harness_selected(h, "scatter_add_rows")) {
        const int64_t M = 64, D = 4096;
        int32_t idx[64];
        for (int i = 0; i < 64; i++) idx[i] = (i * 37) % 64;
        op_launch o = {.d = d, .n = M, .k = D};
        o.a = dev_random(d, (size_t)(M * D), 1.0f, 6900, seed);
        o.b = dev_upload(d, idx, sizeof idx);
        o.c = dev_random(d, (size_t)M, 1.0f, 6901, seed);
        o.out = dev_random(d, (size_t)(M * D), 1.0f, 6902, seed);
        report(b, "gather_rows m=64 dim=4096", time_op(b, "gather_rows", l_gather, &o), 8.0 * M * D, 0);
        report(b, "scatter_add_rows m=64 dim=4096", time_op(b, "scatter_add_rows", l_scatter, &o), 12.0 * M * D, 0);
        dev_free_all();
    }
    if (harness_selected(h, "convert")) {
        op_launch o = {.d = d, .dt = LK_F16, .n = 1 << 22};
        o.a = dev_random(d, 1 << 22, 100.0f, 7000, seed);
        o.out = dev_alloc(d, sizeof(uint16_t) << 22);
        report(b, "convert f32->f16 n=4M", time_op(b, "convert", l_convert, &o), 6.0 * (1 << 22), 0);
        dev_free_all();
    }
}

void run_bench(harness* h) {
    hdev* d = &h->a;
    lk_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    HCHECK(lk_device_get_info(d->dev, &info));
    /* the read test uses the CPU device's compute threads; for another backend it
     * measures host memory with one thread per online core */
    int cpu = strcmp(d->backend, "cpu") == 0;
    int threads = cpu ? (d->threads > 0 ? d->threads : info.multiprocessors)
                      : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;

    bench_ctx b;
    memset(&b, 0, sizeof b);
    b.h = h;
    b.d = d;
    b.warmup = 2;
    b.reps = h->opt.quick ? 5 : 21;
    HCHECK(lk_event_create(d->dev, &b.ev0));
    HCHECK(lk_event_create(d->dev, &b.ev1));
    const size_t workset = (size_t)(h->opt.quick ? 256 : 512) << 20;
    double t0 = now_s();

    /* ceilings */
    read_buffer rb = read_buffer_make(workset, threads);
    b.rb = &rb;
    b.read_reps = h->opt.quick ? 3 : 5;
    printf("bench  memory read (host, %d threads, %zu MiB, sum)%s %8.2f GB/s\n", threads, workset >> 20,
           cpu ? "" : " [host RAM, not device memory]", memory_read_gbs(&rb, b.read_reps));
    {
        size_t bytes = (size_t)(h->opt.quick ? 64 : 256) << 20;
        op_launch o = {.d = d, .n = (int64_t)bytes};
        o.a = dev_alloc(d, bytes);
        o.out = dev_alloc(d, bytes);
        HCHECK(lk_memset(d->stream, o.out, 1, bytes));
        HCHECK(lk_memset(d->stream, (void*)o.a, 2, bytes));
        char name[64];
        snprintf(name, sizeof name, "d2d copy %zu MiB (read + write)", bytes >> 20);
        report(&b, name, time_op(&b, name, l_d2d, &o), 2.0 * (double)bytes, 0);
        dev_free_all();
    }
    if (!cpu) {
        /* on a GPU the read ceiling above is host memory; the d2d line is the device's */
        printf("bench  (ratios below are against the host read; compare with the d2d line)\n");
    }
    if (harness_selected(h, "qmatvec")) bench_qmatvec_rotation(&b, workset);
    dev_free_all();
    if (harness_selected(h, "expert_swiglu")) bench_expert(&b);
    bench_ops(&b);
    free(rb.words);
    HCHECK(lk_event_destroy(b.ev0));
    HCHECK(lk_event_destroy(b.ev1));
    printf("bench  total %.1f s\n", now_s() - t0);
}
