package dev.lookahead.quant;

import dev.lookahead.model.DType;
import dev.lookahead.model.SafetensorsFile;
import dev.lookahead.model.SafetensorsWriter;
import dev.lookahead.model.TensorInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.stream.Stream;

/** Copies a checkpoint directory with edits to its model.safetensors (for error tests). */
final class QuantTestFiles {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Set<DType> ANY = Set.of(DType.values());

    /** What to write instead of a tensor; a null replacement drops it. */
    record Replacement(DType dtype, long[] shape, SafetensorsWriter.TensorData data) {}

    private QuantTestFiles() {}

    /**
     * Copies {@code src} to {@code dst}: every file but model.safetensors unchanged; the model
     * with its metadata passed through {@code editMetadata} and the tensors named in
     * {@code edits} replaced (or dropped when the function returns null).
     */
    static void rewrite(Path src, Path dst, Consumer<Map<String, String>> editMetadata,
            Map<String, BiFunction<TensorInfo, MemorySegment, Replacement>> edits) throws IOException {
        rewrite(src, dst, editMetadata, edits, Map.of());
    }

    /** As above, then appending {@code extra} tensors. */
    static void rewrite(Path src, Path dst, Consumer<Map<String, String>> editMetadata,
            Map<String, BiFunction<TensorInfo, MemorySegment, Replacement>> edits, Map<String, Replacement> extra)
            throws IOException {
        Files.createDirectories(dst);
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals("model.safetensors")) {
                    Files.copy(f, dst.resolve(f.getFileName()));
                }
            }
        }
        try (SafetensorsFile in = SafetensorsFile.open(src.resolve("model.safetensors"))) {
            SafetensorsWriter w = new SafetensorsWriter(dst.resolve("model.safetensors"))
                    .order(SafetensorsWriter.Order.INSERTION);
            Map<String, String> meta = new LinkedHashMap<>(in.metadata());
            editMetadata.accept(meta);
            meta.forEach(w::metadata);
            for (String name : in.names()) {
                TensorInfo info = in.info(name).orElseThrow();
                MemorySegment data = in.tensor(name, ANY).segment();
                var edit = edits.get(name);
                if (edit == null) {
                    w.add(name, info.dtype(), info.shape(), SafetensorsWriter.TensorData.of(data));
                } else {
                    Replacement r = edit.apply(info, data);
                    if (r != null) {
                        w.add(name, r.dtype(), r.shape(), r.data());
                    }
                }
            }
            extra.forEach((name, r) -> w.add(name, r.dtype(), r.shape(), r.data()));
            w.write();
        }
    }
}
