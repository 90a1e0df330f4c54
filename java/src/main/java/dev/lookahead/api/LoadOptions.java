package dev.lookahead.api;

import dev.lookahead.sched.SpeculationSettings;
import dev.lookahead.bindings.DType;

/**
 * How a model is loaded.
 *
 * @param backend         which backend runs it (AUTO: CUDA when usable, else CPU, and says why)
 * @param threads         CPU backend compute threads, 0 = all cores
 * @param contextLength   KV cache capacity in tokens, 0 = min(model's max_position_embeddings, 4096)
 * @param kvCacheType     F32, F16 or BF16
 * @param prefillChunk    tokens per prefill pass (longer prompts are split)
 * @param deviceMemory    device memory budget in bytes, 0 = the device's default; with an offloading
 *                        policy, what the weights, KV cache and scratch leave becomes expert slots
 * @param policy          expert residency for quantized checkpoints: all-resident (default),
 *                        mixtral-offloading, next-layer, lru-global (see `lookahead replay --help`)
 * @param linkBytesPerSecond emulate a host-to-device link of this bandwidth for expert copies (0 = off: plain
 *                        memory copies on the CPU backend, the real link on CUDA); on CUDA it measures a small
 *                        model at a large one's transfer / compute ratio with a real device and host
 * @param slotsPerLayer   with an offloading policy: expert slots per layer, 0 = as many as the budget allows
 * @param headsFile       trained lookahead heads (from `lookahead align`) for the lookahead policies; null =
 *                        plug-and-play heads (each layer's router applied early). A model directory's own heads are
 *                        {@code LookaheadHeads.defaultFile(dir)}, which the command line takes by default
 * @param routingFrom     a recorded routing trace (JSONL, as in shared/traces) whose routing every generated token
 *                        replays instead of the router's choice (see {@link dev.lookahead.engine.ForcedRouting}; the
 *                        problem is {@link GenerationOptions#routingProblem()}); null = the model's own router
 * @param scheduler       the lookahead policies' speculation knobs ({@link SpeculationSettings#DEFAULTS}: the tuned defaults)
 */
public record LoadOptions(BackendChoice backend, int threads, int contextLength, DType kvCacheType,
                          int prefillChunk, long deviceMemory, String policy, double linkBytesPerSecond,
                          int slotsPerLayer, java.nio.file.Path headsFile, java.nio.file.Path routingFrom,
                          SpeculationSettings scheduler) {
    public static final int DEFAULT_CONTEXT = 4096;

    public LoadOptions {
        if (backend == null) throw new IllegalArgumentException("backend must not be null");
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        if (contextLength < 0) throw new IllegalArgumentException("contextLength must be >= 0, got " + contextLength);
        if (kvCacheType == null || !kvCacheType.isFloat())
            throw new IllegalArgumentException("kvCacheType must be F32, F16 or BF16, got " + kvCacheType);
        if (prefillChunk <= 0) throw new IllegalArgumentException("prefillChunk must be > 0, got " + prefillChunk);
        if (deviceMemory < 0) throw new IllegalArgumentException("deviceMemory must be >= 0, got " + deviceMemory);
        if (policy == null || policy.isBlank()) throw new IllegalArgumentException("policy must be named");
        if (!(linkBytesPerSecond >= 0) || Double.isInfinite(linkBytesPerSecond))
            throw new IllegalArgumentException("linkBytesPerSecond must be >= 0 and finite, got " + linkBytesPerSecond);
        if (slotsPerLayer < 0) throw new IllegalArgumentException("slotsPerLayer must be >= 0, got " + slotsPerLayer);
        if (scheduler == null) throw new IllegalArgumentException("scheduler tuning must not be null (SpeculationSettings.DEFAULTS)");
    }

    /** AUTO backend, all cores, default context, F16 KV cache, 64-token prefill chunks. */
    public static LoadOptions defaults() {
        return new LoadOptions(BackendChoice.AUTO, 0, 0, DType.F16, 64, 0, "all-resident", 0, 0, null, null, SpeculationSettings.DEFAULTS);
    }

    public LoadOptions withBackend(BackendChoice b) {
        return new LoadOptions(b, threads, contextLength, kvCacheType, prefillChunk, deviceMemory, policy, linkBytesPerSecond, slotsPerLayer, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withThreads(int n) {
        return new LoadOptions(backend, n, contextLength, kvCacheType, prefillChunk, deviceMemory, policy, linkBytesPerSecond, slotsPerLayer, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withContextLength(int n) {
        return new LoadOptions(backend, threads, n, kvCacheType, prefillChunk, deviceMemory, policy, linkBytesPerSecond, slotsPerLayer, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withKvCacheType(DType t) {
        return new LoadOptions(backend, threads, contextLength, t, prefillChunk, deviceMemory, policy, linkBytesPerSecond, slotsPerLayer, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withPrefillChunk(int n) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, n, deviceMemory, policy, linkBytesPerSecond, slotsPerLayer, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withDeviceMemory(long bytes) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, prefillChunk, bytes, policy, linkBytesPerSecond, slotsPerLayer, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withPolicy(String name) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, prefillChunk, deviceMemory, name, linkBytesPerSecond, slotsPerLayer, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withSlotsPerLayer(int k) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, prefillChunk, deviceMemory, policy, linkBytesPerSecond, k, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withHeadsFile(java.nio.file.Path file) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, prefillChunk, deviceMemory, policy, linkBytesPerSecond,
                slotsPerLayer, file, routingFrom, scheduler);
    }

    public LoadOptions withLinkBytesPerSecond(double bytesPerSecond) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, prefillChunk, deviceMemory, policy, bytesPerSecond, slotsPerLayer, headsFile, routingFrom, scheduler);
    }

    public LoadOptions withRoutingFrom(java.nio.file.Path trace) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, prefillChunk, deviceMemory, policy, linkBytesPerSecond,
                slotsPerLayer, headsFile, trace, scheduler);
    }

    public LoadOptions withScheduler(SpeculationSettings tuning) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, prefillChunk, deviceMemory, policy, linkBytesPerSecond,
                slotsPerLayer, headsFile, routingFrom, tuning);
    }
}
