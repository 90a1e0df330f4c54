package dev.lookahead.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.expert.ReplaySimulator;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReplayCommandTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

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
        assertTrue(r.err().contains("missing.jsonl"), r.err());
    }
}
