package dev.lookahead.sched;

import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.NextUseEstimator;
import dev.lookahead.expert.RoutingTrace;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PredictorsTest {
    private static final HistoryPredictor.Params DEFAULT = HistoryPredictor.Params.DEFAULT;

    @Test
    void historyLearnsCrossLayerStructureAndPredictsAHeldOutTrace() {
        HistoryPredictor p = HistoryPredictor.learn(Traces.chain(1, 8, 8, 300), 4, DEFAULT);
        PredictionRecall r = Traces.recall(p, Traces.chain(2, 8, 8, 200));
        for (int d = 1; d <= 4; d++) assertTrue(r.recall(d) > 0.95, "d " + d + ": " + r.recall(d));
    }

    @Test
    void historyIsAtChanceOnUnstructuredRouting() {
        HistoryPredictor p = HistoryPredictor.learn(Traces.uniform(1, 8, 8, 300), 4, DEFAULT);
        PredictionRecall r = Traces.recall(p, Traces.uniform(2, 8, 8, 400));
        assertEquals(0.25, r.overall(), 0.03); // top-2 of 8
    }

    @Test
    void historyUsesThePreviousTokensChoiceWhenAsked() {
        RoutingTrace train = Traces.sticky(1, 6, 8, 300, 0.8);
        RoutingTrace test = Traces.sticky(2, 6, 8, 300, 0.8);
        double with = Traces.recall(HistoryPredictor.learn(train, 3, DEFAULT), test).overall();
        HistoryPredictor.Params noReuse = new HistoryPredictor.Params(DEFAULT.sources(), DEFAULT.alpha(), DEFAULT.beta(),
                DEFAULT.tau(), false);
        double without = Traces.recall(HistoryPredictor.learn(train, 3, noReuse), test).overall();
        assertTrue(with > 0.75 && without < 0.4, "with reuse " + with + ", without " + without);
    }

    @Test
    void historyProbabilitiesSumToAboutTopK() {
        RoutingTrace trace = Traces.skewed(3, 6, 8, 200);
        HistoryPredictor p = HistoryPredictor.learn(trace, 5, DEFAULT);
        LayerPredictions out = new LayerPredictions(6, 8, 5);
        p.observe(0, 0, trace.experts(0, 0));
        p.predict(0, 0, out);
        assertEquals(5, out.horizon());
        for (int d = 1; d <= 5; d++) {
            double sum = 0;
            for (int e = 0; e < 8; e++) {
                float q = out.probability(d, e);
                assertTrue(q > 0 && q <= 1, "p " + q);
                sum += q;
            }
            assertTrue(sum > 1.5 && sum <= 2.0 + 1e-5, "sum " + sum);
        }
        // at the last layer of a token nothing is left to predict
        for (int l = 1; l < 6; l++) p.observe(0, l, trace.experts(0, l));
        p.predict(0, 5, out);
        assertEquals(0, out.horizon());
    }

    @Test
    void historyRejectsWhatItCannotUse() {
        RoutingTrace trace = Traces.skewed(3, 4, 8, 20);
        assertThrows(IllegalArgumentException.class, () -> HistoryPredictor.learn(trace, t -> false, 2, DEFAULT));
        HistoryPredictor p = HistoryPredictor.learn(trace, 2, DEFAULT);
        assertThrows(IllegalArgumentException.class, () -> p.observe(0, 0, new int[] {1, 2, 3}));
        LayerPredictions out = new LayerPredictions(4, 8, 2);
        assertThrows(IllegalStateException.class, () -> p.predict(5, 0, out));
    }

    @Test
    void oracleHasTheRequestedRecallAndOneDrawPerLayer() {
        RoutingTrace trace = Traces.skewed(4, 8, 8, 400);
        assertEquals(1.0, Traces.recall(new OracleLookahead(trace, 1.0, 7, 1), trace).overall());
        PredictionRecall r = Traces.recall(new OracleLookahead(trace, 0.7, 7, 1), trace);
        assertEquals(0.7, r.overall(), 0.03);

        // the prediction for layer 5 is the same draw whether made at layer 2 or layer 4
        OracleLookahead o = new OracleLookahead(trace, 0.5, 7, 9);
        LayerPredictions a = new LayerPredictions(8, 8, 7), b = new LayerPredictions(8, 8, 7);
        for (int l = 0; l <= 4; l++) {
            o.observe(0, l, trace.experts(0, l));
            if (l == 2) o.predict(0, 2, a);
        }
        o.predict(0, 4, b);
        float[] fromTwo = new float[8], fromFour = new float[8];
        double sum = 0;
        for (int e = 0; e < 8; e++) {
            fromTwo[e] = a.probability(3, e);
            fromFour[e] = b.probability(1, e);
            sum += fromTwo[e];
        }
        assertArrayEquals(fromTwo, fromFour);
        assertEquals(2.0, sum, 1e-5); // r * K + (1 - r) * K / (E - K) * (E - K)
        assertTrue(o.name().contains("oracle") && o.name().contains("0.5"));
    }

    @Test
    void predictedNextUseStretchesDistanceByProbabilityAndForgetsStalePredictions() {
        PredictedNextUse est = new PredictedNextUse(4, 8, 0.05);
        LayerPredictions p = new LayerPredictions(4, 8, 3);
        p.reset(1, 0, 3); // made at step 4 (token 1, layer 0) for steps 5, 6, 7
        p.set(1, 2, 0.5f);
        p.set(3, 6, 1.0f);
        p.set(2, 7, 0.01f);
        est.update(p, 3);
        assertEquals(2, est.nextUseDistance(new ExpertId(1, 2), 4));   // 1 / 0.5
        assertEquals(3, est.nextUseDistance(new ExpertId(3, 6), 4));   // 3 / 1
        assertEquals(2, est.nextUseDistance(new ExpertId(3, 6), 5));   // closer as time passes
        assertEquals(NextUseEstimator.NEVER, est.nextUseDistance(new ExpertId(2, 7), 4)); // below the far threshold
        assertEquals(NextUseEstimator.NEVER, est.nextUseDistance(new ExpertId(1, 3), 4)); // p = 0
        assertEquals(NextUseEstimator.NEVER, est.nextUseDistance(new ExpertId(1, 2), 5)); // its layer has run: stale
        assertEquals(NextUseEstimator.NEVER, est.nextUseDistance(new ExpertId(0, 1), 4)); // never predicted
        assertEquals(NextUseEstimator.NEVER, est.nextUseDistance(new ExpertId(9, 1), 4)); // outside the model
        assertEquals(0.5f, est.probability(new ExpertId(1, 2), 4));
        // a horizon shorter than the batch's leaves the farther layers alone
        PredictedNextUse shorter = new PredictedNextUse(4, 8, 0.05);
        shorter.update(p, 1);
        assertEquals(NextUseEstimator.NEVER, shorter.nextUseDistance(new ExpertId(3, 6), 4));
    }

    @Test
    void predictionBuffersCheckTheirArguments() {
        LayerPredictions p = new LayerPredictions(4, 8, 3);
        assertEquals(1, p.reset(0, 2, 3)); // clipped to the layers left in the token
        assertThrows(IllegalArgumentException.class, () -> p.set(2, 0, 0.5f));
        assertThrows(IllegalArgumentException.class, () -> p.set(1, 8, 0.5f));
        assertThrows(IllegalArgumentException.class, () -> p.set(1, 0, 1.5f));
        assertThrows(IllegalArgumentException.class, () -> p.reset(0, 4, 1));
        p.set(1, 3, 0.25f);
        p.reset(1, 0, 3);
        float[] row = new float[8];
        for (int e = 0; e < 8; e++) row[e] = p.probability(1, e);
        assertArrayEquals(new float[8], row, "reset clears the previous batch");
        assertThrows(IllegalArgumentException.class, () -> new SchedulerConfig(0, 1, 0.5, 0.8, 2, 8, 4, 0.5, 0.9, 0.05, 8));
        assertThrows(IllegalArgumentException.class, () -> new SchedulerConfig(2, 1, 0.5, 0, 2, 8, 4, 0.5, 0.9, 0.05, 8));
        assertThrows(IllegalArgumentException.class, () -> new SchedulerConfig(2, 1, 0.5, 0.8, 2, 8, 9, 0.5, 0.9, 0.05, 8));
        SchedulerConfig d = SchedulerConfig.defaults(100, 2);
        assertEquals(100, d.inFlightBudgetBytes()); // one copy in flight
        assertEquals(2, d.maxPerTargetLayer());
    }
}
