package dev.lookahead.cli;

import dev.lookahead.api.BackendChoice;
import dev.lookahead.api.LoadOptions;
import dev.lookahead.bindings.DType;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.gate.LookaheadHeads;
import picocli.CommandLine.Option;

/** Options shared by every command that loads a model. */
final class BackendOptions {
    @Option(names = "--backend", defaultValue = "auto",
            description = "auto (CUDA when usable, else CPU), cpu or cuda (default: ${DEFAULT-VALUE})")
    String backend;

    @Option(names = "--threads", defaultValue = "0", description = "CPU backend threads, 0 = all cores")
    int threads;

    @Option(names = "--context", defaultValue = "0",
            description = "context length in tokens, 0 = min(model maximum, " + LoadOptions.DEFAULT_CONTEXT + ")")
    int context;

    @Option(names = "--kv-cache", defaultValue = "f16", description = "KV cache type: f32, f16 or bf16 (default: ${DEFAULT-VALUE})")
    String kvCache;

    @Option(names = "--policy", defaultValue = "all-resident",
            description = "expert residency for quantized models: all-resident, mixtral-offloading, next-layer, lru-global,"
                    + " lookahead, lookahead-global"
                    + " (default: ${DEFAULT-VALUE})")
    String policy;

    @Option(names = "--gpu-memory", description = "device memory budget, e.g. 12GiB: with an offloading policy, what the"
            + " other weights, KV cache and scratch leave becomes expert slots")
    String gpuMemory;

    @Option(names = {"-k", "--slots-per-layer"}, defaultValue = "0",
            description = "expert slots per layer for an offloading policy (0 = as many as --gpu-memory allows)")
    int slotsPerLayer;

    @Option(names = "--heads", paramLabel = "FILE",
            description = "trained lookahead heads (lookahead align) for the lookahead policies; default: MODEL's "
                    + LookaheadHeads.DEFAULT_FILE + " when it has one, else plug-and-play (each layer's router applied early)")
    java.nio.file.Path heads;

    @Option(names = "--link-gbps", defaultValue = "0",
            description = "emulate a host-to-device link of this many GB/s for expert copies (0 = off; on CUDA: the real link)")
    double linkGbps;

    @picocli.CommandLine.Mixin
    SpeculationOptions speculation = new SpeculationOptions();

    /** The options for loading {@code model}: a lookahead policy without --heads takes the model's own heads file. */
    LoadOptions toLoadOptions(java.nio.file.Path model) {
        LoadOptions o = toLoadOptions();
        return isLookahead(policy) ? o.withHeadsFile(headsFor(model)) : o;
    }

    /** The heads the lookahead policies run for {@code model}: --heads, else the model's own file; null: plug-and-play. */
    java.nio.file.Path headsFor(java.nio.file.Path model) {
        return heads != null ? heads : LookaheadHeads.defaultFile(model);
    }

    private static boolean isLookahead(String policy) {
        try {
            return ResidencyPolicies.byName(policy).scheduled();
        } catch (IllegalArgumentException unknown) {
            return false; // loading names the known policies
        }
    }

    LoadOptions toLoadOptions() {
        DType kv = switch (kvCache.toLowerCase(java.util.Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "f16" -> DType.F16;
            case "bf16" -> DType.BF16;
            default -> throw new IllegalArgumentException("--kv-cache must be f32, f16 or bf16, got " + kvCache);
        };
        if (linkGbps < 0 || !Double.isFinite(linkGbps)) {
            throw new IllegalArgumentException("--link-gbps must be >= 0 (0: no emulated link), got " + linkGbps);
        }
        return LoadOptions.defaults().withBackend(BackendChoice.parse(backend)).withThreads(threads)
                .withContextLength(context).withKvCacheType(kv).withPolicy(policy)
                .withDeviceMemory(gpuMemory == null ? 0 : ByteSize.parse(gpuMemory)).withSlotsPerLayer(slotsPerLayer)
                .withLinkBytesPerSecond(linkGbps * 1e9).withHeadsFile(heads).withScheduler(speculation.toTuning());
    }
}
