package dev.lookahead.profile;

import dev.lookahead.api.GeneratedToken;
import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.api.SamplingOptions;
import dev.lookahead.engine.ForwardPass;
import dev.lookahead.engine.OffloadedExperts;

import java.util.Iterator;
import java.util.function.Consumer;

/** Runs a greedy generation on a loaded model with an {@link EventTimeline} attached, one window per token. */
public final class Profiler {
    private Profiler() {
    }

    /**
     * Generates up to {@code tokens} tokens from {@code prompt} (greedy; fewer if the model ends the
     * sequence), handing each to {@code listener} (outside the token's window), and returns their
     * timeline. The model is left as it was (no timeline attached).
     */
    public static Profile run(MoeModel model, String prompt, int tokens, Consumer<GeneratedToken> listener) {
        if (tokens <= 0) throw new IllegalArgumentException("tokens must be > 0, got " + tokens);
        GenerationOptions options = GenerationOptions.defaults().withMaxTokens(tokens).withSampling(SamplingOptions.greedy());
        ForwardPass forward = model.forwardPass();
        OffloadedExperts offloaded = model.experts() instanceof OffloadedExperts o ? o : null;
        try (EventTimeline timeline = new EventTimeline()) {
            forward.setTimeline(timeline);
            if (offloaded != null) offloaded.setTimeline(timeline);
            try {
                Iterator<GeneratedToken> it = model.tokens(prompt, options).iterator();
                boolean more = true;
                while (more) {
                    timeline.beginToken();
                    more = it.hasNext(); // runs the step: forward, sampling, detokenization
                    GeneratedToken token = more ? it.next() : null;
                    timeline.endToken();
                    if (token != null) listener.accept(token);
                }
                return timeline.finish();
            } finally {
                forward.setTimeline(null);
                if (offloaded != null) offloaded.setTimeline(null);
            }
        }
    }
}
