package dev.lookahead.gate;

import dev.lookahead.util.Progress;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Alignment on synthetic routing where the truth is known (see {@link SyntheticRouting}). */
class GateAlignmentTest {
    static final SyntheticRouting MODEL = new SyntheticRouting(3, 24, 8, 2, 4.0, 11);
    static final CalibrationData DATA = MODEL.data(4000, 12);
    static final AlignOptions OPTIONS = AlignOptions.defaults().withEpochs(60).withLr(0.01).withBatch(64).withPatience(5);

    @Test
    void alignmentLearnsARepresentableTargetAndBeatsPlugAndPlay() {
        LookaheadHeads init = LookaheadHeads.plugAndPlay(MODEL.routing, new HeadLayout(3, 2, 0), "synthetic");
        GateAlignment.Result r = GateAlignment.align(init, DATA, 2, OPTIONS, Progress.NONE);
        assertEquals(3, r.report().rows().size()); // 0->1, 0->2, 1->2
        for (AlignmentReport.HeadRow row : r.report().rows()) {
            String what = row.head() + ": " + row;
            // Plug-and-play ignores the permutation between layers: it knows little.
            assertTrue(row.before().recallK() < 0.6, what);
            // The target is exactly representable: KL close to 0 and the router's choice recovered.
            assertTrue(row.after().kl() < 0.02, what);
            assertTrue(row.after().recallK() > 0.95, what);
            assertTrue(row.after().recall2K() > 0.99, what);
            assertTrue(row.after().recallK() > row.prior().recallK() + 0.3, what);
            assertTrue(row.validationKlAfter() < row.validationKlBefore(), what);
        }
        System.out.print(r.report().table());
    }

    @Test
    void nextTokenHeadsLearnWhereTheNextTokenFollowsFromThisOne() {
        String table = assertHeadsLearnTheChain(HeadLayout.NextToken.SAME_LAYER, 3); // 0->0', 1->1', 2->2'
        assertTrue(table.contains("d=3'"), table);
    }

    @Test
    void twoTokenHeadsLearnTheTokenAfterTheNext() {
        // the chain continues across tokens: layer l two tokens ahead is P^(2L) of this one, learnable too
        String table = assertHeadsLearnTheChain(HeadLayout.NextToken.TWO_TOKENS, 6); // 0->0'', 1->1'', 2->2''
        assertTrue(table.contains("d=6'") && table.contains("2->2''"), table);
    }

    /** Aligns a 3-layer layout's heads on chained tokens: the 3 heads at {@code distance} must learn the chain. */
    private static String assertHeadsLearnTheChain(HeadLayout.NextToken nextToken, int distance) {
        CalibrationData chained = MODEL.chainedData(4000, 13);
        LookaheadHeads init = LookaheadHeads.plugAndPlay(MODEL.routing, new HeadLayout(3, 1, 0, nextToken), "synthetic");
        GateAlignment.Result r = GateAlignment.align(init, chained, 2, OPTIONS, Progress.NONE);
        int rows = 0;
        for (AlignmentReport.HeadRow row : r.report().rows()) {
            if (!row.nextToken() || row.head().distance() != distance) continue;
            rows++;
            String what = row.head() + ": " + row;
            assertTrue(row.after().recallK() > 0.95, what);
            assertTrue(row.after().recallK() > row.before().recallK() + 0.3, what);
        }
        assertEquals(3, rows);
        return r.report().table();
    }

    @Test
    void nextTokenHeadsFindNothingWhenTokensAreIndependent() {
        // DATA's tokens are drawn independently: no head can predict the next token's routing beyond the prior.
        LookaheadHeads init = LookaheadHeads.plugAndPlay(MODEL.routing, new HeadLayout(3, 1, 0, HeadLayout.NextToken.SAME_LAYER), "synthetic");
        GateAlignment.Result r = GateAlignment.align(init, DATA, 2, OPTIONS.withEpochs(20), Progress.NONE);
        for (AlignmentReport.HeadRow row : r.report().rows()) {
            if (!row.nextToken()) continue;
            assertTrue(row.after().recallK() < row.prior().recallK() + 0.1, row.toString());
        }
    }

