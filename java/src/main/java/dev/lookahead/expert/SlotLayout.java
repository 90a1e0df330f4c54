package dev.lookahead.expert;

/**
 * Which device slots an expert of a given layer may occupy. Slots are numbered 0 .. totalSlots()-1 and all have
 * the same size (one expert blob), so the engine maps slot i to byte offset i * slotBytes of one device buffer.
 * The slots a layer may use are always one contiguous range [firstSlot(layer), firstSlot(layer) + slotCount(layer)).
 */
public sealed interface SlotLayout permits SlotLayout.PerLayer, SlotLayout.GlobalPool {
    /** Number of MoE layers whose experts this layout holds. */
    int layers();

    /** Number of device slots in all. */
    int totalSlots();

    /** First slot an expert of {@code layer} may occupy. */
    int firstSlot(int layer);

    /** Number of slots an expert of {@code layer} may occupy, starting at {@link #firstSlot}. */
    int slotCount(int layer);

    /** Short human-readable description, e.g. "4 slots/layer" or "128-slot pool". */
    String describe();

    /**
     * Mixtral-offloading's layout: each layer owns {@code slotsPerLayer} slots; layer l uses slots
     * [l * slotsPerLayer, (l + 1) * slotsPerLayer). Eviction only ever competes within one layer.
     */
    record PerLayer(int layers, int slotsPerLayer) implements SlotLayout {
        public PerLayer {
            if (layers <= 0 || slotsPerLayer <= 0) {
                throw new IllegalArgumentException("per-layer slot layout needs layers > 0 and slots per layer > 0, got "
                        + layers + " layers, " + slotsPerLayer + " slots per layer");
            }
        }

        @Override
        public int totalSlots() {
            return Math.multiplyExact(layers, slotsPerLayer);
        }

        @Override
        public int firstSlot(int layer) {
            checkLayer(layer, layers);
            return layer * slotsPerLayer;
        }

        @Override
        public int slotCount(int layer) {
            checkLayer(layer, layers);
            return slotsPerLayer;
        }

        @Override
        public String describe() {
            return slotsPerLayer + " slots/layer";
        }
    }

    /** One pool of {@code slots} slots shared by all layers: any expert may take any slot. */
    record GlobalPool(int layers, int slots) implements SlotLayout {
        public GlobalPool {
            if (layers <= 0 || slots <= 0) {
                throw new IllegalArgumentException("global slot pool needs layers > 0 and slots > 0, got "
                        + layers + " layers, " + slots + " slots");
            }
        }

        @Override
        public int totalSlots() {
            return slots;
        }

        @Override
        public int firstSlot(int layer) {
            checkLayer(layer, layers);
            return 0;
        }

        @Override
        public int slotCount(int layer) {
            checkLayer(layer, layers);
            return slots;
        }

        @Override
        public String describe() {
            return slots + "-slot pool";
        }
    }

    private static void checkLayer(int layer, int layers) {
        if (layer < 0 || layer >= layers) {
            throw new IllegalArgumentException("layer " + layer + " outside 0.." + (layers - 1));
        }
    }
}
