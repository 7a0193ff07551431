package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.testkit.TrainingCall;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Many threads train on one prepared kernel at once, each with its own {@link LstmTraining}
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
            List<TrainingCall> jobs = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                jobs.add(TrainingCall.of(config, 100 + t));
            }
            CyclicBarrier start = new CyclicBarrier(THREADS);
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<List<float[]>>> results = new ArrayList<>();
                for (TrainingCall job : jobs) {
                    results.add(pool.submit(() -> {
                        start.await();
                        try (LstmTraining training = kernel.newTraining()) {
                            List<float[]> first = job.train(training, config);
                            for (int round = 1; round < ROUNDS; round++) {
                                List<float[]> again = job.train(training, config);
                                for (int i = 0; i < first.size(); i++) {
                                    assertArrayEquals(first.get(i), again.get(i), "round " + round + ", tensor " + i);
                                }
                            }
                            return first;
                        }
                    }));
                }
                for (int t = 0; t < THREADS; t++) {
                    List<float[]> concurrent = results.get(t).get();
                    List<float[]> alone;
                    try (LstmTraining training = kernel.newTraining()) {
                        alone = jobs.get(t).train(training, config);
                    }
                    assertEquals(alone.size(), concurrent.size());
                    for (int i = 0; i < alone.size(); i++) {
                        assertArrayEquals(alone.get(i), concurrent.get(i), "thread " + t + ", tensor " + i);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
