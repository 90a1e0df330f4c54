package dev.lookahead.bindings;

import java.util.Objects;

/**
 * A quantized weight matrix W[rows, cols] in device memory ({@code lk_qmatrix}); y = W x.
 * The constructor checks that the slices hold the bytes {@link QuantFormat} computes and live on
 * one device; ops check liveness, alignment and the stream's device when called.
 *
 * @param codes  uint8 [rows, format.rowBytes(cols)]
 * @param scales fp16 [rows, format.groups(cols)]
 * @param zeros  fp16 [rows, format.groups(cols)]
 */
public record QMatrix(QuantFormat format, long rows, long cols, DeviceSlice codes, DeviceSlice scales,
                      DeviceSlice zeros) {
    public QMatrix {
        Objects.requireNonNull(format, "format");
        Objects.requireNonNull(codes, "codes");
        Objects.requireNonNull(scales, "scales");
        Objects.requireNonNull(zeros, "zeros");
        if (rows <= 0 || cols <= 0) {
            throw new IllegalArgumentException("QMatrix shape must be positive, got [" + rows + ", " + cols + "]");
        }
        requireBytes("codes", codes, format.codeBytes(rows, cols), rows, cols);
        requireBytes("scales", scales, format.scaleBytes(rows, cols), rows, cols);
        requireBytes("zeros", zeros, format.zeroBytes(rows, cols), rows, cols);
        if (scales.device() != codes.device() || zeros.device() != codes.device()) {
            throw new IllegalArgumentException("QMatrix codes, scales and zeros must be on one device");
        }
    }

    /** The device the matrix lives on. */
    public Device device() {
        return codes.device();
    }

    private static void requireBytes(String what, DeviceSlice s, long need, long rows, long cols) {
        if (s.bytes() < need) {
            throw new IllegalArgumentException("QMatrix " + what + " holds " + s.bytes() + " bytes, but a ["
                    + rows + ", " + cols + "] matrix needs " + need);
        }
    }
}
