package dev.lookahead.expert;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * One trace replayed under a chosen policy, the LRU baseline (mixtral-offloading) and the two Belady ceilings
 * (k slots per layer, and one pool of layers * k slots), all with the same slot budget and time model, so the rows
 * compare like for like.
 *
 * @param results  the chosen policy first, then the baseline and ceilings not already chosen
 * @param baseline the mixtral-offloading row, the reference of {@link #speedup}
 */
public record ReplayComparison(RoutingTrace trace, int slotsPerLayer, TimingModel timing, List<ReplayResult> results,
                               ReplayResult baseline) {
    /** The policies every comparison shows beside the chosen one. */
    public static final List<String> REFERENCE_POLICIES = List.of(ResidencyPolicies.MIXTRAL_OFFLOADING,
            ResidencyPolicies.BELADY, ResidencyPolicies.BELADY_GLOBAL);

    /**
     * Replays one policy on one trace with k slots per layer. The default runs {@link ReplaySimulator}; a
     * {@link ResidencyPolicy#scheduled() scheduled} policy needs a runner that drives the speculative scheduler.
     */
    @FunctionalInterface
    public interface PolicyRunner {
        ReplayResult run(RoutingTrace trace, ResidencyPolicy policy, int slotsPerLayer, TimingModel timing);
    }

    /** The runner of {@link ReplaySimulator}, with a fresh predictor per run of a prefetching policy. */
    public static PolicyRunner simulator(Function<RoutingTrace, PrefetchPredictor> predictors) {
        return (trace, p, k, timing) ->
                ReplaySimulator.run(trace, p, k, timing, p.prefetchNextLayer() ? predictors.apply(trace) : null);
    }

    /**
     * @param predictors makes a fresh prefetch predictor for a trace (called once per run of a prefetching policy)
     */
    public static ReplayComparison run(RoutingTrace trace, String policy, int slotsPerLayer, TimingModel timing,
                                       Function<RoutingTrace, PrefetchPredictor> predictors) {
        return run(trace, policy, slotsPerLayer, timing, simulator(predictors));
    }

    /** As {@link #run(RoutingTrace, String, int, TimingModel, Function)}, each policy replayed by {@code runner}. */
    public static ReplayComparison run(RoutingTrace trace, String policy, int slotsPerLayer, TimingModel timing,
                                       PolicyRunner runner) {
        ResidencyPolicies.byName(policy); // unknown names fail before any work
        Set<String> names = new LinkedHashSet<>();
        names.add(policy);
        names.addAll(REFERENCE_POLICIES);
        List<ResidencyPolicy> policies = new ArrayList<>();
        for (String n : names) policies.add(ResidencyPolicies.byName(n));
        return run(trace, policies, slotsPerLayer, timing, runner);
    }

    /** Replays {@code policies} in order; the baseline is always replayed too (and listed last if not given). */
    public static ReplayComparison run(RoutingTrace trace, List<ResidencyPolicy> policies, int slotsPerLayer,
                                       TimingModel timing, Function<RoutingTrace, PrefetchPredictor> predictors) {
        return run(trace, policies, slotsPerLayer, timing, simulator(predictors));
    }

    /** As above, each policy replayed by {@code runner}. */
    public static ReplayComparison run(RoutingTrace trace, List<ResidencyPolicy> policies, int slotsPerLayer,
                                       TimingModel timing, PolicyRunner runner) {
        List<ResidencyPolicy> all = new ArrayList<>(policies);
        if (all.stream().noneMatch(p -> p.name().equals(ResidencyPolicies.MIXTRAL_OFFLOADING))) {
            all.add(ResidencyPolicies.byName(ResidencyPolicies.MIXTRAL_OFFLOADING));
        }
        List<ResidencyPolicy> distinct = all.stream().distinct().toList();
        List<ReplayResult> results = new ArrayList<>();
        ReplayResult baseline = null;
        for (ResidencyPolicy p : distinct) {
            ReplayResult r = runner.run(trace, p, slotsPerLayer, timing);
            results.add(r);
            if (p.name().equals(ResidencyPolicies.MIXTRAL_OFFLOADING)) baseline = r;
        }
        return new ReplayComparison(trace, slotsPerLayer, timing, List.copyOf(results), baseline);
    }

    /** The row of policy {@code name}, or null. */
    public ReplayResult result(String name) {
        for (ReplayResult r : results) {
            if (r.policy().equals(name)) return r;
        }
        return null;
    }

    /** Baseline ms/token over {@code r}'s ms/token: above 1 is faster than mixtral-offloading. */
    public double speedup(ReplayResult r) {
        return baseline.msPerToken() / r.msPerToken();
    }

    /** Baseline ms/token over {@code r}'s bound (max of compute and copies, perfect overlap). */
    public double boundSpeedup(ReplayResult r) {
        return baseline.msPerToken() / r.boundMsPerToken();
    }
}
