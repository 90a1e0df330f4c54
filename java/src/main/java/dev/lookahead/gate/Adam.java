package dev.lookahead.gate;

/**
 * The Adam optimiser (Kingma & Ba 2015) over one parameter vector, in double precision:
 * m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g², x -= lr m̂ / (sqrt(v̂) + eps) with the
 * bias-corrected moments m̂ = m / (1 - b1^t), v̂ = v / (1 - b2^t).
 */
public final class Adam {
    private final double lr, beta1, beta2, eps;
    private final double[] m, v;
    private long t;

    public Adam(int size, double lr) {
        this(size, lr, 0.9, 0.999, 1e-8);
    }

    public Adam(int size, double lr, double beta1, double beta2, double eps) {
        if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("learning rate must be > 0, got " + lr);
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0, got " + eps);
        this.lr = lr;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.m = new double[size];
        this.v = new double[size];
    }

    /** One step: updates {@code params} in place from the gradient {@code grad} (same length). */
    public void step(double[] params, double[] grad) {
        if (params.length != m.length || grad.length != m.length) {
            throw new IllegalArgumentException("Adam over " + m.length + " parameters got " + params.length
                    + " parameters and " + grad.length + " gradients");
        }
        t++;
        double c1 = 1 - Math.pow(beta1, t), c2 = 1 - Math.pow(beta2, t);
        for (int i = 0; i < params.length; i++) {
            double g = grad[i];
            m[i] = beta1 * m[i] + (1 - beta1) * g;
            v[i] = beta2 * v[i] + (1 - beta2) * g * g;
            params[i] -= lr * (m[i] / c1) / (Math.sqrt(v[i] / c2) + eps);
        }
    }

    /** Steps taken so far. */
    public long steps() {
        return t;
    }
}
