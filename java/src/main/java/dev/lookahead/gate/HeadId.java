package dev.lookahead.gate;

/**
 * One lookahead head: it reads the hidden state of {@code layer} and scores the experts of the
 * layer {@code distance} layers later in decode order (layer l of token t is step t * L + l), so
 * that a distance reaching past the last layer L - 1 predicts a layer of a later token: the head
 * (l, L) predicts layer l of the next token.
 */
public record HeadId(int layer, int distance) implements Comparable<HeadId> {
    public HeadId {
        if (layer < 0) throw new IllegalArgumentException("layer must be >= 0, got " + layer);
        if (distance < 1) throw new IllegalArgumentException("distance must be >= 1, got " + distance);
    }

    /** The step offset of the predicted layer: layer + distance (a layer index when it is below L). */
    public int target() {
        return layer + distance;
    }

    /** The layer whose experts this head predicts, in a model of {@code layers} layers. */
    public int targetLayer(int layers) {
        return (layer + distance) % layers;
    }

    /** Tokens between the source and the predicted layer: 0 within a token, 1 for the next token. */
    public int tokensAhead(int layers) {
        return (layer + distance) / layers;
    }

    /** Its tensor name in a heads file: {@code lookahead.{layer}.{distance}.weight}. */
    public String tensorName() {
        return "lookahead." + layer + "." + distance + ".weight";
    }

    /** Its bias tensor's name: {@code lookahead.{layer}.{distance}.bias}. */
    public String biasName() {
        return "lookahead." + layer + "." + distance + ".bias";
    }

    @Override
    public int compareTo(HeadId o) {
        return layer != o.layer ? Integer.compare(layer, o.layer) : Integer.compare(distance, o.distance);
    }

    @Override
    public String toString() {
        return layer + "->" + target();
    }
}
