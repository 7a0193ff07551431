package io.github.lstmkernels.formats;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.util.Map;

/**
 * nn.LSTM / nn.GRU in float64, straight from golden/FORMAT.md §6, time-major: checks that the weights
 * a file gives are the model's weights even where no backend runs the configuration yet.
 */
final class Reference64 {
    record Result(double[] output, double[] h, double[] c) {
    }

    private Reference64() {
    }

    /** x [T, B, I]; h0 [L·D, B, Hout] and c0 [L·D, B, H] (either may be null for zeros). */
    static Result run(LstmWeights weights, int seqLen, int batch, float[] x, float[] h0, float[] c0) {
        LstmConfig cfg = weights.config();
        Map<String, float[]> p = weights.toStateDict();
        int hidden = cfg.hiddenSize();
        int hout = cfg.outputSize();
        int dirs = cfg.numDirections();
        boolean lstm = cfg.cell() == CellType.LSTM;
        double[] hN = new double[cfg.numLayers() * dirs * batch * hout];
        double[] cN = new double[cfg.numLayers() * dirs * batch * hidden];
        double[] in = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            in[i] = x[i];
        }
        int inSize = cfg.inputSize();
        for (int layer = 0; layer < cfg.numLayers(); layer++) {
            double[] out = new double[seqLen * batch * dirs * hout];
            for (int d = 0; d < dirs; d++) {
                String sfx = LstmWeights.suffix(layer, d);
                float[] wih = p.get("weight_ih" + sfx);
                float[] whh = p.get("weight_hh" + sfx);
                float[] bih = p.get("bias_ih" + sfx);
                float[] bhh = p.get("bias_hh" + sfx);
                float[] whr = p.get("weight_hr" + sfx);
                int row = layer * dirs + d;
                for (int b = 0; b < batch; b++) {
                    double[] h = new double[hout];
                    double[] c = new double[hidden];
                    for (int j = 0; j < hout; j++) {
                        h[j] = h0 == null ? 0 : h0[(row * batch + b) * hout + j];
                    }
                    for (int j = 0; j < hidden; j++) {
                        c[j] = c0 == null ? 0 : c0[(row * batch + b) * hidden + j];
                    }
                    for (int s = 0; s < seqLen; s++) {
                        int t = d == 0 ? s : seqLen - 1 - s;
                        int gates = cfg.cell().gates();
                        double[] gi = new double[gates * hidden];
                        double[] gh = new double[gates * hidden];
                        for (int g = 0; g < gates * hidden; g++) {
                            double a = bih == null ? 0 : bih[g];
                            for (int k = 0; k < inSize; k++) {
                                a += wih[g * inSize + k] * in[(t * batch + b) * inSize + k];
                            }
                            double r = bhh == null ? 0 : bhh[g];
                            for (int k = 0; k < hout; k++) {
                                r += whh[g * hout + k] * h[k];
                            }
                            gi[g] = a;
                            gh[g] = r;
                        }
                        double[] next = new double[hout];
                        if (lstm) {
                            double[] m = new double[hidden];
                            for (int j = 0; j < hidden; j++) {
                                double i = sigmoid(gi[j] + gh[j]);
                                double f = sigmoid(gi[hidden + j] + gh[hidden + j]);
                                double g = Math.tanh(gi[2 * hidden + j] + gh[2 * hidden + j]);
                                double o = sigmoid(gi[3 * hidden + j] + gh[3 * hidden + j]);
                                c[j] = f * c[j] + i * g;
                                m[j] = o * Math.tanh(c[j]);
                            }
                            if (whr == null) {
                                next = m;
                            } else {
                                for (int q = 0; q < hout; q++) {
                                    double v = 0;
                                    for (int j = 0; j < hidden; j++) {
                                        v += whr[q * hidden + j] * m[j];
                                    }
                                    next[q] = v;
                                }
                            }
                        } else {
                            for (int j = 0; j < hidden; j++) {
                                double r = sigmoid(gi[j] + gh[j]);
                                double z = sigmoid(gi[hidden + j] + gh[hidden + j]);
                                double n = Math.tanh(gi[2 * hidden + j] + r * gh[2 * hidden + j]);
                                next[j] = (1 - z) * n + z * h[j];
                            }
                        }
                        h = next;
                        System.arraycopy(h, 0, out, (t * batch + b) * dirs * hout + d * hout, hout);
                    }
                    System.arraycopy(h, 0, hN, (row * batch + b) * hout, hout);
                    System.arraycopy(c, 0, cN, (row * batch + b) * hidden, hidden);
                }
            }
            in = out;
            inSize = dirs * hout;
        }
        return new Result(in, hN, lstm ? cN : null);
    }

    private static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }
}
