package dev.lookahead.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Writes a complete Hugging Face style Mixtral checkpoint directory with deterministic
 * pseudo-random weights: {@code config.json}, {@code model.safetensors}, {@code tokenizer.json}
 * and {@code tokenizer_config.json}. Used by {@code lookahead create-model} and by tests that
 * need a model without downloading one.
 *
 * <p>Weights are drawn per tensor from a generator seeded by (seed, tensor name), so a tensor's
 * values do not depend on the order of writing, and the whole directory is a pure function of the
 * {@link Spec}. Scales keep activations O(1) and routing spread over the experts: projections
 * N(0, 1/fan_in), norms 1 + N(0, 0.05^2), embeddings N(0, 1) (the first RMSNorm rescales them
 * anyway; a unit-scale residual stream keeps the token identity visible next to the attention and
 * expert outputs that are added to it).
 */
public final class RandomCheckpoint {

    /** Element type of the written weights. */
    public enum WeightType {
        F32(4, "float32"),
        F16(2, "float16"),
        BF16(2, "bfloat16");

        final int bytes;
        final String torchName;

        WeightType(int bytes, String torchName) {
            this.bytes = bytes;
            this.torchName = torchName;
        }
    }

    /** Special tokens of the generated tokenizer (Mistral/Llama ids). */
    public static final int UNK_ID = 0;
    public static final int BOS_ID = 1;
    public static final int EOS_ID = 2;
    /** Specials + 256 byte tokens: the smallest possible vocabulary. */
    public static final int MIN_VOCAB = 3 + 256;
    /** Metadata key in model.safetensors that marks the weights as random. */
    public static final String RANDOM_METADATA_KEY = "lookahead.random_weights";

    /**
     * What to generate. {@code slidingWindow} 0 means no sliding window (full causal attention).
     * The tokenizer learns up to {@code vocab - 259} merges, fewer when the built-in text offers
     * fewer, so the tokenizer may be smaller than {@code vocab}; the extra embedding rows are unused.
     */
    public record Spec(
            int layers,
            int hidden,
            int intermediate,
            int heads,
            int kvHeads,
            int headDim,
            int experts,
            int topK,
            int vocab,
            int slidingWindow,
            double ropeTheta,
            double rmsNormEps,
            int maxPositions,
            WeightType dtype,
            long seed) {

        public Spec {
            positive("layers", layers);
            positive("hidden", hidden);
            positive("intermediate", intermediate);
            positive("heads", heads);
            positive("kvHeads", kvHeads);
            positive("headDim", headDim);
            positive("experts", experts);
            positive("topK", topK);
            positive("maxPositions", maxPositions);
            if (heads % kvHeads != 0) {
                throw new IllegalArgumentException("heads (" + heads + ") must be a multiple of kvHeads (" + kvHeads + ")");
            }
            if (headDim % 2 != 0) {
                throw new IllegalArgumentException("headDim must be even for rotary embeddings, got " + headDim);
            }
            if (topK > experts) {
                throw new IllegalArgumentException("topK (" + topK + ") must not exceed experts (" + experts + ")");
            }
            if (vocab < MIN_VOCAB) {
                throw new IllegalArgumentException("vocab must be >= " + MIN_VOCAB + " (3 special + 256 byte tokens), got " + vocab);
            }
            if (slidingWindow < 0) {
                throw new IllegalArgumentException("slidingWindow must be >= 0 (0 = none), got " + slidingWindow);
            }
            if (!(ropeTheta > 0) || Double.isInfinite(ropeTheta)) {
                throw new IllegalArgumentException("ropeTheta must be a positive number, got " + ropeTheta);
            }
            if (!(rmsNormEps > 0) || Double.isInfinite(rmsNormEps)) {
                throw new IllegalArgumentException("rmsNormEps must be a positive number, got " + rmsNormEps);
            }
            if (dtype == null) {
                throw new IllegalArgumentException("dtype must be set");
            }
        }

        private static void positive(String name, int v) {
            if (v <= 0) {
                throw new IllegalArgumentException(name + " must be > 0, got " + v);
            }
        }

        /** A small model (2 layers, 4 experts, top-2) that runs in milliseconds. */
        public static Spec small(long seed) {
            return new Spec(2, 64, 128, 4, 2, 16, 4, 2, 512, 0, 10000.0, 1e-5, 4096, WeightType.F32, seed);
        }

        public Spec withLayers(int v) {
            return new Spec(v, hidden, intermediate, heads, kvHeads, headDim, experts, topK, vocab, slidingWindow, ropeTheta, rmsNormEps, maxPositions, dtype, seed);
        }

        public Spec withAttention(int h, int kv, int hd) {
            return new Spec(layers, hidden, intermediate, h, kv, hd, experts, topK, vocab, slidingWindow, ropeTheta, rmsNormEps, maxPositions, dtype, seed);
        }

        public Spec withExperts(int e, int k) {
            return new Spec(layers, hidden, intermediate, heads, kvHeads, headDim, e, k, vocab, slidingWindow, ropeTheta, rmsNormEps, maxPositions, dtype, seed);
        }

        public Spec withSlidingWindow(int v) {
            return new Spec(layers, hidden, intermediate, heads, kvHeads, headDim, experts, topK, vocab, v, ropeTheta, rmsNormEps, maxPositions, dtype, seed);
        }

        public Spec withDtype(WeightType v) {
            return new Spec(layers, hidden, intermediate, heads, kvHeads, headDim, experts, topK, vocab, slidingWindow, ropeTheta, rmsNormEps, maxPositions, v, seed);
        }

        public Spec withSeed(long v) {
            return new Spec(layers, hidden, intermediate, heads, kvHeads, headDim, experts, topK, vocab, slidingWindow, ropeTheta, rmsNormEps, maxPositions, dtype, v);
        }

        /** Number of weights (all tensors). */
        public long parameterCount() {
            long n = 0;
            for (TensorPlan t : plan(this)) {
                n += t.elements();
            }
            return n;
        }
    }

