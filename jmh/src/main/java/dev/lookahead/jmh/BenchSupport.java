package dev.lookahead.jmh;

import dev.lookahead.bindings.Backend;
import dev.lookahead.bindings.BackendName;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceOptions;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.Stream;
import dev.lookahead.bindings.LookaheadNativeException;
import dev.lookahead.bindings.ffi.LkStatus;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Helpers shared by the benchmarks: thread counts, opening devices, filling host memory. */
final class BenchSupport {
    /** JVM flags every fork needs: the bindings call native code through FFM. */
    static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";
    /** For the forks whose memory-read ceiling uses the Vector API ({@link ParallelReader}). */
    static final String VECTOR_API = "--add-modules=jdk.incubator.vector";

    private BenchSupport() {}

    /** The {@code threads} parameter: "0" means every online core, as the CPU backend reads it. */
    static int threads(String param) {
        int t;
        try {
            t = Integer.parseInt(param.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("threads must be an integer (0 = all cores), got '" + param + "'");
        }
        if (t < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all cores), got " + t);
        }
        return t == 0 ? Runtime.getRuntime().availableProcessors() : t;
    }

    /**
     * Opens a device of backend {@code name} ("cpu" or "cuda") on {@code backend}. A backend that
     * is not usable here fails the trial with a message that says so: the launcher only schedules
     * CUDA trials when CUDA is usable, so this happens only when a run asked for it explicitly.
     */
    static Device open(Backend backend, String name, DeviceOptions options) {
        BackendName which = BackendName.of(name);
        try {
            return backend.open(which, options);
        } catch (LookaheadNativeException e) {
            throw explainUnavailable(name, e);
        }
    }

    /** For LK_ERR_BACKEND_UNAVAILABLE, the message of a backend asked for by -p; else {@code e} itself. */
    static RuntimeException explainUnavailable(String name, LookaheadNativeException e) {
        if (e.status() == LkStatus.LK_ERR_BACKEND_UNAVAILABLE) {
            return new IllegalStateException("backend '" + name + "' was requested (-p) but is not usable on this "
                    + "machine: " + e.nativeMessage() + ". Leave the parameter out to benchmark only the usable "
                    + "backends.", e);
        }
        return e;
    }

    /** Whether a CUDA device can be opened; {@code why} receives the reason when not. */
    static boolean cudaUsable(StringBuilder why) {
        try (Backend backend = Backend.load()) {
            try {
                backend.open(BackendName.CUDA, DeviceOptions.DEFAULTS).close();
                return true;
            } catch (LookaheadNativeException e) {
                why.append(e.getMessage());
                return false;
            }
        }
    }

    /** Fills {@code seg} with pseudo-random bytes (every page touched, so it is really allocated). */
    static void fillRandom(MemorySegment seg, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        long n = seg.byteSize();
        long i = 0;
        for (; i + 8 <= n; i += 8) {
            seg.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
        }
        for (; i < n; i++) {
            seg.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt());
        }
    }

    /** Fills {@code seg} with floats uniform in [-1, 1). */
    static void fillFloats(MemorySegment seg, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        long n = seg.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (random.nextDouble() * 2 - 1));
        }
    }

    /**
     * Copies f32 {@code slice} back and fails unless every value is finite and some
     * are non-zero: a guard, run once at
     * setup, that the op under test really computed something.
     */
    static void requireFinite(Stream stream, DeviceSlice slice, String what) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(slice.bytes(), 64);
            stream.copyToHost(slice, host);
            stream.synchronize();
            long n = slice.bytes() / Float.BYTES;
            boolean anyNonZero = false;
            for (long i = 0; i < n; i++) {
                float v = host.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                if (!Float.isFinite(v)) {
                    throw new IllegalStateException(what + ": output " + i + " of " + n + " is " + v);
                }
                anyNonZero |= v != 0;
            }
            if (!anyNonZero) {
                throw new IllegalStateException(what + ": all " + n + " outputs are zero for a random input");
            }
        }
    }

    /** Rounds up to a multiple of 256 (the alignment of device buffers, kept for sub-allocations). */
    static long align256(long bytes) {
        return (bytes + 255) & ~255L;
    }
}
