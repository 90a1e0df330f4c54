package dev.lookahead.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Builders of small safetensors files and checkpoint directories for tests. */
final class TestCheckpoints {

    private TestCheckpoints() {}

    /** A tiny but complete Mixtral config: 2 layers, 4 experts (top-2), GQA 4:2, head_dim 8. */
    static ModelConfig tinyConfig(boolean tied) {
        return new ModelConfig(List.of("MixtralForCausalLM"), "mixtral", 32, 48, 2, 4, 2, 8, 4, 2,
                1e-5, 1e6, 256, null, 64, tied, 1, List.of(2), "float32");
    }

    /** A deterministic value for element {@code i} of tensor {@code name}: distinct per tensor. */
    static float value(String name, long i) {
        // Multiples of 1/64 in (-1.6, 1.6): exact in F32, F16 and BF16 (7 mantissa bits suffice).
        return (Math.floorMod(name.hashCode() + 31L * i, 200) - 100) / 64f;
    }

    static float[] values(String name, long count) {
        float[] v = new float[(int) count];
        for (int i = 0; i < v.length; i++) {
            v[i] = value(name, i);
        }
        return v;
    }

    /** Writes every tensor {@code spec} expects for {@code config} into a writer (F32). */
    static SafetensorsWriter addAll(SafetensorsWriter w, ArchitectureSpec spec, ModelConfig config,
            List<ArchitectureSpec.Expected> only) {
        for (ArchitectureSpec.Expected e : only) {
            long n = 1;
            for (long d : e.shape()) {
                n *= d;
            }
            w.add(e.name(), DType.F32, e.shape(), SafetensorsWriter.TensorData.ofFloats(values(e.name(), n)));
        }
        return w;
    }

    /** Writes a single-file checkpoint directory for {@code config}. */
    static Path writeSingle(Path dir, ModelConfig config) throws IOException {
        Files.createDirectories(dir);
        config.write(dir.resolve(Checkpoint.CONFIG));
        ArchitectureSpec spec = ArchitectureSpec.forConfig(config);
        List<ArchitectureSpec.Expected> all = spec.expectedTensors(config).stream()
                .filter(e -> !(e.spec().presence() == ArchitectureSpec.Presence.UNLESS_TIED && config.tieWordEmbeddings()))
                .toList();
        addAll(new SafetensorsWriter(dir.resolve(Checkpoint.SINGLE_FILE)), spec, config, all).write();
        return dir;
    }

    /**
     * A raw safetensors file: 8-byte length (as given), then {@code header} bytes, then
     * {@code dataBytes} zero bytes. Lets a test write any lie it wants.
     */
    static Path raw(Path file, long declaredHeaderLength, byte[] header, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredHeaderLength).put(header);
        Files.write(file, b.array());
        return file;
    }

    /** A raw safetensors file with a truthful header length. */
    static Path raw(Path file, String headerJson, int dataBytes) throws IOException {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        return raw(file, h.length, h, dataBytes);
    }

    /** How many lines of /proc/self/maps map {@code file}: 0 once it is unmapped. */
    static long mappings(Path file) throws IOException {
        String abs = file.toAbsolutePath().normalize().toString();
        try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.filter(l -> l.endsWith(abs)).count();
        }
    }
}
