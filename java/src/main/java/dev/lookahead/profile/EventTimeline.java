package dev.lookahead.profile;

import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.Event;
import dev.lookahead.bindings.Stream;
import dev.lookahead.engine.Timeline;
import dev.lookahead.profile.Profile.Role;
import dev.lookahead.profile.Profile.SpanRecord;
import dev.lookahead.profile.Profile.TokenWindow;
import dev.lookahead.profile.Profile.Track;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link Timeline} that records device spans as pairs of events (from a pool) and host spans
 * with {@link System#nanoTime()}, and resolves the events to times once they have completed.
 *
 * <p>Clock alignment: at the start of each forward call the compute stream is synchronized (it is
 * idle then anyway: the previous call ended with a synchronization), the host reads its clock
 * ({@code t0}), records a reference event on the compute stream and waits for it ({@code t1}).
 * A device time {@code d} is placed at {@code t0 + (d - ref)}. The reference completed at some
 * host time in [t0, t1], so a device span is placed at most {@code t1 - t0} earlier than it
 * happened and never later; since its work was enqueued after the reference and finished before
 * the host's closing synchronization returned, it always lies inside its forward call's host span.
 * {@code t1 - t0} is kept per token ({@link TokenWindow#alignmentNanos()}). Event times are
 * differences to the reference of the forward call the span was opened in (float milliseconds from
 * the backend: sub-microsecond resolution over the seconds a forward call takes).
 *
 * <p>The device spans EMBEDDING, LAYER and LM_HEAD are mirrored by host spans of the same kind: the
 * host's own time in that phase (enqueueing; for a layer also the read-back wait and the expert
 * planning, which nest inside it). With them and the token's step setup and sampling spans, the
 * host track accounts for the token's wall time up to the few host statements between phases.
 *
 * <p>Copies issued by one token may still run when it ends: their spans are resolved later, when
 * their events complete, and at the latest in {@link #finish()}.
 *
 * <p>Single-threaded, like the forward pass. Close it (after the model's last use of it, before
 * the device) to destroy its events.
 */
public final class EventTimeline implements Timeline, AutoCloseable {
    public static final int HOST_TRACK = 1;

    private final List<Track> tracks = new ArrayList<>(List.of(new Track(HOST_TRACK, "host (Java thread)", Role.HOST)));
    private final Map<Stream, Integer> streamTracks = new IdentityHashMap<>();
    private final Map<Integer, ArrayDeque<Open>> open = new HashMap<>();
    private final ArrayDeque<Event> pool = new ArrayDeque<>();
    private final List<Event> allEvents = new ArrayList<>();
    private final List<Pending> pending = new ArrayList<>();
    private final List<SpanRecord> done = new ArrayList<>();
    private final List<TokenWindow> tokens = new ArrayList<>();
    private Device device;
    private long origin = -1;
    private int nextId;
    private boolean closed;

    // the token being recorded
    private boolean tokenOpen, implicitToken, tokenHasForward;
    private int tokenInput;
    private long tokenPos, tokenForwardNanos, tokenAlignment, lastForwardEnd, firstForwardStart;
    private Ref ref; // the reference event of the current forward call

    /** The reference event of a forward call, kept until no pending span measures from it. */
    private static final class Ref {
        final Event event;
        final long hostNanos;
        int users;
        boolean current = true;

        Ref(Event event, long hostNanos) {
            this.event = event;
            this.hostNanos = hostNanos;
        }
    }

    /** An open span: the event recorded at its start (device) or its host start time. */
    private static final class Open {
        final int id, parent, layer, expert, token;
        final Span kind;
        final Event begin;
        final Ref ref;
        final long hostStart;

        Open(int id, int parent, Span kind, int layer, int expert, int token, Event begin, Ref ref, long hostStart) {
            this.id = id;
            this.parent = parent;
            this.kind = kind;
            this.layer = layer;
            this.expert = expert;
            this.token = token;
            this.begin = begin;
            this.ref = ref;
            this.hostStart = hostStart;
        }
    }

    private record Pending(Open span, int track, Event end) {}

    /** Starts a token: its window runs until {@link #endToken()}. */
    public void beginToken() {
        requireOpen();
        if (tokenOpen) throw new IllegalStateException("timeline: a token is already open");
        if (origin < 0) origin = System.nanoTime();
        tokenOpen = true;
        implicitToken = false;
        tokenHasForward = false;
        tokenForwardNanos = 0;
        tokenAlignment = 0;
        push(HOST_TRACK, Span.TOKEN, -1, -1, null, null, now());
    }

    /**
     * Ends the token; a token without a forward call (the end of a generation) is dropped.
     *
     * @return whether the token was kept
     */
    public boolean endToken() {
        requireOpen();
        if (!tokenOpen) throw new IllegalStateException("timeline: no token is open");
        for (var e : open.entrySet()) {
            int expected = e.getKey() == HOST_TRACK ? 1 : 0;
            if (e.getValue().size() != expected) {
                throw new IllegalStateException("timeline: span " + e.getValue().peek().kind + " still open on track "
                        + e.getKey() + " at the end of a token");
            }
        }
        long end = now();
        Open token = stack(HOST_TRACK).pop();
        tokenOpen = false;
        if (!tokenHasForward) return false;
        int index = tokens.size();
        if (!implicitToken) {
            done.add(new SpanRecord(nextId++, token.id, HOST_TRACK, Span.STEP, -1, -1, index, token.hostStart, firstForwardStart));
            done.add(new SpanRecord(nextId++, token.id, HOST_TRACK, Span.SAMPLE, -1, -1, index, lastForwardEnd, end));
        }
        done.add(new SpanRecord(token.id, -1, HOST_TRACK, Span.TOKEN, -1, -1, index, token.hostStart, end));
        tokens.add(new TokenWindow(index, tokenInput, tokenPos, token.hostStart, end, tokenForwardNanos, tokenAlignment));
        resolve(false);
        return true;
    }

    @Override
    public void beginForward(Stream compute, int n, long pos) {
        requireOpen();
        if (!tokenOpen) {
            beginToken();
            implicitToken = true;
        }
        long start = now();
        if (!tokenHasForward) {
            tokenInput = n;
            tokenPos = pos;
            tokenHasForward = true;
            firstForwardStart = start;
        }
        int track = trackOf(compute, Role.COMPUTE);
        if (tracks.get(track - 1).role() != Role.COMPUTE) {
            throw new IllegalStateException("timeline: a forward call on a stream that was used as " + tracks.get(track - 1).name());
        }
        push(HOST_TRACK, Span.FORWARD, -1, -1, null, null, start);
        compute.synchronize(); // idle already after the previous call; makes the alignment bound tight
        Event e = take(compute.device());
        long t0 = System.nanoTime();
        e.record(compute);
        e.synchronize();
        long t1 = System.nanoTime();
        if (ref != null) retire(ref);
        ref = new Ref(e, t0 - origin);
        tokenAlignment = Math.max(tokenAlignment, t1 - t0);
        done.add(new SpanRecord(nextId++, stack(HOST_TRACK).peek().id, HOST_TRACK, Span.ALIGN, -1, -1, tokens.size(), start, now()));
    }

    @Override
    public void endForward() {
        requireOpen();
        Open f = pop(HOST_TRACK, Span.FORWARD);
        long end = now();
        done.add(new SpanRecord(f.id, f.parent, HOST_TRACK, Span.FORWARD, -1, -1, f.token, f.hostStart, end));
        tokenForwardNanos += end - f.hostStart;
        lastForwardEnd = end;
        if (implicitToken) endToken();
    }

    @Override
    public void begin(Stream stream, Span span, int layer, int expert) {
        requireOpen();
        if (ref == null) throw new IllegalStateException("timeline: device span " + span + " outside a forward call");
        if (mirrored(span)) beginHost(span, layer); // first, so that it includes the recording below
        int track = trackOf(stream, Role.COPY);
        Event e = take(stream.device());
        e.record(stream);
        ref.users++;
        push(track, span, layer, expert, e, ref, 0);
    }

    private static boolean mirrored(Span span) {
        return span == Span.EMBEDDING || span == Span.LAYER || span == Span.LM_HEAD;
    }

    @Override
    public void end(Stream stream, Span span) {
        requireOpen();
        int track = trackOf(stream, Role.COPY);
        Open o = pop(track, span);
        Event e = take(stream.device());
        e.record(stream);
        pending.add(new Pending(o, track, e));
        if (mirrored(span)) endHost(span);
    }

    @Override
    public void beginHost(Span span, int layer) {
        requireOpen();
        push(HOST_TRACK, span, layer, -1, null, null, now());
    }

    @Override
    public void endHost(Span span) {
        requireOpen();
        Open o = pop(HOST_TRACK, span);
        done.add(new SpanRecord(o.id, o.parent, HOST_TRACK, o.kind, o.layer, o.expert, o.token, o.hostStart, now()));
    }

    /** Waits for every pending span and returns the profile. No token may be open. */
    public Profile finish() {
        requireOpen();
        if (tokenOpen) throw new IllegalStateException("timeline: finish() while a token is open");
        resolve(true);
        List<SpanRecord> spans = new ArrayList<>(done);
        spans.sort(Comparator.comparingLong(SpanRecord::startNanos).thenComparingInt(SpanRecord::id));
        return new Profile(tracks, tokens, spans);
    }

    /** Resolves the spans whose closing event has completed (all of them, waiting, when {@code wait}). */
    private void resolve(boolean wait) {
        List<Pending> still = new ArrayList<>();
        for (Pending p : pending) {
            if (wait) p.end.synchronize();
            else if (!p.end.query()) {
                still.add(p);
                continue;
            }
            Open o = p.span;
            long start = o.ref.hostNanos + nanos(o.ref.event.elapsedMillis(o.begin));
            long end = o.ref.hostNanos + nanos(o.ref.event.elapsedMillis(p.end));
            done.add(new SpanRecord(o.id, o.parent, p.track, o.kind, o.layer, o.expert, o.token, start, end));
            pool.push(o.begin);
            pool.push(p.end);
            o.ref.users--;
            if (!o.ref.current && o.ref.users == 0) pool.push(o.ref.event);
        }
        pending.clear();
        pending.addAll(still);
    }

    private void retire(Ref r) {
        r.current = false;
        if (r.users == 0) pool.push(r.event);
    }

    private static long nanos(float millis) {
        return Math.round(millis * 1e6);
    }

    private long now() {
        return System.nanoTime() - origin;
    }

    private Event take(Device d) {
        if (device == null) device = d;
        else if (device != d) throw new IllegalArgumentException("timeline: streams of two devices (" + device + ", " + d + ")");
        if (!pool.isEmpty()) return pool.pop();
        Event e = d.createEvent();
        allEvents.add(e);
        return e;
    }

    /** The track of a stream, registered on first use (the first stream of a forward call is the compute stream). */
    private int trackOf(Stream s, Role role) {
        Integer t = streamTracks.get(s);
        if (t != null) return t;
        int id = tracks.size() + 1;
        long copies = tracks.stream().filter(k -> k.role() == Role.COPY).count();
        String name = role == Role.COMPUTE ? "compute stream" : copies == 0 ? "copy stream" : "copy stream " + (copies + 1);
        tracks.add(new Track(id, name, role));
        streamTracks.put(s, id);
        return id;
    }

    private void push(int track, Span kind, int layer, int expert, Event begin, Ref r, long hostStart) {
        ArrayDeque<Open> s = stack(track);
        int parent = s.isEmpty() ? -1 : s.peek().id;
        s.push(new Open(nextId++, parent, kind, layer, expert, tokens.size(), begin, r, hostStart));
    }

    private Open pop(int track, Span kind) {
        ArrayDeque<Open> s = stack(track);
        if (s.isEmpty()) throw new IllegalStateException("timeline: end of " + kind + " with no open span on track " + track);
        if (s.peek().kind != kind) {
            throw new IllegalStateException("timeline: end of " + kind + " while " + s.peek().kind + " is open on track " + track);
        }
        return s.pop();
    }

    private ArrayDeque<Open> stack(int track) {
        return open.computeIfAbsent(track, k -> new ArrayDeque<>());
    }

    private void requireOpen() {
        if (closed) throw new IllegalStateException("timeline: closed");
    }

    /** Destroys every event this timeline created (pending work keeps what it needs on both backends). */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        RuntimeException first = null;
        for (Event e : allEvents) {
            try {
                e.close();
            } catch (RuntimeException ex) {
                if (first == null) first = ex;
            }
        }
        if (first != null) throw first;
    }
}
