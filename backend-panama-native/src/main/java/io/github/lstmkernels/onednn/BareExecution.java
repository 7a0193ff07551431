package io.github.lstmkernels.onednn;

import io.github.lstmkernels.LstmConfig;
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
        this.plan = kernel.acquireLayerPlan(seqLen, batch);
        this.resources = kernel.newThreadResources();
        this.memories = resources.memoriesFor(plan);
        LstmConfig config = kernel.config();
        int layers = config.numLayers();
        // Per layer: the state of every direction, [D, B, ·] (PyTorch's h_n rows l·D .. l·D + D − 1).
        long hBytes = 4L * config.numDirections() * batch * config.outputSize();
        long cBytes = 4L * config.numDirections() * batch * config.hiddenSize();
        long between = 4L * seqLen * batch * config.numDirections() * config.outputSize();
        MemorySegment hOut = arena.allocate(hBytes * layers, 64);
        MemorySegment cOut = arena.allocate(cBytes * layers, 64);
        MemorySegment[] middle = {arena.allocate(between, 64), arena.allocate(between, 64)};
        MemorySegment scratchpad = arena.allocate(Math.max(64, plan.scratchpadBytes()), 64);
        for (int l = 0; l < layers; l++) {
            long src = l == 0 ? x.address() : middle[(l - 1) & 1].address();
            long dst = l == layers - 1 ? y.address() : middle[l & 1].address();
            long cIn = c == null ? 0 : c.address() + l * cBytes;
            memories.bind(l, src, h.address() + l * hBytes, dst, hOut.address() + l * hBytes, cIn,
                    cOut.address() + l * cBytes, scratchpad.address());
        }
    }

    /**
     * The bare execution of {@code kernel}'s primitives for (seqLen, batch) on off-heap tensors
     * ({@code c} null for a GRU).
     */
    public static BareExecution of(LstmKernel kernel, int seqLen, int batch, MemorySegment x, MemorySegment y,
                                   MemorySegment h, MemorySegment c) {
        if (!(kernel instanceof OneDnnLstmKernel oneDnn)) {
            throw new IllegalArgumentException("not a onednn kernel: " + kernel.backendName());
        }
        for (MemorySegment s : new MemorySegment[] {x, y, h, c}) {
            if (s != null && !s.isNative()) {
                throw new IllegalArgumentException("bare execution needs off-heap tensors");
            }
        }
        // Checks every size once, and builds the plan.
        if (c == null) {
            oneDnn.sequence(seqLen, batch, x, y, h);
        } else {
            oneDnn.sequence(seqLen, batch, x, y, h, c);
        }
        return new BareExecution(oneDnn, seqLen, batch, x, y, h, c);
    }

    @Override
    public void run() {
        Dnnl dnnl = kernel.dnnl();
        for (int l = 0; l < plan.layers(); l++) {
            dnnl.execute(plan.primitive(l), resources.stream, memories.argCount(), memories.args(l));
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
