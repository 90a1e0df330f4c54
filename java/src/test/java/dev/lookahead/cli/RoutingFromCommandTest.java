package dev.lookahead.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.model.RandomCheckpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --routing-from TRACE} on `generate` and `bench`. */
class RoutingFromCommandTest {
    @TempDir
    static Path tmp;
    static Path model; // 2 layers, 6 experts, top-2
    static Path trace; // 2 problems of 4 and 3 tokens

    static int[] experts(int problem, int token, int layer) {
        int a = (token + 2 * layer + problem) % 6;
        return new int[] {a, (a + 3) % 6};
    }

    @BeforeAll
    static void setUp() throws Exception {
        model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(9).withLayers(2).withExperts(6, 2), model);
        List<String> lines = new ArrayList<>();
        int[] lengths = {4, 3};
        for (int p = 0; p < 2; p++) {
            for (int t = 0; t < lengths[p]; t++) {
                for (int l = 0; l < 2; l++) {
                    int[] e = experts(p, t, l);
                    lines.add("{\"dataset\": \"syn\", \"problem_id\": " + p + ", \"layer\": " + l + ", \"experts\": [" + e[0]
                            + ", " + e[1] + "], \"gating_probs\": [0.7, 0.3], \"token_idx\": " + t + "}");
                }
            }
        }
        trace = tmp.resolve("syn.jsonl");
        Files.write(trace, lines);
    }

    @Test
    void generateReplaysTheChosenProblemAndRecordsIt() throws Exception {
        Path recorded = tmp.resolve("recorded.jsonl");
        CliRunner.Run r = CliRunner.run("generate", model.toString(), "-p", "abc", "-n", "9", "--backend", "cpu",
                "--routing-from", trace.toString(), "--routing-problem", "3", "--trace-routing", recorded.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("routing replayed from syn.jsonl: 2 problems, 7 tokens; this generation replays"
                + " syn problem 1 (3 tokens)"), r.err());
        List<String> lines = Files.readAllLines(recorded);
        assertEquals(8 * 2, lines.size(), "8 decode passes x 2 layers");
        JsonMapper json = new JsonMapper();
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            int t = n.get("token_idx").asInt(), l = n.get("layer").asInt();
            int[] want = experts(1, t % 3, l); // problem 3 mod 2 = 1, 3 tokens long: it starts over
            assertEquals(want[0], n.get("experts").get(0).asInt(), line);
            assertEquals(want[1], n.get("experts").get(1).asInt(), line);
            assertEquals(0.7, n.get("gating_probs").get(0).asDouble(), 1e-6, line);
        }
    }

    @Test
    void benchSaysTheRoutingIsReplayedAndEveryPolicyKeepsTheTokens() throws Exception {
        CliRunner.withHome(tmp, () -> { // the quantized copy goes under tmp/target
            CliRunner.Run r = CliRunner.run("bench", model.toString(), "-n", "6", "-k", "3", "--expert-group", "32",
                    "--link-gbps", "1", "--policies", "all-resident,mixtral-offloading,lookahead",
                    "--routing-from", trace.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("routing replayed from syn.jsonl: 2 problems, 7 tokens; prompt i replays problem"
                    + " i mod 2"), r.out());
            // the built-in prompts outnumber the trace's 2 problems: the bench says what that does to a comparison
            assertTrue(r.out().contains("prompts replay 2 problems, so later prompts repeat earlier routing exactly"), r.out());
            for (String policy : new String[] {"all-resident", "mixtral-offloading", "lookahead"}) {
                assertTrue(r.out().lines().anyMatch(l -> l.startsWith(policy) && l.trim().endsWith("yes")),
                        policy + " row with the all-resident (forced) tokens:\n" + r.out());
            }

            Path wrongShape = tmp.resolve("mixtral-shape.jsonl");
            Files.writeString(wrongShape, "{\"problem_id\": 0, \"layer\": 31, \"experts\": [7, 0], \"gating_probs\": [0.8, 0.2],"
                    + " \"token_idx\": 0}\n");
            CliRunner.Run bad = CliRunner.run("bench", model.toString(), "--routing-from", wrongShape.toString());
            assertEquals(1, bad.code());
            assertTrue(bad.err().contains("no token has all 32 layers"), bad.err());
        });
    }

    /**
     * WHAT-IF heads: an oracle of recall 1 is right about every layer it predicts, one of recall 0 about none, and the
     * heads' live recall (scored against the routing as it comes) says so; the tokens stay the all-resident ones. The
     * next-token figure is not exact: a generation's last next-token prediction is scored against the next prompt's
     * first token, another problem's.
     */
    @Test
    void oracleHeadsOfRecallOneAndZeroAreMeasuredSoByTheLiveRecall() throws Exception {
        CliRunner.withHome(tmp, () -> {
            for (String recall : new String[] {"1", "0"}) {
                boolean right = recall.equals("1");
                String expected = right ? "1.00" : "0.00";
                CliRunner.Run r = CliRunner.run("bench", model.toString(), "-n", "6", "-k", "3", "--expert-group", "32",
                        "--link-gbps", "1", "--policies", "all-resident,lookahead,lookahead-global",
                        "--routing-from", trace.toString(), "--oracle-heads", recall);
                assertEquals(0, r.code(), r.err());
                assertTrue(r.out().contains("WHAT-IF: the lookahead heads are an oracle of the replayed routing, recall "
                        + expected + " (same token) / " + expected + " (next token)"), r.out());
                String line = r.out().lines().filter(l -> l.startsWith("the heads' live recall@k")).findFirst().orElseThrow();
                for (String policy : new String[] {"lookahead", "lookahead-global"}) {
                    var m = java.util.regex.Pattern.compile(" " + policy + " ([01]\\.\\d\\d) / ([01]\\.\\d\\d)").matcher(line);
                    assertTrue(m.find(), line);
                    assertEquals(expected, m.group(1), "next layer, exact: " + line);
                    double nextToken = Double.parseDouble(m.group(2));
                    assertTrue(right ? nextToken >= 0.8 : nextToken <= 0.2, "next token: " + line);
                }
                for (String policy : new String[] {"lookahead ", "lookahead-global "}) {
                    assertTrue(r.out().lines().anyMatch(l -> l.startsWith(policy) && l.trim().endsWith("yes")), r.out());
                }
            }
            CliRunner.Run range = CliRunner.run("bench", model.toString(), "--routing-from", trace.toString(),
                    "--oracle-heads", "0.8,1.5");
            assertTrue(range.code() != 0 && range.err().contains("oracle recall must be in [0, 1], got 1.5"), range.err());
        });
    }

    /**
     * Without a trace, the what-if replays the model's own greedy routing of the prompts, recorded first: the policies
     * keep the tokens, and a perfect oracle of it is right about every next layer.
     */
    @Test
    void oracleHeadsWithoutATraceReplayTheModelsOwnRouting() throws Exception {
        CliRunner.withHome(tmp, () -> {
            Path report = tmp.resolve("own.json");
            CliRunner.Run r = CliRunner.run("bench", model.toString(), "-n", "6", "-k", "3", "--expert-group", "32",
                    "--link-gbps", "1", "--policies", "all-resident,mixtral-offloading,lookahead", "--oracle-heads", "1",
                    "--json", report.toString());
            assertEquals(0, r.code(), r.err());
            int prompts = DemoCommand.PROMPTS.size();
            assertTrue(r.out().contains("routing replayed: this model's own greedy routing of the " + prompts
                    + " prompts (" + prompts * 5 + " decoded tokens, recorded first with every expert resident)"), r.out());
            assertTrue(r.out().contains("WHAT-IF: the lookahead heads are an oracle of the replayed routing"), r.out());
            String line = r.out().lines().filter(l -> l.startsWith("the heads' live recall@k")).findFirst().orElseThrow();
            assertTrue(line.contains(" lookahead 1.00 / "), line);
            for (String policy : new String[] {"all-resident", "mixtral-offloading", "lookahead"}) {
                assertTrue(r.out().lines().anyMatch(l -> l.startsWith(policy + " ") && l.trim().endsWith("yes")), r.out());
            }
            JsonNode run = new JsonMapper().readTree(report.toFile()).get("runs").get(0);
            assertEquals("the model's own greedy routing of the prompts", run.get("routing_from").asText());
            assertEquals(1.0, run.get("oracle_heads_recall").get("next_token").asDouble());

            CliRunner.Run none = CliRunner.run("bench", model.toString(), "-n", "1", "-k", "3", "--expert-group", "32",
                    "--link-gbps", "1", "--policies", "mixtral-offloading,lookahead", "--oracle-heads", "1");
            assertEquals(1, none.code());
            assertTrue(none.err().contains("--oracle-heads replays the decoded tokens' routing, and -n 1 decodes none:"
                    + " give -n 2 or more"), none.err());
        });
    }

    @Test
    void aTraceOfAnotherShapeIsRefusedNamingBoth() throws Exception {
        List<String> lines = new ArrayList<>();
        for (int l = 0; l < 32; l++) {
            lines.add("{\"dataset\": \"gsm8k\", \"problem_id\": 0, \"layer\": " + l + ", \"experts\": [7, 0],"
                    + " \"gating_probs\": [0.8, 0.2], \"token_idx\": 0}");
        }
        Path mixtral = tmp.resolve("mixtral-like.jsonl");
        Files.write(mixtral, lines);
        CliRunner.Run r = CliRunner.run("generate", model.toString(), "-p", "abc", "--backend", "cpu", "--routing-from",
                mixtral.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("routes 32 layers, top-2 of experts 0..7; the model has 2 layers, top-2 of 6 experts"),
                r.err());
        assertTrue(r.err().contains("create-model DIR --layers 32 --experts 8 --top-k 2"), r.err());
    }
}
