package dev.lookahead.engine;

import dev.lookahead.expert.Expert;

/**
 * Where the forward pass gets the experts the router chose: resident in device memory, or
 * offloaded (copied on demand or speculatively into device slots). The forward pass calls, per
 * MoE layer: {@link #prepare} with the chosen experts, then for each of them in the returned
 * order {@link #acquire}, enqueues its computation, then {@link #release}; in a decode pass it
 * then calls {@link #speculate} and {@link #prefetch}, so speculation is planned on the host while
 * the experts compute.
 */
public interface ExpertSource extends AutoCloseable {
    /**
     * The router chose {@code experts[0 .. count)} (distinct) for layer {@code layer}.
     * Starts whatever copies are missing and returns the order to compute them in (indices into
     * {@code experts}; experts ready now come first, so they compute while copies run).
     *
     * @param step    decode step clock (token * layers + layer), for the eviction policy
     * @param prefill a prefill pass: residency statistics are not counted and missing experts are
     *                streamed through staging slots instead of evicting the cache
     */
    int[] prepare(int layer, int[] experts, int count, long step, boolean prefill);

    /** The expert, usable by work enqueued next on the compute stream (which waits for its copy if needed). */
    Expert acquire(int layer, int expert);

    /** The compute stream's use of the expert is enqueued; its memory may be refilled once that work is done. */
    void release(int layer, int expert);

    /**
     * A decode pass of token id {@code tokenId} begins (decode step {@code token}, before its embedding). Not called
     * on passes whose routing is forced (a replayed routing is not the token's).
     */
    default void beginDecodeToken(long token, int tokenId) {
    }

    /** Whether this source wants the next layer's predicted experts ({@link #prefetch}). */
    default boolean wantsNextLayerPrediction() {
        return false;
    }

    /** Speculatively copies predicted experts of {@code layer}, never evicting {@code keep}'s experts of the current layer. */
    default void prefetch(int layer, int[] predicted, int count, int currentLayer, int[] keep, int keepCount, long step) {
    }

    /** Lookahead heads to evaluate on the device at every decode layer, or null. */
    default DeviceGate gate() {
        return null;
    }

    /**
     * After the experts of a decode layer whose heads were evaluated (see {@link #gate}) and read
     * back are enqueued: hand their predictions to the scheduler.
     */
    default void speculate(int layer, long step) {
    }

    /** A forward pass has finished and its stream is synchronized: collect timings. */
    default void endPass() {
    }

    @Override
    default void close() {
    }
}
