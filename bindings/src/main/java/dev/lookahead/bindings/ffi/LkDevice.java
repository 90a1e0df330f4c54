package dev.lookahead.bindings.ffi;

import static dev.lookahead.bindings.ffi.NativeLibrary.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/** Section "device" of lookahead.h. Returns are {@code lk_status} codes. */
public final class LkDevice {
    private final MethodHandle open;
    private final MethodHandle close;
    private final MethodHandle getInfo;

    LkDevice(NativeLibrary lib) {
        open = lib.downcall("lk_device_open", JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        close = lib.downcall("lk_device_close", JAVA_INT, ADDRESS);
        getInfo = lib.downcall("lk_device_get_info", JAVA_INT, ADDRESS, ADDRESS);
    }

    /** {@code lk_device_open(const char* backend, const lk_device_options* options, lk_device** out)}. */
    public int lk_device_open(MemorySegment backend, MemorySegment options, MemorySegment out) {
        try {
            return (int) open.invokeExact(backend, options, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_device_close(lk_device*)}. */
    public int lk_device_close(MemorySegment device) {
        try {
            return (int) close.invokeExact(device);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_device_get_info(lk_device*, lk_device_info* out)}. */
    public int lk_device_get_info(MemorySegment device, MemorySegment out) {
        try {
            return (int) getInfo.invokeExact(device, out);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
