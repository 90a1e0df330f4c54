package dev.lookahead.jmh;

import dev.lookahead.model.DType;
import dev.lookahead.model.SafetensorsFile;
import dev.lookahead.model.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Opening a large safetensors file: {@link SafetensorsFile#open} (read the header, parse and
 * validate it, mmap the file) and close, with and without touching every tensor view (its first
 * and last byte, so each view is created and its pages are faulted in). The file is a sparse
 * {@code fileMiB}-MiB file with Mixtral's 995 tensor names ({@link SparseSafetensors}): its data
 * reads as zeros from the page cache, so this measures the Java and kernel work, not a disk.
 *
 * <p>Ceilings: the same steps without the project's code ({@link #rawReadHeaderAndMap},
 * {@link #rawMapAndTouch}): a FileChannel reads the header bytes (unparsed), maps the file into a
 * shared arena like {@code SafetensorsFile} does, touches the same offsets, and closes the arena.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.NATIVE_ACCESS})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class SafetensorsOpenBenchmark {
    private static final Set<DType> ANY = EnumSet.allOf(DType.class);

    @State(Scope.Benchmark)
    public static class SparseFile {
        @Param({"1024"})
        public int fileMiB;

        Path dir;
        Path file;
        long[][] tensorRanges; // absolute [start, end) of every tensor

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            if (fileMiB <= 0) {
                throw new IllegalArgumentException("fileMiB must be > 0, got " + fileMiB);
            }
            dir = Files.createTempDirectory("lookahead-jmh-safetensors");
            file = dir.resolve("model.safetensors");
            try {
                SparseSafetensors s = SparseSafetensors.write(file, (long) fileMiB << 20);
                tensorRanges = s.tensorStarts();
                try (SafetensorsFile f = SafetensorsFile.open(file)) {
                    if (f.names().size() != s.tensorCount()) {
                        throw new IllegalStateException("expected " + s.tensorCount() + " tensors, opened "
                                + f.names().size());
                    }
                }
            } catch (IOException | RuntimeException | Error e) {
                tearDown(); // JMH skips @TearDown when @Setup fails
                throw e;
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    @Benchmark
    public int openParseMap(SparseFile s) {
        try (SafetensorsFile f = SafetensorsFile.open(s.file)) {
            return f.names().size();
        }
    }

    @Benchmark
    public int openAndTouchEveryTensor(SparseFile s) {
        int acc = 0;
        try (SafetensorsFile f = SafetensorsFile.open(s.file)) {
            for (String name : f.names()) {
                Tensor t = f.tensor(name, ANY);
                MemorySegment seg = t.segment();
                acc += seg.get(ValueLayout.JAVA_BYTE, 0) + seg.get(ValueLayout.JAVA_BYTE, seg.byteSize() - 1) + 1;
            }
        }
        return acc;
    }

    @Benchmark
    public long rawReadHeaderAndMap(SparseFile s) throws IOException {
        try (FileChannel ch = FileChannel.open(s.file, StandardOpenOption.READ);
                Arena arena = Arena.ofShared()) {
            ByteBuffer header = readHeader(ch);
            MemorySegment whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            return whole.byteSize() + header.limit();
        }
    }

    @Benchmark
    public int rawMapAndTouch(SparseFile s) throws IOException {
        int acc = 0;
        try (FileChannel ch = FileChannel.open(s.file, StandardOpenOption.READ);
                Arena arena = Arena.ofShared()) {
            ByteBuffer header = readHeader(ch);
            MemorySegment whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            for (long[] r : s.tensorRanges) {
                acc += whole.get(ValueLayout.JAVA_BYTE, r[0]) + whole.get(ValueLayout.JAVA_BYTE, r[1] - 1) + 1;
            }
            return acc + header.limit();
        }
    }

    /** The 8-byte length and the header bytes, as SafetensorsFile reads them, without parsing. */
    private static ByteBuffer readHeader(FileChannel ch) throws IOException {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, len, 0);
        long n = len.flip().getLong();
        ByteBuffer header = ByteBuffer.allocate(Math.toIntExact(n));
        readFully(ch, header, 8);
        return header.flip();
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            pos += n;
        }
    }
}
