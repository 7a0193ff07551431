package io.github.lstmkernels.onednn;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.AbstractLstmKernel;
import io.github.lstmkernels.spi.BackwardPass;
import io.github.lstmkernels.spi.LayerPass;
import io.github.lstmkernels.spi.SequenceView;
import io.github.lstmkernels.spi.TrainingTape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A network run by oneDNN's forward-inference RNN primitives: LSTM (with projection when
 * {@code proj_size} is set) or the linear-before-reset GRU, which is PyTorch's GRU.
 *
 * <p>oneDNN's model, kept here: descriptor → primitive created once → executed many times. The
 * weights are packed once into oneDNN's user layouts ({@link NativeWeights}). The first run of a
 * shape builds a {@link ShapePlan} (a primitive per layer) and caches it. The shared walk drives
 * the runs:
 * <ul>
 *   <li>without lengths, {@link #computeLayer}: one execution per layer, both directions in one
 *       {@code bidirectional_concat} primitive, on the caller's tensors (batch-first included);</li>
 *   <li>with lengths, {@link #computeSegment}: one execution per segment of constant active rows
 *       and direction, left to right or right to left, on the walk's sorted time-major buffers in
 *       place (strided descriptors); the state is carried from segment to segment through the
 *       walk's state rows.</li>
 * </ul>
 * Each run in flight has its own stream, scratchpad, memory objects and staging buffers
 * ({@link ThreadResources}, pooled), so primitives are shared and nothing mutable is.
 *
 * <p>Training: the shared training walk runs every layer through {@link #computeSegment} (one
 * segment without lengths) with a tape ({@link OneDnnTape}); those runs use training plans, whose
 * forward primitive is {@code forward_training} and leaves its workspace and states in the tape.
 * {@link #computeSegmentBackward} runs the matching backward primitive on them, in the reverse
 * order the walk gives.
 */
final class OneDnnLstmKernel extends AbstractLstmKernel {
    /**
     * Plans kept per kernel. A call with lengths runs one plan per distinct (segment steps, active
     * rows) and direction: up to 2·min(B, T) plans. 128 holds every segment of a bidirectional
     * call with up to 64 distinct lengths (shape h of DESIGN §9, B = 32, needs at most 64), so a
     * repeated call of that kind finds all its plans instead of evicting the ones it is about to
     * use (eviction is oldest-first: a call needing more plans than the cache holds rebuilds every
     * one of them). The cost is memory: the weights are shared ({@link NativeWeights}), but each
     * primitive holds its JIT-compiled kernels, about 0.3 MB per layer measured on AVX-512, so a full
     * cache is some 40 MB per layer. oneDNN's own process-wide primitive cache (1024 entries by
     * default) keeps more of the same, which makes re-creating an evicted plan cheaper.
     */
    static final int MAX_PLANS = 128;

    private final Dnnl dnnl;
    private final MemorySegment engine;
    private final int threads;
    private final int layers;
    private final int hidden;
    private final int hout;
    private final int directions;
    private final boolean gru;
    private final NativeWeights weights;
    /** The walk's buffers (between layers, sorted copies), off-heap so oneDNN reads them in place. */
    private final Arena buffersArena = Arena.ofShared();
    private final AtomicLong walkBufferBytes = new AtomicLong();

    private final Object planLock = new Object();
    /** Most recently created first; replaced as a whole (copy on write), so lookups need no lock. */
    private volatile ShapePlan[] plans = new ShapePlan[0];
    /** Idle run resources, at most twice the processors (more concurrent runs create and free extra sets). */
    private final AtomicReferenceArray<ThreadResources> idleResources =
            new AtomicReferenceArray<>(Math.max(4, 2 * Runtime.getRuntime().availableProcessors()));
    /** Every set not yet freed, for {@link #release}. */
    private final Queue<ThreadResources> allThreadResources = new ConcurrentLinkedQueue<>();

    OneDnnLstmKernel(Dnnl dnnl, MemorySegment engine, LstmConfig config, LstmWeights weights, int threads) {
        super(OneDnnBackend.NAME, config);
        this.dnnl = dnnl;
        this.engine = engine;
        this.threads = threads;
        this.layers = config.numLayers();
        this.hidden = config.hiddenSize();
        this.hout = config.outputSize();
        this.directions = config.numDirections();
        this.gru = config.cell() == CellType.GRU;
        this.weights = new NativeWeights(dnnl, engine, config, weights);
    }

    @Override
    protected boolean computeLayer(LayerPass pass) {
        int seqLen = pass.steps();
        int batch = pass.rows();
        ShapePlan plan = acquirePlan(seqLen, batch, LayerPass.ALL_DIRECTIONS, batch, false);
        try {
            long rows = (long) seqLen * batch;
            // The whole input and output tensors; the state of every direction, [D, B, ·] back to back (ldnc).
            run(plan, pass, null, 0, 4L * rows * config.layerInputSize(pass.layer()), 0, 4L * rows * directions * hout,
                    4L * rows * directions * hout, 4L * directions * batch * hout, 4L * directions * batch * hidden);
        } finally {
            plan.release();
        }
        return true;
    }

    @Override
    protected void computeSegment(LayerPass pass) {
        SequenceView in = pass.input();
        SequenceView out = pass.output();
        if (in.batchFirst() || out.batchFirst()) {
            // The plans describe [T, B, ·] strides; the walk runs segments on its own time-major buffers.
            throw new IllegalStateException("onednn runs segments on time-major buffers only");
        }
        int steps = pass.steps();
        int rows = pass.rows();
        int first = pass.firstStep();
        int last = first + steps - 1;
        OneDnnTape tape = (OneDnnTape) pass.tape();
        ShapePlan plan = acquirePlan(steps, rows, pass.direction(), in.batch(), tape != null);
        try {
            // The span from the segment's first row to its last; rows of other sequences (past `rows`) lie in between.
            long inFrom = 4L * in.row(first, 0);
            long inTo = 4L * (in.row(last, rows - 1) + config.layerInputSize(pass.layer()));
            long outFrom = 4L * out.row(first, 0);
            long outTo = 4L * (out.row(last, rows - 1) + hout);
            run(plan, pass, tape, inFrom, inTo - inFrom, outFrom, outTo - outFrom, 4L * steps * rows * hout,
                    4L * rows * hout, 4L * rows * hidden);
        } finally {
            plan.release();
        }
    }

    /**
     * Executes the plan's primitive of the pass's layer. Input and output are the byte spans
     * {@code [from, from + bytes)} of the pass's tensors; {@code outWritten} of the output span's
     * bytes are oneDNN's to write. The state is read from the pass's h/c rows and written back
     * ({@code cBytes} is ignored for a GRU). With a tape (a training plan's segment), the run leaves
     * its record there.
     */
    private void run(ShapePlan plan, LayerPass pass, OneDnnTape tape, long inFrom, long inBytes, long outFrom,
                     long outBytes, long outWritten, long hBytes, long cBytes) {
        MemorySegment input = pass.input().data();
        MemorySegment output = pass.output().data();
        long hFrom = 4L * pass.hRow(0);
        long cFrom = gru ? 0 : 4L * pass.cRow(0);
        // oneDNN gets raw addresses and checks nothing: every span is checked here, so a wrong one is an
        // exception, never a crash.
        checkSpan(input, inFrom, inBytes, "input");
        checkSpan(output, outFrom, outBytes, "output");
        checkSpan(pass.h(), hFrom, hBytes, "h");
        if (!gru) {
            checkSpan(pass.c(), cFrom, cBytes, "c");
        }

        if (tape != null) {
            tape.enter();
        }
        ThreadResources thread = acquireResources();
        try {
            runOn(thread, plan, pass, tape, input, output, inFrom, inBytes, outFrom, outBytes, outWritten, hFrom,
                    hBytes, cFrom, cBytes);
        } finally {
            releaseResources(thread);
            if (tape != null) {
                tape.exit();
            }
        }
    }

    private void runOn(ThreadResources thread, ShapePlan plan, LayerPass pass, OneDnnTape tape, MemorySegment input,
                       MemorySegment output, long inFrom, long inBytes, long outFrom, long outBytes, long outWritten,
                       long hFrom, long hBytes, long cFrom, long cBytes) {
        ThreadResources.PlanMemories memories = thread.memoriesFor(plan);
        thread.ensureStaging(inBytes, outBytes, hBytes, gru ? 0 : cBytes, plan.scratchpadBytes());
        // Only memory this kernel owns (the walk's buffers) is handed to oneDNN by address. Caller
        // tensors — heap arrays the GC may move, or off-heap segments whose arena another thread may
        // close during the call — go through native staging with the JDK's checked copies: a
        // concurrent close then fails a copy with IllegalStateException, never a native read of
        // freed memory.
        long src = nativeAddress(input, inFrom, inBytes, thread.x, tape);
        long h = nativeAddress(pass.h(), hFrom, hBytes, thread.hIn, tape);
        long c = gru ? 0 : nativeAddress(pass.c(), cFrom, cBytes, thread.cIn, tape);
        long dst;
        boolean outputOwned = owned(output, tape);
        if (outputOwned) {
            dst = output.address() + outFrom;
        } else {
            if (outWritten < outBytes) {
                // oneDNN writes some rows and columns of the span only; the staged span is copied back whole.
                MemorySegment.copy(output, outFrom, thread.y, 0, outBytes);
            }
            dst = thread.y.address();
        }
        int layer = pass.layer();
        long record = -1;
        long workspace = 0;
        if (tape != null) {
            // The backward run reads the workspace and both states again: keep them in the tape.
            workspace = plan.workspaceBytes(layer);
            record = tape.newRecord(layer, pass.direction(), pass.firstStep(), tape.recordBytes(workspace, pass.rows()));
            MemorySegment.copy(pass.h(), hFrom, tape.records(), record + OneDnnTape.h0At(workspace), hBytes);
            if (!gru) {
                MemorySegment.copy(pass.c(), cFrom, tape.records(), record + tape.c0At(workspace, pass.rows()), cBytes);
            }
        }
        memories.bind(layer, src, h, dst, thread.hOut.address(), c, thread.cOut.address(),
                thread.scratchpad.address());
        if (tape != null) {
            memories.set(layer, Dnnl.ARG_WORKSPACE, tape.records().address() + record);
        }
        dnnl.execute(plan.primitive(layer), thread.stream, memories.argCount(), memories.args(layer));
        dnnl.streamWait(thread.stream);

        if (!outputOwned) {
            MemorySegment.copy(thread.y, 0, output, outFrom, outBytes);
        }
        // dst_iter went to staging, not over src_iter: oneDNN reads h while writing it.
        MemorySegment.copy(thread.hOut, 0, pass.h(), hFrom, hBytes);
        if (!gru) {
            MemorySegment.copy(thread.cOut, 0, pass.c(), cFrom, cBytes);
        }
        if (tape != null) {
            MemorySegment.copy(thread.hOut, 0, tape.records(), record + tape.hNAt(workspace, pass.rows()), hBytes);
            if (!gru) {
                MemorySegment.copy(thread.cOut, 0, tape.records(), record + tape.cNAt(workspace, pass.rows()), cBytes);
            }
        }
    }

    @Override
    protected TrainingTape newTape() {
        return new OneDnnTape(this, config);
    }

    /**
     * The backward run of one forward segment run: the training plan's backward primitive on the
     * tape's record of that run. The layer input, the forward output and the output gradient are
     * read in place (the walk's time-major buffers, same strided descriptors as the forward); dh/dc
     * are staged in and out (oneDNN reads diff_dst_iter while it writes diff_src_iter); the input
     * gradient comes out dense and is added to the walk's buffer, where the other direction adds too.
     */
    @Override
    protected void computeSegmentBackward(BackwardPass pass) {
        OneDnnTape tape = (OneDnnTape) pass.tape();
        SequenceView in = pass.input();
        SequenceView out = pass.output();
        SequenceView gradOut = pass.gradOutput();
        SequenceView gradIn = pass.gradInput();
        if (in.batchFirst() || out.batchFirst() || gradOut.batchFirst() || gradIn.batchFirst()) {
            throw new IllegalStateException("onednn runs segments on time-major buffers only");
        }
        int layer = pass.layer();
        int inSize = config.layerInputSize(layer);
        int steps = pass.steps();
        int rows = pass.rows();
        int first = pass.firstStep();
        int last = first + steps - 1;
        ShapePlan plan = acquirePlan(steps, rows, pass.direction(), in.batch(), true);
        try {
            long inFrom = 4L * in.row(first, 0);
            long inBytes = 4L * (in.row(last, rows - 1) + inSize) - inFrom;
            long outFrom = 4L * out.row(first, 0);
            long outBytes = 4L * (out.row(last, rows - 1) + hout) - outFrom;
            long gradOutFrom = 4L * gradOut.row(first, 0);
            long gradOutBytes = 4L * (gradOut.row(last, rows - 1) + hout) - gradOutFrom;
            long gradInFrom = 4L * gradIn.row(first, 0);
            long gradInBytes = 4L * (gradIn.row(last, rows - 1) + inSize) - gradInFrom;
            long dhFrom = 4L * pass.dhRow(0);
            long hBytes = 4L * rows * hout;
            long dcFrom = gru ? 0 : 4L * pass.dcRow(0);
            long cBytes = 4L * rows * hidden;
            checkSpan(in.data(), inFrom, inBytes, "input");
            checkSpan(out.data(), outFrom, outBytes, "output");
            checkSpan(gradOut.data(), gradOutFrom, gradOutBytes, "output gradient");
            checkSpan(gradIn.data(), gradInFrom, gradInBytes, "input gradient");
            if (gradIn.stride() != inSize || gradIn.column() != 0) {
                throw new IllegalStateException("onednn adds the input gradient to dense [T, B, I] rows");
            }
            checkSpan(pass.dh(), dhFrom, hBytes, "dh");
            if (!gru) {
                checkSpan(pass.dc(), dcFrom, cBytes, "dc");
            }
            tape.enter();
            ThreadResources thread = acquireResources();
            try {
                long dxBytes = 4L * steps * rows * inSize;
                thread.ensureStaging(inBytes, outBytes, hBytes, gru ? 0 : cBytes, plan.scratchpadBytes(), gradOutBytes,
                        dxBytes);
                runBackwardOn(thread, plan, pass, tape, inFrom, inBytes, outFrom, outBytes, gradOutFrom, gradOutBytes,
                        dhFrom, hBytes, dcFrom, cBytes);
                addInputGradient(thread.dx, gradIn, first, steps, (long) rows * inSize);
            } finally {
                releaseResources(thread);
                tape.exit();
            }
        } finally {
            plan.release();
        }
    }

    private void runBackwardOn(ThreadResources thread, ShapePlan plan, BackwardPass pass, OneDnnTape tape,
                               long inFrom, long inBytes, long outFrom, long outBytes, long gradOutFrom,
                               long gradOutBytes, long dhFrom, long hBytes, long dcFrom, long cBytes) {
        int layer = pass.layer();
        int direction = pass.direction();
        int rows = pass.rows();
        ThreadResources.PlanMemories memories = thread.memoriesFor(plan, true);
        long workspace = plan.workspaceBytes(layer);
        long record = tape.records().address() + tape.recordOffset(layer, direction, pass.firstStep());
        MemorySegment.copy(pass.dh(), dhFrom, thread.hIn, 0, hBytes);
        memories.set(layer, Dnnl.ARG_SRC_LAYER, nativeAddress(pass.input().data(), inFrom, inBytes, thread.x, tape));
        memories.set(layer, Dnnl.ARG_DST_LAYER, nativeAddress(pass.output().data(), outFrom, outBytes, thread.y, tape));
        memories.set(layer, Dnnl.ARG_DIFF_DST_LAYER,
                nativeAddress(pass.gradOutput().data(), gradOutFrom, gradOutBytes, thread.dy, tape));
        memories.set(layer, Dnnl.ARG_SRC_ITER, record + OneDnnTape.h0At(workspace));
        memories.set(layer, Dnnl.ARG_DST_ITER, record + tape.hNAt(workspace, rows));
        memories.set(layer, Dnnl.ARG_WORKSPACE, record);
        memories.set(layer, Dnnl.ARG_DIFF_SRC_LAYER, thread.dx.address());
        memories.set(layer, Dnnl.ARG_DIFF_SRC_ITER, thread.hOut.address());
        memories.set(layer, Dnnl.ARG_DIFF_DST_ITER, thread.hIn.address());
        memories.set(layer, Dnnl.ARG_DIFF_WEIGHTS_LAYER, tape.diffWeightsLayer(layer, direction).address());
        memories.set(layer, Dnnl.ARG_DIFF_WEIGHTS_ITER, tape.diffWeightsIter(layer, direction).address());
        memories.set(layer, Dnnl.ARG_DIFF_BIAS, tape.diffBias(layer, direction).address());
        if (!gru) {
            MemorySegment.copy(pass.dc(), dcFrom, thread.cIn, 0, cBytes);
            memories.set(layer, Dnnl.ARG_SRC_ITER_C, record + tape.c0At(workspace, rows));
            memories.set(layer, Dnnl.ARG_DST_ITER_C, record + tape.cNAt(workspace, rows));
            memories.set(layer, Dnnl.ARG_DIFF_SRC_ITER_C, thread.cOut.address());
            memories.set(layer, Dnnl.ARG_DIFF_DST_ITER_C, thread.cIn.address());
        }
        if (weights.hasProjection()) {
            memories.set(layer, Dnnl.ARG_DIFF_WEIGHTS_PROJECTION, tape.diffProjection(layer, direction).address());
        }
        memories.setScratchpad(layer, thread.scratchpad.address());
        dnnl.execute(plan.backwardPrimitive(layer), thread.stream, memories.argCount(), memories.args(layer));
        dnnl.streamWait(thread.stream);

        MemorySegment.copy(thread.hOut, 0, pass.dh(), dhFrom, hBytes);
        if (!gru) {
            MemorySegment.copy(thread.cOut, 0, pass.dc(), dcFrom, cBytes);
        }
    }

    /** gradIn[t, 0 .. rows) += dx[t − first] for each step: oneDNN's dense diff_src_layer into the walk's rows. */
    private static void addInputGradient(MemorySegment dx, SequenceView gradIn, int first, int steps, long floatsPerStep) {
        MemorySegment into = gradIn.data();
        for (int s = 0; s < steps; s++) {
            long to = 4L * gradIn.row(first + s, 0);
            long from = 4L * s * floatsPerStep;
            for (long k = 0; k < 4 * floatsPerStep; k += 4) {
                into.set(FLOAT, to + k, into.get(FLOAT, to + k) + dx.get(FLOAT, from + k));
            }
        }
    }

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Bytes of the workspace a training run of the whole shape fills for layer l (for the tape's size). */
    long trainingWorkspaceBytes(int seqLen, int batch, int layer, int direction) {
        ShapePlan plan = acquirePlan(seqLen, batch, direction, batch, true);
        try {
            return plan.workspaceBytes(layer);
        } finally {
            plan.release();
        }
    }

    private static void checkSpan(MemorySegment tensor, long from, long bytes, String name) {
        if (tensor == null || from < 0 || bytes < 0 || from > tensor.byteSize() - bytes) {
            throw new IllegalArgumentException(name + ": a run needs bytes [" + from + ", " + (from + bytes)
                    + ") but the tensor has " + (tensor == null ? "none" : tensor.byteSize()));
        }
    }

    @Override
    protected MemorySegment newBuffer(long floats) {
        walkBufferBytes.addAndGet(4L * floats);
        return buffersArena.allocate(4L * floats, 64);
    }

    /** Bytes of walk buffers this kernel has allocated (they live until close); for tests. */
    long walkBufferBytes() {
        return walkBufferBytes.get();
    }

    /**
     * Memory this kernel allocated and frees only after every call has returned, or the walk
     * buffers of the training state running the call (its tape frees them only after its runs).
     */
    private boolean owned(MemorySegment tensor, OneDnnTape tape) {
        return tensor.isNative() && (tensor.scope().equals(buffersArena.scope()) || tape != null && tape.owns(tensor));
    }

    private long nativeAddress(MemorySegment tensor, long offset, long bytes, MemorySegment staging, OneDnnTape tape) {
        if (owned(tensor, tape)) {
            return tensor.address() + offset;
        }
        MemorySegment.copy(tensor, offset, staging, 0, bytes);
        return staging.address();
    }

    /**
     * Resources for one run (stream, scratchpad, staging, memory objects): an idle set from the pool,
     * or a new one. They belong to the run, not to the calling thread, so native memory follows the
     * calls in flight: ten thousand short-lived threads calling once need one set, not ten thousand.
     * Taking and returning a set is a scan and a CAS on a fixed array: no allocation per call.
     */
    private ThreadResources acquireResources() {
        for (int i = 0; i < idleResources.length(); i++) {
            ThreadResources resources = idleResources.get(i);
            if (resources != null && idleResources.compareAndSet(i, resources, null)) {
                resources.useOnThisThread();
                return resources;
            }
        }
        ThreadResources resources = newThreadResources();
        allThreadResources.add(resources);
        return resources;
    }

    /** Back to the pool; when more runs were in flight than the pool holds, the extra set is freed. */
    private void releaseResources(ThreadResources resources) {
        for (int i = 0; i < idleResources.length(); i++) {
            if (idleResources.get(i) == null && idleResources.compareAndSet(i, null, resources)) {
                return;
            }
        }
        allThreadResources.remove(resources);
        resources.close();
    }

    /** Resources for the calling thread, owned by the caller (the kernel does not track them). */
    ThreadResources newThreadResources() {
        return new ThreadResources(dnnl, engine, layers, threads);
    }

    Dnnl dnnl() {
        return dnnl;
    }

    /** The whole-layer plan of a call without lengths, counted as in use until {@link ShapePlan#release()}. */
    ShapePlan acquireLayerPlan(int seqLen, int batch) {
        return acquirePlan(seqLen, batch, LayerPass.ALL_DIRECTIONS, batch, false);
    }

    /**
     * The cached plan of a shape (see {@link ShapePlan}), counted as in use until
     * {@link ShapePlan#release()}.
     */
    private ShapePlan acquirePlan(int steps, int rows, int direction, int batch, boolean training) {
        for (ShapePlan plan : plans) {
            if (plan.matches(steps, rows, direction, batch, training) && plan.tryAcquire()) {
                return plan;
            }
        }
        synchronized (planLock) {
            ShapePlan[] current = plans;
            for (ShapePlan plan : current) {
                if (plan.matches(steps, rows, direction, batch, training) && plan.tryAcquire()) {
                    return plan;
                }
            }
            ShapePlan plan = new ShapePlan(dnnl, engine, config, weights, steps, rows, direction, batch, training);
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
        weights.close();
        buffersArena.close();
    }
}
