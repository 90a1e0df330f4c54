package dev.lookahead.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.ToLongFunction;

/**
 * A data-driven description of one model architecture's checkpoint: for every weight, its role
 * in the forward pass, the Hugging Face tensor name (a pattern over layer and expert index), and
 * its shape as a function of the {@link ModelConfig}. The engine asks for weights by
 * {@link Role}, so another MoE family (OLMoE, Qwen-MoE with a shared expert, DeepSeek-MoE) is
 * one more table here (plus roles/dims it needs), not a rewrite of the loader.
 *
 * <p>Shapes follow PyTorch {@code nn.Linear}: a projection from {@code in} to {@code out}
 * features is stored as {@code [out, in]}.
 *
 * @param architecture the HF {@code architectures[0]} value, e.g. "MixtralForCausalLM"
 * @param modelType the HF {@code model_type}, used when a config lists no architectures
 */
public record ArchitectureSpec(String architecture, String modelType, List<WeightSpec> weights) {

    /** What a weight is for; the engine's vocabulary, independent of checkpoint naming. */
    public enum Role {
        TOKEN_EMBEDDING,
        ATTN_NORM,
        ATTN_Q,
        ATTN_K,
        ATTN_V,
        ATTN_O,
        FFN_NORM,
        ROUTER,
        EXPERT_GATE,
        EXPERT_UP,
        EXPERT_DOWN,
        FINAL_NORM,
        LM_HEAD
    }

    /** How often a weight occurs: once, once per layer, or once per expert of each layer. */
    public enum Scope { MODEL, LAYER, EXPERT }

    /** When a weight may be absent. */
    public enum Presence {
        REQUIRED,
        /** Absent when {@code tie_word_embeddings} is true (the embedding is reused). */
        UNLESS_TIED
    }

    /** A symbolic dimension, resolved against a config. */
    public enum Dim {
        HIDDEN(c -> c.hiddenSize()),
        INTERMEDIATE(c -> c.intermediateSize()),
        VOCAB(c -> c.vocabSize()),
        /** num_attention_heads * head_dim */
        Q_DIM(c -> c.qDim()),
        /** num_key_value_heads * head_dim */
        KV_DIM(c -> c.kvDim()),
        EXPERTS(c -> c.numLocalExperts());

        private final ToLongFunction<ModelConfig> size;

        Dim(ToLongFunction<ModelConfig> size) {
            this.size = size;
        }

        public long of(ModelConfig c) {
            return size.applyAsLong(c);
        }
    }

    /**
     * One weight: {@code pattern} may contain {@code {layer}} and {@code {expert}}.
     */
    public record WeightSpec(Role role, Scope scope, String pattern, List<Dim> shape, Presence presence) {
        public WeightSpec {
            Objects.requireNonNull(role);
            shape = List.copyOf(shape);
        }

        public String name(int layer, int expert) {
            return pattern.replace("{layer}", Integer.toString(layer))
                    .replace("{expert}", Integer.toString(expert));
        }

        public long[] shape(ModelConfig c) {
            return shape.stream().mapToLong(d -> d.of(c)).toArray();
        }

        boolean optionalFor(ModelConfig c) {
            return presence == Presence.UNLESS_TIED && c.tieWordEmbeddings();
        }
    }

    /** Mixtral (HF {@code MixtralForCausalLM}): w1 = gate, w3 = up, w2 = down of each SwiGLU expert. */
    public static final ArchitectureSpec MIXTRAL = new ArchitectureSpec("MixtralForCausalLM", "mixtral", List.of(
            w(Role.TOKEN_EMBEDDING, Scope.MODEL, "model.embed_tokens.weight", Dim.VOCAB, Dim.HIDDEN),
            w(Role.ATTN_NORM, Scope.LAYER, "model.layers.{layer}.input_layernorm.weight", Dim.HIDDEN),
            w(Role.ATTN_Q, Scope.LAYER, "model.layers.{layer}.self_attn.q_proj.weight", Dim.Q_DIM, Dim.HIDDEN),
            w(Role.ATTN_K, Scope.LAYER, "model.layers.{layer}.self_attn.k_proj.weight", Dim.KV_DIM, Dim.HIDDEN),
            w(Role.ATTN_V, Scope.LAYER, "model.layers.{layer}.self_attn.v_proj.weight", Dim.KV_DIM, Dim.HIDDEN),
            w(Role.ATTN_O, Scope.LAYER, "model.layers.{layer}.self_attn.o_proj.weight", Dim.HIDDEN, Dim.Q_DIM),
            w(Role.FFN_NORM, Scope.LAYER, "model.layers.{layer}.post_attention_layernorm.weight", Dim.HIDDEN),
            w(Role.ROUTER, Scope.LAYER, "model.layers.{layer}.block_sparse_moe.gate.weight", Dim.EXPERTS, Dim.HIDDEN),
            w(Role.EXPERT_GATE, Scope.EXPERT, "model.layers.{layer}.block_sparse_moe.experts.{expert}.w1.weight",
                    Dim.INTERMEDIATE, Dim.HIDDEN),
            w(Role.EXPERT_DOWN, Scope.EXPERT, "model.layers.{layer}.block_sparse_moe.experts.{expert}.w2.weight",
                    Dim.HIDDEN, Dim.INTERMEDIATE),
            w(Role.EXPERT_UP, Scope.EXPERT, "model.layers.{layer}.block_sparse_moe.experts.{expert}.w3.weight",
                    Dim.INTERMEDIATE, Dim.HIDDEN),
            w(Role.FINAL_NORM, Scope.MODEL, "model.norm.weight", Dim.HIDDEN),
            new WeightSpec(Role.LM_HEAD, Scope.MODEL, "lm_head.weight", List.of(Dim.VOCAB, Dim.HIDDEN),
                    Presence.UNLESS_TIED)));

