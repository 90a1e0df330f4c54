package dev.lookahead.expert;

import dev.lookahead.bindings.DType;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.QMatrix;
import dev.lookahead.bindings.Stream;
import dev.lookahead.engine.Linear;

/**
 * One SwiGLU expert in device memory: out = down(silu(gate x) * up x).
 *
 * @param gate [intermediate, hidden] (HF w1)
 * @param up   [intermediate, hidden] (HF w3)
 * @param down [hidden, intermediate] (HF w2)
 */
public record Expert(Linear gate, Linear up, Linear down) {
    /**
     * Enqueues the expert on m rows. One row (decode) of a quantized expert whose gate and up share a
     * format runs as the single op {@link Stream#expertSwiglu}, which CUDA fuses into two launches
     * instead of four; anything else runs as gate, up, SwiGLU and down.
     *
     * @param x   f32 [m, hidden]
     * @param h1  f32 scratch, at least [m, intermediate]
     * @param h3  f32 scratch, at least [m, intermediate]
     * @param out f32 [m, hidden]
     */
    public void forward(Stream stream, DeviceSlice x, long m, DeviceSlice h1, DeviceSlice h3, DeviceSlice out) {
        long inter = gate.rows();
        DeviceSlice g = h1.slice(0, m * inter * DType.F32.byteSize());
        DeviceSlice u = h3.slice(0, m * inter * DType.F32.byteSize());
        if (m == 1 && gate instanceof Linear.Quantized(QMatrix qg) && up instanceof Linear.Quantized(QMatrix qu)
                && down instanceof Linear.Quantized(QMatrix qd) && qg.format().equals(qu.format())) {
            stream.expertSwiglu(qg, qu, qd, x, g, u, out); // [hidden]; g, u scratch [inter]
            return;
        }
        gate.apply(stream, x, m, g);      // [m, inter]
        up.apply(stream, x, m, u);        // [m, inter]
        stream.swiglu(g, u, m * inter, g); // silu(g) * u
        down.apply(stream, g, m, out);    // [m, hidden]
    }

    /** Bytes of weights one application reads. */
    public long weightBytes() {
        return gate.weightBytes() + up.weightBytes() + down.weightBytes();
    }
}
