package dev.lookahead.sched;

/**
 * Parameters of the {@link SpeculativeScheduler}. See docs/scheduler.md for the algorithm and the values tuned on
 * the gsm8k routing trace.
 *
 * @param horizon                 D: predictions for layers l+1 .. l+D are used (further ones are ignored)
 * @param inFlightBudgetBytes     a speculative copy is submitted only while the bytes of all copies in flight
 *                                (demand and speculative) plus its own stay within this budget; 0 disables
 *                                speculation. Because submitted copies cannot be preempted, it also bounds how long
 *                                a demand miss can wait behind speculation: budget / bandwidth
 * @param minProbability          candidates predicted below this probability are never copied
 * @param distanceDiscount        gamma in (0, 1]: a candidate at distance d ranks by p * gamma^(d-1), so of two
 *                                equally likely experts the one needed sooner goes first
 * @param maxPerTargetLayer       at most this many speculative copies per (token, layer) may be outstanding (at
 *                                most top-k experts can be right)
 * @param recallWindow            measured recall is useful / resolved over the last this-many resolved prefetches
 * @param minSamples              throttling starts once the window holds this many outcomes
 * @param targetRecall            below this measured recall the scheduler throttles itself
 * @param throttledMinProbability while throttled, only candidates at or above this probability are copied
 * @param farProbability          for eviction, predictions below this probability count as "no expected use"
 * @param probeInterval           while throttled, if nothing was copied speculatively for this many steps, the
 *                                best candidate above minProbability is copied anyway, so the window keeps
 *                                measuring the predictor and the throttle can lift
 * @param recurrenceTokens        eviction may also follow the routing recurrence ({@link RoutingRecurrence}), which
 *                                reads this many tokens of routing after each matching earlier token; 0 turns it off
 */
