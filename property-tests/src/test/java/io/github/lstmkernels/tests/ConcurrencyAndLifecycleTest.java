package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** DESIGN.md section 4 on every backend: threads, close, weights copied at prepare, off-heap = heap. */
class ConcurrencyAndLifecycleTest {
    private static final LstmConfig CONFIG = LstmConfig.builder(19, 33).numLayers(2).build();

    /** One call's inputs and the outputs it produced. */
    private record Run(float[] x, float[] h0, float[] c0, int seqLen, int batch, float[] y, float[] h, float[] c) {
        static Run make(int index) {
            int seqLen = 1 + index % 5;
            int batch = 1 + (index * 7) % 6;
            return new Run(TestData.uniform(TestData.xLength(CONFIG, seqLen, batch), 1, 100 + index),
                    TestData.uniform(TestData.hLength(CONFIG, batch), 1, 200 + index),
                    TestData.uniform(TestData.cLength(CONFIG, batch), 1, 300 + index), seqLen, batch,
                    new float[TestData.yLength(CONFIG, seqLen, batch)], null, null);
        }

        Run on(LstmKernel kernel) {
            float[] y = new float[this.y.length];
            float[] h = h0.clone();
            float[] c = c0.clone();
            kernel.sequence(seqLen, batch, x, y, h, c);
            return new Run(x, h0, c0, seqLen, batch, y, h, c);
        }

        void assertSameBits(Run other, String what) {
            assertArrayEquals(y, other.y, what + ": y");
            assertArrayEquals(h, other.h, what + ": h");
            assertArrayEquals(c, other.c, what + ": c");
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void manyThreadsOnOneKernelGiveTheSingleThreadResultsBitForBit(LstmBackend backend) throws Exception {
        int threads = 8;
        int callsPerThread = 12;
        try (LstmKernel kernel = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 11))) {
            List<Run> expected = new ArrayList<>();
            for (int i = 0; i < threads * callsPerThread; i++) {
                expected.add(Run.make(i).on(kernel));
            }
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                CountDownLatch start = new CountDownLatch(1);
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    futures.add(pool.submit(() -> {
                        start.await();
                        // Each thread walks the runs in its own order, so different shapes overlap in time.
                        for (int n = 0; n < callsPerThread; n++) {
                            int i = (thread + n * threads) % expected.size();
                            Run want = expected.get(i);
                            want.assertSameBits(Run.make(i).on(kernel), "thread " + thread + " run " + i);
                        }
                        return null;
                    }));
                }
                start.countDown();
                for (Future<?> f : futures) {
                    f.get(120, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void closeIsIdempotentAndWaitsForCallsInFlight(LstmBackend backend) throws Exception {
        LstmKernel kernel = backend.prepare(CONFIG, LstmWeights.random(CONFIG, 11));
        Run run = Run.make(3);
        AtomicInteger completed = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                futures.add(pool.submit(() -> {
                    while (true) {
                        try {
                            run.on(kernel);
                            completed.incrementAndGet();
                        } catch (IllegalStateException closed) {
                            assertTrue(closed.getMessage().contains("is closed"), closed.getMessage());
                            refused.incrementAndGet();
                            return null;
                        }
                    }
                }));
            }
            while (completed.get() < 20) {
                Thread.sleep(1);
            }
            kernel.close();
            kernel.close();
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(refused.get() == 4, "every worker must end with a refusal, got " + refused.get());
        assertThrows(IllegalStateException.class, () -> run.on(kernel));
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void theCallersWeightArraysMayChangeAfterPrepare(LstmBackend backend) {
        Map<String, float[]> dict = LstmWeights.random(CONFIG, 5).toStateDict();
        LstmWeights weights = LstmWeights.fromStateDict(CONFIG, dict);
        try (LstmKernel kernel = backend.prepare(CONFIG, weights)) {
            Run before = Run.make(1).on(kernel);
            dict.values().forEach(a -> Arrays.fill(a, 0.5f));
            before.assertSameBits(Run.make(1).on(kernel), "after the caller overwrote its arrays");
        }
    }

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void offHeapSegmentsGiveTheSameResultsAsHeapArrays(LstmBackend backend) {
        LstmConfig config = LstmConfig.builder(19, 33).numLayers(2).batchFirst(true).build();
        int seqLen = 4;
        int batch = 3;
        try (LstmKernel kernel = backend.prepare(config, LstmWeights.random(config, 5)); Arena arena = Arena.ofConfined()) {
            float[] x = TestData.uniform(TestData.xLength(config, seqLen, batch), 1, 1);
            float[] h = TestData.uniform(TestData.hLength(config, batch), 1, 2);
            float[] c = TestData.uniform(TestData.cLength(config, batch), 1, 3);
            float[] y = new float[TestData.yLength(config, seqLen, batch)];
            MemorySegment nx = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
            MemorySegment nh = arena.allocateFrom(ValueLayout.JAVA_FLOAT, h);
            MemorySegment nc = arena.allocateFrom(ValueLayout.JAVA_FLOAT, c);
            MemorySegment ny = arena.allocate(ValueLayout.JAVA_FLOAT, y.length);
            kernel.sequence(seqLen, batch, x, y, h, c);
            kernel.sequence(seqLen, batch, nx, ny, nh, nc);
            assertArrayEquals(y, ny.toArray(ValueLayout.JAVA_FLOAT));
            assertArrayEquals(h, nh.toArray(ValueLayout.JAVA_FLOAT));
            assertArrayEquals(c, nc.toArray(ValueLayout.JAVA_FLOAT));
            assertFalse(Arrays.equals(new float[y.length], y), "y was computed");
        }
    }
}
