package io.github.lstmkernels.onednn;

import io.github.lstmkernels.LstmConfig;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Everything oneDNN needs for one call shape (T, B) of one kernel: per layer a primitive
 * descriptor, its primitive, and the weights in the format that primitive prefers (oneDNN's
 * packed RNN format depends on the batch, so it is reordered per shape from the plain copy).
 *
 * <p>A plan is shared by all threads. A usage count keeps an evicted plan alive until the last
 * call using it returns; then it is freed exactly once.
 */
final class ShapePlan {
    private static final int GATES = 4;

    private final Dnnl dnnl;
    private final int seqLen;
    private final int batch;
    private final MemorySegment[] primitiveDescs;
    private final long[] primitives;
    private final long[] weightsLayerMemory;
    private final long[] weightsIterMemory;
    private final long[] biasMemory;
    private final long scratchpadBytes;
    /** Holds the reordered weights. */
    private final Arena arena = Arena.ofShared();
    private final AtomicInteger users = new AtomicInteger();
    private volatile boolean evicted;
    private final AtomicBoolean freed = new AtomicBoolean();

    ShapePlan(Dnnl dnnl, MemorySegment engine, LstmConfig config, int seqLen, int batch,
              MemorySegment[] weightsLayer, MemorySegment[] weightsIter, MemorySegment[] bias) {
        this.dnnl = dnnl;
        this.seqLen = seqLen;
        this.batch = batch;
        int layers = config.numLayers();
        int hidden = config.hiddenSize();
        primitiveDescs = new MemorySegment[layers];
        primitives = new long[layers];
        weightsLayerMemory = new long[layers];
        weightsIterMemory = new long[layers];
        biasMemory = new long[layers];
        long scratch = 0;
        try {
            for (int l = 0; l < layers; l++) {
                int in = config.layerInputSize(l);
                // Batch-first x and y are passed as they are: oneDNN reads [B, T, C] as format ntc. With
                // B = 1 or T = 1 the two layouts are the same bytes, and tnc is oneDNN's faster path.
                boolean batchFirst = config.batchFirst() && batch > 1 && seqLen > 1;
                int srcTag = l == 0 && batchFirst ? Dnnl.TAG_NTC : Dnnl.TAG_TNC;
                int dstTag = l == layers - 1 && batchFirst ? Dnnl.TAG_NTC : Dnnl.TAG_TNC;
                try (Arena temp = Arena.ofConfined()) {
                    MemorySegment srcLayer = dnnl.memoryDesc(temp, new long[] {seqLen, batch, in}, srcTag);
                    MemorySegment state = dnnl.memoryDesc(temp, new long[] {1, 1, batch, hidden}, Dnnl.TAG_LDNC);
                    MemorySegment anyWeightsLayer = dnnl.memoryDesc(temp, new long[] {1, 1, in, GATES, hidden}, Dnnl.TAG_ANY);
                    MemorySegment anyWeightsIter = dnnl.memoryDesc(temp, new long[] {1, 1, hidden, GATES, hidden}, Dnnl.TAG_ANY);
                    MemorySegment plainWeightsLayer = dnnl.memoryDesc(temp, new long[] {1, 1, in, GATES, hidden}, Dnnl.TAG_LDIGO);
                    MemorySegment plainWeightsIter = dnnl.memoryDesc(temp, new long[] {1, 1, hidden, GATES, hidden}, Dnnl.TAG_LDIGO);
                    MemorySegment biasDesc = dnnl.memoryDesc(temp, new long[] {1, 1, GATES, hidden}, Dnnl.TAG_LDGO);
                    MemorySegment dstLayer = dnnl.memoryDesc(temp, new long[] {seqLen, batch, hidden}, dstTag);
                    MemorySegment attr = dnnl.userScratchpadAttr(temp);
                    try {
                        primitiveDescs[l] = dnnl.lstmForwardPrimitiveDesc(temp, engine, srcLayer, state, state,
                                anyWeightsLayer, anyWeightsIter, biasDesc, dstLayer, state, state, attr);
                        primitives[l] = dnnl.primitiveCreate(primitiveDescs[l]);
                        weightsLayerMemory[l] = weightsMemory(engine, temp, plainWeightsLayer, weightsLayer[l],
                                dnnl.queryMd(primitiveDescs[l], Dnnl.QUERY_EXEC_ARG_MD, Dnnl.ARG_WEIGHTS_LAYER));
                        weightsIterMemory[l] = weightsMemory(engine, temp, plainWeightsIter, weightsIter[l],
                                dnnl.queryMd(primitiveDescs[l], Dnnl.QUERY_EXEC_ARG_MD, Dnnl.ARG_WEIGHTS_ITER));
                        biasMemory[l] = weightsMemory(engine, temp, biasDesc, bias[l],
                                dnnl.queryMd(primitiveDescs[l], Dnnl.QUERY_EXEC_ARG_MD, Dnnl.ARG_BIAS));
                        scratch = Math.max(scratch, dnnl.memoryDescSize(dnnl.queryMd(primitiveDescs[l],
                                Dnnl.QUERY_SCRATCHPAD_MD, 0)));
                    } finally {
                        dnnl.primitiveAttrDestroy(attr);
                        for (MemorySegment md : new MemorySegment[] {srcLayer, state, anyWeightsLayer, anyWeightsIter,
                                plainWeightsLayer, plainWeightsIter, biasDesc, dstLayer}) {
                            dnnl.memoryDescDestroy(md);
                        }
                    }
                }
            }
        } catch (RuntimeException e) {
            free();
            throw e;
        }
        this.scratchpadBytes = scratch;
    }

