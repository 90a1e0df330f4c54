package dev.lookahead.profile;

import dev.lookahead.engine.Timeline.Span;
import dev.lookahead.profile.Profile.SpanRecord;
import dev.lookahead.profile.Profile.TokenWindow;
import dev.lookahead.profile.Profile.Track;
import dev.lookahead.profile.ProfileSummary.Category;
import dev.lookahead.profile.ProfileSummary.LayerRow;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A single self-contained HTML file (inline CSS and SVG, no script, nothing fetched): the
 * per-token breakdown, per-layer stacked bars of decode time (stalls in red) with their table, and
 * the timeline of the first few decode tokens on every track (hover a span for its name and time).
 */
public final class HtmlReport {
    /** Decode tokens drawn in the timeline (more would make spans too thin to see). */
    static final int TIMELINE_TOKENS = 3;
    private static final int LABEL_W = 170, PLOT_W = 1000, ROW_H = 14;

    private static final Map<Category, String> CATEGORY_COLOR = new EnumMap<>(Map.of(
            Category.ATTENTION, "#4e79a7", Category.ROUTER, "#f28e2b", Category.TURNAROUND, "#bab0ac",
            Category.PLANNING, "#d4a6c8", Category.EXPERTS, "#59a14f", Category.COPY_WAIT, "#e15759",
            Category.EMBED_HEAD, "#76b7b2", Category.OTHER, "#e0e0e0", Category.SAMPLING, "#9c755f"));

    private HtmlReport() {
    }

    public static void write(Profile profile, ProfileSummary summary, String title, Map<String, String> info, Path out)
            throws IOException {
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        Files.writeString(out, render(profile, summary, title, info), StandardCharsets.UTF_8);
    }

    static String render(Profile profile, ProfileSummary summary, String title, Map<String, String> info) {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
                .append(esc("lookahead profile: " + title)).append("</title>\n<style>\n")
                .append("body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}")
                .append("td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}")
                .append(".key{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}")
                .append("svg text{font:11px system-ui,sans-serif}\n</style></head><body>\n");
        h.append("<h1>lookahead profile</h1>\n<table class=\"info\">\n");
        for (var e : info.entrySet()) h.append("<tr><td>").append(esc(e.getKey())).append("</td><td>").append(esc(e.getValue())).append("</td></tr>\n");
        h.append("</table>\n");
        breakdown(h, summary);
        layers(h, summary);
        timeline(h, profile);
        h.append("</body></html>\n");
        return h.toString();
    }

    private static void breakdown(StringBuilder h, ProfileSummary s) {
        h.append("<h2>Where the time went per token</h2>\n");
        boolean decode = s.decodeTokens() > 0;
        Map<Category, Long> shown = decode ? s.decode() : s.prefill();
        long total = decode ? s.decodeWallNanos() : s.prefillWallNanos();
        if (total > 0) {
            h.append("<svg width=\"").append(PLOT_W + 20).append("\" height=\"30\">");
            double x = 0;
            for (Category c : Category.values()) {
                double w = Math.max(0, shown.get(c)) * (double) PLOT_W / total;
                h.append(String.format(Locale.ROOT, "<rect x=\"%.2f\" y=\"4\" width=\"%.2f\" height=\"22\" fill=\"%s\"><title>%s: %.1f %%</title></rect>",
                        x, w, CATEGORY_COLOR.get(c), esc(c.label()), 100.0 * shown.get(c) / total));
                x += w;
            }
            h.append("</svg>\n<p>").append(decode ? "decode tokens" : "prefill token").append(", share of the wall time</p>\n");
        }
        h.append("<table class=\"breakdown\"><tr><th>category</th><th>prefill ms</th><th>decode ms/token</th><th>decode share</th></tr>\n");
        for (Category c : Category.values()) {
            h.append("<tr><td><span class=\"key\" style=\"background:").append(CATEGORY_COLOR.get(c)).append("\"></span>")
                    .append(esc(c.label())).append("</td>")
                    .append(cell(s.prefillTokens() == 0 ? null : s.prefill().get(c) / 1e6 / s.prefillTokens()))
                    .append(cell(decode ? s.perDecode(s.decode().get(c)) : null))
                    .append("<td>").append(decode && s.decodeWallNanos() > 0
                            ? String.format(Locale.ROOT, "%.1f %%", 100.0 * s.decode().get(c) / s.decodeWallNanos()) : "-")
                    .append("</td></tr>\n");
        }
        h.append("<tr><th>total (token wall time)</th>")
                .append(cell(s.prefillTokens() == 0 ? null : s.prefillWallNanos() / 1e6 / s.prefillTokens()))
                .append(cell(decode ? s.perDecode(s.decodeWallNanos()) : null)).append("<td></td></tr>\n</table>\n");
        if (!s.copies().isEmpty()) {
            h.append("<p>copy stream (all tokens): ");
            for (var e : s.copies().entrySet()) {
                h.append(esc(e.getKey().label())).append(String.format(Locale.ROOT, " %d in %.3f ms; ",
                        e.getValue().count(), e.getValue().nanos() / 1e6));
            }
            h.append("</p>\n");
        }
        h.append(String.format(Locale.ROOT, "<p>Clock alignment: device spans are placed at most %.3f ms early on the host clock.</p>%n",
                s.maxAlignmentNanos() / 1e6));
    }

