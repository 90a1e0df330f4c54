package dev.lookahead.tokenizer;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Small but real tokenizer.json files for tests, with merges learned from English text by
 * {@link TinyBpeTrainer}: a Mistral/Llama-style SentencePiece BPE with byte fallback, and
 * GPT-2 / Llama-3 style byte-level BPEs.
 */
final class TestTokenizers {

    static final JsonMapper JSON = new JsonMapper();

    /** Training text (written for these tests). */
    static final String TEXT = """
            The little robot woke up before the sun. It checked its batteries, counted the tools on the \
            shelf, and walked to the window. Outside, the garden was quiet; only the wind moved the tall \
            grass. The robot liked the garden because nothing there needed to be fixed. Every morning it \
            watered the tomatoes, the beans and the three old apple trees, and every evening it wrote down \
            what had changed: a new leaf, a broken branch, 12 apples instead of 11. People from the village \
            sometimes asked why a machine would care about a garden. The robot answered that it did not \
            know, but that the question itself was interesting, and that interesting questions were worth \
            keeping. In winter the garden slept under the snow, and the robot read books about weather, \
            water, and the patient work of roots. When spring came back it was ready: it had learned that \
            there is a time for waiting and a time for working, and that the two are not so different. \
            "Don't worry," it told the young trees, "we'll get there." It's 3.5 km to the river and \
            they're building a bridge; I've seen it. You'll like it, we'd say.
            """;

    private TestTokenizers() {}

    static Map<String, Integer> wordCounts(List<String> words) {
        Map<String, Integer> counts = new TreeMap<>();
        for (String w : words) {
            counts.merge(w, 1, Integer::sum);
        }
        return counts;
    }

    static ObjectNode addedToken(int id, String content, boolean special, boolean normalized, boolean lstrip,
            boolean rstrip, boolean singleWord) {
        ObjectNode t = JSON.createObjectNode();
        t.put("id", id).put("content", content).put("single_word", singleWord).put("lstrip", lstrip)
                .put("rstrip", rstrip).put("normalized", normalized).put("special", special);
        return t;
    }

    private static ArrayNode merges(List<String[]> merges, boolean pairs) {
        ArrayNode out = JSON.createArrayNode();
        for (String[] m : merges) {
            if (pairs) {
                out.addArray().add(m[0]).add(m[1]);
            } else {
                out.add(m[0] + " " + m[1]);
            }
        }
        return out;
    }

    /** Adds every merge result to the vocabulary (in merge order) after {@code vocab}'s entries. */
    private static void addMergedTokens(Map<String, Integer> vocab, List<String[]> merges) {
        for (String[] m : merges) {
            vocab.putIfAbsent(m[0] + m[1], vocab.size());
        }
    }

    private static ObjectNode vocabNode(Map<String, Integer> vocab) {
        ObjectNode v = JSON.createObjectNode();
        vocab.forEach(v::put);
        return v;
    }

    /** Which of the SentencePiece-style variants to build. */
    enum SpStyle {
        /** normalizer Sequence[Prepend, Replace], no pre-tokenizer, decoder Replace/ByteFallback/Fuse/Strip. */
        LEGACY,
        /** no normalizer, pre_tokenizer Metaspace(prepend_scheme first, split false), same decoder. */
        METASPACE_FIRST,
        /** pre_tokenizer Metaspace(add_prefix_space true, split true) and decoder Metaspace + ByteFallback + Fuse. */
        METASPACE_SPLIT
    }

    /**
     * A Mistral-style tokenizer: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, 256 byte tokens, the characters
     * of the training text, {@code mergeCount} learned merges; added tokens [INST], [/INST]
     * (special), &lt;tool&gt; (normalized), &lt;mask&gt; (lstrip/rstrip), &lt;w&gt; (single word).
     */
    static String sentencePiece(SpStyle style, int mergeCount, boolean pairMerges) {
        List<String> words = List.of(TEXT.strip().split("\\s+")).stream().map(w -> "▁" + w).toList();
        List<String[]> merges = TinyBpeTrainer.train(wordCounts(words), mergeCount);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        vocab.put("<unk>", 0);
        vocab.put("<s>", 1);
        vocab.put("</s>", 2);
        for (int b = 0; b < 256; b++) {
            vocab.put(String.format("<0x%02X>", b), vocab.size());
        }
        TreeSet<String> chars = new TreeSet<>();
        words.forEach(w -> w.codePoints().forEach(cp -> chars.add(Character.toString(cp))));
        chars.forEach(c -> vocab.putIfAbsent(c, vocab.size()));
        addMergedTokens(vocab, merges);
        int n = vocab.size();

        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        added.add(addedToken(0, "<unk>", true, false, false, false, false));
        added.add(addedToken(1, "<s>", true, false, false, false, false));
        added.add(addedToken(2, "</s>", true, false, false, false, false));
        added.add(addedToken(n, "[INST]", true, false, false, false, false));
        added.add(addedToken(n + 1, "[/INST]", true, false, false, false, false));
        added.add(addedToken(n + 2, "<tool>", false, true, false, false, false));
        added.add(addedToken(n + 3, "<mask>", false, false, true, true, false));
        added.add(addedToken(n + 4, "<w>", false, false, false, false, true));

        ObjectNode replaceSpace = JSON.createObjectNode().put("type", "Replace");
        replaceSpace.putObject("pattern").put("String", " ");
        replaceSpace.put("content", "▁");
        ObjectNode metaToSpace = JSON.createObjectNode().put("type", "Replace");
        metaToSpace.putObject("pattern").put("String", "▁");
        metaToSpace.put("content", " ");
        switch (style) {
            case LEGACY -> {
                ObjectNode norm = root.putObject("normalizer").put("type", "Sequence");
                norm.putArray("normalizers").add(JSON.createObjectNode().put("type", "Prepend").put("prepend", "▁"))
                        .add(replaceSpace);
                root.putNull("pre_tokenizer");
            }
            case METASPACE_FIRST -> {
                root.putNull("normalizer");
                root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁")
                        .put("prepend_scheme", "first").put("split", false);
            }
            case METASPACE_SPLIT -> {
                root.putNull("normalizer");
                root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "▁")
                        .put("add_prefix_space", true);
            }
        }
        ObjectNode post = root.putObject("post_processor").put("type", "TemplateProcessing");
        post.putArray("single").addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        ((ArrayNode) post.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 1);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode bos = post.putObject("special_tokens").putObject("<s>");
        bos.put("id", "<s>");
        bos.putArray("ids").add(1);
        bos.putArray("tokens").add("<s>");

