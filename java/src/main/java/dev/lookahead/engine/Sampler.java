package dev.lookahead.engine;

import dev.lookahead.api.SamplingOptions;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: repetition penalty, then greedy or
 * temperature / top-k / top-p sampling with a seeded generator, so a run is reproducible.
 * Not thread-safe: one sampler per generation.
 */
public final class Sampler {
    private final SamplingOptions options;
    private final SplittableRandom random;
    private final int[] order;       // scratch: candidate ids sorted by logit
    private final float[] probs;     // scratch: probabilities of the candidates, in `order`
    private final boolean[] penalised; // scratch: tokens already penalised this step (cleared after use)

    public Sampler(SamplingOptions options, int vocabSize) {
        this.options = options;
        this.random = new SplittableRandom(options.seed());
        this.order = new int[vocabSize];
        this.probs = new float[vocabSize];
        this.penalised = new boolean[vocabSize];
    }

    /**
     * @param logits  [vocab], modified in place by the repetition penalty
     * @param history tokens seen so far (prompt and generated), penalised once each
     */
    public int sample(float[] logits, int[] history, int historyLength) {
        applyRepetitionPenalty(logits, history, historyLength);
        if (options.isGreedy()) return argmax(logits);
        return sampleFiltered(logits);
    }

    /** CTRL-style penalty (as in HF transformers): divide positive logits, multiply negative ones. */
    private void applyRepetitionPenalty(float[] logits, int[] history, int historyLength) {
        float penalty = options.repetitionPenalty();
        if (penalty == 1.0f) return;
        // once per distinct token; the scratch flags are reset for the same tokens, not the whole vocabulary
        for (int i = 0; i < historyLength; i++) {
            int t = history[i];
            if (t < 0 || t >= logits.length || penalised[t]) continue;
            penalised[t] = true;
            logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
        }
        for (int i = 0; i < historyLength; i++) {
            int t = history[i];
            if (t >= 0 && t < logits.length) penalised[t] = false;
        }
    }

    static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    private int sampleFiltered(float[] logits) {
        int n = logits.length;
        int candidates = options.topK() > 0 ? Math.min(options.topK(), n) : n;
        selectTop(logits, candidates);

        // softmax over the candidates at the given temperature (max first, for stability)
        float invTemp = 1.0f / options.temperature();
        float max = logits[order[0]];
        double sum = 0;
        for (int i = 0; i < candidates; i++) {
            float p = (float) Math.exp((logits[order[i]] - max) * invTemp);
            probs[i] = p;
            sum += p;
        }
        // nucleus: keep the smallest prefix whose mass reaches top-p (at least one token)
        int keep = candidates;
        if (options.topP() < 1.0f) {
            double mass = 0;
            for (int i = 0; i < candidates; i++) {
                mass += probs[i] / sum;
                if (mass >= options.topP()) { keep = i + 1; break; }
            }
        }
        double keptSum = 0;
        for (int i = 0; i < keep; i++) keptSum += probs[i];
        double r = random.nextDouble() * keptSum;
        for (int i = 0; i < keep; i++) {
            r -= probs[i];
            if (r <= 0) return order[i];
        }
        return order[keep - 1];
    }

    /** Puts the `count` largest logits' ids first in `order`, sorted descending (ties: lower id first). */
    private void selectTop(float[] logits, int count) {
        int n = logits.length;
        Integer[] boxed = null;
        if (count == n || count > 256) {
            boxed = new Integer[n];
            for (int i = 0; i < n; i++) boxed[i] = i;
            Arrays.sort(boxed, (a, b) -> logits[a] != logits[b] ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
            for (int i = 0; i < count; i++) order[i] = boxed[i];
            return;
        }
        // small k: insertion into a sorted prefix, O(n k)
        int filled = 0;
        for (int id = 0; id < n; id++) {
            float v = logits[id];
            if (filled == count && !(v > logits[order[count - 1]])) continue;
            int pos = Math.min(filled, count - 1);
            while (pos > 0 && v > logits[order[pos - 1]]) {
                order[pos] = order[pos - 1];
                pos--;
            }
            order[pos] = id;
            if (filled < count) filled++;
        }
    }
}
