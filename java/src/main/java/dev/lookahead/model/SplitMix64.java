package dev.lookahead.model;

import java.nio.charset.StandardCharsets;

/**
 * SplitMix64 seeded by (seed, name): the generator behind every random-weight checkpoint, one stream per tensor, so
 * a tensor's values depend on the seed and its name only, not on the order or thread that writes it.
 */
public final class SplitMix64 {
    private long state;

    public SplitMix64(long seed, String name) {
        long h = 0xcbf29ce484222325L; // FNV-1a 64 of the name
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xFF)) * 0x100000001b3L;
        }
        state = mix(seed ^ mix(h));
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** The next 64 uniformly random bits. */
    public long nextLong() {
        state += 0x9e3779b97f4a7c15L;
        return mix(state);
    }
}
