package dev.lookahead.engine;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StopStringsTest {
    @Test
    void holdsBackAPossibleStopPrefixAndCutsAtTheStop() {
        StopStrings s = new StopStrings(List.of("END", "\n\n"));
        StringBuilder emitted = new StringBuilder();
        emitted.append(s.append("Hello E"));
        assertEquals("Hello ", emitted.toString(), "'E' may start END: held back");
        emitted.append(s.append("N"));
        assertEquals("Hello ", emitted.toString());
        emitted.append(s.append("Dless"));
        assertTrue(s.stopped());
        assertEquals("Hello ", emitted.toString());
        assertEquals("Hello ", s.text());
        assertEquals("", s.flush());
    }

    @Test
    void releasesAHeldPrefixThatDidNotBecomeAStop() {
        StopStrings s = new StopStrings(List.of("END"));
        assertEquals("a", s.append("aE"));
        assertEquals("Ex", s.append("x"));
        assertFalse(s.stopped());
        assertEquals("N", s.append("N") + s.flush());
        assertEquals("aExN", s.text());
    }

    @Test
    void findsTheEarliestOfSeveralStops() {
        StopStrings s = new StopStrings(List.of("zz", "b"));
        assertEquals("a", s.append("abzz"));
        assertEquals("a", s.text());
    }

    @Test
    void withoutStopsEverythingPassesThrough() {
        StopStrings s = new StopStrings(List.of());
        assertEquals("abc", s.append("abc"));
        assertEquals("", s.flush());
    }
}
