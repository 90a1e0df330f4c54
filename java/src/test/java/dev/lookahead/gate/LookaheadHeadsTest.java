package dev.lookahead.gate;

import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.CheckpointException;
import dev.lookahead.model.DType;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.RandomCheckpoint.WeightType;
import dev.lookahead.model.SafetensorsFile;
import dev.lookahead.model.SafetensorsWriter;
import dev.lookahead.model.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Heads: layout, plug-and-play initialisation against the checkpoint's own tensors, the file format. */
class LookaheadHeadsTest {
    @TempDir
    static Path tmp;
    static Path model, bf16Model, otherSeed, otherConfig;
    static RoutingWeights routing;

    static final RandomCheckpoint.Spec SPEC = RandomCheckpoint.Spec.small(5).withLayers(4).withExperts(8, 2);

    @BeforeAll
    static void models() throws IOException {
        model = tmp.resolve("m");
        RandomCheckpoint.write(SPEC, model);
        bf16Model = tmp.resolve("bf16");
        RandomCheckpoint.write(SPEC.withDtype(WeightType.BF16).withSeed(6), bf16Model);
        otherSeed = tmp.resolve("seed");
        RandomCheckpoint.write(SPEC.withSeed(77), otherSeed);
        otherConfig = tmp.resolve("cfg");
        RandomCheckpoint.write(SPEC.withSlidingWindow(100), otherConfig); // same shapes, another config
        routing = routingOf(model);
    }

    static RoutingWeights routingOf(Path dir) {
        try (Checkpoint c = Checkpoint.open(dir)) {
            return RoutingWeights.read(c);
        }
    }