    private static void layers(StringBuilder h, ProfileSummary s) {
        if (s.decodeTokens() == 0 || s.layers().isEmpty()) return;
        h.append("<h2>Per layer: decode ms per token</h2>\n");
        double max = 0;
        for (LayerRow r : s.layers()) {
            max = Math.max(max, s.perDecode(r.attentionNanos() + r.routerNanos() + r.idleNanos() + r.expertsNanos() + r.copyWaitNanos()));
        }
        String[] names = {"attention", "router + read-back", "stream idle (turnaround, planning)", "experts compute", "copy-wait stall"};
        String[] colors = {CATEGORY_COLOR.get(Category.ATTENTION), CATEGORY_COLOR.get(Category.ROUTER),
                CATEGORY_COLOR.get(Category.TURNAROUND), CATEGORY_COLOR.get(Category.EXPERTS), CATEGORY_COLOR.get(Category.COPY_WAIT)};
        h.append("<p>");
        for (int i = 0; i < names.length; i++) {
            h.append("<span class=\"key\" style=\"background:").append(colors[i]).append("\"></span>").append(esc(names[i])).append(" &nbsp; ");
        }
        h.append("</p>\n");
        int barH = 16, height = s.layers().size() * (barH + 4) + 24;
        h.append("<svg class=\"layers\" width=\"").append(LABEL_W + PLOT_W + 80).append("\" height=\"").append(height).append("\">\n");
        for (LayerRow r : s.layers()) {
            int y = r.layer() * (barH + 4) + 4;
            double[] ms = {s.perDecode(r.attentionNanos()), s.perDecode(r.routerNanos()), s.perDecode(r.idleNanos()),
                    s.perDecode(r.expertsNanos()), s.perDecode(r.copyWaitNanos())};
            h.append("<g data-layer=\"").append(r.layer()).append("\"><text x=\"0\" y=\"").append(y + 12).append("\">layer ")
                    .append(r.layer()).append("</text>");
            double x = LABEL_W;
            double total = 0;
            for (int i = 0; i < ms.length; i++) {
                double w = max == 0 ? 0 : ms[i] / max * PLOT_W;
                h.append(String.format(Locale.ROOT, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"><title>layer %d %s: %.3f ms</title></rect>",
                        x, y, w, barH, colors[i], r.layer(), esc(names[i]), ms[i]));
                x += w;
                total += ms[i];
            }
            h.append(String.format(Locale.ROOT, "<text x=\"%.2f\" y=\"%d\">%.3f ms</text></g>%n", x + 4, y + 12, total));
        }
        h.append("</svg>\n");
        h.append("<table class=\"layers\"><tr><th>layer</th><th>attention</th><th>router + read-back</th><th>stream idle</th>")
                .append("<th>experts</th><th>copy-wait stall</th><th>on-demand copies</th><th>on-demand ms</th>")
                .append("<th>speculative copies</th><th>speculative ms</th></tr>\n");
        for (LayerRow r : s.layers()) {
            h.append("<tr data-layer=\"").append(r.layer()).append("\"><td>").append(r.layer()).append("</td>")
                    .append(cell(s.perDecode(r.attentionNanos()))).append(cell(s.perDecode(r.routerNanos())))
                    .append(cell(s.perDecode(r.idleNanos()))).append(cell(s.perDecode(r.expertsNanos())))
                    .append(cell(s.perDecode(r.copyWaitNanos())))
                    .append(String.format(Locale.ROOT, "<td>%.2f</td>", (double) r.onDemandCopies() / s.decodeTokens()))
                    .append(cell(s.perDecode(r.onDemandNanos())))
                    .append(String.format(Locale.ROOT, "<td>%.2f</td>", (double) r.speculativeCopies() / s.decodeTokens()))
                    .append(cell(s.perDecode(r.speculativeNanos()))).append("</tr>\n");
        }
        h.append("</table>\n<p>Per decode token, in ms; copies are counted per token and attributed to the layer of the expert copied.</p>\n");
    }

