package io.github.lstmkernels.spi;

import io.github.lstmkernels.LstmGradients;

/** How a backend hands a parameter gradient to the caller: overwrite or add, as the caller chose. */
public final class GradientSink {
    private GradientSink() {
    }

    /** {@code gradients[name] = values} (overwriting) or {@code += values} (accumulating), in PyTorch's layout. */
    public static void store(LstmGradients gradients, String name, float[] values) {
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
}
