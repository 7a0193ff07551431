package io.github.lstmkernels.testkit;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.io.PrintStream;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Training from Java, end to end: a 2-layer LSTM with a linear read-out learns to predict the next
 * value of a noisy sine wave, with Adam written out below. The LSTM's forward and backward passes
 * are the library's; the read-out, the loss (mean squared error over every step) and the optimizer
 * are the few lines a user writes.
 *
 * <pre>
 * model: x_t (1 feature) → LSTM(1, 16, num_layers=2, batch_first=True) → w·h_t + b → prediction of x_{t+1}
 * data:  16 sequences of 24 steps per epoch, sin(ω t + φ) with random ω ∈ [0.2, 0.6], φ, noise σ = 0.05
 * </pre>
 * Predicting 0 scores about 0.5; predicting the current value about 0.09; a model that learned the
 * waves scores near the noise floor (≈ 0.005).
 */
public final class TrainingExample {
    public static final int HIDDEN = 16;
    public static final int LAYERS = 2;
    public static final int BATCH = 16;
    public static final int STEPS = 24;
    private static final double NOISE = 0.05;
    private static final float LEARNING_RATE = 0.01f;

    private TrainingExample() {
    }

    /** Trains for {@code epochs} epochs on {@code backend}; returns the loss of each epoch (before its update). */
    public static double[] train(LstmBackend backend, int epochs, long seed, PrintStream out) {
        LstmConfig config = LstmConfig.builder(1, HIDDEN).numLayers(LAYERS).batchFirst(true).build();
        Map<String, float[]> params = LstmWeights.random(config, seed).toStateDict();
        SplittableRandom random = new SplittableRandom(seed + 1);
        float[] readout = new float[HIDDEN + 1];                  // w [H], then b
        for (int j = 0; j < HIDDEN; j++) {
            readout[j] = (float) random.nextDouble(-0.25, 0.25);
        }
        Adam adam = new Adam();
        LstmGradients gradients = LstmGradients.overwriting(config);
        float[] x = new float[BATCH * STEPS];
        float[] target = new float[BATCH * STEPS];
        float[] y = new float[BATCH * STEPS * HIDDEN];
        float[] gradY = new float[y.length];
        float[] readoutGrad = new float[HIDDEN + 1];
        int states = LAYERS * BATCH * HIDDEN;
        double[] losses = new double[epochs];
        for (int epoch = 0; epoch < epochs; epoch++) {
            makeBatch(random, x, target);
            // The weights changed: prepare packs them again (cheap at this size).
            try (LstmKernel lstm = backend.prepare(config, LstmWeights.fromStateDict(config, params));
                 LstmTraining training = lstm.newTraining()) {
                training.forward(STEPS, BATCH, null, x, y, new float[states], new float[states]);
                double loss = 0;
                java.util.Arrays.fill(readoutGrad, 0f);
                int n = BATCH * STEPS;
                for (int r = 0; r < n; r++) {
                    float prediction = readout[HIDDEN];
                    for (int j = 0; j < HIDDEN; j++) {
                        prediction += readout[j] * y[r * HIDDEN + j];
                    }
                    float error = prediction - target[r];
                    loss += error * error;
                    float dPrediction = 2 * error / n;
                    for (int j = 0; j < HIDDEN; j++) {
                        readoutGrad[j] += dPrediction * y[r * HIDDEN + j];
                        gradY[r * HIDDEN + j] = dPrediction * readout[j];
                    }
                    readoutGrad[HIDDEN] += dPrediction;
                }
                losses[epoch] = loss / n;
                training.backward(gradY, new float[states], new float[states], new float[x.length], new float[states],
                        new float[states], gradients);
            }
            for (Map.Entry<String, float[]> p : params.entrySet()) {
                adam.step(p.getKey(), p.getValue(), gradients.get(p.getKey()), epoch + 1);
            }
            adam.step("readout", readout, readoutGrad, epoch + 1);
            if (out != null && (epoch % 10 == 0 || epoch == epochs - 1)) {
                out.printf(Locale.ROOT, "epoch %4d  loss %.5f%n", epoch, losses[epoch]);
            }
        }
        return losses;
    }

    /** Each row: a sine with its own frequency and phase, plus noise; the target is the next (clean) value. */
    private static void makeBatch(SplittableRandom random, float[] x, float[] target) {
        for (int b = 0; b < BATCH; b++) {
            double omega = random.nextDouble(0.2, 0.6);
            double phase = random.nextDouble(0, 2 * Math.PI);
            for (int t = 0; t < STEPS; t++) {
                x[b * STEPS + t] = (float) (Math.sin(omega * t + phase) + NOISE * random.nextGaussian());
                target[b * STEPS + t] = (float) Math.sin(omega * (t + 1) + phase);
            }
        }
    }

    /** Adam (Kingma and Ba), β1 0.9, β2 0.999, ε 1e-8: per parameter tensor, its moments by name. */
    private static final class Adam {
        private final Map<String, float[][]> moments = new HashMap<>();

        void step(String name, float[] param, float[] grad, int t) {
            float[][] m = moments.computeIfAbsent(name, k -> new float[][] {new float[param.length], new float[param.length]});
            double correction1 = 1 - Math.pow(0.9, t);
            double correction2 = 1 - Math.pow(0.999, t);
            for (int i = 0; i < param.length; i++) {
                m[0][i] = 0.9f * m[0][i] + 0.1f * grad[i];
                m[1][i] = 0.999f * m[1][i] + 0.001f * grad[i] * grad[i];
                double mHat = m[0][i] / correction1;
                double vHat = m[1][i] / correction2;
                param[i] -= (float) (LEARNING_RATE * mHat / (Math.sqrt(vHat) + 1e-8));
            }
        }
    }
}
