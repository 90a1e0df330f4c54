package dev.lookahead.gate;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AdamTest {
    @Test
    void theFirstStepMovesEveryParameterByTheLearningRateAgainstItsGradientSign() {
        // After one step m̂ = g and v̂ = g², so the update is lr * g / (|g| + eps): lr times the sign.
        Adam adam = new Adam(3, 0.01);
        double[] x = {1, 2, 3};
        adam.step(x, new double[] {5, -0.001, 300});
        assertEquals(1 - 0.01, x[0], 1e-9);
        assertEquals(2 + 0.01, x[1], 1e-7);
        assertEquals(3 - 0.01, x[2], 1e-9);
        assertEquals(1, adam.steps());
    }

    @Test
    void convergesOnABadlyScaledQuadratic() {
        // f(x) = sum c_i (x_i - t_i)^2 with curvatures spanning 6 orders of magnitude: plain
        // gradient descent with one step size cannot do this in 3000 steps, Adam's per-parameter
        // scaling can.
        double[] c = {1e-3, 1, 1e3}, t = {3, -2, 0.5};
        double[] x = new double[3];
        Adam adam = new Adam(3, 0.05);
        double[] g = new double[3];
        for (int step = 0; step < 3000; step++) {
            for (int i = 0; i < 3; i++) g[i] = 2 * c[i] * (x[i] - t[i]);
            adam.step(x, g);
        }
        for (int i = 0; i < 3; i++) assertEquals(t[i], x[i], 1e-2, "parameter " + i);
    }

    @Test
    void rejectsMismatchedSizesAndBadSettings() {
        Adam adam = new Adam(2, 0.1);
        assertThrows(IllegalArgumentException.class, () -> adam.step(new double[3], new double[3]));
        assertThrows(IllegalArgumentException.class, () -> new Adam(2, 0));
        assertThrows(IllegalArgumentException.class, () -> new Adam(2, 0.1, 1.0, 0.999, 1e-8));
        assertTrue(new Adam(0, 1).steps() == 0);
    }
}
