package dev.lookahead.bench;

import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.GenerationResult;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.engine.HeadOracle;
import dev.lookahead.engine.OffloadedExperts;
import dev.lookahead.expert.CacheStats;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.quant.ExpertBlobLayout;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.sched.EvictionFollowed;
import dev.lookahead.sched.StagedPrefetch;
import dev.lookahead.sched.TokenRecurrence;
import dev.lookahead.util.Progress;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs the same prompts, greedily, under several residency policies in one process and measures
 * decode speed, hit rate, stalls and copied bytes, each against the all-resident tokens.
 *
 * <p>With {@link LoadOptions#routingFrom()} set, prompt i replays problem i (modulo the trace's
 * problems) of the trace, under every policy, all-resident included, so the tokens still must agree.
 */
public final class PolicyBench {
    /**
     * One policy's measurements; with several rounds, speeds and stalls are medians over the rounds, counts are of all
     * rounds together.
     *
     * @param decodeTokensPerSecond decode tokens over decode time, all prompts together (median over rounds)
     * @param hitRate               hits over lookups, all rounds together
     * @param stallMsPerToken       time the compute stream waited for copies, per decoded token (median over rounds)
     * @param copiedMiBPerToken     expert bytes that crossed the link during decode (staged ones included), per
     *                              decoded token, all rounds together
     * @param prefetchesIssued      prefetches issued, summed over rounds
     * @param prefetchesUsed        prefetches used, summed over rounds
     * @param sameTokens            whether every prompt produced the all-resident tokens in every round
     * @param rounds                the measurements of each round, in round order
     * @param checks                what a lookahead policy measured of itself ({@link SelfChecks#NONE} for the others)
     * @param demandIssueMicros     mean host time from a decode layer's expert planning to its first demand copy call,
     *                              over the layers that had one (NaN when none did)
     */
    public record Row(String policy, double decodeTokensPerSecond, double hitRate, double stallMsPerToken,
                      double copiedMiBPerToken, long prefetchesIssued, long prefetchesUsed, boolean sameTokens,
                      List<RoundSample> rounds, SelfChecks checks, double demandIssueMicros) {
        public Row {
            rounds = List.copyOf(rounds);
            if (rounds.isEmpty()) throw new IllegalArgumentException("a row needs at least one round");
        }

        /** A row measured in one round, without staged copies. */
        public Row(String policy, double decodeTokensPerSecond, double hitRate, double stallMsPerToken,
                   double copiedMiBPerToken, long prefetchesIssued, long prefetchesUsed, boolean sameTokens) {
            this(policy, decodeTokensPerSecond, hitRate, stallMsPerToken, copiedMiBPerToken, prefetchesIssued,
                    prefetchesUsed, sameTokens, List.of(new RoundSample(decodeTokensPerSecond, copiedMiBPerToken)),
                    SelfChecks.NONE, Double.NaN);
        }

        double[] roundTokensPerSecond() {
            return rounds.stream().mapToDouble(RoundSample::decodeTokensPerSecond).toArray();
        }
    }

    /**
     * What a lookahead policy measured of itself, all rounds together ({@link #NONE} for the other policies).
     *
     * @param followed        the scheduler's lookups by the estimate eviction followed (shadow caches)
     * @param staged          its staged copies
     * @param recallNextLayer the heads' live recall@k at the next layer (NaN without heads)
     * @param recallNextToken the same at the next token's same layer
     * @param recurrenceCoverage  the token recurrence: share of decode tokens after which it predicted the next one's
     *                            routing (NaN when off)
     * @param recurrencePrecision share of the experts it predicted that were then chosen (NaN when off or none)
     */
    public record SelfChecks(EvictionFollowed followed, Staged staged, double recallNextLayer, double recallNextToken,
                             double recurrenceCoverage, double recurrencePrecision) {
        public static final SelfChecks NONE = new SelfChecks(EvictionFollowed.NONE, Staged.NONE, Double.NaN, Double.NaN,
                Double.NaN, Double.NaN);
    }

    /**
     * Staged copies of a row, all rounds together.
     *
     * @param demandMiBPerToken the bytes misses needed per token (a miss served from staged bytes counted whole): what
     *                          eviction alone costs, the copied bytes less the staged bytes no miss used
     * @param started           experts whose staging started
     * @param used              misses served from a staging slot
     * @param stagedMiBPerToken bytes staged per token
     * @param usedMiBPerToken   of those, the bytes that misses used
     * @param displacedMiBPerToken of the bytes no miss used, those bypasses overwrote before their target's step
     * @param givenUpMiBPerToken   and those given up for likelier targets (the rest: guesses their layer did not choose)
     * @param throttledShare    share of the staging windows not planned because staging was throttled
     * @param windows           where the link's time in the staging windows went
     */
    public record Staged(double demandMiBPerToken, long started, long used, double stagedMiBPerToken,
                         double usedMiBPerToken, double displacedMiBPerToken, double givenUpMiBPerToken,
                         double throttledShare, Windows windows) {
        public static final Staged NONE = new Staged(Double.NaN, 0, 0, 0, 0, 0, 0, 0, Windows.NONE);

        /** Bytes staged per token that no miss used, however they were lost. */
        public double wastedMiBPerToken() {
            return stagedMiBPerToken - usedMiBPerToken;
        }
    }

