package dev.lookahead.expert;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Expert residency bookkeeping: which expert occupies which device slot, the state of each slot, the eviction
 * policy's decisions, and statistics. It moves no bytes itself: the caller (the engine, or {@link ReplaySimulator})
 * copies an expert into the slot that {@link #admit} or {@link #prefetch} returns and calls {@link #markReady} when
 * the copy has completed (the engine when the copy's event fires; replay at once).
 *
 * <p>Use per decode step and layer, for each expert the router chose:
 * <pre>{@code
 *   int slot = cache.lookup(id, step);                  // hit: slot >= 0 (wait if state(slot) == FILLING)
 *   if (slot == ExpertCache.MISS) {
 *       slot = cache.admit(id, step, protectedSet);     // evicts a victim if the layer's slots are full
 *       copy expert -> slot; when done: cache.markReady(slot);
 *   }
 * }</pre>
 * The protected set holds the experts that must stay: the current layer's and, when prefetching, the next
 * layer's. Slots whose copy is in flight (FILLING) are never evicted either.
 *
 * <p>Not thread-safe: the engine's decode thread is its only user (copy completion is observed on that thread,
 * which then calls {@link #markReady}).
 */
public final class ExpertCache {
    /** {@link #lookup} result when the expert is not resident. */
    public static final int MISS = -1;
    /** {@link #prefetch} result when nothing was issued (already resident, or every candidate slot protected). */
    public static final int NOT_ISSUED = -1;

    private final SlotLayout layout;
    private final long expertBytes;
    private final EvictionPolicy policy;
    private final ExpertId[] occupant;
    private final SlotState[] state;
    private final boolean[] prefetchedUnused; // the slot's expert came by prefetch and has not been looked up yet
    private final Map<ExpertId, Integer> slotOf = new HashMap<>();
    private final CacheStats stats;
    private final int[] candidates;

    /**
     * @param expertBytes bytes of one expert blob (what one copy moves), for the statistics
     */
    public ExpertCache(SlotLayout layout, long expertBytes, EvictionPolicy policy) {
        this.layout = Objects.requireNonNull(layout, "layout");
        this.policy = Objects.requireNonNull(policy, "policy");
        if (expertBytes <= 0) throw new IllegalArgumentException("expert size must be > 0 bytes, got " + expertBytes);
        this.expertBytes = expertBytes;
        int n = layout.totalSlots();
        occupant = new ExpertId[n];
        state = new SlotState[n];
        java.util.Arrays.fill(state, SlotState.EMPTY);
        prefetchedUnused = new boolean[n];
        stats = new CacheStats(layout.layers());
        candidates = new int[n];
    }

    public SlotLayout layout() {
        return layout;
    }

    public EvictionPolicy policy() {
        return policy;
    }

    public CacheStats stats() {
        return stats;
    }

    public long expertBytes() {
        return expertBytes;
    }

    /** The expert in {@code slot}, or null when the slot is empty. */
    public ExpertId occupant(int slot) {
        return occupant[slot];
    }

    public SlotState state(int slot) {
        return state[slot];
    }

    /** The slot holding {@code id} (ready or filling), or {@link #MISS}. Changes no statistics. */
    public int slotOf(ExpertId id) {
        Integer s = slotOf.get(id);
        return s == null ? MISS : s;
    }

    public boolean contains(ExpertId id) {
        return slotOf.containsKey(id);
    }

    /** Number of slots holding an expert (ready or filling). */
    public int residentCount() {
        return slotOf.size();
    }

    /**
     * A demand lookup: the router chose {@code id} at {@code step}. Counts a hit or a miss.
     *
     * @return the slot holding the expert (the caller waits for its copy if it is FILLING), or {@link #MISS}
     */
    public int lookup(ExpertId id, long step) {
        checkLayer(id);
        Integer s = slotOf.get(id);
        if (s == null) {
            stats.miss(id.layer());
            return MISS;
        }
        int slot = s;
        stats.hit(id.layer());
        if (prefetchedUnused[slot]) {
            prefetchedUnused[slot] = false;
            stats.prefetchUsed(id.layer());
        }
        policy.onHit(slot, id, step);
        return slot;
    }

    /**
     * Assigns a slot to {@code id} after a miss: an empty slot of its layer's range if there is one, otherwise the
     * policy's victim among the READY slots whose expert is not protected. The slot becomes FILLING.
     *
     * @param protectedSet experts that must not be evicted (the current layer's, and the next layer's when
     *                     prefetching); {@code id} itself need not be in it
     * @return the slot to copy the expert into
     * @throws IllegalStateException if {@code id} is already resident, or every slot it may use is protected or
     *                               filling
     */
    public int admit(ExpertId id, long step, Set<ExpertId> protectedSet) {
        checkLayer(id);
        if (slotOf.containsKey(id)) {
            throw new IllegalStateException(id + " is already resident in slot " + slotOf.get(id) + "; admit only after a miss");
        }
        int slot = findSlot(id, step, protectedSet);
        if (slot < 0) {
            throw new IllegalStateException("no slot can take " + id + " at step " + step + ": all "
                    + layout.slotCount(id.layer()) + " slots it may use (" + layout.describe()
                    + ") hold protected experts or copies in flight; protected: " + protectedSet);
        }
        fill(slot, id, step, false);
        return slot;
    }

    /**
     * Starts a speculative copy of {@code id}, predicted to be needed soon. Nothing is issued when the expert is
     * already resident or when every slot it may use is protected or filling: a prefetch is optional, so this is
     * not an error.
     *
     * @return the slot to copy the expert into (now FILLING), or {@link #NOT_ISSUED}
     */
    public int prefetch(ExpertId id, long step, Set<ExpertId> protectedSet) {
        checkLayer(id);
        if (slotOf.containsKey(id)) return NOT_ISSUED;
        int slot = findSlot(id, step, protectedSet);
        if (slot < 0) return NOT_ISSUED;
        fill(slot, id, step, true);
        stats.prefetchIssued(id.layer());
        prefetchedUnused[slot] = true;
        return slot;
    }

    /** The copy into {@code slot} has completed: its expert may be used and, later, evicted. */
    public void markReady(int slot) {
        if (state[slot] != SlotState.FILLING) {
            throw new IllegalStateException("slot " + slot + " is " + state[slot] + ", not FILLING");
        }
        state[slot] = SlotState.READY;
    }

    /**
     * Places {@code id} in an empty slot of its range as part of loading the model, before decoding: READY at once,
     * counted in no statistic (it is not a decode-time copy).
     *
     * @throws IllegalStateException if the expert is resident already or its range has no empty slot
     */
    public void preload(ExpertId id) {
        checkLayer(id);
        if (slotOf.containsKey(id)) throw new IllegalStateException(id + " is already resident");
        int first = layout.firstSlot(id.layer());
        for (int s = first; s < first + layout.slotCount(id.layer()); s++) {
            if (state[s] == SlotState.EMPTY) {
                occupant[s] = id;
                state[s] = SlotState.READY;
                slotOf.put(id, s);
                policy.onFill(s, id, -1, false);
                return;
            }
        }
        throw new IllegalStateException("cannot preload " + id + ": no empty slot left (" + layout.describe() + ")");
    }

    /** Whether {@link #admit} would find a slot for {@code id} now: an empty one of its range, or a READY one not protected. */
    public boolean canAdmit(ExpertId id, Set<ExpertId> protectedSet) {
        checkLayer(id);
        int first = layout.firstSlot(id.layer());
        for (int s = first; s < first + layout.slotCount(id.layer()); s++) {
            if (state[s] == SlotState.EMPTY || (state[s] == SlotState.READY && !protectedSet.contains(occupant[s]))) return true;
        }
        return false;
    }

    /**
     * The slot {@link #admit} would evict for {@code id} now, without evicting it; -1 when an empty slot would be
     * taken instead, or when no slot can be taken.
     */
    public int victimFor(ExpertId id, long step, Set<ExpertId> protectedSet) {
        checkLayer(id);
        int slot = choose(id, step, protectedSet);
        return slot >= 0 && state[slot] == SlotState.READY ? slot : -1;
    }

    /** An empty slot, else the policy's victim (evicted here), else -1. */
    private int findSlot(ExpertId id, long step, Set<ExpertId> protectedSet) {
        int slot = choose(id, step, protectedSet);
        if (slot >= 0 && state[slot] == SlotState.READY) evict(slot);
        return slot;
    }

    /** An empty slot of {@code id}'s range, else the policy's victim among the evictable ones (not evicted), else -1. */
    private int choose(ExpertId id, long step, Set<ExpertId> protectedSet) {
        int first = layout.firstSlot(id.layer());
        int end = first + layout.slotCount(id.layer());
        int count = 0;
        for (int s = first; s < end; s++) {
            if (state[s] == SlotState.EMPTY) return s;
            if (state[s] == SlotState.READY && !protectedSet.contains(occupant[s])) candidates[count++] = s;
        }
        if (count == 0) return -1;
        int victim = policy.chooseVictim(id, step, candidates, count, this);
        if (!isCandidate(victim, count)) {
            throw new IllegalStateException("eviction policy '" + policy.name() + "' chose slot " + victim
                    + ", which is not one of the " + count + " evictable candidates");
        }
        return victim;
    }

    private boolean isCandidate(int slot, int count) {
        for (int i = 0; i < count; i++) {
            if (candidates[i] == slot) return true;
        }
        return false;
    }

    private void evict(int slot) {
        ExpertId old = occupant[slot];
        stats.eviction(old.layer());
        if (prefetchedUnused[slot]) stats.prefetchWasted(old.layer());
        prefetchedUnused[slot] = false;
        slotOf.remove(old);
        occupant[slot] = null;
        state[slot] = SlotState.EMPTY;
        policy.onEvict(slot, old);
    }

    private void fill(int slot, ExpertId id, long step, boolean prefetch) {
        occupant[slot] = id;
        state[slot] = SlotState.FILLING;
        slotOf.put(id, slot);
        stats.copied(id.layer(), expertBytes);
        policy.onFill(slot, id, step, prefetch);
    }

    private void checkLayer(ExpertId id) {
        if (id.layer() >= layout.layers()) {
            throw new IllegalArgumentException(id + ": layer outside 0.." + (layout.layers() - 1));
        }
    }
}
