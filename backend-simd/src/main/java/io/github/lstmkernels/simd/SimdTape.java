package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.LANES;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.spi.GradientExport;
import io.github.lstmkernels.spi.TrainingTape;
import java.util.Arrays;

/**
 * What the simd backend keeps from a training forward pass, its gradient accumulators, and the
 * scratch of its backward pass: everything per training object, nothing per thread or kernel
 * (it borrows only the kernel's threads, to convert large gradients for export).
 *
 * <p><b>Records</b>, per layer and direction (index l·D + d), one row per (step, active batch row):
 * a segment starting at step {@code t0} with {@code rows} rows puts forward step i's row b at
 * record row {@code t0·B + i·rows + b} (segments cover disjoint steps and {@code rows ≤ B}, so
 * they never overlap; a segment's rows are contiguous, in the order of its gate rows):
 * <ul>
 *   <li>{@code gates}: the activations {@code [i, f, tanh g, o]} (GRU {@code [r, z, n]}) in the
 *       gate-row layout, {@code gS} floats: the forward's gate rows themselves (a training segment
 *       computes in them);</li>
 *   <li>{@code hPrev}: the h the step started from ({@code hS} floats, the forward's state row);</li>
 *   <li>LSTM {@code cPrev}: the c the step started from; GRU {@code hn = W_hn h + b_hn}
 *       ({@code padded} floats each).</li>
 * </ul>
 * Not recorded, recomputed by the backward pass: {@code c' = f·c + i·g} (bit for bit as the
 * forward computed it), {@code tanh(c')}, and with projection {@code m = o·tanh(c')}.
 *
 * <p><b>Gradient accumulators</b> in the layouts of the tiles ({@link GradientBlocks}):
 * {@code dW_ih} as {@code [I][gS]}, {@code dW_hh} as {@code [Hout][gS]}, the biases as gate rows,
 * {@code dW_hr} as {@code [P][mS]}; converted to PyTorch's layouts when exported.
 */
final class SimdTape extends TrainingTape {
    private final LstmConfig config;
    private final boolean gru;
    private final boolean projected;
    private final int gates;
    private final int hidden;
    private final int hout;
    private final int blocks;
    private final int padded;
    final int gateWidth;
    final int hStride;
    /** Row width of m and of dM: H in whole panels. */
    final int mStride;
    /** Row width of dh: Hout in whole panels (the output of a transposed product). */
    final int dhStride;
    int batch;
    int capacity;

    final float[][] gatesRecord;
    final float[][] hPrevRecord;
    /** LSTM: c before each step; GRU: W_hn h + b_hn. */
    final float[][] stateRecord;

    final float[][] inputGrads;
    final float[][] recurrentGrads;
    final float[][] inputBiasGrads;
    final float[][] recurrentBiasGrads;
    final float[][] projectionGrads;
    private final GradientExport export;
    private final GradientExport.Converter toPyTorch = this::toPyTorch;
    /**
     * Floats an accumulator needs, per multiply-add of the kernel's split threshold, to be
     * converted on several threads: the default threshold (8 192) gives 32 768 floats, about 40 µs
     * of copying on one core, against a few microseconds to wake and join the workers.
     */
    private static final long EXPORT_FLOATS_PER_SPLIT_FMA = 4;
    /** The kernel's threads: a large accumulator is converted by blocks of units across them. */
    private final Workers workers;
    /** Floats from which an accumulator is converted on several threads (0: always, as a test kernel splits). */
    private final long minSplitFloats;
    private final ExportRegion exportRegion = new ExportRegion();

    // Backward scratch, grown to the largest segment seen.
    /** dA of a segment, [R][gS]; the GRU's input side. */
    float[] da = new float[0];
    /** GRU: dA of the recurrent side (n: da_n·r). */
    float[] daRecurrent = new float[0];
    /** The segment's layer input rows, [R][I]. */
    float[] x = new float[0];
    /** dX of the segment, [R][xS]. */
    float[] dx = new float[0];
    /** The output gradient of every step of a segment, [R][dhS]. */
    float[] gradOutputs = new float[0];
    /** Projection: dH of every step, [R][dhS], and m, [R][mS]. */
    float[] dhAll = new float[0];
    float[] m = new float[0];
    /** Per step: the carried dh and the next one, [rows][dhS]; dc [rows][padded]; dM [rows][mS]. */
    float[] dh = new float[0];
    float[] dhNext = new float[0];
    float[] dc = new float[0];
    float[] dm = new float[0];

