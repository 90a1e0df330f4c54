package dev.lookahead.quant;

import dev.lookahead.model.CheckpointException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code __metadata__} entries of a quantized checkpoint (docs/quantized-format.md). All
 * values are strings, as safetensors requires.
 *
 * @param hqqParams     {@link HqqOptions#describe()} when {@code hqq}, else ""
 * @param sourceModel   where the weights came from (the source's config name or directory name)
 * @param blobBytes     the stored expert blob size
 * @param blobLayout    the stored {@link ExpertBlobLayout#describe()}
 */
public record QuantMetadata(int version, QuantSpec experts, QuantSpec attention, boolean hqq, String hqqParams,
        String sourceModel, long blobBytes, String blobLayout) {

    public static final String FORMAT = "lookahead-quant";
    public static final int VERSION = 1;

    public static final String KEY_FORMAT = "lookahead.format";
    public static final String KEY_VERSION = "lookahead.format_version";
    public static final String KEY_EXPERT_BITS = "lookahead.expert_bits";
    public static final String KEY_EXPERT_GROUP = "lookahead.expert_group";
    public static final String KEY_ATTN_BITS = "lookahead.attn_bits";
    public static final String KEY_ATTN_GROUP = "lookahead.attn_group";
    public static final String KEY_HQQ = "lookahead.hqq";
    public static final String KEY_HQQ_PARAMS = "lookahead.hqq_params";
    public static final String KEY_SOURCE = "lookahead.source_model";
    public static final String KEY_BLOB_BYTES = "lookahead.expert_blob_bytes";
    public static final String KEY_BLOB_ALIGNMENT = "lookahead.expert_blob_alignment";
    public static final String KEY_BLOB_LAYOUT = "lookahead.expert_blob_layout";

    /** Metadata for a checkpoint about to be written. */
    public static QuantMetadata of(QuantSpec experts, QuantSpec attention, HqqOptions hqq, String sourceModel,
            ExpertBlobLayout layout) {
        return new QuantMetadata(VERSION, experts, attention, hqq != null, hqq == null ? "" : hqq.describe(),
                sourceModel, layout.blobBytes(), layout.describe());
    }

    /** True when {@code metadata} declares this format (any version). */
    public static boolean declaresFormat(Map<String, String> metadata) {
        return FORMAT.equals(metadata.get(KEY_FORMAT));
    }

    /** The entries to write. */
    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(KEY_FORMAT, FORMAT);
        m.put(KEY_VERSION, Integer.toString(version));
        m.put(KEY_EXPERT_BITS, Integer.toString(experts.bits()));
        m.put(KEY_EXPERT_GROUP, Integer.toString(experts.group()));
        m.put(KEY_ATTN_BITS, Integer.toString(attention.bits()));
        m.put(KEY_ATTN_GROUP, Integer.toString(attention.group()));
        m.put(KEY_HQQ, Boolean.toString(hqq));
        if (hqq) {
            m.put(KEY_HQQ_PARAMS, hqqParams);
        }
        m.put(KEY_SOURCE, sourceModel);
        m.put(KEY_BLOB_BYTES, Long.toString(blobBytes));
        m.put(KEY_BLOB_ALIGNMENT, Integer.toString(ExpertBlobLayout.ALIGNMENT));
        m.put(KEY_BLOB_LAYOUT, blobLayout);
        return m;
    }

    /**
     * Parses and checks the entries of {@code file}'s metadata.
     *
     * @throws CheckpointException naming the file and the offending key
     */
    public static QuantMetadata parse(Path file, Map<String, String> m) {
        String format = required(file, m, KEY_FORMAT);
        if (!format.equals(FORMAT)) {
            throw bad(file, KEY_FORMAT, format, "expected '" + FORMAT + "'");
        }
        int version = integer(file, m, KEY_VERSION);
        if (version != VERSION) {
            throw bad(file, KEY_VERSION, m.get(KEY_VERSION), "this build reads version " + VERSION + " only");
        }
        QuantSpec experts = spec(file, m, KEY_EXPERT_BITS, KEY_EXPERT_GROUP);
        QuantSpec attention = spec(file, m, KEY_ATTN_BITS, KEY_ATTN_GROUP);
        String hqqText = required(file, m, KEY_HQQ);
        if (!hqqText.equals("true") && !hqqText.equals("false")) {
            throw bad(file, KEY_HQQ, hqqText, "expected 'true' or 'false'");
        }
        boolean hqq = hqqText.equals("true");
        String hqqParams = hqq ? required(file, m, KEY_HQQ_PARAMS) : "";
        int alignment = integer(file, m, KEY_BLOB_ALIGNMENT);
        if (alignment != ExpertBlobLayout.ALIGNMENT) {
            throw bad(file, KEY_BLOB_ALIGNMENT, m.get(KEY_BLOB_ALIGNMENT),
                    "this build uses " + ExpertBlobLayout.ALIGNMENT);
        }
        long blobBytes = longValue(file, m, KEY_BLOB_BYTES);
        return new QuantMetadata(version, experts, attention, hqq, hqqParams, required(file, m, KEY_SOURCE),
                blobBytes, required(file, m, KEY_BLOB_LAYOUT));
    }

    /**
     * Checks the stored blob size and layout against {@code layout} (computed from the config and
     * the expert spec): a mismatch means the file was written by a different layout rule.
     */
    public void checkLayout(Path file, ExpertBlobLayout layout) {
        if (blobBytes != layout.blobBytes()) {
            throw bad(file, KEY_BLOB_BYTES, Long.toString(blobBytes),
                    "the config and expert format give " + layout.blobBytes() + " bytes per expert blob");
        }
        if (!blobLayout.equals(layout.describe())) {
            throw bad(file, KEY_BLOB_LAYOUT, blobLayout,
                    "the config and expert format give '" + layout.describe() + "'");
        }
    }

    private static QuantSpec spec(Path file, Map<String, String> m, String bitsKey, String groupKey) {
        int bits = integer(file, m, bitsKey);
        int group = integer(file, m, groupKey);
        try {
            return new QuantSpec(bits, group);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file, null, "metadata " + bitsKey + "=" + bits + ", " + groupKey + "="
                    + group + ": " + e.getMessage());
        }
    }

    private static String required(Path file, Map<String, String> m, String key) {
        String v = m.get(key);
        if (v == null) {
            throw new CheckpointException(file, null, "quantized checkpoint metadata lacks '" + key + "'");
        }
        return v;
    }

    private static int integer(Path file, Map<String, String> m, String key) {
        long v = longValue(file, m, key);
        if (v > Integer.MAX_VALUE) {
            throw bad(file, key, m.get(key), "too large");
        }
        return (int) v;
    }

    private static long longValue(Path file, Map<String, String> m, String key) {
        String text = required(file, m, key);
        try {
            long v = Long.parseLong(text);
            if (v < 0) {
                throw bad(file, key, text, "must not be negative");
            }
            return v;
        } catch (NumberFormatException e) {
            throw bad(file, key, text, "not an integer");
        }
    }

    private static CheckpointException bad(Path file, String key, String value, String why) {
        return new CheckpointException(file, null, "metadata " + key + "='" + value + "': " + why);
    }
}
