package dev.lookahead.cli;

import dev.lookahead.api.MoeModel;
import dev.lookahead.bindings.DeviceInfo;
import dev.lookahead.model.ModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Loads a model and prints its architecture, sizes and the backend that runs it.")
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
        }
        return 0;
    }
}