    SimdTape(LstmConfig config, int gateWidth, int hStride, Workers workers, long minStepFmasPerPart) {
        this.config = config;
        this.workers = workers;
        this.minSplitFloats = Math.min(minStepFmasPerPart, Long.MAX_VALUE / EXPORT_FLOATS_PER_SPLIT_FMA)
                * EXPORT_FLOATS_PER_SPLIT_FMA;
        this.gru = config.cell() == io.github.lstmkernels.CellType.GRU;
        this.projected = config.projectionSize() > 0;
        this.gates = config.cell().gates();
        this.hidden = config.hiddenSize();
        this.hout = config.outputSize();
        this.blocks = GradientBlocks.ceilDiv(hidden, LANES);
        this.padded = blocks * LANES;
        this.gateWidth = gateWidth;
        this.hStride = hStride;
        this.mStride = GateBlocks.panelRowWidth(blocks);
        this.dhStride = GateBlocks.panelRowWidth(GradientBlocks.ceilDiv(hout, LANES));
        int count = config.numLayers() * config.numDirections();
        gatesRecord = new float[count][0];
        hPrevRecord = new float[count][0];
        stateRecord = new float[count][0];
        inputGrads = new float[count][];
        recurrentGrads = new float[count][];
        inputBiasGrads = new float[count][];
        recurrentBiasGrads = new float[count][];
        projectionGrads = new float[count][];
        export = GradientExport.staged(config);
        for (int l = 0; l < config.numLayers(); l++) {
            for (int d = 0; d < config.numDirections(); d++) {
                int i = l * config.numDirections() + d;
                int in = config.layerInputSize(l);
                inputGrads[i] = new float[in * gateWidth];
                recurrentGrads[i] = new float[hout * gateWidth];
                inputBiasGrads[i] = new float[gateWidth];
                recurrentBiasGrads[i] = new float[gateWidth];
                if (projected) {
                    projectionGrads[i] = new float[config.projectionSize() * mStride];
                }
            }
        }
    }

    /** Record row of forward step i, batch row b of a segment starting at step t0 with {@code rows} rows. */
    int recordRow(int t0, int i, int rows, int b) {
        return t0 * batch + i * rows + b;
    }

    @Override
    protected void ensure(int seqLen, int batch) {
        this.batch = batch;
        int rows = Math.multiplyExact(seqLen, batch);
        if (rows > capacity) {
            for (int i = 0; i < gatesRecord.length; i++) {
                gatesRecord[i] = new float[Math.multiplyExact(rows, gateWidth)];
                hPrevRecord[i] = new float[Math.multiplyExact(rows, hStride)];
                stateRecord[i] = new float[Math.multiplyExact(rows, padded)];
            }
            capacity = rows;
        }
    }

    /** Grows the backward scratch for a segment of {@code segmentRows} = steps × rows rows, {@code rows} batch rows. */
    void ensureBackward(int segmentRows, int rows, int inSize) {
        int xStride = GateBlocks.panelRowWidth(GradientBlocks.ceilDiv(inSize, LANES));
        da = grow(da, segmentRows * gateWidth);
        if (gru) {
            daRecurrent = grow(daRecurrent, segmentRows * gateWidth);
        }
        x = grow(x, segmentRows * inSize);
        dx = grow(dx, segmentRows * xStride);
        if (projected) {
            dhAll = grow(dhAll, segmentRows * dhStride);
            m = grow(m, segmentRows * mStride);
            dm = grow(dm, rows * mStride);
        }
        gradOutputs = grow(gradOutputs, segmentRows * dhStride);
        dh = grow(dh, rows * dhStride);
        dhNext = grow(dhNext, rows * dhStride);
        dc = grow(dc, rows * padded);
    }

    private static float[] grow(float[] a, int length) {
        return a.length >= length ? a : new float[length];
    }

    @Override
    protected long bytesFor(int seqLen, int batch) {
        long rows = (long) seqLen * batch;
        long floats = 0;
        int widestInput = 0;
        for (int i = 0; i < gatesRecord.length; i++) {
            floats += rows * (gateWidth + hStride + padded);
            floats += inputGrads[i].length + recurrentGrads[i].length + inputBiasGrads[i].length
                    + recurrentBiasGrads[i].length + (projected ? projectionGrads[i].length : 0);
        }
        for (int l = 0; l < config.numLayers(); l++) {
            widestInput = Math.max(widestInput, config.layerInputSize(l));
        }
        // The backward scratch for the largest segment: every step, every row.
        long scratchFloats = rows * gateWidth * (gru ? 2 : 1) + rows * widestInput
                + rows * GateBlocks.panelRowWidth(GradientBlocks.ceilDiv(widestInput, LANES))
                + rows * dhStride
                + (projected ? rows * (dhStride + mStride) + (long) batch * mStride : 0)
                + (long) batch * (2 * dhStride + padded);
        return Float.BYTES * (floats + scratchFloats) + export.stagingBytes();
    }

