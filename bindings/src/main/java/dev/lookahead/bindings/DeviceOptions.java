package dev.lookahead.bindings;

/**
 * {@code lk_device_options}. Zero means "the backend's default" for every field.
 *
 * @param ordinal            cuda: GPU index; cpu: ignored
 * @param threads            cpu: compute threads, 0 = number of online cores
 * @param memoryLimit        cpu: bytes of the device arena, 0 = half of physical RAM; cuda: 0 = all
 * @param linkBytesPerSecond emulated bandwidth of the host-to-device link (copies to the device), 0 = unthrottled
 *                           (cuda: the real link); on cuda a copy's stream is held for the copy's emulated time;
 *                           read-backs to the host are never throttled
 */
public record DeviceOptions(int ordinal, int threads, long memoryLimit, double linkBytesPerSecond) {
    /** Every field at its default. */
    public static final DeviceOptions DEFAULTS = new DeviceOptions(0, 0, 0, 0);

    public DeviceOptions {
        if (ordinal < 0) {
            throw new IllegalArgumentException("ordinal must be >= 0, got " + ordinal);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all cores), got " + threads);
        }
        if (memoryLimit < 0) {
            throw new IllegalArgumentException("memoryLimit must be >= 0 (0 = default), got " + memoryLimit);
        }
        if (!(linkBytesPerSecond >= 0) || Double.isInfinite(linkBytesPerSecond)) {
            throw new IllegalArgumentException(
                    "linkBytesPerSecond must be finite and >= 0 (0 = unthrottled), got " + linkBytesPerSecond);
        }
    }

    public DeviceOptions withOrdinal(int value) {
        return new DeviceOptions(value, threads, memoryLimit, linkBytesPerSecond);
    }

    public DeviceOptions withThreads(int value) {
        return new DeviceOptions(ordinal, value, memoryLimit, linkBytesPerSecond);
    }

    public DeviceOptions withMemoryLimit(long bytes) {
        return new DeviceOptions(ordinal, threads, bytes, linkBytesPerSecond);
    }

    public DeviceOptions withLinkBytesPerSecond(double value) {
        return new DeviceOptions(ordinal, threads, memoryLimit, value);
    }
}
