package dev.lookahead.bindings;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * Base of the op tests: one CPU device (2 threads: the build machine is small and shared) and
 * an {@link OpRunner} per class; buffers are freed after each test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class CpuDeviceTest {
    static final DeviceOptions CPU_OPTIONS = DeviceOptions.DEFAULTS.withThreads(2).withMemoryLimit(256L << 20);

    Device device;
    OpRunner run;

    @BeforeAll
    void openDevice() {
        device = Device.open(BackendName.CPU, CPU_OPTIONS);
        run = new OpRunner(device);
    }

    @AfterEach
    void freeBuffers() {
        run.freeAll();
    }

    @AfterAll
    void closeDevice() {
        if (device != null) {
            device.close();
        }
    }
}
