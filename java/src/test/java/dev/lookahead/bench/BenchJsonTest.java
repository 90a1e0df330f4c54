package dev.lookahead.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.sched.EvictionFollowed;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchJsonTest {
    private static final long EXPERT = 1 << 20;

    private static PolicyBench.Row row(String policy, double[] tps, double mib, PolicyBench.SelfChecks checks) {
        List<PolicyBench.RoundSample> rounds = java.util.Arrays.stream(tps).mapToObj(t -> new PolicyBench.RoundSample(t, mib)).toList();
        return new PolicyBench.Row(policy, Rounds.median(tps), 0.5, 1.0, mib, 0, 0, true, rounds, checks, Double.NaN);
    }

    @Test
    void rowsCarryRoundRatiosBoundsAndSelfChecksWithNullsForMissingValues() throws Exception {
        // 2 layers x top-2 = 4 lookups per token; LRU 0.5, Belady 0.75 per layer
        HitRateCeilings ceilings = new HitRateCeilings(10, 2, 4, 0.5, 0.75, 0.8, 0.7, 0.7);
        PolicyBench.Staged staged = new PolicyBench.Staged(1.0, 8, 6, 0.5, 0.25, 0.125, 0.0625, 0.1,
                new PolicyBench.Windows(0.8, 0.25, 0.125, 0.0625));
        PolicyBench.SelfChecks checks = new PolicyBench.SelfChecks(new EvictionFollowed(100, 40, 30, 20, 10, 5), staged,
                0.9, Double.NaN, 0.7, 0.85);
        PolicyBench.Result result = new PolicyBench.Result(List.of(
                row("all-resident", new double[] {100, 100}, 0, PolicyBench.SelfChecks.NONE),
                row("mixtral-offloading", new double[] {10, 20}, 2.0, PolicyBench.SelfChecks.NONE),
                row("lookahead", new double[] {15, 24}, 1.5, checks)), ceilings, 10.0, EXPERT * 1000.0, EXPERT);
        ObjectNode o = new ObjectMapper().createObjectNode();
        BenchJson.fill(o, result, "mixtral-offloading");
        JsonNode rows = o.get("rows");
        assertEquals(3, rows.size());
        // round ratios 1.5 and 1.2: median 1.35
        JsonNode speedup = rows.get(2).get("speedup");
        assertEquals(1.35, speedup.get("median").asDouble(), 1e-12);
        assertEquals(1.2, speedup.get("min").asDouble(), 1e-12);
        assertEquals(1.5, speedup.get("max").asDouble(), 1e-12);
        // bound per round: max(10 ms, 1.5 MiB / 1000 MiB/s = 1.5 ms) = 10 ms; time 1000/15 and 1000/24 ms -> medians
        assertEquals(Rounds.median(new double[] {1000 / 15.0 / 10, 1000 / 24.0 / 10}),
                rows.get(2).get("time_over_overlap_bound").asDouble(), 1e-12);
        // 1 - 2 experts copied / 4 lookups = 0.5: LRU's, 0 % of the gap
        assertEquals(0.5, rows.get(1).get("effective_hit_rate").asDouble(), 1e-12);
        assertEquals(0.0, rows.get(1).get("effective_gap_closed").asDouble(), 1e-12);
        assertTrue(rows.get(1).get("demand_issue_us").isNull(), "NaN is written as null");
        assertFalse(rows.get(0).has("time_over_overlap_bound"), "all-resident has no bound");
        assertFalse(rows.get(1).has("self_checks"));
        JsonNode c = rows.get(2).get("self_checks");
        assertEquals(10, c.get("eviction_followed").get("recent_uses").asLong());
        assertEquals(0.9, c.get("heads_recall_next_layer").asDouble(), 1e-12);
        assertTrue(c.get("heads_recall_next_token").isNull());
        assertEquals(0.7, c.get("token_recurrence_coverage").asDouble(), 1e-12);
        assertEquals(0.85, c.get("token_recurrence_precision").asDouble(), 1e-12);
        // eviction alone: 1 MiB per token needed by misses = 1 copy of 4 lookups -> 0.75, the whole gap
        assertEquals(0.75, c.get("eviction_alone_hit_rate").asDouble(), 1e-12);
        assertEquals(1.0, c.get("eviction_alone_gap_closed").asDouble(), 1e-12);
        assertEquals(0.125, c.get("staging").get("displaced_by_bypass_mib_per_token").asDouble(), 1e-12);
        assertEquals(0.0625, c.get("staging").get("given_up_mib_per_token").asDouble(), 1e-12);
        assertEquals(0.25, staged.wastedMiBPerToken(), 1e-12);
        JsonNode g = c.get("staging");
        assertEquals(0.8, g.get("window_ms_per_token").asDouble(), 1e-12);
        assertEquals(0.25, g.get("window_idle_below_budget_ms_per_token").asDouble(), 1e-12);
        assertEquals(0.125, g.get("window_idle_beyond_budget_ms_per_token").asDouble(), 1e-12);
        assertEquals(0.0625, g.get("staged_past_window_ms_per_token").asDouble(), 1e-12);
        assertEquals(0.375, staged.windows().idleMs(), 1e-12);
        assertEquals(0.75, o.get("ceilings").get("belady_per_layer").asDouble(), 1e-12);
        assertEquals(2, o.get("rounds").asInt());
        assertFalse(new ObjectMapper().writeValueAsString(o).contains("NaN"), "no NaN anywhere: JSON has none");
    }
}
