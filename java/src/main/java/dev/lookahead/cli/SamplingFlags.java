package dev.lookahead.cli;

import dev.lookahead.api.GenerationOptions;
import dev.lookahead.api.SamplingOptions;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/** Generation flags shared by generate and demo. */
final class SamplingFlags {
    @Option(names = {"-n", "--max-tokens"}, defaultValue = "128", description = "tokens to generate (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = {"-t", "--temperature"}, defaultValue = "0", description = "0 = greedy (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "sample among the k most likely tokens, 0 = all")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "nucleus sampling mass, 1 = off")
    float topP;

    @Option(names = "--repetition-penalty", defaultValue = "1", description = "> 1 discourages repeats, 1 = off")
    float repetitionPenalty;

    @Option(names = "--seed", defaultValue = "42", description = "sampling seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--stop", description = "stop when the text contains this string (repeatable)")
    List<String> stops = new ArrayList<>();

    GenerationOptions toOptions(boolean chat) {
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens (-n) must be at least 1, got " + maxTokens);
        SamplingOptions sampling = new SamplingOptions(temperature, topK, topP, repetitionPenalty, seed);
        return new GenerationOptions(maxTokens, sampling, stops, chat);
    }
}
