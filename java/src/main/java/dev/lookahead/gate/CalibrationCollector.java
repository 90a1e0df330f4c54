package dev.lookahead.gate;

import dev.lookahead.engine.ForwardPass;
import dev.lookahead.engine.HiddenStateListener;
import dev.lookahead.util.Progress;

/**
 * Runs the model over a token stream and records, per token and layer, what gate alignment needs
 * ({@link CalibrationData}). Protocol (as the scorer's): consecutive non-overlapping windows of
 * {@code window} tokens, each run on its own from position 0, so every token sees the same kind of
 * context as in training; only the first {@code maxTokens} tokens of the stream are used, which
 * bounds memory (see {@link CalibrationData}).
 */
public final class CalibrationCollector {
    /** Default cap on calibration tokens: ~100 MB of data for the demo model. */
    public static final int DEFAULT_MAX_TOKENS = 20_000;

    private CalibrationCollector() {
    }

    /**
     * @param forward  the model's forward pass (its hidden-state listener is set for the duration)
     * @param routing  the same model's routers and norms
     * @param tokens   the tokenized calibration text
     * @param window   tokens per window, at most the KV cache capacity
     */
    public static CalibrationData collect(ForwardPass forward, RoutingWeights routing, int[] tokens, int window,
                                          int maxTokens, Progress progress) {
        checkArguments(tokens, window, maxTokens);
        int n = Math.min(tokens.length, maxTokens);
        CalibrationData data = new CalibrationData(routing.layers(), routing.hidden(), routing.experts(), n);
        collectInto(data, 0, forward, routing, tokens, n, window, progress);
        data.checkComplete();
        return data;
    }

    /**
     * Two texts in one data set: the first (at most {@code maxTokens} of it) for fitting and
     * validation, then the second (at most {@code maxTokens}) held out; {@link Split#heldoutStart}
     * of the returned split is where the second begins.
     */
    public static Collected collect(ForwardPass forward, RoutingWeights routing, int[] fitTokens, int[] heldoutTokens,
                                    int window, int maxTokens, double validation, Progress progress) {
        checkArguments(fitTokens, window, maxTokens);
        checkArguments(heldoutTokens, window, maxTokens);
        int a = Math.min(fitTokens.length, maxTokens), b = Math.min(heldoutTokens.length, maxTokens);
        CalibrationData data = new CalibrationData(routing.layers(), routing.hidden(), routing.experts(), a + b);
        collectInto(data, 0, forward, routing, fitTokens, a, window, progress);
        collectInto(data, a, forward, routing, heldoutTokens, b, window, progress);
        data.checkComplete();
        return new Collected(data, Split.withHeldoutAt(a + b, a, validation));
    }

    /** Calibration data and how to split it. */
    public record Collected(CalibrationData data, Split split) {
    }

    private static void checkArguments(int[] tokens, int window, int maxTokens) {
        if (window < 1) throw new IllegalArgumentException("window must be >= 1 token, got " + window);
        if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be >= 1, got " + maxTokens);
        if (tokens.length == 0) throw new IllegalArgumentException("a calibration text has no tokens");
    }

    /** Runs tokens[0, n) in windows and records them as data tokens offset.. offset + n - 1. */
    private static void collectInto(CalibrationData data, int offset, ForwardPass forward, RoutingWeights routing,
                                    int[] tokens, int n, int window, Progress progress) {
        int hidden = routing.hidden();
        int[] windowStart = {0};
        HiddenStateListener listener = (position, layer, h, rows) -> {
            for (int r = 0; r < rows; r++) {
                data.put(offset + windowStart[0] + (int) position + r, layer, h, r * hidden, routing);
            }
        };
        progress.start("calibrate", n, "tokens");
        forward.setHiddenStateListener(listener);
        try {
            for (int start = 0; start < n; start += window) {
                int m = Math.min(window, n - start);
                windowStart[0] = start;
                forward.forwardLast(tokens, start, m, 0);
                progress.update(start + m);
            }
        } finally {
            forward.setHiddenStateListener(null);
        }
        progress.finish();
    }
}
