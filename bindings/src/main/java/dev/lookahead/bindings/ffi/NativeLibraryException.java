package dev.lookahead.bindings.ffi;

/** liblookahead.so could not be found, extracted, loaded or is of another ABI version. */
public final class NativeLibraryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NativeLibraryException(String message) {
        super(message);
    }

    public NativeLibraryException(String message, Throwable cause) {
        super(message, cause);
    }
}
