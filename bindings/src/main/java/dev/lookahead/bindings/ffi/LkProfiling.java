package dev.lookahead.bindings.ffi;

import static dev.lookahead.bindings.ffi.NativeLibrary.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/** Section "profiling" of lookahead.h. Returns are {@code lk_status} codes. */
public final class LkProfiling {
    private final MethodHandle push;
    private final MethodHandle pop;

    LkProfiling(NativeLibrary lib) {
        push = lib.downcall("lk_range_push", JAVA_INT, ADDRESS, ADDRESS);
        pop = lib.downcall("lk_range_pop", JAVA_INT, ADDRESS);
    }

    /** {@code lk_range_push(lk_device*, const char* name)}. */
    public int lk_range_push(MemorySegment device, MemorySegment name) {
        try {
            return (int) push.invokeExact(device, name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code lk_range_pop(lk_device*)}. */
    public int lk_range_pop(MemorySegment device) {
        try {
            return (int) pop.invokeExact(device);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
