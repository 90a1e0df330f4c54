package dev.lookahead.engine;

import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.quant.CheckpointQuantizer;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.reference.ReferenceMixtral;
import dev.lookahead.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static dev.lookahead.engine.OffloadingTest.cpu;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Routing replayed from a trace ({@link LoadOptions#routingFrom()}): the decode passes compute what an independent
 * float64 reference computes with the same experts and weights, a recorded run replays to the same tokens and
 * routing, a synthetic trace routes exactly as written under every residency policy, and bad traces are refused
 * with messages that say what is wrong.
 */
class ForcedRoutingTest {
    @TempDir
    static Path tmp;
    static Path plain;     // F32, 3 layers, 8 experts, top-2
    static Path quantized; // the same, 4-bit (for the offloading policies)

    static final int LAYERS = 3, EXPERTS = 8;
    static final List<String> PROMPTS = List.of("the river ran past the old mill", "once upon a time", "a b c d e");

    @BeforeAll
    static void makeModels() throws Exception {
        plain = tmp.resolve("plain");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(29).withLayers(LAYERS).withExperts(EXPERTS, 2), plain);
        quantized = tmp.resolve("q4");
        CheckpointQuantizer.quantize(plain, quantized,
                new CheckpointQuantizer.Options(new QuantSpec(4, 32), new QuantSpec(4, 32), null), Progress.NONE);
    }

    /** One JSONL record in the shape of shared/traces. */
    static String line(String dataset, int problem, int token, int layer, int[] experts, double[] gates) {
        StringBuilder sb = new StringBuilder().append("{\"dataset\": \"").append(dataset).append("\", \"problem_id\": ")
                .append(problem).append(", \"layer\": ").append(layer).append(", \"experts\": ").append(Arrays.toString(experts));
        if (gates != null) {
            sb.append(", \"gating_probs\": [");
            for (int i = 0; i < gates.length; i++) sb.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%s", gates[i]));
            sb.append(']');
        }
        return sb.append(", \"token_idx\": ").append(token).append('}').toString();
    }

    /** Synthetic experts of token t, layer l: two distinct experts that move with t and l. */
    static int[] synthExperts(int problem, int t, int l) {
        int a = (3 * t + l + 5 * problem) % EXPERTS;
        return new int[] {a, (a + 1 + (t + problem) % (EXPERTS - 1)) % EXPERTS};
    }

    /** Unnormalised gates (the forcing must renormalise them): weights (1 + t) / (2 + t) and 1 / (2 + t). */
    static double[] synthGates(int t) {
        return new double[] {1 + t, 1};
    }

    /** A trace of problems of the given lengths (tokens), every layer of every token present. */
    static Path synthTrace(String name, int... lengths) throws Exception {
        List<String> lines = new ArrayList<>();
        for (int p = 0; p < lengths.length; p++) {
            for (int t = 0; t < lengths[p]; t++) {
                for (int l = 0; l < LAYERS; l++) lines.add(line("syn", p, t, l, synthExperts(p, t, l), synthGates(t)));
            }
        }
        Path file = tmp.resolve(name);
        Files.write(file, lines);
        return file;
    }



    @Test
    void forcedDecodeMatchesTheReferenceRunWithTheSameExpertsAndWeights() throws Exception {
        Path trace = synthTrace("one-problem.jsonl", 4);
        int[] prompt = {1, 40, 71, 100, 33};
        int[] fed = {260, 45, 300, 12, 99, 7}; // 6 decode passes over a problem of 4 tokens: it starts over
        ReferenceMixtral.Session ref = ReferenceMixtral.load(plain).session();
        ReferenceMixtral.Session refFree = ReferenceMixtral.load(plain).session(); // the router's routing
        for (int token : prompt) {
            ref.step(token);
            refFree.step(token);
        }
        try (MoeModel m = MoeModel.load(plain, cpu("all-resident").withRoutingFrom(trace))) {
            ForcedRouting f = m.forcedRouting();
            assertEquals(1, f.problems());
            assertEquals(4, f.tokens());
            ForwardPass fp = m.forwardPass();
            Map<Long, int[][]> seen = new HashMap<>();
            Map<Long, float[][]> seenWeights = new HashMap<>();
            fp.setRoutingListener((pos, layer, experts, weights) -> {
                seen.computeIfAbsent(pos, p -> new int[LAYERS][])[layer] = experts.clone();
                seenWeights.computeIfAbsent(pos, p -> new float[LAYERS][])[layer] = weights.clone();
            });
            fp.forwardLast(prompt, 0, prompt.length, 0);
            for (int i = 0; i < fed.length; i++) {
                int t = i % 4;
                ReferenceMixtral.Routing[] forced = new ReferenceMixtral.Routing[LAYERS];
                for (int l = 0; l < LAYERS; l++) {
                    double[] g = synthGates(t);
                    forced[l] = new ReferenceMixtral.Routing(synthExperts(0, t, l), new double[] {g[0] / (g[0] + g[1]), g[1] / (g[0] + g[1])});
                }
                double[] expected = ref.step(fed[i], forced).logits()[0];
                double[] free = refFree.step(fed[i]).logits()[0];
                fp.forceNextPass(f, f.token(0, i));
                double[] got = EngineParityTest.toDouble(fp.forwardLast(fed, i, 1, prompt.length + i));
                double e = EngineParityTest.nmse(got, expected);
                assertTrue(e < 1e-9, "decode " + i + ": NMSE " + e + " against the reference with the same routing");
                if (i == 0) {
                    // otherwise the check above could not tell forced from free routing
                    assertTrue(EngineParityTest.nmse(free, expected) > 1e-4, "the trace's routing changes the logits");
                }
                long pos = prompt.length + i;
                for (int l = 0; l < LAYERS; l++) {
                    assertArrayEquals(synthExperts(0, t, l), seen.get(pos)[l], "listener sees the forced experts");
                    assertEquals((1 + t) / (2.0 + t), seenWeights.get(pos)[l][0], 1e-6, "renormalised gate");
                }
            }
            // the prompt was routed by the router: the forced experts of token 0 are not what it chose everywhere
            boolean promptDiffers = false;
            for (long pos = 0; pos < prompt.length; pos++) {
                for (int l = 0; l < LAYERS; l++) promptDiffers |= !Arrays.equals(seen.get(pos)[l], synthExperts(0, 0, l));
            }
            assertTrue(promptDiffers, "prefill keeps the router's routing");

            fp.forceNextPass(f, 0);
            IllegalStateException many = assertThrows(IllegalStateException.class,
                    () -> fp.forwardLast(prompt, 0, 3, 0));
            assertTrue(many.getMessage().contains("one decoded token"), many.getMessage());
        }
    }

    @Test
    void replayingARecordedRunGivesItsTokensAndItsRouting() throws Exception {
        GenerationOptions opts = GenerationOptions.defaults().withMaxTokens(10);
        Path recorded = tmp.resolve("recorded.jsonl");
        List<List<Integer>> natural = new ArrayList<>();
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident"));
             RoutingTraceWriter w = new RoutingTraceWriter(recorded, "rec")) {
            m.forwardPass().setRoutingListener(w);
            for (int i = 0; i < 2; i++) {
                w.startProblem(i, m.encodePrompt(PROMPTS.get(i), false).length);
                natural.add(m.generate(PROMPTS.get(i), opts, t -> { }).tokenIds());
            }
        }
        Path replayed = tmp.resolve("replayed.jsonl");
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident").withRoutingFrom(recorded));
             RoutingTraceWriter w = new RoutingTraceWriter(replayed, "rec")) {
            assertEquals(2, m.forcedRouting().problems());
            m.forwardPass().setRoutingListener(w);
            for (int i = 0; i < 2; i++) {
                w.startProblem(i, m.encodePrompt(PROMPTS.get(i), false).length);
                assertEquals(natural.get(i), m.generate(PROMPTS.get(i), opts.withRoutingProblem(i), t -> { }).tokenIds(),
                        "prompt " + i + " replaying its own routing");
            }
        }
        assertEquals(Files.readAllLines(recorded), Files.readAllLines(replayed), "the routing recorded under forcing is the trace");

        // prompt 0 replaying the routing of prompt 1: its decode passes route exactly as problem 1 did
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident").withRoutingFrom(recorded))) {
            ForcedRouting f = m.forcedRouting();
            int promptLength = m.encodePrompt(PROMPTS.get(0), false).length;
            List<int[]> routed = new ArrayList<>();
            m.forwardPass().setRoutingListener((pos, layer, experts, weights) -> {
                if (pos >= promptLength) routed.add(experts.clone());
            });
            m.generate(PROMPTS.get(0), opts.withRoutingProblem(1), t -> { });
            boolean differsFromOwn = false;
            for (int i = 0; i < routed.size(); i++) {
                int t = i / LAYERS, l = i % LAYERS;
                assertArrayEquals(f.experts(f.token(1, t), l), routed.get(i), "decode " + t + " layer " + l);
                differsFromOwn |= !Arrays.equals(f.experts(f.token(0, t), l), routed.get(i));
            }
            assertTrue(routed.size() >= LAYERS, "some decode passes ran");
            assertTrue(differsFromOwn, "problem 1's routing is not prompt 0's own: the forcing is what made it so");
        }
    }

    @Test
    void aSyntheticTraceRoutesAsWrittenAndEveryPolicyKeepsTheForcedTokens() throws Exception {
        Path trace = synthTrace("two-problems.jsonl", 5, 3);
        GenerationOptions opts = GenerationOptions.defaults().withMaxTokens(12);
        List<List<Integer>> free = new ArrayList<>();
        List<List<Integer>> forced = new ArrayList<>();
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident"))) {
            for (String p : PROMPTS) free.add(m.generate(p, opts, t -> { }).tokenIds());
        }
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident").withRoutingFrom(trace))) {
            for (int i = 0; i < PROMPTS.size(); i++) {
                int promptLength = m.encodePrompt(PROMPTS.get(i), false).length;
                int problem = i % 2, length = problem == 0 ? 5 : 3;
                List<String> problems = new ArrayList<>();
                m.forwardPass().setRoutingListener((pos, layer, experts, weights) -> {
                    if (pos < promptLength) return;
                    int t = (int) (pos - promptLength) % length; // a problem shorter than the generation starts over
                    int[] want = synthExperts(problem, t, layer);
                    if (!Arrays.equals(want, experts) || Math.abs(weights[0] - (1 + t) / (2.0 + t)) > 1e-6) {
                        problems.add("pos " + pos + " layer " + layer + ": " + Arrays.toString(experts) + " "
                                + Arrays.toString(weights) + ", trace " + Arrays.toString(want));
                    }
                });
                List<Integer> tokens = m.generate(PROMPTS.get(i), opts.withRoutingProblem(i), t -> { }).tokenIds();
                assertTrue(problems.isEmpty(), "prompt " + i + " routes as the trace:\n" + String.join("\n", problems));
                assertEquals(12, tokens.size(), "the random model runs to max tokens (so the problem starts over)");
                forced.add(tokens);
            }
        }
        assertNotEquals(free, forced, "the trace's routing changes what the model generates");
        for (String policy : List.of("mixtral-offloading", "next-layer", "lru-global", "lookahead", "lookahead-global")) {
            try (MoeModel m = MoeModel.load(quantized, cpu(policy).withSlotsPerLayer(3).withRoutingFrom(trace))) {
                for (int i = 0; i < PROMPTS.size(); i++) {
                    assertEquals(forced.get(i), m.generate(PROMPTS.get(i), opts.withRoutingProblem(i), t -> { }).tokenIds(),
                            policy + ", prompt " + i + ": offloading changes speed only, also under forced routing");
                }
                assertTrue(((OffloadedExperts) m.experts()).stats().misses() > 0, policy + ": 3 of 8 slots miss");
            }
        }
    }

    static String loadError(Path trace) {
        return assertThrows(IllegalArgumentException.class,
                () -> MoeModel.load(quantized, cpu("all-resident").withRoutingFrom(trace))).getMessage();
    }

    static Path file(String name, List<String> lines) throws Exception {
        Path f = tmp.resolve(name);
        Files.write(f, lines);
        return f;
    }

    /** The token n generated tokens later, as the generation arms them (a problem shorter than it starts over). */
    @Test
    void aheadFollowsTheReplayOrderWithinAProblem() throws Exception {
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident").withRoutingFrom(synthTrace("ahead.jsonl", 5, 3)))) {
            ForcedRouting f = m.forcedRouting();
            for (int problem = 0; problem < 2; problem++) {
                for (int i = 0; i < 9; i++) {
                    for (int n = 0; n < 8; n++) {
                        assertEquals(f.token(problem, i + n), f.ahead(f.token(problem, i), n),
                                "problem " + problem + ", decode " + i + ", " + n + " ahead");
                    }
                }
            }
            assertThrows(IllegalArgumentException.class, () -> f.ahead(8, 1));
            assertThrows(IllegalArgumentException.class, () -> f.ahead(0, -1));
        }
    }

    /**
     * The oracle heads' distribution: top-k experts, each with the gate weight of the true one it stands for; every
     * true one kept at recall 1, none at recall 0, and about the recall's share in between (a property over many
     * draws); wrong ones are experts the layer does not choose, never twice.
     */
    @Test
    void oracleHeadsKeepEachTrueExpertWithTheirRecall() throws Exception {
        try (MoeModel m = MoeModel.load(quantized, cpu("all-resident").withRoutingFrom(synthTrace("oracle.jsonl", 5)))) {
            int[] truth = {2, 6};
            float[] gates = {0.75f, 0.25f};
            for (double recall : new double[] {1, 0, 0.7}) {
                HeadOracle oracle = new HeadOracle(m.forcedRouting(), EXPERTS, new HeadOracle.Recalls(recall, recall, recall), 7);
                int kept = 0, draws = 20_000;
                for (int d = 0; d < draws; d++) {
                    float[] p = oracle.predict(truth, gates, recall);
                    int nonzero = 0;
                    double sum = 0;
                    boolean strong = false, weak = false;
                    for (float x : p) {
                        if (x != 0) nonzero++;
                        strong |= x == 0.75f;
                        weak |= x == 0.25f;
                        sum += x;
                    }
                    assertEquals(2, nonzero, "top-k predicted experts");
                    assertTrue(strong && weak, "each with the weight of the true expert it stands for");
                    assertEquals(1.0, sum, 1e-6);
                    if (p[2] != 0) assertEquals(0.75f, p[2]);
                    if (p[6] != 0) assertEquals(0.25f, p[6]);
                    kept += (p[2] != 0 ? 1 : 0) + (p[6] != 0 ? 1 : 0);
                }
                double share = kept / (2.0 * draws);
                if (recall == 1 || recall == 0) assertEquals(recall, share, 0.0, "recall " + recall);
                else assertEquals(recall, share, 0.01, "recall " + recall);
            }
            assertThrows(IllegalArgumentException.class, () -> new HeadOracle.Recalls(0.5, 1.2, 0.5));
            assertEquals(new HeadOracle.Recalls(0.8, 0.6, 0.6), HeadOracle.Recalls.of(List.of(0.8, 0.6)));
            assertThrows(IllegalArgumentException.class,
                    () -> new HeadOracle(m.forcedRouting(), 3, new HeadOracle.Recalls(1, 1, 1), 1));
        }
    }

    @Test
    void badTracesAreRefusedWithClearMessages() throws Exception {
        double[] g = {0.6, 0.4};
        List<String> twoLayers = List.of(line("d", 0, 0, 0, new int[] {1, 2}, g), line("d", 0, 0, 1, new int[] {3, 4}, g));
        String shape = loadError(file("two-layers.jsonl", twoLayers));
        assertTrue(shape.contains("routes 2 layers, top-2") && shape.contains("the model has 3 layers, top-2 of 8 experts")
                && shape.contains("create-model"), shape);

        List<String> top1 = new ArrayList<>();
        for (int l = 0; l < LAYERS; l++) top1.add(line("d", 0, 0, l, new int[] {l}, new double[] {1}));
        String k = loadError(file("top1.jsonl", top1));
        assertTrue(k.contains("top-1") && k.contains("top-2"), k);

        List<String> outOfRange = new ArrayList<>();
        for (int l = 0; l < LAYERS; l++) outOfRange.add(line("d", 0, 0, l, new int[] {l, l == 1 ? 9 : 7}, g));
        String range = loadError(file("expert9.jsonl", outOfRange));
        assertTrue(range.contains("layer 1 chooses expert 9") && range.contains("experts 0..7"), range);

        List<String> noGates = new ArrayList<>();
        for (int l = 0; l < LAYERS; l++) noGates.add(line("d", 0, 0, l, new int[] {l, 7}, l == 2 ? null : g));
        String gates = loadError(file("no-gates.jsonl", noGates));
        assertTrue(gates.contains("gating_probs"), gates);

        String badGates = loadError(file("bad-gates.jsonl", List.of(line("d", 0, 0, 0, new int[] {1, 2}, new double[] {1}))));
        assertTrue(badGates.contains("bad-gates.jsonl:1") && badGates.contains("gating_probs"), badGates);

        // token 0 lacks layer 1, token 1 has layer 1 only: no token is complete
        List<String> incomplete = List.of(line("d", 0, 0, 0, new int[] {1, 2}, g), line("d", 0, 0, 2, new int[] {1, 2}, g),
                line("d", 0, 1, 1, new int[] {1, 2}, g));
        String none = loadError(file("incomplete.jsonl", incomplete));
        assertTrue(none.contains("no token has all 3 layers"), none);

        String empty = loadError(file("empty.jsonl", List.of()));
        assertTrue(empty.contains("empty.jsonl") && empty.contains("no routing records"), empty);

        String garbled = loadError(file("garbled.jsonl", List.of(line("d", 0, 0, 0, new int[] {1, 2}, g), "{\"layer\": 1, experts")));
        assertTrue(garbled.contains("garbled.jsonl:2") && garbled.contains("bad JSON"), garbled);

        String missing = loadError(tmp.resolve("nope.jsonl"));
        assertTrue(missing.contains("nope.jsonl") && missing.contains("no such routing trace file"), missing);
    }
}
