package dev.lookahead.expert;

import java.util.List;

/** The eviction policies selectable by name. */
public final class EvictionPolicies {
    /** Belady's MIN: farthest next use, from the exact future (replay only). */
    public static final String BELADY = "belady";

    private EvictionPolicies() {
    }

    public static List<String> names() {
        return List.of(LruPolicy.NAME, BELADY);
    }

    /**
     * @param name   "lru" or "belady"
     * @param oracle the exact future accesses, needed by "belady" (available in replay only); may be null otherwise
     * @throws IllegalArgumentException for an unknown name, or "belady" without an oracle
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
            default -> throw new IllegalArgumentException("unknown eviction policy '" + name + "'; known: "
                    + String.join(", ", names()));
        };
    }
}
