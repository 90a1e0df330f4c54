package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Decode enqueues ops thousands of times per second, so a steady-state op call must not allocate:
 * device pointers travel as longs and argument structs live in one segment per stream. Measured
 * with the calling thread's allocation counter after JIT warm-up; the best of several rounds must
 * stay under a few bytes per call (0 is typical).
 */
class HotPathAllocationTest extends CpuDeviceTest {
    static final int CALLS = 50_000;

    interface Call {
        void run();
    }

    /** Fewest bytes allocated per call over several rounds, the first ones being JIT warm-up. */
    double bytesPerCall(Call call) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long thread = Thread.currentThread().threadId();
        double best = Double.MAX_VALUE;
        for (int round = 0; round < 8; round++) {
            long before = mx.getThreadAllocatedBytes(thread);
            for (int i = 0; i < CALLS; i++) {
                call.run();
                if ((i & 255) == 255) { // keep the native queue short
                    run.stream.synchronize();
                }
            }
            long after = mx.getThreadAllocatedBytes(thread);
            best = Math.min(best, (after - before) / (double) CALLS);
        }
        run.stream.synchronize();
        return best;
    }

    @Test
    void steadyStateOpsDoNotAllocate() {
        Stream s = run.stream;
        DeviceSlice a = run.output(4096);
        DeviceSlice b = run.output(4096);
        DeviceSlice c = run.output(4096);
        DeviceSlice d = run.output(4096);
        QMatrix q = QuantMatmulOpTest.randomQMatrix(new QuantFormat(4, 64), 8, 64, new Random(1)).upload(run);
        QMatrix qDown = QuantMatmulOpTest.randomQMatrix(new QuantFormat(4, 64), 64, 8, new Random(2)).upload(run);
        AttentionShape shape = AttentionShape.of(2, 1, 8, 16, DType.F32, 0);
        DeviceSlice cache = run.output(shape.cacheBytes());
        s.memset(cache, 0);
        s.memset(a, 0);
        s.memset(b, 0);
        check("add", bytesPerCall(() -> s.add(a, b, 16)));
        check("fill32", bytesPerCall(() -> s.fill32(a.slice(0, 4), 7)));
        check("matmul", bytesPerCall(() -> s.matmul(DType.F16, b, a, 1, 8, 16, c)));
        check("qmatvec", bytesPerCall(() -> s.qmatvec(q, a, c)));
        check("expertSwiglu", bytesPerCall(() -> s.expertSwiglu(q, q, qDown, a, b, c, d)));
        check("routerTopk", bytesPerCall(() -> s.routerTopk(a, 1, 8, 2, true, null, b, c)));
        check("attention", bytesPerCall(() -> s.attention(shape, a, cache, cache, c, 1, 3)));
    }

    static void check(String op, double bytes) {
        assertTrue(bytes < 8, op + " allocates " + bytes + " bytes per call");
    }
}
