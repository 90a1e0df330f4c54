package dev.lookahead.sched;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.IntPredicate;

/**
 * Background copies of predicted experts into spare device buffers (the engine's staging slots, idle during decode),
 * in chunks sized to fill the copy link's idle time between two layers' demand copies.
 *
 * <p>Why: a demand miss is known only after its layer's router, so its copy cannot overlap compute; and a
 * speculative copy into a cache slot must evict a layer or more before the demand would, knowing less about what
 * the next token wants, which costs eviction quality even when every prefetch is used (docs/results.md). A staged
 * copy evicts nothing. When its layer chooses the expert, the cache admits it like any miss (the same victim, chosen
 * with that layer's predictions) and the engine swaps the staging buffer with the victim's slot instead of copying;
 * only the bytes not staged yet still cross the link. A wrong guess costs link time that would have been idle.
 *
 * <p>Chunks: a copy stream cannot preempt a copy, so a demand miss queued behind staged bytes waits for them. So
 * each layer's window, from the end of its demand copies to the next layer's demand, is measured on the device
 * (the engine reports it with {@link #windowMeasured}), and the window after that layer gets as many bytes as the
 * link moves in a share of its smoothed length.
 *
 * <p>Targets: for every layer, its next run (the later layers of this token, the earlier ones in the next token),
 * with the heads' probability of each expert there. Experts that are not resident are staged in the order of their
 * probability discounted by how many steps ahead their run is ({@link Config#stepDiscount}): a buffer staged for a
 * nearer step is freed sooner (its layer uses it or passes), so the two buffers serve more targets per token, and a
 * far target is less often overwritten by a bypass before its step. A buffer holding something worth less is taken
 * over, counting the bytes it has staged: keeping it must be expected to save fewer bytes than staging the new target
 * would ({@link #bufferFor}).
 *
 * <p>Throttling: staged bytes that no miss uses cost link time that demand copies may need (a chunk overruns its
 * window whenever the window comes out shorter than its average). So the share of recently staged bytes that misses
 * used is measured (a moving average over about {@link #USEFULNESS_STEPS} steps); while it is below
 * {@code minUsefulness}, only one window in {@code probeSteps} is planned, enough to see the predictions improve.
 * Heads that know nothing of the routing (plug-and-play heads on a model whose routing is replayed, for one) then
 * waste little.
 *
 * <p>Bypass: a demand miss the cache should not admit runs from a buffer ({@link #bufferForDemand},
 * {@link #holdForDemand}); the expert stays there afterwards, so a later miss of it may find it.
 *
 * <p>Per step, on the decode thread: {@link #beginStep} (before the layer's demand), {@link #predict} for what the
 * layer's next-token heads say, {@link #find} with {@link #consume} or {@link #holdForDemand} for each miss during
 * the demand, then {@link #predict} for the within-token heads and {@link #plan}. Not thread-safe; allocates nothing
 * per step.
 */
public final class StagedPrefetch {
    private static final long NONE = -1;
    /** Steps over which the usefulness of staged bytes is averaged. */
    public static final int USEFULNESS_STEPS = 256;
    private static final double USEFULNESS_DECAY = 1 - 1.0 / USEFULNESS_STEPS;

    /** Receives the chunks to copy: bytes [offset, offset + bytes) of expert {@code layer, expert}'s blob into {@code buffer}. */
    @FunctionalInterface
    public interface ChunkSink {
        void copy(int buffer, int layer, int expert, long offset, long bytes);
    }

