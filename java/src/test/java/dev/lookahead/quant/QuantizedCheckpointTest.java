package dev.lookahead.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.CheckpointException;
import dev.lookahead.model.DType;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.SafetensorsWriter.TensorData;
import dev.lookahead.model.TensorInfo;
import dev.lookahead.util.Progress;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Opening quantized checkpoints: detection, accessors, and a clear error for each kind of corruption. */
class QuantizedCheckpointTest {

    @TempDir
    static Path shared;

    static Path plain;
    static Path good;

    private static final String BLOB = "model.layers.1.block_sparse_moe.experts.2.blob";
    private static final String Q1 = "model.layers.1.self_attn.q_proj.weight";

    @BeforeAll
    static void writeCheckpoints() throws IOException {
        plain = shared.resolve("plain");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(21), plain);
        good = shared.resolve("good");
        CheckpointQuantizer.quantize(plain, good, new CheckpointQuantizer.Options(new QuantSpec(3, 32),
                new QuantSpec(4, 64), null), Progress.NONE);
    }

    @Test
    void detectsQuantizedAndPlainCheckpoints() {
        assertTrue(QuantizedCheckpoint.isQuantized(good));
        assertFalse(QuantizedCheckpoint.isQuantized(plain));
        CheckpointException e = assertThrows(CheckpointException.class, () -> QuantizedCheckpoint.open(plain));
        assertTrue(e.getMessage().contains("not a quantized checkpoint"), e.getMessage());
    }

    @Test
    void accessorsGiveViewsOfTheDeclaredShapes() {
        try (QuantizedCheckpoint q = QuantizedCheckpoint.open(good)) {
            assertEquals(new QuantSpec(3, 32), q.expertSpec());
            assertEquals(new QuantSpec(4, 64), q.attentionSpec());
            assertFalse(q.metadata().hqq());
            // small(): hidden 64, intermediate 128; 3-bit g32: w1 codes 128 * 24 = 3072, params 128 * 2 * 2 = 512;
            // w2 [64, 128] codes 64 * 48 = 3072, params 64 * 4 * 2 = 512 -> 3 * (3072 + 512 + 512) = 12288.
            assertEquals(12288, q.layout().blobBytes());
            assertEquals(12288, q.expertBlob(1, 3).byteSize());
            QuantizedView down = q.expertMatrix(0, 1, ExpertMatrix.DOWN);
            assertEquals(64, down.rows());
            assertEquals(128, down.cols());
            QuantizedView k = q.attention(1, Role.ATTN_K);
            assertEquals(32, k.rows()); // kv heads 2 * head_dim 16
            assertEquals(64, k.cols());
            assertEquals(DType.F16, q.dense(Role.ROUTER, 1).dtype());
            assertEquals(DType.F16, q.dense(Role.LM_HEAD, 0).dtype());
            assertThrows(IllegalArgumentException.class, () -> q.dense(Role.ATTN_Q, 0));
            assertThrows(IllegalArgumentException.class, () -> q.attention(0, Role.ROUTER));
            assertThrows(IndexOutOfBoundsException.class, () -> q.expertBlob(2, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> q.expertBlob(0, 4));
        }
    }

    private static CheckpointException corrupt(String name, Consumer<Map<String, String>> meta,
            Map<String, BiFunction<TensorInfo, MemorySegment, QuantTestFiles.Replacement>> edits,
            Map<String, QuantTestFiles.Replacement> extra) throws IOException {
        Path dir = shared.resolve(name);
        QuantTestFiles.rewrite(good, dir, meta, edits, extra);
        CheckpointException e = assertThrows(CheckpointException.class, () -> QuantizedCheckpoint.open(dir).close());
        System.out.println(name + ": " + e.getMessage());
        return e;
    }

    private static CheckpointException corruptMetadata(String name, Consumer<Map<String, String>> meta)
            throws IOException {
        CheckpointException e = corrupt(name, meta, Map.of(), Map.of());
        assertTrue(e.file().endsWith("model.safetensors"), "names the file: " + e.file());
        return e;
    }

    private static void assertMentions(CheckpointException e, String... parts) {
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "'" + p + "' missing from: " + e.getMessage());
        }
    }

    @Test
    void corruptMetadataGivesClearErrors() throws IOException {
        assertMentions(corruptMetadata("no-group", m -> m.remove(QuantMetadata.KEY_EXPERT_GROUP)),
                "lacks 'lookahead.expert_group'");
        assertMentions(corruptMetadata("version", m -> m.put(QuantMetadata.KEY_VERSION, "2")),
                "lookahead.format_version='2'", "version 1 only");
        assertMentions(corruptMetadata("format", m -> m.put(QuantMetadata.KEY_FORMAT, "gguf")),
                "lookahead.format='gguf'");
        assertMentions(corruptMetadata("bits-text", m -> m.put(QuantMetadata.KEY_ATTN_BITS, "four")),
                "lookahead.attn_bits='four'", "not an integer");
        assertMentions(corruptMetadata("bits-5", m -> m.put(QuantMetadata.KEY_EXPERT_BITS, "5")),
                "bits must be 2, 3 or 4, got 5");
        assertMentions(corruptMetadata("hqq", m -> m.put(QuantMetadata.KEY_HQQ, "yes")), "lookahead.hqq='yes'");
        assertMentions(corruptMetadata("blob-bytes", m -> m.put(QuantMetadata.KEY_BLOB_BYTES, "12544")),
                "lookahead.expert_blob_bytes='12544'", "give 12288 bytes");
        assertMentions(corruptMetadata("layout", m -> m.put(QuantMetadata.KEY_BLOB_LAYOUT,
                m.get(QuantMetadata.KEY_BLOB_LAYOUT).replace("w1.scales=3072", "w1.scales=3328"))),
                "lookahead.expert_blob_layout=", "w1.scales=3328");
        // 4-bit experts with the 3-bit blobs: the layout computed from config + format disagrees.
        assertMentions(corruptMetadata("other-bits", m -> m.put(QuantMetadata.KEY_EXPERT_BITS, "4")),
                "lookahead.expert_blob_bytes='12288'");
    }

    @Test
    void wrongBlobSizeNamesTheTensor() throws IOException {
        CheckpointException e = corrupt("short-blob", m -> { }, Map.of(BLOB, (info, data) ->
                new QuantTestFiles.Replacement(DType.U8, new long[] {12288 - 256},
                        TensorData.of(data.asSlice(0, 12288 - 256)))), Map.of());
        assertEquals(BLOB, e.tensor());
        assertMentions(e, "shape [12032]", "needs [12288]", "12288 bytes per expert blob");
    }

    @Test
    void missingWrongOrExtraTensorsNameTheTensor() throws IOException {
        CheckpointException missing = corrupt("no-zeros", m -> { },
                Map.of(QuantizedCheckpoint.zerosName(Q1), (info, data) -> null), Map.of());
        assertEquals(Q1 + ".qzeros", missing.tensor());
        assertMentions(missing, "missing");

        CheckpointException dtype = corrupt("scales-u8", m -> { }, Map.of(QuantizedCheckpoint.scalesName(Q1),
                (info, data) -> new QuantTestFiles.Replacement(DType.I16, info.shape(), TensorData.of(data))),
                Map.of());
        assertEquals(Q1 + ".qscales", dtype.tensor());
        assertMentions(dtype, "dtype I16", "needs F16");

        CheckpointException extra = corrupt("extra", m -> { }, Map.of(),
                Map.of("model.layers.0.mystery", new QuantTestFiles.Replacement(DType.F16, new long[] {4},
                        TensorData.ofFloats(new float[4]))));
        assertEquals("model.layers.0.mystery", extra.tensor());
        assertMentions(extra, "unexpected tensor");

        String w1 = "model.layers.0.block_sparse_moe.experts.0.w1.weight";
        CheckpointException plainExpert = corrupt("plain-expert", m -> { }, Map.of(),
                Map.of(w1, new QuantTestFiles.Replacement(DType.F16, new long[] {128, 64},
                        TensorData.ofFloats(new float[128 * 64]))));
        assertEquals(w1, plainExpert.tensor());
        assertMentions(plainExpert, "must not be present");

        CheckpointException norm = corrupt("f32-norm", m -> { }, Map.of("model.norm.weight", (info, data) ->
                new QuantTestFiles.Replacement(DType.F32, info.shape(), TensorData.ofFloats(new float[64]))), Map.of());
        assertEquals("model.norm.weight", norm.tensor());
        assertMentions(norm, "dtype F32", "needs F16");
    }
}
