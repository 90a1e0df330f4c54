package dev.lookahead.cli;

import dev.lookahead.cli.CliRunner.Run;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.expert.ReplaySimulator;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;
import dev.lookahead.sched.HistoryPredictor;
import dev.lookahead.sched.ScheduledReplay;
import dev.lookahead.sched.SchedulerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static dev.lookahead.cli.CliRunner.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReplayCommandTest {
    @TempDir
    Path dir;

    /** 4 layers, 8 experts, top-2, 40 tokens of one problem, plus one token with a missing layer. */
    private Path writeTrace() throws IOException {
        SplittableRandom rnd = new SplittableRandom(5);
        List<String> lines = new ArrayList<>();
        for (int t = 0; t < 40; t++) {
            for (int l = 0; l < 4; l++) {
                int a = rnd.nextInt(8), b = (a + 1 + rnd.nextInt(7)) % 8;
                lines.add("{\"dataset\": \"x\", \"problem_id\": 0, \"layer\": " + l + ", \"experts\": [" + a + ", " + b
                        + "], \"gating_probs\": [0.5, 0.5], \"token_idx\": " + t + "}");
            }
        }
        lines.add("{\"dataset\": \"x\", \"problem_id\": 0, \"layer\": 0, \"experts\": [1, 2], \"token_idx\": 40}");
        Path f = dir.resolve("trace.jsonl");
        Files.write(f, lines);
        return f;
    }

    @Test
    void printsTheComparisonTable() throws IOException {
        Path trace = writeTrace();
        Run r = run("replay", trace.toString(), "--slots-per-layer", "3", "--sweep", "2..4", "--per-layer");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("40 tokens of 1 problem(s), 4 layers, 8 experts, top-2; 1 token(s) skipped"), r.out());
        for (String policy : List.of("mixtral-offloading", "belady ", "belady-global")) {
            assertTrue(r.out().contains(policy), policy + " missing:\n" + r.out());
        }
        assertTrue(r.out().contains("3 slots/layer") && r.out().contains("12-slot pool"), r.out());
        long sweepRows = r.out().lines().filter(l -> l.matches("^[234]( +\\d+\\.\\d+){6}$")).count();
        assertEquals(3, sweepRows, r.out());
        long layerRows = r.out().lines().filter(l -> l.matches("^[0-3] +0\\.\\d{4} +0\\.\\d{4} +0\\.\\d{4}$")).count();
        assertEquals(4, layerRows, r.out());
    }

    @Test
    void jsonReportMatchesTheSimulator() throws IOException {
        Path trace = writeTrace();
        Run r = run("replay", trace.toString(), "--json", "-k", "3", "--policy", "next-layer", "--predictor", "oracle",
                "--recall", "0.9", "--expert-mib", "10", "--link-gbps", "12.5", "--layer-ms", "0.2");
        assertEquals(0, r.code(), r.err());
        JsonNode root = JsonMapper.builder().build().readTree(r.out());
        JsonNode t = root.get("traces").get(0);
        assertEquals(40, t.get("tokens").asInt());
        assertEquals(1, t.get("skipped_tokens").asInt());
        JsonNode results = t.get("results");
        assertEquals(List.of("next-layer", "mixtral-offloading", "belady", "belady-global"),
                List.of(results.get(0).get("policy").asText(), results.get(1).get("policy").asText(),
                        results.get(2).get("policy").asText(), results.get(3).get("policy").asText()));
        RoutingTrace rt = RoutingTrace.read(trace);
        TimingModel timing = new TimingModel(10, 12.5, 0.2);
        var belady = ReplaySimulator.run(rt, ResidencyPolicies.byName("belady"), 3, timing, null);
        assertEquals(belady.hitRate(), results.get(2).get("hit_rate").asDouble(), 1e-12);
        assertEquals(belady.msPerToken(), results.get(2).get("ms_per_token").asDouble(), 1e-9);
        assertEquals(1.0, results.get(1).get("speedup_vs_lru").asDouble(), 1e-12);
        assertTrue(results.get(0).get("prefetches_issued").asLong() > 0);
        assertTrue(results.get(0).get("predictor").asText().startsWith("oracle"));
    }

    /** A second trace of the same shape, another seed: the training trace of the lookahead tests. */
    private Path writeTrainTrace() throws IOException {
        SplittableRandom rnd = new SplittableRandom(9);
        List<String> lines = new ArrayList<>();
        for (int t = 0; t < 30; t++) {
            for (int l = 0; l < 4; l++) {
                int a = rnd.nextInt(8), b = (a + 1 + rnd.nextInt(7)) % 8;
                lines.add("{\"dataset\": \"y\", \"problem_id\": 0, \"layer\": " + l + ", \"experts\": [" + a + ", " + b
                        + "], \"token_idx\": " + t + "}");
            }
        }
        Path f = dir.resolve("train.jsonl");
        Files.write(f, lines);
        return f;
    }

    @Test
    void lookaheadPrintsTheSchedulerReportAndTheWhatIfRows() throws IOException {
        Path trace = writeTrace();
        Path train = writeTrainTrace();
        Run r = run("replay", trace.toString(), "--policy", "lookahead", "--train-trace", train.toString(), "-k", "3",
                "--horizon", "2", "--what-if", "0.8,1.0");
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        assertTrue(out.lines().anyMatch(l -> l.startsWith("lookahead ") && l.contains("3 slots/layer")), out);
        assertTrue(out.contains("predictor: history(train.jsonl), learned from") && out.contains("(30 tokens)"), out);
        assertTrue(out.matches("(?s).*prediction recall@k by distance d: d1 0\\.\\d{3} d2 0\\.\\d{3}; all 0\\.\\d{3}.*"), out);
        assertTrue(out.contains("speculative copies: ") && out.contains("LRU -> belady gap closed: hit rate "), out);
        assertTrue(out.matches("(?s).*eviction followed \\(shadow caches; routing recurrence 8 tokens\\): predictor\\+recurrence"
                + " \\d+ %, predictor \\d+ %, recurrence \\d+ %, per-layer recent uses \\(no estimate beat LRU\\) \\d+ % of the lookups.*"), out);
        assertTrue(out.contains("WHAT-IF: oracle predictor of recall r"), out);
        long rows = out.lines().filter(l -> l.matches("^(0\\.80|1\\.00) +(default|p>=0\\.5|uncapped) +0\\.\\d{4} .*")).count();
        assertEquals(6, rows, out);
    }

    @Test
    void lookaheadJsonMatchesTheScheduledReplay() throws IOException {
        Path trace = writeTrace();
        Path train = writeTrainTrace();
        Run r = run("replay", trace.toString(), "--json", "--policy", "lookahead-global", "--train-trace",
                train.toString(), "-k", "3", "--horizon", "3", "--budget-copies", "2", "--min-probability", "0.3",
                "--target-recall", "0", "--what-if", "none");
        assertEquals(0, r.code(), r.err());
        JsonNode t = JsonMapper.builder().build().readTree(r.out()).get("traces").get(0);
        JsonNode mine = t.get("results").get(0);
        assertEquals("lookahead-global", mine.get("policy").asText());
        JsonNode s = t.get("scheduler");
        assertEquals(3, s.get("config").get("horizon").asInt());
        assertEquals(2, s.get("config").get("in_flight_budget_copies").asInt());
        assertEquals(3, s.get("recall_at_k").size());
        assertEquals("belady-global", s.get("ceiling").asText());
        assertEquals(0, t.get("what_if").size());

        RoutingTrace rt = RoutingTrace.read(trace);
        TimingModel timing = TimingModel.MIXTRAL_4BIT_PCIE4;
        SchedulerConfig c = SchedulerConfig.defaults(timing.expertBytes(), 2).withHorizon(3)
                .withBudget(2 * timing.expertBytes()).withMinProbability(0.3).withThrottle(0, 0.95);
        ScheduledReplay.Result expected = ScheduledReplay.run(rt, ResidencyPolicies.byName("lookahead-global"), 3, timing,
                HistoryPredictor.learn(RoutingTrace.read(train), 3, HistoryPredictor.Params.DEFAULT), c);
        assertEquals(expected.result().hitRate(), mine.get("hit_rate").asDouble(), 1e-12);
        assertEquals(expected.result().msPerToken(), mine.get("ms_per_token").asDouble(), 1e-9);
        assertEquals(expected.scheduler().speculativeIssued(), s.get("speculative_issued").asLong());
        assertEquals(expected.scheduler().wastedBytes(), s.get("wasted_bytes").asLong());
        assertEquals(expected.recall().recall(1), s.get("recall_at_k").get(0).get("recall").asDouble(), 1e-12);
        assertEquals(SchedulerConfig.DEFAULT_RECURRENCE_TOKENS, s.get("config").get("recurrence_tokens").asInt());
        JsonNode f = s.get("eviction_followed_lookups");
        assertEquals(expected.followed().recurrence(), f.get("recurrence").asLong());
        assertEquals(expected.followed().lookups(), f.get("predictor_and_recurrence").asLong() + f.get("predictor").asLong()
                + f.get("recurrence").asLong() + f.get("lru").asLong(), "every lookup followed one estimate or LRU");
    }

    @Test
    void lookaheadOptionErrorsGiveOneClearLine() throws IOException {
        Path trace = writeTrace();
        Run r = run("replay", trace.toString(), "--policy", "lookahead");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--policy lookahead needs --train-trace FILE"), r.err());
        r = run("replay", trace.toString(), "--train-trace", trace.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("apply to --policy lookahead / lookahead-global only"), r.err());
        r = run("replay", trace.toString(), "--policy", "lookahead", "--train-trace", trace.toString(), "--what-if", "2");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--what-if must be recalls in [0, 1]"), r.err());
        r = run("replay", trace.toString(), "--policy", "lookahead", "--predictor", "previous-token");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("unknown --predictor 'previous-token' for lookahead"), r.err());
        // the oracle needs no training trace; the evaluated trace used for training is flagged as in-sample
        r = run("replay", trace.toString(), "--policy", "lookahead", "--predictor", "oracle", "--recall", "0.9",
                "--what-if", "none");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("predictor: oracle(recall 0.9), WHAT-IF"), r.out());
        r = run("replay", trace.toString(), "--policy", "lookahead", "--train-trace", trace.toString(), "--what-if", "none");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("in-sample"), r.err());
    }

    @Test
    void beladyHorizonsPrintATableAndJson() throws IOException {
        Path trace = writeTrace();
        Run r = run("replay", trace.toString(), "-k", "3", "--belady-horizons", "1,2,100");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("Belady seeing only the next N tokens"), r.out());
        List<String> rows = r.out().lines().filter(l -> l.matches("^(1|2|100|all) +0\\.\\d{4} .*")).toList();
        assertEquals(4, rows.size(), r.out());
        // 100 tokens is the whole 40-token trace: the full-future Belady row
        assertEquals(rows.get(3).replaceFirst("^all", ""), rows.get(2).replaceFirst("^100", ""), r.out());
        r = run("replay", trace.toString(), "--json", "--belady-horizons", "2");
        assertEquals(0, r.code(), r.err());
        JsonNode h = JsonMapper.builder().build().readTree(r.out()).get("traces").get(0).get("belady_horizons");
        assertEquals(2, h.get(0).get("tokens").asInt());
        assertTrue(h.get(0).get("pool_speedup_vs_lru").asDouble() > 0, h.toString());
        r = run("replay", trace.toString(), "--belady-horizons", "0");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--belady-horizons must be token counts >= 1"), r.err());
    }

    @Test
    void tokensAheadRecallsAreOracleOptions() throws IOException {
        Path trace = writeTrace();
        Run r = run("replay", trace.toString(), "--policy", "lookahead", "--predictor", "oracle", "--recall", "0.9",
                "--next-token-recall", "1", "--two-token-recall", "0.5", "--what-if", "none");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("predictor: oracle(recall 0.9, next token 1.0, two tokens ahead 0.5), WHAT-IF"), r.out());
        r = run("replay", trace.toString(), "--policy", "lookahead", "--predictor", "oracle", "--recall", "0.9",
                "--two-token-recall", "0.5");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--two-token-recall needs --next-token-recall"), r.err());
        r = run("replay", trace.toString(), "--policy", "lookahead", "--predictor", "oracle", "--recall", "0.9",
                "--next-token-recall", "1.5");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("recall must be in [0, 1], got 1.5"), r.err());
        r = run("replay", trace.toString(), "--policy", "lookahead", "--train-trace", trace.toString(),
                "--next-token-recall", "0.5");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("apply to --predictor oracle only"), r.err());
        r = run("replay", trace.toString(), "--next-token-recall", "0.5");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("apply to --policy lookahead / lookahead-global only"), r.err());
    }

    @Test
    void userErrorsGiveOneClearLine() throws IOException {
        Path trace = writeTrace();
        Run r = run("replay", trace.toString(), "--policy", "nope");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("unknown residency policy 'nope'; known: mixtral-offloading"), r.err());
        r = run("replay", trace.toString(), "--sweep", "6..2");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--sweep must be A..B"), r.err());
        r = run("replay", trace.toString(), "--policy", "next-layer", "--predictor", "oracle");
        assertTrue(r.err().contains("needs --recall"), r.err());
        r = run("replay", trace.toString(), "-k", "1");
        assertTrue(r.err().contains("top-2"), r.err());
        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"problem_id\": 0, \"token_idx\": 0, \"layer\": 0, \"experts\": [1, 2]}\nnot json\n");
        r = run("replay", bad.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("bad.jsonl:2: bad JSON"), r.err());
        r = run("replay", dir.resolve("missing.jsonl").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("routing trace not found: ") && r.err().contains("missing.jsonl"), r.err());
        r = run("replay", trace.toString(), "--policy", "lookahead", "--train-trace", dir.resolve("gone.jsonl").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("routing trace not found: ") && r.err().contains("gone.jsonl"), r.err());
    }
}
