package dev.lookahead.expert;

/**
 * Outcome of one replay of a trace under one policy.
 *
 * @param policy        residency policy name
 * @param layout        slot layout description
 * @param predictor     prefetch predictor name, or null when the policy does not prefetch
 * @param tokens        tokens replayed
 * @param layers        MoE layers per token
 * @param stats         the cache's statistics
 * @param timing        the cost model used
 * @param totalMs       simulated decode time of all tokens
 */
public record ReplayResult(String policy, String layout, String predictor, int tokens, int layers, CacheStats stats,
                           TimingModel timing, double totalMs) {
    /** Expert copies of all kinds (demand and speculative). */
    public long copies() {
        return stats.bytesCopied() / timing.expertBytes();
    }

    public double hitRate() {
        return stats.hitRate();
    }

    public double missesPerToken() {
        return (double) stats.misses() / tokens;
    }

    public double mibPerToken() {
        return stats.bytesCopied() / (1024.0 * 1024.0) / tokens;
    }

    public double msPerToken() {
        return totalMs / tokens;
    }

    public double tokensPerSecond() {
        return 1000.0 / msPerToken();
    }

    /**
     * Lower bound of ms/token for the same copies with perfect overlap: max(compute, copies), since the GPU computes
     * every layer and the link carries every copy, each at most one thing at a time.
     */
    public double boundMsPerToken() {
        double compute = (double) layers * timing.layerMs();
        double link = copies() * timing.copyMs() / tokens;
        return Math.max(compute, link);
    }
}
