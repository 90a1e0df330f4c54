package dev.lookahead.sched;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The staging planner with a recording sink: targets, chunking, buffers and the measured window budgets. */
class StagedPrefetchTest {
    static final int LAYERS = 4, EXPERTS = 8;
    static final long BLOB = 4096;
    /** 1 byte per microsecond: a window of w ms carries 1000 * w bytes at full share. */
    static final double LINK = 1e6;
    static final StagedPrefetch.Config FULL = new StagedPrefetch.Config(0.2, 1.0, 1.0, 2 * BLOB, 256, 0, 1, 1.0);

    record Chunk(int buffer, int layer, int expert, long offset, long bytes) { }

    static final class Sink implements StagedPrefetch.ChunkSink {
        final List<Chunk> chunks = new ArrayList<>();

        @Override
        public void copy(int buffer, int layer, int expert, long offset, long bytes) {
            chunks.add(new Chunk(buffer, layer, expert, offset, bytes));
        }
    }

    static StagedPrefetch planner(int buffers) {
        return new StagedPrefetch(LAYERS, EXPERTS, buffers, BLOB, LINK, FULL);
    }

    /** Gives every layer's window {@code millis} (bytes = 1000 * millis at this link). */
    static void windows(StagedPrefetch s, double millis) {
        for (int l = 0; l < LAYERS; l++) s.windowMeasured(l, millis, 0, 0);
    }

    @Test
    void budgetIsTheShareOfTheSmoothedWindowAtTheLinkRateCapped() {
        StagedPrefetch s = new StagedPrefetch(LAYERS, EXPERTS, 2, BLOB, LINK, new StagedPrefetch.Config(0.2, 0.5, 0.25, 2 * BLOB, 256, 0, 1, 1.0));
        assertEquals(0, s.windowBudget(1), "nothing is staged before a window was measured");
        s.windowMeasured(1, 2.0, 0, 0);                 // first measurement taken as is
        assertEquals(2.0, s.windowMillis(1), 1e-12);
        assertEquals(1000, s.windowBudget(1));          // 0.5 * 2 ms * 1000 B/ms
        s.windowMeasured(1, 6.0, 0, 0);                 // 2 + 0.25 * (6 - 2) = 3 ms
        assertEquals(3.0, s.windowMillis(1), 1e-12);
        assertEquals(1500, s.windowBudget(1));
        s.windowMeasured(1, -9.0, 0, 0);                // the link was busy at the demand: 3 - 3 = 0 ms
        assertEquals(0, s.windowBudget(1));
        assertEquals(1, s.stats().windowsOverrun);
        s.windowMeasured(2, 1e6, 0, 0);
        assertEquals(2 * BLOB, s.windowBudget(2), "capped");
        assertThrows(IllegalArgumentException.class, () -> s.windowMeasured(0, Double.NaN, 0, 0));
    }

    @Test
    void windowTimeSplitsIntoStagedIdleBelowOrBeyondTheBudgetAndTimePastTheWindow() {
        StagedPrefetch s = planner(2); // 1000 bytes per ms
        s.windowMeasured(0, 2.0, 1000, 1500);           // 1 ms staged of a 1.5 ms budget in 2 ms
        StagedPrefetch.Stats st = s.stats();
        assertEquals(2_000_000, st.windowNanos);
        assertEquals(500_000, st.idleBelowBudgetNanos, "the budget had room for 0.5 ms more");
        assertEquals(500_000, st.idleBeyondBudgetNanos, "the window outlasted its 1.5 ms budget by 0.5 ms");
        assertEquals(0, st.pastWindowNanos);
        s.windowMeasured(1, 0.5, 1000, 1000);           // 1 ms staged into a 0.5 ms window
        assertEquals(500_000, st.pastWindowNanos);
        s.windowMeasured(2, -1.0, 500, 500);            // the link was busy at the demand: all 0.5 ms ran past it
        assertEquals(1_000_000, st.pastWindowNanos);
        assertEquals(2_500_000, st.windowNanos);
        s.windowMeasured(3, 2.0, 0, 1000);              // throttled: nothing planned of a 1 ms budget
        assertEquals(1_500_000, st.idleBelowBudgetNanos);
        assertEquals(1_500_000, st.idleBeyondBudgetNanos);
        assertThrows(IllegalArgumentException.class, () -> s.windowMeasured(0, 1.0, -1, 0));
    }

