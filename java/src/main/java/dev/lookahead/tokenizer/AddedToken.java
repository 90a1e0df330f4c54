package dev.lookahead.tokenizer;

/**
 * An entry of tokenizer.json's {@code added_tokens}: a string matched in the input before
 * normalization and BPE ({@code normalized} false: on the raw text; true: on the normalized
 * text), that becomes one token.
 *
 * @param singleWord match only when not inside a word
 * @param lstrip also swallow the whitespace before it
 * @param rstrip also swallow the whitespace after it
 * @param special a control token: skipped by {@code decode(ids, skipSpecial = true)}
 */
public record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip,
        boolean normalized, boolean special) {}
