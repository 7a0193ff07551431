package io.github.lstmkernels.tests;

import static org.quicktheories.generators.Generate.booleans;
import static org.quicktheories.generators.Generate.frequency;
import static org.quicktheories.generators.Generate.longRange;
import static org.quicktheories.generators.Generate.pick;
import static org.quicktheories.generators.Generate.range;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.util.List;
import org.quicktheories.api.Pair;
import org.quicktheories.core.Gen;

/**
 * One random property-test case: a configuration, a call shape, the data regime and the seed the
 * weights and data are drawn from. Everything else (weights, x, h0, c0, tolerance) is derived
 * from these fields, so the shrunk case QuickTheories prints is enough to replay it.
 */
record LstmCase(int inputSize, int hiddenSize, int layers, boolean bias, boolean batchFirst, int seqLen, int batch,
                boolean initialState, Regime regime, long seed) {

    /** How the data (x, h0, c0) are drawn; weights always follow PyTorch's U(±1/√H). */
    enum Regime {
        UNIT(1.0), SATURATING(20.0), TINY(1e-3);

        final double range;

        Regime(double range) {
            this.range = range;
        }
    }

    /** Sizes with extra weight on the edges of vector blocks: primes, powers of two, widths ± 1. */
    private static final List<Integer> EDGE_SIZES = List.of(1, 2, 3, 5, 7, 8, 9, 11, 13, 15, 16, 17, 31, 32, 33, 63, 64,
            65, 97, 127, 128, 129, 251, 256, 257);
    /** Multiply-adds per case, at most: keeps the suite within its time budget on two cores. */
    private static final long WORK_BUDGET = 3_000_000;

    static Gen<Integer> size() {
        return frequency(Pair.of(3, pick(EDGE_SIZES)), Pair.of(1, range(1, 300)));
    }

    static Gen<LstmCase> cases() {
        Gen<Regime> regime = frequency(Pair.of(7, pick(List.of(Regime.UNIT))),
                Pair.of(2, pick(List.of(Regime.SATURATING))), Pair.of(2, pick(List.of(Regime.TINY))));
        Gen<int[]> shape = size().zip(size(), range(1, 4), range(1, 50), (i, h, l, t) -> new int[] {i, h, l, t});
        Gen<int[]> call = range(1, 40).zip(booleans(), booleans(), booleans(),
                (b, bias, bf, init) -> new int[] {b, bias ? 1 : 0, bf ? 1 : 0, init ? 1 : 0});
        return shape.zip(call, regime, longRange(0, Long.MAX_VALUE / 2),
                (s, c, r, seed) -> fit(new LstmCase(s[0], s[1], s[2], c[1] == 1, c[2] == 1, s[3], c[0], c[3] == 1, r, seed)));
    }

    /** Shortens the sequence, then the batch, until the case fits the work budget. */
    private static LstmCase fit(LstmCase c) {
        long perRow = 0;
        for (int l = 0; l < c.layers; l++) {
            perRow += 4L * c.hiddenSize * ((l == 0 ? c.inputSize : c.hiddenSize) + c.hiddenSize);
        }
        int t = c.seqLen;
        int b = c.batch;
        while ((long) t * b * perRow > WORK_BUDGET && t > 1) {
            t = Math.max(1, t / 2);
        }
        while ((long) t * b * perRow > WORK_BUDGET && b > 1) {
            b = Math.max(1, b / 2);
        }
        return new LstmCase(c.inputSize, c.hiddenSize, c.layers, c.bias, c.batchFirst, t, b, c.initialState, c.regime, c.seed);
    }

    LstmConfig config() {
        return LstmConfig.builder(inputSize, hiddenSize).numLayers(layers).bias(bias).batchFirst(batchFirst).build();
    }

    LstmWeights weights() {
        return LstmWeights.random(config(), seed);
    }

    float[] x() {
        return TestData.uniform(seqLen * batch * inputSize, regime.range, seed + 1);
    }

    float[] h0() {
        int n = layers * batch * hiddenSize;
        return initialState ? TestData.uniform(n, regime.range, seed + 2) : new float[n];
    }

    float[] c0() {
        int n = layers * batch * hiddenSize;
        return initialState ? TestData.uniform(n, regime.range, seed + 3) : new float[n];
    }

    /**
     * The absolute tolerance for any output, h or c of this case, against the float64 oracle
     * (plus a relative 1e-5, as the golden cases use).
     *
     * <p>Derivation. A float32 dot product of K terms, in any summation order, is off by at most
     * about K·u·Σ|terms| in the worst case (u = 2^-24), and by about √K·u·Σ|terms| typically;
     * each term is at most max|W|·max(1, max|x|, max|h0|) with max|W| = 1/√H. The activations
     * have slopes ≤ 1 and the cell update is a contraction in c (f < 1), so pre-activation errors
     * carry into h and c without growth, but they add up along the path: √(T·L) steps, as random
     * errors do. Hence atol = 16 · u · K · term · √(T·L), with K = max layer input + H + 2 (the
     * biases). Example: I = H = 256, unit data, T = 50, L = 1: 2.2e-4, below what a swapped
     * gate or a dropped bias produces: {@code KernelProperties#toleranceSeesGateSwapAndDroppedBias}
     * checks that for every generated case with unit-range data.
     */
    double tolerance() {
        double u = Math.ulp(1.0f) / 2;
        int k = Math.max(inputSize, hiddenSize) + hiddenSize + 2;
        double term = (1 / Math.sqrt(hiddenSize)) * Math.max(1, regime.range);
        return 16 * u * k * term * Math.sqrt((double) seqLen * layers);
    }

    @Override
    public String toString() {
        return "LstmCase[I=" + inputSize + ", H=" + hiddenSize + ", L=" + layers + ", bias=" + bias + ", batchFirst="
                + batchFirst + ", T=" + seqLen + ", B=" + batch + ", initialState=" + initialState + ", data=" + regime
                + ", seed=" + seed + "L]";
    }
}