    /**
     * A memory object holding {@code plain} (in format {@code plainDesc}) in the format the
     * primitive wants: the plain copy itself if that is the format, else a reordered copy.
     */
    private long weightsMemory(MemorySegment engine, Arena temp, MemorySegment plainDesc, MemorySegment plain,
                               MemorySegment wanted) {
        if (dnnl.memoryDescEqual(plainDesc, wanted)) {
            return dnnl.memoryCreate(plainDesc, engine, plain);
        }
        MemorySegment packed = arena.allocate(Math.max(dnnl.memoryDescSize(wanted), 1), 64);
        long destination = dnnl.memoryCreate(wanted, engine, packed);
        long source = dnnl.memoryCreate(plainDesc, engine, plain);
        MemorySegment reorderDesc = dnnl.reorderPrimitiveDesc(temp, engine, plainDesc, wanted);
        long reorder = 0;
        long stream = 0;
        try {
            reorder = dnnl.primitiveCreate(reorderDesc);
            stream = dnnl.streamCreate(engine);
            MemorySegment args = temp.allocate(2 * Dnnl.EXEC_ARG_BYTES, 8);
            args.set(ValueLayout.JAVA_INT, 0, Dnnl.ARG_FROM);
            args.set(ValueLayout.JAVA_LONG, Dnnl.EXEC_ARG_MEMORY_OFFSET, source);
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
            dnnl.primitiveDescDestroy(reorderDesc);
            dnnl.memoryDestroy(source);
        }
        return destination;
    }

    boolean matches(int seqLen, int batch) {
        return this.seqLen == seqLen && this.batch == batch;
    }

    long primitive(int layer) {
        return primitives[layer];
    }

    long weightsLayerMemory(int layer) {
        return weightsLayerMemory[layer];
    }

    long weightsIterMemory(int layer) {
        return weightsIterMemory[layer];
    }

    long biasMemory(int layer) {
        return biasMemory[layer];
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
            for (long memory : new long[] {weightsLayerMemory[l], weightsIterMemory[l], biasMemory[l]}) {
                if (memory != 0) {
                    dnnl.memoryDestroy(memory);
                }
            }
            if (primitives[l] != 0) {
                dnnl.primitiveDestroy(primitives[l]);
            }
            if (primitiveDescs[l] != null) {
                dnnl.primitiveDescDestroy(primitiveDescs[l]);
            }
        }
        arena.close();
    }
}
