package dev.lookahead.quant;

import dev.lookahead.bindings.QuantFormat;
import dev.lookahead.model.ArchitectureSpec;
import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.DType;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.SafetensorsWriter;
import dev.lookahead.model.SplitMix64;
import dev.lookahead.util.Progress;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * Writes a random-weight checkpoint straight into the quantized format (docs/quantized-format.md), without the plain
 * checkpoint in between. Mixtral-8x7B's shape is 93 GB in bf16 (and drawing its 46.7 B Gaussians takes most of an
 * hour on one core) but 25 GB with 4-bit experts, which a GPU machine's disk and a benchmark's minutes can afford.
 *
 * <ul>
 *   <li>F16 tensors (embeddings, norms, routers, lm_head) and attention: exactly what {@code quantize} makes of
 *       {@link RandomCheckpoint}'s f32 checkpoint of the same spec (its values, rounded to F16 or quantized min/max
 *       with the attention spec).
 *   <li>Experts: uniform random codes with one scale per matrix, σ / sqrt((L² - 1) / 12) for L = 2^bits levels, and
 *       the zero (L - 1) / 2, so that the weights have the plain checkpoint's mean 0 and variance σ² = 1 / fan_in.
 *       They are not the quantization of a Gaussian draw: the kernels, copies and bytes are the same, the values are
 *       noise either way.
 * </ul>
 * Tensors are produced ahead of the writer on all cores (a bounded window, in write order), from generators seeded
 * by (seed, tensor name): the file is a pure function of its arguments, whatever the thread count.
 */
public final class RandomQuantizedCheckpoint {

    private RandomQuantizedCheckpoint() {
    }

    /** The {@code lookahead.source_model} metadata of such a checkpoint. */
    public static String sourceName(RandomCheckpoint.Spec spec) {
        return "random weights (lookahead create-model, seed " + spec.seed() + ")";
    }

    /**
     * Writes the checkpoint into {@code dir} (created if missing; must be empty if it exists). On failure nothing of
     * it is left behind.
     *
     * @return the bytes of model.safetensors
     * @throws IllegalArgumentException if {@code dir} exists and is not an empty directory, or a tensor is too large
     *     for one Java array (2 GiB)
     */
    public static long write(RandomCheckpoint.Spec spec, QuantSpec experts, QuantSpec attention, Path dir,
            Progress progress) throws IOException {
        boolean created = !Files.exists(dir);
        RandomCheckpoint.writeSideFiles(spec, dir);
        try {
            ModelConfig config = ModelConfig.read(dir.resolve(Checkpoint.CONFIG));
            ArchitectureSpec arch = ArchitectureSpec.forConfig(config);
            ExpertBlobLayout layout = ExpertBlobLayout.of(config, experts);
            Path model = dir.resolve(Checkpoint.SINGLE_FILE);
            SafetensorsWriter writer = new SafetensorsWriter(model).order(SafetensorsWriter.Order.INSERTION);
            QuantMetadata.of(experts, attention, null, sourceName(spec), layout).toMap().forEach(writer::metadata);
            RandomCheckpoint.metadata(spec).forEach(writer::metadata);

            try (Ahead ahead = new Ahead(progress)) {
                // the order of CheckpointQuantizer: F16 tensors in architecture order, attention layer by layer, blobs
                declareF16(writer, ahead, spec, config, arch);
                declareAttention(writer, ahead, spec, config, arch, attention);
                declareExperts(writer, ahead, spec, config, layout);
                progress.start("create", ahead.totalBytes(), "B");
                writer.write();
                progress.finish();
            }
            return Files.size(model);
        } catch (IOException | RuntimeException e) {
            deleteQuietly(dir, created);
            throw e;
        }
    }

    private static void declareF16(SafetensorsWriter writer, Ahead ahead, RandomCheckpoint.Spec spec,
            ModelConfig config, ArchitectureSpec arch) {
        for (ArchitectureSpec.Expected e : arch.expectedTensors(config)) {
            Role role = e.spec().role();
            if (!QuantizedCheckpoint.ATTENTION.contains(role) && !QuantizedCheckpoint.EXPERT.contains(role)) {
                long count = elements(e.shape());
                int job = ahead.add(2 * count, 2 * count, () -> List.of(f16(spec, e.name(), count)));
                writer.add(e.name(), DType.F16, e.shape(), ahead.part(job, 0));
            }
        }
    }

