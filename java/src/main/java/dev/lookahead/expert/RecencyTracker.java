package dev.lookahead.expert;

import java.util.Arrays;

/**
 * Per-slot time of last use, ordered by step and, within a step, by the order of the calls: the state LRU needs,
 * and the tie-break of the other policies.
 */
final class RecencyTracker {
    private final long[] lastStep;
    private final long[] lastTick;
    private long tick;

    RecencyTracker(int slots) {
        lastStep = new long[slots];
        lastTick = new long[slots];
        Arrays.fill(lastStep, Long.MIN_VALUE);
    }

    void touch(int slot, long step) {
        lastStep[slot] = step;
        lastTick[slot] = ++tick;
    }

    void forget(int slot) {
        lastStep[slot] = Long.MIN_VALUE;
        lastTick[slot] = 0;
    }

    /** True when slot a was used less recently than slot b. */
    boolean olderThan(int a, int b) {
        if (lastStep[a] != lastStep[b]) return lastStep[a] < lastStep[b];
        return lastTick[a] < lastTick[b];
    }

    long lastStep(int slot) {
        return lastStep[slot];
    }
}
