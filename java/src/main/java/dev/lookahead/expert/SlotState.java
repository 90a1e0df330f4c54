package dev.lookahead.expert;

/** Life cycle of a device slot. */
public enum SlotState {
    /** Holds no expert. */
    EMPTY,
    /** Assigned to an expert whose copy is in flight: its bytes may not be read yet, and it cannot be evicted. */
    FILLING,
    /** Holds its expert's bytes: usable, and evictable unless protected. */
    READY
}
