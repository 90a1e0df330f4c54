package dev.lookahead.bindings;

import dev.lookahead.bindings.ffi.LkStructs;
import dev.lookahead.bindings.ffi.NativeLibrary;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * An opened backend device ({@code lk_device}) and everything allocated on it.
 *
 * <p>The device owns the buffers, pinned buffers, streams and events it creates; each can be
 * closed on its own, and {@link #close()} closes those still open (streams first, which waits for
 * their work), then the device. Thread-safe.
 */
public final class Device implements AutoCloseable {
    private final Backend backend;
    private final boolean ownsBackend;
    private final NativeLibrary lib;
    private final BackendName name;
    private final DeviceOptions options;
    private final MemorySegment handle;
    private final Set<Object> resources = new LinkedHashSet<>();
    // profiler range names as C strings, made once per distinct name (a decode loop reuses a few)
    private final Arena rangeNames = Arena.ofShared();
    private final java.util.Map<String, MemorySegment> rangeNameSegments = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile boolean closed;

    private Device(Backend backend, boolean ownsBackend, BackendName name, DeviceOptions options,
                   MemorySegment handle) {
        this.backend = backend;
        this.ownsBackend = ownsBackend;
        this.lib = backend.library();
        this.name = name;
        this.options = options;
        this.handle = handle;
    }

    /**
     * Loads liblookahead.so (see {@link NativeLibrary#load()}) and opens a device of backend
     * {@code name}; the library is unloaded again when this device is closed. To open several
     * devices of one library, use {@link Backend#open(BackendName, DeviceOptions)}.
     */
    public static Device open(BackendName name, DeviceOptions options) {
        Objects.requireNonNull(name, "backend name");
        Objects.requireNonNull(options, "options (use DeviceOptions.DEFAULTS)");
        Backend backend = Backend.load();
        try {
            return openOn(backend, name, options, true);
        } catch (RuntimeException | Error e) {
            backend.close();
            throw e;
        }
    }

    /** {@link #open(BackendName, DeviceOptions)} with the backend given by its name ("cpu", "cuda"). */
    public static Device open(String name, DeviceOptions options) {
        return open(BackendName.of(name), options);
    }

