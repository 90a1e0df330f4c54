package dev.lookahead.engine;

import java.util.List;

/**
 * Finds stop strings in streamed text and holds back the tail that could still become one,
 * so a listener never sees part of a stop string.
 */
final class StopStrings {
    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();
    private int emitted;
    private boolean stopped;

    StopStrings(List<String> stops) {
        this.stops = stops;
    }

    /** Appends a piece; returns the text that is now safe to emit ("" if none). */
    String append(String piece) {
        if (stopped) return "";
        text.append(piece);
        int cut = firstStop();
        if (cut >= 0) {
            stopped = true;
            text.setLength(cut);
            return drain(cut);
        }
        return drain(text.length() - longestPendingPrefix());
    }

    /** The held-back tail, at the end of generation. */
    String flush() {
        return drain(text.length());
    }

    boolean stopped() {
        return stopped;
    }

    /** The text so far, without any stop string. */
    String text() {
        return text.toString();
    }

    private String drain(int upTo) {
        if (upTo <= emitted) return "";
        String out = text.substring(emitted, upTo);
        emitted = upTo;
        return out;
    }

    private int firstStop() {
        int best = -1;
        for (String s : stops) {
            int i = text.indexOf(s, Math.max(0, emitted - s.length() + 1));
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }

    /** Length of the longest suffix of the text that is a proper prefix of a stop string. */
    private int longestPendingPrefix() {
        int best = 0;
        for (String s : stops) {
            for (int len = Math.min(s.length() - 1, text.length()); len > best; len--) {
                if (text.substring(text.length() - len).equals(s.substring(0, len))) {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }
}
