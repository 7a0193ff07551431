package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
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

    private static void check(LstmConfig config) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        boolean gru = config.cell() == CellType.GRU;
        int seqLen = 5;
        int batch = 5;
        int states = config.numLayers() * config.numDirections() * batch;
        try (LstmKernel kernel = new SimdBackend().createKernel(config, LstmWeights.random(config, 7));
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
