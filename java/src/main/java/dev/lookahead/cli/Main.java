package dev.lookahead.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code lookahead} command line. The only place that calls System.exit. */
@Command(name = "lookahead",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Runs Mixture-of-Experts language models larger than the GPU.",
        subcommands = {
                DemoCommand.class,
                GenerateCommand.class,
                InfoCommand.class,
                ScoreCommand.class,
                ReplayCommand.class,
                BenchCommand.class,
                ProfileCommand.class,
                CreateModelCommand.class,
                QuantizeCommand.class,
                AlignCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns its exit code (tests call this). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            // A user error or a native failure: one clear line, no stack trace (set LOOKAHEAD_DEBUG=1 for it).
            commandLine.getErr().println("lookahead " + commandLine.getCommandName() + ": " + describe(ex));
            if (System.getenv("LOOKAHEAD_DEBUG") != null) ex.printStackTrace(commandLine.getErr());
            return 1;
        });
        return cli.execute(args);
    }

    private static String describe(Throwable ex) {
        String message = ex.getMessage();
        return message == null || message.isBlank() ? ex.getClass().getSimpleName() : message;
    }
}
