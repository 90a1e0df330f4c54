package dev.lookahead.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.gate.LookaheadHeads;
import dev.lookahead.model.ArchitectureSpec;
import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.CheckpointException;
import dev.lookahead.model.DType;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.SafetensorsFile;
import dev.lookahead.model.SafetensorsWriter;
import dev.lookahead.model.SafetensorsWriter.TensorSink;
import dev.lookahead.model.Tensor;
import dev.lookahead.util.Progress;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Converts a Hugging Face Mixtral checkpoint (F32 / F16 / BF16, single file or shards) into the
 * quantized format of docs/quantized-format.md, streaming: the source stays memory-mapped and is
 * read tensor by tensor; {@link SafetensorsWriter} asks for each output tensor's bytes when it is
 * its turn, so at most one matrix (its rows, packed codes and fp16 parameters) is in memory.
 *
 * <p>Output tensor order in the data area: the fp16 tensors (embedding, norms, routers,
 * lm_head), then per layer the attention matrices as (qscales, qzeros, qcodes) triples, then
 * every expert blob, layer by layer.
 */
public final class CheckpointQuantizer {

    /**
     * What to produce.
     *
     * @param hqq null for plain min/max quantization
     */
    public record Options(QuantSpec experts, QuantSpec attention, HqqOptions hqq) {
        public Options {
            Objects.requireNonNull(experts, "experts");
            Objects.requireNonNull(attention, "attention");
        }
    }

