package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.testkit.TrainingAllocation;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

/**
 * Once C2 has compiled the kernel, a call allocates nothing on the heap: workspaces are reused, and
 * no vector is boxed (a vector crossing a method C2 did not inline would be). Interpreted and C1
 * code box every vector, so the test warms up in rounds until a round allocates nothing, and fails
 * if none does. Counts bytes, never time.
 */
class SteadyStateAllocationTest {
    private static final int ROUNDS = 40;
    private static final int WARM_UP_CALLS = 2_000;
    private static final int MEASURED_CALLS = 100;

    @Test
    void gruAllocatesNothingOnceCompiled() {
        check(LstmConfig.builder(7, 37).cell(CellType.GRU).numLayers(2).bidirectional(true).build());
    }

    @Test
    void projectedLstmAllocatesNothingOnceCompiled() {
        check(LstmConfig.builder(7, 37).projectionSize(11).numLayers(2).bidirectional(true).build());
    }

    /** Every call split across two threads (threshold 0): the regions are reused, nothing per call. */
    @Test
    void splitCallsAllocateNothingOnceCompiled() {
        LstmConfig config = LstmConfig.builder(7, 37).projectionSize(11).numLayers(2).bidirectional(true).build();
        check(config, new SimdLstmKernel(config, LstmWeights.random(config, 7), 2, 0));
    }

    @Test
    void lstmTrainingAllocatesNothingOnceCompiled() {
        checkTraining(LstmConfig.builder(7, 37).projectionSize(11).numLayers(2).bidirectional(true).build());
    }

    @Test
    void gruTrainingAllocatesNothingOnceCompiled() {
        checkTraining(LstmConfig.builder(7, 37).cell(CellType.GRU).numLayers(2).bidirectional(true).build());
    }

    /**
     * Training with lengths (several segments, sorted rows). The forward pass must allocate nothing.
     * The backward pass: {@code TensorChecks.checkBackward} in {@code api} builds its shape strings
     * on every call (a few hundred bytes, the same for any shape of one configuration; the scalar
     * backend shows it too), so this test asks that the backward pass allocate the same per call
     * for a shape with more steps and segments: anything of this backend's (a boxed vector per
     * step, segment or block) would grow with them. Once {@code api} builds those strings only on
     * a refusal, both numbers are 0 and the assertion can become {@code 0}.
     */
    private static void checkTraining(LstmConfig config) {
        long[] small = trainingBytesPerCall(config, 5, new int[] {3, 5, 1, 5, 4});
        long[] large = trainingBytesPerCall(config, 7, new int[] {7, 2, 6, 1, 7, 4});
        assertEquals(0, small[0], config + ": bytes allocated per training forward after warm-up");
        assertEquals(0, large[0], config + ": bytes allocated per training forward after warm-up (7 steps)");
        assertEquals(small[1], large[1], config + ": backward bytes per call grow with steps and segments");
        assertTrue(small[1] <= 1024, config + ": " + small[1] + " bytes per backward call");
    }

    /** {forward, backward} bytes per call once compiled. */
    private static long[] trainingBytesPerCall(LstmConfig config, int seqLen, int[] lengths) {
        try (LstmKernel kernel = new SimdBackend().createKernel(config, LstmWeights.random(config, 7))) {
            return TrainingAllocation.bytesPerCall(kernel, config, seqLen, lengths, WARM_UP_CALLS, MEASURED_CALLS);
        }
    }

    private static void check(LstmConfig config) {
        check(config, new SimdBackend().createKernel(config, LstmWeights.random(config, 7)));
    }

    private static void check(LstmConfig config, LstmKernel prepared) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        boolean gru = config.cell() == CellType.GRU;
        int seqLen = 5;
        int batch = 5;
        int states = config.numLayers() * config.numDirections() * batch;
        try (LstmKernel kernel = prepared;
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * seqLen * batch * config.inputSize());
            MemorySegment y = arena.allocate(4L * seqLen * batch * config.numDirections() * config.outputSize());
            MemorySegment h = arena.allocate(4L * states * config.outputSize());
            MemorySegment c = gru ? null : arena.allocate(4L * states * config.hiddenSize());
            long perCall = -1;
            for (int round = 0; round < ROUNDS && perCall != 0; round++) {
                for (int i = 0; i < WARM_UP_CALLS; i++) {
                    call(kernel, gru, seqLen, batch, x, y, h, c);
                }
                long before = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < MEASURED_CALLS; i++) {
                    call(kernel, gru, seqLen, batch, x, y, h, c);
                }
                perCall = (threads.getCurrentThreadAllocatedBytes() - before) / MEASURED_CALLS;
            }
            assertEquals(0, perCall, config + ": bytes allocated per call after warm-up");
        }
    }

    private static void call(LstmKernel kernel, boolean gru, int seqLen, int batch, MemorySegment x, MemorySegment y,
                             MemorySegment h, MemorySegment c) {
        if (gru) {
            kernel.sequence(seqLen, batch, x, y, h);
        } else {
            kernel.sequence(seqLen, batch, x, y, h, c);
        }
    }
}
