package dev.lookahead.engine;

import dev.lookahead.gate.HeadId;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * WHAT-IF, with replayed routing only ({@code bench --routing-from TRACE --oracle-heads R}): replaces the lookahead
 * heads' probabilities by an oracle of the replayed routing of chosen recall. It asks, on real copy engines, what heads
 * of that quality would buy at a model's shape whose own heads know nothing of the replayed routing (random weights at
 * Mixtral-8x7B's shape, docs/gpu.md); `replay`'s oracle asks the same through a time model (docs/scheduler.md,
 * section 3). No real predictor is measured here.
 *
 * <p>For each head of a decoded layer, the oracle reads the experts its target layer will route to. That is the same
 * token's later layer, or that layer of the next tokens, as the generation will replay them ({@link ForcedRouting#ahead}).
 * Each of them is kept with the head's recall, else replaced by a uniformly drawn expert the router will not choose,
 * and the expert predicted in its place gets its gate weight (the trace's, renormalised over the top-k): the oracle is as
 * confident as the router, so recall and precision are the recall in expectation. Deterministic for a seed and the
 * sequence of calls.
 */
public final class HeadOracle {
    /**
     * Recall of the heads whose target is the same token's later layer, the next token's, and the token after's (or
     * further).
     */
    public record Recalls(double sameToken, double nextToken, double laterTokens) {
        public Recalls {
            for (double r : new double[] {sameToken, nextToken, laterTokens}) {
                if (!(r >= 0 && r <= 1)) throw new IllegalArgumentException("oracle recall must be in [0, 1], got " + r);
            }
        }

        /** R0[,R1[,R2]]: a recall left out is the one before it. */
        public static Recalls of(List<Double> values) {
            if (values.isEmpty() || values.size() > 3) {
                throw new IllegalArgumentException("oracle recalls: 1 to 3 values (same token, next token, later), got "
                        + values.size());
            }
            double r0 = values.get(0), r1 = values.size() > 1 ? values.get(1) : r0, r2 = values.size() > 2 ? values.get(2) : r1;
            return new Recalls(r0, r1, r2);
        }

        double forTokensAhead(int ahead) {
            return ahead == 0 ? sameToken : ahead == 1 ? nextToken : laterTokens;
        }

        public String describe() {
            return String.format(java.util.Locale.ROOT, "%.2f (same token) / %.2f (next token) / %.2f (later tokens)",
                    sameToken, nextToken, laterTokens);
        }
    }

    private final ForcedRouting routing;
    private final Recalls recalls;
    private final SplittableRandom random;
    private final int experts;
    private final float[] probabilities;
    private final boolean[] chosen;
    private final boolean[] taken;

    public HeadOracle(ForcedRouting routing, int experts, Recalls recalls, long seed) {
        if (experts < 2 * routing.topK()) { // every chosen expert may be replaced by a wrong one
            throw new IllegalArgumentException("the oracle needs at least twice top-" + routing.topK() + " experts, the model has "
                    + experts);
        }
        this.routing = routing;
        this.recalls = recalls;
        this.random = new SplittableRandom(seed);
        this.experts = experts;
        this.probabilities = new float[experts];
        this.chosen = new boolean[experts];
        this.taken = new boolean[experts];
    }

    /** After layer {@code layer} of trace token {@code token} was read back: its heads' probabilities, replaced. */
    void apply(DeviceGate gate, int layer, int token) {
        int layers = routing.layers();
        List<HeadId> heads = gate.headsFrom(layer);
        for (int h = 0; h < heads.size(); h++) {
            HeadId head = heads.get(h);
            int ahead = head.tokensAhead(layers);
            int target = routing.ahead(token, ahead), targetLayer = head.targetLayer(layers);
            gate.override(h, predict(routing.experts(target, targetLayer), routing.weights(target, targetLayer),
                    recalls.forTokensAhead(ahead)));
        }
    }

    /** The oracle's distribution over the experts for a layer that will choose {@code truth} with {@code weights}. */
    float[] predict(int[] truth, float[] weights, double recall) {
        Arrays.fill(probabilities, 0f);
        Arrays.fill(chosen, false);
        Arrays.fill(taken, false);
        for (int e : truth) chosen[e] = true;
        for (int i = 0; i < truth.length; i++) {
            int pick = truth[i];
            if (random.nextDouble() >= recall) {
                do {
                    pick = random.nextInt(experts);
                } while (chosen[pick] || taken[pick]);
            }
            taken[pick] = true;
            probabilities[pick] = weights[i];
        }
        return probabilities;
    }
}
