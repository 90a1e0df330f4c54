package dev.lookahead.cli;

import dev.lookahead.model.RandomCheckpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchCommandTest {
    @TempDir
    Path tmp;

    @Test
    void benchComparesPoliciesOnAnEmulatedLinkWithIdenticalTokens() throws Exception {
        Path model = tmp.resolve("m");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(9).withLayers(2).withExperts(6, 2), model);
        String home = System.getProperty("lookahead.home");
        System.setProperty("lookahead.home", tmp.toString()); // the quantized copy goes under tmp/target
        try {
            CliTest.Run r = CliTest.run("bench", model.toString(), "-n", "6", "-k", "3", "--expert-group", "32",
                    "--policies", "all-resident,mixtral-offloading,next-layer");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("emulated link"), r.out());
            for (String policy : new String[] {"all-resident", "mixtral-offloading", "next-layer"}) {
                assertTrue(r.out().lines().anyMatch(l -> l.startsWith(policy) && l.trim().endsWith("yes")),
                        policy + " row with identical tokens:\n" + r.out());
            }
        } finally {
            if (home == null) System.clearProperty("lookahead.home");
            else System.setProperty("lookahead.home", home);
        }
    }

    @Test
    void sizesParseWithBinaryUnits() {
        assertEquals(12L << 30, ByteSize.parse("12GiB"));
        assertEquals(512L << 20, ByteSize.parse("512MiB"));
        assertEquals((long) (1.5 * (1L << 30)), ByteSize.parse("1.5G"));
        assertEquals(4096, ByteSize.parse("4096"));
        assertEquals(800L << 20, ByteSize.parse("800M"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("lots"));
        assertTrue(e.getMessage().contains("12GiB"), e.getMessage());
    }
}
