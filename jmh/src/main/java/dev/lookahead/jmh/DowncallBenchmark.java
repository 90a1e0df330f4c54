package dev.lookahead.jmh;

import dev.lookahead.bindings.Backend;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceOptions;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.Stream;
import dev.lookahead.bindings.ffi.LkCore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.CompilerControl;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What one FFM downcall costs, from the cheapest call to one validated op and its synchronize:
 * <ul>
 *   <li>{@link #javaCallFloor}: a Java call that is not inlined (the floor any call pays);</li>
 *   <li>{@link #abiVersion}: {@code lk_abi_version()}, no arguments, no work: the bare downcall;</li>
 *   <li>{@link #synchronizeIdle}: {@code lk_stream_synchronize} of an idle stream;</li>
 *   <li>{@link #add1Synchronize}: {@code Stream.add} of one element (Java argument checks, the
 *       downcall, the native enqueue) and then the synchronize that waits for it;</li>
 *   <li>{@link #add1Enqueue}: 64 such adds enqueued back to back and one synchronize, per add.</li>
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.NATIVE_ACCESS})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class DowncallBenchmark {
    static final int BATCH = 64;

    /** The loaded library's raw bindings (no device: lk_abi_version needs none). */
    @State(Scope.Benchmark)
    public static class Library {
        Backend lib;
        LkCore core;

        @Setup(Level.Trial)
        public void setUp() {
            lib = Backend.load();
            core = lib.library().core();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            lib.close();
        }
    }

    /** A stream and two one-float buffers on a device. */
    @State(Scope.Benchmark)
    public static class OneElement {
        /** cpu; the launcher adds cuda when it is usable. */
        @Param({"cpu"})
        public String backend;

        Backend lib;
        Stream stream;
        DeviceSlice y, x;

        @Setup(Level.Trial)
        public void setUp() {
            lib = Backend.load();
            try {
                prepare();
            } catch (RuntimeException | Error e) {
                lib.close(); // JMH skips @TearDown when @Setup fails; this also deletes an extracted library
                throw e;
            }
        }

        private void prepare() {
            Device device = BenchSupport.open(lib, backend, DeviceOptions.DEFAULTS);
            stream = device.createStream();
            DeviceBuffer buf = device.allocate(512);
            y = buf.slice(0, 4);
            x = buf.slice(256, 4);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment one = arena.allocate(ValueLayout.JAVA_FLOAT);
                one.set(ValueLayout.JAVA_FLOAT, 0, 1.0f);
                stream.copyToDevice(one, x);
                stream.memset(y, 0);
                stream.synchronize();
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            lib.close();
        }
    }

    @Benchmark
    public int javaCallFloor() {
        return notInlined();
    }

    @CompilerControl(CompilerControl.Mode.DONT_INLINE)
    private static int notInlined() {
        return 1;
    }

    @Benchmark
    public int abiVersion(Library l) {
        return l.core.lk_abi_version();
    }

    @Benchmark
    public void synchronizeIdle(OneElement s) {
        s.stream.synchronize();
    }

    @Benchmark
    public void add1Synchronize(OneElement s) {
        s.stream.add(s.y, s.x, 1);
        s.stream.synchronize();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void add1Enqueue(OneElement s) {
        for (int i = 0; i < BATCH; i++) {
            s.stream.add(s.y, s.x, 1);
        }
        s.stream.synchronize();
    }
}
