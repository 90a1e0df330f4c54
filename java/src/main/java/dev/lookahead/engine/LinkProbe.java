package dev.lookahead.engine;

import dev.lookahead.bindings.Device;
import dev.lookahead.bindings.DeviceBuffer;
import dev.lookahead.bindings.DeviceSlice;
import dev.lookahead.bindings.Event;
import dev.lookahead.bindings.PinnedBuffer;
import dev.lookahead.bindings.Stream;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Locale;

/**
 * The host-to-device bandwidth an expert copy gets: pinned host memory copied to the device on one stream, timed with
 * the device's events. The staging of {@link OffloadedExperts} sizes its chunks with it, and the bench's overlap bound
 * on a GPU divides the copied bytes by it.
 */
public final class LinkProbe {
    private LinkProbe() {
    }

    /** A measured bandwidth and how it was measured. */
    public record Measurement(double bytesPerSecond, long bytes, int copies) {
        public String describe() {
            return String.format(Locale.ROOT, "pinned host -> device %.1f GB/s (median of %d copies of %.0f MiB)",
                    bytesPerSecond / 1e9, copies, bytes / 1048576.0);
        }
    }

    /**
     * Copies {@code bytes} from pinned host memory to the device {@code copies} times (after one warm-up copy) and
     * returns the median bandwidth.
     *
     * @throws IllegalArgumentException if bytes or copies is not positive
     */
    public static Measurement hostToDevice(Device device, long bytes, int copies) {
        if (bytes <= 0 || copies <= 0) {
            throw new IllegalArgumentException("bytes and copies must be > 0, got " + bytes + ", " + copies);
        }
        try (PinnedBuffer host = device.allocatePinned(bytes);
                DeviceBuffer target = device.allocate(bytes);
                Stream stream = device.createStream()) {
            host.segment().fill((byte) 0x5A); // touched, so the copy does not read never-faulted pages
            double median = medianSeconds(stream, host.segment(), target.all(), copies);
            if (!(median > 0)) {
                throw new IllegalStateException("the device's events timed a copy of " + bytes + " bytes at " + median + " s");
            }
            return new Measurement(bytes / median, bytes, copies);
        }
    }

    /**
     * Copies {@code src} (pinned host memory) into {@code dst} on {@code stream} once to warm up (first-touch costs),
     * then {@code copies} times, each timed alone with events; returns the median seconds of one copy.
     */
    static double medianSeconds(Stream stream, MemorySegment src, DeviceSlice dst, int copies) {
        Device device = stream.device();
        try (Event start = device.createEvent(); Event end = device.createEvent()) {
            double[] seconds = new double[copies];
            for (int i = -1; i < copies; i++) {
                start.record(stream);
                stream.copyToDevice(src, dst);
                end.record(stream);
                end.synchronize();
                if (i >= 0) seconds[i] = start.elapsedMillis(end) / 1e3;
            }
            Arrays.sort(seconds);
            return copies % 2 == 1 ? seconds[copies / 2] : (seconds[copies / 2 - 1] + seconds[copies / 2]) / 2;
        }
    }
}
