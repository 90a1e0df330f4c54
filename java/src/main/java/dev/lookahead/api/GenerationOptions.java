package dev.lookahead.api;

import java.util.List;

/**
 * What to generate.
 *
 * @param maxTokens   at most this many new tokens (> 0)
 * @param sampling    how tokens are chosen
 * @param stopStrings generation ends when the text contains one of them
 * @param chat        wrap the prompt in the model's chat template (one user turn)
 * @param routingProblem for a model loaded with {@link LoadOptions#routingFrom()}: the problem of the trace this
 *                    generation replays, modulo the trace's problems (ignored otherwise)
 */
public record GenerationOptions(int maxTokens, SamplingOptions sampling, List<String> stopStrings, boolean chat,
                                int routingProblem) {
    public GenerationOptions {
        if (maxTokens <= 0) throw new IllegalArgumentException("maxTokens must be > 0, got " + maxTokens);
        if (routingProblem < 0) throw new IllegalArgumentException("routingProblem must be >= 0, got " + routingProblem);
        if (sampling == null) throw new IllegalArgumentException("sampling must not be null");
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings)
            if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
    }

    /** Replays problem 0 of a forced routing trace. */
    public GenerationOptions(int maxTokens, SamplingOptions sampling, List<String> stopStrings, boolean chat) {
        this(maxTokens, sampling, stopStrings, chat, 0);
    }

    /** Greedy, 128 tokens, no stop strings, plain prompt. */
    public static GenerationOptions defaults() {
        return new GenerationOptions(128, SamplingOptions.greedy(), List.of(), false);
    }

    public GenerationOptions withMaxTokens(int n) {
        return new GenerationOptions(n, sampling, stopStrings, chat, routingProblem);
    }

    public GenerationOptions withSampling(SamplingOptions s) {
        return new GenerationOptions(maxTokens, s, stopStrings, chat, routingProblem);
    }

    public GenerationOptions withStopStrings(List<String> stops) {
        return new GenerationOptions(maxTokens, sampling, stops, chat, routingProblem);
    }

    public GenerationOptions withChat(boolean c) {
        return new GenerationOptions(maxTokens, sampling, stopStrings, c, routingProblem);
    }

    public GenerationOptions withRoutingProblem(int problem) {
        return new GenerationOptions(maxTokens, sampling, stopStrings, chat, problem);
    }
}
