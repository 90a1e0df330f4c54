package dev.lookahead.engine;

import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.model.ModelConfig;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Routing replayed from a recorded trace instead of the router's choice ({@code --routing-from TRACE}), so that
 * expert residency policies meet real routing while the model computes everything else.
 *
 * <p>Replay order: the trace's complete tokens grouped into problems (one (dataset, problem_id) each, in the
 * trace's order, see {@link RoutingTrace}). A generation replays one problem from its token 0: the decode pass
 * that feeds generated token {@code t} routes layer {@code l} as token {@code t mod length} of the problem, layer
 * {@code l} (the same index {@link RoutingTraceWriter} records it under). The prompt is routed by the model's own
 * router: traces hold generated tokens only, so a prompt position has nothing to replay.
 *
 * <p>Each layer takes the trace's experts and its {@code gating_probs} renormalised over the chosen experts
 * (Mixtral's softmax over the top-k logits; the shared traces are already renormalised).
 *
 * <p>Immutable; {@link #write} allocates nothing, so it can run on the decode path.
 */
public final class ForcedRouting {
    private final String source;
    private final int layers;
    private final int topK;
    private final int[] experts;      // [tokens, layers, topK] in replay order
    private final float[] weights;    // [tokens, layers, topK]: renormalised gate weights
    private final int[] problemStart; // [problems + 1]: first token of each problem, then the token count
    private final List<String> problemNames;
    private final int skippedTokens;

    private ForcedRouting(String source, int layers, int topK, int[] experts, float[] weights, int[] problemStart,
                          List<String> problemNames, int skippedTokens) {
        this.source = source;
        this.layers = layers;
        this.topK = topK;
        this.experts = experts;
        this.weights = weights;
        this.problemStart = problemStart;
        this.problemNames = List.copyOf(problemNames);
        this.skippedTokens = skippedTokens;
    }

    /**
     * Reads a JSONL trace and checks it against the model; touches no device.
     *
     * @throws NoSuchFileException     the file does not exist
     * @throws dev.lookahead.expert.TraceFormatException the file is not a routing trace (names file and line)
     * @throws IllegalArgumentException the trace does not fit the model (names both shapes)
     */
    public static ForcedRouting read(Path file, ModelConfig config) throws IOException {
        if (!Files.isRegularFile(file)) throw new NoSuchFileException(file.toString(), null, "no such routing trace file");
        return of(RoutingTrace.read(file), config);
    }

    /**
     * Checks a parsed trace against the model: the same number of layers and top-k, expert ids the model has,
     * and gate weights for every token.
     */
    public static ForcedRouting of(RoutingTrace trace, ModelConfig config) {
        int modelLayers = config.numHiddenLayers(), modelExperts = config.numLocalExperts(), modelTopK = config.numExpertsPerTok();
        String shapes = String.format(Locale.ROOT, "the trace %s routes %d layers, top-%d of experts 0..%d; the model has"
                        + " %d layers, top-%d of %d experts", trace.source(), trace.layers(), trace.topK(), trace.experts() - 1,
                modelLayers, modelTopK, modelExperts);
        if (trace.layers() != modelLayers || trace.topK() != modelTopK) {
            throw new IllegalArgumentException("routing trace does not fit the model: " + shapes + ". Replaying routing"
                    + " needs a model of the trace's layers and top-k (`lookahead create-model DIR --layers "
                    + trace.layers() + " --experts " + Math.max(trace.experts(), modelExperts) + " --top-k " + trace.topK()
                    + "` writes a random-weight one)");
        }
        List<RoutingTrace.Token> tokens = trace.tokens();
        int n = tokens.size();
        int[] experts = new int[n * modelLayers * modelTopK];
        float[] weights = new float[experts.length];
        List<Integer> starts = new ArrayList<>();
        List<String> names = new ArrayList<>();
        RoutingTrace.Token previous = null;
        for (int t = 0; t < n; t++) {
            RoutingTrace.Token token = tokens.get(t);
            String where = trace.source() + ": " + describe(token);
            if (previous == null || !previous.dataset().equals(token.dataset()) || previous.problemId() != token.problemId()) {
                starts.add(t);
                names.add(token.dataset().isEmpty() ? "problem " + token.problemId()
                        : token.dataset() + " problem " + token.problemId());
            }
            previous = token;
            if (token.gates() == null) {
                throw new IllegalArgumentException(where + " has no \"gating_probs\" at some layer: forcing the routing"
                        + " needs the gate weight of every chosen expert");
            }
            for (int l = 0; l < modelLayers; l++) {
                int[] chosen = token.experts()[l];
                float[] gates = token.gates()[l];
                double sum = 0;
                for (int j = 0; j < modelTopK; j++) {
                    if (chosen[j] >= modelExperts) {
                        throw new IllegalArgumentException(where + ", layer " + l + " chooses expert " + chosen[j]
                                + ", which the model does not have (experts 0.." + (modelExperts - 1) + "): " + shapes);
                    }
                    sum += gates[j];
                }
                if (!(sum > 0)) {
                    throw new IllegalArgumentException(where + ", layer " + l + ": the gating_probs sum to 0, nothing to"
                            + " renormalise");
                }
                // Already renormalised (the shared traces, RoutingTraceWriter's): keep the recorded floats, which a
                // division by a sum that is 1 up to rounding would only move by an ulp; a recorded run then replays
                // to the bit.
                boolean normalised = Math.abs(sum - 1) <= 1e-6;
                int o = (t * modelLayers + l) * modelTopK;
                for (int j = 0; j < modelTopK; j++) {
                    experts[o + j] = chosen[j];
                    weights[o + j] = normalised ? gates[j] : (float) (gates[j] / sum);
                }
            }
        }
        int[] problemStart = new int[starts.size() + 1];
        for (int p = 0; p < starts.size(); p++) problemStart[p] = starts.get(p);
        problemStart[starts.size()] = n;
        return new ForcedRouting(trace.source(), modelLayers, modelTopK, experts, weights, problemStart, names,
                trace.skippedTokens().size());
    }

    private static String describe(RoutingTrace.Token token) {
        return (token.dataset().isEmpty() ? "" : token.dataset() + " ") + "problem " + token.problemId()
                + ", token " + token.tokenIdx();
    }

    /**
     * The trace token (index in replay order) that routes generated token {@code decodeIndex} of a generation
     * replaying {@code problem} (taken modulo the number of problems); a problem shorter than the generation
     * starts over from its token 0.
     */
    public int token(int problem, int decodeIndex) {
        if (problem < 0 || decodeIndex < 0) {
            throw new IllegalArgumentException("problem and decode index must be >= 0, got " + problem + ", " + decodeIndex);
        }
        int p = problem % problems();
        int start = problemStart[p], length = problemStart[p + 1] - start;
        return start + decodeIndex % length;
    }

    /**
     * The trace token {@code ahead} generated tokens after trace token {@code token}: the same problem's, starting
     * over from its token 0 where the problem ends, as {@link #token} arms them.
     */
    public int ahead(int token, int ahead) {
        if (token < 0 || token >= tokens() || ahead < 0) {
            throw new IllegalArgumentException("token " + token + " (of " + tokens() + ") or tokens ahead " + ahead + " out of range");
        }
        int p = java.util.Arrays.binarySearch(problemStart, token);
        if (p < 0) p = -p - 2; // the problem whose first token precedes it (problems have at least one token)
        int start = problemStart[p], length = problemStart[p + 1] - start;
        return start + (token - start + ahead) % length;
    }

    /**
     * Writes layer {@code layer} of trace token {@code token} as one routed row: i32 [topK] expert ids and f32
     * [topK] gate weights, where the router's top-k would be.
     */
    void write(int token, int layer, MemorySegment idx, MemorySegment weight) {
        int o = (token * layers + layer) * topK;
        for (int j = 0; j < topK; j++) {
            idx.setAtIndex(ValueLayout.JAVA_INT, j, experts[o + j]);
            weight.setAtIndex(ValueLayout.JAVA_FLOAT, j, weights[o + j]);
        }
    }

    /** The experts layer {@code layer} of trace token {@code token} routes to, in the trace's order. */
    public int[] experts(int token, int layer) {
        int o = (token * layers + layer) * topK;
        return java.util.Arrays.copyOfRange(experts, o, o + topK);
    }

    /** Their renormalised gate weights. */
    public float[] weights(int token, int layer) {
        int o = (token * layers + layer) * topK;
        return java.util.Arrays.copyOfRange(weights, o, o + topK);
    }

    /** The trace file (as given). */
    public String source() {
        return source;
    }

    public int layers() {
        return layers;
    }

    /** Experts chosen per token and layer. */
    public int topK() {
        return topK;
    }

    public int problems() {
        return problemStart.length - 1;
    }

    /** "gsm8k problem 0" etc., in replay order. */
    public List<String> problemNames() {
        return problemNames;
    }

    /** Tokens of problem {@code problem} (not taken modulo). */
    public int problemLength(int problem) {
        return problemStart[problem + 1] - problemStart[problem];
    }

    /** Complete tokens, all problems together. */
    public int tokens() {
        return problemStart[problemStart.length - 1];
    }

    /** One line for reports: file name, problems, tokens. */
    public String describe() {
        return String.format(Locale.ROOT, "routing replayed from %s: %d problem%s, %d tokens%s",
                source.substring(source.lastIndexOf('/') + 1),
                problems(), problems() == 1 ? "" : "s", tokens(),
                skippedTokens == 0 ? "" : " (" + skippedTokens + " incomplete tokens left out)");
    }
}
