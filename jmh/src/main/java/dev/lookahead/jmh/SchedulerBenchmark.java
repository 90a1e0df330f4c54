package dev.lookahead.jmh;

import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.sched.CopyEngine;
import dev.lookahead.sched.LayerPredictions;
import dev.lookahead.sched.PredictedNextUse;
import dev.lookahead.sched.SchedulerConfig;
import dev.lookahead.sched.SpeculativeScheduler;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The speculative scheduler's decision cost per layer: one {@code demand} (the router's top-2)
 * plus one {@code speculate} (the heads' predictions for the next layers), as the engine calls
 * them at every decode layer. Mixtral-8x7B's shape (32 layers, 8 experts, top-2) with k slots per
 * layer; routing and predictions are drawn at random from a fixed seed, copies complete at once
 * (a fake copy engine), so this is the Java bookkeeping alone, including the eviction trust's shadow
 * caches and, with {@code recurrenceTokens} > 0, the routing recurrence. The baseline beside it is one
 * decode layer's time budget on a GPU, ~0.5 ms (DESIGN.md): the cost should be a tiny fraction of it.
 * {@code demandPerLayer} times the part that sits between a layer's router read-back and its demand copies
 * ({@code demand}), the rest of the layer's bookkeeping ({@code afterDemand}, {@code speculate}) running
 * untimed between invocations.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class SchedulerBenchmark {
    static final int LAYERS = 32, EXPERTS = 8, TOP_K = 2;
    static final long EXPERT_BYTES = 99_090_432L; // a Mixtral-8x7B 4-bit g64 blob

    @State(Scope.Benchmark)
    public static class Scheduled {
        /** Slots per layer. */
        @Param({"4"})
        public int k;
        /** Distances predicted per layer (the heads' horizon). */
        @Param({"3"})
        public int horizon;
        /** The routing recurrence's window; 0 = off (eviction by the heads alone, as before session 9). */
        @Param({"0", "8"})
        public int recurrenceTokens;
        /** Per-layer slots ({@code lookahead}) or one pool ({@code lookahead-global}). */
        @Param({ResidencyPolicies.LOOKAHEAD, ResidencyPolicies.LOOKAHEAD_GLOBAL})
        public String policy;

        SpeculativeScheduler scheduler;
        LayerPredictions predictions;
        final int[] chosen = new int[TOP_K];
        final int[] slots = new int[TOP_K];
        final SplittableRandom random = new SplittableRandom(7);
        long token;
        int layer;

        @Setup(Level.Trial)
        public void setUp() {
            SchedulerConfig config = SchedulerConfig.defaults(EXPERT_BYTES, TOP_K).withHorizon(horizon)
                    .withRecurrenceTokens(recurrenceTokens);
            PredictedNextUse estimator = new PredictedNextUse(LAYERS, EXPERTS, config.farProbability(),
                    config.recurrenceTokens());
            ExpertCache cache = ResidencyPolicies.byName(policy).newCache(LAYERS, EXPERTS, k, EXPERT_BYTES, estimator);
            CopyEngine instant = new CopyEngine() {
                @Override public void submit(ExpertId id, int slot, boolean speculative) { }
                @Override public boolean isDone(int slot) { return true; }
                @Override public void await(int slot) { }
            };
            scheduler = new SpeculativeScheduler(cache, estimator, instant, config, EXPERTS);
            predictions = new LayerPredictions(LAYERS, EXPERTS, horizon);
        }

        /** The router's top-2 for the layer about to run. */
        void route() {
            int a = random.nextInt(EXPERTS), b = (a + 1 + random.nextInt(EXPERTS - 1)) % EXPERTS;
            chosen[0] = a;
            chosen[1] = b;
        }

        int demand() {
            return scheduler.demand(token, layer, chosen, TOP_K, slots);
        }

        /** What the engine does once the layer's copies and experts are enqueued; then on to the next layer. */
        void afterDemandAndSpeculate() {
            scheduler.afterDemand();
            int h = Math.min(horizon, LAYERS - 1 - layer);
            if (h > 0) {
                predictions.reset(token, layer, h);
                for (int d = 1; d <= h; d++) {
                    for (int e = 0; e < EXPERTS; e++) predictions.set(d, e, (float) random.nextDouble());
                }
                scheduler.speculate(predictions);
            }
            if (++layer == LAYERS) {
                layer = 0;
                token++;
            }
        }
    }

    /** {@link Scheduled}, with the previous layer's bookkeeping after its demand done before each invocation. */
    @State(Scope.Benchmark)
    public static class DemandOnly extends Scheduled {
        boolean demanded;

        @Setup(Level.Invocation)
        public void nextLayer() {
            if (demanded) afterDemandAndSpeculate();
            route();
            demanded = true;
        }
    }

    /** demand + afterDemand + speculate for the next layer of a running decode. */
    @Benchmark
    public void decisionPerLayer(Scheduled s, Blackhole bh) {
        s.route();
        bh.consume(s.demand());
        s.afterDemandAndSpeculate();
    }

    /** demand alone: the host's part of the path from a layer's router to its demand copies. */
    @Benchmark
    public int demandPerLayer(DemandOnly s) {
        return s.demand();
    }
}
