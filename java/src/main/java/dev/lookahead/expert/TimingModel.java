package dev.lookahead.expert;

/**
 * Cost model of replay: how long a copy and a layer take. See {@link ReplaySimulator} for how they combine.
 *
 * @param expertMib size of one expert blob in MiB (2^20 bytes); Mixtral-8x7B at 4 bits with fp16 scale and zero
 *                  per 64 weights: 3 * 4096 * 14336 weights * 4.5 bits = 94.5 MiB
 * @param linkGbps  host-to-device bandwidth in GB/s (10^9 bytes/s); ~25 for PCIe 4.0 x16 from pinned memory
 * @param layerMs   GPU compute time of one decoder layer for one token (attention, router, experts), ms
 */
public record TimingModel(double expertMib, double linkGbps, double layerMs) {
    public static final TimingModel MIXTRAL_4BIT_PCIE4 = new TimingModel(94, 25, 0.5);

    public TimingModel {
        if (!(expertMib > 0) || !(linkGbps > 0) || !(layerMs >= 0) || Double.isInfinite(expertMib)
                || Double.isInfinite(linkGbps) || Double.isInfinite(layerMs)) {
            throw new IllegalArgumentException("timing model needs expert MiB > 0, link GB/s > 0, layer ms >= 0 (finite), got "
                    + expertMib + ", " + linkGbps + ", " + layerMs);
        }
    }

    /** Bytes of one expert. */
    public long expertBytes() {
        return Math.round(expertMib * 1024 * 1024);
    }

    /** Milliseconds one expert copy occupies the link. */
    public double copyMs() {
        return expertBytes() / (linkGbps * 1e9) * 1e3;
    }
}
