package dev.lookahead.sched;

import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.NextUseEstimator;

import java.util.Arrays;

/**
 * The next use of each expert as the latest predictions tell it, for eviction by farthest predicted next use
 * ({@code FarthestNextUsePolicy}, eviction "predicted").
 *
 * <p>For an expert of layer m predicted, at step s0, to be chosen with probability p at step s1 = s0 + d (layer m of
 * the same token), the estimated distance from a later step s < s1 is ceil((s1 - s) / p): the distance to the
 * layer's visit, stretched by the odds of not being chosen there. It is {@link #NEVER} ("far") when p is below the
 * far threshold, when the expert has no prediction, or when its predicted step has passed (the prediction is
 * stale: that layer has been computed). The eviction policy breaks ties between far experts by least recent use,
 * so with no prediction at all it is LRU.
 *
 * <p>Next-token predictions ({@link #predictTokensAhead} with ahead 1) come from the next-token heads: made during token t, they
 * concern a layer m of token t + 1. They are what eviction needs, because the experts a layer evicts are next
 * wanted by later tokens. They are kept beside the within-token ones, and an expert's distance is the nearer of
 * the two estimates. A two-token head adds P2, the chance that layer m of token t + 2 wants the expert; then the
 * next-token estimate is ceil(steps / q) with q = 1 - (1 - p)(1 - P2), the chance that either of the next two
 * tokens wants it (one minus the chance that neither does, as if they were independent).
 *
 * <p>With {@code recurrenceTokens} > 0 a {@link RoutingRecurrence} (the routing that followed earlier tokens whose
 * first layers chose alike) gives a third estimate from the routing alone. Eviction follows one of three
 * {@link Source sources}: the predictor's estimates with the recurrence's (the nearer of the two), the predictor's
 * alone, or the recurrence's alone; {@link EvictionTrust} picks the one measured to evict best. While none of them
 * beats per-layer LRU, every distance is {@link #NEVER} and the estimator is not {@link #informative()}: the policy then
 * evicts per layer by {@link #recentUses} (how much each expert's layer chose it lately: least used first, then least
 * recent) and the scheduler bypasses nothing ({@link #follow}). In one pool the followed source may also ask eviction
 * to keep each layer's share of the slots ({@link #withinShare()}).
 *
 * <p>Not thread-safe; fed by the {@link SpeculativeScheduler} on the decode thread.
 */
public final class PredictedNextUse implements NextUseEstimator {
    /** What eviction's next-use estimate is made of. */
    public enum Source {
        /** The nearer of the predictor's estimate and the recurrence's. */
        PREDICTOR_AND_RECURRENCE,
        /** The predictor's alone: the heads in the engine, the history or oracle predictor in replay. */
        PREDICTOR,
        /** The routing recurrence's alone. */
        RECURRENCE
    }

    /**
     * Weight lost per token by each choice in {@link #recentUses} (a half-life of ~140 tokens): tuned on gsm8k's
     * routing in replay (0.005–0.1; docs/scheduler.md, section 4).
     */
    static final double USE_DECAY_PER_TOKEN = 0.005;

    private final int layers;
    private final int experts;
    private final float farProbability;
    private final long[] targetStep; // [layer * experts + expert]: step of the predicted use, -1 when none
    private final float[] probability;
    private final long[] nextTokenStep; // the same for next-token predictions, kept apart so that neither kind
    private final float[] nextTokenProbability; // overwrites the other
    private final long[] twoTokenStep;  // and for two-token ones
    private final float[] twoTokenProbability;
    private final RoutingRecurrence recurrence; // null when off
    private final Source[] sources;
    private final double[] uses;   // [layer * experts + expert]: its choices, weighted down by age, as of usedAt
    private final long[] usedAt;   // the token of its last choice, -1 before one
    private Source followed;                     // null: none beats LRU
    private boolean withinShare;                 // eviction keeps each layer's share of a pool

