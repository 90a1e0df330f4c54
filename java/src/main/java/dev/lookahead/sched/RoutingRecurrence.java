package dev.lookahead.sched;

import dev.lookahead.expert.NextUseEstimator;
import dev.lookahead.expert.Steps;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Predicts the routing of the next tokens from this run's own routing: when the first layers of the current token
 * chose what they chose at an earlier token, the tokens that followed the earlier one tell what the next tokens will
 * choose (prompt-lookup decoding, applied to routing). It needs no weights, so it works where the heads know nothing
 * (random weights with real routing replayed) and on traces.
 *
 * <p>Keys are the routing of a token's first 1, 2 and 3 layers ({@link #KEY_LAYERS}); as each is complete the
 * {@link #MATCHES_PER_KEY} most recent earlier tokens with the same key become sources, a longer key adding its
 * matches to the shorter one's (so longer matches weigh more). An expert of layer m is predicted next used at the
 * sources' average first use of it within the next {@code tokensAhead} tokens after the current step, counting a
 * source that never uses it as one token past that window; a source whose continuation reaches the current token
 * before it uses the expert abstains. Used by no source, the expert is {@link NextUseEstimator#NEVER}.
 * Until the current token's first key is complete, the previous token's sources, shifted by one token, speak.
 * A token may also be matched by its ids ({@link #tokenMatch}: the last earlier token ending the same two token ids,
 * known before any of its layers runs); that source weighs as much as one key's matches.
 *
 * <p>Tuned on the gsm8k trace (keys of 1, 2 and 3 layers, 3 matches each, 8 tokens ahead); on the held-out humaneval
 * trace, per-layer eviction by it alone at k = 4 hits 0.659 against LRU's 0.620 (docs/scheduler.md, section 4).
 * Routing transition models and frequency counts evict no better than LRU there (DESIGN.md): what a token's context
 * did before is the information they lack.
 *
 * <p>History is a ring of the last {@link #HISTORY_TOKENS} tokens. Steps must come in decode order; not thread-safe.
 */
final class RoutingRecurrence {
    /** Key widths: the routing of a token's first this-many layers. */
    static final int[] KEY_LAYERS = {1, 2, 3};
    /** Earlier tokens taken per key, most recent first. */
    static final int MATCHES_PER_KEY = 3;
    /** Tokens of routing kept. */
    static final int HISTORY_TOKENS = 4096;
    /** The key index is cleared when it holds more keys than this (a bound on memory over long runs). */
    static final int MAX_KEYS = 1 << 16;
    private static final long NONE = -1;

    private final int layers;
    private final int experts;
    private final int words;         // longs per layer's expert mask
    private final int tokensAhead;
    private final long[] masks;      // ring [slot][layer][word]: the experts a layer chose, one bit each
    private final long[] tokenAt;    // ring slot -> the token whose routing it holds, or NONE
    private final Map<Long, long[]> index = new HashMap<>(); // key hash -> most recent tokens with it (NONE-padded)

    private long token = NONE;       // the token being observed
    private int layer = -1;          // its last layer observed
    private final long[] sources = new long[(KEY_LAYERS.length + 1) * MATCHES_PER_KEY];
    private long idMatchFor = NONE;  // the token an id match was given for
    private long idMatch = NONE;     // the earlier token it matched
    private int sourceCount;
    private final long[] previousSources = new long[sources.length];
    private int previousCount;
    private long previousToken = NONE;

    // memo per layer: targets of its experts, valid while the sources (version), the current token and the token of
    // the layer's next visit are those it was computed for: a layer is computed a few times per token, not per step
    private final long[] memoVersion;
    private final long[] memoToken;
    private final long[] memoNextVisit;
    private final long[] memoTarget; // [layer * experts + expert]: the predicted step of the next use, or NEVER
    private long version; // changes with the sources and with every new token (the ring changes then)

    /** @param tokensAhead how many tokens after the current step a source's continuation is read; >= 1 */
    RoutingRecurrence(int layers, int experts, int tokensAhead) {
        if (layers <= 0 || experts <= 0) {
            throw new IllegalArgumentException("layers and experts must be > 0, got " + layers + ", " + experts);
        }
        if (tokensAhead < 1) throw new IllegalArgumentException("tokens ahead must be >= 1, got " + tokensAhead);
        this.layers = layers;
        this.experts = experts;
        this.words = (experts + 63) / 64;
        this.tokensAhead = tokensAhead;
        masks = new long[HISTORY_TOKENS * layers * words];
        tokenAt = new long[HISTORY_TOKENS];
        Arrays.fill(tokenAt, NONE);
        memoToken = new long[layers];
        memoNextVisit = new long[layers];
        memoVersion = new long[layers];
        Arrays.fill(memoVersion, -1);
        memoTarget = new long[layers * experts];
    }

    /**
     * Layer {@code layer} of token {@code token} chose {@code chosen[0 .. count)}. Layers come in order within a token
     * and tokens increase.
     */
    void observe(long token, int layer, int[] chosen, int count) {
        if (token != this.token) {
            if (token < this.token) throw new IllegalStateException("token " + token + " after token " + this.token);
            System.arraycopy(sources, 0, previousSources, 0, sourceCount);
            previousCount = sourceCount;
            previousToken = this.token;
            this.token = token;
            this.layer = -1;
            version++;
            sourceCount = 0;
            int slot = slot(token);
            tokenAt[slot] = token;
            Arrays.fill(masks, slot * layers * words, (slot + 1) * layers * words, 0L);
            if (idMatchFor == token && held(idMatch)) {
                for (int i = 0; i < MATCHES_PER_KEY; i++) sources[sourceCount++] = idMatch;
            }
        }
        if (layer <= this.layer || layer >= layers) {
            throw new IllegalStateException("layer " + layer + " of token " + token + " after layer " + this.layer);
        }
        this.layer = layer;
        int base = (slot(token) * layers + layer) * words;
        for (int i = 0; i < count; i++) {
            int e = chosen[i];
            if (e < 0 || e >= experts) throw new IllegalArgumentException("expert " + e + " outside 0.." + (experts - 1));
            masks[base + (e >>> 6)] |= 1L << (e & 63);
        }
        int before = sourceCount;
        for (int width : KEY_LAYERS) {
            if (width == layer + 1) match(width);
        }
        if (sourceCount != before) version++;
    }

    /**
     * Token {@code token}, not observed yet, ends the same two token ids as the earlier token {@code earlier}: from its
     * first layer on, the routing that followed {@code earlier} is one of its sources.
     */
    void tokenMatch(long token, long earlier) {
        if (earlier < 0 || earlier >= token) {
            throw new IllegalArgumentException("token " + token + " cannot match token " + earlier + ": it must be earlier");
        }
        if (token <= this.token) {
            throw new IllegalStateException("token " + token + " matched after its routing was observed (at token "
                    + this.token + ")");
        }
        idMatchFor = token;
        idMatch = earlier;
    }

    /**
     * Steps from {@code now} to the predicted next use of {@code expert} of layer {@code layer}, or
     * {@link NextUseEstimator#NEVER} when no source uses it within the window (or there is no source).
     */
    long nextUseDistance(int layer, int expert, long now) {
        long currentToken = Math.floorDiv(now, layers);
        long nextVisit = layer > Math.floorMod(now, layers) ? currentToken : currentToken + 1;
        if (memoVersion[layer] != version || memoToken[layer] != currentToken || memoNextVisit[layer] != nextVisit) {
            computeLayer(layer, currentToken, nextVisit);
        }
        long target = memoTarget[layer * experts + expert];
        return target == NextUseEstimator.NEVER ? target : Math.max(1, target - now);
    }

    private void match(int width) {
        long key = keyHash(token, width);
        long[] recent = index.get(key);
        if (recent != null) {
            for (long earlier : recent) {
                if (earlier != NONE && earlier < token && held(earlier) && sameKey(earlier, token, width)) {
                    sources[sourceCount++] = earlier;
                }
            }
        } else {
            if (index.size() >= MAX_KEYS) index.clear();
            recent = new long[MATCHES_PER_KEY];
            Arrays.fill(recent, NONE);
            index.put(key, recent);
        }
        System.arraycopy(recent, 0, recent, 1, recent.length - 1);
        recent[0] = token;
    }

    /** The targets of layer m's experts, for the current sources, seen from {@code currentToken}. */
    private void computeLayer(int m, long currentToken, long nextVisit) {
        long[] src;
        int count;
        long matchedFor;
        if (sourceCount > 0) {
            src = sources;
            count = sourceCount;
            matchedFor = token;
        } else {
            src = previousSources;
            count = previousCount;
            matchedFor = previousToken;
        }
        long firstOffset = nextVisit - matchedFor;
        int base = m * experts;
        for (int e = 0; e < experts; e++) {
            long sum = 0;
            int voters = 0;
            boolean used = false;
            for (int i = 0; i < count; i++) {
                long offset = firstOffset + tokensAhead; // not used in the whole window
                for (long j = firstOffset; j < firstOffset + tokensAhead; j++) {
                    long pos = src[i] + j;
                    if (pos >= currentToken || !held(pos)) { // the continuation runs into the present: abstain
                        offset = NONE;
                        break;
                    }
                    if (chose(pos, m, e)) {
                        offset = j;
                        break;
                    }
                }
                if (offset == NONE) continue;
                used |= offset < firstOffset + tokensAhead;
                sum += offset;
                voters++;
            }
            memoTarget[base + e] = used
                    ? Steps.of(matchedFor, m, layers) + Math.round((double) sum / voters * layers)
                    : NextUseEstimator.NEVER;
        }
        memoVersion[m] = version;
        memoToken[m] = currentToken;
        memoNextVisit[m] = nextVisit;
    }

    private boolean chose(long pos, int m, int e) {
        return (masks[(slot(pos) * layers + m) * words + (e >>> 6)] & (1L << (e & 63))) != 0;
    }

    private boolean held(long pos) {
        return pos >= 0 && tokenAt[slot(pos)] == pos;
    }

    private boolean sameKey(long a, long b, int width) {
        int ia = slot(a) * layers * words;
        int ib = slot(b) * layers * words;
        return Arrays.equals(masks, ia, ia + width * words, masks, ib, ib + width * words);
    }

    private long keyHash(long t, int width) {
        long h = width * 0x9E3779B97F4A7C15L;
        int base = slot(t) * layers * words;
        for (int i = 0; i < width * words; i++) h = (h ^ masks[base + i]) * 0xBF58476D1CE4E5B9L + i;
        return h;
    }

    private static int slot(long t) {
        return (int) Math.floorMod(t, (long) HISTORY_TOKENS);
    }
}
