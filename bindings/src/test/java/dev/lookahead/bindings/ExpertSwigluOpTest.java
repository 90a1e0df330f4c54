package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.lookahead.bindings.QuantMatmulOpTest.HostQMatrix;
import dev.lookahead.bindings.ffi.LkStatus;
import dev.lookahead.bindings.ffi.LkStructs;
import dev.lookahead.bindings.ffi.NativeLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * lk_expert_swiglu, one SwiGLU expert on one token. It is defined as qmatvec(gate), qmatvec(up),
 * swiglu, qmatvec(down), so it is compared with those four ops on the same stream; and with a
 * double-precision reference on the dequantized weights, where only fp32 accumulation and the fp32
 * intermediate remain (NMSE &lt; 1e-10, as for qmatvec alone). Shapes include hidden and inter that
 * are not multiples of 32, so the last quantization group of gate/up and of down is partial.
 */
class ExpertSwigluOpTest extends CpuDeviceTest {
    static final double TOL = QuantMatmulOpTest.TOL;

    /** A random expert: gate and up [inter, hidden] of {@code gateUp}, down [hidden, inter] of {@code downFormat}. */
    record HostExpert(HostQMatrix gate, HostQMatrix up, HostQMatrix down) {
        static HostExpert random(QuantFormat gateUp, QuantFormat downFormat, int hidden, int inter, long seed) {
            Random rnd = new Random(seed);
            return new HostExpert(QuantMatmulOpTest.randomQMatrix(gateUp, inter, hidden, rnd),
                    QuantMatmulOpTest.randomQMatrix(gateUp, inter, hidden, rnd),
                    QuantMatmulOpTest.randomQMatrix(downFormat, hidden, inter, rnd));
        }

        int hidden() {
            return gate.cols();
        }

        int inter() {
            return gate.rows();
        }

        /** down (silu(gate x) * (up x)) in double. */
        double[] reference(float[] x) {
            double[] g = QuantMatmulOpTest.matmul(gate.dequantize(), x, 1, inter(), hidden());
            double[] u = QuantMatmulOpTest.matmul(up.dequantize(), x, 1, inter(), hidden());
            double[] w = down.dequantize();
            double[] y = new double[hidden()];
            for (int r = 0; r < hidden(); r++) {
                for (int c = 0; c < inter(); c++) {
                    y[r] += w[r * inter() + c] * (g[c] / (1 + Math.exp(-g[c])) * u[c]);
                }
            }
            return y;
        }
    }

    /** The device result of expertSwiglu and, on the same stream, of the four ops it stands for. */
    record Results(float[] fused, float[] separate) {}

    Results runBoth(HostExpert e, float[] x) {
        int hidden = e.hidden();
        int inter = e.inter();
        QMatrix gate = e.gate().upload(run);
        QMatrix up = e.up().upload(run);
        QMatrix down = e.down().upload(run);
        DeviceSlice xs = run.upload(x);
        DeviceSlice y = run.output(hidden * 4L);
        run.stream.expertSwiglu(gate, up, down, xs, run.output(inter * 4L), run.output(inter * 4L), y);

        DeviceSlice hGate = run.output(inter * 4L);
        DeviceSlice hUp = run.output(inter * 4L);
        DeviceSlice ySeparate = run.output(hidden * 4L);
        run.stream.qmatvec(gate, xs, hGate);            // [inter]
        run.stream.qmatvec(up, xs, hUp);                // [inter]
        run.stream.swiglu(hGate, hUp, inter, hGate);    // silu(gate x) * (up x)
        run.stream.qmatvec(down, hGate, ySeparate);     // [hidden]
        return new Results(run.download(y, hidden), run.download(ySeparate, hidden));
    }

