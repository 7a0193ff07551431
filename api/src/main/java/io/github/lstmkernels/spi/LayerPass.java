package io.github.lstmkernels.spi;

import java.lang.foreign.MemorySegment;

/**
 * What the walk asks a backend to compute: one direction of one layer over a run of steps for the
 * first {@link #rows()} batch rows (the rows still running; with lengths the walk has sorted the
 * batch so they are always a prefix), starting from the state in {@link #h()}/{@link #c()} and
 * leaving the new state there. The reverse direction runs its steps backwards ({@link #time}).
 *
 * <p>For {@code AbstractLstmKernel#computeLayer} the pass covers every direction at once
 * ({@link #direction()} is {@link #ALL_DIRECTIONS}); the state of direction d then starts at
 * {@code hRow(0) + d·B·Hout}, as in PyTorch's {@code h_n}.
 */
public final class LayerPass {
    /** {@link #direction()} of a pass that covers both directions of a layer. */
    public static final int ALL_DIRECTIONS = -1;

    final SequenceView input = new SequenceView();
    final SequenceView output = new SequenceView();
    private int layer;
    private int direction;
    private int firstStep;
    private int steps;
    private int rows;
    private final StateRows h = new StateRows();
    private final StateRows c = new StateRows();
    private TrainingTape tape;

    void set(int layer, int direction, int firstStep, int steps, int rows) {
        set(layer, direction, firstStep, steps, rows, null);
    }

    void set(int layer, int direction, int firstStep, int steps, int rows, TrainingTape tape) {
        this.tape = tape;
        this.layer = layer;
        this.direction = direction;
        this.firstStep = firstStep;
        this.steps = steps;
        this.rows = rows;
    }

    void state(MemorySegment h, long hBase, int hWidth, MemorySegment c, long cBase, int cWidth) {
        this.h.set(h, hBase, hWidth);
        this.c.set(c, cBase, cWidth);
    }

    public int layer() {
        return layer;
    }

    /** In a training forward pass, where the backend records what its backward pass needs; null otherwise. */
    public TrainingTape tape() {
        return tape;
    }

    /** 0 forward, 1 reverse, or {@link #ALL_DIRECTIONS}. */
    public int direction() {
        return direction;
    }

    public boolean reverse() {
        return direction == 1;
    }

    /** The earliest time step of the run. */
    public int firstStep() {
        return firstStep;
    }

    public int steps() {
        return steps;
    }

    /** Batch rows {@code [0, rows)} take part; the others are left alone. */
    public int rows() {
        return rows;
    }

    /** The time step processed {@code i}-th: ascending forward, descending in reverse. */
    public int time(int i) {
        return direction == 1 ? firstStep + steps - 1 - i : firstStep + i;
    }

    /** The layer's input rows ({@code I_layer} wide). */
    public SequenceView input() {
        return input;
    }

    /** Where the layer's output goes: this direction's {@code Hout} columns. */
    public SequenceView output() {
        return output;
    }

    /** Hidden state rows {@code [B, Hout]} of this layer and direction, read at the start and written at the end. */
    public MemorySegment h() {
        return h.data();
    }

    /** Float index in {@link #h()} of batch row b's state. */
    public long hRow(int b) {
        return h.row(b);
    }

    /** Cell state rows {@code [B, H]}; null for a GRU. */
    public MemorySegment c() {
        return c.data();
    }

    public long cRow(int b) {
        return c.row(b);
    }

    public void readH(int b, float[] dst, int at) {
        h.read(b, dst, at);
    }

    public void writeH(int b, float[] src, int at) {
        h.write(b, src, at);
    }

    public void readC(int b, float[] dst, int at) {
        c.read(b, dst, at);
    }

    public void writeC(int b, float[] src, int at) {
        c.write(b, src, at);
    }
}
