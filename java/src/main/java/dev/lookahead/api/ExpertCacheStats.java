package dev.lookahead.api;

import java.util.Locale;

/**
 * What a model's offloaded experts did in its decode steps since it was loaded ({@link MoeModel#expertCacheStats}):
 * how often the router's choice was already on the device, what crossed the link, how long the compute waited for it,
 * and, for the lookahead policies, how well the lookahead heads predicted.
 *
 * @param policy              the residency policy, e.g. {@code lookahead}
 * @param slots               the device's expert slots, e.g. "4 slots/layer" or "128-slot pool"
 * @param lookups             the router's choices looked up (decoded tokens x layers x top-k)
 * @param hits                of those, found on the device
 * @param bytesCopied         bytes of the experts admitted on a miss or prefetched
 * @param linkBytes           all bytes that crossed the host-to-device link, staged ones included
 * @param copyWaitMillis      time the compute stream waited for expert copies
 * @param demandIssueMicros   mean host time from a layer's expert planning to its first demand copy call, over the
 *                            layers that issued one (NaN when none did)
 * @param recallNextLayer     the lookahead heads' recall@k at the next layer (NaN without heads)
 * @param recallNextToken     the same at the next token's same layer (NaN without heads)
 */
public record ExpertCacheStats(String policy, String slots, long lookups, long hits, long bytesCopied, long linkBytes,
                               double copyWaitMillis, double demandIssueMicros, double recallNextLayer,
                               double recallNextToken) {
    /** hits / lookups, 0 without lookups. */
    public double hitRate() {
        return lookups == 0 ? 0 : hits / (double) lookups;
    }

    /** One line, e.g. for a log. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                "expert cache (%s, %s): %d lookups, hit rate %.3f, %.1f MiB copied (%.1f MiB over the link), copy waits %.1f ms",
                policy, slots, lookups, hitRate(), bytesCopied / 1048576.0, linkBytes / 1048576.0, copyWaitMillis));
        if (!Double.isNaN(recallNextLayer)) {
            sb.append(String.format(Locale.ROOT, "; heads' recall@k %.2f at the next layer", recallNextLayer));
            if (!Double.isNaN(recallNextToken)) sb.append(String.format(Locale.ROOT, ", %.2f at the next token", recallNextToken));
        }
        return sb.toString();
    }
}
