package dev.lookahead.sched;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Predicts the next token's routing from the token ids decoded so far (prompt-lookup decoding): when the last two
 * token ids occurred before, the token that followed them then is likely to follow now, with the routing it had then.
 * Known at the start of a token, this tells each layer of the next token what it will choose a whole token ahead,
 * where the next-token heads, reading one hidden state, are least sure (docs/scheduler.md, "Staged copies").
 *
 * <p>Per decode token, in order: {@link #beginToken} with its id, then {@link #observe} for each of its layers;
 * {@link #endSequence} when the text restarts (a new prompt), so that no bigram spans two texts. A
 * prediction ({@link #predicted}) is the routing of the token that followed the latest earlier occurrence of the
 * current bigram (the previous id and this one) whose follower has been observed in full; its
 * {@link #precision} is measured, per layer, on this run's own outcomes (the share of predicted experts the layer
 * then chose), starting from {@link #INITIAL_PRECISION} as {@link #PRIOR_WEIGHT} pseudo-outcomes.
 *
 * <p>History is a ring of the last {@link #HISTORY_TOKENS} decode tokens. Not thread-safe; allocates only the
 * index's entries.
 */
public final class TokenRecurrence {
    /** Decode tokens whose ids and routing are kept. */
    static final int HISTORY_TOKENS = 4096;
    /** Precision assumed before any outcome. */
    static final double INITIAL_PRECISION = 0.5;
    /** Weight of that assumption, in outcomes. */
    static final double PRIOR_WEIGHT = 8;
    /** Each outcome's weight decays by this factor per later outcome of its layer (a window of ~256). */
    static final double DECAY = 1 - 1.0 / 256;
    private static final long NONE = -1;

    private final int layers;
    private final int experts;
    private final int words;            // longs per layer's expert mask
    private final int[] ids;            // ring [slot]: token id
    private final long[] tokenAt;       // ring [slot]: the token held, or NONE
    private final boolean[] follows;    // ring [slot]: its token follows the previous one in the same text
    private final long[] masks;         // ring [slot][layer][word]: the experts each layer chose
    private final Map<Long, Long> latest = new HashMap<>(); // bigram -> latest token ending it whose follower is observed

    private long token = NONE;          // the token being decoded
    private long indexedThrough = NONE; // bigrams ending at tokens up to this one are in the index
    private boolean sequenceEnded;      // the next token starts a new text
    private long source = NONE;         // the token whose routing is predicted for the next one, or NONE
    private final long[] prediction;    // [layer][word]: what the next token is predicted to choose (a copy)
    private final long[] pending;       // [layer][word]: the prediction made for the current token, scored by observe
    private boolean pendingValid;
    private final double[] hits;        // [layer]: decayed predicted experts chosen
    private final double[] trials;      // [layer]: decayed predicted experts
    private long tokens;                // decode tokens begun
    private long predictedTokens;       // of those, the ones after which the next token's routing was predicted
    private long predictedExperts;      // experts predicted for tokens whose layers then ran
    private long chosenExperts;         // of those, the ones chosen

    public TokenRecurrence(int layers, int experts) {
        if (layers <= 0 || experts <= 0) {
            throw new IllegalArgumentException("layers and experts must be > 0, got " + layers + ", " + experts);
        }
        this.layers = layers;
        this.experts = experts;
        this.words = (experts + 63) / 64;
        ids = new int[HISTORY_TOKENS];
        tokenAt = new long[HISTORY_TOKENS];
        Arrays.fill(tokenAt, NONE);
        follows = new boolean[HISTORY_TOKENS];
        masks = new long[HISTORY_TOKENS * layers * words];
        prediction = new long[layers * words];
        pending = new long[layers * words];
        hits = new double[layers];
        trials = new double[layers];
    }

    /** The text restarts (a new prompt): the next token has no predecessor. The history stays. */
    public void endSequence() {
        sequenceEnded = true;
    }

    /**
     * Decode token {@code t} has id {@code id} (tokens in increasing order; a gap in the numbers, like
     * {@link #endSequence}, starts a new text). Finds the next token's predicted routing.
     */
    public void beginToken(long t, int id) {
        if (t <= token) throw new IllegalStateException("token " + t + " after token " + token + ": tokens must increase");
        if (id < 0) throw new IllegalArgumentException("token id must be >= 0, got " + id);
        boolean chained = t == token + 1 && !sequenceEnded;
        sequenceEnded = false;
        // what was predicted for this token is scored as its layers choose
        pendingValid = source != NONE && chained;
        if (pendingValid) System.arraycopy(prediction, 0, pending, 0, prediction.length);
        // every token before t is complete now: index the bigrams whose follower is one of them
        for (long p = Math.max(indexedThrough + 1, token - HISTORY_TOKENS + 2); p <= token - 1; p++) {
            if (linked(p) && linked(p + 1)) latest.put(bigram(ids[slot(p - 1)], ids[slot(p)]), p);
        }
        indexedThrough = Math.max(indexedThrough, token - 1);
        token = t;
        int s = slot(t);
        tokenAt[s] = t;
        follows[s] = chained;
        ids[s] = id;
        Arrays.fill(masks, s * layers * words, (s + 1) * layers * words, 0L);
        source = NONE;
        if (linked(t)) {
            Long match = latest.get(bigram(ids[slot(t - 1)], id));
            if (match != null && linked(match) && linked(match + 1)) {
                source = match + 1;
                System.arraycopy(masks, slot(source) * layers * words, prediction, 0, layers * words);
            }
        }
        if (latest.size() > 4 * HISTORY_TOKENS) latest.clear(); // entries of tokens that left the ring
        tokens++;
        if (source != NONE) predictedTokens++;
    }

    /** Layer {@code layer} of the current token chose {@code chosen[0 .. count)}. */
    public void observe(long t, int layer, int[] chosen, int count) {
        if (t != token) throw new IllegalStateException("routing of token " + t + " while decoding token " + token);
        int base = slot(t) * layers * words + layer * words;
        for (int i = 0; i < count; i++) masks[base + chosen[i] / 64] |= 1L << (chosen[i] % 64);
        if (!pendingValid) return;
        int predicted = 0, chosenToo = 0;
        for (int w = 0; w < words; w++) {
            long p = pending[layer * words + w];
            predicted += Long.bitCount(p);
            chosenToo += Long.bitCount(p & masks[base + w]);
        }
        if (predicted == 0) return;
        predictedExperts += predicted;
        chosenExperts += chosenToo;
        hits[layer] = hits[layer] * DECAY + chosenToo;
        trials[layer] = trials[layer] * DECAY + predicted;
    }

    /** Whether {@code t} is the token being decoded ({@link #beginToken} was called for it last). */
    public boolean decoding(long t) {
        return t == token && t != NONE;
    }

    /** The earlier token that ended the current bigram (the one before the predicting source), or -1 without one. */
    public long matched() {
        return source == NONE ? NONE : source - 1;
    }

    /** Whether the next token's routing is predicted (the current bigram occurred before). */
    public boolean predicts() {
        return source != NONE;
    }

    /** Whether the next token's layer {@code layer} is predicted to choose {@code expert}. */
    public boolean predicted(int layer, int expert) {
        return source != NONE && (prediction[layer * words + expert / 64] & 1L << (expert % 64)) != 0;
    }

    /** The measured share of predicted experts that layer {@code layer} chose, with the prior's pseudo-outcomes. */
    public double precision(int layer) {
        return (hits[layer] + INITIAL_PRECISION * PRIOR_WEIGHT) / (trials[layer] + PRIOR_WEIGHT);
    }

    /** Counts so far, for reports: tokens begun, tokens after which the next one's routing was predicted, experts
     *  predicted for tokens that then ran, and of those the ones chosen. */
    public record Counts(long tokens, long predictedTokens, long predictedExperts, long chosenExperts) {
    }

    public Counts counts() {
        return new Counts(tokens, predictedTokens, predictedExperts, chosenExperts);
    }

    private boolean known(long t) {
        return t >= 0 && t <= token && tokenAt[slot(t)] == t && t > token - HISTORY_TOKENS;
    }

    /** Token t and the one before it are both in the ring, in the same text. */
    private boolean linked(long t) {
        return known(t) && known(t - 1) && follows[slot(t)];
    }

    private static int slot(long t) {
        return (int) (t % HISTORY_TOKENS);
    }

    private static long bigram(int first, int second) {
        return (long) first << 32 | (second & 0xffffffffL);
    }
}
