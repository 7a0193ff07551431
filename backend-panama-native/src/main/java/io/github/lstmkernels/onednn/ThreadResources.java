package io.github.lstmkernels.onednn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * What one calling thread owns for one kernel: a stream (never shared between threads), memory
 * objects whose data handles it re-points on every call, a scratchpad (user scratchpad mode), and
 * native staging buffers for heap tensors, states and the layers in between.
 */
final class ThreadResources {
    private final Dnnl dnnl;
    private final MemorySegment engine;
    private final int layers;
    final long stream;

    private Arena stagingArena;
    MemorySegment x;
    MemorySegment y;
    MemorySegment hIn;
    MemorySegment cIn;
    MemorySegment hOut;
    MemorySegment cOut;
    final MemorySegment[] between = new MemorySegment[2];
    MemorySegment scratchpad;

    /** Memories of the plans this thread used lately; replaced round robin. */
    private final ShapePlan[] plans = new ShapePlan[OneDnnLstmKernel.MAX_PLANS];
    private final PlanMemories[] memories = new PlanMemories[OneDnnLstmKernel.MAX_PLANS];
    private int nextSlot;

    ThreadResources(Dnnl dnnl, MemorySegment engine, int layers, int threads) {
        this.dnnl = dnnl;
        this.engine = engine;
        this.layers = layers;
        if (threads > 0 && dnnl.canSetThreads()) {
            // OpenMP keeps the thread count per calling thread: set it once for this one.
            dnnl.setNumThreads(threads);
        }
        this.stream = dnnl.streamCreate(engine);
    }

    /** Grows the staging buffers to fit a call; steady-state calls allocate nothing. */
    void ensureStaging(long xBytes, long yBytes, long stateBytes, long scratchpadBytes) {
        if (stagingArena != null && x.byteSize() >= xBytes && y.byteSize() >= yBytes && hIn.byteSize() >= stateBytes
                && scratchpad.byteSize() >= scratchpadBytes) {
            return;
        }
        long xSize = Math.max(xBytes, x == null ? 0 : x.byteSize());
        long ySize = Math.max(yBytes, y == null ? 0 : y.byteSize());
        long stateSize = Math.max(stateBytes, hIn == null ? 0 : hIn.byteSize());
        long scratchSize = Math.max(Math.max(scratchpadBytes, 64), scratchpad == null ? 0 : scratchpad.byteSize());
        Arena next = Arena.ofShared();
        x = next.allocate(xSize, 64);
        y = next.allocate(ySize, 64);
        hIn = next.allocate(stateSize, 64);
        cIn = next.allocate(stateSize, 64);
        hOut = next.allocate(stateSize, 64);
        cOut = next.allocate(stateSize, 64);
        between[0] = next.allocate(ySize, 64);
        between[1] = next.allocate(ySize, 64);
        scratchpad = next.allocate(scratchSize, 64);
        if (stagingArena != null) {
            stagingArena.close();
        }
        stagingArena = next;
    }

    /** This thread's memory objects for a plan, made on first use. */
    PlanMemories memoriesFor(ShapePlan plan) {
        for (int i = 0; i < plans.length; i++) {
            if (plans[i] == plan) {
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
        memories[slot] = new PlanMemories(plan);
        plans[slot] = plan;
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

    /** Per layer: the seven memory objects this thread re-points, and the exec-argument array naming them. */
    final class PlanMemories {
        static final int ARGS = 10;
        private static final int[] PER_CALL = {Dnnl.ARG_SRC_LAYER, Dnnl.ARG_SRC_ITER, Dnnl.ARG_SRC_ITER_C,
                Dnnl.ARG_DST_LAYER, Dnnl.ARG_DST_ITER, Dnnl.ARG_DST_ITER_C};

        private final Arena arena = Arena.ofShared();
        /** [layer][0..5] the PER_CALL arguments in order, [layer][6] the scratchpad. */
        private final long[][] memory;
        private final long[] args;

        PlanMemories(ShapePlan plan) {
            memory = new long[layers][7];
            args = new long[layers];
            try {
                for (int l = 0; l < layers; l++) {
                    for (int a = 0; a < PER_CALL.length; a++) {
                        memory[l][a] = dnnl.memoryCreate(plan.argumentDesc(l, PER_CALL[a]), engine, MemorySegment.NULL);
                    }
                    memory[l][6] = dnnl.memoryCreate(plan.scratchpadDesc(l), engine, MemorySegment.NULL);
                    MemorySegment list = arena.allocate(ARGS * Dnnl.EXEC_ARG_BYTES, 8);
                    int[] names = {Dnnl.ARG_SRC_LAYER, Dnnl.ARG_SRC_ITER, Dnnl.ARG_SRC_ITER_C, Dnnl.ARG_DST_LAYER,
                            Dnnl.ARG_DST_ITER, Dnnl.ARG_DST_ITER_C, Dnnl.ARG_SCRATCHPAD, Dnnl.ARG_WEIGHTS_LAYER,
                            Dnnl.ARG_WEIGHTS_ITER, Dnnl.ARG_BIAS};
                    long[] objects = {memory[l][0], memory[l][1], memory[l][2], memory[l][3], memory[l][4], memory[l][5],
                            memory[l][6], plan.weightsLayerMemory(l), plan.weightsIterMemory(l), plan.biasMemory(l)};
                    for (int i = 0; i < ARGS; i++) {
                        list.set(ValueLayout.JAVA_INT, i * Dnnl.EXEC_ARG_BYTES, names[i]);
                        list.set(ValueLayout.JAVA_LONG, i * Dnnl.EXEC_ARG_BYTES + Dnnl.EXEC_ARG_MEMORY_OFFSET, objects[i]);
                    }
                    args[l] = list.address();
                }
            } catch (RuntimeException e) {
                destroy();
                throw e;
            }
        }

        void bind(int layer, long srcLayer, long srcIter, long srcIterC, long dstLayer, long dstIter, long dstIterC,
                  long scratch) {
            long[] m = memory[layer];
            dnnl.setDataHandle(m[0], srcLayer);
            dnnl.setDataHandle(m[1], srcIter);
            dnnl.setDataHandle(m[2], srcIterC);
            dnnl.setDataHandle(m[3], dstLayer);
            dnnl.setDataHandle(m[4], dstIter);
            dnnl.setDataHandle(m[5], dstIterC);
            dnnl.setDataHandle(m[6], scratch);
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
