package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.quicktheories.generators.Generate.range;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
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
 * Properties every backend must have, on random configurations of every kind (LSTM and GRU, one
 * or two directions, projection, per-row lengths; QuickTheories: generators, a fixed seed by
 * default, shrinking to a minimal failing case printed with its seed). A backend takes part in a
 * case only if it implements the case's features; none is skipped silently (the golden test
 * counts skips).
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

    /** The backends that implement everything the case needs. */
    private static List<LstmBackend> backendsFor(LstmCase c) {
        return backends.stream().filter(b -> b.features().containsAll(c.requiredFeatures())).toList();
    }

    /** Outputs of one call: y, final h, final c (null for a GRU). */
    record Outputs(float[] y, float[] h, float[] c) {
    }

    static Outputs run(LstmKernel kernel, LstmCase c) {
        return run(kernel, c, c.x());
    }

    static Outputs run(LstmKernel kernel, LstmCase c, float[] x) {
        float[] y = new float[c.yLength()];
        float[] h = c.h0();
        float[] cell = c.c0();
        kernel.sequence(c.seqLen(), c.batch(), c.lengths(), x, y, h, cell);
        return new Outputs(y, h, cell);
    }

    /** Largest |got − want| − rtol·|want| over all elements, as a multiple of the case tolerance (≤ 1 passes). */
    static double worst(float[] got, double[] want, double tolerance) {
        if (got == null || want == null) {
            assertTrue(got == null && want == null, "one side has a cell state, the other none");
            return 0;
        }
        assertEquals(want.length, got.length, "tensor sizes differ");
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            double excess = Math.abs(got[i] - want[i]) - 1e-5 * Math.abs(want[i]);
            // NaN compares false: count it as a failure.
            double ratio = excess / tolerance;
            worst = Double.isNaN(ratio) ? Double.POSITIVE_INFINITY : Math.max(worst, ratio);
        }
        return worst;
    }

    static void assertClose(String what, LstmCase c, Outputs got, ReferenceRnn.Result want) {
        assertClose(what, c, got, want, c.tolerance());
    }

    /** Asserts y, h and c within {@code tol}; returns the worst error as a multiple of it. */
    static double assertClose(String what, LstmCase c, Outputs got, ReferenceRnn.Result want, double tol) {
        double ratio = Math.max(worst(got.y(), want.output(), tol), Math.max(worst(got.h(), want.h(), tol),
                worst(got.c(), want.c(), tol)));
        assertTrue(ratio <= 1, what + ": error " + ratio + "× the tolerance " + tol + " for " + c
                + " (replay with -Dlstm.test.seed=" + SEED + ")");
        return ratio;
    }

    private static ReferenceRnn.Result toDouble(Outputs o) {
        return new ReferenceRnn.Result(ReferenceRnn.toDouble(o.y()), ReferenceRnn.toDouble(o.h()), ReferenceRnn.toDouble(o.c()));
    }

    private static ReferenceRnn.Result reference(LstmCase c) {
        return ReferenceRnn.run(c.config(), c.weights(), c.seqLen(), c.batch(), c.lengths(), c.x(), c.h0(), c.c0());
    }

    @Test
    void everyBackendAgreesWithTheFloat64Reference() {
        qt(150).forAll(LstmCase.cases()).checkAssert(c -> {
            ReferenceRnn.Result want = reference(c);
            for (LstmBackend backend : backendsFor(c)) {
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
            List<LstmBackend> able = backendsFor(c);
            List<Outputs> results = new ArrayList<>();
            for (LstmBackend backend : able) {
                try (LstmKernel kernel = backend.prepare(c.config(), c.weights())) {
                    results.add(run(kernel, c));
                }
            }
            for (int a = 0; a < results.size(); a++) {
                for (int b = a + 1; b < results.size(); b++) {
                    // Each is within tol of the exact result, so within 2·tol of each other.
                    assertClose(able.get(a).name() + " vs " + able.get(b).name(), c, results.get(a),
                            toDouble(results.get(b)), 2 * c.tolerance());
                }
            }
        });
    }

    /** The case as one direction without lengths: what step ≡ sequence and split-and-carry are defined for. */
    private static Gen<LstmCase> unidirectionalCases() {
        return LstmCase.cases().map(c -> new LstmCase(c.cell(), c.inputSize(), c.hiddenSize(), c.projection(), c.layers(),
                false, c.bias(), c.batchFirst(), c.seqLen(), c.batch(), c.initialState(), c.withLengths(), c.regime(),
                c.seed()));
    }

    private static void step(LstmKernel kernel, int batch, float[] x, float[] y, float[] h, float[] cell) {
        if (cell == null) {
            kernel.step(batch, x, y, h);
        } else {
            kernel.step(batch, x, y, h, cell);
        }
    }

    @Test
    void stepsEqualOneSequence() {
        qt(60).forAll(unidirectionalCases()).checkAssert(c0 -> {
            LstmCase c = c0.withLengths() ? new LstmCase(c0.cell(), c0.inputSize(), c0.hiddenSize(), c0.projection(),
                    c0.layers(), false, c0.bias(), c0.batchFirst(), c0.seqLen(), c0.batch(), c0.initialState(), false,
                    c0.regime(), c0.seed()) : c0;
            LstmConfig config = c.config();
            float[] x = c.x();
            int inputSize = c.inputSize();
            int hout = c.outputSize();
            for (LstmBackend backend : backendsFor(c)) {
                try (LstmKernel kernel = backend.prepare(config, c.weights())) {
                    Outputs whole = run(kernel, c);
                    float[] y = new float[whole.y().length];
                    float[] h = c.h0();
                    float[] cell = c.c0();
                    float[] xStep = new float[c.batch() * inputSize];
                    float[] yStep = new float[c.batch() * hout];
                    for (int t = 0; t < c.seqLen(); t++) {
                        for (int b = 0; b < c.batch(); b++) {
                            int row = config.batchFirst() ? b * c.seqLen() + t : t * c.batch() + b;
                            System.arraycopy(x, row * inputSize, xStep, b * inputSize, inputSize);
                        }
                        step(kernel, c.batch(), xStep, yStep, h, cell);
                        for (int b = 0; b < c.batch(); b++) {
                            int row = config.batchFirst() ? b * c.seqLen() + t : t * c.batch() + b;
                            System.arraycopy(yStep, b * hout, y, row * hout, hout);
                        }
                    }
                    assertClose(backend.name() + " steps vs sequence", c, new Outputs(y, h, cell), toDouble(whole));
                }
            }
        });
    }

    private static int shortest(LstmCase c) {
        int[] lengths = c.lengths();
        return lengths == null ? c.seqLen() : Arrays.stream(lengths).min().orElseThrow();
    }

    /**
     * Unidirectional, with or without lengths: the first part runs {@code first} steps on every
     * row (the cut lies before the shortest length), the second the rest with lengths reduced by
     * the cut, starting from the carried state.
     */
    @Test
    void aSequenceSplitInTwoWithTheStateCarriedEqualsTheWhole() {
        qt(60).forAll(unidirectionalCases().assuming(c -> shortest(c) > 1), range(1, 49)).checkAssert((c, cut) -> {
            int first = 1 + (cut - 1) % (shortest(c) - 1);
            int second = c.seqLen() - first;
            LstmConfig config = c.config();
            int hout = c.outputSize();
            float[] x = c.x();
            int[] lengths = c.lengths();
            int[] rest = lengths == null ? null : Arrays.stream(lengths).map(len -> len - first).toArray();
            for (LstmBackend backend : backendsFor(c)) {
                try (LstmKernel kernel = backend.prepare(config, c.weights())) {
                    Outputs whole = run(kernel, c);
                    float[] h = c.h0();
                    float[] cell = c.c0();
                    float[] xA = slice(x, config.batchFirst(), c.seqLen(), c.batch(), c.inputSize(), 0, first);
                    float[] xB = slice(x, config.batchFirst(), c.seqLen(), c.batch(), c.inputSize(), first, second);
                    float[] yA = new float[first * c.batch() * hout];
                    float[] yB = new float[second * c.batch() * hout];
                    kernel.sequence(first, c.batch(), null, xA, yA, h, cell);
                    kernel.sequence(second, c.batch(), rest, xB, yB, h, cell);
                    float[] y = join(yA, yB, config.batchFirst(), c.batch(), hout, first, second);
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
            int states = c.layers() * c.directions();
            int yWidth = c.directions() * c.outputSize();
            float[] x = permuteRows(c.x(), perm, config.batchFirst(), c.seqLen(), c.batch(), c.inputSize(), true);
            float[] h = permuteRows(c.h0(), perm, false, states, c.batch(), c.outputSize(), false);
            float[] cell = c.gru() ? null : permuteRows(c.c0(), perm, false, states, c.batch(), c.hiddenSize(), false);
            int[] lengths = c.lengths();
            int[] permutedLengths = null;
            if (lengths != null) {
                permutedLengths = new int[lengths.length];
                for (int b = 0; b < lengths.length; b++) {
                    permutedLengths[perm[b]] = lengths[b];
                }
            }
            for (LstmBackend backend : backendsFor(c)) {
                try (LstmKernel kernel = backend.prepare(config, c.weights())) {
                    Outputs plain = run(kernel, c);
                    float[] y = new float[plain.y().length];
                    float[] hp = h.clone();
                    float[] cp = cell == null ? null : cell.clone();
                    kernel.sequence(c.seqLen(), c.batch(), permutedLengths, x, y, hp, cp);
                    Outputs expected = new Outputs(
                            permuteRows(plain.y(), perm, config.batchFirst(), c.seqLen(), c.batch(), yWidth, true),
                            permuteRows(plain.h(), perm, false, states, c.batch(), c.outputSize(), false),
                            c.gru() ? null : permuteRows(plain.c(), perm, false, states, c.batch(), c.hiddenSize(), false));
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
     * [B, T, K] when batchFirst) and L·D for states ([L·D, B, K]).
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

    /** The case with lengths, whatever the generator drew. */
    private static Gen<LstmCase> casesWithLengths() {
        return LstmCase.cases().map(c -> new LstmCase(c.cell(), c.inputSize(), c.hiddenSize(), c.projection(), c.layers(),
                c.bidirectional(), c.bias(), c.batchFirst(), c.seqLen(), c.batch(), c.initialState(), true, c.regime(),
                c.seed()));
    }

    /**
     * A row of a variable-length batch equals that sequence run alone over its own length (batch
     * 1, no lengths), and its outputs past its length are exactly 0.
     */
    @Test
    void aRowOfAVariableLengthBatchEqualsThatSequenceRunAlone() {
        qt(40).forAll(casesWithLengths()).checkAssert(c -> {
            int[] lengths = c.lengths();
            int b = (int) (c.seed() % c.batch());
            int length = lengths[b];
            int states = c.layers() * c.directions();
            int yWidth = c.directions() * c.outputSize();
            boolean batchFirst = c.batchFirst();
            float[] x = c.x();
            float[] xAlone = new float[length * c.inputSize()];
            for (int t = 0; t < length; t++) {
                int row = batchFirst ? b * c.seqLen() + t : t * c.batch() + b;
                System.arraycopy(x, row * c.inputSize(), xAlone, t * c.inputSize(), c.inputSize());
            }
            float[] hAlone = rowOfStates(c.h0(), states, c.batch(), c.outputSize(), b);
            float[] cAlone = c.gru() ? null : rowOfStates(c.c0(), states, c.batch(), c.hiddenSize(), b);
            for (LstmBackend backend : backendsFor(c)) {
                try (LstmKernel kernel = backend.prepare(c.config(), c.weights())) {
                    Outputs all = run(kernel, c);
                    float[] yAlone = new float[length * yWidth];
                    float[] hGot = hAlone.clone();
                    float[] cGot = cAlone == null ? null : cAlone.clone();
                    kernel.sequence(length, 1, null, xAlone, yAlone, hGot, cGot);
                    float[] yRow = new float[length * yWidth];
                    for (int t = 0; t < c.seqLen(); t++) {
                        int row = batchFirst ? b * c.seqLen() + t : t * c.batch() + b;
                        if (t < length) {
                            System.arraycopy(all.y(), row * yWidth, yRow, t * yWidth, yWidth);
                        } else {
                            for (int k = 0; k < yWidth; k++) {
                                assertEquals(0f, all.y()[row * yWidth + k], backend.name() + ": output of row " + b
                                        + " at t=" + t + " past its length " + length + " is not 0 for " + c);
                            }
                        }
                    }
                    Outputs inBatch = new Outputs(yRow, rowOfStates(all.h(), states, c.batch(), c.outputSize(), b),
                            c.gru() ? null : rowOfStates(all.c(), states, c.batch(), c.hiddenSize(), b));
                    assertClose(backend.name() + " row " + b + " (length " + length + ") in the batch vs alone", c, inBatch,
                            toDouble(new Outputs(yAlone, hGot, cGot)), 2 * c.tolerance());
                }
            }
        });
    }

    /** Batch row b of every slice of an [S, B, W] state tensor, as [S, 1, W]. */
    private static float[] rowOfStates(float[] a, int slices, int batch, int width, int b) {
        float[] out = new float[slices * width];
        for (int s = 0; s < slices; s++) {
            System.arraycopy(a, (s * batch + b) * width, out, s * width, width);
        }
        return out;
    }

    /** x past a row's length has no effect at all: replaced by NaN, every output keeps its bits. */
    @Test
    void paddedInputHasNoEffectBitForBit() {
        qt(40).forAll(casesWithLengths()).checkAssert(c -> {
            int[] lengths = c.lengths();
            float[] padded = c.x();
            for (int b = 0; b < c.batch(); b++) {
                for (int t = lengths[b]; t < c.seqLen(); t++) {
                    int row = c.batchFirst() ? b * c.seqLen() + t : t * c.batch() + b;
                    Arrays.fill(padded, row * c.inputSize(), (row + 1) * c.inputSize(), Float.NaN);
                }
            }
            for (LstmBackend backend : backendsFor(c)) {
                try (LstmKernel kernel = backend.prepare(c.config(), c.weights())) {
                    Outputs plain = run(kernel, c);
                    Outputs withNaN = run(kernel, c, padded);
                    assertArrayEquals(plain.y(), withNaN.y(), backend.name() + ": padded x changed y for " + c);
                    assertArrayEquals(plain.h(), withNaN.h(), backend.name() + ": padded x changed h for " + c);
                    if (!c.gru()) {
                        assertArrayEquals(plain.c(), withNaN.c(), backend.name() + ": padded x changed c for " + c);
                    }
                }
            }
        });
    }

    @Test
    void theSameCallTwiceAndOnManyThreadsGivesTheSameBits() {
        qt(25).forAll(LstmCase.cases()).checkAssert(c -> {
            for (LstmBackend backend : backendsFor(c)) {
                try (LstmKernel kernel = backend.prepare(c.config(), c.weights())) {
                    Outputs first = run(kernel, c);
                    Outputs second = run(kernel, c);
                    assertArrayEquals(first.y(), second.y(), backend.name() + " y differs between two calls: " + c);
                    assertArrayEquals(first.h(), second.h(), backend.name() + " h differs between two calls: " + c);
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
                            if (!c.gru()) {
                                assertArrayEquals(first.c(), o.c(), backend.name() + " c differs on another thread: " + c);
                            }
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
        READ_ONLY_Y, CLOSED, LENGTHS_COUNT, LENGTH_ZERO, LENGTH_PAST_T, WRONG_CELL_STATE }

    @Test
    void badCallsThrowNameTheArgumentAndChangeNothing() {
        Gen<Mistake> mistakes = org.quicktheories.generators.Generate.enumValues(Mistake.class);
        qt(120).forAll(LstmCase.cases(), mistakes).checkAssert((c, mistake0) -> {
            // A GRU has no c to get wrong: those mistakes become a c passed to it.
            Mistake mistake = c.gru() && (mistake0 == Mistake.C_LONG || mistake0 == Mistake.NULL_C)
                    ? Mistake.WRONG_CELL_STATE : mistake0;
            for (LstmBackend backend : backendsFor(c)) {
                LstmKernel kernel = backend.prepare(c.config(), c.weights());
                try {
                    float[] x = c.x();
                    float[] y = TestData.filled(c.yLength(), 7f);
                    float[] h = TestData.filled(c.h0().length, 7f);
                    float[] cell = c.gru() ? null : TestData.filled(c.c0().length, 7f);
                    int[] lengths = c.lengths() != null ? c.lengths() : TestData.filledInts(c.batch(), c.seqLen());
                    String name = switch (mistake) {
                        case X_SHORT, X_LONG, NULL_X -> "x";
                        case Y_SHORT, NULL_Y, READ_ONLY_Y -> "y";
                        case H_SHORT, NULL_H -> "h";
                        case C_LONG, NULL_C, WRONG_CELL_STATE -> "c";
                        case ZERO_BATCH -> "batch";
                        case NEGATIVE_STEPS -> "seqLen";
                        case CLOSED -> "closed";
                        case LENGTHS_COUNT, LENGTH_ZERO, LENGTH_PAST_T -> "lengths";
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
                    float[] badY = mistake == Mistake.Y_SHORT ? TestData.filled(y.length - 1, 7f) : mistake == Mistake.NULL_Y ? null : y;
                    float[] badH = mistake == Mistake.H_SHORT ? TestData.filled(h.length - 1, 7f) : mistake == Mistake.NULL_H ? null : h;
                    float[] badC = switch (mistake) {
                        case C_LONG -> TestData.filled(cell.length + 1, 7f);
                        case NULL_C -> null;
                        case WRONG_CELL_STATE -> c.gru() ? TestData.filled(h.length, 7f) : null;
                        default -> cell;
                    };
                    int[] badLengths = switch (mistake) {
                        case LENGTHS_COUNT -> Arrays.copyOf(lengths, lengths.length + 1);
                        case LENGTH_ZERO -> withEntry(lengths, (int) (c.seed() % c.batch()), 0);
                        case LENGTH_PAST_T -> withEntry(lengths, (int) (c.seed() % c.batch()), c.seqLen() + 1);
                        default -> lengths;
                    };
                    int batch = mistake == Mistake.ZERO_BATCH ? 0 : c.batch();
                    int steps = mistake == Mistake.NEGATIVE_STEPS ? -c.seqLen() : c.seqLen();
                    if (mistake == Mistake.CLOSED) {
                        kernel.close();
                    }
                    RuntimeException e;
                    if (mistake == Mistake.READ_ONLY_Y) {
                        e = assertThrows(expected, () -> kernel.sequence(steps, batch, lengths, MemorySegment.ofArray(badX),
                                MemorySegment.ofArray(y).asReadOnly(), MemorySegment.ofArray(h),
                                cell == null ? null : MemorySegment.ofArray(cell)));
                    } else if (mistake == Mistake.WRONG_CELL_STATE && !c.gru()) {
                        // An LSTM called through the GRU form, which has no c.
                        e = assertThrows(expected, () -> kernel.sequence(steps, batch, badX, badY, badH));
                    } else {
                        e = assertThrows(expected, () -> kernel.sequence(steps, batch, badLengths, badX, badY, badH, badC));
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

    private static int[] withEntry(int[] a, int index, int value) {
        int[] copy = a.clone();
        copy[index] = value;
        return copy;
    }

    /**
     * The tolerance is not so loose that it hides the bugs it is meant to catch: on every generated
     * case with unit-range data, an oracle with two gates swapped (i/f for an LSTM, r/z for a GRU)
     * or without bias_hh lands outside it. (Saturating data can hide such a fault legitimately: a
     * gate stuck at 1 is the same whichever gate it is.)
     */
    @Test
    void toleranceSeesSwappedGatesAndDroppedBias() {
        qt(100).forAll(LstmCase.cases().assuming(c -> c.regime() == LstmCase.Regime.UNIT)).checkAssert(c -> {
            ReferenceRnn.Result right = reference(c);
            ReferenceRnn.Fault swap = c.gru() ? ReferenceRnn.Fault.SWAP_RESET_AND_UPDATE_GATES
                    : ReferenceRnn.Fault.SWAP_INPUT_AND_FORGET_GATES;
            for (ReferenceRnn.Fault fault : new ReferenceRnn.Fault[] {swap, ReferenceRnn.Fault.DROP_BIAS_HH}) {
                if (fault == ReferenceRnn.Fault.DROP_BIAS_HH && !c.bias()) {
                    continue;
                }
                ReferenceRnn.Result wrong = ReferenceRnn.run(c.config(), c.weights(), c.seqLen(), c.batch(), c.lengths(),
                        c.x(), c.h0(), c.c0(), fault);
                double ratio = Math.max(worst(floats(wrong.output()), right.output(), c.tolerance()),
                        worst(floats(wrong.h()), right.h(), c.tolerance()));
                assertTrue(ratio > 1, fault + " stays within the tolerance (" + ratio + "×) for " + c);
            }
        });
    }

    private static float[] floats(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            f[i] = (float) a[i];
        }
        return f;
    }

    @Test
    void theCaseGeneratorCoversTheEdges() {
        List<LstmCase> sample = new ArrayList<>();
        qt(300).forAll(LstmCase.cases()).checkAssert(sample::add);
        assertTrue(sample.stream().anyMatch(c -> c.hiddenSize() == 1), "H = 1 never generated");
        assertTrue(sample.stream().anyMatch(c -> c.hiddenSize() % 16 != 0 && c.hiddenSize() > 16), "no odd H > 16");
        assertTrue(sample.stream().anyMatch(c -> c.batch() == 1) && sample.stream().anyMatch(c -> c.batch() > 6), "batches");
        assertTrue(sample.stream().anyMatch(c -> c.layers() == 4), "no 4-layer stack");
        assertTrue(sample.stream().anyMatch(c -> !c.bias()) && sample.stream().anyMatch(LstmCase::batchFirst)
                && sample.stream().anyMatch(c -> !c.initialState()), "flags not varied");
        assertTrue(sample.stream().anyMatch(LstmCase::gru), "no GRU");
        assertTrue(sample.stream().anyMatch(c -> c.bidirectional() && c.layers() > 1), "no stacked bidirectional case");
        assertTrue(sample.stream().anyMatch(c -> c.projection() > 0 && c.bidirectional()), "no bidirectional projection");
        assertTrue(sample.stream().anyMatch(c -> c.withLengths() && c.batch() > 2 && c.seqLen() > 3), "no lengths");
        assertTrue(sample.stream().anyMatch(c -> c.withLengths() && c.gru() && c.bidirectional()), "no bidirectional GRU with lengths");
        for (LstmCase.Regime r : LstmCase.Regime.values()) {
            assertTrue(sample.stream().anyMatch(c -> c.regime() == r), r + " data never generated");
        }
        assertTrue(sample.size() >= 250 * SCALE, "only " + sample.size() + " cases generated");
    }
}
