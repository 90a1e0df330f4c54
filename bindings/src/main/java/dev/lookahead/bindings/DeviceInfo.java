package dev.lookahead.bindings;

/**
 * {@code lk_device_info}: what lk_device_get_info() reports.
 *
 * @param backend            "cpu" or "cuda"
 * @param name               e.g. "NVIDIA H100 80GB HBM3", "cpu (16 threads)"
 * @param totalMemory        bytes of device memory (cpu: arena capacity)
 * @param freeMemory         bytes not yet allocated
 * @param ccMajor            compute capability (cpu: 0)
 * @param ccMinor            compute capability (cpu: 0)
 * @param asyncCopyEngines   copy engines that overlap compute (cpu: 1)
 * @param multiprocessors    SMs (cuda) or compute threads (cpu)
 * @param linkBytesPerSecond emulated link bandwidth, 0 = unthrottled (cuda: the real link)
 */
public record DeviceInfo(String backend, String name, long totalMemory, long freeMemory, int ccMajor,
                         int ccMinor, int asyncCopyEngines, int multiprocessors, double linkBytesPerSecond) {
}
