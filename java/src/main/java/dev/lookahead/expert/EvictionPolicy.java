package dev.lookahead.expert;

/**
 * Chooses which resident expert leaves its slot when a new one must come in. One instance serves one
 * {@link ExpertCache} (it keeps per-slot state) and is driven by it on the same single thread.
 *
 * <p>The cache offers as candidates only slots that are READY, whose expert is not protected, and that lie in the
 * range the {@link SlotLayout} allows for the incoming expert's layer; so an LRU policy is per-layer LRU under a
 * {@link SlotLayout.PerLayer} layout and global LRU under a {@link SlotLayout.GlobalPool}. A policy never sees an
 * empty slot: the cache fills those first, without evicting.
 *
 * <p>Time is the {@link Steps step} of the access, never wall time.
 */
public interface EvictionPolicy {
    /** Registry name, e.g. "lru". */
    String name();

    /** A demand lookup found {@code id} in {@code slot} at {@code step}. */
    void onHit(int slot, ExpertId id, long step);

    /** {@code id} was assigned to {@code slot} at {@code step} (its copy starts now). */
    void onFill(int slot, ExpertId id, long step, boolean prefetch);

    /** {@code id} left {@code slot}. */
    void onEvict(int slot, ExpertId id);

    /**
     * Picks the victim among {@code candidates[0 .. count)} (slot indices, count >= 1).
     *
     * @param incoming the expert that needs a slot
     * @param step     the current step
     * @param cache    read access to the slots' occupants
     * @return one of the candidate slots
     */
    int chooseVictim(ExpertId incoming, long step, int[] candidates, int count, ExpertCache cache);
}
