package dev.lookahead.sched;

import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ReplayResult;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;

import java.util.Objects;

/**
 * Replays a routing trace through the {@link SpeculativeScheduler} the engine uses, with the copy/compute time model
 * of {@code ReplaySimulator} ({@link SimulatedLink}): the same link (FIFO, one copy at a time), the same layer
 * timing, so its rows compare with the other policies'.
 *
 * <p>Per token t and layer l: the layer starts at S (end of the previous layer); {@link SpeculativeScheduler#demand}
 * looks up the chosen experts and submits the misses at S (if every slot is in flight, S moves to the end of the
 * awaited copy), after the predictor has predicted layer l of the next tokens for eviction (if it can: the engine's
 * next-token heads run with the layer's router); the predictor observes the choice and predicts layers l+1 .. l+D, and
 * {@link SpeculativeScheduler#speculate} submits speculative copies at S, behind the misses. The layer ends at
 * max(S + compute, end of the copy of every chosen expert). Unlike {@code ReplaySimulator}, a slot stays FILLING
 * until its copy has ended in model time, so in-flight copies cannot be evicted and count against the budget.
 */
public final class ScheduledReplay {
    /**
     * @param result    the row for the comparison tables
     * @param scheduler the scheduler's counters (useful and wasted speculative copies, throttling)
     * @param recall    recall@k of the predictions per distance
     * @param followed  the demand lookups made while eviction followed each estimate ({@link EvictionFollowed})
     */
    public record Result(ReplayResult result, SchedulerStats scheduler, PredictionRecall recall, String predictor,
                         SchedulerConfig config, EvictionFollowed followed) {
    }

    private ScheduledReplay() {
    }

    public static Result run(RoutingTrace trace, ResidencyPolicy policy, int slotsPerLayer, TimingModel timing,
                             LookaheadPredictor predictor, SchedulerConfig config) {
        Objects.requireNonNull(trace, "trace");
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(timing, "timing");
        Objects.requireNonNull(predictor, "predictor");
        Objects.requireNonNull(config, "config");
        if (slotsPerLayer < trace.topK()) {
            throw new IllegalArgumentException("slots per layer (" + slotsPerLayer + ") must be at least the experts each"
                    + " layer chooses (top-" + trace.topK() + ")");
        }
        int layers = trace.layers();
        int experts = trace.experts();
        PredictedNextUse estimator = new PredictedNextUse(layers, experts, config.farProbability(), config.recurrenceTokens());
        ExpertCache cache = policy.newCache(layers, experts, slotsPerLayer, timing.expertBytes(), estimator);
        SimulatedLink link = new SimulatedLink(cache.layout().totalSlots(), timing.copyMs());
        SpeculativeScheduler scheduler = new SpeculativeScheduler(cache, estimator, link, config, experts);
        LayerPredictions predictions = new LayerPredictions(layers, experts, config.horizon());
        PredictionRecall recall = new PredictionRecall(config.horizon(), experts);
        int[] slots = new int[trace.topK()];
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < layers; l++) {
                int[] chosen = trace.experts(t, l);
                // the engine evaluates the next-token heads of layer l with its router, before the layer's demand
                predictor.predictTokensAhead(t, l, estimator);
                scheduler.demand(t, l, chosen, chosen.length, slots);
                scheduler.afterDemand();
                double start = link.now();
                double end = start + timing.layerMs();
                for (int slot : slots) end = Math.max(end, link.readyAt(slot));
                predictor.observe(t, l, chosen);
                if (l + 1 < layers) {
                    predictor.predict(t, l, predictions);
                    for (int d = 1; d <= Math.min(predictions.horizon(), config.horizon()); d++) {
                        recall.add(predictions, d, trace.experts(t, l + d));
                    }
                    scheduler.speculate(predictions);
                }
                link.advanceTo(end);
            }
        }
        ReplayResult r = new ReplayResult(policy.name(), cache.layout().describe(), predictor.name(), trace.tokenCount(),
                layers, cache.stats(), timing, link.now());
        return new Result(r, scheduler.stats(), recall, predictor.name(), config, scheduler.evictionFollowed());
    }
}
