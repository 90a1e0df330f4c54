package dev.lookahead.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.sched.EvictionFollowed;

/**
 * One bench run's rows as JSON ({@code bench --json}): what {@link PolicyBench#table(PolicyBench.Result, String)}
 * prints, as numbers, for tools that compare runs (dashboards, the GPU lease's logs). Speeds and stalls are medians over
 * the rounds, counts are of all rounds together, as in the table; each row also lists its rounds. A value that does
 * not exist (no link bandwidth for an overlap bound, no gap between LRU and Belady, no heads) is null, never NaN.
 */
public final class BenchJson {
    private BenchJson() {
    }

    /** Writes {@code result}'s rows, ceilings and reference figures into {@code o}; speed-ups against {@code baseline}. */
    public static void fill(ObjectNode o, PolicyBench.Result result, String baseline) {
        number(o, "compute_ms_per_token", result.computeMsPerToken()); // all-resident decode: the compute-only time
        number(o, "link_bytes_per_second", result.linkBytesPerSecond() > 0 ? result.linkBytesPerSecond() : Double.NaN);
        o.put("expert_bytes", result.expertBytes());
        o.put("rounds", result.rounds());
        o.put("baseline", baseline);
        HitRateCeilings c = result.ceilings();
        if (c != null) {
            ObjectNode n = o.putObject("ceilings");
            n.put("decode_tokens", c.tokens());
            n.put("slots_per_layer", c.slotsPerLayer());
            n.put("lru_per_layer", c.lru());
            n.put("belady_per_layer", c.beladyPerLayer());
            n.put("belady_pool", c.beladyPool());
            n.put("two_tokens_ahead_per_layer", c.twoTokensPerLayer());
            n.put("two_tokens_ahead_pool", c.twoTokensPool());
        }
        PolicyBench.Row base = result.rows().stream().filter(r -> r.policy().equals(baseline)).findFirst().orElse(null);
        ArrayNode rows = o.putArray("rows");
        for (PolicyBench.Row r : result.rows()) row(rows.addObject(), r, base, result);
    }

    private static void row(ObjectNode n, PolicyBench.Row r, PolicyBench.Row base, PolicyBench.Result result) {
        n.put("policy", r.policy());
        n.put("decode_tokens_per_second", r.decodeTokensPerSecond());
        if (base != null) {
            Rounds.Spread s = Rounds.Spread.of(Rounds.perRoundRatios(r.roundTokensPerSecond(), base.roundTokensPerSecond()));
            ObjectNode v = n.putObject("speedup");
            v.put("median", s.median());
            v.put("min", s.min());
            v.put("max", s.max());
        }
        n.put("hit_rate", r.hitRate());
        n.put("stall_ms_per_token", r.stallMsPerToken());
        n.put("copied_mib_per_token", r.copiedMiBPerToken());
        n.put("prefetches_issued", r.prefetchesIssued());
        n.put("prefetches_used", r.prefetchesUsed());
        n.put("same_tokens", r.sameTokens());
        boolean offloaded = !r.policy().equals("all-resident");
        if (offloaded) number(n, "time_over_overlap_bound", result.timeOverBound(r));
        number(n, "demand_issue_us", r.demandIssueMicros());
        HitRateCeilings c = result.ceilings();
        if (offloaded && c != null) {
            double h = c.effectiveHitRate(r.copiedMiBPerToken() * 1048576.0, result.expertBytes());
            n.put("effective_hit_rate", h);
            number(n, "effective_gap_closed", c.gapClosed(h));
        }
        ArrayNode rounds = n.putArray("per_round");
        for (PolicyBench.RoundSample s : r.rounds()) {
            ObjectNode x = rounds.addObject();
            x.put("decode_tokens_per_second", s.decodeTokensPerSecond());
            x.put("copied_mib_per_token", s.copiedMiBPerToken());
        }
        if (ResidencyPolicies.byName(r.policy()).scheduled()) selfChecks(n.putObject("self_checks"), r, result);
    }

    private static void selfChecks(ObjectNode n, PolicyBench.Row r, PolicyBench.Result result) {
        PolicyBench.SelfChecks checks = r.checks();
        EvictionFollowed f = checks.followed();
        ObjectNode e = n.putObject("eviction_followed"); // lookups, by the estimate eviction followed (shadow caches)
        e.put("lookups", f.lookups());
        e.put("heads_and_recurrence", f.predictorAndRecurrence());
        e.put("heads", f.predictor());
        e.put("recurrence", f.recurrence());
        e.put("recent_uses", f.untrusted()); // no estimate evicted better than LRU
        e.put("layer_shares_kept", f.sharesKept());
        number(n, "heads_recall_next_layer", checks.recallNextLayer());
        number(n, "heads_recall_next_token", checks.recallNextToken());
        number(n, "token_recurrence_coverage", checks.recurrenceCoverage());
        number(n, "token_recurrence_precision", checks.recurrencePrecision());
        PolicyBench.Staged s = checks.staged();
        ObjectNode g = n.putObject("staging");
        g.put("experts_started", s.started());
        g.put("misses_served", s.used());
        g.put("staged_mib_per_token", s.stagedMiBPerToken());
        g.put("used_mib_per_token", s.usedMiBPerToken());
        g.put("displaced_by_bypass_mib_per_token", s.displacedMiBPerToken()); // unused: a bypass overwrote them
        g.put("given_up_mib_per_token", s.givenUpMiBPerToken()); // unused: a likelier target took the buffer
        g.put("windows_throttled_share", s.throttledShare());
        PolicyBench.Windows w = s.windows();
        g.put("window_ms_per_token", w.lengthMs());
        g.put("window_idle_below_budget_ms_per_token", w.idleBelowBudgetMs()); // nothing more worth staging, or throttled
        g.put("window_idle_beyond_budget_ms_per_token", w.idleBeyondBudgetMs()); // the window outlasted its budget
        g.put("staged_past_window_ms_per_token", w.pastWindowMs()); // the next demand copies waited for these
        HitRateCeilings c = result.ceilings();
        if (s.started() > 0 && c != null) {
            double h = c.effectiveHitRate(s.demandMiBPerToken() * 1048576.0, result.expertBytes());
            n.put("eviction_alone_hit_rate", h);
            number(n, "eviction_alone_gap_closed", c.gapClosed(h));
        }
    }

    /** A number, or null where it does not exist (NaN): JSON has no NaN. */
    private static void number(ObjectNode o, String key, double value) {
        if (Double.isNaN(value)) o.putNull(key);
        else o.put(key, value);
    }
}
