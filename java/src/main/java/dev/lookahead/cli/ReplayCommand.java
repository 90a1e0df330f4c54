package dev.lookahead.cli;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.expert.OracleRecallPredictor;
import dev.lookahead.expert.PrefetchPredictor;
import dev.lookahead.expert.PreviousTokenPredictor;
import dev.lookahead.expert.ReplayComparison;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.TimingModel;
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

@Command(name = "replay", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Replays recorded expert-routing traces (JSONL) through the engine's expert cache and a",
                "residency policy, with a copy/compute time model; compares with the LRU baseline",
                "(mixtral-offloading) and the Belady ceilings (per layer, and one pool of layers*k slots).",
                "Policies: mixtral-offloading, next-layer, all-resident, lru-global, belady, belady-global.",
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

    @Option(names = "--predictor", defaultValue = PreviousTokenPredictor.NAME,
            description = {"prefetch prediction for next-layer: previous-token (the experts this layer used for the",
                    "previous token) or oracle (WHAT-IF: the trace's truth with recall --recall) (default: ${DEFAULT-VALUE})"})
    String predictor;

    @Option(names = "--recall", description = "recall of the oracle predictor, 0..1 (what-if only)")
    Double recall;

    @Option(names = "--seed", defaultValue = "1", description = "seed of the oracle predictor (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--sweep", paramLabel = "A..B",
            description = "also print hit rates and tok/s for k = A..B: LRU and both Belady ceilings side by side")
    String sweep;

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
        Function<RoutingTrace, PrefetchPredictor> predictors = predictorFactory();
        if (!chosen.prefetchNextLayer() && recall != null) {
            throw new IllegalArgumentException("--recall applies to the prefetch predictor of next-layer only");
        }

        List<TraceReport> reports = new ArrayList<>();
        for (Path file : traces) {
            RoutingTrace trace = RoutingTrace.read(file);
            ReplayComparison main = ReplayComparison.run(trace, chosen.name(), slotsPerLayer, timing, predictors);
            List<ReplayComparison> swept = new ArrayList<>();
            if (sweepRange != null) {
                for (int k = sweepRange[0]; k <= sweepRange[1]; k++) {
                    swept.add(ReplayComparison.run(trace, chosen.name(), k, timing, predictors));
                }
            }
            reports.add(new TraceReport(file, trace, main, swept));
        }

        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(toJson(reports));
        } else {
            ReplayTables tables = new ReplayTables(out);
            for (TraceReport r : reports) {
                tables.summary(r.file(), r.trace(), r.main(), chosen.name());
                if (perLayer) tables.perLayer(r.main());
                if (!r.sweep().isEmpty()) tables.sweep(r.sweep(), chosen.name());
                out.println();
            }
        }
        out.flush();
        return 0;
    }

    record TraceReport(Path file, RoutingTrace trace, ReplayComparison main, List<ReplayComparison> sweep) {
    }

    private Function<RoutingTrace, PrefetchPredictor> predictorFactory() {
        return switch (predictor) {
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
            default -> throw new IllegalArgumentException("unknown --predictor '" + predictor + "'; known: "
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

    private String toJson(List<TraceReport> reports) throws IOException {
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
