package io.github.lstmkernels.spi;

/**
 * The directions of one layer as the walk hands them to a backend
 * ({@code AbstractLstmKernel#computeDirections}): {@link #run run(d)} computes direction d over
 * every segment of the schedule, in its order (the reverse direction from the last segment back).
 * The directions read the same input and write only their own output columns and state rows, so
 * they may run at the same time on different threads. One per walk workspace or training state,
 * reused call after call.
 */
public final class LayerDirections {
    private final LayerPass[] passes = {new LayerPass(), new LayerPass()};
    private AbstractLstmKernel kernel;
    private BatchSchedule schedule;
    private TrainingTape tape;
    private int layer;
    private int count;

    void start(AbstractLstmKernel kernel, BatchSchedule schedule, int layer, int count, TrainingTape tape) {
        this.kernel = kernel;
        this.schedule = schedule;
        this.layer = layer;
        this.count = count;
        this.tape = tape;
    }

    /** Forgets the call's tensors and kernel, so that a pooled workspace keeps neither alive. */
    void end() {
        kernel = null;
        schedule = null;
        tape = null;
        for (LayerPass pass : passes) {
            pass.input.set(null, 0, 0, 0, 0, false);
            pass.output.set(null, 0, 0, 0, 0, false);
            pass.state(null, 0, 0, null, 0, 0);
        }
    }

    /** The pass of direction d; the walk points its input, output and state at the layer's tensors. */
    LayerPass pass(int d) {
        return passes[d];
    }

    /** 1, or 2 for a bidirectional layer. */
    public int count() {
        return count;
    }

    public int layer() {
        return layer;
    }

    /** Row-steps one direction runs: the sum over its segments of steps × rows. */
    public long rowSteps() {
        long sum = 0;
        for (int k = 0; k < schedule.segments(); k++) {
            sum += (long) schedule.segmentSteps(k) * schedule.segmentRows(k);
        }
        return sum;
    }

    /**
     * Whether threads other than the caller may touch every tensor the directions read and write:
     * false when one of them is in a confined arena (only its owner thread may access it).
     */
    public boolean sharedMemory() {
        for (int d = 0; d < count; d++) {
            LayerPass pass = passes[d];
            if (!TensorChecks.sharedAcrossThreads(pass.input.data())
                    || !TensorChecks.sharedAcrossThreads(pass.output.data())
                    || !TensorChecks.sharedAcrossThreads(pass.h()) || !TensorChecks.sharedAcrossThreads(pass.c())) {
                return false;
            }
        }
        return true;
    }

    /** Computes every direction, one after the other. */
    public void runAll() {
        for (int d = 0; d < count; d++) {
            run(d);
        }
    }

    /** Computes direction d: its segments in its order, each one {@code computeSegment} of the kernel. */
    public void run(int d) {
        LayerPass pass = passes[d];
        int segments = schedule.segments();
        for (int i = 0; i < segments; i++) {
            int k = d == 0 ? i : segments - 1 - i;
            pass.set(layer, d, schedule.segmentStart(k), schedule.segmentSteps(k), schedule.segmentRows(k), tape);
            kernel.computeSegment(pass);
        }
    }
}
