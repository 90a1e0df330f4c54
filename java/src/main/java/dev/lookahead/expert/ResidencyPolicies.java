package dev.lookahead.expert;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The residency policies selectable by name, by the engine and by {@code lookahead replay}. */
public final class ResidencyPolicies {
    /** The baseline: per-layer LRU over k slots per layer, misses loaded on demand, no prefetch. */
    public static final String MIXTRAL_OFFLOADING = "mixtral-offloading";
    /** Mixtral-offloading's LRU plus speculative loading of the next layer's predicted experts. */
    public static final String NEXT_LAYER = "next-layer";
    /** Every expert resident: the upper bound of an infinitely large device. */
    public static final String ALL_RESIDENT = "all-resident";
    /** LRU over one pool of layers * k slots. */
    public static final String LRU_GLOBAL = "lru-global";
    /** Ceiling: Belady's optimal eviction within k slots per layer (replay only). */
    public static final String BELADY = "belady";
    /** Ceiling: Belady's optimal eviction over one pool of layers * k slots (replay only). */
    public static final String BELADY_GLOBAL = "belady-global";

    /**
     * Speculative scheduling ({@code dev.lookahead.sched.SpeculativeScheduler}) within k slots per layer: copies the
     * experts predicted for the next D layers within a bytes-in-flight budget and evicts the expert whose predicted
     * next use is farthest.
     */
    public static final String LOOKAHEAD = "lookahead";
    /** The same scheduler over one pool of layers * k slots shared by all layers. */
    public static final String LOOKAHEAD_GLOBAL = "lookahead-global";

    private static final Map<String, ResidencyPolicy> POLICIES = new LinkedHashMap<>();

    static {
        add(new ResidencyPolicy(MIXTRAL_OFFLOADING, ResidencyPolicy.Placement.PER_LAYER, LruPolicy.NAME, false, false,
                "per-layer LRU, k slots per layer, misses loaded on demand, no prefetch (Eliseev & Mazur 2023)"));
        add(new ResidencyPolicy(NEXT_LAYER, ResidencyPolicy.Placement.PER_LAYER, LruPolicy.NAME, true, false,
                "per-layer LRU plus speculative loading of the next layer's predicted experts"));
        add(new ResidencyPolicy(ALL_RESIDENT, ResidencyPolicy.Placement.ALL_RESIDENT, LruPolicy.NAME, false, false,
                "every expert resident, loaded before decoding: no copies"));
        add(new ResidencyPolicy(LRU_GLOBAL, ResidencyPolicy.Placement.GLOBAL_POOL, LruPolicy.NAME, false, false,
                "LRU over one pool of layers*k slots shared by all layers, no prefetch"));
        add(new ResidencyPolicy(BELADY, ResidencyPolicy.Placement.PER_LAYER, EvictionPolicies.BELADY, false, true,
                "ceiling: optimal (Belady) eviction within k slots per layer, from the trace's future"));
        add(new ResidencyPolicy(BELADY_GLOBAL, ResidencyPolicy.Placement.GLOBAL_POOL, EvictionPolicies.BELADY, false,
                true, "ceiling: optimal (Belady) eviction over one pool of layers*k slots, from the trace's future"));
        add(new ResidencyPolicy(LOOKAHEAD, ResidencyPolicy.Placement.PER_LAYER, EvictionPolicies.PREDICTED, false,
                false, "speculative scheduler: predicted experts of the next D layers copied within a bytes-in-flight"
                + " budget, k slots per layer, eviction by farthest predicted next use"));
        add(new ResidencyPolicy(LOOKAHEAD_GLOBAL, ResidencyPolicy.Placement.GLOBAL_POOL, EvictionPolicies.PREDICTED,
                false, false, "speculative scheduler over one pool of layers*k slots, eviction by farthest predicted"
                + " next use"));
    }

    private ResidencyPolicies() {
    }

    private static void add(ResidencyPolicy p) {
        POLICIES.put(p.name(), p);
    }

    public static List<String> names() {
        return List.copyOf(POLICIES.keySet());
    }

    public static List<ResidencyPolicy> all() {
        return List.copyOf(POLICIES.values());
    }

    /** @throws IllegalArgumentException naming the known policies when {@code name} is unknown */
    public static ResidencyPolicy byName(String name) {
        ResidencyPolicy p = POLICIES.get(name);
        if (p == null) {
            throw new IllegalArgumentException("unknown residency policy '" + name + "'; known: "
                    + String.join(", ", POLICIES.keySet()));
        }
        return p;
    }
}
