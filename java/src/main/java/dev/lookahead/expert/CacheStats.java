package dev.lookahead.expert;

/**
 * Counters of one {@link ExpertCache}, per layer and in total. A hit or miss is counted against the layer of the
 * expert looked up; an eviction or a wasted prefetch against the layer of the expert that left its slot; bytes
 * against the layer of the expert copied in.
 *
 * <ul>
 *   <li>hits / misses: demand lookups (the router chose the expert) that found it resident (ready or in flight)
 *       or not;</li>
 *   <li>bytes copied: every host-to-device copy, demand or speculative;</li>
 *   <li>prefetches issued: speculative copies started; used: those whose expert was looked up while still
 *       resident; wasted: those evicted before any lookup. Issued - used - wasted are still resident and unused.</li>
 * </ul>
 * Mutated only by the cache that owns it (single-threaded, like the cache).
 */
public final class CacheStats {
    private final long[] hits;
    private final long[] misses;
    private final long[] evictions;
    private final long[] bytesCopied;
    private final long[] prefetchesIssued;
    private final long[] prefetchesUsed;
    private final long[] prefetchesWasted;

    CacheStats(int layers) {
        hits = new long[layers];
        misses = new long[layers];
        evictions = new long[layers];
        bytesCopied = new long[layers];
        prefetchesIssued = new long[layers];
        prefetchesUsed = new long[layers];
        prefetchesWasted = new long[layers];
    }

    public int layers() {
        return hits.length;
    }

    void hit(int layer) {
        hits[layer]++;
    }

    void miss(int layer) {
        misses[layer]++;
    }

    void eviction(int layer) {
        evictions[layer]++;
    }

    void copied(int layer, long bytes) {
        bytesCopied[layer] += bytes;
    }

    void prefetchIssued(int layer) {
        prefetchesIssued[layer]++;
    }

    void prefetchUsed(int layer) {
        prefetchesUsed[layer]++;
    }

    void prefetchWasted(int layer) {
        prefetchesWasted[layer]++;
    }

    public long hits(int layer) {
        return hits[layer];
    }

    public long misses(int layer) {
        return misses[layer];
    }

    public long evictions(int layer) {
        return evictions[layer];
    }

    public long bytesCopied(int layer) {
        return bytesCopied[layer];
    }

    public long prefetchesIssued(int layer) {
        return prefetchesIssued[layer];
    }

    public long prefetchesUsed(int layer) {
        return prefetchesUsed[layer];
    }

    public long prefetchesWasted(int layer) {
        return prefetchesWasted[layer];
    }

    /** Hits / lookups of one layer; NaN when the layer had no lookup. */
    public double hitRate(int layer) {
        return ratio(hits[layer], hits[layer] + misses[layer]);
    }

    public long hits() {
        return sum(hits);
    }

    public long misses() {
        return sum(misses);
    }

    public long lookups() {
        return hits() + misses();
    }

    public long evictions() {
        return sum(evictions);
    }

    public long bytesCopied() {
        return sum(bytesCopied);
    }

    public long prefetchesIssued() {
        return sum(prefetchesIssued);
    }

    public long prefetchesUsed() {
        return sum(prefetchesUsed);
    }

    public long prefetchesWasted() {
        return sum(prefetchesWasted);
    }

    /** Hits / lookups over all layers; NaN before the first lookup. */
    public double hitRate() {
        return ratio(hits(), lookups());
    }

    private static long sum(long[] a) {
        long s = 0;
        for (long v : a) s += v;
        return s;
    }

    private static double ratio(long num, long den) {
        return den == 0 ? Double.NaN : (double) num / den;
    }
}
