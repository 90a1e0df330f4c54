package dev.lookahead.gate;

import java.util.ArrayList;
import java.util.List;

/**
 * Which heads a set of lookahead heads holds, for a model of {@code layers} layers.
 *
 * <ul>
 *   <li>Short-range heads, for prefetching: every layer l, distances 1..{@code distance}, where
 *       l + d is a layer.</li>
 *   <li>Long-range heads, for eviction: from each of the first {@code longRange} layers to every
 *       later layer (distances up to layers - 1 - l). At the start of a token they tell which
 *       experts all its deeper layers will want, so the eviction policy can keep those and evict
 *       the resident experts no layer of this token is predicted to use.</li>
 * </ul>
 * A head that is both (l < longRange, d <= distance) exists once.
 *
 * @param layers    decoder layers of the model
 * @param distance  D, the farthest short-range distance (>= 1)
 * @param longRange F, the number of first layers with long-range heads (0 = none)
 */
public record HeadLayout(int layers, int distance, int longRange) {
    public static final int DEFAULT_DISTANCE = 3;
    public static final int DEFAULT_LONG_RANGE = 2;

    public HeadLayout {
        if (layers < 2) throw new IllegalArgumentException("lookahead heads need a model of >= 2 layers, got " + layers);
        if (distance < 1) throw new IllegalArgumentException("distance must be >= 1, got " + distance);
        if (longRange < 0) throw new IllegalArgumentException("long range must be >= 0, got " + longRange);
    }

    /** Every head, ordered by source layer, then distance. */
    public List<HeadId> heads() {
        List<HeadId> out = new ArrayList<>();
        for (int l = 0; l < layers - 1; l++) {
            int farthest = l < longRange ? layers - 1 - l : Math.min(distance, layers - 1 - l);
            for (int d = 1; d <= farthest; d++) out.add(new HeadId(l, d));
        }
        return out;
    }

    public boolean contains(HeadId id) {
        if (id.target() >= layers) return false;
        return id.distance() <= distance || id.layer() < longRange;
    }

    /** True for a head that exists only because of the long range (d > D). */
    public boolean isLongRangeOnly(HeadId id) {
        return contains(id) && id.distance() > distance;
    }
}
