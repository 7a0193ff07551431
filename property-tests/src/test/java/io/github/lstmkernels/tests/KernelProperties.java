package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.generators.Generate.range;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.quicktheories.QuickTheory;
import org.quicktheories.core.Gen;

/**
 * Properties every backend must have, on random configurations (QuickTheories: generators, a
 * fixed seed by default, shrinking to a minimal failing case printed with its seed).
 *
 * <p>{@code -Dlstm.test.scale=100} runs 100× more examples; {@code -Dlstm.test.seed=N} runs another
 * seed ({@code random} picks one and prints it). A failure prints the shrunk case, which holds
 * the seed of its own weights and data, and the run's seed.
 */
class KernelProperties {
    private static final int SCALE = Integer.getInteger("lstm.test.scale", 1);
    private static final long SEED = seed(System.getProperty("lstm.test.seed", "20261126"));
    private static List<LstmBackend> backends;
    /** The largest error seen against the oracle, in tolerances: shows how much room the tolerance leaves. */
    private static final java.util.concurrent.atomic.DoubleAccumulator WORST_SEEN =
            new java.util.concurrent.atomic.DoubleAccumulator(Math::max, 0);

    /** A number, or "random" for a fresh seed (printed, so a failure can be replayed). */
    private static long seed(String value) {
        return value.equals("random") ? new java.util.SplittableRandom().nextLong() : Long.parseLong(value);
    }

    @BeforeAll
    static void discover() {
        backends = Backends.all();
        System.out.println("properties: backends " + backends.stream().map(LstmBackend::name).toList() + ", seed " + SEED
                + ", scale " + SCALE);
    }

    @AfterAll
    static void done() {
        System.out.println("properties: largest error against the float64 reference: " + WORST_SEEN.get() + " × tolerance");
        backends = null;
    }

    private static QuickTheory qt(int examples) {
        return QuickTheory.qt().withFixedSeed(SEED).withExamples(examples * SCALE).withShrinkCycles(50);
    }

    /** Outputs of one call: y, final h, final c. */
    record Outputs(float[] y, float[] h, float[] c) {
    }

    static Outputs run(LstmKernel kernel, LstmCase c) {
        float[] y = new float[c.seqLen() * c.batch() * c.hiddenSize()];
        float[] h = c.h0();
        float[] cell = c.c0();
        kernel.sequence(c.seqLen(), c.batch(), c.x(), y, h, cell);
        return new Outputs(y, h, cell);
    }

