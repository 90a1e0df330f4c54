package dev.lookahead.quant;

import dev.lookahead.bindings.QuantFormat;

/**
 * A quantized [rows, cols] matrix in memory, in the ABI's qmatrix layout: packed codes
 * [rows, rowBytes], fp16 scales and zeros [rows, ngroups] (raw fp16 bits), plus the error the
 * quantizer measured against its input.
 *
 * @param sse sum over all weights of (w - dequantized w)^2
 * @param ssq sum over all weights of w^2
 */
public record QuantizedMatrix(QuantSpec spec, int rows, int cols, byte[] codes, short[] scales, short[] zeros,
        double sse, double ssq) {

    public QuantizedMatrix {
        QuantFormat f = spec.format();
        if (codes.length != f.codeBytes(rows, cols)) {
            throw new IllegalArgumentException("codes has " + codes.length + " bytes, expected " + f.codeBytes(rows, cols));
        }
        long params = (long) rows * f.groups(cols);
        if (scales.length != params || zeros.length != params) {
            throw new IllegalArgumentException("scales/zeros have " + scales.length + "/" + zeros.length
                    + " entries, expected rows * ngroups = " + params);
        }
    }

    /** sse / ssq: 0 for an exact quantization (an all-zero matrix included). */
    public double nmse() {
        return Nmse.ratio(sse, ssq);
    }

    /** Little-endian bytes of the scales, as stored ([rows, ngroups] fp16). */
    public byte[] scaleBytes() {
        return Fp16.toBytes(scales);
    }

    /** Little-endian bytes of the zeros. */
    public byte[] zeroBytes() {
        return Fp16.toBytes(zeros);
    }

    /** The dequantized matrix, row-major. */
    public float[] dequantize() {
        return Dequantizer.dequantize(spec.format(), rows, cols, codes, scales, zeros);
    }
}
