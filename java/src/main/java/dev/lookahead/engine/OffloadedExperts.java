package dev.lookahead.engine;

import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.Event;
import dev.lookahead.bindings.PinnedBuffer;
import dev.lookahead.bindings.Stream;
import dev.lookahead.expert.CacheStats;
import dev.lookahead.expert.Expert;
import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.expert.SlotLayout;
import dev.lookahead.expert.SlotState;
import dev.lookahead.expert.EvictionPolicies;
import dev.lookahead.quant.ExpertBlobLayout;
import dev.lookahead.sched.CopyEngine;
import dev.lookahead.sched.LayerPredictions;
import dev.lookahead.sched.EvictionFollowed;
import dev.lookahead.sched.PredictedNextUse;
import dev.lookahead.sched.SchedulerConfig;
import dev.lookahead.sched.SpeculationSettings;
import dev.lookahead.sched.SpeculativeScheduler;
import dev.lookahead.sched.StagedPrefetch;
import dev.lookahead.sched.TokenRecurrence;
import dev.lookahead.quant.QuantizedCheckpoint;
import dev.lookahead.util.Progress;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.stream.IntStream;
import java.util.Set;

/**
 * Experts held in pinned host memory and copied into fixed-size device slots on their own copy
 * stream. An {@link ExpertCache} (the same bookkeeping `replay` runs) decides residency: a decode
 * miss is admitted (evicting the policy's victim) and copied at once, ahead of the layer's
 * resident experts, which compute while it is in flight; the compute stream waits for a copy
 * only right before the expert that needs it. A prefill streams the experts that are not
 * resident through two extra staging slots (double-buffered) instead of thrashing the cache.
 *
 * <p>Device-side ordering: a slot is refilled only after the compute stream's last use of it
 * ({@code lastUse} event, waited on by the copy stream) and used only after its copy
 * ({@code copyDone}, waited on by the compute stream). Single-threaded, like the forward pass.
 */
public final class OffloadedExperts implements ExpertSource, CopyEngine {
    private static final int STAGING_SLOTS = 2;

    private final ExpertCache cache;
    private final ResidencyPolicy policy;
    private final SpeculativeScheduler scheduler;   // the lookahead policies; null for the baselines
    private final DeviceGate gate;                  // predictions for the scheduler; null without one
    private final LayerPredictions predictions;
    /** A head read at some layer that predicts layer {@code targetLayer} of the token {@code tokensAhead} (1 or 2) later. */
    private record LaterTokenHead(int index, int targetLayer, int tokensAhead) { }
    private final LaterTokenHead[][] laterTokenHeads; // per layer: its heads for later tokens (index in gate.headsFrom)
    private final LiveHeadRecall headRecall;           // the heads' recall@k per distance in decode (lookahead policies)
    private final float[] headProbabilities;           // scratch: one head's probabilities
    private final int[] demandSlots;
    private final int[] chosenNow;                  // the decode layer's choice, for the heads' recall
    private int chosenCount;
    private final ExpertId[] ids;                   // [layer * experts + expert], interned
    private final long blobBytes;
    private final Stream compute;
    private final Stream copy;
    private final List<PinnedBuffer> host = new ArrayList<>(); // per layer: [experts, blobBytes]
    private final int expertsPerLayer;
    private final DeviceBuffer slots;                          // [cacheSlots + STAGING_SLOTS, blobBytes]
    private final int cacheSlots;
    private final int[] memoryOf;                              // [slot]: the slot memory it uses (swapped by staging)
    private final Expert[] slotExpert;                         // [memory]
    private final Event[] copyDone;                            // [memory]
    private final Event[] lastUse;                             // [memory]
    private final StagedPrefetch staging;                      // background copies into the staging slots; or null
    private final TokenRecurrence tokenRecurrence;             // the next token's routing from the ids so far; or null
    private final float[] nextTokenScratch;                    // [experts]: a layer's next-token prediction
    private final boolean bypass;                              // misses may be served from a staging slot
    private long decodeLinkBytes;                              // every copy of a decode pass
    // staging windows: linkFree on the copy stream after a layer's demand copies, demand on the idle compute stream
    // at the next layer's demand; the time between them is the window the staged chunks may fill
    private record Window(Event linkFree, Event demand, int layer, long plannedBytes, long budgetBytes) { }
    private final ArrayDeque<Window> windows = new ArrayDeque<>();
    private final ArrayDeque<Event> spareEvents = new ArrayDeque<>();
    private Event openLinkFree;
    private int openLayer = -1;
    private long openPlanned, openBudget; // bytes staged into the open window, of its budget
    private final List<Integer> filling = new ArrayList<>();

