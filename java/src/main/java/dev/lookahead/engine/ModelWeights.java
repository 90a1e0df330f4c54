package dev.lookahead.engine;

import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.Event;
import dev.lookahead.bindings.PinnedBuffer;
import dev.lookahead.bindings.Stream;
import dev.lookahead.expert.Expert;
import dev.lookahead.model.ArchitectureSpec;
import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.Tensor;
import dev.lookahead.util.Progress;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Every weight of a model resident in device memory, copied from the checkpoint's mmap'd
 * tensors through a double-buffered pinned staging area. Owns its device buffers.
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
                         WeightTensor finalNorm, WeightTensor lmHead, List<List<Expert>> residentExperts,
                         long deviceBytes) {
        this.buffers = buffers;
        this.embedding = embedding;
        this.layers = List.copyOf(layers);
        this.finalNorm = finalNorm;
        this.lmHead = lmHead;
        this.residentExperts = residentExperts == null ? null : List.copyOf(residentExperts);
        this.deviceBytes = deviceBytes;
    }

    /** Bytes of device memory the weights occupy. */
    public long deviceBytes() {
        return deviceBytes;
    }

    /**
     * Checks the checkpoint against the architecture, then uploads every weight.
     * On failure everything allocated so far is freed.
     */
    public static ModelWeights upload(Checkpoint checkpoint, Device device, Stream stream, Progress progress) {
        ModelConfig config = checkpoint.config();
        ArchitectureSpec spec = ArchitectureSpec.forConfig(config);
        spec.validate(checkpoint, config);
        try (Loader loader = new Loader(checkpoint, spec, device, stream, progress)) {
            return loader.loadAll(config);
        }
    }

    @Override
    public void close() {
        for (DeviceBuffer b : buffers) b.close();
        buffers.clear();
    }

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
        private final Checkpoint checkpoint;
        private final ArchitectureSpec spec;
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

        Loader(Checkpoint checkpoint, ArchitectureSpec spec, Device device, Stream stream, Progress progress) {
            this.checkpoint = checkpoint;
            this.spec = spec;
            this.device = device;
            this.stream = stream;
            this.progress = progress;
            this.staging = device.allocatePinned(2 * STAGING_HALF);
            this.halfFree[0] = device.createEvent();
            this.halfFree[1] = device.createEvent();
        }

        ModelWeights loadAll(ModelConfig c) {
            long total = 0;
            for (var expected : spec.expectedTensors(c)) {
                if (checkpoint.contains(expected.name())) total += checkpoint.tensor(expected.name()).segment().byteSize();
            }
            progress.start("loading weights", total, "B");
            WeightTensor embedding = load(Role.TOKEN_EMBEDDING, 0, 0);
            List<LayerWeights> layers = new ArrayList<>();
            List<List<Expert>> resident = new ArrayList<>();
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                List<Expert> experts = new ArrayList<>();
                for (int e = 0; e < c.numLocalExperts(); e++) {
                    experts.add(new Expert(linear(Role.EXPERT_GATE, l, e), linear(Role.EXPERT_UP, l, e),
                            linear(Role.EXPERT_DOWN, l, e)));
                }
                resident.add(experts);
                layers.add(new LayerWeights(load(Role.ATTN_NORM, l, 0), linear(Role.ATTN_Q, l, 0),
                        linear(Role.ATTN_K, l, 0), linear(Role.ATTN_V, l, 0), linear(Role.ATTN_O, l, 0),
                        load(Role.FFN_NORM, l, 0), load(Role.ROUTER, l, 0)));
            }
            WeightTensor finalNorm = load(Role.FINAL_NORM, 0, 0);
            String lmHeadName = spec.name(Role.LM_HEAD, 0, 0);
            WeightTensor lmHead = c.tieWordEmbeddings() && !checkpoint.contains(lmHeadName)
                    ? embedding : load(Role.LM_HEAD, 0, 0);
            stream.synchronize();
            progress.finish();
            long bytes = 0;
            for (DeviceBuffer b : buffers) bytes += b.size();
            handedOver = true;
            return new ModelWeights(new ArrayList<>(buffers), embedding, layers, finalNorm, lmHead, resident, bytes);
        }

        private Linear linear(Role role, int layer, int expert) {
            return new Linear.Dense(load(role, layer, expert));
        }

        private WeightTensor load(Role role, int layer, int expert) {
            String name = spec.name(role, layer, expert);
            Tensor t = checkpoint.tensor(name, dev.lookahead.model.DType.FLOATS);
            long[] shape = t.shape();
            long rows = shape.length == 1 ? 1 : shape[0];
            long cols = shape[shape.length - 1];
            MemorySegment src = t.segment();
            DeviceBuffer buffer = device.allocate(src.byteSize());
            buffers.add(buffer);
            copy(src, buffer);
            return new WeightTensor(name, buffer.all(), deviceType(t.dtype()), rows, cols);
        }

        private void copy(MemorySegment src, DeviceBuffer dst) {
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
