package io.github.lstmkernels.testkit;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmTraining;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * One training call of the tests that compare results bit for bit (across threads, thread counts,
 * repeated calls): a shape, lengths (or null), the input, initial states and upstream gradients,
 * all drawn uniformly from (−1, 1).
 */
public record TrainingCall(int seqLen, int batch, int[] lengths, float[] x, float[] h0, float[] c0, float[] gradY,
                           float[] gradHn, float[] gradCn) {

    /** 2–7 steps, batch 1–5, random lengths with one row running all steps, from {@code seed}. */
    public static TrainingCall of(LstmConfig config, int seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int seqLen = 2 + random.nextInt(6);
        int batch = 1 + random.nextInt(5);
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            lengths[b] = 1 + random.nextInt(seqLen);
        }
        lengths[random.nextInt(batch)] = seqLen;
        return random(config, random, seqLen, batch, lengths);
    }

    /** The tensors of a call of this shape, drawn from {@code random}. */
    public static TrainingCall random(LstmConfig config, SplittableRandom random, int seqLen, int batch, int[] lengths) {
        boolean gru = config.cell() == CellType.GRU;
        int states = config.numLayers() * config.numDirections() * batch;
        int y = seqLen * batch * config.numDirections() * config.outputSize();
        return new TrainingCall(seqLen, batch, lengths, values(random, seqLen * batch * config.inputSize()),
                values(random, states * config.outputSize()), gru ? null : values(random, states * config.hiddenSize()),
                values(random, y), values(random, states * config.outputSize()),
                gru ? null : values(random, states * config.hiddenSize()));
    }

    /** Output, final states and every gradient of a forward and a backward pass (gradients overwritten). */
    public List<float[]> train(LstmTraining training, LstmConfig config) {
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

    private static float[] values(SplittableRandom random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return v;
    }
}
