package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * lk_convert for all nine pairs of F32/F16/BF16. Conversion is round-to-nearest-even per IEEE, so
 * the result must match the Java conversion bit for bit; the values include fp16 subnormals,
 * exact rounding ties and the fp16 maximum.
 */
class ConvertOpTest extends CpuDeviceTest {
    static final DType[] FLOATS = {DType.F32, DType.F16, DType.BF16};

    static java.util.stream.Stream<Arguments> pairs() {
        java.util.stream.Stream.Builder<Arguments> b = java.util.stream.Stream.builder();
        for (DType s : FLOATS) {
            for (DType d : FLOATS) {
                b.add(Arguments.of(s, d));
            }
        }
        return b.build();
    }

    static float[] values(int n) {
        float[] special = {0f, -0f, 1f, -1f, 65504f, -65504f, 1e-6f, -3e-7f, 6.1e-5f, 5.96e-8f,
            1f + 0x1p-11f, 1f + 3 * 0x1p-11f, 1f + 0x1p-8f, 1f + 3 * 0x1p-8f, 3.14159265f, 1e4f, -2.5e-3f};
        float[] v = Numerics.gaussian(new Random(n), n, 50.0);
        System.arraycopy(special, 0, v, 0, Math.min(n, special.length));
        return v;
    }

    /** Bit pattern of {@code f} in {@code dtype}, as an int for comparison. */
    static int bits(DType dtype, float f) {
        return switch (dtype) {
            case F32 -> Float.floatToRawIntBits(f);
            case F16 -> Numerics.toF16(f) & 0xFFFF;
            case BF16 -> Numerics.toBf16(f) & 0xFFFF;
            case I32 -> throw new IllegalArgumentException();
        };
    }

    int[] downloadBits(DType dtype, DeviceSlice s, int n) {
        int[] out = new int[n];
        if (dtype == DType.F32) {
            float[] f = run.download(s, n);
            for (int i = 0; i < n; i++) {
                out[i] = Float.floatToRawIntBits(f[i]);
            }
        } else {
            short[] h = run.downloadShorts(s, n);
            for (int i = 0; i < n; i++) {
                out[i] = h[i] & 0xFFFF;
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @MethodSource("pairs")
    void everyPairRoundsToNearestEven(DType src, DType dst) {
        for (int n : new int[] {1, 1003}) {
            float[] srcValues = Numerics.round(src, values(n)); // what the source buffer holds
            DeviceSlice out = run.output((long) n * dst.byteSize());
            run.stream.convert(src, run.upload(src, srcValues), dst, out, n);
            int[] got = downloadBits(dst, out, n);
            for (int i = 0; i < n; i++) {
                assertEquals(bits(dst, srcValues[i]), got[i], src + " -> " + dst + " of " + srcValues[i]
                        + " (element " + i + " of " + n + ")");
            }
        }
    }

    @Test
    void sameDtypeInPlace() {
        int n = 257;
        for (DType t : FLOATS) {
            float[] v = Numerics.round(t, values(n));
            DeviceSlice s = run.upload(t, v);
            run.stream.convert(t, s, t, s, n);
            int[] got = downloadBits(t, s, n);
            for (int i = 0; i < n; i++) {
                assertEquals(bits(t, v[i]), got[i], t + " in place, element " + i);
            }
        }
    }
}
