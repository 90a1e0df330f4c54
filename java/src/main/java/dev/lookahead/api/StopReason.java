package dev.lookahead.api;

/** Why a generation ended. */
public enum StopReason {
    /** The model produced its end-of-sequence token. */
    END_OF_SEQUENCE,
    /** maxTokens tokens were generated. */
    MAX_TOKENS,
    /** The text reached one of the stop strings (which is not included in the result). */
    STOP_STRING,
    /** The context window is full. */
    CONTEXT_FULL
}
