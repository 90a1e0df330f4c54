package dev.lookahead.api;

import dev.lookahead.model.RandomCheckpoint;
import dev.lookahead.quant.CheckpointQuantizer;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.util.Progress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Compiles and runs the Java examples of README.md exactly as written, so they cannot rot. */
class MoeModelReadmeExampleTest {
    @TempDir
    Path tmp;

    @Test
    void theReadmeExampleCompilesAndGenerates() throws Exception {
        Path model = tmp.resolve("model");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(2), model);
        String out = compileAndRun("example", "Example", model);
        assertTrue(out.startsWith("running on "), out);
        assertTrue(Pattern.compile("(MAX_TOKENS|END_OF_SEQUENCE), prefill \\d+ tok").matcher(out).find(),
                "expected a stop reason and timings:\n" + out);
    }

    @Test
    void theOffloadingExampleRunsTheLookaheadPolicyOnAQuantizedModel() throws Exception {
        Path model = tmp.resolve("model");
        RandomCheckpoint.write(RandomCheckpoint.Spec.small(2), model);
        Path quantized = tmp.resolve("quantized");
        CheckpointQuantizer.quantize(model, quantized,
                new CheckpointQuantizer.Options(new QuantSpec(4, 64), new QuantSpec(4, 64), null), Progress.NONE);
        String out = compileAndRun("offload-example", "OffloadExample", quantized);
        assertTrue(out.startsWith("device: weights ") && out.contains("expert slots"), "placement report first:\n" + out);
        assertTrue(Pattern.compile("prefill \\d+ tok").matcher(out).find(), "expected timings:\n" + out);
        assertTrue(Pattern.compile("expert cache \\(lookahead, \\d+ slots/layer\\): \\d+ lookups, hit rate [01]\\.\\d{3}, .*"
                + "heads' recall@k [01]\\.\\d\\d at the next layer").matcher(out).find(), "expected the cache's statistics:\n" + out);
    }

    /** Compiles the java block between README.md's {@code <!-- marker:start -->} and end markers, runs its main on {@code model}. */
    private String compileAndRun(String marker, String className, Path model) throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"), StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("<!-- " + marker + ":start -->\\s*```java\\n(.*?)```\\s*<!-- " + marker + ":end -->",
                Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(), "README.md has no java block between the " + marker + " markers");
        Path src = tmp.resolve("src-" + marker + "/" + className + ".java");
        Files.createDirectories(src.getParent());
        Files.writeString(src, m.group(1));

        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        Path classes = Files.createDirectories(tmp.resolve("classes-" + marker));
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = javac.run(null, diagnostics, diagnostics, "-d", classes.toString(),
                "-cp", System.getProperty("java.class.path"), src.toString());
        assertEquals(0, rc, "the README example " + marker + " does not compile:\n" + diagnostics);

        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()}, getClass().getClassLoader())) {
            Method main = loader.loadClass(className).getMethod("main", String[].class);
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            main.invoke(null, (Object) new String[] {model.toString()});
        } finally {
            System.setOut(original);
        }
        return captured.toString(StandardCharsets.UTF_8);
    }
}
