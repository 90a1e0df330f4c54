package dev.lookahead.tokenizer;

/**
 * Incremental decoding for token-by-token generation. {@link #append} returns the text that
 * one more token adds, or "" while the text so far ends in an incomplete UTF-8 sequence (a
 * byte-fallback or byte-level token holding part of a character); the concatenation of all
 * returned pieces plus {@link #finish()} equals {@code decode(allIds)}.
 *
 * <p>How: decoders such as Strip or Metaspace treat the first token specially, so a token
 * cannot be decoded alone. The decoder keeps the tokens of the last emitted piece as context,
 * decodes context + pending tokens, and emits what comes after the context's own text. The
 * context moves on only when something visible was emitted, so a skipped special token never
 * becomes the "first" token that Strip or Metaspace would trim.
 * Not thread-safe; one per generation.
 */
public final class StreamDecoder {

    /** After this many tokens without a complete character the text is emitted anyway. */
    private static final int MAX_PENDING = 8;
    private static final char REPLACEMENT = '\uFFFD';

    private final Tokenizer tokenizer;
    private final boolean skipSpecial;
    private final Tokenizer.IntList ids = new Tokenizer.IntList(); // context, then pending
    private int contextSize;
    private String contextText = "";

    StreamDecoder(Tokenizer tokenizer, boolean skipSpecial) {
        this.tokenizer = tokenizer;
        this.skipSpecial = skipSpecial;
    }

    /** Adds one token; returns the new text it completes (possibly empty). */
    public String append(int id) {
        ids.add(id);
        String text = tokenizer.decode(ids.array(), 0, ids.size(), skipSpecial);
        if (!text.isEmpty() && text.charAt(text.length() - 1) == REPLACEMENT
                && ids.size() - contextSize < MAX_PENDING) {
            return ""; // maybe the rest of the character is still to come
        }
        return emit(text);
    }

    /** Emits whatever is pending, even an incomplete character (as U+FFFD), and resets. */
    public String finish() {
        if (ids.size() == contextSize) {
            return "";
        }
        String out = emit(tokenizer.decode(ids.array(), 0, ids.size(), skipSpecial));
        ids.removeFirst(ids.size());
        contextSize = 0;
        contextText = "";
        return out;
    }

    private String emit(String text) {
        // Decoders used with HF files extend the context's text; if one did not, emit the tail.
        String out = text.startsWith(contextText) ? text.substring(contextText.length())
                : text.substring(Math.min(text.length(), contextText.length()));
        if (out.isEmpty()) {
            // Nothing visible yet (a skipped special token, a space a Strip decoder removes at
            // the start): keep the old context, or the next token would be decoded as if first.
            return out;
        }
        ids.removeFirst(contextSize);
        contextSize = ids.size();
        contextText = tokenizer.decode(ids.array(), 0, ids.size(), skipSpecial);
        return out;
    }
}
