package dev.lookahead.quant;

import static dev.lookahead.cli.CliRunner.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.bindings.QuantFormat;
import dev.lookahead.cli.CliRunner.Run;
import dev.lookahead.model.DType;
import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.model.SafetensorsFile;
import dev.lookahead.model.TensorInfo;
import dev.lookahead.util.Progress;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A random checkpoint written straight into the quantized format against {@code quantize} of the plain random
 * checkpoint of the same spec: the same file apart from the expert blobs' contents, whose weights must have the
 * plain checkpoint's mean and variance.
 */
class RandomQuantizedCheckpointTest {

    private static final Set<DType> ANY = Set.of(DType.values());

    @TempDir
    Path tmp;

    /** Hidden 64 with attention group 48 and expert group 48 leaves partial groups (48 + 16) in rows of 64. */
    @ParameterizedTest
    @CsvSource({"4, 64, 4, 64", "3, 32, 4, 48", "2, 48, 3, 64"})
    void equalsQuantizeOfThePlainCheckpointApartFromTheExperts(int expertBits, int expertGroup, int attnBits,
            int attnGroup) throws IOException {
        RandomCheckpoint.Spec spec = RandomCheckpoint.Spec.small(5).withLayers(3);
        QuantSpec experts = new QuantSpec(expertBits, expertGroup);
        QuantSpec attention = new QuantSpec(attnBits, attnGroup);
        Path plain = tmp.resolve("plain");
        Path viaQuantize = tmp.resolve("via-quantize");
        Path direct = tmp.resolve("direct");
        RandomCheckpoint.write(spec, plain);
        CheckpointQuantizer.quantize(plain, viaQuantize, new CheckpointQuantizer.Options(experts, attention, null),
                Progress.NONE);
        long bytes = RandomQuantizedCheckpoint.write(spec, experts, attention, direct, Progress.NONE);

        assertEquals(Files.size(direct.resolve("model.safetensors")), bytes);
        for (String side : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
            assertEquals(Files.readString(viaQuantize.resolve(side)), Files.readString(direct.resolve(side)), side);
        }
        try (SafetensorsFile a = SafetensorsFile.open(viaQuantize.resolve("model.safetensors"));
                SafetensorsFile b = SafetensorsFile.open(direct.resolve("model.safetensors"))) {
            Map<String, String> metaA = new HashMap<>(a.metadata());
            Map<String, String> metaB = new HashMap<>(b.metadata());
            assertEquals(RandomQuantizedCheckpoint.sourceName(spec), metaB.remove(QuantMetadata.KEY_SOURCE));
            metaA.remove(QuantMetadata.KEY_SOURCE);
            assertEquals(metaA, metaB);
            assertEquals(new ArrayList<>(a.names()), new ArrayList<>(b.names()));
            int blobs = 0;
            for (String name : a.names()) {
                TensorInfo ia = a.info(name).orElseThrow();
                TensorInfo ib = b.info(name).orElseThrow();
                assertEquals(ia.dtype(), ib.dtype(), name);
                assertArrayEquals(ia.shape(), ib.shape(), name);
                assertEquals(ia.dataOffset(), ib.dataOffset(), name);
                byte[] da = a.tensor(name, ANY).segment().toArray(ValueLayout.JAVA_BYTE);
                byte[] db = b.tensor(name, ANY).segment().toArray(ValueLayout.JAVA_BYTE);
                if (name.endsWith(".blob")) {
                    blobs++;
                    assertFalse(java.util.Arrays.equals(da, db), name + ": random codes, not quantized Gaussians");
                } else {
                    assertArrayEquals(da, db, name);
                }
            }
            assertEquals(spec.layers() * spec.experts(), blobs);
        }
    }

