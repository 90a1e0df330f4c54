package dev.lookahead.bindings;

import dev.lookahead.bindings.ffi.NativeLibrary;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A loaded liblookahead.so, from which devices of any backend are opened.
 *
 * <p>Owns its {@link NativeLibrary}. {@link #close()} closes the devices still open (which waits
 * for their streams) before it unloads the library, so no native thread runs in unloaded code.
 * Thread-safe.
 */
public final class Backend implements AutoCloseable {
    private final NativeLibrary library;
    private final Set<Device> devices = new LinkedHashSet<>();
    private boolean closed;

    private Backend(NativeLibrary library) {
        this.library = library;
    }

    /** Loads liblookahead.so from the places {@link NativeLibrary#load()} searches. */
    public static Backend load() {
        return new Backend(NativeLibrary.load());
    }

    /** Loads the given liblookahead.so file. */
    public static Backend load(Path libraryFile) {
        return new Backend(NativeLibrary.load(libraryFile));
    }

    /** Opens a device; it stays usable until it or this backend is closed. */
    public Device open(BackendName name, DeviceOptions options) {
        synchronized (devices) {
            requireOpen();
            Device device = Device.openOn(this, name, options, false);
            devices.add(device);
            return device;
        }
    }

    /** lk_abi_version() of the loaded library. */
    public int abiVersion() {
        synchronized (devices) {
            requireOpen();
            return library.core().lk_abi_version();
        }
    }

    /** The raw bindings (for tools and tests; prefer the methods of this package). */
    public NativeLibrary library() {
        return library;
    }

    public boolean isOpen() {
        synchronized (devices) {
            return !closed;
        }
    }

    void forget(Device device) {
        synchronized (devices) {
            devices.remove(device);
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("Backend " + library.file() + " is closed");
        }
    }

    /** Closes the devices still open, then unloads the library. Idempotent. */
    @Override
    public void close() {
        List<Device> open;
        synchronized (devices) {
            if (closed) {
                return;
            }
            closed = true;
            open = new ArrayList<>(devices);
        }
        RuntimeException failure = null;
        for (Device d : open) {
            try {
                d.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        library.close();
        if (failure != null) {
            throw failure;
        }
    }
}
