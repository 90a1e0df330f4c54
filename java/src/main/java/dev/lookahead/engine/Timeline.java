package dev.lookahead.engine;

import dev.lookahead.bindings.Stream;

/**
 * The instrumentation seam of {@code lookahead profile}: the forward pass and the offloaded experts
 * call it at phase boundaries, and only when one is set (a null check otherwise, so a normal run
 * pays nothing and allocates nothing).
 *
 * <p>A device span is delimited by two events recorded on the stream that runs the work, so it
 * measures when that stream reached each boundary (device time), not when the host enqueued the
 * work. A host span is measured on the host clock. Spans of one track (the host, or one stream)
 * nest: every {@code begin} is closed by an {@code end} of the same span kind, last opened first
 * closed, on the same track.
 */
public interface Timeline {
    /** What a span covers; the track it belongs on is given by the call (host or a stream). */
    enum Span {
        // host track
        /** One generated token: its forward pass(es), sampling and detokenization. */
        TOKEN("token"),
        /** One forwardLast/forwardAll call: all its passes (prefill chunks or one decode step). */
        FORWARD("forward"),
        /** The profiler aligning the device clock to the host's at the start of a forward call. */
        ALIGN("clock alignment (profiler)"),
        /** The host blocked in a stream synchronization that reads the router's choice (or the logits) back. */
        READBACK("read-back wait"),
        /** The host deciding where the chosen experts come from (residency, copies, prefetch). */
        EXPERT_PLAN("expert planning"),
        /** The host in a token's step before its forward call. */
        STEP("step setup (host)"),
        /** The host after the forward pass: sampling, detokenization, stop strings. */
        SAMPLE("sampling + host"),
        // compute stream (an implementation may mirror EMBEDDING, LAYER and LM_HEAD on the host track)
        EMBEDDING("embedding"),
        /** A transformer layer: attention, router, experts. */
        LAYER("layer"),
        /** Norm, q/k/v/o projections, RoPE, KV cache append, attention, residual add. */
        ATTENTION("attention"),
        /** Norm, router matmul, top-k, copy of the choice to the host (plus the next-layer guess). */
        ROUTER("router + read-back"),
        /** The MoE block of a layer: every chosen expert. */
        EXPERTS("experts"),
        /** One expert: its FFN and the weighted add into the residual stream. */
        EXPERT("expert"),
        /** The compute stream waiting for an expert's copy (a stall). */
        COPY_WAIT("copy wait"),
        /** Final norm, LM head, copy of the logits to the host. */
        LM_HEAD("lm head"),
        // copy stream
        /** The copy stream waiting until a slot's previous expert is no longer used by compute. */
        SLOT_WAIT("slot wait"),
        /** A copy the current layer needs now (a miss). */
        COPY_ON_DEMAND("copy on-demand"),
        /** A copy of a predicted expert for a later layer. */
        COPY_SPECULATIVE("copy speculative"),
        /** A prefill copy streamed through a staging slot. */
        COPY_STAGED("copy staged");

        private final String label;

        Span(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    /**
     * A forward call of {@code tokens} tokens at position {@code pos} starts on the compute stream
     * (which is idle: the previous call ended with a synchronization).
     */
    void beginForward(Stream compute, int tokens, long pos);

    /** The forward call has returned its logits (its stream is synchronized). */
    void endForward();

    /** Opens a device span on {@code stream}: the work enqueued there from now on. */
    void begin(Stream stream, Span span, int layer, int expert);

    /** Closes the innermost open span of {@code stream}, which must be of kind {@code span}. */
    void end(Stream stream, Span span);

    /** Opens a host span. */
    void beginHost(Span span, int layer);

    /** Closes the innermost open host span, which must be of kind {@code span}. */
    void endHost(Span span);
}
