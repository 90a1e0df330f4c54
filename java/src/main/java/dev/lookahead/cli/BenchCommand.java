package dev.lookahead.cli;

import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bench.BenchJson;
import dev.lookahead.bench.PolicyBench;
import dev.lookahead.bindings.Backend;
import dev.lookahead.bindings.BackendName;
import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceOptions;
import dev.lookahead.engine.ForcedRouting;
import dev.lookahead.engine.HeadOracle;
import dev.lookahead.engine.LinkProbe;
import dev.lookahead.engine.OffloadedExperts;
import dev.lookahead.engine.RoutingTraceWriter;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.ResidencyPolicy;
import dev.lookahead.gate.LookaheadHeads;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.quant.ExpertBlobLayout;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.quant.QuantizedCheckpoint;
import dev.lookahead.sched.SchedulerConfig;
import dev.lookahead.sched.StagedPrefetch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Decode speed of residency policies on the same prompts.",
                "All policies run in one process.",
                "A plain checkpoint is quantized first (cached under target/quantized). On the CPU backend (and on "
                        + "CUDA with --emulate-link) the host-to-device link is emulated at one bandwidth defined by the "
                        + "4-bit expert: copying this model's expert quantized at 4 bits takes 7.4 layer compute times "
                        + "(measured per run), Mixtral-8x7B's ratio on PCIe 4.0; 2- and 3-bit experts have fewer bytes and "
                        + "copy proportionally faster (see --link-gbps).",
                "With --routing-from TRACE, decoded tokens take their experts from a recorded routing trace instead "
                        + "of the router (prompt i replays problem i of the trace), under every policy.",
                "With --repeat N, N rounds each run every policy once, round r starting at policy r mod P so that a "
                        + "drifting machine speed does not always favour the same policy; speeds are medians over rounds and a "
                        + "speed-up is the median of the two policies' ratios in the same round, with its range over rounds.",
                "Before the measured rounds every policy runs once over all prompts unmeasured (--warmup), so that "
                        + "the rounds measure compiled code."})
