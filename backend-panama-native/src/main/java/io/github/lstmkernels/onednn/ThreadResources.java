package io.github.lstmkernels.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * What one run in flight owns for one kernel, taken from the kernel's pool for the run and given
 * back after it (so one thread uses it at a time, and native memory follows the runs in flight, not
 * the threads that ever called): a stream (never used by two threads at once), memory
 * objects whose data handles it re-points on every call, a scratchpad (user scratchpad mode), and
 * native staging buffers: for heap tensors (the GC may move a Java array while oneDNN reads it)
 * and for {@code dst_iter}/{@code dst_iter_c} (oneDNN reads the state while it writes the new one,
 * so they never alias {@code src_iter}).
 */
final class ThreadResources {
    private final Dnnl dnnl;
    private final MemorySegment engine;
    private final int layers;
    private final int threads;
    final long stream;

    private Arena stagingArena;
    MemorySegment x;
    MemorySegment y;
    MemorySegment hIn;
    MemorySegment cIn;
    MemorySegment hOut;
    MemorySegment cOut;
    MemorySegment scratchpad;
    /** Backward runs only: diff_dst_layer of a caller tensor, and the dense diff_src_layer the kernel adds from. */
    MemorySegment dy;
    MemorySegment dx;

    /**
     * Memories of the plans this set was used with lately; replaced round robin. A training plan
     * has two entries, its forward and its backward memories.
     */
    private final ShapePlan[] plans = new ShapePlan[OneDnnLstmKernel.MAX_PLANS];
    private final boolean[] backward = new boolean[OneDnnLstmKernel.MAX_PLANS];
    private final PlanMemories[] memories = new PlanMemories[OneDnnLstmKernel.MAX_PLANS];
    private int nextSlot;

    ThreadResources(Dnnl dnnl, MemorySegment engine, int layers, int threads) {
        this.dnnl = dnnl;
        this.engine = engine;
        this.layers = layers;
        this.threads = threads;
        useOnThisThread();
        this.stream = dnnl.streamCreate(engine);
    }

    /** OpenMP keeps the thread count per calling thread, and a pooled set moves between threads. */
    void useOnThisThread() {
        if (threads > 0 && dnnl.canSetThreads()) {
            dnnl.setNumThreads(threads);
        }
    }

    /** Grows the staging buffers to fit a run; steady-state calls allocate nothing. */
    void ensureStaging(long xBytes, long yBytes, long hBytes, long cBytes, long scratchpadBytes) {
        ensureStaging(xBytes, yBytes, hBytes, cBytes, scratchpadBytes, 0, 0);
    }

    /** The same, for a backward run, which also stages the output gradient and the input gradient. */
    void ensureStaging(long xBytes, long yBytes, long hBytes, long cBytes, long scratchpadBytes, long dyBytes,
                       long dxBytes) {
        if (stagingArena != null && x.byteSize() >= xBytes && y.byteSize() >= yBytes && hIn.byteSize() >= hBytes
                && cIn.byteSize() >= cBytes && scratchpad.byteSize() >= scratchpadBytes && dy.byteSize() >= dyBytes
                && dx.byteSize() >= dxBytes) {
            return;
        }
        long xSize = grown(xBytes, x);
        long ySize = grown(yBytes, y);
        long hSize = grown(hBytes, hIn);
        long cSize = grown(cBytes, cIn);
        long scratchSize = grown(Math.max(scratchpadBytes, 64), scratchpad);
        long dySize = grown(dyBytes, dy);
        long dxSize = grown(dxBytes, dx);
        Arena next = Arena.ofShared();
        x = next.allocate(xSize, 64);
        y = next.allocate(ySize, 64);
        hIn = next.allocate(hSize, 64);
        cIn = next.allocate(cSize, 64);
        hOut = next.allocate(hSize, 64);
        cOut = next.allocate(cSize, 64);
        scratchpad = next.allocate(scratchSize, 64);
        dy = next.allocate(dySize, 64);
        dx = next.allocate(dxSize, 64);
        if (stagingArena != null) {
            stagingArena.close();
        }
        stagingArena = next;
    }

    private static long grown(long wanted, MemorySegment current) {
        return Math.max(Math.max(wanted, 4), current == null ? 0 : current.byteSize());
    }

    /** This thread's memory objects for a plan's forward primitive, made on first use. */
    PlanMemories memoriesFor(ShapePlan plan) {
        return memoriesFor(plan, false);
    }

