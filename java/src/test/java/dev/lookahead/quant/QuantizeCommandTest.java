package dev.lookahead.quant;

import static dev.lookahead.cli.CliRunner.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.cli.CliRunner.Run;
import dev.lookahead.model.ArchitectureSpec;
import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.model.Checkpoint;
import dev.lookahead.model.DType;
import dev.lookahead.model.ModelConfig;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.SafetensorsWriter.TensorData;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code lookahead quantize} end to end on a RandomCheckpoint model: the written checkpoint is
 * read back with {@link QuantizedCheckpoint} and compared with the source weights by NMSE, and
 * the blob bytes with a direct quantization of the same matrices.
 */
class QuantizeCommandTest {

    @TempDir
    Path tmp;

    /**
     * The uniform-noise NMSE for Gaussian weights in groups of g (see GroupQuantizerTest), an
     * upper bound for smaller (partial) groups too since the expected range grows with g.
     */
    static double predictedNmse(int bits, int group) {
        int maxCode = (1 << bits) - 1;
        return (group - 2.0) / group * GroupQuantizerTest.expectedSquaredRange(group) / (12.0 * maxCode * maxCode);
    }

    @ParameterizedTest
    @CsvSource({
            "4, 0,  4, 64, false, F32",   // defaults: experts 4-bit g64, attention 4-bit g64
            "2, 0,  4, 48, true,  BF16",  // experts 2-bit g16 (default for 2 bits), partial attention groups 48 + 16
            "3, 32, 3, 64, false, F16"})
    void quantizesARandomModelAndReadsItBack(int expertBits, int expertGroup, int attnBits, int attnGroup, boolean hqq,
            RandomCheckpoint.WeightType dtype) throws IOException {
        Path src = tmp.resolve("src");
        Path dst = tmp.resolve("dst");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(11).withDtype(dtype), src);
        List<String> args = new ArrayList<>(List.of("quantize", src.toString(), dst.toString(),
                "--expert-bits", Integer.toString(expertBits), "--attn-bits", Integer.toString(attnBits),
                "--attn-group", Integer.toString(attnGroup)));
        if (expertGroup > 0) {
            args.addAll(List.of("--expert-group", Integer.toString(expertGroup)));
        }
        if (hqq) {
            args.add("--hqq");
        }
        Path csv = tmp.resolve("tensors.csv");
        args.addAll(List.of("--tensor-report", csv.toString()));
        Run run = run(args.toArray(String[]::new));
        assertEquals(0, run.code(), run.err());
        System.out.print(run.out());
        int group = expertGroup > 0 ? expertGroup : (expertBits == 2 ? 16 : 64);
        QuantSpec experts = new QuantSpec(expertBits, group);
        QuantSpec attention = new QuantSpec(attnBits, attnGroup);
        assertTrue(run.out().contains("experts " + experts + ", attention " + attention), run.out());
        assertTrue(run.out().contains("expert blob:"), run.out());
        List<String> lines = Files.readAllLines(csv);
        assertEquals("tensor,role,weights,bits_per_weight,nmse", lines.getFirst());
        // small(): embedding, lm_head, final norm + per layer 2 norms, router, 4 attention, 4 experts x 3
        assertEquals(1 + 3 + 2 * (2 + 1 + 4 + 12), lines.size());
        String down = "model.layers.1.block_sparse_moe.experts.3.w2.weight,EXPERT_DOWN,8192,"
                + String.format(java.util.Locale.ROOT, "%.4f,", experts.bitsPerWeight());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith(down)), down + " not in\n" + String.join("\n", lines));

        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
            assertArrayEquals(Files.readAllBytes(src.resolve(f)), Files.readAllBytes(dst.resolve(f)), f);
        }
        try (Stream<Path> files = Files.list(dst)) {
            assertEquals(Set.of("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"),
                    Set.copyOf(files.map(p -> p.getFileName().toString()).toList()), "no temporary files left");
        }

        try (QuantizedCheckpoint q = QuantizedCheckpoint.open(dst); Checkpoint s = Checkpoint.open(src)) {
            QuantMetadata m = q.metadata();
            assertEquals(experts, m.experts());
            assertEquals(attention, m.attention());
            assertEquals(hqq, m.hqq());
            assertEquals("src", m.sourceModel());
            assertEquals("true", q.checkpoint().files().get("model.safetensors").metadata()
                    .get(RandomCheckpoint.RANDOM_METADATA_KEY), "random-weights mark carried over");
            ModelConfig c = q.config();
            assertEquals(ExpertBlobLayout.of(c, experts).describe(), q.layout().describe());
            checkExperts(q, s, experts, hqq);
            checkAttention(q, s, attention, hqq);
            checkDense(q, s);
        }
    }

    private static GroupQuantizer quantizer(QuantSpec spec, boolean hqq) {
        return hqq ? GroupQuantizer.hqq(spec, HqqOptions.DEFAULT) : GroupQuantizer.minMax(spec);
    }

    /** Upper bound: the noise model plus 30 % for the few groups per tensor (8192 weights). */
    private static void checkNmse(String what, double nmse, QuantSpec spec, boolean hqq) {
        double predicted = predictedNmse(spec.bits(), spec.group());
        assertTrue(nmse < 1.3 * predicted, what + ": NMSE " + nmse + " vs predicted " + predicted);
        // Not a copy of the source: min/max sits near the model, HQQ at 0.5-0.9 of it.
        assertTrue(nmse > (hqq ? 0.3 : 0.6) * predicted, what + ": NMSE " + nmse + " suspiciously small");
    }

    private static void checkExperts(QuantizedCheckpoint q, Checkpoint s, QuantSpec spec, boolean hqq) {
        ModelConfig c = q.config();
        ArchitectureSpec arch = q.architecture();
        GroupQuantizer direct = quantizer(spec, hqq);
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            for (int e = 0; e < c.numLocalExperts(); e++) {
                MemorySegment blob = q.expertBlob(l, e);
                assertEquals(q.layout().blobBytes(), blob.byteSize());
                byte[] bytes = blob.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                boolean[] covered = new boolean[bytes.length];
                for (ExpertMatrix m : ExpertMatrix.values()) {
                    float[] source = s.tensor(arch.name(m.role(), l, e)).toFloatArray();
                    QuantizedView v = q.expertMatrix(l, e, m);
                    checkNmse("layer " + l + " expert " + e + " " + m.hfName(), Nmse.of(source, v.dequantize()), spec, hqq);
                    // The blob holds exactly what the quantizer gives for this matrix, where the layout says.
                    QuantizedMatrix expected = direct.quantize(source, (int) v.rows(), (int) v.cols());
                    ExpertBlobLayout.MatrixRanges r = q.layout().ranges(m);
                    assertRange(bytes, covered, r.codes(), expected.codes());
                    assertRange(bytes, covered, r.scales(), expected.scaleBytes());
                    assertRange(bytes, covered, r.zeros(), expected.zeroBytes());
                }
                for (int i = 0; i < bytes.length; i++) {
                    if (!covered[i]) {
                        assertEquals(0, bytes[i], "padding byte " + i + " of blob " + l + "." + e);
                    }
                }
            }
        }
    }

    private static void assertRange(byte[] blob, boolean[] covered, ExpertBlobLayout.Section s, byte[] expected) {
        assertEquals(s.bytes(), expected.length, s.name());
        byte[] actual = java.util.Arrays.copyOfRange(blob, (int) s.offset(), (int) s.end());
        assertArrayEquals(expected, actual, s.name());
        java.util.Arrays.fill(covered, (int) s.offset(), (int) s.end(), true);
    }

    private static void checkAttention(QuantizedCheckpoint q, Checkpoint s, QuantSpec spec, boolean hqq) {
        ArchitectureSpec arch = q.architecture();
        for (int l = 0; l < q.config().numHiddenLayers(); l++) {
            for (Role role : List.of(Role.ATTN_Q, Role.ATTN_K, Role.ATTN_V, Role.ATTN_O)) {
                float[] source = s.tensor(arch.name(role, l, 0)).toFloatArray();
                QuantizedView v = q.attention(l, role);
                assertEquals(spec.format(), v.format());
                checkNmse("layer " + l + " " + role, Nmse.of(source, v.dequantize()), spec, hqq);
            }
        }
    }

    /** fp16 keeps 11 significant bits: relative error at most 2^-11, so NMSE at most 2^-22. */
    private static void checkDense(QuantizedCheckpoint q, Checkpoint s) {
        for (ArchitectureSpec.Expected e : q.architecture().expectedTensors(q.config())) {
            Role role = e.spec().role();
            if (role.name().startsWith("ATTN_") && role != Role.ATTN_NORM || role.name().startsWith("EXPERT_")) {
                continue;
            }
            int layer = e.name().startsWith("model.layers.") ? Integer.parseInt(e.name().split("\\.")[2]) : 0;
            var t = q.dense(role, layer);
            assertEquals(DType.F16, t.dtype(), e.name());
            assertArrayEquals(e.shape(), t.shape(), e.name());
            double nmse = Nmse.of(s.tensor(e.name()).toFloatArray(), t.toFloatArray());
            assertTrue(nmse <= 0x1p-22, e.name() + ": NMSE " + nmse);
        }
    }

    // ------------------------------------------------------------------ errors

    @Test
    void rejectsBadArgumentsAndANonEmptyDestination() throws IOException {
        Path src = tmp.resolve("src");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(3), src);
        Path dst = tmp.resolve("dst");

        Run bits = run("quantize", src.toString(), dst.toString(), "--expert-bits", "5");
        assertEquals(1, bits.code());
        assertTrue(bits.err().contains("bits must be 2, 3 or 4, got 5"), bits.err());
        Run group = run("quantize", src.toString(), dst.toString(), "--expert-bits", "4", "--expert-group", "12");
        assertEquals(1, group.code());
        assertTrue(group.err().contains("groupSize must be a multiple of 8 in [8, 1024], got 12"), group.err());
        Run attn = run("quantize", src.toString(), dst.toString(), "--expert-bits", "4", "--attn-bits", "8");
        assertEquals(1, attn.code());
        assertTrue(attn.err().contains("got 8"), attn.err());
        Run missing = run("quantize", src.toString(), dst.toString());
        assertEquals(2, missing.code(), "picocli usage error");
        assertTrue(missing.err().contains("--expert-bits"), missing.err());
        assertFalse(Files.exists(dst), "nothing created on argument errors");

        Files.createDirectories(dst);
        Files.writeString(dst.resolve("keep.txt"), "mine");
        Run notEmpty = run("quantize", src.toString(), dst.toString(), "--expert-bits", "4");
        assertEquals(1, notEmpty.code());
        assertTrue(notEmpty.err().contains("is not empty"), notEmpty.err());
        assertEquals("mine", Files.readString(dst.resolve("keep.txt")));

        Path good = tmp.resolve("good");
        assertEquals(0, run("quantize", src.toString(), good.toString(), "--expert-bits", "4").code());
        Run again = run("quantize", good.toString(), tmp.resolve("again").toString(), "--expert-bits", "4");
        assertEquals(1, again.code());
        assertTrue(again.err().contains("already a quantized checkpoint"), again.err());
    }

    @Test
    void rejectsAnUnsupportedSourceDtype() throws IOException {
        Path src = tmp.resolve("src");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(4), src);
        Path bad = tmp.resolve("bad");
        String router = "model.layers.1.block_sparse_moe.gate.weight";
        QuantTestFiles.rewrite(src, bad, meta -> { }, Map.of(router, (info, data) -> new QuantTestFiles.Replacement(
                DType.I32, info.shape(), TensorData.of(data)))); // same byte size as F32
        Path dst = tmp.resolve("dst");
        Run run = run("quantize", bad.toString(), dst.toString(), "--expert-bits", "4");
        assertEquals(1, run.code());
        assertTrue(run.err().contains(router) && run.err().contains("unsupported dtype I32"), run.err());
        assertFalse(Files.exists(dst));
    }

    @Test
    void aNonFiniteWeightNamesTheTensorAndLeavesNothingBehind() throws IOException {
        Path src = tmp.resolve("src");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(5), src);
        Path bad = tmp.resolve("bad");
        String w2 = "model.layers.1.block_sparse_moe.experts.2.w2.weight";
        QuantTestFiles.rewrite(src, bad, meta -> { }, Map.of(w2, (info, data) -> {
            float[] v = new float[(int) info.elementCount()];
            MemorySegment.copy(data, QuantTestFiles.F32, 0, v, 0, v.length);
            v[200] = Float.POSITIVE_INFINITY; // row 1, column 72 of [64, 128]
            return new QuantTestFiles.Replacement(DType.F32, info.shape(), TensorData.ofFloats(v));
        }));
        Path dst = tmp.resolve("dst");
        Run run = run("quantize", bad.toString(), dst.toString(), "--expert-bits", "3");
        assertEquals(1, run.code());
        assertTrue(run.err().contains(w2) && run.err().contains("row 1, column 72"), run.err());
        assertFalse(Files.exists(dst), "the new destination is removed again");
    }
}
