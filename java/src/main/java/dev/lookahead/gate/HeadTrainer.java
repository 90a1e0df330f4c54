package dev.lookahead.gate;

import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * Trains one head on its own: Adam on mini-batches of the fitting tokens (shuffled each epoch),
 * keeping the weights with the lowest validation KL seen (starting with the initial weights, so
 * training never ends worse on validation than it started) and stopping after
 * {@code patience} epochs without improvement.
 */
final class HeadTrainer {
    /** The trained weights and how training went. */
    record Outcome(double[] parameters, int epochs, int bestEpoch, double validationKlBefore, double validationKlAfter) {
    }

    private HeadTrainer() {
    }

    /**
     * @param onEpoch called after each epoch with the epoch number (for progress)
     */
    static Outcome train(HeadObjective objective, HeadId id, double[] init, Split split, AlignOptions o, IntConsumer onEpoch) {
        double[] w = init.clone();
        double[] best = w.clone();
        double bestKl = objective.loss(w, split.validationStart(), split.heldoutStart());
        double klBefore = bestKl;
        int bestEpoch = 0, epoch = 0;

        Adam adam = new Adam(w.length, o.lr());
        double[] grad = new double[w.length];
        int[] order = new int[split.fitTokens()];
        for (int i = 0; i < order.length; i++) order[i] = i;
        SplittableRandom random = new SplittableRandom(o.seed() * 1_000_003L + id.layer() * 1_009L + id.distance());
        while (epoch < o.epochs() && epoch - bestEpoch < o.patience()) {
            epoch++;
            shuffle(order, random);
            for (int from = 0; from < order.length; from += o.batch()) {
                int to = Math.min(order.length, from + o.batch());
                java.util.Arrays.fill(grad, 0);
                objective.lossAndGradient(w, order, from, to, grad);
                adam.step(w, grad);
            }
            double kl = objective.loss(w, split.validationStart(), split.heldoutStart());
            if (kl < bestKl) {
                bestKl = kl;
                bestEpoch = epoch;
                System.arraycopy(w, 0, best, 0, w.length);
            }
            onEpoch.accept(epoch);
        }
        return new Outcome(best, epoch, bestEpoch, klBefore, bestKl);
    }

    private static void shuffle(int[] a, SplittableRandom random) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
}
