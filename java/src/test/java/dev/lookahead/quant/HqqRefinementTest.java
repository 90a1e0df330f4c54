package dev.lookahead.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The HQQ-style refinement: never worse than min/max, and how much better (measured). */
class HqqRefinementTest {

    /** Weights of one of four shapes: Gaussian, Laplace, Gaussian with 1 % outliers (x8), uniform. */
    static float[] weights(Random r, int kind, int n, double scale) {
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            double v = switch (kind) {
                case 0 -> r.nextGaussian();
                case 1 -> -Math.log(1 - r.nextDouble()) * (r.nextBoolean() ? 1 : -1);
                case 2 -> r.nextGaussian() * (r.nextDouble() < 0.01 ? 8 : 1);
                default -> r.nextDouble() * 2 - 1;
            };
            w[i] = (float) (v * scale);
        }
        return w;
    }

    /**
     * Property: on random matrices (4 distributions, 2-4 bits, groups 8-128, partial last
     * groups, magnitudes 1e-3..10) the refined squared error never exceeds min/max's, group by
     * group, with and without the scale refit: each group keeps the best of its candidates,
     * min/max included. (The per-group check matters: an update that keeps its last iterate
     * instead of its best still wins on whole matrices.) And it must actually help on average.
     */
    @Test
    void neverWorseThanMinMaxInAnyGroupAndBetterOnAverage() {
        Random r = new Random(2024);
        int[] groups = {8, 16, 32, 64, 128};
        double sumRatio = 0;
        int cases = 40;
        HqqOptions zeroOnly = new HqqOptions(20, 0.7, 10, 1.01, 0);
        for (int k = 0; k < cases; k++) {
            int kind = r.nextInt(4);
            int bits = 2 + r.nextInt(3);
            int group = groups[r.nextInt(groups.length)];
            int rows = 4 + r.nextInt(29);
            int cols = 16 + r.nextInt(600);
            double scale = Math.pow(10, -3 + 4 * r.nextDouble());
            float[] w = weights(r, kind, rows * cols, scale);
            QuantSpec spec = new QuantSpec(bits, group);
            String what = "case " + k + ": kind " + kind + ", " + spec + ", " + rows + "x" + cols + ", scale " + scale;
            float[] minMax = GroupQuantizer.minMax(spec).quantize(w, rows, cols).dequantize();
            for (HqqOptions o : new HqqOptions[] {HqqOptions.DEFAULT, zeroOnly}) {
                float[] refined = GroupQuantizer.hqq(spec, o).quantize(w, rows, cols).dequantize();
                for (int row = 0; row < rows; row++) {
                    for (int c0 = 0; c0 < cols; c0 += group) {
                        double a = 0;
                        double b = 0;
                        for (int c = c0, i = row * cols + c0; c < Math.min(cols, c0 + group); c++, i++) {
                            a += ((double) w[i] - refined[i]) * ((double) w[i] - refined[i]);
                            b += ((double) w[i] - minMax[i]) * ((double) w[i] - minMax[i]);
                        }
                        assertTrue(a <= b, what + ", " + o.describe() + ", row " + row + " group at " + c0
                                + ": " + a + " > min/max " + b);
                    }
                }
            }
            double hqq = Nmse.of(w, GroupQuantizer.hqq(spec, HqqOptions.DEFAULT).quantize(w, rows, cols).dequantize());
            sumRatio += hqq / Nmse.of(w, minMax);
        }
        double mean = sumRatio / cases;
        System.out.printf(Locale.ROOT, "hqq / min/max NMSE over %d random cases: mean %.3f%n", cases, mean);
        assertTrue(mean < 0.9, "mean ratio " + mean);
    }

    /**
     * Measured gain on Gaussian weights (256 x 1024, sigma 0.0156 like a 4096-wide projection).
     * Bounds sit ~5-10 % above the measured ratios (in the comment: zero only / full), so a
     * regression of the update fails; the zero-only update must also beat the plain
     * least-squares zero (what HQQ's update becomes when its shrinkage is off, beta -&gt; 0),
     * showing that the lp shrinkage in code units contributes.
     */
    @ParameterizedTest
    @CsvSource({
            "2, 16, 0.72",  // measured: zero only 0.83, full 0.66
            "2, 64, 0.60",  // 0.91 / 0.53
            "3, 64, 0.84",  // 0.91 / 0.78
            "4, 64, 0.90"}) // 0.91 / 0.86
    void gainOnGaussianWeights(int bits, int group, double bound) {
        int rows = 256;
        int cols = 1024;
        float[] w = weights(new Random(bits * 7 + group), 0, rows * cols, 0.0156);
        QuantSpec spec = new QuantSpec(bits, group);
        double minMax = GroupQuantizer.minMax(spec).quantize(w, rows, cols).nmse();
        double full = GroupQuantizer.hqq(spec, HqqOptions.DEFAULT).quantize(w, rows, cols).nmse();
        double zeroOnly = GroupQuantizer.hqq(spec, new HqqOptions(20, 0.7, 10, 1.01, 0)).quantize(w, rows, cols).nmse();
        double lsZero = GroupQuantizer.hqq(spec, new HqqOptions(20, 0.7, 1e-3, 1.01, 0)).quantize(w, rows, cols).nmse();
        System.out.printf(Locale.ROOT, "%s: min/max NMSE %.4e; hqq zero only %.4e (x%.3f), least-squares zero %.4e "
                        + "(x%.3f), hqq zero + scale %.4e (x%.3f)%n", spec, minMax, zeroOnly, zeroOnly / minMax, lsZero,
                lsZero / minMax, full, full / minMax);
        assertTrue(full / minMax < bound, "full ratio " + full / minMax);
        assertTrue(zeroOnly / minMax < 0.95, "zero-only ratio " + zeroOnly / minMax);
        assertTrue(zeroOnly < lsZero, "lp shrinkage " + zeroOnly + " vs least-squares zero " + lsZero);
    }

    @Test
    void shrinkIsTheLpProximalStep() {
        // |r| - |r|^(p-1) / beta
        assertEquals(0.5 - Math.pow(0.5, -0.3) / 10, GroupQuantizer.shrink(0.5, 10, 0.7), 1e-15);
        assertEquals(-(0.5 - Math.pow(0.5, -0.3) / 10), GroupQuantizer.shrink(-0.5, 10, 0.7), 1e-15);
        assertEquals(0.0, GroupQuantizer.shrink(0.1, 10, 0.7)); // 0.1^-0.3 / 10 = 0.2 > 0.1
        assertEquals(0.0, GroupQuantizer.shrink(0.0, 10, 0.7));
        assertEquals(0.4, GroupQuantizer.shrink(0.5, 10, 1.0), 1e-15); // p = 1: soft threshold 1 / beta
        // The dead zone used to skip pow: |r| <= beta^(-1 / (2 - p)) shrinks to 0, just above it does not.
        double dead = Math.pow(10, -1 / 1.3);
        assertEquals(0.0, GroupQuantizer.shrink(dead * 0.999, 10, 0.7));
        assertTrue(GroupQuantizer.shrink(dead * 1.001, 10, 0.7) > 0);
    }

    @Test
    void optionsAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> new HqqOptions(-1, 0.7, 10, 1.01, 0));
        assertThrows(IllegalArgumentException.class, () -> new HqqOptions(20, 0, 10, 1.01, 0));
        assertThrows(IllegalArgumentException.class, () -> new HqqOptions(20, 1.5, 10, 1.01, 0));
        assertThrows(IllegalArgumentException.class, () -> new HqqOptions(20, 0.7, 0, 1.01, 0));
        assertThrows(IllegalArgumentException.class, () -> new HqqOptions(20, 0.7, 10, 0.5, 0));
        assertThrows(IllegalArgumentException.class, () -> new HqqOptions(20, 0.7, 10, 1.01, -1));
        assertEquals("iters=20,p=0.7,beta=10.0,kappa=1.01,scale_rounds=10", HqqOptions.DEFAULT.describe());
    }
}
