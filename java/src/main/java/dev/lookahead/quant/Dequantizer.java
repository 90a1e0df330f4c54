package dev.lookahead.quant;

import dev.lookahead.bindings.QuantFormat;
import java.lang.foreign.MemorySegment;

/**
 * w[r][c] = scale[r][g] * (q[r][c] - zero[r][g]), g = c / group, computed in float as the ABI
 * defines it. A reference for tests and tools, not a fast path.
 */
public final class Dequantizer {
    private Dequantizer() {}

    /** Dequantizes in-memory arrays (codes packed [rows, rowBytes], fp16 bits [rows, ngroups]). */
    public static float[] dequantize(QuantFormat f, int rows, int cols, byte[] codes, short[] scales, short[] zeros) {
        return dequantize(new QuantizedView(f, rows, cols, MemorySegment.ofArray(codes),
                MemorySegment.ofArray(Fp16.toBytes(scales)), MemorySegment.ofArray(Fp16.toBytes(zeros))));
    }

    /** Dequantizes a stored matrix. */
    public static float[] dequantize(QuantizedView v) {
        QuantFormat f = v.format();
        int rows = Math.toIntExact(v.rows());
        int cols = Math.toIntExact(v.cols());
        int ngroups = Math.toIntExact(f.groups(cols));
        int rowBytes = Math.toIntExact(f.rowBytes(cols));
        float[] out = new float[Math.multiplyExact(rows, cols)];
        byte[] packed = new byte[rowBytes];
        byte[] q = new byte[cols];
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(v.codes(), (long) r * rowBytes, MemorySegment.ofArray(packed), 0, rowBytes);
            f.unpackRow(packed, 0, cols, q, 0);
            short[] s = Fp16.read(v.scales(), (long) r * ngroups * 2, ngroups);
            short[] z = Fp16.read(v.zeros(), (long) r * ngroups * 2, ngroups);
            for (int c = 0; c < cols; c++) {
                int g = c / f.groupSize();
                float scale = Float.float16ToFloat(s[g]);
                float zero = Float.float16ToFloat(z[g]);
                out[r * cols + c] = scale * ((q[c] & 0xFF) - zero);
            }
        }
        return out;
    }
}