    /** Without the routing recurrence: eviction follows the predictor alone (while it beats LRU). */
    public PredictedNextUse(int layers, int experts, double farProbability) {
        this(layers, experts, farProbability, 0);
    }

    /**
     * @param farProbability   predictions below this probability count as far (no expected use)
     * @param recurrenceTokens how many tokens ahead the {@link RoutingRecurrence} reads its sources' continuations;
     *                         0 turns it off
     */
    public PredictedNextUse(int layers, int experts, double farProbability, int recurrenceTokens) {
        if (layers <= 0 || experts <= 0) {
            throw new IllegalArgumentException("layers and experts must be > 0, got " + layers + ", " + experts);
        }
        if (!(farProbability >= 0 && farProbability <= 1)) {
            throw new IllegalArgumentException("far probability must be in [0, 1], got " + farProbability);
        }
        this.layers = layers;
        this.experts = experts;
        this.farProbability = (float) farProbability;
        targetStep = new long[layers * experts];
        probability = new float[layers * experts];
        nextTokenStep = new long[layers * experts];
        nextTokenProbability = new float[layers * experts];
        twoTokenStep = new long[layers * experts];
        twoTokenProbability = new float[layers * experts];
        Arrays.fill(targetStep, -1);
        Arrays.fill(nextTokenStep, -1);
        Arrays.fill(twoTokenStep, -1);
        uses = new double[layers * experts];
        usedAt = new long[layers * experts];
        Arrays.fill(usedAt, -1);
        if (recurrenceTokens < 0) throw new IllegalArgumentException("recurrence tokens must be >= 0, got " + recurrenceTokens);
        recurrence = recurrenceTokens > 0 ? new RoutingRecurrence(layers, experts, recurrenceTokens) : null;
        sources = recurrence != null ? Source.values() : new Source[] {Source.PREDICTOR};
        followed = sources[0];
    }

    /** The sources eviction can follow: all three with the recurrence, the predictor alone without it. */
    public Source[] sources() {
        return sources.clone();
    }

    /** Token {@code token} ends the same two token ids as the earlier {@code earlier} (a source for the recurrence). */
    void tokenMatch(long token, long earlier) {
        if (recurrence != null) recurrence.tokenMatch(token, earlier);
    }

    /** Layer {@code layer} of token {@code token} chose {@code chosen[0 .. count)} (for the recurrence), in decode order. */
    void observeRouting(long token, int layer, int[] chosen, int count) {
        if (recurrence != null) recurrence.observe(token, layer, chosen, count);
        for (int j = 0; j < count; j++) {
            int i = layer * experts + chosen[j];
            uses[i] = decayedUses(i, token) + 1;
            usedAt[i] = token;
        }
    }

    /**
     * The choices of {@code id} by its layer so far, each weighing e^(-{@link #USE_DECAY_PER_TOKEN} x its age in
     * tokens): eviction's order while no estimate is followed (the least used goes first).
     */
    @Override
    public double recentUses(ExpertId id, long step) {
        int i = index(id);
        return i < 0 ? 0 : decayedUses(i, step / layers);
    }

    private double decayedUses(int i, long token) {
        return usedAt[i] < 0 ? 0 : uses[i] * Math.exp(-USE_DECAY_PER_TOKEN * (token - usedAt[i]));
    }

    /**
     * Takes the predictions made at {@code p.layer()} of {@code p.token()} for distances 1..horizon; they replace
     * older ones of those layers.
     */
    void update(LayerPredictions p, int horizon) {
        long source = p.token() * layers + p.layer();
        for (int d = 1; d <= horizon; d++) {
            int base = (p.layer() + d) * experts;
            for (int e = 0; e < experts; e++) {
                targetStep[base + e] = source + d;
                probability[base + e] = p.probability(d, e);
            }
        }
    }

