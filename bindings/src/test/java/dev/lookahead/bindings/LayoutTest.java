package dev.lookahead.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.lookahead.bindings.ffi.LkStructs;
import java.io.IOException;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every struct layout of {@link LkStructs} against what the C compiler reports: the program at
 * system property {@code lookahead.layout.dump} (built by CMake from bindings/harness/layout_dump.c)
 * prints {@code size S n}, {@code align S n} and {@code offset S.f n} lines. Both directions are
 * checked, so a struct or field added to the header without a Java counterpart fails too.
 */
class LayoutTest {
    static final String PROPERTY = "lookahead.layout.dump";

    static final Map<String, Long> sizes = new HashMap<>();
    static final Map<String, Long> aligns = new HashMap<>();
    static final Map<String, Long> offsets = new HashMap<>();

    @BeforeAll
    static void runDump() throws IOException, InterruptedException {
        String program = System.getProperty(PROPERTY);
        assertNotNull(program, "system property " + PROPERTY + " is not set (Maven sets it to the CMake build's "
                + "lk_layout_dump; run `mvn -pl bindings verify`)");
        Path path = Path.of(program);
        assertTrue(Files.isExecutable(path), PROPERTY + " = " + program + " is not an executable file");
        Process p = new ProcessBuilder(path.toString()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "layout dump did not finish");
        assertEquals(0, p.exitValue(), "layout dump failed:\n" + output);
        for (String line : output.split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 1 && f[0].isEmpty()) {
                continue;
            }
            if (f.length != 3) {
                fail("unexpected layout dump line: '" + line + "'");
            }
            long value = Long.parseLong(f[2]);
            Map<String, Long> target = switch (f[0]) {
                case "size" -> sizes;
                case "align" -> aligns;
                case "offset" -> offsets;
                default -> throw new AssertionError("unexpected layout dump line: '" + line + "'");
            };
            assertEquals(null, target.put(f[1], value), "duplicate line for " + f[1]);
        }
        assertTrue(!sizes.isEmpty(), "layout dump printed no sizes:\n" + output);
    }

    @Test
    void everyJavaStructMatchesC() {
        for (StructLayout s : LkStructs.ALL) {
            String name = s.name().orElseThrow();
            assertTrue(sizes.containsKey(name), "the C dump has no size for " + name);
            assertEquals(sizes.get(name), s.byteSize(), "sizeof(" + name + ")");
            assertTrue(aligns.containsKey(name), "the C dump has no alignment for " + name);
            assertEquals(aligns.get(name), s.byteAlignment(), "alignof(" + name + ")");
            for (MemoryLayout field : s.memberLayouts()) {
                String key = name + "." + field.name().orElseThrow();
                assertTrue(offsets.containsKey(key), "the C dump has no offset for " + key);
                assertEquals(offsets.get(key), s.byteOffset(MemoryLayout.PathElement.groupElement(
                        field.name().orElseThrow())), "offsetof(" + key + ")");
            }
        }
    }

    @Test
    void everyCStructAndFieldHasAJavaLayout() {
        Set<String> javaStructs = new HashSet<>();
        Set<String> javaFields = new HashSet<>();
        for (StructLayout s : LkStructs.ALL) {
            String name = s.name().orElseThrow();
            javaStructs.add(name);
            for (MemoryLayout field : s.memberLayouts()) {
                javaFields.add(name + "." + field.name().orElseThrow());
            }
        }
        for (String c : sizes.keySet()) {
            assertTrue(javaStructs.contains(c), "struct " + c + " of the header has no layout in LkStructs");
        }
        for (String c : aligns.keySet()) {
            assertTrue(javaStructs.contains(c), "struct " + c + " of the header has no layout in LkStructs");
        }
        for (String c : offsets.keySet()) {
            assertTrue(javaFields.contains(c), "field " + c + " of the header is missing in LkStructs");
        }
    }
}
