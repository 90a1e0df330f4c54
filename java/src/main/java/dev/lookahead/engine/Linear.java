package dev.lookahead.engine;

import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.QMatrix;
import dev.lookahead.bindings.Stream;

/** A projection y[n, rows] = x[n, cols] @ W^T with W in device memory, dense or quantized. */
public sealed interface Linear permits Linear.Dense, Linear.Quantized {
    long rows();

    long cols();

    /** Bytes of W (codes, scales and zeros for a quantized W) that one application reads. */
    long weightBytes();

    /** Enqueues y = x W^T on the stream; x f32 [n, cols], y f32 [n, rows]. */
    void apply(Stream stream, DeviceSlice x, long n, DeviceSlice y);

    /** F32/F16/BF16 weights: the dense matmul. */
    record Dense(WeightTensor w) implements Linear {
        @Override public long rows() { return w.rows(); }
        @Override public long cols() { return w.cols(); }
        @Override public long weightBytes() { return w.bytes(); }

        @Override
        public void apply(Stream stream, DeviceSlice x, long n, DeviceSlice y) {
            stream.matmul(w.dtype(), w.slice(), x, n, w.rows(), w.cols(), y);
        }
    }

    /** 2/3/4-bit group-quantized weights: qmatvec for one row (decode), qmatmul for several (prefill). */
    record Quantized(QMatrix q) implements Linear {
        @Override public long rows() { return q.rows(); }
        @Override public long cols() { return q.cols(); }

        @Override
        public long weightBytes() {
            return q.codes().bytes() + q.scales().bytes() + q.zeros().bytes();
        }

        @Override
        public void apply(Stream stream, DeviceSlice x, long n, DeviceSlice y) {
            if (n == 1) stream.qmatvec(q, x, y);
            else stream.qmatmul(q, x, n, y);
        }
    }
}
