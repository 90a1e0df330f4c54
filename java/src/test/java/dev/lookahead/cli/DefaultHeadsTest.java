package dev.lookahead.cli;

import dev.lookahead.gate.LookaheadHeads;
import dev.lookahead.model.RandomCheckpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A model directory's own trained heads: quantize carries them, and the lookahead policies take them unless told otherwise. */
class DefaultHeadsTest {
    @TempDir
    static Path tmp;
    static Path model, quantized, trained;

    @BeforeAll
    static void setUp() throws Exception {
        model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(4).withLayers(3).withExperts(4, 2), model);
        Path text = tmp.resolve("calib.txt");
        Files.writeString(text, "the old house stood at the end of a long road and nobody lived there any more. ".repeat(12));
        trained = model.resolve(LookaheadHeads.DEFAULT_FILE);
        CliRunner.Run a = CliRunner.run("align", model.toString(), "--text", text.toString(), "--out", trained.toString(),
                "--epochs", "1", "--window", "64", "--threads", "1");
        assertEquals(0, a.code(), a.err());
        quantized = tmp.resolve("q");
        CliRunner.Run q = CliRunner.run("quantize", model.toString(), quantized.toString(), "--expert-bits", "4");
        assertEquals(0, q.code(), q.err());
    }

    private static CliRunner.Run generate(String... extra) {
        String[] base = {"generate", quantized.toString(), "-p", "the old house", "-n", "3", "-k", "2", "--threads", "1"};
        String[] all = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        CliRunner.Run r = CliRunner.run(all);
        assertEquals(0, r.code(), r.err());
        return r;
    }

    @Test
    void quantizeCarriesTheHeads() throws Exception {
        assertArrayEquals(Files.readAllBytes(trained), Files.readAllBytes(quantized.resolve(LookaheadHeads.DEFAULT_FILE)));
    }

    @Test
    void lookaheadPoliciesTakeTheModelsHeadsAndSaySo() throws Exception {
        Path copied = quantized.resolve(LookaheadHeads.DEFAULT_FILE);
        String err = generate("--policy", "lookahead").err();
        assertTrue(err.contains("lookahead heads: " + copied), "the model's own heads");
        assertTrue(err.contains("lookahead heads, recall@2 by distance in layers (3: the same layer of the next token): 1: "),
                "the heads' live recall: " + err);
        assertTrue(err.matches("(?s).*token recurrence: predicted the next token's experts after \\d+ of \\d+ decode tokens; .*"),
                "the token recurrence's counts: " + err);
        assertFalse(generate("--policy", "lookahead", "--no-token-recurrence").err().contains("token recurrence"),
                "off: nothing to report");
        Path other = tmp.resolve("plug.safetensors");
        LookaheadHeads.plugAndPlay(AlignCommandTest.routingOf(quantized),
                LookaheadHeads.load(copied, AlignCommandTest.routingOf(quantized)).layout(), "test").save(other);
        assertTrue(generate("--policy", "lookahead-global", "--heads", other.toString()).err()
                .contains("lookahead heads: " + other), "--heads wins");
        String baseline = generate("--policy", "mixtral-offloading").err();
        assertFalse(baseline.contains("lookahead heads") || baseline.contains("token recurrence"), "the baseline has neither");
    }

    @Test
    void withoutHeadsTheyArePlugAndPlay() throws Exception {
        Path bare = tmp.resolve("bare");
        Files.createDirectories(bare);
        try (var files = Files.list(quantized)) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals(LookaheadHeads.DEFAULT_FILE)) Files.copy(f, bare.resolve(f.getFileName()));
            }
        }
        CliRunner.Run r = CliRunner.run("generate", bare.toString(), "-p", "the old house", "-n", "3", "-k", "2",
                "--threads", "1", "--policy", "lookahead");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("lookahead heads: plug-and-play"), r.err());
    }
}