    /** Each attention matrix: the plain checkpoint's values, quantized min/max as {@code quantize} does. */
    private static void declareAttention(SafetensorsWriter writer, Ahead ahead, RandomCheckpoint.Spec spec,
            ModelConfig config, ArchitectureSpec arch, QuantSpec attention) {
        GroupQuantizer quantizer = GroupQuantizer.minMax(attention);
        QuantFormat f = attention.format();
        for (int l = 0; l < config.numHiddenLayers(); l++) {
            for (Role role : List.of(Role.ATTN_Q, Role.ATTN_K, Role.ATTN_V, Role.ATTN_O)) {
                String name = arch.name(role, l, 0);
                long[] shape = arch.weight(role).shape(config);
                int rows = Math.toIntExact(shape[0]);
                int cols = Math.toIntExact(shape[1]);
                long qbytes = f.codeBytes(rows, cols) + f.scaleBytes(rows, cols) + f.zeroBytes(rows, cols);
                int job = ahead.add(qbytes, 4L * rows * cols + qbytes, () -> { // float input + result
                    QuantizedMatrix q = quantizer.quantize(floats(spec, name, (long) rows * cols), rows, cols);
                    return List.of(q.scaleBytes(), q.zeroBytes(), q.codes());
                });
                long[] paramShape = {rows, f.groups(cols)};
                writer.add(QuantizedCheckpoint.scalesName(name), DType.F16, paramShape, ahead.part(job, 0));
                writer.add(QuantizedCheckpoint.zerosName(name), DType.F16, paramShape, ahead.part(job, 1));
                writer.add(QuantizedCheckpoint.codesName(name), DType.U8, new long[] {rows, f.rowBytes(cols)},
                        ahead.part(job, 2));
            }
        }
    }

