package dev.lookahead.expert;

import java.util.List;

/** The eviction policies selectable by name. */
public final class EvictionPolicies {
    /** Belady's MIN: farthest next use, from the exact future (replay only). */
    public static final String BELADY = "belady";
    /**
     * Farthest predicted next use: {@link FarthestNextUsePolicy} over an estimator fed by a predictor (the
     * speculative scheduler's {@code PredictedNextUse}), not by the trace's future; usable by the engine.
     */
    public static final String PREDICTED = "predicted";

    private EvictionPolicies() {
    }

    public static List<String> names() {
        return List.of(LruPolicy.NAME, BELADY, PREDICTED);
    }

    /**
     * @param name   "lru", "belady" or "predicted"
     * @param oracle the exact future accesses, needed by "belady" (available in replay only); the predictor-fed
     *               estimator, needed by "predicted"; may be null for "lru"
     * @throws IllegalArgumentException for an unknown name, or "belady" / "predicted" without an estimator
     */
    public static EvictionPolicy create(String name, SlotLayout layout, NextUseEstimator oracle) {
        return switch (name) {
            case LruPolicy.NAME -> new LruPolicy(layout.totalSlots());
            case BELADY -> {
                if (oracle == null) {
                    throw new IllegalArgumentException("eviction policy 'belady' needs the future accesses of a trace;"
                            + " it is available in replay only");
                }
                yield new FarthestNextUsePolicy(BELADY, oracle, layout.totalSlots());
            }
            case PREDICTED -> {
                if (oracle == null) {
                    throw new IllegalArgumentException("eviction policy 'predicted' needs a next-use estimator fed by"
                            + " predictions (the speculative scheduler's)");
                }
                yield new FarthestNextUsePolicy(PREDICTED, oracle, layout.totalSlots());
            }
            default -> throw new IllegalArgumentException("unknown eviction policy '" + name + "'; known: "
                    + String.join(", ", names()));
        };
    }
}
