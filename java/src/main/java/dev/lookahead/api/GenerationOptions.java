package dev.lookahead.api;

import java.util.List;

/**
 * What to generate.
 *
 * @param maxTokens   at most this many new tokens (> 0)
 * @param sampling    how tokens are chosen
 * @param stopStrings generation ends when the text contains one of them
 * @param chat        wrap the prompt in the model's chat template (one user turn)
 */
public record GenerationOptions(int maxTokens, SamplingOptions sampling, List<String> stopStrings, boolean chat) {
    public GenerationOptions {
        if (maxTokens <= 0) throw new IllegalArgumentException("maxTokens must be > 0, got " + maxTokens);
        if (sampling == null) throw new IllegalArgumentException("sampling must not be null");
        stopStrings = List.copyOf(stopStrings);
        for (String s : stopStrings)
            if (s.isEmpty()) throw new IllegalArgumentException("stop strings must not be empty");
    }

    /** Greedy, 128 tokens, no stop strings, plain prompt. */
    public static GenerationOptions defaults() {
        return new GenerationOptions(128, SamplingOptions.greedy(), List.of(), false);
    }

    public GenerationOptions withMaxTokens(int n) {
        return new GenerationOptions(n, sampling, stopStrings, chat);
    }

    public GenerationOptions withSampling(SamplingOptions s) {
        return new GenerationOptions(maxTokens, s, stopStrings, chat);
    }

    public GenerationOptions withStopStrings(List<String> stops) {
        return new GenerationOptions(maxTokens, sampling, stops, chat);
    }

    public GenerationOptions withChat(boolean c) {
        return new GenerationOptions(maxTokens, sampling, stopStrings, c);
    }
}
