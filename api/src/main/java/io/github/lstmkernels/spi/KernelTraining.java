package io.github.lstmkernels.spi;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmTraining;
import java.lang.foreign.MemorySegment;

/**
 * The training walk (DESIGN §11), written once: the forward walk of {@link NetworkWalk} keeping
 * every layer's input, then the same walk reversed: layers L−1 … 0, each direction's segments and
 * steps in the reverse of their forward order, the state gradients carried from segment to
 * segment exactly as the states were. Rows are always sorted and gathered (one segment and the
 * identity order without lengths), so the backend sees one layout.
 *
 * <p>Gradient flow between layers: the gradient of a layer's input is the gradient of the layer
 * below's output; both directions add into it (forward first), so it is zeroed before each layer,
 * which also leaves 0 at padded positions.
 */
final class KernelTraining implements LstmTraining {
    private final AbstractLstmKernel kernel;
    private final LstmConfig config;
    private final TrainingTape tape;
    private final BatchSchedule schedule = new BatchSchedule();
    private final SequenceView input = new SequenceView();
    private final LayerDirections layerDirections = new LayerDirections();
    private final BackwardPass backwardPass = new BackwardPass();
    /** layerInput[l]: layer l's input, time-major, sorted; layerInput[L] is the last layer's output. */
    private final MemorySegment[] layerInput;
    private MemorySegment h;
    private MemorySegment c;
    private MemorySegment gradOutput;
    private final MemorySegment[] gradInput = new MemorySegment[2];
    private MemorySegment dh;
    private MemorySegment dc;
    /** The shape of the forward pass waiting for its backward pass, or -1. */
    private int forwardSeqLen = -1;
    private int forwardBatch;
    private boolean closed;

    KernelTraining(AbstractLstmKernel kernel, TrainingTape tape) {
        this.kernel = kernel;
        this.config = kernel.config;
        this.tape = tape;
        this.layerInput = new MemorySegment[config.numLayers() + 1];
    }

    private boolean gru() {
        return config.cell() == CellType.GRU;
    }

    @Override
    public void forward(int seqLen, int batch, int[] lengths, float[] x, float[] y, float[] h, float[] c) {
        forward(seqLen, batch, lengths, AbstractLstmKernel.heap(x), AbstractLstmKernel.heap(y),
                AbstractLstmKernel.heap(h), AbstractLstmKernel.heap(c));
    }

    @Override
    public void forward(int seqLen, int batch, int[] lengths, MemorySegment x, MemorySegment y, MemorySegment h,
                        MemorySegment c) {
        kernel.enter();
        try {
            checkOpen();
            kernel.checkCellState(c, false);
            TensorChecks.checkCall(config, seqLen, batch, x, y, h, c, true);
            schedule.load(lengths, seqLen, batch);
            forwardSeqLen = -1;
            runForward(seqLen, batch, x, y, h, c);
            forwardSeqLen = seqLen;
            forwardBatch = batch;
        } finally {
            kernel.exit();
        }
    }

    private void runForward(int seqLen, int batch, MemorySegment x, MemorySegment y, MemorySegment hState,
                            MemorySegment cState) {
        int layers = config.numLayers();
        int directions = config.numDirections();
        int hout = config.outputSize();
        int hidden = config.hiddenSize();
        int width = directions * hout;
        long rows = (long) seqLen * batch;
        tape.ensure(seqLen, batch);
        for (int l = 0; l <= layers; l++) {
            long floats = rows * (l == 0 ? config.inputSize() : width);
            layerInput[l] = ensure(layerInput[l], floats);
        }
        h = ensure(h, (long) layers * directions * batch * hout);
        NetworkWalk.gatherSequence(schedule, x, config.batchFirst(), config.inputSize(), layerInput[0]);
        NetworkWalk.gatherStates(schedule, hState, hout, layers * directions, h);
        if (!gru()) {
            c = ensure(c, (long) layers * directions * batch * hidden);
            NetworkWalk.gatherStates(schedule, cState, hidden, layers * directions, c);
        }
        for (int l = 0; l < layers; l++) {
            input.set(layerInput[l], seqLen, batch, config.layerInputSize(l), 0, false);
            NetworkWalk.computeDirections(kernel, layerDirections, schedule, l, tape, input, layerInput[l + 1], false, h,
                    gru() ? null : c, (long) l * directions * batch);
        }
        NetworkWalk.scatterOutput(schedule, layerInput[layers], width, y, config.batchFirst());
        NetworkWalk.scatterStates(schedule, h, hout, layers * directions, hState);
        if (!gru()) {
            NetworkWalk.scatterStates(schedule, c, hidden, layers * directions, cState);
        }
    }

    @Override
    public void backward(float[] gradY, float[] gradHn, float[] gradCn, float[] gradX, float[] gradH0, float[] gradC0,
                         LstmGradients gradients) {
        backward(AbstractLstmKernel.heap(gradY), AbstractLstmKernel.heap(gradHn), AbstractLstmKernel.heap(gradCn),
                AbstractLstmKernel.heap(gradX), AbstractLstmKernel.heap(gradH0), AbstractLstmKernel.heap(gradC0),
                gradients);
    }