    @Test
    void windowTimeIsStagedOrIdleAndStagedTimeIsInsideOrPastTheWindow() {
        java.util.Random random = new java.util.Random(7);
        for (int i = 0; i < 1000; i++) {
            StagedPrefetch s = planner(2);
            double millis = random.nextDouble() * 4 - 1;
            long planned = random.nextInt(3000), budget = random.nextInt(3000);
            s.windowMeasured(0, millis, planned, budget);
            StagedPrefetch.Stats st = s.stats();
            double length = Math.max(0, millis), plannedMs = planned / 1000.0;
            double idle = (st.idleBelowBudgetNanos + st.idleBeyondBudgetNanos) / 1e6;
            assertEquals(length, Math.min(length, plannedMs) + idle, 2e-6, "window = staged inside it + idle");
            assertEquals(plannedMs, Math.min(length, plannedMs) + st.pastWindowNanos / 1e6, 2e-6, "staged = inside + past");
            assertTrue(st.idleBelowBudgetNanos >= 0 && st.idleBeyondBudgetNanos >= 0 && st.pastWindowNanos >= 0);
        }
    }

    @Test
    void stagesTheLikeliestNonResidentExpertsInAlignedChunksWithinTheBudget() {
        StagedPrefetch s = planner(2);
        windows(s, 5.0);                                // 5000 bytes per window
        s.beginStep(0);                                 // token 0, layer 0
        s.predict(2, 2, 3, 0.9f);                       // layer 2 of this token
        s.predict(1, 1, 5, 0.6f);
        s.predict(1, 1, 6, 0.1f);                       // below 0.2: never staged
        s.predict(3, 3, 7, 0.95f);                      // resident (below): skipped
        Sink sink = new Sink();
        long handed = s.plan(i -> i == 3 * EXPERTS + 7, sink);
        // 0.9 first: its whole blob (4096), then 0.6 gets the rest of 5000, cut down to 256-byte alignment
        assertEquals(List.of(new Chunk(0, 2, 3, 0, BLOB), new Chunk(1, 1, 5, 0, 768)), sink.chunks);
        assertEquals(BLOB + 768, handed);
        assertEquals(2, s.stats().started);

        // layer 1 ran (its demand did not want expert 5): that buffer is free again; layer 2's target is complete
        s.beginStep(1);
        s.predict(2, 2, 4, 0.5f);
        sink.chunks.clear();
        s.plan(i -> i == 3 * EXPERTS + 7, sink);
        assertEquals(List.of(new Chunk(1, 2, 4, 0, BLOB)), sink.chunks);
        assertEquals(0, s.find(2, 3), "the complete one stays for its step");
        assertEquals(-1, s.find(1, 5), "the expired one was overwritten");
    }

    /** A head's prediction for {@link StagedPrefetch#predict}. */
    record Prediction(long targetStep, int layer, int expert, float p) { }

    /** Begins {@code step}, gives the predictions and plans: the chunks handed out. */
    static List<Chunk> planStep(StagedPrefetch s, long step, Prediction... predictions) {
        s.beginStep(step);
        for (Prediction p : predictions) s.predict(p.targetStep(), p.layer(), p.expert(), p.p());
        Sink sink = new Sink();
        s.plan(i -> false, sink);
        return sink.chunks;
    }

    @Test
    void aPartlyStagedTargetContinuesUnlessANewOneIsExpectedToSaveMoreBytes() {
        StagedPrefetch s = planner(1);
        windows(s, 1.0);                                // 1000 bytes: 768 after alignment
        Prediction weak = new Prediction(3, 3, 1, 0.4f);
        assertEquals(List.of(new Chunk(0, 3, 1, 0, 768)), planStep(s, 0, weak));
        assertEquals(List.of(new Chunk(0, 3, 1, 768, 768)), planStep(s, 1, weak), "resumes at its offset");
        // keeping it saves 0.4 * (1536 staged + 1000 now) = 1014 bytes; taking it for a sure target 1000
        assertEquals(List.of(new Chunk(0, 3, 1, 1536, 768)), planStep(s, 2, weak, new Prediction(3, 3, 2, 1.0f)),
                "its staged bytes make it worth keeping");
        assertEquals(1, s.stats().started);
    }

