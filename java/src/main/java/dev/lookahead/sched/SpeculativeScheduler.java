package dev.lookahead.sched;

import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.NextUseEstimator;
import dev.lookahead.expert.SlotLayout;
import dev.lookahead.expert.SlotState;
import dev.lookahead.expert.Steps;

import java.util.Objects;

/**
 * Decides which expert copies run, and when, for one {@link ExpertCache}: demand misses at once, speculative copies
 * of predicted experts within a bytes-in-flight budget, eviction by farthest predicted next use.
 *
 * <p>Per decode step (token t) and MoE layer l, on the decode thread:
 * <pre>{@code
 *   int misses = scheduler.demand(t, l, chosen, k, slots);  // the router's choice: lookups, demand copies
 *   ... enqueue the compute; wait on a slot's copy while cache.state(slot) == FILLING ...
 *   scheduler.afterDemand();                                // bookkeeping kept off the router -> copy path
 *   predictor.predict(t, l, predictions);                   // layers l+1 .. l+D of the same token
 *   scheduler.speculate(predictions);                       // rank, issue copies within the budget
 * }</pre>
 *
 * <h2>Copy model</h2>
 * A copy submitted to the {@link CopyEngine} is never preempted or cancelled (it is on a FIFO copy stream). The
 * scheduler keeps every speculative copy it has not submitted in its own queue, and {@link #demand} submits misses
 * before anything in that queue: a miss jumps every queued speculative copy, but waits behind copies already
 * submitted. Speculative copies are submitted only while all copies in flight (demand ones included) fit the budget,
 * so a miss waits behind at most budget / bandwidth of speculation, and speculation never queues up behind misses.
 * The queue is rebuilt from every new prediction batch: entries for layers already computed are stale and dropped,
 * later layers take their newest probabilities.
 *
 * <h2>Ranking and slots</h2>
 * A candidate is an expert not resident (nor in flight) with predicted probability p >= minProbability at distance
 * d <= D; it ranks by p * gamma^(d-1). For each, best first, while the budget allows: at most
 * {@code maxPerTargetLayer} outstanding copies per target layer; the cache picks a slot by farthest predicted next
 * use ({@link PredictedNextUse}, fed here), never evicting the current layer's experts, the next layer's top-k
 * predicted ones, copies in flight, or any expert predicted to be needed sooner than the candidate itself. With no
 * such slot the candidate is skipped.
 *
 * <h2>Bypass</h2>
 * A demand miss whose expert's predicted next use lies farther than that of the resident expert it would evict is
 * not admitted: the copy engine serves it from a spare slot outside the cache ({@link CopyEngine#bypass}), as
 * Belady's MIN with bypass would, and the cache keeps the expert it would have evicted. An engine without spare slots
 * declines and the miss is admitted as usual.
 *
 * <h2>Trust</h2>
 * Eviction and bypass follow the predictions (the predictor's, the routing recurrence's, or both: whichever evicts
 * best) only while they are measured to beat per-layer LRU on this run's lookups ({@link EvictionTrust}, one shadow
 * cache per source and one LRU); otherwise the cache evicts per layer by recent uses (the least chosen lately, then
 * the least recent) and nothing is bypassed. In one pool shared by all layers each source is a candidate twice:
 * evicting the expert predicted farthest anywhere in the pool, or the one predicted farthest where per-layer eviction
 * would take it (the incoming expert's layer once it holds its share of the slots, else a layer holding more:
 * {@code NextUseEstimator.withinShare}); whichever shadow hits most is followed. On real routing the pool alone moved
 * slots between layers on estimates too noisy for it and lost to per-layer eviction at 3-4 slots per layer; the
 * choice keeps the pool where it pays (docs/scheduler.md, section 4).
 *
 * <h2>Throttling</h2>
 * Each speculative copy is resolved when its target layer runs: useful if that layer chose the expert, wasted if not
 * (or if it was evicted before). While the share of useful ones among the last {@code recallWindow} resolved copies
 * is below {@code targetRecall} (once {@code minSamples} are in), only candidates with p >= throttledMinProbability
 * are copied: wasted copies cost link time that demand misses need, so speculation at low recall is slower than
 * none. Confident copies keep the window fed; when none has been copied for {@code probeInterval} steps, one probe
 * (the best candidate above minProbability) is, so the throttle can lift when predictions improve.
 *
 * <p>The scheduler owns the copies' life cycle: it marks slots READY in the cache when {@link CopyEngine#isDone}
 * says so (polled at each {@link #demand}). Per-layer work is a few passes over at most D * experts candidates and
 * the copies in flight; it allocates nothing but the routing recurrence's key lookups (a boxed key per key width, an
 * entry per new key). Not thread-safe.
 */
