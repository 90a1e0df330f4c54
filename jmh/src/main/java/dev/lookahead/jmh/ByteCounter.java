package dev.lookahead.jmh;

import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * Bytes moved by a benchmark, reported by JMH next to the primary score as a throughput
 * ("bytes" in ops/s = bytes per second). What counts as a byte is each benchmark's choice and is
 * said in its comment: weight bytes (codes + scales + zeros) read by a quantized matmul, bytes
 * read by the memory-read ceiling, bytes copied by a copy.
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.OPERATIONS)
public class ByteCounter {
    public long bytes;

    @Setup(Level.Iteration)
    public void reset() {
        bytes = 0;
    }
}
