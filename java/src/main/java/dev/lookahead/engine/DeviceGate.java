package dev.lookahead.engine;

import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.PinnedBuffer;
import dev.lookahead.bindings.Stream;
import dev.lookahead.gate.HeadId;
import dev.lookahead.gate.LookaheadHeads;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The lookahead heads in device memory. At layer l of a decode step, one RMSNorm (unit weight),
 * one matmul of the heads stacked for l ([heads * experts, hidden]), a bias add and a softmax per
 * head give every prediction made at l; they are read back with the router's result, in the
 * same synchronisation, so prediction costs no extra round trip.
 */
public final class DeviceGate implements AutoCloseable {
    private final LookaheadHeads heads;
    private final int experts;
    private final int hidden;
    private final float eps;
    private final List<List<HeadId>> headsOf = new ArrayList<>();
    private final List<DeviceBuffer> buffers = new ArrayList<>();
    private final DeviceSlice[] weights;   // per layer: F32 [heads * experts, hidden] (null: no heads)
    private final DeviceSlice[] biases;    // per layer: F32 [heads * experts]
    private final DeviceSlice ones;        // F32 [hidden]: RMSNorm without a gain
    private final DeviceSlice hHat;        // [1, hidden]
    private final DeviceSlice logits;      // [maxHeads * experts]
    private final DeviceSlice probs;       // [maxHeads * experts]
    private final DeviceSlice topIdx, topWeight; // [maxHeads] (softmax output only is used)
    private final PinnedBuffer host;       // probs read-back [maxHeads * experts]
    private final int maxHeads;

    public DeviceGate(LookaheadHeads heads, int layers, float eps, Device device, Stream stream) {
        this.heads = heads;
        this.experts = heads.experts();
        this.hidden = heads.hidden();
        this.eps = eps;
        this.weights = new DeviceSlice[layers];
        this.biases = new DeviceSlice[layers];
        int most = 1;
        try {
            for (int l = 0; l < layers; l++) {
                List<HeadId> ids = heads.headsFrom(l);
                headsOf.add(ids);
                if (ids.isEmpty()) continue;
                most = Math.max(most, ids.size());
                weights[l] = upload(device, stream, heads.stackedWeights(l));
                biases[l] = upload(device, stream, heads.stackedBiases(l));
            }
            this.maxHeads = most;
            float[] one = new float[hidden];
            java.util.Arrays.fill(one, 1f);
            this.ones = upload(device, stream, one);
            DeviceBuffer scratch = device.allocate(4L * (hidden + 2L * maxHeads * experts + 2L * maxHeads) + 1024);
            buffers.add(scratch);
            long o = 0;
            hHat = scratch.slice(o, 4L * hidden); o = align(o + 4L * hidden);
            logits = scratch.slice(o, 4L * maxHeads * experts); o = align(o + 4L * maxHeads * experts);
            probs = scratch.slice(o, 4L * maxHeads * experts); o = align(o + 4L * maxHeads * experts);
            topIdx = scratch.slice(o, 4L * maxHeads); o = align(o + 4L * maxHeads);
            topWeight = scratch.slice(o, 4L * maxHeads);
            this.host = device.allocatePinned(4L * maxHeads * experts);
            stream.synchronize();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static long align(long n) {
        return (n + 255) & ~255L;
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

    /** Enqueues the predictions made at {@code layer} from x [1, hidden] and their read-back. */
    public void enqueue(Stream stream, DeviceSlice x, int layer) {
        int n = headsOf.get(layer).size();
        if (n == 0) return;
        long width = (long) n * experts;
        stream.rmsnorm(x, DType.F32, ones, 1, hidden, eps, hHat);
        stream.matmul(DType.F32, weights[layer], hHat, 1, width, hidden, logits.slice(0, 4 * width));
        stream.add(logits.slice(0, 4 * width), biases[layer], width);
        stream.routerTopk(logits.slice(0, 4 * width), n, experts, 1, false, probs.slice(0, 4 * width),
                topIdx.slice(0, 4L * n), topWeight.slice(0, 4L * n));
        stream.copyToHost(probs.slice(0, 4 * width), host.segment().asSlice(0, 4 * width));
    }

    /** After the stream is synchronised: probability that head {@code head} (index into headsFrom) gives expert e. */
    public float probability(int head, int expert) {
        return host.segment().getAtIndex(ValueLayout.JAVA_FLOAT, (long) head * experts + expert);
    }

    @Override
    public void close() {
        if (host != null) host.close();
        buffers.forEach(DeviceBuffer::close);
        buffers.clear();
    }
}
