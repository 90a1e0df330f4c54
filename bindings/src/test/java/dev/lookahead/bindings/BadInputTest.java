package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.bindings.ffi.LkCore;
import dev.lookahead.bindings.ffi.LkStatus;
import dev.lookahead.bindings.ffi.LkStructs;
import dev.lookahead.bindings.ffi.NativeLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Wrong arguments give an exception with a message naming the problem, and nothing reaches
 * native code; a few calls through the raw layer check that the native dispatcher also refuses
 * bad arguments with a status instead of crashing.
 */
class BadInputTest {
    Device device;
    Stream stream;
    DeviceBuffer buf;   // 64 KiB scratch
    DeviceSlice f32x16; // 16 floats

    @BeforeEach
    void open() {
        device = Device.open(BackendName.CPU, CpuDeviceTest.CPU_OPTIONS);
        stream = device.createStream();
        buf = device.allocate(64 << 10);
        f32x16 = buf.slice(0, 64);
    }

    @AfterEach
    void close() {
        device.close();
    }

    static <T extends Throwable> void assertMessage(Class<T> type, String fragment, Executable call) {
        T e = assertThrows(type, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(fragment),
                "message '" + e.getMessage() + "' should mention '" + fragment + "'");
    }

    DeviceSlice at(long offset, long bytes) {
        return buf.slice(offset, bytes);
    }

    @Test
    void nullArguments() {
        assertMessage(NullPointerException.class, "y must not be null",
                () -> stream.matmul(DType.F32, at(0, 64), at(64, 64), 1, 4, 4, null));
        assertMessage(NullPointerException.class, "wDtype", () -> stream.matmul(null, at(0, 64), at(64, 64), 1, 4, 4,
                at(128, 16)));
        assertMessage(NullPointerException.class, "src must not be null", () -> stream.copyToDevice(null, f32x16));
        assertMessage(NullPointerException.class, "w must not be null", () -> stream.qmatvec(null, at(0, 4), at(4, 4)));
        assertMessage(NullPointerException.class, "topkIdx must not be null",
                () -> stream.routerTopk(at(0, 32), 1, 8, 2, true, null, null, at(64, 8)));
        assertThrows(NullPointerException.class, () -> new DeviceSlice(null, 0, 0));
    }

    @Test
    void undersizedBuffers() {
        assertMessage(IllegalArgumentException.class, "y holds 64 bytes, but the shape needs 80",
                () -> stream.matmul(DType.F32, at(0, 4 * 20 * 4), at(1024, 16), 1, 20, 4, at(2048, 64)));
        assertMessage(IllegalArgumentException.class, "w holds",
                () -> stream.matmul(DType.F16, at(0, 10), at(1024, 16), 1, 2, 4, at(2048, 64)));
        assertMessage(IllegalArgumentException.class, "table holds",
                () -> stream.embedding(DType.BF16, at(0, 100), 10, 8, at(1024, 4), 1, at(2048, 32)));
        assertMessage(IllegalArgumentException.class, "kCache holds", () -> stream.attention(
                AttentionShape.of(2, 1, 8, 16, DType.F16, 0), at(0, 64), at(1024, 100), at(4096, 256),
                at(8192, 64), 1, 0));
        assertMessage(IllegalArgumentException.class, "topkWeight holds",
                () -> stream.routerTopk(at(0, 64), 2, 8, 2, true, null, at(1024, 16), at(2048, 12)));
        assertMessage(IllegalArgumentException.class, "QMatrix codes holds", () -> new QMatrix(
                new QuantFormat(4, 64), 4, 100, at(0, 100), at(1024, 16), at(2048, 16)));
        assertMessage(IllegalArgumentException.class, "src has 8 bytes but dst has 64", () -> {
            try (Arena arena = Arena.ofConfined()) {
                stream.copyToDevice(arena.allocate(8), f32x16);
            }
        });
        assertMessage(IndexOutOfBoundsException.class, "outside the buffer", () -> buf.slice(65_000, 1024));
        assertMessage(IndexOutOfBoundsException.class, "outside the buffer", () -> buf.slice(-1, 4));
        assertMessage(IndexOutOfBoundsException.class, "outside the slice", () -> f32x16.slice(60, 8));
    }

