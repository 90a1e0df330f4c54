package dev.lookahead.jmh;

import dev.lookahead.api.BackendChoice;
import dev.lookahead.model.RandomCheckpoint;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
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
 * End-to-end greedy decode, tokens per second (the score is steps/s), of our engine and of Jlama
 * 0.8.4 on the same random-weight Mixtral checkpoint with the same thread count. Each fork writes
 * the model with {@link RandomCheckpoint} (a pure function of its spec, so every fork reads
 * identical files) into a temporary directory and deletes it at the end.
 *
 * <p>A step is one token at position {@code pos} over a KV cache holding 0 .. pos - 1; positions
 * run 0 .. {@code context} - 1 and start over at 0 with the BOS token (the cache rows are then
 * overwritten), so both engines attend over the same range of lengths.
 *
 * <p>Ceiling: {@link #ceilingWeightRead} reads, per operation, as many bytes as one step's weights
 * ({@link DecodeModels#activeBytes}) from a native segment as large as the whole model, with the
 * same thread count: the tok/s of a decoder that did nothing but stream its weights once.
 *
 * <p>Not here: the scheduler's per-layer decision cost; the speculative scheduler does not exist
 * yet (a later issue), and a benchmark of it will come with it.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.NATIVE_ACCESS, "-Xss4m",
        // The Vector API: Jlama 0.8.4 and the ceiling's reader; Jlama also uses sun.misc.Unsafe memory access.
        BenchSupport.VECTOR_API, "--sun-misc-unsafe-memory-access=allow"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 8, time = 2)
public class DecodeBenchmark {

    @State(Scope.Benchmark)
    public static class Engine {
        /** lookahead-cpu, jlama; the launcher adds lookahead-cuda when CUDA is usable. */
        @Param({"lookahead-cpu", "jlama"})
        public String engine;
        @Param({"mid"})
        public String model;
        /** Compute threads of both engines; 0 = all cores. */
        @Param({"0"})
        public String threads;
        /** Positions per cycle (and our KV cache capacity). */
        @Param({"128"})
        public int context;

        Path dir;
        TokenDecoder decoder;
        int token;
        int pos;

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            if (context < 1) {
                throw new IllegalArgumentException("context must be >= 1, got " + context);
            }
            RandomCheckpoint.Spec spec = DecodeModels.spec(model);
            if (context > spec.maxPositions()) {
                throw new IllegalArgumentException("context " + context + " exceeds the model's " + spec.maxPositions());
            }
            int t = BenchSupport.threads(threads);
            dir = Files.createTempDirectory("lookahead-jmh-decode");
            try {
                RandomCheckpoint.write(spec, dir);
                decoder = switch (engine) {
                    case "lookahead-cpu" -> new LookaheadDecoder(dir, BackendChoice.CPU, t, context);
                    case "lookahead-cuda" -> new LookaheadDecoder(dir, BackendChoice.CUDA, t, context);
                    case "jlama" -> new JlamaDecoder(dir, t);
                    default -> throw new IllegalArgumentException("unknown engine '" + engine
                            + "'; known: lookahead-cpu, lookahead-cuda, jlama");
                };
                restart();
                int next = decoder.step(token, 0);
                if (next < 0 || next >= spec.vocab()) {
                    throw new IllegalStateException(engine + " produced token " + next + " outside [0, "
                            + spec.vocab() + ")");
                }
            } catch (IOException | RuntimeException | Error e) {
                tearDown(); // JMH skips @TearDown when @Setup fails: do not leave the model behind
                throw e;
            }
        }

        void restart() {
            token = RandomCheckpoint.BOS_ID;
            pos = 0;
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            try {
                if (decoder != null) {
                    decoder.close();
                }
            } finally {
                deleteTree(dir);
            }
        }
    }

    /** A native segment of the model's size, read one step's worth of weights at a time. */
    @State(Scope.Benchmark)
    public static class WeightRegion {
        @Param({"mid"})
        public String model;
        @Param({"0"})
        public String threads;

        Arena arena;
        MemorySegment region;
        ParallelReader reader;
        long window;
        long offset;

        @Setup(Level.Trial)
        public void setUp() {
            RandomCheckpoint.Spec spec = DecodeModels.spec(model);
            long total = DecodeModels.totalBytes(spec);
            window = DecodeModels.activeBytes(spec) & ~7L;
            arena = Arena.ofShared();
            region = arena.allocate(total, 256);
            BenchSupport.fillRandom(region, 5);
            reader = new ParallelReader(BenchSupport.threads(threads));
        }

        /** The next window, wrapping at the end of the region. */
        MemorySegment next() {
            if (offset + window > region.byteSize()) {
                offset = 0;
            }
            MemorySegment w = region.asSlice(offset, window);
            offset += window;
            return w;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            reader.close();
            arena.close();
        }
    }

    /** One greedy decode step. */
    @Benchmark
    public int decodeStep(Engine e) {
        if (e.pos == e.context) {
            e.restart();
        }
        e.token = e.decoder.step(e.token, e.pos);
        e.pos++;
        return e.token;
    }

    /** Ceiling: one step's weight bytes read by Java with the same threads (bytes in ByteCounter). */
    @Benchmark
    public long ceilingWeightRead(WeightRegion r, ByteCounter bytes) {
        MemorySegment w = r.next();
        bytes.bytes += w.byteSize();
        return r.reader.read(w);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