    private static final List<ArchitectureSpec> KNOWN = List.of(MIXTRAL);

    public ArchitectureSpec {
        weights = List.copyOf(weights);
    }

    private static WeightSpec w(Role role, Scope scope, String pattern, Dim... shape) {
        return new WeightSpec(role, scope, pattern, List.of(shape), Presence.REQUIRED);
    }

    /** The architectures this build can run. */
    public static List<String> supportedArchitectures() {
        return KNOWN.stream().map(ArchitectureSpec::architecture).toList();
    }

    /** The spec for a config: by {@code architectures}, or by {@code model_type} when none are listed. */
    public static Optional<ArchitectureSpec> find(ModelConfig config) {
        for (ArchitectureSpec s : KNOWN) {
            if (config.architectures().isEmpty() ? s.modelType.equals(config.modelType())
                    : config.architectures().contains(s.architecture)) {
                return Optional.of(s);
            }
        }
        return Optional.empty();
    }

    /** Like {@link #find} but failing with the list of supported architectures. */
    public static ArchitectureSpec forConfig(ModelConfig config) {
        return find(config).orElseThrow(() -> new IllegalArgumentException("unsupported architecture "
                + config.architectures() + "; supported: " + supportedArchitectures()));
    }

    /** The spec entry for {@code role}. */
    public WeightSpec weight(Role role) {
        for (WeightSpec w : weights) {
            if (w.role() == role) {
                return w;
            }
        }
        throw new IllegalArgumentException(architecture + " has no weight for role " + role);
    }

    /** Tensor name of {@code role} at {@code layer} / {@code expert} (ignored where not used). */
    public String name(Role role, int layer, int expert) {
        return weight(role).name(layer, expert);
    }

    /** Every (name, expected shape, spec) this config implies, in a stable order. */
    public List<Expected> expectedTensors(ModelConfig c) {
        List<Expected> out = new ArrayList<>();
        for (WeightSpec w : weights) {
            switch (w.scope()) {
                case MODEL -> out.add(new Expected(w.name(0, 0), w.shape(c), w));
                case LAYER -> {
                    for (int l = 0; l < c.numHiddenLayers(); l++) {
                        out.add(new Expected(w.name(l, 0), w.shape(c), w));
                    }
                }
                case EXPERT -> {
                    for (int l = 0; l < c.numHiddenLayers(); l++) {
                        for (int e = 0; e < c.numLocalExperts(); e++) {
                            out.add(new Expected(w.name(l, e), w.shape(c), w));
                        }
                    }
                }
            }
        }
        return out;
    }

    /** A concrete tensor a checkpoint must hold. */
    public record Expected(String name, long[] shape, WeightSpec spec) {}

    /** Outcome of {@link #check}: what is wrong, and which tensors the spec does not know. */
    public record CheckReport(List<String> problems, List<String> unexpected) {
        public boolean ok() {
            return problems.isEmpty();
        }
    }

    /**
     * Compares a checkpoint with this spec: every expected tensor present, with the expected
     * shape and a dtype in {@link DType#FLOATS}. Tensors the spec does not name are reported
     * as unexpected, which is not an error.
     */
    public CheckReport check(Checkpoint checkpoint, ModelConfig config) {
        List<String> problems = new ArrayList<>();
        Set<String> known = new TreeSet<>();
        for (Expected e : expectedTensors(config)) {
            known.add(e.name());
            Optional<TensorInfo> info = checkpoint.info(e.name());
            if (info.isEmpty()) {
                if (!e.spec().optionalFor(config)) {
                    problems.add("missing tensor " + e.name());
                }
                continue;
            }
            TensorInfo t = info.get();
            if (!t.hasShape(e.shape())) {
                problems.add("tensor " + e.name() + " has shape " + Arrays.toString(t.shape())
                        + ", expected " + Arrays.toString(e.shape()));
            }
            if (!DType.FLOATS.contains(t.dtype())) {
                problems.add("tensor " + e.name() + " has unsupported dtype " + t.dtype()
                        + " (supported: F32, F16, BF16)");
            }
        }
        List<String> unexpected = new ArrayList<>();
        for (String name : checkpoint.tensorNames()) {
            if (!known.contains(name)) {
                unexpected.add(name);
            }
        }
        return new CheckReport(List.copyOf(problems), List.copyOf(unexpected));
    }

    /** {@link #check}, failing with every problem listed (the first 50, then a count). */
    public void validate(Checkpoint checkpoint, ModelConfig config) {
        CheckReport r = check(checkpoint, config);
        if (!r.ok()) {
            List<String> p = r.problems();
            String list = String.join("\n  ", p.subList(0, Math.min(50, p.size())));
            String more = p.size() > 50 ? "\n  ... and " + (p.size() - 50) + " more" : "";
            throw new CheckpointException(checkpoint.directory(), null, "does not match "
                    + architecture + " for its config (" + p.size() + " problems):\n  " + list + more);
        }
    }
}
