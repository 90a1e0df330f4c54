package dev.lookahead.expert;

import java.util.Arrays;

/**
 * The exact future of a trace: for every expert, the steps at which the router chooses it. As a
 * {@link NextUseEstimator} it gives the true distance to an expert's next use, which turns
 * {@link FarthestNextUsePolicy} into Belady's optimal policy. Replay only: the engine does not know the future.
 *
 * <p>With a horizon of N tokens it sees only the next N tokens' steps (a use farther away is {@link #NEVER}, and the
 * policy then evicts by least recent use among those): Belady as a predictor of the next N tokens could at best be.
 */
public final class FutureAccesses implements NextUseEstimator {
    private final int layers;
    private final int experts;
    private final long[][] steps; // [layer * experts + expert] -> ascending steps of its uses
    private final long horizonSteps;

    public FutureAccesses(RoutingTrace trace) {
        this(trace, Long.MAX_VALUE);
    }

    /** Sees uses at most {@code horizonTokens} tokens ahead (layers * horizonTokens steps). */
    public static FutureAccesses withHorizon(RoutingTrace trace, int horizonTokens) {
        if (horizonTokens < 1) throw new IllegalArgumentException("horizon must be >= 1 token, got " + horizonTokens);
        return new FutureAccesses(trace, (long) horizonTokens * trace.layers());
    }

    private FutureAccesses(RoutingTrace trace, long horizonSteps) {
        this.horizonSteps = horizonSteps;
        layers = trace.layers();
        experts = trace.experts();
        int[] counts = new int[layers * experts];
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < layers; l++) {
                for (int e : trace.experts(t, l)) counts[l * experts + e]++;
            }
        }
        steps = new long[layers * experts][];
        for (int i = 0; i < steps.length; i++) steps[i] = new long[counts[i]];
        int[] fill = new int[layers * experts];
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < layers; l++) {
                long step = Steps.of(t, l, layers);
                for (int e : trace.experts(t, l)) steps[l * experts + e][fill[l * experts + e]++] = step;
            }
        }
    }

    /** The first step after {@code step} at which {@code id} is used, or {@link #NEVER}. */
    public long nextUse(ExpertId id, long step) {
        if (id.layer() >= layers || id.expert() >= experts) return NEVER;
        long[] s = steps[id.layer() * experts + id.expert()];
        int i = Arrays.binarySearch(s, step + 1);
        if (i < 0) i = -i - 1;
        return i < s.length ? s[i] : NEVER;
    }

    @Override
    public long nextUseDistance(ExpertId id, long step) {
        long next = nextUse(id, step);
        return next == NEVER || next - step > horizonSteps ? NEVER : next - step;
    }
}
