package dev.lookahead.bindings;

import java.util.Objects;

/**
 * A byte range {@code [offset, offset + bytes)} of a {@link DeviceBuffer}: what ops take for
 * every device pointer. Bounds are checked here; ops check size, dtype alignment, device and
 * liveness when they are called.
 */
public record DeviceSlice(DeviceBuffer buffer, long offset, long bytes) {
    public DeviceSlice {
        Objects.requireNonNull(buffer, "buffer");
        if (offset < 0 || bytes < 0 || offset > buffer.size() - bytes) {
            throw new IndexOutOfBoundsException("slice [offset " + offset + ", " + bytes
                    + " bytes) is outside the buffer of " + buffer.size() + " bytes");
        }
    }

    /** A sub-range, relative to this slice. */
    public DeviceSlice slice(long relativeOffset, long length) {
        if (relativeOffset < 0 || length < 0 || relativeOffset > bytes - length) {
            throw new IndexOutOfBoundsException("sub-slice [offset " + relativeOffset + ", " + length
                    + " bytes) is outside the slice of " + bytes + " bytes");
        }
        return new DeviceSlice(buffer, offset + relativeOffset, length);
    }

    /** The device of the buffer. */
    public Device device() {
        return buffer.device();
    }

    /** How many whole elements of {@code dtype} fit. */
    public long elements(DType dtype) {
        return bytes / dtype.byteSize();
    }

    /** Whether the byte ranges of the two slices share at least one byte. */
    public boolean overlaps(DeviceSlice other) {
        return buffer == other.buffer && offset < other.offset + other.bytes && other.offset < offset + bytes;
    }
}