    // the layer being computed: where each chosen expert is and whether compute must wait for its copy
    private final int[] slotFor;
    private final boolean[] mustWait;
    private final ArrayDeque<Integer> toStream = new ArrayDeque<>();
    private final boolean[] stagingBusy = new boolean[STAGING_SLOTS];
    private int currentLayer = -1;
    private boolean currentPrefill;

    // copy-wait timing: event pairs around each wait on the compute stream
    private final ArrayDeque<Event[]> freePairs = new ArrayDeque<>();
    private final List<Event[]> pendingPairs = new ArrayList<>();
    private double stallMillis;
    private long stalls;
    // the host's part of the path from a decode layer's routing to its first demand copy
    private long planningStart;          // System.nanoTime() at prepare
    private boolean issuingDemand;       // in prepare, before its first demand copy call
    private long demandIssueNanos;
    private long demandIssueLayers;
    private long streamedCopies;
    private Timeline timeline; // null unless profiling

    /**
     * @param slotsPerLayer device slots per layer (a global-pool policy gets layers * slotsPerLayer)
     * @param gate          the lookahead heads on the device; required by the lookahead policies (eviction by
     *                      predicted next use, speculative scheduling), ignored by the baselines
     */
    public OffloadedExperts(QuantizedCheckpoint qc, ResidencyPolicy policy, int slotsPerLayer, DeviceGate gate,
                            Device device, Stream compute, Progress progress) {
        this(qc, policy, slotsPerLayer, gate, SpeculationSettings.DEFAULTS, device, compute, progress);
    }

