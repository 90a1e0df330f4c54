package dev.lookahead.expert;

import java.util.Objects;

/**
 * A named residency strategy: where experts may live, how they are evicted, whether the next layer's experts are
 * loaded speculatively. The engine and the replay simulator select one by name ({@link ResidencyPolicies}) and
 * build their {@link ExpertCache} from it, so both run the same bookkeeping.
 *
 * @param name              registry name
 * @param placement         slot layout family
 * @param eviction          eviction policy name ({@link EvictionPolicies})
 * @param prefetchNextLayer whether the next layer's predicted experts are copied during the current layer
 * @param replayOnly        needs the future of a trace (Belady ceilings): not available to the engine
 * @param description       one line for help texts and reports
 */
public record ResidencyPolicy(String name, Placement placement, String eviction, boolean prefetchNextLayer,
                              boolean replayOnly, String description) {
    /** Slot layout families. */
    public enum Placement {
        /** k slots per layer (Mixtral-offloading). */
        PER_LAYER,
        /** One pool of layers * k slots shared by all layers. */
        GLOBAL_POOL,
        /** Every expert of every layer has its own slot, filled before decoding: no copies at all. */
        ALL_RESIDENT
    }

    public ResidencyPolicy {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(placement, "placement");
        Objects.requireNonNull(eviction, "eviction");
        Objects.requireNonNull(description, "description");
    }

    /**
     * Whether the speculative scheduler ({@code dev.lookahead.sched}) drives this policy: its eviction needs the
     * scheduler's predicted next uses, and its copies are issued by the scheduler rather than by
     * {@link ReplaySimulator} or a next-layer prefetch.
     */
    public boolean scheduled() {
        return eviction.equals(EvictionPolicies.PREDICTED);
    }

    /**
     * The slot layout for a model of {@code layers} MoE layers of {@code experts} experts, given a budget of
     * {@code slotsPerLayer} slots per layer (a global pool gets the same total, layers * slotsPerLayer).
     */
    public SlotLayout layout(int layers, int experts, int slotsPerLayer) {
        if (experts <= 0) throw new IllegalArgumentException("experts per layer must be > 0, got " + experts);
        if (placement != Placement.ALL_RESIDENT && (slotsPerLayer <= 0 || slotsPerLayer > experts)) {
            throw new IllegalArgumentException("slots per layer must be in 1.." + experts + " (the experts of a layer), got "
                    + slotsPerLayer);
        }
        return switch (placement) {
            case PER_LAYER -> new SlotLayout.PerLayer(layers, slotsPerLayer);
            case GLOBAL_POOL -> new SlotLayout.GlobalPool(layers, Math.multiplyExact(layers, slotsPerLayer));
            case ALL_RESIDENT -> new SlotLayout.PerLayer(layers, experts);
        };
    }

    /**
     * A cache laid out and evicting as this policy says; for {@link Placement#ALL_RESIDENT} every expert is
     * preloaded.
     *
     * @param oracle the exact future accesses, required when {@link #replayOnly()}; for a {@link #scheduled()}
     *               policy the scheduler's predicted next uses; null otherwise
     */
    public ExpertCache newCache(int layers, int experts, int slotsPerLayer, long expertBytes, NextUseEstimator oracle) {
        if (replayOnly && oracle == null) {
            throw new IllegalArgumentException("policy '" + name + "' needs the future accesses of a trace; it is"
                    + " available in replay only");
        }
        SlotLayout layout = layout(layers, experts, slotsPerLayer);
        ExpertCache cache = new ExpertCache(layout, expertBytes, EvictionPolicies.create(eviction, layout, oracle));
        if (placement == Placement.ALL_RESIDENT) {
            for (int l = 0; l < layers; l++) {
                for (int e = 0; e < experts; e++) cache.preload(new ExpertId(l, e));
            }
        }
        return cache;
    }
}
