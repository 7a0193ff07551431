package io.github.lstmkernels.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * State dicts: PyTorch's names and shapes, then a missing tensor, an unexpected name, a wrong
 * size, a null value or map, NaN and infinities among the values. {@code fromStateDict} must
 * refuse the wrong ones (IllegalArgumentException; NullPointerException for a null map or config)
 * and leave the caller's map as it was; the accepted ones are copied (changing the caller's arrays
 * afterwards changes nothing), prepared on a backend (or refused for a missing feature), and give
 * the scalar backend's results on a sequence call, NaN for NaN. {@code prepare} with weights of
 * another configuration is an IllegalArgumentException.
 */
final class Weights {
    private Weights() {
    }

    static void run(FuzzedDataProvider data) {
        LstmConfig config = Gen.config(data);
        LstmBackend backend = Gen.backend(data);
        Map<String, float[]> dict = new LinkedHashMap<>(LstmWeights.random(config, data.consumeInt(0, 3)).toStateDict());
        List<String> names = new ArrayList<>(dict.keySet());
        int mutations = data.consumeInt(0, 3);
        for (int m = 0; m < mutations; m++) {
            String name = data.pickValue(names);
            switch (data.consumeInt(0, 9)) {
                case 0 -> dict.remove(name);
                case 1 -> dict.put(data.pickValue(new String[] {"weight_ih_l" + config.numLayers(), name + "_reverse",
                        "weight_hr_l0", "bias_ih_l0", "bias_hh_l0_reverse", "Weight_ih_l0", name + " ", "",
                        "weight_ih_l0.weight", data.consumeString(12)}), new float[1]);
                case 2 -> {
                    float[] a = dict.get(name);
                    if (a != null) {
                        int n = Math.max(0, a.length + (data.consumeBoolean() ? 1 : -1) * data.consumeInt(1, 3));
                        dict.put(name, java.util.Arrays.copyOf(a, n));
                    }
                }
                case 3 -> dict.put(name, null);
                default -> {
                    float[] a = dict.get(name);
                    if (a != null && a.length > 0) {
                        float v = data.pickValue(new Float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                                0f, -0f, Float.MIN_VALUE});
                        a[data.consumeInt(0, a.length - 1)] = v;
                    }
                }
            }
        }
        // The faults, from what the map holds in the end (two mutations may cancel out).
        List<String> faults = new ArrayList<>();
        Map<String, int[]> shapes = LstmWeights.tensorShapes(config);
        for (Map.Entry<String, float[]> e : dict.entrySet()) {
            int[] shape = shapes.get(e.getKey());
            if (shape == null) {
                faults.add("unexpected " + e.getKey());
            } else if (e.getValue() == null) {
                faults.add("null " + e.getKey());
            } else if (e.getValue().length != java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b)) {
                faults.add("wrong size " + e.getKey());
            }
        }
        shapes.keySet().stream().filter(n -> !dict.containsKey(n)).forEach(n -> faults.add("missing " + n));
        Class<? extends RuntimeException> expected = faults.isEmpty() ? null : IllegalArgumentException.class;
        int nullArgument = data.consumeInt(0, 15);
        if (nullArgument >= 14) {
            expected = NullPointerException.class;
            faults.add(nullArgument == 14 ? "null config" : "null map");
        }
        Contract.trace("fromStateDict " + config + "; faults " + faults);
        Map<String, float[]> pristine = new HashMap<>();
        dict.forEach((k, v) -> pristine.put(k, v == null ? null : v.clone()));
        LstmWeights weights;
        try {
            weights = LstmWeights.fromStateDict(nullArgument == 14 ? null : config, nullArgument == 15 ? null : dict);
        } catch (RuntimeException e) {
            if (expected == null || !expected.isInstance(e)) {
                throw Contract.violation("fromStateDict threw " + e + "; faults " + faults, e);
            }
            dict.forEach((k, v) -> {
                if (!java.util.Arrays.equals(v, pristine.get(k))) {
                    throw Contract.violation("fromStateDict refused the map but changed " + k, e);
                }
            });
            Stats.call("api", "fromStateDict", "refused " + e.getClass().getSimpleName());
            return;
        }
        if (expected != null) {
            throw Contract.violation("fromStateDict accepted a state dict with faults " + faults, null);
        }
        Stats.call("api", "fromStateDict", "accepted");
        // The weights are a copy: scribbling on the caller's arrays changes nothing.
        dict.values().forEach(a -> java.util.Arrays.fill(a, 1e30f));
        if (!Kernels.supports(backend, config)) {
            Contract.expectUnsupportedConfig(backend, config);
            return;
        }
        LstmConfig other = LstmConfig.builder(config.inputSize(), config.hiddenSize() + 1).cell(config.cell()).build();
        try {
            backend.prepare(other, weights).close();
            throw Contract.violation(backend.name() + " prepared " + other + " with weights of " + config, null);
        } catch (IllegalArgumentException e) {
            Stats.call(backend.name(), "prepare", "refused " + e.getClass().getSimpleName());
        }
        double maxWeight = 0;
        for (float[] a : pristine.values()) {
            for (float v : a) {
                if (Float.isFinite(v)) {
                    maxWeight = Math.max(maxWeight, Math.abs(v));
                }
            }
        }
        try (LstmKernel kernel = backend.prepare(config, weights);
             LstmKernel reference = Kernels.SCALAR.prepare(config, LstmWeights.fromStateDict(config, pristine));
             Memory memory = new Memory(data.consumeLong())) {
            Stats.call(backend.name(), "prepare", "accepted");
            Inference.call(data, memory, backend, kernel, reference, false, maxWeight);
        }
    }
}
