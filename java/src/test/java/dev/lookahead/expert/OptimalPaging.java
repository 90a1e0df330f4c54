package dev.lookahead.expert;

import java.util.Arrays;
import java.util.List;

/**
 * Independent reference for the Belady tests: the minimum number of loads, by exhaustive dynamic programming over
 * every cache content, for a sequence of request sets that must each be fully resident at their step, in a fully
 * associative cache of {@code capacity} items (demand loads; voluntary drops allowed). Items are bits of a mask
 * (at most 10 distinct items).
 */
final class OptimalPaging {
    private OptimalPaging() {
    }

    static int minLoads(List<Integer> requests, int items, int capacity) {
        if (items > 10) throw new IllegalArgumentException("too many items for the exhaustive search: " + items);
        final int inf = Integer.MAX_VALUE;
        int[] cost = new int[1 << items];
        Arrays.fill(cost, inf);
        cost[0] = 0;
        for (int req : requests) {
            int[] next = new int[1 << items];
            Arrays.fill(next, inf);
            for (int state = 0; state < cost.length; state++) {
                if (cost[state] == inf) continue;
                int loads = Integer.bitCount(req & ~state);
                int keepable = state & ~req; // items we may keep besides the requested ones
                // Every subset of keepable that fits beside the request.
                for (int sub = keepable; ; sub = (sub - 1) & keepable) {
                    if (Integer.bitCount(sub) + Integer.bitCount(req) <= capacity) {
                        int s = sub | req;
                        next[s] = Math.min(next[s], cost[state] + loads);
                    }
                    if (sub == 0) break;
                }
            }
            cost = next;
        }
        int best = inf;
        for (int c : cost) best = Math.min(best, c);
        return best;
    }
}
