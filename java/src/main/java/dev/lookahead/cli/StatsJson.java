package dev.lookahead.cli;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.api.GenerationResult;
import dev.lookahead.api.MoeModel;
import dev.lookahead.engine.OffloadedExperts;
import dev.lookahead.expert.CacheStats;
import dev.lookahead.sched.EvictionFollowed;
import dev.lookahead.sched.StagedPrefetch;
import dev.lookahead.sched.TokenRecurrence;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The statistics of one generation run as JSON (--stats-json): speed, residency, copies, stalls. */
final class StatsJson {
    private StatsJson() {
    }

    static void write(Path file, MoeModel model, GenerationResult result) throws IOException {
        JsonMapper json = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
        ObjectNode o = json.createObjectNode();
        o.put("model", model.directory().toString());
        o.put("backend", model.deviceInfo().backend());
        o.put("device", model.deviceInfo().name());
        o.put("policy", model.policy().name());
        if (model.expertFormat() != null) o.put("expert_format", model.expertFormat());
        ObjectNode t = o.putObject("timings");
        t.put("prompt_tokens", result.timings().promptTokens());
        t.put("prefill_ms", result.timings().prefillNanos() / 1e6);
        t.put("prefill_tokens_per_second", result.timings().prefillTokensPerSecond());
        t.put("decode_tokens", result.timings().decodeTokens());
        t.put("decode_ms", result.timings().decodeNanos() / 1e6);
        t.put("decode_tokens_per_second", result.timings().decodeTokensPerSecond());
        o.put("stop_reason", result.stopReason().name());
        if (model.experts() instanceof OffloadedExperts off) {
            CacheStats s = off.stats();
            ObjectNode c = o.putObject("experts");
            c.put("slots", off.layoutDescription());
            c.put("lookups", s.lookups());
            c.put("hits", s.hits());
            c.put("hit_rate", s.hitRate());
            c.put("bytes_copied", s.bytesCopied());
            c.put("prefetches_issued", s.prefetchesIssued());
            c.put("prefetches_used", s.prefetchesUsed());
            c.put("prefetches_wasted", s.prefetchesWasted());
            c.put("link_bytes", off.linkBytes());
            c.put("decode_stall_ms", off.stallMillis());
            c.put("demand_issue_layers", off.demandIssueLayers()); // decode layers with a demand copy call
            if (off.demandIssueLayers() > 0) { // the host's part of the router -> demand copy path in them
                c.put("demand_issue_us_mean", off.meanDemandIssueMicros());
            }
            StagedPrefetch.Stats st = off.stagingStats();
            if (st != null) {
                ObjectNode g = c.putObject("staging");
                g.put("chunks", st.chunks);
                g.put("bytes_staged", st.bytesIssued);
                g.put("experts_started", st.started);
                g.put("misses_served", st.used);
                g.put("bytes_used", st.bytesUsed);
                g.put("bytes_wasted", st.bytesWasted());
                g.put("bytes_displaced_by_bypass", st.bytesDisplacedByBypass); // of the wasted: overwritten before their step
                g.put("bytes_given_up", st.bytesGivenUp); // of the wasted: their buffer went to a likelier target
                g.put("windows_measured", st.windowsMeasured);
                g.put("windows_overrun", st.windowsOverrun);
                g.put("windows_short", st.windowsShort);
                g.put("windows_planned", st.windowsPlanned);
                g.put("windows_throttled", st.windowsThrottled);
                g.put("window_ms", st.windowNanos / 1e6);
                g.put("window_idle_below_budget_ms", st.idleBelowBudgetNanos / 1e6); // nothing more worth staging, or throttled
                g.put("window_idle_beyond_budget_ms", st.idleBeyondBudgetNanos / 1e6); // the window outlasted its budget
                g.put("staged_past_window_ms", st.pastWindowNanos / 1e6); // the next demand copies waited for these
            }
            EvictionFollowed f = off.evictionFollowed();
            if (f.lookups() > 0) {
                c.put("scheduled_lookups", f.lookups());
                c.put("untrusted_lookups", f.untrusted()); // evicted per layer by recent uses: the predictions evicted worse than LRU
                c.put("recurrence_lookups", f.recurrence()); // by the routing recurrence alone
                c.put("heads_and_recurrence_lookups", f.predictorAndRecurrence());
                c.put("heads_lookups", f.predictor()); // by the heads alone
                c.put("layer_shares_kept_lookups", f.sharesKept()); // of those, in a pool, per-layer eviction
            }
            if (off.headRecall() != null) {
                // recall@k of the lookahead heads per distance in steps (layers; next token = the layer count)
                ArrayNode heads = c.putArray("heads_recall_at_k");
                for (int d : off.headRecall().distances()) {
                    ObjectNode h = heads.addObject();
                    h.put("distance", d);
                    h.put("scored", off.headRecall().scored(d));
                    h.put("recall", off.headRecall().recall(d));
                }
            }
            if (off.tokenRecurrenceCounts() instanceof TokenRecurrence.Counts tr) {
                // the token recurrence: decode tokens begun, those after which it predicted the next one's experts,
                // experts it predicted for tokens that then ran, and of those the ones chosen
                ObjectNode rec = c.putObject("token_recurrence");
                rec.put("tokens", tr.tokens());
                rec.put("predicted_tokens", tr.predictedTokens());
                rec.put("predicted_experts", tr.predictedExperts());
                rec.put("chosen_experts", tr.chosenExperts());
            }
            c.put("prefill_streamed_copies", off.streamedCopies());
            ArrayNode layers = c.putArray("per_layer");
            for (int l = 0; l < s.layers(); l++) {
                ObjectNode x = layers.addObject();
                x.put("layer", l);
                x.put("hits", s.hits(l));
                x.put("misses", s.misses(l));
                x.put("hit_rate", s.hitRate(l));
                x.put("bytes_copied", s.bytesCopied(l));
            }
        }
        Files.writeString(file, json.writeValueAsString(o));
    }
}
