package dev.lookahead.cli;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.lookahead.api.MoeModel;
import dev.lookahead.engine.Scorer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "score", mixinStandardHelpOptions = true,
        description = {"Per-token log-probabilities and perplexity of a text, as JSON.",
                "The text is tokenized as one stream (with BOS) and scored in consecutive non-overlapping "
                        + "windows, each from an empty context."})
final class ScoreCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "Hugging Face checkpoint directory")
    Path model;

    @Option(names = "--text", required = true, description = "UTF-8 text file to score")
    Path text;

    @Option(names = "--window", defaultValue = "0", description = "tokens per window, 0 = the context length")
    int window;

    @Option(names = "--per-token", description = "include every token's log-probability in the report")
    boolean perToken;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws IOException {
        if (!Files.isRegularFile(text)) throw new IllegalArgumentException("text file not found: " + text);
        String content = Files.readString(text, StandardCharsets.UTF_8);
        try (MoeModel m = ModelLoading.load(model, backend.toLoadOptions(model), System.err)) {
            int[] tokens = m.encodePrompt(content, false);
            int w = window > 0 ? window : (int) m.contextLength();
            long start = System.nanoTime();
            Scorer.Report r = Scorer.score(m.forwardPass(), tokens, w, m.contextLength(), perToken);
            double seconds = (System.nanoTime() - start) / 1e9;

            JsonMapper json = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
            ObjectNode o = json.createObjectNode();
            o.put("model", m.directory().toString());
            o.put("text", text.toString());
            o.put("backend", m.deviceInfo().backend());
            o.put("tokens", r.tokens());
            o.put("predicted_tokens", r.predicted());
            o.put("windows", r.windows());
            o.put("window", r.window());
            o.put("mean_nll", r.meanNll());
            o.put("perplexity", r.perplexity());
            o.put("seconds", seconds);
            o.put("tokens_per_second", r.tokens() / seconds);
            if (perToken) {
                ArrayNode arr = o.putArray("per_token");
                for (Scorer.TokenScore s : r.perToken()) {
                    ObjectNode t = arr.addObject();
                    t.put("index", s.index());
                    t.put("id", s.tokenId());
                    t.put("text", m.tokenizer().decode(new int[] {s.tokenId()}, false));
                    t.put("logprob", s.logProb());
                }
            }
            System.out.println(json.writeValueAsString(o));
        }
        return 0;
    }
}
