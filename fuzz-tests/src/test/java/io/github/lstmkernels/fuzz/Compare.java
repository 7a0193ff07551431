package io.github.lstmkernels.fuzz;

import io.github.lstmkernels.LstmConfig;

/**
 * Accepted calls against the scalar backend on the same inputs.
 *
 * <p>The scalar backend against itself (the backend under test is scalar, the reference a fresh
 * scalar kernel fed only the accepted calls): bit for bit, since DESIGN §4 promises identical
 * results for identical inputs on one backend, whatever memory the tensors live in.
 *
 * <p>Another backend: {@code |got − ref| ≤ tol + 1e-5·|ref|} per element, with
 * {@code tol = 32·u·K·w·R·√(T·L)} (u = 2^-24, K = widest layer input + Hout + 2, + H with a
 * projection, w = max|W|, R = max(1, max|data|)). That is twice the bound the property suite
 * derives for float32 against a float64 oracle (a dot product of K terms is off by about
 * K·u·Σ|terms| at worst, errors add along √(T·L) steps, ×16 margin), twice because both sides
 * are float32. With the fuzzer's sizes (I, H ≤ 24, L ≤ 3, T ≤ 12, |data| ≤ 2, PyTorch's weights)
 * it is at most ≈ 6e-4, far below what a swapped gate or a dropped bias produces (≥ 1e-2).
 *
 * <p>NaN and infinity (the fuzzer plants them in x, h0, c0 and in weights): a NaN must be a NaN in
 * the same position, an infinity the same infinity; everything finite as above.
 */
final class Compare {
    private Compare() {
    }

    static double tolerance(LstmConfig c, int seqLen, double maxWeight, double dataRange) {
        double u = Math.ulp(1.0f) / 2;
        int widest = c.numLayers() > 1 ? Math.max(c.inputSize(), c.numDirections() * c.outputSize()) : c.inputSize();
        int k = widest + c.outputSize() + 2 + (c.projectionSize() > 0 ? c.hiddenSize() : 0);
        return 32 * u * k * maxWeight * Math.max(1, dataRange) * Math.sqrt((double) Math.max(seqLen, 1) * c.numLayers());
    }

    /** Null when equal under the rules above; else what differs. */
    static String mismatch(String name, float[] got, float[] ref, boolean exact, double tol) {
        if (got == null || ref == null) {
            return got == ref ? null : name + ": one side missing";
        }
        if (got.length != ref.length) {
            return name + ": " + got.length + " values, reference " + ref.length;
        }
        for (int i = 0; i < got.length; i++) {
            float g = got[i];
            float r = ref[i];
            boolean same;
            if (Float.isNaN(r) || Float.isNaN(g)) {
                same = Float.isNaN(r) && Float.isNaN(g);
            } else if (Float.isInfinite(r) || Float.isInfinite(g)) {
                same = g == r;
            } else if (exact) {
                same = Float.floatToIntBits(g) == Float.floatToIntBits(r) || (g == 0 && r == 0);
            } else {
                same = Math.abs((double) g - r) <= tol + 1e-5 * Math.abs(r);
            }
            if (!same) {
                return name + "[" + i + "] = " + g + ", scalar reference " + r
                        + (exact ? " (same backend: must be bit-identical)" : " (tolerance " + (tol + 1e-5 * Math.abs(r)) + ")");
            }
        }
        return null;
    }
}
