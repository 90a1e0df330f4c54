package dev.lookahead.engine;

import java.util.ArrayList;
import java.util.List;

/**
 * Per-token log-probabilities of a token stream. Protocol (the demo model's training script uses
 * the same): consecutive non-overlapping windows of {@code window} tokens, each scored on its own
 * from position 0; inside a window the token at position p predicts the token at p + 1; a last,
 * shorter window is scored if it has at least 2 tokens.
 */
public final class Scorer {
    /** One predicted token: its id, its position in the stream and log p(token | window prefix). */
    public record TokenScore(int index, int tokenId, double logProb) {
    }

    /**
     * @param tokens     the whole stream
     * @param predicted  tokens that were predicted (stream length minus one per window)
     * @param meanNll    mean negative log-likelihood per predicted token (nats)
     * @param perToken   every predicted token's score, in order (empty unless asked for)
     */
    public record Report(int tokens, int predicted, int windows, int window, double meanNll, List<TokenScore> perToken) {
        public double perplexity() {
            return Math.exp(meanNll);
        }
    }

    private Scorer() {
    }

    public static Report score(ForwardPass forward, int[] tokens, int window, long contextCapacity, boolean keepPerToken) {
        if (window < 2) throw new IllegalArgumentException("window must be >= 2 tokens, got " + window);
        if (window > contextCapacity) {
            throw new IllegalArgumentException("window of " + window + " tokens exceeds the context of " + contextCapacity);
        }
        if (tokens.length < 2) throw new IllegalArgumentException("need at least 2 tokens to score, got " + tokens.length);
        List<TokenScore> perToken = new ArrayList<>();
        double totalNll = 0;
        int predicted = 0, windows = 0;
        for (int start = 0; start < tokens.length; start += window) {
            int n = Math.min(window, tokens.length - start);
            if (n < 2) break;
            windows++;
            final int base = start;
            final double[] sum = {0};
            forward.forwardAll(tokens, start, n, 0, (i, logits) -> {
                if (i == n - 1) return;                 // the last token predicts nothing inside the window
                int target = tokens[base + i + 1];
                double lp = logProb(logits, target);
                sum[0] -= lp;
                if (keepPerToken) perToken.add(new TokenScore(base + i + 1, target, lp));
            });
            totalNll += sum[0];
            predicted += n - 1;
        }
        return new Report(tokens.length, predicted, windows, window, totalNll / predicted, perToken);
    }

    /** log softmax(logits)[target], in double precision. */
    static double logProb(float[] logits, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double sum = 0;
        for (float l : logits) sum += Math.exp(l - max);
        return logits[target] - max - Math.log(sum);
    }
}
