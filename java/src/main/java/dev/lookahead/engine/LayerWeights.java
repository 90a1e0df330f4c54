package dev.lookahead.engine;

import dev.lookahead.expert.Expert;

import java.util.List;

/** The weights of one decoder layer on the device. */
public record LayerWeights(
        WeightTensor attnNorm,   // [1, hidden]
        Linear q,                // [qDim, hidden]
        Linear k,                // [kvDim, hidden]
        Linear v,                // [kvDim, hidden]
        Linear o,                // [hidden, qDim]
        WeightTensor ffnNorm,    // [1, hidden]
        WeightTensor router,     // [experts, hidden]
        List<Expert> experts) {
    public LayerWeights {
        experts = List.copyOf(experts);
    }
}
