package dev.lookahead.cli;

import dev.lookahead.expert.FutureAccesses;
import dev.lookahead.expert.ReplayResult;
import dev.lookahead.expert.ReplaySimulator;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;

/**
 * Belady's eviction when it sees only the next {@code tokens} tokens' routing (least recent use among experts not
 * used that soon), per layer and in one pool: the most that eviction by a predictor of the next N tokens could buy.
 */
record HorizonCeiling(int tokens, ReplayResult perLayer, ReplayResult pool) {
    static HorizonCeiling replay(RoutingTrace trace, int tokens, int slotsPerLayer, TimingModel timing) {
        FutureAccesses future = FutureAccesses.withHorizon(trace, tokens);
        return new HorizonCeiling(tokens,
                ReplaySimulator.runWithFuture(trace, ResidencyPolicies.byName(ResidencyPolicies.BELADY), slotsPerLayer, timing,
                        future),
                ReplaySimulator.runWithFuture(trace, ResidencyPolicies.byName(ResidencyPolicies.BELADY_GLOBAL), slotsPerLayer,
                        timing, future));
    }
}
