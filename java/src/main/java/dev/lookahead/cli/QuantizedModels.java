package dev.lookahead.cli;

import dev.lookahead.quant.CheckpointQuantizer;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.quant.QuantizedCheckpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds or makes (under target/) the quantized variant of a checkpoint for bench and demo. The copy carries a stamp
 * of its source's files (name, size, modification time); when the source has changed since (a retrained or
 * re-checked-out model), the copy is made again instead of silently benchmarking the old weights.
 */
final class QuantizedModels {
    private QuantizedModels() {
    }

    static Path ensure(Path source, int expertBits, int expertGroup) throws IOException {
        if (QuantizedCheckpoint.isQuantized(source)) return source;
        QuantSpec experts = new QuantSpec(expertBits, expertGroup); // a bad width fails before anything is written
        Path home = Path.of(System.getProperty("lookahead.home", "."));
        String name = source.toAbsolutePath().normalize().getFileName() + "-e" + expertBits + "g" + expertGroup + "-a4g64";
        Path dir = home.resolve("target/quantized").resolve(name);
        String stamp = stampOf(source);
        if (Files.isDirectory(dir) && QuantizedCheckpoint.isQuantized(dir)) {
            Path stampFile = dir.resolve(STAMP);
            boolean sameSource = Files.isRegularFile(stampFile) && Files.readString(stampFile).equals(stamp);
            String missing = sameSource ? missingCopies(source, dir) : null;
            if (sameSource && missing == null) return dir;
            System.err.println(sameSource
                    ? "the cached quantized copy " + dir + " lacks " + missing + " (made by an older version): quantizing again"
                    : "the cached quantized copy " + dir + " was made from other files than " + source
                            + " has now: quantizing again");
        }
        // write next to it and move into place, so an interrupted run never leaves a half model behind
        Path partial = dir.resolveSibling(name + ".partial");
        deleteRecursively(partial);
        Files.createDirectories(partial.getParent());
        System.err.println("quantizing " + source + " (experts " + expertBits + "-bit g" + expertGroup
                + ", attention 4-bit g64) into " + dir);
        CheckpointQuantizer.quantize(source, partial, new CheckpointQuantizer.Options(
                experts, new QuantSpec(4, 64), null), ProgressBar.stderr());
        Files.writeString(partial.resolve(STAMP), stamp);
        deleteRecursively(dir);
        Files.move(partial, dir);
        return dir;
    }

    /**
     * A file the quantizer copies (tokenizer, lookahead heads) that the source has and the copy lacks, or null: a copy
     * made before the quantizer copied it has the same stamp.
     */
    private static String missingCopies(Path source, Path copy) {
        for (String name : CheckpointQuantizer.COPIED_FILES) {
            if (Files.isRegularFile(source.resolve(name)) && !Files.isRegularFile(copy.resolve(name))) return name;
        }
        return null;
    }

    /** The stamp file in a quantized copy: its source's files when it was made. */
    static final String STAMP = "quantized-from.txt";

    /** One line per regular file of the source directory: name, size, modification time (ms); sorted by name. */
    static String stampOf(Path source) throws IOException {
        StringBuilder sb = new StringBuilder("source ").append(source.toAbsolutePath().normalize()).append('\n');
        try (var files = Files.list(source)) {
            for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                sb.append(f.getFileName()).append(' ').append(Files.size(f)).append(' ')
                        .append(Files.getLastModifiedTime(f).toMillis()).append('\n');
            }
        }
        return sb.toString();
    }

    private static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var walk = Files.walk(p)) {
            for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(x);
        }
    }
}
