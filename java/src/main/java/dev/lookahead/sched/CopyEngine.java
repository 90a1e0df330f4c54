package dev.lookahead.sched;

import dev.lookahead.expert.ExpertId;

/**
 * Moves expert blobs from host memory into device slots, for the {@link SpeculativeScheduler}. The engine implements
 * it with its copy stream and one completion event per slot; replay with {@link SimulatedLink}; tests with a fake.
 *
 * <p>Copy model the scheduler relies on: a submitted copy is irrevocable (a CUDA copy stream cannot cancel or
 * reorder enqueued work), and copies complete in submission order or earlier. So the scheduler itself decides the
 * order: it submits demand copies at once and holds speculative copies in its own queue until the bytes-in-flight
 * budget admits them; only that queue can be reordered, deferred or dropped.
 *
 * <p>Called from one thread, the decode thread, like the scheduler.
 */
public interface CopyEngine {
    /**
     * Enqueues the copy of {@code id}'s blob into {@code slot}. The slot's previous contents may be overwritten only
     * after the device's last use of them (the engine orders that with its own events).
     *
     * @param speculative true for a prefetch, false for a demand miss (an engine may use it for statistics or a
     *                    higher-priority stream; the scheduler does not require either)
     */
    void submit(ExpertId id, int slot, boolean speculative);

    /** Whether the last copy submitted into {@code slot} has completed. Never blocks. */
    boolean isDone(int slot);

    /** Blocks until the last copy submitted into {@code slot} has completed. */
    void await(int slot);

    /**
     * Serves a demand miss outside the cache, for the current layer only: copies {@code id} (or whatever of it is not
     * there yet) into a spare slot the cache does not manage, so the miss evicts nothing.
     *
     * @return that slot (an index past the cache's slots, which the engine resolves), or -1 when the engine has none
     *         free (the scheduler then admits the expert into the cache as usual)
     */
    default int bypass(ExpertId id) {
        return -1;
    }

    /** Whether {@link #bypass} can serve misses at all (it may still decline one when no spare slot is free). */
    default boolean bypasses() {
        return false;
    }
}
