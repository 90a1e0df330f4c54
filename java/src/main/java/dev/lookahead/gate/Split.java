package dev.lookahead.gate;

/**
 * How the calibration tokens [0, tokens) are used, in stream order: fitting [0, validationStart),
 * early stopping [validationStart, heldoutStart), the report [heldoutStart, tokens).
 */
public record Split(int validationStart, int heldoutStart, int tokens) {
    public Split {
        if (!(0 < validationStart && validationStart < heldoutStart && heldoutStart < tokens)) {
            throw new IllegalArgumentException("bad split: fit [0, " + validationStart + "), validation [" + validationStart
                    + ", " + heldoutStart + "), held out [" + heldoutStart + ", " + tokens + ")");
        }
    }

    public static Split of(int tokens, double holdout, double validation) {
        int held = Math.max(1, (int) Math.round(tokens * holdout));
        if (tokens - held < 2) {
            throw new IllegalArgumentException("too few calibration tokens (" + tokens + ") to split into fitting,"
                    + " validation and held-out parts; use a longer text");
        }
        return withHeldoutAt(tokens, tokens - held, validation);
    }

    /** Held-out tokens given: [heldoutStart, tokens); validation is the last fraction of the tokens before. */
    public static Split withHeldoutAt(int tokens, int heldoutStart, double validation) {
        if (heldoutStart >= tokens) throw new IllegalArgumentException("no held-out tokens");
        int val = Math.max(1, (int) Math.round(heldoutStart * validation));
        int valStart = heldoutStart - val;
        if (valStart < 1) {
            throw new IllegalArgumentException("too few calibration tokens (" + heldoutStart + ") to split into fitting"
                    + " and validation parts; use a longer text");
        }
        return new Split(valStart, heldoutStart, tokens);
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
