package dev.lookahead.cli;

import dev.lookahead.quant.CheckpointQuantizer;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.quant.QuantizedCheckpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Finds or makes (once, under target/) the quantized variant of a checkpoint for bench and demo. */
final class QuantizedModels {
    private QuantizedModels() {
    }

    static Path ensure(Path source, int expertBits, int expertGroup) throws IOException {
        if (QuantizedCheckpoint.isQuantized(source)) return source;
        Path home = Path.of(System.getProperty("lookahead.home", "."));
        String name = source.toAbsolutePath().normalize().getFileName() + "-e" + expertBits + "g" + expertGroup + "-a4g64";
        Path dir = home.resolve("target/quantized").resolve(name);
        if (Files.isDirectory(dir) && QuantizedCheckpoint.isQuantized(dir)) return dir;
        // write next to it and move into place, so an interrupted run never leaves a half model behind
        Path partial = dir.resolveSibling(name + ".partial");
        deleteRecursively(partial);
        Files.createDirectories(partial.getParent());
        System.err.println("quantizing " + source + " (experts " + expertBits + "-bit g" + expertGroup
                + ", attention 4-bit g64) into " + dir);
        CheckpointQuantizer.quantize(source, partial, new CheckpointQuantizer.Options(
                new QuantSpec(expertBits, expertGroup), new QuantSpec(4, 64), null), ProgressBar.stderr());
        deleteRecursively(dir);
        Files.move(partial, dir);
        return dir;
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var walk = Files.walk(p)) {
            for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
