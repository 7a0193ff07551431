package io.github.lstmkernels.spi;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The rows {@code [B, width]} of one layer and direction inside a state tensor {@code [L·D, B, width]}
 * (h, c, or their gradients): where row b starts, and copies of a row to and from an array.
 * Mutable and reused, so that a call allocates nothing.
 */
final class StateRows {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private MemorySegment data;
    private long base;
    private int width;

    void set(MemorySegment data, long base, int width) {
        this.data = data;
        this.base = base;
        this.width = width;
    }

    MemorySegment data() {
        return data;
    }

    long row(int b) {
        return base + (long) b * width;
    }

    void read(int b, float[] dst, int at) {
        MemorySegment.copy(data, FLOAT, row(b) * Float.BYTES, dst, at, width);
    }

    void write(int b, float[] src, int at) {
        MemorySegment.copy(src, at, data, FLOAT, row(b) * Float.BYTES, width);
    }
}
