package dev.lookahead.cli;

import dev.lookahead.model.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoCommandTest {
    @TempDir
    Path tmp;

    @Test
    void theDemoBenchesEveryPolicyOnTheModelsHeldOutPromptsWhenItHasThem() throws Exception {
        Path model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(5).withLayers(2).withExperts(6, 2), model);
        CliRunner.withHome(tmp, () -> {
            CliRunner.Run plain = CliRunner.run("demo", "--model", model.toString(), "-n", "3", "--bench-tokens", "3",
                    "--backend", "cpu");
            assertEquals(0, plain.code(), plain.err());
            assertTrue(plain.out().contains("3 prompts x 3 tokens"), "without a prompts file: the demo's 3\n" + plain.out());

            Files.writeString(model.resolve(DemoCommand.BENCH_PROMPTS), "the river ran\n\nan old mill stood\n");
            CliRunner.Run r = CliRunner.run("demo", "--model", model.toString(), "-n", "3", "--bench-tokens", "3",
                    "--backend", "cpu");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("2 prompts x 3 tokens"), "the model's bench prompts\n" + r.out());
            for (String policy : new String[] {"all-resident", "mixtral-offloading", "next-layer", "lookahead", "lookahead-global"}) {
                assertTrue(r.out().lines().anyMatch(l -> l.startsWith(policy + " ") && l.trim().endsWith("yes")),
                        policy + " row with the all-resident tokens:\n" + r.out());
            }
            // the pool's self-check says how often it evicted per layer
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith("self-checks: ")
                    && l.matches(".* lookahead-global \\d+ / \\d+ / \\d+ / \\d+ %, \\d+ % \\(one pool: layer shares kept for \\d+ %\\)$")),
                    r.out());
        });
    }
}
