package dev.lookahead.engine;

import dev.lookahead.bindings.AttentionShape;
import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceSlice;

import java.util.ArrayList;
import java.util.List;

/** Keys and values of every layer: two device buffers [capacity, kvHeads, headDim] per layer. */
public final class KvCache implements AutoCloseable {
    private final List<DeviceBuffer> keys = new ArrayList<>();
    private final List<DeviceBuffer> values = new ArrayList<>();
    private final AttentionShape shape;

    public KvCache(Device device, int layers, AttentionShape shape) {
        this.shape = shape;
        try {
            for (int l = 0; l < layers; l++) {
                keys.add(device.allocate(shape.cacheBytes()));
                values.add(device.allocate(shape.cacheBytes()));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public AttentionShape shape() {
        return shape;
    }

    public long capacity() {
        return shape.ctxCapacity();
    }

    public DType dtype() {
        return shape.kvDtype();
    }

    public DeviceSlice keys(int layer) {
        return keys.get(layer).all();
    }

    public DeviceSlice values(int layer) {
        return values.get(layer).all();
    }

    /** Rows [pos, pos + n) of a layer's cache buffer. */
    public DeviceSlice rows(DeviceSlice cache, long pos, long n) {
        long rowElems = (long) shape.nKvHeads() * shape.headDim();
        return cache.slice(pos * rowElems * dtype().byteSize(), n * rowElems * dtype().byteSize());
    }

    public long bytes() {
        return 2L * keys.size() * shape.cacheBytes();
    }

    @Override
    public void close() {
        keys.forEach(DeviceBuffer::close);
        values.forEach(DeviceBuffer::close);
        keys.clear();
        values.clear();
    }
}
