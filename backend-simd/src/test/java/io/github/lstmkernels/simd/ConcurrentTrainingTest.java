package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.testkit.ConcurrentTraining;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Many threads train on one prepared kernel at once, each with its own {@code LstmTraining}
 * (created at the same moment, so the kernel's lazily built backward weights are raced for), on
 * call shapes of their own; every result equals the single-threaded one bit for bit.
 */
class ConcurrentTrainingTest {
    private static final int THREADS = 4;
    private static final int ROUNDS = 20;

    @Test
    void projectedBidirectionalLstmWithLengths() throws Exception {
        check(LstmConfig.builder(5, 19).projectionSize(7).numLayers(2).bidirectional(true).build());
    }

    @Test
    void gru() throws Exception {
        check(LstmConfig.builder(6, 23).cell(CellType.GRU).numLayers(2).bidirectional(true).batchFirst(true).build());
    }

    private static void check(LstmConfig config) throws Exception {
        try (LstmKernel kernel = new SimdBackend().createKernel(config, LstmWeights.random(config, 11))) {
            assertEquals(List.of(), ConcurrentTraining.differences(kernel, config, THREADS, ROUNDS));
        }
    }
}
