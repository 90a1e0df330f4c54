package dev.lookahead.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Moves test data between Java arrays and one device: uploads in any dtype (rounded in Java),
 * downloads after synchronizing. Buffers it allocates are freed by {@link #freeAll()}.
 */
final class OpRunner implements AutoCloseable {
    /** Output buffers start as 0xFF bytes: NaN as f32/f16/bf16, so unwritten outputs fail NMSE checks. */
    static final int POISON = 0xFF;

    final Device device;
    final Stream stream;
    private final List<DeviceBuffer> buffers = new ArrayList<>();

    OpRunner(Device device) {
        this.device = device;
        this.stream = device.createStream();
    }

    /** Uploads {@code values} converted to {@code dtype} (F32/F16/BF16). */
    DeviceSlice upload(DType dtype, float[] values) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) values.length * dtype.byteSize(), 8);
            for (int i = 0; i < values.length; i++) {
                switch (dtype) {
                    case F32 -> host.setAtIndex(ValueLayout.JAVA_FLOAT, i, values[i]);
                    case F16 -> host.setAtIndex(ValueLayout.JAVA_SHORT, i, Numerics.toF16(values[i]));
                    case BF16 -> host.setAtIndex(ValueLayout.JAVA_SHORT, i, Numerics.toBf16(values[i]));
                    case I32 -> throw new IllegalArgumentException("use uploadInts");
                }
            }
            return uploadSegment(host);
        }
    }

    DeviceSlice upload(float[] values) {
        return upload(DType.F32, values);
    }

    DeviceSlice uploadInts(int[] values) {
        try (Arena arena = Arena.ofConfined()) {
            return uploadSegment(arena.allocateFrom(ValueLayout.JAVA_INT, values));
        }
    }

    DeviceSlice uploadShorts(short[] values) {
        try (Arena arena = Arena.ofConfined()) {
            return uploadSegment(arena.allocateFrom(ValueLayout.JAVA_SHORT, values));
        }
    }

    DeviceSlice uploadBytes(byte[] values) {
        try (Arena arena = Arena.ofConfined()) {
            return uploadSegment(arena.allocateFrom(ValueLayout.JAVA_BYTE, values));
        }
    }

    /** A fresh buffer of {@code bytes}, filled with {@link #POISON}. */
    DeviceSlice output(long bytes) {
        DeviceBuffer b = device.allocate(bytes);
        buffers.add(b);
        stream.memset(b.all(), POISON);
        // Tests may run the op on another stream: the poison must land before it, not after.
        stream.synchronize();
        return b.all();
    }

    float[] downloadFloats(DType dtype, DeviceSlice src, int count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) count * dtype.byteSize(), 8);
            stream.copyToHost(src.slice(0, host.byteSize()), host);
            stream.synchronize();
            float[] out = new float[count];
            for (int i = 0; i < count; i++) {
                out[i] = switch (dtype) {
                    case F32 -> host.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                    case F16 -> Numerics.fromF16(host.getAtIndex(ValueLayout.JAVA_SHORT, i));
                    case BF16 -> Numerics.fromBf16(host.getAtIndex(ValueLayout.JAVA_SHORT, i));
                    case I32 -> throw new IllegalArgumentException("use downloadInts");
                };
            }
            return out;
        }
    }

    float[] download(DeviceSlice src, int count) {
        return downloadFloats(DType.F32, src, count);
    }

    int[] downloadInts(DeviceSlice src, int count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) count * 4, 4);
            stream.copyToHost(src.slice(0, host.byteSize()), host);
            stream.synchronize();
            return host.toArray(ValueLayout.JAVA_INT);
        }
    }

    short[] downloadShorts(DeviceSlice src, int count) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate((long) count * 2, 2);
            stream.copyToHost(src.slice(0, host.byteSize()), host);
            stream.synchronize();
            return host.toArray(ValueLayout.JAVA_SHORT);
        }
    }

    /** Frees every buffer this runner allocated (after synchronizing). */
    void freeAll() {
        stream.synchronize();
        for (DeviceBuffer b : buffers) {
            b.close();
        }
        buffers.clear();
    }

    private DeviceSlice uploadSegment(MemorySegment host) {
        DeviceBuffer b = device.allocate(Math.max(1, host.byteSize()));
        buffers.add(b);
        DeviceSlice s = b.slice(0, host.byteSize());
        stream.copyToDevice(host, s);
        // The host segment dies with the caller's arena: wait for the copy before returning.
        stream.synchronize();
        return s;
    }

    @Override
    public void close() {
        try {
            freeAll();
        } finally {
            stream.close();
        }
    }
}
