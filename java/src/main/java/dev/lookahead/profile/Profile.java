package dev.lookahead.profile;

import dev.lookahead.engine.Timeline.Span;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A recorded timeline: every span of every track, with times in nanoseconds since the start of
 * the first token, on the host clock (device spans are mapped onto it, see {@link EventTimeline}).
 *
 * @param tracks the host and each stream seen, in order of first use
 * @param tokens one window per generated token (a forward call outside a token gets its own)
 * @param spans  every span, sorted by start time (a parent before the children that start with it)
 */
public record Profile(List<Track> tracks, List<TokenWindow> tokens, List<SpanRecord> spans) {
    public Profile {
        tracks = List.copyOf(tracks);
        tokens = List.copyOf(tokens);
        spans = List.copyOf(spans);
    }

    public enum Role { HOST, COMPUTE, COPY }

    /** A row of the timeline: the host thread or one stream. */
    public record Track(int id, String name, Role role) {}

    /**
     * One token: the host's wall time from the start of its step to the sampled token.
     *
     * @param inputTokens    tokens its forward call ran (the prompt for the first token, then 1)
     * @param pos            position of the first of them
     * @param forwardNanos   time inside its forward call(s), the rest being sampling and host work
     * @param alignmentNanos bound on the error of placing its device spans on the host clock
     */
    public record TokenWindow(int index, int inputTokens, long pos, long startNanos, long endNanos, long forwardNanos,
                              long alignmentNanos) {
        public long wallNanos() {
            return endNanos - startNanos;
        }

        public boolean prefill() {
            return inputTokens > 1;
        }

        public String describe() {
            return prefill() ? "prefill " + inputTokens + " tokens" : "decode pos " + pos;
        }
    }

    /**
     * A span; {@code parent} is the id of the span it nests in on the same track, -1 at the top.
     * {@code layer}/{@code expert} are -1 where they do not apply; {@code token} is the token window
     * it was opened in (a copy issued by one token may run into the next).
     */
    public record SpanRecord(int id, int parent, int track, Span kind, int layer, int expert, int token,
                             long startNanos, long endNanos) {
        public long durationNanos() {
            return endNanos - startNanos;
        }

        /** A display name: "L3 attention", "L3 E5 copy on-demand", ... */
        public String name() {
            StringBuilder b = new StringBuilder();
            if (layer >= 0) b.append('L').append(layer).append(' ');
            if (expert >= 0) b.append('E').append(expert).append(' ');
            return b.append(kind.label()).toString();
        }
    }

    public Track track(Role role) {
        for (Track t : tracks) if (t.role() == role) return t;
        return null;
    }

    /** Duration minus the durations of the span's children (its own time), per span id. */
    public Map<Integer, Long> selfNanos() {
        Map<Integer, Long> self = new HashMap<>();
        for (SpanRecord s : spans) self.put(s.id(), s.durationNanos());
        for (SpanRecord s : spans) if (s.parent() >= 0) self.merge(s.parent(), -s.durationNanos(), Long::sum);
        return self;
    }

    /** Nesting depth of each span on its track (0 at the top), per span id. */
    public Map<Integer, Integer> depths() {
        Map<Integer, Integer> depth = new HashMap<>();
        // spans are sorted by start and a parent comes before its children: one pass suffices
        for (SpanRecord s : spans) depth.put(s.id(), s.parent() < 0 ? 0 : depth.getOrDefault(s.parent(), 0) + 1);
        return depth;
    }

    public List<SpanRecord> spansOf(int track) {
        List<SpanRecord> out = new ArrayList<>();
        for (SpanRecord s : spans) if (s.track() == track) out.add(s);
        return out;
    }
}
