package io.github.lstmkernels.tests;

import static org.quicktheories.generators.Generate.booleans;
import static org.quicktheories.generators.Generate.frequency;
import static org.quicktheories.generators.Generate.longRange;
import static org.quicktheories.generators.Generate.pick;
import static org.quicktheories.generators.Generate.range;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.quicktheories.api.Pair;
import org.quicktheories.core.Gen;

/**
 * One random property-test case: a configuration (cell, sizes, layers, directions, projection,
 * flags), a call shape, whether rows have their own lengths, the data regime and the seed the
 * weights, data and lengths are drawn from. Everything else (weights, x, h0, c0, lengths,
 * tolerance) is derived from these fields, so the shrunk case QuickTheories prints replays it.
 */
record LstmCase(CellType cell, int inputSize, int hiddenSize, int projection, int layers, boolean bidirectional,
                boolean bias, boolean batchFirst, int seqLen, int batch, boolean initialState, boolean withLengths,
                Regime regime, long seed) {

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

    /** Every kind of case: LSTM and GRU, one or two directions, projection, lengths. */
    static Gen<LstmCase> cases() {
        Gen<Regime> regime = frequency(Pair.of(7, pick(List.of(Regime.UNIT))),
                Pair.of(2, pick(List.of(Regime.SATURATING))), Pair.of(2, pick(List.of(Regime.TINY))));
        Gen<int[]> shape = size().zip(size(), range(1, 4), range(1, 50), (i, h, l, t) -> new int[] {i, h, l, t});
        Gen<int[]> call = range(1, 40).zip(booleans(), booleans(), booleans(),
                (b, bias, bf, init) -> new int[] {b, bias ? 1 : 0, bf ? 1 : 0, init ? 1 : 0});
        // kind: cell (0 LSTM, 1 GRU, 2/3 more LSTM), bidirectional, projection wanted, lengths.
        Gen<int[]> kind = range(0, 3).zip(range(0, 2), range(0, 3), range(0, 2),
                (cell, bi, proj, len) -> new int[] {cell == 1 ? 1 : 0, bi == 0 ? 1 : 0, proj == 0 ? 1 : 0, len == 0 ? 1 : 0});
        return shape.zip(call, kind, regime.zip(longRange(0, Long.MAX_VALUE / 2), Pair::of), (s, c, k, rs) -> {
            CellType cell = k[0] == 1 ? CellType.GRU : CellType.LSTM;
            long seed = rs._2;
            // proj_size in [1, H): only for an LSTM with H > 1.
            int projection = cell == CellType.LSTM && k[2] == 1 && s[1] > 1 ? 1 + (int) (seed % (s[1] - 1)) : 0;
            return fit(new LstmCase(cell, s[0], s[1], projection, s[2], k[1] == 1, c[1] == 1, c[2] == 1, s[3], c[0],
                    c[3] == 1, k[3] == 1, rs._1, seed));
        });
    }

    /**
     * Tiny cases of every kind (sizes 1–5, up to 2 layers, 5 steps, 3 rows, unit data), for
     * finite differences, which run the oracle twice per parameter.
     */
    static Gen<LstmCase> smallCases() {
        Gen<int[]> shape = range(1, 5).zip(range(1, 5), range(1, 2), range(1, 5), (i, h, l, t) -> new int[] {i, h, l, t});
        Gen<int[]> call = range(1, 3).zip(booleans(), booleans(), booleans(),
                (b, bias, bf, init) -> new int[] {b, bias ? 1 : 0, bf ? 1 : 0, init ? 1 : 0});
        Gen<int[]> kind = range(0, 3).zip(range(0, 1), range(0, 1), range(0, 1),
                (cell, bi, proj, len) -> new int[] {cell == 1 ? 1 : 0, bi, proj, len});
        return shape.zip(call, kind, longRange(0, Long.MAX_VALUE / 2), (s, c, k, seed) -> {
            CellType cell = k[0] == 1 ? CellType.GRU : CellType.LSTM;
            int projection = cell == CellType.LSTM && k[2] == 1 && s[1] > 1 ? 1 + (int) (seed % (s[1] - 1)) : 0;
            return new LstmCase(cell, s[0], s[1], projection, s[2], k[1] == 1, c[1] == 1, c[2] == 1, s[3], c[0],
                    c[3] == 1, k[3] == 1, Regime.UNIT, seed);
        });
    }

    /** Shortens the sequence, then the batch, until the case fits the work budget. */
    private static LstmCase fit(LstmCase c) {
        int hout = c.projection > 0 ? c.projection : c.hiddenSize;
        int directions = c.bidirectional ? 2 : 1;
        long perRow = 0;
        for (int l = 0; l < c.layers; l++) {
            int in = l == 0 ? c.inputSize : directions * hout;
            perRow += directions * ((long) c.cell.gates() * c.hiddenSize * (in + hout) + (long) c.projection * c.hiddenSize);
        }
        int t = c.seqLen;
        int b = c.batch;
        while ((long) t * b * perRow > WORK_BUDGET && t > 1) {
            t = Math.max(1, t / 2);
        }
        while ((long) t * b * perRow > WORK_BUDGET && b > 1) {
            b = Math.max(1, b / 2);
        }
        return c.with(t, b);
    }

    /** The same case with another sequence length and batch. */
    LstmCase with(int seqLen, int batch) {
        return new LstmCase(cell, inputSize, hiddenSize, projection, layers, bidirectional, bias, batchFirst, seqLen,
                batch, initialState, withLengths, regime, seed);
    }

    LstmConfig config() {
        return LstmConfig.builder(inputSize, hiddenSize).cell(cell).numLayers(layers).bidirectional(bidirectional)
                .projectionSize(projection).bias(bias).batchFirst(batchFirst).build();
    }

    boolean gru() {
        return cell == CellType.GRU;
    }

    int directions() {
        return bidirectional ? 2 : 1;
    }

    int outputSize() {
        return projection > 0 ? projection : hiddenSize;
    }

    /** What a backend must implement for this case. */
    Set<Feature> requiredFeatures() {
        Set<Feature> features = EnumSet.noneOf(Feature.class);
        features.addAll(config().requiredFeatures());
        if (withLengths) {
            features.add(Feature.VARIABLE_LENGTHS);
        }
        return features;
    }

    LstmWeights weights() {
        return LstmWeights.random(config(), seed);
    }

    float[] x() {
        return TestData.uniform(seqLen * batch * inputSize, regime.range, seed + 1);
    }

    float[] h0() {
        int n = layers * directions() * batch * outputSize();
        return initialState ? TestData.uniform(n, regime.range, seed + 2) : new float[n];
    }

    /** The initial cell state; null for a GRU. */
    float[] c0() {
        if (gru()) {
            return null;
        }
        int n = layers * directions() * batch * hiddenSize;
        return initialState ? TestData.uniform(n, regime.range, seed + 3) : new float[n];
    }

    /** Per-row lengths in [1, T], any order, repeats likely; null when the case has none. */
    int[] lengths() {
        if (!withLengths) {
            return null;
        }
        SplittableRandom random = new SplittableRandom(seed + 4);
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            lengths[b] = 1 + random.nextInt(seqLen);
        }
        return lengths;
    }

    int yLength() {
        return seqLen * batch * directions() * outputSize();
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
     * errors do. Hence atol = 16 · u · K · term · √(T·L), with K = the widest layer input
     * (D·Hout above layer 0) + Hout + 2 (the biases), + H with a projection (one more dot product
     * of H terms per step). Example: I = H = 256, unit data, T = 50, L = 1: 2.2e-4, below what a
     * swapped gate or a dropped bias produces: {@code KernelProperties#toleranceSeesSwappedGatesAndDroppedBias}
     * checks that for every generated case with unit-range data.
     */
    double tolerance() {
        double u = Math.ulp(1.0f) / 2;
        int widestInput = layers > 1 ? Math.max(inputSize, directions() * outputSize()) : inputSize;
        int k = widestInput + outputSize() + 2 + (projection > 0 ? hiddenSize : 0);
        double term = (1 / Math.sqrt(hiddenSize)) * Math.max(1, regime.range);
        return 16 * u * k * term * Math.sqrt((double) seqLen * layers);
    }

    @Override
    public String toString() {
        return "LstmCase[" + cell + " I=" + inputSize + ", H=" + hiddenSize + ", P=" + projection + ", L=" + layers
                + ", bidirectional=" + bidirectional + ", bias=" + bias + ", batchFirst=" + batchFirst + ", T=" + seqLen
                + ", B=" + batch + ", initialState=" + initialState + ", lengths=" + withLengths + ", data=" + regime
                + ", seed=" + seed + "L]";
    }
}
