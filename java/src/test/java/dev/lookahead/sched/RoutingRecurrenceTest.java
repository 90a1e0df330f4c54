package dev.lookahead.sched;

import dev.lookahead.expert.NextUseEstimator;
import dev.lookahead.expert.Steps;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RoutingRecurrenceTest {
    /** Two distinct experts; layer 0's pair is unique within {@code used} when given. */
    private static int[] pair(SplittableRandom rnd, int experts, Set<Long> used) {
        while (true) {
            int a = rnd.nextInt(experts);
            int b = (a + 1 + rnd.nextInt(experts - 1)) % experts;
            if (used == null || used.add((long) Math.min(a, b) * experts + Math.max(a, b))) return new int[] {a, b};
        }
    }

    /** [token][layer] -> two experts; layer 0's pairs all differ within the first {@code distinctTokens} tokens. */
    private static int[][][] routing(long seed, int tokens, int layers, int experts, int period) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Set<Long> layer0 = new HashSet<>();
        int[][][] r = new int[tokens][layers][];
        for (int t = 0; t < tokens; t++) {
            for (int l = 0; l < layers; l++) {
                r[t][l] = t >= period ? r[t - period][l] : pair(rnd, experts, l == 0 ? layer0 : null);
            }
        }
        return r;
    }

    /** Steps from (t, layerNow) to the next use of expert e of layer m in {@code r}, or NEVER. */
    private static long trueDistance(int[][][] r, int t, int layerNow, int m, int e) {
        int layers = r[0].length;
        long now = Steps.of(t, layerNow, layers);
        for (int u = m > layerNow ? t : t + 1; u < r.length; u++) {
            for (int x : r[u][m]) {
                if (x == e) return Steps.of(u, m, layers) - now;
            }
        }
        return NextUseEstimator.NEVER;
    }

    @Test
    void repeatingRoutingIsPredictedExactly() {
        int layers = 4, experts = 8, period = 5, tokens = 40;
        int[][][] r = routing(3, tokens, layers, experts, period);
        RoutingRecurrence rec = new RoutingRecurrence(layers, experts, 8);
        int checked = 0;
        for (int t = 0; t < tokens; t++) {
            for (int l = 0; l < layers; l++) {
                rec.observe(t, l, r[t][l], 2);
                // two periods of history: every source either finds an expert's next use or abstains, and they agree
                if (t < 2 * period || t + period >= tokens) continue;
                long now = Steps.of(t, l, layers);
                for (int m = 0; m < layers; m++) {
                    for (int e = 0; e < experts; e++) {
                        long expected = trueDistance(r, t, l, m, e);
                        boolean inPeriod = expected != NextUseEstimator.NEVER && expected <= (long) period * layers + layers;
                        assertEquals(inPeriod ? expected : NextUseEstimator.NEVER, rec.nextUseDistance(m, e, now),
                                "token " + t + " layer " + l + ": expert " + e + " of layer " + m);
                        checked++;
                    }
                }
            }
        }
        assertTrue(checked > 1000, "checked " + checked);
    }

    @Test
    void estimatesDoNotDependOnWhenTheyWereAskedFor() {
        // one recurrence asked at every step (its per-layer estimates are reused across steps), one asked at a few
        // random steps only (computed afresh there): a stale reuse would make them differ
        int layers = 5, experts = 8, tokens = 300;
        int[][][] r = new int[tokens][layers][];
        SplittableRandom rnd = new SplittableRandom(13);
        for (int t = 0; t < tokens; t++) {
            for (int l = 0; l < layers; l++) {
                // a phrase of 7 tokens recurs now and then among random routing, so sources come and go
                r[t][l] = t % 23 < 7 && t >= 23 ? r[t - 23][l] : pair(rnd, experts, null);
            }
        }
        RoutingRecurrence always = new RoutingRecurrence(layers, experts, 8);
        RoutingRecurrence sometimes = new RoutingRecurrence(layers, experts, 8);
        int compared = 0, predicted = 0;
        for (int t = 0; t < tokens; t++) {
            for (int l = 0; l < layers; l++) {
                always.observe(t, l, r[t][l], 2);
                sometimes.observe(t, l, r[t][l], 2);
                long now = Steps.of(t, l, layers);
                long[] every = new long[layers * experts];
                for (int m = 0; m < layers; m++) {
                    for (int e = 0; e < experts; e++) every[m * experts + e] = always.nextUseDistance(m, e, now);
                }
                if (rnd.nextInt(7) != 0) continue;
                for (int m = 0; m < layers; m++) {
                    for (int e = 0; e < experts; e++) {
                        long d = sometimes.nextUseDistance(m, e, now);
                        assertEquals(d, every[m * experts + e], "token " + t + " layer " + l + ": expert " + e + " of layer " + m);
                        compared++;
                        if (d != NextUseEstimator.NEVER) predicted++;
                    }
                }
            }
        }
        assertTrue(compared > 5000 && predicted > 500, compared + " compared, " + predicted + " predicted");
    }

    @Test
    void routingThatNeverRepeatsPredictsNothing() {
        // 100 experts: two words per mask; every token's first layer is a pair not seen before, so no key matches
        int layers = 3, experts = 100, tokens = 200;
        int[][][] r = routing(5, tokens, layers, experts, tokens);
        RoutingRecurrence rec = new RoutingRecurrence(layers, experts, 8);
        for (int t = 0; t < tokens; t++) {
            for (int l = 0; l < layers; l++) {
                rec.observe(t, l, r[t][l], 2);
                for (int m = 0; m < layers; m++) {
                    for (int e = 0; e < experts; e += 7) {
                        assertEquals(NextUseEstimator.NEVER, rec.nextUseDistance(m, e, Steps.of(t, l, layers)));
                    }
                }
            }
        }
    }

    @Test
    void aRepeatOlderThanTheHistoryIsForgotten() {
        int layers = 2, experts = 120;
        int distinct = RoutingRecurrence.HISTORY_TOKENS + 50;
        int[][][] r = routing(9, distinct, layers, experts, distinct);
        RoutingRecurrence rec = new RoutingRecurrence(layers, experts, 4);
        for (int t = 0; t < distinct; t++) {
            for (int l = 0; l < layers; l++) rec.observe(t, l, r[t][l], 2);
        }
        // token 0's routing again, and then token 1's: token 0 has left the ring, so nothing is predicted
        rec.observe(distinct, 0, r[0][0], 2);
        for (int e = 0; e < experts; e++) {
            assertEquals(NextUseEstimator.NEVER, rec.nextUseDistance(1, e, Steps.of(distinct, 0, layers)));
        }
        // a recent token's routing again: its successor's experts are predicted
        int recent = distinct - 10;
        rec.observe(distinct, 1, r[0][1], 2);
        rec.observe(distinct + 1, 0, r[recent][0], 2);
        long now = Steps.of(distinct + 1, 0, layers);
        for (int e : r[recent + 1][1]) assertTrue(rec.nextUseDistance(1, e, now) < NextUseEstimator.NEVER);
    }

    @Test
    void aTokenMatchedByItsIdsReadsWhatFollowedTheEarlierToken() {
        // routing that never repeats: no key matches, so only a match by token ids predicts anything
        int layers = 3, experts = 100, tokens = 40, earlier = 10, matched = 30;
        int[][][] r = routing(21, tokens, layers, experts, tokens);
        RoutingRecurrence withIds = new RoutingRecurrence(layers, experts, 4);
        RoutingRecurrence without = new RoutingRecurrence(layers, experts, 4);
        for (int t = 0; t <= matched; t++) {
            if (t == matched) withIds.tokenMatch(matched, earlier);
            for (int l = 0; l < layers; l++) {
                withIds.observe(t, l, r[t][l], 2);
                without.observe(t, l, r[t][l], 2);
            }
        }
        long now = Steps.of(matched, layers - 1, layers);
        for (int m = 0; m < layers; m++) {
            for (int e = 0; e < experts; e++) {
                // the earlier token's successors, one token apart, are read as the matched token's next ones
                long expected = NextUseEstimator.NEVER;
                for (int j = 1; j <= 4 && expected == NextUseEstimator.NEVER; j++) {
                    for (int x : r[earlier + j][m]) {
                        if (x == e) expected = Steps.of(matched + j, m, layers) - now;
                    }
                }
                assertEquals(expected, withIds.nextUseDistance(m, e, now), "expert " + e + " of layer " + m);
                assertEquals(NextUseEstimator.NEVER, without.nextUseDistance(m, e, now));
            }
        }
        assertThrows(IllegalArgumentException.class, () -> withIds.tokenMatch(matched + 1, matched + 1));
        assertThrows(IllegalStateException.class, () -> withIds.tokenMatch(matched, earlier), "after its routing");
    }

    @Test
    void misuseIsRefused() {
        RoutingRecurrence rec = new RoutingRecurrence(2, 8, 4);
        assertThrows(IllegalArgumentException.class, () -> rec.observe(0, 0, new int[] {8}, 1));
        rec.observe(3, 0, new int[] {1, 2}, 2);
        assertThrows(IllegalStateException.class, () -> rec.observe(3, 0, new int[] {1, 2}, 2));
        assertThrows(IllegalStateException.class, () -> rec.observe(2, 1, new int[] {1, 2}, 2));
        assertThrows(IllegalStateException.class, () -> rec.observe(3, 2, new int[] {1, 2}, 2));
        assertThrows(IllegalArgumentException.class, () -> new RoutingRecurrence(2, 8, 0));
        assertThrows(IllegalArgumentException.class, () -> new RoutingRecurrence(0, 8, 4));
    }
}
