package io.github.lstmkernels.testkit;

import io.github.lstmkernels.CellType;
import io.github.lstmkernels.Feature;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmTraining;
import io.github.lstmkernels.LstmKernel;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Runs golden cases on a backend and compares each output with the stored reference under the
 * case's own tolerance. A case needing a feature the backend lacks is skipped, with the feature
 * named; it is never counted as passed.
 */
public final class GoldenRunner {
    private GoldenRunner() {
    }

    public enum Status { PASSED, FAILED, SKIPPED }

    /** How one output compared: worst errors over all elements and the tolerance applied. */
    public record Comparison(String tensor, double maxAbsError, double maxRelError, double atol, double rtol,
                             long violations, long elements) {
        public boolean passed() {
            return violations == 0;
        }
    }

    /** The outcome of one case on one backend; {@code outputs} holds the computed tensors. */
    public record Result(String caseName, String backend, Status status, String reason, List<Comparison> comparisons,
                         Map<String, float[]> outputs) {
    }

    /** Per-backend totals. */
    public record Summary(String backend, int passed, int failed, int skipped) {
        @Override
        public String toString() {
            return "golden[" + backend + "]: passed " + passed + ", failed " + failed + ", skipped " + skipped;
        }
    }

    public static Summary summarize(String backend, List<Result> results) {
        int passed = 0, failed = 0, skipped = 0;
        for (Result r : results) {
            switch (r.status()) {
                case PASSED -> passed++;
                case FAILED -> failed++;
                case SKIPPED -> skipped++;
            }
        }
        return new Summary(backend, passed, failed, skipped);
    }

    public static Result run(LstmBackend backend, GoldenCase goldenCase) {
        String name = goldenCase.name();
        List<Feature> missing = goldenCase.requiredFeatures().stream()
                .filter(f -> !backend.features().contains(f)).toList();
        if (!missing.isEmpty()) {
            return new Result(name, backend.name(), Status.SKIPPED, "needs " + missing.stream()
                    .map(Feature::description).collect(Collectors.joining(", ")) + ", not implemented by "
                    + backend.name(), List.of(), Map.of());
        }
        if (!"sequence".equals(goldenCase.mode()) && !"step".equals(goldenCase.mode())
                && !"backward".equals(goldenCase.mode())) {
            return new Result(name, backend.name(), Status.SKIPPED, "unknown mode '" + goldenCase.mode() + "'",
                    List.of(), Map.of());
        }
        try {
            Map<String, float[]> computed = compute(backend, goldenCase);
            List<Comparison> comparisons = new ArrayList<>();
            for (GoldenCase.Output out : goldenCase.outputs()) {
                float[] got = computed.get(out.name());
                if (got == null) {
                    return new Result(name, backend.name(), Status.FAILED, "output " + out.name() + " not computed",
                            comparisons, computed);
                }
                comparisons.add(compare(out, got, goldenCase.floats(out.name())));
            }
            List<String> bad = comparisons.stream().filter(c -> !c.passed())
                    .map(c -> c.tensor() + " (" + c.violations() + " of " + c.elements() + " elements outside tolerance, max abs err "
                            + c.maxAbsError() + ", atol " + c.atol() + ")").toList();
            return new Result(name, backend.name(), bad.isEmpty() ? Status.PASSED : Status.FAILED,
                    String.join("; ", bad), comparisons, computed);
        } catch (RuntimeException e) {
            return new Result(name, backend.name(), Status.FAILED, "threw " + e, List.of(), Map.of());
        }
    }

