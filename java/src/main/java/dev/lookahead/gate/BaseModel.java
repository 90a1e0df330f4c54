package dev.lookahead.gate;

/**
 * The model a set of heads belongs to. Heads are only meaningful on the hidden states of the
 * model they were made from, so a heads file records both hashes and loading checks them.
 *
 * @param name          a human-readable name (the model directory's name), informational
 * @param configSha256  {@link RoutingWeights#configHash}
 * @param routingSha256 {@link RoutingWeights#fingerprint}
 */
public record BaseModel(String name, String configSha256, String routingSha256) {
    public static BaseModel of(String name, RoutingWeights weights) {
        return new BaseModel(name, RoutingWeights.configHash(weights.config()), weights.fingerprint());
    }
}
