package dev.lookahead.bindings;

import dev.lookahead.bindings.ffi.LkStatus;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** lk_range_push / lk_range_pop: nesting per thread is checked by the dispatcher for every backend. */
class ProfilingRangeTest {
    @Test
    void rangesNestAndAnUnbalancedPopIsAnError() {
        try (Device d = Device.open(BackendName.CPU, DeviceOptions.DEFAULTS)) {
            d.rangePush("layer 0");
            d.rangePush("attention");
            d.rangePop();
            d.rangePush("experts");
            d.rangePop();
            d.rangePop();
            LookaheadNativeException e = assertThrows(LookaheadNativeException.class, d::rangePop);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT, e.status());
            assertTrue(e.nativeMessage().contains("no range is open"), e.getMessage());
        }
    }

    @Test
    void rangesBelongToTheirThread() throws Exception {
        try (Device d = Device.open(BackendName.CPU, DeviceOptions.DEFAULTS)) {
            d.rangePush("main thread");
            Throwable[] other = new Throwable[1];
            Thread t = new Thread(() -> {
                try {
                    d.rangePop(); // this thread opened nothing
                } catch (Throwable x) {
                    other[0] = x;
                }
            });
            t.start();
            t.join();
            assertTrue(other[0] instanceof LookaheadNativeException, String.valueOf(other[0]));
            d.rangePop();
        }
    }

    @Test
    void badNamesAreRejectedBeforeAndInNativeCode() {
        try (Device d = Device.open(BackendName.CPU, DeviceOptions.DEFAULTS)) {
            assertThrows(IllegalArgumentException.class, () -> d.rangePush(""));
            assertThrows(IllegalArgumentException.class, () -> d.rangePush("x".repeat(256)));
            assertThrows(NullPointerException.class, () -> d.rangePush(null));
        }
        // the dispatcher checks the same rules for callers that bypass the Java layer
        try (Backend b = Backend.load(); Arena arena = Arena.ofConfined()) {
            Device d = b.open(BackendName.CPU, DeviceOptions.DEFAULTS);
            MemorySegment handle = d.handle();
            int st = b.library().profiling().lk_range_push(handle, arena.allocateFrom(""));
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT.code(), st);
            st = b.library().profiling().lk_range_push(handle, MemorySegment.NULL);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT.code(), st);
            d.close();
        }
    }

    @Test
    void aClosedDeviceIsRefused() {
        Device d = Device.open(BackendName.CPU, DeviceOptions.DEFAULTS);
        d.close();
        assertThrows(IllegalStateException.class, () -> d.rangePush("late"));
    }
}
