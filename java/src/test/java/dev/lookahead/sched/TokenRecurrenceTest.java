package dev.lookahead.sched;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Prompt-lookup of token ids for the next token's routing: matches, what may be read, measured precision. */
class TokenRecurrenceTest {
    static final int LAYERS = 3, EXPERTS = 8;

    /** Decodes token {@code t} with id {@code id}; layer l chooses experts {@code (id + l) % 8} and {@code (id + l + 1) % 8}. */
    static void decode(TokenRecurrence r, long t, int id) {
        r.beginToken(t, id);
        for (int l = 0; l < LAYERS; l++) r.observe(t, l, routing(id, l), 2);
    }

    static int[] routing(int id, int layer) {
        return new int[] {(id + layer) % EXPERTS, (id + layer + 1) % EXPERTS};
    }

    /** The experts predicted for the next token's layer, as a bit mask. */
    static int predictedMask(TokenRecurrence r, int layer) {
        int mask = 0;
        for (int e = 0; e < EXPERTS; e++) if (r.predicted(layer, e)) mask |= 1 << e;
        return mask;
    }

    static int mask(int... experts) {
        int m = 0;
        for (int e : experts) m |= 1 << e;
        return m;
    }

    @Test
    void aRepeatedBigramPredictsTheRoutingOfTheTokenThatFollowedIt() {
        TokenRecurrence r = new TokenRecurrence(LAYERS, EXPERTS);
        int[] ids = {10, 11, 12, 13, 10, 11};
        for (int t = 0; t < ids.length; t++) {
            decode(r, t, ids[t]);
            assertEquals(t == 5, r.predicts(), "only the second (10, 11) has an earlier occurrence, at token " + t);
        }
        for (int l = 0; l < LAYERS; l++) {
            assertEquals(mask(routing(12, l)), predictedMask(r, l), "token 2 (id 12) followed (10, 11): layer " + l);
        }
    }

    @Test
    void theLatestEarlierOccurrenceSpeaks() {
        TokenRecurrence r = new TokenRecurrence(LAYERS, EXPERTS);
        int[] ids = {1, 2, 3, 1, 2, 4, 9, 1, 2};
        for (int t = 0; t < ids.length; t++) decode(r, t, ids[t]);
        assertTrue(r.predicts());
        assertEquals(mask(routing(4, 0)), predictedMask(r, 0), "(1, 2) was last followed by 4");
        assertEquals(4, r.matched(), "the token that ended the latest earlier (1, 2)");
        decode(r, ids.length, 7);
        assertEquals(-1, r.matched(), "(2, 7) is new");
    }

    @Test
    void aFollowerIsReadOnlyOnceItsEveryLayerWasObserved() {
        TokenRecurrence r = new TokenRecurrence(LAYERS, EXPERTS);
        decode(r, 0, 5);
        decode(r, 1, 5);
        decode(r, 2, 5); // (5, 5) ended at token 1, whose follower is this very token: nothing to read yet
        assertFalse(r.predicts());
        decode(r, 3, 5); // now token 2 is complete
        assertTrue(r.predicts());
        assertEquals(mask(routing(5, 1)), predictedMask(r, 1));
    }

    @Test
    void aGapInTheTokensEndsTheBigramChain() {
        TokenRecurrence r = new TokenRecurrence(LAYERS, EXPERTS);
        int[] ids = {7, 8, 9, 7};
        for (int t = 0; t < ids.length; t++) decode(r, t, ids[t]);
        decode(r, 10, 8);  // (7, 8) would match, but token 9 is not the one after token 3
        assertFalse(r.predicts());
        decode(r, 11, 9);  // (8, 9) did follow each other before (tokens 1, 2), and token 3 followed
        assertTrue(r.predicts());
        assertEquals(mask(routing(7, 2)), predictedMask(r, 2));
    }

    @Test
    void noBigramSpansTwoTexts() {
        TokenRecurrence r = new TokenRecurrence(LAYERS, EXPERTS);
        decode(r, 0, 1);
        decode(r, 1, 2);
        r.endSequence();            // a new prompt: token 2 has no predecessor
        decode(r, 2, 3);
        decode(r, 3, 4);
        decode(r, 4, 2);            // (2, 3) never followed each other: no match
        assertFalse(r.predicts());
        decode(r, 5, 3);            // (2, 3) now did, but token 5's follower is not yet seen
        assertFalse(r.predicts());
        decode(r, 6, 1);
        decode(r, 7, 2);            // (1, 2) occurred at tokens 0, 1, but token 2 started another text
        assertFalse(r.predicts(), "the follower of (1, 2) belongs to another text");
        decode(r, 8, 3);            // (2, 3) ended at token 5: token 6 followed
        assertTrue(r.predicts());
        assertEquals(mask(routing(1, 0)), predictedMask(r, 0));
    }

    @Test
    void precisionStartsAtTheInitialGuessAndFollowsTheOutcomes() {
        TokenRecurrence r = new TokenRecurrence(LAYERS, EXPERTS);
        assertEquals(TokenRecurrence.INITIAL_PRECISION, r.precision(0), 1e-12);
        // a period-3 cycle: after the first lap every prediction comes true
        long t = 0;
        for (int lap = 0; lap < 100; lap++) for (int id : new int[] {20, 21, 22}) decode(r, t++, id);
        for (int l = 0; l < LAYERS; l++) assertTrue(r.precision(l) > 0.95, "layer " + l + ": " + r.precision(l));
        // then (20, 21) is followed by 40 and 44 in turn, whose routing shares no expert: each of its predictions
        // fails, while (21, 4x) -> 20 and (4x, 20) -> 21 still come true: 2 of 3 predictions hold
        for (int i = 0; i < 1000; i++) {
            decode(r, t++, 20);
            decode(r, t++, 21);
            decode(r, t++, i % 2 == 0 ? 40 : 44);
        }
        for (int l = 0; l < LAYERS; l++) assertEquals(2.0 / 3, r.precision(l), 0.02, "layer " + l);
    }

    @Test
    void matchesOlderThanTheHistoryAreForgotten() {
        TokenRecurrence r = new TokenRecurrence(LAYERS, EXPERTS);
        decode(r, 0, 100);
        decode(r, 1, 101);
        decode(r, 2, 102);
        long t = 3;
        for (int i = 0; i < TokenRecurrence.HISTORY_TOKENS; i++) decode(r, t++, 200 + i % 50 * 2 + (i / 50) % 2);
        decode(r, t++, 100);
        decode(r, t, 101);
        assertFalse(r.predicts(), "token 2 has left the ring");
    }

    @Test
    void rejectsOutOfOrderTokensAndRoutingOfAnotherToken() {
        TokenRecurrence r = new TokenRecurrence(LAYERS, EXPERTS);
        assertFalse(r.decoding(-1), "nothing begun");
        decode(r, 4, 1);
        assertTrue(r.decoding(4));
        assertFalse(r.decoding(5), "a pass it was not told of (forced routing)");
        assertThrows(IllegalStateException.class, () -> r.beginToken(4, 2));
        assertThrows(IllegalStateException.class, () -> r.observe(3, 0, new int[] {1}, 1));
        assertThrows(IllegalArgumentException.class, () -> r.beginToken(5, -1));
        assertThrows(IllegalArgumentException.class, () -> new TokenRecurrence(0, EXPERTS));
    }
}
