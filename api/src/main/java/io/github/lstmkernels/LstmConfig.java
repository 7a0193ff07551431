package io.github.lstmkernels;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * The shape of a recurrent layer stack, the Java twin of {@code torch.nn.LSTM}'s constructor
 * arguments. Immutable; build it with {@link #builder(int, int)}:
 *
 * <pre>{@code
 * LstmConfig config = LstmConfig.builder(512, 128).numLayers(2).batchFirst(true).build();
 * }</pre>
 *
 * Every option of {@code nn.LSTM}/{@code nn.GRU} is here (reverse direction, projection, the GRU
 * cell); a backend that lacks one ({@code backend.features()}) refuses the configuration in
 * {@code prepare} with an {@link UnsupportedFeatureException}.
 */
public final class LstmConfig {
    private final CellType cell;
    private final int inputSize;
    private final int hiddenSize;
    private final int numLayers;
    private final boolean bias;
    private final boolean batchFirst;
    private final boolean bidirectional;
    private final int projectionSize;

    private LstmConfig(Builder b) {
        this.cell = b.cell;
        this.inputSize = b.inputSize;
        this.hiddenSize = b.hiddenSize;
        this.numLayers = b.numLayers;
        this.bias = b.bias;
        this.batchFirst = b.batchFirst;
        this.bidirectional = b.bidirectional;
        this.projectionSize = b.projectionSize;
    }

    /** A builder with PyTorch's defaults: one layer, bias, time-major, unidirectional, no projection. */
    public static Builder builder(int inputSize, int hiddenSize) {
        return new Builder(inputSize, hiddenSize);
    }

    public CellType cell() {
        return cell;
    }

    /** {@code input_size}: features per time step of the first layer's input. */
    public int inputSize() {
        return inputSize;
    }

    /** {@code hidden_size}: H, the size of the cell state. */
    public int hiddenSize() {
        return hiddenSize;
    }

    public int numLayers() {
        return numLayers;
    }

    /** {@code false}: no bias tensors at all. */
    public boolean bias() {
        return bias;
    }

    /** {@code true}: {@code x} is {@code [B, T, I]} and {@code y} is {@code [B, T, H]}; otherwise time-major. */
    public boolean batchFirst() {
        return batchFirst;
    }

    public boolean bidirectional() {
        return bidirectional;
    }

    /** {@code proj_size}; 0 means no projection. */
    public int projectionSize() {
        return projectionSize;
    }

    public int numDirections() {
        return bidirectional ? 2 : 1;
    }

    /** Hout: the size of {@code h} and of each direction's output ({@code proj_size} if set, else H). */
    public int outputSize() {
        return projectionSize > 0 ? projectionSize : hiddenSize;
    }

    /** I_k: the input size of layer {@code layer} (the model input for layer 0, the layer below's output after). */
    public int layerInputSize(int layer) {
        Objects.checkIndex(layer, numLayers);
        return layer == 0 ? inputSize : numDirections() * outputSize();
    }

    /** Rows of {@code weight_ih}/{@code weight_hh}: gates × H. */
    public int gateRows() {
        return cell.gates() * hiddenSize;
    }

    /** The optional features this configuration needs beyond a forward, unidirectional LSTM without projection. */
    public Set<Feature> requiredFeatures() {
        EnumSet<Feature> features = EnumSet.noneOf(Feature.class);
        if (bidirectional) {
            features.add(Feature.BIDIRECTIONAL);
        }
        if (projectionSize > 0) {
            features.add(Feature.PROJECTION);
        }
        if (cell == CellType.GRU) {
            features.add(Feature.GRU_CELL);
        }
        return features;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LstmConfig c && cell == c.cell && inputSize == c.inputSize && hiddenSize == c.hiddenSize
                && numLayers == c.numLayers && bias == c.bias && batchFirst == c.batchFirst
                && bidirectional == c.bidirectional && projectionSize == c.projectionSize;
    }

    @Override
    public int hashCode() {
        return Objects.hash(cell, inputSize, hiddenSize, numLayers, bias, batchFirst, bidirectional, projectionSize);
    }

    @Override
    public String toString() {
        return cell + "(input_size=" + inputSize + ", hidden_size=" + hiddenSize + ", num_layers=" + numLayers
                + ", bias=" + bias + ", batch_first=" + batchFirst + ", bidirectional=" + bidirectional
                + (projectionSize > 0 ? ", proj_size=" + projectionSize : "") + ")";
    }

    /** Builds an {@link LstmConfig}; every setter returns this builder. */
    public static final class Builder {
        private CellType cell = CellType.LSTM;
        private final int inputSize;
        private final int hiddenSize;
        private int numLayers = 1;
        private boolean bias = true;
        private boolean batchFirst;
        private boolean bidirectional;
        private int projectionSize;

        private Builder(int inputSize, int hiddenSize) {
            this.inputSize = inputSize;
            this.hiddenSize = hiddenSize;
        }

        public Builder cell(CellType cell) {
            this.cell = Objects.requireNonNull(cell, "cell");
            return this;
        }

        public Builder numLayers(int numLayers) {
            this.numLayers = numLayers;
            return this;
        }

        public Builder bias(boolean bias) {
            this.bias = bias;
            return this;
        }

        public Builder batchFirst(boolean batchFirst) {
            this.batchFirst = batchFirst;
            return this;
        }

        public Builder bidirectional(boolean bidirectional) {
            this.bidirectional = bidirectional;
            return this;
        }

        public Builder projectionSize(int projectionSize) {
            this.projectionSize = projectionSize;
            return this;
        }

        /** @throws IllegalArgumentException naming the first invalid field */
        public LstmConfig build() {
            positive("input_size", inputSize);
            positive("hidden_size", hiddenSize);
            positive("num_layers", numLayers);
            if (projectionSize < 0) {
                throw new IllegalArgumentException("proj_size must be >= 0, got " + projectionSize);
            }
            if (projectionSize > 0 && cell != CellType.LSTM) {
                throw new IllegalArgumentException("proj_size is only defined for LSTM, got " + cell);
            }
            if (projectionSize >= hiddenSize) {
                throw new IllegalArgumentException(
                        "proj_size must be smaller than hidden_size (" + hiddenSize + "), got " + projectionSize);
            }
            // Keeps every tensor's element count within an int, the limit of the float[] forms.
            // In a double the product cannot overflow (sizes near 2^31 would overflow a long); only the comparison matters.
            double largest = (double) cell.gates() * hiddenSize * Math.max(inputSize, 2.0 * hiddenSize);
            if (largest > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("weight matrices of " + (long) largest + " elements are too large");
            }
            return new LstmConfig(this);
        }

        private static void positive(String name, int value) {
            if (value < 1) {
                throw new IllegalArgumentException(name + " must be >= 1, got " + value);
            }
        }
    }
}
