package io.github.lstmkernels.onednn;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.spi.LayerPass;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The primitives of one kernel for one run shape, one per layer (layer input sizes differ). A shape
 * is {@code (steps, rows, direction, batch)}:
 * <ul>
 *   <li>a whole layer ({@code direction} = {@link LayerPass#ALL_DIRECTIONS}, rows = batch): every
 *       direction in one primitive, {@code bidirectional_concat} when there are two. One primitive
 *       per layer, never L > 1 in one primitive: with two directions oneDNN would stack each
 *       direction on its own, while in PyTorch layer k reads both directions of layer k − 1.
 *       x and y may be batch-first (format ntc);</li>
 *   <li>a segment of a batch with lengths ({@code direction} 0 or 1): {@code steps} steps of the
 *       first {@code rows} rows of the walk's time-major {@code [T, batch, ·]} buffers, described
 *       with strides so oneDNN reads and writes them in place; left to right or right to left.</li>
 * </ul>
 * The weights come from {@link NativeWeights}, shared with every other plan that wants the same
 * format.
 *
 * <p>A training plan (segments only: the training walk never takes a whole layer) creates the
 * forward primitive with {@code forward_training}, which fills a workspace per run, and next to it
 * the backward primitive of the same descriptors, which reads that workspace. Its descriptors match
 * the forward's: the diff of an argument has the argument's layout (diff_dst_layer is this
 * direction's columns of the walk's output-gradient buffer), except diff_src_layer, which is dense
 * (both directions add into the layer's input gradient, so the kernel stages it and adds), and the
 * diff weights, which are dense plain layouts (oneDNN would pad them with format {@code any}).
 *
 * <p>A plan is shared by all threads. A usage count keeps an evicted plan alive until the last
 * call using it returns; then it is freed exactly once.
 */
final class ShapePlan {
    /** Execution arguments a call re-points (in this order; the c ones only for an LSTM). */
    static final int[] LSTM_CALL_ARGS = {Dnnl.ARG_SRC_LAYER, Dnnl.ARG_SRC_ITER, Dnnl.ARG_DST_LAYER, Dnnl.ARG_DST_ITER,
            Dnnl.ARG_SRC_ITER_C, Dnnl.ARG_DST_ITER_C};
    static final int[] GRU_CALL_ARGS = {Dnnl.ARG_SRC_LAYER, Dnnl.ARG_SRC_ITER, Dnnl.ARG_DST_LAYER, Dnnl.ARG_DST_ITER};
    /** A training plan's forward binds the workspace too. */
    static final int[] LSTM_TRAINING_ARGS = {Dnnl.ARG_SRC_LAYER, Dnnl.ARG_SRC_ITER, Dnnl.ARG_DST_LAYER,
            Dnnl.ARG_DST_ITER, Dnnl.ARG_SRC_ITER_C, Dnnl.ARG_DST_ITER_C, Dnnl.ARG_WORKSPACE};
    static final int[] GRU_TRAINING_ARGS = {Dnnl.ARG_SRC_LAYER, Dnnl.ARG_SRC_ITER, Dnnl.ARG_DST_LAYER,
            Dnnl.ARG_DST_ITER, Dnnl.ARG_WORKSPACE};
    /** What a backward run binds (the c ones only for an LSTM, diff projection only with LSTMP). */
    private static final int[] BACKWARD_ARGS = {Dnnl.ARG_SRC_LAYER, Dnnl.ARG_SRC_ITER, Dnnl.ARG_DST_LAYER,
            Dnnl.ARG_DST_ITER, Dnnl.ARG_DIFF_SRC_LAYER, Dnnl.ARG_DIFF_SRC_ITER, Dnnl.ARG_DIFF_DST_LAYER,
            Dnnl.ARG_DIFF_DST_ITER, Dnnl.ARG_DIFF_WEIGHTS_LAYER, Dnnl.ARG_DIFF_WEIGHTS_ITER, Dnnl.ARG_DIFF_BIAS,
            Dnnl.ARG_WORKSPACE, Dnnl.ARG_SRC_ITER_C, Dnnl.ARG_DST_ITER_C, Dnnl.ARG_DIFF_SRC_ITER_C,
            Dnnl.ARG_DIFF_DST_ITER_C, Dnnl.ARG_DIFF_WEIGHTS_PROJECTION};
    private static final int BACKWARD_GRU_ARGS = 12;
    private static final int BACKWARD_LSTM_ARGS = 16;
    private static final int[] WEIGHT_ARGS = {Dnnl.ARG_WEIGHTS_LAYER, Dnnl.ARG_WEIGHTS_ITER, Dnnl.ARG_BIAS,
            Dnnl.ARG_WEIGHTS_PROJECTION};

    private final Dnnl dnnl;
    private final NativeWeights weights;
    private final int steps;
    private final int rows;
    private final int direction;
    private final int batch;
    private final boolean training;
    private final int[] callArgs;
    private final int[] backwardArgs;
    private final int weightKinds;
    private final MemorySegment[] primitiveDescs;
    private final long[] primitives;
    /** [layer][kind]. */
    private final NativeWeights.Prepared[][] prepared;
    private final MemorySegment[] backwardDescs;
    private final long[] backwardPrimitives;
    private final NativeWeights.Prepared[][] backwardPrepared;
    /** Training: bytes of the workspace one forward run of layer l fills for its backward run. */
    private final long[] workspaceBytes;
    private final long scratchpadBytes;
    private final AtomicInteger users = new AtomicInteger();
    private volatile boolean evicted;
    private final AtomicBoolean freed = new AtomicBoolean();

    ShapePlan(Dnnl dnnl, MemorySegment engine, LstmConfig config, NativeWeights weights, int steps, int rows,
              int direction, int batch, boolean training) {
        if (training && direction == LayerPass.ALL_DIRECTIONS) {
            throw new IllegalArgumentException("a training plan runs one direction of a segment");
        }
        this.dnnl = dnnl;
        this.weights = weights;
        this.steps = steps;
        this.rows = rows;
        this.direction = direction;
        this.batch = batch;
        this.training = training;
        boolean gru = config.cell() == CellType.GRU;
        this.callArgs = training ? (gru ? GRU_TRAINING_ARGS : LSTM_TRAINING_ARGS) : (gru ? GRU_CALL_ARGS : LSTM_CALL_ARGS);
        this.weightKinds = weights.hasProjection() ? 4 : 3;
        this.backwardArgs = !training ? new int[0]
                : java.util.Arrays.copyOf(BACKWARD_ARGS, gru ? BACKWARD_GRU_ARGS : BACKWARD_LSTM_ARGS + (weightKinds - 3));
        int layers = config.numLayers();
        primitiveDescs = new MemorySegment[layers];
        primitives = new long[layers];
        prepared = new NativeWeights.Prepared[layers][weightKinds];
        backwardDescs = new MemorySegment[layers];
        backwardPrimitives = new long[layers];
        backwardPrepared = new NativeWeights.Prepared[layers][weightKinds];
        workspaceBytes = new long[layers];
        long scratch = 0;
        try {
            for (int l = 0; l < layers; l++) {
                scratch = Math.max(scratch, createLayer(engine, config, l));
            }
        } catch (RuntimeException e) {
            free();
            throw e;
        }
        this.scratchpadBytes = scratch;
    }

    /** Describes layer l for this shape, creates its primitive and takes its weights; returns its scratchpad size. */
    private long createLayer(MemorySegment engine, LstmConfig config, int l) {
        boolean gru = config.cell() == CellType.GRU;
        boolean wholeLayer = direction == LayerPass.ALL_DIRECTIONS;
        int directions = wholeLayer ? config.numDirections() : 1;
        int dnnlDirection = wholeLayer
                ? (directions == 2 ? Dnnl.BIDIRECTIONAL_CONCAT : Dnnl.UNIDIRECTIONAL_LEFT2RIGHT)
                : (direction == 1 ? Dnnl.UNIDIRECTIONAL_RIGHT2LEFT : Dnnl.UNIDIRECTIONAL_LEFT2RIGHT);
        int propKind = training ? Dnnl.FORWARD_TRAINING : Dnnl.FORWARD_INFERENCE;
        try (Arena temp = Arena.ofConfined(); LayerDescs d = describe(temp, config, l, directions)) {
            MemorySegment attr = dnnl.userScratchpadAttr(temp);
            try {
                primitiveDescs[l] = gru
                        ? dnnl.lbrGruForwardPrimitiveDesc(temp, engine, propKind, dnnlDirection, d.srcLayer, d.h,
                                d.weightsLayer, d.weightsIter, d.bias, d.dstLayer, d.h, attr)
                        : dnnl.lstmForwardPrimitiveDesc(temp, engine, propKind, dnnlDirection, d.srcLayer, d.h, d.c,
                                d.weightsLayer, d.weightsIter, d.projection, d.bias, d.dstLayer, d.h, d.c, attr);
                if (training) {
                    describeGradients(temp, config, l, d);
                    backwardDescs[l] = gru
                            ? dnnl.lbrGruBackwardPrimitiveDesc(temp, engine, dnnlDirection, d.srcLayer, d.h,
                                    d.weightsLayer, d.weightsIter, d.bias, d.dstLayer, d.h, d.diffSrcLayer, d.h,
                                    d.diffWeightsLayer, d.diffWeightsIter, d.diffBias, d.dstLayer, d.h,
                                    primitiveDescs[l], attr)
                            : dnnl.lstmBackwardPrimitiveDesc(temp, engine, dnnlDirection, d.srcLayer, d.h, d.c,
                                    d.weightsLayer, d.weightsIter, d.projection, d.bias, d.dstLayer, d.h, d.c,
                                    d.diffSrcLayer, d.h, d.c, d.diffWeightsLayer, d.diffWeightsIter, d.diffProjection,
                                    d.diffBias, d.dstLayer, d.h, d.c, primitiveDescs[l], attr);
                }
            } finally {
                dnnl.primitiveAttrDestroy(attr);
            }
        }
        primitives[l] = dnnl.primitiveCreate(primitiveDescs[l]);
        for (int kind = 0; kind < weightKinds; kind++) {
            prepared[l][kind] = weights.acquire(l, kind, wholeLayer ? 0 : direction, directions,
                    argumentDesc(l, WEIGHT_ARGS[kind]));
        }
        long scratch = dnnl.memoryDescSize(scratchpadDesc(l));
        if (training) {
            workspaceBytes[l] = dnnl.memoryDescSize(argumentDesc(l, Dnnl.ARG_WORKSPACE));
            backwardPrimitives[l] = dnnl.primitiveCreate(backwardDescs[l]);
            // The backward primitive wants its own weights layout (ldgoi: transposed gemms).
            for (int kind = 0; kind < weightKinds; kind++) {
                backwardPrepared[l][kind] = weights.acquire(l, kind, direction, 1,
                        backwardArgumentDesc(l, WEIGHT_ARGS[kind]));
            }
            scratch = Math.max(scratch, dnnl.memoryDescSize(backwardScratchpadDesc(l)));
        }
        return scratch;
    }

    /**
     * The gradients' descriptors of a training plan; those of h, c, y and their diffs are the
     * forward ones. The diff weights are dense, in oneDNN's plain backward layouts: ldigo, ldgo
     * bias, ldio projection; the tape maps them to PyTorch's.
     */
    private void describeGradients(Arena temp, LstmConfig config, int l, LayerDescs d) {
        d.diffSrcLayer = dnnl.memoryDesc(temp, new long[] {steps, rows, config.layerInputSize(l)}, Dnnl.TAG_TNC);
        d.diffWeightsLayer = dnnl.memoryDesc(temp, weights.dims(l, NativeWeights.WEIGHTS_LAYER, 1), Dnnl.TAG_LDIGO);
        d.diffWeightsIter = dnnl.memoryDesc(temp, weights.dims(l, NativeWeights.WEIGHTS_ITER, 1), Dnnl.TAG_LDIGO);
        d.diffBias = dnnl.memoryDesc(temp, weights.dims(l, NativeWeights.BIAS, 1), Dnnl.TAG_LDGO);
        if (weightKinds > 3) {
            d.diffProjection = dnnl.memoryDesc(temp, weights.dims(l, NativeWeights.PROJECTION, 1), Dnnl.TAG_LDIO);
        }
    }

    /** The memory descriptors a layer's primitive is created from; destroyed on close. */
    private final class LayerDescs implements AutoCloseable {
        MemorySegment srcLayer = MemorySegment.NULL;
        MemorySegment dstLayer = MemorySegment.NULL;
        MemorySegment h = MemorySegment.NULL;
        MemorySegment c = MemorySegment.NULL;
        MemorySegment weightsLayer = MemorySegment.NULL;
        MemorySegment weightsIter = MemorySegment.NULL;
        MemorySegment projection = MemorySegment.NULL;
        MemorySegment bias = MemorySegment.NULL;
        MemorySegment diffSrcLayer = MemorySegment.NULL;
        MemorySegment diffWeightsLayer = MemorySegment.NULL;
        MemorySegment diffWeightsIter = MemorySegment.NULL;
        MemorySegment diffProjection = MemorySegment.NULL;
        MemorySegment diffBias = MemorySegment.NULL;

        @Override
        public void close() {
            for (MemorySegment md : new MemorySegment[] {srcLayer, dstLayer, h, c, weightsLayer, weightsIter, projection,
                    bias, diffSrcLayer, diffWeightsLayer, diffWeightsIter, diffProjection, diffBias}) {
                if (!md.equals(MemorySegment.NULL)) {
                    dnnl.memoryDescDestroy(md);
                }
            }
        }
    }

    private LayerDescs describe(Arena temp, LstmConfig config, int l, int directions) {
        int in = config.layerInputSize(l);
        int hout = config.outputSize();
        int width = config.numDirections() * hout;
        LayerDescs d = new LayerDescs();
        try {
            if (direction == LayerPass.ALL_DIRECTIONS) {
                // Batch-first x and y are passed as they are: oneDNN reads [B, T, C] as format ntc. With
                // B = 1 or T = 1 the two layouts are the same bytes, and tnc is oneDNN's faster path.
                boolean batchFirst = config.batchFirst() && batch > 1 && steps > 1;
                d.srcLayer = dnnl.memoryDesc(temp, new long[] {steps, batch, in},
                        l == 0 && batchFirst ? Dnnl.TAG_NTC : Dnnl.TAG_TNC);
                d.dstLayer = dnnl.memoryDesc(temp, new long[] {steps, batch, width},
                        l == config.numLayers() - 1 && batchFirst ? Dnnl.TAG_NTC : Dnnl.TAG_TNC);
            } else {
                // The first `rows` rows of `steps` time steps of a [T, batch, ·] buffer; the output is
                // this direction's Hout columns of a row D·Hout wide.
                d.srcLayer = dnnl.memoryDescStrided(temp, new long[] {steps, rows, in},
                        new long[] {(long) batch * in, in, 1});
                d.dstLayer = dnnl.memoryDescStrided(temp, new long[] {steps, rows, hout},
                        new long[] {(long) batch * width, width, 1});
            }
            d.h = dnnl.memoryDesc(temp, new long[] {1, directions, rows, hout}, Dnnl.TAG_LDNC);
            if (config.cell() != CellType.GRU) {
                d.c = dnnl.memoryDesc(temp, new long[] {1, directions, rows, config.hiddenSize()}, Dnnl.TAG_LDNC);
            }
            d.weightsLayer = anyWeights(temp, l, NativeWeights.WEIGHTS_LAYER, directions);
            d.weightsIter = anyWeights(temp, l, NativeWeights.WEIGHTS_ITER, directions);
            if (weightKinds > 3) {
                d.projection = anyWeights(temp, l, NativeWeights.PROJECTION, directions);
            }
            d.bias = dnnl.memoryDesc(temp, weights.dims(l, NativeWeights.BIAS, directions),
                    weights.plainTag(NativeWeights.BIAS));
            return d;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    /** Format {@code any}: the primitive picks the weights layout it runs fastest on. */
    private MemorySegment anyWeights(Arena temp, int layer, int kind, int directions) {
        return dnnl.memoryDesc(temp, weights.dims(layer, kind, directions), Dnnl.TAG_ANY);
    }

    boolean matches(int steps, int rows, int direction, int batch, boolean training) {
        return this.steps == steps && this.rows == rows && this.direction == direction && this.batch == batch
                && this.training == training;
    }

    boolean training() {
        return training;
    }

    long backwardPrimitive(int layer) {
        return backwardPrimitives[layer];
    }

    /** The arguments a backward run binds, in the order of the backward {@link ThreadResources.PlanMemories}. */
    int[] backwardArgs() {
        return backwardArgs;
    }

    long backwardWeightMemory(int layer, int i) {
        return backwardPrepared[layer][i].memory;
    }

    MemorySegment backwardArgumentDesc(int layer, int argument) {
        return dnnl.queryMd(backwardDescs[layer], Dnnl.QUERY_EXEC_ARG_MD, argument);
    }

    MemorySegment backwardScratchpadDesc(int layer) {
        return dnnl.queryMd(backwardDescs[layer], Dnnl.QUERY_SCRATCHPAD_MD, 0);
    }

    long workspaceBytes(int layer) {
        return workspaceBytes[layer];
    }

    long primitive(int layer) {
        return primitives[layer];
    }

    /** The arguments a call binds, in the order of {@link ThreadResources.PlanMemories#bind}. */
    int[] callArgs() {
        return callArgs;
    }

    /** Weights, iteration weights, bias, and projection when the model has one. */
    int weightArgs() {
        return weightKinds;
    }

    int weightArg(int i) {
        return WEIGHT_ARGS[i];
    }

    long weightMemory(int layer, int i) {
        return prepared[layer][i].memory;
    }

    /** The descriptor of an execution argument, owned by this plan. */
    MemorySegment argumentDesc(int layer, int argument) {
        return dnnl.queryMd(primitiveDescs[layer], Dnnl.QUERY_EXEC_ARG_MD, argument);
    }

    MemorySegment scratchpadDesc(int layer) {
        return dnnl.queryMd(primitiveDescs[layer], Dnnl.QUERY_SCRATCHPAD_MD, 0);
    }

    long scratchpadBytes() {
        return scratchpadBytes;
    }

    int layers() {
        return primitives.length;
    }

    /** Counts a user, unless the plan is being evicted (then the caller looks again). */
    boolean tryAcquire() {
        users.incrementAndGet();
        if (evicted) {
            release();
            return false;
        }
        return true;
    }

    void release() {
        if (users.decrementAndGet() == 0 && evicted) {
            free();
        }
    }

    boolean isEvicted() {
        return evicted;
    }

    /** Drops the plan from the cache; it is freed once no call uses it. */
    void evict() {
        evicted = true;
        if (users.get() == 0) {
            free();
        }
    }

    private void free() {
        if (!freed.compareAndSet(false, true)) {
            return;
        }
        for (int l = 0; l < primitives.length; l++) {
            for (NativeWeights.Prepared p : prepared[l]) {
                if (p != null) {
                    weights.release(p);
                }
            }
            for (NativeWeights.Prepared p : backwardPrepared[l]) {
                if (p != null) {
                    weights.release(p);
                }
            }
            if (backwardPrimitives[l] != 0) {
                dnnl.primitiveDestroy(backwardPrimitives[l]);
            }
            if (backwardDescs[l] != null) {
                dnnl.primitiveDescDestroy(backwardDescs[l]);
            }
            if (primitives[l] != 0) {
                dnnl.primitiveDestroy(primitives[l]);
            }
            if (primitiveDescs[l] != null) {
                dnnl.primitiveDescDestroy(primitiveDescs[l]);
            }
        }
    }
}
