package dev.lookahead.util;

/**
 * Receives progress of long work (loading, converting, training). The engine reports
 * through this interface; the CLI draws a bar, a Java caller may ignore it.
 */
public interface Progress {
    /** A new phase with `total` units (bytes, steps...) of the given unit name. */
    void start(String phase, long total, String unit);

    /** `done` units of the current phase are complete. */
    void update(long done);

    /** The current phase is complete. */
    void finish();

    Progress NONE = new Progress() {
        @Override public void start(String phase, long total, String unit) { }
        @Override public void update(long done) { }
        @Override public void finish() { }
    };
}
