package dev.lookahead.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Runs the CLI in process with stdout and stderr captured (for tests of every package). */
public final class CliRunner {
    public record Run(int code, String out, String err) {}

    /** A test body that may throw. */
    @FunctionalInterface
    public interface Body {
        void run() throws Exception;
    }

    private CliRunner() {
    }

    public static Run run(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Run(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    /**
     * Runs {@code body} with the system property {@code lookahead.home} (under which quantized copies of models are
     * cached) set to {@code home}, and restores the previous value after it.
     */
    public static void withHome(Path home, Body body) throws Exception {
        String before = System.getProperty("lookahead.home");
        System.setProperty("lookahead.home", home.toString());
        try {
            body.run();
        } finally {
            if (before == null) System.clearProperty("lookahead.home");
            else System.setProperty("lookahead.home", before);
        }
    }
}
