package dev.lookahead.profile;

import dev.lookahead.bindings.BackendName;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceOptions;
import dev.lookahead.bindings.PinnedBuffer;
import dev.lookahead.bindings.Stream;
import dev.lookahead.engine.Timeline.Span;
import dev.lookahead.profile.Profile.Role;
import dev.lookahead.profile.Profile.SpanRecord;
import dev.lookahead.profile.Profile.TokenWindow;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link EventTimeline} on the CPU backend with an emulated link, whose copies take a known time
 * (bytes / bandwidth) on the stream that runs them: device spans must measure that time, not the
 * microseconds the host takes to enqueue the copy.
 */
class TimelineTest {
    static final double LINK = 200e6;          // bytes per second
    static final int BYTES = 2 << 20;          // 2 MiB: 10.5 ms on the link
    static final long COPY_NANOS = Math.round(BYTES / LINK * 1e9);

    static Device open() {
        return Device.open(BackendName.CPU, DeviceOptions.DEFAULTS.withThreads(1).withLinkBytesPerSecond(LINK));
    }

    @Test
    void deviceSpansMeasureStreamTimeAndNestInsideTheForwardCall() {
        try (Device d = open(); Stream compute = d.createStream(); Stream copy = d.createStream();
             PinnedBuffer src = d.allocatePinned(BYTES); DeviceBuffer dst = d.allocate(2L * BYTES)) {
            Profile p;
            long enqueueNanos;
            try (EventTimeline t = new EventTimeline()) {
                t.beginToken();
                t.beginForward(compute, 1, 0);
                long before = System.nanoTime();
                t.begin(compute, Span.LAYER, 0, -1);
                t.begin(compute, Span.ATTENTION, 0, -1);
                compute.copyToDevice(src.segment(), dst.slice(0, BYTES));
                t.end(compute, Span.ATTENTION);
                t.begin(compute, Span.EXPERTS, 0, -1);
                compute.copyToDevice(src.segment(), dst.slice(BYTES, BYTES));
                t.end(compute, Span.EXPERTS);
                t.end(compute, Span.LAYER);
                enqueueNanos = System.nanoTime() - before;
                t.beginHost(Span.READBACK, -1);
                compute.synchronize();
                t.endHost(Span.READBACK);
                t.endForward();
                assertTrue(t.endToken());
                p = t.finish();
            }
            assertEquals(List.of(Role.HOST, Role.COMPUTE), p.tracks().stream().map(Profile.Track::role).toList());
            int computeTrack = p.track(Role.COMPUTE).id();
            // (a layer is also mirrored on the host track: the host's own time in it)
            SpanRecord layer = only(p.spansOf(computeTrack), Span.LAYER), attention = only(p, Span.ATTENTION),
                    experts = only(p, Span.EXPERTS);
            assertEquals(EventTimeline.HOST_TRACK, only(p.spansOf(EventTimeline.HOST_TRACK), Span.LAYER).track());
            for (SpanRecord s : List.of(layer, attention, experts)) assertEquals(computeTrack, s.track());
            // each child copies 2 MiB over the link: at least its transfer time (the emulation never runs faster)
            assertTrue(attention.durationNanos() >= 0.95 * COPY_NANOS, "attention span " + attention.durationNanos());
            assertTrue(experts.durationNanos() >= 0.95 * COPY_NANOS, "experts span " + experts.durationNanos());
            assertTrue(enqueueNanos < attention.durationNanos(), "enqueueing took " + enqueueNanos + " ns: the copy ran on the host?");
            // nesting and order on the stream
            assertTrue(layer.startNanos() <= attention.startNanos() && attention.endNanos() <= experts.startNanos()
                    && experts.endNanos() <= layer.endNanos(), p.spans().toString());
            assertEquals(layer.id(), attention.parent());
            assertEquals(layer.id(), experts.parent());
            Map<Integer, Long> self = p.selfNanos();
            assertEquals(layer.durationNanos() - attention.durationNanos() - experts.durationNanos(), self.get(layer.id()));
            // everything inside the forward call's host span, which is inside the token
            SpanRecord forward = only(p, Span.FORWARD), token = only(p, Span.TOKEN);
            assertTrue(forward.startNanos() <= layer.startNanos() && layer.endNanos() <= forward.endNanos(),
                    "layer " + layer + " outside " + forward);
            assertTrue(token.startNanos() <= forward.startNanos() && forward.endNanos() <= token.endNanos());
            assertEquals(forward.id(), only(p, Span.READBACK).parent());
            TokenWindow w = p.tokens().get(0);
            assertEquals(forward.durationNanos(), w.forwardNanos());
            assertTrue(w.alignmentNanos() >= 0 && w.alignmentNanos() < forward.durationNanos());
        }
    }

