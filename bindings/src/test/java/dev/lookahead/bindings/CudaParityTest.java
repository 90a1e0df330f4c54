package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.bindings.ffi.LkStatus;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every op on the "cuda" backend against the "cpu" backend, same inputs, compared by NMSE. Run
 * with {@code -Dgroups=gpu}; without a GPU, opening the device fails and so does every test.
 *
 * <p>Tolerances: fp32 paths differ only in summation order (NMSE ~1e-13, bound 1e-9). The CUDA
 * backend may run F16/BF16 matmuls on tensor cores, rounding the fp32 activations to the weight
 * dtype: unit roundoff u = 2^-11 (fp16) or 2^-8 (bf16) gives NMSE about u^2 / 3, bounded by 4u^2
 * (1e-6 fp16, 6e-5 bf16); quantized matmuls and half-precision attention likewise. Pure copies
 * and conversions must match bit for bit.
 */
@Tag("gpu")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CudaParityTest {
    static final double F32_TOL = 1e-9;
    static final double F16_TOL = 1e-6;
    static final double BF16_TOL = 6e-5;

    Backend backend;
    OpRunner onCpu;
    OpRunner onCuda;

    @BeforeAll
    void open() {
        backend = Backend.load();
        onCpu = new OpRunner(backend.open(BackendName.CPU, DeviceOptions.DEFAULTS.withMemoryLimit(2L << 30)));
        onCuda = new OpRunner(backend.open(BackendName.CUDA, DeviceOptions.DEFAULTS));
    }

    @AfterEach
    void free() {
        onCpu.freeAll();
        onCuda.freeAll();
    }

    @AfterAll
    void close() {
        if (backend != null) {
            backend.close();
        }
    }

    static double tolerance(DType dtype) {
        return switch (dtype) {
            case F16 -> F16_TOL;
            case BF16 -> BF16_TOL;
            default -> F32_TOL;
        };
    }

    /** Runs {@code op} on both devices and compares the cuda result to the cpu one. */
    void compare(String what, double tol, Function<OpRunner, float[]> op) {
        float[] cpu = op.apply(onCpu);
        float[] cuda = op.apply(onCuda);
        Numerics.assertNmse(Numerics.toDouble(cpu), cuda, tol, what + ": cuda vs cpu");
    }

    @Test
    void deviceInfoAndMemory() {
        DeviceInfo info = onCuda.device.info();
        assertEquals("cuda", info.backend());
        assertTrue(info.ccMajor() >= 8, "compute capability " + info.ccMajor());
        assertTrue(info.totalMemory() > 0 && info.freeMemory() <= info.totalMemory());
        LookaheadNativeException e = assertThrows(LookaheadNativeException.class,
                () -> onCuda.device.allocate(info.totalMemory() + (1L << 30)));
        assertEquals(LkStatus.LK_ERR_OUT_OF_MEMORY, e.status());
        Device d = onCuda.device;
        try (Stream s = d.createStream(); Stream t = d.createStream(); Event a = d.createEvent();
             Event b = d.createEvent(); Arena arena = Arena.ofConfined()) {
            int bytes = 64 << 20;
            PinnedBuffer pinned = d.allocatePinned(bytes);
            byte[] data = new byte[bytes];
            new Random(1).nextBytes(data);
            MemorySegment.copy(data, 0, pinned.segment(), ValueLayout.JAVA_BYTE, 0, bytes);
            DeviceBuffer x = d.allocate(bytes);
            DeviceBuffer y = d.allocate(bytes);
            a.record(s);
            s.copyToDevice(pinned.segment(), x.all());
            b.record(s);
            t.waitEvent(b);
            t.copy(x.all(), y.all());
            MemorySegment back = arena.allocate(bytes);
            t.copyToHost(y.all(), back);
            t.synchronize();
            assertArrayEquals(data, back.toArray(ValueLayout.JAVA_BYTE));
            float ms = a.elapsedMillis(b);
            assertTrue(ms > 0, "h2d of 64 MiB takes measurable time: " + ms);
            pinned.close();
            x.close();
            y.close();
        }
    }

    @ParameterizedTest
    @CsvSource({"F32", "F16", "BF16"})
    void embedding(DType dtype) {
        int vocab = 1000;
        int dim = 333;
        float[] table = Numerics.gaussian(new Random(1), vocab * dim, 1.0);
        int[] ids = {0, 999, 5, 5, 17, 512, 998, 1};
        compare("embedding " + dtype, 0.0, r -> {
            DeviceSlice out = r.output((long) ids.length * dim * 4);
            r.stream.embedding(dtype, r.upload(dtype, table), vocab, dim, r.uploadInts(ids), ids.length, out);
            return r.download(out, ids.length * dim);
        });
    }

    @ParameterizedTest
    @CsvSource({"F32", "F16", "BF16"})
    void rmsnorm(DType dtype) {
        int n = 7;
        int dim = 4096;
        Random rnd = new Random(2);
        float[] x = Numerics.gaussian(rnd, n * dim, 2.0);
        float[] w = Numerics.uniform(rnd, dim, 0.5, 1.5);
        compare("rmsnorm " + dtype, 1e-10, r -> {
            DeviceSlice out = r.output((long) n * dim * 4);
            r.stream.rmsnorm(r.upload(x), dtype, r.upload(dtype, w), n, dim, 1e-5f, out);
            return r.download(out, n * dim);
        });
    }

    @Test
    void rope() {
        int n = 5;
        int heads = 32;
        int hd = 128;
        long pos0 = 100;
        float[] x = Numerics.gaussian(new Random(3), n * heads * hd, 1.0);
        compare("rope", 2 * RopeOpTest.tolerance(pos0 + n), r -> {
            DeviceSlice xs = r.upload(x);
            r.stream.rope(xs, n, heads, hd, pos0, 1e6f);
            return r.download(xs, x.length);
        });
    }

    @ParameterizedTest(name = "{0} n={1} rows={2} cols={3}")
    @CsvSource({
        "F32, 1, 256, 512", "F16, 1, 256, 512", "BF16, 1, 256, 512",
        "F32, 33, 130, 300", "F16, 33, 130, 300", "BF16, 33, 130, 300",
        "F16, 128, 512, 1024", "BF16, 7, 1, 4095"
    })
    void matmul(DType dtype, int n, int rows, int cols) {
        Random rnd = new Random(4);
        float[] w = Numerics.gaussian(rnd, rows * cols, 0.05);
        float[] x = Numerics.gaussian(rnd, n * cols, 1.0);
        compare("matmul " + dtype + " " + n + "x" + rows + "x" + cols, tolerance(dtype), r -> {
            DeviceSlice y = r.output((long) n * rows * 4);
            r.stream.matmul(dtype, r.upload(dtype, w), r.upload(x), n, rows, cols, y);
            return r.download(y, n * rows);
        });
    }

    @ParameterizedTest(name = "{0}-bit g{1} n={2}")
    @CsvSource({
        "4, 64, 1", "4, 128, 1", "3, 64, 1", "3, 128, 1", "2, 64, 1", "2, 16, 1",
        "4, 64, 7", "3, 128, 33", "2, 64, 64"
    })
    void quantizedMatmul(int bits, int group, int n) {
        int rows = 256;
        int cols = 1000; // partial last group for every group size here
        QuantMatmulOpTest.HostQMatrix q = QuantMatmulOpTest.randomQMatrix(new QuantFormat(bits, group), rows, cols,
                new Random(5));
        float[] x = Numerics.gaussian(new Random(6), n * cols, 1.0);
        compare((n == 1 ? "qmatvec " : "qmatmul ") + q.format(), F16_TOL, r -> {
            DeviceSlice y = r.output((long) n * rows * 4);
            if (n == 1) {
                r.stream.qmatvec(q.upload(r), r.upload(x), y);
            } else {
                r.stream.qmatmul(q.upload(r), r.upload(x), n, y);
            }
            return r.download(y, n * rows);
        });
    }

    /**
     * The CUDA expert fuses gate with up and the SwiGLU with down; each of its three quantized products
     * may round like qmatvec's, hence three times qmatvec's bound.
     */
    @ParameterizedTest(name = "{0}-bit g{1}")
    @CsvSource({"4, 64", "3, 128", "2, 32"})
    void expertSwiglu(int bits, int group) {
        int hidden = 1000; // not multiples of the group sizes: partial last groups in gate/up and in down
        int inter = 2900;
        QuantFormat f = new QuantFormat(bits, group);
        ExpertSwigluOpTest.HostExpert e = ExpertSwigluOpTest.HostExpert.random(f, f, hidden, inter, 11);
        float[] x = Numerics.gaussian(new Random(12), hidden, 1.0);
        compare("expertSwiglu " + f, 3 * F16_TOL, r -> {
            DeviceSlice y = r.output(hidden * 4L);
            r.stream.expertSwiglu(e.gate().upload(r), e.up().upload(r), e.down().upload(r), r.upload(x),
                    r.output(inter * 4L), r.output(inter * 4L), y);
            return r.download(y, hidden);
        });
    }

    @Test
    void swigluAddAndFill() {
        int n = 14336 + 3;
        Random rnd = new Random(7);
        float[] gate = Numerics.gaussian(rnd, n, 3.0);
        float[] up = Numerics.gaussian(rnd, n, 1.0);
        compare("swiglu", 1e-10, r -> {
            DeviceSlice out = r.output(n * 4L);
            r.stream.swiglu(r.upload(gate), r.upload(up), n, out);
            return r.download(out, n);
        });
        compare("add", 1e-12, r -> {
            DeviceSlice y = r.upload(gate);
            r.stream.add(y, r.upload(up), n);
            return r.download(y, n);
        });
        compare("fill32", 0, r -> { // words 1 .. n - 2 set, the first and last kept
            DeviceSlice y = r.upload(gate);
            r.stream.fill32(y.slice(4, (n - 2) * 4L), Float.floatToRawIntBits(-0.375f));
            return r.download(y, n);
        });
    }

    @Test
    void gatherAndScatter() {
        int rows = 64;
        int dim = 4096;
        Random rnd = new Random(8);
        float[] src = Numerics.gaussian(rnd, rows * dim, 1.0);
        int[] idx = {63, 0, 5, 5, 17, 32};
        compare("gather_rows", 0.0, r -> {
            DeviceSlice dst = r.output((long) idx.length * dim * 4);
            r.stream.gatherRows(r.upload(src), r.uploadInts(idx), idx.length, dim, dst);
            return r.download(dst, idx.length * dim);
        });
        int[] distinct = {7, 3, 60, 0};
        float[] part = Numerics.gaussian(rnd, distinct.length * dim, 1.0);
        float[] weight = Numerics.uniform(rnd, distinct.length, 0.1, 1.0);
        for (boolean withIdx : new boolean[] {true, false}) {
            for (boolean withWeight : new boolean[] {true, false}) {
                compare("scatter_add_rows idx=" + withIdx + " weight=" + withWeight, 1e-12, r -> {
                    DeviceSlice dst = r.upload(src);
                    r.stream.scatterAddRows(dst, r.upload(part), withIdx ? r.uploadInts(distinct) : null,
                            withWeight ? r.upload(weight) : null, distinct.length, dim);
                    return r.download(dst, src.length);
                });
            }
        }
    }

    @Test
    void convertEveryPair() {
        int n = 100_003;
        for (DType s : ConvertOpTest.FLOATS) {
            for (DType d : ConvertOpTest.FLOATS) {
                float[] v = Numerics.round(s, ConvertOpTest.values(n));
                compare("convert " + s + " -> " + d, 0.0, r -> {
                    DeviceSlice out = r.output((long) n * d.byteSize());
                    r.stream.convert(s, r.upload(s, v), d, out, n);
                    return r.downloadFloats(d, out, n);
                });
            }
        }
    }

    @ParameterizedTest(name = "n={0} experts={1} k={2}")
    @CsvSource({"33, 8, 2", "1, 8, 8", "17, 256, 8", "5, 60, 6"})
    void router(int n, int e, int k) {
        float[] logits = RouterOpTest.gridLogits(n, e, 9);
        int[][] idx = new int[2][];
        int[] which = {0};
        compare("router weights", 1e-10, r -> {
            DeviceSlice probs = r.output((long) n * e * 4);
            DeviceSlice ti = r.output((long) n * k * 4);
            DeviceSlice tw = r.output((long) n * k * 4);
            r.stream.routerTopk(r.upload(logits), n, e, k, true, probs, ti, tw);
            idx[which[0]++] = r.downloadInts(ti, n * k);
            float[] out = new float[n * k + n * e];
            System.arraycopy(r.download(tw, n * k), 0, out, 0, n * k);
            System.arraycopy(r.download(probs, n * e), 0, out, n * k, n * e);
            return out;
        });
        assertArrayEquals(idx[0], idx[1], "router indices: cuda vs cpu");
    }

    @ParameterizedTest(name = "nTokens={0} pos={1} heads={2}/{3} hd={4} ctx={5} window={6} {7}")
    @CsvSource({
        "64, 0, 32, 8, 128, 128, 0, F32", "1, 200, 32, 8, 128, 256, 0, F32",
        "37, 11, 32, 8, 128, 64, 16, F16", "1, 300, 32, 8, 128, 512, 128, F16",
        "9, 0, 8, 2, 64, 16, 0, BF16", "1, 40, 8, 8, 5, 48, 0, F32"
    })
    void attention(int nTokens, long pos, int nHeads, int nKv, int hd, int ctx, int window, DType kv) {
        AttentionShape s = AttentionShape.of(nHeads, nKv, hd, ctx, kv, window);
        Random rnd = new Random(10);
        float[] q = Numerics.gaussian(rnd, nTokens * nHeads * hd, 1.0);
        float[] k = AttentionOpTest.cache(s, pos + nTokens, rnd);
        float[] v = AttentionOpTest.cache(s, pos + nTokens, rnd);
        compare("attention " + s, tolerance(kv), r -> {
            DeviceSlice out = r.output((long) q.length * 4);
            r.stream.attention(s, r.upload(q), r.upload(kv, k), r.upload(kv, v), out, nTokens, pos);
            return r.download(out, q.length);
        });
    }
}
