package io.github.lstmkernels.scalar;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The LSTM in plain loops, layer by layer over the whole sequence. For each hidden unit the four
 * gate sums are accumulated together in one pass over the inputs (weights packed {@code [H][K][4]}),
 * then the activations and the cell update follow at once: no {@code [B, 4H]} gate buffer.
 */
final class ScalarLstmKernel extends AbstractLstmKernel {
    private static final int GATES = 4;

    private final int hidden;
    private final int layers;
    /** Per layer: {@code weight_ih} as {@code [H][I_l][4]}. */
    private final float[][] inputWeights;
    /** Per layer: {@code weight_hh} as {@code [H][H][4]}. */
    private final float[][] recurrentWeights;
    /** Per layer: {@code bias_ih + bias_hh} as {@code [H][4]}. */
    private final float[][] biases;
    /** Per-thread scratch, so concurrent calls share nothing mutable and steady state allocates nothing. */
    private final ThreadLocal<Workspace> workspaces = ThreadLocal.withInitial(Workspace::new);

    ScalarLstmKernel(LstmConfig config, LstmWeights weights) {
        super(ScalarBackend.NAME, config);
        this.hidden = config.hiddenSize();
        this.layers = config.numLayers();
        this.inputWeights = new float[layers][];
        this.recurrentWeights = new float[layers][];
        this.biases = new float[layers][];
        for (int l = 0; l < layers; l++) {
            inputWeights[l] = WeightLayouts.packGateBlocks(weights.weightIh(l), GATES, hidden, config.layerInputSize(l), 1);
            recurrentWeights[l] = WeightLayouts.packGateBlocks(weights.weightHh(l), GATES, hidden, hidden, 1);
            biases[l] = WeightLayouts.packGateBlocks(WeightLayouts.combinedBias(weights, l), GATES, hidden, 1);
        }
    }

    @Override
    protected void computeSequence(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment h,
                                   MemorySegment c) {
        int inputSize = config.inputSize();
        int rows = seqLen * batch;
        Workspace ws = workspaces.get();
        ws.ensure(rows * inputSize, rows * hidden, layers * batch * hidden, hidden);
        MemorySegment.copy(x, ValueLayout.JAVA_FLOAT, 0, ws.input, 0, rows * inputSize);
        MemorySegment.copy(h, ValueLayout.JAVA_FLOAT, 0, ws.h, 0, layers * batch * hidden);
        MemorySegment.copy(c, ValueLayout.JAVA_FLOAT, 0, ws.c, 0, layers * batch * hidden);

        boolean batchFirst = config.batchFirst();
        float[] in = ws.input;
        boolean inBatchFirst = batchFirst;
        for (int l = 0; l < layers; l++) {
            boolean last = l == layers - 1;
            // Intermediate layers write time-major ping-pong buffers; the last writes y in the caller's layout.
            float[] out = last ? ws.output : (l % 2 == 0 ? ws.layerA : ws.layerB);
            boolean outBatchFirst = last && batchFirst;
            runLayer(l, seqLen, batch, in, inBatchFirst, config.layerInputSize(l), out, outBatchFirst, ws);
            in = out;
            inBatchFirst = outBatchFirst;
        }

        MemorySegment.copy(ws.output, 0, y, ValueLayout.JAVA_FLOAT, 0, rows * hidden);
        MemorySegment.copy(ws.h, 0, h, ValueLayout.JAVA_FLOAT, 0, layers * batch * hidden);
        MemorySegment.copy(ws.c, 0, c, ValueLayout.JAVA_FLOAT, 0, layers * batch * hidden);
    }

    private void runLayer(int layer, int seqLen, int batch, float[] in, boolean inBatchFirst, int inSize,
                          float[] out, boolean outBatchFirst, Workspace ws) {
        float[] wIh = inputWeights[layer];
        float[] wHh = recurrentWeights[layer];
        float[] bias = biases[layer];
        float[] h = ws.h;
        float[] c = ws.c;
        float[] hNext = ws.hNext;
        for (int t = 0; t < seqLen; t++) {
            for (int b = 0; b < batch; b++) {
                int xRow = rowOffset(t, b, seqLen, batch, inSize, inBatchFirst);
                int state = (layer * batch + b) * hidden;
                for (int j = 0; j < hidden; j++) {
                    float gi = bias[GATES * j];
                    float gf = bias[GATES * j + 1];
                    float gg = bias[GATES * j + 2];
                    float go = bias[GATES * j + 3];
                    int w = j * GATES * inSize;
                    for (int k = 0; k < inSize; k++, w += GATES) {
                        float v = in[xRow + k];
                        gi += wIh[w] * v;
                        gf += wIh[w + 1] * v;
                        gg += wIh[w + 2] * v;
                        go += wIh[w + 3] * v;
                    }
                    w = j * GATES * hidden;
                    for (int k = 0; k < hidden; k++, w += GATES) {
                        float v = h[state + k];
                        gi += wHh[w] * v;
                        gf += wHh[w + 1] * v;
                        gg += wHh[w + 2] * v;
                        go += wHh[w + 3] * v;
                    }
                    float cell = sigmoid(gf) * c[state + j] + sigmoid(gi) * tanh(gg);
                    c[state + j] = cell;
                    // Every unit of this row still needs the old h, so the new one waits in hNext.
                    hNext[j] = sigmoid(go) * tanh(cell);
                }
                System.arraycopy(hNext, 0, h, state, hidden);
                System.arraycopy(hNext, 0, out, rowOffset(t, b, seqLen, batch, hidden, outBatchFirst), hidden);
            }
        }
    }

    private static int rowOffset(int t, int b, int seqLen, int batch, int width, boolean batchFirst) {
        return (batchFirst ? b * seqLen + t : t * batch + b) * width;
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

    /** Scratch arrays of one thread, grown to the largest call seen. */
    private static final class Workspace {
        float[] input = new float[0];
        float[] output = new float[0];
        float[] layerA = new float[0];
        float[] layerB = new float[0];
        float[] h = new float[0];
        float[] c = new float[0];
        float[] hNext = new float[0];

        void ensure(int inputLength, int outputLength, int stateLength, int hiddenSize) {
            if (input.length < inputLength) {
                input = new float[inputLength];
            }
            if (output.length < outputLength) {
                output = new float[outputLength];
                layerA = new float[outputLength];
                layerB = new float[outputLength];
            }
            if (h.length < stateLength) {
                h = new float[stateLength];
                c = new float[stateLength];
            }
            if (hNext.length < hiddenSize) {
                hNext = new float[hiddenSize];
            }
        }
    }
}
