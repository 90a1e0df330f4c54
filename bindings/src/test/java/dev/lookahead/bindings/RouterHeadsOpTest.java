package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * lk_router_heads against an independent double-precision reference (RMSNorm, router GEMV, softmax,
 * stable top-k; heads: unit-gain RMSNorm, GEMV, bias, softmax per head): xn, weights and head
 * probabilities by NMSE, top-k indices exactly. Gains and router weights are rounded to their dtype
 * in Java first, so the reference sees exactly what the device sees; the remaining error is fp32
 * accumulation over `hidden` terms (NMSE ~1e-13), so 1e-10 leaves room without hiding a wrong
 * element. The router rows are drawn so the top k+1 logits are at least 0.05 apart, far above the
 * fp32 error of a logit (~1e-6), so the expected indices are unambiguous.
 *
 * <p>On the CPU the op is also compared bit for bit with the sequence of single ops it replaces
 * (rmsnorm, matmul, routerTopk; rmsnorm with unit gain, matmul, add, routerTopk for the heads): the
 * engine's golden tests rely on the fused decode path computing exactly what the prefill path does.
 */
class RouterHeadsOpTest extends CpuDeviceTest {
    static final double TOL = 1e-10;

    record Reference(double[] xn, int[] idx, double[] weight, double[] headProbs) {}

    static Reference reference(float[] x, float[] gain, float[] router, float[] heads, float[] bias, int hidden,
                               float eps, int e, int k, int nHeads, boolean renormalize) {
        double ss = 0;
        for (float v : x) ss += (double) v * v;
        double inv = 1.0 / Math.sqrt(ss / hidden + eps);
        double[] xn = new double[hidden];
        for (int c = 0; c < hidden; c++) xn[c] = x[c] * inv * gain[c];
        double[] logits = new double[e];
        for (int r = 0; r < e; r++) {
            for (int c = 0; c < hidden; c++) logits[r] += (double) router[r * hidden + c] * xn[c];
        }
        double[] p = softmax(logits);
        Integer[] order = new Integer[e];
        for (int i = 0; i < e; i++) order[i] = i;
        // Arrays.sort of objects is stable: ties keep the lower expert first
        java.util.Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        int[] idx = new int[k];
        double[] weight = new double[k];
        double sum = 0;
        for (int j = 0; j < k; j++) {
            idx[j] = order[j];
            weight[j] = p[order[j]];
            sum += weight[j];
        }
        if (renormalize) for (int j = 0; j < k; j++) weight[j] /= sum;
        double[] probs = new double[nHeads * e];
        for (int h = 0; h < nHeads; h++) {
            double[] l = new double[e];
            for (int r = 0; r < e; r++) {
                int row = h * e + r;
                l[r] = bias == null ? 0 : bias[row];
                for (int c = 0; c < hidden; c++) l[r] += (double) heads[row * hidden + c] * (x[c] * inv);
            }
            System.arraycopy(softmax(l), 0, probs, h * e, e);
        }
        return new Reference(xn, idx, weight, probs);
    }