public record SchedulerConfig(int horizon, long inFlightBudgetBytes, double minProbability, double distanceDiscount,
                              int maxPerTargetLayer, int recallWindow, int minSamples, double targetRecall,
                              double throttledMinProbability, double farProbability, int probeInterval,
                              int recurrenceTokens) {
    /** Tokens of routing the recurrence reads after a match by default (tuned on gsm8k, docs/scheduler.md). */
    public static final int DEFAULT_RECURRENCE_TOKENS = 8;

    /** Without the routing recurrence. */
    public SchedulerConfig(int horizon, long inFlightBudgetBytes, double minProbability, double distanceDiscount,
                           int maxPerTargetLayer, int recallWindow, int minSamples, double targetRecall,
                           double throttledMinProbability, double farProbability, int probeInterval) {
        this(horizon, inFlightBudgetBytes, minProbability, distanceDiscount, maxPerTargetLayer, recallWindow, minSamples,
                targetRecall, throttledMinProbability, farProbability, probeInterval, 0);
    }

    public SchedulerConfig {
        if (horizon < 1) throw new IllegalArgumentException("horizon must be >= 1, got " + horizon);
        if (inFlightBudgetBytes < 0) throw new IllegalArgumentException("in-flight budget must be >= 0 bytes, got " + inFlightBudgetBytes);
        checkUnit("min probability", minProbability);
        if (!(distanceDiscount > 0 && distanceDiscount <= 1)) {
            throw new IllegalArgumentException("distance discount must be in (0, 1], got " + distanceDiscount);
        }
        if (maxPerTargetLayer < 1) throw new IllegalArgumentException("max copies per target layer must be >= 1, got " + maxPerTargetLayer);
        if (recallWindow < 1 || minSamples < 1 || minSamples > recallWindow) {
            throw new IllegalArgumentException("recall window must be >= 1 and min samples in 1..window, got window "
                    + recallWindow + ", min samples " + minSamples);
        }
        checkUnit("target recall", targetRecall);
        checkUnit("throttled min probability", throttledMinProbability);
        checkUnit("far probability", farProbability);
        if (probeInterval < 1) throw new IllegalArgumentException("probe interval must be >= 1 step, got " + probeInterval);
        if (recurrenceTokens < 0) throw new IllegalArgumentException("recurrence tokens must be >= 0, got " + recurrenceTokens);
    }

    private static void checkUnit(String what, double v) {
        if (!(v >= 0 && v <= 1)) throw new IllegalArgumentException(what + " must be in [0, 1], got " + v);
    }

    /** The defaults documented in docs/scheduler.md, for experts of {@code expertBytes} bytes and top-{@code topK} routing. */
    public static SchedulerConfig defaults(long expertBytes, int topK) {
        return new SchedulerConfig(8, expertBytes, 0.9, 0.8, topK, 64, 16, 0.8, 0.95, 0.03, 32, DEFAULT_RECURRENCE_TOKENS);
    }

    /** With horizon D = {@code d}. */
    public SchedulerConfig withHorizon(int d) {
        return new SchedulerConfig(d, inFlightBudgetBytes, minProbability, distanceDiscount, maxPerTargetLayer,
                recallWindow, minSamples, targetRecall, throttledMinProbability, farProbability, probeInterval, recurrenceTokens);
    }

    /** With an in-flight budget of {@code bytes}. */
    public SchedulerConfig withBudget(long bytes) {
        return new SchedulerConfig(horizon, bytes, minProbability, distanceDiscount, maxPerTargetLayer,
                recallWindow, minSamples, targetRecall, throttledMinProbability, farProbability, probeInterval, recurrenceTokens);
    }

    /** With candidates from probability {@code p} up. */
    public SchedulerConfig withMinProbability(double p) {
        return new SchedulerConfig(horizon, inFlightBudgetBytes, p, distanceDiscount, maxPerTargetLayer,
                recallWindow, minSamples, targetRecall, throttledMinProbability, farProbability, probeInterval, recurrenceTokens);
    }

    /** With distance discount {@code gamma}. */
    public SchedulerConfig withDistanceDiscount(double gamma) {
        return new SchedulerConfig(horizon, inFlightBudgetBytes, minProbability, gamma, maxPerTargetLayer,
                recallWindow, minSamples, targetRecall, throttledMinProbability, farProbability, probeInterval, recurrenceTokens);
    }

    /** With throttling below measured recall {@code target}, then copying only from {@code throttledMin} up. */
    public SchedulerConfig withThrottle(double target, double throttledMin) {
        return new SchedulerConfig(horizon, inFlightBudgetBytes, minProbability, distanceDiscount, maxPerTargetLayer,
                recallWindow, minSamples, target, throttledMin, farProbability, probeInterval, recurrenceTokens);
    }

    /** With at most {@code n} outstanding speculative copies per target layer (top-k of the model). */
    public SchedulerConfig withMaxPerTargetLayer(int n) {
        return new SchedulerConfig(horizon, inFlightBudgetBytes, minProbability, distanceDiscount, n,
                recallWindow, minSamples, targetRecall, throttledMinProbability, farProbability, probeInterval, recurrenceTokens);
    }

    /** With the routing recurrence reading {@code tokens} tokens ahead, or off for 0. */
    public SchedulerConfig withRecurrenceTokens(int tokens) {
        return new SchedulerConfig(horizon, inFlightBudgetBytes, minProbability, distanceDiscount, maxPerTargetLayer,
                recallWindow, minSamples, targetRecall, throttledMinProbability, farProbability, probeInterval, tokens);
    }

    /**
     * A short description for experts of {@code expertBytes}, e.g. "2 copies in flight, p >= 0.30, throttle below 0.80,
     * horizon 8, routing recurrence 8 tokens".
     */
    public String describe(long expertBytes) {
        long copies = inFlightBudgetBytes / expertBytes;
        return String.format(java.util.Locale.ROOT, "%d cop%s in flight, p >= %.2f, throttle below %.2f, horizon %d, %s",
                copies, copies == 1 ? "y" : "ies", minProbability, targetRecall, horizon,
                recurrenceTokens == 0 ? "no routing recurrence" : "routing recurrence " + recurrenceTokens + " tokens");
    }
}