    @Test
    void aLikelierTargetTakesOverABufferWithFewStagedBytes() {
        StagedPrefetch s = planner(1);
        windows(s, 1.0);
        Prediction weak = new Prediction(3, 3, 1, 0.2f);
        assertEquals(List.of(new Chunk(0, 3, 1, 0, 768)), planStep(s, 0, weak));
        // keeping it saves 0.2 * (768 + 1000) = 354 bytes; the new target 0.9 * 1000 = 900
        assertEquals(List.of(new Chunk(0, 3, 2, 0, 768)), planStep(s, 1, weak, new Prediction(3, 3, 2, 0.9f)),
                "taken over, from offset 0");
        assertEquals(-1, s.find(3, 1), "the weaker target's bytes were overwritten");
        assertEquals(0, s.find(3, 2));
        assertEquals(2, s.stats().started);
        assertEquals(768, s.stats().bytesGivenUp, "the weaker target's bytes count as given up");
        assertEquals(0, s.stats().bytesDisplacedByBypass);
    }

    @Test
    void nearerTargetsRankByTheirProbabilityDiscountedPerStepAhead() {
        // one buffer and a window of 768 bytes: the first target ranked gets them all
        // at step 0 (layer 0): layer 1 runs 1 step ahead, layer 3 runs 3 steps ahead
        Prediction near = new Prediction(1, 1, 2, 0.5f), far = new Prediction(3, 3, 1, 0.6f);
        StagedPrefetch byProbability = planner(1);
        windows(byProbability, 1.0);
        assertEquals(List.of(new Chunk(0, 3, 1, 0, 768)), planStep(byProbability, 0, near, far));

        // 0.6 * 0.7^2 = 0.294 < 0.5 * 0.7^0
        StagedPrefetch discounted = new StagedPrefetch(LAYERS, EXPERTS, 1, BLOB, LINK, FULL.withStepDiscount(0.7));
        windows(discounted, 1.0);
        assertEquals(List.of(new Chunk(0, 1, 2, 0, 768)), planStep(discounted, 0, near, far));

        // past the discount a far target still leads: 0.9 * 0.49 = 0.441 > 0.4
        StagedPrefetch sure = new StagedPrefetch(LAYERS, EXPERTS, 1, BLOB, LINK, FULL.withStepDiscount(0.7));
        windows(sure, 1.0);
        assertEquals(List.of(new Chunk(0, 3, 1, 0, 768)),
                planStep(sure, 0, new Prediction(1, 1, 2, 0.4f), new Prediction(3, 3, 1, 0.9f)));

        // the next token's layer 0 runs 4 steps after layer 0: at equal p, this token's layer 3 (3 steps) goes first
        StagedPrefetch wraps = new StagedPrefetch(LAYERS, EXPERTS, 1, BLOB, LINK, FULL.withStepDiscount(0.7));
        windows(wraps, 1.0);
        assertEquals(List.of(new Chunk(0, 3, 5, 0, 768)),
                planStep(wraps, 0, new Prediction(4, 0, 6, 0.5f), new Prediction(3, 3, 5, 0.5f)));
        assertThrows(IllegalArgumentException.class, () -> FULL.withStepDiscount(0));
        assertThrows(IllegalArgumentException.class, () -> FULL.withStepDiscount(1.5));
    }

    @Test
    void aMissTakesTheStagedBytesAndEmptiesTheBuffer() {
        StagedPrefetch s = planner(2);
        windows(s, 2.0);
        s.beginStep(0);
        s.predict(1, 1, 4, 0.8f);
        s.plan(i -> false, new Sink());
        s.beginStep(1);                                 // layer 1 runs and chooses expert 4: a miss
        int b = s.find(1, 4);
        assertEquals(0, b);
        assertEquals(1792, s.bytesStaged(b));           // 2000 cut to alignment
        s.consume(b);
        assertEquals(-1, s.find(1, 4));
        assertEquals(1, s.stats().used);
        assertEquals(1792, s.stats().bytesUsed);
        assertEquals(0, s.stats().bytesWasted());
        assertEquals(-1, s.find(2, 0), "nothing else staged");
    }

