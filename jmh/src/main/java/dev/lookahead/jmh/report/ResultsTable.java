package dev.lookahead.jmh.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.jmh.QuantMatmulBenchmark;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Turns a JMH JSON result file of benchmarks.jar into the Markdown tables of docs/benchmarks.md:
 * every result next to its ceiling, as a ratio.
 *
 * <pre>java -cp jmh/target/benchmarks.jar dev.lookahead.jmh.report.ResultsTable results.json</pre>
 *
 * Missing results (a benchmark that was not run) leave "-" in their cells.
 */
public final class ResultsTable {
    private final List<JmhResult> results;
    private final PrintStream out;

    ResultsTable(List<JmhResult> results, PrintStream out) {
        this.results = results;
        this.out = out;
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: ResultsTable <jmh-result.json>");
            System.exit(2);
        }
        JsonNode root = new JsonMapper().readTree(Files.readString(Path.of(args[0])));
        if (!root.isArray()) {
            System.err.println(args[0] + " is not a JMH JSON result (expected an array)");
            System.exit(2);
        }
        List<JmhResult> results = new ArrayList<>();
        root.forEach(n -> results.add(JmhResult.of(n)));
        if (!root.isEmpty()) {
            JsonNode first = root.get(0);
            System.out.printf("JMH %s, %s %s. Per benchmark class: forks, warm-up and measurement iterations:%n%n",
                    first.path("jmhVersion").asText(), first.path("vmName").asText(), first.path("jdkVersion").asText());
            Set<String> seen = new LinkedHashSet<>();
            for (JsonNode n : root) {
                String name = n.path("benchmark").asText();
                String cls = name.substring(0, name.lastIndexOf('.'));
                String line = String.format(Locale.ROOT, "- %s: %d fork, %d x %s warm-up, %d x %s measured",
                        cls.substring(cls.lastIndexOf('.') + 1), n.path("forks").asInt(),
                        n.path("warmupIterations").asInt(), n.path("warmupTime").asText(),
                        n.path("measurementIterations").asInt(), n.path("measurementTime").asText());
                if (seen.add(line)) {
                    System.out.println(line);
                }
            }
            System.out.println();
        }
        new ResultsTable(results, System.out).printAll();
    }

    void printAll() {
        quantized();
        downcalls();
        copies();
        safetensors();
        decode();
    }

    // ---- quantized matvec / matmul ---------------------------------------------------------

    private void quantized() {
        out.println("### Quantized matvec / matmul (weight bytes = codes + fp16 scales + fp16 zeros)");
        out.println();
        out.println("Ceiling: CPU backend: a Java read (Vector API) of the same number of bytes with the same threads; "
                + "other backends: the backend's device-to-device copy of those bytes.");
        out.println();
        out.println("| backend | shape | bits | weight MiB | qmatvec calls/s | qmatvec GB/s | qmatmul16 GB/s "
                + "| qmatmul16 GMAC/s | Java read GB/s | d2d copy GB/s | qmatvec ÷ ceiling | qmatmul16 ÷ ceiling |");
        out.println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (JmhResult r : select("QuantMatmulBenchmark.qmatvec", Map.of())) {
            Map<String, String> key = Map.of("shape", r.param("shape"), "bits", r.param("bits"),
                    "groupSize", r.param("groupSize"), "threads", r.param("threads"));
            Map<String, String> withBackend = new java.util.HashMap<>(key);
            withBackend.put("backend", r.param("backend"));
            Optional<JmhResult> matmul = first("QuantMatmulBenchmark.qmatmul16", withBackend);
            Optional<JmhResult> copy = first("QuantMatmulBenchmark.ceilingDeviceCopy", withBackend);
            Optional<JmhResult> read = first("QuantMatmulBenchmark.ceilingJavaRead", key);
            Optional<JmhResult> ceiling = r.param("backend").equals("cpu") ? read : copy;
            double weightBytes = r.bytesPerSecond() / r.score();
            // Weights per matrix from its bytes: each group of g weights has g*bits/8 code bytes and a
            // 2-byte scale and zero (exact when cols is a multiple of g, as in every shape here).
            double g = Double.parseDouble(r.param("groupSize")), bits = Double.parseDouble(r.param("bits"));
            double weights = weightBytes * g / (g * bits / 8 + 4);
            String gmacs = matmul.map(m -> fmt("%.1f", m.score() * weights * QuantMatmulBenchmark.TOKENS / 1e9)).orElse("-");
            out.printf("| %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s |%n", r.param("backend"),
                    r.param("shape"), r.param("bits"), weightBytes / (1 << 20), withError(r.score(), r.error(), "%.1f"),
                    gbps(Optional.of(r)), gbps(matmul), gmacs, gbps(read), gbps(copy),
                    ratio(r.bytesPerSecond(), ceiling.map(JmhResult::bytesPerSecond)),
                    ratio(matmul.map(JmhResult::bytesPerSecond), ceiling.map(JmhResult::bytesPerSecond)));
        }
        out.println();
    }

    // ---- downcalls ---------------------------------------------------------------------------

    private void downcalls() {
        out.println("### One FFM downcall");
        out.println();
        Optional<JmhResult> floor = first("DowncallBenchmark.javaCallFloor", Map.of());
        out.println("| benchmark | backend | ns/op | ÷ Java call floor (" + floor.map(f -> fmt("%.2f ns", f.score()))
                .orElse("-") + ") |");
        out.println("|---|---|---:|---:|");
        for (String m : List.of("abiVersion", "synchronizeIdle", "add1Synchronize", "add1Enqueue")) {
            for (JmhResult r : select("DowncallBenchmark." + m, Map.of())) {
                out.printf("| %s | %s | %s | %s |%n", m, r.param("backend").isEmpty() ? "-" : r.param("backend"),
                        withError(r.score(), r.error(), "%.1f"), ratio(Optional.of(r.score()), floor.map(JmhResult::score)));
            }
        }
        out.println();
    }

    // ---- host-to-device copies ---------------------------------------------------------------

    private void copies() {
        out.println("### Host-to-device copy");
        out.println();
        out.println("Ceiling: for an EMULATED link its configured rate; otherwise the backend's device-to-device copy "
                + "of the same bytes.");
        out.println();
        out.println("| target | MiB | pinned GB/s | pageable GB/s | ceiling GB/s | pinned ÷ ceiling | pageable ÷ ceiling "
                + "| pageable ÷ pinned |");
        out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
        Set<String> targets = new LinkedHashSet<>();
        select("HostToDeviceCopyBenchmark.pinnedToDevice", Map.of()).forEach(r -> targets.add(r.param("target")));
        for (String target : targets) {
            for (JmhResult pinned : select("HostToDeviceCopyBenchmark.pinnedToDevice", Map.of("target", target))) {
                Map<String, String> key = Map.of("target", target, "mib", pinned.param("mib"));
                Optional<JmhResult> pageable = first("HostToDeviceCopyBenchmark.pageableToDevice", key);
                Optional<Double> ceiling;
                String ceilingText;
                if (target.startsWith("cpu-emulated-link-")) {
                    double rate = Double.parseDouble(target.substring("cpu-emulated-link-".length())) * 1e9;
                    ceiling = Optional.of(rate);
                    ceilingText = fmt("%.2f (emulated)", rate / 1e9);
                } else {
                    Optional<JmhResult> d2d = first("HostToDeviceCopyBenchmark.deviceCopyCeiling", key);
                    ceiling = d2d.map(JmhResult::bytesPerSecond);
                    ceilingText = gbps(d2d) + " (d2d)";
                }
                out.printf("| %s | %s | %s | %s | %s | %s | %s | %s |%n", target, pinned.param("mib"),
                        gbps(Optional.of(pinned)), gbps(pageable), ceilingText,
                        ratio(pinned.bytesPerSecond(), ceiling), ratio(pageable.map(JmhResult::bytesPerSecond), ceiling),
                        ratio(pageable.map(JmhResult::bytesPerSecond), Optional.of(pinned.bytesPerSecond())));
            }
        }
        out.println();
    }

    // ---- safetensors ---------------------------------------------------------------------------

    private void safetensors() {
        out.println("### Safetensors open (sparse file, Mixtral's 995 tensor names)");
        out.println();
        out.println("| step | file MiB | SafetensorsFile µs | raw FileChannel + mmap µs | raw ÷ ours |");
        out.println("|---|---:|---:|---:|---:|");
        String[][] pairs = {{"openParseMap", "rawReadHeaderAndMap", "open (read header, parse, mmap) + close"},
                {"openAndTouchEveryTensor", "rawMapAndTouch", "open + every tensor view's first/last byte + close"}};
        for (String[] p : pairs) {
            for (JmhResult ours : select("SafetensorsOpenBenchmark." + p[0], Map.of())) {
                Optional<JmhResult> raw = first("SafetensorsOpenBenchmark." + p[1], Map.of("fileMiB", ours.param("fileMiB")));
                out.printf("| %s | %s | %s | %s | %s |%n", p[2], ours.param("fileMiB"),
                        withError(ours.score(), ours.error(), "%.0f"),
                        raw.map(r -> withError(r.score(), r.error(), "%.0f")).orElse("-"),
                        ratio(raw.map(JmhResult::score), Optional.of(ours.score())));
            }
        }
        out.println();
    }

    // ---- decode ----------------------------------------------------------------------------------

    private void decode() {
        out.println("### End-to-end greedy decode (same model files, same thread count)");
        out.println();
        out.println("Ceiling: tok/s of reading one step's weight bytes once with the same threads (Java, Vector API).");
        out.println();
        out.println("| engine | model | threads | context | tok/s | ceiling tok/s | ÷ ceiling |");
        out.println("|---|---|---:|---:|---:|---:|---:|");
        List<JmhResult> steps = select("DecodeBenchmark.decodeStep", Map.of());
        for (JmhResult r : steps) {
            Optional<JmhResult> ceiling = first("DecodeBenchmark.ceilingWeightRead",
                    Map.of("model", r.param("model"), "threads", r.param("threads")));
            out.printf("| %s | %s | %s | %s | %s | %s | %s |%n", r.param("engine"), r.param("model"), r.param("threads"),
                    r.param("context"), withError(r.score(), r.error(), "%.1f"),
                    ceiling.map(c -> withError(c.score(), c.error(), "%.1f")).orElse("-"),
                    ratio(Optional.of(r.score()), ceiling.map(JmhResult::score)));
        }
        out.println();
        for (JmhResult ours : steps) {
            if (!ours.param("engine").startsWith("lookahead")) {
                continue;
            }
            first("DecodeBenchmark.decodeStep", Map.of("engine", "jlama", "model", ours.param("model"),
                    "threads", ours.param("threads"), "context", ours.param("context")))
                    .ifPresent(j -> out.printf("%s ÷ jlama (model %s, threads %s): **%.2f**%n%n", ours.param("engine"),
                            ours.param("model"), ours.param("threads"), ours.score() / j.score()));
        }
    }

    // ---- helpers -------------------------------------------------------------------------------

    private List<JmhResult> select(String benchmark, Map<String, String> params) {
        return results.stream().filter(r -> r.benchmark().equals(benchmark) && r.matches(params)).toList();
    }

    private Optional<JmhResult> first(String benchmark, Map<String, String> params) {
        return select(benchmark, params).stream().findFirst();
    }

    private static String gbps(Optional<JmhResult> r) {
        return r.filter(x -> !Double.isNaN(x.bytesPerSecond()))
                .map(x -> withError(x.bytesPerSecond() / 1e9, x.bytesError() / 1e9, "%.2f")).orElse("-");
    }

    private static String ratio(double value, Optional<Double> ceiling) {
        return ratio(Optional.of(value), ceiling);
    }

    private static String ratio(Optional<Double> value, Optional<Double> ceiling) {
        if (value.isEmpty() || ceiling.isEmpty() || !(ceiling.get() > 0) || Double.isNaN(value.get())) {
            return "-";
        }
        return fmt("%.2f", value.get() / ceiling.get());
    }

    private static String withError(double value, double error, String format) {
        String v = fmt(format, value);
        return Double.isNaN(error) ? v : v + " ± " + fmt(format, error);
    }

    private static String fmt(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }
}
