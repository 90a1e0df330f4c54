package dev.lookahead.api;

import java.util.List;

/**
 * The outcome of a generation.
 *
 * @param text       generated text (without the prompt and without a matched stop string)
 * @param tokenIds   generated token ids
 * @param stopReason why it ended
 * @param timings    prefill and decode speed
 */
public record GenerationResult(String text, List<Integer> tokenIds, StopReason stopReason, Timings timings) {
    public GenerationResult {
        tokenIds = List.copyOf(tokenIds);
    }
}