    @Override
    protected void clearGradients() {
        for (int i = 0; i < inputGrads.length; i++) {
            Arrays.fill(inputGrads[i], 0f);
            Arrays.fill(recurrentGrads[i], 0f);
            Arrays.fill(inputBiasGrads[i], 0f);
            Arrays.fill(recurrentBiasGrads[i], 0f);
            if (projected) {
                Arrays.fill(projectionGrads[i], 0f);
            }
        }
    }

    /** Position of gate {@code gate}, unit {@code unit} in a gate row. */
    private int position(int gate, int unit) {
        return (unit / LANES * gates + gate) * LANES + unit % LANES;
    }

    @Override
    protected void exportGradients(LstmGradients gradients) {
        export.export(gradients, toPyTorch);
    }

    private float[] toPyTorch(GradientExport.Parameter parameter, int index, float[] into) {
        switch (parameter) {
            case WEIGHT_IH -> toPyTorch(inputGrads[index], config.layerInputSize(index / config.numDirections()), into);
            case WEIGHT_HH -> toPyTorch(recurrentGrads[index], hout, into);
            case BIAS_IH -> toPyTorch(inputBiasGrads[index], 1, into);
            // LSTM: both biases enter the same sum, so their gradients are equal.
            case BIAS_HH -> toPyTorch(gru ? recurrentBiasGrads[index] : inputBiasGrads[index], 1, into);
            case WEIGHT_HR -> {
                for (int p = 0; p < config.projectionSize(); p++) {
                    System.arraycopy(projectionGrads[index], p * mStride, into, p * hidden, hidden);
                }
            }
        }
        return into;
    }

    /**
     * {@code [K][gS]} accumulators to PyTorch's {@code [G·H, K]}; one of at least
     * {@link #minSplitFloats} floats by ranges of blocks of units across the kernel's threads
     * (the copy is serial work of the caller between two parallel backward passes: a's weight
     * gradients, 0.46 M floats, took about a third of its two-thread training step).
     */
    private void toPyTorch(float[] acc, int columns, float[] out) {
        int parts = (long) columns * gates * hidden >= minSplitFloats ? Math.min(workers.threads(), blocks) : 1;
        if (parts <= 1) {
            toPyTorch(acc, columns, out, 0, blocks);
            return;
        }
        exportRegion.start(acc, columns, out);
        try {
            workers.run(parts, exportRegion);
        } finally {
            exportRegion.end();
        }
    }

    /**
     * Blocks {@code [b0, b1)} of {@link #toPyTorch(float[], int, float[])}: a block of V units of a
     * gate at a time (contiguous in each accumulator row), k inside, so that each accumulator line
     * is read once and the block's V destination rows fill in L1 while k advances. A destination
     * row at a time reads a line per element, gS floats apart, which L1 cannot keep: shape h's
     * {@code weight_ih} ([1 024, 300]) took 0.90 ms that way against 0.37 ms this way on a Zen 4
     * (blocks of 16 or 64 columns of k outside: 0.41–0.46 ms).
     */
    private void toPyTorch(float[] acc, int columns, float[] out, int b0, int b1) {
        for (int g = 0; g < gates; g++) {
            for (int block = b0; block < b1; block++) {
                int u0 = block * LANES;
                int from = position(g, u0);
                int units = Math.min(LANES, hidden - u0);
                int to = (g * hidden + u0) * columns;
                for (int k = 0; k < columns; k++) {
                    for (int u = 0; u < units; u++) {
                        out[to + u * columns + k] = acc[k * gateWidth + from + u];
                    }
                }
            }
        }
    }

    /** The parallel region of a split export; refers to its arrays only during a conversion. */
    private final class ExportRegion implements Workers.Region {
        private float[] acc;
        private float[] out;
        private int columns;

        void start(float[] acc, int columns, float[] out) {
            this.acc = acc;
            this.columns = columns;
            this.out = out;
        }

        void end() {
            acc = null;
            out = null;
        }

        @Override
        public void run(int part, int parts) {
            toPyTorch(acc, columns, out, blocks * part / parts, blocks * (part + 1) / parts);
        }
    }
}
