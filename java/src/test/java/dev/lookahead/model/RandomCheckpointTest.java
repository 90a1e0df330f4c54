package dev.lookahead.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RandomCheckpointTest {

    private static final String[] FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private Path write(RandomCheckpoint.Spec spec, String name) throws IOException {
        Path dir = tmp.resolve(name);
        RandomCheckpoint.write(spec, dir);
        return dir;
    }

    @Test
    void sameSeedGivesIdenticalBytes() throws IOException {
        RandomCheckpoint.Spec spec = RandomCheckpoint.Spec.small(42);
        Path a = write(spec, "a"), b = write(spec, "b");
        for (String f : FILES) {
            assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
        }
    }

    @Test
    void differentSeedGivesDifferentWeights() throws IOException {
        Path a = write(RandomCheckpoint.Spec.small(1), "a"), b = write(RandomCheckpoint.Spec.small(2), "b");
        byte[] wa = Files.readAllBytes(a.resolve("model.safetensors")), wb = Files.readAllBytes(b.resolve("model.safetensors"));
        assertEquals(wa.length, wb.length);
        int headerEnd = 8 + (int) ByteBuffer.wrap(wa).order(ByteOrder.LITTLE_ENDIAN).getLong();
        int same = 0;
        for (int i = headerEnd; i < wa.length; i += 4) {
            if (wa[i] == wb[i] && wa[i + 1] == wb[i + 1] && wa[i + 2] == wb[i + 2] && wa[i + 3] == wb[i + 3]) {
                same++;
            }
        }
        assertTrue(same < (wa.length - headerEnd) / 4 / 1000, "weights must differ almost everywhere, " + same + " floats equal");
        // The tokenizer does not depend on the seed.
        assertArrayEquals(Files.readAllBytes(a.resolve("tokenizer.json")), Files.readAllBytes(b.resolve("tokenizer.json")));
    }

    @Test
    void safetensorsLayoutIsHuggingFaceCompatible() throws IOException {
        RandomCheckpoint.Spec spec = RandomCheckpoint.Spec.small(3).withDtype(RandomCheckpoint.WeightType.BF16);
        Path dir = write(spec, "m");
        byte[] file = Files.readAllBytes(dir.resolve("model.safetensors"));
        long headerLen = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + headerLen) % 8, "tensor data must start 8-byte aligned");
        JsonNode header = JSON.readTree(new String(file, 8, (int) headerLen, StandardCharsets.UTF_8));
        assertEquals("true", header.get("__metadata__").get(RandomCheckpoint.RANDOM_METADATA_KEY).asText());

        Set<String> names = new HashSet<>();
        header.properties().forEach(e -> names.add(e.getKey()));
        names.remove("__metadata__");
        Set<String> want = new HashSet<>(List.of("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"));
        for (int l = 0; l < spec.layers(); l++) {
            String p = "model.layers." + l + ".";
            want.addAll(List.of(p + "input_layernorm.weight", p + "post_attention_layernorm.weight",
                    p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight",
                    p + "self_attn.o_proj.weight", p + "block_sparse_moe.gate.weight"));
            for (int e = 0; e < spec.experts(); e++) {
                for (String w : new String[] {"w1", "w2", "w3"}) {
                    want.add(p + "block_sparse_moe.experts." + e + "." + w + ".weight");
                }
            }
        }
        assertEquals(want, names);

        // Shapes as in HF (projections [out, in]) and contiguous offsets covering the file exactly.
        JsonNode w2 = header.get("model.layers.1.block_sparse_moe.experts.3.w2.weight");
        assertEquals("BF16", w2.get("dtype").asText());
        assertEquals(List.of(spec.hidden(), spec.intermediate()), ints(w2.get("shape")));
        assertEquals(List.of(spec.intermediate(), spec.hidden()), ints(header.get("model.layers.0.block_sparse_moe.experts.0.w1.weight").get("shape")));
        assertEquals(List.of(spec.kvHeads() * spec.headDim(), spec.hidden()), ints(header.get("model.layers.0.self_attn.k_proj.weight").get("shape")));
        assertEquals(List.of(spec.vocab(), spec.hidden()), ints(header.get("lm_head.weight").get("shape")));
        long end = 0;
        for (RandomCheckpoint.TensorPlan t : RandomCheckpoint.plan(spec)) {
            JsonNode offsets = header.get(t.name()).get("data_offsets");
            assertEquals(end, offsets.get(0).asLong(), t.name());
            end = offsets.get(1).asLong();
        }
        assertEquals(file.length, 8 + headerLen + end);
        assertEquals(end, spec.parameterCount() * 2);
    }

    private static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asInt()));
        return out;
    }

    @Test
    void configJsonHasMixtralKeys() throws IOException {
        RandomCheckpoint.Spec spec = RandomCheckpoint.Spec.small(4).withSlidingWindow(7);
        JsonNode c = JSON.readTree(write(spec, "m").resolve("config.json").toFile());
        assertEquals("MixtralForCausalLM", c.get("architectures").get(0).asText());
        assertEquals("mixtral", c.get("model_type").asText());
        assertEquals(spec.hidden(), c.get("hidden_size").asInt());
        assertEquals(spec.intermediate(), c.get("intermediate_size").asInt());
        assertEquals(spec.layers(), c.get("num_hidden_layers").asInt());
        assertEquals(spec.heads(), c.get("num_attention_heads").asInt());
        assertEquals(spec.kvHeads(), c.get("num_key_value_heads").asInt());
        assertEquals(spec.headDim(), c.get("head_dim").asInt());
        assertEquals(spec.experts(), c.get("num_local_experts").asInt());
        assertEquals(spec.topK(), c.get("num_experts_per_tok").asInt());
        assertEquals(7, c.get("sliding_window").asInt());
        assertEquals(spec.ropeTheta(), c.get("rope_theta").asDouble());
        assertEquals("silu", c.get("hidden_act").asText());
        assertEquals(1, c.get("bos_token_id").asInt());
        assertEquals(2, c.get("eos_token_id").asInt());
        assertTrue(JSON.readTree(write(spec.withSlidingWindow(0), "n").resolve("config.json").toFile()).get("sliding_window").isNull());
    }

    @Test
    void tokenizerIsAByteLevelBpeThatRoundTrips() throws IOException {
        RandomCheckpoint.Spec spec = RandomCheckpoint.Spec.small(5);
        Path dir = write(spec, "m");
        JsonNode tok = JSON.readTree(dir.resolve("tokenizer.json").toFile());
        JsonNode model = tok.get("model");
        assertEquals("BPE", model.get("type").asText());
        assertEquals("ByteLevel", tok.get("pre_tokenizer").get("type").asText());
        assertEquals("ByteLevel", tok.get("decoder").get("type").asText());
        assertEquals("TemplateProcessing", tok.get("post_processor").get("type").asText());
        assertEquals("<s>", tok.get("post_processor").get("single").get(0).get("SpecialToken").get("id").asText());

        Map<String, Integer> vocab = new HashMap<>();
        model.get("vocab").properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        assertEquals(0, vocab.get("<unk>"));
        assertEquals(1, vocab.get("<s>"));
        assertEquals(2, vocab.get("</s>"));
        Set<Integer> ids = new HashSet<>(vocab.values());
        assertEquals(vocab.size(), ids.size(), "ids are unique");
        for (int i = 0; i < vocab.size(); i++) {
            assertTrue(ids.contains(i), "ids are contiguous, missing " + i);
        }
        assertTrue(vocab.size() <= spec.vocab(), "tokenizer must fit the embedding table");
        List<String> merges = new ArrayList<>();
        model.get("merges").forEach(m -> merges.add(m.asText()));
        assertTrue(merges.size() >= 200, "a few hundred merges, got " + merges.size());
        assertEquals(3 + 256 + merges.size(), vocab.size());
        // GPT-2 byte alphabet: 'A' is itself, space is U+0120, newline U+010A.
        assertEquals(3 + 'A', vocab.get("A"));
        assertEquals(3 + ' ', vocab.get("\u0120"));
        assertEquals(3 + '\n', vocab.get("\u010A"));
        for (String m : merges) {
            String[] parts = m.split(" ");
            assertEquals(2, parts.length, m);
            assertTrue(vocab.containsKey(parts[0]) && vocab.containsKey(parts[1]) && vocab.containsKey(parts[0] + parts[1]), m);
        }

        // Encode text with the merges (lowest rank first, as BPE does) and decode it back.
        String text = "The farmers sold strawberries at the market, and we'll buy bread again on Saturday! 12 euros.";
        List<Integer> encoded = encode(text, merges, vocab);
        assertTrue(encoded.size() < text.length() / 2, "merges must compress English text: " + encoded.size() + " tokens");
        assertEquals(text, decode(encoded, vocab));
        String unusual = "naïve → 東京 \t\n";
        assertEquals(unusual, decode(encode(unusual, merges, vocab), vocab), "every byte has a token");

        JsonNode tc = JSON.readTree(dir.resolve("tokenizer_config.json").toFile());
        assertEquals("<s>", tc.get("bos_token").asText());
        assertEquals("</s>", tc.get("eos_token").asText());
        assertTrue(tc.get("chat_template").asText().contains("[INST]"));
    }

    @Test
    void huggingFaceTokenizersLoadsItAndEncodesAsBpe() throws IOException {
        Path dir = write(RandomCheckpoint.Spec.small(6), "m");
        JsonNode model = JSON.readTree(dir.resolve("tokenizer.json").toFile()).get("model");
        Map<String, Integer> vocab = new HashMap<>();
        model.get("vocab").properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        List<String> merges = new ArrayList<>();
        model.get("merges").forEach(m -> merges.add(m.asText()));
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(dir.resolve("tokenizer.json"))) {
            for (String text : new String[] {
                    "The farmers sold strawberries at the market, and we'll buy bread again on Saturday!",
                    "It's 4:15 -- isn't it?  Spaces\tand\nnewlines.",
                    "naïve → 東京"}) {
                long[] ids = hf.encode(text).getIds();
                List<Long> want = new ArrayList<>(List.of((long) RandomCheckpoint.BOS_ID)); // TemplateProcessing adds <s>
                encode(text, merges, vocab).forEach(i -> want.add((long) i));
                assertEquals(want, Arrays.stream(ids).boxed().toList(), text);
                assertEquals(text, hf.decode(ids, true));
            }
        }
    }

    /** A test-local byte-level BPE encoder: pre-tokenize, then repeatedly apply the best-ranked merge. */
    private static List<Integer> encode(String text, List<String> merges, Map<String, Integer> vocab) {
        Map<String, Integer> rank = new HashMap<>();
        for (int i = 0; i < merges.size(); i++) {
            rank.put(merges.get(i), i);
        }
        char[] alphabet = ByteLevelBpeTrainer.byteAlphabet();
        List<Integer> ids = new ArrayList<>();
        Matcher m = ByteLevelBpeTrainer.PRE_TOKENIZER.matcher(text);
        while (m.find()) {
            List<String> sym = new ArrayList<>();
            for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) {
                sym.add(String.valueOf(alphabet[b & 0xFF]));
            }
            while (true) {
                int best = -1, bestRank = Integer.MAX_VALUE;
                for (int j = 0; j + 1 < sym.size(); j++) {
                    Integer r = rank.get(sym.get(j) + " " + sym.get(j + 1));
                    if (r != null && r < bestRank) {
                        bestRank = r;
                        best = j;
                    }
                }
                if (best < 0) {
                    break;
                }
                sym.set(best, sym.get(best) + sym.remove(best + 1));
            }
            sym.forEach(s -> ids.add(vocab.get(s)));
        }
        return ids;
    }

    private static String decode(List<Integer> ids, Map<String, Integer> vocab) {
        Map<Integer, String> byId = new HashMap<>();
        vocab.forEach((k, v) -> byId.put(v, k));
        char[] alphabet = ByteLevelBpeTrainer.byteAlphabet();
        Map<Character, Integer> byteOf = new HashMap<>();
        for (int b = 0; b < 256; b++) {
            byteOf.put(alphabet[b], b);
        }
        var bytes = new java.io.ByteArrayOutputStream();
        for (int id : ids) {
            for (char c : byId.get(id).toCharArray()) {
                bytes.write(byteOf.get(c));
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void byteAlphabetIsABijectionOntoPrintableChars() {
        char[] a = ByteLevelBpeTrainer.byteAlphabet();
        Set<Character> seen = new HashSet<>();
        for (int b = 0; b < 256; b++) {
            assertTrue(seen.add(a[b]));
            assertFalse(Character.isWhitespace(a[b]) || Character.isISOControl(a[b]), "byte " + b);
        }
        assertEquals('!', a['!']);
        assertEquals('\u0100', a[0]);
        assertEquals('\u0143', a[0xAD]); // the last of the 68 remapped bytes
    }

    @Test
    void trainerIsDeterministicAndStopsWhenNothingRepeats() {
        List<ByteLevelBpeTrainer.Merge> a = ByteLevelBpeTrainer.train("abab abab abab", 100);
        assertEquals(a, ByteLevelBpeTrainer.train("abab abab abab", 100));
        // "abab" x1 and " abab" x2: (a,b) occurs 6 times -> first merge; then "ab ab" 3 times, etc.
        assertEquals(new ByteLevelBpeTrainer.Merge("a", "b"), a.get(0));
        assertTrue(a.size() < 100, "no pair repeats after a few merges");
        assertEquals(List.of(), ByteLevelBpeTrainer.train("abc", 10));
    }

    @Test
    void gaussianStreamHasUnitVariance() {
        RandomCheckpoint.GaussianStream g = new RandomCheckpoint.GaussianStream(9, "x");
        int n = 200_000;
        double sum = 0, sq = 0;
        for (int i = 0; i < n; i++) {
            double v = g.next();
            sum += v;
            sq += v * v;
        }
        double mean = sum / n, var = sq / n - mean * mean;
        assertEquals(0, mean, 0.01); // 4.5 standard errors
        assertEquals(1, var, 0.015);
    }

    @Test
    void bfloat16RoundsToNearestEven() {
        assertEquals((short) 0x3F80, RandomCheckpoint.toBfloat16(1.0f));
        assertEquals((short) 0x3F80, RandomCheckpoint.toBfloat16(Float.intBitsToFloat(0x3F808000))); // tie -> even
        assertEquals((short) 0x3F82, RandomCheckpoint.toBfloat16(Float.intBitsToFloat(0x3F818000))); // tie -> even (up)
        assertEquals((short) 0x3F81, RandomCheckpoint.toBfloat16(Float.intBitsToFloat(0x3F808001)));
        assertEquals((short) 0xBF80, RandomCheckpoint.toBfloat16(-1.0f));
    }

    @Test
    void rejectsBadSpecsAndNonEmptyDirectories() throws IOException {
        RandomCheckpoint.Spec s = RandomCheckpoint.Spec.small(0);
        assertThrows(IllegalArgumentException.class, () -> s.withExperts(4, 5));
        assertThrows(IllegalArgumentException.class, () -> s.withAttention(4, 3, 16));
        assertThrows(IllegalArgumentException.class, () -> s.withAttention(4, 2, 15));
        assertThrows(IllegalArgumentException.class, () -> s.withLayers(0));
        assertThrows(IllegalArgumentException.class, () -> s.withSlidingWindow(-1));
        assertThrows(IllegalArgumentException.class, () -> new RandomCheckpoint.Spec(1, 8, 8, 2, 1, 4, 2, 1, 100, 0, 1e4, 1e-5, 64,
                RandomCheckpoint.WeightType.F32, 0));
        Path dir = tmp.resolve("busy");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("keep.txt"), "mine");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RandomCheckpoint.write(s, dir));
        assertTrue(e.getMessage().contains("not empty"));
        assertEquals("mine", Files.readString(dir.resolve("keep.txt")));
    }
}