    private static void declareExperts(SafetensorsWriter writer, Ahead ahead, RandomCheckpoint.Spec spec,
            ModelConfig config, ExpertBlobLayout layout) {
        for (int l = 0; l < config.numHiddenLayers(); l++) {
            for (int e = 0; e < config.numLocalExperts(); e++) {
                String name = QuantizedCheckpoint.blobName(l, e);
                int job = ahead.add(layout.blobBytes(), layout.blobBytes(), () -> List.of(blob(spec.seed(), name, layout)));
                writer.add(name, DType.U8, new long[] {layout.blobBytes()}, ahead.part(job, 0));
            }
        }
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    /**
     * Runs the tensors' producers on all cores ahead of the writer, in write order, at most {@code window} at a time:
     * enough to keep the cores busy, few enough that the results waiting for the writer fit in a quarter of the heap.
     * The writer asks for the jobs' results in order, on its one thread.
     */
    private static final class Ahead implements AutoCloseable {
        private record Job(long outputBytes, long memoryBytes, Callable<List<byte[]>> produce) {
        }

        private final Progress progress;
        private final List<Job> jobs = new ArrayList<>();
        private final Deque<Future<List<byte[]>>> running = new ArrayDeque<>();
        private ExecutorService pool;
        private int window;
        private int submitted;
        private int current = -1;
        private List<byte[]> currentResult;
        private long written;

        Ahead(Progress progress) {
            this.progress = progress;
        }

        /**
         * Adds a job that produces {@code outputBytes} bytes in one or more parts, holding at most {@code memoryBytes}
         * of heap while it runs; returns its index.
         */
        int add(long outputBytes, long memoryBytes, Callable<List<byte[]>> produce) {
            jobs.add(new Job(outputBytes, memoryBytes, produce));
            return jobs.size() - 1;
        }

        long totalBytes() {
            return jobs.stream().mapToLong(Job::outputBytes).sum();
        }

        /** The writer's callback for part {@code index} of job {@code job}. */
        SafetensorsWriter.TensorData part(int job, int index) {
            return sink -> {
                byte[] bytes = result(job).get(index);
                sink.write(MemorySegment.ofArray(bytes));
                written += bytes.length;
                progress.update(written);
            };
        }

        private List<byte[]> result(int index) throws IOException {
            if (index == current) return currentResult;
            if (index != current + 1) throw new IllegalStateException("job " + index + " asked for after " + current);
            if (pool == null) start();
            while (submitted < jobs.size() && submitted < index + window) {
                running.addLast(pool.submit(jobs.get(submitted++).produce()));
            }
            try {
                currentResult = running.removeFirst().get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while creating the model", e);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof RuntimeException r) throw r;
                if (cause instanceof IOException io) throw io;
                throw new IllegalStateException(cause);
            }
            current = index;
            return currentResult;
        }

        private void start() {
            int cores = Runtime.getRuntime().availableProcessors();
            long largest = jobs.stream().mapToLong(Job::memoryBytes).max().orElse(1);
            long room = Runtime.getRuntime().maxMemory() / 4 / Math.max(1, largest);
            window = (int) Math.max(1, Math.min(cores, room));
            pool = Executors.newFixedThreadPool(window, r -> {
                Thread t = new Thread(r, "create-model");
                t.setDaemon(true);
                return t;
            });
        }

        @Override
        public void close() {
            if (pool != null) pool.shutdownNow();
        }
    }

    // ------------------------------------------------------------------ producers

    private static float[] floats(RandomCheckpoint.Spec spec, String name, long count) {
        float[] out = new float[checkedArrayLength(name, count)];
        RandomCheckpoint.Values values = RandomCheckpoint.values(spec, name);
        for (int i = 0; i < out.length; i++) {
            out[i] = values.next();
        }
        return out;
    }

    /** The tensor's values rounded to F16 (round to nearest even), little-endian. */
    private static byte[] f16(RandomCheckpoint.Spec spec, String name, long count) {
        short[] halfs = new short[checkedArrayLength(name, count)];
        RandomCheckpoint.Values values = RandomCheckpoint.values(spec, name);
        for (int i = 0; i < halfs.length; i++) {
            halfs[i] = Float.floatToFloat16(values.next());
        }
        return Fp16.toBytes(halfs);
    }

    /** One expert blob: per matrix, uniform random codes, one scale, zero in the middle of the code range. */
    static byte[] blob(long seed, String name, ExpertBlobLayout layout) {
        QuantFormat f = layout.spec().format();
        int levels = 1 << f.bits();
        short zero = Float.floatToFloat16((levels - 1) / 2f);
        byte[] out = new byte[checkedArrayLength(name, layout.blobBytes())];
        RandomCodes random = new RandomCodes(seed, name);
        for (ExpertMatrix m : ExpertMatrix.values()) {
            ExpertBlobLayout.MatrixRanges r = layout.ranges(m);
            int rows = Math.toIntExact(r.rows());
            int cols = Math.toIntExact(r.cols());
            int rowBytes = Math.toIntExact(f.rowBytes(cols));
            if (f.groups(cols) * f.groupSize() == cols) {
                // no padded codes: every bit pattern of the packed rows is a valid row of uniform codes
                random.bytes(out, Math.toIntExact(r.codes().offset()), Math.toIntExact(r.codes().bytes()));
            } else {
                byte[] codes = new byte[cols];
                for (int row = 0; row < rows; row++) {
                    random.codes(codes, f.bits());
                    f.packRow(codes, 0, cols, out, Math.toIntExact(r.codes().offset()) + row * rowBytes);
                }
            }
            double sigma = 1.0 / Math.sqrt(cols); // RandomCheckpoint's N(0, 1/fan_in)
            short scale = Float.floatToFloat16((float) (sigma / Math.sqrt((levels * levels - 1) / 12.0)));
            fill(out, r.scales(), scale);
            fill(out, r.zeros(), zero);
        }
        return out;
    }

    private static void fill(byte[] out, ExpertBlobLayout.Section s, short half) {
        for (long i = s.offset(); i < s.end(); i += 2) {
            out[(int) i] = (byte) half;
            out[(int) i + 1] = (byte) (half >>> 8);
        }
    }

    private static int checkedArrayLength(String name, long count) {
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(name + " has " + count + " elements: more than one Java array holds");
        }
        return (int) count;
    }

    /** Uniform random bytes and codes from a (seed, name) stream. */
    private static final class RandomCodes {
        private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
        private final SplitMix64 bits;

        RandomCodes(long seed, String name) {
            bits = new SplitMix64(seed, name);
        }

        /** Fills {@code out[from, from + count)} with uniform random bytes. */
        void bytes(byte[] out, int from, int count) {
            int i = from;
            int end = from + count;
            for (; i + 8 <= end; i += 8) {
                LONGS.set(out, i, bits.nextLong());
            }
            for (long word = bits.nextLong(); i < end; i++, word >>>= 8) {
                out[i] = (byte) word;
            }
        }

        /** Fills {@code codes} with uniform values in [0, 2^bits). */
        void codes(byte[] codes, int codeBits) {
            int mask = (1 << codeBits) - 1;
            long word = 0;
            int left = 0;
            for (int i = 0; i < codes.length; i++) {
                if (left < codeBits) {
                    word = bits.nextLong();
                    left = 64;
                }
                codes[i] = (byte) (word & mask);
                word >>>= codeBits;
                left -= codeBits;
            }
        }
    }

    private static void deleteQuietly(Path dir, boolean created) {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                if (created || !p.equals(dir)) Files.deleteIfExists(p);
            }
        } catch (IOException | UncheckedIOException ignored) {
            // best effort: the original failure is what the caller reports
        }
    }
}
