package dev.lookahead.quant;

import dev.lookahead.model.ArchitectureSpec.Role;

/**
 * Error and size of all tensors of one role after conversion.
 *
 * @param tensors       tensors of this role
 * @param weights       their total weight count
 * @param storedBytes   bytes they occupy in the output (codes + scales + zeros, or fp16 data;
 *                      expert blob padding excluded)
 * @param meanNmse      mean over tensors of each tensor's NMSE
 * @param maxNmse       the largest tensor NMSE
 * @param pooledNmse    sum of squared errors / sum of squared weights over all tensors
 */
public record KindStats(Role role, int tensors, long weights, long storedBytes, double meanNmse, double maxNmse,
        double pooledNmse) {

    /** storedBytes * 8 / weights. */
    public double bitsPerWeight() {
        return weights == 0 ? 0 : storedBytes * 8.0 / weights;
    }

    /** Accumulates tensors of one role. */
    static final class Accumulator {
        private final Role role;
        private int tensors;
        private long weights;
        private long storedBytes;
        private double sumNmse;
        private double maxNmse;
        private double sse;
        private double ssq;

        Accumulator(Role role) {
            this.role = role;
        }

        void add(long tensorWeights, long tensorBytes, double tensorSse, double tensorSsq) {
            double nmse = Nmse.ratio(tensorSse, tensorSsq);
            tensors++;
            weights += tensorWeights;
            storedBytes += tensorBytes;
            sumNmse += nmse;
            maxNmse = Math.max(maxNmse, nmse);
            sse += tensorSse;
            ssq += tensorSsq;
        }

        KindStats result() {
            return new KindStats(role, tensors, weights, storedBytes, tensors == 0 ? 0 : sumNmse / tensors, maxNmse,
                    Nmse.ratio(sse, ssq));
        }
    }
}
