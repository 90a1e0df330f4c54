package dev.lookahead.gate;

/**
 * Settings of layer-wise gate alignment.
 *
 * @param epochs     most passes over the fitting tokens per head
 * @param lr         Adam learning rate
 * @param batch      tokens per mini-batch
 * @param seed       seeds each head's shuffling (with the head's layer and distance, so a head's
 *                   result does not depend on which heads are trained with it)
 * @param patience   stop a head after this many epochs without a better validation KL
 * @param holdout    fraction of the calibration tokens (the last ones) held out for the report
 * @param validation fraction of the remaining tokens (their last ones) used for early stopping,
 *                   so that the held-out tokens play no part in choosing a head's weights
 */
public record AlignOptions(int epochs, double lr, int batch, long seed, int patience, double holdout, double validation) {
    public AlignOptions {
        if (epochs < 0) throw new IllegalArgumentException("epochs must be >= 0, got " + epochs);
        if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("learning rate must be > 0, got " + lr);
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        if (patience < 1) throw new IllegalArgumentException("patience must be >= 1, got " + patience);
        if (!(holdout > 0 && holdout < 1)) throw new IllegalArgumentException("holdout must be in (0, 1), got " + holdout);
        if (!(validation > 0 && validation < 1)) {
            throw new IllegalArgumentException("validation must be in (0, 1), got " + validation);
        }
    }

    /** 30 epochs, lr 1e-3, batches of 128, seed 1, patience 3, 10 % held out, 10 % of the rest for validation. */
    public static AlignOptions defaults() {
        return new AlignOptions(30, 1e-3, 128, 1, 3, 0.1, 0.1);
    }

    public AlignOptions withEpochs(int v) {
        return new AlignOptions(v, lr, batch, seed, patience, holdout, validation);
    }

    public AlignOptions withLr(double v) {
        return new AlignOptions(epochs, v, batch, seed, patience, holdout, validation);
    }

    public AlignOptions withBatch(int v) {
        return new AlignOptions(epochs, lr, v, seed, patience, holdout, validation);
    }

    public AlignOptions withSeed(long v) {
        return new AlignOptions(epochs, lr, batch, v, patience, holdout, validation);
    }

    public AlignOptions withPatience(int v) {
        return new AlignOptions(epochs, lr, batch, seed, v, holdout, validation);
    }
}
