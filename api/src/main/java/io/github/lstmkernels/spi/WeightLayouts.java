package io.github.lstmkernels.spi;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmWeights;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Weight re-layouts that more than one backend needs, written once. */
public final class WeightLayouts {
    private WeightLayouts() {
    }

    /**
     * The bias that can be added to the input projection of one layer and direction, {@code [G·H]}
     * in PyTorch's gate order (zeros without bias). LSTM: {@code bias_ih + bias_hh}, as oneDNN
     * keeps it. GRU: {@code [b_ir + b_hr, b_iz + b_hz, b_in]}; the n gate's {@code b_hn} is
     * multiplied by r, so it cannot be folded and comes from {@link #gruNewGateRecurrentBias}.
     */
    public static float[] foldedBias(LstmWeights weights, int layer, int direction) {
        float[] sum = weights.biasIh(layer, direction).toArray(ValueLayout.JAVA_FLOAT);
        float[] hh = weights.biasHh(layer, direction).toArray(ValueLayout.JAVA_FLOAT);
        int folded = weights.config().cell() == CellType.GRU ? 2 * weights.config().hiddenSize() : sum.length;
        for (int i = 0; i < folded; i++) {
            sum[i] += hh[i];
        }
        return sum;
    }

    /** GRU: {@code b_hn}, the n block of {@code bias_hh}, {@code [H]} (zeros without bias). */
    public static float[] gruNewGateRecurrentBias(LstmWeights weights, int layer, int direction) {
        int hidden = weights.config().hiddenSize();
        float[] hh = weights.biasHh(layer, direction).toArray(ValueLayout.JAVA_FLOAT);
        return java.util.Arrays.copyOfRange(hh, 2 * hidden, 3 * hidden);
    }

    /**
     * Re-lays a gate-stacked matrix {@code W [G·H, K]} (PyTorch's {@code weight_ih}/{@code weight_hh})
     * as {@code [H/w][K][G][w]}: hidden units in blocks of {@code blockWidth}, and inside a block,
     * for each input column, the G gate rows side by side. One pass over the inputs then feeds every
     * gate of a block of units from one contiguous stream.
     * <ul>
     *   <li>{@code blockWidth = 1}: {@code [H][K][G]}, the G gate weights of a unit together (scalar);</li>
     *   <li>{@code blockWidth = vector lanes}: one vector load per gate and column (SIMD);</li>
     *   <li>{@code blockWidth = H}: {@code [K][G][H]}, which is oneDNN's {@code ldigo} for one layer.</li>
     * </ul>
     * When {@code blockWidth} does not divide H, the last block is padded with zero rows.
     */
    public static float[] packGateBlocks(MemorySegment weight, int gates, int hiddenSize, int columns,
                                         int blockWidth) {
        int blocks = ceilDiv(hiddenSize, blockWidth);
        float[] packed = new float[Math.multiplyExact(Math.multiplyExact(blocks * blockWidth, gates), columns)];
        int dst = 0;
        for (int block = 0; block < blocks; block++) {
            for (int k = 0; k < columns; k++) {
                for (int g = 0; g < gates; g++) {
                    for (int lane = 0; lane < blockWidth; lane++) {
                        int unit = block * blockWidth + lane;
                        if (unit < hiddenSize) {
                            long row = (long) g * hiddenSize + unit;
                            packed[dst] = weight.getAtIndex(ValueLayout.JAVA_FLOAT, row * columns + k);
                        }
                        dst++;
                    }
                }
            }
        }
        return packed;
    }

    /** A gate-stacked vector {@code b [G·H]} as {@code [H/w][G][w]}, matching {@link #packGateBlocks}. */
    public static float[] packGateBlocks(float[] bias, int gates, int hiddenSize, int blockWidth) {
        return packGateBlocks(MemorySegment.ofArray(bias), gates, hiddenSize, 1, blockWidth);
    }

    public static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
