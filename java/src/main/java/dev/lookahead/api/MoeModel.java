package dev.lookahead.api;

import dev.lookahead.bindings.Backend;
import dev.lookahead.bindings.BackendName;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceInfo;
import dev.lookahead.bindings.DeviceOptions;
import dev.lookahead.bindings.LookaheadNativeException;
import dev.lookahead.bindings.Stream;
import dev.lookahead.bindings.AttentionShape;
import dev.lookahead.bindings.ffi.LkStatus;
import dev.lookahead.engine.ForcedRouting;
import dev.lookahead.engine.ForwardPass;
import dev.lookahead.engine.LiveHeadRecall;
import dev.lookahead.engine.Generation;
import dev.lookahead.engine.KvCache;
import dev.lookahead.engine.DeviceGate;
import dev.lookahead.engine.ExpertBudget;
import dev.lookahead.expert.CacheStats;
import dev.lookahead.gate.HeadLayout;
import dev.lookahead.gate.LookaheadHeads;
import dev.lookahead.gate.RoutingWeights;
import dev.lookahead.engine.ExpertSource;
import dev.lookahead.engine.ModelWeights;
import dev.lookahead.engine.NvtxTimeline;
import dev.lookahead.engine.OffloadedExperts;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.quant.QuantizedCheckpoint;
import dev.lookahead.engine.ResidentExperts;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.tokenizer.ChatTemplate;
import dev.lookahead.tokenizer.StreamDecoder;
import dev.lookahead.tokenizer.Tokenizer;
import dev.lookahead.util.Progress;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.function.Consumer;
import java.util.stream.StreamSupport;

/**
 * A Mixtral-architecture model loaded on a device, ready to generate.
 *
 * <pre>{@code
 * try (var model = MoeModel.load(Path.of("models/demo"), LoadOptions.defaults())) {
 *     var result = model.generate("The old house", GenerationOptions.defaults(),
 *             token -> System.out.print(token.text()));
 *     System.out.println(result.timings());
 * }
 * }</pre>
 *
 * One generation at a time per model (calls are serialised); each generation starts from an
 * empty context.
 */
public final class MoeModel implements AutoCloseable {
    private final Path directory;
    private final ModelConfig config;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    private final Backend backend;
    private final Device device;
    private final String backendReason;
    private final Checkpoint checkpoint;
    private final ModelWeights weights;
    private final KvCache cache;
    private final ExpertSource experts;
    private final DeviceGate gate;
    private final ForwardPass forward;
    private final ResidencyPolicy policy;
    private boolean closed; // guarded by this
    private final String expertFormat;
    private final ForcedRouting forcedRouting; // null: the router decides
    private final Set<Integer> endTokens;

    private MoeModel(Path directory, ModelConfig config, Tokenizer tokenizer, ChatTemplate chatTemplate,
                     Backend backend, Device device, String backendReason, Checkpoint checkpoint,
                     ModelWeights weights, KvCache cache, ExpertSource experts, DeviceGate gate, ForwardPass forward,
                     ResidencyPolicy policy, String expertFormat, ForcedRouting forcedRouting) {
        this.directory = directory;
        this.config = config;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.backend = backend;
        this.device = device;
        this.backendReason = backendReason;
        this.checkpoint = checkpoint;
        this.weights = weights;
        this.cache = cache;
        this.experts = experts;
        this.gate = gate;
        this.forward = forward;
        this.policy = policy;
        this.expertFormat = expertFormat;
        this.forcedRouting = forcedRouting;
        Set<Integer> ends = new HashSet<>(config.eosTokenIds());
        this.endTokens = Set.copyOf(ends);
    }

    public static MoeModel load(Path directory, LoadOptions options) {
        return load(directory, options, Progress.NONE);
    }

