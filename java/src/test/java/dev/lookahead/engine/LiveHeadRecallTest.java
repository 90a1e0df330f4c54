package dev.lookahead.engine;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LiveHeadRecallTest {
    private static float[] favouring(int experts, int... best) {
        float[] p = new float[experts];
        for (int i = 0; i < best.length; i++) p[best[i]] = 1f - 0.1f * i;
        return p;
    }

    @Test
    void scoresEachPredictionWhenItsStepRuns() {
        LiveHeadRecall r = new LiveHeadRecall(8, 2, 4);
        r.predicted(10, 1, favouring(8, 3, 5));      // for step 11
        r.predicted(10, 4, favouring(8, 0, 1));      // for step 14
        r.chosen(11, new int[] {5, 6}, 2);           // one of two
        r.chosen(12, new int[] {0, 1}, 2);           // nothing predicted for 12
        r.chosen(14, new int[] {1, 0}, 2);           // both
        assertEquals(0.5, r.recall(1), 1e-12);
        assertEquals(1.0, r.recall(4), 1e-12);
        assertTrue(Double.isNaN(r.recall(2)));
        assertArrayEquals(new int[] {1, 4}, r.distances());
        assertEquals(2, r.scored(1));
        r.chosen(14, new int[] {2, 3}, 2);           // a prediction is scored once
        assertEquals(2, r.scored(4));
    }

    @Test
    void aNewerPredictionForTheSameStepAndDistanceReplacesTheOld() {
        LiveHeadRecall r = new LiveHeadRecall(4, 1, 2);
        r.predicted(0, 2, favouring(4, 1));
        r.predicted(0, 2, favouring(4, 2));
        r.chosen(2, new int[] {2}, 1);
        assertEquals(1.0, r.recall(2), 1e-12);
    }

    @Test
    void matchesACountOverRandomPredictions() {
        // property: over a long random run, the live count equals a direct count of the same predictions
        int experts = 8, k = 2, layers = 4, maxD = 2 * layers;
        LiveHeadRecall r = new LiveHeadRecall(experts, k, maxD);
        Random rnd = new Random(7);
        int steps = 4000;
        int[][] truth = new int[steps][];
        for (int s = 0; s < steps; s++) {
            int a = rnd.nextInt(experts), b = (a + 1 + rnd.nextInt(experts - 1)) % experts;
            truth[s] = new int[] {a, b};
        }
        int[][][] predictedTop = new int[steps][maxD + 1][];
        for (int s = 0; s < steps; s++) {
            r.chosen(s, truth[s], 2);
            for (int d : new int[] {1, 3, layers, 2 * layers}) {
                float[] p = new float[experts];
                for (int e = 0; e < experts; e++) p[e] = rnd.nextFloat();
                if (s + d < steps) p[truth[s + d][0]] += rnd.nextFloat() * 0.5f; // informative, not perfect
                r.predicted(s, d, p);
                int first = 0;
                for (int e = 1; e < experts; e++) if (p[e] > p[first]) first = e;
                int second = first == 0 ? 1 : 0;
                for (int e = 0; e < experts; e++) if (e != first && p[e] > p[second]) second = e;
                predictedTop[s][d] = new int[] {first, second};
            }
        }
        for (int d : new int[] {1, 3, layers, 2 * layers}) {
            long hit = 0, all = 0;
            for (int s = 0; s + d < steps; s++) {
                for (int e : truth[s + d]) {
                    if (e == predictedTop[s][d][0] || e == predictedTop[s][d][1]) hit++;
                    all++;
                }
            }
            assertEquals((double) hit / all, r.recall(d), 1e-12, "distance " + d);
            assertTrue(r.recall(d) > 0.3, "informative predictions beat chance (0.25)");
        }
    }

    @Test
    void misuseIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new LiveHeadRecall(2, 3, 1));
        LiveHeadRecall r = new LiveHeadRecall(4, 1, 2);
        assertThrows(IllegalArgumentException.class, () -> r.predicted(0, 3, new float[4]));
    }
}
