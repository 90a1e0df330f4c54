package dev.lookahead.cli;

import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DeviceInfo;
import dev.lookahead.engine.OffloadedExperts;
import dev.lookahead.profile.ChromeTrace;
import dev.lookahead.profile.HtmlReport;
import dev.lookahead.profile.Profile;
import dev.lookahead.profile.ProfileSummary;
import dev.lookahead.profile.Profiler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "profile", mixinStandardHelpOptions = true,
        description = {"Records where each token's time goes, as a Chrome trace.",
                "Generates tokens (greedy) and records a timeline of every layer's attention, router read-back, "
                        + "experts, expert copies (on-demand and speculative) and copy waits on the host, the compute stream and "
                        + "the copy stream. Writes it as Chrome trace-event JSON (open in chrome://tracing or ui.perfetto.dev), "
                        + "optionally as a self-contained HTML report, and prints where the time went per token.",
                "Device spans are timed by events on their stream (the CPU backend stamps an event when its stream "
                        + "reaches it), so they are device time on both backends."})
final class ProfileCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory (quantized for an offloading --policy)")
    Path model;

    @Option(names = {"-n", "--tokens"}, defaultValue = "16", description = "tokens to generate (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(names = "--out", required = true, paramLabel = "TRACE_JSON", description = "where to write the trace-event JSON")
    Path out;

    @Option(names = "--html", paramLabel = "REPORT_HTML", description = "also write a self-contained HTML report")
    Path html;

    @Option(names = {"-p", "--prompt"}, defaultValue = "The old man looked at the",
            description = "prompt (default: ${DEFAULT-VALUE})")
    String prompt;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws IOException {
        if (tokens <= 0) throw new IllegalArgumentException("--tokens must be > 0, got " + tokens);
        try (MoeModel m = ModelLoading.load(model, backend.toLoadOptions(model), System.err)) {
            Map<String, String> info = describe(m);
            StringBuilder text = new StringBuilder(prompt);
            Profile profile = Profiler.run(m, prompt, tokens, t -> text.append(t.text()));
            ProfileSummary summary = ProfileSummary.of(profile);
            info.put("tokens", profile.tokens().size() + " (" + summary.prefillTokens() + " with prefill, "
                    + summary.decodeTokens() + " decode)");
            ChromeTrace.write(profile, "lookahead " + m.directory().getFileName(), info, out);
            if (html != null) HtmlReport.write(profile, summary, String.valueOf(m.directory().getFileName()), info, html);
            System.out.printf(Locale.ROOT, "profile of %s: %s, policy %s, %s%n", m.directory(), info.get("device"),
                    info.get("policy"), info.get("tokens"));
            System.out.println("text: " + text);
            System.out.print(summary.format());
            System.out.println("trace: " + out + " (" + profile.spans().size() + " spans; open in chrome://tracing or ui.perfetto.dev)");
            if (html != null) System.out.println("report: " + html);
        }
        return 0;
    }

    private Map<String, String> describe(MoeModel m) {
        DeviceInfo d = m.deviceInfo();
        Map<String, String> info = new LinkedHashMap<>();
        info.put("model", m.directory().toAbsolutePath().normalize().toString());
        info.put("device", d.backend() + " " + d.name() + " (" + m.backendReason() + ")");
        info.put("policy", m.policy().name());
        if (m.expertFormat() != null) info.put("experts", m.expertFormat());
        if (m.experts() instanceof OffloadedExperts off) info.put("expert slots", off.layoutDescription());
        if (backend.linkGbps > 0) info.put("link", String.format(Locale.ROOT, "emulated %.3f GB/s", backend.linkGbps));
        info.put("prompt", prompt);
        info.put("date", Instant.now().toString());
        return info;
    }
}
