package dev.lookahead.api;

/**
 * Wall-clock timings of one generation.
 *
 * @param promptTokens   tokens processed by prefill
 * @param prefillNanos   time of the prefill (prompt) pass
 * @param decodeTokens   tokens produced by decode steps (the first generated token comes from prefill)
 * @param decodeNanos    time of the decode steps
 */
public record Timings(int promptTokens, long prefillNanos, int decodeTokens, long decodeNanos) {
    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptTokens * 1e9 / prefillNanos;
    }

    public double decodeTokensPerSecond() {
        return decodeNanos == 0 ? 0 : decodeTokens * 1e9 / decodeNanos;
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "prefill %d tok in %.1f ms (%.1f tok/s), decode %d tok in %.1f ms (%.1f tok/s)",
                promptTokens, prefillNanos / 1e6, prefillTokensPerSecond(), decodeTokens, decodeNanos / 1e6, decodeTokensPerSecond());
    }
}
