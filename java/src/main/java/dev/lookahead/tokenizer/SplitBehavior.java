package dev.lookahead.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * What becomes of the matches when a string is split on a pattern (HF
 * {@code SplitDelimiterBehavior}): with "a-b" split on "-", Removed gives [a, b], Isolated
 * [a, -, b], MergedWithPrevious [a-, b], MergedWithNext [a, -b], and Contiguous merges runs of
 * adjacent matches (and of adjacent non-matches) into one piece.
 */
enum SplitBehavior {
    REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS;

    static SplitBehavior fromJson(String name, String where) {
        return switch (name) {
            case "Removed" -> REMOVED;
            case "Isolated" -> ISOLATED;
            case "MergedWithPrevious" -> MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> MERGED_WITH_NEXT;
            case "Contiguous" -> CONTIGUOUS;
            default -> throw new TokenizerException(where + ": split behavior '" + name + "' is not supported");
        };
    }

    /** Applies this behavior to {@code spans} (covering a string in order); empty pieces are dropped. */
    List<TextPattern.Span> apply(List<TextPattern.Span> spans) {
        List<TextPattern.Span> out = new ArrayList<>();
        switch (this) {
            case ISOLATED -> out.addAll(spans);
            case REMOVED -> spans.stream().filter(s -> !s.match()).forEach(out::add);
            case CONTIGUOUS -> {
                Boolean previous = null;
                for (TextPattern.Span s : spans) {
                    if (previous != null && previous == s.match()) {
                        TextPattern.Span last = out.removeLast();
                        out.add(new TextPattern.Span(last.start(), s.end(), false));
                    } else {
                        out.add(s);
                    }
                    previous = s.match();
                }
            }
            case MERGED_WITH_PREVIOUS -> {
                boolean previousMatch = false;
                for (TextPattern.Span s : spans) {
                    // a match joins the piece before it, unless that piece was itself a match
                    if (s.match() && !previousMatch && !out.isEmpty()) {
                        TextPattern.Span last = out.removeLast();
                        out.add(new TextPattern.Span(last.start(), s.end(), false));
                    } else {
                        out.add(s);
                    }
                    previousMatch = s.match();
                }
            }
            case MERGED_WITH_NEXT -> {
                boolean nextMatch = false;
                for (int i = spans.size() - 1; i >= 0; i--) {
                    TextPattern.Span s = spans.get(i);
                    // a match joins the piece after it, unless that piece was itself a match
                    if (s.match() && !nextMatch && !out.isEmpty()) {
                        TextPattern.Span first = out.removeFirst();
                        out.addFirst(new TextPattern.Span(s.start(), first.end(), false));
                    } else {
                        out.addFirst(s);
                    }
                    nextMatch = s.match();
                }
            }
        }
        out.removeIf(s -> s.start() == s.end());
        return out;
    }

    /** Flips match and non-match (the {@code invert} option of Split). */
    static List<TextPattern.Span> invert(List<TextPattern.Span> spans) {
        return spans.stream().map(s -> new TextPattern.Span(s.start(), s.end(), !s.match())).toList();
    }
}