    @Test
    void anExpertABypassLeftStaysWhileItsLayerLikelyWantsItAgain() {
        StagedPrefetch s = planner(1);
        windows(s, 10.0);
        s.beginStep(0);                                 // layer 0 of token 0 serves its miss of E3 from the buffer
        int b = s.bufferForDemand();
        assertEquals(0, b);
        assertEquals(0, s.holdForDemand(b, 0, 3), "nothing of E3 was there: the engine copies it all");
        assertEquals(-1, s.bufferForDemand(), "the buffer serves this step");
        s.predict(LAYERS, 0, 3, 0.7f);                  // the next token's layer 0 likely wants E3 again
        s.predict(1, 1, 2, 0.5f);                       // a less likely candidate
        Sink sink = new Sink();
        s.plan(i -> false, sink);
        assertEquals(List.of(), sink.chunks, "E3 is complete and worth more than the candidate");
        assertEquals(0, s.find(0, 3));
        s.beginStep(1);
        s.predict(2, 2, 6, 0.9f);                       // likelier than E3: takes the buffer over
        s.plan(i -> false, sink);
        assertEquals(List.of(new Chunk(0, 2, 6, 0, BLOB)), sink.chunks);
        assertEquals(-1, s.find(0, 3));
        assertEquals(0, s.stats().used, "demand bytes are not staged bytes");
        assertEquals(BLOB, s.stats().bytesIssued);
        assertEquals(0, s.stats().bytesGivenUp, "E3's bytes were a demand's, not staged ones");
    }

    @Test
    void aBypassTakesTheBufferOfTheLeastProbableLaterTargetWhenNoneIsFree() {
        StagedPrefetch s = planner(2);
        windows(s, 10.0);
        planStep(s, 0, new Prediction(2, 2, 6, 0.9f), new Prediction(3, 3, 1, 0.4f)); // both buffers serve later targets
        int weak = s.find(3, 1), strong = s.find(2, 6);
        assertTrue(weak >= 0 && strong >= 0 && weak != strong);
        s.beginStep(1);                                 // layer 1's miss is bypassed
        assertEquals(weak, s.bufferForDemand(), "the buffer staged for the less probable target");
        s.holdForDemand(weak, 1, 5);
        assertEquals(-1, s.find(3, 1), "its staged bytes are given up");
        long weakBytes = s.stats().bytesDisplacedByBypass;
        assertTrue(weakBytes > 0 && weakBytes < s.stats().bytesIssued, "the weaker target's bytes count as displaced");
        assertEquals(strong, s.bufferForDemand(), "the other one still serves a later step");
        s.holdForDemand(strong, 1, 7);
        assertEquals(-1, s.bufferForDemand(), "both serve this step now");
        assertEquals(s.stats().bytesIssued, s.stats().bytesDisplacedByBypass, "both targets' bytes displaced");
        assertEquals(s.stats().bytesIssued, s.stats().bytesWasted());
        assertEquals(0, s.stats().bytesGivenUp);
    }

    @Test
    void aGuessItsLayerDidNotChooseIsNeitherDisplacedNorGivenUpWhenItsBufferIsReused() {
        StagedPrefetch s = planner(1);
        windows(s, 10.0);
        planStep(s, 0, new Prediction(1, 1, 4, 0.8f));  // staged for layer 1, which then chooses otherwise
        s.beginStep(1);
        s.beginStep(2);                                 // its target passed unused
        assertEquals(0, s.bufferForDemand(), "a buffer with a passed target is free");
        s.holdForDemand(0, 2, 5);
        assertEquals(0, s.stats().bytesDisplacedByBypass);
        assertEquals(0, s.stats().bytesGivenUp);
        assertEquals(BLOB, s.stats().bytesWasted(), "a wrong guess");
    }

