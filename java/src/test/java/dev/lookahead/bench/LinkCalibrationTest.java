package dev.lookahead.bench;

import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.quant.CheckpointQuantizer;
import dev.lookahead.quant.ExpertBlobLayout;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.quant.QuantizedCheckpoint;
import dev.lookahead.util.Progress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The emulated link: one bandwidth, defined by the 4-bit expert; lower-bit experts copy proportionally faster. */
class LinkCalibrationTest {
    // Mixtral-8x7B experts (hidden 4096, intermediate 14336), g64, by hand: each of the three matrices has
    // 14336 * 4096 weights and 14336 * 4096 / 64 groups, each group one fp16 scale and one fp16 zero (4 bytes):
    // 4-bit: 3 * (29,360,128 codes + 3,670,016 scales and zeros) = 99,090,432 (ExpertBlobLayout's javadoc);
    // 2-bit: 3 * (14,680,064 + 3,670,016) = 55,050,240. Every section is already a multiple of 256 bytes.
    private static final long MIXTRAL_4BIT = 99_090_432L;
    private static final long MIXTRAL_2BIT = 55_050_240L;

    @TempDir
    Path tmp;

    @Test
    void aFourBitRunCopiesAnExpertInExactlySevenPointFourLayerTimes() {
        PolicyBench.LinkCalibration c = PolicyBench.LinkCalibration.of(0.5, 4, MIXTRAL_4BIT, MIXTRAL_4BIT);
        assertEquals(7.4, c.copyToLayer(), 1e-12);
        assertEquals(3.7, c.copyMs(), 1e-12);
        // Mixtral-8x7B on PCIe 4.0: ~94.5 MiB in 3.7 ms is ~26.8 GB/s, the ~25 GB/s pinned of DESIGN.md
        assertEquals(MIXTRAL_4BIT / 3.7e-3, c.bytesPerSecond(), 1e-3);
    }

    @Test
    void aTwoBitExpertCopiesFasterOnTheSameLink() {
        PolicyBench.LinkCalibration four = PolicyBench.LinkCalibration.of(0.8, 4, MIXTRAL_4BIT, MIXTRAL_4BIT);
        PolicyBench.LinkCalibration two = PolicyBench.LinkCalibration.of(0.8, 2, MIXTRAL_2BIT, MIXTRAL_4BIT);
        assertEquals(four.bytesPerSecond(), two.bytesPerSecond(), 0.0, "one link, whatever the bits of the run");
        assertEquals(7.4 * MIXTRAL_2BIT / MIXTRAL_4BIT, two.copyToLayer(), 1e-12); // 4.111
        assertEquals(7.4 * 0.8 * MIXTRAL_2BIT / MIXTRAL_4BIT, two.copyMs(), 1e-12);
        String d = two.describe();
        assertTrue(d.contains("a 4-bit expert (94.50 MiB) copies in 5.92 ms = 7.4 x the measured 0.800 ms"), d);
        assertTrue(d.contains("this run's 2-bit experts (52.50 MiB) copy in 3.29 ms = 4.11 x"), d);
    }

    @Test
    void theFourBitSizeComesFromTheLayoutOfTheRun() {
        ExpertBlobLayout twoBit = ExpertBlobLayout.of(4096, 14336, new QuantSpec(2, 64));
        assertEquals(MIXTRAL_2BIT, twoBit.blobBytes());
        assertEquals(MIXTRAL_4BIT, PolicyBench.fourBitBlobBytes(twoBit));
    }

    @Test
    void theFourBitSizeMatchesARealFourBitCheckpoint() throws Exception {
        Path plain = tmp.resolve("plain");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(5), plain);
        long[] blobs = new long[5]; // by bits: the blob bytes of each quantized checkpoint
        long[] fourBitFromLayout = new long[5];
        for (int bits : new int[] {2, 3, 4}) {
            Path q = tmp.resolve("q" + bits);
            CheckpointQuantizer.quantize(plain, q, new CheckpointQuantizer.Options(new QuantSpec(bits, 32),
                    new QuantSpec(4, 64), null), Progress.NONE);
            try (QuantizedCheckpoint qc = QuantizedCheckpoint.open(q)) {
                blobs[bits] = qc.expertBlob(0, 0).byteSize();
                assertEquals(qc.layout().blobBytes(), blobs[bits]);
                fourBitFromLayout[bits] = PolicyBench.fourBitBlobBytes(qc.layout());
            }
        }
        for (int bits : new int[] {2, 3, 4}) assertEquals(blobs[4], fourBitFromLayout[bits], bits + "-bit run");
        assertNotEquals(blobs[4], blobs[2]);
        assertTrue(blobs[2] < blobs[3] && blobs[3] < blobs[4]);
    }

    @Test
    void rejectsAMeaninglessMeasurement() {
        for (double layerMs : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> PolicyBench.LinkCalibration.of(layerMs, 4, MIXTRAL_4BIT, MIXTRAL_4BIT));
            assertTrue(e.getMessage().contains("layer compute time"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> PolicyBench.LinkCalibration.of(0.5, 2, 0, MIXTRAL_4BIT));
    }
}
