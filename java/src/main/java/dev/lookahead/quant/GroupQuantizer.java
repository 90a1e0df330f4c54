package dev.lookahead.quant;

import dev.lookahead.bindings.QuantFormat;
import java.util.stream.IntStream;

/**
 * Group-wise asymmetric quantization of a matrix W[rows, cols] along each row, into the ABI's
 * qmatrix layout ({@link QuantFormat}): every {@code group} consecutive weights of a row share
 * an fp16 scale s and zero z, {@code w ~ s * (q - z)}, q in [0, 2^bits - 1].
 *
 * <p><b>Min/max</b> (always the starting point), per group with min m and max M of its real
 * weights (a partial last group uses only the columns that exist):
 * <pre>
 *   s = fp16((M - m) / (2^bits - 1))        rounded to fp16 FIRST,
 *   z = fp16(-m / s)                         with the rounded s,
 *   q = clamp(rint(w / s + z), 0, 2^bits-1)  with the rounded s and z (double precision),
 * </pre>
 * so the stored codes are the best codes for the stored scale and zero. fp16(x) means
 * {@code Float.floatToFloat16((float) x)} (round to nearest even). Special groups:
 * <ul>
 *   <li>constant (M == m = c, or a range so small that s underflows fp16): s = fp16(|c|),
 *       z = -sign(c), q = 0, which dequantizes to s * (0 - z) = c up to fp16 rounding of c
 *       (s = z = 0 when c is 0 or below fp16's range);</li>
 *   <li>a group far from zero whose z does not fit in fp16 (|z| &gt; 65504): the range is
 *       widened to include 0, which bounds z to [0, 2^bits - 1].</li>
 * </ul>
 *
 * <p><b>HQQ refinement</b> (optional, {@link HqqOptions}), in the spirit of Badri &amp; Shaji's
 * half-quadratic quantization: with s fixed, minimise the lp error (p &lt; 1) over z by
 * half-quadratic splitting, alternating, for {@code iterations} steps,
 * <pre>
 *   q  = clamp(rint(x + z))           x = w / s (weights in code units)
 *   e  = shrink_p(x - (q - z), beta)   shrink_p(r) = sign(r) max(|r| - |r|^(p-1) / beta, 0)
 *   z  = mean(q - (x - e))            beta = kappa * beta
 * </pre>
 * stopping early once z moves less than 1e-4 code steps.
 * Differences from HQQ's reference code, on purpose: the residual is measured in code units
 * (HQQ uses weight units, where for typical weights (|r| ~ 1e-3) the threshold exceeds every
 * residual and the update degenerates to a plain least-squares zero); and every iterate's z is
 * rounded to fp16 and scored by the squared error of its dequantized weights, keeping the best,
 * min/max included, so the refinement never increases a group's squared error. Then, if
 * {@code scaleRounds > 0}, up to that many least-squares refits of (s, z) given the codes
 * (w ~ a q + b: s = fp16(a), z = fp16(mean(q) - mean(w) / s)), each kept only if it lowers the
 * squared error (codes recomputed).
 *
 * <p>Rows are independent and quantized in parallel; results do not depend on the thread count.
 */
public final class GroupQuantizer {

    /** Reads row {@code row} of the source into {@code dst} ({@code cols} values). */
    @FunctionalInterface
    public interface RowSource {
        void read(int row, float[] dst);
    }

    private static final int ROWS_PER_TASK = 16;

    private final QuantSpec spec;
    private final QuantFormat format;
    private final HqqOptions hqq; // null: min/max only

    private GroupQuantizer(QuantSpec spec, HqqOptions hqq) {
        this.spec = spec;
        this.format = spec.format();
        this.hqq = hqq;
    }

    /** Plain min/max quantization. */
    public static GroupQuantizer minMax(QuantSpec spec) {
        return new GroupQuantizer(spec, null);
    }

    /** Min/max followed by the HQQ-style refinement. */
    public static GroupQuantizer hqq(QuantSpec spec, HqqOptions options) {
        return new GroupQuantizer(spec, java.util.Objects.requireNonNull(options));
    }

