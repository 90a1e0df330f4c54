package dev.lookahead.gate;

import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DType;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Calibration through the real forward pass (CPU backend) of a random-weight model, and alignment on it. */
class CalibrationTest {
    @TempDir
    static Path tmp;
    static Path model;
    static RoutingWeights routing;

    static final int LAYERS = 4, EXPERTS = 8, TOP_K = 2;
    static final LoadOptions CPU = LoadOptions.defaults().withBackend(BackendChoice.CPU).withKvCacheType(DType.F32)
            .withContextLength(64).withPrefillChunk(24);

    @BeforeAll
    static void createModel() throws Exception {
        model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(31).withLayers(LAYERS).withExperts(EXPERTS, TOP_K), model);
        try (Checkpoint c = Checkpoint.open(model)) {
            routing = RoutingWeights.read(c);
        }
    }

    /** Seeded word salad: a random model's routing does not care about meaning. */
    static String text(int words, long seed) {
        String[] vocabulary = ("the market opens before sun is up farmers arrive with their carts and first customers are"
                + " people who want best bread freshest fish by eight o'clock square full there apples pears plums on one"
                + " side other cheeses eggs honey a woman sells flowers near fountain man plays violin for anyone").split(" ");
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < words; i++) {
            sb.append(vocabulary[r.nextInt(vocabulary.length)]).append(i % 13 == 12 ? ".\n" : " ");
        }
        return sb.toString();
    }

    @Test
    void theCollectedDistributionsAgreeWithTheEnginesRouting() {
        try (MoeModel m = MoeModel.load(model, CPU)) {
            int[] tokens = m.encodePrompt(text(200, 1), false);
            assertTrue(tokens.length > 200, "several windows of 64: " + tokens.length);
            int window = (int) m.contextLength();
            // The engine's choices, by stream index: a window restarts at position 0.
            Map<Long, int[]> chosen = new HashMap<>();
            Map<Long, float[]> weights = new HashMap<>();
            int[] windowIndex = {-1};
            m.forwardPass().setRoutingListener((position, layer, experts, w) -> {
                if (layer == 0 && position == 0) windowIndex[0]++;
                long token = (long) windowIndex[0] * window + position;
                chosen.put(token * LAYERS + layer, experts.clone());
                weights.put(token * LAYERS + layer, w.clone());
            });
            CalibrationData data = CalibrationCollector.collect(m.forwardPass(), routing, tokens, window, 10_000, Progress.NONE);
            m.forwardPass().setRoutingListener(null);
            assertEquals(tokens.length, data.tokens());

            int compared = 0, nearTies = 0;
            for (int t = 0; t < data.tokens(); t++) {
                for (int l = 1; l < LAYERS; l++) {
                    float[] p = data.targets(l);
                    int off = t * EXPERTS;
                    int[] top = GateMath.topK(p, off, EXPERTS, TOP_K + 1);
                    int[] engine = chosen.get((long) t * LAYERS + l);
                    double gap = p[off + top[TOP_K - 1]] - p[off + top[TOP_K]];
                    if (gap < 1e-4) {
                        nearTies++; // float vs double summation may order a near tie differently
                        continue;
                    }
                    compared++;
                    float[] w = weights.get((long) t * LAYERS + l);
                    double sum = 0;
                    for (int j = 0; j < TOP_K; j++) sum += p[off + top[j]];
                    for (int j = 0; j < TOP_K; j++) {
                        assertEquals(top[j], engine[j], "token " + t + " layer " + l);
                        assertEquals(p[off + top[j]] / sum, w[j], 1e-4, "token " + t + " layer " + l);
                    }
                }
            }
            assertTrue(compared > 0.97 * data.tokens() * (LAYERS - 1), compared + " compared, " + nearTies + " near ties");
        }
    }

    @Test
    void theTokenCapBoundsTheData() {
        try (MoeModel m = MoeModel.load(model, CPU)) {
            int[] tokens = m.encodePrompt(text(200, 2), false);
            CalibrationData data = CalibrationCollector.collect(m.forwardPass(), routing, tokens, 64, 100, Progress.NONE);
            assertEquals(100, data.tokens());
        }
    }

    @Test
    void alignmentOnARandomModelImprovesHeldOutRecallAndNeverMakesAHeadWorse() {
        CalibrationData data;
        try (MoeModel m = MoeModel.load(model, CPU)) {
            int[] tokens = m.encodePrompt(text(3000, 3), false);
            data = CalibrationCollector.collect(m.forwardPass(), routing, tokens, 64, 10_000, Progress.NONE);
        }
        LookaheadHeads init = LookaheadHeads.plugAndPlay(routing, new HeadLayout(LAYERS, 3, 2), "random");
        GateAlignment.Result r = GateAlignment.align(init, data, TOP_K, AlignOptions.defaults(), Progress.NONE);
        System.out.print(r.report().table());
        double before = 0, after = 0;
        for (AlignmentReport.HeadRow row : r.report().rows()) {
            before += row.before().recallK();
            after += row.after().recallK();
            assertTrue(row.after().recallK() >= row.before().recallK() - 0.03, row.toString());
            assertTrue(row.after().kl() <= row.before().kl() + 0.01, row.toString());
        }
        int n = r.report().rows().size();
        System.out.printf("mean recall@%d: plug-and-play %.3f, aligned %.3f%n", TOP_K, before / n, after / n);
        assertTrue(after / n > before / n + 0.03, "alignment should help: " + before / n + " -> " + after / n);
    }
}
