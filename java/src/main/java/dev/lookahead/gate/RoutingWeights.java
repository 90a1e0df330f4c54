package dev.lookahead.gate;

import dev.lookahead.model.ArchitectureSpec;
import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.CheckpointException;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.Tensor;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * Each layer's router and the RMSNorm in front of it (post_attention_layernorm), widened to
 * float: what decides the routing from the MoE input h of a layer,
 * {@code probs = softmax(router · (norm_weight ⊙ h / sqrt(mean(h²) + eps)))} over all experts.
 * Small (layers x experts x hidden floats), so it is copied out of the checkpoint.
 */
public final class RoutingWeights {
    private final ModelConfig config;
    private final float[][] routers; // per layer [experts, hidden]
    private final float[][] norms;   // per layer [hidden]

    /** @param routers per layer [experts * hidden] row-major; @param norms per layer [hidden] */
    public RoutingWeights(ModelConfig config, float[][] routers, float[][] norms) {
        int layers = config.numHiddenLayers(), e = config.numLocalExperts(), h = config.hiddenSize();
        if (routers.length != layers || norms.length != layers) {
            throw new IllegalArgumentException("need " + layers + " routers and norms, got " + routers.length + " and " + norms.length);
        }
        for (int l = 0; l < layers; l++) {
            if (routers[l].length != e * h) {
                throw new IllegalArgumentException("router of layer " + l + " has " + routers[l].length
                        + " values, expected " + e + " x " + h);
            }
            if (norms[l].length != h) {
                throw new IllegalArgumentException("norm of layer " + l + " has " + norms[l].length + " values, expected " + h);
            }
        }
        this.config = config;
        this.routers = Arrays.stream(routers).map(float[]::clone).toArray(float[][]::new);
        this.norms = Arrays.stream(norms).map(float[]::clone).toArray(float[][]::new);
    }

    /** Reads the routers and their norms of a plain or quantized checkpoint (F32, F16 or BF16). */
    public static RoutingWeights read(Checkpoint checkpoint) {
        ModelConfig c = checkpoint.config();
        ArchitectureSpec arch = ArchitectureSpec.forConfig(c);
        int layers = c.numHiddenLayers();
        float[][] routers = new float[layers][];
        float[][] norms = new float[layers][];
        for (int l = 0; l < layers; l++) {
            routers[l] = read(checkpoint, arch, Role.ROUTER, l, c.numLocalExperts(), c.hiddenSize());
            norms[l] = read(checkpoint, arch, Role.FFN_NORM, l, c.hiddenSize());
        }
        return new RoutingWeights(c, routers, norms);
    }

    private static float[] read(Checkpoint checkpoint, ArchitectureSpec arch, Role role, int layer, long... shape) {
        Tensor t = checkpoint.tensor(arch.name(role, layer, 0));
        if (!Arrays.equals(t.shape(), shape)) {
            throw new CheckpointException(t.file(), t.name(), "has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        return t.toFloatArray();
    }

    public ModelConfig config() {
        return config;
    }

    public int layers() {
        return config.numHiddenLayers();
    }

    public int experts() {
        return config.numLocalExperts();
    }

    public int hidden() {
        return config.hiddenSize();
    }

    /** The RMSNorm epsilon of the model's config. */
    public double eps() {
        return config.rmsNormEps();
    }

    /** A copy of the router of {@code layer}: [experts * hidden] row-major. */
    public float[] router(int layer) {
        return routers[layer].clone();
    }

    /** A copy of the post-attention norm weight of {@code layer}: [hidden]. */
    public float[] norm(int layer) {
        return norms[layer].clone();
    }

    /**
     * The router logits of {@code layer} for an already RMS-normalised hidden state
     * {@code hHat[off..+hidden)} (h / rms(h), before the norm weight): [experts].
     */
    public void logits(int layer, float[] hHat, int off, double[] out) {
        float[] r = routers[layer], w = norms[layer];
        int h = hidden();
        for (int e = 0; e < experts(); e++) {
            double s = 0;
            for (int j = 0; j < h; j++) s += (double) r[e * h + j] * w[j] * hHat[off + j];
            out[e] = s;
        }
    }

    /** softmax over all experts of {@link #logits}: the true routing distribution of {@code layer}. */
    public void probabilities(int layer, float[] hHat, int off, double[] logitsScratch, double[] out) {
        logits(layer, hHat, off, logitsScratch);
        GateMath.softmax(logitsScratch, out, experts());
    }

    /**
     * SHA-256 of every layer's router and norm weight rounded to fp16, in layer order. Rounding
     * first makes the fingerprint survive `lookahead quantize` (which stores routers and norms
     * in fp16) of an fp16/bf16 checkpoint, while another model's routers change it.
     */
    public String fingerprint() {
        MessageDigest sha = sha256();
        byte[] two = new byte[2];
        for (int l = 0; l < layers(); l++) {
            for (float[] t : new float[][] {routers[l], norms[l]}) {
                for (float v : t) {
                    short bits = Float.floatToFloat16(v);
                    two[0] = (byte) bits;
                    two[1] = (byte) (bits >> 8);
                    sha.update(two);
                }
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /**
     * SHA-256 of the model's config.json content as this project reads it (without torch_dtype,
     * which quantization changes): equal for a model and its quantized copy.
     */
    public static String configHash(ModelConfig config) {
        var json = config.toJson();
        json.remove("torch_dtype");
        return HexFormat.of().formatHex(sha256().digest(json.toString().getBytes(StandardCharsets.UTF_8)));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
    }
}
