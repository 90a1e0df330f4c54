package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * A tokenizer.json pre-tokenizer: splits a normalized piece into words for the model, and may
 * rewrite them. Supported: Sequence, Metaspace, ByteLevel, Split.
 */
interface PreTokenizer {

    List<String> SUPPORTED = List.of("Sequence", "Metaspace", "ByteLevel", "Split");

    /**
     * A word in the making. {@code atStart}: it begins at offset 0 of the original input (what
     * Metaspace's prepend_scheme "first" looks at).
     */
    record Word(String text, boolean atStart) {}

    List<Word> split(Word w);

    /** Applies this pre-tokenizer to every word; empty words are dropped. */
    default List<Word> splitAll(List<Word> words) {
        List<Word> out = new ArrayList<>();
        for (Word w : words) {
            for (Word s : split(w)) {
                if (!s.text().isEmpty()) {
                    out.add(s);
                }
            }
        }
        return out;
    }

    static PreTokenizer fromJson(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return w -> List.of(w);
        }
        String type = Json.type(node, where, SUPPORTED);
        return switch (type) {
            case "Sequence" -> {
                JsonNode list = Json.array(node, "pretokenizers", where);
                List<PreTokenizer> parts = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    parts.add(fromJson(list.get(i), where + ".pretokenizers[" + i + "]"));
                }
                yield w -> {
                    List<Word> words = List.of(w);
                    for (PreTokenizer p : parts) {
                        words = p.splitAll(words);
                    }
                    return words;
                };
            }
            case "Metaspace" -> Metaspace.fromJson(node, where);
            case "ByteLevel" -> byteLevel(node, where);
            case "Split" -> {
                TextPattern pattern = TextPattern.fromJson(Json.field(node, "pattern", where), where);
                SplitBehavior behavior = SplitBehavior.fromJson(Json.string(node, "behavior", where), where);
                boolean invert = Json.bool(node, "invert", false, where);
                yield w -> {
                    List<TextPattern.Span> spans = pattern.spans(w.text());
                    return pieces(w, behavior.apply(invert ? SplitBehavior.invert(spans) : spans));
                };
            }
            default -> throw new IllegalStateException(type);
        };
    }

    /** Words for {@code spans} of {@code w}; only a span at offset 0 inherits {@code atStart}. */
    static List<Word> pieces(Word w, List<TextPattern.Span> spans) {
        List<Word> out = new ArrayList<>(spans.size());
        for (TextPattern.Span s : spans) {
            out.add(new Word(w.text().substring(s.start(), s.end()), w.atStart() && s.start() == 0));
        }
        return out;
    }

    /** GPT-2 pre-tokenization: the regex split, then bytes to byte-level characters. */
    TextPattern GPT2_SPLIT = TextPattern.regex(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", "ByteLevel");

    private static PreTokenizer byteLevel(JsonNode node, String where) {
        boolean addPrefixSpace = Json.bool(node, "add_prefix_space", true, where);
        boolean useRegex = Json.bool(node, "use_regex", true, where);
        return w -> {
            String text = addPrefixSpace && !w.text().startsWith(" ") ? " " + w.text() : w.text();
            Word prefixed = new Word(text, w.atStart());
            List<Word> words = useRegex
                    ? pieces(prefixed, SplitBehavior.ISOLATED.apply(GPT2_SPLIT.spans(text)))
                    : List.of(prefixed);
            List<Word> out = new ArrayList<>(words.size());
            for (Word x : words) {
                out.add(new Word(ByteUnicode.encode(x.text()), x.atStart()));
            }
            return out;
        };
    }
}
