package dev.lookahead.sched;

/**
 * Counters of one {@link SpeculativeScheduler}. A speculative copy is <em>useful</em> when the layer it was predicted
 * for chose its expert, <em>wasted</em> when that layer did not, or when the copy was evicted before that layer ran.
 * Issued - useful - wasted are still outstanding. Mutated only by the scheduler (single-threaded).
 */
public final class SchedulerStats {
    private final long expertBytes;
    long demandCopies;
    long speculativeIssued;
    long speculativeUseful;
    long speculativeWasted;
    long candidatesStale;
    long candidatesUnissued;
    long staleBatches;
    long noSlot;
    long speculateCalls;
    long throttledCalls;
    long awaits;
    long probes;
    long bypasses;

    SchedulerStats(long expertBytes) {
        this.expertBytes = expertBytes;
    }

    /** Demand misses served outside the cache ({@link CopyEngine#bypass}): the incoming expert evicted nothing. */
    public long bypasses() {
        return bypasses;
    }

    /** Copies submitted for demand misses. */
    public long demandCopies() {
        return demandCopies;
    }

    /** Speculative copies submitted. */
    public long speculativeIssued() {
        return speculativeIssued;
    }

    public long speculativeUseful() {
        return speculativeUseful;
    }

    public long speculativeWasted() {
        return speculativeWasted;
    }

    public long usefulBytes() {
        return speculativeUseful * expertBytes;
    }

    public long wastedBytes() {
        return speculativeWasted * expertBytes;
    }

    /** Useful / (useful + wasted) over the whole run; NaN before any outcome. */
    public double recall() {
        long n = speculativeUseful + speculativeWasted;
        return n == 0 ? Double.NaN : (double) speculativeUseful / n;
    }

    /** Prediction entries dropped because their layer had already been computed. */
    public long candidatesStale() {
        return candidatesStale;
    }

    /** Candidates still queued (not started) when newer predictions or a later layer replaced them. */
    public long candidatesUnissued() {
        return candidatesUnissued;
    }

    /** Prediction batches dropped whole because newer ones had been taken already. */
    public long staleBatches() {
        return staleBatches;
    }

    /** Candidates not copied because every slot they could take was protected or in flight. */
    public long noSlot() {
        return noSlot;
    }

    /** Prediction batches taken. */
    public long speculateCalls() {
        return speculateCalls;
    }

    /** Prediction batches handled while throttled (measured recall below target). */
    public long throttledCalls() {
        return throttledCalls;
    }

    /** Speculative copies issued as probes while throttled. */
    public long probes() {
        return probes;
    }

    /** Times a demand miss found no slot (all in flight or protected) and waited for a copy. */
    public long awaits() {
        return awaits;
    }
}