    /**
     * Loads a Hugging Face checkpoint directory (config.json, safetensors, tokenizer.json).
     * Everything is validated before device memory is touched; on failure nothing stays allocated.
     */
    public static MoeModel load(Path directory, LoadOptions options, Progress progress) {
        ResidencyPolicy policy = ResidencyPolicies.byName(options.policy());
        if (policy.replayOnly()) {
            throw new IllegalArgumentException("policy '" + policy.name() + "' needs the future of a routing trace: it runs in"
                    + " `lookahead replay` only");
        }
        boolean quantized = QuantizedCheckpoint.isQuantized(directory);
        boolean offloaded = policy.placement() != ResidencyPolicy.Placement.ALL_RESIDENT;
        if (offloaded && !quantized) {
            throw new IllegalArgumentException("policy '" + policy.name() + "' offloads quantized experts, but " + directory
                    + " is not a quantized checkpoint; make one with `lookahead quantize " + directory + " DST --expert-bits 4`");
        }
        QuantizedCheckpoint qc = quantized ? QuantizedCheckpoint.open(directory) : null;
        Checkpoint checkpoint = quantized ? qc.checkpoint() : Checkpoint.open(directory);
        Backend backend = null;
        try {
            ModelConfig config = checkpoint.config();
            ForcedRouting forcedRouting = options.routingFrom() == null ? null : readRouting(options.routingFrom(), config);
            Tokenizer tokenizer = Tokenizer.load(directory.resolve("tokenizer.json"));
            Path tokenizerConfig = directory.resolve("tokenizer_config.json");
            ChatTemplate chat = java.nio.file.Files.isRegularFile(tokenizerConfig) ? ChatTemplate.load(tokenizerConfig)
                    : new ChatTemplate(ChatTemplate.Format.PLAIN, "<s>", "</s>", "(no tokenizer_config.json)");
            int context = options.contextLength() > 0 ? options.contextLength()
                    : Math.min(config.maxPositionEmbeddings(), LoadOptions.DEFAULT_CONTEXT);
            if (context > config.maxPositionEmbeddings()) {
                throw new IllegalArgumentException("context length " + context + " exceeds the model's max_position_embeddings "
                        + config.maxPositionEmbeddings());
            }
            int chunk = Math.min(options.prefillChunk(), context);
            if (offloaded && options.slotsPerLayer() > 0) { // a budget's slots are checked when the budget is known
                OffloadedExperts.checkSlots(policy, config.numHiddenLayers(), config.numLocalExperts(),
                        options.slotsPerLayer(), config.numExpertsPerTok());
            }
            backend = Backend.load();
            StringBuilder reason = new StringBuilder();
            Device device = openDevice(backend, options, reason);
            Stream stream = null;
            ModelWeights weights = null;
            KvCache cache = null;
            ExpertSource experts = null;
            DeviceGate gate = null;
            try {
                stream = device.createStream();
                weights = quantized ? ModelWeights.upload(qc, !offloaded, device, stream, progress)
                        : ModelWeights.upload(checkpoint, device, stream, progress);
                int window = config.slidingWindow() == null ? 0 : config.slidingWindow();
                AttentionShape shape = AttentionShape.of(config.numAttentionHeads(), config.numKeyValueHeads(),
                        config.headDim(), context, options.kvCacheType(), window);
                cache = new KvCache(device, config.numHiddenLayers(), shape);
                if (offloaded) {
                    long budget = options.deviceMemory() > 0 ? options.deviceMemory() : device.info().totalMemory();
                    long placed = weights.deviceBytes() + cache.bytes() + ForwardPass.deviceBytes(config, chunk);
                    int slotsPerLayer = options.slotsPerLayer() > 0 ? options.slotsPerLayer()
                            : ExpertBudget.slotsPerLayer(budget, placed, qc.layout().blobBytes(), config);
                    if (policy.scheduled()) {
                        LookaheadHeads heads = options.headsFile() != null
                                ? LookaheadHeads.load(options.headsFile(), RoutingWeights.read(checkpoint))
                                : LookaheadHeads.plugAndPlay(RoutingWeights.read(checkpoint),
                                        new HeadLayout(config.numHiddenLayers(), HeadLayout.DEFAULT_DISTANCE,
                                                HeadLayout.DEFAULT_LONG_RANGE, HeadLayout.NextToken.SAME_LAYER), directory.toString());
                        gate = new DeviceGate(heads, config.numHiddenLayers(), device, stream);
                    }
                    experts = new OffloadedExperts(qc, policy, slotsPerLayer, gate, options.scheduler(), device, stream, progress);
                } else {
                    experts = new ResidentExperts(weights.residentExperts);
                }
                ForwardPass forward = new ForwardPass(config, weights, experts, cache, device, stream, chunk);
                return new MoeModel(directory, config, tokenizer, chat, backend, device, reason.toString(),
                        checkpoint, weights, cache, experts, gate, forward, policy,
                        quantized ? qc.metadata().experts().toString() : null, forcedRouting);
            } catch (RuntimeException | Error e) {
                if (experts != null) experts.close();
                if (gate != null) gate.close();
                if (cache != null) cache.close();
                if (weights != null) weights.close();
                device.close();
                if (e instanceof LookaheadNativeException n && n.status() == LkStatus.LK_ERR_OUT_OF_MEMORY) {
                    throw new IllegalStateException(outOfDeviceMemory(directory, offloaded, quantized, n), n);
                }
                throw e;
            }
        } catch (RuntimeException | Error e) {
            if (backend != null) backend.close();
            checkpoint.close();
            throw e;
        }
    }

