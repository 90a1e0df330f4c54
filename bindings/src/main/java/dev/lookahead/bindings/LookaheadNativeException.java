package dev.lookahead.bindings;

import dev.lookahead.bindings.ffi.LkStatus;
import dev.lookahead.bindings.ffi.NativeLibrary;

/**
 * A function of lookahead.h returned a status other than LK_OK. Carries the status, the C
 * function's name and the library's {@code lk_last_error()} text for the calling thread.
 */
public final class LookaheadNativeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient LkStatus status;
    private final int statusCode;
    private final String function;
    private final String nativeMessage;

    public LookaheadNativeException(int statusCode, String function, String nativeMessage) {
        super(describe(statusCode, function, nativeMessage));
        this.status = LkStatus.ofCode(statusCode);
        this.statusCode = statusCode;
        this.function = function;
        this.nativeMessage = nativeMessage;
    }

    /** Builds the exception for a failed call; reads lk_last_error(), so call it on the failing thread. */
    static LookaheadNativeException of(NativeLibrary lib, int statusCode, String function) {
        return new LookaheadNativeException(statusCode, function, lib.core().lastErrorMessage());
    }

    /** The status, or LK_ERR_INTERNAL for a code the header does not define (see {@link #statusCode()}). */
    public LkStatus status() {
        return status != null ? status : LkStatus.LK_ERR_INTERNAL;
    }

    /** The raw status code the function returned. */
    public int statusCode() {
        return statusCode;
    }

    /** The C function that failed, e.g. "lk_buffer_alloc". */
    public String function() {
        return function;
    }

    /** lk_last_error() right after the failure ("" if the library gave none). */
    public String nativeMessage() {
        return nativeMessage;
    }

    private static String describe(int code, String function, String message) {
        LkStatus s = LkStatus.ofCode(code);
        String name = s != null ? s.name() : "unknown status " + code;
        return function + " failed with " + name + (message == null || message.isEmpty() ? "" : ": " + message);
    }
}
