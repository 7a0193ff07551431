package io.github.lstmkernels;

import java.lang.foreign.MemorySegment;

/**
 * A layer stack prepared by one backend: weights packed, native primitives created. Obtain it
 * from {@code backend.prepare(config, weights)} or {@link LstmKernels#prepare}, call it as often
 * as you like, close it when done.
 *
 * <p>Tensors are native-order float32, row-major, with exactly the element count their shape
 * needs ({@code B} batch, {@code T} steps, {@code L} layers, {@code D} directions (2 when
 * bidirectional), {@code I} input size, {@code H} hidden size, {@code Hout} the output size:
 * {@code proj_size} when the LSTM has a projection, else H):
 * <ul>
 *   <li>{@code x}: {@code [T, B, I]}, or {@code [B, T, I]} when the configuration is batch-first;
 *       for {@code step}, {@code [B, I]}.</li>
 *   <li>{@code y}: the last layer's output at every step, {@code [T, B, D·Hout]} or
 *       {@code [B, T, D·Hout]} (forward direction in the first Hout columns); for {@code step},
 *       {@code [B, D·Hout]}.</li>
 *   <li>{@code h}: {@code [L·D, B, Hout]}; {@code c} (LSTM only): {@code [L·D, B, H]}; row
 *       {@code l·D + d} is layer l, direction d, PyTorch's {@code h_n} layout (batch-first does not
 *       change it). In and out: the initial state on entry (zeros for PyTorch's {@code hx=None}),
 *       the final state on return.</li>
 *   <li>{@code lengths} (optional): {@code [B]}, each in {@code [1, T]}, any order: the semantics
 *       of {@code pack_padded_sequence}. Outputs past a row's length are 0, padded x has no
 *       effect, {@code h}/{@code c} end as the state after the row's last real step (forward) and
 *       after t = 0 (reverse, which starts at {@code lengths[b] − 1}).</li>
 * </ul>
 * A GRU has no cell state: call the forms without {@code c}. Passing a {@code c} to a GRU kernel,
 * or calling a form without {@code c} on an LSTM kernel, is an {@link IllegalArgumentException}.
 *
 * <p>Every call validates everything before it writes anything: a wrong size or length, a null, a
 * read-only or overlapping output, or a closed kernel throws ({@link IllegalArgumentException},
 * {@link NullPointerException}, {@link IllegalStateException}) and leaves {@code y}, {@code h} and
 * {@code c} untouched. NaN and infinity are not errors; they propagate as IEEE arithmetic makes them.
 *
 * <p>Memory: a tensor whose arena is already closed, or that is confined to another thread, is
 * refused by name. No backend hands the caller's memory to native code by address: the native
 * backend copies caller tensors into memory it owns with the JDK's checked copies. So if another
 * thread closes a tensor's (shared) arena while a call runs, the call either completes or throws
 * {@link IllegalStateException} from such a copy; native code never reads or writes freed memory
 * (an output whose arena was closed may then hold part of the result, which no one can read).
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

    /** One time step through all layers: {@code x [B, I]} → {@code y [B, D·Hout]}, {@code h}, {@code c} advanced in place. */
    void step(int batch, MemorySegment x, MemorySegment y, MemorySegment h, MemorySegment c);

    void step(int batch, float[] x, float[] y, float[] h, float[] c);

    /** {@code seqLen} steps through all layers; equals {@code seqLen} step calls up to rounding (unidirectional). */
    void sequence(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment h, MemorySegment c);

    void sequence(int seqLen, int batch, float[] x, float[] y, float[] h, float[] c);

    /** A sequence with per-row {@code lengths} ({@code null}: every row runs all T steps); {@code c} is null for a GRU. */
    void sequence(int seqLen, int batch, int[] lengths, MemorySegment x, MemorySegment y, MemorySegment h,
                  MemorySegment c);

    void sequence(int seqLen, int batch, int[] lengths, float[] x, float[] y, float[] h, float[] c);

    /** GRU: one step, no cell state. */
    void step(int batch, MemorySegment x, MemorySegment y, MemorySegment h);

    void step(int batch, float[] x, float[] y, float[] h);

    /** GRU: a sequence, no cell state. */
    void sequence(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment h);

    void sequence(int seqLen, int batch, float[] x, float[] y, float[] h);

    /**
     * A new training state for this kernel (forward in training mode, then backward; see
     * {@link LstmTraining}).
     *
     * @throws UnsupportedFeatureException if this backend has no backward pass
     */
    LstmTraining newTraining();

    /** Frees what {@code prepare} built. Idempotent; later calls throw {@link IllegalStateException}. */
    @Override
    void close();
}
