package io.github.lstmkernels.onednn;

import io.github.lstmkernels.LstmKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * For the benchmark that measures this backend's own cost: the primitives a kernel built for one
 * shape, executed straight through the bindings with every memory handle bound once, no argument
 * check, no staging and no copy. The difference to a kernel call is the wrapper's overhead.
 * Not part of the library's API; the bench module reaches it by reflection.
 */
public final class BareExecution implements Runnable, AutoCloseable {
    private final OneDnnLstmKernel kernel;
    private final ShapePlan plan;
    private final ThreadResources resources;
    private final ThreadResources.PlanMemories memories;
    private final Arena arena = Arena.ofShared();

    private BareExecution(OneDnnLstmKernel kernel, int seqLen, int batch, MemorySegment x, MemorySegment y,
                          MemorySegment h, MemorySegment c) {
        this.kernel = kernel;
        this.plan = kernel.acquirePlan(seqLen, batch);
        this.resources = kernel.newThreadResources();
        this.memories = resources.memoriesFor(plan);
        int layers = kernel.config().numLayers();
        long stateBytes = 4L * batch * kernel.config().hiddenSize();
        long between = 4L * seqLen * batch * kernel.config().hiddenSize();
        MemorySegment hOut = arena.allocate(stateBytes * layers, 64);
        MemorySegment cOut = arena.allocate(stateBytes * layers, 64);
        MemorySegment[] middle = {arena.allocate(between, 64), arena.allocate(between, 64)};
        MemorySegment scratchpad = arena.allocate(Math.max(64, plan.scratchpadBytes()), 64);
        for (int l = 0; l < layers; l++) {
            long src = l == 0 ? x.address() : middle[(l - 1) & 1].address();
            long dst = l == layers - 1 ? y.address() : middle[l & 1].address();
            long offset = l * stateBytes;
            memories.bind(l, src, h.address() + offset, c.address() + offset, dst, hOut.address() + offset,
                    cOut.address() + offset, scratchpad.address());
        }
    }

    /** The bare execution of {@code kernel}'s primitives for (seqLen, batch) on off-heap tensors. */
    public static BareExecution of(LstmKernel kernel, int seqLen, int batch, MemorySegment x, MemorySegment y,
                                   MemorySegment h, MemorySegment c) {
        if (!(kernel instanceof OneDnnLstmKernel oneDnn)) {
            throw new IllegalArgumentException("not a onednn kernel: " + kernel.backendName());
        }
        for (MemorySegment s : new MemorySegment[] {x, y, h, c}) {
            if (!s.isNative()) {
                throw new IllegalArgumentException("bare execution needs off-heap tensors");
            }
        }
        oneDnn.sequence(seqLen, batch, x, y, h, c); // checks every size once, and builds the plan
        return new BareExecution(oneDnn, seqLen, batch, x, y, h, c);
    }

    @Override
    public void run() {
        Dnnl dnnl = kernel.dnnl();
        for (int l = 0; l < plan.layers(); l++) {
            dnnl.execute(plan.primitive(l), resources.stream, ThreadResources.PlanMemories.ARGS, memories.args(l));
        }
        dnnl.streamWait(resources.stream);
    }

    @Override
    public void close() {
        resources.close();
        plan.release();
        arena.close();
    }
}
