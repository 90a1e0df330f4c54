package dev.lookahead.bindings;

/**
 * The group-wise quantization format of lookahead.h ("Quantized weights"): a matrix W[rows, cols]
 * is quantized along each row in groups of {@code groupSize} columns, each group with an fp16
 * scale and zero, {@code w = scale * (q - zero)}.
 *
 * <pre>
 *   ngroups   = ceil(cols / groupSize)            (the last group may be partial)
 *   row_bytes = ngroups * groupSize * bits / 8
 *   codes     : uint8 [rows, row_bytes]           packed, codes beyond cols are 0
 *   scales    : fp16  [rows, ngroups]; zeros likewise
 * </pre>
 *
 * Packing, little-endian within each pack: 4-bit: byte i holds codes 2i (bits 0-3) and 2i+1
 * (bits 4-7); 2-bit: byte i holds codes 4i..4i+3, code 4i+j in bits 2j..2j+1; 3-bit: 8 codes in
 * 3 bytes read as a 24-bit little-endian word w, code j is (w &gt;&gt; 3j) &amp; 7. Bits per weight:
 * {@code bits + 32 / groupSize}. This class is the contract the quantizer writes against.
 *
 * @param bits      2, 3 or 4
 * @param groupSize a multiple of 8 in [8, 1024], so every group is a whole number of packs
 */
public record QuantFormat(int bits, int groupSize) {
    public QuantFormat {
        if (bits != 2 && bits != 3 && bits != 4) {
            throw new IllegalArgumentException("bits must be 2, 3 or 4, got " + bits);
        }
        if (groupSize < 8 || groupSize > 1024 || groupSize % 8 != 0) {
            throw new IllegalArgumentException("groupSize must be a multiple of 8 in [8, 1024], got " + groupSize);
        }
    }

    /** Largest code value, 2^bits - 1. */
    public int maxCode() {
        return (1 << bits) - 1;
    }

    /** Bits per weight including the fp16 scale and zero of each group. */
    public double bitsPerWeight() {
        return bits + 32.0 / groupSize;
    }

    /** ceil(cols / groupSize). */
    public long groups(long cols) {
        requirePositive("cols", cols);
        return (cols + groupSize - 1) / groupSize;
    }

    /** Bytes of packed codes per row. */
    public long rowBytes(long cols) {
        return Math.multiplyExact(groups(cols), (long) groupSize * bits / 8);
    }

    /** Bytes of the codes of a [rows, cols] matrix (what lk_qmatrix_code_bytes returns). */
    public long codeBytes(long rows, long cols) {
        requirePositive("rows", rows);
        return Math.multiplyExact(rows, rowBytes(cols));
    }

    /** Bytes of the fp16 scales of a [rows, cols] matrix: rows * ngroups * 2. */
    public long scaleBytes(long rows, long cols) {
        requirePositive("rows", rows);
        return Math.multiplyExact(Math.multiplyExact(rows, groups(cols)), 2L);
    }

    /** Bytes of the fp16 zeros; the same as {@link #scaleBytes}. */
    public long zeroBytes(long rows, long cols) {
        return scaleBytes(rows, cols);
    }

    /**
     * Packs one row: {@code cols} codes (unsigned, each in [0, 2^bits)) from
     * {@code codes[codesOffset..]} into {@link #rowBytes(long)} bytes at {@code packed[packedOffset..]};
     * the padding of a partial last group is written as zero codes.
     */
    public void packRow(byte[] codes, int codesOffset, int cols, byte[] packed, int packedOffset) {
        int rowBytes = Math.toIntExact(rowBytes(cols));
        checkRange("codes", codes.length, codesOffset, cols);
        checkRange("packed", packed.length, packedOffset, rowBytes);
        int padded = rowBytes * 8 / bits; // codes in the row including the zero padding
        int max = maxCode();
        switch (bits) {
            case 4 -> {
                for (int i = 0; i < padded; i += 2) {
                    int lo = code(codes, codesOffset, cols, i, max);
                    int hi = code(codes, codesOffset, cols, i + 1, max);
                    packed[packedOffset + i / 2] = (byte) (lo | hi << 4);
                }
            }
            case 2 -> {
                for (int i = 0; i < padded; i += 4) {
                    int b = 0;
                    for (int j = 0; j < 4; j++) {
                        b |= code(codes, codesOffset, cols, i + j, max) << (2 * j);
                    }
                    packed[packedOffset + i / 4] = (byte) b;
                }
            }
            default -> { // 3 bits: 8 codes per 3-byte little-endian word
                for (int i = 0; i < padded; i += 8) {
                    int w = 0;
                    for (int j = 0; j < 8; j++) {
                        w |= code(codes, codesOffset, cols, i + j, max) << (3 * j);
                    }
                    int at = packedOffset + i / 8 * 3;
                    packed[at] = (byte) w;
                    packed[at + 1] = (byte) (w >>> 8);
                    packed[at + 2] = (byte) (w >>> 16);
                }
            }
        }
    }

