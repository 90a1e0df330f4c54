/*
 * qmatvec_dev.cu — development bench of the uniform decode matvec (cuda/qmatvec_uniform.cuh),
 * in the manner of llm.c's dev/cuda: a float64 CPU reference, a validation of every kernel
 * variant against it, and a benchmark that prints GB/s next to the device's limits.
 *
 *   lk_qmatvec_dev              # every variant: validate on edge shapes, then time Mixtral's shapes
 *   lk_qmatvec_dev V            # variant V only (1..12)
 *   lk_qmatvec_dev --validate   # no timing (for compute-sanitizer)
 *
 * Variants (template parameters of the kernel): rows per warp, the minimum resident blocks per
 * SM asked of the register allocator, the warps that split a row's columns, and the chunks a lane
 * loads one step ahead. Exit status 1 if any validation fails; no GPU: 2.
 * The production kernels are timed by `lk_harness --bench --a cuda --filter qmatvec` on the same
 * shapes (cuda/gpu-lease.sh runs both in one lease), which gives the baseline of the ratios in
 * docs/gpu-results.md.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "../qmatvec_uniform.cuh"

#define CHECK(call)                                                                                 \
    do {                                                                                            \
        cudaError_t e_ = (call);                                                                    \
        if (e_ != cudaSuccess) {                                                                    \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(2);                                                                                \
        }                                                                                           \
    } while (0)

namespace {

struct Shape {
    int64_t rows, cols;
    int bits, gs;
};

/* A quantized matrix on the host in the lookahead.h layout, and its float64 reference product. */
struct HostMatrix {
    Shape sh;
    int64_t ngroups, row_bytes;
    std::vector<uint8_t> codes;
    std::vector<__half> scales, zeros;
    std::vector<float> x;
};