    @Test
    void aBypassUsesStagedBytesInPlace() {
        StagedPrefetch s = planner(2);
        windows(s, 1.0);                                // 768 bytes per window
        s.beginStep(0);
        s.predict(1, 1, 4, 0.8f);
        s.plan(i -> false, new Sink());
        s.beginStep(1);
        int b = s.find(1, 4);
        assertEquals(768, s.holdForDemand(b, 1, 4), "the engine copies the other 3328 bytes");
        assertEquals(1, s.stats().used);
        assertEquals(768, s.stats().bytesUsed);
        assertEquals(BLOB, s.bytesStaged(b), "the buffer holds the whole expert now");
        s.beginStep(7);                                 // the next token's layer 1 wants it again: all there
        assertEquals(b, s.find(1, 4));
        assertEquals(BLOB, s.holdForDemand(b, 1, 4));
        assertEquals(1, s.stats().used, "counted once");
        assertEquals(0, s.stats().bytesWasted());
    }

    @Test
    void predictionsCountOnlyForTheNextRunOfTheirLayer() {
        StagedPrefetch s = planner(2);
        windows(s, 10.0);
        s.beginStep(LAYERS + 1);                        // token 1, layer 1
        s.predict(LAYERS + 1, 1, 0, 0.9f);              // layer 1 runs now: its next run is token 2's
        s.predict(2 * LAYERS + 3, 3, 1, 0.9f);          // token 2's layer 3: not the next run (token 1's is)
        s.predict(2 * LAYERS, 0, 2, 0.9f);              // token 2's layer 0: next run of layer 0, kept
        Sink sink = new Sink();
        s.plan(i -> false, sink);
        assertEquals(1, sink.chunks.size(), sink.chunks.toString());
        assertEquals(new Chunk(0, 0, 2, 0, BLOB), sink.chunks.getFirst());
        // a new step of layer 0 clears layer 0's predictions: they were for this run
        s.beginStep(2 * LAYERS);
        sink.chunks.clear();
        s.plan(i -> false, sink);
        assertEquals(List.of(), sink.chunks);
    }

    @Test
    void clearingTheBuffersForgetsEverythingStaged() {
        StagedPrefetch s = planner(2);
        windows(s, 10.0);
        s.beginStep(0);
        s.predict(1, 1, 1, 0.9f);
        s.predict(2, 2, 2, 0.8f);
        s.plan(i -> false, new Sink());
        assertTrue(s.find(1, 1) >= 0 && s.find(2, 2) >= 0);
        s.clearBuffers();
        assertEquals(-1, s.find(1, 1));
        assertEquals(-1, s.find(2, 2));
        assertEquals(2 * BLOB, s.stats().bytesWasted(), "bytes no miss used");
    }

    @Test
    void neverStagesMoreThanItsBuffersHoldNorTheSameExpertTwice() {
        for (double discount : new double[] {1.0, 0.7, 0.3}) neverStagesMoreThanItsBuffersHoldNorTheSameExpertTwice(discount);
    }

    private static void neverStagesMoreThanItsBuffersHoldNorTheSameExpertTwice(double discount) {
        StagedPrefetch s = new StagedPrefetch(LAYERS, EXPERTS, 3, BLOB, LINK, FULL.withStepDiscount(discount));
        windows(s, 100.0);                              // budget capped at 2 blobs
        Set<Integer> seen = new java.util.HashSet<>();
        for (long step = 0; step < 40; step++) {
            s.beginStep(step);
            int layer = (int) (step % LAYERS);
            for (int d = 1; d < LAYERS; d++) {
                int target = (layer + d) % LAYERS; // this token's later layers, then the next token's
                for (int e = 0; e < EXPERTS; e++) s.predict(step + d, target, e, (float) ((e * 7 + step) % 10) / 10f);
            }
            Sink sink = new Sink();
            long handed = s.plan(i -> i % 5 == 0, sink);
            assertTrue(handed <= 2 * BLOB, "within the budget");
            long total = 0;
            for (Chunk c : sink.chunks) {
                assertTrue(c.buffer() >= 0 && c.buffer() < 3);
                assertTrue(c.offset() >= 0 && c.offset() + c.bytes() <= BLOB, c.toString());
                assertTrue((c.layer() * EXPERTS + c.expert()) % 5 != 0, "never a resident expert");
                total += c.bytes();
                seen.add(c.layer() * EXPERTS + c.expert());
            }
            assertEquals(handed, total);
            for (int b = 0; b < 3; b++) {
                for (int b2 = b + 1; b2 < 3; b2++) {
                    assertTrue(s.held(b) < 0 || s.held(b) != s.held(b2), "two buffers hold expert " + s.held(b));
                }
            }
        }
        assertTrue(seen.size() > 3, "it staged several experts over the run (discount " + discount + ")");
        assertTrue(s.stats().bytesIssued > 0);
    }

