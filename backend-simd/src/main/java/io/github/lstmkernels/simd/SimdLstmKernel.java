package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.LANES;
import static io.github.lstmkernels.simd.GateBlocks.PANEL_WIDTH;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.LayerPass;
import io.github.lstmkernels.spi.WeightLayouts;
import java.util.Arrays;

/**
 * The LSTM (with or without projection) and the GRU on the Vector API, one {@link LayerPass} (one
 * direction of one layer, a run of steps, the active batch rows) at a time:
 * <ol>
 *   <li>the input projection of every step at once, {@code bias + x·W_ih} for all steps × rows,
 *       one GEMM ({@link GateBlocks#gemm}) into gate rows {@code [H/V][G][V]} (G = 4 or 3);</li>
 *   <li>then per step ({@link #recurrentStep}) the recurrent product {@code h·W_hh}, block of V units
 *       by block, each block followed at once by the fused cell while its sums are still in L1
 *       ({@link GateBlocks#cells}, {@link GateBlocks#gruCells}; the GRU's n gate keeps its
 *       recurrent sum apart, {@link GateBlocks#gruRows}). At batch 1 the recurrent weights stream
 *       block after block and every block's cell is updated in one pass afterwards;</li>
 *   <li>with projection, {@code h' = W_hr·m} for the step's rows ({@code m = o ⊙ tanh(c')}), one
 *       more GEMM.</li>
 * </ol>
 * Weights are packed once per (layer, direction), index {@code l·D + d}: {@code W_ih} and
 * {@code W_hr} in panels ({@link GateBlocks#packPanels}), {@code W_hh} in gate blocks
 * {@code [H/V][Hout][G][V]}. A step call is a one-step sequence. States live in per-thread buffers
 * padded to whole vectors (h: to whole panels when projected); padded lanes have zero weights and
 * stay zero.
 */
final class SimdLstmKernel extends AbstractLstmKernel {
    private final boolean gru;
    private final boolean projected;
    private final int hidden;
    /** Hout: P with projection, otherwise H. */
    private final int hout;
    private final int blocks;
    /** H rounded up to whole blocks: the row length of the c, m and GRU hn buffers. */
    private final int padded;
    /** Row length of the h buffers: {@code padded}, or P rounded up to whole panels when projected. */
    private final int hStride;
    /** Floats per block of a gate row: G × V. */
    private final int blockStride;
    /** Floats per gate row: G·H/V vectors padded to whole panels. */
    private final int gateWidth;
    /** Per layer and direction: {@code weight_ih} in panels, {@code weight_hh} as [H/V][Hout][G][V], the folded bias as a gate row. */
    private final float[][] inputWeights;
    private final float[][] recurrentWeights;
    private final float[][] biases;
    /** GRU: {@code b_hn} padded to whole blocks, the start of the n gate's recurrent sum. */
    private final float[][] newGateBiases;
    /** LSTM with projection: {@code weight_hr [P, H]} in panels of output units. */
    private final float[][] projections;
    private final ThreadLocal<Workspace> workspaces = ThreadLocal.withInitial(Workspace::new);

