/*
 * harness_ref.c — host-side building blocks of the harness: a seeded random
 * generator, fp16/bf16 conversions written with frexp/ldexp/nearbyint (a different
 * method from the backends' bit manipulation), NMSE, quantized-matrix generation with
 * a bit-stream view of the code layout, and naive double-precision reference ops.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- random ---------------------------------------------------------------------- */

hrng rng_make(uint64_t seed, uint64_t stream) {
    hrng r = {seed * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull + 1};
    rng_u64(&r);
    return r;
}

uint64_t rng_u64(hrng* r) {   /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double rng_uniform(hrng* r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

float rng_sym(hrng* r, float amp) { return (float)((2.0 * rng_uniform(r) - 1.0) * amp); }

void fill_sym(hrng* r, float* x, size_t n, float amp) {
    for (size_t i = 0; i < n; i++) x[i] = rng_sym(r, amp);
}

/* ---- fp16 / bf16 ------------------------------------------------------------------ */

float h_f16_to_f32(uint16_t h) {
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)m, -24);
    else v = ldexp((double)(m + 1024), e - 25);
    return (float)(sign ? -v : v);
}

/* Rounds |f| to `mant_bits` significant bits (RNE, nearbyint in the default rounding
 * mode) with exponents down to emin (below: fixed point at emin); returns the encoding
 * with `exp_bits`. */
static uint32_t encode_minifloat(float f, int exp_bits, int mant_bits) {
    const int bias = (1 << (exp_bits - 1)) - 1;
    const uint32_t exp_all = (1u << exp_bits) - 1;
    const uint32_t sign = signbit(f) ? 1u << (exp_bits + mant_bits) : 0;
    double a = fabs((double)f);
    if (isnan(f)) return sign | (exp_all << mant_bits) | (1u << (mant_bits - 1));
    if (isinf(f)) return sign | (exp_all << mant_bits);
    int e2;
    frexp(a, &e2);                 /* a = m * 2^e2, m in [0.5, 1) */
    int e = e2 - 1;                /* a in [2^e, 2^(e+1)) */
    const int emin = 1 - bias;
    if (a == 0.0 || e < emin) e = emin;   /* subnormal range: fixed step 2^(emin - mant_bits) */
    double q = nearbyint(ldexp(a, mant_bits - e));   /* exact: a has 24 bits */
    /* normal: q in [2^mant, 2^(mant+1)], subnormal: q in [0, 2^mant] — adding the
     * exponent field lets a carry roll into the next binade (or inf). */
    uint32_t code;
    if (q < ldexp(1.0, mant_bits)) code = (uint32_t)q;                       /* subnormal/zero */
    else code = ((uint32_t)(e + bias) << mant_bits) + (uint32_t)q - (1u << mant_bits);
    if (code >= (exp_all << mant_bits)) code = exp_all << mant_bits;        /* inf */
    return sign | code;
}

uint16_t h_f32_to_f16(float f) { return (uint16_t)encode_minifloat(f, 5, 10); }

float h_bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t h_f32_to_bf16(float f) { return (uint16_t)encode_minifloat(f, 8, 7); }

size_t dtype_bytes(lk_dtype t) { return t == LK_F16 || t == LK_BF16 ? 2 : 4; }

const char* dtype_name(lk_dtype t) {
    switch (t) {
        case LK_F32: return "f32";
        case LK_F16: return "f16";
        case LK_BF16: return "bf16";
        case LK_I32: return "i32";
    }
    return "?";
}

void encode_round(lk_dtype t, float* x, size_t n, void* dst) {
    if (t == LK_F32) { memcpy(dst, x, n * 4); return; }
    uint16_t* d = dst;
    for (size_t i = 0; i < n; i++) {
        d[i] = t == LK_F16 ? h_f32_to_f16(x[i]) : h_f32_to_bf16(x[i]);
        x[i] = t == LK_F16 ? h_f16_to_f32(d[i]) : h_bf16_to_f32(d[i]);
    }
}

