package dev.lookahead.cli;

import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.RandomCheckpoint.Spec;
import dev.lookahead.model.RandomCheckpoint.WeightType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "create-model", mixinStandardHelpOptions = true,
        description = {"Writes a Mixtral-architecture checkpoint with deterministic RANDOM weights",
                "(config.json, model.safetensors, tokenizer.json, tokenizer_config.json), for tests and benchmarks.",
                "Its text is noise: use a trained model for real output."})
final class CreateModelCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR", description = "output directory (new or empty)")
    Path dir;

    @Option(names = "--layers", defaultValue = "2") int layers;
    @Option(names = "--hidden", defaultValue = "64") int hidden;
    @Option(names = "--intermediate", defaultValue = "128") int intermediate;
    @Option(names = "--heads", defaultValue = "4") int heads;
    @Option(names = "--kv-heads", defaultValue = "2") int kvHeads;
    @Option(names = "--head-dim", defaultValue = "0", description = "0 = hidden / heads") int headDim;
    @Option(names = "--experts", defaultValue = "4") int experts;
    @Option(names = "--top-k", defaultValue = "2") int topK;
    @Option(names = "--vocab", defaultValue = "512") int vocab;
    @Option(names = "--sliding-window", defaultValue = "0", description = "0 = none") int slidingWindow;
    @Option(names = "--rope-theta", defaultValue = "10000") double ropeTheta;
    @Option(names = "--max-positions", defaultValue = "4096") int maxPositions;
    @Option(names = "--dtype", defaultValue = "f32", description = "f32, f16 or bf16") String dtype;
    @Option(names = "--seed", defaultValue = "1") long seed;

    @Override
    public Integer call() throws IOException {
        WeightType type = WeightType.valueOf(dtype.toUpperCase(Locale.ROOT));
        int hd = headDim > 0 ? headDim : hidden / heads;
        Spec spec = new Spec(layers, hidden, intermediate, heads, kvHeads, hd, experts, topK, vocab, slidingWindow,
                ropeTheta, 1e-5, maxPositions, type, seed);
        RandomCheckpoint.write(spec, dir);
        System.err.printf(Locale.ROOT, "wrote %s: %d layers, %d experts (top-%d), %,d parameters, %s, seed %d — RANDOM weights%n",
                dir, layers, experts, topK, spec.parameterCount(), type, seed);
        return 0;
    }
}
