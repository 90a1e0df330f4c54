package dev.lookahead.bindings.ffi;

import static dev.lookahead.bindings.ffi.NativeLibrary.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Section "memory" of lookahead.h: device buffers, pinned host buffers, streams, events and
 * copies. Returns are {@code lk_status} codes; {@code size_t} is a Java long.
 *
 * <p>Device pointers ({@code void* dst_device}, ...) are addresses in the device's memory space,
 * not host memory, so they are passed as {@code long} (on LP64 a pointer and an int64 travel in
 * the same register): no MemorySegment is allocated per call. Host memory is passed as a
 * MemorySegment, which FFM keeps alive for the duration of the call.
 */
public final class LkMemory {
    private final MethodHandle bufferAlloc;
    private final MethodHandle bufferFree;
    private final MethodHandle bufferPtr;
    private final MethodHandle hostBufferAlloc;
    private final MethodHandle hostBufferFree;
    private final MethodHandle hostBufferPtr;
    private final MethodHandle streamCreate;
    private final MethodHandle streamDestroy;
    private final MethodHandle streamSynchronize;
    private final MethodHandle streamWaitEvent;
    private final MethodHandle eventCreate;
    private final MethodHandle eventDestroy;
    private final MethodHandle eventRecord;
    private final MethodHandle eventQuery;
    private final MethodHandle eventSynchronize;
    private final MethodHandle eventElapsedMs;
    private final MethodHandle copyH2d;
    private final MethodHandle copyD2h;
    private final MethodHandle copyD2d;
    private final MethodHandle memset;
    private final MethodHandle fillU32;