    @Test
    void theLayoutHasShortRangeHeadsForEveryLayerAndLongRangeHeadsFromTheFirstLayers() {
        HeadLayout six = new HeadLayout(6, 3, 2);
        // short: l0..l2 three each, l3 two, l4 one = 12; long: 0->4, 0->5, 1->5 = 3
        assertEquals(15, six.heads().size());
        assertTrue(six.heads().contains(new HeadId(0, 5)) && six.isLongRangeOnly(new HeadId(0, 5)));
        assertTrue(six.heads().contains(new HeadId(1, 4)));
        assertFalse(six.contains(new HeadId(2, 4)));
        assertFalse(six.contains(new HeadId(4, 2)));
        assertFalse(six.isLongRangeOnly(new HeadId(0, 3)));
        for (HeadId id : six.heads()) assertTrue(six.contains(id) && id.target() < 6, id.toString());
        assertEquals(List.of(new HeadId(0, 1)), new HeadLayout(2, 3, 0).heads());
        assertEquals("lookahead.2.3.weight", new HeadId(2, 3).tensorName());
        assertThrows(IllegalArgumentException.class, () -> new HeadLayout(1, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new HeadLayout(4, 0, 0));
    }

    @Test
    void aPlugAndPlayHeadIsTheTargetLayersRouterAppliedWithItsNorm() {
        for (Path dir : List.of(model, bf16Model)) {
            RoutingWeights w = routingOf(dir);
            LookaheadHeads heads = LookaheadHeads.plugAndPlay(w, new HeadLayout(4, 3, 0), "m");
            SplittableRandom r = new SplittableRandom(3);
            try (Checkpoint c = Checkpoint.open(dir)) {
                double eps = c.config().rmsNormEps();
                for (HeadId id : heads.heads()) {
                    // Reference straight from the checkpoint's tensors, in double.
                    Tensor router = c.tensor("model.layers." + id.target() + ".block_sparse_moe.gate.weight");
                    Tensor norm = c.tensor("model.layers." + id.target() + ".post_attention_layernorm.weight");
                    float[] h = new float[64];
                    for (int j = 0; j < 64; j++) h[j] = (float) (r.nextGaussian() * (1 + j % 5));
                    double ss = 0;
                    for (float v : h) ss += (double) v * v;
                    double inv = 1 / Math.sqrt(ss / 64 + eps);
                    double[] expected = new double[8];
                    for (int e = 0; e < 8; e++) {
                        for (int j = 0; j < 64; j++) expected[e] += router.getFloat(e * 64L + j) * (h[j] * inv * norm.getFloat(j));
                    }
                    double[] actual = new double[8];
                    heads.logits(id, h, 0, actual);
                    double err = 0, ref = 0;
                    for (int e = 0; e < 8; e++) {
                        err += (actual[e] - expected[e]) * (actual[e] - expected[e]);
                        ref += expected[e] * expected[e];
                    }
                    // W = router * norm is rounded to float once: relative error ~1e-7 per weight
                    assertTrue(err / ref < 1e-12, dir + " head " + id + ": NMSE " + err / ref);
                    assertArrayEquals(GateMath.topK(expected, 8, 2), heads.predict(id, h, 0, 2), id.toString());
                    assertArrayEquals(new float[8], heads.bias(id), "plug-and-play bias is zero");
                }
            }
        }
    }

    @Test
    void headsSurviveASaveAndLoadExactly() throws IOException {
        LookaheadHeads pnp = LookaheadHeads.plugAndPlay(routing, new HeadLayout(4, 2, 1), "m");
        SplittableRandom r = new SplittableRandom(8);
        float[] changed = new float[8 * 64];
        for (int i = 0; i < changed.length; i++) changed[i] = (float) r.nextGaussian();
        float[] bias = {1, -2, 3, -4, 5, -6, 7, -8};
        LookaheadHeads heads = pnp.withParameters(Map.of(new HeadId(1, 2), new LookaheadHeads.Parameters(changed, bias)),
                "{\"note\":\"test\"}");
        Path file = tmp.resolve("rt.safetensors");
        heads.save(file);
        LookaheadHeads back = LookaheadHeads.load(file, routing);
        assertEquals(heads.layout(), back.layout());
        assertEquals(heads.heads(), back.heads());
        assertEquals(heads.base(), back.base());
        assertEquals("{\"note\":\"test\"}", back.trainingSummary());
        for (HeadId id : heads.heads()) {
            assertArrayEquals(heads.weight(id), back.weight(id), id.toString());
            assertArrayEquals(heads.bias(id), back.bias(id), id.toString());
        }
        assertArrayEquals(changed, back.weight(new HeadId(1, 2)));
        assertArrayEquals(bias, back.bias(new HeadId(1, 2)));
        assertArrayEquals(new float[8], back.bias(new HeadId(1, 1)));
        // distance 2, long range 1 over 4 layers: 0->1, 0->2, 0->3, 1->2, 1->3, 2->3
        assertEquals(6, back.heads().size());
        assertEquals(List.of(new HeadId(1, 1), new HeadId(1, 2)), back.headsFrom(1));
        float[] stacked = back.stackedWeights(1);
        assertEquals(2 * 8 * 64, stacked.length);
        assertArrayEquals(changed, Arrays.copyOfRange(stacked, 8 * 64, 2 * 8 * 64));
        assertArrayEquals(back.weight(new HeadId(1, 1)), Arrays.copyOfRange(stacked, 0, 8 * 64));
        assertArrayEquals(bias, Arrays.copyOfRange(back.stackedBiases(1), 8, 16));
    }

    @Test
    void nextTokenHeadsPredictTheSameLayerOfTheNextToken() {
        HeadLayout layout = new HeadLayout(4, 1, 0, HeadLayout.NextToken.SAME_LAYER);
        // short: 0->1, 1->2, 2->3; next token: (l, 4) for l = 0..3
        assertEquals(7, layout.heads().size());
        for (int l = 0; l < 4; l++) {
            HeadId id = new HeadId(l, 4);
            assertTrue(layout.contains(id) && layout.isNextToken(id) && !layout.isLongRangeOnly(id), id.toString());
            assertEquals(l, id.targetLayer(4));
            assertEquals(1, id.tokensAhead(4));
        }
        assertFalse(new HeadLayout(4, 1, 0).contains(new HeadId(0, 4)));
        assertFalse(layout.contains(new HeadId(1, 3))); // crosses the token but is not a next-token head
        LookaheadHeads heads = LookaheadHeads.plugAndPlay(routing, layout, "m");
        // plug-and-play: layer l's own router and norm ("the next token routes like this one")
        float[] router = routing.router(2), norm = routing.norm(2), w = heads.weight(new HeadId(2, 4));
        for (int e = 0; e < 8; e++) {
            for (int j = 0; j < 64; j++) assertEquals(router[e * 64 + j] * norm[j], w[e * 64 + j], 0f);
        }
        assertEquals(List.of(new HeadId(3, 4)), heads.headsFrom(3));
    }

    @Test
    void twoTokenHeadsAlsoPredictTheSameLayerTwoTokensAhead() throws IOException {
        HeadLayout layout = new HeadLayout(4, 1, 0, HeadLayout.NextToken.TWO_TOKENS);
        // short: 0->1, 1->2, 2->3; (l, 4) and (l, 8) for l = 0..3
        assertEquals(11, layout.heads().size());
        for (int l = 0; l < 4; l++) {
            for (int ahead = 1; ahead <= 2; ahead++) {
                HeadId id = new HeadId(l, 4 * ahead);
                assertTrue(layout.contains(id) && layout.isNextToken(id) && !layout.isLongRangeOnly(id), id.toString());
                assertEquals(l, id.targetLayer(4));
                assertEquals(ahead, id.tokensAhead(4));
            }
        }
        assertFalse(layout.contains(new HeadId(1, 5)), "another layer of the next token");
        assertFalse(layout.contains(new HeadId(1, 12)), "three tokens ahead");
        assertFalse(new HeadLayout(4, 1, 0, HeadLayout.NextToken.SAME_LAYER).contains(new HeadId(0, 8)));
        Path file = tmp.resolve("two.safetensors");
        LookaheadHeads.plugAndPlay(routing, layout, "m").save(file);
        LookaheadHeads back = LookaheadHeads.load(file, routing);
        assertEquals(HeadLayout.NextToken.TWO_TOKENS, back.layout().nextToken());
        assertEquals(layout.heads(), back.heads());
        assertEquals(HeadLayout.NextToken.TWO_TOKENS, HeadLayout.NextToken.parse("two-tokens"));
    }

    @Test
    void theNextTokenFlagSurvivesTheFile() throws IOException {
        Path file = tmp.resolve("next.safetensors");
        LookaheadHeads.plugAndPlay(routing, new HeadLayout(4, 1, 0, HeadLayout.NextToken.SAME_LAYER), "m").save(file);
        LookaheadHeads back = LookaheadHeads.load(file, routing);
        assertEquals(HeadLayout.NextToken.SAME_LAYER, back.layout().nextToken());
        assertEquals(7, back.heads().size());
        Path old = tmp.resolve("old.safetensors");
        LookaheadHeads.plugAndPlay(routing, new HeadLayout(4, 1, 0, HeadLayout.NextToken.NONE), "m").save(old);
        assertEquals(HeadLayout.NextToken.NONE, LookaheadHeads.load(old, routing).layout().nextToken());
    }

    @Test
    void headsOfAnotherModelAreRefused() throws IOException {
        Path file = tmp.resolve("for-m.safetensors");
        LookaheadHeads.plugAndPlay(routing, new HeadLayout(4, 1, 0), "m").save(file);
        var e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(file, routingOf(otherSeed)));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("different routers"), e.getMessage());
        e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(file, routingOf(otherConfig)));
        assertTrue(e.getMessage().contains("another model") && e.getMessage().contains("config"), e.getMessage());
        Path small = tmp.resolve("small");
        RandomCheckpoint.write(SPEC.withLayers(3), small);
        e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(file, routingOf(small)));
        assertTrue(e.getMessage().contains("4 layers") && e.getMessage().contains("3 layers"), e.getMessage());
        Path missing = tmp.resolve("missing.safetensors");
        e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(missing, routing));
        assertTrue(e.getMessage().contains(missing.toString()) && e.getMessage().contains("heads file not found"), e.getMessage());
    }

    @Test
    void theFingerprintSurvivesFp16RoundingOfTheRoutersButNotAnotherModel() {
        float[][] routers = new float[4][], norms = new float[4][];
        for (int l = 0; l < 4; l++) {
            routers[l] = routing.router(l);
            norms[l] = routing.norm(l);
            for (float[] t : new float[][] {routers[l], norms[l]}) {
                for (int i = 0; i < t.length; i++) t[i] = Float.float16ToFloat(Float.floatToFloat16(t[i]));
            }
        }
        assertEquals(routing.fingerprint(), new RoutingWeights(routing.config(), routers, norms).fingerprint());
        assertNotEquals(routing.fingerprint(), routingOf(otherSeed).fingerprint());
    }

    @Test
    void aMissingHeadIsNamed() throws IOException {
        Path bad = rewrite("missing", t -> t.remove("lookahead.2.1.weight"), m -> { });
        var e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(bad, routing));
        assertTrue(e.getMessage().startsWith(bad.toString()) && e.getMessage().contains("'lookahead.2.1.weight'")
                && e.getMessage().contains("missing"), e.getMessage());
        assertEquals("lookahead.2.1.weight", e.tensor());
    }

    @Test
    void aHeadOfTheWrongShapeIsNamed() throws IOException {
        Path bad = rewrite("shape", t -> t.put("lookahead.1.1.weight", new Raw(DType.F32, new long[] {8, 63}, new float[8 * 63])), m -> { });
        var e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(bad, routing));
        assertTrue(e.getMessage().contains("'lookahead.1.1.weight'") && e.getMessage().contains("[8, 63]")
                && e.getMessage().contains("[8, 64]"), e.getMessage());
    }

    @Test
    void aMissingOrMisshapenBiasIsNamed() throws IOException {
        Path missing = rewrite("nobias", t -> t.remove("lookahead.0.3.bias"), m -> { });
        var e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(missing, routing));
        assertTrue(e.getMessage().contains("'lookahead.0.3.bias'") && e.getMessage().contains("missing"), e.getMessage());
        Path shape = rewrite("biasshape", t -> t.put("lookahead.0.3.bias", new Raw(DType.F32, new long[] {1, 8}, new float[8])), m -> { });
        e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(shape, routing));
        assertTrue(e.getMessage().contains("'lookahead.0.3.bias'") && e.getMessage().contains("[1, 8]"), e.getMessage());
    }

    @Test
    void aHeadOfTheWrongDtypeOrWithNaNIsNamed() throws IOException {
        Path f16 = rewrite("f16", t -> t.put("lookahead.0.1.weight", new Raw(DType.F16, new long[] {8, 64}, new float[8 * 64])), m -> { });
        var e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(f16, routing));
        assertTrue(e.getMessage().contains("'lookahead.0.1.weight'") && e.getMessage().contains("F16"), e.getMessage());
        float[] nan = new float[8 * 64];
        nan[17] = Float.NaN;
        Path withNan = rewrite("nan", t -> t.put("lookahead.0.1.weight", new Raw(DType.F32, new long[] {8, 64}, nan)), m -> { });
        e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(withNan, routing));
        assertTrue(e.getMessage().contains("element 17 is NaN"), e.getMessage());
    }

    @Test
    void anUnexpectedTensorOrBadMetadataIsAnError() throws IOException {
        Path extra = rewrite("extra", t -> t.put("lookahead.2.2.weight", new Raw(DType.F32, new long[] {8, 64}, new float[8 * 64])), m -> { });
        var e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(extra, routing));
        assertTrue(e.getMessage().contains("'lookahead.2.2.weight'") && e.getMessage().contains("unexpected"), e.getMessage());
        Path noDistance = rewrite("nodist", t -> { }, m -> m.remove(LookaheadHeads.K_DISTANCE));
        e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(noDistance, routing));
        assertTrue(e.getMessage().contains(LookaheadHeads.K_DISTANCE), e.getMessage());
        Path badNumber = rewrite("badnum", t -> { }, m -> m.put(LookaheadHeads.K_LAYERS, "four"));
        e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(badNumber, routing));
        assertTrue(e.getMessage().contains("not an integer: 'four'"), e.getMessage());
    }

    @Test
    void aModelFileOrGarbageIsNotTakenForHeads() throws IOException {
        Path weights = model.resolve("model.safetensors");
        var e = assertThrows(HeadsFileException.class, () -> LookaheadHeads.load(weights, routing));
        assertTrue(e.getMessage().contains("not a lookahead heads file"), e.getMessage());
        Path garbage = tmp.resolve("garbage.safetensors");
        Files.write(garbage, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
        var c = assertThrows(CheckpointException.class, () -> LookaheadHeads.load(garbage, routing));
        assertTrue(c.getMessage().startsWith(garbage.toString()), c.getMessage());
        var missing = assertThrows(CheckpointException.class, () -> LookaheadHeads.load(tmp.resolve("nope"), routing));
        assertTrue(missing.getMessage().contains("nope"), missing.getMessage());
    }

    record Raw(DType dtype, long[] shape, float[] values) {
    }

    /** A valid heads file (4 layers, D = 1, F = 1) rewritten with edited tensors and metadata. */
    private static Path rewrite(String name, Consumer<Map<String, Raw>> tensors, Consumer<Map<String, String>> meta) throws IOException {
        Path good = tmp.resolve(name + "-good.safetensors");
        LookaheadHeads.plugAndPlay(routing, new HeadLayout(4, 1, 1), "m").save(good);
        Map<String, Raw> t = new LinkedHashMap<>();
        Map<String, String> m;
        try (SafetensorsFile f = SafetensorsFile.open(good)) {
            m = new LinkedHashMap<>(f.metadata());
            for (String n : f.names()) {
                Tensor x = f.tensor(n);
                t.put(n, new Raw(x.dtype(), x.shape(), x.toFloatArray()));
            }
        }
        tensors.accept(t);
        meta.accept(m);
        Path bad = tmp.resolve(name + ".safetensors");
        SafetensorsWriter w = new SafetensorsWriter(bad);
        m.forEach(w::metadata);
        t.forEach((n, raw) -> w.add(n, raw.dtype(), raw.shape(), SafetensorsWriter.TensorData.ofFloats(raw.values())));
        w.write();
        return bad;
    }
}