    /** What to do when the model does not fit in device memory: offload its experts, or give them more room. */
    private static String outOfDeviceMemory(Path directory, boolean offloaded, boolean quantized, LookaheadNativeException e) {
        String what = "device memory is too small for " + directory + " (" + e.nativeMessage() + "): ";
        if (offloaded) {
            return what + "the weights other than the experts, the KV cache and scratch do not fit; raise the budget"
                    + " (--gpu-memory, LoadOptions.withDeviceMemory) or shorten the context (--context)";
        }
        String offload = "load it with an offloading policy and a budget, e.g. --policy lookahead --gpu-memory SIZE"
                + " (LoadOptions.withPolicy(\"lookahead\").withDeviceMemory(bytes)): the experts then stay in host memory";
        return what + "with every expert resident it does not fit; " + (quantized ? offload
                : "quantize it (`lookahead quantize " + directory + " DST --expert-bits 4`) and " + offload)
                + " (a shorter context, --context, shrinks the KV cache)";
    }

    /** Reads and checks a routing trace before anything native is touched; a bad one is a user error. */
    private static ForcedRouting readRouting(Path trace, ModelConfig config) {
        try {
            return ForcedRouting.read(trace, config);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot replay routing: " + e.getMessage(), e);
        }
    }

    private static Device openDevice(Backend backend, LoadOptions options, StringBuilder reason) {
        // an emulated link (linkBytesPerSecond > 0) throttles host-to-device copies on either backend
        DeviceOptions deviceOptions = DeviceOptions.DEFAULTS.withThreads(options.threads())
                .withMemoryLimit(options.deviceMemory()).withLinkBytesPerSecond(options.linkBytesPerSecond());
        return switch (options.backend()) {
            case CPU -> {
                reason.append("cpu backend requested");
                yield backend.open(BackendName.CPU, deviceOptions);
            }
            case CUDA -> {
                reason.append("cuda backend requested");
                yield backend.open(BackendName.CUDA, deviceOptions);
            }
            case AUTO -> {
                try {
                    Device d = backend.open(BackendName.CUDA, deviceOptions);
                    reason.append("auto: a CUDA device is available");
                    yield d;
                } catch (LookaheadNativeException e) {
                    // Only "no usable CUDA here" selects the CPU; any other CUDA failure is reported.
                    if (e.status() != LkStatus.LK_ERR_BACKEND_UNAVAILABLE) throw e;
                    reason.append("auto: CUDA unavailable (").append(e.nativeMessage()).append("), using the CPU backend");
                    yield backend.open(BackendName.CPU, deviceOptions);
                }
            }
        };
    }

    public Path directory() {
        return directory;
    }

    public ModelConfig config() {
        return config;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public DeviceInfo deviceInfo() {
        return device.info();
    }

    /** Why this backend runs the model (e.g. "auto: CUDA unavailable (...), using the CPU backend"). */
    public String backendReason() {
        return backendReason;
    }

    /** KV cache capacity in tokens. */
    public long contextLength() {
        return cache.capacity();
    }

    public long weightBytes() {
        return weights.deviceBytes();
    }

    public long kvCacheBytes() {
        return cache.bytes();
    }

    /** Tokens of a prompt as the model will see it (BOS added; chat template applied when asked). */
    public int[] encodePrompt(String prompt, boolean chat) {
        if (!chat) return tokenizer.encode(prompt, true);
        // the rendered template spells out its special tokens ("<s>"), so none are added
        String text = chatTemplate.render(List.of(ChatTemplate.Message.user(prompt)), true);
        return tokenizer.encode(text, false);
    }

    /** Generates a continuation, handing each token to {@code listener} as it is produced. */
    public synchronized GenerationResult generate(String prompt, GenerationOptions options, Consumer<GeneratedToken> listener) {
        java.util.Objects.requireNonNull(listener, "listener");
        return newGeneration(prompt, options).run(listener);
    }

    /**
     * The tokens of a generation as a lazy stream: each element pulled runs one decode step.
     * Consume it fully (or close the model) before starting another generation.
     */
    public java.util.stream.Stream<GeneratedToken> tokens(String prompt, GenerationOptions options) {
        Generation g;
        synchronized (this) {
            g = newGeneration(prompt, options);
        }
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(g, Spliterator.ORDERED | Spliterator.NONNULL), false);
    }

