package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The pattern of a Replace or Split component: {@code {"String": s}} (literal, every occurrence
 * is a match) or {@code {"Regex": r}}. Regexes of HF tokenizers are Oniguruma regexes with
 * Unicode classes; Java's flavour agrees on the constructs tokenizers use ({@code \p{L}},
 * {@code \p{N}}, lookahead, {@code (?i:...)}) once {@code \s}, {@code \w}, {@code \d} are made
 * Unicode-aware with {@link Pattern#UNICODE_CHARACTER_CLASS}.
 */
final class TextPattern {

    /** A piece of the input: [start, end) in UTF-16 units, and whether it matched. */
    record Span(int start, int end, boolean match) {}

    private final Pattern regex;
    private final String description;

    private TextPattern(Pattern regex, String description) {
        this.regex = regex;
        this.description = description;
    }

    static TextPattern literal(String s) {
        return new TextPattern(Pattern.compile(Pattern.quote(s)), "String " + s);
    }

    static TextPattern regex(String r, String where) {
        try {
            return new TextPattern(Pattern.compile(r, Pattern.UNICODE_CHARACTER_CLASS), "Regex " + r);
        } catch (PatternSyntaxException e) {
            throw new TokenizerException(where + ": regex " + r + " is not supported: " + e.getDescription(), e);
        }
    }

    static TextPattern fromJson(JsonNode node, String where) {
        if (node != null && node.isObject() && node.size() == 1) {
            if (node.has("String") && node.get("String").isTextual()) {
                return literal(node.get("String").textValue());
            }
            if (node.has("Regex") && node.get("Regex").isTextual()) {
                return regex(node.get("Regex").textValue(), where);
            }
        }
        throw new TokenizerException(where + ": pattern must be {\"String\": ...} or {\"Regex\": ...}, got " + node);
    }

    /** Replaces every match with the literal {@code content}. */
    String replaceAll(String s, String content) {
        return regex.matcher(s).replaceAll(Matcher.quoteReplacement(content));
    }

    /** Matches and the text between them, covering {@code s} in order (no empty non-matches). */
    List<Span> spans(String s) {
        List<Span> out = new ArrayList<>();
        Matcher m = regex.matcher(s);
        int prev = 0;
        while (m.find()) {
            if (m.start() > prev) {
                out.add(new Span(prev, m.start(), false));
            }
            out.add(new Span(m.start(), m.end(), true));
            prev = m.end();
        }
        if (prev < s.length()) {
            out.add(new Span(prev, s.length(), false));
        }
        return out;
    }

    @Override
    public String toString() {
        return description;
    }
}
