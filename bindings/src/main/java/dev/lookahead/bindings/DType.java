package dev.lookahead.bindings;

import dev.lookahead.bindings.ffi.LkCore;

/** {@code lk_dtype}: element types of tensors in device memory. */
public enum DType {
    F32(LkCore.LK_F32, 4),
    F16(LkCore.LK_F16, 2),
    BF16(LkCore.LK_BF16, 2),
    I32(LkCore.LK_I32, 4);

    private final int code;
    private final int byteSize;

    DType(int code, int byteSize) {
        this.code = code;
        this.byteSize = byteSize;
    }

    /** The lk_dtype value. */
    public int code() {
        return code;
    }

    /** Bytes per element (also the alignment native code expects). */
    public int byteSize() {
        return byteSize;
    }

    /** F32, F16 or BF16: the dtypes of dense weights, tables and KV caches. */
    public boolean isFloat() {
        return this != I32;
    }
}
