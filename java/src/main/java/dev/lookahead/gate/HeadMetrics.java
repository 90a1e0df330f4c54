package dev.lookahead.gate;

/**
 * How well a head predicts its target layer's routing on a set of tokens.
 *
 * @param kl        mean KL(p_true || softmax(head logits)) in nats
 * @param recallK   mean fraction of the router's top-k experts found in the head's top-k
 *                  (k = the model's experts per token; equal to precision at the same k)
 * @param recall2K  mean fraction of the router's top-k experts found in the head's top-2k
 *                  (prefetching twice as many as needed); its precision is recall2K / 2
 */
public record HeadMetrics(double kl, double recallK, double recall2K) {
}