    /**
     * @param minProbability stage only experts at least this likely at their layer's next run
     * @param windowShare    the share of a window's smoothed length that staged bytes may fill
     * @param smoothing      weight of the newest measurement in a window's moving average
     * @param maxBytes       cap of a window's budget
     * @param alignBytes     chunk boundaries fall on multiples of this (the last chunk of a blob excepted)
     * @param minUsefulness  below this share of staged bytes used by misses, staging is throttled (0: never)
     * @param probeSteps     while throttled, one window in this many steps is planned
     * @param stepDiscount   a target d steps ahead ranks by p x this^(d - 1) (1: by probability alone)
     */
    public record Config(double minProbability, double windowShare, double smoothing, long maxBytes, long alignBytes,
                         double minUsefulness, int probeSteps, double stepDiscount) {
        public Config {
            if (!(stepDiscount > 0 && stepDiscount <= 1)) {
                throw new IllegalArgumentException("staging step discount must be in (0, 1], got " + stepDiscount);
            }
            if (!(minProbability >= 0 && minProbability <= 1)) {
                throw new IllegalArgumentException("staging min probability must be in [0, 1], got " + minProbability);
            }
            if (!(minUsefulness >= 0 && minUsefulness <= 1) || probeSteps < 1) {
                throw new IllegalArgumentException("staging min usefulness must be in [0, 1] and probe steps >= 1, got "
                        + minUsefulness + ", " + probeSteps);
            }
            if (!(windowShare > 0 && windowShare <= 1) || !(smoothing > 0 && smoothing <= 1)) {
                throw new IllegalArgumentException("staging window share and smoothing must be in (0, 1], got "
                        + windowShare + ", " + smoothing);
            }
            if (maxBytes <= 0 || alignBytes <= 0) {
                throw new IllegalArgumentException("staging budget cap and alignment must be > 0 bytes, got " + maxBytes
                        + ", " + alignBytes);
            }
        }

        /**
         * Defaults for blobs of {@code blobBytes}: p >= 0.2, the whole of each window's moving average (80 % until
         * session 15: with the token recurrence, filling it paid; docs/results.md), budget at most 2 blobs
         * (docs/scheduler.md); throttled below 30 % useful bytes to one window in 64 steps; targets ranked by p x
         * 0.7^(steps ahead - 1) (by p alone until session 17).
         */
        public static Config defaults(long blobBytes) {
            return new Config(0.2, 1.0, 0.25, 2 * blobBytes, 256, 0.3, 64, 0.7);
        }

        public Config withMinProbability(double p) {
            return new Config(p, windowShare, smoothing, maxBytes, alignBytes, minUsefulness, probeSteps, stepDiscount);
        }

        public Config withThrottle(double minUsefulness, int probeSteps) {
            return new Config(minProbability, windowShare, smoothing, maxBytes, alignBytes, minUsefulness, probeSteps,
                    stepDiscount);
        }

        public Config withStepDiscount(double discount) {
            return new Config(minProbability, windowShare, smoothing, maxBytes, alignBytes, minUsefulness, probeSteps,
                    discount);
        }
    }

    private final int layers;
    private final int experts;
    private final long blobBytes;
    private final Config config;
    private final double bytesPerMilli;    // of the link

    private final float[] probability;    // [layer * experts + expert]: at that layer's next run
    private final double[] windowMillis;   // [layer]: smoothed length of the window after its demand; NaN before one
    private final int[] content;           // [buffer]: layer * experts + expert held (fully or partly), or -1
    private final long[] staged;           // [buffer]: bytes of content copied; > 0 exactly when content is set
    private final long[] chunked;          // [buffer]: of those, the staged chunks' bytes not yet used by a miss
    private final long[] target;           // [buffer]: the step the content is staged for, or NONE
    private final float[] targetProbability;
    private final int[] order;             // scratch: candidates by rank
    private final float[] rank;            // scratch: [layer * experts + expert] candidates' p, discounted by distance
    private final double[] discount;       // [d - 1]: stepDiscount^(d - 1) for a run d = 1..layers steps ahead

    private long currentStep = NONE;
    private final Stats stats = new Stats();
    // moving sums of the bytes staged and of those misses used, for the throttle
    private double recentIssued;
    private double recentUsed;
    private long lastPlanned = NONE;

    /** @param linkBytesPerSecond the copy link's bandwidth (the engine measures it) */
    public StagedPrefetch(int layers, int experts, int buffers, long blobBytes, double linkBytesPerSecond, Config config) {
        if (layers <= 0 || experts <= 0 || buffers <= 0 || blobBytes <= 0) {
            throw new IllegalArgumentException("staged prefetch needs layers, experts, buffers and blob bytes > 0, got "
                    + layers + ", " + experts + ", " + buffers + ", " + blobBytes);
        }
        if (!(linkBytesPerSecond > 0) || Double.isInfinite(linkBytesPerSecond)) {
            throw new IllegalArgumentException("link bandwidth must be finite and > 0 bytes/s, got " + linkBytesPerSecond);
        }
        this.layers = layers;
        this.experts = experts;
        this.blobBytes = blobBytes;
        this.bytesPerMilli = linkBytesPerSecond / 1e3;
        this.config = Objects.requireNonNull(config, "config");
        probability = new float[layers * experts];
        windowMillis = new double[layers];
        Arrays.fill(windowMillis, Double.NaN);
        content = new int[buffers];
        staged = new long[buffers];
        chunked = new long[buffers];
        target = new long[buffers];
        targetProbability = new float[buffers];
        order = new int[layers * experts];
        rank = new float[layers * experts];
        discount = new double[layers];
        for (int d = 0; d < layers; d++) discount[d] = Math.pow(config.stepDiscount(), d);
        clearBuffers();
    }

