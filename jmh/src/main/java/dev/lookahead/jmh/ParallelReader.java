package dev.lookahead.jmh;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Reads a native segment with {@code threads} threads, each summing one contiguous share as
 * longs with SIMD vectors (the Vector API: a scalar loop of long loads reaches
 * about half the bandwidth here, which would make a poor ceiling): the Java memory-read ceiling
 * that the native kernels are compared against. The caller's thread reads the last share itself,
 * so {@code threads} threads read in total (as the CPU backend's pool, whose stream worker
 * computes too). Needs {@code --add-modules=jdk.incubator.vector}.
 */
final class ParallelReader implements AutoCloseable {
    /**
     * 256-bit vectors where the CPU has wider ones: the native CPU backend is built for AVX2
     * (x86-64-v3), and on the documented machine 512-bit loads read slower (6.9 vs 7.8 GB/s).
     */
    private static final VectorSpecies<Long> LONGS = LongVector.SPECIES_PREFERRED.vectorBitSize() > 256
            ? LongVector.SPECIES_256 : LongVector.SPECIES_PREFERRED;

    private final int threads;
    private final ExecutorService pool; // threads - 1 helpers, null for one thread

    ParallelReader(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.pool = threads == 1 ? null : Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, "memory-read-ceiling");
            t.setDaemon(true);
            return t;
        });
    }

    int threads() {
        return threads;
    }

    /** Sums every long of {@code seg} (its size a multiple of 8); the sum keeps the reads alive. */
    long read(MemorySegment seg) {
        long longs = seg.byteSize() / Long.BYTES;
        if (longs * Long.BYTES != seg.byteSize()) {
            throw new IllegalArgumentException("segment size must be a multiple of 8, got " + seg.byteSize());
        }
        if (pool == null) {
            return sum(seg, 0, longs);
        }
        long share = (longs + threads - 1) / threads;
        List<Future<Long>> parts = new ArrayList<>(threads - 1);
        for (int t = 0; t < threads - 1; t++) {
            long from = Math.min(longs, t * share);
            long to = Math.min(longs, from + share);
            parts.add(pool.submit(() -> sum(seg, from, to)));
        }
        long total = sum(seg, Math.min(longs, (threads - 1) * share), longs);
        try {
            for (Future<Long> f : parts) {
                total += f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reading", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("a reader thread failed", e.getCause());
        }
        return total;
    }

    /** Sum of longs [from, to) with four independent vector accumulators, so loads overlap. */
    private static long sum(MemorySegment seg, long from, long to) {
        LongVector a = LongVector.zero(LONGS), b = a, c = a, d = a;
        long step = LONGS.vectorByteSize();
        long i = from * Long.BYTES, end = to * Long.BYTES;
        for (; i + 4 * step <= end; i += 4 * step) {
            a = a.add(LongVector.fromMemorySegment(LONGS, seg, i, ByteOrder.nativeOrder()));
            b = b.add(LongVector.fromMemorySegment(LONGS, seg, i + step, ByteOrder.nativeOrder()));
            c = c.add(LongVector.fromMemorySegment(LONGS, seg, i + 2 * step, ByteOrder.nativeOrder()));
            d = d.add(LongVector.fromMemorySegment(LONGS, seg, i + 3 * step, ByteOrder.nativeOrder()));
        }
        long total = a.add(b).add(c).add(d).reduceLanes(VectorOperators.ADD);
        for (; i < end; i += Long.BYTES) {
            total += seg.get(ValueLayout.JAVA_LONG, i);
        }
        return total;
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }
}
