package dev.lookahead.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DeviceInfo;
import dev.lookahead.gate.HeadLayout;
import dev.lookahead.gate.LookaheadHeads;
import dev.lookahead.model.ModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Prints a model's shape, backend, quantization and heads.",
                "Loads the model and says which backend runs it, whether its experts are quantized (offloadable) and "
                        + "which lookahead heads it has, with their held-out recall."})
final class InfoCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "Hugging Face checkpoint directory")
    Path model;

    @Mixin
    BackendOptions backend;

    @Override
    public Integer call() {
        try (MoeModel m = ModelLoading.load(model, backend.toLoadOptions(model), System.err)) {
            ModelConfig c = m.config();
            DeviceInfo d = m.deviceInfo();
            var out = System.out;
            out.println("model:        " + m.directory().toAbsolutePath().normalize());
            out.println("architecture: " + String.join(",", c.architectures()));
            out.printf(Locale.ROOT, "layers %d, hidden %d, intermediate %d, heads %d (kv %d, head_dim %d)%n",
                    c.numHiddenLayers(), c.hiddenSize(), c.intermediateSize(), c.numAttentionHeads(),
                    c.numKeyValueHeads(), c.headDim());
            out.printf(Locale.ROOT, "experts %d, top-%d per token; vocab %d; rope theta %.0f; sliding window %s%n",
                    c.numLocalExperts(), c.numExpertsPerTok(), c.vocabSize(), c.ropeTheta(),
                    c.slidingWindow() == null ? "none" : c.slidingWindow().toString());
            out.println("tokenizer:    " + m.tokenizer().vocabSize() + " tokens");
            out.printf(Locale.ROOT, "context:      %d tokens (model maximum %d)%n", m.contextLength(), c.maxPositionEmbeddings());
            out.println("weights:      " + ModelLoading.mib(m.weightBytes()) + " on the device");
            out.println("kv cache:     " + ModelLoading.mib(m.kvCacheBytes()));
            out.printf(Locale.ROOT, "device:       %s %s, %s total, %s free, compute capability %d.%d, %d copy engine(s)%n",
                    d.backend(), d.name(), ModelLoading.mib(d.totalMemory()), ModelLoading.mib(d.freeMemory()),
                    d.ccMajor(), d.ccMinor(), d.asyncCopyEngines());
            out.println("experts:      " + (m.expertFormat() != null ? m.expertFormat() + " quantized: can be offloaded"
                    + " (--policy lookahead --gpu-memory SIZE)" : "not quantized: `lookahead quantize` makes an offloadable copy"));
            Path heads = backend.headsFor(model);
            out.println("lookahead:    " + (heads == null ? "no heads file: the lookahead policies run plug-and-play heads"
                    + " (`lookahead align` trains some)" : heads + ": " + describeHeads(heads)));
        }
        return 0;
    }

    /** The heads in {@code file}: how many and how far, and what their alignment measured on held-out text. */
    static String describeHeads(Path file) {
        LookaheadHeads h;
        try {
            h = LookaheadHeads.read(file);
        } catch (RuntimeException e) {
            return "unreadable (" + e.getMessage() + ")";
        }
        HeadLayout l = h.layout();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%d heads (distances 1..%d, %d more from the first"
                + " layers, next token: %s)", h.heads().size(), l.distance(), l.longRange(),
                l.nextToken().name().toLowerCase(Locale.ROOT).replace('_', ' ')));
        if (h.trainingSummary().isEmpty()) return sb.append(", not aligned").toString();
        try {
            JsonNode byDistance = JsonMapper.builder().build().readTree(h.trainingSummary()).path("by_distance");
            String sep = "; aligned, held-out recall@k (plug-and-play's): ";
            for (JsonNode d : byDistance) {
                boolean next = d.path("next_token").asBoolean();
                if (d.path("distance").asInt() != 1 && !next) continue;
                sb.append(String.format(Locale.ROOT, "%s%s %.2f (%.2f)", sep, next ? "next token" : "next layer",
                        d.path("after").path("recall_k").asDouble(), d.path("before").path("recall_k").asDouble()));
                sep = ", ";
                if (next) break;
            }
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            sb.append(", alignment summary unreadable");
        }
        return sb.toString();
    }
}
