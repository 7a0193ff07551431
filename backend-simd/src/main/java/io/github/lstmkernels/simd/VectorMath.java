package io.github.lstmkernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised sigmoid and tanh over float arrays, built only from IEEE-exact operations (add, mul,
 * fma, div, compare, blend, integer shifts).
 *
 * <p><b>Why not {@code lanewise(EXP)}/{@code lanewise(TANH)}:</b> compiled code calls an intrinsic
 * library while the interpreter and C1 fall back to {@code Math.exp}; the two differ in the last
 * bit, so a result would depend on whether the caller had been JIT-compiled yet. DESIGN.md asks for
 * bit-identical results across threads and calls; these functions give the same bits in every
 * execution mode.
 *
 * <p><b>Why arrays in, arrays out:</b> a vector passed to or returned from a method that C2 does not
 * inline is boxed on the heap, which is slow and allocates. The exp code is long enough that C2
 * sometimes declines to inline it; so it sits inside the loop that uses it, and only arrays and
 * indices cross method boundaries.
 *
 * <p><b>Accuracy</b> (measured against {@code Math} in double by {@code VectorMathTest}): sigmoid
 * within 2.4 ulp (results below the smallest normal float flush to zero), tanh within 1.3 ulp,
 * including tiny arguments, where a polynomial keeps the relative error small.
 */
final class VectorMath {
    private static final VectorSpecies<Float> SPECIES = VectorWidth.SPECIES;
    private static final int LANES = SPECIES.length();
    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split in two, so that n·ln2 is subtracted exactly for |n| ≤ 128. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5·2^23: adding and subtracting it rounds a float to the nearest integer. */
    private static final float ROUNDER = 12582912f;
    private static final float EXP_MAX = 88.7228f;
    private static final float EXP_MIN = -87.3365f;
    /** Below this, tanh uses its odd polynomial; above, the exp form has no cancellation problem. */
    static final float TANH_SMALL = 0.625f;
    /** tanh(x) ≈ x + x·z·P(z), z = x², |x| < 0.625: P's coefficients, highest power first (Cephes' tanhf minimax). */
    static final float TANH_P0 = -5.70498872745e-3f;
    static final float TANH_P1 = 2.06390887954e-2f;
    static final float TANH_P2 = -5.37397155531e-2f;
    static final float TANH_P3 = 1.33314422036e-1f;
    static final float TANH_P4 = -3.33332819422e-1f;

    /*
     * Vector constants are static finals, which C2 folds: a helper returning a broadcast would be a
     * vector crossing a method boundary, boxed whenever C2 declines to inline it (it did, in the
     * GRU's epilogue, once tanhInPlace had inlined sigmoidInPlace).
     */
    private static final FloatVector EXP_MIN_V = FloatVector.broadcast(SPECIES, EXP_MIN);
    private static final FloatVector EXP_MAX_V = FloatVector.broadcast(SPECIES, EXP_MAX);
    private static final FloatVector MINUS_LN2_HI = FloatVector.broadcast(SPECIES, -LN2_HI);
    private static final FloatVector MINUS_LN2_LO = FloatVector.broadcast(SPECIES, -LN2_LO);
    /** e^r's polynomial from r² on: the minimax coefficients of Cephes' expf (the first two are scalars in the code). */
    private static final FloatVector EXP_P2 = FloatVector.broadcast(SPECIES, 8.3334519073e-3f);
    private static final FloatVector EXP_P3 = FloatVector.broadcast(SPECIES, 4.1665795894e-2f);
    private static final FloatVector EXP_P4 = FloatVector.broadcast(SPECIES, 1.6666665459e-1f);
    private static final FloatVector EXP_P5 = FloatVector.broadcast(SPECIES, 5.0000001201e-1f);
    private static final FloatVector TANH_P2_V = FloatVector.broadcast(SPECIES, TANH_P2);
    private static final FloatVector TANH_P3_V = FloatVector.broadcast(SPECIES, TANH_P3);
    private static final FloatVector TANH_P4_V = FloatVector.broadcast(SPECIES, TANH_P4);

    private VectorMath() {
    }

    /**
     * {@code a[i] = σ(a[i]) = 1 / (1 + e^-a[i])} for {@code count} values from {@code from}
     * ({@code count} a multiple of the vector length). e^x: x = n·ln2 + r with |r| ≤ ln2/2, e^r by
     * a degree-7 polynomial (the minimax coefficients of Cephes' expf) evaluated by Estrin's scheme,
     * scaled by 2^n built in the exponent bits. Saturates to exactly 0 and 1; NaN stays NaN.
     */
    static void sigmoidInPlace(float[] a, int from, int count) {
        sigmoidInPlace(a, from, count, 1, count);
    }

