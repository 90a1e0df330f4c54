package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.bindings.ffi.LkStatus;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Copies, memset, streams, events, pinned memory, device info, throttling and out-of-memory on the CPU backend. */
class MemoryStreamEventTest {
    static final DeviceOptions OPTIONS = CpuDeviceTest.CPU_OPTIONS;

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void roundTripHostToDeviceToDeviceToHost() {
        try (Device d = Device.open(BackendName.CPU, OPTIONS); Stream s = d.createStream();
             Arena arena = Arena.ofConfined()) {
            byte[] data = randomBytes(10_007, 1);
            MemorySegment src = arena.allocateFrom(ValueLayout.JAVA_BYTE, data);
            MemorySegment back = arena.allocate(data.length);
            DeviceBuffer a = d.allocate(20_000);
            DeviceBuffer b = d.allocate(20_000);
            // odd offsets: copies are byte-granular
            s.copyToDevice(src, a.slice(3, data.length));
            s.copy(a.slice(3, data.length), b.slice(101, data.length));
            s.copyToHost(b.slice(101, data.length), back);
            s.synchronize();
            assertArrayEquals(data, back.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void pinnedBuffersRoundTripAndDieWithClose() {
        try (Device d = Device.open(BackendName.CPU, OPTIONS); Stream s = d.createStream()) {
            PinnedBuffer up = d.allocatePinned(1 << 20);
            PinnedBuffer down = d.allocatePinned(1 << 20);
            assertEquals(0, up.segment().address() % 4096, "pinned memory is 4096-byte aligned");
            byte[] data = randomBytes(1 << 20, 2);
            MemorySegment.copy(data, 0, up.segment(), ValueLayout.JAVA_BYTE, 0, data.length);
            DeviceBuffer buf = d.allocate(1 << 20);
            s.copyToDevice(up.segment(), buf.all());
            s.copyToHost(buf.all(), down.segment());
            s.synchronize();
            assertArrayEquals(data, down.segment().toArray(ValueLayout.JAVA_BYTE));
            up.close();
            assertFalse(up.isOpen());
            assertThrows(IllegalStateException.class, up::segment);
        }
    }

    /** fill32 sets exactly the slice's words (an int, a float's bits) and keeps the words around them. */
    @Test
    void fill32SetsExactlyTheSlicesWords() {
        try (Device d = Device.open(BackendName.CPU, OPTIONS); Stream s = d.createStream();
             Arena arena = Arena.ofConfined()) {
            DeviceBuffer buf = d.allocate(4 * 100);
            s.memset(buf.all(), 0x11);
            s.fill32(buf.slice(4 * 3, 4 * 50), Float.floatToRawIntBits(-0.25f));
            s.fill32(buf.slice(4 * 60, 4), 3071);
            MemorySegment host = arena.allocate(4 * 100);
            s.copyToHost(buf.all(), host);
            s.synchronize();
            for (int i = 0; i < 100; i++) {
                int want = i >= 3 && i < 53 ? Float.floatToRawIntBits(-0.25f) : i == 60 ? 3071 : 0x11111111;
                assertEquals(want, host.getAtIndex(ValueLayout.JAVA_INT, i), "word " + i);
            }
        }
    }

    @Test
    void memsetFillsExactlyTheSlice() {
        try (Device d = Device.open(BackendName.CPU, OPTIONS); Stream s = d.createStream();
             Arena arena = Arena.ofConfined()) {
            DeviceBuffer buf = d.allocate(1000);
            s.memset(buf.all(), 0x00);
            s.memset(buf.slice(17, 501), 0xAB);
            MemorySegment host = arena.allocate(1000);
            s.copyToHost(buf.all(), host);
            s.synchronize();
            byte[] got = host.toArray(ValueLayout.JAVA_BYTE);
            for (int i = 0; i < got.length; i++) {
                assertEquals(i >= 17 && i < 518 ? (byte) 0xAB : 0, got[i], "byte " + i);
            }
        }
    }

    @Test
    void deviceBuffersAre256ByteAligned() {
        try (Device d = Device.open(BackendName.CPU, OPTIONS)) {
            for (int bytes : new int[] {1, 3, 255, 257, 4097}) {
                assertEquals(0, d.allocate(bytes).address("test", "buffer") % 256, bytes + " bytes");
            }
        }
    }

    @Test
    void infoReportsOptions() {
        long limit = 64L << 20;
        try (Device d = Device.open(BackendName.CPU, OPTIONS.withMemoryLimit(limit).withLinkBytesPerSecond(5e8))) {
            DeviceInfo info = d.info();
            assertEquals("cpu", info.backend());
            assertFalse(info.name().isBlank(), "device name");
            assertEquals(limit, info.totalMemory());
            assertEquals(2, info.multiprocessors(), "compute threads");
            assertEquals(0, info.ccMajor());
            assertEquals(1, info.asyncCopyEngines());
            assertEquals(5e8, info.linkBytesPerSecond());
            long free = info.freeMemory();
            assertTrue(free <= limit && free > limit / 2, "free " + free);
            d.allocate(8L << 20);
            long after = d.info().freeMemory();
            assertTrue(after <= free - (8L << 20), "free memory drops by the allocation: " + free + " -> " + after);
        }
    }

    @Test
    void eventOrdersWorkAcrossTwoStreams() {
        // A throttled copy takes ~200 ms; stream b waits on it via an event, then copies the result on.
        int bytes = 20 << 20;
        try (Device d = Device.open(BackendName.CPU, OPTIONS.withLinkBytesPerSecond(100e6));
             Stream a = d.createStream(); Stream b = d.createStream();
             Event copied = d.createEvent(); Event done = d.createEvent()) {
            PinnedBuffer src = d.allocatePinned(bytes);
            PinnedBuffer dst = d.allocatePinned(bytes);
            byte[] data = randomBytes(bytes, 3);
            MemorySegment.copy(data, 0, src.segment(), ValueLayout.JAVA_BYTE, 0, bytes);
            DeviceBuffer x = d.allocate(bytes);
            DeviceBuffer y = d.allocate(bytes);
            a.copyToDevice(src.segment(), x.all());
            copied.record(a);
            assertFalse(copied.query(), "a 200 ms copy cannot be done right after it was enqueued");
            b.waitEvent(copied);
            b.copy(x.all(), y.all());
            done.record(b);
            done.synchronize();
            assertTrue(copied.query(), "b waited for a's copy");
            b.copyToHost(y.all(), dst.segment()); // a read-back: never throttled
            b.synchronize();
            assertArrayEquals(data, dst.segment().toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void unrecordedEventIsDoneAndElapsedTimeIsNonNegative() {
        try (Device d = Device.open(BackendName.CPU, OPTIONS); Stream s = d.createStream();
             Event start = d.createEvent(); Event end = d.createEvent()) {
            assertTrue(start.query(), "never recorded means done");
            start.record(s);
            DeviceBuffer buf = d.allocate(1 << 20);
            s.memset(buf.all(), 7);
            end.record(s);
            end.synchronize();
            float ms = start.elapsedMillis(end);
            assertTrue(ms >= 0 && Float.isFinite(ms), "elapsed " + ms);
        }
    }

    @Test
    void emulatedLinkThrottleIsVisible() {
        int bytes = 8 << 20;
        double rate = 100e6; // 8 MiB at 100 MB/s: at least ~84 ms
        double minMs = bytes / rate * 1000 * 0.9;
        try (Device slow = Device.open(BackendName.CPU, OPTIONS.withLinkBytesPerSecond(rate));
             Stream s = slow.createStream(); Event start = slow.createEvent(); Event end = slow.createEvent()) {
            PinnedBuffer host = slow.allocatePinned(bytes);
            DeviceBuffer buf = slow.allocate(bytes);
            long t0 = System.nanoTime();
            start.record(s);
            s.copyToDevice(host.segment(), buf.all());
            end.record(s);
            s.synchronize();
            double wallMs = (System.nanoTime() - t0) / 1e6;
            assertTrue(wallMs >= minMs, "throttled copy took " + wallMs + " ms, expected >= " + minMs);
            float eventMs = start.elapsedMillis(end);
            assertTrue(eventMs >= minMs, "events time the throttled copy at " + eventMs + " ms, expected >= " + minMs);
        }
    }

    @Test
    void outOfMemoryIsANativeExceptionWithAMessage() {
        try (Device d = Device.open(BackendName.CPU, OPTIONS.withMemoryLimit(8L << 20))) {
            LookaheadNativeException e = assertThrows(LookaheadNativeException.class, () -> d.allocate(16L << 20));
            assertEquals(LkStatus.LK_ERR_OUT_OF_MEMORY, e.status());
            assertEquals("lk_buffer_alloc", e.function());
            assertFalse(e.nativeMessage().isBlank(), "lk_last_error text");
            assertTrue(e.getMessage().contains("LK_ERR_OUT_OF_MEMORY"), e.getMessage());
            // the device stays usable
            assertEquals(1 << 20, d.allocate(1 << 20).size());
        }
    }

    @Test
    void deviceCloseClosesEverythingItOwns() {
        Device d = Device.open(BackendName.CPU, OPTIONS);
        DeviceBuffer buf = d.allocate(64);
        PinnedBuffer pinned = d.allocatePinned(64);
        Stream s = d.createStream();
        Event e = d.createEvent();
        s.memset(buf.all(), 1);
        d.close();
        assertFalse(d.isOpen());
        assertFalse(buf.isOpen());
        assertFalse(pinned.isOpen());
        assertFalse(s.isOpen());
        assertFalse(e.isOpen());
        IllegalStateException ex = assertThrows(IllegalStateException.class, s::synchronize);
        assertTrue(ex.getMessage().contains("closed"), ex.getMessage());
        assertThrows(IllegalStateException.class, () -> d.allocate(1));
        d.close(); // idempotent
        buf.close();
    }

    @Test
    void statusNamesMatchTheLibrary() {
        try (Backend backend = Backend.load()) {
            assertEquals(dev.lookahead.bindings.ffi.NativeLibrary.LK_ABI_VERSION, backend.abiVersion());
            for (LkStatus s : LkStatus.values()) {
                assertEquals(s.name(), backend.library().core().statusName(s.code()));
            }
        }
    }

    @Test
    void severalDevicesShareOneBackend() {
        Backend backend = Backend.load();
        Device a = backend.open(BackendName.CPU, OPTIONS);
        Device b = backend.open(BackendName.CPU, OPTIONS);
        a.allocate(100);
        b.close();
        assertTrue(a.isOpen());
        backend.close();
        assertFalse(a.isOpen(), "closing the backend closes its devices");
        assertFalse(backend.isOpen());
        assertThrows(IllegalStateException.class, () -> backend.open(BackendName.CPU, OPTIONS));
    }
}