    /** Counters over the whole run. */
    public static final class Stats {
        public long chunks;
        public long bytesIssued;
        /** Experts whose staging started (a buffer took them as its target from empty or from another expert). */
        public long started;
        /** Misses served from a staging buffer, and the bytes those buffers held (link time that overlapped compute). */
        public long used;
        public long bytesUsed;
        /** Windows measured, and those in which the link was still busy at the next layer's demand. */
        public long windowsMeasured;
        public long windowsOverrun;
        /** Windows left partly empty: no likely enough expert was left to stage (or every buffer served a likelier one). */
        public long windowsShort;
        /** Windows planned, and those not planned because staging was throttled (too few of its bytes were used). */
        public long windowsPlanned;
        public long windowsThrottled;

        /**
         * Where the link's time in the measured windows went, in ns: their whole length; the link idle in them because
         * fewer bytes were planned than the window's budget (no expert likely enough and not staged yet, or throttled),
         * and because the window outlasted its budget (its moving average); and staged bytes that ran past their window,
         * so that the next layer's demand copies waited behind them.
         */
        public long windowNanos;
        public long idleBelowBudgetNanos;
        public long idleBeyondBudgetNanos;
        public long pastWindowNanos;

        /**
         * Of the bytes no miss used, those a bypass overwrote while their target was still ahead (it needed a buffer
         * and every free one was gone), and those given up for a likelier target; the rest were guesses whose layer
         * chose otherwise (or are still held).
         */
        public long bytesDisplacedByBypass;
        public long bytesGivenUp;

        /** Bytes staged that no miss used (yet): link time spent on wrong or unused guesses. */
        public long bytesWasted() {
            return bytesIssued - bytesUsed;
        }
    }

    public Stats stats() {
        return stats;
    }

    /** The budget of the window after {@code layer}'s demand, in bytes: a share of its smoothed length, capped. */
    public long windowBudget(int layer) {
        double w = windowMillis[layer];
        return Double.isNaN(w) ? 0 : (long) Math.min(config.maxBytes(), Math.max(0, w * config.windowShare() * bytesPerMilli));
    }

    /** The smoothed length of the window after {@code layer}'s demand, in ms; NaN before it was measured. */
    public double windowMillis(int layer) {
        return windowMillis[layer];
    }

    /**
     * The window after {@code layer}'s demand lasted {@code millis}: from the moment the link had finished every copy
     * but the staged ones to the next layer's demand (negative: the link was still busy then). {@code plannedBytes} were
     * staged into it, of a budget of {@code budgetBytes}.
     */
    public void windowMeasured(int layer, double millis, long plannedBytes, long budgetBytes) {
        if (Double.isNaN(millis)) throw new IllegalArgumentException("window length is NaN");
        if (plannedBytes < 0 || budgetBytes < 0) {
            throw new IllegalArgumentException("window bytes must be >= 0, got " + plannedBytes + " planned of " + budgetBytes);
        }
        stats.windowsMeasured++;
        if (millis < 0) stats.windowsOverrun++;
        double length = Math.max(0, millis), planned = plannedBytes / bytesPerMilli;
        double budget = Math.max(planned, budgetBytes / bytesPerMilli);
        stats.windowNanos += nanos(length);
        stats.idleBelowBudgetNanos += nanos(Math.min(length, budget) - planned);
        stats.idleBeyondBudgetNanos += nanos(length - budget);
        stats.pastWindowNanos += nanos(planned - length);
        double w = windowMillis[layer];
        windowMillis[layer] = Double.isNaN(w) ? millis : w + config.smoothing() * (millis - w);
    }

    /** Milliseconds as whole nanoseconds; nothing when negative. */
    private static long nanos(double millis) {
        return millis > 0 ? Math.round(millis * 1e6) : 0;
    }

    /**
     * Decode step {@code step} (token * layers + layer) starts, before its demand: this layer's predictions, made for
     * this run of it, are cleared (its next run is the next token's).
     */
    public void beginStep(long step) {
        if (step <= currentStep) {
            throw new IllegalStateException("staging step " + step + " after step " + currentStep + ": steps must increase");
        }
        currentStep = step;
        recentIssued *= USEFULNESS_DECAY;
        recentUsed *= USEFULNESS_DECAY;
        expireTargetsBefore(step); // those a step without plan left (plan expires its own step's)
        int layer = layerOf(step);
        Arrays.fill(probability, layer * experts, (layer + 1) * experts, 0f);
    }