    private static void timeline(StringBuilder h, Profile p) {
        if (p.tokens().isEmpty()) return;
        int first = 0;
        while (first < p.tokens().size() && p.tokens().get(first).prefill()) first++;
        if (first == p.tokens().size()) first = 0;
        int last = Math.min(p.tokens().size(), first + TIMELINE_TOKENS) - 1;
        TokenWindow a = p.tokens().get(first), b = p.tokens().get(last);
        long start = a.startNanos(), end = b.endNanos();
        double scale = (double) PLOT_W / Math.max(1, end - start);
        Map<Integer, Integer> depth = p.depths();
        h.append("<h2>Timeline</h2>\n<p>Tokens ").append(first).append(" to ").append(last).append(String.format(Locale.ROOT,
                " (%.3f ms). Device spans are measured by events on their stream; hover a span for its time.</p>%n", (end - start) / 1e6));
        StringBuilder body = new StringBuilder();
        int y = 18;
        for (Track t : p.tracks()) {
            List<SpanRecord> in = new ArrayList<>();
            int rows = 1;
            for (SpanRecord s : p.spansOf(t.id())) {
                if (s.endNanos() < start || s.startNanos() > end) continue;
                in.add(s);
                rows = Math.max(rows, depth.get(s.id()) + 1);
            }
            body.append("<text x=\"0\" y=\"").append(y + 11).append("\">").append(esc(t.name())).append("</text>\n");
            for (SpanRecord s : in) {
                double x0 = LABEL_W + Math.max(0, s.startNanos() - start) * scale;
                double x1 = LABEL_W + Math.min(end - start, s.endNanos() - start) * scale;
                int sy = y + depth.get(s.id()) * ROW_H;
                body.append(String.format(Locale.ROOT, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\" stroke=\"#fff\" stroke-width=\"0.3\"><title>%s: %.3f ms</title></rect>%n",
                        x0, sy, Math.max(0.5, x1 - x0), ROW_H - 2, color(s.kind()),
                        esc(ChromeTrace.displayName(s, p.tokens().get(s.token()))), s.durationNanos() / 1e6));
            }
            y += rows * ROW_H + 10;
        }
        h.append("<svg class=\"timeline\" width=\"").append(LABEL_W + PLOT_W + 10).append("\" height=\"").append(y + 4).append("\">\n");
        h.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"12\">0 ms</text><text x=\"%d\" y=\"12\" text-anchor=\"end\">%.3f ms</text>%n",
                LABEL_W, LABEL_W + PLOT_W, (end - start) / 1e6));
        h.append(body).append("</svg>\n<p>");
        for (Span k : Span.values()) {
            h.append("<span class=\"key\" style=\"background:").append(color(k)).append("\"></span>").append(esc(k.label())).append(" &nbsp; ");
        }
        h.append("</p>\n");
    }

    private static String color(Span kind) {
        return switch (kind) {
            case TOKEN -> "#cfcfcf";
            case FORWARD -> "#a0a0a0";
            case ALIGN, STEP -> "#f0f0f0";
            case READBACK -> "#f6c28b";
            case EXPERT_PLAN -> "#d4a6c8";
            case SAMPLE -> CATEGORY_COLOR.get(Category.SAMPLING);
            case EMBEDDING, LM_HEAD -> CATEGORY_COLOR.get(Category.EMBED_HEAD);
            case LAYER -> CATEGORY_COLOR.get(Category.TURNAROUND);
            case ATTENTION -> CATEGORY_COLOR.get(Category.ATTENTION);
            case ROUTER -> CATEGORY_COLOR.get(Category.ROUTER);
            case EXPERTS -> "#8cd17d";
            case EXPERT -> CATEGORY_COLOR.get(Category.EXPERTS);
            case COPY_WAIT -> CATEGORY_COLOR.get(Category.COPY_WAIT);
            case SLOT_WAIT -> "#ff9d9a";
            case COPY_ON_DEMAND -> "#b07aa1";
            case COPY_SPECULATIVE -> "#edc948";
            case COPY_STAGED -> "#86bcb6";
        };
    }

    private static String cell(Double ms) {
        return ms == null ? "<td>-</td>" : String.format(Locale.ROOT, "<td>%.3f</td>", ms);
    }

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
