package dev.lookahead.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.gate.HeadId;
import dev.lookahead.gate.LookaheadHeads;
import dev.lookahead.gate.RoutingWeights;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.RandomCheckpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `lookahead align` end to end on a random-weight model (CPU backend). */
class AlignCommandTest {
    @TempDir
    static Path tmp;
    static Path model, text;

    @BeforeAll
    static void setUp() throws Exception {
        model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(4).withLayers(4).withExperts(6, 2), model);
        text = tmp.resolve("calib.txt");
        StringBuilder sb = new StringBuilder();
        String[] words = "the old house stood at the end of a long road and nobody lived there any more".split(" ");
        for (int i = 0; i < 900; i++) sb.append(words[(i * 7 + i / 5) % words.length]).append(i % 11 == 10 ? ".\n" : " ");
        Files.writeString(text, sb.toString());
    }

    static RoutingWeights routingOf(Path dir) {
        try (Checkpoint c = Checkpoint.open(dir)) {
            return RoutingWeights.read(c);
        }
    }

    @Test
    void alignWritesHeadsForTheModelAndAReport() throws Exception {
        Path heads = tmp.resolve("heads.safetensors");
        CliRunner.Run r = CliRunner.run("align", model.toString(), "--text", text.toString(), "--out", heads.toString(),
                "--epochs", "4", "--window", "64", "--distance", "2", "--long-range", "1", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("d=1") && r.out().contains("d=3") && r.out().contains("0->3*"), r.out());
        LookaheadHeads h = LookaheadHeads.load(heads, routingOf(model));
        // D = 2 over 4 layers: 0->1, 0->2, 1->2, 1->3, 2->3; F = 1 adds 0->3; the default next-token heads
        // (two tokens) add l -> layer l of the next token and of the one after, distances 4 and 8, for l = 0..3
        assertEquals(14, h.heads().size());
        assertTrue(h.heads().contains(new HeadId(0, 3)));
        for (int l = 0; l < 4; l++) {
            assertTrue(h.layout().isNextToken(new HeadId(l, 4)), "next-token head of layer " + l);
            assertTrue(h.layout().isNextToken(new HeadId(l, 8)), "two-token head of layer " + l);
        }
        assertTrue(r.out().contains("d=4'") && r.out().contains("3->3'") && r.out().contains("3->3''"), r.out());
        assertTrue(h.trainingSummary().contains("by_distance"), h.trainingSummary());

        JsonNode report = new JsonMapper().readTree(tmp.resolve("heads.json").toFile());
        assertEquals(14, report.get("heads").size());
        assertEquals("2", report.get("next_token").asText());
        assertEquals(2, report.get("top_k").asInt());
        int held = report.get("tokens").get("heldout").asInt();
        int all = report.get("calibration_tokens").asInt();
        assertEquals(Math.round(all * 0.1), held);
        for (JsonNode d : report.get("by_distance")) {
            double before = d.get("before").get("recall_k").asDouble(), after = d.get("after").get("recall_k").asDouble();
            assertTrue(before >= 0 && before <= 1 && after >= 0 && after <= 1, d.toString());
        }
    }

    @Test
    void nextTokenHeadsCanBeLeftOutOrExtendedToEveryLayer() throws Exception {
        Path none = tmp.resolve("none.safetensors"), all = tmp.resolve("all.safetensors");
        assertEquals(0, CliRunner.run("align", model.toString(), "--text", text.toString(), "--out", none.toString(),
                "--epochs", "1", "--window", "64", "--max-tokens", "300", "--threads", "1", "--distance", "2",
                "--long-range", "1", "--next-token", "none").code());
        assertEquals(6, LookaheadHeads.load(none, routingOf(model)).heads().size());
        assertEquals(0, CliRunner.run("align", model.toString(), "--text", text.toString(), "--out", all.toString(),
                "--epochs", "1", "--window", "64", "--max-tokens", "300", "--threads", "1", "--distance", "2",
                "--long-range", "1", "--next-token", "all-layers").code());
        assertEquals(6 + 16, LookaheadHeads.load(all, routingOf(model)).heads().size()); // 4 x 4 next-token heads
        CliRunner.Run bad = CliRunner.run("align", model.toString(), "--text", text.toString(), "--next-token", "sometimes");
        assertTrue(bad.code() != 0 && bad.err().contains("none, same-layer, all-layers or two-tokens"), bad.err());
    }

    @Test
    void headsOfAModelFitItsQuantizedCopy() throws Exception {
        Path heads = tmp.resolve("q-heads.safetensors");
        assertEquals(0, CliRunner.run("align", model.toString(), "--text", text.toString(), "--out", heads.toString(),
                "--epochs", "1", "--window", "64", "--max-tokens", "300", "--threads", "1").code());
        Path quantized = tmp.resolve("q");
        CliRunner.Run q = CliRunner.run("quantize", model.toString(), quantized.toString(), "--expert-bits", "4");
        assertEquals(0, q.code(), q.err());
        // fp16 routers and norms, same config: the heads' checks accept the quantized model
        assertEquals(14, LookaheadHeads.load(heads, routingOf(quantized)).heads().size());
    }

    @Test
    void offloadedExpertsGiveTheSameHeadsAsResidentOnes() throws Exception {
        Path quantized = tmp.resolve("q-offload");
        CliRunner.Run q = CliRunner.run("quantize", model.toString(), quantized.toString(), "--expert-bits", "4");
        assertEquals(0, q.code(), q.err());
        Path resident = tmp.resolve("resident.safetensors"), offloaded = tmp.resolve("offloaded.safetensors");
        String[] common = {"--text", text.toString(), "--epochs", "2", "--window", "64", "--max-tokens", "300", "--threads", "1"};
        CliRunner.Run r = CliRunner.run(concat(new String[] {"align", quantized.toString(), "--out", resident.toString()}, common));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("experts all resident"), r.out());
        // 2 of the 6 experts per layer on the device: every calibration window streams the rest through the cache
        CliRunner.Run o = CliRunner.run(concat(new String[] {"align", quantized.toString(), "--out", offloaded.toString(), "-k", "2"},
                common));
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().contains("experts mixtral-offloading, 2 slots/layer"), o.out());
        // residency changes where the experts are, not the hidden states: the same heads, byte for byte
        assertArrayEquals(Files.readAllBytes(resident), Files.readAllBytes(offloaded));
        JsonNode report = new JsonMapper().readTree(tmp.resolve("offloaded.json").toFile());
        assertEquals("mixtral-offloading, 2 slots/layer", report.get("expert_residency").asText());

        CliRunner.Run plain = CliRunner.run(concat(new String[] {"align", model.toString(), "--gpu-memory", "1GiB"}, common));
        assertEquals(1, plain.code());
        assertTrue(plain.err().contains("is not a quantized checkpoint"), plain.err());
        CliRunner.Run one = CliRunner.run(concat(new String[] {"align", quantized.toString(), "-k", "1"}, common));
        assertEquals(1, one.code());
        assertTrue(one.err().contains("--slots-per-layer 1 cannot hold the 2 experts") && !one.err().contains("policy"),
                one.err());
    }

    private static String[] concat(String[] a, String[] b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void aSeparateHeldOutTextIsMeasuredWhole() throws Exception {
        Path held = tmp.resolve("held.txt");
        Files.writeString(held, "nobody walked past the old house at the end of the road any more. ".repeat(8));
        Path heads = tmp.resolve("h2.safetensors");
        CliRunner.Run r = CliRunner.run("align", model.toString(), "--text", text.toString(), "--heldout-text", held.toString(),
                "--out", heads.toString(), "--epochs", "2", "--window", "64", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        JsonNode report = new JsonMapper().readTree(tmp.resolve("h2.json").toFile());
        int heldTokens = report.get("heldout_text_tokens").asInt();
        assertTrue(heldTokens > 50, report.toString());
        assertEquals(heldTokens, report.get("tokens").get("heldout").asInt());
        assertEquals(report.get("text_tokens").asInt(), report.get("tokens").get("fit").asInt()
                + report.get("tokens").get("validation").asInt());
        assertTrue(r.out().contains("(held out)"), r.out());
    }

    @Test
    void userErrorsAreOneClearLine() {
        CliRunner.Run r = CliRunner.run("align", model.toString(), "--text", tmp.resolve("missing.txt").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("calibration text not found"), r.err());
        r = CliRunner.run("align", model.toString(), "--text", text.toString(), "--out", model.resolve("model.safetensors").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("would overwrite the model's weights"), r.err());
        r = CliRunner.run("align", model.toString(), "--text", text.toString(), "--distance", "0");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("distance must be >= 1"), r.err());
    }
}