    private static Map<String, float[]> compute(LstmBackend backend, GoldenCase gc) {
        LstmConfig config = gc.config();
        LstmWeights weights = LstmWeights.fromStateDict(config, gc.parameters());
        boolean lstm = config.cell() == CellType.LSTM;
        int batch = gc.batch();
        int states = config.numLayers() * config.numDirections();
        float[] h = gc.hasInitialState() ? gc.floats("h0") : new float[states * batch * config.outputSize()];
        float[] c = !lstm ? null : gc.hasInitialState() ? gc.floats("c0") : new float[states * batch * config.hiddenSize()];
        float[] x = gc.floats("x");
        Map<String, float[]> out = new LinkedHashMap<>();
        try (LstmKernel kernel = backend.prepare(config, weights)) {
            if ("backward".equals(gc.mode())) {
                backward(kernel, gc, x, h, c, out);
            } else if ("step".equals(gc.mode())) {
                // A step case stores x [B, I] and h0/c0 [B, H]: the same memory as one layer's [1, B, H].
                float[] y = new float[batch * config.outputSize()];
                kernel.step(batch, x, y, h, c);
                out.put("h1", h);
                if (lstm) {
                    out.put("c1", c);
                }
                out.put("y", y);
            } else {
                int seqLen = gc.seqLen();
                float[] y = new float[seqLen * batch * config.numDirections() * config.outputSize()];
                kernel.sequence(seqLen, batch, gc.hasLengths() ? gc.lengths() : null, x, y, h, c);
                out.put("output", y);
                out.put("h_n", h);
                if (lstm) {
                    out.put("c_n", c);
                }
            }
        }
        if (out.containsKey("y") && !java.util.Arrays.equals(out.get("y"), out.get("h1"))) {
            throw new IllegalStateException("step output y differs from the new h");
        }
        out.remove("y");
        return out;
    }

    /** A training forward pass, then the backward pass of the case's loss; every output and gradient into {@code out}. */
    private static void backward(LstmKernel kernel, GoldenCase gc, float[] x, float[] h, float[] c,
                                 Map<String, float[]> out) {
        LstmConfig config = kernel.config();
        boolean lstm = c != null;
        int seqLen = gc.seqLen();
        int batch = gc.batch();
        float[] y = new float[seqLen * batch * config.numDirections() * config.outputSize()];
        float[] gradX = new float[x.length];
        float[] gradH0 = new float[h.length];
        float[] gradC0 = lstm ? new float[c.length] : null;
        LstmGradients gradients = LstmGradients.overwriting(config);
        try (LstmTraining training = kernel.newTraining()) {
            training.forward(seqLen, batch, gc.hasLengths() ? gc.lengths() : null, x, y, h, c);
            training.backward(gc.floats("grad_output"), gc.floats("grad_h_n"), lstm ? gc.floats("grad_c_n") : null, gradX,
                    gradH0, gradC0, gradients);
        }
        out.put("output", y);
        out.put("h_n", h);
        out.put("grad_x", gradX);
        if (gc.hasInitialState()) {
            out.put("grad_h0", gradH0);
        }
        if (lstm) {
            out.put("c_n", c);
            if (gc.hasInitialState()) {
                out.put("grad_c0", gradC0);
            }
        }
        gradients.asMap().forEach((name, g) -> out.put("grad_" + name, g.clone()));
    }

    public static Comparison compare(GoldenCase.Output out, float[] got, float[] ref) {
        if (got.length != ref.length) {
            return new Comparison(out.name(), Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, out.atol(), out.rtol(),
                    Math.max(got.length, ref.length), ref.length);
        }
        double maxAbs = 0, maxRel = 0;
        long violations = 0;
        for (int i = 0; i < ref.length; i++) {
            double err = Math.abs((double) got[i] - ref[i]);
            double rel = err / Math.max(Math.abs((double) ref[i]), Double.MIN_NORMAL);
            // The negated comparison also counts NaN as a violation.
            if (!(err <= out.atol() + out.rtol() * Math.abs((double) ref[i]))) {
                violations++;
            }
            if (!(err <= maxAbs)) {
                maxAbs = err;
            }
            if (!(rel <= maxRel)) {
                maxRel = rel;
            }
        }
        return new Comparison(out.name(), maxAbs, maxRel, out.atol(), out.rtol(), violations, ref.length);
    }
}
