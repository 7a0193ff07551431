package io.github.lstmkernels.tests;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.lang.foreign.ValueLayout;

/**
 * The oracle: torch.nn.LSTM written out plainly in float64, independent of every backend. It
 * reads PyTorch's parameter layout directly (no packing, no fused bias) so that a layout bug in
 * the shared helpers cannot hide in both the kernel and the oracle.
 */
final class ReferenceLstm {
    /** Deliberate faults, used to prove the tolerance is tight enough to see them. */
    enum Fault { NONE, SWAP_INPUT_AND_FORGET_GATES, DROP_BIAS_HH }

    /** Output [T, B, H] (or batch-first), final h and c [L, B, H]. */
    record Result(double[] output, double[] h, double[] c) {
    }

    private ReferenceLstm() {
    }

    static Result run(LstmConfig config, LstmWeights weights, int seqLen, int batch, float[] x, float[] h0, float[] c0) {
        return run(config, weights, seqLen, batch, x, h0, c0, Fault.NONE);
    }

    static Result run(LstmConfig config, LstmWeights weights, int seqLen, int batch, float[] x, float[] h0, float[] c0,
                      Fault fault) {
        int hidden = config.hiddenSize();
        int layers = config.numLayers();
        double[] h = toDouble(h0);
        double[] c = toDouble(c0);
        // Layer input as [T][B][I] in double, whatever the caller's layout.
        int inSize = config.inputSize();
        double[] in = new double[seqLen * batch * inSize];
        for (int t = 0; t < seqLen; t++) {
            for (int b = 0; b < batch; b++) {
                int from = (config.batchFirst() ? b * seqLen + t : t * batch + b) * inSize;
                for (int k = 0; k < inSize; k++) {
                    in[(t * batch + b) * inSize + k] = x[from + k];
                }
            }
        }
        for (int l = 0; l < layers; l++) {
            float[] wIh = weights.weightIh(l).toArray(ValueLayout.JAVA_FLOAT);
            float[] wHh = weights.weightHh(l).toArray(ValueLayout.JAVA_FLOAT);
            float[] bIh = weights.biasIh(l).toArray(ValueLayout.JAVA_FLOAT);
            float[] bHh = fault == Fault.DROP_BIAS_HH ? new float[4 * hidden] : weights.biasHh(l).toArray(ValueLayout.JAVA_FLOAT);
            double[] out = new double[seqLen * batch * hidden];
            double[] pre = new double[4 * hidden];
            for (int t = 0; t < seqLen; t++) {
                for (int b = 0; b < batch; b++) {
                    int xRow = (t * batch + b) * inSize;
                    int state = (l * batch + b) * hidden;
                    for (int row = 0; row < 4 * hidden; row++) {
                        double sum = bIh[row] + bHh[row];
                        for (int k = 0; k < inSize; k++) {
                            sum += (double) wIh[row * inSize + k] * in[xRow + k];
                        }
                        for (int k = 0; k < hidden; k++) {
                            sum += (double) wHh[row * hidden + k] * h[state + k];
                        }
                        pre[row] = sum;
                    }
                    int gi = fault == Fault.SWAP_INPUT_AND_FORGET_GATES ? 1 : 0;
                    int gf = fault == Fault.SWAP_INPUT_AND_FORGET_GATES ? 0 : 1;
                    for (int j = 0; j < hidden; j++) {
                        double i = sigmoid(pre[gi * hidden + j]);
                        double f = sigmoid(pre[gf * hidden + j]);
                        double g = Math.tanh(pre[2 * hidden + j]);
                        double o = sigmoid(pre[3 * hidden + j]);
                        c[state + j] = f * c[state + j] + i * g;
                        out[(t * batch + b) * hidden + j] = o * Math.tanh(c[state + j]);
                    }
                    System.arraycopy(out, (t * batch + b) * hidden, h, state, hidden);
                }
            }
            in = out;
            inSize = hidden;
        }
        double[] output = new double[in.length];
        for (int t = 0; t < seqLen; t++) {
            for (int b = 0; b < batch; b++) {
                int to = (config.batchFirst() ? b * seqLen + t : t * batch + b) * hidden;
                System.arraycopy(in, (t * batch + b) * hidden, output, to, hidden);
            }
        }
        return new Result(output, h, c);
    }

    private static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }
}
