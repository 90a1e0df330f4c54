package dev.lookahead.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The arithmetic of a repeated bench: which order each round runs the policies in, and how the rounds'
 * measurements are summarised. A shared machine's speed drifts during a sweep; rotating the order keeps the drift
 * from always favouring the same policy, and comparing two policies within each round before taking the median
 * cancels the drift between rounds.
 */
public final class Rounds {
    private Rounds() {
    }

    /**
     * The order of round {@code round}: {@code items} rotated to start at index {@code round mod size}, so round 0 is
     * {@code items} itself and every item leads once every {@code size} rounds.
     */
    public static <T> List<T> rotated(List<T> items, int round) {
        if (round < 0) throw new IllegalArgumentException("round must be >= 0, got " + round);
        int n = items.size();
        List<T> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(items.get((round + i) % n));
        return out;
    }

    /** The median: the middle value of an odd count, the mean of the two middle values of an even count. */
    public static double median(double[] values) {
        if (values.length == 0) throw new IllegalArgumentException("median of no values");
        double[] s = values.clone();
        Arrays.sort(s);
        int mid = s.length / 2;
        return s.length % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
    }

    /** {@code a[r] / b[r]} for every round r: a measurement relative to another one taken in the same round. */
    public static double[] perRoundRatios(double[] a, double[] b) {
        if (a.length != b.length || a.length == 0) {
            throw new IllegalArgumentException("per-round ratios need the same number (> 0) of rounds, got "
                    + a.length + " and " + b.length);
        }
        double[] out = new double[a.length];
        for (int r = 0; r < a.length; r++) out[r] = a[r] / b[r];
        return out;
    }

    /**
     * A summary of per-round values: their median and range.
     *
     * @param rounds how many rounds it summarises
     */
    public record Spread(double median, double min, double max, int rounds) {
        public static Spread of(double[] values) {
            return new Spread(Rounds.median(values), Arrays.stream(values).min().orElseThrow(),
                    Arrays.stream(values).max().orElseThrow(), values.length);
        }
    }
}
