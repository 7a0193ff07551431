package io.github.lstmkernels;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The parameters of a layer stack, under PyTorch's names and in PyTorch's layouts (row-major
 * float32): {@code weight_ih_l{k}} {@code [G·H, I_k]}, {@code weight_hh_l{k}} {@code [G·H, Hout]},
 * {@code bias_ih_l{k}}, {@code bias_hh_l{k}} {@code [G·H]} (only with bias), {@code weight_hr_l{k}}
 * {@code [P, H]} (only with projection), and {@code _reverse} twins for a reverse direction.
 *
 * <p>Immutable: the arrays are copied in, and backends read them through read-only segments, so a
 * caller may reuse or drop its own arrays at once.
 */
public final class LstmWeights {
    private final LstmConfig config;
    private final Map<String, float[]> tensors;

    private LstmWeights(LstmConfig config, Map<String, float[]> tensors) {
        this.config = config;
        this.tensors = tensors;
    }

    /**
     * Weights from a PyTorch-style {@code state_dict}: exactly the names {@link #tensorNames} lists,
     * each with exactly its element count.
     *
     * @throws IllegalArgumentException naming a missing, unexpected or wrongly sized tensor
     */
    public static LstmWeights fromStateDict(LstmConfig config, Map<String, float[]> stateDict) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(stateDict, "stateDict");
        Map<String, int[]> shapes = tensorShapes(config);
        for (String name : stateDict.keySet()) {
            if (!shapes.containsKey(name)) {
                throw new IllegalArgumentException("unexpected tensor '" + name + "' for " + config
                        + "; expected exactly " + shapes.keySet());
            }
        }
        Map<String, float[]> copies = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : shapes.entrySet()) {
            String name = e.getKey();
            float[] values = stateDict.get(name);
            if (values == null) {
                throw new IllegalArgumentException("missing tensor '" + name + "' " + shapeText(e.getValue())
                        + " for " + config);
            }
            int expected = elements(e.getValue());
            if (values.length != expected) {
                throw new IllegalArgumentException("tensor '" + name + "': expected " + expected + " floats "
                        + shapeText(e.getValue()) + ", got " + values.length);
            }
            copies.put(name, values.clone());
        }
        return new LstmWeights(config, Collections.unmodifiableMap(copies));
    }

    /**
     * PyTorch's default initialisation: every tensor uniform in (−1/√H, 1/√H), reproducible from
     * {@code seed} (the same numbers as PyTorch's only in distribution, not in value).
     */
    public static LstmWeights random(LstmConfig config, long seed) {
        Objects.requireNonNull(config, "config");
        SplittableRandom random = new SplittableRandom(seed);
        float bound = (float) (1.0 / Math.sqrt(config.hiddenSize()));
        Map<String, float[]> values = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : tensorShapes(config).entrySet()) {
            float[] a = new float[elements(e.getValue())];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) random.nextDouble(-bound, bound);
            }
            values.put(e.getKey(), a);
        }
        return new LstmWeights(config, Collections.unmodifiableMap(values));
    }

    /** The tensor names a configuration needs, in PyTorch's {@code state_dict} order. */
    public static List<String> tensorNames(LstmConfig config) {
        return new ArrayList<>(tensorShapes(config).keySet());
    }

    /** The shape of every tensor a configuration needs, in PyTorch's {@code state_dict} order. */
    public static Map<String, int[]> tensorShapes(LstmConfig config) {
        Map<String, int[]> shapes = new LinkedHashMap<>();
        int rows = config.gateRows();
        for (int layer = 0; layer < config.numLayers(); layer++) {
            for (int direction = 0; direction < config.numDirections(); direction++) {
                String suffix = suffix(layer, direction);
                shapes.put("weight_ih" + suffix, new int[] {rows, config.layerInputSize(layer)});
                shapes.put("weight_hh" + suffix, new int[] {rows, config.outputSize()});
                if (config.bias()) {
                    shapes.put("bias_ih" + suffix, new int[] {rows});
                    shapes.put("bias_hh" + suffix, new int[] {rows});
                }
                if (config.projectionSize() > 0) {
                    shapes.put("weight_hr" + suffix, new int[] {config.projectionSize(), config.hiddenSize()});
                }
            }
        }
        return shapes;
    }

    /** PyTorch's parameter suffix: {@code _l{k}}, plus {@code _reverse} for direction 1. */
    public static String suffix(int layer, int direction) {
        return "_l" + layer + (direction == 1 ? "_reverse" : "");
    }

    public LstmConfig config() {
        return config;
    }

    /** A read-only view of the named tensor. */
    public MemorySegment tensor(String name) {
        float[] values = tensors.get(name);
        if (values == null) {
            throw new IllegalArgumentException("no tensor '" + name + "'; this configuration has " + tensors.keySet());
        }
        return MemorySegment.ofArray(values).asReadOnly();
    }

    /** {@code weight_ih_l{layer}} (forward direction), {@code [G·H, I_layer]}. */
    public MemorySegment weightIh(int layer) {
        return weightIh(layer, 0);
    }

    /** {@code weight_hh_l{layer}} (forward direction), {@code [G·H, Hout]}. */
    public MemorySegment weightHh(int layer) {
        return weightHh(layer, 0);
    }

    /** {@code bias_ih_l{layer}} (forward direction), or zeros when the configuration has no bias. */
    public MemorySegment biasIh(int layer) {
        return biasIh(layer, 0);
    }

    /** {@code bias_hh_l{layer}} (forward direction), or zeros when the configuration has no bias. */
    public MemorySegment biasHh(int layer) {
        return biasHh(layer, 0);
    }

    /** {@code weight_ih} of one layer and direction (0 forward, 1 reverse), {@code [G·H, I_layer]}. */
    public MemorySegment weightIh(int layer, int direction) {
        return tensor("weight_ih" + suffix(layer, direction));
    }

    /** {@code weight_hh} of one layer and direction, {@code [G·H, Hout]}. */
    public MemorySegment weightHh(int layer, int direction) {
        return tensor("weight_hh" + suffix(layer, direction));
    }

    /** {@code bias_ih} of one layer and direction, {@code [G·H]}, or zeros when the configuration has no bias. */
    public MemorySegment biasIh(int layer, int direction) {
        return config.bias() ? tensor("bias_ih" + suffix(layer, direction)) : zeros(config.gateRows());
    }

    /** {@code bias_hh} of one layer and direction, {@code [G·H]}, or zeros when the configuration has no bias. */
    public MemorySegment biasHh(int layer, int direction) {
        return config.bias() ? tensor("bias_hh" + suffix(layer, direction)) : zeros(config.gateRows());
    }

    /** {@code weight_hr} (the LSTM projection) of one layer and direction, {@code [P, H]}. */
    public MemorySegment weightHr(int layer, int direction) {
        return tensor("weight_hr" + suffix(layer, direction));
    }

    /** A copy of every tensor, under its PyTorch name. */
    public Map<String, float[]> toStateDict() {
        Map<String, float[]> copy = new LinkedHashMap<>();
        tensors.forEach((name, values) -> copy.put(name, values.clone()));
        return copy;
    }

    private static MemorySegment zeros(int n) {
        return MemorySegment.ofArray(new float[n]).asReadOnly();
    }

    private static int elements(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    private static String shapeText(int[] shape) {
        return java.util.Arrays.toString(shape);
    }
}
