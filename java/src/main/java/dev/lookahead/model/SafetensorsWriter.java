package dev.lookahead.model;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes a safetensors file, one tensor at a time, without holding all tensors in memory.
 *
 * <p>Usage: declare every tensor (name, dtype, shape, and a {@link TensorData} that produces its
 * bytes on demand), then {@link #write()}. The header is written first, then each tensor's data
 * is requested in file order and streamed through a 1 MiB buffer, so a quantizer can compute a
 * tensor only when it is its turn. The file appears atomically: data goes to a temporary file
 * in the same directory that is renamed at the end (and deleted on failure).
 *
 * <p>Layout (compatible with the reference safetensors loader, which forbids gaps): the header
 * is padded with spaces so that the data area starts at an 8-byte aligned file offset, and
 * tensors are contiguous. In {@link Order#ALIGNED} (default) tensors are stably sorted by
 * element size, largest first, and within one element size those whose byte length is a
 * multiple of 8 come first: every tensor then starts at a multiple of its element size, and
 * at a multiple of 8 unless a preceding tensor had a length that is not. {@link Order#INSERTION}
 * keeps the declaration order instead.
 */
public final class SafetensorsWriter {

    /** Produces the bytes of one tensor: exactly {@code sink.expectedBytes()} of them. */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(TensorSink sink) throws IOException;

        /** The bytes of {@code segment}, which must have the tensor's exact byte size. */
        static TensorData of(MemorySegment segment) {
            return sink -> sink.write(segment);
        }

        /** {@code values}, converted to the tensor's dtype (F32, F16 or BF16; round to nearest even). */
        static TensorData ofFloats(float[] values) {
            return sink -> sink.writeFloats(values, 0, values.length);
        }
    }

    /** How tensors are ordered in the data area. */
    public enum Order { ALIGNED, INSERTION }

    private record Entry(String name, DType dtype, long[] shape, long byteLength, TensorData data) {}

    private static final int BUFFER_BYTES = 1 << 20;
    private static final JsonMapper JSON = new JsonMapper();

    private final Path file;
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<Entry> entries = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private Order order = Order.ALIGNED;

    public SafetensorsWriter(Path file) {
        this.file = Objects.requireNonNull(file);
    }

    /** Adds a {@code __metadata__} entry. */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
        return this;
    }

    public SafetensorsWriter order(Order order) {
        this.order = Objects.requireNonNull(order);
        return this;
    }

    /** Declares a tensor; its data is requested during {@link #write()}. */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, TensorData data) {
        Objects.requireNonNull(name);
        if (name.equals(SafetensorsHeader.METADATA_KEY) || !names.add(name)) {
            throw new IllegalArgumentException("duplicate or reserved tensor name: " + name);
        }
        long count = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape of " + name);
            }
            count = Math.multiplyExact(count, d);
        }
        entries.add(new Entry(name, dtype, shape.clone(), Math.multiplyExact(count, dtype.byteSize()),
                Objects.requireNonNull(data)));
        return this;
    }

    /**
     * Writes the file.
     *
     * @throws IOException on I/O failure, or when a {@link TensorData} writes too few or too many
     *     bytes (the message names the tensor)
     */
    public void write() throws IOException {
        List<Entry> ordered = new ArrayList<>(entries);
        if (order == Order.ALIGNED) {
            ordered.sort(Comparator.comparingInt((Entry e) -> -e.dtype().byteSize())
                    .thenComparingInt(e -> e.byteLength() % 8 == 0 ? 0 : 1));
        }
        byte[] header = headerBytes(ordered);

        Path dir = file.toAbsolutePath().getParent();
        // A hidden sibling, created fresh (default permissions, unlike Files.createTempFile).
        Path tmp = dir.resolve("." + file.getFileName() + "." + ProcessHandle.current().pid() + "."
                + Long.toHexString(System.nanoTime()) + ".tmp");
        boolean done = false;
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE,
                        StandardOpenOption.CREATE_NEW);
                Arena arena = Arena.ofConfined()) {
            TensorSink sink = new TensorSink(ch, arena.allocate(BUFFER_BYTES, 8));
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
            sink.writeRaw(MemorySegment.ofArray(len.array()));
            sink.writeRaw(MemorySegment.ofArray(header));
            for (Entry e : ordered) {
                sink.begin(e);
                e.data().writeTo(sink);
                sink.end();
            }
            sink.flush();
            ch.force(false);
            done = true;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** JSON header with offsets for {@code ordered}, space-padded so 8 + length is a multiple of 8. */
    private byte[] headerBytes(List<Entry> ordered) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(SafetensorsHeader.METADATA_KEY);
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry e : ordered) {
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", e.dtype().headerName());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + e.byteLength());
            offset += e.byteLength();
        }
        byte[] json = JSON.writeValueAsString(root).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // 8 (length field) + padded is 8-aligned
        byte[] out = new byte[padded];
        System.arraycopy(json, 0, out, 0, json.length);
        java.util.Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /**
     * Receives the bytes of the current tensor. Counts them, so that a producer that writes a
     * wrong amount is caught with the tensor's name instead of corrupting the file.
     */
    public static final class TensorSink {
        private static final ValueLayout.OfFloat F32 =
                ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfShort U16 =
                ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

        private final FileChannel channel;
        private final MemorySegment buffer;
        private long used;
        private Entry current;
        private long written;

        private TensorSink(FileChannel channel, MemorySegment buffer) {
            this.channel = channel;
            this.buffer = buffer;
        }

        /** The dtype of the tensor being written. */
        public DType dtype() {
            return current.dtype();
        }

        /** Total bytes this tensor must receive. */
        public long expectedBytes() {
            return current.byteLength();
        }

        /** Appends raw little-endian bytes. */
        public void write(MemorySegment bytes) throws IOException {
            count(bytes.byteSize());
            writeRaw(bytes);
        }

        /** Appends raw little-endian bytes (from position to limit). */
        public void write(ByteBuffer bytes) throws IOException {
            write(MemorySegment.ofBuffer(bytes));
            bytes.position(bytes.limit());
        }

        /** Appends {@code values[from, from + count)} converted to the tensor's float dtype. */
        public void writeFloats(float[] values, int from, int count) throws IOException {
            DType t = current.dtype();
            if (!DType.FLOATS.contains(t)) {
                throw new IOException("tensor '" + current.name() + "': cannot write floats as " + t);
            }
            count((long) count * t.byteSize());
            for (int i = from; i < from + count; i++) {
                if (used + 4 > buffer.byteSize()) {
                    flush();
                }
                switch (t) {
                    case F32 -> buffer.set(F32, used, values[i]);
                    case F16 -> buffer.set(U16, used, Float.floatToFloat16(values[i]));
                    default -> buffer.set(U16, used, toBf16(values[i]));
                }
                used += t.byteSize();
            }
        }

        /** float -> bfloat16 bits, rounding to nearest even; NaN stays a (quiet) NaN. */
        static short toBf16(float f) {
            int bits = Float.floatToRawIntBits(f);
            if (Float.isNaN(f)) {
                return (short) ((bits >>> 16) | 0x40);
            }
            int rounding = 0x7FFF + ((bits >>> 16) & 1);
            return (short) ((bits + rounding) >>> 16);
        }

        private void count(long n) throws IOException {
            written += n;
            if (written > current.byteLength()) {
                throw new IOException("tensor '" + current.name() + "': producer wrote more than "
                        + current.byteLength() + " bytes");
            }
        }

        private void begin(Entry e) {
            current = e;
            written = 0;
        }

        private void end() throws IOException {
            if (written != current.byteLength()) {
                throw new IOException("tensor '" + current.name() + "': producer wrote " + written
                        + " bytes, expected " + current.byteLength());
            }
        }

        private void writeRaw(MemorySegment src) throws IOException {
            long off = 0;
            while (off < src.byteSize()) {
                if (used == buffer.byteSize()) {
                    flush();
                }
                long n = Math.min(src.byteSize() - off, buffer.byteSize() - used);
                MemorySegment.copy(src, off, buffer, used, n);
                used += n;
                off += n;
            }
        }

        private void flush() throws IOException {
            ByteBuffer bb = buffer.asSlice(0, used).asByteBuffer();
            while (bb.hasRemaining()) {
                channel.write(bb);
            }
            used = 0;
        }
    }
}
