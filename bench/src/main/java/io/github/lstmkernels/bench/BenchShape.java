package io.github.lstmkernels.bench;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The benchmark shapes of DESIGN.md section 9, plus three twins that give same-run comparisons. */
public enum BenchShape {
    A("a", CellType.LSTM, 8, 10, 512, 128, 2, false, 0, true, false,
            "the nn.LSTM(512, 128, num_layers=2, batch_first=True) example on [8, 10, 512]"),
    B("b", CellType.LSTM, 1, 10, 512, 128, 2, false, 0, true, false, "streaming, batch 1"),
    C("c", CellType.LSTM, 1, 100, 256, 256, 1, false, 0, false, false, "long sequence, batch 1"),
    /** Shape c's sizes at batch 3: a small batch that no large register tile fits. */
    C_B3("c-b3", CellType.LSTM, 3, 100, 256, 256, 1, false, 0, false, false, "c at batch 3 (a small batch)"),
    D("d", CellType.LSTM, 32, 50, 256, 256, 1, false, 0, false, false, "mid batch"),
    E("e", CellType.LSTM, 64, 20, 1024, 1024, 1, false, 0, false, false, "compute-bound"),
    F("f", CellType.LSTM, 1, 1, 512, 512, 1, false, 0, false, false, "one step, batch 1 (latency)"),
    G("g", CellType.LSTM, 16, 1, 512, 512, 1, false, 0, false, false, "one step, batched"),
    H("h", CellType.LSTM, 32, 50, 300, 256, 1, true, 0, true, true,
            "bidirectional, batch-first, lengths 10…50 (a tagger's bi-LSTM)"),
    /** Shape h's batch without lengths (every row 50 steps): what the lengths segments cost. */
    H_FULL("h-full", CellType.LSTM, 32, 50, 300, 256, 1, true, 0, true, false, "h without lengths"),
    I("i", CellType.LSTM, 8, 100, 80, 512, 3, true, 128, false, false,
            "bidirectional, proj_size 128 (a speech encoder, LSTMP)"),
    J("j", CellType.GRU, 1, 1, 256, 512, 1, false, 0, false, false, "GRU, one step, batch 1 (streaming latency)"),
    /** The LSTM of shape j's sizes: a GRU does 3/4 of its multiply-adds. (Shape d is k's twin.) */
    J_LSTM("j-lstm", CellType.LSTM, 1, 1, 256, 512, 1, false, 0, false, false, "the LSTM twin of j"),
    K("k", CellType.GRU, 32, 50, 256, 256, 1, false, 0, false, false, "GRU, mid batch (the GRU twin of d)");

    private final String id;
    public final CellType cell;
    public final int batch;
    public final int seqLen;
    public final int inputSize;
    public final int hiddenSize;
    public final int layers;
    public final boolean bidirectional;
    public final int projection;
    public final boolean batchFirst;
    /** Per-row lengths 10…50 (shape h), else null: every row runs T steps. */
    private final int[] lengths;
    public final String note;

    BenchShape(String id, CellType cell, int batch, int seqLen, int inputSize, int hiddenSize, int layers,
               boolean bidirectional, int projection, boolean batchFirst, boolean withLengths, String note) {
        this.id = id;
        this.cell = cell;
        this.batch = batch;
        this.seqLen = seqLen;
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.layers = layers;
        this.bidirectional = bidirectional;
        this.projection = projection;
        this.batchFirst = batchFirst;
        this.lengths = withLengths ? spreadLengths(batch, 10, seqLen) : null;
        this.note = note;
    }

    /** Lengths spread evenly over [shortest, longest] and shuffled by a fixed stride, as a real batch comes. */
    private static int[] spreadLengths(int batch, int shortest, int longest) {
        int[] lengths = new int[batch];
        for (int i = 0; i < batch; i++) {
            int row = (i * 13) % batch; // 13 is coprime with 32: a fixed permutation
            lengths[row] = shortest + Math.round((float) (longest - shortest) * i / (batch - 1));
        }
        return lengths;
    }

    /** By id ({@code a} … {@code k}, {@code c-b3}, {@code h-full}, {@code j-lstm}); an unknown id is an error listing the valid ones. */
    public static BenchShape of(String id) {
        for (BenchShape shape : values()) {
            if (shape.id.equals(id.trim().toLowerCase(Locale.ROOT))) {
                return shape;
            }
        }
        throw new IllegalArgumentException("unknown shape '" + id + "'; shapes are "
                + Arrays.stream(values()).map(BenchShape::id).collect(Collectors.joining(", ")));
    }

    public String id() {
        return id;
    }

    public LstmConfig config() {
        return LstmConfig.builder(inputSize, hiddenSize).cell(cell).numLayers(layers).bidirectional(bidirectional)
                .projectionSize(projection).batchFirst(batchFirst).build();
    }

    /** A copy of the lengths, or null. */
    public int[] lengths() {
        return lengths == null ? null : lengths.clone();
    }

    /** Step calls are defined for one direction and no lengths (a bidirectional step would not equal a sequence). */
    public boolean hasStepMode() {
        return !bidirectional && lengths == null;
    }

    public int directions() {
        return bidirectional ? 2 : 1;
    }

    public int outputSize() {
        return projection > 0 ? projection : hiddenSize;
    }

    /** Steps actually run by all rows of one direction: B·T, or Σ lengths. */
    private double rowSteps() {
        return lengths == null ? (double) batch * seqLen : Arrays.stream(lengths).asDoubleStream().sum();
    }

    /**
     * FLOPs of one sequence (DESIGN.md §9): per layer and direction {@code 2·G·H·(I_l + Hout)} per
     * row and step, plus {@code 2·H·P} with a projection, times the row-steps actually run.
     */
    public double flops() {
        double perRowStep = 0;
        for (int l = 0; l < layers; l++) {
            int in = l == 0 ? inputSize : directions() * outputSize();
            perRowStep += directions() * (2.0 * cell.gates() * hiddenSize * (in + outputSize())
                    + 2.0 * hiddenSize * projection);
        }
        return perRowStep * rowSteps();
    }

    /**
     * Bytes of float32 weights streamed per call at batch 1, where weights are the memory traffic:
     * {@code sequence} reads W_ih once and W_hh (and W_hr) every step; {@code step} reads all every step.
     */
    public double weightTraffic(String mode) {
        double total = 0;
        for (int l = 0; l < layers; l++) {
            int in = l == 0 ? inputSize : directions() * outputSize();
            double inputWeights = 4.0 * cell.gates() * hiddenSize * in;
            double recurrentWeights = 4.0 * cell.gates() * hiddenSize * outputSize() + 4.0 * projection * hiddenSize;
            total += directions() * (mode.equals("step") ? (inputWeights + recurrentWeights) * seqLen
                    : inputWeights + recurrentWeights * seqLen);
        }
        return total;
    }

    @Override
    public String toString() {
        return id + " (" + cell + " B=" + batch + ", T=" + seqLen + ", I=" + inputSize + ", H=" + hiddenSize + ", L=" + layers
                + (bidirectional ? ", bidirectional" : "") + (projection > 0 ? ", P=" + projection : "")
                + (lengths != null ? ", lengths 10…" + seqLen : "") + ")";
    }
}
