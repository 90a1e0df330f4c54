package dev.lookahead.expert;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RoutingTraceTest {
    private static String line(int problem, int token, int layer, int a, int b) {
        return "{\"dataset\": \"d\", \"problem_id\": " + problem + ", \"layer\": " + layer + ", \"experts\": [" + a + ", " + b
                + "], \"gating_probs\": [0.6, 0.4], \"token_idx\": " + token + "}";
    }

    private static RoutingTrace parse(List<String> lines) throws IOException {
        return RoutingTrace.parse("t.jsonl", new BufferedReader(new StringReader(String.join("\n", lines) + "\n")));
    }

    /** Problems 0 (3 tokens) and 1 (2 tokens), 3 layers; expert choice derived from the indices. */
    private static List<String> sortedLines() {
        List<String> lines = new ArrayList<>();
        int[] tokens = {3, 2};
        for (int p = 0; p < 2; p++) {
            for (int t = 0; t < tokens[p]; t++) {
                for (int l = 0; l < 3; l++) lines.add(line(p, t, l, (p + t + l) % 8, (p + 2 * t + l + 1) % 8));
            }
        }
        return lines;
    }

    @Test
    void groupsUnsortedLinesByTokenAndOrdersLayers() throws IOException {
        RoutingTrace sorted = parse(sortedLines());
        List<String> shuffled = new ArrayList<>(sortedLines());
        Collections.shuffle(shuffled, new Random(3));
        RoutingTrace trace = parse(shuffled);
        assertEquals(3, trace.layers());
        assertEquals(2, trace.topK());
        assertEquals(5, trace.tokenCount());
        assertEquals(2, trace.problems());
        assertEquals(0, trace.skippedTokens().size());
        for (int t = 0; t < 5; t++) {
            for (int l = 0; l < 3; l++) assertArrayEquals(sorted.experts(t, l), trace.experts(t, l));
        }
        // Token 3 is problem 1's token 0: layer 2 chose [(1+0+2)%8, (1+0+2+1)%8] = [3, 4].
        assertEquals(1, trace.tokens().get(3).problemId());
        assertEquals(0, trace.tokens().get(3).tokenIdx());
        assertArrayEquals(new int[] {3, 4}, trace.experts(3, 2));
    }

    @Test
    void tokensMissingLayersAreSkippedAndCounted() throws IOException {
        List<String> lines = new ArrayList<>(sortedLines());
        lines.add(line(0, 3, 0, 1, 2));          // problem 0, token 3: layer 0 only
        lines.add(line(0, 3, 1, 1, 2));          // ... and layer 1
        lines.add(line(1, 2, 2, 5, 6));          // problem 1, token 2: layer 2 only
        RoutingTrace trace = parse(lines);
        assertEquals(5, trace.tokenCount());
        assertEquals(2, trace.skippedTokens().size());
        assertEquals(new RoutingTrace.SkippedToken("d", 0, 3, 2), trace.skippedTokens().get(0));
        assertEquals(new RoutingTrace.SkippedToken("d", 1, 2, 1), trace.skippedTokens().get(1));
    }

    @Test
    void badJsonNamesTheLine() {
        List<String> lines = new ArrayList<>(sortedLines());
        lines.set(2, "{\"problem_id\": 0, \"layer\": 2, \"experts\": [1, 2");
        TraceFormatException e = assertThrows(TraceFormatException.class, () -> parse(lines));
        assertTrue(e.getMessage().startsWith("t.jsonl:3: bad JSON"), e.getMessage());
    }

    @Test
    void invalidRecordsNameTheLineAndTheProblem() {
        assertError("{\"problem_id\": 0, \"layer\": 0, \"experts\": [1, 2]}", "t.jsonl:1: missing \"token_idx\"");
        assertError("{\"problem_id\": 0, \"token_idx\": 0, \"layer\": -1, \"experts\": [1, 2]}",
                "t.jsonl:1: \"layer\" must be a non-negative integer");
        assertError("{\"problem_id\": 0, \"token_idx\": 0, \"layer\": 0, \"experts\": []}", "non-empty array");
        assertError("{\"problem_id\": 0, \"token_idx\": 0, \"layer\": 0, \"experts\": [1, 1]}", "chosen twice");
        assertError("{\"problem_id\": 0, \"token_idx\": 0, \"layer\": 0, \"experts\": [1, \"x\"]}", "non-integer");
        assertError("[1, 2]", "expected a JSON object");
        TraceFormatException e = assertThrows(TraceFormatException.class,
                () -> parse(List.of(line(0, 0, 0, 1, 2), "", line(0, 0, 0, 3, 4))));
        assertTrue(e.getMessage().contains("t.jsonl:3: duplicate") && e.getMessage().contains("first at line 1"),
                e.getMessage());
        e = assertThrows(TraceFormatException.class, () -> parse(List.of(line(0, 0, 0, 1, 2),
                "{\"problem_id\": 0, \"token_idx\": 0, \"layer\": 1, \"experts\": [1, 2, 3]}")));
        assertTrue(e.getMessage().startsWith("t.jsonl:2: chooses 3 experts where earlier records choose 2"),
                e.getMessage());
        e = assertThrows(TraceFormatException.class, () -> parse(List.of("", " ")));
        assertTrue(e.getMessage().contains("no routing records"), e.getMessage());
    }

    private static void assertError(String line, String expected) {
        TraceFormatException e = assertThrows(TraceFormatException.class, () -> parse(List.of(line)));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void inMemoryTracesAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> RoutingTrace.of("x", 2, 8, List.<int[][]>of(new int[][] {{1, 2}})));
        assertThrows(IllegalArgumentException.class, () -> RoutingTrace.of("x", 1, 8, List.<int[][]>of(new int[][] {{1, 9}})));
        assertThrows(IllegalArgumentException.class, () -> RoutingTrace.of("x", 1, 8, List.of()));
    }
}
