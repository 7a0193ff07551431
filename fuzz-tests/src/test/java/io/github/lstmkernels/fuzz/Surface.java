package io.github.lstmkernels.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import io.github.lstmkernels.BackendUnavailableException;
import io.github.lstmkernels.CellType;
import io.github.lstmkernels.LstmConfig;
import io.github.lstmkernels.LstmGradients;
import io.github.lstmkernels.LstmKernels;
import io.github.lstmkernels.LstmWeights;
import io.github.lstmkernels.spi.LstmBackend;
import java.util.Locale;

/**
 * The rest of the surface, cheap to call: the configuration builder over the whole int range
 * (an IllegalArgumentException exactly when a field is out of range or a weight matrix would not
 * fit in a float[]), backend lookup by any name or preference list (a backend, or a
 * BackendUnavailableException; NullPointerException for null), and tensor or gradient lookup by
 * unknown names (IllegalArgumentException).
 */
final class Surface {
    private Surface() {
    }

    static void run(FuzzedDataProvider data) {
        switch (data.consumeInt(0, 2)) {
            case 0 -> builder(data);
            case 1 -> backendNames(data);
            default -> names(data);
        }
    }

    private static int anyOrSmall(FuzzedDataProvider data) {
        return data.consumeBoolean() ? data.consumeInt(-2, 40) : data.consumeInt();
    }

    private static void builder(FuzzedDataProvider data) {
        int input = anyOrSmall(data);
        int hidden = anyOrSmall(data);
        int layers = anyOrSmall(data);
        int projection = data.consumeBoolean() ? 0 : anyOrSmall(data);
        CellType cell = data.consumeBoolean() ? CellType.LSTM : data.consumeBoolean() ? CellType.GRU : null;
        Contract.trace("builder(" + input + ", " + hidden + ").cell(" + cell + ").numLayers(" + layers
                + ").projectionSize(" + projection + ")");
        LstmConfig.Builder b = LstmConfig.builder(input, hidden);
        if (cell == null) {
            try {
                b.cell(null);
                throw Contract.violation("cell(null) accepted", null);
            } catch (NullPointerException expected) {
                Stats.call("api", "builder.cell", "refused NullPointerException");
            }
            cell = CellType.LSTM;
        }
        b.cell(cell);
        boolean valid = input >= 1 && hidden >= 1 && layers >= 1 && projection >= 0
                && (projection == 0 || cell == CellType.LSTM) && projection < hidden;
        if (valid) {
            // Exactly, without overflow: hidden and input may both be near 2^31.
            java.math.BigInteger largest = java.math.BigInteger.valueOf((long) cell.gates() * hidden)
                    .multiply(java.math.BigInteger.valueOf(Math.max(input, 2L * hidden)));
            valid = largest.compareTo(java.math.BigInteger.valueOf(Integer.MAX_VALUE - 8)) <= 0;
        }
        try {
            LstmConfig c = b.numLayers(layers).projectionSize(projection).bidirectional(data.consumeBoolean()).build();
            if (!valid) {
                throw Contract.violation("build() accepted " + c, null);
            }
            Stats.call("api", "builder.build", "accepted");
            if (c.outputSize() != (projection > 0 ? projection : hidden) || c.gateRows() != cell.gates() * hidden) {
                throw Contract.violation("inconsistent accessors for " + c, null);
            }
        } catch (IllegalArgumentException e) {
            if (valid) {
                throw Contract.violation("build() refused a valid configuration: " + e, e);
            }
            Stats.call("api", "builder.build", "refused IllegalArgumentException");
        } catch (RuntimeException e) {
            throw Contract.violation("build() threw " + e, e);
        }
    }

    private static void backendNames(FuzzedDataProvider data) {
        String name = switch (data.consumeInt(0, 7)) {
            case 0 -> null;
            case 1 -> data.pickValue(Kernels.BACKENDS).toUpperCase(Locale.ROOT);
            case 2 -> " " + data.pickValue(Kernels.BACKENDS) + " ";
            case 3 -> data.pickValue(Kernels.BACKENDS) + "," + data.consumeString(8);
            case 4 -> "," + data.pickValue(Kernels.BACKENDS);
            case 5 -> "";
            default -> data.consumeString(16);
        };
        boolean list = data.consumeBoolean();
        Contract.trace((list ? "select(" : "backend(") + (name == null ? "null" : "\"" + name + "\"") + ")");
        try {
            LstmBackend b = list ? LstmKernels.select(name) : LstmKernels.backend(name);
            Stats.call("api", list ? "select" : "backend", "accepted");
            if (!b.availability().available()) {
                throw Contract.violation("returned an unavailable backend " + b.name(), null);
            }
        } catch (BackendUnavailableException e) {
            Stats.call("api", list ? "select" : "backend", "refused BackendUnavailableException");
        } catch (NullPointerException e) {
            if (name != null || list) {
                throw Contract.violation("NullPointerException for " + name, e);
            }
            Stats.call("api", "backend", "refused NullPointerException");
        } catch (RuntimeException e) {
            throw Contract.violation("backend lookup threw " + e, e);
        }
    }

    private static void names(FuzzedDataProvider data) {
        LstmConfig config = Gen.config(data);
        String name = data.consumeString(24);
        boolean known = LstmWeights.tensorNames(config).contains(name);
        Contract.trace("tensor/gradient named \"" + name + "\" of " + config);
        LstmWeights weights = LstmWeights.random(config, 0);
        LstmGradients gradients = LstmGradients.overwriting(config);
        for (int which = 0; which < 2; which++) {
            try {
                if (which == 0) {
                    weights.tensor(name);
                } else {
                    gradients.get(name);
                }
                if (!known) {
                    throw Contract.violation("unknown name \"" + name + "\" accepted", null);
                }
                Stats.call("api", "tensor/get", "accepted");
            } catch (IllegalArgumentException e) {
                if (known) {
                    throw Contract.violation("known name \"" + name + "\" refused", e);
                }
                Stats.call("api", "tensor/get", "refused IllegalArgumentException");
            } catch (RuntimeException e) {
                throw Contract.violation("name lookup threw " + e, e);
            }
        }
    }
}
