package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A tokenizer.json decoder: turns token strings back into text. Each decoder maps the list of
 * token strings to a new list; the final text is their concatenation. Supported: Sequence,
 * Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel.
 */
@FunctionalInterface
interface Decoder {

    List<String> SUPPORTED = List.of("Sequence", "Replace", "ByteFallback", "Fuse", "Strip", "Metaspace",
            "ByteLevel");

    List<String> decodeChain(List<String> tokens);

    static Decoder fromJson(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = Json.type(node, where, SUPPORTED);
        return switch (type) {
            case "Sequence" -> {
                JsonNode list = Json.array(node, "decoders", where);
                List<Decoder> parts = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    parts.add(fromJson(list.get(i), where + ".decoders[" + i + "]"));
                }
                yield tokens -> {
                    for (Decoder d : parts) {
                        tokens = d.decodeChain(tokens);
                    }
                    return tokens;
                };
            }
            case "Replace" -> {
                TextPattern p = TextPattern.fromJson(Json.field(node, "pattern", where), where);
                String content = Json.string(node, "content", where);
                yield tokens -> tokens.stream().map(t -> p.replaceAll(t, content)).toList();
            }
            case "ByteFallback" -> Decoder::byteFallback;
            case "Fuse" -> tokens -> List.of(String.join("", tokens));
            case "Strip" -> strip(node, where);
            case "Metaspace" -> Metaspace.fromJson(node, where);
            case "ByteLevel" -> Decoder::byteLevel;
            default -> throw new IllegalStateException(type);
        };
    }

    /** The byte of a byte-fallback token "<0xNN>", or -1. */
    static int fallbackByte(String token) {
        if (token.length() == 6 && token.startsWith("<0x") && token.endsWith(">")) {
            int hi = Character.digit(token.charAt(3), 16);
            int lo = Character.digit(token.charAt(4), 16);
            if (hi >= 0 && lo >= 0) {
                return hi * 16 + lo;
            }
        }
        return -1;
    }

    /**
     * Runs of "<0xNN>" tokens become the text their bytes encode; a run that is not valid
     * UTF-8 as a whole becomes one U+FFFD per byte (as HF does).
     */
    private static List<String> byteFallback(List<String> tokens) {
        List<String> out = new ArrayList<>(tokens.size());
        ByteArrayOutputStream run = new ByteArrayOutputStream();
        for (String t : tokens) {
            int b = fallbackByte(t);
            if (b >= 0) {
                run.write(b);
                continue;
            }
            flushRun(run, out);
            out.add(t);
        }
        flushRun(run, out);
        return out;
    }

    private static void flushRun(ByteArrayOutputStream run, List<String> out) {
        if (run.size() == 0) {
            return;
        }
        byte[] bytes = run.toByteArray();
        run.reset();
        if (Utf8.isValid(bytes)) {
            out.add(new String(bytes, StandardCharsets.UTF_8));
        } else {
            for (int i = 0; i < bytes.length; i++) {
                out.add("\uFFFD");
            }
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} chars of each token. */
    private static Decoder strip(JsonNode node, String where) {
        String content = Json.string(node, "content", where);
        if (content.codePointCount(0, content.length()) != 1) {
            throw new TokenizerException(where + ": Strip content must be one character");
        }
        int c = content.codePointAt(0);
        int start = Json.integer(node, "start", 0, where);
        int stop = Json.integer(node, "stop", 0, where);
        return tokens -> tokens.stream().map(t -> {
            int[] cps = t.codePoints().toArray();
            int from = 0;
            while (from < Math.min(start, cps.length) && cps[from] == c) {
                from++;
            }
            int to = cps.length;
            for (int i = 0; i < stop && to > from && cps[to - 1] == c; i++) {
                to--;
            }
            return new String(cps, from, to - from);
        }).toList();
    }

    /**
     * Byte-level characters back to bytes (a token with any other character contributes its
     * own UTF-8), all tokens joined, then decoded with U+FFFD for invalid sequences.
     */
    private static List<String> byteLevel(List<String> tokens) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (String t : tokens) {
            byte[] mapped = new byte[t.length()];
            boolean all = true;
            for (int i = 0; i < t.length(); i++) {
                int b = ByteUnicode.byteOf(t.charAt(i));
                if (b < 0) {
                    all = false;
                    break;
                }
                mapped[i] = (byte) b;
            }
            bytes.writeBytes(all ? mapped : t.getBytes(StandardCharsets.UTF_8));
        }
        return List.of(Utf8.decodeLossy(bytes.toByteArray()));
    }
}
