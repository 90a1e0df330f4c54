package dev.lookahead.quant;

import dev.lookahead.model.ArchitectureSpec.Role;

/**
 * The conversion of one source tensor.
 *
 * @param name        the source (Hugging Face) tensor name
 * @param weights     its element count
 * @param storedBytes bytes in the output (codes + scales + zeros, or fp16 data)
 * @param nmse        sum (w - stored w)^2 / sum w^2
 */
public record TensorStats(String name, Role role, long weights, long storedBytes, double nmse) {

    /** storedBytes * 8 / weights. */
    public double bitsPerWeight() {
        return weights == 0 ? 0 : storedBytes * 8.0 / weights;
    }
}
