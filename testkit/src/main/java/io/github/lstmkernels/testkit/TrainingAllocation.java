package io.github.lstmkernels.testkit;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;

/**
 * What a training forward and backward allocate per call once compiled, on one kernel with
 * off-heap tensors and per-sequence lengths (several segments, sorted rows). Compilation only ever
 * removes allocations, so it warms up, round after round, until the forward allocates nothing and
 * the backward's least bytes per call have not fallen for {@link #STEADY_ROUNDS} rounds (at most
 * {@link #ROUNDS}). The backends' steady-state tests assert on the two numbers.
 */
public final class TrainingAllocation {
    private static final int ROUNDS = 40;
    private static final int STEADY_ROUNDS = 3;

    private TrainingAllocation() {
    }

    /** {forward, backward} bytes per call: {@code warmUpCalls} calls a round, then {@code measuredCalls} measured. */
    public static long[] bytesPerCall(LstmKernel kernel, LstmConfig config, int seqLen, int[] lengths, int warmUpCalls,
                                      int measuredCalls) {
        boolean gru = config.cell() == CellType.GRU;
        int batch = lengths.length;
        int states = config.numLayers() * config.numDirections() * batch;
        try (LstmTraining training = kernel.newTraining();
             Arena arena = Arena.ofConfined()) {
            long xBytes = 4L * seqLen * batch * config.inputSize();
            long yBytes = 4L * seqLen * batch * config.numDirections() * config.outputSize();
            long hBytes = 4L * states * config.outputSize();
            long cBytes = 4L * states * config.hiddenSize();
            MemorySegment x = filled(arena, xBytes);
            MemorySegment y = arena.allocate(yBytes);
            MemorySegment h = arena.allocate(hBytes);
            MemorySegment c = gru ? null : arena.allocate(cBytes);
            MemorySegment gradY = filled(arena, yBytes);
            MemorySegment gradHn = filled(arena, hBytes);
            MemorySegment gradCn = gru ? null : filled(arena, cBytes);
            MemorySegment gradX = arena.allocate(xBytes);
            MemorySegment gradH0 = arena.allocate(hBytes);
            MemorySegment gradC0 = gru ? null : arena.allocate(cBytes);
            LstmGradients gradients = LstmGradients.overwriting(config);
            var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long forward = -1;
            long backward = Long.MAX_VALUE;
            for (int round = 0, steady = 0; round < ROUNDS && (forward != 0 || steady < STEADY_ROUNDS); round++) {
                for (int i = 0; i < warmUpCalls; i++) {
                    training.forward(seqLen, batch, lengths, x, y, h, c);
                    training.backward(gradY, gradHn, gradCn, gradX, gradH0, gradC0, gradients);
                }
                long forwardBytes = 0;
                long backwardBytes = 0;
                for (int i = 0; i < measuredCalls; i++) {
                    long t0 = threads.getCurrentThreadAllocatedBytes();
                    training.forward(seqLen, batch, lengths, x, y, h, c);
                    long t1 = threads.getCurrentThreadAllocatedBytes();
                    training.backward(gradY, gradHn, gradCn, gradX, gradH0, gradC0, gradients);
                    long t2 = threads.getCurrentThreadAllocatedBytes();
                    forwardBytes += t1 - t0;
                    backwardBytes += t2 - t1;
                }
                forward = forwardBytes / measuredCalls;
                steady = backwardBytes / measuredCalls < backward ? 0 : steady + 1;
                backward = Math.min(backward, backwardBytes / measuredCalls);
            }
            return new long[] {forward, backward};
        }
    }

    private static MemorySegment filled(Arena arena, long bytes) {
        MemorySegment s = arena.allocate(bytes);
        for (long i = 0; i < bytes / 4; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i));
        }
        return s;
    }
}
