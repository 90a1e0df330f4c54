package dev.lookahead.expert;

import dev.lookahead.bindings.BackendName;
import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceOptions;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.QMatrix;
import dev.lookahead.bindings.Stream;
import dev.lookahead.engine.Linear;
import dev.lookahead.engine.WeightTensor;
import dev.lookahead.quant.GroupQuantizer;
import dev.lookahead.quant.Nmse;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.quant.QuantizedMatrix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Expert#forward} on the CPU backend. A decode row of a quantized expert runs as one
 * expertSwiglu, every other case (several rows, a dense matrix, gate and up of two formats) as
 * gate, up, SwiGLU and down; all must give down(silu(gate x) * up x) of the dequantized weights,
 * computed here in double (fp32 accumulation error only: NMSE &lt; 1e-10).
 */
class ExpertTest {
    static final double TOL = 1e-10;
    static final int ROWS = 3;

    Device device;
    Stream stream;

    @BeforeEach
    void open() {
        device = Device.open(BackendName.CPU, DeviceOptions.DEFAULTS.withThreads(1));
        stream = device.createStream();
    }

    @AfterEach
    void close() {
        device.close();
    }

    /** A min-max quantized random matrix on the device, as codes and as its dequantized f32 values. */
    record Matrix(Linear quantized, Linear dense, float[] w) {}

    Matrix matrix(QuantSpec spec, int rows, int cols, Random rnd) {
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.1);
        QuantizedMatrix q = GroupQuantizer.minMax(spec).quantize(w, rows, cols);
        float[] dq = q.dequantize();
        QMatrix qm = new QMatrix(spec.format(), rows, cols, upload(MemorySegment.ofArray(q.codes())),
                upload(MemorySegment.ofArray(q.scaleBytes())), upload(MemorySegment.ofArray(q.zeroBytes())));
        WeightTensor dense = new WeightTensor("w", upload(MemorySegment.ofArray(dq)), DType.F32, rows, cols);
        return new Matrix(new Linear.Quantized(qm), new Linear.Dense(dense), dq);
    }

    DeviceSlice upload(MemorySegment heap) {
        DeviceBuffer b = device.allocate(heap.byteSize());
        try (Arena arena = Arena.ofConfined()) {
            stream.copyToDevice(arena.allocate(heap.byteSize(), 8).copyFrom(heap), b.all());
            stream.synchronize();
        }
        return b.all();
    }

    /** Runs {@code e} on m rows of {@code x} [m, hidden] and returns out [m, hidden]. */
    float[] forward(Expert e, float[] x, int m) {
        long hidden = e.down().rows();
        long inter = e.gate().rows();
        DeviceSlice h1 = device.allocate(m * inter * 4).all();
        DeviceSlice h3 = device.allocate(m * inter * 4).all();
        DeviceSlice out = device.allocate(m * hidden * 4).all();
        e.forward(stream, upload(MemorySegment.ofArray(x)), m, h1, h3, out);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(out.bytes(), 4);
            stream.copyToHost(out, host);
            stream.synchronize();
            return host.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** down (silu(gate x) * (up x)) in double, row by row; x [m, hidden]. */
    static double[] reference(Matrix gate, Matrix up, Matrix down, float[] x, int hidden, int inter) {
        int m = x.length / hidden;
        double[] y = new double[m * hidden];
        for (int i = 0; i < m; i++) {
            double[] h = new double[inter];
            for (int r = 0; r < inter; r++) {
                double g = 0;
                double u = 0;
                for (int c = 0; c < hidden; c++) {
                    g += (double) gate.w()[r * hidden + c] * x[i * hidden + c];
                    u += (double) up.w()[r * hidden + c] * x[i * hidden + c];
                }
                h[r] = g / (1 + Math.exp(-g)) * u;
            }
            for (int r = 0; r < hidden; r++) {
                for (int c = 0; c < inter; c++) y[i * hidden + r] += down.w()[r * inter + c] * h[c];
            }
        }
        return y;
    }

    static void assertNmse(double[] expected, float[] got, String what) {
        double nmse = Nmse.of(expected, got);
        assertTrue(nmse < TOL, what + ": NMSE " + nmse);
    }

    static float[] row(float[] x, int i, int hidden) {
        return Arrays.copyOfRange(x, i * hidden, (i + 1) * hidden);
    }

    @ParameterizedTest(name = "{0}-bit g{1} hidden={2} inter={3}")
    @CsvSource({"4, 32, 72, 100", "3, 64, 100, 130", "2, 128, 130, 200"})
    void decodeRowsBatchedRowsAndDenseWeightsAgree(int bits, int group, int hidden, int inter) {
        QuantSpec spec = new QuantSpec(bits, group);
        Random rnd = new Random(bits * 101L + hidden);
        Matrix gate = matrix(spec, inter, hidden, rnd);
        Matrix up = matrix(spec, inter, hidden, rnd);
        Matrix down = matrix(spec, hidden, inter, rnd);
        float[] x = new float[ROWS * hidden];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        double[] expected = reference(gate, up, down, x, hidden, inter);

        Expert quantized = new Expert(gate.quantized(), up.quantized(), down.quantized());
        Expert dense = new Expert(gate.dense(), up.dense(), down.dense());
        Expert mixed = new Expert(gate.dense(), up.quantized(), down.quantized());
        assertNmse(expected, forward(quantized, x, ROWS), "quantized, " + ROWS + " rows");
        for (int i = 0; i < ROWS; i++) {
            double[] want = Arrays.copyOfRange(expected, i * hidden, (i + 1) * hidden);
            assertNmse(want, forward(quantized, row(x, i, hidden), 1), "quantized decode row " + i);
            assertNmse(want, forward(dense, row(x, i, hidden), 1), "dense decode row " + i);
            assertNmse(want, forward(mixed, row(x, i, hidden), 1), "dense gate decode row " + i);
        }
    }

    @Test
    void gateAndUpOfTwoFormatsRunAsFourOps() {
        int hidden = 64;
        int inter = 96;
        Random rnd = new Random(7);
        Matrix gate = matrix(new QuantSpec(4, 32), inter, hidden, rnd);
        Matrix up = matrix(new QuantSpec(3, 64), inter, hidden, rnd);
        Matrix down = matrix(new QuantSpec(2, 32), hidden, inter, rnd);
        float[] x = new float[hidden];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        Expert e = new Expert(gate.quantized(), up.quantized(), down.quantized());
        assertNmse(reference(gate, up, down, x, hidden, inter), forward(e, x, 1), "4-bit gate, 3-bit up");
    }
}
