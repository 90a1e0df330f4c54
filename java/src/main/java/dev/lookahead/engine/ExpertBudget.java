package dev.lookahead.engine;

import dev.lookahead.model.ModelConfig;

import java.util.Locale;

/**
 * Turns a device memory budget into expert slots: the weights that stay resident, the KV cache
 * and the forward pass's scratch are placed first; what remains, less two staging slots for
 * prefill streaming and a small allowance for allocation rounding, becomes fixed-size slots.
 */
public final class ExpertBudget {
    /** Prefill streaming slots, allocated beside the cache's slots. */
    public static final int STAGING_SLOTS = 2;

    private ExpertBudget() {
    }

    /**
     * @param budget    device bytes the model may use
     * @param placed    bytes of the resident weights, KV cache and scratch
     * @param blobBytes bytes of one expert slot
     * @return slots per layer, at most the experts of a layer
     * @throws IllegalArgumentException when fewer than top-k slots per layer fit, naming the minimum budget
     */
    public static int slotsPerLayer(long budget, long placed, long blobBytes, ModelConfig config) {
        int layers = config.numHiddenLayers(), experts = config.numLocalExperts(), topK = config.numExpertsPerTok();
        long allowance = (1L << 20) + placed / 200;
        long free = budget - placed - allowance - STAGING_SLOTS * blobBytes;
        long perLayer = free <= 0 ? 0 : free / blobBytes / layers;
        if (perLayer < topK) {
            long minimum = placed + allowance + (STAGING_SLOTS + (long) layers * topK) * blobBytes;
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "device memory budget %s is too small: the resident weights, KV cache and scratch take %s, and %d layers x"
                            + " top-%d expert slots of %s (+%d staging) need at least %s in all",
                    mib(budget), mib(placed), layers, topK, mib(blobBytes), STAGING_SLOTS, mib(minimum)));
        }
        return (int) Math.min(perLayer, experts);
    }

    static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
