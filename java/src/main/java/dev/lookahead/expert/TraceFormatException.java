package dev.lookahead.expert;

import java.io.IOException;

/** A routing trace file that cannot be read: the message names the file and the line. */
public final class TraceFormatException extends IOException {
    public TraceFormatException(String message) {
        super(message);
    }

    public TraceFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