    LkMemory(NativeLibrary lib) {
        bufferAlloc = lib.downcall("lk_buffer_alloc", JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS);
        bufferFree = lib.downcall("lk_buffer_free", JAVA_INT, ADDRESS);
        bufferPtr = lib.downcall("lk_buffer_ptr", JAVA_INT, ADDRESS, ADDRESS);
        hostBufferAlloc = lib.downcall("lk_host_buffer_alloc", JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS);
        hostBufferFree = lib.downcall("lk_host_buffer_free", JAVA_INT, ADDRESS);
        hostBufferPtr = lib.downcall("lk_host_buffer_ptr", JAVA_INT, ADDRESS, ADDRESS);
        streamCreate = lib.downcall("lk_stream_create", JAVA_INT, ADDRESS, ADDRESS);
        streamDestroy = lib.downcall("lk_stream_destroy", JAVA_INT, ADDRESS);
        streamSynchronize = lib.downcall("lk_stream_synchronize", JAVA_INT, ADDRESS);
        streamWaitEvent = lib.downcall("lk_stream_wait_event", JAVA_INT, ADDRESS, ADDRESS);
        eventCreate = lib.downcall("lk_event_create", JAVA_INT, ADDRESS, ADDRESS);
        eventDestroy = lib.downcall("lk_event_destroy", JAVA_INT, ADDRESS);
        eventRecord = lib.downcall("lk_event_record", JAVA_INT, ADDRESS, ADDRESS);
        eventQuery = lib.downcall("lk_event_query", JAVA_INT, ADDRESS);
        eventSynchronize = lib.downcall("lk_event_synchronize", JAVA_INT, ADDRESS);
        eventElapsedMs = lib.downcall("lk_event_elapsed_ms", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        copyH2d = lib.downcall("lk_copy_h2d", JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG);
        copyD2h = lib.downcall("lk_copy_d2h", JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG);
        copyD2d = lib.downcall("lk_copy_d2d", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG);
        memset = lib.downcall("lk_memset", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_LONG);
        fillU32 = lib.downcall("lk_fill_u32", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_LONG);
    }

    /** {@code lk_buffer_alloc(lk_device*, size_t bytes, lk_buffer** out)}. */
    public int lk_buffer_alloc(MemorySegment device, long bytes, MemorySegment out) {
        try {
            return (int) bufferAlloc.invokeExact(device, bytes, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_buffer_free(lk_buffer*)}. */
    public int lk_buffer_free(MemorySegment buffer) {
        try {
            return (int) bufferFree.invokeExact(buffer);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_buffer_ptr(lk_buffer*, void** out)}. */
    public int lk_buffer_ptr(MemorySegment buffer, MemorySegment out) {
        try {
            return (int) bufferPtr.invokeExact(buffer, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_host_buffer_alloc(lk_device*, size_t bytes, lk_host_buffer** out)}. */
    public int lk_host_buffer_alloc(MemorySegment device, long bytes, MemorySegment out) {
        try {
            return (int) hostBufferAlloc.invokeExact(device, bytes, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_host_buffer_free(lk_host_buffer*)}. */
    public int lk_host_buffer_free(MemorySegment buffer) {
        try {
            return (int) hostBufferFree.invokeExact(buffer);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_host_buffer_ptr(lk_host_buffer*, void** out)}. */
    public int lk_host_buffer_ptr(MemorySegment buffer, MemorySegment out) {
        try {
            return (int) hostBufferPtr.invokeExact(buffer, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_stream_create(lk_device*, lk_stream** out)}. */
    public int lk_stream_create(MemorySegment device, MemorySegment out) {
        try {
            return (int) streamCreate.invokeExact(device, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_stream_destroy(lk_stream*)} — waits for pending work. */
    public int lk_stream_destroy(MemorySegment stream) {
        try {
            return (int) streamDestroy.invokeExact(stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_stream_synchronize(lk_stream*)}. */
    public int lk_stream_synchronize(MemorySegment stream) {
        try {
            return (int) streamSynchronize.invokeExact(stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_stream_wait_event(lk_stream*, lk_event*)}. */
    public int lk_stream_wait_event(MemorySegment stream, MemorySegment event) {
        try {
            return (int) streamWaitEvent.invokeExact(stream, event);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_event_create(lk_device*, lk_event** out)}. */
    public int lk_event_create(MemorySegment device, MemorySegment out) {
        try {
            return (int) eventCreate.invokeExact(device, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_event_destroy(lk_event*)}. */
    public int lk_event_destroy(MemorySegment event) {
        try {
            return (int) eventDestroy.invokeExact(event);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_event_record(lk_event*, lk_stream*)}. */
    public int lk_event_record(MemorySegment event, MemorySegment stream) {
        try {
            return (int) eventRecord.invokeExact(event, stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_event_query(lk_event*)} — LK_OK when done, LK_ERR_NOT_READY if not. */
    public int lk_event_query(MemorySegment event) {
        try {
            return (int) eventQuery.invokeExact(event);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_event_synchronize(lk_event*)}. */
    public int lk_event_synchronize(MemorySegment event) {
        try {
            return (int) eventSynchronize.invokeExact(event);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_event_elapsed_ms(lk_event* start, lk_event* end, float* out_ms)}. */
    public int lk_event_elapsed_ms(MemorySegment start, MemorySegment end, MemorySegment outMs) {
        try {
            return (int) eventElapsedMs.invokeExact(start, end, outMs);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_copy_h2d(lk_stream*, void* dst_device, const void* src_host, size_t bytes)}. */
    public int lk_copy_h2d(MemorySegment stream, long dstDevice, MemorySegment srcHost, long bytes) {
        try {
            return (int) copyH2d.invokeExact(stream, dstDevice, srcHost, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_copy_d2h(lk_stream*, void* dst_host, const void* src_device, size_t bytes)}. */
    public int lk_copy_d2h(MemorySegment stream, MemorySegment dstHost, long srcDevice, long bytes) {
        try {
            return (int) copyD2h.invokeExact(stream, dstHost, srcDevice, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_copy_d2d(lk_stream*, void* dst_device, const void* src_device, size_t bytes)}. */
    public int lk_copy_d2d(MemorySegment stream, long dstDevice, long srcDevice, long bytes) {
        try {
            return (int) copyD2d.invokeExact(stream, dstDevice, srcDevice, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_fill_u32(lk_stream*, void* dst_device, uint32_t value, size_t count)}. */
    public int lk_fill_u32(MemorySegment stream, long dstDevice, int value, long count) {
        try {
            return (int) fillU32.invokeExact(stream, dstDevice, value, count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_memset(lk_stream*, void* dst_device, int32_t byte_value, size_t bytes)}. */
    public int lk_memset(MemorySegment stream, long dstDevice, int byteValue, long bytes) {
        try {
            return (int) memset.invokeExact(stream, dstDevice, byteValue, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
