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
            int s = lib.ops().lk_matmul(streamHandle(), LkCore.LK_F32, MemorySegment.ofAddress(buf.address("t", "w")),
                    MemorySegment.ofAddress(buf.address("t", "x")), 1, 2, 2, MemorySegment.NULL);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT.code(), s, "NULL y");
            assertTrue(!lib.core().lastErrorMessage().isEmpty(), "message for NULL y");

            // an argument struct with a struct_size from no version of the header
            MemorySegment args = arena.allocate(LkStructs.ROUTER_ARGS);
            LkStructs.ROUTER_ARGS_STRUCT_SIZE.set(args, 0L, 8L);
            assertEquals(LkStatus.LK_ERR_INVALID_ARGUMENT.code(), lib.ops().lk_router_topk(streamHandle(), args),
                    "struct_size 8");

            // unsupported dtype value
            int c = lib.ops().lk_convert(streamHandle(), 42, MemorySegment.ofAddress(buf.address("t", "src")), 0,
                    MemorySegment.ofAddress(buf.address("t", "dst") + 1024), 4);
            assertTrue(c == LkStatus.LK_ERR_INVALID_ARGUMENT.code() || c == LkStatus.LK_ERR_UNSUPPORTED.code(),
                    "dtype 42 gives " + LkStatus.ofCode(c));
        }
    }

    private MemorySegment streamHandle() {
        return stream.handleFor(device, "test");
    }
}
