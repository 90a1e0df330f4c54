package dev.lookahead.sched;

/**
 * The speculative scheduler's user-facing knobs, in units a user knows (expert copies rather than bytes). A NaN or
 * negative value keeps the default of {@link SchedulerConfig#defaults}.
 *
 * @param copiesInFlight  whole-expert speculative copies into the cache: how many copies may be in flight before no
 *                        speculative one starts (0 = none); -1 = default: 0 with staging (the staged copies prefetch,
 *                        in chunks that do not hold up demand copies), 1 without
 * @param minProbability  copy only predictions at least this likely; NaN = default (0.9)
 * @param targetRecall    throttle speculation while its measured precision is below this (0 = never); NaN = default
 * @param horizon         use the predictions for layers l+1 .. l+horizon of the same token only (copies and
 *                        eviction); -1 = default (8)
 * @param staged          background copies of predicted experts into the spare staging slots ({@link StagedPrefetch})
 * @param stagingMinProbability stage only experts predicted at least this likely; NaN = default (0.2)
 * @param bypass          serve a demand miss from a staging slot, evicting nothing, when its expert's predicted next use
 *                        is farther than the victim's (needs the staging slots: off without staging)
 * @param recurrenceTokens tokens of routing the routing recurrence reads after each match (0 = off); -1 = default (8)
 * @param stagingMinUseful throttle staging while the share of staged bytes that misses used is below this (0 = never);
 *                        NaN = default (0.3)
 * @param tokenRecurrence stage the next token's experts from the routing that followed the last earlier occurrence of
 *                        the current two token ids ({@link TokenRecurrence}; needs staging)
 * @param stagingStepDiscount staging ranks a target d steps ahead by p x this^(d - 1), in (0, 1]; NaN = default (0.7)
 */
public record SpeculationSettings(int copiesInFlight, double minProbability, double targetRecall, int horizon,
                                  boolean staged, double stagingMinProbability, boolean bypass, int recurrenceTokens,
                                  double stagingMinUseful, boolean tokenRecurrence, double stagingStepDiscount) {
    /** Every default. */
    public static final SpeculationSettings DEFAULTS = new SpeculationSettings(-1, Double.NaN, Double.NaN, -1);

    /** With the default horizon and staging. */
    public SpeculationSettings(int copiesInFlight, double minProbability, double targetRecall) {
        this(copiesInFlight, minProbability, targetRecall, -1);
    }

    /** With the default routing recurrence. */
    public SpeculationSettings(int copiesInFlight, double minProbability, double targetRecall, int horizon,
                               boolean staged, double stagingMinProbability, boolean bypass) {
        this(copiesInFlight, minProbability, targetRecall, horizon, staged, stagingMinProbability, bypass, -1, Double.NaN);
    }

    /** With the token recurrence on. */
    public SpeculationSettings(int copiesInFlight, double minProbability, double targetRecall, int horizon,
                               boolean staged, double stagingMinProbability, boolean bypass, int recurrenceTokens,
                               double stagingMinUseful) {
        this(copiesInFlight, minProbability, targetRecall, horizon, staged, stagingMinProbability, bypass, recurrenceTokens,
                stagingMinUseful, true, Double.NaN);
    }

    /** With the default staging and bypass. */
    public SpeculationSettings(int copiesInFlight, double minProbability, double targetRecall, int horizon) {
        this(copiesInFlight, minProbability, targetRecall, horizon, true, Double.NaN, true);
    }

    public SpeculationSettings {
        if (copiesInFlight < -1) {
            throw new IllegalArgumentException("copies in flight must be >= 0 (or -1 for the default), got " + copiesInFlight);
        }
        if (!Double.isNaN(minProbability) && !(minProbability >= 0 && minProbability <= 1)) {
            throw new IllegalArgumentException("min probability must be in [0, 1], got " + minProbability);
        }
        if (!Double.isNaN(targetRecall) && !(targetRecall >= 0 && targetRecall <= 1)) {
            throw new IllegalArgumentException("target recall must be in [0, 1], got " + targetRecall);
        }
        if (horizon == 0 || horizon < -1) {
            throw new IllegalArgumentException("horizon must be >= 1 layer (or -1 for the default), got " + horizon);
        }
        if (!Double.isNaN(stagingMinProbability) && !(stagingMinProbability >= 0 && stagingMinProbability <= 1)) {
            throw new IllegalArgumentException("staging min probability must be in [0, 1], got " + stagingMinProbability);
        }
        if (!Double.isNaN(stagingMinUseful) && !(stagingMinUseful >= 0 && stagingMinUseful <= 1)) {
            throw new IllegalArgumentException("staging min useful share must be in [0, 1], got " + stagingMinUseful);
        }
        if (!Double.isNaN(stagingStepDiscount) && !(stagingStepDiscount > 0 && stagingStepDiscount <= 1)) {
            throw new IllegalArgumentException("staging step discount must be in (0, 1], got " + stagingStepDiscount);
        }
        if (recurrenceTokens < -1) {
            throw new IllegalArgumentException("recurrence tokens must be >= 0 (or -1 for the default), got " + recurrenceTokens);
        }
    }

    /** These settings with staging on or off. */
    public SpeculationSettings withStaged(boolean on) {
        return new SpeculationSettings(copiesInFlight, minProbability, targetRecall, horizon, on, stagingMinProbability, bypass,
                recurrenceTokens, stagingMinUseful, tokenRecurrence, stagingStepDiscount);
    }

    /** The staging configuration for experts of {@code expertBytes} bytes; null when staging is off. */
    public StagedPrefetch.Config stagingConfig(long expertBytes) {
        if (!staged) return null;
        StagedPrefetch.Config c = StagedPrefetch.Config.defaults(expertBytes);
        if (!Double.isNaN(stagingMinProbability)) c = c.withMinProbability(stagingMinProbability);
        if (!Double.isNaN(stagingMinUseful)) c = c.withThrottle(stagingMinUseful, c.probeSteps());
        if (!Double.isNaN(stagingStepDiscount)) c = c.withStepDiscount(stagingStepDiscount);
        return c;
    }

    /** {@code config} with the values set here. */
    public SchedulerConfig applyTo(SchedulerConfig config, long expertBytes) {
        SchedulerConfig c = config;
        if (copiesInFlight >= 0) c = c.withBudget(Math.multiplyExact(copiesInFlight, expertBytes));
        else if (staged) c = c.withBudget(0);
        if (!Double.isNaN(minProbability)) c = c.withMinProbability(minProbability);
        if (!Double.isNaN(targetRecall)) c = c.withThrottle(targetRecall, c.throttledMinProbability());
        if (horizon > 0) c = c.withHorizon(horizon);
        if (recurrenceTokens >= 0) c = c.withRecurrenceTokens(recurrenceTokens);
        return c;
    }
}
