package dev.lookahead.bindings;

import java.lang.foreign.MemorySegment;

/**
 * Device memory ({@code lk_buffer}) of {@link #size()} bytes, at least 256-byte aligned.
 *
 * <p>Ops address it through {@link DeviceSlice}s. Closing it frees the memory at once: first
 * synchronize every stream that still has work using it (as with cudaFree, the native side does
 * not track pending work per buffer). Thread-safe.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final Device device;
    private final MemorySegment handle;
    private final long size;
    private final long address;
    private volatile boolean closed;

    DeviceBuffer(Device device, MemorySegment handle, long size, long address) {
        this.device = device;
        this.handle = handle;
        this.size = size;
        this.address = address;
    }

    /** The device whose memory this is. */
    public Device device() {
        return device;
    }

    /** Bytes allocated. */
    public long size() {
        return size;
    }

    /** {@code bytes} bytes starting at {@code offset}; both checked against the buffer's bounds. */
    public DeviceSlice slice(long offset, long bytes) {
        return new DeviceSlice(this, offset, bytes);
    }

    /** The whole buffer. */
    public DeviceSlice all() {
        return new DeviceSlice(this, 0, size);
    }

    /** {@code count} elements of {@code dtype} starting at element {@code firstElement}. */
    public DeviceSlice elements(DType dtype, long firstElement, long count) {
        return new DeviceSlice(this, Math.multiplyExact(firstElement, dtype.byteSize()),
                Math.multiplyExact(count, dtype.byteSize()));
    }

    public boolean isOpen() {
        return !closed;
    }

    /** Device address of the first byte (lk_buffer_ptr); throws if the buffer is closed. */
    long address(String op, String arg) {
        if (closed) {
            throw new IllegalStateException(op + ": " + arg + " is a slice of a closed DeviceBuffer (" + size
                    + " bytes)");
        }
        return address;
    }

    /** Frees the memory (lk_buffer_free). Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        device.forget(this);
        device.check(device.lib().memory().lk_buffer_free(handle), "lk_buffer_free");
    }

    @Override
    public String toString() {
        return "DeviceBuffer[" + size + " bytes on " + device + (closed ? ", closed]" : "]");
    }
}
