package dev.lookahead.engine;

import java.util.Arrays;

/**
 * Recall@k of the lookahead heads during generation, per distance in steps (token * layers + layer): a head of layer
 * l and distance d predicts, at step s, the experts of step s + d (a later layer of the token for d < layers, the
 * same layer of the next token for d = layers, and so on). When step s + d runs, its k chosen experts are compared with
 * the head's k most probable ones (ties to the lower index); recall@k is the share of chosen experts found there, over
 * every prediction of that distance (with k predicted and k chosen, it is the precision as well). The offline
 * counterpart is {@code lookahead align}'s report on held-out text.
 *
 * <p>Per step: {@link #chosen} once the layer's routing is read back, then {@link #predicted} for each head reading that
 * layer. Fixed memory (a ring of the predictions still pending), no allocation per step; not thread-safe.
 */
public final class LiveHeadRecall {
    private final int experts;
    private final int k;
    private final int maxDistance;
    private final long[] targetOf;   // [ring slot * (maxDistance + 1) + d]: the step a pending prediction targets, -1 none
    private final int[] top;         // [(ring slot * (maxDistance + 1) + d) * k + i]: its k most probable experts
    private final long[] hits;       // [d]
    private final long[] total;      // [d]: chosen experts scored

    /**
     * @param k           experts chosen per layer (the model's top-k)
     * @param maxDistance the longest head distance, in steps
     */
    public LiveHeadRecall(int experts, int k, int maxDistance) {
        if (experts < 1 || k < 1 || k > experts || maxDistance < 1) {
            throw new IllegalArgumentException("need experts >= k >= 1 and max distance >= 1, got " + experts + ", " + k
                    + ", " + maxDistance);
        }
        this.experts = experts;
        this.k = k;
        this.maxDistance = maxDistance;
        int cells = (maxDistance + 1) * (maxDistance + 1);
        targetOf = new long[cells];
        Arrays.fill(targetOf, -1);
        top = new int[cells * k];
        hits = new long[maxDistance + 1];
        total = new long[maxDistance + 1];
    }

    /** A head of distance {@code distance} gave {@code probabilities[0 .. experts)} at step {@code step}. */
    public void predicted(long step, int distance, float[] probabilities) {
        if (distance < 1 || distance > maxDistance) {
            throw new IllegalArgumentException("distance " + distance + " outside 1.." + maxDistance);
        }
        long target = step + distance;
        int cell = cell(target, distance);
        targetOf[cell] = target;
        int base = cell * k;
        for (int i = 0; i < k; i++) { // k passes over the experts not taken yet: k is 1 or 2 for Mixtral-style routers
            int best = -1;
            for (int e = 0; e < experts; e++) {
                if ((best < 0 || probabilities[e] > probabilities[best]) && !taken(base, i, e)) best = e;
            }
            top[base + i] = best;
        }
    }

    /** Step {@code step} chose {@code chosen[0 .. count)}: scores every prediction made for it. */
    public void chosen(long step, int[] chosen, int count) {
        for (int d = 1; d <= maxDistance; d++) {
            int cell = cell(step, d);
            if (targetOf[cell] != step) continue;
            targetOf[cell] = -1;
            for (int c = 0; c < count; c++) {
                for (int i = 0; i < k; i++) {
                    if (top[cell * k + i] == chosen[c]) {
                        hits[d]++;
                        break;
                    }
                }
            }
            total[d] += count;
        }
    }

    /** The distances some prediction was scored at, in increasing order. */
    public int[] distances() {
        return java.util.stream.IntStream.rangeClosed(1, maxDistance).filter(d -> total[d] > 0).toArray();
    }

    /** Recall@k at {@code distance}; NaN before any prediction of it was scored (or with no head that far). */
    public double recall(int distance) {
        return scored(distance) == 0 ? Double.NaN : (double) hits[distance] / total[distance];
    }

    /** Chosen experts found among the k predicted at {@code distance}. */
    public long hits(int distance) {
        return scored(distance) == 0 ? 0 : hits[distance];
    }

    /** Chosen experts scored against predictions of {@code distance}. */
    public long scored(int distance) {
        return distance >= 1 && distance <= maxDistance ? total[distance] : 0;
    }

    private boolean taken(int base, int count, int expert) {
        for (int j = 0; j < count; j++) if (top[base + j] == expert) return true;
        return false;
    }

    // a target step's predictions of each distance: the ring holds maxDistance + 1 consecutive target steps
    private int cell(long targetStep, int distance) {
        return (int) Math.floorMod(targetStep, (long) (maxDistance + 1)) * (maxDistance + 1) + distance;
    }
}
