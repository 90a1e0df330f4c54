package dev.lookahead.engine;

import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.DeviceSlice;

/**
 * A dense weight in device memory: a matrix [rows, cols] (vectors have rows == 1).
 *
 * @param slice its bytes on the device
 * @param dtype F32, F16 or BF16, as stored in the checkpoint
 */
public record WeightTensor(String name, DeviceSlice slice, DType dtype, long rows, long cols) {
    public long bytes() {
        return rows * cols * dtype.byteSize();
    }
}
