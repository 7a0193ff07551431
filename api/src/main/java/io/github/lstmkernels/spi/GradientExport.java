package io.github.lstmkernels.spi;

import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmWeights;

/**
 * A tape's parameter gradients handed to the caller under PyTorch's names and in its layouts — the
 * loop over layers, directions and parameters, written once for every backend:
 * {@code weight_ih_l{k}[_reverse]} {@code [G·H, I_l]}, {@code weight_hh} {@code [G·H, Hout]},
 * {@code bias_ih} and {@code bias_hh} {@code [G·H]} (with bias), {@code weight_hr} {@code [P, H]}
 * (with projection), gate blocks in PyTorch's order.
 *
 * <p>A backend that accumulates in a layout of its own ({@link #staged}) converts each tensor into a
 * PyTorch-layout array allocated here once, so that an export allocates nothing; one that
 * accumulates in PyTorch's layout ({@link #direct}) hands its own arrays over.
 */
public final class GradientExport {

    /** The parameters of one layer and direction, in PyTorch's naming. */
    public enum Parameter {
        WEIGHT_IH("weight_ih"), WEIGHT_HH("weight_hh"), BIAS_IH("bias_ih"), BIAS_HH("bias_hh"), WEIGHT_HR("weight_hr");

        private final String prefix;

        Parameter(String prefix) {
            this.prefix = prefix;
        }
    }

    /** A backend's accumulators, read out one tensor at a time. */
    @FunctionalInterface
    public interface Converter {
        /**
         * The gradient of {@code parameter} of layer and direction {@code index} ({@code l·D + d}) in
         * PyTorch's layout: written into {@code into} and returned ({@link #staged}), or the
         * backend's own array ({@link #direct}, where {@code into} is null).
         */
        float[] convert(Parameter parameter, int index, float[] into);
    }

    private final LstmConfig config;
    /** [l·D + d][parameter]: the tensor's name, null where the configuration has no such tensor. */
    private final String[][] names;
    /** [l·D + d][parameter]: the PyTorch-layout array a staged export converts into; null otherwise. */
    private final float[][][] staging;

    private GradientExport(LstmConfig config, boolean staged) {
        this.config = config;
        int count = config.numLayers() * config.numDirections();
        Parameter[] parameters = Parameter.values();
        names = new String[count][parameters.length];
        staging = new float[count][parameters.length][];
        for (int l = 0; l < config.numLayers(); l++) {
            for (int d = 0; d < config.numDirections(); d++) {
                int i = l * config.numDirections() + d;
                for (Parameter p : parameters) {
                    int size = size(p, l);
                    if (size > 0) {
                        names[i][p.ordinal()] = p.prefix + LstmWeights.suffix(l, d);
                        staging[i][p.ordinal()] = staged ? new float[size] : null;
                    }
                }
            }
        }
    }

    /** For a backend whose accumulators have a layout of their own: PyTorch-layout arrays are kept to convert into. */
    public static GradientExport staged(LstmConfig config) {
        return new GradientExport(config, true);
    }

    /** For a backend that accumulates in PyTorch's layout: its arrays are handed over as they are. */
    public static GradientExport direct(LstmConfig config) {
        return new GradientExport(config, false);
    }

    /** Floats of {@code parameter} of layer {@code layer}; 0 if the configuration has no such tensor. */
    private int size(Parameter parameter, int layer) {
        int gateRows = config.gateRows();
        return switch (parameter) {
            case WEIGHT_IH -> gateRows * config.layerInputSize(layer);
            case WEIGHT_HH -> gateRows * config.outputSize();
            case BIAS_IH, BIAS_HH -> config.bias() ? gateRows : 0;
            case WEIGHT_HR -> config.projectionSize() * config.hiddenSize();
        };
    }

    /** Every gradient of the configuration, converted, to the caller: overwriting or adding, as the caller chose. */
    public void export(LstmGradients gradients, Converter converter) {
        for (int i = 0; i < names.length; i++) {
            for (Parameter p : Parameter.values()) {
                String name = names[i][p.ordinal()];
                if (name != null) {
                    store(gradients, name, converter.convert(p, i, staging[i][p.ordinal()]));
                }
            }
        }
    }

    private static void store(LstmGradients gradients, String name, float[] values) {
        float[] into = gradients.get(name);
        if (into.length != values.length) {
            throw new IllegalStateException("gradient " + name + ": " + values.length + " values for " + into.length);
        }
        if (gradients.accumulates()) {
            for (int i = 0; i < into.length; i++) {
                into[i] += values[i];
            }
        } else {
            System.arraycopy(values, 0, into, 0, into.length);
        }
    }

    /** Bytes of the staging arrays (0 for a direct export). */
    public long stagingBytes() {
        long floats = 0;
        for (float[][] tensors : staging) {
            for (float[] tensor : tensors) {
                floats += tensor == null ? 0 : tensor.length;
            }
        }
        return Float.BYTES * floats;
    }
}
