package io.github.lstmkernels.simd;

import static io.github.lstmkernels.simd.GateBlocks.LANES;
import static io.github.lstmkernels.simd.GateBlocks.PANEL_WIDTH;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.BackwardPass;
import io.github.lstmkernels.spi.LayerDirections;
import io.github.lstmkernels.spi.LayerPass;
import io.github.lstmkernels.spi.SequenceView;
import io.github.lstmkernels.spi.TensorChecks;
import io.github.lstmkernels.spi.TrainingTape;
import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.ref.Cleaner;
import java.util.Arrays;

/**
 * The LSTM (with or without projection) and the GRU on the Vector API, one {@link LayerPass} (one
 * direction of one layer, a run of steps, the active batch rows) at a time:
 * <ol>
 *   <li>the input projection {@code bias + x·W_ih} of a few steps at once (as many as keep their
 *       gate rows in cache), one GEMM over steps × rows ({@link GateBlocks#panelRows}) into gate
 *       rows {@code [H/V][G][V]} (G = 4 or 3);</li>
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
 *
 * <p><b>Training.</b> In a training forward pass ({@code pass.tape() != null}) a segment computes
 * its gate rows in the tape's record, where the cells leave the activations, and copies, per step,
 * the state it starts from ({@link SimdTape}); inference runs the same code on a gate buffer of its
 * own, without the copies.
 * The backward pass ({@link #computeSegmentBackward}) runs per segment on the tiles of
 * {@link GradientBlocks}, with transposed weights built on the first {@link #newTape()}.
 *
 * <p><b>Threads.</b> Every part of a segment that sums — the input projection, the steps, the
 * backward's steps and weight side — runs as a parallel region on {@link Workers} (the calling
 * thread and up to {@code lstm.simd.threads − 1} workers of the kernel), split by ranges of blocks
 * of units or of panels, never by rows or by the summed dimension: each element is summed by one
 * thread in one order, so the bits do not depend on the thread count. A part that reaches a
 * barrier first projects its next input rows while it waits ({@link #awaitProjecting}). On two
 * threads a bidirectional layer runs its directions side by side instead ({@link #computeDirections}).
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
    /** Blocks whose gate vectors fill whole panels (LSTM 1, GRU 4): the unit a part owns panels in. */
    private final int groupBlocks;
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
    private static final Cleaner WORKER_CLEANER = Cleaner.create();
    /**
     * Gate-row floats a segment may project ahead of its steps: 512 KiB, half of this project's
     * machine's L2 per core; a longer segment goes in chunks of a quarter of that.
     */
    private static final long PROJECTION_AHEAD_FLOATS = 128 * 1024;
    /** Rows a chunk of the input projection has at least (W_ih panels fetched per row tile). */
    private static final int PROJECTION_MIN_ROWS = 32;
    /** Multiply-adds per panel of the input projection a waiting part does at a time (a few microseconds). */
    private static final long FILL_UNIT_FMAS = 1 << 19;
    private final ThreadLocal<Workspace> workspaces = ThreadLocal.withInitial(Workspace::new);
    /** The threads a segment is split across ({@code lstm.simd.threads}); the caller is one of them. */
    private final Workers workers;
    /** The least work per part and step worth a split (see {@link SimdBackend#MIN_STEP_FMAS_PER_PART}). */
    private final long minStepFmasPerPart;
    /** Training only: the transposed weights of the backward pass, built on the first {@link #newTape()}. */
    private volatile TransposedWeights transposed;

    SimdLstmKernel(LstmConfig config, LstmWeights weights, int threads, long minStepFmasPerPart) {
        super(SimdBackend.NAME, config);
        // Every split is by blocks of units or by panels of gate rows (never more than blocks):
        // threads beyond that would only ever wait.
        this.workers = new Workers(Math.min(threads, WeightLayouts.ceilDiv(config.hiddenSize(), LANES)), "lstm-simd");
        this.minStepFmasPerPart = minStepFmasPerPart;
        // A kernel dropped without close still stops its (daemon) workers.
        WORKER_CLEANER.register(this, workers::close);
        int gates = config.cell().gates();
        this.gru = config.cell() == CellType.GRU;
        this.projected = config.projectionSize() > 0;
        this.hidden = config.hiddenSize();
        this.hout = config.outputSize();
        this.blocks = WeightLayouts.ceilDiv(hidden, LANES);
        this.padded = blocks * LANES;
        this.hStride = projected ? GateBlocks.panelRowWidth(WeightLayouts.ceilDiv(hout, LANES)) : padded;
        this.blockStride = gates * LANES;
        this.groupBlocks = GateBlocks.PANEL / gcd(GateBlocks.PANEL, gates);
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
        int parts = partsFor(rows);
        Workspace ws = workspaces.get();
        Segment segment = ws.segment;
        segment.start(this, pass, index, inSize);
        // The segment refers to the caller's tensors only until it ends, whatever is thrown.
        try {
            boolean inPlace = segment.readInPlace(rows);
            // The gathered copy of the input is only needed (and grown) when it cannot be read in place.
            // A training pass computes the gate rows in the tape's record, where the cells leave the
            // activations the backward pass reads: no copy of them afterwards.
            SimdTape tape = (SimdTape) pass.tape();
            ws.ensure(inPlace ? 0 : gateRows * inSize, tape != null ? 0 : gateRows * gateWidth,
                    rows * Math.max(padded, hStride), 3 * Math.max(rows * LANES, padded), parts);
            segment.gates = tape != null ? tape.gatesRecord[index] : ws.gates;
            if (!inPlace) {
                // Input rows in processing order (gate row i·rows + b is step i, batch row b), so the
                // projection is one GEMM over evenly spaced rows whichever the direction or layout.
                for (int i = 0; i < steps; i++) {
                    int t = pass.time(i);
                    for (int b = 0; b < rows; b++) {
                        pass.input().read(t, b, ws.input, (i * rows + b) * inSize, inSize);
                    }
                }
                segment.readFrom(ws.input, 0, inSize);
            }
            for (int b = 0; b < rows; b++) {
                pass.readH(b, ws.h, b * hStride);
                Arrays.fill(ws.h, b * hStride + hout, (b + 1) * hStride, 0f);
                if (!gru) {
                    pass.readC(b, ws.c, b * padded);
                    Arrays.fill(ws.c, b * padded + hidden, (b + 1) * padded, 0f);
                }
            }
            workers.run(parts, segment);
        } finally {
            segment.end();
        }
        float[] h = steps % 2 == 0 ? ws.h : ws.hNext;
        for (int b = 0; b < rows; b++) {
            pass.writeH(b, h, b * hStride);
            if (!gru) {
                pass.writeC(b, ws.c, b * padded);
            }
        }
    }

    /**
     * On two threads, the two directions of a bidirectional layer run side by side, one a thread,
     * each unsplit: no barrier until the layer ends, where a split of each direction's units meets
     * at one every step (shape h at two threads, p10 of 60 calls: 12.4–12.6 against 13.0–16.1 ms
     * split; and a direction never waits for a disturbed partner). Each direction sums alone
     * exactly as it does split (DESIGN §12), so the bits stay those of one thread. Not when a
     * tensor is confined to the caller or the layer is too small to be worth waking a worker; with
     * more threads, every direction is split across all of them as before.
     */
    @Override
    protected void computeDirections(LayerDirections layer) {
        if (layer.count() == 2 && workers.threads() == 2 && directionFmas(layer) >= minStepFmasPerPart
                && layer.sharedMemory()) {
            DirectionRegion region = workspaces.get().directions;
            region.layer = layer;
            try {
                workers.run(2, region);
            } finally {
                region.layer = null;
            }
            return;
        }
        super.computeDirections(layer);
    }

    /** Multiply-adds of one direction of the layer: its row-steps × (gates × units × (inputs + Hout) + projection). */
    private long directionFmas(LayerDirections layer) {
        long perRow = (long) blocks * blockStride * (config.layerInputSize(layer.layer()) + hout)
                + (projected ? (long) hStride * hidden : 0);
        return layer.rowSteps() * perRow;
    }

    /** The region of {@link #computeDirections}: part d runs direction d; as one part (team busy), both in turn. */
    private static final class DirectionRegion implements Workers.Region {
        LayerDirections layer;

        @Override
        public void run(int part, int parts) {
            if (parts == 1) {
                layer.runAll();
            } else {
                layer.run(part);
            }
        }
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /**
     * How many parts a segment of {@code rows} rows is split into: at most one per thread and per
     * block of units, and few enough that each part's share of a step (between two barriers) is at
     * least {@link #minStepFmasPerPart} multiply-adds.
     */
    private int partsFor(int rows) {
        int limit = Math.min(workers.threads(), blocks);
        if (limit <= 1) {
            return 1;
        }
        long stepFmas = (long) rows * ((long) blocks * blockStride * hout + (projected ? (long) hStride * hidden : 0));
        return (int) Math.max(1, Math.min(limit, stepFmas / Math.max(1, minStepFmasPerPart)));
    }

    /**
     * One segment as a parallel region. Part p owns a contiguous range of blocks of units: it
     * computes their input projection a chunk of steps ahead ({@link #projectionChunk}; a GRU
     * split finer than 4 blocks a part, whose panels would straddle parts, projects a range of
     * panels followed by a barrier), and per step their recurrent sums and cells, meeting the other
     * parts at a barrier once the step's h is complete (twice with projection: m, then
     * h' = W_hr·m by ranges of output panels); a part waiting there projects its rows of the next
     * steps meanwhile ({@link ProjectionCursor}). Each output element is summed by one part in the
     * same order whatever the number of parts and however far it projected ahead, so results are
     * bit-identical for every thread count. Step i's output is written during step i + 1, from the
     * then read-only h: each part writes the columns it computed, so that no part has a step's copy
     * on top of its share; when the output is confined to the calling thread (a confined arena),
     * part 0 writes it all. Part 0 alone reads and writes the other caller tensors and records
     * whole rows of h for training; the other parts record their own columns of c (GRU: of hn).
     */
    private void segmentPart(Segment segment, int part, int parts) {
        LayerPass pass = segment.pass;
        Workspace ws = segment.ws;
        int index = segment.index;
        int steps = pass.steps();
        int rows = pass.rows();
        SimdTape tape = (SimdTape) pass.tape();
        int panels = gateWidth / PANEL_WIDTH;
        // A part owns the panels of its blocks' gate rows when its blocks come in whole groups that
        // fill whole panels (LSTM: any block; GRU: 4 blocks = 3 panels); it then needs no barrier
        // between projection and steps, and projects ahead while it waits.
        int groups = WeightLayouts.ceilDiv(blocks, groupBlocks);
        boolean ownPanels = groups >= parts;
        int b0;
        int b1;
        int p0;
        int p1;
        if (ownPanels) {
            b0 = Math.min(blocks, groups * part / parts * groupBlocks);
            b1 = Math.min(blocks, groups * (part + 1) / parts * groupBlocks);
            p0 = b0 * blockStride / PANEL_WIDTH;
            p1 = part == parts - 1 ? panels : b1 * blockStride / PANEL_WIDTH;
        } else {
            b0 = blocks * part / parts;
            b1 = blocks * (part + 1) / parts;
            p0 = panels * part / parts;
            p1 = panels * (part + 1) / parts;
        }
        int outPanels = hStride / PANEL_WIDTH;
        // The columns of h this part writes out: what it computed, or all of them for part 0 alone.
        int from = 0;
        int to = part == 0 ? hout : 0;
        if (segment.sharedOutput) {
            from = Math.min(hout, projected ? outPanels * part / parts * PANEL_WIDTH : b0 * LANES);
            to = Math.min(hout, projected ? outPanels * (part + 1) / parts * PANEL_WIDTH : b1 * LANES);
        }
        // Parts sharing panels meet at a barrier after each projection: they project as one part would.
        int chunk = projectionChunk(steps, rows, ownPanels ? parts : 1);
        ProjectionCursor cursor = ws.cursors[part];
        cursor.start(p0, p1, steps * rows, fillUnit(segment.inSize));
        float[] scratch = ws.scratch[part];
        float[] h = ws.h;
        float[] hNext = ws.hNext;
        for (int i = 0; i < steps; i++) {
            if (cursor.done < (i + 1) * rows) {
                projectThrough(segment, cursor, Math.min(steps, i + chunk) * rows);
                if (!ownPanels) {
                    // Panels shared with another part's blocks: every part's share before the step.
                    awaitProjecting(parts, segment, cursor, 0);
                }
            }
            // Waiting at this step's barriers, a part projects its panels of the next steps.
            int ahead = ownPanels ? Math.min(steps, i + 1 + 2 * chunk) * rows : 0;
            int row = segment.record + i * rows;
            if (part == 0 && tape != null) {
                System.arraycopy(h, 0, tape.hPrevRecord[index], row * hStride, rows * hStride);
            }
            if (i > 0) {
                writeOutput(pass, i - 1, rows, h, from, to);
            }
            if (tape != null && !gru) {
                recordColumns(ws.c, tape.stateRecord[index], row, rows, b0, b1);
            }
            recurrentStep(segment, i, rows, b0, b1, h, hNext, scratch);
            if (tape != null && gru) {
                recordColumns(ws.hn, tape.stateRecord[index], row, rows, b0, b1);
            }
            if (projected) {
                awaitProjecting(parts, segment, cursor, ahead);
                project(ws, index, outPanels * part / parts, outPanels * (part + 1) / parts, rows, hNext);
            }
            awaitProjecting(parts, segment, cursor, ahead);
            float[] newest = hNext;
            hNext = h;
            h = newest;
        }
        writeOutput(pass, steps - 1, rows, h, from, to);
    }

    /**
     * Steps whose input projection is computed together, just before the first of them. A segment
     * whose gate rows fit in {@link #PROJECTION_AHEAD_FLOATS} is projected at once (W_ih streams
     * once); a longer one a chunk at a time, so that the rows are still in cache when the steps
     * add their recurrent sums to them (projecting d's 50 steps × 128 KiB at once left them in
     * L3: one step at a time was 6 % faster), each chunk at least {@link #PROJECTION_MIN_ROWS}
     * rows, so that every panel of W_ih fetched serves several row tiles. When a single step's
     * gate rows already exceed that budget, chunks keep nothing in cache but would stream W_ih
     * once per chunk: the segment is projected at once (e, 64 rows × 16 KiB a step, W_ih and W_hh
     * 16 MiB each: 1–3 % faster on one and on two threads than a step at a time). A segment split
     * into parts that own their panels, with at least a main tile of rows a step, projects one step
     * at a time: the rest of its rows then fill the parts' waits at the barriers
     * ({@link #awaitProjecting}) instead of being projected before the first step (a at two
     * threads: 1–2.5 % faster). Batch 1 keeps its up-front projection: there one unit of that
     * filling is several of its short steps, and c was no faster.
     */
    int projectionChunk(int steps, int rows, int parts) {
        long rowFloats = (long) rows * gateWidth;
        if (rowFloats > PROJECTION_AHEAD_FLOATS) {
            return steps;
        }
        if (parts > 1 && rows >= GateBlocks.MAIN_TILE) {
            return 1;
        }
        if (steps * rowFloats <= PROJECTION_AHEAD_FLOATS) {
            return steps;
        }
        int fitting = (int) Math.max(1, PROJECTION_AHEAD_FLOATS / 4 / rowFloats);
        return Math.max(fitting, WeightLayouts.ceilDiv(PROJECTION_MIN_ROWS, rows));
    }

    /**
     * Gate rows {@code [first, end)} of the segment's {@code total}, panels {@code [p0, p1)}:
     * bias + x·W_ih. {@code first} and {@code end} are multiples of {@link GateBlocks#MAIN_TILE}
     * rows, at most {@link GateBlocks#mainTileRows mainTileRows(total)}, or {@code end = total}.
     * The rows before the tail go in main tiles only and the tail in the tiles one call over all
     * the rows would give it, so that every row is summed by the same tile however the rows are
     * split into calls (the one-row tile sums in another order than the others,
     * {@link GateBlocks#accumulate1}): what a part projects while waiting and what it projects
     * when a step needs the rows give the same bits. (A tail of 8 rows as 6 + 1 + 1 streamed W_ih
     * three times; 4 + 4 streams it twice: a's step calls, 8 rows each, were 1.14 × oneDNN.)
     */
    private void inputProjection(Segment segment, int p0, int p1, int first, int end, int total) {
        float[] bias = biases[segment.index];
        float[] w = inputWeights[segment.index];
        float[] gates = segment.gates;
        int gates0 = segment.record * gateWidth;
        int inSize = segment.inSize;
        int tailStart = end == total ? Math.max(first, GateBlocks.mainTileRows(total)) : end;
        for (int p = p0; p < p1; p++) {
            int weights = p * inSize * PANEL_WIDTH;
            // Every row's sums start from the bias (stride 0): no copy of it into the cold gate rows first.
            GateBlocks.panelRows(w, weights, inSize, segment.input, segment.input0 + first * segment.inputStride,
                    segment.inputStride, tailStart - first, gates, gates0 + first * gateWidth + p * PANEL_WIDTH, gateWidth,
                    bias, p * PANEL_WIDTH, 0);
            if (tailStart < end) {
                GateBlocks.panelRows(w, weights, inSize, segment.input, segment.input0 + tailStart * segment.inputStride,
                        segment.inputStride, end - tailStart, gates, gates0 + tailStart * gateWidth + p * PANEL_WIDTH,
                        gateWidth, bias, p * PANEL_WIDTH, 0);
            }
        }
    }

    /**
     * Gate rows a part projects per panel while it waits at a barrier: about
     * {@link #FILL_UNIT_FMAS} multiply-adds, so that the partner it waits for finds it back within
     * microseconds; a multiple of {@link GateBlocks#MAIN_TILE} ({@link #inputProjection}).
     */
    private static int fillUnit(int inSize) {
        long rows = FILL_UNIT_FMAS / ((long) inSize * PANEL_WIDTH);
        return (int) Math.max(GateBlocks.MAIN_TILE, Math.min(1 << 16, rows) / GateBlocks.MAIN_TILE * GateBlocks.MAIN_TILE);
    }

    /** The cursor's next panel of its current unit of rows; past the last panel, the next unit. */
    private void projectNextPanel(Segment segment, ProjectionCursor cursor) {
        int end = cursor.end(cursor.done + cursor.unit);
        inputProjection(segment, cursor.panel, cursor.panel + 1, cursor.done, end, cursor.total);
        if (++cursor.panel == cursor.p1) {
            cursor.done = end;
            cursor.panel = cursor.p0;
        }
    }

    /** The cursor's panels of the rows up to {@code target} (rounded up to main tiles), the partly projected unit first. */
    private void projectThrough(Segment segment, ProjectionCursor cursor, int target) {
        while (cursor.panel > cursor.p0) {
            projectNextPanel(segment, cursor);
        }
        if (cursor.done < target) {
            int end = cursor.end(WeightLayouts.ceilDiv(target, GateBlocks.MAIN_TILE) * GateBlocks.MAIN_TILE);
            inputProjection(segment, cursor.p0, cursor.p1, cursor.done, end, cursor.total);
            cursor.done = end;
        }
    }

    /**
     * A barrier of a segment. Until every part has arrived, a part projects its next panel of gate
     * rows below {@code limit}, a unit at a time, instead of spinning: a part that is late one step
     * and early the next loses no time to the barrier, and the rows it projects are needed by its
     * own next steps anyway. With {@code limit} 0 it only waits.
     */
    private void awaitProjecting(int parts, Segment segment, ProjectionCursor cursor, int limit) {
        if (parts <= 1) {
            return;
        }
        int ticket = workers.arrive(parts);
        for (int spins = 0; !workers.passed(ticket); ) {
            if (cursor.done < limit && cursor.p1 > cursor.p0) {
                projectNextPanel(segment, cursor);
            } else {
                Workers.pause(spins++);
            }
        }
    }

    /**
     * Step {@code step}, blocks {@code [b0, b1)}: adds {@code h·W_hh} to their gate rows and applies
     * the cell; their units of the new h (LSTMP: of m) into {@code hNext}, c in place.
     */
    private void recurrentStep(Segment segment, int step, int batch, int b0, int b1, float[] h, float[] hNext,
                               float[] scratch) {
        Workspace ws = segment.ws;
        int index = segment.index;
        float[] gates = segment.gates;
        float[] w = recurrentWeights[index];
        int first = (segment.record + step * batch) * gateWidth;
        for (int block = b0; block < b1; block++) {
            int weights = block * hout * blockStride;
            int g = first + block * blockStride;
            if (gru) {
                GateBlocks.gruRows(w, weights, hout, h, 0, hStride, batch, gates, g, gateWidth,
                        newGateBiases[index], block * LANES, ws.hn, block * LANES, padded);
            } else {
                GateBlocks.panelRows(w, weights, hout, h, 0, hStride, batch, gates, g, gateWidth);
            }
            if (batch > 1) {
                cells(ws, gates, g, gateWidth, batch, block * LANES, padded, h, hNext, scratch);
            }
        }
        if (batch == 1 && b1 > b0) {
            // Batch 1 streams W_hh once per step: keep the stream going block after block, then
            // update every block's cell in one pass (a lone row's blocks are laid out like rows).
            cells(ws, gates, first + b0 * blockStride, blockStride, b1 - b0, b0 * LANES, LANES, h, hNext, scratch);
        }
    }

    /** The cell for {@code rows} (gate row, state row) pairs, at {@code g0 + r·gateStride} and {@code s0 + r·stateStride}. */
    private void cells(Workspace ws, float[] gates, int g0, int gateStride, int rows, int s0, int stateStride,
                       float[] h, float[] hNext, float[] scratch) {
        if (gru) {
            GateBlocks.gruCells(gates, g0, gateStride, rows, ws.hn, h, hNext, s0, stateStride, scratch);
        } else {
            // With projection the cell's output m = o ⊙ tanh(c') waits in ws.m for W_hr.
            GateBlocks.cells(gates, g0, gateStride, rows, ws.c, projected ? ws.m : hNext, s0, stateStride,
                    scratch);
        }
    }

    /** LSTMP: {@code h' = W_hr·m} for output panels {@code [q0, q1)} of the step's rows. */
    private void project(Workspace ws, int index, int q0, int q1, int rows, float[] hNext) {
        float[] w = projections[index];
        for (int b = 0; b < rows; b++) {
            Arrays.fill(hNext, b * hStride + q0 * PANEL_WIDTH, b * hStride + q1 * PANEL_WIDTH, 0f);
        }
        for (int q = q0; q < q1; q++) {
            GateBlocks.panelRows(w, q * hidden * PANEL_WIDTH, hidden, ws.m, 0, padded, rows, hNext,
                    q * PANEL_WIDTH, hStride);
        }
    }

    /** Training: the units of blocks {@code [b0, b1)} of every row of a state into record rows from {@code row}. */
    private void recordColumns(float[] state, float[] records, int row, int rows, int b0, int b1) {
        int width = (b1 - b0) * LANES;
        for (int b = 0; b < rows; b++) {
            System.arraycopy(state, b * padded + b0 * LANES, records, (row + b) * padded + b0 * LANES, width);
        }
    }

    /** Columns {@code [from, to)} of every row of step {@code step}'s h into the output. */
    private void writeOutput(LayerPass pass, int step, int rows, float[] h, int from, int to) {
        if (to <= from) {
            return;
        }
        int t = pass.time(step);
        for (int b = 0; b < rows; b++) {
            pass.output().write(t, b, h, b * hStride + from, from, to - from);
        }
    }

    /**
     * The region object of a calling thread's segments, reused call after call (no allocation per
     * call). It refers to the kernel only during a call: a thread-local value that kept its kernel
     * would keep the kernel, and its thread-local key, alive for as long as the thread lives.
     */
    private static final class Segment implements Workers.Region {
        final Workspace ws;
        SimdLstmKernel kernel;
        LayerPass pass;
        int index;
        int inSize;
        int record;
        /** Whether threads other than the caller may write the output (it is not confined to the caller). */
        boolean sharedOutput;
        /**
         * The segment's gate rows, row r at {@code (record + r)·gateWidth}: in training the tape's
         * record, otherwise the workspace's buffer (where {@code record} is 0).
         */
        float[] gates;
        /** The segment's input rows, in processing order: row r at {@code input0 + r·inputStride}. */
        float[] input;
        int input0;
        int inputStride;

        Segment(Workspace ws) {
            this.ws = ws;
        }

        void start(SimdLstmKernel kernel, LayerPass pass, int index, int inSize) {
            this.kernel = kernel;
            this.pass = pass;
            this.index = index;
            this.inSize = inSize;
            SimdTape tape = (SimdTape) pass.tape();
            this.record = tape == null ? 0 : pass.firstStep() * tape.batch;
            this.sharedOutput = TensorChecks.sharedAcrossThreads(pass.output().data());
        }

        void end() {
            kernel = null;
            pass = null;
            input = null;
            gates = null;
        }

        void readFrom(float[] rows, int first, int stride) {
            input = rows;
            input0 = first;
            inputStride = stride;
        }

        /**
         * Reads the input where it is, without a copy, if its rows in processing order are evenly
         * spaced in a float[] the walk exposes ({@link SequenceView#heapArray}: its buffers between
         * layers and sorted copies, time-major), forward direction, every batch row active. Besides
         * the copy, this spares a split kernel the serial pull of the other parts' columns of the
         * previous layer into the caller's cache.
         */
        boolean readInPlace(int rows) {
            SequenceView view = pass.input();
            float[] array = view.heapArray();
            if (array == null) {
                return false;
            }
            int steps = pass.steps();
            long first = view.row(pass.time(0), 0);
            long spacing = rows > 1 ? view.row(pass.time(0), 1) - first
                    : steps > 1 ? view.row(pass.time(1), 0) - first : inSize;
            boolean even = spacing >= inSize
                    && (steps == 1 || rows == 1 || view.row(pass.time(1), 0) - first == rows * spacing);
            if (!even || first + ((long) steps * rows - 1) * spacing + inSize > array.length) {
                return false;
            }
            readFrom(array, (int) first, (int) spacing);
            return true;
        }

        @Override
        public void run(int part, int parts) {
            kernel.segmentPart(this, part, parts);
        }
    }

    @Override
    protected TrainingTape newTape() {
        transposedWeights();
        return new SimdTape(config, gateWidth, hStride, workers, minStepFmasPerPart);
    }

    /**
     * The weights the backward pass multiplies by, transposed and packed for
     * {@link GradientBlocks#transposedProduct}: built from the packed forward weights on the first
     * {@link #newTape()}, so that a kernel used only for inference holds no second copy.
     */
    private TransposedWeights transposedWeights() {
        TransposedWeights w = transposed;
        if (w == null) {
            synchronized (this) {
                w = transposed;
                if (w == null) {
                    w = new TransposedWeights();
                    transposed = w;
                }
            }
        }
        return w;
    }

    /** Per layer and direction: {@code W_ih}, {@code W_hh} and {@code W_hr} packed transposed. */
    private final class TransposedWeights {
        final float[][] input;
        final float[][] recurrent;
        final float[][] projection;

        TransposedWeights() {
            int count = inputWeights.length;
            input = new float[count][];
            recurrent = new float[count][];
            projection = new float[count][];
            int positions = blocks * blockStride;
            for (int i = 0; i < count; i++) {
                int in = config.layerInputSize(i / config.numDirections());
                input[i] = GradientBlocks.transposePanels(inputWeights[i], positions, in);
                recurrent[i] = GradientBlocks.transposeGateBlocks(recurrentWeights[i], blockStride, positions, hout);
                if (projected) {
                    projection[i] = GradientBlocks.transposePanels(projections[i], hout, hidden);
                }
            }
        }
    }

    /**
     * BPTT for one segment (the reverse of a {@link #computeSegment} in training mode):
     * <ol>
     *   <li>per step, latest first (the only sequential part): {@code dh} += the output's gradient;
     *       with projection {@code dM = dh·W_hr}; the gate-gradient epilogue (per block, from the
     *       recorded activations) gives the step's rows of {@code dA} and carries {@code dc};
     *       {@code dh_prev = dA·W_hh} (GRU: {@code + dh·z});</li>
     *   <li>then for all steps × rows at once: {@code dX = dA·W_ih} added into the layer input's
     *       gradient, {@code dW_ih += dAᵀ·X}, {@code dW_hh += dAᵀ·H_prev}, {@code db += Σ dA},
     *       {@code dW_hr += dHᵀ·M}.</li>
     * </ol>
     * Segment row {@code i·rows + b} is forward step i, batch row b, as in the forward's gate rows.
     * Both halves run as parallel regions on the kernel's workers ({@link #backwardStepsPart},
     * {@link #weightSidePart}); the caller alone reads and writes the caller's tensors, before and after.
     */
    @Override
    protected void computeSegmentBackward(BackwardPass pass) {
        SimdTape tape = (SimdTape) pass.tape();
        int index = pass.layer() * config.numDirections() + pass.direction();
        int inSize = config.layerInputSize(pass.layer());
        int steps = pass.steps();
        int rows = pass.rows();
        int count = steps * rows;
        int first = pass.firstStep() * tape.batch;
        int dhStride = tape.dhStride;
        tape.ensureBackward(count, rows, inSize);
        float[] dh = tape.dh;
        float[] dc = tape.dc;
        for (int b = 0; b < rows; b++) {
            Arrays.fill(dh, b * dhStride, (b + 1) * dhStride, 0f);
            pass.readDh(b, dh, b * dhStride);
            if (!gru) {
                Arrays.fill(dc, b * padded, (b + 1) * padded, 0f);
                pass.readDc(b, dc, b * padded);
            }
        }
        // Every step's output gradient, read once by the caller: the parts never touch caller tensors.
        float[] gradOutputs = tape.gradOutputs;
        for (int i = 0; i < steps; i++) {
            int t = pass.time(steps - 1 - i);
            for (int b = 0; b < rows; b++) {
                int at = (i * rows + b) * dhStride;
                pass.gradOutput().read(t, b, gradOutputs, at, hout);
                Arrays.fill(gradOutputs, at + hout, at + dhStride, 0f);
            }
        }
        int parts = partsFor(rows);
        Workspace ws = workspaces.get();
        ws.ensure(0, 0, 0, 2 * rows * padded, parts);
        BackwardRegion region = ws.backward;
        region.start(this, tape, pass, index, inSize, count, first, ws);
        try {
            region.weightSide = false;
            workers.run(parts, region);
        } finally {
            region.end();
        }
        float[] dhLast = steps % 2 == 0 ? dh : tape.dhNext;
        for (int b = 0; b < rows; b++) {
            pass.writeDh(b, dhLast, b * dhStride);
            if (!gru) {
                pass.writeDc(b, dc, b * padded);
            }
        }
        // The weight side: every step and row at once.
        int xStride = GateBlocks.panelRowWidth(GradientBlocks.ceilDiv(inSize, LANES));
        float[] x = tape.x;
        float[] dx = tape.dx;
        for (int i = 0; i < steps; i++) {
            int t = pass.time(steps - 1 - i);
            for (int b = 0; b < rows; b++) {
                int r = i * rows + b;
                pass.input().read(t, b, x, r * inSize, inSize);
                pass.gradInput().read(t, b, dx, r * xStride, inSize);
                Arrays.fill(dx, r * xStride + inSize, (r + 1) * xStride, 0f);
            }
        }
        region.start(this, tape, pass, index, inSize, count, first, ws);
        try {
            region.weightSide = true;
            workers.run(weightSideParts(count, inSize), region);
        } finally {
            region.end();
        }
        for (int i = 0; i < steps; i++) {
            int t = pass.time(steps - 1 - i);
            for (int b = 0; b < rows; b++) {
                pass.gradInput().write(t, b, dx, (i * rows + b) * xStride, inSize);
            }
        }
    }

    /** Parts for the weight side of a backward segment of {@code count} rows: as {@link #partsFor}, by panels of gate rows. */
    private int weightSideParts(int count, int inSize) {
        int limit = Math.min(workers.threads(), gateWidth / PANEL_WIDTH);
        if (limit <= 1) {
            return 1;
        }
        long fmas = (long) count * gateWidth * (2L * inSize + hout);
        return (int) Math.max(1, Math.min(limit, fmas / Math.max(1, minStepFmasPerPart)));
    }

    /**
     * One part of the weight side of a backward segment, every step and row at once: {@code dX}
     * by ranges of its panels, {@code dW_ih}, {@code dW_hh} (and {@code dW_hr}) by ranges of gate
     * (output) panels; part 0 also sums the bias gradients. Each gradient element is summed by one
     * part in the same order whatever the split.
     */
    private void weightSidePart(BackwardRegion side, int part, int parts) {
        SimdTape tape = side.tape;
        TransposedWeights w = transposed;
        int index = side.index;
        int inSize = side.inSize;
        int count = side.count;
        int positions = blocks * blockStride;
        int xPanels = GateBlocks.panelRowWidth(GradientBlocks.ceilDiv(inSize, LANES)) / PANEL_WIDTH;
        float[] da = tape.da;
        float[] daRecurrent = gru ? tape.daRecurrent : da;
        GradientBlocks.transposedProduct(w.input[index], xPanels * part / parts, xPanels * (part + 1) / parts, positions,
                da, 0, gateWidth, count, tape.dx, 0, xPanels * PANEL_WIDTH);
        int panels = gateWidth / PANEL_WIDTH;
        int q0 = panels * part / parts;
        int q1 = panels * (part + 1) / parts;
        GradientBlocks.outerProduct(tape.x, 0, inSize, inSize, da, 0, gateWidth, q0, q1, count, tape.inputGrads[index],
                gateWidth);
        GradientBlocks.outerProduct(tape.hPrevRecord[index], side.first * hStride, hStride, hout, daRecurrent, 0,
                gateWidth, q0, q1, count, tape.recurrentGrads[index], gateWidth);
        if (projected) {
            int mStride = tape.mStride;
            int mPanels = mStride / PANEL_WIDTH;
            GradientBlocks.outerProduct(tape.dhAll, 0, tape.dhStride, hout, tape.m, 0, mStride, mPanels * part / parts,
                    mPanels * (part + 1) / parts, count, tape.projectionGrads[index], mStride);
        }
        if (part == 0) {
            GradientBlocks.columnSums(da, 0, gateWidth, gateWidth, count, tape.inputBiasGrads[index]);
            if (gru) {
                GradientBlocks.columnSums(daRecurrent, 0, gateWidth, gateWidth, count, tape.recurrentBiasGrads[index]);
            }
        }
    }

    /**
     * One part of the sequential half of a backward segment, latest step first. Part p owns a range
     * of blocks of units (the gate-gradient epilogue: {@code dA} and {@code dc} of its units) and a
     * range of panels of dh's columns (adding the step's output gradient, and
     * {@code dh_prev += dA·W_hhᵀ}); with projection also a range of panels of dM
     * ({@code dM = dh·W_hrᵀ}). Barriers: once dh is complete (and, with projection, once dM is), and
     * once dA is. None at the end of a step: the next step's first writes (dh += output gradient, the
     * next dh_prev cleared) fall in the writer's own columns, which no part reads before the first
     * barrier. Each gradient element is summed by one part in the same order whatever the split.
     */
    private void backwardStepsPart(BackwardRegion s, int part, int parts) {
        SimdTape tape = s.tape;
        TransposedWeights w = transposed;
        int index = s.index;
        int rows = s.pass.rows();
        int steps = s.pass.steps();
        int dhStride = tape.dhStride;
        int mStride = tape.mStride;
        int b0 = blocks * part / parts;
        int nb = blocks * (part + 1) / parts - b0;
        int dhPanels = dhStride / PANEL_WIDTH;
        int h0 = dhPanels * part / parts;
        int h1 = dhPanels * (part + 1) / parts;
        int c0 = h0 * PANEL_WIDTH;
        int c1 = h1 * PANEL_WIDTH;
        int mPanels = mStride / PANEL_WIDTH;
        int m0 = mPanels * part / parts;
        int m1 = mPanels * (part + 1) / parts;
        int positions = blocks * blockStride;
        float[] activations = tape.gatesRecord[index];
        float[] hPrev = tape.hPrevRecord[index];
        float[] state = tape.stateRecord[index];
        float[] da = tape.da;
        float[] daRecurrent = gru ? tape.daRecurrent : da;
        float[] scratch = s.ws.scratch[part];
        float[] dh = tape.dh;
        float[] dhNext = tape.dhNext;
        int unit0 = b0 * LANES;
        int gate0 = b0 * blockStride;
        for (int i = steps - 1; i >= 0; i--) {
            int row = i * rows;
            int record = s.first + row;
            for (int b = 0; b < rows; b++) {
                int at = b * dhStride;
                int from = (row + b) * dhStride;
                for (int k = c0; k < c1; k++) {
                    dh[at + k] += tape.gradOutputs[from + k];
                }
                Arrays.fill(dhNext, at + c0, at + c1, 0f);
                if (projected) {
                    System.arraycopy(dh, at + c0, tape.dhAll, from + c0, c1 - c0);
                }
            }
            workers.await(parts);
            float[] gradM = dh;
            int gradMStride = dhStride;
            if (projected) {
                for (int b = 0; b < rows; b++) {
                    Arrays.fill(tape.dm, b * mStride + m0 * PANEL_WIDTH, b * mStride + m1 * PANEL_WIDTH, 0f);
                }
                GradientBlocks.transposedProduct(w.projection[index], m0, m1, hout, dh, 0, dhStride, rows, tape.dm, 0,
                        mStride);
                workers.await(parts);
                gradM = tape.dm;
                gradMStride = mStride;
            }
            if (gru) {
                GradientBlocks.gruGateGradients(rows, nb, activations, record * gateWidth + gate0, gateWidth, state,
                        record * padded + unit0, padded, hPrev, record * hStride + unit0, hStride, dh, unit0, dhStride,
                        da, daRecurrent, row * gateWidth + gate0, gateWidth, dhNext, unit0, dhStride);
            } else {
                GradientBlocks.lstmCellTanh(rows, nb, activations, record * gateWidth + gate0, gateWidth, state,
                        record * padded + unit0, padded, scratch);
                GradientBlocks.lstmGateGradients(rows, nb, activations, record * gateWidth + gate0, gateWidth, state,
                        record * padded + unit0, padded, scratch, gradM, unit0, gradMStride, tape.dc, unit0, padded, da,
                        row * gateWidth + gate0, gateWidth, projected ? tape.m : null, row * mStride + unit0, mStride);
            }
            workers.await(parts);
            GradientBlocks.transposedProduct(w.recurrent[index], h0, h1, positions, daRecurrent, row * gateWidth,
                    gateWidth, rows, dhNext, 0, dhStride);
            float[] swap = dh;
            dh = dhNext;
            dhNext = swap;
        }
    }

    /**
     * The region object of a calling thread's backward segments (the steps, then the weight side);
     * refers to the kernel only during a call (see {@link Segment}).
     */
    private static final class BackwardRegion implements Workers.Region {
        SimdLstmKernel kernel;
        SimdTape tape;
        BackwardPass pass;
        Workspace ws;
        boolean weightSide;
        int index;
        int inSize;
        int count;
        int first;

        void start(SimdLstmKernel kernel, SimdTape tape, BackwardPass pass, int index, int inSize, int count, int first,
                   Workspace ws) {
            this.kernel = kernel;
            this.tape = tape;
            this.pass = pass;
            this.index = index;
            this.inSize = inSize;
            this.count = count;
            this.first = first;
            this.ws = ws;
        }

        void end() {
            kernel = null;
            tape = null;
            pass = null;
            ws = null;
        }

        @Override
        public void run(int part, int parts) {
            if (weightSide) {
                kernel.weightSidePart(this, part, parts);
            } else {
                kernel.backwardStepsPart(this, part, parts);
            }
        }
    }

    @Override
    protected void release() {
        // Heap arrays only: nothing else to free; later calls are refused by the base class.
        workers.close();
    }

    /**
     * How far a part's input projection has got: gate rows {@code [0, done)} hold
     * {@code bias + x·W_ih} in the part's panels {@code [p0, p1)}; of the next {@code unit} rows
     * ({@link #fillUnit}), the panels before {@code panel}. Projected ahead at barriers
     * ({@link #awaitProjecting}), at the latest just before a step needs the rows
     * ({@link #projectThrough}); which of the two computes a row never changes its bits.
     */
    private static final class ProjectionCursor {
        int p0;
        int p1;
        int total;
        /** Where the tail starts ({@link GateBlocks#mainTileRows}): no call ends inside it. */
        int tail;
        int unit;
        int done;
        int panel;

        void start(int p0, int p1, int total, int unit) {
            this.p0 = p0;
            this.p1 = p1;
            this.total = total;
            this.tail = GateBlocks.mainTileRows(total);
            this.unit = unit;
            this.done = 0;
            this.panel = p0;
        }

        /** The end of a call that would end at {@code wanted} (a multiple of the main tile): the tail goes whole. */
        int end(int wanted) {
            return wanted > tail ? total : wanted;
        }
    }

    /** Scratch arrays of one calling thread, grown to the largest call seen; per part where parts write. */
    private static final class Workspace {
        final Segment segment = new Segment(this);
        final BackwardRegion backward = new BackwardRegion();
        final DirectionRegion directions = new DirectionRegion();
        float[] input = new float[0];
        float[] gates = new float[0];
        float[] h = new float[0];
        float[] hNext = new float[0];
        float[] c = new float[0];
        /** LSTMP: the cell outputs o ⊙ tanh(c') before W_hr. */
        float[] m = new float[0];
        /** GRU: the n gate's recurrent sums W_hn h + b_hn. */
        float[] hn = new float[0];
        /** The cells' scratch, one per part. */
        float[][] scratch = new float[0][];
        /** Each part's input projection progress. */
        ProjectionCursor[] cursors = new ProjectionCursor[0];

        void ensure(int inputLength, int gatesLength, int stateLength, int scratchLength, int parts) {
            if (scratch.length < parts || scratch[0].length < scratchLength) {
                float[][] grown = new float[Math.max(parts, scratch.length)][];
                for (int p = 0; p < grown.length; p++) {
                    grown[p] = new float[Math.max(scratchLength, scratch.length > 0 ? scratch[0].length : 0)];
                }
                scratch = grown;
            }
            if (cursors.length < parts) {
                ProjectionCursor[] grown = Arrays.copyOf(cursors, parts);
                for (int p = cursors.length; p < parts; p++) {
                    grown[p] = new ProjectionCursor();
                }
                cursors = grown;
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