    @Override
    public void backward(MemorySegment gradY, MemorySegment gradHn, MemorySegment gradCn, MemorySegment gradX,
                         MemorySegment gradH0, MemorySegment gradC0, LstmGradients gradients) {
        kernel.enter();
        try {
            checkOpen();
            if (forwardSeqLen < 0) {
                throw new IllegalStateException("backward needs a forward pass before it (each forward serves one backward)");
            }
            TensorChecks.requireNonNull(gradients, "gradients");
            if (!gradients.config().equals(config)) {
                throw new IllegalArgumentException("gradients: made for " + gradients.config() + ", not for " + config);
            }
            TensorChecks.checkBackward(config, forwardSeqLen, forwardBatch, gradY, gradHn, gradCn, gradX, gradH0, gradC0);
            runBackward(forwardSeqLen, forwardBatch, gradY, gradHn, gradCn, gradX, gradH0, gradC0);
            forwardSeqLen = -1;
            tape.exportGradients(gradients);
        } finally {
            kernel.exit();
        }
    }

    private void runBackward(int seqLen, int batch, MemorySegment gradY, MemorySegment gradHn, MemorySegment gradCn,
                             MemorySegment gradX, MemorySegment gradH0, MemorySegment gradC0) {
        int layers = config.numLayers();
        int directions = config.numDirections();
        int hout = config.outputSize();
        int hidden = config.hiddenSize();
        int width = directions * hout;
        long rows = (long) seqLen * batch;
        long widest = Math.max(config.inputSize(), width);
        gradOutput = ensure(gradOutput, rows * width);
        gradInput[0] = ensure(gradInput[0], rows * widest);
        gradInput[1] = ensure(gradInput[1], rows * widest);
        dh = ensure(dh, (long) layers * directions * batch * hout);
        // Padded steps of gradY are gathered too; no backend reads them.
        NetworkWalk.gatherSequence(schedule, gradY, config.batchFirst(), width, gradOutput);
        NetworkWalk.gatherStates(schedule, gradHn, hout, layers * directions, dh);
        if (!gru()) {
            dc = ensure(dc, (long) layers * directions * batch * hidden);
            NetworkWalk.gatherStates(schedule, gradCn, hidden, layers * directions, dc);
        }
        tape.clearGradients();
        MemorySegment above = gradOutput;
        for (int l = layers - 1; l >= 0; l--) {
            int inWidth = config.layerInputSize(l);
            MemorySegment below = gradInput[l & 1];
            below.fill((byte) 0);
            backwardPass.input.set(layerInput[l], seqLen, batch, inWidth, 0, false);
            backwardPass.gradInput.set(below, seqLen, batch, inWidth, 0, false);
            for (int d = 0; d < directions; d++) {
                long row = ((long) l * directions + d) * batch;
                backwardPass.output.set(layerInput[l + 1], seqLen, batch, width, d * hout, false);
                backwardPass.gradOutput.set(above, seqLen, batch, width, d * hout, false);
                backwardPass.state(dh, row * hout, hout, gru() ? null : dc, row * hidden, hidden);
                int segments = schedule.segments();
                for (int i = 0; i < segments; i++) {
                    // The reverse of the forward order: forward ran direction 0's segments ascending.
                    int k = d == 0 ? segments - 1 - i : i;
                    backwardPass.set(l, d, schedule.segmentStart(k), schedule.segmentSteps(k), schedule.segmentRows(k),
                            tape);
                    kernel.computeSegmentBackward(backwardPass);
                }
            }
            above = below;
        }
        NetworkWalk.scatterOutput(schedule, above, config.inputSize(), gradX, config.batchFirst());
        NetworkWalk.scatterStates(schedule, dh, hout, layers * directions, gradH0);
        if (!gru()) {
            NetworkWalk.scatterStates(schedule, dc, hidden, layers * directions, gradC0);
        }
    }

    /** The walk's buffers belong to the tape, so they are freed with this training state, not with the kernel. */
    private MemorySegment ensure(MemorySegment buffer, long floats) {
        return buffer != null && buffer.byteSize() >= floats * Float.BYTES ? buffer
                : tape.newBuffer(buffer, Math.max(floats, 1));
    }

    @Override
    public long bytesFor(int seqLen, int batch) {
        if (seqLen < 1 || batch < 1) {
            throw new IllegalArgumentException("seqLen and batch must be >= 1, got " + seqLen + ", " + batch);
        }
        long rows = (long) seqLen * batch;
        int width = config.numDirections() * config.outputSize();
        long states = (long) config.numLayers() * config.numDirections() * batch;
        long walk = rows * (config.inputSize() + (long) config.numLayers() * width)                // layer inputs and output
                + rows * width + 2 * rows * Math.max(config.inputSize(), width)                    // gradient buffers
                + 2 * states * (config.outputSize() + (gru() ? 0 : config.hiddenSize()));          // states and their gradients
        return Float.BYTES * walk + tape.bytesFor(seqLen, batch);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("this training state is closed");
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            tape.close();
        }
    }
}
