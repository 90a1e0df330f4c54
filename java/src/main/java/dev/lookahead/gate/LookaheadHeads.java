package dev.lookahead.gate;

import dev.lookahead.model.DType;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.SafetensorsFile;
import dev.lookahead.model.SafetensorsWriter;
import dev.lookahead.model.TensorInfo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The lookahead gate: for each head (l, d) of a {@link HeadLayout}, a matrix W[l,d] of shape
 * [experts, hidden] and a bias b[l,d] [experts] that map layer l's MoE input h (what the
 * hidden-state listener gives) to expert logits of layer l + d:
 * {@code logits = W · (h / sqrt(mean(h²) + eps)) + b}.
 *
 * <p>Plug-and-play initialisation: W[l,d] = router_{l+d} · diag(norm_{l+d}) and b = 0, i.e.
 * exactly layer l+d's router applied with layer l+d's RMSNorm, as if h had already reached that
 * layer (for a next-token head (l, L): "the next token routes like this one"). So the heads work before any training; {@link GateAlignment} then fits them to the true
 * routing. The bias (which the router itself lacks) lets a head learn how often each expert of
 * layer l+d is chosen regardless of the token, which an early layer's hidden state may not carry.
 *
 * <p>File format (safetensors, separate from the model, which is never modified): per head, F32
 * tensors {@code lookahead.{l}.{d}.weight} [experts, hidden] and {@code lookahead.{l}.{d}.bias}
 * [experts], and {@code __metadata__}:
 * <pre>
 *   lookahead.format           lookahead-heads/1
 *   lookahead.layers/experts/hidden, lookahead.rms_norm_eps   the base model's shape
 *   lookahead.distance         D (short-range heads: d = 1..D)
 *   lookahead.long_range       F (long-range heads from layers 0..F-1 to every later layer)
 *   lookahead.next_token       next-token heads: 0 none (also when absent), 1 (l, L) for every l, all: (l, L - l + m)
 *   lookahead.base_model       name of the base model (informational)
 *   lookahead.base_config_sha256, lookahead.base_routing_sha256   checked when loading
 *   lookahead.training         JSON summary of the alignment run ("" for plug-and-play)
 * </pre>
 * Immutable.
 */
public final class LookaheadHeads {
    public static final String FORMAT = "lookahead-heads/1";
    /**
     * The file a model directory carries its trained heads in: the commands take it for the lookahead policies unless
     * told otherwise ({@code --heads}), and {@code quantize} copies it (the quantized copy has the same routers).
     */
    public static final String DEFAULT_FILE = "lookahead-heads.safetensors";

    /** {@code model}'s {@link #DEFAULT_FILE}, or null when it has none. */
    public static Path defaultFile(Path model) {
        Path f = model.resolve(DEFAULT_FILE);
        return java.nio.file.Files.isRegularFile(f) ? f : null;
    }
    static final String K_FORMAT = "lookahead.format";
    static final String K_LAYERS = "lookahead.layers";
    static final String K_EXPERTS = "lookahead.experts";
    static final String K_HIDDEN = "lookahead.hidden";
    static final String K_EPS = "lookahead.rms_norm_eps";
    static final String K_DISTANCE = "lookahead.distance";
    static final String K_LONG_RANGE = "lookahead.long_range";
    static final String K_NEXT_TOKEN = "lookahead.next_token";
    static final String K_BASE = "lookahead.base_model";
    static final String K_CONFIG_SHA = "lookahead.base_config_sha256";
    static final String K_ROUTING_SHA = "lookahead.base_routing_sha256";
    static final String K_TRAINING = "lookahead.training";

    private final HeadLayout layout;
    private final int experts;
    private final int hidden;
    private final double eps;
    private final BaseModel base;
    private final Map<HeadId, float[]> weights; // each [experts * hidden], row-major
    private final Map<HeadId, float[]> biases;  // each [experts]
    private final String training;

    private LookaheadHeads(HeadLayout layout, int experts, int hidden, double eps, BaseModel base,
                           Map<HeadId, float[]> weights, Map<HeadId, float[]> biases, String training) {
        this.layout = layout;
        this.experts = experts;
        this.hidden = hidden;
        this.eps = eps;
        this.base = base;
        this.weights = Collections.unmodifiableMap(weights);
        this.biases = Collections.unmodifiableMap(biases);
        this.training = training;
    }

