package dev.lookahead.quant;

import dev.lookahead.bindings.QuantFormat;
import dev.lookahead.model.ArchitectureSpec;
import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.CheckpointException;
import dev.lookahead.model.DType;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.SafetensorsFile;
import dev.lookahead.model.Tensor;
import dev.lookahead.model.TensorInfo;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * A quantized checkpoint (docs/quantized-format.md), opened and fully validated: metadata
 * (format, version, specs, blob layout against the one computed from config + expert format),
 * and every tensor's presence, dtype and shape; tensors the format does not define are errors.
 * Errors are {@link CheckpointException}s naming the file and the tensor or metadata key.
 *
 * <p>Tensors are zero-copy views of the mapped files, valid until {@link #close()}.
 */
public final class QuantizedCheckpoint implements AutoCloseable {

    /** The weights this format stores quantized: attention as qmatrices, experts as blobs; every other one is F16. */
    static final Set<Role> ATTENTION = EnumSet.of(Role.ATTN_Q, Role.ATTN_K, Role.ATTN_V, Role.ATTN_O);
    static final Set<Role> EXPERT = EnumSet.of(Role.EXPERT_GATE, Role.EXPERT_UP, Role.EXPERT_DOWN);
    private static final Set<DType> ANY = EnumSet.allOf(DType.class);

    private final Checkpoint checkpoint;
    private final ArchitectureSpec arch;
    private final QuantMetadata metadata;
    private final ExpertBlobLayout layout;

    private QuantizedCheckpoint(Checkpoint checkpoint, ArchitectureSpec arch, QuantMetadata metadata,
            ExpertBlobLayout layout) {
        this.checkpoint = checkpoint;
        this.arch = arch;
        this.metadata = metadata;
        this.layout = layout;
    }

    // ------------------------------------------------------------------ names

    /** "model.layers.{layer}.block_sparse_moe.experts.{expert}.blob" */
    public static String blobName(int layer, int expert) {
        return "model.layers." + layer + ".block_sparse_moe.experts." + expert + ".blob";
    }

    /** {@code weightName + ".qcodes"}: U8 [rows, rowBytes]. */
    public static String codesName(String weightName) {
        return weightName + ".qcodes";
    }

    /** {@code weightName + ".qscales"}: F16 [rows, ngroups]. */
    public static String scalesName(String weightName) {
        return weightName + ".qscales";
    }

    /** {@code weightName + ".qzeros"}: F16 [rows, ngroups]. */
    public static String zerosName(String weightName) {
        return weightName + ".qzeros";
    }

    // ------------------------------------------------------------------ opening

    /** True when any file of {@code checkpoint} declares this format in its metadata. */
    public static boolean isQuantized(Checkpoint checkpoint) {
        return checkpoint.files().values().stream().anyMatch(f -> QuantMetadata.declaresFormat(f.metadata()));
    }

    /** Opens {@code directory} just to tell whether it holds a quantized checkpoint. */
    public static boolean isQuantized(Path directory) {
        try (Checkpoint c = Checkpoint.open(directory)) {
            return isQuantized(c);
        }
    }

    /**
     * Opens and validates a quantized checkpoint.
     *
     * @throws CheckpointException naming file and tensor (or metadata key) on any problem,
     *     including "not a quantized checkpoint" for a plain one
     */
    public static QuantizedCheckpoint open(Path directory) {
        Checkpoint c = Checkpoint.open(directory);
        try {
            return validate(c);
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    private static QuantizedCheckpoint validate(Checkpoint c) {
        QuantMetadata meta = null;
        Path metaFile = null;
        for (SafetensorsFile f : c.files().values()) {
            Map<String, String> m = f.metadata();
            if (!m.containsKey(QuantMetadata.KEY_FORMAT)) {
                continue;
            }
            QuantMetadata parsed = QuantMetadata.parse(f.path(), m);
            if (meta != null && !meta.equals(parsed)) {
                throw new CheckpointException(f.path(), null, "quantization metadata differs from that of " + metaFile);
            }
            meta = parsed;
            metaFile = f.path();
        }
        if (meta == null) {
            throw new CheckpointException(c.directory(), null, "not a quantized checkpoint: no "
                    + QuantMetadata.KEY_FORMAT + "=" + QuantMetadata.FORMAT + " in the __metadata__ of "
                    + c.files().keySet());
        }
        ModelConfig config = c.config();
        ArchitectureSpec arch;
        try {
            arch = ArchitectureSpec.forConfig(config);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(c.directory().resolve(Checkpoint.CONFIG), null, e.getMessage());
        }
        ExpertBlobLayout layout = ExpertBlobLayout.of(config, meta.experts());
        meta.checkLayout(metaFile, layout);
        new Validator(c, arch, config, meta, layout).run();
        return new QuantizedCheckpoint(c, arch, meta, layout);
    }

    /** Checks every tensor the format defines, then that nothing else is there. */
    private record Validator(Checkpoint c, ArchitectureSpec arch, ModelConfig config, QuantMetadata meta,
            ExpertBlobLayout layout, Set<String> known) {

        Validator(Checkpoint c, ArchitectureSpec arch, ModelConfig config, QuantMetadata meta, ExpertBlobLayout layout) {
            this(c, arch, config, meta, layout, new HashSet<>());
        }

        void run() {
            for (ArchitectureSpec.Expected e : arch.expectedTensors(config)) {
                Role role = e.spec().role();
                if (EXPERT.contains(role)) {
                    forbid(e.name(), "expert weights belong in the expert blobs");
                } else if (ATTENTION.contains(role)) {
                    forbid(e.name(), "attention weights are stored quantized");
                    long rows = e.shape()[0];
                    long cols = e.shape()[1];
                    QuantFormat f = meta.attention().format();
                    expect(codesName(e.name()), DType.U8, rows, f.rowBytes(cols));
                    expect(scalesName(e.name()), DType.F16, rows, f.groups(cols));
                    expect(zerosName(e.name()), DType.F16, rows, f.groups(cols));
                } else if (c.contains(e.name()) || e.spec().presence() == ArchitectureSpec.Presence.REQUIRED
                        || !config.tieWordEmbeddings()) {
                    expect(e.name(), DType.F16, e.shape());
                }
            }
            for (int l = 0; l < config.numHiddenLayers(); l++) {
                for (int x = 0; x < config.numLocalExperts(); x++) {
                    expect(blobName(l, x), DType.U8, layout.blobBytes());
                }
            }
            for (String name : c.tensorNames()) {
                if (!known.contains(name)) {
                    throw new CheckpointException(fileOf(name), name, "unexpected tensor: the "
                            + QuantMetadata.FORMAT + " format for " + arch.architecture() + " does not define it");
                }
            }
        }

        private void expect(String name, DType dtype, long... shape) {
            known.add(name);
            TensorInfo info = c.info(name).orElseThrow(() -> new CheckpointException(c.directory(), name,
                    "missing from the quantized checkpoint (files " + c.files().keySet() + ")"));
            if (info.dtype() != dtype) {
                throw new CheckpointException(fileOf(name), name, "has dtype " + info.dtype() + ", the format needs "
                        + dtype);
            }
            if (!info.hasShape(shape)) {
                throw new CheckpointException(fileOf(name), name, "has shape " + Arrays.toString(info.shape())
                        + ", the format needs " + Arrays.toString(shape) + describeBlob(name));
            }
        }

        private String describeBlob(String name) {
            return name.endsWith(".blob") ? " (" + layout.blobBytes() + " bytes per expert blob for "
                    + meta.experts() + ", hidden " + layout.hidden() + ", intermediate " + layout.intermediate()
                    + ")" : "";
        }

        private void forbid(String name, String why) {
            if (c.contains(name)) {
                throw new CheckpointException(fileOf(name), name, "must not be present in a quantized checkpoint: "
                        + why);
            }
        }

        private Path fileOf(String name) {
            return c.tensor(name, ANY).file();
        }
    }

    // ------------------------------------------------------------------ access

    public Checkpoint checkpoint() {
        return checkpoint;
    }

    public ModelConfig config() {
        return checkpoint.config();
    }

    public ArchitectureSpec architecture() {
        return arch;
    }

    public QuantMetadata metadata() {
        return metadata;
    }

    public QuantSpec expertSpec() {
        return metadata.experts();
    }

    public QuantSpec attentionSpec() {
        return metadata.attention();
    }

    public ExpertBlobLayout layout() {
        return layout;
    }

    /** The whole blob of one expert ({@link ExpertBlobLayout#blobBytes()} bytes, read-only). */
    public MemorySegment expertBlob(int layer, int expert) {
        checkIndex(layer, expert);
        return checkpoint.tensor(blobName(layer, expert), Set.of(DType.U8)).segment();
    }

    /** One matrix of an expert, as views into its blob. */
    public QuantizedView expertMatrix(int layer, int expert, ExpertMatrix m) {
        MemorySegment blob = expertBlob(layer, expert);
        ExpertBlobLayout.MatrixRanges r = layout.ranges(m);
        return new QuantizedView(layout.spec().format(), r.rows(), r.cols(),
                blob.asSlice(r.codes().offset(), r.codes().bytes()),
                blob.asSlice(r.scales().offset(), r.scales().bytes()),
                blob.asSlice(r.zeros().offset(), r.zeros().bytes()));
    }

    /** A quantized attention projection (role ATTN_Q, ATTN_K, ATTN_V or ATTN_O) of {@code layer}. */
    public QuantizedView attention(int layer, Role role) {
        if (!ATTENTION.contains(role)) {
            throw new IllegalArgumentException(role + " is not an attention projection");
        }
        checkIndex(layer, 0);
        String name = arch.name(role, layer, 0);
        Tensor codes = checkpoint.tensor(codesName(name), Set.of(DType.U8));
        return new QuantizedView(metadata.attention().format(), codes.dim(0),
                arch.weight(role).shape(config())[1], codes.segment(),
                checkpoint.tensor(scalesName(name), Set.of(DType.F16)).segment(),
                checkpoint.tensor(zerosName(name), Set.of(DType.F16)).segment());
    }

    /**
     * An fp16 tensor: embedding, norms, router, lm_head ({@code layer} ignored for model-wide
     * roles). For a tied lm_head this is the embedding.
     */
    public Tensor dense(Role role, int layer) {
        if (ATTENTION.contains(role) || EXPERT.contains(role)) {
            throw new IllegalArgumentException(role + " is stored quantized");
        }
        checkIndex(layer, 0);
        String name = arch.name(role, layer, 0);
        if (role == Role.LM_HEAD && !checkpoint.contains(name)) {
            name = arch.name(Role.TOKEN_EMBEDDING, 0, 0);
        }
        return checkpoint.tensor(name, Set.of(DType.F16));
    }

    private void checkIndex(int layer, int expert) {
        ModelConfig c = config();
        if (layer < 0 || layer >= c.numHiddenLayers() || expert < 0 || expert >= c.numLocalExperts()) {
            throw new IndexOutOfBoundsException("layer " + layer + " / expert " + expert + " outside "
                    + c.numHiddenLayers() + " layers x " + c.numLocalExperts() + " experts");
        }
    }

    @Override
    public void close() {
        checkpoint.close();
    }

    @Override
    public String toString() {
        return "QuantizedCheckpoint[" + checkpoint.directory() + ", experts " + expertSpec() + ", attention "
                + attentionSpec() + ", blob " + layout.blobBytes() + " B]";
    }
}
