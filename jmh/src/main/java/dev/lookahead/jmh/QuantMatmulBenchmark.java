package dev.lookahead.jmh;

import dev.lookahead.bindings.Backend;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceOptions;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.QMatrix;
import dev.lookahead.bindings.QuantFormat;
import dev.lookahead.bindings.Stream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * Quantized matvec (decode: one token) and matmul (prefill: {@value #TOKENS} tokens) through FFM,
 * each call followed by a stream synchronize, so a score is the whole call as the engine sees it.
 *
 * <p>Bytes: every call counts the matrix's weight bytes (codes + fp16 scales + fp16 zeros) in
 * {@link ByteCounter}, so "bytes" is the weight-read rate. Beside it, with the same shape and bits
 * and so the same number of bytes (the same working set, whichever cache level that lands in):
 * <ul>
 *   <li>{@link #ceilingJavaRead}: a Java read of a native segment of that size with the same
 *       thread count (the CPU backend's ceiling);</li>
 *   <li>{@link #ceilingDeviceCopy}: the backend's device-to-device copy of those bytes (it reads
 *       and writes each byte: twice the traffic; the GPU's ceiling).</li>
 * </ul>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.NATIVE_ACCESS, BenchSupport.VECTOR_API})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class QuantMatmulBenchmark {
    /** Rows of x in the matmul benchmark: a short prefill chunk. */
    public static final int TOKENS = 16;

    /** A random quantized matrix on a device, with inputs and outputs for both ops. */
    @State(Scope.Benchmark)
    public static class Matrix {
        /** cpu; the launcher adds cuda when it is usable. */
        @Param({"cpu"})
        public String backend;
        @Param({"14336x4096", "4096x14336", "demo"})
        public String shape;
        @Param({"2", "3", "4"})
        public int bits;
        @Param({"64"})
        public int groupSize;
        /** CPU backend compute threads; 0 = all cores. */
        @Param({"0"})
        public String threads;

        Backend lib;
        Device device;
        Stream stream;
        DeviceBuffer weights, copyTarget, activations;
        QMatrix w;
        DeviceSlice x1, y1, xn, yn;
        long weightBytes;

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
            MatrixShape s = MatrixShape.parse(shape);
            QuantFormat f = new QuantFormat(bits, groupSize);
            long rows = s.rows(), cols = s.cols();
            long codeBytes = f.codeBytes(rows, cols), scaleBytes = f.scaleBytes(rows, cols);
            long zeroBytes = f.zeroBytes(rows, cols);
            weightBytes = codeBytes + scaleBytes + zeroBytes;
            long scalesAt = BenchSupport.align256(codeBytes);
            long zerosAt = scalesAt + BenchSupport.align256(scaleBytes);
            long total = zerosAt + zeroBytes;

            device = BenchSupport.open(lib, backend, DeviceOptions.DEFAULTS.withThreads(BenchSupport.threads(threads)));
            stream = device.createStream();
            weights = device.allocate(total);
            copyTarget = device.allocate(weightBytes);
            long xBytes = (long) TOKENS * cols * Float.BYTES, yBytes = (long) TOKENS * rows * Float.BYTES;
            long yAt = BenchSupport.align256(xBytes);
            activations = device.allocate(yAt + yBytes);
            xn = activations.slice(0, xBytes);
            yn = activations.slice(yAt, yBytes);
            x1 = xn.slice(0, cols * Float.BYTES);
            y1 = yn.slice(0, rows * Float.BYTES);
            w = new QMatrix(f, rows, cols, weights.slice(0, codeBytes), weights.slice(scalesAt, scaleBytes),
                    weights.slice(zerosAt, zeroBytes));

            try (Arena host = Arena.ofConfined()) {
                MemorySegment staged = host.allocate(total, 256);
                BenchSupport.fillRandom(staged.asSlice(0, codeBytes), 1);
                // Scales around 0.01 and mid-range zeros: finite, typical magnitudes (values do not change the work).
                short scale = Float.floatToFloat16(0.01f), zero = Float.floatToFloat16(f.maxCode() / 2f);
                for (long i = 0; i < scaleBytes / 2; i++) {
                    staged.set(ValueLayout.JAVA_SHORT, scalesAt + 2 * i, scale);
                    staged.set(ValueLayout.JAVA_SHORT, zerosAt + 2 * i, zero);
                }
                MemorySegment x = host.allocate(xBytes, 64);
                BenchSupport.fillFloats(x, 2);
                stream.copyToDevice(staged, weights.all());
                stream.copyToDevice(x, xn);
                stream.synchronize();
            }
            // The ops must really run: one call each, outputs read back and checked.
            stream.qmatvec(w, x1, y1);
            BenchSupport.requireFinite(stream, y1, "qmatvec " + s + " " + bits + "-bit");
            stream.qmatmul(w, xn, TOKENS, yn);
            BenchSupport.requireFinite(stream, yn, "qmatmul " + s + " " + bits + "-bit");
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            lib.close(); // closes the device and everything on it
        }
    }

    /** A native segment of the same byte count as the matrix, and readers with the same thread count. */
    @State(Scope.Benchmark)
    public static class HostRegion {
        @Param({"14336x4096", "4096x14336", "demo"})
        public String shape;
        @Param({"2", "3", "4"})
        public int bits;
        @Param({"64"})
        public int groupSize;
        @Param({"0"})
        public String threads;

        Arena arena;
        MemorySegment region;
        ParallelReader reader;

        @Setup(Level.Trial)
        public void setUp() {
            MatrixShape s = MatrixShape.parse(shape);
            QuantFormat f = new QuantFormat(bits, groupSize);
            long bytes = f.codeBytes(s.rows(), s.cols()) + f.scaleBytes(s.rows(), s.cols())
                    + f.zeroBytes(s.rows(), s.cols());
            arena = Arena.ofShared();
            region = arena.allocate(bytes & ~7L, 256); // whole longs; at most 7 bytes fewer
            BenchSupport.fillRandom(region, 3);
            reader = new ParallelReader(BenchSupport.threads(threads));
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            reader.close();
            arena.close();
        }
    }

    /** y[rows] = W x: one token (decode). */
    @Benchmark
    public void qmatvec(Matrix m, ByteCounter bytes) {
        m.stream.qmatvec(m.w, m.x1, m.y1);
        m.stream.synchronize();
        bytes.bytes += m.weightBytes;
    }

    /** y[16, rows] = x[16, cols] W^T: a prefill chunk; the weight bytes are counted once per call. */
    @Benchmark
    public void qmatmul16(Matrix m, ByteCounter bytes) {
        m.stream.qmatmul(m.w, m.xn, TOKENS, m.yn);
        m.stream.synchronize();
        bytes.bytes += m.weightBytes;
    }

    /** Ceiling: the backend's device-to-device copy of the weight bytes (bytes counted once). */
    @Benchmark
    public void ceilingDeviceCopy(Matrix m, ByteCounter bytes) {
        m.stream.copy(m.weights.slice(0, m.weightBytes), m.copyTarget.all());
        m.stream.synchronize();
        bytes.bytes += m.weightBytes;
    }

    /** Ceiling: Java reads a native segment of the weight bytes with the same thread count. */
    @Benchmark
    public long ceilingJavaRead(HostRegion r, ByteCounter bytes) {
        long sum = r.reader.read(r.region);
        bytes.bytes += r.region.byteSize();
        return sum;
    }
}
