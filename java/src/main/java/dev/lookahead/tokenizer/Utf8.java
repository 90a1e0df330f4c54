package dev.lookahead.tokenizer;

/**
 * UTF-8 decoding with the replacement rule of Rust's {@code String::from_utf8_lossy} (and of
 * the Unicode standard's "maximal subpart" practice): each maximal prefix of a would-be valid
 * sequence that turns out ill-formed becomes one U+FFFD. Written out so that decode results
 * do not depend on the JDK decoder's replacement policy.
 */
final class Utf8 {

    private Utf8() {}

    /** True when {@code b} is entirely well-formed UTF-8. */
    static boolean isValid(byte[] b) {
        int i = 0;
        while (i < b.length) {
            int len = wellFormedLength(b, i);
            if (len <= 0) {
                return false;
            }
            i += len;
        }
        return true;
    }

    static String decodeLossy(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length);
        int i = 0;
        while (i < b.length) {
            int len = wellFormedLength(b, i);
            if (len > 0) {
                sb.append(new String(b, i, len, java.nio.charset.StandardCharsets.UTF_8));
                i += len;
            } else {
                sb.append('\uFFFD');
                i += -len; // skip the maximal subpart (at least one byte)
            }
        }
        return sb.toString();
    }

    /**
     * Length of the well-formed sequence starting at {@code i}, or minus the length of the
     * maximal ill-formed subpart there (Unicode Table 3-7 gives the valid second-byte ranges).
     */
    private static int wellFormedLength(byte[] b, int i) {
        int b0 = b[i] & 0xFF;
        if (b0 < 0x80) {
            return 1;
        }
        int len;
        int lo = 0x80;
        int hi = 0xBF;
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            len = 2;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            len = 3;
            if (b0 == 0xE0) {
                lo = 0xA0;
            } else if (b0 == 0xED) {
                hi = 0x9F; // no surrogates
            }
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            len = 4;
            if (b0 == 0xF0) {
                lo = 0x90;
            } else if (b0 == 0xF4) {
                hi = 0x8F; // nothing above U+10FFFF
            }
        } else {
            return -1; // a continuation byte, C0, C1 or F5..FF: never valid first
        }
        for (int k = 1; k < len; k++) {
            if (i + k >= b.length) {
                return -k;
            }
            int c = b[i + k] & 0xFF;
            int min = k == 1 ? lo : 0x80;
            int max = k == 1 ? hi : 0xBF;
            if (c < min || c > max) {
                return -k;
            }
        }
        return len;
    }
}
