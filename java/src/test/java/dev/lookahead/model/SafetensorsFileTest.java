package dev.lookahead.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {

    @TempDir
    Path dir;

    /** Opening must fail with a CheckpointException that names the file (and the tensor). */
    private CheckpointException openFails(Path file, String tensor, String messagePart) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file).close());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        assertEquals(file, e.file());
        assertEquals(tensor, e.tensor(), e.getMessage());
        if (tensor != null) {
            assertTrue(e.getMessage().contains("'" + tensor + "'"), e.getMessage());
        }
        assertTrue(e.getMessage().contains(messagePart), e.getMessage());
        return e;
    }

    @Test
    void roundTripAllFloatTypesMetadataAndRawBytes() throws IOException {
        Path file = dir.resolve("rt.safetensors");
        float[] a = TestCheckpoints.values("a", 3 * 5);
        float[] b = TestCheckpoints.values("b", 7);
        float[] c = TestCheckpoints.values("c", 2 * 2 * 3);
        byte[] packed = {1, 2, 3, 4, 5};
        new SafetensorsWriter(file)
                .metadata("format", "pt")
                .metadata("lookahead.note", "ünïcode ✓")
                .add("u8.packed", DType.U8, new long[] {5}, SafetensorsWriter.TensorData.of(MemorySegment.ofArray(packed)))
                .add("b.f16", DType.F16, new long[] {7}, SafetensorsWriter.TensorData.ofFloats(b))
                .add("a.f32", DType.F32, new long[] {3, 5}, SafetensorsWriter.TensorData.ofFloats(a))
                .add("c.bf16", DType.BF16, new long[] {2, 2, 3}, SafetensorsWriter.TensorData.ofFloats(c))
                .add("scalar", DType.F32, new long[] {}, SafetensorsWriter.TensorData.ofFloats(new float[] {42.5f}))
                .add("empty", DType.F32, new long[] {0, 4}, SafetensorsWriter.TensorData.ofFloats(new float[0]))
                .write();

        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt", "lookahead.note", "ünïcode ✓"), f.metadata());
            assertEquals(Set.of("u8.packed", "b.f16", "a.f32", "c.bf16", "scalar", "empty"), f.names());
            Tensor ta = f.tensor("a.f32");
            assertEquals(DType.F32, ta.dtype());
            assertArrayEquals(new long[] {3, 5}, ta.shape());
            assertArrayEquals(a, ta.toFloatArray());
            assertEquals(15 * 4, ta.segment().byteSize());
            assertTrue(ta.segment().isReadOnly());
            assertArrayEquals(b, f.tensor("b.f16").toFloatArray());
            assertArrayEquals(c, f.tensor("c.bf16").toFloatArray());
            assertEquals(42.5f, f.tensor("scalar").getFloat(0));
            assertEquals(1, f.tensor("scalar").elementCount());
            assertEquals(0, f.tensor("empty").segment().byteSize());
            Tensor tu = f.tensor("u8.packed", Set.of(DType.U8));
            assertArrayEquals(packed, tu.segment().toArray(ValueLayout.JAVA_BYTE));

            // Layout: data area 8-aligned, contiguous, each tensor aligned to its element size,
            // larger element sizes first (Order.ALIGNED).
            long headerLen = readHeaderLength(file);
            assertEquals(0, (8 + headerLen) % 8);
            List<TensorInfo> byOffset = f.infos().values().stream()
                    .sorted(java.util.Comparator.comparingLong(TensorInfo::dataOffset)).toList();
            long expectOffset = 0;
            int lastSize = Integer.MAX_VALUE;
            for (TensorInfo t : byOffset) {
                assertEquals(expectOffset, t.dataOffset(), "contiguous at " + t);
                assertEquals(0, t.dataOffset() % t.dtype().byteSize(), "aligned " + t);
                assertTrue(t.dtype().byteSize() <= lastSize, "sorted by element size " + t);
                lastSize = t.dtype().byteSize();
                expectOffset += t.byteLength();
            }
            assertEquals(Files.size(file) - 8 - headerLen, expectOffset, "no trailing bytes");
        }
    }

    @Test
    void insertionOrderIsKeptWhenAsked() throws IOException {
        Path file = dir.resolve("ins.safetensors");
        new SafetensorsWriter(file).order(SafetensorsWriter.Order.INSERTION)
                .add("z", DType.U8, new long[] {3}, SafetensorsWriter.TensorData.of(MemorySegment.ofArray(new byte[3])))
                .add("y", DType.F32, new long[] {1}, SafetensorsWriter.TensorData.ofFloats(new float[] {1f}))
                .write();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(0, f.info("z").orElseThrow().dataOffset());
            assertEquals(3, f.info("y").orElseThrow().dataOffset());
            assertEquals(1f, f.tensor("y").getFloat(0));
        }
    }

    @Test
    void largeTensorStreamsThroughTheBufferInPieces() throws IOException {
        Path file = dir.resolve("big.safetensors");
        int n = (3 << 20) / 4 + 13; // > 3 MiB of F32: several buffer flushes, odd tail
        float[] v = TestCheckpoints.values("big", n);
        new SafetensorsWriter(file)
                .add("big", DType.F32, new long[] {n}, sink -> {
                    // produced in uneven chunks, as a quantizer would
                    for (int from = 0; from < n; from += 100_003) {
                        sink.writeFloats(v, from, Math.min(100_003, n - from));
                    }
                })
                .write();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertArrayEquals(v, f.tensor("big").toFloatArray());
        }
    }

    @Test
    void bf16AndF16ConversionRoundToNearestEven() {
        assertEquals((short) 0x3F80, SafetensorsWriter.TensorSink.toBf16(1.0f));
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
        assertEquals((short) 0x3F80, SafetensorsWriter.TensorSink.toBf16(1.0f + 0x1p-8f));
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
        assertEquals((short) 0x3F82, SafetensorsWriter.TensorSink.toBf16(1.0f + 3 * 0x1p-8f));
        assertEquals((short) 0xC000, SafetensorsWriter.TensorSink.toBf16(-2.0f));
        assertEquals((short) 0x7F80, SafetensorsWriter.TensorSink.toBf16(Float.POSITIVE_INFINITY));
        short nan = SafetensorsWriter.TensorSink.toBf16(Float.NaN);
        assertTrue(Float.isNaN(Float.intBitsToFloat((nan & 0xFFFF) << 16)));
    }

    @Test
    void producerWritingTheWrongSizeFailsNamingTheTensorAndLeavesNoFile() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        IOException tooFew = assertThrows(IOException.class, () -> new SafetensorsWriter(file)
                .add("short", DType.F32, new long[] {4}, SafetensorsWriter.TensorData.ofFloats(new float[3]))
                .write());
        assertTrue(tooFew.getMessage().contains("'short'"), tooFew.getMessage());
        IOException tooMany = assertThrows(IOException.class, () -> new SafetensorsWriter(file)
                .add("long", DType.F32, new long[] {2}, SafetensorsWriter.TensorData.ofFloats(new float[3]))
                .write());
        assertTrue(tooMany.getMessage().contains("'long'"), tooMany.getMessage());
        try (var s = Files.list(dir)) {
            assertEquals(List.of(), s.toList(), "neither the target nor a temporary file remains");
        }
    }

    @Test
    void closeUnmapsTheFileSoItCanBeDeletedAndReopened() throws IOException {
        Path file = dir.resolve("m.safetensors");
        new SafetensorsWriter(file).add("t", DType.F32, new long[] {2},
                SafetensorsWriter.TensorData.ofFloats(new float[] {1f, 2f})).write();
        for (int round = 0; round < 3; round++) {
            SafetensorsFile f = SafetensorsFile.open(file);
            Tensor t = f.tensor("t");
            assertEquals(2f, t.getFloat(1));
            assertEquals(1, TestCheckpoints.mappings(file), "mapped while open");
            f.close();
            f.close(); // idempotent
            assertEquals(0, TestCheckpoints.mappings(file), "unmapped after close");
            assertThrows(IllegalStateException.class, () -> t.getFloat(0));
            assertThrows(IllegalStateException.class, () -> f.tensor("t"));
        }
        Files.delete(file);
        new SafetensorsWriter(file).add("t", DType.F32, new long[] {1},
                SafetensorsWriter.TensorData.ofFloats(new float[] {7f})).write();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(7f, f.tensor("t").getFloat(0));
        }
    }

    // ---- bad input, one test per failure mode --------------------------------------------

    @Test
    void missingFile() {
        openFails(dir.resolve("nope.safetensors"), null, "cannot read");
    }

    @Test
    void truncatedBeforeTheLengthField() throws IOException {
        Path f = dir.resolve("t.safetensors");
        Files.write(f, new byte[] {1, 2, 3, 4, 5});
        openFails(f, null, "truncated");
    }

    @Test
    void truncatedInsideTheHeader() throws IOException {
        Path f = dir.resolve("t.safetensors");
        Path good = dir.resolve("good.safetensors");
        new SafetensorsWriter(good).add("t", DType.F32, new long[] {4}, SafetensorsWriter.TensorData.ofFloats(new float[4])).write();
        byte[] all = Files.readAllBytes(good);
        Files.write(f, java.util.Arrays.copyOf(all, 20));
        openFails(f, null, "truncated");
    }

    @Test
    void truncatedInsideTheData() throws IOException {
        Path f = dir.resolve("t.safetensors");
        Path good = dir.resolve("good.safetensors");
        new SafetensorsWriter(good).add("t", DType.F32, new long[] {4}, SafetensorsWriter.TensorData.ofFloats(new float[4])).write();
        byte[] all = Files.readAllBytes(good);
        Files.write(f, java.util.Arrays.copyOf(all, all.length - 3));
        openFails(f, "t", "outside the data area");
    }

    @Test
    void headerLengthAboveTheLimit() throws IOException {
        Path f = TestCheckpoints.raw(dir.resolve("h.safetensors"), 200L << 20, "{}".getBytes(StandardCharsets.UTF_8), 0);
        openFails(f, null, "not a safetensors file: its first 8 bytes give a header length");
        Path g = TestCheckpoints.raw(dir.resolve("neg.safetensors"), -1L, "{}".getBytes(StandardCharsets.UTF_8), 0);
        openFails(g, null, "exceeds the limit");
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        Path f = TestCheckpoints.raw(dir.resolve("h.safetensors"), 1000, "{}".getBytes(StandardCharsets.UTF_8), 10);
        openFails(f, null, "truncated: header length 1000");
    }

    @Test
    void badJson() throws IOException {
        openFails(TestCheckpoints.raw(dir.resolve("a.safetensors"), "{\"t\": {\"dtype\": ", 0), null, "not valid JSON");
        openFails(TestCheckpoints.raw(dir.resolve("b.safetensors"), "[1, 2]", 0), null, "not a JSON object");
        openFails(TestCheckpoints.raw(dir.resolve("c.safetensors"), "{} {}", 0), null, "not valid JSON");
        openFails(TestCheckpoints.raw(dir.resolve("d.safetensors"),
                "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        + "\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2), null, "not valid JSON");
        byte[] notUtf8 = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        openFails(TestCheckpoints.raw(dir.resolve("e.safetensors"), notUtf8.length, notUtf8, 0), null, "UTF-8");
        openFails(TestCheckpoints.raw(dir.resolve("f.safetensors"), "{\"__metadata__\": {\"k\": 1}}", 0), null, "not a string");
    }

    @Test
    void malformedTensorEntries() throws IOException {
        openFails(TestCheckpoints.raw(dir.resolve("a.safetensors"),
                "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "w", "dtype");
        openFails(TestCheckpoints.raw(dir.resolve("b.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "w", "'shape'");
        openFails(TestCheckpoints.raw(dir.resolve("c.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "w", "'data_offsets'");
        openFails(TestCheckpoints.raw(dir.resolve("d.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4), "w", "non-negative");
        openFails(TestCheckpoints.raw(dir.resolve("e.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4), "w", "end before begin");
        openFails(TestCheckpoints.raw(dir.resolve("f.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8), "w", "expected 2");
        openFails(TestCheckpoints.raw(dir.resolve("g.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4), "w", "overflow");
    }

    @Test
    void overlappingOffsets() throws IOException {
        Path f = TestCheckpoints.raw(dir.resolve("o.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
        CheckpointException e = openFails(f, "b", "overlap");
        assertTrue(e.getMessage().contains("'a'"), e.getMessage());
    }

    @Test
    void offsetsOutsideTheFile() throws IOException {
        Path f = TestCheckpoints.raw(dir.resolve("o.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[100,116]}}", 16);
        openFails(f, "a", "outside the data area of 16 bytes");
    }

    @Test
    void shapeDisagreesWithByteLength() throws IOException {
        Path f = TestCheckpoints.raw(dir.resolve("s.safetensors"),
                "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16);
        openFails(f, "a", "needs 12 bytes but data_offsets [0, 16] hold 16");
    }

    @Test
    void unknownDtypeFailsAtOpen() throws IOException {
        Path f = TestCheckpoints.raw(dir.resolve("u.safetensors"),
                "{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1);
        openFails(f, "a", "unknown dtype F4");
    }

    @Test
    void unsupportedDtypeFailsWhenItsDataIsRequested() throws IOException {
        Path f = TestCheckpoints.raw(dir.resolve("i.safetensors"),
                "{\"pos\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                        + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}", 20);
        try (SafetensorsFile sf = SafetensorsFile.open(f)) {
            assertEquals(DType.I64, sf.info("pos").orElseThrow().dtype());
            assertEquals(0f, sf.tensor("w").getFloat(0));
            CheckpointException e = assertThrows(CheckpointException.class, () -> sf.tensor("pos"));
            assertEquals(f, e.file());
            assertTrue(e.getMessage().contains("unsupported dtype I64 for tensor pos"), e.getMessage());
            assertEquals(16, sf.tensor("pos", Set.of(DType.I64)).segment().byteSize());
        }
    }

    @Test
    void missingTensorNamesFileAndTensor() throws IOException {
        Path f = dir.resolve("m.safetensors");
        new SafetensorsWriter(f).add("t", DType.F32, new long[] {1}, SafetensorsWriter.TensorData.ofFloats(new float[1])).write();
        try (SafetensorsFile sf = SafetensorsFile.open(f)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> sf.tensor("nope"));
            assertEquals(f, e.file());
            assertEquals("nope", e.tensor());
            assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
            assertFalse(sf.contains("nope"));
        }
    }

    @Test
    void gapsAndHeaderPaddingAreAccepted() throws IOException {
        // A header padded with spaces and a hole between tensors (written by hand).
        Path f = TestCheckpoints.raw(dir.resolve("g.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}    ", 12);
        try (SafetensorsFile sf = SafetensorsFile.open(f)) {
            assertEquals(0f, sf.tensor("a").getFloat(0));
        }
    }

    private static long readHeaderLength(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 0);
            return b.flip().getLong();
        }
    }
}
