package dev.lookahead.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hand-checked behaviour on a tiny vocabulary, and the errors for what is not supported. */
class TokenizerTest {

    @TempDir
    Path dir;

    /**
     * Mistral layout: 0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;, 3..258 bytes &lt;0x00&gt;..&lt;0xFF&gt;,
     * then ▁=259 a=260 b=261 ▁a=262 ab=263 ▁ab=264; merges by rank: (▁,a) (a,b) (▁a,b).
     */
    static ObjectNode tiny() {
        String json = TestTokenizers.sentencePiece(TestTokenizers.SpStyle.LEGACY, 0, false);
        ObjectNode root = (ObjectNode) read(json);
        ObjectNode vocab = ((ObjectNode) root.get("model")).putObject("vocab");
        vocab.put("<unk>", 0).put("<s>", 1).put("</s>", 2);
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), 3 + b);
        }
        vocab.put("▁", 259).put("a", 260).put("b", 261).put("▁a", 262).put("ab", 263).put("▁ab", 264);
        ((ObjectNode) root.get("model")).putArray("merges").add("▁ a").add("a b").add("▁a b");
        root.putArray("added_tokens").add(TestTokenizers.addedToken(0, "<unk>", true, false, false, false, false))
                .add(TestTokenizers.addedToken(1, "<s>", true, false, false, false, false))
                .add(TestTokenizers.addedToken(2, "</s>", true, false, false, false, false));
        return root;
    }

    static com.fasterxml.jackson.databind.JsonNode read(String json) {
        try {
            return TestTokenizers.JSON.readTree(json);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void handCheckedEncodings() {
        Tokenizer t = Tokenizer.fromJson(tiny().toString(), "tiny");
        // "ab" -> "▁ab": (▁,a) rank 0 first -> [▁a, b] -> (▁a,b) rank 2 -> [▁ab]
        assertArrayEquals(new int[] {1, 264}, t.encode("ab", true));
        assertArrayEquals(new int[] {264}, t.encode("ab", false));
        // "aab" -> [▁,a,a,b]: (▁,a) at 0 beats (a,b) at 2; then (a,b) -> [▁a, ab]; no merge (▁a, ab)
        assertArrayEquals(new int[] {262, 263}, t.encode("aab", false));
        // "ba" -> [▁, b, a]: no pair has a merge
        assertArrayEquals(new int[] {259, 261, 260}, t.encode("ba", false));
        // "a b" -> "▁a▁b": (▁,a) at 0 -> [▁a, ▁, b]; nothing else merges
        assertArrayEquals(new int[] {262, 259, 261}, t.encode("a b", false));
        // é is not in the vocabulary: its UTF-8 bytes C3 A9 -> <0xC3>=3+0xC3, <0xA9>=3+0xA9
        assertArrayEquals(new int[] {259, 3 + 0xC3, 3 + 0xA9}, t.encode("é", false));
        // special tokens in the text, and the prepend applying to each piece between them
        assertArrayEquals(new int[] {1, 264, 2, 262}, t.encode("ab</s>a", true));
        assertArrayEquals(new int[] {1}, t.encode("", true));
        assertArrayEquals(new int[] {}, t.encode("", false));
    }

    @Test
    void handCheckedDecodings() {
        Tokenizer t = Tokenizer.fromJson(tiny().toString(), "tiny");
        assertEquals("ab", t.decode(new int[] {1, 264}, true));
        assertEquals("<s> ab", t.decode(new int[] {1, 264}, false));
        assertEquals("ab é", t.decode(new int[] {264, 259, 3 + 0xC3, 3 + 0xA9}, false));
        // a lone lead byte is not valid UTF-8: one U+FFFD per byte of the run
        assertEquals("a\uFFFD", t.decode(new int[] {262, 3 + 0xC3}, false));
        assertEquals("\uFFFD\uFFFD", t.decode(new int[] {3 + 0xC3, 3 + 0x41}, false));
        // unknown ids are skipped, as in HF
        assertEquals("a", t.decode(new int[] {262, 99_999}, false));
    }

    @Test
    void streamDecoderWaitsForCompleteCharacters() {
        Tokenizer t = Tokenizer.fromJson(tiny().toString(), "tiny");
        StreamDecoder s = t.streamDecoder(true);
        assertEquals("", s.append(1));          // <s>, skipped
        assertEquals("a", s.append(262));       // ▁a: the leading space is stripped (first token)
        assertEquals(" ", s.append(259));       // ▁
        assertEquals("", s.append(3 + 0xE2));   // first byte of € (E2 82 AC)
        assertEquals("", s.append(3 + 0x82));
        assertEquals("€", s.append(3 + 0xAC));
        assertEquals("ab", s.append(263));
        assertEquals("", s.finish());
    }

    @Test
    void bothMergeFormatsGiveTheSameTokenizer() {
        String strings = TestTokenizers.byteLevel(TestTokenizers.BlStyle.GPT2, 200, false);
        String pairs = TestTokenizers.byteLevel(TestTokenizers.BlStyle.GPT2, 200, true);
        Tokenizer a = Tokenizer.fromJson(strings, "strings");
        Tokenizer b = Tokenizer.fromJson(pairs, "pairs");
        int[] ids = a.encode(TestTokenizers.TEXT, false);
        assertArrayEquals(ids, b.encode(TestTokenizers.TEXT, false));
        assertTrue(ids.length < TestTokenizers.TEXT.length() / 2, "merges shorten the text: " + ids.length);
        assertEquals(TestTokenizers.TEXT, a.decode(ids, false));
    }

    @Test
    void loadsFromFileAndReportsVocabulary() throws IOException {
        Path p = dir.resolve("tokenizer.json");
        Files.writeString(p, tiny().toString());
        Tokenizer t = Tokenizer.load(p);
        assertEquals(265, t.vocabSize());
        assertEquals(264, t.tokenToId("▁ab").orElseThrow());
        assertEquals("</s>", t.idToToken(2));
        assertTrue(t.isSpecial(1));
        assertTrue(!t.isSpecial(264));
    }

    private static TokenizerException fails(ObjectNode root, String... parts) {
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson(root.toString(), "x/tokenizer.json"));
        assertTrue(e.getMessage().startsWith("x/tokenizer.json"), e.getMessage());
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), e.getMessage());
        }
        return e;
    }

    @Test
    void unsupportedComponentsAreNamed() {
        ObjectNode r = tiny();
        r.putObject("normalizer").put("type", "BertNormalizer");
        fails(r, "normalizer", "'BertNormalizer' is not supported");

        r = tiny();
        ArrayNode seq = r.putObject("pre_tokenizer").put("type", "Sequence").putArray("pretokenizers");
        seq.addObject().put("type", "Whitespace");
        fails(r, "pre_tokenizer.pretokenizers[0]", "'Whitespace' is not supported");

        r = tiny();
        ((ObjectNode) r.get("model")).put("type", "Unigram");
        fails(r, "model", "'Unigram' is not supported (supported: BPE)");

        r = tiny();
        r.putObject("decoder").put("type", "WordPiece");
        fails(r, "decoder", "'WordPiece'");

        r = tiny();
        r.putObject("post_processor").put("type", "BertProcessing");
        fails(r, "post_processor", "'BertProcessing'");

        r = tiny();
        ((ObjectNode) r.get("model")).put("dropout", 0.1);
        fails(r, "dropout");
    }

    @Test
    void inconsistentModelsAreRejected() {
        ObjectNode r = tiny();
        ((ObjectNode) r.get("model")).putArray("merges").add("▁ z");
        fails(r, "merge #0", "'z' is not in the vocabulary");

        r = tiny();
        ((ObjectNode) r.get("model")).putArray("merges").add("▁a");
        fails(r, "merge #0", "two tokens");

        r = tiny();
        ((ObjectNode) r.get("model").get("vocab")).put("dup", 5);
        fails(r, "vocab id 5 is used by both");

        assertThrows(TokenizerException.class, () -> Tokenizer.fromJson("{\"model\": ", "broken"));
        r = tiny();
        r.putObject("post_processor").put("type", "TemplateProcessing").putObject("special_tokens");
        ((ObjectNode) r.get("post_processor")).putArray("single").addObject().putObject("SpecialToken").put("id", "<bos>");
        fails(r, "special token '<bos>'");
    }
}
