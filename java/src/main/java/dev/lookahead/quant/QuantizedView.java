package dev.lookahead.quant;

import dev.lookahead.bindings.QuantFormat;
import java.lang.foreign.MemorySegment;

/**
 * A quantized matrix as stored: views of its codes, fp16 scales and fp16 zeros (slices of a
 * mapped checkpoint or of an expert blob), with the sizes checked against the format.
 *
 * @param codes  uint8 [rows, rowBytes]
 * @param scales fp16 [rows, ngroups], little-endian
 * @param zeros  fp16 [rows, ngroups], little-endian
 */
public record QuantizedView(QuantFormat format, long rows, long cols, MemorySegment codes, MemorySegment scales,
        MemorySegment zeros) {

    public QuantizedView {
        check("codes", codes, format.codeBytes(rows, cols));
        check("scales", scales, format.scaleBytes(rows, cols));
        check("zeros", zeros, format.zeroBytes(rows, cols));
    }

    private static void check(String what, MemorySegment s, long expected) {
        if (s.byteSize() != expected) {
            throw new IllegalArgumentException(what + " has " + s.byteSize() + " bytes, expected " + expected);
        }
    }

    /** The dequantized matrix, row-major (for tests and tools; needs rows * cols to fit an array). */
    public float[] dequantize() {
        return Dequantizer.dequantize(this);
    }
}
