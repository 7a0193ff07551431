package io.github.lstmkernels.spi;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import java.lang.foreign.MemorySegment;

/**
 * The argument checks every kernel call goes through before anything is written, so that every
 * backend throws the same exception, with the same message, for the same mistake.
 */
public final class TensorChecks {
    private static final long FLOAT_BYTES = Float.BYTES;
    /** Element count limit per tensor: what a {@code float[]} can hold. */
    private static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;
    /** Never started: what it may access is not confined to the calling thread. */
    private static final Thread NOT_THE_CALLER = new Thread(() -> { });

    private TensorChecks() {
    }

    /**
     * Checks the arguments of a step ({@code x [B, I]}, {@code y [B, D·Hout]}) or sequence call
     * ({@code x [T, B, I]} or batch-first, {@code y [T, B, D·Hout]}), states {@code [L·D, B, ·]};
     * {@code c} is null exactly when the cell has no cell state (GRU).
     */
    static void checkCall(LstmConfig config, int seqLen, int batch, MemorySegment x, MemorySegment y,
                          MemorySegment h, MemorySegment c, boolean sequence) {
        if (sequence && seqLen < 1) {
            throw new IllegalArgumentException("seqLen must be >= 1, got " + seqLen);
        }
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        }
        requireNonNull(x, "x");
        requireNonNull(y, "y");
        requireNonNull(h, "h");
        boolean cellState = config.cell() == CellType.LSTM;
        if (cellState) {
            requireNonNull(c, "c");
        }
        int layers = config.numLayers() * config.numDirections();
        int hout = config.outputSize();
        int yWidth = config.numDirections() * hout;
        long rows = times(sequence ? seqLen : 1, batch);
        long xElements = times(rows, config.inputSize());
        long yElements = times(rows, yWidth);
        long hElements = times(times(layers, batch), hout);
        long cElements = times(times(layers, batch), config.hiddenSize());
        // The shape text is only built when a check fails: steady-state calls allocate nothing.
        if (!fits(x, xElements)) {
            requireSize("x", x, xElements, timeShape(config, sequence, seqLen, batch, "I", config.inputSize()));
        }
        if (!fits(y, yElements)) {
            requireSize("y", y, yElements, timeShape(config, sequence, seqLen, batch, "H", yWidth));
        }
        if (!fits(h, hElements)) {
            requireSize("h", h, hElements, "[L=" + layers + ", B=" + batch + ", H=" + hout + "]");
        }
        if (cellState && !fits(c, cElements)) {
            requireSize("c", c, cElements, "[L=" + layers + ", B=" + batch + ", H=" + config.hiddenSize() + "]");
        }
        requireAccessible("x", x);
        requireAccessible("y", y);
        requireAccessible("h", h);
        if (cellState) {
            requireAccessible("c", c);
        }
        requireWritable("y", y);
        requireWritable("h", h);
        requireDisjoint("y", y, "x", x);
        requireDisjoint("h", h, "x", x);
        requireDisjoint("y", y, "h", h);
        if (cellState) {
            requireWritable("c", c);
            requireDisjoint("c", c, "x", x);
            requireDisjoint("y", y, "c", c);
            requireDisjoint("h", h, "c", c);
        }
    }

    /**
     * Checks the arguments of a backward pass after a forward pass of (seqLen, batch): each
     * gradient shaped like what it is the gradient of; the written ones (gradX, gradH0, gradC0)
     * writable and disjoint from every other; the cell-state ones null exactly for a GRU.
     */
    static void checkBackward(LstmConfig config, int seqLen, int batch, MemorySegment gradY, MemorySegment gradHn,
                              MemorySegment gradCn, MemorySegment gradX, MemorySegment gradH0, MemorySegment gradC0) {
        boolean cellState = config.cell() == CellType.LSTM;
        if (!cellState && (gradCn != null || gradC0 != null)) {
            throw new IllegalArgumentException((gradCn != null ? "gradCn" : "gradC0")
                    + ": a GRU has no cell state; pass null");
        }
        requireNonNull(gradY, "gradY");
        requireNonNull(gradHn, "gradHn");
        requireNonNull(gradX, "gradX");
        requireNonNull(gradH0, "gradH0");
        if (cellState) {
            requireNonNull(gradCn, "gradCn");
            requireNonNull(gradC0, "gradC0");
        }
        int states = config.numLayers() * config.numDirections();
        int yWidth = config.numDirections() * config.outputSize();
        long rows = times(seqLen, batch);
        long hElements = times(times(states, batch), config.outputSize());
        long cElements = times(times(states, batch), config.hiddenSize());
        // Shape texts only when a check fails: steady-state calls allocate nothing.
        if (!fits(gradY, times(rows, yWidth))) {
            requireSize("gradY", gradY, times(rows, yWidth), timeShape(config, true, seqLen, batch, "H", yWidth));
        }
        if (!fits(gradHn, hElements)) {
            requireSize("gradHn", gradHn, hElements, stateShape(states, batch, config.outputSize()));
        }
        if (!fits(gradX, times(rows, config.inputSize()))) {
            requireSize("gradX", gradX, times(rows, config.inputSize()),
                    timeShape(config, true, seqLen, batch, "I", config.inputSize()));
        }
        if (!fits(gradH0, hElements)) {
            requireSize("gradH0", gradH0, hElements, stateShape(states, batch, config.outputSize()));
        }
        if (cellState && !fits(gradCn, cElements)) {
            requireSize("gradCn", gradCn, cElements, stateShape(states, batch, config.hiddenSize()));
        }
        if (cellState && !fits(gradC0, cElements)) {
            requireSize("gradC0", gradC0, cElements, stateShape(states, batch, config.hiddenSize()));
        }
        requireAccessible("gradY", gradY);
        requireAccessible("gradHn", gradHn);
        requireAccessible("gradX", gradX);
        requireAccessible("gradH0", gradH0);
        requireWritable("gradX", gradX);
        requireWritable("gradH0", gradH0);
        requireDisjoint("gradX", gradX, "gradY", gradY);
        requireDisjoint("gradX", gradX, "gradHn", gradHn);
        requireDisjoint("gradH0", gradH0, "gradY", gradY);
        requireDisjoint("gradH0", gradH0, "gradHn", gradHn);
        requireDisjoint("gradX", gradX, "gradH0", gradH0);
        if (cellState) {
            requireAccessible("gradCn", gradCn);
            requireAccessible("gradC0", gradC0);
            requireWritable("gradC0", gradC0);
            requireDisjoint("gradC0", gradC0, "gradY", gradY);
            requireDisjoint("gradC0", gradC0, "gradHn", gradHn);
            requireDisjoint("gradC0", gradC0, "gradCn", gradCn);
            requireDisjoint("gradC0", gradC0, "gradX", gradX);
            requireDisjoint("gradC0", gradC0, "gradH0", gradH0);
            requireDisjoint("gradX", gradX, "gradCn", gradCn);
            requireDisjoint("gradH0", gradH0, "gradCn", gradCn);
        }
    }

    private static String stateShape(int states, int batch, int width) {
        return "[L=" + states + ", B=" + batch + ", H=" + width + "]";
    }

    /** a·b for positive sizes, saturating instead of overflowing (the size check then fails cleanly). */
    private static long times(long a, long b) {
        long high = Math.multiplyHigh(a, b);
        long product = a * b;
        return high != 0 || product < 0 ? Long.MAX_VALUE : product;
    }

    private static boolean fits(MemorySegment segment, long elements) {
        return elements <= MAX_ELEMENTS && segment.byteSize() == elements * FLOAT_BYTES
                && segment.maxByteAlignment() >= FLOAT_BYTES;
    }

    private static String timeShape(LstmConfig config, boolean sequence, int seqLen, int batch, String last, int width) {
        String b = "B=" + batch;
        String t = "T=" + seqLen;
        String lead = !sequence ? b : config.batchFirst() ? b + ", " + t : t + ", " + b;
        return "[" + lead + ", " + last + "=" + width + "]";
    }

    /** Rejects a null argument with a message naming it. */
    public static void requireNonNull(Object value, String name) {
        if (value == null) {
            throw new NullPointerException(name + " must not be null");
        }
    }

    /**
     * Requires exactly {@code elements} float32 values, 4-byte aligned.
     *
     * @param shape the expected shape, for the message
     */
    public static void requireSize(String name, MemorySegment segment, long elements, String shape) {
        if (elements > MAX_ELEMENTS) {
            throw new IllegalArgumentException(name + ": " + shape + " is "
                    + (elements == Long.MAX_VALUE ? "too many" : String.valueOf(elements))
                    + " elements, more than the " + MAX_ELEMENTS + " a tensor may hold");
        }
        long bytes = segment.byteSize();
        if (bytes != elements * FLOAT_BYTES) {
            throw new IllegalArgumentException(name + ": expected " + elements + " floats " + shape + ", got "
                    + (bytes % FLOAT_BYTES == 0 ? bytes / FLOAT_BYTES + " floats" : bytes + " bytes"));
        }
        if (segment.maxByteAlignment() < FLOAT_BYTES) {
            throw new IllegalArgumentException(name + ": a float32 tensor must be 4-byte aligned, got "
                    + segment.maxByteAlignment() + "-byte alignment");
        }
    }

    /**
     * The memory is alive and this thread may use it: a segment of a closed arena, or of a
     * confined arena owned by another thread, is refused by name before anything is read or written
     * (native code must never see such an address). Both checks are field reads; nothing allocates.
     */
    public static void requireAccessible(String name, MemorySegment segment) {
        if (!segment.scope().isAlive()) {
            throw new IllegalArgumentException(name + ": its memory has been freed (the arena it came from is closed)");
        }
        if (!segment.isAccessibleBy(Thread.currentThread())) {
            throw new IllegalArgumentException(name + ": its memory is confined to another thread");
        }
    }

    /**
     * Whether threads other than the caller may access the memory (heap, global, automatic or
     * shared arena; not a confined arena, which only its owner thread may touch), so that a backend
     * may hand it to its worker threads. Null (an absent tensor) counts as shared.
     */
    public static boolean sharedAcrossThreads(MemorySegment segment) {
        return segment == null || segment.isAccessibleBy(NOT_THE_CALLER);
    }

    private static void requireWritable(String name, MemorySegment segment) {
        if (segment.isReadOnly()) {
            throw new IllegalArgumentException(name + ": is read-only, but the kernel writes it");
        }
    }

    private static void requireDisjoint(String name, MemorySegment a, String otherName, MemorySegment b) {
        if (overlaps(a, b)) {
            throw new IllegalArgumentException(name + ": overlaps " + otherName + "; outputs must not share memory with other tensors");
        }
    }

    /** Written out rather than {@code asOverlappingSlice}, which allocates a slice per check. */
    private static boolean overlaps(MemorySegment a, MemorySegment b) {
        if (a.isNative() != b.isNative()) {
            return false;
        }
        // address() is the raw address of a native segment and the byte offset into the array of a heap one.
        boolean rangesMeet = a.address() < b.address() + b.byteSize() && b.address() < a.address() + a.byteSize();
        if (!rangesMeet || a.byteSize() == 0 || b.byteSize() == 0) {
            return false;
        }
        if (a.isNative()) {
            return true;
        }
        Object baseA = a.heapBase().orElse(null);
        Object baseB = b.heapBase().orElse(null);
        if (baseA != null && baseB != null) {
            return baseA == baseB;
        }
        // A read-only heap view hides its array; ask the segments themselves (allocates, but only here).
        return a.asOverlappingSlice(b).isPresent();
    }
}
