package dev.lookahead.gate;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * What alignment did to each head, measured on the held-out tokens: KL and recall before
 * (plug-and-play) and after training, next to the recall of a fixed guess (the target layer's
 * most frequent experts on the fitting tokens).
 *
 * @param topK the model's experts per token (the k of recall@k)
 */
public record AlignmentReport(int topK, int experts, Split split, AlignOptions options, List<HeadRow> rows) {
    private static final JsonMapper JSON = new JsonMapper();

    public AlignmentReport {
        rows = List.copyOf(rows);
    }

    /**
     * One head's result.
     *
     * @param longRangeOnly a head that exists for eviction only (distance beyond D, same token)
     * @param nextToken     a next-token head (l, L): layer l of the next token, for eviction
     * @param epochs        epochs run; {@code bestEpoch} the one kept (0 = the initial weights)
     */
    public record HeadRow(HeadId head, int targetLayer, boolean longRangeOnly, boolean nextToken, HeadMetrics before, HeadMetrics after, HeadMetrics prior,
                          int epochs, int bestEpoch, double validationKlBefore, double validationKlAfter) {
    }

    /** Means over the heads of one distance. */
    public record DistanceSummary(int distance, boolean nextToken, int heads, HeadMetrics before, HeadMetrics after,
                                  HeadMetrics prior) {
    }

    public List<DistanceSummary> byDistance() {
        // within-token heads first, then next-token heads; each by distance
        Map<Integer, List<HeadRow>> groups = new TreeMap<>();
        for (HeadRow r : rows) {
            int key = (r.nextToken() ? 1 << 20 : 0) + r.head().distance();
            groups.computeIfAbsent(key, d -> new ArrayList<>()).add(r);
        }
        List<DistanceSummary> out = new ArrayList<>();
        groups.forEach((key, rs) -> out.add(new DistanceSummary(rs.getFirst().head().distance(), rs.getFirst().nextToken(), rs.size(), mean(rs, HeadRow::before),
                mean(rs, HeadRow::after), mean(rs, HeadRow::prior))));
        return out;
    }

    private static HeadMetrics mean(List<HeadRow> rs, java.util.function.Function<HeadRow, HeadMetrics> f) {
        double kl = 0, r1 = 0, r2 = 0;
        for (HeadRow r : rs) {
            HeadMetrics m = f.apply(r);
            kl += m.kl();
            r1 += m.recallK();
            r2 += m.recall2K();
        }
        int n = rs.size();
        return new HeadMetrics(kl / n, r1 / n, r2 / n);
    }

    private int k2() {
        return Math.min(2 * topK, experts);
    }

    /** The full report as JSON. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("top_k", topK);
        o.put("recall_2k_k", k2());
        o.put("experts", experts);
        ObjectNode s = o.putObject("tokens");
        s.put("fit", split.fitTokens());
        s.put("validation", split.validationTokens());
        s.put("heldout", split.heldoutTokens());
        ObjectNode opt = o.putObject("options");
        opt.put("epochs", options.epochs());
        opt.put("lr", options.lr());
        opt.put("batch", options.batch());
        opt.put("seed", options.seed());
        opt.put("patience", options.patience());
        opt.put("holdout", options.holdout());
        opt.put("validation", options.validation());
        ArrayNode dist = o.putArray("by_distance");
        for (DistanceSummary d : byDistance()) {
            ObjectNode n = dist.addObject();
            n.put("distance", d.distance());
            n.put("next_token", d.nextToken());
            n.put("heads", d.heads());
            put(n.putObject("before"), d.before());
            put(n.putObject("after"), d.after());
            put(n.putObject("prior"), d.prior());
        }
        ArrayNode heads = o.putArray("heads");
        for (HeadRow r : rows) {
            ObjectNode n = heads.addObject();
            n.put("layer", r.head().layer());
            n.put("distance", r.head().distance());
            n.put("target", r.head().target());
            n.put("target_layer", r.targetLayer());
            n.put("long_range_only", r.longRangeOnly());
            n.put("next_token", r.nextToken());
            n.put("epochs", r.epochs());
            n.put("best_epoch", r.bestEpoch());
            n.put("validation_kl_before", r.validationKlBefore());
            n.put("validation_kl_after", r.validationKlAfter());
            put(n.putObject("before"), r.before());
            put(n.putObject("after"), r.after());
            put(n.putObject("prior"), r.prior());
        }
        return o;
    }

    private static void put(ObjectNode n, HeadMetrics m) {
        if (!Double.isNaN(m.kl())) n.put("kl", m.kl());
        n.put("recall_k", m.recallK());
        n.put("recall_2k", m.recall2K());
    }

    /** A compact summary (per-distance means, token counts, options) for a heads file's metadata. */
    public String summaryJson() {
        ObjectNode o = toJson();
        o.remove("heads");
        return o.toString();
    }

    /** Per-distance means and per-head rows as an aligned text table. */
    public String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "held-out tokens: %d (fit %d, validation %d); r@%d, r@%d: fraction of the"
                        + " router's top-%d found in the prediction's top-%d, top-%d%n", split.heldoutTokens(), split.fitTokens(),
                split.validationTokens(), topK, k2(), topK, topK, k2()));
        String r1 = "r@" + topK, r2 = "r@" + k2();
        String top = String.format(Locale.ROOT, "%-14s | %-20s | %-20s | %-13s%n", "", "plug-and-play", "aligned", "prior (fixed)");
        String cols = String.format(Locale.ROOT, "%-8s %5s | %6s %6s %6s | %6s %6s %6s | %6s %6s%n",
                "", "heads", "KL", r1, r2, "KL", r1, r2, r1, r2);
        sb.append(top).append(cols);
        for (DistanceSummary d : byDistance()) {
            sb.append(String.format(Locale.ROOT, "%-8s %5d | %s | %s | %s%n", "d=" + d.distance() + (d.nextToken() ? "'" : ""), d.heads(),
                    cells(d.before()), cells(d.after()), prior(d.prior())));
        }
        sb.append('\n').append(top).append(cols.replaceFirst("^ {8} heads", "head     epoch"));
        int layers = rows.stream().mapToInt(r -> r.head().layer()).max().orElse(0) + 1; // next-token heads read every layer
        for (HeadRow r : rows) {
            String name = r.nextToken() ? r.head().layer() + "->" + r.targetLayer() + "'".repeat(r.head().tokensAhead(layers))
                    : r.head() + (r.longRangeOnly() ? "*" : "");
            sb.append(String.format(Locale.ROOT, "%-8s %5s | %s | %s | %s%n", name, r.bestEpoch() + "/" + r.epochs(),
                    cells(r.before()), cells(r.after()), prior(r.prior())));
        }
        sb.append("* long-range head (for eviction); l->m': next-token head (layer m of the next token, for eviction; d = L - l + m),"
                + " l->l'': layer l two tokens ahead (d = 2L); epoch: kept/run, 0 = the plug-and-play weights were kept\n");
        return sb.toString();
    }

    private static String cells(HeadMetrics m) {
        return String.format(Locale.ROOT, "%6.3f %6.3f %6.3f", m.kl(), m.recallK(), m.recall2K());
    }

    private static String prior(HeadMetrics m) {
        return String.format(Locale.ROOT, "%6.3f %6.3f", m.recallK(), m.recall2K());
    }
}
