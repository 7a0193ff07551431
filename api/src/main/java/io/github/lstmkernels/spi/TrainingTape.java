package io.github.lstmkernels.spi;

import io.github.lstmkernels.LstmGradients;
import java.lang.foreign.MemorySegment;

/**
 * What a backend keeps from a training forward pass for its backward pass (activations, states,
 * native workspaces) and the parameter-gradient accumulators it fills during the backward pass.
 * Each backend extends it with its own layout; the walk only sizes, hands over and closes it.
 * Owned by one {@code LstmTraining}, so used by one thread at a time.
 */
public abstract class TrainingTape implements AutoCloseable {

    /** Makes room for a forward pass of this shape; memory grows to the largest shape seen and stays. */
    protected abstract void ensure(int seqLen, int batch);

    /** Bytes held for a forward pass of this shape (after {@link #ensure} of it). */
    protected abstract long bytesFor(int seqLen, int batch);

    /** Sets the parameter-gradient accumulators to 0, before a backward pass. */
    protected abstract void clearGradients();

    /**
     * Hands the accumulated parameter gradients to the caller, in PyTorch's names and layouts,
     * through a {@link GradientExport} (it overwrites or adds, as the caller chose).
     */
    protected abstract void exportGradients(LstmGradients gradients);

    /**
     * A buffer of {@code floats} float32 for the training walk (layer inputs, states, gradients),
     * replacing {@code replaced} (null, or a buffer of this tape's that is too small and no longer
     * used). Heap by default; a native backend returns memory of its own that it frees when the
     * buffer is replaced or the tape is closed, so that a training state's memory goes with it.
     */
    protected MemorySegment newBuffer(MemorySegment replaced, long floats) {
        return MemorySegment.ofArray(new float[Math.toIntExact(floats)]);
    }

    /** Frees native memory, if any. */
    @Override
    public void close() {
    }
}
