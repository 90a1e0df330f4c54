package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link QuantFormat}: sizes per the header formula (and per the library's lk_qmatrix_code_bytes),
 * and the bit layout of packed codes checked against bytes worked out by hand from the header.
 */
class QuantFormatTest {

    @Test
    void sizesFollowTheHeaderFormula() {
        QuantFormat f = new QuantFormat(3, 64);
        assertEquals(2, f.groups(100)); // ceil(100 / 64)
        assertEquals(2 * 64 * 3 / 8, f.rowBytes(100));
        assertEquals(7 * 48, f.codeBytes(7, 100));
        assertEquals(7 * 2 * 2, f.scaleBytes(7, 100));
        assertEquals(f.scaleBytes(7, 100), f.zeroBytes(7, 100));
        assertEquals(3 + 32.0 / 64, f.bitsPerWeight());
        assertEquals(4, new QuantFormat(4, 8).rowBytes(1)); // one partial group of 8 codes
        assertEquals(14336L * 4096 * 4 / 8, new QuantFormat(4, 64).codeBytes(14336, 4096));
    }

    @Test
    void codeBytesAgreeWithTheLibrary() {
        try (Backend backend = Backend.load()) {
            for (int bits : new int[] {2, 3, 4}) {
                for (int group : new int[] {8, 16, 64, 128, 1024}) {
                    for (long[] shape : new long[][] {{1, 1}, {13, 100}, {7, 1030}, {4096, 14336}}) {
                        QuantFormat f = new QuantFormat(bits, group);
                        assertEquals(f.codeBytes(shape[0], shape[1]), backend.library().ops()
                                        .lk_qmatrix_code_bytes(bits, group, shape[0], shape[1]),
                                f + " " + shape[0] + "x" + shape[1]);
                    }
                }
            }
            assertEquals(0, backend.library().ops().lk_qmatrix_code_bytes(5, 64, 4, 4), "invalid bits");
            assertEquals(0, backend.library().ops().lk_qmatrix_code_bytes(4, 12, 4, 4), "invalid group size");
        }
    }

    @Test
    void fourBitPacksTwoCodesPerByteLowNibbleFirst() {
        QuantFormat f = new QuantFormat(4, 8);
        byte[] codes = {1, 2, 3, 4, 5, 6, 15, 0};
        assertArrayEquals(new byte[] {0x21, 0x43, 0x65, 0x0F}, f.pack(codes, 1, 8));
    }

    @Test
    void twoBitPacksFourCodesPerByte() {
        QuantFormat f = new QuantFormat(2, 8);
        byte[] codes = {0, 1, 2, 3, 3, 3, 0, 1};
        // byte 0: 0 | 1<<2 | 2<<4 | 3<<6 = 0xE4; byte 1: 3 | 3<<2 | 0<<4 | 1<<6 = 0x4F
        assertArrayEquals(new byte[] {(byte) 0xE4, 0x4F}, f.pack(codes, 1, 8));
    }

    @Test
    void threeBitPacksEightCodesIntoALittleEndian24BitWord() {
        QuantFormat f = new QuantFormat(3, 8);
        byte[] codes = {1, 2, 3, 4, 5, 6, 7, 0};
        // w = 1 | 2<<3 | 3<<6 | 4<<9 | 5<<12 | 6<<15 | 7<<18 | 0<<21 = 0x1F58D1
        assertArrayEquals(new byte[] {(byte) 0xD1, (byte) 0x58, (byte) 0x1F}, f.pack(codes, 1, 8));
    }

    @Test
    void partialLastGroupIsPaddedWithZeroCodes() {
        QuantFormat f = new QuantFormat(4, 8);
        byte[] packed = f.pack(new byte[] {15, 15, 15}, 1, 3); // 3 codes, a group of 8
        assertArrayEquals(new byte[] {(byte) 0xFF, 0x0F, 0, 0}, packed);
        QuantFormat f3 = new QuantFormat(3, 16);
        byte[] p3 = f3.pack(new byte[] {7, 7, 7, 7, 7, 7, 7, 7, 7}, 1, 9);
        assertArrayEquals(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 7, 0, 0}, p3);
    }

    @Test
    void unpackInvertsPackForEveryFormat() {
        Random rnd = new Random(1);
        for (int bits : new int[] {2, 3, 4}) {
            for (int group : new int[] {8, 24, 64, 1024}) {
                QuantFormat f = new QuantFormat(bits, group);
                for (int cols : new int[] {1, 7, 8, 9, 63, 64, 65, 1030}) {
                    int rows = 3;
                    byte[] codes = new byte[rows * cols];
                    for (int i = 0; i < codes.length; i++) {
                        codes[i] = (byte) rnd.nextInt(f.maxCode() + 1);
                    }
                    byte[] packed = f.pack(codes, rows, cols);
                    assertEquals(f.codeBytes(rows, cols), packed.length);
                    assertArrayEquals(codes, f.unpack(packed, rows, cols), f + " cols=" + cols);
                }
            }
        }
    }

    @Test
    void invalidFormatsAndCodesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new QuantFormat(1, 64));
        assertThrows(IllegalArgumentException.class, () -> new QuantFormat(5, 64));
        assertThrows(IllegalArgumentException.class, () -> new QuantFormat(8, 64));
        assertThrows(IllegalArgumentException.class, () -> new QuantFormat(4, 0));
        assertThrows(IllegalArgumentException.class, () -> new QuantFormat(4, 12));
        assertThrows(IllegalArgumentException.class, () -> new QuantFormat(4, 1032));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new QuantFormat(3, 8).pack(new byte[] {0, 8}, 1, 2));
        assertTrue(e.getMessage().contains("does not fit in 3 bits"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new QuantFormat(4, 8).pack(new byte[5], 2, 3));
        assertThrows(IndexOutOfBoundsException.class,
                () -> new QuantFormat(4, 8).packRow(new byte[8], 4, 8, new byte[4], 0));
    }
}
