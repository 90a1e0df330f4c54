package dev.lookahead.bindings;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * lk_matmul against a double-precision loop. The reference uses the weights after the same
 * fp16/bf16 rounding the device sees, so only fp32 accumulation error remains: relative error
 * about sqrt(cols) * 2^-24 per output, NMSE far below 1e-10.
 */
class MatmulOpTest extends CpuDeviceTest {
    static final double TOL = 1e-10;

    /** y[n, rows] = x[n, cols] @ W^T. */
    static double[] reference(float[] w, float[] x, int n, int rows, int cols) {
        double[] y = new double[n * rows];
        for (int i = 0; i < n; i++) {
            for (int r = 0; r < rows; r++) {
                double acc = 0;
                for (int c = 0; c < cols; c++) {
                    acc += (double) w[r * cols + c] * x[i * cols + c];
                }
                y[i * rows + r] = acc;
            }
        }
        return y;
    }

    @ParameterizedTest(name = "{0} n={1} rows={2} cols={3}")
    @CsvSource({
        "F32, 1, 33, 70", "F16, 1, 33, 70", "BF16, 1, 33, 70",
        "F32, 3, 17, 5", "F16, 3, 17, 5", "BF16, 3, 17, 5",
        "F32, 7, 64, 300", "F16, 7, 64, 300", "BF16, 7, 64, 300",
        "F16, 1, 1, 1", "F32, 19, 1, 129", "BF16, 2, 129, 1"
    })
    void againstReference(DType dtype, int n, int rows, int cols) {
        Random rnd = new Random(rows * 1000L + cols * 10L + n);
        float[] w = Numerics.round(dtype, Numerics.gaussian(rnd, rows * cols, 0.5));
        float[] x = Numerics.gaussian(rnd, n * cols, 1.0);
        DeviceSlice y = run.output((long) n * rows * 4);
        run.stream.matmul(dtype, run.upload(dtype, w), run.upload(x), n, rows, cols, y);
        Numerics.assertNmse(reference(w, x, n, rows, cols), run.download(y, n * rows), TOL,
                "matmul " + dtype + " n=" + n + " rows=" + rows + " cols=" + cols);
    }
}