    @Test
    void headsThatAreAlreadyExactStayExact() {
        // Start every head at the true map router_{l+d} diag(norm_{l+d}) P^d: training must not make it worse.
        LookaheadHeads init = LookaheadHeads.plugAndPlay(MODEL.routing, new HeadLayout(3, 2, 0), "synthetic");
        Map<HeadId, LookaheadHeads.Parameters> exact = new HashMap<>();
        for (HeadId id : init.heads()) {
            exact.put(id, new LookaheadHeads.Parameters(composeWithPermutation(init.weight(id), id.distance()), new float[8]));
        }
        LookaheadHeads start = init.withParameters(exact, "");
        GateAlignment.Result r = GateAlignment.align(start, DATA, 2, OPTIONS.withEpochs(5), Progress.NONE);
        for (AlignmentReport.HeadRow row : r.report().rows()) {
            assertTrue(row.before().kl() < 1e-9, row.toString()); // rounding only
            assertTrue(row.after().kl() <= row.before().kl() + 1e-6, row.toString());
            assertEquals(row.before().recallK(), row.after().recallK(), 0.005, row.toString());
        }
    }

    @Test
    void theBiasLetsAHeadLearnATargetThatIgnoresTheToken() {
        // Layer 1 always routes by the same distribution: the best head is W = 0, b = log p + c,
        // which a bias-free head W x cannot express (x has no constant component here).
        double[] fixed = {0.5, 0.25, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01};
        CalibrationData d = new CalibrationData(2, 24, 8, 3000);
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (int t = 0; t < 3000; t++) {
            float[] x = new float[24];
            for (int j = 0; j < 24; j++) x[j] = (float) r.nextGaussian();
            d.putSource(t, 0, x);
            d.putTarget(t, 1, fixed);
        }
        SyntheticRouting two = new SyntheticRouting(2, 24, 8, 2, 4.0, 3);
        LookaheadHeads init = LookaheadHeads.plugAndPlay(two.routing, new HeadLayout(2, 1, 0), "synthetic");
        GateAlignment.Result res = GateAlignment.align(init, d, 2, OPTIONS, Progress.NONE);
        AlignmentReport.HeadRow row = res.report().rows().getFirst();
        assertTrue(row.before().kl() > 1, row.toString());
        assertTrue(row.after().kl() < 0.01, row.toString());
        assertEquals(1.0, row.after().recallK(), 1e-9, row.toString());
        float[] b = res.heads().bias(new HeadId(0, 1));
        assertEquals(Math.log(0.5 / 0.01), b[0] - b[7], 0.1);
    }

    @Test
    void withZeroEpochsTheHeadsAreUnchanged() {
        LookaheadHeads init = LookaheadHeads.plugAndPlay(MODEL.routing, new HeadLayout(3, 1, 1), "synthetic");
        GateAlignment.Result r = GateAlignment.align(init, DATA, 2, OPTIONS.withEpochs(0), Progress.NONE);
        for (HeadId id : init.heads()) {
            assertEquals(java.util.Arrays.toString(init.weight(id)), java.util.Arrays.toString(r.heads().weight(id)));
        }
        for (AlignmentReport.HeadRow row : r.report().rows()) assertEquals(row.before(), row.after());
    }

    @Test
    void theTrainingIsReproducibleForAGivenSeed() {
        LookaheadHeads init = LookaheadHeads.plugAndPlay(MODEL.routing, new HeadLayout(3, 1, 0), "synthetic");
        AlignOptions o = OPTIONS.withEpochs(3);
        float[] a = GateAlignment.align(init, DATA, 2, o, Progress.NONE).heads().weight(new HeadId(1, 1));
        float[] b = GateAlignment.align(init, DATA, 2, o, Progress.NONE).heads().weight(new HeadId(1, 1));
        float[] c = GateAlignment.align(init, DATA, 2, o.withSeed(99), Progress.NONE).heads().weight(new HeadId(1, 1));
        assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
        assertTrue(!java.util.Arrays.equals(a, c), "another seed shuffles differently");
    }