    @Test
    void wrongDtypes() {
        assertMessage(IllegalArgumentException.class, "wDtype must be F32, F16 or BF16, got I32",
                () -> stream.matmul(DType.I32, at(0, 64), at(64, 64), 1, 4, 4, at(128, 16)));
        assertMessage(IllegalArgumentException.class, "dstDtype must be F32, F16 or BF16",
                () -> stream.convert(DType.F32, at(0, 64), DType.I32, at(64, 64), 16));
        assertMessage(IllegalArgumentException.class, "kvDtype must be F32, F16 or BF16",
                () -> AttentionShape.of(2, 1, 8, 16, DType.I32, 0));
        assertMessage(IllegalArgumentException.class, "weightDtype",
                () -> stream.rmsnorm(at(0, 64), DType.I32, at(64, 64), 1, 16, 1e-5f, at(128, 64)));
    }

    @Test
    void misalignedSlices() {
        assertMessage(IllegalArgumentException.class, "not aligned to its 4-byte elements",
                () -> stream.add(at(2, 64), at(128, 64), 16));
        assertMessage(IllegalArgumentException.class, "not aligned to its 2-byte elements",
                () -> stream.convert(DType.F32, at(0, 64), DType.F16, at(129, 32), 16));
        assertMessage(IllegalArgumentException.class, "w.scales",
                () -> stream.qmatvec(new QMatrix(new QuantFormat(4, 8), 1, 8, at(0, 4), at(257, 2), at(512, 2)),
                        at(1024, 32), at(2048, 4)));
    }

    @Test
    void aliasingRules() {
        assertMessage(IllegalArgumentException.class, "dst partially overlaps src",
                () -> stream.convert(DType.F32, at(0, 64), DType.F32, at(4, 64), 16));
        assertMessage(IllegalArgumentException.class, "dst overlaps src",
                () -> stream.convert(DType.F32, at(0, 64), DType.F16, at(0, 32), 16));
        assertMessage(IllegalArgumentException.class, "out partially overlaps x",
                () -> stream.rmsnorm(at(0, 64), DType.F32, at(1024, 64), 1, 16, 1e-5f, at(32, 64)));
        assertMessage(IllegalArgumentException.class, "y overlaps x",
                () -> stream.matmul(DType.F32, at(1024, 64), at(0, 16), 1, 4, 4, at(8, 16)));
        assertMessage(IllegalArgumentException.class, "dst overlaps src",
                () -> stream.copy(at(0, 64), at(32, 64)));
    }

