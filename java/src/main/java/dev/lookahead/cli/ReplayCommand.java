package dev.lookahead.cli;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.expert.HorizonCeiling;
import dev.lookahead.expert.OracleRecallPredictor;
import dev.lookahead.expert.PrefetchPredictor;
import dev.lookahead.expert.PreviousTokenPredictor;
import dev.lookahead.expert.ReplayComparison;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;
import dev.lookahead.sched.HistoryPredictor;
import dev.lookahead.sched.LookaheadPredictor;
import dev.lookahead.sched.OracleLookahead;
import dev.lookahead.sched.SchedulerConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.function.Predicate;

@Command(name = "replay", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Replays routing traces through a policy's cache (a time model).",
                "Runs expert-routing traces (JSONL) through the engine's expert cache and a residency policy, with a "
                        + "copy/compute time model; compares with the LRU baseline (mixtral-offloading) and the Belady ceilings "
                        + "(per layer, and one pool of layers*k slots).",
                "Policies: mixtral-offloading, next-layer, all-resident, lru-global, belady, belady-global, "
                        + "lookahead, lookahead-global (the speculative scheduler; needs --train-trace or --predictor oracle).",
                "Times are a model (see ReplaySimulator), not measurements."})
final class ReplayCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "TRACE", description = "routing trace files (JSONL); each is replayed on its own")
    List<Path> traces;

    @Option(names = "--policy", defaultValue = ResidencyPolicies.MIXTRAL_OFFLOADING,
            description = "residency policy (default: ${DEFAULT-VALUE})")
    String policy;

    @Option(names = {"-k", "--slots-per-layer"}, defaultValue = "4",
            description = "device slots per layer; a global pool gets layers*k (default: ${DEFAULT-VALUE})")
    int slotsPerLayer;

    @Option(names = "--expert-mib", defaultValue = "94",
            description = "size of one expert in MiB (default: ${DEFAULT-VALUE}, Mixtral-8x7B 4-bit)")
    double expertMib;

    @Option(names = "--link-gbps", defaultValue = "25",
            description = "host-to-device bandwidth in GB/s (default: ${DEFAULT-VALUE}, PCIe 4.0 x16 pinned)")
    double linkGbps;

    @Option(names = "--layer-ms", defaultValue = "0.5",
            description = "GPU compute per layer and token in ms (default: ${DEFAULT-VALUE})")
    double layerMs;

    @Option(names = "--predictor",
            description = "prediction for next-layer: previous-token (default; the experts this layer used for the "
                    + "previous token); for lookahead: history (default; routing statistics learned from --train-trace); "
                    + "for both: oracle (WHAT-IF: the trace's truth with recall --recall)")
    String predictor;

    @Option(names = "--train-trace", paramLabel = "FILE",
            description = "lookahead: the routing trace the history predictor learns from (e.g. gsm8k.jsonl); "
                    + "use one other than the evaluated traces")
    Path trainTrace;

    @Option(names = "--horizon", description = "lookahead: predict layers l+1 .. l+D (default: 8)")
    Integer horizon;

    @Option(names = "--recurrence-tokens", paramLabel = "N",
            description = "lookahead: eviction may follow the routing recurrence (the routing that followed earlier"
                    + " tokens whose first layers chose alike), reading N tokens after each match; 0 = off (default: 8)")
    Integer recurrenceTokens;

    @Option(names = "--budget-copies",
            description = "lookahead: expert copies that may be in flight before no speculative one starts (default: 1)")
    Integer budgetCopies;

    @Option(names = "--min-probability", description = "lookahead: copy only predictions at least this likely (default: 0.9)")
    Double minProbability;

    @Option(names = "--target-recall",
            description = "lookahead: throttle speculation while measured recall is below this; 0 = never (default: 0.8)")
    Double targetRecall;

    @Option(names = "--what-if", paramLabel = "R,R,...", defaultValue = "0.6,0.8,0.9,1.0",
            description = "lookahead: also replay the oracle predictor of these recalls through the same scheduler "
                    + "(WHAT-IF rows); 'none' to skip (default: ${DEFAULT-VALUE})")
    String whatIf;

    @Option(names = "--recall", description = "recall of the oracle predictor, 0..1 (what-if only)")
    Double recall;

    @Option(names = "--next-token-recall", paramLabel = "R",
            description = "lookahead with --predictor oracle (WHAT-IF): also predict, at each layer, the same layer of "
                    + "the next token with recall R, for eviction (the engine's next-token heads' role)")
    Double nextTokenRecall;

    @Option(names = "--two-token-recall", paramLabel = "R",
            description = "the same for the token after the next (the two-token heads' role); needs --next-token-recall")
    Double twoTokenRecall;

    @Option(names = "--seed", defaultValue = "1", description = "seed of the oracle predictor (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--sweep", paramLabel = "A..B",
            description = "also print hit rates and tok/s for k = A..B: LRU and both Belady ceilings side by side")
    String sweep;

    @Option(names = "--belady-horizons", paramLabel = "N,N,...",
            description = "also replay Belady seeing only the next N tokens' routing (LRU beyond), per layer and in one "
                    + "pool: the most a predictor of the next N tokens could buy by eviction")
    String beladyHorizons;

    @Option(names = "--per-layer", description = "also print hit rates per layer")
    boolean perLayer;

    @Option(names = "--json", description = "print one JSON report instead of tables")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        ResidencyPolicy chosen = ResidencyPolicies.byName(policy);
        TimingModel timing = new TimingModel(expertMib, linkGbps, layerMs);
        int[] sweepRange = sweep == null ? null : parseSweep(sweep);
        if (!chosen.prefetchNextLayer() && !chosen.scheduled() && recall != null) {
            throw new IllegalArgumentException("--recall applies to the predictors of next-layer and lookahead only");
        }
        Function<RoutingTrace, PrefetchPredictor> predictors = chosen.scheduled() ? t -> null : predictorFactory();
        LookaheadReplay lookahead = chosen.scheduled() ? lookahead(timing) : null;
        if (!chosen.scheduled()) rejectLookaheadOptions();
        List<Double> whatIfRecalls = chosen.scheduled() ? parseRecalls(whatIf) : List.of();
        List<Integer> horizons = beladyHorizons == null ? List.of() : parseHorizons(beladyHorizons);
        ReplayComparison.PolicyRunner runner = ReplayComparison.simulator(predictors);
        if (lookahead != null) runner = lookahead.runner(runner);

        List<TraceReport> reports = new ArrayList<>();
        for (Path file : traces) {
            RoutingTrace trace = RoutingTrace.read(file);
            ReplayComparison main = ReplayComparison.run(trace, chosen.name(), slotsPerLayer, timing, runner);
            List<ReplayComparison> swept = new ArrayList<>();
            if (sweepRange != null) {
                for (int k = sweepRange[0]; k <= sweepRange[1]; k++) {
                    swept.add(ReplayComparison.run(trace, chosen.name(), k, timing, runner));
                }
            }
            List<LookaheadReplay.WhatIf> rows = lookahead == null ? List.of()
                    : lookahead.whatIf(trace, chosen, slotsPerLayer, timing, whatIfRecalls);
            List<HorizonCeiling> ceilings = new ArrayList<>();
            for (int n : horizons) ceilings.add(HorizonCeiling.replay(trace, n, slotsPerLayer, timing));
            reports.add(new TraceReport(file, trace, main, swept, rows, ceilings));
        }

        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(toJson(reports, lookahead));
        } else {
            ReplayTables tables = new ReplayTables(out);
            for (TraceReport r : reports) {
                tables.summary(r.file(), r.trace(), r.main(), chosen.name());
                if (lookahead != null) lookahead.print(out, r.main(), chosen.name(), r.whatIf());
                if (!r.horizons().isEmpty()) tables.horizons(r.horizons(), r.main());
                if (perLayer) tables.perLayer(r.main());
                if (!r.sweep().isEmpty()) tables.sweep(r.sweep(), chosen.name());
                out.println();
            }
        }
        out.flush();
        return 0;
    }

    record TraceReport(Path file, RoutingTrace trace, ReplayComparison main, List<ReplayComparison> sweep,
                       List<LookaheadReplay.WhatIf> whatIf, List<HorizonCeiling> horizons) {
    }

    /** "1,2,8" -> [1, 2, 8]: token horizons, each >= 1. */
    static List<Integer> parseHorizons(String text) {
        return parseList(text, Integer::parseInt, n -> n >= 1,
                "--belady-horizons must be token counts >= 1 separated by commas; got '" + text + "'");
    }
    /** The scheduler's configuration and predictor for a lookahead policy, from the options. */
    private LookaheadReplay lookahead(TimingModel timing) throws IOException {
        long copy = timing.expertBytes();
        // top-k comes from each trace (LookaheadReplay.forTrace); 2 is only a placeholder here
        SchedulerConfig c = SchedulerConfig.defaults(copy, 2);
        if (horizon != null) c = c.withHorizon(horizon);
        if (recurrenceTokens != null) {
            if (recurrenceTokens < 0) throw new IllegalArgumentException("--recurrence-tokens must be >= 0, got " + recurrenceTokens);
            c = c.withRecurrenceTokens(recurrenceTokens);
        }
        if (budgetCopies != null) {
            if (budgetCopies < 0) throw new IllegalArgumentException("--budget-copies must be >= 0, got " + budgetCopies);
            c = c.withBudget(budgetCopies * copy);
        }
        if (minProbability != null) c = c.withMinProbability(minProbability);
        if (targetRecall != null) c = c.withThrottle(targetRecall, c.throttledMinProbability());
        SchedulerConfig config = c;
        String p = predictor == null ? HistoryPredictor.NAME : predictor;
        Function<RoutingTrace, LookaheadPredictor> factory;
        String source;
        switch (p) {
            case HistoryPredictor.NAME -> {
                if (recall != null || nextTokenRecall != null || twoTokenRecall != null) {
                    throw new IllegalArgumentException("--recall, --next-token-recall and --two-token-recall apply to"
                            + " --predictor oracle only");
                }
                if (trainTrace == null) {
                    throw new IllegalArgumentException("--policy " + policy + " needs --train-trace FILE: a routing trace the"
                            + " history predictor learns from (e.g. gsm8k.jsonl), other than the evaluated ones; or"
                            + " --predictor oracle --recall R for a what-if");
                }
                RoutingTrace train = RoutingTrace.read(trainTrace);
                for (Path t : traces) {
                    if (t.toAbsolutePath().normalize().equals(trainTrace.toAbsolutePath().normalize())) {
                        spec.commandLine().getErr().println("warning: " + t + " is also the training trace: its numbers"
                                + " are in-sample");
                    }
                }
                factory = eval -> LookaheadReplay.learn(train, eval, config.horizon());
                source = "learned from " + trainTrace + " (" + train.tokenCount() + " tokens)";
            }
            case OracleLookahead.NAME -> {
                if (trainTrace != null) throw new IllegalArgumentException("--train-trace applies to --predictor history only");
                if (recall == null) throw new IllegalArgumentException("--predictor oracle needs --recall R (0..1)");
                double r = recall;
                if (!(r >= 0 && r <= 1)) throw new IllegalArgumentException("--recall must be in [0, 1], got " + r);
                if (twoTokenRecall != null && nextTokenRecall == null) {
                    throw new IllegalArgumentException("--two-token-recall needs --next-token-recall");
                }
                OracleLookahead.TokensAhead ahead = new OracleLookahead.TokensAhead(nextTokenRecall, twoTokenRecall);
                factory = eval -> new OracleLookahead(eval, r, config.horizon(), ahead, seed);
                source = "WHAT-IF: reads the evaluated trace's future";
            }
            default -> throw new IllegalArgumentException("unknown --predictor '" + p + "' for " + policy + "; known: history, "
                    + OracleLookahead.NAME);
        }
        return new LookaheadReplay(config, factory, source, seed);
    }

    private void rejectLookaheadOptions() {
        if (trainTrace != null || horizon != null || budgetCopies != null || minProbability != null || targetRecall != null
                || nextTokenRecall != null || twoTokenRecall != null) {
            throw new IllegalArgumentException("--train-trace, --horizon, --budget-copies, --min-probability,"
                    + " --target-recall, --next-token-recall and --two-token-recall apply to --policy lookahead /"
                    + " lookahead-global only");
        }
    }

    /** "0.6,0.8" -> [0.6, 0.8]; "none" -> []. */
    static List<Double> parseRecalls(String text) {
        if (text.equals("none")) return List.of();
        return parseList(text, Double::parseDouble, r -> r >= 0 && r <= 1,
                "--what-if must be recalls in [0, 1] separated by commas, or none; got '" + text + "'");
    }

    /** Comma-separated values, each parsed and accepted by {@code valid}; otherwise {@code error}. */
    private static <T> List<T> parseList(String text, Function<String, T> parse, Predicate<T> valid, String error) {
        List<T> out = new ArrayList<>();
        for (String part : text.split(",")) {
            T value;
            try {
                value = parse.apply(part.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(error);
            }
            if (!valid.test(value)) throw new IllegalArgumentException(error);
            out.add(value);
        }
        return out;
    }
    private Function<RoutingTrace, PrefetchPredictor> predictorFactory() {
        String p = predictor == null ? PreviousTokenPredictor.NAME : predictor;
        return switch (p) {
            case PreviousTokenPredictor.NAME -> {
                if (recall != null) throw new IllegalArgumentException("--recall applies to --predictor oracle only");
                yield t -> new PreviousTokenPredictor(t.layers());
            }
            case OracleRecallPredictor.NAME -> {
                if (recall == null) throw new IllegalArgumentException("--predictor oracle needs --recall R (0..1)");
                double r = recall;
                if (!(r >= 0 && r <= 1)) throw new IllegalArgumentException("--recall must be in [0, 1], got " + r);
                yield t -> new OracleRecallPredictor(t, r, seed);
            }
            default -> throw new IllegalArgumentException("unknown --predictor '" + p + "'; known: "
                    + PreviousTokenPredictor.NAME + ", " + OracleRecallPredictor.NAME);
        };
    }

    /** "A..B" with 1 <= A <= B. */
    static int[] parseSweep(String text) {
        String[] parts = text.split("\\.\\.", -1);
        try {
            if (parts.length == 2) {
                int a = Integer.parseInt(parts[0].trim());
                int b = Integer.parseInt(parts[1].trim());
                if (a >= 1 && a <= b) return new int[] {a, b};
            }
        } catch (NumberFormatException e) {
            // falls through to the message below
        }
        throw new IllegalArgumentException("--sweep must be A..B with 1 <= A <= B (e.g. 2..6), got '" + text + "'");
    }

    private String toJson(List<TraceReport> reports, LookaheadReplay lookahead) throws IOException {
        JsonMapper mapper = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
        ObjectNode root = mapper.createObjectNode();
        root.put("policy", policy);
        root.put("slots_per_layer", slotsPerLayer);
        ObjectNode t = root.putObject("timing");
        t.put("expert_mib", expertMib);
        t.put("link_gbps", linkGbps);
        t.put("layer_ms", layerMs);
        t.put("copy_ms", new TimingModel(expertMib, linkGbps, layerMs).copyMs());
        ArrayNode arr = root.putArray("traces");
        for (TraceReport r : reports) {
            ObjectNode o = arr.addObject();
            ReplayJson.trace(o, r.file(), r.trace());
            ReplayJson.comparison(o.putArray("results"), r.main(), perLayer);
            if (lookahead != null) lookahead.json(o, r.main(), policy, r.whatIf());
            if (!r.horizons().isEmpty()) ReplayJson.horizons(o.putArray("belady_horizons"), r.horizons(), r.main());
            if (!r.sweep().isEmpty()) {
                ArrayNode sw = o.putArray("sweep");
                for (ReplayComparison c : r.sweep()) {
                    ObjectNode s = sw.addObject();
                    s.put("slots_per_layer", c.slotsPerLayer());
                    ReplayJson.comparison(s.putArray("results"), c, false);
                }
            }
        }
        return mapper.writeValueAsString(root);
    }
}
