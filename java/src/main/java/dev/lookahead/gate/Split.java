package dev.lookahead.gate;

/**
 * How the calibration tokens [0, tokens) are used, in stream order: fitting [0, validationStart),
 * early stopping [validationStart, heldoutStart), the report [heldoutStart, tokens).
 */
public record Split(int validationStart, int heldoutStart, int tokens) {
    public static Split of(int tokens, double holdout, double validation) {
        int held = Math.max(1, (int) Math.round(tokens * holdout));
        int heldStart = tokens - held;
        int val = Math.max(1, (int) Math.round(heldStart * validation));
        int valStart = heldStart - val;
        if (valStart < 1) {
            throw new IllegalArgumentException("too few calibration tokens (" + tokens + ") to split into fitting,"
                    + " validation and held-out parts; use a longer text");
        }
        return new Split(valStart, heldStart, tokens);
    }

    public int fitTokens() {
        return validationStart;
    }

    public int validationTokens() {
        return heldoutStart - validationStart;
    }

    public int heldoutTokens() {
        return tokens - heldoutStart;
    }
}
