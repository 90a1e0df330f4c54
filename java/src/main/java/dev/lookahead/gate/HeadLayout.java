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
 *   <li>Next-token heads, for eviction ({@link NextToken}): from layer l to layer m of the next
 *       token (distance L - l + m). Belady's advantage over LRU comes from knowing later tokens,
 *       not the rest of this one, so these are what eviction needs: when layer l misses, the
 *       heads have just read its input and tell which resident experts the next token will want.
 *       {@code TWO_TOKENS} adds layer l of the token after it (distance 2L).</li>
 * </ul>
 * A head that is both (l < longRange, d <= distance) exists once.
 *
 * @param layers    decoder layers of the model
 * @param distance  D, the farthest short-range distance (>= 1)
 * @param longRange F, the number of first layers with long-range heads (0 = none)
 * @param nextToken which next-token heads exist
 */
public record HeadLayout(int layers, int distance, int longRange, NextToken nextToken) {
    public static final int DEFAULT_DISTANCE = 3;
    public static final int DEFAULT_LONG_RANGE = 2;

    /** Next-token heads of a layout. */
    public enum NextToken {
        /** none */
        NONE("0"),
        /** (l, L) for every layer l: layer l of the next token (what per-layer eviction at l needs) */
        SAME_LAYER("1"),
        /** (l, L - l + m) for every l and m: every layer of the next token, from every layer (for a shared pool) */
        ALL_LAYERS("all"),
        /** (l, L) and (l, 2L): layer l of the next two tokens */
        TWO_TOKENS("2");

        private final String metadata;

        NextToken(String metadata) {
            this.metadata = metadata;
        }

        /** Its value in a heads file's {@code lookahead.next_token}. */
        public String metadata() {
            return metadata;
        }

        /** The inverse of {@link #metadata()}; null for an unknown value. */
        public static NextToken ofMetadata(String value) {
            for (NextToken n : values()) if (n.metadata.equals(value)) return n;
            return null;
        }

        /** Parses a command-line value: none, same-layer, all-layers or two-tokens. */
        public static NextToken parse(String value) {
            for (NextToken n : values()) if (n.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-').equals(value)) return n;
            throw new IllegalArgumentException("next-token heads must be none, same-layer, all-layers or two-tokens, got '"
                    + value + "'");
        }
    }

    public HeadLayout {
        if (layers < 2) throw new IllegalArgumentException("lookahead heads need a model of >= 2 layers, got " + layers);
        if (distance < 1) throw new IllegalArgumentException("distance must be >= 1, got " + distance);
        if (longRange < 0) throw new IllegalArgumentException("long range must be >= 0, got " + longRange);
        if (nextToken == null) throw new IllegalArgumentException("next-token heads must be named (NONE for none)");
    }

    /** A layout without next-token heads. */
    public HeadLayout(int layers, int distance, int longRange) {
        this(layers, distance, longRange, NextToken.NONE);
    }

    /** Every head, ordered by source layer, then distance. */
    public List<HeadId> heads() {
        List<HeadId> out = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            int farthest = l < longRange ? layers - 1 - l : Math.min(distance, layers - 1 - l);
            for (int d = 1; d <= farthest; d++) out.add(new HeadId(l, d));
            switch (nextToken) {
                case NONE -> { }
                case SAME_LAYER -> out.add(new HeadId(l, layers));
                case ALL_LAYERS -> {
                    for (int m = 0; m < layers; m++) out.add(new HeadId(l, layers - l + m));
                }
                case TWO_TOKENS -> {
                    out.add(new HeadId(l, layers));
                    out.add(new HeadId(l, 2 * layers));
                }
            }
        }
        return out;
    }

    public boolean contains(HeadId id) {
        if (id.layer() >= layers) return false;
        if (id.target() >= layers) return isNextToken(id);
        return id.distance() <= distance || id.layer() < longRange;
    }

    /** True for a next-token head of this layout (its target is a layer of the next token). */
    public boolean isNextToken(HeadId id) {
        if (id.layer() >= layers || id.target() < layers) return false;
        return switch (nextToken) {
            case NONE -> false;
            case SAME_LAYER -> id.distance() == layers;
            case ALL_LAYERS -> id.target() < 2 * layers;
            case TWO_TOKENS -> id.distance() == layers || id.distance() == 2 * layers;
        };
    }

    /** True for a head that exists only because of the long range (D < d < L). */
    public boolean isLongRangeOnly(HeadId id) {
        return contains(id) && id.distance() > distance && !isNextToken(id);
    }
}
