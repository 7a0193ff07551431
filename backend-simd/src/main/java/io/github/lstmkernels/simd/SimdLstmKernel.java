package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.GATES;
import static io.github.lstmkernels.simd.GateBlocks.LANES;
import static io.github.lstmkernels.simd.GateBlocks.STRIDE;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.LayerPass;
import io.github.lstmkernels.spi.WeightLayouts;
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
        this.blocks = WeightLayouts.ceilDiv(hidden, LANES);
        this.padded = blocks * LANES;
        this.gateWidth = blocks * STRIDE;
        int count = config.numLayers() * config.numDirections();
        this.inputWeights = new float[count][];
        this.recurrentWeights = new float[count][];
        this.biases = new float[count][];
        for (int l = 0; l < config.numLayers(); l++) {
            for (int d = 0; d < config.numDirections(); d++) {
                int i = l * config.numDirections() + d;
                inputWeights[i] = WeightLayouts.packGateBlocks(weights.weightIh(l, d), GATES, hidden,
                        config.layerInputSize(l), LANES);
                recurrentWeights[i] = WeightLayouts.packGateBlocks(weights.weightHh(l, d), GATES, hidden, hidden, LANES);
                biases[i] = WeightLayouts.packGateBlocks(WeightLayouts.foldedBias(weights, l, d), GATES, hidden, LANES);
            }
        }
    }

    @Override
    protected void computeSegment(LayerPass pass) {
        int index = pass.layer() * config.numDirections() + pass.direction();
        int inSize = config.layerInputSize(pass.layer());
        int steps = pass.steps();
        int rows = pass.rows();
        int gateRows = steps * rows;
        Workspace ws = workspaces.get();
        ws.ensure(gateRows * inSize, gateRows * gateWidth, rows * padded, 3 * Math.max(rows * LANES, padded));
        // Input rows in processing order (gate row i·rows + b is step i, batch row b), so the
        // projection is one GEMM over contiguous rows whichever the direction or layout.
        for (int i = 0; i < steps; i++) {
            int t = pass.time(i);
            for (int b = 0; b < rows; b++) {
                pass.input().read(t, b, ws.input, (i * rows + b) * inSize, inSize);
            }
        }
        project(index, ws.input, inSize, gateRows, ws.gates);
        for (int b = 0; b < rows; b++) {
            pass.readH(b, ws.h, b * padded);
            pass.readC(b, ws.c, b * padded);
            Arrays.fill(ws.h, b * padded + hidden, (b + 1) * padded, 0f);
            Arrays.fill(ws.c, b * padded + hidden, (b + 1) * padded, 0f);
        }
        for (int i = 0; i < steps; i++) {
            recurrentStep(index, i, rows, ws);
            float[] newest = ws.hNext;
            ws.hNext = ws.h;
            ws.h = newest;
            int t = pass.time(i);
            for (int b = 0; b < rows; b++) {
                pass.output().write(t, b, newest, b * padded, hidden);
            }
        }
        for (int b = 0; b < rows; b++) {
            pass.writeH(b, ws.h, b * padded);
            pass.writeC(b, ws.c, b * padded);
        }
    }

    /** Gate rows = bias + input row · W_ih, for every row at once (rows contiguous, {@code inSize} apart). */
    private void project(int index, float[] in, int inSize, int rows, float[] gates) {
        float[] w = inputWeights[index];
        float[] bias = biases[index];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(bias, 0, gates, r * gateWidth, gateWidth);
        }
        // Blocks outside, rows inside: one block's weights stay in L2 while every row tile passes.
        for (int block = 0; block < blocks; block++) {
            int weights = block * inSize * STRIDE;
            int g = block * STRIDE;
            int r = 0;
            for (int end = 6 * sixRowTiles(rows); r < end; r += 6) {
                GateBlocks.accumulate6(w, weights, inSize, in, r * inSize, (r + 1) * inSize, (r + 2) * inSize,
                        (r + 3) * inSize, (r + 4) * inSize, (r + 5) * inSize,
                        gates, r * gateWidth + g, (r + 1) * gateWidth + g, (r + 2) * gateWidth + g, (r + 3) * gateWidth + g,
                        (r + 4) * gateWidth + g, (r + 5) * gateWidth + g);
            }
            for (; r + 4 <= rows; r += 4) {
                GateBlocks.accumulate4(w, weights, inSize, in, r * inSize, (r + 1) * inSize, (r + 2) * inSize,
                        (r + 3) * inSize, gates, r * gateWidth + g, (r + 1) * gateWidth + g, (r + 2) * gateWidth + g,
                        (r + 3) * gateWidth + g);
            }
            for (; r < rows; r++) {
                GateBlocks.accumulate1(w, weights, inSize, in, r * inSize, gates, r * gateWidth + g);
            }
        }
    }

    /** Adds h·W_hh to step t's gate rows and applies the cell, one block of units at a time. */
    private void recurrentStep(int index, int t, int batch, Workspace ws) {
        float[] w = recurrentWeights[index];
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

    @Override
    protected void release() {
        // Heap arrays only: nothing to free; later calls are refused by the base class.
    }

    /** Scratch arrays of one thread, grown to the largest call seen. */
    private static final class Workspace {
        float[] input = new float[0];
        float[] gates = new float[0];
        float[] h = new float[0];
        float[] hNext = new float[0];
        float[] c = new float[0];
        float[] scratch = new float[0];

        void ensure(int inputLength, int gatesLength, int stateLength, int scratchLength) {
            if (scratch.length < scratchLength) {
                scratch = new float[scratchLength];
            }
            if (input.length < inputLength) {
                input = new float[inputLength];
            }
            if (gates.length < gatesLength) {
                gates = new float[gatesLength];
            }
            if (h.length < stateLength) {
                h = new float[stateLength];
                hNext = new float[stateLength];
                c = new float[stateLength];
            }
        }
    }
}
