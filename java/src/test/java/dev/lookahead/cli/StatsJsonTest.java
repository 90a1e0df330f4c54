package dev.lookahead.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.cli.CliRunner.Run;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static dev.lookahead.cli.CliRunner.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `generate --stats-json`: the same statistics for the baseline and the lookahead policy, and consistent with each other. */
class StatsJsonTest {
    static final int LAYERS = 3, TOP_K = 2, TOKENS = 12;

    @TempDir
    static Path tmp;
    static Path model;

    @BeforeAll
    static void createQuantizedModel() {
        model = tmp.resolve("q");
        Run r = run("create-model", model.toString(), "--layers", String.valueOf(LAYERS), "--experts", "8", "--top-k",
                String.valueOf(TOP_K), "--hidden", "64", "--intermediate", "128", "--heads", "4", "--kv-heads", "2",
                "--expert-bits", "4", "--seed", "3");
        assertEquals(0, r.code(), r.err());
    }

    static JsonNode generate(String policy) throws Exception {
        Path json = tmp.resolve(policy + ".json");
        Run r = run("generate", model.toString(), "-p", "one two three", "-n", String.valueOf(TOKENS), "--backend", "cpu",
                "--policy", policy, "-k", "4", "--stats-json", json.toString());
        assertEquals(0, r.code(), r.err());
        return JsonMapper.builder().build().readTree(json.toFile());
    }

    /** What every offloading policy reports: lookups of every decoded token, per layer, adding up. */
    static JsonNode checkExperts(JsonNode stats) {
        JsonNode e = stats.get("experts");
        long decoded = stats.get("timings").get("decode_tokens").asLong();
        assertEquals(decoded * LAYERS * TOP_K, e.get("lookups").asLong(), "a lookup per decoded token, layer and choice");
        long hits = 0, misses = 0;
        for (JsonNode l : e.get("per_layer")) {
            hits += l.get("hits").asLong();
            misses += l.get("misses").asLong();
        }
        assertEquals(LAYERS, e.get("per_layer").size());
        assertEquals(e.get("hits").asLong(), hits);
        assertEquals(e.get("lookups").asLong(), hits + misses);
        assertEquals((double) hits / (hits + misses), e.get("hit_rate").asDouble(), 1e-12);
        assertTrue(e.get("link_bytes").asLong() >= e.get("bytes_copied").asLong(), "the link carries at least the admissions");
        return e;
    }

    @Test
    void baselineAndLookaheadReportTheSameStatisticsAndTheLookaheadOnesAddUp() throws Exception {
        JsonNode mo = checkExperts(generate("mixtral-offloading"));
        assertFalse(mo.has("staging"), "the baseline stages nothing");
        assertFalse(mo.has("scheduled_lookups"), "nor schedules");
        assertEquals(mo.get("bytes_copied").asLong(), mo.get("link_bytes").asLong(), "its copies are its admissions");
        // every miss of the baseline is a copy: the layers that issued one lie between misses / top-k and misses
        long misses = mo.get("lookups").asLong() - mo.get("hits").asLong();
        long issuing = mo.get("demand_issue_layers").asLong();
        assertTrue(misses > 0 && issuing >= (misses + TOP_K - 1) / TOP_K && issuing <= misses,
                issuing + " layers issued demand copies for " + misses + " misses");
        double issueMicros = mo.get("demand_issue_us_mean").asDouble();
        assertTrue(issueMicros > 0 && issueMicros < 1e6, "host time to the first demand copy: " + issueMicros + " us");

        JsonNode la = checkExperts(generate("lookahead"));
        assertEquals(la.get("lookups").asLong(), la.get("scheduled_lookups").asLong(), "the scheduler sees every lookup");
        long untrusted = la.get("untrusted_lookups").asLong();
        long recurrence = la.get("recurrence_lookups").asLong();
        long both = la.get("heads_and_recurrence_lookups").asLong();
        long heads = la.get("heads_lookups").asLong();
        assertTrue(untrusted >= 0 && recurrence >= 0 && both >= 0 && heads >= 0, "counts");
        assertEquals(la.get("scheduled_lookups").asLong(), untrusted + recurrence + both + heads,
                "each lookup follows exactly one source, or LRU");
        assertEquals(0, la.get("layer_shares_kept_lookups").asLong(), "per-layer slots keep their shares anyway");
        assertFalse(mo.has("heads_recall_at_k"), "the baseline has no heads");
        JsonNode recall = la.get("heads_recall_at_k");
        assertTrue(recall.size() > 0 && recall.get(0).get("distance").asInt() == 1, "recall from distance 1: " + recall);
        for (JsonNode d : recall) {
            assertTrue(d.get("scored").asLong() > 0 && d.get("recall").asDouble() >= 0 && d.get("recall").asDouble() <= 1,
                    d.toString());
        }
        assertFalse(mo.has("token_recurrence"), "the baseline has no token recurrence");
        JsonNode tr = la.get("token_recurrence");
        assertTrue(tr.get("tokens").asLong() > 0, "decode tokens: " + tr);
        assertTrue(tr.get("predicted_tokens").asLong() <= tr.get("tokens").asLong(), tr.toString());
        assertTrue(tr.get("chosen_experts").asLong() <= tr.get("predicted_experts").asLong(), tr.toString());
        JsonNode s = la.get("staging");
        assertTrue(s.get("bytes_used").asLong() <= s.get("bytes_staged").asLong());
        assertEquals(s.get("bytes_staged").asLong() - s.get("bytes_used").asLong(), s.get("bytes_wasted").asLong());
        assertTrue(s.get("bytes_displaced_by_bypass").asLong() + s.get("bytes_given_up").asLong()
                <= s.get("bytes_wasted").asLong(), "the named losses are part of the wasted bytes: " + s);
        assertTrue(s.get("windows_planned").asLong() + s.get("windows_throttled").asLong() > 0, "a window per decoded layer");
        double window = s.get("window_ms").asDouble();
        assertTrue(window > 0, "windows were measured: " + s);
        assertTrue(s.get("window_idle_below_budget_ms").asDouble() >= 0 && s.get("window_idle_beyond_budget_ms").asDouble() >= 0
                && s.get("staged_past_window_ms").asDouble() >= 0, s.toString());
        assertTrue(s.get("window_idle_below_budget_ms").asDouble() + s.get("window_idle_beyond_budget_ms").asDouble()
                <= window + 1e-6, "the link's idle time in the windows lies inside them: " + s);
        for (String key : new String[] {"lookups", "hits", "hit_rate", "bytes_copied", "link_bytes", "decode_stall_ms",
                "prefetches_issued", "per_layer"}) {
            assertTrue(mo.has(key) && la.has(key), key + " in both");
        }
    }
}
