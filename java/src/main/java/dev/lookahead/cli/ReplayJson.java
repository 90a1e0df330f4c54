package dev.lookahead.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.expert.CacheStats;
import dev.lookahead.expert.HorizonCeiling;
import dev.lookahead.expert.ReplayComparison;
import dev.lookahead.expert.ReplayResult;
import dev.lookahead.expert.RoutingTrace;

import java.nio.file.Path;
import java.util.List;

/** JSON form of replay results (snake_case keys; NaN hit rates of layers without lookups become null). */
final class ReplayJson {
    private ReplayJson() {
    }

    static void trace(ObjectNode o, Path file, RoutingTrace trace) {
        o.put("file", file.toString());
        o.put("tokens", trace.tokenCount());
        o.put("problems", trace.problems());
        o.put("layers", trace.layers());
        o.put("experts", trace.experts());
        o.put("top_k", trace.topK());
        o.put("skipped_tokens", trace.skippedTokens().size());
        ArrayNode skipped = o.putArray("skipped");
        for (RoutingTrace.SkippedToken s : trace.skippedTokens()) {
            ObjectNode n = skipped.addObject();
            n.put("dataset", s.dataset());
            n.put("problem_id", s.problemId());
            n.put("token_idx", s.tokenIdx());
            n.put("layers_present", s.layersPresent());
        }
    }

    static void horizons(ArrayNode arr, List<HorizonCeiling> rows, ReplayComparison c) {
        for (HorizonCeiling h : rows) {
            ObjectNode o = arr.addObject();
            o.put("tokens", h.tokens());
            o.put("per_layer_hit_rate", h.perLayer().hitRate());
            o.put("per_layer_ms_per_token", h.perLayer().msPerToken());
            o.put("per_layer_speedup_vs_lru", c.speedup(h.perLayer()));
            o.put("pool_hit_rate", h.pool().hitRate());
            o.put("pool_ms_per_token", h.pool().msPerToken());
            o.put("pool_speedup_vs_lru", c.speedup(h.pool()));
        }
    }

    static void comparison(ArrayNode arr, ReplayComparison c, boolean perLayer) {
        for (ReplayResult r : c.results()) {
            ObjectNode o = arr.addObject();
            CacheStats s = r.stats();
            o.put("policy", r.policy());
            o.put("layout", r.layout());
            if (r.predictor() != null) o.put("predictor", r.predictor());
            o.put("hit_rate", r.hitRate());
            o.put("hits", s.hits());
            o.put("misses", s.misses());
            o.put("misses_per_token", r.missesPerToken());
            o.put("copies", r.copies());
            o.put("bytes_moved", s.bytesCopied());
            o.put("mib_per_token", r.mibPerToken());
            o.put("evictions", s.evictions());
            o.put("prefetches_issued", s.prefetchesIssued());
            o.put("prefetches_used", s.prefetchesUsed());
            o.put("prefetches_wasted", s.prefetchesWasted());
            o.put("ms_per_token", r.msPerToken());
            o.put("tokens_per_second", r.tokensPerSecond());
            o.put("speedup_vs_lru", c.speedup(r));
            o.put("bound_ms_per_token", r.boundMsPerToken());
            o.put("bound_speedup_vs_lru", c.boundSpeedup(r));
            if (perLayer) {
                ArrayNode layers = o.putArray("per_layer_hit_rate");
                for (int l = 0; l < s.layers(); l++) {
                    double h = s.hitRate(l);
                    if (Double.isNaN(h)) layers.addNull();
                    else layers.add(h);
                }
            }
        }
    }
}
