package dev.lookahead.quant;

import dev.lookahead.bindings.QuantFormat;
import dev.lookahead.model.ModelConfig;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.EnumMap;

/**
 * Where the nine sections of one expert blob lie: for w1 (gate), w3 (up), w2 (down) in that
 * order, codes | scales | zeros, each section starting at a multiple of {@link #ALIGNMENT}
 * bytes, zero padding between them, and the blob size rounded up to a multiple of
 * {@link #ALIGNMENT} too, so blobs laid end to end (pinned host pools, device slots) keep every
 * section aligned. Every expert of a model has the same layout: a device slot is fixed-size
 * and one copy of {@link #blobBytes()} moves an expert.
 *
 * <p>Example, Mixtral-8x7B (hidden 4096, intermediate 14336), 4-bit g64: each matrix has
 * 29,360,128 bytes of codes and 1,835,008 of scales and of zeros; the blob is 99,090,432 bytes
 * (94.5 MiB).
 */
public final class ExpertBlobLayout {

    /** Alignment of every section and of the blob size, in bytes. */
    public static final int ALIGNMENT = 256;

    /** What a section holds. */
    public enum Part { CODES, SCALES, ZEROS }

    /** One section: {@code bytes} bytes from {@code offset} (relative to the blob start). */
    public record Section(ExpertMatrix matrix, Part part, long offset, long bytes) {
        /** "w1.codes" */
        public String name() {
            return matrix.hfName() + "." + part.name().toLowerCase(java.util.Locale.ROOT);
        }

        public long end() {
            return offset + bytes;
        }
    }

    /** Byte ranges of one matrix's codes, scales and zeros within the blob. */
    public record MatrixRanges(ExpertMatrix matrix, long rows, long cols, Section codes, Section scales,
            Section zeros) {}

    private final QuantSpec spec;
    private final long hidden;
    private final long intermediate;
    private final List<Section> sections;
    private final Map<ExpertMatrix, MatrixRanges> matrices;
    private final long blobBytes;

    private ExpertBlobLayout(QuantSpec spec, long hidden, long intermediate) {
        this.spec = spec;
        this.hidden = hidden;
        this.intermediate = intermediate;
        QuantFormat f = spec.format();
        List<Section> list = new ArrayList<>();
        Map<ExpertMatrix, MatrixRanges> map = new EnumMap<>(ExpertMatrix.class);
        long offset = 0;
        for (ExpertMatrix m : ExpertMatrix.values()) {
            long rows = m == ExpertMatrix.DOWN ? hidden : intermediate;
            long cols = m == ExpertMatrix.DOWN ? intermediate : hidden;
            Section[] s = new Section[3];
            long[] sizes = {f.codeBytes(rows, cols), f.scaleBytes(rows, cols), f.zeroBytes(rows, cols)};
            for (Part p : Part.values()) {
                s[p.ordinal()] = new Section(m, p, offset, sizes[p.ordinal()]);
                list.add(s[p.ordinal()]);
                offset = align(Math.addExact(offset, sizes[p.ordinal()]));
            }
            map.put(m, new MatrixRanges(m, rows, cols, s[0], s[1], s[2]));
        }
        this.sections = Collections.unmodifiableList(list);
        this.matrices = Collections.unmodifiableMap(map);
        this.blobBytes = offset;
    }

    /** The layout for experts of {@code config} quantized with {@code spec}. */
    public static ExpertBlobLayout of(ModelConfig config, QuantSpec spec) {
        return of(config.hiddenSize(), config.intermediateSize(), spec);
    }

    /** The layout for experts [intermediate, hidden] / [hidden, intermediate]. */
    public static ExpertBlobLayout of(long hidden, long intermediate, QuantSpec spec) {
        if (hidden <= 0 || intermediate <= 0) {
            throw new IllegalArgumentException("hidden and intermediate must be > 0, got " + hidden + ", " + intermediate);
        }
        return new ExpertBlobLayout(spec, hidden, intermediate);
    }

    /** {@code n} rounded up to a multiple of {@link #ALIGNMENT}. */
    public static long align(long n) {
        return Math.multiplyExact(Math.ceilDiv(n, (long) ALIGNMENT), (long) ALIGNMENT);
    }

    public QuantSpec spec() {
        return spec;
    }

    public long hidden() {
        return hidden;
    }

    public long intermediate() {
        return intermediate;
    }

    /** Total bytes of one blob (a multiple of {@link #ALIGNMENT}). */
    public long blobBytes() {
        return blobBytes;
    }

    /** The nine sections in blob order. */
    public List<Section> sections() {
        return sections;
    }

    /** The (codes, scales, zeros) ranges of {@code m}. */
    public MatrixRanges ranges(ExpertMatrix m) {
        return matrices.get(m);
    }

    /** Bytes that carry data (the blob minus alignment padding). */
    public long payloadBytes() {
        return sections.stream().mapToLong(Section::bytes).sum();
    }

    /**
     * The layout as stored in the checkpoint metadata: "w1.codes=0+N,w1.scales=O+N,...", one
     * {@code name=offset+bytes} per section in blob order.
     */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        for (Section s : sections) {
            if (!sb.isEmpty()) {
                sb.append(',');
            }
            sb.append(s.name()).append('=').append(s.offset()).append('+').append(s.bytes());
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return "ExpertBlobLayout[" + spec + ", hidden " + hidden + ", intermediate " + intermediate + ", "
                + blobBytes + " bytes: " + describe() + "]";
    }
}