public final class SpeculativeScheduler {
    private static final long NONE = -1;

    private final ExpertCache cache;
    private final PredictedNextUse estimator;
    private final CopyEngine copies;
    private final SchedulerConfig config;
    private final int layers;
    private final int experts;
    private final long expertBytes;
    private final ExpertId[] ids;              // [layer * experts + expert], interned
    private final SchedulerStats stats;
    private final ProtectedExperts protectedSet;
    private final EvictionTrust trust;
    private final PredictedNextUse.Source[] sources; // the trust's candidates, in its order
    private final int modes;                         // 2 in a pool: candidate i + sources.length keeps layer shares
    private final ExpertId[] chosenIds;
    private final float[] discount;            // [d]: gamma^(d-1)

    // copies submitted and not yet seen complete, in submission order
    private final int[] inFlight;
    private int inFlightCount;
    private long inFlightBytes;

    // speculative copies whose outcome is not known yet: per slot, the step they were predicted for
    private final long[] specTarget;
    private final int[] specIndex;             // per slot: layer * experts + expert of that copy
    private final int[] outstanding;
    private int outstandingCount;
    private final int[] outstandingPerLayer;

    // the last recallWindow outcomes, a ring
    private final boolean[] window;
    private int windowPos;
    private int windowFilled;
    private int windowUseful;

    // queued candidates of the latest predictions; score < 0 marks one taken or dropped
    private final int[] candIndex;
    private final long[] candTarget;
    private final float[] candProb;
    private final float[] candScore;
    private int candCount;

    private long currentStep = NONE;
    private long lastSource = NONE;
    private long lastIssueStep = NONE;
    private final int[] topScratch;

    /**
     * @param cache     built with eviction "predicted" over {@code estimator} (or any policy: with LRU the
     *                  scheduler still prefetches, only eviction ignores the predictions)
     * @param estimator the estimator the cache's policy consults; this scheduler feeds it
     */
    public SpeculativeScheduler(ExpertCache cache, PredictedNextUse estimator, CopyEngine copies,
                                SchedulerConfig config, int experts) {
        this.cache = Objects.requireNonNull(cache, "cache");
        this.estimator = Objects.requireNonNull(estimator, "estimator");
        this.copies = Objects.requireNonNull(copies, "copies");
        this.config = Objects.requireNonNull(config, "config");
        if (experts <= 0) throw new IllegalArgumentException("experts per layer must be > 0, got " + experts);
        this.layers = cache.layout().layers();
        this.experts = experts;
        this.expertBytes = cache.expertBytes();
        ids = ExpertId.table(layers, experts);
        stats = new SchedulerStats(expertBytes);
        protectedSet = new ProtectedExperts(layers, experts, ids);
        sources = estimator.sources();
        // in one pool, each source is a candidate twice: evicting anywhere in the pool, and keeping each layer's share
        int n = sources.length;
        modes = cache.layout() instanceof SlotLayout.GlobalPool ? 2 : 1;
        NextUseEstimator[] candidates = new NextUseEstimator[n * modes];
        for (int i = 0; i < n; i++) {
            candidates[i] = new SourceEstimate(estimator, sources[i], false);
            if (modes == 2) candidates[n + i] = new SourceEstimate(estimator, sources[i], true);
        }
        trust = new EvictionTrust(cache.layout(), experts, ids, candidates);
        chosenIds = new ExpertId[experts];
        discount = new float[config.horizon() + 1];
        for (int d = 1; d <= config.horizon(); d++) discount[d] = (float) Math.pow(config.distanceDiscount(), d - 1);
        int slots = cache.layout().totalSlots();
        inFlight = new int[slots];
        specTarget = new long[slots];
        java.util.Arrays.fill(specTarget, NONE);
        specIndex = new int[slots];
        outstanding = new int[slots];
        outstandingPerLayer = new int[layers];
        window = new boolean[config.recallWindow()];
        int maxCandidates = config.horizon() * experts;
        candIndex = new int[maxCandidates];
        candTarget = new long[maxCandidates];
        candProb = new float[maxCandidates];
        candScore = new float[maxCandidates];
        topScratch = new int[experts];
    }

