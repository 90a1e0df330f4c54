package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lookahead.bindings.ffi.NativeLibrary;
import dev.lookahead.bindings.ffi.NativeLibraryException;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where liblookahead.so is found: the build's classes folder, a jar (extracted), a property, or nowhere. */
class NativeLibraryTest {

    static Path builtLibrary() throws Exception {
        URL url = NativeLibraryTest.class.getClassLoader()
                .getResource(NativeLibrary.RESOURCE_DIR + NativeLibrary.LIBRARY_FILE);
        assertNotNull(url, "the build puts liblookahead.so on the test classpath");
        return Path.of(url.toURI());
    }

    @Test
    void loadsInPlaceFromTheClassesFolder() throws Exception {
        try (NativeLibrary lib = NativeLibrary.load()) {
            assertEquals(builtLibrary(), lib.file());
            assertNull(lib.extractedDirectory());
            assertEquals(NativeLibrary.LK_ABI_VERSION, lib.core().lk_abi_version());
        }
    }

    @Test
    void extractsFromAJarWithTheCudaLibraryBesideIt(@TempDir Path tmp) throws Exception {
        Path built = builtLibrary();
        Path cuda = built.resolveSibling(NativeLibrary.CUDA_LIBRARY_FILE);
        Path jar = tmp.resolve("natives.jar");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
            add(out, NativeLibrary.LIBRARY_FILE, built);
            if (Files.exists(cuda)) {
                add(out, NativeLibrary.CUDA_LIBRARY_FILE, cuda);
            }
        }
        Path dir;
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()}, null)) {
            NativeLibrary lib = NativeLibrary.load(loader);
            dir = lib.extractedDirectory();
            assertNotNull(dir, "a jar resource is extracted");
            assertEquals(dir.resolve(NativeLibrary.LIBRARY_FILE), lib.file());
            assertTrue(Files.isRegularFile(lib.file()));
            assertEquals(Files.exists(cuda), Files.exists(dir.resolve(NativeLibrary.CUDA_LIBRARY_FILE)),
                    "the CUDA backend travels with the dispatcher");
            assertEquals(NativeLibrary.LK_ABI_VERSION, lib.core().lk_abi_version());
            assertEquals("LK_ERR_DEVICE", lib.core().statusName(7));
            lib.close();
            assertFalse(lib.isOpen());
            assertThrows(IllegalStateException.class, () -> lib.core().lk_abi_version(),
                    "calls into an unloaded library are refused");
        }
        assertFalse(Files.exists(dir), "the extraction directory is removed on close");
    }

    private static void add(JarOutputStream out, String name, Path file) throws IOException {
        out.putNextEntry(new JarEntry(NativeLibrary.RESOURCE_DIR + name));
        Files.copy(file, out);
        out.closeEntry();
    }

    @Test
    void missingLibraryNamesPlacesAndBuildCommand() throws Exception {
        String saved = System.clearProperty(NativeLibrary.DIR_PROPERTY);
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            NativeLibraryException e = assertThrows(NativeLibraryException.class, () -> NativeLibrary.load(empty));
            String m = e.getMessage();
            assertTrue(m.contains("liblookahead.so"), m);
            assertTrue(m.contains(NativeLibrary.DIR_PROPERTY), m);
            assertTrue(m.contains("native/linux-x86_64/liblookahead.so"), m);
            assertTrue(m.contains("mvn -pl bindings package"), m);
        } finally {
            if (saved != null) {
                System.setProperty(NativeLibrary.DIR_PROPERTY, saved);
            }
        }
    }

    @Test
    void directoryPropertyComesFirst(@TempDir Path emptyDir) throws Exception {
        String saved = System.getProperty(NativeLibrary.DIR_PROPERTY);
        try {
            System.setProperty(NativeLibrary.DIR_PROPERTY, emptyDir.toString());
            NativeLibraryException e = assertThrows(NativeLibraryException.class, NativeLibrary::load);
            assertTrue(e.getMessage().contains(emptyDir.toString()), e.getMessage());
            System.setProperty(NativeLibrary.DIR_PROPERTY, builtLibrary().getParent().toString());
            try (NativeLibrary lib = NativeLibrary.load()) {
                assertEquals(builtLibrary(), lib.file());
            }
        } finally {
            if (saved == null) {
                System.clearProperty(NativeLibrary.DIR_PROPERTY);
            } else {
                System.setProperty(NativeLibrary.DIR_PROPERTY, saved);
            }
        }
    }
}
