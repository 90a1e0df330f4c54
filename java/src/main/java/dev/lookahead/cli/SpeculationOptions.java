package dev.lookahead.cli;

import dev.lookahead.sched.SpeculationSettings;
import picocli.CommandLine.Option;

/** The speculative scheduler's knobs on the command line (lookahead policies); unset ones keep the defaults. */
final class SpeculationOptions {
    @Option(names = "--prefetch-copies", defaultValue = "-1", paramLabel = "N",
            description = "lookahead policies: whole-expert speculative copies into the cache that may be in flight"
                    + " before no further one starts; 0 = none (default: 0 with staging, 1 without)")
    int copiesInFlight = -1; // also when built without picocli (the demo)

    @Option(names = "--min-probability", paramLabel = "P",
            description = "lookahead policies: copy only experts predicted at least this likely (default: 0.9)")
    Double minProbability;

    @Option(names = "--target-recall", paramLabel = "R",
            description = "lookahead policies: throttle speculation while the share of useful copies is below this;"
                    + " 0 = never (default: 0.8)")
    Double targetRecall;

    @Option(names = "--horizon", defaultValue = "-1", paramLabel = "D",
            description = "lookahead policies: use the predictions for the next D layers of a token only, for copies and"
                    + " eviction (default: 8)")
    int horizon = -1;

    @Option(names = "--staging", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "lookahead policies: copy predicted experts into the spare staging slots in the background,"
                    + " in chunks that fill the link's idle time; a staged expert evicts nothing until its layer"
                    + " chooses it (default: on; --no-staging turns it off)")
    boolean staging = true;

    @Option(names = "--staging-min-probability", paramLabel = "P",
            description = "lookahead policies: stage only experts predicted at least this likely (default: 0.2)")
    Double stagingMinProbability;

    @Option(names = "--staging-step-discount", paramLabel = "G",
            description = "lookahead policies: stage a target d steps ahead in the order of its probability x G^(d - 1);"
                    + " 1 = by probability alone (default: 0.7)")
    Double stagingStepDiscount;

    @Option(names = "--staging-min-useful", paramLabel = "S",
            description = "lookahead policies: while less than this share of the recently staged bytes was used by"
                    + " misses, stage in one window in 64 steps only; 0 = never throttle (default: 0.3)")
    Double stagingMinUseful;

    @Option(names = "--bypass", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "lookahead policies: serve a miss from a staging slot, evicting nothing, when its expert's"
                    + " predicted next use is farther than that of the expert it would evict (default: on, with"
                    + " staging; --no-bypass turns it off)")
    boolean bypass = true;

    @Option(names = "--recurrence-tokens", defaultValue = "-1", paramLabel = "N",
            description = "lookahead policies: eviction may follow the routing recurrence (the routing that followed"
                    + " earlier tokens whose first layers chose alike), reading N tokens after each match, when it"
                    + " evicts better than the heads; 0 = off (default: 8)")
    int recurrenceTokens = -1;

    @Option(names = "--token-recurrence", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "lookahead policies: stage the next token's experts as they were chosen after the last"
                    + " earlier occurrence of the same two token ids (prompt-lookup decoding, applied to routing;"
                    + " default: on, with staging; --no-token-recurrence turns it off)")
    boolean tokenRecurrence = true;

    SpeculationSettings toTuning() {
        return new SpeculationSettings(copiesInFlight, minProbability == null ? Double.NaN : minProbability,
                targetRecall == null ? Double.NaN : targetRecall, horizon, staging,
                stagingMinProbability == null ? Double.NaN : stagingMinProbability, bypass, recurrenceTokens,
                stagingMinUseful == null ? Double.NaN : stagingMinUseful, tokenRecurrence,
                stagingStepDiscount == null ? Double.NaN : stagingStepDiscount);
    }
}
