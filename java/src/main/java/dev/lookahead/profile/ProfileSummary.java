package dev.lookahead.profile;

import dev.lookahead.engine.Timeline.Span;
import dev.lookahead.profile.Profile.Role;
import dev.lookahead.profile.Profile.SpanRecord;
import dev.lookahead.profile.Profile.TokenWindow;
import dev.lookahead.profile.Profile.Track;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where each token's wall time went. The compute stream runs one thing at a time, so its spans'
 * own times (duration minus children) do not overlap; the categories below are those own times,
 * plus the stream's idle time inside the forward call and the host time after it, and add up to
 * the token's wall time exactly.
 *
 * @param prefillTokens token windows whose forward ran more than one token (the prompt)
 * @param decodeTokens  token windows of one-token decode steps
 * @param prefill       nanoseconds per category summed over the prefill windows
 * @param decode        nanoseconds per category summed over the decode windows
 * @param layers        per layer, decode windows only
 * @param copies        copy-stream spans per kind (all windows)
 */
public record ProfileSummary(int prefillTokens, int decodeTokens, Map<Category, Long> prefill, Map<Category, Long> decode,
                             List<LayerRow> layers, Map<Span, CopyStat> copies, long maxAlignmentNanos,
                             long prefillWallNanos, long decodeWallNanos) {

    public enum Category {
        ATTENTION("attention"),
        ROUTER("router + read-back (device)"),
        TURNAROUND("read-back turnaround (stream idle)"),
        PLANNING("expert planning (stream idle)"),
        EXPERTS("experts compute"),
        COPY_WAIT("copy-wait stall"),
        EMBED_HEAD("embedding + lm head"),
        OTHER("other stream idle in forward"),
        SAMPLING("sampling + host");

        private final String label;

        Category(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /** Per layer, summed over the decode windows (divide by decodeTokens for a per-token mean). */
    public record LayerRow(int layer, long attentionNanos, long routerNanos, long idleNanos, long expertsNanos,
                           long copyWaitNanos, int onDemandCopies, long onDemandNanos, int speculativeCopies,
                           long speculativeNanos) {}

    public record CopyStat(int count, long nanos) {}

    public static ProfileSummary of(Profile p) {
        Track compute = p.track(Role.COMPUTE);
        Map<Integer, Long> self = p.selfNanos();
        int layerCount = 0;
        for (SpanRecord s : p.spans()) layerCount = Math.max(layerCount, s.layer() + 1);
        long[][] perToken = new long[p.tokens().size()][Category.values().length];
        long[][] layer = new long[layerCount][9];
        Map<Span, CopyStat> copies = new EnumMap<>(Span.class);
        for (SpanRecord s : p.spans()) {
            TokenWindow t = p.tokens().get(s.token());
            boolean decode = !t.prefill();
            Track track = p.tracks().get(s.track() - 1);
            if (track.role() == Role.COPY) {
                copies.merge(s.kind(), new CopyStat(1, s.durationNanos()),
                        (a, b) -> new CopyStat(a.count() + b.count(), a.nanos() + b.nanos()));
                if (decode && s.layer() >= 0 && s.kind() == Span.COPY_ON_DEMAND) {
                    layer[s.layer()][5]++;
                    layer[s.layer()][6] += s.durationNanos();
                } else if (decode && s.layer() >= 0 && s.kind() == Span.COPY_SPECULATIVE) {
                    layer[s.layer()][7]++;
                    layer[s.layer()][8] += s.durationNanos();
                }
                continue;
            }
            if (compute == null || s.track() != compute.id()) continue;
            Category c = categoryOf(s.kind());
            long own = self.get(s.id());
            perToken[s.token()][c.ordinal()] += own;
            if (decode && s.layer() >= 0) {
                int column = switch (c) {
                    case ATTENTION -> 0;
                    case ROUTER -> 1;
                    case TURNAROUND, PLANNING -> 2;
                    case EXPERTS -> 3;
                    case COPY_WAIT -> 4;
                    default -> -1;
                };
                if (column >= 0) layer[s.layer()][column] += own;
            }
        }
        Map<Category, Long> prefill = zeros(), decode = zeros();
        int prefillTokens = 0, decodeTokens = 0;
        long maxAlign = 0, prefillWall = 0, decodeWall = 0;
        for (TokenWindow t : p.tokens()) {
            long[] c = perToken[t.index()];
            long device = 0;
            for (Category k : Category.values()) device += c[k.ordinal()];
            c[Category.OTHER.ordinal()] = t.forwardNanos() - device;
            c[Category.SAMPLING.ordinal()] = t.wallNanos() - t.forwardNanos();
            Map<Category, Long> into = t.prefill() ? prefill : decode;
            for (Category k : Category.values()) into.merge(k, c[k.ordinal()], Long::sum);
            if (t.prefill()) {
                prefillTokens++;
                prefillWall += t.wallNanos();
            } else {
                decodeTokens++;
                decodeWall += t.wallNanos();
            }
            maxAlign = Math.max(maxAlign, t.alignmentNanos());
        }
        List<LayerRow> rows = new ArrayList<>();
        for (int l = 0; l < layerCount; l++) {
            long[] r = layer[l];
            rows.add(new LayerRow(l, r[0], r[1], r[2], r[3], r[4], (int) r[5], r[6], (int) r[7], r[8]));
        }
        return new ProfileSummary(prefillTokens, decodeTokens, prefill, decode, rows, copies, maxAlign, prefillWall, decodeWall);
    }

    private static Category categoryOf(Span kind) {
        return switch (kind) {
            case ATTENTION -> Category.ATTENTION;
            case ROUTER -> Category.ROUTER;
            case LAYER -> Category.TURNAROUND;       // the layer's own time: the stream idle between router and experts
            case EXPERTS -> Category.PLANNING;       // its own time: idle while the host plans and enqueues experts
            case EXPERT -> Category.EXPERTS;
            case COPY_WAIT -> Category.COPY_WAIT;
            case EMBEDDING, LM_HEAD -> Category.EMBED_HEAD;
            default -> throw new IllegalArgumentException("not a compute-stream span: " + kind);
        };
    }

    private static Map<Category, Long> zeros() {
        Map<Category, Long> m = new EnumMap<>(Category.class);
        for (Category c : Category.values()) m.put(c, 0L);
        return m;
    }

    /** The printed summary: milliseconds per token by category, copies, and per-layer decode figures. */
    public String format() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%-40s %12s %16s %8s%n", "where the time went per token",
                "prefill ms", "decode ms/token", "share"));
        for (Category c : Category.values()) {
            b.append(String.format(Locale.ROOT, "  %-38s %12s %16s %8s%n", c.label(), prefillMs(prefill.get(c)),
                    decodeMs(decode.get(c)), share(decode.get(c))));
        }
        b.append(String.format(Locale.ROOT, "  %-38s %12s %16s %8s%n", "total (token wall time)", prefillMs(prefillWallNanos),
                decodeMs(decodeWallNanos), decodeTokens == 0 ? "-" : "100.0 %"));
        if (decodeTokens > 0) {
            b.append(String.format(Locale.ROOT, "decode: %d tokens, %.2f tokens/s%n", decodeTokens,
                    decodeTokens * 1e9 / decodeWallNanos));
        }
        if (!copies.isEmpty()) {
            b.append("copy stream (all tokens):");
            for (var e : copies.entrySet()) {
                b.append(String.format(Locale.ROOT, "  %s %d in %.3f ms", e.getKey().label(), e.getValue().count(),
                        e.getValue().nanos() / 1e6));
            }
            b.append(System.lineSeparator());
        }
        if (decodeTokens > 0 && !layers.isEmpty()) {
            b.append(String.format(Locale.ROOT, "per layer, decode ms/token:%n  %5s %9s %9s %9s %9s %9s %15s %15s%n", "layer",
                    "attention", "router", "idle", "experts", "stall", "on-demand n/ms", "specul. n/ms"));
            for (LayerRow r : layers) {
                b.append(String.format(Locale.ROOT, "  %5d %9.3f %9.3f %9.3f %9.3f %9.3f %6.2f/%8.3f %6.2f/%8.3f%n", r.layer(),
                        perDecode(r.attentionNanos()), perDecode(r.routerNanos()), perDecode(r.idleNanos()),
                        perDecode(r.expertsNanos()), perDecode(r.copyWaitNanos()), (double) r.onDemandCopies() / decodeTokens,
                        perDecode(r.onDemandNanos()), (double) r.speculativeCopies() / decodeTokens, perDecode(r.speculativeNanos())));
            }
        }
        b.append(String.format(Locale.ROOT, "clock alignment: device spans are placed at most %.3f ms early on the host clock%n",
                maxAlignmentNanos / 1e6));
        return b.toString();
    }

    /** Milliseconds per decode token of a sum over the decode windows. */
    public double perDecode(long nanos) {
        return decodeTokens == 0 ? 0 : nanos / 1e6 / decodeTokens;
    }

    private String prefillMs(long nanos) {
        return prefillTokens == 0 ? "-" : String.format(Locale.ROOT, "%.3f", nanos / 1e6 / prefillTokens);
    }

    private String decodeMs(long nanos) {
        return decodeTokens == 0 ? "-" : String.format(Locale.ROOT, "%.3f", perDecode(nanos));
    }

    private String share(long nanos) {
        return decodeTokens == 0 || decodeWallNanos == 0 ? "-" : String.format(Locale.ROOT, "%.1f %%", 100.0 * nanos / decodeWallNanos);
    }
}
