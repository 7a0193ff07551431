package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;

/** The error bounds VectorMath's comment promises, measured against double-precision Math. */
class VectorMathTest {
    private static final int LANES = VectorWidth.SPECIES.length();

    /** Largest error in float ulps of the reference value, over {@code count} points spread on [lo, hi]. */
    private interface ArrayFunction {
        void applyInPlace(float[] values);
    }

    private static final ArrayFunction SIGMOID = a -> VectorMath.sigmoidInPlace(a, 0, a.length);
    private static final ArrayFunction TANH = a -> VectorMath.tanhInPlace(a, 0, a.length, new float[a.length], 0);

    private static double maxUlpError(ArrayFunction f, DoubleUnaryOperator reference, float lo, float hi, int count) {
        int n = (count + LANES - 1) / LANES * LANES;
        float[] in = new float[n];
        for (int i = 0; i < n; i++) {
            in[i] = lo + (hi - lo) * (float) (i % count) / count;
        }
        float[] out = in.clone();
        f.applyInPlace(out);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double want = reference.applyAsDouble(in[i]);
            worst = Math.max(worst, Math.abs(out[i] - want) / Math.ulp((float) want));
        }
        return worst;
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    @Test
    void sigmoidIsWithinThreeUlp() {
        double err = Math.max(maxUlpError(SIGMOID, VectorMathTest::sigmoid, -30f, 30f, 400_000),
                maxUlpError(SIGMOID, VectorMathTest::sigmoid, -1e-3f, 1e-3f, 100_000));
        System.out.println("sigmoid max error: " + err + " ulp");
        assertTrue(err <= 3, "sigmoid error " + err + " ulp");
    }

    @Test
    void tanhIsWithinTwoUlpAlsoForTinyArguments() {
        double err = Math.max(maxUlpError(TANH, Math::tanh, -20f, 20f, 400_000),
                Math.max(maxUlpError(TANH, Math::tanh, -1e-3f, 1e-3f, 100_000),
                        maxUlpError(TANH, Math::tanh, -1f, 1f, 100_000)));
        System.out.println("tanh max error: " + err + " ulp");
        assertTrue(err <= 2, "tanh error " + err + " ulp");
    }

    /**
     * The four-vector path of {@code sigmoidInPlace} (four σ chains written side by side) against
     * its one-vector path, bit for bit: runs of 11 vectors (two groups of four, then three alone)
     * over several strided rows, and runs of two vectors (the GRU's r and z: two rows to a group)
     * over an odd number of rows (the last row's two alone), against every vector on its own, with
     * special values among the inputs. A slip in one of the four written-out chains, or a group
     * that takes the wrong vectors, shows here.
     */
    @Test
    void fourVectorPathEqualsOneVectorPathBitForBit() {
        checkGroupedAgainstAlone(11, 3);
        checkGroupedAgainstAlone(2, 5);
        checkGroupedAgainstAlone(2, 1);
        checkGroupedAgainstAlone(4, 2);
    }

    private static void checkGroupedAgainstAlone(int vectors, int rows) {
        int stride = vectors * LANES + 5;
        float[] in = new float[rows * stride];
        java.util.SplittableRandom random = new java.util.SplittableRandom(7);
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 100f, -100f, 0f, -0f, 88.8f, -87.4f};
        for (int i = 0; i < in.length; i++) {
            in[i] = i % 17 == 0 ? specials[i / 17 % specials.length] : (float) (random.nextGaussian() * 8);
        }
        float[] grouped = in.clone();
        VectorMath.sigmoidInPlace(grouped, 0, stride, rows, vectors * LANES);
        float[] alone = in.clone();
        for (int row = 0; row < rows; row++) {
            for (int v = 0; v < vectors; v++) {
                VectorMath.sigmoidInPlace(alone, row * stride + v * LANES, LANES);
            }
        }
        for (int i = 0; i < in.length; i++) {
            assertEquals(Float.floatToIntBits(alone[i]), Float.floatToIntBits(grouped[i]),
                    vectors + " vectors × " + rows + " rows, element " + i + ", input " + in[i]);
        }
    }

    @Test
    void specialValuesSaturateOrPropagate() {
        float[] out = new float[LANES];
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 100f, -100f, 0f, -0f};
        for (float v : specials) {
            java.util.Arrays.fill(out, v);
            SIGMOID.applyInPlace(out);
            // Results below the smallest normal float (sigmoid(-100) = 3.8e-44) flush to zero.
            assertEquals((float) sigmoid(v), out[0], Float.MIN_NORMAL, "sigmoid(" + v + ")");
            assertEquals(Float.isNaN(v), Float.isNaN(out[0]), "sigmoid(" + v + ")");
            java.util.Arrays.fill(out, v);
            TANH.applyInPlace(out);
            assertEquals((float) Math.tanh(v), out[0], "tanh(" + v + ")");
            assertEquals(Float.floatToIntBits((float) Math.tanh(v)), Float.floatToIntBits(out[0]), "tanh(" + v + ") sign");
        }
    }
}
