package dev.lookahead.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {

    @TempDir
    Path dir;

    private final ModelConfig config = TestCheckpoints.tinyConfig(false);
    private final ArchitectureSpec spec = ArchitectureSpec.MIXTRAL;

    /** Writes the tiny model as two shards plus an index; returns the names per shard. */
    private List<List<String>> writeSharded(Path d) throws IOException {
        Files.createDirectories(d);
        config.write(d.resolve(Checkpoint.CONFIG));
        List<ArchitectureSpec.Expected> all = spec.expectedTensors(config);
        List<ArchitectureSpec.Expected> first = new ArrayList<>();
        List<ArchitectureSpec.Expected> second = new ArrayList<>();
        for (ArchitectureSpec.Expected e : all) {
            (e.name().startsWith("model.layers.1.") || e.name().equals("lm_head.weight") ? second : first).add(e);
        }
        String s1 = "model-00001-of-00002.safetensors";
        String s2 = "model-00002-of-00002.safetensors";
        TestCheckpoints.addAll(new SafetensorsWriter(d.resolve(s1)), spec, config, first).write();
        TestCheckpoints.addAll(new SafetensorsWriter(d.resolve(s2)), spec, config, second).write();
        ObjectNode index = JsonMapper.builder().build().createObjectNode();
        index.putObject("metadata").put("total_size", 0);
        ObjectNode map = index.putObject("weight_map");
        first.forEach(e -> map.put(e.name(), s1));
        second.forEach(e -> map.put(e.name(), s2));
        Files.writeString(d.resolve(Checkpoint.INDEX), index.toPrettyString());
        return List.of(first.stream().map(ArchitectureSpec.Expected::name).toList(),
                second.stream().map(ArchitectureSpec.Expected::name).toList());
    }

    @Test
    void singleFileCheckpointOpensValidatesAndReadsValues() throws IOException {
        Path d = TestCheckpoints.writeSingle(dir.resolve("single"), config);
        try (Checkpoint ckpt = Checkpoint.open(d)) {
            assertEquals(config, ckpt.config());
            ArchitectureSpec.CheckReport r = spec.check(ckpt, ckpt.config());
            assertTrue(r.ok(), r.problems().toString());
            assertEquals(List.of(), r.unexpected());
            spec.validate(ckpt, ckpt.config());
            // 2 layers x (2 norms + 4 attn + router + 4 experts x 3) + embed + norm + lm_head
            assertEquals(2 * (2 + 4 + 1 + 4 * 3) + 3, ckpt.tensorNames().size());
            String w2 = spec.name(ArchitectureSpec.Role.EXPERT_DOWN, 1, 3);
            assertEquals("model.layers.1.block_sparse_moe.experts.3.w2.weight", w2);
            Tensor t = ckpt.tensor(w2);
            assertArrayEquals(new long[] {32, 48}, t.shape());
            assertArrayEquals(TestCheckpoints.values(w2, 32 * 48), t.toFloatArray());
        }
    }

    @Test
    void shardedCheckpointFindsTensorsInEachShardAndCloseUnmapsAll() throws IOException {
        Path d = dir.resolve("sharded");
        List<List<String>> names = writeSharded(d);
        Checkpoint ckpt = Checkpoint.open(d);
        assertEquals(2, ckpt.files().size());
        spec.validate(ckpt, config);
        for (List<String> shard : names) {
            String n = shard.getFirst();
            Tensor t = ckpt.tensor(n);
            assertEquals(TestCheckpoints.value(n, 5), t.getFloat(5));
        }
        Path s2 = d.resolve("model-00002-of-00002.safetensors");
        assertEquals(s2, ckpt.tensor("lm_head.weight").file());
        assertEquals(1, TestCheckpoints.mappings(s2));
        Tensor held = ckpt.tensor("model.norm.weight");
        ckpt.close();
        assertEquals(0, TestCheckpoints.mappings(s2));
        assertEquals(0, TestCheckpoints.mappings(d.resolve("model-00001-of-00002.safetensors")));
        assertThrows(IllegalStateException.class, () -> held.getFloat(0));
    }

    @Test
    void missingShardIsNamed() throws IOException {
        Path d = dir.resolve("ms");
        writeSharded(d);
        Path s2 = d.resolve("model-00002-of-00002.safetensors");
        Files.delete(s2);
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(d));
        assertEquals(d.resolve(Checkpoint.INDEX), e.file());
        assertTrue(e.getMessage().contains("missing shard " + s2), e.getMessage());
        assertTrue(e.tensor() != null && e.getMessage().contains(e.tensor()), e.getMessage());
        // the shard opened before the failure was closed again
        assertEquals(0, TestCheckpoints.mappings(d.resolve("model-00001-of-00002.safetensors")));
    }

    @Test
    void tensorListedInIndexButAbsentFromShard() throws IOException {
        Path d = dir.resolve("abs");
        writeSharded(d);
        Path index = d.resolve(Checkpoint.INDEX);
        ObjectNode root = (ObjectNode) JsonMapper.builder().build().readTree(Files.readString(index));
        ((ObjectNode) root.get("weight_map")).put("model.ghost.weight", "model-00001-of-00002.safetensors");
        Files.writeString(index, root.toString());
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(d));
        assertEquals(d.resolve("model-00001-of-00002.safetensors"), e.file());
        assertEquals("model.ghost.weight", e.tensor());
        assertTrue(e.getMessage().contains("absent from this shard"), e.getMessage());
    }

    @Test
    void shardNamesMayNotLeaveTheDirectory() throws IOException {
        Path d = dir.resolve("esc");
        writeSharded(d);
        Path index = d.resolve(Checkpoint.INDEX);
        Files.writeString(index, "{\"weight_map\": {\"model.norm.weight\": \"../model-00001-of-00002.safetensors\"}}");
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(d));
        assertEquals(index, e.file());
        assertTrue(e.getMessage().contains("not a plain file name"), e.getMessage());
        Files.writeString(index, "{\"metadata\": {}}");
        e = assertThrows(CheckpointException.class, () -> Checkpoint.open(d));
        assertTrue(e.getMessage().contains("weight_map"), e.getMessage());
    }

    @Test
    void missingTensorLookupNamesTensorAndFiles() throws IOException {
        Path d = dir.resolve("mt");
        writeSharded(d);
        try (Checkpoint ckpt = Checkpoint.open(d)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> ckpt.tensor("model.layers.9.mlp.weight"));
            assertEquals("model.layers.9.mlp.weight", e.tensor());
            assertEquals(d, e.file());
            assertTrue(e.getMessage().contains("model-00001-of-00002.safetensors")
                    && e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
            assertFalse(ckpt.contains("model.layers.9.mlp.weight"));
        }
    }

    @Test
    void directoryWithoutWeightsOrConfig() throws IOException {
        Path d = Files.createDirectories(dir.resolve("empty"));
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(d));
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
        config.write(d.resolve(Checkpoint.CONFIG));
        e = assertThrows(CheckpointException.class, () -> Checkpoint.open(d));
        assertEquals(d, e.file());
        assertTrue(e.getMessage().contains("no model.safetensors"), e.getMessage());
    }

    @Test
    void specCheckListsEveryProblem() throws IOException {
        Path d = Files.createDirectories(dir.resolve("wrong"));
        config.write(d.resolve(Checkpoint.CONFIG));
        SafetensorsWriter w = new SafetensorsWriter(d.resolve(Checkpoint.SINGLE_FILE));
        for (ArchitectureSpec.Expected e : spec.expectedTensors(config)) {
            if (e.name().equals("model.layers.0.self_attn.k_proj.weight")) {
                continue; // missing
            }
            long[] shape = e.shape();
            DType dtype = DType.F32;
            if (e.name().equals("model.layers.1.block_sparse_moe.gate.weight")) {
                shape = new long[] {shape[1], shape[0]}; // transposed
            }
            if (e.name().equals("model.norm.weight")) {
                dtype = DType.I32;
            }
            long n = 1;
            for (long x : shape) {
                n *= x;
            }
            w.add(e.name(), dtype, shape,
                    SafetensorsWriter.TensorData.of(java.lang.foreign.MemorySegment.ofArray(new byte[(int) n * 4])));
        }
        w.add("model.extra.bias", DType.F32, new long[] {1}, SafetensorsWriter.TensorData.ofFloats(new float[1]));
        w.write();
        try (Checkpoint ckpt = Checkpoint.open(d)) {
            ArchitectureSpec.CheckReport r = spec.check(ckpt, config);
            assertEquals(3, r.problems().size(), r.problems().toString());
            assertTrue(r.problems().contains("missing tensor model.layers.0.self_attn.k_proj.weight"));
            assertTrue(r.problems().contains("tensor model.layers.1.block_sparse_moe.gate.weight has shape [32, 4], expected [4, 32]"),
                    r.problems().toString());
            assertTrue(r.problems().contains("tensor model.norm.weight has unsupported dtype I32 (supported: F32, F16, BF16)"),
                    r.problems().toString());
            assertEquals(List.of("model.extra.bias"), r.unexpected());
            CheckpointException e = assertThrows(CheckpointException.class, () -> spec.validate(ckpt, config));
            assertEquals(d, e.file());
            assertTrue(e.getMessage().contains("3 problems") && e.getMessage().contains("k_proj"), e.getMessage());
        }
    }

    @Test
    void tiedEmbeddingsMakeLmHeadOptional() throws IOException {
        ModelConfig tied = TestCheckpoints.tinyConfig(true);
        Path d = TestCheckpoints.writeSingle(dir.resolve("tied"), tied);
        try (Checkpoint ckpt = Checkpoint.open(d)) {
            assertFalse(ckpt.contains("lm_head.weight"));
            spec.validate(ckpt, tied);
            // the same files under an untied config miss lm_head
            ArchitectureSpec.CheckReport r = spec.check(ckpt, config);
            assertEquals(List.of("missing tensor lm_head.weight"), r.problems());
        }
    }
}
