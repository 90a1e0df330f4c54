package dev.lookahead.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.bindings.QuantFormat;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The quantizer against independent references: the uniform-noise model for the error of
 * min/max quantization on Gaussian weights, weights already on the grid, and a direct
 * re-computation of the min/max formula with fp16 rounding.
 */
class GroupQuantizerTest {

    static float[] gaussian(long seed, int n, double sigma) {
        Random r = new Random(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) (r.nextGaussian() * sigma);
        }
        return w;
    }

    /**
     * E[R^2] of the range R = max - min of {@code g} standard normal values, by Monte Carlo over
     * 20,000 groups (its standard error is ~0.5 %, far below the tolerances below).
     */
    static double expectedSquaredRange(int g) {
        Random r = new Random(12345);
        int groups = 20_000;
        double sum = 0;
        for (int k = 0; k < groups; k++) {
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < g; i++) {
                double v = r.nextGaussian();
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            sum += (max - min) * (max - min);
        }
        return sum / groups;
    }

    /**
     * Uniform quantization noise model: with step s = R / (2^b - 1) the rounding error of a
     * weight is ~uniform on [-s/2, s/2], variance s^2 / 12, except for the group's min and max,
     * which min/max puts exactly on the grid (error 0). For N(0, sigma^2) weights in groups of g:
     * <pre>
     *   NMSE = (g - 2) / g * E[R^2] / (12 (2^b - 1)^2)
     * </pre>
     * with R the range of g standard normals. The uniform model is exact when the density is
     * linear across each step; the Gaussian's curvature over a step shifts it by about 1 % even
     * at 2 bits (4 levels) here. Measured / predicted: 0.997-1.01 for every case below; the bound
     * is +-5 % (Monte Carlo error of E[R^2] ~0.5 %, sampling error of the measurement ~1 %).
     * Without the (g - 2) / g term g16 would sit at 0.88: the test tells the two models apart.
     */
    @ParameterizedTest
    @CsvSource({"4, 64", "4, 16", "3, 64", "3, 16", "2, 64", "2, 16"})
    void minMaxNmseFollowsTheUniformNoiseModel(int bits, int group) {
        int rows = 256;
        int cols = 1024;
        float[] w = gaussian(bits * 100 + group, rows * cols, 0.02);
        QuantizedMatrix q = GroupQuantizer.minMax(new QuantSpec(bits, group)).quantize(w, rows, cols);
        double measured = Nmse.of(w, q.dequantize());
        int maxCode = (1 << bits) - 1;
        double predicted = (group - 2.0) / group * expectedSquaredRange(group) / (12.0 * maxCode * maxCode);
        double ratio = measured / predicted;
        System.out.printf(Locale.ROOT, "min/max %d-bit g%d: NMSE %.4e, noise model %.4e, ratio %.3f%n",
                bits, group, measured, predicted, ratio);
        assertEquals(measured, q.nmse(), measured * 1e-9, "the quantizer's own error bookkeeping");
        assertTrue(ratio > 0.95 && ratio < 1.05, "NMSE " + measured + " vs predicted " + predicted);
    }

    /** Weights of the form s * (q - z) with fp16 s, z and each group using codes 0 and max. */
    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void weightsOnTheGridRoundTripExactly(int bits) {
        int group = 32;
        int rows = 16;
        int cols = 96;
        int maxCode = (1 << bits) - 1;
        Random r = new Random(bits);
        byte[] codes = new byte[rows * cols];
        short[] scales = new short[rows * cols / group];
        short[] zeros = new short[scales.length];
        float[] zeroChoices = {0f, 1.5f, 0.75f * maxCode, maxCode, -2f, 7.25f};
        for (int k = 0; k < scales.length; k++) {
            scales[k] = Float.floatToFloat16((float) (0.001 + r.nextDouble() * 0.05));
            zeros[k] = Float.floatToFloat16(zeroChoices[k % zeroChoices.length]);
            int base = k * group;
            for (int i = 0; i < group; i++) {
                codes[base + i] = (byte) r.nextInt(maxCode + 1);
            }
            int lo = r.nextInt(group);
            int hi = (lo + 1 + r.nextInt(group - 1)) % group;
            codes[base + lo] = 0;
            codes[base + hi] = (byte) maxCode;
        }
        QuantFormat f = new QuantFormat(bits, group);
        float[] w = Dequantizer.dequantize(f, rows, cols, f.pack(codes, rows, cols), scales, zeros);
        for (GroupQuantizer quantizer : new GroupQuantizer[] {
                GroupQuantizer.minMax(new QuantSpec(bits, group)),
                GroupQuantizer.hqq(new QuantSpec(bits, group), HqqOptions.DEFAULT)}) {
            QuantizedMatrix q = quantizer.quantize(w, rows, cols);
            assertArrayEquals(scales, q.scales());
            assertArrayEquals(zeros, q.zeros());
            assertArrayEquals(codes, f.unpack(q.codes(), rows, cols));
            assertArrayEquals(w, q.dequantize());
            assertEquals(0.0, q.sse());
        }
    }

    /** The min/max formula re-computed directly, for one group of real columns [c0, c0 + n). */
    static void checkGroupAgainstFormula(float[] w, int c0, int n, int bits, short scale, short zero, byte[] codes) {
        int maxCode = (1 << bits) - 1;
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = c0; i < c0 + n; i++) {
            min = Math.min(min, w[i]);
            max = Math.max(max, w[i]);
        }
        short s16 = Float.floatToFloat16((float) (((double) max - min) / maxCode));
        float s = Float.float16ToFloat(s16);
        short z16 = Float.floatToFloat16((float) (-(double) min / s));
        assertEquals(s16, scale, "scale = fp16((max - min) / maxCode)");
        assertEquals(z16, zero, "zero = fp16(-min / fp16(scale))");
        float z = Float.float16ToFloat(z16);
        for (int i = c0; i < c0 + n; i++) {
            long q = Math.round(Math.rint((double) w[i] / s + z));
            q = Math.max(0, Math.min(maxCode, q));
            assertEquals(q, codes[i], "code of column " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3, 4})
    void partialLastGroupUsesOnlyRealColumnsAndPadsWithZeroCodes(int bits) {
        int group = 64;
        int rows = 8;
        int cols = 100; // groups of 64 and 36
        float[] w = gaussian(7, rows * cols, 1.0);
        // Make the real part of the partial group clearly narrower than the full group, so a
        // min/max over padding (zeros) or over the wrong columns would show.
        for (int r = 0; r < rows; r++) {
            for (int c = 64; c < cols; c++) {
                w[r * cols + c] = 3f + 0.01f * w[r * cols + c];
            }
        }
        QuantSpec spec = new QuantSpec(bits, group);
        QuantizedMatrix q = GroupQuantizer.minMax(spec).quantize(w, rows, cols);
        QuantFormat f = spec.format();
        int rowBytes = (int) f.rowBytes(cols);
        int padded = rowBytes * 8 / bits;
        assertEquals(128, padded);
        for (int r = 0; r < rows; r++) {
            byte[] all = new byte[padded];
            f.unpackRow(q.codes(), r * rowBytes, padded, all, 0);
            for (int c = cols; c < padded; c++) {
                assertEquals(0, all[c], "padding code at column " + c);
            }
            float[] row = java.util.Arrays.copyOfRange(w, r * cols, (r + 1) * cols);
            checkGroupAgainstFormula(row, 0, 64, bits, q.scales()[r * 2], q.zeros()[r * 2], all);
            checkGroupAgainstFormula(row, 64, 36, bits, q.scales()[r * 2 + 1], q.zeros()[r * 2 + 1], all);
        }
        double nmse = Nmse.of(w, q.dequantize());
        assertTrue(nmse < 0.25, "NMSE " + nmse);
    }

    @Test
    void fp16RoundedScaleAndZeroAreUsedConsistently() {
        int bits = 3;
        int group = 16;
        int rows = 64;
        int cols = 256;
        float[] w = gaussian(99, rows * cols, 0.05);
        QuantizedMatrix q = GroupQuantizer.minMax(new QuantSpec(bits, group)).quantize(w, rows, cols);
        byte[] codes = new QuantFormat(bits, group).unpack(q.codes(), rows, cols);
        int differs = 0;
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < cols / group; k++) {
                int c0 = r * cols + k * group;
                checkGroupAgainstFormula(w, c0, group, bits, q.scales()[r * cols / group + k],
                        q.zeros()[r * cols / group + k], codes);
                // The zero from the unrounded scale would often be a different fp16 value: so the
                // check above does tell "rounded first" from "rounded last".
                float min = Float.POSITIVE_INFINITY;
                float max = Float.NEGATIVE_INFINITY;
                for (int i = c0; i < c0 + group; i++) {
                    min = Math.min(min, w[i]);
                    max = Math.max(max, w[i]);
                }
                double unrounded = ((double) max - min) / 7;
                if (Float.floatToFloat16((float) (-min / unrounded)) != q.zeros()[r * cols / group + k]) {
                    differs++;
                }
            }
        }
        assertTrue(differs > 50, "only " + differs + " groups distinguish the rounding order");
    }

    @Test
    void constantGroupsAreExactUpToFp16() {
        int group = 16;
        int cols = 64;
        float[] w = new float[cols];
        java.util.Arrays.fill(w, 0, 16, 0.3f);          // positive constant
        java.util.Arrays.fill(w, 16, 32, -1.7f);        // negative constant
        java.util.Arrays.fill(w, 32, 48, 0f);           // all zero
        for (int i = 48; i < 64; i++) {                  // a range below fp16's scale resolution
            w[i] = 1e-6f + (i % 2) * 1e-9f;
        }
        for (int bits = 2; bits <= 4; bits++) {
            for (GroupQuantizer quantizer : new GroupQuantizer[] {GroupQuantizer.minMax(new QuantSpec(bits, group)),
                    GroupQuantizer.hqq(new QuantSpec(bits, group), HqqOptions.DEFAULT)}) {
                float[] d = quantizer.quantize(w, 1, cols).dequantize();
                for (int i = 0; i < cols; i++) {
                    float expected = Float.float16ToFloat(Float.floatToFloat16(w[i]));
                    assertEquals(expected, d[i], Math.max(Math.abs(expected) * 1e-6, 6e-8), "column " + i + " at " + bits + " bits");
                }
            }
        }
    }

    @Test
    void groupFarFromZeroStaysFinite() {
        // min/max gives a zero of about -1.5e7, beyond fp16: the range is widened to include 0.
        float[] w = new float[32];
        for (int i = 0; i < w.length; i++) {
            w[i] = 1000f + i * 1e-4f;
        }
        QuantizedMatrix q = GroupQuantizer.minMax(new QuantSpec(4, 32)).quantize(w, 1, 32);
        float s = Float.float16ToFloat(q.scales()[0]);
        float[] d = q.dequantize();
        for (int i = 0; i < w.length; i++) {
            assertTrue(Math.abs(d[i] - w[i]) <= s / 2 + 1e-3, "column " + i + ": " + d[i] + " vs " + w[i]);
        }
    }

    @Test
    void rejectsNonFiniteWeightsAndBadShapes() {
        float[] w = gaussian(1, 64, 1);
        w[37] = Float.NaN;
        GroupQuantizer q = GroupQuantizer.minMax(new QuantSpec(4, 16));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> q.quantize(w, 2, 32));
        assertTrue(e.getMessage().contains("row 1, column 5"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> q.quantize(new float[10], 2, 4));
        assertThrows(IllegalArgumentException.class, () -> new QuantSpec(5, 64));
        assertThrows(IllegalArgumentException.class, () -> new QuantSpec(4, 12));
        assertThrows(IllegalArgumentException.class, () -> new QuantSpec(4, 2048));
    }

    @Test
    void resultDoesNotDependOnParallelism() {
        float[] w = gaussian(5, 300 * 128, 0.1);
        QuantSpec spec = new QuantSpec(3, 32);
        QuantizedMatrix a = GroupQuantizer.hqq(spec, HqqOptions.DEFAULT).quantize(w, 300, 128);
        // One row at a time, sequentially, must give the same bytes and the same error sum.
        QuantizedMatrix[] rows = new QuantizedMatrix[300];
        for (int r = 0; r < 300; r++) {
            rows[r] = GroupQuantizer.hqq(spec, HqqOptions.DEFAULT)
                    .quantize(java.util.Arrays.copyOfRange(w, r * 128, (r + 1) * 128), 1, 128);
        }
        double sse = 0;
        for (int r = 0; r < 300; r++) {
            assertArrayEquals(rows[r].codes(), java.util.Arrays.copyOfRange(a.codes(), r * 48, (r + 1) * 48));
            assertArrayEquals(rows[r].scales(), java.util.Arrays.copyOfRange(a.scales(), r * 4, (r + 1) * 4));
            sse += rows[r].sse();
        }
        assertEquals(sse, a.sse(), 0.0);
    }
}
