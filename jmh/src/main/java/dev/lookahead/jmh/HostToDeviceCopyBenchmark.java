package dev.lookahead.jmh;

import dev.lookahead.bindings.Backend;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceOptions;
import dev.lookahead.bindings.PinnedBuffer;
import dev.lookahead.bindings.Stream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Host-to-device copy bandwidth of one {@code mib}-MiB buffer, from pinned host memory
 * ({@link PinnedBuffer}) and from pageable memory (an {@link Arena} allocation: not page-locked on
 * CUDA, so the driver stages it). Each call is one copy and a synchronize; bytes copied are
 * counted in {@link ByteCounter}.
 *
 * <p>{@code target}: {@code cpu} (the CPU backend, unthrottled: a memcpy on its copy stream);
 * {@code cpu-emulated-link-GBPS} (the CPU backend with {@code DeviceOptions.linkBytesPerSecond} =
 * GBPS * 1e9: an EMULATED link, a throttled memcpy, not a measurement of any real bus);
 * {@code cuda} (added by the launcher when CUDA is usable). Ceilings: {@link #deviceCopyCeiling}
 * (device-to-device copy of the same bytes) and, for an emulated link, its configured rate.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.NATIVE_ACCESS})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class HostToDeviceCopyBenchmark {
    static final String EMULATED_PREFIX = "cpu-emulated-link-";

    @State(Scope.Benchmark)
    public static class Buffers {
        /**
         * Emulated links: 12 GB/s, about what PCIe 3.0 x16 moves in practice; 2 GB/s, well below
         * this machine's memcpy rate, so that the throttle (not memcpy) sets the rate.
         */
        @Param({"cpu", "cpu-emulated-link-12", "cpu-emulated-link-2"})
        public String target;
        @Param({"64"})
        public int mib;

        Backend lib;
        Stream stream;
        PinnedBuffer pinned;
        Arena pageableArena;
        MemorySegment pageable;
        DeviceBuffer dst, dst2;
        long bytes;

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
            if (mib <= 0) {
                throw new IllegalArgumentException("mib must be > 0, got " + mib);
            }
            bytes = (long) mib << 20;
            String backend = target;
            DeviceOptions options = DeviceOptions.DEFAULTS;
            if (target.startsWith(EMULATED_PREFIX)) {
                backend = "cpu";
                options = options.withLinkBytesPerSecond(emulatedBytesPerSecond(target));
            }
            Device device = BenchSupport.open(lib, backend, options);
            stream = device.createStream();
            pinned = device.allocatePinned(bytes);
            pageableArena = Arena.ofShared();
            pageable = pageableArena.allocate(bytes, 4096);
            // Touch every page, so no copy pays for first-touch page faults of its source.
            BenchSupport.fillRandom(pinned.segment(), 1);
            BenchSupport.fillRandom(pageable, 2);
            dst = device.allocate(bytes);
            dst2 = device.allocate(bytes);
            stream.memset(dst.all(), 0);
            stream.memset(dst2.all(), 0);
            stream.synchronize();
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            lib.close();
            pageableArena.close();
        }
    }

    /** The emulated rate of a {@code cpu-emulated-link-GBPS} target, in bytes per second. */
    static double emulatedBytesPerSecond(String target) {
        String gbps = target.substring(EMULATED_PREFIX.length());
        try {
            double v = Double.parseDouble(gbps) * 1e9;
            if (!(v > 0) || Double.isInfinite(v)) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("target " + target + ": expected " + EMULATED_PREFIX
                    + "<GB/s, a positive number>");
        }
    }

    @Benchmark
    public void pinnedToDevice(Buffers b, ByteCounter c) {
        b.stream.copyToDevice(b.pinned.segment(), b.dst.all());
        b.stream.synchronize();
        c.bytes += b.bytes;
    }

    @Benchmark
    public void pageableToDevice(Buffers b, ByteCounter c) {
        b.stream.copyToDevice(b.pageable, b.dst.all());
        b.stream.synchronize();
        c.bytes += b.bytes;
    }

    /** Ceiling of the unthrottled cases: a device-to-device copy of the same size (bytes counted once). */
    @Benchmark
    public void deviceCopyCeiling(Buffers b, ByteCounter c) {
        b.stream.copy(b.dst.all(), b.dst2.all());
        b.stream.synchronize();
        c.bytes += b.bytes;
    }
}
