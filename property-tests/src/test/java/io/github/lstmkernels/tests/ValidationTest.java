package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.BackendUnavailableException;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.UnsupportedFeatureException;
import io.github.lstmkernels.spi.LstmBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * DESIGN.md section 7 on every backend: each wrong argument throws the documented exception with
 * a message naming the tensor, and leaves y, h and c exactly as they were.
 */
class ValidationTest {
    private static final LstmConfig CONFIG = LstmConfig.builder(5, 7).numLayers(2).batchFirst(true).build();
    private static final int T = 3;
    private static final int B = 2;
    private static final float SENTINEL = 12345.0f;

    /** Output buffers filled with a sentinel, plus valid inputs, for one call. */
    private static final class Call {
        float[] x = TestData.uniform(TestData.xLength(CONFIG, T, B), 1, 1);
        float[] y = TestData.filled(TestData.yLength(CONFIG, T, B), SENTINEL);
        float[] h = TestData.filled(TestData.hLength(CONFIG, B), SENTINEL);
        float[] c = TestData.filled(TestData.cLength(CONFIG, B), SENTINEL);

        void assertUntouched() {
            assertArrayEquals(TestData.filled(y.length, SENTINEL), y, "y was written");
            assertArrayEquals(TestData.filled(h.length, SENTINEL), h, "h was written");
            assertArrayEquals(TestData.filled(c.length, SENTINEL), c, "c was written");
        }
    }

