package dev.lookahead.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lookahead.bindings.BackendName;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceOptions;
import org.junit.jupiter.api.Test;

/** The probe against the CPU backend's emulated link, whose bandwidth is known. */
class LinkProbeTest {

    @Test
    void measuresTheEmulatedLinksBandwidth() {
        double link = 1e9; // 16 MiB copy in ~17 ms
        try (Device device = Device.open(BackendName.CPU, DeviceOptions.DEFAULTS.withThreads(1).withLinkBytesPerSecond(link))) {
            LinkProbe.Measurement m = LinkProbe.hostToDevice(device, 16L << 20, 3);
            assertEquals(link, m.bytesPerSecond(), 0.15 * link, m.describe());
            assertEquals(16L << 20, m.bytes());
            assertEquals(3, m.copies());
        }
    }

    @Test
    void rejectsAnEmptyProbe() {
        try (Device device = Device.open(BackendName.CPU, DeviceOptions.DEFAULTS.withThreads(1))) {
            assertThrows(IllegalArgumentException.class, () -> LinkProbe.hostToDevice(device, 0, 3));
            assertThrows(IllegalArgumentException.class, () -> LinkProbe.hostToDevice(device, 1024, 0));
        }
    }
}
