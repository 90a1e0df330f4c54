package dev.lookahead.api;

/**
 * How the next token is chosen. temperature == 0 means greedy (argmax).
 *
 * @param temperature       0 for greedy, else the softmax temperature (> 0)
 * @param topK              keep the k most likely tokens (0 = no limit)
 * @param topP              keep the smallest set of tokens whose probability reaches p (1 = no limit)
 * @param repetitionPenalty > 1 discourages tokens already seen (1 = off), as in HF transformers
 * @param seed              seed of the sampler's random generator
 */
public record SamplingOptions(float temperature, int topK, float topP, float repetitionPenalty, long seed) {
    public SamplingOptions {
        if (!(temperature >= 0) || Float.isInfinite(temperature))
            throw new IllegalArgumentException("temperature must be >= 0 and finite, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("topK must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty))
            throw new IllegalArgumentException("repetitionPenalty must be > 0 and finite, got " + repetitionPenalty);
    }

    public static SamplingOptions greedy() {
        return new SamplingOptions(0f, 0, 1f, 1f, 0L);
    }

    public boolean isGreedy() {
        return temperature == 0f;
    }
}
