package dev.lookahead.profile;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.engine.Timeline.Span;
import dev.lookahead.profile.Profile.SpanRecord;
import dev.lookahead.profile.Profile.TokenWindow;
import dev.lookahead.profile.Profile.Track;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a {@link Profile} in the Chrome trace-event JSON format (the "JSON Object Format": a
 * {@code traceEvents} array), which chrome://tracing and ui.perfetto.dev open. Each track is a
 * thread of one process; each span a complete event ({@code "ph": "X"}) with {@code ts} and
 * {@code dur} in microseconds (fractional: nanosecond resolution); thread names and order are
 * metadata events ({@code "ph": "M"}).
 */
public final class ChromeTrace {
    public static final int PID = 1;

    private ChromeTrace() {
    }

    /**
     * @param processName shown as the process (e.g. the model directory)
     * @param info        key/value facts of the run, written to {@code otherData}
     */
    public static void write(Profile profile, String processName, Map<String, String> info, Path out) throws IOException {
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) Files.createDirectories(parent);
        try (OutputStream os = Files.newOutputStream(out);
             JsonGenerator g = JsonMapper.builder().build().getFactory().createGenerator(os, JsonEncoding.UTF8)) {
            g.writeStartObject();
            g.writeStringField("displayTimeUnit", "ms");
            g.writeObjectFieldStart("otherData");
            for (var e : info.entrySet()) g.writeStringField(e.getKey(), e.getValue());
            g.writeEndObject();
            g.writeArrayFieldStart("traceEvents");
            metadata(g, "process_name", 0, "name", processName);
            for (Track t : profile.tracks()) {
                metadata(g, "thread_name", t.id(), "name", t.name());
                g.writeStartObject();
                g.writeStringField("name", "thread_sort_index");
                g.writeStringField("ph", "M");
                g.writeNumberField("pid", PID);
                g.writeNumberField("tid", t.id());
                g.writeObjectFieldStart("args");
                g.writeNumberField("sort_index", t.id());
                g.writeEndObject();
                g.writeEndObject();
            }
            for (SpanRecord s : profile.spans()) span(g, s, profile);
            g.writeEndArray();
            g.writeEndObject();
        }
    }

    private static void metadata(JsonGenerator g, String kind, int tid, String key, String value) throws IOException {
        g.writeStartObject();
        g.writeStringField("name", kind);
        g.writeStringField("ph", "M");
        g.writeNumberField("pid", PID);
        g.writeNumberField("tid", tid);
        g.writeObjectFieldStart("args");
        g.writeStringField(key, value);
        g.writeEndObject();
        g.writeEndObject();
    }

    private static void span(JsonGenerator g, SpanRecord s, Profile profile) throws IOException {
        TokenWindow token = s.token() < profile.tokens().size() ? profile.tokens().get(s.token()) : null;
        g.writeStartObject();
        g.writeStringField("name", displayName(s, token));
        g.writeStringField("cat", s.kind().name().toLowerCase(Locale.ROOT));
        g.writeStringField("ph", "X");
        g.writeNumberField("ts", s.startNanos() / 1e3);
        g.writeNumberField("dur", s.durationNanos() / 1e3);
        g.writeNumberField("pid", PID);
        g.writeNumberField("tid", s.track());
        g.writeObjectFieldStart("args");
        g.writeNumberField("token", s.token());
        if (token != null && s.kind() == Span.TOKEN) g.writeNumberField("clock_alignment_us", token.alignmentNanos() / 1e3);
        if (s.layer() >= 0) g.writeNumberField("layer", s.layer());
        if (s.expert() >= 0) g.writeNumberField("expert", s.expert());
        g.writeEndObject();
        g.writeEndObject();
    }

    static String displayName(SpanRecord s, TokenWindow token) {
        if (token != null && s.kind() == Span.TOKEN) return "token " + token.index() + " (" + token.describe() + ")";
        if (token != null && s.kind() == Span.FORWARD) return "forward (" + token.describe() + ")";
        return s.name();
    }
}
