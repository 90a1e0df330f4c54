package dev.lookahead.expert;

import java.util.HashSet;
import java.util.Objects;
import java.util.Set;

/**
 * Runs a routing trace through the same {@link ExpertCache} and policies the engine uses, with a transfer/compute
 * time model instead of a GPU.
 *
 * <h2>Cache semantics</h2>
 * Tokens are replayed in order as one decode run (the cache is not reset between problems). At each (token t,
 * layer l), step = t * layers + l: every expert the router chose is looked up; a miss is admitted with the layer's
 * chosen experts protected (plus, when prefetching, the next layer's predicted ones). If the policy prefetches
 * and l + 1 < layers, the predictor is then asked for layer l + 1 and each predicted expert not resident is
 * prefetched under the same protection. There is no prefetch across tokens (layer 0 of the next token depends on
 * a hidden state not computed yet). Copies complete at once as far as the cache is concerned (slots are marked
 * READY immediately); their duration is accounted for only in the time model below.
 *
 * <h2>Time model (exact)</h2>
 * Let c = expert bytes / link bandwidth (94 MiB at 25 GB/s: 3.94 ms) and C = compute time of one layer.
 * <ul>
 *   <li>One link carries copies one at a time, first issued first served: a copy issued at time u starts at
 *       max(u, end of the previous copy) and ends c later.</li>
 *   <li>Layer l of a token starts at S = end of the previous layer (the first layer of the run at 0; the first layer
 *       of a token right after the last layer of the previous token). Its router's choice is known at S. Its demand
 *       misses are issued at S, in router order; then its prefetches for layer l + 1.</li>
 *   <li>The layer ends at E = max(S + C, ready time of every expert it uses), where an expert's ready time is the end
 *       of the copy that brought it in (earlier than S for experts resident long ago). So the compute of the layer
 *       overlaps its copies, and copies issued during layer l - 1 overlap that layer's compute.</li>
 * </ul>
 * Without prefetch a layer with m misses takes max(C, m * c); for C <= c (the default) that is the same as "the
 * compute of the resident experts overlaps the copy of the first miss, the misses are serialized on the link":
 * max(C, c) + (m - 1) * c. With prefetch, speculative copies can delay a later demand copy (the link is FIFO, as in
 * Mixtral-offloading, which has no preemption), and a wrong prediction costs link time; an in-flight prefetch whose
 * slot is taken by a demand miss still occupies the link. The model neglects the compute of a missed expert after
 * its copy lands (the same optimism for every policy) and any cost of the lookup itself.
 * {@link ReplayResult#boundMsPerToken()} gives max(compute, copies), the bound no schedule beats.
 */
public final class ReplaySimulator {
    private ReplaySimulator() {
    }

    /**
     * @param predictor required when {@code policy.prefetchNextLayer()}, ignored otherwise
     * @throws IllegalArgumentException when the slots per layer cannot hold one layer's chosen experts, or a needed
     *                                  predictor is missing
     */
    public static ReplayResult run(RoutingTrace trace, ResidencyPolicy policy, int slotsPerLayer, TimingModel timing,
                                   PrefetchPredictor predictor) {
        return replay(trace, policy, slotsPerLayer, timing, predictor,
                policy.replayOnly() ? new FutureAccesses(trace) : null);
    }

    /**
     * A replay-only (Belady) policy that knows the future only as far as {@code future} tells it, e.g.
     * {@link FutureAccesses#withHorizon}.
     */
    public static ReplayResult runWithFuture(RoutingTrace trace, ResidencyPolicy policy, int slotsPerLayer,
                                             TimingModel timing, FutureAccesses future) {
        if (!policy.replayOnly()) {
            throw new IllegalArgumentException("policy '" + policy.name() + "' does not read the future");
        }
        return replay(trace, policy, slotsPerLayer, timing, null, Objects.requireNonNull(future, "future"));
    }

    private static ReplayResult replay(RoutingTrace trace, ResidencyPolicy policy, int slotsPerLayer, TimingModel timing,
                                       PrefetchPredictor predictor, NextUseEstimator oracle) {
        Objects.requireNonNull(trace, "trace");
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(timing, "timing");
        if (policy.placement() != ResidencyPolicy.Placement.ALL_RESIDENT && slotsPerLayer < trace.topK()) {
            throw new IllegalArgumentException("slots per layer (" + slotsPerLayer + ") must be at least the experts each"
                    + " layer chooses (top-" + trace.topK() + ")");
        }
        if (policy.scheduled()) {
            throw new IllegalArgumentException("policy '" + policy.name() + "' is driven by the speculative scheduler;"
                    + " replay it with dev.lookahead.sched.ScheduledReplay");
        }
        if (policy.prefetchNextLayer() && predictor == null) {
            throw new IllegalArgumentException("policy '" + policy.name() + "' prefetches and needs a prefetch predictor");
        }
        PrefetchPredictor pred = policy.prefetchNextLayer() ? predictor : null;
        int layers = trace.layers();
        ExpertCache cache = policy.newCache(layers, trace.experts(), slotsPerLayer, timing.expertBytes(), oracle);

        double copyMs = timing.copyMs();
        double[] readyAt = new double[cache.layout().totalSlots()]; // end time of the copy that filled each slot
        double now = 0;        // start of the current layer
        double linkFree = 0;   // end of the last copy issued
        Set<ExpertId> protectedSet = new HashSet<>();
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < layers; l++) {
                long step = Steps.of(t, l, layers);
                int[] chosen = trace.experts(t, l);
                if (pred != null) pred.observe(t, l, chosen);
                int[] predicted = pred != null && l + 1 < layers ? pred.predict(t, l + 1) : new int[0];

                protectedSet.clear();
                for (int e : chosen) protectedSet.add(new ExpertId(l, e));
                for (int e : predicted) protectedSet.add(new ExpertId(l + 1, e));

                double end = now + timing.layerMs();
                for (int e : chosen) {
                    ExpertId id = new ExpertId(l, e);
                    int slot = cache.lookup(id, step);
                    if (slot == ExpertCache.MISS) {
                        slot = cache.admit(id, step, protectedSet);
                        linkFree = Math.max(linkFree, now) + copyMs;
                        readyAt[slot] = linkFree;
                        cache.markReady(slot);
                    }
                    end = Math.max(end, readyAt[slot]);
                }
                for (int e : predicted) {
                    int slot = cache.prefetch(new ExpertId(l + 1, e), step, protectedSet);
                    if (slot != ExpertCache.NOT_ISSUED) {
                        linkFree = Math.max(linkFree, now) + copyMs;
                        readyAt[slot] = linkFree;
                        cache.markReady(slot);
                    }
                }
                now = end;
            }
        }
        return new ReplayResult(policy.name(), cache.layout().describe(), pred == null ? null : pred.name(),
                trace.tokenCount(), layers, cache.stats(), timing, now);
    }
}
