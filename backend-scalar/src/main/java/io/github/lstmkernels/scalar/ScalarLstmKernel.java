package io.github.lstmkernels.scalar;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.BackwardPass;
import io.github.lstmkernels.spi.LayerPass;
import io.github.lstmkernels.spi.TrainingTape;
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
        ScalarTape tape = (ScalarTape) pass.tape();
        float[] record = tape == null ? null : tape.records[index];
        for (int i = 0; i < pass.steps(); i++) {
            int t = pass.time(i);
            for (int b = 0; b < rows; b++) {
                pass.input().read(t, b, ws.x, 0, inSize);
                int at = record == null ? -1 : tape.recordAt(t, b);
                if (gru) {
                    gruCell(index, inSize, ws.x, ws.h, b * hout, ws.hNext, record, at);
                } else {
                    lstmCell(index, inSize, ws.x, ws.h, b * hout, ws.c, b * hidden, ws.cellOutput, ws.hNext, record, at);
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

    /**
     * One LSTM row: c updated in place, the new h (projected if so configured) into {@code hNext}.
     * In training, {@code record[at ..]} keeps {@code i, f, g, o, c', c, h} for the backward pass.
     */
    private void lstmCell(int index, int inSize, float[] x, float[] h, int h0, float[] c, int c0, float[] m,
                          float[] hNext, float[] record, int at) {
        if (record != null) {
            System.arraycopy(c, c0, record, at + 5 * hidden, hidden);
            System.arraycopy(h, h0, record, at + 6 * hidden, hout);
        }
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
            float i = sigmoid(gi);
            float f = sigmoid(gf);
            float g = tanh(gg);
            float o = sigmoid(go);
            float cell = f * c[c0 + j] + i * g;
            c[c0 + j] = cell;
            unitOutput[j] = o * tanh(cell);
            if (record != null) {
                record[at + j] = i;
                record[at + hidden + j] = f;
                record[at + 2 * hidden + j] = g;
                record[at + 3 * hidden + j] = o;
                record[at + 4 * hidden + j] = cell;
            }
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

    /**
     * One GRU row, PyTorch's form: {@code n = tanh(x_n + r ⊙ (W_hn h + b_hn))}, {@code h' = (1 − z) ⊙ n + z ⊙ h}.
     * In training, {@code record[at ..]} keeps {@code r, z, n, W_hn h + b_hn, h} for the backward pass.
     */
    private void gruCell(int index, int inSize, float[] x, float[] h, int h0, float[] hNext, float[] record, int at) {
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
            if (record != null) {
                record[at + j] = reset;
                record[at + hidden + j] = update;
                record[at + 2 * hidden + j] = candidate;
                record[at + 3 * hidden + j] = hn;
                record[at + 4 * hidden + j] = h[h0 + j];
            }
        }
    }

    @Override
    protected TrainingTape newTape() {
        return new ScalarTape(config);
    }

    /**
     * Backpropagation through time for one pass, step by step in reverse: the readable reference
     * of every backend's backward pass. Per row: the gradient reaching h (from the output and from
     * the step after), through the cell to the gate pre-activations {@code da}, then
     * {@code dW += da ⊗ input}, {@code db += da}, {@code dx += Wᵀ da}, {@code dh_prev = W_hhᵀ da}.
     */
    @Override
    protected void computeSegmentBackward(BackwardPass pass) {
        ScalarTape tape = (ScalarTape) pass.tape();
        int index = pass.layer() * config.numDirections() + pass.direction();
        int inSize = config.layerInputSize(pass.layer());
        int rows = pass.rows();
        Workspace ws = workspaces.get();
        ws.ensureBackward(inSize, rows * hout, rows * hidden, gates * hidden, Math.max(hidden, hout));
        for (int b = 0; b < rows; b++) {
            pass.readDh(b, ws.h, b * hout);
            if (!gru) {
                pass.readDc(b, ws.c, b * hidden);
            }
        }
        float[] record = tape.records[index];
        for (int i = 0; i < pass.steps(); i++) {
            int t = pass.time(i);
            for (int b = 0; b < rows; b++) {
                int at = tape.recordAt(t, b);
                pass.gradOutput().read(t, b, ws.hNext, 0, hout);
                for (int k = 0; k < hout; k++) {
                    ws.hNext[k] += ws.h[b * hout + k];
                }
                if (gru) {
                    gruGateGradients(ws.hNext, record, at, ws.inputGrad, ws.recurrentGrad, ws.h, b * hout);
                } else {
                    lstmGateGradients(index, tape, ws.hNext, record, at, ws.c, b * hidden, ws.inputGrad, ws.cellOutput);
                    System.arraycopy(ws.inputGrad, 0, ws.recurrentGrad, 0, gates * hidden);
                    java.util.Arrays.fill(ws.h, b * hout, (b + 1) * hout, 0f);
                }
                pass.input().read(t, b, ws.x, 0, inSize);
                pass.gradInput().read(t, b, ws.dx, 0, inSize);
                accumulate(index, tape, inSize, ws.x, record, at + (gru ? 4 : 6) * hidden, ws.inputGrad, ws.recurrentGrad,
                        ws.dx, ws.h, b * hout);
                pass.gradInput().write(t, b, ws.dx, 0, inSize);
            }
        }
        for (int b = 0; b < rows; b++) {
            pass.writeDh(b, ws.h, b * hout);
            if (!gru) {
                pass.writeDc(b, ws.c, b * hidden);
            }
        }
    }

    /**
     * LSTM: from {@code dh} (the total gradient reaching this step's h) and the carried cell
     * gradient {@code dc[dc0 ..]} to the pre-activation gradients {@code da} (PyTorch's gate
     * order); {@code dc} becomes the gradient of the previous cell state. {@code dm} is scratch.
     */
    private void lstmGateGradients(int index, ScalarTape tape, float[] dh, float[] record, int at, float[] dc, int dc0,
                                   float[] da, float[] dm) {
        if (projected) {
            // h = W_hr m: dW_hr += dh ⊗ m, dm = W_hrᵀ dh, with m = o ⊙ tanh(c) recomputed.
            float[] wHr = projections[index];
            float[] dWhr = tape.projectionGrads[index];
            for (int j = 0; j < hidden; j++) {
                dm[j] = 0;
            }
            for (int p = 0; p < hout; p++) {
                float g = dh[p];
                for (int j = 0; j < hidden; j++) {
                    float m = record[at + 3 * hidden + j] * tanh(record[at + 4 * hidden + j]);
                    dWhr[p * hidden + j] += g * m;
                    dm[j] += wHr[p * hidden + j] * g;
                }
            }
        } else {
            System.arraycopy(dh, 0, dm, 0, hidden);
        }
        for (int j = 0; j < hidden; j++) {
            float i = record[at + j];
            float f = record[at + hidden + j];
            float g = record[at + 2 * hidden + j];
            float o = record[at + 3 * hidden + j];
            float tc = tanh(record[at + 4 * hidden + j]);
            float cPrev = record[at + 5 * hidden + j];
            float dCell = dc[dc0 + j] + dm[j] * o * (1 - tc * tc);
            da[j] = dCell * g * i * (1 - i);
            da[hidden + j] = dCell * cPrev * f * (1 - f);
            da[2 * hidden + j] = dCell * i * (1 - g * g);
            da[3 * hidden + j] = dm[j] * tc * o * (1 - o);
            dc[dc0 + j] = dCell * f;
        }
    }

    /**
     * GRU: from {@code dh} to the input-side pre-activation gradients {@code [r, z, n]} and the
     * recurrent-side ones {@code [r, z, W_hn h + b_hn]} (the n gate's recurrent sum sits inside
     * the reset product, so the two sides differ there); {@code dhPrev[h0 ..]} gets the direct
     * part {@code dh ⊙ z} of the previous state's gradient.
     */
    private void gruGateGradients(float[] dh, float[] record, int at, float[] daInput, float[] daRecurrent,
                                  float[] dhPrev, int h0) {
        for (int j = 0; j < hidden; j++) {
            float r = record[at + j];
            float z = record[at + hidden + j];
            float n = record[at + 2 * hidden + j];
            float hn = record[at + 3 * hidden + j];
            float hPrev = record[at + 4 * hidden + j];
            float dn = dh[j] * (1 - z);
            float dz = dh[j] * (hPrev - n);
            float an = dn * (1 - n * n);
            float ar = an * hn * r * (1 - r);
            float az = dz * z * (1 - z);
            daInput[j] = ar;
            daInput[hidden + j] = az;
            daInput[2 * hidden + j] = an;
            daRecurrent[j] = ar;
            daRecurrent[hidden + j] = az;
            daRecurrent[2 * hidden + j] = an * r;
            dhPrev[h0 + j] = dh[j] * z;
        }
    }

    /**
     * The weight side of a step: {@code dW_ih += daInput ⊗ x}, {@code dW_hh += daRecurrent ⊗ h_prev}
     * (h_prev at {@code record[hAt ..]}), the biases, {@code dx += W_ihᵀ daInput} and
     * {@code dhPrev[h0 ..] += W_hhᵀ daRecurrent}.
     */
    private void accumulate(int index, ScalarTape tape, int inSize, float[] x, float[] record, int hAt, float[] daInput,
                            float[] daRecurrent, float[] dx, float[] dhPrev, int h0) {
        float[] wIh = inputWeights[index];
        float[] wHh = recurrentWeights[index];
        float[] dWih = tape.inputGrads[index];
        float[] dWhh = tape.recurrentGrads[index];
        float[] dBih = tape.inputBiasGrads[index];
        float[] dBhh = tape.recurrentBiasGrads[index];
        for (int row = 0; row < gates * hidden; row++) {
            int g = row / hidden;
            int j = row % hidden;
            float a = daInput[row];
            float ah = daRecurrent[row];
            dBih[row] += a;
            dBhh[row] += ah;
            // Packed weights: unit j, column k, gate g at (j·K + k)·G + g.
            for (int k = 0, w = j * gates * inSize + g; k < inSize; k++, w += gates) {
                dWih[row * inSize + k] += a * x[k];
                dx[k] += wIh[w] * a;
            }
            for (int k = 0, w = j * gates * hout + g; k < hout; k++, w += gates) {
                dWhh[row * hout + k] += ah * record[hAt + k];
                dhPrev[h0 + k] += wHh[w] * ah;
            }
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

        float[] dx = new float[0];
        float[] inputGrad = new float[0];
        float[] recurrentGrad = new float[0];

        void ensureBackward(int inputLength, int hLength, int cLength, int gateRows, int widest) {
            ensure(inputLength, hLength, cLength, widest);
            if (dx.length < inputLength) {
                dx = new float[inputLength];
            }
            if (inputGrad.length < gateRows) {
                inputGrad = new float[gateRows];
                recurrentGrad = new float[gateRows];
            }
        }

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