    /**
     * {@link #sigmoidInPlace(float[], int, int)} on {@code rows} runs of {@code count} values, {@code stride} apart.
     *
     * <p>σ is latency-bound: one is a chain of dependent operations (some 20 since the clamp's two
     * comparisons run side by side and the polynomial goes in three levels instead of five; the
     * LSTM cell's epilogue took 9 % less time for it, medians of six JVMs on a Zen 4). Four vectors'
     * chains, written line by line side by side, are what lets the core overlap them: 25–30 % less
     * time a vector than one at a time (the LSTM cell's four gate vectors of a row: 6.1–6.4 against
     * 8.1–8.6 ns on a Zen 4, with the longer chain); rows of two vectors (the GRU's σ of r and z) go
     * two rows to a group.
     * The remaining vectors go one at a time. Both paths apply the same
     * operations to every lane, so a value's bits never depend on which path it took.
     */
    static void sigmoidInPlace(float[] a, int from, int stride, int rows, int count) {
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        // A group is four vectors of a row, or, where a row holds two (the GRU's r and z), two
        // vectors of each of two rows: its last two start `across` after its first two.
        boolean pairs = count == 2 * LANES;
        int across = pairs ? stride : 2 * LANES;
        int groupedRows = pairs ? rows - rows % 2 : rows;
        int groupedCount = pairs ? count : count - count % (4 * LANES);
        for (int row = 0; row < groupedRows; row += pairs ? 2 : 1) {
            int first = from + row * stride;
            for (int at = first; at < first + groupedCount; at += 4 * LANES) {
                int at2 = at + across;
                FloatVector x0 = FloatVector.fromArray(SPECIES, a, at).neg();
                FloatVector x1 = FloatVector.fromArray(SPECIES, a, at + 1 * LANES).neg();
                FloatVector x2 = FloatVector.fromArray(SPECIES, a, at2).neg();
                FloatVector x3 = FloatVector.fromArray(SPECIES, a, at2 + LANES).neg();
                FloatVector clamped0 = x0.blend(EXP_MIN_V, x0.compare(VectorOperators.LT, EXP_MIN_V))
                        .blend(EXP_MAX_V, x0.compare(VectorOperators.GT, EXP_MAX_V));
                FloatVector clamped1 = x1.blend(EXP_MIN_V, x1.compare(VectorOperators.LT, EXP_MIN_V))
                        .blend(EXP_MAX_V, x1.compare(VectorOperators.GT, EXP_MAX_V));
                FloatVector clamped2 = x2.blend(EXP_MIN_V, x2.compare(VectorOperators.LT, EXP_MIN_V))
                        .blend(EXP_MAX_V, x2.compare(VectorOperators.GT, EXP_MAX_V));
                FloatVector clamped3 = x3.blend(EXP_MIN_V, x3.compare(VectorOperators.LT, EXP_MIN_V))
                        .blend(EXP_MAX_V, x3.compare(VectorOperators.GT, EXP_MAX_V));
                FloatVector shifted0 = clamped0.fma(LOG2E, ROUNDER);
                FloatVector shifted1 = clamped1.fma(LOG2E, ROUNDER);
                FloatVector shifted2 = clamped2.fma(LOG2E, ROUNDER);
                FloatVector shifted3 = clamped3.fma(LOG2E, ROUNDER);
                FloatVector n0 = shifted0.sub(ROUNDER);
                FloatVector n1 = shifted1.sub(ROUNDER);
                FloatVector n2 = shifted2.sub(ROUNDER);
                FloatVector n3 = shifted3.sub(ROUNDER);
                FloatVector r0 = n0.fma(MINUS_LN2_HI, clamped0);
                FloatVector r1 = n1.fma(MINUS_LN2_HI, clamped1);
                FloatVector r2 = n2.fma(MINUS_LN2_HI, clamped2);
                FloatVector r3 = n3.fma(MINUS_LN2_HI, clamped3);
                r0 = n0.fma(MINUS_LN2_LO, r0);
                r1 = n1.fma(MINUS_LN2_LO, r1);
                r2 = n2.fma(MINUS_LN2_LO, r2);
                r3 = n3.fma(MINUS_LN2_LO, r3);
                FloatVector square0 = r0.mul(r0);
                FloatVector square1 = r1.mul(r1);
                FloatVector square2 = r2.mul(r2);
                FloatVector square3 = r3.mul(r3);
                FloatVector high0 = r0.fma(1.9875691500e-4f, 1.3981999507e-3f);
                FloatVector high1 = r1.fma(1.9875691500e-4f, 1.3981999507e-3f);
                FloatVector high2 = r2.fma(1.9875691500e-4f, 1.3981999507e-3f);
                FloatVector high3 = r3.fma(1.9875691500e-4f, 1.3981999507e-3f);
                FloatVector middle0 = r0.fma(EXP_P2, EXP_P3);
                FloatVector middle1 = r1.fma(EXP_P2, EXP_P3);
                FloatVector middle2 = r2.fma(EXP_P2, EXP_P3);
                FloatVector middle3 = r3.fma(EXP_P2, EXP_P3);
                FloatVector low0 = r0.fma(EXP_P4, EXP_P5);
                FloatVector low1 = r1.fma(EXP_P4, EXP_P5);
                FloatVector low2 = r2.fma(EXP_P4, EXP_P5);
                FloatVector low3 = r3.fma(EXP_P4, EXP_P5);
                FloatVector p0 = high0.fma(square0, middle0).fma(square0, low0);
                FloatVector p1 = high1.fma(square1, middle1).fma(square1, low1);
                FloatVector p2 = high2.fma(square2, middle2).fma(square2, low2);
                FloatVector p3 = high3.fma(square3, middle3).fma(square3, low3);
                p0 = square0.fma(p0, r0).add(one);
                p1 = square1.fma(p1, r1).add(one);
                p2 = square2.fma(p2, r2).add(one);
                p3 = square3.fma(p3, r3).add(one);
                IntVector exponent0 = shifted0.add(127f).reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
                IntVector exponent1 = shifted1.add(127f).reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
                IntVector exponent2 = shifted2.add(127f).reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
                IntVector exponent3 = shifted3.add(127f).reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
                FloatVector e0 = p0.mul(exponent0.reinterpretAsFloats());
                FloatVector e1 = p1.mul(exponent1.reinterpretAsFloats());
                FloatVector e2 = p2.mul(exponent2.reinterpretAsFloats());
                FloatVector e3 = p3.mul(exponent3.reinterpretAsFloats());
                one.div(e0.add(one)).intoArray(a, at);
                one.div(e1.add(one)).intoArray(a, at + 1 * LANES);
                one.div(e2.add(one)).intoArray(a, at2);
                one.div(e3.add(one)).intoArray(a, at2 + LANES);
            }
        }
        for (int row = 0; row < rows; row++) {
            int first = from + row * stride;
            for (int at = row < groupedRows ? first + groupedCount : first; at < first + count; at += LANES) {
                FloatVector x = FloatVector.fromArray(SPECIES, a, at).neg();
                // Compare and blend, not max/min: Java's max and min also order −0 below +0 and
                // propagate NaN, three more instructions each. NaN fails both comparisons and stays.
                FloatVector clamped = x.blend(EXP_MIN_V, x.compare(VectorOperators.LT, EXP_MIN_V))
                        .blend(EXP_MAX_V, x.compare(VectorOperators.GT, EXP_MAX_V));
                // Adding 1.5·2^23 rounds to the integer n and leaves 0x4B400000 + n in the bits.
                FloatVector shifted = clamped.fma(LOG2E, ROUNDER);
                FloatVector n = shifted.sub(ROUNDER);
                FloatVector r = n.fma(MINUS_LN2_HI, clamped);
                r = n.fma(MINUS_LN2_LO, r);
                // e^r = 1 + r + r²·q(r), q of degree 5 by Estrin's scheme: three levels, not Horner's five.
                FloatVector r2 = r.mul(r);
                FloatVector high = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
                FloatVector middle = r.fma(EXP_P2, EXP_P3);
                FloatVector low = r.fma(EXP_P4, EXP_P5);
                FloatVector p = high.fma(r2, middle).fma(r2, low);
                p = r2.fma(p, r).add(one);
                // 2^n from those bits: + 127 and shifted left by 23, their low 9 bits, n + 127 in [1, 255],
                // become the exponent field (no float-to-int conversion, which Java's semantics make
                // cost a range check). The clamp bounds e^-x to [1.2e-38, 3.4e38]: σ then rounds to 1
                // above and is below 3e-39 under, with no special case; NaN stays NaN.
                IntVector exponent = shifted.add(127f).reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
                FloatVector e = p.mul(exponent.reinterpretAsFloats());
                one.div(e.add(one)).intoArray(a, at);
            }
        }
    }

