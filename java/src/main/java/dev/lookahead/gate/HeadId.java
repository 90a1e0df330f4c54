package dev.lookahead.gate;

/**
 * One lookahead head: it reads the hidden state of {@code layer} and scores the experts of
 * layer {@code layer + distance}.
 */
public record HeadId(int layer, int distance) implements Comparable<HeadId> {
    public HeadId {
        if (layer < 0) throw new IllegalArgumentException("layer must be >= 0, got " + layer);
        if (distance < 1) throw new IllegalArgumentException("distance must be >= 1, got " + distance);
    }

    /** The layer whose experts this head predicts. */
    public int target() {
        return layer + distance;
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
