package dev.lookahead.bindings.ffi;

import static dev.lookahead.bindings.ffi.NativeLibrary.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/**
 * Section "core" of lookahead.h: status, errors, version, and the {@code lk_dtype} constants.
 * Methods carry the C names and C types ({@code lk_status} and enums as int, pointers as
 * MemorySegment). One instance per {@link NativeLibrary}.
 */
public final class LkCore {
    public static final int LK_F32 = 0;
    public static final int LK_F16 = 1;
    public static final int LK_BF16 = 2;
    public static final int LK_I32 = 3;

    /** Longest C string read back from the library (messages are far shorter). */
    private static final long MAX_STRING_BYTES = 1 << 16;

    private final MethodHandle lastError;
    private final MethodHandle statusName;
    private final MethodHandle abiVersion;

    LkCore(NativeLibrary lib) {
        lastError = lib.downcall("lk_last_error", ADDRESS);
        statusName = lib.downcall("lk_status_name", ADDRESS, JAVA_INT);
        abiVersion = lib.downcall("lk_abi_version", JAVA_INT);
    }

    /** {@code const char* lk_last_error(void)} — the calling thread's last message. */
    public MemorySegment lk_last_error() {
        try {
            return (MemorySegment) lastError.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code const char* lk_status_name(lk_status)}. */
    public MemorySegment lk_status_name(int status) {
        try {
            return (MemorySegment) statusName.invokeExact(status);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code int32_t lk_abi_version(void)}. */
    public int lk_abi_version() {
        try {
            return (int) abiVersion.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@link #lk_last_error()} as a Java string ("" for NULL). Call it on the failing thread. */
    public String lastErrorMessage() {
        return cString(lk_last_error());
    }

    /** {@link #lk_status_name(int)} as a Java string. */
    public String statusName(int status) {
        return cString(lk_status_name(status));
    }

    /** Reads a NUL-terminated UTF-8 string that the library owns. */
    @SuppressWarnings("restricted") // bounded read of a string the library NUL-terminates
    public static String cString(MemorySegment pointer) {
        if (pointer.equals(MemorySegment.NULL)) {
            return "";
        }
        return pointer.reinterpret(MAX_STRING_BYTES).getString(0);
    }
}