    SimdLstmKernel(LstmConfig config, LstmWeights weights) {
        super(SimdBackend.NAME, config);
        int gates = config.cell().gates();
        this.gru = config.cell() == CellType.GRU;
        this.projected = config.projectionSize() > 0;
        this.hidden = config.hiddenSize();
        this.hout = config.outputSize();
        this.blocks = WeightLayouts.ceilDiv(hidden, LANES);
        this.padded = blocks * LANES;
        this.hStride = projected ? GateBlocks.panelRowWidth(WeightLayouts.ceilDiv(hout, LANES)) : padded;
        this.blockStride = gates * LANES;
        this.gateWidth = GateBlocks.panelRowWidth(blocks * gates);
        int count = config.numLayers() * config.numDirections();
        this.inputWeights = new float[count][];
        this.recurrentWeights = new float[count][];
        this.biases = new float[count][];
        this.newGateBiases = new float[count][];
        this.projections = new float[count][];
        for (int l = 0; l < config.numLayers(); l++) {
            for (int d = 0; d < config.numDirections(); d++) {
                int i = l * config.numDirections() + d;
                inputWeights[i] = GateBlocks.packPanels(weights.weightIh(l, d), gates, hidden, config.layerInputSize(l));
                recurrentWeights[i] = WeightLayouts.packGateBlocks(weights.weightHh(l, d), gates, hidden, hout, LANES);
                biases[i] = GateBlocks.packGateRow(WeightLayouts.foldedBias(weights, l, d), gates, hidden);
                if (gru) {
                    newGateBiases[i] = Arrays.copyOf(WeightLayouts.gruNewGateRecurrentBias(weights, l, d), padded);
                }
                if (projected) {
                    projections[i] = GateBlocks.packPanels(weights.weightHr(l, d), 1, hout, hidden);
                }
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
        ws.ensure(gateRows * inSize, gateRows * gateWidth, rows * Math.max(padded, hStride),
                3 * Math.max(rows * LANES, padded));
        // Input rows in processing order (gate row i·rows + b is step i, batch row b), so the
        // projection is one GEMM over contiguous rows whichever the direction or layout.
        for (int i = 0; i < steps; i++) {
            int t = pass.time(i);
            for (int b = 0; b < rows; b++) {
                pass.input().read(t, b, ws.input, (i * rows + b) * inSize, inSize);
            }
        }
        float[] bias = biases[index];
        for (int r = 0; r < gateRows; r++) {
            System.arraycopy(bias, 0, ws.gates, r * gateWidth, gateWidth);
        }
        GateBlocks.gemm(inputWeights[index], gateWidth / PANEL_WIDTH, inSize, ws.input, inSize, gateRows, ws.gates,
                gateWidth);
        for (int b = 0; b < rows; b++) {
            pass.readH(b, ws.h, b * hStride);
            Arrays.fill(ws.h, b * hStride + hout, (b + 1) * hStride, 0f);
            if (!gru) {
                pass.readC(b, ws.c, b * padded);
                Arrays.fill(ws.c, b * padded + hidden, (b + 1) * padded, 0f);
            }
        }
        for (int i = 0; i < steps; i++) {
            recurrentStep(index, i, rows, ws);
            float[] newest = ws.hNext;
            ws.hNext = ws.h;
            ws.h = newest;
            int t = pass.time(i);
            for (int b = 0; b < rows; b++) {
                pass.output().write(t, b, newest, b * hStride, hout);
            }
        }
        for (int b = 0; b < rows; b++) {
            pass.writeH(b, ws.h, b * hStride);
            if (!gru) {
                pass.writeC(b, ws.c, b * padded);
            }
        }
    }

    /**
     * Step {@code step} of the pass: adds {@code h·W_hh} to its gate rows and applies the cell, one
     * block of units at a time; new h into {@code ws.hNext}, c updated in place.
     */
    private void recurrentStep(int index, int step, int batch, Workspace ws) {
        float[] w = recurrentWeights[index];
        int first = step * batch * gateWidth;
        for (int block = 0; block < blocks; block++) {
            int weights = block * hout * blockStride;
            int g = first + block * blockStride;
            if (gru) {
                GateBlocks.gruRows(w, weights, hout, ws.h, 0, hStride, batch, ws.gates, g, gateWidth,
                        newGateBiases[index], block * LANES, ws.hn, block * LANES, padded);
            } else {
                GateBlocks.panelRows(w, weights, hout, ws.h, 0, hStride, batch, ws.gates, g, gateWidth);
            }
            if (batch > 1) {
                cells(ws, g, gateWidth, batch, block * LANES, padded);
            }
        }
        if (batch == 1) {
            // Batch 1 streams W_hh once per step: keep the stream going block after block, then
            // update every block's cell in one pass (a lone row's blocks are laid out like rows).
            cells(ws, first, blockStride, blocks, 0, LANES);
        }
        if (projected) {
            Arrays.fill(ws.hNext, 0, batch * hStride, 0f);
            GateBlocks.gemm(projections[index], hStride / PANEL_WIDTH, hidden, ws.m, padded, batch, ws.hNext, hStride);
        }
    }

    /** The cell for {@code rows} (gate row, state row) pairs, at {@code g0 + r·gateStride} and {@code s0 + r·stateStride}. */
    private void cells(Workspace ws, int g0, int gateStride, int rows, int s0, int stateStride) {
        if (gru) {
            GateBlocks.gruCells(ws.gates, g0, gateStride, rows, ws.hn, ws.h, ws.hNext, s0, stateStride, ws.scratch);
        } else {
            // With projection the cell's output m = o ⊙ tanh(c') waits in ws.m for W_hr.
            GateBlocks.cells(ws.gates, g0, gateStride, rows, ws.c, projected ? ws.m : ws.hNext, s0, stateStride,
                    ws.scratch);
        }
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
        /** LSTMP: the cell outputs o ⊙ tanh(c') before W_hr. */
        float[] m = new float[0];
        /** GRU: the n gate's recurrent sums W_hn h + b_hn. */
        float[] hn = new float[0];
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
                m = new float[stateLength];
                hn = new float[stateLength];
            }
        }
    }
}
