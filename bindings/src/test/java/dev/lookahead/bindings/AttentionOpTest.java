package dev.lookahead.bindings;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * lk_attention against a double-precision causal softmax attention over the same (dtype-rounded)
 * cache. Cache rows at and after pos + nTokens are NaN: the header says only rows before that
 * hold data, so reading them would poison the output and fail the test. fp32 dot products and
 * softmax give NMSE far below 1e-10.
 */
class AttentionOpTest extends CpuDeviceTest {
    static final double TOL = 1e-10;

    /** out[t, h, :] over cache positions j &lt;= p = pos + t with j &gt; p - window (window 0 = all). */
    static double[] reference(float[] q, float[] k, float[] v, int nTokens, long pos, AttentionShape s) {
        int hd = s.headDim();
        int group = s.nHeads() / s.nKvHeads();
        double[] out = new double[nTokens * s.nHeads() * hd];
        for (int t = 0; t < nTokens; t++) {
            long p = pos + t;
            long first = s.window() == 0 ? 0 : Math.max(0, p - s.window() + 1);
            for (int h = 0; h < s.nHeads(); h++) {
                int kvh = h / group;
                int qBase = (t * s.nHeads() + h) * hd;
                double[] scores = new double[(int) (p - first + 1)];
                double max = Double.NEGATIVE_INFINITY;
                for (long j = first; j <= p; j++) {
                    int kBase = (int) ((j * s.nKvHeads() + kvh) * hd);
                    double dot = 0;
                    for (int d = 0; d < hd; d++) {
                        dot += (double) q[qBase + d] * k[kBase + d];
                    }
                    scores[(int) (j - first)] = dot * s.scale();
                    max = Math.max(max, scores[(int) (j - first)]);
                }
                double sum = 0;
                for (int i = 0; i < scores.length; i++) {
                    scores[i] = Math.exp(scores[i] - max);
                    sum += scores[i];
                }
                for (long j = first; j <= p; j++) {
                    int vBase = (int) ((j * s.nKvHeads() + kvh) * hd);
                    double w = scores[(int) (j - first)] / sum;
                    for (int d = 0; d < hd; d++) {
                        out[qBase + d] += w * v[vBase + d];
                    }
                }
            }
        }
        return out;
    }

    /** A cache with rows [0, filled) random (dtype-rounded) and the rest NaN. */
    static float[] cache(AttentionShape s, long filled, Random rnd) {
        int rowLen = s.nKvHeads() * s.headDim();
        float[] c = new float[(int) s.ctxCapacity() * rowLen];
        Arrays.fill(c, Float.NaN);
        float[] data = Numerics.round(s.kvDtype(), Numerics.gaussian(rnd, (int) filled * rowLen, 1.0));
        System.arraycopy(data, 0, c, 0, data.length);
        return c;
    }

    private float[] runAttention(AttentionShape s, float[] q, float[] k, float[] v, int nTokens, long pos) {
        DeviceSlice out = run.output((long) q.length * 4);
        run.stream.attention(s, run.upload(q), run.upload(s.kvDtype(), k), run.upload(s.kvDtype(), v), out,
                nTokens, pos);
        return run.download(out, q.length);
    }

    @ParameterizedTest(name = "nTokens={0} pos={1} heads={2}/{3} hd={4} ctx={5} window={6} {7}")
    @CsvSource({
        // prefill from 0, GQA 4/2
        "7, 0, 4, 2, 16, 12, 0, F32",
        // chunked prefill after a prefix
        "5, 6, 4, 2, 16, 16, 0, F32",
        // decode, GQA 8/2, odd head_dim
        "1, 9, 8, 2, 5, 12, 0, F32",
        // decode, multi-query (one kv head), head_dim 1
        "1, 3, 3, 1, 1, 4, 0, F32",
        // sliding window in prefill and decode
        "6, 4, 2, 2, 8, 10, 3, F32", "1, 20, 4, 1, 32, 21, 4, F32",
        // window of 1: each token sees only itself
        "4, 2, 2, 1, 6, 6, 1, F32",
        // window larger than the context
        "6, 3, 4, 4, 16, 9, 100, F32",
        // half-precision caches
        "7, 0, 4, 2, 16, 12, 0, F16", "1, 30, 8, 2, 64, 40, 0, F16", "5, 6, 4, 2, 24, 16, 4, BF16",
        "1, 9, 8, 2, 128, 12, 0, BF16", "3, 0, 32, 8, 128, 3, 0, F16"
    })
    void againstReference(int nTokens, long pos, int nHeads, int nKv, int hd, int ctx, int window, DType kv) {
        AttentionShape s = AttentionShape.of(nHeads, nKv, hd, ctx, kv, window);
        Random rnd = new Random(nTokens * 7919L + pos * 31 + hd);
        float[] q = Numerics.gaussian(rnd, nTokens * nHeads * hd, 1.0);
        float[] k = cache(s, pos + nTokens, rnd);
        float[] v = cache(s, pos + nTokens, rnd);
        Numerics.assertNmse(reference(q, k, v, nTokens, pos, s), runAttention(s, q, k, v, nTokens, pos), TOL,
                "attention " + s + " nTokens=" + nTokens + " pos=" + pos);
    }

    @Test
    void windowLargerThanContextEqualsFullCausal() {
        AttentionShape full = AttentionShape.of(4, 2, 16, 10, DType.F32, 0);
        AttentionShape wide = AttentionShape.of(4, 2, 16, 10, DType.F32, 64);
        Random rnd = new Random(9);
        float[] q = Numerics.gaussian(rnd, 4 * 4 * 16, 1.0);
        float[] k = cache(full, 10, rnd);
        float[] v = cache(full, 10, rnd);
        float[] a = runAttention(full, q, k, v, 4, 6);
        float[] b = runAttention(wide, q, k, v, 4, 6);
        Numerics.assertNmse(Numerics.toDouble(a), b, 0.0, "window 64 > context must equal full causal");
    }

    @Test
    void customScale() {
        AttentionShape s = new AttentionShape(2, 1, 8, 6, DType.F32, 0, 0.05f);
        Random rnd = new Random(10);
        float[] q = Numerics.gaussian(rnd, 3 * 2 * 8, 1.0);
        float[] k = cache(s, 5, rnd);
        float[] v = cache(s, 5, rnd);
        Numerics.assertNmse(reference(q, k, v, 3, 2, s), runAttention(s, q, k, v, 3, 2), TOL, "scale 0.05");
    }
}
