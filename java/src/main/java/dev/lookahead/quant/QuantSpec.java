package dev.lookahead.quant;

import dev.lookahead.bindings.QuantFormat;

/**
 * How one family of weights is quantized: {@code bits} per code, {@code group} consecutive
 * weights of a row (input dimension) sharing one fp16 scale and one fp16 zero. The bit layout is
 * the ABI's ({@link QuantFormat}, lookahead.h "Quantized weights").
 *
 * @param bits  2, 3 or 4
 * @param group a multiple of 8 in [8, 1024]
 */
public record QuantSpec(int bits, int group) {

    public QuantSpec {
        new QuantFormat(bits, group); // validates with the ABI's rules and messages
    }

    /** The ABI format (packing, sizes). */
    public QuantFormat format() {
        return new QuantFormat(bits, group);
    }

    /** Bits per weight including the fp16 scale and zero of each group: bits + 32 / group. */
    public double bitsPerWeight() {
        return bits + 32.0 / group;
    }

    /** "4-bit g64". */
    @Override
    public String toString() {
        return bits + "-bit g" + group;
    }
}
