package dev.lookahead.sched;

import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.FarthestNextUsePolicy;
import dev.lookahead.expert.LruPolicy;
import dev.lookahead.expert.RoutingTrace;
import dev.lookahead.expert.SlotLayout;
import dev.lookahead.expert.Steps;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Eviction while no estimate is followed: per layer, the expert its layer chose least lately goes first. */
class RecentUsesTest {
    static final int LAYERS = 3, EXPERTS = 8, K = 3, TOKENS = 3000;

    @Test
    void anUntrustedEstimatorEvictsTheLeastUsedLatelyAsAnIndependentReferenceDoes() {
        RoutingTrace trace = Traces.skewed(4, LAYERS, EXPERTS, TOKENS);
        PredictedNextUse estimator = new PredictedNextUse(LAYERS, EXPERTS, 0.05);
        estimator.follow(null, false); // no estimate beats LRU: eviction by recent uses
        ExpertCache cache = new ExpertCache(new SlotLayout.PerLayer(LAYERS, K), 1,
                new FarthestNextUsePolicy("untrusted", estimator, LAYERS * K));
        ExpertCache lru = new ExpertCache(new SlotLayout.PerLayer(LAYERS, K), 1, new LruPolicy(LAYERS * K));

        // the reference: per layer, each expert's choices weighted by e^(-decay x age in tokens), and its last use
        double[][] uses = new double[LAYERS][EXPERTS];
        long[][] usedAt = new long[LAYERS][EXPERTS];
        long[][] lastLookup = new long[LAYERS][EXPERTS]; // the lookup number of its last use
        boolean[][] resident = new boolean[LAYERS][EXPERTS];
        int[] held = new int[LAYERS];
        long hits = 0, lruHits = 0, lookups = 0; // lookups also orders the uses of one step, as the cache's recency does
        for (int t = 0; t < TOKENS; t++) {
            for (int l = 0; l < LAYERS; l++) {
                int[] chosen = trace.experts(t, l);
                long step = Steps.of(t, l, LAYERS);
                // as the scheduler's demand does: the routing is observed before the lookups
                estimator.observeRouting(t, l, chosen, chosen.length);
                for (int e : chosen) {
                    uses[l][e] = decayed(uses[l][e], usedAt[l][e], t) + 1;
                    usedAt[l][e] = t;
                }
                Set<ExpertId> protect = Set.of(new ExpertId(l, chosen[0]), new ExpertId(l, chosen[1]));
                for (int e : chosen) {
                    ExpertId id = new ExpertId(l, e);
                    boolean hit = lookUp(cache, id, step, protect);
                    boolean expected = resident[l][e];
                    if (!expected) {
                        if (held[l] == K) {
                            int victim = -1;
                            for (int v = 0; v < EXPERTS; v++) {
                                if (!resident[l][v] || v == chosen[0] || v == chosen[1]) continue;
                                double u = decayed(uses[l][v], usedAt[l][v], t), w = victim < 0 ? 0
                                        : decayed(uses[l][victim], usedAt[l][victim], t);
                                if (victim < 0 || u < w || (u == w && lastLookup[l][v] < lastLookup[l][victim])) victim = v;
                            }
                            resident[l][victim] = false;
                            held[l]--;
                        }
                        resident[l][e] = true;
                        held[l]++;
                    }
                    lastLookup[l][e] = lookups;
                    assertEquals(expected, hit, "token " + t + ", " + id);
                    hits += hit ? 1 : 0;
                    lruHits += lookUp(lru, id, step, protect) ? 1 : 0;
                    lookups++;
                }
            }
        }
        // and on routing with popular experts it keeps them better than LRU does
        assertTrue(hits > lruHits * 1.02, hits + " hits against LRU's " + lruHits + " of " + lookups);
    }

    private static double decayed(double uses, long usedAt, long token) {
        return uses * Math.exp(-PredictedNextUse.USE_DECAY_PER_TOKEN * (token - usedAt));
    }

    private static boolean lookUp(ExpertCache cache, ExpertId id, long step, Set<ExpertId> protect) {
        if (cache.lookup(id, step) != ExpertCache.MISS) return true;
        cache.markReady(cache.admit(id, step, protect));
        return false;
    }
}
