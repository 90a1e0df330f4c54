package dev.lookahead.expert;

import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.Stream;
import dev.lookahead.engine.WeightTensor;

/**
 * One SwiGLU expert with dense weights on the device: out = down(silu(gate x) * up x).
 *
 * @param gate [intermediate, hidden] (HF w1)
 * @param up   [intermediate, hidden] (HF w3)
 * @param down [hidden, intermediate] (HF w2)
 */
public record DenseExpert(WeightTensor gate, WeightTensor up, WeightTensor down) {
    /**
     * Runs the expert on m rows.
     *
     * @param x     f32 [m, hidden]
     * @param h1    f32 scratch, at least [m, intermediate]
     * @param h3    f32 scratch, at least [m, intermediate]
     * @param out   f32 [m, hidden]
     */
    public void forward(Stream stream, DeviceSlice x, long m, DeviceSlice h1, DeviceSlice h3, DeviceSlice out) {
        long inter = gate.rows();
        long hidden = gate.cols();
        DeviceSlice g = h1.slice(0, m * inter * DType.F32.byteSize());
        DeviceSlice u = h3.slice(0, m * inter * DType.F32.byteSize());
        stream.matmul(gate.dtype(), gate.slice(), x, m, inter, hidden, g);   // [m, inter]
        stream.matmul(up.dtype(), up.slice(), x, m, inter, hidden, u);       // [m, inter]
        stream.swiglu(g, u, m * inter, g);                                   // silu(g) * u
        stream.matmul(down.dtype(), down.slice(), g, m, hidden, inter, out); // [m, hidden]
    }
}