    /** @param tuning the lookahead policies' speculation knobs (ignored by the baselines) */
    public OffloadedExperts(QuantizedCheckpoint qc, ResidencyPolicy policy, int slotsPerLayer, DeviceGate gate,
                            SpeculationSettings tuning, Device device, Stream compute, Progress progress) {
        int layers = qc.config().numHiddenLayers();
        this.expertsPerLayer = qc.config().numLocalExperts();
        ExpertBlobLayout layout = qc.layout();
        this.blobBytes = layout.blobBytes();
        this.policy = policy;
        boolean scheduled = policy.eviction().equals(EvictionPolicies.PREDICTED);
        if (scheduled && gate == null) {
            throw new IllegalArgumentException("policy '" + policy.name() + "' needs lookahead heads (plug-and-play or trained)");
        }
        SchedulerConfig config = tuning.applyTo(SchedulerConfig.defaults(blobBytes, qc.config().numExpertsPerTok()), blobBytes);
        PredictedNextUse estimator = scheduled ? new PredictedNextUse(layers, expertsPerLayer, config.farProbability(), config.recurrenceTokens()) : null;
        this.cache = policy.newCache(layers, expertsPerLayer, slotsPerLayer, blobBytes, estimator);
        checkSlots(policy, layers, expertsPerLayer, slotsPerLayer, qc.config().numExpertsPerTok());
        this.gate = scheduled ? gate : null;
        this.scheduler = scheduled ? new SpeculativeScheduler(cache, estimator, this, config, expertsPerLayer) : null;
        this.predictions = scheduled ? new LayerPredictions(layers, expertsPerLayer, Math.max(1, layers - 1)) : null;
        this.laterTokenHeads = new LaterTokenHead[layers][];
        int farthest = 0;
        for (int l = 0; l < layers; l++) {
            List<dev.lookahead.gate.HeadId> from = this.gate == null ? List.of() : this.gate.headsFrom(l);
            for (var h : from) farthest = Math.max(farthest, h.distance());
            List<LaterTokenHead> later = new ArrayList<>();
            for (int h = 0; h < from.size(); h++) {
                int tokens = from.get(h).tokensAhead(layers);
                if (tokens == 1 || tokens == 2) later.add(new LaterTokenHead(h, from.get(h).targetLayer(layers), tokens));
            }
            laterTokenHeads[l] = later.toArray(LaterTokenHead[]::new);
        }
        this.headRecall = farthest > 0 ? new LiveHeadRecall(expertsPerLayer, qc.config().numExpertsPerTok(), farthest) : null;
        this.headProbabilities = new float[expertsPerLayer];
        this.demandSlots = new int[expertsPerLayer];
        this.chosenNow = new int[expertsPerLayer];
        this.ids = ExpertId.table(layers, expertsPerLayer);
        this.cacheSlots = cache.layout().totalSlots();
        this.compute = compute;
        this.slotFor = new int[expertsPerLayer];
        this.mustWait = new boolean[expertsPerLayer];
        int total = cacheSlots + STAGING_SLOTS;
        this.memoryOf = new int[total];
        for (int s = 0; s < total; s++) memoryOf[s] = s;
        this.slotExpert = new Expert[total];
        this.copyDone = new Event[total];
        this.lastUse = new Event[total];
        Stream copyStream = null;
        DeviceBuffer slotMemory = null;
        try {
            copyStream = device.createStream();
            slotMemory = device.allocate(Math.multiplyExact((long) total, blobBytes));
            for (int s = 0; s < total; s++) {
                slotExpert[s] = ModelWeights.expertInBlob(layout, slotMemory.slice(s * blobBytes, blobBytes));
                copyDone[s] = device.createEvent();
                lastUse[s] = device.createEvent();
            }
            progress.start("pinning experts", (long) layers * expertsPerLayer * blobBytes, "B");
            for (int l = 0; l < layers; l++) {
                PinnedBuffer p = device.allocatePinned((long) expertsPerLayer * blobBytes);
                host.add(p);
                int layer = l;
                // a layer's experts in parallel: page faults on the mapped file and the copies overlap
                IntStream.range(0, expertsPerLayer).parallel().forEach(e ->
                        p.segment().asSlice(e * blobBytes, blobBytes).copyFrom(qc.expertBlob(layer, e)));
                progress.update((long) (l + 1) * expertsPerLayer * blobBytes);
            }
            progress.finish();
        } catch (RuntimeException | Error e) {
            host.forEach(PinnedBuffer::close);
            for (Event ev : copyDone) if (ev != null) ev.close();
            for (Event ev : lastUse) if (ev != null) ev.close();
            if (slotMemory != null) slotMemory.close();
            if (copyStream != null) copyStream.close();
            throw e;
        }
        this.copy = copyStream;
        this.slots = slotMemory;
        StagedPrefetch.Config stagingConfig = tuning.stagingConfig(blobBytes);
        this.staging = scheduled && stagingConfig != null
                ? new StagedPrefetch(layers, expertsPerLayer, STAGING_SLOTS, blobBytes, measureLink(), stagingConfig)
                : null;
        this.tokenRecurrence = staging != null && tuning.tokenRecurrence() ? new TokenRecurrence(layers, expertsPerLayer) : null;
        this.nextTokenScratch = new float[expertsPerLayer];
        this.bypass = staging != null && tuning.bypass();
    }

    /**
     * Fails unless {@code policy}'s layout with {@code slotsPerLayer} can hold the {@code topK} experts a layer chooses
     * (they must all be resident while it computes), naming the smallest -k; before anything is loaded, callers may
     * check a given -k with it too.
     */
    public static void checkSlots(ResidencyPolicy policy, int layers, int experts, int slotsPerLayer, int topK) {
        SlotLayout layout = policy.layout(layers, experts, slotsPerLayer);
        if (layout.slotCount(0) < topK) {
            throw new IllegalArgumentException("policy '" + policy.name() + "' with " + layout.describe() + " cannot hold"
                    + " the " + topK + " experts each layer chooses per token: give at least -k " + topK
                    + (layout instanceof SlotLayout.PerLayer ? " (or a pool policy: lru-global, lookahead-global)" : ""));
        }
    }

