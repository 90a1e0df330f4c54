package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.bindings.ffi.LkStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * Opening the "cuda" backend: on a machine without an NVIDIA GPU (no /dev/nvidia0, as on the build
 * machine) it must fail with LK_ERR_BACKEND_UNAVAILABLE and a message that says why; on a GPU
 * machine it must succeed.
 */
class CudaAvailabilityTest {

    static boolean gpuPresent() {
        return Files.exists(Path.of("/dev/nvidia0"));
    }

    @Test
    void cudaOpensOnlyWhereThereIsAGpu() {
        try (Backend backend = Backend.load()) {
            if (!gpuPresent()) {
                LookaheadNativeException e = assertThrows(LookaheadNativeException.class,
                        () -> backend.open(BackendName.CUDA, DeviceOptions.DEFAULTS));
                assertEquals(LkStatus.LK_ERR_BACKEND_UNAVAILABLE, e.status(), e.getMessage());
                assertEquals("lk_device_open", e.function());
                String reason = e.nativeMessage().toLowerCase(Locale.ROOT);
                assertFalse(reason.isBlank(), "lk_last_error must say why");
                assertTrue(reason.contains("cuda") || reason.contains("driver") || reason.contains("gpu"),
                        "the reason should name what is missing: " + e.nativeMessage());
                // the failed open leaves the library usable
                try (Device cpu = backend.open(BackendName.CPU, CpuDeviceTest.CPU_OPTIONS)) {
                    assertEquals("cpu", cpu.info().backend());
                }
            } else {
                try (Device cuda = backend.open(BackendName.CUDA, DeviceOptions.DEFAULTS)) {
                    assertEquals("cuda", cuda.info().backend());
                }
            }
        }
    }
}