    public QuantSpec spec() {
        return spec;
    }

    /** Quantizes a row-major [rows, cols] matrix. */
    public QuantizedMatrix quantize(float[] weights, int rows, int cols) {
        if (rows <= 0 || cols <= 0 || weights.length != (long) rows * cols) {
            throw new IllegalArgumentException("weights has " + weights.length + " values, expected rows * cols = "
                    + rows + " * " + cols);
        }
        return quantize((r, dst) -> System.arraycopy(weights, r * cols, dst, 0, cols), rows, cols);
    }

    /**
     * Quantizes a [rows, cols] matrix whose rows are read on demand (from a mapped file), so
     * that only the packed result and a row buffer per thread are held in memory.
     *
     * @throws IllegalArgumentException on a non-finite weight (naming row and column) or weights
     *     too large for fp16 scales
     */
    public QuantizedMatrix quantize(RowSource source, int rows, int cols) {
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("rows and cols must be > 0, got " + rows + " x " + cols);
        }
        int ngroups = Math.toIntExact(format.groups(cols));
        int rowBytes = Math.toIntExact(format.rowBytes(cols));
        byte[] packed = new byte[Math.multiplyExact(rows, rowBytes)];
        short[] scales = new short[Math.multiplyExact(rows, ngroups)];
        short[] zeros = new short[scales.length];
        double[] rowSse = new double[rows];
        double[] rowSsq = new double[rows];
        int tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        IntStream.range(0, tasks).parallel().forEach(t -> {
            float[] w = new float[cols];
            byte[] codes = new byte[cols];
            double[] scratch = new double[spec.group()];
            for (int r = t * ROWS_PER_TASK, end = Math.min(rows, r + ROWS_PER_TASK); r < end; r++) {
                source.read(r, w);
                rowSsq[r] = checkedSumOfSquares(w, r);
                rowSse[r] = quantizeRow(w, codes, scales, zeros, r * ngroups, scratch);
                format.packRow(codes, 0, cols, packed, r * rowBytes);
            }
        });
        double sse = 0;
        double ssq = 0;
        for (int r = 0; r < rows; r++) { // in row order: the sums do not depend on scheduling
            sse += rowSse[r];
            ssq += rowSsq[r];
        }
        return new QuantizedMatrix(spec, rows, cols, packed, scales, zeros, sse, ssq);
    }

    private static double checkedSumOfSquares(float[] w, int row) {
        double s = 0;
        for (int c = 0; c < w.length; c++) {
            if (!Float.isFinite(w[c])) {
                throw new IllegalArgumentException("non-finite weight " + w[c] + " at row " + row + ", column " + c);
            }
            s += (double) w[c] * w[c];
        }
        return s;
    }

    /** Quantizes one row group by group; returns its squared error. */
    private double quantizeRow(float[] w, byte[] codes, short[] scales, short[] zeros, int paramIndex,
            double[] scratch) {
        int g = spec.group();
        int maxCode = format.maxCode();
        double sse = 0;
        for (int c0 = 0, k = 0; c0 < w.length; c0 += g, k++) {
            int n = Math.min(g, w.length - c0);
            int params = minMaxParams(w, c0, n, maxCode);
            if (hqq != null) {
                params = refine(w, c0, n, params, maxCode, hqq, scratch);
            }
            short s16 = scaleOf(params);
            short z16 = zeroOf(params);
            scales[paramIndex + k] = s16;
            zeros[paramIndex + k] = z16;
            sse += encode(w, c0, n, Float.float16ToFloat(s16), Float.float16ToFloat(z16), maxCode, codes);
        }
        return sse;
    }

    // ------------------------------------------------------------------ one group

    /** fp16 bits of a real number: via float, round to nearest even. */
    static short fp16(double x) {
        return Float.floatToFloat16((float) x);
    }

    static int pack(short scale, short zero) {
        return (scale & 0xFFFF) << 16 | (zero & 0xFFFF);
    }

    static short scaleOf(int params) {
        return (short) (params >>> 16);
    }

    static short zeroOf(int params) {
        return (short) params;
    }

    /** Min/max scale and zero of {@code w[off, off + n)}, as packed fp16 bits. */
    static int minMaxParams(float[] w, int off, int n, int maxCode) {
        float min = w[off];
        float max = w[off];
        for (int i = off + 1; i < off + n; i++) {
            min = Math.min(min, w[i]);
            max = Math.max(max, w[i]);
        }
        if (min == max) {
            return constant(min);
        }
        int p = rangeParams(min, max, maxCode);
        if (p == -1) { // scale underflows fp16: the group is constant at fp16's resolution
            return constant((float) (((double) min + max) / 2));
        }
        if (p == -2) { // zero beyond fp16: include 0 in the range, so z lies in [0, maxCode]
            p = rangeParams(Math.min(min, 0f), Math.max(max, 0f), maxCode);
        }
        return p;
    }

    /**
     * Params for [lo, hi], or -1 if the scale underflows fp16, -2 if the zero overflows it (both
     * sentinels have scale bits 0xFFFF, an fp16 NaN, so no valid pair packs to them).
     */
    private static int rangeParams(float lo, float hi, int maxCode) {
        short s16 = fp16(((double) hi - lo) / maxCode);
        float s = Float.float16ToFloat(s16);
        if (s == 0) {
            return -1;
        }
        if (Float.isInfinite(s)) {
            throw new IllegalArgumentException("weight range [" + lo + ", " + hi + "] is too wide for an fp16 scale");
        }
        short z16 = fp16((0.0 - lo) / s); // 0 - lo, not -lo: lo = 0 gives +0, not -0
        if (Float.isInfinite(Float.float16ToFloat(z16))) {
            return -2;
        }
        return pack(s16, z16);
    }

    /** s = |c|, z = -sign(c): s * (0 - z) = c. */
    private static int constant(float c) {
        short s16 = fp16(Math.abs(c));
        float s = Float.float16ToFloat(s16);
        if (Float.isInfinite(s)) {
            throw new IllegalArgumentException("weight " + c + " is beyond the fp16 range");
        }
        if (s == 0) {
            return pack((short) 0, (short) 0);
        }
        return pack(s16, fp16(c > 0 ? -1.0 : 1.0));
    }

    /**
     * Codes of {@code w[off, off + n)} for scale {@code s} and zero {@code z} into
     * {@code codes[off..]} (when non-null); returns the squared error of the dequantized values,
     * computed as the ABI does, in float: {@code s * (q - z)}.
     */
    static double encode(float[] w, int off, int n, float s, float z, int maxCode, byte[] codes) {
        double sse = 0;
        for (int i = off; i < off + n; i++) {
            int q = code(w[i], s, z, maxCode);
            if (codes != null) {
                codes[i] = (byte) q;
            }
            double e = (double) w[i] - s * ((float) q - z);
            sse += e * e;
        }
        return sse;
    }

    /** clamp(rint(w / s + z), 0, maxCode); 0 when s is 0 (a zero group). */
    static int code(float w, float s, float z, int maxCode) {
        if (s == 0) {
            return 0;
        }
        double x = Math.rint((double) w / s + z);
        return x <= 0 ? 0 : x >= maxCode ? maxCode : (int) x;
    }

    /**
     * The HQQ-style refinement of one group (see the class comment); {@code x} is scratch space
     * of at least {@code n} doubles.
     */
    static int refine(float[] w, int off, int n, int params, int maxCode, HqqOptions o, double[] x) {
        float s = Float.float16ToFloat(scaleOf(params));
        float z0 = Float.float16ToFloat(zeroOf(params));
        if (s == 0 || n < 2) {
            return params;
        }
        for (int i = 0; i < n; i++) {
            x[i] = (double) w[off + i] / s; // exactly what code() computes before adding z
        }
        int best = params;
        double bestErr = error(w, off, n, x, s, z0, maxCode);
        double p = o.lpNorm();
        double beta = o.beta();
        double z = z0;
        for (int it = 0; it < o.iterations(); it++) {
            // shrink_p(r) is 0 unless |r| > |r|^(p-1) / beta, i.e. |r| > beta^(-1 / (2 - p)):
            // one pow per iteration instead of one per weight for the many small residuals.
            double dead = Math.pow(beta, -1 / (2 - p));
            double acc = 0;
            for (int i = 0; i < n; i++) {
                double q = Math.rint(x[i] + z);
                q = q < 0 ? 0 : Math.min(q, maxCode);
                double r = x[i] - (q - z);
                double e = Math.abs(r) > dead ? shrink(r, beta, p) : 0;
                acc += q - (x[i] - e);
            }
            double next = acc / n;
            beta *= o.kappa();
            boolean converged = Math.abs(next - z) < CONVERGED;
            z = next;
            short z16 = fp16(z);
            float zf = Float.float16ToFloat(z16);
            if (!Float.isFinite(zf)) {
                break;
            }
            double err = error(w, off, n, x, s, zf, maxCode);
            if (err < bestErr) {
                bestErr = err;
                best = pack(scaleOf(params), z16);
            }
            if (converged) {
                break;
            }
        }
        for (int round = 0; round < o.scaleRounds(); round++) {
            int next = leastSquaresRefit(w, off, n, best, maxCode);
            if (next == best) {
                break;
            }
            double err = encode(w, off, n, Float.float16ToFloat(scaleOf(next)), Float.float16ToFloat(zeroOf(next)),
                    maxCode, null);
            if (!(err < bestErr)) {
                break;
            }
            bestErr = err;
            best = next;
        }
        return best;
    }

    /** Zero updates smaller than this (in code steps) end the iteration: fp16 cannot tell them apart. */
    private static final double CONVERGED = 1e-4;

    /** {@link #encode}'s error with the codes from precomputed {@code x = w / s}: the same numbers, faster. */
    private static double error(float[] w, int off, int n, double[] x, float s, float z, int maxCode) {
        double sse = 0;
        for (int i = 0; i < n; i++) {
            double q = Math.rint(x[i] + z);
            q = q < 0 ? 0 : Math.min(q, maxCode);
            double e = (double) w[off + i] - s * ((float) q - z);
            sse += e * e;
        }
        return sse;
    }

    /** lp shrinkage (the proximal step of HQQ): sign(r) max(|r| - |r|^(p-1) / beta, 0). */
    static double shrink(double r, double beta, double p) {
        double a = Math.abs(r);
        if (a == 0) {
            return 0;
        }
        double t = p == 1 ? 1 / beta : Math.pow(a, p - 1) / beta;
        return a > t ? Math.copySign(a - t, r) : 0;
    }

    /** Least-squares (s, z) for the codes of {@code params}: w ~ s q - s z; unchanged if degenerate. */
    private static int leastSquaresRefit(float[] w, int off, int n, int params, int maxCode) {
        float s = Float.float16ToFloat(scaleOf(params));
        float z = Float.float16ToFloat(zeroOf(params));
        double sq = 0;
        double sw = 0;
        for (int i = off; i < off + n; i++) {
            sq += code(w[i], s, z, maxCode);
            sw += w[i];
        }
        double mq = sq / n;
        double mw = sw / n;
        double cov = 0;
        double var = 0;
        for (int i = off; i < off + n; i++) {
            double dq = code(w[i], s, z, maxCode) - mq;
            cov += dq * (w[i] - mw);
            var += dq * dq;
        }
        if (var == 0 || !(cov > 0)) {
            return params;
        }
        short s16 = fp16(cov / var);
        float s2 = Float.float16ToFloat(s16);
        if (s2 == 0 || Float.isInfinite(s2)) {
            return params;
        }
        short z16 = fp16(mq - mw / s2);
        if (!Float.isFinite(Float.float16ToFloat(z16))) {
            return params;
        }
        return pack(s16, z16);
    }
}
