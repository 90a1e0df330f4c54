package dev.lookahead.jmh;

import dev.lookahead.bindings.ffi.NativeLibraryException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Entry point of benchmarks.jar: JMH's command line, plus backend detection. When CUDA is usable
 * and the command line does not set a backend-like parameter itself ({@code -p backend=..},
 * {@code -p target=..}, {@code -p engine=..}), the CUDA value is added to that parameter's
 * defaults; an explicit {@code -p backend=cuda} on a machine without CUDA is kept, and its trials
 * fail with a message that says CUDA is not usable. Exits with status 1 when JMH fails (with
 * {@code -foe true}: when any benchmark throws).
 */
public final class BenchMain {
    private BenchMain() {}

    public static void main(String[] args) throws Exception {
        CommandLineOptions cmd;
        try {
            cmd = new CommandLineOptions(args);
        } catch (CommandLineOptionException e) {
            System.err.println("Error parsing command line: " + e.getMessage());
            System.exit(1);
            return;
        }
        if (cmd.shouldHelp() || cmd.shouldList() || cmd.shouldListWithParams() || cmd.shouldListProfilers()
                || cmd.shouldListResultFormats()) {
            org.openjdk.jmh.Main.main(args); // nothing runs: no backend detection needed
            return;
        }
        StringBuilder why = new StringBuilder();
        boolean cuda;
        try {
            cuda = BenchSupport.cudaUsable(why);
        } catch (NativeLibraryException e) {
            System.err.println("ERROR: " + e.getMessage());
            System.exit(1);
            return;
        }
        System.out.println("# lookahead: CUDA " + (cuda ? "usable: CUDA trials added" : "not usable (" + why
                + "): CPU only"));
        ChainedOptionsBuilder options = new OptionsBuilder().parent(cmd);
        if (cuda) {
            for (Map.Entry<String, List<String>> p : cudaParameters().entrySet()) {
                if (cmd.getParameter(p.getKey()).hasValue()) {
                    continue; // the command line decides
                }
                options.param(p.getKey(), p.getValue().toArray(String[]::new));
            }
        }
        try {
            new Runner(options.build()).run();
        } catch (RunnerException e) {
            System.err.println("ERROR: " + e.getMessage());
            Throwable cause = e.getCause();
            if (cause != null) {
                System.err.println("  caused by: " + cause);
            }
            System.exit(1);
        }
    }

    /** Each backend-like parameter with its declared defaults plus the CUDA value. */
    static Map<String, List<String>> cudaParameters() throws NoSuchFieldException {
        Map<String, List<String>> out = new LinkedHashMap<>();
        out.put("backend", withValue(QuantMatmulBenchmark.Matrix.class, "backend", "cuda"));
        out.put("target", withValue(HostToDeviceCopyBenchmark.Buffers.class, "target", "cuda"));
        out.put("engine", withValue(DecodeBenchmark.Engine.class, "engine", "lookahead-cuda"));
        return out;
    }

    private static List<String> withValue(Class<?> state, String field, String extra) throws NoSuchFieldException {
        Collection<String> declared = Arrays.asList(state.getField(field).getAnnotation(Param.class).value());
        List<String> values = new ArrayList<>(declared);
        if (!values.contains(extra)) {
            values.add(extra);
        }
        return values;
    }
}