    public SchedulerStats stats() {
        return stats;
    }

    public SchedulerConfig config() {
        return config;
    }

    public ExpertCache cache() {
        return cache;
    }

    /** Useful / resolved over the recall window; NaN while it is empty. */
    public double measuredRecall() {
        return windowFilled == 0 ? Double.NaN : (double) windowUseful / windowFilled;
    }

    /** Whether speculation is restricted to confident candidates now (measured recall below target). */
    public boolean throttled() {
        return windowFilled >= config.minSamples() && windowUseful < config.targetRecall() * windowFilled;
    }

    /** The demand lookups so far, by the estimate eviction followed when each was made. */
    public EvictionFollowed evictionFollowed() {
        long[] bySource = new long[PredictedNextUse.Source.values().length];
        long sharesKept = 0;
        for (int i = 0; i < sources.length * modes; i++) {
            bySource[sources[i % sources.length].ordinal()] += trust.lookupsFollowing(i);
            if (i >= sources.length) sharesKept += trust.lookupsFollowing(i);
        }
        return new EvictionFollowed(trust.lookups(), bySource[PredictedNextUse.Source.PREDICTOR_AND_RECURRENCE.ordinal()],
                bySource[PredictedNextUse.Source.PREDICTOR.ordinal()], bySource[PredictedNextUse.Source.RECURRENCE.ordinal()],
                trust.untrustedLookups(), sharesKept);
    }

    /** Bytes of the copies submitted and not yet seen complete. */
    public long inFlightBytes() {
        return inFlightBytes;
    }

    /** Speculative candidates queued (not submitted) now. */
    public int queuedCandidates() {
        int n = 0;
        for (int i = 0; i < candCount; i++) if (candScore[i] >= 0) n++;
        return n;
    }

    /**
     * Before token {@code token}'s first layer: its last two token ids last occurred ending at token {@code earlier}
     * ({@link TokenRecurrence#matched}), so the routing recurrence reads what followed that token too.
     */
    public void tokenMatch(long token, long earlier) {
        estimator.tokenMatch(token, earlier);
    }

    /**
     * A later-token head's prediction, made at layer {@code layer} of {@code token}: P(layer {@code layer} of token
     * {@code token + ahead} chooses {@code expert}) = {@code p}, for {@code ahead} 1 (the next token) or 2. Given
     * before that layer's {@link #demand}, it steers the demand's evictions (which resident experts of the layer the
     * next tokens are least likely to want); speculation ignores it.
     */
    public void predictTokensAhead(long token, int ahead, int layer, int expert, float p) {
        afterDemand();
        estimator.predictTokensAhead(token, ahead, layer, expert, p);
    }

