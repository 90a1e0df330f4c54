package dev.lookahead.cli;

import dev.lookahead.util.Progress;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A progress bar on stderr: redrawn in place on a terminal (at most 10 times a second);
 * otherwise a line every 5 seconds and one at the end, so logs stay readable.
 */
final class ProgressBar implements Progress {
    private static final int WIDTH = 30;
    private final PrintStream out;
    private final boolean terminal;
    private String phase = "";
    private String unit = "";
    private long total;
    private long startNanos;
    private long lastDrawNanos;
    private boolean endDrawn;

    ProgressBar(PrintStream out, boolean terminal) {
        this.out = out;
        this.terminal = terminal;
    }

    static ProgressBar stderr() {
        return new ProgressBar(System.err, System.console() != null);
    }

    @Override
    public void start(String phase, long total, String unit) {
        this.phase = phase;
        this.total = Math.max(total, 1);
        this.unit = unit;
        this.startNanos = System.nanoTime();
        this.lastDrawNanos = terminal ? 0 : startNanos;
        this.endDrawn = false;
        update(0);
    }

    @Override
    public void update(long done) {
        if (endDrawn) return;
        endDrawn = done >= total;
        long now = System.nanoTime();
        double fraction = Math.min(1.0, done / (double) total);
        if (terminal) {
            if (done < total && now - lastDrawNanos < 100_000_000L) return;
            lastDrawNanos = now;
            int filled = (int) Math.round(fraction * WIDTH);
            out.print("\r" + phase + " [" + "#".repeat(filled) + " ".repeat(WIDTH - filled) + "] "
                    + describe(done, now));
            out.flush();
        } else if (done >= total || now - lastDrawNanos >= 5_000_000_000L) {
            lastDrawNanos = now;
            out.println(phase + ": " + describe(done, now));
        }
    }

    @Override
    public void finish() {
        update(total);
        if (terminal) out.println();
    }

    private String describe(long done, long now) {
        double seconds = (now - startNanos) / 1e9;
        String amount = unit.equals("B")
                ? String.format(Locale.ROOT, "%.1f/%.1f MiB", done / 1048576.0, total / 1048576.0)
                : done + "/" + total + (unit.isEmpty() ? "" : " " + unit);
        String eta = "";
        if (done > 0 && done < total && seconds > 0.5) {
            eta = String.format(Locale.ROOT, ", %.0f s left", seconds * (total - done) / done);
        }
        return String.format(Locale.ROOT, "%3.0f%% %s (%.1f s%s)", 100.0 * done / total, amount, seconds, eta);
    }
}
