package dev.lookahead.expert;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Random routing traces with skew and temporal locality, like real routing, for property tests. */
public final class SyntheticTraces {
    private SyntheticTraces() {
    }

    /**
     * Each layer has its own popularity order (weights 1/rank); with probability 0.35 an expert of the previous
     * token's choice at the same layer is chosen again.
     */
    static RoutingTrace random(long seed, int layers, int experts, int topK, int tokens) {
        SplittableRandom rnd = new SplittableRandom(seed);
        double[][] weight = new double[layers][experts];
        for (int l = 0; l < layers; l++) {
            int[] perm = permutation(rnd, experts);
            for (int r = 0; r < experts; r++) weight[l][perm[r]] = 1.0 / (r + 1);
        }
        List<int[][]> list = new ArrayList<>();
        int[][] prev = null;
        for (int t = 0; t < tokens; t++) {
            int[][] tok = new int[layers][];
            for (int l = 0; l < layers; l++) {
                int[] chosen = new int[topK];
                boolean[] used = new boolean[experts];
                for (int i = 0; i < topK; i++) {
                    int e;
                    do {
                        if (prev != null && rnd.nextDouble() < 0.35) e = prev[l][rnd.nextInt(topK)];
                        else e = draw(rnd, weight[l]);
                    } while (used[e]);
                    used[e] = true;
                    chosen[i] = e;
                }
                tok[l] = chosen;
            }
            list.add(tok);
            prev = tok;
        }
        return RoutingTrace.of("synthetic-" + seed, layers, experts, list);
    }

    /** An index drawn with probability proportional to {@code w[i]} (the last one when rounding leaves some mass). */
    public static int draw(SplittableRandom rnd, double[] w) {
        double sum = 0;
        for (double v : w) sum += v;
        double u = rnd.nextDouble() * sum;
        for (int i = 0; i < w.length; i++) {
            u -= w[i];
            if (u < 0) return i;
        }
        return w.length - 1;
    }

    private static int[] permutation(SplittableRandom rnd, int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int tmp = p[i];
            p[i] = p[j];
            p[j] = tmp;
        }
        return p;
    }
}
