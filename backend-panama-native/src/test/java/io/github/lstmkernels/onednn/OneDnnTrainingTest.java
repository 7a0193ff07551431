package io.github.lstmkernels.onednn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.testkit.ConcurrentTraining;
import io.github.lstmkernels.testkit.TrainingAllocation;
import io.github.lstmkernels.testkit.TrainingCall;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The onednn backward pass beyond what the shared tests check (golden cases, gradient properties):
 * many threads training on one kernel at once, each with its own tape, get the single-threaded
 * results bit for bit; steady-state training calls allocate nothing of this backend's on the heap;
 * a closed training state or kernel refuses.
 */
class OneDnnTrainingTest {
    private static final LstmConfig PROJECTED = LstmConfig.builder(5, 19).projectionSize(7).numLayers(2)
            .bidirectional(true).build();
    private static final LstmConfig GRU = LstmConfig.builder(6, 23).cell(CellType.GRU).numLayers(2)
            .bidirectional(true).batchFirst(true).build();

    @BeforeAll
    static void needsTheLibrary() {
        assumeTrue(new OneDnnBackend().availability().available(), "oneDNN is not available here");
    }

    @Test
    void concurrentProjectedBidirectionalLstmWithLengthsEqualsSingleThreaded() throws Exception {
        concurrent(PROJECTED);
    }

    @Test
    void concurrentGruEqualsSingleThreaded() throws Exception {
        concurrent(GRU);
    }

    @Test
    void lstmTrainingAllocatesNothingPerCallOnceCompiled() {
        steadyState(PROJECTED);
    }

    @Test
    void gruTrainingAllocatesNothingPerCallOnceCompiled() {
        steadyState(GRU);
    }

    @Test
    void closedTrainingAndClosedKernelRefuse() {
        LstmKernel kernel = new OneDnnBackend().createKernel(PROJECTED, LstmWeights.random(PROJECTED, 3));
        TrainingCall job = TrainingCall.of(PROJECTED, 1);
        LstmTraining training = kernel.newTraining();
        job.train(training, PROJECTED);
        long small = training.bytesFor(2, 1);
        long large = training.bytesFor(20, 8);
        assertTrue(small > 0 && large > small, "bytesFor " + small + ", " + large);
        training.close();
        training.close();
        assertThrows(IllegalStateException.class, () -> job.train(training, PROJECTED));
        LstmTraining second = kernel.newTraining();
        kernel.close();
        assertThrows(IllegalStateException.class, () -> job.train(second, PROJECTED));
        assertThrows(IllegalStateException.class, kernel::newTraining);
        second.close();
    }

    /**
     * A training state's memory goes with it: its walk buffers are the tape's, not the kernel's
     * (which would keep them until the kernel closes), so training states created and closed one
     * after another on a kernel add nothing to it.
     */
    @Test
    void trainingStatesLeaveNothingInTheKernel() {
        try (LstmKernel kernel = new OneDnnBackend().createKernel(GRU, LstmWeights.random(GRU, 5))) {
            OneDnnLstmKernel onednn = (OneDnnLstmKernel) kernel;
            TrainingCall job = TrainingCall.of(GRU, 2);
            long before = onednn.walkBufferBytes();
            for (int i = 0; i < 20; i++) {
                try (LstmTraining training = kernel.newTraining()) {
                    job.train(training, GRU);
                }
            }
            assertEquals(before, onednn.walkBufferBytes(), "walk buffers the kernel holds for closed training states");
        }
    }

    /** Four threads, each with its own tape, started together (the training plans are raced for). */
    private static void concurrent(LstmConfig config) throws Exception {
        try (LstmKernel kernel = new OneDnnBackend().createKernel(config, LstmWeights.random(config, 11))) {
            assertEquals(List.of(), ConcurrentTraining.differences(kernel, config, 4, 8));
        }
    }

    /**
     * The forward pass allocates nothing once compiled. The backward pass allocates what
     * {@code api}'s argument check allocates (its shape strings, the same for any shape of one
     * configuration; the simd backend's test says the same): equal bytes for a call with more steps
     * and segments, so nothing of this backend's grows with them.
     */
    private static void steadyState(LstmConfig config) {
        long[] small = bytesPerCall(config, 5, new int[] {3, 5, 1, 5, 4});
        long[] large = bytesPerCall(config, 7, new int[] {7, 2, 6, 1, 7, 4});
        assertEquals(0, small[0], config + ": bytes allocated per training forward after warm-up");
        assertEquals(0, large[0], config + ": bytes allocated per training forward after warm-up (7 steps)");
        assertEquals(small[1], large[1], config + ": backward bytes per call grow with steps and segments");
        assertTrue(small[1] <= 1024, config + ": " + small[1] + " bytes per backward call");
    }

    /** {forward, backward} bytes per call once compiled. */
    private static long[] bytesPerCall(LstmConfig config, int seqLen, int[] lengths) {
        try (LstmKernel kernel = new OneDnnBackend().createKernel(config, LstmWeights.random(config, 7))) {
            return TrainingAllocation.bytesPerCall(kernel, config, seqLen, lengths, 100, 20);
        }
    }
}
