package dev.lookahead.engine;

import dev.lookahead.expert.DenseExpert;

import java.util.List;

/** The weights of one decoder layer on the device. */
public record LayerWeights(
        WeightTensor attnNorm,   // [1, hidden]
        WeightTensor q,          // [qDim, hidden]
        WeightTensor k,          // [kvDim, hidden]
        WeightTensor v,          // [kvDim, hidden]
        WeightTensor o,          // [hidden, qDim]
        WeightTensor ffnNorm,    // [1, hidden]
        WeightTensor router,     // [experts, hidden]
        List<DenseExpert> experts) {
    public LayerWeights {
        experts = List.copyOf(experts);
    }
}
