package dev.lookahead.bindings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * A point in a stream's work ({@code lk_event}): recorded on a stream, then queried, waited on by
 * the host or by other streams ({@link Stream#waitEvent(Event)}), or timed. Thread-safe.
 */
public final class Event implements AutoCloseable {
    private static final int LK_ERR_NOT_READY = 6;

    private final Device device;
    private final MemorySegment handle;
    private volatile boolean closed;

    Event(Device device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
    }

    public Device device() {
        return device;
    }

    /** Captures the work enqueued on {@code stream} so far (lk_event_record). */
    public void record(Stream stream) {
        Objects.requireNonNull(stream, "stream");
        MemorySegment s = stream.handleFor(device, "event.record: stream");
        device.check(device.lib().memory().lk_event_record(handle("record"), s), "lk_event_record");
    }

    /** True when the captured work is done (or nothing was recorded), false while pending. */
    public boolean query() {
        int status = device.lib().memory().lk_event_query(handle("query"));
        if (status == LK_ERR_NOT_READY) {
            return false;
        }
        device.check(status, "lk_event_query");
        return true;
    }

    /** Blocks until the captured work is done; reports a sticky stream error as an exception. */
    public void synchronize() {
        device.check(device.lib().memory().lk_event_synchronize(handle("synchronize")), "lk_event_synchronize");
    }

    /**
     * Milliseconds from this event to {@code end}; both must be recorded on this device and
     * complete (lk_event_elapsed_ms).
     */
    public float elapsedMillis(Event end) {
        Objects.requireNonNull(end, "end");
        if (end.device != device) {
            throw new IllegalArgumentException("elapsedMillis: end event belongs to another device ("
                    + end.device + ", this event: " + device + ")");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_FLOAT);
            device.check(device.lib().memory().lk_event_elapsed_ms(handle("elapsedMillis"),
                    end.handle("elapsedMillis: end"), out), "lk_event_elapsed_ms");
            return out.get(ValueLayout.JAVA_FLOAT, 0);
        }
    }

    public boolean isOpen() {
        return !closed;
    }

    /** The native handle, checked for use by {@code role}; also requires the same device. */
    MemorySegment handleFor(Device expected, String role) {
        if (device != expected) {
            throw new IllegalArgumentException(role + " belongs to another device (" + device
                    + ", expected " + expected + ")");
        }
        return handle(role);
    }

    private MemorySegment handle(String role) {
        if (closed) {
            throw new IllegalStateException("Event." + role + ": the event is closed");
        }
        device.requireOpen();
        return handle;
    }

    /** lk_event_destroy. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        device.forget(this);
        device.check(device.lib().memory().lk_event_destroy(handle), "lk_event_destroy");
    }

    @Override
    public String toString() {
        return "Event[" + device + (closed ? ", closed]" : "]");
    }
}