    static double[] softmax(double[] l) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double v : l) max = Math.max(max, v);
        double[] p = new double[l.length];
        for (int i = 0; i < l.length; i++) sum += p[i] = Math.exp(l[i] - max);
        for (int i = 0; i < l.length; i++) p[i] /= sum;
        return p;
    }

    /** Router rows r = a_r * xn-direction + noise: logits a_r spread on a 0.25 grid, so the top k + 1 are distinct. */
    static float[] separatedRouter(Random rnd, float[] xnDir, int e, int hidden) {
        double norm = 0;
        for (float v : xnDir) norm += (double) v * v;
        float[] w = new float[e * hidden];
        int[] perm = rnd.ints(0, Integer.MAX_VALUE).distinct().limit(e).toArray();
        for (int r = 0; r < e; r++) {
            int rank = 0;
            for (int q = 0; q < e; q++) if (perm[q] < perm[r]) rank++;
            double target = (rank - e / 2.0) * 0.25; // wanted logit
            for (int c = 0; c < hidden; c++) {
                w[r * hidden + c] = (float) (target * xnDir[c] / norm + 0.01 * rnd.nextGaussian() / Math.sqrt(hidden));
            }
        }
        return w;
    }

    @ParameterizedTest(name = "hidden={0} experts={1} k={2} heads={3} gain={4} router={5} renormalize={6}")
    @CsvSource({
        "1, 1, 1, 0, F32, F32, true",
        "7, 4, 2, 1, F16, BF16, false",
        "33, 8, 2, 3, BF16, F16, true",
        "127, 8, 1, 0, F32, BF16, false",
        "65, 8, 3, 2, F16, F32, true",
        "255, 60, 3, 4, BF16, BF16, false",
        "513, 8, 2, 3, F32, F16, true",
        "1023, 16, 3, 1, F16, F16, false",
        "31, 256, 3, 2, BF16, F32, true"
    })
    void matchesReference(int hidden, int e, int k, int nHeads, DType gainDtype, DType routerDtype,
                          boolean renormalize) {
        Random rnd = new Random(hidden * 7919L + e * 31L + k * 7L + nHeads);
        float eps = 1e-5f;
        float[] x = Numerics.gaussian(rnd, hidden, 1.5);
        float[] gain = Numerics.round(gainDtype, Numerics.uniform(rnd, hidden, 0.5, 1.5));
        float[] xnDir = new float[hidden];
        for (int c = 0; c < hidden; c++) xnDir[c] = x[c] * gain[c];
        float[] router = Numerics.round(routerDtype, separatedRouter(rnd, xnDir, e, hidden));
        float[] heads = Numerics.gaussian(rnd, nHeads * e * hidden, 1.0 / Math.sqrt(hidden));
        float[] bias = nHeads % 2 == 1 ? Numerics.gaussian(rnd, nHeads * e, 0.5) : null; // odd: with bias
        Reference ref = reference(x, gain, router, heads, bias, hidden, eps, e, k, nHeads, renormalize);

        DeviceSlice xn = run.output(4L * hidden);
        DeviceSlice out = run.output(Stream.routerHeadsOutBytes(k, nHeads, e));
        run.stream.routerHeads(run.upload(x), hidden, eps, gainDtype, run.upload(gainDtype, gain), routerDtype,
                run.upload(routerDtype, router), e, k, renormalize, nHeads,
                nHeads == 0 ? null : run.upload(heads), bias == null ? null : run.upload(bias), xn, out);
        String what = "hidden=" + hidden + " e=" + e + " k=" + k + " heads=" + nHeads;
        int words = 2 * k + nHeads * e;
        float[] packed = run.download(out, words);           // the one read-back
        int[] packedInts = run.downloadInts(out, words);
        assertArrayEquals(ref.idx(), java.util.Arrays.copyOf(packedInts, k), what + " indices");
        Numerics.assertNmse(ref.weight(), java.util.Arrays.copyOfRange(packed, k, 2 * k), TOL, what + " weights");
        if (nHeads > 0) {
            Numerics.assertNmse(ref.headProbs(), java.util.Arrays.copyOfRange(packed, 2 * k, words), TOL,
                    what + " head probs");
        }
        Numerics.assertNmse(ref.xn(), run.download(xn, hidden), TOL, what + " xn");

        // bit for bit the single-op sequence of the prefill path
        DeviceSlice dx = run.upload(x), dg = run.upload(gainDtype, gain), dr = run.upload(routerDtype, router);
        DeviceSlice xn2 = run.output(4L * hidden), logits = run.output(4L * e);
        DeviceSlice idx2 = run.output(4L * k), w2 = run.output(4L * k);
        run.stream.rmsnorm(dx, gainDtype, dg, 1, hidden, eps, xn2);
        run.stream.matmul(routerDtype, dr, xn2, 1, e, hidden, logits);
        run.stream.routerTopk(logits, 1, e, k, renormalize, null, idx2, w2);
        assertArrayEquals(run.downloadInts(idx2, k), java.util.Arrays.copyOf(packedInts, k), what + " seq indices");
        assertArrayEquals(run.download(w2, k), java.util.Arrays.copyOfRange(packed, k, 2 * k), what + " seq weights");
        assertArrayEquals(run.download(xn2, hidden), run.download(xn, hidden), what + " seq xn");
        if (nHeads > 0) {
            int width = nHeads * e;
            float[] ones = new float[hidden];
            java.util.Arrays.fill(ones, 1f);
            DeviceSlice hHat = run.output(4L * hidden), hl = run.output(4L * width), hp = run.output(4L * width);
            run.stream.rmsnorm(dx, DType.F32, run.upload(ones), 1, hidden, eps, hHat);
            run.stream.matmul(DType.F32, run.upload(heads), hHat, 1, width, hidden, hl);
            if (bias != null) run.stream.add(hl, run.upload(bias), width);
            run.stream.routerTopk(hl, nHeads, e, 1, false, hp, run.output(4L * nHeads), run.output(4L * nHeads));
            assertArrayEquals(run.download(hp, width), java.util.Arrays.copyOfRange(packed, 2 * k, words),
                    what + " seq head probs");
        }
    }
}
