package dev.lookahead.quant;

import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.ModelConfig;

/**
 * The three matrices of a SwiGLU expert, in blob order: gate (w1) and up (w3) are
 * [intermediate, hidden], down (w2) is [hidden, intermediate] (PyTorch [out, in]).
 */
public enum ExpertMatrix {
    GATE("w1", Role.EXPERT_GATE),
    UP("w3", Role.EXPERT_UP),
    DOWN("w2", Role.EXPERT_DOWN);

    private final String hfName;
    private final Role role;

    ExpertMatrix(String hfName, Role role) {
        this.hfName = hfName;
        this.role = role;
    }

    /** The Hugging Face Mixtral module name: w1, w3 or w2. */
    public String hfName() {
        return hfName;
    }

    public Role role() {
        return role;
    }

    /** Output features (rows). */
    public long rows(ModelConfig c) {
        return this == DOWN ? c.hiddenSize() : c.intermediateSize();
    }

    /** Input features (cols), the quantized dimension. */
    public long cols(ModelConfig c) {
        return this == DOWN ? c.intermediateSize() : c.hiddenSize();
    }
}
