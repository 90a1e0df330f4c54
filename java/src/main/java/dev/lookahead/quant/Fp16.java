package dev.lookahead.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Little-endian fp16 arrays as bytes, and back. */
final class Fp16 {
    static final ValueLayout.OfShort LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Fp16() {}

    static byte[] toBytes(short[] halfs) {
        byte[] out = new byte[Math.multiplyExact(halfs.length, 2)];
        MemorySegment.copy(halfs, 0, MemorySegment.ofArray(out), LE, 0, halfs.length);
        return out;
    }

    /** {@code count} fp16 values of {@code src} from byte {@code offset}. */
    static short[] read(MemorySegment src, long offset, int count) {
        short[] out = new short[count];
        MemorySegment.copy(src, LE, offset, out, 0, count);
        return out;
    }
}