    /**
     * The staging windows of a row (the link's time after each layer's demand copies, until the next layer's demand:
     * the compute and host time staged bytes may fill), in ms per decoded token, all rounds together.
     *
     * @param lengthMs          their whole length
     * @param idleBelowBudgetMs link idle in them because fewer bytes were worth staging than the window's budget (every
     *                          likely enough expert resident or staged already, or staging throttled)
     * @param idleBeyondBudgetMs link idle because a window outlasted its budget (the moving average of its length)
     * @param pastWindowMs      staged bytes that ran past their window: the next layer's demand copies waited for them
     */
    public record Windows(double lengthMs, double idleBelowBudgetMs, double idleBeyondBudgetMs, double pastWindowMs) {
        public static final Windows NONE = new Windows(0, 0, 0, 0);

        /** The link's idle time in the windows. */
        public double idleMs() {
            return idleBelowBudgetMs + idleBeyondBudgetMs;
        }
    }

    /** What one round measured of a policy that the table compares round by round. */
    public record RoundSample(double decodeTokensPerSecond, double copiedMiBPerToken) {
    }

    /**
     * The rows, and what they are measured against.
     *
     * @param ceilings           hit-rate ceilings of the reference routing (null without an offloading row)
     * @param computeMsPerToken  decode time per token all-resident: the compute-only time (median over its rounds)
     * @param linkBytesPerSecond the link's bandwidth: the CPU backend's emulated one, or a GPU's measured one
     *                           ({@link dev.lookahead.engine.LinkProbe}); 0 when not known (then no overlap bound is given)
     * @param expertBytes        bytes of one expert (one copy)
     */
    public record Result(List<Row> rows, HitRateCeilings ceilings, double computeMsPerToken, double linkBytesPerSecond,
                         long expertBytes) {
        /**
         * The overlap bound of a run that copied {@code copiedMiBPerToken}: max(compute-only time, copied bytes / link
         * bandwidth) per token, the time no schedule of the same copies beats; NaN without a link bandwidth.
         */
        private double boundMsPerToken(double copiedMiBPerToken) {
            if (linkBytesPerSecond <= 0) return Double.NaN;
            return Math.max(computeMsPerToken, copiedMiBPerToken * 1048576.0 / linkBytesPerSecond * 1e3);
        }

        /** Decode time over the overlap bound, per round (each round against its own copied bytes), median. */
        public double timeOverBound(Row r) {
            return Rounds.median(r.rounds().stream()
                    .mapToDouble(s -> 1e3 / s.decodeTokensPerSecond() / boundMsPerToken(s.copiedMiBPerToken())).toArray());
        }

        /** The same result against another link bandwidth (a GPU's, measured apart from the runs). */
        public Result withLinkBytesPerSecond(double value) {
            return new Result(rows, ceilings, computeMsPerToken, value, expertBytes);
        }

        /** How many rounds the rows were measured over. */
        public int rounds() {
            return rows.isEmpty() ? 1 : rows.getFirst().rounds().size();
        }
    }

    /** The oracle heads' seed: every policy and round draws the same mistakes in the same order of calls. */
    private static final long ORACLE_SEED = 1;

    private PolicyBench() {
    }

