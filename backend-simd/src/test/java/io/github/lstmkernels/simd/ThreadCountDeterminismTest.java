package io.github.lstmkernels.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.testkit.TrainingCall;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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

    /**
     * Tensors in a confined arena: the workers may not touch them, so the calling thread writes
     * every column of the output itself, and on two threads runs both directions of a layer itself
     * (a worker running one would fail on the first tensor it touched); same bits as heap tensors
     * on one thread.
     */
    @Test
    void confinedTensorsOnASplitKernel() {
        List<LstmConfig> configs = List.of(
                LstmConfig.builder(12, 70).numLayers(2).bidirectional(true).build(),
                LstmConfig.builder(12, 70).projectionSize(40).build(),
                LstmConfig.builder(12, 70).cell(CellType.GRU).batchFirst(true).build());
        for (LstmConfig config : configs) {
            LstmWeights weights = LstmWeights.random(config, 11);
            TrainingCall call = TrainingCall.random(config, new SplittableRandom(5), 6, 7, null);
            boolean gru = config.cell() == CellType.GRU;
            float[] y = new float[call.gradY().length];
            float[] h = call.h0().clone();
            float[] c = gru ? null : call.c0().clone();
            try (SimdLstmKernel one = new SimdLstmKernel(config, weights, 1, 0)) {
                one.sequence(call.seqLen(), call.batch(), null, call.x(), y, h, c);
            }
            for (int threads : new int[] {2, 3}) {
                try (SimdLstmKernel many = new SimdLstmKernel(config, weights, threads, 0);
                     Arena arena = Arena.ofConfined()) {
                    MemorySegment x = arena.allocateFrom(ValueLayout.JAVA_FLOAT, call.x());
                    MemorySegment ySegment = arena.allocate(4L * y.length);
                    MemorySegment hSegment = arena.allocateFrom(ValueLayout.JAVA_FLOAT, call.h0());
                    MemorySegment cSegment = gru ? null : arena.allocateFrom(ValueLayout.JAVA_FLOAT, call.c0());
                    if (gru) {
                        many.sequence(call.seqLen(), call.batch(), x, ySegment, hSegment);
                    } else {
                        many.sequence(call.seqLen(), call.batch(), x, ySegment, hSegment, cSegment);
                    }
                    assertArrayEquals(y, ySegment.toArray(ValueLayout.JAVA_FLOAT), "output: " + config);
                    assertArrayEquals(h, hSegment.toArray(ValueLayout.JAVA_FLOAT), "h_n: " + config);
                    if (!gru) {
                        assertArrayEquals(c, cSegment.toArray(ValueLayout.JAVA_FLOAT), "c_n: " + config);
                    }
                }
            }
        }
    }

    /**
     * A segment too long to project at once is projected a chunk of steps ahead, and on 3 threads a
     * part that waits at a barrier projects its next panels meanwhile (LSTM: 4 blocks split 1, 1,
     * 2, so two parts wait at every step; GRU of 160 units: 10 blocks split 4, 4, 2), a step's rows
     * at a time or, with 600 inputs, in units of fewer rows than a step has; a GRU of 64 units
     * (too few blocks for each part to own whole panels) projects and then meets at a barrier. On 1
     * and 3 threads the outputs and states equal, bit for bit, the same steps called one at a time
     * (one-step segments, never chunked).
     */
    @Test
    void chunkedProjectionEqualsStepByStep() {
        int seqLen = 30;
        int batch = 24;
        List<LstmConfig> configs = List.of(
                LstmConfig.builder(20, 64).build(),
                LstmConfig.builder(600, 64).build(),
                LstmConfig.builder(20, 64).numLayers(2).projectionSize(24).build(),
                LstmConfig.builder(20, 64).cell(CellType.GRU).build(),
                LstmConfig.builder(600, 160).cell(CellType.GRU).build());
        for (LstmConfig config : configs) {
            LstmWeights weights = LstmWeights.random(config, 13);
            boolean gru = config.cell() == CellType.GRU;
            float[] x = uniform(seqLen * batch * config.inputSize(), 17);
            int states = config.numLayers() * batch;
            float[] hStep = new float[states * config.outputSize()];
            float[] cStep = gru ? null : new float[states * config.hiddenSize()];
            float[] yStep = new float[seqLen * batch * config.outputSize()];
            try (SimdLstmKernel one = new SimdLstmKernel(config, weights, 1, 0)) {
                assertTrue(one.projectionChunk(seqLen, batch, 1) < seqLen, "the sequence is projected in chunks: " + config);
                float[] out = new float[batch * config.outputSize()];
                for (int t = 0; t < seqLen; t++) {
                    float[] xt = Arrays.copyOfRange(x, t * batch * config.inputSize(), (t + 1) * batch * config.inputSize());
                    one.step(batch, xt, out, hStep, cStep);
                    System.arraycopy(out, 0, yStep, t * out.length, out.length);
                }
            }
            for (int threads : new int[] {1, 3}) {
                float[] y = new float[yStep.length];
                float[] h = new float[hStep.length];
                float[] c = gru ? null : new float[cStep.length];
                try (SimdLstmKernel kernel = new SimdLstmKernel(config, weights, threads, 0)) {
                    kernel.sequence(seqLen, batch, null, x, y, h, c);
                }
                assertArrayEquals(yStep, y, threads + " threads, output: " + config);
                assertArrayEquals(hStep, h, threads + " threads, h_n: " + config);
                if (!gru) {
                    assertArrayEquals(cStep, c, threads + " threads, c_n: " + config);
                }
            }
        }
    }

    /**
     * The rows a waiting part projects ahead and those projected when a step needs them are summed
     * by the same tiles, also at the end of a segment whose rows do not fill whole tiles: 31 steps ×
     * 20 rows = 620 = 103 tiles of 6 + 2, with 1400 inputs projected ahead 6 rows at a time, so a
     * waiting part may project the last 2 rows alone, which one thread projects with the rows
     * before them. On 3 threads (parts that wait and project ahead) the outputs and states equal one
     * thread's bit for bit, call after call.
     */
    @Test
    void projectingAheadKeepsTheBitsAtTheSegmentsEnd() {
        int seqLen = 31;
        int batch = 20;
        List<LstmConfig> configs = List.of(
                LstmConfig.builder(1400, 64).build(),
                LstmConfig.builder(1400, 160).cell(CellType.GRU).build());
        for (LstmConfig config : configs) {
            LstmWeights weights = LstmWeights.random(config, 29);
            boolean gru = config.cell() == CellType.GRU;
            float[] x = uniform(seqLen * batch * config.inputSize(), 31);
            float[] y1 = new float[seqLen * batch * config.outputSize()];
            float[] h1 = new float[batch * config.outputSize()];
            float[] c1 = gru ? null : new float[batch * config.hiddenSize()];
            try (SimdLstmKernel one = new SimdLstmKernel(config, weights, 1, 0)) {
                one.sequence(seqLen, batch, null, x, y1, h1, c1);
            }
            try (SimdLstmKernel three = new SimdLstmKernel(config, weights, 3, 0)) {
                for (int call = 0; call < 5; call++) {
                    float[] y = new float[y1.length];
                    float[] h = new float[h1.length];
                    float[] c = gru ? null : new float[c1.length];
                    three.sequence(seqLen, batch, null, x, y, h, c);
                    assertArrayEquals(y1, y, "call " + call + ", output: " + config);
                    assertArrayEquals(h1, h, "call " + call + ", h_n: " + config);
                    if (!gru) {
                        assertArrayEquals(c1, c, "call " + call + ", c_n: " + config);
                    }
                }
            }
        }
    }

    /** {@code n} values uniform in (−1, 1) from {@code seed}. */
    private static float[] uniform(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return values;
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

    /** One sequence call: inference, then training on the same tensors. */
    private record Call(TrainingCall tensors) {
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
            return new Call(TrainingCall.random(config, random, seqLen, batch, lengths));
        }

        List<float[]> run(LstmKernel kernel, LstmConfig config) {
            TrainingCall call = tensors;
            boolean gru = config.cell() == CellType.GRU;
            float[] y = new float[call.gradY().length];
            float[] h = call.h0().clone();
            float[] c = gru ? null : call.c0().clone();
            kernel.sequence(call.seqLen(), call.batch(), call.lengths(), call.x(), y, h, c);
            List<float[]> all = new ArrayList<>(List.of(y, h));
            if (!gru) {
                all.add(c);
            }
            try (LstmTraining training = kernel.newTraining()) {
                all.addAll(call.train(training, config));
            }
            return all;
        }
    }
}
