package dev.lookahead.model;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The model hyper-parameters of a Hugging Face {@code config.json} (MixtralConfig keys).
 *
 * <p>Required keys: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads, num_local_experts, num_experts_per_tok, vocab_size, and either
 * architectures or model_type. Optional keys take the MixtralConfig defaults: head_dim =
 * hidden_size / num_attention_heads, rms_norm_eps 1e-5, rope_theta 1e6,
 * max_position_embeddings 131072, sliding_window null (full attention), tie_word_embeddings
 * false, bos_token_id 1, eos_token_id 2 (an int or a list of ints), hidden_act "silu" (the only
 * one accepted), rope_scaling null (the only value accepted: scaled RoPE is not implemented).
 * Unknown keys (router_jitter_noise, output_router_logits, ...) are ignored.
 *
 * @param slidingWindow attention window in tokens, or null for full causal attention
 * @param bosTokenId null when the config says null
 * @param torchDtype the checkpoint's declared dtype ("bfloat16", ...), or null
 */
public record ModelConfig(
        List<String> architectures,
        String modelType,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int headDim,
        int numLocalExperts,
        int numExpertsPerTok,
        double rmsNormEps,
        double ropeTheta,
        int maxPositionEmbeddings,
        Integer slidingWindow,
        int vocabSize,
        boolean tieWordEmbeddings,
        Integer bosTokenId,
        List<Integer> eosTokenIds,
        String torchDtype) {

    private static final JsonMapper JSON = new JsonMapper();

    public ModelConfig {
        architectures = List.copyOf(architectures);
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    /** Reads and validates {@code configJson}. */
    public static ModelConfig read(Path configJson) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(configJson));
        } catch (JacksonException e) {
            throw new CheckpointException(configJson, null, "not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(configJson, null, "cannot read: " + e, e);
        }
        return fromJson(root, configJson);
    }

    /** Builds and validates a config from a parsed config.json; {@code source} names it in errors. */
    public static ModelConfig fromJson(JsonNode root, Path source) {
        if (root == null || !root.isObject()) {
            throw new CheckpointException(source, null, "config is not a JSON object");
        }
        Reader r = new Reader(root);
        int hidden = r.requiredInt("hidden_size");
        int heads = r.requiredInt("num_attention_heads");
        Integer headDimRaw = r.optionalInt("head_dim");
        ModelConfig c = new ModelConfig(
                r.stringList("architectures"),
                r.optionalString("model_type"),
                hidden,
                r.requiredInt("intermediate_size"),
                r.requiredInt("num_hidden_layers"),
                heads,
                r.requiredInt("num_key_value_heads"),
                headDimRaw != null ? headDimRaw : (heads > 0 ? hidden / heads : 0),
                r.requiredInt("num_local_experts"),
                r.requiredInt("num_experts_per_tok"),
                r.optionalDouble("rms_norm_eps", 1e-5),
                r.optionalDouble("rope_theta", 1e6),
                r.optionalIntOr("max_position_embeddings", 4096 * 32),
                r.optionalInt("sliding_window"),
                r.requiredInt("vocab_size"),
                r.optionalBool("tie_word_embeddings", false),
                r.has("bos_token_id") ? r.optionalInt("bos_token_id") : Integer.valueOf(1),
                r.has("eos_token_id") ? r.intOrIntList("eos_token_id") : List.of(2),
                r.optionalString("torch_dtype"));

        List<String> problems = r.problems;
        if (headDimRaw == null && heads > 0 && hidden % heads != 0) {
            problems.add("hidden_size " + hidden + " is not divisible by num_attention_heads " + heads
                    + " (and no head_dim is given)");
        }
        String act = r.optionalString("hidden_act");
        if (act != null && !act.equals("silu")) {
            problems.add("hidden_act '" + act + "' is not supported (only 'silu')");
        }
        if (root.hasNonNull("rope_scaling")) {
            problems.add("rope_scaling " + root.get("rope_scaling") + " is not supported (only null)");
        }
        if (problems.isEmpty()) {
            problems.addAll(c.problems());
        }
        if (!problems.isEmpty()) {
            throw new CheckpointException(source, null, "invalid config: " + String.join("; ", problems));
        }
        return c;
    }

    /** Consistency problems of this config, empty when valid. */
    public List<String> problems() {
        List<String> p = new ArrayList<>();
        positive(p, "hidden_size", hiddenSize);
        positive(p, "intermediate_size", intermediateSize);
        positive(p, "num_hidden_layers", numHiddenLayers);
        positive(p, "num_attention_heads", numAttentionHeads);
        positive(p, "num_key_value_heads", numKeyValueHeads);
        positive(p, "head_dim", headDim);
        positive(p, "num_local_experts", numLocalExperts);
        positive(p, "num_experts_per_tok", numExpertsPerTok);
        positive(p, "max_position_embeddings", maxPositionEmbeddings);
        positive(p, "vocab_size", vocabSize);
        if (numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads != 0) {
            p.add("num_attention_heads " + numAttentionHeads + " is not a multiple of num_key_value_heads "
                    + numKeyValueHeads);
        }
        if (headDim % 2 != 0) {
            p.add("head_dim " + headDim + " is odd (RoPE rotates pairs)");
        }
        if (numExpertsPerTok > numLocalExperts) {
            p.add("num_experts_per_tok " + numExpertsPerTok + " exceeds num_local_experts " + numLocalExperts);
        }
        if (!(rmsNormEps > 0) || !Double.isFinite(rmsNormEps)) {
            p.add("rms_norm_eps must be a positive number, got " + rmsNormEps);
        }
        if (!(ropeTheta > 0) || !Double.isFinite(ropeTheta)) {
            p.add("rope_theta must be a positive number, got " + ropeTheta);
        }
        if (slidingWindow != null && slidingWindow <= 0) {
            p.add("sliding_window must be positive or null, got " + slidingWindow);
        }
        checkTokenId(p, "bos_token_id", bosTokenId);
        for (Integer eos : eosTokenIds) {
            checkTokenId(p, "eos_token_id", eos);
        }
        if (ArchitectureSpec.find(this).isEmpty()) {
            p.add("architecture " + (architectures.isEmpty() ? "model_type '" + modelType + "'" : architectures)
                    + " is not supported; supported: " + ArchitectureSpec.supportedArchitectures());
        }
        return p;
    }

    private void checkTokenId(List<String> p, String key, Integer id) {
        if (id != null && (id < 0 || id >= vocabSize)) {
            p.add(key + " " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        }
    }

    private static void positive(List<String> p, String key, long v) {
        if (v <= 0) {
            p.add(key + " must be positive, got " + v);
        }
    }

    /** Width of the concatenated query heads: num_attention_heads * head_dim. */
    public int qDim() {
        return numAttentionHeads * headDim;
    }

    /** Width of the concatenated key (or value) heads: num_key_value_heads * head_dim. */
    public int kvDim() {
        return numKeyValueHeads * headDim;
    }

    /** Query heads per key/value head (grouped-query attention). */
    public int kvGroupSize() {
        return numAttentionHeads / numKeyValueHeads;
    }

    /** This config as HF config.json content (Mixtral keys), e.g. for create-model. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode arch = o.putArray("architectures");
        architectures.forEach(arch::add);
        if (modelType != null) {
            o.put("model_type", modelType);
        }
        o.put("hidden_size", hiddenSize);
        o.put("intermediate_size", intermediateSize);
        o.put("num_hidden_layers", numHiddenLayers);
        o.put("num_attention_heads", numAttentionHeads);
        o.put("num_key_value_heads", numKeyValueHeads);
        o.put("head_dim", headDim);
        o.put("num_local_experts", numLocalExperts);
        o.put("num_experts_per_tok", numExpertsPerTok);
        o.put("hidden_act", "silu");
        o.put("rms_norm_eps", rmsNormEps);
        o.put("rope_theta", ropeTheta);
        o.put("max_position_embeddings", maxPositionEmbeddings);
        if (slidingWindow == null) {
            o.putNull("sliding_window");
        } else {
            o.put("sliding_window", slidingWindow);
        }
        o.put("vocab_size", vocabSize);
        o.put("tie_word_embeddings", tieWordEmbeddings);
        if (bosTokenId == null) {
            o.putNull("bos_token_id");
        } else {
            o.put("bos_token_id", bosTokenId);
        }
        if (eosTokenIds.size() == 1) {
            o.put("eos_token_id", eosTokenIds.getFirst());
        } else {
            ArrayNode eos = o.putArray("eos_token_id");
            eosTokenIds.forEach(eos::add);
        }
        if (torchDtype != null) {
            o.put("torch_dtype", torchDtype);
        }
        return o;
    }

    /** Writes {@link #toJson()} to {@code file}, pretty-printed. */
    public void write(Path file) throws IOException {
        Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson()) + "\n");
    }

    /** Typed access to config keys that records every problem instead of stopping at the first. */
    private static final class Reader {
        final JsonNode root;
        final List<String> problems = new ArrayList<>();

        Reader(JsonNode root) {
            this.root = root;
        }

        boolean has(String key) {
            return root.has(key);
        }

        int requiredInt(String key) {
            if (!root.hasNonNull(key)) {
                problems.add("missing required key '" + key + "'");
                return 0;
            }
            return toInt(key, root.get(key));
        }

        Integer optionalInt(String key) {
            return root.hasNonNull(key) ? toInt(key, root.get(key)) : null;
        }

        int optionalIntOr(String key, int dflt) {
            Integer v = optionalInt(key);
            return v != null ? v : dflt;
        }

        private int toInt(String key, JsonNode v) {
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                problems.add("'" + key + "' must be a 32-bit integer, got " + v);
                return 0;
            }
            return v.intValue();
        }

        double optionalDouble(String key, double dflt) {
            JsonNode v = root.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isNumber()) {
                problems.add("'" + key + "' must be a number, got " + v);
                return dflt;
            }
            return v.doubleValue();
        }

        boolean optionalBool(String key, boolean dflt) {
            JsonNode v = root.get(key);
            if (v == null || v.isNull()) {
                return dflt;
            }
            if (!v.isBoolean()) {
                problems.add("'" + key + "' must be true or false, got " + v);
                return dflt;
            }
            return v.booleanValue();
        }

        String optionalString(String key) {
            JsonNode v = root.get(key);
            if (v == null || v.isNull()) {
                return null;
            }
            if (!v.isTextual()) {
                problems.add("'" + key + "' must be a string, got " + v);
                return null;
            }
            return v.textValue();
        }

        List<String> stringList(String key) {
            JsonNode v = root.get(key);
            List<String> out = new ArrayList<>();
            if (v == null || v.isNull()) {
                return out;
            }
            if (!v.isArray()) {
                problems.add("'" + key + "' must be a list of strings, got " + v);
                return out;
            }
            for (JsonNode e : v) {
                if (!e.isTextual()) {
                    problems.add("'" + key + "' must be a list of strings, got " + v);
                    return List.of();
                }
                out.add(e.textValue());
            }
            return out;
        }

        List<Integer> intOrIntList(String key) {
            JsonNode v = root.get(key);
            List<Integer> out = new ArrayList<>();
            if (v == null || v.isNull()) {
                return out;
            }
            if (v.isArray()) {
                for (JsonNode e : v) {
                    out.add(toInt(key, e));
                }
            } else {
                out.add(toInt(key, v));
            }
            return out;
        }
    }
}
