/*
 * harness_selftest.c — checks that do not trust any implementation: tiny cases with
 * results worked out by hand (so a bug shared by both compared backends and by the
 * host reference is still caught), and the error paths of the API.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* ---- hand-computed cases ------------------------------------------------------------ */

/* Compares n outputs with expected values (relative 1e-6, plus 1e-7 absolute). */
static void expect_f32(harness* h, hdev* d, const char* op, const char* desc, lk_status st,
                       const float* dev_out, const float* expected, int n) {
    char full[128], detail[512];
    snprintf(full, sizeof full, "[%s] %s", d->backend, desc);
    if (st == LK_OK) st = lk_stream_synchronize(d->stream);
    if (st != LK_OK) {
        snprintf(detail, sizeof detail, "%s: %s", lk_status_name(st), lk_last_error());
        harness_report(h, 0, op, full, detail);
        return;
    }
    float got[64];
    dev_download(d, got, dev_out, sizeof(float) * (size_t)n);
    int ok = 1, len = 0;
    len += snprintf(detail + len, sizeof detail - (size_t)len, "got");
    for (int i = 0; i < n; i++) {
        double tol = 1e-6 * fabs(expected[i]) + 1e-7;
        if (!(fabs((double)got[i] - expected[i]) <= tol)) ok = 0;
        if (i < 8) len += snprintf(detail + len, sizeof detail - (size_t)len, " %.7g", got[i]);
    }
    if (!ok) {
        len += snprintf(detail + len, sizeof detail - (size_t)len, "  expected");
        for (int i = 0; i < n && i < 8; i++)
            len += snprintf(detail + len, sizeof detail - (size_t)len, " %.7g", expected[i]);
    }
    harness_report(h, ok, op, full, detail);
}

static void expect_bits(harness* h, hdev* d, const char* op, const char* desc, lk_status st,
                        const void* dev_out, const uint16_t* expected, int n) {
    char full[128], detail[512];
    snprintf(full, sizeof full, "[%s] %s", d->backend, desc);
    if (st == LK_OK) st = lk_stream_synchronize(d->stream);
    if (st != LK_OK) {
        snprintf(detail, sizeof detail, "%s: %s", lk_status_name(st), lk_last_error());
        harness_report(h, 0, op, full, detail);
        return;
    }
    uint16_t got[64];
    dev_download(d, got, dev_out, sizeof(uint16_t) * (size_t)n);
    int ok = 1, len = 0;
    len += snprintf(detail + len, sizeof detail - (size_t)len, "bits");
    for (int i = 0; i < n; i++) {
        int nan_ok = (expected[i] & 0x7C00) == 0x7C00 && (expected[i] & 0x3FF) && (got[i] & 0x7C00) == 0x7C00 &&
                     (got[i] & 0x3FF);
        if (got[i] != expected[i] && !nan_ok) ok = 0;
        len += snprintf(detail + len, sizeof detail - (size_t)len, " %04x%s", got[i],
                        got[i] != expected[i] && !nan_ok ? "!" : "");
    }
    harness_report(h, ok, op, full, detail);
}

/* Hand checks of op `op` run under --filter op as well as --filter selftest. */
static int want(const harness* h, const char* op) {
    return harness_selected(h, op) || harness_selected(h, "selftest");
}