final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "checkpoint directory (default: the demo model)")
    Path model;

    @Option(names = "--policies", split = ",", defaultValue = "all-resident,mixtral-offloading,next-layer,lookahead",
            description = "policies to compare (default: ${DEFAULT-VALUE})")
    List<String> policies;

    @Option(names = "--expert-bits", split = ",", defaultValue = "4", description = "expert bit widths, e.g. 2,3,4")
    List<Integer> expertBits;

    @Option(names = "--expert-group", defaultValue = "64", description = "quantization group of the experts")
    int expertGroup;

    @Option(names = {"-k", "--slots-per-layer"}, defaultValue = "0",
            description = "expert slots per layer (0: half the experts of a layer, unless --gpu-memory is given)")
    int slotsPerLayer;

    @Option(names = "--gpu-memory", description = "device memory budget (e.g. 12GiB); the rest of the weights, KV cache and"
            + " scratch are placed first, what remains becomes expert slots")
    String gpuMemory;

    @Option(names = "--link-gbps", defaultValue = "0",
            description = "emulated link in GB/s; 0 = derive it from the measured compute (see above) on the CPU backend"
                    + " or with --emulate-link, the real link on CUDA")
    double linkGbps;

    @Option(names = "--emulate-link",
            description = "cuda: emulate the link as the CPU backend does (derived from the measured compute, or"
                    + " --link-gbps) instead of using the GPU's real one: a small model's policies at Mixtral-8x7B's"
                    + " transfer / compute ratio, with a real device and host (the CPU backend always emulates it)")
    boolean emulateLink;

    @Option(names = {"-n", "--tokens"}, defaultValue = "32", description = "tokens generated per prompt")
    int tokens;

    @Option(names = "--backend", defaultValue = "cpu", description = "cpu or cuda (default: ${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--threads", defaultValue = "0", description = "CPU backend threads, 0 = all cores")
    int threads;

    @Option(names = "--repeat", paramLabel = "N", defaultValue = "1",
            description = "rounds of every policy over all prompts, order rotated per round; decode t/s and speed-ups"
                    + " are medians over rounds (default: ${DEFAULT-VALUE})")
    int repeat = 1; // set here too: DemoCommand fills the fields without picocli

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "1",
            description = "rounds of every policy over all prompts run first and not measured, so that the measured"
                    + " rounds run compiled code (default: ${DEFAULT-VALUE})")
    int warmup = 1;

    @picocli.CommandLine.Mixin
    SpeculationOptions speculation = new SpeculationOptions();

    @Option(names = "--prompts", paramLabel = "FILE",
            description = "UTF-8 file with one prompt per line (blank lines ignored); default: the demo's 3 prompts")
    Path promptsFile;

    private List<String> prompts; // the demo's or the file's, set by call()

    @Option(names = "--heads", paramLabel = "FILE", description = "trained lookahead heads (lookahead align); default: MODEL's "
            + LookaheadHeads.DEFAULT_FILE + " when it has one (the demo model does), else plug-and-play")
    Path heads;

    @Option(names = "--routing-from", paramLabel = "TRACE", description = {"replay the routing of a recorded trace (JSONL,"
            + " e.g. ../shared/traces/mixtral-8x7b/gsm8k.jsonl) for every decoded token: prompt i replays problem i mod"
            + " the trace's problems from its token 0, starting over when the problem is shorter; prompts keep the"
            + " router's routing. The model needs the trace's layers and top-k (Mixtral traces: 32 layers, 8 experts,"
            + " top-2)"})
    Path routingFrom;

    private ForcedRouting routing; // read once up front, so a bad trace fails before anything is quantized or loaded

    @Option(names = "--oracle-heads", split = ",", paramLabel = "R0[,R1[,R2]]", description = {"WHAT-IF: the lookahead"
            + " policies' heads are replaced by an oracle of the replayed routing of this recall for the same token's later"
            + " layers, the next token and later tokens (a value left out repeats the one before): what heads of that"
            + " quality would buy here. No real predictor runs. Without --routing-from, the model's own greedy routing of"
            + " the prompts is recorded first (every expert resident) and replayed"})
    List<Double> oracleHeads;

    private HeadOracle.Recalls oracle; // parsed up front

    @Option(names = "--json", paramLabel = "FILE", description = "also write every width's rows, ceilings and self-checks"
            + " as JSON (rewritten after each width, so a failing width keeps the earlier ones)")
    Path jsonFile;

    private final JsonMapper json = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
    private final ObjectNode report = json.createObjectNode();

    /** The non-blank lines of {@code file}. */
    static List<String> readPrompts(Path file) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("prompts file not found: " + file);
        try {
            List<String> lines = Files.readAllLines(file, java.nio.charset.StandardCharsets.UTF_8).stream()
                    .filter(l -> !l.isBlank()).toList();
            if (lines.isEmpty()) throw new IllegalArgumentException("prompts file " + file + " has no prompt (no non-blank line)");
            return lines;
        } catch (java.nio.charset.MalformedInputException e) {
            throw new IllegalArgumentException("prompts file " + file + " is not UTF-8 text");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot read prompts file " + file, e);
        }
    }

    @Override
    public Integer call() throws IOException {
        if (repeat < 1) throw new IllegalArgumentException("--repeat must be at least 1 round, got " + repeat);
        if (warmup < 0) throw new IllegalArgumentException("--warmup must be at least 0 rounds, got " + warmup);
        if (tokens < 1) throw new IllegalArgumentException("--tokens (-n) must be at least 1, got " + tokens);
        if (linkGbps < 0 || !Double.isFinite(linkGbps)) {
            throw new IllegalArgumentException("--link-gbps must be >= 0 (0: calibrated), got " + linkGbps);
        }
        // every argument is checked before the first model is quantized or run
        for (int bits : expertBits) new QuantSpec(bits, expertGroup);
        if (gpuMemory != null) ByteSize.parse(gpuMemory);
        // read once, up front: a bad file fails before anything is quantized
        prompts = promptsFile == null ? DemoCommand.PROMPTS : readPrompts(promptsFile);
        Path source = model != null ? model : DemoCommand.resolveDemoModel();
        ModelConfig config = ModelConfig.read(source.resolve(Checkpoint.CONFIG));
        for (String name : policies) {
            ResidencyPolicy policy = ResidencyPolicies.byName(name);
            if (slotsPerLayer > 0 && policy.placement() != ResidencyPolicy.Placement.ALL_RESIDENT) {
                OffloadedExperts.checkSlots(policy, config.numHiddenLayers(), config.numLocalExperts(), slotsPerLayer,
                        config.numExpertsPerTok());
            }
        }
        if (heads == null) heads = LookaheadHeads.defaultFile(source);
        if (jsonFile != null) {
            Path parent = jsonFile.toAbsolutePath().getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                throw new IllegalArgumentException("--json: directory " + parent + " does not exist");
            }
            report.put("model", source.toString());
            report.putArray("runs");
        }
        if (oracleHeads != null) {
            oracle = HeadOracle.Recalls.of(oracleHeads);
            if (routingFrom == null && tokens < 2) { // the own routing is that of the decoded tokens
                throw new IllegalArgumentException("--oracle-heads replays the decoded tokens' routing, and -n " + tokens
                        + " decodes none: give -n 2 or more");
            }
        }
        BackendChoice choice = BackendChoice.parse(backend);
        if (routingFrom != null) {
            routing = ForcedRouting.read(routingFrom, config);
        }
        for (int bits : expertBits) {
            Path quantized = QuantizedModels.ensure(source, bits, expertGroup);
            run(quantized, choice);
        }
        return 0;
    }

    /**
     * What the CPU backend's compute threads leave to the host: on a GPU machine the host plans copies on cores of its
     * own, while here all-cores compute shares them with it (docs/results.md: the lookahead policies, which plan more,
     * read 0.05–0.09x lower for it in session 12).
     */
    static String computeThreads(int threads, int cores) {
        int used = threads > 0 ? threads : cores;
        String line = "CPU backend: " + used + " compute thread" + (used == 1 ? "" : "s") + " on " + cores + " core"
                + (cores == 1 ? "" : "s");
        if (used >= cores && cores > 1) {
            line += "; the host's planning and copies share them (on a GPU machine it has cores of its own: --threads "
                    + (cores - 1) + " leaves it one)";
        }
        return line;
    }

    /** Where the bench's host-to-device link comes from. */
    enum LinkSource {
        /** a GPU's own link, probed before and after the runs */
        REAL,
        /** emulated at --link-gbps */
        GIVEN,
        /** emulated at the bandwidth that gives Mixtral-8x7B's transfer / compute ratio ({@link PolicyBench#calibrateLink}) */
        CALIBRATED;

        /** The CPU backend always emulates the link; CUDA uses its real one unless told to emulate. */
        static LinkSource of(BackendChoice backend, boolean emulate, double linkGbps) {
            if (linkGbps > 0) return GIVEN;
            return backend == BackendChoice.CUDA && !emulate ? REAL : CALIBRATED;
        }
    }

    /** Adds one width's run to the JSON report and rewrites the file. */
    private void report(Path quantized, String format, LoadOptions base, String link, PolicyBench.Result result) {
        ObjectNode o = ((ArrayNode) report.get("runs")).addObject();
        o.put("checkpoint", quantized.toString());
        o.put("expert_format", format);
        o.put("backend", base.backend().name().toLowerCase(Locale.ROOT));
        if (gpuMemory != null) o.put("gpu_memory", gpuMemory);
        else o.put("slots_per_layer", base.slotsPerLayer());
        o.put("link", link);
        o.put("link_emulated", base.linkBytesPerSecond() > 0);
        if (base.backend() != BackendChoice.CUDA) o.put("cpu_threads", threads); // 0: all cores
        o.put("prompts", prompts.size());
        o.put("warmup_rounds", warmup);
        o.put("tokens_per_prompt", tokens);
        o.put("heads", heads != null ? heads.toString() : "plug-and-play");
        if (routingFrom != null) o.put("routing_from", routingFrom.toString());
        else if (oracle != null) o.put("routing_from", "the model's own greedy routing of the prompts");
        if (oracle != null) { // a what-if: the heads were an oracle of the replayed routing
            ObjectNode r = o.putObject("oracle_heads_recall");
            r.put("same_token", oracle.sameToken());
            r.put("next_token", oracle.nextToken());
            r.put("later_tokens", oracle.laterTokens());
        }
        BenchJson.fill(o, result, "mixtral-offloading");
        writeReport();
    }

    /** Through a file beside it, so that a reader never sees half a report. */
    private void writeReport() {
        Path partial = jsonFile.resolveSibling(jsonFile.getFileName() + ".partial");
        try {
            Files.writeString(partial, json.writeValueAsString(report));
            Files.move(partial, jsonFile, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot write " + jsonFile, e);
        }
    }

    /** Eight experts' worth of pinned copies, at least 64 MiB (small experts time the call, not the link). */
    private static LinkProbe.Measurement measureGpuLink(long blobBytes) {
        long bytes = Math.max(64L << 20, Math.min(1L << 30, 8 * blobBytes));
        try (Backend backend = Backend.load(); Device device = backend.open(BackendName.CUDA, DeviceOptions.DEFAULTS)) {
            return LinkProbe.hostToDevice(device, bytes, 5);
        }
    }

    private void run(Path quantized, BackendChoice choice) throws IOException {
        LoadOptions base = LoadOptions.defaults().withBackend(choice).withThreads(threads).withKvCacheType(DType.F32)
                .withHeadsFile(heads).withRoutingFrom(routingFrom)
                .withScheduler(speculation.toTuning());
        ExpertBlobLayout layout;
        int experts, topK;
        String format;
        try (QuantizedCheckpoint qc = QuantizedCheckpoint.open(quantized)) {
            layout = qc.layout();
            experts = qc.config().numLocalExperts();
            topK = qc.config().numExpertsPerTok();
            format = qc.expertSpec().toString();
        }
        if (gpuMemory != null) base = base.withDeviceMemory(ByteSize.parse(gpuMemory));
        else base = base.withSlotsPerLayer(slotsPerLayer > 0 ? slotsPerLayer : Math.max(1, experts / 2));
        if (slotsPerLayer > 0) base = base.withSlotsPerLayer(slotsPerLayer);

        String link;
        double overlapLinkBytesPerSecond = 0; // on a GPU: the measured link, for the overlap bound only
        switch (LinkSource.of(choice, emulateLink, linkGbps)) {
            case REAL -> {
                LinkProbe.Measurement m = measureGpuLink(layout.blobBytes());
                overlapLinkBytesPerSecond = m.bytesPerSecond();
                link = "real link of the GPU: " + m.describe();
            }
            case GIVEN -> {
                base = base.withLinkBytesPerSecond(linkGbps * 1e9);
                link = String.format(Locale.ROOT, "emulated link %.3f GB/s (given)", linkGbps);
            }
            case CALIBRATED -> {
                PolicyBench.LinkCalibration c = PolicyBench.calibrateLink(quantized, base, prompts, tokens, warmup, layout);
                base = base.withLinkBytesPerSecond(c.bytesPerSecond());
                link = c.describe();
            }
            default -> throw new IllegalStateException();
        }
        System.out.printf(Locale.ROOT, "%nbench %s: experts %s, %s, %s, %d prompts x %d tokens, greedy%s%n", quantized,
                format, gpuMemory != null ? "budget " + gpuMemory : base.slotsPerLayer() + " expert slots per layer",
                base.backend().name().toLowerCase(Locale.ROOT), prompts.size(), tokens,
                (repeat > 1 ? ", median of " + repeat + " rounds, order rotated" : "")
                        + (warmup > 0 ? ", " + warmup + " warm-up round" + (warmup == 1 ? "" : "s") + " first (not measured)"
                        : ", no warm-up"));
        System.out.println(link);
        if (choice != BackendChoice.CUDA) System.out.println(computeThreads(threads, Runtime.getRuntime().availableProcessors()));
        System.out.println("lookahead heads: " + (heads != null ? heads : "plug-and-play (each layer's router applied early)"));
        long blobBytes = layout.blobBytes();
        SchedulerConfig sc = base.scheduler().applyTo(SchedulerConfig.defaults(blobBytes, topK), blobBytes);
        StagedPrefetch.Config staging = base.scheduler().stagingConfig(blobBytes);
        System.out.println("lookahead scheduler: " + sc.describe(blobBytes) + "; " + (staging == null ? "no staging"
                : String.format(Locale.ROOT, "staging p >= %.2f, ranked by p x %.2f^(steps ahead - 1), in %.0f %% of each"
                                + " measured link-idle window, %s, bypass %s",
                        staging.minProbability(), staging.stepDiscount(), 100 * staging.windowShare(), staging.minUsefulness() > 0
                                ? String.format(Locale.ROOT, "throttled below %.0f %% bytes used", 100 * staging.minUsefulness())
                                : "never throttled", base.scheduler().bypass() ? "on" : "off")));
        if (oracle == null || routingFrom != null) {
            runPolicies(quantized, base, overlapLinkBytesPerSecond, layout, format, link);
            return;
        }
        // the what-if without a trace replays the model's own routing, recorded per width
        Path ownRouting = Files.createTempFile("lookahead-own-routing-", ".jsonl");
        try {
            recordOwnRouting(ownRouting, quantized, base);
            runPolicies(quantized, base.withRoutingFrom(ownRouting), overlapLinkBytesPerSecond, layout, format, link);
        } finally {
            deleteQuietly(ownRouting);
        }
    }

    private void runPolicies(Path quantized, LoadOptions base, double overlapLinkBytesPerSecond, ExpertBlobLayout layout,
                             String format, String link) {
        if (routing != null) {
            System.out.println(routing.describe() + "; prompt i replays problem i mod " + routing.problems()
                    + " from its token 0 (prompt tokens keep the model's router)");
            if (prompts.size() > routing.problems()) {
                System.out.println("note: " + prompts.size() + " prompts replay " + routing.problems() + " problems, so"
                        + " later prompts repeat earlier routing exactly; the lookahead policies' routing recurrence"
                        + " will find it again. Give at most one prompt per problem for a fair comparison");
            }
        }
        if (oracle != null) {
            System.out.println("WHAT-IF: the lookahead heads are an oracle of the replayed routing, recall "
                    + oracle.describe() + "; no real predictor runs");
        }
        PolicyBench.Result result = PolicyBench.run(quantized, policies, base, prompts, tokens, warmup, repeat, oracle,
                ProgressBar.stderr());
        if (overlapLinkBytesPerSecond > 0) {
            // Once more after the runs: a host busy at the first probe (a session on a GPU machine once read half its
            // link then) would make the bound too loose. The faster reading gives the tighter bound.
            LinkProbe.Measurement after = measureGpuLink(layout.blobBytes());
            System.out.println("real link of the GPU after the runs: " + after.describe()
                    + "; the overlap bound uses the faster of the two");
            result = result.withLinkBytesPerSecond(Math.max(overlapLinkBytesPerSecond, after.bytesPerSecond()));
        }
        System.out.print(PolicyBench.table(result, "mixtral-offloading"));
        if (jsonFile != null) report(quantized, format, base, link, result);
        if (result.rows().stream().anyMatch(r -> !r.sameTokens())) {
            throw new IllegalStateException("a policy produced other tokens than all-resident: offloading must change speed only");
        }
    }

    /**
     * Writes the model's own greedy routing of the prompts, every expert resident, as a trace to {@code file}: problem
     * i is prompt i, so that the bench's prompt i replays exactly the routing it would have chosen.
     */
    private void recordOwnRouting(Path file, Path quantized, LoadOptions base) {
        ProgressBar progress = ProgressBar.stderr();
        progress.start("recording the model's own routing", prompts.size(), "prompts");
        GenerationOptions options = GenerationOptions.defaults().withMaxTokens(tokens);
        List<Integer> nothingDecoded = new java.util.ArrayList<>(); // 1-based prompt numbers
        long decoded = 0;
        try (MoeModel model = MoeModel.load(quantized, base.withPolicy("all-resident"));
             RoutingTraceWriter trace = new RoutingTraceWriter(file, "own")) {
            model.forwardPass().setRoutingListener(trace);
            for (int i = 0; i < prompts.size(); i++) {
                trace.startProblem(i, model.encodePrompt(prompts.get(i), options.chat()).length);
                int passes = model.generate(prompts.get(i), options, t -> { }).timings().decodeTokens();
                if (passes == 0) nothingDecoded.add(i + 1);
                decoded += passes;
                progress.update(i + 1);
            }
        }
        progress.finish();
        if (!nothingDecoded.isEmpty()) {
            // prompt i replays the i-th problem of the trace: a prompt that wrote none would shift every later one
            throw new IllegalArgumentException("--oracle-heads: prompt(s) " + nothingDecoded + " end at their first"
                    + " generated token, so they decode nothing whose routing could be replayed; leave them out of the prompts");
        }
        System.out.println("routing replayed: this model's own greedy routing of the " + prompts.size() + " prompts ("
                + decoded + " decoded tokens, recorded first with every expert resident)");
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // a temporary file: the system's cleaner takes it
        }
    }
}
