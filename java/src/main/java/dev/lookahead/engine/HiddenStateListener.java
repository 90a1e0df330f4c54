package dev.lookahead.engine;

/**
 * Receives the residual stream entering each layer's MoE block (after the attention block), the
 * hidden state that the router and the lookahead heads read. For tools such as gate alignment;
 * setting a listener adds a device-to-host copy per layer.
 */
@FunctionalInterface
public interface HiddenStateListener {
    /**
     * @param position position of the first row in the sequence
     * @param layer    decoder layer
     * @param hidden   f32 [rows, hidden], row-major (reused: copy what you keep)
     * @param rows     number of rows (tokens) in this pass
     */
    void onHiddenState(long position, int layer, float[] hidden, int rows);
}
