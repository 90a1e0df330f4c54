package dev.lookahead.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ReferenceMixtralTest {

    // ------------------------------------------------------------ a model small enough to do by hand

    private static final double EPS = 1e-6;

    /**
     * 1 layer, hidden 4, 2 heads of dim 2 sharing 1 kv head, 2 experts, top-1, vocab 5. With
     * head_dim 2 the only rotary frequency is theta^0 = 1: position p rotates by p radians.
     */
    private static ReferenceMixtral handModel() {
        var cfg = new ReferenceMixtral.Config(5, 4, 2, 1, 2, 1, 2, 2, 1, EPS, 10000.0, 0);
        Map<String, double[]> w = new HashMap<>();
        w.put("model.embed_tokens.weight", new double[] {
            0, 0, 0, 1,
            1, 0, 0, 0,
            1, -1, 2, 0,
            0, 2, 0, -2,
            0.5, 0.5, 0.5, 0.5});
        String p = "model.layers.0.";
        w.put(p + "input_layernorm.weight", new double[] {1, 2, 1, 0.5});
        w.put(p + "self_attn.q_proj.weight", identity(4)); // head 0 q = n[0..1], head 1 q = n[2..3]
        w.put(p + "self_attn.k_proj.weight", new double[] {1, 0, 1, 0, 0, 1, 0, 0}); // k = [n0 + n2, n1]
        w.put(p + "self_attn.v_proj.weight", new double[] {1, 1, 0, 0, 0, 0, 1, 0}); // v = [n0 + n1, n2]
        w.put(p + "self_attn.o_proj.weight", identity(4));
        w.put(p + "post_attention_layernorm.weight", new double[] {1, 1, 1, 1});
        w.put(p + "block_sparse_moe.gate.weight", new double[] {1, 0, 0, 0, 0, 1, 0, 0}); // logits = [m0, m1]
        String e0 = p + "block_sparse_moe.experts.0.", e1 = p + "block_sparse_moe.experts.1.";
        w.put(e0 + "w1.weight", new double[] {1, 0, 0, 0, 0, 0, 1, 0}); // [m0, m2]
        w.put(e0 + "w3.weight", new double[] {1, 1, 1, 1, 0, 0, 0, 1}); // [m0+m1+m2+m3, m3]
        w.put(e0 + "w2.weight", new double[] {1, 0, 0, 1, 0, 0, 1, 1}); // [g0, g1, 0, g0+g1]
        w.put(e1 + "w1.weight", new double[] {0, 1, 0, 0, 0, 0, 0, 1}); // [m1, m3]
        w.put(e1 + "w3.weight", new double[] {1, 0, 0, 0, 0, 1, 0, 0}); // [m0, m1]
        w.put(e1 + "w2.weight", new double[] {0, 0, 1, 0, 0, 1, 0, -1}); // [0, g0, g1, -g1]
        w.put("model.norm.weight", new double[] {1, 1, 1, 2});
        w.put("lm_head.weight", new double[] {
            1, 0, 0, 0,
            0, 1, 0, 0,
            0, 0, 1, 0,
            0, 0, 0, 1,
            1, 1, 1, 1});
        return new ReferenceMixtral(cfg, w);
    }

    private static double silu(double a) {
        return a / (1 + Math.exp(-a));
    }

    /** Post-attention part of the hand model for one position: MoE, residual, final norm, lm_head. */
    private static double[] handTail(double[] h, int expectExpert) {
        double r = Math.sqrt((h[0] * h[0] + h[1] * h[1] + h[2] * h[2] + h[3] * h[3]) / 4 + EPS);
        double m0 = h[0] / r, m1 = h[1] / r, m2 = h[2] / r, m3 = h[3] / r;
        int chosen = m0 >= m1 ? 0 : 1; // router logits [m0, m1]; top-1 weight renormalises to 1
        assertEquals(expectExpert, chosen, "the hand example should route to expert " + expectExpert);
        double[] x;
        if (chosen == 0) {
            double g0 = silu(m0) * (m0 + m1 + m2 + m3), g1 = silu(m2) * m3;
            x = new double[] {h[0] + g0, h[1] + g1, h[2], h[3] + g0 + g1};
        } else {
            double g0 = silu(m1) * m0, g1 = silu(m3) * m1;
            x = new double[] {h[0], h[1] + g0, h[2] + g1, h[3] - g1};
        }
        double rf = Math.sqrt((x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + x[3] * x[3]) / 4 + EPS);
        double y0 = x[0] / rf, y1 = x[1] / rf, y2 = x[2] / rf, y3 = 2 * x[3] / rf;
        return new double[] {y0, y1, y2, y3, y0 + y1 + y2 + y3};
    }

    @Test
    void handComputedTwoTokens() {
        // Position 0, token 2: e = [1, -1, 2, 0], mean square 1.5; norm weights [1, 2, 1, 0.5].
        double r0 = Math.sqrt(1.5 + EPS);
        double[] k0 = {3 / r0, -2 / r0}; // [n0 + n2, n1] with n = [1, -2, 2, 0] / r0
        double[] v0 = {-1 / r0, 2 / r0}; // [n0 + n1, n2]
        // One visible key: both heads return v0; o_proj is the identity.
        double[] h0 = {1 + v0[0], -1 + v0[1], 2 + v0[0], 0 + v0[1]};
        double[] want0 = handTail(h0, 1);

        // Position 1, token 3: e = [0, 2, 0, -2], mean square 2; n = [0, 4, 0, -1] / r1.
        double r1 = Math.sqrt(2 + EPS);
        double c = Math.cos(1), s = Math.sin(1); // rotation by 1 radian: [a, b] -> [a c - b s, b c + a s]
        double[] q0 = {-4 / r1 * s, 4 / r1 * c}; // head 0: rot([0, 4/r1])
        double[] q1 = {1 / r1 * s, -1 / r1 * c}; // head 1: rot([0, -1/r1])
        double[] k1 = {-4 / r1 * s, 4 / r1 * c}; // rot([n0 + n2, n1]) = rot([0, 4/r1])
        double[] v1 = {4 / r1, 0};
        double[] a0 = attend2(q0, k0, k1, v0, v1);
        double[] a1 = attend2(q1, k0, k1, v0, v1);
        double[] h1 = {0 + a0[0], 2 + a0[1], 0 + a1[0], -2 + a1[1]};
        double[] want1 = handTail(h1, 0);

        ReferenceMixtral.Output out = handModel().forward(new int[] {2, 3});
        assertArrayEquals(want0, out.logits()[0], 1e-12);
        assertArrayEquals(want1, out.logits()[1], 1e-12);
        assertArrayEquals(new int[] {1}, out.routing()[0][0].experts());
        assertArrayEquals(new int[] {0}, out.routing()[0][1].experts());
        assertArrayEquals(new double[] {1.0}, out.routing()[0][1].weights(), 0);
    }

    /** softmax over two keys of (q.k / sqrt 2), then the weighted values. */
    private static double[] attend2(double[] q, double[] k0, double[] k1, double[] v0, double[] v1) {
        double s0 = (q[0] * k0[0] + q[1] * k0[1]) / Math.sqrt(2), s1 = (q[0] * k1[0] + q[1] * k1[1]) / Math.sqrt(2);
        double p0 = 1 / (1 + Math.exp(s1 - s0)), p1 = 1 - p0;
        return new double[] {p0 * v0[0] + p1 * v1[0], p0 * v0[1] + p1 * v1[1]};
    }

    @Test
    void rmsNormByDefinition() {
        ReferenceMixtral m = handModel();
        double[] y = m.rmsNorm(new double[] {3, 4, 0, 0}, new double[] {1, 1, 2, -1});
        double r = Math.sqrt(25 / 4.0 + EPS);
        assertArrayEquals(new double[] {3 / r, 4 / r, 0, 0}, y, 1e-15);
    }

    // ------------------------------------------------------------ random models

    static ReferenceMixtral.Config randomConfig(int heads, int kvHeads, int experts, int topK, int window) {
        return new ReferenceMixtral.Config(23, 16, 12, 2, heads, kvHeads, 4, experts, topK, 1e-5, 10000.0, window);
    }

    /** Weights with the scales of a real model: projections ~ 1/sqrt(fan_in), norms ~ 1. */
    static Map<String, double[]> randomWeights(ReferenceMixtral.Config c, long seed) {
        Random rnd = new Random(seed);
        Map<String, double[]> w = new HashMap<>();
        ReferenceMixtral.expectedShapes(c).entrySet().stream()
                .sorted(Map.Entry.comparingByKey())
                .forEach(e -> {
                    long[] shape = e.getValue();
                    int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
                    double[] v = new double[n];
                    boolean norm = shape.length == 1;
                    double scale = norm ? 0.1 : e.getKey().contains("embed") ? 1.0 : 1.0 / Math.sqrt(shape[1]);
                    for (int i = 0; i < n; i++) {
                        v[i] = (norm ? 1.0 : 0.0) + scale * rnd.nextGaussian();
                    }
                    w.put(e.getKey(), v);
                });
        return w;
    }

    private static final int[] TOKENS = {1, 7, 3, 22, 0, 15, 7, 9, 4, 18};

    static void assertIncrementalMatchesFull(ReferenceMixtral m, int[] tokens) {
        ReferenceMixtral.Output full = m.forward(tokens);
        ReferenceMixtral.Session s = m.session();
        for (int i = 0; i < tokens.length; i++) {
            ReferenceMixtral.Output step = s.step(tokens[i]);
            assertArrayEquals(full.logits()[i], step.logits()[0], 1e-12, "logits at position " + i);
            for (int l = 0; l < m.config().layers(); l++) {
                assertArrayEquals(full.routing()[l][i].experts(), step.routing()[l][0].experts());
                assertArrayEquals(full.routing()[l][i].weights(), step.routing()[l][0].weights(), 1e-12);
            }
        }
        assertEquals(tokens.length, s.position());
    }

    @Test
    void incrementalEqualsFullSequence() {
        var c = randomConfig(4, 2, 4, 2, 0);
        assertIncrementalMatchesFull(new ReferenceMixtral(c, randomWeights(c, 1)), TOKENS);
    }

    @Test
    void incrementalEqualsFullSequenceWithSlidingWindow() {
        var c = randomConfig(4, 2, 4, 2, 3);
        assertIncrementalMatchesFull(new ReferenceMixtral(c, randomWeights(c, 2)), TOKENS);
    }

    @Test
    void slidingWindowMattersOnlyBeyondTheWindow() {
        int window = 4;
        var full = randomConfig(4, 2, 4, 2, 0);
        var windowed = randomConfig(4, 2, 4, 2, window);
        Map<String, double[]> w = randomWeights(full, 3);
        double[][] a = new ReferenceMixtral(full, w).forward(TOKENS).logits();
        double[][] b = new ReferenceMixtral(windowed, w).forward(TOKENS).logits();
        for (int i = 0; i < TOKENS.length; i++) {
            double diff = maxAbsDiff(a[i], b[i]);
            if (i < window) {
                assertEquals(0.0, diff, "position " + i + " sees at most " + window + " keys: window has no effect");
            } else {
                assertTrue(diff > 1e-6, "position " + i + " lost keys to the window, logits must change (diff " + diff + ")");
            }
        }
    }

    @Test
    void windowOfOneAttendsOnlyToItself() {
        // With window 1 each token sees only itself, so a token's logits do not depend on its prefix.
        var c = randomConfig(2, 1, 3, 1, 1);
        ReferenceMixtral m = new ReferenceMixtral(c, randomWeights(c, 4));
        double[] alone = m.forward(new int[] {9}).logits()[0];
        double[] afterPrefix = m.forward(new int[] {5, 2, 9}).logits()[2];
        // One visible key: the softmax is 1 whatever the rotation, so the position does not matter either.
        assertArrayEquals(alone, afterPrefix, 1e-12);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4})
    void groupedQueryAttentionSharesKvHeadsInBlocks(int kvHeads) {
        // A GQA model equals the multi-head model whose kv head h is a copy of GQA kv head h / (heads / kvHeads).
        int heads = 4, d = 4, group = heads / kvHeads;
        var gqa = randomConfig(heads, kvHeads, 4, 2, 0);
        var mha = randomConfig(heads, heads, 4, 2, 0);
        Map<String, double[]> w = randomWeights(gqa, 5);
        Map<String, double[]> wm = new HashMap<>(w);
        for (int l = 0; l < gqa.layers(); l++) {
            for (String proj : new String[] {"k_proj", "v_proj"}) {
                String name = "model.layers." + l + ".self_attn." + proj + ".weight";
                double[] src = w.get(name); // [kvHeads * d, hidden]
                int hidden = gqa.hidden();
                double[] dst = new double[heads * d * hidden];
                for (int h = 0; h < heads; h++) {
                    System.arraycopy(src, (h / group) * d * hidden, dst, h * d * hidden, d * hidden);
                }
                wm.put(name, dst);
            }
        }
        ReferenceMixtral a = new ReferenceMixtral(gqa, w), b = new ReferenceMixtral(mha, wm);
        double[][] la = a.forward(TOKENS).logits(), lb = b.forward(TOKENS).logits();
        for (int i = 0; i < TOKENS.length; i++) {
            assertArrayEquals(lb[i], la[i], 1e-12);
        }
        assertIncrementalMatchesFull(a, TOKENS);
    }

    @Test
    void ropeScoreDependsOnlyOnRelativePosition() {
        var c = randomConfig(2, 2, 2, 1, 0);
        ReferenceMixtral m = new ReferenceMixtral(c, randomWeights(c, 6));
        Random rnd = new Random(7);
        double[] q = rnd.doubles(8, -1, 1).toArray(), k = rnd.doubles(8, -1, 1).toArray();
        double base = dot(m.rope(q, 2, 5), m.rope(k, 2, 2));
        for (int shift = 1; shift < 20; shift += 3) {
            assertEquals(base, dot(m.rope(q, 2, 5 + shift), m.rope(k, 2, 2 + shift)), 1e-12);
        }
        assertEquals(Math.sqrt(dot(q, q)), Math.sqrt(dot(m.rope(q, 2, 11), m.rope(q, 2, 11))), 1e-12, "rotation keeps the norm");
        assertArrayEquals(q, m.rope(q, 2, 0), 0, "position 0 is the identity");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void topKRoutingMatchesAnIndependentComputation(int k) {
        var c = randomConfig(2, 1, 5, k, 0);
        Map<String, double[]> w = randomWeights(c, 10 + k);
        ReferenceMixtral m = new ReferenceMixtral(c, w);
        Random rnd = new Random(k);
        double[] gate = w.get("model.layers.1.block_sparse_moe.gate.weight"); // [5, 16]
        for (int trial = 0; trial < 20; trial++) {
            double[] x = rnd.doubles(16, -2, 2).toArray();
            double[] logits = new double[5];
            for (int e = 0; e < 5; e++) {
                logits[e] = dot(Arrays.copyOfRange(gate, e * 16, e * 16 + 16), x);
            }
            // softmax is monotone: the top-k of the probabilities are the top-k logits (stable sort: lower index first on ties).
            int[] want = IntStream.range(0, 5).boxed()
                    .sorted(Comparator.comparingDouble((Integer e) -> -logits[e]))
                    .limit(k).mapToInt(Integer::intValue).toArray();
            double z = 0;
            for (int e : want) {
                z += Math.exp(logits[e]);
            }
            double[] wantWeights = new double[k];
            double[] wantOut = new double[16];
            for (int r = 0; r < k; r++) {
                wantWeights[r] = Math.exp(logits[want[r]]) / z;
                double[] y = expertByHand(w, 1, want[r], x);
                for (int i = 0; i < 16; i++) {
                    wantOut[i] += wantWeights[r] * y[i];
                }
            }
            ReferenceMixtral.MoeResult got = m.moe(1, x);
            assertArrayEquals(want, got.routing().experts());
            assertArrayEquals(wantWeights, got.routing().weights(), 1e-12);
            assertArrayEquals(wantOut, got.output(), 1e-12);
        }
        assertIncrementalMatchesFull(m, TOKENS);
    }

    /** w2 . (silu(w1 x) * (w3 x)) written out over the flat weight arrays. */
    private static double[] expertByHand(Map<String, double[]> w, int layer, int e, double[] x) {
        String p = "model.layers." + layer + ".block_sparse_moe.experts." + e + ".";
        double[] w1 = w.get(p + "w1.weight"), w2 = w.get(p + "w2.weight"), w3 = w.get(p + "w3.weight");
        int hidden = x.length, inter = w1.length / hidden;
        double[] g = new double[inter];
        for (int j = 0; j < inter; j++) {
            double a = 0, b = 0;
            for (int i = 0; i < hidden; i++) {
                a += w1[j * hidden + i] * x[i];
                b += w3[j * hidden + i] * x[i];
            }
            g[j] = silu(a) * b;
        }
        double[] y = new double[hidden];
        for (int i = 0; i < hidden; i++) {
            for (int j = 0; j < inter; j++) {
                y[i] += w2[i * inter + j] * g[j];
            }
        }
        return y;
    }

    @Test
    void tiesGoToTheLowerExpert() {
        var c = randomConfig(2, 1, 4, 2, 0);
        Map<String, double[]> w = randomWeights(c, 20);
        double[] gate = w.get("model.layers.0.block_sparse_moe.gate.weight");
        Arrays.fill(gate, 0); // all router logits 0: four-way tie
        ReferenceMixtral.MoeResult r = new ReferenceMixtral(c, w).moe(0, new double[16]);
        assertArrayEquals(new int[] {0, 1}, r.routing().experts());
        assertArrayEquals(new double[] {0.5, 0.5}, r.routing().weights(), 1e-15);
    }

    @Test
    void allExpertsIsTheDenseSoftmaxMixture() {
        // With k = number of experts nothing is dropped: output = sum_e softmax(router)_e * expert_e(x).
        var dense = randomConfig(2, 1, 3, 3, 0);
        Map<String, double[]> w = randomWeights(dense, 30);
        double[] x = new Random(31).doubles(16, -1, 1).toArray();
        double[] gate = w.get("model.layers.0.block_sparse_moe.gate.weight");
        double[] p = new double[3];
        double z = 0;
        for (int e = 0; e < 3; e++) {
            p[e] = Math.exp(dot(Arrays.copyOfRange(gate, e * 16, e * 16 + 16), x));
            z += p[e];
        }
        double[] want = new double[16];
        for (int e = 0; e < 3; e++) {
            double[] y = expertByHand(w, 0, e, x);
            for (int i = 0; i < 16; i++) {
                want[i] += p[e] / z * y[i];
            }
        }
        assertArrayEquals(want, new ReferenceMixtral(dense, w).moe(0, x).output(), 1e-12);
        double[] top2 = new ReferenceMixtral(randomConfig(2, 1, 3, 2, 0), w).moe(0, x).output();
        assertTrue(maxAbsDiff(want, top2) > 1e-6, "dropping an expert must change the output");
    }

    @Test
    void rejectsBadInput() {
        var c = randomConfig(2, 1, 3, 1, 0);
        Map<String, double[]> w = randomWeights(c, 40);
        ReferenceMixtral m = new ReferenceMixtral(c, w);
        assertThrows(IllegalArgumentException.class, () -> m.forward(new int[] {23}));
        w.put("lm_head.weight", new double[3]);
        assertThrows(IllegalArgumentException.class, () -> new ReferenceMixtral(c, w));
    }

    // ------------------------------------------------------------ helpers

    static double[] identity(int n) {
        double[] m = new double[n * n];
        for (int i = 0; i < n; i++) {
            m[i * n + i] = 1;
        }
        return m;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    static double maxAbsDiff(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
