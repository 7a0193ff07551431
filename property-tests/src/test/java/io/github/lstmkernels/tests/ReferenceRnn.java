package io.github.lstmkernels.tests;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * The oracle: torch.nn.LSTM and torch.nn.GRU written out plainly in float64 from the equations of
 * golden/FORMAT.md §6, independent of every backend. It reads PyTorch's parameter layout directly
 * (no packing, no folded bias), runs each batch row on its own, and treats lengths in the masked
 * form (a row runs its own {@code len_b} steps; outputs past it stay 0), not the sorted-prefix form
 * the library's walk uses, so neither can hide a bug of the other.
 */
final class ReferenceRnn {
    /** Deliberate faults, used to prove the tolerance is tight enough to see them. */
    enum Fault { NONE, SWAP_INPUT_AND_FORGET_GATES, DROP_BIAS_HH, SWAP_RESET_AND_UPDATE_GATES }

    /** Output [T, B, D·Hout] (or batch-first), final h [L·D, B, Hout] and c [L·D, B, H] (null for a GRU). */
    record Result(double[] output, double[] h, double[] c) {
    }

    private ReferenceRnn() {
    }

    static Result run(LstmConfig config, LstmWeights weights, int seqLen, int batch, int[] lengths, float[] x,
                      float[] h0, float[] c0) {
        return run(config, weights, seqLen, batch, lengths, x, h0, c0, Fault.NONE);
    }

    static Result run(LstmConfig config, LstmWeights weights, int seqLen, int batch, int[] lengths, float[] x,
                      float[] h0, float[] c0, Fault fault) {
        return run(config, parameters(weights), seqLen, batch, lengths, toDouble(x), toDouble(h0), toDouble(c0), fault);
    }

    /** The parameters under their PyTorch names, in float64 (zeros for absent biases). */
    static Map<String, double[]> parameters(LstmWeights weights) {
        Map<String, double[]> params = new HashMap<>();
        LstmConfig config = weights.config();
        for (int l = 0; l < config.numLayers(); l++) {
            for (int d = 0; d < config.numDirections(); d++) {
                String sfx = LstmWeights.suffix(l, d);
                params.put("weight_ih" + sfx, toDouble(weights.weightIh(l, d).toArray(ValueLayout.JAVA_FLOAT)));
                params.put("weight_hh" + sfx, toDouble(weights.weightHh(l, d).toArray(ValueLayout.JAVA_FLOAT)));
                params.put("bias_ih" + sfx, toDouble(weights.biasIh(l, d).toArray(ValueLayout.JAVA_FLOAT)));
                params.put("bias_hh" + sfx, toDouble(weights.biasHh(l, d).toArray(ValueLayout.JAVA_FLOAT)));
                if (config.projectionSize() > 0) {
                    params.put("weight_hr" + sfx, toDouble(weights.weightHr(l, d).toArray(ValueLayout.JAVA_FLOAT)));
                }
            }
        }
        return params;
    }

