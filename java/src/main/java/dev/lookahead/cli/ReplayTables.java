package dev.lookahead.cli;

import dev.lookahead.expert.CacheStats;
import dev.lookahead.expert.HorizonCeiling;
import dev.lookahead.expert.ReplayComparison;
import dev.lookahead.expert.ReplayResult;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.RoutingTrace;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** Plain-text tables of replay results. */
final class ReplayTables {
    private final PrintWriter out;

    ReplayTables(PrintWriter out) {
        this.out = out;
    }

    private void printf(String format, Object... args) {
        out.printf(Locale.ROOT, format, args);
    }

    void summary(Path file, RoutingTrace trace, ReplayComparison c, String chosen) {
        printf("trace %s: %d tokens of %d problem(s), %d layers, %d experts, top-%d; %d token(s) skipped (missing layers)%n",
                file, trace.tokenCount(), trace.problems(), trace.layers(), trace.experts(), trace.topK(),
                trace.skippedTokens().size());
        printf("model: expert %.1f MiB over %.1f GB/s = %.2f ms per copy; %.2f ms compute per layer (k = %d slots per layer)%n",
                c.timing().expertMib(), c.timing().linkGbps(), c.timing().copyMs(), c.timing().layerMs(), c.slotsPerLayer());
        printf("%-20s %-15s %8s %10s %9s %8s %7s %8s %9s %9s%n", "policy", "slots", "hit rate", "misses/tok",
                "MiB/tok", "ms/tok", "tok/s", "speed-up", "bound ms", "bound x");
        for (ReplayResult r : c.results()) {
            printf("%-20s %-15s %8.4f %10.2f %9.1f %8.2f %7.2f %7.2fx %9.2f %8.2fx%n", r.policy(), r.layout(), r.hitRate(),
                    r.missesPerToken(), r.mibPerToken(), r.msPerToken(), r.tokensPerSecond(), c.speedup(r),
                    r.boundMsPerToken(), c.boundSpeedup(r));
        }
        ReplayResult mine = c.result(chosen);
        if (mine != null && mine.predictor() != null) {
            CacheStats s = mine.stats();
            printf("prefetch (%s): %d issued, %d used, %d wasted (evicted unused)%n", mine.predictor(),
                    s.prefetchesIssued(), s.prefetchesUsed(), s.prefetchesWasted());
        }
        printf("speed-up: over %s; bound: max(compute, copies) per token, i.e. perfect overlap of the same copies%n",
                ResidencyPolicies.MIXTRAL_OFFLOADING);
    }

    void perLayer(ReplayComparison c) {
        out.println();
        printf("%-6s", "layer");
        for (ReplayResult r : c.results()) printf(" %18s", r.policy());
        out.println();
        for (int l = 0; l < c.trace().layers(); l++) {
            printf("%-6d", l);
            for (ReplayResult r : c.results()) printf(" %18.4f", r.stats().hitRate(l));
            out.println();
        }
    }

    void sweep(List<ReplayComparison> sweep, String chosen) {
        List<String> names = sweep.getFirst().results().stream().map(ReplayResult::policy).toList();
        out.println();
        out.println("by slots per layer k (a pool has layers*k slots); lru = " + ResidencyPolicies.MIXTRAL_OFFLOADING);
        printf("%-3s", "");
        printf(" %-" + (14 * names.size()) + "s", "hit rate");
        printf(" %s%n", "tok/s");
        printf("%-3s", "k");
        for (int pass = 0; pass < 2; pass++) {
            for (String n : names) printf(" %13s", shortName(n));
        }
        out.println();
        for (ReplayComparison c : sweep) {
            printf("%-3d", c.slotsPerLayer());
            for (String n : names) printf(" %13.4f", c.result(n).hitRate());
            for (String n : names) printf(" %13.2f", c.result(n).tokensPerSecond());
            out.println();
        }
    }

    /** Belady seeing only the next N tokens, next to LRU and the full-future ceilings of the same comparison. */
    void horizons(List<HorizonCeiling> rows, ReplayComparison c) {
        out.println();
        out.println("Belady seeing only the next N tokens (LRU among experts not used that soon): what eviction by a"
                + " predictor of the next N tokens' routing could at best buy");
        printf("%-8s %10s %8s %8s %10s %8s %8s%n", "tokens", "layer hit", "ms/tok", "vs lru", "pool hit", "ms/tok",
                "vs lru");
        for (HorizonCeiling h : rows) {
            horizonRow(String.valueOf(h.tokens()), h.perLayer(), h.pool(), c);
        }
        horizonRow("all", c.result(ResidencyPolicies.BELADY), c.result(ResidencyPolicies.BELADY_GLOBAL), c);
    }

    private void horizonRow(String tokens, ReplayResult perLayer, ReplayResult pool, ReplayComparison c) {
        printf("%-8s %10.4f %8.2f %7.2fx %10.4f %8.2f %7.2fx%n", tokens, perLayer.hitRate(), perLayer.msPerToken(),
                c.speedup(perLayer), pool.hitRate(), pool.msPerToken(), c.speedup(pool));
    }

    private static String shortName(String policy) {
        return policy.equals(ResidencyPolicies.MIXTRAL_OFFLOADING) ? "lru" : policy;
    }
}
