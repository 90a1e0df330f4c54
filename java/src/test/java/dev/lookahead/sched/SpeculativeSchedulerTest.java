package dev.lookahead.sched;

import dev.lookahead.expert.ExpertCache;
import dev.lookahead.expert.ExpertId;
import dev.lookahead.expert.ResidencyPolicies;
import dev.lookahead.expert.SlotLayout;
import dev.lookahead.expert.SlotState;
import dev.lookahead.expert.EvictionPolicies;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpeculativeSchedulerTest {
    private static final int LAYERS = 4;
    private static final int EXPERTS = 8;
    private static final long BYTES = 100;

    /** horizon 3, minP 0.3, gamma 0.5, 2 per target layer, window 8 / 4 samples, target 0.5, throttled 0.95, probe 8. */
    private static SchedulerConfig config(int budgetExperts) {
        return new SchedulerConfig(3, budgetExperts * BYTES, 0.3, 0.5, 2, 8, 4, 0.5, 0.95, 0.05, 8);
    }

    /** A scheduler over a fake copy engine whose copies take 10 ticks of a clock the test advances. */
    static final class Rig {
        final PredictedNextUse estimator;
        final ExpertCache cache;
        final FakeCopyEngine engine;
        final SpeculativeScheduler scheduler;
        final LayerPredictions predictions = new LayerPredictions(LAYERS, EXPERTS, 3);
        final int[] slots = new int[2];

        Rig(String policy, int slotsPerLayer, SchedulerConfig config) {
            this(ResidencyPolicies.byName(policy).layout(LAYERS, EXPERTS, slotsPerLayer), config);
        }

        Rig(SlotLayout layout, SchedulerConfig config) {
            estimator = new PredictedNextUse(LAYERS, EXPERTS, config.farProbability());
            cache = new ExpertCache(layout, BYTES, EvictionPolicies.create(EvictionPolicies.PREDICTED, layout, estimator));
            engine = new FakeCopyEngine(layout.totalSlots(), 10);
            scheduler = new SpeculativeScheduler(cache, estimator, engine, config, EXPERTS);
        }

        int demand(long token, int layer, int... chosen) {
            return scheduler.demand(token, layer, chosen, chosen.length, slots);
        }

        /** Predictions made at (token, layer): triples {distance, expert, probability}. */
        void speculate(long token, int layer, double[]... entries) {
            predictions.reset(token, layer, 3);
            for (double[] e : entries) predictions.set((int) e[0], (int) e[1], (float) e[2]);
            scheduler.speculate(predictions);
        }

        /** The next-token head read at (token, layer): experts a and b with pa and pb, every other one with rest. */
        void nextTokenWants(long token, int layer, float rest, int a, float pa, int b, float pb) {
            for (int e = 0; e < EXPERTS; e++) scheduler.predictTokensAhead(token, 1, layer, e, e == a ? pa : e == b ? pb : rest);
        }

        boolean resident(int layer, int expert) {
            return cache.contains(new ExpertId(layer, expert));
        }
    }

    private static double[] p(int distance, int expert, double probability) {
        return new double[] {distance, expert, probability};
    }

    private static ExpertId id(int layer, int expert) {
        return new ExpertId(layer, expert);
    }

    @Test
    void candidatesRankByProbabilityDiscountedByDistance() {
        // gamma 0.5: scores 0.6, 0.9 * 0.5 = 0.45, 0.7 * 0.25 = 0.175
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(3));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.speculate(0, 0, p(2, 5, 0.9), p(3, 1, 0.7), p(1, 3, 0.6));
        assertEquals(List.of(id(1, 3), id(2, 5), id(3, 1)), r.engine.speculativeIds());

        // without the discount, probability alone decides
        Rig flat = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(3).withDistanceDiscount(1.0));
        flat.demand(0, 0, 0, 1);
        flat.engine.drain();
        flat.speculate(0, 0, p(2, 5, 0.9), p(3, 1, 0.7), p(1, 3, 0.6));
        assertEquals(List.of(id(2, 5), id(3, 1), id(1, 3)), flat.engine.speculativeIds());

        // below minProbability nothing is copied, and resident experts are not candidates
        Rig low = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(3));
        low.demand(0, 0, 0, 1);
        low.demand(0, 1, 2, 3);
        low.engine.drain();
        low.demand(1, 0, 0, 1);
        low.speculate(1, 0, p(1, 6, 0.2), p(1, 2, 0.9));
        assertEquals(List.of(), low.engine.speculativeIds());
    }

    @Test
    void bytesInFlightStayWithinTheBudget() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(2).withDistanceDiscount(1.0));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.speculate(0, 0, p(1, 3, 0.9), p(1, 4, 0.8), p(2, 5, 0.7), p(2, 6, 0.6));
        assertEquals(List.of(id(1, 3), id(1, 4)), r.engine.speculativeIds());
        assertEquals(2 * BYTES, r.scheduler.inFlightBytes());
        assertEquals(2, r.scheduler.queuedCandidates());

        // one copy completes: one more fits
        r.engine.clock += 10;
        r.demand(0, 1, 3, 4);
        r.speculate(0, 1, p(1, 5, 0.7), p(1, 6, 0.6));
        assertEquals(List.of(id(1, 3), id(1, 4), id(2, 5)), r.engine.speculativeIds());
        assertEquals(2 * BYTES, r.scheduler.inFlightBytes());

        // demand copies count too: two misses in flight leave no room for speculation
        Rig d = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(2));
        d.demand(0, 0, 0, 1);
        d.speculate(0, 0, p(1, 3, 0.9));
        assertEquals(List.of(), d.engine.speculativeIds());
        assertEquals(1, d.scheduler.queuedCandidates());

        // budget 0 disables speculation
        Rig none = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(0));
        none.demand(0, 0, 0, 1);
        none.engine.drain();
        none.speculate(0, 0, p(1, 3, 1.0));
        assertEquals(0, none.scheduler.stats().speculativeIssued());
    }

    @Test
    void demandMissesJumpQueuedSpeculationButDoNotPreemptARunningCopy() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(1).withDistanceDiscount(1.0));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.speculate(0, 0, p(1, 3, 0.9), p(2, 4, 0.8), p(2, 5, 0.7));
        assertEquals(2, r.scheduler.queuedCandidates());
        // layer 1 chooses other experts while L1/E3 is still being copied
        int misses = r.demand(0, 1, 6, 7);
        assertEquals(2, misses);
        List<FakeCopyEngine.Submission> s = r.engine.submitted;
        assertEquals(List.of(id(0, 0), id(0, 1), id(1, 3), id(1, 6), id(1, 7)), r.engine.ids());
        assertTrue(s.get(2).speculative() && !s.get(3).speculative() && !s.get(4).speculative());
        // the running speculative copy was not cancelled: the misses queue behind it on the link, and no more
        assertEquals(s.get(2).end(), s.get(3).start());
        // the queued speculative copies were not started ahead of the misses
        assertEquals(2, r.scheduler.queuedCandidates());
        assertEquals(1, r.scheduler.stats().speculativeWasted()); // L1/E3 was not chosen
        // once the link has room, the newest predictions go next
        r.engine.drain();
        r.speculate(0, 1, p(1, 4, 0.8));
        assertEquals(id(2, 4), r.engine.submitted.getLast().id());
        assertTrue(r.engine.submitted.getLast().speculative());
        assertEquals(2, r.scheduler.stats().candidatesUnissued()); // L2/E4 and L2/E5 of the older batch were replaced
    }

    @Test
    void speculationNeverEvictsTheNextLayersPredictedExperts() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 2, config(4).withDistanceDiscount(1.0));
        r.demand(0, 0, 0, 1);
        r.demand(0, 1, 0, 1);
        r.engine.drain();
        r.demand(1, 0, 0, 1);
        // next layer: E0 and E2 are its top-2 predicted (protected); E3 too, but less likely
        r.speculate(1, 0, p(1, 0, 0.9), p(1, 2, 0.8), p(1, 3, 0.75));
        assertTrue(r.resident(1, 0), "protected expert of the next layer was evicted");
        assertTrue(r.resident(1, 2));
        assertFalse(r.resident(1, 1), "the unpredicted expert is the victim");
        assertFalse(r.resident(1, 3), "no slot was free for the third: E0 protected, E2 in flight");
        assertEquals(1, r.scheduler.stats().noSlot());
    }

    @Test
    void speculationNeverEvictsAnExpertPredictedSooner() {
        // layer 2 holds E4 and E5, both predicted more likely (so sooner) than the candidate E6
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 2, config(4));
        r.demand(0, 0, 0, 1);
        r.demand(0, 1, 0, 1);
        r.demand(0, 2, 4, 5);
        r.engine.drain();
        r.demand(1, 0, 0, 1);
        r.speculate(1, 0, p(2, 4, 0.9), p(2, 5, 0.85), p(2, 6, 0.7));
        assertTrue(r.resident(2, 4) && r.resident(2, 5) && !r.resident(2, 6));
        assertEquals(0, r.scheduler.stats().speculativeIssued());
        // when E5 is unlikely, it makes room
        r.demand(1, 1, 0, 1);
        r.speculate(1, 1, p(1, 4, 0.9), p(1, 5, 0.2), p(1, 6, 0.7));
        assertTrue(r.resident(2, 4) && r.resident(2, 6) && !r.resident(2, 5));
    }

    @Test
    void inAPoolTheCurrentLayersExpertsAreNeverEvicted() {
        Rig r = new Rig(new SlotLayout.GlobalPool(LAYERS, 4), config(4).withDistanceDiscount(1.0));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.speculate(0, 0, p(1, 2, 0.9), p(1, 3, 0.9), p(2, 4, 0.8));
        assertTrue(r.resident(0, 0) && r.resident(0, 1) && r.resident(1, 2) && r.resident(1, 3));
        assertFalse(r.resident(2, 4));
        assertEquals(1, r.scheduler.stats().noSlot());
        // a demand miss of layer 1 evicts a layer-0 expert (predicted nowhere), never a chosen or in-flight one
        r.engine.drain();
        r.demand(0, 1, 2, 5);
        assertTrue(r.resident(1, 2) && r.resident(1, 5) && r.resident(1, 3));
        assertEquals(1, (r.resident(0, 0) ? 1 : 0) + (r.resident(0, 1) ? 1 : 0));
    }

    @Test
    void inAPoolTheNextLayersPredictedExpertsAreKeptEvenWhenUnlikely() {
        // The pool holds L0/E0, L0/E1, L1/E2, L1/E3. At layer 0 of token 1, layer 1's top-2 are E2 and E3 at only
        // p = 0.3 (distance ~4), while L2/E4 is predicted at 0.9 (distance ~3): by predicted distance alone E2 or E3
        // would make room; as the next layer's experts they stay.
        Rig r = new Rig(new SlotLayout.GlobalPool(LAYERS, 4), config(4));
        r.demand(0, 0, 0, 1);
        r.demand(0, 1, 2, 3);
        r.engine.drain();
        r.demand(1, 0, 0, 1);
        r.speculate(1, 0, p(1, 2, 0.3), p(1, 3, 0.3), p(2, 4, 0.9));
        assertTrue(r.resident(1, 2) && r.resident(1, 3) && r.resident(0, 0) && r.resident(0, 1));
        assertFalse(r.resident(2, 4));
        assertEquals(1, r.scheduler.stats().noSlot());
    }

    @Test
    void aMissEvictsTheResidentExpertTheNextTokenIsLeastLikelyToWant() {
        // Layer 0 holds E0, E1 (k = 2, speculation off). Token 1 used E1 last, so LRU would evict E0. The next-token
        // head, read at layer 0 of token 2 before its demand, says token 3 wants E0 (p = 0.6) and not E1 (p = 0.1):
        // the miss for E2 must evict E1.
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 2, config(0));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.demand(1, 0, 1);
        r.nextTokenWants(2, 0, 0.05f, 0, 0.6f, 1, 0.1f);
        r.demand(2, 0, 2);
        assertTrue(r.resident(0, 0) && r.resident(0, 2));
        assertFalse(r.resident(0, 1));
    }

    @Test
    void aMissWhoseExpertIsWantedLaterThanTheVictimIsServedOutsideTheCache() {
        // Layer 0 holds E0, E1 (k = 2). The next token wants E0 (0.6) and E1 (0.5) more than E2 (0.1): the miss for E2
        // would evict E1, whose next use is nearer than E2's, so E2 bypasses the cache when the engine has a spare slot.
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 2, config(0));
        r.engine.spareSlots = 1;
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.nextTokenWants(1, 0, 0.1f, 0, 0.6f, 1, 0.5f);
        assertEquals(1, r.demand(1, 0, 2), "still a miss");
        assertEquals(FakeCopyEngine.BYPASS_SLOT, r.slots[0]);
        assertEquals(List.of(id(0, 2)), r.engine.bypassed);
        assertTrue(r.resident(0, 0) && r.resident(0, 1), "nothing evicted");
        assertFalse(r.resident(0, 2));
        assertEquals(1, r.scheduler.stats().bypasses());
        assertEquals(3, r.cache.stats().misses(), "two cold misses, and the bypass counts as a miss");
        // the engine has no spare slot left: the next such miss is admitted as usual (evicting E1, the farther one)
        r.nextTokenWants(2, 0, 0.1f, 0, 0.6f, 1, 0.5f);
        r.demand(2, 0, 3);
        assertTrue(r.resident(0, 0) && r.resident(0, 3));
        assertFalse(r.resident(0, 1));
        assertEquals(1, r.scheduler.stats().bypasses());
    }

    @Test
    void aMissWantedSoonerThanTheVictimOrAsSoonIsAdmitted() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 2, config(0));
        r.engine.spareSlots = 4;
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.nextTokenWants(1, 0, 0.1f, 2, 0.7f, 0, 0.6f);
        r.demand(1, 0, 2);                                         // E2 (0.7) is wanted sooner than E1 (0.1)
        assertTrue(r.resident(0, 2) && r.resident(0, 0));
        r.engine.drain();
        r.demand(2, 0, 5);                                         // no predictions live: both far, a tie: admitted
        assertTrue(r.resident(0, 5));
        assertEquals(0, r.scheduler.stats().bypasses());
        assertEquals(List.of(), r.engine.bypassed);
    }

    @Test
    void withoutNextTokenPredictionsTheSameMissEvictsTheLeastRecentlyUsed() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 2, config(0));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.demand(1, 0, 1);
        r.demand(2, 0, 2);
        assertTrue(r.resident(0, 1) && r.resident(0, 2));
        assertFalse(r.resident(0, 0));
    }

    @Test
    void aNextTokenPredictionGoesStaleOnceItsTokenHasPassedThatLayer() {
        PredictedNextUse u = new PredictedNextUse(LAYERS, EXPERTS, 0.05);
        u.predictTokensAhead(5, 1, 2, 3, 0.5f);                         // layer 2 of token 6 = step 26
        assertEquals(8, u.nextUseDistance(id(2, 3), 22));          // ceil((26 - 22) / 0.5)
        assertEquals(PredictedNextUse.NEVER, u.nextUseDistance(id(2, 3), 26));
        u.predictTokensAhead(5, 1, 2, 4, 0.01f);                        // below the far threshold
        assertEquals(PredictedNextUse.NEVER, u.nextUseDistance(id(2, 4), 22));
        assertThrows(IllegalArgumentException.class, () -> u.predictTokensAhead(0, 1, LAYERS, 0, 0.5f));
        assertThrows(IllegalArgumentException.class, () -> u.predictTokensAhead(0, 1, 0, 0, 1.5f));
    }

    @Test
    void aTwoTokenPredictionAddsTheChanceThatTheTokenAfterTheNextWantsTheExpert() {
        PredictedNextUse u = new PredictedNextUse(LAYERS, EXPERTS, 0.05);
        u.predictTokensAhead(5, 1, 2, 3, 0.5f);                    // layer 2 of token 6 = step 26
        u.predictTokensAhead(5, 2, 2, 3, 0.5f);                    // layer 2 of token 7 = step 30
        assertEquals(6, u.nextUseDistance(id(2, 3), 22));          // ceil(4 / (1 - 0.5 * 0.5))
        assertEquals(8, u.nextUseDistance(id(2, 3), 26));          // token 6 passed: ceil((30 - 26) / 0.5)
        assertEquals(PredictedNextUse.NEVER, u.nextUseDistance(id(2, 3), 30));
        u.predictTokensAhead(5, 2, 2, 4, 0.3f);                    // only two tokens ahead: ceil(8 / 0.3)
        assertEquals(27, u.nextUseDistance(id(2, 4), 22));
        u.predictTokensAhead(5, 1, 2, 5, 0.5f);                         // only the next token: as before
        assertEquals(8, u.nextUseDistance(id(2, 5), 22));
        assertThrows(IllegalArgumentException.class, () -> u.predictTokensAhead(5, 3, 2, 3, 0.5f));
    }

    @Test
    void withinTokenAndNextTokenPredictionsLiveSideBySideAndTheNearerCounts() {
        PredictedNextUse u = new PredictedNextUse(LAYERS, EXPERTS, 0.05);
        // at layer 0 of token 5 (step 20): layer 2 of token 6 (step 26) will want E3 with p = 0.5 ...
        u.predictTokensAhead(5, 1, 2, 3, 0.5f);
        // ... and layer 2 of this token (step 22) wants it with p = 0.2 (within-token, distance 2)
        LayerPredictions p = new LayerPredictions(LAYERS, EXPERTS, 3);
        p.reset(5, 0, 3);
        p.set(2, 3, 0.2f);
        u.update(p, 3);
        assertEquals(10, u.nextUseDistance(id(2, 3), 20));         // min(ceil(2 / 0.2), ceil(6 / 0.5)) = 10
        assertEquals(0.2f, u.probability(id(2, 3), 20));           // the within-token probability
        // once layer 2 of token 5 has run, the next-token estimate remains
        assertEquals(4, u.nextUseDistance(id(2, 3), 24));          // ceil((26 - 24) / 0.5)
    }

    @Test
    void aMissWaitsForInFlightCopiesWhenEverySlotIsFilling() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 2, config(2));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.speculate(0, 0, p(1, 2, 0.9), p(1, 3, 0.9));
        assertEquals(SlotState.FILLING, r.cache.state(r.cache.slotOf(id(1, 2))));
        r.demand(0, 1, 4, 5);
        assertFalse(r.engine.awaited.isEmpty());
        assertTrue(r.scheduler.stats().awaits() >= 1);
        assertTrue(r.resident(1, 4) && r.resident(1, 5));
        assertEquals(2, r.scheduler.stats().speculativeWasted());
    }

    @Test
    void usefulAndWastedCopiesAreCountedWhenTheirLayerRuns() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(2));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.speculate(0, 0, p(1, 3, 0.9), p(2, 4, 0.9));
        r.engine.drain();
        r.demand(0, 1, 3, 0);
        r.demand(0, 2, 0, 1);
        SchedulerStats s = r.scheduler.stats();
        assertEquals(2, s.speculativeIssued());
        assertEquals(1, s.speculativeUseful());
        assertEquals(1, s.speculativeWasted());
        assertEquals(BYTES, s.usefulBytes());
        assertEquals(BYTES, s.wastedBytes());
        assertEquals(0.5, s.recall());
        assertEquals(0.5, r.scheduler.measuredRecall());
        assertEquals(1, r.cache.stats().hits(1));
        assertEquals(5, s.demandCopies()); // 2 at layer 0, L1/E0, 2 at layer 2
    }

    @Test
    void throttlesWhenMeasuredRecallFallsAndRecoversThroughProbes() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(8));
        int issuedWhileThrottled = 0;
        int throttledSteps = 0;
        long step = 0;
        // phase 1: every prediction is wrong (layer l+1 always chooses E0, E1)
        for (int t = 0; t < 12; t++) {
            for (int l = 0; l < LAYERS; l++, step++) {
                r.demand(t, l, 0, 1);
                r.engine.drain();
                long before = r.scheduler.stats().speculativeIssued();
                boolean throttled = r.scheduler.throttled();
                if (l + 1 < LAYERS) r.speculate(t, l, p(1, 2 + (int) (step % 6), 0.8));
                if (throttled) {
                    throttledSteps++;
                    issuedWhileThrottled += (int) (r.scheduler.stats().speculativeIssued() - before);
                }
            }
        }
        assertTrue(r.scheduler.throttled());
        assertTrue(r.scheduler.measuredRecall() < 0.5);
        assertTrue(throttledSteps >= 30, "throttled for " + throttledSteps + " steps");
        // while throttled, only probes go out: one per probe interval (8 steps)
        assertTrue(issuedWhileThrottled >= 2 && issuedWhileThrottled <= throttledSteps / 8 + 1,
                issuedWhileThrottled + " copies in " + throttledSteps + " throttled steps");
        assertEquals(issuedWhileThrottled, r.scheduler.stats().probes());

        // phase 2: predictions become right; the probes refill the window and the throttle lifts
        // (every layer of token t chooses E0 and E(2 + t % 6), which 4 slots per layer no longer hold)
        for (int t = 12; t < 40; t++) {
            for (int l = 0; l < LAYERS; l++) {
                r.demand(t, l, 0, 2 + t % 6);
                r.engine.drain();
                if (l + 1 < LAYERS) r.speculate(t, l, p(1, 2 + t % 6, 0.8));
            }
        }
        assertFalse(r.scheduler.throttled());
        assertTrue(r.scheduler.measuredRecall() >= 0.5, "recall " + r.scheduler.measuredRecall());
    }

    @Test
    void stalePredictionsAreDropped() {
        // a queued candidate for a layer that has run is dropped, never copied later
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(1).withDistanceDiscount(1.0));
        r.demand(0, 0, 0, 1);
        r.engine.drain();
        r.speculate(0, 0, p(1, 3, 0.9), p(2, 4, 0.8));
        r.demand(0, 1, 3, 5);
        r.engine.drain();
        r.demand(0, 2, 0, 1); // no predictions arrived at layer 1
        assertEquals(0, r.scheduler.queuedCandidates());
        assertEquals(1, r.scheduler.stats().candidatesStale());
        r.speculate(0, 2);
        assertEquals(List.of(id(1, 3)), r.engine.speculativeIds());

        // a batch older than one already taken is dropped whole
        r.speculate(0, 1, p(2, 6, 1.0));
        assertEquals(1, r.scheduler.stats().staleBatches());
        assertEquals(List.of(id(1, 3)), r.engine.speculativeIds());

        // a late batch: entries for layers already computed are dropped, later ones used
        Rig late = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(4));
        late.demand(0, 0, 0, 1);
        late.demand(0, 1, 0, 1);
        late.demand(0, 2, 0, 1);
        late.engine.drain();
        late.speculate(0, 0, p(1, 3, 0.9), p(2, 4, 0.9), p(3, 5, 0.9));
        assertEquals(List.of(id(3, 5)), late.engine.speculativeIds());
        assertEquals(2, late.scheduler.stats().candidatesStale());
    }

    @Test
    void callsOutOfDecodeOrderAreRejected() {
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(1));
        r.demand(0, 1, 0, 1);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> r.demand(0, 1, 0, 1));
        assertTrue(e.getMessage().contains("decode order"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> r.speculate(0, 2, p(1, 3, 0.9)));
        assertTrue(e.getMessage().contains("before that layer's demand"), e.getMessage());
        LayerPredictions wrong = new LayerPredictions(LAYERS + 1, EXPERTS, 3);
        wrong.reset(0, 0, 3);
        assertThrows(IllegalArgumentException.class, () -> r.scheduler.speculate(wrong));
    }

    @Test
    void steadyStateDecisionsAllocateNothing() {
        // all hits, all candidates resident: the per-layer work of a warm cache
        Rig r = new Rig(ResidencyPolicies.LOOKAHEAD, 4, config(2));
        for (int t = 0; t < 2; t++) {
            for (int l = 0; l < LAYERS; l++) {
                r.demand(t, l, 0, 1);
                r.engine.drain();
            }
        }
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().threadId();
        int[] chosen = {0, 1};
        long token = 2;
        for (int round = 0; round < 2; round++) { // the first round warms up (class init, JIT)
            long before = mx.getThreadAllocatedBytes(tid);
            for (int i = 0; i < 5_000; i++, token++) {
                for (int l = 0; l < LAYERS; l++) {
                    r.scheduler.demand(token, l, chosen, 2, r.slots);
                    if (l + 1 < LAYERS) {
                        int h = r.predictions.reset(token, l, 3);
                        for (int d = 1; d <= h; d++) {
                            r.predictions.set(d, 0, 0.9f);
                            r.predictions.set(d, 1, 0.8f);
                        }
                        r.scheduler.speculate(r.predictions);
                    }
                }
            }
            long allocated = mx.getThreadAllocatedBytes(tid) - before;
            if (round == 1) assertTrue(allocated < 20_000, allocated + " bytes allocated in 20000 layer steps");
        }
        assertEquals(0, r.scheduler.stats().speculativeIssued());
    }
}
