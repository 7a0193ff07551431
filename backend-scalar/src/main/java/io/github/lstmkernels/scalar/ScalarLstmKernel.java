package io.github.lstmkernels.scalar;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.LayerPass;
import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.foreign.ValueLayout;

/**
 * The LSTM and GRU cells in plain loops: the readable reference. For each hidden unit the gate sums
 * are accumulated together in one pass over the inputs (weights packed {@code [H][K][G]}), then the
 * activations and the state update follow at once: no {@code [B, G·H]} gate buffer. The walk over
 * layers, directions and lengths is the shared one; this class computes one {@link LayerPass}.
 */
final class ScalarLstmKernel extends AbstractLstmKernel {
    private final int gates;
    private final int hidden;
    private final int hout;
    private final boolean gru;
    private final boolean projected;
    /** Per layer and direction (index l·D + d): {@code weight_ih} as {@code [H][I_l][G]}. */
    private final float[][] inputWeights;
    /** {@code weight_hh} as {@code [H][Hout][G]}. */
    private final float[][] recurrentWeights;
    /** The folded bias as {@code [H][G]} (see {@link WeightLayouts#foldedBias}). */
    private final float[][] biases;
    /** GRU: {@code b_hn [H]}, added inside the reset product. */
    private final float[][] newGateBiases;
    /** LSTM with projection: {@code weight_hr [P, H]} as PyTorch stores it. */
    private final float[][] projections;
    /** Per-thread scratch, so concurrent calls share nothing mutable and steady state allocates nothing. */
    private final ThreadLocal<Workspace> workspaces = ThreadLocal.withInitial(Workspace::new);

    ScalarLstmKernel(LstmConfig config, LstmWeights weights) {
        super(ScalarBackend.NAME, config);
        this.gates = config.cell().gates();
        this.hidden = config.hiddenSize();
        this.hout = config.outputSize();
        this.gru = config.cell() == CellType.GRU;
        this.projected = config.projectionSize() > 0;
        int count = config.numLayers() * config.numDirections();
        inputWeights = new float[count][];
        recurrentWeights = new float[count][];
        biases = new float[count][];
        newGateBiases = new float[count][];
        projections = new float[count][];
        for (int l = 0; l < config.numLayers(); l++) {
            for (int d = 0; d < config.numDirections(); d++) {
                int i = l * config.numDirections() + d;
                inputWeights[i] = WeightLayouts.packGateBlocks(weights.weightIh(l, d), gates, hidden,
                        config.layerInputSize(l), 1);
                recurrentWeights[i] = WeightLayouts.packGateBlocks(weights.weightHh(l, d), gates, hidden, hout, 1);
                biases[i] = WeightLayouts.packGateBlocks(WeightLayouts.foldedBias(weights, l, d), gates, hidden, 1);
                if (gru) {
                    newGateBiases[i] = WeightLayouts.gruNewGateRecurrentBias(weights, l, d);
                }
                if (projected) {
                    projections[i] = weights.weightHr(l, d).toArray(ValueLayout.JAVA_FLOAT);
                }
            }
        }
    }

    @Override
    protected void computeSegment(LayerPass pass) {
        int index = pass.layer() * config.numDirections() + pass.direction();
        int inSize = config.layerInputSize(pass.layer());
        int rows = pass.rows();
        Workspace ws = workspaces.get();
        ws.ensure(inSize, rows * hout, rows * hidden, hidden);
        for (int b = 0; b < rows; b++) {
            pass.readH(b, ws.h, b * hout);
            if (!gru) {
                pass.readC(b, ws.c, b * hidden);
            }
        }
        for (int i = 0; i < pass.steps(); i++) {
            int t = pass.time(i);
            for (int b = 0; b < rows; b++) {
                pass.input().read(t, b, ws.x, 0, inSize);
                if (gru) {
                    gruCell(index, inSize, ws.x, ws.h, b * hout, ws.hNext);
                } else {
                    lstmCell(index, inSize, ws.x, ws.h, b * hout, ws.c, b * hidden, ws.cellOutput, ws.hNext);
                }
                // Every unit of this row needed the old h, so the new one waited in hNext.
                System.arraycopy(ws.hNext, 0, ws.h, b * hout, hout);
                pass.output().write(t, b, ws.hNext, 0, hout);
            }
        }
        for (int b = 0; b < rows; b++) {
            pass.writeH(b, ws.h, b * hout);
            if (!gru) {
                pass.writeC(b, ws.c, b * hidden);
            }
        }
    }