    private Generation newGeneration(String prompt, GenerationOptions options) {
        java.util.Objects.requireNonNull(prompt, "prompt");
        java.util.Objects.requireNonNull(options, "options");
        if (closed) throw new IllegalStateException("the model " + directory + " is closed");
        int[] ids = encodePrompt(prompt, options.chat());
        StreamDecoder decoder = tokenizer.streamDecoder(true);
        Generation.TextDecoder text = new Generation.TextDecoder() {
            @Override public String next(int tokenId) { return decoder.append(tokenId); }
            @Override public String flush() { return decoder.finish(); }
        };
        return new Generation(forward, cache.capacity(), endTokens, text, ids, options, config.vocabSize(), forcedRouting);
    }

    /**
     * What the offloaded experts did in the decode steps so far (cumulative since load); empty when every expert is
     * resident.
     */
    public synchronized java.util.Optional<ExpertCacheStats> expertCacheStats() {
        if (!(experts instanceof OffloadedExperts off)) return java.util.Optional.empty();
        CacheStats s = off.stats();
        LiveHeadRecall recall = off.headRecall();
        int layers = config.numHiddenLayers();
        return java.util.Optional.of(new ExpertCacheStats(policy.name(), off.layoutDescription(), s.lookups(), s.hits(),
                s.bytesCopied(), off.linkBytes(), off.stallMillis(),
                off.meanDemandIssueMicros(),
                recall == null ? Double.NaN : recall.recall(1), recall == null ? Double.NaN : recall.recall(layers)));
    }

    /** What went where: device memory for weights, KV cache, scratch and expert slots; host memory for experts. */
    public String placementReport() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(java.util.Locale.ROOT, "device: weights %.1f MiB, KV cache %.1f MiB, scratch %.1f MiB",
                weights.deviceBytes() / 1048576.0, cache.bytes() / 1048576.0,
                ForwardPass.deviceBytes(config, forward.chunk()) / 1048576.0));
        if (experts instanceof OffloadedExperts off) {
            sb.append(String.format(java.util.Locale.ROOT, ", expert slots %.1f MiB (%s + %d staging); host: experts %.1f MiB pinned",
                    off.slotBytes() / 1048576.0, off.layoutDescription(), ExpertBudget.STAGING_SLOTS,
                    off.hostBytes() / 1048576.0));
        } else {
            sb.append(" (experts included: all resident)");
        }
        return sb.toString();
    }

    /**
     * Turns profiler ranges on or off: every forward call, layer, attention, router, expert block
     * and expert becomes a named NVTX range on CUDA (Nsight Systems shows them); on the CPU backend
     * they record nothing. Off by default.
     */
    public synchronized void setProfilerRanges(boolean on) {
        forward.setTimeline(on ? new NvtxTimeline(device) : null);
    }

    /** The device, for tests of this package. */
    Device device() {
        return device;
    }

    /** The residency policy of the experts (all-resident unless offloaded). */
    public ResidencyPolicy policy() {
        return policy;
    }

    /** The routing generations replay ({@link LoadOptions#routingFrom()}), or null when the router decides. */
    public ForcedRouting forcedRouting() {
        return forcedRouting;
    }

    /** The experts' quantization ("4-bit g64"), or null for a plain checkpoint. */
    public String expertFormat() {
        return expertFormat;
    }

    /** Where the experts come from; an {@link OffloadedExperts} carries the cache statistics. */
    public ExpertSource experts() {
        return experts;
    }

    /** The forward pass, for scoring and tools (same thread discipline as generate). */
    public ForwardPass forwardPass() {
        return forward;
    }

    /** Frees the device and host memory of the model; closing it again does nothing. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        try {
            forward.close();
        } finally {
            experts.close();
            if (gate != null) gate.close();
            cache.close();
            weights.close();
            device.close();
            backend.close();
            checkpoint.close();
        }
    }
}
