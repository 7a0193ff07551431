package io.github.lstmkernels.onednn;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.UnsupportedFeatureException;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.LayerPass;
import io.github.lstmkernels.spi.WeightLayouts;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A layer stack run by oneDNN's LSTM forward-inference primitives, one primitive per layer (layer
 * input sizes may differ) and per call shape (T, B).
 *
 * <p>oneDNN's model, kept here: descriptor → primitive created once → executed many times.
 * Prepare packs the weights once into oneDNN's user layouts ({@code ldigo}, and one bias
 * {@code b_ih + b_hh} in {@code ldgo}); the first call of a shape builds a {@link ShapePlan} (the
 * primitives and the weights reordered into the format they prefer) and caches it, up to
 * {@value #MAX_PLANS} shapes. Each calling thread has its own stream, scratchpad, memory objects
 * and staging buffers ({@link ThreadResources}), so primitives are shared and nothing mutable is.
 */
final class OneDnnLstmKernel extends AbstractLstmKernel {
    static final int MAX_PLANS = 8;
    private static final int GATES = 4;

    private final Dnnl dnnl;
    private final MemorySegment engine;
    private final int threads;
    private final int layers;
    private final int hidden;
    private final Arena weightsArena = Arena.ofShared();
    /** The walk's buffers (between layers, sorted copies), off-heap so oneDNN reads them in place. */
    private final Arena buffersArena = Arena.ofShared();
    /** Per layer, native: weight_ih as ldigo [1, 1, I_l, 4, H], weight_hh as ldigo [1, 1, H, 4, H], bias as ldgo [1, 1, 4, H]. */
    private final MemorySegment[] weightsLayer;
    private final MemorySegment[] weightsIter;
    private final MemorySegment[] bias;

    private final Object planLock = new Object();
    /** Most recently created first; replaced as a whole (copy on write), so lookups need no lock. */
    private volatile ShapePlan[] plans = new ShapePlan[0];
    private final ThreadLocal<ThreadResources> threadResources = new ThreadLocal<>();
    private final Queue<ThreadResources> allThreadResources = new ConcurrentLinkedQueue<>();

    OneDnnLstmKernel(Dnnl dnnl, MemorySegment engine, LstmConfig config, LstmWeights weights, int threads) {
        super(OneDnnBackend.NAME, config);
        this.dnnl = dnnl;
        this.engine = engine;
        this.threads = threads;
        this.layers = config.numLayers();
        this.hidden = config.hiddenSize();
        this.weightsLayer = new MemorySegment[layers];
        this.weightsIter = new MemorySegment[layers];
        this.bias = new MemorySegment[layers];
        for (int l = 0; l < layers; l++) {
            // Block width H turns PyTorch's [4H, K] into [K][4][H]: exactly oneDNN's ldigo for one layer.
            weightsLayer[l] = toNative(WeightLayouts.packGateBlocks(weights.weightIh(l), GATES, hidden,
                    config.layerInputSize(l), hidden));
            weightsIter[l] = toNative(WeightLayouts.packGateBlocks(weights.weightHh(l), GATES, hidden, hidden, hidden));
            bias[l] = toNative(WeightLayouts.foldedBias(weights, l, 0));
        }
    }

    private MemorySegment toNative(float[] values) {
        return weightsArena.allocateFrom(ValueLayout.JAVA_FLOAT, values);
    }

    @Override
    protected boolean computeLayer(LayerPass pass) {
        int layer = pass.layer();
        int seqLen = pass.steps();
        int batch = pass.rows();
        ShapePlan plan = acquirePlan(seqLen, batch);
        try {
            ThreadResources thread = threadResources();
            ThreadResources.PlanMemories memories = thread.memoriesFor(plan);
            long rows = (long) seqLen * batch;
            long inBytes = 4L * rows * config.layerInputSize(layer);
            long outBytes = 4L * rows * hidden;
            long stateBytes = 4L * batch * hidden;
            thread.ensureStaging(Math.max(inBytes, outBytes), outBytes, stateBytes, plan.scratchpadBytes());

            // Off-heap tensors are read and written in place; heap ones go through native staging
            // buffers, because the GC may move a Java array while oneDNN reads it.
            MemorySegment out = pass.output().data();
            long src = nativeAddress(pass.input().data(), 0, inBytes, thread.x);
            long h = nativeAddress(pass.h(), 4L * pass.hRow(0), stateBytes, thread.hIn);
            long c = nativeAddress(pass.c(), 4L * pass.cRow(0), stateBytes, thread.cIn);
            long dst = out.isNative() ? out.address() : thread.y.address();
            memories.bind(layer, src, h, c, dst, thread.hOut.address(), thread.cOut.address(),
                    thread.scratchpad.address());
            dnnl.execute(plan.primitive(layer), thread.stream, ThreadResources.PlanMemories.ARGS, memories.args(layer));
            dnnl.streamWait(thread.stream);

            if (!out.isNative()) {
                MemorySegment.copy(thread.y, 0, out, 0, outBytes);
            }
            // dst_iter went to staging, not over src_iter: oneDNN reads h while writing it.
            MemorySegment.copy(thread.hOut, 0, pass.h(), 4L * pass.hRow(0), stateBytes);
            MemorySegment.copy(thread.cOut, 0, pass.c(), 4L * pass.cRow(0), stateBytes);
        } finally {
            plan.release();
        }
        return true;
    }

    @Override
    protected void computeSegment(LayerPass pass) {
        throw new UnsupportedFeatureException(OneDnnBackend.NAME, Feature.VARIABLE_LENGTHS);
    }

    @Override
    protected MemorySegment newBuffer(long floats) {
        return buffersArena.allocate(4L * floats, 64);
    }

    private static long nativeAddress(MemorySegment tensor, long offset, long bytes, MemorySegment staging) {
        if (tensor.isNative()) {
            return tensor.address() + offset;
        }
        MemorySegment.copy(tensor, offset, staging, 0, bytes);
        return staging.address();
    }

    private ThreadResources threadResources() {
        ThreadResources resources = threadResources.get();
        if (resources == null) {
            resources = newThreadResources();
            threadResources.set(resources);
            allThreadResources.add(resources);
        }
        return resources;
    }

    /** Resources for the calling thread, owned by the caller (the kernel does not track them). */
    ThreadResources newThreadResources() {
        return new ThreadResources(dnnl, engine, layers, threads);
    }

    Dnnl dnnl() {
        return dnnl;
    }

    /** The cached plan of this shape, counted as in use until {@link ShapePlan#release()}. */
    ShapePlan acquirePlan(int seqLen, int batch) {
        for (ShapePlan plan : plans) {
            if (plan.matches(seqLen, batch) && plan.tryAcquire()) {
                return plan;
            }
        }
        synchronized (planLock) {
            ShapePlan[] current = plans;
            for (ShapePlan plan : current) {
                if (plan.matches(seqLen, batch) && plan.tryAcquire()) {
                    return plan;
                }
            }
            ShapePlan plan = new ShapePlan(dnnl, engine, config, seqLen, batch, weightsLayer, weightsIter, bias);
            plan.tryAcquire();
            int kept = Math.min(current.length, MAX_PLANS - 1);
            ShapePlan[] next = new ShapePlan[kept + 1];
            next[0] = plan;
            System.arraycopy(current, 0, next, 1, kept);
            plans = next;
            for (int i = kept; i < current.length; i++) {
                current[i].evict();
            }
            return plan;
        }
    }

    @Override
    protected void release() {
        for (ThreadResources resources : allThreadResources) {
            resources.close();
        }
        allThreadResources.clear();
        for (ShapePlan plan : plans) {
            plan.evict();
        }
        plans = new ShapePlan[0];
        weightsArena.close();
        buffersArena.close();
    }
}
