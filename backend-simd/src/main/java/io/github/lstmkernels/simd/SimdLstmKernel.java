package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.GATES;
import static io.github.lstmkernels.simd.GateBlocks.LANES;
import static io.github.lstmkernels.simd.GateBlocks.STRIDE;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The LSTM on the Vector API, layer by layer over the whole sequence:
 * <ol>
 *   <li>the input projection of every step at once, {@code bias + x·W_ih} for all T·B rows, one
 *       GEMM ({@link #project});</li>
 *   <li>then per step only the recurrent product {@code h·W_hh} added to those gate rows, block
 *       by block, each block followed at once by the fused cell update while its gate sums are
 *       still in L1 ({@link #recurrentStep}).</li>
 * </ol>
 * A step call is a one-step sequence. States live in per-thread buffers padded to whole vector
 * blocks; padded lanes have zero weights and stay zero.
 */
final class SimdLstmKernel extends AbstractLstmKernel {
    private final int hidden;
    private final int layers;
    private final int blocks;
    /** H rounded up to whole blocks: the row length of the padded state buffers. */
    private final int padded;
    /** Floats per gate row: blocks × 4 gates × V. */
    private final int gateWidth;
    /** Per layer: weight_ih and weight_hh packed [H/V][K][4][V], bias_ih + bias_hh packed [H/V][4][V]. */
    private final float[][] inputWeights;
    private final float[][] recurrentWeights;
    private final float[][] biases;
    private final ThreadLocal<Workspace> workspaces = ThreadLocal.withInitial(Workspace::new);

    SimdLstmKernel(LstmConfig config, LstmWeights weights) {
        super(SimdBackend.NAME, config);
        this.hidden = config.hiddenSize();
        this.layers = config.numLayers();
        this.blocks = WeightLayouts.ceilDiv(hidden, LANES);
        this.padded = blocks * LANES;
        this.gateWidth = blocks * STRIDE;
        this.inputWeights = new float[layers][];
        this.recurrentWeights = new float[layers][];
        this.biases = new float[layers][];
        for (int l = 0; l < layers; l++) {
            inputWeights[l] = WeightLayouts.packGateBlocks(weights.weightIh(l), GATES, hidden, config.layerInputSize(l), LANES);
            recurrentWeights[l] = WeightLayouts.packGateBlocks(weights.weightHh(l), GATES, hidden, hidden, LANES);
            biases[l] = WeightLayouts.packGateBlocks(WeightLayouts.combinedBias(weights, l), GATES, hidden, LANES);
        }
    }

    @Override
    protected void computeSequence(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment h,
                                   MemorySegment c) {
        int rows = seqLen * batch;
        Workspace ws = workspaces.get();
        ws.ensure(rows * config.inputSize(), rows * gateWidth, rows * hidden, batch * padded, 3 * Math.max(batch * LANES, padded));
        MemorySegment.copy(x, ValueLayout.JAVA_FLOAT, 0, ws.input, 0, rows * config.inputSize());

        boolean batchFirst = config.batchFirst();
        float[] in = ws.input;
        boolean inBatchFirst = batchFirst;
        for (int l = 0; l < layers; l++) {
            int inSize = config.layerInputSize(l);
            boolean last = l == layers - 1;
            float[] out = last ? ws.output : ws.between[l & 1];
            boolean outBatchFirst = last && batchFirst;

            project(l, in, inBatchFirst, inSize, seqLen, batch, ws.gates);
            loadState(h, l, batch, ws.h);
            loadState(c, l, batch, ws.c);
            for (int t = 0; t < seqLen; t++) {
                recurrentStep(l, t, batch, ws);
                float[] newest = ws.hNext;
                ws.hNext = ws.h;
                ws.h = newest;
                for (int b = 0; b < batch; b++) {
                    System.arraycopy(newest, b * padded, out, rowOffset(t, b, seqLen, batch, hidden, outBatchFirst), hidden);
                }
            }
            storeState(ws.h, l, batch, h);
            storeState(ws.c, l, batch, c);
            in = out;
            inBatchFirst = outBatchFirst;
        }
        MemorySegment.copy(ws.output, 0, y, ValueLayout.JAVA_FLOAT, 0, rows * hidden);
    }

    /** Gate rows (time-major, row t·B + b) = bias + input row · W_ih, for every step at once. */
    private void project(int layer, float[] in, boolean inBatchFirst, int inSize, int seqLen, int batch, float[] gates) {
        float[] w = inputWeights[layer];
        float[] bias = biases[layer];
        int rows = seqLen * batch;
        for (int r = 0; r < rows; r++) {
            System.arraycopy(bias, 0, gates, r * gateWidth, gateWidth);
        }
        // Blocks outside, rows inside: one block's weights stay in L2 while every row tile passes.
        for (int block = 0; block < blocks; block++) {
            int weights = block * inSize * STRIDE;
            int g = block * STRIDE;
            int r = 0;
            for (int end = 6 * sixRowTiles(rows); r < end; r += 6) {
                GateBlocks.accumulate6(w, weights, inSize, in,
                        inputRow(r, seqLen, batch, inSize, inBatchFirst), inputRow(r + 1, seqLen, batch, inSize, inBatchFirst),
                        inputRow(r + 2, seqLen, batch, inSize, inBatchFirst), inputRow(r + 3, seqLen, batch, inSize, inBatchFirst),
                        inputRow(r + 4, seqLen, batch, inSize, inBatchFirst), inputRow(r + 5, seqLen, batch, inSize, inBatchFirst),
                        gates, r * gateWidth + g, (r + 1) * gateWidth + g, (r + 2) * gateWidth + g, (r + 3) * gateWidth + g,
                        (r + 4) * gateWidth + g, (r + 5) * gateWidth + g);
            }
            for (; r + 4 <= rows; r += 4) {
                GateBlocks.accumulate4(w, weights, inSize, in,
                        inputRow(r, seqLen, batch, inSize, inBatchFirst), inputRow(r + 1, seqLen, batch, inSize, inBatchFirst),
                        inputRow(r + 2, seqLen, batch, inSize, inBatchFirst), inputRow(r + 3, seqLen, batch, inSize, inBatchFirst),
                        gates, r * gateWidth + g, (r + 1) * gateWidth + g, (r + 2) * gateWidth + g, (r + 3) * gateWidth + g);
            }
            for (; r < rows; r++) {
                GateBlocks.accumulate1(w, weights, inSize, in, inputRow(r, seqLen, batch, inSize, inBatchFirst),
                        gates, r * gateWidth + g);
            }
        }
    }

    /** Adds h·W_hh to step t's gate rows and applies the cell, one block of units at a time. */
    private void recurrentStep(int layer, int t, int batch, Workspace ws) {
        float[] w = recurrentWeights[layer];
        float[] gates = ws.gates;
        float[] h = ws.h;
        int first = t * batch * gateWidth;
        if (batch == 1) {
            // Batch 1 streams W_hh once per step: keep the stream going block after block, then
            // update every block's cell in one pass (a lone row's blocks are laid out like rows).
            for (int block = 0; block < blocks; block++) {
                GateBlocks.accumulate1(w, block * hidden * STRIDE, hidden, h, 0, gates, first + block * STRIDE);
            }
            GateBlocks.cells(gates, first, STRIDE, blocks, ws.c, ws.hNext, 0, LANES, ws.scratch);
            return;
        }
        for (int block = 0; block < blocks; block++) {
            int weights = block * hidden * STRIDE;
            int g = first + block * STRIDE;
            int b = 0;
            for (int end = 6 * sixRowTiles(batch); b < end; b += 6) {
                GateBlocks.accumulate6(w, weights, hidden, h, b * padded, (b + 1) * padded, (b + 2) * padded,
                        (b + 3) * padded, (b + 4) * padded, (b + 5) * padded, gates, g + b * gateWidth,
                        g + (b + 1) * gateWidth, g + (b + 2) * gateWidth, g + (b + 3) * gateWidth, g + (b + 4) * gateWidth,
                        g + (b + 5) * gateWidth);
            }
            for (; b + 4 <= batch; b += 4) {
                GateBlocks.accumulate4(w, weights, hidden, h, b * padded, (b + 1) * padded, (b + 2) * padded,
                        (b + 3) * padded, gates, g + b * gateWidth, g + (b + 1) * gateWidth, g + (b + 2) * gateWidth,
                        g + (b + 3) * gateWidth);
            }
            for (; b < batch; b++) {
                GateBlocks.accumulate1(w, weights, hidden, h, b * padded, gates, g + b * gateWidth);
            }
            GateBlocks.cells(gates, g, gateWidth, batch, ws.c, ws.hNext, block * LANES, padded, ws.scratch);
        }
    }

    /**
     * How many 6-row tiles to use for {@code rows} rows; 4-row tiles and then single rows take the
     * rest. Leaving 2 or 3 rows for single-row passes would stream the block's weights 2–3 more
     * times, so one 6-row tile fewer turns 8 into 4 + 4 and 9 into 4 + 4 + 1.
     */
    static int sixRowTiles(int rows) {
        int tiles = rows / 6;
        int rest = rows % 6;
        return (rest == 2 || rest == 3) && tiles > 0 ? tiles - 1 : tiles;
    }

    /** Layer {@code layer}'s rows of an [L, B, H] state into a padded [B, padded] buffer. */
    private void loadState(MemorySegment state, int layer, int batch, float[] buffer) {
        for (int b = 0; b < batch; b++) {
            MemorySegment.copy(state, ValueLayout.JAVA_FLOAT, 4L * (layer * batch + b) * hidden, buffer, b * padded, hidden);
            Arrays.fill(buffer, b * padded + hidden, (b + 1) * padded, 0f);
        }
    }

    private void storeState(float[] buffer, int layer, int batch, MemorySegment state) {
        for (int b = 0; b < batch; b++) {
            MemorySegment.copy(buffer, b * padded, state, ValueLayout.JAVA_FLOAT, 4L * (layer * batch + b) * hidden, hidden);
        }
    }

    /** Offset of gate row r's input: gate rows are time-major, the input may be batch-first. */
    private static int inputRow(int r, int seqLen, int batch, int width, boolean batchFirst) {
        return batchFirst ? rowOffset(r / batch, r % batch, seqLen, batch, width, true) : r * width;
    }

    private static int rowOffset(int t, int b, int seqLen, int batch, int width, boolean batchFirst) {
        return (batchFirst ? b * seqLen + t : t * batch + b) * width;
    }

    @Override
    protected void release() {
        // Heap arrays only: nothing to free; later calls are refused by the base class.
    }

    /** Scratch arrays of one thread, grown to the largest call seen. */
    private static final class Workspace {
        float[] input = new float[0];
        float[] gates = new float[0];
        float[] output = new float[0];
        final float[][] between = {new float[0], new float[0]};
        float[] h = new float[0];
        float[] hNext = new float[0];
        float[] c = new float[0];
        float[] scratch = new float[0];

        void ensure(int inputLength, int gatesLength, int outputLength, int stateLength, int scratchLength) {
            if (scratch.length < scratchLength) {
                scratch = new float[scratchLength];
            }
            if (input.length < inputLength) {
                input = new float[inputLength];
            }
            if (gates.length < gatesLength) {
                gates = new float[gatesLength];
            }
            if (output.length < outputLength) {
                output = new float[outputLength];
                between[0] = new float[outputLength];
                between[1] = new float[outputLength];
            }
            if (h.length < stateLength) {
                h = new float[stateLength];
                hNext = new float[stateLength];
                c = new float[stateLength];
            }
        }
    }
}
