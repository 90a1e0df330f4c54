package dev.lookahead.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A read-only, memory-mapped safetensors file.
 *
 * <p>{@link #open} reads and validates the header with plain reads (see
 * {@link SafetensorsHeader} for the checks) before it maps anything, then maps the whole file
 * read-only into a shared {@link Arena} owned by this object. {@link #tensor} hands out
 * zero-copy slices of that mapping; {@link #close} unmaps the file, after which those slices
 * throw {@link IllegalStateException} on access.
 *
 * <p>Dtypes: an unknown dtype fails at open; a known dtype outside {@link DType#FLOATS} (I64, U8,
 * BOOL, F8_*, ...) opens fine and fails only when its data is requested through
 * {@link #tensor(String)}, unless the caller names it in {@link #tensor(String, Set)} (the
 * quantized format stores packed codes as U8).
 */
public final class SafetensorsFile implements AutoCloseable {

    /** Largest header accepted; real headers are well under 1 MiB per thousand tensors. */
    public static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path path;
    private final SafetensorsHeader header;
    private final Arena arena;
    private final MemorySegment data; // the data area: file bytes [8 + headerLength, size)

    private SafetensorsFile(Path path, SafetensorsHeader header, Arena arena, MemorySegment data) {
        this.path = path;
        this.header = header;
        this.arena = arena;
        this.data = data;
    }

    /**
     * Opens, validates and maps {@code path}.
     *
     * @throws CheckpointException naming the file (and tensor) when it is missing, unreadable,
     *     truncated or malformed
     */
    public static SafetensorsFile open(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new CheckpointException(path, null,
                        "truncated: " + size + " bytes, less than the 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, path);
            long headerLength = lenBuf.flip().getLong();
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
                throw new CheckpointException(path, null, "not a safetensors file: its first 8 bytes give a header length"
                        + " of " + Long.toUnsignedString(headerLength) + ", which exceeds the limit of " + MAX_HEADER_BYTES
                        + " bytes");
            }
            if (headerLength > size - 8) {
                throw new CheckpointException(path, null, "truncated: header length " + headerLength
                        + " exceeds the " + (size - 8) + " bytes after the length field");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLength);
            readFully(ch, headerBuf, 8, path);
            long dataStart = 8 + headerLength;
            SafetensorsHeader header = SafetensorsHeader.parse(path, headerBuf.flip(), size - dataStart);

            Arena arena = Arena.ofShared();
            try {
                MemorySegment whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                MemorySegment data = whole.asSlice(dataStart).asReadOnly();
                return new SafetensorsFile(path, header, arena, data);
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        } catch (IOException e) {
            throw new CheckpointException(path, null, "cannot read: " + e, e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position, Path path)
            throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new CheckpointException(path, null, "truncated while reading the header");
            }
            pos += n;
        }
    }

    public Path path() {
        return path;
    }

    /** The {@code __metadata__} string map (empty when absent). */
    public Map<String, String> metadata() {
        return header.metadata();
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return header.tensors().keySet();
    }

    public boolean contains(String name) {
        return header.tensors().containsKey(name);
    }

    /** The header entry of {@code name}, any dtype; reading it touches no tensor data. */
    public Optional<TensorInfo> info(String name) {
        return Optional.ofNullable(header.tensors().get(name));
    }

    /** All header entries, in header order. */
    public Map<String, TensorInfo> infos() {
        return header.tensors();
    }

    /**
     * The tensor {@code name}, which must be F32, F16 or BF16.
     *
     * @throws CheckpointException if absent or of another dtype
     */
    public Tensor tensor(String name) {
        return tensor(name, DType.FLOATS);
    }

    /**
     * The tensor {@code name}, which must have one of the {@code accepted} dtypes.
     *
     * @throws CheckpointException if absent ("no tensor") or of another dtype ("unsupported dtype
     *     X for tensor Y")
     * @throws IllegalStateException if this file was closed
     */
    public Tensor tensor(String name, Set<DType> accepted) {
        TensorInfo info = header.tensors().get(name);
        if (info == null) {
            throw new CheckpointException(path, name, "no such tensor in this file");
        }
        if (!accepted.contains(info.dtype())) {
            throw new CheckpointException(path, name, "unsupported dtype " + info.dtype()
                    + " for tensor " + name + " (accepted here: " + accepted + ")");
        }
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException(path + " is closed");
        }
        return new Tensor(path, info, data.asSlice(info.dataOffset(), info.byteLength()));
    }

    /** Unmaps the file. Tensor views handed out become inaccessible. Idempotent. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + header.tensors().size() + " tensors]";
    }
}
