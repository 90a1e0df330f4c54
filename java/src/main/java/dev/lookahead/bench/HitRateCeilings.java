package dev.lookahead.bench;

import dev.lookahead.expert.HorizonCeiling;
import dev.lookahead.expert.ReplaySimulator;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;

import java.util.Locale;

/**
 * Hit rates that the bench's own routing allows at its slot count, replayed through the engine's cache: LRU per
 * layer (what mixtral-offloading should measure), and Belady's farthest-next-use eviction per layer and over one
 * pool of layers * k slots (the ceilings no eviction can pass without changing the routing). A policy's place
 * between LRU and Belady is the fraction of the gap its eviction closes.
 *
 * <p>Beside each Belady ceiling, the same eviction seeing only the next two tokens' routing (LRU among experts not
 * used that soon): what the lookahead policies' next-token and two-token heads could at best give if they were
 * always right (docs/scheduler.md, "How far ahead must eviction see?").
 *
 * <p>A policy that prefetches counts a prefetched expert as a hit although its bytes still crossed the link, so
 * policies are placed by their copies instead: the "effective" hit rate 1 - copies / lookups, which equals the
 * hit rate for policies that copy on demand only.
 *
 * @param tokens          decode tokens replayed (every prompt's, in bench order, as one run)
 * @param lookupsPerToken layers x top-k
 */
public record HitRateCeilings(int tokens, int slotsPerLayer, int lookupsPerToken, double lru, double beladyPerLayer,
                              double beladyPool, double twoTokensPerLayer, double twoTokensPool) {
    /** The horizon of the "seeing the next tokens" ceilings: what next-token and two-token heads can know. */
    static final int HEADS_HORIZON_TOKENS = 2;

    /** Replays {@code trace} (decode routing of the reference run) at {@code slotsPerLayer}. */
    public static HitRateCeilings of(RoutingTrace trace, int slotsPerLayer) {
        // only hit rates are read: the time model's values do not matter
        TimingModel timing = new TimingModel(1, 1, 1);
        double lru = hitRate(trace, "mixtral-offloading", slotsPerLayer, timing);
        double belady = hitRate(trace, "belady", slotsPerLayer, timing);
        double pool = hitRate(trace, "belady-global", slotsPerLayer, timing);
        HorizonCeiling near = HorizonCeiling.replay(trace, HEADS_HORIZON_TOKENS, slotsPerLayer, timing);
        return new HitRateCeilings(trace.tokenCount(), slotsPerLayer, trace.layers() * trace.topK(), lru, belady, pool,
                near.perLayer().hitRate(), near.pool().hitRate());
    }

    private static double hitRate(RoutingTrace trace, String policy, int k, TimingModel timing) {
        return ReplaySimulator.run(trace, ResidencyPolicies.byName(policy), k, timing, null).hitRate();
    }

    /** Fraction of the per-layer LRU → Belady gap a measured hit rate closes (negative when below LRU). */
    public double gapClosed(double hitRate) {
        double gap = beladyPerLayer - lru;
        return gap <= 0 ? Double.NaN : (hitRate - lru) / gap;
    }

    /** 1 - copies per lookup, from the copied bytes per decode token and the size of one expert. */
    public double effectiveHitRate(double copiedBytesPerToken, long expertBytes) {
        return 1 - copiedBytesPerToken / expertBytes / lookupsPerToken;
    }

    public String describe() {
        return String.format(Locale.ROOT, "hit-rate ceilings of the same routing (%d decode tokens replayed, %d slots per"
                        + " layer): LRU per layer %.3f, Belady per layer %.3f (seeing %d tokens ahead %.3f), Belady over"
                        + " one pool %.3f (%d tokens %.3f)",
                tokens, slotsPerLayer, lru, beladyPerLayer, HEADS_HORIZON_TOKENS, twoTokensPerLayer, beladyPool,
                HEADS_HORIZON_TOKENS, twoTokensPool);
    }
}