    /** Heads that start as the routers of their target layers (with those layers' norms). */
    public static LookaheadHeads plugAndPlay(RoutingWeights routing, HeadLayout layout, String baseName) {
        if (layout.layers() != routing.layers()) {
            throw new IllegalArgumentException("layout for " + layout.layers() + " layers, model has " + routing.layers());
        }
        int e = routing.experts(), h = routing.hidden();
        Map<HeadId, float[]> w = new TreeMap<>(), b = new TreeMap<>();
        for (HeadId id : layout.heads()) {
            int target = id.targetLayer(layout.layers());
            float[] router = routing.router(target);
            float[] norm = routing.norm(target);
            float[] head = new float[e * h];
            for (int r = 0; r < e; r++) {
                for (int j = 0; j < h; j++) head[r * h + j] = router[r * h + j] * norm[j];
            }
            w.put(id, head);
            b.put(id, new float[e]);
        }
        return new LookaheadHeads(layout, e, h, routing.eps(), BaseModel.of(baseName, routing), w, b, "");
    }

    /** One head's parameters: weight [experts * hidden] row-major, bias [experts]. */
    public record Parameters(float[] weight, float[] bias) {
    }

    /** These heads with some heads' parameters replaced, and a training summary. */
    public LookaheadHeads withParameters(Map<HeadId, Parameters> replaced, String trainingSummary) {
        Map<HeadId, float[]> w = new TreeMap<>(weights), b = new TreeMap<>(biases);
        replaced.forEach((id, p) -> {
            if (!weights.containsKey(id)) throw new IllegalArgumentException("no head " + id + " in " + layout);
            if (p.weight().length != experts * hidden || p.bias().length != experts) {
                throw new IllegalArgumentException("head " + id + ": " + p.weight().length + " weights and " + p.bias().length
                        + " biases, expected " + experts + " x " + hidden + " and " + experts);
            }
            w.put(id, p.weight().clone());
            b.put(id, p.bias().clone());
        });
        return new LookaheadHeads(layout, experts, hidden, eps, base, w, b, trainingSummary);
    }

    public HeadLayout layout() {
        return layout;
    }

    public List<HeadId> heads() {
        return List.copyOf(weights.keySet());
    }

    public int experts() {
        return experts;
    }

    public int hidden() {
        return hidden;
    }

    public BaseModel base() {
        return base;
    }

    /** JSON summary of the alignment that produced these heads, "" for plug-and-play heads. */
    public String trainingSummary() {
        return training;
    }

    /** The heads reading layer {@code layer}'s hidden state, by distance. */
    public List<HeadId> headsFrom(int layer) {
        return weights.keySet().stream().filter(id -> id.layer() == layer).toList();
    }

    /**
     * The heads of {@link #headsFrom}(layer) stacked into one matrix [heads * experts, hidden]
     * (head i's rows at i * experts): one matmul on the RMS-normalised hidden state (RMSNorm with
     * a unit weight) gives every prediction made at that layer. For uploading to the device.
     */
    public float[] stackedWeights(int layer) {
        List<HeadId> ids = headsFrom(layer);
        float[] out = new float[ids.size() * experts * hidden];
        for (int i = 0; i < ids.size(); i++) System.arraycopy(weights.get(ids.get(i)), 0, out, i * experts * hidden, experts * hidden);
        return out;
    }

    /** The biases of {@link #headsFrom}(layer), stacked like {@link #stackedWeights}: [heads * experts]. */
    public float[] stackedBiases(int layer) {
        List<HeadId> ids = headsFrom(layer);
        float[] out = new float[ids.size() * experts];
        for (int i = 0; i < ids.size(); i++) System.arraycopy(biases.get(ids.get(i)), 0, out, i * experts, experts);
        return out;
    }

    /** A copy of head {@code id}'s matrix: [experts * hidden], row-major. */
    public float[] weight(HeadId id) {
        return matrix(id).clone();
    }

    /** A copy of head {@code id}'s bias: [experts]. */
    public float[] bias(HeadId id) {
        matrix(id);
        return biases.get(id).clone();
    }

    private float[] matrix(HeadId id) {
        float[] w = weights.get(id);
        if (w == null) throw new IllegalArgumentException("no head " + id + " (layout " + layout + ")");
        return w;
    }

