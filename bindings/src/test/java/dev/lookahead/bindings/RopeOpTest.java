package dev.lookahead.bindings;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * lk_rope against the HF rotate_half formula evaluated in double. The angle pos * theta^(-2j/d)
 * may be computed in fp32 natively: its absolute error is about pos * 2^-24, which bounds the
 * NMSE by roughly (pos * 2^-23)^2 on top of the fp32 rounding of the products (~1e-13).
 */
class RopeOpTest extends CpuDeviceTest {

    static double[] reference(float[] x, int n, int nHeads, int headDim, long pos0, float theta) {
        double[] out = Numerics.toDouble(x);
        int half = headDim / 2;
        for (int i = 0; i < n; i++) {
            long pos = pos0 + i;
            for (int h = 0; h < nHeads; h++) {
                int base = (i * nHeads + h) * headDim;
                for (int j = 0; j < half; j++) {
                    double f = pos * Math.pow(theta, -2.0 * j / headDim);
                    double a = x[base + j];
                    double b = x[base + j + half];
                    out[base + j] = a * Math.cos(f) - b * Math.sin(f);
                    out[base + j + half] = b * Math.cos(f) + a * Math.sin(f);
                }
            }
        }
        return out;
    }

    static double tolerance(long maxPos) {
        double angleErr = maxPos * Math.pow(2, -23);
        return 1e-10 + angleErr * angleErr;
    }

    @Test
    void prefillRowsAtConsecutivePositions() {
        check(6, 3, 10, 7, 10000f); // head_dim/2 = 5: odd half
    }

    @Test
    void decodeSingleRowSmallestHead() {
        check(1, 1, 2, 0, 10000f);
        check(1, 8, 128, 3, 1_000_000f); // Mixtral's theta
    }

    @Test
    void largePositions() {
        check(3, 2, 64, 4093, 10000f);
    }

    private void check(int n, int nHeads, int headDim, long pos0, float theta) {
        float[] x = Numerics.gaussian(new Random(n + 7L * headDim + pos0), n * nHeads * headDim, 1.0);
        DeviceSlice xs = run.upload(x);
        run.stream.rope(xs, n, nHeads, headDim, pos0, theta);
        Numerics.assertNmse(reference(x, n, nHeads, headDim, pos0, theta), run.download(xs, x.length),
                tolerance(pos0 + n - 1), "rope n=" + n + " heads=" + nHeads + " hd=" + headDim + " pos0=" + pos0);
    }
}
