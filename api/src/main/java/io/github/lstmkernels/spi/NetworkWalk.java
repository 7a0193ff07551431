package io.github.lstmkernels.spi;

import io.github.lstmkernels.LstmConfig;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The walk over a network, written once for every backend (DESIGN §10): layers in order, both
 * directions of a layer, the caller's time-major or batch-first addressing, the state slices
 * {@code [L·D, B, ·]} (row {@code l·D + d}), per-sequence lengths, and the buffers between layers.
 * A backend supplies only the compute of a {@link LayerPass}.
 *
 * <p>Without lengths the walk hands the backend the caller's own tensors (x to the first layer,
 * y from the last, h and c in place) and its own time-major buffers in between. With lengths it
 * gathers x and the states into sorted order once ({@link BatchSchedule}), runs the segments, and
 * scatters the results back, writing zeros to the outputs past each row's length.
 */
final class NetworkWalk {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private NetworkWalk() {
    }

    /** One call's reusable state, pooled by the kernel: the schedule, the pass, and buffers grown to the largest call seen. */
    static final class Workspace {
        final BatchSchedule schedule = new BatchSchedule();
        final LayerPass pass = new LayerPass();
        final LayerDirections directions = new LayerDirections();
        final MemorySegment[] between = new MemorySegment[2];
        MemorySegment sortedX;
        MemorySegment sortedY;
        MemorySegment sortedH;
        MemorySegment sortedC;
        /** The float[] behind each buffer the walk hands a backend as input, found once per buffer. */
        private final MemorySegment[] known = new MemorySegment[3];
        private final float[][] knownArrays = new float[3][];

        /**
         * The float[] that {@code buffer} wraps from its start, or null (an off-heap buffer). Looked
         * up once per buffer, since {@link MemorySegment#heapBase()} allocates.
         */
        float[] heapArray(MemorySegment buffer, int slot) {
            if (known[slot] != buffer) {
                known[slot] = buffer;
                knownArrays[slot] = buffer.heapBase().orElse(null) instanceof float[] array && buffer.address() == 0
                        ? array : null;
            }
            return knownArrays[slot];
        }
    }

    static void run(AbstractLstmKernel kernel, Workspace ws, int seqLen, int batch, MemorySegment x, MemorySegment y,
                    MemorySegment h, MemorySegment c) {
        LstmConfig config = kernel.config;
        BatchSchedule schedule = ws.schedule;
        int layers = config.numLayers();
        int directions = config.numDirections();
        int hout = config.outputSize();
        int hidden = config.hiddenSize();
        int width = directions * hout;
        boolean packed = schedule.packed();
        long rows = (long) seqLen * batch;
        if (layers > 1) {
            ws.between[0] = ensure(kernel, ws.between[0], rows * width);
            ws.between[1] = ensure(kernel, ws.between[1], rows * width);
        }
        MemorySegment stateH = h;
        MemorySegment stateC = c;
        if (packed) {
            ws.sortedX = ensure(kernel, ws.sortedX, rows * config.inputSize());
            ws.sortedY = ensure(kernel, ws.sortedY, rows * width);
            ws.sortedH = ensure(kernel, ws.sortedH, (long) layers * directions * batch * hout);
            gatherSequence(schedule, x, config.batchFirst(), config.inputSize(), ws.sortedX);
            gatherStates(schedule, h, hout, layers * directions, ws.sortedH);
            stateH = ws.sortedH;
            if (c != null) {
                ws.sortedC = ensure(kernel, ws.sortedC, (long) layers * directions * batch * hidden);
                gatherStates(schedule, c, hidden, layers * directions, ws.sortedC);
                stateC = ws.sortedC;
            }
        }

        LayerPass pass = ws.pass;
        for (int l = 0; l < layers; l++) {
            boolean first = l == 0;
            boolean last = l == layers - 1;
            int inWidth = config.layerInputSize(l);
            if (first) {
                pass.input.set(packed ? ws.sortedX : x, seqLen, batch, inWidth, 0, !packed && config.batchFirst());
                if (packed) {
                    pass.input.heapArray(ws.heapArray(ws.sortedX, 2));
                }
            } else {
                pass.input.set(ws.between[(l - 1) & 1], seqLen, batch, inWidth, 0, false);
                pass.input.heapArray(ws.heapArray(ws.between[(l - 1) & 1], (l - 1) & 1));
            }
            MemorySegment out = last ? (packed ? ws.sortedY : y) : ws.between[l & 1];
            boolean outBatchFirst = last && !packed && config.batchFirst();
            long stateRow = (long) l * directions * batch;

            pass.output.set(out, seqLen, batch, width, 0, outBatchFirst);
            pass.set(l, LayerPass.ALL_DIRECTIONS, 0, seqLen, batch);
            pass.state(stateH, stateRow * hout, hout, stateC, stateRow * hidden, hidden);
            if (!packed && kernel.computeLayer(pass)) {
                continue;
            }
            computeDirections(kernel, ws.directions, schedule, l, null, pass.input, out, outBatchFirst, stateH,
                    stateC, stateRow);
        }

        if (packed) {
            scatterOutput(schedule, ws.sortedY, width, y, config.batchFirst());
            scatterStates(schedule, ws.sortedH, hout, layers * directions, h);
            if (c != null) {
                scatterStates(schedule, ws.sortedC, hidden, layers * directions, c);
            }
        }
    }

