package dev.lookahead.engine;

import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DType;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.RandomCheckpoint.Spec;
import dev.lookahead.model.RandomCheckpoint.WeightType;
import dev.lookahead.reference.ReferenceMixtral;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The engine (Java orchestration over the CPU backend) against the independent float64
 * reference forward pass, on random checkpoints of several configurations: logits of every
 * position by NMSE, routing choices, and incremental decode against the full sequence.
 */
class EngineParityTest {
    @TempDir
    Path tmp;

    static Stream<Arguments> configs() {
        Spec base = Spec.small(11);
        return Stream.of(
                Arguments.of("top2-gqa2-f32", base, 1e-9),
                Arguments.of("top1-3layers", base.withLayers(3).withExperts(4, 1).withAttention(4, 2, 24), 1e-9),
                Arguments.of("top3-mha", base.withExperts(6, 3).withAttention(4, 4, 16), 1e-9),
                Arguments.of("gqa4-window", base.withAttention(8, 2, 8).withSlidingWindow(5), 1e-9),
                Arguments.of("bf16-weights", base.withDtype(WeightType.BF16).withSeed(3), 1e-9),
                Arguments.of("f16-weights", base.withDtype(WeightType.F16).withSeed(4), 1e-9));
    }

    private static final int[] PROMPT = {1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 260, 300, 17, 5};

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void logitsOfEveryPositionMatchTheReference(String name, Spec spec, double tolerance) throws Exception {
        Path dir = tmp.resolve(name);
        RandomCheckpoint.write(spec, dir);
        ReferenceMixtral ref = ReferenceMixtral.load(dir);
        ReferenceMixtral.Output expected = ref.forward(PROMPT);

        // chunk 7 splits the prompt into passes of 7, 7 and 4 tokens: chunking must not change anything
        LoadOptions options = LoadOptions.defaults().withBackend(BackendChoice.CPU).withThreads(2)
                .withKvCacheType(DType.F32).withPrefillChunk(7).withContextLength(64);
        try (MoeModel model = MoeModel.load(dir, options)) {
            double[][] got = new double[PROMPT.length][];
            int[][] routed = new int[PROMPT.length * spec.layers()][];
            model.forwardPass().setRoutingListener((pos, layer, experts, weights) ->
                    routed[(int) pos * spec.layers() + layer] = experts.clone());
            model.forwardPass().forwardAll(PROMPT, 0, PROMPT.length, 0, (i, logits) -> got[i] = toDouble(logits));
            for (int i = 0; i < PROMPT.length; i++) {
                double e = nmse(got[i], expected.logits()[i]);
                assertTrue(e < tolerance, name + ": position " + i + " NMSE " + e + " >= " + tolerance);
                for (int l = 0; l < spec.layers(); l++) {
                    assertArrayEquals(expected.routing()[l][i].experts(), routed[i * spec.layers() + l],
                            name + ": experts of position " + i + " layer " + l);
                }
            }
        }
    }

    @Test
    void incrementalDecodeEqualsTheFullSequence() throws Exception {
        Path dir = tmp.resolve("incremental");
        RandomCheckpoint.write(Spec.small(5).withLayers(3).withSlidingWindow(6), dir);
        ReferenceMixtral.Output expected = ReferenceMixtral.load(dir).forward(PROMPT);
        LoadOptions options = LoadOptions.defaults().withBackend(BackendChoice.CPU).withKvCacheType(DType.F32)
                .withContextLength(32);
        try (MoeModel model = MoeModel.load(dir, options)) {
            ForwardPass fp = model.forwardPass();
            // prefill 5 tokens, then one token at a time: every step's logits equal the full pass
            float[] last = fp.forwardLast(PROMPT, 0, 5, 0);
            assertTrue(nmse(toDouble(last), expected.logits()[4]) < 1e-9);
            for (int i = 5; i < PROMPT.length; i++) {
                float[] step = fp.forwardLast(PROMPT, i, 1, i);
                double e = nmse(toDouble(step), expected.logits()[i]);
                assertTrue(e < 1e-9, "decode step at position " + i + ": NMSE " + e);
            }
        }
    }

    @Test
    void anF16KvCacheStaysCloseToTheReference() throws Exception {
        Path dir = tmp.resolve("f16cache");
        RandomCheckpoint.write(Spec.small(8), dir);
        ReferenceMixtral.Output expected = ReferenceMixtral.load(dir).forward(PROMPT);
        LoadOptions options = LoadOptions.defaults().withBackend(BackendChoice.CPU).withKvCacheType(DType.F16)
                .withContextLength(32);
        try (MoeModel model = MoeModel.load(dir, options)) {
            float[] last = model.forwardPass().forwardLast(PROMPT, 0, PROMPT.length, 0);
            double e = nmse(toDouble(last), expected.logits()[PROMPT.length - 1]);
            // fp16 keeps 11 significant bits: relative error ~5e-4 per value, NMSE ~1e-7 .. 1e-6
            assertTrue(e < 1e-5, "NMSE " + e);
        }
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    static double nmse(double[] got, double[] expected) {
        double num = 0, den = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = got[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return num / den;
    }
}
