package dev.lookahead.tokenizer;

import java.util.regex.Pattern;

/** Character classes with the Unicode meaning the Rust side of HF tokenizers uses. */
final class Unicode {

    private static final Pattern WORD = Pattern.compile("\\w", Pattern.UNICODE_CHARACTER_CLASS);

    private Unicode() {}

    /**
     * The Unicode White_Space property (Rust {@code char::is_whitespace}, regex {@code \s});
     * unlike {@link Character#isWhitespace} it includes no-break spaces and excludes U+001C..1F.
     */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }

    /** Regex {@code \w} in Unicode mode: letters, marks, decimal digits, connectors, joiners. */
    static boolean isWordChar(int cp) {
        return WORD.matcher(Character.toString(cp)).matches();
    }

    static String strip(String s, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        if (left) {
            while (start < end && isWhiteSpace(s.codePointAt(start))) {
                start += Character.charCount(s.codePointAt(start));
            }
        }
        if (right) {
            while (end > start && isWhiteSpace(s.codePointBefore(end))) {
                end -= Character.charCount(s.codePointBefore(end));
            }
        }
        return s.substring(start, end);
    }
}