    @Test
    void headerRulesForShapesAndStructs() {
        assertMessage(IllegalArgumentException.class, "k must be in 1 .. nExperts=8",
                () -> stream.routerTopk(at(0, 64), 1, 8, 9, true, null, at(1024, 64), at(2048, 64)));
        assertMessage(IllegalArgumentException.class, "k must be in 1 .. nExperts",
                () -> stream.routerTopk(at(0, 64), 1, 8, 0, true, null, at(1024, 64), at(2048, 64)));
        assertMessage(IllegalArgumentException.class, "nExperts must be in 1 .. 256",
                () -> stream.routerTopk(at(0, 2048), 1, 257, 2, true, null, at(4096, 64), at(8192, 64)));
        assertMessage(IllegalArgumentException.class, "divide nHeads", () -> AttentionShape.of(6, 4, 8, 16, DType.F32, 0));
        assertMessage(IllegalArgumentException.class, "headDim must be in 1 .. 256",
                () -> AttentionShape.of(2, 1, 257, 16, DType.F32, 0));
        assertMessage(IllegalArgumentException.class, "headDim must be in 1 .. 256",
                () -> AttentionShape.of(2, 1, 0, 16, DType.F32, 0));
        assertMessage(IllegalArgumentException.class, "window must be >= 0",
                () -> AttentionShape.of(2, 1, 8, 16, DType.F32, -1));
        assertMessage(IllegalArgumentException.class, "do not fit the cache of ctxCapacity=16", () -> stream.attention(
                AttentionShape.of(2, 1, 8, 16, DType.F32, 0), at(0, 128), at(1024, 512), at(2048, 512),
                at(4096, 128), 2, 15));
        assertMessage(IllegalArgumentException.class, "headDim must be even",
                () -> stream.rope(at(0, 60), 1, 3, 5, 0, 10000f));
        assertMessage(IllegalArgumentException.class, "theta must be finite and > 0",
                () -> stream.rope(at(0, 64), 1, 2, 8, 0, 0f));
        assertMessage(IllegalArgumentException.class, "n must be > 0",
                () -> stream.swiglu(at(0, 64), at(64, 64), 0, at(128, 64)));
        assertMessage(IllegalArgumentException.class, "byteValue must be in 0 .. 255", () -> stream.memset(f32x16, 256));
        assertMessage(IllegalArgumentException.class, "not a whole number of 32-bit words",
                () -> stream.fill32(at(0, 6), 1));
        assertMessage(IllegalArgumentException.class, "is not aligned to its 4-byte elements",
                () -> stream.fill32(at(2, 8), 1));
        assertMessage(IllegalArgumentException.class, "bits must be 2, 3 or 4", () -> new QuantFormat(6, 64));
        assertMessage(IllegalArgumentException.class, "multiple of 8", () -> new QuantFormat(4, 100));
        assertMessage(IllegalArgumentException.class, "bytes must be > 0", () -> device.allocate(0));
        assertMessage(IllegalArgumentException.class, "bytes must be > 0", () -> device.allocatePinned(-5));
        assertMessage(IllegalArgumentException.class, "threads must be >= 0",
                () -> DeviceOptions.DEFAULTS.withThreads(-1));
        assertMessage(IllegalArgumentException.class, "Unknown backend 'tpu'",
                () -> Device.open("tpu", DeviceOptions.DEFAULTS));
        assertMessage(IllegalArgumentException.class, "shape too large",
                () -> stream.add(f32x16, f32x16, Long.MAX_VALUE / 2));
    }