static void selftest_device(harness* h, hdev* d) {
    lk_stream* s = d->stream;

    /* fp32 -> fp16 at the edges: RNE ties, overflow, subnormals, signed zero, nan. */
    if (want(h, "convert")) {
        const float in[] = {1.0f, 65504.0f, 65519.0f, 65520.0f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f,
                            1.0f + 0x1p-11f, 1.0f + 0x3p-11f, -0.0f, 0x1p-14f, 0x1.ffcp-15f, NAN, -INFINITY};
        const uint16_t want[] = {0x3C00, 0x7BFF, 0x7BFF, 0x7C00, 0x0001, 0x0000, 0x0001,
                                 0x3C00, 0x3C02, 0x8000, 0x0400, 0x0400, 0x7E00, 0xFC00};
        float* din = dev_upload(d, in, sizeof in);
        void* dout = dev_alloc(d, sizeof want);
        expect_bits(h, d, "convert", "f32->f16 edge values", lk_convert(s, LK_F32, din, LK_F16, dout, 14),
                    dout, want, 14);
    }
    /* fp32 -> bf16: 1 + 2^-8 is a tie (to even: 1.0), 1 + 3 * 2^-8 rounds up. */
    if (want(h, "convert")) {
        const float in[] = {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, -2.0f, 3.0e38f, 0x1p-133f, 0.0f};
        const uint16_t want[] = {0x3F80, 0x3F82, 0xC000, 0x7F62, 0x0001, 0x0000};
        float* din = dev_upload(d, in, sizeof in);
        void* dout = dev_alloc(d, sizeof want);
        expect_bits(h, d, "convert", "f32->bf16 ties and extremes", lk_convert(s, LK_F32, din, LK_BF16, dout, 6),
                    dout, want, 6);
    }
    /* fp16 -> fp32: the smallest subnormal, the largest normal, inf */
    if (want(h, "convert")) {
        const uint16_t in[] = {0x0001, 0x7BFF, 0x7C00, 0xC000, 0x0200};
        const float want[] = {0x1p-24f, 65504.0f, INFINITY, -2.0f, 0x1p-15f};
        void* din = dev_upload(d, in, sizeof in);
        float* dout = dev_alloc(d, sizeof want);
        lk_status st = lk_convert(s, LK_F16, din, LK_F32, dout, 5);
        /* inf: compare exactly (the relative tolerance of expect_f32 is nan for inf) */
        float got[5];
        if (st == LK_OK) st = lk_stream_synchronize(s);
        if (st == LK_OK) {
            dev_download(d, got, dout, sizeof got);
            int ok = memcmp(got, want, sizeof got) == 0;
            char full[96];
            snprintf(full, sizeof full, "[%s] f16->f32 subnormal/max/inf", d->backend);
            harness_report(h, ok, "convert", full, ok ? "exact" : "mismatch");
        } else {
            expect_f32(h, d, "convert", "f16->f32 subnormal/max/inf", st, dout, want, 5);
        }
    }

    /* Quantized rows with 8 columns (one group of 8):
     * 4-bit codes 0..7, scale 0.5, zero 2 -> w = -1 -0.5 0 0.5 1 1.5 2 2.5;
     *   x = 1..8 -> y = -1 -1 +0 +2 +5 +9 +14 +20 = 48; x = all ones -> 6.
     * 3-bit: the same codes packed in one 24-bit word -> the same results.
     * 2-bit codes 0 1 2 3 3 2 1 0, scale 1, zero 1 -> w = -1 0 1 2 2 1 0 -1;
     *   x = 1..8 -> -1 +0 +3 +8 +10 +6 +0 -8 = 18; ones -> 4. */
    if (want(h, "qmatvec") || want(h, "qmatmul")) {
        const uint8_t c4[4] = {0x10, 0x32, 0x54, 0x76};
        const uint32_t w3 = 0u | 1u << 3 | 2u << 6 | 3u << 9 | 4u << 12 | 5u << 15 | 6u << 18 | 7u << 21;
        const uint8_t c3[3] = {(uint8_t)w3, (uint8_t)(w3 >> 8), (uint8_t)(w3 >> 16)};
        const uint8_t c2[2] = {0xE4, 0x1B};
        const uint16_t half_scale = 0x3800 /* 0.5 */, one = 0x3C00, two = 0x4000;
        const float x[16] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 1, 1, 1, 1, 1};
        float* dx = dev_upload(d, x, sizeof x);
        float* dy = dev_alloc(d, 2 * sizeof(float));
        struct { int bits; const uint8_t* codes; size_t nbytes; uint16_t scale, zero; float y1, y2; } Q[] = {
            {4, c4, 4, half_scale, two, 48, 6}, {3, c3, 3, half_scale, two, 48, 6}, {2, c2, 2, one, one, 18, 4}};
        for (int i = 0; i < 3; i++) {
            lk_qmatrix q;
            memset(&q, 0, sizeof q);
            q.struct_size = sizeof q;
            q.bits = Q[i].bits;
            q.group_size = 8;
            q.rows = 1;
            q.cols = 8;
            q.codes = dev_upload(d, Q[i].codes, Q[i].nbytes);
            q.scales = dev_upload(d, &Q[i].scale, 2);
            q.zeros = dev_upload(d, &Q[i].zero, 2);
            char desc[64];
            float want[2] = {Q[i].y1, Q[i].y2};
            snprintf(desc, sizeof desc, "q%d 1x8 by hand", Q[i].bits);
            expect_f32(h, d, "qmatvec", desc, lk_qmatvec(s, &q, dx, dy), dy, want, 1);
            expect_f32(h, d, "qmatmul", desc, lk_qmatmul(s, &q, dx, 2, dy), dy, want, 2);
        }
        /* 4-bit, 5 columns in a group of 8: the 3 padding codes are zero and ignored. */
        const uint8_t c4p[4] = {0x10, 0x32, 0x04, 0x00};
        lk_qmatrix q;
        memset(&q, 0, sizeof q);
        q.struct_size = sizeof q;
        q.bits = 4;
        q.group_size = 8;
        q.rows = 1;
        q.cols = 5;
        q.codes = dev_upload(d, c4p, 4);
        q.scales = dev_upload(d, &half_scale, 2);
        q.zeros = dev_upload(d, &two, 2);
        const float want = -1 - 1 + 0 + 2 + 5;   /* w = -1 -0.5 0 0.5 1, x = 1..5 */
        expect_f32(h, d, "qmatvec", "q4 1x5 partial group", lk_qmatvec(s, &q, dx, dy), dy, &want, 1);
    }

    /* matmul: W = [[1, 2], [3, 4]] (f16), x = [[1, 1], [0.5, -1]] -> [[3, 7], [-1.5, -2.5]] */
    if (want(h, "matmul")) {
        const uint16_t w[4] = {0x3C00, 0x4000, 0x4200, 0x4400};
        const float x[4] = {1, 1, 0.5f, -1};
        const float want[4] = {3, 7, -1.5f, -2.5f};
        void* dw = dev_upload(d, w, sizeof w);
        float* dx = dev_upload(d, x, sizeof x);
        float* dy = dev_alloc(d, sizeof want);
        expect_f32(h, d, "matmul", "f16 2x2 by hand", lk_matmul(s, LK_F16, dw, dx, 2, 2, 2, dy), dy, want, 4);
    }
    /* rmsnorm: x = [3, 4], mean square 12.5, w = [1, 2] -> x / sqrt(12.5) * w */
    if (want(h, "rmsnorm")) {
        const float x[2] = {3, 4}, w[2] = {1, 2};
        const float want[2] = {(float)(3 / sqrt(12.5)), (float)(8 / sqrt(12.5))};
        float* dx = dev_upload(d, x, sizeof x);
        float* dw = dev_upload(d, w, sizeof w);
        float* dy = dev_alloc(d, sizeof want);
        expect_f32(h, d, "rmsnorm", "[3,4] by hand", lk_rmsnorm(s, dx, LK_F32, dw, 1, 2, 0.0f, dy), dy, want, 2);
    }
    /* rope: head_dim 4, position 1, theta 100: frequencies 1 and 1/10 rad;
     * x = [1, 1, 0, 2] -> pairs (1, 0) by 1 rad and (1, 2) by 0.1 rad */
    if (want(h, "rope")) {
        const float x[4] = {1, 1, 0, 2};
        const float want[4] = {(float)cos(1.0), (float)(cos(0.1) - 2 * sin(0.1)), (float)sin(1.0),
                               (float)(2 * cos(0.1) + sin(0.1))};
        float* dx = dev_upload(d, x, sizeof x);
        expect_f32(h, d, "rope", "hd=4 pos=1 by hand", lk_rope(s, dx, 1, 1, 4, 1, 100.0f), dx, want, 4);
    }
    /* swiglu: silu(0) = 0, silu(1) = 1 / (1 + e^-1), silu(-1) = -1 / (1 + e); times 2 */
    if (want(h, "swiglu")) {
        const float g[3] = {0, 1, -1}, u[3] = {2, 2, 2};
        const float want[3] = {0, (float)(2 / (1 + exp(-1.0))), (float)(-2 / (1 + exp(1.0)))};
        float* dg = dev_upload(d, g, sizeof g);
        float* du = dev_upload(d, u, sizeof u);
        float* dy = dev_alloc(d, sizeof want);
        expect_f32(h, d, "swiglu", "silu(0,1,-1)*2 by hand", lk_swiglu(s, dg, du, 3, dy), dy, want, 3);
    }
    /* router: logits [0, ln2, ln2, 0] -> probs [1, 2, 2, 1] / 6; top-2 = [1, 2] (tie:
     * lower index first); renormalized [0.5, 0.5] */
    if (want(h, "router_topk")) {
        const float l[4] = {0, (float)log(2.0), (float)log(2.0), 0};
        float* dl = dev_upload(d, l, sizeof l);
        lk_router_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.logits = dl;
        a.n = 1;
        a.n_experts = 4;
        a.k = 2;
        a.renormalize = 1;
        a.probs_out = dev_alloc(d, 4 * sizeof(float));
        a.topk_idx = dev_alloc(d, 2 * sizeof(int32_t));
        a.topk_weight = dev_alloc(d, 2 * sizeof(float));
        const float wantw[2] = {0.5f, 0.5f};
        const float wantp[4] = {1 / 6.0f, 2 / 6.0f, 2 / 6.0f, 1 / 6.0f};
        lk_status st = lk_router_topk(s, &a);
        expect_f32(h, d, "router_topk", "tie: weights by hand", st, a.topk_weight, wantw, 2);
        expect_f32(h, d, "router_topk", "tie: probs by hand", LK_OK, a.probs_out, wantp, 4);
        int32_t idx[2] = {-1, -1};
        dev_download(d, idx, a.topk_idx, sizeof idx);
        char full[96], detail[64];
        snprintf(full, sizeof full, "[%s] tie: indices by hand", d->backend);
        snprintf(detail, sizeof detail, "got %d %d expected 1 2", idx[0], idx[1]);
        harness_report(h, idx[0] == 1 && idx[1] == 2, "router_topk", full, detail);
    }
    /* attention: one head, head_dim 1, pos 1: keys [0, ln 3], scale 1, values [4, 8]
     * -> weights [1/4, 3/4], output 7; with window 1 only key 1 is seen: 8. */
    if (want(h, "attention")) {
        const float q[1] = {1}, k[2] = {0, (float)log(3.0)}, v[2] = {4, 8};
        lk_attention_args a;
        memset(&a, 0, sizeof a);
        a.struct_size = sizeof a;
        a.q = dev_upload(d, q, sizeof q);
        a.k_cache = dev_upload(d, k, sizeof k);
        a.v_cache = dev_upload(d, v, sizeof v);
        a.out = dev_alloc(d, sizeof(float));
        a.n_tokens = 1;
        a.pos = 1;
        a.ctx_capacity = 2;
        a.n_heads = 1;
        a.n_kv_heads = 1;
        a.head_dim = 1;
        a.kv_dtype = LK_F32;
        a.scale = 1.0f;
        const float want7 = 7, want8 = 8;
        expect_f32(h, d, "attention", "2 keys by hand", lk_attention(s, &a), a.out, &want7, 1);
        a.window = 1;
        expect_f32(h, d, "attention", "window 1 by hand", lk_attention(s, &a), a.out, &want8, 1);
    }
    /* embedding / gather / scatter_add / add by hand */
    if (want(h, "embedding") || want(h, "gather_rows") || want(h, "scatter_add_rows") || want(h, "add")) {
        const float table[6] = {1, 2, 3, 4, 5, 6};   /* 3 rows of 2 */
        const int32_t ids[2] = {2, 0};
        const float want[4] = {5, 6, 1, 2};
        float* dt = dev_upload(d, table, sizeof table);
        int32_t* di = dev_upload(d, ids, sizeof ids);
        float* dy = dev_alloc(d, sizeof want);
        expect_f32(h, d, "embedding", "rows 2,0 by hand", lk_embedding(s, LK_F32, dt, 3, 2, di, 2, dy), dy, want, 4);
        expect_f32(h, d, "gather_rows", "rows 2,0 by hand", lk_gather_rows(s, dt, di, 2, 2, dy), dy, want, 4);
        const float dst[4] = {1, 1, 1, 1}, src[2] = {3, 4}, wt[1] = {2};
        const int32_t idx[1] = {1};
        const float want_s[4] = {1, 1, 7, 9};
        float* dd = dev_upload(d, dst, sizeof dst);
        float* ds = dev_upload(d, src, sizeof src);
        float* dw = dev_upload(d, wt, sizeof wt);
        int32_t* dix = dev_upload(d, idx, sizeof idx);
        expect_f32(h, d, "scatter_add_rows", "row 1 += 2*[3,4] by hand",
                   lk_scatter_add_rows(s, dd, ds, dix, dw, 1, 2), dd, want_s, 4);
        const float want_a[2] = {4, 5};
        expect_f32(h, d, "add", "[1,1]+[3,4] by hand", lk_add(s, dd, ds, 2), dd, want_a, 2);
    }
    dev_free_all();
}

