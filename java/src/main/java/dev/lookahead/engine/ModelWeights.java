package dev.lookahead.engine;

import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.Event;
import dev.lookahead.bindings.PinnedBuffer;
import dev.lookahead.bindings.QMatrix;
import dev.lookahead.bindings.Stream;
import dev.lookahead.expert.Expert;
import dev.lookahead.model.ArchitectureSpec;
import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.Tensor;
import dev.lookahead.quant.ExpertBlobLayout;
import dev.lookahead.quant.ExpertMatrix;
import dev.lookahead.quant.QuantizedCheckpoint;
import dev.lookahead.quant.QuantizedView;
import dev.lookahead.util.Progress;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The weights of a model in device memory, copied from the checkpoint's mmap'd tensors through a
 * double-buffered pinned staging area: everything of a plain (F32/F16/BF16) checkpoint; for a
 * quantized checkpoint everything but the experts, which stay with an offloading
 * {@link ExpertSource} unless asked to be uploaded too. Owns its device buffers.
 */
public final class ModelWeights implements AutoCloseable {
    private static final long STAGING_HALF = 32L << 20;

    private final List<DeviceBuffer> buffers;
    public final WeightTensor embedding;    // [vocab, hidden]
    public final List<LayerWeights> layers;
    public final WeightTensor finalNorm;    // [1, hidden]
    public final WeightTensor lmHead;       // [vocab, hidden] (the embedding when tied)
    /** [layer][expert] when the experts were uploaded; null when an offloading source holds them. */
    public final List<List<Expert>> residentExperts;
    private final long deviceBytes;

    private ModelWeights(List<DeviceBuffer> buffers, WeightTensor embedding, List<LayerWeights> layers,
                         WeightTensor finalNorm, WeightTensor lmHead, List<List<Expert>> residentExperts) {
        this.buffers = buffers;
        this.embedding = embedding;
        this.layers = List.copyOf(layers);
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.residentExperts = residentExperts == null ? null : List.copyOf(residentExperts);
        long bytes = 0;
        for (DeviceBuffer b : buffers) bytes += b.size();
        this.deviceBytes = bytes;
    }

    /** Bytes of device memory the weights occupy. */
    public long deviceBytes() {
        return deviceBytes;
    }

    /** Checks a plain checkpoint against its architecture, then uploads every weight. */
    public static ModelWeights upload(Checkpoint checkpoint, Device device, Stream stream, Progress progress) {
        ModelConfig config = checkpoint.config();
        ArchitectureSpec spec = ArchitectureSpec.forConfig(config);
        spec.validate(checkpoint, config);
        try (Loader loader = new Loader(device, stream, progress)) {
            long total = 0;
            for (var expected : spec.expectedTensors(config)) {
                if (checkpoint.contains(expected.name())) total += checkpoint.tensor(expected.name()).segment().byteSize();
            }
            progress.start("loading weights", total, "B");
            WeightTensor embedding = loader.dense(checkpoint.tensor(spec.name(Role.TOKEN_EMBEDDING, 0, 0), FLOATS));
            List<LayerWeights> layers = new ArrayList<>();
            List<List<Expert>> resident = new ArrayList<>();
            for (int l = 0; l < config.numHiddenLayers(); l++) {
                final int layer = l;
                java.util.function.Function<Role, Linear> linear = role ->
                        new Linear.Dense(loader.dense(checkpoint.tensor(spec.name(role, layer, 0), FLOATS)));
                List<Expert> experts = new ArrayList<>();
                for (int e = 0; e < config.numLocalExperts(); e++) {
                    final int expert = e;
                    java.util.function.Function<Role, Linear> expertLinear = role ->
                            new Linear.Dense(loader.dense(checkpoint.tensor(spec.name(role, layer, expert), FLOATS)));
                    experts.add(new Expert(expertLinear.apply(Role.EXPERT_GATE), expertLinear.apply(Role.EXPERT_UP),
                            expertLinear.apply(Role.EXPERT_DOWN)));
                }
                resident.add(experts);
                layers.add(new LayerWeights(loader.dense(checkpoint.tensor(spec.name(Role.ATTN_NORM, l, 0), FLOATS)),
                        linear.apply(Role.ATTN_Q), linear.apply(Role.ATTN_K), linear.apply(Role.ATTN_V),
                        linear.apply(Role.ATTN_O),
                        loader.dense(checkpoint.tensor(spec.name(Role.FFN_NORM, l, 0), FLOATS)),
                        loader.dense(checkpoint.tensor(spec.name(Role.ROUTER, l, 0), FLOATS))));
            }
            WeightTensor finalNorm = loader.dense(checkpoint.tensor(spec.name(Role.FINAL_NORM, 0, 0), FLOATS));
            String lmHeadName = spec.name(Role.LM_HEAD, 0, 0);
            WeightTensor lmHead = config.tieWordEmbeddings() && !checkpoint.contains(lmHeadName)
                    ? embedding : loader.dense(checkpoint.tensor(lmHeadName, FLOATS));
            return loader.finish(embedding, layers, finalNorm, lmHead, resident);
        }
    }

