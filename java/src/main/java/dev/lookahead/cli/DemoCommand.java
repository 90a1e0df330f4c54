package dev.lookahead.cli;

import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.GenerationResult;
import dev.lookahead.api.MoeModel;
import dev.lookahead.api.SamplingOptions;
import dev.lookahead.model.RandomCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Runs the demo model (models/demo) on a few prompts and prints text and timings.")
final class DemoCommand implements Callable<Integer> {
    static final List<String> PROMPTS = List.of(
            "The old man looked at the",
            "In the morning, the city",
            "She opened the letter and");

    @Option(names = "--model", description = "checkpoint directory (default: models/demo of the project)")
    Path model;

    @Option(names = {"-n", "--max-tokens"}, defaultValue = "40", description = "tokens per prompt (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws IOException {
        Path dir = model != null ? model : resolveDemoModel();
        GenerationOptions options = GenerationOptions.defaults().withMaxTokens(maxTokens)
                .withSampling(new SamplingOptions(0.7f, 40, 0.95f, 1.1f, 7));
        try (MoeModel m = ModelLoading.load(dir, backend.toLoadOptions(), System.out)) {
            var c = m.config();
            System.out.printf("model: %s (%d layers, %d experts, top-%d)%n", dir, c.numHiddenLayers(),
                    c.numLocalExperts(), c.numExpertsPerTok());
            for (String prompt : PROMPTS) {
                System.out.println();
                System.out.print("> " + prompt);
                GenerationResult r = m.generate(prompt, options, t -> {
                    System.out.print(t.text());
                    System.out.flush();
                });
                System.out.println();
                System.out.println("  [" + r.timings() + "]");
            }
        }
        return 0;
    }

    /** The project's trained demo model; until it exists, a random-weight model made on first use. */
    private static Path resolveDemoModel() throws IOException {
        Path home = Path.of(System.getProperty("lookahead.home", "."));
        Path trained = home.resolve("models/demo");
        if (Files.isRegularFile(trained.resolve("config.json"))) return trained;
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
