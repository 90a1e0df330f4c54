package dev.lookahead.cli;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DType;
import dev.lookahead.engine.OffloadedExperts;
import dev.lookahead.gate.AlignOptions;
import dev.lookahead.gate.CalibrationCollector;
import dev.lookahead.gate.CalibrationData;
import dev.lookahead.gate.GateAlignment;
import dev.lookahead.gate.HeadLayout;
import dev.lookahead.gate.LookaheadHeads;
import dev.lookahead.gate.RoutingWeights;
import dev.lookahead.gate.Split;
import dev.lookahead.model.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "align", mixinStandardHelpOptions = true,
        description = {"Trains lookahead heads (layer-wise gate alignment).",
                "Makes lookahead heads for MODEL (plug-and-play: each head starts as the router of its target layer) "
                        + "and trains each on its own to match the true routing of its target layer "
                        + "on hidden states collected from a text. Writes the heads (a separate safetensors file; the model is not "
                        + "touched) and a JSON report of KL and recall@k before and after, on the last tokens of the text held out."})
final class AlignCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "checkpoint directory (plain or quantized)")
    Path model;

    @Option(names = "--text", required = true, description = "UTF-8 calibration text; its last --holdout part is held out")
    Path text;

    @Option(names = "--heldout-text", paramLabel = "FILE",
            description = "measure on this text instead (all of it, up to --max-tokens); --text is then all for fitting")
    Path heldoutText;

    @Option(names = "--distance", defaultValue = "" + HeadLayout.DEFAULT_DISTANCE,
            description = "D: heads for layers l+1..l+D of every layer l (default: ${DEFAULT-VALUE})")
    int distance;

    @Option(names = "--long-range", defaultValue = "" + HeadLayout.DEFAULT_LONG_RANGE,
            description = "F: heads from each of the first F layers to every later layer, for eviction (default: ${DEFAULT-VALUE})")
    int longRange;

    @Option(names = "--next-token", defaultValue = "two-tokens",
            description = "next-token heads, for eviction: none, same-layer (layer l -> layer l of the next token),"
                    + " all-layers (layer l -> every layer of the next token) or two-tokens (layer l -> layer l of each of"
                    + " the next two tokens) (default: ${DEFAULT-VALUE})")
    String nextToken;

    @Option(names = "--out", defaultValue = "heads.safetensors", description = "heads file to write (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--report", description = "JSON report to write (default: --out with .json instead of .safetensors)")
    Path report;

    @Option(names = "--epochs", defaultValue = "30", description = "most epochs per head (default: ${DEFAULT-VALUE})")
    int epochs;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Adam learning rate (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--batch", defaultValue = "128", description = "tokens per mini-batch (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--patience", defaultValue = "3",
            description = "stop a head after this many epochs without a lower validation KL (default: ${DEFAULT-VALUE})")
    int patience;

    @Option(names = "--seed", defaultValue = "1", description = "shuffling seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--holdout", defaultValue = "0.1",
            description = "fraction of the calibration tokens (the last ones) held out for the report, unless --heldout-text"
                    + " is given (default: ${DEFAULT-VALUE})")
    double holdout;

    @Option(names = "--max-tokens", defaultValue = "" + CalibrationCollector.DEFAULT_MAX_TOKENS,
            description = "use at most this many tokens of the text (memory: tokens x (layers-1) x (hidden+experts) x 4 bytes)"
                    + " (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = {"--context", "--window"}, defaultValue = "0",
            description = "context length = tokens per calibration window, each run from position 0; 0 = min(model maximum, "
                    + LoadOptions.DEFAULT_CONTEXT + ")")
    int window;

    @Option(names = "--backend", defaultValue = "cpu", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--threads", defaultValue = "0", description = "CPU backend threads, 0 = all cores")
    int threads;

    @Option(names = "--gpu-memory", paramLabel = "SIZE",
            description = "device memory budget, e.g. 20GiB, for a quantized model larger than the device: its experts stay"
                    + " in pinned host memory and stream through mixtral-offloading's cache (the hidden states and the heads"
                    + " are the same as with every expert resident); default: every expert resident")
    String gpuMemory;

    @Option(names = {"-k", "--slots-per-layer"}, defaultValue = "0", paramLabel = "K",
            description = "like --gpu-memory, with K expert slots per layer (0 = as many as --gpu-memory allows)")
    int slotsPerLayer;

    @Override
    public Integer call() throws IOException {
        if (!Files.isRegularFile(text)) throw new IllegalArgumentException("calibration text not found: " + text);
        if (heldoutText != null && !Files.isRegularFile(heldoutText)) {
            throw new IllegalArgumentException("held-out text not found: " + heldoutText);
        }
        String content = Files.readString(text, StandardCharsets.UTF_8);
        String heldoutContent = heldoutText == null ? null : Files.readString(heldoutText, StandardCharsets.UTF_8);
        AlignOptions options = new AlignOptions(epochs, lr, batch, seed, patience, holdout, AlignOptions.defaults().validation());
        Path reportPath = report != null ? report : defaultReport(out);
        if (out.toAbsolutePath().normalize().startsWith(model.toAbsolutePath().normalize())
                && out.getFileName().toString().equals(Checkpoint.SINGLE_FILE)) {
            throw new IllegalArgumentException("--out " + out + " would overwrite the model's weights");
        }
        // F32 KV cache; a residency policy changes where experts are, not the hidden states, so the baseline's
        // offloading serves a model larger than the device
        if (slotsPerLayer < 0) throw new IllegalArgumentException("--slots-per-layer must be >= 0, got " + slotsPerLayer);
        boolean offload = gpuMemory != null || slotsPerLayer > 0;
        String policy = offload ? "mixtral-offloading" : "all-resident";
        LoadOptions load = LoadOptions.defaults().withBackend(BackendChoice.parse(backend)).withThreads(threads)
                .withContextLength(window).withKvCacheType(DType.F32).withPolicy(policy)
                .withDeviceMemory(gpuMemory == null ? 0 : ByteSize.parse(gpuMemory)).withSlotsPerLayer(slotsPerLayer);
        RoutingWeights routing;
        try (Checkpoint c = Checkpoint.open(model)) {
            routing = RoutingWeights.read(c);
        }
        int topK = routing.config().numExpertsPerTok();
        if (slotsPerLayer > 0 && slotsPerLayer < topK) { // before the model loads: its layers' choices must all fit
            throw new IllegalArgumentException("--slots-per-layer " + slotsPerLayer + " cannot hold the " + topK
                    + " experts each layer chooses per token: give at least " + topK);
        }
        HeadLayout layout = new HeadLayout(routing.layers(), distance, longRange, HeadLayout.NextToken.parse(nextToken));
        ProgressBar bar = ProgressBar.stderr();
        CalibrationData data;
        Split split;
        int textTokens, heldoutTextTokens = 0;
        String device, experts;
        long t0 = System.nanoTime();
        try (MoeModel m = ModelLoading.load(model, load, System.err)) {
            int[] tokens = m.encodePrompt(content, false);
            textTokens = tokens.length;
            device = m.deviceInfo().backend() + " on " + m.deviceInfo().name();
            experts = m.experts() instanceof OffloadedExperts off ? policy + ", " + off.layoutDescription() : "all resident";
            int window = (int) m.contextLength();
            if (heldoutContent == null) {
                data = CalibrationCollector.collect(m.forwardPass(), routing, tokens, window, maxTokens, bar);
                split = Split.of(data.tokens(), options.holdout(), options.validation());
            } else {
                int[] held = m.encodePrompt(heldoutContent, false);
                heldoutTextTokens = held.length;
                CalibrationCollector.Collected c = CalibrationCollector.collect(m.forwardPass(), routing, tokens, held,
                        window, maxTokens, options.validation(), bar);
                data = c.data();
                split = c.split();
            }
        }
        double collectSeconds = (System.nanoTime() - t0) / 1e9;
        long t1 = System.nanoTime();
        LookaheadHeads initial = LookaheadHeads.plugAndPlay(routing, layout, model.toAbsolutePath().normalize().getFileName().toString());
        GateAlignment.Result result = GateAlignment.align(initial, data, split, routing.config().numExpertsPerTok(), options, bar);
        double trainSeconds = (System.nanoTime() - t1) / 1e9;
        result.heads().save(out);

        JsonMapper json = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
        ObjectNode o = json.createObjectNode();
        o.put("model", model.toString());
        o.put("text", text.toString());
        o.put("text_tokens", textTokens);
        if (heldoutText != null) {
            o.put("heldout_text", heldoutText.toString());
            o.put("heldout_text_tokens", heldoutTextTokens);
        }
        o.put("calibration_tokens", data.tokens());
        o.put("heads_file", out.toString());
        o.put("heads", result.heads().heads().size());
        o.put("distance", layout.distance());
        o.put("long_range", layout.longRange());
        o.put("next_token", layout.nextToken().metadata());
        o.put("device", device);
        o.put("expert_residency", experts);
        o.put("date", Instant.now().toString());
        o.put("collect_seconds", collectSeconds);
        o.put("train_seconds", trainSeconds);
        o.setAll(result.report().toJson());
        Files.writeString(reportPath, json.writeValueAsString(o) + "\n");

        String from = heldoutText == null ? String.format(Locale.ROOT, "%d tokens of %d in %s", data.tokens(), textTokens, text)
                : String.format(Locale.ROOT, "%d tokens of %d in %s, %d of %d in %s (held out)", split.heldoutStart(),
                        textTokens, text, split.heldoutTokens(), heldoutTextTokens, heldoutText);
        System.out.printf(Locale.ROOT, "calibration: %s (%.1f s, experts %s); %d heads trained in %.1f s%n",
                from, collectSeconds, experts, result.heads().heads().size(), trainSeconds);
        System.out.print(result.report().table());
        System.out.println("heads: " + out + "\nreport: " + reportPath);
        return 0;
    }

    private static Path defaultReport(Path heads) {
        String name = heads.getFileName().toString();
        String base = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return heads.resolveSibling(base + ".json");
    }
}
