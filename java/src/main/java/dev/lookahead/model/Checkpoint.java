package dev.lookahead.model;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A Hugging Face checkpoint directory: {@code config.json} plus either one
 * {@code model.safetensors} or shards {@code model-0000x-of-0000y.safetensors} listed by
 * {@code model.safetensors.index.json} ({@code {"weight_map": {tensor: shard file}}}).
 *
 * <p>Opening validates everything that can be checked without reading weights: the config,
 * the index (shard names must be plain file names in the directory; every shard must exist and
 * be a valid safetensors file; every tensor of the weight map must be in the shard it names).
 * All shards stay mapped until {@link #close()}. When both {@code model.safetensors} and an index
 * exist, the single file is used (as transformers does).
 */
public final class Checkpoint implements AutoCloseable {

    public static final String CONFIG = "config.json";
    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private static final JsonMapper JSON = new JsonMapper();

    private final Path directory;
    private final ModelConfig config;
    private final Map<String, SafetensorsFile> shards;     // file name -> open file, sorted
    private final Map<String, SafetensorsFile> tensorToShard; // sorted by tensor name

    private Checkpoint(Path directory, ModelConfig config, Map<String, SafetensorsFile> shards,
            Map<String, SafetensorsFile> tensorToShard) {
        this.directory = directory;
        this.config = config;
        this.shards = shards;
        this.tensorToShard = tensorToShard;
    }

    /**
     * Opens {@code directory}.
     *
     * @throws CheckpointException naming the offending file (and tensor) on any problem
     */
    public static Checkpoint open(Path directory) {
        if (!Files.isDirectory(directory)) {
            throw new CheckpointException(directory, null, "not a directory");
        }
        Path configPath = directory.resolve(CONFIG);
        if (!Files.isRegularFile(configPath)) {
            throw new CheckpointException(configPath, null, "missing: a checkpoint needs config.json");
        }
        ModelConfig config = ModelConfig.read(configPath);

        Map<String, SafetensorsFile> shards = new TreeMap<>();
        try {
            Map<String, SafetensorsFile> tensorToShard = new TreeMap<>();
            Path single = directory.resolve(SINGLE_FILE);
            Path index = directory.resolve(INDEX);
            if (Files.exists(single)) {
                SafetensorsFile f = SafetensorsFile.open(single);
                shards.put(SINGLE_FILE, f);
                for (String name : f.names()) {
                    tensorToShard.put(name, f);
                }
            } else if (Files.exists(index)) {
                Map<String, String> weightMap = readWeightMap(index);
                for (String shardName : new TreeSet<>(weightMap.values())) {
                    shards.put(shardName, openShard(directory, index, shardName, weightMap));
                }
                for (Map.Entry<String, String> e : weightMap.entrySet()) {
                    SafetensorsFile f = shards.get(e.getValue());
                    if (!f.contains(e.getKey())) {
                        throw new CheckpointException(f.path(), e.getKey(),
                                "listed in " + INDEX + " but absent from this shard");
                    }
                    tensorToShard.put(e.getKey(), f);
                }
            } else {
                throw new CheckpointException(directory, null,
                        "no " + SINGLE_FILE + " and no " + INDEX + " found");
            }
            return new Checkpoint(directory, config, Collections.unmodifiableMap(shards),
                    Collections.unmodifiableMap(tensorToShard));
        } catch (RuntimeException e) {
            shards.values().forEach(SafetensorsFile::close);
            throw e;
        }
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(index));
        } catch (JacksonException e) {
            throw new CheckpointException(index, null, "not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(index, null, "cannot read: " + e, e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new CheckpointException(index, null, "missing 'weight_map' object");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            if (!e.getValue().isTextual()) {
                throw new CheckpointException(index, e.getKey(), "weight_map value is not a file name");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
        if (out.isEmpty()) {
            throw new CheckpointException(index, null, "empty weight_map");
        }
        return out;
    }

    private static SafetensorsFile openShard(Path dir, Path index, String shardName,
            Map<String, String> weightMap) {
        Path p = Path.of(shardName);
        // A shard name must not escape the directory (a hostile index could name /etc/...).
        if (p.isAbsolute() || p.getNameCount() != 1 || shardName.equals("..") || shardName.equals(".")) {
            throw new CheckpointException(index, null, "shard '" + shardName + "' is not a plain file name");
        }
        Path shard = dir.resolve(p);
        if (!Files.isRegularFile(shard)) {
            String example = weightMap.entrySet().stream().filter(e -> e.getValue().equals(shardName))
                    .map(Map.Entry::getKey).findFirst().orElse("?");
            throw new CheckpointException(index, example, "refers to missing shard " + shard);
        }
        return SafetensorsFile.open(shard);
    }

    public Path directory() {
        return directory;
    }

    public ModelConfig config() {
        return config;
    }

    /** The safetensors files of this checkpoint (one, or the shards), by file name. */
    public Map<String, SafetensorsFile> files() {
        return shards;
    }

    /** All tensor names, sorted. */
    public Set<String> tensorNames() {
        return tensorToShard.keySet();
    }

    public boolean contains(String name) {
        return tensorToShard.containsKey(name);
    }

    /** The header entry of {@code name} (any dtype), if present. */
    public Optional<TensorInfo> info(String name) {
        SafetensorsFile f = tensorToShard.get(name);
        return f == null ? Optional.empty() : f.info(name);
    }

    /**
     * The F32/F16/BF16 tensor {@code name}.
     *
     * @throws CheckpointException naming the tensor and the checkpoint's files if absent, or the
     *     tensor and its file if of another dtype
     */
    public Tensor tensor(String name) {
        return tensor(name, DType.FLOATS);
    }

    /** The tensor {@code name}, which must have one of the {@code accepted} dtypes. */
    public Tensor tensor(String name, Set<DType> accepted) {
        SafetensorsFile f = tensorToShard.get(name);
        if (f == null) {
            throw new CheckpointException(directory, name, "not found in " + shards.keySet());
        }
        return f.tensor(name, accepted);
    }

    /** Closes (unmaps) every file. Tensors handed out become inaccessible. */
    @Override
    public void close() {
        List<RuntimeException> failures = new ArrayList<>();
        for (SafetensorsFile f : shards.values()) {
            try {
                f.close();
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
        if (!failures.isEmpty()) {
            RuntimeException first = failures.getFirst();
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw first;
        }
    }

    @Override
    public String toString() {
        return "Checkpoint[" + directory + ", " + shards.size() + " file(s), " + tensorToShard.size() + " tensors]";
    }
}
