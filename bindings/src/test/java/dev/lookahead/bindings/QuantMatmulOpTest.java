package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * lk_qmatvec / lk_qmatmul. Exactness: the reference dequantizes the same codes, fp16 scales and
 * zeros in double (w = scale * (q - zero)), so only fp32 accumulation error remains (NMSE
 * &lt; 1e-10). Accuracy of the format: a min-max quantizer written here quantizes Gaussian weights,
 * and the device result is compared with the unquantized product; uniform rounding error
 * (step^2 / 12 with step = range / (2^bits - 1), range of 64 Gaussians about 4.8 sigma) predicts
 * NMSE ~0.009 / 0.04 / 0.2 at 4 / 3 / 2 bits with groups of 64.
 */
class QuantMatmulOpTest extends CpuDeviceTest {
    static final double TOL = 1e-10;

    /** A quantized matrix on the host: unpacked codes, fp16 scales/zeros, and its dequantized values. */
    record HostQMatrix(QuantFormat format, int rows, int cols, byte[] codes, short[] scales, short[] zeros) {
        int groups() {
            return (int) format.groups(cols);
        }

        /** w[r][c] = scale[r][g] * (q[r][c] - zero[r][g]) in double. */
        double[] dequantize() {
            double[] w = new double[rows * cols];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    int g = c / format.groupSize();
                    double scale = Numerics.fromF16(scales[r * groups() + g]);
                    double zero = Numerics.fromF16(zeros[r * groups() + g]);
                    w[r * cols + c] = scale * ((codes[r * cols + c] & 0xFF) - zero);
                }
            }
            return w;
        }

        QMatrix upload(OpRunner run) {
            return new QMatrix(format, rows, cols, run.uploadBytes(format.pack(codes, rows, cols)),
                    run.uploadShorts(scales), run.uploadShorts(zeros));
        }
    }

    /** Random codes, scales in [0.01, 0.1] and fractional zeros in [0, 2^bits - 1]. */
    static HostQMatrix randomQMatrix(QuantFormat f, int rows, int cols, Random rnd) {
        int groups = (int) f.groups(cols);
        byte[] codes = new byte[rows * cols];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = (byte) rnd.nextInt(f.maxCode() + 1);
        }
        short[] scales = new short[rows * groups];
        short[] zeros = new short[rows * groups];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = Numerics.toF16((float) (0.01 + 0.09 * rnd.nextDouble()));
            zeros[i] = Numerics.toF16((float) (f.maxCode() * rnd.nextDouble()));
        }
        return new HostQMatrix(f, rows, cols, codes, scales, zeros);
    }

    /** Group-wise min-max quantization (fp16 scale and zero rounded before the codes are chosen). */
    static HostQMatrix quantize(QuantFormat f, float[] w, int rows, int cols) {
        int groups = (int) f.groups(cols);
        byte[] codes = new byte[rows * cols];
        short[] scales = new short[rows * groups];
        short[] zeros = new short[rows * groups];
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < groups; g++) {
                int c0 = g * f.groupSize();
                int c1 = Math.min(cols, c0 + f.groupSize());
                float lo = Float.POSITIVE_INFINITY;
                float hi = Float.NEGATIVE_INFINITY;
                for (int c = c0; c < c1; c++) {
                    lo = Math.min(lo, w[r * cols + c]);
                    hi = Math.max(hi, w[r * cols + c]);
                }
                float scale = Numerics.round(DType.F16, hi > lo ? (hi - lo) / f.maxCode() : 1f);
                float zero = Numerics.round(DType.F16, -lo / scale);
                scales[r * groups + g] = Numerics.toF16(scale);
                zeros[r * groups + g] = Numerics.toF16(zero);
                for (int c = c0; c < c1; c++) {
                    long q = Math.round(w[r * cols + c] / scale + zero);
                    codes[r * cols + c] = (byte) Math.max(0, Math.min(f.maxCode(), q));
                }
            }
        }
        return new HostQMatrix(f, rows, cols, codes, scales, zeros);
    }

    static double[] matmul(double[] w, float[] x, int n, int rows, int cols) {
        double[] y = new double[n * rows];
        for (int i = 0; i < n; i++) {
            for (int r = 0; r < rows; r++) {
                double acc = 0;
                for (int c = 0; c < cols; c++) {
                    acc += w[r * cols + c] * x[i * cols + c];
                }
                y[i * rows + r] = acc;
            }
        }
        return y;
    }

    @ParameterizedTest(name = "{0}-bit g{1} [{2}, {3}]")
    @CsvSource({
        "4, 64, 13, 100", "4, 32, 7, 64", "4, 8, 1, 1", "4, 128, 5, 130",
        "3, 8, 5, 24", "3, 64, 1, 3", "3, 128, 9, 200", "3, 32, 6, 33",
        "2, 16, 11, 50", "2, 64, 4, 64", "2, 1024, 3, 1030", "2, 8, 2, 9"
    })
    void qmatvecDequantizesExactly(int bits, int group, int rows, int cols) {
        HostQMatrix q = randomQMatrix(new QuantFormat(bits, group), rows, cols, new Random(bits * 7919L + rows));
        float[] x = Numerics.gaussian(new Random(cols), cols, 1.0);
        DeviceSlice y = run.output(rows * 4L);
        run.stream.qmatvec(q.upload(run), run.upload(x), y);
        Numerics.assertNmse(matmul(q.dequantize(), x, 1, rows, cols), run.download(y, rows), TOL,
                "qmatvec " + q.format() + " [" + rows + ", " + cols + "]");
    }

    @ParameterizedTest(name = "{0}-bit g{1} [{2}, {3}] n={4}")
    @CsvSource({
        "4, 64, 13, 100, 4", "4, 32, 16, 96, 1", "3, 64, 9, 131, 9",
        "3, 8, 3, 16, 2", "2, 128, 8, 257, 5", "2, 32, 1, 31, 3"
    })
    void qmatmulDequantizesExactly(int bits, int group, int rows, int cols, int n) {
        HostQMatrix q = randomQMatrix(new QuantFormat(bits, group), rows, cols, new Random(bits * 31L + cols));
        float[] x = Numerics.gaussian(new Random(n * 17L + rows), n * cols, 1.0);
        DeviceSlice y = run.output((long) n * rows * 4);
        run.stream.qmatmul(q.upload(run), run.upload(x), n, y);
        Numerics.assertNmse(matmul(q.dequantize(), x, n, rows, cols), run.download(y, n * rows), TOL,
                "qmatmul " + q.format() + " [" + rows + ", " + cols + "] n=" + n);
    }

    /** NMSE of the device's W_q x against the exact W x, for min-max quantized Gaussian W. */
    private double quantizationNmse(int bits, int group) {
        int rows = 512; // enough outputs for a stable estimate (chi-square, 512 dof)
        int cols = 512;
        Random rnd = new Random(42);
        float[] w = Numerics.gaussian(rnd, rows * cols, 1.0);
        float[] x = Numerics.gaussian(rnd, cols, 1.0);
        HostQMatrix q = quantize(new QuantFormat(bits, group), w, rows, cols);
        DeviceSlice y = run.output(rows * 4L);
        run.stream.qmatvec(q.upload(run), run.upload(x), y);
        return Numerics.nmse(matmul(Numerics.toDouble(w), x, 1, rows, cols), run.download(y, rows));
    }

    @Test
    void quantizationErrorOfRandomWeightsWithinFormatBounds() {
        double e4 = quantizationNmse(4, 64);
        double e3 = quantizationNmse(3, 64);
        double e2 = quantizationNmse(2, 64);
        assertTrue(e4 < 0.02, "4-bit g64 NMSE " + e4);
        assertTrue(e3 < 0.08, "3-bit g64 NMSE " + e3);
        assertTrue(e2 < 0.35, "2-bit g64 NMSE " + e2);
        // Each bit less roughly quadruples the error (step doubles).
        assertTrue(e3 > 2 * e4 && e2 > 2 * e3, "NMSE must grow as bits shrink: " + e4 + ", " + e3 + ", " + e2);
        double e4small = quantizationNmse(4, 32);
        double e4large = quantizationNmse(4, 128);
        assertTrue(e4small < e4 && e4 < e4large,
                "smaller groups must quantize better: g32 " + e4small + ", g64 " + e4 + ", g128 " + e4large);
    }
}
