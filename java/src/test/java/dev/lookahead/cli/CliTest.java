package dev.lookahead.cli;

import dev.lookahead.cli.CliRunner.Run;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.reference.ReferenceMixtral;
import dev.lookahead.tokenizer.Tokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.lookahead.cli.CliRunner.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CLI end to end on a checkpoint made by create-model with the configuration
 * (3 layers, 4 experts, top-1, hidden 96, 4 heads / 2 KV heads); score against the reference.
 */
class CliTest {
    @TempDir
    static Path tmp;
    static Path model;

    @BeforeAll
    static void createModel() {
        model = tmp.resolve("m");
        Run r = run("create-model", model.toString(), "--layers", "3", "--experts", "4", "--top-k", "1",
                "--hidden", "96", "--heads", "4", "--kv-heads", "2", "--seed", "5");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("RANDOM weights"), r.err());
    }

    @Test
    void infoDescribesModelAndBackend() {
        Run r = run("info", model.toString(), "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("layers 3, hidden 96"), r.out());
        assertTrue(r.out().contains("experts 4, top-1"), r.out());
        assertTrue(r.err().contains("backend: cpu"), r.err());
    }

    /** info says whether the experts can be offloaded and which lookahead heads the model has, with their recall. */
    @Test
    void infoSaysWhatTheLookaheadPoliciesWouldRunWith() throws Exception {
        Run r = run("info", model.toString(), "--backend", "cpu");
        assertTrue(r.out().contains("experts:      not quantized") && r.out().contains("lookahead:    no heads file"), r.out());
        Path demo = Path.of("..", "models", "demo");
        String heads = InfoCommand.describeHeads(demo.resolve("lookahead-heads.safetensors"));
        // the heads file's own alignment summary agrees with the report align wrote beside it
        JsonNode report = new JsonMapper().readTree(demo.resolve("lookahead-heads.json").toFile()).get("by_distance");
        JsonNode nextLayer = report.get(0), nextToken = null;
        for (JsonNode d : report) if (nextToken == null && d.get("next_token").asBoolean()) nextToken = d;
        String expected = String.format(java.util.Locale.ROOT, "27 heads (distances 1..3, 2 more from the first layers, next"
                        + " token: two tokens); aligned, held-out recall@k (plug-and-play's): next layer %.2f (%.2f), next"
                        + " token %.2f (%.2f)", nextLayer.get("after").get("recall_k").asDouble(),
                nextLayer.get("before").get("recall_k").asDouble(), nextToken.get("after").get("recall_k").asDouble(),
                nextToken.get("before").get("recall_k").asDouble());
        assertEquals(expected, heads);
        assertTrue(InfoCommand.describeHeads(tmp.resolve("none.safetensors")).startsWith("unreadable ("));
    }

    @Test
    void generateStreamsTheRequestedTokens() {
        Run r = run("generate", model.toString(), "-p", "hello there", "-n", "8", "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("hello there"), r.out());
        assertTrue(r.err().contains("decode"), r.err());
    }

    @Test
    void generateWritesARoutingTraceInTheReferenceShape() throws Exception {
        Path trace = tmp.resolve("trace.jsonl");
        Run r = run("generate", model.toString(), "-p", "abc", "-n", "6", "--backend", "cpu", "--trace-routing", trace.toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(trace);
        // tokens 0..4 were fed back (the 6th generated token is never an input): 5 tokens x 3 layers
        assertEquals(5 * 3, lines.size(), String.join("\n", lines));
        JsonNode first = new JsonMapper().readTree(lines.get(0));
        assertEquals(0, first.get("token_idx").asInt());
        assertEquals(1, first.get("experts").size(), "top-1");
    }

    @Test
    void scoreMatchesTheReferenceForwardPass() throws Exception {
        Path text = tmp.resolve("text.txt");
        Files.writeString(text, "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times.");
        Run r = run("score", model.toString(), "--text", text.toString(), "--window", "16", "--backend", "cpu",
                "--kv-cache", "f32");
        assertEquals(0, r.code(), r.err());
        JsonNode report = new JsonMapper().readTree(r.out());

        int[] ids = Tokenizer.load(model.resolve("tokenizer.json")).encode(Files.readString(text), true);
        ReferenceMixtral ref = ReferenceMixtral.load(model);
        double nll = 0;
        int predicted = 0;
        for (int start = 0; start < ids.length; start += 16) {
            int n = Math.min(16, ids.length - start);
            if (n < 2) break;
            int[] window = java.util.Arrays.copyOfRange(ids, start, start + n);
            double[][] logits = ref.forward(window).logits();
            for (int i = 0; i + 1 < n; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (double l : logits[i]) max = Math.max(max, l);
                double sum = 0;
                for (double l : logits[i]) sum += Math.exp(l - max);
                nll -= logits[i][window[i + 1]] - max - Math.log(sum);
                predicted++;
            }
        }
        assertEquals(ids.length, report.get("tokens").asInt());
        assertEquals(predicted, report.get("predicted_tokens").asInt());
        double expected = nll / predicted;
        assertEquals(expected, report.get("mean_nll").asDouble(), 1e-5 * expected, r.out());
    }

    @Test
    void badInputGivesOneClearLineAndExitCode1() {
        Run missing = run("info", tmp.resolve("nope").toString(), "--backend", "cpu");
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("nope"), missing.err());
        Run badBackend = run("info", model.toString(), "--backend", "tpu");
        assertEquals(1, badBackend.code());
        assertTrue(badBackend.err().contains("unknown backend 'tpu'"), badBackend.err());
        // flags are named as the user typed them, and checked before anything is loaded or printed
        String[][] cases = {
                {"generate", "-n", "0", "--max-tokens (-n) must be at least 1, got 0"},
                {"generate", "--link-gbps", "-1", "--link-gbps must be >= 0"},
                {"bench", "-n", "0", "--tokens (-n) must be at least 1, got 0"},
                {"bench", "--link-gbps", "-1", "--link-gbps must be >= 0"}};
        Run longPrompt = run("generate", model.toString(), "-p", "hello there ".repeat(40), "--context", "32", "--backend", "cpu");
        assertEquals(1, longPrompt.code());
        assertTrue(longPrompt.err().contains("shorten the prompt") && longPrompt.out().isEmpty(),
                "a rejected prompt is not echoed: " + longPrompt.out() + longPrompt.err());
        Run noText = run("score", model.toString(), "--text", tmp.resolve("gone.txt").toString(), "--backend", "cpu");
        assertTrue(noText.code() == 1 && noText.err().contains("text file not found: "), noText.err());
        for (String[] c : cases) {
            Run bad = run(c[0], model.toString(), "-p", "hello", c[1], c[2], "--backend", "cpu");
            if (c[0].equals("bench")) bad = run(c[0], model.toString(), c[1], c[2], "--backend", "cpu");
            assertEquals(1, bad.code(), String.join(" ", c) + ": " + bad.err());
            assertTrue(bad.err().contains(c[3]) && bad.out().isEmpty() && !bad.err().contains("loading"),
                    String.join(" ", c) + ": " + bad.out() + bad.err());
        }
    }
}
