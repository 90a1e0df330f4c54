package dev.lookahead.engine;

import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.Stream;

/**
 * Forwards the compute stream's spans (forward call, layer, attention, router, experts, each
 * expert, copy waits, embedding, LM head) to the device's profiler ranges: NVTX on CUDA, so
 * Nsight Systems shows the engine's structure ("layer 3", "expert 5 of layer 3") above the kernels.
 * Only the compute track is forwarded, because NVTX ranges form one stack per host thread and the
 * spans of one track are the ones guaranteed to nest; copies show as memcpy rows in Nsight anyway.
 */
public final class NvtxTimeline implements Timeline {
    private final Device device;
    private Stream compute;

    public NvtxTimeline(Device device) {
        this.device = device;
    }

    @Override
    public void beginForward(Stream compute, int tokens, long pos) {
        this.compute = compute;
        device.rangePush((tokens == 1 ? "decode" : "prefill " + tokens + " tokens") + " @" + pos);
    }

    @Override
    public void endForward() {
        device.rangePop();
    }

    @Override
    public void begin(Stream stream, Span span, int layer, int expert) {
        if (stream != compute) return;
        String name = span.label();
        if (expert >= 0) name += " " + expert;
        if (layer >= 0) name += (expert >= 0 ? " of layer " : " ") + layer;
        device.rangePush(name);
    }

    @Override
    public void end(Stream stream, Span span) {
        if (stream == compute) device.rangePop();
    }

    @Override
    public void beginHost(Span span, int layer) {
    }

    @Override
    public void endHost(Span span) {
    }
}
