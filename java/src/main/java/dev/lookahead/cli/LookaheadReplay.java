package dev.lookahead.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.expert.ReplayComparison;
import dev.lookahead.expert.ReplayResult;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;
import dev.lookahead.sched.EvictionFollowed;
import dev.lookahead.sched.HistoryPredictor;
import dev.lookahead.sched.LookaheadPredictor;
import dev.lookahead.sched.OracleLookahead;
import dev.lookahead.sched.PredictionRecall;
import dev.lookahead.sched.ScheduledReplay;
import dev.lookahead.sched.SchedulerConfig;
import dev.lookahead.sched.SchedulerStats;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Replay of the scheduled policies (lookahead, lookahead-global) for {@code lookahead replay}: runs them through
 * {@link ScheduledReplay}, keeps the scheduler's extra results beside the comparison rows, runs the what-if rows
 * (the oracle predictor of recall r through the same scheduler) and prints or serialises all of it.
 */
final class LookaheadReplay {
    /** Labels of the what-if configurations: the chosen one, p >= 0.5 (throttled as chosen), p >= 0.5 unthrottled. */
    static final List<String> WHAT_IF_CONFIGS = List.of("default", "p>=0.5", "uncapped");

    /** The what-if rows of one recall r: the oracle of recall r under each of {@link #WHAT_IF_CONFIGS}. */
    record WhatIf(double recall, List<ScheduledReplay.Result> runs) {
    }

    private final SchedulerConfig config;
    private final Function<RoutingTrace, LookaheadPredictor> predictors;
    private final String predictorSource;
    private final long seed;
    private final Map<ReplayResult, ScheduledReplay.Result> extras = new IdentityHashMap<>();

    /**
     * @param predictors      makes the predictor for an evaluated trace (learned from the training trace, or oracle)
     * @param predictorSource one line saying where the predictor comes from
     */
    LookaheadReplay(SchedulerConfig config, Function<RoutingTrace, LookaheadPredictor> predictors,
                    String predictorSource, long seed) {
        this.config = config;
        this.predictors = predictors;
        this.predictorSource = predictorSource;
        this.seed = seed;
    }

    /** Replays scheduled policies with the scheduler, the others with {@code fallback}. */
    ReplayComparison.PolicyRunner runner(ReplayComparison.PolicyRunner fallback) {
        return (trace, policy, k, timing) -> {
            if (!policy.scheduled()) return fallback.run(trace, policy, k, timing);
            ScheduledReplay.Result r = ScheduledReplay.run(trace, policy, k, timing, predictors.apply(trace),
                    forTrace(config, trace));
            extras.put(r.result(), r);
            return r.result();
        };
    }

    ScheduledReplay.Result extra(ReplayResult r) {
        return extras.get(r);
    }

    List<WhatIf> whatIf(RoutingTrace trace, ResidencyPolicy policy, int k, TimingModel timing, List<Double> recalls) {
        SchedulerConfig chosen = forTrace(config, trace);
        SchedulerConfig half = chosen.withMinProbability(0.5);
        List<SchedulerConfig> configs = List.of(chosen, half, half.withThrottle(0, chosen.throttledMinProbability()));
        List<WhatIf> rows = new ArrayList<>();
        for (double r : recalls) {
            List<ScheduledReplay.Result> runs = new ArrayList<>();
            for (SchedulerConfig c : configs) {
                runs.add(ScheduledReplay.run(trace, policy, k, timing, new OracleLookahead(trace, r, c.horizon(), seed), c));
            }
            rows.add(new WhatIf(r, List.copyOf(runs)));
        }
        return rows;
    }

    /** The config with at most top-k outstanding copies per target layer, k of the trace's routing. */
    static SchedulerConfig forTrace(SchedulerConfig c, RoutingTrace trace) {
        return c.maxPerTargetLayer() == trace.topK() ? c : c.withMaxPerTargetLayer(trace.topK());
    }

    /** The Belady ceiling of the same layout: per layer for per-layer policies, the pool's for a pool. */
    static String ceilingOf(ResidencyPolicy policy) {
        return policy.placement() == ResidencyPolicy.Placement.GLOBAL_POOL ? ResidencyPolicies.BELADY_GLOBAL
                : ResidencyPolicies.BELADY;
    }

    /** Share of the LRU -> ceiling gap closed: (x - lru) / (ceiling - lru); NaN when there is no gap. */
    static double gapClosed(double lru, double ceiling, double x) {
        return ceiling == lru ? Double.NaN : (x - lru) / (ceiling - lru);
    }

