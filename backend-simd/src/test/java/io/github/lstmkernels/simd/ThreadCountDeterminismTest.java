package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * DESIGN §12: results are bit-identical whatever the thread count. On random configurations
 * (LSTM, LSTMP, GRU; layers, directions, lengths, batch-first; batch 1 and larger; hidden sizes
 * from under one vector to several blocks, so that some calls have fewer blocks than threads)
 * every output, final state and, in training mode, every gradient of a kernel forced to split
 * every call (threshold 0) into 2, 3 or 5 parts equals the one-thread kernel's bit for bit.
 */
class ThreadCountDeterminismTest {
    private static final int CASES = 60;
    private static final int[] THREAD_COUNTS = {2, 3, 5};

    @Test
    void everyThreadCountGivesTheSameBits() {
        SplittableRandom random = new SplittableRandom(20261127);
        int split = 0;
        for (int n = 0; n < CASES; n++) {
            LstmConfig config = randomConfig(random);
            LstmWeights weights = LstmWeights.random(config, random.nextLong());
            Call call = Call.random(config, random);
            List<float[]> expected;
            try (SimdLstmKernel one = new SimdLstmKernel(config, weights, 1, 0)) {
                expected = call.run(one, config);
            }
            for (int threads : THREAD_COUNTS) {
                try (SimdLstmKernel many = new SimdLstmKernel(config, weights, threads, 0)) {
                    List<float[]> actual = call.run(many, config);
                    for (int i = 0; i < expected.size(); i++) {
                        assertArrayEquals(expected.get(i), actual.get(i),
                                "case " + n + ", result " + i + ", " + threads + " threads: " + config);
                    }
                }
            }
            if (WeightLayoutsProbe.blocks(config) > 1) {
                split++;
            }
        }
        assertTrue(split > CASES / 3, "enough cases have several blocks to split: " + split);
    }

    /** Several callers on one split kernel: the team serves one at a time, the others run alone; same bits. */
    @Test
    void concurrentCallersOnOneSplitKernel() throws Exception {
        LstmConfig config = LstmConfig.builder(24, 70).numLayers(2).bidirectional(true).build();
        LstmWeights weights = LstmWeights.random(config, 7);
        SplittableRandom random = new SplittableRandom(3);
        List<Call> calls = new ArrayList<>();
        List<List<float[]>> expected = new ArrayList<>();
        try (SimdLstmKernel one = new SimdLstmKernel(config, weights, 1, 0)) {
            for (int i = 0; i < 6; i++) {
                Call call = Call.random(config, random);
                calls.add(call);
                expected.add(call.run(one, config));
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try (SimdLstmKernel shared = new SimdLstmKernel(config, weights, 2, 0)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int offset = t;
                futures.add(pool.submit(() -> {
                    for (int round = 0; round < 30; round++) {
                        int i = (round + offset) % calls.size();
                        List<float[]> actual = calls.get(i).run(shared, config);
                        for (int r = 0; r < actual.size(); r++) {
                            assertArrayEquals(expected.get(i).get(r), actual.get(r), "call " + i + ", result " + r);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static LstmConfig randomConfig(SplittableRandom random) {
        boolean gru = random.nextInt(3) == 0;
        int[] hiddenSizes = {3, 16, 17, 40, 64, 100};
        int hidden = hiddenSizes[random.nextInt(hiddenSizes.length)];
        LstmConfig.Builder b = LstmConfig.builder(1 + random.nextInt(20), hidden)
                .numLayers(1 + random.nextInt(2))
                .bidirectional(random.nextBoolean())
                .batchFirst(random.nextBoolean())
                .bias(random.nextInt(4) != 0);
        if (gru) {
            b.cell(CellType.GRU);
        } else if (random.nextInt(3) == 0) {
            b.projectionSize(1 + random.nextInt(hidden > 1 ? hidden - 1 : 1));
        }
        return b.build();
    }

    /** Blocks of V units of a configuration: a split needs at least two. */
    private static final class WeightLayoutsProbe {
        static int blocks(LstmConfig config) {
            return (config.hiddenSize() + GateBlocks.LANES - 1) / GateBlocks.LANES;
        }
    }

    /** One sequence call (inference, then training when the configuration allows it). */
    private record Call(int seqLen, int batch, int[] lengths, float[] x, float[] h0, float[] c0, float[] gradY,
                        float[] gradHn, float[] gradCn) {
        static Call random(LstmConfig config, SplittableRandom random) {
            int seqLen = 1 + random.nextInt(7);
            int batch = random.nextInt(3) == 0 ? 1 : 1 + random.nextInt(9);
            int[] lengths = null;
            if (random.nextBoolean()) {
                lengths = new int[batch];
                for (int b = 0; b < batch; b++) {
                    lengths[b] = 1 + random.nextInt(seqLen);
                }
            }
            boolean gru = config.cell() == CellType.GRU;
            int states = config.numLayers() * config.numDirections() * batch;
            int y = seqLen * batch * config.numDirections() * config.outputSize();
            return new Call(seqLen, batch, lengths, values(random, seqLen * batch * config.inputSize()),
                    values(random, states * config.outputSize()), gru ? null : values(random, states * config.hiddenSize()),
                    values(random, y), values(random, states * config.outputSize()),
                    gru ? null : values(random, states * config.hiddenSize()));
        }

        List<float[]> run(LstmKernel kernel, LstmConfig config) {
            boolean gru = config.cell() == CellType.GRU;
            float[] y = new float[gradY.length];
            float[] h = h0.clone();
            float[] c = gru ? null : c0.clone();
            kernel.sequence(seqLen, batch, lengths, x, y, h, c);
            List<float[]> all = new ArrayList<>(List.of(y, h));
            if (!gru) {
                all.add(c);
            }
            try (LstmTraining training = kernel.newTraining()) {
                float[] ty = new float[gradY.length];
                float[] th = h0.clone();
                float[] tc = gru ? null : c0.clone();
                float[] gradX = new float[x.length];
                float[] gradH0 = new float[h0.length];
                float[] gradC0 = gru ? null : new float[c0.length];
                LstmGradients gradients = LstmGradients.overwriting(config);
                training.forward(seqLen, batch, lengths, x, ty, th, tc);
                training.backward(gradY, gradHn, gradCn, gradX, gradH0, gradC0, gradients);
                all.addAll(List.of(ty, th, gradX, gradH0));
                if (!gru) {
                    all.add(tc);
                    all.add(gradC0);
                }
                for (Map.Entry<String, float[]> e : gradients.asMap().entrySet()) {
                    all.add(e.getValue());
                }
            }
            return all;
        }
    }

    private static float[] values(SplittableRandom random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return v;
    }
}