    static Device openOn(Backend backend, BackendName name, DeviceOptions options, boolean ownsBackend) {
        Objects.requireNonNull(name, "backend name");
        Objects.requireNonNull(options, "options (use DeviceOptions.DEFAULTS)");
        NativeLibrary lib = backend.library();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment opts = arena.allocate(LkStructs.DEVICE_OPTIONS);
            LkStructs.DEVICE_OPTIONS_STRUCT_SIZE.set(opts, 0L, LkStructs.DEVICE_OPTIONS.byteSize());
            LkStructs.DEVICE_OPTIONS_ORDINAL.set(opts, 0L, options.ordinal());
            LkStructs.DEVICE_OPTIONS_THREADS.set(opts, 0L, options.threads());
            LkStructs.DEVICE_OPTIONS_MEMORY_LIMIT.set(opts, 0L, options.memoryLimit());
            LkStructs.DEVICE_OPTIONS_LINK_BYTES_PER_S.set(opts, 0L, options.linkBytesPerSecond());
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int status = lib.device().lk_device_open(arena.allocateFrom(name.nativeName()), opts, out);
            if (status != 0) {
                throw LookaheadNativeException.of(lib, status, "lk_device_open");
            }
            return new Device(backend, ownsBackend, name, options, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** The backend this device was opened with. */
    public BackendName backendName() {
        return name;
    }

    /** The options it was opened with. */
    public DeviceOptions options() {
        return options;
    }

    /**
     * Opens a named profiler range on the calling thread (lk_range_push): NVTX on CUDA, so Nsight
     * Systems shows it; nothing on the CPU. Ranges nest and are closed by {@link #rangePop()} on the
     * same thread.
     *
     * @param name 1 .. 255 UTF-8 bytes
     */
    public void rangePush(String name) {
        requireOpen();
        Objects.requireNonNull(name, "rangePush: name");
        int bytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (bytes == 0 || bytes > 255 || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("rangePush: name must be 1 .. 255 UTF-8 bytes without NUL, got " + bytes
                    + " bytes");
        }
        MemorySegment c = rangeNameSegments.computeIfAbsent(name, n -> rangeNames.allocateFrom(n));
        check(lib.profiling().lk_range_push(handle, c), "lk_range_push");
    }

    /** Closes the calling thread's innermost profiler range (lk_range_pop). */
    public void rangePop() {
        requireOpen();
        check(lib.profiling().lk_range_pop(handle), "lk_range_pop");
    }

    /** lk_device_get_info(). */
    public DeviceInfo info() {
        requireOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = arena.allocate(LkStructs.DEVICE_INFO);
            LkStructs.DEVICE_INFO_STRUCT_SIZE.set(info, 0L, LkStructs.DEVICE_INFO.byteSize());
            check(lib.device().lk_device_get_info(handle, info), "lk_device_get_info");
            return new DeviceInfo(
                    fixedString(info, LkStructs.DEVICE_INFO_BACKEND_OFFSET, LkStructs.DEVICE_INFO_BACKEND_CHARS),
                    fixedString(info, LkStructs.DEVICE_INFO_NAME_OFFSET, LkStructs.DEVICE_INFO_NAME_CHARS),
                    (long) LkStructs.DEVICE_INFO_TOTAL_MEMORY.get(info, 0L),
                    (long) LkStructs.DEVICE_INFO_FREE_MEMORY.get(info, 0L),
                    (int) LkStructs.DEVICE_INFO_CC_MAJOR.get(info, 0L),
                    (int) LkStructs.DEVICE_INFO_CC_MINOR.get(info, 0L),
                    (int) LkStructs.DEVICE_INFO_ASYNC_COPY_ENGINES.get(info, 0L),
                    (int) LkStructs.DEVICE_INFO_MULTIPROCESSORS.get(info, 0L),
                    (double) LkStructs.DEVICE_INFO_LINK_BYTES_PER_S.get(info, 0L));
        }
    }

    /** Allocates {@code bytes} (&gt; 0) of device memory, at least 256-byte aligned, not initialized. */
    public DeviceBuffer allocate(long bytes) {
        requirePositive(bytes);
        synchronized (resources) {
            requireOpen();
            MemorySegment buffer = newHandle(bytes, true);
            DeviceBuffer result;
            try {
                result = new DeviceBuffer(this, buffer, bytes, pointer(buffer, true));
            } catch (RuntimeException e) {
                lib.memory().lk_buffer_free(buffer);
                throw e;
            }
            resources.add(result);
            return result;
        }
    }

    /** Allocates {@code bytes} (&gt; 0) of pinned host memory, at least 4096-byte aligned. */
    public PinnedBuffer allocatePinned(long bytes) {
        requirePositive(bytes);
        synchronized (resources) {
            requireOpen();
            MemorySegment buffer = newHandle(bytes, false);
            PinnedBuffer result;
            try {
                result = new PinnedBuffer(this, buffer, bytes, pointer(buffer, false));
            } catch (RuntimeException e) {
                lib.memory().lk_host_buffer_free(buffer);
                throw e;
            }
            resources.add(result);
            return result;
        }
    }

    /** Creates a stream (lk_stream_create). */
    public Stream createStream() {
        synchronized (resources) {
            requireOpen();
            MemorySegment stream = outHandle("lk_stream_create", true);
            Stream result = new Stream(this, stream);
            resources.add(result);
            return result;
        }
    }

    /** Creates an event (lk_event_create). */
    public Event createEvent() {
        synchronized (resources) {
            requireOpen();
            MemorySegment event = outHandle("lk_event_create", false);
            Event result = new Event(this, event);
            resources.add(result);
            return result;
        }
    }

    public boolean isOpen() {
        return !closed;
    }

    /**
     * Closes the streams (waiting for their work), events, buffers and pinned buffers still open,
     * then the device; with {@link #open(BackendName, DeviceOptions)} also unloads the library.
     * Idempotent. Throws the first failure after trying everything.
     */
    @Override
    public void close() {
        List<Object> open;
        synchronized (resources) {
            if (closed) {
                return;
            }
            closed = true;
            open = new ArrayList<>(resources);
            resources.clear();
        }
        RuntimeException failure = null;
        for (Class<?> kind : List.of(Stream.class, Event.class, DeviceBuffer.class, PinnedBuffer.class)) {
            for (Object r : open) {
                if (kind.isInstance(r)) {
                    failure = closeCollecting((AutoCloseable) r, failure);
                }
            }
        }
        int status = lib.device().lk_device_close(handle);
        if (status != 0) {
            failure = collect(failure, LookaheadNativeException.of(lib, status, "lk_device_close"));
        }
        rangeNames.close();
        if (ownsBackend) {
            backend.close();
        } else {
            backend.forget(this);
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "Device[" + name.nativeName() + (closed ? ", closed]" : "]");
    }

    // ---- package-private plumbing for the resources ---------------------------------------

    NativeLibrary lib() {
        return lib;
    }

    MemorySegment handle() {
        return handle;
    }

    void requireOpen() {
        if (closed) {
            throw new IllegalStateException("Device " + name.nativeName() + " is closed");
        }
    }

    void forget(Object resource) {
        synchronized (resources) {
            resources.remove(resource);
        }
    }

    void check(int status, String function) {
        if (status != 0) {
            throw LookaheadNativeException.of(lib, status, function);
        }
    }

    private MemorySegment newHandle(long bytes, boolean device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            if (device) {
                check(lib.memory().lk_buffer_alloc(handle, bytes, out), "lk_buffer_alloc");
            } else {
                check(lib.memory().lk_host_buffer_alloc(handle, bytes, out), "lk_host_buffer_alloc");
            }
            return out.get(ValueLayout.ADDRESS, 0);
        }
    }

    private long pointer(MemorySegment buffer, boolean device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            if (device) {
                check(lib.memory().lk_buffer_ptr(buffer, out), "lk_buffer_ptr");
            } else {
                check(lib.memory().lk_host_buffer_ptr(buffer, out), "lk_host_buffer_ptr");
            }
            return out.get(ValueLayout.ADDRESS, 0).address();
        }
    }

    private MemorySegment outHandle(String function, boolean stream) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int status = stream
                    ? lib.memory().lk_stream_create(handle, out)
                    : lib.memory().lk_event_create(handle, out);
            check(status, function);
            return out.get(ValueLayout.ADDRESS, 0);
        }
    }

    private static void requirePositive(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes must be > 0, got " + bytes);
        }
    }

    /** A char[n] field that the library NUL-terminates; stops at n bytes if it did not. */
    private static String fixedString(MemorySegment struct, long offset, int n) {
        byte[] bytes = struct.asSlice(offset, n).toArray(ValueLayout.JAVA_BYTE);
        int len = 0;
        while (len < n && bytes[len] != 0) {
            len++;
        }
        return new String(bytes, 0, len, StandardCharsets.UTF_8);
    }

    private static RuntimeException closeCollecting(AutoCloseable r, RuntimeException failure) {
        try {
            r.close();
            return failure;
        } catch (RuntimeException e) {
            return collect(failure, e);
        } catch (Exception e) {
            return collect(failure, new IllegalStateException(e));
        }
    }

    private static RuntimeException collect(RuntimeException first, RuntimeException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }
}
