package dev.lookahead.bindings.ffi;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * One loaded liblookahead.so and the downcall handles of every function of lookahead.h.
 *
 * <p>Where the library is found, in order:
 * <ol>
 *   <li>the directory in system property {@value #DIR_PROPERTY}, if set;</li>
 *   <li>the classpath resource {@value #RESOURCE_DIR}{@value #LIBRARY_FILE}: used in place when it
 *       is a plain file (a Maven build's target/classes), or extracted together with
 *       {@value #CUDA_LIBRARY_FILE} (if present) into a private temporary directory when it sits in
 *       a jar, because the dispatcher dlopens the CUDA backend from its own directory.</li>
 * </ol>
 *
 * <p>The library is loaded with {@link SymbolLookup#libraryLookup(Path, Arena)} into an arena this
 * object owns; {@link #close()} unloads it (the system keeps it mapped while another instance
 * still holds it) and deletes an extraction directory. Close it only after every device opened
 * through it is closed. Thread-safe: the handles are immutable.
 */
public final class NativeLibrary implements AutoCloseable {
    public static final String DIR_PROPERTY = "lookahead.native.dir";
    public static final String RESOURCE_DIR = "native/linux-x86_64/";
    public static final String LIBRARY_FILE = "liblookahead.so";
    public static final String CUDA_LIBRARY_FILE = "liblookahead_cuda.so";
    /** LK_ABI_VERSION of the header these bindings were written against. */
    public static final int LK_ABI_VERSION = 1;

    private static final String BUILD_HINT =
            "Build the native libraries with `mvn -pl bindings package` (it runs CMake; they land in "
                    + "bindings/target/classes/" + RESOURCE_DIR + "), or set -D" + DIR_PROPERTY
                    + "=<directory holding " + LIBRARY_FILE + ">.";

    private final Path file;
    private final Path extractedDir; // null when loaded in place
    private final Arena arena;
    private final SymbolLookup symbols;
    private final Linker linker = Linker.nativeLinker();
    private final LkCore core;
    private final LkDevice device;
    private final LkMemory memory;
    private final LkOps ops;
    private final LkProfiling profiling;

    @SuppressWarnings("restricted") // loading native code is this class's purpose
    private NativeLibrary(Path file, Path extractedDir) {
        this.file = file;
        this.extractedDir = extractedDir;
        this.arena = Arena.ofShared();
        try {
            this.symbols = SymbolLookup.libraryLookup(file, arena);
            this.core = new LkCore(this);
            this.device = new LkDevice(this);
            this.memory = new LkMemory(this);
            this.ops = new LkOps(this);
            this.profiling = new LkProfiling(this);
        } catch (RuntimeException | Error e) {
            releaseQuietly();
            if (e instanceof NativeLibraryException) {
                throw e;
            }
            throw new NativeLibraryException("Cannot load " + file + ": " + e.getMessage() + ". " + BUILD_HINT, e);
        }
        int version = core.lk_abi_version();
        if (version != LK_ABI_VERSION) {
            releaseQuietly();
            throw new NativeLibraryException(file + " implements lookahead ABI version " + version
                    + ", but these bindings need version " + LK_ABI_VERSION
                    + ": rebuild the native library and the bindings from the same sources. " + BUILD_HINT);
        }
    }

    /** Finds and loads liblookahead.so as described in the class comment. */
    public static NativeLibrary load() {
        return load(NativeLibrary.class.getClassLoader());
    }

    /** Like {@link #load()}, looking for the classpath resource in {@code loader}. */
    public static NativeLibrary load(ClassLoader loader) {
        String dir = System.getProperty(DIR_PROPERTY);
        if (dir != null && !dir.isBlank()) {
            Path candidate = Path.of(dir).resolve(LIBRARY_FILE).toAbsolutePath();
            if (!Files.isRegularFile(candidate)) {
                throw new NativeLibraryException(LIBRARY_FILE + " not found: system property " + DIR_PROPERTY
                        + " = " + dir + ", but " + candidate + " does not exist. " + BUILD_HINT);
            }
            return new NativeLibrary(candidate, null);
        }
        URL resource = loader.getResource(RESOURCE_DIR + LIBRARY_FILE);
        if (resource == null) {
            String platform = System.getProperty("os.name") + "/" + System.getProperty("os.arch");
            throw new NativeLibraryException(LIBRARY_FILE + " not found. Searched: system property "
                    + DIR_PROPERTY + " (not set); classpath resource " + RESOURCE_DIR + LIBRARY_FILE
                    + " (absent; this JVM runs on " + platform + ", the bundled build is for Linux x86-64). "
                    + BUILD_HINT);
        }
        if ("file".equals(resource.getProtocol())) {
            try {
                return new NativeLibrary(Path.of(resource.toURI()), null);
            } catch (URISyntaxException e) {
                throw new NativeLibraryException("Unusable classpath URL " + resource, e);
            }
        }
        Path extracted = extract(loader);
        return new NativeLibrary(extracted.resolve(LIBRARY_FILE), extracted);
    }

    /** Loads the library file given (for tools and tests); it must be a liblookahead.so. */
    public static NativeLibrary load(Path libraryFile) {
        Path file = libraryFile.toAbsolutePath();
        if (!Files.isRegularFile(file)) {
            throw new NativeLibraryException(file + " does not exist. " + BUILD_HINT);
        }
        return new NativeLibrary(file, null);
    }

    /** Copies the bundled libraries out of the jar into a fresh directory only this user can read. */
    private static Path extract(ClassLoader loader) {
        Path dir;
        try {
            dir = Files.createTempDirectory("lookahead-native-");
        } catch (IOException e) {
            throw new NativeLibraryException("Cannot create a directory to extract " + LIBRARY_FILE + " into", e);
        }
        try {
            copyResource(loader, LIBRARY_FILE, dir, true);
            copyResource(loader, CUDA_LIBRARY_FILE, dir, false);
            return dir;
        } catch (IOException | UncheckedIOException e) {
            deleteDirectory(dir);
            throw new NativeLibraryException("Cannot extract " + LIBRARY_FILE + " from the jar into " + dir, e);
        }
    }

    private static void copyResource(ClassLoader loader, String name, Path dir, boolean required)
            throws IOException {
        try (InputStream in = loader.getResourceAsStream(RESOURCE_DIR + name)) {
            if (in == null) {
                if (required) {
                    throw new IOException("resource " + RESOURCE_DIR + name + " vanished");
                }
                return;
            }
            Files.copy(in, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteDirectory(Path dir) {
        for (String name : new String[] {LIBRARY_FILE, CUDA_LIBRARY_FILE}) {
            try {
                Files.deleteIfExists(dir.resolve(name));
            } catch (IOException ignored) {
                // best effort: a leftover file in the temp directory is harmless
            }
        }
        try {
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // best effort, as above
        }
    }

    /** The loaded file. */
    public Path file() {
        return file;
    }

    /** The directory the library was extracted into, or null when it was loaded in place. */
    public Path extractedDirectory() {
        return extractedDir;
    }

    public LkCore core() {
        return core;
    }

    public LkDevice device() {
        return device;
    }

    public LkMemory memory() {
        return memory;
    }

    public LkProfiling profiling() {
        return profiling;
    }

    public LkOps ops() {
        return ops;
    }

    /** Whether {@link #close()} has not been called yet. */
    public boolean isOpen() {
        return arena.scope().isAlive();
    }

    /** Unloads the library; every handle of this instance throws IllegalStateException afterwards. */
    @Override
    public void close() {
        if (isOpen()) {
            releaseQuietly();
        }
    }

    private void releaseQuietly() {
        try {
            arena.close();
        } catch (IllegalStateException ignored) {
            // already closed
        }
        if (extractedDir != null) {
            deleteDirectory(extractedDir);
        }
    }

    /** A downcall handle for {@code name}; {@code returnLayout} null means void. */
    @SuppressWarnings("restricted") // descriptors are written 1:1 from lookahead.h
    MethodHandle downcall(String name, MemoryLayout returnLayout, MemoryLayout... args) {
        MemorySegment symbol = symbols.find(name).orElseThrow(() -> new NativeLibraryException(
                "Symbol " + name + " not found in " + file + ": the library does not implement lookahead.h "
                        + "as these bindings expect. " + BUILD_HINT));
        FunctionDescriptor descriptor = returnLayout == null
                ? FunctionDescriptor.ofVoid(args)
                : FunctionDescriptor.of(returnLayout, args);
        return linker.downcallHandle(symbol, descriptor);
    }

    /** Rethrows what a downcall handle threw; downcalls throw no checked exceptions. */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("unexpected checked exception from a downcall", t);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "NativeLibrary[%s%s]", file, isOpen() ? "" : ", closed");
    }
}
