package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The error bounds VectorMath's comment promises, measured against double-precision Math. */
class VectorMathTest {
    private static final int LANES = VectorWidth.SPECIES.length();

    /** Largest error in float ulps of the reference value, over {@code count} points spread on [lo, hi]. */
    private static double maxUlpError(UnaryOperator<FloatVector> f, DoubleUnaryOperator reference, float lo, float hi,
                                      int count) {
        double worst = 0;
        float[] in = new float[LANES];
        float[] out = new float[LANES];
        for (int i = 0; i < count; i += LANES) {
            for (int l = 0; l < LANES; l++) {
                in[l] = lo + (hi - lo) * (float) ((i + l) % count) / count;
            }
            f.apply(FloatVector.fromArray(VectorWidth.SPECIES, in, 0)).intoArray(out, 0);
            for (int l = 0; l < LANES; l++) {
                double want = reference.applyAsDouble(in[l]);
                double err = Math.abs(out[l] - want) / Math.ulp((float) want);
                worst = Math.max(worst, err);
            }
        }
        return worst;
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    @Test
    void expIsWithinTwoUlp() {
        double err = maxUlpError(VectorMath::exp, Math::exp, -87f, 88f, 400_000);
        System.out.println("exp max error: " + err + " ulp");
        assertTrue(err <= 2, "exp error " + err + " ulp");
    }

    @Test
    void sigmoidIsWithinThreeUlp() {
        double err = Math.max(maxUlpError(VectorMath::sigmoid, VectorMathTest::sigmoid, -30f, 30f, 400_000),
                maxUlpError(VectorMath::sigmoid, VectorMathTest::sigmoid, -1e-3f, 1e-3f, 100_000));
        System.out.println("sigmoid max error: " + err + " ulp");
        assertTrue(err <= 3, "sigmoid error " + err + " ulp");
    }

    @Test
    void tanhIsWithinTwoUlpAlsoForTinyArguments() {
        double err = Math.max(maxUlpError(VectorMath::tanh, Math::tanh, -20f, 20f, 400_000),
                Math.max(maxUlpError(VectorMath::tanh, Math::tanh, -1e-3f, 1e-3f, 100_000),
                        maxUlpError(VectorMath::tanh, Math::tanh, -1f, 1f, 100_000)));
        System.out.println("tanh max error: " + err + " ulp");
        assertTrue(err <= 2, "tanh error " + err + " ulp");
    }

    @Test
    void specialValuesSaturateOrPropagate() {
        float[] in = new float[LANES];
        float[] out = new float[LANES];
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 100f, -100f, 0f, -0f};
        for (float v : specials) {
            java.util.Arrays.fill(in, v);
            VectorMath.sigmoid(FloatVector.fromArray(VectorWidth.SPECIES, in, 0)).intoArray(out, 0);
            // Results below the smallest normal float (sigmoid(-100) = 3.8e-44) flush to zero.
            assertEquals((float) sigmoid(v), out[0], Float.MIN_NORMAL, "sigmoid(" + v + ")");
            assertEquals(Float.isNaN(v), Float.isNaN(out[0]), "sigmoid(" + v + ")");
            VectorMath.tanh(FloatVector.fromArray(VectorWidth.SPECIES, in, 0)).intoArray(out, 0);
            assertEquals((float) Math.tanh(v), out[0], "tanh(" + v + ")");
            assertEquals(Float.floatToIntBits((float) Math.tanh(v)), Float.floatToIntBits(out[0]), "tanh(" + v + ") sign");
        }
    }
}