    /** The expert {@link #run} predicts for step t: a different one from step to step, never expert 0. */
    static int guess(long step) {
        return 1 + (int) (step % (EXPERTS - 1));
    }

    /**
     * Runs steps [from, to): each layer chooses the expert guessed for its step ({@code right}) or expert 0, a miss
     * takes whatever was staged of it, and the next step's guess is predicted at 0.9 and planned. Returns the windows
     * that staged bytes.
     */
    static int run(StagedPrefetch s, long from, long to, boolean right) {
        int planned = 0;
        for (long step = from; step < to; step++) {
            s.beginStep(step);
            int layer = (int) (step % LAYERS);
            int b = s.find(layer, right ? guess(step) : 0);
            if (b >= 0) s.consume(b);
            s.predict(step + 1, (layer + 1) % LAYERS, guess(step + 1), 0.9f);
            if (s.plan(i -> false, new Sink()) > 0) planned++;
        }
        return planned;
    }

    @Test
    void wastedStagingIsThrottledToProbesAndLiftsOnceMissesUseItAgain() {
        StagedPrefetch s = new StagedPrefetch(LAYERS, EXPERTS, 2, BLOB, LINK, FULL.withThrottle(0.3, 16));
        windows(s, 2.0);                                // 1792 bytes per window
        assertEquals(LAYERS * 10, run(s, 0, LAYERS * 10, true), "right guesses: every window is planned");
        assertEquals(1.0, s.recentUsefulness(), 0.05, "all but the last window's bytes were used");
        assertTrue(!s.throttled());

        int wrong = run(s, 40, 300, false);                 // the layers now choose expert 0: every staged byte is wasted
        assertTrue(s.throttled(), "usefulness " + s.recentUsefulness());
        assertTrue(s.recentUsefulness() < 0.3);
        assertTrue(wrong < 260, "throttled at some point: " + wrong + " of 260 windows");
        long throttledBefore = s.stats().windowsThrottled;
        int probes = run(s, 300, 460, false);
        long throttled = s.stats().windowsThrottled - throttledBefore;
        assertEquals(150, throttled, 1, "one window in 16 steps is planned, the others count as throttled");
        assertTrue(probes > 0 && probes <= 160 - throttled, "the probes stage bytes: " + probes);

        run(s, 460, 800, true);                            // right again: the probes' bytes are used, the throttle lifts
        assertTrue(!s.throttled(), "usefulness " + s.recentUsefulness());
        assertEquals(40, run(s, 800, 840, true), "every window planned again");
    }

    @Test
    void rejectsBadArgumentsAndStepsThatDoNotIncrease() {
        assertThrows(IllegalArgumentException.class, () -> new StagedPrefetch(0, EXPERTS, 2, BLOB, LINK, FULL));
        assertThrows(IllegalArgumentException.class, () -> new StagedPrefetch(LAYERS, EXPERTS, 2, BLOB, 0, FULL));
        assertThrows(IllegalArgumentException.class, () -> new StagedPrefetch(LAYERS, EXPERTS, 2, BLOB, Double.POSITIVE_INFINITY, FULL));
        assertThrows(IllegalArgumentException.class, () -> new StagedPrefetch.Config(1.5, 1, 1, 1, 1, 0, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new StagedPrefetch.Config(0.2, 0, 1, 1, 1, 0, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new StagedPrefetch.Config(0.2, 1, 1, 0, 1, 0, 1, 1));
        StagedPrefetch s = planner(2);
        s.beginStep(5);
        assertThrows(IllegalStateException.class, () -> s.beginStep(5));
    }
}