    /**
     * Uploads a quantized checkpoint: fp16 embedding, norms, routers and head, quantized attention,
     * and the expert blobs only when {@code withExperts} (all-resident).
     */
    public static ModelWeights upload(QuantizedCheckpoint qc, boolean withExperts, Device device, Stream stream,
                                      Progress progress) {
        ModelConfig config = qc.config();
        try (Loader loader = new Loader(device, stream, progress)) {
            long total = qc.checkpoint().files().values().stream().mapToLong(f -> f.infos().values().stream()
                    .mapToLong(i -> i.byteLength()).sum()).sum();
            if (!withExperts) {
                total -= (long) config.numHiddenLayers() * config.numLocalExperts() * qc.layout().blobBytes();
            }
            progress.start("loading weights", total, "B");
            WeightTensor embedding = loader.dense(qc.dense(Role.TOKEN_EMBEDDING, 0));
            List<LayerWeights> layers = new ArrayList<>();
            List<List<Expert>> resident = withExperts ? new ArrayList<>() : null;
            for (int l = 0; l < config.numHiddenLayers(); l++) {
                layers.add(new LayerWeights(loader.dense(qc.dense(Role.ATTN_NORM, l)),
                        loader.quantized(qc.attention(l, Role.ATTN_Q)), loader.quantized(qc.attention(l, Role.ATTN_K)),
                        loader.quantized(qc.attention(l, Role.ATTN_V)), loader.quantized(qc.attention(l, Role.ATTN_O)),
                        loader.dense(qc.dense(Role.FFN_NORM, l)), loader.dense(qc.dense(Role.ROUTER, l))));
                if (withExperts) {
                    List<Expert> experts = new ArrayList<>();
                    for (int e = 0; e < config.numLocalExperts(); e++) {
                        DeviceBuffer blob = loader.upload(qc.expertBlob(l, e));
                        experts.add(expertInBlob(qc.layout(), blob.all()));
                    }
                    resident.add(experts);
                }
            }
            WeightTensor finalNorm = loader.dense(qc.dense(Role.FINAL_NORM, 0));
            WeightTensor lmHead = loader.dense(qc.dense(Role.LM_HEAD, 0));
            return loader.finish(embedding, layers, finalNorm, lmHead, resident);
        }
    }

    /** The expert whose blob (laid out as {@code layout} says) is at {@code blob} in device memory. */
    public static Expert expertInBlob(ExpertBlobLayout layout, DeviceSlice blob) {
        Linear[] m = new Linear[3];
        for (ExpertMatrix which : ExpertMatrix.values()) {
            ExpertBlobLayout.MatrixRanges r = layout.ranges(which);
            m[which.ordinal()] = new Linear.Quantized(new QMatrix(layout.spec().format(), r.rows(), r.cols(),
                    blob.slice(r.codes().offset(), r.codes().bytes()),
                    blob.slice(r.scales().offset(), r.scales().bytes()),
                    blob.slice(r.zeros().offset(), r.zeros().bytes())));
        }
        return new Expert(m[ExpertMatrix.GATE.ordinal()], m[ExpertMatrix.UP.ordinal()], m[ExpertMatrix.DOWN.ordinal()]);
    }