    @Test
    void hostSegmentsForAsyncCopies() {
        assertMessage(IllegalArgumentException.class, "heap segment",
                () -> stream.copyToDevice(MemorySegment.ofArray(new float[16]), f32x16));
        assertMessage(IllegalArgumentException.class, "heap segment",
                () -> stream.copyToHost(f32x16, MemorySegment.ofArray(new byte[64])));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ro = arena.allocate(64).asReadOnly();
            assertMessage(IllegalArgumentException.class, "read-only", () -> stream.copyToHost(f32x16, ro));
        }
        Arena closed = Arena.ofConfined();
        MemorySegment dead = closed.allocate(64);
        closed.close();
        assertMessage(IllegalStateException.class, "closed", () -> stream.copyToDevice(dead, f32x16));
    }

    @Test
    void closedHandles() {
        DeviceBuffer other = device.allocate(64);
        DeviceSlice s = other.all();
        other.close();
        assertMessage(IllegalStateException.class, "x is a slice of a closed DeviceBuffer",
                () -> stream.add(f32x16, s, 16));
        Stream st = device.createStream();
        st.close();
        assertMessage(IllegalStateException.class, "add: the stream is closed", () -> st.add(f32x16, f32x16, 16));
        Event ev = device.createEvent();
        ev.close();
        assertMessage(IllegalStateException.class, "the event is closed", ev::query);
        assertMessage(IllegalStateException.class, "the event is closed", () -> stream.waitEvent(ev));
        PinnedBuffer p = device.allocatePinned(64);
        p.close();
        assertMessage(IllegalStateException.class, "closed", p::segment);
        device.close();
        assertMessage(IllegalStateException.class, "add: the stream is closed", () -> stream.add(f32x16, f32x16, 16));
        assertMessage(IllegalStateException.class, "Device cpu is closed", () -> device.info());
        assertMessage(IllegalStateException.class, "Device cpu is closed", () -> device.createStream());
    }

    @Test
    void handlesOfAnotherDevice() {
        try (Device other = Device.open(BackendName.CPU, CpuDeviceTest.CPU_OPTIONS)) {
            DeviceSlice foreign = other.allocate(64).all();
            assertMessage(IllegalArgumentException.class, "x is a slice of a buffer of another device",
                    () -> stream.add(f32x16, foreign, 16));
            assertMessage(IllegalArgumentException.class, "another device",
                    () -> stream.copy(foreign, at(1024, 64)));
            Event foreignEvent = other.createEvent();
            assertMessage(IllegalArgumentException.class, "another device", () -> stream.waitEvent(foreignEvent));
            Stream foreignStream = other.createStream();
            Event mine = device.createEvent();
            assertMessage(IllegalArgumentException.class, "another device", () -> mine.record(foreignStream));
            assertMessage(IllegalArgumentException.class, "another device", () -> mine.elapsedMillis(foreignEvent));
            QMatrix q = new QMatrix(new QuantFormat(4, 8), 1, 8, foreign.slice(0, 4), foreign.slice(8, 2),
                    foreign.slice(16, 2));
            assertMessage(IllegalArgumentException.class, "w.codes is a slice of a buffer of another device",
                    () -> stream.qmatvec(q, at(0, 32), at(64, 4)));
        }
    }

    @Test
    void routerHeadsRefusesBadArguments() {
        // x [16] f32 at 0, gain f16 at 64, router bf16 [8, 16] at 128, heads f32 [8, 16] at 512,
        // bias at 1024, xnOut at 2048, out at 4096
        DeviceSlice x = at(0, 64), gain = at(64, 32), router = at(128, 256), heads = at(512, 512);
        DeviceSlice bias = at(1024, 32), xn = at(2048, 64), out = at(4096, 64);
        assertMessage(IllegalArgumentException.class, "k must be in 1 .. nExperts=8, got 9",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.BF16, router, 8, 9, true, 1, heads, bias,
                        xn, out));
        assertMessage(IllegalArgumentException.class, "nHeads must be in 0 .. 1024, got -1",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.BF16, router, 8, 2, true, -1, heads, bias,
                        xn, out));
        assertMessage(IllegalArgumentException.class, "nExperts must be in 1 .. 256, got 257",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.BF16, router, 257, 2, true, 0, null, null,
                        xn, out));
        assertMessage(IllegalArgumentException.class, "eps must be finite",
                () -> stream.routerHeads(x, 16, Float.NaN, DType.F16, gain, DType.BF16, router, 8, 2, true, 0, null,
                        null, xn, out));
        assertMessage(NullPointerException.class, "heads must not be null",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.BF16, router, 8, 2, true, 1, null, bias,
                        xn, out));
        assertMessage(IllegalArgumentException.class, "gainDtype",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.I32, gain, DType.BF16, router, 8, 2, true, 0, null, null,
                        xn, out));
        assertMessage(IllegalArgumentException.class, "router holds 128 bytes",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.F32, at(128, 128), 8, 2, true, 0, null,
                        null, xn, out));
        assertMessage(IllegalArgumentException.class, "xnOut (at buffer offset 2050) is not aligned",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.BF16, router, 8, 2, true, 0, null, null,
                        at(2050, 64), out));
        assertMessage(IllegalArgumentException.class, "out overlaps heads",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.BF16, router, 8, 2, true, 1, heads, bias,
                        xn, at(520, 64)));
        assertMessage(IllegalArgumentException.class, "out overlaps xnOut",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.BF16, router, 8, 2, true, 1, heads, bias,
                        xn, at(2048 + 32, 64)));
        assertMessage(IllegalArgumentException.class, "out holds 16 bytes, but the shape needs 48",
                () -> stream.routerHeads(x, 16, 1e-5f, DType.F16, gain, DType.BF16, router, 8, 2, true, 1, heads, bias,
                        xn, at(4096, 16)));
        stream.synchronize(); // nothing was enqueued: the stream is clean
    }

    @Test
    void nativeDispatcherRefusesBadArgumentsToo() {
        NativeLibrary lib = device.lib();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int status = lib.device().lk_device_open(arena.allocateFrom("no-such-backend"), MemorySegment.NULL, out);
            assertTrue(status == LkStatus.LK_ERR_INVALID_ARGUMENT.code()
                            || status == LkStatus.LK_ERR_BACKEND_UNAVAILABLE.code(),
                    "unknown backend gives " + LkStatus.ofCode(status));
            assertTrue(lib.core().lastErrorMessage().contains("no-such-backend"), lib.core().lastErrorMessage());

            // a matmul whose output pointer is NULL
            int s = lib.ops().lk_matmul(streamHandle(), LkCore.LK_F32, buf.address("t", "w"),
                    buf.address("t", "x") + 1024, 1, 2, 2, 0L);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT.code(), s, "NULL y");
            assertTrue(!lib.core().lastErrorMessage().isEmpty(), "message for NULL y");

            // an argument struct with a struct_size from no version of the header
            MemorySegment args = arena.allocate(LkStructs.ROUTER_ARGS);
            LkStructs.ROUTER_ARGS_STRUCT_SIZE.set(args, 0L, 8L);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT.code(), lib.ops().lk_router_topk(streamHandle(), args),
                    "struct_size 8");

            // lk_router_heads: a struct_size from no version of the header, then a NULL out
            MemorySegment rh = arena.allocate(LkStructs.ROUTER_HEADS_ARGS);
            LkStructs.ROUTER_HEADS_ARGS_STRUCT_SIZE.set(rh, 0L, 16L);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT.code(), lib.ops().lk_router_heads(streamHandle(), rh),
                    "router_heads struct_size 16");
            long base = buf.address("t", "rh");
            LkStructs.ROUTER_HEADS_ARGS_STRUCT_SIZE.set(rh, 0L, LkStructs.ROUTER_HEADS_ARGS.byteSize());
            LkStructs.ROUTER_HEADS_ARGS_X.set(rh, 0L, base);
            LkStructs.ROUTER_HEADS_ARGS_HIDDEN.set(rh, 0L, 16L);
            LkStructs.ROUTER_HEADS_ARGS_GAIN_DTYPE.set(rh, 0L, LkCore.LK_F32);
            LkStructs.ROUTER_HEADS_ARGS_GAIN.set(rh, 0L, base + 64);
            LkStructs.ROUTER_HEADS_ARGS_ROUTER_DTYPE.set(rh, 0L, LkCore.LK_F32);
            LkStructs.ROUTER_HEADS_ARGS_N_EXPERTS.set(rh, 0L, 8);
            LkStructs.ROUTER_HEADS_ARGS_ROUTER.set(rh, 0L, base + 128);
            LkStructs.ROUTER_HEADS_ARGS_K.set(rh, 0L, 2);
            LkStructs.ROUTER_HEADS_ARGS_XN_OUT.set(rh, 0L, base + 2048);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT.code(), lib.ops().lk_router_heads(streamHandle(), rh),
                    "router_heads NULL out");
            assertTrue(lib.core().lastErrorMessage().contains("args->out is NULL"), lib.core().lastErrorMessage());

            // unsupported dtype value
            int c = lib.ops().lk_convert(streamHandle(), 42, buf.address("t", "src"), 0,
                    buf.address("t", "dst") + 1024, 4);
            assertTrue(c == LkStatus.LK_ERR_INVALID_ARGUMENT.code() || c == LkStatus.LK_ERR_UNSUPPORTED.code(),
                    "dtype 42 gives " + LkStatus.ofCode(c));
        }
    }

    private MemorySegment streamHandle() {
        return stream.handleFor(device, "test");
    }
}
