package dev.lookahead.expert;

/**
 * One expert of one MoE layer: the unit the residency cache moves between pinned host memory and a device slot.
 *
 * @param layer  decoder layer, from 0
 * @param expert expert index within the layer, from 0
 */
public record ExpertId(int layer, int expert) {
    public ExpertId {
        if (layer < 0 || expert < 0) {
            throw new IllegalArgumentException("expert id needs layer >= 0 and expert >= 0, got layer " + layer
                    + ", expert " + expert);
        }
    }

    /** Every expert of a model, indexed [layer * experts + expert], for lookups that should not allocate. */
    public static ExpertId[] table(int layers, int experts) {
        ExpertId[] ids = new ExpertId[layers * experts];
        for (int l = 0; l < layers; l++) {
            for (int e = 0; e < experts; e++) ids[l * experts + e] = new ExpertId(l, e);
        }
        return ids;
    }

    @Override
    public String toString() {
        return "L" + layer + "/E" + expert;
    }
}
