package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/**
 * SentencePiece-style whitespace handling: spaces become the replacement character (usually
 * '▁', U+2581), which may be prepended to the text. As pre-tokenizer it optionally splits
 * before each replacement character; as decoder it turns them back into spaces, removing them
 * altogether from the first token when a prefix was prepended.
 *
 * <p>prepend_scheme: "always" (every piece), "first" (only the piece at the start of the input,
 * not the text after an added token), "never". Older files say {@code add_prefix_space}
 * true/false instead, meaning "always"/"never".
 */
final class Metaspace implements PreTokenizer, Decoder {

    enum Prepend { ALWAYS, FIRST, NEVER }

    private final char replacement;
    private final Prepend prepend;
    private final boolean split;
    private final TextPattern splitPattern;

    Metaspace(char replacement, Prepend prepend, boolean split) {
        this.replacement = replacement;
        this.prepend = prepend;
        this.split = split;
        this.splitPattern = TextPattern.literal(String.valueOf(replacement));
    }

    static Metaspace fromJson(JsonNode node, String where) {
        String rep = Json.string(node, "replacement", where);
        if (rep.length() != 1) {
            throw new TokenizerException(where + ": replacement must be one character, got '" + rep + "'");
        }
        Prepend prepend;
        String scheme = Json.optString(node, "prepend_scheme", where);
        if (scheme != null) {
            prepend = switch (scheme) {
                case "always" -> Prepend.ALWAYS;
                case "first" -> Prepend.FIRST;
                case "never" -> Prepend.NEVER;
                default -> throw new TokenizerException(where + ": prepend_scheme '" + scheme + "' is not supported");
            };
        } else {
            prepend = Json.bool(node, "add_prefix_space", true, where) ? Prepend.ALWAYS : Prepend.NEVER;
        }
        return new Metaspace(rep.charAt(0), prepend, Json.bool(node, "split", true, where));
    }

    @Override
    public List<Word> split(Word w) {
        String s = w.text().replace(' ', replacement);
        boolean add = switch (prepend) {
            case ALWAYS -> true;
            case FIRST -> w.atStart();
            case NEVER -> false;
        };
        if (add && (s.isEmpty() || s.charAt(0) != replacement)) {
            s = replacement + s;
        }
        Word replaced = new Word(s, w.atStart());
        if (!split) {
            return List.of(replaced);
        }
        return PreTokenizer.pieces(replaced, SplitBehavior.MERGED_WITH_NEXT.apply(splitPattern.spans(s)));
    }

    @Override
    public List<String> decodeChain(List<String> tokens) {
        List<String> out = new ArrayList<>(tokens.size());
        for (int i = 0; i < tokens.size(); i++) {
            String t = tokens.get(i);
            if (i == 0 && prepend != Prepend.NEVER) {
                out.add(t.replace(String.valueOf(replacement), "")); // every one, as HF does
            } else {
                out.add(t.replace(replacement, ' '));
            }
        }
        return out;
    }
}