uint64_t rng_state = 0x9E3779B97F4A7C15ull;
uint64_t next_u64() { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
double uniform01() { return (next_u64() >> 11) * (1.0 / 9007199254740992.0); }

void put_code(HostMatrix& m, int64_t row, int64_t c, int q) {
    uint8_t* r = m.codes.data() + row * m.row_bytes;
    if (m.sh.bits == 4) {
        r[c / 2] |= (uint8_t)(q << (4 * (c % 2)));
    } else if (m.sh.bits == 2) {
        r[c / 4] |= (uint8_t)(q << (2 * (c % 4)));
    } else { /* 8 codes in 3 bytes, a 24-bit little-endian word; code j at bit 3j */
        const int64_t b = 3 * (c / 8);
        uint32_t w = r[b] | (r[b + 1] << 8) | (r[b + 2] << 16);
        w |= (uint32_t)q << (3 * (c % 8));
        r[b] = (uint8_t)w;
        r[b + 1] = (uint8_t)(w >> 8);
        r[b + 2] = (uint8_t)(w >> 16);
    }
}

int get_code(const HostMatrix& m, int64_t row, int64_t c) {
    const uint8_t* r = m.codes.data() + row * m.row_bytes;
    if (m.sh.bits == 4) return (r[c / 2] >> (4 * (c % 2))) & 15;
    if (m.sh.bits == 2) return (r[c / 4] >> (2 * (c % 4))) & 3;
    const int64_t b = 3 * (c / 8);
    const uint32_t w = r[b] | (r[b + 1] << 8) | (r[b + 2] << 16);
    return (w >> (3 * (c % 8))) & 7;
}

HostMatrix make_matrix(Shape sh) {
    HostMatrix m;
    m.sh = sh;
    m.ngroups = (sh.cols + sh.gs - 1) / sh.gs;
    m.row_bytes = m.ngroups * sh.gs * sh.bits / 8;
    m.codes.assign((size_t)(sh.rows * m.row_bytes), 0);
    m.scales.resize((size_t)(sh.rows * m.ngroups));
    m.zeros.resize((size_t)(sh.rows * m.ngroups));
    const int levels = 1 << sh.bits;
    for (int64_t r = 0; r < sh.rows; ++r)
        for (int64_t c = 0; c < sh.cols; ++c) put_code(m, r, c, (int)(next_u64() % levels)); /* padding stays 0 */
    for (size_t i = 0; i < m.scales.size(); ++i) {
        m.scales[i] = __float2half((float)(0.002 + 0.02 * uniform01()));
        m.zeros[i] = __float2half((float)((levels - 1) * uniform01()));
    }
    m.x.resize((size_t)sh.cols);
    for (auto& v : m.x) v = (float)(2.0 * uniform01() - 1.0);
    return m;
}

/* y = W x in float64 from the layout's definition: w = scale * (q - zero). */
std::vector<double> reference(const HostMatrix& m) {
    std::vector<double> y((size_t)m.sh.rows);
    for (int64_t r = 0; r < m.sh.rows; ++r) {
        double acc = 0.0;
        for (int64_t c = 0; c < m.sh.cols; ++c) {
            const int64_t g = r * m.ngroups + c / m.sh.gs;
            const double w = (double)__half2float(m.scales[g]) * (get_code(m, r, c) - (double)__half2float(m.zeros[g]));
            acc += w * m.x[c];
        }
        y[r] = acc;
    }
    return y;
}

double nmse(const std::vector<float>& got, const std::vector<double>& want) {
    double num = 0, den = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return den > 0 ? num / den : num;
}

struct Variant {
    int id, rows, min_blocks, split, chunks;
};
const Variant kVariants[] = {{1, 2, 1, 1, 1}, {2, 2, 2, 1, 1}, {3, 2, 3, 1, 1},  {4, 4, 1, 1, 1},
                             {5, 4, 2, 1, 1}, {6, 2, 3, 2, 1}, {7, 2, 2, 2, 1},  {8, 1, 3, 1, 1},
                             {9, 1, 4, 1, 1}, {10, 2, 2, 1, 2}, {11, 1, 3, 1, 2}, {12, 2, 3, 1, 2}};

lk_qmv::UniformLimits g_lim;

template <int BITS, int ROWS, int MINB, int SPLIT, int CHUNKS> int blocks_per_sm() {
    static int n = 0;
    if (n == 0) CHECK((lk_qmv::uniform_init<BITS, ROWS, MINB, SPLIT, CHUNKS>(g_lim, &n)));
    return n;
}

template <int BITS, int ROWS, int MINB, int SPLIT, int CHUNKS = 1>
cudaError_t launch_t(const uint8_t* codes, const __half* s, const __half* z, const Shape& sh, const float* x, float* y) {
    return lk_qmv::launch_uniform<BITS, ROWS, MINB, SPLIT, CHUNKS>(g_lim, blocks_per_sm<BITS, ROWS, MINB, SPLIT, CHUNKS>(),
                                                                    codes, s, z, sh.gs, sh.rows, sh.cols, x, y, 0);
}

template <int BITS>
cudaError_t launch_bits(int variant, const uint8_t* codes, const __half* s, const __half* z, const Shape& sh,
                        const float* x, float* y) {
    switch (variant) {
    case 1: return launch_t<BITS, 2, 1, 1>(codes, s, z, sh, x, y);
    case 2: return launch_t<BITS, 2, 2, 1>(codes, s, z, sh, x, y);
    case 3: return launch_t<BITS, 2, 3, 1>(codes, s, z, sh, x, y);
    case 4: return launch_t<BITS, 4, 1, 1>(codes, s, z, sh, x, y);
    case 5: return launch_t<BITS, 4, 2, 1>(codes, s, z, sh, x, y);
    case 6: return launch_t<BITS, 2, 3, 2>(codes, s, z, sh, x, y);
    case 7: return launch_t<BITS, 2, 2, 2>(codes, s, z, sh, x, y);
    case 8: return launch_t<BITS, 1, 3, 1>(codes, s, z, sh, x, y);
    case 9: return launch_t<BITS, 1, 4, 1>(codes, s, z, sh, x, y);
    case 10: return launch_t<BITS, 2, 2, 1, 2>(codes, s, z, sh, x, y);
    case 11: return launch_t<BITS, 1, 3, 1, 2>(codes, s, z, sh, x, y);
    default: return launch_t<BITS, 2, 3, 1, 2>(codes, s, z, sh, x, y);
    }
}

cudaError_t launch(int variant, const uint8_t* codes, const __half* s, const __half* z, const Shape& sh, const float* x,
                   float* y) {
    switch (sh.bits) {
    case 2: return launch_bits<2>(variant, codes, s, z, sh, x, y);
    case 3: return launch_bits<3>(variant, codes, s, z, sh, x, y);
    default: return launch_bits<4>(variant, codes, s, z, sh, x, y);
    }
}

/* Device copies of a matrix: `copies` of the codes, scales and zeros back to back (so that the
 * timed loop streams from HBM, not L2), one x and one y. */
struct DeviceMatrix {
    int copies = 1;
    size_t code_bytes = 0, group_count = 0;
    uint8_t* codes = nullptr;
    __half *scales = nullptr, *zeros = nullptr;
    float *x = nullptr, *y = nullptr;
    DeviceMatrix(const HostMatrix& m, int n) : copies(n) {
        code_bytes = m.codes.size();
        group_count = m.scales.size();
        CHECK(cudaMalloc(&codes, code_bytes * copies));
        CHECK(cudaMalloc(&scales, group_count * sizeof(__half) * copies));
        CHECK(cudaMalloc(&zeros, group_count * sizeof(__half) * copies));
        CHECK(cudaMalloc(&x, m.x.size() * sizeof(float)));
        CHECK(cudaMalloc(&y, (size_t)m.sh.rows * sizeof(float)));
        for (int i = 0; i < copies; ++i) {
            CHECK(cudaMemcpy(codes + i * code_bytes, m.codes.data(), code_bytes, cudaMemcpyHostToDevice));
            CHECK(cudaMemcpy(scales + i * group_count, m.scales.data(), group_count * 2, cudaMemcpyHostToDevice));
            CHECK(cudaMemcpy(zeros + i * group_count, m.zeros.data(), group_count * 2, cudaMemcpyHostToDevice));
        }
        CHECK(cudaMemcpy(x, m.x.data(), m.x.size() * sizeof(float), cudaMemcpyHostToDevice));
    }
    ~DeviceMatrix() {
        cudaFree(codes);
        cudaFree(scales);
        cudaFree(zeros);
        cudaFree(x);
        cudaFree(y);
    }
    size_t bytes_per_launch(const HostMatrix& m) const {
        return code_bytes + 2 * group_count * sizeof(__half) + m.x.size() * sizeof(float) + m.sh.rows * sizeof(float);
    }
};

bool validate(int variant, const Shape& sh) {
    const HostMatrix m = make_matrix(sh);
    const std::vector<double> want = reference(m);
    DeviceMatrix d(m, 1);
    /* y starts as garbage: the first slice must overwrite it */
    CHECK(cudaMemset(d.y, 0x7f, (size_t)sh.rows * sizeof(float)));
    CHECK(launch(variant, d.codes, d.scales, d.zeros, sh, d.x, d.y));
    CHECK(cudaDeviceSynchronize());
    std::vector<float> got((size_t)sh.rows);
    CHECK(cudaMemcpy(got.data(), d.y, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
    const double e = nmse(got, want);
    const bool ok = e < 1e-9; /* lk_harness's float64-reference tolerance for qmatvec */
    printf("  validate v%d q%d g%-3d %6lldx%-6lld nmse %.2e %s\n", variant, sh.bits, sh.gs, (long long)sh.rows,
           (long long)sh.cols, e, ok ? "ok" : "FAILED");
    return ok;
}

double time_ms(int variant, const HostMatrix& m, DeviceMatrix& d) {
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    auto run = [&](int i) {
        const int c = i % d.copies;
        return launch(variant, d.codes + c * d.code_bytes, d.scales + c * d.group_count, d.zeros + c * d.group_count,
                      m.sh, d.x, d.y);
    };
    for (int i = 0; i < 3 * d.copies; ++i) CHECK(run(i)); /* warm-up: clocks up */
    /* batches of launches back to back, each about 1 ms; the best of 5 */
    int n = 1;
    float ms = 0;
    double best = 1e30;
    for (int rep = 0; rep < 8; ++rep) {
        CHECK(cudaEventRecord(a));
        for (int i = 0; i < n; ++i) CHECK(run(i));
        CHECK(cudaEventRecord(b));
        CHECK(cudaEventSynchronize(b));
        CHECK(cudaEventElapsedTime(&ms, a, b));
        if (rep >= 3 && ms / n < best) best = ms / n;
        if (ms < 1.0f && n < (1 << 16)) n = (int)(n * (1.2 / (ms > 0.01f ? ms : 0.01f))) + 1;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return best;
}

/* Device-to-device copy of 256 MiB: the bandwidth a streaming kernel can hope for (read + write). */
double copy_gbps() {
    const size_t bytes = 256u << 20;
    void *p, *q;
    CHECK(cudaMalloc(&p, bytes));
    CHECK(cudaMalloc(&q, bytes));
    cudaEvent_t a, b;
    CHECK(cudaEventCreate(&a));
    CHECK(cudaEventCreate(&b));
    CHECK(cudaMemcpy(q, p, bytes, cudaMemcpyDeviceToDevice));
    float best = 1e30f;
    for (int i = 0; i < 5; ++i) {
        float ms;
        CHECK(cudaEventRecord(a));
        CHECK(cudaMemcpyAsync(q, p, bytes, cudaMemcpyDeviceToDevice));
        CHECK(cudaEventRecord(b));
        CHECK(cudaEventSynchronize(b));
        CHECK(cudaEventElapsedTime(&ms, a, b));
        if (ms < best) best = ms;
    }
    cudaFree(p);
    cudaFree(q);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return 2.0 * bytes / (best * 1e-3) / 1e9;
}

} // namespace

int main(int argc, char** argv) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        fprintf(stderr, "qmatvec_dev: no CUDA device\n");
        return 2;
    }
    int only = 0;
    bool timing = true;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--validate") == 0) timing = false;
        else only = atoi(argv[i]);
    }
    cudaDeviceProp p;
    CHECK(cudaGetDeviceProperties(&p, 0));
    int mem_khz = 0, bus_bits = 0;
    CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, 0));
    CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
    g_lim.sms = p.multiProcessorCount;
    g_lim.smem_per_sm = (int)p.sharedMemPerMultiprocessor;
    g_lim.smem_optin = (int)p.sharedMemPerBlockOptin;
    g_lim.smem_reserved = (int)p.reservedSharedMemPerBlock;
    const double nominal = 2.0 * mem_khz * 1e3 * (bus_bits / 8) / 1e9;
    const double d2d = copy_gbps();
    printf("qmatvec_dev: %s, %d SMs, L2 %d MiB, HBM nominal %.0f GB/s, d2d copy %.0f GB/s (read + write)\n", p.name,
           p.multiProcessorCount, p.l2CacheSize >> 20, nominal, d2d);

    /* Edge shapes: padded columns, slices (more columns than one block's shared memory), rows
     * not a multiple of the tile, every width, groups of 32 to 256 columns. */
    static const Shape edges[] = {{1000, 1000, 4, 64}, {37, 40000, 4, 128}, {5, 96, 2, 32},   {300, 4104, 3, 256},
                                  {129, 4096, 2, 64},  {77, 14336, 3, 64},  {33, 22528, 2, 256}, {4096, 64, 4, 64}};
    /* Mixtral-8x7B's expert matrices: w1/w3 [14336, 4096] and w2 [4096, 14336]. */
    static const Shape timed[] = {{4096, 14336, 4, 64}, {14336, 4096, 4, 64}, {4096, 14336, 3, 64},
                                  {4096, 14336, 2, 64}, {14336, 4096, 2, 64}};
    int failures = 0;
    for (const Variant& v : kVariants) {
        if (only && v.id != only) continue;
        printf("variant %d: %d rows per warp, >= %d blocks per SM (registers), %d warps per row, %d chunks per step\n",
               v.id, v.rows, v.min_blocks, v.split, v.chunks);
        for (const Shape& sh : edges) failures += !validate(v.id, sh);
        for (const Shape& sh : timed) {
            failures += !validate(v.id, sh);
            if (!timing) continue;
            const HostMatrix m = make_matrix(sh);
            /* enough copies that the timed loop's working set is 4x the L2 */
            int copies = (int)((4.0 * p.l2CacheSize) / (double)m.codes.size()) + 1;
            DeviceMatrix d(m, copies);
            const double ms = time_ms(v.id, m, d);
            const double gbps = d.bytes_per_launch(m) / (ms * 1e-3) / 1e9;
            printf("  bench    v%d q%d g%-3d %6lldx%-6lld %8.4f ms %7.0f GB/s = %3.0f %% of d2d, %3.0f %% of nominal\n",
                   v.id, sh.bits, sh.gs, (long long)sh.rows, (long long)sh.cols, ms, gbps, 100 * gbps / d2d,
                   100 * gbps / nominal);
        }
    }
    printf("qmatvec_dev: %d validation failures\n", failures);
    return failures ? 1 : 0;
}
