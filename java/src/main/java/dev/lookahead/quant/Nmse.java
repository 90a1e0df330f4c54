package dev.lookahead.quant;

/** Normalised mean squared error: sum (a - b)^2 / sum a^2, with a the reference. */
public final class Nmse {
    private Nmse() {}

    /** NMSE of {@code got} against {@code reference}. */
    public static double of(float[] reference, float[] got) {
        double[] wide = new double[reference.length];
        for (int i = 0; i < wide.length; i++) wide[i] = reference[i];
        return of(wide, got);
    }

    /** NMSE of {@code got} against a double-precision {@code reference}. */
    public static double of(double[] reference, float[] got) {
        if (reference.length != got.length) {
            throw new IllegalArgumentException("lengths differ: " + reference.length + " vs " + got.length);
        }
        double sse = 0;
        double ssq = 0;
        for (int i = 0; i < reference.length; i++) {
            double d = reference[i] - got[i];
            sse += d * d;
            ssq += reference[i] * reference[i];
        }
        return ratio(sse, ssq);
    }

    /** sse / ssq, defined as 0 when both are 0 and infinite when only ssq is. */
    public static double ratio(double sse, double ssq) {
        if (ssq == 0) {
            return sse == 0 ? 0 : Double.POSITIVE_INFINITY;
        }
        return sse / ssq;
    }
}
