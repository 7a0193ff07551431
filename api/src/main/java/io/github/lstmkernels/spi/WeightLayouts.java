package io.github.lstmkernels.spi;

import io.github.lstmkernels.LstmWeights;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Weight re-layouts that more than one backend needs, written once. */
public final class WeightLayouts {
    private WeightLayouts() {
    }

    /**
     * {@code bias_ih + bias_hh} of one layer (forward direction), {@code [G·H]}: every backend folds
     * the two biases into one, as oneDNN does (zeros without bias).
     */
    public static float[] combinedBias(LstmWeights weights, int layer) {
        float[] sum = weights.biasIh(layer).toArray(ValueLayout.JAVA_FLOAT);
        float[] hh = weights.biasHh(layer).toArray(ValueLayout.JAVA_FLOAT);
        for (int i = 0; i < sum.length; i++) {
            sum[i] += hh[i];
        }
        return sum;
    }

    /**
     * Re-lays a gate-stacked matrix {@code W [G·H, K]} (PyTorch's {@code weight_ih}/{@code weight_hh})
     * as {@code [H/w][K][G][w]}: hidden units in blocks of {@code blockWidth}, and inside a block,
     * for each input column, the G gate rows side by side. One pass over the inputs then feeds every
     * gate of a block of units from one contiguous stream.
     * <ul>
     *   <li>{@code blockWidth = 1}: {@code [H][K][G]}, the four gate weights of a unit together (scalar);</li>
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
