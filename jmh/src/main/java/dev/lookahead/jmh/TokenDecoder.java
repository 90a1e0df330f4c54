package dev.lookahead.jmh;

/** One engine's greedy single-token decode step over its own KV cache. */
interface TokenDecoder extends AutoCloseable {
    /** Runs {@code token} at position {@code pos} (the cache holds 0 .. pos - 1) and returns the argmax. */
    int step(int token, int pos);

    @Override
    void close();

    /** Index of the largest value; the lowest index among equals. */
    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
