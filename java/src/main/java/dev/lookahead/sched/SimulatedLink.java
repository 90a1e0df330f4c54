package dev.lookahead.sched;

import dev.lookahead.expert.ExpertId;

import java.util.Arrays;

/**
 * The copy engine of replay: the time model of {@code ReplaySimulator}. One host-to-device link carries copies one
 * at a time in submission order; a copy submitted at host time u starts at max(u, end of the previous copy) and
 * takes {@code copyMs}. Host time is this object's clock: the replay advances it to the end of each layer, and
 * {@link #await} advances it to the end of the awaited copy (the host blocks).
 */
public final class SimulatedLink implements CopyEngine {
    private final double copyMs;
    private final double[] readyAt; // per slot: end of the last copy into it
    private double now;
    private double linkFree;
    private long submitted;

    public SimulatedLink(int slots, double copyMs) {
        if (slots <= 0) throw new IllegalArgumentException("slots must be > 0, got " + slots);
        if (!(copyMs >= 0) || Double.isInfinite(copyMs)) throw new IllegalArgumentException("copy time must be >= 0 ms, got " + copyMs);
        this.copyMs = copyMs;
        readyAt = new double[slots];
        Arrays.fill(readyAt, Double.NEGATIVE_INFINITY);
    }

    @Override
    public void submit(ExpertId id, int slot, boolean speculative) {
        linkFree = Math.max(linkFree, now) + copyMs;
        readyAt[slot] = linkFree;
        submitted++;
    }

    @Override
    public boolean isDone(int slot) {
        return readyAt[slot] <= now;
    }

    @Override
    public void await(int slot) {
        now = Math.max(now, readyAt[slot]);
    }

    /** Host time, ms. */
    public double now() {
        return now;
    }

    /** Moves host time forward to {@code t} (no-op if it is in the past). */
    public void advanceTo(double t) {
        now = Math.max(now, t);
    }

    /** When the last copy into {@code slot} ends (negative infinity for a slot never filled). */
    public double readyAt(int slot) {
        return readyAt[slot];
    }

    /** Copies submitted so far. */
    public long submitted() {
        return submitted;
    }
}
