package dev.lookahead.jmh;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a sparse safetensors file with a Mixtral-8x7B-like header: 32 layers of 8 experts, the
 * same tensor names and count (995), BF16, hidden size 512, the experts' intermediate size chosen
 * so the file has about the requested size. Only the header is written; the data area is a hole
 * (reads of it return zeros without touching the disk), so making a 1 GiB file costs nothing.
 *
 * <p>Offsets are computed here, not by the code under test, so {@link #tensorStarts()} can serve
 * the raw-mmap baseline.
 */
final class SparseSafetensors {
    static final int LAYERS = 32, EXPERTS = 8, HIDDEN = 512, KV = 128, VOCAB = 32000, BF16 = 2;

    private record Entry(String name, long[] shape, long begin, long end) {}

    private final List<Entry> entries = new ArrayList<>();
    private long dataBytes;
    private long headerLength;

    private SparseSafetensors() {}

    /** Writes the file (about {@code targetBytes} long, never less than the non-expert tensors). */
    static SparseSafetensors write(Path file, long targetBytes) throws IOException {
        SparseSafetensors s = new SparseSafetensors();
        long fixed = fixedBytes();
        long perExpertMatrix = (long) LAYERS * EXPERTS * 3 * HIDDEN * BF16; // bytes per unit of intermediate size
        int intermediate = (int) Math.max(16, (targetBytes - fixed) / perExpertMatrix);
        s.plan(intermediate);
        s.writeFile(file);
        return s;
    }

    /** Every tensor's start and end (exclusive), as absolute file offsets. */
    long[][] tensorStarts() {
        long dataStart = 8 + headerLength;
        long[][] out = new long[entries.size()][];
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            out[i] = new long[] {dataStart + e.begin(), dataStart + e.end()};
        }
        return out;
    }

    int tensorCount() {
        return entries.size();
    }

    long fileBytes() {
        return 8 + headerLength + dataBytes;
    }

    private static long fixedBytes() {
        long perLayer = (2L * HIDDEN * HIDDEN + 2L * KV * HIDDEN + 2L * HIDDEN + (long) EXPERTS * HIDDEN) * BF16;
        return LAYERS * perLayer + (2L * VOCAB * HIDDEN + HIDDEN) * BF16;
    }

    private void plan(int intermediate) {
        add("model.embed_tokens.weight", VOCAB, HIDDEN);
        for (int l = 0; l < LAYERS; l++) {
            String p = "model.layers." + l + ".";
            add(p + "input_layernorm.weight", HIDDEN);
            add(p + "self_attn.q_proj.weight", HIDDEN, HIDDEN);
            add(p + "self_attn.k_proj.weight", KV, HIDDEN);
            add(p + "self_attn.v_proj.weight", KV, HIDDEN);
            add(p + "self_attn.o_proj.weight", HIDDEN, HIDDEN);
            add(p + "post_attention_layernorm.weight", HIDDEN);
            add(p + "block_sparse_moe.gate.weight", EXPERTS, HIDDEN);
            for (int e = 0; e < EXPERTS; e++) {
                String x = p + "block_sparse_moe.experts." + e + ".";
                add(x + "w1.weight", intermediate, HIDDEN);
                add(x + "w2.weight", HIDDEN, intermediate);
                add(x + "w3.weight", intermediate, HIDDEN);
            }
        }
        add("model.norm.weight", HIDDEN);
        add("lm_head.weight", VOCAB, HIDDEN);
    }

    private void add(String name, long... shape) {
        long n = BF16;
        for (long d : shape) {
            n *= d;
        }
        entries.add(new Entry(name, shape, dataBytes, dataBytes + n));
        dataBytes += n;
    }

    private void writeFile(Path file) throws IOException {
        JsonMapper json = new JsonMapper();
        ObjectNode root = json.createObjectNode();
        root.putObject("__metadata__").put("format", "pt").put("note", "lookahead JMH sparse file");
        for (Entry e : entries) {
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", "BF16");
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(e.begin()).add(e.end());
        }
        byte[] text = json.writeValueAsBytes(root);
        int padded = (text.length + 7) & ~7; // the data area starts 8-byte aligned; pad with spaces
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(text);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        headerLength = padded;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(0);
            f.write(head.array());
            f.setLength(fileBytes()); // the rest is a hole
        }
    }
}