    /** Bytes of one expert blob (one copy). */
    public long expertBytes() {
        return blobBytes;
    }

    /** The scheduler's configuration for the lookahead policies; null for the baselines, which have none. */
    public SchedulerConfig schedulerConfig() {
        return scheduler == null ? null : scheduler.config();
    }

    /** Device slots per layer (a global pool's slots divided by the layers). */
    public int slotsPerLayer() {
        return cache.layout().totalSlots() / cache.layout().layers();
    }

    public CacheStats stats() {
        return cache.stats();
    }

    public ResidencyPolicy policy() {
        return policy;
    }

    public String layoutDescription() {
        return cache.layout().describe();
    }

    /** Time the compute stream waited for expert copies during decode steps, in ms (complete after a pass). */
    public double stallMillis() {
        return stallMillis;
    }

    /**
     * Host time from the start of a decode layer's expert planning to its first demand copy call, summed over the decode
     * layers that had one, in ns: what the host adds to the path from a layer's router to its copies (the router's
     * read-back and the host's wake-up before it are not included). See {@link #demandIssueLayers}.
     */
    public long demandIssueNanos() {
        return demandIssueNanos;
    }

    /** The decode layers {@link #demandIssueNanos} sums over. */
    public long demandIssueLayers() {
        return demandIssueLayers;
    }

    /** {@link #demandIssueNanos} per layer that issued a demand copy, in microseconds; NaN before one did. */
    public double meanDemandIssueMicros() {
        return demandIssueLayers == 0 ? Double.NaN : demandIssueNanos / 1e3 / demandIssueLayers;
    }

    /** Experts streamed through the staging slots during prefill. */
    public long streamedCopies() {
        return streamedCopies;
    }

    /** Device bytes of all expert slots (the cache's and the prefill staging ones). */
    public long slotBytes() {
        return slots.size();
    }

    /** Pinned host bytes holding every expert. */
    public long hostBytes() {
        long total = 0;
        for (PinnedBuffer p : host) total += p.size();
        return total;
    }

    /** Records copies, slot waits and copy waits for `lookahead profile`; null (the default) records nothing. */
    public void setTimeline(Timeline timeline) {
        this.timeline = timeline;
    }

    @Override
    public void beginDecodeToken(long token, int tokenId) {
        if (tokenRecurrence == null) return;
        tokenRecurrence.beginToken(token, tokenId);
        // eviction's routing recurrence reads what followed the same two ids before, as staging does
        if (tokenRecurrence.predicts()) scheduler.tokenMatch(token, tokenRecurrence.matched());
    }

