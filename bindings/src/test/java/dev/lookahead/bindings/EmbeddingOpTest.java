package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lookahead.bindings.ffi.LkStatus;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/** lk_embedding against a Java row lookup. The op only copies (and widens) values, so it must be exact. */
class EmbeddingOpTest extends CpuDeviceTest {

    static double[] reference(float[] table, int dim, int[] ids) {
        double[] out = new double[ids.length * dim];
        for (int i = 0; i < ids.length; i++) {
            for (int c = 0; c < dim; c++) {
                out[i * dim + c] = table[ids[i] * dim + c];
            }
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F16", "BF16"})
    void rowsOfEveryTableDtype(DType dtype) {
        int vocab = 37;
        int dim = 19; // odd: no vector-width multiple
        int[] ids = {0, 36, 5, 5, 17, 0, 36, 1, 30, 2, 11};
        float[] table = Numerics.round(dtype, Numerics.gaussian(new Random(1), vocab * dim, 1.0));
        DeviceSlice out = run.output((long) ids.length * dim * 4);
        run.stream.embedding(dtype, run.upload(dtype, table), vocab, dim, run.uploadInts(ids), ids.length, out);
        float[] got = run.download(out, ids.length * dim);
        // Widening fp16/bf16 to fp32 is exact: demand bit equality.
        assertArrayEquals(Numerics.toDouble(got), reference(table, dim, ids), 0.0, dtype + " embedding");
    }

    @Test
    void singleTokenAndSingleColumn() {
        float[] table = Numerics.gaussian(new Random(2), 5, 1.0); // [vocab=5, dim=1]
        DeviceSlice out = run.output(4);
        run.stream.embedding(DType.F32, run.upload(table), 5, 1, run.uploadInts(new int[] {3}), 1, out);
        assertEquals(table[3], run.download(out, 1)[0]);
    }

    @Test
    void idOutsideVocabGivesZeroRowAndStickyError() {
        try (Stream stream = device.createStream()) {
            int vocab = 4;
            int dim = 3;
            float[] table = Numerics.gaussian(new Random(3), vocab * dim, 1.0);
            DeviceSlice t = run.upload(table);
            DeviceSlice ids = run.uploadInts(new int[] {1, vocab, -1});
            DeviceSlice out = run.output(3L * dim * 4);
            stream.embedding(DType.F32, t, vocab, dim, ids, 3, out);
            LookaheadNativeException e = assertThrows(LookaheadNativeException.class, stream::synchronize);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT, e.status());
            assertEquals("lk_stream_synchronize", e.function());
            float[] got = run.download(out, 3 * dim);
            for (int c = 0; c < dim; c++) {
                assertEquals(table[dim + c], got[c], "valid row");
                assertEquals(0.0f, got[dim + c], "id == vocab gives zeros");
                assertEquals(0.0f, got[2 * dim + c], "id == -1 gives zeros");
            }
        }
    }
}