    /** How one tensor is made: its HF name, shape, and value distribution. */
    record TensorPlan(String name, long[] shape, Init init, double scale) {
        long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** Normal(0, scale^2), or 1 + Normal(0, scale^2) for norm weights. */
    enum Init { NORMAL, ONE_PLUS_NORMAL }

    private static final double NORM_JITTER = 0.05;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private RandomCheckpoint() {}

    /**
     * Writes the checkpoint into {@code dir} (created if missing; must be empty if it exists).
     *
     * @throws IllegalArgumentException if {@code dir} exists and is not an empty directory
     */
    public static void write(Spec spec, Path dir) throws IOException {
        writeSideFiles(spec, dir);
        writeSafetensors(spec, dir.resolve("model.safetensors"));
    }

    /**
     * Creates {@code dir} and writes every file of the checkpoint except its weights: config.json, tokenizer.json and
     * tokenizer_config.json (for writers of other weight formats, such as a quantized checkpoint).
     *
     * @throws IllegalArgumentException if {@code dir} exists and is not an empty directory
     */
    public static void writeSideFiles(Spec spec, Path dir) throws IOException {
        if (Files.exists(dir)) {
            if (!Files.isDirectory(dir)) {
                throw new IllegalArgumentException("not a directory: " + dir);
            }
            try (Stream<Path> entries = Files.list(dir)) {
                if (entries.findAny().isPresent()) {
                    throw new IllegalArgumentException("directory is not empty, refusing to overwrite: " + dir);
                }
            }
        }
        Files.createDirectories(dir);
        List<ByteLevelBpeTrainer.Merge> merges = ByteLevelBpeTrainer.train(TrainingText.TEXT, spec.vocab() - MIN_VOCAB);
        JSON.writeValue(dir.resolve("config.json").toFile(), configJson(spec));
        JSON.writeValue(dir.resolve("tokenizer.json").toFile(), tokenizerJson(merges));
        JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), tokenizerConfigJson(spec));
    }

    /** The metadata entries of the written model.safetensors besides "format": random weights, seed. */
    public static Map<String, String> metadata(Spec spec) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(RANDOM_METADATA_KEY, "true");
        meta.put("lookahead.seed", Long.toString(spec.seed()));
        return meta;
    }

    /** The values of one tensor, in row-major order, before rounding to the checkpoint's dtype. */
    public interface Values {
        float next();
    }

    /**
     * The values that {@link #write} stores for tensor {@code name} (before rounding to {@code spec.dtype()}).
     *
     * @throws IllegalArgumentException if the checkpoint has no such tensor
     */
    public static Values values(Spec spec, String name) {
        TensorPlan t = plan(spec).stream().filter(p -> p.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no tensor " + name + " in a random checkpoint"));
        return values(spec.seed(), t);
    }

    private static Values values(long seed, TensorPlan t) {
        GaussianStream g = new GaussianStream(seed, t.name());
        double offset = t.init() == Init.ONE_PLUS_NORMAL ? 1.0 : 0.0;
        return () -> (float) (g.next() * t.scale() + offset);
    }

    /** Tensors in file order: embeddings, then layer by layer, then final norm and lm_head. */
    static List<TensorPlan> plan(Spec s) {
        List<TensorPlan> t = new ArrayList<>();
        long h = s.hidden(), inter = s.intermediate(), q = (long) s.heads() * s.headDim(), kv = (long) s.kvHeads() * s.headDim();
        t.add(new TensorPlan("model.embed_tokens.weight", new long[] {s.vocab(), h}, Init.NORMAL, 1.0));
        for (int i = 0; i < s.layers(); i++) {
            String p = "model.layers." + i + ".";
            t.add(new TensorPlan(p + "input_layernorm.weight", new long[] {h}, Init.ONE_PLUS_NORMAL, NORM_JITTER));
            t.add(linear(p + "self_attn.q_proj.weight", q, h));
            t.add(linear(p + "self_attn.k_proj.weight", kv, h));
            t.add(linear(p + "self_attn.v_proj.weight", kv, h));
            t.add(linear(p + "self_attn.o_proj.weight", h, q));
            t.add(new TensorPlan(p + "post_attention_layernorm.weight", new long[] {h}, Init.ONE_PLUS_NORMAL, NORM_JITTER));
            t.add(linear(p + "block_sparse_moe.gate.weight", s.experts(), h));
            for (int e = 0; e < s.experts(); e++) {
                String x = p + "block_sparse_moe.experts." + e + ".";
                t.add(linear(x + "w1.weight", inter, h)); // gate projection
                t.add(linear(x + "w2.weight", h, inter)); // down projection
                t.add(linear(x + "w3.weight", inter, h)); // up projection
            }
        }
        t.add(new TensorPlan("model.norm.weight", new long[] {h}, Init.ONE_PLUS_NORMAL, NORM_JITTER));
        t.add(linear("lm_head.weight", s.vocab(), h));
        return t;
    }

    /** A [out, in] projection with N(0, 1/in): unit-variance inputs give unit-variance outputs. */
    private static TensorPlan linear(String name, long out, long in) {
        return new TensorPlan(name, new long[] {out, in}, Init.NORMAL, 1.0 / Math.sqrt(in));
    }

    // ---------------------------------------------------------------- safetensors

    /** Header first (all offsets follow from the shapes), then each tensor streamed in chunks. */
    private static void writeSafetensors(Spec spec, Path file) throws IOException {
        List<TensorPlan> plan = plan(spec);
        Map<String, Object> header = new LinkedHashMap<>();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.putAll(metadata(spec));
        header.put("__metadata__", meta);
        long offset = 0;
        for (TensorPlan t : plan) {
            long bytes = t.elements() * spec.dtype().bytes;
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", spec.dtype().name());
            entry.put("shape", t.shape());
            entry.put("data_offsets", new long[] {offset, offset + bytes});
            header.put(t.name(), entry);
            offset += bytes;
        }
        byte[] json = new ObjectMapper().writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8; // data then starts 8-byte aligned (8 + padded)
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();

        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            writeFully(ch, head);
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            for (TensorPlan t : plan) {
                Values values = values(spec.seed(), t); // the plan in hand: no search by name per tensor
                for (long i = 0, n = t.elements(); i < n; i++) {
                    put(buf, values.next(), spec.dtype());
                    if (!buf.hasRemaining()) {
                        buf.flip();
                        writeFully(ch, buf);
                        buf.clear();
                    }
                }
            }
            buf.flip();
            writeFully(ch, buf);
        }
    }

    private static void put(ByteBuffer buf, float v, WeightType type) {
        switch (type) {
            case F32 -> buf.putFloat(v);
            case F16 -> buf.putShort(Float.floatToFloat16(v));
            case BF16 -> buf.putShort(toBfloat16(v));
        }
    }

    /** float -> bfloat16 with round-to-nearest-even (values here are finite). */
    static short toBfloat16(float v) {
        int bits = Float.floatToRawIntBits(v);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    /**
     * Standard normal values from SplitMix64 + Box-Muller, seeded by (seed, tensor name). StrictMath
     * makes the values bit-identical on every JVM and platform.
     */
    static final class GaussianStream {
        private final SplitMix64 bits;
        private double spare;
        private boolean hasSpare;

        GaussianStream(long seed, String name) {
            bits = new SplitMix64(seed, name);
        }

        private long nextLong() {
            return bits.nextLong();
        }

        double next() {
            if (hasSpare) {
                hasSpare = false;
                return spare;
            }
            double u1 = ((nextLong() >>> 11) + 1) * 0x1.0p-53; // (0, 1]: log is finite
            double u2 = (nextLong() >>> 11) * 0x1.0p-53;
            double r = StrictMath.sqrt(-2.0 * StrictMath.log(u1));
            double a = 2.0 * Math.PI * u2;
            spare = r * StrictMath.sin(a);
            hasSpare = true;
            return r * StrictMath.cos(a);
        }
    }

    // ---------------------------------------------------------------- JSON files

    /** The keys of Hugging Face's MixtralConfig. */
    static Map<String, Object> configJson(Spec s) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("architectures", List.of("MixtralForCausalLM"));
        c.put("model_type", "mixtral");
        c.put("vocab_size", s.vocab());
        c.put("hidden_size", s.hidden());
        c.put("intermediate_size", s.intermediate());
        c.put("num_hidden_layers", s.layers());
        c.put("num_attention_heads", s.heads());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("head_dim", s.headDim());
        c.put("hidden_act", "silu");
        c.put("max_position_embeddings", s.maxPositions());
        c.put("initializer_range", 0.02);
        c.put("rms_norm_eps", s.rmsNormEps());
        c.put("use_cache", true);
        c.put("pad_token_id", null);
        c.put("bos_token_id", BOS_ID);
        c.put("eos_token_id", EOS_ID);
        c.put("tie_word_embeddings", false);
        c.put("rope_theta", s.ropeTheta());
        c.put("sliding_window", s.slidingWindow() == 0 ? null : s.slidingWindow());
        c.put("attention_dropout", 0.0);
        c.put("num_experts_per_tok", s.topK());
        c.put("num_local_experts", s.experts());
        c.put("output_router_logits", false);
        c.put("router_aux_loss_coef", 0.02);
        c.put("router_jitter_noise", 0.0);
        c.put("torch_dtype", s.dtype().torchName);
        c.put("lookahead_random_weights", true);
        c.put("lookahead_seed", s.seed());
        return c;
    }

    /** A Hugging Face tokenizers file: byte-level BPE, specials 0..2, BOS added to every sequence. */
    static Map<String, Object> tokenizerJson(List<ByteLevelBpeTrainer.Merge> merges) {
        String[] specials = {"<unk>", "<s>", "</s>"};
        List<Object> added = new ArrayList<>();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < specials.length; id++) {
            Map<String, Object> a = new LinkedHashMap<>();
            a.put("id", id);
            a.put("content", specials[id]);
            a.put("single_word", false);
            a.put("lstrip", false);
            a.put("rstrip", false);
            a.put("normalized", false);
            a.put("special", true);
            added.add(a);
            vocab.put(specials[id], id);
        }
        char[] alphabet = ByteLevelBpeTrainer.byteAlphabet();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(alphabet[b]), 3 + b);
        }
        List<String> mergeStrings = new ArrayList<>();
        for (ByteLevelBpeTrainer.Merge m : merges) {
            vocab.putIfAbsent(m.merged(), vocab.size());
            mergeStrings.add(m.toString());
        }

        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", true);

        Map<String, Object> bosTemplate = Map.of("SpecialToken", Map.of("id", "<s>", "type_id", 0));
        Map<String, Object> post = new LinkedHashMap<>();
        post.put("type", "TemplateProcessing");
        post.put("single", List.of(bosTemplate, Map.of("Sequence", Map.of("id", "A", "type_id", 0))));
        post.put("pair", List.of(bosTemplate, Map.of("Sequence", Map.of("id", "A", "type_id", 0)),
                bosTemplate, Map.of("Sequence", Map.of("id", "B", "type_id", 1))));
        post.put("special_tokens", Map.of("<s>", Map.of("id", "<s>", "ids", List.of(BOS_ID), "tokens", List.of("<s>"))));

        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null); // every byte has a token: nothing is unknown
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("vocab", vocab);
        model.put("merges", mergeStrings);

        Map<String, Object> t = new LinkedHashMap<>();
        t.put("version", "1.0");
        t.put("truncation", null);
        t.put("padding", null);
        t.put("added_tokens", added);
        t.put("normalizer", null);
        t.put("pre_tokenizer", byteLevel);
        t.put("post_processor", post);
        t.put("decoder", byteLevel);
        t.put("model", model);
        return t;
    }

    /**
     * Mistral instruct format: {@code <s>[INST] user [/INST] answer</s>[INST] ...}; roles must
     * alternate user/assistant starting with user.
     */
    static final String CHAT_TEMPLATE =
            "{{ bos_token }}"
            + "{% for message in messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
            + "{% endif %}"
            + "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
            + "{% else %}{{ raise_exception('Only user and assistant roles are supported') }}"
            + "{% endif %}"
            + "{% endfor %}";

    static Map<String, Object> tokenizerConfigJson(Spec s) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("tokenizer_class", "PreTrainedTokenizerFast");
        c.put("bos_token", "<s>");
        c.put("eos_token", "</s>");
        c.put("unk_token", "<unk>");
        c.put("pad_token", null);
        c.put("add_bos_token", true);
        c.put("add_eos_token", false);
        c.put("clean_up_tokenization_spaces", false);
        c.put("model_max_length", s.maxPositions());
        c.put("chat_template", CHAT_TEMPLATE);
        return c;
    }
}
