package io.github.lstmkernels;

import java.lang.foreign.MemorySegment;

/**
 * Training on a prepared kernel: a forward pass that keeps what the backward pass needs, then the
 * backward pass, which writes the gradients PyTorch's autograd gives for
 * {@code loss = Σ y ⊙ gradY + Σ h_n ⊙ gradHn (+ Σ c_n ⊙ gradCn)}:
 * {@code gradX}, {@code gradH0}, {@code gradC0} (LSTM) and every parameter's gradient, in an
 * {@link LstmGradients}. Obtain one from {@link LstmKernel#newTraining()}; it is owned by the
 * caller, reused across calls (its memory grows to the largest call shape and stays), used by one
 * thread at a time (many threads may train on one kernel, each with its own), and closed when
 * done.
 *
 * <p>Tensors and lengths are laid out as for {@link LstmKernel#sequence}. Gradient tensors have the
 * shape of what they are the gradient of: {@code gradY} like y, {@code gradHn}/{@code gradH0} like
 * h, {@code gradCn}/{@code gradC0} like c (null for a GRU), {@code gradX} like x. With lengths,
 * {@code gradY} at padded positions contributes nothing and {@code gradX} there is 0. Every
 * argument is checked before anything is written; {@link #backward} needs a {@link #forward} of the
 * same shape before it (and consumes it: a second backward needs a new forward).
 */
public interface LstmTraining extends AutoCloseable {

    /** The forward pass of {@link LstmKernel#sequence}, keeping what {@link #backward} needs. */
    void forward(int seqLen, int batch, int[] lengths, MemorySegment x, MemorySegment y, MemorySegment h,
                 MemorySegment c);

    void forward(int seqLen, int batch, int[] lengths, float[] x, float[] y, float[] h, float[] c);

    /** The gradients of the last forward pass (see the class comment); {@code gradCn}, {@code gradC0} null for a GRU. */
    void backward(MemorySegment gradY, MemorySegment gradHn, MemorySegment gradCn, MemorySegment gradX,
                  MemorySegment gradH0, MemorySegment gradC0, LstmGradients gradients);

    void backward(float[] gradY, float[] gradHn, float[] gradCn, float[] gradX, float[] gradH0, float[] gradC0,
                  LstmGradients gradients);

    /**
     * Bytes this object holds for a forward pass of this shape (what it keeps for the backward
     * pass: every layer's input and, per step and row, the cell's activations and states).
     */
    long bytesFor(int seqLen, int batch);

    /** Frees what it holds. Idempotent. */
    @Override
    void close();
}
