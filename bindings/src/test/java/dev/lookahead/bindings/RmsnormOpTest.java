package dev.lookahead.bindings;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * lk_rmsnorm against a double-precision loop over the same (dtype-rounded) weights. fp32
 * accumulation over dim values keeps the relative error near 1e-7, so NMSE stays below 1e-10.
 */
class RmsnormOpTest extends CpuDeviceTest {
    static final double TOL = 1e-10;

    static double[] reference(float[] x, float[] w, int n, int dim, float eps) {
        double[] out = new double[n * dim];
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int c = 0; c < dim; c++) {
                ss += (double) x[i * dim + c] * x[i * dim + c];
            }
            double inv = 1.0 / Math.sqrt(ss / dim + eps);
            for (int c = 0; c < dim; c++) {
                out[i * dim + c] = x[i * dim + c] * inv * w[c];
            }
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F16", "BF16"})
    void everyWeightDtype(DType dtype) {
        check(dtype, 5, 67, 1e-5f, false);
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F16", "BF16"})
    void inPlace(DType dtype) {
        check(dtype, 3, 130, 1e-6f, true);
    }

    @Test
    void edgeShapes() {
        check(DType.F32, 1, 1, 1e-5f, false);
        check(DType.F16, 1, 4096, 1e-5f, false);
        check(DType.BF16, 9, 3, 0f, false);
    }

    private void check(DType dtype, int n, int dim, float eps, boolean inPlace) {
        Random rnd = new Random(n * 31L + dim);
        float[] x = Numerics.gaussian(rnd, n * dim, 2.0);
        float[] w = Numerics.round(dtype, Numerics.uniform(rnd, dim, 0.5, 1.5));
        DeviceSlice xs = run.upload(x);
        DeviceSlice out = inPlace ? xs : run.output((long) n * dim * 4);
        run.stream.rmsnorm(xs, dtype, run.upload(dtype, w), n, dim, eps, out);
        Numerics.assertNmse(reference(x, w, n, dim, eps), run.download(out, n * dim), TOL,
                "rmsnorm " + dtype + " [" + n + ", " + dim + "]" + (inPlace ? " in place" : ""));
    }
}
