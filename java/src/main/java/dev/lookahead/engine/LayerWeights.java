package dev.lookahead.engine;

/** The weights of one decoder layer on the device, except its experts (see {@link ExpertSource}). */
public record LayerWeights(
        WeightTensor attnNorm,   // [1, hidden]
        Linear q,                // [qDim, hidden]
        Linear k,                // [kvDim, hidden]
        Linear v,                // [kvDim, hidden]
        Linear o,                // [hidden, qDim]
        WeightTensor ffnNorm,    // [1, hidden]
        WeightTensor router) {   // [experts, hidden]
}