    @Test
    void theTrueDistributionIsTheRoutersSoftmaxOfTheNormedHiddenState() {
        // Independent of GateMath: norm and router written out here in double.
        float[] h = new float[24];
        for (int j = 0; j < h.length; j++) h[j] = (float) Math.sin(j * 1.7) * 3;
        CalibrationData d = new CalibrationData(3, 24, 8, 1);
        d.put(0, 0, h, 0, MODEL.routing);
        d.put(0, 1, h, 0, MODEL.routing);
        d.put(0, 2, h, 0, MODEL.routing);
        for (int layer = 1; layer < 3; layer++) {
            float[] router = MODEL.routing.router(layer), norm = MODEL.routing.norm(layer);
            double ss = 0;
            for (float v : h) ss += v * v;
            double inv = 1 / Math.sqrt(ss / h.length + 1e-5);
            double[] z = new double[8];
            double max = -1e300, sum = 0;
            for (int e = 0; e < 8; e++) {
                for (int j = 0; j < 24; j++) z[e] += router[e * 24 + j] * (h[j] * inv * norm[j]);
                max = Math.max(max, z[e]);
            }
            for (int e = 0; e < 8; e++) sum += Math.exp(z[e] - max);
            for (int e = 0; e < 8; e++) {
                assertEquals(Math.exp(z[e] - max) / sum, d.targets(layer)[e], 1e-6, "layer " + layer + " expert " + e);
            }
        }
    }

    @Test
    void tooFewTokensOrAMismatchAreClearErrors() {
        LookaheadHeads init = LookaheadHeads.plugAndPlay(MODEL.routing, new HeadLayout(3, 1, 0), "synthetic");
        CalibrationData tiny = MODEL.data(2, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> GateAlignment.align(init, tiny, 2, OPTIONS, Progress.NONE));
        assertTrue(e.getMessage().contains("too few calibration tokens"), e.getMessage());
        CalibrationData other = new SyntheticRouting(3, 16, 8, 2, 4, 1).data(100, 1);
        e = assertThrows(IllegalArgumentException.class, () -> GateAlignment.align(init, other, 2, OPTIONS, Progress.NONE));
        assertTrue(e.getMessage().contains("does not fit"), e.getMessage());
    }

    /** W P^d: column j of the result is column perm^d(j) of W times the accumulated sign. */
    private static float[] composeWithPermutation(float[] w, int d) {
        int hidden = MODEL.config.hiddenSize(), experts = MODEL.config.numLocalExperts();
        // P^d as a signed index map: (P^d h)[j] = s[j] h[src[j]]
        int[] src = new int[hidden];
        float[] s = new float[hidden];
        for (int j = 0; j < hidden; j++) {
            src[j] = j;
            s[j] = 1;
        }
        for (int step = 0; step < d; step++) {
            int[] src2 = new int[hidden];
            float[] s2 = new float[hidden];
            for (int j = 0; j < hidden; j++) { // (P (P^k h))[j] = sign[j] (P^k h)[perm[j]]
                src2[j] = src[MODEL.perm[j]];
                s2[j] = MODEL.sign[j] * s[MODEL.perm[j]];
            }
            src = src2;
            s = s2;
        }
        // (W P^d h)_e = sum_j W[e,j] s[j] h[src[j]] -> coefficient of h[src[j]] is W[e,j] s[j]
        float[] out = new float[w.length];
        for (int e = 0; e < experts; e++) {
            for (int j = 0; j < hidden; j++) out[e * hidden + src[j]] += w[e * hidden + j] * s[j];
        }
        return out;
    }
}
