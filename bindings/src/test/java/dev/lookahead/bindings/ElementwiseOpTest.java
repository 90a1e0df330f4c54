package dev.lookahead.bindings;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** lk_swiglu and lk_add against double loops; one fp32 rounding per element, so NMSE &lt; 1e-10. */
class ElementwiseOpTest extends CpuDeviceTest {
    static final double TOL = 1e-10;

    static double[] swiglu(float[] gate, float[] up) {
        double[] out = new double[gate.length];
        for (int i = 0; i < gate.length; i++) {
            double g = gate[i];
            out[i] = g / (1 + Math.exp(-g)) * up[i];
        }
        return out;
    }

    static double[] add(float[] y, float[] x) {
        double[] out = new double[y.length];
        for (int i = 0; i < y.length; i++) {
            out[i] = (double) y[i] + x[i];
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 7, 1001, 14336})
    void swigluSeparateOutput(int n) {
        Random rnd = new Random(n);
        float[] gate = Numerics.gaussian(rnd, n, 3.0);
        float[] up = Numerics.gaussian(rnd, n, 1.0);
        DeviceSlice out = run.output(n * 4L);
        run.stream.swiglu(run.upload(gate), run.upload(up), n, out);
        Numerics.assertNmse(swiglu(gate, up), run.download(out, n), TOL, "swiglu n=" + n);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void swigluInPlace(boolean intoGate) {
        int n = 333;
        Random rnd = new Random(intoGate ? 1 : 2);
        float[] gate = Numerics.gaussian(rnd, n, 3.0);
        float[] up = Numerics.gaussian(rnd, n, 1.0);
        DeviceSlice g = run.upload(gate);
        DeviceSlice u = run.upload(up);
        DeviceSlice out = intoGate ? g : u;
        run.stream.swiglu(g, u, n, out);
        Numerics.assertNmse(swiglu(gate, up), run.download(out, n), TOL, "swiglu in place, out = "
                + (intoGate ? "gate" : "up"));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 4096, 4099})
    void residualAdd(int n) {
        Random rnd = new Random(n * 3L);
        float[] y = Numerics.gaussian(rnd, n, 1.0);
        float[] x = Numerics.gaussian(rnd, n, 1.0);
        DeviceSlice ys = run.upload(y);
        run.stream.add(ys, run.upload(x), n);
        Numerics.assertNmse(add(y, x), run.download(ys, n), TOL, "add n=" + n);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 1000})
    void addToItself(int n) {
        float[] y = Numerics.gaussian(new Random(n), n, 1.0);
        DeviceSlice ys = run.upload(y);
        run.stream.add(ys, ys, n);
        Numerics.assertNmse(add(y, y), run.download(ys, n), 0.0, "y += y is exact doubling");
    }
}
