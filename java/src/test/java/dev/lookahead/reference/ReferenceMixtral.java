package dev.lookahead.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The float64 reference forward pass of Hugging Face's MixtralForCausalLM, written straight from
 * the model definition and sharing no code with the engine. Slow and simple on purpose: every
 * engine result is tested against it.
 *
 * <p>Per layer: {@code h = x + o_proj(attn(rope(q), rope(k), v))} on the input-RMSNormed x, then
 * {@code x' = h + moe(post_attention_layernorm(h))}. The MoE router takes a softmax over all
 * experts, keeps the top-k (ties to the lower index) and renormalises their weights to sum 1.
 *
 * <p>Two paths compute the same function: {@link #forward} (whole sequence, causal mask) and
 * {@link Session} (one token at a time with a KV cache). Tests check they agree.
 */
public final class ReferenceMixtral {

    /** Model hyper-parameters; {@code slidingWindow} 0 means none. */
    public record Config(
            int vocab,
            int hidden,
            int intermediate,
            int layers,
            int heads,
            int kvHeads,
            int headDim,
            int experts,
            int topK,
            double rmsNormEps,
            double ropeTheta,
            int slidingWindow) {

        public Config {
            if (heads % kvHeads != 0 || headDim % 2 != 0 || topK > experts || topK < 1) {
                throw new IllegalArgumentException("inconsistent config " + this);
            }
        }

        /** HF rule: key j is visible from query i iff j <= i and (no window or i - j < window). */
        boolean visible(int query, int key) {
            return key <= query && (slidingWindow == 0 || query - key < slidingWindow);
        }
    }

    /** The experts one token picked at one layer, by descending weight, and their renormalised weights. */
    public record Routing(int[] experts, double[] weights) {}

    /** Logits {@code [n][vocab]} and the routing {@code [layer][position]}. */
    public record Output(double[][] logits, Routing[][] routing) {}

    /** A row-major matrix {@code [rows, cols]}. */
    private record Matrix(int rows, int cols, double[] w) {
        double[] times(double[] x) { // [rows] = W [rows, cols] . x [cols]
            double[] y = new double[rows];
            for (int r = 0; r < rows; r++) {
                double s = 0;
                int base = r * cols;
                for (int c = 0; c < cols; c++) {
                    s += w[base + c] * x[c];
                }
                y[r] = s;
            }
            return y;
        }

        double[] row(int r) {
            double[] out = new double[cols];
            System.arraycopy(w, r * cols, out, 0, cols);
            return out;
        }
    }

    private record Expert(Matrix w1, Matrix w2, Matrix w3) {}

    private record Layer(double[] inputNorm, Matrix q, Matrix k, Matrix v, Matrix o, double[] postNorm, Matrix gate, Expert[] experts) {}

    private final Config cfg;
    private final Matrix embed;
    private final Layer[] layers;
    private final double[] finalNorm;
    private final Matrix lmHead;

    /**
     * Builds the model from HF-named weights (flattened row-major). {@code lm_head.weight} may be
     * absent when the embeddings are tied.
     */
    public ReferenceMixtral(Config cfg, Map<String, double[]> weights) {
        this.cfg = cfg;
        int h = cfg.hidden(), q = cfg.heads() * cfg.headDim(), kv = cfg.kvHeads() * cfg.headDim(), inter = cfg.intermediate();
        this.embed = matrix(weights, "model.embed_tokens.weight", cfg.vocab(), h);
        this.layers = new Layer[cfg.layers()];
        for (int i = 0; i < cfg.layers(); i++) {
            String p = "model.layers." + i + ".";
            Expert[] ex = new Expert[cfg.experts()];
            for (int e = 0; e < cfg.experts(); e++) {
                String x = p + "block_sparse_moe.experts." + e + ".";
                ex[e] = new Expert(matrix(weights, x + "w1.weight", inter, h), matrix(weights, x + "w2.weight", h, inter), matrix(weights, x + "w3.weight", inter, h));
            }
            layers[i] = new Layer(
                    vector(weights, p + "input_layernorm.weight", h),
                    matrix(weights, p + "self_attn.q_proj.weight", q, h),
                    matrix(weights, p + "self_attn.k_proj.weight", kv, h),
                    matrix(weights, p + "self_attn.v_proj.weight", kv, h),
                    matrix(weights, p + "self_attn.o_proj.weight", h, q),
                    vector(weights, p + "post_attention_layernorm.weight", h),
                    matrix(weights, p + "block_sparse_moe.gate.weight", cfg.experts(), h),
                    ex);
        }
        this.finalNorm = vector(weights, "model.norm.weight", h);
        this.lmHead = weights.containsKey("lm_head.weight") ? matrix(weights, "lm_head.weight", cfg.vocab(), h) : embed;
    }

    /** Loads a Hugging Face checkpoint directory: config.json and every *.safetensors file in it. */
    public static ReferenceMixtral load(Path dir) throws IOException {
        JsonNode c = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        int hidden = c.get("hidden_size").asInt();
        int heads = c.get("num_attention_heads").asInt();
        JsonNode hd = c.get("head_dim");
        JsonNode sw = c.get("sliding_window");
        Config cfg = new Config(
                c.get("vocab_size").asInt(),
                hidden,
                c.get("intermediate_size").asInt(),
                c.get("num_hidden_layers").asInt(),
                heads,
                c.get("num_key_value_heads").asInt(),
                hd == null || hd.isNull() ? hidden / heads : hd.asInt(),
                c.get("num_local_experts").asInt(),
                c.get("num_experts_per_tok").asInt(),
                c.get("rms_norm_eps").asDouble(),
                c.has("rope_theta") ? c.get("rope_theta").asDouble() : 1e6,
                sw == null || sw.isNull() ? 0 : sw.asInt());
        Map<String, double[]> weights = new HashMap<>();
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
        if (files.isEmpty()) {
            throw new IOException("no .safetensors file in " + dir);
        }
        Map<String, long[]> expected = expectedShapes(cfg);
        for (Path f : files) {
            for (Map.Entry<String, ReferenceSafetensors.Tensor> e : ReferenceSafetensors.read(f).entrySet()) {
                long[] want = expected.get(e.getKey());
                if (want != null && !Arrays.equals(want, e.getValue().shape())) {
                    throw new IOException(f + ": " + e.getKey() + " has shape " + Arrays.toString(e.getValue().shape())
                            + ", expected " + Arrays.toString(want));
                }
                weights.put(e.getKey(), e.getValue().data());
            }
        }
        boolean tied = c.has("tie_word_embeddings") && c.get("tie_word_embeddings").asBoolean();
        if (!tied && !weights.containsKey("lm_head.weight")) {
            throw new IOException("lm_head.weight missing in " + dir);
        }
        return new ReferenceMixtral(cfg, weights);
    }

    /** HF shapes: projections are [out, in]; w1/w3 [intermediate, hidden], w2 [hidden, intermediate]. */
    static Map<String, long[]> expectedShapes(Config c) {
        long h = c.hidden(), q = (long) c.heads() * c.headDim(), kv = (long) c.kvHeads() * c.headDim(), inter = c.intermediate();
        Map<String, long[]> m = new HashMap<>();
        m.put("model.embed_tokens.weight", new long[] {c.vocab(), h});
        m.put("model.norm.weight", new long[] {h});
        m.put("lm_head.weight", new long[] {c.vocab(), h});
        for (int i = 0; i < c.layers(); i++) {
            String p = "model.layers." + i + ".";
            m.put(p + "input_layernorm.weight", new long[] {h});
            m.put(p + "post_attention_layernorm.weight", new long[] {h});
            m.put(p + "self_attn.q_proj.weight", new long[] {q, h});
            m.put(p + "self_attn.k_proj.weight", new long[] {kv, h});
            m.put(p + "self_attn.v_proj.weight", new long[] {kv, h});
            m.put(p + "self_attn.o_proj.weight", new long[] {h, q});
            m.put(p + "block_sparse_moe.gate.weight", new long[] {c.experts(), h});
            for (int e = 0; e < c.experts(); e++) {
                String x = p + "block_sparse_moe.experts." + e + ".";
                m.put(x + "w1.weight", new long[] {inter, h});
                m.put(x + "w2.weight", new long[] {h, inter});
                m.put(x + "w3.weight", new long[] {inter, h});
            }
        }
        return m;
    }

    public Config config() {
        return cfg;
    }

    // ------------------------------------------------------------ whole sequence

    /** Logits for every position of {@code tokens}, and the routing of every layer. */
    public Output forward(int[] tokens) {
        int n = tokens.length;
        double[][] x = new double[n][]; // [n, hidden]
        for (int i = 0; i < n; i++) {
            x[i] = embedding(tokens[i]);
        }
        Routing[][] routing = new Routing[cfg.layers()][n];
        for (int l = 0; l < cfg.layers(); l++) {
            Layer layer = layers[l];
            double[][] q = new double[n][], k = new double[n][], v = new double[n][];
            for (int i = 0; i < n; i++) {
                double[] xn = rmsNorm(x[i], layer.inputNorm());
                q[i] = rope(layer.q().times(xn), cfg.heads(), i); // [heads * headDim]
                k[i] = rope(layer.k().times(xn), cfg.kvHeads(), i); // [kvHeads * headDim]
                v[i] = layer.v().times(xn);
            }
            for (int i = 0; i < n; i++) {
                List<double[]> keys = new ArrayList<>(), values = new ArrayList<>();
                for (int j = 0; j < n; j++) {
                    if (cfg.visible(i, j)) {
                        keys.add(k[j]);
                        values.add(v[j]);
                    }
                }
                double[] attn = new double[cfg.heads() * cfg.headDim()];
                for (int head = 0; head < cfg.heads(); head++) {
                    attendHead(q[i], keys, values, head, attn);
                }
                add(x[i], layer.o().times(attn));
            }
            for (int i = 0; i < n; i++) {
                MoeResult m = moe(l, rmsNorm(x[i], layer.postNorm()));
                add(x[i], m.output());
                routing[l][i] = m.routing();
            }
        }
        double[][] logits = new double[n][];
        for (int i = 0; i < n; i++) {
            logits[i] = lmHead.times(rmsNorm(x[i], finalNorm));
        }
        return new Output(logits, routing);
    }

    // ------------------------------------------------------------ one token at a time

    /** Incremental decoding with a KV cache (roped keys and values of every past position). */
    public final class Session {
        private final List<List<double[]>> keys = new ArrayList<>(), values = new ArrayList<>(); // [layer][pos]
        private int position;

        private Session() {
            for (int l = 0; l < cfg.layers(); l++) {
                keys.add(new ArrayList<>());
                values.add(new ArrayList<>());
            }
        }

        public int position() {
            return position;
        }

        /** Feeds one token; returns its logits {@code [1][vocab]} and routing {@code [layer][1]}. */
        public Output step(int token) {
            return step(token, null);
        }

        /**
         * Feeds one token whose MoE blocks use {@code forced[layer]} (experts and their weights, used as given)
         * instead of the router's top-k; null = the router decides.
         */
        public Output step(int token, Routing[] forced) {
            int pos = position;
            double[] x = embedding(token);
            Routing[][] routing = new Routing[cfg.layers()][1];
            for (int l = 0; l < cfg.layers(); l++) {
                Layer layer = layers[l];
                double[] xn = rmsNorm(x, layer.inputNorm());
                double[] q = rope(layer.q().times(xn), cfg.heads(), pos);
                keys.get(l).add(rope(layer.k().times(xn), cfg.kvHeads(), pos));
                values.get(l).add(layer.v().times(xn));
                List<double[]> visibleKeys = new ArrayList<>(), visibleValues = new ArrayList<>();
                for (int j = 0; j <= pos; j++) {
                    if (cfg.visible(pos, j)) {
                        visibleKeys.add(keys.get(l).get(j));
                        visibleValues.add(values.get(l).get(j));
                    }
                }
                double[] attn = new double[cfg.heads() * cfg.headDim()];
                for (int head = 0; head < cfg.heads(); head++) {
                    attendHead(q, visibleKeys, visibleValues, head, attn);
                }
                add(x, layer.o().times(attn));
                MoeResult m = forced == null ? moe(l, rmsNorm(x, layer.postNorm()))
                        : mix(l, rmsNorm(x, layer.postNorm()), forced[l]);
                add(x, m.output());
                routing[l][0] = m.routing();
            }
            position++;
            return new Output(new double[][] {lmHead.times(rmsNorm(x, finalNorm))}, routing);
        }
    }

    public Session session() {
        return new Session();
    }

    // ------------------------------------------------------------ building blocks

    /** The row of the embedding table for {@code token}. */
    double[] embedding(int token) {
        if (token < 0 || token >= cfg.vocab()) {
            throw new IllegalArgumentException("token " + token + " outside vocabulary of " + cfg.vocab());
        }
        return embed.row(token);
    }

    /** x / sqrt(mean(x^2) + eps) * w. */
    double[] rmsNorm(double[] x, double[] w) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double inv = 1.0 / Math.sqrt(ss / x.length + cfg.rmsNormEps());
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * inv * w[i];
        }
        return y;
    }

    /**
     * HF rotary embedding of each head of {@code x} at {@code position}: with half = headDim/2 and
     * inv_freq[j] = theta^(-2j/headDim), out = x * cos + rotate_half(x) * sin, where
     * rotate_half(x) = [-x[half:], x[:half]].
     */
    double[] rope(double[] x, int nHeads, int position) {
        int d = cfg.headDim(), half = d / 2;
        double[] y = new double[x.length];
        for (int h = 0; h < nHeads; h++) {
            int b = h * d;
            for (int j = 0; j < half; j++) {
                double angle = position * Math.pow(cfg.ropeTheta(), -2.0 * j / d);
                double cos = Math.cos(angle), sin = Math.sin(angle);
                double a = x[b + j], c = x[b + j + half];
                y[b + j] = a * cos - c * sin;
                y[b + j + half] = c * cos + a * sin;
            }
        }
        return y;
    }

    /**
     * softmax(q.k / sqrt(headDim)) . v for one query head; writes into {@code out[head]}. Query head
     * h reads key/value head h / (heads / kvHeads), as HF's repeat_kv lays them out.
     */
    private void attendHead(double[] q, List<double[]> keys, List<double[]> values, int head, double[] out) {
        int d = cfg.headDim();
        int kvHead = head / (cfg.heads() / cfg.kvHeads());
        int qb = head * d, kb = kvHead * d;
        double[] scores = new double[keys.size()];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < scores.length; j++) {
            double s = 0;
            for (int t = 0; t < d; t++) {
                s += q[qb + t] * keys.get(j)[kb + t];
            }
            scores[j] = s / Math.sqrt(d);
            max = Math.max(max, scores[j]);
        }
        double sum = 0;
        for (int j = 0; j < scores.length; j++) {
            scores[j] = Math.exp(scores[j] - max);
            sum += scores[j];
        }
        for (int j = 0; j < scores.length; j++) {
            double p = scores[j] / sum;
            for (int t = 0; t < d; t++) {
                out[qb + t] += p * values.get(j)[kb + t];
            }
        }
    }

    /** One MoE block's output and routing. */
    record MoeResult(double[] output, Routing routing) {}

    /** The sparse MoE block of layer {@code l} on an already normalised hidden state. */
    MoeResult moe(int l, double[] x) {
        Layer layer = layers[l];
        double[] probs = softmax(layer.gate().times(x)); // [experts]
        int k = cfg.topK();
        int[] chosen = new int[k];
        double[] w = new double[k];
        boolean[] taken = new boolean[probs.length];
        double total = 0;
        for (int r = 0; r < k; r++) {
            int best = -1;
            for (int e = 0; e < probs.length; e++) {
                if (!taken[e] && (best < 0 || probs[e] > probs[best])) { // strict: lower index wins ties
                    best = e;
                }
            }
            taken[best] = true;
            chosen[r] = best;
            w[r] = probs[best];
            total += probs[best];
        }
        double[] out = new double[cfg.hidden()];
        for (int r = 0; r < k; r++) {
            w[r] /= total;
            double[] y = expert(layer.experts()[chosen[r]], x);
            for (int i = 0; i < out.length; i++) {
                out[i] += w[r] * y[i];
            }
        }
        return new MoeResult(out, new Routing(chosen, w));
    }

    /** The experts of {@code routing} mixed with its weights (the MoE block without its router). */
    MoeResult mix(int l, double[] x, Routing routing) {
        double[] out = new double[cfg.hidden()];
        for (int r = 0; r < routing.experts().length; r++) {
            double[] y = expert(layers[l].experts()[routing.experts()[r]], x);
            for (int i = 0; i < out.length; i++) {
                out[i] += routing.weights()[r] * y[i];
            }
        }
        return new MoeResult(out, routing);
    }

    /** w2(silu(w1 x) * w3 x). */
    private static double[] expert(Expert e, double[] x) {
        double[] a = e.w1().times(x), b = e.w3().times(x);
        double[] hdn = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            hdn[i] = a[i] / (1.0 + Math.exp(-a[i])) * b[i];
        }
        return e.w2().times(hdn);
    }

    private static double[] softmax(double[] z) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : z) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] p = new double[z.length];
        for (int i = 0; i < z.length; i++) {
            p[i] = Math.exp(z[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < z.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    private static void add(double[] acc, double[] x) {
        for (int i = 0; i < acc.length; i++) {
            acc[i] += x[i];
        }
    }

    private static Matrix matrix(Map<String, double[]> weights, String name, int rows, int cols) {
        double[] w = weights.get(name);
        if (w == null) {
            throw new IllegalArgumentException("missing tensor " + name);
        }
        if (w.length != (long) rows * cols) {
            throw new IllegalArgumentException(name + ": expected [" + rows + ", " + cols + "] (" + (long) rows * cols + " values), got " + w.length);
        }
        return new Matrix(rows, cols, w);
    }

    private static double[] vector(Map<String, double[]> weights, String name, int n) {
        return matrix(weights, name, 1, n).w();
    }
}
