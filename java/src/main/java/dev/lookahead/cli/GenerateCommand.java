package dev.lookahead.cli;

import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.GenerationResult;
import dev.lookahead.api.MoeModel;
import dev.lookahead.engine.ForcedRouting;
import dev.lookahead.engine.LiveHeadRecall;
import dev.lookahead.engine.OffloadedExperts;
import dev.lookahead.engine.RoutingTraceWriter;
import dev.lookahead.sched.TokenRecurrence;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generates text from a prompt, streaming the tokens.")
final class GenerateCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "Hugging Face checkpoint directory")
    Path model;

    static final class PromptSource {
        @Option(names = {"-p", "--prompt"}, description = "the prompt text")
        String text;

        @Option(names = "--prompt-file", description = "read the prompt from a UTF-8 file")
        Path file;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    PromptSource prompt;

    @Option(names = "--chat", description = "wrap the prompt in the model's chat template as one user turn")
    boolean chat;

    @Option(names = "--trace-routing", paramLabel = "FILE",
            description = "write the experts chosen for every generated token and layer as JSON lines (the shape of shared/traces)")
    Path traceRouting;

    @Option(names = "--routing-from", paramLabel = "TRACE", description = {"replay the routing of a recorded trace (JSONL, as"
            + " in shared/traces) for every generated token instead of the router's choice; the prompt keeps the"
            + " router's. The model needs the trace's layers and top-k"})
    Path routingFrom;

    @Option(names = "--routing-problem", paramLabel = "N", defaultValue = "0",
            description = "with --routing-from: the problem of the trace to replay (mod its problems) from its token 0,"
                    + " starting over when it is shorter than the generation (default: ${DEFAULT-VALUE})")
    int routingProblem;

    @Option(names = "--stats-json", paramLabel = "FILE",
            description = "write the run's statistics (speed, expert hit rate per layer, bytes copied, stalls) as JSON")
    Path statsJson;

    @Option(names = "--nvtx", description = "mark forward calls, layers and experts as NVTX ranges (for Nsight Systems on CUDA)")
    boolean nvtx;

    @Mixin
    SamplingFlags sampling;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() throws IOException {
        if (routingProblem < 0) throw new IllegalArgumentException("--routing-problem must be >= 0, got " + routingProblem);
        if (routingProblem > 0 && routingFrom == null) {
            throw new IllegalArgumentException("--routing-problem chooses a problem of the --routing-from trace; give the trace");
        }
        String text = prompt.text != null ? prompt.text : Files.readString(prompt.file, StandardCharsets.UTF_8);
        GenerationOptions options = sampling.toOptions(chat).withRoutingProblem(routingProblem); // checked before loading
        try (MoeModel m = ModelLoading.load(model, backend.toLoadOptions(model).withRoutingFrom(routingFrom), System.err);
             RoutingTraceWriter trace = traceRouting == null ? null : new RoutingTraceWriter(traceRouting, "generate")) {
            m.setProfilerRanges(nvtx);
            if (m.forcedRouting() != null) {
                ForcedRouting f = m.forcedRouting();
                int p = routingProblem % f.problems();
                System.err.printf(java.util.Locale.ROOT, "%s; this generation replays %s (%d tokens)%n", f.describe(),
                        f.problemNames().get(p), f.problemLength(p));
            }
            if (trace != null) {
                trace.startProblem(0, m.encodePrompt(text, chat).length);
                m.forwardPass().setRoutingListener(trace);
            }
            boolean[] echoed = {chat}; // the prompt is echoed with the first token, so that a rejected prompt prints nothing
            GenerationResult r = m.generate(text, options, token -> {
                if (!echoed[0]) System.out.print(text);
                echoed[0] = true;
                System.out.print(token.text());
                System.out.flush();
            });
            if (!echoed[0]) System.out.print(text); // nothing was generated (an end token came first)
            System.out.println();
            System.err.println("[" + r.stopReason().name().toLowerCase(java.util.Locale.ROOT) + "] " + r.timings());
            if (m.experts() instanceof OffloadedExperts off && off.headRecall() != null) {
                LiveHeadRecall recall = off.headRecall();
                StringBuilder line = new StringBuilder("lookahead heads, recall@" + m.config().numExpertsPerTok()
                        + " by distance in layers (" + m.config().numHiddenLayers() + ": the same layer of the next token):");
                for (int d : recall.distances()) line.append(String.format(java.util.Locale.ROOT, " %d: %.2f", d, recall.recall(d)));
                System.err.println(recall.distances().length == 0 ? line + " nothing decoded yet" : line.toString());
            }
            if (m.experts() instanceof OffloadedExperts off && off.tokenRecurrenceCounts() instanceof TokenRecurrence.Counts c) {
                System.err.println(c.tokens() == 0 ? "token recurrence: nothing decoded yet" : String.format(java.util.Locale.ROOT,
                        "token recurrence: predicted the next token's experts after %d of %d decode tokens; %s of those experts were chosen",
                        c.predictedTokens(), c.tokens(), c.predictedExperts() == 0 ? "none"
                                : String.format(java.util.Locale.ROOT, "%.2f", c.chosenExperts() / (double) c.predictedExperts())));
            }
            if (statsJson != null) StatsJson.write(statsJson, m, r);
        }
        return 0;
    }
}