    @ParameterizedTest
    @CsvSource({"4, 64", "3, 48", "2, 16"})
    void expertWeightsHaveThePlainCheckpointsMeanAndVariance(int bits, int group) throws IOException {
        // wide enough for a 1 % estimate of the standard deviation: 512 x 256 weights per matrix
        RandomCheckpoint.Spec spec = new RandomCheckpoint.Spec(1, 256, 512, 4, 2, 64, 2, 1, 512, 0, 10000.0, 1e-5,
                256, RandomCheckpoint.WeightType.F32, 3);
        Path dir = tmp.resolve("m");
        RandomQuantizedCheckpoint.write(spec, new QuantSpec(bits, group), new QuantSpec(4, 64), dir, Progress.NONE);
        try (QuantizedCheckpoint qc = QuantizedCheckpoint.open(dir)) {
            for (int e = 0; e < spec.experts(); e++) {
                for (ExpertMatrix m : ExpertMatrix.values()) {
                    QuantizedView v = qc.expertMatrix(0, e, m);
                    float[] w = Dequantizer.dequantize(v);
                    double mean = 0;
                    double sq = 0;
                    for (float x : w) {
                        mean += x;
                        sq += (double) x * x;
                    }
                    mean /= w.length;
                    double std = Math.sqrt(sq / w.length - mean * mean);
                    double sigma = 1 / Math.sqrt(v.cols());
                    String what = "expert " + e + " " + m;
                    assertEquals(0, mean, 0.01 * sigma, what + " mean");
                    assertEquals(sigma, std, 0.01 * sigma, what + " std");
                    int[] seen = levels(v);
                    for (int level = 0; level < seen.length; level++) {
                        assertTrue(seen[level] > 0, what + ": code " + level + " never drawn");
                    }
                }
            }
        }
    }

    /** How often each code occurs, over the real columns; codes in the padding of a partial group must be 0. */
    private static int[] levels(QuantizedView v) {
        QuantFormat f = v.format();
        int cols = Math.toIntExact(v.cols());
        int padded = Math.toIntExact(f.groups(cols) * f.groupSize());
        int rowBytes = Math.toIntExact(f.rowBytes(cols));
        byte[] packed = v.codes().toArray(ValueLayout.JAVA_BYTE);
        byte[] codes = new byte[padded];
        int[] seen = new int[1 << f.bits()];
        for (int r = 0; r < v.rows(); r++) {
            f.unpackRow(packed, r * rowBytes, padded, codes, 0);
            for (int c = 0; c < padded; c++) {
                if (c < cols) seen[codes[c]]++;
                else assertEquals(0, codes[c], "padding code at row " + r + ", column " + c);
            }
        }
        return seen;
    }

    @Test
    void theFileIsAFunctionOfItsArguments() throws IOException {
        RandomCheckpoint.Spec spec = RandomCheckpoint.Spec.small(9);
        QuantSpec experts = new QuantSpec(3, 64);
        QuantSpec attention = new QuantSpec(4, 64);
        RandomQuantizedCheckpoint.write(spec, experts, attention, tmp.resolve("a"), Progress.NONE);
        RandomQuantizedCheckpoint.write(spec, experts, attention, tmp.resolve("b"), Progress.NONE);
        RandomQuantizedCheckpoint.write(spec.withSeed(10), experts, attention, tmp.resolve("c"), Progress.NONE);
        byte[] a = Files.readAllBytes(tmp.resolve("a/model.safetensors"));
        assertArrayEquals(a, Files.readAllBytes(tmp.resolve("b/model.safetensors")));
        assertFalse(java.util.Arrays.equals(a, Files.readAllBytes(tmp.resolve("c/model.safetensors"))));
    }

    @Test
    void createModelWritesAQuantizedModelThatGenerates() throws IOException {
        Path dir = tmp.resolve("q");
        Run created = run("create-model", dir.toString(), "--layers", "2", "--experts", "4", "--expert-bits", "4");
        assertEquals(0, created.code(), created.err());
        assertTrue(created.err().contains("quantized (experts 4-bit g64, attention 4-bit g64)"), created.err());
        assertTrue(QuantizedCheckpoint.isQuantized(dir));
        Run generated = run("generate", dir.toString(), "-p", "hello", "-n", "4", "--backend", "cpu");
        assertEquals(0, generated.code(), generated.err());
        assertFalse(generated.out().isBlank(), generated.err());
    }

    @Test
    void createModelRejectsBadBitsAndAFullDirectoryAndKeepsWhatWasThere() throws IOException {
        Run bits = run("create-model", tmp.resolve("x").toString(), "--expert-bits", "5");
        assertEquals(1, bits.code());
        assertTrue(bits.err().contains("bits"), bits.err());
        assertFalse(Files.exists(tmp.resolve("x")));

        Path full = tmp.resolve("full");
        Files.createDirectories(full);
        Files.writeString(full.resolve("keep.txt"), "mine");
        Run refused = run("create-model", full.toString(), "--expert-bits", "4");
        assertEquals(1, refused.code());
        assertTrue(refused.err().contains("not empty"), refused.err());
        assertEquals("mine", Files.readString(full.resolve("keep.txt")));
        try (var files = Files.list(full)) {
            assertEquals(1, files.count());
        }
    }
}
