package io.github.lstmkernels.spi;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Where the rows of a sequence tensor live: {@code [T, B, ·]} time-major or {@code [B, T, ·]}
 * batch-first, each row {@code stride} floats apart, the part a direction owns starting
 * {@code column} floats into the row. The walk points views at the caller's tensors or at its own
 * buffers; a backend reads and writes rows through {@link #row} and never needs to know which
 * layout it got. Mutable and reused, so that a call allocates nothing.
 */
public final class SequenceView {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private MemorySegment data;
    private int seqLen;
    private int batch;
    private int stride;
    private int column;
    private boolean batchFirst;
    private float[] heapArray;

    void set(MemorySegment data, int seqLen, int batch, int stride, int column, boolean batchFirst) {
        this.heapArray = null;
        this.data = data;
        this.seqLen = seqLen;
        this.batch = batch;
        this.stride = stride;
        this.column = column;
        this.batchFirst = batchFirst;
    }

    /** The same view as {@code other} (another pass reading the same rows). */
    void set(SequenceView other) {
        set(other.data, other.seqLen, other.batch, other.stride, other.column, other.batchFirst);
        this.heapArray = other.heapArray;
    }

    /** The memory behind the view (heap or off-heap). */
    public MemorySegment data() {
        return data;
    }

    /**
     * The float[] that {@link #data()} wraps from its first element, when the walk knows it (its
     * own heap buffers: between layers, sorted copies), else null. A backend may read rows there in
     * place, at the indices {@link #row} gives.
     */
    public float[] heapArray() {
        return heapArray;
    }

    void heapArray(float[] array) {
        this.heapArray = array;
    }

    public int seqLen() {
        return seqLen;
    }

    public int batch() {
        return batch;
    }

    /** Floats from one row to the next row of the same time step (time-major) or sequence (batch-first). */
    public int stride() {
        return stride;
    }

    /** Floats from the start of a row to the first element this view covers (a direction's columns). */
    public int column() {
        return column;
    }

    public boolean batchFirst() {
        return batchFirst;
    }

    /** Float index in {@link #data()} of row (t, b), column {@link #column()}. */
    public long row(int t, int b) {
        return (batchFirst ? (long) b * seqLen + t : (long) t * batch + b) * stride + column;
    }

    /** Copies {@code width} floats of row (t, b) into {@code dst[at ..]}. */
    public void read(int t, int b, float[] dst, int at, int width) {
        MemorySegment.copy(data, FLOAT, row(t, b) * Float.BYTES, dst, at, width);
    }

    /** Copies {@code src[at .. at + width)} into row (t, b). */
    public void write(int t, int b, float[] src, int at, int width) {
        write(t, b, src, at, 0, width);
    }

    /** Copies {@code src[at .. at + width)} into row (t, b) from its element {@code offset} on (a part of the row). */
    public void write(int t, int b, float[] src, int at, int offset, int width) {
        MemorySegment.copy(src, at, data, FLOAT, (row(t, b) + offset) * Float.BYTES, width);
    }
}
