package dev.lookahead.api;

import dev.lookahead.bindings.DType;

/**
 * How a model is loaded.
 *
 * @param backend         which backend runs it (AUTO: CUDA when usable, else CPU, and says why)
 * @param threads         CPU backend compute threads, 0 = all cores
 * @param contextLength   KV cache capacity in tokens, 0 = min(model's max_position_embeddings, 4096)
 * @param kvCacheType     F32, F16 or BF16
 * @param prefillChunk    tokens per prefill pass (longer prompts are split)
 * @param deviceMemory    device memory limit in bytes, 0 = the device's default
 */
public record LoadOptions(BackendChoice backend, int threads, int contextLength, DType kvCacheType,
                          int prefillChunk, long deviceMemory) {
    public static final int DEFAULT_CONTEXT = 4096;

    public LoadOptions {
        if (backend == null) throw new IllegalArgumentException("backend must not be null");
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        if (contextLength < 0) throw new IllegalArgumentException("contextLength must be >= 0, got " + contextLength);
        if (kvCacheType == null || !kvCacheType.isFloat())
            throw new IllegalArgumentException("kvCacheType must be F32, F16 or BF16, got " + kvCacheType);
        if (prefillChunk <= 0) throw new IllegalArgumentException("prefillChunk must be > 0, got " + prefillChunk);
        if (deviceMemory < 0) throw new IllegalArgumentException("deviceMemory must be >= 0, got " + deviceMemory);
    }

    /** AUTO backend, all cores, default context, F16 KV cache, 64-token prefill chunks. */
    public static LoadOptions defaults() {
        return new LoadOptions(BackendChoice.AUTO, 0, 0, DType.F16, 64, 0);
    }

    public LoadOptions withBackend(BackendChoice b) {
        return new LoadOptions(b, threads, contextLength, kvCacheType, prefillChunk, deviceMemory);
    }

    public LoadOptions withThreads(int n) {
        return new LoadOptions(backend, n, contextLength, kvCacheType, prefillChunk, deviceMemory);
    }

    public LoadOptions withContextLength(int n) {
        return new LoadOptions(backend, threads, n, kvCacheType, prefillChunk, deviceMemory);
    }

    public LoadOptions withKvCacheType(DType t) {
        return new LoadOptions(backend, threads, contextLength, t, prefillChunk, deviceMemory);
    }

    public LoadOptions withPrefillChunk(int n) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, n, deviceMemory);
    }

    public LoadOptions withDeviceMemory(long bytes) {
        return new LoadOptions(backend, threads, contextLength, kvCacheType, prefillChunk, bytes);
    }
}