    @Override
    public void close() {
        for (DeviceBuffer b : buffers) b.close();
        buffers.clear();
    }

    private static final java.util.Set<dev.lookahead.model.DType> FLOATS = dev.lookahead.model.DType.FLOATS;

    static DType deviceType(dev.lookahead.model.DType fileType) {
        return switch (fileType) {
            case F32 -> DType.F32;
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            default -> throw new IllegalArgumentException("unsupported weight dtype " + fileType
                    + " (F32, F16 and BF16 are supported)");
        };
    }

    /** Allocates and copies; owns the staging buffer and, until handed over, the device buffers. */
    private static final class Loader implements AutoCloseable {
        private final Device device;
        private final Stream stream;
        private final Progress progress;
        private final PinnedBuffer staging;
        private final Event[] halfFree = new Event[2];
        private final boolean[] halfInUse = new boolean[2];
        private final List<DeviceBuffer> buffers = new ArrayList<>();
        private int nextHalf;
        private long copied;
        private boolean handedOver;

        Loader(Device device, Stream stream, Progress progress) {
            this.device = device;
            this.stream = stream;
            this.progress = progress;
            this.staging = device.allocatePinned(2 * STAGING_HALF);
            this.halfFree[0] = device.createEvent();
            this.halfFree[1] = device.createEvent();
        }

        WeightTensor dense(Tensor t) {
            long[] shape = t.shape();
            long rows = shape.length == 1 ? 1 : shape[0];
            long cols = shape[shape.length - 1];
            DeviceBuffer buffer = upload(t.segment());
            return new WeightTensor(t.name(), buffer.all(), deviceType(t.dtype()), rows, cols);
        }

        Linear quantized(QuantizedView v) {
            long codes = v.codes().byteSize(), scales = v.scales().byteSize(), zeros = v.zeros().byteSize();
            long scalesAt = ExpertBlobLayout.align(codes), zerosAt = ExpertBlobLayout.align(scalesAt + scales);
            DeviceBuffer buffer = allocate(zerosAt + zeros);
            copy(v.codes(), buffer.slice(0, codes));
            copy(v.scales(), buffer.slice(scalesAt, scales));
            copy(v.zeros(), buffer.slice(zerosAt, zeros));
            return new Linear.Quantized(new QMatrix(v.format(), v.rows(), v.cols(), buffer.slice(0, codes),
                    buffer.slice(scalesAt, scales), buffer.slice(zerosAt, zeros)));
        }

        DeviceBuffer upload(MemorySegment src) {
            DeviceBuffer buffer = allocate(src.byteSize());
            copy(src, buffer.all());
            return buffer;
        }

        private DeviceBuffer allocate(long bytes) {
            DeviceBuffer buffer = device.allocate(bytes);
            buffers.add(buffer);
            return buffer;
        }

        private void copy(MemorySegment src, DeviceSlice dst) {
            for (long off = 0; off < src.byteSize(); off += STAGING_HALF) {
                long len = Math.min(STAGING_HALF, src.byteSize() - off);
                int h = nextHalf;
                nextHalf ^= 1;
                if (halfInUse[h]) halfFree[h].synchronize();
                MemorySegment half = staging.segment().asSlice(h * STAGING_HALF, len);
                half.copyFrom(src.asSlice(off, len));
                stream.copyToDevice(half, dst.slice(off, len));
                halfFree[h].record(stream);
                halfInUse[h] = true;
                copied += len;
                progress.update(copied);
            }
        }

        ModelWeights finish(WeightTensor embedding, List<LayerWeights> layers, WeightTensor finalNorm,
                            WeightTensor lmHead, List<List<Expert>> resident) {
            stream.synchronize();
            progress.finish();
            handedOver = true;
            return new ModelWeights(new ArrayList<>(buffers), embedding, layers, finalNorm, lmHead, resident);
        }

        @Override
        public void close() {
            try {
                stream.synchronize();
            } finally {
                halfFree[0].close();
                halfFree[1].close();
                staging.close();
                if (!handedOver) for (DeviceBuffer b : buffers) b.close();
            }
        }
    }
}
