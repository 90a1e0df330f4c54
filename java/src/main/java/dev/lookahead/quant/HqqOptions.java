package dev.lookahead.quant;

/**
 * Parameters of the HQQ-style refinement of a group's zero (and optionally scale); see
 * {@link GroupQuantizer} and docs/quantized-format.md for exactly what is computed.
 *
 * @param iterations  half-quadratic iterations of the zero update (HQQ's default: 20)
 * @param lpNorm      p of the lp "norm" of the error, 0 &lt; p &lt;= 1 (HQQ: 0.7); p &lt; 1 lets a
 *                    few large errors (outliers) stay large instead of pulling the zero
 * @param beta        initial penalty of the splitting, in code units (HQQ: 10)
 * @param kappa       growth of beta per iteration, &gt; 1 (HQQ: 1.01)
 * @param scaleRounds rounds of the least-squares (scale, zero) refit given the codes; 0 = zero only
 */
public record HqqOptions(int iterations, double lpNorm, double beta, double kappa, int scaleRounds) {

    /**
     * HQQ's published defaults for the zero update (20 iterations, p 0.7, beta 10, kappa 1.01),
     * plus up to 10 least-squares (scale, zero) rounds: on Gaussian weights the refit has
     * converged by then (5 rounds reach within 2 % of it at g64, 2 rounds within 11 %).
     */
    public static final HqqOptions DEFAULT = new HqqOptions(20, 0.7, 10.0, 1.01, 10);

    public HqqOptions {
        if (iterations < 0 || iterations > 1000) {
            throw new IllegalArgumentException("iterations must be in [0, 1000], got " + iterations);
        }
        if (!(lpNorm > 0 && lpNorm <= 1)) {
            throw new IllegalArgumentException("lpNorm must be in (0, 1], got " + lpNorm);
        }
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw new IllegalArgumentException("beta must be a positive number, got " + beta);
        }
        if (!(kappa >= 1) || Double.isInfinite(kappa)) {
            throw new IllegalArgumentException("kappa must be >= 1, got " + kappa);
        }
        if (scaleRounds < 0 || scaleRounds > 100) {
            throw new IllegalArgumentException("scaleRounds must be in [0, 100], got " + scaleRounds);
        }
    }

    /** The form stored in the checkpoint metadata, e.g. "iters=20,p=0.7,beta=10.0,kappa=1.01,scale_rounds=2". */
    public String describe() {
        return "iters=" + iterations + ",p=" + lpNorm + ",beta=" + beta + ",kappa=" + kappa
                + ",scale_rounds=" + scaleRounds;
    }
}
