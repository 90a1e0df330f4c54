package dev.lookahead.bench;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RoundsTest {
    @Test
    void roundRStartsAtPolicyRModPAndKeepsTheCyclicOrder() {
        List<String> p = List.of("a", "b", "c", "d");
        assertEquals(List.of("a", "b", "c", "d"), Rounds.rotated(p, 0)); // round 0: today's order
        assertEquals(List.of("b", "c", "d", "a"), Rounds.rotated(p, 1));
        assertEquals(List.of("c", "d", "a", "b"), Rounds.rotated(p, 2));
        assertEquals(List.of("d", "a", "b", "c"), Rounds.rotated(p, 3));
        assertEquals(List.of("a", "b", "c", "d"), Rounds.rotated(p, 4)); // wraps around
        assertEquals(List.of("b", "c", "d", "a"), Rounds.rotated(p, 5));
        assertThrows(IllegalArgumentException.class, () -> Rounds.rotated(p, -1));
    }

    @Test
    void medianOfOddAndEvenCounts() {
        assertEquals(3.0, Rounds.median(new double[] {5, 1, 3}));
        assertEquals(2.5, Rounds.median(new double[] {4, 1, 3, 2})); // mean of the two middle values
        assertEquals(7.0, Rounds.median(new double[] {7}));
        double[] in = {9, 1, 5};
        Rounds.median(in);
        assertArrayEquals(new double[] {9, 1, 5}, in); // the input is not sorted in place
        assertThrows(IllegalArgumentException.class, () -> Rounds.median(new double[0]));
    }

    @Test
    void perRoundRatioMedianIsNotTheRatioOfMedians() {
        // the machine ran fast in round 1 while m-o ran, slow in round 2 while the policy ran
        double[] policy = {10, 20, 30};
        double[] mo = {5, 25, 30};
        double[] ratios = Rounds.perRoundRatios(policy, mo);
        assertArrayEquals(new double[] {2.0, 0.8, 1.0}, ratios, 1e-12);
        Rounds.Spread s = Rounds.Spread.of(ratios);
        assertEquals(1.0, s.median(), 1e-12);
        assertEquals(0.8, s.min(), 1e-12);
        assertEquals(2.0, s.max(), 1e-12);
        assertEquals(3, s.rounds());
        double ratioOfMedians = Rounds.median(policy) / Rounds.median(mo);
        assertEquals(0.8, ratioOfMedians, 1e-12);
        assertThrows(IllegalArgumentException.class, () -> Rounds.perRoundRatios(policy, new double[] {1, 2}));
    }

    @Test
    void tableShowsThePerRoundRatioMedianWithItsRange() {
        PolicyBench.Row mo = new PolicyBench.Row("mixtral-offloading", 25, 0.5, 1, 2, 0, 0, true,
                List.of(new PolicyBench.RoundSample(5, 2), new PolicyBench.RoundSample(25, 2), new PolicyBench.RoundSample(30, 2)), PolicyBench.SelfChecks.NONE, Double.NaN);
        PolicyBench.Row la = new PolicyBench.Row("lookahead", 20, 0.6, 1, 2, 10, 20, true,
                List.of(new PolicyBench.RoundSample(10, 2), new PolicyBench.RoundSample(20, 2), new PolicyBench.RoundSample(30, 2)), PolicyBench.SelfChecks.NONE, Double.NaN);
        String t = PolicyBench.table(List.of(mo, la), "mixtral-offloading");
        String row = t.lines().filter(l -> l.startsWith("lookahead")).findFirst().orElseThrow();
        assertTrue(row.contains("1.00x (0.80-2.00)"), t); // not 0.80x, the ratio of the medians
        assertTrue(t.contains("medians over rounds"), t);

        // one round: today's format, no range
        String one = PolicyBench.table(List.of(new PolicyBench.Row("mixtral-offloading", 5, 0.5, 1, 2, 0, 0, true),
                new PolicyBench.Row("lookahead", 10, 0.6, 1, 2, 10, 20, true)), "mixtral-offloading");
        assertTrue(one.lines().anyMatch(l -> l.startsWith("lookahead") && l.contains(" 2.00x ") && !l.contains("(")), one);
        assertTrue(!one.contains("rounds"), one);

        // no baseline row: a dash and a line that says why, not NaNx
        String alone = PolicyBench.table(List.of(new PolicyBench.Row("lookahead", 10, 0.6, 1, 2, 10, 20, true)),
                "mixtral-offloading");
        assertTrue(!alone.contains("NaN") && alone.contains("m-o: mixtral-offloading was not benched"), alone);
        assertTrue(alone.lines().anyMatch(l -> l.startsWith("lookahead") && l.contains(" - ")), alone);
    }
}
