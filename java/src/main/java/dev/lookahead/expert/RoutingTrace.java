package dev.lookahead.expert;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A recorded sequence of routing decisions: for each decoded token, the experts each MoE layer chose.
 *
 * <p>File format (JSONL, as in {@code shared/traces/}): one object per (problem, token, layer), e.g.
 * {@code {"dataset": "gsm8k", "problem_id": 0, "layer": 0, "experts": [7, 0], "gating_probs": [0.8, 0.2],
 * "token_idx": 0}}. Lines may come in any order; they are grouped by (dataset, problem_id, token_idx) and ordered by
 * layer. Tokens are then ordered by dataset, problem and token index, as one decode run: problems follow each
 * other with no reset of the cache, as on a server. A token that lacks some layer (the last tokens of a problem may)
 * is skipped and reported in {@link #skippedTokens()}. The number of layers and experts is the largest index seen
 * plus one; every line must choose the same number of experts (top-k). {@code gating_probs} is optional: when
 * present it must hold one finite, non-negative weight per chosen expert; {@link Token#gates()} keeps them for
 * replaying the routing in the engine ({@code --routing-from}), the cache simulators ignore them.
 *
 * <p>Immutable.
 */
public final class RoutingTrace {
    /**
     * One decoded token with all its layers.
     *
     * @param experts [layers][topK]: the experts each layer chose, highest gate first
     * @param gates   [layers][topK]: their {@code gating_probs} as recorded, or null when some layer of the token
     *                was recorded without them (and for traces made in memory)
     */
    public record Token(String dataset, int problemId, int tokenIdx, int[][] experts, float[][] gates) {
    }

    /** A token left out because some of its layers are missing. */
    public record SkippedToken(String dataset, int problemId, int tokenIdx, int layersPresent) {
    }

    private final String source;
    private final int layers;
    private final int experts;
    private final int topK;
    private final List<Token> tokens;
    private final List<SkippedToken> skipped;

    private RoutingTrace(String source, int layers, int experts, int topK, List<Token> tokens,
                         List<SkippedToken> skipped) {
        this.source = source;
        this.layers = layers;
        this.experts = experts;
        this.topK = topK;
        this.tokens = List.copyOf(tokens);
        this.skipped = List.copyOf(skipped);
    }

    /**
     * A trace made in memory (tests, synthetic workloads).
     *
     * @param tokens each [layers][topK] expert indices in 0..experts-1
     */
    public static RoutingTrace of(String source, int layers, int experts, List<int[][]> tokens) {
        if (layers <= 0 || experts <= 0) {
            throw new IllegalArgumentException("trace needs layers > 0 and experts > 0, got " + layers + ", " + experts);
        }
        if (tokens.isEmpty()) throw new IllegalArgumentException("trace '" + source + "' has no tokens");
        List<Token> list = new ArrayList<>(tokens.size());
        int topK = -1;
        for (int t = 0; t < tokens.size(); t++) {
            int[][] e = tokens.get(t);
            if (e.length != layers) {
                throw new IllegalArgumentException("token " + t + " has " + e.length + " layers, expected " + layers);
            }
            int[][] copy = new int[layers][];
            for (int l = 0; l < layers; l++) {
                if (topK < 0) topK = e[l].length;
                String problem = validateExperts(e[l], topK, experts);
                if (problem != null) throw new IllegalArgumentException("token " + t + ", layer " + l + ": " + problem);
                copy[l] = e[l].clone();
            }
            list.add(new Token("", 0, t, copy, null));
        }
        return new RoutingTrace(source, layers, experts, topK, list, List.of());
    }

    /** Reads a JSONL trace file. */
    public static RoutingTrace read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new java.io.FileNotFoundException("routing trace not found: " + file);
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            return parse(file.toString(), in);
        }
    }

    /**
     * Parses JSONL text.
     *
     * @param source name used in error messages and reports
     * @throws TraceFormatException with the line number, for bad JSON, missing or invalid fields, duplicates
     */
    public static RoutingTrace parse(String source, BufferedReader in) throws IOException {
        JsonMapper json = JsonMapper.builder().build();
        // (dataset, problem, token) -> layer -> experts; sorted keys give the replay order.
        Map<TokenKey, TreeMap<Integer, int[]>> grouped = new TreeMap<>(TokenKey.ORDER);
        Map<LayerKey, float[]> gatesOf = new HashMap<>(); // gating_probs of the lines that have them
        Map<LayerKey, Integer> lineOf = new HashMap<>();
        int maxLayer = -1;
        int maxExpert = -1;
        int topK = -1;
        int lineNo = 0;
        for (String line; (line = in.readLine()) != null; ) {
            lineNo++;
            if (line.isBlank()) continue;
            String where = source + ":" + lineNo;
            JsonNode node;
            try {
                node = json.readTree(line);
            } catch (JsonProcessingException e) {
                throw new TraceFormatException(where + ": bad JSON: " + e.getOriginalMessage(), e);
            }
            if (node == null || !node.isObject()) throw new TraceFormatException(where + ": expected a JSON object");
            String dataset = node.path("dataset").isTextual() ? node.get("dataset").asText() : "";
            int problem = intField(node, "problem_id", where);
            int token = intField(node, "token_idx", where);
            int layer = intField(node, "layer", where);
            JsonNode ex = node.get("experts");
            if (ex == null || !ex.isArray() || ex.isEmpty()) {
                throw new TraceFormatException(where + ": \"experts\" must be a non-empty array of expert indices");
            }
            int[] chosen = new int[ex.size()];
            for (int i = 0; i < chosen.length; i++) {
                JsonNode v = ex.get(i);
                if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                    throw new TraceFormatException(where + ": \"experts\" holds a non-integer: " + v);
                }
                chosen[i] = v.intValue();
            }
            if (topK < 0) topK = chosen.length;
            String problemText = validateExperts(chosen, topK, Integer.MAX_VALUE);
            if (problemText != null) throw new TraceFormatException(where + ": " + problemText);
            LayerKey lk = new LayerKey(dataset, problem, token, layer);
            Integer earlier = lineOf.putIfAbsent(lk, lineNo);
            if (earlier != null) {
                throw new TraceFormatException(where + ": duplicate record of problem " + problem + ", token " + token
                        + ", layer " + layer + " (first at line " + earlier + ")");
            }
            float[] gates = gatingProbs(node, chosen.length, where);
            if (gates != null) gatesOf.put(lk, gates);
            grouped.computeIfAbsent(new TokenKey(dataset, problem, token), k -> new TreeMap<>()).put(layer, chosen);
            maxLayer = Math.max(maxLayer, layer);
            for (int e : chosen) maxExpert = Math.max(maxExpert, e);
        }
        if (grouped.isEmpty()) throw new TraceFormatException(source + ": no routing records");
        int layers = maxLayer + 1;
        List<Token> tokens = new ArrayList<>();
        List<SkippedToken> skipped = new ArrayList<>();
        for (var entry : grouped.entrySet()) {
            TokenKey k = entry.getKey();
            TreeMap<Integer, int[]> byLayer = entry.getValue();
            if (byLayer.size() != layers) {
                skipped.add(new SkippedToken(k.dataset(), k.problem(), k.token(), byLayer.size()));
                continue;
            }
            int[][] perLayer = new int[layers][];
            float[][] gates = new float[layers][];
            for (var le : byLayer.entrySet()) {
                perLayer[le.getKey()] = le.getValue();
                gates[le.getKey()] = gatesOf.get(new LayerKey(k.dataset(), k.problem(), k.token(), le.getKey()));
            }
            boolean allGates = Arrays.stream(gates).allMatch(g -> g != null);
            tokens.add(new Token(k.dataset(), k.problem(), k.token(), perLayer, allGates ? gates : null));
        }
        if (tokens.isEmpty()) {
            throw new TraceFormatException(source + ": no token has all " + layers + " layers");
        }
        return new RoutingTrace(source, layers, maxExpert + 1, topK, tokens, skipped);
    }

    /** Null when valid, else what is wrong. */
    private static String validateExperts(int[] chosen, int topK, int experts) {
        if (chosen.length != topK) {
            return "chooses " + chosen.length + " experts where earlier records choose " + topK;
        }
        for (int i = 0; i < chosen.length; i++) {
            if (chosen[i] < 0 || chosen[i] >= experts) {
                return "expert index " + chosen[i] + " out of range" + (experts == Integer.MAX_VALUE ? "" : " 0.." + (experts - 1));
            }
            for (int j = 0; j < i; j++) {
                if (chosen[j] == chosen[i]) return "expert " + chosen[i] + " chosen twice: " + Arrays.toString(chosen);
            }
        }
        return null;
    }

    /** The line's gating_probs (one per chosen expert), or null when the line has none. */
    private static float[] gatingProbs(JsonNode node, int topK, String where) throws TraceFormatException {
        JsonNode g = node.get("gating_probs");
        if (g == null || g.isNull()) return null;
        if (!g.isArray() || g.size() != topK) {
            throw new TraceFormatException(where + ": \"gating_probs\" must be an array of " + topK
                    + " numbers (one per chosen expert), got " + g);
        }
        float[] gates = new float[topK];
        for (int i = 0; i < topK; i++) {
            JsonNode v = g.get(i);
            if (!v.isNumber() || !Double.isFinite(v.doubleValue()) || v.doubleValue() < 0) {
                throw new TraceFormatException(where + ": \"gating_probs\" holds " + v + ", not a finite number >= 0");
            }
            gates[i] = (float) v.doubleValue();
        }
        return gates;
    }

    private static int intField(JsonNode node, String field, String where) throws TraceFormatException {
        JsonNode v = node.get(field);
        if (v == null) throw new TraceFormatException(where + ": missing \"" + field + "\"");
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 0) {
            throw new TraceFormatException(where + ": \"" + field + "\" must be a non-negative integer, got " + v);
        }
        return v.intValue();
    }

    private record TokenKey(String dataset, int problem, int token) {
        static final Comparator<TokenKey> ORDER = Comparator.comparing(TokenKey::dataset)
                .thenComparingInt(TokenKey::problem).thenComparingInt(TokenKey::token);
    }

    private record LayerKey(String dataset, int problem, int token, int layer) {
    }

    /** File name or label given when read. */
    public String source() {
        return source;
    }

    public int layers() {
        return layers;
    }

    /** Experts per layer (largest index seen + 1 for a file). */
    public int experts() {
        return experts;
    }

    /** Experts chosen per token and layer. */
    public int topK() {
        return topK;
    }

    /** Complete tokens, in replay order. */
    public List<Token> tokens() {
        return tokens;
    }

    public int tokenCount() {
        return tokens.size();
    }

    /** Tokens left out for missing layers. */
    public List<SkippedToken> skippedTokens() {
        return skipped;
    }

    /** Number of distinct (dataset, problem) sequences among the complete tokens. */
    public long problems() {
        return tokens.stream().map(t -> t.dataset() + "\u0000" + t.problemId()).distinct().count();
    }

    /** The experts layer {@code layer} of the {@code token}-th complete token chose (do not modify). */
    public int[] experts(int token, int layer) {
        return tokens.get(token).experts()[layer];
    }
}
