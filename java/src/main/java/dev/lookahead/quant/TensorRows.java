package dev.lookahead.quant;

import dev.lookahead.model.CheckpointException;
import dev.lookahead.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Bulk reads of F32 / F16 / BF16 source tensors into float arrays (rows of a mapped file). */
final class TensorRows {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TensorRows() {}

    /** Elements [from, from + count) of {@code t} (row-major) into {@code dst[0, count)}. */
    static void read(Tensor t, long from, int count, float[] dst) {
        MemorySegment s = t.segment();
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(s, F32, from * 4, dst, 0, count);
            case F16 -> {
                short[] h = Fp16.read(s, from * 2, count);
                for (int i = 0; i < count; i++) {
                    dst[i] = Float.float16ToFloat(h[i]);
                }
            }
            case BF16 -> {
                short[] h = Fp16.read(s, from * 2, count);
                for (int i = 0; i < count; i++) {
                    dst[i] = Float.intBitsToFloat((h[i] & 0xFFFF) << 16);
                }
            }
            default -> throw new CheckpointException(t.file(), t.name(), "unsupported source dtype " + t.dtype()
                    + " (supported: F32, F16, BF16)");
        }
    }
}
