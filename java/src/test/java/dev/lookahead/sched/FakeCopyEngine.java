package dev.lookahead.sched;

import dev.lookahead.expert.ExpertId;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A scripted copy engine: one FIFO link, each copy takes {@code copyTicks} of a clock the test advances by hand.
 * Records every submission and wait, so tests can check the order the scheduler chose.
 */
final class FakeCopyEngine implements CopyEngine {
    record Submission(ExpertId id, int slot, boolean speculative, long start, long end) {
    }

    private final long copyTicks;
    private final long[] end;
    final List<Submission> submitted = new ArrayList<>();
    final List<Integer> awaited = new ArrayList<>();
    long clock;
    private long linkFree;

    FakeCopyEngine(int slots, long copyTicks) {
        this.copyTicks = copyTicks;
        end = new long[slots];
        Arrays.fill(end, Long.MIN_VALUE);
    }

    @Override
    public void submit(ExpertId id, int slot, boolean speculative) {
        long start = Math.max(clock, linkFree);
        linkFree = start + copyTicks;
        end[slot] = linkFree;
        submitted.add(new Submission(id, slot, speculative, start, linkFree));
    }

    @Override
    public boolean isDone(int slot) {
        return end[slot] <= clock;
    }

    @Override
    public void await(int slot) {
        awaited.add(slot);
        clock = Math.max(clock, end[slot]);
    }

    /** Spare slots for bypassed misses (numbered from {@link #BYPASS_SLOT}); 0: the engine declines every bypass. */
    int spareSlots;
    static final int BYPASS_SLOT = 1000;
    final List<ExpertId> bypassed = new ArrayList<>();

    @Override
    public int bypass(ExpertId id) {
        if (bypassed.size() >= spareSlots) return -1;
        bypassed.add(id);
        linkFree = Math.max(clock, linkFree) + copyTicks;
        return BYPASS_SLOT + bypassed.size() - 1;
    }

    /** Completes every copy submitted so far. */
    void drain() {
        clock = Math.max(clock, linkFree);
    }

    List<ExpertId> ids() {
        return submitted.stream().map(Submission::id).toList();
    }

    List<ExpertId> speculativeIds() {
        return submitted.stream().filter(Submission::speculative).map(Submission::id).toList();
    }
}
