package io.github.lstmkernels;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Gradients of every parameter of a layer stack, under the parameters' PyTorch names
 * ({@code weight_ih_l0}, {@code bias_hh_l1_reverse}, {@code weight_hr_l0}, …) and in their layouts,
 * ready for an optimizer: {@link #get} returns the live array a backward pass writes.
 *
 * <p>Two modes, chosen at creation: {@link #overwriting} (each backward pass replaces the values,
 * the default of this library) and {@link #accumulating} (each backward pass adds to them, like
 * PyTorch's {@code .grad}; call {@link #zero()} between optimizer steps). Not thread-safe: give each
 * training thread its own.
 */
public final class LstmGradients {
    private final LstmConfig config;
    private final boolean accumulate;
    private final Map<String, float[]> values;

    private LstmGradients(LstmConfig config, boolean accumulate) {
        this.config = Objects.requireNonNull(config, "config");
        this.accumulate = accumulate;
        Map<String, float[]> map = new LinkedHashMap<>();
        LstmWeights.tensorShapes(config).forEach((name, shape) -> {
            int n = 1;
            for (int d : shape) {
                n = Math.multiplyExact(n, d);
            }
            map.put(name, new float[n]);
        });
        this.values = Collections.unmodifiableMap(map);
    }

    /** Zeros; every backward pass overwrites them. */
    public static LstmGradients overwriting(LstmConfig config) {
        return new LstmGradients(config, false);
    }

    /** Zeros; every backward pass adds to them (PyTorch's {@code .grad}). */
    public static LstmGradients accumulating(LstmConfig config) {
        return new LstmGradients(config, true);
    }

    public LstmConfig config() {
        return config;
    }

    /** True when backward passes add to the values instead of replacing them. */
    public boolean accumulates() {
        return accumulate;
    }

    /**
     * The gradient of the named parameter (a PyTorch name, as {@link LstmWeights#tensorNames} lists),
     * the live array: shaped like the parameter, row-major.
     */
    public float[] get(String parameter) {
        float[] v = values.get(parameter);
        if (v == null) {
            throw new IllegalArgumentException("no parameter '" + parameter + "'; this configuration has " + values.keySet());
        }
        return v;
    }

    /** Every gradient under its parameter's name, in {@code state_dict} order (live arrays). */
    public Map<String, float[]> asMap() {
        return values;
    }

    /** Sets every gradient to 0. */
    public void zero() {
        for (float[] v : values.values()) {
            java.util.Arrays.fill(v, 0f);
        }
    }
}