    @ParameterizedTest(name = "{0}-bit g{1} hidden={2} inter={3}")
    @CsvSource({
        "4, 32, 64, 96", "4, 64, 100, 70", "4, 128, 130, 200",
        "3, 32, 33, 45", "3, 64, 96, 130", "3, 128, 64, 257",
        "2, 32, 50, 31", "2, 64, 65, 128", "2, 128, 200, 100"
    })
    void matchesTheFourOpsAndTheDequantizedReference(int bits, int group, int hidden, int inter) {
        QuantFormat f = new QuantFormat(bits, group);
        HostExpert e = HostExpert.random(f, f, hidden, inter, bits * 1009L + hidden * 31L + inter);
        float[] x = Numerics.gaussian(new Random(hidden + inter), hidden, 1.0);
        Results r = runBoth(e, x);
        String what = "expertSwiglu " + f + " hidden=" + hidden + " inter=" + inter;
        Numerics.assertNmse(Numerics.toDouble(r.separate()), r.fused(), TOL, what + " vs the four ops");
        Numerics.assertNmse(e.reference(x), r.fused(), TOL, what + " vs double reference");
        // the CPU backend's one task runs each output row through lk_qmatvec's code: the same bits
        assertArrayEquals(r.separate(), r.fused(), what + " bit for bit");
    }

    @Test
    void downMayHaveAnotherFormat() {
        HostExpert e = HostExpert.random(new QuantFormat(4, 128), new QuantFormat(2, 32), 72, 150, 3);
        float[] x = Numerics.gaussian(new Random(4), 72, 1.0);
        Results r = runBoth(e, x);
        Numerics.assertNmse(Numerics.toDouble(r.separate()), r.fused(), TOL, "4-bit gate/up, 2-bit down vs four ops");
        Numerics.assertNmse(e.reference(x), r.fused(), TOL, "4-bit gate/up, 2-bit down vs double reference");
    }

    /** A 4-bit g32 expert [hidden 40, inter 24] on the device, and an up matrix of another width (3 bits). */
    record BadArgsExpert(int hidden, int inter, QMatrix gate, QMatrix up, QMatrix down, QMatrix up3) {
        static BadArgsExpert upload(OpRunner run, long seed) {
            int hidden = 40;
            int inter = 24;
            QuantFormat q4 = new QuantFormat(4, 32);
            HostExpert e = HostExpert.random(q4, q4, hidden, inter, seed);
            return new BadArgsExpert(hidden, inter, e.gate().upload(run), e.up().upload(run), e.down().upload(run),
                    QuantMatmulOpTest.randomQMatrix(new QuantFormat(3, 32), inter, hidden, new Random(seed + 1)).upload(run));
        }
    }

    @Test
    void refusesInconsistentArguments() {
        BadArgsExpert b = BadArgsExpert.upload(run, 5);
        int hidden = b.hidden();
        int inter = b.inter();
        QuantFormat q4 = b.gate().format();
        QMatrix gate = b.gate();
        QMatrix up = b.up();
        QMatrix down = b.down();
        QMatrix up3 = b.up3();
        QMatrix upTall = QuantMatmulOpTest.randomQMatrix(q4, inter + 8, hidden, new Random(7)).upload(run);
        DeviceSlice x = run.output(hidden * 4L);
        DeviceSlice hGate = run.output(inter * 4L);
        DeviceSlice hUp = run.output(inter * 4L);
        DeviceSlice y = run.output(hidden * 4L);

        BadInputTest.assertMessage(IllegalArgumentException.class,
                "gate and up must have one format, got QuantFormat[bits=4, groupSize=32] and QuantFormat[bits=3",
                () -> run.stream.expertSwiglu(gate, up3, down, x, hGate, hUp, y));
        BadInputTest.assertMessage(IllegalArgumentException.class, "up is [32, 40] but gate is [24, 40]",
                () -> run.stream.expertSwiglu(gate, upTall, down, x, hGate, hUp, y));
        BadInputTest.assertMessage(IllegalArgumentException.class, "down is [24, 40] but must be [hidden, inter]",
                () -> run.stream.expertSwiglu(gate, up, gate, x, hGate, hUp, y));
        BadInputTest.assertMessage(IllegalArgumentException.class, "y holds 156 bytes, but the shape needs 160",
                () -> run.stream.expertSwiglu(gate, up, down, x, hGate, hUp, y.slice(0, 156)));
        BadInputTest.assertMessage(IllegalArgumentException.class, "hUp holds 92 bytes, but the shape needs 96",
                () -> run.stream.expertSwiglu(gate, up, down, x, hGate, hUp.slice(0, 92), y));
        BadInputTest.assertMessage(IllegalArgumentException.class, "y overlaps x",
                () -> run.stream.expertSwiglu(gate, up, down, x, hGate, hUp, x));
        BadInputTest.assertMessage(IllegalArgumentException.class, "hUp overlaps hGate",
                () -> run.stream.expertSwiglu(gate, up, down, x, hGate, hGate, y));
        BadInputTest.assertMessage(IllegalArgumentException.class, "y overlaps down.codes",
                () -> run.stream.expertSwiglu(gate, up, down, x, hGate, hUp, down.codes()));
        BadInputTest.assertMessage(NullPointerException.class, "expertSwiglu: up must not be null",
                () -> run.stream.expertSwiglu(gate, null, down, x, hGate, hUp, y));
        run.stream.synchronize(); // nothing was enqueued: the stream is clean
    }

