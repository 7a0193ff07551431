package io.github.lstmkernels.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The memory guarantee of {@code LstmKernel}: another thread closes the shared arena of a call's
 * tensors at a random moment while the call runs, thousands of times. Every call either completes
 * with exactly the result of an undisturbed call (when its output can still be read) or throws the
 * documented exception (IllegalArgumentException when the memory was already freed at the check,
 * IllegalStateException from a copy during the call); nothing else, and the JVM does not crash.
 */
class ConcurrentCloseTest {
    private static final int ROUNDS = Integer.getInteger("lstm.test.scale", 1) * 1500;

    @ParameterizedTest
    @MethodSource("io.github.lstmkernels.tests.Backends#stream")
    void closingTheTensorsArenaDuringACallNeverReachesNativeCode(LstmBackend backend) throws Exception {
        LstmConfig config = LstmConfig.builder(24, 32).numLayers(2).bidirectional(true).build();
        int seqLen = 6;
        int batch = 3;
        float[] x = TestData.uniform(TestData.xLength(config, seqLen, batch), 1, 5);
        float[] expected = new float[TestData.yLength(config, seqLen, batch)];
        AtomicInteger completed = new AtomicInteger();
        AtomicInteger verified = new AtomicInteger();
        AtomicInteger refusedFreed = new AtomicInteger();
        AtomicInteger failedDuring = new AtomicInteger();
        AtomicInteger interrupted = new AtomicInteger();
        try (LstmKernel kernel = backend.prepare(config, LstmWeights.random(config, 5))) {
            kernel.sequence(seqLen, batch, x, expected, new float[TestData.hLength(config, batch)],
                    new float[TestData.cLength(config, batch)]);
            java.util.SplittableRandom random = new java.util.SplittableRandom(11);
            for (int round = 0; round < ROUNDS; round++) {
                Arena arena = Arena.ofShared();
                MemorySegment xs = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
                MemorySegment ys = arena.allocate(4L * expected.length, 64);
                MemorySegment hs = arena.allocate(4L * TestData.hLength(config, batch), 64);
                MemorySegment cs = arena.allocate(4L * TestData.cLength(config, batch), 64);
                int delayNanos = random.nextInt(200_000);
                CountDownLatch go = new CountDownLatch(1);
                Thread closer = new Thread(() -> {
                    try {
                        go.await();
                    } catch (InterruptedException e) {
                        return;
                    }
                    long until = System.nanoTime() + delayNanos;
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                    arena.close();
                });
                closer.start();
                go.countDown();
                try {
                    kernel.sequence(seqLen, batch, xs, ys, hs, cs);
                    completed.incrementAndGet();
                    try {
                        float[] got = ys.toArray(ValueLayout.JAVA_FLOAT);
                        assertArrayEquals(expected, got, backend.name() + ": a completed call's output differs");
                        verified.incrementAndGet();
                    } catch (IllegalStateException closedSinceThen) {
                        // closed after the call returned: nothing left to compare
                    }
                } catch (IllegalArgumentException e) {
                    assertTrue(e.getMessage().contains("has been freed"), e.getMessage());
                    refusedFreed.incrementAndGet();
                } catch (IllegalStateException e) {
                    failedDuring.incrementAndGet();
                }
                if (Thread.interrupted()) {
                    // Seen a few times per thousand rounds (scalar and simd) on JDK 25: after a close raced the
                    // call, this thread's interrupt flag was set. The library never interrupts a thread; the
                    // cause (the JDK's closing handshake?) is not found yet, so it is counted, printed, cleared.
                    interrupted.incrementAndGet();
                }
                closer.join();
            }
        }
        System.out.printf("concurrent close on %s: %d rounds: %d completed (%d verified bit for bit), %d refused as"
                + " freed, %d failed during the call; interrupt flag found set %d times%n", backend.name(), ROUNDS,
                completed.get(), verified.get(), refusedFreed.get(), failedDuring.get(), interrupted.get());
        assertEquals(ROUNDS, completed.get() + refusedFreed.get() + failedDuring.get());
        assertTrue(verified.get() > 0 && refusedFreed.get() + failedDuring.get() > 0,
                "the delays never produced both outcomes; the test saw nothing");
    }
}