    void print(PrintWriter out, ReplayComparison c, String chosen, List<WhatIf> whatIf) {
        ReplayResult mine = c.result(chosen);
        ScheduledReplay.Result x = extra(mine);
        if (x == null) return;
        ReplayResult lru = c.baseline();
        ReplayResult ceiling = c.result(ceilingOf(ResidencyPolicies.byName(chosen)));
        double mib = c.timing().expertBytes() / (1024.0 * 1024.0);
        SchedulerConfig s = x.config();
        printf(out, "scheduler: horizon %d, in-flight budget %.0f MiB (%d copies), candidates p >= %.2f ranked by"
                        + " p * %.2f^(d-1), <= %d per target layer; throttled below recall %.2f over %d (then p >= %.2f)%n",
                s.horizon(), s.inFlightBudgetBytes() / (1024.0 * 1024.0), s.inFlightBudgetBytes() / c.timing().expertBytes(),
                s.minProbability(), s.distanceDiscount(), s.maxPerTargetLayer(), s.targetRecall(), s.recallWindow(),
                s.throttledMinProbability());
        printf(out, "predictor: %s, %s%n", x.predictor(), predictorSource);
        printRecall(out, x.recall());
        SchedulerStats st = x.scheduler();
        double perToken = 1024.0 * 1024.0 * mine.tokens();
        printf(out, "speculative copies: %d issued, %d useful (%.1f MiB/tok), %d wasted (%.1f MiB/tok), measured recall"
                        + " %s; throttled at %d of %d layers, %d probes; %d stale and %d superseded candidates dropped%n",
                st.speculativeIssued(), st.speculativeUseful(), st.usefulBytes() / perToken,
                st.speculativeWasted(), st.wastedBytes() / perToken, fmt(st.recall()), st.throttledCalls(),
                st.speculateCalls(), st.probes(), st.candidatesStale(), st.candidatesUnissued());
        EvictionFollowed f = x.followed();
        printf(out, "eviction followed (shadow caches; routing recurrence %s): predictor+recurrence %.0f %%, predictor %.0f %%,"
                        + " recurrence %.0f %%, per-layer recent uses (no estimate beat LRU) %.0f %% of the lookups%s%n",
                s.recurrenceTokens() == 0 ? "off" : s.recurrenceTokens() + " tokens", 100 * f.share(f.predictorAndRecurrence()),
                100 * f.share(f.predictor()), 100 * f.share(f.recurrence()), 100 * f.share(f.untrusted()),
                ResidencyPolicies.byName(chosen).placement() == ResidencyPolicy.Placement.GLOBAL_POOL ? String.format(java.util.Locale.ROOT,
                        "; in the pool, each layer's share of the slots kept for %.0f %%", 100 * f.share(f.sharesKept())) : "");
        printf(out, "LRU -> %s gap closed: hit rate %s (%.4f -> %.4f of %.4f; prefetched experts count as hits),"
                        + " ms/token %s (%.2f -> %.2f of %.2f)%n", ceiling.policy(),
                pct(gapClosed(lru.hitRate(), ceiling.hitRate(), mine.hitRate())), lru.hitRate(), mine.hitRate(),
                ceiling.hitRate(), pct(gapClosed(lru.msPerToken(), ceiling.msPerToken(), mine.msPerToken())),
                lru.msPerToken(), mine.msPerToken(), ceiling.msPerToken());
        if (whatIf.isEmpty()) return;
        out.println();
        printf(out, "WHAT-IF: oracle predictor of recall r (reads the trace's future; not a real predictor) through the"
                + " same scheduler, %s; 'p>=0.5': copies from p >= 0.5, throttled as the default; 'uncapped': p >= 0.5,"
                + " no throttle%n", chosen);
        printf(out, "%-5s %-9s %8s %9s %8s %7s %8s %7s %7s %7s %9s%n", "r", "config", "hit rate", "MiB/tok", "ms/tok",
                "tok/s", "speed-up", "issued", "useful", "wasted", "gap (ms)");
        for (WhatIf w : whatIf) {
            for (int i = 0; i < w.runs().size(); i++) {
                ScheduledReplay.Result r = w.runs().get(i);
                ReplayResult rr = r.result();
                printf(out, "%-5.2f %-9s %8.4f %9.1f %8.2f %7.2f %7.2fx %7d %7d %7d %9s%n", w.recall(),
                        WHAT_IF_CONFIGS.get(i), rr.hitRate(), rr.mibPerToken(), rr.msPerToken(),
                        rr.tokensPerSecond(), c.speedup(rr), r.scheduler().speculativeIssued(),
                        r.scheduler().speculativeUseful(), r.scheduler().speculativeWasted(),
                        pct(gapClosed(lru.msPerToken(), ceiling.msPerToken(), rr.msPerToken())));
            }
        }
        printf(out, "(%.0f MiB per copy; speed-up over %s; gap = share of the LRU -> %s ms/token gap closed)%n", mib,
                ResidencyPolicies.MIXTRAL_OFFLOADING, ceiling.policy());
    }

    private static void printRecall(PrintWriter out, PredictionRecall r) {
        StringBuilder b = new StringBuilder("prediction recall@k by distance d:");
        for (int d = 1; d <= r.maxHorizon(); d++) {
            if (Double.isNaN(r.recall(d))) continue;
            if (d > 1 && (d - 1) % 8 == 0) b.append("\n ");
            b.append(String.format(Locale.ROOT, " d%d %.3f", d, r.recall(d)));
        }
        b.append(String.format(Locale.ROOT, "; all %.3f (chance: top-k / experts)", r.overall()));
        out.println(b);
    }