    /** The same rules hold in the native dispatcher: a status and a message, not a crash. */
    @Test
    void nativeDispatcherRefusesInconsistentArguments() {
        BadArgsExpert b = BadArgsExpert.upload(run, 8);
        int hidden = b.hidden();
        int inter = b.inter();
        QMatrix gate = b.gate();
        QMatrix down = b.down();
        QMatrix up3 = b.up3();
        long x = address(run.output(hidden * 4L));
        long hGate = address(run.output(inter * 4L));
        long hUp = address(run.output(inter * 4L));
        long y = address(run.output(hidden * 4L));
        NativeLibrary lib = device.lib();
        MemorySegment stream = run.stream.handleFor(device, "test");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = struct(arena, gate);
            MemorySegment d = struct(arena, down);
            expectInvalid(lib, "gate and up of different bits",
                    lib.ops().lk_expert_swiglu(stream, g, struct(arena, up3), d, x, hGate, hUp, y));
            expectInvalid(lib, "down [inter, hidden]",
                    lib.ops().lk_expert_swiglu(stream, g, g, g, x, hGate, hUp, y));
            expectInvalid(lib, "NULL y", lib.ops().lk_expert_swiglu(stream, g, g, d, x, hGate, hUp, 0L));
            expectInvalid(lib, "NULL up",
                    lib.ops().lk_expert_swiglu(stream, g, MemorySegment.NULL, d, x, hGate, hUp, y));
        }
        run.stream.synchronize();
    }

    static void expectInvalid(NativeLibrary lib, String what, int status) {
        assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT, LkStatus.ofCode(status), what);
        assertFalse(lib.core().lastErrorMessage().isEmpty(), "a message for " + what);
    }

    static long address(DeviceSlice s) {
        return s.buffer().address("test", "slice") + s.offset();
    }

    /** An lk_qmatrix for {@code w}, filled as Stream fills its own. */
    static MemorySegment struct(Arena arena, QMatrix w) {
        MemorySegment a = arena.allocate(LkStructs.QMATRIX);
        LkStructs.QMATRIX_STRUCT_SIZE.set(a, 0L, LkStructs.QMATRIX.byteSize());
        LkStructs.QMATRIX_BITS.set(a, 0L, w.format().bits());
        LkStructs.QMATRIX_GROUP_SIZE.set(a, 0L, w.format().groupSize());
        LkStructs.QMATRIX_ROWS.set(a, 0L, w.rows());
        LkStructs.QMATRIX_COLS.set(a, 0L, w.cols());
        LkStructs.QMATRIX_CODES.set(a, 0L, address(w.codes()));
        LkStructs.QMATRIX_SCALES.set(a, 0L, address(w.scales()));
        LkStructs.QMATRIX_ZEROS.set(a, 0L, address(w.zeros()));
        return a;
    }
}