    /**
     * Layer {@code layer} of token {@code token} chose {@code chosen[0 .. count)}: completes finished copies,
     * resolves the speculative copies predicted for this layer, drops queued candidates for it, looks every chosen
     * expert up and submits a copy for each miss (waiting for in-flight copies when every slot it may take is in
     * flight or protected).
     *
     * @param slotsOut receives the slot of each chosen expert; the caller waits for a copy while the slot is FILLING,
     *                 and always for a slot past the cache's, which {@link CopyEngine#bypass} gave
     * @return the number of misses
     * @throws IllegalStateException when steps do not increase (layers must come in decode order)
     */
    public int demand(long token, int layer, int[] chosen, int count, int[] slotsOut) {
        if (count < 0 || count > chosen.length || count > slotsOut.length) {
            throw new IllegalArgumentException("count " + count + " exceeds the chosen (" + chosen.length
                    + ") or slot (" + slotsOut.length + ") array");
        }
        long step = Steps.of(token, layer, layers);
        if (step <= currentStep) {
            throw new IllegalStateException("demand for step " + step + " (token " + token + ", layer " + layer
                    + ") after step " + currentStep + ": layers must be scheduled in decode order");
        }
        afterDemand();
        currentStep = step;
        poll();
        resolve(step, layer, chosen, count);
        dropStale(step);
        protectedSet.clear();
        for (int i = 0; i < count; i++) {
            protectedSet.add(layer, chosen[i]);
            chosenIds[i] = ids[layer * experts + chosen[i]];
        }
        estimator.observeRouting(token, layer, chosen, count);
        trust.observe(step, chosenIds, count, copies.bypasses());
        estimator.follow(trust.trusted() ? sources[trust.best() % sources.length] : null,
                trust.trusted() && trust.best() >= sources.length);
        int misses = 0;
        for (int i = 0; i < count; i++) {
            ExpertId id = chosenIds[i];
            int slot = cache.lookup(id, step);
            if (slot == ExpertCache.MISS) {
                misses++;
                int spare = worthBypassing(id, step) ? copies.bypass(id) : -1;
                if (spare >= 0) {
                    slot = spare;
                    stats.bypasses++;
                } else {
                    slot = admit(id, step);
                    copies.submit(id, slot, false);
                    addInFlight(slot);
                    stats.demandCopies++;
                }
            }
            slotsOut[i] = slot;
        }
        return misses;
    }

    /**
     * The work a {@link #demand} leaves until its copies are issued: the eviction trust's shadow caches look the layer's
     * choice up and admit their misses (on a GPU, ~60 us per layer in a pool of 128 slots that would otherwise delay
     * the demand copies). Call it once the demand's copies and the layer's experts are enqueued; the next
     * {@link #speculate}, {@link #predictTokensAhead} or {@link #demand} calls it first in any case, before the
     * estimates change. Without a pending demand it does nothing.
     */
    public void afterDemand() {
        trust.admitObserved();
    }

    /**
     * Takes the predictions made at {@code p.layer()} of {@code p.token()} (after that layer's {@link #demand}):
     * completes finished copies, feeds the predictions to the eviction estimator, replaces the queue with their
     * candidates and submits the best ones the budget admits. A batch older than one already taken is dropped whole.
     */
    public void speculate(LayerPredictions p) {
        if (p.layers() != layers || p.experts() != experts) {
            throw new IllegalArgumentException("predictions for " + p.layers() + " layers x " + p.experts()
                    + " experts given to a scheduler of " + layers + " x " + experts);
        }
        long source = p.token() * layers + p.layer();
        if (source > currentStep) {
            throw new IllegalStateException("predictions made at step " + source + " arrived before that layer's demand"
                    + " (last demand at step " + currentStep + ")");
        }
        afterDemand();
        stats.speculateCalls++;
        poll();
        if (source < lastSource) {
            stats.staleBatches++;
            return;
        }
        lastSource = source;
        int horizon = Math.min(p.horizon(), config.horizon());
        estimator.update(p, horizon);
        dropQueue();
        for (int d = 1; d <= horizon; d++) {
            long target = source + d;
            int base = (p.layer() + d) * experts;
            for (int e = 0; e < experts; e++) {
                float prob = p.probability(d, e);
                if (prob <= 0 || prob < (float) config.minProbability()) continue;
                if (target <= currentStep) {
                    stats.candidatesStale++;
                    continue;
                }
                if (cache.contains(ids[base + e])) continue;
                candIndex[candCount] = base + e;
                candTarget[candCount] = target;
                candProb[candCount] = prob;
                candScore[candCount] = prob * discount[d];
                candCount++;
            }
        }
        protectNextLayer(p, source, horizon);
        if (!throttled()) {
            pump(config.minProbability(), Integer.MAX_VALUE);
            return;
        }
        stats.throttledCalls++;
        pump(Math.max(config.minProbability(), config.throttledMinProbability()), Integer.MAX_VALUE);
        if (currentStep - lastIssueStep >= config.probeInterval()) {
            long before = stats.speculativeIssued;
            pump(config.minProbability(), 1);
            stats.probes += stats.speculativeIssued - before;
        }
    }

