package dev.lookahead.engine;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes the routing of generated tokens as JSON lines in the shape of the Mixtral traces in
 * {@code shared/traces} (one line per token and layer), so `replay` can run them:
 * {"dataset": "...", "problem_id": 0, "layer": 3, "experts": [5, 1], "gating_probs": [0.7, 0.3], "token_idx": 12}
 * Prompt tokens are not written (the reference traces hold generated tokens only).
 */
public final class RoutingTraceWriter implements RoutingListener, AutoCloseable {
    private final BufferedWriter out;
    private final String dataset;
    private int problemId;
    private long firstGeneratedPosition = Long.MAX_VALUE;

    public RoutingTraceWriter(Path file, String dataset) {
        try {
            this.out = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write routing trace " + file, e);
        }
        this.dataset = dataset;
    }

    /** Starts a new problem (generation) whose prompt fills positions [0, promptTokens). */
    public void startProblem(int problemId, int promptTokens) {
        this.problemId = problemId;
        this.firstGeneratedPosition = promptTokens;
    }

    @Override
    public void onRouting(long position, int layer, int[] experts, float[] weights) {
        // position p >= prompt length carries the token generated at index p - prompt length
        if (position < firstGeneratedPosition) return;
        StringBuilder line = new StringBuilder(96);
        line.append("{\"dataset\": \"").append(dataset).append("\", \"problem_id\": ").append(problemId)
                .append(", \"layer\": ").append(layer).append(", \"experts\": [");
        for (int i = 0; i < experts.length; i++) line.append(i == 0 ? "" : ", ").append(experts[i]);
        line.append("], \"gating_probs\": [");
        // the shortest decimal that reads back as the same float: replaying the trace (--routing-from) gets the
        // router's weights to the bit
        for (int i = 0; i < weights.length; i++) line.append(i == 0 ? "" : ", ").append(Float.toString(weights[i]));
        line.append("], \"token_idx\": ").append(position - firstGeneratedPosition).append("}\n");
        try {
            out.write(line.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the routing trace", e);
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close the routing trace", e);
        }
    }
}