    /** Largest |got − want| − rtol·|want| over all elements, as a multiple of the case tolerance (≤ 1 passes). */
    static double worst(float[] got, double[] want, double tolerance) {
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            double excess = Math.abs(got[i] - want[i]) - 1e-5 * Math.abs(want[i]);
            // NaN compares false: count it as a failure.
            double ratio = excess / tolerance;
            worst = Double.isNaN(ratio) ? Double.POSITIVE_INFINITY : Math.max(worst, ratio);
        }
        return worst;
    }

    static void assertClose(String what, LstmCase c, Outputs got, ReferenceLstm.Result want) {
        assertClose(what, c, got, want, c.tolerance());
    }

    /** Asserts y, h and c within {@code tol}; returns the worst error as a multiple of it. */
    static double assertClose(String what, LstmCase c, Outputs got, ReferenceLstm.Result want, double tol) {
        double ratio = Math.max(worst(got.y(), want.output(), tol), Math.max(worst(got.h(), want.h(), tol),
                worst(got.c(), want.c(), tol)));
        assertTrue(ratio <= 1, what + ": error " + ratio + "× the tolerance " + tol + " for " + c
                + " (replay with -Dlstm.test.seed=" + SEED + ")");
        return ratio;
    }

    private static ReferenceLstm.Result toDouble(Outputs o) {
        return new ReferenceLstm.Result(doubles(o.y()), doubles(o.h()), doubles(o.c()));
    }

    private static double[] doubles(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }

    @Test
    void everyBackendAgreesWithTheFloat64Reference() {
        qt(120).forAll(LstmCase.cases()).checkAssert(c -> {
            ReferenceLstm.Result want = ReferenceLstm.run(c.config(), c.weights(), c.seqLen(), c.batch(), c.x(), c.h0(), c.c0());
            for (LstmBackend backend : backends) {
                try (LstmKernel kernel = backend.prepare(c.config(), c.weights())) {
                    WORST_SEEN.accumulate(assertClose(backend.name() + " vs float64 reference", c, run(kernel, c), want,
                            c.tolerance()));
                }
            }
        });
    }

    @Test
    void everyPairOfBackendsAgrees() {
        qt(60).forAll(LstmCase.cases()).checkAssert(c -> {
            List<Outputs> results = new ArrayList<>();
            for (LstmBackend backend : backends) {
                try (LstmKernel kernel = backend.prepare(c.config(), c.weights())) {
                    results.add(run(kernel, c));
                }
            }
            for (int a = 0; a < results.size(); a++) {
                for (int b = a + 1; b < results.size(); b++) {
                    // Each is within tol of the exact result, so within 2·tol of each other.
                    assertClose(backends.get(a).name() + " vs " + backends.get(b).name(), c, results.get(a),
                            toDouble(results.get(b)), 2 * c.tolerance());
                }
            }
        });
    }

    @Test
    void stepsEqualOneSequence() {
        qt(60).forAll(LstmCase.cases()).checkAssert(c -> {
            LstmConfig config = c.config();
            float[] x = c.x();
            int inputSize = c.inputSize();
            int hidden = c.hiddenSize();
            for (LstmBackend backend : backends) {
                try (LstmKernel kernel = backend.prepare(config, c.weights())) {
                    Outputs whole = run(kernel, c);
                    float[] y = new float[whole.y().length];
                    float[] h = c.h0();
                    float[] cell = c.c0();
                    float[] xStep = new float[c.batch() * inputSize];
                    float[] yStep = new float[c.batch() * hidden];
                    for (int t = 0; t < c.seqLen(); t++) {
                        for (int b = 0; b < c.batch(); b++) {
                            int row = config.batchFirst() ? b * c.seqLen() + t : t * c.batch() + b;
                            System.arraycopy(x, row * inputSize, xStep, b * inputSize, inputSize);
                        }
                        kernel.step(c.batch(), xStep, yStep, h, cell);
                        for (int b = 0; b < c.batch(); b++) {
                            int row = config.batchFirst() ? b * c.seqLen() + t : t * c.batch() + b;
                            System.arraycopy(yStep, b * hidden, y, row * hidden, hidden);
                        }
                    }
                    assertClose(backend.name() + " steps vs sequence", c, new Outputs(y, h, cell), toDouble(whole));
                }
            }
        });
    }

    @Test
    void aSequenceSplitInTwoWithTheStateCarriedEqualsTheWhole() {
        qt(60).forAll(LstmCase.cases().assuming(c -> c.seqLen() > 1), range(1, 49)).checkAssert((c, cut) -> {
            int first = 1 + (cut - 1) % (c.seqLen() - 1);
            int second = c.seqLen() - first;
            LstmConfig config = c.config();
            int inputSize = c.inputSize();
            int hidden = c.hiddenSize();
            float[] x = c.x();
            for (LstmBackend backend : backends) {
                try (LstmKernel kernel = backend.prepare(config, c.weights())) {
                    Outputs whole = run(kernel, c);
                    float[] h = c.h0();
                    float[] cell = c.c0();
                    float[] xA = slice(x, config.batchFirst(), c.seqLen(), c.batch(), inputSize, 0, first);
                    float[] xB = slice(x, config.batchFirst(), c.seqLen(), c.batch(), inputSize, first, second);
                    float[] yA = new float[first * c.batch() * hidden];
                    float[] yB = new float[second * c.batch() * hidden];
                    kernel.sequence(first, c.batch(), xA, yA, h, cell);
                    kernel.sequence(second, c.batch(), xB, yB, h, cell);
                    float[] y = join(yA, yB, config.batchFirst(), c.batch(), hidden, first, second);
                    assertClose(backend.name() + " split at " + first, c, new Outputs(y, h, cell), toDouble(whole));
                }
            }
        });
    }

    /** Steps [from, from + count) of a [T, B, K] (or [B, T, K]) tensor, in the same layout. */
    static float[] slice(float[] a, boolean batchFirst, int seqLen, int batch, int width, int from, int count) {
        float[] out = new float[count * batch * width];
        for (int t = 0; t < count; t++) {
            for (int b = 0; b < batch; b++) {
                int src = batchFirst ? b * seqLen + from + t : (from + t) * batch + b;
                int dst = batchFirst ? b * count + t : t * batch + b;
                System.arraycopy(a, src * width, out, dst * width, width);
            }
        }
        return out;
    }

    private static float[] join(float[] a, float[] b, boolean batchFirst, int batch, int width, int first, int second) {
        int total = first + second;
        float[] out = new float[total * batch * width];
        for (int t = 0; t < total; t++) {
            for (int r = 0; r < batch; r++) {
                boolean inA = t < first;
                int tt = inA ? t : t - first;
                int len = inA ? first : second;
                int src = batchFirst ? r * len + tt : tt * batch + r;
                int dst = batchFirst ? r * total + t : t * batch + r;
                System.arraycopy(inA ? a : b, src * width, out, dst * width, width);
            }
        }
        return out;
    }

    @Test
    void permutingTheBatchPermutesTheResultsAndNothingElse() {
        qt(60).forAll(LstmCase.cases().assuming(c -> c.batch() > 1)).checkAssert(c -> {
            LstmConfig config = c.config();
            int[] perm = new int[c.batch()];
            for (int b = 0; b < perm.length; b++) {
                perm[b] = (b * 7 + 3) % perm.length;
            }
            if (!isPermutation(perm)) {
                perm = reversed(perm.length);
            }
            float[] x = permuteRows(c.x(), perm, config.batchFirst(), c.seqLen(), c.batch(), c.inputSize(), true);
            float[] h = permuteRows(c.h0(), perm, false, c.layers(), c.batch(), c.hiddenSize(), false);
            float[] cell = permuteRows(c.c0(), perm, false, c.layers(), c.batch(), c.hiddenSize(), false);
            for (LstmBackend backend : backends) {
                try (LstmKernel kernel = backend.prepare(config, c.weights())) {
                    Outputs plain = run(kernel, c);
                    float[] y = new float[plain.y().length];
                    float[] hp = h.clone();
                    float[] cp = cell.clone();
                    kernel.sequence(c.seqLen(), c.batch(), x, y, hp, cp);
                    Outputs expected = new Outputs(
                            permuteRows(plain.y(), perm, config.batchFirst(), c.seqLen(), c.batch(), c.hiddenSize(), true),
                            permuteRows(plain.h(), perm, false, c.layers(), c.batch(), c.hiddenSize(), false),
                            permuteRows(plain.c(), perm, false, c.layers(), c.batch(), c.hiddenSize(), false));
                    assertClose(backend.name() + " batch permuted", c, new Outputs(y, hp, cp), toDouble(expected));
                }
            }
        });
    }

    private static boolean isPermutation(int[] p) {
        boolean[] seen = new boolean[p.length];
        for (int v : p) {
            if (seen[v]) {
                return false;
            }
            seen[v] = true;
        }
        return true;
    }

    private static int[] reversed(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = n - 1 - i;
        }
        return p;
    }

    /**
     * Moves batch row b to row perm[b]. {@code outer} is T for sequence tensors ([T, B, K], or
     * [B, T, K] when batchFirst) and L for states ([L, B, K]).
     */
    static float[] permuteRows(float[] a, int[] perm, boolean batchFirst, int outer, int batch, int width, boolean sequence) {
        float[] out = new float[a.length];
        for (int o = 0; o < outer; o++) {
            for (int b = 0; b < batch; b++) {
                int src = sequence && batchFirst ? b * outer + o : o * batch + b;
                int dst = sequence && batchFirst ? perm[b] * outer + o : o * batch + perm[b];
                System.arraycopy(a, src * width, out, dst * width, width);
            }
        }
        return out;
    }

    @Test
    void theSameCallTwiceAndOnManyThreadsGivesTheSameBits() {
        qt(25).forAll(LstmCase.cases()).checkAssert(c -> {
            for (LstmBackend backend : backends) {
                try (LstmKernel kernel = backend.prepare(c.config(), c.weights())) {
                    Outputs first = run(kernel, c);
                    Outputs second = run(kernel, c);
                    assertArrayEquals(first.y(), second.y(), backend.name() + " y differs between two calls: " + c);
                    assertArrayEquals(first.c(), second.c(), backend.name() + " c differs between two calls: " + c);
                    ExecutorService pool = Executors.newFixedThreadPool(4);
                    try {
                        List<Future<Outputs>> futures = new ArrayList<>();
                        for (int t = 0; t < 4; t++) {
                            futures.add(pool.submit(() -> run(kernel, c)));
                        }
                        for (Future<Outputs> f : futures) {
                            Outputs o = f.get(60, TimeUnit.SECONDS);
                            assertArrayEquals(first.y(), o.y(), backend.name() + " y differs on another thread: " + c);
                            assertArrayEquals(first.h(), o.h(), backend.name() + " h differs on another thread: " + c);
                            assertArrayEquals(first.c(), o.c(), backend.name() + " c differs on another thread: " + c);
                        }
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    } finally {
                        pool.shutdownNow();
                    }
                }
            }
        });
    }

    /** What a random bad call breaks. */
    enum Mistake { X_SHORT, X_LONG, Y_SHORT, H_SHORT, C_LONG, ZERO_BATCH, NEGATIVE_STEPS, NULL_X, NULL_Y, NULL_H, NULL_C,
        READ_ONLY_Y, CLOSED }

    @Test
    void badCallsThrowNameTheArgumentAndChangeNothing() {
        Gen<Mistake> mistakes = org.quicktheories.generators.Generate.enumValues(Mistake.class);
        qt(100).forAll(LstmCase.cases(), mistakes).checkAssert((c, mistake) -> {
            for (LstmBackend backend : backends) {
                LstmKernel kernel = backend.prepare(c.config(), c.weights());
                try {
                    int yLength = c.seqLen() * c.batch() * c.hiddenSize();
                    float[] x = c.x();
                    float[] y = TestData.filled(yLength, 7f);
                    float[] h = TestData.filled(c.h0().length, 7f);
                    float[] cell = TestData.filled(c.c0().length, 7f);
                    String name = switch (mistake) {
                        case X_SHORT, X_LONG, NULL_X -> "x";
                        case Y_SHORT, NULL_Y, READ_ONLY_Y -> "y";
                        case H_SHORT, NULL_H -> "h";
                        case C_LONG, NULL_C -> "c";
                        case ZERO_BATCH -> "batch";
                        case NEGATIVE_STEPS -> "seqLen";
                        case CLOSED -> "closed";
                    };
                    Class<? extends RuntimeException> expected = switch (mistake) {
                        case NULL_X, NULL_Y, NULL_H, NULL_C -> NullPointerException.class;
                        case CLOSED -> IllegalStateException.class;
                        default -> IllegalArgumentException.class;
                    };
                    float[] badX = switch (mistake) {
                        case X_SHORT -> Arrays.copyOf(x, x.length - 1);
                        case X_LONG -> Arrays.copyOf(x, x.length + 1);
                        case NULL_X -> null;
                        default -> x;
                    };
                    float[] badY = mistake == Mistake.Y_SHORT ? TestData.filled(yLength - 1, 7f) : mistake == Mistake.NULL_Y ? null : y;
                    float[] badH = mistake == Mistake.H_SHORT ? TestData.filled(h.length - 1, 7f) : mistake == Mistake.NULL_H ? null : h;
                    float[] badC = mistake == Mistake.C_LONG ? TestData.filled(cell.length + 1, 7f) : mistake == Mistake.NULL_C ? null : cell;
                    int batch = mistake == Mistake.ZERO_BATCH ? 0 : c.batch();
                    int steps = mistake == Mistake.NEGATIVE_STEPS ? -c.seqLen() : c.seqLen();
                    if (mistake == Mistake.CLOSED) {
                        kernel.close();
                    }
                    RuntimeException e;
                    if (mistake == Mistake.READ_ONLY_Y) {
                        e = assertThrows(expected, () -> kernel.sequence(steps, batch, MemorySegment.ofArray(badX),
                                MemorySegment.ofArray(y).asReadOnly(), MemorySegment.ofArray(h), MemorySegment.ofArray(cell)));
                    } else {
                        e = assertThrows(expected, () -> kernel.sequence(steps, batch, badX, badY, badH, badC));
                    }
                    assertTrue(e.getMessage().contains(name), backend.name() + ": '" + e.getMessage() + "' should name " + name);
                    for (float[] out : new float[][] {y, h, cell, badY, badH, badC}) {
                        if (out != null) {
                            assertArrayEquals(TestData.filled(out.length, 7f), out, backend.name() + ": an output was written");
                        }
                    }
                } finally {
                    kernel.close();
                }
            }
        });
    }

    /**
     * The tolerance is not so loose that it hides the bugs it is meant to catch: on every generated
     * case with unit-range data, an oracle with the input and forget gates swapped, or without
     * bias_hh, lands outside it. (Saturating data can hide such a fault legitimately: a gate
     * stuck at 1 is the same whichever gate it is.)
     */
    @Test
    void toleranceSeesGateSwapAndDroppedBias() {
        qt(100).forAll(LstmCase.cases().assuming(c -> c.regime() == LstmCase.Regime.UNIT)).checkAssert(c -> {
            ReferenceLstm.Result right = ReferenceLstm.run(c.config(), c.weights(), c.seqLen(), c.batch(), c.x(), c.h0(), c.c0());
            for (ReferenceLstm.Fault fault : new ReferenceLstm.Fault[] {ReferenceLstm.Fault.SWAP_INPUT_AND_FORGET_GATES,
                    ReferenceLstm.Fault.DROP_BIAS_HH}) {
                if (fault == ReferenceLstm.Fault.DROP_BIAS_HH && !c.bias()) {
                    continue;
                }
                ReferenceLstm.Result wrong = ReferenceLstm.run(c.config(), c.weights(), c.seqLen(), c.batch(), c.x(),
                        c.h0(), c.c0(), fault);
                float[] wrongC = new float[wrong.c().length];
                for (int i = 0; i < wrongC.length; i++) {
                    wrongC[i] = (float) wrong.c()[i];
                }
                double ratio = worst(wrongC, right.c(), c.tolerance());
                assertTrue(ratio > 1, fault + " stays within the tolerance (" + ratio + "×) for " + c);
            }
        });
    }

    @Test
    void theCaseGeneratorCoversTheEdges() {
        List<LstmCase> sample = new ArrayList<>();
        qt(200).forAll(LstmCase.cases()).checkAssert(sample::add);
        assertTrue(sample.stream().anyMatch(c -> c.hiddenSize() == 1), "H = 1 never generated");
        assertTrue(sample.stream().anyMatch(c -> c.hiddenSize() % 16 != 0 && c.hiddenSize() > 16), "no odd H > 16");
        assertTrue(sample.stream().anyMatch(c -> c.batch() == 1) && sample.stream().anyMatch(c -> c.batch() > 6), "batches");
        assertTrue(sample.stream().anyMatch(c -> c.layers() == 4), "no 4-layer stack");
        assertTrue(sample.stream().anyMatch(c -> !c.bias()) && sample.stream().anyMatch(LstmCase::batchFirst)
                && sample.stream().anyMatch(c -> !c.initialState()), "flags not varied");
        for (LstmCase.Regime r : LstmCase.Regime.values()) {
            assertTrue(sample.stream().anyMatch(c -> c.regime() == r), r + " data never generated");
        }
        assertTrue(sample.size() >= 150 * SCALE, "only " + sample.size() + " cases generated");
    }
}