    /** Marks the slots whose copies have completed READY in the cache. */
    public void poll() {
        for (int i = inFlightCount - 1; i >= 0; i--) {
            int slot = inFlight[i];
            if (copies.isDone(slot)) {
                cache.markReady(slot);
                System.arraycopy(inFlight, i + 1, inFlight, i, inFlightCount - i - 1);
                inFlightCount--;
                inFlightBytes -= expertBytes;
            }
        }
    }

    /** Submits up to {@code limit} queued candidates, best first, while the budget admits them. */
    private void pump(double threshold, int limit) {
        float minProb = (float) threshold; // compared in float, the predictions' precision
        long issuedBefore = stats.speculativeIssued;
        while (inFlightBytes + expertBytes <= config.inFlightBudgetBytes()
                && stats.speculativeIssued - issuedBefore < limit) {
            int best = -1;
            for (int i = 0; i < candCount; i++) {
                if (candScore[i] >= 0 && candProb[i] >= minProb && (best < 0 || candScore[i] > candScore[best])) best = i;
            }
            if (best < 0) return;
            candScore[best] = -1;
            issue(best);
        }
    }

    private void issue(int c) {
        int index = candIndex[c];
        ExpertId id = ids[index];
        int target = index / experts;
        if (cache.contains(id) || outstandingPerLayer[target] >= config.maxPerTargetLayer()) return;
        long incoming = estimator.distance(candTarget[c] - currentStep, candProb[c]);
        protectedSet.protectSooner(estimator, currentStep,
                incoming == NextUseEstimator.NEVER ? NextUseEstimator.NEVER - 1 : incoming);
        int slot;
        try {
            slot = cache.prefetch(id, currentStep, protectedSet);
        } finally {
            protectedSet.stopProtectingSooner();
        }
        if (slot == ExpertCache.NOT_ISSUED) {
            stats.noSlot++;
            return;
        }
        evicted(slot);
        copies.submit(id, slot, true);
        addInFlight(slot);
        specTarget[slot] = candTarget[c];
        specIndex[slot] = index;
        outstanding[outstandingCount++] = slot;
        outstandingPerLayer[target]++;
        stats.speculativeIssued++;
        lastIssueStep = currentStep;
    }

    /** Whether {@code id}'s predicted next use is farther than that of the expert its admission would evict. */
    private boolean worthBypassing(ExpertId id, long step) {
        int victim = cache.victimFor(id, step, protectedSet);
        if (victim < 0) return false;
        return estimator.nextUseDistance(id, step) > estimator.nextUseDistance(cache.occupant(victim), step);
    }

    /** Demand admission; waits for copies in flight while no slot can be taken. */
    private int admit(ExpertId id, long step) {
        while (!hasSlotFor(id.layer())) {
            if (inFlightCount == 0) break; // the cache's own error names the protected experts
            stats.awaits++;
            int before = inFlightCount;
            copies.await(inFlight[0]); // the oldest: copies complete in submission order
            poll();
            if (inFlightCount == before) {
                throw new IllegalStateException("copy engine returned from await(" + inFlight[0]
                        + ") but reports the copy as not done");
            }
        }
        int slot = cache.admit(id, step, protectedSet);
        evicted(slot);
        return slot;
    }