void decode_to_f32(lk_dtype t, const void* src, size_t n, float* dst) {
    if (t == LK_F32) { memcpy(dst, src, n * 4); return; }
    const uint16_t* s = src;
    for (size_t i = 0; i < n; i++) dst[i] = t == LK_F16 ? h_f16_to_f32(s[i]) : h_bf16_to_f32(s[i]);
}

/* ---- comparison ------------------------------------------------------------------- */

double nmse(const float* a, const float* b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) return INFINITY;
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (num == 0) return 0;
    return den > 0 ? num / den : INFINITY;
}

/* ---- quantized matrices ------------------------------------------------------------ */

hqmat hqmat_random(hrng* r, int bits, int gs, int64_t rows, int64_t cols) {
    hqmat m;
    m.bits = bits;
    m.gs = gs;
    m.rows = rows;
    m.cols = cols;
    m.ngroups = (cols + gs - 1) / gs;
    m.row_bytes = m.ngroups * gs * bits / 8;
    m.codes = malloc((size_t)(rows * m.row_bytes));
    m.scales = malloc(sizeof(uint16_t) * (size_t)(rows * m.ngroups));
    m.zeros = malloc(sizeof(uint16_t) * (size_t)(rows * m.ngroups));
    if (!m.codes || !m.scales || !m.zeros) harness_fatal(__FILE__, __LINE__, "malloc", LK_ERR_HOST_OUT_OF_MEMORY);
    for (int64_t i = 0; i < rows * m.row_bytes; i++) m.codes[i] = (uint8_t)rng_u64(r);
    for (int64_t rr = 0; rr < rows; rr++)
        for (int64_t c = cols; c < m.ngroups * gs; c++) hq_set_code(&m, rr, c, 0);
    const double qmax = (double)((1 << bits) - 1);
    for (int64_t i = 0; i < rows * m.ngroups; i++) {
        /* a weight range of about [-0.1, 0.1] spread over the 2^bits levels */
        m.scales[i] = h_f32_to_f16((float)((0.5 + rng_uniform(r)) * 0.2 / qmax));
        m.zeros[i] = h_f32_to_f16((float)(qmax * (0.25 + 0.5 * rng_uniform(r))));
    }
    return m;
}

void hqmat_free(hqmat* m) {
    free(m->codes);
    free(m->scales);
    free(m->zeros);
    memset(m, 0, sizeof *m);
}

unsigned hq_get_code(const hqmat* m, int64_t r, int64_t c) {
    const uint8_t* row = m->codes + r * m->row_bytes;
    unsigned q = 0;
    for (int b = 0; b < m->bits; b++) {
        int64_t bit = c * m->bits + b;
        q |= (unsigned)((row[bit >> 3] >> (bit & 7)) & 1) << b;
    }
    return q;
}

void hq_set_code(hqmat* m, int64_t r, int64_t c, unsigned q) {
    uint8_t* row = m->codes + r * m->row_bytes;
    for (int b = 0; b < m->bits; b++) {
        int64_t bit = c * m->bits + b;
        uint8_t mask = (uint8_t)(1u << (bit & 7));
        if ((q >> b) & 1) row[bit >> 3] |= mask;
        else row[bit >> 3] &= (uint8_t)~mask;
    }
}

void hqmat_dequant(const hqmat* m, float* w) {
    for (int64_t r = 0; r < m->rows; r++)
        for (int64_t c = 0; c < m->cols; c++) {
            int64_t g = c / m->gs;
            double s = h_f16_to_f32(m->scales[r * m->ngroups + g]);
            double z = h_f16_to_f32(m->zeros[r * m->ngroups + g]);
            w[r * m->cols + c] = (float)(s * ((double)hq_get_code(m, r, c) - z));
        }
}

/* ---- reference ops ------------------------------------------------------------------ */

void ref_matmul(const float* w, const float* x, int64_t n, int64_t rows, int64_t cols, float* y) {
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < rows; r++) {
            double s = 0;
            for (int64_t c = 0; c < cols; c++) s += (double)w[r * cols + c] * x[t * cols + c];
            y[t * rows + r] = (float)s;
        }
}