    /**
     * A head's prediction: P(expert {@code expert} of {@code layer} runs at step {@code targetStep}) = {@code p}.
     * Kept only when {@code targetStep} is that layer's next run; a later prediction of the same run replaces it.
     */
    public void predict(long targetStep, int layer, int expert, float p) {
        if (currentStep == NONE || targetStep != nextRun(layer)) return;
        probability[layer * experts + expert] = p;
    }

    /** The staging buffer holding some bytes of the expert, or -1. */
    public int find(int layer, int expert) {
        return holding(layer * experts + expert);
    }

    /** The expert (layer * experts + expert) that {@code buffer} holds bytes of, or -1. */
    public int held(int buffer) {
        return content[buffer];
    }

    /** Bytes of its expert that {@code buffer} holds. */
    public long bytesStaged(int buffer) {
        return staged[buffer];
    }

    /** The engine moved {@code buffer}'s expert into the cache (it swapped the memory): the buffer is empty now. */
    public void consume(int buffer) {
        countUse(buffer);
        content[buffer] = -1;
        staged[buffer] = 0;
        target[buffer] = NONE;
    }

    /**
     * A buffer for a demand miss served outside the cache (a bypass): of those that serve no staging target, the one
     * least worth keeping ({@link #value}); else, of those whose target is a later step, the one staged for the least
     * probable target (a bypass keeps a resident expert the predictions value more than the miss, where a staged
     * target is a guess); -1 when every buffer serves this step.
     */
    public int bufferForDemand() {
        int free = -1;
        for (int b = 0; b < content.length; b++) {
            if (target[b] == NONE && (free < 0 || value(b) < value(free))) free = b;
        }
        if (free >= 0) return free;
        for (int b = 0; b < content.length; b++) {
            if (target[b] != currentStep && (free < 0 || value(b) < value(free))) free = b;
        }
        return free;
    }

    /**
     * This step's demand uses {@code buffer} for the expert in place, evicting nothing: whatever the buffer holds of
     * the expert is used (a buffer holding another expert loses it), and the engine copies the rest now. The buffer
     * keeps the whole expert afterwards, so a later miss may find it; it serves no other target during this step.
     *
     * @return the bytes of the expert the buffer already held; the engine copies [that, blob) on demand
     */
    public long holdForDemand(int buffer, int layer, int expert) {
        int index = layer * experts + expert;
        long present = content[buffer] == index ? staged[buffer] : 0;
        if (present > 0) countUse(buffer);
        else if (target[buffer] != NONE) stats.bytesDisplacedByBypass += chunked[buffer];
        content[buffer] = index;
        staged[buffer] = blobBytes;
        chunked[buffer] = 0;
        target[buffer] = currentStep;
        targetProbability[buffer] = 1f;
        return present;
    }

    private void countUse(int buffer) {
        if (chunked[buffer] == 0) return;
        stats.used++;
        stats.bytesUsed += chunked[buffer];
        recentUsed += chunked[buffer];
        chunked[buffer] = 0;
    }

    /** The buffers were overwritten (a prefill streams through them): nothing staged is left. */
    public void clearBuffers() {
        Arrays.fill(content, -1);
        Arrays.fill(staged, 0);
        Arrays.fill(chunked, 0);
        Arrays.fill(target, NONE);
        Arrays.fill(targetProbability, 0f);
    }

