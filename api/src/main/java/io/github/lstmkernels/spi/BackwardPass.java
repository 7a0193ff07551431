package io.github.lstmkernels.spi;

import java.lang.foreign.MemorySegment;

/**
 * What the backward walk asks a backend to compute: the forward {@link LayerPass} of the same
 * layer, direction, steps and rows, run backwards in time ({@link #time}: the reverse of the
 * forward order). The backend reads its {@link TrainingTape}, the layer's input rows
 * ({@link #input()}, for the weight gradients), and the gradient arriving at this direction's
 * outputs ({@link #gradOutput()}); it carries the state gradients {@code dh}/{@code dc} (read at
 * the start, written at the end: the gradients with respect to the state before the run), adds
 * the gradient of the layer input to {@link #gradInput()} (which the walk zeroed; both directions
 * add, forward first) and accumulates the parameter gradients in its tape.
 */
public final class BackwardPass {

    final SequenceView input = new SequenceView();
    final SequenceView output = new SequenceView();
    final SequenceView gradOutput = new SequenceView();
    final SequenceView gradInput = new SequenceView();
    private int layer;
    private int direction;
    private int firstStep;
    private int steps;
    private int rows;
    private TrainingTape tape;
    private final StateRows dh = new StateRows();
    private final StateRows dc = new StateRows();

    void set(int layer, int direction, int firstStep, int steps, int rows, TrainingTape tape) {
        this.layer = layer;
        this.direction = direction;
        this.firstStep = firstStep;
        this.steps = steps;
        this.rows = rows;
        this.tape = tape;
    }

    void state(MemorySegment dh, long dhBase, int dhWidth, MemorySegment dc, long dcBase, int dcWidth) {
        this.dh.set(dh, dhBase, dhWidth);
        this.dc.set(dc, dcBase, dcWidth);
    }

    public int layer() {
        return layer;
    }

    public int direction() {
        return direction;
    }

    public int firstStep() {
        return firstStep;
    }

    public int steps() {
        return steps;
    }

    public int rows() {
        return rows;
    }

    /** The time step processed {@code i}-th: the forward order reversed (descending forward, ascending in reverse). */
    public int time(int i) {
        return direction == 1 ? firstStep + i : firstStep + steps - 1 - i;
    }

    public TrainingTape tape() {
        return tape;
    }

    /** The layer's input rows, as the forward pass read them. */
    public SequenceView input() {
        return input;
    }

    /**
     * This direction's outputs, as the forward pass wrote them (for a library whose backward pass
     * reads its forward results, such as oneDNN's).
     */
    public SequenceView output() {
        return output;
    }

    /** ∂loss/∂(this direction's output) at each step: the rows this pass reads. */
    public SequenceView gradOutput() {
        return gradOutput;
    }

    /** ∂loss/∂(layer input): the pass adds its contribution. */
    public SequenceView gradInput() {
        return gradInput;
    }

    /** The rows {@code [B, Hout]} of ∂loss/∂h for this layer and direction (a native backend copies them in bulk). */
    public MemorySegment dh() {
        return dh.data();
    }

    /** Float index in {@link #dh()} of batch row b. */
    public long dhRow(int b) {
        return dh.row(b);
    }

    /** The rows {@code [B, H]} of ∂loss/∂c; null for a GRU. */
    public MemorySegment dc() {
        return dc.data();
    }

    public long dcRow(int b) {
        return dc.row(b);
    }

    public void readDh(int b, float[] dst, int at) {
        dh.read(b, dst, at);
    }

    public void writeDh(int b, float[] src, int at) {
        dh.write(b, src, at);
    }

    /** GRU: no cell state, and these are never called. */
    public void readDc(int b, float[] dst, int at) {
        dc.read(b, dst, at);
    }

    public void writeDc(int b, float[] src, int at) {
        dc.write(b, src, at);
    }
}
