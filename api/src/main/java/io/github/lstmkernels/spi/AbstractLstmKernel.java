package io.github.lstmkernels.spi;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.UnsupportedFeatureException;
import java.lang.foreign.MemorySegment;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The part of a kernel that is the same for every backend: argument checks (all of them, before
 * anything is written), the {@code float[]} and GRU forms, the walk over layers, directions and
 * lengths ({@link NetworkWalk}), and a close that is idempotent and waits for calls in flight, so
 * native memory is never freed under a running call.
 *
 * <p>A backend implements {@link #computeSegment} (one direction of one layer over a run of steps
 * for a prefix of the batch), optionally {@link #computeLayer} (a whole layer in one call, when its
 * library does that better) or {@link #computeDirections} (to run a layer's directions side by
 * side), and {@link #release}.
 */
public abstract class AbstractLstmKernel implements LstmKernel {
    protected final LstmConfig config;
    private final String backendName;
    private final AtomicInteger callsInFlight = new AtomicInteger();
    /**
     * The walk's workspaces (schedule, pass, buffers from {@link #newBuffer}), taken for a call and
     * given back after it, like a backend's per-run resources: they follow the calls in flight, not
     * the threads that ever called. Per thread they would not die with the thread when their
     * buffers are native memory the kernel frees only at {@link #release} (onednn): every
     * short-lived thread calling once would leave its buffers behind until the kernel closed.
     * The array is the lock-free common case; more concurrent calls than it holds keep their
     * workspaces in {@link #spareWorkspaces}, so the kernel holds as many workspaces as calls ever
     * ran at once, each grown to the largest call it served.
     */
    private final AtomicReferenceArray<NetworkWalk.Workspace> idleWorkspaces =
            new AtomicReferenceArray<>(Math.max(4, 2 * Runtime.getRuntime().availableProcessors()));
    private final Queue<NetworkWalk.Workspace> spareWorkspaces = new ConcurrentLinkedQueue<>();
    private volatile boolean closed;

    protected AbstractLstmKernel(String backendName, LstmConfig config) {
        this.backendName = backendName;
        this.config = config;
    }

    @Override
    public final LstmConfig config() {
        return config;
    }

    @Override
    public final String backendName() {
        return backendName;
    }

    @Override
    public final void step(int batch, MemorySegment x, MemorySegment y, MemorySegment h, MemorySegment c) {
        call(1, batch, null, x, y, h, c, false, false);
    }

    @Override
    public final void step(int batch, float[] x, float[] y, float[] h, float[] c) {
        step(batch, heap(x), heap(y), heap(h), heap(c));
    }

    @Override
    public final void sequence(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment h,
                               MemorySegment c) {
        call(seqLen, batch, null, x, y, h, c, true, false);
    }

    @Override
    public final void sequence(int seqLen, int batch, float[] x, float[] y, float[] h, float[] c) {
        sequence(seqLen, batch, heap(x), heap(y), heap(h), heap(c));
    }

    @Override
    public final void sequence(int seqLen, int batch, int[] lengths, MemorySegment x, MemorySegment y,
                               MemorySegment h, MemorySegment c) {
        call(seqLen, batch, lengths, x, y, h, c, true, false);
    }

    @Override
    public final void sequence(int seqLen, int batch, int[] lengths, float[] x, float[] y, float[] h, float[] c) {
        sequence(seqLen, batch, lengths, heap(x), heap(y), heap(h), heap(c));
    }

    @Override
    public final void step(int batch, MemorySegment x, MemorySegment y, MemorySegment h) {
        call(1, batch, null, x, y, h, null, false, true);
    }

    @Override
    public final void step(int batch, float[] x, float[] y, float[] h) {
        step(batch, heap(x), heap(y), heap(h));
    }

    @Override
    public final void sequence(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment h) {
        call(seqLen, batch, null, x, y, h, null, true, true);
    }

    @Override
    public final void sequence(int seqLen, int batch, float[] x, float[] y, float[] h) {
        sequence(seqLen, batch, heap(x), heap(y), heap(h));
    }

    private void call(int seqLen, int batch, int[] lengths, MemorySegment x, MemorySegment y, MemorySegment h,
                      MemorySegment c, boolean sequence, boolean withoutCellState) {
        enter();
        try {
            checkCellState(c, withoutCellState);
            TensorChecks.checkCall(config, seqLen, batch, x, y, h, c, sequence);
            NetworkWalk.Workspace ws = takeWorkspace();
            try {
                ws.schedule.load(lengths, seqLen, batch);
                NetworkWalk.run(this, ws, seqLen, batch, x, y, h, c);
            } finally {
                giveBack(ws);
            }
        } finally {
            exit();
        }
    }

    /** An idle workspace, or a new one: a scan and a CAS on a fixed array, no allocation in the common case. */
    private NetworkWalk.Workspace takeWorkspace() {
        for (int i = 0; i < idleWorkspaces.length(); i++) {
            NetworkWalk.Workspace ws = idleWorkspaces.get(i);
            if (ws != null && idleWorkspaces.compareAndSet(i, ws, null)) {
                return ws;
            }
        }
        NetworkWalk.Workspace spare = spareWorkspaces.poll();
        return spare != null ? spare : new NetworkWalk.Workspace();
    }

    private void giveBack(NetworkWalk.Workspace ws) {
        for (int i = 0; i < idleWorkspaces.length(); i++) {
            if (idleWorkspaces.get(i) == null && idleWorkspaces.compareAndSet(i, null, ws)) {
                return;
            }
        }
        spareWorkspaces.add(ws);
    }

    /** An LSTM needs its cell state, a GRU has none. */
    void checkCellState(MemorySegment c, boolean withoutCellState) {
        if (config.cell() == CellType.LSTM && withoutCellState) {
            throw new IllegalArgumentException("c: an LSTM needs its cell state c [L·D, B, H]; call the form with c");
        }
        if (config.cell() == CellType.GRU && c != null) {
            throw new IllegalArgumentException("c: a GRU has no cell state; call the form without c (or pass null)");
        }
    }

    @Override
    public final LstmTraining newTraining() {
        enter();
        try {
            return new KernelTraining(this, newTape());
        } finally {
            exit();
        }
    }

    @Override
    public final void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        // A call that incremented the counter before it saw 'closed' is still running: let it finish.
        while (callsInFlight.get() != 0) {
            Thread.onSpinWait();
        }
        release();
    }

    /**
     * Runs one direction of one layer over the steps, rows and state the pass names (see
     * {@link LayerPass}). Arguments are checked; the state is read at the start and written at
     * the end; output rows of the pass's steps and rows are written, no others.
     */
    protected abstract void computeSegment(LayerPass pass);

    /**
     * Runs a whole layer, every direction, all steps and rows, in one call, or returns false to
     * have the walk call {@link #computeSegment} per direction. Only offered without lengths.
     */
    protected boolean computeLayer(LayerPass pass) {
        return false;
    }

    /**
     * Runs the directions of one layer ({@link LayerDirections#run}, each over all its segments),
     * in training mode too. They share only the layer's input, which neither writes, so a backend
     * with threads to spare may run them at once; the default runs them one after the other.
     */
    protected void computeDirections(LayerDirections layer) {
        layer.runAll();
    }

    /**
     * A backend's record of a training forward pass, for its backward pass; the default refuses:
     * this backend has no backward pass.
     */
    protected TrainingTape newTape() {
        throw new UnsupportedFeatureException(backendName, Feature.BACKWARD);
    }

    /**
     * The backward pass of one {@link #computeSegment} run in training mode (see
     * {@link BackwardPass}). Called only on kernels whose {@link #newTape} succeeded.
     */
    protected void computeSegmentBackward(BackwardPass pass) {
        throw new UnsupportedFeatureException(backendName, Feature.BACKWARD);
    }

    /**
     * A buffer of {@code floats} float32 for the walk (between layers, sorted copies): heap by
     * default; a native backend returns off-heap memory it frees in {@link #release}.
     */
    protected MemorySegment newBuffer(long floats) {
        return MemorySegment.ofArray(new float[Math.toIntExact(floats)]);
    }

    /** Frees what the kernel holds. Called once, after every call in flight has returned. */
    protected abstract void release();

    void enter() {
        callsInFlight.incrementAndGet();
        if (closed) {
            callsInFlight.decrementAndGet();
            throw new IllegalStateException(backendName + " kernel for " + config + " is closed");
        }
    }

    void exit() {
        callsInFlight.decrementAndGet();
    }

    /** A null stays null, so the segment form reports it after the closed check, like every other mistake. */
    static MemorySegment heap(float[] array) {
        return array == null ? null : MemorySegment.ofArray(array);
    }
}
