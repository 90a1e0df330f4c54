package dev.lookahead.sched;

import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.NextUseEstimator;

import java.util.AbstractSet;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * The experts a copy may not evict, as the {@code Set} {@code ExpertCache} takes, without allocating: explicit members
 * in a flag array (the current layer's chosen experts, the next layer's predicted ones) and, while a speculative
 * copy looks for a slot, every expert whose predicted next use is no farther than the incoming one's (a prefetch
 * must not push out something needed sooner than what it brings).
 *
 * <p>{@link #contains} is what the cache calls; iteration lists the explicit members only (for error messages).
 */
final class ProtectedExperts extends AbstractSet<ExpertId> {
    private final int layers;
    private final int experts;
    private final ExpertId[] ids;
    private final boolean[] member;
    private final int[] list;
    private int size;
    private NextUseEstimator estimator;
    private long limit = -1; // protect experts with predicted distance <= limit; -1: off
    private long step;

    ProtectedExperts(int layers, int experts, ExpertId[] ids) {
        this.layers = layers;
        this.experts = experts;
        this.ids = ids;
        member = new boolean[layers * experts];
        list = new int[layers * experts];
    }

    void add(int layer, int expert) {
        int i = layer * experts + expert;
        if (!member[i]) {
            member[i] = true;
            list[size++] = i;
        }
    }

    @Override
    public void clear() {
        for (int k = 0; k < size; k++) member[list[k]] = false;
        size = 0;
    }

    /** Also protects experts whose distance per {@code estimator} at {@code step} is at most {@code limit}. */
    void protectSooner(NextUseEstimator estimator, long step, long limit) {
        this.estimator = estimator;
        this.step = step;
        this.limit = limit;
    }

    void stopProtectingSooner() {
        limit = -1;
    }

    @Override
    public boolean contains(Object o) {
        if (!(o instanceof ExpertId id) || id.layer() >= layers || id.expert() >= experts) return false;
        if (member[id.layer() * experts + id.expert()]) return true;
        return limit >= 0 && estimator.nextUseDistance(id, step) <= limit;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Iterator<ExpertId> iterator() {
        int[] snapshot = Arrays.copyOf(list, size);
        return new Iterator<>() {
            int k;

            @Override
            public boolean hasNext() {
                return k < snapshot.length;
            }

            @Override
            public ExpertId next() {
                if (k >= snapshot.length) throw new NoSuchElementException();
                return ids[snapshot[k++]];
            }
        };
    }
}
