package dev.lookahead.gate;

import dev.lookahead.model.ModelConfig;

import java.util.List;
import java.util.SplittableRandom;

/**
 * A synthetic "model" for gate tests, without a forward pass: random routers and norms, and
 * hidden states where layer l+1's MoE input is a fixed signed permutation P of layer l's
 * (h_{l+1} = P h_l). A signed permutation keeps the RMS, so the true routing of layer l+d is
 * exactly softmax(router_{l+d} diag(norm_{l+d}) P^d ĥ_l): representable by a head, but not by
 * the plug-and-play head router_{l+d} diag(norm_{l+d}), which ignores P.
 */
final class SyntheticRouting {
    final ModelConfig config;
    final RoutingWeights routing;
    final int[] perm;
    final float[] sign;

    SyntheticRouting(int layers, int hidden, int experts, int topK, double routerScale, long seed) {
        config = new ModelConfig(List.of("MixtralForCausalLM"), "mixtral", hidden, 2 * hidden, layers, 2, 1, hidden / 2,
                experts, topK, 1e-5, 1e4, 256, null, 300, false, 1, List.of(2), "float32");
        SplittableRandom r = new SplittableRandom(seed);
        float[][] routers = new float[layers][experts * hidden];
        float[][] norms = new float[layers][hidden];
        for (int l = 0; l < layers; l++) {
            for (int i = 0; i < routers[l].length; i++) routers[l][i] = (float) (gaussian(r) * routerScale / Math.sqrt(hidden));
            for (int j = 0; j < hidden; j++) norms[l][j] = (float) (1 + 0.1 * gaussian(r));
        }
        routing = new RoutingWeights(config, routers, norms);
        perm = new int[hidden];
        for (int j = 0; j < hidden; j++) perm[j] = j;
        for (int j = hidden - 1; j > 0; j--) {
            int k = r.nextInt(j + 1);
            int t = perm[j];
            perm[j] = perm[k];
            perm[k] = t;
        }
        sign = new float[hidden];
        for (int j = 0; j < hidden; j++) sign[j] = r.nextBoolean() ? 1 : -1;
    }

    /** Calibration data of {@code tokens} random tokens, recorded through {@link CalibrationData#put}. */
    CalibrationData data(int tokens, long seed) {
        int hidden = config.hiddenSize();
        CalibrationData data = new CalibrationData(config.numHiddenLayers(), hidden, config.numLocalExperts(), tokens);
        SplittableRandom r = new SplittableRandom(seed);
        float[] h = new float[hidden], next = new float[hidden];
        for (int t = 0; t < tokens; t++) {
            double scale = 0.5 + 3 * r.nextDouble(); // the RMS varies by token; heads must not care
            for (int j = 0; j < hidden; j++) h[j] = (float) (gaussian(r) * scale);
            for (int l = 0; l < config.numHiddenLayers(); l++) {
                data.put(t, l, h, 0, routing);
                for (int j = 0; j < hidden; j++) next[j] = sign[j] * h[perm[j]];
                System.arraycopy(next, 0, h, 0, hidden);
            }
        }
        data.checkComplete();
        return data;
    }

    /**
     * Like {@link #data} but tokens are chained: token t + 1 starts (layer 0) from token t's last layer, mapped once
     * more by the same permutation and signs, and rescaled. Layer l of the next token is then a fixed linear map of
     * layer l of this one (P^L), so a next-token head can learn it exactly.
     */
    CalibrationData chainedData(int tokens, long seed) {
        int hidden = config.hiddenSize();
        CalibrationData data = new CalibrationData(config.numHiddenLayers(), hidden, config.numLocalExperts(), tokens);
        SplittableRandom r = new SplittableRandom(seed);
        float[] h = new float[hidden], next = new float[hidden];
        for (int j = 0; j < hidden; j++) h[j] = (float) gaussian(r);
        for (int t = 0; t < tokens; t++) {
            double scale = 0.5 + 3 * r.nextDouble();
            for (int j = 0; j < hidden; j++) h[j] = (float) (h[j] * scale);
            for (int l = 0; l < config.numHiddenLayers(); l++) {
                data.put(t, l, h, 0, routing);
                for (int j = 0; j < hidden; j++) next[j] = sign[j] * h[perm[j]];
                System.arraycopy(next, 0, h, 0, hidden);
            }
            double rms = 0;
            for (float v : h) rms += v * v;
            rms = Math.sqrt(rms / hidden);
            for (int j = 0; j < hidden; j++) h[j] = (float) (h[j] / rms);
        }
        data.checkComplete();
        return data;
    }

    static double gaussian(SplittableRandom r) {
        return r.nextGaussian();
    }
}