    /**
     * {@code a[i] = tanh(a[i])} for {@code count} values from {@code from}, using
     * {@code scratch[at, at + count)}. From s = σ(−2|x|): for |x| ≥ 0.625, sign(x)·(1 − 2s), free
     * of cancellation; below, x + x·z·P(z) with z = x² (the minimax coefficients of Cephes' tanhf),
     * accurate in relative terms down to tiny x. Written inside the loop, not as a helper taking
     * vectors (see the class comment).
     */
    static void tanhInPlace(float[] a, int from, int count, float[] scratch, int at) {
        for (int i = 0; i < count; i += LANES) {
            FloatVector.fromArray(SPECIES, a, from + i).abs().mul(-2f).intoArray(scratch, at + i);
        }
        sigmoidInPlace(scratch, at, count);
        for (int i = 0; i < count; i += LANES) {
            FloatVector x = FloatVector.fromArray(SPECIES, a, from + i);
            FloatVector large = FloatVector.fromArray(SPECIES, scratch, at + i).fma(-2f, 1f);
            large = large.blend(large.neg(), x.compare(VectorOperators.LT, 0f));
            FloatVector z = x.mul(x);
            FloatVector p = z.fma(TANH_P0, TANH_P1).fma(z, TANH_P2_V).fma(z, TANH_P3_V).fma(z, TANH_P4_V);
            // The blend with x keeps the sign of zero: tanh(-0) = -0, as Math.tanh gives.
            FloatVector small = x.mul(z).fma(p, x).blend(x, x.compare(VectorOperators.EQ, 0f));
            // NaN fails the comparison and takes the large form, which is NaN too.
            large.blend(small, x.abs().compare(VectorOperators.LT, TANH_SMALL)).intoArray(a, from + i);
        }
    }
}