    /**
     * Takes P(layer {@code layer} of token {@code token + ahead} chooses {@code expert}) = {@code p}, predicted during
     * {@code token}, for {@code ahead} = 1 or 2; it replaces the older prediction of that expert from as many tokens
     * ahead (not a within-token one).
     */
    public void predictTokensAhead(long token, int ahead, int layer, int expert, float p) {
        if (layer < 0 || layer >= layers || expert < 0 || expert >= experts) {
            throw new IllegalArgumentException("expert " + expert + " of layer " + layer + " outside " + layers + " x " + experts);
        }
        if (!(p >= 0 && p <= 1)) throw new IllegalArgumentException("probability must be in [0, 1], got " + p);
        if (ahead != 1 && ahead != 2) throw new IllegalArgumentException("tokens ahead must be 1 or 2, got " + ahead);
        int i = layer * experts + expert;
        long target = (token + ahead) * layers + layer;
        if (ahead == 1) {
            nextTokenStep[i] = target;
            nextTokenProbability[i] = p;
        } else {
            twoTokenStep[i] = target;
            twoTokenProbability[i] = p;
        }
    }

    /** The current predicted probability of {@code id}'s use at its layer's next visit within the token, or 0. */
    public float probability(ExpertId id, long step) {
        int i = index(id);
        return i < 0 || targetStep[i] <= step ? 0f : probability[i];
    }

    /**
     * Makes {@link #nextUseDistance} report {@code source}'s estimate, or no knowledge when null; with
     * {@code withinShare}, eviction in a pool keeps each layer's share of the slots ({@link #withinShare()}).
     */
    void follow(Source source, boolean withinShare) {
        this.withinShare = withinShare;
        if (source != null && recurrence == null && source != Source.PREDICTOR) {
            throw new IllegalArgumentException(source + " needs the routing recurrence, which is off");
        }
        this.followed = source;
    }

    @Override
    public boolean informative() {
        return followed != null;
    }

    @Override
    public boolean withinShare() {
        return withinShare;
    }

    /** The followed source's estimate; NEVER for every expert while none is followed. */
    @Override
    public long nextUseDistance(ExpertId id, long step) {
        return followed != null ? distance(followed, id, step) : NEVER;
    }

    /** {@code source}'s estimate, whichever is followed. */
    long distance(Source source, ExpertId id, long step) {
        return switch (source) {
            case PREDICTOR -> predictedDistance(id, step);
            case RECURRENCE -> recurrenceDistance(id, step);
            case PREDICTOR_AND_RECURRENCE -> Math.min(predictedDistance(id, step), recurrenceDistance(id, step));
        };
    }

    /** The nearer of the predictor's live within-token and next-token estimates; NEVER when neither is live and likely enough. */
    long predictedDistance(ExpertId id, long step) {
        int i = index(id);
        if (i < 0) return NEVER;
        long within = targetStep[i] > step ? distance(targetStep[i] - step, probability[i]) : NEVER;
        return Math.min(within, nextTokens(i, step));
    }

    private long recurrenceDistance(ExpertId id, long step) {
        return recurrence == null || index(id) < 0 ? NEVER : recurrence.nextUseDistance(id.layer(), id.expert(), step);
    }

    /** The estimate from the next-token and two-token predictions of expert i, as the class describes. */
    private long nextTokens(int i, long step) {
        boolean two = twoTokenStep[i] > step;
        if (nextTokenStep[i] > step) {
            float p = nextTokenProbability[i];
            float either = two ? 1 - (1 - p) * (1 - twoTokenProbability[i]) : p;
            return distance(nextTokenStep[i] - step, either);
        }
        return two ? distance(twoTokenStep[i] - step, twoTokenProbability[i]) : NEVER;
    }

    /** ceil(steps / p), or NEVER when p is below the far threshold. */
    long distance(long steps, float p) {
        if (p < farProbability || p <= 0) return NEVER;
        return Math.max(1, (long) Math.ceil(steps / (double) p));
    }

    private int index(ExpertId id) {
        return id.layer() < layers && id.expert() < experts ? id.layer() * experts + id.expert() : -1;
    }
}
