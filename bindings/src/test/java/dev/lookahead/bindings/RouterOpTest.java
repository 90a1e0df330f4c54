package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * lk_router_topk against a double softmax and a stable sort (descending probability, lower expert
 * first on ties). Logits sit on a grid of 0.37 with exact duplicates where ties are wanted, so the
 * order never hinges on rounding; indices must match exactly, probabilities and weights to fp32
 * precision (NMSE &lt; 1e-10).
 */
class RouterOpTest extends CpuDeviceTest {
    static final double TOL = 1e-10;

    record Reference(double[] probs, int[] idx, double[] weight) {}

    static Reference reference(float[] logits, int n, int e, int k, boolean renormalize) {
        double[] probs = new double[n * e];
        int[] idx = new int[n * k];
        double[] weight = new double[n * k];
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < e; j++) {
                max = Math.max(max, logits[i * e + j]);
            }
            double sum = 0;
            for (int j = 0; j < e; j++) {
                probs[i * e + j] = Math.exp(logits[i * e + j] - max);
                sum += probs[i * e + j];
            }
            List<Integer> order = new ArrayList<>();
            for (int j = 0; j < e; j++) {
                probs[i * e + j] /= sum;
                order.add(j);
            }
            final int row = i;
            // List.sort is stable: equal probabilities keep the lower expert first.
            order.sort((a, b) -> Double.compare(probs[row * e + b], probs[row * e + a]));
            double topSum = 0;
            for (int t = 0; t < k; t++) {
                idx[i * k + t] = order.get(t);
                weight[i * k + t] = probs[i * e + order.get(t)];
                topSum += weight[i * k + t];
            }
            if (renormalize) {
                for (int t = 0; t < k; t++) {
                    weight[i * k + t] /= topSum;
                }
            }
        }
        return new Reference(probs, idx, weight);
    }

    /** Distinct grid values per row, except that every third row repeats its best logits (ties). */
    static float[] gridLogits(int n, int e, long seed) {
        Random rnd = new Random(seed);
        float[] logits = new float[n * e];
        for (int i = 0; i < n; i++) {
            List<Integer> perm = new ArrayList<>();
            for (int j = 0; j < e; j++) {
                perm.add(j);
            }
            Collections.shuffle(perm, rnd);
            for (int j = 0; j < e; j++) {
                logits[i * e + j] = (perm.get(j) - e / 2) * 0.37f;
            }
            if (i % 3 == 1 && e >= 3) { // three experts tie for first place
                float top = (e - 1 - e / 2) * 0.37f;
                logits[i * e + rnd.nextInt(e)] = top;
                logits[i * e + rnd.nextInt(e)] = top;
            }
        }
        return logits;
    }

    @ParameterizedTest(name = "n={0} experts={1} k={2} renormalize={3} probs={4}")
    @CsvSource({
        "6, 8, 2, true, true", "6, 8, 2, false, true", "7, 8, 2, true, false",
        "1, 1, 1, true, true", "4, 8, 8, true, true", "3, 8, 8, false, false",
        "5, 256, 4, true, true", "2, 60, 6, false, true", "1, 3, 1, false, true"
    })
    void topkMatchesReference(int n, int e, int k, boolean renormalize, boolean withProbs) {
        float[] logits = gridLogits(n, e, n * 1000L + e * 10L + k);
        Reference ref = reference(logits, n, e, k, renormalize);
        DeviceSlice probs = withProbs ? run.output((long) n * e * 4) : null;
        DeviceSlice idx = run.output((long) n * k * 4);
        DeviceSlice weight = run.output((long) n * k * 4);
        run.stream.routerTopk(run.upload(logits), n, e, k, renormalize, probs, idx, weight);
        String what = "router n=" + n + " e=" + e + " k=" + k;
        assertArrayEquals(ref.idx(), run.downloadInts(idx, n * k), what + " indices");
        Numerics.assertNmse(ref.weight(), run.download(weight, n * k), TOL, what + " weights");
        if (withProbs) {
            Numerics.assertNmse(ref.probs(), run.download(probs, n * e), TOL, what + " probs");
        }
    }

    @Test
    void allLogitsEqualPicksLowestExperts() {
        int e = 8;
        float[] logits = new float[2 * e]; // all zero: every expert ties
        DeviceSlice idx = run.output(2 * 3 * 4L);
        DeviceSlice weight = run.output(2 * 3 * 4L);
        run.stream.routerTopk(run.upload(logits), 2, e, 3, false, null, idx, weight);
        assertArrayEquals(new int[] {0, 1, 2, 0, 1, 2}, run.downloadInts(idx, 6));
        Numerics.assertNmse(new double[] {0.125, 0.125, 0.125, 0.125, 0.125, 0.125}, run.download(weight, 6), TOL,
                "uniform probabilities");
    }
}
