package dev.lookahead.jmh;

import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.LookaheadNativeException;
import dev.lookahead.engine.ForwardPass;
import java.nio.file.Path;

/** Our engine: {@code ForwardPass.forwardLast} of one token, greedy. KV cache F32 (as Jlama's). */
final class LookaheadDecoder implements TokenDecoder {
    private final MoeModel model;
    private final ForwardPass forward;
    private final int[] one = new int[1];

    LookaheadDecoder(Path dir, BackendChoice backend, int threads, int context) {
        LoadOptions options = LoadOptions.defaults().withBackend(backend).withThreads(threads)
                .withContextLength(context).withKvCacheType(DType.F32);
        try {
            this.model = MoeModel.load(dir, options);
        } catch (LookaheadNativeException e) {
            throw BenchSupport.explainUnavailable(backend.name().toLowerCase(java.util.Locale.ROOT), e);
        }
        this.forward = model.forwardPass();
    }

    @Override
    public int step(int token, int pos) {
        one[0] = token;
        return TokenDecoder.argmax(forward.forwardLast(one, 0, 1, pos));
    }

    String describe() {
        return model.deviceInfo() + " (" + model.backendReason() + ")";
    }

    @Override
    public void close() {
        model.close();
    }
}
