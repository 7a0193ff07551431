package io.github.lstmkernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised exp, sigmoid and tanh built only from IEEE-exact operations (add, mul, fma, div,
 * compare, blend, integer shifts).
 *
 * <p>Why not {@code lanewise(EXP)} and {@code lanewise(TANH)}: compiled code calls an intrinsic
 * library while the interpreter and C1 fall back to {@code Math.exp}, and the two differ in the
 * last bit. A kernel whose result depends on whether its caller has been JIT-compiled is not
 * deterministic, and DESIGN.md asks for bit-identical results across threads and calls. These
 * functions give the same bits in every execution mode.
 *
 * <p>Accuracy (measured over a dense grid against {@code Math.exp}/{@code Math.tanh} in double,
 * see {@code VectorMathTest}): exp within 1 ulp on [-87, 88]; sigmoid within 2.4 ulp (results
 * below the smallest normal float flush to zero); tanh within 1.3 ulp, including tiny arguments,
 * where a polynomial keeps the relative error small. The golden tolerances assume accurate
 * activations; these are.
 */
final class VectorMath {
    private static final VectorSpecies<Float> SPECIES = VectorWidth.SPECIES;
    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split in two, so that n·ln2 is subtracted exactly for |n| ≤ 128. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5·2^23: adding and subtracting it rounds a float to the nearest integer. */
    private static final float ROUNDER = 12582912f;
    private static final float EXP_MAX = 88.7228f;
    private static final float EXP_MIN = -87.3365f;
    /** Below this, tanh uses its odd polynomial; above, the exp form has no cancellation problem. */
    private static final float TANH_SMALL = 0.625f;

    private VectorMath() {
    }

    /** e^x: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7 polynomial (minimax coefficients of Cephes' expf), times 2^n. */
    static FloatVector exp(FloatVector x) {
        FloatVector clamped = x.max(EXP_MIN).min(EXP_MAX);
        FloatVector n = clamped.mul(LOG2E).add(ROUNDER).sub(ROUNDER);
        FloatVector r = n.fma(splat(-LN2_HI), clamped);
        r = n.fma(splat(-LN2_LO), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, splat(8.3334519073e-3f));
        p = p.fma(r, splat(4.1665795894e-2f));
        p = p.fma(r, splat(1.6666665459e-1f));
        p = p.fma(r, splat(5.0000001201e-1f));
        p = p.mul(r.mul(r)).add(r).add(1f);
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector result = p.mul(bits.reinterpretAsFloats());
        // Past the clamp: overflow to infinity, underflow to zero, NaN stays NaN (the clamp kept it).
        result = result.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_MAX));
        return result.blend(0f, x.compare(VectorOperators.LT, EXP_MIN));
    }

    private static FloatVector splat(float v) {
        return FloatVector.broadcast(SPECIES, v);
    }

    /** σ(x) = 1 / (1 + e^-x); saturates to exactly 0 and 1. */
    static FloatVector sigmoid(FloatVector x) {
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        return one.div(exp(x.neg()).add(one));
    }

    /**
     * tanh(x): for |x| < 0.625, x + x·z·P(z) with z = x² (minimax coefficients of Cephes' tanhf);
     * above, sign(x)·(1 − 2 / (e^{2|x|} + 1)).
     */
    static FloatVector tanh(FloatVector x) {
        FloatVector abs = x.abs();
        FloatVector z = x.mul(x);
        FloatVector p = z.fma(-5.70498872745e-3f, 2.06390887954e-2f);
        p = p.fma(z, splat(-5.37397155531e-2f));
        p = p.fma(z, splat(1.33314422036e-1f));
        p = p.fma(z, splat(-3.33332819422e-1f));
        // The blend keeps the sign of zero: tanh(-0) = -0, as Math.tanh gives.
        FloatVector small = x.mul(z).fma(p, x).blend(x, x.compare(VectorOperators.EQ, 0f));
        FloatVector large = FloatVector.broadcast(SPECIES, 1f).sub(
                FloatVector.broadcast(SPECIES, 2f).div(exp(abs.add(abs)).add(1f)));
        large = large.blend(large.neg(), x.compare(VectorOperators.LT, 0f));
        VectorMask<Float> useSmall = abs.compare(VectorOperators.LT, TANH_SMALL);
        // NaN fails both comparisons and takes the large form, which keeps it NaN.
        return large.blend(small, useSmall);
    }
}
