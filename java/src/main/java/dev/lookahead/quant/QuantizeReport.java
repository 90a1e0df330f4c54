package dev.lookahead.quant;

import dev.lookahead.model.ArchitectureSpec.Role;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * What {@link CheckpointQuantizer} did.
 *
 * @param stats         per role, in {@link Role} order (roles absent from the model are left out)
 * @param tensors       per source tensor, in the order they were converted
 * @param sourceBytes   bytes of the source tensors that were converted
 * @param outputBytes   size of the written model.safetensors
 * @param layout        the expert blob layout
 * @param blobs         number of expert blobs written (layers * experts)
 * @param ignored       source tensors the architecture does not name, not written
 * @param copiedFiles   config and tokenizer files copied from the source
 * @param seconds       wall time of the conversion
 */
public record QuantizeReport(Path source, Path destination, QuantMetadata metadata, Map<Role, KindStats> stats,
        List<TensorStats> tensors, long sourceBytes, long outputBytes, ExpertBlobLayout layout, int blobs, List<String> ignored,
        List<String> copiedFiles, double seconds) {

    public QuantizeReport {
        Map<Role, KindStats> ordered = new EnumMap<>(Role.class);
        ordered.putAll(stats);
        stats = Collections.unmodifiableMap(ordered);
        tensors = List.copyOf(tensors);
        ignored = List.copyOf(ignored);
        copiedFiles = List.copyOf(copiedFiles);
    }
}