    @Override
    public int[] prepare(int layer, int[] experts, int count, long step, boolean prefill) {
        planningStart = System.nanoTime();
        issuingDemand = !prefill;
        pollCopies();
        currentLayer = layer;
        currentPrefill = prefill;
        toStream.clear();
        int[] order = new int[count];
        int ready = 0;
        List<Integer> later = new ArrayList<>();
        Set<ExpertId> keep = null;
        if (prefill && tokenRecurrence != null) tokenRecurrence.endSequence(); // a new prompt
        if (staging != null && prefill) {
            staging.clearBuffers(); // the prefill streams through the staging slots
            if (openLinkFree != null) spareEvents.push(openLinkFree);
            openLinkFree = null;
        }
        if (scheduler != null && !prefill) {
            int layers = cache.layout().layers();
            long token = step / layers;
            if (staging != null) staging.beginStep(step);
            // read back with this layer's routing: the next token's wishes steer the evictions from here on
            Arrays.fill(nextTokenScratch, 0f);
            for (LaterTokenHead h : laterTokenHeads[layer]) {
                for (int e = 0; e < expertsPerLayer; e++) {
                    float p = gate.probability(h.index(), e);
                    scheduler.predictTokensAhead(token, h.tokensAhead(), h.targetLayer(), e, p);
                    // staging targets a layer's next run only: what the token after next wants is for eviction
                    if (staging != null && h.tokensAhead() == 1) staging.predict((token + 1) * layers + h.targetLayer(), h.targetLayer(), e, p);
                    if (h.tokensAhead() == 1 && h.targetLayer() == layer) nextTokenScratch[e] = p;
                }
            }
            // the next token's layer as the token recurrence expects it (before the demand: a bypass picks its
            // staging buffer by these probabilities)
            if (tokenRecurrence != null && tokenRecurrence.decoding(token)) { // not on forced (replayed) passes
                tokenRecurrence.observe(token, layer, experts, count);
                if (tokenRecurrence.predicts()) {
                    // a mixture: the recurrence is right with its measured precision, else the heads speak
                    float w = (float) tokenRecurrence.precision(layer);
                    for (int e = 0; e < expertsPerLayer; e++) {
                        float p = (tokenRecurrence.predicted(layer, e) ? w : 0f) + (1 - w) * nextTokenScratch[e];
                        staging.predict((token + 1) * layers + layer, layer, e, p);
                    }
                }
            }
            scheduler.demand(token, layer, experts, count, demandSlots);
            if (staging != null) closeWindow(); // staged chunks may fill the link until the demand copies are queued
            for (int i = 0; i < count; i++) {
                int e = experts[i], slot = demandSlots[i];
                slotFor[e] = slot;
                mustWait[e] = slot >= cacheSlots || cache.state(slot) == SlotState.FILLING; // past the cache: a bypass
                if (mustWait[e]) later.add(i);
                else order[ready++] = i;
            }
            for (int i : later) order[ready++] = i;
            System.arraycopy(experts, 0, chosenNow, 0, count); // scored against the heads in speculate, off the copies' path
            chosenCount = count;
            issuingDemand = false;
            return order;
        }
        for (int i = 0; i < count; i++) {
            int e = experts[i];
            ExpertId id = new ExpertId(layer, e);
            int slot = prefill ? cache.slotOf(id) : cache.lookup(id, step);
            if (slot >= 0) {
                slotFor[e] = slot;
                mustWait[e] = cache.state(slot) == SlotState.FILLING;
                if (mustWait[e]) later.add(i);
                else order[ready++] = i;
            } else if (prefill) {
                slotFor[e] = -1;
                mustWait[e] = true;
                toStream.add(e);
                later.add(i);
            } else {
                if (keep == null) keep = idsOf(layer, experts, count);
                slot = admit(id, step, keep);
                copyInto(id, slot);
                slotFor[e] = slot;
                mustWait[e] = true;
                later.add(i);
            }
        }
        for (int i : later) order[ready++] = i;
        issuingDemand = false;
        streamNext();
        return order;
    }

    @Override
    public Expert acquire(int layer, int expert) {
        if (layer != currentLayer) throw new IllegalStateException("acquire of layer " + layer + " while preparing " + currentLayer);
        int slot = slotFor[expert];
        if (slot < 0) throw new IllegalStateException("expert " + expert + " of layer " + layer + " has no slot yet");
        int memory = memoryOf[slot];
        if (mustWait[expert] && currentPrefill) {
            if (timeline != null) timeline.begin(compute, Timeline.Span.COPY_WAIT, layer, expert);
            compute.waitEvent(copyDone[memory]);
            if (timeline != null) timeline.end(compute, Timeline.Span.COPY_WAIT);
        } else if (mustWait[expert]) {
            Event[] pair = freePairs.isEmpty() ? new Event[] {compute.device().createEvent(), compute.device().createEvent()}
                    : freePairs.pop();
            pair[0].record(compute);
            if (timeline != null) timeline.begin(compute, Timeline.Span.COPY_WAIT, layer, expert);
            compute.waitEvent(copyDone[memory]);
            if (timeline != null) timeline.end(compute, Timeline.Span.COPY_WAIT);
            pair[1].record(compute);
            pendingPairs.add(pair);
        }
        return slotExpert[memory];
    }

    @Override
    public void release(int layer, int expert) {
        int slot = slotFor[expert];
        lastUse[memoryOf[slot]].record(compute);
        if (slot >= cacheSlots && currentPrefill) {
            stagingBusy[slot - cacheSlots] = false;
            streamNext();
        }
    }

