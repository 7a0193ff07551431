package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.LstmWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
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

    /** One thread's work: a shape, data and upstream gradients of its own. */
    private record Job(int seqLen, int batch, int[] lengths, float[] x, float[] h0, float[] c0, float[] gradY,
                       float[] gradHn, float[] gradCn) {
        static Job of(LstmConfig config, int seed) {
            SplittableRandom random = new SplittableRandom(seed);
            int seqLen = 2 + random.nextInt(6);
            int batch = 1 + random.nextInt(5);
            int[] lengths = new int[batch];
            for (int b = 0; b < batch; b++) {
                lengths[b] = 1 + random.nextInt(seqLen);
            }
            lengths[random.nextInt(batch)] = seqLen;
            boolean gru = config.cell() == CellType.GRU;
            int states = config.numLayers() * config.numDirections() * batch;
            int y = seqLen * batch * config.numDirections() * config.outputSize();
            return new Job(seqLen, batch, lengths, values(random, seqLen * batch * config.inputSize()),
                    values(random, states * config.outputSize()), gru ? null : values(random, states * config.hiddenSize()),
                    values(random, y), values(random, states * config.outputSize()),
                    gru ? null : values(random, states * config.hiddenSize()));
        }

        /** Output, final states and every gradient, from a forward and a backward pass. */
        List<float[]> run(LstmTraining training, LstmConfig config) {
            boolean gru = config.cell() == CellType.GRU;
            float[] y = new float[gradY.length];
            float[] h = h0.clone();
            float[] c = gru ? null : c0.clone();
            float[] gradX = new float[x.length];
            float[] gradH0 = new float[h0.length];
            float[] gradC0 = gru ? null : new float[c0.length];
            LstmGradients gradients = LstmGradients.overwriting(config);
            training.forward(seqLen, batch, lengths, x, y, h, c);
            training.backward(gradY, gradHn, gradCn, gradX, gradH0, gradC0, gradients);
            List<float[]> all = new ArrayList<>(List.of(y, h, gradX, gradH0));
            if (!gru) {
                all.add(c);
                all.add(gradC0);
            }
            for (Map.Entry<String, float[]> e : gradients.asMap().entrySet()) {
                all.add(e.getValue());
            }
            return all;
        }
    }

    private static void check(LstmConfig config) throws Exception {
        try (LstmKernel kernel = new SimdBackend().createKernel(config, LstmWeights.random(config, 11))) {
            List<Job> jobs = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                jobs.add(Job.of(config, 100 + t));
            }
            CyclicBarrier start = new CyclicBarrier(THREADS);
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<List<float[]>>> results = new ArrayList<>();
                for (Job job : jobs) {
                    results.add(pool.submit(() -> {
                        start.await();
                        try (LstmTraining training = kernel.newTraining()) {
                            List<float[]> first = job.run(training, config);
                            for (int round = 1; round < ROUNDS; round++) {
                                List<float[]> again = job.run(training, config);
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
                        alone = jobs.get(t).run(training, config);
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

    private static float[] values(SplittableRandom random, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return a;
    }
}
