package dev.lookahead.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Java tokenizer against Hugging Face's Rust {@code tokenizers} (through DJL's JNI
 * binding, whose jar carries the native library): same tokenizer.json files, many strings,
 * identical ids and identical decoded text required.
 */
class TokenizerVsHuggingFaceTest {

    static {
        // DJL would otherwise try to reach a cloud metadata address and the network.
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("OPT_OUT_TRACKING", "true");
        if (System.getProperty("DJL_CACHE_DIR") == null) {
            System.setProperty("DJL_CACHE_DIR", Path.of("target", "djl-cache").toAbsolutePath().toString());
        }
    }

    @TempDir
    Path dir;

    static Stream<Arguments> tokenizers() {
        return Stream.of(
                Arguments.of("sentencepiece-legacy", TestTokenizers.sentencePiece(TestTokenizers.SpStyle.LEGACY, 300, false)),
                Arguments.of("sentencepiece-legacy-pairs", TestTokenizers.sentencePiece(TestTokenizers.SpStyle.LEGACY, 300, true)),
                Arguments.of("sentencepiece-metaspace-first",
                        TestTokenizers.sentencePiece(TestTokenizers.SpStyle.METASPACE_FIRST, 300, true)),
                Arguments.of("sentencepiece-metaspace-split",
                        TestTokenizers.sentencePiece(TestTokenizers.SpStyle.METASPACE_SPLIT, 300, false)),
                Arguments.of("gpt2", TestTokenizers.byteLevel(TestTokenizers.BlStyle.GPT2, 300, true)),
                Arguments.of("gpt2-strings", TestTokenizers.byteLevel(TestTokenizers.BlStyle.GPT2, 300, false)),
                Arguments.of("gpt2-prefix-space", TestTokenizers.byteLevel(TestTokenizers.BlStyle.GPT2_PREFIX, 300, true)),
                Arguments.of("llama3-style", TestTokenizers.byteLevel(TestTokenizers.BlStyle.LLAMA3, 300, true)));
    }

    /** Hand-picked strings: whitespace runs, unicode, emoji, special tokens, edge cases. */
    static final List<String> FIXED = List.of(
            "", " ", "  ", "\n", "Hello world", "Hello  world", " leading space", "trailing space ",
            "tabs\tand\nnewlines\r\nhere", "The quick brown fox jumps over the lazy dog.",
            "don't stop: it's 3.14159 or 42! We'll see, they're here, I'd go, you've won, I'm OK",
            "DON'T SHOUT, IT'S LOUD", "numbers 1234567 and 12,345.678",
            "naïve café résumé", "Ünïcödé Straße", "日本語のテキスト", "中文测试，标点。", "한국어 문장", "Ελληνικά κείμενα",
            "Русский текст", "עברית", "العربية", "emoji 👍🏽 and 👨‍👩‍👧‍👦 family", "🤖🚀✨", "math: ∑ ∫ √ ≤ ≥ ∞",
            "\u00a0nbsp\u2003emspace\u3000ideographic", "zero\u200bwidth\u200djoiner", "e\u0301 combining",
            "<s>Hello</s>", "Hello<s>world", "<s><s></s>", "[INST] What is 2+2? [/INST] 4</s>[INST] and 3? [/INST]",
            "a <tool> b", "x<tool>y", "<tool>", "mask <mask>  here", "  <mask>  ", "<w> word<w> <w>", "a<w>b",
            "<|endoftext|>", "one<|endoftext|>two", "<|begin_of_text|>hi<|eot_id|>",
            "▁ literal metaspace ▁▁", "<0x41> literal byte token", "\u0001control\u0007chars\u007f",
            "   multiple   spaces   ", "\n\n\n", "Mixed   \t whitespace \n\n runs  ", "x\r\n\r\ny",
            "The robot watered the tomatoes, the beans and the three old apple trees.",
            TestTokenizers.TEXT, TestTokenizers.TEXT.repeat(3));

