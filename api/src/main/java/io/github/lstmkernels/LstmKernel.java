package io.github.lstmkernels;

import java.lang.foreign.MemorySegment;

/**
 * A layer stack prepared by one backend: weights packed, native primitives created. Obtain it
 * from {@code backend.prepare(config, weights)} or {@link LstmKernels#prepare}, call it as often
 * as you like, close it when done.
 *
 * <p>Tensors are native-order float32, row-major, with exactly the element count their shape
 * needs ({@code B} is the batch size, {@code T} the number of steps, {@code L} the layers,
 * {@code I} the input size, {@code H} the hidden size):
 * <ul>
 *   <li>{@code x}: {@code [T, B, I]}, or {@code [B, T, I]} when the configuration is batch-first;
 *       for {@code step}, {@code [B, I]}.</li>
 *   <li>{@code y}: the last layer's {@code h} at every step, {@code [T, B, H]} or {@code [B, T, H]};
 *       for {@code step}, {@code [B, H]}.</li>
 *   <li>{@code h}, {@code c}: {@code [L, B, H]}, PyTorch's {@code h_n} layout (batch-first does not
 *       change it). In and out: the initial state on entry (zeros for PyTorch's {@code hx=None}),
 *       the final state on return.</li>
 * </ul>
 *
 * <p>Every call validates everything before it writes anything: a wrong size, a null, a read-only
 * or overlapping output, or a closed kernel throws ({@link IllegalArgumentException},
 * {@link NullPointerException}, {@link IllegalStateException}) and leaves {@code y}, {@code h} and
 * {@code c} untouched. NaN and infinity are not errors; they propagate as IEEE arithmetic makes
 * them.
 *
 * <p>A kernel is safe to call from many threads at once, each with its own tensors; the results
 * equal single-threaded ones bit for bit. Steady-state calls allocate nothing on the Java heap.
 * After {@link #close()} every call throws {@link IllegalStateException}; close waits for calls in
 * flight and is idempotent.
 */
public interface LstmKernel extends AutoCloseable {

    /** The configuration this kernel was prepared for. */
    LstmConfig config();

    /** The name of the backend that computes it. */
    String backendName();

    /** One time step through all layers: {@code x [B, I]} → {@code y [B, H]}, {@code h}, {@code c} advanced in place. */
    void step(int batch, MemorySegment x, MemorySegment y, MemorySegment h, MemorySegment c);

    /** {@link #step(int, MemorySegment, MemorySegment, MemorySegment, MemorySegment)} on heap arrays. */
    void step(int batch, float[] x, float[] y, float[] h, float[] c);

    /** {@code seqLen} steps through all layers; equals {@code seqLen} step calls up to rounding. */
    void sequence(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment h, MemorySegment c);

    /** {@link #sequence(int, int, MemorySegment, MemorySegment, MemorySegment, MemorySegment)} on heap arrays. */
    void sequence(int seqLen, int batch, float[] x, float[] y, float[] h, float[] c);

    /** Frees what {@code prepare} built. Idempotent; later calls throw {@link IllegalStateException}. */
    @Override
    void close();
}