    /** This thread's memory objects for a plan's forward or (training plans) backward primitive. */
    PlanMemories memoriesFor(ShapePlan plan, boolean backwardRun) {
        for (int i = 0; i < plans.length; i++) {
            if (plans[i] == plan && backward[i] == backwardRun) {
                return memories[i];
            }
        }
        int slot = -1;
        for (int i = 0; i < plans.length && slot < 0; i++) {
            if (plans[i] == null || plans[i].isEvicted()) {
                slot = i;
            }
        }
        if (slot < 0) {
            slot = nextSlot;
            nextSlot = (nextSlot + 1) % plans.length;
        }
        if (memories[slot] != null) {
            memories[slot].destroy();
        }
        plans[slot] = null;
        memories[slot] = new PlanMemories(plan, backwardRun);
        plans[slot] = plan;
        backward[slot] = backwardRun;
        return memories[slot];
    }

    /** Called by the kernel's release, after every call in flight has returned. */
    void close() {
        for (int i = 0; i < memories.length; i++) {
            if (memories[i] != null) {
                memories[i].destroy();
                memories[i] = null;
                plans[i] = null;
            }
        }
        dnnl.streamDestroy(stream);
        if (stagingArena != null) {
            stagingArena.close();
        }
    }

    /**
     * Per layer: the memory objects this thread re-points on every run (the plan's call arguments
     * and the scratchpad), and the execution-argument array naming them and the plan's weights.
     */
    final class PlanMemories {
        private final Arena arena = Arena.ofShared();
        private final int[] callArgs;
        /** [layer][i]: the plan's call arguments in order, then the scratchpad. */
        private final long[][] memory;
        private final long[] args;
        private final int argCount;

        PlanMemories(ShapePlan plan, boolean backwardRun) {
            callArgs = backwardRun ? plan.backwardArgs() : plan.callArgs();
            int perCall = callArgs.length + 1;
            argCount = perCall + plan.weightArgs();
            memory = new long[layers][perCall];
            args = new long[layers];
            try {
                for (int l = 0; l < layers; l++) {
                    MemorySegment list = arena.allocate(argCount * Dnnl.EXEC_ARG_BYTES, 8);
                    for (int i = 0; i < argCount; i++) {
                        int name;
                        long object;
                        if (i < callArgs.length) {
                            name = callArgs[i];
                            object = memory[l][i] = dnnl.memoryCreate(backwardRun ? plan.backwardArgumentDesc(l, name)
                                    : plan.argumentDesc(l, name), engine, MemorySegment.NULL);
                        } else if (i == callArgs.length) {
                            name = Dnnl.ARG_SCRATCHPAD;
                            object = memory[l][i] = dnnl.memoryCreate(backwardRun ? plan.backwardScratchpadDesc(l)
                                    : plan.scratchpadDesc(l), engine, MemorySegment.NULL);
                        } else {
                            name = plan.weightArg(i - perCall);
                            object = backwardRun ? plan.backwardWeightMemory(l, i - perCall)
                                    : plan.weightMemory(l, i - perCall);
                        }
                        list.set(ValueLayout.JAVA_INT, i * Dnnl.EXEC_ARG_BYTES, name);
                        list.set(ValueLayout.JAVA_LONG, i * Dnnl.EXEC_ARG_BYTES + Dnnl.EXEC_ARG_MEMORY_OFFSET, object);
                    }
                    args[l] = list.address();
                }
            } catch (RuntimeException e) {
                destroy();
                throw e;
            }
        }

        /** Points this layer's call arguments at native memory; the c ones are ignored for a GRU. */
        void bind(int layer, long srcLayer, long srcIter, long dstLayer, long dstIter, long srcIterC, long dstIterC,
                  long scratch) {
            long[] m = memory[layer];
            dnnl.setDataHandle(m[0], srcLayer);
            dnnl.setDataHandle(m[1], srcIter);
            dnnl.setDataHandle(m[2], dstLayer);
            dnnl.setDataHandle(m[3], dstIter);
            if (callArgs.length > 5 && callArgs[4] == Dnnl.ARG_SRC_ITER_C) {
                dnnl.setDataHandle(m[4], srcIterC);
                dnnl.setDataHandle(m[5], dstIterC);
            }
            dnnl.setDataHandle(m[callArgs.length], scratch);
        }

        /** Points one call argument ({@code DNNL_ARG_*}) of this layer at native memory. */
        void set(int layer, int argument, long address) {
            for (int i = 0; i < callArgs.length; i++) {
                if (callArgs[i] == argument) {
                    dnnl.setDataHandle(memory[layer][i], address);
                    return;
                }
            }
            throw new IllegalArgumentException("argument " + argument + " is not bound by this primitive");
        }

        void setScratchpad(int layer, long address) {
            dnnl.setDataHandle(memory[layer][callArgs.length], address);
        }

        int argCount() {
            return argCount;
        }

        long args(int layer) {
            return args[layer];
        }

        void destroy() {
            for (long[] layer : memory) {
                for (long m : layer) {
                    if (m != 0) {
                        dnnl.memoryDestroy(m);
                    }
                }
            }
            arena.close();
        }
    }
}
