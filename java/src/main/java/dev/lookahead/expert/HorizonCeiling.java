package dev.lookahead.expert;

/**
 * Belady's eviction when it sees only the next {@code tokens} tokens' routing (least recent use among experts not
 * used that soon), per layer and in one pool: the most that eviction by a predictor of the next N tokens could buy.
 */
public record HorizonCeiling(int tokens, ReplayResult perLayer, ReplayResult pool) {
    public static HorizonCeiling replay(RoutingTrace trace, int tokens, int slotsPerLayer, TimingModel timing) {
        FutureAccesses future = FutureAccesses.withHorizon(trace, tokens);
        return new HorizonCeiling(tokens,
                ReplaySimulator.runWithFuture(trace, ResidencyPolicies.byName(ResidencyPolicies.BELADY), slotsPerLayer, timing,
                        future),
                ReplaySimulator.runWithFuture(trace, ResidencyPolicies.byName(ResidencyPolicies.BELADY_GLOBAL), slotsPerLayer,
                        timing, future));
    }
}