    /** Unpacks one row of {@code cols} codes; the inverse of {@link #packRow}. */
    public void unpackRow(byte[] packed, int packedOffset, int cols, byte[] codes, int codesOffset) {
        int rowBytes = Math.toIntExact(rowBytes(cols));
        checkRange("packed", packed.length, packedOffset, rowBytes);
        checkRange("codes", codes.length, codesOffset, cols);
        for (int c = 0; c < cols; c++) {
            int q = switch (bits) {
                case 4 -> (packed[packedOffset + c / 2] & 0xFF) >>> (4 * (c & 1)) & 0xF;
                case 2 -> (packed[packedOffset + c / 4] & 0xFF) >>> (2 * (c & 3)) & 0x3;
                default -> {
                    int at = packedOffset + c / 8 * 3;
                    int w = (packed[at] & 0xFF) | (packed[at + 1] & 0xFF) << 8 | (packed[at + 2] & 0xFF) << 16;
                    yield w >>> (3 * (c & 7)) & 0x7;
                }
            };
            codes[codesOffset + c] = (byte) q;
        }
    }

    /** Packs a [rows, cols] row-major code matrix into [rows, rowBytes(cols)]. */
    public byte[] pack(byte[] codes, int rows, int cols) {
        requirePositive("rows", rows);
        if (codes.length != Math.multiplyExact(rows, cols)) {
            throw new IllegalArgumentException("codes has " + codes.length + " entries, expected rows * cols = "
                    + (long) rows * cols);
        }
        int rowBytes = Math.toIntExact(rowBytes(cols));
        byte[] packed = new byte[Math.toIntExact(codeBytes(rows, cols))];
        for (int r = 0; r < rows; r++) {
            packRow(codes, r * cols, cols, packed, r * rowBytes);
        }
        return packed;
    }

    /** Unpacks [rows, rowBytes(cols)] into a [rows, cols] row-major code matrix. */
    public byte[] unpack(byte[] packed, int rows, int cols) {
        requirePositive("rows", rows);
        int rowBytes = Math.toIntExact(rowBytes(cols));
        if (packed.length != Math.multiplyExact(rows, rowBytes)) {
            throw new IllegalArgumentException("packed has " + packed.length + " bytes, expected codeBytes = "
                    + (long) rows * rowBytes);
        }
        byte[] codes = new byte[Math.multiplyExact(rows, cols)];
        for (int r = 0; r < rows; r++) {
            unpackRow(packed, r * rowBytes, cols, codes, r * cols);
        }
        return codes;
    }

    /** Code {@code i} of the row, 0 past {@code cols} (padding), range-checked. */
    private int code(byte[] codes, int offset, int cols, int i, int max) {
        if (i >= cols) {
            return 0;
        }
        int q = codes[offset + i] & 0xFF;
        if (q > max) {
            throw new IllegalArgumentException("code " + q + " at column " + i + " does not fit in " + bits
                    + " bits (max " + max + ")");
        }
        return q;
    }

    private static void checkRange(String what, int length, int offset, int count) {
        if (offset < 0 || count < 0 || offset > length - count) {
            throw new IndexOutOfBoundsException(what + ": range [" + offset + ", " + ((long) offset + count)
                    + ") is outside the array of " + length);
        }
    }

    private static void requirePositive(String what, long value) {
        if (value <= 0) {
            throw new IllegalArgumentException(what + " must be > 0, got " + value);
        }
    }
}
