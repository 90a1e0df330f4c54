package dev.lookahead.expert;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The real Mixtral-8x7B routing traces kept beside the repository ({@code ../shared/traces}). They must be there:
 * a missing directory fails the test rather than skipping it.
 */
class RealTracesTest {
    private static final TimingModel TIMING = TimingModel.MIXTRAL_4BIT_PCIE4;
    private static RoutingTrace humaneval;
    private static RoutingTrace gsm8k;

    /**
     * {@code shared/traces} in the nearest ancestor of the module directory (CI: {@code ../../shared/traces} from
     * {@code java/}; a worktree may sit deeper), or the directory named by {@code -Dlookahead.traces}.
     */
    static Path tracesDir() {
        String override = System.getProperty("lookahead.traces");
        if (override != null) return Path.of(override);
        Path module = Path.of("").toAbsolutePath();
        for (Path p = module; p != null; p = p.getParent()) {
            Path candidate = p.resolve("shared").resolve("traces");
            if (Files.isDirectory(candidate.resolve("mixtral-8x7b"))) return candidate;
        }
        return fail("routing traces not found: no shared/traces/mixtral-8x7b in " + module
                + " or any parent (expected ../../shared/traces relative to the java module; or -Dlookahead.traces=DIR)");
    }

    @BeforeAll
    static void load() throws IOException {
        Path dir = tracesDir().resolve("mixtral-8x7b");
        Map<String, String> sums = Files.readAllLines(dir.resolve("SHA256SUMS")).stream()
                .map(l -> l.trim().split("\\s+")).collect(Collectors.toMap(a -> a[1], a -> a[0]));
        for (String f : List.of("humaneval.jsonl", "gsm8k.jsonl")) {
            assertEquals(sums.get("mixtral-8x7b/" + f), sha256(dir.resolve(f)), f + " differs from SHA256SUMS");
        }
        humaneval = RoutingTrace.read(dir.resolve("humaneval.jsonl"));
        gsm8k = RoutingTrace.read(dir.resolve("gsm8k.jsonl"));
    }

    private static String sha256(Path file) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void tracesLoadWithTheirKnownShape() {
        // README: gsm8k ~246 tokens in 7,889 lines, humaneval ~336 in 10,779; the last tokens of a problem may lack layers.
        assertEquals(32, humaneval.layers());
        assertEquals(8, humaneval.experts());
        assertEquals(2, humaneval.topK());
        assertEquals(2, humaneval.problems());
        assertEquals(333, humaneval.tokenCount());
        assertEquals(5, humaneval.skippedTokens().size());
        assertEquals(32, gsm8k.layers());
        assertEquals(244, gsm8k.tokenCount());
        assertEquals(3, gsm8k.skippedTokens().size());
        // Lines = complete tokens * 32 + the layers present in the skipped ones.
        int partial = humaneval.skippedTokens().stream().mapToInt(RoutingTrace.SkippedToken::layersPresent).sum();
        assertEquals(10779, 333 * 32 + partial);
        partial = gsm8k.skippedTokens().stream().mapToInt(RoutingTrace.SkippedToken::layersPresent).sum();
        assertEquals(7889, 244 * 32 + partial);
    }

    @Test
    void lruMatchesAnIndependentReference() {
        for (RoutingTrace trace : List.of(humaneval, gsm8k)) {
            for (int k = 2; k <= 6; k++) {
                ReplayResult r = ReplaySimulator.run(trace, ResidencyPolicies.byName("mixtral-offloading"), k, TIMING, null);
                assertEquals(referenceLruHits(trace, k), r.stats().hits(), trace.source() + " k " + k);
            }
        }
    }

    /** Per-layer LRU written differently: an insertion-ordered set per layer, oldest first. */
    private static long referenceLruHits(RoutingTrace trace, int k) {
        List<LinkedHashSet<Integer>> caches = new java.util.ArrayList<>();
        for (int l = 0; l < trace.layers(); l++) caches.add(new LinkedHashSet<>());
        long hits = 0;
        for (int t = 0; t < trace.tokenCount(); t++) {
            for (int l = 0; l < trace.layers(); l++) {
                int[] chosen = trace.experts(t, l);
                LinkedHashSet<Integer> c = caches.get(l);
                for (int e : chosen) {
                    if (c.remove(e)) {
                        hits++;
                    } else if (c.size() == k) {
                        for (int old : c) {
                            if (old != chosen[0] && old != chosen[1]) {
                                c.remove(old);
                                break;
                            }
                        }
                    }
                    c.add(e); // most recent last
                }
            }
        }
        return hits;
    }

    @Test
    void reproducesTheDesignNumbersOnHumaneval() {
        // DESIGN.md, k = 4 on humaneval: LRU 0.622, Belady per layer 0.75, one pool 0.81 (two digits, truncated).
        assertEquals(0.6228, hitRate(humaneval, "mixtral-offloading", 4), 0.0001);
        assertEquals(0.7505, hitRate(humaneval, "belady", 4), 0.0001);
        assertEquals(0.8183, hitRate(humaneval, "belady-global", 4), 0.0001);
    }

    @Test
    void ceilingsAreOrderedOnRealRouting() {
        for (RoutingTrace trace : List.of(humaneval, gsm8k)) {
            for (int k = 2; k <= 6; k++) {
                double lru = hitRate(trace, "mixtral-offloading", k);
                double belady = hitRate(trace, "belady", k);
                double pool = hitRate(trace, "belady-global", k);
                assertTrue(lru <= belady && belady <= pool, trace.source() + " k " + k + ": " + lru + ", " + belady + ", " + pool);
                if (k == 2) assertEquals(lru, belady, "k = top-k leaves no eviction choice");
                else assertTrue(belady > lru);
            }
        }
    }

    @Test
    void previousTokenPrefetchIssuesNothingUnderPerLayerLru() {
        // The previous token's experts at a layer were just used there, so LRU with k >= 2 still holds them.
        ReplayResult r = ReplaySimulator.run(humaneval, ResidencyPolicies.byName("next-layer"), 4, TIMING,
                new PreviousTokenPredictor(humaneval.layers()));
        assertEquals(0, r.stats().prefetchesIssued());
        assertEquals(hitRate(humaneval, "mixtral-offloading", 4), r.hitRate());
    }

    private static double hitRate(RoutingTrace trace, String policy, int k) {
        return ReplaySimulator.run(trace, ResidencyPolicies.byName(policy), k, TIMING, null).hitRate();
    }
}
