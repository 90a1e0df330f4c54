package dev.lookahead.engine;

import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.Stream;
import dev.lookahead.gate.HeadId;
import dev.lookahead.gate.LookaheadHeads;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The lookahead heads in device memory: per layer l, the heads reading l stacked into one matrix
 * [heads * experts, hidden] and their biases. The forward pass evaluates them with the layer's router
 * in one op ({@code lk_router_heads}: unit-weight RMSNorm, matmul, bias, softmax per head) and reads
 * their probabilities back with the router's choice in the same copy, so prediction costs neither an
 * extra launch nor an extra round trip; {@link #accept} then hands this object its copy.
 */
public final class DeviceGate implements AutoCloseable {
    private final LookaheadHeads heads;
    private final int experts;
    private final int hidden;
    private final List<List<HeadId>> headsOf = new ArrayList<>();
    private final List<DeviceBuffer> buffers = new ArrayList<>();
    private final DeviceSlice[] weights;   // per layer: F32 [heads * experts, hidden] (null: no heads)
    private final DeviceSlice[] biases;    // per layer: F32 [heads * experts]
    private final float[] probs;           // [maxHeads * experts]: the last accepted layer's probabilities
    private final int maxHeads;

    public DeviceGate(LookaheadHeads heads, int layers, Device device, Stream stream) {
        this.heads = heads;
        this.experts = heads.experts();
        this.hidden = heads.hidden();
        this.weights = new DeviceSlice[layers];
        this.biases = new DeviceSlice[layers];
        int most = 0;
        try {
            for (int l = 0; l < layers; l++) {
                List<HeadId> ids = heads.headsFrom(l);
                headsOf.add(ids);
                if (ids.isEmpty()) continue;
                most = Math.max(most, ids.size());
                weights[l] = upload(device, stream, heads.stackedWeights(l));
                biases[l] = upload(device, stream, heads.stackedBiases(l));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        this.maxHeads = most;
        this.probs = new float[Math.max(1, most) * experts];
    }

    private DeviceSlice upload(Device device, Stream stream, float[] values) {
        DeviceBuffer b = device.allocate(4L * values.length);
        buffers.add(b);
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment src = arena.allocate(4L * values.length, 64);
            MemorySegment.copy(values, 0, src, ValueLayout.JAVA_FLOAT, 0, values.length);
            stream.copyToDevice(src, b.all());
            stream.synchronize();
        }
        return b.all();
    }

    public LookaheadHeads heads() {
        return heads;
    }

    /** The heads reading layer {@code layer}, in the order of their probabilities. */
    public List<HeadId> headsFrom(int layer) {
        return headsOf.get(layer);
    }

    /** Number of heads reading layer {@code layer} (0: none). */
    public int headCount(int layer) {
        return headsOf.get(layer).size();
    }

    /** The most heads any layer has. */
    public int maxHeads() {
        return maxHeads;
    }

    public int hidden() {
        return hidden;
    }

    /** F32 [headCount * experts, hidden]: the heads of {@code layer} stacked; null when it has none. */
    public DeviceSlice weights(int layer) {
        return weights[layer];
    }

    /** F32 [headCount * experts]: their biases; null when the layer has no heads. */
    public DeviceSlice biases(int layer) {
        return biases[layer];
    }

    /**
     * Takes the probabilities of layer {@code layer}'s heads from the routing read-back:
     * {@code src} holds f32 [headCount(layer), experts] (one softmax per head) at offset 0.
     */
    public void accept(int layer, MemorySegment src) {
        int n = headCount(layer) * experts;
        MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, 0, probs, 0, n);
    }

    /** After {@link #accept}: probability that head {@code head} (index into headsFrom) gives expert e. */
    public float probability(int head, int expert) {
        return probs[head * experts + expert];
    }

    /** Replaces head {@code head}'s probabilities after {@link #accept}: [experts] (a what-if, {@link HeadOracle}). */
    void override(int head, float[] probabilities) {
        System.arraycopy(probabilities, 0, probs, head * experts, experts);
    }

    @Override
    public void close() {
        buffers.forEach(DeviceBuffer::close);
        buffers.clear();
    }
}