    /**
     * Layer l's directions, each over every segment of {@code schedule}: direction d writes its
     * columns of {@code out} and the state rows {@code firstStateRow + d·B}; handed to the kernel at
     * once ({@link AbstractLstmKernel#computeDirections}), which may run them side by side.
     */
    static void computeDirections(AbstractLstmKernel kernel, LayerDirections layer, BatchSchedule schedule, int l,
                                  TrainingTape tape, SequenceView input, MemorySegment out, boolean outBatchFirst,
                                  MemorySegment h, MemorySegment c, long firstStateRow) {
        LstmConfig config = kernel.config;
        int directions = config.numDirections();
        int hout = config.outputSize();
        int hidden = config.hiddenSize();
        int seqLen = input.seqLen();
        int batch = input.batch();
        layer.start(kernel, schedule, l, directions, tape);
        try {
            for (int d = 0; d < directions; d++) {
                LayerPass pass = layer.pass(d);
                long row = firstStateRow + (long) d * batch;
                pass.input.set(input);
                pass.output.set(out, seqLen, batch, directions * hout, d * hout, outBatchFirst);
                pass.state(h, row * hout, hout, c, row * hidden, hidden);
            }
            kernel.computeDirections(layer);
        } finally {
            layer.end();
        }
    }

    static MemorySegment ensure(AbstractLstmKernel kernel, MemorySegment buffer, long floats) {
        return buffer != null && buffer.byteSize() >= floats * Float.BYTES ? buffer : kernel.newBuffer(Math.max(floats, 1));
    }

    /** x in the caller's layout → time-major, sorted rows. Padded steps are copied too; no backend reads them. */
    static void gatherSequence(BatchSchedule s, MemorySegment x, boolean batchFirst, int width,
                                       MemorySegment sorted) {
        int seqLen = s.seqLen();
        int batch = s.batch();
        long bytes = (long) width * Float.BYTES;
        for (int t = 0; t < seqLen; t++) {
            for (int i = 0; i < batch; i++) {
                int b = s.callerRow(i);
                long from = batchFirst ? (long) b * seqLen + t : (long) t * batch + b;
                MemorySegment.copy(x, from * bytes, sorted, ((long) t * batch + i) * bytes, bytes);
            }
        }
    }

    static void gatherStates(BatchSchedule s, MemorySegment state, int width, int slices, MemorySegment sorted) {
        int batch = s.batch();
        long bytes = (long) width * Float.BYTES;
        for (int slice = 0; slice < slices; slice++) {
            for (int i = 0; i < batch; i++) {
                long base = (long) slice * batch;
                MemorySegment.copy(state, (base + s.callerRow(i)) * bytes, sorted, (base + i) * bytes, bytes);
            }
        }
    }

    static void scatterStates(BatchSchedule s, MemorySegment sorted, int width, int slices, MemorySegment state) {
        int batch = s.batch();
        long bytes = (long) width * Float.BYTES;
        for (int slice = 0; slice < slices; slice++) {
            for (int i = 0; i < batch; i++) {
                long base = (long) slice * batch;
                MemorySegment.copy(sorted, (base + i) * bytes, state, (base + s.callerRow(i)) * bytes, bytes);
            }
        }
    }

    /** The last layer's sorted time-major output → y in the caller's layout, zeros past each row's length. */
    static void scatterOutput(BatchSchedule s, MemorySegment sorted, int width, MemorySegment y,
                                      boolean batchFirst) {
        int seqLen = s.seqLen();
        int batch = s.batch();
        long bytes = (long) width * Float.BYTES;
        for (int i = 0; i < batch; i++) {
            int b = s.callerRow(i);
            int length = s.length(i);
            for (int t = 0; t < seqLen; t++) {
                long to = (batchFirst ? (long) b * seqLen + t : (long) t * batch + b) * bytes;
                if (t < length) {
                    MemorySegment.copy(sorted, ((long) t * batch + i) * bytes, y, to, bytes);
                } else {
                    for (long k = 0; k < bytes; k += Float.BYTES) {
                        y.set(FLOAT, to + k, 0f);
                    }
                }
            }
        }
    }
}
