package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;

/**
 * Test-side number handling, written independently of the native code: dtype rounding (fp16 via
 * the JDK, bf16 by round-to-nearest-even on the bit pattern), random data and NMSE.
 */
final class Numerics {
    private Numerics() {}

    /** fp32 -> fp16 bits, round to nearest even (JDK). */
    static short toF16(float f) {
        return Float.floatToFloat16(f);
    }

    static float fromF16(short h) {
        return Float.float16ToFloat(h);
    }

    /** fp32 -> bf16 bits, round to nearest even; NaN stays a quiet NaN. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    static float fromBf16(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    /** The value {@code f} takes after a round trip through {@code dtype}. */
    static float round(DType dtype, float f) {
        return switch (dtype) {
            case F32 -> f;
            case F16 -> fromF16(toF16(f));
            case BF16 -> fromBf16(toBf16(f));
            case I32 -> throw new IllegalArgumentException("not a float dtype");
        };
    }

    static float[] round(DType dtype, float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = round(dtype, values[i]);
        }
        return out;
    }

    static float[] gaussian(Random rnd, int n, double sigma) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (rnd.nextGaussian() * sigma);
        }
        return out;
    }

    static float[] uniform(Random rnd, int n, double lo, double hi) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        }
        return out;
    }

    /** sum((got - ref)^2) / sum(ref^2); the plain MSE when the reference is all zeros. */
    static double nmse(double[] ref, float[] got) {
        if (ref.length != got.length) {
            throw new IllegalArgumentException("lengths differ: " + ref.length + " vs " + got.length);
        }
        double err = 0;
        double norm = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = got[i] - ref[i];
            err += d * d;
            norm += ref[i] * ref[i];
        }
        return norm == 0 ? err / Math.max(1, ref.length) : err / norm;
    }

    static double[] toDouble(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    /** Fails unless every value is finite and NMSE against {@code ref} is at most {@code tol}. */
    static double assertNmse(double[] ref, float[] got, double tol, String what) {
        for (int i = 0; i < got.length; i++) {
            if (!Float.isFinite(got[i])) {
                fail(what + ": element " + i + " is " + got[i] + " (reference " + ref[i] + ")");
            }
        }
        double e = nmse(ref, got);
        assertTrue(e <= tol, what + ": NMSE " + e + " exceeds " + tol);
        return e;
    }
}
