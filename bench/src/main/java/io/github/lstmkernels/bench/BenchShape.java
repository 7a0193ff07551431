package io.github.lstmkernels.bench;

import io.github.lstmkernels.LstmConfig;
import java.util.Locale;

/** The benchmark shapes of DESIGN.md section 9. */
public enum BenchShape {
    A(8, 10, 512, 128, 2, "the nn.LSTM(512, 128, num_layers=2, batch_first=True) example on [8, 10, 512]"),
    B(1, 10, 512, 128, 2, "streaming, batch 1"),
    C(1, 100, 256, 256, 1, "long sequence, batch 1"),
    D(32, 50, 256, 256, 1, "mid batch"),
    E(64, 20, 1024, 1024, 1, "compute-bound"),
    F(1, 1, 512, 512, 1, "one step, batch 1 (latency)"),
    G(16, 1, 512, 512, 1, "one step, batched");

    public final int batch;
    public final int seqLen;
    public final int inputSize;
    public final int hiddenSize;
    public final int layers;
    public final String note;

    BenchShape(int batch, int seqLen, int inputSize, int hiddenSize, int layers, String note) {
        this.batch = batch;
        this.seqLen = seqLen;
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.layers = layers;
        this.note = note;
    }

    /** By id, {@code a} to {@code g}; an unknown id is an error listing the valid ones. */
    public static BenchShape of(String id) {
        for (BenchShape shape : values()) {
            if (shape.id().equals(id.trim().toLowerCase(Locale.ROOT))) {
                return shape;
            }
        }
        throw new IllegalArgumentException("unknown shape '" + id + "'; shapes are a, b, c, d, e, f, g");
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Batch-first for shapes a and b (PyTorch's example), time-major for the others. */
    public LstmConfig config() {
        return LstmConfig.builder(inputSize, hiddenSize).numLayers(layers).batchFirst(layers == 2).build();
    }

    /** FLOPs of one sequence: Σ over layers of 2·B·4H·(I_l + H)·T. */
    public double flops() {
        double total = 0;
        for (int l = 0; l < layers; l++) {
            int in = l == 0 ? inputSize : hiddenSize;
            total += 2.0 * batch * 4.0 * hiddenSize * (in + hiddenSize) * seqLen;
        }
        return total;
    }

    /**
     * Bytes of float32 weights streamed per call at batch 1, where weights are the memory traffic:
     * {@code sequence} reads W_ih once and W_hh every step; {@code step} reads both every step.
     */
    public double weightTraffic(String mode) {
        double total = 0;
        for (int l = 0; l < layers; l++) {
            int in = l == 0 ? inputSize : hiddenSize;
            double inputWeights = 4.0 * 4 * hiddenSize * in;
            double recurrentWeights = 4.0 * 4 * hiddenSize * hiddenSize;
            total += mode.equals("step") ? (inputWeights + recurrentWeights) * seqLen : inputWeights + recurrentWeights * seqLen;
        }
        return total;
    }

    @Override
    public String toString() {
        return id() + " (B=" + batch + ", T=" + seqLen + ", I=" + inputSize + ", H=" + hiddenSize + ", L=" + layers + ")";
    }
}
