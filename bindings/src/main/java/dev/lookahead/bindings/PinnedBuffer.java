package dev.lookahead.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory ({@code lk_host_buffer}), at least 4096-byte aligned; copies from and to
 * it can run truly asynchronously.
 *
 * <p>{@link #segment()} is valid until {@link #close()}: the segment belongs to an arena this
 * buffer owns, so Java code cannot touch the memory after it is freed. Native code still can:
 * synchronize the streams with pending copies from or to it before closing. Thread-safe.
 */
public final class PinnedBuffer implements AutoCloseable {
    private final Device device;
    private final MemorySegment handle;
    private final long size;
    private final Arena arena;
    private final MemorySegment segment;
    private boolean closed;

    @SuppressWarnings("restricted") // size is what lk_host_buffer_alloc allocated
    PinnedBuffer(Device device, MemorySegment handle, long size, long address) {
        this.device = device;
        this.handle = handle;
        this.size = size;
        this.arena = Arena.ofShared();
        // The memory is the library's; the arena only bounds the segment's lifetime.
        this.segment = MemorySegment.ofAddress(address).reinterpret(size, arena, null);
    }

    public Device device() {
        return device;
    }

    public long size() {
        return size;
    }

    /** The host memory, readable and writable from Java; throws IllegalStateException once closed. */
    public MemorySegment segment() {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("PinnedBuffer (" + size + " bytes) is closed");
        }
        return segment;
    }

    public synchronized boolean isOpen() {
        return !closed;
    }

    /** Invalidates {@link #segment()} and frees the memory (lk_host_buffer_free). Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            // Throws (and leaves the buffer open) while a downcall is still using the segment.
            arena.close();
            closed = true;
        }
        device.forget(this);
        device.check(device.lib().memory().lk_host_buffer_free(handle), "lk_host_buffer_free");
    }

    @Override
    public String toString() {
        return "PinnedBuffer[" + size + " bytes on " + device + (closed ? ", closed]" : "]");
    }
}
