package dev.lookahead.cli;

import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.GenerationResult;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.api.MoeModel;
import dev.lookahead.api.SamplingOptions;
import dev.lookahead.gate.LookaheadHeads;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.quant.QuantizedCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Runs the demo model, half its experts offloaded, and benches it.",
                "The demo model (models/demo) is quantized to 4 bits with only half of each layer's experts in device "
                        + "memory (Mixtral-offloading's per-layer LRU): it generates text for a few prompts, then compares the "
                        + "residency policies (bench) on the model's " + DemoCommand.BENCH_PROMPTS + " when it has one (the demo "
                        + "model's 12 held-out prompts), else on the same prompts."})
final class DemoCommand implements Callable<Integer> {
    static final List<String> PROMPTS = List.of(
            "The old man looked at the",
            "In the morning, the city",
            "She opened the letter and");

    @Option(names = "--model", description = "checkpoint directory (default: models/demo of the project)")
    Path model;

    @Option(names = {"-n", "--max-tokens"}, defaultValue = "40", description = "tokens per prompt (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--bench-tokens", defaultValue = "48", description = "tokens per prompt in the bench (0 = no bench; "
            + "default: ${DEFAULT-VALUE})")
    int benchTokens;

    /** Held-out prompts a model directory may carry for the bench (the demo model's 12); without it, the demo's 3. */
    static final String BENCH_PROMPTS = "bench-prompts.txt";

    @Option(names = "--backend", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--threads", defaultValue = "0", description = "CPU backend threads, 0 = all cores")
    int threads;

    @Override
    public Integer call() throws IOException {
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens (-n) must be at least 1, got " + maxTokens);
        if (benchTokens < 0) throw new IllegalArgumentException("--bench-tokens must be >= 0 (0: no bench), got " + benchTokens);
        Path dir = model != null ? model : resolveDemoModel();
        Path quantized = QuantizedModels.ensure(dir, 4, 64);
        int experts, slots;
        String format;
        long blobBytes;
        try (QuantizedCheckpoint qc = QuantizedCheckpoint.open(quantized)) {
            experts = qc.config().numLocalExperts();
            slots = Math.max(qc.config().numExpertsPerTok(), experts / 2);
            format = qc.expertSpec().toString();
            blobBytes = qc.layout().blobBytes();
        }
        LoadOptions options = LoadOptions.defaults().withBackend(BackendChoice.parse(backend)).withThreads(threads)
                .withPolicy("mixtral-offloading").withSlotsPerLayer(slots);
        GenerationOptions generation = GenerationOptions.defaults().withMaxTokens(maxTokens)
                .withSampling(new SamplingOptions(0.7f, 40, 0.95f, 1.1f, 7));
        try (MoeModel m = ModelLoading.load(quantized, options, System.out)) {
            var c = m.config();
            System.out.printf(Locale.ROOT, "model: %s (%d layers, %d experts, top-%d), experts %s (%s each), attention 4-bit%n",
                    dir, c.numHiddenLayers(), experts, c.numExpertsPerTok(), format, ModelLoading.mib(blobBytes));
            System.out.printf(Locale.ROOT, "experts: %d of %d per layer in device memory (%s of %s), the rest in pinned host"
                            + " memory, policy %s%n", slots, experts, ModelLoading.mib((long) slots * c.numHiddenLayers() * blobBytes),
                    ModelLoading.mib((long) experts * c.numHiddenLayers() * blobBytes), m.policy().name());
            for (String prompt : PROMPTS) {
                System.out.println();
                System.out.print("> " + prompt);
                GenerationResult r = m.generate(prompt, generation, t -> {
                    System.out.print(t.text());
                    System.out.flush();
                });
                System.out.println();
                System.out.println("  [" + r.timings() + "]");
            }
            m.expertCacheStats().ifPresent(s -> System.out.println(System.lineSeparator() + s));
        }
        if (benchTokens > 0) {
            System.out.println();
            BenchCommand bench = new BenchCommand();
            bench.model = quantized;
            bench.heads = LookaheadHeads.defaultFile(dir);
            bench.policies = List.of("all-resident", "mixtral-offloading", "next-layer", "lookahead", "lookahead-global");
            // 3 prompts of a few dozen tokens scatter the speed-ups by +-10 % from run to run; the model's 12 held-out
            // prompts give the table the bench's own workload (docs/results.md), in about 25 s on 2 cores (with the
            // bench's warm-up round)
            bench.promptsFile = benchPrompts(dir);
            bench.expertBits = List.of(4);
            bench.expertGroup = 64;
            bench.slotsPerLayer = slots;
            bench.tokens = benchTokens;
            bench.backend = BackendChoice.parse(backend) == BackendChoice.CUDA ? "cuda" : "cpu";
            bench.threads = threads;
            bench.call();
        }
        return 0;
    }

    /** {@code model}'s held-out bench prompts file, or null when it has none (the bench then uses the demo's prompts). */
    static Path benchPrompts(Path model) {
        Path f = model.resolve(BENCH_PROMPTS);
        return Files.isRegularFile(f) ? f : null;
    }

    /** The project's trained demo model; until it exists, a random-weight model made on first use. */
    static Path resolveDemoModel() throws IOException {
        Path home = Path.of(System.getProperty("lookahead.home", "."));
        Path trained = home.resolve("models/demo");
        if (Files.isRegularFile(trained.resolve("model.safetensors"))) return trained;
        Path random = home.resolve("target/demo-random");
        if (!Files.isRegularFile(random.resolve("model.safetensors"))) {
            Files.createDirectories(random.getParent());
            RandomCheckpoint.write(RandomCheckpoint.Spec.small(1).withLayers(4).withExperts(8, 2), random);
        }
        System.out.println("note: no trained model in " + trained + "; using " + random
                + " whose weights are RANDOM (its text is noise)");
        return random;
    }
}