    /**
     * After the current layer's demand: hands {@code sink} this window's chunks, highest ranked target first.
     *
     * @param resident whether an expert (layer * experts + expert) is in the cache or being copied into it
     * @return the bytes handed out
     */
    public long plan(IntPredicate resident, ChunkSink sink) {
        if (currentStep == NONE) return 0;
        expireTargetsBefore(currentStep + 1);
        if (throttled() && lastPlanned != NONE && currentStep - lastPlanned < config.probeSteps()) {
            stats.windowsThrottled++;
            return 0;
        }
        lastPlanned = currentStep;
        stats.windowsPlanned++;
        int n = 0;
        for (int i = 0; i < probability.length; i++) {
            if (probability[i] > 0 && probability[i] >= (float) config.minProbability() && !resident.test(i)) {
                rank[i] = (float) (probability[i] * discount[(int) (nextRun(i / experts) - currentStep - 1)]);
                order[n++] = i;
            }
        }
        sortByRank(n);
        long budget = windowBudget(layerOf(currentStep));
        long handed = 0;
        for (int c = 0; c < n && budget - handed >= config.alignBytes(); c++) {
            int index = order[c];
            float p = probability[index];
            int b = holding(index);
            if (b < 0) {
                b = bufferFor(p, budget - handed);
                if (b < 0) continue; // keeping every buffer is worth more; a later candidate may hold one
                if (target[b] != NONE) stats.bytesGivenUp += chunked[b];
                content[b] = index; // its first chunk follows: a new target always gets bytes (budget >= align)
                staged[b] = 0;
                chunked[b] = 0;
                stats.started++;
            }
            target[b] = nextRun(index / experts);
            targetProbability[b] = p;
            long bytes = chunk(blobBytes - staged[b], budget - handed);
            if (bytes == 0) continue; // complete already
            sink.copy(b, index / experts, index % experts, staged[b], bytes);
            staged[b] += bytes;
            chunked[b] += bytes;
            handed += bytes;
            stats.chunks++;
        }
        stats.bytesIssued += handed;
        recentIssued += handed;
        if (budget - handed >= config.alignBytes()) stats.windowsShort++;
        return handed;
    }

    /**
     * The share of recently staged bytes that misses used (NaN before anything was staged); both sums decay alike, so
     * the share holds while staging is throttled until probes bring news.
     */
    public double recentUsefulness() {
        return recentIssued > 0 ? recentUsed / recentIssued : Double.NaN;
    }

    /** Whether staging is throttled now: at least two blobs staged so far, and too few of the recent bytes used. */
    public boolean throttled() {
        return stats.bytesIssued >= 2 * blobBytes && recentUsed < config.minUsefulness() * recentIssued;
    }

    /** The step at which {@code layer} runs next, seen from the current step (whose own layer runs now). */
    private long nextRun(int layer) {
        long token = currentStep / layers;
        return layer > layerOf(currentStep) ? token * layers + layer : (token + 1) * layers + layer;
    }

    private int layerOf(long step) {
        return (int) (step % layers);
    }

    private void expireTargetsBefore(long step) {
        for (int b = 0; b < target.length; b++) if (target[b] != NONE && target[b] < step) target[b] = NONE;
    }

    private int holding(int index) {
        for (int b = 0; b < content.length; b++) if (content[b] == index) return b;
        return -1;
    }

    /**
     * The buffer a new target of probability {@code p} should take, or -1 to keep them all: the one whose keeping
     * saves the fewest expected bytes, if staging the new target instead saves more. With {@code room} bytes left to
     * hand out now, keeping buffer b saves value(b) * min(staged + room, blob) bytes of a later demand copy, taking it
     * for the new target p * min(room, blob): bytes staged already weigh for their target, so a partly staged
     * expert is not given up for a slightly likelier one (its bytes would be wasted).
     */
    private int bufferFor(float p, long room) {
        int best = -1;
        double bestKeep = 0;
        for (int b = 0; b < content.length; b++) {
            float v = value(b);
            double keep = v < 0 ? -1 : v * (double) Math.min(staged[b] + room, blobBytes);
            if (best < 0 || keep < bestKeep) {
                best = b;
                bestKeep = keep;
            }
        }
        return bestKeep < p * (double) Math.min(room, blobBytes) ? best : -1;
    }

    /**
     * What a buffer is worth keeping: the probability of its pending target; for an expert it holds with no target (a
     * wrong guess, or one a bypass left), the chance its layer's next run wants it; -1 when empty.
     */
    private float value(int b) {
        if (target[b] != NONE) return targetProbability[b];
        return content[b] < 0 ? -1f : probability[content[b]];
    }

    /** min(remaining, room), cut to the alignment unless it finishes the blob. */
    private long chunk(long remaining, long room) {
        if (remaining <= room) return remaining;
        return room / config.alignBytes() * config.alignBytes();
    }

    /** Insertion sort of order[0, n) by descending rank; ties keep the lower index (the earlier layer). */
    private void sortByRank(int n) {
        for (int i = 1; i < n; i++) {
            int v = order[i];
            float pv = rank[v];
            int j = i - 1;
            while (j >= 0 && rank[order[j]] < pv) {
                order[j + 1] = order[j];
                j--;
            }
            order[j + 1] = v;
        }
    }
}