    @Override
    public boolean wantsNextLayerPrediction() {
        return policy.prefetchNextLayer();
    }

    @Override
    public DeviceGate gate() {
        return gate;
    }

    /** This step's routing scores the heads' earlier predictions of it; this layer's heads predict later steps. */
    private void scoreHeads(int layer, int[] experts, int count, long step) {
        headRecall.chosen(step, experts, count);
        var heads = gate.headsFrom(layer);
        for (int h = 0; h < heads.size(); h++) {
            for (int e = 0; e < expertsPerLayer; e++) headProbabilities[e] = gate.probability(h, e);
            headRecall.predicted(step, heads.get(h).distance(), headProbabilities);
        }
    }

    /** What the token recurrence predicted so far; null when it is off (the baselines, no staging, or turned off). */
    public TokenRecurrence.Counts tokenRecurrenceCounts() {
        return tokenRecurrence == null ? null : tokenRecurrence.counts();
    }

    /** The lookahead heads' recall@k per distance over the decode steps so far; null for the baselines. */
    public LiveHeadRecall headRecall() {
        return headRecall;
    }

    /**
     * The lookahead heads' predictions made at {@code layer} (read back with the router) go to the scheduler, and
     * to the staging of the window that opens now (after this layer's demand copies).
     */
    @Override
    public void speculate(int layer, long step) {
        if (scheduler == null) return;
        // the demand's copies and this layer's experts are enqueued: the bookkeeping kept off that path runs now
        scheduler.afterDemand();
        if (headRecall != null) scoreHeads(layer, chosenNow, chosenCount, step);
        if (staging != null) measureWindows();
        int layers = cache.layout().layers();
        int rest = layers - 1 - layer;
        int horizon = Math.min(predictions.maxHorizon(), rest); // the scheduler's: copies into the cache
        if (horizon > 0) predictions.reset(step / layers, layer, horizon);
        var heads = gate.headsFrom(layer);
        for (int h = 0; h < heads.size(); h++) {
            int d = heads.get(h).distance();
            if (d > rest) continue; // a later-token head: given in prepare, before the demand
            for (int e = 0; e < expertsPerLayer; e++) {
                float p = gate.probability(h, e);
                if (d <= horizon) predictions.set(d, e, p);
                if (staging != null) staging.predict(step + d, layer + d, e, p);
            }
        }
        if (horizon > 0) scheduler.speculate(predictions);
        if (staging == null) return;
        openLinkFree = spareEvent(compute.device());
        openLinkFree.record(copy);
        openLayer = layer;
        openBudget = staging.windowBudget(layer);
        openPlanned = staging.plan(index -> cache.contains(ids[index]), this::stageChunk);
    }

    /** Once a layer's demand copies are queued (the compute stream still idle): ends the window the previous layer opened. */
    private void closeWindow() {
        if (openLinkFree != null) {
            Event demand = spareEvent(compute.device());
            demand.record(compute);
            windows.add(new Window(openLinkFree, demand, openLayer, openPlanned, openBudget));
            openLinkFree = null;
        }
    }

    /** Gives the staging the length of every window whose events are done (off the router -> copy path). */
    private void measureWindows() {
        while (!windows.isEmpty() && windows.peek().linkFree().query() && windows.peek().demand().query()) {
            Window w = windows.poll();
            staging.windowMeasured(w.layer(), w.linkFree().elapsedMillis(w.demand()), w.plannedBytes(), w.budgetBytes());
            spareEvents.push(w.linkFree());
            spareEvents.push(w.demand());
        }
    }

    private Event spareEvent(Device device) {
        return spareEvents.isEmpty() ? device.createEvent() : spareEvents.pop();
    }

    /**
     * The link's bandwidth for staging budgets: one timed copy of an expert into a staging slot, after one that may
     * pay for first-touch costs.
     */
    private double measureLink() {
        MemorySegment src = host.getFirst().segment().asSlice(0, blobBytes);
        DeviceSlice dst = slots.slice(cacheSlots * blobBytes, blobBytes);
        double seconds = LinkProbe.medianSeconds(copy, src, dst, 1);
        return blobBytes / Math.max(seconds, 1e-6); // a link faster than a blob per microsecond is not limiting
    }