void ref_rmsnorm(const float* x, const float* w, int64_t n, int64_t dim, float eps, float* out) {
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t k = 0; k < dim; k++) ss += (double)x[i * dim + k] * x[i * dim + k];
        double inv = 1.0 / sqrt(ss / (double)dim + eps);
        for (int64_t k = 0; k < dim; k++) out[i * dim + k] = (float)(x[i * dim + k] * inv * w[k]);
    }
}

void ref_rope(float* x, int64_t n, int n_heads, int head_dim, int64_t pos0, float theta) {
    int half = head_dim / 2;
    for (int64_t i = 0; i < n; i++)
        for (int h = 0; h < n_heads; h++) {
            float* v = x + (i * n_heads + h) * head_dim;
            for (int j = 0; j < half; j++) {
                double f = (double)(pos0 + i) * pow((double)theta, -2.0 * j / head_dim);
                double a = v[j], b = v[j + half];
                v[j] = (float)(a * cos(f) - b * sin(f));
                v[j + half] = (float)(b * cos(f) + a * sin(f));
            }
        }
}

void ref_swiglu(const float* g, const float* u, int64_t n, float* out) {
    for (int64_t i = 0; i < n; i++) out[i] = (float)(g[i] / (1.0 + exp(-(double)g[i])) * u[i]);
}

void ref_router(const float* logits, int64_t n, int e, int k, int renorm, double* probs,
                int32_t* idx, float* w) {
    for (int64_t i = 0; i < n; i++) {
        const float* l = logits + i * e;
        double* p = probs + i * e;
        double m = l[0], sum = 0;
        for (int j = 1; j < e; j++) m = l[j] > m ? l[j] : m;
        for (int j = 0; j < e; j++) sum += (p[j] = exp(l[j] - m));
        for (int j = 0; j < e; j++) p[j] /= sum;
        double wsum = 0;
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int c = 0; c < e; c++) {
                int used = 0;
                for (int u = 0; u < j; u++) used |= idx[i * k + u] == c;
                if (!used && (best < 0 || p[c] > p[best])) best = c;
            }
            idx[i * k + j] = best;
            wsum += p[best];
        }
        for (int j = 0; j < k; j++)
            w[i * k + j] = (float)(renorm ? p[idx[i * k + j]] / wsum : p[idx[i * k + j]]);
    }
}

void ref_attention(const float* q, const float* k, const float* v, float* out, int64_t n_tokens,
                   int64_t pos, int n_heads, int n_kv_heads, int head_dim, int window,
                   float scale) {
    int64_t ctx = pos + n_tokens;
    double* s = malloc(sizeof(double) * (size_t)ctx);
    double* acc = malloc(sizeof(double) * (size_t)head_dim);
    int group = n_heads / n_kv_heads;
    for (int64_t t = 0; t < n_tokens; t++)
        for (int h = 0; h < n_heads; h++) {
            int kh = h / group;
            int64_t p = pos + t;
            const float* qv = q + (t * n_heads + h) * head_dim;
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j <= p; j++) {
                int allowed = window == 0 || j > p - window;
                if (!allowed) continue;
                const float* kv = k + (j * n_kv_heads + kh) * head_dim;
                double d = 0;
                for (int c = 0; c < head_dim; c++) d += (double)qv[c] * kv[c];
                s[j] = d * scale;
                if (s[j] > m) m = s[j];
            }
            memset(acc, 0, sizeof(double) * (size_t)head_dim);
            for (int64_t j = 0; j <= p; j++) {
                if (!(window == 0 || j > p - window)) continue;
                double e = exp(s[j] - m);
                sum += e;
                const float* vv = v + (j * n_kv_heads + kh) * head_dim;
                for (int c = 0; c < head_dim; c++) acc[c] += e * vv[c];
            }
            for (int c = 0; c < head_dim; c++) out[(t * n_heads + h) * head_dim + c] = (float)(acc[c] / sum);
        }
    free(s);
    free(acc);
}
