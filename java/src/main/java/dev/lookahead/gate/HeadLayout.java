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
 *   <li>Next-token heads, for eviction (when {@code nextToken}): from every layer l to layer l
 *       of the next token (distance L). When layer l misses and must evict one of its resident
 *       experts, the head has just read that layer's input: it tells which of them the next
 *       token will want there, which is what per-layer eviction needs to beat LRU (Belady's
 *       advantage comes from knowing later tokens, not the rest of this one).</li>
 * </ul>
 * A head that is both (l < longRange, d <= distance) exists once.
 *
 * @param layers    decoder layers of the model
 * @param distance  D, the farthest short-range distance (>= 1)
 * @param longRange F, the number of first layers with long-range heads (0 = none)
 * @param nextToken whether every layer has a next-token head
 */
public record HeadLayout(int layers, int distance, int longRange, boolean nextToken) {
    public static final int DEFAULT_DISTANCE = 3;
    public static final int DEFAULT_LONG_RANGE = 2;

    public HeadLayout {
        if (layers < 2) throw new IllegalArgumentException("lookahead heads need a model of >= 2 layers, got " + layers);
        if (distance < 1) throw new IllegalArgumentException("distance must be >= 1, got " + distance);
        if (longRange < 0) throw new IllegalArgumentException("long range must be >= 0, got " + longRange);
    }

    /** A layout without next-token heads. */
    public HeadLayout(int layers, int distance, int longRange) {
        this(layers, distance, longRange, false);
    }

    /** Every head, ordered by source layer, then distance. */
    public List<HeadId> heads() {
        List<HeadId> out = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            int farthest = l < longRange ? layers - 1 - l : Math.min(distance, layers - 1 - l);
            for (int d = 1; d <= farthest; d++) out.add(new HeadId(l, d));
            if (nextToken) out.add(new HeadId(l, layers));
        }
        return out;
    }

    public boolean contains(HeadId id) {
        if (id.layer() >= layers) return false;
        if (id.distance() == layers) return nextToken;
        if (id.target() >= layers) return false;
        return id.distance() <= distance || id.layer() < longRange;
    }

    /** True for a next-token head: (l, L), predicting layer l of the next token. */
    public boolean isNextToken(HeadId id) {
        return nextToken && id.distance() == layers && id.layer() < layers;
    }

    /** True for a head that exists only because of the long range (D < d < L). */
    public boolean isLongRangeOnly(HeadId id) {
        return contains(id) && id.distance() > distance && !isNextToken(id);
    }
}
