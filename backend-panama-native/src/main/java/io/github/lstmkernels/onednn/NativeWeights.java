package io.github.lstmkernels.onednn;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A kernel's parameters for oneDNN: packed once into oneDNN's plain user layouts, and reordered on
 * demand into the formats the primitives ask for.
 *
 * <p>Plain layouts, per layer, both directions back to back (direction 0 = PyTorch's {@code _l{k}},
 * 1 = {@code _l{k}_reverse}), so a bidirectional primitive reads the whole buffer and a
 * one-direction primitive (a segment of the reverse pass) the half at {@code d · directionBytes}:
 * <ul>
 *   <li>weights_layer {@code ldigo [1, D, I_l, G, H]}, weights_iter {@code ldigo [1, D, Hout, G, H]};</li>
 *   <li>bias {@code ldgo [1, D, Gb, H]}: LSTM {@code b_ih + b_hh} (Gb = 4); GRU the linear-before-reset
 *       bias (Gb = 4, see {@link #gruGateOrder}); zeros without bias, since the CPU primitive refuses
 *       to be created without one;</li>
 *   <li>projection (LSTMP) {@code weight_hr [P, H]} row-major, which is {@code ldoi} with dims
 *       {@code [1, D, H, P]}: the same bytes, described, not copied.</li>
 * </ul>
 *
 * <p>The reordered copies are shared: oneDNN's preferred format rarely depends on the batch or the
 * number of steps, and with lengths a call runs many plans (one per segment shape); each would
 * otherwise hold its own copy of the layer's weights. A copy is counted per plan using it and freed
 * with the last one.
 */
final class NativeWeights {
    static final int WEIGHTS_LAYER = 0;
    static final int WEIGHTS_ITER = 1;
    static final int BIAS = 2;
    static final int PROJECTION = 3;
    private static final int KINDS = 4;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final Dnnl dnnl;
    private final MemorySegment engine;
    private final Arena plainArena = Arena.ofShared();
    /** [layer][kind]: every direction of one layer, direction-major; null for a kind the model lacks. */
    private final MemorySegment[][] plain;
    /** [layer][kind]: dims of one direction's block, without the leading {@code [1, D]}. */
    private final long[][][] blockDims;
    private final int[] blockTags = {Dnnl.TAG_LDIGO, Dnnl.TAG_LDIGO, Dnnl.TAG_LDGO, Dnnl.TAG_LDOI};
    private final List<Prepared> prepared = new ArrayList<>();
    private boolean closed;

    /** A parameter tensor in the format some primitive wants, shared by the plans that want it. */
    static final class Prepared {
        private final int layer;
        private final int kind;
        private final int firstDirection;
        private final int directions;
        /** The oneDNN memory object the primitives are given. */
        final long memory;
        /** Holds the reordered copy; null when the memory object is over the plain copy itself. */
        private final Arena arena;
        private int users = 1;

        private Prepared(int layer, int kind, int firstDirection, int directions, long memory, Arena arena) {
            this.layer = layer;
            this.kind = kind;
            this.firstDirection = firstDirection;
            this.directions = directions;
            this.memory = memory;
            this.arena = arena;
        }
    }

    NativeWeights(Dnnl dnnl, MemorySegment engine, LstmConfig config, LstmWeights weights) {
        this.dnnl = dnnl;
        this.engine = engine;
        int layers = config.numLayers();
        int directions = config.numDirections();
        int hidden = config.hiddenSize();
        int hout = config.outputSize();
        int gates = config.cell().gates();
        boolean gru = config.cell() == CellType.GRU;
        int projection = config.projectionSize();
        plain = new MemorySegment[layers][KINDS];
        blockDims = new long[layers][KINDS][];
        for (int l = 0; l < layers; l++) {
            int in = config.layerInputSize(l);
            blockDims[l][WEIGHTS_LAYER] = new long[] {in, gates, hidden};
            blockDims[l][WEIGHTS_ITER] = new long[] {hout, gates, hidden};
            blockDims[l][BIAS] = new long[] {4, hidden};
            plain[l][WEIGHTS_LAYER] = plainArena.allocate(4L * directions * in * gates * hidden, 64);
            plain[l][WEIGHTS_ITER] = plainArena.allocate(4L * directions * hout * gates * hidden, 64);
            plain[l][BIAS] = plainArena.allocate(4L * directions * 4 * hidden, 64);
            if (projection > 0) {
                blockDims[l][PROJECTION] = new long[] {hidden, projection};
                plain[l][PROJECTION] = plainArena.allocate(4L * directions * hidden * projection, 64);
            }
            for (int d = 0; d < directions; d++) {
                MemorySegment weightIh = weights.weightIh(l, d);
                MemorySegment weightHh = weights.weightHh(l, d);
                float[] bias = WeightLayouts.foldedBias(weights, l, d);
                if (gru) {
                    weightIh = gruGateOrder(weightIh, hidden, in);
                    weightHh = gruGateOrder(weightHh, hidden, hout);
                    bias = gruGateOrder(bias, WeightLayouts.gruNewGateRecurrentBias(weights, l, d), hidden);
                }
                // Block width H turns PyTorch's [G·H, K] into [K][G][H]: oneDNN's ldigo for one direction.
                store(l, WEIGHTS_LAYER, d, WeightLayouts.packGateBlocks(weightIh, gates, hidden, in, hidden));
                store(l, WEIGHTS_ITER, d, WeightLayouts.packGateBlocks(weightHh, gates, hidden, hout, hidden));
                store(l, BIAS, d, bias);
                if (projection > 0) {
                    store(l, PROJECTION, d, weights.weightHr(l, d).toArray(FLOAT));
                }
            }
        }
    }

    /**
     * The one place where PyTorch's GRU meets oneDNN's. PyTorch stacks the gates r, z, n with
     * {@code h' = (1 − z)·n + z·h}; oneDNN's linear-before-reset GRU stacks u, r, o with
     * {@code h' = u·h + (1 − u)·o}, so u is z (no sign flip), r is r and o is n: the first two gate
     * blocks of {@code weight_ih}/{@code weight_hh} swap. oneDNN keeps four bias gates
     * (u, r, o, u'): {@code [b_iz + b_hz, b_ir + b_hr, b_in, b_hn]}, the last one the n gate's
     * recurrent bias that sits inside the reset product.
     */
    private static final int[] GRU_BLOCK_FROM_PYTORCH = {1, 0, 2};

    /** PyTorch's {@code [3H, columns]} GRU matrix with its gate blocks in oneDNN's order (z, r, n). */
    static MemorySegment gruGateOrder(MemorySegment weight, int hidden, int columns) {
        long block = 4L * hidden * columns;
        MemorySegment reordered = MemorySegment.ofArray(new float[Math.toIntExact(3L * hidden * columns)]);
        for (int g = 0; g < 3; g++) {
            MemorySegment.copy(weight, GRU_BLOCK_FROM_PYTORCH[g] * block, reordered, g * block, block);
        }
        return reordered;
    }

    /** The four-gate bias from PyTorch's folded {@code [b_ir + b_hr, b_iz + b_hz, b_in]} and {@code b_hn}. */
    static float[] gruGateOrder(float[] folded, float[] newGateRecurrent, int hidden) {
        float[] bias = new float[4 * hidden];
        for (int g = 0; g < 3; g++) {
            System.arraycopy(folded, GRU_BLOCK_FROM_PYTORCH[g] * hidden, bias, g * hidden, hidden);
        }
        System.arraycopy(newGateRecurrent, 0, bias, 3 * hidden, hidden);
        return bias;
    }

    private void store(int layer, int kind, int direction, float[] values) {
        MemorySegment.copy(values, 0, plain[layer][kind], FLOAT, direction * directionBytes(layer, kind), values.length);
    }

    private long directionBytes(int layer, int kind) {
        long floats = 1;
        for (long dim : blockDims[layer][kind]) {
            floats *= dim;
        }
        return 4 * floats;
    }

    boolean hasProjection() {
        return plain[0][PROJECTION] != null;
    }

    /** Dims {@code [1, directions, ...]} of a parameter, as a primitive descriptor is created with. */
    long[] dims(int layer, int kind, int directions) {
        long[] block = blockDims[layer][kind];
        long[] dims = new long[block.length + 2];
        dims[0] = 1;
        dims[1] = directions;
        System.arraycopy(block, 0, dims, 2, block.length);
        return dims;
    }

    /** The plain format tag of a kind (ldigo, ldgo, ldoi). */
    int plainTag(int kind) {
        return blockTags[kind];
    }

    /**
     * The parameter {@code kind} of directions {@code [firstDirection, firstDirection + directions)}
     * of a layer in the format {@code wanted} (owned by the caller's primitive descriptor): an
     * existing copy in that format, or a new one. Pair with {@link #release}.
     */
    synchronized Prepared acquire(int layer, int kind, int firstDirection, int directions, MemorySegment wanted) {
        if (closed) {
            throw new IllegalStateException("the kernel's weights are released");
        }
        for (Prepared p : prepared) {
            if (p.layer == layer && p.kind == kind && p.firstDirection == firstDirection && p.directions == directions
                    && dnnl.memoryDescEqual(dnnl.memoryDescOf(p.memory), wanted)) {
                p.users++;
                return p;
            }
        }
        long bytes = directions * directionBytes(layer, kind);
        MemorySegment source = plain[layer][kind].asSlice(firstDirection * directionBytes(layer, kind), bytes);
        Prepared p;
        try (Arena temp = Arena.ofConfined()) {
            MemorySegment plainDesc = dnnl.memoryDesc(temp, dims(layer, kind, directions), plainTag(kind));
            try {
                if (dnnl.memoryDescEqual(plainDesc, wanted)) {
                    p = new Prepared(layer, kind, firstDirection, directions, dnnl.memoryCreate(plainDesc, engine, source),
                            null);
                } else {
                    Arena arena = Arena.ofShared();
                    try {
                        MemorySegment copy = arena.allocate(Math.max(dnnl.memoryDescSize(wanted), 1), 64);
                        p = new Prepared(layer, kind, firstDirection, directions,
                                reorder(temp, plainDesc, source, wanted, copy), arena);
                    } catch (RuntimeException e) {
                        arena.close();
                        throw e;
                    }
                }
            } finally {
                dnnl.memoryDescDestroy(plainDesc);
            }
        }
        prepared.add(p);
        return p;
    }

    /** A memory object of format {@code wanted} over {@code copy}, filled from {@code source} by a reorder. */
    private long reorder(Arena temp, MemorySegment plainDesc, MemorySegment source, MemorySegment wanted,
                         MemorySegment copy) {
        long destination = dnnl.memoryCreate(wanted, engine, copy);
        long from = 0;
        MemorySegment reorderDesc = null;
        long reorder = 0;
        long stream = 0;
        try {
            from = dnnl.memoryCreate(plainDesc, engine, source);
            reorderDesc = dnnl.reorderPrimitiveDesc(temp, engine, plainDesc, wanted);
            reorder = dnnl.primitiveCreate(reorderDesc);
            stream = dnnl.streamCreate(engine);
            MemorySegment args = temp.allocate(2 * Dnnl.EXEC_ARG_BYTES, 8);
            args.set(ValueLayout.JAVA_INT, 0, Dnnl.ARG_FROM);
            args.set(ValueLayout.JAVA_LONG, Dnnl.EXEC_ARG_MEMORY_OFFSET, from);
            args.set(ValueLayout.JAVA_INT, Dnnl.EXEC_ARG_BYTES, Dnnl.ARG_TO);
            args.set(ValueLayout.JAVA_LONG, Dnnl.EXEC_ARG_BYTES + Dnnl.EXEC_ARG_MEMORY_OFFSET, destination);
            dnnl.execute(reorder, stream, 2, args.address());
            dnnl.streamWait(stream);
        } catch (RuntimeException e) {
            dnnl.memoryDestroy(destination);
            throw e;
        } finally {
            if (stream != 0) {
                dnnl.streamDestroy(stream);
            }
            if (reorder != 0) {
                dnnl.primitiveDestroy(reorder);
            }
            if (reorderDesc != null) {
                dnnl.primitiveDescDestroy(reorderDesc);
            }
            if (from != 0) {
                dnnl.memoryDestroy(from);
            }
        }
        return destination;
    }

    synchronized void release(Prepared p) {
        if (--p.users == 0) {
            prepared.remove(p);
            dnnl.memoryDestroy(p.memory);
            if (p.arena != null) {
                p.arena.close();
            }
        }
        freeIfIdle();
    }

    /**
     * Called by the kernel's release. The plain copies go once no plan holds a prepared copy (a plan
     * still held, e.g. by a bare execution, may point at them).
     */
    synchronized void close() {
        closed = true;
        freeIfIdle();
    }

    private void freeIfIdle() {
        if (closed && prepared.isEmpty() && plainArena.scope().isAlive()) {
            plainArena.close();
        }
    }
}
