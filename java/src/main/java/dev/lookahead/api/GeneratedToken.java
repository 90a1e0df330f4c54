package dev.lookahead.api;

/**
 * One generated token as it streams out.
 *
 * @param id    token id
 * @param text  the text this token completes (may be empty while a multi-byte character is incomplete)
 * @param index 0 for the first generated token
 */
public record GeneratedToken(int id, String text, int index) {
}