    /** The scheduler's statistics (lookahead policies), or null. */
    public dev.lookahead.sched.SchedulerStats schedulerStats() {
        return scheduler == null ? null : scheduler.stats();
    }

    // ---- CopyEngine: the scheduler's copies go to the copy stream -------------------------------

    /** A staged expert moves into the slot by swapping memory; only its bytes not staged yet are copied. */
    @Override
    public void submit(ExpertId id, int slot, boolean speculative) {
        int buffer = staging == null ? -1 : staging.find(id.layer(), id.expert());
        if (buffer < 0) {
            copyInto(id, slot);
            return;
        }
        int stagingSlot = cacheSlots + buffer;
        int memory = memoryOf[slot];
        memoryOf[slot] = memoryOf[stagingSlot];
        memoryOf[stagingSlot] = memory;
        long staged = staging.bytesStaged(buffer);
        staging.consume(buffer);
        // the last staged chunk recorded copyDone of the memory the slot now uses
        if (staged < blobBytes) copyRange(id, slot, staged, blobBytes - staged, copySpan(id, slot));
    }

    @Override
    public boolean isDone(int slot) {
        return copyDone[memoryOf[slot]].query();
    }

    @Override
    public void await(int slot) {
        copyDone[memoryOf[slot]].synchronize();
    }

    @Override
    public boolean bypasses() {
        return bypass;
    }

    /** A miss the scheduler chose not to admit runs from a staging slot: the expert's staged bytes, or a free slot. */
    @Override
    public int bypass(ExpertId id) {
        if (!bypass) return -1;
        int buffer = staging.find(id.layer(), id.expert());
        if (buffer < 0) buffer = staging.bufferForDemand();
        if (buffer < 0) return -1;
        int slot = cacheSlots + buffer;
        long present = staging.holdForDemand(buffer, id.layer(), id.expert());
        if (present < blobBytes) copyRange(id, slot, present, blobBytes - present, Timeline.Span.COPY_ON_DEMAND);
        return slot;
    }

    /** The scheduler's demand lookups by the estimate eviction followed (lookahead policies; none for the baselines). */
    public EvictionFollowed evictionFollowed() {
        return scheduler == null ? EvictionFollowed.NONE : scheduler.evictionFollowed();
    }

    /** Staged prefetch statistics (lookahead policies with staging), or null. */
    public StagedPrefetch.Stats stagingStats() {
        return staging == null ? null : staging.stats();
    }

    /** Bytes that crossed the link during decode passes: demand copies, speculative and staged ones. */
    public long linkBytes() {
        return decodeLinkBytes;
    }

    /**
     * The decode bytes that misses needed: {@link #linkBytes} less the staged bytes no miss used. Over lookups and
     * the expert's size it measures eviction alone (a miss served from staged bytes still counts as a copy).
     */
    public long demandBytes() {
        return decodeLinkBytes - (staging == null ? 0 : staging.stats().bytesWasted());
    }

    private void stageChunk(int buffer, int layer, int expert, long offset, long bytes) {
        copyRange(ids[layer * expertsPerLayer + expert], cacheSlots + buffer, offset, bytes, Timeline.Span.COPY_SPECULATIVE);
    }

    @Override
    public void prefetch(int layer, int[] predicted, int count, int current, int[] chosen, int chosenCount, long step) {
        Set<ExpertId> keep = idsOf(current, chosen, chosenCount);
        keep.addAll(idsOf(layer, predicted, count));
        for (int i = 0; i < count; i++) {
            ExpertId id = new ExpertId(layer, predicted[i]);
            if (cache.contains(id)) continue;
            int slot = cache.prefetch(id, step, keep);
            if (slot != ExpertCache.NOT_ISSUED) copyInto(id, slot);
        }
    }

    @Override
    public void endPass() {
        for (Event[] pair : pendingPairs) {
            stallMillis += Math.max(0, pair[0].elapsedMillis(pair[1]));
            stalls++;
            freePairs.push(pair);
        }
        pendingPairs.clear();
        pollCopies();
    }

