package dev.lookahead.engine;

import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.ExpertCacheStats;
import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.GenerationResult;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DType;
import dev.lookahead.expert.CacheStats;
import dev.lookahead.model.ArchitectureSpec;
import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.SafetensorsWriter;
import dev.lookahead.quant.CheckpointQuantizer;
import dev.lookahead.quant.Dequantizer;
import dev.lookahead.quant.ExpertMatrix;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.quant.QuantizedCheckpoint;
import dev.lookahead.reference.ReferenceMixtral;
import dev.lookahead.sched.SchedulerConfig;
import dev.lookahead.sched.SpeculationSettings;
import dev.lookahead.sched.StagedPrefetch;
import dev.lookahead.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Quantized checkpoints in the engine: parity with a float64 reference run on the dequantized
 * weights, and offloading changes speed only (the same tokens as all-resident).
 */
class OffloadingTest {
    @TempDir
    static Path tmp;
    static Path quantized;

    static final int[] PROMPT = {1, 40, 71, 100, 33, 260, 45, 300, 12, 99, 7, 120};

    @BeforeAll
    static void makeModels() throws Exception {
        Path plain = tmp.resolve("plain");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(17).withLayers(3).withExperts(8, 2), plain);
        quantized = tmp.resolve("q4");
        CheckpointQuantizer.quantize(plain, quantized,
                new CheckpointQuantizer.Options(new QuantSpec(4, 32), new QuantSpec(4, 32), null), Progress.NONE);
    }

    static LoadOptions cpu(String policy) {
        return LoadOptions.defaults().withBackend(BackendChoice.CPU).withKvCacheType(DType.F32).withContextLength(64)
                .withPolicy(policy).withPrefillChunk(5);
    }

    @Test
    void quantizedEngineMatchesTheReferenceOnDequantizedWeights() throws Exception {
        Path dequantized = tmp.resolve("dequantized");
        writeDequantized(quantized, dequantized);
        ReferenceMixtral.Output expected = ReferenceMixtral.load(dequantized).forward(PROMPT);
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident"))) {
            double[][] got = new double[PROMPT.length][];
            m.forwardPass().forwardAll(PROMPT, 0, PROMPT.length, 0, (i, l) -> got[i] = EngineParityTest.toDouble(l));
            for (int i = 0; i < PROMPT.length; i++) {
                double e = EngineParityTest.nmse(got[i], expected.logits()[i]);
                assertTrue(e < 1e-9, "position " + i + ": NMSE " + e);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mixtral-offloading", "next-layer", "lru-global", "lookahead", "lookahead-global"})
    void offloadingChangesSpeedOnlyNotTokens(String policy) {
        GenerationOptions opts = GenerationOptions.defaults().withMaxTokens(24);
        String prompt = "the river ran past the old mill";
        List<Integer> expected = allResidentTokens(prompt, opts);
        try (MoeModel m = MoeModel.load(quantized, cpu(policy).withSlotsPerLayer(3))) {
            GenerationResult r = m.generate(prompt, opts, t -> { });
            assertEquals(expected, r.tokenIds(), policy + " must produce the all-resident tokens");
            CacheStats stats = ((OffloadedExperts) m.experts()).stats();
            assertTrue(stats.misses() > 0, "3 of 8 slots per layer: some decode lookups miss");
            assertTrue(stats.hits() > 0, "and some hit");
            assertEquals(stats.lookups(), (long) (r.tokenIds().size() - 1) * 3 * 2,
                    "every decode step looks up top-2 experts in each of 3 layers");
            if (policy.equals("next-layer")) assertTrue(stats.prefetchesIssued() > 0, "next-layer prefetches");
            assertTrue(((OffloadedExperts) m.experts()).streamedCopies() > 0, "the prompt streams its missing experts");

            // the API's view of the same counters
            ExpertCacheStats api = m.expertCacheStats().orElseThrow();
            assertEquals(policy, api.policy());
            assertEquals(stats.lookups(), api.lookups());
            assertEquals(stats.hitRate(), api.hitRate(), 1e-12);
            assertEquals(stats.bytesCopied(), api.bytesCopied());
            assertTrue(api.linkBytes() >= api.bytesCopied() && api.copyWaitMillis() >= 0, api.toString());
            assertTrue(api.demandIssueMicros() > 0, "misses issued demand copies: " + api);
            boolean heads = policy.startsWith("lookahead");
            assertEquals(heads, !Double.isNaN(api.recallNextLayer()), "the heads' recall for the lookahead policies: " + api);
            assertTrue(!heads || (api.recallNextLayer() >= 0 && api.recallNextLayer() <= 1), api.toString());
        }
    }

    @Test
    void allResidentHasNoExpertCacheStatistics() {
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident"))) {
            assertTrue(m.expertCacheStats().isEmpty());
        }
    }

    /** The tokens all-resident generates: what every offloading policy must produce. */
    static List<Integer> allResidentTokens(String prompt, GenerationOptions opts) {
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident"))) {
            return m.generate(prompt, opts, t -> { }).tokenIds();
        }
    }

    @Test
    void schedulerTuningReachesTheLookaheadPolicy() {
        GenerationOptions opts = GenerationOptions.defaults().withMaxTokens(24);
        String prompt = "the river ran past the old mill";
        List<Integer> expected = allResidentTokens(prompt, opts);
        // p >= 0: every prediction is a candidate, 3 copies in flight, never throttled: it speculates
        SpeculationSettings eager = new SpeculationSettings(3, 0.0, 0.0);
        try (MoeModel m = MoeModel.load(quantized, cpu("lookahead").withSlotsPerLayer(3).withScheduler(eager))) {
            assertEquals(expected, m.generate(prompt, opts, t -> { }).tokenIds());
            OffloadedExperts off = (OffloadedExperts) m.experts();
            assertEquals(3 * off.expertBytes(), off.schedulerConfig().inFlightBudgetBytes());
            assertTrue(off.stats().prefetchesIssued() > 0, "an eager scheduler copies speculatively");
        }
        // the same, looking one layer ahead only
        try (MoeModel m = MoeModel.load(quantized, cpu("lookahead").withSlotsPerLayer(3)
                .withScheduler(new SpeculationSettings(3, 0.0, 0.0, 1)))) {
            assertEquals(expected, m.generate(prompt, opts, t -> { }).tokenIds());
            OffloadedExperts off = (OffloadedExperts) m.experts();
            assertEquals(1, off.schedulerConfig().horizon());
            assertTrue(off.stats().prefetchesIssued() > 0, "distance-1 predictions still speculate");
        }
        // 0 copies in flight: eviction by prediction only
        try (MoeModel m = MoeModel.load(quantized, cpu("lookahead").withSlotsPerLayer(3)
                .withScheduler(new SpeculationSettings(0, Double.NaN, Double.NaN)))) {
            assertEquals(expected, m.generate(prompt, opts, t -> { }).tokenIds());
            OffloadedExperts off = (OffloadedExperts) m.experts();
            assertEquals(0, off.stats().prefetchesIssued());
            assertEquals(0.9, off.schedulerConfig().minProbability(), 0.0); // the default kept
            assertEquals(SchedulerConfig.defaults(off.expertBytes(), 2).horizon(), off.schedulerConfig().horizon());
        }
    }

    @Test
    void stagedCopiesServeMissesWithoutChangingTokens() {
        GenerationOptions opts = GenerationOptions.defaults().withMaxTokens(40);
        String prompt = "the river ran past the old mill";
        List<Integer> expected = allResidentTokens(prompt, opts);
        // a slow emulated link: copies take longer than the layers, so windows are short and chunks partial
        SpeculationSettings lowBar = new SpeculationSettings(-1, Double.NaN, Double.NaN, -1, true, 0.0, false);
        for (String policy : List.of("lookahead", "lookahead-global")) {
            try (MoeModel m = MoeModel.load(quantized, cpu(policy).withSlotsPerLayer(3).withLinkBytesPerSecond(2e7)
                    .withScheduler(lowBar))) {
                assertEquals(expected, m.generate(prompt, opts, t -> { }).tokenIds(), policy);
                OffloadedExperts off = (OffloadedExperts) m.experts();
                var st = off.stagingStats();
                assertTrue(st.windowsMeasured > 0, policy + ": every decode layer's window is measured");
                assertTrue(st.used > 0 && st.bytesUsed > 0, policy + ": some misses came from a staging slot");
                assertTrue(st.bytesUsed <= st.bytesIssued);
                assertEquals(off.stats().bytesCopied() + st.bytesWasted(), off.linkBytes(),
                        "the link carried the cache's copies plus the staged bytes no miss used");
            }
        }
        // the defaults: staging and bypass (plug-and-play heads predict the experts just chosen, so they rarely
        // bypass; DemoHeadsTest measures bypass with trained heads)
        for (String policy : List.of("lookahead", "lookahead-global")) {
            try (MoeModel m = MoeModel.load(quantized, cpu(policy).withSlotsPerLayer(3).withLinkBytesPerSecond(2e7))) {
                assertEquals(expected, m.generate(prompt, opts, t -> { }).tokenIds(), policy);
                OffloadedExperts off = (OffloadedExperts) m.experts();
                CacheStats cs = off.stats();
                assertEquals(cs.misses(), off.schedulerStats().demandCopies() + off.schedulerStats().bypasses(),
                        "every miss is admitted or bypassed");
                assertEquals(off.linkBytes() - off.stagingStats().bytesWasted(), off.demandBytes());
                assertTrue(off.demandBytes() <= cs.misses() * off.expertBytes(), "a miss needs at most one expert");
            }
        }
        try (MoeModel m = MoeModel.load(quantized, cpu("lookahead").withSlotsPerLayer(3).withLinkBytesPerSecond(2e7)
                .withScheduler(SpeculationSettings.DEFAULTS.withStaged(false)))) {
            assertEquals(expected, m.generate(prompt, opts, t -> { }).tokenIds());
            OffloadedExperts off = (OffloadedExperts) m.experts();
            assertEquals(null, off.stagingStats(), "staging off");
            assertEquals(off.stats().bytesCopied(), off.linkBytes());
        }
        try (MoeModel m = MoeModel.load(quantized, cpu("mixtral-offloading").withSlotsPerLayer(3))) {
            m.generate(prompt, opts, t -> { });
            assertEquals(null, ((OffloadedExperts) m.experts()).stagingStats(), "the baselines do not stage");
        }
    }

    @Test
    void schedulerTuningRejectsValuesOutsideTheUnitInterval() {
        assertThrows(IllegalArgumentException.class, () -> new SpeculationSettings(1, 1.5, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> new SpeculationSettings(1, Double.NaN, -0.1));
        assertThrows(IllegalArgumentException.class, () -> new SpeculationSettings(-2, Double.NaN, Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> new SpeculationSettings(1, Double.NaN, Double.NaN, 0));
        assertThrows(IllegalArgumentException.class, () -> new SpeculationSettings(1, Double.NaN, Double.NaN, -1, true, 1.5, true));
        assertThrows(IllegalArgumentException.class, () -> new SpeculationSettings(1, Double.NaN, Double.NaN, -2));
        assertThrows(IllegalArgumentException.class,
                () -> new SpeculationSettings(1, Double.NaN, Double.NaN, -1, true, Double.NaN, true, -1, 1.5));
        // the staging throttle's bar reaches the staging configuration; unset, the default's
        assertEquals(0.0, new SpeculationSettings(-1, Double.NaN, Double.NaN, -1, true, Double.NaN, true, -1, 0.0)
                .stagingConfig(1 << 20).minUsefulness());
        assertEquals(StagedPrefetch.Config.defaults(1 << 20).minUsefulness(),
                SpeculationSettings.DEFAULTS.stagingConfig(1 << 20).minUsefulness());
        // and so does the staging's discount per step ahead
        for (double bad : new double[] {0.0, -0.5, 1.01}) {
            assertThrows(IllegalArgumentException.class, () -> new SpeculationSettings(1, Double.NaN, Double.NaN, -1, true,
                    Double.NaN, true, -1, Double.NaN, true, bad));
        }
        assertEquals(1.0, new SpeculationSettings(-1, Double.NaN, Double.NaN, -1, true, Double.NaN, true, -1, Double.NaN,
                true, 1.0).stagingConfig(1 << 20).stepDiscount());
        assertEquals(0.7, SpeculationSettings.DEFAULTS.stagingConfig(1 << 20).stepDiscount());
    }

    @Test
    void offloadingNeedsAQuantizedCheckpointAndABigEnoughBudget() throws Exception {
        Path plain = tmp.resolve("plain");
        IllegalArgumentException notQuantized = assertThrows(IllegalArgumentException.class,
                () -> MoeModel.load(plain, cpu("mixtral-offloading")));
        assertTrue(notQuantized.getMessage().contains("lookahead quantize"), notQuantized.getMessage());

        IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class,
                () -> MoeModel.load(quantized, cpu("mixtral-offloading").withDeviceMemory(1280L << 10)));
        assertTrue(tooSmall.getMessage().contains("too small") && tooSmall.getMessage().contains("at least"),
                tooSmall.getMessage());

        // a model that does not fit with every expert resident: the message says how to offload, nothing stays allocated
        IllegalStateException resident = assertThrows(IllegalStateException.class,
                () -> MoeModel.load(quantized, cpu("all-resident").withDeviceMemory(32L << 10)));
        assertTrue(resident.getMessage().contains("device memory is too small") && resident.getMessage().contains(
                "--policy lookahead --gpu-memory SIZE") && !resident.getMessage().contains("lookahead quantize"),
                resident.getMessage());
        IllegalStateException plainResident = assertThrows(IllegalStateException.class,
                () -> MoeModel.load(plain, cpu("all-resident").withDeviceMemory(32L << 10)));
        assertTrue(plainResident.getMessage().contains("lookahead quantize"), plainResident.getMessage());
        IllegalStateException tinyBudget = assertThrows(IllegalStateException.class,
                () -> MoeModel.load(quantized, cpu("mixtral-offloading").withDeviceMemory(32L << 10)));
        assertTrue(tinyBudget.getMessage().contains("other than the experts"), tinyBudget.getMessage());
        try (MoeModel fits = MoeModel.load(quantized, cpu("all-resident"))) {
            assertTrue(fits.generate("the", GenerationOptions.defaults().withMaxTokens(2), t -> { }).tokenIds().size() > 0);
        }

        // fewer slots per layer than the experts a layer chooses fails at load, not in the middle of a generation
        for (String policy : new String[] {"mixtral-offloading", "lookahead"}) {
            IllegalArgumentException oneSlot = assertThrows(IllegalArgumentException.class,
                    () -> MoeModel.load(quantized, cpu(policy).withSlotsPerLayer(1)));
            assertTrue(oneSlot.getMessage().contains("cannot hold the 2 experts") && oneSlot.getMessage().contains("-k 2"),
                    oneSlot.getMessage());
        }
        try (MoeModel pool = MoeModel.load(quantized, cpu("lru-global").withSlotsPerLayer(1))) { // a pool of one per layer
            assertTrue(pool.generate("the", GenerationOptions.defaults().withMaxTokens(3), t -> { }).tokenIds().size() > 0);
        }

        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> MoeModel.load(quantized, cpu("fastest")));
        assertTrue(unknown.getMessage().contains("fastest"), unknown.getMessage());
        IllegalArgumentException replayOnly = assertThrows(IllegalArgumentException.class,
                () -> MoeModel.load(quantized, cpu("belady")));
        assertTrue(replayOnly.getMessage().contains("replay"), replayOnly.getMessage());
    }

    /** Writes an F32 HF checkpoint holding exactly the values the quantized checkpoint represents. */
    static void writeDequantized(Path quantizedDir, Path out) throws Exception {
        Files.createDirectories(out);
        try (QuantizedCheckpoint qc = QuantizedCheckpoint.open(quantizedDir)) {
            ModelConfig c = qc.config();
            ArchitectureSpec spec = ArchitectureSpec.forConfig(c);
            SafetensorsWriter w = new SafetensorsWriter(out.resolve("model.safetensors"));
            for (ArchitectureSpec.Expected t : spec.expectedTensors(c)) {
                Role role = t.spec().role();
                int layer = layerOf(t.name()), expert = expertOf(t.name());
                float[] values = switch (role) {
                    case ATTN_Q, ATTN_K, ATTN_V, ATTN_O -> Dequantizer.dequantize(qc.attention(layer, role));
                    case EXPERT_GATE -> Dequantizer.dequantize(qc.expertMatrix(layer, expert, ExpertMatrix.GATE));
                    case EXPERT_UP -> Dequantizer.dequantize(qc.expertMatrix(layer, expert, ExpertMatrix.UP));
                    case EXPERT_DOWN -> Dequantizer.dequantize(qc.expertMatrix(layer, expert, ExpertMatrix.DOWN));
                    default -> qc.dense(role, Math.max(layer, 0)).toFloatArray();
                };
                w.add(t.name(), dev.lookahead.model.DType.F32, t.shape(), SafetensorsWriter.TensorData.ofFloats(values));
            }
            w.write();
        }
        Files.copy(quantizedDir.resolve("config.json"), out.resolve("config.json"));
    }

    private static int layerOf(String name) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("layers\\.(\\d+)\\.").matcher(name);
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }

    private static int expertOf(String name) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("experts\\.(\\d+)\\.").matcher(name);
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }
}
