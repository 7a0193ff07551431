package io.github.lstmkernels.scalar;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.spi.GradientExport;
import io.github.lstmkernels.spi.TrainingTape;

/**
 * What the scalar backend keeps from a training forward pass, and its gradient accumulators.
 * Records per layer and direction (index l·D + d), one per (t, sorted row b) at
 * {@code (t·B + b)·width}: LSTM {@code [i, f, g, o, c', c, h]} (6H + Hout floats), GRU
 * {@code [r, z, n, W_hn h + b_hn, h]} (5H). Gradients are kept in PyTorch's layouts.
 */
final class ScalarTape extends TrainingTape {
    private final LstmConfig config;
    private final int width;
    private int batch;
    final float[][] records;
    final float[][] inputGrads;
    final float[][] recurrentGrads;
    final float[][] inputBiasGrads;
    final float[][] recurrentBiasGrads;
    final float[][] projectionGrads;
    private final GradientExport export;
    private final GradientExport.Converter asAccumulated = this::asAccumulated;

    ScalarTape(LstmConfig config) {
        this.config = config;
        int hidden = config.hiddenSize();
        this.width = config.cell() == CellType.GRU ? 5 * hidden : 6 * hidden + config.outputSize();
        int count = config.numLayers() * config.numDirections();
        records = new float[count][0];
        inputGrads = new float[count][];
        recurrentGrads = new float[count][];
        inputBiasGrads = new float[count][];
        recurrentBiasGrads = new float[count][];
        projectionGrads = new float[count][];
        export = GradientExport.direct(config);
        int rows = config.gateRows();
        for (int l = 0; l < config.numLayers(); l++) {
            for (int d = 0; d < config.numDirections(); d++) {
                int i = l * config.numDirections() + d;
                inputGrads[i] = new float[rows * config.layerInputSize(l)];
                recurrentGrads[i] = new float[rows * config.outputSize()];
                inputBiasGrads[i] = new float[rows];
                recurrentBiasGrads[i] = new float[rows];
                projectionGrads[i] = new float[config.projectionSize() * hidden];
            }
        }
    }

    int recordAt(int t, int b) {
        return (t * batch + b) * width;
    }

    @Override
    protected void ensure(int seqLen, int batch) {
        this.batch = batch;
        int needed = Math.multiplyExact(Math.multiplyExact(seqLen, batch), width);
        for (int i = 0; i < records.length; i++) {
            if (records[i].length < needed) {
                records[i] = new float[needed];
            }
        }
    }

    @Override
    protected long bytesFor(int seqLen, int batch) {
        long gradients = 0;
        for (int i = 0; i < records.length; i++) {
            gradients += inputGrads[i].length + recurrentGrads[i].length + inputBiasGrads[i].length
                    + recurrentBiasGrads[i].length + projectionGrads[i].length;
        }
        return Float.BYTES * ((long) records.length * seqLen * batch * width + gradients);
    }

    @Override
    protected void clearGradients() {
        for (int i = 0; i < records.length; i++) {
            java.util.Arrays.fill(inputGrads[i], 0f);
            java.util.Arrays.fill(recurrentGrads[i], 0f);
            java.util.Arrays.fill(inputBiasGrads[i], 0f);
            java.util.Arrays.fill(recurrentBiasGrads[i], 0f);
            java.util.Arrays.fill(projectionGrads[i], 0f);
        }
    }

    @Override
    protected void exportGradients(LstmGradients gradients) {
        export.export(gradients, asAccumulated);
    }

    /** The accumulators are in PyTorch's layouts already. */
    private float[] asAccumulated(GradientExport.Parameter parameter, int index, float[] unused) {
        return switch (parameter) {
            case WEIGHT_IH -> inputGrads[index];
            case WEIGHT_HH -> recurrentGrads[index];
            case BIAS_IH -> inputBiasGrads[index];
            case BIAS_HH -> recurrentBiasGrads[index];
            case WEIGHT_HR -> projectionGrads[index];
        };
    }
}