    /** One LSTM row: c updated in place, the new h (projected if so configured) into {@code hNext}. */
    private void lstmCell(int index, int inSize, float[] x, float[] h, int h0, float[] c, int c0, float[] m,
                          float[] hNext) {
        float[] wIh = inputWeights[index];
        float[] wHh = recurrentWeights[index];
        float[] bias = biases[index];
        float[] unitOutput = projected ? m : hNext;
        for (int j = 0; j < hidden; j++) {
            float gi = bias[4 * j];
            float gf = bias[4 * j + 1];
            float gg = bias[4 * j + 2];
            float go = bias[4 * j + 3];
            int w = j * 4 * inSize;
            for (int k = 0; k < inSize; k++, w += 4) {
                float v = x[k];
                gi += wIh[w] * v;
                gf += wIh[w + 1] * v;
                gg += wIh[w + 2] * v;
                go += wIh[w + 3] * v;
            }
            w = j * 4 * hout;
            for (int k = 0; k < hout; k++, w += 4) {
                float v = h[h0 + k];
                gi += wHh[w] * v;
                gf += wHh[w + 1] * v;
                gg += wHh[w + 2] * v;
                go += wHh[w + 3] * v;
            }
            float cell = sigmoid(gf) * c[c0 + j] + sigmoid(gi) * tanh(gg);
            c[c0 + j] = cell;
            unitOutput[j] = sigmoid(go) * tanh(cell);
        }
        if (projected) {
            // h' = W_hr · (o ⊙ tanh(c')), W_hr [P, H] row-major.
            float[] wHr = projections[index];
            for (int p = 0; p < hout; p++) {
                float sum = 0;
                for (int j = 0, w = p * hidden; j < hidden; j++, w++) {
                    sum += wHr[w] * m[j];
                }
                hNext[p] = sum;
            }
        }
    }

    /** One GRU row, PyTorch's form: {@code n = tanh(x_n + r ⊙ (W_hn h + b_hn))}, {@code h' = (1 − z) ⊙ n + z ⊙ h}. */
    private void gruCell(int index, int inSize, float[] x, float[] h, int h0, float[] hNext) {
        float[] wIh = inputWeights[index];
        float[] wHh = recurrentWeights[index];
        float[] bias = biases[index];
        float[] bhn = newGateBiases[index];
        for (int j = 0; j < hidden; j++) {
            float r = bias[3 * j];
            float z = bias[3 * j + 1];
            float xn = bias[3 * j + 2];
            int w = j * 3 * inSize;
            for (int k = 0; k < inSize; k++, w += 3) {
                float v = x[k];
                r += wIh[w] * v;
                z += wIh[w + 1] * v;
                xn += wIh[w + 2] * v;
            }
            float hn = bhn[j];
            w = j * 3 * hout;
            for (int k = 0; k < hout; k++, w += 3) {
                float v = h[h0 + k];
                r += wHh[w] * v;
                z += wHh[w + 1] * v;
                hn += wHh[w + 2] * v;
            }
            float reset = sigmoid(r);
            float update = sigmoid(z);
            float candidate = tanh(xn + reset * hn);
            hNext[j] = (1 - update) * candidate + update * h[h0 + j];
        }
    }

    private static float sigmoid(float v) {
        return (float) (1.0 / (1.0 + Math.exp(-v)));
    }

    private static float tanh(float v) {
        return (float) Math.tanh(v);
    }

    @Override
    protected void release() {
        // Heap arrays only: nothing to free; later calls are refused by the base class.
    }

    /** Scratch arrays of one thread, grown to the largest pass seen. */
    private static final class Workspace {
        float[] x = new float[0];
        float[] h = new float[0];
        float[] c = new float[0];
        float[] hNext = new float[0];
        float[] cellOutput = new float[0];

        void ensure(int inputLength, int hLength, int cLength, int hiddenSize) {
            if (x.length < inputLength) {
                x = new float[inputLength];
            }
            if (h.length < hLength) {
                h = new float[hLength];
            }
            if (c.length < cLength) {
                c = new float[cLength];
            }
            if (hNext.length < hiddenSize) {
                hNext = new float[hiddenSize];
                cellOutput = new float[hiddenSize];
            }
        }
    }
}
