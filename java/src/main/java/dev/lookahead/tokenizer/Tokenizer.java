package dev.lookahead.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer, in plain Java.
 *
 * <p>Encoding follows the HF pipeline: (1) added tokens with {@code normalized: false} are cut
 * out of the raw text; (2) each remaining piece is normalized and added tokens with
 * {@code normalized: true} are cut out of it; (3) each remaining piece is pre-tokenized into
 * words; (4) the BPE model turns each word into ids; (5) with {@code addSpecial}, the
 * post-processor adds e.g. BOS. Decoding maps ids to token strings (added tokens first;
 * special ones dropped when asked), then runs the decoder chain.
 *
 * <p>Supported components: model BPE (merges as "a b" or [a, b], byte_fallback, unk/fuse_unk,
 * ignore_merges, continuing_subword_prefix, end_of_word_suffix); normalizers Sequence, Prepend,
 * Replace, NFC/NFD/NFKC/NFKD, Lowercase, Strip; pre-tokenizers Sequence, Metaspace, ByteLevel,
 * Split; decoders Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel;
 * post-processors TemplateProcessing, ByteLevel, Sequence. This covers the Llama/Mistral
 * SentencePiece-style files and GPT-2/Llama-3 style byte-level files. Anything else fails at
 * load with a message naming the component. {@code truncation} and {@code padding} settings
 * are ignored (the engine never truncates a prompt silently). Ids with no token are skipped
 * by {@link #decode}, as HF does.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Tokenizer {

    private static final JsonMapper JSON = new JsonMapper();

    private final String source;
    private final BpeModel model;
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final PostProcessor postProcessor;
    private final Decoder decoder; // null: tokens joined with spaces
    private final Map<Integer, AddedToken> addedById;
    private final Map<String, AddedToken> addedByContent;
    private final Set<String> specialContents;
    private final AddedTokenMatcher rawMatcher;
    private final AddedTokenMatcher normalizedMatcher;
    private final int vocabSize;

    private Tokenizer(String source, BpeModel model, Normalizer normalizer, PreTokenizer preTokenizer,
            PostProcessor postProcessor, Decoder decoder, List<AddedToken> added) {
        this.source = source;
        this.model = model;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.postProcessor = postProcessor;
        this.decoder = decoder;
        this.addedById = new HashMap<>();
        this.addedByContent = new LinkedHashMap<>();
        this.specialContents = new HashSet<>();
        List<AddedToken> raw = new ArrayList<>();
        Map<String, AddedToken> normalizedPatterns = new LinkedHashMap<>();
        int maxId = model.size() - 1;
        // HF builds its matcher from the special tokens first, then the others.
        List<AddedToken> ordered = new ArrayList<>(added.stream().filter(AddedToken::special).toList());
        ordered.addAll(added.stream().filter(t -> !t.special()).toList());
        for (AddedToken t : ordered) {
            addedById.put(t.id(), t);
            addedByContent.put(t.content(), t);
            if (t.special()) {
                specialContents.add(t.content());
            }
            if (t.normalized()) {
                normalizedPatterns.putIfAbsent(normalizer.normalize(t.content()), t);
            } else {
                raw.add(t);
            }
            maxId = Math.max(maxId, t.id());
        }
        this.rawMatcher = new AddedTokenMatcher(raw);
        this.normalizedMatcher = new AddedTokenMatcher(normalizedPatterns);
        this.vocabSize = maxId + 1;
    }

    /** Loads {@code tokenizer.json}. */
    public static Tokenizer load(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new TokenizerException(file + ": cannot read: " + e, e);
        }
        return fromJson(text, file.toString());
    }

    /** Parses tokenizer.json content; {@code source} names it in error messages. */
    public static Tokenizer fromJson(String json, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JacksonException e) {
            throw new TokenizerException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new TokenizerException(source + ": not a JSON object");
        }
        BpeModel model = BpeModel.fromJson(Json.field(root, "model", source), source + ": model");
        Normalizer normalizer = Normalizer.fromJson(root.get("normalizer"), source + ": normalizer");
        PreTokenizer pre = PreTokenizer.fromJson(root.get("pre_tokenizer"), source + ": pre_tokenizer");
        PostProcessor post = PostProcessor.fromJson(root.get("post_processor"), source + ": post_processor");
        Decoder decoder = Decoder.fromJson(root.get("decoder"), source + ": decoder");
        List<AddedToken> added = readAddedTokens(root.get("added_tokens"), model, source + ": added_tokens");
        return new Tokenizer(source, model, normalizer, pre, post, decoder, added);
    }

    private static List<AddedToken> readAddedTokens(JsonNode list, BpeModel model, String where) {
        List<AddedToken> out = new ArrayList<>();
        if (list == null || list.isNull()) {
            return out;
        }
        if (!list.isArray()) {
            throw new TokenizerException(where + ": must be a list");
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode t = list.get(i);
            String at = where + "[" + i + "]";
            String content = Json.string(t, "content", at);
            if (content.isEmpty() || !seen.add(content)) {
                continue; // HF ignores empty and repeated added tokens
            }
            // HF re-derives ids on load (vocabulary id, else the next free one); files it wrote
            // list exactly those, so the listed id is used unless the vocabulary has the token.
            int id = Json.integer(t, "id", -1, at);
            Integer inVocab = model.id(content);
            if (inVocab != null) {
                id = inVocab; // a token already in the vocabulary keeps its id, as in HF
            }
            if (id < 0) {
                throw new TokenizerException(at + ": missing or negative id for '" + content + "'");
            }
            out.add(new AddedToken(id, content, Json.bool(t, "single_word", false, at), Json.bool(t, "lstrip", false, at),
                    Json.bool(t, "rstrip", false, at), Json.bool(t, "normalized", !Json.bool(t, "special", false, at), at),
                    Json.bool(t, "special", false, at)));
        }
        return out;
    }

    /**
     * Token ids of {@code text}. With {@code addSpecial} the post-processor's special tokens
     * (e.g. BOS) are added. Special-token strings in the text (e.g. "&lt;/s&gt;") become their
     * token, as in HF.
     */
    public int[] encode(String text, boolean addSpecial) {
        IntList out = new IntList();
        for (AddedTokenMatcher.Part p : rawMatcher.split(text)) {
            if (p.token() != null) {
                out.add(p.token().id());
                continue;
            }
            String normalized = normalizer.normalize(text.substring(p.start(), p.end()));
            for (AddedTokenMatcher.Part q : normalizedMatcher.split(normalized)) {
                if (q.token() != null) {
                    out.add(q.token().id());
                    continue;
                }
                PreTokenizer.Word w = new PreTokenizer.Word(normalized.substring(q.start(), q.end()),
                        p.start() == 0 && q.start() == 0);
                for (PreTokenizer.Word x : preTokenizer.splitAll(List.of(w))) {
                    out.addAll(model.tokenize(x.text()));
                }
            }
        }
        return postProcessor.process(out.toArray(), addSpecial);
    }

    /** The text of {@code ids}; special tokens left out when {@code skipSpecial}. */
    public String decode(int[] ids, boolean skipSpecial) {
        return decode(ids, 0, ids.length, skipSpecial);
    }

    String decode(int[] ids, int from, int to, boolean skipSpecial) {
        List<String> tokens = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            String t = idToToken(ids[i]);
            if (t == null || (skipSpecial && specialContents.contains(t))) {
                continue;
            }
            tokens.add(t);
        }
        if (decoder == null) {
            return String.join(" ", tokens);
        }
        return String.join("", decoder.decodeChain(tokens));
    }

    /** A decoder for generation: feed ids one by one, get text that never splits a character. */
    public StreamDecoder streamDecoder(boolean skipSpecial) {
        return new StreamDecoder(this, skipSpecial);
    }

    /** One more than the largest token id (model vocabulary and added tokens). */
    public int vocabSize() {
        return vocabSize;
    }

    /** The id of a token string (added tokens first), if any. */
    public OptionalInt tokenToId(String token) {
        AddedToken a = addedByContent.get(token);
        if (a != null) {
            return OptionalInt.of(a.id());
        }
        Integer id = model.id(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The token string of {@code id} (added tokens first), or null. */
    public String idToToken(int id) {
        AddedToken a = addedById.get(id);
        return a != null ? a.content() : model.token(id);
    }

    /** True for ids of added tokens marked special (BOS, EOS, ...). */
    public boolean isSpecial(int id) {
        AddedToken a = addedById.get(id);
        return a != null && a.special();
    }

    public List<AddedToken> addedTokens() {
        return List.copyOf(addedByContent.values());
    }

    @Override
    public String toString() {
        return "Tokenizer[" + source + ", " + vocabSize + " tokens]";
    }

    /** A growable int array. */
    static final class IntList {
        private int[] a = new int[16];
        private int n;

        void add(int v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        void addAll(int[] vs) {
            for (int v : vs) {
                add(v);
            }
        }

        int size() {
            return n;
        }

        int[] array() {
            return a;
        }

        void removeFirst(int count) {
            System.arraycopy(a, count, a, 0, n - count);
            n -= count;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
