package dev.lookahead.engine;

import dev.lookahead.api.GeneratedToken;
import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.GenerationResult;
import dev.lookahead.api.StopReason;
import dev.lookahead.api.Timings;

import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.function.Consumer;

/**
 * One generation, pulled a token at a time: the prompt is prefilled on the first pull, then
 * each pull is one decode step. Ends at end-of-sequence, max tokens, a stop string or a full
 * context.
 */
public final class Generation implements java.util.Iterator<GeneratedToken> {
    /** Turns token ids into text as they stream (keeps incomplete UTF-8 sequences back). */
    public interface TextDecoder {
        String next(int tokenId);

        String flush();
    }

    private final ForwardPass forward;
    private final ForcedRouting forcedRouting; // null: the router decides
    private final long capacity;
    private final Set<Integer> endTokens;
    private final TextDecoder decoder;
    private final GenerationOptions options;
    private final Sampler sampler;
    private final StopStrings stops;
    private final int[] prompt;
    private final int[] history;
    private final List<Integer> generatedIds = new ArrayList<>();
    private int historyLength;
    private long pos;
    private float[] logits;
    private StopReason stopReason;
    private GeneratedToken lookahead;
    private long prefillNanos, decodeNanos;
    private int decodeSteps;

    public Generation(ForwardPass forward, long capacity, Set<Integer> endTokens, TextDecoder decoder, int[] prompt,
                      GenerationOptions options, int vocabSize) {
        this(forward, capacity, endTokens, decoder, prompt, options, vocabSize, null);
    }

    /**
     * @param forcedRouting when not null, every decode pass replays the routing of problem
     *                      {@link GenerationOptions#routingProblem()} of this trace (the prompt keeps the router's)
     */
    public Generation(ForwardPass forward, long capacity, Set<Integer> endTokens, TextDecoder decoder, int[] prompt,
                      GenerationOptions options, int vocabSize, ForcedRouting forcedRouting) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty (no tokens)");
        if (prompt.length >= capacity) {
            throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens but the context holds "
                    + capacity + " (one position must stay free for generation); shorten the prompt or load the model"
                    + " with a larger context length");
        }
        this.forward = forward;
        this.forcedRouting = forcedRouting;
        this.capacity = capacity;
        this.endTokens = endTokens;
        this.decoder = decoder;
        this.options = options;
        this.sampler = new Sampler(options.sampling(), vocabSize);
        this.stops = new StopStrings(options.stopStrings());
        this.prompt = prompt.clone();
        this.history = new int[prompt.length + options.maxTokens()];
        System.arraycopy(prompt, 0, history, 0, prompt.length);
        this.historyLength = prompt.length;
    }

    @Override
    public boolean hasNext() {
        if (lookahead == null) lookahead = step();
        return lookahead != null;
    }

    @Override
    public GeneratedToken next() {
        if (!hasNext()) throw new NoSuchElementException("the generation has ended: " + stopReason);
        GeneratedToken t = lookahead;
        lookahead = null;
        return t;
    }

    /** Runs to the end, handing each token to the listener, and returns the result. */
    public GenerationResult run(Consumer<GeneratedToken> listener) {
        while (hasNext()) listener.accept(next());
        return result();
    }

    /** The result so far (complete once {@link #hasNext()} is false). */
    public GenerationResult result() {
        return new GenerationResult(stops.text(), generatedIds, stopReason == null ? StopReason.MAX_TOKENS : stopReason,
                new Timings(prompt.length, prefillNanos, decodeSteps, decodeNanos));
    }

    private GeneratedToken step() {
        if (stopReason != null) return null;
        long start = System.nanoTime();
        if (logits == null) {
            logits = forward.forwardLast(prompt, 0, prompt.length, 0);
            pos = prompt.length;
            prefillNanos = System.nanoTime() - start;
        } else {
            if (pos >= capacity) {
                stopReason = StopReason.CONTEXT_FULL;
                return flushToken();
            }
            if (forcedRouting != null) {
                // the pass at position pos feeds generated token pos - prompt length: the trace's token_idx
                int decodeIndex = (int) (pos - prompt.length);
                forward.forceNextPass(forcedRouting, forcedRouting.token(options.routingProblem(), decodeIndex));
            }
            logits = forward.forwardLast(history, historyLength - 1, 1, pos);
            pos++;
        }
        int token = sampler.sample(logits, history, historyLength);
        history[historyLength++] = token;
        generatedIds.add(token);
        if (decodeSteps > 0 || generatedIds.size() > 1) {
            decodeNanos += System.nanoTime() - start;
        }
        if (generatedIds.size() > 1) decodeSteps++;

        String text;
        if (endTokens.contains(token)) {
            stopReason = StopReason.END_OF_SEQUENCE;
            text = stops.append(decoder.flush()) + stops.flush();
        } else {
            text = stops.append(decoder.next(token));
            if (stops.stopped()) {
                stopReason = StopReason.STOP_STRING;
            } else if (generatedIds.size() >= options.maxTokens()) {
                stopReason = StopReason.MAX_TOKENS;
                text += stops.append(decoder.flush()) + stops.flush();
            }
        }
        return new GeneratedToken(token, text, generatedIds.size() - 1);
    }

    /** A last pseudo-step that only carries held-back text, or null when there is none. */
    private GeneratedToken flushToken() {
        String rest = stops.append(decoder.flush()) + stops.flush();
        return rest.isEmpty() ? null : new GeneratedToken(-1, rest, generatedIds.size());
    }
}
