package dev.lookahead.bindings.ffi;

/**
 * {@code lk_status} of lookahead.h, constant for constant. The constant names are the C names,
 * which are also what {@code lk_status_name} returns.
 */
public enum LkStatus {
    LK_OK(0),
    LK_ERR_INVALID_ARGUMENT(1),
    LK_ERR_OUT_OF_MEMORY(2),
    LK_ERR_HOST_OUT_OF_MEMORY(3),
    LK_ERR_UNSUPPORTED(4),
    LK_ERR_BACKEND_UNAVAILABLE(5),
    LK_ERR_NOT_READY(6),
    LK_ERR_DEVICE(7),
    LK_ERR_INTERNAL(8);

    private static final LkStatus[] BY_CODE = values();

    private final int code;

    LkStatus(int code) {
        this.code = code;
    }

    /** The C value of the constant. */
    public int code() {
        return code;
    }

    /** The constant with C value {@code code}, or {@code null} when the header defines none. */
    public static LkStatus ofCode(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