        ObjectNode dec = root.putObject("decoder").put("type", "Sequence");
        ArrayNode decoders = dec.putArray("decoders");
        if (style == SpStyle.METASPACE_SPLIT) {
            decoders.add(JSON.createObjectNode().put("type", "Metaspace").put("replacement", "▁")
                    .put("add_prefix_space", true));
            decoders.add(JSON.createObjectNode().put("type", "ByteFallback"));
            decoders.add(JSON.createObjectNode().put("type", "Fuse"));
        } else {
            decoders.add(metaToSpace);
            decoders.add(JSON.createObjectNode().put("type", "ByteFallback"));
            decoders.add(JSON.createObjectNode().put("type", "Fuse"));
            decoders.add(JSON.createObjectNode().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0));
        }

        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.put("unk_token", "<unk>").putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        model.put("fuse_unk", true).put("byte_fallback", true).put("ignore_merges", false);
        model.set("vocab", vocabNode(vocab));
        model.set("merges", merges(merges, pairMerges));
        return root.toPrettyString();
    }

    static final String GPT2_REGEX =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /** A Llama-3 style split regex (case-insensitive contractions, digits in groups of 3). */
    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** Which byte-level variant to build. */
    enum BlStyle {
        /** GPT-2: pre_tokenizer ByteLevel (regex, add_prefix_space false), post ByteLevel. */
        GPT2,
        /** GPT-2 with add_prefix_space true. */
        GPT2_PREFIX,
        /** Llama-3: Sequence[Split(regex), ByteLevel(use_regex false)], post TemplateProcessing with BOS. */
        LLAMA3
    }

    /** A byte-level BPE: the 256 byte characters, learned merges, &lt;|endoftext|&gt; (+ BOS for LLAMA3). */
    static String byteLevel(BlStyle style, int mergeCount, boolean pairMerges) {
        Pattern split = Pattern.compile(style == BlStyle.LLAMA3 ? LLAMA3_REGEX : GPT2_REGEX,
                Pattern.UNICODE_CHARACTER_CLASS);
        List<String> words = new java.util.ArrayList<>();
        Matcher m = split.matcher(TEXT);
        while (m.find()) {
            words.add(ByteUnicode.encode(m.group()));
        }
        List<String[]> merges = TinyBpeTrainer.train(wordCounts(words), mergeCount);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(ByteUnicode.charOf(b)), b);
        }
        addMergedTokens(vocab, merges);
        int n = vocab.size();

        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        added.add(addedToken(n, "<|endoftext|>", true, true, false, false, false));
        if (style == BlStyle.LLAMA3) {
            added.add(addedToken(n + 1, "<|begin_of_text|>", true, false, false, false, false));
            added.add(addedToken(n + 2, "<|eot_id|>", true, false, false, false, false));
        }
        root.putNull("normalizer");
        ObjectNode byteLevel = JSON.createObjectNode().put("type", "ByteLevel")
                .put("add_prefix_space", style == BlStyle.GPT2_PREFIX).put("trim_offsets", true)
                .put("use_regex", style != BlStyle.LLAMA3);
        if (style == BlStyle.LLAMA3) {
            ObjectNode seq = root.putObject("pre_tokenizer").put("type", "Sequence");
            ObjectNode splitNode = JSON.createObjectNode().put("type", "Split");
            splitNode.putObject("pattern").put("Regex", LLAMA3_REGEX);
            splitNode.put("behavior", "Isolated").put("invert", false);
            seq.putArray("pretokenizers").add(splitNode).add(byteLevel);
            ObjectNode post = root.putObject("post_processor").put("type", "Sequence");
            ObjectNode tmpl = JSON.createObjectNode().put("type", "TemplateProcessing");
            tmpl.putArray("single").addObject().putObject("SpecialToken").put("id", "<|begin_of_text|>").put("type_id", 0);
            ((ArrayNode) tmpl.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            tmpl.putArray("pair").addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
            ((ArrayNode) tmpl.get("pair")).addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
            ObjectNode bos = tmpl.putObject("special_tokens").putObject("<|begin_of_text|>");
            bos.put("id", "<|begin_of_text|>");
            bos.putArray("ids").add(n + 1);
            bos.putArray("tokens").add("<|begin_of_text|>");
            post.putArray("processors").add(JSON.createObjectNode().put("type", "ByteLevel")
                    .put("add_prefix_space", true).put("trim_offsets", false).put("use_regex", true)).add(tmpl);
        } else {
            root.set("pre_tokenizer", byteLevel);
            root.set("post_processor", byteLevel.deepCopy());
        }
        root.set("decoder", JSON.createObjectNode().put("type", "ByteLevel").put("add_prefix_space", true)
                .put("trim_offsets", true).put("use_regex", true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout").putNull("unk_token");
        model.putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        model.put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", style == BlStyle.LLAMA3);
        model.set("vocab", vocabNode(vocab));
        model.set("merges", merges(merges, pairMerges));
        return root.toPrettyString();
    }
}
