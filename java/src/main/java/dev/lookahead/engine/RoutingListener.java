package dev.lookahead.engine;

/** Receives the experts the router chose, per token and layer (for statistics and traces). */
@FunctionalInterface
public interface RoutingListener {
    /**
     * @param position position of the token in the sequence
     * @param layer    decoder layer
     * @param experts  chosen experts, highest weight first (do not keep the array)
     * @param weights  their renormalised gate weights (do not keep the array)
     */
    void onRouting(long position, int layer, int[] experts, float[] weights);
}