    @Test
    void aCopyStillRunningAtTheEndOfItsTokenIsResolvedLaterOnItsOwnTrack() {
        try (Device d = open(); Stream compute = d.createStream(); Stream copy = d.createStream();
             PinnedBuffer src = d.allocatePinned(BYTES); DeviceBuffer dst = d.allocate(BYTES)) {
            Profile p;
            try (EventTimeline t = new EventTimeline()) {
                t.beginToken();
                t.beginForward(compute, 1, 0);
                t.begin(copy, Span.COPY_SPECULATIVE, 1, 3);
                copy.copyToDevice(src.segment(), dst.all());
                t.end(copy, Span.COPY_SPECULATIVE);
                t.endForward();
                t.endToken(); // does not wait for the copy
                t.beginToken();
                t.beginForward(compute, 1, 1); // the next forward has its own reference event
                t.endForward();
                t.endToken();
                p = t.finish();
            }
            assertEquals(List.of(Role.HOST, Role.COMPUTE, Role.COPY), p.tracks().stream().map(Profile.Track::role).toList());
            SpanRecord c = only(p, Span.COPY_SPECULATIVE);
            assertEquals(p.track(Role.COPY).id(), c.track());
            assertEquals(0, c.token(), "the copy belongs to the token that issued it");
            assertEquals(1, c.layer());
            assertEquals(3, c.expert());
            assertEquals("L1 E3 copy speculative", c.name());
            assertTrue(c.durationNanos() >= 0.95 * COPY_NANOS, "copy span " + c.durationNanos());
            assertTrue(c.startNanos() >= p.tokens().get(0).startNanos());
            assertEquals(2, p.tokens().size());
        }
    }

    @Test
    void misuseIsReportedNotRecorded() {
        try (Device d = open(); Stream compute = d.createStream(); Stream copy = d.createStream();
             EventTimeline t = new EventTimeline()) {
            t.beginToken();
            assertThrows(IllegalStateException.class, () -> t.begin(compute, Span.ATTENTION, 0, -1),
                    "a device span needs a forward call (its clock reference)");
            t.beginForward(compute, 1, 0);
            t.begin(compute, Span.LAYER, 0, -1);
            t.begin(compute, Span.ATTENTION, 0, -1);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.end(compute, Span.LAYER));
            assertTrue(e.getMessage().contains("ATTENTION is open"), e.getMessage());
            t.end(compute, Span.ATTENTION);
            t.end(compute, Span.LAYER);
            t.begin(copy, Span.COPY_ON_DEMAND, 0, 1);
            t.endForward();
            e = assertThrows(IllegalStateException.class, t::endToken);
            assertTrue(e.getMessage().contains("COPY_ON_DEMAND still open"), e.getMessage());
            t.end(copy, Span.COPY_ON_DEMAND);
            assertTrue(t.endToken());
            assertThrows(IllegalStateException.class, t::endToken, "no token is open");
            Profile p = t.finish();
            // the layer is mirrored on the host track: the host's own time in it
            List<SpanRecord> layers = p.spans().stream().filter(s -> s.kind() == Span.LAYER).toList();
            assertEquals(2, layers.size());
            assertEquals(Set.of(EventTimeline.HOST_TRACK, p.track(Role.COMPUTE).id()),
                    Set.of(layers.get(0).track(), layers.get(1).track()));
        }
    }

    @Test
    void aTokenWithoutAForwardCallIsDropped() {
        try (EventTimeline t = new EventTimeline()) {
            t.beginToken();
            assertFalse(t.endToken());
            assertTrue(t.finish().tokens().isEmpty());
        }
    }

    static SpanRecord only(Profile p, Span kind) {
        return only(p.spans(), kind);
    }

    static SpanRecord only(List<SpanRecord> spans, Span kind) {
        List<SpanRecord> of = spans.stream().filter(s -> s.kind() == kind).toList();
        assertEquals(1, of.size(), kind + ": " + of);
        return of.get(0);
    }
}
