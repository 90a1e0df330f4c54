package dev.lookahead.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.bindings.QuantFormat;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class ExpertBlobLayoutTest {

    /** Mixtral-8x7B's expert (hidden 4096, intermediate 14336): sizes by hand from the ABI formulas. */
    @Test
    void mixtralSizes() {
        // 4-bit g64: codes 14336 * 4096 / 2 = 29,360,128; scales 14336 * 64 * 2 = 1,835,008 (all multiples of 256).
        ExpertBlobLayout l4 = ExpertBlobLayout.of(4096, 14336, new QuantSpec(4, 64));
        assertEquals(3 * (29_360_128L + 2 * 1_835_008L), l4.blobBytes());
        assertEquals(99_090_432L, l4.blobBytes());
        // 2-bit g16: codes 14,680,064; scales 14336 * 256 * 2 = 7,340,032: 4.0 bits per weight.
        ExpertBlobLayout l2 = ExpertBlobLayout.of(4096, 14336, new QuantSpec(2, 16));
        assertEquals(3 * (14_680_064L + 2 * 7_340_032L), l2.blobBytes());
        assertEquals(4.0, l2.blobBytes() * 8.0 / (3L * 4096 * 14336), 1e-12);
        // 3-bit g64: codes 14336 * 64 groups * 24 bytes = 22,020,096.
        ExpertBlobLayout l3 = ExpertBlobLayout.of(4096, 14336, new QuantSpec(3, 64));
        assertEquals(3 * (22_020_096L + 2 * 1_835_008L), l3.blobBytes());
    }

    @ParameterizedTest
    @CsvSource({"4096, 14336, 4, 64", "64, 128, 2, 16", "40, 72, 3, 8", "100, 36, 3, 24", "72, 200, 4, 48",
            "8, 8, 2, 1024"})
    void sectionsAreAlignedOrderedAndSizedByTheFormat(long hidden, long intermediate, int bits, int group) {
        QuantSpec spec = new QuantSpec(bits, group);
        ExpertBlobLayout l = ExpertBlobLayout.of(hidden, intermediate, spec);
        QuantFormat f = spec.format();
        List<ExpertBlobLayout.Section> s = l.sections();
        assertEquals(9, s.size());
        long previousEnd = 0;
        int i = 0;
        for (ExpertMatrix m : ExpertMatrix.values()) {
            long rows = m == ExpertMatrix.DOWN ? hidden : intermediate;
            long cols = m == ExpertMatrix.DOWN ? intermediate : hidden;
            ExpertBlobLayout.MatrixRanges r = l.ranges(m);
            assertEquals(rows, r.rows());
            assertEquals(cols, r.cols());
            long[] expected = {f.codeBytes(rows, cols), f.scaleBytes(rows, cols), f.zeroBytes(rows, cols)};
            ExpertBlobLayout.Section[] mine = {r.codes(), r.scales(), r.zeros()};
            for (int p = 0; p < 3; p++) {
                ExpertBlobLayout.Section x = s.get(i++);
                assertSame(mine[p], x);
                assertEquals(m, x.matrix());
                assertEquals(expected[p], x.bytes(), x.name());
                assertEquals(0, x.offset() % ExpertBlobLayout.ALIGNMENT, x.name() + " offset " + x.offset());
                assertTrue(x.offset() >= previousEnd, x.name() + " overlaps the previous section");
                assertTrue(x.offset() - previousEnd < ExpertBlobLayout.ALIGNMENT, x.name() + ": gap beyond alignment");
                previousEnd = x.end();
            }
        }
        assertEquals(0, l.blobBytes() % ExpertBlobLayout.ALIGNMENT);
        assertTrue(l.blobBytes() >= previousEnd && l.blobBytes() - previousEnd < ExpertBlobLayout.ALIGNMENT);
        assertEquals(s.stream().mapToLong(ExpertBlobLayout.Section::bytes).sum(), l.payloadBytes());
    }

    @Test
    void describeListsEverySectionInOrder() {
        ExpertBlobLayout l = ExpertBlobLayout.of(40, 72, new QuantSpec(3, 8));
        // w1, w3 [72, 40] 3-bit g8: 5 groups of 3 bytes per row -> 1080 bytes of codes, 72 * 5 * 2 = 720 of
        // scales; w2 [40, 72]: 9 groups -> 40 * 27 = 1080 of codes, 40 * 9 * 2 = 720 of scales.
        assertEquals("w1.codes=0+1080,w1.scales=1280+720,w1.zeros=2048+720,"
                + "w3.codes=2816+1080,w3.scales=4096+720,w3.zeros=4864+720,"
                + "w2.codes=5632+1080,w2.scales=6912+720,w2.zeros=7680+720", l.describe());
        assertEquals(8448, l.blobBytes()); // 7680 + 720 = 8400, rounded up to 256
        assertThrows(IllegalArgumentException.class, () -> ExpertBlobLayout.of(0, 72, new QuantSpec(3, 8)));
    }
}
