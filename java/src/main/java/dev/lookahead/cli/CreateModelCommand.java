package dev.lookahead.cli;

import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.RandomCheckpoint.Spec;
import dev.lookahead.model.RandomCheckpoint.WeightType;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.quant.RandomQuantizedCheckpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "create-model", mixinStandardHelpOptions = true,
        description = {"Writes a Mixtral checkpoint with random weights (for tests).",
                "Writes a checkpoint directory: config.json, the weights (model.safetensors) and a tokenizer; the weights are "
                        + "deterministic RANDOM, so its text is noise: use a trained model for real output.",
                "With --expert-bits it writes the quantized format directly (no plain checkpoint in between):",
                "Mixtral-8x7B's shape is 25 GB with 4-bit experts instead of 93 GB in bf16. Its experts are then uniform "
                        + "random codes with the plain checkpoint's variance; everything else is what `quantize` makes of it."})
final class CreateModelCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR", description = "output directory (new or empty)")
    Path dir;

    @Option(names = "--layers", defaultValue = "2", description = "decoder layers (default: ${DEFAULT-VALUE})") int layers;
    @Option(names = "--hidden", defaultValue = "64", description = "hidden size (default: ${DEFAULT-VALUE})") int hidden;
    @Option(names = "--intermediate", defaultValue = "128", description = "expert FFN size (default: ${DEFAULT-VALUE})") int intermediate;
    @Option(names = "--heads", defaultValue = "4", description = "attention heads (default: ${DEFAULT-VALUE})") int heads;
    @Option(names = "--kv-heads", defaultValue = "2", description = "key/value heads (default: ${DEFAULT-VALUE})") int kvHeads;
    @Option(names = "--head-dim", defaultValue = "0", description = "head size; 0 = hidden / heads (default: ${DEFAULT-VALUE})") int headDim;
    @Option(names = "--experts", defaultValue = "4", description = "experts per layer (default: ${DEFAULT-VALUE})") int experts;
    @Option(names = "--top-k", defaultValue = "2", description = "experts each token uses per layer (default: ${DEFAULT-VALUE})") int topK;
    @Option(names = "--vocab", defaultValue = "512", description = "vocabulary size (default: ${DEFAULT-VALUE})") int vocab;
    @Option(names = "--sliding-window", defaultValue = "0", description = "attention window; 0 = none (default: ${DEFAULT-VALUE})") int slidingWindow;
    @Option(names = "--rope-theta", defaultValue = "10000", description = "RoPE base (default: ${DEFAULT-VALUE})") double ropeTheta;
    @Option(names = "--max-positions", defaultValue = "4096", description = "context length (default: ${DEFAULT-VALUE})") int maxPositions;
    @Option(names = "--dtype", defaultValue = "f32", description = "weight type without --expert-bits: f32, f16 or bf16 (default: ${DEFAULT-VALUE})") String dtype;
    @Option(names = "--seed", defaultValue = "1", description = "seed of the random weights (default: ${DEFAULT-VALUE})") long seed;
    @Option(names = "--expert-bits", description = "write a quantized checkpoint with experts of 2, 3 or 4 bits")
    Integer expertBits;
    @Option(names = "--expert-group", defaultValue = "64", description = "expert quantization group (default: ${DEFAULT-VALUE})")
    int expertGroup;
    @Option(names = "--attn-bits", defaultValue = "4", description = "attention bits when quantized (default: ${DEFAULT-VALUE})")
    int attnBits;
    @Option(names = "--attn-group", defaultValue = "64", description = "attention group when quantized (default: ${DEFAULT-VALUE})")
    int attnGroup;

    @Override
    public Integer call() throws IOException {
        WeightType type = WeightType.valueOf(dtype.toUpperCase(Locale.ROOT));
        int hd = headDim > 0 ? headDim : hidden / heads;
        Spec spec = new Spec(layers, hidden, intermediate, heads, kvHeads, hd, experts, topK, vocab, slidingWindow,
                ropeTheta, 1e-5, maxPositions, type, seed);
        if (expertBits == null) {
            RandomCheckpoint.write(spec, dir);
            System.err.printf(Locale.ROOT, "wrote %s: %d layers, %d experts (top-%d), %,d parameters, %s, seed %d — RANDOM weights%n",
                    dir, layers, experts, topK, spec.parameterCount(), type, seed);
        } else {
            QuantSpec expertSpec = new QuantSpec(expertBits, expertGroup);
            QuantSpec attnSpec = new QuantSpec(attnBits, attnGroup);
            long bytes = RandomQuantizedCheckpoint.write(spec, expertSpec, attnSpec, dir, ProgressBar.stderr());
            System.err.printf(Locale.ROOT, "wrote %s: %d layers, %d experts (top-%d), %,d parameters, quantized "
                            + "(experts %s, attention %s), %.2f GiB, seed %d — RANDOM weights%n", dir, layers, experts,
                    topK, spec.parameterCount(), expertSpec, attnSpec, bytes / (double) (1L << 30), seed);
        }
        return 0;
    }
}
