package dev.lookahead.tokenizer;

/**
 * A tokenizer definition that cannot be used: malformed JSON, an inconsistent vocabulary, or a
 * component (normalizer, pre-tokenizer, model, decoder, post-processor) this implementation
 * does not support. The message names the file and the component.
 */
public class TokenizerException extends RuntimeException {

    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