    private static <E extends Throwable> void rejects(Class<E> type, String messagePart, Call call, Executable action) {
        E e = assertThrows(type, action);
        assertTrue(e.getMessage() != null && e.getMessage().contains(messagePart),
                "message should contain '" + messagePart + "': " + e.getMessage());
        call.assertUntouched();
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void wrongSizesNullsAndCountsAreRejectedBeforeAnythingIsWritten(LstmBackend backend) {
        try (LstmKernel kernel = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 7))) {
            Call k = new Call();
            rejects(IllegalArgumentException.class, "batch must be >= 1, got 0", k, () -> kernel.sequence(T, 0, k.x, k.y, k.h, k.c));
            rejects(IllegalArgumentException.class, "seqLen must be >= 1, got -1", k, () -> kernel.sequence(-1, B, k.x, k.y, k.h, k.c));
            rejects(IllegalArgumentException.class, "batch must be >= 1", k, () -> kernel.step(-3, k.x, k.y, k.h, k.c));
            rejects(NullPointerException.class, "x must not be null", k, () -> kernel.sequence(T, B, null, k.y, k.h, k.c));
            rejects(NullPointerException.class, "y must not be null", k, () -> kernel.sequence(T, B, k.x, null, k.h, k.c));
            rejects(NullPointerException.class, "h must not be null", k, () -> kernel.sequence(T, B, k.x, k.y, null, k.c));
            rejects(NullPointerException.class, "c must not be null", k, () -> kernel.step(B, k.x, k.y, k.h, (float[]) null));
            rejects(NullPointerException.class, "x must not be null", k,
                    () -> kernel.step(B, (MemorySegment) null, MemorySegment.ofArray(k.y), MemorySegment.ofArray(k.h), MemorySegment.ofArray(k.c)));

            // One element too few or too many, for each tensor in turn.
            float[] xShort = new float[k.x.length - 1];
            rejects(IllegalArgumentException.class, "x: expected 30 floats [B=2, T=3, I=5], got 29", k,
                    () -> kernel.sequence(T, B, xShort, k.y, k.h, k.c));
            float[] yLong = TestData.filled(k.y.length + 1, SENTINEL);
            rejects(IllegalArgumentException.class, "y: expected 42 floats [B=2, T=3, H=7], got 43", k,
                    () -> kernel.sequence(T, B, k.x, yLong, k.h, k.c));
            float[] hShort = TestData.filled(k.h.length - 1, SENTINEL);
            rejects(IllegalArgumentException.class, "h: expected 28 floats [L=2, B=2, H=7], got 27", k,
                    () -> kernel.sequence(T, B, k.x, k.y, hShort, k.c));
            float[] cShort = TestData.filled(k.c.length - 1, SENTINEL);
            rejects(IllegalArgumentException.class, "c: expected 28 floats [L=2, B=2, H=7], got 27", k,
                    () -> kernel.sequence(T, B, k.x, k.y, k.h, cShort));
            // A sequence-sized x is wrong for a step.
            rejects(IllegalArgumentException.class, "x: expected 10 floats [B=2, I=5], got 30", k,
                    () -> kernel.step(B, k.x, new float[B * 7], k.h, k.c));
            // Sizes that only fit another batch.
            rejects(IllegalArgumentException.class, "x: expected 45 floats", k, () -> kernel.sequence(T, 3, k.x, k.y, k.h, k.c));
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void badLengthsAreRejectedBeforeAnythingIsWritten(LstmBackend backend) {
        try (LstmKernel kernel = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 7))) {
            Call k = new Call();
            rejects(IllegalArgumentException.class, "lengths: expected 2 entries [B=2], got 3", k,
                    () -> kernel.sequence(T, B, new int[] {3, 2, 1}, k.x, k.y, k.h, k.c));
            rejects(IllegalArgumentException.class, "lengths[1] = 0 is outside [1, T=3]", k,
                    () -> kernel.sequence(T, B, new int[] {3, 0}, k.x, k.y, k.h, k.c));
            rejects(IllegalArgumentException.class, "lengths[0] = 4 is outside [1, T=3]", k,
                    () -> kernel.sequence(T, B, new int[] {4, 1}, k.x, k.y, k.h, k.c));
            rejects(IllegalArgumentException.class, "lengths[1] = -2 is outside [1, T=3]", k,
                    () -> kernel.sequence(T, B, new int[] {1, -2}, MemorySegment.ofArray(k.x), MemorySegment.ofArray(k.y),
                            MemorySegment.ofArray(k.h), MemorySegment.ofArray(k.c)));
            // A size mistake is still reported as such when the lengths are fine.
            rejects(IllegalArgumentException.class, "y: expected 42 floats", k,
                    () -> kernel.sequence(T, B, new int[] {3, 1}, k.x, new float[41], k.h, k.c));
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void aCellStateIsRequiredForAnLstmAndRefusedForAGru(LstmBackend backend) {
        try (LstmKernel lstm = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 7))) {
            Call k = new Call();
            rejects(IllegalArgumentException.class, "c: an LSTM needs its cell state", k,
                    () -> lstm.sequence(T, B, k.x, k.y, k.h));
            rejects(IllegalArgumentException.class, "c: an LSTM needs its cell state", k,
                    () -> lstm.step(B, new float[B * 5], new float[B * 7], k.h));
        }
        LstmConfig gruConfig = LstmConfig.builder(5, 7).cell(io.github.lstmkernels.CellType.GRU).numLayers(2).build();
        if (!backend.features().contains(Feature.GRU_CELL)) {
            return;
        }
        try (LstmKernel gru = backend.prepare(gruConfig, LstmWeights.random(gruConfig, 7))) {
            Call k = new Call();
            rejects(IllegalArgumentException.class, "c: a GRU has no cell state", k,
                    () -> gru.sequence(T, B, k.x, k.y, k.h, k.c));
            rejects(IllegalArgumentException.class, "c: a GRU has no cell state", k,
                    () -> gru.sequence(T, B, new int[] {1, 3}, k.x, k.y, k.h, k.c));
            // The GRU forms work, with c omitted or null.
            float[] h = new float[k.h.length];
            gru.sequence(T, B, k.x, new float[T * B * 7], h);
            gru.sequence(T, B, new int[] {2, 3}, k.x, new float[T * B * 7], h, null);
            gru.step(B, new float[B * 5], new float[B * 7], h, (float[]) null);
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void unsafeSegmentsAreRejected(LstmBackend backend) {
        try (LstmKernel kernel = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 7)); Arena arena = Arena.ofConfined()) {
            Call k = new Call();
            MemorySegment x = MemorySegment.ofArray(k.x);
            MemorySegment y = MemorySegment.ofArray(k.y);
            MemorySegment h = MemorySegment.ofArray(k.h);
            MemorySegment c = MemorySegment.ofArray(k.c);
            rejects(IllegalArgumentException.class, "y: is read-only", k, () -> kernel.sequence(T, B, x, y.asReadOnly(), h, c));
            rejects(IllegalArgumentException.class, "h: is read-only", k, () -> kernel.sequence(T, B, x, y, h.asReadOnly(), c));

            // h and c as two overlapping views of one buffer.
            float[] shared = TestData.filled(k.h.length + 1, SENTINEL);
            MemorySegment whole = MemorySegment.ofArray(shared);
            MemorySegment hView = whole.asSlice(0, 4L * k.h.length);
            MemorySegment cView = whole.asSlice(4, 4L * k.c.length);
            rejects(IllegalArgumentException.class, "h: overlaps c", k, () -> kernel.sequence(T, B, x, y, hView, cView));
            assertArrayEquals(TestData.filled(shared.length, SENTINEL), shared);

            // y written over the input it reads, off-heap.
            MemorySegment nativeBuffer = arena.allocate(4L * (k.x.length + k.y.length), 64);
            MemorySegment nx = nativeBuffer.asSlice(0, 4L * k.x.length);
            MemorySegment ny = nativeBuffer.asSlice(4L * (k.x.length - 7), 4L * k.y.length);
            rejects(IllegalArgumentException.class, "y: overlaps x", k, () -> kernel.sequence(T, B, nx, ny, h, c));

            // A float tensor at an odd address.
            MemorySegment raw = arena.allocate(4L * k.x.length + 1, 64);
            MemorySegment misaligned = raw.asSlice(1, 4L * k.x.length);
            rejects(IllegalArgumentException.class, "x: a float32 tensor must be 4-byte aligned", k,
                    () -> kernel.sequence(T, B, misaligned, y, h, c));
            MemorySegment bytes = MemorySegment.ofArray(new byte[4 * k.x.length]);
            rejects(IllegalArgumentException.class, "x: a float32 tensor must be 4-byte aligned", k,
                    () -> kernel.sequence(T, B, bytes, y, h, c));
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void freedAndForeignThreadMemoryIsRefusedByName(LstmBackend backend) throws Exception {
        try (LstmKernel kernel = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 7))) {
            Call k = new Call();
            MemorySegment y = MemorySegment.ofArray(k.y);
            MemorySegment h = MemorySegment.ofArray(k.h);
            MemorySegment c = MemorySegment.ofArray(k.c);
            Arena closed = Arena.ofShared();
            MemorySegment freedX = closed.allocate(4L * k.x.length, 64);
            closed.close();
            rejects(IllegalArgumentException.class, "x: its memory has been freed", k,
                    () -> kernel.sequence(T, B, freedX, y, h, c));
            Arena closedC = Arena.ofConfined();
            MemorySegment freedC = closedC.allocate(4L * k.c.length, 64);
            closedC.close();
            rejects(IllegalArgumentException.class, "c: its memory has been freed", k,
                    () -> kernel.sequence(T, B, MemorySegment.ofArray(k.x), y, h, freedC));

            // Memory confined to another thread, still alive there.
            java.util.concurrent.CompletableFuture<MemorySegment> owned = new java.util.concurrent.CompletableFuture<>();
            java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
            Thread owner = new Thread(() -> {
                try (Arena mine = Arena.ofConfined()) {
                    owned.complete(mine.allocate(4L * k.h.length, 64));
                    done.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            owner.start();
            MemorySegment foreignH = owned.get();
            try {
                rejects(IllegalArgumentException.class, "h: its memory is confined to another thread", k,
                        () -> kernel.sequence(T, B, MemorySegment.ofArray(k.x), y, foreignH, c));
            } finally {
                done.countDown();
                owner.join();
            }
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void aClosedKernelRefusesEveryCall(LstmBackend backend) {
        LstmKernel kernel = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 7));
        kernel.close();
        Call k = new Call();
        rejects(IllegalStateException.class, "is closed", k, () -> kernel.sequence(T, B, k.x, k.y, k.h, k.c));
        rejects(IllegalStateException.class, "is closed", k, () -> kernel.step(B, new float[B * 5], new float[B * 7], k.h, k.c));
        rejects(IllegalStateException.class, "is closed", k, () -> kernel.sequence(T, B, MemorySegment.ofArray(k.x),
                MemorySegment.ofArray(k.y), MemorySegment.ofArray(k.h), MemorySegment.ofArray(k.c)));
        // Even a call that is wrong in other ways reports the closed kernel.
        rejects(IllegalStateException.class, "is closed", k, () -> kernel.sequence(T, 0, null, k.y, k.h, k.c));
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void prepareRejectsForeignWeightsAndMissingFeatures(LstmBackend backend) {
        LstmConfig other = LstmConfig.builder(5, 8).numLayers(2).batchFirst(true).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.prepare(CONFIG, LstmWeights.random(other, 1)));
        assertTrue(e.getMessage().contains("hidden_size=8"), e.getMessage());
        assertThrows(NullPointerException.class, () -> backend.prepare(CONFIG, null));

        for (Feature feature : Feature.values()) {
            LstmConfig needing = switch (feature) {
                case BIDIRECTIONAL -> LstmConfig.builder(5, 7).bidirectional(true).build();
                case PROJECTION -> LstmConfig.builder(5, 7).projectionSize(3).build();
                case GRU_CELL -> LstmConfig.builder(5, 7).cell(io.github.lstmkernels.CellType.GRU).build();
                case VARIABLE_LENGTHS, BACKWARD -> null; // properties of a call, not of a configuration
            };
            if (needing != null && !backend.features().contains(feature)) {
                UnsupportedFeatureException u = assertThrows(UnsupportedFeatureException.class,
                        () -> backend.prepare(needing, LstmWeights.random(needing, 1)));
                assertEquals(feature, u.feature());
                assertTrue(u.getMessage().contains(backend.name()), u.getMessage());
            }
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void availableBackendsDoNotThrowUnavailable(LstmBackend backend) {
        try (LstmKernel kernel = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 3))) {
            assertEquals(backend.name(), kernel.backendName());
            assertEquals(CONFIG, kernel.config());
        } catch (BackendUnavailableException e) {
            throw new AssertionError(e);
        }
    }

    @org.junit.jupiter.api.Test
    void weightsAndConfigurationsAreValidatedOnConstruction() {
        Map<String, float[]> dict = new HashMap<>(LstmWeights.random(CONFIG, 1).toStateDict());
        dict.remove("bias_hh_l1");
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> LstmWeights.fromStateDict(CONFIG, dict));
        assertTrue(missing.getMessage().contains("missing tensor 'bias_hh_l1' [28]"), missing.getMessage());

        dict.put("bias_hh_l1", new float[27]);
        IllegalArgumentException size = assertThrows(IllegalArgumentException.class, () -> LstmWeights.fromStateDict(CONFIG, dict));
        assertTrue(size.getMessage().contains("tensor 'bias_hh_l1': expected 28 floats [28], got 27"), size.getMessage());

        dict.put("bias_hh_l1", new float[28]);
        dict.put("weight_hr_l0", new float[3]);
        IllegalArgumentException extra = assertThrows(IllegalArgumentException.class, () -> LstmWeights.fromStateDict(CONFIG, dict));
        assertTrue(extra.getMessage().contains("unexpected tensor 'weight_hr_l0'"), extra.getMessage());

        LstmConfig noBias = LstmConfig.builder(5, 7).bias(false).build();
        assertEquals(java.util.List.of("weight_ih_l0", "weight_hh_l0"), LstmWeights.tensorNames(noBias));

        assertTrue(assertThrows(IllegalArgumentException.class, () -> LstmConfig.builder(0, 7).build())
                .getMessage().contains("input_size must be >= 1, got 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LstmConfig.builder(5, -1).build())
                .getMessage().contains("hidden_size must be >= 1, got -1"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LstmConfig.builder(5, 7).numLayers(0).build())
                .getMessage().contains("num_layers must be >= 1, got 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LstmConfig.builder(5, 7).projectionSize(7).build())
                .getMessage().contains("proj_size must be smaller than hidden_size"));
        // Sizes whose weight matrices overflow even a long are refused like any other too-large size.
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LstmConfig.builder(1, Integer.MAX_VALUE).build())
                .getMessage().contains("are too large"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LstmConfig.builder(1848405614, 1701736036).build())
                .getMessage().contains("are too large"));
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void nanAndInfinityFlowThroughAsIeeeArithmetic(LstmBackend backend) {
        LstmConfig config = LstmConfig.builder(3, 4).build();
        try (LstmKernel kernel = backend.prepare(config, LstmWeights.random(config, 5))) {
            float[] x = {Float.NaN, 0, 0, 0, 0, 0};
            float[] y = new float[8];
            float[] h = new float[8];
            float[] c = new float[8];
            kernel.step(2, x, y, h, c);
            for (int j = 0; j < 4; j++) {
                assertTrue(Float.isNaN(y[j]), "row 0 reads NaN: " + y[j]);
                assertTrue(!Float.isNaN(y[4 + j]), "row 1 must not see row 0's NaN: " + y[4 + j]);
            }
            float[] big = {Float.POSITIVE_INFINITY, 0, 0};
            float[] y1 = new float[4];
            float[] h1 = new float[4];
            float[] c1 = new float[4];
            kernel.step(1, big, y1, h1, c1);
            for (float v : y1) {
                assertTrue(Float.isNaN(v) || Math.abs(v) <= 1, "h stays in [-1, 1] or is NaN: " + v);
            }
        }
    }
}
