package dev.lookahead.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DType;
import dev.lookahead.engine.ForwardPass;
import dev.lookahead.engine.Scorer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The committed demo model against its training script's own outputs (models/demo/samples.json:
 * greedy continuations computed by PyTorch from the stored bf16 weights; eval.json: held-out NLL
 * with the protocol of models/demo/README.md): tokenizer ids, greedy tokens and perplexity.
 */
class DemoModelTest {
    static final Path DEMO = Path.of("..", "models", "demo");
    static JsonNode samples, eval;

    @BeforeAll
    static void readGoldens() throws Exception {
        assertTrue(Files.isRegularFile(DEMO.resolve("model.safetensors")), "the demo model is committed in " + DEMO);
        JsonMapper json = new JsonMapper();
        samples = json.readTree(DEMO.resolve("samples.json").toFile());
        eval = json.readTree(DEMO.resolve("eval.json").toFile());
    }

    static LoadOptions cpu(int context) {
        return LoadOptions.defaults().withBackend(BackendChoice.CPU).withKvCacheType(DType.F32).withContextLength(context);
    }

    @Test
    void greedyContinuationsMatchTheTrainingScript() {
        try (MoeModel model = MoeModel.load(DEMO, cpu(256))) {
            assertTrue(samples.size() >= 3, "samples.json holds several prompts");
            for (JsonNode s : samples) {
                int[] prompt = ids(s.get("prompt_ids"));
                assertArrayEquals(prompt, model.encodePrompt(s.get("prompt").asText(), false),
                        "the Java tokenizer encodes '" + s.get("prompt").asText() + "' as the training script did");
                int[] expected = ids(s.get("generated_ids"));
                int[] got = greedy(model.forwardPass(), prompt, expected.length);
                assertArrayEquals(expected, got, "greedy continuation of '" + s.get("prompt").asText() + "'");
            }
        }
    }

    @Test
    void heldOutPerplexityMatchesTheTrainingScriptWithinOnePercent() throws Exception {
        int window = eval.get("window").asInt();
        String text = Files.readString(DEMO.resolve("heldout.txt"), StandardCharsets.UTF_8);
        try (MoeModel model = MoeModel.load(DEMO, cpu(window))) {
            int[] tokens = model.encodePrompt(text, false);
            assertEquals(eval.get("tokens_in_stream").asInt(), tokens.length, "same token stream as the script");
            Scorer.Report r = Scorer.score(model.forwardPass(), tokens, window, model.contextLength(), false);
            double expected = eval.get("mean_nll").asDouble();
            assertEquals(eval.get("predicted_tokens").asInt(), r.predicted());
            // the done-when bound is 1 % of perplexity; fp32 math on the same bf16 weights lands far closer
            assertEquals(eval.get("perplexity").asDouble(), r.perplexity(), 0.01 * eval.get("perplexity").asDouble());
            assertEquals(expected, r.meanNll(), 1e-4 * expected, "mean NLL");
        }
    }

    private static int[] greedy(ForwardPass forward, int[] prompt, int n) {
        int[] out = new int[n];
        float[] logits = forward.forwardLast(prompt, 0, prompt.length, 0);
        int[] seq = Arrays.copyOf(prompt, prompt.length + n);
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
            out[i] = best;
            seq[prompt.length + i] = best;
            if (i + 1 < n) logits = forward.forwardLast(seq, prompt.length + i, 1, prompt.length + i);
        }
        return out;
    }

    private static int[] ids(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) out[i] = array.get(i).asInt();
        return out;
    }
}
