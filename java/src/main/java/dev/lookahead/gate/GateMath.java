package dev.lookahead.gate;

/** The small dense math of the gate: RMS normalisation, matrix-vector logits, softmax, top-k. */
final class GateMath {
    private GateMath() {
    }

    /** out[outOff..+n) = x[off..+n) / sqrt(mean(x^2) + eps): RMSNorm without its weight. */
    static void rmsNormalize(float[] x, int off, int n, double eps, float[] out, int outOff) {
        double ss = 0;
        for (int i = 0; i < n; i++) {
            double v = x[off + i];
            ss += v * v;
        }
        double inv = 1.0 / Math.sqrt(ss / n + eps);
        for (int i = 0; i < n; i++) out[outOff + i] = (float) (x[off + i] * inv);
    }

    /** out[r] = w[r, :] . x[off..+cols), w row-major [rows, cols]; accumulated in double. */
    static void matVec(float[] w, int rows, int cols, float[] x, int off, double[] out) {
        for (int r = 0; r < rows; r++) {
            double s = 0;
            int base = r * cols;
            for (int c = 0; c < cols; c++) s += (double) w[base + c] * x[off + c];
            out[r] = s;
        }
    }

    /** Softmax of logits into probs (both [n]), max-subtracted; returns log of the partition sum. */
    static double softmax(double[] logits, double[] probs, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, logits[i]);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            probs[i] = Math.exp(logits[i] - max);
            sum += probs[i];
        }
        for (int i = 0; i < n; i++) probs[i] /= sum;
        return max + Math.log(sum);
    }

    /**
     * Indices of the k largest of v[off..+n), largest first; ties go to the lower index (as the
     * router's top-k does).
     */
    static int[] topK(double[] v, int n, int k) {
        return topK(i -> v[i], n, k);
    }

    static int[] topK(float[] v, int off, int n, int k) {
        return topK(i -> v[off + i], n, k);
    }

    private interface Values {
        double at(int i);
    }

    private static int[] topK(Values v, int n, int k) {
        if (k < 1 || k > n) throw new IllegalArgumentException("k must be in [1, " + n + "], got " + k);
        int[] idx = new int[k];
        boolean[] taken = new boolean[n];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int i = 0; i < n; i++) {
                if (!taken[i] && (best < 0 || v.at(i) > v.at(best))) best = i;
            }
            taken[best] = true;
            idx[j] = best;
        }
        return idx;
    }
}
