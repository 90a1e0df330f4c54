package dev.lookahead.cli;

import dev.lookahead.api.BackendChoice;
import dev.lookahead.cli.BenchCommand.LinkSource;
import dev.lookahead.model.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchCommandTest {
    @TempDir
    Path tmp;

    @Test
    void benchComparesPoliciesOnAnEmulatedLinkWithIdenticalTokens() throws Exception {
        Path model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(9).withLayers(2).withExperts(6, 2), model);
        CliRunner.withHome(tmp, () -> { // the quantized copy goes under tmp/target
            Path prompts = tmp.resolve("prompts.txt");
            java.nio.file.Files.writeString(prompts, "the river ran\n\nan old mill stood\n");
            CliRunner.Run r = CliRunner.run("bench", model.toString(), "-n", "6", "-k", "3", "--expert-group", "32",
                    "--policies", "all-resident,mixtral-offloading,next-layer,lookahead", "--prompts", prompts.toString(),
                    "--min-probability", "0.2", "--warmup", "0");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("emulated link"), r.out());
            assertTrue(r.out().contains("2 prompts x 6 tokens, greedy, no warm-up"), r.out());
            assertTrue(!r.err().contains("warm-up"), r.err());
            assertTrue(r.out().contains("lookahead scheduler: 0 copies in flight, p >= 0.20"), r.out()); // staging prefetches
            assertTrue(r.out().contains(", routing recurrence 8 tokens; staging"), r.out());
            for (String policy : new String[] {"all-resident", "mixtral-offloading", "next-layer", "lookahead"}) {
                assertTrue(r.out().lines().anyMatch(l -> l.startsWith(policy) && l.trim().endsWith("yes")),
                        policy + " row with identical tokens:\n" + r.out());
            }
            // the hit-rate ceilings of the reference routing and the overlap bound follow the table
            assertTrue(r.out().contains("hit-rate ceilings of the same routing") && r.out().contains("decode time / overlap bound"),
                    r.out());
            // and the lookahead policy's self-checks: shares of lookups by what evicted them, and of windows, in percent
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith("self-checks: ")
                    && l.matches(".* lookahead \\d+ / \\d+ / \\d+ / \\d+ %, \\d+ %$")), r.out());
            // and the heads' live recall at the next layer and at the next token
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith("the heads' live recall@k")
                    && l.matches(".* lookahead [01]\\.\\d\\d / [01]\\.\\d\\d$")), r.out());

            Path empty = tmp.resolve("empty.txt");
            java.nio.file.Files.writeString(empty, "\n  \n");
            CliRunner.Run bad = CliRunner.run("bench", model.toString(), "--prompts", empty.toString());
            assertTrue(bad.code() != 0 && bad.err().contains("has no prompt"), bad.err());
        });
    }

    @Test
    void repeatRunsRotatedRoundsAndReportsMediansWithTheirRange() throws Exception {
        Path model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(9).withLayers(2).withExperts(6, 2), model);
        CliRunner.withHome(tmp, () -> {
            Path prompts = tmp.resolve("prompts.txt");
            java.nio.file.Files.writeString(prompts, "the river ran\n");
            String[] policies = {"all-resident", "mixtral-offloading", "lookahead"};
            Path report = tmp.resolve("bench.json");
            CliRunner.Run r = CliRunner.run("bench", model.toString(), "-n", "4", "-k", "3", "--expert-group", "32",
                    "--policies", String.join(",", policies), "--prompts", prompts.toString(), "--repeat", "2",
                    "--json", report.toString());
            assertEquals(0, r.code(), r.err());
            // the JSON report holds the table's rows, with each row's rounds
            var runs = new com.fasterxml.jackson.databind.ObjectMapper().readTree(report.toFile()).get("runs");
            assertEquals(1, runs.size());
            var jsonRows = runs.get(0).get("rows");
            assertEquals(policies.length, jsonRows.size());
            for (int i = 0; i < policies.length; i++) {
                var row = jsonRows.get(i);
                assertEquals(policies[i], row.get("policy").asText());
                assertTrue(row.get("same_tokens").asBoolean());
                assertEquals(2, row.get("per_round").size());
                assertTrue(row.get("decode_tokens_per_second").asDouble() > 0);
                assertEquals(policies[i].equals("lookahead"), row.has("self_checks"), row.toString());
            }
            assertEquals(1.0, jsonRows.get(1).get("speedup").get("min").asDouble(), 1e-12); // m-o against itself
            assertTrue(jsonRows.get(2).get("time_over_overlap_bound").asDouble() > 0, jsonRows.get(2).toString());
            assertTrue(runs.get(0).get("link_emulated").asBoolean());
            assertTrue(!java.nio.file.Files.exists(tmp.resolve("bench.json.partial")));
            assertTrue(r.out().contains("1 prompts x 4 tokens, greedy, median of 2 rounds, order rotated, 1 warm-up round"
                    + " first (not measured)"), r.out());
            assertEquals(1, runs.get(0).get("warmup_rounds").asInt());
            for (String policy : policies) { // every policy runs once unmeasured, before round 1
                int warm = r.err().indexOf("warm-up " + policy + ":");
                assertTrue(warm >= 0 && warm < r.err().indexOf("(round 1/2)"), r.err());
            }
            for (String policy : policies) {
                // a table row: the policy, then its decode t/s ("lookahead heads: ..." is not one)
                List<String> rows = r.out().lines().filter(l -> l.matches(java.util.regex.Pattern.quote(policy) + " +[0-9].*"))
                        .toList();
                assertEquals(1, rows.size(), policy + " once:\n" + r.out());
                assertTrue(rows.getFirst().trim().endsWith("yes"), r.out());
            }
            // m-o against itself, round by round: exactly 1 in every round
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith("mixtral-offloading ") && l.contains("1.00x (1.00-1.00)")),
                    r.out());
            assertTrue(r.err().contains("(round 2/2)"), r.err());

            for (String n : new String[] {"0", "-3"}) {
                CliRunner.Run bad = CliRunner.run("bench", model.toString(), "--repeat", n);
                assertTrue(bad.code() != 0 && bad.err().contains("--repeat must be at least 1 round, got " + n), bad.err());
            }
        });
    }

    /** A bad policy, width or budget anywhere in the lists fails at once: nothing is quantized or run first. */
    @Test
    void badArgumentsFailBeforeAnyWork() throws Exception {
        Path model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(9).withLayers(2).withExperts(6, 2), model);
        CliRunner.withHome(tmp, () -> {
            String[][] cases = {
                    {"--policies", "mixtral-offloading,nope", "unknown residency policy 'nope'"},
                    {"--expert-bits", "4,5", "bits must be 2, 3 or 4, got 5"},
                    {"--gpu-memory", "lots", "12GiB"},
                    {"-k", "1", "cannot hold the 2 experts"},
                    {"--warmup", "-1", "--warmup must be at least 0 rounds, got -1"},
                    {"--json", tmp.resolve("no/such/dir/b.json").toString(), "does not exist"}};
            for (String[] c : cases) {
                CliRunner.Run bad = CliRunner.run("bench", model.toString(), "-n", "2", "--expert-group", "32", c[0], c[1]);
                assertTrue(bad.code() != 0 && bad.err().contains(c[2]), c[0] + " " + c[1] + ": " + bad.err());
                assertTrue(!bad.err().contains("quantizing") && !bad.err().contains("bench mixtral-offloading"),
                        "work started before the bad argument was seen: " + bad.err());
                assertTrue(!java.nio.file.Files.exists(tmp.resolve("target/quantized")), "nothing quantized");
            }
        });
    }

    @Test
    void theThreadLineSaysWhatComputeLeavesToTheHost() {
        assertEquals("CPU backend: 2 compute threads on 2 cores; the host's planning and copies share them (on a GPU"
                + " machine it has cores of its own: --threads 1 leaves it one)", BenchCommand.computeThreads(0, 2));
        assertEquals("CPU backend: 1 compute thread on 2 cores", BenchCommand.computeThreads(1, 2));
        assertEquals("CPU backend: 1 compute thread on 1 core", BenchCommand.computeThreads(0, 1));
    }

    @Test
    void sizesParseWithBinaryUnits() {
        assertEquals(12L << 30, ByteSize.parse("12GiB"));
        assertEquals(512L << 20, ByteSize.parse("512MiB"));
        assertEquals((long) (1.5 * (1L << 30)), ByteSize.parse("1.5G"));
        assertEquals(4096, ByteSize.parse("4096"));
        assertEquals(800L << 20, ByteSize.parse("800M"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("lots"));
        assertTrue(e.getMessage().contains("12GiB"), e.getMessage());
    }

    /** The CPU backend always emulates the link; CUDA emulates it only when told to (a given bandwidth tells it too). */
    @Test
    void theLinkIsRealOnlyOnCudaUntoldToEmulate() {
        assertEquals(LinkSource.REAL, LinkSource.of(BackendChoice.CUDA, false, 0));
        assertEquals(LinkSource.CALIBRATED, LinkSource.of(BackendChoice.CUDA, true, 0));
        assertEquals(LinkSource.GIVEN, LinkSource.of(BackendChoice.CUDA, false, 2));
        assertEquals(LinkSource.GIVEN, LinkSource.of(BackendChoice.CUDA, true, 2));
        assertEquals(LinkSource.CALIBRATED, LinkSource.of(BackendChoice.CPU, false, 0));
        assertEquals(LinkSource.CALIBRATED, LinkSource.of(BackendChoice.CPU, true, 0));
        assertEquals(LinkSource.GIVEN, LinkSource.of(BackendChoice.CPU, false, 0.5));
    }
}