    /** Copies still missing for this prefill layer go into free staging slots. */
    private void streamNext() {
        for (int s = 0; s < STAGING_SLOTS && !toStream.isEmpty(); s++) {
            if (stagingBusy[s]) continue;
            int e = toStream.poll();
            int slot = cacheSlots + s;
            stagingBusy[s] = true;
            copyInto(new ExpertId(currentLayer, e), slot);
            slotFor[e] = slot;
            streamedCopies++;
        }
    }

    private int admit(ExpertId id, long step, Set<ExpertId> keep) {
        try {
            return cache.admit(id, step, keep);
        } catch (IllegalStateException allFilling) {
            // every candidate is still being copied: let the copies finish, then choose again
            copy.synchronize();
            pollCopies();
            return cache.admit(id, step, keep);
        }
    }

    /** Enqueues the copy of an expert's blob into a slot, after the last use of the slot's memory on the compute stream. */
    private void copyInto(ExpertId id, int slot) {
        copyRange(id, slot, 0, blobBytes, copySpan(id, slot));
        // the scheduler marks its own copies ready; without one, pollCopies does
        if (slot < cacheSlots && scheduler == null) filling.add(slot);
    }

    /** Bytes [offset, offset + bytes) of the expert's blob into the slot's memory; records the memory's copyDone. */
    private void copyRange(ExpertId id, int slot, long offset, long bytes, Timeline.Span span) {
        int memory = memoryOf[slot];
        MemorySegment src = host.get(id.layer()).segment().asSlice(id.expert() * blobBytes + offset, bytes);
        if (!lastUse[memory].query()) { // most slots were last used long ago: no wait to enqueue
            if (timeline != null) timeline.begin(copy, Timeline.Span.SLOT_WAIT, id.layer(), id.expert());
            copy.waitEvent(lastUse[memory]);
            if (timeline != null) timeline.end(copy, Timeline.Span.SLOT_WAIT);
        }
        if (timeline != null) timeline.begin(copy, span, id.layer(), id.expert());
        if (issuingDemand) {
            demandIssueNanos += System.nanoTime() - planningStart;
            demandIssueLayers++;
            issuingDemand = false;
        }
        copy.copyToDevice(src, slots.slice(memory * blobBytes + offset, bytes));
        if (!currentPrefill) decodeLinkBytes += bytes;
        if (timeline != null) timeline.end(copy, span);
        copyDone[memory].record(copy);
    }

    /** Marks the cache slots whose copies have completed READY (so they may be evicted later). */
    private void pollCopies() {
        if (scheduler != null) scheduler.poll();
        for (int i = filling.size() - 1; i >= 0; i--) {
            int slot = filling.get(i);
            if (copyDone[memoryOf[slot]].query()) {
                cache.markReady(slot);
                filling.remove(i);
            }
        }
    }

    /** For the profile: a staging copy (prefill), a miss of the layer being computed, or a prefetch of a later layer. */
    private Timeline.Span copySpan(ExpertId id, int slot) {
        if (slot >= cacheSlots) return Timeline.Span.COPY_STAGED;
        return id.layer() == currentLayer ? Timeline.Span.COPY_ON_DEMAND : Timeline.Span.COPY_SPECULATIVE;
    }

    private static Set<ExpertId> idsOf(int layer, int[] experts, int count) {
        Set<ExpertId> ids = new HashSet<>();
        for (int i = 0; i < count; i++) ids.add(new ExpertId(layer, experts[i]));
        return ids;
    }

    @Override
    public void close() {
        try {
            copy.synchronize();
            compute.synchronize();
        } finally {
            for (Event[] p : pendingPairs) { p[0].close(); p[1].close(); }
            for (Event[] p : freePairs) { p[0].close(); p[1].close(); }
            for (Event e : copyDone) e.close();
            for (Event e : lastUse) e.close();
            for (Window w : windows) { w.linkFree().close(); w.demand().close(); }
            for (Event e : spareEvents) e.close();
            if (openLinkFree != null) openLinkFree.close();
            copy.close();
            slots.close();
            host.forEach(PinnedBuffer::close);
        }
    }
}