    /** Whether some slot {@code layer}'s experts may use is empty, or ready and unprotected. */
    private boolean hasSlotFor(int layer) {
        int first = cache.layout().firstSlot(layer);
        int end = first + cache.layout().slotCount(layer);
        for (int s = first; s < end; s++) {
            SlotState st = cache.state(s);
            if (st == SlotState.EMPTY || (st == SlotState.READY && !protectedSet.contains(cache.occupant(s)))) return true;
        }
        return false;
    }

    /** The slot just taken may have held a speculative copy still waiting for its layer: that one was wasted. */
    private void evicted(int slot) {
        if (specTarget[slot] == NONE) return;
        for (int i = 0; i < outstandingCount; i++) {
            if (outstanding[i] == slot) {
                removeOutstanding(i, false);
                return;
            }
        }
    }

    /** Outcomes of the speculative copies predicted for this step (and any older ones left over). */
    private void resolve(long step, int layer, int[] chosen, int count) {
        for (int i = outstandingCount - 1; i >= 0; i--) {
            int slot = outstanding[i];
            long target = specTarget[slot];
            if (target > step) continue;
            boolean useful = false;
            if (target == step) {
                int index = specIndex[slot];
                for (int k = 0; k < count && !useful; k++) useful = index == layer * experts + chosen[k];
            }
            removeOutstanding(i, useful);
        }
    }

    private void removeOutstanding(int i, boolean useful) {
        int slot = outstanding[i];
        outstandingPerLayer[specIndex[slot] / experts]--;
        specTarget[slot] = NONE;
        outstanding[i] = outstanding[--outstandingCount];
        if (useful) stats.speculativeUseful++;
        else stats.speculativeWasted++;
        record(useful);
    }

    private void record(boolean useful) {
        if (windowFilled == window.length) {
            if (window[windowPos]) windowUseful--;
        } else {
            windowFilled++;
        }
        window[windowPos] = useful;
        if (useful) windowUseful++;
        windowPos = (windowPos + 1) % window.length;
    }

    /** Queued candidates for steps that have been computed are stale. */
    private void dropStale(long step) {
        for (int i = 0; i < candCount; i++) {
            if (candScore[i] >= 0 && candTarget[i] <= step) {
                candScore[i] = -1;
                stats.candidatesStale++;
            }
        }
    }

    private void dropQueue() {
        for (int i = 0; i < candCount; i++) if (candScore[i] >= 0) stats.candidatesUnissued++;
        candCount = 0;
    }

    /** Adds the top-k predicted experts of the layer after the current one to the protected set. */
    private void protectNextLayer(LayerPredictions p, long source, int horizon) {
        int d = (int) (currentStep + 1 - source);
        if (d < 1 || d > horizon) return;
        int n = 0;
        for (int e = 0; e < experts; e++) if (p.probability(d, e) > 0) topScratch[n++] = e;
        // partial selection of the maxPerTargetLayer most probable
        int keep = Math.min(n, config.maxPerTargetLayer());
        for (int i = 0; i < keep; i++) {
            int best = i;
            for (int j = i + 1; j < n; j++) {
                if (p.probability(d, topScratch[j]) > p.probability(d, topScratch[best])) best = j;
            }
            int t = topScratch[i];
            topScratch[i] = topScratch[best];
            topScratch[best] = t;
            protectedSet.add(p.layer() + d, topScratch[i]);
        }
    }

    private void addInFlight(int slot) {
        inFlight[inFlightCount++] = slot;
        inFlightBytes += expertBytes;
    }

    /** One source's estimates as a candidate of the eviction trust: evicting anywhere, or keeping layer shares. */
    private record SourceEstimate(PredictedNextUse estimator, PredictedNextUse.Source source, boolean withinShare)
            implements NextUseEstimator {
        @Override
        public long nextUseDistance(ExpertId id, long step) {
            return estimator.distance(source, id, step);
        }
    }
}
