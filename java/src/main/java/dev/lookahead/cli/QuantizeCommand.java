package dev.lookahead.cli;

import dev.lookahead.model.ArchitectureSpec.Role;
import dev.lookahead.quant.CheckpointQuantizer;
import dev.lookahead.quant.ExpertBlobLayout;
import dev.lookahead.quant.HqqOptions;
import dev.lookahead.quant.KindStats;
import dev.lookahead.quant.QuantSpec;
import dev.lookahead.quant.QuantizeReport;
import dev.lookahead.quant.TensorStats;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Quantizes a Hugging Face Mixtral checkpoint to 2/3/4 bits.",
                "Converts a checkpoint (F32/F16/BF16) into the lookahead-quant format (docs/quantized-format.md): "
                        + "one 2/3/4-bit blob per expert, 2/3/4-bit attention, F16 embeddings, norms, routers and lm_head.",
                "Streams: the source is never loaded whole."})
final class QuantizeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "SRC", description = "source checkpoint directory")
    Path source;

    @Parameters(index = "1", paramLabel = "DST", description = "output directory (new or empty)")
    Path destination;

    @Option(names = "--expert-bits", required = true, description = "bits per expert weight: 2, 3 or 4")
    int expertBits;

    @Option(names = "--expert-group", description = "weights per expert scale/zero group, a multiple of 8 in "
            + "[8, 1024] (default: 16 for 2-bit as Mixtral-offloading, else 64)")
    Integer expertGroup;

    @Option(names = "--attn-bits", defaultValue = "4", description = "bits per attention weight (default: ${DEFAULT-VALUE})")
    int attnBits;

    @Option(names = "--attn-group", defaultValue = "64", description = "attention group size (default: ${DEFAULT-VALUE})")
    int attnGroup;

    @Option(names = "--hqq", description = "refine zeros and scales per group (HQQ-style, ~100x slower than min/max)")
    boolean hqq;

    @Option(names = "--tensor-report", paramLabel = "CSV",
            description = "also write one line per tensor (name, role, weights, bits per weight, NMSE) to this file")
    Path tensorReport;

    /** Mixtral-offloading quantizes 2-bit experts with groups of 16; 64 suits 3 and 4 bits. */
    static int defaultExpertGroup(int bits) {
        return bits == 2 ? 16 : 64;
    }

    @Override
    public Integer call() throws IOException {
        QuantSpec experts = new QuantSpec(expertBits, expertGroup != null ? expertGroup : defaultExpertGroup(expertBits));
        QuantSpec attention = new QuantSpec(attnBits, attnGroup);
        var options = new CheckpointQuantizer.Options(experts, attention, hqq ? HqqOptions.DEFAULT : null);
        QuantizeReport report = CheckpointQuantizer.quantize(source, destination, options, ProgressBar.stderr());
        System.out.print(summary(report));
        if (tensorReport != null) {
            Files.writeString(tensorReport, csv(report), StandardCharsets.UTF_8);
        }
        return 0;
    }

    /** The per-tensor report: a header line, then one line per source tensor. */
    static String csv(QuantizeReport r) {
        StringBuilder sb = new StringBuilder("tensor,role,weights,bits_per_weight,nmse\n");
        for (TensorStats t : r.tensors()) {
            sb.append(String.format(Locale.ROOT, "%s,%s,%d,%.4f,%.6e%n", t.name(), t.role(), t.weights(),
                    t.bitsPerWeight(), t.nmse()));
        }
        return sb.toString();
    }

    /** The human-readable summary printed after a conversion. */
    static String summary(QuantizeReport r) {
        StringBuilder sb = new StringBuilder();
        var meta = r.metadata();
        sb.append(String.format(Locale.ROOT, "quantized %s -> %s in %.1f s%n", r.source(), r.destination(), r.seconds()));
        sb.append(String.format(Locale.ROOT, "experts %s, attention %s, hqq %s%n", meta.experts(), meta.attention(),
                meta.hqq() ? meta.hqqParams() : "off"));
        sb.append(String.format(Locale.ROOT, "%-20s %8s %14s %9s %11s %11s%n", "tensor kind", "tensors", "weights",
                "bits/w", "NMSE mean", "NMSE max"));
        for (KindStats s : r.stats().values()) {
            sb.append(String.format(Locale.ROOT, "%-20s %8d %,14d %9.3f %11.3e %11.3e%n", kind(s.role()), s.tensors(),
                    s.weights(), s.bitsPerWeight(), s.meanNmse(), s.maxNmse()));
        }
        sb.append(String.format(Locale.ROOT, "size: %s of source tensors -> %s (%.2fx smaller)%n",
                ModelLoading.mib(r.sourceBytes()), ModelLoading.mib(r.outputBytes()),
                r.sourceBytes() / (double) Math.max(1, r.outputBytes())));
        ExpertBlobLayout l = r.layout();
        sb.append(String.format(Locale.ROOT, "expert blob: %,d bytes (%s; %d of alignment padding), %d blobs%n",
                l.blobBytes(), ModelLoading.mib(l.blobBytes()), l.blobBytes() - l.payloadBytes(), r.blobs()));
        if (!r.ignored().isEmpty()) {
            sb.append("ignored source tensors (not part of the architecture): ").append(r.ignored()).append('\n');
        }
        sb.append("copied: ").append(String.join(", ", r.copiedFiles())).append('\n');
        return sb.toString();
    }

    private static String kind(Role role) {
        return switch (role) {
            case TOKEN_EMBEDDING -> "embedding (f16)";
            case ATTN_NORM -> "attn norm (f16)";
            case FFN_NORM -> "ffn norm (f16)";
            case FINAL_NORM -> "final norm (f16)";
            case ROUTER -> "router (f16)";
            case LM_HEAD -> "lm_head (f16)";
            case ATTN_Q -> "attn q";
            case ATTN_K -> "attn k";
            case ATTN_V -> "attn v";
            case ATTN_O -> "attn o";
            case EXPERT_GATE -> "expert gate w1";
            case EXPERT_UP -> "expert up w3";
            case EXPERT_DOWN -> "expert down w2";
        };
    }
}