    /**
     * Files copied from the source when present, besides config.json: tokenizer and generation files, and the trained
     * lookahead heads (the quantized copy keeps the routers and norms they were trained on).
     */
    public static final List<String> COPIED_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "tokenizer.model", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt",
            "chat_template.json", "chat_template.jinja", "generation_config.json", LookaheadHeads.DEFAULT_FILE);

    /** Source metadata entries carried over (RandomCheckpoint marks its weights as random). */
    private static final List<String> CARRIED_METADATA = List.of("lookahead.random_weights", "lookahead.seed");

    private static final int CHUNK = 1 << 16;
    private static final byte[] PADDING = new byte[ExpertBlobLayout.ALIGNMENT];

    private final Checkpoint source;
    private final ArchitectureSpec arch;
    private final ModelConfig config;
    private final ExpertBlobLayout layout;
    private final GroupQuantizer expertQuantizer;
    private final GroupQuantizer attentionQuantizer;
    private final Map<Role, KindStats.Accumulator> stats = new EnumMap<>(Role.class);
    private final List<TensorStats> tensors = new ArrayList<>();
    private final Progress progress;
    private long done;

    private CheckpointQuantizer(Checkpoint source, ArchitectureSpec arch, Options o, Progress progress) {
        this.source = source;
        this.arch = arch;
        this.config = source.config();
        this.layout = ExpertBlobLayout.of(config, o.experts());
        this.expertQuantizer = quantizer(o.experts(), o.hqq());
        this.attentionQuantizer = quantizer(o.attention(), o.hqq());
        this.progress = progress;
    }

    private static GroupQuantizer quantizer(QuantSpec spec, HqqOptions hqq) {
        return hqq == null ? GroupQuantizer.minMax(spec) : GroupQuantizer.hqq(spec, hqq);
    }

    /**
     * Quantizes {@code src} into {@code dst} (created if missing; must be empty).
     *
     * @throws IllegalArgumentException if {@code dst} is not an empty directory, or {@code src}
     *     is already quantized or of an unsupported architecture
     * @throws CheckpointException if {@code src} is malformed, lacks tensors, has an unsupported
     *     dtype or a weight that cannot be represented (non-finite, beyond fp16)
     */
    public static QuantizeReport quantize(Path src, Path dst, Options options, Progress progress) throws IOException {
        long start = System.nanoTime();
        boolean created = checkDestination(dst);
        try (Checkpoint source = Checkpoint.open(src)) {
            if (QuantizedCheckpoint.isQuantized(source)) {
                throw new IllegalArgumentException(src + " is already a quantized checkpoint (" + QuantMetadata.FORMAT + ")");
            }
            ModelConfig config = source.config();
            ArchitectureSpec arch = ArchitectureSpec.forConfig(config);
            arch.validate(source, config); // missing tensors, shapes, unsupported dtypes
            CheckpointQuantizer q = new CheckpointQuantizer(source, arch, options, progress);
            QuantMetadata meta = QuantMetadata.of(options.experts(), options.attention(), options.hqq(),
                    sourceName(src), q.layout);
            List<Path> written = new ArrayList<>();
            try {
                Files.createDirectories(dst);
                Path model = dst.resolve(Checkpoint.SINGLE_FILE);
                SafetensorsWriter writer = new SafetensorsWriter(model).order(SafetensorsWriter.Order.INSERTION);
                meta.toMap().forEach(writer::metadata);
                q.carryMetadata(writer);
                long total = q.declare(writer);
                progress.start("quantize", total, "B");
                written.add(model);
                writer.write();
                progress.finish();
                List<String> copied = copyFiles(src, dst, written);
                int blobs = config.numHiddenLayers() * config.numLocalExperts();
                Map<Role, KindStats> result = new EnumMap<>(Role.class);
                q.stats.forEach((role, acc) -> result.put(role, acc.result()));
                return new QuantizeReport(src, dst, meta, result, q.tensors, total, Files.size(model), q.layout,
                        blobs, q.ignored(), copied, (System.nanoTime() - start) / 1e9);
            } catch (IOException | RuntimeException e) {
                for (Path p : written) {
                    Files.deleteIfExists(p);
                }
                if (created) {
                    Files.deleteIfExists(dst);
                }
                throw e;
            }
        }
    }

    /** Checks that {@code dst} is absent or an empty directory; returns true if absent. */
    private static boolean checkDestination(Path dst) throws IOException {
        if (!Files.exists(dst)) {
            return true;
        }
        if (!Files.isDirectory(dst)) {
            throw new IllegalArgumentException("destination " + dst + " exists and is not a directory");
        }
        try (Stream<Path> entries = Files.list(dst)) {
            if (entries.findAny().isPresent()) {
                throw new IllegalArgumentException("destination " + dst + " is not empty; refusing to overwrite");
            }
        }
        return false;
    }

    /** The config's "_name_or_path" when present, else the source directory's name. */
    private static String sourceName(Path src) {
        try {
            JsonNode root = JsonMapper.builder().build().readTree(src.resolve(Checkpoint.CONFIG).toFile());
            JsonNode name = root == null ? null : root.get("_name_or_path");
            if (name != null && name.isTextual() && !name.textValue().isBlank()) {
                return name.textValue();
            }
        } catch (IOException e) {
            // config.json was already read and validated by Checkpoint.open; fall back to the name
        }
        Path abs = src.toAbsolutePath().normalize();
        return abs.getFileName() == null ? abs.toString() : abs.getFileName().toString();
    }

    private void carryMetadata(SafetensorsWriter writer) {
        for (SafetensorsFile f : source.files().values()) {
            for (String key : CARRIED_METADATA) {
                String v = f.metadata().get(key);
                if (v != null) {
                    writer.metadata(key, v);
                }
            }
        }
    }

    private static List<String> copyFiles(Path src, Path dst, List<Path> written) throws IOException {
        List<String> copied = new ArrayList<>();
        List<String> names = new ArrayList<>();
        names.add(Checkpoint.CONFIG);
        names.addAll(COPIED_FILES);
        for (String name : names) {
            Path from = src.resolve(name);
            if (Files.isRegularFile(from)) {
                Path to = dst.resolve(name);
                written.add(to);
                Files.copy(from, to);
                copied.add(name);
            }
        }
        return copied;
    }

    /** Source tensors the architecture does not name (not written). */
    private List<String> ignored() {
        Set<String> known = new HashSet<>();
        for (ArchitectureSpec.Expected e : arch.expectedTensors(config)) {
            known.add(e.name());
        }
        return source.tensorNames().stream().filter(n -> !known.contains(n)).toList();
    }

    // ------------------------------------------------------------------ declaration

    /** Declares every output tensor; returns the source bytes they will read. */
    private long declare(SafetensorsWriter w) {
        long total = 0;
        List<ArchitectureSpec.Expected> expected = arch.expectedTensors(config);
        for (ArchitectureSpec.Expected e : expected) { // fp16 tensors first: all of even length
            Role role = e.spec().role();
            if (!QuantizedCheckpoint.ATTENTION.contains(role) && !QuantizedCheckpoint.EXPERT.contains(role)
                    && source.contains(e.name())) {
                w.add(e.name(), DType.F16, e.shape(), sink -> writeF16(sink, e.name(), role));
                total += sourceBytes(e.name());
            }
        }
        for (int l = 0; l < config.numHiddenLayers(); l++) {
            for (Role role : List.of(Role.ATTN_Q, Role.ATTN_K, Role.ATTN_V, Role.ATTN_O)) {
                String name = arch.name(role, l, 0);
                total += declareAttention(w, name, role);
            }
        }
        for (int l = 0; l < config.numHiddenLayers(); l++) {
            for (int e = 0; e < config.numLocalExperts(); e++) {
                int layer = l;
                int expert = e;
                w.add(QuantizedCheckpoint.blobName(l, e), DType.U8, new long[] {layout.blobBytes()},
                        sink -> writeBlob(sink, layer, expert));
                for (ExpertMatrix m : ExpertMatrix.values()) {
                    total += sourceBytes(arch.name(m.role(), l, e));
                }
            }
        }
        return total;
    }

    private long sourceBytes(String name) {
        return source.info(name).orElseThrow().byteLength();
    }

    /** Declares the three tensors of one attention matrix, quantized once when the first is due. */
    private long declareAttention(SafetensorsWriter w, String name, Role role) {
        long[] shape = source.info(name).orElseThrow().shape();
        int rows = Math.toIntExact(shape[0]);
        int cols = Math.toIntExact(shape[1]);
        var f = attentionQuantizer.spec().format();
        long[] paramShape = {rows, f.groups(cols)};
        AttentionJob job = new AttentionJob(name, role);
        w.add(QuantizedCheckpoint.scalesName(name), DType.F16, paramShape,
                sink -> sink.write(MemorySegment.ofArray(job.get().scaleBytes())));
        w.add(QuantizedCheckpoint.zerosName(name), DType.F16, paramShape,
                sink -> sink.write(MemorySegment.ofArray(job.get().zeroBytes())));
        w.add(QuantizedCheckpoint.codesName(name), DType.U8, new long[] {rows, f.rowBytes(cols)}, sink -> {
            sink.write(MemorySegment.ofArray(job.get().codes()));
            job.release();
        });
        return sourceBytes(name);
    }

    /** The quantized form of one attention matrix, computed on first use, dropped after its codes. */
    private final class AttentionJob {
        private final String name;
        private final Role role;
        private QuantizedMatrix result;

        AttentionJob(String name, Role role) {
            this.name = name;
            this.role = role;
        }

        QuantizedMatrix get() {
            if (result == null) {
                Tensor t = source.tensor(name);
                result = quantize(t, attentionQuantizer);
                record(name, role, result);
                advance(t.info().byteLength());
            }
            return result;
        }

        void release() {
            result = null;
        }
    }

    // ------------------------------------------------------------------ data producers

    private void writeF16(TensorSink sink, String name, Role role) throws IOException {
        Tensor t = source.tensor(name);
        long n = t.elementCount();
        float[] values = new float[(int) Math.min(CHUNK, n)];
        short[] halfs = new short[values.length];
        double sse = 0;
        double ssq = 0;
        for (long from = 0; from < n; from += CHUNK) {
            int count = (int) Math.min(CHUNK, n - from);
            TensorRows.read(t, from, count, values);
            for (int i = 0; i < count; i++) {
                float v = values[i];
                short h = Float.floatToFloat16(v);
                float back = Float.float16ToFloat(h);
                if (!Float.isFinite(back)) {
                    throw new CheckpointException(t.file(), name, "element " + (from + i) + " = " + v
                            + " cannot be stored as F16 (finite values up to 65504 only)");
                }
                double d = (double) v - back;
                sse += d * d;
                ssq += (double) v * v;
                halfs[i] = h;
            }
            sink.write(MemorySegment.ofArray(Fp16.toBytes(halfs)).asSlice(0, 2L * count));
        }
        add(name, role, n, 2 * n, sse, ssq);
        advance(t.info().byteLength());
    }

    private void writeBlob(TensorSink sink, int layer, int expert) throws IOException {
        long pos = 0;
        for (ExpertMatrix m : ExpertMatrix.values()) {
            Tensor t = source.tensor(arch.name(m.role(), layer, expert));
            QuantizedMatrix q = quantize(t, expertQuantizer);
            record(t.name(), m.role(), q);
            ExpertBlobLayout.MatrixRanges r = layout.ranges(m);
            pos = pad(sink, pos, r.codes().offset());
            pos += write(sink, q.codes());
            pos = pad(sink, pos, r.scales().offset());
            pos += write(sink, q.scaleBytes());
            pos = pad(sink, pos, r.zeros().offset());
            pos += write(sink, q.zeroBytes());
            advance(t.info().byteLength());
        }
        pad(sink, pos, layout.blobBytes());
    }

    private static long write(TensorSink sink, byte[] bytes) throws IOException {
        sink.write(MemorySegment.ofArray(bytes));
        return bytes.length;
    }

    /** Writes zeros from {@code pos} up to {@code target} (less than one alignment unit). */
    private static long pad(TensorSink sink, long pos, long target) throws IOException {
        if (target < pos || target - pos >= ExpertBlobLayout.ALIGNMENT) {
            throw new IllegalStateException("blob layout: at " + pos + ", next section at " + target);
        }
        sink.write(MemorySegment.ofArray(PADDING).asSlice(0, target - pos));
        return target;
    }

    private QuantizedMatrix quantize(Tensor t, GroupQuantizer quantizer) {
        int rows = Math.toIntExact(t.dim(0));
        int cols = Math.toIntExact(t.dim(1));
        try {
            return quantizer.quantize((r, dst) -> TensorRows.read(t, (long) r * cols, cols, dst), rows, cols);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(t.file(), t.name(), "cannot quantize: " + e.getMessage(), e);
        }
    }

    private void record(String name, Role role, QuantizedMatrix q) {
        long bytes = q.codes().length + 2L * q.scales().length + 2L * q.zeros().length;
        add(name, role, (long) q.rows() * q.cols(), bytes, q.sse(), q.ssq());
    }

    /** Called on the writer's thread only, one tensor after the other. */
    private void add(String name, Role role, long weights, long bytes, double sse, double ssq) {
        stats.computeIfAbsent(role, KindStats.Accumulator::new).add(weights, bytes, sse, ssq);
        tensors.add(new TensorStats(name, role, weights, bytes, Nmse.ratio(sse, ssq)));
    }

    private void advance(long bytes) {
        done += bytes;
        progress.update(done);
    }
}
