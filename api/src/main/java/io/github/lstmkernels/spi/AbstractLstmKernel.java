package io.github.lstmkernels.spi;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The part of a kernel that is the same for every backend: argument checks (all of them, before
 * anything is written), the {@code float[]} forms, and a close that is idempotent and waits for
 * calls in flight, so native memory is never freed under a running call. A backend implements
 * {@link #computeSequence} and {@link #release} and receives only checked arguments.
 */
public abstract class AbstractLstmKernel implements LstmKernel {
    protected final LstmConfig config;
    private final String backendName;
    private final AtomicInteger callsInFlight = new AtomicInteger();
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
        enter();
        try {
            TensorChecks.checkStep(config, batch, x, y, h, c);
            computeStep(batch, x, y, h, c);
        } finally {
            exit();
        }
    }

    @Override
    public final void step(int batch, float[] x, float[] y, float[] h, float[] c) {
        step(batch, heap(x), heap(y), heap(h), heap(c));
    }

    @Override
    public final void sequence(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment h,
                               MemorySegment c) {
        enter();
        try {
            TensorChecks.checkSequence(config, seqLen, batch, x, y, h, c);
            computeSequence(seqLen, batch, x, y, h, c);
        } finally {
            exit();
        }
    }

    @Override
    public final void sequence(int seqLen, int batch, float[] x, float[] y, float[] h, float[] c) {
        sequence(seqLen, batch, heap(x), heap(y), heap(h), heap(c));
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
     * One step with checked arguments ({@code x [B, I]}, {@code y [B, H]}). The default runs a
     * one-step sequence, which has the same memory layout.
     */
    protected void computeStep(int batch, MemorySegment x, MemorySegment y, MemorySegment h, MemorySegment c) {
        computeSequence(1, batch, x, y, h, c);
    }

    /** A sequence with checked arguments: every size right, outputs writable and disjoint from inputs. */
    protected abstract void computeSequence(int seqLen, int batch, MemorySegment x, MemorySegment y,
                                            MemorySegment h, MemorySegment c);

    /** Frees what the kernel holds. Called once, after every call in flight has returned. */
    protected abstract void release();

    private void enter() {
        callsInFlight.incrementAndGet();
        if (closed) {
            callsInFlight.decrementAndGet();
            throw new IllegalStateException(backendName + " kernel for " + config + " is closed");
        }
    }

    private void exit() {
        callsInFlight.decrementAndGet();
    }

    /** A null stays null, so the segment form reports it after the closed check, like every other mistake. */
    private static MemorySegment heap(float[] array) {
        return array == null ? null : MemorySegment.ofArray(array);
    }
}
