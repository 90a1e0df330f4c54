package dev.lookahead.expert;

import java.util.Arrays;

/**
 * The exact future of a trace: for every expert, the steps at which the router chooses it. As a
 * {@link NextUseEstimator} it gives the true distance to an expert's next use, which turns
 * {@link FarthestNextUsePolicy} into Belady's optimal policy. Replay only: the engine does not know the future.
 */
public final class FutureAccesses implements NextUseEstimator {
    private final int layers;
    private final int experts;
    private final long[][] steps; // [layer * experts + expert] -> ascending steps of its uses

    public FutureAccesses(RoutingTrace trace) {
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
        return next == NEVER ? NEVER : next - step;
    }
}