    /**
     * Runs {@code repeat} rounds; round r runs every policy once over all prompts, in an order rotated to start at
     * policy r mod P ({@link Rounds#rotated}). all-resident is the reference: it leads round 0 (its routing gives the
     * hit-rate ceilings), and when it is not asked for it runs in round 0 only. Every round's tokens are compared with
     * round 0's all-resident tokens once all rounds are done.
     *
     * @param base   options shared by every run (backend, threads, link, slots); the policy is set per run
     * @param warmup rounds of every policy run first and not measured, at least 0: the JIT compiles the decode path
     *               over thousands of calls, and the lookahead policies plan more on the host; measured cold, a single
     *               round read them 1.24-1.30x where warm rounds read 1.46-1.53x (docs/results.md, session 19)
     * @param repeat rounds, at least 1
     * @param oracle null, or the recalls of an oracle of the replayed routing that replaces the lookahead heads
     *               ({@link HeadOracle}, a what-if); the routing must then be replayed ({@link LoadOptions#routingFrom()})
     */
    public static Result run(Path quantizedModel, List<String> policies, LoadOptions base, List<String> prompts,
                             int tokens, int warmup, int repeat, HeadOracle.Recalls oracle, Progress progress) {
        if (repeat < 1) throw new IllegalArgumentException("repeat must be >= 1 round, got " + repeat);
        if (warmup < 0) throw new IllegalArgumentException("warm-up rounds must be >= 0, got " + warmup);
        if (oracle != null && base.routingFrom() == null) {
            throw new IllegalArgumentException("oracle heads read the replayed routing: give a routing trace to replay");
        }
        GenerationOptions options = GenerationOptions.defaults().withMaxTokens(tokens);
        List<int[][]> referenceRouting = new ArrayList<>(); // decode tokens of the all-resident run: [layer][top-k]
        int slotsPerLayer = 0, experts = 0;
        long expertBytes = 0;
        List<String> order = new ArrayList<>(policies);
        // the reference tokens come from all-resident, measured first (in round 0) when it is asked for
        order.remove("all-resident");
        order.addFirst("all-resident");
        Map<String, List<Measurement>> measured = new LinkedHashMap<>();
        for (String policy : order) measured.put(policy, new ArrayList<>());
        for (int round = 0; round < warmup; round++) {
            for (String policy : order) {
                progress.start("warm-up " + policy + (warmup == 1 ? "" : " (" + (round + 1) + "/" + warmup + ")"),
                        prompts.size(), "prompts");
                try (MoeModel model = load(quantizedModel, base, policy, oracle)) {
                    for (int i = 0; i < prompts.size(); i++) {
                        model.generate(prompts.get(i), options.withRoutingProblem(i), t -> { });
                        progress.update(i + 1);
                    }
                }
                progress.finish();
            }
        }
        for (int round = 0; round < repeat; round++) {
            for (String policy : Rounds.rotated(order, round)) {
                boolean reference = policy.equals("all-resident");
                if (round > 0 && reference && !policies.contains(policy)) continue; // only needed for the reference
                String label = repeat == 1 ? "bench " + policy : "bench " + policy + " (round " + (round + 1) + "/" + repeat + ")";
                progress.start(label, prompts.size(), "prompts");
                try (MoeModel model = load(quantizedModel, base, policy, oracle)) {
                    model.generate(prompts.getFirst(), options.withMaxTokens(2), t -> { }); // warm-up (JIT, caches)
                    long[] before = countsOf(model);
                    double stallBefore = stallOf(model);
                    RoutingRecorder recorder = reference && round == 0
                            ? new RoutingRecorder(model.config().numHiddenLayers()) : null;
                    if (recorder != null) model.forwardPass().setRoutingListener(recorder);
                    List<List<Integer>> produced = new ArrayList<>();
                    long decodeNanos = 0;
                    int decodeTokens = 0;
                    for (int i = 0; i < prompts.size(); i++) {
                        GenerationResult r = model.generate(prompts.get(i), options.withRoutingProblem(i), t -> { });
                        if (recorder != null) referenceRouting.addAll(recorder.takeFrom(r.timings().promptTokens()));
                        produced.add(r.tokenIds());
                        decodeNanos += r.timings().decodeNanos();
                        decodeTokens += r.timings().decodeTokens();
                        progress.update(i + 1);
                    }
                    progress.finish();
                    if (recorder != null) model.forwardPass().setRoutingListener(null);
                    experts = model.config().numLocalExperts();
                    boolean offloaded = model.experts() instanceof OffloadedExperts;
                    if (model.experts() instanceof OffloadedExperts off) {
                        expertBytes = off.expertBytes();
                        if (slotsPerLayer == 0) slotsPerLayer = off.slotsPerLayer();
                    }
                    long[] after = countsOf(model);
                    long[] delta = new long[after.length];
                    for (int j = 0; j < after.length; j++) delta[j] = after[j] - before[j];
                    measured.get(policy).add(new Measurement(produced, decodeNanos, decodeTokens, offloaded, delta,
                            stallOf(model) - stallBefore));
                }
            }
        }
        List<List<Integer>> referenceTokens = measured.get("all-resident").getFirst().tokens();
        double computeMsPerToken = Rounds.median(measured.get("all-resident").stream()
                .mapToDouble(m -> m.decodeNanos() / 1e6 / m.decodeTokens()).toArray());
        List<Row> rows = new ArrayList<>();
        for (String policy : order) {
            if (policies.contains(policy)) rows.add(row(policy, measured.get(policy), referenceTokens));
        }
        HitRateCeilings ceilings = null;
        if (slotsPerLayer > 0 && !referenceRouting.isEmpty()) {
            RoutingTrace trace = RoutingTrace.of("bench reference (all-resident)", referenceRouting.getFirst().length,
                    experts, referenceRouting);
            ceilings = HitRateCeilings.of(trace, slotsPerLayer);
        }
        return new Result(rows, ceilings, computeMsPerToken, base.linkBytesPerSecond(), expertBytes);
    }

