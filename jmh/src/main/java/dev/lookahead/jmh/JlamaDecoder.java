package dev.lookahead.jmh;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.model.mixtral.MixtralModel;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.KvBufferCache;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;
import java.nio.file.Path;
import java.util.Optional;
import java.util.UUID;

/**
 * Jlama 0.8.4's one-token path ({@code AbstractModel.forward(token, pos, kv)}, then
 * {@code getLogits}), F32 weights and F32 working precision, greedy.
 *
 * <p>Threads: Jlama runs its matmuls in {@code PhysicalCoreExecutor}, a ForkJoinPool of
 * {@code max(2, availableProcessors / 2)} threads unless {@code overrideThreadCount(n)} is called
 * before its first use; its parallel streams run inside that pool's tasks and so use the same
 * threads. This decoder sets it to the benchmark's thread count, so both engines compute with the
 * same number of threads. Call it once per JVM (JMH runs each trial in its own fork).
 *
 * <p>Known difference (JlamaCrossCheckTest): Jlama 0.8.4 sums the chosen experts without the
 * router weights, so with top-2 its tokens differ from ours; the work per step (which weights are
 * read, how many multiply-adds) is the same, which is what a throughput comparison needs.
 */
final class JlamaDecoder implements TokenDecoder {
    private final AbstractModel model;
    private final KvBufferCache cache;
    private final KvBufferCache.KvBuffer kv;

    JlamaDecoder(Path dir, int threads) {
        PhysicalCoreExecutor.overrideThreadCount(threads);
        this.model = ModelSupport.loadModel(dir.toFile(), DType.F32, DType.F32);
        if (!(model instanceof MixtralModel)) {
            model.close();
            throw new IllegalStateException("Jlama must load " + dir + " as Mixtral, got " + model.getClass());
        }
        this.cache = new KvBufferCache(model);
        this.kv = cache.getKvBuffer(UUID.randomUUID());
    }

    @Override
    public int step(int token, int pos) {
        AbstractTensor<?, ?> hidden = model.forward(token, pos, kv, Optional.empty());
        float[] probs = model.getLogits(hidden); // softmax of the logits: same argmax
        hidden.close();
        return TokenDecoder.argmax(probs);
    }

    int threads() {
        return PhysicalCoreExecutor.instance.get().getCoreCount();
    }

    @Override
    public void close() {
        try {
            kv.close();
            cache.close();
        } finally {
            model.close();
        }
    }
}
