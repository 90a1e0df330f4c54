package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A tokenizer.json normalizer: rewrites each piece of input text (between added tokens) before
 * pre-tokenization. Supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase,
 * Strip.
 */
@FunctionalInterface
interface Normalizer {

    List<String> SUPPORTED = List.of("Sequence", "Prepend", "Replace", "NFC", "NFD", "NFKC", "NFKD",
            "Lowercase", "Strip");

    String normalize(String s);

    /** The identity, used when tokenizer.json has "normalizer": null. */
    Normalizer NONE = s -> s;

    static Normalizer fromJson(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return NONE;
        }
        String type = Json.type(node, where, SUPPORTED);
        return switch (type) {
            case "Sequence" -> {
                JsonNode list = Json.array(node, "normalizers", where);
                List<Normalizer> parts = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    parts.add(fromJson(list.get(i), where + ".normalizers[" + i + "]"));
                }
                yield s -> {
                    for (Normalizer n : parts) {
                        s = n.normalize(s);
                    }
                    return s;
                };
            }
            case "Prepend" -> {
                String prefix = Json.string(node, "prepend", where);
                yield s -> s.isEmpty() ? s : prefix + s; // an empty piece stays empty
            }
            case "Replace" -> {
                TextPattern p = TextPattern.fromJson(Json.field(node, "pattern", where), where);
                String content = Json.string(node, "content", where);
                yield s -> p.replaceAll(s, content);
            }
            case "NFC" -> s -> java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFC);
            case "NFD" -> s -> java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFD);
            case "NFKC" -> s -> java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFKC);
            case "NFKD" -> s -> java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFKD);
            case "Lowercase" -> Normalizer::lowercase;
            case "Strip" -> {
                boolean left = Json.bool(node, "strip_left", true, where);
                boolean right = Json.bool(node, "strip_right", true, where);
                yield s -> Unicode.strip(s, left, right);
            }
            default -> throw new IllegalStateException(type);
        };
    }

    /**
     * Lowercases code point by code point with the full Unicode mapping, as HF does (so no
     * context-dependent final sigma, unlike {@link String#toLowerCase}).
     */
    private static String lowercase(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> sb.append(Character.toString(cp).toLowerCase(Locale.ROOT)));
        return sb.toString();
    }
}
