package dev.lookahead.model;

import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * Element types that may appear in a safetensors header, with their size in bytes.
 *
 * <p>Only {@link #F32}, {@link #F16} and {@link #BF16} are weight types the engine computes with
 * ({@link #FLOATS}); the others are recognised so that a header using them is still readable
 * (e.g. packed quantized data stored as {@link #U8}, or an I64 buffer left over in an old
 * checkpoint) and so that asking for their data gives "unsupported dtype" instead of "unknown".
 * Sub-byte types (F4, F6_*) are not listed: a header using them is rejected as unknown.
 */
public enum DType {
    BOOL(1),
    U8(1),
    I8(1),
    F8_E5M2(1),
    F8_E4M3(1),
    F8_E8M0(1),
    I16(2),
    U16(2),
    F16(2),
    BF16(2),
    I32(4),
    U32(4),
    F32(4),
    F64(8),
    I64(8),
    U64(8);

    /** The floating-point weight types the engine reads: what {@code tensor(name)} accepts. */
    public static final Set<DType> FLOATS = Set.copyOf(EnumSet.of(F32, F16, BF16));

    private final int byteSize;

    DType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** The header spelling ("F32", "BF16", ...), which is the constant's name. */
    public String headerName() {
        return name();
    }

    /** The dtype spelled {@code name} in a safetensors header, if known. */
    public static Optional<DType> parse(String name) {
        for (DType t : values()) {
            if (t.name().equals(name)) {
                return Optional.of(t);
            }
        }
        return Optional.empty();
    }
}
