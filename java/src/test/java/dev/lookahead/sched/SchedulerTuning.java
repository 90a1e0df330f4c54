package dev.lookahead.sched;

import dev.lookahead.expert.ReplaySimulator;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The tuning behind the defaults of {@link HistoryPredictor.Params} and {@link SchedulerConfig} (docs/scheduler.md),
 * on the TRAINING trace only, by leave-one-problem-out: for each problem, the predictor learns from the other
 * problems and the held-out problem is predicted / replayed. Not a test; run by hand:
 * <pre>
 *   java -cp java/target/lookahead.jar:java/target/test-classes dev.lookahead.sched.SchedulerTuning \
 *        ../shared/traces/mixtral-8x7b/gsm8k.jsonl [predictor|scheduler|throttle]
 * </pre>
 * "throttle" replays the whole training trace with the oracle predictor of recall r (the what-if predictor), to
 * choose the throttle's target recall for a predictor that is good enough to copy at p >= 0.5.
 */
public final class SchedulerTuning {
    private static final TimingModel TIMING = TimingModel.MIXTRAL_4BIT_PCIE4;

    record Fold(RoutingTrace heldOut, String problemKey) {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1) throw new IllegalArgumentException("usage: SchedulerTuning TRAIN.jsonl [predictor|scheduler]");
        RoutingTrace train = RoutingTrace.read(Path.of(args[0]));
        String what = args.length > 1 ? args[1] : "both";
        List<Fold> folds = folds(train);
        System.out.printf(Locale.ROOT, "%s: %d tokens, %d folds (one per problem)%n", train.source(), train.tokenCount(), folds.size());
        if (what.equals("both") || what.equals("predictor")) tunePredictor(train, folds);
        if (what.equals("both") || what.equals("scheduler")) tuneScheduler(train, folds);
        if (what.equals("both") || what.equals("throttle")) tuneThrottle(train);
    }

    static void tuneThrottle(RoutingTrace train) {
        System.out.println("\nthrottle target (oracle predictor of recall r, p >= 0.5, whole training trace): ms/token");
        SchedulerConfig base = SchedulerConfig.defaults(TIMING.expertBytes(), train.topK()).withMinProbability(0.5);
        double[] targets = {0, 0.8, 0.85, 0.9, 0.95};
        System.out.print(" k    r      LRU");
        for (double t : targets) System.out.printf(Locale.ROOT, "  T=%.2f", t);
        System.out.println();
        for (int k : new int[] {4, 6}) {
            double lru = ReplaySimulator.run(train, ResidencyPolicies.byName(ResidencyPolicies.MIXTRAL_OFFLOADING), k,
                    TIMING, null).msPerToken();
            for (double r : new double[] {0.7, 0.8, 0.9}) {
                System.out.printf(Locale.ROOT, "%2d %4.1f %8.2f", k, r, lru);
                for (double t : targets) {
                    ScheduledReplay.Result x = ScheduledReplay.run(train, ResidencyPolicies.byName(ResidencyPolicies.LOOKAHEAD),
                            k, TIMING, new OracleLookahead(train, r, base.horizon(), 1), base.withThrottle(t, base.throttledMinProbability()));
                    System.out.printf(Locale.ROOT, " %7.2f", x.result().msPerToken());
                }
                System.out.println();
            }
        }
    }

    static String key(RoutingTrace.Token t) {
        return t.dataset() + "/" + t.problemId();
    }

    static List<Fold> folds(RoutingTrace train) {
        List<String> keys = train.tokens().stream().map(SchedulerTuning::key).distinct().toList();
        List<Fold> folds = new ArrayList<>();
        for (String k : keys) {
            List<int[][]> tokens = train.tokens().stream().filter(t -> key(t).equals(k)).map(RoutingTrace.Token::experts).toList();
            folds.add(new Fold(RoutingTrace.of(train.source() + "#" + k, train.layers(), train.experts(), tokens), k));
        }
        return folds;
    }

    static HistoryPredictor learnWithout(RoutingTrace train, Fold f, int horizon, HistoryPredictor.Params p) {
        return HistoryPredictor.learn(train, t -> !key(t).equals(f.problemKey()), horizon, p);
    }

    /** Recall@k over all distances and the mean Bernoulli log-loss per (expert, target layer), held out. */
    static double[] score(RoutingTrace train, List<Fold> folds, HistoryPredictor.Params params) {
        int layers = train.layers();
        PredictionRecall recall = new PredictionRecall(layers - 1, train.experts());
        double loss = 0;
        long lossN = 0;
        for (Fold f : folds) {
            HistoryPredictor p = learnWithout(train, f, layers - 1, params);
            LayerPredictions out = new LayerPredictions(layers, train.experts(), layers - 1);
            RoutingTrace h = f.heldOut();
            for (int t = 0; t < h.tokenCount(); t++) {
                for (int l = 0; l < layers; l++) {
                    p.observe(t, l, h.experts(t, l));
                    if (l + 1 == layers) continue;
                    p.predict(t, l, out);
                    for (int d = 1; d <= out.horizon(); d++) {
                        int[] truth = h.experts(t, l + d);
                        recall.add(out, d, truth);
                        for (int e = 0; e < train.experts(); e++) {
                            double q = Math.min(1 - 1e-4, Math.max(1e-4, out.probability(d, e)));
                            boolean y = false;
                            for (int x : truth) y |= x == e;
                            loss -= y ? Math.log(q) : Math.log(1 - q);
                            lossN++;
                        }
                    }
                }
            }
        }
        return new double[] {recall.overall(), loss / lossN};
    }

    static void tunePredictor(RoutingTrace train, List<Fold> folds) {
        System.out.println("\npredictor: held-out recall@k (all distances) and log-loss per (expert, layer)");
        System.out.println("sources beta   tau reuse  recall@k  log-loss");
        for (int s : new int[] {0, 1, 2, 4, 8, 16, 32}) {
            for (double beta : new double[] {4, 16, 64}) {
                for (double tau : new double[] {1, 2, 3, 4}) {
                    for (boolean reuse : new boolean[] {false, true}) {
                        double[] sc = score(train, folds, new HistoryPredictor.Params(s, 1, beta, tau, reuse));
                        System.out.printf(Locale.ROOT, "%7d %4.0f %5.1f %5s %9.4f %9.4f%n", s, beta, tau, reuse, sc[0], sc[1]);
                    }
                }
            }
        }
    }

    static void tuneScheduler(RoutingTrace train, List<Fold> folds) {
        ResidencyPolicy lru = ResidencyPolicies.byName(ResidencyPolicies.MIXTRAL_OFFLOADING);
        double lruMs = 0;
        for (Fold f : folds) lruMs += ReplaySimulator.run(f.heldOut(), lru, 4, TIMING, null).totalMs();
        System.out.printf(Locale.ROOT, "%nscheduler (k = 4, held-out problems, history predictor): LRU total %.1f ms%n", lruMs);
        System.out.println("policy            D budget minP gamma target   total ms  vs LRU  issued useful wasted");
        long eb = TIMING.expertBytes();
        SchedulerConfig base = SchedulerConfig.defaults(eb, train.topK());
        for (String policy : List.of(ResidencyPolicies.LOOKAHEAD, ResidencyPolicies.LOOKAHEAD_GLOBAL)) {
            for (int d : new int[] {1, 4, 8, 31}) {
                for (int budget : new int[] {1, 2}) {
                    for (double minP : new double[] {0.5, 0.7, 0.9}) {
                        for (double gamma : new double[] {0.5, 0.8, 1.0}) {
                            for (double target : new double[] {0, 0.8, 0.95}) {
                                SchedulerConfig c = base.withHorizon(d).withBudget(budget * eb).withMinProbability(minP)
                                        .withDistanceDiscount(gamma).withThrottle(target, base.throttledMinProbability());
                                run(train, folds, policy, c, lruMs);
                            }
                        }
                    }
                }
            }
        }
    }

    static void run(RoutingTrace train, List<Fold> folds, String policy, SchedulerConfig c, double lruMs) {
        double ms = 0;
        long issued = 0, useful = 0, wasted = 0;
        for (Fold f : folds) {
            HistoryPredictor p = learnWithout(train, f, c.horizon(), HistoryPredictor.Params.DEFAULT);
            ScheduledReplay.Result r = ScheduledReplay.run(f.heldOut(), ResidencyPolicies.byName(policy), 4, TIMING, p, c);
            ms += r.result().totalMs();
            issued += r.scheduler().speculativeIssued();
            useful += r.scheduler().speculativeUseful();
            wasted += r.scheduler().speculativeWasted();
        }
        System.out.printf(Locale.ROOT, "%-17s %2d %6d %4.1f %5.1f %6.2f %10.1f %6.3fx %6d %6d %6d%n", policy, c.horizon(),
                c.inFlightBudgetBytes() / TIMING.expertBytes(), c.minProbability(), c.distanceDiscount(), c.targetRecall(),
                ms, lruMs / ms, issued, useful, wasted);
    }
}