    /** The same computation on float64 parameters and inputs (for finite differences). */
    static Result run(LstmConfig config, Map<String, double[]> params, int seqLen, int batch, int[] lengths, double[] x,
                      double[] h0, double[] c0, Fault fault) {
        boolean gru = config.cell() == CellType.GRU;
        int hidden = config.hiddenSize();
        int hout = config.outputSize();
        int directions = config.numDirections();
        int gates = config.cell().gates();
        double[] h = h0.clone();
        double[] c = gru ? null : c0.clone();
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
        int width = directions * hout;
        for (int l = 0; l < config.numLayers(); l++) {
            double[] out = new double[seqLen * batch * width];
            for (int d = 0; d < directions; d++) {
                String sfx = LstmWeights.suffix(l, d);
                double[] wIh = params.get("weight_ih" + sfx);
                double[] wHh = params.get("weight_hh" + sfx);
                double[] bIh = params.get("bias_ih" + sfx);
                double[] bHh = fault == Fault.DROP_BIAS_HH ? new double[gates * hidden] : params.get("bias_hh" + sfx);
                double[] wHr = params.get("weight_hr" + sfx);
                int slice = l * directions + d;
                for (int b = 0; b < batch; b++) {
                    int length = lengths == null ? seqLen : lengths[b];
                    int hAt = (slice * batch + b) * hout;
                    int cAt = (slice * batch + b) * hidden;
                    for (int step = 0; step < length; step++) {
                        int t = d == 0 ? step : length - 1 - step;
                        double[] xin = new double[inSize];
                        System.arraycopy(in, (t * batch + b) * inSize, xin, 0, inSize);
                        double[] hPrev = new double[hout];
                        System.arraycopy(h, hAt, hPrev, 0, hout);
                        double[] inputSums = affine(wIh, bIh, xin, gates * hidden);
                        double[] recurrentSums = affine(wHh, bHh, hPrev, gates * hidden);
                        double[] hNew = gru ? gruCell(inputSums, recurrentSums, hPrev, hidden, fault)
                                : lstmCell(inputSums, recurrentSums, c, cAt, hidden, wHr, hout, fault);
                        System.arraycopy(hNew, 0, h, hAt, hout);
                        System.arraycopy(hNew, 0, out, (t * batch + b) * width + d * hout, hout);
                    }
                }
            }
            in = out;
            inSize = width;
        }
        double[] output = new double[in.length];
        for (int t = 0; t < seqLen; t++) {
            for (int b = 0; b < batch; b++) {
                int to = (config.batchFirst() ? b * seqLen + t : t * batch + b) * width;
                System.arraycopy(in, (t * batch + b) * width, output, to, width);
            }
        }
        return new Result(output, h, c);
    }

    /** W v + bias for a stacked [rows, v.length] matrix. */
    private static double[] affine(double[] w, double[] bias, double[] v, int rows) {
        double[] sums = new double[rows];
        for (int row = 0; row < rows; row++) {
            double sum = bias[row];
            for (int k = 0; k < v.length; k++) {
                sum += w[row * v.length + k] * v[k];
            }
            sums[row] = sum;
        }
        return sums;
    }

    /** i, f, g, o; c' = f c + i g; h' = o tanh(c'), projected by W_hr when there is one. */
    private static double[] lstmCell(double[] x, double[] hh, double[] c, int cAt, int hidden, double[] wHr, int hout,
                                     Fault fault) {
        int gi = fault == Fault.SWAP_INPUT_AND_FORGET_GATES ? 1 : 0;
        int gf = fault == Fault.SWAP_INPUT_AND_FORGET_GATES ? 0 : 1;
        double[] m = new double[hidden];
        for (int j = 0; j < hidden; j++) {
            double i = sigmoid(x[gi * hidden + j] + hh[gi * hidden + j]);
            double f = sigmoid(x[gf * hidden + j] + hh[gf * hidden + j]);
            double g = Math.tanh(x[2 * hidden + j] + hh[2 * hidden + j]);
            double o = sigmoid(x[3 * hidden + j] + hh[3 * hidden + j]);
            c[cAt + j] = f * c[cAt + j] + i * g;
            m[j] = o * Math.tanh(c[cAt + j]);
        }
        if (wHr == null) {
            return m;
        }
        double[] projected = new double[hout];
        for (int p = 0; p < hout; p++) {
            for (int j = 0; j < hidden; j++) {
                projected[p] += wHr[p * hidden + j] * m[j];
            }
        }
        return projected;
    }

    /** r, z, n with b_hn inside the reset product; h' = (1 − z) n + z h. */
    private static double[] gruCell(double[] x, double[] hh, double[] hPrev, int hidden, Fault fault) {
        int gr = fault == Fault.SWAP_RESET_AND_UPDATE_GATES ? 1 : 0;
        int gz = fault == Fault.SWAP_RESET_AND_UPDATE_GATES ? 0 : 1;
        double[] hNew = new double[hidden];
        for (int j = 0; j < hidden; j++) {
            double r = sigmoid(x[gr * hidden + j] + hh[gr * hidden + j]);
            double z = sigmoid(x[gz * hidden + j] + hh[gz * hidden + j]);
            double n = Math.tanh(x[2 * hidden + j] + r * hh[2 * hidden + j]);
            hNew[j] = (1 - z) * n + z * hPrev[j];
        }
        return hNew;
    }

    private static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    static double[] toDouble(float[] a) {
        if (a == null) {
            return null;
        }
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return d;
    }
}
