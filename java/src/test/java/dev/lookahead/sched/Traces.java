package dev.lookahead.sched;

import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.SyntheticTraces;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Synthetic routing traces with known structure, for predictor and replay tests. */
final class Traces {
    private Traces() {
    }

    /** Two distinct experts in 0..experts-1. */
    private static int[] pair(SplittableRandom rnd, int experts) {
        int a = rnd.nextInt(experts);
        int b = (a + 1 + rnd.nextInt(experts - 1)) % experts;
        return new int[] {a, b};
    }

    /** Layer 0 random; layer l+1 chooses layer l's experts shifted by one: layer l+d is determined by layer l. */
    static RoutingTrace chain(long seed, int layers, int experts, int tokens) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[][]> list = new ArrayList<>();
        for (int t = 0; t < tokens; t++) {
            int[][] tok = new int[layers][];
            tok[0] = pair(rnd, experts);
            for (int l = 1; l < layers; l++) tok[l] = new int[] {(tok[l - 1][0] + 1) % experts, (tok[l - 1][1] + 1) % experts};
            list.add(tok);
        }
        return RoutingTrace.of("chain-" + seed, layers, experts, list);
    }

    /** Every layer of every token chooses two uniformly random experts. */
    static RoutingTrace uniform(long seed, int layers, int experts, int tokens) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[][]> list = new ArrayList<>();
        for (int t = 0; t < tokens; t++) {
            int[][] tok = new int[layers][];
            for (int l = 0; l < layers; l++) tok[l] = pair(rnd, experts);
            list.add(tok);
        }
        return RoutingTrace.of("uniform-" + seed, layers, experts, list);
    }

    /** Each layer repeats the previous token's choice at that layer with probability {@code repeat}. */
    static RoutingTrace sticky(long seed, int layers, int experts, int tokens, double repeat) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[][]> list = new ArrayList<>();
        int[][] prev = null;
        for (int t = 0; t < tokens; t++) {
            int[][] tok = new int[layers][];
            for (int l = 0; l < layers; l++) {
                tok[l] = prev != null && rnd.nextDouble() < repeat ? prev[l].clone() : pair(rnd, experts);
            }
            list.add(tok);
            prev = tok;
        }
        return RoutingTrace.of("sticky-" + seed, layers, experts, list);
    }

    /** Skewed popularity per layer (weights 1/rank) plus reuse of the previous token's experts: cache-friendly. */
    static RoutingTrace skewed(long seed, int layers, int experts, int tokens) {
        SplittableRandom rnd = new SplittableRandom(seed);
        double[][] w = new double[layers][experts];
        for (int l = 0; l < layers; l++) {
            for (int e = 0; e < experts; e++) w[l][(e + 3 * l) % experts] = 1.0 / (e + 1);
        }
        List<int[][]> list = new ArrayList<>();
        int[][] prev = null;
        for (int t = 0; t < tokens; t++) {
            int[][] tok = new int[layers][];
            for (int l = 0; l < layers; l++) {
                int a, b;
                do {
                    a = prev != null && rnd.nextDouble() < 0.35 ? prev[l][rnd.nextInt(2)] : SyntheticTraces.draw(rnd, w[l]);
                    b = prev != null && rnd.nextDouble() < 0.35 ? prev[l][rnd.nextInt(2)] : SyntheticTraces.draw(rnd, w[l]);
                } while (a == b);
                tok[l] = new int[] {a, b};
            }
            list.add(tok);
            prev = tok;
        }
        return RoutingTrace.of("skewed-" + seed, layers, experts, list);
    }


    /** Recall@k per distance of {@code p} over all tokens of {@code trace}. */
    static PredictionRecall recall(LookaheadPredictor p, RoutingTrace trace) {
        LayerPredictions out = new LayerPredictions(trace.layers(), trace.experts(), p.horizon());
        PredictionRecall r = new PredictionRecall(p.horizon(), trace.experts());
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < trace.layers(); l++) {
                p.observe(t, l, trace.experts(t, l));
                if (l + 1 == trace.layers()) continue;
                p.predict(t, l, out);
                for (int d = 1; d <= out.horizon(); d++) r.add(out, d, trace.experts(t, l + d));
            }
        }
        return r;
    }
}