    void json(ObjectNode o, ReplayComparison c, String chosen, List<WhatIf> whatIf) {
        ReplayResult mine = c.result(chosen);
        ScheduledReplay.Result x = extra(mine);
        if (x == null) return;
        ReplayResult lru = c.baseline();
        ReplayResult ceiling = c.result(ceilingOf(ResidencyPolicies.byName(chosen)));
        ObjectNode s = o.putObject("scheduler");
        config(s.putObject("config"), x.config(), c.timing());
        s.put("predictor", x.predictor());
        s.put("predictor_source", predictorSource);
        ArrayNode rec = s.putArray("recall_at_k");
        for (int d = 1; d <= x.recall().maxHorizon(); d++) {
            if (!Double.isNaN(x.recall().recall(d))) rec.addObject().put("distance", d).put("recall", x.recall().recall(d));
        }
        s.put("recall_at_k_all", x.recall().overall());
        stats(s, x.scheduler());
        EvictionFollowed f = x.followed();
        ObjectNode followed = s.putObject("eviction_followed_lookups");
        followed.put("predictor_and_recurrence", f.predictorAndRecurrence());
        followed.put("predictor", f.predictor());
        followed.put("recurrence", f.recurrence());
        followed.put("lru", f.untrusted()); // no estimate beat LRU (the key dates from when eviction then was LRU)
        followed.put("layer_shares_kept", f.sharesKept());
        s.put("ceiling", ceiling.policy());
        s.put("gap_closed_hit_rate", gapClosed(lru.hitRate(), ceiling.hitRate(), mine.hitRate()));
        s.put("gap_closed_ms", gapClosed(lru.msPerToken(), ceiling.msPerToken(), mine.msPerToken()));
        ArrayNode arr = o.putArray("what_if");
        for (WhatIf w : whatIf) {
            for (int i = 0; i < w.runs().size(); i++) {
                ScheduledReplay.Result r = w.runs().get(i);
                ObjectNode n = arr.addObject();
                n.put("oracle_recall", w.recall());
                n.put("config", WHAT_IF_CONFIGS.get(i));
                n.put("hit_rate", r.result().hitRate());
                n.put("mib_per_token", r.result().mibPerToken());
                n.put("ms_per_token", r.result().msPerToken());
                n.put("speedup_vs_lru", c.speedup(r.result()));
                n.put("gap_closed_ms", gapClosed(lru.msPerToken(), ceiling.msPerToken(), r.result().msPerToken()));
                stats(n, r.scheduler());
            }
        }
    }

    private static void config(ObjectNode n, SchedulerConfig s, TimingModel t) {
        n.put("horizon", s.horizon());
        n.put("in_flight_budget_bytes", s.inFlightBudgetBytes());
        n.put("in_flight_budget_copies", s.inFlightBudgetBytes() / t.expertBytes());
        n.put("min_probability", s.minProbability());
        n.put("distance_discount", s.distanceDiscount());
        n.put("max_per_target_layer", s.maxPerTargetLayer());
        n.put("recall_window", s.recallWindow());
        n.put("target_recall", s.targetRecall());
        n.put("throttled_min_probability", s.throttledMinProbability());
        n.put("far_probability", s.farProbability());
        n.put("probe_interval", s.probeInterval());
        n.put("recurrence_tokens", s.recurrenceTokens());
    }

    private static void stats(ObjectNode n, SchedulerStats st) {
        n.put("speculative_issued", st.speculativeIssued());
        n.put("speculative_useful", st.speculativeUseful());
        n.put("speculative_wasted", st.speculativeWasted());
        n.put("useful_bytes", st.usefulBytes());
        n.put("wasted_bytes", st.wastedBytes());
        n.put("measured_recall", st.recall());
        n.put("throttled_layers", st.throttledCalls());
        n.put("probes", st.probes());
        n.put("stale_candidates", st.candidatesStale());
        n.put("demand_copies", st.demandCopies());
    }

    static HistoryPredictor learn(RoutingTrace train, RoutingTrace eval, int horizon) {
        if (train.layers() != eval.layers() || train.experts() != eval.experts() || train.topK() != eval.topK()) {
            throw new IllegalArgumentException("training trace " + train.source() + " (" + train.layers() + " layers, "
                    + train.experts() + " experts, top-" + train.topK() + ") does not match " + eval.source() + " ("
                    + eval.layers() + " layers, " + eval.experts() + " experts, top-" + eval.topK() + ")");
        }
        return HistoryPredictor.learn(train, horizon, HistoryPredictor.Params.DEFAULT);
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.3f", v);
    }

    private static String pct(double v) {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.1f%%", 100 * v + 0.0); // no "-0.0%"
    }

    private static void printf(PrintWriter out, String format, Object... args) {
        out.printf(Locale.ROOT, format, args);
    }
}