    /** Seeded random strings over an alphabet that mixes scripts, spaces and special-token pieces. */
    static List<String> randomStrings(int count, long seed) {
        String[] atoms = {"a", "e", "t", "h", "the", "robot", " ", " ", "  ", "\t", "\n", ".", ",", "'s", "'", "!",
            "0", "7", "42", "é", "ß", "ñ", "日", "本", "한", "ж", "Ω", "👍", "🏽", "👨‍👩‍👧", "🚀", "\u00a0", "\u2003",
            "▁", "<", ">", "s>", "<s>", "</s>", "[INST]", "<tool>", "<mask>", "<w>", "<|endoftext|>", "<0x20>", "\u0301"};
        Random r = new Random(seed);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            StringBuilder sb = new StringBuilder();
            int n = r.nextInt(25);
            for (int k = 0; k < n; k++) {
                sb.append(atoms[r.nextInt(atoms.length)]);
            }
            out.add(sb.toString());
        }
        return out;
    }

    private HuggingFaceTokenizer reference(String json) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, json);
        // DJL truncates to 512 tokens unless told not to.
        return HuggingFaceTokenizer.newInstance(file, Map.of("truncation", "false", "padding", "false"));
    }

    private static int[] toInt(long[] ids) {
        return Arrays.stream(ids).mapToInt(Math::toIntExact).toArray();
    }

    private static long[] toLong(int[] ids) {
        return Arrays.stream(ids).asLongStream().toArray();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void encodeAndDecodeMatchHuggingFace(String name, String json) throws IOException {
        Tokenizer ours = Tokenizer.fromJson(json, name);
        List<String> texts = new ArrayList<>(FIXED);
        texts.addAll(randomStrings(400, name.hashCode()));
        int compared = 0;
        try (HuggingFaceTokenizer hf = reference(json)) {
            for (String text : texts) {
                for (boolean addSpecial : new boolean[] {true, false}) {
                    int[] expected = toInt(hf.encode(text, addSpecial, false).getIds());
                    int[] actual = ours.encode(text, addSpecial);
                    assertArrayEquals(expected, actual, () -> name + ": encode(" + show(text) + ", " + addSpecial + ")"
                            + "\n expected " + Arrays.toString(expected) + "\n actual   " + Arrays.toString(actual));
                    for (boolean skip : new boolean[] {false, true}) {
                        String want = hf.decode(toLong(expected), skip);
                        assertEquals(want, ours.decode(actual, skip),
                                () -> name + ": decode(encode(" + show(text) + "), skip=" + skip + ")");
                    }
                    compared++;
                }
            }
        }
        assertEquals(texts.size() * 2, compared);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void decodingArbitraryIdSequencesMatchesHuggingFace(String name, String json) throws IOException {
        // Random ids include lone byte tokens, partial UTF-8, specials in odd places.
        Tokenizer ours = Tokenizer.fromJson(json, name);
        Random r = new Random(7 + name.hashCode());
        try (HuggingFaceTokenizer hf = reference(json)) {
            for (int i = 0; i < 400; i++) {
                int[] ids = new int[1 + r.nextInt(12)];
                for (int k = 0; k < ids.length; k++) {
                    ids[k] = r.nextInt(ours.vocabSize());
                }
                for (boolean skip : new boolean[] {false, true}) {
                    assertEquals(hf.decode(toLong(ids), skip), ours.decode(ids, skip),
                            name + ": decode(" + Arrays.toString(ids) + ", skip=" + skip + ")");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void streamingDecodeNeverSplitsCharactersAndAddsUpToDecode(String name, String json) {
        Tokenizer tok = Tokenizer.fromJson(json, name);
        List<String> texts = new ArrayList<>(FIXED);
        texts.addAll(randomStrings(200, 99));
        for (String text : texts) {
            int[] ids = tok.encode(text, true);
            for (boolean skip : new boolean[] {false, true}) {
                StreamDecoder stream = tok.streamDecoder(skip);
                StringBuilder sb = new StringBuilder();
                for (int id : ids) {
                    String piece = stream.append(id);
                    assertFalse(piece.contains("\uFFFD"), () -> name + ": piece with U+FFFD for " + show(text));
                    assertFalse(!piece.isEmpty() && Character.isLowSurrogate(piece.charAt(0)), "split surrogate pair");
                    sb.append(piece);
                }
                sb.append(stream.finish());
                assertEquals(tok.decode(ids, skip), sb.toString(), () -> name + ": stream of " + show(text));
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void vocabularyAndSpecialTokensMatch(String name, String json) throws IOException {
        Tokenizer ours = Tokenizer.fromJson(json, name);
        try (HuggingFaceTokenizer hf = reference(json)) {
            for (AddedToken t : ours.addedTokens()) {
                assertArrayEquals(hf.encode(t.content(), false, false).getIds(), new long[] {t.id()},
                        "added token " + t.content());
                assertTrue(ours.isSpecial(t.id()) == t.special());
            }
        }
    }

    private static String show(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().limit(80).forEach(cp -> {
            if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || Character.getType(cp) == Character.FORMAT) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.appendCodePoint(cp);
            }
        });
        return sb.append(s.length() > 80 ? "...\"" : "\"").toString();
    }
}