void run_selftests(harness* h) {
    selftest_device(h, &h->a);
    if (!h->same_backend || h->a.threads != h->b.threads) selftest_device(h, &h->b);
}

/* ---- error paths -------------------------------------------------------------------- */

static void expect_status(harness* h, const char* desc, lk_status got, lk_status want) {
    char detail[512];
    const char* msg = lk_last_error();
    int ok = got == want && (want == LK_OK || msg[0] != '\0');
    snprintf(detail, sizeof detail, "got %s, expected %s%s%.200s", lk_status_name(got), lk_status_name(want),
             got != LK_OK ? ": " : "", got != LK_OK ? msg : "");
    harness_report(h, ok, "errors", desc, detail);
}

void run_error_paths(harness* h) {
    if (!harness_selected(h, "errors")) return;
    hdev* d = &h->a;
    lk_stream* s = d->stream;
    lk_device* dev_unused = NULL;

    expect_status(h, "open unknown backend", lk_device_open("no-such-backend", NULL, &dev_unused),
                  LK_ERR_INVALID_ARGUMENT);
    lk_buffer* b = NULL;
    expect_status(h, "alloc 0 bytes", lk_buffer_alloc(d->dev, 0, &b), LK_ERR_INVALID_ARGUMENT);
    lk_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    HCHECK(lk_device_get_info(d->dev, &info));
    if (strcmp(d->backend, "cpu") == 0)
        expect_status(h, "alloc beyond the arena", lk_buffer_alloc(d->dev, info.total_memory + 4096, &b),
                      LK_ERR_OUT_OF_MEMORY);

    float* x = dev_alloc(d, 1024 * sizeof(float));
    float* y = dev_alloc(d, 1024 * sizeof(float));
    uint8_t* codes = dev_alloc(d, 4096);
    lk_qmatrix q;
    memset(&q, 0, sizeof q);
    q.struct_size = sizeof q;
    q.bits = 5;
    q.group_size = 32;
    q.rows = 4;
    q.cols = 32;
    q.codes = codes;
    q.scales = x;
    q.zeros = x;
    expect_status(h, "qmatvec bits=5", lk_qmatvec(s, &q, x, y), LK_ERR_UNSUPPORTED);
    q.bits = 4;
    q.group_size = 12;
    expect_status(h, "qmatvec group_size=12", lk_qmatvec(s, &q, x, y), LK_ERR_INVALID_ARGUMENT);
    q.group_size = 32;
    q.codes = NULL;
    expect_status(h, "qmatvec codes=NULL", lk_qmatvec(s, &q, x, y), LK_ERR_INVALID_ARGUMENT);
    expect_status(h, "matmul w_dtype=I32", lk_matmul(s, LK_I32, x, x, 1, 2, 2, y), LK_ERR_UNSUPPORTED);
    expect_status(h, "matmul x=NULL", lk_matmul(s, LK_F32, x, NULL, 1, 2, 2, y), LK_ERR_INVALID_ARGUMENT);
    expect_status(h, "rope odd head_dim", lk_rope(s, x, 1, 1, 3, 0, 10000.0f), LK_ERR_INVALID_ARGUMENT);

    lk_attention_args a;
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    a.q = x;
    a.k_cache = x;
    a.v_cache = x;
    a.out = y;
    a.n_tokens = 1;
    a.pos = 0;
    a.ctx_capacity = 8;
    a.n_heads = 6;
    a.n_kv_heads = 4;
    a.head_dim = 8;
    a.kv_dtype = LK_F32;
    a.scale = 1.0f;
    expect_status(h, "attention n_heads % n_kv_heads != 0", lk_attention(s, &a), LK_ERR_INVALID_ARGUMENT);
    lk_router_args r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.logits = x;
    r.n = 1;
    r.n_experts = 8;
    r.k = 9;
    r.topk_idx = (int32_t*)y;
    r.topk_weight = y + 64;
    expect_status(h, "router k > n_experts", lk_router_topk(s, &r), LK_ERR_INVALID_ARGUMENT);

    /* An id outside the vocabulary: the call is accepted (ids live in device memory),
     * the row is zeroed, the stream reports LK_ERR_INVALID_ARGUMENT once, and then
     * works again. */
    const float table[4] = {1, 2, 3, 4};
    const int32_t ids[3] = {1, 7, 0};
    float* dt = dev_upload(d, table, sizeof table);
    int32_t* di = dev_upload(d, ids, sizeof ids);
    HCHECK(lk_memset(s, y, 0x7F, 6 * sizeof(float)));
    expect_status(h, "embedding bad id: enqueue", lk_embedding(s, LK_F32, dt, 2, 2, di, 3, y), LK_OK);
    expect_status(h, "embedding bad id: sticky error", lk_stream_synchronize(s), LK_ERR_INVALID_ARGUMENT);
    float got[6];
    dev_download(d, got, y, sizeof got);
    const float want[6] = {3, 4, 0, 0, 1, 2};
    char detail[160];
    snprintf(detail, sizeof detail, "got %g %g %g %g %g %g", got[0], got[1], got[2], got[3], got[4], got[5]);
    harness_report(h, memcmp(got, want, sizeof want) == 0, "errors", "embedding bad id: zero row, others kept",
                   detail);
    expect_status(h, "stream usable after the error", lk_stream_synchronize(s), LK_OK);
    const char* name = lk_status_name(LK_ERR_UNSUPPORTED);
    harness_report(h, strcmp(name, "LK_ERR_UNSUPPORTED") == 0, "errors", "lk_status_name", name);
    dev_free_all();
}
