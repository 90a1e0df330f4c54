package dev.lookahead.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A tensor of a checkpoint: its header entry and a zero-copy, read-only view of its bytes in
 * the memory-mapped file. The view is valid until the owning {@link SafetensorsFile} (or
 * {@link Checkpoint}) is closed; using it afterwards throws {@link IllegalStateException}.
 * Bytes are little-endian, row-major, as safetensors stores them.
 */
public final class Tensor {

    private static final ValueLayout.OfFloat F32 =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final TensorInfo info;
    private final MemorySegment segment;

    Tensor(Path file, TensorInfo info, MemorySegment segment) {
        this.file = file;
        this.info = info;
        this.segment = segment;
    }

    public String name() {
        return info.name();
    }

    public DType dtype() {
        return info.dtype();
    }

    public long[] shape() {
        return info.shape();
    }

    public int rank() {
        return info.rank();
    }

    public long dim(int i) {
        return info.dim(i);
    }

    public long elementCount() {
        return info.elementCount();
    }

    public TensorInfo info() {
        return info;
    }

    /** The safetensors file this tensor's bytes live in. */
    public Path file() {
        return file;
    }

    /** Read-only view of the tensor's bytes ({@code elementCount * dtype.byteSize()} bytes). */
    public MemorySegment segment() {
        return segment;
    }

    /** Element {@code index} (row-major) of an F32, F16 or BF16 tensor, widened to float. */
    public float getFloat(long index) {
        return switch (info.dtype()) {
            case F32 -> segment.getAtIndex(F32, index);
            case F16 -> Float.float16ToFloat(segment.getAtIndex(U16, index));
            case BF16 -> Float.intBitsToFloat((segment.getAtIndex(U16, index) & 0xFFFF) << 16);
            default -> throw new CheckpointException(file, name(),
                    "unsupported dtype " + dtype() + " for float access");
        };
    }

    /** All elements widened to float; for small tensors (norms, routers, tests). */
    public float[] toFloatArray() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new CheckpointException(file, name(), "too many elements (" + n + ") for a Java array");
        }
        float[] out = new float[(int) n];
        for (int i = 0; i < out.length; i++) {
            out[i] = getFloat(i);
        }
        return out;
    }

    @Override
    public String toString() {
        return name() + " " + dtype() + Arrays.toString(info.shape()) + " in " + file;
    }
}
