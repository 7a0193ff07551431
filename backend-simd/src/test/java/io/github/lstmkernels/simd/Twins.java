package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Shared pieces of the twin tests ({@link GateBlocksTwinTest}, {@link GradientBlocksTwinTest}):
 * the awkward sizes, the error bounds, and the sentinel checks that a kernel wrote nothing outside
 * its outputs.
 *
 * <p><b>Error bounds used by the twins.</b> Unit roundoff u = 2⁻²⁴.
 * <ul>
 *   <li>A sum of n float products, accumulated with FMA or mul+add in any order, is within
 *       γ(n) · Σ|terms| of the exact sum, γ(n) = n·u / (1 − n·u) (Higham, recursive summation; the
 *       kernels' even/odd chains and the final add are a different order of the same sum, covered
 *       by the same bound with n + 1 terms). Plus half an ulp of the stored float.</li>
 *   <li>An expression of k float operations (products, sums, 1 − x) is within γ(k)·|expr|ₐ of its
 *       exact value, where |expr|ₐ is the expression re-evaluated with every operand replaced by
 *       its absolute value and every difference by a sum ("running error bound"). Cancellation is
 *       therefore paid for only by the inputs' size, never by the result's.</li>
 *   <li>σ and tanh in ulps of the double reference: VectorMath's comment and VectorMathTest measure
 *       2.35 and 1.28 ulp; the twins allow {@link #SIGMOID_ULPS} and {@link #TANH_ULPS}. Results
 *       below the smallest normal float may flush to 0 (VectorMath's documented clamp), so an
 *       absolute {@link Float#MIN_NORMAL} is added.</li>
 * </ul>
 * A planted fault (a swapped accumulator, a lost column, a coefficient off in its 5th digit)
 * moves a result by far more than any of these bounds: a coefficient error of 1e-5 in tanh's
 * polynomial is ~20 ulp at |x| ≈ 0.6.
 */
final class Twins {
    static final int LANES = GateBlocks.LANES;
    static final int PANEL_WIDTH = GateBlocks.PANEL_WIDTH;
    static final double U = 0x1p-24;
    static final double SIGMOID_ULPS = 3;
    static final double TANH_ULPS = 2;

    /** 1, 2, 3, V−1, V, V+1 and primes: every tail and chain length a kernel loop can end with. */
    static final int[] SMALL = distinct(1, 2, 3, LANES - 1, LANES, LANES + 1, 7, 13, 31, 61);
    /** {@link #SMALL} plus thousands (odd and even: accumulate1's odd-column tail). */
    static final int[] WITH_THOUSANDS = concat(SMALL, 1000, 2999);
    /** Row counts 1..13: every mix of 6-, 4- and 1-row tiles, including 8 → 4+4 and 9 → 4+4+1. */
    static final int[] ROWS = IntStream.rangeClosed(1, 13).toArray();

    private Twins() {
    }

    static int[] distinct(int... values) {
        return IntStream.of(values).filter(n -> n > 0).distinct().sorted().toArray();
    }

    static int[] concat(int[] a, int... more) {
        return distinct(IntStream.concat(IntStream.of(a), IntStream.of(more)).toArray());
    }

    static double gamma(int n) {
        double nu = n * U;
        return nu / (1 - nu);
    }

    /** Floats uniform on (−1, 1). */
    static float[] values(SplittableRandom random, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return a;
    }

    /** An array of sentinels (integers in [1000, 2000)): slots a kernel must not touch, or must overwrite. */
    static float[] sentinels(SplittableRandom random, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = 1000f + random.nextInt(1000);
        }
        return a;
    }

    /**
     * Absolute slack for roundings in the subnormal range, where an operation's error is up to half
     * of {@link Float#MIN_VALUE} whatever the size of its result (relative bounds do not cover it):
     * 1.1e-44, far below any fault's effect.
     */
    static final double UNDERFLOW = 8.0 * Float.MIN_VALUE;

    /**
     * |got − want| ≤ bound + ½ ulp of the float {@code want} rounds to + {@link #UNDERFLOW}; NaN and
     * ±∞ must match exactly.
     */
    static void assertClose(double want, float got, double bound, String where) {
        if (Double.isNaN(want) || Double.isInfinite(want)) {
            if (Double.compare(want, got) != 0) {
                fail(where + ": got " + got + ", want " + want);
            }
            return;
        }
        double allowed = bound + Math.ulp((float) want) / 2.0 + UNDERFLOW;
        if (!(Math.abs(got - want) <= allowed)) {
            fail(where + ": got " + got + ", want " + want + " (±" + allowed + ", off by "
                    + Math.abs(got - want) / Math.ulp((float) want) + " ulp)");
        }
    }

    /** Within {@code ulps} ulps of the float nearest {@code want}, or {@link Float#MIN_NORMAL} (flush). */
    static void assertUlps(double want, float got, double ulps, String where) {
        if (Double.isNaN(want) || Double.isInfinite(want)) {
            if (Double.compare(want, got) != 0) {
                fail(where + ": got " + got + ", want " + want);
            }
            return;
        }
        double allowed = ulps * Math.ulp((float) want) + Float.MIN_NORMAL;
        if (!(Math.abs(got - want) <= allowed)) {
            fail(where + ": got " + got + ", want " + want + " (off by " + Math.abs(got - want) / Math.ulp((float) want)
                    + " ulp, allowed " + ulps + ")");
        }
    }

    /** Bitwise equality, so that −0 and +0 differ (any NaN matches any NaN: payloads are no contract). */
    static void assertSameBits(float want, float got, String where) {
        if (Float.isNaN(want) && Float.isNaN(got)) {
            return;
        }
        if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got)) {
            fail(where + ": got " + got + " (0x" + Integer.toHexString(Float.floatToRawIntBits(got)) + "), want " + want
                    + " (0x" + Integer.toHexString(Float.floatToRawIntBits(want)) + ")");
        }
    }

    /** Every slot of {@code after} that {@code written} does not mark is bitwise what it was. */
    static void assertUntouched(float[] before, float[] after, boolean[] written, String what) {
        assertEquals(before.length, after.length, what);
        for (int i = 0; i < before.length; i++) {
            if (!written[i] && Float.floatToRawIntBits(before[i]) != Float.floatToRawIntBits(after[i])) {
                fail(what + ": slot " + i + " is outside the kernel's outputs but changed from " + before[i] + " to "
                        + after[i]);
            }
        }
    }

    static void assertUnchanged(float[] before, float[] after, String what) {
        assertUntouched(before, after, new boolean[before.length], what);
    }

    /** Marks {@code rows} runs of {@code width} slots, {@code stride} apart, from {@code from}. */
    static void mark(boolean[] written, int from, int stride, int rows, int width) {
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < width; j++) {
                written[from + r * stride + j] = true;
            }
        }
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }
}
