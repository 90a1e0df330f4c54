package dev.lookahead.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.model.RandomCheckpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reference loads what {@link RandomCheckpoint} writes, and the weights behave like a model's. */
class RandomCheckpointReferenceTest {

    private static final int[] TOKENS = {1, 84, 300, 17, 45, 260, 99, 3, 500, 128, 77, 64, 201, 33, 410, 12};

    @TempDir
    Path tmp;

    @Test
    void randomModelIsWellScaledAndRoutesOverAllExperts() throws IOException {
        RandomCheckpoint.Spec spec = RandomCheckpoint.Spec.small(11);
        Path dir = tmp.resolve("m");
        RandomCheckpoint.write(spec, dir);
        assertEquals("true", ReferenceSafetensors.metadata(dir.resolve("model.safetensors")).get(RandomCheckpoint.RANDOM_METADATA_KEY));

        ReferenceMixtral m = ReferenceMixtral.load(dir);
        assertEquals(spec.vocab(), m.config().vocab());
        assertEquals(spec.topK(), m.config().topK());
        ReferenceMixtral.Output out = m.forward(TOKENS);
        for (double[] row : out.logits()) {
            double sq = 0;
            for (double v : row) {
                assertTrue(Double.isFinite(v));
                sq += v * v;
            }
            double rms = Math.sqrt(sq / row.length);
            assertTrue(rms > 0.3 && rms < 3, "logits should be O(1), rms " + rms);
        }
        for (int l = 0; l < spec.layers(); l++) {
            TreeSet<Integer> used = new TreeSet<>();
            for (ReferenceMixtral.Routing r : out.routing()[l]) {
                for (int e : r.experts()) {
                    used.add(e);
                }
                assertTrue(r.weights()[0] < 0.99, "routing should not be one-hot, got " + r.weights()[0]);
            }
            assertEquals(spec.experts(), used.size(), "layer " + l + " routes to " + used);
        }
        ReferenceMixtralTest.assertIncrementalMatchesFull(m, TOKENS);
    }

    @Test
    void halfPrecisionFilesHoldTheRoundedFloat32Weights() throws IOException {
        RandomCheckpoint.Spec spec = RandomCheckpoint.Spec.small(12).withLayers(1);
        Map<String, ReferenceSafetensors.Tensor> f32 = writeAndRead(spec, "f32");
        Map<String, ReferenceSafetensors.Tensor> f16 = writeAndRead(spec.withDtype(RandomCheckpoint.WeightType.F16), "f16");
        Map<String, ReferenceSafetensors.Tensor> bf16 = writeAndRead(spec.withDtype(RandomCheckpoint.WeightType.BF16), "bf16");
        assertEquals(f32.keySet(), f16.keySet());
        assertEquals(f32.keySet(), bf16.keySet());
        for (String name : f32.keySet()) {
            double[] a = f32.get(name).data(), h = f16.get(name).data(), b = bf16.get(name).data();
            for (int i = 0; i < a.length; i++) {
                // Round to nearest: error at most half a unit in the last place (f16: 10 fraction bits, bf16: 7),
                // plus half the smallest f16 subnormal for tiny values.
                assertTrue(Math.abs(h[i] - a[i]) <= Math.abs(a[i]) * 0x1.0p-11 + 0x1.0p-25, name + "[" + i + "] f16");
                assertTrue(Math.abs(b[i] - a[i]) <= Math.abs(a[i]) * 0x1.0p-8, name + "[" + i + "] bf16");
                assertEquals((float) b[i], b[i], "bf16 values are exact floats");
            }
        }
    }

    @Test
    void slidingWindowReachesTheReference() throws IOException {
        Path dir = tmp.resolve("w");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(13).withSlidingWindow(5), dir);
        assertEquals(5, ReferenceMixtral.load(dir).config().slidingWindow());
    }

    private Map<String, ReferenceSafetensors.Tensor> writeAndRead(RandomCheckpoint.Spec spec, String name) throws IOException {
        Path dir = tmp.resolve(name);
        RandomCheckpoint.write(spec, dir);
        return ReferenceSafetensors.read(dir.resolve("model.safetensors"));
    }
}
