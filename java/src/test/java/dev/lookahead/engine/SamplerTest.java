package dev.lookahead.engine;

import dev.lookahead.api.SamplingOptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {
    private static final float[] LOGITS = {0.1f, 2.0f, 1.5f, -1f, 1.9f, 0.0f};

    @Test
    void greedyTakesTheArgmax() {
        Sampler s = new Sampler(SamplingOptions.greedy(), LOGITS.length);
        assertEquals(1, s.sample(LOGITS.clone(), new int[0], 0));
    }

    @Test
    void topKOneIsGreedyAtAnyTemperature() {
        Sampler s = new Sampler(new SamplingOptions(5f, 1, 1f, 1f, 9), LOGITS.length);
        for (int i = 0; i < 50; i++) assertEquals(1, s.sample(LOGITS.clone(), new int[0], 0));
    }

    @Test
    void sameSeedSameSequenceOtherSeedOtherSequence() {
        int[] a = draw(123, 200), b = draw(123, 200), c = draw(124, 200);
        assertEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(c));
    }

    @Test
    void frequenciesFollowTheSoftmax() {
        int n = 40_000;
        int[] counts = new int[LOGITS.length];
        for (int t : draw(7, n)) counts[t]++;
        double z = 0;
        for (float l : LOGITS) z += Math.exp(l);
        for (int i = 0; i < LOGITS.length; i++) {
            double p = Math.exp(LOGITS[i]) / z;
            double sd = Math.sqrt(p * (1 - p) / n);
            assertTrue(Math.abs(counts[i] / (double) n - p) < 5 * sd + 1e-3,
                    "token " + i + ": frequency " + counts[i] / (double) n + " vs probability " + p);
        }
    }

    @Test
    void topPKeepsOnlyTheNucleus() {
        // probabilities at T=1: token1 .35, token4 .32, token2 .21 ... top-p 0.5 keeps {1, 4}
        Sampler s = new Sampler(new SamplingOptions(1f, 0, 0.5f, 1f, 3), LOGITS.length);
        for (int i = 0; i < 500; i++) {
            int t = s.sample(LOGITS.clone(), new int[0], 0);
            assertTrue(t == 1 || t == 4, "sampled " + t + " outside the nucleus");
        }
    }

    @Test
    void repetitionPenaltyDemotesSeenTokens() {
        Sampler s = new Sampler(new SamplingOptions(0f, 0, 1f, 2f, 0), LOGITS.length);
        // token 1 (2.0) penalised to 1.0: token 4 (1.9) wins
        assertEquals(4, s.sample(LOGITS.clone(), new int[] {1, 1}, 2));
    }

    @Test
    void invalidOptionsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(-1f, 0, 1f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(1f, 0, 0f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(1f, -2, 1f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(1f, 0, 1f, 0f, 0));
    }

    private static int[] draw(long seed, int n) {
        Sampler s = new Sampler(new SamplingOptions(1f, 0, 1f, 1f, seed), LOGITS.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = s.sample(LOGITS.clone(), new int[0], 0);
        return out;
    }
}