    /** Logits of head {@code id} for an RMS-normalised hidden state hHat[off..+hidden): [experts]. */
    public void logitsNormalized(HeadId id, float[] hHat, int off, double[] out) {
        GateMath.matVec(matrix(id), experts, hidden, hHat, off, out);
        float[] b = biases.get(id);
        for (int e = 0; e < experts; e++) out[e] += b[e];
    }

    /** Logits of head {@code id} for a raw MoE input h[off..+hidden) of layer id.layer(): [experts]. */
    public void logits(HeadId id, float[] h, int off, double[] out) {
        float[] hHat = new float[hidden];
        GateMath.rmsNormalize(h, off, hidden, eps, hHat, 0);
        logitsNormalized(id, hHat, 0, out);
    }

    /** The k experts head {@code id} scores highest for the raw MoE input h, best first. */
    public int[] predict(HeadId id, float[] h, int off, int k) {
        double[] out = new double[experts];
        logits(id, h, off, out);
        return GateMath.topK(out, experts, k);
    }

    /** Writes the heads file (atomically: a temporary file renamed at the end). */
    public void save(Path file) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter(file).order(SafetensorsWriter.Order.INSERTION)
                .metadata(K_FORMAT, FORMAT)
                .metadata(K_LAYERS, Integer.toString(layout.layers()))
                .metadata(K_EXPERTS, Integer.toString(experts))
                .metadata(K_HIDDEN, Integer.toString(hidden))
                .metadata(K_EPS, Double.toString(eps))
                .metadata(K_DISTANCE, Integer.toString(layout.distance()))
                .metadata(K_LONG_RANGE, Integer.toString(layout.longRange()))
                .metadata(K_NEXT_TOKEN, layout.nextToken().metadata())
                .metadata(K_BASE, base.name())
                .metadata(K_CONFIG_SHA, base.configSha256())
                .metadata(K_ROUTING_SHA, base.routingSha256())
                .metadata(K_TRAINING, training);
        for (Map.Entry<HeadId, float[]> e : weights.entrySet()) {
            w.add(e.getKey().tensorName(), DType.F32, new long[] {experts, hidden},
                    SafetensorsWriter.TensorData.ofFloats(e.getValue()));
            w.add(e.getKey().biasName(), DType.F32, new long[] {experts},
                    SafetensorsWriter.TensorData.ofFloats(biases.get(e.getKey())));
        }
        w.write();
    }

    /**
     * Reads a heads file and checks that it belongs to the model whose routing is {@code model}:
     * same shape, same config hash, same routers.
     *
     * @throws HeadsFileException (a CheckpointException) naming the file and tensor on any problem
     */
    public static LookaheadHeads load(Path file, RoutingWeights model) {
        LookaheadHeads heads = read(file);
        ModelConfig c = model.config();
        if (heads.layout.layers() != c.numHiddenLayers() || heads.experts != c.numLocalExperts() || heads.hidden != c.hiddenSize()) {
            throw new HeadsFileException(file, null, "heads for a model of " + heads.layout.layers() + " layers, "
                    + heads.experts + " experts, hidden " + heads.hidden + " (" + heads.base.name() + "); this model has "
                    + c.numHiddenLayers() + " layers, " + c.numLocalExperts() + " experts, hidden " + c.hiddenSize());
        }
        String config = RoutingWeights.configHash(c);
        if (!heads.base.configSha256().equals(config)) {
            throw new HeadsFileException(file, null, "heads were made for another model (" + heads.base.name()
                    + ", config sha256 " + abbrev(heads.base.configSha256()) + "); this model's config has sha256 " + abbrev(config));
        }
        String routing = model.fingerprint();
        if (!heads.base.routingSha256().equals(routing)) {
            throw new HeadsFileException(file, null, "heads were made for another model (" + heads.base.name()
                    + ", same config but different routers: routing sha256 " + abbrev(heads.base.routingSha256())
                    + ", this model's " + abbrev(routing) + ")");
        }
        return heads;
    }

    private static String abbrev(String sha) {
        return sha.length() > 12 ? sha.substring(0, 12) + "..." : sha;
    }

    /**
     * Reads a heads file, validating it against its own metadata (every tensor of its layout
     * present, F32 [experts, hidden], finite; nothing else), without a model to compare with.
     */
    public static LookaheadHeads read(Path file) {
        if (!java.nio.file.Files.isRegularFile(file)) throw new HeadsFileException(file, null, "heads file not found");
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, String> meta = f.metadata();
            String format = meta.get(K_FORMAT);
            if (!FORMAT.equals(format)) {
                throw new HeadsFileException(file, null, format == null ? "not a lookahead heads file (no " + K_FORMAT
                        + " in its metadata)" : "unsupported heads format '" + format + "', expected " + FORMAT);
            }
            int layers = intMeta(file, meta, K_LAYERS), experts = intMeta(file, meta, K_EXPERTS), hidden = intMeta(file, meta, K_HIDDEN);
            int distance = intMeta(file, meta, K_DISTANCE), longRange = intMeta(file, meta, K_LONG_RANGE);
            double eps = doubleMeta(file, meta, K_EPS);
            String next = meta.getOrDefault(K_NEXT_TOKEN, "0");
            HeadLayout.NextToken nextToken = HeadLayout.NextToken.ofMetadata(next);
            if (nextToken == null) {
                throw new HeadsFileException(file, null, "metadata " + K_NEXT_TOKEN + " must be 0, 1 or all, got '" + next + "'");
            }
            HeadLayout layout;
            try {
                layout = new HeadLayout(layers, distance, longRange, nextToken);
            } catch (IllegalArgumentException e) {
                throw new HeadsFileException(file, null, "invalid layout in metadata: " + e.getMessage());
            }
            if (experts < 1 || hidden < 1) {
                throw new HeadsFileException(file, null, "invalid metadata: experts " + experts + ", hidden " + hidden);
            }
            BaseModel base = new BaseModel(meta.getOrDefault(K_BASE, "?"), stringMeta(file, meta, K_CONFIG_SHA),
                    stringMeta(file, meta, K_ROUTING_SHA));

            Set<String> expected = new TreeSet<>();
            Map<HeadId, float[]> w = new TreeMap<>(), b = new TreeMap<>();
            for (HeadId id : layout.heads()) {
                expected.add(id.tensorName());
                expected.add(id.biasName());
                w.put(id, readTensor(f, file, id, id.tensorName(), experts, hidden));
                b.put(id, readTensor(f, file, id, id.biasName(), experts));
            }
            for (String name : f.names()) {
                if (!expected.contains(name)) {
                    throw new HeadsFileException(file, name, "unexpected tensor: not a head of the layout (" + layers
                            + " layers, distance " + distance + ", long range " + longRange + ", next token " + next + ")");
                }
            }
            return new LookaheadHeads(layout, experts, hidden, eps, base, w, b, meta.getOrDefault(K_TRAINING, ""));
        }
    }

    /** A head's F32 tensor of the given shape, all finite. */
    private static float[] readTensor(SafetensorsFile f, Path file, HeadId id, String name, long... shape) {
        TensorInfo info = f.info(name).orElseThrow(() -> new HeadsFileException(file, name,
                "missing: the file's layout has head " + id));
        if (info.dtype() != DType.F32) {
            throw new HeadsFileException(file, name, "has dtype " + info.dtype() + ", expected F32");
        }
        if (!info.hasShape(shape)) {
            throw new HeadsFileException(file, name, "has shape " + Arrays.toString(info.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        float[] values = f.tensor(name).toFloatArray();
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(values[i])) throw new HeadsFileException(file, name, "element " + i + " is " + values[i]);
        }
        return values;
    }

    private static String stringMeta(Path file, Map<String, String> meta, String key) {
        String v = meta.get(key);
        if (v == null || v.isBlank()) throw new HeadsFileException(file, null, "metadata lacks " + key);
        return v;
    }

    private static int intMeta(Path file, Map<String, String> meta, String key) {
        String v = stringMeta(file, meta, key);
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new HeadsFileException(file, null, "metadata " + key + " is not an integer: '" + v + "'");
        }
    }

    private static double doubleMeta(Path file, Map<String, String> meta, String key) {
        String v = stringMeta(file, meta, key);
        try {
            double d = Double.parseDouble(v);
            if (!(d > 0) || Double.isInfinite(d)) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new HeadsFileException(file, null, "metadata " + key + " is not a positive number: '" + v + "'");
        }
    }

    @Override
    public String toString() {
        return "LookaheadHeads[" + weights.size() + " heads, " + layout + ", " + experts + " x " + hidden + ", base "
                + base.name() + "]";
    }
}