    /** The model under {@code policy}, its heads replaced by the oracle when one is given. */
    private static MoeModel load(Path quantizedModel, LoadOptions base, String policy, HeadOracle.Recalls oracle) {
        MoeModel model = MoeModel.load(quantizedModel, base.withPolicy(policy));
        if (oracle != null) {
            try {
                model.forwardPass().setHeadOracle(new HeadOracle(model.forcedRouting(), model.config().numLocalExperts(),
                        oracle, ORACLE_SEED));
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
        }
        return model;
    }

    /**
     * One policy's run over all prompts in one round.
     *
     * @param counts lookups, hits, bytes copied, prefetches issued, prefetches used during the prompts (zeros when
     *               nothing is offloaded)
     */
    private record Measurement(List<List<Integer>> tokens, long decodeNanos, int decodeTokens, boolean offloaded,
                               long[] counts, double stallMillis) {
        double tokensPerSecond() {
            return decodeTokens * 1e9 / decodeNanos;
        }

        double copiedMiBPerToken() {
            return counts[COPIED] / 1048576.0 / decodeTokens;
        }
    }

    /** The row of one policy's rounds: medians of speeds and stalls, counts of all rounds together. */
    private static Row row(String policy, List<Measurement> rounds, List<List<Integer>> referenceTokens) {
        boolean same = rounds.stream().allMatch(m -> m.tokens().equals(referenceTokens));
        double tps = Rounds.median(rounds.stream().mapToDouble(Measurement::tokensPerSecond).toArray());
        List<RoundSample> samples = rounds.stream()
                .map(m -> new RoundSample(m.tokensPerSecond(), m.offloaded() ? m.copiedMiBPerToken() : 0)).toList();
        if (!rounds.getFirst().offloaded()) return new Row(policy, tps, 1.0, 0, 0, 0, 0, same, samples, SelfChecks.NONE, Double.NaN);
        long[] sum = new long[COUNTS];
        long decodeTokens = 0;
        for (Measurement m : rounds) {
            for (int j = 0; j < sum.length; j++) sum[j] += m.counts()[j];
            decodeTokens += m.decodeTokens();
        }
        double stall = Rounds.median(rounds.stream().mapToDouble(m -> m.stallMillis() / m.decodeTokens()).toArray());
        double perToken = 1048576.0 * decodeTokens;
        Staged staged = new Staged(sum[DEMAND_COPIED] / perToken, sum[STAGED_STARTED], sum[STAGED_USED],
                sum[STAGED_BYTES] / perToken, sum[STAGED_USED_BYTES] / perToken,
                sum[STAGED_DISPLACED_BYTES] / perToken, sum[STAGED_GIVEN_UP_BYTES] / perToken,
                share(sum[WINDOWS_THROTTLED], sum[WINDOWS_THROTTLED] + sum[WINDOWS_PLANNED]),
                new Windows(sum[WINDOW_NANOS] / 1e6 / decodeTokens, sum[IDLE_BELOW_BUDGET_NANOS] / 1e6 / decodeTokens,
                        sum[IDLE_BEYOND_BUDGET_NANOS] / 1e6 / decodeTokens, sum[PAST_WINDOW_NANOS] / 1e6 / decodeTokens));
        EvictionFollowed followed = new EvictionFollowed(sum[SCHEDULED_LOOKUPS], sum[BOTH_LOOKUPS], sum[HEADS_LOOKUPS],
                sum[RECURRENCE_LOOKUPS], sum[UNTRUSTED_LOOKUPS], sum[SHARES_KEPT_LOOKUPS]);
        SelfChecks checks = new SelfChecks(followed, staged,
                sum[HEADS_D1_SCORED] == 0 ? Double.NaN : sum[HEADS_D1_HITS] / (double) sum[HEADS_D1_SCORED],
                sum[HEADS_NEXT_SCORED] == 0 ? Double.NaN : sum[HEADS_NEXT_HITS] / (double) sum[HEADS_NEXT_SCORED],
                sum[TR_TOKENS] == 0 ? Double.NaN : sum[TR_PREDICTED_TOKENS] / (double) sum[TR_TOKENS],
                sum[TR_PREDICTED_EXPERTS] == 0 ? Double.NaN : sum[TR_CHOSEN_EXPERTS] / (double) sum[TR_PREDICTED_EXPERTS]);
        return new Row(policy, tps, sum[LOOKUPS] == 0 ? 1 : sum[HITS] / (double) sum[LOOKUPS], stall,
                sum[COPIED] / perToken, sum[PREFETCHES], sum[PREFETCHES_USED], same, samples, checks,
                sum[DEMAND_ISSUE_LAYERS] == 0 ? Double.NaN : sum[DEMAND_ISSUE_NANOS] / 1e3 / sum[DEMAND_ISSUE_LAYERS]);
    }

    /** Collects the routing of every token of a generation; keeps the decode ones (position >= prompt length). */
    private static final class RoutingRecorder implements dev.lookahead.engine.RoutingListener {
        private final int layers;
        private final java.util.TreeMap<Long, int[][]> byPosition = new java.util.TreeMap<>();

        RoutingRecorder(int layers) {
            this.layers = layers;
        }

        @Override
        public void onRouting(long position, int layer, int[] experts, float[] weights) {
            byPosition.computeIfAbsent(position, p -> new int[layers][])[layer] = experts.clone();
        }

        /** The decode tokens of the generation just finished, in order; clears the recorder. */
        List<int[][]> takeFrom(int promptTokens) {
            List<int[][]> out = new ArrayList<>(byPosition.tailMap((long) promptTokens).values());
            byPosition.clear();
            return out;
        }
    }

    /**
     * The emulated link of the CPU backend: one fixed bandwidth, defined by the 4-bit expert. Copying one expert of
     * this model quantized at 4 bits (with this run's group) takes as many layer-compute times as it does for
     * Mixtral-8x7B on PCIe 4.0 ({@link #MIXTRAL_COPY_TO_LAYER}); a 2- or 3-bit expert has fewer bytes and so copies
     * proportionally faster, as it would on the real link (DESIGN.md: "Lower bits shrink the copies"). The layer
     * compute time is measured here, all-resident, on the same prompts.
     *
     * @param warmup passes over the prompts before the measured one (the bench's warm-up rounds)
     * @param layout the layout of this run's expert blobs (its spec and shape give the 4-bit blob's size)
     */
    public static LinkCalibration calibrateLink(Path quantizedModel, LoadOptions base, List<String> prompts, int tokens,
                                                int warmup, ExpertBlobLayout layout) {
        try (MoeModel model = MoeModel.load(quantizedModel, base.withPolicy("all-resident").withLinkBytesPerSecond(0))) {
            model.generate(prompts.getFirst(), GenerationOptions.defaults().withMaxTokens(2), t -> { });
            long nanos = 0;
            int n = 0;
            // the measured rounds run compiled code after their warm-up: so does the measured pass here
            for (int pass = 0; pass <= warmup; pass++) {
                nanos = 0;
                n = 0;
                for (int i = 0; i < prompts.size(); i++) {
                    GenerationResult r = model.generate(prompts.get(i),
                            GenerationOptions.defaults().withMaxTokens(tokens).withRoutingProblem(i), t -> { });
                    nanos += r.timings().decodeNanos();
                    n += r.timings().decodeTokens();
                }
            }
            double layerMs = nanos / 1e6 / n / model.config().numHiddenLayers();
            return LinkCalibration.of(layerMs, layout.spec().bits(), layout.blobBytes(), fourBitBlobBytes(layout));
        }
    }

    /**
     * Bytes of one expert blob of {@code layout}'s shape quantized at 4 bits with {@code layout}'s group: the copy the
     * emulated link is defined by. Computed from the layout alone, nothing is quantized.
     */
    public static long fourBitBlobBytes(ExpertBlobLayout layout) {
        QuantSpec fourBit = new QuantSpec(4, layout.spec().group());
        return ExpertBlobLayout.of(layout.hidden(), layout.intermediate(), fourBit).blobBytes();
    }

    /**
     * Mixtral-8x7B with 4-bit experts on PCIe 4.0 (DESIGN.md): one expert (~94 MB) takes ~3.7 ms at
     * ~25 GB/s pinned, one layer computes in ~0.5 ms: a 4-bit copy costs ~7.4 layer-compute times.
     */
    public static final double MIXTRAL_COPY_TO_LAYER = 3.7 / 0.5;

    /**
     * How the emulated link was derived.
     *
     * @param layerMs          measured compute time of one layer, all-resident
     * @param bits             this run's expert bits
     * @param blobBytes        bytes of one expert of this run (one copy)
     * @param fourBitBlobBytes bytes of the same expert at 4 bits, same group: the copy that defines the link
     * @param bytesPerSecond   the link's bandwidth
     */
    public record LinkCalibration(double layerMs, int bits, long blobBytes, long fourBitBlobBytes, double bytesPerSecond) {

        /**
         * The link at which a 4-bit expert copies in {@link #MIXTRAL_COPY_TO_LAYER} x {@code layerMs}; this run's
         * expert then copies in {@code MIXTRAL_COPY_TO_LAYER * blobBytes / fourBitBlobBytes} layer times.
         */
        public static LinkCalibration of(double layerMs, int bits, long blobBytes, long fourBitBlobBytes) {
            if (!(layerMs > 0) || Double.isInfinite(layerMs)) {
                throw new IllegalArgumentException("measured layer compute time must be > 0 ms, got " + layerMs);
            }
            if (blobBytes <= 0 || fourBitBlobBytes <= 0) {
                throw new IllegalArgumentException("expert blob sizes must be > 0, got " + blobBytes + " and "
                        + fourBitBlobBytes);
            }
            double bytesPerSecond = fourBitBlobBytes / (MIXTRAL_COPY_TO_LAYER * layerMs / 1e3);
            return new LinkCalibration(layerMs, bits, blobBytes, fourBitBlobBytes, bytesPerSecond);
        }

        /** Time to copy one of this run's experts, in ms. */
        public double copyMs() {
            return blobBytes / bytesPerSecond * 1e3;
        }

        /** This run's expert copy time over the layer compute time ({@link #MIXTRAL_COPY_TO_LAYER} at 4 bits). */
        public double copyToLayer() {
            return copyMs() / layerMs;
        }

        public String describe() {
            return String.format(Locale.ROOT, "emulated link %.3f GB/s: a 4-bit expert (%.2f MiB) copies in %.2f ms = %.1f x"
                            + " the measured %.3f ms of compute per layer (Mixtral-8x7B on PCIe 4.0: 3.7 ms / 0.5 ms);"
                            + " this run's %d-bit experts (%.2f MiB) copy in %.2f ms = %.2f x",
                    bytesPerSecond / 1e9, fourBitBlobBytes / 1048576.0, fourBitBlobBytes / bytesPerSecond * 1e3,
                    MIXTRAL_COPY_TO_LAYER, layerMs, bits, blobBytes / 1048576.0, copyMs(), copyToLayer());
        }
    }

    /** The share of the gap a hit rate closes, or "no gap" when LRU already reaches Belady (k = top-k per layer). */
    private static String gapText(HitRateCeilings c, double hitRate) {
        double g = c.gapClosed(hitRate);
        return Double.isNaN(g) ? "no gap" : String.format(Locale.ROOT, "%+.0f %%", 100 * g);
    }

    private static double share(long part, long whole) {
        return whole == 0 ? 0 : part / (double) whole;
    }

    private static final int LOOKUPS = 0, HITS = 1, COPIED = 2, PREFETCHES = 3, PREFETCHES_USED = 4, DEMAND_COPIED = 5,
            STAGED_STARTED = 6, STAGED_USED = 7, STAGED_BYTES = 8, STAGED_USED_BYTES = 9, UNTRUSTED_LOOKUPS = 10,
            SCHEDULED_LOOKUPS = 11, WINDOWS_PLANNED = 12, WINDOWS_THROTTLED = 13, RECURRENCE_LOOKUPS = 14, BOTH_LOOKUPS = 15,
            HEADS_LOOKUPS = 16, HEADS_D1_HITS = 17, HEADS_D1_SCORED = 18, HEADS_NEXT_HITS = 19, HEADS_NEXT_SCORED = 20,
            SHARES_KEPT_LOOKUPS = 21, DEMAND_ISSUE_NANOS = 22, DEMAND_ISSUE_LAYERS = 23, TR_TOKENS = 24,
            TR_PREDICTED_TOKENS = 25, TR_PREDICTED_EXPERTS = 26, TR_CHOSEN_EXPERTS = 27, STAGED_DISPLACED_BYTES = 28,
            STAGED_GIVEN_UP_BYTES = 29, WINDOW_NANOS = 30, IDLE_BELOW_BUDGET_NANOS = 31, IDLE_BEYOND_BUDGET_NANOS = 32,
            PAST_WINDOW_NANOS = 33, COUNTS = 34;

    /** The counters at the indices above, so far (zeros when nothing is offloaded). */
    private static long[] countsOf(MoeModel model) {
        long[] c = new long[COUNTS];
        if (!(model.experts() instanceof OffloadedExperts off)) return c;
        CacheStats s = off.stats();
        c[LOOKUPS] = s.lookups();
        c[HITS] = s.hits();
        c[COPIED] = off.linkBytes();
        c[PREFETCHES] = s.prefetchesIssued();
        c[PREFETCHES_USED] = s.prefetchesUsed();
        c[DEMAND_COPIED] = off.demandBytes();
        c[DEMAND_ISSUE_NANOS] = off.demandIssueNanos();
        c[DEMAND_ISSUE_LAYERS] = off.demandIssueLayers();
        EvictionFollowed f = off.evictionFollowed();
        c[UNTRUSTED_LOOKUPS] = f.untrusted();
        c[SCHEDULED_LOOKUPS] = f.lookups();
        c[RECURRENCE_LOOKUPS] = f.recurrence();
        c[BOTH_LOOKUPS] = f.predictorAndRecurrence();
        c[HEADS_LOOKUPS] = f.predictor();
        c[SHARES_KEPT_LOOKUPS] = f.sharesKept();
        if (off.headRecall() != null) { // the heads' live recall at the next layer and at the next token's same layer
            int layers = model.config().numHiddenLayers();
            c[HEADS_D1_HITS] = off.headRecall().hits(1);
            c[HEADS_D1_SCORED] = off.headRecall().scored(1);
            c[HEADS_NEXT_HITS] = off.headRecall().hits(layers);
            c[HEADS_NEXT_SCORED] = off.headRecall().scored(layers);
        }
        TokenRecurrence.Counts tr = off.tokenRecurrenceCounts();
        if (tr != null) {
            c[TR_TOKENS] = tr.tokens();
            c[TR_PREDICTED_TOKENS] = tr.predictedTokens();
            c[TR_PREDICTED_EXPERTS] = tr.predictedExperts();
            c[TR_CHOSEN_EXPERTS] = tr.chosenExperts();
        }
        StagedPrefetch.Stats st = off.stagingStats();
        if (st != null) {
            c[STAGED_STARTED] = st.started;
            c[STAGED_USED] = st.used;
            c[STAGED_BYTES] = st.bytesIssued;
            c[STAGED_USED_BYTES] = st.bytesUsed;
            c[STAGED_DISPLACED_BYTES] = st.bytesDisplacedByBypass;
            c[STAGED_GIVEN_UP_BYTES] = st.bytesGivenUp;
            c[WINDOWS_PLANNED] = st.windowsPlanned;
            c[WINDOWS_THROTTLED] = st.windowsThrottled;
            c[WINDOW_NANOS] = st.windowNanos;
            c[IDLE_BELOW_BUDGET_NANOS] = st.idleBelowBudgetNanos;
            c[IDLE_BEYOND_BUDGET_NANOS] = st.idleBeyondBudgetNanos;
            c[PAST_WINDOW_NANOS] = st.pastWindowNanos;
        }
        return c;
    }

    private static double stallOf(MoeModel model) {
        return model.experts() instanceof OffloadedExperts off ? off.stallMillis() : 0;
    }

    /**
     * The table, with speed-ups against the row of {@code baseline} (when present), and, with ceilings, the fraction
     * of the LRU → Belady hit-rate gap each offloading row closes.
     */
    public static String table(Result result, String baseline) {
        HitRateCeilings c = result.ceilings();
        StringBuilder sb = new StringBuilder(table(result.rows(), baseline));
        if (result.linkBytesPerSecond() > 0) {
            sb.append(String.format(Locale.ROOT, "decode time / overlap bound max(compute %.2f ms, copied bytes / link) per"
                    + " token%s:", result.computeMsPerToken(), result.rounds() > 1 ? " (medians over rounds)" : ""));
            for (Row r : result.rows()) {
                if (r.policy().equals("all-resident")) continue;
                sb.append(String.format(Locale.ROOT, " %s %.2f", r.policy(), result.timeOverBound(r)));
            }
            sb.append('\n');
        }
        List<Row> issued = result.rows().stream().filter(r -> !Double.isNaN(r.demandIssueMicros())).toList();
        if (!issued.isEmpty()) {
            sb.append("host time from a layer's expert planning to its first demand copy call (mean over the decode layers"
                    + " with one):");
            for (Row r : issued) sb.append(String.format(Locale.ROOT, " %s %.1f us", r.policy(), r.demandIssueMicros()));
            sb.append('\n');
        }
        if (c == null) return sb.toString();
        sb.append(c.describe()).append('\n');
        sb.append("effective hit rate (1 - copies / lookups, staged bytes no miss used counted) and the share of the"
                + " LRU -> Belady (per layer) gap it closes:");
        for (Row r : result.rows()) {
            if (r.policy().equals("all-resident")) continue;
            double h = c.effectiveHitRate(r.copiedMiBPerToken() * 1048576.0, result.expertBytes());
            sb.append(String.format(Locale.ROOT, " %s %.3f (%s)", r.policy(), h, gapText(c, h)));
        }
        sb.append('\n');
        List<Row> scheduled = result.rows().stream().filter(r -> ResidencyPolicies.byName(r.policy()).scheduled()).toList();
        if (!scheduled.isEmpty()) {
            sb.append("self-checks: share of lookups evicted by the heads with the routing recurrence / the heads alone /"
                    + " the recurrence alone / recent uses because every prediction evicted worse than LRU (shadow caches), share of"
                    + " staging windows skipped because too few staged bytes were used:");
            for (Row r : scheduled) {
                EvictionFollowed f = r.checks().followed();
                sb.append(String.format(Locale.ROOT, " %s %.0f / %.0f / %.0f / %.0f %%, %.0f %%", r.policy(),
                        100 * f.share(f.predictorAndRecurrence()), 100 * f.share(f.predictor()),
                        100 * f.share(f.recurrence()), 100 * f.share(f.untrusted()), 100 * r.checks().staged().throttledShare()));
                if (ResidencyPolicies.byName(r.policy()).placement() == ResidencyPolicy.Placement.GLOBAL_POOL) {
                    sb.append(String.format(Locale.ROOT, " (one pool: layer shares kept for %.0f %%)",
                            100 * f.share(f.sharesKept())));
                }
            }
            sb.append("\nthe heads' live recall@k at the next layer / the next token's same layer (chance: top-k / experts):");
            for (Row r : scheduled) {
                sb.append(String.format(Locale.ROOT, " %s %.2f / %.2f", r.policy(), r.checks().recallNextLayer(),
                        r.checks().recallNextToken()));
            }
            sb.append('\n');
            List<Row> recurring = scheduled.stream().filter(r -> !Double.isNaN(r.checks().recurrenceCoverage())).toList();
            if (!recurring.isEmpty()) {
                sb.append("token recurrence (the next token's experts as they followed the last earlier occurrence of the"
                        + " same two token ids, staged): decode tokens with a prediction, share of its experts then chosen:");
                for (Row r : recurring) {
                    sb.append(String.format(Locale.ROOT, " %s %.0f %%, %.2f", r.policy(), 100 * r.checks().recurrenceCoverage(),
                            r.checks().recurrencePrecision()));
                }
                sb.append('\n');
            }
        }
        List<Row> staged = result.rows().stream().filter(r -> r.checks().staged().started() > 0).toList();
        if (staged.isEmpty()) return sb.toString();
        sb.append("eviction alone (1 - the copies misses needed / lookups: a miss served from staged bytes counts as a"
                + " copy, staged bytes no miss used do not) and the gap it closes:");
        for (Row r : staged) {
            double h = c.effectiveHitRate(r.checks().staged().demandMiBPerToken() * 1048576.0, result.expertBytes());
            sb.append(String.format(Locale.ROOT, " %s %.3f (%s)", r.policy(), h, gapText(c, h)));
        }
        sb.append("\nstaged copies (background, into the staging slots): misses served / experts started, MiB staged per"
                + " token (used by misses; not used: overwritten by bypasses before their step / given up for likelier"
                + " targets / guesses their layer did not choose):");
        for (Row r : staged) {
            Staged s = r.checks().staged();
            double guesses = s.wastedMiBPerToken() - s.displacedMiBPerToken() - s.givenUpMiBPerToken();
            sb.append(String.format(Locale.ROOT, " %s %d/%d, %.3f (%.3f; %.3f / %.3f / %.3f)", r.policy(), s.used(),
                    s.started(), s.stagedMiBPerToken(), s.usedMiBPerToken(), s.displacedMiBPerToken(),
                    s.givenUpMiBPerToken(), guesses));
        }
        sb.append("\nstaging windows (the link's time after a layer's demand copies until the next layer's demand), ms per"
                + " token: length, link idle in them (fewer bytes worth staging than the window's budget / the window"
                + " outlasted its budget), staged past the window (the next demand copies waited):");
        for (Row r : staged) {
            Windows w = r.checks().staged().windows();
            sb.append(String.format(Locale.ROOT, " %s %.3f, %.3f (%.3f / %.3f), %.3f", r.policy(), w.lengthMs(), w.idleMs(),
                    w.idleBelowBudgetMs(), w.idleBeyondBudgetMs(), w.pastWindowMs()));
        }
        return sb.append('\n').toString();
    }

    /**
     * The table, with speed-ups against the row of {@code baseline} (when present). With several rounds the speed-up is
     * the median over rounds of the two policies' speeds in the same round, with its range over the rounds.
     */
    public static String table(List<Row> rows, String baseline) {
        Row base = rows.stream().filter(r -> r.policy().equals(baseline)).findFirst().orElse(null);
        boolean spread = rows.stream().anyMatch(r -> r.rounds().size() > 1);
        String vs = spread ? "%18s" : "%9s";
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-20s %10s " + vs + " %9s %12s %13s %11s %6s%n", "policy", "decode t/s",
                "vs " + abbreviate(baseline), "hit rate", "stall ms/tok", "copied MiB/tok", "prefetch u/i", "same"));
        for (Row r : rows) {
            String ratio;
            if (base == null) {
                ratio = String.format(Locale.ROOT, vs, "-"); // the baseline was not benched
            } else {
                Rounds.Spread s = Rounds.Spread.of(Rounds.perRoundRatios(r.roundTokensPerSecond(), base.roundTokensPerSecond()));
                ratio = spread
                        ? String.format(Locale.ROOT, "%18s", String.format(Locale.ROOT, "%.2fx (%.2f-%.2f)", s.median(), s.min(), s.max()))
                        : String.format(Locale.ROOT, "%8.2fx", s.median());
            }
            sb.append(String.format(Locale.ROOT, "%-20s %10.1f %s %9.3f %12.2f %13.2f %11s %6s%n", r.policy(),
                    r.decodeTokensPerSecond(), ratio, r.hitRate(), r.stallMsPerToken(),
                    r.copiedMiBPerToken(), r.prefetchesUsed() + "/" + r.prefetchesIssued(), r.sameTokens() ? "yes" : "NO"));
        }
        if (base == null) sb.append("vs ").append(abbreviate(baseline)).append(": ").append(baseline).append(" was not benched\n");
        if (spread) {
            sb.append("decode t/s, vs ").append(abbreviate(baseline)).append(" (range over rounds) and stall: medians over"
                    + " rounds; hit rate, copied MiB/tok: all rounds together; prefetch u/i: summed over rounds\n");
        }
        return sb.toString();
    }

    private static String abbreviate(String policy) {
        return policy.equals("mixtral-offloading") ? "m-o" : policy;
    }
}
