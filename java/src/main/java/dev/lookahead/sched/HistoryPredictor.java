package dev.lookahead.sched;

import dev.lookahead.expert.RoutingTrace;

import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * Predicts the experts of later layers from routing history alone, with statistics learned from a training trace.
 * Replay has no hidden states, so this is the best a trace-driven predictor can do; the engine's lookahead gate
 * reads hidden states instead.
 *
 * <h2>What it learns (from the training tokens, counted once)</h2>
 * <ul>
 *   <li>π[m][e]: how often layer m chooses expert e, smoothed: (n[m][e] + α·K/E) / (N + α), K = top-k, E = experts;</li>
 *   <li>P(e' at m | e at j), for every pair of layers j &lt; m of the same token: (c[j,e][m,e'] + β·π[m][e']) /
 *       (n[j][e] + β), a co-occurrence count smoothed towards the marginal;</li>
 *   <li>reuse across consecutive tokens of the same problem, per layer m, pooled over experts: ρ[m] = P(m chooses e
 *       | the previous token's layer m chose e) and ν[m] = P(m chooses e | it did not), each smoothed towards K/E.</li>
 * </ul>
 *
 * <h2>How it predicts</h2>
 * At layer l of a token, for each target layer m = l + d (d = 1..D, m in the same token), a naive-Bayes score
 * <pre>
 *   log s[e'] = log π[m][e'] + Σ_{j = l-S+1 .. l} log( mean_{e chosen at j} P(e' at m | e at j) / π[m][e'] )
 *               + log( (previous token chose e' at m ? ρ[m] : ν[m]) / (K/E) )
 * </pre>
 * over the S most recent layers of the token, then p[e'] = min(1, K · softmax(log s / τ)[e']), so the
 * probabilities of a layer sum to about K. S, α, β, τ are {@link Params}; the defaults were chosen by
 * leave-one-problem-out on gsm8k (docs/scheduler.md). Deeper conditioning (all layers &lt;= l jointly) cannot be
 * estimated from a few hundred tokens, which is why the sources combine as independent evidence.
 */
public final class HistoryPredictor implements LookaheadPredictor {
    /**
     * @param sources S: the most recent layers of the token whose choices are evidence
     * @param alpha   smoothing of the marginals (pseudo-tokens)
     * @param beta    smoothing of the pairwise conditionals towards the marginal (pseudo-tokens)
     * @param tau     temperature of the final softmax (> 1 flattens over-confident naive-Bayes scores)
     * @param reuse   whether the previous token's choice at the target layer is evidence
     */
    public record Params(int sources, double alpha, double beta, double tau, boolean reuse) {
        public static final Params DEFAULT = new Params(16, 1, 16, 3, true);

        public Params {
            if (sources < 0) throw new IllegalArgumentException("sources must be >= 0, got " + sources);
            if (!(alpha > 0) || !(beta > 0) || !(tau > 0)) {
                throw new IllegalArgumentException("alpha, beta, tau must be > 0, got " + alpha + ", " + beta + ", " + tau);
            }
        }
    }

    public static final String NAME = "history";

    private final String name;
    private final int layers;
    private final int experts;
    private final int topK;
    private final int horizon;
    private final Params params;
    private final double[] logPrior;      // [m * E + e]: log π
    private final float[] ratio;          // [(j * L + m) * E * E + e * E + e']: P(e' at m | e at j) / π[m][e']
    private final double[] logReuse;      // [m]: log(ρ[m] / (K/E))
    private final double[] logNoReuse;    // [m]: log(ν[m] / (K/E))

    private final int[][] current;        // [layer][K]: this token's choices so far
    private final boolean[] previous;     // [layer * E + e]: the previous token's choices
    private final boolean[] building;     // the same for the token being observed
    private long currentToken = -1;
    private boolean hasPrevious;
    private final double[] score;

    private HistoryPredictor(String name, int layers, int experts, int topK, int horizon, Params params) {
        this.name = name;
        this.layers = layers;
        this.experts = experts;
        this.topK = topK;
        this.horizon = horizon;
        this.params = params;
        logPrior = new double[layers * experts];
        ratio = new float[layers * layers * experts * experts];
        logReuse = new double[layers];
        logNoReuse = new double[layers];
        current = new int[layers][topK];
        previous = new boolean[layers * experts];
        building = new boolean[layers * experts];
        score = new double[experts];
    }

    /** Learns from every token of {@code train}. */
    public static HistoryPredictor learn(RoutingTrace train, int horizon, Params params) {
        return learn(train, t -> true, horizon, params);
    }

    /** Learns from the tokens of {@code train} that {@code use} accepts (for cross-validation by problem). */
    public static HistoryPredictor learn(RoutingTrace train, Predicate<RoutingTrace.Token> use, int horizon, Params params) {
        Objects.requireNonNull(params, "params");
        if (horizon < 1) throw new IllegalArgumentException("horizon must be >= 1, got " + horizon);
        int layers = train.layers(), experts = train.experts(), k = train.topK();
        HistoryPredictor p = new HistoryPredictor(NAME + "(" + fileName(train.source()) + ")", layers, experts, k,
                horizon, params);
        List<RoutingTrace.Token> tokens = train.tokens().stream().filter(use).toList();
        if (tokens.isEmpty()) throw new IllegalArgumentException("no training tokens in " + train.source());
        int n = tokens.size();
        long[] single = new long[layers * experts];
        long[] pair = new long[layers * layers * experts * experts];
        long[] reuseHit = new long[layers], reuseAll = new long[layers], otherHit = new long[layers], otherAll = new long[layers];
        RoutingTrace.Token prev = null;
        for (RoutingTrace.Token tok : tokens) {
            int[][] x = tok.experts();
            for (int m = 0; m < layers; m++) {
                for (int e : x[m]) single[m * experts + e]++;
                for (int j = 0; j < m; j++) {
                    for (int e : x[j]) {
                        for (int e2 : x[m]) pair[((j * layers + m) * experts + e) * experts + e2]++;
                    }
                }
            }
            boolean sameProblem = prev != null && prev.dataset().equals(tok.dataset()) && prev.problemId() == tok.problemId();
            if (sameProblem) {
                for (int m = 0; m < layers; m++) {
                    for (int e = 0; e < experts; e++) {
                        boolean before = contains(prev.experts()[m], e), now = contains(x[m], e);
                        if (before) {
                            reuseAll[m]++;
                            if (now) reuseHit[m]++;
                        } else {
                            otherAll[m]++;
                            if (now) otherHit[m]++;
                        }
                    }
                }
            }
            prev = tok;
        }
        double base = (double) k / experts;
        double[] prior = new double[layers * experts];
        for (int i = 0; i < prior.length; i++) {
            prior[i] = (single[i] + params.alpha() * base) / (n + params.alpha());
            p.logPrior[i] = Math.log(prior[i]);
        }
        for (int j = 0; j < layers; j++) {
            for (int m = j + 1; m < layers; m++) {
                for (int e = 0; e < experts; e++) {
                    long nj = single[j * experts + e];
                    for (int e2 = 0; e2 < experts; e2++) {
                        int i = ((j * layers + m) * experts + e) * experts + e2;
                        double pm = prior[m * experts + e2];
                        double cond = (pair[i] + params.beta() * pm) / (nj + params.beta());
                        p.ratio[i] = (float) (cond / pm);
                    }
                }
            }
        }
        for (int m = 0; m < layers; m++) {
            // smoothed towards K/E with one pseudo-observation per expert
            double rho = (reuseHit[m] + base * experts) / (reuseAll[m] + experts);
            double nu = (otherHit[m] + base * experts) / (otherAll[m] + experts);
            p.logReuse[m] = Math.log(rho / base);
            p.logNoReuse[m] = Math.log(nu / base);
        }
        return p;
    }

    private static boolean contains(int[] a, int v) {
        for (int x : a) if (x == v) return true;
        return false;
    }

    private static String fileName(String source) {
        int slash = Math.max(source.lastIndexOf('/'), source.lastIndexOf('\\'));
        return slash < 0 ? source : source.substring(slash + 1);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int horizon() {
        return horizon;
    }

    public Params params() {
        return params;
    }

    @Override
    public void observe(long token, int layer, int[] chosen) {
        if (token != currentToken) {
            hasPrevious = currentToken >= 0;
            System.arraycopy(building, 0, previous, 0, building.length);
            java.util.Arrays.fill(building, false);
            currentToken = token;
        }
        if (chosen.length != topK) {
            throw new IllegalArgumentException("layer " + layer + " chose " + chosen.length + " experts; trained on top-" + topK);
        }
        for (int i = 0; i < topK; i++) {
            current[layer][i] = chosen[i];
            building[layer * experts + chosen[i]] = true;
        }
    }

    @Override
    public void predict(long token, int layer, LayerPredictions out) {
        if (token != currentToken) throw new IllegalStateException("predict for token " + token + " before observing it");
        int h = out.reset(token, layer, horizon);
        int first = Math.max(0, layer - params.sources() + 1);
        for (int d = 1; d <= h; d++) {
            int m = layer + d;
            double max = Double.NEGATIVE_INFINITY;
            for (int e2 = 0; e2 < experts; e2++) {
                double s = logPrior[m * experts + e2];
                for (int j = first; j <= layer; j++) {
                    double mean = 0;
                    for (int i = 0; i < topK; i++) {
                        mean += ratio[((j * layers + m) * experts + current[j][i]) * experts + e2];
                    }
                    s += Math.log(mean / topK);
                }
                if (params.reuse() && hasPrevious) {
                    s += previous[m * experts + e2] ? logReuse[m] : logNoReuse[m];
                }
                score[e2] = s / params.tau();
                max = Math.max(max, score[e2]);
            }
            double sum = 0;
            for (int e2 = 0; e2 < experts; e2++) {
                score[e2] = Math.exp(score[e2] - max);
                sum += score[e2];
            }
            for (int e2 = 0; e2 < experts; e2++) out.set(d, e2, (float) Math.min(1.0, topK * score[e2] / sum));
        }
    }
}
