package io.github.lstmkernels.onednn;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.spi.GradientExport;
import io.github.lstmkernels.spi.TrainingTape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What the onednn backend keeps from a training forward pass, and its gradient accumulators, all in
 * native memory this tape owns (so oneDNN is given its addresses, never a caller's).
 *
 * <p><b>Records.</b> Every forward run (one layer, one direction, one segment of constant active
 * rows) leaves a record for its backward run, found again by (layer, direction, first step):
 * <pre>
 *   [ workspace W | h0 | c0 | hN | cN ]     each part 64-byte aligned
 * </pre>
 * W is the workspace oneDNN's {@code forward_training} primitive fills (its size is
 * {@code dnnl_query_exec_arg_md(DNNL_ARG_WORKSPACE)}: the gates, states and cell states of every
 * step, padded); h0/c0 are the state the run started from and hN/cN the state it left, which the
 * backward primitive reads again as {@code src_iter}/{@code dst_iter} (oneDNN's left-to-right f32
 * path reads states and layers in place instead of copying them into W). All records of a pass sit
 * in one block, which grows (by half at least, copying what it holds: the workspace holds no
 * pointers) to the largest pass seen and stays.
 *
 * <p><b>Walk buffers.</b> The training walk's buffers (layer inputs, states, gradients) come from
 * this tape too ({@link #newBuffer}), off-heap so oneDNN uses them in place, each in its own arena:
 * freed when the walk replaces it with a larger one or when the tape closes. (From the kernel, they
 * would live until the kernel closes: every training state would add its buffers.)
 *
 * <p><b>Gradients.</b> Per layer and direction, in oneDNN's dense backward layouts: weights
 * {@code ldigo [I, G, H]} and {@code [Hout, G, H]}, bias {@code ldgo [4, H]}, projection
 * {@code ldio [H, P]}. oneDNN adds into them (segments of a direction add up); they are zeroed
 * before each backward pass and mapped to PyTorch's layouts and gate orders on export.
 *
 * <p><b>Size</b> ({@link #bytesFor}, without lengths), per layer l and direction:
 * <ul>
 *   <li>the record: {@code ⌈W(l, T, B)⌉₆₄ + 2·⌈4·B·Hout⌉₆₄ + 2·⌈4·B·H⌉₆₄} (no c terms for a GRU),
 *       W being oneDNN's workspace size for that shape (queried from the training plan);</li>
 *   <li>the native gradients: {@code 4·(G·H·I_l + G·H·Hout + 4·H + H·P)};</li>
 *   <li>their PyTorch-layout staging arrays ({@code GradientExport.staged}):
 *       {@code 4·(G·H·I_l + G·H·Hout + 2·G·H + P·H)}, the biases only with bias.</li>
 * </ul>
 * The walk's buffers are counted by the walk ({@code LstmTraining.bytesFor} adds them). With
 * lengths, each segment has a record of its own (steps, rows); they add up to about the same, one
 * state row more per segment.
 */
final class OneDnnTape extends TrainingTape {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    /** GRU gate blocks: oneDNN's block g holds PyTorch's block {@code MAP[g]} (a swap, its own inverse). */
    private static final int[] GRU_BLOCK = {1, 0, 2};

    private final OneDnnLstmKernel kernel;
    private final LstmConfig config;
    private final int directions;
    private final int hidden;
    private final int hout;
    private final int gates;
    private final int projection;
    private final boolean gru;

    /** The training walk's buffers, one arena each, so a replaced buffer is freed at once. */
    private Arena[] bufferArenas = new Arena[0];
    private Arena recordsArena;
    private MemorySegment records;
    private long used;
    /** [l·D + d][first step]: offset of the record of the run starting there, or -1. */
    private long[][] recordAt;

    private final Arena gradientsArena = Arena.ofShared();
    private final MemorySegment[] diffWeightsLayer;
    private final MemorySegment[] diffWeightsIter;
    private final MemorySegment[] diffBias;
    private final MemorySegment[] diffProjection;
    private final GradientExport export;
    private final GradientExport.Converter toPyTorch = this::toPyTorch;

    /** Runs in flight on this tape: close waits for them, so native memory is never freed under one. */
    private final AtomicInteger inUse = new AtomicInteger();
    private volatile boolean closed;

    OneDnnTape(OneDnnLstmKernel kernel, LstmConfig config) {
        this.kernel = kernel;
        this.config = config;
        this.directions = config.numDirections();
        this.hidden = config.hiddenSize();
        this.hout = config.outputSize();
        this.gates = config.cell().gates();
        this.projection = config.projectionSize();
        this.gru = config.cell() == CellType.GRU;
        int count = config.numLayers() * directions;
        recordAt = new long[count][0];
        diffWeightsLayer = new MemorySegment[count];
        diffWeightsIter = new MemorySegment[count];
        diffBias = new MemorySegment[count];
        diffProjection = new MemorySegment[count];
        export = GradientExport.staged(config);
        for (int l = 0; l < config.numLayers(); l++) {
            int in = config.layerInputSize(l);
            for (int d = 0; d < directions; d++) {
                int i = l * directions + d;
                diffWeightsLayer[i] = gradientsArena.allocate(4L * in * gates * hidden, 64);
                diffWeightsIter[i] = gradientsArena.allocate(4L * hout * gates * hidden, 64);
                diffBias[i] = gradientsArena.allocate(4L * 4 * hidden, 64);
                diffProjection[i] = gradientsArena.allocate(Math.max(4L * hidden * projection, 4), 64);
            }
        }
    }

    // ---- records -------------------------------------------------------------------------------

    static long aligned(long bytes) {
        return (bytes + 63) & ~63L;
    }

    /** Bytes of a record for a run of {@code rows} rows whose workspace has {@code workspaceBytes}. */
    long recordBytes(long workspaceBytes, int rows) {
        return aligned(workspaceBytes) + 2 * aligned(4L * rows * hout) + (gru ? 0 : 2 * aligned(4L * rows * hidden));
    }

    static long h0At(long workspaceBytes) {
        return aligned(workspaceBytes);
    }

    long c0At(long workspaceBytes, int rows) {
        return h0At(workspaceBytes) + aligned(4L * rows * hout);
    }

    long hNAt(long workspaceBytes, int rows) {
        return c0At(workspaceBytes, rows) + (gru ? 0 : aligned(4L * rows * hidden));
    }

    long cNAt(long workspaceBytes, int rows) {
        return hNAt(workspaceBytes, rows) + aligned(4L * rows * hout);
    }

    /** The block holding every record; its address changes only in {@link #newRecord}. */
    MemorySegment records() {
        return records;
    }

    /** Claims a record for the forward run of (layer, direction) starting at {@code firstStep}; returns its offset. */
    long newRecord(int layer, int direction, int firstStep, long bytes) {
        long[] at = recordAt[layer * directions + direction];
        if (firstStep < 0 || firstStep >= at.length) {
            throw new IllegalStateException("tape: step " + firstStep + " outside the pass of " + at.length + " steps");
        }
        long needed = used + bytes;
        if (records == null || records.byteSize() < needed) {
            long size = Math.max(needed, records == null ? 0 : records.byteSize() + records.byteSize() / 2);
            Arena next = Arena.ofShared();
            MemorySegment grown = next.allocate(size, 64);
            if (records != null) {
                MemorySegment.copy(records, 0, grown, 0, used);
                recordsArena.close();
            }
            recordsArena = next;
            records = grown;
        }
        long offset = used;
        used = needed;
        at[firstStep] = offset;
        return offset;
    }

    /** The offset of the record the forward run of (layer, direction) from {@code firstStep} left. */
    long recordOffset(int layer, int direction, int firstStep) {
        long[] at = recordAt[layer * directions + direction];
        long offset = firstStep >= 0 && firstStep < at.length ? at[firstStep] : -1;
        if (offset < 0) {
            throw new IllegalStateException("tape: no forward run of layer " + layer + ", direction " + direction
                    + " from step " + firstStep);
        }
        return offset;
    }

    MemorySegment diffWeightsLayer(int layer, int direction) {
        return diffWeightsLayer[layer * directions + direction];
    }

    MemorySegment diffWeightsIter(int layer, int direction) {
        return diffWeightsIter[layer * directions + direction];
    }

    MemorySegment diffBias(int layer, int direction) {
        return diffBias[layer * directions + direction];
    }

    MemorySegment diffProjection(int layer, int direction) {
        return diffProjection[layer * directions + direction];
    }

    /** Counts a run in flight; refused once the tape is closed. Pair with {@link #exit}. */
    void enter() {
        inUse.incrementAndGet();
        if (closed) {
            inUse.decrementAndGet();
            throw new IllegalStateException("this training state is closed");
        }
    }

    void exit() {
        inUse.decrementAndGet();
    }

    /** True for memory of this tape's walk buffers, which the kernel may hand to oneDNN by address. */
    boolean owns(MemorySegment tensor) {
        if (!tensor.isNative()) {
            return false;
        }
        for (Arena arena : bufferArenas) {
            if (arena.scope().equals(tensor.scope())) {
                return true;
            }
        }
        return false;
    }

    // ---- TrainingTape --------------------------------------------------------------------------

    /** Off-heap, so oneDNN reads and writes the walk's buffers in place; freed when replaced or closed. */
    @Override
    protected MemorySegment newBuffer(MemorySegment replaced, long floats) {
        Arena arena = Arena.ofShared();
        MemorySegment buffer = arena.allocate(4L * floats, 64);
        for (int i = 0; i < bufferArenas.length; i++) {
            if (replaced != null && bufferArenas[i].scope().equals(replaced.scope())) {
                bufferArenas[i].close();
                bufferArenas[i] = arena;
                return buffer;
            }
        }
        bufferArenas = java.util.Arrays.copyOf(bufferArenas, bufferArenas.length + 1);
        bufferArenas[bufferArenas.length - 1] = arena;
        return buffer;
    }

    @Override
    protected void ensure(int seqLen, int batch) {
        used = 0;
        for (int i = 0; i < recordAt.length; i++) {
            if (recordAt[i].length < seqLen) {
                recordAt[i] = new long[seqLen];
            }
            java.util.Arrays.fill(recordAt[i], -1L);
        }
    }

    @Override
    protected long bytesFor(int seqLen, int batch) {
        long bytes = 0;
        for (int l = 0; l < config.numLayers(); l++) {
            for (int d = 0; d < directions; d++) {
                bytes += recordBytes(kernel.trainingWorkspaceBytes(seqLen, batch, l, d), batch);
                int i = l * directions + d;
                bytes += diffWeightsLayer[i].byteSize() + diffWeightsIter[i].byteSize() + diffBias[i].byteSize()
                        + (projection > 0 ? diffProjection[i].byteSize() : 0);
            }
        }
        return bytes + export.stagingBytes();
    }

    @Override
    protected void clearGradients() {
        for (int i = 0; i < diffWeightsLayer.length; i++) {
            diffWeightsLayer[i].fill((byte) 0);
            diffWeightsIter[i].fill((byte) 0);
            diffBias[i].fill((byte) 0);
            diffProjection[i].fill((byte) 0);
        }
    }

    @Override
    protected void exportGradients(LstmGradients gradients) {
        export.export(gradients, toPyTorch);
    }

    private float[] toPyTorch(GradientExport.Parameter parameter, int index, float[] into) {
        switch (parameter) {
            case WEIGHT_IH -> toGateRows(diffWeightsLayer[index], config.layerInputSize(index / directions), into);
            case WEIGHT_HH -> toGateRows(diffWeightsIter[index], hout, into);
            case BIAS_IH -> toBias(diffBias[index], false, into);
            case BIAS_HH -> toBias(diffBias[index], true, into);
            case WEIGHT_HR -> {
                // ldio [H][P] to PyTorch's weight_hr [P][H].
                for (int h = 0; h < hidden; h++) {
                    for (int p = 0; p < projection; p++) {
                        into[p * hidden + h] = diffProjection[index].getAtIndex(FLOAT, (long) h * projection + p);
                    }
                }
            }
        }
        return into;
    }

    /** ldigo {@code [K][G][H]} to PyTorch's {@code [G·H, K]}, gate blocks in PyTorch's order. */
    private void toGateRows(MemorySegment ldigo, int columns, float[] into) {
        for (int k = 0; k < columns; k++) {
            for (int g = 0; g < gates; g++) {
                int block = gru ? GRU_BLOCK[g] : g;
                long from = ((long) k * gates + g) * hidden;
                for (int h = 0; h < hidden; h++) {
                    into[(block * hidden + h) * columns + k] = ldigo.getAtIndex(FLOAT, from + h);
                }
            }
        }
    }

    /**
     * oneDNN's bias gradient, one bias per gate, to one of PyTorch's two ({@code recurrent}: b_hh).
     * LSTM: {@code b_ih + b_hh} was folded, so both get it. GRU (oneDNN's u, r, o, u'):
     * {@code b_ih = [r, u, o]} and {@code b_hh = [r, u, u']}, u' being the n gate's recurrent bias
     * inside the reset product.
     */
    private void toBias(MemorySegment ldgo, boolean recurrent, float[] into) {
        if (!gru) {
            MemorySegment.copy(ldgo, FLOAT, 0, into, 0, into.length);
            return;
        }
        for (int g = 0; g < 3; g++) {
            long from = recurrent && g == 2 ? 3L * hidden : (long) GRU_BLOCK[g] * hidden;
            MemorySegment.copy(ldgo, FLOAT, 4 * from, into, g * hidden, hidden);
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        while (inUse.get() != 0) {
            Thread.onSpinWait();
        }
        for (Arena arena : bufferArenas) {
            arena.close();
        }
        bufferArenas = new Arena[0];
        if (recordsArena != null) {
            recordsArena.close();
            recordsArena = null;
            records = null;
        }
        gradientsArena.close();
    }
}
